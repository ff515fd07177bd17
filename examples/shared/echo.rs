//! What `echo_server` and `wss_echo_server` serve, over any transport: the page on
//! `GET /`, 404 and 405 for other requests, and an echo of every WebSocket message.
//! (Included by both with `#[path]`; not an example of its own.)
//!
//! Messages of any size are streamed through, piece by piece, never collected. Binary
//! frames go back as they came, one frame for one, their payload sent on as it arrives;
//! text goes back as fragments, one per piece received, so that a message found to be
//! invalid UTF-8 part-way can still be refused with 1007 (inside a frame already started,
//! no close frame could be sent). Subprotocol `ws13.echo` is selected when the client
//! offers it. A connection silent for 30 s gets a ping, and is closed with 1001 if
//! nothing comes back within 10 s more: the transport's reads must time out every
//! [`TICK`] of silence for that.

use std::time::{Duration, Instant};

use embedded_io::{Read, Write};
use ws13::blocking::Incoming;
use ws13::proto::Keepalive;
use ws13::{Error, Event, Message, MessageKind};

const PAGE: &str = include_str!("../echo_page.html");
/// Receive buffer: the larger share, so that each read moves more of a big message.
const RX: usize = 46 * 1024;
/// Transmit buffer: gathers small frames; a large piece is written from the receive buffer.
const TX: usize = 16 * 1024;
/// Between the two, so their addresses differ in the low bits (see [`Buffers`]).
const GAP: usize = 2 * 1024;
/// How long a client may take to send its whole request (and, over TLS, its handshake).
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How often a quiet connection wakes up to look at its keepalive: the read timeout.
pub const TICK: Duration = Duration::from_secs(1);
/// A client that stops reading cannot hold a thread in a write for longer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL_MS: u64 = 30_000;
const KEEPALIVE_TIMEOUT_MS: u64 = 10_000;

/// What one connection did, for its log line.
#[derive(Default)]
pub struct Stats {
    pub messages: u64,
    pub bytes: u64,
}

/// One connection's 64 KiB of buffers, in one allocation, the transmit buffer 2 KiB past
/// the receive buffer: copying between buffers whose addresses share their low 12 bits is
/// slow on some CPUs.
pub struct Buffers(Vec<u8>);

impl Buffers {
    pub fn new() -> Self {
        Buffers(vec![0u8; RX + GAP + TX])
    }

    /// The receive and the transmit buffer.
    pub fn split(&mut self) -> (&mut [u8], &mut [u8]) {
        let (rx, rest) = self.0.split_at_mut(RX);
        (rx, rest.get_mut(GAP..).unwrap_or_default())
    }
}

/// Answers a request that has been read: the page, a 404 or 405, or the upgrade and the
/// echo until the connection ends. Returns what happened, for the log line.
pub fn answer<T: Read + Write>(
    mut incoming: Incoming<'_, T>,
    tx: &mut [u8],
    stats: &mut Stats,
) -> Result<&'static str, Error<T::Error>> {
    let request = incoming.request();
    if !request.is_upgrade() {
        return match (request.method(), request.path()) {
            ("GET", "/") => {
                incoming.respond(
                    200,
                    &[("Content-Type", "text/html; charset=utf-8")],
                    PAGE.as_bytes(),
                )?;
                Ok("served page")
            }
            ("GET", _) => {
                incoming.respond(404, &[("Content-Type", "text/plain")], b"not found\n")?;
                Ok("404")
            }
            _ => {
                incoming.respond(405, &[("Allow", "GET")], b"")?;
                Ok("405")
            }
        };
    }
    let protocol = request.offers_protocol("ws13.echo").then_some("ws13.echo");
    let mut ws = incoming.accept(tx, protocol)?;
    // Time for the keepalive is read here, in the driver, and passed into the core; only
    // when a read times out (every TICK of silence), not for every event.
    let start = Instant::now();
    let now_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut keepalive = Keepalive::new(KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS, now_ms());
    let mut heard = false;
    loop {
        let (event, mut writer) = match ws.read_split() {
            Ok(split) => split,
            Err(e) if e.is_timeout() => {
                let now = now_ms();
                if std::mem::take(&mut heard) {
                    keepalive.seen(now);
                }
                // A ping, or the close (1001) when the last one went unanswered; behind a
                // frame being relayed, it waits for the frame.
                if let Some(message) = keepalive.due(now) {
                    ws.send(message)?;
                    if let Message::Close(_) = message {
                        return Ok("no answer to keepalive ping: closed with 1001");
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        heard = true;
        match event {
            Event::Data(piece) => {
                stats.bytes += piece.payload.len() as u64;
                if piece.last {
                    stats.messages += 1;
                }
                if piece.kind == MessageKind::Binary {
                    writer.relay(&piece)?;
                } else {
                    writer.write_fragment(piece.kind, piece.payload, piece.last)?;
                }
            }
            Event::Close(_) => return Ok("closed"),
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}
