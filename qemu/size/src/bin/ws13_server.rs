//! The skeleton and a ws13 server: on `GET /` it answers the page, on an upgrade it accepts
//! and echoes every frame until the client closes (ws13 echoes the close).
//!
//! Written against ws13's `blocking` API (`Incoming::read`, `respond`, `accept`,
//! `read_split`, `Writer::relay`); the whole server is `serve_ws13`.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use embedded_io::{Read, Write};
use ws13::blocking::Incoming;
use ws13::{Error, Event};
use ws13_size::{firmware, Expect, Wire, PAGE};

firmware!("ws13_server", Expect::Server, serve);

/// Transmit buffer: room for the 101 and for frames gathered before a write.
static mut TX: [u8; 1024] = [0; 1024];

fn serve(wire: &mut Wire, rx: &mut [u8]) -> bool {
    // SAFETY: the only reference to TX; `serve` is never re-entered.
    let tx = unsafe { &mut *addr_of_mut!(TX) };
    serve_ws13(wire, rx, tx).is_ok()
}

fn serve_ws13<T: Read + Write>(io: T, rx: &mut [u8], tx: &mut [u8]) -> Result<(), Error<T::Error>> {
    let mut incoming = Incoming::new(io, rx);
    if !incoming.read()?.is_upgrade() {
        let headers = [("Content-Type", "text/html; charset=utf-8")];
        return incoming.respond(200, &headers, PAGE.as_bytes());
    }
    let mut ws = incoming.accept(tx, None)?;
    loop {
        match ws.read_split()? {
            // Each frame goes back as it came, even when it arrives in pieces.
            (Event::Data(piece), mut writer) => writer.relay(&piece)?,
            // ws13 has echoed the close already (and answers pings itself).
            (Event::Close(_), _) => return Ok(()),
            _ => {}
        }
    }
}
