//! Line client: sends each line of standard input as a text message and prints each
//! message received.
//!
//! ```text
//! cargo run --release --example client -- ws://127.0.0.1:9001/
//! ```
//!
//! A text message is printed on its own line, a binary one as `[binary N bytes]`. At the
//! end of standard input the client closes the connection (1000) and exits 0; any failure
//! exits non-zero with a message on standard error. (The conversation is in
//! examples/shared/lines.rs, which wss_client shares.)

use std::process::ExitCode;
use std::time::Duration;

use ws13::net::{self, Options};

#[path = "shared/lines.rs"]
mod lines;

fn run(url: &str) -> Result<(), String> {
    let (mut rx, mut tx) = (vec![0u8; lines::BUFFER], vec![0u8; lines::BUFFER]);
    // Every step is bounded: connecting, the handshake, and each write (a server that
    // stops reading cannot hold the client); reads wake up every POLL to look at input.
    let options = Options::new()
        .connect_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(Duration::from_secs(5)))
        .write_timeout(Some(Duration::from_secs(10)))
        .read_timeout(Some(lines::POLL));
    let (mut ws, _) = net::connect_with(url, &options, &mut rx, &mut tx)
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let result = lines::chat(&mut ws);
    // However it ended, a graceful TCP close.
    net::linger(ws.get_ref().inner().stream(), Duration::from_secs(1));
    result
}

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: client ws://HOST:PORT/PATH");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}
