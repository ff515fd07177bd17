//! Whole WebSocket conversations on an emulated Cortex-M, over an in-memory transport
//! (two byte queues, no sockets, no threads), with static buffers.
//!
//! - Server side: a client's bytes are scripted with the crate's own encoders
//!   (`ClientRequest`, `FrameHeader`, `apply_mask`); `blocking::Incoming::read`/`accept`
//!   and an echo loop run over them; the server's bytes are checked by parsing them with
//!   `ResponseParser` and a `Receiver` in the client's role.
//! - Client side: the reverse, `blocking::connect` against a scripted server.
//! - Replay: the real client and the real server talk to each other. Without threads,
//!   they take turns: each run of either side starts from scratch over everything the
//!   other has sent so far, and runs until it would block (end of input). Both are
//!   deterministic, so each run repeats the last one's output and adds to it, exactly as
//!   a concurrent peer would see it. Turns continue until both finish.
//!
//! Each segment size delivers the input in reads of at most that many bytes.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_io::{Read, Write};
use ws13::blocking::{connect, Error, Incoming, MaskSource, Message};
use ws13::frame::{FrameHeader, OpCode};
use ws13::handshake::client::{ClientRequest, ResponseParser};
use ws13::handshake::server::{self, RequestParser};
use ws13::proto::{Event, MessageKind, ProtocolError, Role};
use ws13::CloseCode;
use ws13_qemu::{check, hprintln, pass, Log, Pipe, Script, Seen, TestRng};

ws13_qemu::exit_on_fault!();

const RX: usize = 256;
const TX: usize = 256;
const STREAM: usize = 4096;

/// Every buffer the checks use, in `.bss`.
struct Bufs {
    rx: [u8; RX],
    tx: [u8; TX],
    script: [u8; STREAM],
    out: [u8; STREAM],
    other_out: [u8; STREAM],
    arena: [u8; STREAM],
    msg: [u8; 512],
    scratch: [u8; 512],
}

static mut BUFS: Bufs = Bufs {
    rx: [0; RX],
    tx: [0; TX],
    script: [0; STREAM],
    out: [0; STREAM],
    other_out: [0; STREAM],
    arena: [0; STREAM],
    msg: [0; 512],
    scratch: [0; 512],
};

const SEGMENTS: [usize; 5] = [1, 3, 7, 64, STREAM];

/// What the scripted browser asks for.
const REQUEST: ClientRequest<'static> = ClientRequest {
    host: "device.local",
    path: "/ws",
    protocols: &["v2.ws13", "ws13.echo"],
    headers: &[("Origin", "http://device.local")],
};

/// 300 bytes: a payload with a 16-bit length, larger than the receive buffer.
fn big() -> [u8; 300] {
    core::array::from_fn(|i| (i * 31 + 7) as u8)
}

#[entry]
fn main() -> ! {
    // SAFETY: the only reference ever made to BUFS, made once, before anything else runs.
    let b: &'static mut Bufs = unsafe { &mut *core::ptr::addr_of_mut!(BUFS) };
    hprintln!("ws13 conversations (rx {} B, tx {} B)", RX, TX);
    for segment in SEGMENTS {
        hprintln!("segments of {} bytes:", segment);
        check(
            "  server: text, binary, fragments, ping->pong, close",
            || server_echo(b, segment),
        );
        check(
            "  client: text, binary, fragments, ping->pong, close",
            || client_reads(b, segment),
        );
        check("  client: starts the close handshake", || {
            client_closes(b, segment)
        });
        check(
            "  client: one frame streamed in chunks, a ping answered after it",
            || client_streams_a_frame(b, segment),
        );
        check("  replay: real client <-> real server", || {
            replay(b, segment)
        });
    }
    check("server fails an unmasked frame with 1002", || {
        server_fails(b, false)
    });
    check("server fails invalid UTF-8 with 1007, fast", || {
        server_fails(b, true)
    });
    check("client fails a masked frame with 1002", || client_fails(b));
    hprintln!("all conversations passed");
    pass()
}

/// The server under test: the echo loop from the crate's documentation, plus checks
/// of the request. Returns the number of data pieces echoed.
fn echo_server<T: Read + Write>(
    io: T,
    rx: &mut [u8],
    tx: &mut [u8],
) -> Result<usize, Error<T::Error>> {
    let incoming = Incoming::read(io, rx)?;
    let request = incoming.request();
    assert!(request.is_upgrade());
    assert_eq!(request.path(), "/ws");
    assert_eq!(request.origin(), Some("http://device.local"));
    let protocol = request.offers_protocol("ws13.echo").then_some("ws13.echo");
    let mut ws = incoming.accept(tx, protocol)?;
    let mut pieces = 0;
    loop {
        let (event, mut writer) = ws.read_split()?;
        match event {
            Event::Data {
                kind,
                last,
                payload,
                ..
            } => {
                writer.send_fragment(kind, payload, last)?;
                pieces += 1;
            }
            Event::Close(_) => break,
            _ => {}
        }
    }
    // The close was echoed; the connection is over.
    assert!(ws.is_closed());
    assert!(matches!(ws.read(), Err(Error::Closed)));
    Ok(pieces)
}

/// The nonce and key a client with this RNG sends, and the request it writes.
fn expected_request(seed: u32, buf: &mut [u8]) -> (usize, [u8; 24], TestRng) {
    let mut rng = TestRng(seed);
    let mut nonce = [0u8; 16];
    MaskSource::fill(&mut rng, &mut nonce);
    let (len, key) = REQUEST.write(buf, nonce).unwrap();
    (len, key, rng)
}

fn server_echo(b: &mut Bufs, segment: usize) {
    // The browser's bytes: its upgrade request, then masked frames.
    let (len, key, mut rng) = expected_request(1, &mut b.scratch);
    let big = big();
    let mut script = Script::new(&mut b.script);
    script.bytes(&b.scratch[..len]);
    let mut k = || Some(rng.next_key());
    script
        .frame(true, OpCode::Text, k(), b"Hello")
        .frame(true, OpCode::Binary, k(), &big)
        .frame(false, OpCode::Text, k(), b"frag")
        .frame(true, OpCode::Ping, k(), b"mid")
        .frame(false, OpCode::Continuation, k(), b"ment \xc3")
        .frame(true, OpCode::Continuation, k(), b"\xa9!")
        .frame(true, OpCode::Ping, k(), b"ping!")
        .frame(true, OpCode::Binary, k(), b"")
        .close(k(), 1000, "bye");
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, segment);
    let pieces = echo_server(&mut pipe, &mut b.rx, &mut b.tx).unwrap();
    assert_eq!(pipe.unread(), 0);
    assert!(pieces >= 6);
    // The server's bytes, as the browser reads them.
    let accepted = ResponseParser::new(&key)
        .parse(pipe.output(), REQUEST.protocols)
        .unwrap()
        .unwrap();
    assert_eq!(accepted.protocol, Some(1));
    let frames = &mut pipe.output_mut()[accepted.head_len..];
    assert!(Log::count_frames(frames) >= 6);
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Client, frames).unwrap();
    log.expect(&[
        (Seen::Text, b"Hello"),
        (Seen::Binary, &big),
        (Seen::Pong, b"mid"),
        (Seen::Text, "fragment é!".as_bytes()),
        (Seen::Pong, b"ping!"),
        (Seen::Binary, b""),
        (Seen::Close(Some(1000)), b""),
    ]);
}

/// A scripted server's handshake answer to the request a client with `seed` sends.
fn server_answer(script: &mut Script<'_>, scratch: &mut [u8], seed: u32) -> (usize, TestRng) {
    let (len, _key, rng) = expected_request(seed, scratch);
    let mut parser = RequestParser::new();
    assert_eq!(parser.parse(&scratch[..len]), Ok(Some(len)));
    let request = parser.request(&scratch[..len]);
    let n = server::write_accept(script.spare(), &request, Some("ws13.echo")).unwrap();
    script.advance(n);
    (len, rng)
}

/// Checks a client's output: its request, then masked frames whose keys come from the
/// RNG in order; returns the frames.
fn client_output<'a>(out: &'a mut [u8], request: &[u8], mut rng: TestRng) -> &'a mut [u8] {
    assert_eq!(&out[..request.len()], request);
    let frames = &mut out[request.len()..];
    let mut pos = 0;
    while pos < frames.len() {
        let (h, n) = FrameHeader::parse(&frames[pos..]).unwrap().unwrap();
        assert_eq!(h.mask, Some(rng.next_key()), "frame at {}", pos);
        pos += n + h.len as usize;
    }
    assert_eq!(pos, frames.len());
    frames
}

fn client_reads(b: &mut Bufs, segment: usize) {
    let seed = 2;
    let big = big();
    let mut script = Script::new(&mut b.script);
    let (req_len, rng) = server_answer(&mut script, &mut b.scratch, seed);
    script
        .frame(true, OpCode::Text, None, b"Hello client")
        .frame(true, OpCode::Binary, None, &big)
        .frame(false, OpCode::Text, None, "fragm".as_bytes())
        .frame(true, OpCode::Ping, None, b"mid")
        .frame(false, OpCode::Continuation, None, b"ent \xe2\x9c")
        .frame(true, OpCode::Continuation, None, b"\x93")
        .frame(true, OpCode::Ping, None, b"ping!")
        .close(None, 1001, "going away");
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, segment);
    let (mut ws, protocol) =
        connect(&mut pipe, &mut b.rx, &mut b.tx, &REQUEST, TestRng(seed)).unwrap();
    assert_eq!(protocol, Some(1));
    ws.send_text("Hello server").unwrap();
    let msg = &mut b.msg;
    assert_eq!(ws.read_message(msg).unwrap(), Message::Text("Hello client"));
    assert_eq!(ws.read_message(msg).unwrap(), Message::Binary(&big));
    // The ping between the fragments is answered, and the message kept whole.
    assert_eq!(ws.read_message(msg).unwrap(), Message::Text("fragment ✓"));
    assert_eq!(ws.read_message(msg).unwrap(), Message::Ping(b"ping!"));
    match ws.read_message(msg).unwrap() {
        Message::Close(Some(close)) => {
            assert_eq!(close.code, CloseCode::GOING_AWAY);
            assert_eq!(close.reason, "going away");
        }
        other => panic!("expected the close, got {:?}", other),
    }
    assert!(ws.is_closed());
    assert!(matches!(ws.read_message(msg), Err(Error::Closed)));
    assert_eq!(pipe.unread(), 0);
    let frames = client_output(pipe.output_mut(), &b.scratch[..req_len], rng);
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Server, frames).unwrap();
    log.expect(&[
        (Seen::Text, b"Hello server"),
        (Seen::Pong, b"mid"),
        (Seen::Pong, b"ping!"),
        (Seen::Close(Some(1001)), b""),
    ]);
}

fn client_closes(b: &mut Bufs, segment: usize) {
    let seed = 3;
    let mut script = Script::new(&mut b.script);
    let (req_len, rng) = server_answer(&mut script, &mut b.scratch, seed);
    // The server's last message, a ping, then its answer to the client's close.
    script
        .frame(true, OpCode::Text, None, b"last words")
        .frame(true, OpCode::Ping, None, b"late")
        .close(None, 1000, "");
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, segment);
    let (mut ws, _) = connect(&mut pipe, &mut b.rx, &mut b.tx, &REQUEST, TestRng(seed)).unwrap();
    let mut writer = ws.writer();
    writer
        .send_fragment(MessageKind::Binary, b"\x01\x02", false)
        .unwrap();
    writer
        .send_fragment(MessageKind::Binary, b"\x03", true)
        .unwrap();
    writer.flush().unwrap();
    // close() sends the close, then discards data until the server's close arrives;
    // the ping after our close gets no pong (nothing may follow a close).
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(ws.is_closed());
    assert_eq!(pipe.unread(), 0);
    let frames = client_output(pipe.output_mut(), &b.scratch[..req_len], rng);
    assert_eq!(Log::count_frames(frames), 2);
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Server, frames).unwrap();
    log.expect(&[
        (Seen::Binary, b"\x01\x02\x03"),
        (Seen::Close(Some(1000)), b"done"),
    ]);
}

/// A 1000-byte payload, larger than either buffer.
fn long_payload(i: usize) -> u8 {
    (i * 13 + 1) as u8
}

fn client_streams_a_frame(b: &mut Bufs, segment: usize) {
    let seed = 7;
    let mut script = Script::new(&mut b.script);
    let (req_len, rng) = server_answer(&mut script, &mut b.scratch, seed);
    script
        .frame(true, OpCode::Ping, None, b"mid-frame")
        .close(None, 1000, "");
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, segment);
    let (mut ws, _) = connect(&mut pipe, &mut b.rx, &mut b.tx, &REQUEST, TestRng(seed)).unwrap();
    let mut chunk = [0u8; 97];
    let mut sent = 0;
    ws.writer()
        .begin_frame(MessageKind::Binary, 1000, true)
        .unwrap();
    while sent < 1000 {
        let n = chunk.len().min(1000 - sent);
        for (i, byte) in chunk[..n].iter_mut().enumerate() {
            *byte = long_payload(sent + i);
        }
        ws.writer().send_payload(&chunk[..n]).unwrap();
        sent += n;
        if sent == 291 {
            // The ping arrives inside our frame: shown now, answered after the frame.
            assert_eq!(ws.read().unwrap(), Event::Ping(b"mid-frame"));
        }
    }
    assert_eq!(ws.writer().frame_remaining(), 0);
    match ws.read().unwrap() {
        Event::Close(Some(close)) => assert_eq!(close.code, CloseCode::NORMAL),
        other => panic!("expected the close, got {:?}", other),
    }
    assert_eq!(pipe.unread(), 0);
    let frames = client_output(pipe.output_mut(), &b.scratch[..req_len], rng);
    assert_eq!(
        Log::count_frames(frames),
        1,
        "the payload in one data frame"
    );
    let expected: [u8; 1000] = core::array::from_fn(long_payload);
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Server, frames).unwrap();
    log.expect(&[
        (Seen::Binary, &expected),
        (Seen::Pong, b"mid-frame"),
        (Seen::Close(Some(1000)), b""),
    ]);
}

/// The client program of the replay: deterministic given what it has received.
fn client_program<T: Read + Write>(
    io: T,
    rx: &mut [u8],
    tx: &mut [u8],
    msg: &mut [u8],
) -> Result<(), Error<T::Error>> {
    let (mut ws, protocol) = connect(io, rx, tx, &REQUEST, TestRng(4))?;
    assert_eq!(protocol, Some(1));
    ws.send_text("Hello")?;
    assert_eq!(ws.read_message(msg)?, Message::Text("Hello"));
    let big = big();
    ws.send_binary(&big)?;
    assert_eq!(ws.read_message(msg)?, Message::Binary(&big));
    ws.send_fragment(MessageKind::Text, "κό".as_bytes(), false)?;
    ws.send_ping(b"between")?;
    ws.send_fragment(MessageKind::Text, "σμε".as_bytes(), true)?;
    // The pong comes between the echoed fragments; read_message drops it.
    assert_eq!(ws.read_message(msg)?, Message::Text("κόσμε"));
    ws.send_ping(b"are you there?")?;
    assert_eq!(ws.read_message(msg)?, Message::Pong(b"are you there?"));
    ws.close(CloseCode::NORMAL, "bye")?;
    Ok(())
}

fn replay(b: &mut Bufs, segment: usize) {
    let (mut client_len, mut server_len) = (0, 0);
    let (mut client_done, mut server_done) = (false, false);
    let mut turns = 0;
    while !(client_done && server_done) {
        turns += 1;
        assert!(turns <= 20, "no progress after 20 turns");
        // The client's turn, over everything the server has said so far.
        let mut pipe = Pipe::new(&b.other_out[..server_len], &mut b.out, segment);
        match client_program(&mut pipe, &mut b.rx, &mut b.tx, &mut b.msg) {
            Ok(()) => client_done = true,
            Err(Error::Eof) => {}
            Err(e) => panic!("client: {:?}", e),
        }
        let grew = pipe.output().len() > client_len || client_done;
        assert!(
            pipe.output().starts_with(&b.script[..client_len]),
            "client diverged"
        );
        client_len = pipe.output().len();
        b.script[..client_len].copy_from_slice(pipe.output());
        // The server's turn, over everything the client has said so far.
        let mut pipe = Pipe::new(&b.script[..client_len], &mut b.other_out, segment);
        let before = server_len;
        match echo_server(&mut pipe, &mut b.rx, &mut b.tx) {
            Ok(_) => server_done = true,
            Err(Error::Eof) => {}
            Err(e) => panic!("server: {:?}", e),
        }
        server_len = pipe.output().len();
        assert!(grew || server_len > before || server_done, "deadlock");
    }
    // Both transcripts, as the other side reads them.
    let frames = {
        let mut parser = RequestParser::new();
        let head = parser.parse(&b.script[..client_len]).unwrap().unwrap();
        &mut b.script[head..client_len]
    };
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Server, frames).unwrap();
    let big = big();
    log.expect(&[
        (Seen::Text, b"Hello"),
        (Seen::Binary, &big),
        (Seen::Ping, b"between"),
        (Seen::Text, "κόσμε".as_bytes()),
        (Seen::Ping, b"are you there?"),
        (Seen::Close(Some(1000)), b"bye"),
    ]);
    let frames = {
        let head = b.other_out[..server_len]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        assert!(b
            .other_out
            .starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        &mut b.other_out[head..server_len]
    };
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Client, frames).unwrap();
    log.expect(&[
        (Seen::Text, b"Hello"),
        (Seen::Binary, &big),
        (Seen::Pong, b"between"),
        (Seen::Text, "κόσμε".as_bytes()),
        (Seen::Pong, b"are you there?"),
        (Seen::Close(Some(1000)), b""),
    ]);
}

fn server_fails(b: &mut Bufs, utf8: bool) {
    let (len, key, mut rng) = expected_request(5, &mut b.scratch);
    let mut script = Script::new(&mut b.script);
    script.bytes(&b.scratch[..len]);
    let mut bad = [b'a'; 2000];
    if utf8 {
        // Invalid at byte 100 of a 2000-byte frame.
        bad[100] = 0xFF;
        script.frame(true, OpCode::Text, Some(rng.next_key()), &bad);
    } else {
        script.frame(true, OpCode::Text, None, b"unmasked");
    }
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, 64);
    let expected = if utf8 {
        ProtocolError::InvalidUtf8
    } else {
        ProtocolError::UnmaskedFrame
    };
    match echo_server(&mut pipe, &mut b.rx, &mut b.tx) {
        Err(Error::Protocol(e)) => assert_eq!(e, expected),
        other => panic!("expected a protocol error, got {:?}", other),
    }
    if utf8 {
        // Failed at the bad byte, without waiting for the rest of the frame.
        assert!(pipe.unread() > 1500, "read on after invalid UTF-8");
    }
    let accepted = ResponseParser::new(&key)
        .parse(pipe.output(), REQUEST.protocols)
        .unwrap()
        .unwrap();
    let frames = &mut pipe.output_mut()[accepted.head_len..];
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Client, frames).unwrap();
    // (The valid text before the bad byte was echoed as unfinished fragments.)
    let code = expected.close_code().0;
    log.expect(&[(Seen::Close(Some(code)), b"")]);
}

fn client_fails(b: &mut Bufs) {
    let seed = 6;
    let mut script = Script::new(&mut b.script);
    let (req_len, rng) = server_answer(&mut script, &mut b.scratch, seed);
    script.frame(true, OpCode::Text, Some([1, 2, 3, 4]), b"masked");
    let mut pipe = Pipe::new(script.as_bytes(), &mut b.out, 1000);
    let (mut ws, _) = connect(&mut pipe, &mut b.rx, &mut b.tx, &REQUEST, TestRng(seed)).unwrap();
    match ws.read_message(&mut b.msg) {
        Err(Error::Protocol(ProtocolError::MaskedFrame)) => {}
        other => panic!("expected MaskedFrame, got {:?}", other),
    }
    assert!(matches!(ws.read_message(&mut b.msg), Err(Error::Closed)));
    let frames = client_output(pipe.output_mut(), &b.scratch[..req_len], rng);
    let mut log = Log::new(&mut b.arena);
    log.read(Role::Server, frames).unwrap();
    log.expect(&[(Seen::Close(Some(1002)), b"")]);
}
