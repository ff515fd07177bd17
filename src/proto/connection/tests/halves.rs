//! A connection's halves, joined by `Shared`.

use super::*;

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
                .poll_event(Role::Server, &mut self.rx, &mut answers)?
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
