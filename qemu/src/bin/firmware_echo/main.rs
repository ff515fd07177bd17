//! A WebSocket echo server written the way firmware uses ws13: fixed static buffers,
//! no allocator, one connection at a time, over a transport implementing
//! `embedded_io::Read`/`Write`.
//!
//! It serves a web page on `GET /` and upgrades `GET /ws` (from the device's own page
//! only, by `Origin`) to a WebSocket that echoes every message, piece by piece, so that
//! a message of any size passes through 1 KiB buffers.
//!
//! Under QEMU the "network" is a scripted browser (`Browser`): it first loads the page
//! with a plain `GET /`, then asks for a missing file, then tries a WebSocket from a
//! foreign origin, then opens the socket the way the page's JavaScript does (with
//! `Origin`, `Sec-WebSocket-Protocol` and a `permessage-deflate` offer that must be
//! declined), and sends masked text, binary, fragmented text with a ping, a ping, and
//! a close. Each connection's bytes go through the same `serve` a device would run on
//! its TCP socket. Afterwards the browser checks everything it received, and the run
//! reports the stack depth of the server path (measured by painting the stack) and exits
//! with success or failure.
#![no_std]
#![no_main]

mod app;
mod stack;

use core::ptr::addr_of_mut;

use app::{serve, Served, ORIGIN, RX, TX};
use cortex_m_rt::entry;
use ws13::blocking::MaskSource;
use ws13::frame::OpCode;
use ws13::handshake::client::{ClientRequest, ResponseParser};
use ws13::proto::Role;
use ws13_qemu::{fail, hprintln, pass, Log, Pipe, Script, Seen, TestRng};

ws13_qemu::exit_on_fault!();

// ---------------------------------------------------------------------------------------
// The simulated network: a scripted browser on the other end of each connection.
// ---------------------------------------------------------------------------------------

/// TCP-like segments: the browser's bytes reach the device this many at a time.
const SEGMENT: usize = 128;

const PAGE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
Host: device.local\r\n\
User-Agent: Mozilla/5.0 (ws13 firmware test)\r\n\
Accept: text/html,application/xhtml+xml\r\n\
Accept-Encoding: gzip, deflate\r\n\
Connection: keep-alive\r\n\
\r\n";

const MISSING_REQUEST: &[u8] = b"GET /favicon.ico HTTP/1.1\r\nHost: device.local\r\n\r\n";

/// The upgrade request the page's `new WebSocket(...)` makes.
const UPGRADE: ClientRequest<'static> = ClientRequest {
    host: "device.local",
    path: "/ws",
    protocols: &["ws13.echo"],
    headers: &[
        ("Origin", ORIGIN),
        ("User-Agent", "Mozilla/5.0 (ws13 firmware test)"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        ),
    ],
};

/// The same from a page on another site.
const FOREIGN_UPGRADE: ClientRequest<'static> = ClientRequest {
    headers: &[("Origin", "http://evil.example")],
    ..UPGRADE
};

/// The browser's side of the connections: what it sends and what it receives.
struct Browser {
    script: [u8; 8192],
    foreign: [u8; 512],
    page: [u8; 2048],
    missing: [u8; 512],
    refused: [u8; 512],
    socket: [u8; 8192],
    arena: [u8; 8192],
}

static mut BROWSER: Browser = Browser {
    script: [0; 8192],
    foreign: [0; 512],
    page: [0; 2048],
    missing: [0; 512],
    refused: [0; 512],
    socket: [0; 8192],
    arena: [0; 8192],
};

/// A binary message three times the size of the device's buffers.
fn blob() -> [u8; 3000] {
    core::array::from_fn(|i| (i * 13 + i / 256) as u8)
}

/// What the browser sends on the WebSocket connection; returns the key it used.
fn script_socket(script: &mut Script<'_>, rng: &mut TestRng) -> [u8; 24] {
    let mut nonce = [0u8; 16];
    MaskSource::fill(rng, &mut nonce);
    let (len, key) = UPGRADE.write(script.spare(), nonce).unwrap();
    script.advance(len);
    let blob = blob();
    let mut k = || Some(rng.next_key());
    script
        .frame(true, OpCode::Text, k(), b"hello from the browser")
        .frame(true, OpCode::Binary, k(), &blob)
        .frame(false, OpCode::Text, k(), b"Hello, w\xc3")
        .frame(true, OpCode::Ping, k(), b"between fragments")
        .frame(true, OpCode::Continuation, k(), b"\xb6rld")
        .frame(true, OpCode::Ping, k(), b"keepalive")
        // A browser leaving the page closes with 1001.
        .close(k(), 1001, "page closed");
    key
}

#[entry]
fn main() -> ! {
    // SAFETY: the only references ever made to these statics, made once, here.
    let (rx, tx, browser) = unsafe {
        (
            &mut *addr_of_mut!(RX),
            &mut *addr_of_mut!(TX),
            &mut *addr_of_mut!(BROWSER),
        )
    };
    let mut rng = TestRng(0x5EED_1234);
    let mut script = Script::new(&mut browser.script);
    let key = script_socket(&mut script, &mut rng);
    let mut foreign = Script::new(&mut browser.foreign);
    let (len, _) = FOREIGN_UPGRADE.write(foreign.spare(), [7; 16]).unwrap();
    foreign.advance(len);

    // The connections, one after another, as the device's accept loop would take them.
    let painted = stack::paint();
    let mut page = Pipe::new(PAGE_REQUEST, &mut browser.page, SEGMENT);
    let served_page = serve(&mut page, rx, tx);
    let mut missing = Pipe::new(MISSING_REQUEST, &mut browser.missing, SEGMENT);
    let served_missing = serve(&mut missing, rx, tx);
    let mut refused = Pipe::new(foreign.as_bytes(), &mut browser.refused, SEGMENT);
    let served_refused = serve(&mut refused, rx, tx);
    let mut socket = Pipe::new(script.as_bytes(), &mut browser.socket, SEGMENT);
    let served_socket = serve(&mut socket, rx, tx);
    let stack_used = painted.used();

    hprintln!(
        "firmware_echo: ws13 echo server, rx/tx buffers {} B each",
        rx.len()
    );
    let mut ok = true;
    let mut report = |what: &str, good: bool| {
        hprintln!("  {} {}", if good { "ok  " } else { "FAIL" }, what);
        ok &= good;
    };

    // 1. GET / must get the page with 200.
    report("GET / served", matches!(served_page, Ok(Served::Page)));
    let (head, body) = split_head(page.output());
    report(
        "GET / -> HTTP/1.1 200 OK",
        head.starts_with(b"HTTP/1.1 200 OK\r\n"),
    );
    report(
        "Content-Type: text/html",
        contains(head, b"\r\nContent-Type: text/html; charset=utf-8\r\n"),
    );
    report(
        "Content-Length matches the page",
        content_length(head) == Some(app::PAGE.len()),
    );
    report("body is the page", body == app::PAGE);

    // 2. A missing file: 404.
    report(
        "GET /favicon.ico -> 404",
        matches!(served_missing, Ok(Served::NotFound)),
    );
    report(
        "404 on the wire",
        missing.output().starts_with(b"HTTP/1.1 404 Not Found\r\n"),
    );

    // 3. A WebSocket from another site's page: 403, no upgrade.
    report(
        "foreign Origin refused",
        matches!(served_refused, Ok(Served::Forbidden)),
    );
    report(
        "403 on the wire",
        refused.output().starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
    );

    // 4. The WebSocket session.
    report(
        "socket: 3 messages (3035 bytes) echoed, then closed",
        matches!(
            served_socket,
            Ok(Served::Echo {
                messages: 3,
                bytes: 3035,
            })
        ),
    );
    report(
        "socket: every byte the browser sent was read",
        socket.unread() == 0,
    );
    let accepted = ResponseParser::new(&key).parse(socket.output(), UPGRADE.protocols);
    let accepted = match accepted {
        Ok(Some(a)) => a,
        other => {
            hprintln!("  FAIL 101 response: {:?}", other);
            fail()
        }
    };
    report("101 with the right Sec-WebSocket-Accept", true);
    report("subprotocol ws13.echo chosen", accepted.protocol == Some(0));
    let head = &socket.output()[..accepted.head_len];
    report(
        "permessage-deflate declined (no Sec-WebSocket-Extensions)",
        !contains(head, b"Sec-WebSocket-Extensions"),
    );
    let frames = &mut socket.output_mut()[accepted.head_len..];
    let fragmented = Log::count_frames(frames) > 3;
    report(
        "large message echoed in pieces (several frames)",
        fragmented,
    );
    let mut log = Log::new(&mut browser.arena);
    report(
        "browser reads valid frames",
        log.read(Role::Client, frames).is_ok(),
    );
    let blob = blob();
    // Panics (and fails the run) with the first difference.
    log.expect(&[
        (Seen::Text, b"hello from the browser"),
        (Seen::Binary, &blob),
        (Seen::Pong, b"between fragments"),
        (Seen::Text, "Hello, wörld".as_bytes()),
        (Seen::Pong, b"keepalive"),
        (Seen::Close(Some(1001)), b""),
    ]);
    report("echoes, pongs and the close echo, in order", true);

    hprintln!(
        "stack: serve() over all four connections used {} bytes below main's frame \
         ({} bytes painted, {} bytes from the top of RAM)",
        stack_used.below_main,
        stack_used.painted,
        stack_used.from_top
    );
    if ok {
        hprintln!("firmware_echo: all checks passed");
        pass()
    } else {
        hprintln!("firmware_echo: FAILED");
        fail()
    }
}

fn split_head(response: &[u8]) -> (&[u8], &[u8]) {
    match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => response.split_at(i + 4),
        None => (response, &[]),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let key = b"\r\nContent-Length: ";
    let start = head.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = head[start..].iter().take_while(|b| b.is_ascii_digit());
    Some(digits.fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}
