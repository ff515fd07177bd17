//! The connection's rules, tested with no transport at all, in both roles.

use super::super::testing::{frame, frames, peer};
use super::super::{MaskSource, NoMask, ProtocolError, Role, SendError};
use super::*;
use super::{Inbound, Outbound};
use crate::frame::{CloseCode, OpCode};
use std::prelude::rust_2021::*;
use std::vec;

/// A fixed sequence of masking keys.
#[derive(Clone, Debug)]
struct Keys(u32);

impl MaskSource for Keys {
    fn next_key(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_mul(2_654_435_761).wrapping_add(1);
        self.0.to_be_bytes()
    }
}

/// An owned event.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data(MessageKind, bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// A connection with its two buffers, driven by hand: what goes out is collected in
/// `wire`, written `chunk` bytes at a time.
struct Rig<M> {
    conn: Connection<M>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    wire: Vec<u8>,
    chunk: usize,
}

fn server(rx: usize, tx: usize) -> Rig<NoMask> {
    Rig::new(Connection::new(NoMask), rx, tx)
}

fn client(rx: usize, tx: usize) -> Rig<Keys> {
    Rig::new(Connection::new(Keys(7)), rx, tx)
}

impl<M: Masking> Rig<M> {
    fn new(conn: Connection<M>, rx: usize, tx: usize) -> Self {
        Rig {
            conn,
            rx: vec![0; rx],
            tx: vec![0; tx],
            wire: Vec::new(),
            chunk: usize::MAX,
        }
    }

    fn role(&self) -> Role {
        M::ROLE
    }

    /// Receives `bytes` as the transport would hand them over, reading events as
    /// they come (the buffer may be smaller than the bytes).
    fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<Ev>, Error> {
        let mut events = Vec::new();
        loop {
            events.extend(self.events()?);
            if bytes.is_empty() {
                return Ok(events);
            }
            if self.conn.wants_transmit() {
                self.transmit();
                continue;
            }
            let buf = self.conn.read_buffer(&mut self.rx);
            let n = buf.len().min(bytes.len());
            assert!(n > 0, "no room to read into");
            buf[..n].copy_from_slice(&bytes[..n]);
            self.conn.received(n);
            bytes = &bytes[n..];
        }
    }

    /// The events the received bytes make now.
    fn events(&mut self) -> Result<Vec<Ev>, Error> {
        let mut events = Vec::new();
        while !self.conn.is_closed() {
            let Status::Complete(e) = self.conn.poll_event(&mut self.rx, &mut self.tx)? else {
                break;
            };
            events.push(match e {
                Event::Data(p) => Ev::Data(p.kind, p.last, p.payload.to_vec()),
                Event::Ping(p) => Ev::Ping(p.to_vec()),
                Event::Pong(p) => Ev::Pong(p.to_vec()),
                Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, c.reason.into()))),
            });
        }
        Ok(events)
    }

    /// Writes out everything the connection has to send, `chunk` bytes a write.
    fn transmit(&mut self) {
        loop {
            let out = self.conn.poll_transmit(&mut self.tx);
            if out.is_empty() {
                return;
            }
            let n = out.len().min(self.chunk);
            self.wire.extend_from_slice(&out[..n]);
            self.conn.transmitted(n);
        }
    }

    /// Makes a send call until it is done, doing the I/O it asks for.
    fn run<'d>(
        &mut self,
        mut call: impl FnMut(&mut Connection<M>, &mut [u8]) -> Result<Output<'d>, Error>,
    ) -> Result<(), Error> {
        loop {
            match call(&mut self.conn, &mut self.tx)? {
                Output::Done => return Ok(()),
                Output::Transmit => {
                    let before = self.wire.len();
                    self.transmit();
                    assert!(self.wire.len() > before, "Transmit with nothing to write");
                }
                Output::Direct(bytes) => {
                    assert!(!self.conn.wants_transmit(), "direct write before output");
                    let n = bytes.len().min(self.chunk);
                    self.wire.extend_from_slice(&bytes[..n]);
                    self.conn.wrote_direct(n);
                }
            }
        }
    }

    fn send(&mut self, message: Message<'_>) -> Result<(), Error> {
        self.run(|c, tx| c.write_message(tx, message))
    }

    /// The frames sent so far, as the peer reads them.
    fn sent(&mut self) -> Vec<(bool, OpCode, Vec<u8>)> {
        self.transmit();
        frames(self.role(), &std::mem::take(&mut self.wire))
    }
}

fn peer_frame(role: Role, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(peer(role), true, opcode, payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

#[test]
fn pings_are_answered_in_both_roles() {
    let mut s = server(256, 256);
    let ping = peer_frame(Role::Server, OpCode::Ping, b"abc");
    assert_eq!(s.feed(&ping).unwrap(), vec![Ev::Ping(b"abc".to_vec())]);
    assert_eq!(s.sent(), vec![(true, OpCode::Pong, b"abc".to_vec())]);
    let mut c = client(256, 256);
    let ping = peer_frame(Role::Client, OpCode::Ping, &[9; 125]);
    assert_eq!(c.feed(&ping).unwrap(), vec![Ev::Ping(vec![9; 125])]);
    assert_eq!(c.sent(), vec![(true, OpCode::Pong, vec![9; 125])]);
    // A pong is shown, and not answered.
    let pong = peer_frame(Role::Client, OpCode::Pong, b"p");
    assert_eq!(c.feed(&pong).unwrap(), vec![Ev::Pong(b"p".to_vec())]);
    assert!(c.sent().is_empty());
}

#[test]
fn the_peers_close_is_echoed_and_ends_the_connection() {
    for (code, reason) in [(Some(1000u16), "bye"), (Some(4999), ""), (None, "")] {
        let mut s = server(256, 256);
        let payload = code.map(|c| close_payload(c, reason)).unwrap_or_default();
        let close = peer_frame(Role::Server, OpCode::Close, &payload);
        let events = s.feed(&close).unwrap();
        assert_eq!(
            events,
            vec![Ev::Close(code.map(|c| (c, reason.to_string())))]
        );
        // The echo carries the code, not the reason.
        let echo = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
        assert_eq!(s.sent(), vec![(true, OpCode::Close, echo)]);
        assert!(s.conn.is_closed() && s.conn.close_sent());
        assert!(matches!(
            s.conn.poll_event(&mut s.rx, &mut s.tx),
            Err(Error::Closed)
        ));
        assert!(matches!(s.send(Message::Text("late")), Err(Error::Closed)));
        // Closing again is no error, and sends nothing.
        s.send(Message::Close(None)).unwrap();
        assert!(s.sent().is_empty());
    }
}

#[test]
fn our_close_is_not_followed_by_an_echo() {
    let mut c = client(256, 256);
    c.send(Message::Close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: "done",
    })))
    .unwrap();
    assert_eq!(
        c.sent(),
        vec![(true, OpCode::Close, close_payload(1000, "done"))]
    );
    assert!(matches!(c.send(Message::Ping(b"")), Err(Error::Closed)));
    // Data may still arrive until the peer's close; pings are no longer answered.
    let mut bytes = peer_frame(Role::Client, OpCode::Text, b"last");
    bytes.extend(peer_frame(Role::Client, OpCode::Ping, b"x"));
    bytes.extend(peer_frame(
        Role::Client,
        OpCode::Close,
        &close_payload(1000, ""),
    ));
    let events = c.feed(&bytes).unwrap();
    assert_eq!(events.len(), 3);
    assert!(c.sent().is_empty());
    assert!(c.conn.is_closed());
}

#[test]
fn protocol_errors_fail_with_their_close_code() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (frame(Role::Server, true, OpCode::Text, b"unmasked"), 1002),
        (peer_frame(Role::Server, OpCode::Text, b"\xff"), 1007),
        (peer_frame(Role::Server, OpCode::Close, &[3]), 1002),
        (peer_frame(Role::Server, OpCode::Continuation, b"x"), 1002),
    ];
    for (bytes, code) in cases {
        let mut s = server(256, 256);
        let err = s.feed(&bytes).unwrap_err();
        assert!(
            matches!(err, Error::Protocol(e) if e.close_code().0 == code),
            "{err:?}"
        );
        assert_eq!(
            s.sent(),
            vec![(true, OpCode::Close, code.to_be_bytes().to_vec())]
        );
        assert!(s.conn.is_closed());
        assert!(matches!(
            s.conn.poll_event(&mut s.rx, &mut s.tx),
            Err(Error::Closed)
        ));
        assert!(matches!(s.send(Message::Binary(b"x")), Err(Error::Closed)));
    }
    // The message size limit: 1009 at the header.
    let mut s = server(256, 256);
    s.conn.set_max_message_size(4);
    let err = s
        .feed(&peer_frame(Role::Server, OpCode::Binary, b"12345"))
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::MessageTooBig)));
    assert_eq!(
        s.sent(),
        vec![(true, OpCode::Close, 1009u16.to_be_bytes().to_vec())]
    );
}

#[test]
fn answers_wait_behind_our_open_frame() {
    for role in [Role::Server, Role::Client] {
        let sent = match role {
            Role::Server => waiting_answers(&mut server(256, 512)),
            Role::Client => waiting_answers(&mut client(256, 512)),
        };
        assert_eq!(
            sent,
            vec![
                (true, OpCode::Binary, (0..10).collect()),
                // Only the latest ping is answered once the frame is done.
                (true, OpCode::Pong, b"second".to_vec()),
                (true, OpCode::Ping, b"mine".to_vec()),
            ],
            "{role:?}"
        );
    }
}

/// Opens a frame, receives two pings and asks for a ping of its own, then finishes
/// the frame.
fn waiting_answers<M: Masking>(r: &mut Rig<M>) -> Vec<(bool, OpCode, Vec<u8>)> {
    let role = M::ROLE;
    let data: Vec<u8> = (0..10).collect();
    r.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 10, true))
        .unwrap();
    r.run(|c, tx| c.write_payload(tx, &data[..4])).unwrap();
    let mut pings = peer_frame(role, OpCode::Ping, b"first");
    pings.extend(peer_frame(role, OpCode::Ping, b"second"));
    assert_eq!(r.feed(&pings).unwrap().len(), 2);
    r.send(Message::Ping(b"mine")).unwrap();
    // Nothing inside the frame: what went out so far is its start only.
    r.transmit();
    assert!(!r.wire.is_empty());
    // A new data frame cannot start.
    assert!(matches!(
        r.send(Message::Text("x")),
        Err(Error::Send(SendError::FrameOpen))
    ));
    r.run(|c, tx| c.write_payload(tx, &data[4..])).unwrap();
    r.sent()
}

#[test]
fn the_close_echo_waits_behind_our_open_frame_and_drops_the_pong() {
    let mut s = server(256, 512);
    s.run(|c, tx| c.begin_frame(tx, MessageKind::Text, 3, true))
        .unwrap();
    let mut bytes = peer_frame(Role::Server, OpCode::Ping, b"p");
    bytes.extend(peer_frame(
        Role::Server,
        OpCode::Close,
        &close_payload(1001, ""),
    ));
    assert_eq!(s.feed(&bytes).unwrap().len(), 2);
    assert!(s.conn.is_closed());
    // The frame is finished after the peer's close; then the echo goes.
    s.run(|c, tx| c.write_payload(tx, b"abc")).unwrap();
    assert_eq!(
        s.sent(),
        vec![
            (true, OpCode::Text, b"abc".to_vec()),
            (true, OpCode::Close, 1001u16.to_be_bytes().to_vec()),
        ]
    );
}

#[test]
fn our_close_waits_behind_our_open_frame() {
    let mut c = client(256, 512);
    c.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 2, true))
        .unwrap();
    c.send(Message::Close(Some(CloseFrame {
        code: CloseCode::GOING_AWAY,
        reason: "later",
    })))
    .unwrap();
    assert!(c.conn.close_sent());
    // The frame may still be finished, but no new one started.
    assert!(matches!(c.send(Message::Binary(b"x")), Err(Error::Closed)));
    c.run(|c, tx| c.write_payload(tx, b"ok")).unwrap();
    assert_eq!(
        c.sent(),
        vec![
            (true, OpCode::Binary, b"ok".to_vec()),
            (true, OpCode::Close, close_payload(1001, "later")),
        ]
    );
}

#[test]
fn a_small_transmit_buffer_refuses_to_hold_a_ping_behind_a_frame() {
    let mut s = server(256, MIN_BUFFER);
    s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 2, true))
        .unwrap();
    assert!(matches!(
        s.send(Message::Ping(b"k")),
        Err(Error::Send(SendError::FrameOpen))
    ));
    // A pong the peer is owed still waits (its room is kept).
    s.feed(&peer_frame(Role::Server, OpCode::Ping, &[1; 125]))
        .unwrap();
    s.run(|c, tx| c.write_payload(tx, b"zz")).unwrap();
    assert_eq!(
        s.sent(),
        vec![
            (true, OpCode::Binary, b"zz".to_vec()),
            (true, OpCode::Pong, vec![1; 125]),
        ]
    );
}

#[test]
fn a_failure_inside_our_frame_drops_the_connection_without_a_close() {
    let mut s = server(256, 512);
    s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 100, true))
        .unwrap();
    s.run(|c, tx| c.write_payload(tx, &[5; 10])).unwrap();
    let err = s
        .feed(&peer_frame(Role::Server, OpCode::Text, b"\xc0"))
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::InvalidUtf8)));
    // What was buffered still goes: the frame's start, then nothing more.
    s.transmit();
    assert_eq!(&s.wire[..4], &[0x82, 100, 5, 5]);
    assert_eq!(s.wire.len(), 12);
    assert!(matches!(
        s.run(|c, tx| c.write_payload(tx, &[5; 90])),
        Err(Error::Closed)
    ));
}

#[test]
fn answers_wait_for_room_in_the_transmit_buffer() {
    // Output fills the buffer; a ping is not even read until it has gone out.
    let mut s = server(256, 400);
    s.send(Message::Binary(&[7; 300])).unwrap();
    let ping = peer_frame(Role::Server, OpCode::Ping, b"now");
    let buf = s.conn.read_buffer(&mut s.rx);
    buf[..ping.len()].copy_from_slice(&ping);
    s.conn.received(ping.len());
    assert_eq!(s.events().unwrap(), vec![]);
    assert!(s.conn.wants_transmit());
    s.transmit();
    assert_eq!(s.events().unwrap(), vec![Ev::Ping(b"now".to_vec())]);
    let sent = s.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1], (true, OpCode::Pong, b"now".to_vec()));
}

/// Sends a few messages of sizes around the buffer's through `rig`, interrupting
/// each call after every `Output` step and making it again, with writes of `chunk`
/// bytes: the peer must see each message once, whole.
fn interrupted_sends<M: Masking>(mut rig: Rig<M>, chunk: usize) {
    rig.chunk = chunk;
    let sizes = [0usize, 1, 125, 126, 300, 5000, 70_000];
    let mut expected = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
        // Each step of the call, then "a timeout": the call is made again anew.
        loop {
            match rig
                .conn
                .write_message(&mut rig.tx, Message::Binary(&data))
                .unwrap()
            {
                Output::Done => break,
                Output::Transmit => {
                    let out = rig.conn.poll_transmit(&mut rig.tx);
                    let n = out.len().min(chunk);
                    rig.wire.extend_from_slice(&out[..n]);
                    rig.conn.transmitted(n);
                }
                Output::Direct(bytes) => {
                    let n = bytes.len().min(chunk);
                    rig.wire.extend_from_slice(&bytes[..n]);
                    rig.conn.wrote_direct(n);
                }
            }
        }
        expected.push((true, OpCode::Binary, data));
    }
    assert_eq!(rig.sent(), expected, "chunk {chunk}");
}

#[test]
fn an_interrupted_send_goes_on_where_it_stopped() {
    for chunk in [1, 7, 100, 4096, usize::MAX] {
        interrupted_sends(server(256, 1024), chunk);
        interrupted_sends(client(256, 1024), chunk);
        interrupted_sends(server(256, MIN_BUFFER), chunk);
        interrupted_sends(client(256, MIN_BUFFER), chunk);
    }
}

#[test]
fn a_large_payload_goes_straight_from_the_callers_slice() {
    let mut s = server(256, 8192);
    let data = vec![3u8; 100_000];
    let mut direct = 0;
    loop {
        match s
            .conn
            .write_message(&mut s.tx, Message::Binary(&data))
            .unwrap()
        {
            Output::Done => break,
            Output::Transmit => s.transmit(),
            Output::Direct(bytes) => {
                direct += bytes.len().min(10_000);
                s.wire.extend_from_slice(&bytes[..bytes.len().min(10_000)]);
                s.conn.wrote_direct(bytes.len().min(10_000));
            }
        }
    }
    // The header went out topped up with the payload's start, most of the rest
    // directly, and a last part that fits the buffer through it.
    assert!(direct >= 100_000 - 4086 - 8192, "{direct}");
    assert_eq!(s.sent(), vec![(true, OpCode::Binary, data)]);
}

#[test]
fn a_different_call_after_an_interruption_is_refused() {
    let mut s = server(256, 256);
    let data = vec![1u8; 1000];
    // Interrupted after its first step.
    let out = s
        .conn
        .write_message(&mut s.tx, Message::Binary(&data))
        .unwrap();
    assert_ne!(out, Output::Done);
    assert!(matches!(
        s.conn
            .write_message(&mut s.tx, Message::Binary(&data[..10])),
        Err(Error::Send(SendError::NotTheInterruptedCall))
    ));
    assert!(matches!(
        s.conn.write_payload(&mut s.tx, &data),
        Err(Error::Send(SendError::NotTheInterruptedCall))
    ));
    // A ping waits for the frame; the same call again finishes it.
    s.send(Message::Ping(b"p")).unwrap();
    s.send(Message::Binary(&data)).unwrap();
    let sent = s.sent();
    assert_eq!(sent[0], (true, OpCode::Binary, data));
    assert_eq!(sent[1], (true, OpCode::Ping, b"p".to_vec()));
}

#[test]
fn a_send_interrupted_in_its_flush_is_not_sent_twice() {
    let mut s = server(256, 256);
    let hello = Message::Text("hello");
    assert!(s.conn.start_send(&hello));
    s.send(hello).unwrap();
    s.conn.send_interrupted(&hello);
    // The same send again only flushes.
    assert!(!s.conn.start_send(&hello));
    // Any other send is a new one.
    s.conn.send_interrupted(&hello);
    assert!(s.conn.start_send(&Message::Text("hello!")));
    assert_eq!(s.sent().len(), 1);
}

#[test]
fn frame_lengths_of_2_to_the_63_are_refused() {
    let mut s = server(256, 256);
    assert!(matches!(
        s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 1 << 63, true)),
        Err(Error::Send(SendError::FrameTooLong))
    ));
    assert!(s.sent().is_empty());
    assert_eq!(s.conn.frame_remaining(), 0);
}

#[test]
fn relayed_pieces_keep_their_frames() {
    // Frames of 10 (not FIN) and 5 (FIN), received through a small buffer in pieces
    // and relayed: the same two frames go out.
    let mut s = server(MIN_BUFFER, 512);
    let mut bytes = frame(Role::Client, false, OpCode::Binary, &[1; 10]);
    bytes.extend(frame(Role::Client, true, OpCode::Continuation, &[2; 5]));
    for chunk in bytes.chunks(3) {
        let buf = s.conn.read_buffer(&mut s.rx);
        buf[..chunk.len()].copy_from_slice(chunk);
        s.conn.received(chunk.len());
        while let Status::Complete(Event::Data(piece)) =
            s.conn.poll_event(&mut s.rx, &mut s.tx).unwrap()
        {
            // Room enough: each relay completes at once.
            assert_eq!(s.conn.relay(&mut s.tx, &piece).unwrap(), Output::Done);
        }
    }
    assert_eq!(
        s.sent(),
        vec![
            (false, OpCode::Binary, vec![1; 10]),
            (true, OpCode::Continuation, vec![2; 5]),
        ]
    );
}

fn poll_message(r: &mut Rig<NoMask>, buf: &mut [u8]) -> Result<Status<(String, Vec<u8>)>, Error> {
    Ok(match r.conn.poll_message(&mut r.rx, &mut r.tx, buf)? {
        Status::Complete(m) => Status::Complete(match m {
            Message::Text(t) => ("text".into(), t.as_bytes().to_vec()),
            Message::Binary(b) => ("binary".into(), b.to_vec()),
            Message::Ping(b) => ("ping".into(), b.to_vec()),
            Message::Pong(b) => ("pong".into(), b.to_vec()),
            Message::Close(c) => (
                "close".into(),
                c.map(|c| c.reason.as_bytes().to_vec()).unwrap_or_default(),
            ),
        }),
        Status::Partial => Status::Partial,
    })
}

#[test]
fn whole_messages_are_collected_across_fragments_and_interruptions() {
    let c = Role::Client;
    let mut bytes = frame(c, false, OpCode::Text, "Hé".as_bytes());
    bytes.extend(frame(c, true, OpCode::Ping, b"between"));
    bytes.extend(frame(c, true, OpCode::Continuation, "llo".as_bytes()));
    bytes.extend(frame(c, true, OpCode::Pong, b"after"));
    let mut s = server(MIN_BUFFER, 512);
    let mut buf = [0u8; 200];
    let mut got = Vec::new();
    for chunk in bytes.chunks(5) {
        let room = s.conn.read_buffer(&mut s.rx);
        room[..chunk.len()].copy_from_slice(chunk);
        s.conn.received(chunk.len());
        // Each Partial is where a driver would meet a timeout and call again.
        while let Status::Complete(m) = poll_message(&mut s, &mut buf).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(
        got,
        vec![
            ("text".to_string(), "Héllo".as_bytes().to_vec()),
            ("pong".to_string(), b"after".to_vec()),
        ]
    );
    // The ping between the fragments was answered.
    assert_eq!(s.sent(), vec![(true, OpCode::Pong, b"between".to_vec())]);
}

#[test]
fn a_message_larger_than_the_buffer_fails_with_1009() {
    let mut s = server(256, 256);
    let bytes = peer_frame(Role::Server, OpCode::Binary, &[1; 200]);
    let room = s.conn.read_buffer(&mut s.rx);
    room[..bytes.len()].copy_from_slice(&bytes);
    s.conn.received(bytes.len());
    let mut buf = [0u8; 150];
    assert!(matches!(
        poll_message(&mut s, &mut buf),
        Err(Error::Protocol(ProtocolError::MessageTooBig))
    ));
    assert_eq!(
        s.sent(),
        vec![(true, OpCode::Close, 1009u16.to_be_bytes().to_vec())]
    );
    // A buffer that cannot hold a control frame's payload is refused up front.
    let mut small = server(256, 256);
    assert!(matches!(
        poll_message(&mut small, &mut [0u8; 124]),
        Err(Error::BufferTooSmall)
    ));
}

#[test]
fn a_message_begun_piece_by_piece_is_not_collected() {
    let mut s = server(256, 256);
    let first = frame(Role::Client, false, OpCode::Binary, b"ab");
    assert_eq!(s.feed(&first).unwrap().len(), 1);
    assert!(matches!(
        poll_message(&mut s, &mut [0u8; 200]),
        Err(Error::MessageInProgress)
    ));
    // A header alone hands nothing out: collecting may still start.
    let mut t = server(256, 256);
    let whole = peer_frame(Role::Server, OpCode::Binary, b"xyz");
    let room = t.conn.read_buffer(&mut t.rx);
    room[..6].copy_from_slice(&whole[..6]);
    t.conn.received(6);
    assert_eq!(t.events().unwrap(), vec![]);
    let mut buf = [0u8; 200];
    assert_eq!(poll_message(&mut t, &mut buf).unwrap(), Status::Partial);
    let room = t.conn.read_buffer(&mut t.rx);
    room[..3].copy_from_slice(&whole[6..]);
    t.conn.received(3);
    assert_eq!(
        poll_message(&mut t, &mut buf).unwrap(),
        Status::Complete(("binary".to_string(), b"xyz".to_vec()))
    );
}

#[test]
fn buffered_bytes_from_the_handshake_come_first() {
    let mut s = Rig::new(Connection::new(NoMask), 256, 256);
    let frame = peer_frame(Role::Server, OpCode::Text, b"early");
    s.rx[40..40 + frame.len()].copy_from_slice(&frame);
    s.tx[..4].copy_from_slice(b"101!");
    s.conn = Connection::with_buffered(NoMask, 40..40 + frame.len(), 4);
    assert_eq!(
        s.events().unwrap(),
        vec![Ev::Data(MessageKind::Text, true, b"early".to_vec())]
    );
    s.transmit();
    assert_eq!(s.wire, b"101!");
}

/// A connection's two halves, as two tasks use them: the reader's answers travel
/// through `Shared` to the writer.
struct Halves {
    inbound: Inbound,
    rx: Vec<u8>,
    outbound: Outbound<NoMask>,
    tx: Vec<u8>,
    wire: Vec<u8>,
}

impl Halves {
    fn new() -> Self {
        let (inbound, outbound) = Connection::new(NoMask).into_sides();
        Halves {
            inbound,
            rx: vec![0; 256],
            outbound,
            tx: vec![0; 512],
            wire: Vec::new(),
        }
    }

    /// The reader receives `bytes` and reads every event they make.
    fn read(&mut self, shared: &Shared, bytes: &[u8]) -> Result<usize, Error> {
        let buf = self.inbound.read_buffer(&mut self.rx);
        buf[..bytes.len()].copy_from_slice(bytes);
        self.inbound.received(bytes.len());
        let mut events = 0;
        let mut answers = shared;
        while let Status::Complete(_) =
            self.inbound
                .poll_raw(Role::Server, &mut self.rx, &mut answers)?
        {
            events += 1;
            if self.inbound.received_close() {
                break;
            }
        }
        Ok(events)
    }

    /// The writer takes what is owed and writes everything out.
    fn flush(&mut self, shared: &Shared) -> Vec<(bool, OpCode, Vec<u8>)> {
        shared.deliver(&mut self.outbound, &mut self.tx);
        loop {
            let out = self.outbound.poll_transmit(&mut self.tx);
            if out.is_empty() {
                break;
            }
            let n = out.len();
            self.wire.extend_from_slice(out);
            self.outbound.transmitted(n);
        }
        frames(Role::Server, &std::mem::take(&mut self.wire))
    }
}

#[test]
fn halves_pass_the_readers_answers_to_the_writer() {
    let shared = Shared::new();
    let mut h = Halves::new();
    assert!(!shared.is_owed());
    assert_eq!(
        h.read(&shared, &peer_frame(Role::Server, OpCode::Ping, b"one"))
            .unwrap(),
        1
    );
    assert!(shared.is_owed());
    // The latest ping is the one answered.
    h.read(&shared, &peer_frame(Role::Server, OpCode::Ping, b"two"))
        .unwrap();
    assert_eq!(
        h.flush(&shared),
        vec![(true, OpCode::Pong, b"two".to_vec())]
    );
    assert!(!shared.is_owed());
    // The peer's close: echoed by the writer, and then nothing more arrives.
    h.read(
        &shared,
        &peer_frame(Role::Server, OpCode::Close, &close_payload(1000, "bye")),
    )
    .unwrap();
    assert!(shared.is_closed() && shared.is_owed());
    assert_eq!(
        h.flush(&shared),
        vec![(true, OpCode::Close, 1000u16.to_be_bytes().to_vec())]
    );
    assert!(!shared.is_owed());
    assert!(matches!(
        h.outbound.write_message(&mut h.tx, Message::Text("late")),
        Err(Error::Closed)
    ));
}

#[test]
fn a_half_pong_waits_behind_the_writers_open_frame() {
    let shared = Shared::new();
    let mut h = Halves::new();
    let out = h
        .outbound
        .begin_frame(&mut h.tx, MessageKind::Binary, 3, true)
        .unwrap();
    assert_eq!(out, Output::Done);
    h.read(&shared, &peer_frame(Role::Server, OpCode::Ping, b"p"))
        .unwrap();
    // Taken into the writer's buffer, but behind the frame.
    shared.deliver(&mut h.outbound, &mut h.tx);
    assert!(!shared.is_owed());
    let out = h.outbound.write_payload(&mut h.tx, b"abc").unwrap();
    assert_eq!(out, Output::Done);
    assert_eq!(
        h.flush(&shared),
        vec![
            (true, OpCode::Binary, b"abc".to_vec()),
            (true, OpCode::Pong, b"p".to_vec()),
        ]
    );
}

#[test]
fn a_readers_protocol_error_fails_the_writer() {
    let shared = Shared::new();
    let mut h = Halves::new();
    let err = h
        .read(
            &shared,
            &frame(Role::Server, true, OpCode::Text, b"unmasked"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::UnmaskedFrame)));
    assert!(shared.is_down() && shared.is_owed());
    assert_eq!(
        h.flush(&shared),
        vec![(true, OpCode::Close, 1002u16.to_be_bytes().to_vec())]
    );
    assert!(!shared.is_owed());
    assert!(matches!(
        h.outbound.write_message(&mut h.tx, Message::Ping(b"")),
        Err(Error::Closed)
    ));
    assert!(matches!(h.read(&shared, &[]), Err(Error::Closed)));
}

#[test]
fn after_the_writers_close_pings_are_not_answered() {
    let shared = Shared::new();
    let mut h = Halves::new();
    let out = h
        .outbound
        .write_message(&mut h.tx, Message::Close(None))
        .unwrap();
    assert_eq!(out, Output::Done);
    shared.close_sent();
    h.read(&shared, &peer_frame(Role::Server, OpCode::Ping, b"x"))
        .unwrap();
    assert!(!shared.is_owed());
    assert_eq!(h.flush(&shared), vec![(true, OpCode::Close, vec![])]);
    // The peer's answer ends the handshake; no echo follows ours.
    h.read(&shared, &peer_frame(Role::Server, OpCode::Close, &[]))
        .unwrap();
    assert!(shared.is_closed() && !shared.is_owed());
    assert_eq!(h.flush(&shared), vec![]);
}
