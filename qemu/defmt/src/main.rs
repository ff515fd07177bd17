//! ws13 with its `defmt` feature on an emulated Cortex-M3.
//!
//! A scripted browser (the test kit's `Script`, with frames from its `Frames`) opens a
//! WebSocket, sends text, binary and a ping, then breaks the protocol (an unmasked
//! frame). Every event and the error are logged with defmt over semihosting; the host
//! decodes the log with `defmt-print` and checks it.

#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use ws13::blocking::Incoming;
use ws13::frame::OpCode;
use ws13_testkit::wire::{write_frame, Frames, Keys};
use ws13_testkit::{Faults, Fixed, Script};

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://device.local\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[entry]
fn main() -> ! {
    let (mut script, mut out) = ([0u8; 512], [0u8; 512]);
    // An unmasked frame from a client breaks the protocol.
    let mut unmasked = [0u8; 8];
    let unmasked_len = write_frame(&mut unmasked, true, OpCode::Text, None, b"x").unwrap_or(0);
    let mut frames = Frames::new(
        Fixed::new(&mut script),
        Keys::Fixed([0x11, 0x22, 0x33, 0x44]),
    );
    frames
        .bytes(REQUEST)
        .text("héllo")
        .binary(&[1, 2, 3])
        .ping(b"are you there")
        .bytes(&unmasked[..unmasked_len]);
    let Ok(input) = frames.finish() else {
        defmt::error!("the script does not fit");
        exit(false)
    };
    // Seven bytes at a time: frames arrive split across reads.
    let mut browser = Script::new(input, Fixed::new(&mut out)).reads(Faults::NONE.max_chunk(7));

    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut incoming = Incoming::new(&mut browser, &mut rx);
    match incoming.read() {
        Ok(request) => defmt::info!(
            "request for {=str} from {=str}",
            request.path(),
            request.origin().unwrap_or("?")
        ),
        Err(e) => {
            defmt::error!("handshake failed: {}", e);
            exit(false);
        }
    }
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
                    ws13::Event::Data(piece) if piece.last => messages += 1,
                    ws13::Event::Ping(_) => pings += 1,
                    _ => {}
                }
            }
            Err(e) => {
                defmt::warn!("connection failed: {}", e);
                break matches!(e, ws13::Error::Protocol(ws13::ProtocolError::UnmaskedFrame));
            }
        }
    };
    let written = browser.written().len();
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
