//! The client's side of the handshake: write the upgrade request, check the 101 response.

use core::fmt;

use super::http::{self, LineScanner};
use super::{accept_key, is_token, Cursor, WriteError, ACCEPT_LEN, KEY_LEN};
use crate::bytes::{part, part_mut};
use crate::Status;

/// What a client asks for in its upgrade request. Built with [`ClientRequest::new`]
/// and the builder methods.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ClientRequest<'a> {
    /// The `Host` header: the server's host, with `:port` when it is not the default.
    pub host: &'a str,
    /// The request target: path and query, starting with `/` (or with `?` for a query
    /// on the root, which goes out as `/?query`).
    pub path: &'a str,
    /// Subprotocols to offer, most preferred first (each must be an HTTP token).
    pub protocols: &'a [&'a str],
    /// Further headers to send, such as `Origin`, `Authorization` or `Cookie`.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ClientRequest<'a> {
    /// A request for `path` on `host`, offering no subprotocol and no extra header.
    pub const fn new(host: &'a str, path: &'a str) -> Self {
        ClientRequest {
            host,
            path,
            protocols: &[],
            headers: &[],
        }
    }

    /// The request for a parsed URL: its authority as `Host`, its path and query.
    pub const fn for_url(url: &Url<'a>) -> Self {
        Self::new(url.authority, url.path)
    }

    /// Offers these subprotocols, most preferred first.
    #[must_use]
    pub const fn protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Sends these headers too.
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Writes the request with `nonce` (16 random bytes) as its key. Returns the request's
    /// length and the key as sent, which [`ResponseParser::new`] needs.
    pub fn write(
        &self,
        buf: &mut [u8],
        nonce: [u8; 16],
    ) -> Result<(usize, [u8; KEY_LEN]), WriteError> {
        let mut key = [0u8; KEY_LEN];
        // 16 bytes always encode to exactly 24 base64 characters.
        let encoded = <base64ct::Base64 as base64ct::Encoding>::encode(&nonce, &mut key);
        debug_assert!(encoded.is_ok());
        let visible = |s: &str| s.bytes().all(|b| b > b' ' && b < 0x7F);
        let root: &[u8] = match self.path.as_bytes().first() {
            Some(b'/') => b"",
            Some(b'?') => b"/",
            _ => return Err(WriteError::InvalidHeader),
        };
        if !visible(self.host) || !visible(self.path) {
            return Err(WriteError::InvalidHeader);
        }
        let mut c = Cursor::new(buf);
        c.put_all(&[
            b"GET ",
            root,
            self.path.as_bytes(),
            b" HTTP/1.1\r\nHost: ",
            self.host.as_bytes(),
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            &key,
            b"\r\nSec-WebSocket-Version: 13\r\n",
        ]);
        for (i, p) in self.protocols.iter().enumerate() {
            if !is_token(p) {
                return Err(WriteError::InvalidHeader);
            }
            let lead: &[u8] = if i == 0 {
                b"Sec-WebSocket-Protocol: "
            } else {
                b", "
            };
            c.put_all(&[lead, p.as_bytes()]);
        }
        if !self.protocols.is_empty() {
            c.put(b"\r\n");
        }
        c.put_headers(self.headers);
        c.put(b"\r\n");
        Ok((c.finish()?, key))
    }
}

/// Why a URL was refused by [`Url::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UrlError {
    /// `wss://`: TLS is the caller's to supply. Wrap a TLS stream (rustls, embedded-tls)
    /// as the transport and connect over it with a [`ClientRequest`]; the examples show
    /// how.
    Tls,
    /// A scheme other than `ws://` (or `wss://`).
    Scheme,
    /// No host, user information, or a host that is not a name or address.
    Host,
    /// A port that is not a number from 0 to 65535.
    Port,
    /// A path or query with spaces, control or non-ASCII characters, or a fragment.
    Path,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Tls => {
                "wss:// needs TLS, which the caller supplies: wrap a TLS stream as the transport"
            }
            UrlError::Scheme => "not a ws:// URL",
            UrlError::Host => "invalid host in URL",
            UrlError::Port => "invalid port in URL",
            UrlError::Path => {
                "invalid path in URL (spaces, control or non-ASCII characters, or a fragment)"
            }
        })
    }
}

impl core::error::Error for UrlError {}

/// The parts of a `ws://` URL that a client needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Url<'a> {
    /// Host and optional port, as written: the `Host` header's value.
    pub authority: &'a str,
    /// The host name or address (brackets removed from an IPv6 address).
    pub host: &'a str,
    /// The port: as written, or 80.
    pub port: u16,
    /// Path and query as written: `/` when the URL has neither, and just `?query` when
    /// it has a query but no path (the request then asks for `/?query`, as RFC 6455
    /// section 3 says).
    pub path: &'a str,
}

impl<'a> Url<'a> {
    /// Parses `ws://host[:port][/path][?query]`, refusing `wss://` with
    /// [`UrlError::Tls`] and anything else that is not a plain `ws://` URL.
    pub fn parse(url: &'a str) -> Result<Url<'a>, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        if scheme.eq_ignore_ascii_case("wss") {
            return Err(UrlError::Tls);
        }
        if !scheme.eq_ignore_ascii_case("ws") {
            return Err(UrlError::Scheme);
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if path.starts_with('#') || path.contains('#') {
            return Err(UrlError::Path);
        }
        if path.bytes().any(|b| b <= b' ' || b >= 0x7F) {
            return Err(UrlError::Path);
        }
        if authority.is_empty() || authority.contains('@') {
            return Err(UrlError::Host);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(UrlError::Host)?;
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !valid {
                return Err(UrlError::Host);
            }
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(UrlError::Host)?)),
            }
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let host_ok = !host.is_empty()
            && (authority.starts_with('[')
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)));
        if !host_ok {
            return Err(UrlError::Host);
        }
        let port = match port {
            None => 80,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| UrlError::Port)?
            }
            Some(_) => return Err(UrlError::Port),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            authority,
            host,
            port,
            path,
        })
    }
}

/// Why a client's handshake failed: each way a server's response can be wrong has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError {
    /// The response is not well-formed HTTP/1.1.
    Malformed,
    /// The response head does not fit the receive buffer.
    TooLarge,
    /// The server answered with this status instead of 101.
    Status(u16),
    /// No `Upgrade: websocket` header.
    MissingUpgrade,
    /// No `Connection: Upgrade` header.
    MissingConnection,
    /// No `Sec-WebSocket-Accept` header, or more than one.
    MissingAccept,
    /// `Sec-WebSocket-Accept` does not match the key that was sent.
    BadAccept,
    /// The server chose a subprotocol the client did not offer, or more than one.
    UnexpectedProtocol,
    /// The server named an extension the client did not offer.
    UnexpectedExtension,
    /// The transport ended before the whole response arrived.
    Truncated,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Malformed => f.write_str("malformed HTTP response"),
            ClientError::TooLarge => f.write_str("response head too large for the buffer"),
            ClientError::Status(s) => write!(f, "server answered HTTP {s} instead of 101"),
            ClientError::MissingUpgrade => f.write_str("response lacks Upgrade: websocket"),
            ClientError::MissingConnection => f.write_str("response lacks Connection: Upgrade"),
            ClientError::MissingAccept => f.write_str("response lacks Sec-WebSocket-Accept"),
            ClientError::BadAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            ClientError::UnexpectedProtocol => {
                f.write_str("server chose a subprotocol not offered")
            }
            ClientError::UnexpectedExtension => {
                f.write_str("server chose an extension not offered")
            }
            ClientError::Truncated => f.write_str("connection ended inside the response"),
        }
    }
}

impl core::error::Error for ClientError {}

const STATUS_LINE: u8 = 1 << 0;
const UPGRADE: u8 = 1 << 1;
const CONNECTION: u8 = 1 << 2;
const ACCEPT_SEEN: u8 = 1 << 3;
const ACCEPT_OK: u8 = 1 << 4;
const EXTENSION: u8 = 1 << 5;
const PROTOCOL_BAD: u8 = 1 << 6;
const DONE: u8 = 1 << 7;

/// An incremental parser for the server's response to a [`ClientRequest`].
#[derive(Clone, Debug)]
pub struct ResponseParser {
    lines: LineScanner,
    expected_accept: [u8; ACCEPT_LEN],
    flags: u8,
    status: u16,
    /// Index + 1 of the offered subprotocol the server chose; 0 for none.
    protocol: u8,
}

/// The outcome of a successful handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Accepted {
    /// The length of the response head; bytes after it are already WebSocket frames.
    pub head_len: usize,
    /// The index, in the offered list, of the subprotocol the server chose.
    pub protocol: Option<usize>,
}

impl ResponseParser {
    /// A parser for the response to a request sent with `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        ResponseParser {
            lines: LineScanner::new(),
            expected_accept: accept_key(key),
            flags: 0,
            status: 0,
            protocol: 0,
        }
    }

    /// Parses what has arrived of the response; `buf` holds the same bytes as on the last
    /// call, and perhaps more. `offered` is the request's list of subprotocols.
    ///
    /// Returns the outcome once the head is complete and valid, `Status::Partial` when
    /// more bytes are needed, and the first thing wrong otherwise.
    pub fn parse(&mut self, buf: &[u8], offered: &[&str]) -> Result<Status<Accepted>, ClientError> {
        if self.flags & DONE != 0 {
            return Err(ClientError::Malformed);
        }
        while let Some((line, end)) = self.lines.next_line(buf) {
            if self.flags & STATUS_LINE == 0 {
                self.status_line(line)?;
            } else if line.is_empty() {
                self.flags |= DONE;
                return self.finish(end).map(Status::Complete);
            } else {
                self.header(line, offered)?;
            }
        }
        Ok(Status::Partial)
    }

    fn status_line(&mut self, line: &[u8]) -> Result<(), ClientError> {
        let rest = line
            .strip_prefix(b"HTTP/1.1 ")
            .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
            .ok_or(ClientError::Malformed)?;
        let code = rest.get(..3).ok_or(ClientError::Malformed)?;
        if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
            return Err(ClientError::Malformed);
        }
        self.status = code.iter().fold(0u16, |n, d| {
            // Three checked digits: at most 999.
            n.wrapping_mul(10)
                .wrapping_add(u16::from(d.wrapping_sub(b'0')))
        });
        if self.status != 101 {
            return Err(ClientError::Status(self.status));
        }
        if !line.starts_with(b"HTTP/1.1") {
            return Err(ClientError::Malformed);
        }
        self.flags |= STATUS_LINE;
        Ok(())
    }

    fn header(&mut self, line: &[u8], offered: &[&str]) -> Result<(), ClientError> {
        let (name, value) = http::split_header(line).ok_or(ClientError::Malformed)?;
        if name.eq_ignore_ascii_case(b"upgrade") {
            if value.eq_ignore_ascii_case(b"websocket") {
                self.flags |= UPGRADE;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            if http::has_token(value, b"upgrade") {
                self.flags |= CONNECTION;
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
            if self.flags & ACCEPT_SEEN != 0 {
                self.flags &= !ACCEPT_OK;
                return Err(ClientError::MissingAccept);
            }
            self.flags |= ACCEPT_SEEN;
            if value == self.expected_accept {
                self.flags |= ACCEPT_OK;
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            let chosen = offered.iter().position(|p| p.as_bytes() == value);
            match chosen {
                Some(i) if self.protocol == 0 && i < usize::from(u8::MAX) => {
                    self.protocol = (i as u8).saturating_add(1);
                }
                _ => self.flags |= PROTOCOL_BAD,
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions")
            && http::tokens(value).next().is_some()
        {
            self.flags |= EXTENSION;
        }
        Ok(())
    }

    fn finish(&self, head_len: usize) -> Result<Accepted, ClientError> {
        let f = self.flags;
        if f & UPGRADE == 0 {
            Err(ClientError::MissingUpgrade)
        } else if f & CONNECTION == 0 {
            Err(ClientError::MissingConnection)
        } else if f & ACCEPT_SEEN == 0 {
            Err(ClientError::MissingAccept)
        } else if f & ACCEPT_OK == 0 {
            Err(ClientError::BadAccept)
        } else if f & PROTOCOL_BAD != 0 {
            Err(ClientError::UnexpectedProtocol)
        } else if f & EXTENSION != 0 {
            Err(ClientError::UnexpectedExtension)
        } else {
            Ok(Accepted {
                head_len,
                protocol: usize::from(self.protocol).checked_sub(1),
            })
        }
    }
}

/// The server's response that accepted the upgrade, as a view over the receive buffer
/// (see `Connecting::response` in either driver).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Response<'a> {
    head: &'a [u8],
    protocol: Option<usize>,
}

impl<'a> Response<'a> {
    /// The status: 101, since the server accepted.
    pub const fn status(&self) -> u16 {
        101
    }

    /// Every header as `(name, value)`, value trimmed, in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        http::headers(self.head)
    }

    /// The value of the first header named `name` (compared without case), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        http::header(self.head, name)
    }

    /// The index, in the offered list, of the subprotocol the server chose.
    pub const fn protocol(&self) -> Option<usize> {
        self.protocol
    }
}

/// What a driver of a client [`Handshake`] does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Write [`Handshake::output`], then report the count with [`Handshake::wrote`].
    Write,
    /// Read into [`Handshake::read_buffer`], then report the count with
    /// [`Handshake::received`] (or the end with [`Handshake::received_eof`]).
    Read,
    /// The server accepted: bytes after the head are the first frames.
    Accepted(Accepted),
}

/// The client's side of the opening handshake, sans-IO: the request waits in the
/// transmit buffer until it is written, then the response is read into the receive
/// buffer and checked. A driver calls [`Handshake::poll`] and does what the [`Step`]
/// says; a call interrupted by a timeout is simply made again.
#[derive(Clone, Debug)]
pub struct Handshake {
    parser: ResponseParser,
    /// The request, at the start of the transmit buffer, and how much of it has gone.
    request_len: usize,
    sent: usize,
    /// Bytes of the response in the receive buffer.
    received: usize,
    outcome: Option<Result<Accepted, ClientError>>,
    ended: bool,
}

impl Handshake {
    /// Writes `request` into `tx` with `nonce` (16 unpredictable bytes) as its key.
    pub fn new(
        request: &ClientRequest<'_>,
        tx: &mut [u8],
        nonce: [u8; 16],
    ) -> Result<Self, WriteError> {
        let (request_len, key) = request.write(tx, nonce)?;
        Ok(Handshake {
            parser: ResponseParser::new(&key),
            request_len,
            sent: 0,
            received: 0,
            outcome: None,
            ended: false,
        })
    }

    /// What to do next; `offered` is the request's list of subprotocols.
    pub fn poll(&mut self, rx: &[u8], offered: &[&str]) -> Result<Step, ClientError> {
        if self.sent < self.request_len {
            return Ok(Step::Write);
        }
        if let Some(outcome) = self.outcome {
            return outcome.map(Step::Accepted);
        }
        let seen = part(rx, ..self.received.min(rx.len()));
        let outcome = match self.parser.parse(seen, offered) {
            Ok(Status::Complete(accepted)) => Ok(accepted),
            Ok(Status::Partial) if self.ended => Err(ClientError::Truncated),
            Ok(Status::Partial) if self.received < rx.len() => return Ok(Step::Read),
            Ok(Status::Partial) => Err(ClientError::TooLarge),
            Err(e) => Err(e),
        };
        self.outcome = Some(outcome);
        outcome.map(Step::Accepted)
    }

    /// The next bytes of the request to write.
    pub fn output<'a>(&self, tx: &'a [u8]) -> &'a [u8] {
        part(tx, self.sent.min(self.request_len)..self.request_len)
    }

    /// `n` bytes of [`Handshake::output`] were written.
    pub fn wrote(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n);
    }

    /// Where the next bytes of the response go.
    pub fn read_buffer<'a>(&self, rx: &'a mut [u8]) -> &'a mut [u8] {
        part_mut(rx, self.received..)
    }

    /// `n` bytes were read into [`Handshake::read_buffer`].
    pub fn received(&mut self, n: usize) {
        self.received = self.received.saturating_add(n);
    }

    /// The transport ended: unless the response is complete, [`ClientError::Truncated`].
    pub fn received_eof(&mut self) {
        self.ended = true;
    }

    /// The response, once the server has accepted.
    pub fn response<'a>(&self, rx: &'a [u8]) -> Option<Response<'a>> {
        match self.outcome {
            Some(Ok(accepted)) => Some(Response {
                head: rx.get(..accepted.head_len)?,
                protocol: accepted.protocol,
            }),
            _ => None,
        }
    }

    /// Bytes of the receive buffer that came after the response's head.
    pub fn leftover(&self) -> core::ops::Range<usize> {
        match self.outcome {
            Some(Ok(a)) => a.head_len..self.received.max(a.head_len),
            _ => 0..0,
        }
    }
}

#[cfg(test)]
mod tests;
