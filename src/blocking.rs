//! The blocking driver: runs the handshake and the protocol state machine over an
//! [`embedded_io`] transport and two caller-owned buffers.
//!
//! - Server: [`Incoming::read`] reads a request; then [`Incoming::accept`] upgrades it,
//!   [`Incoming::respond`] answers it as plain HTTP (a web page), or
//!   [`Incoming::reject`] refuses it. Malformed requests are refused with the right
//!   HTTP status before the application sees them.
//! - Client: [`connect`] sends the upgrade request and checks the response.
//! - Both: a [`WebSocket`] reads [`Event`]s (message pieces, pings, pongs, close) or
//!   whole messages, and sends messages whole or as fragments. It answers pings, echoes
//!   the peer's close, and fails the connection with the right close code when the peer
//!   breaks the protocol.
//!
//! The receive buffer holds incoming bytes; a message larger than it is handed out in
//! pieces. The transmit buffer gathers outgoing frames so that one write carries many;
//! it is flushed when full, by [`WebSocket::flush`], by every `send_*` method, and
//! before any blocking read.

use core::fmt;

use embedded_io::{Read, Write};

use crate::frame::{self, CloseCode, FrameHeader};
use crate::handshake::client::{ClientError, ClientRequest, ResponseParser};
use crate::handshake::server::{self, Request, RequestError, RequestParser, WriteError};
use crate::proto::{
    CloseFrame, Event, MessageKind, PayloadMask, ProtocolError, RawEvent, Receiver, Role,
    SendError, Sender,
};

/// The smallest buffer a [`WebSocket`] accepts, for receiving and for transmitting: room
/// for a whole control frame.
pub const MIN_BUFFER: usize = Receiver::MIN_BUFFER;

/// What can go wrong on a connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport failed.
    Io(E),
    /// The transport reached its end before the close handshake (close code 1006).
    Eof,
    /// The peer broke the protocol; the connection was failed with the error's close code.
    Protocol(ProtocolError),
    /// The client's request could not be upgraded; it was refused with the error's status.
    Request(RequestError),
    /// The server's response failed the client's checks.
    Handshake(ClientError),
    /// A response could not be written (buffer too small, or a header value not valid).
    Response(WriteError),
    /// The application asked for a frame the protocol forbids.
    Send(SendError),
    /// A buffer smaller than [`MIN_BUFFER`].
    BufferTooSmall,
    /// The connection is closed: the close handshake is over, the connection failed, or
    /// a write failed part-way through a frame.
    Closed,
    /// [`WebSocket::read_message`] was called while [`WebSocket::read`] had handed out
    /// only part of a message: finish that message with `read`.
    MessageInProgress,
}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl<E: fmt::Debug + fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport error: {e}"),
            Error::Eof => f.write_str("connection ended without a close handshake"),
            Error::Protocol(e) => write!(f, "protocol error ({}): {e}", e.close_code()),
            Error::Request(e) => write!(f, "refused request (HTTP {}): {e}", e.status()),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Response(e) => write!(f, "cannot write response: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::BufferTooSmall => f.write_str("buffer too small"),
            Error::Closed => f.write_str("connection closed"),
            Error::MessageInProgress => f.write_str("a message is partly read"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for Error<E> {}

#[cfg(feature = "defmt")]
impl<E> defmt::Format for Error<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Error::Io(_) => defmt::write!(f, "transport error"),
            Error::Eof => defmt::write!(f, "connection ended without a close handshake"),
            Error::Protocol(e) => defmt::write!(f, "protocol error: {}", e),
            Error::Request(e) => defmt::write!(f, "refused request: {}", e),
            Error::Handshake(e) => defmt::write!(f, "handshake failed: {}", e),
            Error::Response(e) => defmt::write!(f, "cannot write response: {}", e),
            Error::Send(e) => defmt::write!(f, "cannot send: {}", e),
            Error::BufferTooSmall => defmt::write!(f, "buffer too small"),
            Error::Closed => defmt::write!(f, "connection closed"),
            Error::MessageInProgress => defmt::write!(f, "a message is partly read"),
        }
    }
}

/// The least a write should carry when a large payload follows its header.
const MIN_WRITE: usize = 4096;

/// A source of masking keys for a client's frames: each must be fresh and unpredictable
/// (RFC 6455 section 10.3). Closures `FnMut() -> [u8; 4]` are sources.
pub trait MaskSource {
    /// The next masking key.
    fn next_key(&mut self) -> [u8; 4];

    /// Fills `buf` with unpredictable bytes (the handshake's nonce).
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let key = self.next_key();
            for (b, k) in chunk.iter_mut().zip(key) {
                *b = k;
            }
        }
    }
}

impl<F: FnMut() -> [u8; 4]> MaskSource for F {
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// The mask source of a server, which never masks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMask;

impl MaskSource for NoMask {
    fn next_key(&mut self) -> [u8; 4] {
        [0; 4]
    }
}

/// A [`Writer`] over a [`WebSocket`]'s sending fields only, so that the receive buffer
/// can stay borrowed beside it (a macro: a method would borrow the whole connection).
macro_rules! writer {
    ($ws:expr) => {
        Writer {
            io: &mut $ws.io,
            buf: $ws.tx,
            len: &mut $ws.tx_len,
            pending: &mut $ws.pending,
            sender: &mut $ws.sender,
            rng: &mut $ws.rng,
        }
    };
}

/// A receive buffer: bytes `start..end` are received and not yet consumed.
#[derive(Debug)]
struct RxBuf<'b> {
    buf: &'b mut [u8],
    start: usize,
    end: usize,
}

impl RxBuf<'_> {
    #[inline]
    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes from `io`, moving unconsumed ones to the front first if the
    /// buffer is full. `Ok(false)` when the buffer has no room at all.
    fn fill<T: Read>(&mut self, io: &mut T) -> Result<bool, Error<T::Error>> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end = self.end.saturating_sub(self.start);
            self.start = 0;
        }
        let Some(free) = self.buf.get_mut(self.end..).filter(|f| !f.is_empty()) else {
            return Ok(false);
        };
        match io.read(free) {
            Ok(0) => Err(Error::Eof),
            Ok(n) => {
                self.end = self.end.saturating_add(n).min(self.buf.len());
                Ok(true)
            }
            Err(e) => Err(Error::Io(e)),
        }
    }
}

/// A control frame owed to the peer that must wait until the data frame being sent is
/// complete (a frame's payload cannot be interrupted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// The answer to a ping that arrived meanwhile (the latest one, if several did):
    /// its payload, of this many bytes, waits at the end of the transmit buffer.
    Pong(u8),
    /// The echo of the peer's close frame: its status code, if it had one.
    Close(Option<CloseCode>),
}

impl Pending {
    /// The bytes it keeps at the end of the transmit buffer.
    const fn len(self) -> usize {
        match self {
            Pending::Pong(n) => n as usize,
            Pending::None | Pending::Close(_) => 0,
        }
    }
}

/// The connection's own state besides its buffers and transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// A read error interrupted [`WebSocket::read_message`] after it had copied this
    /// many bytes of a message into the caller's buffer: the next call goes on from there.
    Collecting(usize),
    /// The close handshake is over, or the connection failed.
    Closed,
}

/// An open WebSocket connection over transport `T`, with masking keys from `R`
/// ([`NoMask`] for a server).
#[derive(Debug)]
pub struct WebSocket<'b, T, R = NoMask> {
    io: T,
    rx: RxBuf<'b>,
    tx: &'b mut [u8],
    tx_len: usize,
    pending: Pending,
    receiver: Receiver,
    sender: Sender,
    state: State,
    rng: R,
}

/// An event and a writer for answering it: see [`WebSocket::read_split`].
pub type Split<'a, T, R> = (Event<'a>, Writer<'a, T, R>);

/// A client connection and the index, in the offered list, of the subprotocol the
/// server chose: see [`connect`].
pub type Connected<'b, T, R> = (WebSocket<'b, T, R>, Option<usize>);

/// A message read whole by [`WebSocket::read_message`], its bytes in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (already answered with a pong).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame (already answered): the connection is now closed.
    Close(Option<CloseFrame<'a>>),
}

impl<'b, T: Read + Write, R: MaskSource> WebSocket<'b, T, R> {
    /// Wraps a transport on which the handshake is already done. `rx` must hold, at
    /// `rx[..received]`, any bytes that arrived after the handshake.
    pub fn from_upgraded(
        io: T,
        role: Role,
        rx: &'b mut [u8],
        received: usize,
        tx: &'b mut [u8],
        rng: R,
    ) -> Result<Self, Error<T::Error>> {
        if rx.len() < MIN_BUFFER || tx.len() < MIN_BUFFER || received > rx.len() {
            return Err(Error::BufferTooSmall);
        }
        Ok(WebSocket {
            io,
            rx: RxBuf {
                buf: rx,
                start: 0,
                end: received,
            },
            tx,
            tx_len: 0,
            pending: Pending::None,
            receiver: Receiver::new(role),
            sender: Sender::new(role),
            state: State::Open,
            rng,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.sender.role()
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The transport, mutably (to set a timeout, say).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Gives up the connection, returning its transport.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Limits the size of a received data message, whatever way it is read: a larger one
    /// fails the connection with 1009 as soon as a frame header announces it.
    pub fn set_max_message_size(&mut self, max: u64) {
        self.receiver.set_max_message_size(max);
    }

    /// Whether the connection is closed (close handshake done, or connection failed).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed || self.sender.is_broken()
    }

    /// A handle for sending, which buffers frames without flushing them.
    pub fn writer(&mut self) -> Writer<'_, T, R> {
        writer!(self)
    }

    /// Reads the next event: a piece of a data message, a ping, a pong or the peer's close.
    ///
    /// Pings are answered and the peer's close is echoed before the event is returned.
    /// After the close event, the end of the transport, or a protocol error, every call
    /// returns [`Error::Closed`]. A read error from the transport (a timeout, say) leaves
    /// the connection as it was: reading again picks up where it stopped.
    /// A peer that breaks the protocol gets a close frame with the error's code, and the
    /// error is returned.
    pub fn read(&mut self) -> Result<Event<'_>, Error<T::Error>> {
        self.stop_collecting();
        let event = self.next_event()?;
        Ok(event.resolve(self.rx.buf))
    }

    /// Like [`WebSocket::read`], and also returns a [`Writer`], so that the event's bytes
    /// can be sent on (an echo, a relay) without first being copied out.
    #[inline]
    pub fn read_split(&mut self) -> Result<Split<'_, T, R>, Error<T::Error>> {
        self.stop_collecting();
        let event = self.next_event()?;
        let writer = writer!(self);
        Ok((event.resolve(self.rx.buf), writer))
    }

    /// Reads a whole message into `buf` and returns it.
    ///
    /// A data message larger than `buf` fails the connection with close code 1009
    /// ([`ProtocolError::MessageTooBig`]); use [`WebSocket::read`] to stream messages of
    /// any size. If a read error (a timeout) interrupts it, call it again with the same
    /// `buf`: it goes on where it stopped, keeping what it had already copied. Calling
    /// [`WebSocket::read`] in between gives up that part of the message (and `read_message`
    /// then refuses to start inside it: [`Error::MessageInProgress`]).
    /// Pings, pongs and close are returned too, their payload copied into `buf`
    /// (which should hold 125 bytes for them); a ping or pong that arrives between the
    /// fragments of a message is answered or dropped, and only [`WebSocket::read`] shows it.
    pub fn read_message<'m>(&mut self, buf: &'m mut [u8]) -> Result<Message<'m>, Error<T::Error>> {
        let mut len: usize = match self.state {
            State::Collecting(len) => len,
            _ if self.receiver.in_message() && !self.is_closed() => {
                return Err(Error::MessageInProgress);
            }
            _ => 0,
        };
        loop {
            let event = match self.next_event() {
                Ok(event) => event,
                Err(e) => {
                    if !self.is_closed() {
                        // A read error (a timeout) that left the connection open: keep
                        // what is already in the caller's buffer for the next call.
                        self.state = State::Collecting(len);
                    }
                    return Err(e);
                }
            };
            self.stop_collecting();
            let kind = match event {
                RawEvent::Data {
                    kind, last, span, ..
                } => {
                    let piece = span.of(self.rx.buf);
                    let end = len.saturating_add(piece.len());
                    let Some(dst) = buf.get_mut(len..end) else {
                        return Err(self.fail(ProtocolError::MessageTooBig));
                    };
                    dst.copy_from_slice(piece);
                    len = end;
                    if !last {
                        continue;
                    }
                    kind
                }
                // Inside a message a ping is answered and a pong dropped: the message's
                // bytes so far would otherwise be lost.
                RawEvent::Ping(_) | RawEvent::Pong(_) if self.receiver.in_message() => continue,
                RawEvent::Ping(span) | RawEvent::Pong(span) => {
                    let piece = span.of(self.rx.buf);
                    let n = piece.len().min(buf.len());
                    let dst = buf.get_mut(..n).unwrap_or_default();
                    dst.copy_from_slice(piece.get(..n).unwrap_or_default());
                    let dst: &'m [u8] = dst;
                    return Ok(if matches!(event, RawEvent::Ping(_)) {
                        Message::Ping(dst)
                    } else {
                        Message::Pong(dst)
                    });
                }
                RawEvent::Close(code, span) => {
                    let reason = span.of(self.rx.buf);
                    let n = reason.len().min(buf.len());
                    let dst = buf.get_mut(..n).unwrap_or_default();
                    dst.copy_from_slice(reason.get(..n).unwrap_or_default());
                    let dst: &'m [u8] = dst;
                    let reason = core::str::from_utf8(dst).unwrap_or("");
                    return Ok(Message::Close(code.map(|code| CloseFrame { code, reason })));
                }
            };
            let data: &'m [u8] = buf.get(..len).unwrap_or_default();
            return Ok(match kind {
                MessageKind::Binary => Message::Binary(data),
                // Validated piece by piece as it arrived.
                MessageKind::Text => Message::Text(core::str::from_utf8(data).unwrap_or("")),
            });
        }
    }

    /// Forgets the progress of an interrupted [`WebSocket::read_message`].
    fn stop_collecting(&mut self) {
        if let State::Collecting(_) = self.state {
            self.state = State::Open;
        }
    }

    /// Drives the receiver until it yields an event, handling pings and close on the way.
    #[inline]
    fn next_event(&mut self) -> Result<RawEvent, Error<T::Error>> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        loop {
            let start = self.rx.start;
            let input = self.rx.buf.get_mut(start..self.rx.end).unwrap_or_default();
            let received = match self.receiver.receive_raw(input) {
                Ok(r) => r,
                Err(e) => return Err(self.fail(e)),
            };
            self.rx.consume(received.consumed);
            let Some(event) = received.event else {
                self.refill()?;
                continue;
            };
            let event = event.offset(start);
            match event {
                RawEvent::Ping(span) if !self.sender.is_closed() => {
                    let mut writer = writer!(self);
                    let payload = span.of(self.rx.buf);
                    if writer.sender.frame_remaining() > 0 {
                        // Inside one of our frames: answered once it is complete.
                        writer.defer_pong(payload)?;
                    } else {
                        // The pong goes out with the next flush, at the latest before
                        // the next blocking read.
                        writer.control(true, payload)?;
                    }
                }
                RawEvent::Close(code, _) => {
                    self.state = State::Closed;
                    if !self.sender.is_closed() {
                        // Echo the peer's status code, as RFC 6455 section 5.5.1 suggests.
                        // The peer is done: if it is gone already, the echo is moot and
                        // its close is still the event to report.
                        let echo = code.map(|code| CloseFrame { code, reason: "" });
                        if self.sender.frame_remaining() > 0 {
                            // After the frame being sent, which the application may
                            // still finish (RFC 6455 section 5.5.1 allows the wait). It
                            // takes the place of a waiting pong: none is owed after it.
                            self.pending = Pending::Close(code);
                        } else if self.writer().close(echo).is_ok() {
                            let _ = self.flush();
                        }
                    }
                }
                _ => {}
            }
            return Ok(event);
        }
    }

    /// Flushes what is buffered for sending, then reads more input.
    fn refill(&mut self) -> Result<(), Error<T::Error>> {
        if let Err(e) = self.flush() {
            self.state = State::Closed;
            return Err(e);
        }
        match self.rx.fill(&mut self.io) {
            Ok(true) => Ok(()),
            // Cannot happen with a buffer of MIN_BUFFER bytes: a control frame fits and
            // data is handed out in pieces.
            Ok(false) => Err(self.fail(ProtocolError::MessageTooBig)),
            Err(Error::Eof) => {
                self.state = State::Closed;
                Err(Error::Eof)
            }
            // Nothing was lost: after a read timeout the connection can be read again.
            Err(e) => Err(e),
        }
    }

    /// Fails the connection (RFC 6455 section 7.1.7): sends a close frame with the
    /// error's code and stops. Returns the error to hand to the caller.
    ///
    /// The peer may still answer with its own close, perhaps in the middle of a frame it
    /// had not finished; the transport's owner closes it (see `net::linger` on std).
    fn fail(&mut self, error: ProtocolError) -> Error<T::Error> {
        self.state = State::Closed;
        if self.sender.frame_remaining() > 0 {
            // One of our frames is cut short: no close frame can follow it (RFC 6455
            // section 7.1.7 asks for one only where it can be sent). What is buffered
            // still goes out (pongs queued before the frame, and the frame's start);
            // then nothing more.
            let _ = self.flush();
            self.sender.set_broken();
            return Error::Protocol(error);
        }
        let close = CloseFrame {
            code: error.close_code(),
            reason: "",
        };
        if self.writer().close(Some(close)).is_ok() {
            let _ = self.flush();
        }
        Error::Protocol(error)
    }

    /// Sends everything buffered.
    pub fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.writer().flush()
    }

    /// Sends a text message and flushes.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error<T::Error>> {
        self.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message and flushes.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        self.send(MessageKind::Binary, data)
    }

    /// Sends a whole message of `kind` and flushes.
    pub fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), Error<T::Error>> {
        let mut w = self.writer();
        w.send_fragment(kind, data, true)?;
        w.flush()
    }

    /// Sends one fragment of a message (the first opens it, `last` ends it) and flushes.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        let mut w = self.writer();
        w.send_fragment(kind, data, last)?;
        w.flush()
    }

    /// Sends a ping (payload at most 125 bytes) and flushes; its pong arrives as an event.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        let mut w = self.writer();
        w.control(false, payload)?;
        w.flush()
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes) and waits
    /// for the peer's close frame, discarding any data that arrives first.
    ///
    /// Returns once the peer has answered. If the peer closed first, there is nothing
    /// left to do and this returns `Ok`. The wait is bounded by the transport: give it a
    /// read timeout where the peer may never answer.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        if self.state == State::Closed {
            return Ok(());
        }
        self.writer().close(Some(CloseFrame { code, reason }))?;
        self.flush()?;
        loop {
            match self.next_event() {
                Ok(RawEvent::Close(..)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sends frames on a [`WebSocket`], buffering them; see [`WebSocket::writer`] and
/// [`WebSocket::read_split`]. Frames are written out when the buffer fills, on
/// [`Writer::flush`], and before the connection next blocks on a read.
///
/// A message can be sent whole ([`Writer::send_binary`], [`Writer::send_text`]), as
/// fragments ([`Writer::send_fragment`]), or as frames whose payload is streamed in
/// chunks ([`Writer::begin_frame`], then [`Writer::send_payload`]): a message of known
/// length but larger than any buffer goes out as one frame, for peers that handle
/// fragments badly, and a relay sends frames on as they arrive.
#[derive(Debug)]
pub struct Writer<'w, T, R> {
    io: &'w mut T,
    buf: &'w mut [u8],
    len: &'w mut usize,
    pending: &'w mut Pending,
    sender: &'w mut Sender,
    rng: &'w mut R,
}

impl<T: Write, R: MaskSource> Writer<'_, T, R> {
    /// Buffers a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error<T::Error>> {
        self.send_fragment(MessageKind::Text, text.as_bytes(), true)
    }

    /// Buffers a whole binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        self.send_fragment(MessageKind::Binary, data, true)
    }

    /// Buffers one frame of a message: the first opens the message with `kind`, later
    /// ones continue it (with the same `kind`), and `last` ends it. Text fragments may
    /// split a character; the whole message must be UTF-8.
    #[inline]
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        self.begin_frame(kind, data.len() as u64, last)?;
        self.send_payload(data)
    }

    /// Starts a frame of a message (as [`Writer::send_fragment`] would: the first opens
    /// the message with `kind`, `last` ends it) whose `len` payload bytes follow through
    /// [`Writer::send_payload`], in as many calls as suit the caller.
    ///
    /// Until all `len` bytes are sent, no other frame can be: sending one is
    /// [`SendError::FrameOpen`]. The connection may be read meanwhile: a ping that
    /// arrives is answered, and the peer's close echoed, once the frame is complete. But
    /// if the peer breaks the protocol meanwhile, the frame cannot be finished and no
    /// close frame can follow it: the connection is dropped without one. (A relay of text
    /// that must be able to refuse invalid UTF-8 with 1007 therefore sends fragments.)
    ///
    /// A relay sends frames on as they came with [`Writer::relay`].
    #[inline]
    pub fn begin_frame(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        if self.sender.is_broken() {
            return Err(Error::Closed);
        }
        let rng = &mut *self.rng;
        let header = self.sender.data(kind, last, len, || rng.next_key())?;
        let result = self.put_header(header);
        self.check(result)
    }

    /// Sends the next bytes of the frame started by [`Writer::begin_frame`]; more than
    /// the frame still owes is [`SendError::PayloadTooLong`], and nothing is sent.
    ///
    /// Small pieces are buffered; a large one is written straight from `data`.
    #[inline]
    pub fn send_payload(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        if self.sender.is_broken() {
            return Err(Error::Closed);
        }
        let mask = self.sender.payload(data.len())?;
        let result = self.put_payload(mask, data);
        self.check(result)?;
        if self.sender.frame_remaining() == 0 && *self.pending != Pending::None {
            self.release()?;
        }
        Ok(())
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in, given the piece's [`Event::Data`] fields: the piece that finds no frame
    /// of ours open starts one ([`Writer::begin_frame`]), and every piece goes on as its
    /// payload ([`Writer::send_payload`]). A relay or an echo, frame for frame:
    ///
    /// ```
    /// # use ws13::blocking::{Error, MaskSource, WebSocket};
    /// # use ws13::Event;
    /// # fn relay<T: embedded_io::Read + embedded_io::Write, R: MaskSource>(
    /// #     ws: &mut WebSocket<'_, T, R>,
    /// # ) -> Result<(), Error<T::Error>> {
    /// if let (Event::Data { kind, payload, frame_remaining, frame_fin, .. }, mut writer) =
    ///     ws.read_split()?
    /// {
    ///     writer.relay(kind, payload, frame_remaining, frame_fin)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn relay(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        frame_remaining: u64,
        frame_fin: bool,
    ) -> Result<(), Error<T::Error>> {
        if self.sender.frame_remaining() == 0 {
            let len = (payload.len() as u64).saturating_add(frame_remaining);
            self.begin_frame(kind, len, frame_fin)?;
        }
        self.send_payload(payload)
    }

    /// Payload bytes the frame being sent still owes ([`Writer::begin_frame`]); 0 when
    /// no frame is open.
    pub fn frame_remaining(&self) -> u64 {
        self.sender.frame_remaining()
    }

    /// Buffers a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.control(false, payload)
    }

    /// Buffers a pong (an unsolicited pong is a heartbeat the peer ignores).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.control(true, payload)
    }

    fn control(&mut self, pong: bool, payload: &[u8]) -> Result<(), Error<T::Error>> {
        let rng = &mut *self.rng;
        let header = self
            .sender
            .ping_pong(pong, payload.len(), || rng.next_key())?;
        self.frame(header, payload)
    }

    /// Buffers a close frame with `code` and `reason` (at most 123 bytes); nothing can be
    /// sent after it. [`WebSocket::close`] also waits for the peer's answer; this does not,
    /// so the caller reads on until [`Event::Close`] arrives.
    pub fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        self.close(Some(CloseFrame { code, reason }))
    }

    fn close(&mut self, close: Option<CloseFrame<'_>>) -> Result<(), Error<T::Error>> {
        let rng = &mut *self.rng;
        let (header, payload) = self.sender.close(close, || rng.next_key())?;
        self.frame(header, payload.as_bytes())
    }

    /// Keeps a pong's payload at the end of the buffer until the frame being sent is
    /// complete (see [`Pending`]); it takes the place of an earlier ping's (RFC 6455
    /// section 5.5.3 allows answering only the latest).
    // Rare: kept out of line, so that the send paths it is called from stay small.
    #[cold]
    #[inline(never)]
    fn defer_pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        if matches!(*self.pending, Pending::Close(_)) {
            return Ok(());
        }
        // A control payload is at most 125 bytes: the receiver checked it.
        let n = payload.len().min(frame::MAX_CONTROL_PAYLOAD);
        let start = self.buf.len().saturating_sub(n);
        if *self.len > start {
            let result = self.drain();
            self.check(result)?;
        }
        if let Some(dst) = self.buf.get_mut(start..) {
            let n = dst.len().min(n);
            dst.copy_from_slice(payload.get(..n).unwrap_or_default());
        }
        *self.pending = Pending::Pong(n as u8);
        Ok(())
    }

    /// Sends the control frame that waited for the frame just completed.
    // Rare: kept out of line, so that the send paths it is called from stay small.
    #[cold]
    #[inline(never)]
    fn release(&mut self) -> Result<(), Error<T::Error>> {
        match core::mem::replace(self.pending, Pending::None) {
            Pending::None => Ok(()),
            Pending::Pong(n) => {
                let mut payload = [0u8; frame::MAX_CONTROL_PAYLOAD];
                let start = self.buf.len().saturating_sub(usize::from(n));
                let waiting = self.buf.get(start..).unwrap_or_default();
                let payload = payload.get_mut(..waiting.len()).unwrap_or_default();
                payload.copy_from_slice(waiting);
                self.control(true, payload)
            }
            Pending::Close(code) => self.close(code.map(|code| CloseFrame { code, reason: "" })),
        }
    }

    /// The buffer's room for frames: all of it, less a waiting control payload.
    #[inline]
    fn capacity(&self) -> usize {
        self.buf.len().saturating_sub(self.pending.len())
    }

    /// Appends `bytes` to the buffer if they fit.
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> bool {
        let end = self.len.saturating_add(bytes.len());
        if end > self.capacity() {
            return false;
        }
        match self.buf.get_mut(*self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                *self.len = end;
                true
            }
            None => false,
        }
    }

    /// Writes out the buffered bytes (without flushing the transport).
    fn drain(&mut self) -> Result<(), Error<T::Error>> {
        let pending = self.buf.get(..*self.len).unwrap_or_default();
        self.io.write_all(pending).map_err(Error::Io)?;
        *self.len = 0;
        Ok(())
    }

    /// After a failed write the stream may end inside a frame, so the connection sends
    /// nothing more ([`Error::Closed`] from then on).
    #[inline]
    fn check(&mut self, result: Result<(), Error<T::Error>>) -> Result<(), Error<T::Error>> {
        if result.is_err() {
            self.sender.set_broken();
        }
        result
    }

    /// Writes a whole control frame.
    #[inline]
    fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), Error<T::Error>> {
        if self.sender.is_broken() {
            return Err(Error::Closed);
        }
        let mask = match header.mask {
            Some(key) => PayloadMask::Key { key, offset: 0 },
            None => PayloadMask::None,
        };
        let result = self
            .put_header(header)
            .and_then(|()| self.put_payload(mask, payload));
        self.check(result)
    }

    #[inline]
    fn put_header(&mut self, header: FrameHeader) -> Result<(), Error<T::Error>> {
        let encoded = header.emit();
        if !self.put(encoded.as_bytes()) {
            self.drain()?;
            if !self.put(encoded.as_bytes()) {
                return Err(Error::BufferTooSmall);
            }
        }
        Ok(())
    }

    #[inline]
    fn put_payload(&mut self, mask: PayloadMask, payload: &[u8]) -> Result<(), Error<T::Error>> {
        match mask {
            PayloadMask::None => {
                if self.put(payload) {
                    return Ok(());
                }
                // It does not fit. Send a large rest straight from the caller's slice, one
                // copy less; but first top a buffer holding a header up to a few KiB with
                // the payload's start, so that the header never goes out in a tiny write.
                let mut rest = payload;
                if *self.len > 0 {
                    let free = self.capacity().saturating_sub(*self.len);
                    let top_up = MIN_WRITE.saturating_sub(*self.len).min(free);
                    let (head, tail) = payload.split_at(top_up.min(payload.len()));
                    self.put(head);
                    self.drain()?;
                    rest = tail;
                }
                if rest.len() > self.capacity() / 2 || !self.put(rest) {
                    self.io.write_all(rest).map_err(Error::Io)?;
                }
            }
            PayloadMask::Key { key, offset } => {
                // Mask into the buffer, a bufferful at a time.
                let mut done: usize = 0;
                while done < payload.len() {
                    if *self.len >= self.capacity() {
                        self.drain()?;
                    }
                    let cap = self.capacity();
                    let free = self.buf.get_mut(*self.len..cap).unwrap_or_default();
                    let rest = payload.get(done..).unwrap_or_default();
                    let n = free.len().min(rest.len());
                    if n == 0 {
                        // Cannot happen: the buffer keeps room beside a waiting payload.
                        return Err(Error::BufferTooSmall);
                    }
                    let (dst, src) = (
                        free.get_mut(..n).unwrap_or_default(),
                        rest.get(..n).unwrap_or_default(),
                    );
                    dst.copy_from_slice(src);
                    frame::apply_mask(dst, key, offset.wrapping_add(done));
                    *self.len = self.len.saturating_add(n);
                    done = done.saturating_add(n);
                }
            }
        }
        Ok(())
    }

    /// Writes out everything buffered and flushes the transport.
    pub fn flush(&mut self) -> Result<(), Error<T::Error>> {
        if self.sender.is_broken() {
            return Err(Error::Closed);
        }
        let result = self
            .drain()
            .and_then(|()| self.io.flush().map_err(Error::Io));
        self.check(result)
    }
}

/// A client's request, read by a server, waiting for the application's decision.
#[derive(Debug)]
pub struct Incoming<'b, T> {
    io: T,
    rx: &'b mut [u8],
    head_len: usize,
    received: usize,
    parser: RequestParser,
}

impl<'b, T: Read + Write> Incoming<'b, T> {
    /// Reads a request head into `rx`, with [`server::DEFAULT_MAX_HEADERS`] header lines
    /// at most.
    ///
    /// A request that is malformed or cut short is refused here with its HTTP status
    /// (400) and the error is returned; the application sees only complete, well-formed
    /// requests. A request larger than `rx` is still read: once `rx` is full, header lines
    /// ws13 has dealt with are dropped as they stream by (see [`RequestParser::compact`]);
    /// only a single line too long for `rx` is refused, with 431.
    pub fn read(io: T, rx: &'b mut [u8]) -> Result<Self, Error<T::Error>> {
        Self::read_with(io, rx, RequestParser::new())
    }

    /// [`Incoming::read`] with a parser of the caller's (for its limits).
    pub fn read_with(
        mut io: T,
        rx: &'b mut [u8],
        mut parser: RequestParser,
    ) -> Result<Self, Error<T::Error>> {
        let mut received = 0;
        let outcome = loop {
            match parser.parse(rx.get(..received).unwrap_or_default()) {
                Ok(Some(head_len)) => break Ok(head_len),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            if received == rx.len() {
                // Full: drop the header lines already dealt with, keep reading.
                let compacted = parser.compact(rx, received);
                if compacted == received {
                    break Err(RequestError::TooLarge);
                }
                received = compacted;
            }
            let Some(free) = rx.get_mut(received..).filter(|f| !f.is_empty()) else {
                break Err(RequestError::TooLarge);
            };
            match io.read(free) {
                Ok(0) if received == 0 => return Err(Error::Eof),
                Ok(0) => break Err(RequestError::Malformed),
                Ok(n) => received = received.saturating_add(n).min(rx.len()),
                Err(e) => return Err(Error::Io(e)),
            }
        };
        match outcome {
            Ok(head_len) => Ok(Incoming {
                io,
                rx,
                head_len,
                received,
                parser,
            }),
            Err(e) => {
                refuse(&mut io, e);
                Err(Error::Request(e))
            }
        }
    }

    /// The transport, mutably (to change its timeouts, say).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The request.
    pub fn request(&self) -> Request<'_> {
        self.parser
            .request(self.rx.get(..self.head_len).unwrap_or_default())
    }

    /// Accepts the upgrade, choosing `protocol` from those the client offered (or none),
    /// and returns the connection, which sends from `tx`.
    ///
    /// A request that is not a valid upgrade is refused with its HTTP status (400, 405,
    /// 426) and [`Error::Request`] is returned. A `protocol` the client did not offer is
    /// [`Error::Response`].
    pub fn accept(
        mut self,
        tx: &'b mut [u8],
        protocol: Option<&str>,
    ) -> Result<WebSocket<'b, T>, Error<T::Error>> {
        let request = self.request();
        if let Err(e) = request.check_upgrade() {
            refuse(&mut self.io, e);
            return Err(Error::Request(e));
        }
        if protocol.is_some_and(|p| !request.offers_protocol(p)) {
            return Err(Error::Response(WriteError::InvalidHeader));
        }
        let len = server::write_accept(tx, &request, protocol).map_err(Error::Response)?;
        self.io
            .write_all(tx.get(..len).unwrap_or_default())
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        // Bytes that came after the head are the first frames: move them to the front.
        self.rx.copy_within(self.head_len..self.received, 0);
        let leftover = self.received.saturating_sub(self.head_len);
        WebSocket::from_upgraded(self.io, Role::Server, self.rx, leftover, tx, NoMask)
    }

    /// Refuses the request with `status` and an empty body; returns the transport.
    pub fn reject(self, status: u16) -> Result<T, Error<T::Error>> {
        self.respond(status, &[], &[])
    }

    /// Answers the request as plain HTTP: `status`, `headers`, then `body`, with
    /// `Content-Length` and `Connection: close` added. Returns the transport.
    pub fn respond(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<T, Error<T::Error>> {
        let len = server::write_response_head(self.rx, status, headers, body.len())
            .map_err(Error::Response)?;
        self.io
            .write_all(self.rx.get(..len).unwrap_or_default())
            .map_err(Error::Io)?;
        self.io.write_all(body).map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        Ok(self.io)
    }
}

/// Writes the refusal for `error`, ignoring transport errors: the connection is over.
fn refuse<T: Write>(io: &mut T, error: RequestError) {
    let mut buf = [0u8; 160];
    if let Ok(len) = server::write_refusal(&mut buf, error) {
        let _ = io.write_all(buf.get(..len).unwrap_or_default());
        let _ = io.flush();
    }
}

/// Opens a client connection: sends `request` (with a key from `rng`) from `tx`, reads
/// and checks the response into `rx`. Returns the connection and the index, in
/// `request.protocols`, of the subprotocol the server chose.
pub fn connect<'b, T: Read + Write, R: MaskSource>(
    mut io: T,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    request: &ClientRequest<'_>,
    mut rng: R,
) -> Result<Connected<'b, T, R>, Error<T::Error>> {
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    let (len, key) = request.write(tx, nonce).map_err(Error::Handshake)?;
    io.write_all(tx.get(..len).unwrap_or_default())
        .map_err(Error::Io)?;
    io.flush().map_err(Error::Io)?;
    let mut parser = ResponseParser::new(&key);
    let mut received = 0;
    let accepted = loop {
        let seen = rx.get(..received).unwrap_or_default();
        if let Some(accepted) = parser
            .parse(seen, request.protocols)
            .map_err(Error::Handshake)?
        {
            break accepted;
        }
        let Some(free) = rx.get_mut(received..).filter(|f| !f.is_empty()) else {
            return Err(Error::Handshake(ClientError::TooLarge));
        };
        match io.read(free) {
            Ok(0) => return Err(Error::Eof),
            Ok(n) => received = received.saturating_add(n).min(rx.len()),
            Err(e) => return Err(Error::Io(e)),
        }
    };
    rx.copy_within(accepted.head_len..received, 0);
    let leftover = received.saturating_sub(accepted.head_len);
    let ws = WebSocket::from_upgraded(io, Role::Client, rx, leftover, tx, rng)?;
    Ok((ws, accepted.protocol))
}
