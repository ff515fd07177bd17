//! The seed corpus: valid conversations (and a few classic mistakes), in the input layout
//! of [`crate::Input`], for each target.

use ws13::frame::OpCode;
use ws13::handshake::accept_key;
use ws13::proto::Role;

use crate::{client_key, frame, Input, RFC_KEY};
use ws13_testkit::consts::{CHROMIUM_REQUEST, RFC_REQUEST};

/// Chunk-size sets: whole, byte by byte, odd sizes, with a transport error, large.
const CHUNKINGS: [&[u8]; 5] = [&[], &[1], &[7, 3, 200], &[0, 5, 131], &[255, 64]];

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Requests a server may receive.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let plain = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nAccept: text/html\r\n\r\n".to_vec();
    let minimal =
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    let lf_only = String::from_utf8(RFC_REQUEST.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let mut leading_crlf = b"\r\n".to_vec();
    leading_crlf.extend_from_slice(RFC_REQUEST);
    let swap = |from: &str, to: &str| {
        String::from_utf8(RFC_REQUEST.to_vec())
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes()
    };
    let mut many_headers = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..70 {
        many_headers.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    vec![
        ("rfc", RFC_REQUEST.to_vec()),
        ("plain_get", plain),
        ("minimal", minimal),
        ("lf_only", lf_only),
        ("leading_crlf", leading_crlf),
        ("post", swap("GET", "POST")),
        ("http10", swap("HTTP/1.1", "HTTP/1.0")),
        ("version8", swap("Version: 13", "Version: 8")),
        (
            "bad_key",
            swap("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"),
        ),
        ("no_host", swap("Host: server.example.com\r\n", "")),
        ("folded", swap("Origin:", " Origin:")),
        ("many_headers", many_headers),
        ("chromium", CHROMIUM_REQUEST.to_vec()),
        (
            "two_hosts",
            swap("Origin:", "Host: other.example.com\r\nOrigin:"),
        ),
        ("bad_host", swap("server.example.com", "a b")),
        ("body", swap("Origin:", "Content-Length: 5\r\nOrigin:")),
        (
            "chunked",
            swap("Origin:", "Transfer-Encoding: chunked\r\nOrigin:"),
        ),
        ("long_protocol", swap("chat, superchat", &"p".repeat(600))),
    ]
}

/// A conversation `sender` might send: every frame kind, boundary lengths, fragments with
/// control frames between them, multi-byte text split inside a character, and a close.
fn conversation(sender: Role) -> Vec<u8> {
    let f = |fin, op, payload: &[u8]| frame(sender, fin, op, payload, KEY);
    let mut out = Vec::new();
    out.extend(f(true, OpCode::Text, b"Hello"));
    out.extend(f(true, OpCode::Binary, &[0, 1, 2, 255]));
    out.extend(f(true, OpCode::Text, b""));
    out.extend(f(true, OpCode::Ping, b"ping?"));
    out.extend(f(true, OpCode::Pong, b""));
    let text = "h\u{e9}llo \u{20ac} \u{1d11e}".as_bytes();
    out.extend(f(false, OpCode::Text, &text[..2]));
    out.extend(f(true, OpCode::Ping, b"between"));
    out.extend(f(false, OpCode::Continuation, &text[2..9]));
    out.extend(f(false, OpCode::Continuation, b""));
    out.extend(f(true, OpCode::Continuation, &text[9..]));
    out.extend(f(true, OpCode::Close, &[0x03, 0xE8, b'b', b'y', b'e']));
    out
}

/// Single frames of interest, valid and not.
fn frames(sender: Role) -> Vec<(&'static str, Vec<u8>)> {
    let f = |fin, op, payload: &[u8]| frame(sender, fin, op, payload, KEY);
    let bytes = |n: usize| (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>();
    let mut v = vec![
        ("text", f(true, OpCode::Text, b"Hello")),
        ("binary_125", f(true, OpCode::Binary, &bytes(125))),
        ("binary_126", f(true, OpCode::Binary, &bytes(126))),
        ("binary_127", f(true, OpCode::Binary, &bytes(127))),
        ("binary_1000", f(true, OpCode::Binary, &bytes(1000))),
        ("binary_4000", f(true, OpCode::Binary, &bytes(4000))),
        ("ping_125", f(true, OpCode::Ping, &bytes(125))),
        ("pong", f(true, OpCode::Pong, b"pong")),
        ("close_empty", f(true, OpCode::Close, b"")),
        ("close_4000", f(true, OpCode::Close, &[0x0F, 0xA0])),
        ("close_1005", f(true, OpCode::Close, &[0x03, 0xED])),
        ("close_1byte", f(true, OpCode::Close, &[0x03])),
        (
            "close_bad_utf8",
            f(true, OpCode::Close, &[0x03, 0xE8, 0xC3]),
        ),
        ("bad_utf8", f(true, OpCode::Text, b"ok\xff")),
        ("continuation", f(true, OpCode::Continuation, b"x")),
        ("ping_fragmented", f(false, OpCode::Ping, b"x")),
    ];
    // Headers claiming 2^16 - 1, 2^16 and 2^63 - 1 bytes, with a little payload.
    for (name, len) in [
        ("len_65535", 65535u64),
        ("len_65536", 65536),
        ("len_max", u64::MAX >> 1),
    ] {
        let mut h = f(true, OpCode::Binary, b"");
        let mask = if sender == Role::Client {
            Some(KEY)
        } else {
            None
        };
        let header = ws13::frame::FrameHeader {
            fin: true,
            opcode: OpCode::Binary,
            mask,
            len,
        };
        h.clear();
        h.extend_from_slice(header.emit().as_bytes());
        h.extend_from_slice(&bytes(300));
        v.push((name, h));
    }
    let mut reserved = f(true, OpCode::Text, b"x");
    reserved[0] |= 0x40;
    v.push(("rsv1", reserved));
    let mut opcode = f(true, OpCode::Text, b"x");
    opcode[0] = 0x83;
    v.push(("opcode_3", opcode));
    let wrong_role = frame(
        if sender == Role::Client {
            Role::Server
        } else {
            Role::Client
        },
        true,
        OpCode::Text,
        b"x",
        KEY,
    );
    v.push(("wrong_masking", wrong_role));
    let mut two = f(false, OpCode::Text, b"a");
    two.extend(f(true, OpCode::Binary, b"b"));
    v.push(("expected_continuation", two));
    v.push(("conversation", conversation(sender)));
    v
}

/// Every seed: `(target, file name, bytes)`.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| {
        out.push((target, name, bytes));
    };

    // (a) server handshake: every request, whole and split, with several header limits.
    for (name, req) in requests() {
        for (i, chunks) in CHUNKINGS.iter().enumerate() {
            let opts = (i as u8) | ((i as u8) << 5);
            add(
                "handshake_server",
                format!("{name}_{i}"),
                Input::encode(0, opts, chunks, &req),
            );
        }
        let mut with_frames = req.clone();
        with_frames.extend(conversation(Role::Client));
        add(
            "handshake_server",
            format!("{name}_frames"),
            Input::encode(0, 0, &[9], &with_frames),
        );
    }

    // (b) client handshake: the RFC's response, with a subprotocol, refusals.
    let accept = String::from_utf8(accept_key(RFC_KEY).to_vec()).unwrap();
    let ok = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    let with_protocol = ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
    let responses = [
        ("ok", ok.clone()),
        ("protocol", with_protocol.clone()),
        (
            "extension",
            ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n"),
        ),
        (
            "bad_accept",
            ok.replace(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo_"),
        ),
        (
            "refused",
            "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n".into(),
        ),
        ("lf_only", ok.replace("\r\n", "\n")),
        (
            "two_accepts",
            ok.replace(
                "\r\n\r\n",
                &format!("\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"),
            ),
        ),
    ];
    for (name, resp) in &responses {
        for (i, chunks) in CHUNKINGS.iter().enumerate() {
            let mut bytes = resp.clone().into_bytes();
            if i == 2 {
                bytes.extend(conversation(Role::Server));
            }
            add(
                "handshake_client",
                format!("{name}_{i}"),
                Input::encode(0, i as u8, chunks, &bytes),
            );
        }
    }

    // (c) the sans-IO connection, both roles, bounded buffers.
    for (role_bit, sender) in [(0u8, Role::Client), (1u8, Role::Server)] {
        for (name, bytes) in frames(sender) {
            for (i, chunks) in CHUNKINGS.iter().enumerate() {
                let opts = role_bit | ((i as u8) << 1);
                // The config picks the maximum message size: none, 0, 100, 5000, none.
                add(
                    "connection",
                    format!("{name}_{role_bit}_{i}"),
                    Input::encode(i as u8 & 3, opts, chunks, &bytes),
                );
            }
        }
    }

    // (c) blocking server: the RFC request, then a conversation or single frames, read in
    // every mode with small buffers.
    for (name, bytes) in frames(Role::Client) {
        let mut stream = RFC_REQUEST.to_vec();
        stream.extend(bytes);
        for (i, chunks) in CHUNKINGS.iter().enumerate() {
            let mode = (i as u8) & 3;
            // Receive buffers from 200 bytes (smaller ones cannot hold the RFC's request,
            // whose Origin and subprotocols are kept) and transmit buffers from 256 (the
            // smallest cannot hold a 101 response with a subprotocol).
            let rx = 3 + (i as u8 % 5);
            let tx = 1 + (i as u8 % 3);
            let opts = rx | (tx << 3) | (mode << 5);
            add(
                "blocking_server",
                format!("{name}_{i}"),
                Input::encode(i as u8 & 3, opts, chunks, &stream),
            );
            // Bit 7: frames relayed as they came, or the application's own streamed.
            add(
                "blocking_server",
                format!("{name}_{i}_frames"),
                Input::encode(i as u8 & 3, opts | 0x80, chunks, &stream),
            );
        }
    }
    let mut plain = requests().remove(1).1;
    plain.extend(conversation(Role::Client));
    add(
        "blocking_server",
        "plain_get".into(),
        Input::encode(0, 0, &[], &plain),
    );

    // (c) blocking client: a valid 101 for the target's key, then server frames.
    for opts_base in [0u8, 1, 2] {
        let key = client_key(opts_base);
        let accept = String::from_utf8(accept_key(&key).to_vec()).unwrap();
        let protocol = if opts_base == 0 {
            ""
        } else {
            "Sec-WebSocket-Protocol: chat\r\n"
        };
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
        );
        for (name, bytes) in frames(Role::Server) {
            let mut stream = head.clone().into_bytes();
            stream.extend(bytes);
            for (i, chunks) in CHUNKINGS.iter().enumerate() {
                let mode = (i as u8) & 3;
                // Keep the subprotocol list (opts % 4) as the head expects.
                let opts = opts_base | ((i as u8 & 1) << 2) | ((i as u8 & 3) << 3) | (mode << 5);
                let opts = (opts & !3) | opts_base;
                if usize::from(opts) % 4 != usize::from(opts_base) {
                    continue;
                }
                add(
                    "blocking_client",
                    format!("{name}_{opts_base}_{i}"),
                    Input::encode(i as u8 & 3, opts, chunks, &stream),
                );
                add(
                    "blocking_client",
                    format!("{name}_{opts_base}_{i}_frames"),
                    Input::encode(i as u8 & 3, opts | 0x80, chunks, &stream),
                );
            }
        }
    }
    // (e) writes with faults: sends of every kind, under every kind of fault.
    for (i, (ops, faults)) in write_plans().into_iter().enumerate() {
        for role in 0..2u8 {
            for tx in [0u8, 3, 5, 7] {
                let config = role | (tx << 1);
                let opts = (i as u8 * 37) & 0x3F;
                add(
                    "write_faults",
                    format!("plan{i}_{role}_{tx}"),
                    Input::encode(config, opts, &faults, &ops),
                );
            }
        }
    }
    out
}

/// Sends (see `writes::Op`) and write faults for the `write_faults` seeds.
fn write_plans() -> Vec<(Vec<u8>, Vec<u8>)> {
    // A text message, a binary one of 300 bytes, fragments with a ping between them, a
    // streamed frame with a ping inside, a pong, a flush, and a close.
    let ops = vec![
        0x08, 5, // whole text, 5 bytes
        0x41, 0x01, 0x2C, // whole binary, 300 bytes, sent
        0x02, 10, // fragment (binary), 10 bytes, not last
        0x05, 3, // ping, 3 bytes
        0x42, 4, // fragment, last
        0x14, 0x03, 0xE8, 7, // streamed binary frame of 1000 bytes, 7 at a time, ping inside
        0x0D, 2,    // pong
        0x06, // flush
        0x07, 4, // close 1000 with a 4-byte reason
        0x00, 3, // a send after the close
    ];
    vec![
        (ops.clone(), vec![]),
        (ops.clone(), vec![0, 1, 0, 5, 1, 9, 0]),
        (ops.clone(), vec![4, 4, 4, 0, 4, 1, 4]),
        (ops.clone(), vec![5, 5, 2]),
        (ops.clone(), vec![9, 9, 9, 9, 9, 3]),
        (ops, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]
}
