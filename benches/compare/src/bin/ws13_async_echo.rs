//! ws13's async echo server for the loopback benchmark, beside `tokio_tungstenite_echo`:
//! `ws13_async_echo [ADDR]` (default 127.0.0.1:9004). Both on tokio's current-thread
//! runtime, one task per connection, `TCP_NODELAY`. The echo of
//! examples/async_echo_server.rs (46 KiB to receive and 16 KiB to send; binary frames
//! sent back as they came, text as fragments), without its keepalive and deadlines
//! (tokio-tungstenite's server has none), and without its multi-threaded runtime.

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::net::{TcpListener, TcpStream};
use ws13::asynch::Incoming;
use ws13::{Error, Event, MessageKind};

const RX: usize = 46 * 1024;
const TX: usize = 16 * 1024;

async fn serve(stream: TcpStream) -> Result<(), Error<std::io::Error>> {
    let _ = stream.set_nodelay(true);
    let mut buffers = vec![0u8; RX + TX];
    let (rx, tx) = buffers.split_at_mut(RX);
    let mut incoming = Incoming::new(FromTokio::new(stream), rx);
    if !incoming.read().await?.is_upgrade() {
        return incoming.reject(400).await;
    }
    let mut ws = incoming.accept(tx, None)?;
    loop {
        let (event, mut writer) = ws.read_split().await?;
        match event {
            Event::Data(piece) if piece.kind == MessageKind::Binary => writer.relay(&piece).await?,
            Event::Data(piece) => {
                writer
                    .write_fragment(piece.kind, piece.payload, piece.last)
                    .await?
            }
            Event::Close(_) => return Ok(()),
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into());
    let rt = ws13_bench_compare::current_thread();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("ws13_async_echo: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        while let Ok((stream, _)) = listener.accept().await {
            tokio::task::spawn_local(async move {
                let _ = serve(stream).await;
            });
        }
    });
}
