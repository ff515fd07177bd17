//! Tests of `receiver`.

use super::super::testing::{frame, peer};
use super::*;
use crate::frame::{CloseCode, HeaderError};
use std::prelude::rust_2021::*;
use std::vec;

/// An owned copy of an event.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    Data(MessageKind, bool, bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn own(e: RawEvent, buf: &[u8]) -> Ev {
    match e {
        RawEvent::Data {
            kind,
            first,
            span,
            frame_remaining,
            frame_fin,
        } => Ev::Data(
            kind,
            first,
            RawEvent::last(frame_fin, frame_remaining),
            span.of(buf).to_vec(),
        ),
        RawEvent::Ping(s) => Ev::Ping(s.of(buf).to_vec()),
        RawEvent::Pong(s) => Ev::Pong(s.of(buf).to_vec()),
        RawEvent::Close(c, s) => {
            Ev::Close(c.map(|c| (c.0, String::from_utf8(s.of(buf).to_vec()).unwrap())))
        }
    }
}

/// Feeds `bytes` to a receiver in pieces of at most `step` bytes, as a driver would:
/// a buffer that keeps unconsumed bytes and appends new ones.
fn run(role: Role, bytes: &[u8], step: usize) -> Result<Vec<Ev>, ProtocolError> {
    run_with(Receiver::new(), role, bytes, step)
}

fn run_with(
    mut rx: Receiver,
    role: Role,
    bytes: &[u8],
    step: usize,
) -> Result<Vec<Ev>, ProtocolError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut fed = 0;
    loop {
        let r = rx.receive(role, &mut buf)?;
        let got = match r.event {
            Status::Complete(e) => Some(own(e, &buf)),
            Status::Partial => None,
        };
        buf.drain(..r.next);
        match got {
            Some(e) => events.push(e),
            None if fed == bytes.len() => return Ok(events),
            None => {
                let end = (fed + step).min(bytes.len());
                buf.extend_from_slice(&bytes[fed..end]);
                fed = end;
            }
        }
    }
}

/// Merges consecutive data pieces into whole messages, checking first/last flags.
fn messages(events: &[Ev]) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    for e in events {
        match e {
            Ev::Data(kind, first, last, data) => {
                assert_eq!(*first, open.is_none(), "first flag in {events:?}");
                let (k, buf) = open.get_or_insert((*kind, Vec::new()));
                assert_eq!(k, kind);
                buf.extend_from_slice(data);
                if *last {
                    let (k, buf) = open.take().unwrap();
                    out.push(Ev::Data(k, true, true, buf));
                }
            }
            other => out.push(other.clone()),
        }
    }
    assert!(open.is_none(), "unfinished message in {events:?}");
    out
}

fn whole(kind: MessageKind, data: &[u8]) -> Ev {
    Ev::Data(kind, true, true, data.to_vec())
}

#[test]
fn single_frames_at_every_split() {
    for role in [Role::Client, Role::Server] {
        let p = peer(role);
        let mut bytes = frame(p, true, OpCode::Text, b"Hello");
        bytes.extend(frame(p, true, OpCode::Binary, &[0, 1, 2, 255]));
        bytes.extend(frame(p, true, OpCode::Ping, b"p"));
        bytes.extend(frame(p, true, OpCode::Text, b""));
        bytes.extend(frame(p, true, OpCode::Pong, b""));
        bytes.extend(frame(
            p,
            true,
            OpCode::Close,
            &[0x03, 0xE8, b'b', b'y', b'e'],
        ));
        let expected = vec![
            whole(MessageKind::Text, b"Hello"),
            whole(MessageKind::Binary, &[0, 1, 2, 255]),
            Ev::Ping(b"p".to_vec()),
            whole(MessageKind::Text, b""),
            Ev::Pong(vec![]),
            Ev::Close(Some((1000, "bye".into()))),
        ];
        for step in 1..=bytes.len() {
            let events = run(role, &bytes, step).unwrap();
            assert_eq!(messages(&events), expected, "{role:?} step {step}");
        }
    }
}

#[test]
fn boundary_lengths() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        for role in [Role::Server, Role::Client] {
            let bytes = frame(peer(role), true, OpCode::Binary, &payload);
            for step in [7, 4096, bytes.len().max(1)] {
                let events = run(role, &bytes, step).unwrap();
                assert_eq!(
                    messages(&events),
                    vec![whole(MessageKind::Binary, &payload)],
                    "len {len} step {step}"
                );
            }
        }
    }
}

#[test]
fn fragments_with_control_frames_between() {
    let c = Role::Client;
    let mut bytes = frame(c, false, OpCode::Text, "Hé".as_bytes());
    bytes.extend(frame(c, true, OpCode::Ping, b"in between"));
    bytes.extend(frame(c, false, OpCode::Continuation, b""));
    bytes.extend(frame(c, true, OpCode::Pong, b"x"));
    bytes.extend(frame(c, true, OpCode::Continuation, "llo €".as_bytes()));
    for step in 1..=bytes.len() {
        let events = run(Role::Server, &bytes, step).unwrap();
        assert_eq!(
            messages(&events),
            vec![
                Ev::Ping(b"in between".to_vec()),
                Ev::Pong(b"x".to_vec()),
                whole(MessageKind::Text, "Héllo €".as_bytes()),
            ],
            "step {step}"
        );
    }
}

fn fails_with(role: Role, bytes: &[u8], err: ProtocolError) {
    for step in [1, 3, bytes.len()] {
        assert_eq!(run(role, bytes, step), Err(err), "step {step}: {bytes:x?}");
    }
}

#[test]
fn each_protocol_error() {
    let s = Role::Server;
    let c = Role::Client;
    fails_with(
        s,
        &frame(s, true, OpCode::Text, b"x"),
        ProtocolError::UnmaskedFrame,
    );
    fails_with(
        c,
        &frame(c, true, OpCode::Text, b"x"),
        ProtocolError::MaskedFrame,
    );
    let mut rsv = frame(c, true, OpCode::Text, b"x");
    rsv[0] |= 0x40;
    fails_with(s, &rsv, ProtocolError::Header(HeaderError::ReservedBits));
    let mut op = frame(c, true, OpCode::Text, b"x");
    op[0] = 0x83;
    fails_with(s, &op, ProtocolError::Header(HeaderError::ReservedOpcode));
    fails_with(
        s,
        &frame(c, true, OpCode::Continuation, b"x"),
        ProtocolError::UnexpectedContinuation,
    );
    let mut two = frame(c, false, OpCode::Text, b"a");
    two.extend(frame(c, true, OpCode::Binary, b"b"));
    fails_with(s, &two, ProtocolError::ExpectedContinuation);
    let ping = frame(c, false, OpCode::Ping, b"a");
    fails_with(
        s,
        &ping,
        ProtocolError::Header(HeaderError::ControlFragmented),
    );
    let ping = frame(c, true, OpCode::Ping, &[0; 126]);
    fails_with(s, &ping, ProtocolError::Header(HeaderError::ControlTooLong));
    fails_with(
        s,
        &frame(c, true, OpCode::Text, b"\xff"),
        ProtocolError::InvalidUtf8,
    );
    let mut split = frame(c, false, OpCode::Text, b"\xe2\x82");
    split.extend(frame(c, true, OpCode::Continuation, b""));
    fails_with(s, &split, ProtocolError::InvalidUtf8);
    fails_with(
        s,
        &frame(c, true, OpCode::Close, &[3]),
        ProtocolError::InvalidClosePayload,
    );
    fails_with(
        s,
        &frame(c, true, OpCode::Close, &[0x03, 0xED]),
        ProtocolError::InvalidCloseCode(1005),
    );
    fails_with(
        s,
        &frame(c, true, OpCode::Close, &[0x03, 0xE8, 0xff]),
        ProtocolError::InvalidUtf8,
    );
}

#[test]
fn every_close_code() {
    // An independent table of the codes allowed on the wire: RFC 6455 section 7.4.1
    // defines 1000-1003 and 1007-1011 and forbids 1004-1006 and 1015 on the wire; the
    // IANA registry adds 1012-1014; 3000-4999 are for libraries and applications.
    let allowed: Vec<u16> = [1000, 1001, 1002, 1003]
        .into_iter()
        .chain(1007..=1014)
        .chain(3000..=4999)
        .collect();
    for code in 0..=u16::MAX {
        let [hi, lo] = code.to_be_bytes();
        let bytes = frame(Role::Client, true, OpCode::Close, &[hi, lo]);
        let got = run(Role::Server, &bytes, bytes.len());
        if allowed.binary_search(&code).is_ok() {
            assert_eq!(got, Ok(vec![Ev::Close(Some((code, String::new())))]));
            assert!(CloseCode(code).is_valid_on_wire());
        } else {
            assert_eq!(got, Err(ProtocolError::InvalidCloseCode(code)), "{code}");
        }
    }
}

#[test]
fn texts_one_after_another() {
    // The validator is not reset between texts: one that ends complete leaves it as new.
    // A character split across frames, a binary message, then texts that must pass and
    // one that must fail at its first byte.
    let c = Role::Client;
    let mut bytes = frame(c, false, OpCode::Text, b"ab\xc3");
    bytes.extend(frame(c, true, OpCode::Continuation, b"\xa9"));
    bytes.extend(frame(c, true, OpCode::Binary, b"\xe2\x82"));
    bytes.extend(frame(c, true, OpCode::Text, b"\xe2\x82\xac"));
    bytes.extend(frame(c, true, OpCode::Text, b"ok"));
    for step in [1, 3, bytes.len()] {
        let got = messages(&run(Role::Server, &bytes, step).unwrap());
        assert_eq!(got.len(), 4, "step {step}");
    }
    bytes.extend(frame(c, true, OpCode::Text, b"\xa9"));
    fails_with(Role::Server, &bytes, ProtocolError::InvalidUtf8);
}

#[test]
fn utf8_fails_fast_mid_frame() {
    // The bad byte is in the first piece of a frame whose rest has not arrived.
    let mut bytes = frame(Role::Client, true, OpCode::Text, &[b'a'; 200]);
    bytes[6 + 10] ^= 0xff; // masked payload starts after 6 header bytes
    let mut rx = Receiver::new();
    let mut part = bytes[..30].to_vec();
    assert_eq!(
        rx.receive(Role::Server, &mut part),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn nothing_after_close() {
    let mut bytes = frame(Role::Client, true, OpCode::Close, &[]);
    bytes.extend(frame(Role::Client, true, OpCode::Text, b"late"));
    let events = run(Role::Server, &bytes, bytes.len()).unwrap();
    assert_eq!(events, vec![Ev::Close(None)]);
}

#[test]
fn mid_message_only_once_a_piece_is_out() {
    // A header alone opens the message but hands nothing out: not "mid message".
    let bytes = frame(Role::Client, true, OpCode::Binary, &[7; 10]);
    let mut rx = Receiver::new();
    let mut head = bytes[..6].to_vec();
    let r = rx.receive(Role::Server, &mut head).unwrap();
    assert_eq!((r.next, r.event), (6, Status::Partial));
    assert!(!rx.mid_message());
    let mut part = bytes[6..9].to_vec();
    let r = rx.receive(Role::Server, &mut part).unwrap();
    assert!(matches!(
        r.event,
        Status::Complete(RawEvent::Data { first: true, .. })
    ));
    assert!(rx.mid_message());
}

#[test]
fn message_size_limit_fails_at_the_header() {
    let c = Role::Client;
    let mut rx = Receiver::new();
    rx.set_max_message_size(10);
    // Two fragments of 6: the second header already takes the message past 10.
    let mut bytes = frame(c, false, OpCode::Binary, &[1; 6]);
    let second = frame(c, true, OpCode::Continuation, &[2; 6]);
    bytes.extend_from_slice(&second[..6]); // header only, no payload yet
    let r = rx.receive(Role::Server, &mut bytes).unwrap();
    assert_eq!(r.next, 12);
    let mut rest = bytes[12..].to_vec();
    assert_eq!(
        rx.receive(Role::Server, &mut rest),
        Err(ProtocolError::MessageTooBig)
    );
    // Exactly at the limit is fine, and the count starts again for the next message.
    let mut limited = Receiver::new();
    limited.set_max_message_size(10);
    let mut ten = Vec::new();
    for _ in 0..3 {
        ten.extend(frame(c, true, OpCode::Text, b"0123456789"));
    }
    let events = run_with(limited.clone(), Role::Server, &ten, 5).unwrap();
    assert_eq!(
        messages(&events),
        vec![whole(MessageKind::Text, b"0123456789"); 3]
    );
    let over = frame(c, true, OpCode::Text, b"0123456789A");
    assert_eq!(
        run_with(limited, Role::Server, &over, over.len()),
        Err(ProtocolError::MessageTooBig)
    );
    // A frame longer than the address space is too big for any limit.
    let mut huge = Receiver::new();
    huge.set_max_message_size(usize::MAX - 1);
    let mut header = vec![0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    let expected = if usize::BITS < 64 {
        Err(ProtocolError::MessageTooBig)
    } else {
        Ok(14)
    };
    assert_eq!(
        huge.receive(Role::Server, &mut header).map(|r| r.next),
        expected
    );
}

#[test]
fn pieces_tell_where_they_stand_in_their_frame() {
    // A message of two frames (10 bytes, then 5 with FIN), fed in every step size:
    // each piece's frame_remaining counts down its own frame, and frame_fin is the
    // frame's FIN bit, so a relay can send the frames on exactly.
    let c = Role::Client;
    let mut bytes = frame(c, false, OpCode::Binary, &[1; 10]);
    bytes.extend(frame(c, true, OpCode::Continuation, &[2; 5]));
    for step in 1..=bytes.len() {
        let mut rx = Receiver::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut frames: Vec<(u64, bool)> = Vec::new();
        let mut open: Option<(u64, bool)> = None;
        loop {
            let r = rx.receive(Role::Server, &mut buf).unwrap();
            match r.event {
                Status::Complete(RawEvent::Data {
                    span,
                    frame_remaining,
                    frame_fin,
                    ..
                }) => {
                    let (len, fin) = open.get_or_insert((0, frame_fin));
                    assert_eq!(*fin, frame_fin, "step {step}");
                    *len += (span.end - span.start) as u64;
                    if frame_remaining == 0 {
                        frames.extend(open.take());
                    }
                }
                Status::Complete(other) => std::panic!("{other:?}"),
                Status::Partial if fed == bytes.len() => break,
                Status::Partial => {
                    let end = (fed + step).min(bytes.len());
                    buf.extend_from_slice(&bytes[fed..end]);
                    fed = end;
                }
            }
            buf.drain(..r.next);
        }
        assert_eq!(frames, vec![(10, false), (5, true)], "step {step}");
    }
}
