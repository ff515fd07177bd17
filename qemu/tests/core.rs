//! ws13's stateless core on an emulated Cortex-M: handshakes, frame headers, masking,
//! UTF-8 validation and close codes. Each check prints its name over semihosting; a
//! failed assertion panics, which prints the message and exits QEMU with status 1.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use ws13::frame::{apply_mask, FrameHeader, HeaderError, OpCode};
use ws13::handshake::client::{Accepted, ClientError, ClientRequest, ResponseParser};
use ws13::handshake::server::{self, RequestError, RequestParser};
use ws13::handshake::{accept_key, KEY_LEN};
use ws13::proto::{self, CloseFrame, ProtocolError, Receiver, Role, SendError, Sender};
use ws13::utf8::Utf8Validator;
use ws13::CloseCode;
use ws13_qemu::{check, hprintln, pass, Pipe};

ws13_qemu::exit_on_fault!();

/// RFC 6455 section 1.3: the sample client request.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

/// The 101 response ws13 must write to it, choosing `chat`.
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

/// RFC 6455 section 1.3: the nonce behind `dGhlIHNhbXBsZSBub25jZQ==`.
const RFC_NONCE: [u8; 16] = *b"the sample nonce";

#[entry]
fn main() -> ! {
    hprintln!("ws13 core checks on {}", core_name());
    check("accept key (RFC 6455 1.3)", accept_key_sample);
    check("server handshake: RFC request -> 101", server_handshake);
    check(
        "server handshake: byte at a time",
        server_handshake_bytewise,
    );
    check(
        "server handshake via blocking::Incoming",
        server_handshake_incoming,
    );
    check("server handshake: refusals", server_refusals);
    check("client handshake: ClientRequest::write", client_request);
    check("client handshake: ResponseParser", client_response);
    check("client handshake: bad responses", client_bad_responses);
    check("frame headers at lengths 0..2^63-1", frame_lengths);
    check("frame header errors", frame_errors);
    check("masking at every offset and alignment", masking);
    check("UTF-8 fail-fast", utf8_fail_fast);
    check("UTF-8 split at every byte", utf8_split);
    check("close codes: all u16 on the wire", close_codes);
    check("close codes: Receiver and Sender", close_codes_proto);
    check(
        "connection state beyond its buffers <= 80 bytes",
        connection_state,
    );
    hprintln!("all core checks passed");
    pass()
}

/// Which core QEMU emulates, from the CPUID register.
fn core_name() -> &'static str {
    // SAFETY: CPUID is a read-only register present on every Cortex-M.
    let cpuid = unsafe { (*cortex_m::peripheral::CPUID::PTR).base.read() };
    match (cpuid >> 4) & 0xFFF {
        0xC20 => "Cortex-M0",
        0xC23 => "Cortex-M3",
        0xC24 => "Cortex-M4",
        _ => "an unknown core",
    }
}

fn accept_key_sample() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

fn server_handshake() {
    let mut parser = RequestParser::new();
    let head_len = parser.parse(RFC_REQUEST).unwrap().unwrap();
    assert_eq!(head_len, RFC_REQUEST.len());
    let request = parser.request(&RFC_REQUEST[..head_len]);
    assert_eq!(request.method(), "GET");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert!(request.is_upgrade());
    assert_eq!(request.check_upgrade(), Ok(()));
    assert_eq!(request.key(), b"dGhlIHNhbXBsZSBub25jZQ==");
    let mut protocols = request.protocols();
    assert_eq!(protocols.next(), Some("chat"));
    assert_eq!(protocols.next(), Some("superchat"));
    assert_eq!(protocols.next(), None);
    assert!(request.offers_protocol("superchat"));
    assert!(!request.offers_protocol("other"));
    let mut out = [0u8; 256];
    let len = server::write_accept(&mut out, &request, Some("chat")).unwrap();
    assert_eq!(&out[..len], RFC_RESPONSE);
    // A buffer one byte short is refused, not overrun.
    assert!(server::write_accept(&mut out[..len - 1], &request, Some("chat")).is_err());
}

fn server_handshake_bytewise() {
    // Fed one more byte at a time, the head completes exactly at its last byte.
    let mut parser = RequestParser::new();
    for end in 0..RFC_REQUEST.len() {
        assert_eq!(parser.parse(&RFC_REQUEST[..end]), Ok(None), "at {}", end);
    }
    assert_eq!(parser.parse(RFC_REQUEST), Ok(Some(RFC_REQUEST.len())));
}

fn server_handshake_incoming() {
    // The same, through the blocking driver and a transport delivering 5-byte segments,
    // with the first frame (a masked "Hello", RFC 6455 5.7) arriving with the head.
    let mut input = [0u8; 300];
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    input[..RFC_REQUEST.len()].copy_from_slice(RFC_REQUEST);
    input[RFC_REQUEST.len()..RFC_REQUEST.len() + hello.len()].copy_from_slice(&hello);
    let input = &input[..RFC_REQUEST.len() + hello.len()];
    for segment in [1, 5, 64, 1000] {
        let (mut rx, mut tx, mut out) = ([0u8; 512], [0u8; 256], [0u8; 256]);
        let mut pipe = Pipe::new(input, &mut out, segment);
        let incoming = ws13::blocking::Incoming::read(&mut pipe, &mut rx).unwrap();
        assert!(incoming.request().is_upgrade());
        let mut ws = incoming.accept(&mut tx, Some("chat")).unwrap();
        match ws.read().unwrap() {
            ws13::Event::Data { payload, last, .. } => {
                // With tiny segments the message may come in pieces; the first is a prefix.
                assert!(b"Hello".starts_with(payload) && !payload.is_empty());
                assert!(last == (payload.len() == 5));
            }
            other => panic!("unexpected {:?}", other),
        }
        assert_eq!(pipe.output(), RFC_RESPONSE);
    }
}

fn server_refusals() {
    let cases: [(&[u8], RequestError, &[u8]); 4] = [
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
    ];
    for (request, error, response_start) in cases {
        let (mut rx, mut tx, mut out) = ([0u8; 512], [0u8; 256], [0u8; 256]);
        let mut pipe = Pipe::new(request, &mut out, 7);
        let incoming = ws13::blocking::Incoming::read(&mut pipe, &mut rx).unwrap();
        match incoming.accept(&mut tx, None) {
            Err(ws13::blocking::Error::Request(e)) => assert_eq!(e, error),
            Err(e) => panic!("unexpected error {:?}", e),
            Ok(_) => panic!("accepted a bad request ({:?})", error),
        }
        assert!(pipe.output().starts_with(response_start));
        assert!(pipe
            .output()
            .ends_with(b"Content-Length: 0\r\nConnection: close\r\n\r\n"));
    }
    // A head larger than the receive buffer: 431, before the application sees it.
    let mut out = [0u8; 256];
    let mut rx = [0u8; 64];
    let mut pipe = Pipe::new(RFC_REQUEST, &mut out, 1000);
    match ws13::blocking::Incoming::read(&mut pipe, &mut rx) {
        Err(ws13::blocking::Error::Request(RequestError::TooLarge)) => {}
        Err(e) => panic!("unexpected {:?}", e),
        Ok(_) => panic!("a head larger than rx was read"),
    }
    assert!(pipe.output().starts_with(b"HTTP/1.1 431 "));
}

fn client_request() {
    let request = ClientRequest {
        host: "server.example.com",
        path: "/chat",
        protocols: &["chat", "superchat"],
        headers: &[("Origin", "http://example.com")],
    };
    let mut buf = [0u8; 512];
    let (len, key) = request.write(&mut buf, RFC_NONCE).unwrap();
    assert_eq!(&key, b"dGhlIHNhbXBsZSBub25jZQ==");
    let expected: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Origin: http://example.com\r\n\
\r\n";
    assert_eq!(&buf[..len], expected);
    // The server side reads it as a valid upgrade with the same key.
    let mut parser = RequestParser::new();
    assert_eq!(parser.parse(&buf[..len]), Ok(Some(len)));
    let parsed = parser.request(&buf[..len]);
    assert_eq!(parsed.check_upgrade(), Ok(()));
    assert_eq!(parsed.key(), &key);
    // Too small a buffer, or a header that would split the request, is refused.
    assert!(request.write(&mut buf[..len - 1], RFC_NONCE).is_err());
    let bad = ClientRequest {
        headers: &[("X", "a\r\nInjected: 1")],
        ..request
    };
    assert_eq!(
        bad.write(&mut buf, RFC_NONCE).unwrap_err(),
        ClientError::InvalidRequest
    );
    let bad = ClientRequest {
        protocols: &["two words"],
        ..request
    };
    assert_eq!(
        bad.write(&mut buf, RFC_NONCE).unwrap_err(),
        ClientError::InvalidRequest
    );
}

fn client_response() {
    let key: [u8; KEY_LEN] = *b"dGhlIHNhbXBsZSBub25jZQ==";
    let offered = ["superchat", "chat"];
    // Whole, then one byte at a time, with a frame right behind the head.
    let mut with_frame = [0u8; 200];
    with_frame[..RFC_RESPONSE.len()].copy_from_slice(RFC_RESPONSE);
    with_frame[RFC_RESPONSE.len()..RFC_RESPONSE.len() + 2].copy_from_slice(&[0x81, 0x00]);
    let stream = &with_frame[..RFC_RESPONSE.len() + 2];
    let expected = Accepted {
        head_len: RFC_RESPONSE.len(),
        protocol: Some(1),
    };
    assert_eq!(
        ResponseParser::new(&key).parse(stream, &offered),
        Ok(Some(expected))
    );
    let mut parser = ResponseParser::new(&key);
    for end in 0..RFC_RESPONSE.len() {
        assert_eq!(
            parser.parse(&stream[..end], &offered),
            Ok(None),
            "at {}",
            end
        );
    }
    assert_eq!(parser.parse(stream, &offered), Ok(Some(expected)));
}

fn client_bad_responses() {
    let key: [u8; KEY_LEN] = *b"dGhlIHNhbXBsZSBub25jZQ==";
    let cases: [(&[u8], ClientError); 5] = [
        (
            b"HTTP/1.1 200 OK\r\n\r\n",
            ClientError::Status(200),
        ),
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
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: other\r\n\r\n",
            ClientError::UnexpectedProtocol,
        ),
    ];
    for (response, error) in cases {
        assert_eq!(
            ResponseParser::new(&key).parse(response, &["chat"]),
            Err(error)
        );
    }
}

fn frame_lengths() {
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
            if opcode.is_control() && len > 125 {
                continue;
            }
            for fin in [true, false] {
                if opcode.is_control() && !fin {
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
                    assert_eq!(bytes.len(), want, "len {}", len);
                    assert_eq!(h.encoded_len(), want);
                    assert_eq!(bytes[0], if fin { 0x80 } else { 0 } | opcode.bits());
                    assert_eq!(bytes[1] & 0x80 != 0, mask.is_some());
                    assert_eq!(FrameHeader::parse(bytes), Ok(Some((h, want))));
                    for cut in 0..want {
                        assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None));
                    }
                }
            }
        }
    }
    // The exact encodings at the boundaries (RFC 6455 5.2 and 5.7).
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
        assert_eq!(h.emit().as_bytes(), bytes, "len {}", len);
        assert_eq!(FrameHeader::parse(bytes), Ok(Some((h, bytes.len()))));
    }
}

fn frame_errors() {
    for rsv in [0x40u8, 0x20, 0x10] {
        assert_eq!(
            FrameHeader::parse(&[0x81 | rsv, 0]),
            Err(HeaderError::ReservedBits)
        );
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            FrameHeader::parse(&[0x80 | op, 0]),
            Err(HeaderError::ReservedOpcode)
        );
    }
    assert_eq!(
        FrameHeader::parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        Err(HeaderError::LengthOverflow)
    );
    assert_eq!(
        FrameHeader::parse(&[0x89, 126]),
        Err(HeaderError::ControlTooLong)
    );
    assert_eq!(
        FrameHeader::parse(&[0x09, 0]),
        Err(HeaderError::ControlFragmented)
    );
    // Non-minimal lengths are accepted on input.
    assert_eq!(
        FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x05])
            .unwrap()
            .unwrap()
            .0
            .len,
        5
    );
}

fn masking() {
    // A buffer with room to start the data at every alignment: Cortex-M0 has no
    // unaligned access at all, and M3/M4 fault on unaligned LDRD/LDM.
    let key = [0xA1, 0xB2, 0xC3, 0xD4];
    let mut original = [0u8; 80];
    for (i, b) in original.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let mut buf = [0u8; 96];
    for align in 0..8 {
        for len in 0..=original.len() {
            for offset in 0..8 {
                let data = &mut buf[align..align + len];
                data.copy_from_slice(&original[..len]);
                apply_mask(data, key, offset);
                for (i, b) in data.iter().enumerate() {
                    assert_eq!(
                        *b,
                        original[i] ^ key[(offset + i) % 4],
                        "align {} len {} offset {} byte {}",
                        align,
                        len,
                        offset,
                        i
                    );
                }
            }
        }
    }
    // Unmasking in two pieces split at every position equals unmasking whole.
    for split in 0..=original.len() {
        let mut data = original;
        let (a, b) = data.split_at_mut(split);
        apply_mask(a, key, 0);
        apply_mask(b, key, split);
        for (i, b) in data.iter().enumerate() {
            assert_eq!(*b, original[i] ^ key[i % 4], "split {}", split);
        }
    }
    // The RFC 6455 5.7 sample.
    let mut hello = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    apply_mask(&mut hello, [0x37, 0xfa, 0x21, 0x3d], 0);
    assert_eq!(&hello, b"Hello");
}

fn utf8_fail_fast() {
    // Each input is fed one byte at a time; it must fail exactly at byte `at`, the first
    // that no continuation can make valid.
    let cases: [(&[u8], usize); 10] = [
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            12,
        ), // surrogate
        (b"\xf4\x90\x80\x80", 1), // above U+10FFFF
        (b"ab\xc0\xaf", 2),       // overlong lead byte
        (b"\xe0\x80\xaf", 1),     // overlong 3-byte form
        (b"\xf0\x80\x80\xaf", 1), // overlong 4-byte form
        (b"hello\xff", 5),        // never valid
        (b"\x80", 0),             // lone continuation
        (b"\xe2\x82", 2 + 100),   // valid prefix: only finish() fails (see below)
        (b"\xe2\x82\x41", 2),     // a continuation byte was expected
        (b"\xf5\x80", 0),         // never valid lead byte
    ];
    for (input, at) in cases {
        let mut v = Utf8Validator::new();
        for (i, b) in input.iter().enumerate() {
            let r = v.feed(core::slice::from_ref(b));
            if i < at {
                assert_eq!(r, Ok(()), "{:x?} byte {}", input, i);
            } else {
                assert!(r.is_err(), "{:x?} must fail at byte {}", input, at);
                break;
            }
        }
        // Fed whole, it fails too (or, for a valid prefix, only at the end).
        let mut whole = Utf8Validator::new();
        if at >= input.len() {
            assert_eq!(whole.feed(input), Ok(()));
            assert!(!whole.is_complete());
            assert!(whole.finish().is_err());
        } else {
            assert!(whole.feed(input).is_err());
        }
    }
}

fn utf8_split() {
    // Valid text split into two pieces at every byte, and fed byte by byte.
    let text = "κόσμε: héllo wörld €100 𝄞 ✓".as_bytes();
    for split in 0..=text.len() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&text[..split]), Ok(()));
        assert_eq!(v.feed(&text[split..]), Ok(()));
        assert!(v.is_complete());
        assert_eq!(v.finish(), Ok(()));
    }
    let mut v = Utf8Validator::new();
    for b in text {
        assert_eq!(v.feed(core::slice::from_ref(b)), Ok(()));
    }
    assert_eq!(v.finish(), Ok(()));
}

fn close_codes() {
    let mut valid = 0u32;
    for code in 0..=u16::MAX {
        let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        assert_eq!(
            CloseCode(code).is_valid_on_wire(),
            expected,
            "code {}",
            code
        );
        // parse_close agrees, with an empty and a UTF-8 reason.
        let [hi, lo] = code.to_be_bytes();
        for payload in [&[hi, lo][..], &[hi, lo, b'o', b'k'][..]] {
            match proto::parse_close(payload) {
                Ok(Some(frame)) => {
                    assert!(expected);
                    assert_eq!(frame.code, CloseCode(code));
                }
                Err(ProtocolError::InvalidCloseCode(c)) => {
                    assert!(!expected);
                    assert_eq!(c, code);
                }
                other => panic!("code {}: {:?}", code, other),
            }
        }
        valid += u32::from(expected);
    }
    assert_eq!(valid, 4 + 8 + 2000);
    for c in [
        CloseCode::NO_STATUS,
        CloseCode::ABNORMAL,
        CloseCode(1004),
        CloseCode(1015),
    ] {
        assert!(!c.is_valid_on_wire());
    }
    assert_eq!(proto::parse_close(&[]), Ok(None));
    assert_eq!(
        proto::parse_close(&[0x03]),
        Err(ProtocolError::InvalidClosePayload)
    );
    assert_eq!(
        proto::parse_close(&[0x03, 0xE8, 0xFF]),
        Err(ProtocolError::InvalidUtf8)
    );
}

fn close_codes_proto() {
    // For every u16: a Sender refuses to send an invalid code, and a Receiver fails a
    // peer's close frame carrying one.
    for code in 0..=u16::MAX {
        let valid = CloseCode(code).is_valid_on_wire();
        let mut sender = Sender::new(Role::Server);
        let frame = CloseFrame {
            code: CloseCode(code),
            reason: "",
        };
        match sender.close(Some(frame), || [0; 4]) {
            Ok((header, payload)) => {
                assert!(valid, "sent code {}", code);
                assert_eq!(header.opcode, OpCode::Close);
                assert_eq!(payload.as_bytes(), &code.to_be_bytes());
            }
            Err(e) => {
                assert!(!valid);
                assert_eq!(e, SendError::InvalidCloseCode);
            }
        }
        // A client receiving the server's close frame.
        let [hi, lo] = code.to_be_bytes();
        let mut bytes = [0x88, 0x02, hi, lo];
        let mut receiver = Receiver::new(Role::Client);
        match receiver.receive(&mut bytes) {
            Ok(r) => {
                assert!(valid, "received code {}", code);
                assert_eq!(r.consumed, 4);
                assert!(receiver.is_closed());
            }
            Err(e) => {
                assert!(!valid);
                assert_eq!(e, ProtocolError::InvalidCloseCode(code));
                assert_eq!(e.close_code(), CloseCode::PROTOCOL_ERROR);
            }
        }
    }
}

/// A connection's own state, beyond the caller's buffers and transport, measured on
/// this 32-bit core: 80 bytes, of which 16 are the frame being sent (its payload still
/// owed, 64 bits since a frame may be larger than 4 GiB, and its mask key) and 2 a
/// control frame waiting for it.
fn connection_state() {
    use core::mem::size_of;
    let whole = size_of::<ws13::blocking::WebSocket<'static, (), ws13::blocking::NoMask>>();
    let buffers = 2 * size_of::<&mut [u8]>();
    let own = whole - buffers;
    ws13_qemu::hprint!("({} bytes) ", own);
    assert!(own <= 80, "{} bytes", own);
}
