//! A transport adapter that never blocks: "not ready" becomes a timeout, which every
//! operation of the driver survives.

use core::fmt;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};

/// Wraps a transport that can tell whether a read or a write would block
/// (`embedded-io`'s [`ReadReady`] and [`WriteReady`]) so that it never does: a read or
/// write that would block fails at once with [`NotReady::NotReady`], whose kind is
/// `TimedOut`. Since every driver operation survives a timeout and is simply called
/// again, one loop can then serve many connections, stepping each as far as its
/// transport allows and never blocking in any. Each connection keeps the call it must
/// make again:
///
/// ```
/// # use ws13::blocking::{Ready, WebSocket};
/// # use ws13::Message;
/// # type Transport = ws13::blocking::Ready<Nothing>;
/// # struct Nothing;
/// # impl embedded_io::ErrorType for Nothing { type Error = embedded_io::ErrorKind; }
/// # impl embedded_io::Read for Nothing { fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
/// # impl embedded_io::Write for Nothing { fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) } }
/// # impl embedded_io::ReadReady for Nothing { fn read_ready(&mut self) -> Result<bool, Self::Error> { Ok(false) } }
/// # impl embedded_io::WriteReady for Nothing { fn write_ready(&mut self) -> Result<bool, Self::Error> { Ok(false) } }
/// struct Echo<'b> {
///     ws: WebSocket<'b, Transport>,
///     buf: [u8; 1024],
///     /// The length of a message whose echo a full transport interrupted.
///     owed: Option<(bool, usize)>,
/// }
///
/// fn turn(c: &mut Echo<'_>) -> Result<(), ws13::Error<<Transport as embedded_io::ErrorType>::Error>> {
///     if let Some((text, len)) = c.owed {
///         let data = &c.buf[..len];
///         // The same call as the one interrupted: it goes on where it stopped.
///         match text {
///             true => c.ws.send(Message::Text(core::str::from_utf8(data).unwrap_or(""))),
///             false => c.ws.send(Message::Binary(data)),
///         }?;
///         c.owed = None;
///     }
///     let (text, len) = match c.ws.read_message(&mut c.buf)? {
///         Message::Text(t) => (true, t.len()),
///         Message::Binary(b) => (false, b.len()),
///         _ => return Ok(()),
///     };
///     c.owed = Some((text, len));
///     turn(c)
/// }
///
/// fn serve(connections: &mut [Echo<'_>]) {
///     for c in connections.iter_mut() {
///         match turn(c) {
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
