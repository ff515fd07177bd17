//! Zero heap allocations per message, proved with a counting global allocator.
//!
//! Each thread counts its own allocations (the test harness's threads allocate as they
//! please). After a warm-up, a client and a server exchange many messages, whole and in
//! pieces, text and binary, with pings between, and neither side may allocate once. The
//! std path runs over loopback TCP through `ws13::net`; connecting and accepting
//! allocate (std's sockets do), so only the steady message loop is counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_io::{ErrorType, Read, Write};
use ws13::blocking::{Message, NoMask, WebSocket};
use ws13::{Event, MessageKind, Role};

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

/// One direction of an in-memory connection: a queue with room reserved up front.
type Queue = Rc<RefCell<VecDeque<u8>>>;

struct Mem {
    input: Queue,
    output: Queue,
}

impl ErrorType for Mem {
    type Error = core::convert::Infallible;
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut q = self.input.borrow_mut();
        let n = buf.len().min(q.len());
        for (dst, src) in buf.iter_mut().zip(q.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut q = self.output.borrow_mut();
        // Never grow: a full queue takes what fits, as a socket would.
        let n = buf.len().min(q.capacity() - q.len());
        q.extend(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn in_memory_message_loop_allocates_nothing() {
    // The counter sees allocations at all.
    let before = allocations();
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(allocations() - before, 1);

    let up: Queue = Rc::new(RefCell::new(VecDeque::with_capacity(1 << 20)));
    let down: Queue = Rc::new(RefCell::new(VecDeque::with_capacity(1 << 20)));
    let (mut crx, mut ctx, mut srx, mut stx) = (
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
        vec![0u8; 16 * 1024],
    );
    let mut key = 0u32;
    let mask = move || {
        key = key.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        key.to_le_bytes()
    };
    let client_io = Mem {
        input: down.clone(),
        output: up.clone(),
    };
    let server_io = Mem {
        input: up,
        output: down,
    };
    let mut client =
        WebSocket::from_upgraded(client_io, Role::Client, &mut crx, 0, &mut ctx, mask).unwrap();
    let mut server =
        WebSocket::from_upgraded(server_io, Role::Server, &mut srx, 0, &mut stx, NoMask).unwrap();
    let payloads = payloads();
    let mut reply = vec![0u8; 128 * 1024];

    let mut round = |client: &mut WebSocket<'_, Mem, _>,
                     server: &mut WebSocket<'_, Mem, NoMask>| {
        let mut messages = 0;
        for (i, payload) in payloads.iter().enumerate() {
            if i == 1 {
                let text = std::str::from_utf8(payload).unwrap();
                client.send_text(text).unwrap();
            } else {
                client.send_binary(payload).unwrap();
            }
            client.send_ping(b"are you there").unwrap();
            // The server echoes every piece as it arrives, until the message's last, as
            // examples/echo_server.rs does: binary frames relayed as they came, text as
            // fragments.
            loop {
                let (event, mut writer) = server.read_split().unwrap();
                match event {
                    Event::Data {
                        kind,
                        last,
                        payload,
                        frame_remaining,
                        frame_fin,
                        ..
                    } => {
                        if kind == MessageKind::Binary {
                            writer
                                .relay(kind, payload, frame_remaining, frame_fin)
                                .unwrap();
                        } else {
                            writer.send_fragment(kind, payload, last).unwrap();
                        }
                        if last {
                            break;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            // Its pong is queued on reading the ping.
            assert!(matches!(
                server.read().unwrap(),
                Event::Ping(b"are you there")
            ));
            server.flush().unwrap();
            match client.read_message(&mut reply).unwrap() {
                Message::Binary(b) => assert_eq!(b, &payload[..]),
                Message::Text(t) => assert_eq!(t.as_bytes(), &payload[..]),
                other => panic!("unexpected {other:?}"),
            }
            assert!(matches!(
                client.read_message(&mut reply).unwrap(),
                Message::Pong(b"are you there")
            ));
            messages += 1;
        }
        messages
    };

    for _ in 0..10 {
        round(&mut client, &mut server);
    }
    let before = allocations();
    let mut messages = 0;
    for _ in 0..500 {
        messages += round(&mut client, &mut server);
    }
    let made = allocations() - before;
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
                Event::Data {
                    kind,
                    last,
                    payload,
                    frame_remaining,
                    frame_fin,
                    ..
                } => {
                    // Binary frames relayed as they came, as examples/echo_server.rs does.
                    writer
                        .relay(kind, payload, frame_remaining, frame_fin)
                        .unwrap();
                    if last {
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

    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut ws, _) = ws13::net::connect(&url, &mut rx, &mut tx, &[]).unwrap();
    let payloads = payloads();
    let mut reply = vec![0u8; 128 * 1024];
    let mut exchange = |ws: &mut WebSocket<'_, ws13::net::TcpTransport, ws13::net::OsMask>,
                        i: usize| {
        let payload = &payloads[i % payloads.len()];
        ws.send_binary(payload).unwrap();
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
            w.send_binary(&payloads[0]).unwrap();
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
