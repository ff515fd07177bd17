//! The firmware's network application on ws13's async driver: the blocking firmware's
//! (qemu/src/bin/firmware_echo/app.rs), awaited. It serves the page on `GET /`, upgrades
//! `GET /ws` (from the device's own origin only) and echoes every message.

use embedded_io_async::{Read, Write};
use ws13::asynch::Incoming;
use ws13::{Error, Event};

pub use crate::page::{Served, ORIGIN, PAGE, PROTOCOL};

/// Receive and transmit buffers: fixed, static, the blocking firmware's sizes.
pub static mut RX: [u8; 1024] = [0; 1024];
pub static mut TX: [u8; 1024] = [0; 1024];

/// Serves one connection on `socket`: the device's whole network application.
pub async fn serve<T: Read + Write>(
    socket: T,
    rx: &mut [u8],
    tx: &mut [u8],
) -> Result<Served, Error<T::Error>> {
    let mut incoming = Incoming::new(socket, rx);
    // Malformed requests and invalid upgrades are refused with their HTTP status here.
    let request = incoming.read().await?;
    let upgrade = request.is_upgrade();
    let page = request.method() == "GET" && request.path() == "/";
    // Browsers send Origin: only the device's own page may open the socket.
    let allowed = request.path() == "/ws" && request.origin().is_none_or(|o| o == ORIGIN);
    let protocol = request.offers_protocol(PROTOCOL).then_some(PROTOCOL);
    if !upgrade {
        if page {
            let html = [("Content-Type", "text/html; charset=utf-8")];
            incoming.respond(200, &html, PAGE).await?;
            return Ok(Served::Page);
        }
        let text = [("Content-Type", "text/plain")];
        incoming.respond(404, &text, b"not found\n").await?;
        return Ok(Served::NotFound);
    }
    if !allowed {
        incoming.reject(403).await?;
        return Ok(Served::Forbidden);
    }
    let mut ws = incoming.accept(tx, protocol)?;
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let (event, mut writer) = ws.read_split().await?;
        match event {
            // Echo each piece as it arrives, whatever the message's size.
            Event::Data(piece) => {
                writer
                    .write_fragment(piece.kind, piece.payload, piece.last)
                    .await?;
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
