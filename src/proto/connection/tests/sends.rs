//! Sends, and sends made again after an interruption.

use super::*;
use std::format;

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

/// Sends frames of every length boundary, and a fragmented message with a kind that
/// does not continue it, through `rig`: the bytes on the wire, and the error.
fn boundary_frames<M: Masking>(mut rig: Rig<M>) -> (Vec<u8>, String) {
    for len in [0usize, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
        let data: Vec<u8> = (0..len).map(|j| (j * 7 + len) as u8).collect();
        rig.send(Message::Binary(&data)).unwrap();
    }
    rig.run(|c, tx| c.write_fragment(tx, MessageKind::Text, b"ab", false))
        .unwrap();
    let err = rig
        .run(|c, tx| c.write_fragment(tx, MessageKind::Binary, b"c", true))
        .unwrap_err();
    rig.run(|c, tx| c.write_fragment(tx, MessageKind::Text, b"cd", true))
        .unwrap();
    rig.transmit();
    (std::mem::take(&mut rig.wire), format!("{err:?}"))
}

#[test]
fn whole_frames_are_the_same_bytes_with_room_or_without() {
    // With room for every frame at once, or with the least buffer (each frame in
    // steps): the same bytes, the same masking keys, the same refusal.
    let (roomy, err) = boundary_frames(server(256, 200_000));
    assert_eq!(
        boundary_frames(server(256, MIN_BUFFER)),
        (roomy.clone(), err.clone())
    );
    assert_eq!(
        err,
        format!(
            "{:?}",
            Error::<core::convert::Infallible>::Send(SendError::KindMismatch)
        )
    );
    let (roomy_client, client_err) = boundary_frames(client(256, 200_000));
    assert_eq!(
        boundary_frames(client(256, MIN_BUFFER)),
        (roomy_client.clone(), err.clone())
    );
    assert_eq!(client_err, err);
    // And those bytes are the frames as the encoder writes them: minimal lengths,
    // FIN and opcodes in sequence.
    let mut expected = Vec::new();
    for len in [0usize, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
        let data: Vec<u8> = (0..len).map(|j| (j * 7 + len) as u8).collect();
        expected.extend(frame(Role::Server, true, OpCode::Binary, &data));
    }
    expected.extend(frame(Role::Server, false, OpCode::Text, b"ab"));
    expected.extend(frame(Role::Server, true, OpCode::Continuation, b"cd"));
    assert_eq!(roomy, expected);
    let sent = frames(Role::Client, &roomy_client);
    assert_eq!(sent.len(), 10);
    assert_eq!(
        sent[3],
        (
            true,
            OpCode::Binary,
            (0..126).map(|j| (j * 7 + 126) as u8).collect()
        )
    );
}
