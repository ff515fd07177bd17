//! ws13 with its `defmt` feature on an emulated Cortex-M3.
//!
//! A scripted browser opens a WebSocket, sends text, binary and a ping, then breaks the
//! protocol (an unmasked frame). Every event and the error are logged with defmt over
//! semihosting; the host decodes the log with `defmt-print` and checks it.

#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use embedded_io::{ErrorType, Read, Write};
use ws13::blocking::Incoming;
use ws13::frame::{apply_mask, FrameHeader, OpCode};

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://device.local\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The browser's side, played from a script; the device's answers are dropped.
struct Browser<'a> {
    input: &'a [u8],
    written: usize,
}

impl ErrorType for Browser<'_> {
    type Error = core::convert::Infallible;
}

impl Read for Browser<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // Seven bytes at a time: frames arrive split across reads.
        let n = buf.len().min(self.input.len()).min(7);
        let (head, rest) = self.input.split_at(n);
        buf[..n].copy_from_slice(head);
        self.input = rest;
        Ok(n)
    }
}

impl Write for Browser<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Appends a masked frame to `out[*len..]`.
fn frame(out: &mut [u8], len: &mut usize, opcode: OpCode, payload: &[u8]) {
    let key = [0x11, 0x22, 0x33, 0x44];
    let header = FrameHeader {
        fin: true,
        opcode,
        mask: Some(key),
        len: payload.len() as u64,
    };
    let h = header.emit();
    out[*len..*len + h.as_bytes().len()].copy_from_slice(h.as_bytes());
    *len += h.as_bytes().len();
    let body = &mut out[*len..*len + payload.len()];
    body.copy_from_slice(payload);
    apply_mask(body, key, 0);
    *len += payload.len();
}

#[entry]
fn main() -> ! {
    let mut script = [0u8; 512];
    let script = &mut script;
    let mut len = REQUEST.len();
    script[..len].copy_from_slice(REQUEST);
    frame(script, &mut len, OpCode::Text, "héllo".as_bytes());
    frame(script, &mut len, OpCode::Binary, &[1, 2, 3]);
    frame(script, &mut len, OpCode::Ping, b"are you there");
    // An unmasked frame from a client breaks the protocol.
    script[len..len + 3].copy_from_slice(&[0x81, 0x01, b'x']);
    len += 3;
    let browser = Browser {
        input: &script[..len],
        written: 0,
    };

    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let incoming = match Incoming::read(browser, &mut rx) {
        Ok(i) => i,
        Err(e) => {
            defmt::error!("handshake failed: {}", e);
            exit(false);
        }
    };
    let request = incoming.request();
    defmt::info!("request for {=str} from {=str}", request.path(), request.origin().unwrap_or("?"));
    let mut ws = match incoming.accept(&mut tx, None) {
        Ok(ws) => ws,
        Err(e) => {
            defmt::error!("accept failed: {}", e);
            exit(false);
        }
    };
    let (mut messages, mut pings) = (0, 0);
    let failed_as_expected = loop {
        match ws.read() {
            Ok(event) => {
                defmt::info!("event: {}", event);
                match event {
                    ws13::Event::Data { last: true, .. } => messages += 1,
                    ws13::Event::Ping(_) => pings += 1,
                    _ => {}
                }
            }
            Err(e) => {
                defmt::warn!("connection failed: {}", e);
                break matches!(
                    e,
                    ws13::blocking::Error::Protocol(ws13::proto::ProtocolError::UnmaskedFrame)
                );
            }
        }
    };
    let written = ws.into_inner().written;
    defmt::info!(
        "{=usize} messages, {=usize} pings, {=usize} bytes sent to the browser",
        messages,
        pings,
        written
    );
    exit(messages == 2 && pings == 1 && failed_as_expected);
}

fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic");
    exit(false)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault");
    exit(false)
}
