//! Host adapters (feature `std`): `std::net` sockets as `embedded-io` transports, an
//! OS-seeded masking-key source, one-call server and client set-up, a handshake deadline
//! and a graceful close.
//!
//! The transport is `embedded-io-adapters`' [`FromStd`] around a [`DeadlineStream`]: a
//! [`TcpStream`] whose reads can be bounded by a deadline, so that a client stalling in
//! the handshake cannot hold a server thread however slowly it trickles bytes.

use core::borrow::Borrow;
use core::hash::{BuildHasher, Hasher};
use std::collections::hash_map::RandomState;
use std::io;
use std::io::Read as _;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

pub use embedded_io_adapters::std::FromStd;

use crate::blocking::{self, Connected, Incoming};
use crate::handshake::client::{ClientRequest, Url};
use crate::{Error, MaskSource};

/// A TCP stream as an `embedded-io` transport. `S` is the stream itself or a reference
/// to it: with `&TcpStream` the caller keeps the stream, to close it gracefully with
/// [`linger`] once the WebSocket is gone, whatever way it ended.
pub type TcpTransport<S = TcpStream> = FromStd<DeadlineStream<S>>;

/// A [`TcpStream`] (or a reference to one) whose reads fail with
/// [`io::ErrorKind::TimedOut`] once a deadline has passed, however the bytes trickle in.
/// Without a deadline it is the plain stream (and the stream's own read and write
/// timeouts, if set, apply to each call). A socket timeout, which the operating system
/// reports as `WouldBlock`, is reported as `TimedOut`, the kind that ws13's calls
/// survive ([`Error::is_timeout`]).
#[derive(Debug)]
pub struct DeadlineStream<S = TcpStream> {
    stream: S,
    deadline: Option<Instant>,
}

impl<S: Borrow<TcpStream>> DeadlineStream<S> {
    /// Wraps `stream`, with no deadline.
    pub fn new(stream: S) -> Self {
        DeadlineStream {
            stream,
            deadline: None,
        }
    }

    /// Sets or clears the deadline for reads. Clearing it leaves the stream's read
    /// timeout as the last read set it: set the idle timeout you want afterwards.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The stream.
    pub fn stream(&self) -> &TcpStream {
        self.stream.borrow()
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Borrow<TcpStream>> io::Read for DeadlineStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut stream: &TcpStream = self.stream.borrow();
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            stream.set_read_timeout(Some(left))?;
            return stream.read(buf).map_err(timed_out);
        }
        stream.read(buf).map_err(timed_out)
    }
}

impl<S: Borrow<TcpStream>> io::Write for DeadlineStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream: &TcpStream = self.stream.borrow();
        stream.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut stream: &TcpStream = self.stream.borrow();
        stream.flush()
    }
}

/// A socket timeout (`WouldBlock` from a socket with a timeout) as `TimedOut`.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "socket timeout")
    } else {
        e
    }
}

/// Masking keys from SipHash keyed by the operating system's randomness (through
/// [`RandomState`]) over a counter: unpredictable to the peer, and with no dependency.
#[derive(Clone, Debug)]
pub struct OsMask {
    hasher: RandomState,
    counter: u64,
    spare: Option<[u8; 4]>,
}

impl OsMask {
    /// A new source, seeded from the operating system.
    pub fn new() -> Self {
        OsMask {
            hasher: RandomState::new(),
            counter: 0,
            spare: None,
        }
    }
}

impl Default for OsMask {
    fn default() -> Self {
        Self::new()
    }
}

impl MaskSource for OsMask {
    fn next_key(&mut self) -> [u8; 4] {
        if let Some(key) = self.spare.take() {
            return key;
        }
        let mut h = self.hasher.build_hasher();
        h.write_u64(self.counter);
        self.counter = self.counter.wrapping_add(1);
        let [a, b, c, d, e, f, g, i] = h.finish().to_le_bytes();
        self.spare = Some([e, f, g, i]);
        [a, b, c, d]
    }
}

/// Reads a request from a freshly accepted TCP stream (or a reference to one) into `rx`
/// (see [`Incoming::read`]).
pub fn accept<S: Borrow<TcpStream>>(
    stream: S,
    rx: &mut [u8],
) -> Result<Incoming<'_, TcpTransport<S>>, Error<io::Error>> {
    let mut incoming = Incoming::new(FromStd::new(DeadlineStream::new(stream)), rx);
    incoming.read()?;
    Ok(incoming)
}

/// Like [`accept`], but the whole request must arrive within `timeout`; a client that
/// stalls gets [`Error::Io`] with [`io::ErrorKind::TimedOut`]. The deadline is cleared
/// once the request is in, and `idle` becomes the stream's read timeout for what follows
/// (`None`: reads wait as long as it takes).
pub fn accept_within<S: Borrow<TcpStream>>(
    stream: S,
    rx: &mut [u8],
    timeout: Duration,
    idle: Option<Duration>,
) -> Result<Incoming<'_, TcpTransport<S>>, Error<io::Error>> {
    let mut conn = DeadlineStream::new(stream);
    conn.set_deadline(Instant::now().checked_add(timeout));
    let mut incoming = Incoming::new(FromStd::new(conn), rx);
    incoming.read()?;
    let conn = incoming.get_mut().inner_mut();
    conn.set_deadline(None);
    conn.stream().set_read_timeout(idle).map_err(Error::Io)?;
    Ok(incoming)
}

/// Connects to a `ws://` URL, offering `protocols`; returns the connection and the index
/// of the subprotocol the server chose. Masking keys come from [`OsMask`].
pub fn connect<'b>(
    url: &str,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    protocols: &[&str],
) -> Result<Connected<'b, TcpTransport, OsMask>, Error<io::Error>> {
    let url = Url::parse(url).map_err(Error::Url)?;
    let stream = TcpStream::connect((url.host, url.port)).map_err(Error::Io)?;
    stream.set_nodelay(true).map_err(Error::Io)?;
    let request = ClientRequest::for_url(&url).protocols(protocols);
    let transport = FromStd::new(DeadlineStream::new(stream));
    blocking::connect(transport, rx, tx, &request, OsMask::new())
}

/// Ends a TCP connection gracefully once its WebSocket is done (closed or failed):
/// shuts down the sending side, so the peer reads every byte sent and then the end,
/// then reads and drops what the peer still sends until it closes too, for `wait` at
/// most. Closing a socket with unread bytes would reset it instead, and the peer could
/// lose the close frame. Pass a clone of the stream the WebSocket used
/// ([`TcpStream::try_clone`]).
pub fn linger(stream: &TcpStream, wait: Duration) {
    let _ = stream.shutdown(Shutdown::Write);
    let Some(deadline) = Instant::now().checked_add(wait) else {
        return;
    };
    let mut sink = [0u8; 512];
    let mut reader = stream;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_mask_keys_differ() {
        let mut m = OsMask::new();
        let keys: std::vec::Vec<[u8; 4]> = (0..64).map(|_| m.next_key()).collect();
        let mut distinct = keys.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 60, "{keys:?}");
        // Two sources are seeded differently.
        let mut other = OsMask::new();
        let other_keys: std::vec::Vec<[u8; 4]> = (0..4).map(|_| other.next_key()).collect();
        assert_ne!(&keys[..4], &other_keys[..]);
    }
}
