//! Client and server talking through in-memory transports: no sockets.
//!
//! A thread pipe (`thread_pipe`) joins a client thread and a server thread; a `Script`
//! plays a peer from fixed bytes, delivered in reads of a chosen size, and records what
//! the crate writes. Frames are built and checked with the test kit.

use std::thread;
use std::time::Duration;

use embedded_io::{ErrorKind, Read, Write};
use ws13::blocking::{self, Incoming, WebSocket};
use ws13::frame::OpCode;
use ws13::handshake::client::{ClientError, ClientRequest};
use ws13::handshake::server::RequestError;
use ws13::proto::{Masking, Role};
use ws13::{CloseCode, Error, Event, Message, MessageKind, NoMask, ProtocolError, SendError};
use ws13_testkit::consts::{CHROMIUM_REQUEST, RFC_REQUEST};
use ws13_testkit::owned::{after_head, frame, frames, messages, Msg, RawFrame};
use ws13_testkit::pipe::thread_pipe;
use ws13_testkit::{Faults, Script, TestMask};

/// A scripted peer: `input` delivered `step` bytes a read, output kept in a `Vec`.
type Peer = Script<'static, Vec<u8>, Vec<u8>>;

fn peer(input: Vec<u8>, step: usize) -> Peer {
    Script::new(input, Vec::new()).reads(Faults::NONE.max_chunk(step))
}

/// A client's masking keys, deterministic for the tests.
fn keys() -> TestMask {
    TestMask(0x1234_5678)
}

/// A connection over a scripted peer, past the handshake; `masks` decides its role.
fn upgraded<'b, M: Masking>(
    script: &'b mut Peer,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    masks: M,
) -> WebSocket<'b, &'b mut Peer, M> {
    WebSocket::from_upgraded(script, rx, 0..0, tx, 0, masks).unwrap()
}

/// The request of RFC 6455 (offering chat and superchat) as a string, to edit.
fn request() -> String {
    String::from_utf8(RFC_REQUEST.to_vec()).unwrap()
}

/// A frame as a client sends it (masked).
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(Role::Client, fin, opcode, payload)
}

/// A server that echoes messages piece by piece until the close, over `io`, choosing the
/// first subprotocol offered. It returns as soon as the close arrives: the echo of the
/// close must go out without another call.
fn echo<T: Read + Write>(io: T, rx_size: usize, tx_size: usize) -> Result<T, Error<T::Error>> {
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut incoming = Incoming::new(io, &mut rx);
    let protocol = incoming.read()?.protocols().next().map(str::to_owned);
    let mut ws = incoming.accept(&mut tx, protocol.as_deref())?;
    loop {
        let (event, mut w) = ws.read_split()?;
        match event {
            Event::Data(p) => w.write_fragment(p.kind, p.payload, p.last)?,
            Event::Close(_) => return Ok(ws.into_inner()),
            _ => {}
        }
    }
}

/// The messages a server wrote after its 101 response, as a client reads them.
fn server_messages(output: &[u8]) -> Vec<Msg> {
    assert!(
        output.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(output)
    );
    messages(Role::Server, after_head(output)).expect("valid frames from the server")
}

/// A whole scripted conversation with a server.
fn scripted_conversation() -> (Vec<u8>, Vec<Msg>) {
    let mut input = RFC_REQUEST.to_vec();
    input.extend(client_frame(true, OpCode::Text, "Hello ✓".as_bytes()));
    input.extend(client_frame(false, OpCode::Binary, &[1, 2, 3]));
    input.extend(client_frame(true, OpCode::Ping, b"mid-message"));
    input.extend(client_frame(true, OpCode::Continuation, &[4, 5]));
    input.extend(client_frame(true, OpCode::Text, &[b'x'; 300]));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8, b'o', b'k']));
    let expected = vec![
        Msg::text("Hello ✓"),
        Msg::Pong(b"mid-message".to_vec()),
        Msg::Binary(vec![1, 2, 3, 4, 5]),
        Msg::Text("x".repeat(300)),
        Msg::close(1000, ""),
    ];
    (input, expected)
}

#[test]
fn scripted_server_at_every_read_size() {
    let (input, expected) = scripted_conversation();
    for step in 1..=input.len() {
        let script = echo(peer(input.clone(), step), 512, 256)
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        let out = script.written();
        assert_eq!(server_messages(out), expected, "step {step}");
        let text = String::from_utf8_lossy(out);
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
    }
}

#[test]
fn client_and_server_over_a_pipe() {
    for max_read in [1, 7, 200, 1 << 20] {
        let (client_io, server_io) = thread_pipe(max_read);
        let server = thread::spawn(move || echo(server_io, 256, 256).map(|_| ()));
        let (mut rx, mut tx) = ([0u8; 300], [0u8; 200]);
        let request = ClientRequest::new("example.com", "/chat").protocols(&["superchat", "chat"]);
        let (mut ws, protocol) =
            blocking::connect(client_io, &mut rx, &mut tx, &request, keys()).unwrap();
        assert_eq!(
            protocol,
            Some(0),
            "the server picks the client's first choice"
        );
        let mut buf = vec![0u8; 70_000];
        for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            ws.send(Message::Binary(&data)).unwrap();
            assert_eq!(
                ws.read_message(&mut buf).unwrap(),
                Message::Binary(&data),
                "len {len}"
            );
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            ws.send(Message::Text(&text)).unwrap();
            assert_eq!(
                ws.read_message(&mut buf).unwrap(),
                Message::Text(&text),
                "len {len}"
            );
        }
        // A fragmented text message whose fragments split a character, a ping between.
        let text = "Grüße, 世界! ".repeat(50);
        let bytes = text.as_bytes();
        for (i, piece) in bytes.chunks(7).enumerate() {
            let last = (i + 1) * 7 >= bytes.len();
            ws.writer()
                .write_fragment(MessageKind::Text, piece, last)
                .unwrap();
            if i == 3 {
                ws.send(Message::Ping(b"between fragments")).unwrap();
            }
        }
        ws.flush().unwrap();
        // The pong arrives between the echoed fragments; read() shows both.
        let (mut echoed, mut pongs) = (Vec::new(), 0);
        loop {
            match ws.read().unwrap() {
                Event::Data(p) => {
                    assert_eq!(p.kind, MessageKind::Text);
                    assert_eq!(
                        p.first,
                        echoed.is_empty() && !p.payload.is_empty() || p.first
                    );
                    echoed.extend_from_slice(p.payload);
                    if p.last {
                        break;
                    }
                }
                Event::Pong(p) => {
                    assert_eq!(p, b"between fragments");
                    pongs += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((echoed.as_slice(), pongs), (bytes, 1));
        // read_message keeps a message whole when a pong comes between its fragments.
        let mut w = ws.writer();
        w.write_fragment(MessageKind::Text, b"whole ", false)
            .unwrap();
        w.write(Message::Ping(b"p")).unwrap();
        w.write_fragment(MessageKind::Text, b"message", true)
            .unwrap();
        w.write(Message::Ping(b"q")).unwrap();
        w.flush().unwrap();
        assert_eq!(
            ws.read_message(&mut buf).unwrap(),
            Message::Text("whole message")
        );
        assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Pong(b"q"));
        // A message far larger than every buffer, streamed through both ends.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut w = ws.writer();
        for piece in big.chunks(10_000) {
            w.write_fragment(MessageKind::Binary, piece, false).unwrap();
        }
        w.write_fragment(MessageKind::Binary, &[], true).unwrap();
        w.flush().unwrap();
        let mut got = Vec::new();
        loop {
            match ws.read().unwrap() {
                Event::Data(p) => {
                    assert_eq!(p.kind, MessageKind::Binary);
                    assert_eq!(p.first, got.is_empty() && p.first);
                    got.extend_from_slice(p.payload);
                    if p.last {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(got == big, "1 MB echo differs (max_read {max_read})");
        ws.close(CloseCode(4001), "bye").unwrap();
        assert!(ws.is_closed());
        assert!(matches!(ws.read(), Err(Error::Closed)));
        assert!(matches!(ws.send(Message::Text("late")), Err(Error::Closed)));
        server.join().unwrap().unwrap();
    }
}

/// A server's frames right behind its 101, then its close: the client reads both, and
/// its echo of the close goes out at once, with no further call (a regression: the
/// echo waited in the buffer for a write that never came).
#[test]
fn server_message_right_behind_the_101_and_the_close_echo() {
    let (client_io, mut server_io) = thread_pipe(1 << 20);
    let server = thread::spawn(move || {
        // Answer by hand, with frames in the same write as the response.
        let mut buf = [0u8; 1024];
        let mut n = 0;
        while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            n += server_io.read(&mut buf[n..]).unwrap();
        }
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_string();
        let accept = ws13::handshake::accept_key(key.as_bytes());
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        )
        .into_bytes();
        out.extend(frame(Role::Server, true, OpCode::Text, b"welcome"));
        out.extend(frame(Role::Server, true, OpCode::Close, &[0x03, 0xE8]));
        server_io.write_all(&out).unwrap();
        // Wait for the client's close reply (the client thread blocks meanwhile).
        let mut reply = [0u8; 64];
        let n = server_io.read(&mut reply).unwrap();
        reply[..n].to_vec()
    });
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let (mut ws, protocol) = blocking::connect(
        client_io,
        &mut rx,
        &mut tx,
        &ClientRequest::new("h", "/"),
        keys(),
    )
    .unwrap();
    assert_eq!(protocol, None);
    let mut buf = [0u8; 125];
    assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text("welcome"));
    match ws.read_message(&mut buf).unwrap() {
        Message::Close(Some(c)) => assert_eq!(c.code, CloseCode::NORMAL),
        other => panic!("expected close, got {other:?}"),
    }
    let reply = server.join().unwrap();
    // The client echoed the close: masked, code 1000.
    assert_eq!(
        messages(Role::Client, &reply).unwrap(),
        vec![Msg::close(1000, "")]
    );
    // The echo is not sent twice.
    ws.flush().unwrap();
    assert!(matches!(ws.read(), Err(Error::Closed)));
}

/// Runs a server over scripted bytes; returns its error and what it wrote after the 101.
fn misbehaving_client(frames: &[u8]) -> (Error<ErrorKind>, Vec<Msg>) {
    let mut input = RFC_REQUEST.to_vec();
    input.extend_from_slice(frames);
    let mut script = peer(input, 1 << 20);
    let mut rx = [0u8; 512];
    let mut tx = [0u8; 512];
    let err = {
        let mut incoming = Incoming::new(&mut script, &mut rx);
        incoming.read().unwrap();
        let mut ws = incoming.accept(&mut tx, None).unwrap();
        let mut buf = [0u8; 200];
        loop {
            if let Err(e) = ws.read_message(&mut buf) {
                assert!(
                    matches!(ws.read(), Err(Error::Closed)),
                    "closed after an error"
                );
                break e;
            }
        }
    };
    (err, server_messages(script.written()))
}

#[test]
fn protocol_errors_close_with_the_right_code() {
    use ws13::frame::HeaderError;
    let unmasked = frame(Role::Server, true, OpCode::Text, b"hi");
    let mut reserved_bits = client_frame(true, OpCode::Text, b"x");
    reserved_bits[0] |= 0x20;
    let mut reserved_op = client_frame(true, OpCode::Text, b"x");
    reserved_op[0] = 0x8B;
    let mut two_starts = client_frame(false, OpCode::Text, b"a");
    two_starts.extend(client_frame(true, OpCode::Text, b"b"));
    let mut bad_utf8_fragments = client_frame(false, OpCode::Text, "ab€".as_bytes());
    bad_utf8_fragments.extend(client_frame(true, OpCode::Continuation, b"\xc0\xaf"));
    let mut ping_fragmented = client_frame(true, OpCode::Ping, b"");
    ping_fragmented[0] &= 0x7F;
    let mut pong_too_long = client_frame(true, OpCode::Pong, &[0; 125]);
    pong_too_long[1] = 0x80 | 126;
    pong_too_long.splice(2..2, [0, 126]);
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (unmasked, ProtocolError::UnmaskedFrame, 1002),
        (
            reserved_bits,
            ProtocolError::Header(HeaderError::ReservedBits),
            1002,
        ),
        (
            reserved_op,
            ProtocolError::Header(HeaderError::ReservedOpcode),
            1002,
        ),
        (
            client_frame(true, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        (two_starts, ProtocolError::ExpectedContinuation, 1002),
        (
            ping_fragmented,
            ProtocolError::Header(HeaderError::ControlFragmented),
            1002,
        ),
        (
            pong_too_long,
            ProtocolError::Header(HeaderError::ControlTooLong),
            1002,
        ),
        (
            client_frame(true, OpCode::Text, b"\xed\xa0\x80"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (bad_utf8_fragments, ProtocolError::InvalidUtf8, 1007),
        (
            client_frame(true, OpCode::Close, &[0x03]),
            ProtocolError::InvalidClosePayload,
            1002,
        ),
        (
            client_frame(true, OpCode::Close, &[0x03, 0xEE]),
            ProtocolError::InvalidCloseCode(1006),
            1002,
        ),
        (
            client_frame(true, OpCode::Close, &[0x03, 0xE8, 0xff]),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            client_frame(true, OpCode::Binary, &[0; 201]),
            ProtocolError::MessageTooBig,
            1009,
        ),
    ];
    for (frames, expected, code) in cases {
        let (err, sent) = misbehaving_client(&frames);
        assert!(
            matches!(err, Error::Protocol(e) if e == expected),
            "{err:?}, expected {expected:?}"
        );
        assert_eq!(expected.close_code().0, code);
        assert_eq!(sent.last(), Some(&Msg::close(code, "")), "{expected:?}");
    }
}

/// Regression (Autobahn 6.4.3): a peer that answers our close in the middle of the frame
/// it was sending. The failing side must return at once, not wait for bytes to finish
/// that frame.
#[test]
fn failing_returns_without_waiting_for_the_peer() {
    let (mut client_io, server_io) = thread_pipe(1 << 20);
    let (done_tx, done) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
        let mut incoming = Incoming::new(server_io, &mut rx);
        incoming.read().unwrap();
        let mut ws = incoming.accept(&mut tx, None).unwrap();
        let mut buf = [0u8; 125];
        let result = ws
            .read_message(&mut buf)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"));
        done_tx.send(result).unwrap();
    });
    client_io.write_all(RFC_REQUEST).unwrap();
    // A 20-byte text frame of which only an invalid prefix is sent; the pipe stays open.
    let frame = client_frame(true, OpCode::Text, b"\xce\xba\xf4\x90\x80\x80 and the rest");
    client_io.write_all(&frame[..12]).unwrap();
    let result = done
        .recv_timeout(Duration::from_secs(10))
        .expect("the server returned without more input");
    assert_eq!(result, Err("Protocol(InvalidUtf8)".to_string()));
    server.join().unwrap();
}

#[test]
fn peer_vanishing_is_eof_not_a_hang() {
    let mut input = RFC_REQUEST.to_vec();
    input.extend(client_frame(true, OpCode::Text, b"partial message")[..9].iter());
    let mut script = peer(input, 5);
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut incoming = Incoming::new(&mut script, &mut rx);
    incoming.read().unwrap();
    let mut ws = incoming.accept(&mut tx, None).unwrap();
    let mut buf = [0u8; 125];
    assert!(matches!(ws.read_message(&mut buf), Err(Error::Eof)));
    assert!(matches!(ws.read_message(&mut buf), Err(Error::Closed)));
}

/// Reads `request` with a receive buffer of `rx_size` and accepts it (choosing
/// `protocol`, sending from a transmit buffer of `tx_size`); returns the error and what
/// the server wrote.
fn refusal(
    request: &[u8],
    rx_size: usize,
    protocol: Option<&str>,
    tx_size: usize,
) -> (Error<ErrorKind>, String) {
    let mut script = peer(request.to_vec(), 1 << 20);
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut incoming = Incoming::new(&mut script, &mut rx);
    let (err, in_accept) = match incoming.read() {
        Err(e) => (e, false),
        Ok(_) => (
            incoming.accept(&mut tx, protocol).map(|_| ()).unwrap_err(),
            true,
        ),
    };
    let written = String::from_utf8_lossy(script.written()).into_owned();
    // The async driver refuses the same request with the same error and the same bytes;
    // a failed accept is the exception, as documented: the async `accept` does no I/O,
    // so it sends no 500.
    let (async_err, async_written) = refusal_async(request, rx_size, protocol, tx_size);
    assert_eq!(
        format!("{async_err:?}"),
        format!("{err:?}"),
        "async driver's error"
    );
    if in_accept {
        assert_eq!(async_written, "", "async accept writes nothing");
    } else {
        assert_eq!(async_written, written, "async driver's answer");
    }
    (err, written)
}

/// [`refusal`] through the async driver.
fn refusal_async(
    request: &[u8],
    rx_size: usize,
    protocol: Option<&str>,
    tx_size: usize,
) -> (Error<ErrorKind>, String) {
    use ws13_testkit::asyncio::{block_on, Stalling};
    let mut script = peer(request.to_vec(), 1 << 20);
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut incoming = ws13::asynch::Incoming::new(Stalling::new(&mut script, 0, 0), &mut rx);
    let err = block_on(async {
        match incoming.read().await {
            Err(e) => e,
            Ok(_) => incoming.accept(&mut tx, protocol).map(|_| ()).unwrap_err(),
        }
    });
    (err, String::from_utf8_lossy(script.written()).into_owned())
}

#[test]
fn handshake_refusals_are_http_responses() {
    let rfc = request();
    let with = |header: &str| rfc.replace("Origin:", &format!("{header}\r\nOrigin:"));
    let cases: Vec<(String, usize, RequestError, &str)> = vec![
        (
            rfc.replace("Version: 13", "Version: 8"),
            512,
            RequestError::UnsupportedVersion,
            "426",
        ),
        (
            rfc.replace("GET ", "PUT "),
            512,
            RequestError::MethodNotAllowed,
            "405",
        ),
        (
            with(&format!("Cookie: {}", "c".repeat(200))),
            160,
            RequestError::TooLarge,
            "431",
        ),
        (rfc[..60].into(), 512, RequestError::Malformed, "400"),
        (
            "GARBAGE\r\n\r\n".into(),
            512,
            RequestError::Malformed,
            "400",
        ),
        (
            rfc.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            512,
            RequestError::BadKey,
            "400",
        ),
        (
            rfc.replace("Host: server.example.com\r\n", ""),
            512,
            RequestError::MissingHost,
            "400",
        ),
        // Adversarial review: a second Host header, or one that is not a host and port.
        (
            with("Host: evil.example.com"),
            512,
            RequestError::InvalidHost,
            "400",
        ),
        (
            with("host: server.example.com"),
            512,
            RequestError::InvalidHost,
            "400",
        ),
        (
            rfc.replace("server.example.com", "a b"),
            512,
            RequestError::InvalidHost,
            "400",
        ),
        (
            rfc.replace("server.example.com", "x/y"),
            512,
            RequestError::InvalidHost,
            "400",
        ),
        (
            rfc.replace("server.example.com", "x:8o"),
            512,
            RequestError::InvalidHost,
            "400",
        ),
        // Adversarial review: an upgrade with a body, whose bytes would pass for frames.
        (
            with("Content-Length: 5"),
            512,
            RequestError::UnexpectedBody,
            "400",
        ),
        (
            with("Transfer-Encoding: chunked"),
            512,
            RequestError::UnexpectedBody,
            "400",
        ),
    ];
    for (request, rx_size, expected, status) in cases {
        let (err, output) = refusal(request.as_bytes(), rx_size, None, 512);
        assert!(
            matches!(err, Error::Request(e) if e == expected),
            "{err:?} for {request:?}, wrote {output:?}"
        );
        assert!(
            output.starts_with(&format!("HTTP/1.1 {status} ")),
            "{output:?} for {request:?}"
        );
        assert!(output.ends_with("\r\n\r\n"));
        assert_eq!(expected.status().to_string(), status);
        if expected == RequestError::UnsupportedVersion {
            assert!(output.contains("Sec-WebSocket-Version: 13\r\n"));
        }
    }
    // A receive buffer below MIN_BUFFER (too small to hold a refusal) is refused
    // before anything is read, and nothing is written.
    let (err, output) = refusal(RFC_REQUEST, 40, None, 512);
    assert!(matches!(err, Error::BufferTooSmall), "{err:?}");
    assert_eq!(output, "");
    // A body of length 0 is no body: accepted.
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut script = peer(with("Content-Length: 0").into_bytes(), 64);
    let mut incoming = Incoming::new(&mut script, &mut rx);
    incoming.read().unwrap();
    incoming.accept(&mut tx, None).unwrap();
}

/// Adversarial review: an accept that fails through the application's fault (a
/// subprotocol the client did not offer, a transmit buffer too small for the 101) tells
/// the client so with a 500, and returns the error.
#[test]
fn a_failed_accept_gives_the_client_a_500() {
    let (err, output) = refusal(RFC_REQUEST, 512, Some("other"), 512);
    assert!(matches!(err, Error::InvalidHeader), "{err:?}");
    assert!(output.starts_with("HTTP/1.1 500 "), "{output:?}");
    assert!(!output.contains("101"));
    let (err, output) = refusal(RFC_REQUEST, 512, Some("chat"), 140);
    assert!(matches!(err, Error::BufferTooSmall), "{err:?}");
    assert!(output.starts_with("HTTP/1.1 500 "), "{output:?}");
    // The same accept with room succeeds.
    let mut script = peer(RFC_REQUEST.to_vec(), 64);
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 160]);
    let mut incoming = Incoming::new(&mut script, &mut rx);
    incoming.read().unwrap();
    let mut ws = incoming.accept(&mut tx, Some("chat")).unwrap();
    ws.flush().unwrap();
    assert!(String::from_utf8_lossy(script.written()).starts_with("HTTP/1.1 101 "));
}

#[test]
fn request_larger_than_the_buffer_streams_through() {
    assert!(CHROMIUM_REQUEST.len() > 500);
    let mut input = CHROMIUM_REQUEST.to_vec();
    input.extend(client_frame(true, OpCode::Text, b"hello"));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8]));
    for step in [1, 2, 5, 64, 4096] {
        let mut script = peer(input.clone(), step);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        {
            let mut incoming = Incoming::new(&mut script, &mut rx);
            let request = incoming
                .read()
                .unwrap_or_else(|e| panic!("step {step}: {e}"));
            assert_eq!(request.path(), "/chat", "step {step}");
            assert_eq!(request.origin(), Some("http://192.168.1.50"));
            assert_eq!(request.header("host"), Some("192.168.1.50"));
            assert_eq!(
                request.protocols().collect::<Vec<_>>(),
                ["ws13.echo", "chat"]
            );
            assert_eq!(request.check_upgrade(), Ok(()));
            let mut ws = incoming.accept(&mut tx, Some("ws13.echo")).unwrap();
            let mut buf = [0u8; 125];
            assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text("hello"));
            assert!(matches!(
                ws.read_message(&mut buf).unwrap(),
                Message::Close(Some(_))
            ));
        }
        let out = String::from_utf8_lossy(script.written()).into_owned();
        assert!(
            out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{out}"
        );
        assert!(out.contains("Sec-WebSocket-Protocol: ws13.echo\r\n"));
        assert!(!out.contains("Extensions"), "extensions are declined");
    }
    // One header line longer than the whole buffer cannot be read: 431.
    let long = String::from_utf8_lossy(CHROMIUM_REQUEST)
        .replace("Pragma: no-cache", &format!("Cookie: {}", "c".repeat(300)));
    let (err, output) = refusal(long.as_bytes(), 256, None, 256);
    assert!(
        matches!(err, Error::Request(RequestError::TooLarge)),
        "{err:?}"
    );
    assert!(output.starts_with("HTTP/1.1 431 "), "{output}");
}

#[test]
fn plain_http_request_gets_the_applications_response() {
    let mut script = peer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 3);
    let mut rx = [0u8; 256];
    let mut incoming = Incoming::new(&mut script, &mut rx);
    assert!(!incoming.read().unwrap().is_upgrade());
    incoming
        .respond(200, &[("Content-Type", "text/html")], b"<p>hi</p>")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(script.written()),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<p>hi</p>"
    );
}

#[test]
fn client_checks_the_response() {
    let responses: Vec<(&str, ClientError)> = vec![
        ("HTTP/1.1 403 Forbidden\r\n\r\n", ClientError::Status(403)),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", ClientError::BadAccept),
        ("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", ClientError::MissingUpgrade),
        ("HTTP/1.1 101 Switching", ClientError::Truncated),
    ];
    for (response, expected) in responses {
        let mut script = peer(response.as_bytes().to_vec(), 4);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let r = blocking::connect(
            &mut script,
            &mut rx,
            &mut tx,
            &ClientRequest::new("h", "/"),
            keys(),
        );
        assert!(
            matches!(r, Err(Error::Handshake(e)) if e == expected),
            "{response}"
        );
    }
}

#[test]
fn buffers_below_the_minimum_are_refused() {
    let mut rx = [0u8; 100];
    let mut tx = [0u8; 512];
    let r = WebSocket::from_upgraded(peer(vec![], 1), &mut rx, 0..0, &mut tx, 0, NoMask);
    assert!(matches!(r, Err(Error::BufferTooSmall)));
    let mut rx = [0u8; 512];
    let r = WebSocket::from_upgraded(peer(vec![], 1), &mut rx, 0..600, &mut tx, 0, NoMask);
    assert!(matches!(r, Err(Error::BufferTooSmall)));
}

/// A server that relays binary frames as they came (one frame out per frame in, its
/// payload streamed through as it arrives) and echoes text as fragments, like
/// examples/echo_server.rs.
fn relay_echo<T: Read + Write>(
    io: T,
    rx_size: usize,
    tx_size: usize,
) -> Result<T, Error<T::Error>> {
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut incoming = Incoming::new(io, &mut rx);
    incoming.read()?;
    let mut ws = incoming.accept(&mut tx, None)?;
    loop {
        let (event, mut w) = ws.read_split()?;
        match event {
            Event::Data(p) if p.kind == MessageKind::Binary => w.relay(&p)?,
            Event::Data(p) => w.write_fragment(p.kind, p.payload, p.last)?,
            Event::Close(_) => return Ok(ws.into_inner()),
            _ => {}
        }
    }
}

fn summary(frames: &[RawFrame]) -> Vec<(bool, OpCode, usize)> {
    frames.iter().map(|(f, o, p)| (*f, *o, p.len())).collect()
}

#[test]
fn relay_sends_frames_on_as_they_came() {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let mut input = RFC_REQUEST.to_vec();
    input.extend(client_frame(true, OpCode::Binary, &big));
    input.extend(client_frame(false, OpCode::Binary, &big[..300]));
    input.extend(client_frame(true, OpCode::Ping, b"between"));
    input.extend(client_frame(false, OpCode::Continuation, &[]));
    input.extend(client_frame(true, OpCode::Continuation, &big[..5]));
    input.extend(client_frame(true, OpCode::Binary, &[]));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8]));
    let expected: Vec<RawFrame> = vec![
        (true, OpCode::Binary, big.clone()),
        (false, OpCode::Binary, big[..300].to_vec()),
        (true, OpCode::Pong, b"between".to_vec()),
        (false, OpCode::Continuation, vec![]),
        (true, OpCode::Continuation, big[..5].to_vec()),
        (true, OpCode::Binary, vec![]),
        (true, OpCode::Close, vec![0x03, 0xE8]),
    ];
    for step in [1, 2, 7, 131, 1000, 4096, input.len()] {
        let script = relay_echo(peer(input.clone(), step), 512, 256).unwrap();
        let frames = frames(Role::Server, after_head(script.written())).unwrap();
        assert!(frames == expected, "step {step}: {:?}", summary(&frames));
    }
}

#[test]
fn one_frame_streamed_in_chunks_both_ways() {
    // A client streams 1 MB as one masked frame in chunks of odd sizes (the mask key's
    // position carries across chunks); the relay sends it back as one frame.
    for max_read in [7, 4096, 1 << 20] {
        let (client_io, server_io) = thread_pipe(max_read);
        let server = thread::spawn(move || relay_echo(server_io, 1024, 512).map(|_| ()));
        let (mut rx, mut tx) = ([0u8; 1024], [0u8; 256]);
        let request = ClientRequest::new("example.com", "/");
        let (mut ws, _) = blocking::connect(client_io, &mut rx, &mut tx, &request, keys()).unwrap();
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut w = ws.writer();
        w.begin_frame(MessageKind::Binary, big.len() as u64, true)
            .unwrap();
        let mut sent = 0;
        for (i, size) in [1usize, 2, 3, 5, 7, 255, 256, 257, 65_537]
            .iter()
            .cycle()
            .enumerate()
        {
            let end = (sent + size * (i % 5 + 1)).min(big.len());
            w.write_payload(&big[sent..end]).unwrap();
            sent = end;
            if sent == big.len() {
                break;
            }
        }
        assert_eq!(w.frame_remaining(), 0);
        w.flush().unwrap();
        let mut got = Vec::new();
        loop {
            match ws.read().unwrap() {
                Event::Data(p) => {
                    // One frame: every piece counts down to the same end.
                    assert!(p.frame_fin);
                    assert_eq!(
                        got.len() + p.payload.len() + p.frame_remaining as usize,
                        big.len()
                    );
                    got.extend_from_slice(p.payload);
                    if p.last {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(got == big, "max_read {max_read}");
        ws.close(CloseCode::NORMAL, "").unwrap();
        server.join().unwrap().unwrap();
    }
}

/// While one of our frames is open, no other data frame can start and no more payload
/// than announced is taken; a ping asked for meanwhile waits for the frame (it used to
/// be refused), and close() asks for the frame to be finished first.
#[test]
fn an_open_frame_admits_nothing_else() {
    let mut script = peer(Vec::new(), 1);
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = upgraded(&mut script, &mut rx, &mut tx, NoMask);
    let mut w = ws.writer();
    // No frame open: payload is refused.
    assert!(matches!(
        w.write_payload(b"x"),
        Err(Error::Send(SendError::PayloadTooLong))
    ));
    w.begin_frame(MessageKind::Text, 4, true).unwrap();
    assert!(matches!(
        w.begin_frame(MessageKind::Text, 1, true),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.write(Message::Text("x")),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.write_fragment(MessageKind::Text, b"x", true),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.write_payload(b"hello"),
        Err(Error::Send(SendError::PayloadTooLong))
    ));
    w.write(Message::Ping(b"")).unwrap();
    w.write_payload(b"he").unwrap();
    assert_eq!(w.frame_remaining(), 2);
    assert!(matches!(
        ws.close(CloseCode::NORMAL, ""),
        Err(Error::Send(SendError::FrameOpen))
    ));
    let mut w = ws.writer();
    w.write_payload(b"ll").unwrap();
    w.write(Message::Text("next")).unwrap();
    ws.flush().unwrap();
    assert_eq!(
        frames(Role::Server, script.written()).unwrap(),
        vec![
            (true, OpCode::Text, b"hell".to_vec()),
            (true, OpCode::Ping, vec![]),
            (true, OpCode::Text, b"next".to_vec())
        ]
    );
}

/// A frame as the peer of a connection whose masking is `M` sends it.
fn peer_frame<M: Masking>(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let sender = ws13_testkit::wire::peer(M::ROLE);
    frame(sender, true, opcode, payload)
}

/// Pings arriving while one of our frames is half sent are answered once the frame is
/// complete (the latest ping only), down to the smallest transmit buffer, where a
/// waiting 125-byte payload leaves 6 bytes for the frame's own.
fn pongs_wait_for_the_frame<M: Masking + Clone>(masks: M) {
    for tx_size in [blocking::MIN_BUFFER, 1024] {
        let mut input = peer_frame::<M>(OpCode::Ping, b"first");
        input.extend(peer_frame::<M>(OpCode::Ping, &[b'p'; 125]));
        let mut script = peer(input, 3);
        let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; tx_size]);
        let mut ws = upgraded(&mut script, &mut rx, &mut tx, masks.clone());
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 3) as u8).collect();
        let mut w = ws.writer();
        w.begin_frame(MessageKind::Binary, 1000, true).unwrap();
        w.write_payload(&payload[..1]).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Event::Ping(b"first"),
            "{:?} tx {tx_size}",
            M::ROLE
        );
        ws.writer().write_payload(&payload[1..999]).unwrap();
        assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
        ws.writer().write_payload(&payload[999..]).unwrap();
        // Complete: the next frame goes straight out again.
        ws.send(Message::Text("after")).unwrap();
        let frames = frames(M::ROLE, script.written()).unwrap();
        assert_eq!(
            summary(&frames),
            vec![
                (true, OpCode::Binary, 1000),
                (true, OpCode::Pong, 125),
                (true, OpCode::Text, 5)
            ],
            "{:?}, tx {tx_size}",
            M::ROLE
        );
        assert_eq!(frames[0].2, payload);
        assert_eq!(frames[1].2, vec![b'p'; 125]);
    }
}

#[test]
fn pongs_wait_for_the_frame_being_sent() {
    pongs_wait_for_the_frame(NoMask);
    pongs_wait_for_the_frame(keys());
}

/// The peer's close arriving inside one of our frames is reported at once and echoed
/// once the frame is complete; it takes the place of a waiting pong (after the peer's
/// close no pong is owed), and nothing new can start after it (the connection is
/// closing: `Closed`, where a frame open used to say `FrameOpen`).
fn close_echo_waits_for_the_frame<M: Masking + Clone>(masks: M) {
    for tx_size in [blocking::MIN_BUFFER, 1024] {
        let mut input = peer_frame::<M>(OpCode::Ping, &[b'p'; 125]);
        input.extend(peer_frame::<M>(
            OpCode::Close,
            &[0x0F, 0xA0, b'b', b'y', b'e'],
        ));
        let mut script = peer(input, 1 << 20);
        let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; tx_size]);
        let mut ws = upgraded(&mut script, &mut rx, &mut tx, masks.clone());
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut w = ws.writer();
        w.begin_frame(MessageKind::Binary, 1000, true).unwrap();
        w.write_payload(&payload[..400]).unwrap();
        assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
        assert!(matches!(ws.read().unwrap(), Event::Close(Some(c)) if c.code.0 == 4000));
        assert!(matches!(ws.read(), Err(Error::Closed)));
        let mut w = ws.writer();
        assert!(matches!(
            w.write(Message::Binary(b"late")),
            Err(Error::Closed)
        ));
        w.write_payload(&payload[400..]).unwrap();
        assert!(matches!(
            w.write(Message::Binary(b"late")),
            Err(Error::Closed)
        ));
        ws.flush().unwrap();
        let frames = frames(M::ROLE, script.written()).unwrap();
        assert_eq!(
            summary(&frames),
            vec![(true, OpCode::Binary, 1000), (true, OpCode::Close, 2)],
            "{:?}, tx {tx_size}",
            M::ROLE
        );
        assert_eq!(frames[0].2, payload);
        assert_eq!(frames[1].2, vec![0x0F, 0xA0]);
    }
}

#[test]
fn the_close_echo_waits_for_the_frame_being_sent() {
    close_echo_waits_for_the_frame(NoMask);
    close_echo_waits_for_the_frame(keys());
}

#[test]
fn a_protocol_error_inside_our_frame_drops_the_connection() {
    // No close frame can follow a cut frame. What was buffered still goes out (here the
    // pong queued before the frame, and the frame's start: found by the fuzzer, where
    // the pong was lost), then nothing more, and the error is returned.
    let mut input = client_frame(true, OpCode::Ping, b"p");
    let mut bad = client_frame(true, OpCode::Text, b"x");
    bad[0] |= 0x40;
    input.extend(bad);
    let mut script = peer(input, 1 << 20);
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = upgraded(&mut script, &mut rx, &mut tx, NoMask);
    assert_eq!(ws.read().unwrap(), Event::Ping(b"p"));
    let mut w = ws.writer();
    w.begin_frame(MessageKind::Binary, 10, true).unwrap();
    w.write_payload(b"12345").unwrap();
    assert!(matches!(ws.read(), Err(Error::Protocol(_))));
    assert!(ws.is_closed());
    assert!(matches!(
        ws.writer().write_payload(b"67890"),
        Err(Error::Closed)
    ));
    ws.flush().unwrap();
    assert_eq!(script.written(), b"\x8a\x01p\x82\x0a12345");
}
