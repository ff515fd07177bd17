//! A chat server on tokio: every text message a client sends reaches every other client.
//! Each connection is split into a reader and a writer (ws13's async halves): the reader
//! publishes what it reads; the writer sends what the other connections' readers
//! published, and the answers its own reader owes (pongs, the close echo).
//!
//! ```text
//! cargo run --release --features async --example async_chat -- [ADDR]   (default 127.0.0.1:9003)
//! ```
//!
//! Both halves of a connection run in one task (their shared state is not `Sync`), as two
//! futures joined; connections run on a single-threaded runtime, one task each.

use std::rc::Rc;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use ws13::asynch::{Incoming, Reader, Shared, SplitWriter};
use ws13::{Error, Message, NoMask};

const RX: usize = 8 * 1024;
const TX: usize = 8 * 1024;
/// The largest chat message.
const MAX_MESSAGE: usize = 16 * 1024;

/// A published message: who sent it (a connection number) and its text.
type Post = (u64, Rc<str>);

async fn serve(
    stream: TcpStream,
    id: u64,
    posts: broadcast::Sender<Post>,
) -> Result<(), Error<std::io::Error>> {
    let mut buffers = vec![0u8; RX + TX];
    let (rx, tx) = buffers.split_at_mut(RX);
    let mut incoming = Incoming::new(FromTokio::new(stream), rx);
    if !incoming.read().await?.is_upgrade() {
        return incoming.reject(404).await;
    }
    let ws = incoming.accept(tx, None)?;
    let shared = Shared::new();
    let (reader, writer) = ws.split(&shared, |io| {
        let (r, w) = io.into_inner().into_split();
        (FromTokio::new(r), FromTokio::new(w))
    });
    let inbox = posts.subscribe();
    let (read, written) = tokio::join!(
        read_posts(reader, id, &posts),
        write_posts(writer, id, inbox)
    );
    read.and(written)
}

/// The reader: publishes every text message.
async fn read_posts(
    mut reader: Reader<'_, '_, FromTokio<tokio::net::tcp::OwnedReadHalf>>,
    id: u64,
    posts: &broadcast::Sender<Post>,
) -> Result<(), Error<std::io::Error>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        match reader.read_message(&mut buf).await? {
            Message::Text(text) => {
                let _ = posts.send((id, Rc::from(text)));
            }
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
}

/// The writer: sends the other connections' posts, and its reader's answers.
async fn write_posts(
    mut writer: SplitWriter<'_, '_, FromTokio<tokio::net::tcp::OwnedWriteHalf>, NoMask>,
    id: u64,
    mut inbox: broadcast::Receiver<Post>,
) -> Result<(), Error<std::io::Error>> {
    let shared = writer.shared();
    loop {
        tokio::select! {
            post = inbox.recv() => match post {
                Ok((from, text)) if from != id => writer.send(Message::Text(&text)).await?,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("connection {id}: {n} messages dropped (too slow)");
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            () = shared.owed() => {
                writer.flush().await?;
                if shared.is_closed() && !shared.is_owed() {
                    return Ok(());
                }
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("async_chat: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("async_chat: listening on ws://{addr}/");
    run(listener).await;
}

/// Serves chat connections from `listener` for ever, one task each on a `LocalSet` of
/// the current thread. (tests/chat.rs runs this server in-process.)
pub(crate) async fn run(listener: TcpListener) {
    let (posts, _) = broadcast::channel::<Post>(1024);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let mut next_id = 0u64;
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        next_id += 1;
                        let (id, posts) = (next_id, posts.clone());
                        tokio::task::spawn_local(async move {
                            match serve(stream, id, posts).await {
                                Ok(()) => eprintln!("{peer}: connection {id} closed"),
                                Err(e) => eprintln!("{peer}: connection {id}: {e}"),
                            }
                        });
                    }
                    Err(e) => eprintln!("async_chat: accept failed: {e}"),
                }
            }
        })
        .await;
}
