//! Host adapters (feature `std`): `std::net` sockets as `embedded-io` transports, an
//! OS-seeded masking-key source, one-call server and client set-up, a handshake deadline
//! and a graceful close.
//!
//! The transport is `embedded-io-adapters`' [`FromStd`] around a [`DeadlineStream`]: a
//! [`TcpStream`] whose reads can be bounded by a deadline, so that a client stalling in
//! the handshake cannot hold a server thread however slowly it trickles bytes.
//!
//! # Buffers: borrowed or owned
//!
//! Every helper takes its buffers as any [`Buffer`]. Borrowed (`&mut rx[..]`, a `&mut`
//! slice), the connection is a `WebSocket<'b, TcpTransport>` that lives within their
//! scope. Owned (`vec![0u8; 16 * 1024]`), the connection owns them, allocated once, and
//! `WebSocket<'static, TcpTransport, OsMask, Vec<u8>>` can be returned from a function
//! or moved into a thread; [`WebSocket::into_parts`](crate::blocking::WebSocket::into_parts)
//! gives them back. (A `&mut Vec<u8>` works too, as its own buffer type: a function
//! that names the connection's type then names it with `&mut Vec<u8>`, or takes any
//! `B: Buffer`.)
//!
//! ```no_run
//! use ws13::blocking::WebSocket;
//! use ws13::net::{self, OsMask, TcpTransport};
//!
//! fn open(url: &str) -> Result<WebSocket<'static, TcpTransport, OsMask, Vec<u8>>, ws13::Error<std::io::Error>> {
//!     let (ws, _protocol) = net::connect(url, vec![0u8; 16 * 1024], vec![0u8; 16 * 1024], &[])?;
//!     Ok(ws)
//! }
//! let mut ws = open("ws://127.0.0.1:9001/")?;
//! std::thread::spawn(move || ws.send(ws13::Message::Text("from a thread")));
//! # Ok::<(), ws13::Error<std::io::Error>>(())
//! ```
//!
//! # TLS (`wss://`, `https://`), by composition
//!
//! ws13 has no TLS of its own: a TLS stream of the caller's (rustls' `StreamOwned`, say)
//! goes between the [`DeadlineStream`] and [`FromStd`], and the same helpers serve it.
//! `FromStd<StreamOwned<ServerConnection, DeadlineStream<&TcpStream>>>` is the
//! transport; [`accept_layered`] and [`open_layered`] (or [`connect_layered`]) take the
//! TLS stream and a way to reach the [`DeadlineStream`] under it (`|tls| &mut tls.sock`).
//!
//! - The deadline sits under TLS, on the socket, so it bounds every byte of the TLS
//!   handshake and of the HTTP request or response, however they trickle. (Above TLS it
//!   could not: one TLS read may take many socket reads.)
//! - Read and write timeouts are the [`TcpStream`]'s, as for plain TCP: a socket
//!   timeout reaches ws13 as [`io::ErrorKind::TimedOut`] through the TLS layer, and the
//!   call is made again to go on (rustls keeps the partial records it has read and the
//!   records it has still to send).
//! - A graceful close is TLS's `close_notify` (`tls.conn.send_close_notify()` and a
//!   flush, once TLS is up), then [`linger`] on the [`TcpStream`]. Pass the helpers
//!   `&mut tls` (a `&mut` of a `std::io` stream is one too) to keep the TLS stream for
//!   that, however the WebSocket ended.
//!
//! ```text
//! // Server, on each accepted `tcp` (with its write timeout set). The WebSocket borrows
//! // the TLS stream, which is still here to end however the connection went.
//! let mut tls = StreamOwned::new(ServerConnection::new(config)?, DeadlineStream::new(&tcp));
//! let incoming = net::accept_layered(&mut tls, |tls| &mut tls.sock, &mut rx, deadline, idle)?;
//! // ... incoming.accept(&mut tx, ..), the WebSocket, exactly as over TCP; then:
//! if !tls.conn.is_handshaking() {
//!     tls.conn.send_close_notify();
//!     let _ = tls.flush();
//! }
//! net::linger(&tcp, Duration::from_secs(2));
//!
//! // Client:
//! let url = net::parse_wss("wss://example.com/chat")?;
//! let tcp = net::connect_tcp(url.host, url.port, options.connect_timeout)?;
//! let name = ServerName::try_from(url.host.to_owned())?;
//! let mut tls = StreamOwned::new(ClientConnection::new(config, name)?, DeadlineStream::new(tcp));
//! let (ws, protocol) = net::connect_layered(&mut tls, |tls| &mut tls.sock, &url, &options, &mut rx, &mut tx)?;
//! // ... then close_notify and net::linger(tls.sock.stream(), ..) as above.
//! ```
//!
//! `examples/wss_echo_server.rs` and `examples/wss_client.rs` are whole programs, and
//! `tests/tls.rs` checks all of this over rustls.

use core::borrow::Borrow;
use core::hash::{BuildHasher, Hasher};
use std::collections::hash_map::RandomState;
use std::io;
use std::io::Read as _;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub use embedded_io_adapters::std::FromStd;

use crate::blocking::{Connected, Connecting, Incoming};
use crate::handshake::client::{ClientRequest, Url, UrlError};
use crate::handshake::server::RequestParser;
use crate::{Buffer, Error, MaskSource};

/// A TCP stream as an `embedded-io` transport. `S` is the stream itself or a reference
/// to it: with `&TcpStream` the caller keeps the stream, to close it gracefully with
/// [`linger`] once the WebSocket is gone, whatever way it ended.
pub type TcpTransport<S = TcpStream> = FromStd<DeadlineStream<S>>;

/// A [`TcpStream`] (or a reference to one) whose reads and writes fail with
/// [`io::ErrorKind::TimedOut`] once a deadline has passed, however the bytes trickle.
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

    /// Sets or clears the deadline for reads and writes. Clearing it leaves the stream's
    /// timeouts as the last call set them: set the ones you want afterwards.
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
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            stream.set_write_timeout(Some(left))?;
        }
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
pub fn accept<'b, S: Borrow<TcpStream>, B: Buffer>(
    stream: S,
    rx: B,
) -> Result<Incoming<'b, TcpTransport<S>, B>, Error<io::Error>> {
    let stream = FromStd::new(DeadlineStream::new(stream));
    let mut incoming = Incoming::with_buffer(stream, rx, RequestParser::new());
    incoming.read()?;
    Ok(incoming)
}

/// Like [`accept`], but the whole request must arrive within `timeout`; a client that
/// stalls gets [`Error::Io`] with [`io::ErrorKind::TimedOut`]. The deadline is cleared
/// once the request is in, and `idle` becomes the stream's read timeout for what follows
/// (`None`: reads wait as long as it takes).
pub fn accept_within<'b, S: Borrow<TcpStream>, B: Buffer>(
    stream: S,
    rx: B,
    timeout: Duration,
    idle: Option<Duration>,
) -> Result<Incoming<'b, TcpTransport<S>, B>, Error<io::Error>> {
    accept_layered(DeadlineStream::new(stream), |conn| conn, rx, timeout, idle)
}

/// [`accept_within`] for a stream of the caller's that runs over a [`DeadlineStream`]: a
/// TLS stream over a TCP connection (see [TLS, by composition](self#tls-wss-https-by-composition)).
/// `socket` reaches the [`DeadlineStream`] under it: `|tls| &mut tls.sock` for rustls'
/// `StreamOwned`.
///
/// The deadline is set on the [`DeadlineStream`] before anything is read, so it bounds the
/// TLS handshake as well as the HTTP request: a client that trickles either, or stops,
/// gets [`Error::Io`] with [`io::ErrorKind::TimedOut`] once `timeout` has passed. Once the
/// request is in, the deadline is cleared and `idle` becomes the [`TcpStream`]'s read
/// timeout (its write timeout is left as the caller set it).
pub fn accept_layered<'b, T, S, F, B>(
    stream: T,
    mut socket: F,
    rx: B,
    timeout: Duration,
    idle: Option<Duration>,
) -> Result<Incoming<'b, FromStd<T>, B>, Error<io::Error>>
where
    T: io::Read + io::Write,
    B: Buffer,
    S: Borrow<TcpStream>,
    F: FnMut(&mut T) -> &mut DeadlineStream<S>,
{
    let mut stream = stream;
    socket(&mut stream).set_deadline(Instant::now().checked_add(timeout));
    let mut incoming = Incoming::with_buffer(FromStd::new(stream), rx, RequestParser::new());
    incoming.read()?;
    let conn = socket(incoming.get_mut().inner_mut());
    conn.set_deadline(None);
    conn.stream().set_read_timeout(idle).map_err(Error::Io)?;
    Ok(incoming)
}

/// How a client connects ([`connect_with`], [`open`]): timeouts, subprotocols and
/// extra headers. [`Options::new`] bounds every step, so that no server, silent,
/// trickling or not reading, can hold a client forever:
///
/// ```no_run
/// use std::time::Duration;
/// use ws13::net::{self, Options};
///
/// let options = Options::new()
///     .protocols(&["chat"])
///     .headers(&[("Authorization", "Bearer t0ken"), ("Origin", "http://device.local")])
///     .handshake_timeout(Some(Duration::from_secs(5)));
/// let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 4096]);
/// let (mut ws, protocol) = net::connect_with("ws://127.0.0.1:9001/chat", &options, &mut rx, &mut tx)?;
/// # Ok::<(), ws13::Error<std::io::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Options<'a> {
    /// How long the TCP connection may take (per address the host resolves to).
    pub connect_timeout: Option<Duration>,
    /// How long the whole handshake may take, request written and response read,
    /// however slowly the server trickles it.
    pub handshake_timeout: Option<Duration>,
    /// The socket's read timeout once connected (`None`: reads wait as long as it
    /// takes; a timed-out read is simply made again).
    pub read_timeout: Option<Duration>,
    /// The socket's write timeout once connected: a server that stops reading cannot
    /// hold a send forever (a timed-out send is made again to go on).
    pub write_timeout: Option<Duration>,
    /// Subprotocols to offer, most preferred first.
    pub protocols: &'a [&'a str],
    /// Further request headers: `Authorization`, `Origin`, `Cookie`...
    pub headers: &'a [(&'a str, &'a str)],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Options<'a> {
    /// 10 s to connect, 10 s for the handshake, 30 s for a write; reads unbounded; no
    /// subprotocol and no extra header.
    pub const fn new() -> Self {
        Options {
            connect_timeout: Some(Duration::from_secs(10)),
            handshake_timeout: Some(Duration::from_secs(10)),
            read_timeout: None,
            write_timeout: Some(Duration::from_secs(30)),
            protocols: &[],
            headers: &[],
        }
    }

    /// Sets [`Options::connect_timeout`].
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`Options::handshake_timeout`].
    #[must_use]
    pub const fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Options::read_timeout`].
    #[must_use]
    pub const fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`Options::write_timeout`].
    #[must_use]
    pub const fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`Options::protocols`].
    #[must_use]
    pub const fn protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Sets [`Options::headers`].
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// Connects to a `ws://` URL, offering `protocols`, with [`Options::new`]'s timeouts;
/// returns the connection and the index of the subprotocol the server chose. Masking
/// keys come from [`OsMask`].
pub fn connect<'b, B: Buffer>(
    url: &str,
    rx: B,
    tx: B,
    protocols: &[&str],
) -> Result<Connected<'b, TcpTransport, OsMask, B>, Error<io::Error>> {
    connect_with(url, &Options::new().protocols(protocols), rx, tx)
}

/// Connects to a `ws://` URL as `options` say; returns the connection and the index of
/// the subprotocol the server chose. A step that takes longer than its timeout fails
/// with [`Error::Io`] of kind [`io::ErrorKind::TimedOut`].
pub fn connect_with<'b, B: Buffer>(
    url: &str,
    options: &Options<'_>,
    rx: B,
    tx: B,
) -> Result<Connected<'b, TcpTransport, OsMask, B>, Error<io::Error>> {
    open(url, options, rx, tx)?.finish()
}

/// [`connect_with`], stopping once the server has accepted: the returned handshake shows
/// the server's response ([`Connecting::response`]: its headers, a `Set-Cookie`, say)
/// before [`Connecting::finish`] gives the connection.
pub fn open<'b, 'p, B: Buffer>(
    url: &'p str,
    options: &Options<'p>,
    rx: B,
    tx: B,
) -> Result<Connecting<'b, 'p, TcpTransport, OsMask, B>, Error<io::Error>> {
    let url = Url::parse(url).map_err(Error::Url)?;
    let stream = connect_tcp(url.host, url.port, options.connect_timeout).map_err(Error::Io)?;
    open_layered(
        DeadlineStream::new(stream),
        |conn| conn,
        &url,
        options,
        rx,
        tx,
    )
}

/// [`connect_with`] over a stream of the caller's that runs over a [`DeadlineStream`]: a
/// TLS stream over a TCP connection (see [TLS, by composition](self#tls-wss-https-by-composition)),
/// for `url` (from [`parse_wss`], say: ws13 does not look at its scheme). `socket`
/// reaches the [`DeadlineStream`] under the stream: `|tls| &mut tls.sock` for rustls'
/// `StreamOwned`. [`Options::connect_timeout`] is the caller's to apply when it connects
/// ([`connect_tcp`]); the other options are applied as [`connect_with`] applies them.
pub fn connect_layered<'b, T, S, F, B>(
    stream: T,
    socket: F,
    url: &Url<'_>,
    options: &Options<'_>,
    rx: B,
    tx: B,
) -> Result<Connected<'b, FromStd<T>, OsMask, B>, Error<io::Error>>
where
    T: io::Read + io::Write,
    B: Buffer,
    S: Borrow<TcpStream>,
    F: FnMut(&mut T) -> &mut DeadlineStream<S>,
{
    open_layered(stream, socket, url, options, rx, tx)?.finish()
}

/// [`open`] over a stream of the caller's, as [`connect_layered`]: stops once the server
/// has accepted, to show its response.
///
/// The handshake deadline ([`Options::handshake_timeout`]) is set on the
/// [`DeadlineStream`] before anything is written, so it bounds the TLS handshake as well
/// as the HTTP upgrade; once the server has accepted it is cleared, and the
/// [`TcpStream`]'s read and write timeouts are set from `options`.
pub fn open_layered<'b, 'p, T, S, F, B>(
    stream: T,
    mut socket: F,
    url: &Url<'p>,
    options: &Options<'p>,
    rx: B,
    tx: B,
) -> Result<Connecting<'b, 'p, FromStd<T>, OsMask, B>, Error<io::Error>>
where
    T: io::Read + io::Write,
    B: Buffer,
    S: Borrow<TcpStream>,
    F: FnMut(&mut T) -> &mut DeadlineStream<S>,
{
    let mut stream = stream;
    socket(&mut stream).set_deadline(
        options
            .handshake_timeout
            .and_then(|t| Instant::now().checked_add(t)),
    );
    let request = ClientRequest::for_url(url)
        .protocols(options.protocols)
        .headers(options.headers);
    let stream = FromStd::new(stream);
    let mut connecting = Connecting::with_buffers(stream, rx, tx, &request, OsMask::new())?;
    connecting.handshake()?;
    let conn = socket(connecting.get_mut().inner_mut());
    conn.set_deadline(None);
    let stream = conn.stream();
    stream
        .set_read_timeout(options.read_timeout)
        .map_err(Error::Io)?;
    stream
        .set_write_timeout(options.write_timeout)
        .map_err(Error::Io)?;
    Ok(connecting)
}

/// A TCP connection to `host:port`, trying each address it resolves to in turn, each
/// within `timeout` (a timeout is [`io::ErrorKind::TimedOut`]), with `TCP_NODELAY` set:
/// what [`connect_with`] connects with, for a caller that puts TLS over it.
pub fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolves to no address");
    for addr in (host, port).to_socket_addrs()? {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = timed_out(e),
        }
    }
    Err(last)
}

/// Parses a `wss://host[:port][/path][?query]` URL as [`Url::parse`] parses a `ws://`
/// one, with 443 as the default port; anything else (`ws://` too) is refused with
/// [`UrlError::Scheme`]. The TLS is the caller's: see [`connect_layered`].
pub fn parse_wss(url: &str) -> Result<Url<'_>, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
    if !scheme.eq_ignore_ascii_case("wss") {
        return Err(UrlError::Scheme);
    }
    // Checked as the same URL with `ws://`; its parts are then taken from `rest`, which
    // holds the same text after the scheme.
    let plain = std::format!("ws://{rest}");
    let checked = Url::parse(&plain)?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let bracketed = authority.starts_with('[');
    let host = authority
        .get(usize::from(bracketed)..)
        .and_then(|h| h.get(..checked.host.len()))
        .ok_or(UrlError::Host)?;
    // A port was written when the authority is more than the host (and its brackets).
    let brackets = if bracketed { 2 } else { 0 };
    let written_port = authority.len() > host.len().saturating_add(brackets);
    Ok(Url {
        authority,
        host,
        port: if written_port { checked.port } else { 443 },
        path: if path.is_empty() { "/" } else { path },
    })
}

/// Ends a TCP connection gracefully once its WebSocket is done (closed or failed):
/// shuts down the sending side, so the peer reads every byte sent and then the end,
/// then reads and drops what the peer still sends until it closes too, for `wait` at
/// most. Closing a socket with unread bytes would reset it instead, and the peer could
/// lose the close frame. Pass the stream the WebSocket used (borrowed, or a
/// [`TcpStream::try_clone`] of it). Over TLS, send TLS's `close_notify` first (see
/// [TLS, by composition](self#tls-wss-https-by-composition)): this is the TCP close
/// under it.
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

    #[test]
    fn parse_wss_urls() {
        fn parts(u: &str) -> Result<(&str, &str, u16, &str), UrlError> {
            parse_wss(u).map(|u| (u.authority, u.host, u.port, u.path))
        }
        assert_eq!(
            parts("wss://example.com"),
            Ok(("example.com", "example.com", 443, "/"))
        );
        assert_eq!(
            parts("WSS://example.com:8443/chat?room=1"),
            Ok(("example.com:8443", "example.com", 8443, "/chat?room=1"))
        );
        assert_eq!(parts("wss://h:443/"), Ok(("h:443", "h", 443, "/")));
        assert_eq!(parts("wss://h?q"), Ok(("h", "h", 443, "?q")));
        assert_eq!(parts("wss://[::1]/x"), Ok(("[::1]", "::1", 443, "/x")));
        assert_eq!(parts("wss://[::1]:9/"), Ok(("[::1]:9", "::1", 9, "/")));
        assert_eq!(parts("ws://h/"), Err(UrlError::Scheme));
        assert_eq!(parts("https://h/"), Err(UrlError::Scheme));
        assert_eq!(parts("wss://"), Err(UrlError::Host));
        assert_eq!(parts("wss://u@h/"), Err(UrlError::Host));
        assert_eq!(parts("wss://h:x/"), Err(UrlError::Port));
        assert_eq!(parts("wss://h/a b"), Err(UrlError::Path));
        assert_eq!(parts("wss://h/#f"), Err(UrlError::Path));
    }
}
