//! Echo server: serves a small page on `GET /` and echoes every WebSocket message.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR]      (default 127.0.0.1:9001)
//! ```
//!
//! One thread per connection, each with 64 KiB of buffers (46 KiB to receive, 16 KiB to
//! send): messages of any size are streamed through, piece by piece, never collected.
//! Binary frames go back as they came, one frame for one, their payload sent on as it
//! arrives; text goes back as fragments, one per piece received, so that a message found
//! to be invalid UTF-8 part-way can still be refused with 1007 (inside a frame already
//! started, no close frame could be sent). Subprotocol `ws13.echo` is selected when the
//! client offers it. One log line per connection.
//!
//! A client must send its whole request within 10 s. A connection silent for 30 s gets
//! a ping, and is closed with 1001 if nothing comes back within 10 s more.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ws13::proto::Keepalive;
use ws13::{net, Error, Event, Message, MessageKind};

const PAGE: &str = include_str!("echo_page.html");
/// Receive buffer: the larger share, so that each read moves more of a big message.
const RX: usize = 46 * 1024;
/// Transmit buffer: gathers small frames; a large piece is written from the receive buffer.
const TX: usize = 16 * 1024;
/// Between the two, so their addresses differ in the low bits (see `serve`).
const GAP: usize = 2 * 1024;
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How often a quiet connection wakes up to look at its keepalive.
const TICK: Duration = Duration::from_secs(1);
const KEEPALIVE_INTERVAL_MS: u64 = 30_000;
const KEEPALIVE_TIMEOUT_MS: u64 = 10_000;

/// What one connection did, for its log line.
#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
}

fn serve(stream: &TcpStream, stats: &mut Stats) -> Result<&'static str, Error<std::io::Error>> {
    // One allocation of 64 KiB, the transmit buffer 2 KiB past the receive buffer: copying
    // between buffers whose addresses share their low 12 bits is slow on some CPUs.
    let mut buffers = vec![0u8; RX + GAP + TX];
    let (rx, rest) = buffers.split_at_mut(RX);
    let tx = rest.get_mut(GAP..).unwrap_or_default();
    let mut incoming = net::accept_within(stream, rx, HANDSHAKE_DEADLINE, Some(TICK))?;
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

fn handle(stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    // A client that stops reading cannot hold the thread in a write forever.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut stats = Stats::default();
    // The connection borrows the stream, so it is still here to close gracefully
    // however the connection ended.
    let outcome = match serve(&stream, &mut stats) {
        Ok(what) => what.to_string(),
        Err(e) => format!("error: {e}"),
    };
    net::linger(&stream, Duration::from_secs(2));
    eprintln!(
        "{peer}: {outcome}; {} messages, {} bytes echoed",
        stats.messages, stats.bytes
    );
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("echo_server: listening on http://{addr}/ (open it in a browser)");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let spawned = std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || handle(stream));
                if let Err(e) = spawned {
                    eprintln!("echo_server: cannot start a thread: {e}");
                }
            }
            Err(e) => {
                // Out of file descriptors, say: wait before trying again, not in a busy loop.
                eprintln!("echo_server: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
