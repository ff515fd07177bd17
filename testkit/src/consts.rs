//! Handshakes to test with: RFC 6455's sample (section 1.2) and a browser's request.

/// The `Sec-WebSocket-Key` of RFC 6455's sample request.
pub const RFC_KEY: &[u8; 24] = b"dGhlIHNhbXBsZSBub25jZQ==";

/// The nonce behind [`RFC_KEY`] (RFC 6455 section 4.1: 16 bytes, sent in base64).
pub const RFC_NONCE: [u8; 16] = *b"the sample nonce";

/// The `Sec-WebSocket-Accept` that answers [`RFC_KEY`].
pub const RFC_ACCEPT: &[u8; 28] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// RFC 6455's sample request (section 1.2), offering subprotocols `chat` and `superchat`.
pub const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// RFC 6455's sample response (section 1.2), choosing `chat`.
pub const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";

/// RFC 6455 section 5.7's masked "Hello": one text frame from a client, key
/// `37 fa 21 3d`.
pub const RFC_MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

/// An upgrade request as Chromium sends it, over 500 bytes: a query, an `Origin`, a
/// permessage-deflate offer (which ws13 declines), subprotocols `ws13.echo` and `chat`,
/// and RFC 6455's sample key.
pub const CHROMIUM_REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\n\
Host: 192.168.1.50\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://192.168.1.50\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: ws13.echo, chat\r\n\r\n";

/// The end of an HTTP head.
pub const HEAD_END: &[u8] = b"\r\n\r\n";

/// The length of the HTTP head at the start of `bytes` (through its blank line), if it
/// is all there.
pub fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(HEAD_END.len())
        .position(|w| w == HEAD_END)
        .map(|i| i + HEAD_END.len())
}
