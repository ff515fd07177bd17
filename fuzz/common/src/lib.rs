//! The checks behind ws13's fuzz targets, as plain functions of the input bytes: the
//! libFuzzer targets in `fuzz_targets/` call them, and so does the `replay` tool, which
//! runs a corpus through them without libFuzzer. Transports, frames, decoders and
//! message reassembly come from the test kit (`ws13-testkit`).
//!
//! Every input has the same layout, so that one seed file suits every target:
//!
//! ```text
//! byte 0: low nibble = n, the number of chunk-size bytes; high nibble = config
//!         (connection: bits 0-1 maximum message size; blocking targets: bits 0-1
//!         read_message buffer size, bits 2-3 maximum message size; write_faults:
//!         bit 0 role, bits 1-3 transmit buffer)
//! byte 1: options (handshake_server: header limit and response status; handshake_client:
//!         offered subprotocols; connection: bit 0 role, bits 1-3 buffer bound; blocking
//!         targets: bits 0-2 receive buffer, 3-4 transmit buffer, 5-6 read mode, 7 how the
//!         application sends; write_faults: fault rates)
//! n bytes: chunk sizes, used in turn and cycled (0 = a timeout, then the read goes on;
//!         write_faults: the fault of each write)
//! the rest: the byte stream the code under test receives (write_faults: the sends)
//! ```
//!
//! Any panic is a finding: the functions assert the crate's documented invariants.

use embedded_io::ErrorKind;
use ws13::blocking::{self, Incoming, WebSocket, MIN_BUFFER};
use ws13::frame::OpCode;
use ws13::handshake::client::{ClientError, ClientRequest, ResponseParser};
use ws13::handshake::server::{self, Request, RequestError, RequestParser};
use ws13::handshake::{accept_key, is_token, WriteError};
use ws13::proto::{Connection, Masking, Role};
use ws13::{
    CloseCode, Error, Event, MaskSource, Message, MessageKind, NoMask, ProtocolError, Status,
};
use ws13_testkit::owned::{messages_prefix, Log, Msg};
use ws13_testkit::wire::{peer, Tail};
use ws13_testkit::{Fault, Faults, Script, TestMask};

pub mod seeds;
pub mod writes;

pub use writes::write_faults;
pub use ws13_testkit::consts::RFC_KEY;

/// A fuzz input, split into its parts.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The high nibble of byte 0.
    pub config: u8,
    /// Byte 1.
    pub opts: u8,
    /// The chunk sizes.
    pub chunks: &'a [u8],
    /// The stream.
    pub stream: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits `data` (short inputs are all stream, with default options).
    pub fn parse(data: &'a [u8]) -> Self {
        match data {
            [b0, opts, rest @ ..] => {
                let n = usize::from(b0 & 0x0F).min(rest.len());
                let (chunks, stream) = rest.split_at(n);
                Input {
                    config: b0 >> 4,
                    opts: *opts,
                    chunks,
                    stream,
                }
            }
            _ => Input {
                config: 0,
                opts: 0,
                chunks: &[],
                stream: data,
            },
        }
    }

    /// The inverse of [`Input::parse`], for seeds.
    pub fn encode(config: u8, opts: u8, chunks: &[u8], stream: &[u8]) -> Vec<u8> {
        assert!(chunks.len() < 16 && config < 16);
        let mut out = vec![(config << 4) | chunks.len() as u8, opts];
        out.extend_from_slice(chunks);
        out.extend_from_slice(stream);
        out
    }
}

/// Cycles through chunk sizes; with none, everything arrives at once.
#[derive(Clone, Debug)]
struct Chunks<'a> {
    sizes: &'a [u8],
    next: usize,
}

impl<'a> Chunks<'a> {
    fn new(sizes: &'a [u8]) -> Self {
        Chunks { sizes, next: 0 }
    }

    /// The next chunk size: `None` for "all that is left", `Some(0)` for a timeout.
    fn next_size(&mut self) -> Option<usize> {
        let size = *self.sizes.get(self.next % self.sizes.len().max(1))?;
        self.next += 1;
        Some(usize::from(size))
    }
}

/// The read faults that deliver a stream of `len` bytes in the input's chunks: read
/// `k` moves at most the `k`-th size (cycled); a size of 0 is a timeout, never two in a
/// row. Sorted by call, as [`Faults::at`] wants.
fn read_plan(sizes: &[u8], len: usize) -> Vec<(usize, Fault)> {
    let mut chunks = Chunks::new(sizes);
    let mut plan = Vec::new();
    let mut timed_out = false;
    // Enough calls for a byte a read, with a timeout between each.
    for call in 0..2 * len + 64 {
        let fault = match chunks.next_size() {
            None => break,
            Some(0) if !timed_out => Fault::TimedOut,
            Some(n) => Fault::Short(n.max(1)),
        };
        timed_out = fault == Fault::TimedOut;
        plan.push((call, fault));
    }
    plan
}

// ---------------------------------------------------------------------------------------
// (a) The server's handshake.

const MAX_HEADERS: [u16; 6] = [server::DEFAULT_MAX_HEADERS, 0, 1, 3, 8, u16::MAX];
const ALL_REQUEST_ERRORS: [RequestError; 11] = [
    RequestError::Malformed,
    RequestError::TooLarge,
    RequestError::TooManyHeaders,
    RequestError::MethodNotAllowed,
    RequestError::NotHttp11,
    RequestError::MissingHost,
    RequestError::InvalidHost,
    RequestError::UnexpectedBody,
    RequestError::MissingConnectionUpgrade,
    RequestError::BadKey,
    RequestError::UnsupportedVersion,
];

/// `RequestParser::parse` fed the stream in pieces must agree with one fed it whole, and
/// the request's accessors and the response writers must keep their promises.
pub fn handshake_server(data: &[u8]) {
    let input = Input::parse(data);
    let stream = input.stream;
    let max_headers = MAX_HEADERS[usize::from(input.opts) % MAX_HEADERS.len()];
    let mut parser = RequestParser::with_max_headers(max_headers);
    let mut chunks = Chunks::new(input.chunks);
    let mut fed = 0;
    let mut calls = 0;
    let outcome = loop {
        calls += 1;
        assert!(calls <= stream.len() + 2, "parser makes no progress");
        match parser.parse(&stream[..fed]) {
            Ok(Status::Partial) => {
                assert!(parser.pending_line_len() <= fed);
                if fed == stream.len() {
                    break Ok(Status::Partial);
                }
                let step = chunks.next_size().unwrap_or(usize::MAX).max(1);
                fed = fed.saturating_add(step).min(stream.len());
            }
            other => break other,
        }
    };
    let mut whole = RequestParser::with_max_headers(max_headers);
    assert_eq!(
        whole.parse(stream),
        outcome,
        "split parse differs from whole parse"
    );
    match outcome {
        Ok(Status::Complete(head_len)) => {
            assert!(head_len <= fed && head_len <= stream.len());
            assert_eq!(stream[head_len - 1], b'\n', "head ends inside a line");
            // Asked again, the parser keeps its answer.
            assert_eq!(parser.parse(stream), Ok(Status::Complete(head_len)));
            let head = &stream[..head_len];
            let a = parser.request(head);
            let b = whole.request(head);
            let seen = exercise_request(&a, input.opts);
            assert_eq!(seen, exercise_request(&b, input.opts));
        }
        Ok(Status::Partial) => {}
        Err(e) => check_refusal(e),
    }
}

/// Calls every accessor of `request` and writes every response for it; returns a
/// summary so that two parsers' requests can be compared.
fn exercise_request(request: &Request<'_>, opts: u8) -> String {
    let method = request.method();
    let target = request.target();
    let path = request.path();
    assert!(
        target.starts_with(path),
        "path {path:?} not in target {target:?}"
    );
    let headers = request.headers().count();
    let host = request.header("Host");
    let origin = request.origin();
    let protocols: Vec<&str> = request.protocols().collect();
    for p in &protocols {
        assert!(request.offers_protocol(p));
    }
    let upgrade = request.is_upgrade();
    let check = request.check_upgrade();
    if check.is_ok() {
        assert!(upgrade, "a valid upgrade that is not an upgrade");
        assert_eq!(method, "GET");
        // (Its value may be obs-text, not UTF-8: `header` then gives `None`.)
        let hosts = request
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
            .count();
        assert_eq!(hosts, 1, "a valid upgrade without exactly one Host");
        let body = request.headers().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding")
                || n.eq_ignore_ascii_case("content-length") && v != b"0"
        });
        assert!(!body, "a valid upgrade with a body");
    }
    if let Err(e) = check {
        check_refusal(e);
    }
    let key = *request.key();

    // The 101 response, into buffers of many sizes, with and without a subprotocol. A
    // subprotocol can be as long as the request, so the first buffer is sized to match
    // (the 101 is not bounded by any fixed size).
    let mut choices: Vec<Option<&str>> = vec![None, Some("a b"), Some("")];
    choices.extend(protocols.iter().take(2).map(|p| Some(*p)));
    let extra: &[(&str, &str)] = if opts & 1 == 0 {
        &[]
    } else {
        &[("Set-Cookie", "id=1")]
    };
    for protocol in choices {
        let mut big = vec![0u8; 512 + protocol.map_or(0, str::len)];
        let full = server::write_accept(&mut big, request, protocol, extra);
        match protocol {
            Some(p) if !is_token(p) => {
                assert_eq!(full, Err(WriteError::InvalidHeader), "protocol {p:?}");
                continue;
            }
            _ => {}
        }
        let len = full.expect("a 101 response fits 512 bytes and its subprotocol");
        let out = &big[..len];
        assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(out.ends_with(b"\r\n\r\n"));
        for size in [0, 1, 34, 97, 128, len - 1, len, len + 1] {
            let mut buf = vec![0u8; size];
            match server::write_accept(&mut buf, request, protocol, extra) {
                Ok(n) => assert!(size >= len && n == len && buf[..n] == *out),
                Err(e) => {
                    assert!(size < len, "fails with room to spare");
                    assert_eq!(e, WriteError::BufferTooSmall);
                }
            }
        }
        // The client's parser accepts what the server wrote, for the same key.
        let offered: &[&str] = match protocol {
            Some(p) => &[p][..],
            None => &[],
        };
        let mut client = ResponseParser::new(&key);
        match client.parse(out, offered) {
            Ok(Status::Complete(a)) => {
                assert_eq!(a.head_len, len);
                assert_eq!(a.protocol, protocol.map(|_| 0));
            }
            other => panic!(
                "client refuses the server's 101 ({other:?}): {:?}",
                String::from_utf8_lossy(out)
            ),
        }
    }

    // A plain response whose headers come from the request: no header can break a line.
    let status = [200u16, 99, 1000, 426, 999, 100, 404, 0][usize::from(opts >> 5)];
    let pairs: Vec<(&str, &str)> = request
        .headers()
        .take(4)
        .filter_map(|(n, v)| core::str::from_utf8(v).ok().map(|v| (n, v)))
        .collect();
    let mut buf = vec![0u8; 1024];
    if let Ok(n) = server::write_response_head(&mut buf, status, &pairs, 7) {
        assert!((100..=999).contains(&status));
        let out = &buf[..n];
        let lines = out.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(lines, 1 + pairs.len() + 2 + 1, "a header broke a line");
        let crs = out.iter().filter(|&&b| b == b'\r').count();
        assert_eq!(crs, lines, "a stray CR in a response head");
        assert!(out.ends_with(b"\r\n\r\n"));
    }

    format!(
        "{method}|{target}|{headers}|{host:?}|{origin:?}|{protocols:?}|{upgrade}|{check:?}|{key:?}"
    )
}

/// Every refusal fits the 160 bytes the handshake refuses from, and carries its status.
fn check_refusal(e: RequestError) {
    for err in [e].into_iter().chain(ALL_REQUEST_ERRORS) {
        let mut buf = [0u8; 160];
        let n = server::write_refusal(&mut buf, err).expect("a refusal fits 160 bytes");
        let status = format!("HTTP/1.1 {} ", err.status());
        assert!(buf[..n].starts_with(status.as_bytes()));
        for size in [0, 10, 40, n - 1] {
            let mut small = vec![0u8; size];
            assert_eq!(
                server::write_refusal(&mut small, err),
                Err(WriteError::BufferTooSmall)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// (b) The client's handshake.

const OFFERS: [&[&str]; 4] = [&[], &["chat"], &["chat", "superchat"], &["a", "b", "c"]];

/// `ResponseParser::parse` in pieces agrees with a whole parse; an accepted response
/// carries the right accept value and one of the offered subprotocols.
pub fn handshake_client(data: &[u8]) {
    let input = Input::parse(data);
    let stream = input.stream;
    let offered = OFFERS[usize::from(input.opts) % OFFERS.len()];
    let mut parser = ResponseParser::new(RFC_KEY);
    let mut chunks = Chunks::new(input.chunks);
    let mut fed = 0;
    let outcome = loop {
        match parser.parse(&stream[..fed], offered) {
            Ok(Status::Partial) => {
                if fed == stream.len() {
                    break Ok(Status::Partial);
                }
                let step = chunks.next_size().unwrap_or(usize::MAX).max(1);
                fed = fed.saturating_add(step).min(stream.len());
            }
            other => break other,
        }
    };
    let mut whole = ResponseParser::new(RFC_KEY);
    assert_eq!(whole.parse(stream, offered), outcome, "split parse differs");
    if let Ok(Status::Complete(accepted)) = outcome {
        assert!(accepted.head_len <= fed);
        let head = &stream[..accepted.head_len];
        assert!(head.starts_with(b"HTTP/1.1 101"), "accepted a non-101 head");
        assert!(head.ends_with(b"\n"));
        let accept = accept_key(RFC_KEY);
        assert!(
            head.windows(accept.len()).any(|w| w == accept),
            "accepted without the accept value"
        );
        if let Some(i) = accepted.protocol {
            assert!(i < offered.len());
        }
        // A finished parser accepts nothing more.
        assert_eq!(
            parser.parse(stream, offered),
            Err(ClientError::Malformed),
            "parsed twice"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (c) The sans-IO connection, both roles.

/// Maximum message sizes: none, and some small ones.
const MAX_MESSAGES: [u64; 4] = [u64::MAX, 0, 100, 5000];

const CAPS: [usize; 8] = [65536, MIN_BUFFER, MIN_BUFFER + 1, 137, 200, 256, 1024, 4096];

/// How a connection run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Messages and control frames seen (pieces joined into messages; a message cut by
    /// an error is left out, since how much of it was handed out depends on the splits).
    pub log: Vec<Msg>,
    /// The protocol error that ended it, if any.
    pub error: Option<ProtocolError>,
    /// What the connection transmitted: pongs, the close echo, the failing close.
    pub output: Vec<u8>,
}

/// Feeds `stream` to a sans-IO connection in chunks, through a receive buffer of `cap`
/// bytes, and writes out what it transmits in pieces of the same sizes.
pub fn run_connection<M: Masking>(
    masks: M,
    stream: &[u8],
    sizes: &[u8],
    cap: usize,
    max: u64,
) -> Run {
    let mut conn = Connection::new(masks);
    if max != u64::MAX {
        conn.set_max_message_size(max as usize);
    }
    let mut rx = vec![0u8; cap];
    let mut tx = vec![0u8; cap.clamp(MIN_BUFFER, 1024)];
    let mut chunks = Chunks::new(sizes);
    let mut log = Log::default();
    let mut output = Vec::new();
    let mut fed = 0;
    let mut steps = 0usize;
    let limit = 8 * stream.len() + 64;
    let error = loop {
        steps += 1;
        assert!(steps <= limit, "the connection loop does not terminate");
        match conn.poll_event(&mut rx, &mut tx) {
            Ok(Status::Complete(event)) => {
                if let Event::Data(p) = event {
                    assert!(
                        log.partial().len() + p.payload.len() <= max as usize,
                        "a message over the maximum size"
                    );
                }
                let close = matches!(event, Event::Close(_));
                log.event(event);
                if close {
                    assert!(conn.is_closed());
                    assert!(matches!(
                        conn.poll_event(&mut rx, &mut tx),
                        Err(Error::Closed)
                    ));
                    break None;
                }
            }
            Ok(Status::Partial) => {
                let out = conn.poll_transmit(&mut tx);
                if !out.is_empty() {
                    let n = chunks.next_size().unwrap_or(usize::MAX).clamp(1, out.len());
                    output.extend_from_slice(&out[..n]);
                    conn.transmitted(n);
                    continue;
                }
                let room = conn.read_buffer(&mut rx);
                // The core's promise: it asks for input only with room for it.
                assert!(
                    !room.is_empty(),
                    "no room to read into with nothing to transmit"
                );
                if fed == stream.len() {
                    break None;
                }
                let step = chunks.next_size().unwrap_or(usize::MAX).max(1);
                let n = step.min(room.len()).min(stream.len() - fed);
                room[..n].copy_from_slice(&stream[fed..fed + n]);
                conn.received(n);
                fed += n;
            }
            Err(Error::Protocol(e)) => {
                assert!(conn.is_closed());
                break Some(e);
            }
            Err(e) => panic!("poll_event: {e:?}"),
        }
    };
    loop {
        let out = conn.poll_transmit(&mut tx);
        if out.is_empty() {
            break;
        }
        output.extend_from_slice(out);
        let n = out.len();
        conn.transmitted(n);
    }
    // What went out is a valid frame stream from this role, ending with the failing
    // close after an error.
    let sent = ws13_testkit::owned::messages(M::ROLE, &output)
        .expect("the connection sent invalid frames");
    if let Some(e) = error {
        assert_eq!(
            sent.last(),
            Some(&Msg::close(e.close_code().0, "")),
            "no close with the error's code"
        );
    }
    let pongs = sent.iter().filter(|m| matches!(m, Msg::Pong(_))).count();
    let pings = log
        .msgs
        .iter()
        .filter(|m| matches!(m, Msg::Ping(_)))
        .count();
    assert_eq!(pongs, pings, "a pong for each ping");
    Run {
        log: log.msgs,
        error,
        output,
    }
}

/// The sans-IO connection, for the role chosen by bit 0 of the options, fed in pieces
/// through a bounded buffer, agrees with the same connection fed the stream whole: the
/// same messages, the same error, the same bytes sent.
pub fn connection(data: &[u8]) {
    let input = Input::parse(data);
    let cap = CAPS[usize::from(input.opts >> 1) % CAPS.len()];
    let max = MAX_MESSAGES[usize::from(input.config & 3)];
    if input.opts & 1 == 0 {
        let whole = run_connection(NoMask, input.stream, &[], 65536, max);
        let split = run_connection(NoMask, input.stream, input.chunks, cap, max);
        assert_eq!(whole, split, "split receive differs from whole");
    } else {
        let whole = run_connection(TestMask(7), input.stream, &[], 65536, max);
        let split = run_connection(TestMask(7), input.stream, input.chunks, cap, max);
        assert_eq!(whole, split, "split receive differs from whole");
    }
}

// ---------------------------------------------------------------------------------------
// (d) The blocking driver, over a scripted transport.

/// The mask source the client target starts with.
pub const CLIENT_MASK_SEED: u32 = 0x5eed_0001;

/// The host, path and subprotocols of the client target's request.
pub fn client_request(opts: u8) -> ClientRequest<'static> {
    ClientRequest::new("example.com", "/chat").protocols(OFFERS[usize::from(opts) % OFFERS.len()])
}

/// The `Sec-WebSocket-Key` the client target sends (its nonce comes from [`TestMask`]).
pub fn client_key(opts: u8) -> [u8; 24] {
    let mut masks = TestMask(CLIENT_MASK_SEED);
    let mut nonce = [0u8; 16];
    masks.fill(&mut nonce);
    let mut buf = [0u8; 512];
    client_request(opts).write(&mut buf, nonce).unwrap().1
}

const RX_SIZES: [usize; 8] = [MIN_BUFFER, MIN_BUFFER + 1, 137, 200, 257, 512, 1024, 4096];
const TX_SIZES: [usize; 4] = [MIN_BUFFER, 256, 263, 1024];
const MSG_SIZES: [usize; 4] = [125, 126, 1000, 65536];

type Wire<'a> = Script<'a, &'a [u8], Vec<u8>>;

/// What the application sends while it reads, besides the echo (bit 7 of the options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// In echo mode, every piece echoed as a fragment; otherwise nothing.
    Fragments,
    /// In echo mode, binary frames relayed as they came and text as fragments, as
    /// examples/echo_server.rs does; otherwise frames of the application's own, streamed
    /// a few bytes after every read, so that pings and the peer's close arrive inside
    /// them and must wait for them.
    Frames,
}

/// The application's own frames in [`Sending::Frames`]: binary messages of this many
/// bytes of [`streamed_byte`], sent this many bytes at a time.
const STREAMED_LEN: usize = 20;
const STREAMED_STEP: usize = 3;

fn streamed_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// Sends the next few bytes of the application's own frames, starting one when none is
/// open; `sent` counts the bytes of the open frame sent so far. Returns whether the bytes
/// completed a frame.
fn stream_some<M: Masking>(
    ws: &mut WebSocket<'_, &mut Wire<'_>, M>,
    sent: &mut usize,
    all: bool,
) -> Result<bool, Error<ErrorKind>> {
    let mut w = ws.writer();
    if w.frame_remaining() == 0 {
        w.begin_frame(MessageKind::Binary, STREAMED_LEN as u64, true)?;
        *sent = 0;
    }
    let end = if all {
        STREAMED_LEN
    } else {
        (*sent + STREAMED_STEP).min(STREAMED_LEN)
    };
    let piece: Vec<u8> = (*sent..end).map(streamed_byte).collect();
    w.write_payload(&piece)?;
    *sent = end;
    Ok(w.frame_remaining() == 0)
}

/// What a driven connection saw.
struct Driven {
    log: Vec<Msg>,
    pings: Vec<Vec<u8>>,
    /// The error that ended the loop (never a timeout), or `None` for the peer's close.
    end: Option<String>,
    protocol_error: Option<ProtocolError>,
    /// The read mode: 0 read, 1 read_message, 2 read_split echoing data, 3 all in turn.
    mode: u8,
    sending: Sending,
    /// One of the application's frames was still open when the connection ended.
    open_at_end: bool,
    /// In read mode 0 with the application's own frames: the pongs owed, in order. A ping
    /// that arrived between our frames is answered at once; of those that arrived inside
    /// one, the latest is answered when the frame is complete (unless the peer's close
    /// came first, or the connection failed).
    owed: Option<Vec<Vec<u8>>>,
}

/// Takes in an event read piece by piece; returns a ping's payload. A piece without
/// `first` outside a message is legal only after a read_message a timeout interrupted:
/// the message's start is in that call's buffer.
fn take_event(
    log: &mut Log,
    event: Event<'_>,
    in_message: bool,
    interrupted: bool,
) -> Option<Vec<u8>> {
    if let Event::Data(p) = event {
        if !p.first && !in_message {
            assert!(interrupted, "a piece without `first` outside a message");
            log.resume(p.kind);
        }
    }
    log.event(event);
    match event {
        Event::Ping(p) => Some(p.to_vec()),
        _ => None,
    }
}

/// Reads from `ws` until the connection closes or fails, checking the driver's promises.
fn drive<M: Masking>(
    ws: &mut WebSocket<'_, &mut Wire<'_>, M>,
    input: &Input<'_>,
    msg_size: usize,
) -> Driven {
    let mode = (input.opts >> 5) & 3;
    let sending = sending(input.opts);
    let input_len = input.stream.len();
    let max = MAX_MESSAGES[usize::from(input.config >> 2)];
    if max != u64::MAX {
        ws.set_max_message_size(max as usize);
    }
    let mut log = Log::default();
    let mut pings = Vec::new();
    let mut msg = vec![0u8; msg_size];
    let mut calls = 0usize;
    let limit = 4 * input_len + 64;
    let mut protocol_error = None;
    // After read_message refused to start inside a message, finish it with read().
    let mut resume_with_read = false;
    // A read_message a timeout interrupted: once read() or read_split() is called (even
    // one that hands out nothing), the collection is given up; the rest of the message
    // then comes as pieces without `first` (its start is in read_message's buffer), and
    // read_message refuses to start inside it (MessageInProgress). Until a piece or a
    // whole message comes.
    let mut interrupted_whole = false;
    let streaming = sending == Sending::Frames && mode != 2;
    let mut streamed = 0usize;
    let mut owed: Vec<Vec<u8>> = Vec::new();
    // The latest ping that arrived inside one of our frames, not answered yet.
    let mut waiting: Option<Vec<u8>> = None;
    let end = loop {
        calls += 1;
        assert!(calls <= limit, "the read loop does not terminate");
        let which = match mode {
            _ if resume_with_read => 0,
            3 if log.in_message() && calls % 3 == 1 => 0,
            3 => (calls % 3) as u8,
            m => m,
        };
        let open_before = ws.connection().frame_remaining() > 0;
        let in_message = log.in_message();
        let messages_before = log.msgs.len();
        let result: Result<Option<Vec<u8>>, Error<ErrorKind>> = match which {
            0 => ws.read().map(|e| {
                if let Event::Data(p) = e {
                    if p.last {
                        resume_with_read = false;
                    }
                }
                take_event(&mut log, e, in_message, interrupted_whole)
            }),
            1 => ws.read_message(&mut msg).map(|m| {
                let ping = if let Message::Ping(p) = m {
                    Some(p.to_vec())
                } else {
                    None
                };
                log.message(m);
                ping
            }),
            _ => ws.read_split().and_then(|(event, mut writer)| {
                if let Event::Data(p) = event {
                    // Only in echo mode: mixed modes would echo half a message.
                    if mode == 2 && sending == Sending::Frames && p.kind == MessageKind::Binary {
                        writer.relay(&p)?;
                    } else if mode == 2 {
                        writer.write_fragment(p.kind, p.payload, p.last)?;
                    }
                }
                Ok(take_event(&mut log, event, in_message, interrupted_whole))
            }),
        };
        if let Ok(ping) = &result {
            // A piece, or a whole data message, ends what a timeout interrupted.
            let data = log.in_message()
                || log.msgs[messages_before..]
                    .iter()
                    .any(|m| matches!(m, Msg::Text(_) | Msg::Binary(_) | Msg::Tail(..)));
            if data {
                interrupted_whole = false;
            }
            if let Some(p) = ping {
                pings.push(p.clone());
                if open_before {
                    waiting = Some(p.clone());
                } else {
                    owed.push(p.clone());
                }
            }
            if log.is_closed() {
                // The close takes the place of a waiting pong.
                waiting = None;
            }
        }
        if streaming
            && !ws.is_closed()
            && stream_some(ws, &mut streamed, false).expect("an open connection takes data")
        {
            owed.extend(waiting.take());
        }
        match result {
            Ok(_) => {
                if log.is_closed() {
                    assert!(ws.is_closed(), "closed by the peer but not closed");
                    break None;
                }
                assert!(!ws.is_closed(), "an event from a closed connection");
            }
            Err(e) if e.is_timeout() => {
                // A read timeout keeps the connection open.
                assert!(!ws.is_closed(), "a timeout closed the connection");
                if which == 1 {
                    interrupted_whole = true;
                }
            }
            Err(Error::MessageInProgress) => {
                assert!(!ws.is_closed(), "MessageInProgress closed the connection");
                assert!(
                    log.in_message() || interrupted_whole,
                    "MessageInProgress between messages"
                );
                resume_with_read = true;
            }
            Err(e) => {
                assert!(!matches!(e, Error::Closed), "Closed before any close");
                if let Error::Protocol(p) = e {
                    protocol_error = Some(p);
                }
                assert!(ws.is_closed(), "failed but not closed: {e:?}");
                break Some(format!("{e:?}"));
            }
        }
    };
    let mut open_at_end = ws.connection().frame_remaining() > 0;
    if end.is_none() && open_at_end {
        // The peer closed inside one of our frames: finishing it lets the close echo out.
        stream_some(ws, &mut streamed, true).expect("the frame can be finished");
        ws.flush().expect("flushed");
        open_at_end = false;
    }
    // After the close, the end of input or a failure, every call returns Closed.
    for _ in 0..2 {
        assert!(matches!(ws.read(), Err(Error::Closed)));
        assert!(matches!(ws.read_message(&mut msg), Err(Error::Closed)));
        assert!(matches!(ws.read_split(), Err(Error::Closed)));
    }
    assert!(ws.is_closed());
    Driven {
        log: log.msgs,
        pings,
        end,
        protocol_error,
        mode,
        sending,
        open_at_end,
        owed: (streaming && mode == 0).then_some(owed),
    }
}

/// What the connection wrote after its handshake must be a valid frame stream for the
/// peer's role: the echo of the data read (in echo mode), a pong for each ping seen (in
/// the modes that show every ping), and a close frame with the error's code after a
/// protocol error (or, inside one of our frames, a valid prefix with no close).
fn check_output(written: &[u8], sender: Role, driven: &Driven) {
    let head = ws13_testkit::consts::head_len(written).expect("a handshake before the frames");
    let frames = &written[head..];
    let (log, tail) =
        messages_prefix(sender, frames).expect("the driver wrote an invalid frame stream");
    if driven.open_at_end {
        // Failed inside one of our frames: no close frame can follow it.
        assert!(
            !log.iter().any(|m| matches!(m, Msg::Close(_))),
            "a close frame inside or after a frame left open"
        );
    } else {
        assert_eq!(tail, Tail::None, "the driver left a frame cut");
        if let Some(p) = driven.protocol_error {
            assert_eq!(
                log.last(),
                Some(&Msg::close(p.close_code().0, "")),
                "no close frame with the error's code"
            );
        }
    }
    if driven.end.is_none() {
        assert!(
            matches!(log.last(), Some(Msg::Close(_))),
            "the peer's close was not echoed"
        );
    }
    let pongs: Vec<&Vec<u8>> = log
        .iter()
        .filter_map(|m| if let Msg::Pong(p) = m { Some(p) } else { None })
        .collect();
    let streamed = driven.sending == Sending::Frames && driven.mode != 2;
    if let Some(owed) = &driven.owed {
        assert_eq!(
            pongs,
            owed.iter().collect::<Vec<_>>(),
            "pongs do not answer the pings as owed"
        );
    }
    if streamed {
        // Our own frames arrive whole and intact (the last perhaps cut by a failure).
        let own: Vec<u8> = (0..STREAMED_LEN).map(streamed_byte).collect();
        for m in &log {
            match m {
                Msg::Binary(data) => assert!(data == &own, "a streamed frame arrived changed"),
                Msg::Text(_) => panic!("a message the application did not send"),
                _ => {}
            }
        }
    } else if driven.mode == 0 || driven.mode == 2 {
        assert_eq!(
            pongs,
            driven.pings.iter().collect::<Vec<_>>(),
            "pongs do not answer the pings"
        );
    }
    if driven.mode == 2 {
        let sent: Vec<&Msg> = log
            .iter()
            .filter(|m| matches!(m, Msg::Text(_) | Msg::Binary(_)))
            .collect();
        let read: Vec<&Msg> = driven
            .log
            .iter()
            .filter(|m| matches!(m, Msg::Text(_) | Msg::Binary(_)))
            .collect();
        // The echo holds every whole message read.
        assert!(sent.len() >= read.len());
        assert_eq!(
            &sent[..read.len()],
            &read[..],
            "the echo differs from the input"
        );
    }
}

/// Bit 7 of the options: how the application sends (see [`Sending`]).
fn sending(opts: u8) -> Sending {
    if opts & 0x80 == 0 {
        Sending::Fragments
    } else {
        Sending::Frames
    }
}

/// The server: `Incoming::read`, then `respond` or `accept`, then a read loop; fed the
/// input's chunks with timeouts, and fed it whole, it reads the same messages.
pub fn blocking_server(data: &[u8]) {
    let input = Input::parse(data);
    let split = serve(&input, input.chunks);
    let whole = serve(&input, &[]);
    same_messages(split, whole);
}

/// [`blocking_server`] over the stream in chunks of `sizes`: what it read, unless it
/// never got to read frames.
fn serve(input: &Input<'_>, sizes: &[u8]) -> Option<Driven> {
    let rx_size = RX_SIZES[usize::from(input.opts & 7)];
    let tx_size = TX_SIZES[usize::from(input.opts >> 3) & 3];
    let msg_size = MSG_SIZES[usize::from(input.config & 3)];
    let plan = read_plan(sizes, input.stream.len());
    let mut wire: Wire<'_> = Script::new(input.stream, Vec::new()).reads(Faults::at(&plan));
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut incoming = Incoming::new(&mut wire, &mut rx);
    let request = loop {
        match incoming.read() {
            Ok(request) => break request,
            Err(e) if e.is_timeout() => continue,
            Err(Error::Request(e)) => {
                let status = format!("HTTP/1.1 {} ", e.status());
                // A refusal needs 160 bytes of buffer; a smaller one closes silently.
                assert!(
                    wire.written().starts_with(status.as_bytes())
                        || rx_size < 160 && wire.written().is_empty(),
                    "no refusal"
                );
                return None;
            }
            Err(Error::Eof) => return None,
            Err(e) => panic!("Incoming::read: {e:?}"),
        }
    };
    let _ = (request.method(), request.path(), request.origin());
    if !request.is_upgrade() {
        let responded = loop {
            match incoming.respond(200, &[("Content-Type", "text/plain")], b"hello") {
                Err(e) if e.is_timeout() => continue,
                other => break other,
            }
        };
        if rx_size >= 160 {
            responded.expect("a response fits");
        }
        if rx_size >= 160 {
            assert!(wire.written().starts_with(b"HTTP/1.1 200 OK\r\n"));
            assert!(wire.written().ends_with(b"hello"));
        }
        return None;
    }
    let protocol = request.offers_protocol("chat").then_some("chat");
    let mut ws = match incoming.accept(&mut tx, protocol) {
        Ok(ws) => ws,
        // The 101 response with a subprotocol does not fit the smallest buffer: the
        // client is told with a 500 (if the receive buffer can hold it).
        Err(Error::BufferTooSmall) => {
            assert!(tx_size < 160);
            assert!(wire.written().is_empty() || wire.written().starts_with(b"HTTP/1.1 500 "));
            return None;
        }
        Err(e) if e.is_timeout() => return None,
        Err(e) => panic!("accept: {e:?}"),
    };
    assert_eq!(ws.role(), Role::Server);
    let driven = drive(&mut ws, input, msg_size);
    assert!(
        wire.written().starts_with(b"HTTP/1.1 101 "),
        "no 101 response"
    );
    check_output(wire.written(), Role::Server, &driven);
    Some(driven)
}

/// The client: `Connecting::handshake` (made again after timeouts), then a read loop;
/// fed the input's chunks with timeouts, and fed it whole, it reads the same messages.
pub fn blocking_client(data: &[u8]) {
    let input = Input::parse(data);
    let split = client(&input, input.chunks);
    let whole = client(&input, &[]);
    same_messages(split, whole);
}

/// [`blocking_client`] over the stream in chunks of `sizes`: what it read, unless the
/// handshake failed.
fn client(input: &Input<'_>, sizes: &[u8]) -> Option<Driven> {
    let rx_size = RX_SIZES[usize::from(input.opts & 7)];
    let tx_size = [256, 263, 512, 1024][usize::from(input.opts >> 3) & 3];
    let msg_size = MSG_SIZES[usize::from(input.config & 3)];
    let request = client_request(input.opts);
    let plan = read_plan(sizes, input.stream.len());
    let mut wire: Wire<'_> = Script::new(input.stream, Vec::new()).reads(Faults::at(&plan));
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let mut connecting = blocking::Connecting::new(
        &mut wire,
        &mut rx,
        &mut tx,
        &request,
        TestMask(CLIENT_MASK_SEED),
    )
    .expect("buffers");
    let protocol = loop {
        match connecting.handshake() {
            Ok(p) => break p,
            Err(e) if e.is_timeout() => continue,
            Err(Error::Handshake(_) | Error::Eof) => return None,
            Err(e) => panic!("handshake: {e:?}"),
        }
    };
    let (mut ws, again) = connecting.finish().expect("a finished handshake");
    assert_eq!(protocol, again);
    assert_eq!(ws.role(), Role::Client);
    if let Some(i) = protocol {
        assert!(i < request.protocols.len());
    }
    let driven = drive(&mut ws, input, msg_size);
    check_output(wire.written(), Role::Client, &driven);
    Some(driven)
}

/// The data messages read with the input in chunks and timeouts are those read with the
/// input whole (a message whose start went to an interrupted `read_message` must end as
/// the whole run's did), and the runs end the same way.
fn same_messages(split: Option<Driven>, whole: Option<Driven>) {
    let (split, whole) = match (split, whole) {
        (Some(split), Some(whole)) => (split, whole),
        (None, None) => return,
        // A handshake the timeouts cut short, or refused in both.
        (None, Some(_)) | (Some(_), None) => return,
    };
    // Where read_message reads into a buffer too small for a message (1009), the runs
    // may end differently and agree only up to there: pieces are checked as they arrive,
    // so a run fed a few bytes at a time fills the buffer before it meets invalid UTF-8
    // that a run fed whole meets first; and in the mixed mode the call that meets a
    // message (read_message, or read, which has no such limit) depends on the cuts.
    let too_big = |d: &Driven| d.end.as_deref() == Some("Protocol(MessageTooBig)");
    let lenient = matches!(split.mode, 1 | 3) && (too_big(&split) || too_big(&whole));
    if !lenient {
        assert_eq!(split.end, whole.end, "the runs end differently");
    }
    let data = |d: &Driven| -> Vec<Msg> {
        d.log
            .iter()
            .filter(|m| {
                matches!(
                    m,
                    Msg::Text(_) | Msg::Binary(_) | Msg::Tail(..) | Msg::Close(_)
                )
            })
            .cloned()
            .collect()
    };
    let (a, b) = (data(&split), data(&whole));
    if !lenient {
        assert_eq!(
            a.len(),
            b.len(),
            "the runs read different numbers of messages"
        );
    }
    for (x, y) in a.iter().zip(&b) {
        match (x, y) {
            (Msg::Tail(MessageKind::Text, tail), Msg::Text(t)) => {
                assert!(t.as_bytes().ends_with(tail), "a message's end differs")
            }
            (Msg::Tail(MessageKind::Binary, tail), Msg::Binary(b)) => {
                assert!(b.ends_with(tail), "a message's end differs")
            }
            _ => assert!(x == y, "a message differs between the runs"),
        }
    }
}

/// A frame as `sender` sends it (masked with `key` for a client).
pub fn frame(sender: Role, fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mask = (sender == Role::Client).then_some(key);
    ws13_testkit::owned::frame_masked(mask, fin, opcode, payload)
}

/// The role of the peer of `role`.
pub fn other(role: Role) -> Role {
    peer(role)
}

/// Close codes a sender may use (and one it may not).
pub const CLOSE_CODES: [CloseCode; 4] = [
    CloseCode::NORMAL,
    CloseCode::GOING_AWAY,
    CloseCode(4000),
    CloseCode(1005),
];
