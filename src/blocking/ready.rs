//! A transport adapter that never blocks: "not ready" becomes a timeout, which every
//! operation of the driver survives.

use core::fmt;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};

/// Wraps a transport that can tell whether a read or a write would block
/// (`embedded-io`'s [`ReadReady`] and [`WriteReady`]) so that it never does: a read or
/// write that would block fails at once with [`NotReady::NotReady`], whose kind is
/// `TimedOut`. Since every driver operation survives a timeout and is simply called
/// again, one loop can then serve many connections, stepping each as far as its
/// transport allows and never blocking in any.
///
/// The pattern that keeps every echo from blocking: before each read, flush (if that
/// times out, the peer is not reading: move on); then read one event and write its echo.
/// With the transmit buffer empty, and the receive buffer at least a frame header
/// (14 bytes) smaller than the transmit buffer, every received piece's echo fits the
/// transmit buffer, so the write completes without I/O:
///
/// ```
/// # use ws13::blocking::{Ready, WebSocket};
/// # use ws13::{Error, Event};
/// fn turn<T>(ws: &mut WebSocket<'_, Ready<T>>) -> Result<(), Error<<Ready<T> as embedded_io::ErrorType>::Error>>
/// where
///     T: embedded_io::Read + embedded_io::Write + embedded_io::ReadReady + embedded_io::WriteReady,
/// {
///     ws.flush()?;
///     if let (Event::Data(piece), mut writer) = ws.read_split()? {
///         writer.relay(&piece)?;
///     }
///     Ok(())
/// }
///
/// fn serve<T>(connections: &mut [WebSocket<'_, Ready<T>>])
/// where
///     T: embedded_io::Read + embedded_io::Write + embedded_io::ReadReady + embedded_io::WriteReady,
/// {
///     for ws in connections.iter_mut() {
///         match turn(ws) {
///             Ok(()) => {}
///             Err(e) if e.is_timeout() => {} // nothing more to do here yet: next one
///             Err(_) => {}                    // closed or failed: drop it
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Ready<T>(pub T);

/// The error of a [`Ready`] transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReady<E> {
    /// The operation would have blocked (kind `TimedOut`): try again later.
    NotReady,
    /// The transport's own error.
    Io(E),
}

impl<E: fmt::Debug + fmt::Display> fmt::Display for NotReady<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::NotReady => f.write_str("transport not ready"),
            NotReady::Io(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for NotReady<E> {}

impl<E: embedded_io::Error> embedded_io::Error for NotReady<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            NotReady::NotReady => ErrorKind::TimedOut,
            NotReady::Io(e) => e.kind(),
        }
    }
}

impl<T: ErrorType> ErrorType for Ready<T> {
    type Error = NotReady<T::Error>;
}

impl<T: Read + ReadReady> Read for Ready<T> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if !self.0.read_ready().map_err(NotReady::Io)? {
            return Err(NotReady::NotReady);
        }
        self.0.read(buf).map_err(NotReady::Io)
    }
}

impl<T: Write + WriteReady> Write for Ready<T> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if !self.0.write_ready().map_err(NotReady::Io)? {
            return Err(NotReady::NotReady);
        }
        self.0.write(buf).map_err(NotReady::Io)
    }

    /// Flushes only when the transport is ready to take more (a flush may wait for its
    /// buffer to drain): otherwise [`NotReady::NotReady`].
    fn flush(&mut self) -> Result<(), Self::Error> {
        if !self.0.write_ready().map_err(NotReady::Io)? {
            return Err(NotReady::NotReady);
        }
        self.0.flush().map_err(NotReady::Io)
    }
}
