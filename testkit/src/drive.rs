//! Driving connections whose transports time out: the same call made again until it
//! goes through ([`retry!`](crate::retry)), and echo peers that never block, so that
//! many of them can be served from one loop ([`EchoServer`], [`EchoClient`]).

use embedded_io::{Read, Write};
use ws13::blocking::{Connecting, Incoming, WebSocket};
use ws13::handshake::client::ClientRequest;
use ws13::{CloseCode, Error, Event, MaskSource, Message, MessageKind};

use crate::rng::Rng;

/// How many timeouts in a row [`retry!`](crate::retry) makes the same call again before
/// giving up with the last one.
pub const MAX_RETRIES: u32 = 100_000;

/// Makes the same call again after each timeout (`Error::is_timeout`), as ws13 asks,
/// up to [`MAX_RETRIES`] times in a row; evaluates to the call's last result.
///
/// ```ignore
/// let event = retry!(ws.read())?;
/// ```
#[macro_export]
macro_rules! retry {
    ($call:expr) => {{
        let mut tries = 0u32;
        loop {
            match $call {
                Err(e) if e.is_timeout() && tries < $crate::drive::MAX_RETRIES => tries += 1,
                other => break other,
            }
        }
    }};
}

/// The subprotocol the echo peers agree on.
pub const ECHO_PROTOCOL: &str = "ws13.echo";

/// Why a step of an echo peer failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// ws13 returned an error (not a timeout).
    Ws(Error<E>),
    /// What came back is not what was sent, or the conversation broke a rule.
    Check(&'static str),
}

impl<E> From<Error<E>> for Failure<E> {
    fn from(e: Error<E>) -> Self {
        Failure::Ws(e)
    }
}

/// How an [`EchoServer`] sends back what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoMode {
    /// Each piece as a fragment (`write_fragment`), as a text echo must.
    Fragments,
    /// Frames as they came, one for one (the rule of `relay`: a frame started at the
    /// first piece of each received frame, then the payload).
    Frames,
}

/// A send interrupted by a timeout, to be made again with the same arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    Nothing,
    Fragment(MessageKind, usize, bool),
    Begin(MessageKind, u64, bool, usize),
    Payload(usize),
}

enum ServerState<'b, T> {
    Reading(Incoming<'b, T>, &'b mut [u8]),
    Open(WebSocket<'b, T>),
    Closing(WebSocket<'b, T>),
    Done(WebSocket<'b, T>),
    Gone,
}

/// A server that accepts an upgrade (choosing [`ECHO_PROTOCOL`] when offered) and echoes
/// every message back until the peer closes, stepping as far as its transport lets it
/// and returning at each timeout. Pieces are echoed as they arrive (copied out of the
/// receive buffer, so that a send a timeout interrupted can be made again later), so
/// messages of any size pass through.
pub struct EchoServer<'b, T> {
    state: ServerState<'b, T>,
    piece: &'b mut [u8],
    owed: Owed,
    mode: EchoMode,
    /// Data messages echoed whole.
    pub messages: usize,
}

impl<'b, T: Read + Write> EchoServer<'b, T> {
    /// A server reading its request into `rx`, sending from `tx`, copying pieces into
    /// `piece` (at least as long as `rx`).
    pub fn new(
        io: T,
        rx: &'b mut [u8],
        tx: &'b mut [u8],
        piece: &'b mut [u8],
        mode: EchoMode,
    ) -> Self {
        EchoServer {
            state: ServerState::Reading(Incoming::new(io, rx), tx),
            piece,
            owed: Owed::Nothing,
            mode,
            messages: 0,
        }
    }

    /// Whether the conversation is over: the peer's close came and its echo went out.
    pub fn is_done(&self) -> bool {
        matches!(self.state, ServerState::Done(_))
    }

    /// The connection, once the upgrade is accepted.
    pub fn websocket(&mut self) -> Option<&mut WebSocket<'b, T>> {
        match &mut self.state {
            ServerState::Open(ws) | ServerState::Closing(ws) | ServerState::Done(ws) => Some(ws),
            _ => None,
        }
    }

    /// Goes on as far as the transport allows: `Ok(true)` once the conversation is over,
    /// `Ok(false)` at a timeout (call again later).
    pub fn step(&mut self) -> Result<bool, Failure<T::Error>> {
        loop {
            match &mut self.state {
                ServerState::Reading(incoming, _) => {
                    let offers = match incoming.read() {
                        Ok(request) => request.offers_protocol(ECHO_PROTOCOL),
                        Err(e) if e.is_timeout() => return Ok(false),
                        Err(e) => return Err(e.into()),
                    };
                    let ServerState::Reading(incoming, tx) =
                        core::mem::replace(&mut self.state, ServerState::Gone)
                    else {
                        unreachable!()
                    };
                    let ws = incoming.accept(tx, offers.then_some(ECHO_PROTOCOL))?;
                    self.state = ServerState::Open(ws);
                }
                ServerState::Open(ws) => {
                    match pay(ws, &mut self.owed, self.piece) {
                        Ok(()) => {}
                        Err(e) if e.is_timeout() => return Ok(false),
                        Err(e) => return Err(e.into()),
                    }
                    let frame_open = ws.connection().frame_remaining() > 0;
                    let piece = match ws.read() {
                        Ok(Event::Data(piece)) => piece,
                        Ok(Event::Close(_)) => {
                            let ServerState::Open(ws) =
                                core::mem::replace(&mut self.state, ServerState::Gone)
                            else {
                                unreachable!()
                            };
                            self.state = ServerState::Closing(ws);
                            continue;
                        }
                        Ok(_) => continue,
                        Err(e) if e.is_timeout() => return Ok(false),
                        Err(e) => return Err(e.into()),
                    };
                    let len = piece.payload.len();
                    let Some(copy) = self.piece.get_mut(..len) else {
                        return Err(Failure::Check("a piece larger than the piece buffer"));
                    };
                    copy.copy_from_slice(piece.payload);
                    if piece.last {
                        self.messages += 1;
                    }
                    self.owed = match self.mode {
                        EchoMode::Fragments => Owed::Fragment(piece.kind, len, piece.last),
                        EchoMode::Frames if !frame_open => {
                            let total = len as u64 + piece.frame_remaining;
                            Owed::Begin(piece.kind, total, piece.frame_fin, len)
                        }
                        EchoMode::Frames => Owed::Payload(len),
                    };
                }
                ServerState::Closing(ws) => match ws.flush() {
                    Ok(()) => {
                        let ServerState::Closing(ws) =
                            core::mem::replace(&mut self.state, ServerState::Gone)
                        else {
                            unreachable!()
                        };
                        self.state = ServerState::Done(ws);
                    }
                    Err(e) if e.is_timeout() => return Ok(false),
                    Err(e) => return Err(e.into()),
                },
                ServerState::Done(_) => return Ok(true),
                ServerState::Gone => return Err(Failure::Check("stepped after a failure")),
            }
        }
    }
}

/// Makes the send that is owed, if any (again, after a timeout).
fn pay<T: Read + Write>(
    ws: &mut WebSocket<'_, T>,
    owed: &mut Owed,
    piece: &[u8],
) -> Result<(), Error<T::Error>> {
    loop {
        let mut w = ws.writer();
        match *owed {
            Owed::Nothing => return Ok(()),
            Owed::Fragment(kind, len, last) => {
                w.write_fragment(kind, &piece[..len], last)?;
                *owed = Owed::Nothing;
            }
            Owed::Begin(kind, total, fin, len) => {
                w.begin_frame(kind, total, fin)?;
                *owed = if len > 0 {
                    Owed::Payload(len)
                } else {
                    Owed::Nothing
                };
            }
            Owed::Payload(len) => {
                w.write_payload(&piece[..len])?;
                *owed = Owed::Nothing;
            }
        }
    }
}

/// The `index`-th message of a conversation with `seed`: `len` bytes into the front of
/// `buf`, text (random characters of every encoded length, padded with ASCII to exactly
/// `len` bytes) or binary.
pub fn fill_message(seed: u64, index: usize, text: bool, buf: &mut [u8]) {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    if text {
        let n = rng.text_into(buf, buf.len());
        for b in &mut buf[n..] {
            *b = b'a' + rng.below(26) as u8;
        }
    } else {
        rng.fill(buf);
    }
}

/// The `index`-th message of an [`EchoClient`]: its length and whether it is text.
fn message_at(sizes: &[usize], index: usize) -> (usize, bool) {
    (sizes[index], index.is_multiple_of(2))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Send,
    Receive,
    Close,
    Done,
}

enum ClientState<'b, T, R> {
    Connecting(Connecting<'b, 'static, T, R>),
    Open(WebSocket<'b, T, R>),
    Gone,
}

/// A client that connects, then sends messages of the given sizes in turn (text at even
/// places, binary at odd ones, see [`fill_message`]), reads each echo whole and checks
/// it, and closes; it steps as far as its transport lets it and returns at each timeout,
/// making the same call again on the next step. While a send waits for the transport,
/// it reads (into the echo's buffer): an echo server may be waiting for room to echo
/// the start of the message.
pub struct EchoClient<'b, T, R> {
    state: ClientState<'b, T, R>,
    sizes: &'b [usize],
    seed: u64,
    next: usize,
    phase: Phase,
    data: &'b mut [u8],
    reply: &'b mut [u8],
    /// The index of the subprotocol the server chose.
    pub protocol: Option<usize>,
}

/// What an [`EchoClient`] asks for.
pub const ECHO_REQUEST: ClientRequest<'static> =
    ClientRequest::new("device.local", "/echo").protocols(&["v2.ws13", ECHO_PROTOCOL]);

impl<'b, T: Read + Write, R: MaskSource> EchoClient<'b, T, R> {
    /// A client with buffers `rx` and `tx`, and `data` and `reply` for messages (each at
    /// least the largest size, and `reply` at least 125 bytes).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        io: T,
        rx: &'b mut [u8],
        tx: &'b mut [u8],
        masks: R,
        sizes: &'b [usize],
        seed: u64,
        data: &'b mut [u8],
        reply: &'b mut [u8],
    ) -> Result<Self, Error<T::Error>> {
        let connecting = Connecting::new(io, rx, tx, &ECHO_REQUEST, masks)?;
        Ok(EchoClient {
            state: ClientState::Connecting(connecting),
            sizes,
            seed,
            next: 0,
            phase: Phase::Send,
            data,
            reply,
            protocol: None,
        })
    }

    /// Messages echoed and checked so far.
    pub fn echoed(&self) -> usize {
        self.next
    }

    /// Whether the conversation is over: every echo checked, and the close handshake done.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The connection, once the handshake is done.
    pub fn websocket(&mut self) -> Option<&mut WebSocket<'b, T, R>> {
        match &mut self.state {
            ClientState::Open(ws) => Some(ws),
            _ => None,
        }
    }

    /// Goes on as far as the transport allows: `Ok(true)` once the conversation is over,
    /// `Ok(false)` at a timeout (call again later).
    pub fn step(&mut self) -> Result<bool, Failure<T::Error>> {
        loop {
            let ws = match &mut self.state {
                ClientState::Connecting(c) => {
                    match c.handshake() {
                        Ok(_) => {}
                        Err(e) if e.is_timeout() => return Ok(false),
                        Err(e) => return Err(e.into()),
                    }
                    let ClientState::Connecting(c) =
                        core::mem::replace(&mut self.state, ClientState::Gone)
                    else {
                        unreachable!()
                    };
                    let (ws, protocol) = c.finish()?;
                    self.protocol = protocol;
                    self.state = ClientState::Open(ws);
                    if let Some(&first) = self.sizes.first() {
                        fill_message(self.seed, 0, true, &mut self.data[..first]);
                    }
                    continue;
                }
                ClientState::Open(ws) => ws,
                ClientState::Gone => return Err(Failure::Check("stepped after a failure")),
            };
            let result = match self.phase {
                Phase::Send if self.next == self.sizes.len() => {
                    self.phase = Phase::Close;
                    continue;
                }
                Phase::Send => {
                    let (len, text) = message_at(self.sizes, self.next);
                    let data = &self.data[..len];
                    let message = if text {
                        Message::Text(
                            core::str::from_utf8(data).map_err(|_| Failure::Check("bad text"))?,
                        )
                    } else {
                        Message::Binary(data)
                    };
                    match ws.send(message) {
                        Ok(()) => Ok(Phase::Receive),
                        // While the peer cannot take more, read: the peer may be
                        // waiting for us to take its echo (both would wait otherwise).
                        // The echo cannot be whole yet; read_message keeps what it has.
                        Err(e) if e.is_timeout() => match ws.read_message(self.reply) {
                            Err(e) if e.is_timeout() => return Ok(false),
                            Err(e) => return Err(e.into()),
                            Ok(_) => return Err(Failure::Check("a message before the echo")),
                        },
                        Err(e) => Err(e),
                    }
                }
                Phase::Receive => match ws.read_message(self.reply) {
                    Ok(message) => {
                        let (len, text) = message_at(self.sizes, self.next);
                        let sent = &self.data[..len];
                        let same = match message {
                            Message::Text(t) => text && t.as_bytes() == sent,
                            Message::Binary(b) => !text && b == sent,
                            _ => false,
                        };
                        if !same {
                            return Err(Failure::Check("the echo differs from the message"));
                        }
                        self.next += 1;
                        if self.next < self.sizes.len() {
                            let (len, text) = message_at(self.sizes, self.next);
                            fill_message(self.seed, self.next, text, &mut self.data[..len]);
                        }
                        Ok(Phase::Send)
                    }
                    Err(e) => Err(e),
                },
                Phase::Close => ws.close(CloseCode::NORMAL, "done").map(|()| Phase::Done),
                Phase::Done => return Ok(true),
            };
            match result {
                Ok(phase) => self.phase = phase,
                Err(e) if e.is_timeout() => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Checks the promise after a transport failure (or the transport's end): every call
/// fails, sends and reads alike, and none panics. `Ok` names nothing; `Err` the first
/// call that did not fail.
pub fn fails_from_now_on<T: Read + Write, M: ws13::proto::Masking>(
    ws: &mut WebSocket<'_, T, M>,
) -> Result<(), &'static str> {
    if !ws.is_closed() {
        return Err("not closed after the failure");
    }
    let mut w = ws.writer();
    let sends = [
        w.write(Message::Text("more")).is_err(),
        w.write(Message::Ping(b"p")).is_err(),
        w.write_fragment(MessageKind::Binary, b"x", true).is_err(),
        w.begin_frame(MessageKind::Binary, 3, true).is_err(),
        w.write_payload(b"abc").is_err(),
    ];
    if sends.contains(&false) {
        return Err("a send after the failure");
    }
    if ws.send(Message::Binary(b"x")).is_ok() {
        return Err("a send after the failure");
    }
    if ws.read().is_ok() {
        return Err("a read after the failure");
    }
    if ws.read_message(&mut [0; 125]).is_ok() {
        return Err("a read_message after the failure");
    }
    Ok(())
}

/// Sends binary messages of `size` bytes (the n-th filled with `n as u8`) until a send
/// times out part-way, as it does once a peer that stopped reading has let every buffer
/// on the way fill up. Returns how many went out whole and the one that was cut, which
/// the caller sends again with [`send_again`]. Panics if no send has timed out after
/// 250 messages, or if a send fails otherwise.
#[cfg(feature = "std")]
pub fn send_until_a_timeout<T, M, B>(
    ws: &mut WebSocket<'_, T, M, B>,
    size: usize,
) -> (usize, std::vec::Vec<u8>)
where
    T: Read + Write,
    T::Error: core::fmt::Display,
    M: ws13::proto::Masking,
    B: ws13::Buffer,
{
    let mut sent = 0;
    loop {
        let message = std::vec![sent as u8; size];
        match ws.send(Message::Binary(&message)) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                return (sent, message);
            }
        }
        assert!(sent < 250, "the peer's buffers never filled up");
    }
}

/// Makes the send of `message` that a timeout cut ([`send_until_a_timeout`]) again
/// until it is done, as ws13 asks: it goes on where it stopped. Panics after 100
/// timeouts, or if a send fails otherwise.
pub fn send_again<T, M, B>(ws: &mut WebSocket<'_, T, M, B>, message: &[u8])
where
    T: Read + Write,
    T::Error: core::fmt::Display,
    M: ws13::proto::Masking,
    B: ws13::Buffer,
{
    let mut retries = 0;
    while let Err(e) = ws.send(Message::Binary(message)) {
        assert!(e.is_timeout(), "{e}");
        retries += 1;
        assert!(retries < 100, "the send never went through");
    }
}

/// Reads whole messages into `buf` until the peer's close, checking that they are what
/// [`send_until_a_timeout`] and [`send_again`] sent: binary, `size` bytes each, the n-th
/// filled with `n as u8`, in order. Returns how many arrived. Panics on anything else.
pub fn receive_filled<T, M, B>(
    ws: &mut WebSocket<'_, T, M, B>,
    buf: &mut [u8],
    size: usize,
) -> usize
where
    T: Read + Write,
    T::Error: core::fmt::Debug,
    M: ws13::proto::Masking,
    B: ws13::Buffer,
{
    let mut count = 0;
    loop {
        match ws.read_message(buf) {
            Ok(Message::Binary(b)) => {
                assert_eq!(b.len(), size, "message {count}");
                assert!(b.iter().all(|&x| x == count as u8), "message {count}");
                count += 1;
            }
            Ok(Message::Close(_)) => return count,
            other => panic!("message {count}: {other:?}"),
        }
    }
}
