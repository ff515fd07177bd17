//! Client and server talking through in-memory transports: no sockets.
//!
//! `Pipe` joins a client thread and a server thread; `Script` plays a peer from fixed
//! bytes, delivered in reads of a chosen size, and records what the crate writes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use embedded_io::{ErrorType, Read, Write};
use ws13::blocking::{self, Error, Incoming, Message, WebSocket};
use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::handshake::client::{ClientError, ClientRequest};
use ws13::handshake::server::RequestError;
use ws13::proto::{Event, MessageKind, ProtocolError, Receiver, Role, SendError};
use ws13::CloseCode;

/// One direction of a pipe: a queue and whether the writer has gone.
#[derive(Default)]
struct Queue {
    bytes: VecDeque<u8>,
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

/// One end of an in-memory, bidirectional byte stream.
struct Pipe {
    incoming: Shared,
    outgoing: Shared,
    /// The most bytes one read returns (to exercise split reads).
    max_read: usize,
}

fn pipe(max_read: usize) -> (Pipe, Pipe) {
    let a: Shared = Arc::default();
    let b: Shared = Arc::default();
    (
        Pipe {
            incoming: a.clone(),
            outgoing: b.clone(),
            max_read,
        },
        Pipe {
            incoming: b,
            outgoing: a,
            max_read,
        },
    )
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let (lock, cv) = &*self.outgoing;
        lock.lock().unwrap().closed = true;
        cv.notify_all();
    }
}

impl ErrorType for Pipe {
    type Error = std::io::Error;
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        let (lock, cv) = &*self.incoming;
        let mut q = lock.lock().unwrap();
        while q.bytes.is_empty() && !q.closed {
            q = cv.wait(q).unwrap();
        }
        let n = buf.len().min(q.bytes.len()).min(self.max_read);
        for (dst, src) in buf.iter_mut().zip(q.bytes.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        let (lock, cv) = &*self.outgoing;
        lock.lock().unwrap().bytes.extend(buf);
        cv.notify_all();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

/// A peer played from fixed bytes; what the crate writes is kept.
struct Script {
    input: Vec<u8>,
    pos: usize,
    step: usize,
    output: Vec<u8>,
}

impl Script {
    fn new(input: Vec<u8>, step: usize) -> Self {
        Script {
            input,
            pos: 0,
            step,
            output: Vec::new(),
        }
    }
}

impl ErrorType for Script {
    type Error = std::io::Error;
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        let n = buf.len().min(self.step).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

/// A deterministic mask source for tests (a real client uses an unpredictable one).
fn counter_mask() -> impl FnMut() -> [u8; 4] {
    let mut n: u32 = 0x1234_5678;
    move || {
        n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        n.to_be_bytes()
    }
}

/// A connection of `role` over a scripted peer, past the handshake.
fn upgraded<'b>(
    script: &'b mut Script,
    role: Role,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
) -> WebSocket<'b, &'b mut Script, impl FnMut() -> [u8; 4]> {
    WebSocket::from_upgraded(script, role, rx, 0, tx, counter_mask()).unwrap()
}

const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A frame as a client sends it (masked).
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [0xA5, 0x5A, 0x3C, 0xC3];
    let h = FrameHeader {
        fin,
        opcode,
        mask: Some(key),
        len: payload.len() as u64,
    };
    let mut out = h.emit().as_bytes().to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

/// Everything a server wrote after its 101 response, as events seen by a client.
fn server_frames(output: &[u8]) -> Vec<(OpCode, Vec<u8>)> {
    let head_end = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(
        output.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(output)
    );
    let mut rest = output[head_end..].to_vec();
    let mut rx = Receiver::new(Role::Client);
    let mut out: Vec<(OpCode, Vec<u8>)> = Vec::new();
    let mut msg: Option<(OpCode, Vec<u8>)> = None;
    loop {
        let r = rx.receive(&mut rest).expect("valid frames from the server");
        let consumed = r.consumed;
        match r.event {
            None => break,
            Some(Event::Data {
                kind,
                last,
                payload,
                ..
            }) => {
                let op = if kind == MessageKind::Text {
                    OpCode::Text
                } else {
                    OpCode::Binary
                };
                msg.get_or_insert((op, Vec::new()))
                    .1
                    .extend_from_slice(payload);
                if last {
                    out.push(msg.take().unwrap());
                }
            }
            Some(Event::Ping(p)) => out.push((OpCode::Ping, p.to_vec())),
            Some(Event::Pong(p)) => out.push((OpCode::Pong, p.to_vec())),
            Some(Event::Close(c)) => {
                let mut p = Vec::new();
                if let Some(c) = c {
                    p.extend_from_slice(&c.code.0.to_be_bytes());
                    p.extend_from_slice(c.reason.as_bytes());
                }
                out.push((OpCode::Close, p));
            }
        }
        rest.drain(..consumed);
    }
    assert!(rest.is_empty(), "trailing bytes from the server: {rest:x?}");
    out
}

/// A server that echoes messages piece by piece until the close, over `io`.
fn echo<T: Read + Write>(io: T, rx_size: usize, tx_size: usize) -> Result<T, Error<T::Error>> {
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let incoming = Incoming::read(io, &mut rx)?;
    let protocol = incoming.request().protocols().next().map(str::to_owned);
    let mut ws = incoming.accept(&mut tx, protocol.as_deref())?;
    loop {
        let (event, mut w) = ws.read_split()?;
        match event {
            Event::Data {
                kind,
                last,
                payload,
                ..
            } => w.send_fragment(kind, payload, last)?,
            Event::Close(_) => return Ok(ws.into_inner()),
            _ => {}
        }
    }
}

/// A whole scripted conversation with a server, fed `step` bytes per read.
fn scripted_conversation() -> (Vec<u8>, Vec<(OpCode, Vec<u8>)>) {
    let mut input = REQUEST.as_bytes().to_vec();
    input.extend(client_frame(true, OpCode::Text, "Hello ✓".as_bytes()));
    input.extend(client_frame(false, OpCode::Binary, &[1, 2, 3]));
    input.extend(client_frame(true, OpCode::Ping, b"mid-message"));
    input.extend(client_frame(true, OpCode::Continuation, &[4, 5]));
    input.extend(client_frame(true, OpCode::Text, &[b'x'; 300]));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8, b'o', b'k']));
    let expected = vec![
        (OpCode::Text, "Hello ✓".as_bytes().to_vec()),
        (OpCode::Pong, b"mid-message".to_vec()),
        (OpCode::Binary, vec![1, 2, 3, 4, 5]),
        (OpCode::Text, vec![b'x'; 300]),
        (OpCode::Close, vec![0x03, 0xE8]),
    ];
    (input, expected)
}

#[test]
fn scripted_server_at_every_read_size() {
    let (input, expected) = scripted_conversation();
    for step in 1..=input.len() {
        let script = Script::new(input.clone(), step);
        let script = echo(script, 512, 256).unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert_eq!(server_frames(&script.output), expected, "step {step}");
        assert!(script
            .output
            .windows(24)
            .any(|w| w == b"Sec-WebSocket-Protocol: ".as_slice()
                || w == b"s3pPLMBiTxaQ9kYGzzhZRbK+".as_slice()));
    }
}

#[test]
fn client_and_server_over_a_pipe() {
    for max_read in [1, 7, 200, 1 << 20] {
        let (client_io, server_io) = pipe(max_read);
        let server = thread::spawn(move || echo(server_io, 256, 256).map(|_| ()));
        let (mut rx, mut tx) = ([0u8; 300], [0u8; 200]);
        let request = ClientRequest {
            protocols: &["superchat", "chat"],
            ..ClientRequest::new("example.com", "/chat")
        };
        let (mut ws, protocol) =
            blocking::connect(client_io, &mut rx, &mut tx, &request, counter_mask()).unwrap();
        assert_eq!(
            protocol,
            Some(0),
            "the server picks the client's first choice"
        );
        let mut buf = vec![0u8; 70_000];
        for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            ws.send_binary(&data).unwrap();
            assert_eq!(
                ws.read_message(&mut buf).unwrap(),
                Message::Binary(&data),
                "len {len}"
            );
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            ws.send_text(&text).unwrap();
            assert_eq!(
                ws.read_message(&mut buf).unwrap(),
                Message::Text(&text),
                "len {len}"
            );
        }
        // A fragmented text message whose fragments split a character.
        let text = "Grüße, 世界! ".repeat(50);
        let bytes = text.as_bytes();
        for (i, piece) in bytes.chunks(7).enumerate() {
            let last = (i + 1) * 7 >= bytes.len();
            ws.send_fragment(MessageKind::Text, piece, last).unwrap();
            if i == 3 {
                ws.send_ping(b"between fragments").unwrap();
            }
        }
        // The pong arrives between the echoed fragments; read() shows both.
        let (mut echoed, mut pongs) = (Vec::new(), 0);
        loop {
            match ws.read().unwrap() {
                Event::Data {
                    kind,
                    payload,
                    last,
                    ..
                } => {
                    assert_eq!(kind, MessageKind::Text);
                    echoed.extend_from_slice(payload);
                    if last {
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
        ws.send_fragment(MessageKind::Text, b"whole ", false)
            .unwrap();
        ws.send_ping(b"p").unwrap();
        ws.send_fragment(MessageKind::Text, b"message", true)
            .unwrap();
        ws.send_ping(b"q").unwrap();
        assert_eq!(
            ws.read_message(&mut buf).unwrap(),
            Message::Text("whole message")
        );
        assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Pong(b"q"));
        // A message far larger than every buffer, streamed through both ends.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut w = ws.writer();
        for piece in big.chunks(10_000) {
            w.send_fragment(MessageKind::Binary, piece, false).unwrap();
        }
        w.send_fragment(MessageKind::Binary, &[], true).unwrap();
        let mut got = Vec::new();
        loop {
            match ws.read().unwrap() {
                Event::Data {
                    kind,
                    payload,
                    last,
                    first,
                    ..
                } => {
                    assert_eq!(kind, MessageKind::Binary);
                    assert_eq!(first, got.is_empty() && first);
                    got.extend_from_slice(payload);
                    if last {
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
        assert!(matches!(
            ws.send_text("late"),
            Err(Error::Send(SendError::Closed))
        ));
        server.join().unwrap().unwrap();
    }
}

#[test]
fn server_message_right_behind_the_101() {
    let (client_io, mut server_io) = pipe(1 << 20);
    let server = thread::spawn(move || {
        // Answer by hand, with a frame in the same write as the response.
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
        out.extend_from_slice(&[0x81, 0x07]);
        out.extend_from_slice(b"welcome");
        out.extend_from_slice(&[0x88, 0x02, 0x03, 0xE8]);
        server_io.write_all(&out).unwrap();
        // Wait for the client's close reply.
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
        counter_mask(),
    )
    .unwrap();
    assert_eq!(protocol, None);
    let mut buf = [0u8; 64];
    assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text("welcome"));
    match ws.read_message(&mut buf).unwrap() {
        Message::Close(Some(c)) => assert_eq!(c.code, CloseCode::NORMAL),
        other => panic!("expected close, got {other:?}"),
    }
    let reply = server.join().unwrap();
    // The client echoed the close: masked, code 1000.
    assert_eq!(&reply[..2], &[0x88, 0x82]);
    let mut payload = reply[6..8].to_vec();
    apply_mask(&mut payload, [reply[2], reply[3], reply[4], reply[5]], 0);
    assert_eq!(payload, [0x03, 0xE8]);
}

/// Runs a server over scripted bytes; returns its error and what it wrote after the 101.
fn misbehaving_client(frames: &[u8]) -> (Error<std::io::Error>, Vec<(OpCode, Vec<u8>)>) {
    let mut input = REQUEST.as_bytes().to_vec();
    input.extend_from_slice(frames);
    let mut script = Script::new(input, 1 << 20);
    let mut rx = [0u8; 512];
    let mut tx = [0u8; 512];
    let err = {
        let incoming = Incoming::read(&mut script, &mut rx).unwrap();
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
    (err, server_frames(&script.output))
}

#[test]
fn protocol_errors_close_with_the_right_code() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    let mut reserved_bits = client_frame(true, OpCode::Text, b"x");
    reserved_bits[0] |= 0x20;
    let mut reserved_op = client_frame(true, OpCode::Text, b"x");
    reserved_op[0] = 0x8B;
    let mut two_starts = client_frame(false, OpCode::Text, b"a");
    two_starts.extend(client_frame(true, OpCode::Text, b"b"));
    let mut bad_utf8_fragments = client_frame(false, OpCode::Text, "ab€".as_bytes());
    bad_utf8_fragments.extend(client_frame(true, OpCode::Continuation, b"\xc0\xaf"));
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (unmasked.to_vec(), ProtocolError::UnmaskedFrame, 1002),
        (
            reserved_bits,
            ProtocolError::Header(ws13::frame::HeaderError::ReservedBits),
            1002,
        ),
        (
            reserved_op,
            ProtocolError::Header(ws13::frame::HeaderError::ReservedOpcode),
            1002,
        ),
        (
            client_frame(true, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        (two_starts, ProtocolError::ExpectedContinuation, 1002),
        (
            client_frame(false, OpCode::Ping, b""),
            ProtocolError::Header(ws13::frame::HeaderError::ControlFragmented),
            1002,
        ),
        (
            client_frame(true, OpCode::Pong, &[0; 126]),
            ProtocolError::Header(ws13::frame::HeaderError::ControlTooLong),
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
        let close = sent.last().expect("a close frame");
        assert_eq!(close.0, OpCode::Close);
        assert_eq!(close.1[..2], code.to_be_bytes(), "{expected:?}");
    }
}

/// Regression (Autobahn 6.4.3): a peer that answers our close in the middle of the frame
/// it was sending. The failing side must return at once, not wait for bytes to finish
/// that frame.
#[test]
fn failing_returns_without_waiting_for_the_peer() {
    let (mut client_io, server_io) = pipe(1 << 20);
    let (done_tx, done) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
        let incoming = Incoming::read(server_io, &mut rx).unwrap();
        let mut ws = incoming.accept(&mut tx, None).unwrap();
        let mut buf = [0u8; 64];
        let result = ws
            .read_message(&mut buf)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"));
        done_tx.send(result).unwrap();
    });
    client_io.write_all(REQUEST.as_bytes()).unwrap();
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
    let mut input = REQUEST.as_bytes().to_vec();
    input.extend(client_frame(true, OpCode::Text, b"partial message")[..9].iter());
    let mut script = Script::new(input, 5);
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let incoming = Incoming::read(&mut script, &mut rx).unwrap();
    let mut ws = incoming.accept(&mut tx, None).unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(ws.read_message(&mut buf), Err(Error::Eof)));
    assert!(matches!(ws.read_message(&mut buf), Err(Error::Closed)));
}

fn refusal(request: &[u8], rx_size: usize) -> (Error<std::io::Error>, String) {
    let mut script = Script::new(request.to_vec(), 1 << 20);
    let mut rx = vec![0u8; rx_size];
    let mut tx = [0u8; 512];
    let err = match Incoming::read(&mut script, &mut rx) {
        Err(e) => e,
        Ok(incoming) => incoming.accept(&mut tx, None).map(|_| ()).unwrap_err(),
    };
    (err, String::from_utf8_lossy(&script.output).into_owned())
}

#[test]
fn handshake_refusals_are_http_responses() {
    let cases: Vec<(String, usize, RequestError, &str)> = vec![
        (
            REQUEST.replace("Version: 13", "Version: 8"),
            512,
            RequestError::UnsupportedVersion,
            "HTTP/1.1 426 ",
        ),
        (
            REQUEST.replace("GET ", "PUT "),
            512,
            RequestError::MethodNotAllowed,
            "HTTP/1.1 405 ",
        ),
        (REQUEST.into(), 40, RequestError::TooLarge, "HTTP/1.1 431 "),
        (
            REQUEST[..60].into(),
            512,
            RequestError::Malformed,
            "HTTP/1.1 400 ",
        ),
        (
            "GARBAGE\r\n\r\n".into(),
            512,
            RequestError::Malformed,
            "HTTP/1.1 400 ",
        ),
        (
            REQUEST.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            512,
            RequestError::BadKey,
            "HTTP/1.1 400 ",
        ),
    ];
    for (request, rx_size, expected, status) in cases {
        let (err, output) = refusal(request.as_bytes(), rx_size);
        assert!(
            matches!(err, Error::Request(e) if e == expected),
            "{err:?} for {request:?}"
        );
        assert!(output.starts_with(status), "{output:?}");
        assert!(output.ends_with("\r\n\r\n"));
        if expected == RequestError::UnsupportedVersion {
            assert!(output.contains("Sec-WebSocket-Version: 13\r\n"));
        }
    }
}

/// A request as Chromium sends it: over 500 bytes.
const BROWSER_REQUEST: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: 192.168.1.50\r\nConnection: Upgrade\r\n\
    Pragma: no-cache\r\nCache-Control: no-cache\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
    Upgrade: websocket\r\nOrigin: http://192.168.1.50\r\nSec-WebSocket-Version: 13\r\n\
    Accept-Encoding: gzip, deflate\r\nAccept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
    Sec-WebSocket-Protocol: ws13.echo, chat\r\n\r\n";

#[test]
fn request_larger_than_the_buffer_streams_through() {
    assert!(BROWSER_REQUEST.len() > 500);
    let mut input = BROWSER_REQUEST.as_bytes().to_vec();
    input.extend(client_frame(true, OpCode::Text, b"hello"));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8]));
    for step in [1, 2, 5, 64, 4096] {
        let mut script = Script::new(input.clone(), step);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        {
            let incoming =
                Incoming::read(&mut script, &mut rx).unwrap_or_else(|e| panic!("step {step}: {e}"));
            let request = incoming.request();
            assert_eq!(request.path(), "/chat", "step {step}");
            assert_eq!(request.origin(), Some("http://192.168.1.50"));
            assert_eq!(request.header("host"), Some("192.168.1.50"));
            assert_eq!(
                request.protocols().collect::<Vec<_>>(),
                ["ws13.echo", "chat"]
            );
            assert_eq!(request.check_upgrade(), Ok(()));
            let mut ws = incoming.accept(&mut tx, Some("ws13.echo")).unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text("hello"));
            assert!(matches!(
                ws.read_message(&mut buf).unwrap(),
                Message::Close(Some(_))
            ));
        }
        let out = String::from_utf8_lossy(&script.output).into_owned();
        assert!(
            out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{out}"
        );
        assert!(out.contains("Sec-WebSocket-Protocol: ws13.echo\r\n"));
        assert!(!out.contains("Extensions"), "extensions are declined");
    }
    // One header line longer than the whole buffer cannot be read: 431.
    let long = BROWSER_REQUEST.replace("Pragma: no-cache", &format!("Cookie: {}", "c".repeat(300)));
    let (err, output) = refusal(long.as_bytes(), 256);
    assert!(
        matches!(err, Error::Request(RequestError::TooLarge)),
        "{err:?}"
    );
    assert!(output.starts_with("HTTP/1.1 431 "), "{output}");
}

#[test]
fn plain_http_request_gets_the_applications_response() {
    let mut script = Script::new(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 3);
    let mut rx = [0u8; 256];
    let incoming = Incoming::read(&mut script, &mut rx).unwrap();
    assert!(!incoming.request().is_upgrade());
    incoming
        .respond(200, &[("Content-Type", "text/html")], b"<p>hi</p>")
        .unwrap();
    assert_eq!(
        String::from_utf8(script.output).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<p>hi</p>"
    );
}

#[test]
fn client_checks_the_response() {
    let responses: Vec<(&str, ClientError)> = vec![
        ("HTTP/1.1 403 Forbidden\r\n\r\n", ClientError::Status(403)),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", ClientError::BadAccept),
        ("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", ClientError::MissingUpgrade),
    ];
    for (response, expected) in responses {
        let mut script = Script::new(response.as_bytes().to_vec(), 4);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let r = blocking::connect(
            &mut script,
            &mut rx,
            &mut tx,
            &ClientRequest::new("h", "/"),
            counter_mask(),
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
    let r = WebSocket::from_upgraded(
        Script::new(vec![], 1),
        Role::Server,
        &mut rx,
        0,
        &mut tx,
        blocking::NoMask,
    );
    assert!(matches!(r, Err(Error::BufferTooSmall)));
}

/// Every frame in `bytes` as (opcode, FIN, unmasked payload): the frames exactly as they
/// were written, not merged into messages.
fn raw_frames(mut bytes: &[u8]) -> Vec<(OpCode, bool, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = FrameHeader::parse(bytes)
            .expect("a valid header")
            .expect("a whole header");
        let len = usize::try_from(h.len).unwrap();
        let mut payload = bytes[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((h.opcode, h.fin, payload));
        bytes = &bytes[n + len..];
    }
    out
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
    let incoming = Incoming::read(io, &mut rx)?;
    let mut ws = incoming.accept(&mut tx, None)?;
    loop {
        let (event, mut w) = ws.read_split()?;
        match event {
            Event::Data {
                kind: MessageKind::Binary,
                payload,
                frame_remaining,
                frame_fin,
                ..
            } => {
                w.relay(MessageKind::Binary, payload, frame_remaining, frame_fin)?;
            }
            Event::Data {
                kind,
                last,
                payload,
                ..
            } => w.send_fragment(kind, payload, last)?,
            Event::Close(_) => return Ok(ws.into_inner()),
            _ => {}
        }
    }
}

#[test]
fn relay_sends_frames_on_as_they_came() {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let mut input = REQUEST.as_bytes().to_vec();
    input.extend(client_frame(true, OpCode::Binary, &big));
    input.extend(client_frame(false, OpCode::Binary, &big[..300]));
    input.extend(client_frame(true, OpCode::Ping, b"between"));
    input.extend(client_frame(false, OpCode::Continuation, &[]));
    input.extend(client_frame(true, OpCode::Continuation, &big[..5]));
    input.extend(client_frame(true, OpCode::Binary, &[]));
    input.extend(client_frame(true, OpCode::Close, &[0x03, 0xE8]));
    let expected = vec![
        (OpCode::Binary, true, big.clone()),
        (OpCode::Binary, false, big[..300].to_vec()),
        (OpCode::Pong, true, b"between".to_vec()),
        (OpCode::Continuation, false, vec![]),
        (OpCode::Continuation, true, big[..5].to_vec()),
        (OpCode::Binary, true, vec![]),
        (OpCode::Close, true, vec![0x03, 0xE8]),
    ];
    for step in [1, 2, 7, 131, 1000, 4096, input.len()] {
        let script = relay_echo(Script::new(input.clone(), step), 512, 256).unwrap();
        let head_end = script
            .output
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        let frames = raw_frames(&script.output[head_end + 4..]);
        assert!(frames == expected, "step {step}: {:?}", summary(&frames));
    }
}

fn summary(frames: &[(OpCode, bool, Vec<u8>)]) -> Vec<(OpCode, bool, usize)> {
    frames.iter().map(|(o, f, p)| (*o, *f, p.len())).collect()
}

#[test]
fn one_frame_streamed_in_chunks_both_ways() {
    // A client streams 1 MB as one masked frame in chunks of odd sizes (the mask key's
    // position carries across chunks); the relay sends it back as one frame.
    for max_read in [7, 4096, 1 << 20] {
        let (client_io, server_io) = pipe(max_read);
        let server = thread::spawn(move || relay_echo(server_io, 1024, 512).map(|_| ()));
        let (mut rx, mut tx) = ([0u8; 1024], [0u8; 256]);
        let request = ClientRequest::new("example.com", "/");
        let (mut ws, _) =
            blocking::connect(client_io, &mut rx, &mut tx, &request, counter_mask()).unwrap();
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
            w.send_payload(&big[sent..end]).unwrap();
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
                Event::Data {
                    payload,
                    frame_remaining,
                    frame_fin,
                    last,
                    ..
                } => {
                    // One frame: every piece counts down to the same end.
                    assert!(frame_fin);
                    assert_eq!(
                        got.len() + payload.len() + frame_remaining as usize,
                        big.len()
                    );
                    got.extend_from_slice(payload);
                    if last {
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

#[test]
fn an_open_frame_admits_nothing_else() {
    let mut script = Script::new(Vec::new(), 1);
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = upgraded(&mut script, Role::Server, &mut rx, &mut tx);
    // No frame open: payload is refused.
    let mut w = ws.writer();
    assert!(matches!(
        w.send_payload(b"x"),
        Err(Error::Send(SendError::PayloadTooLong))
    ));
    w.begin_frame(MessageKind::Text, 4, true).unwrap();
    assert!(matches!(
        w.begin_frame(MessageKind::Text, 1, true),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.send_text("x"),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.send_ping(b""),
        Err(Error::Send(SendError::FrameOpen))
    ));
    assert!(matches!(
        w.send_payload(b"hello"),
        Err(Error::Send(SendError::PayloadTooLong))
    ));
    w.send_payload(b"he").unwrap();
    assert_eq!(w.frame_remaining(), 2);
    assert!(matches!(
        ws.close(CloseCode::NORMAL, ""),
        Err(Error::Send(SendError::FrameOpen))
    ));
    let mut w = ws.writer();
    w.send_payload(b"ll").unwrap();
    w.send_text("next").unwrap();
    ws.flush().unwrap();
    assert_eq!(
        raw_frames(&script.output),
        vec![
            (OpCode::Text, true, b"hell".to_vec()),
            (OpCode::Text, true, b"next".to_vec())
        ]
    );
}

/// A frame as the peer of `role` sends it: masked towards a server, plain towards a client.
fn peer_frame(role: Role, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    if role == Role::Server {
        return client_frame(true, opcode, payload);
    }
    let h = FrameHeader {
        fin: true,
        opcode,
        mask: None,
        len: payload.len() as u64,
    };
    let mut out = h.emit().as_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// Pings arriving while one of our frames is half sent are answered once the frame is
/// complete (the latest ping only), for both roles and down to the smallest transmit
/// buffer, where a waiting 125-byte payload leaves 6 bytes for the frame's own.
#[test]
fn pongs_wait_for_the_frame_being_sent() {
    for role in [Role::Server, Role::Client] {
        for tx_size in [blocking::MIN_BUFFER, 1024] {
            let mut input = peer_frame(role, OpCode::Ping, b"first");
            input.extend(peer_frame(role, OpCode::Ping, &[b'p'; 125]));
            let mut script = Script::new(input, 3);
            let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; tx_size]);
            let mut ws = upgraded(&mut script, role, &mut rx, &mut tx);
            let payload: Vec<u8> = (0..1000u32).map(|i| (i * 3) as u8).collect();
            let mut w = ws.writer();
            w.begin_frame(MessageKind::Binary, 1000, true).unwrap();
            w.send_payload(&payload[..1]).unwrap();
            assert_eq!(ws.read().unwrap(), Event::Ping(b"first"));
            ws.writer().send_payload(&payload[1..999]).unwrap();
            assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
            ws.writer().send_payload(&payload[999..]).unwrap();
            // Complete: the next frame goes straight out again.
            ws.send_text("after").unwrap();
            let frames = raw_frames(&script.output);
            assert_eq!(
                summary(&frames),
                vec![
                    (OpCode::Binary, true, 1000),
                    (OpCode::Pong, true, 125),
                    (OpCode::Text, true, 5)
                ],
                "{role:?}, tx {tx_size}"
            );
            assert_eq!(frames[0].2, payload);
            assert_eq!(frames[1].2, vec![b'p'; 125]);
        }
    }
}

/// The peer's close arriving inside one of our frames is reported at once and echoed
/// once the frame is complete; it takes the place of a waiting pong (after the peer's
/// close no pong is owed), and nothing new can start after it.
#[test]
fn the_close_echo_waits_for_the_frame_being_sent() {
    for role in [Role::Server, Role::Client] {
        for tx_size in [blocking::MIN_BUFFER, 1024] {
            let mut input = peer_frame(role, OpCode::Ping, &[b'p'; 125]);
            input.extend(peer_frame(
                role,
                OpCode::Close,
                &[0x0F, 0xA0, b'b', b'y', b'e'],
            ));
            let mut script = Script::new(input, 1 << 20);
            let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; tx_size]);
            let mut ws = upgraded(&mut script, role, &mut rx, &mut tx);
            let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
            let mut w = ws.writer();
            w.begin_frame(MessageKind::Binary, 1000, true).unwrap();
            w.send_payload(&payload[..400]).unwrap();
            assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
            assert!(matches!(ws.read().unwrap(), Event::Close(Some(c)) if c.code.0 == 4000));
            assert!(matches!(ws.read(), Err(Error::Closed)));
            let mut w = ws.writer();
            assert!(matches!(
                w.send_binary(b"late"),
                Err(Error::Send(SendError::FrameOpen))
            ));
            w.send_payload(&payload[400..]).unwrap();
            assert!(matches!(
                w.send_binary(b"late"),
                Err(Error::Send(SendError::Closed))
            ));
            ws.flush().unwrap();
            let frames = raw_frames(&script.output);
            assert_eq!(
                summary(&frames),
                vec![(OpCode::Binary, true, 1000), (OpCode::Close, true, 2)],
                "{role:?}, tx {tx_size}"
            );
            assert_eq!(frames[0].2, payload);
            assert_eq!(frames[1].2, vec![0x0F, 0xA0]);
        }
    }
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
    let mut script = Script::new(input, 1 << 20);
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = upgraded(&mut script, Role::Server, &mut rx, &mut tx);
    assert_eq!(ws.read().unwrap(), Event::Ping(b"p"));
    let mut w = ws.writer();
    w.begin_frame(MessageKind::Binary, 10, true).unwrap();
    w.send_payload(b"12345").unwrap();
    assert!(matches!(ws.read(), Err(Error::Protocol(_))));
    assert!(ws.is_closed());
    assert!(matches!(
        ws.writer().send_payload(b"67890"),
        Err(Error::Closed)
    ));
    assert!(matches!(ws.flush(), Err(Error::Closed)));
    assert_eq!(script.output, b"\x8a\x01p\x82\x0a12345");
}
