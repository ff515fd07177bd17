//! Tests of `client`.

use super::*;
use std::prelude::rust_2021::*;
use std::string::ToString;

const NONCE: [u8; 16] = *b"the sample nonce";

fn request() -> ([u8; 512], usize, [u8; KEY_LEN]) {
    let mut buf = [0u8; 512];
    let req = ClientRequest::new("server.example.com", "/chat")
        .protocols(&["chat", "superchat"])
        .headers(&[("Origin", "http://example.com")]);
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
    for (bad, why) in [
        ("wss://h/", UrlError::Tls),
        ("WSS://h/", UrlError::Tls),
        ("http://h/", UrlError::Scheme),
        ("h:80", UrlError::Scheme),
        ("ws:///x", UrlError::Host),
        ("ws://u@h/", UrlError::Host),
        ("ws://[::1]x:9001/", UrlError::Host),
        ("ws://[]/", UrlError::Host),
        ("ws://h:99999/", UrlError::Port),
        ("ws://h:x/", UrlError::Port),
        ("ws://h:+80/", UrlError::Port),
        ("ws://h:80:90/", UrlError::Port),
        ("ws://h:/", UrlError::Port),
        ("ws://h/#f", UrlError::Path),
        ("ws://h#f", UrlError::Path),
        ("ws://h/a b", UrlError::Path),
        ("ws://h/caf\u{e9}", UrlError::Path),
        ("ws://h/\x01", UrlError::Path),
    ] {
        assert_eq!(Url::parse(bad), Err(why), "{bad}");
    }
    // The error for wss:// says what to do.
    let tls = UrlError::Tls.to_string();
    assert!(tls.contains("TLS") && tls.contains("transport"), "{tls}");
}

#[test]
fn a_query_without_a_path_asks_for_the_root() {
    // RFC 6455 section 3: the resource name is "/" when the path is empty, then the query.
    let u = Url::parse("ws://h?x=1").unwrap();
    assert_eq!((u.authority, u.path), ("h", "?x=1"));
    let mut buf = [0u8; 256];
    let (n, _) = ClientRequest::for_url(&u).write(&mut buf, NONCE).unwrap();
    assert!(buf[..n].starts_with(b"GET /?x=1 HTTP/1.1\r\nHost: h\r\n"));
    let u = Url::parse("ws://h:8080?x=1").unwrap();
    assert_eq!((u.host, u.port, u.path), ("h", 8080, "?x=1"));
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
    let len = p.parse(&buf[..n]).unwrap().complete().unwrap();
    assert_eq!(p.request(&buf[..len]).check_upgrade(), Ok(()));
}

#[test]
fn invalid_requests() {
    let mut buf = [0u8; 512];
    let bad = [
        ClientRequest::new("h", "no-slash"),
        ClientRequest::new("h\r\nX: y", "/"),
        ClientRequest::new("h", "/a b"),
        ClientRequest::new("h", "/").protocols(&["a b"]),
        ClientRequest::new("h", "/").headers(&[("X", "a\nb")]),
    ];
    for req in bad {
        assert_eq!(req.write(&mut buf, NONCE), Err(WriteError::InvalidHeader));
    }
    assert_eq!(
        ClientRequest::new("h", "/").write(&mut buf[..20], NONCE),
        Err(WriteError::BufferTooSmall)
    );
}

const OK: &str =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

fn parse(resp: &str) -> Result<Status<Accepted>, ClientError> {
    let mut p = ResponseParser::new(b"dGhlIHNhbXBsZSBub25jZQ==");
    p.parse(resp.as_bytes(), &["superchat", "chat"])
}

#[test]
fn accepts_rfc_response_in_any_split() {
    assert_eq!(
        parse(OK),
        Ok(Status::Complete(Accepted {
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
            Status::Complete(a) => a,
            Status::Partial => p.parse(&data, &["chat"]).unwrap().complete().unwrap(),
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
    assert_eq!(parse(&none).unwrap().complete().unwrap().protocol, None);
}
