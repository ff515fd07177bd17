//! The blocking driver: moves bytes between an [`embedded_io`] transport and the sans-IO
//! core, and decides nothing else.
//!
//! - Server: [`Incoming::read`] reads a request; then [`Incoming::accept`] upgrades it,
//!   [`Incoming::respond`] answers it as plain HTTP (a web page), or
//!   [`Incoming::reject`] refuses it. Malformed requests and invalid upgrades are
//!   refused with their HTTP status before the application sees them.
//! - Client: [`connect`] (or [`Connecting`], step by step) sends the upgrade request and
//!   checks the response.
//! - Both: a [`WebSocket`] reads [`Event`](crate::Event)s or whole
//!   [`Message`](crate::Message)s and sends through a [`Writer`]. The protocol's rules
//!   (answering pings, echoing the close, failing with the right code) are the core's:
//!   see [`crate::proto::Connection`].
//!
//! Sending has one vocabulary: `write_*` methods encode into the transmit buffer (which
//! is written out when it fills), `send` writes and then flushes, and `flush` writes out
//! everything buffered. The transmit buffer is also written out before any blocking
//! read, so pongs and close echoes never wait for the application.
//!
//! **Timeouts.** Every operation that fails with a transport error of kind `TimedOut`
//! or `Interrupted` ([`Error::is_timeout`]) can be called again, with the same
//! arguments, and carries on where it stopped: nothing is lost or sent twice. (A send
//! interrupted part-way keeps its frame open, so an interrupted send must be finished
//! before any other data is sent; pings and closes wait behind it.) Only a real
//! transport failure, or its end, closes the connection. A transport that reports "not
//! ready" as a timeout therefore makes every call a non-blocking step: see [`Ready`].

use embedded_io::{Read, Write};

use crate::proto::{Connection, Masking, Output};
use crate::Error;

mod accept;
mod connect;
mod ready;
mod websocket;
mod writer;

pub use accept::Incoming;
pub use connect::{connect, Connected, Connecting};
pub use ready::{NotReady, Ready};
pub use websocket::{Split, WebSocket};
pub use writer::Writer;

pub use crate::proto::{MaskSource, NoMask, MIN_BUFFER};

/// A transport error as the connection sees it: a timeout leaves everything as it was
/// (the call is made again); any other error ends the connection.
fn fault<E: embedded_io::Error, M: Masking>(conn: &mut Connection<M>, e: E) -> Error<E> {
    use embedded_io::ErrorKind;
    if !matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) {
        conn.transport_failed();
    }
    Error::Io(e)
}

/// What a transport's read or write moved: bytes received, bytes of the connection's
/// output, or bytes of an [`Output::Direct`]'s.
#[derive(Clone, Copy)]
enum Moved {
    Received,
    Transmitted,
    Direct,
}

/// Accounts for the `result` of a read or a write: the bytes `moved`; `Ok(0)` from a
/// transport means it is gone.
// One copy for the reads and both kinds of writes: out of line on microcontrollers,
// where each inlined copy costs flash.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn account<E: embedded_io::Error, M: Masking>(
    conn: &mut Connection<M>,
    result: Result<usize, E>,
    moved: Moved,
) -> Result<(), Error<E>> {
    match result {
        Ok(0) => {
            conn.transport_failed();
            Err(Error::Eof)
        }
        Ok(n) => {
            match moved {
                Moved::Received => conn.received(n),
                Moved::Transmitted => conn.transmitted(n),
                Moved::Direct => conn.wrote_direct(n),
            }
            Ok(())
        }
        Err(e) => Err(fault(conn, e)),
    }
}

/// Writes out everything the connection has to send, then, with `and_flush`, flushes
/// the transport. After the transport ended, what was buffered cannot go out any more:
/// [`Error::Closed`]. (A send call asks for its output to be written, in `run`, only
/// while the transport is up.) A write that fails or ends the transport returns.
fn transmit<T: Write, M: Masking>(
    io: &mut T,
    conn: &mut Connection<M>,
    tx: &mut [u8],
    and_flush: bool,
) -> Result<(), Error<T::Error>> {
    if conn.transport_ended() {
        return Err(Error::Closed);
    }
    loop {
        let out = conn.output(tx);
        if out.is_empty() {
            break;
        }
        let written = io.write(out);
        // Returned whole, not through `?` (which takes the error out and wraps it again).
        if let failed @ Err(_) = account(conn, written, Moved::Transmitted) {
            return failed;
        }
    }
    if and_flush {
        io.flush().map_err(|e| fault(conn, e))?;
        conn.flushed();
    }
    Ok(())
}

/// Writes out everything buffered and flushes the transport.
#[inline]
fn flush<T: Write, M: Masking>(
    io: &mut T,
    conn: &mut Connection<M>,
    tx: &mut [u8],
) -> Result<(), Error<T::Error>> {
    transmit(io, conn, tx, true)
}

/// Makes a send call of the core until it is done, doing the I/O it asks for between.
#[inline]
fn run<'d, T: Write, M: Masking>(
    io: &mut T,
    conn: &mut Connection<M>,
    tx: &mut [u8],
    mut call: impl FnMut(&mut Connection<M>, &mut [u8]) -> Result<Output<'d>, Error>,
) -> Result<(), Error<T::Error>> {
    loop {
        // One exit for both kinds of I/O's failure.
        let moved = match call(conn, tx).map_err(Error::into_io)? {
            Output::Done => return Ok(()),
            Output::Transmit => transmit(io, conn, tx, false),
            Output::Direct(bytes) => {
                let written = io.write(bytes);
                account(conn, written, Moved::Direct)
            }
        };
        moved?;
    }
}

/// Reads more bytes into the connection's receive buffer.
fn fill<T: Read, M: Masking>(
    io: &mut T,
    conn: &mut Connection<M>,
    rx: &mut [u8],
) -> Result<(), Error<T::Error>> {
    let buf = conn.read_buffer(rx);
    debug_assert!(!buf.is_empty(), "the core reads only with room");
    let read = io.read(buf);
    account(conn, read, Moved::Received)
}
