//! Zero heap allocations per message, proved with a counting global allocator.
//!
//! Each thread counts its own allocations (the test harness's threads allocate as they
//! please). After a warm-up, a client and a server exchange many messages, whole and in
//! pieces, text and binary, with pings between, and neither side may allocate once. In
//! memory, both ends run in one thread over the kit's `Duplex` (ring buffers over storage
//! allocated up front). The std path runs over loopback TCP through `ws13::net`;
//! connecting and accepting allocate (std's sockets do), so only the steady message loop
//! is counted. The async driver likewise: in memory over the kit's `AsyncDuplex`, polled
//! by a noop-waker loop, and over loopback TCP on tokio's current-thread runtime (server
//! task, client and tokio itself on one thread, all counted in the steady loop).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ws13::blocking::{NoMask, WebSocket};
use ws13::{Event, Message, MessageKind};
use ws13_testkit::{Duplex, End, TestMask};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still free or allocate.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The messages of one round: small and large, text and binary (the large ones exceed
/// the 16 KiB buffers, so they travel in pieces).
fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello, allocation-free world".to_vec(),
        "κόσμε, 日本語, 😀 ".repeat(200).into_bytes(),
        (0..4096).map(|i| i as u8).collect(),
        (0..100_000).map(|i| (i * 7) as u8).collect(),
    ]
}

type Client<'b, 'd> = WebSocket<'b, End<'d, 'b>, TestMask>;
type Server<'b, 'd> = WebSocket<'b, End<'d, 'b>, NoMask>;

/// One round: every payload sent by the client (text for the second, binary for the
/// others) with a ping behind it, echoed by the server as examples/echo_server.rs does
/// (binary frames relayed as they came, text as fragments), read back whole.
fn round(
    client: &mut Client<'_, '_>,
    server: &mut Server<'_, '_>,
    payloads: &[Vec<u8>],
    reply: &mut [u8],
) -> usize {
    let mut messages = 0;
    for (i, payload) in payloads.iter().enumerate() {
        if i == 1 {
            let text = std::str::from_utf8(payload).unwrap();
            client.send(Message::Text(text)).unwrap();
        } else {
            client.send(Message::Binary(payload)).unwrap();
        }
        client.send(Message::Ping(b"are you there")).unwrap();
        loop {
            let (event, mut writer) = server.read_split().unwrap();
            match event {
                Event::Data(piece) => {
                    if piece.kind == MessageKind::Binary {
                        writer.relay(&piece).unwrap();
                    } else {
                        writer
                            .write_fragment(piece.kind, piece.payload, piece.last)
                            .unwrap();
                    }
                    if piece.last {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Its pong is queued on reading the ping.
        assert_eq!(server.read().unwrap(), Event::Ping(b"are you there"));
        server.flush().unwrap();
        match client.read_message(reply).unwrap() {
            Message::Binary(b) => assert_eq!(b, &payload[..]),
            Message::Text(t) => assert_eq!(t.as_bytes(), &payload[..]),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            client.read_message(reply).unwrap(),
            Message::Pong(b"are you there")
        );
        messages += 1;
    }
    messages
}

#[test]
fn in_memory_message_loop_allocates_nothing() {
    // The counter sees allocations at all.
    let before = allocations();
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(allocations() - before, 1);

    let (mut up, mut down) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let (mut crx, mut ctx, mut srx, mut stx) = (
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
    );
    let duplex = Duplex::new(&mut up, &mut down);
    let (client_io, server_io) = duplex.ends();
    let mut client =
        WebSocket::from_upgraded(client_io, &mut crx, 0..0, &mut ctx, 0, TestMask(1)).unwrap();
    let mut server =
        WebSocket::from_upgraded(server_io, &mut srx, 0..0, &mut stx, 0, NoMask).unwrap();
    let payloads = payloads();
    let mut reply = vec![0u8; 128 * 1024];
    for _ in 0..10 {
        round(&mut client, &mut server, &payloads, &mut reply);
    }
    let before = allocations();
    let mut messages = 0;
    for _ in 0..500 {
        messages += round(&mut client, &mut server, &payloads, &mut reply);
    }
    let made = allocations() - before;
    assert_eq!(messages, 2000);
    assert_eq!(made, 0, "{made} allocations over {messages} messages");
}

#[cfg(feature = "std")]
#[test]
fn tcp_message_loop_allocates_nothing() {
    use std::net::TcpListener;
    use std::sync::mpsc;

    const WARM_UP: usize = 20;
    const MEASURED: usize = 1000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (report, reported) = mpsc::channel();

    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
        let incoming = ws13::net::accept(stream, &mut rx).unwrap();
        let mut ws = incoming.accept(&mut tx, None).unwrap();
        let (mut messages, mut before) = (0, 0);
        loop {
            let (event, mut writer) = ws.read_split().unwrap();
            match event {
                Event::Data(piece) => {
                    // Binary frames relayed as they came, as examples/echo_server.rs does.
                    writer.relay(&piece).unwrap();
                    if piece.last {
                        messages += 1;
                        if messages == WARM_UP {
                            before = allocations();
                        }
                    }
                }
                Event::Close(_) => break,
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
        let made = allocations() - before;
        report.send((made, messages - WARM_UP)).unwrap();
    });

    // The client owns its buffers (allocated once, here).
    let (rx, tx) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut ws, _) = ws13::net::connect(&url, rx, tx, &[]).unwrap();
    let payloads = payloads();
    let mut reply = vec![0u8; 128 * 1024];
    type Owned = WebSocket<'static, ws13::net::TcpTransport, ws13::net::OsMask, Vec<u8>>;
    let mut exchange = |ws: &mut Owned, i: usize| {
        let payload = &payloads[i % payloads.len()];
        ws.send(Message::Binary(payload)).unwrap();
        match ws.read_message(&mut reply).unwrap() {
            Message::Binary(b) => assert_eq!(b, &payload[..]),
            other => panic!("unexpected {other:?}"),
        }
    };
    for i in 0..WARM_UP {
        exchange(&mut ws, i);
    }
    let before = allocations();
    // One at a time, then pipelined: 100 small messages in one write, then their echoes.
    for i in 0..MEASURED / 2 {
        exchange(&mut ws, i);
    }
    for _ in 0..MEASURED / 200 {
        let mut w = ws.writer();
        for _ in 0..100 {
            w.write(Message::Binary(&payloads[0])).unwrap();
        }
        ws.flush().unwrap();
        for _ in 0..100 {
            assert!(
                matches!(ws.read_message(&mut reply).unwrap(), Message::Binary(b) if b == &payloads[0][..])
            );
        }
    }
    let made = allocations() - before;
    ws.close(ws13::CloseCode::NORMAL, "").unwrap();
    let (server_made, server_messages) = reported.recv().unwrap();
    server.join().unwrap();
    assert_eq!(
        made, 0,
        "client: {made} allocations over {MEASURED} messages"
    );
    assert_eq!(server_messages, MEASURED);
    assert_eq!(
        server_made, 0,
        "server: {server_made} allocations over {server_messages} messages"
    );
}

/// The async driver's side of one round, in memory: every payload of [`payloads`] sent by
/// a client with a ping behind it, echoed by a server as examples/async_echo_server.rs
/// does (binary frames relayed, text as fragments), read back whole; both ends polled
/// together, each a future of the round.
mod async_round {
    use ws13::asynch::WebSocket;
    use ws13::{Event, Message, MessageKind, NoMask};
    use ws13_testkit::asyncio::AsyncEnd;
    use ws13_testkit::checks::asynch::join;
    use ws13_testkit::TestMask;

    /// Each direction of the in-memory connection holds this much.
    pub const PIPE: usize = 64 * 1024;

    pub type Client<'b, 'd> = WebSocket<'b, AsyncEnd<'d, PIPE>, TestMask>;
    pub type Server<'b, 'd> = WebSocket<'b, AsyncEnd<'d, PIPE>, NoMask>;

    /// The client: sends each payload and a ping, reads the echo and the pong.
    async fn client(ws: &mut Client<'_, '_>, payloads: &[Vec<u8>], reply: &mut [u8]) -> usize {
        let mut messages = 0;
        for (i, payload) in payloads.iter().enumerate() {
            if i == 1 {
                let text = std::str::from_utf8(payload).unwrap();
                ws.send(Message::Text(text)).await.unwrap();
            } else {
                ws.send(Message::Binary(payload)).await.unwrap();
            }
            ws.send(Message::Ping(b"are you there")).await.unwrap();
            match ws.read_message(reply).await.unwrap() {
                Message::Binary(b) => assert_eq!(b, &payload[..]),
                Message::Text(t) => assert_eq!(t.as_bytes(), &payload[..]),
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(
                ws.read_message(reply).await.unwrap(),
                Message::Pong(b"are you there")
            );
            messages += 1;
        }
        messages
    }

    /// The server: echoes `count` messages, each followed by a ping (whose pong goes out
    /// with a flush).
    async fn server(ws: &mut Server<'_, '_>, count: usize) {
        for _ in 0..count {
            loop {
                let (event, mut writer) = ws.read_split().await.unwrap();
                match event {
                    Event::Data(piece) => {
                        if piece.kind == MessageKind::Binary {
                            writer.relay(&piece).await.unwrap();
                        } else {
                            writer
                                .write_fragment(piece.kind, piece.payload, piece.last)
                                .await
                                .unwrap();
                        }
                        if piece.last {
                            break;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(ws.read().await.unwrap(), Event::Ping(b"are you there"));
            ws.flush().await.unwrap();
        }
    }

    /// One round: both ends, polled together.
    pub async fn round(
        client_ws: &mut Client<'_, '_>,
        server_ws: &mut Server<'_, '_>,
        payloads: &[Vec<u8>],
        reply: &mut [u8],
    ) -> usize {
        let (messages, ()) = join(
            client(client_ws, payloads, reply),
            server(server_ws, payloads.len()),
        )
        .await;
        messages
    }
}

/// The async driver in memory: a client and a server over the kit's `AsyncDuplex`
/// (ring buffers held inline, allocated up front), both polled by a noop-waker loop on
/// this thread; after a warm-up, neither allocates once.
#[test]
fn async_in_memory_message_loop_allocates_nothing() {
    use ws13_testkit::asyncio::{block_on, AsyncDuplex};

    let duplex = Box::new(AsyncDuplex::<{ async_round::PIPE }>::new());
    let (client_io, server_io) = duplex.ends(async_round::PIPE);
    let (mut crx, mut ctx, mut srx, mut stx) = (
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
    );
    let mut client =
        ws13::asynch::WebSocket::from_upgraded(client_io, &mut crx, 0..0, &mut ctx, 0, TestMask(1))
            .unwrap();
    let mut server =
        ws13::asynch::WebSocket::from_upgraded(server_io, &mut srx, 0..0, &mut stx, 0, NoMask)
            .unwrap();
    let payloads = payloads();
    let mut reply = vec![0u8; 128 * 1024];
    let (messages, made) = block_on(async {
        for _ in 0..10 {
            async_round::round(&mut client, &mut server, &payloads, &mut reply).await;
        }
        let before = allocations();
        let mut messages = 0;
        for _ in 0..300 {
            messages += async_round::round(&mut client, &mut server, &payloads, &mut reply).await;
        }
        (messages, allocations() - before)
    });
    assert_eq!(messages, 1200);
    assert_eq!(made, 0, "{made} allocations over {messages} messages");
}

/// The async driver over loopback TCP on tokio's current-thread runtime: a server task
/// (examples/async_echo_server.rs's echo: binary frames relayed as they came) and a
/// client, both on this thread. Connecting, accepting and spawning allocate (tokio's
/// tasks and sockets do), so only the steady message loop is counted: neither the
/// client, nor the server, nor tokio under them allocates there.
#[test]
fn async_tcp_message_loop_allocates_nothing() {
    use embedded_io_adapters::tokio_1::FromTokio;
    use ws13::asynch::{connect, Incoming};
    use ws13::handshake::client::{ClientRequest, Url};

    const WARM_UP: usize = 20;
    const MEASURED: usize = 1000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let (made, messages) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
            let mut incoming = Incoming::new(FromTokio::new(stream), &mut rx);
            assert!(incoming.read().await.unwrap().is_upgrade());
            let mut ws = incoming.accept(&mut tx, None).unwrap();
            let mut messages = 0;
            loop {
                let (event, mut writer) = ws.read_split().await.unwrap();
                match event {
                    Event::Data(piece) => {
                        writer.relay(&piece).await.unwrap();
                        messages += usize::from(piece.last);
                    }
                    Event::Close(_) => break,
                    Event::Ping(_) | Event::Pong(_) => {}
                }
            }
            messages
        });

        let stream =
            tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
                .await
                .unwrap();
        stream.set_nodelay(true).unwrap();
        let parsed = Url::parse(&url).unwrap();
        let request = ClientRequest::for_url(&parsed);
        let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
        let (mut ws, _) = connect(
            FromTokio::new(stream),
            &mut rx,
            &mut tx,
            &request,
            TestMask(3),
        )
        .await
        .unwrap();
        let payloads = payloads();
        let mut reply = vec![0u8; 128 * 1024];
        let mut exchanged = 0;
        let mut before = 0;
        for i in 0..WARM_UP + MEASURED / 2 {
            if i == WARM_UP {
                before = allocations();
            }
            let payload = &payloads[i % payloads.len()];
            ws.send(Message::Binary(payload)).await.unwrap();
            match ws.read_message(&mut reply).await.unwrap() {
                Message::Binary(b) => assert_eq!(b, &payload[..]),
                other => panic!("unexpected {other:?}"),
            }
            exchanged += 1;
        }
        // Pipelined: 100 small messages in one write, then their echoes.
        for _ in 0..MEASURED / 200 {
            let mut w = ws.writer();
            for _ in 0..100 {
                w.write(Message::Binary(&payloads[0])).await.unwrap();
            }
            ws.flush().await.unwrap();
            for _ in 0..100 {
                let echo = ws.read_message(&mut reply).await.unwrap();
                assert!(matches!(echo, Message::Binary(b) if b == &payloads[0][..]));
            }
            exchanged += 100;
        }
        let made = allocations() - before;
        ws.close(ws13::CloseCode::NORMAL, "").await.unwrap();
        let served = server.await.unwrap();
        assert_eq!(served, exchanged);
        (made, exchanged - WARM_UP)
    });
    assert_eq!(messages, MEASURED);
    assert_eq!(
        made, 0,
        "{made} allocations over {messages} messages (client, server and tokio)"
    );
}
