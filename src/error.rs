//! The one error type of every layer above the wire format.

use core::convert::Infallible;
use core::fmt;

use crate::handshake::client::{ClientError, UrlError};
use crate::handshake::server::RequestError;
use crate::handshake::WriteError;
use crate::proto::{ProtocolError, SendError};

/// What can go wrong on a connection. `E` is the transport's error; the sans-IO core,
/// which does no I/O, uses the default, [`Infallible`].
///
/// A transport error whose kind is `TimedOut` or `Interrupted` ([`Error::is_timeout`])
/// interrupts the call without harm: make the same call again and it carries on where
/// it stopped. Any other transport error ends the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// The transport failed.
    Io(E),
    /// The transport reached its end before the close handshake (close code 1006).
    Eof,
    /// The connection is closed: the close handshake is over, the connection failed or
    /// its transport ended, or (for a send) our close has already gone.
    Closed,
    /// The peer broke the protocol; the connection was failed with the error's close
    /// code.
    Protocol(ProtocolError),
    /// The client's request could not be upgraded; it was refused with the error's
    /// HTTP status.
    Request(RequestError),
    /// The server's response failed the client's checks.
    Handshake(ClientError),
    /// The application asked for a frame the protocol forbids.
    Send(SendError),
    /// A header, subprotocol, host or path given for a handshake is not valid in HTTP,
    /// or a subprotocol chosen was not offered.
    InvalidHeader,
    /// A URL that is not a plain `ws://` URL (`wss://` needs a TLS transport of the
    /// caller's).
    Url(UrlError),
    /// A buffer too small: below [`crate::proto::MIN_BUFFER`] for a connection, or too
    /// small for a handshake's request or response.
    BufferTooSmall,
    /// [`crate::blocking::WebSocket::read_message`] was called while
    /// [`crate::blocking::WebSocket::read`] had handed out only part of a message:
    /// finish that message with `read`.
    MessageInProgress,
}

impl<E: embedded_io::Error> Error<E> {
    /// Whether the transport timed out or was interrupted: nothing is lost, and the
    /// same call made again carries on where it stopped.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(
            e.kind(),
            embedded_io::ErrorKind::TimedOut | embedded_io::ErrorKind::Interrupted
        ))
    }
}

impl Error {
    /// The same error, as a driver whose transport errors are `E` returns it.
    pub(crate) fn into_io<E>(self) -> Error<E> {
        match self {
            Error::Io(never) => match never {},
            Error::Eof => Error::Eof,
            Error::Closed => Error::Closed,
            Error::Protocol(e) => Error::Protocol(e),
            Error::Request(e) => Error::Request(e),
            Error::Handshake(e) => Error::Handshake(e),
            Error::Send(e) => Error::Send(e),
            Error::InvalidHeader => Error::InvalidHeader,
            Error::Url(e) => Error::Url(e),
            Error::BufferTooSmall => Error::BufferTooSmall,
            Error::MessageInProgress => Error::MessageInProgress,
        }
    }
}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl<E> From<WriteError> for Error<E> {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::BufferTooSmall => Error::BufferTooSmall,
            WriteError::InvalidHeader => Error::InvalidHeader,
        }
    }
}

impl<E: fmt::Debug + fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport error: {e}"),
            Error::Eof => f.write_str("connection ended without a close handshake"),
            Error::Closed => f.write_str("connection closed"),
            Error::Protocol(e) => write!(f, "protocol error ({}): {e}", e.close_code()),
            Error::Request(e) => write!(f, "refused request (HTTP {}): {e}", e.status()),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::InvalidHeader => f.write_str("invalid header, subprotocol, host or path"),
            Error::Url(e) => write!(f, "{e}"),
            Error::BufferTooSmall => f.write_str("buffer too small"),
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
            Error::Closed => defmt::write!(f, "connection closed"),
            Error::Protocol(e) => defmt::write!(f, "protocol error: {}", e),
            Error::Request(e) => defmt::write!(f, "refused request: {}", e),
            Error::Handshake(e) => defmt::write!(f, "handshake failed: {}", e),
            Error::Send(e) => defmt::write!(f, "cannot send: {}", e),
            Error::InvalidHeader => defmt::write!(f, "invalid header"),
            Error::Url(e) => defmt::write!(f, "invalid URL: {}", e),
            Error::BufferTooSmall => defmt::write!(f, "buffer too small"),
            Error::MessageInProgress => defmt::write!(f, "a message is partly read"),
        }
    }
}
