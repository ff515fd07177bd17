//! What the firmware serves, shared by the blocking firmware (`app.rs`) and the async
//! one (qemu/async, `firmware_async`): the page, who may open the socket, the
//! subprotocol, and what a connection turned out to be.

/// The device's page: it opens the socket back to the device and echoes through it.
pub const PAGE: &[u8] = b"<!DOCTYPE html>
<html><head><meta charset=\"utf-8\"><title>ws13 device</title></head>
<body><h1>ws13 echo</h1><pre id=\"log\"></pre>
<script>
const log = (s) => document.getElementById('log').textContent += s + '\\n';
const ws = new WebSocket('ws://' + location.host + '/ws', ['ws13.echo']);
ws.onopen = () => ws.send('hello from the browser');
ws.onmessage = (e) => log('echo: ' + e.data);
</script></body></html>
";

/// The only origin allowed to open the socket: pages served by this device.
pub const ORIGIN: &str = "http://device.local";

/// The subprotocol the device speaks.
pub const PROTOCOL: &str = "ws13.echo";

/// What one connection turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// `GET /`: the page.
    Page,
    /// Any other plain request: 404.
    NotFound,
    /// An upgrade from a foreign origin or for another path: 403.
    Forbidden,
    /// A WebSocket session: messages and bytes echoed.
    Echo { messages: u32, bytes: u32 },
}
