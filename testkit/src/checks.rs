//! Whole conversations, checked end to end, `no_std` and without allocation: the same
//! functions run in host tests and on a microcontroller (under QEMU), over buffers the
//! caller gives (a `static` [`Buffers`] on a target).
//!
//! ```ignore
//! static mut BUFS: Buffers = Buffers::new();
//! let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFS) }; // or a &'static mut from a cell
//! for cfg in Config::matrix() {
//!     checks::server_echo_conversation(b, &cfg)?;
//! }
//! ```
//!
//! Each check returns `Err` with what went wrong; none panics on a failed check (an
//! internal index may, on buffers smaller than [`Buffers::new`] gives). With
//! [`Config::faults`], the transports inject timeouts, interruptions, short reads and
//! short writes at random points chosen by the seed, and each interrupted call is made
//! again, as ws13 asks.
//!
//! Two lists name them, for runners that report check by check: [`CONVERSATIONS`], whole
//! conversations for one [`Config`] ([`all`] runs them), and [`PARTS`], the crate's parts
//! one at a time (handshakes, frame headers, masking, UTF-8, close codes), which need no
//! configuration. With feature `async`, `asynch` holds the pieces of a conversation of
//! ws13's async driver, for the tasks of an executor to run.

#[cfg(feature = "async")]
pub mod asynch;
mod parts;

pub use parts::*;

use ws13::blocking::{Connecting, Incoming, Ready, WebSocket};
use ws13::frame::OpCode;
use ws13::handshake::client::ResponseParser;
use ws13::handshake::server::{write_accept, RequestParser};
use ws13::proto::Role;
use ws13::{CloseCode, CloseFrame, Error, Event, Message, MessageKind, ProtocolError, Status};

use crate::drive::{EchoClient, EchoMode, EchoServer, Failure, ECHO_PROTOCOL, ECHO_REQUEST};
use crate::pipe::Duplex;
use crate::rng::TestMask;
use crate::script::{Faults, Script};
use crate::storage::{Fixed, Storage};
use crate::wire::{expect_messages, write_frame, Frames, Keys};
use crate::{ensure, retry};

/// A check's outcome.
pub type Outcome = Result<(), &'static str>;

/// Receive and transmit buffers of the largest size a check uses.
pub const MAX_CONN_BUFFER: usize = 512;
/// The largest script or transcript.
pub const STREAM: usize = 4096;

/// Every buffer a check uses, in one value (about 17 KiB) that can be a `static`.
#[derive(Debug)]
pub struct Buffers {
    /// The connection under test: receive buffer.
    pub rx: [u8; MAX_CONN_BUFFER],
    /// The connection under test: transmit buffer.
    pub tx: [u8; MAX_CONN_BUFFER],
    /// The peer, when it is a real connection too: receive buffer.
    pub peer_rx: [u8; MAX_CONN_BUFFER],
    /// The peer's transmit buffer.
    pub peer_tx: [u8; MAX_CONN_BUFFER],
    /// The peer's bytes, scripted; or one direction of an in-memory pipe.
    pub script: [u8; STREAM],
    /// What the connection wrote; or the pipe's other direction.
    pub out: [u8; STREAM],
    /// Messages: read whole, or being sent.
    pub msg: [u8; 1024],
    /// More message room: echoes, pieces.
    pub msg2: [u8; 1024],
    /// Joins fragments when transcripts are checked; builds requests.
    pub scratch: [u8; 2048],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Buffers {
            rx: [0; MAX_CONN_BUFFER],
            tx: [0; MAX_CONN_BUFFER],
            peer_rx: [0; MAX_CONN_BUFFER],
            peer_tx: [0; MAX_CONN_BUFFER],
            script: [0; STREAM],
            out: [0; STREAM],
            msg: [0; 1024],
            msg2: [0; 1024],
            scratch: [0; 2048],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// How a check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The most bytes one read or write of the transport moves.
    pub segment: usize,
    /// The receive buffer's size (from 200, for a client's 101 response, to
    /// [`MAX_CONN_BUFFER`]).
    pub rx: usize,
    /// The transmit buffer's size (from 256 to [`MAX_CONN_BUFFER`]: a 101 response with a
    /// subprotocol must fit).
    pub tx: usize,
    /// Seeds the faults, the masking keys and the echo's mode.
    pub seed: u64,
    /// Whether the transports inject timeouts, interruptions and short transfers.
    pub faults: bool,
}

impl Config {
    /// `segment`-byte transfers, 256-byte buffers, no faults.
    pub const fn new(segment: usize) -> Self {
        Config {
            segment,
            rx: 256,
            tx: 256,
            seed: 1,
            faults: false,
        }
    }

    /// The same with faults injected from `seed`.
    pub const fn with_faults(mut self, seed: u64) -> Self {
        self.faults = true;
        self.seed = seed;
        self
    }

    /// A small matrix: segments of 1, 3, 7, 64 and 4096 bytes without faults, then the
    /// same with faults from seeds 1 to 5.
    pub fn matrix() -> impl Iterator<Item = Config> {
        let segments = [1usize, 3, 7, 64, 4096];
        let plain = segments.into_iter().map(Config::new);
        let faulty = segments
            .into_iter()
            .zip(1u64..)
            .map(|(s, seed)| Config::new(s).with_faults(seed));
        plain.chain(faulty)
    }

    /// Faults from `seed`, over a segment size and buffer sizes that the seed also
    /// picks: segments of 1 to 4096 bytes, receive buffers of 200 to 512 bytes, transmit
    /// buffers of 256 to 512.
    pub const fn varied(seed: u64) -> Self {
        const SEGMENTS: [usize; 7] = [1, 2, 5, 13, 64, 300, 4096];
        const RX: [usize; 4] = [200, 233, 256, 512];
        const TX: [usize; 3] = [256, 300, 512];
        let mut cfg = Config::new(SEGMENTS[(seed % 7) as usize]).with_faults(seed);
        cfg.rx = RX[((seed / 7) % 4) as usize];
        cfg.tx = TX[((seed / 3) % 3) as usize];
        cfg
    }

    /// The faults of reads and of writes alike.
    fn transfers(&self) -> Faults<'static> {
        let f = if self.faults {
            Faults::random(150, 100, 300)
        } else {
            Faults::NONE
        };
        f.max_chunk(self.segment)
    }

    fn flushes(&self) -> Faults<'static> {
        if self.faults {
            Faults::random(100, 100, 0)
        } else {
            Faults::NONE
        }
    }

    fn script<'a>(
        &self,
        input: &'a [u8],
        out: &'a mut [u8],
    ) -> Script<'static, &'a [u8], Fixed<'a>> {
        Script::new(input, Fixed::new(out))
            .reads(self.transfers())
            .writes(self.transfers())
            .flushes(self.flushes())
            .seed(self.seed)
    }

    fn mode(&self) -> EchoMode {
        if self.seed.is_multiple_of(2) {
            EchoMode::Frames
        } else {
            EchoMode::Fragments
        }
    }
}

/// 300 bytes: a payload with a 16-bit length, larger than a 256-byte receive buffer.
fn big() -> [u8; 300] {
    core::array::from_fn(|i| (i * 31 + 7) as u8)
}

fn failed<E>(e: Failure<E>) -> &'static str {
    match e {
        Failure::Check(what) => what,
        Failure::Ws(Error::Protocol(_)) => "a protocol error",
        Failure::Ws(Error::Io(_)) => "a transport error",
        Failure::Ws(Error::Eof) => "the transport ended",
        Failure::Ws(Error::Closed) => "the connection is closed",
        Failure::Ws(Error::Handshake(_)) => "the client refused the response",
        Failure::Ws(Error::Request(_)) => "the server refused the request",
        Failure::Ws(Error::Send(_)) => "a send was refused",
        Failure::Ws(Error::BufferTooSmall) => "a buffer too small",
        Failure::Ws(_) => "a ws13 error",
    }
}

fn ws_failed<E>(e: Error<E>) -> &'static str {
    failed(Failure::Ws(e))
}

/// Writes the request an [`EchoClient`]-like client with masks `TestMask(seed)` sends
/// into `buf`; returns its length, its key and the mask source as the client has it
/// after the nonce.
fn client_request(seed: u32, buf: &mut [u8]) -> Result<(usize, [u8; 24], TestMask), &'static str> {
    let mut masks = TestMask(seed);
    let mut nonce = [0u8; 16];
    ws13::MaskSource::fill(&mut masks, &mut nonce);
    let (len, key) = ECHO_REQUEST
        .write(buf, nonce)
        .map_err(|_| "the request does not fit")?;
    Ok((len, key, masks))
}

/// A browser-like client's frames against ws13's server ([`EchoServer`], echoing in the
/// mode the seed picks): text, a 300-byte binary, a fragmented text message split
/// inside a character with a ping between its fragments, a ping, an empty binary, and a
/// close. The server must choose [`ECHO_PROTOCOL`], echo every message whole, answer
/// each ping, and echo the close.
pub fn server_echo_conversation(b: &mut Buffers, cfg: &Config) -> Outcome {
    let (len, key, masks) = client_request(cfg.seed as u32, &mut b.scratch)?;
    let big = big();
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::Test(masks));
    script
        .bytes(&b.scratch[..len])
        .text("Hello")
        .binary(&big)
        .frame(false, OpCode::Text, b"frag")
        .ping(b"mid")
        .frame(false, OpCode::Continuation, b"ment \xc3")
        .frame(true, OpCode::Continuation, b"\xa9!")
        .ping(b"ping!")
        .binary(b"")
        .close(1000, "bye");
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut server = EchoServer::new(
        &mut io,
        &mut b.rx[..cfg.rx],
        &mut b.tx[..cfg.tx],
        &mut b.msg,
        cfg.mode(),
    );
    let mut steps = 0;
    while !server.step().map_err(failed)? {
        steps += 1;
        ensure!(steps < 1_000_000, "the server makes no progress");
    }
    ensure!(server.messages == 4, "the server did not see four messages");
    ensure!(io.unread() == 0, "the server left input unread");
    let out = io.into_output().into_bytes();
    let accepted = match ResponseParser::new(&key).parse(out, ECHO_REQUEST.protocols) {
        Ok(Status::Complete(a)) => a,
        _ => return Err("the 101 response is not what the client expects"),
    };
    ensure!(
        accepted.protocol == Some(1),
        "the server did not choose ws13.echo"
    );
    expect_messages(
        Role::Server,
        &mut out[accepted.head_len..],
        &mut b.scratch,
        &[
            Message::Text("Hello"),
            Message::Binary(&big),
            Message::Pong(b"mid"),
            Message::Text("fragment é!"),
            Message::Pong(b"ping!"),
            Message::Binary(b""),
            Message::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "",
            })),
        ],
    )
}

/// The 101 a server sends to the request of a client with masks `TestMask(seed)`,
/// choosing [`ECHO_PROTOCOL`], appended to `script`; returns the request's length (in
/// `scratch`) and the client's masks after its nonce.
fn server_answer<S: Storage>(
    script: &mut Frames<S>,
    scratch: &mut [u8],
    seed: u32,
) -> Result<(usize, TestMask), &'static str> {
    let (len, _, masks) = client_request(seed, scratch)?;
    let mut parser = RequestParser::new();
    ensure!(
        parser.parse(&scratch[..len]) == Ok(Status::Complete(len)),
        "the request does not parse"
    );
    let request = parser.request(&scratch[..len]);
    let mut head = [0u8; 256];
    let n = write_accept(&mut head, &request, Some(ECHO_PROTOCOL), &[])
        .map_err(|_| "the 101 does not fit")?;
    script.bytes(&head[..n]);
    Ok((len, masks))
}

/// Checks a client's output: its request exactly, then frames masked with the keys
/// that come next from its masks, in order; returns where the frames start and how many
/// there are.
fn client_frames(
    out: &[u8],
    request: &[u8],
    mut masks: TestMask,
) -> Result<(usize, usize), &'static str> {
    ensure!(out.starts_with(request), "the client's request differs");
    let mut pos = request.len();
    let mut frames = 0;
    while pos < out.len() {
        let Ok(Status::Complete((h, n))) = ws13::frame::FrameHeader::parse(&out[pos..]) else {
            return Err("the client wrote an invalid or cut frame");
        };
        ensure!(
            h.mask == Some(ws13::MaskSource::next_key(&mut masks)),
            "a frame's mask is not the next key"
        );
        pos += n + h.len as usize;
        frames += 1;
    }
    ensure!(pos == out.len(), "the client's last frame is cut");
    Ok((request.len(), frames))
}

/// Checks all a scripted client wrote (see [`client_frames`]) against `expected`;
/// returns how many frames it wrote.
fn expect_client_output(
    io: ScriptIo<'_>,
    request: &[u8],
    masks: TestMask,
    scratch: &mut [u8],
    expected: &[Message<'_>],
) -> Result<usize, &'static str> {
    let out = io.into_output().into_bytes();
    let (start, frames) = client_frames(out, request, masks)?;
    expect_messages(Role::Client, &mut out[start..], scratch, expected)?;
    Ok(frames)
}

/// ws13's client against a scripted server: the handshake (choosing [`ECHO_PROTOCOL`]),
/// a text message sent, then text, a 300-byte binary, a fragmented text with a ping
/// between its fragments, and a ping received with `read_message`, then the server's
/// close. The client must read every message whole, answer both pings, echo the close,
/// and mask every frame with the next key of its source.
pub fn client_conversation(b: &mut Buffers, cfg: &Config) -> Outcome {
    let seed = cfg.seed as u32 ^ 0x00C1_1E47;
    let big = big();
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::None);
    let (req_len, masks) = server_answer(&mut script, &mut b.scratch, seed)?;
    script
        .text("Hello client")
        .binary(&big)
        .frame(false, OpCode::Text, b"fragm")
        .ping(b"mid")
        .frame(false, OpCode::Continuation, b"ent \xe2\x9c")
        .frame(true, OpCode::Continuation, b"\x93")
        .ping(b"ping!")
        .close(1001, "going away");
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut ws = connect(&mut io, &mut b.rx[..cfg.rx], &mut b.tx[..cfg.tx], seed)?;
    retry!(ws.send(Message::Text("Hello server"))).map_err(ws_failed)?;
    let msg = &mut b.msg;
    let expected = [
        Message::Text("Hello client"),
        Message::Binary(&big),
        Message::Text("fragment ✓"),
        Message::Ping(b"ping!"),
    ];
    for want in expected {
        let got = retry!(ws.read_message(msg)).map_err(ws_failed)?;
        ensure!(got == want, "the client read a different message");
    }
    match retry!(ws.read_message(msg)).map_err(ws_failed)? {
        Message::Close(Some(c)) if c.code == CloseCode::GOING_AWAY && c.reason == "going away" => {}
        _ => return Err("the client did not read the server's close"),
    }
    ensure!(ws.is_closed(), "closed by the peer, but not closed");
    ensure!(
        matches!(ws.read_message(msg), Err(Error::Closed)),
        "a read after the close"
    );
    retry!(ws.flush()).map_err(ws_failed)?;
    ensure!(io.unread() == 0, "the client left input unread");
    expect_client_output(
        io,
        &b.scratch[..req_len],
        masks,
        &mut b.msg2,
        &[
            Message::Text("Hello server"),
            Message::Pong(b"mid"),
            Message::Pong(b"ping!"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "",
            })),
        ],
    )?;
    Ok(())
}

/// The scripted transport of a check, and the connection under test as a client over it.
type ScriptIo<'b> = Script<'static, &'b [u8], Fixed<'b>>;
type Client<'a, 'b> = WebSocket<'a, &'a mut ScriptIo<'b>, TestMask>;

/// Connects a client with masks `TestMask(seed)` over `io` (every call a timeout
/// interrupts made again), to a server that must choose [`ECHO_PROTOCOL`].
fn connect<'a, 'b>(
    io: &'a mut ScriptIo<'b>,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    seed: u32,
) -> Result<Client<'a, 'b>, &'static str> {
    let mut connecting =
        Connecting::new(io, rx, tx, &ECHO_REQUEST, TestMask(seed)).map_err(ws_failed)?;
    let protocol = retry!(connecting.handshake()).map_err(ws_failed)?;
    ensure!(
        protocol == Some(1),
        "the client did not see ws13.echo chosen"
    );
    let (ws, _) = connecting.finish().map_err(ws_failed)?;
    Ok(ws)
}

/// A 1000-byte payload, larger than either buffer.
fn long_payload(i: usize) -> u8 {
    (i * 13 + 1) as u8
}

/// ws13's client streams one 1000-byte frame in 97-byte chunks (`begin_frame`, then
/// `write_payload`); a ping that arrives inside the frame is shown at once and answered
/// after it; then the server closes. The frame must go out whole as one frame, the pong
/// after it, then the close's echo.
pub fn client_streams_a_frame(b: &mut Buffers, cfg: &Config) -> Outcome {
    let seed = cfg.seed as u32 ^ 0x5157_EA11;
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::None);
    let (req_len, masks) = server_answer(&mut script, &mut b.scratch, seed)?;
    script.ping(b"mid-frame").close(1000, "");
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut ws = connect(&mut io, &mut b.rx[..cfg.rx], &mut b.tx[..cfg.tx], seed)?;
    retry!(ws.writer().begin_frame(MessageKind::Binary, 1000, true)).map_err(ws_failed)?;
    let mut chunk = [0u8; 97];
    let mut sent = 0;
    while sent < 1000 {
        let n = chunk.len().min(1000 - sent);
        for (i, byte) in chunk[..n].iter_mut().enumerate() {
            *byte = long_payload(sent + i);
        }
        retry!(ws.writer().write_payload(&chunk[..n])).map_err(ws_failed)?;
        sent += n;
        if sent == 291 {
            let event = retry!(ws.read()).map_err(ws_failed)?;
            ensure!(
                event == Event::Ping(b"mid-frame"),
                "the ping did not arrive inside the frame"
            );
        }
    }
    ensure!(
        ws.connection().frame_remaining() == 0,
        "the frame is not complete"
    );
    match retry!(ws.read()).map_err(ws_failed)? {
        Event::Close(Some(c)) if c.code == CloseCode::NORMAL => {}
        _ => return Err("the client did not read the server's close"),
    }
    retry!(ws.flush()).map_err(ws_failed)?;
    let expected: [u8; 1000] = core::array::from_fn(long_payload);
    let frames = expect_client_output(
        io,
        &b.scratch[..req_len],
        masks,
        &mut b.msg2,
        &[
            Message::Binary(&expected),
            Message::Pong(b"mid-frame"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "",
            })),
        ],
    )?;
    ensure!(frames == 3, "not one data frame, a pong and a close");
    Ok(())
}

/// Message sizes of [`loopback_echo`]: every length encoding, and messages larger than
/// the buffers and the pipe.
pub const LOOPBACK_SIZES: [usize; 7] = [0, 1, 125, 126, 300, 700, 1000];

/// The bytes each direction of [`loopback_echo`]'s pipe holds.
pub const LOOPBACK_PIPE: usize = 1024;

/// ws13's client ([`EchoClient`]) and server ([`EchoServer`]) in one loop over an
/// in-memory pipe holding [`LOOPBACK_PIPE`] bytes each way and moving at most
/// `cfg.segment` bytes a call, both ends strict (they panic if read or written when not
/// ready) behind [`Ready`]: the handshake, messages of [`LOOPBACK_SIZES`] each echoed and
/// checked, and the close handshake, with no call ever blocking.
///
/// A connection with output waiting reads nothing until it is written, so a message
/// must fit what is in flight (the client's transmit buffer and the pipe both ways):
/// larger ones leave both peers waiting to write.
pub fn loopback_echo(b: &mut Buffers, cfg: &Config) -> Outcome {
    let duplex = Duplex::new(&mut b.script[..LOOPBACK_PIPE], &mut b.out[..LOOPBACK_PIPE]);
    let (client_end, server_end) = duplex.ends();
    let mut client = EchoClient::new(
        Ready(client_end.strict().max_io(cfg.segment)),
        &mut b.rx[..cfg.rx],
        &mut b.tx[..cfg.tx],
        TestMask(cfg.seed as u32),
        &LOOPBACK_SIZES,
        cfg.seed,
        &mut b.msg,
        &mut b.msg2,
    )
    .map_err(ws_failed)?;
    let mut server = EchoServer::new(
        Ready(server_end.strict().max_io(cfg.segment)),
        &mut b.peer_rx[..cfg.rx],
        &mut b.peer_tx[..cfg.tx],
        &mut b.scratch,
        cfg.mode(),
    );
    let (mut client_done, mut server_done) = (false, false);
    let mut turns = 0;
    while !(client_done && server_done) {
        turns += 1;
        ensure!(turns < 200_000, "no end after 200000 turns");
        if !client_done {
            client_done = client.step().map_err(failed)?;
        }
        if !server_done {
            server_done = server.step().map_err(failed)?;
        }
    }
    ensure!(
        client.echoed() == LOOPBACK_SIZES.len(),
        "not every message echoed"
    );
    ensure!(
        server.messages == LOOPBACK_SIZES.len(),
        "the server saw other messages"
    );
    ensure!(client.protocol == Some(1), "ws13.echo was not chosen");
    Ok(())
}

/// How [`server_fails_with`]'s client breaks the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A 2000-byte text frame that stops being UTF-8 at byte 100: 1007, at once.
    InvalidUtf8,
    /// A frame with a reserved bit set: 1002.
    ReservedBit,
    /// An unmasked frame: 1002.
    Unmasked,
}

/// [`server_fails_with`]: invalid UTF-8 (`utf8`), or else a reserved bit.
pub fn server_fails(b: &mut Buffers, cfg: &Config, utf8: bool) -> Outcome {
    let violation = if utf8 {
        Violation::InvalidUtf8
    } else {
        Violation::ReservedBit
    };
    server_fails_with(b, cfg, violation)
}

/// A client breaks the protocol as `violation` says: ws13's server must fail the
/// connection with the violation's close code, write its close frame and nothing else
/// after the 101, and refuse every later call with `Closed`. Invalid UTF-8 fails at
/// once: nothing is read beyond the receive buffer that brought in the bad byte.
pub fn server_fails_with(b: &mut Buffers, cfg: &Config, violation: Violation) -> Outcome {
    let (len, _, masks) = client_request(cfg.seed as u32, &mut b.scratch)?;
    let mut bad = [b'a'; 2000];
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::Test(masks));
    script.bytes(&b.scratch[..len]);
    let (want, code) = match violation {
        Violation::InvalidUtf8 => {
            bad[100] = 0xC0;
            script.frame(true, OpCode::Text, &bad);
            (ProtocolError::InvalidUtf8, 1007)
        }
        Violation::ReservedBit => {
            script.frame(true, OpCode::Text, b"x");
            let start = script.storage().bytes().len() - 7;
            script.storage().bytes_mut()[start] |= 0x40;
            let reserved = ProtocolError::Header(ws13::frame::HeaderError::ReservedBits);
            (reserved, 1002)
        }
        Violation::Unmasked => {
            let mut frame = [0u8; 16];
            let n = write_frame(&mut frame, true, OpCode::Text, None, b"unmasked")
                .ok_or("the frame does not fit")?;
            script.bytes(&frame[..n]);
            (ProtocolError::UnmaskedFrame, 1002)
        }
    };
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut incoming = Incoming::new(&mut io, &mut b.rx[..cfg.rx]);
    retry!(incoming.read()).map_err(ws_failed)?;
    let mut ws = incoming
        .accept(&mut b.tx[..cfg.tx], None)
        .map_err(ws_failed)?;
    let error = loop {
        match retry!(ws.read()) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    ensure!(
        matches!(error, Error::Protocol(e) if e == want),
        "not the protocol error expected"
    );
    ensure!(ws.is_closed(), "failed, but not closed");
    ensure!(
        matches!(ws.read(), Err(Error::Closed)),
        "a read after the failure"
    );
    // A timeout may have kept the close frame in the buffer: it still goes out.
    retry!(ws.flush()).map_err(ws_failed)?;
    if violation == Violation::InvalidUtf8 {
        ensure!(
            io.unread() + 101 + cfg.rx >= bad.len(),
            "read on past the invalid byte"
        );
    }
    let out = io.into_output().into_bytes();
    ensure!(out.starts_with(b"HTTP/1.1 101 "), "no 101 response");
    let head = crate::consts::head_len(out).ok_or("no end to the 101 response")?;
    expect_messages(
        Role::Server,
        &mut out[head..],
        &mut b.msg2,
        &[Message::Close(Some(CloseFrame {
            code: CloseCode(code),
            reason: "",
        }))],
    )
}

/// A server sends a masked frame: ws13's client must fail with 1002 and write its
/// close frame after the text it sent.
pub fn client_fails(b: &mut Buffers, cfg: &Config) -> Outcome {
    let seed = cfg.seed as u32 ^ 0xFA11;
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::None);
    let (req_len, masks) = server_answer(&mut script, &mut b.scratch, seed)?;
    let mut masked = Frames::new(Fixed::new(&mut b.msg), Keys::Fixed([1, 2, 3, 4]));
    masked.text("masked");
    script.bytes(masked.finish()?);
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut ws = connect(&mut io, &mut b.rx[..cfg.rx], &mut b.tx[..cfg.tx], seed)?;
    retry!(ws.send(Message::Text("before"))).map_err(ws_failed)?;
    let error = retry!(ws.read_message(&mut b.msg2)).err();
    ensure!(
        matches!(error, Some(Error::Protocol(ProtocolError::MaskedFrame))),
        "not a masked-frame error"
    );
    retry!(ws.flush()).map_err(ws_failed)?;
    ensure!(
        matches!(ws.read_message(&mut b.msg2), Err(Error::Closed)),
        "a read after the failure"
    );
    ensure!(
        matches!(ws.send(Message::Text("after")), Err(Error::Closed)),
        "a send after the failure"
    );
    expect_client_output(
        io,
        &b.scratch[..req_len],
        masks,
        &mut b.msg2,
        &[
            Message::Text("before"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::PROTOCOL_ERROR,
                reason: "",
            })),
        ],
    )?;
    Ok(())
}

/// ws13's client starts the close handshake: it sends a binary message in two
/// fragments, then closes; `close` sends its close frame and reads on, discarding the
/// scripted server's last text and a ping (no pong may follow a close), until the
/// server's close. The client's output must be exactly the two fragments and its close.
pub fn client_closes(b: &mut Buffers, cfg: &Config) -> Outcome {
    let seed = cfg.seed as u32 ^ 0x00C1_05E5;
    let mut script = Frames::new(Fixed::new(&mut b.script), Keys::None);
    let (req_len, masks) = server_answer(&mut script, &mut b.scratch, seed)?;
    script.text("last words").ping(b"late").close(1000, "");
    let input = script.finish()?;
    let mut io = cfg.script(input, &mut b.out);
    let mut connecting = Connecting::new(
        &mut io,
        &mut b.rx[..cfg.rx],
        &mut b.tx[..cfg.tx],
        &ECHO_REQUEST,
        TestMask(seed),
    )
    .map_err(ws_failed)?;
    retry!(connecting.handshake()).map_err(ws_failed)?;
    let (mut ws, _) = connecting.finish().map_err(ws_failed)?;
    let binary = MessageKind::Binary;
    retry!(ws.writer().write_fragment(binary, b"\x01\x02", false)).map_err(ws_failed)?;
    retry!(ws.writer().write_fragment(binary, b"\x03", true)).map_err(ws_failed)?;
    retry!(ws.flush()).map_err(ws_failed)?;
    retry!(ws.close(CloseCode::NORMAL, "done")).map_err(ws_failed)?;
    ensure!(
        ws.is_closed(),
        "the close handshake is over, but not closed"
    );
    ensure!(
        matches!(ws.read(), Err(Error::Closed)),
        "a read after the close"
    );
    ensure!(io.unread() == 0, "the client left input unread");
    let out = io.into_output().into_bytes();
    let (start, frames) = client_frames(out, &b.scratch[..req_len], masks)?;
    ensure!(frames == 3, "not two fragments and a close");
    expect_messages(
        Role::Client,
        &mut out[start..],
        &mut b.msg2,
        &[
            Message::Binary(b"\x01\x02\x03"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "done",
            })),
        ],
    )
}

/// The most steps [`client_server_conversation`]'s server takes.
const MAX_STEPS: u32 = 100_000;

/// ws13's client, written as a program of blocking calls, against ws13's server
/// ([`EchoServer`]) over an in-memory pipe moving at most `cfg.segment` bytes a call, in
/// one thread: whenever a call of the client's would block (it times out), the server
/// takes a step, and the call is made again. The client sends text and a 300-byte
/// binary, a text message in two fragments with a ping between them, and a ping; it reads
/// each echo whole (`read_message` drops the pong that comes between the echoed
/// fragments) and the last pong, then closes.
pub fn client_server_conversation(b: &mut Buffers, cfg: &Config) -> Outcome {
    let duplex = Duplex::new(&mut b.script[..LOOPBACK_PIPE], &mut b.out[..LOOPBACK_PIPE]);
    let (client_end, server_end) = duplex.ends();
    let mut server = EchoServer::new(
        server_end.max_io(cfg.segment),
        &mut b.peer_rx[..cfg.rx],
        &mut b.peer_tx[..cfg.tx],
        &mut b.scratch,
        cfg.mode(),
    );
    let mut steps = 0;
    // The client's call, made again after each timeout, the server stepping in between.
    macro_rules! call {
        ($call:expr) => {
            loop {
                match $call {
                    Err(e) if e.is_timeout() => {
                        steps += 1;
                        ensure!(steps < MAX_STEPS, "the conversation makes no progress");
                        server.step().map_err(failed)?;
                    }
                    other => break other.map_err(ws_failed)?,
                }
            }
        };
    }
    let mut connecting = Connecting::new(
        client_end.max_io(cfg.segment),
        &mut b.rx[..cfg.rx],
        &mut b.tx[..cfg.tx],
        &ECHO_REQUEST,
        TestMask(cfg.seed as u32),
    )
    .map_err(ws_failed)?;
    let protocol = call!(connecting.handshake());
    ensure!(protocol == Some(1), "ws13.echo was not chosen");
    let (mut ws, _) = connecting.finish().map_err(ws_failed)?;
    let msg = &mut b.msg;
    let big = big();
    for message in [Message::Text("Hello"), Message::Binary(&big)] {
        call!(ws.send(message));
        ensure!(
            call!(ws.read_message(msg)) == message,
            "the echo differs from the message"
        );
    }
    let text = MessageKind::Text;
    call!(ws.writer().write_fragment(text, "κό".as_bytes(), false));
    call!(ws.write(Message::Ping(b"between")));
    call!(ws.writer().write_fragment(text, "σμε".as_bytes(), true));
    call!(ws.flush());
    ensure!(
        call!(ws.read_message(msg)) == Message::Text("κόσμε"),
        "the fragmented message's echo differs"
    );
    call!(ws.send(Message::Ping(b"are you there?")));
    ensure!(
        call!(ws.read_message(msg)) == Message::Pong(b"are you there?"),
        "not the pong"
    );
    call!(ws.close(CloseCode::NORMAL, "bye"));
    ensure!(
        ws.is_closed(),
        "the close handshake is over, but not closed"
    );
    while !server.step().map_err(failed)? {
        steps += 1;
        ensure!(steps < MAX_STEPS, "the server does not finish");
    }
    ensure!(server.messages == 3, "the server saw other messages");
    Ok(())
}

/// A whole-conversation check.
pub type Conversation = fn(&mut Buffers, &Config) -> Outcome;

/// Every whole-conversation check, with its name.
pub const CONVERSATIONS: [(&str, Conversation); 10] = [
    ("server_echo_conversation", server_echo_conversation),
    ("client_conversation", client_conversation),
    ("client_closes", client_closes),
    ("client_streams_a_frame", client_streams_a_frame),
    ("client_server_conversation", client_server_conversation),
    ("loopback_echo", loopback_echo),
    ("server_fails (UTF-8)", |b, c| {
        server_fails_with(b, c, Violation::InvalidUtf8)
    }),
    ("server_fails (reserved bit)", |b, c| {
        server_fails_with(b, c, Violation::ReservedBit)
    }),
    ("server_fails (unmasked frame)", |b, c| {
        server_fails_with(b, c, Violation::Unmasked)
    }),
    ("client_fails", client_fails),
];

/// Every conversation check ([`CONVERSATIONS`]), for one configuration; the first
/// failure names its check.
pub fn all(b: &mut Buffers, cfg: &Config) -> Result<(), (&'static str, &'static str)> {
    for (name, check) in CONVERSATIONS {
        check(b, cfg).map_err(|e| (name, e))?;
    }
    Ok(())
}

/// Every check of the crate's parts ([`PARTS`]); the first failure names its check.
pub fn all_parts(b: &mut Buffers) -> Result<(), (&'static str, &'static str)> {
    for (name, check) in PARTS {
        check(b).map_err(|e| (name, e))?;
    }
    Ok(())
}
