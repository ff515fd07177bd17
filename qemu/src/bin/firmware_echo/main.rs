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
//! with success or failure. The browser is made of the test kit's parts: a scripted
//! transport (`Script`), frames masked as a client masks them (`Frames`), and the
//! checking decoder a peer would read with (`Decoder`, `expect_messages`).
#![no_std]
#![no_main]

mod app;
mod page;
mod stack;

use core::ptr::addr_of_mut;

use app::{serve, Served, ORIGIN, RX, TX};
use cortex_m_rt::entry;
use ws13::frame::OpCode;
use ws13::handshake::client::{ClientRequest, ResponseParser};
use ws13::proto::Role;
use ws13::{CloseCode, CloseFrame, MaskSource, Message};
use ws13_qemu::{fail, hprintln, pass};
use ws13_testkit::consts::head_len;
use ws13_testkit::wire::{expect_messages, Decoder, Frames, Keys};
use ws13_testkit::{Faults, Fixed, Script, TestMask};

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
const UPGRADE: ClientRequest<'static> = ClientRequest::new("device.local", "/ws")
    .protocols(&["ws13.echo"])
    .headers(&[
        ("Origin", ORIGIN),
        ("User-Agent", "Mozilla/5.0 (ws13 firmware test)"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        ),
    ]);

/// The same from a page on another site.
const FOREIGN_UPGRADE: ClientRequest<'static> =
    UPGRADE.headers(&[("Origin", "http://evil.example")]);

/// The browser's side of the connections: what it sends and what it receives.
struct Browser {
    request: [u8; 512],
    script: [u8; 8192],
    foreign: [u8; 512],
    page: [u8; 2048],
    missing: [u8; 512],
    refused: [u8; 512],
    socket: [u8; 8192],
    scratch: [u8; 4096],
}

static mut BROWSER: Browser = Browser {
    request: [0; 512],
    script: [0; 8192],
    foreign: [0; 512],
    page: [0; 2048],
    missing: [0; 512],
    refused: [0; 512],
    socket: [0; 8192],
    scratch: [0; 4096],
};

/// A binary message three times the size of the device's buffers.
fn blob() -> [u8; 3000] {
    core::array::from_fn(|i| (i * 13 + i / 256) as u8)
}

/// What the browser sends on the WebSocket connection, into `script`; returns the
/// script's length and the key the browser used.
fn script_socket(request: &mut [u8], script: &mut [u8], mut masks: TestMask) -> (usize, [u8; 24]) {
    let mut nonce = [0u8; 16];
    masks.fill(&mut nonce);
    let Ok((len, key)) = UPGRADE.write(request, nonce) else {
        hprintln!("the upgrade request does not fit");
        fail()
    };
    let blob = blob();
    let mut frames = Frames::new(Fixed::new(script), Keys::Test(masks));
    frames
        .bytes(&request[..len])
        .text("hello from the browser")
        .binary(&blob)
        .frame(false, OpCode::Text, b"Hello, w\xc3")
        .ping(b"between fragments")
        .frame(true, OpCode::Continuation, b"\xb6rld")
        .ping(b"keepalive")
        // A browser leaving the page closes with 1001.
        .close(1001, "page closed");
    match frames.finish() {
        Ok(bytes) => (bytes.len(), key),
        Err(what) => {
            hprintln!("{}", what);
            fail()
        }
    }
}

/// A transport delivering `input` in segments, collecting what the device writes.
fn wire<'a>(input: &'a [u8], output: &'a mut [u8]) -> Script<'static, &'a [u8], Fixed<'a>> {
    Script::new(input, Fixed::new(output)).reads(Faults::NONE.max_chunk(SEGMENT))
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
    let (script_len, key) = script_socket(
        &mut browser.request,
        &mut browser.script,
        TestMask(0x5EED_1234),
    );
    let Ok((foreign_len, _)) = FOREIGN_UPGRADE.write(&mut browser.foreign, [7; 16]) else {
        hprintln!("the foreign upgrade request does not fit");
        fail()
    };

    // The connections, one after another, as the device's accept loop would take them.
    let painted = stack::paint();
    let mut page = wire(PAGE_REQUEST, &mut browser.page);
    let served_page = serve(&mut page, rx, tx);
    let mut missing = wire(MISSING_REQUEST, &mut browser.missing);
    let served_missing = serve(&mut missing, rx, tx);
    let mut refused = wire(&browser.foreign[..foreign_len], &mut browser.refused);
    let served_refused = serve(&mut refused, rx, tx);
    let mut socket = wire(&browser.script[..script_len], &mut browser.socket);
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
    let (head, body) = split_head(page.written());
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
        missing.written().starts_with(b"HTTP/1.1 404 Not Found\r\n"),
    );

    // 3. A WebSocket from another site's page: 403, no upgrade.
    report(
        "foreign Origin refused",
        matches!(served_refused, Ok(Served::Forbidden)),
    );
    report(
        "403 on the wire",
        refused.written().starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
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
    let out = socket.into_output().into_bytes();
    let accepted = match ResponseParser::new(&key).parse(out, UPGRADE.protocols) {
        Ok(ws13::Status::Complete(a)) => a,
        other => {
            hprintln!("  FAIL 101 response: {:?}", other);
            fail()
        }
    };
    report("101 with the right Sec-WebSocket-Accept", true);
    report("subprotocol ws13.echo chosen", accepted.protocol == Some(0));
    report(
        "permessage-deflate declined (no Sec-WebSocket-Extensions)",
        !contains(&out[..accepted.head_len], b"Sec-WebSocket-Extensions"),
    );
    let frames = &mut out[accepted.head_len..];
    let mut data_frames = 0;
    let decoded = Decoder::new(Role::Server).decode_all(frames, |frame| {
        data_frames += usize::from(!frame.opcode.is_control());
        Ok(())
    });
    report("browser reads valid frames", decoded.is_ok());
    report(
        "large message echoed in pieces (several frames)",
        data_frames > 3,
    );
    let blob = blob();
    let transcript = expect_messages(
        Role::Server,
        frames,
        &mut browser.scratch,
        &[
            Message::Text("hello from the browser"),
            Message::Binary(&blob),
            Message::Pong(b"between fragments"),
            Message::Text("Hello, wörld"),
            Message::Pong(b"keepalive"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "",
            })),
        ],
    );
    if let Err(what) = transcript {
        hprintln!("  transcript: {}", what);
    }
    report(
        "echoes, pongs and the close echo, in order",
        transcript.is_ok(),
    );

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
    match head_len(response) {
        Some(n) => response.split_at(n),
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
