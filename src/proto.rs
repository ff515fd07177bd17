//! The protocol state machine (RFC 6455 sections 5-8), sans-IO.
//!
//! [`Receiver`] turns bytes into [`Event`]s: it checks each frame against the rules for
//! its role, unmasks payloads in place, tracks fragmented messages and validates text as
//! it arrives. [`Sender`] decides the header of each outgoing frame, so that only legal
//! frame sequences can be produced. Neither does I/O nor reads a clock; the driver in
//! [`crate::blocking`] (or any other) moves the bytes.

use core::fmt;

use crate::frame::{self, CloseCode, FrameHeader, HeaderError, OpCode, MAX_CONTROL_PAYLOAD};
use crate::utf8::Utf8Validator;

/// Which end of the connection this is; it decides masking (RFC 6455 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// Sends masked frames, receives unmasked ones.
    Client,
    /// Sends unmasked frames, receives masked ones.
    Server,
}

/// The type of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// A close frame's status code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CloseFrame<'a> {
    /// The status code.
    pub code: CloseCode,
    /// The reason: UTF-8, at most 123 bytes.
    pub reason: &'a str,
}

/// What arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<'a> {
    /// A piece of a data message. A message arrives as one or more pieces: its type is
    /// known from the first, and `last` marks its end. Pieces follow the bytes as they
    /// arrive, not the frames; text is validated before it is handed out, but a piece may
    /// end inside a multi-byte character.
    Data {
        /// Text or binary, the same for every piece of a message.
        kind: MessageKind,
        /// This is the message's first piece.
        first: bool,
        /// This is the message's last piece.
        last: bool,
        /// The piece's bytes (possibly empty).
        payload: &'a [u8],
        /// Payload bytes of the piece's frame still to come after it (0 when the piece
        /// ends its frame).
        frame_remaining: u64,
        /// Whether the piece's frame is its message's last (the frame's FIN bit). With
        /// `frame_remaining`, enough to send frames on as they came (a relay, an echo:
        /// see `Writer::relay` in [`crate::blocking`]).
        frame_fin: bool,
    },
    /// A ping with its payload (at most 125 bytes); it must be answered by a pong.
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// The peer's close frame: `None` when it carried no status code.
    Close(Option<CloseFrame<'a>>),
}

/// A peer broke the protocol; the connection must be failed with [`ProtocolError::close_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame header broke a wire-format rule.
    Header(HeaderError),
    /// A client sent an unmasked frame.
    UnmaskedFrame,
    /// A server sent a masked frame.
    MaskedFrame,
    /// A continuation frame with no fragmented message open.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was still open.
    ExpectedContinuation,
    /// Text that is not UTF-8 (in a message or a close reason).
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    InvalidClosePayload,
    /// A close frame with a status code not allowed on the wire.
    InvalidCloseCode(u16),
    /// A message larger than the receiver can hold.
    MessageTooBig,
}

impl ProtocolError {
    /// The close code to fail the connection with.
    pub const fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            ProtocolError::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl From<HeaderError> for ProtocolError {
    fn from(e: HeaderError) -> Self {
        ProtocolError::Header(e)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Header(e) => e.fmt(f),
            ProtocolError::UnmaskedFrame => f.write_str("client sent an unmasked frame"),
            ProtocolError::MaskedFrame => f.write_str("server sent a masked frame"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message to continue")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::InvalidClosePayload => f.write_str("close frame with a 1-byte payload"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "close code {c} not allowed"),
            ProtocolError::MessageTooBig => f.write_str("message too big"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// The data frame whose payload is being received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFrame {
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes not yet received.
    remaining: u64,
    /// Payload bytes received so far, modulo 4: where the mask key stands.
    phase: u8,
}

/// The next piece handed out is its message's first.
const FIRST: u8 = 1 << 0;
/// The peer's close frame has arrived.
const CLOSED: u8 = 1 << 1;

/// The receiving half of a connection: bytes in, events out.
#[derive(Clone, Debug)]
pub struct Receiver {
    role: Role,
    frame: Option<InFrame>,
    /// The data message in progress, from its first frame to its last.
    message: Option<MessageKind>,
    /// [`FIRST`] and [`CLOSED`], packed to keep the state small.
    flags: u8,
    utf8: Utf8Validator,
    /// Bytes of the current message announced so far by its frames' headers.
    message_len: u64,
    /// The largest message accepted ([`ProtocolError::MessageTooBig`] beyond it).
    max_message: u64,
}

/// A range of a receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// The first byte's offset.
    pub start: usize,
    /// The offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes of `buf` in this span (empty if out of range).
    #[inline]
    pub fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }

    #[inline]
    fn offset(self, by: usize) -> Span {
        Span {
            start: self.start.saturating_add(by),
            end: self.end.saturating_add(by),
        }
    }
}

/// An [`Event`] whose bytes are given as [`Span`]s of the input (see [`Receiver::receive_raw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RawEvent {
    /// See [`Event::Data`].
    Data {
        /// Text or binary.
        kind: MessageKind,
        /// The message's first piece.
        first: bool,
        /// The message's last piece.
        last: bool,
        /// Where the piece's bytes are.
        span: Span,
        /// See [`Event::Data`].
        frame_remaining: u64,
        /// See [`Event::Data`].
        frame_fin: bool,
    },
    /// See [`Event::Ping`].
    Ping(Span),
    /// See [`Event::Pong`].
    Pong(Span),
    /// See [`Event::Close`]: the status code (already validated) and the reason's bytes
    /// (already checked to be UTF-8).
    Close(Option<CloseCode>, Span),
}

impl RawEvent {
    /// The event, borrowing its bytes from `input` (the buffer the spans refer to).
    #[inline]
    pub fn resolve(self, input: &[u8]) -> Event<'_> {
        match self {
            RawEvent::Data {
                kind,
                first,
                last,
                span,
                frame_remaining,
                frame_fin,
            } => Event::Data {
                kind,
                first,
                last,
                payload: span.of(input),
                frame_remaining,
                frame_fin,
            },
            RawEvent::Ping(span) => Event::Ping(span.of(input)),
            RawEvent::Pong(span) => Event::Pong(span.of(input)),
            RawEvent::Close(code, span) => Event::Close(code.map(|code| CloseFrame {
                code,
                reason: core::str::from_utf8(span.of(input)).unwrap_or(""),
            })),
        }
    }

    /// The same event, its spans moved `by` bytes further into the buffer.
    #[inline]
    pub fn offset(self, by: usize) -> RawEvent {
        match self {
            RawEvent::Data {
                kind,
                first,
                last,
                span,
                frame_remaining,
                frame_fin,
            } => RawEvent::Data {
                kind,
                first,
                last,
                span: span.offset(by),
                frame_remaining,
                frame_fin,
            },
            RawEvent::Ping(span) => RawEvent::Ping(span.offset(by)),
            RawEvent::Pong(span) => RawEvent::Pong(span.offset(by)),
            RawEvent::Close(code, span) => RawEvent::Close(code, span.offset(by)),
        }
    }
}

/// The result of [`Receiver::receive_raw`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawReceived {
    /// Bytes used from the front of the input.
    pub consumed: usize,
    /// The event, or `None` when more input is needed.
    pub event: Option<RawEvent>,
}

impl RawReceived {
    const NEED_MORE: RawReceived = RawReceived {
        consumed: 0,
        event: None,
    };
}

/// The result of [`Receiver::receive`]: how many input bytes were used, and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Bytes used from the front of the input; the caller drops them.
    pub consumed: usize,
    /// The event, or `None` when more input is needed to make one.
    pub event: Option<Event<'a>>,
}

impl Receiver {
    /// The receiving half for `role`.
    pub const fn new(role: Role) -> Self {
        Receiver {
            role,
            frame: None,
            message: None,
            flags: 0,
            utf8: Utf8Validator::new(),
            message_len: 0,
            max_message: u64::MAX,
        }
    }

    /// Limits the size of a data message, all its frames together; a frame header that
    /// would take a message past `max` fails the connection with 1009 before any of its
    /// payload is read. Unlimited by default.
    pub fn set_max_message_size(&mut self, max: u64) {
        self.max_message = max;
    }

    /// Whether the peer's close frame has arrived.
    pub const fn is_closed(&self) -> bool {
        self.flags & CLOSED != 0
    }

    /// Whether a data message is partly received.
    pub const fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// The most bytes that must be buffered at once to make progress: a whole control
    /// frame (header and 125-byte payload). A receive buffer must be at least this large.
    pub const MIN_BUFFER: usize = 6 + MAX_CONTROL_PAYLOAD;

    /// Processes bytes from the front of `input`, unmasking in place.
    ///
    /// Returns the bytes consumed and at most one event. With `event: None` the rest of
    /// `input` is too short to make progress: call again once more bytes follow it (a
    /// control frame needs its whole payload; a data frame's payload is handed out as it
    /// comes). After the peer's close frame, all input is consumed and ignored.
    ///
    /// On error the offending frame is not consumed; the connection must be failed with
    /// the error's close code.
    #[inline]
    pub fn receive<'a>(&mut self, input: &'a mut [u8]) -> Result<Received<'a>, ProtocolError> {
        let raw = self.receive_raw(input)?;
        let input: &'a [u8] = input;
        Ok(Received {
            consumed: raw.consumed,
            event: raw.event.map(|e| e.resolve(input)),
        })
    }

    /// [`Receiver::receive`], with the event's bytes given as offsets into `input` rather
    /// than borrowed: for drivers that must touch their buffers before handing it out.
    #[inline]
    pub fn receive_raw(&mut self, input: &mut [u8]) -> Result<RawReceived, ProtocolError> {
        if self.flags & CLOSED != 0 {
            return Ok(RawReceived {
                consumed: input.len(),
                event: None,
            });
        }
        if self.frame.is_some() {
            return self.payload(input, 0);
        }
        let Some((header, header_len)) = FrameHeader::parse(input)? else {
            return Ok(RawReceived::NEED_MORE);
        };
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let kind = match header.opcode {
            OpCode::Continuation => self.message.ok_or(ProtocolError::UnexpectedContinuation)?,
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if header.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                return self.control(input, header, header_len);
            }
        };
        let before = if self.message.is_some() {
            self.message_len
        } else {
            0
        };
        let message_len = before.saturating_add(header.len);
        if message_len > self.max_message {
            return Err(ProtocolError::MessageTooBig);
        }
        self.message_len = message_len;
        if self.message.is_none() {
            self.message = Some(kind);
            self.flags |= FIRST;
            self.utf8.reset();
        }
        self.frame = Some(InFrame {
            fin: header.fin,
            mask: header.mask,
            remaining: header.len,
            phase: 0,
        });
        let rest = input.get_mut(header_len..).unwrap_or_default();
        let received = self.payload(rest, header.len)?;
        Ok(RawReceived {
            consumed: received.consumed.saturating_add(header_len),
            event: received.event.map(|e| e.offset(header_len)),
        })
    }

    /// Hands out the next piece of the current data frame's payload. `frame_len` is the
    /// frame's whole length when called right after its header (an empty frame is handed
    /// out as an empty piece), 0 otherwise.
    #[inline]
    fn payload(&mut self, input: &mut [u8], frame_len: u64) -> Result<RawReceived, ProtocolError> {
        let (Some(frame), Some(kind)) = (self.frame, self.message) else {
            return Ok(RawReceived::NEED_MORE);
        };
        let available = usize::try_from(frame.remaining).unwrap_or(usize::MAX);
        let take = available.min(input.len());
        if take == 0 && (frame.remaining > 0 || frame_len > 0) {
            return Ok(RawReceived::NEED_MORE);
        }
        let chunk = input.get_mut(..take).unwrap_or_default();
        if let Some(key) = frame.mask {
            frame::apply_mask(chunk, key, usize::from(frame.phase));
        }
        let remaining = frame.remaining.saturating_sub(take as u64);
        let last = frame.fin && remaining == 0;
        if kind == MessageKind::Text {
            self.utf8
                .feed(chunk)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            if last {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        self.frame = (remaining > 0).then_some(InFrame {
            remaining,
            // Wrapping keeps the value modulo 4: 2^usize::BITS is a multiple of 4.
            phase: (usize::from(frame.phase).wrapping_add(take) % 4) as u8,
            ..frame
        });
        if last {
            self.message = None;
        }
        let first = self.flags & FIRST != 0;
        self.flags &= !FIRST;
        Ok(RawReceived {
            consumed: take,
            event: Some(RawEvent::Data {
                kind,
                first,
                last,
                span: Span {
                    start: 0,
                    end: take,
                },
                frame_remaining: remaining,
                frame_fin: frame.fin,
            }),
        })
    }

    #[inline]
    fn control(
        &mut self,
        input: &mut [u8],
        header: FrameHeader,
        header_len: usize,
    ) -> Result<RawReceived, ProtocolError> {
        // The header parser has bounded control payloads to 125 bytes.
        let end = header_len.saturating_add(header.len as usize);
        let Some(payload) = input.get_mut(header_len..end) else {
            return Ok(RawReceived::NEED_MORE);
        };
        if let Some(key) = header.mask {
            frame::apply_mask(payload, key, 0);
        }
        let span = Span {
            start: header_len,
            end,
        };
        let event = match header.opcode {
            OpCode::Ping => RawEvent::Ping(span),
            OpCode::Pong => RawEvent::Pong(span),
            _ => {
                let code = parse_close(payload)?.map(|c| c.code);
                self.flags |= CLOSED;
                let reason = Span {
                    start: header_len.saturating_add(2).min(end),
                    end,
                };
                RawEvent::Close(code, reason)
            }
        };
        Ok(RawReceived {
            consumed: end,
            event: Some(event),
        })
    }
}

/// Keepalive pings, sans-IO: the caller passes the time in, in milliseconds from any
/// fixed origin, and sends what [`Keepalive::poll`] asks for.
///
/// After `interval` without hearing from the peer, poll asks for a ping; if the peer stays
/// silent for `timeout` more, poll reports [`KeepaliveAction::TimedOut`] and the caller
/// closes the connection (with 1001, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Keepalive {
    interval: u64,
    timeout: u64,
    last_seen: u64,
    ping_sent: Option<u64>,
}

/// What [`Keepalive::poll`] asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeepaliveAction {
    /// Nothing to do yet.
    Wait,
    /// Send a ping now.
    SendPing,
    /// The peer did not answer: close the connection.
    TimedOut,
}

impl Keepalive {
    /// Pings after `interval_ms` of silence; gives up `timeout_ms` after a ping. `now`
    /// is the current time.
    pub const fn new(interval_ms: u64, timeout_ms: u64, now: u64) -> Self {
        Keepalive {
            interval: interval_ms,
            timeout: timeout_ms,
            last_seen: now,
            ping_sent: None,
        }
    }

    /// The peer was heard from at `now` (any event, a pong included).
    pub fn seen(&mut self, now: u64) {
        self.last_seen = now;
        self.ping_sent = None;
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: u64) -> KeepaliveAction {
        match self.ping_sent {
            Some(sent) if now.saturating_sub(sent) >= self.timeout => KeepaliveAction::TimedOut,
            Some(_) => KeepaliveAction::Wait,
            None if now.saturating_sub(self.last_seen) >= self.interval => {
                self.ping_sent = Some(now);
                KeepaliveAction::SendPing
            }
            None => KeepaliveAction::Wait,
        }
    }

    /// When [`Keepalive::poll`] next has something to do, if nothing is heard before.
    pub fn next_poll(&self) -> u64 {
        match self.ping_sent {
            Some(sent) => sent.saturating_add(self.timeout),
            None => self.last_seen.saturating_add(self.interval),
        }
    }
}

/// Parses a close frame's payload: empty, or a valid code and a UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame<'_>>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

/// The largest close reason: 125 bytes of control payload less the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// A frame the sender refused to produce: the caller's mistake, not the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent: nothing may follow it.
    Closed,
    /// A control payload over 125 bytes, or a close reason over 123.
    ControlTooLong,
    /// A close code that may not be sent (see [`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode,
    /// A fragment of one type while a message of the other type is open.
    KindMismatch,
    /// A frame was started whose payload is not all sent yet: nothing else can be sent
    /// until it is.
    FrameOpen,
    /// More payload than the open frame's header announced (or no frame open).
    PayloadTooLong,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "close already sent",
            SendError::ControlTooLong => "control payload too long",
            SendError::InvalidCloseCode => "close code not allowed on the wire",
            SendError::KindMismatch => "fragment type differs from the open message's",
            SendError::FrameOpen => "a frame's payload is still being sent",
            SendError::PayloadTooLong => "more payload than the frame's header announced",
        })
    }
}

impl core::error::Error for SendError {}

/// The sending half of a connection: decides every outgoing frame's header, and keeps
/// count of the payload of the data frame being sent.
///
/// A data frame is open from its header ([`Sender::data`]) until all the payload its
/// header announced has been accounted for with [`Sender::payload`]; no other frame can
/// start meanwhile. A driver that writes whole frames opens and completes each at once;
/// one that streams a large payload in chunks keeps the frame open across calls.
#[derive(Clone, Debug)]
pub struct Sender {
    /// Payload bytes the open data frame still owes (0: no frame open).
    remaining: u64,
    role: Role,
    /// The type of the fragmented message being sent, if one is open.
    message: Option<MessageKind>,
    /// [`CLOSE_SENT`] and [`BROKEN`], packed to keep the state small.
    flags: u8,
    /// The open frame's masking key (a client's), and its payload sent so far modulo 4.
    key: [u8; 4],
    phase: u8,
}

/// A close frame has been sent.
const CLOSE_SENT: u8 = 1 << 0;
/// A write failed part-way: the byte stream is cut and nothing more can be sent.
const BROKEN: u8 = 1 << 1;

/// How to mask the payload bytes accounted for by one call of [`Sender::payload`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PayloadMask {
    /// Send them as they are (a server's frames).
    None,
    /// XOR them with `key`, as bytes starting `offset` bytes into the frame's payload
    /// (see [`frame::apply_mask`]).
    Key {
        /// The frame's masking key.
        key: [u8; 4],
        /// Where the bytes start in the payload, modulo 4.
        offset: usize,
    },
}

impl Sender {
    /// The sending half for `role`.
    pub const fn new(role: Role) -> Self {
        Sender {
            remaining: 0,
            role,
            message: None,
            flags: 0,
            key: [0; 4],
            phase: 0,
        }
    }

    /// This end's role.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Whether a close frame has been sent.
    pub const fn is_closed(&self) -> bool {
        self.flags & CLOSE_SENT != 0
    }

    /// Marks the byte stream as cut (a write failed part-way through a frame): the
    /// driver sends nothing more.
    pub fn set_broken(&mut self) {
        self.flags |= BROKEN;
    }

    /// Whether a write failed part-way through a frame.
    pub const fn is_broken(&self) -> bool {
        self.flags & BROKEN != 0
    }

    /// Whether a fragmented message has been started and not finished.
    pub const fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Payload bytes the open data frame still owes; 0 when no frame is open.
    pub const fn frame_remaining(&self) -> u64 {
        self.remaining
    }

    fn mask(&self, key: impl FnOnce() -> [u8; 4]) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(key()),
            Role::Server => None,
        }
    }

    /// Refuses a new frame while the open one owes payload, or after the close.
    const fn check_new_frame(&self) -> Result<(), SendError> {
        if self.is_closed() {
            Err(SendError::Closed)
        } else if self.remaining > 0 {
            Err(SendError::FrameOpen)
        } else {
            Ok(())
        }
    }

    /// The header of the next frame of a data message, carrying `len` payload bytes: the
    /// message's first frame if none is open, else a continuation. `last` ends the
    /// message. `key` is asked for a fresh masking key when this end is a client.
    ///
    /// The frame stays open until its `len` bytes have gone through [`Sender::payload`].
    #[inline]
    pub fn data(
        &mut self,
        kind: MessageKind,
        last: bool,
        len: u64,
        key: impl FnOnce() -> [u8; 4],
    ) -> Result<FrameHeader, SendError> {
        self.check_new_frame()?;
        let opcode = match self.message {
            None => kind.opcode(),
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::KindMismatch),
        };
        self.message = if last { None } else { Some(kind) };
        let mask = self.mask(key);
        self.remaining = len;
        self.key = mask.unwrap_or_default();
        self.phase = 0;
        Ok(FrameHeader {
            fin: last,
            opcode,
            mask,
            len,
        })
    }

    /// Accounts for the next `len` payload bytes of the open data frame, and says how to
    /// mask them. More than the frame still owes is [`SendError::PayloadTooLong`], and
    /// nothing is counted.
    #[inline]
    pub fn payload(&mut self, len: usize) -> Result<PayloadMask, SendError> {
        let len64 = len as u64;
        if len64 > self.remaining {
            return Err(SendError::PayloadTooLong);
        }
        self.remaining = self.remaining.saturating_sub(len64);
        let offset = usize::from(self.phase);
        // Wrapping keeps the value modulo 4: 2^usize::BITS is a multiple of 4.
        self.phase = (offset.wrapping_add(len) % 4) as u8;
        Ok(match self.role {
            Role::Client => PayloadMask::Key {
                key: self.key,
                offset,
            },
            Role::Server => PayloadMask::None,
        })
    }

    /// The header of a ping or pong carrying `len` bytes.
    pub fn ping_pong(
        &mut self,
        pong: bool,
        len: usize,
        key: impl FnOnce() -> [u8; 4],
    ) -> Result<FrameHeader, SendError> {
        self.check_new_frame()?;
        if len > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        Ok(FrameHeader {
            fin: true,
            opcode: if pong { OpCode::Pong } else { OpCode::Ping },
            mask: self.mask(key),
            len: len as u64,
        })
    }

    /// The header and payload of a close frame; afterwards nothing more can be sent.
    /// `None` sends a close frame without a status code.
    pub fn close(
        &mut self,
        close: Option<CloseFrame<'_>>,
        key: impl FnOnce() -> [u8; 4],
    ) -> Result<(FrameHeader, ClosePayload), SendError> {
        self.check_new_frame()?;
        let mut payload = ClosePayload {
            bytes: [0; MAX_CONTROL_PAYLOAD],
            len: 0,
        };
        if let Some(CloseFrame { code, reason }) = close {
            if !code.is_valid_on_wire() {
                return Err(SendError::InvalidCloseCode);
            }
            if reason.len() > MAX_CLOSE_REASON {
                return Err(SendError::ControlTooLong);
            }
            let [hi, lo] = code.0.to_be_bytes();
            payload.bytes[0] = hi;
            payload.bytes[1] = lo;
            let dst = payload
                .bytes
                .get_mut(2..)
                .and_then(|b| b.get_mut(..reason.len()));
            if let Some(dst) = dst {
                dst.copy_from_slice(reason.as_bytes());
            }
            // At most 123: checked above.
            payload.len = (reason.len() as u8).saturating_add(2);
        }
        self.flags |= CLOSE_SENT;
        Ok((
            FrameHeader {
                fin: true,
                opcode: OpCode::Close,
                mask: self.mask(key),
                len: u64::from(payload.len),
            },
            payload,
        ))
    }
}

/// A close frame's payload, built by [`Sender::close`].
#[derive(Clone, Copy, Debug)]
pub struct ClosePayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: u8,
}

impl ClosePayload {
    /// The payload's bytes (unmasked).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    /// Builds a frame as the given role would send it, with a fixed mask for a client.
    fn frame(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mask = (role == Role::Client).then_some([0x12, 0x34, 0x56, 0x78]);
        let h = FrameHeader {
            fin,
            opcode,
            mask,
            len: payload.len() as u64,
        };
        let mut out = h.emit().as_bytes().to_vec();
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            frame::apply_mask(&mut out[start..], key, 0);
        }
        out
    }

    /// An owned copy of an event, for comparing across borrows.
    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Ev {
        Data(MessageKind, bool, bool, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn own(e: Event<'_>) -> Ev {
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

    /// Feeds `bytes` to a receiver in pieces of at most `step` bytes, as a driver would:
    /// a buffer that keeps unconsumed bytes and appends new ones.
    fn run(role: Role, bytes: &[u8], step: usize) -> Result<Vec<Ev>, ProtocolError> {
        let mut rx = Receiver::new(role);
        let mut buf: Vec<u8> = Vec::new();
        let mut events = Vec::new();
        let mut fed = 0;
        loop {
            let r = rx.receive(&mut buf)?;
            let consumed = r.consumed;
            let got = r.event.map(own);
            buf.drain(..consumed);
            match got {
                Some(e) => events.push(e),
                None if fed == bytes.len() => return Ok(events),
                None => {
                    let end = (fed + step).min(bytes.len());
                    buf.extend_from_slice(&bytes[fed..end]);
                    fed = end;
                }
            }
        }
    }

    /// Merges consecutive data pieces into whole messages, checking first/last flags.
    fn messages(events: &[Ev]) -> Vec<Ev> {
        let mut out = Vec::new();
        let mut open: Option<(MessageKind, Vec<u8>)> = None;
        for e in events {
            match e {
                Ev::Data(kind, first, last, data) => {
                    assert_eq!(*first, open.is_none(), "first flag in {events:?}");
                    let (k, buf) = open.get_or_insert((*kind, Vec::new()));
                    assert_eq!(k, kind);
                    buf.extend_from_slice(data);
                    if *last {
                        let (k, buf) = open.take().unwrap();
                        out.push(Ev::Data(k, true, true, buf));
                    }
                }
                other => out.push(other.clone()),
            }
        }
        assert!(open.is_none(), "unfinished message in {events:?}");
        out
    }

    fn whole(kind: MessageKind, data: &[u8]) -> Ev {
        Ev::Data(kind, true, true, data.to_vec())
    }

    #[test]
    fn single_frames_at_every_split() {
        for role in [Role::Client, Role::Server] {
            let peer = if role == Role::Client {
                Role::Server
            } else {
                Role::Client
            };
            let mut bytes = frame(peer, true, OpCode::Text, b"Hello");
            bytes.extend(frame(peer, true, OpCode::Binary, &[0, 1, 2, 255]));
            bytes.extend(frame(peer, true, OpCode::Ping, b"p"));
            bytes.extend(frame(peer, true, OpCode::Text, b""));
            bytes.extend(frame(peer, true, OpCode::Pong, b""));
            bytes.extend(frame(
                peer,
                true,
                OpCode::Close,
                &[0x03, 0xE8, b'b', b'y', b'e'],
            ));
            let expected = vec![
                whole(MessageKind::Text, b"Hello"),
                whole(MessageKind::Binary, &[0, 1, 2, 255]),
                Ev::Ping(b"p".to_vec()),
                whole(MessageKind::Text, b""),
                Ev::Pong(vec![]),
                Ev::Close(Some((1000, "bye".into()))),
            ];
            for step in 1..=bytes.len() {
                let events = run(role, &bytes, step).unwrap();
                assert_eq!(messages(&events), expected, "{role:?} step {step}");
            }
        }
    }

    #[test]
    fn boundary_lengths() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for (role, peer) in [(Role::Server, Role::Client), (Role::Client, Role::Server)] {
                let bytes = frame(peer, true, OpCode::Binary, &payload);
                for step in [7, 4096, bytes.len().max(1)] {
                    let events = run(role, &bytes, step).unwrap();
                    assert_eq!(
                        messages(&events),
                        vec![whole(MessageKind::Binary, &payload)],
                        "len {len} step {step}"
                    );
                }
            }
        }
    }

    #[test]
    fn fragments_with_control_frames_between() {
        let c = Role::Client;
        let mut bytes = frame(c, false, OpCode::Text, "Hé".as_bytes());
        bytes.extend(frame(c, true, OpCode::Ping, b"in between"));
        bytes.extend(frame(c, false, OpCode::Continuation, b""));
        bytes.extend(frame(c, true, OpCode::Pong, b"x"));
        bytes.extend(frame(c, true, OpCode::Continuation, "llo €".as_bytes()));
        for step in 1..=bytes.len() {
            let events = run(Role::Server, &bytes, step).unwrap();
            assert_eq!(
                messages(&events),
                vec![
                    Ev::Ping(b"in between".to_vec()),
                    Ev::Pong(b"x".to_vec()),
                    whole(MessageKind::Text, "Héllo €".as_bytes()),
                ],
                "step {step}"
            );
        }
    }

    fn fails_with(role: Role, bytes: &[u8], err: ProtocolError) {
        for step in [1, 3, bytes.len()] {
            assert_eq!(run(role, bytes, step), Err(err), "step {step}: {bytes:x?}");
        }
    }

    #[test]
    fn each_protocol_error() {
        let s = Role::Server;
        let c = Role::Client;
        // Masking by role.
        fails_with(
            s,
            &frame(s, true, OpCode::Text, b"x"),
            ProtocolError::UnmaskedFrame,
        );
        fails_with(
            c,
            &frame(c, true, OpCode::Text, b"x"),
            ProtocolError::MaskedFrame,
        );
        // RSV bits, reserved opcodes.
        let mut rsv = frame(c, true, OpCode::Text, b"x");
        rsv[0] |= 0x40;
        fails_with(s, &rsv, ProtocolError::Header(HeaderError::ReservedBits));
        let mut op = frame(c, true, OpCode::Text, b"x");
        op[0] = 0x83;
        fails_with(s, &op, ProtocolError::Header(HeaderError::ReservedOpcode));
        // Fragmentation rules.
        fails_with(
            s,
            &frame(c, true, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
        );
        let mut two = frame(c, false, OpCode::Text, b"a");
        two.extend(frame(c, true, OpCode::Binary, b"b"));
        fails_with(s, &two, ProtocolError::ExpectedContinuation);
        let mut ping = frame(c, false, OpCode::Ping, b"a");
        fails_with(
            s,
            &ping,
            ProtocolError::Header(HeaderError::ControlFragmented),
        );
        ping = frame(c, true, OpCode::Ping, &[0; 126]);
        fails_with(s, &ping, ProtocolError::Header(HeaderError::ControlTooLong));
        // UTF-8, in one frame and across fragments.
        fails_with(
            s,
            &frame(c, true, OpCode::Text, b"\xff"),
            ProtocolError::InvalidUtf8,
        );
        let mut split = frame(c, false, OpCode::Text, b"\xe2\x82");
        split.extend(frame(c, true, OpCode::Continuation, b""));
        fails_with(s, &split, ProtocolError::InvalidUtf8);
        // Close payloads.
        fails_with(
            s,
            &frame(c, true, OpCode::Close, &[3]),
            ProtocolError::InvalidClosePayload,
        );
        fails_with(
            s,
            &frame(c, true, OpCode::Close, &[0x03, 0xED]),
            ProtocolError::InvalidCloseCode(1005),
        );
        fails_with(
            s,
            &frame(c, true, OpCode::Close, &[0x03, 0xE8, 0xff]),
            ProtocolError::InvalidUtf8,
        );
    }

    #[test]
    fn every_close_code() {
        for code in 0..=u16::MAX {
            let [hi, lo] = code.to_be_bytes();
            let bytes = frame(Role::Client, true, OpCode::Close, &[hi, lo]);
            let got = run(Role::Server, &bytes, bytes.len());
            if CloseCode(code).is_valid_on_wire() {
                assert_eq!(got, Ok(vec![Ev::Close(Some((code, String::new())))]));
            } else {
                assert_eq!(got, Err(ProtocolError::InvalidCloseCode(code)));
            }
        }
    }

    #[test]
    fn utf8_fails_fast_mid_frame() {
        // The bad byte is in the first piece of a frame whose rest has not arrived.
        let mut bytes = frame(Role::Client, true, OpCode::Text, &[b'a'; 200]);
        bytes[6 + 10] ^= 0xff; // masked payload starts after 6 header bytes
        let mut rx = Receiver::new(Role::Server);
        let mut part = bytes[..30].to_vec();
        assert_eq!(rx.receive(&mut part), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn nothing_after_close() {
        let mut bytes = frame(Role::Client, true, OpCode::Close, &[]);
        bytes.extend(frame(Role::Client, true, OpCode::Text, b"late"));
        let events = run(Role::Server, &bytes, bytes.len()).unwrap();
        assert_eq!(events, vec![Ev::Close(None)]);
    }

    #[test]
    fn connection_state_is_a_few_dozen_bytes() {
        // The sender's 16 bytes include the count of an open frame's payload (a frame
        // may be larger than 4 GiB, so 64 bits even on 32-bit targets) and its mask key.
        let state = core::mem::size_of::<Receiver>() + core::mem::size_of::<Sender>();
        assert!(state <= 56, "{state} bytes");
    }

    #[test]
    fn message_size_limit_fails_at_the_header() {
        let c = Role::Client;
        let mut rx = Receiver::new(Role::Server);
        rx.set_max_message_size(10);
        // Two fragments of 6: the second header already takes the message past 10.
        let mut bytes = frame(c, false, OpCode::Binary, &[1; 6]);
        let second = frame(c, true, OpCode::Continuation, &[2; 6]);
        bytes.extend_from_slice(&second[..6]); // header only, no payload yet
        let r = rx.receive(&mut bytes).unwrap();
        assert_eq!(r.consumed, 12);
        let mut rest = bytes[12..].to_vec();
        assert_eq!(rx.receive(&mut rest), Err(ProtocolError::MessageTooBig));
        // Exactly at the limit is fine, and the count starts again for the next message.
        let mut rx = Receiver::new(Role::Server);
        rx.set_max_message_size(10);
        for _ in 0..3 {
            let mut whole = frame(c, true, OpCode::Text, b"0123456789");
            assert!(rx.receive(&mut whole).unwrap().event.is_some());
        }
        let mut over = frame(c, true, OpCode::Text, b"0123456789A");
        assert_eq!(rx.receive(&mut over), Err(ProtocolError::MessageTooBig));
    }

    #[test]
    fn keepalive_pings_then_times_out() {
        let mut k = Keepalive::new(1000, 500, 0);
        assert_eq!(k.poll(999), KeepaliveAction::Wait);
        k.seen(900);
        assert_eq!(k.poll(1899), KeepaliveAction::Wait);
        assert_eq!(k.poll(1900), KeepaliveAction::SendPing);
        assert_eq!(k.poll(2000), KeepaliveAction::Wait, "one ping at a time");
        assert_eq!(k.next_poll(), 2400);
        k.seen(2100); // the pong, or anything else, came back
        assert_eq!(k.poll(2399), KeepaliveAction::Wait);
        assert_eq!(k.poll(3100), KeepaliveAction::SendPing);
        assert_eq!(k.poll(3599), KeepaliveAction::Wait);
        assert_eq!(k.poll(3600), KeepaliveAction::TimedOut);
    }

    #[test]
    fn pieces_tell_where_they_stand_in_their_frame() {
        // A message of two frames (10 bytes, then 5 with FIN), fed in every step size:
        // each piece's frame_remaining counts down its own frame, and frame_fin is the
        // frame's FIN bit, so a relay can send the frames on exactly.
        let c = Role::Client;
        let mut bytes = frame(c, false, OpCode::Binary, &[1; 10]);
        bytes.extend(frame(c, true, OpCode::Continuation, &[2; 5]));
        for step in 1..=bytes.len() {
            let mut rx = Receiver::new(Role::Server);
            let mut buf: Vec<u8> = Vec::new();
            let mut fed = 0;
            // (frame length, fin) of each frame, rebuilt from the pieces alone.
            let mut frames: Vec<(u64, bool)> = Vec::new();
            let mut open: Option<(u64, bool)> = None;
            loop {
                let r = rx.receive(&mut buf).unwrap();
                let consumed = r.consumed;
                match r.event {
                    Some(Event::Data {
                        payload,
                        frame_remaining,
                        frame_fin,
                        last,
                        ..
                    }) => {
                        let (len, fin) = open.get_or_insert((0, frame_fin));
                        assert_eq!(*fin, frame_fin, "step {step}");
                        *len += payload.len() as u64;
                        assert_eq!(last, frame_fin && frame_remaining == 0);
                        if frame_remaining == 0 {
                            frames.extend(open.take());
                        }
                    }
                    Some(other) => std::panic!("{other:?}"),
                    None if fed == bytes.len() => break,
                    None => {
                        let end = (fed + step).min(bytes.len());
                        buf.extend_from_slice(&bytes[fed..end]);
                        fed = end;
                    }
                }
                buf.drain(..consumed);
            }
            assert_eq!(frames, vec![(10, false), (5, true)], "step {step}");
        }
    }

    #[test]
    fn sender_keeps_a_frame_open_until_its_payload_is_sent() {
        let key = || [9, 8, 7, 6];
        let mut tx = Sender::new(Role::Client);
        let h = tx.data(MessageKind::Binary, true, 10, key).unwrap();
        assert_eq!((h.len, h.fin, h.mask), (10, true, Some([9, 8, 7, 6])));
        assert_eq!(tx.frame_remaining(), 10);
        // Nothing else may start inside the frame: data, ping, pong or close.
        assert_eq!(
            tx.data(MessageKind::Binary, true, 1, key),
            Err(SendError::FrameOpen)
        );
        assert_eq!(tx.ping_pong(false, 0, key), Err(SendError::FrameOpen));
        assert_eq!(tx.ping_pong(true, 0, key), Err(SendError::FrameOpen));
        assert_eq!(tx.close(None, key).map(|_| ()), Err(SendError::FrameOpen));
        // The payload in pieces: each told where it stands against the key.
        let mask = |offset| PayloadMask::Key {
            key: [9, 8, 7, 6],
            offset,
        };
        assert_eq!(tx.payload(3), Ok(mask(0)));
        assert_eq!(tx.payload(0), Ok(mask(3)));
        assert_eq!(tx.payload(2), Ok(mask(3)));
        assert_eq!(tx.frame_remaining(), 5);
        // More than the frame owes is refused, and nothing is counted.
        assert_eq!(tx.payload(6), Err(SendError::PayloadTooLong));
        assert_eq!(tx.frame_remaining(), 5);
        assert_eq!(tx.payload(5), Ok(mask(1)));
        assert_eq!(tx.frame_remaining(), 0);
        assert_eq!(tx.payload(1), Err(SendError::PayloadTooLong));
        // Complete: control frames and the next message may go.
        assert!(tx.ping_pong(true, 0, key).is_ok());
        let h = tx.data(MessageKind::Text, true, 0, key).unwrap();
        assert_eq!((h.opcode, tx.frame_remaining()), (OpCode::Text, 0));
        // A frame larger than 4 GiB is counted in 64 bits.
        let mut server = Sender::new(Role::Server);
        server
            .data(MessageKind::Binary, true, 5 << 30, key)
            .unwrap();
        assert_eq!(server.payload(1 << 30), Ok(PayloadMask::None));
        assert_eq!(server.frame_remaining(), (5 << 30) - (1 << 30));
    }

    #[test]
    fn sender_sequences() {
        let mut tx = Sender::new(Role::Server);
        let key = || [1, 2, 3, 4];
        let h = tx.data(MessageKind::Text, false, 3, key).unwrap();
        assert_eq!((h.opcode, h.fin, h.mask), (OpCode::Text, false, None));
        assert_eq!(tx.payload(3), Ok(PayloadMask::None));
        assert_eq!(
            tx.data(MessageKind::Binary, true, 1, key),
            Err(SendError::KindMismatch)
        );
        let h = tx.data(MessageKind::Text, false, 3, key).unwrap();
        assert_eq!((h.opcode, h.fin), (OpCode::Continuation, false));
        assert_eq!(tx.payload(3), Ok(PayloadMask::None));
        let h = tx.ping_pong(false, 125, key).unwrap();
        assert_eq!(h.opcode, OpCode::Ping);
        assert_eq!(tx.ping_pong(true, 126, key), Err(SendError::ControlTooLong));
        let h = tx.data(MessageKind::Text, true, 0, key).unwrap();
        assert_eq!((h.opcode, h.fin), (OpCode::Continuation, true));
        assert!(!tx.in_message());

        let mut client = Sender::new(Role::Client);
        let h = client.data(MessageKind::Binary, true, 9, key).unwrap();
        assert_eq!(h.mask, Some([1, 2, 3, 4]));
        assert!(client.payload(9).is_ok());

        let long = "x".repeat(124);
        let close = |code: u16, reason: &str| {
            Sender::new(Role::Server)
                .close(
                    Some(CloseFrame {
                        code: CloseCode(code),
                        reason,
                    }),
                    key,
                )
                .map(|(_, p)| p.as_bytes().to_vec())
        };
        assert_eq!(close(1000, "ok"), Ok(vec![0x03, 0xE8, b'o', b'k']));
        assert_eq!(close(1005, ""), Err(SendError::InvalidCloseCode));
        assert_eq!(close(1000, &long), Err(SendError::ControlTooLong));
        assert_eq!(close(4999, &long[..123]).map(|p| p.len()), Ok(125));
        let (h, p) = tx.close(None, key).unwrap();
        assert_eq!((h.opcode, h.len, p.as_bytes()), (OpCode::Close, 0, &[][..]));
        assert_eq!(
            tx.data(MessageKind::Text, true, 0, key),
            Err(SendError::Closed)
        );
        assert_eq!(tx.close(None, key).map(|_| ()), Err(SendError::Closed));
    }
}
