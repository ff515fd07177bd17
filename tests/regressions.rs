//! Regressions: library bugs found while porting the tests, and the items of the
//! adversarial review, each pinned by a test that fails without its fix.

use embedded_io::ErrorKind;
use ws13::blocking::{Incoming, WebSocket, MIN_BUFFER};
use ws13::frame::OpCode;
use ws13::proto::{Masking, Role};
use ws13::{Error, Event, Message, MessageKind, NoMask};
use ws13_testkit::consts::RFC_REQUEST;
use ws13_testkit::owned::{after_head, frame, frames, messages, Msg};
use ws13_testkit::wire::peer;
use ws13_testkit::{Faults, Script, TestMask};

type Peer = Script<'static, Vec<u8>, Vec<u8>>;

fn script(input: Vec<u8>, step: usize) -> Peer {
    Script::new(input, Vec::new()).reads(Faults::NONE.max_chunk(step))
}

/// The peer's close frame is echoed as the event is handed out, with no further call:
/// an application that stops at the close (as examples/echo_server.rs does) still
/// completes the close handshake. (Found porting the pipe tests: the new driver queued
/// the echo and wrote it only with a later write, flush or read, which never came.)
fn close_echo_goes_out_at_once<M: Masking + Clone>(masks: M) {
    let close = frame(peer(M::ROLE), true, OpCode::Close, &[0x0F, 0xA0, b'x']);
    for whole in [false, true] {
        for step in [1, 3, 100] {
            let mut io = script(close.clone(), step);
            let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
            let mut ws =
                WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks.clone())
                    .unwrap();
            if whole {
                let mut buf = [0u8; 125];
                assert!(matches!(
                    ws.read_message(&mut buf),
                    Ok(Message::Close(Some(_)))
                ));
            } else {
                assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
            }
            let _ = ws;
            assert_eq!(
                messages(M::ROLE, io.written()).unwrap(),
                vec![Msg::close(4000, "")],
                "{:?}, read_message {whole}, step {step}",
                M::ROLE
            );
        }
    }
}

#[test]
fn the_close_echo_goes_out_with_the_close_event() {
    close_echo_goes_out_at_once(NoMask);
    close_echo_goes_out_at_once(TestMask(9));
}

/// After a timeout kept the echo in the buffer, the next read (which reports `Closed`)
/// or a flush writes it, once.
#[test]
fn a_close_echo_interrupted_by_a_timeout_goes_out_on_the_next_call() {
    let close = frame(Role::Client, true, OpCode::Close, &[0x03, 0xE8]);
    let mut io = script(close, 100).writes(Faults::at(&[(0, ws13_testkit::Fault::TimedOut)]));
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
    assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
    assert!(matches!(ws.read(), Err(Error::Closed)));
    ws.flush().unwrap();
    let _ = ws;
    assert_eq!(
        messages(Role::Server, io.written()).unwrap(),
        vec![Msg::close(1000, "")]
    );
}

/// With the smallest transmit buffer (MIN_BUFFER), a 125-byte pong waiting behind one of
/// our frames left the core unable to read on: it kept room for a whole control frame
/// and the waiting pong besides (137 bytes of 131), so it read the transport to its end
/// (or blocked forever) instead of handing out the next frame. Inside our frame an
/// answer takes the waiting pong's place, so room for one pong's payload is enough.
fn reads_on_with_a_pong_waiting<M: Masking + Clone>(masks: M) {
    let sender = peer(M::ROLE);
    let mut input = frame(sender, true, OpCode::Ping, &[b'p'; 125]);
    input.extend(frame(sender, true, OpCode::Ping, b"second"));
    input.extend(frame(sender, true, OpCode::Close, &[0x03, 0xE8]));
    let mut io = script(input, 7);
    let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; MIN_BUFFER]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
    let mut w = ws.writer();
    w.begin_frame(MessageKind::Binary, 300, true).unwrap();
    w.write_payload(&[1; 100]).unwrap();
    assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
    assert_eq!(ws.read().unwrap(), Event::Ping(b"second"));
    assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
    ws.writer().write_payload(&[1; 200]).unwrap();
    ws.flush().unwrap();
    let _ = ws;
    let sent = frames(M::ROLE, io.written()).unwrap();
    // The frame, then the close's echo: after the peer's close no pong is owed.
    assert_eq!(
        sent,
        vec![
            (true, OpCode::Binary, vec![1; 300]),
            (true, OpCode::Close, vec![0x03, 0xE8])
        ],
        "{:?}",
        M::ROLE
    );
}

#[test]
fn the_smallest_transmit_buffer_reads_on_with_a_pong_waiting() {
    reads_on_with_a_pong_waiting(NoMask);
    reads_on_with_a_pong_waiting(TestMask(3));
}

/// Adversarial review (shared/repro/fuzz-blocking_server-message-in-progress.bin): a
/// timeout that falls right after a data frame's header, before any of its payload was
/// handed out, does not make `read_message` refuse with `MessageInProgress`: nothing of
/// the message is out yet, so it is read whole. After `read`, and after `read_message`.
#[test]
fn read_message_after_a_timeout_right_after_a_header() {
    use ws13_testkit::Fault;
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let bytes = frame(Role::Client, true, OpCode::Binary, &payload);
    let header = 2 + 2 + 4;
    let faults = [(0, Fault::Short(header)), (1, Fault::TimedOut)];
    for first_read_whole in [false, true] {
        let mut io = script(bytes.clone(), 1 << 20).reads(Faults::at(&faults));
        let (mut rx, mut tx) = ([0u8; 512], [0u8; 256]);
        let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
        let mut buf = [0u8; 400];
        let first = if first_read_whole {
            ws.read_message(&mut buf).map(|_| ()).unwrap_err()
        } else {
            ws.read().map(|_| ()).unwrap_err()
        };
        assert!(first.is_timeout(), "{first:?}");
        match ws.read_message(&mut buf) {
            Ok(Message::Binary(b)) => assert_eq!(b, &payload[..]),
            other => panic!("read_message after the timeout: {other:?}"),
        }
    }
}

/// Adversarial review: a frame of 2^63 bytes or more cannot be announced (its header
/// cannot carry the length): `begin_frame` refuses it, writes nothing, and the
/// connection goes on.
#[test]
fn begin_frame_refuses_lengths_of_2_to_the_63() {
    use ws13::SendError;
    let mut io = script(Vec::new(), 1);
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, TestMask(1)).unwrap();
    for len in [1u64 << 63, u64::MAX, (1 << 63) + 12345] {
        let refused = ws.writer().begin_frame(MessageKind::Binary, len, true);
        assert!(
            matches!(refused, Err(Error::Send(SendError::FrameTooLong))),
            "{len}: {refused:?}"
        );
        assert_eq!(ws.writer().frame_remaining(), 0);
    }
    ws.flush().unwrap();
    // The largest length that can be announced is taken.
    let mut w = ws.writer();
    w.begin_frame(MessageKind::Binary, (1 << 63) - 1, true)
        .unwrap();
    assert_eq!(w.frame_remaining(), (1 << 63) - 1);
    w.flush().unwrap();
    let _ = ws;
    let written = io.written();
    assert_eq!(written.len(), 14, "only the last header: {written:x?}");
    assert_eq!(&written[2..10], &((1u64 << 63) - 1).to_be_bytes());
}

/// Adversarial review: a keepalive ping asked for while a relayed frame is open (as
/// examples/echo_server.rs does when a read times out in the middle of a large frame)
/// waits for the frame and follows it; the relay goes on undisturbed.
#[test]
fn a_keepalive_ping_waits_for_the_relayed_frame() {
    use ws13_testkit::Fault;
    let big: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let mut input = RFC_REQUEST.to_vec();
    input.extend(frame(Role::Client, true, OpCode::Binary, &big));
    input.extend(frame(Role::Client, true, OpCode::Close, &[0x03, 0xE8]));
    let timeouts = [
        (5, Fault::TimedOut),
        (9, Fault::TimedOut),
        (10, Fault::Interrupted),
    ];
    let mut io = script(input, 200).reads(Faults::at(&timeouts).max_chunk(200));
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut incoming = Incoming::new(&mut io, &mut rx);
    incoming.read().unwrap();
    let mut ws = incoming.accept(&mut tx, None).unwrap();
    let mut pings = 0;
    loop {
        let (event, mut writer) = match ws.read_split() {
            Ok(split) => split,
            Err(e) if e.is_timeout() => {
                // Inside the relayed frame: the ping must wait, not fail.
                assert!(ws.connection().frame_remaining() > 0);
                ws.send(Message::Ping(b"keepalive")).unwrap();
                pings += 1;
                continue;
            }
            Err(e) => panic!("{e:?}"),
        };
        match event {
            Event::Data(piece) => writer.relay(&piece).unwrap(),
            Event::Close(_) => break,
            _ => {}
        }
    }
    let _ = ws;
    let sent = frames(Role::Server, after_head(io.written())).unwrap();
    // The pings asked for inside the frame wait in one place: the latest one goes.
    let expected = vec![
        (true, OpCode::Binary, big),
        (true, OpCode::Ping, b"keepalive".to_vec()),
        (true, OpCode::Close, vec![0x03, 0xE8]),
    ];
    assert!(pings >= 2);
    assert!(
        sent == expected,
        "{:?}",
        sent.iter().map(|f| (f.1, f.2.len())).collect::<Vec<_>>()
    );
}

/// A send that a write timeout interrupted is made again and goes on where it stopped,
/// whatever write the timeout hit (the old driver closed the connection instead); the
/// peer reads every message once, whole. A hard failure instead closes the connection:
/// every later call fails, and what went out is a valid prefix of the frames.
fn sends_survive_write_faults<M: Masking + Clone>(masks: M) {
    use ws13_testkit::owned::messages_prefix;
    use ws13_testkit::Fault;
    for at in 0..8 {
        for fault in [
            Fault::TimedOut,
            Fault::Interrupted,
            Fault::Fail(ErrorKind::ConnectionReset),
        ] {
            let faults = [(at, fault)];
            let mut io = script(Vec::new(), 1).writes(Faults::at(&faults).max_chunk(100));
            let (mut rx, mut tx) = (vec![0u8; MIN_BUFFER], vec![0u8; 256]);
            let mut ws =
                WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks.clone())
                    .unwrap();
            let big = vec![0x5A; 1000];
            let mut failed = false;
            for message in [Message::Binary(&big), Message::Text("after")] {
                match ws.send(message) {
                    Ok(()) => {}
                    Err(e) if e.is_timeout() => ws.send(message).unwrap(),
                    Err(Error::Io(_)) => {
                        failed = true;
                        break;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
            if failed {
                assert!(ws.is_closed());
                let late = ws.send(Message::Text("x"));
                assert!(
                    matches!(late, Err(Error::Closed)),
                    "{:?} {fault:?} at {at}: {late:?}",
                    M::ROLE
                );
                assert!(ws.flush().is_err());
            }
            let _ = ws;
            let sender = M::ROLE;
            if failed {
                let (got, _) = messages_prefix(sender, io.written()).unwrap();
                assert!(got.len() <= 1 && got.iter().all(|m| *m == Msg::Binary(big.clone())));
            } else {
                assert_eq!(
                    messages(sender, io.written()).unwrap(),
                    vec![Msg::Binary(big), Msg::text("after")],
                    "{sender:?}, {fault:?} at write {at}"
                );
            }
        }
    }
}

#[test]
fn a_send_interrupted_by_a_write_fault_goes_on_or_fails_cleanly() {
    sends_survive_write_faults(NoMask);
    sends_survive_write_faults(TestMask(5));
}

/// An async send whose future is dropped in its flush (as `select` with a timer drops
/// it) and is then made again sends its message once: a dropped operation is the same
/// as one a timeout interrupted. (Found porting the QEMU checks to the async driver: the
/// send was marked as needing only its flush after the flush failed, never when its
/// future was dropped, so the same send made again encoded the message a second time.)
#[test]
fn an_async_send_dropped_in_its_flush_and_made_again_sends_once() {
    use embedded_io_async::Read;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    use ws13_testkit::asyncio::{AsyncDuplex, AsyncEnd};
    use ws13_testkit::checks::asynch::join;

    fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
        pin!(f)
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }
    // Takes what the pipe holds (16 bytes at most).
    fn drain(end: &mut AsyncEnd<'_, 16>, into: &mut Vec<u8>) {
        let mut buf = [0u8; 16];
        if let Poll::Ready(Ok(n)) = poll_once(end.read(&mut buf)) {
            into.extend_from_slice(&buf[..n]);
        }
    }

    let payload = [7u8; 100];
    for polls in [1, 4] {
        // A pipe of 16 bytes: the 106-byte frame cannot go out in one poll.
        let duplex = AsyncDuplex::<16>::new();
        let (client_end, mut server_end) = duplex.ends(usize::MAX);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let mut ws = ws13::asynch::WebSocket::from_upgraded(
            client_end,
            &mut rx,
            0..0,
            &mut tx,
            0,
            TestMask(1),
        )
        .unwrap();
        let mut received = Vec::new();
        {
            let mut send = pin!(ws.send(Message::Binary(&payload)));
            for _ in 0..polls {
                let polled = send.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(polled.is_pending(), "the pipe cannot take the frame yet");
                drain(&mut server_end, &mut received);
            }
        } // dropped in its flush
          // The same send made again, the peer reading meanwhile.
        let reading = async {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = server_end.read(&mut buf).await {
                received.extend_from_slice(&buf[..n]);
            }
        };
        let sending = async {
            ws.send(Message::Binary(&payload)).await.unwrap();
            drop(ws);
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(join(sending, reading));
        assert_eq!(
            messages(Role::Client, &received).unwrap(),
            vec![Msg::Binary(payload.to_vec())],
            "{} bytes went out for one 106-byte frame",
            received.len()
        );
    }
}

/// After `read_message` was interrupted part-way through a message and `read` handed out
/// the rest of it (as pieces without `first`), the next `read_message` must collect the
/// next message afresh. Found by the fuzzer (`blocking_server`, the chunked run against
/// the whole one): `read` left the collection marked as in progress, so the next
/// `read_message` appended to the stale bytes in its buffer and returned "Hell" for an
/// empty text message that followed "Hello".
#[test]
fn read_message_after_read_finished_an_interrupted_one_starts_afresh() {
    use ws13_testkit::Fault;
    let mut bytes = frame(Role::Client, true, OpCode::Text, b"Hello");
    bytes.extend(frame(Role::Client, true, OpCode::Text, b""));
    bytes.extend(frame(Role::Client, true, OpCode::Binary, b"xy"));
    // The header and "Hell", then a timeout.
    let faults = [(0, Fault::Short(6 + 4)), (1, Fault::TimedOut)];
    let mut io = script(bytes, 1 << 20).reads(Faults::at(&faults));
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
    let mut buf = [0u8; 200];
    assert!(ws.read_message(&mut buf).unwrap_err().is_timeout());
    match ws.read().unwrap() {
        Event::Data(p) => assert_eq!((p.payload, p.first, p.last), (&b"o"[..], false, true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text(""));
    assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Binary(b"xy"));
}

/// A request with empty lines before its request line (RFC 7230 section 3.5 has a server
/// ignore them; ws13's parser takes up to two bytes of them) shows its headers like any
/// other. Found by the fuzzer (handshake_server): after "\n\n" the parser accepted the
/// upgrade, but `Request::headers` took the second empty line for the end of the head, so
/// `header`, `origin` and `protocols` found nothing.
#[test]
fn headers_after_leading_empty_lines_are_seen() {
    for lead in [&b"\n"[..], b"\r\n", b"\n\n"] {
        let mut input = lead.to_vec();
        input.extend_from_slice(RFC_REQUEST);
        let mut io = script(input, 7);
        let mut rx = [0u8; 512];
        let mut incoming = Incoming::new(&mut io, &mut rx);
        let request = incoming.read().unwrap();
        assert_eq!(request.check_upgrade(), Ok(()));
        assert_eq!(
            request.header("host"),
            Some("server.example.com"),
            "{lead:?}"
        );
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(
            request.protocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
        assert_eq!(request.path(), "/chat");
    }
}

/// A transport that took nothing (`Ok(0)` from a write) is gone: a later flush says
/// `Closed` instead of `Ok`, though nothing it buffered can go out. (Found by the test
/// port's review: the buffered bytes were dropped and flush succeeded.)
#[test]
fn a_flush_after_the_transport_took_nothing_says_closed() {
    use ws13_testkit::Fault;
    let faults = [(0, Fault::Eof)];
    let mut io = script(Vec::new(), 100).writes(Faults::at(&faults));
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
    assert!(matches!(ws.send(Message::Text("lost")), Err(Error::Eof)));
    assert!(matches!(ws.flush(), Err(Error::Closed)));
    assert!(matches!(ws.send(Message::Text("more")), Err(Error::Closed)));
}
