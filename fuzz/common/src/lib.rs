//! The checks behind ws13's fuzz targets, as plain functions of the input bytes: the
//! libFuzzer targets in `fuzz_targets/` call them, and so does the `replay` tool, which
//! runs a corpus through them without libFuzzer.
//!
//! Every input has the same layout, so that one seed file suits every split:
//!
//! ```text
//! byte 0: low nibble = n, the number of chunk-size bytes; high nibble = config
//!         (receiver: bits 0-1 maximum message size; blocking targets: bits 0-1
//!         read_message buffer size, bits 2-3 maximum message size)
//! byte 1: options (handshake_server: header limit and response status; handshake_client:
//!         offered subprotocols; receiver: bit 0 role, bits 1-3 buffer bound; blocking
//!         targets: bits 0-2 receive buffer, 3-4 transmit buffer, 5-6 read mode)
//! n bytes: chunk sizes, used in turn and cycled (0 = a transport error, once)
//! the rest: the byte stream the code under test receives
//! ```
//!
//! Any panic is a finding: the functions assert the crate's documented invariants.

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use ws13::blocking::{self, Error, Incoming, MaskSource, Message, WebSocket, MIN_BUFFER};
use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::handshake::client::{Accepted, ClientError, ClientRequest, ResponseParser};
use ws13::handshake::server::{self, Request, RequestError, RequestParser, WriteError};
use ws13::handshake::{accept_key, is_token};
use ws13::proto::{Event, MessageKind, ProtocolError, Receiver, Role};
use ws13::CloseCode;

pub mod seeds;

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

    /// The next chunk size: `None` for "all that is left", `Some(0)` for a transport error.
    fn next_size(&mut self) -> Option<usize> {
        let size = *self.sizes.get(self.next % self.sizes.len().max(1))?;
        self.next += 1;
        Some(usize::from(size))
    }
}

// ---------------------------------------------------------------------------------------
// (a) The server's handshake.

const MAX_HEADERS: [u16; 6] = [server::DEFAULT_MAX_HEADERS, 0, 1, 3, 8, u16::MAX];
const ALL_REQUEST_ERRORS: [RequestError; 9] = [
    RequestError::Malformed,
    RequestError::TooLarge,
    RequestError::TooManyHeaders,
    RequestError::MethodNotAllowed,
    RequestError::NotHttp11,
    RequestError::MissingHost,
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
            Ok(None) => {
                assert!(parser.pending_line_len() <= fed);
                if fed == stream.len() {
                    break Ok(None);
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
        Ok(Some(head_len)) => {
            assert!(head_len <= fed && head_len <= stream.len());
            assert_eq!(stream[head_len - 1], b'\n', "head ends inside a line");
            // Asked again, the parser keeps its answer.
            assert_eq!(parser.parse(stream), Ok(Some(head_len)));
            let head = &stream[..head_len];
            let a = parser.request(head);
            let b = whole.request(head);
            let seen = exercise_request(&a, input.opts);
            assert_eq!(seen, exercise_request(&b, input.opts));
        }
        Ok(None) => {}
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
        let has_host = request
            .headers()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        assert!(has_host, "a valid upgrade without a Host");
    }
    if let Err(e) = check {
        check_refusal(e);
    }
    let key = *request.key();

    // The 101 response, into buffers of many sizes, with and without a subprotocol.
    let mut choices: Vec<Option<&str>> = vec![None, Some("a b"), Some("")];
    choices.extend(protocols.iter().take(2).map(|p| Some(*p)));
    for protocol in choices {
        let mut big = [0u8; 512];
        let full = server::write_accept(&mut big, request, protocol);
        match protocol {
            Some(p) if !is_token(p) => {
                assert_eq!(full, Err(WriteError::InvalidHeader), "protocol {p:?}");
                continue;
            }
            _ => {}
        }
        let len = full.expect("a 101 response fits 512 bytes");
        let out = &big[..len];
        assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(out.ends_with(b"\r\n\r\n"));
        for size in [0, 1, 34, 97, 128, len - 1, len, len + 1] {
            let mut buf = vec![0u8; size];
            match server::write_accept(&mut buf, request, protocol) {
                Ok(n) => {
                    assert!(size >= len && n == len && buf[..n] == *out);
                }
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
        assert_eq!(
            client.parse(out, offered),
            Ok(Some(Accepted {
                head_len: len,
                protocol: protocol.map(|_| 0),
            })),
            "client refuses the server's 101: {:?}",
            String::from_utf8_lossy(out)
        );
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

/// Every refusal fits the 160 bytes the blocking driver refuses from, and carries its status.
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

/// The key of RFC 6455's example request, section 1.3.
pub const RFC_KEY: &[u8; 24] = b"dGhlIHNhbXBsZSBub25jZQ==";

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
            Ok(None) => {
                if fed == stream.len() {
                    break Ok(None);
                }
                let step = chunks.next_size().unwrap_or(usize::MAX).max(1);
                fed = fed.saturating_add(step).min(stream.len());
            }
            other => break other,
        }
    };
    let mut whole = ResponseParser::new(RFC_KEY);
    assert_eq!(whole.parse(stream, offered), outcome, "split parse differs");
    if let Ok(Some(accepted)) = outcome {
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
// (c) The receive path: `proto::Receiver`.

/// An event, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// A data piece: kind, first, last, bytes.
    Data(MessageKind, bool, bool, Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame.
    Close(Option<(u16, String)>),
}

/// Owns an event.
pub fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Data {
            kind,
            first,
            last,
            payload,
            ..
        } => Ev::Data(kind, first, last, payload.to_vec()),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, c.reason.to_string()))),
    }
}

/// Checks a sequence of events as it grows: pieces of one message are flagged and typed
/// consistently, text messages are UTF-8, control payloads are in bounds, nothing follows
/// a close.
#[derive(Debug)]
pub struct Tracker {
    /// The receiver's maximum message size: no message may grow past it.
    pub max: u64,
    open: Option<(MessageKind, Vec<u8>)>,
    closed: bool,
    /// Whole data messages, control events, and the open message's bytes at the end.
    pub log: Vec<Ev>,
    /// Pings seen.
    pub pings: Vec<Vec<u8>>,
    /// A read timeout interrupted `read_message`: if `read` is called next, it gives up
    /// the part already copied (as documented), so the remaining pieces may come without
    /// a first one; `read_message` called again returns the whole message.
    pub lost_start: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            max: u64::MAX,
            open: None,
            closed: false,
            log: Vec::new(),
            pings: Vec::new(),
            lost_start: false,
        }
    }
}

impl Tracker {
    /// Takes in the next event.
    pub fn push(&mut self, e: Ev) {
        assert!(!self.closed, "an event after the close: {e:?}");
        match e {
            Ev::Data(kind, first, last, bytes) => {
                if self.lost_start && !first && self.open.is_none() {
                    self.open = Some((kind, Vec::new()));
                }
                if first || last {
                    self.lost_start = false;
                }
                assert_eq!(first, self.open.is_none(), "first flag wrong");
                let (open_kind, buf) = self.open.get_or_insert((kind, Vec::new()));
                assert_eq!(*open_kind, kind, "a message changed its kind");
                buf.extend_from_slice(&bytes);
                assert!(
                    buf.len() as u64 <= self.max,
                    "a message over the maximum size"
                );
                if last {
                    let (kind, buf) = self.open.take().unwrap();
                    if kind == MessageKind::Text {
                        assert!(
                            core::str::from_utf8(&buf).is_ok(),
                            "invalid UTF-8 let through"
                        );
                    }
                    self.log.push(Ev::Data(kind, true, true, buf));
                }
            }
            Ev::Ping(p) => {
                assert!(p.len() <= 125);
                self.pings.push(p.clone());
                self.log.push(Ev::Ping(p));
            }
            Ev::Pong(p) => {
                assert!(p.len() <= 125);
                self.log.push(Ev::Pong(p));
            }
            Ev::Close(c) => {
                if let Some((code, reason)) = &c {
                    assert!(CloseCode(*code).is_valid_on_wire(), "close code {code}");
                    assert!(reason.len() <= 123);
                }
                self.closed = true;
                self.log.push(Ev::Close(c));
            }
        }
    }

    /// Whether a data message is open.
    pub fn in_message(&self) -> bool {
        self.open.is_some()
    }

    /// The log, with the open message's bytes so far appended (or dropped, when the
    /// stream ended in an error, where how much was handed out depends on the splits).
    pub fn finish(mut self, keep_partial: bool) -> Vec<Ev> {
        if let Some((kind, buf)) = self.open.take() {
            if keep_partial {
                self.log.push(Ev::Data(kind, true, false, buf));
            }
        }
        self.log
    }
}

/// How a receiver run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxRun {
    /// The events, merged into messages.
    pub log: Vec<Ev>,
    /// The error that ended it, if any.
    pub error: Option<ProtocolError>,
    /// Pings seen.
    pub pings: Vec<Vec<u8>>,
}

/// Feeds `stream` to a receiver for `role` in chunks, as a driver does: a buffer of at
/// most `cap` bytes that keeps unconsumed bytes and appends new ones.
pub fn run_receiver(
    role: Role,
    stream: &[u8],
    chunk_sizes: &[u8],
    cap: usize,
    max_message: u64,
) -> RxRun {
    let mut rx = Receiver::new(role);
    rx.set_max_message_size(max_message);
    let mut chunks = Chunks::new(chunk_sizes);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut tracker = Tracker {
        max: max_message,
        ..Tracker::default()
    };
    let mut steps = 0usize;
    let limit = 4 * stream.len() + 16;
    let error = loop {
        steps += 1;
        assert!(steps <= limit, "receiver loop does not terminate");
        let len = buf.len();
        let r = match rx.receive(&mut buf) {
            Ok(r) => r,
            Err(e) => break Some(e),
        };
        assert!(r.consumed <= len, "consumed {} of {len}", r.consumed);
        let event = r.event.map(own);
        let consumed = r.consumed;
        if tracker.closed {
            assert!(rx.is_closed());
            assert_eq!(
                (consumed, &event),
                (len, &None),
                "input used after the close"
            );
        }
        if let Some(Ev::Data(_, _, _, bytes)) = &event {
            if !bytes.is_empty() {
                assert!(
                    consumed >= bytes.len(),
                    "a piece without its bytes consumed"
                );
            } else {
                assert!(consumed > 0, "an empty piece that consumed nothing");
            }
        } else if event.is_some() {
            assert!(consumed > 0, "a control event that consumed nothing");
        }
        buf.drain(..consumed);
        match event {
            Some(e) => {
                tracker.push(e);
                assert_eq!(rx.in_message(), tracker.in_message(), "in_message wrong");
                assert_eq!(rx.is_closed(), tracker.closed);
            }
            None if consumed > 0 => {}
            None => {
                // The driver's promise: a buffer of MIN_BUFFER bytes always makes progress.
                assert!(
                    buf.len() < MIN_BUFFER,
                    "no progress with {} bytes buffered: {:02x?}",
                    buf.len(),
                    &buf[..buf.len().min(16)]
                );
                if fed == stream.len() {
                    break None;
                }
                let room = cap.saturating_sub(buf.len());
                let step = match chunks.next_size() {
                    None => usize::MAX,
                    Some(n) => n.max(1),
                };
                let end = fed.saturating_add(step.min(room)).min(stream.len());
                assert!(end > fed, "no room to make progress");
                buf.extend_from_slice(&stream[fed..end]);
                fed = end;
            }
        }
    };
    let pings = tracker.pings.clone();
    RxRun {
        log: tracker.finish(error.is_none()),
        error,
        pings,
    }
}

/// Maximum message sizes: none, and some small ones.
const MAX_MESSAGES: [u64; 4] = [u64::MAX, 0, 100, 5000];

const CAPS: [usize; 8] = [
    usize::MAX,
    MIN_BUFFER,
    MIN_BUFFER + 1,
    137,
    200,
    256,
    1024,
    4096,
];

/// The receiver, for the role chosen by bit 0 of the options, fed in pieces through a
/// bounded buffer, agrees with the same receiver fed the stream whole.
pub fn receiver(data: &[u8]) {
    let input = Input::parse(data);
    let role = if input.opts & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let cap = CAPS[usize::from(input.opts >> 1) % CAPS.len()];
    let max = MAX_MESSAGES[usize::from(input.config & 3)];
    let whole = run_receiver(role, input.stream, &[], usize::MAX, max);
    let split = run_receiver(role, input.stream, input.chunks, cap, max);
    assert_eq!(whole, split, "split receive differs from whole");
}

// ---------------------------------------------------------------------------------------
// (c) The receive path: the blocking driver over an in-memory transport.

/// The in-memory transport's error: a read timeout that loses nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

impl core::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("timed out")
    }
}

impl core::error::Error for TimedOut {}

impl embedded_io::Error for TimedOut {
    fn kind(&self) -> ErrorKind {
        ErrorKind::TimedOut
    }
}

/// A transport that delivers fixed input in chunks of the given sizes (a chunk of 0 is a
/// read error, once, after which the read goes on) and records what is written.
#[derive(Debug)]
pub struct Wire<'a> {
    input: &'a [u8],
    pos: usize,
    chunks: Chunks<'a>,
    errored: bool,
    /// What the code under test wrote.
    pub output: Vec<u8>,
}

impl<'a> Wire<'a> {
    /// A transport delivering `input` in chunks of `sizes`.
    pub fn new(input: &'a [u8], sizes: &'a [u8]) -> Self {
        Wire {
            input,
            pos: 0,
            chunks: Chunks::new(sizes),
            errored: false,
            output: Vec::new(),
        }
    }
}

impl ErrorType for Wire<'_> {
    type Error = TimedOut;
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TimedOut> {
        assert!(
            !buf.is_empty(),
            "a zero-length read looks like the end of input"
        );
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Ok(0);
        }
        let size = match self.chunks.next_size() {
            Some(0) if !self.errored => {
                self.errored = true;
                return Err(TimedOut);
            }
            Some(n) => n.max(1),
            None => usize::MAX,
        };
        self.errored = false;
        let n = size.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TimedOut> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), TimedOut> {
        Ok(())
    }
}

/// A deterministic mask source (a linear congruential generator): fuzzing needs
/// reproducible keys, where a real client needs unpredictable ones.
#[derive(Clone, Debug)]
pub struct TestMask(pub u32);

impl MaskSource for TestMask {
    fn next_key(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0.to_be_bytes()
    }
}

/// The mask source the client target starts with.
pub const CLIENT_MASK_SEED: u32 = 0x5eed_0001;

/// The host, path and subprotocols of the client target's request.
pub fn client_request(opts: u8) -> ClientRequest<'static> {
    ClientRequest {
        host: "example.com",
        path: "/chat",
        protocols: OFFERS[usize::from(opts) % OFFERS.len()],
        headers: &[],
    }
}

/// The `Sec-WebSocket-Key` the client target sends (its nonce comes from [`TestMask`]).
pub fn client_key(opts: u8) -> [u8; 24] {
    let mut rng = TestMask(CLIENT_MASK_SEED);
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    let mut buf = [0u8; 512];
    client_request(opts).write(&mut buf, nonce).unwrap().1
}

const RX_SIZES: [usize; 8] = [MIN_BUFFER, MIN_BUFFER + 1, 137, 200, 257, 512, 1024, 4096];
const TX_SIZES: [usize; 4] = [MIN_BUFFER, 256, 263, 1024];
const MSG_SIZES: [usize; 4] = [0, 125, 1000, 65536];

/// What a driven connection saw.
struct Driven {
    tracker: Tracker,
    /// The error that ended the loop (never `Io`).
    end: Option<String>,
    protocol_error: Option<ProtocolError>,
    /// The read mode: 0 read, 1 read_message, 2 read_split echoing data, 3 all in turn.
    mode: u8,
    /// See [`Sending`].
    sending: Sending,
    /// One of the application's frames was still open when the connection ended.
    open_at_end: bool,
    /// In read mode 0 with the application's own frames: the pongs owed, in order. A ping
    /// that arrived between our frames is answered at once; of those that arrived inside
    /// one, the latest is answered when the frame is complete (unless the peer's close
    /// came first, or the connection failed).
    owed: Option<Vec<Vec<u8>>>,
}

/// What the application sends while it reads, besides the echo (bit 7 of the options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// In echo mode, every piece echoed as a fragment; otherwise nothing.
    Fragments,
    /// In echo mode, binary frames relayed as they came (a frame started for each one
    /// received, its payload passed on piece by piece) and text as fragments, as
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
/// open. `sent` counts the bytes of the open frame sent so far. Returns whether the
/// bytes completed a frame.
fn stream_some<T: Read + Write, R: MaskSource>(
    ws: &mut WebSocket<'_, T, R>,
    sent: &mut usize,
    all: bool,
) -> Result<bool, Error<T::Error>> {
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
    w.send_payload(&piece)?;
    *sent = end;
    Ok(w.frame_remaining() == 0)
}

/// Reads from `ws` until the connection closes or fails, checking the driver's promises.
fn drive<T: Read + Write, R: MaskSource>(
    ws: &mut WebSocket<'_, T, R>,
    mode: u8,
    sending: Sending,
    msg_size: usize,
    input_len: usize,
    max_message: u64,
) -> Driven
where
    T::Error: core::fmt::Debug,
{
    if max_message != u64::MAX {
        ws.set_max_message_size(max_message);
    }
    let mut tracker = Tracker {
        max: max_message,
        ..Tracker::default()
    };
    let mut msg = vec![0u8; msg_size];
    let mut calls = 0usize;
    let limit = 2 * input_len + 16;
    let mut protocol_error = None;
    // After read_message refused to start inside a message, finish it with read().
    let mut resume_with_read = false;
    // The application's own frames (Sending::Frames outside echo mode).
    let streaming = sending == Sending::Frames && mode != 2;
    let mut streamed = 0usize;
    let mut owed: Vec<Vec<u8>> = Vec::new();
    // The latest ping that arrived inside one of our frames, not answered yet.
    let mut waiting: Option<Vec<u8>> = None;
    let end = loop {
        calls += 1;
        assert!(calls <= limit, "the read loop does not terminate");
        // Mode 3 mixes the ways of reading, but read_message only between messages: after
        // read() has handed out part of a message, read_message refuses to start inside
        // it (MessageInProgress).
        let which = match mode {
            _ if resume_with_read => 0,
            3 if tracker.in_message() && calls % 3 == 1 => 0,
            3 => (calls % 3) as u8,
            m => m,
        };
        let open_before = ws.writer().frame_remaining() > 0;
        let result: Result<Vec<Ev>, Error<T::Error>> = match which {
            0 => ws.read().map(|e| vec![own(e)]),
            1 => ws.read_message(&mut msg).map(|m| match m {
                Message::Text(t) => vec![Ev::Data(MessageKind::Text, true, true, t.into())],
                Message::Binary(b) => vec![Ev::Data(MessageKind::Binary, true, true, b.into())],
                Message::Ping(p) => vec![Ev::Ping(p.into())],
                Message::Pong(p) => vec![Ev::Pong(p.into())],
                Message::Close(c) => vec![Ev::Close(c.map(|c| (c.code.0, c.reason.into())))],
            }),
            _ => ws.read_split().and_then(|(event, mut writer)| {
                if let Event::Data {
                    kind,
                    last,
                    payload,
                    frame_remaining,
                    frame_fin,
                    ..
                } = event
                {
                    // Only in echo mode: mixed modes would echo half a message.
                    if mode == 2 && sending == Sending::Frames && kind == MessageKind::Binary {
                        writer.relay(kind, payload, frame_remaining, frame_fin)?;
                    } else if mode == 2 {
                        writer.send_fragment(kind, payload, last)?;
                    }
                }
                Ok(vec![own(event)])
            }),
        };
        if let Ok(events) = &result {
            for e in events {
                match e {
                    Ev::Ping(p) if open_before => waiting = Some(p.clone()),
                    Ev::Ping(p) => owed.push(p.clone()),
                    // The close takes the place of a waiting pong.
                    Ev::Close(_) => waiting = None,
                    _ => {}
                }
            }
        }
        if streaming
            && !ws.is_closed()
            && stream_some(ws, &mut streamed, false).expect("an open connection takes data")
        {
            owed.extend(waiting.take());
        }
        match result {
            Ok(events) => {
                for e in events {
                    if matches!(e, Ev::Data(_, _, true, _)) {
                        resume_with_read = false;
                    }
                    tracker.push(e);
                }
                if tracker.closed {
                    assert!(ws.is_closed(), "closed by the peer but not closed");
                    break None;
                }
                assert!(!ws.is_closed(), "an event from a closed connection");
            }
            Err(Error::Io(_)) => {
                // A read timeout keeps the connection open.
                assert!(!ws.is_closed(), "a timeout closed the connection");
                if which == 1 {
                    // An interrupted read_message keeps its progress for the next
                    // read_message; a read() in between gives that part up.
                    tracker.lost_start = true;
                }
            }
            Err(Error::MessageInProgress) => {
                assert!(!ws.is_closed(), "MessageInProgress closed the connection");
                assert!(
                    tracker.in_message() || tracker.lost_start,
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
    let mut open_at_end = ws.writer().frame_remaining() > 0;
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
        tracker,
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
/// protocol error.
fn check_output(frames: &[u8], peer: Role, driven: &Driven) {
    let run = run_receiver(peer, frames, &[], usize::MAX, u64::MAX);
    assert_eq!(run.error, None, "the driver wrote an invalid frame stream");
    let log = &run.log;
    // The last event, the open message's bytes (logged at the end) aside.
    let last = log
        .iter()
        .rev()
        .find(|e| !matches!(e, Ev::Data(_, true, false, _)));
    if driven.open_at_end {
        // Failed inside one of our frames: no close frame can follow it.
        assert!(
            !log.iter().any(|e| matches!(e, Ev::Close(_))),
            "a close frame inside or after a frame left open"
        );
    } else if let Some(p) = driven.protocol_error {
        let want = Ev::Close(Some((p.close_code().0, String::new())));
        assert_eq!(last, Some(&want), "no close frame with the error's code");
    }
    if driven.end.is_none() {
        // The peer closed: its close was echoed.
        assert!(
            matches!(last, Some(Ev::Close(_))),
            "the peer's close was not echoed"
        );
    }
    let pongs: Vec<&Vec<u8>> = log
        .iter()
        .filter_map(|e| match e {
            Ev::Pong(p) => Some(p),
            _ => None,
        })
        .collect();
    let pings: Vec<&Vec<u8>> = driven.tracker.pings.iter().collect();
    let streamed = driven.sending == Sending::Frames && driven.mode != 2;
    if let Some(owed) = &driven.owed {
        let owed: Vec<&Vec<u8>> = owed.iter().collect();
        assert_eq!(pongs, owed, "pongs do not answer the pings as owed");
    }
    if streamed {
        // Our own frames arrive whole and intact (the last perhaps cut by a failure).
        let own: Vec<u8> = (0..STREAMED_LEN).map(streamed_byte).collect();
        for e in log {
            match e {
                Ev::Data(MessageKind::Binary, true, true, data) => {
                    assert!(data == &own, "a streamed frame arrived changed");
                }
                Ev::Data(MessageKind::Binary, true, false, data) => {
                    assert!(own.starts_with(data), "a streamed frame arrived changed");
                }
                Ev::Data(..) => std::panic!("a message the application did not send"),
                _ => {}
            }
        }
    } else if driven.mode == 0 || driven.mode == 2 {
        assert_eq!(pongs, pings, "pongs do not answer the pings");
    }
    if driven.mode == 2 {
        let sent: Vec<&Ev> = log.iter().filter(|e| matches!(e, Ev::Data(..))).collect();
        let read: Vec<&Ev> = driven
            .tracker
            .log
            .iter()
            .filter(|e| matches!(e, Ev::Data(..)))
            .collect();
        // The echo holds every whole message read (and perhaps the open one's start).
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

/// The server: `Incoming::read`, then `respond` or `accept`, then a read loop.
pub fn blocking_server(data: &[u8]) {
    let input = Input::parse(data);
    let rx_size = RX_SIZES[usize::from(input.opts & 7)];
    let tx_size = TX_SIZES[usize::from(input.opts >> 3) & 3];
    let mode = (input.opts >> 5) & 3;
    let msg_size = MSG_SIZES[usize::from(input.config & 3)];
    let mut wire = Wire::new(input.stream, input.chunks);
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let incoming = match Incoming::read(&mut wire, &mut rx) {
        Ok(incoming) => incoming,
        Err(Error::Request(e)) => {
            let status = format!("HTTP/1.1 {} ", e.status());
            assert!(wire.output.starts_with(status.as_bytes()), "no refusal");
            return;
        }
        Err(Error::Eof | Error::Io(_)) => return,
        Err(e) => panic!("Incoming::read: {e:?}"),
    };
    let request = incoming.request();
    let _ = (request.method(), request.path(), request.origin());
    if !request.is_upgrade() {
        let _ = incoming.respond(200, &[("Content-Type", "text/plain")], b"hello");
        assert!(wire.output.starts_with(b"HTTP/1.1 200 OK\r\n"));
        return;
    }
    let protocol = request.offers_protocol("chat").then_some("chat");
    let mut ws = match incoming.accept(&mut tx, protocol) {
        Ok(ws) => ws,
        Err(Error::Request(e)) => {
            let status = format!("HTTP/1.1 {} ", e.status());
            assert!(wire.output.starts_with(status.as_bytes()), "no refusal");
            return;
        }
        // The 101 response with a subprotocol does not fit the smallest buffer.
        Err(Error::Response(WriteError::BufferTooSmall)) => {
            assert!(tx_size < 160);
            return;
        }
        Err(e) => panic!("accept: {e:?}"),
    };
    assert_eq!(ws.role(), Role::Server);
    let max = MAX_MESSAGES[usize::from(input.config >> 2)];
    let driven = drive(
        &mut ws,
        mode,
        sending(input.opts),
        msg_size,
        input.stream.len(),
        max,
    );
    let head = wire
        .output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a 101 response")
        + 4;
    assert!(wire.output.starts_with(b"HTTP/1.1 101 "));
    check_output(&wire.output[head..], Role::Client, &driven);
}

/// The client: `blocking::connect`, then a read loop.
pub fn blocking_client(data: &[u8]) {
    let input = Input::parse(data);
    let rx_size = RX_SIZES[usize::from(input.opts & 7)];
    let tx_size = [256, 263, 512, 1024][usize::from(input.opts >> 3) & 3];
    let mode = (input.opts >> 5) & 3;
    let msg_size = MSG_SIZES[usize::from(input.config & 3)];
    let request = client_request(input.opts);
    let mut wire = Wire::new(input.stream, input.chunks);
    let mut rx = vec![0u8; rx_size];
    let mut tx = vec![0u8; tx_size];
    let connected = blocking::connect(
        &mut wire,
        &mut rx,
        &mut tx,
        &request,
        TestMask(CLIENT_MASK_SEED),
    );
    let (mut ws, protocol) = match connected {
        Ok(c) => c,
        Err(Error::Handshake(_) | Error::Eof | Error::Io(_)) => return,
        Err(e) => panic!("connect: {e:?}"),
    };
    assert_eq!(ws.role(), Role::Client);
    if let Some(i) = protocol {
        assert!(i < request.protocols.len());
    }
    let max = MAX_MESSAGES[usize::from(input.config >> 2)];
    let driven = drive(
        &mut ws,
        mode,
        sending(input.opts),
        msg_size,
        input.stream.len(),
        max,
    );
    let head = wire
        .output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request")
        + 4;
    check_output(&wire.output[head..], Role::Server, &driven);
}

/// A frame as `sender` sends it (masked with `key` for a client).
pub fn frame(sender: Role, fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mask = (sender == Role::Client).then_some(key);
    let header = FrameHeader {
        fin,
        opcode,
        mask,
        len: payload.len() as u64,
    };
    let mut out = header.emit().as_bytes().to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}
