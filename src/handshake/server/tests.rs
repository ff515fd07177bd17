//! Tests of `server`.

use super::*;
use std::format;
use std::prelude::rust_2021::*;
use std::vec;

const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn parse_whole(req: &[u8]) -> Result<(Request<'_>, usize), RequestError> {
    let mut p = RequestParser::new();
    let n = p.parse(req)?.complete().ok_or(RequestError::Malformed)?;
    Ok((p.request(&req[..n]), n))
}

#[test]
fn rfc_request_parses_and_accepts() {
    let (req, n) = parse_whole(RFC_REQUEST).unwrap();
    assert_eq!(n, RFC_REQUEST.len());
    assert!(req.is_upgrade());
    assert_eq!(req.check_upgrade(), Ok(()));
    assert_eq!(req.method(), "GET");
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.header("HOST"), Some("server.example.com"));
    let mut protos = req.protocols();
    assert_eq!(protos.next(), Some("chat"));
    assert_eq!(protos.next(), Some("superchat"));
    assert_eq!(protos.next(), None);
    let mut buf = [0u8; 256];
    let len = write_accept(&mut buf, &req, Some("chat"), &[]).unwrap();
    assert_eq!(
        &buf[..len],
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
           Sec-WebSocket-Protocol: chat\r\n\r\n"[..]
    );
    // The response needs no buffer larger than itself; one byte less is an error.
    let mut exact = [0u8; 160];
    assert_eq!(
        write_accept(&mut exact[..len], &req, Some("chat"), &[]),
        Ok(len)
    );
    assert_eq!(
        write_accept(&mut exact[..len - 1], &req, Some("chat"), &[]),
        Err(WriteError::BufferTooSmall)
    );
    assert_eq!(
        write_accept(&mut buf, &req, Some("bad\r\nX: y"), &[]),
        Err(WriteError::InvalidHeader)
    );
    // The first error met is the one returned: a buffer that ends with the accept key
    // runs out before a bad subprotocol is looked at (one byte more and it is looked at).
    let key_end = len - "\r\nSec-WebSocket-Protocol: chat\r\n\r\n".len();
    for (end, error) in [
        (key_end, WriteError::BufferTooSmall),
        (key_end + 1, WriteError::BufferTooSmall),
        (key_end + 2, WriteError::InvalidHeader),
    ] {
        assert_eq!(
            write_accept(&mut exact[..end], &req, Some("a b"), &[]),
            Err(error),
            "{end}"
        );
    }
}

#[test]
fn byte_at_a_time_and_trailing_bytes() {
    let mut data = RFC_REQUEST.to_vec();
    data.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    for step in [1, 2, 3, 7, 64] {
        let mut p = RequestParser::new();
        let mut end = 0;
        let head_len = loop {
            end = (end + step).min(data.len());
            if let Status::Complete(n) = p.parse(&data[..end]).unwrap() {
                break n;
            }
            assert!(end < data.len());
        };
        assert_eq!(head_len, RFC_REQUEST.len(), "step {step}");
        assert_eq!(p.request(&data[..head_len]).check_upgrade(), Ok(()));
    }
}

fn check(req: &str) -> Result<(), RequestError> {
    let (r, _) = parse_whole(req.as_bytes())?;
    r.check_upgrade()
}

const GOOD: &str = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn each_refusal() {
    assert_eq!(check(GOOD), Ok(()));
    let cases: &[(&str, &str, RequestError)] = &[
        ("GET / ", "POST / ", RequestError::MethodNotAllowed),
        (
            "HTTP/1.1\r\nHost",
            "HTTP/1.0\r\nHost",
            RequestError::NotHttp11,
        ),
        ("Host: h\r\n", "", RequestError::MissingHost),
        (
            "Connection: upgrade",
            "Connection: keep-alive",
            RequestError::MissingConnectionUpgrade,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ",
            RequestError::BadKey,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ=*",
            RequestError::BadKey,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            RequestError::BadKey,
        ),
        (
            "Version: 13",
            "Version: 8",
            RequestError::UnsupportedVersion,
        ),
        (
            "Sec-WebSocket-Version: 13\r\n",
            "",
            RequestError::UnsupportedVersion,
        ),
        ("GET / HTTP/1.1", "GET  / HTTP/1.1", RequestError::Malformed),
        ("GET / HTTP/1.1", "GET / HTTP/2", RequestError::Malformed),
        ("Host: h", "Host h", RequestError::Malformed),
        ("Host: h", "Host: h\r\n folded", RequestError::Malformed),
    ];
    for (from, to, err) in cases {
        let req = GOOD.replacen(from, to, 1);
        assert_ne!(req, GOOD, "{from} not in request");
        assert_eq!(check(&req), Err(*err), "{req}");
    }
    // A second key header, even a valid one, is refused.
    let twice = GOOD.replacen(
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version",
        1,
    );
    assert_eq!(check(&twice), Err(RequestError::BadKey));
    // Case-insensitive names and tokens, comma lists.
    let loose =
        "GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
        sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
    assert_eq!(check(loose), Ok(()));
}

#[test]
fn first_rule_broken_refuses() {
    // One change breaking each rule, in the order check_upgrade checks them: when two
    // are broken, the earlier one is the refusal.
    let rules: &[(&str, &str, RequestError)] = &[
        ("GET / ", "POST / ", RequestError::MethodNotAllowed),
        (
            "HTTP/1.1\r\nHost",
            "HTTP/1.0\r\nHost",
            RequestError::NotHttp11,
        ),
        ("Host: h\r\n", "", RequestError::MissingHost),
        (
            "Upgrade: websocket\r\n",
            "Upgrade: websocket\r\nContent-Length: 2\r\n",
            RequestError::UnexpectedBody,
        ),
        (
            "Connection: upgrade",
            "Connection: close",
            RequestError::MissingConnectionUpgrade,
        ),
        (
            "Upgrade: websocket",
            "Upgrade: h2c",
            RequestError::MissingConnectionUpgrade,
        ),
        ("jZQ==", "jZQ", RequestError::BadKey),
        (
            "Version: 13\r\n",
            "Version: 13\r\nSec-WebSocket-Version: 8\r\n",
            RequestError::UnsupportedVersion,
        ),
        (
            "Version: 13",
            "Version: 12",
            RequestError::UnsupportedVersion,
        ),
    ];
    let order = |e: RequestError| {
        [
            RequestError::MethodNotAllowed,
            RequestError::NotHttp11,
            RequestError::MissingHost,
            RequestError::MissingConnectionUpgrade,
            RequestError::UnexpectedBody,
            RequestError::BadKey,
            RequestError::UnsupportedVersion,
        ]
        .iter()
        .position(|&r| r == e)
        .unwrap()
    };
    for (i, &(from_a, to_a, a)) in rules.iter().enumerate() {
        for &(from_b, to_b, b) in &rules[i + 1..] {
            let one = GOOD.replacen(from_a, to_a, 1);
            let req = one.replacen(from_b, to_b, 1);
            assert!(
                one != GOOD && req != one,
                "{from_a} or {from_b} not in request"
            );
            let first = if order(a) <= order(b) { a } else { b };
            assert_eq!(check(&req), Err(first), "{req}");
        }
    }
}

#[test]
fn statuses() {
    assert_eq!(RequestError::Malformed.status(), 400);
    assert_eq!(RequestError::TooLarge.status(), 431);
    assert_eq!(RequestError::TooManyHeaders.status(), 431);
    assert_eq!(RequestError::MethodNotAllowed.status(), 405);
    assert_eq!(RequestError::UnsupportedVersion.status(), 426);
    assert_eq!(RequestError::BadKey.status(), 400);
    let mut buf = [0u8; 256];
    let n = write_refusal(&mut buf, RequestError::UnsupportedVersion).unwrap();
    let text = core::str::from_utf8(&buf[..n]).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    let n = write_refusal(&mut buf, RequestError::MethodNotAllowed).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"));
    assert_eq!(
        write_refusal(&mut buf[..10], RequestError::Malformed),
        Err(WriteError::BufferTooSmall)
    );
    // Every refusal's status line carries `reason_phrase`'s phrase for its status.
    for error in [
        RequestError::Malformed,
        RequestError::TooLarge,
        RequestError::TooManyHeaders,
        RequestError::MethodNotAllowed,
        RequestError::NotHttp11,
        RequestError::MissingHost,
        RequestError::InvalidHost,
        RequestError::UnexpectedBody,
        RequestError::MissingConnectionUpgrade,
        RequestError::BadKey,
        RequestError::UnsupportedVersion,
    ] {
        let n = write_refusal(&mut buf, error).unwrap();
        let status = error.status();
        let line = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        assert!(buf[..n].starts_with(line.as_bytes()), "{error:?}");
        assert!(buf[..n].ends_with(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    }
}

#[test]
fn plain_http_request() {
    let req = b"GET /index.html?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
    let (r, _) = parse_whole(req).unwrap();
    assert!(!r.is_upgrade());
    assert_eq!(r.path(), "/index.html");
    assert_eq!(r.target(), "/index.html?x=1");
    assert_eq!(r.header("accept"), Some("*/*"));
    let mut buf = [0u8; 128];
    let n = write_response_head(&mut buf, 200, &[("Content-Type", "text/html")], 12).unwrap();
    assert_eq!(
        &buf[..n],
        &b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"[..]
    );
    assert_eq!(
        write_response_head(&mut buf, 200, &[("X", "a\r\nb")], 0),
        Err(WriteError::InvalidHeader)
    );
}

#[test]
fn header_count_limit() {
    let mut p = RequestParser::with_max_headers(2);
    assert_eq!(
        p.parse(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        Err(RequestError::TooManyHeaders)
    );
}

/// Reads `request` through a `buf_len`-byte buffer with `parser`, as a driver would, and
/// returns the `Cookie` header the application then sees.
fn cookie_through(request: &[u8], buf_len: usize, parser: RequestParser) -> Option<String> {
    let mut buf = vec![0u8; buf_len];
    let mut hs = Handshake::new(parser);
    let mut fed = 0;
    loop {
        match hs.poll(&mut buf) {
            Step::Request => return hs.request(&buf).header("cookie").map(String::from),
            Step::Read => {
                let room = hs.read_buffer(&mut buf);
                let n = room.len().min(request.len() - fed).min(7);
                room[..n].copy_from_slice(&request[fed..fed + n]);
                hs.received(n);
                fed += n;
            }
            other => std::panic!("{other:?}"),
        }
    }
}

#[test]
fn a_compacted_request_keeps_the_headers_asked_for() {
    let mut request = String::from("GET /chat HTTP/1.1\r\nHost: h\r\nCookie: session=42\r\n");
    for i in 0..10 {
        request.push_str(&format!("X-Filler-{i}: {}\r\n", "y".repeat(60)));
    }
    request.push_str(
        "Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(request.len() > 700);
    // Whole, the cookie is there; through 256 bytes, only if asked for.
    assert_eq!(
        cookie_through(request.as_bytes(), 2048, RequestParser::new()).as_deref(),
        Some("session=42")
    );
    assert_eq!(
        cookie_through(request.as_bytes(), 256, RequestParser::new()),
        None
    );
    let keeping = RequestParser::new().keep_headers(&["Cookie"]);
    assert_eq!(
        cookie_through(request.as_bytes(), 256, keeping).as_deref(),
        Some("session=42")
    );
}

#[test]
fn key_shape() {
    let good = *b"dGhlIHNhbXBsZSBub25jZQ==";
    assert!(is_key(&good));
    // The last character before the padding: one whose four low bits are zero.
    for b in 0..=255u8 {
        let mut key = good;
        key[21] = b;
        assert_eq!(is_key(&key), b"AQgw".contains(&b), "{b:#x}");
    }
    // Every other character: the base64 alphabet.
    for b in 0..=255u8 {
        let mut key = good;
        key[5] = b;
        let alphabet = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        assert_eq!(is_key(&key), alphabet, "{b:#x}");
    }
    assert!(!is_key(&good[..23]));
    assert!(!is_key(
        b"dGhlIHNhbXBsZSBub25jZQ=="[..].repeat(2).as_slice()
    ));
    assert!(!is_key(b"dGhlIHNhbXBsZSBub25jZQ=A"));
    assert!(!is_key(b"dGhlIHNhbXBsZSBub25jZ==="));
    assert!(!is_key(b""));
}

#[test]
fn reason_phrases() {
    // The phrase is the status line's end without its space, computed at compile time
    // as well as at run time.
    const OK: &str = reason_phrase(200);
    assert_eq!(OK, "OK");
    for status in [101, 400, 404, 426, 431, 500, 599, 0] {
        let end = status_line_end(status);
        assert_eq!(end, format!(" {}", reason_phrase(status)));
        assert!(!reason_phrase(status).starts_with(' '));
    }
    assert_eq!(reason_phrase(999), "Status");
    let mut buf = [0u8; 128];
    let n = write_response_head(&mut buf, 404, &[], 3).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n"));
}

#[test]
fn host_values() {
    for good in [
        &b"example.com"[..],
        b"example.com:8080",
        b"example.com:",
        b"10.0.0.1",
        b"10.0.0.1:80",
        b"[::1]",
        b"[::1]:443",
        b"[FE80::a.b]",
        b"a-b_c~d%20!$&'()*+,;=",
    ] {
        assert!(is_host(good), "{:?}", core::str::from_utf8(good));
    }
    for bad in [
        &b""[..],
        b":",
        b":80",
        b"a:b",
        b"a:1:2",
        b"::",
        b"[]",
        b"[]:80",
        b"[::1]80",
        b"[::1]:x",
        b"[g]",
        b"a b",
        b"a/b",
        b"[::1",
        b"::1]",
    ] {
        assert!(!is_host(bad), "{:?}", core::str::from_utf8(bad));
    }
}

/// `is_host` as it was written before it passed over the port from the end: the last
/// colon found first, then the digits after it checked.
fn is_host_by_search(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(i) if value.last() != Some(&b']') => value.split_at(i),
        _ => (value, &[][..]),
    };
    if !port.iter().skip(1).all(u8::is_ascii_digit) {
        return false;
    }
    match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b".:".contains(&b))
        }
        _ => {
            !host.is_empty()
                && host
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
        }
    }
}

/// Calls `check` with every sequence of up to `max_len` of `pieces` (each piece any number
/// of times, the empty sequence too), joined; returns how many there were.
fn each_sequence(pieces: &[&[u8]], max_len: u32, mut check: impl FnMut(&[u8])) -> usize {
    let mut joined = vec![];
    let mut count = 0;
    for len in 0..=max_len {
        for mut n in 0..pieces.len().pow(len) {
            joined.clear();
            for _ in 0..len {
                joined.extend_from_slice(pieces[n % pieces.len()]);
                n /= pieces.len();
            }
            check(&joined);
            count += 1;
        }
    }
    count
}

#[test]
fn host_values_as_by_search() {
    // Every value of up to six characters from an alphabet with each class of byte the
    // check tells apart.
    const ALPHABET: [&[u8]; 7] = [b"a", b"1", b":", b"[", b"]", b"g", b"/"];
    let count = each_sequence(&ALPHABET, 6, |value| {
        assert_eq!(
            is_host(value),
            is_host_by_search(value),
            "{:?}",
            core::str::from_utf8(value)
        );
    });
    assert!(count > 100_000);
    // Every byte, as a host name, inside brackets, and as a port.
    for b in 0..=255u8 {
        for value in [
            &[b][..],
            &[b'x', b, b'x'],
            &[b'[', b, b']'],
            &[b'x', b':', b],
        ] {
            assert_eq!(is_host(value), is_host_by_search(value), "{value:?}");
        }
    }
}

/// The request line's checks as they were written before the version was taken from the
/// line's end: one split into three parts at spaces. The flags it sets, or its error.
fn request_line_by_split(line: &[u8]) -> Result<u16, RequestError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed);
    };
    if !is_method_and_target(method, target) {
        return Err(RequestError::Malformed);
    }
    let mut seen = REQUEST_LINE;
    match version.strip_prefix(b"HTTP/1.") {
        Some(b"1") => seen |= HTTP_11,
        Some(b"0") => {}
        _ => return Err(RequestError::Malformed),
    }
    if method == b"GET" {
        seen |= METHOD_GET;
    }
    Ok(seen)
}

#[test]
fn request_lines_as_by_split() {
    // Every line of up to five pieces, each piece one that the checks tell apart.
    const PIECES: [&[u8]; 12] = [
        b"GET",
        b"",
        b" ",
        b"/",
        b"/a b",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/1.2",
        b"HTTP/1.",
        b"\x7f",
        b"\t",
        b" HTTP/1.1",
    ];
    let count = each_sequence(&PIECES, 5, |line| {
        // After two empty lines, so that an empty one is not skipped.
        let mut parser = RequestParser::new();
        parser.lines.next_line(b"\r\n\r\n");
        parser.lines.next_line(b"\r\n\r\n");
        let got = parser.request_line(line).map(|()| parser.flags);
        assert_eq!(
            got,
            request_line_by_split(line),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    });
    assert!(count > 200_000);
}
