//! Echo server on tokio, through ws13's async driver: the same behaviour and page as
//! `echo_server`, one task per connection.
//!
//! ```text
//! cargo run --release --features async --example async_echo_server -- [ADDR]   (default 127.0.0.1:9001)
//! ```
//!
//! Each connection has 64 KiB of buffers (46 KiB to receive, 16 KiB to send): messages
//! of any size stream through, never collected. Binary frames go back as they came, one
//! frame for one; text goes back as fragments, so that invalid UTF-8 found part-way can
//! still be refused with 1007. Subprotocol `ws13.echo` is selected when offered. A client
//! must send its whole request within 10 s; a connection silent for 30 s gets a ping, and
//! is closed with 1001 if nothing comes back within 10 s more.

use std::time::{Duration, Instant};

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::net::{TcpListener, TcpStream};
use ws13::asynch::Incoming;
use ws13::proto::Keepalive;
use ws13::{Error, Event, Message, MessageKind};

const PAGE: &str = include_str!("echo_page.html");
const RX: usize = 46 * 1024;
const TX: usize = 16 * 1024;
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

async fn serve(
    stream: &mut TcpStream,
    stats: &mut Stats,
) -> Result<&'static str, Error<std::io::Error>> {
    let mut buffers = vec![0u8; RX + TX];
    let (rx, tx) = buffers.split_at_mut(RX);
    let mut incoming = Incoming::new(FromTokio::new(stream), rx);
    let request = match tokio::time::timeout(HANDSHAKE_DEADLINE, incoming.read()).await {
        Ok(request) => request?,
        Err(_) => return Ok("no whole request within the deadline"),
    };
    if !request.is_upgrade() {
        return match (request.method(), request.path()) {
            ("GET", "/") => {
                let headers = [("Content-Type", "text/html; charset=utf-8")];
                incoming.respond(200, &headers, PAGE.as_bytes()).await?;
                Ok("served page")
            }
            ("GET", _) => {
                let headers = [("Content-Type", "text/plain")];
                incoming.respond(404, &headers, b"not found\n").await?;
                Ok("404")
            }
            _ => {
                incoming.respond(405, &[("Allow", "GET")], b"").await?;
                Ok("405")
            }
        };
    }
    let protocol = request.offers_protocol("ws13.echo").then_some("ws13.echo");
    let mut ws = incoming.accept(tx, protocol)?;
    let start = Instant::now();
    let now_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut keepalive = Keepalive::new(KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS, now_ms());
    loop {
        // A read cut short by the tick is taken up again by the next call.
        let (event, mut writer) = match tokio::time::timeout(TICK, ws.read_split()).await {
            Ok(split) => split?,
            Err(_) => {
                // A ping, or the close (1001) when the last one went unanswered.
                if let Some(message) = keepalive.due(now_ms()) {
                    ws.send(message).await?;
                    if let Message::Close(_) = message {
                        return Ok("no answer to keepalive ping: closed with 1001");
                    }
                }
                continue;
            }
        };
        keepalive.seen(now_ms());
        match event {
            Event::Data(piece) => {
                stats.bytes += piece.payload.len() as u64;
                if piece.last {
                    stats.messages += 1;
                }
                if piece.kind == MessageKind::Binary {
                    writer.relay(&piece).await?;
                } else {
                    writer
                        .write_fragment(piece.kind, piece.payload, piece.last)
                        .await?;
                }
            }
            Event::Close(_) => return Ok("closed"),
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}

/// Ends a TCP connection gracefully once its WebSocket is done: shuts down the sending
/// side so the peer reads every byte and then the end, and drains what the peer still
/// sends until it closes too (closing with unread bytes would reset the connection, and
/// the peer could lose the close frame).
async fn linger(stream: &mut TcpStream, wait: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(wait, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn handle(mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let mut stats = Stats::default();
    let outcome = match serve(&mut stream, &mut stats).await {
        Ok(what) => what.to_string(),
        Err(e) => format!("error: {e}"),
    };
    linger(&mut stream, Duration::from_secs(2)).await;
    eprintln!(
        "{peer}: {outcome}; {} messages, {} bytes echoed",
        stats.messages, stats.bytes
    );
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("async_echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("async_echo_server: listening on http://{addr}/ (open it in a browser)");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream));
            }
            Err(e) => {
                eprintln!("async_echo_server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
