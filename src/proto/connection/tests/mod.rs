//! The connection's rules, tested with no transport at all, in both roles: the answers
//! the peer is owed (here), sends and their resumption (`sends`), whole messages
//! (`messages`), and halves joined by shared state (`halves`).

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
pub(super) struct Rig<M> {
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

mod halves;
mod messages;
mod sends;
