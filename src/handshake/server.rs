//! The server's side of the handshake: parse the client's request, accept or refuse it.
//!
//! [`RequestParser`] is fed the growing receive buffer and scans only the new bytes.
//! Once the blank line has arrived it yields the head's length; [`Request`] is then a
//! view over those bytes. A request without `Upgrade: websocket` is a plain HTTP request
//! (firmware answers it with its web page); an upgrade request is checked by
//! [`Request::check_upgrade`], and answered by [`write_accept`] or [`write_refusal`].

use core::fmt;

use super::http::{self, LineScanner};
use super::{is_token, Cursor, WriteError, KEY_LEN};
use crate::bytes::move_bytes;
use crate::bytes::part;
use crate::Status;

/// Why a request cannot be upgraded, each with the HTTP status that refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestError {
    // The upgrade's rules in the order they are checked, the sizes last: an order whose
    // codes made the firmware's matches on an error shorter (flash, measured).
    /// The request is not well-formed HTTP/1.x, or ended before its blank line: 400.
    Malformed,
    /// An upgrade request with a method other than `GET`: 405.
    MethodNotAllowed,
    /// An upgrade request over a protocol other than HTTP/1.1: 400.
    NotHttp11,
    /// No `Host` header: 400.
    MissingHost,
    /// More than one `Host` header, or one whose value is not a host and port: 400
    /// (RFC 7230 section 5.4).
    InvalidHost,
    /// `Connection` does not list the `upgrade` token: 400.
    MissingConnectionUpgrade,
    /// An upgrade request with a body (`Content-Length` other than 0, or
    /// `Transfer-Encoding`): 400. Its bytes would otherwise be taken for frames.
    UnexpectedBody,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes in base64: 400.
    BadKey,
    /// `Sec-WebSocket-Version` is missing or not 13: 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// The head does not fit the receive buffer: 431.
    TooLarge,
    /// More header lines than the parser's limit: 431.
    TooManyHeaders,
}

impl RequestError {
    /// The HTTP status code that refuses the request.
    pub const fn status(self) -> u16 {
        match self {
            RequestError::TooLarge | RequestError::TooManyHeaders => 431,
            RequestError::MethodNotAllowed => 405,
            RequestError::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::Malformed => "malformed HTTP request",
            RequestError::TooLarge => "request head too large",
            RequestError::TooManyHeaders => "too many header lines",
            RequestError::MethodNotAllowed => "upgrade request method is not GET",
            RequestError::NotHttp11 => "upgrade request is not HTTP/1.1",
            RequestError::MissingHost => "missing Host header",
            RequestError::InvalidHost => "repeated or invalid Host header",
            RequestError::UnexpectedBody => "upgrade request with a body",
            RequestError::MissingConnectionUpgrade => "Connection header lacks the upgrade token",
            RequestError::BadKey => "missing or invalid Sec-WebSocket-Key",
            RequestError::UnsupportedVersion => "Sec-WebSocket-Version is not 13",
        })
    }
}

impl core::error::Error for RequestError {}

// What the parser has seen. From METHOD_GET to VERSION_OTHER, one flag for each rule of
// `Request::check_upgrade`, in the order it checks them (see `RULES`).
const REQUEST_LINE: u16 = 1 << 0;
const METHOD_GET: u16 = 1 << 1;
const HTTP_11: u16 = 1 << 2;
const HOST_SEEN: u16 = 1 << 3;
const UPGRADE_WEBSOCKET: u16 = 1 << 4;
const CONNECTION_UPGRADE: u16 = 1 << 5;
const BODY: u16 = 1 << 6;
const KEY_OK: u16 = 1 << 7;
const VERSION_13: u16 = 1 << 8;
const VERSION_OTHER: u16 = 1 << 9;
const KEY_BAD: u16 = 1 << 10;
const DONE: u16 = 1 << 11;

/// The flags an upgrade request has: those of the rules it keeps.
const UPGRADE_HAS: u16 =
    METHOD_GET | HTTP_11 | HOST_SEEN | UPGRADE_WEBSOCKET | CONNECTION_UPGRADE | KEY_OK | VERSION_13;
/// The flags of the rules [`Request::check_upgrade`] checks, from METHOD_GET up.
const UPGRADE_RULES: u16 = UPGRADE_HAS | BODY | VERSION_OTHER;
/// The refusal for each flag from METHOD_GET up, when it is not as an upgrade has it.
const RULES: [RequestError; 9] = [
    RequestError::MethodNotAllowed,
    RequestError::NotHttp11,
    RequestError::MissingHost,
    RequestError::MissingConnectionUpgrade,
    RequestError::MissingConnectionUpgrade,
    RequestError::UnexpectedBody,
    RequestError::BadKey,
    RequestError::UnsupportedVersion,
    RequestError::UnsupportedVersion,
];

/// The names of the headers the parser acts on or keeps, lowercase and separated by
/// spaces: one string, looked up by one loop ([`known_header`]), rather than a chain of
/// comparisons (and no table of slices in flash).
const HEADER_NAMES: &[u8] = b"origin sec-websocket-protocol host upgrade connection \
    sec-websocket-key sec-websocket-version content-length transfer-encoding";
// Their places in the string: those [`RequestParser::compact`] keeps (one range), then
// those the parser acts on (one jump table), Host in both.
const ORIGIN: usize = 0;
const PROTOCOL: usize = 1;
const HOST: usize = 2;
const UPGRADE: usize = 3;
const CONNECTION: usize = 4;
const KEY: usize = 5;
const VERSION: usize = 6;
const CONTENT_LENGTH: usize = 7;
const TRANSFER_ENCODING: usize = 8;

/// The place of `name` (compared without case) in [`HEADER_NAMES`].
fn known_header(name: &[u8]) -> Option<usize> {
    http::position(HEADER_NAMES, b' ', name)
}

/// Whether a request line's `method` is a token and its `target` is not empty and holds
/// no space, control character or DEL.
// Always inlined: left to the compiler, request_line grew by 8 / 12 bytes of flash.
#[inline(always)]
fn is_method_and_target(method: &[u8], target: &[u8]) -> bool {
    http::is_token(method) && !target.is_empty() && !target.iter().any(|&b| b <= b' ' || b == 0x7F)
}

/// The default limit on header lines in a request.
pub const DEFAULT_MAX_HEADERS: u16 = 64;

/// An incremental parser for a client's upgrade request.
#[derive(Clone, Debug)]
pub struct RequestParser {
    lines: LineScanner,
    flags: u16,
    headers: u16,
    max_headers: u16,
    key: [u8; KEY_LEN],
    /// Headers the application asked to keep when the buffer is compacted.
    keep: &'static [&'static str],
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser allowing [`DEFAULT_MAX_HEADERS`] header lines.
    pub const fn new() -> Self {
        Self::with_max_headers(DEFAULT_MAX_HEADERS)
    }

    /// A parser allowing at most `max_headers` header lines ([`RequestError::TooManyHeaders`]).
    pub const fn with_max_headers(max_headers: u16) -> Self {
        RequestParser {
            lines: LineScanner::new(),
            flags: 0,
            headers: 0,
            max_headers,
            key: [0; KEY_LEN],
            keep: &[],
        }
    }

    /// Keeps these headers too (names compared without case) when a request larger than
    /// the buffer is compacted ([`RequestParser::compact`]): `Cookie`, say, which a
    /// browser sends to authenticate its WebSocket.
    #[must_use]
    pub const fn keep_headers(mut self, names: &'static [&'static str]) -> Self {
        self.keep = names;
        self
    }

    /// Parses what has arrived. `buf` is the whole request so far: the same bytes as on
    /// the last call, and perhaps more. Only bytes not seen before are scanned.
    ///
    /// Returns the head's length once the blank line that ends it has arrived:
    /// `buf[..head_len]` is the head, and any bytes after it already belong to the
    /// WebSocket frame stream.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Status<usize>, RequestError> {
        if self.flags & DONE != 0 {
            return Ok(Status::Complete(self.lines.consumed()));
        }
        self.parse_lines(buf)
    }

    /// [`RequestParser::parse`] before the head is complete (the [`Handshake`] calls it
    /// only then).
    pub(crate) fn parse_lines(&mut self, buf: &[u8]) -> Result<Status<usize>, RequestError> {
        while let Some((line, end)) = self.lines.next_line(buf) {
            if self.flags & REQUEST_LINE == 0 {
                self.request_line(line)?;
            } else if line.is_empty() {
                self.flags |= DONE;
                return Ok(Status::Complete(end));
            } else {
                self.header(line)?;
            }
        }
        Ok(Status::Partial)
    }

    /// The bytes of the line that has not ended yet: a caller whose buffer is full with
    /// this many bytes pending cannot make progress.
    pub fn pending_line_len(&self) -> usize {
        self.lines.pending()
    }

    /// Makes room in a full buffer: removes the complete header lines that ws13 has
    /// already taken what it needs from, keeping the request line (and a blank line
    /// before it, if one came) and the headers the application may still ask about
    /// (`Host`, `Origin`, `Sec-WebSocket-Protocol`, and those of
    /// [`RequestParser::keep_headers`]), and moves the rest of the buffer down. Returns
    /// the new length of `buf[..len]`.
    ///
    /// A driver calls this when its buffer is full and the head is not complete, so a
    /// request larger than the buffer can still be read; [`Request::headers`] then shows
    /// only the kept headers. When nothing can be removed, the result is `len`: the
    /// request cannot fit ([`RequestError::TooLarge`]).
    // Out of line: inlined into the handshake's `poll`, its loop cost firmware more flash.
    #[inline(never)]
    pub fn compact(&mut self, buf: &mut [u8], len: usize) -> usize {
        let done = self.lines.consumed().min(len);
        // Every line before `done` was parsed (and checked) already. The arithmetic
        // stays within `done` (write <= read <= done): nothing wraps.
        let mut lines = LineScanner::new();
        let (mut read, mut write) = (0, 0);
        let mut request_line_seen = false;
        while let Some((line, end)) = lines.next_line(part(buf, ..done)) {
            // Up to the request line (a blank line may come first), every line is kept;
            // after it, the header lines asked for.
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let keep = !request_line_seen
                || matches!(known_header(name), Some(HOST | ORIGIN | PROTOCOL))
                || self
                    .keep
                    .iter()
                    .any(|kept| http::eq_ignore_case(name, kept.as_bytes()));
            request_line_seen |= !line.is_empty();
            if keep {
                move_bytes(buf, read..end, write);
                write = write.wrapping_add(end.wrapping_sub(read));
            }
            read = end;
        }
        let removed = done.wrapping_sub(write);
        move_bytes(buf, done..len, write);
        self.lines.shift(removed);
        len.wrapping_sub(removed)
    }

    /// The completed request, once [`RequestParser::parse`] has returned the head's length;
    /// `head` is `buf[..head_len]`.
    pub fn request<'a>(&self, head: &'a [u8]) -> Request<'a> {
        Request {
            head,
            flags: self.flags,
            key: self.key,
        }
    }

    /// The valid `Sec-WebSocket-Key` read (all zeros before one is).
    pub(crate) fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    #[inline(never)]
    fn request_line(&mut self, line: &[u8]) -> Result<(), RequestError> {
        if line.is_empty() && self.lines.consumed() <= 2 {
            // RFC 7230 3.5: ignore at least one empty line before the request line.
            return Ok(());
        }
        // Three parts, one space between each. The version is the line's last nine bytes
        // (with the space before it), and the method the bytes up to the first space;
        // the target, between them, then holds no space (as no byte up to it).
        let Some((rest, [version @ .., minor])) = line.split_last_chunk::<9>() else {
            return Err(RequestError::Malformed);
        };
        if version != b" HTTP/1." {
            return Err(RequestError::Malformed);
        }
        let Some((method, target)) = http::split_at_byte(rest, b' ') else {
            return Err(RequestError::Malformed);
        };
        if !is_method_and_target(method, target) {
            return Err(RequestError::Malformed);
        }
        // The flags the line sets, gathered for one store.
        let mut seen = REQUEST_LINE;
        match minor {
            b'1' => seen |= HTTP_11,
            b'0' => {}
            _ => return Err(RequestError::Malformed),
        }
        // The method is `GET` exactly when the line starts with it and a space.
        if rest.starts_with(b"GET ") {
            seen |= METHOD_GET;
        }
        self.flags |= seen;
        Ok(())
    }

    #[inline(never)]
    fn header(&mut self, line: &[u8]) -> Result<(), RequestError> {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // Obsolete line folding (RFC 7230 3.2.4): refused.
            return Err(RequestError::Malformed);
        }
        if self.headers >= self.max_headers {
            return Err(RequestError::TooManyHeaders);
        }
        // Below max_headers: cannot wrap.
        self.headers = self.headers.wrapping_add(1);
        let (name, value) = http::split_header(line).ok_or(RequestError::Malformed)?;
        // The flag the line sets (each arm names its flag; one store sets it).
        let flag = match known_header(name) {
            Some(HOST) => {
                if self.flags & HOST_SEEN != 0 || !is_host(value) {
                    return Err(RequestError::InvalidHost);
                }
                HOST_SEEN
            }
            Some(TRANSFER_ENCODING) => BODY,
            Some(CONTENT_LENGTH) if value != b"0" => BODY,
            Some(i @ (UPGRADE | CONNECTION)) => {
                // One call for both token lists: the token and its flag chosen first.
                let (token, flag): (&[u8], u16) = if i == UPGRADE {
                    (b"websocket", UPGRADE_WEBSOCKET)
                } else {
                    (b"upgrade", CONNECTION_UPGRADE)
                };
                if http::has_token(value, token) {
                    flag
                } else {
                    0
                }
            }
            Some(KEY) => {
                self.key_header(value);
                0
            }
            Some(VERSION) if value == b"13" => VERSION_13,
            Some(VERSION) => VERSION_OTHER,
            _ => 0,
        };
        self.flags |= flag;
        Ok(())
    }

    fn key_header(&mut self, value: &[u8]) {
        let valid = self.flags & (KEY_OK | KEY_BAD) == 0 && is_key(value);
        if valid {
            self.key.copy_from_slice(value);
            self.flags |= KEY_OK;
        } else {
            self.flags = (self.flags & !KEY_OK) | KEY_BAD;
        }
    }
}

/// A complete request head, as a view over the receive buffer.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Request<'a> {
    head: &'a [u8],
    flags: u16,
    key: [u8; KEY_LEN],
}

impl<'a> Request<'a> {
    fn request_line(&self) -> impl Iterator<Item = &'a [u8]> {
        let head = self.head;
        let start = head
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(0);
        let line = head.get(start..).unwrap_or(&[]);
        let line = line.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.split(|&b| b == b' ')
    }

    /// The request method, such as `GET`.
    pub fn method(&self) -> &'a str {
        self.request_line()
            .next()
            .and_then(|m| core::str::from_utf8(m).ok())
            .unwrap_or("")
    }

    /// The request target as sent, such as `/chat?room=1` (empty if it is not UTF-8).
    pub fn target(&self) -> &'a str {
        self.request_line()
            .nth(1)
            .and_then(|t| core::str::from_utf8(t).ok())
            .unwrap_or("")
    }

    /// The target's path, without its query string.
    pub fn path(&self) -> &'a str {
        let target = self.target();
        target.split('?').next().unwrap_or(target)
    }

    /// Every header as `(name, value)`, value trimmed, in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        http::headers(self.head)
    }

    /// The value of the first header named `name` (compared without case), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        http::header(self.head, name)
    }

    /// The `Origin` header, which a browser always sends: check it to refuse other sites.
    pub fn origin(&self) -> Option<&'a str> {
        self.header("origin")
    }

    /// The subprotocols the client offers, in its order of preference, from every
    /// `Sec-WebSocket-Protocol` header.
    pub fn protocols(&self) -> impl Iterator<Item = &'a str> {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, v)| http::tokens(v))
            .filter_map(|t| core::str::from_utf8(t).ok())
    }

    /// Whether the client offered `protocol`.
    pub fn offers_protocol(&self, protocol: &str) -> bool {
        self.protocols().any(|p| p == protocol)
    }

    /// Whether this is a WebSocket upgrade request (its `Upgrade` header lists `websocket`).
    /// Anything else is a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        self.flags & UPGRADE_WEBSOCKET != 0
    }

    /// Checks every rule RFC 6455 section 4.2.1 sets for an upgrade request.
    // Out of line: the handshake checks a request when it completes, and again when a
    // request that is not an upgrade is accepted; one copy serves both.
    #[inline(never)]
    pub fn check_upgrade(&self) -> Result<(), RequestError> {
        // The rules broken, as flags; the lowest is the first checked, and refuses.
        let mut broken = (self.flags ^ UPGRADE_HAS) & UPGRADE_RULES;
        for &error in &RULES {
            if broken & METHOD_GET != 0 {
                return Err(error);
            }
            broken >>= 1;
        }
        Ok(())
    }

    /// The client's `Sec-WebSocket-Key`, as sent (24 base64 characters); all zeros when
    /// the request had no valid key.
    pub fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

/// Writes the `101 Switching Protocols` response that accepts `request`, choosing
/// `protocol` (which should be one the client offered) and adding `headers` (a
/// `Set-Cookie`, say), and returns its length.
pub fn write_accept(
    buf: &mut [u8],
    request: &Request<'_>,
    protocol: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<usize, WriteError> {
    write_accept_for(buf, request.key(), protocol, headers)
}

/// [`write_accept`] for the request whose key is `key` (a driver passes the parser's,
/// with no copy of the request).
pub(crate) fn write_accept_for(
    buf: &mut [u8],
    key: &[u8; KEY_LEN],
    protocol: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<usize, WriteError> {
    let mut c = Cursor::new(buf);
    c.put(
        concat!(
            "HTTP/1.1 101 Switching Protocols\r\n",
            "Upgrade: websocket\r\n",
            "Connection: Upgrade\r\n",
            "Sec-WebSocket-Accept: "
        )
        .as_bytes(),
    );
    c.put_accept(key);
    if let Some(p) = protocol {
        // The line ending first, then the check: with a buffer too small, the error
        // kept is the buffer's, as for every header line.
        c.put(b"\r\n");
        if !is_token(p) {
            c.fail(WriteError::InvalidHeader);
        }
        c.put_field("Sec-WebSocket-Protocol", p);
    }
    c.put_next_headers(headers);
    c.put(b"\r\n\r\n");
    c.finish()
}

/// The reason phrase for the statuses this crate writes, and a few common others.
pub const fn reason_phrase(status: u16) -> &'static str {
    let line = status_line_end(status);
    match line.split_at_checked(1) {
        Some((_, phrase)) => phrase,
        None => line,
    }
}

/// [`reason_phrase`] after the space that separates it from the status code: the end of
/// the status line, written in one piece (no separate write of the space).
pub(crate) const fn status_line_end(status: u16) -> &'static str {
    match status {
        101 => " Switching Protocols",
        200 => " OK",
        204 => " No Content",
        301 => " Moved Permanently",
        302 => " Found",
        304 => " Not Modified",
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        405 => " Method Not Allowed",
        408 => " Request Timeout",
        426 => " Upgrade Required",
        431 => " Request Header Fields Too Large",
        500 => " Internal Server Error",
        501 => " Not Implemented",
        503 => " Service Unavailable",
        _ => " Status",
    }
}

/// Writes the head of a plain HTTP/1.1 response: status line, `headers`,
/// `Content-Length: body_len`, `Connection: close`, and the blank line. The caller sends
/// the body after it. Returns the head's length.
pub fn write_response_head(
    buf: &mut [u8],
    status: u16,
    headers: &[(&str, &str)],
    body_len: usize,
) -> Result<usize, WriteError> {
    write_head(buf, status, status_line_end(status), headers, body_len)
}

/// [`write_response_head`] with the status line's end given (a space, then the reason
/// phrase, as [`status_line_end`] has it): a caller whose status is a constant finds its
/// phrase at compile time, and firmware then holds only the phrases it uses, not
/// [`reason_phrase`]'s whole table.
pub(crate) fn write_head(
    buf: &mut [u8],
    status: u16,
    line_end: &str,
    headers: &[(&str, &str)],
    body_len: usize,
) -> Result<usize, WriteError> {
    if !(100..=999).contains(&status) {
        return Err(WriteError::InvalidHeader);
    }
    let mut c = Cursor::new(buf);
    c.put(b"HTTP/1.1 ");
    c.put_decimal(usize::from(status));
    c.put(line_end.as_bytes());
    c.put_next_headers(headers);
    c.put(b"\r\nContent-Length: ");
    c.put_decimal(body_len);
    c.put(b"\r\nConnection: close\r\n\r\n");
    c.finish()
}

/// Writes the empty-bodied response that refuses a request for `error`'s reason
/// (with `Sec-WebSocket-Version: 13` on a 426, `Allow: GET` on a 405).
pub fn write_refusal(buf: &mut [u8], error: RequestError) -> Result<usize, WriteError> {
    // Each status line's end (the space and the phrase), and the refusal's extra header
    // line riding after it
    // (no header table to check and format at run time); the tests hold them to
    // `reason_phrase` and the statuses to `RequestError::status`. Status and line are
    // chosen together by conditional moves: a `match` on the error compiled to lookup
    // tables in flash (.rodata +100), and one beside `status()` to two chains of
    // comparisons.
    let mut status = 400;
    let mut line = " Bad Request";
    if error == RequestError::UnsupportedVersion {
        status = 426;
        line = " Upgrade Required\r\nSec-WebSocket-Version: 13";
    }
    if error == RequestError::MethodNotAllowed {
        status = 405;
        line = " Method Not Allowed\r\nAllow: GET";
    }
    if matches!(error, RequestError::TooLarge | RequestError::TooManyHeaders) {
        status = 431;
        line = " Request Header Fields Too Large";
    }
    write_head(buf, status, line, &[], 0)
}

/// Whether `value` is 16 bytes in base64, judged by its shape: 22 characters of the
/// alphabet, the last of them with its four low bits zero (16 bytes leave them unused
/// in a canonical encoding), then `==`.
fn is_key(value: &[u8]) -> bool {
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/');
    match <&[u8; KEY_LEN]>::try_from(value) {
        Ok([body @ .., last, b'=', b'=']) => {
            // `A`, `Q`, `g` and `w` (0x41, 0x51, 0x67, 0x77) differ only in bit 4.
            body.iter().all(base64) && matches!(last & !0x10, b'A' | b'g')
        }
        _ => false,
    }
}

/// Whether `value` is a `Host` header's value: a host name or address, with an
/// optional port (RFC 7230 section 5.4, RFC 3986 section 3.2.2).
fn is_host(value: &[u8]) -> bool {
    // The port is the digits after the last colon (none at all is allowed): the digits
    // at the end are passed over, and a colon before them ends the host. Anything else
    // leaves the whole value as the host, which then fails if it holds a colon outside
    // brackets (one pass from the end, rather than a search for the colon and a check of
    // what follows it).
    let mut rest = value;
    while let [before @ .., b'0'..=b'9'] = rest {
        rest = before;
    }
    let host = match rest {
        [host @ .., b':'] => host,
        _ => value,
    };
    // Character classes as matches, not `contains` on a string: no search loop is linked.
    match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':'))
        }
        _ => {
            !host.is_empty()
                && host.iter().all(|&b| {
                    // From `!` to `=`, the sub-delims, `-`, `.`, `%` and the digits as
                    // bits of one word (one shift and test, no chain of comparisons).
                    const PUNCT_DIGITS: u32 = 0x15FF_BFF9;
                    let i = b.wrapping_sub(b'!');
                    b.is_ascii_alphabetic()
                        || matches!(b, b'_' | b'~')
                        || (i < 29 && PUNCT_DIGITS >> i & 1 != 0)
                })
        }
    }
}

mod handshake;

pub use handshake::{Handshake, Step};

#[cfg(test)]
mod tests;
