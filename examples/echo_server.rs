//! Echo server: serves a small page on `GET /` and echoes every WebSocket message.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR]      (default 127.0.0.1:9001)
//! ```
//!
//! One thread per connection, each with 32 KiB to receive and 32 KiB to send: messages
//! of any size are streamed through, piece by piece, never collected. Subprotocol
//! `ws13.echo` is selected when the client offers it. One log line per connection.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ws13::blocking::Error;
use ws13::net;
use ws13::proto::Event;

const PAGE: &str = include_str!("echo_page.html");
const BUFFER: usize = 32 * 1024;

/// What one connection did, for its log line.
#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
}

fn serve(stream: TcpStream, stats: &mut Stats) -> Result<&'static str, Error<std::io::Error>> {
    let mut rx = vec![0u8; BUFFER];
    let mut tx = vec![0u8; BUFFER];
    let incoming = net::accept(stream, &mut rx)?;
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
    let mut ws = incoming.accept(&mut tx, protocol)?;
    loop {
        let (event, mut writer) = ws.read_split()?;
        match event {
            Event::Data {
                kind,
                last,
                payload,
                ..
            } => {
                stats.bytes += payload.len() as u64;
                if last {
                    stats.messages += 1;
                }
                writer.send_fragment(kind, payload, last)?;
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
    // A peer that goes silent for a minute is let go, so it cannot hold a thread forever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let mut stats = Stats::default();
    let lingering = stream.try_clone();
    let outcome = match serve(stream, &mut stats) {
        Ok(what) => what.to_string(),
        Err(e) => format!("error: {e}"),
    };
    if let Ok(stream) = lingering {
        net::linger(&stream, Duration::from_secs(2));
    }
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
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}
