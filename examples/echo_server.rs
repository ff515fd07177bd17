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
//! a ping, and is closed with 1001 if nothing comes back within 10 s more. (The page and
//! the echo are in examples/shared/echo.rs, which wss_echo_server shares.)

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ws13::{net, Error};

#[path = "shared/echo.rs"]
mod echo;

use echo::{Buffers, Stats};

fn serve(stream: &TcpStream, stats: &mut Stats) -> Result<&'static str, Error<std::io::Error>> {
    let mut buffers = Buffers::new();
    let (rx, tx) = buffers.split();
    let incoming = net::accept_within(stream, rx, echo::HANDSHAKE_DEADLINE, Some(echo::TICK))?;
    echo::answer(incoming, tx, stats)
}

fn handle(stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    // A client that stops reading cannot hold the thread in a write forever.
    let _ = stream.set_write_timeout(Some(echo::WRITE_TIMEOUT));
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
