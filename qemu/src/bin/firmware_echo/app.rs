//! The firmware's network application: serves the page on `GET /`, upgrades `GET /ws`
//! (from the device's own origin only) and echoes every message. This is the part a
//! device runs on each accepted TCP connection; `main.rs` around it only simulates the
//! network and checks the results.

use embedded_io::{Read, Write};
use ws13::blocking::Incoming;
use ws13::{Error, Event};

pub use crate::page::{Served, ORIGIN, PAGE, PROTOCOL};

/// Receive and transmit buffers: fixed, static, sized for the application. 1 KiB each
/// holds any control frame (the minimum is `ws13::blocking::MIN_BUFFER`, 131 bytes) and
/// a typical request head; larger messages pass through in pieces.
pub static mut RX: [u8; 1024] = [0; 1024];
pub static mut TX: [u8; 1024] = [0; 1024];

/// Serves one connection on `socket`: the device's whole network application.
pub fn serve<T: Read + Write>(
    socket: T,
    rx: &mut [u8],
    tx: &mut [u8],
) -> Result<Served, Error<T::Error>> {
    let mut incoming = Incoming::new(socket, rx);
    // Malformed requests and invalid upgrades (bad key, wrong version, ...) are refused
    // with their HTTP status inside `read`.
    let request = incoming.read()?;
    let upgrade = request.is_upgrade();
    let page = request.method() == "GET" && request.path() == "/";
    // Browsers send Origin: only the device's own page may open the socket.
    let allowed = request.path() == "/ws" && request.origin().is_none_or(|o| o == ORIGIN);
    let protocol = request.offers_protocol(PROTOCOL).then_some(PROTOCOL);
    if !upgrade {
        if page {
            let html = [("Content-Type", "text/html; charset=utf-8")];
            incoming.respond(200, &html, PAGE)?;
            return Ok(Served::Page);
        }
        incoming.respond(404, &[("Content-Type", "text/plain")], b"not found\n")?;
        return Ok(Served::NotFound);
    }
    if !allowed {
        incoming.reject(403)?;
        return Ok(Served::Forbidden);
    }
    let mut ws = incoming.accept(tx, protocol)?;
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let (event, mut writer) = ws.read_split()?;
        match event {
            // Echo each piece as it arrives, whatever the message's size.
            Event::Data(piece) => {
                writer.write_fragment(piece.kind, piece.payload, piece.last)?;
                bytes += piece.payload.len() as u32;
                messages += u32::from(piece.last);
            }
            // ws13 has already echoed the close.
            Event::Close(_) => return Ok(Served::Echo { messages, bytes }),
            // ws13 answers pings itself; pongs need nothing.
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}
