//! The crate's parts, one at a time: the handshakes of both roles (RFC 6455's samples,
//! fed whole and a byte at a time, refusals), frame headers at every length boundary,
//! masking at every offset and alignment, UTF-8 that fails fast and splits anywhere, and
//! every close code, on the wire and through a connection. [`PARTS`] lists them.

use ws13::blocking::Incoming;
use ws13::frame::{apply_mask, FrameHeader, HeaderError, OpCode};
use ws13::handshake::client::{Accepted, ClientError, ClientRequest, ResponseParser};
use ws13::handshake::server::{write_accept, RequestError, RequestParser};
use ws13::handshake::{accept_key, WriteError};
use ws13::proto::{parse_close, Connection, NoMask};
use ws13::utf8::Utf8Validator;
use ws13::{CloseCode, CloseFrame, Error, Event, Message, ProtocolError, SendError, Status};

use super::{Buffers, Config, Outcome};
use crate::consts::{RFC_ACCEPT, RFC_KEY, RFC_MASKED_HELLO, RFC_NONCE, RFC_REQUEST, RFC_RESPONSE};
use crate::rng::TestMask;
use crate::script::{Faults, Script};
use crate::storage::{Fixed, Storage};
use crate::{ensure, retry};

/// A check of one part.
pub type Part = fn(&mut Buffers) -> Outcome;

/// Every check of this module, with its name.
pub const PARTS: [(&str, Part); 15] = [
    ("accept key (RFC 6455 1.3)", accept_key_sample),
    ("server handshake: RFC request -> 101", server_handshake_rfc),
    (
        "server handshake: a byte at a time",
        server_handshake_bytewise,
    ),
    (
        "server handshake: Incoming, segments and faults",
        server_handshake_incoming,
    ),
    ("server handshake: refusals", server_refusals),
    ("client handshake: the request", client_request_rfc),
    ("client handshake: the response", client_response_rfc),
    ("client handshake: bad responses", client_bad_responses),
    ("frame headers at lengths 0..2^63-1", frame_lengths),
    ("frame header errors", frame_header_errors),
    ("masking at every offset and alignment", masking),
    ("UTF-8 fails fast", utf8_fail_fast),
    ("UTF-8 split at every byte", utf8_split),
    ("close codes: every u16 on the wire", close_codes_on_wire),
    (
        "close codes: every u16 sent and received",
        close_codes_connection,
    ),
];

/// `Sec-WebSocket-Accept` of RFC 6455's sample key.
pub fn accept_key_sample(_: &mut Buffers) -> Outcome {
    ensure!(
        &accept_key(RFC_KEY) == RFC_ACCEPT,
        "not the RFC's accept key"
    );
    Ok(())
}

/// RFC 6455's sample request parses, and the 101 written for it is the RFC's sample
/// response; a buffer one byte short is refused, not overrun.
pub fn server_handshake_rfc(b: &mut Buffers) -> Outcome {
    let mut parser = RequestParser::new();
    ensure!(
        parser.parse(RFC_REQUEST) == Ok(Status::Complete(RFC_REQUEST.len())),
        "the RFC request does not parse to its end"
    );
    let request = parser.request(RFC_REQUEST);
    ensure!(request.method() == "GET", "method");
    ensure!(request.path() == "/chat", "path");
    ensure!(request.header("host") == Some("server.example.com"), "Host");
    ensure!(request.origin() == Some("http://example.com"), "Origin");
    ensure!(request.is_upgrade(), "not an upgrade");
    ensure!(request.check_upgrade() == Ok(()), "refused");
    ensure!(request.key() == RFC_KEY, "key");
    let mut protocols = request.protocols();
    ensure!(protocols.next() == Some("chat"), "first subprotocol");
    ensure!(protocols.next() == Some("superchat"), "second subprotocol");
    ensure!(protocols.next().is_none(), "a third subprotocol");
    ensure!(
        request.offers_protocol("superchat"),
        "superchat not offered"
    );
    ensure!(!request.offers_protocol("other"), "other offered");
    let out = &mut b.out;
    let len = write_accept(out, &request, Some("chat"), &[]).map_err(|_| "write_accept")?;
    ensure!(&out[..len] == RFC_RESPONSE, "not the RFC's response");
    ensure!(
        write_accept(&mut out[..len - 1], &request, Some("chat"), &[])
            == Err(WriteError::BufferTooSmall),
        "a response one byte too large was written"
    );
    ensure!(
        write_accept(out, &request, Some("two words"), &[]) == Err(WriteError::InvalidHeader),
        "a subprotocol that is not a token was written"
    );
    Ok(())
}

/// The request fed one more byte at a time completes exactly at its last byte.
pub fn server_handshake_bytewise(_: &mut Buffers) -> Outcome {
    let mut parser = RequestParser::new();
    for end in 0..RFC_REQUEST.len() {
        ensure!(
            parser.parse(&RFC_REQUEST[..end]) == Ok(Status::Partial),
            "complete before its blank line"
        );
    }
    ensure!(
        parser.parse(RFC_REQUEST) == Ok(Status::Complete(RFC_REQUEST.len())),
        "not complete at its blank line"
    );
    Ok(())
}

/// The RFC's request through `blocking::Incoming`, with RFC 6455 5.7's masked "Hello"
/// right behind it, in segments of 1, 5, 64 and 1000 bytes, with and without injected
/// faults (each interrupted call made again): the request reads whole, "Hello" arrives,
/// and exactly the RFC's response goes out.
pub fn server_handshake_incoming(b: &mut Buffers) -> Outcome {
    let mut input = Fixed::new(&mut b.script);
    input.push(RFC_REQUEST);
    input.push(&RFC_MASKED_HELLO);
    let input = input.into_bytes();
    for (i, segment) in [1, 5, 64, 1000].into_iter().enumerate() {
        for faults in [false, true] {
            let mut cfg = Config::new(segment);
            if faults {
                cfg = cfg.with_faults(i as u64 + 1);
            }
            let mut io = cfg.script(input, &mut b.out);
            let mut incoming = Incoming::new(&mut io, &mut b.rx[..512]);
            let request = retry!(incoming.read()).map_err(|_| "the request was not read")?;
            ensure!(request.is_upgrade(), "not an upgrade");
            ensure!(request.path() == "/chat", "path");
            let mut ws = incoming
                .accept(&mut b.tx[..256], Some("chat"))
                .map_err(|_| "not accepted")?;
            let mut hello = Fixed::new(&mut b.msg);
            while hello.bytes().len() < 5 {
                match retry!(ws.read()).map_err(|_| "no Hello")? {
                    Event::Data(piece) => {
                        hello.push(piece.payload);
                        ensure!(
                            piece.last == (hello.bytes().len() == 5),
                            "`last` not on Hello's last piece"
                        );
                    }
                    _ => return Err("an event other than Hello"),
                }
            }
            ensure!(hello.bytes() == b"Hello", "not Hello");
            retry!(ws.flush()).map_err(|_| "the 101 did not go out")?;
            ensure!(io.written() == RFC_RESPONSE, "not the RFC's response");
        }
    }
    Ok(())
}

/// Requests refused with their HTTP status before the application sees them (426 with
/// the version, 405 with `Allow`, 400 for a bad key, a missing `Host` and a body, 431 for
/// a line longer than the buffer), and a request larger than the buffer that still
/// reads, its lines streaming through.
pub fn server_refusals(b: &mut Buffers) -> Outcome {
    const LONG: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: \
        Mozilla/5.0 (an agent string longer than the receive buffer, which no compaction can \
        make room for: a header line must fit the buffer whole)\r\n\r\n";
    let cases: [(&[u8], RequestError, &[u8]); 6] = [
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            RequestError::UnsupportedVersion,
            b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            RequestError::MethodNotAllowed,
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
            RequestError::BadKey,
            b"HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            RequestError::MissingHost,
            b"HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Content-Length: 5\r\n\r\n",
            RequestError::UnexpectedBody,
            b"HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            LONG,
            RequestError::TooLarge,
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ),
    ];
    for (request, error, response_start) in cases {
        let mut io = Script::new(request, Fixed::new(&mut b.out)).reads(Faults::NONE.max_chunk(7));
        // The smallest receive buffer a server may have.
        let mut incoming = Incoming::new(&mut io, &mut b.rx[..ws13::proto::MIN_BUFFER]);
        match incoming.read() {
            Err(Error::Request(e)) => ensure!(e == error, "refused for another reason"),
            Err(_) => return Err("an error other than a refusal"),
            Ok(_) => return Err("a bad request was handed out"),
        }
        let out = io.written();
        ensure!(out.starts_with(response_start), "not the refusal's head");
        ensure!(
            out.ends_with(b"Content-Length: 0\r\nConnection: close\r\n\r\n"),
            "the refusal does not end the connection"
        );
    }
    // Larger than the buffer, but no line is: the lines ws13 is done with make room.
    let mut io = Script::new(RFC_REQUEST, Fixed::new(&mut b.out)).reads(Faults::NONE.max_chunk(7));
    let mut incoming = Incoming::new(&mut io, &mut b.rx[..180]);
    let request = incoming
        .read()
        .map_err(|_| "a request larger than the buffer was refused")?;
    ensure!(request.path() == "/chat", "path");
    ensure!(
        request.origin() == Some("http://example.com"),
        "Origin lost"
    );
    ensure!(request.offers_protocol("chat"), "subprotocols lost");
    let mut ws = incoming
        .accept(&mut b.tx[..256], Some("chat"))
        .map_err(|_| "not accepted")?;
    ws.flush().map_err(|_| "flush")?;
    ensure!(io.written() == RFC_RESPONSE, "not the RFC's response");
    Ok(())
}

/// `ClientRequest::write` with RFC 6455's nonce writes the sample's key and a request
/// the server's parser accepts; too small a buffer, a header that would split the
/// request, a subprotocol that is not a token and a path without `/` are refused.
pub fn client_request_rfc(b: &mut Buffers) -> Outcome {
    let request = ClientRequest::new("server.example.com", "/chat")
        .protocols(&["chat", "superchat"])
        .headers(&[("Origin", "http://example.com")]);
    let buf = &mut b.scratch;
    let (len, key) = request
        .write(buf, RFC_NONCE)
        .map_err(|_| "the request was not written")?;
    ensure!(&key == RFC_KEY, "not the RFC's key");
    let expected: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Origin: http://example.com\r\n\
\r\n";
    ensure!(&buf[..len] == expected, "not the request expected");
    let mut parser = RequestParser::new();
    ensure!(
        parser.parse(&buf[..len]) == Ok(Status::Complete(len)),
        "the server does not parse it"
    );
    let parsed = parser.request(&buf[..len]);
    ensure!(parsed.check_upgrade() == Ok(()), "the server refuses it");
    ensure!(parsed.key() == &key, "the server reads another key");
    ensure!(
        request.write(&mut buf[..len - 1], RFC_NONCE) == Err(WriteError::BufferTooSmall),
        "written into a buffer too small"
    );
    let bad = [
        request.headers(&[("X", "a\r\nInjected: 1")]),
        request.protocols(&["two words"]),
        ClientRequest::new("server.example.com", "chat"),
        ClientRequest::new("server example", "/chat"),
    ];
    for bad in bad {
        ensure!(
            bad.write(buf, RFC_NONCE) == Err(WriteError::InvalidHeader),
            "an invalid request was written"
        );
    }
    Ok(())
}

/// RFC 6455's sample response, with a frame right behind it, whole and a byte at a time:
/// accepted at its blank line, choosing the offered subprotocol it names.
pub fn client_response_rfc(b: &mut Buffers) -> Outcome {
    let offered = ["superchat", "chat"];
    let mut stream = Fixed::new(&mut b.script);
    stream.push(RFC_RESPONSE);
    stream.push(&[0x81, 0x00]);
    let stream = stream.into_bytes();
    let accepted = |r: Result<Status<Accepted>, ClientError>| {
        matches!(r, Ok(Status::Complete(a))
            if a.head_len == RFC_RESPONSE.len() && a.protocol == Some(1))
    };
    ensure!(
        accepted(ResponseParser::new(RFC_KEY).parse(stream, &offered)),
        "the RFC response, whole"
    );
    let mut parser = ResponseParser::new(RFC_KEY);
    for end in 0..RFC_RESPONSE.len() {
        ensure!(
            parser.parse(&stream[..end], &offered) == Ok(Status::Partial),
            "complete before its blank line"
        );
    }
    ensure!(
        accepted(parser.parse(stream, &offered)),
        "the RFC response, a byte at a time"
    );
    Ok(())
}

/// Responses a client must refuse, each for its own reason.
pub fn client_bad_responses(_: &mut Buffers) -> Outcome {
    let cases: [(&[u8], ClientError); 7] = [
        (b"HTTP/1.1 200 OK\r\n\r\n", ClientError::Status(200)),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            ClientError::BadAccept,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            ClientError::MissingAccept,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            ClientError::MissingUpgrade,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            ClientError::MissingConnection,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: other\r\n\r\n",
            ClientError::UnexpectedProtocol,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            ClientError::UnexpectedExtension,
        ),
    ];
    for (response, error) in cases {
        ensure!(
            ResponseParser::new(RFC_KEY).parse(response, &["chat"]) == Err(error),
            "a bad response not refused for its reason"
        );
    }
    Ok(())
}

/// Every opcode, FIN, masking and length at each encoding's boundaries up to 2^63 - 1:
/// the shortest encoding, which parses back to the same header and is partial when cut
/// anywhere; the exact bytes at the boundaries (RFC 6455 5.2).
pub fn frame_lengths(_: &mut Buffers) -> Outcome {
    let lengths = [
        0u64,
        1,
        125,
        126,
        127,
        65535,
        65536,
        u32::MAX as u64 + 1,
        (1 << 63) - 1,
    ];
    let opcodes = [
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ];
    for len in lengths {
        for opcode in opcodes {
            for fin in [true, false] {
                if opcode.is_control() && (len > 125 || !fin) {
                    continue;
                }
                for mask in [None, Some([0x37, 0xfa, 0x21, 0x3d])] {
                    let h = FrameHeader {
                        fin,
                        opcode,
                        mask,
                        len,
                    };
                    let enc = h.emit();
                    let bytes = enc.as_bytes();
                    let want = match len {
                        0..=125 => 2,
                        126..=65535 => 4,
                        _ => 10,
                    } + if mask.is_some() { 4 } else { 0 };
                    ensure!(bytes.len() == want, "not the shortest encoding");
                    ensure!(h.encoded_len() == want, "encoded_len differs");
                    ensure!(
                        bytes[0] == (if fin { 0x80 } else { 0 } | opcode.bits()),
                        "first byte"
                    );
                    ensure!((bytes[1] & 0x80 != 0) == mask.is_some(), "mask bit");
                    ensure!(
                        FrameHeader::parse(bytes) == Ok(Status::Complete((h, want))),
                        "does not parse back"
                    );
                    for cut in 0..want {
                        ensure!(
                            FrameHeader::parse(&bytes[..cut]) == Ok(Status::Partial),
                            "a cut header is not partial"
                        );
                    }
                }
            }
        }
    }
    let exact: [(u64, &[u8]); 6] = [
        (0, &[0x82, 0x00]),
        (125, &[0x82, 0x7D]),
        (126, &[0x82, 0x7E, 0x00, 0x7E]),
        (127, &[0x82, 0x7E, 0x00, 0x7F]),
        (65535, &[0x82, 0x7E, 0xFF, 0xFF]),
        (65536, &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
    ];
    for (len, bytes) in exact {
        let h = FrameHeader {
            fin: true,
            opcode: OpCode::Binary,
            mask: None,
            len,
        };
        ensure!(h.emit().as_bytes() == bytes, "not the exact encoding");
        ensure!(
            FrameHeader::parse(bytes) == Ok(Status::Complete((h, bytes.len()))),
            "the exact encoding does not parse"
        );
    }
    Ok(())
}

/// Headers that break a wire rule: reserved bits, reserved opcodes, a length with its
/// top bit set, long or fragmented control frames. Non-minimal lengths are accepted.
pub fn frame_header_errors(_: &mut Buffers) -> Outcome {
    for rsv in [0x40u8, 0x20, 0x10] {
        ensure!(
            FrameHeader::parse(&[0x81 | rsv, 0]) == Err(HeaderError::ReservedBits),
            "a reserved bit"
        );
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        ensure!(
            FrameHeader::parse(&[0x80 | op, 0]) == Err(HeaderError::ReservedOpcode),
            "a reserved opcode"
        );
    }
    ensure!(
        FrameHeader::parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0])
            == Err(HeaderError::LengthOverflow),
        "a length of 2^63"
    );
    ensure!(
        FrameHeader::parse(&[0x89, 126]) == Err(HeaderError::ControlTooLong),
        "a long ping"
    );
    ensure!(
        FrameHeader::parse(&[0x09, 0]) == Err(HeaderError::ControlFragmented),
        "a fragmented ping"
    );
    ensure!(
        matches!(
            FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x05]),
            Ok(Status::Complete((h, 4))) if h.len == 5
        ),
        "a non-minimal length refused"
    );
    Ok(())
}

/// Masking at every start alignment (Cortex-M0 has no unaligned access; M3 and M4 fault
/// on unaligned multi-word loads), length 0 to 80 and key offset 0 to 7; masking in two
/// pieces split anywhere equals masking whole; RFC 6455 5.7's sample.
pub fn masking(b: &mut Buffers) -> Outcome {
    let key = [0xA1, 0xB2, 0xC3, 0xD4];
    let original: [u8; 80] = core::array::from_fn(|i| (i * 7 + 3) as u8);
    let buf = &mut b.scratch[..96];
    for align in 0..8 {
        for len in 0..=original.len() {
            for offset in 0..8 {
                let data = &mut buf[align..align + len];
                data.copy_from_slice(&original[..len]);
                apply_mask(data, key, offset);
                for (i, b) in data.iter().enumerate() {
                    ensure!(
                        *b == original[i] ^ key[(offset + i) % 4],
                        "a byte masked wrong"
                    );
                }
            }
        }
    }
    for split in 0..=original.len() {
        let mut data = original;
        let (a, rest) = data.split_at_mut(split);
        apply_mask(a, key, 0);
        apply_mask(rest, key, split);
        for (i, b) in data.iter().enumerate() {
            ensure!(*b == original[i] ^ key[i % 4], "masked in two pieces wrong");
        }
    }
    let mut hello = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    apply_mask(&mut hello, [0x37, 0xfa, 0x21, 0x3d], 0);
    ensure!(&hello == b"Hello", "the RFC's sample");
    Ok(())
}

/// Invalid UTF-8 fed a byte at a time fails exactly at the first byte no continuation
/// can make valid; fed whole, it fails too; a valid prefix fails only at the end.
pub fn utf8_fail_fast(_: &mut Buffers) -> Outcome {
    // (input, the byte it must fail at; past the end: only `finish` fails)
    let cases: [(&[u8], usize); 10] = [
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            12,
        ), // a surrogate
        (b"\xf4\x90\x80\x80", 1), // above U+10FFFF
        (b"ab\xc0\xaf", 2),       // an overlong lead byte
        (b"\xe0\x80\xaf", 1),     // an overlong 3-byte form
        (b"\xf0\x80\x80\xaf", 1), // an overlong 4-byte form
        (b"hello\xff", 5),        // never valid
        (b"\x80", 0),             // a lone continuation byte
        (b"\xe2\x82", 2),         // a valid prefix
        (b"\xe2\x82\x41", 2),     // a continuation byte was expected
        (b"\xf5\x80", 0),         // a lead byte never valid
    ];
    for (input, at) in cases {
        let mut v = Utf8Validator::new();
        for (i, b) in input.iter().enumerate() {
            let r = v.feed(core::slice::from_ref(b));
            if i < at {
                ensure!(r.is_ok(), "failed before the first invalid byte");
            } else {
                ensure!(r.is_err(), "did not fail at the first invalid byte");
                break;
            }
        }
        let mut whole = Utf8Validator::new();
        if at >= input.len() {
            ensure!(whole.feed(input).is_ok(), "a valid prefix refused");
            ensure!(!whole.is_complete(), "a valid prefix taken as complete");
            ensure!(whole.finish().is_err(), "text ending inside a character");
        } else {
            ensure!(whole.feed(input).is_err(), "invalid text fed whole");
        }
    }
    Ok(())
}

/// Valid text split in two at every byte, and fed a byte at a time.
pub fn utf8_split(_: &mut Buffers) -> Outcome {
    let text = "κόσμε: héllo wörld €100 𝄞 ✓".as_bytes();
    for split in 0..=text.len() {
        let mut v = Utf8Validator::new();
        ensure!(v.feed(&text[..split]).is_ok(), "the first piece");
        ensure!(v.feed(&text[split..]).is_ok(), "the second piece");
        ensure!(v.is_complete(), "not complete");
        ensure!(v.finish().is_ok(), "finish");
    }
    let mut v = Utf8Validator::new();
    for b in text {
        ensure!(v.feed(core::slice::from_ref(b)).is_ok(), "a byte at a time");
    }
    ensure!(v.finish().is_ok(), "finish");
    Ok(())
}

/// Every `u16`: valid on the wire exactly for 1000-1003, 1007-1014 and 3000-4999, and
/// `parse_close` agrees, with and without a reason; short and invalid payloads.
pub fn close_codes_on_wire(_: &mut Buffers) -> Outcome {
    let mut valid = 0u32;
    for code in 0..=u16::MAX {
        let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        ensure!(
            CloseCode(code).is_valid_on_wire() == expected,
            "is_valid_on_wire"
        );
        let [hi, lo] = code.to_be_bytes();
        for payload in [&[hi, lo][..], &[hi, lo, b'o', b'k'][..]] {
            match parse_close(payload) {
                Ok(Some(frame)) => {
                    ensure!(expected, "an invalid code parsed");
                    ensure!(frame.code == CloseCode(code), "another code parsed");
                }
                Err(ProtocolError::InvalidCloseCode(c)) => {
                    ensure!(!expected && c == code, "a valid code refused");
                }
                _ => return Err("parse_close"),
            }
        }
        valid += u32::from(expected);
    }
    ensure!(valid == 4 + 8 + 2000, "the count of valid codes");
    ensure!(parse_close(&[]) == Ok(None), "an empty close");
    ensure!(
        parse_close(&[0x03]) == Err(ProtocolError::InvalidClosePayload),
        "a one-byte close"
    );
    ensure!(
        parse_close(&[0x03, 0xE8, 0xFF]) == Err(ProtocolError::InvalidUtf8),
        "a reason that is not UTF-8"
    );
    Ok(())
}

/// Every `u16` through a connection: a client refuses to send an invalid code (and sends
/// a valid one, masked, as the code alone); a client receiving a server's close with an
/// invalid code fails the connection with 1002, and with a valid one reports it.
pub fn close_codes_connection(b: &mut Buffers) -> Outcome {
    let (rx, tx) = (&mut b.rx[..256], &mut b.tx[..256]);
    for code in 0..=u16::MAX {
        let valid = CloseCode(code).is_valid_on_wire();
        let mut conn = Connection::new(TestMask(u32::from(code)));
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode(code),
            reason: "",
        }));
        match conn.write_message(tx, close) {
            Ok(_) => {
                ensure!(valid, "an invalid code sent");
                let out = conn.poll_transmit(tx);
                let Ok(Status::Complete((h, n))) = FrameHeader::parse(out) else {
                    return Err("no close frame");
                };
                ensure!(
                    h.opcode == OpCode::Close && h.mask.is_some() && h.len == 2,
                    "not a masked close of two bytes"
                );
                let mut payload = [out[n], out[n + 1]];
                apply_mask(&mut payload, h.mask.unwrap_or_default(), 0);
                ensure!(payload == code.to_be_bytes(), "another code sent");
            }
            Err(Error::Send(SendError::InvalidCloseCode)) => {
                ensure!(!valid, "a valid code refused");
            }
            Err(_) => return Err("an error other than InvalidCloseCode"),
        }
        let mut conn = Connection::new(TestMask(1));
        let [hi, lo] = code.to_be_bytes();
        conn.read_buffer(rx)[..4].copy_from_slice(&[0x88, 0x02, hi, lo]);
        conn.received(4);
        match conn.poll_event(rx, tx) {
            Ok(Status::Complete(Event::Close(Some(c)))) => {
                ensure!(
                    valid && c.code == CloseCode(code),
                    "an invalid code received"
                );
            }
            Err(Error::Protocol(ProtocolError::InvalidCloseCode(c))) => {
                ensure!(!valid && c == code, "a valid code refused");
                let out = conn.poll_transmit(tx);
                let Ok(Status::Complete((h, n))) = FrameHeader::parse(out) else {
                    return Err("no close frame after the failure");
                };
                let mut payload = [out[n], out[n + 1]];
                apply_mask(&mut payload, h.mask.unwrap_or_default(), 0);
                ensure!(payload == [0x03, 0xEA], "not failed with 1002");
            }
            _ => return Err("neither the close nor a refusal"),
        }
    }
    Ok(())
}

/// A connection's own state, without the buffers and transport its caller keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSize {
    /// `proto::Connection` of a server.
    pub server: usize,
    /// `proto::Connection` of a client whose masking source is a 4-byte generator
    /// ([`TestMask`]).
    pub client: usize,
    /// `blocking::WebSocket` of a server, less its two buffer references (its
    /// transport here takes no room).
    pub websocket: usize,
}

/// The sizes of a connection's own state on this target.
pub fn state_size() -> StateSize {
    use core::mem::size_of;
    StateSize {
        server: size_of::<Connection<NoMask>>(),
        client: size_of::<Connection<TestMask>>(),
        websocket: size_of::<ws13::blocking::WebSocket<'static, (), NoMask>>()
            - 2 * size_of::<&mut [u8]>(),
    }
}
