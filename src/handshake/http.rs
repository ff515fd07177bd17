//! The small part of HTTP/1.1 the handshake needs: lines, header fields, token lists.

/// Finds complete lines in a growing buffer, scanning each byte once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineScanner {
    /// Bytes before this offset have been scanned.
    scanned: usize,
    /// Where the line being scanned begins.
    line_start: usize,
}

impl LineScanner {
    pub(crate) const fn new() -> Self {
        LineScanner {
            scanned: 0,
            line_start: 0,
        }
    }

    /// The next complete line in `buf`, without its line ending (CRLF, or a bare LF),
    /// and the offset just past it; `None` when the rest of `buf` holds no line ending.
    ///
    /// `buf` must start with the same bytes as on earlier calls.
    pub(crate) fn next_line<'a>(&mut self, buf: &'a [u8]) -> Option<(&'a [u8], usize)> {
        let from_start = buf.get(self.line_start..)?;
        let rest = from_start.get(self.pending()..)?;
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                // The line feed is at `len` in `from_start`, at `end` in `buf`: no sum
                // can wrap.
                let len = self.pending().wrapping_add(i);
                let end = self.line_start.wrapping_add(len);
                let line = from_start.get(..len)?;
                let line = match line {
                    [line @ .., b'\r'] => line,
                    line => line,
                };
                self.scanned = end.wrapping_add(1);
                self.line_start = self.scanned;
                Some((line, self.scanned))
            }
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }

    /// The length of the line scanned so far but not yet ended.
    pub(crate) fn pending(&self) -> usize {
        // The line starts where the last one ended, at most where scanning is.
        self.scanned.wrapping_sub(self.line_start)
    }

    /// Where the next line begins: all bytes before it belong to returned lines.
    pub(crate) fn consumed(&self) -> usize {
        self.line_start
    }

    /// Accounts for `removed` bytes taken out of the buffer before the pending line.
    pub(crate) fn shift(&mut self, removed: usize) {
        // The bytes removed came before the pending line (`removed <= line_start <=
        // scanned`): nothing wraps.
        self.scanned = self.scanned.wrapping_sub(removed);
        self.line_start = self.line_start.wrapping_sub(removed);
    }
}

/// A `tchar` of RFC 7230: the characters of a token.
pub(crate) const fn is_tchar(b: u8) -> bool {
    // From `!` to `9`, the punctuation and the digits as bits of one word (one shift and
    // test, no chain of comparisons).
    const PUNCT_DIGITS: u32 = 0x01FF_B67D;
    let i = b.wrapping_sub(b'!');
    b.is_ascii_alphabetic()
        || (i < 25 && PUNCT_DIGITS >> i & 1 != 0)
        || matches!(b, b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Whether `b` may appear in a header field's value: visible characters, spaces and
/// tabs (RFC 7230 section 3.2), and no control character.
pub(crate) const fn is_field_byte(b: u8) -> bool {
    b >= 0x20 && b != 0x7F || b == b'\t'
}

/// Trims optional whitespace (spaces and tabs) from both ends.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The bytes before the first `byte` and those after it; `None` without one.
pub(crate) fn split_at_byte(s: &[u8], byte: u8) -> Option<(&[u8], &[u8])> {
    let at = s.iter().position(|&b| b == byte)?;
    let (head, rest) = s.split_at_checked(at)?;
    Some((head, rest.get(1..)?))
}

/// Whether `s` is a non-empty HTTP token (RFC 7230).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Splits a header line into its name and trimmed value; `None` if it is not one.
pub(crate) fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, value) = split_at_byte(line, b':')?;
    if !is_token(name) || !value.iter().all(|&b| is_field_byte(b)) {
        return None;
    }
    Some((name, trim(value)))
}

/// Whether `a` and `b` are the same bytes, ASCII letters compared without case.
///
/// One copy out of line, for every header name and token compared: inlined at each call
/// site (as `eq_ignore_ascii_case` is), its loop cost firmware flash at every one.
#[inline(never)]
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether a comma-separated header value holds `token`, compared without case.
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    position(value, b',', token).is_some()
}

/// The place of `item` (compared without case) among the parts of `list` separated by
/// `sep`, each trimmed. One loop for both token lists in header values and the list of
/// header names the server knows: out of line, it is linked once.
#[inline(never)]
pub(crate) fn position(list: &[u8], sep: u8, item: &[u8]) -> Option<usize> {
    list.split(|&b| b == sep)
        .position(|part| eq_ignore_case(trim(part), item))
}

/// The items of a comma-separated header value, trimmed, empty ones skipped.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// Iterates over the header lines of a complete head (the start line skipped).
pub(crate) fn header_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        // Empty lines before the request line, which the parser ignores, then that line.
        .skip_while(|l| l.is_empty())
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(split_header)
}

/// The header lines of a complete head whose names are UTF-8 (they are tokens, so
/// all are), as `(name, value)`.
pub(crate) fn headers(head: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    header_lines(head).filter_map(|(n, v)| core::str::from_utf8(n).ok().map(|n| (n, v)))
}

/// The value of the first header named `name` (compared without case), if it is UTF-8.
pub(crate) fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    headers(head)
        .find(|(n, _)| eq_ignore_case(n.as_bytes(), name.as_bytes()))
        .and_then(|(_, v)| core::str::from_utf8(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn scanner_finds_lines_byte_by_byte() {
        let text = b"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\nrest";
        let mut whole = LineScanner::new();
        let mut expected = [&b""[..]; 4];
        let mut n = 0;
        while let Some((line, _)) = whole.next_line(text) {
            expected[n] = line;
            n += 1;
        }
        assert_eq!(n, 4);
        assert_eq!(expected, [&b"GET / HTTP/1.1"[..], b"Host: x", b"A: b", b""]);
        assert_eq!(whole.consumed(), text.len() - 4);

        let mut s = LineScanner::new();
        let mut got = 0;
        for end in 0..=text.len() {
            while let Some((line, _)) = s.next_line(&text[..end]) {
                assert_eq!(line, expected[got]);
                got += 1;
            }
        }
        assert_eq!(got, 4);
        assert_eq!(s.pending(), 4);
    }

    #[test]
    fn tchars() {
        // Every byte, against RFC 7230's list.
        for b in 0..=255u8 {
            let listed = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), listed, "{b}");
        }
    }

    #[test]
    fn headers_and_tokens() {
        assert_eq!(
            split_header(b"Connection:  keep-alive, Upgrade \t"),
            Some((&b"Connection"[..], &b"keep-alive, Upgrade"[..]))
        );
        assert_eq!(split_header(b"Bad Name: x"), None);
        assert_eq!(split_header(b": x"), None);
        assert_eq!(split_header(b"no colon"), None);
        assert_eq!(split_header(b"X: a\x00b"), None);
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(has_token(b"UPGRADE", b"upgrade"));
        assert!(!has_token(b"upgrade-insecure", b"upgrade"));
        let mut t = tokens(b" chat , ,superchat");
        assert_eq!(t.next(), Some(&b"chat"[..]));
        assert_eq!(t.next(), Some(&b"superchat"[..]));
        assert_eq!(t.next(), None);
    }
}
