//! The async firmware: firmware_lean's application (page, upgrade, echo) on ws13's async
//! driver, run by embassy-executor's thread-mode executor, with nothing else around it.
//! It measures what ws13's async driver costs a device next to the blocking one (see
//! scripts/firmware-size.sh). Under QEMU, a fixed byte stream stands in for the network
//! (firmware_lean's: a `GET /`, then an upgrade with a masked "Hello" and a close), and
//! it exits with success only if both connections were served as expected.
#![no_std]
#![no_main]

mod app;
#[path = "../../../../src/bin/firmware_echo/page.rs"]
mod page;
#[path = "../../../../src/bin/firmware_echo/stack.rs"]
mod stack;

use core::ptr::addr_of_mut;

use app::{serve, Served, RX, TX};
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use embassy_executor::Spawner;
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

/// What arrives on the two connections (firmware_lean's).
const CONNECTIONS: [&[u8]; 2] = [
    b"GET / HTTP/1.1\r\nHost: device.local\r\n\r\n",
    // RFC 6455's sample key; "Hello" masked as in RFC 6455 5.7; close 1000 masked.
    b"GET /ws HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n\
      Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
      Origin: http://device.local\r\nSec-WebSocket-Protocol: ws13.echo\r\n\
      Sec-WebSocket-Version: 13\r\n\r\n\
      \x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58\
      \x88\x82\x37\xfa\x21\x3d\x34\x12",
];

/// A stand-in for a TCP socket: reads a fixed stream, counts and sums what is written.
struct Wire {
    input: &'static [u8],
    written: usize,
    sum: u32,
}

impl Wire {
    const fn new(input: &'static [u8]) -> Self {
        Wire {
            input,
            written: 0,
            sum: 0,
        }
    }
}

impl ErrorType for Wire {
    type Error = ErrorKind;
}

impl Read for Wire {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(self.input.len());
        let (now, later) = self.input.split_at(n);
        buf[..n].copy_from_slice(now);
        self.input = later;
        Ok(n)
    }
}

impl Write for Wire {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.written += buf.len();
        for &b in buf {
            self.sum = self.sum.rotate_left(5) ^ u32::from(b);
        }
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    // SAFETY: the only references ever made to these statics, made once, here.
    let (rx, tx) = unsafe { (&mut *addr_of_mut!(RX), &mut *addr_of_mut!(TX)) };
    let painted = stack::paint();
    let mut page = Wire::new(CONNECTIONS[0]);
    let page_ok = matches!(serve(&mut page, rx, tx).await, Ok(Served::Page));
    let mut socket = Wire::new(CONNECTIONS[1]);
    let serving = serve(&mut socket, rx, tx);
    // The future lives in this task's static storage, not on the stack.
    let future = core::mem::size_of_val(&serving);
    let echo_ok = matches!(
        serving.await,
        Ok(Served::Echo {
            messages: 1,
            bytes: 5
        })
    );
    let used = painted.used();
    // 101 response (164 bytes with the subprotocol) + "Hello" echoed (7) + close echoed (4).
    let socket_ok = socket.written == 164 + 7 + 4;
    let page_len_ok = page.written > app::PAGE.len();
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"firmware_async: page ");
        let _ = out.write_all(if page_ok && page_len_ok {
            b"ok"
        } else {
            b"FAILED"
        });
        let _ = out.write_all(b", socket ");
        let _ = out.write_all(if echo_ok && socket_ok {
            b"ok"
        } else {
            b"FAILED"
        });
        let _ = out.write_all(b", stack used by serve(): ");
        let _ = out.write_all(decimal(used.below_main as u32, &mut [0; 10]));
        let _ = out.write_all(b" bytes, serve()'s future: ");
        let _ = out.write_all(decimal(future as u32, &mut [0; 10]));
        let _ = out.write_all(b" bytes, output checksum ");
        let _ = out.write_all(decimal(page.sum ^ socket.sum, &mut [0; 10]));
        let _ = out.write_all(b"\n");
    }
    if page_ok && page_len_ok && echo_ok && socket_ok {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
}

fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[exception]
unsafe fn HardFault(_: &ExceptionFrame) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
