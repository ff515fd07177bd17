//! Load client for `echo_server`, driven by `scripts/load-test.sh`.
//!
//! ```text
//! load_client free-port                      print a free port on 127.0.0.1
//! load_client wait ADDR                      wait (up to 20 s) until ADDR accepts
//! load_client echo ADDR [CONNS] [MESSAGES]   CONNS connections at once (default 1000),
//!                                            each echoing MESSAGES (default 100) messages
//!                                            of 1 B to 64 KiB, text and binary, checked
//! load_client stall ADDR [STALLED]           STALLED (default 300) connections send half
//!                                            a request and stop; meanwhile a normal client
//!                                            must connect, echo and close within 2 s
//! load_client check ADDR                     one echo client and the page: still serving
//! load_client hold ADDR N SECONDS            open N TCP connections, hold them, close
//! ```
//!
//! Each mode prints its results and a last line `load: N passed, N failed`, and exits
//! non-zero if anything failed. Everything is bounded in time: sockets have timeouts.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ws13::blocking;
use ws13::handshake::client::ClientRequest;
use ws13::net::{FromStd, OsMask};
use ws13::{CloseCode, Message};

/// The largest message sent: 64 KiB.
const MAX_MESSAGE: usize = 64 * 1024;
/// How long any socket operation may block.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// SplitMix64, for reproducible message contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Message `i` of connection `conn`: its kind (text or binary) and bytes. Sizes spread
/// over 1 B to 64 KiB, evenly by powers of two; message 0 is 1 byte, message 1 is 64 KiB.
fn message(conn: usize, i: usize) -> (bool, Vec<u8>) {
    let mut rng = Rng(((conn as u64) << 32) ^ i as u64 ^ 0x10AD);
    let size = match i {
        0 => 1,
        1 => MAX_MESSAGE,
        _ => {
            let bits = rng.next() % 17;
            ((rng.next() % (1u64 << bits)) as usize).clamp(1, MAX_MESSAGE)
        }
    };
    let text = rng.next() & 1 == 0;
    if text {
        // Multi-byte text: cycle through 1- to 4-byte characters.
        const CHARS: [char; 6] = ['a', 'Z', '\u{e9}', '\u{20ac}', '\u{1d11e}', ' '];
        let mut s = String::with_capacity(size + 4);
        while s.len() < size {
            let c = CHARS[(rng.next() % 6) as usize];
            if s.len() + c.len_utf8() > size {
                s.push('.');
            } else {
                s.push(c);
            }
        }
        (true, s.into_bytes())
    } else {
        (false, (0..size).map(|_| rng.next() as u8).collect())
    }
}

type Ws<'b> = blocking::WebSocket<'b, FromStd<TcpStream>, OsMask>;

/// Opens a client connection with ws13's own client.
fn open<'b>(addr: SocketAddr, rx: &'b mut [u8], tx: &'b mut [u8]) -> Result<Ws<'b>, String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(20))
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_nodelay(true).ok();
    let host = addr.to_string();
    let request = ClientRequest::new(&host, "/");
    let (ws, _) = blocking::connect(FromStd::new(stream), rx, tx, &request, OsMask::new())
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Sends `data` and checks that the same message comes back.
fn echo_one(ws: &mut Ws<'_>, text: bool, data: &[u8], buf: &mut [u8]) -> Result<(), String> {
    if text {
        let s = std::str::from_utf8(data).expect("generated text is UTF-8");
        ws.send(Message::Text(s))
            .map_err(|e| format!("send: {e}"))?;
    } else {
        ws.send(Message::Binary(data))
            .map_err(|e| format!("send: {e}"))?;
    }
    loop {
        match ws.read_message(buf).map_err(|e| format!("read: {e}"))? {
            Message::Text(t) if text => {
                return if t.as_bytes() == data {
                    Ok(())
                } else {
                    Err(format!("text of {} bytes came back corrupted", data.len()))
                };
            }
            Message::Binary(b) if !text => {
                return if b == data {
                    Ok(())
                } else {
                    Err(format!(
                        "binary of {} bytes came back corrupted",
                        data.len()
                    ))
                };
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("unexpected {other:?}")),
        }
    }
}

/// Holds every connection of the echo load until all are open: each thread reports its
/// arrival, then waits for the start.
#[derive(Default)]
struct Gate {
    arrived: AtomicUsize,
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn arrive_and_wait(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !*open && Instant::now() < deadline {
            open = self
                .cv
                .wait_timeout(open, Duration::from_secs(1))
                .unwrap()
                .0;
        }
    }

    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.arrived.load(Ordering::SeqCst) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// One connection of the echo load: `messages` echoes, then the close handshake.
fn echo_conn(addr: SocketAddr, conn: usize, messages: usize, start: &Gate) -> Result<u64, String> {
    let mut rx = vec![0u8; 16 * 1024];
    let mut tx = vec![0u8; 16 * 1024];
    let mut buf = vec![0u8; MAX_MESSAGE];
    let opened = open(addr, &mut rx, &mut tx);
    // Every thread reports, connected or not, so that none waits long.
    start.arrive_and_wait();
    let mut ws = opened?;
    let mut bytes = 0;
    for i in 0..messages {
        let (text, data) = message(conn, i);
        echo_one(&mut ws, text, &data, &mut buf).map_err(|e| format!("message {i}: {e}"))?;
        bytes += data.len() as u64;
    }
    ws.close(CloseCode::NORMAL, "done")
        .map_err(|e| format!("close: {e}"))?;
    Ok(bytes)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Mode `echo`: `conns` connections at once, each echoing `messages` messages.
fn echo(addr: SocketAddr, conns: usize, messages: usize) -> (usize, usize) {
    println!(
        "echo: {conns} concurrent connections x {messages} messages (1 B to 64 KiB) to {addr}"
    );
    let started = Instant::now();
    let start = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(conns);
    let mut spawn_errors = 0;
    for conn in 0..conns {
        let start = start.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{conn}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                let t = Instant::now();
                echo_conn(addr, conn, messages, &start).map(|bytes| (bytes, t.elapsed()))
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("echo: cannot start thread {conn}: {e}");
                spawn_errors += 1;
            }
        }
    }
    start.wait_for(handles.len());
    println!(
        "echo: all {conns} connections opened (or failed) after {:.2} s; echoing",
        started.elapsed().as_secs_f64()
    );
    let mut failed = spawn_errors;
    let mut bytes = 0u64;
    let mut times = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for (conn, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok((b, t))) => {
                bytes += b;
                times.push(t);
            }
            Ok(Err(e)) => {
                failed += 1;
                errors.push(format!("connection {conn}: {e}"));
            }
            Err(_) => {
                failed += 1;
                errors.push(format!("connection {conn}: thread panicked"));
            }
        }
    }
    let elapsed = started.elapsed();
    times.sort();
    for e in errors.iter().take(10) {
        println!("echo: FAIL {e}");
    }
    let passed = conns - failed;
    println!(
        "echo: {passed}/{conns} connections echoed all {messages} messages intact; {} messages, \
         {:.1} MiB each way in {:.1} s ({:.1} MiB/s each way)",
        passed * messages,
        bytes as f64 / 1048576.0,
        elapsed.as_secs_f64(),
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64()
    );
    println!(
        "echo: per connection: min {:.2} s, median {:.2} s, p99 {:.2} s, max {:.2} s",
        percentile(&times, 0.0).as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64(),
        percentile(&times, 0.99).as_secs_f64(),
        percentile(&times, 1.0).as_secs_f64()
    );
    (passed, failed)
}

/// One short conversation: connect, echo a few messages, close. Returns how long it took.
fn quick_echo(addr: SocketAddr) -> Result<Duration, String> {
    let t = Instant::now();
    let mut rx = vec![0u8; 4096];
    let mut tx = vec![0u8; 4096];
    let mut buf = vec![0u8; 4096];
    let mut ws = open(addr, &mut rx, &mut tx)?;
    echo_one(&mut ws, true, "hello, w\u{f6}rld".as_bytes(), &mut buf)?;
    echo_one(&mut ws, false, &[0, 1, 2, 3, 255], &mut buf)?;
    ws.close(CloseCode::NORMAL, "")
        .map_err(|e| format!("close: {e}"))?;
    Ok(t.elapsed())
}

/// Fetches the page with plain HTTP: must be a 200 with the page.
fn fetch_page(addr: SocketAddr) -> Result<Duration, String> {
    let t = Instant::now();
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut page = Vec::new();
    s.read_to_end(&mut page).map_err(|e| e.to_string())?;
    if !page.starts_with(b"HTTP/1.1 200 ") {
        return Err(format!(
            "not a 200: {:?}",
            String::from_utf8_lossy(&page[..page.len().min(40)])
        ));
    }
    Ok(t.elapsed())
}

/// Mode `stall`: `stalled` half-finished handshakes, and a normal client meanwhile.
fn stall(addr: SocketAddr, stalled: usize) -> (usize, usize) {
    const BOUND: Duration = Duration::from_secs(2);
    let (mut passed, mut failed) = (0, 0);
    let mut check = |ok: bool, what: String| {
        println!("stall: {} {what}", if ok { "ok  " } else { "FAIL" });
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    };
    let half = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSo"
    );
    let started = Instant::now();
    let mut held = Vec::with_capacity(stalled);
    let mut open_errors = 0;
    for _ in 0..stalled {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .and_then(|mut s| s.write_all(half.as_bytes()).map(|_| s))
        {
            Ok(s) => held.push(s),
            Err(_) => open_errors += 1,
        }
    }
    check(
        open_errors == 0,
        format!(
            "{} connections stalled halfway through the handshake ({} bytes of the request) in {:.2} s",
            held.len(),
            half.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    // Let the server's threads block on those reads.
    std::thread::sleep(Duration::from_millis(300));
    for round in 1..=5 {
        match quick_echo(addr) {
            Ok(t) => check(
                t < BOUND,
                format!("round {round}: a normal client connected, echoed 2 messages and closed in {:.1} ms (bound {} s)", t.as_secs_f64() * 1000.0, BOUND.as_secs()),
            ),
            Err(e) => check(false, format!("round {round}: normal client: {e}")),
        }
    }
    match fetch_page(addr) {
        Ok(t) => check(
            t < BOUND,
            format!(
                "the page was served in {:.1} ms meanwhile",
                t.as_secs_f64() * 1000.0
            ),
        ),
        Err(e) => check(false, format!("page: {e}")),
    }
    // The stalled connections are still open: the server has not answered them yet.
    let still_open = |held: &[TcpStream]| {
        held.iter()
            .filter(|s| {
                let mut s: &TcpStream = s;
                s.set_nonblocking(true).ok();
                let mut b = [0u8; 512];
                matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
            .count()
    };
    println!(
        "stall: {} of {} stalled connections still open",
        still_open(&held),
        held.len()
    );
    // A server with a handshake deadline lets them go (echo_server: 10 s): wait for it.
    let waited = Instant::now();
    let bound = Duration::from_secs(30);
    let mut open = held.len();
    while open > 0 && waited.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(250));
        open = still_open(&held);
    }
    check(
        open == 0,
        format!(
            "the server let all {} stalled connections go after {:.1} s ({open} left; bound {} s)",
            held.len(),
            (waited.elapsed() + Duration::from_millis(300)).as_secs_f64(),
            bound.as_secs()
        ),
    );
    drop(held);
    (passed, failed)
}

/// Mode `check`: an echo conversation and the page.
fn check(addr: SocketAddr) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    match quick_echo(addr) {
        Ok(t) => {
            println!(
                "check: ok   echo conversation in {:.1} ms",
                t.as_secs_f64() * 1000.0
            );
            passed += 1;
        }
        Err(e) => {
            println!("check: FAIL echo conversation: {e}");
            failed += 1;
        }
    }
    let mut rx = vec![0u8; 16 * 1024];
    let mut tx = vec![0u8; 16 * 1024];
    let mut buf = vec![0u8; MAX_MESSAGE];
    let big = open(addr, &mut rx, &mut tx).and_then(|mut ws| {
        let (_, data) = message(7, 1);
        echo_one(&mut ws, false, &data, &mut buf)?;
        ws.close(CloseCode::NORMAL, "")
            .map_err(|e| format!("close: {e}"))
    });
    match big {
        Ok(()) => {
            println!("check: ok   64 KiB echo");
            passed += 1;
        }
        Err(e) => {
            println!("check: FAIL 64 KiB echo: {e}");
            failed += 1;
        }
    }
    match fetch_page(addr) {
        Ok(t) => {
            println!(
                "check: ok   page served in {:.1} ms",
                t.as_secs_f64() * 1000.0
            );
            passed += 1;
        }
        Err(e) => {
            println!("check: FAIL page: {e}");
            failed += 1;
        }
    }
    (passed, failed)
}

fn usage() -> ! {
    eprintln!(
        "usage: load_client free-port | wait ADDR | echo ADDR [CONNS] [MESSAGES] \
         | stall ADDR [STALLED] | check ADDR | hold ADDR N SECONDS"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or_else(|| usage());
    if mode == "free-port" {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        println!("{}", l.local_addr().expect("local address").port());
        return;
    }
    let addr: SocketAddr = match args.get(1).map(|a| a.parse()) {
        Some(Ok(a)) => a,
        _ => usage(),
    };
    assert!(addr.ip().is_loopback(), "load tests target 127.0.0.1 only");
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|n| n.parse().unwrap_or_else(|_| usage()))
            .unwrap_or(default)
    };
    let (passed, failed) = match mode {
        "wait" => {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    println!("wait: {addr} accepts connections");
                    return;
                }
                if Instant::now() > deadline {
                    eprintln!("wait: {addr} did not come up within 20 s");
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        "echo" => echo(addr, number(2, 1000), number(3, 100)),
        "stall" => stall(addr, number(2, 300)),
        "check" => check(addr),
        "hold" => {
            let n = number(2, 100);
            let secs = number(3, 2) as u64;
            let held: Vec<TcpStream> = (0..n)
                .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
                .collect();
            println!("hold: {} of {n} connections open for {secs} s", held.len());
            std::thread::sleep(Duration::from_secs(secs));
            return;
        }
        _ => usage(),
    };
    println!("load: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
