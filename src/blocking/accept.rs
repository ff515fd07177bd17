//! The server's side of the handshake over a blocking transport.

use core::marker::PhantomData;

use embedded_io::{Read, Write};

use super::WebSocket;
use crate::handshake::server::{Handshake, Request, RequestParser, Step};
use crate::proto::{NoMask, MIN_BUFFER};
use crate::{Buffer, Error};

/// A client's request on a server's transport: read it with [`Incoming::read`], then
/// accept it, answer it or refuse it.
///
/// ```no_run
/// # fn serve<T: embedded_io::Read + embedded_io::Write>(io: T) -> Result<(), ws13::Error<T::Error>> {
/// let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
/// let mut incoming = ws13::blocking::Incoming::new(io, &mut rx);
/// if !incoming.read()?.is_upgrade() {
///     return incoming.respond(200, &[("Content-Type", "text/html")], b"<h1>hi</h1>");
/// }
/// let mut ws = incoming.accept(&mut tx, None)?;
/// # Ok(()) }
/// ```
///
/// Its buffers are `&'b mut [u8]` unless `B` says otherwise (an owned `Vec<u8>`, say:
/// see [`Buffer`]).
#[derive(Debug)]
pub struct Incoming<'b, T, B = &'b mut [u8]> {
    io: T,
    rx: B,
    hs: Handshake,
    buffers: PhantomData<&'b mut [u8]>,
}

impl<'b, T: Read + Write> Incoming<'b, T> {
    /// A request to read from `io` into `rx`, with at most
    /// [`DEFAULT_MAX_HEADERS`](crate::handshake::server::DEFAULT_MAX_HEADERS) header lines.
    pub fn new(io: T, rx: &'b mut [u8]) -> Self {
        Self::with_parser(io, rx, RequestParser::new())
    }

    /// [`Incoming::new`] with a parser of the caller's (for its limits).
    pub fn with_parser(io: T, rx: &'b mut [u8], parser: RequestParser) -> Self {
        Self::with_buffer(io, rx, parser)
    }
}

impl<'b, T: Read + Write, B: Buffer> Incoming<'b, T, B> {
    /// [`Incoming::with_parser`] with a receive buffer of any [`Buffer`] type: an owned
    /// `Vec<u8>`, so that the request, and the connection it becomes, own their buffers
    /// (`accept` then takes a transmit buffer of the same type).
    pub fn with_buffer(io: T, rx: B, parser: RequestParser) -> Self {
        Incoming {
            io,
            rx,
            hs: Handshake::new(parser),
            buffers: PhantomData,
        }
    }

    /// Reads the request's head.
    ///
    /// A request that is malformed, cut short, or an upgrade that breaks a rule of RFC
    /// 6455 is refused here with its HTTP status (400, 405, 426, 431) and
    /// [`Error::Request`] is returned: the application sees only well-formed requests.
    /// A request larger than `rx` is still read: header lines ws13 has dealt with are
    /// dropped as they stream by ([`RequestParser::compact`]). Interrupted by a
    /// timeout, it goes on where it stopped when called again. A receive buffer smaller
    /// than [`MIN_BUFFER`] is refused ([`Error::BufferTooSmall`]).
    pub fn read(&mut self) -> Result<Request<'_>, Error<T::Error>> {
        if self.rx.as_ref().len() < MIN_BUFFER {
            return Err(Error::BufferTooSmall);
        }
        loop {
            match self.hs.poll(self.rx.as_mut()) {
                Step::Request => return Ok(self.hs.request(self.rx.as_ref())),
                Step::Read => {
                    let buf = self.hs.read_buffer(self.rx.as_mut());
                    match self.io.read(buf).map_err(Error::Io)? {
                        0 => self.hs.received_eof_reading(self.rx.as_mut()),
                        n => self.hs.received(n),
                    }
                }
                Step::Write => self.write_output(&[])?,
                step => return Err(ended(step)),
            }
        }
    }

    /// The request, once [`Incoming::read`] has returned it.
    pub fn request(&self) -> Request<'_> {
        self.hs.request(self.rx.as_ref())
    }

    /// The transport, mutably (to change its timeouts, say).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Gives up the request, returning the transport.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Gives up the request, returning the transport and the receive buffer, to serve
    /// another connection with the same buffer.
    pub fn into_parts(self) -> (T, B) {
        (self.io, self.rx)
    }

    /// Accepts the upgrade, choosing `protocol` from those the client offered (or none),
    /// and returns the connection, which sends from `tx`. The 101 response waits in
    /// `tx` and goes out with the connection's first write, flush or read.
    ///
    /// A `protocol` the client did not offer, or a `tx` too small for the response, is
    /// the application's error: the client gets a 500 and the error is returned.
    pub fn accept(
        self,
        tx: B,
        protocol: Option<&str>,
    ) -> Result<WebSocket<'b, T, NoMask, B>, Error<T::Error>> {
        self.accept_with(tx, protocol, &[])
    }

    /// [`Incoming::accept`], adding `headers` to the 101 response (a `Set-Cookie`, say).
    pub fn accept_with(
        self,
        mut tx: B,
        protocol: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<WebSocket<'b, T, NoMask, B>, Error<T::Error>> {
        // Taken apart at once: the parts are used where they are, not copied as a whole.
        let Incoming {
            mut io,
            mut rx,
            mut hs,
            ..
        } = self;
        let accepted = hs.accept(rx.as_mut(), tx.as_mut(), protocol, headers);
        let queued = match accepted {
            Ok(len) => len,
            Err(e) => {
                // The 500 the handshake made ready goes out as well as the transport
                // allows.
                let _ = write_output(&mut io, rx.as_ref(), &mut hs, &[]);
                return Err(e.into_io());
            }
        };
        let leftover = hs.leftover();
        WebSocket::from_parts(io, rx, leftover, tx, queued, NoMask)
    }

    /// Refuses the request with `status` and an empty body.
    pub fn reject(&mut self, status: u16) -> Result<(), Error<T::Error>> {
        self.respond(status, &[], &[])
    }

    /// Answers the request as plain HTTP: `status`, `headers`, then `body`, with
    /// `Content-Length` and `Connection: close` added. The response's head is written
    /// into the receive buffer, over the request. Interrupted by a timeout, call it
    /// again with the same arguments: it goes on where it stopped.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error<T::Error>> {
        self.hs
            .respond(self.rx.as_mut(), status, headers, body.len())?;
        loop {
            match self.hs.poll(self.rx.as_mut()) {
                Step::Write => self.write_output(body)?,
                Step::Responded => return self.io.flush().map_err(Error::Io),
                step => return Err(ended(step)),
            }
        }
    }

    /// Writes what the handshake has to send, until it is all out.
    fn write_output(&mut self, body: &[u8]) -> Result<(), Error<T::Error>> {
        write_output(&mut self.io, self.rx.as_ref(), &mut self.hs, body)
    }
}

/// Writes what `hs` has to send to `io`, until it is all out. On the parts, so that
/// [`Incoming::accept_with`], which has taken its request apart, can call it too.
fn write_output<T: Write>(
    io: &mut T,
    rx: &[u8],
    hs: &mut Handshake,
    body: &[u8],
) -> Result<(), Error<T::Error>> {
    loop {
        let out = hs.output(rx, body);
        if out.is_empty() {
            return io.flush().map_err(Error::Io);
        }
        match io.write(out).map_err(Error::Io)? {
            0 => return Err(Error::Eof),
            n => hs.wrote(n),
        }
    }
}

/// The error for a step that ends a driver's loop without what it waited for: the
/// request's refusal, the transport's end, or (a request answered, or none to answer)
/// [`Error::Closed`].
fn ended<E>(step: Step) -> Error<E> {
    match step {
        Step::Refused(e) => Error::Request(e),
        Step::Ended => Error::Eof,
        _ => Error::Closed,
    }
}
