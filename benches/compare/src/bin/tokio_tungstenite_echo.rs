//! A tokio-tungstenite echo server, the peer of `ws13_async_echo` in the loopback
//! benchmark: `tokio_tungstenite_echo [ADDR]` (default 127.0.0.1:9005). Both on tokio's
//! current-thread runtime, one task per connection, `TCP_NODELAY`, and the echo loop of
//! tokio-tungstenite's own example server: `next`, then `send` each data message.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

async fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9005".into());
    let rt = ws13_bench_compare::current_thread();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio_tungstenite_echo: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        while let Ok((stream, _)) = listener.accept().await {
            tokio::task::spawn_local(serve(stream));
        }
    });
}
