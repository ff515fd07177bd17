//! What `client` and `wss_client` do over any transport: send each line of standard
//! input as a text message, print each message received, close with 1000 at the end of
//! input. (Included by both with `#[path]`; not an example of its own.)
//!
//! A text message is printed on its own line, a binary one as `[binary N bytes]`. The
//! connection's reads must time out every [`POLL`], so that standard input is looked at.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use embedded_io::{ErrorType, Read};
use ws13::blocking::WebSocket;
use ws13::{CloseCode, CloseFrame, Event, MaskSource, Message, MessageKind};

/// Each connection's receive and transmit buffers.
pub const BUFFER: usize = 32 * 1024;
/// How long a read waits before the client looks at standard input again.
pub const POLL: Duration = Duration::from_millis(20);
/// How long the client waits for the server's answer to its close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Runs the conversation until the close handshake is done (`Ok`), or the server closes
/// or the connection fails (`Err`, saying why).
pub fn chat<T, M, B>(ws: &mut WebSocket<'_, T, M, B>) -> Result<(), String>
where
    T: Read + embedded_io::Write + ErrorType<Error = std::io::Error>,
    M: MaskSource,
    B: ws13::Buffer,
{
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
