//! The server's handshake as a state machine a driver steps through: read the request,
//! refuse it or hand it out, write the application's answer.

use super::{
    status_line_end, write_accept_for, write_head, write_refusal, Request, RequestError,
    RequestParser,
};
use crate::bytes::{part, part_mut};
use crate::handshake::WriteError;
use crate::{Error, Status};

/// What a driver of a [`Handshake`] does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    // Refused first: the variants without data then take the codes after the error's,
    // in order, and a driver's match on the step is shorter (flash).
    /// The request was refused with the error's status, and the refusal is written.
    Refused(RequestError),
    /// Read from the transport into [`Handshake::read_buffer`], then report the count
    /// with [`Handshake::received`] (or the end with [`Handshake::received_eof`]).
    Read,
    /// Write [`Handshake::output`] to the transport, then report the count with
    /// [`Handshake::wrote`].
    Write,
    /// The request is complete and may be upgraded or answered: see
    /// [`Handshake::request`].
    Request,
    /// The response is written.
    Responded,
    /// The transport ended before a request began.
    Ended,
}

/// The server's side of the opening handshake, sans-IO: reads a request into the
/// caller's buffer (a request larger than the buffer streams through it, see
/// [`RequestParser::compact`]), refuses a malformed request or an invalid upgrade
/// with its HTTP status, and writes the application's answer. A driver calls
/// [`Handshake::poll`] and does what the [`Step`] says.
///
/// An upgrade request (one whose `Upgrade` header names `websocket`) is checked
/// against every rule of RFC 6455 section 4.2.1 before it is handed out; any other
/// request is plain HTTP, for the application to answer (with its web page, say).
#[derive(Clone, Debug)]
// C layout, the phase first: a byte a driver tests often, reached with a short offset
// (in the padding before the parser, so the size is unchanged).
#[repr(C)]
pub struct Handshake {
    /// Where the handshake is, as the step [`Handshake::poll`] reports there (one type,
    /// so that it has no mapping to do): [`Step::Read`] while the request is read,
    /// [`Step::Request`] once it is complete, [`Step::Refused`] or [`Step::Responded`]
    /// once a response is written (reported as [`Step::Write`] until it is all out),
    /// [`Step::Ended`]. Never [`Step::Write`].
    phase: Step,
    parser: RequestParser,
    /// Reading a request: its bytes in the buffer. Writing a response: its bytes that
    /// have gone.
    count: usize,
    /// Reading a request: the head's length, once complete. Writing a response: the
    /// length of its head, from the buffer's start (a body from the caller's slice
    /// follows it).
    head_len: usize,
    /// The response's length, head and body.
    total: usize,
}

impl Handshake {
    /// A handshake that reads a request with `parser` (and its limits).
    pub const fn new(parser: RequestParser) -> Self {
        Handshake {
            parser,
            count: 0,
            head_len: 0,
            total: 0,
            phase: Step::Read,
        }
    }

    /// What to do next, given the buffer the request is read into.
    pub fn poll(&mut self, buf: &mut [u8]) -> Step {
        match self.phase {
            Step::Read => self.parse(buf),
            Step::Refused(_) | Step::Responded if self.count < self.total => Step::Write,
            step => step,
        }
    }

    fn parse(&mut self, buf: &mut [u8]) -> Step {
        let seen = part(buf, ..self.count);
        let outcome = match self.parser.parse_lines(seen) {
            Ok(Status::Complete(head_len)) => {
                self.head_len = head_len;
                let request = self.request(buf);
                if request.is_upgrade() {
                    request.check_upgrade().map(|()| Step::Request)
                } else {
                    Ok(Step::Request)
                }
            }
            Ok(Status::Partial) if self.count < buf.len() => Ok(Step::Read),
            Ok(Status::Partial) => {
                // Full: drop the header lines already dealt with, and read on.
                let compacted = self.parser.compact(buf, self.count);
                if compacted == self.count {
                    Err(RequestError::TooLarge)
                } else {
                    self.count = compacted;
                    Ok(Step::Read)
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Step::Request) => {
                self.phase = Step::Request;
                Step::Request
            }
            Ok(step) => step,
            Err(e) => self.refuse(buf, e),
        }
    }

    /// Writes the refusal for `error` into the buffer (the request is dead). Called
    /// from two places: one copy, out of line.
    #[inline(never)]
    fn refuse(&mut self, buf: &mut [u8], error: RequestError) -> Step {
        // A refusal is at most about 100 bytes: it fits any buffer `Incoming` accepts.
        let written = write_refusal(buf, error);
        debug_assert!(written.is_ok(), "a refusal fits {} bytes", buf.len());
        self.head_len = written.unwrap_or(0);
        self.total = self.head_len;
        self.count = 0;
        self.phase = Step::Refused(error);
        Step::Write
    }

    /// Where the next bytes of the request go.
    pub fn read_buffer<'a>(&self, buf: &'a mut [u8]) -> &'a mut [u8] {
        part_mut(buf, self.count..)
    }

    /// `n` bytes were read into [`Handshake::read_buffer`].
    pub fn received(&mut self, n: usize) {
        self.count = self.count.saturating_add(n);
    }

    /// The transport ended: before a request began, the handshake is over; inside one,
    /// it is refused as malformed (the refusal may still reach a client that only shut
    /// down its sending side).
    pub fn received_eof(&mut self, buf: &mut [u8]) {
        if self.phase == Step::Read {
            self.received_eof_reading(buf);
        }
    }

    /// [`Handshake::received_eof`] for a driver that read because [`Handshake::poll`]
    /// said [`Step::Read`], so that the request is known to be still read: without the
    /// check of that.
    pub(crate) fn received_eof_reading(&mut self, buf: &mut [u8]) {
        debug_assert!(self.phase == Step::Read, "the request is read");
        if self.count == 0 {
            self.phase = Step::Ended;
        } else {
            self.refuse(buf, RequestError::Malformed);
        }
    }

    /// The request, once [`Step::Request`] has come (before, one with no head at all).
    pub fn request<'a>(&self, buf: &'a [u8]) -> Request<'a> {
        let head = match self.phase {
            Step::Read | Step::Request => buf.get(..self.head_len),
            _ => None,
        };
        self.parser.request(head.unwrap_or_default())
    }

    /// The request's `Sec-WebSocket-Key`, as [`Request::key`] has it.
    pub(crate) fn key(&self) -> &[u8; crate::handshake::KEY_LEN] {
        self.parser.key()
    }

    /// Bytes that came after the request's head: the first WebSocket frames.
    pub fn leftover(&self) -> core::ops::Range<usize> {
        self.head_len..self.count.max(self.head_len)
    }

    /// Accepts the request: writes into `tx` the 101 that chooses `protocol` and adds
    /// `headers`, and returns its length. Both drivers' `accept` come here.
    ///
    /// A request that is not an upgrade is refused with the reason
    /// ([`Request::check_upgrade`]); a `protocol` the client did not offer
    /// ([`Error::InvalidHeader`]) or a `tx` too small for the 101 is the application's
    /// error. On any of these the client's 500 is made ready instead ([`Handshake::output`]),
    /// which the blocking driver writes out as it writes [`Handshake::respond`]'s answer
    /// (the async driver's `accept` does no I/O, and drops it).
    pub(crate) fn accept(
        &mut self,
        rx: &mut [u8],
        tx: &mut [u8],
        protocol: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<usize, Error> {
        let request = self.request(rx);
        let written = if !request.is_upgrade() {
            let refused = request.check_upgrade().err();
            Err(Error::Request(
                refused.unwrap_or(RequestError::MissingConnectionUpgrade),
            ))
        } else if protocol.is_some_and(|p| !request.offers_protocol(p)) {
            Err(Error::InvalidHeader)
        } else {
            write_accept_for(tx, self.key(), protocol, headers).map_err(Error::from)
        };
        if let Err(e) = written {
            // Not the client's fault: it is told so. (A 500's head fits any buffer
            // that held a request.)
            let _ = self.respond(rx, 500, &[], 0);
            return Err(e);
        }
        written
    }

    /// Answers the request as plain HTTP: writes the head of a response with `status`,
    /// `headers`, `Content-Length: body_len` and `Connection: close` into the buffer (the
    /// request is then gone), to be followed by the body from the caller's slice.
    // Inlined, so that a constant status finds its reason phrase at compile time.
    #[inline]
    pub fn respond(
        &mut self,
        buf: &mut [u8],
        status: u16,
        headers: &[(&str, &str)],
        body_len: usize,
    ) -> Result<(), WriteError> {
        self.respond_with(buf, status, status_line_end(status), headers, body_len)
    }

    fn respond_with(
        &mut self,
        buf: &mut [u8],
        status: u16,
        line_end: &str,
        headers: &[(&str, &str)],
        body_len: usize,
    ) -> Result<(), WriteError> {
        if self.phase != Step::Request {
            // Already responding, or there is no request to answer: poll tells.
            return Ok(());
        }
        self.head_len = write_head(buf, status, line_end, headers, body_len)?;
        self.total = self.head_len.saturating_add(body_len);
        self.count = 0;
        self.phase = Step::Responded;
        Ok(())
    }

    /// The next bytes to write: the rest of the response's head in `buf`, then the rest
    /// of `body` (the same body on every call).
    pub fn output<'a>(&self, buf: &'a [u8], body: &'a [u8]) -> &'a [u8] {
        if self.count < self.head_len {
            part(buf, self.count..self.head_len)
        } else {
            // count >= head_len: cannot wrap.
            body.get(self.count.wrapping_sub(self.head_len)..)
                .unwrap_or_default()
        }
    }

    /// `n` bytes of [`Handshake::output`] were written.
    pub fn wrote(&mut self, n: usize) {
        self.count = self.count.saturating_add(n);
    }
}
