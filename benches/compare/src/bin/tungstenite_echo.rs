//! A tungstenite echo server, the peer of `examples/echo_server.rs` in the loopback
//! benchmark: `tungstenite_echo [ADDR]` (default 127.0.0.1:9002). One thread per
//! connection, `TCP_NODELAY` as echo_server sets it, and the echo loop of tungstenite's
//! own example server: `read`, then `send` each data message.

use std::net::{TcpListener, TcpStream};

fn handle(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(msg) if msg.is_binary() || msg.is_text() => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("tungstenite_echo: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || handle(stream));
    }
}
