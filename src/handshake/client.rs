//! The client's side of the handshake: write the upgrade request, check the 101 response.

use core::fmt;

use super::http::{self, LineScanner};
use super::{accept_key, is_token, BufferTooSmall, Cursor, ACCEPT_LEN, KEY_LEN};

/// What a client asks for in its upgrade request.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The `Host` header: the server's host, with `:port` when it is not the default.
    pub host: &'a str,
    /// The request target: path and query, starting with `/`.
    pub path: &'a str,
    /// Subprotocols to offer, most preferred first (each must be an HTTP token).
    pub protocols: &'a [&'a str],
    /// Further headers to send, such as `Origin` or `Authorization`.
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

    /// Writes the request with `nonce` (16 random bytes) as its key. Returns the request's
    /// length and the key as sent, which [`ResponseParser::new`] needs.
    pub fn write(
        &self,
        buf: &mut [u8],
        nonce: [u8; 16],
    ) -> Result<(usize, [u8; KEY_LEN]), ClientError> {
        let mut key = [0u8; KEY_LEN];
        // 16 bytes always encode to exactly 24 base64 characters.
        let _ = <base64ct::Base64 as base64ct::Encoding>::encode(&nonce, &mut key);
        let text_ok = |s: &str| s.bytes().all(|b| b > b' ' && b != 0x7F);
        if !text_ok(self.host) || !self.path.starts_with('/') || !text_ok(self.path) {
            return Err(ClientError::InvalidRequest);
        }
        let mut c = Cursor::new(buf);
        c.put_all(&[
            b"GET ",
            self.path.as_bytes(),
            b" HTTP/1.1\r\nHost: ",
            self.host.as_bytes(),
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            &key,
            b"\r\nSec-WebSocket-Version: 13\r\n",
        ])?;
        for (i, p) in self.protocols.iter().enumerate() {
            if !is_token(p) {
                return Err(ClientError::InvalidRequest);
            }
            let lead: &[u8] = if i == 0 {
                b"Sec-WebSocket-Protocol: "
            } else {
                b", "
            };
            c.put_all(&[lead, p.as_bytes()])?;
        }
        if !self.protocols.is_empty() {
            c.put(b"\r\n")?;
        }
        for (name, value) in self.headers {
            let value_ok = value.bytes().all(|b| b >= 0x20 && b != 0x7F || b == b'\t');
            if !is_token(name) || !value_ok {
                return Err(ClientError::InvalidRequest);
            }
            c.put_all(&[name.as_bytes(), b": ", value.as_bytes(), b"\r\n"])?;
        }
        c.put(b"\r\n")?;
        Ok((c.len(), key))
    }
}

/// The parts of a `ws://` URL that a client needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Url<'a> {
    /// Host and optional port, as written: the `Host` header's value.
    pub authority: &'a str,
    /// The host name or address (brackets removed from an IPv6 address).
    pub host: &'a str,
    /// The port: as written, or 80.
    pub port: u16,
    /// Path and query, starting with `/` (`/` when the URL has none).
    pub path: &'a str,
}

impl<'a> Url<'a> {
    /// Parses `ws://host[:port][/path][?query]`. `wss://` (TLS) is not supported by this
    /// crate and is refused, like any other scheme, user info or fragment.
    pub fn parse(url: &'a str) -> Option<Url<'a>> {
        let (scheme, rest) = url.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("ws") || rest.contains('#') {
            return None;
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.is_empty() { "/" } else { path };
        if authority.is_empty() || authority.contains('@') || !path.starts_with(['/', '?']) {
            return None;
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => 80,
        };
        if host.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7F) {
            return None;
        }
        Some(Url {
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
    /// The request could not be written: a host, path, subprotocol or header that is not
    /// valid in HTTP.
    InvalidRequest,
    /// The request does not fit the transmit buffer.
    BufferTooSmall,
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
}

impl From<BufferTooSmall> for ClientError {
    fn from(_: BufferTooSmall) -> Self {
        ClientError::BufferTooSmall
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidRequest => f.write_str("invalid host, path, subprotocol or header"),
            ClientError::BufferTooSmall => f.write_str("request does not fit the buffer"),
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
    /// Returns `Ok(Some(accepted))` once the head is complete and valid, `Ok(None)` when
    /// more bytes are needed, and the first thing wrong otherwise.
    pub fn parse(&mut self, buf: &[u8], offered: &[&str]) -> Result<Option<Accepted>, ClientError> {
        if self.flags & DONE != 0 {
            return Err(ClientError::Malformed);
        }
        while let Some((line, end)) = self.lines.next_line(buf) {
            if self.flags & STATUS_LINE == 0 {
                self.status_line(line)?;
            } else if line.is_empty() {
                self.flags |= DONE;
                return self.finish(end).map(Some);
            } else {
                self.header(line, offered)?;
            }
        }
        Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    const NONCE: [u8; 16] = *b"the sample nonce";

    fn request() -> ([u8; 512], usize, [u8; KEY_LEN]) {
        let mut buf = [0u8; 512];
        let req = ClientRequest {
            host: "server.example.com",
            path: "/chat",
            protocols: &["chat", "superchat"],
            headers: &[("Origin", "http://example.com")],
        };
        let (n, key) = req.write(&mut buf, NONCE).unwrap();
        (buf, n, key)
    }

    #[test]
    fn urls() {
        let u = Url::parse("ws://example.com:9001/chat?x=1").unwrap();
        assert_eq!(
            (u.authority, u.host, u.port, u.path),
            ("example.com:9001", "example.com", 9001, "/chat?x=1")
        );
        let u = Url::parse("WS://127.0.0.1").unwrap();
        assert_eq!(
            (u.authority, u.host, u.port, u.path),
            ("127.0.0.1", "127.0.0.1", 80, "/")
        );
        let u = Url::parse("ws://[::1]:8080/").unwrap();
        assert_eq!((u.host, u.port), ("::1", 8080));
        for bad in [
            "wss://h/",
            "http://h/",
            "ws:///x",
            "ws://h:99999/",
            "ws://h:x/",
            "ws://u@h/",
            "ws://h/#f",
            "ws://h/a b",
            "h:80",
        ] {
            assert_eq!(Url::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn writes_the_rfc_request() {
        let (buf, n, key) = request();
        assert_eq!(&key, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            &buf[..n],
            &b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
               Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
               Origin: http://example.com\r\n\r\n"[..]
        );
        // The server side of the crate accepts it.
        let mut p = crate::handshake::server::RequestParser::new();
        let len = p.parse(&buf[..n]).unwrap().unwrap();
        assert_eq!(p.request(&buf[..len]).check_upgrade(), Ok(()));
    }

    #[test]
    fn invalid_requests() {
        let mut buf = [0u8; 512];
        let bad = [
            ClientRequest::new("h", "no-slash"),
            ClientRequest::new("h\r\nX: y", "/"),
            ClientRequest::new("h", "/a b"),
            ClientRequest {
                protocols: &["a b"],
                ..ClientRequest::new("h", "/")
            },
            ClientRequest {
                headers: &[("X", "a\nb")],
                ..ClientRequest::new("h", "/")
            },
        ];
        for req in bad {
            assert_eq!(req.write(&mut buf, NONCE), Err(ClientError::InvalidRequest));
        }
        assert_eq!(
            ClientRequest::new("h", "/").write(&mut buf[..20], NONCE),
            Err(ClientError::BufferTooSmall)
        );
    }

    const OK: &str =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

    fn parse(resp: &str) -> Result<Option<Accepted>, ClientError> {
        let mut p = ResponseParser::new(b"dGhlIHNhbXBsZSBub25jZQ==");
        p.parse(resp.as_bytes(), &["superchat", "chat"])
    }

    #[test]
    fn accepts_rfc_response_in_any_split() {
        assert_eq!(
            parse(OK),
            Ok(Some(Accepted {
                head_len: OK.len(),
                protocol: Some(1)
            }))
        );
        let mut data = OK.as_bytes().to_vec();
        data.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        for split in 0..data.len() {
            let mut p = ResponseParser::new(b"dGhlIHNhbXBsZSBub25jZQ==");
            let first = p.parse(&data[..split], &["chat"]).unwrap();
            let got = match first {
                Some(a) => a,
                None => p.parse(&data, &["chat"]).unwrap().unwrap(),
            };
            assert_eq!(got.head_len, OK.len(), "split {split}");
        }
    }

    #[test]
    fn each_failure_is_distinct() {
        let cases: &[(&str, &str, ClientError)] = &[
            (
                "101 Switching Protocols",
                "403 Forbidden",
                ClientError::Status(403),
            ),
            (
                "101 Switching Protocols",
                "200 OK",
                ClientError::Status(200),
            ),
            ("HTTP/1.1 101", "HTTP/1.0 101", ClientError::Malformed),
            ("HTTP/1.1 101", "HTTX/1.1 101", ClientError::Malformed),
            (
                "Upgrade: websocket",
                "Upgrade: h2c",
                ClientError::MissingUpgrade,
            ),
            (
                "Connection: Upgrade",
                "Connection: close",
                ClientError::MissingConnection,
            ),
            (
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                "",
                ClientError::MissingAccept,
            ),
            (
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOA=",
                ClientError::BadAccept,
            ),
            (
                "Protocol: chat",
                "Protocol: other",
                ClientError::UnexpectedProtocol,
            ),
            (
                "Protocol: chat",
                "Protocol: chat\r\nSec-WebSocket-Protocol: superchat",
                ClientError::UnexpectedProtocol,
            ),
            (
                "Protocol: chat",
                "Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate",
                ClientError::UnexpectedExtension,
            ),
            (
                "Upgrade: websocket",
                "Upgrade websocket",
                ClientError::Malformed,
            ),
        ];
        for (from, to, err) in cases {
            let resp = OK.replacen(from, to, 1);
            assert_ne!(resp, OK);
            assert_eq!(parse(&resp), Err(*err), "{resp}");
        }
        // A subprotocol when none was offered.
        let mut p = ResponseParser::new(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            p.parse(OK.as_bytes(), &[]),
            Err(ClientError::UnexpectedProtocol)
        );
        // No subprotocol chosen is fine.
        let none = OK.replacen("Sec-WebSocket-Protocol: chat\r\n", "", 1);
        assert_eq!(parse(&none).unwrap().unwrap().protocol, None);
    }
}
