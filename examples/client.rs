//! Line client: sends each line of standard input as a text message and prints each
//! message received.
//!
//! ```text
//! cargo run --release --example client -- ws://127.0.0.1:9001/
//! ```
//!
//! A text message is printed on its own line, a binary one as `[binary N bytes]`. At the
//! end of standard input the client closes the connection (1000) and exits 0; any failure
//! exits non-zero with a message on standard error.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use ws13::net::{self, Options};
use ws13::{CloseCode, CloseFrame, Event, Message, MessageKind};

const BUFFER: usize = 32 * 1024;
/// How long a read waits before the client looks at standard input again.
const POLL: Duration = Duration::from_millis(20);
/// How long the client waits for the server's answer to its close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

fn run(url: &str) -> Result<(), String> {
    let (mut rx, mut tx) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    // Every step is bounded: connecting, the handshake, and each write (a server that
    // stops reading cannot hold the client); reads wake up every POLL to look at input.
    let options = Options::new()
        .connect_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(Duration::from_secs(5)))
        .write_timeout(Some(Duration::from_secs(10)))
        .read_timeout(Some(POLL));
    let (mut ws, _) = net::connect_with(url, &options, &mut rx, &mut tx)
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let stream = ws
        .get_ref()
        .inner()
        .stream()
        .try_clone()
        .map_err(|e| e.to_string())?;

    // Standard input is read on its own thread; the connection is polled here.
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if lines_tx.send(line).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Text is written to stdout piece by piece; a binary message's length is summed.
    let mut binary_len: u64 = 0;
    let mut closing: Option<Instant> = None;
    loop {
        if closing.is_none() {
            loop {
                match lines.try_recv() {
                    Ok(line) => ws
                        .send(Message::Text(&line))
                        .map_err(|e| format!("send failed: {e}"))?,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        // End of input: start the close handshake.
                        let close = CloseFrame {
                            code: CloseCode::NORMAL,
                            reason: "",
                        };
                        ws.send(Message::Close(Some(close)))
                            .map_err(|e| format!("close failed: {e}"))?;
                        closing = Some(Instant::now());
                        break;
                    }
                }
            }
        }
        if closing.is_some_and(|t| t.elapsed() > CLOSE_WAIT) {
            return Err("the server did not answer the close handshake".into());
        }
        match ws.read() {
            Ok(Event::Data(piece)) if piece.kind == MessageKind::Text => {
                out.write_all(piece.payload).map_err(|e| e.to_string())?;
                if piece.last {
                    out.write_all(b"\n").map_err(|e| e.to_string())?;
                    out.flush().map_err(|e| e.to_string())?;
                }
            }
            Ok(Event::Data(piece)) => {
                binary_len += piece.payload.len() as u64;
                if piece.last {
                    writeln!(out, "[binary {binary_len} bytes]").map_err(|e| e.to_string())?;
                    out.flush().map_err(|e| e.to_string())?;
                    binary_len = 0;
                }
            }
            Ok(Event::Close(frame)) => {
                net::linger(&stream, Duration::from_secs(1));
                return match (closing, frame) {
                    (Some(_), _) => Ok(()),
                    (None, Some(f)) => Err(format!(
                        "server closed the connection: {} {}",
                        f.code, f.reason
                    )),
                    (None, None) => Err("server closed the connection".into()),
                };
            }
            Ok(Event::Ping(_) | Event::Pong(_)) => {}
            // Nothing arrived for a moment: look at standard input again.
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(format!("connection failed: {e}")),
        }
    }
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
