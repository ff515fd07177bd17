//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 upgrade, for both roles.
//!
//! - [`server`] parses a client's request incrementally, decides whether it is a valid
//!   upgrade, and writes the 101 response or an HTTP refusal.
//! - [`client`] writes the upgrade request and checks the server's 101 response.
//!
//! Both are sans-IO: they read from and write to byte slices the caller owns. Parsing is
//! linear: each call scans only the bytes that arrived since the last one, so a request
//! that arrives one byte per read costs no more than one that arrives whole.

pub mod client;
mod http;
pub mod server;

use core::fmt;

/// The GUID that RFC 6455 appends to the key before hashing it.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The length of a `Sec-WebSocket-Key` in base64: 16 bytes encode to 24 characters.
pub const KEY_LEN: usize = 24;

/// The length of a `Sec-WebSocket-Accept` value: a SHA-1 digest in base64.
pub const ACCEPT_LEN: usize = 28;

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
///
/// ```
/// let accept = ws13::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut out = [0u8; ACCEPT_LEN];
    encode_accept(key, &mut out);
    out
}

/// Writes `Sec-WebSocket-Accept` for `key` into `out` (the server writes it straight
/// into its response).
fn encode_accept(key: &[u8], out: &mut [u8; ACCEPT_LEN]) {
    let mut sha = sha1_smol::Sha1::new();
    match <&[u8; KEY_LEN]>::try_from(key) {
        // A key of its proper length (every key the server answers) is hashed with the
        // GUID as one 60-byte input: one `update` of a known length, which the compiler
        // folds, with `digest`, into straight copies.
        Ok(key) => {
            let mut input = [0u8; KEY_LEN + GUID.len()];
            let (head, tail) = input.split_at_mut(KEY_LEN);
            head.copy_from_slice(key);
            tail.copy_from_slice(GUID);
            sha.update(&input);
        }
        Err(_) => {
            sha.update(key);
            sha.update(GUID);
        }
    }
    // The digest is taken before the array it goes into is made (on thumbv6m, a
    // shorter sequence).
    let digest = sha.digest();
    // The 20-byte digest and a zero byte: 21 bytes, seven whole groups of three, which
    // the encoder takes in one loop with no partial group to handle (in flash, its code
    // for one group is kept once). The first 27 characters are the digest's; the zero
    // byte's last character is where the padding goes.
    let mut bytes = [0u8; 21];
    if let Some((head, _)) = bytes.split_first_chunk_mut() {
        *head = digest.bytes();
    }
    let encoded = <base64ct::Base64Unpadded as base64ct::Encoding>::encode(&bytes, out);
    debug_assert!(encoded.is_ok(), "28 bytes for the accept key");
    let [.., last] = out;
    *last = b'=';
}

/// Why a request or response could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteError {
    /// The buffer cannot hold it.
    BufferTooSmall,
    /// A header, subprotocol, host or path that is not valid in HTTP, or a status out
    /// of range.
    InvalidHeader,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::BufferTooSmall => "buffer too small",
            WriteError::InvalidHeader => "invalid header, subprotocol, host or path",
        })
    }
}

impl core::error::Error for WriteError {}

/// Appends bytes to a caller's slice, failing cleanly when it is full.
///
/// The first error is kept and returned by [`Cursor::finish`]: the writers call it
/// once, rather than checking after every piece (each check cost firmware flash).
pub(crate) struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
    error: Option<WriteError>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            error: None,
        }
    }

    /// Keeps `error` unless an earlier one was kept.
    pub(crate) fn fail(&mut self, error: WriteError) {
        self.error.get_or_insert(error);
    }

    /// The length written, or the first error.
    pub(crate) fn finish(self) -> Result<usize, WriteError> {
        match self.error {
            None => Ok(self.pos),
            Some(e) => Err(e),
        }
    }

    /// The next `n` bytes of the buffer, taken into what is written; `None` (and the
    /// error kept) when they are not there.
    #[inline(never)]
    fn take(&mut self, n: usize) -> Option<&mut [u8]> {
        // `pos` is within the buffer and `n` the length of bytes in memory (or a few):
        // both are at most isize::MAX, so their sum cannot wrap.
        let end = self.pos.wrapping_add(n);
        let dst = self.buf.get_mut(self.pos..end);
        match dst {
            Some(_) => self.pos = end,
            None => {
                self.error.get_or_insert(WriteError::BufferTooSmall);
            }
        }
        dst
    }

    /// Appends `bytes`. Out of line: response heads are written by many calls of it,
    /// and each inlined copy cost firmware flash.
    #[inline(never)]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        // `take` gives exactly `bytes.len()` bytes; `zip` copies them with no length
        // check to fail (and no panic path linked for it).
        for (dst, &b) in self
            .take(bytes.len())
            .unwrap_or_default()
            .iter_mut()
            .zip(bytes)
        {
            *dst = b;
        }
    }

    pub(crate) fn put_all(&mut self, parts: &[&[u8]]) {
        for part in parts {
            self.put(part);
        }
    }

    /// Appends `n` in decimal: its digits are counted first and written in place, with
    /// no scratch array to clear.
    #[inline(never)]
    pub(crate) fn put_decimal(&mut self, n: usize) {
        // usize, not u64: 32-bit targets then need no 64-bit division routine.
        let mut digits: usize = 1;
        let mut rest = n;
        while rest >= 10 {
            rest /= 10;
            // At most 20 digits: cannot wrap.
            digits = digits.wrapping_add(1);
        }
        let mut rest = n;
        for slot in self.take(digits).unwrap_or_default().iter_mut().rev() {
            // 0x30 | d is the ASCII digit d, for d in 0..=9.
            *slot = b'0' | (rest % 10) as u8;
            rest /= 10;
        }
    }

    /// Appends `Sec-WebSocket-Accept` for `key`, encoded in place. Out of line: its
    /// hashing and encoding have a frame of their own, whose arrays the code reaches
    /// with short offsets (inlined into a driver's large frame, every access was long).
    #[inline(never)]
    pub(crate) fn put_accept(&mut self, key: &[u8; KEY_LEN]) {
        if let Some(Ok(dst)) = self.take(ACCEPT_LEN).map(<&mut [u8; ACCEPT_LEN]>::try_from) {
            encode_accept(key, dst);
        }
    }

    /// Appends a header line, if `name` is a token and `value` a valid field value.
    pub(crate) fn put_header(&mut self, name: &str, value: &str) {
        self.put_field(name, value);
        self.put(b"\r\n");
    }

    /// Appends the header lines of `headers`, each checked as [`Cursor::put_header`] does.
    pub(crate) fn put_headers(&mut self, headers: &[(&str, &str)]) {
        for (name, value) in headers {
            self.put_header(name, value);
        }
    }

    /// Ends the line written last, and appends a header line without its line ending,
    /// checked as [`Cursor::put_header`] does: the server's responses end each line as
    /// the next begins, so that the line endings before the blank line are written
    /// together.
    pub(crate) fn put_next_header(&mut self, name: &str, value: &str) {
        self.put(b"\r\n");
        self.put_field(name, value);
    }

    /// [`Cursor::put_next_header`] for each of `headers`.
    pub(crate) fn put_next_headers(&mut self, headers: &[(&str, &str)]) {
        for (name, value) in headers {
            self.put_next_header(name, value);
        }
    }

    /// Appends `name: value`, if `name` is a token and `value` a valid field value.
    pub(crate) fn put_field(&mut self, name: &str, value: &str) {
        if !is_token(name) || !value.bytes().all(http::is_field_byte) {
            self.fail(WriteError::InvalidHeader);
        }
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value.as_bytes());
    }
}

/// Whether `s` is a non-empty HTTP token (RFC 7230), safe to put in a header value
/// such as `Sec-WebSocket-Protocol`.
pub fn is_token(s: &str) -> bool {
    http::is_token(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn cursor_refuses_overflow() {
        let mut buf = [0u8; 5];
        let mut c = Cursor::new(&mut buf);
        c.put(b"abc");
        c.put_decimal(42);
        assert_eq!(c.finish(), Ok(5));
        assert_eq!(&buf, b"abc42");
        // The first error is the one returned; what fits after it is still written.
        let mut c = Cursor::new(&mut buf);
        c.put(b"abc");
        c.put(b"def");
        c.put_header("a b", "x");
        c.put_decimal(7);
        assert_eq!(c.finish(), Err(WriteError::BufferTooSmall));
        let mut c = Cursor::new(&mut buf);
        c.put_header("a b", "x");
        assert_eq!(c.finish(), Err(WriteError::InvalidHeader));
    }

    #[test]
    fn tokens() {
        assert!(is_token("ws13.echo"));
        assert!(is_token("chat"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a\r\nX: y"));
        assert!(!is_token("a,b"));
    }
}
