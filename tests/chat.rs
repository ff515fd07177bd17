//! examples/async_chat.rs, its server run in-process on a free port (its own `run`, on
//! tokio's current-thread runtime and a `LocalSet`, each connection split into a reader
//! and a writer joined by a broadcast channel), with four clients: two through ws13's
//! async driver, each split into halves in the test's runtime, and two through the
//! blocking driver, each in a thread of its own. Once all are connected, each sends
//! [`MESSAGES`] text messages with a ping now and then; every message reaches every
//! other client exactly once, in its sender's order, and never its sender; pings are
//! answered, in order, the last one always; then each client closes, and its close
//! completes with its code echoed. Everything is bounded by [`DEADLINE`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedded_io_adapters::tokio_1::FromTokio;
use ws13::handshake::client::{ClientRequest, Url};
use ws13::{CloseCode, CloseFrame, Event, Message};
use ws13_testkit::asyncio::Flag;
use ws13_testkit::TestMask;

#[path = "../examples/async_chat.rs"]
#[allow(dead_code)] // its `main`
mod async_chat;

/// Clients through the async driver (numbered first: 0 and 1), and in all.
const ASYNC_CLIENTS: usize = 2;
const CLIENTS: usize = 4;
/// Text messages each client sends.
const MESSAGES: usize = 40;
/// A ping after every this many messages.
const PING_EVERY: usize = 8;
/// Pings each client sends.
const PINGS: usize = MESSAGES.div_ceil(PING_EVERY);
/// The whole conversation ends well within this.
const DEADLINE: Duration = Duration::from_secs(30);

/// The `index`-th message of client `from`: its name and number, then some text of
/// every encoded length, longer and shorter in turn.
fn message(from: usize, index: usize) -> String {
    format!("{from}:{index}:{}", "κόσμε 日本語 😀 ".repeat(index % 5))
}

/// The `k`-th ping of client `from`.
fn ping(from: usize, k: usize) -> Vec<u8> {
    format!("ping {from} {k}").into_bytes()
}

/// What one client has heard, checked as it comes.
struct Inbox {
    me: usize,
    /// The next message expected from each client.
    next: [usize; CLIENTS],
    /// Our pings answered so far: all up to the last one answered.
    pongs: usize,
}

impl Inbox {
    fn new(me: usize) -> Self {
        Inbox {
            me,
            next: [0; CLIENTS],
            pongs: 0,
        }
    }

    /// A message: another client's, the next one in its order.
    fn text(&mut self, text: &str) {
        let mut parts = text.splitn(3, ':');
        let from: usize = parts.next().and_then(|p| p.parse().ok()).expect("a sender");
        let index: usize = parts.next().and_then(|p| p.parse().ok()).expect("an index");
        assert_ne!(
            from, self.me,
            "client {} heard its own message {index}",
            self.me
        );
        assert_eq!(
            index, self.next[from],
            "client {} heard message {index} of client {from} out of order or twice",
            self.me
        );
        assert_eq!(text, message(from, index), "a message changed on its way");
        self.next[from] += 1;
    }

    /// A pong: the answer to one of our pings after the last one answered. (Pings that
    /// come faster than the server's writer sends pongs are answered only by the pong
    /// of the latest, as RFC 6455 allows and ws13's split halves do.)
    fn pong(&mut self, payload: &[u8]) {
        let answered = (self.pongs..PINGS).find(|&k| payload == ping(self.me, k));
        let k = answered.unwrap_or_else(|| {
            panic!(
                "client {}: pong {:?} answers no ping after the last answered",
                self.me,
                String::from_utf8_lossy(payload)
            )
        });
        self.pongs = k + 1;
    }

    /// Every other client's every message, and the pong of our last ping.
    fn is_full(&self) -> bool {
        let heard = (0..CLIENTS).all(|c| c == self.me || self.next[c] == MESSAGES);
        heard && self.pongs == PINGS
    }
}

/// A client through the blocking driver, in a thread of its own.
fn blocking_client(me: usize, url: &str, connected: &AtomicUsize) {
    let deadline = Instant::now() + DEADLINE;
    let (mut rx, mut tx) = (vec![0u8; 8 * 1024], vec![0u8; 8 * 1024]);
    let (mut ws, _) = ws13::net::connect(url, &mut rx, &mut tx, &[]).expect("connect");
    ws.get_mut().inner_mut().set_deadline(Some(deadline));
    connected.fetch_add(1, Ordering::SeqCst);
    while connected.load(Ordering::SeqCst) < CLIENTS {
        assert!(Instant::now() < deadline, "not every client connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    for index in 0..MESSAGES {
        ws.send(Message::Text(&message(me, index))).unwrap();
        if index % PING_EVERY == 0 {
            ws.send(Message::Ping(&ping(me, index / PING_EVERY)))
                .unwrap();
        }
    }
    let mut inbox = Inbox::new(me);
    let mut buf = vec![0u8; 16 * 1024];
    while !inbox.is_full() {
        match ws.read_message(&mut buf).unwrap() {
            Message::Text(text) => inbox.text(text),
            Message::Pong(payload) => inbox.pong(payload),
            other => panic!("client {me}: unexpected {other:?}"),
        }
    }
    let close = CloseFrame {
        code: CloseCode::NORMAL,
        reason: "bye",
    };
    ws.send(Message::Close(Some(close))).unwrap();
    match ws.read().unwrap() {
        Event::Close(Some(c)) => assert_eq!(c.code, CloseCode::NORMAL, "client {me}"),
        other => panic!("client {me}: {other:?}, not the echo of its close"),
    }
    assert!(ws.is_closed());
    assert!(matches!(ws.read(), Err(ws13::Error::Closed)));
}

/// A client through the async driver, split into a reader and a writer joined in one
/// task, as the server's connections are.
async fn async_client(me: usize, url: &str, connected: &AtomicUsize) {
    let parsed = Url::parse(url).unwrap();
    let stream = tokio::net::TcpStream::connect((parsed.host, parsed.port))
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let request = ClientRequest::for_url(&parsed);
    let (mut rx, mut tx) = (vec![0u8; 8 * 1024], vec![0u8; 8 * 1024]);
    let masks = TestMask(me as u32 + 1);
    let (ws, _) = ws13::asynch::connect(FromTokio::new(stream), &mut rx, &mut tx, &request, masks)
        .await
        .expect("connect");
    connected.fetch_add(1, Ordering::SeqCst);
    let shared = ws13::asynch::Shared::new();
    let (mut reader, mut writer) = ws.split(&shared, |io| {
        let (r, w) = io.into_inner().into_split();
        (FromTokio::new(r), FromTokio::new(w))
    });
    let heard = Flag::new();
    let read = async {
        let mut inbox = Inbox::new(me);
        let mut buf = vec![0u8; 16 * 1024];
        while !inbox.is_full() {
            match reader.read_message(&mut buf).await.unwrap() {
                Message::Text(text) => inbox.text(text),
                Message::Pong(payload) => inbox.pong(payload),
                other => panic!("client {me}: unexpected {other:?}"),
            }
        }
        heard.set();
        match reader.read_message(&mut buf).await.unwrap() {
            Message::Close(Some(c)) => assert_eq!(c.code, CloseCode::NORMAL, "client {me}"),
            other => panic!("client {me}: {other:?}, not the echo of its close"),
        }
        assert!(reader.is_closed());
    };
    let write = async {
        while connected.load(Ordering::SeqCst) < CLIENTS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for index in 0..MESSAGES {
            writer
                .send(Message::Text(&message(me, index)))
                .await
                .unwrap();
            if index % PING_EVERY == 0 {
                let payload = ping(me, index / PING_EVERY);
                writer.send(Message::Ping(&payload)).await.unwrap();
            }
        }
        // The server sends no ping: nothing is owed it until the close.
        heard.wait().await;
        writer.close(CloseCode::NORMAL, "bye").await.unwrap();
        while !shared.is_closed() || shared.is_owed() {
            shared.owed().await;
            writer.flush().await.unwrap();
        }
    };
    tokio::join!(read, write);
}

#[test]
fn chat_clients_hear_each_other_once_in_order_and_close_cleanly() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let connected = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (ASYNC_CLIENTS..CLIENTS)
        .map(|me| {
            let (url, connected) = (url.clone(), connected.clone());
            std::thread::spawn(move || blocking_client(me, &url, &connected))
        })
        .collect();
    let clients = async {
        tokio::join!(
            async_client(0, &url, &connected),
            async_client(1, &url, &connected)
        );
        // The server serves the blocking clients until they are done too.
        while !threads.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let done = rt.block_on(async {
        let serve_until_done = async {
            tokio::select! {
                () = async_chat::run(listener) => unreachable!("the server never stops"),
                () = clients => {}
            }
        };
        tokio::time::timeout(DEADLINE, serve_until_done).await
    });
    assert!(
        done.is_ok(),
        "the clients were not done within {DEADLINE:?}"
    );
    for (i, t) in threads.into_iter().enumerate() {
        let me = ASYNC_CLIENTS + i;
        assert!(t.join().is_ok(), "blocking client {me} failed");
    }
}
