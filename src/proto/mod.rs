//! The protocol (RFC 6455 sections 5-8), sans-IO: every rule of a connection, and no I/O.
//!
//! [`Connection`] is the state machine a driver runs. It is fed received bytes and hands
//! out [`Event`]s; it encodes what the application sends into the caller's transmit
//! buffer and says what must go out next ([`Output`]); it owes and sends the answers the
//! protocol requires (a pong for each ping, the echo of the peer's close, the close that
//! fails a connection), holding them behind a frame the application has not finished.
//! It never does I/O and never reads a clock: [`Keepalive`] is told the time.
//!
//! Inside, one file a job: `receiver` checks incoming frames, `sender` decides outgoing
//! headers, `connection` owns the buffers' state and the obligations between the two,
//! `keepalive` decides when to ping.

use core::fmt;

use crate::frame::{CloseCode, HeaderError, OpCode, MAX_CONTROL_PAYLOAD};

mod connection;
mod keepalive;
#[cfg(feature = "heapless")]
mod owned;
mod receiver;
mod sender;
#[cfg(test)]
mod testing;

pub(crate) use connection::RawMessage;
pub use connection::{Connection, Output, Owed, Shared, MIN_BUFFER};
#[cfg(feature = "async")]
pub(crate) use connection::{Inbound, Outbound};
pub use keepalive::{Keepalive, KeepaliveAction};
#[cfg(feature = "heapless")]
pub(crate) use owned::storage as owned_storage;
#[cfg(feature = "heapless")]
#[cfg_attr(docsrs, doc(cfg(feature = "heapless")))]
pub use owned::Owned;
pub(crate) use receiver::RawEvent;
#[cfg(feature = "async")]
pub(crate) use receiver::EMPTY_SPAN;

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

/// A piece of a received data message: see [`Event::Data`].
///
/// A message arrives as one or more pieces: its type is known from the first, and
/// `last` marks its end. Pieces follow the bytes as they arrive, not the frames; text is
/// validated before it is handed out, but a piece may end inside a multi-byte character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Piece<'a> {
    /// Text or binary, the same for every piece of a message.
    pub kind: MessageKind,
    /// This is the message's first piece.
    pub first: bool,
    /// This is the message's last piece.
    pub last: bool,
    /// The piece's bytes (possibly empty).
    pub payload: &'a [u8],
    /// Payload bytes of the piece's frame still to come after it (0 when the piece ends
    /// its frame).
    pub frame_remaining: u64,
    /// Whether the piece's frame is its message's last (the frame's FIN bit). With
    /// `frame_remaining`, enough to send frames on exactly as they came (a relay, an
    /// echo: see [`crate::blocking::Writer::relay`]).
    pub frame_fin: bool,
}

/// What arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<'a> {
    /// A piece of a data message.
    Data(Piece<'a>),
    /// A ping with its payload (at most 125 bytes). The connection answers it.
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// The peer's close frame, `None` when it carried no status code. The connection
    /// echoes it; nothing more arrives after it.
    Close(Option<CloseFrame<'a>>),
}

/// A whole message: one read whole (see [`Connection::poll_message`]), or one to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (at most 125 bytes). A received ping is answered by the connection.
    Ping(&'a [u8]),
    /// A pong (at most 125 bytes). Sent unasked, a pong is a heartbeat the peer ignores.
    Pong(&'a [u8]),
    /// A close frame: no status code, or a code and a reason of at most 123 bytes.
    /// A received close is echoed by the connection; one sent ends what can be sent.
    Close(Option<CloseFrame<'a>>),
}

/// A peer broke the protocol; the connection was failed with [`ProtocolError::close_code`].
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
    /// A message larger than the receiver accepts, or than the buffer it is read into.
    MessageTooBig,
}

impl ProtocolError {
    /// The close code the connection is failed with.
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

/// A frame the connection refused to send: the application's mistake, not the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// A control payload over 125 bytes, or a close reason over 123.
    ControlTooLong,
    /// A close code that may not be sent (see [`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode,
    /// A fragment of one type while a message of the other type is open.
    KindMismatch,
    /// A frame was started whose payload is not all sent yet: no other data frame can
    /// start until it is. (A ping or close waits for it instead, when the transmit
    /// buffer has room to hold it meanwhile.)
    FrameOpen,
    /// More payload than the open frame's header announced, or no frame open.
    PayloadTooLong,
    /// A frame length of 2^63 or more, which no header can carry.
    FrameTooLong,
    /// A call that does not match the one a timeout interrupted: an interrupted send
    /// must be called again with the same message before anything else is sent.
    NotTheInterruptedCall,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::ControlTooLong => "control payload too long",
            SendError::InvalidCloseCode => "close code not allowed on the wire",
            SendError::KindMismatch => "fragment type differs from the open message's",
            SendError::FrameOpen => "a frame's payload is still being sent",
            SendError::PayloadTooLong => "more payload than the frame's header announced",
            SendError::FrameTooLong => "frame length of 2^63 or more",
            SendError::NotTheInterruptedCall => "not the send that a timeout interrupted",
        })
    }
}

impl core::error::Error for SendError {}

/// A source of masking keys for a client's frames: each must be fresh and unpredictable
/// (RFC 6455 section 10.3), from a hardware random number generator, say. Closures
/// `FnMut() -> [u8; 4]` are sources.
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

/// A server's masking: none. A server's connection has this in place of a
/// [`MaskSource`]; it is not one, so no client can be made to send in the clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoMask;

/// How a connection masks its frames, which decides its role: [`NoMask`] makes a
/// server, any [`MaskSource`] a client. Sealed: implemented only by those.
pub trait Masking: sealed::Sealed {
    /// The role this masking makes.
    const ROLE: Role;

    /// The key for the next frame: `None` for a server.
    fn key(&mut self) -> Option<[u8; 4]>;
}

impl Masking for NoMask {
    const ROLE: Role = Role::Server;

    #[inline]
    fn key(&mut self) -> Option<[u8; 4]> {
        None
    }
}

impl<R: MaskSource> Masking for R {
    const ROLE: Role = Role::Client;

    #[inline]
    fn key(&mut self) -> Option<[u8; 4]> {
        Some(self.next_key())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoMask {}
    impl<R: super::MaskSource> Sealed for R {}
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

/// What [`parse_close`] checks, for the receiver, which keeps the reason's place rather
/// than a borrow of it: the status code, `None` for an empty payload.
pub(crate) fn close_code(payload: &[u8]) -> Result<Option<CloseCode>, ProtocolError> {
    parse_close(payload).map(|close| close.map(|close| close.code))
}

/// The largest close reason: 125 bytes of control payload less the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
