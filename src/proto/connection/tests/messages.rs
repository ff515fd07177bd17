//! Whole messages collected by `poll_message`.

use super::*;

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
