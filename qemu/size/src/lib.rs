//! The firmware skeleton that the three binaries share: a scripted transport, the scripted
//! input (what a Chromium browser sends), stack painting, the checks of the output, and the
//! search for the smallest receive buffer.
//!
//! A binary supplies only its server: `fn(&mut Wire, &mut [u8]) -> bool`, called once for
//! each connection with the transport and the receive buffer. Everything else is here and
//! is the same code in every binary, so that a binary's size over `skeleton`'s is its
//! server's: the checks for both kinds of binary are always compiled in (the kind is
//! hidden from the optimizer), and the skeleton's own "server" only copies its input.
#![no_std]

use core::ptr::addr_of_mut;

use cortex_m_semihosting::{debug, hio};
use embedded_io::{ErrorKind, ErrorType, Read, Write};

/// What the browser sends on the first connection, one TCP segment an entry: a real
/// Chromium (Chrome 131, Linux) upgrade request, with its headers in Chromium's order,
/// then a masked text frame "hello", then a masked close frame with code 1000. The
/// browser sends the frames only after the 101 has arrived, so they never share a segment
/// with the request.
pub const UPGRADE: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n\
      Host: 192.168.4.1\r\n\
      Connection: Upgrade\r\n\
      Pragma: no-cache\r\n\
      Cache-Control: no-cache\r\n\
      User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
      Chrome/131.0.0.0 Safari/537.36\r\n\
      Upgrade: websocket\r\n\
      Origin: http://192.168.4.1\r\n\
      Sec-WebSocket-Version: 13\r\n\
      Accept-Encoding: gzip, deflate\r\n\
      Accept-Language: en-US,en;q=0.9\r\n\
      Sec-WebSocket-Key: jB0+Xwp7ksTW6PGjtcfZ4g==\r\n\
      Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
      \r\n",
    // FIN + text, masked, 5 bytes; key a3 f1 09 4c; "hello" masked.
    b"\x81\x85\xa3\xf1\x09\x4c\xcb\x94\x65\x20\xcc",
    // FIN + close, masked, 2 bytes; same key; 1000 (03 e8) masked.
    b"\x88\x82\xa3\xf1\x09\x4c\xa0\x19",
];

/// `Sec-WebSocket-Accept` for the key above: base64(SHA-1(key + RFC 6455's GUID)).
pub const ACCEPT: &[u8] = b"Fgwm9Hyn91uIeXApIXBW3+SUPDQ=";

/// What the server must send after the 101's head: "hello" in an unmasked text frame,
/// then the close echoed with the client's code.
pub const ECHO: &[u8] = b"\x81\x05hello\x88\x02\x03\xe8";

/// What the browser sends on the second connection: Chromium opening the page.
pub const PAGE_REQUEST: &[&[u8]] = &[b"GET / HTTP/1.1\r\n\
      Host: 192.168.4.1\r\n\
      Connection: keep-alive\r\n\
      Upgrade-Insecure-Requests: 1\r\n\
      User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
      Chrome/131.0.0.0 Safari/537.36\r\n\
      Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
      image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n\
      Accept-Encoding: gzip, deflate\r\n\
      Accept-Language: en-US,en;q=0.9\r\n\
      \r\n"];

/// The page's body, as a macro so that a server may `concat!` it into a response.
#[macro_export]
macro_rules! page {
    () => {
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>echo</title></head>\
         <body><script>const s=new WebSocket('ws://'+location.host+'/');\
         s.onmessage=e=>document.body.append(e.data);s.onopen=()=>s.send('hello')\
         </script></body></html>"
    };
}

/// The page the server answers `GET /` with.
pub const PAGE: &str = page!();

/// Receive buffer handed to the server, and the largest size the search tries.
pub const RX_LEN: usize = 1024;
/// Room for what the server writes on one connection.
const OUT_LEN: usize = 1024;

static mut RX: [u8; RX_LEN] = [0; RX_LEN];
static mut OUT: [[u8; OUT_LEN]; 2] = [[0; OUT_LEN]; 2];

/// The transport: reads the scripted segments (one read never crosses a segment, as
/// one read of a TCP socket returns what has arrived) and keeps what is written.
pub struct Wire {
    input: &'static [&'static [u8]],
    offset: usize,
    out: &'static mut [u8],
    written: usize,
}

impl Wire {
    fn new(input: &'static [&'static [u8]], out: &'static mut [u8]) -> Self {
        Wire {
            input,
            offset: 0,
            out,
            written: 0,
        }
    }

    fn reset(&mut self, input: &'static [&'static [u8]]) {
        self.input = input;
        self.offset = 0;
        self.written = 0;
    }

    /// What the server wrote.
    pub fn output(&self) -> &[u8] {
        &self.out[..self.written]
    }
}

impl ErrorType for Wire {
    type Error = ErrorKind;
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let Some((segment, rest)) = self.input.split_first() else {
            return Ok(0);
        };
        let left = &segment[self.offset..];
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.offset += n;
        if self.offset == segment.len() {
            self.input = rest;
            self.offset = 0;
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let room = &mut self.out[self.written..];
        if room.is_empty() && !buf.is_empty() {
            return Err(ErrorKind::Other);
        }
        let n = room.len().min(buf.len());
        room[..n].copy_from_slice(&buf[..n]);
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The two connections the browser opens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// [`UPGRADE`]: the WebSocket, "hello" and the close.
    Upgrade,
    /// [`PAGE_REQUEST`]: the page.
    Page,
}

impl Connection {
    /// What the browser sends on it.
    pub fn input(self) -> &'static [&'static [u8]] {
        match self {
            Connection::Upgrade => UPGRADE,
            Connection::Page => PAGE_REQUEST,
        }
    }
}

/// What a binary's output must be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The input, copied (the skeleton).
    Copy,
    /// A WebSocket server's answers (see [`check_upgrade`] and [`check_page`]).
    Server,
}

/// Set while the buffer search runs: the panic handler then reports the size that
/// panicked instead of failing the run (the checked run has already passed).
static mut SEARCHING: usize = 0;
static mut NAME: &str = "";

/// Runs the firmware: both connections with the full receive buffer, the stack painted
/// around them; the checks; then the search for the smallest receive buffer. Exits
/// through semihosting, with success only if both connections were answered correctly.
pub fn run(
    name: &'static str,
    expect: Expect,
    mut serve: impl FnMut(&mut Wire, &mut [u8]) -> bool,
) -> ! {
    // SAFETY: the only references to these statics, made once, here (single core, no
    // interrupts use them).
    let (rx, out) = unsafe { (&mut *addr_of_mut!(RX), &mut *addr_of_mut!(OUT)) };
    let [out0, out1] = out;
    unsafe { NAME = name };
    let mut upgrade = Wire::new(UPGRADE, out0);
    let mut page = Wire::new(PAGE_REQUEST, out1);

    let painted = paint();
    let served = serve(&mut upgrade, &mut rx[..]) & serve(&mut page, &mut rx[..]);
    let stack = painted.used();

    // Both checks are in every binary: the optimizer cannot tell which one runs.
    let expect = core::hint::black_box(expect);
    let ok = served
        && check(expect, Connection::Upgrade, upgrade.output())
        && check(expect, Connection::Page, page.output());
    print(&[name, ": "]);
    print(&[if ok {
        "answers correct"
    } else {
        "answers WRONG"
    }]);
    print(&["; stack ", decimal(stack as u32, &mut [0; 10]), "\n"]);
    if !ok {
        exit(false);
    }

    // The smallest receive buffer: shrink it one byte at a time until a connection fails.
    let mut smallest = RX_LEN;
    for len in (1..RX_LEN).rev() {
        unsafe { SEARCHING = len };
        upgrade.reset(UPGRADE);
        page.reset(PAGE_REQUEST);
        let ok = serve(&mut upgrade, &mut rx[..len])
            && check(expect, Connection::Upgrade, upgrade.output())
            && serve(&mut page, &mut rx[..len])
            && check(expect, Connection::Page, page.output());
        if !ok {
            break;
        }
        smallest = len;
    }
    unsafe { SEARCHING = 0 };
    report_smallest(name, smallest, "");
    exit(true)
}

fn report_smallest(name: &str, smallest: usize, how: &str) {
    print(&[
        name,
        ": min-rx ",
        decimal(smallest as u32, &mut [0; 10]),
        how,
        "\n",
    ]);
}

/// Whether `out` is the right answer on `connection`.
#[inline(never)]
pub fn check(expect: Expect, connection: Connection, out: &[u8]) -> bool {
    match expect {
        Expect::Copy => {
            let mut rest = out;
            for segment in connection.input() {
                match rest.strip_prefix(*segment) {
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            rest.is_empty()
        }
        Expect::Server => match connection {
            Connection::Upgrade => check_upgrade(out),
            Connection::Page => check_page(out),
        },
    }
}

/// A 101 with the right `Sec-WebSocket-Accept`, `Upgrade` and `Connection`, then exactly
/// [`ECHO`].
pub fn check_upgrade(out: &[u8]) -> bool {
    let Some((head, rest)) = split_head(out, b"HTTP/1.1 101 ") else {
        return false;
    };
    header(head, b"sec-websocket-accept") == Some(ACCEPT)
        && header(head, b"upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"))
        && header(head, b"connection").is_some_and(|v| v.eq_ignore_ascii_case(b"upgrade"))
        && rest == ECHO
}

/// A 200 with a `text/html` `Content-Type`, a `Content-Length` that matches, and [`PAGE`].
pub fn check_page(out: &[u8]) -> bool {
    let Some((head, body)) = split_head(out, b"HTTP/1.1 200 ") else {
        return false;
    };
    header(head, b"content-type").is_some_and(|v| v.starts_with(b"text/html"))
        && header(head, b"content-length")
            == Some(decimal(PAGE.len() as u32, &mut [0; 10]).as_bytes())
        && body == PAGE.as_bytes()
}

/// The head (status line and headers) and what follows it, if `out` starts with `status`.
fn split_head<'a>(out: &'a [u8], status: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if !out.starts_with(status) {
        return None;
    }
    let end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&out[..end + 2], &out[end + 4..]))
}

/// The value of header `name` (lower case) in `head`, trimmed.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (n, v) = line.split_at(colon);
        n.eq_ignore_ascii_case(name).then(|| v[1..].trim_ascii())
    })
}

/// `n` in decimal, in `buf`.
pub fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("?")
}

fn print(parts: &[&str]) {
    if let Ok(mut out) = hio::hstdout() {
        for part in parts {
            let _ = out.write_all(part.as_bytes());
        }
    }
}

/// Ends the QEMU run with success or failure.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A panic fails the run, except in the buffer search after the checked run passed: a
/// server that panics on a too-small buffer ends the search there.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    let (searching, name) = unsafe { (SEARCHING, NAME) };
    if searching == 0 {
        print(&["panic\n"]);
        exit(false);
    }
    report_smallest(name, searching + 1, " (a panic below)");
    exit(true)
}

/// The fault handler and entry point of a firmware: `firmware!(name, expect, serve)`.
#[macro_export]
macro_rules! firmware {
    ($name:expr, $expect:expr, $serve:expr) => {
        #[cortex_m_rt::entry]
        fn main() -> ! {
            $crate::run($name, $expect, $serve)
        }

        #[cortex_m_rt::exception]
        unsafe fn HardFault(_: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::exit(false)
        }
    };
}

// Stack measurement by painting: fill the free RAM below the stack pointer with a pattern,
// run, and find the lowest word that changed.

const PAINT: u32 = 0xC0DE_5A5A;

extern "C" {
    /// cortex-m-rt: the lowest address the stack may reach (end of the statics).
    static mut _stack_end: u32;
}

struct Painted {
    bottom: usize,
    top: usize,
}

/// Paints from the bottom of the stack region to a little below this function's frame.
#[inline(never)]
fn paint() -> Painted {
    let bottom = addr_of_mut!(_stack_end) as usize;
    let top = (cortex_m::register::msp::read() as usize - 64) & !3;
    let mut p = bottom;
    while p < top {
        // SAFETY: free RAM between the statics and the live stack.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    Painted { bottom, top }
}

impl Painted {
    /// Bytes written below the painted top since `paint`.
    fn used(&self) -> usize {
        let mut p = self.bottom;
        // SAFETY: the RAM `paint` wrote.
        while p < self.top && unsafe { (p as *const u32).read_volatile() } == PAINT {
            p += 4;
        }
        self.top - p
    }
}
