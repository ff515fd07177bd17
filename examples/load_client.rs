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
//! load_client lockout ADDR [TRICKLING] [SECONDS] [MESSAGE_TIMEOUT]
//!                                            TRICKLING (default 1100) WebSockets each start a
//!                                            1000-byte text message and send one byte of it
//!                                            every 5 s; any the server refuses or closes is
//!                                            opened again 1 s later, for SECONDS (default 12);
//!                                            meanwhile a normal client must connect, echo and
//!                                            close, and the page be served, within 1 s, every
//!                                            half second (a 503 is tried again 50 ms later,
//!                                            within the same second); then every trickling
//!                                            connection must be closed by the server within
//!                                            MESSAGE_TIMEOUT (default 20) + 2 s of its first
//!                                            byte
//! load_client deaf ADDR SEND_TIMEOUT         one WebSocket sends a 1 GiB frame and reads
//!                                            nothing: the server must drop it SEND_TIMEOUT
//!                                            (+ up to 5) s after its sends stall, not later
//! load_client refused ADDR N                 open N TCP connections and send nothing: each
//!                                            must be answered within 12 s, by a 503 (within
//!                                            1 s) or closed at the handshake deadline, none
//!                                            left waiting in the listen queue
//! load_client reconnect ADDR [CONNS] [MESSAGES] [PAUSE_MS]
//!                                            CONNS (default 200) connections echo MESSAGES
//!                                            (default 200) short messages each, PAUSE_MS
//!                                            (default 20) apart; a connection that fails
//!                                            opens a new one (up to 5 times) and goes on from
//!                                            the message whose echo it lacked
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
    // `Connection: close`: a proxy in between would otherwise keep the connection open.
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
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

/// Runs `attempt` (a normal client's visit) until it is served, making it again after a
/// 503 as long as `bound` has not passed since the first try, as a client does when a
/// server at its connection limit answers 503 ("try again"): a server at the limit
/// lets a stalled connection go for a newcomer only once it has been stalled for a
/// quarter of a second, so right after a wave of reconnecting attackers fills every
/// slot, a newcomer may be refused until one has. Returns the last outcome, timed from
/// the first try, and how many 503s came before it.
fn within(
    bound: Duration,
    mut attempt: impl FnMut() -> Result<Duration, String>,
) -> (Result<Duration, String>, usize) {
    let t = Instant::now();
    let mut refused = 0;
    loop {
        match attempt() {
            Ok(_) => return (Ok(t.elapsed()), refused),
            Err(e) if e.contains(" 503") && t.elapsed() + RETRY_AFTER_503 < bound => {
                refused += 1;
                std::thread::sleep(RETRY_AFTER_503);
            }
            Err(e) => return (Err(e), refused),
        }
    }
}

/// How long a normal client waits after a 503 before it tries again ([`within`]).
const RETRY_AFTER_503: Duration = Duration::from_millis(50);

/// " after N 503s" for a check's line, when there were any.
fn retried(refused: usize) -> String {
    if refused == 0 {
        String::new()
    } else {
        format!(", after {refused} 503s")
    }
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

/// A `Sec-WebSocket-Key`: any 16 bytes in base64 will do for these raw clients.
const RAW_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens a WebSocket by hand (to send part of a frame, or to send without reading);
/// returns the stream and any bytes that came behind the 101, or the response's status
/// line if it was not a 101 (a 503, say).
fn raw_open(addr: SocketAddr) -> Result<(TcpStream, Vec<u8>), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    s.set_nodelay(true).ok();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {RAW_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .map_err(|e| format!("request: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).map_err(|e| format!("response: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&head)));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(&head[..head.len().min(12)]).to_string();
            if !status.starts_with("HTTP/1.1 101") {
                return Err(status);
            }
            return Ok((s, head[end + 4..].to_vec()));
        }
    }
}

/// The close code in a close frame from the server, if `buf` holds a whole frame of it:
/// frames before it are skipped. `Some(None)` for a close frame without a code.
fn find_close(buf: &[u8]) -> Option<Option<u16>> {
    let mut at = 0;
    while buf.len() >= at + 2 {
        let (b0, b1) = (buf[at], buf[at + 1]);
        let (len, head) = match b1 & 0x7F {
            126 if buf.len() >= at + 4 => {
                (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4)
            }
            127 if buf.len() >= at + 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&buf[at + 2..at + 10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if buf.len() < at + head + len {
            return None;
        }
        if b0 & 0x0F == 8 {
            let p = &buf[at + head..at + head + len];
            return Some((p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])));
        }
        at += head + len;
    }
    None
}

/// One trickling connection of the lockout test.
struct Trickler {
    stream: Option<TcpStream>,
    /// Received bytes, looked through for a close frame.
    received: Vec<u8>,
    /// When its message started (its first byte was sent), and its last byte went.
    since: Instant,
    last_byte: Instant,
    sent: usize,
    reopen_at: Option<Instant>,
}

/// What became of the trickling connections.
#[derive(Default)]
struct TrickleTally {
    upgraded: usize,
    refused_503: usize,
    failed_to_open: usize,
    /// Close codes from the server, each with the longest and shortest a connection
    /// lived with its message unfinished before it.
    closed: std::collections::BTreeMap<u16, (usize, Duration, Duration)>,
    dropped: usize,
    bytes_trickled: usize,
    other_errors: Vec<String>,
}

const TRICKLE_KEY: [u8; 4] = [0x5a, 0xa5, 0x0f, 0xf0];
const TRICKLE_EVERY: Duration = Duration::from_secs(5);
const TRICKLE_LEN: usize = 1000;

impl Trickler {
    fn open(&mut self, addr: SocketAddr, tally: &mut TrickleTally) {
        self.reopen_at = Some(Instant::now() + Duration::from_secs(1));
        match raw_open(addr) {
            Ok((s, rest)) => {
                // A text frame of 1000 bytes, and its first byte.
                let mut frame = vec![0x81, 0x80 | 126];
                frame.extend_from_slice(&(TRICKLE_LEN as u16).to_be_bytes());
                frame.extend_from_slice(&TRICKLE_KEY);
                frame.push(b'a' ^ TRICKLE_KEY[0]);
                if (&s).write_all(&frame).is_err() || s.set_nonblocking(true).is_err() {
                    tally.failed_to_open += 1;
                    return;
                }
                tally.upgraded += 1;
                tally.bytes_trickled += 1;
                self.stream = Some(s);
                self.received = rest;
                self.since = Instant::now();
                self.last_byte = self.since;
                self.sent = 1;
                self.reopen_at = None;
            }
            Err(status) if status.starts_with("HTTP/1.1 503") => tally.refused_503 += 1,
            Err(e) => {
                tally.failed_to_open += 1;
                if tally.other_errors.len() < 5 {
                    tally.other_errors.push(e);
                }
            }
        }
    }

    /// Reads what came, trickles a byte when due; notes the end of the connection.
    fn poll(&mut self, now: Instant, tally: &mut TrickleTally) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut ended = None;
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    ended = Some(None);
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    ended = Some(None);
                    break;
                }
            }
        }
        if let Some(code) = find_close(&self.received) {
            ended = Some(Some(code.unwrap_or(1005)));
        }
        // Keep only a tail: the echoes of single bytes are small frames.
        if self.received.len() > 64 * 1024 {
            self.received.drain(..self.received.len() - 1024);
        }
        if ended.is_none() && now >= self.last_byte + TRICKLE_EVERY && self.sent < TRICKLE_LEN {
            let byte = b'a' ^ TRICKLE_KEY[self.sent % 4];
            if matches!(s.write(&[byte]), Ok(1)) {
                self.sent += 1;
                self.last_byte = now;
                tally.bytes_trickled += 1;
            }
        }
        if let Some(code) = ended {
            let lived = now - self.since;
            match code {
                Some(code) => {
                    let e = tally
                        .closed
                        .entry(code)
                        .or_insert((0, Duration::ZERO, Duration::MAX));
                    e.0 += 1;
                    e.1 = e.1.max(lived);
                    e.2 = e.2.min(lived);
                }
                None => tally.dropped += 1,
            }
            self.stream = None;
            self.received.clear();
            self.reopen_at = Some(now + Duration::from_secs(1));
        }
    }
}

/// Mode `lockout`: trickling connections against the server's limits, and a normal
/// client meanwhile.
fn lockout(
    addr: SocketAddr,
    trickling: usize,
    seconds: usize,
    message_timeout: usize,
) -> (usize, usize) {
    const BOUND: Duration = Duration::from_secs(1);
    let (mut passed, mut failed) = (0, 0);
    let mut check = |ok: bool, what: String| {
        println!("lockout: {} {what}", if ok { "ok  " } else { "FAIL" });
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    };
    let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let open_now = Arc::new(AtomicUsize::new(0));
    let attack = Duration::from_secs(seconds as u64);
    let message_bound = Duration::from_secs(message_timeout as u64 + 2);
    let t0 = Instant::now();
    let trickle = {
        let (opened, open_now) = (opened.clone(), open_now.clone());
        std::thread::spawn(move || {
            let mut tally = TrickleTally::default();
            let started = Instant::now();
            let mut conns: Vec<Trickler> = (0..trickling)
                .map(|_| Trickler {
                    stream: None,
                    received: Vec::new(),
                    since: started,
                    last_byte: started,
                    sent: 0,
                    reopen_at: None,
                })
                .collect();
            for c in &mut conns {
                c.open(addr, &mut tally);
            }
            let first_wave = Instant::now() - started;
            let upgraded_at_first = tally.upgraded;
            opened.store(true, Ordering::SeqCst);
            // Trickle, and reopen what the server lets go, until the attack ends; then
            // wait for the server to close the rest.
            let stop = started + attack;
            let give_up = stop + message_bound + Duration::from_secs(3);
            let mut most_open = 0;
            loop {
                let now = Instant::now();
                for c in &mut conns {
                    c.poll(now, &mut tally);
                    if now < stop && c.stream.is_none() && c.reopen_at.is_some_and(|t| now >= t) {
                        c.open(addr, &mut tally);
                    }
                }
                let open = conns.iter().filter(|c| c.stream.is_some()).count();
                open_now.store(open, Ordering::SeqCst);
                most_open = most_open.max(open);
                if (now >= stop && open == 0) || now >= give_up {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let left = conns.iter().filter(|c| c.stream.is_some()).count();
            let oldest = conns
                .iter()
                .filter(|c| c.stream.is_some())
                .map(|c| c.since.elapsed())
                .max()
                .unwrap_or_default();
            (
                tally,
                first_wave,
                upgraded_at_first,
                most_open,
                left,
                oldest,
                started.elapsed(),
            )
        })
    };
    while !opened.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the trickling connections age past the quarter second the server grants a
    // stalled connection before it may be let go, and the refused ones come back once.
    std::thread::sleep(Duration::from_millis(1500));
    let mut round = 0;
    let mut worst = Duration::ZERO;
    let mut times = Vec::new();
    // Rounds every half second until the attack is about to end (at least three).
    while Instant::now() + Duration::from_secs(1) < t0 + attack || round < 3 {
        round += 1;
        let trickling_now = open_now.load(Ordering::SeqCst);
        let (echoed, refused) = within(BOUND, || quick_echo(addr));
        match echoed {
            Ok(t) => {
                worst = worst.max(t);
                times.push(t);
                check(
                    t < BOUND,
                    format!(
                        "round {round}: with {trickling_now} trickling connections open, a normal client \
                         connected, echoed 2 messages and closed in {:.1} ms (bound 1 s{})",
                        t.as_secs_f64() * 1000.0,
                        retried(refused)
                    ),
                );
            }
            Err(e) => check(false, format!("round {round}: with {trickling_now} trickling connections open, normal client: {e}{}", retried(refused))),
        }
        let (page, refused) = within(BOUND, || fetch_page(addr));
        match page {
            Ok(t) => check(
                t < BOUND,
                format!(
                    "round {round}: the page was served in {:.1} ms{}",
                    t.as_secs_f64() * 1000.0,
                    retried(refused)
                ),
            ),
            Err(e) => check(
                false,
                format!("round {round}: page: {e}{}", retried(refused)),
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    times.sort();
    println!(
        "lockout: normal client over {} rounds: median {:.1} ms, worst {:.1} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    );
    let (tally, first_wave, upgraded_at_first, most_open, left, oldest, took) =
        trickle.join().expect("trickle thread");
    println!(
        "lockout: {trickling} trickling connections opened in {:.2} s ({upgraded_at_first} upgraded, the rest \
         refused or let go), reopened 1 s after each refusal or close for {seconds} s: \
         {} upgrades, {} refused with 503, {} failed to open, {} bytes trickled; at most {most_open} open at once",
        first_wave.as_secs_f64(),
        tally.upgraded,
        tally.refused_503,
        tally.failed_to_open,
        tally.bytes_trickled
    );
    for e in &tally.other_errors {
        println!("lockout:   failed to open: {e}");
    }
    for (code, (n, longest, shortest)) in &tally.closed {
        println!(
            "lockout: {n} closed by the server with {code}, after {:.1} to {:.1} s of trickling",
            shortest.as_secs_f64(),
            longest.as_secs_f64()
        );
    }
    println!(
        "lockout: {} dropped by the server without a close frame",
        tally.dropped
    );
    check(
        left == 0,
        format!(
            "every trickling connection was closed by the server ({left} still open after {:.1} s, \
             the oldest trickling for {:.1} s)",
            took.as_secs_f64(),
            oldest.as_secs_f64()
        ),
    );
    let slowest = tally.closed.values().map(|v| v.1).max().unwrap_or_default();
    check(
        slowest <= message_bound,
        format!(
            "none trickled longer than the message timeout + 2 s: longest {:.1} s (bound {} s)",
            slowest.as_secs_f64(),
            message_bound.as_secs()
        ),
    );
    check(
        tally.closed.contains_key(&1008),
        "unfinished messages were closed with 1008 at the message timeout".into(),
    );
    (passed, failed)
}

/// Mode `deaf`: a client that sends and never reads must be dropped after the send
/// timeout.
fn deaf(addr: SocketAddr, send_timeout: usize) -> (usize, usize) {
    let (mut s, _) = match raw_open(addr) {
        Ok(x) => x,
        Err(e) => {
            println!("deaf: FAIL open: {e}");
            return (0, 1);
        }
    };
    // A binary frame announcing 1 GiB, with a zero mask key (the payload goes as it is).
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 30).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    s.write_all(&frame).expect("frame header");
    s.set_write_timeout(Some(Duration::from_millis(100))).ok();
    let chunk = vec![0x42u8; 64 * 1024];
    let started = Instant::now();
    let bound = Duration::from_secs(send_timeout as u64 * 2 + 30);
    let mut sent = 0u64;
    // When our sends last stopped going through, and since then no byte has gone.
    let mut stalled: Option<Instant> = None;
    let mut first_stall: Option<Instant> = None;
    let mut sent_at_stall = 0;
    let end = loop {
        if started.elapsed() > bound {
            break None;
        }
        match s.write(&chunk) {
            Ok(n) => {
                sent += n as u64;
                stalled = None;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let since = *stalled.get_or_insert_with(Instant::now);
                if first_stall.is_none() && since.elapsed() >= Duration::from_secs(1) {
                    first_stall = Some(since);
                    sent_at_stall = sent;
                }
            }
            Err(e) => break Some((Instant::now(), e)),
        }
    };
    let Some(first_stall) = first_stall else {
        println!("deaf: FAIL the sends never stalled ({sent} bytes sent)");
        return (0, 1);
    };
    match end {
        Some((at, e)) => {
            let after = at - first_stall;
            let ok = after
                >= Duration::from_secs(send_timeout as u64).saturating_sub(Duration::from_secs(1))
                && after <= Duration::from_secs(send_timeout as u64 + 5);
            println!(
                "deaf: {} {:.1} MiB went before the server stopped reading; it dropped the connection \
                 {:.1} s after our sends stalled ({e}; bound: send timeout {send_timeout} s + 5)",
                if ok { "ok  " } else { "FAIL" },
                sent_at_stall as f64 / 1048576.0,
                after.as_secs_f64()
            );
            (usize::from(ok), usize::from(!ok))
        }
        None => {
            println!(
                "deaf: FAIL still connected {:.1} s after our sends stalled",
                first_stall.elapsed().as_secs_f64()
            );
            (0, 1)
        }
    }
}

/// Mode `refused`: `n` connections that send nothing; each must be answered.
fn refused(addr: SocketAddr, n: usize) -> (usize, usize) {
    let started = Instant::now();
    let mut conns: Vec<(TcpStream, Instant)> = Vec::new();
    let mut open_errors = 0;
    for _ in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                s.set_nonblocking(true).ok();
                conns.push((s, Instant::now()));
            }
            Err(_) => open_errors += 1,
        }
    }
    let (mut busy, mut closed) = (Vec::new(), 0usize);
    let bound = Duration::from_secs(12);
    let mut waiting = conns.len();
    while waiting > 0 && started.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(20));
        conns.retain(|(s, opened)| {
            let mut b = [0u8; 256];
            match (&*s).read(&mut b) {
                Ok(n) if b[..n].starts_with(b"HTTP/1.1 503") => {
                    busy.push(opened.elapsed());
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
                // Closed (or reset) without a 503: at the handshake deadline.
                _ => {
                    closed += 1;
                    false
                }
            }
        });
        waiting = conns.len();
    }
    busy.sort();
    let slowest = busy.last().copied().unwrap_or_default();
    let ok =
        waiting == 0 && open_errors == 0 && slowest < Duration::from_secs(1) && !busy.is_empty();
    println!(
        "refused: {} {n} connections: {} answered 503 (within {:.0} ms, polled every 20 ms; median {:.1} ms), {closed} closed \
         without an answer at the handshake deadline, {waiting} still waiting after {:.1} s, {open_errors} \
         failed to connect",
        if ok { "ok  " } else { "FAIL" },
        busy.len(),
        slowest.as_secs_f64() * 1000.0,
        percentile(&busy, 0.5).as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64()
    );
    (usize::from(ok), usize::from(!ok))
}

/// Message `i` of connection `conn` in mode `reconnect`: short text.
fn small_message(conn: usize, i: usize) -> String {
    format!(
        "conn {conn} message {i} {}",
        "x".repeat((conn * 7 + i * 13) % 200)
    )
}

/// One connection of mode `reconnect`: returns how many times it had to open a new one.
fn reconnect_conn(
    addr: SocketAddr,
    conn: usize,
    messages: usize,
    pause: Duration,
) -> Result<usize, String> {
    let mut rx = vec![0u8; 4096];
    let mut tx = vec![0u8; 4096];
    let mut buf = vec![0u8; 4096];
    let mut reopened = 0;
    let mut i = 0;
    let mut last_error = String::new();
    while reopened <= 5 {
        let mut ws = match open(addr, &mut rx, &mut tx) {
            Ok(ws) => ws,
            Err(e) => {
                last_error = e;
                reopened += 1;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        while i < messages {
            let m = small_message(conn, i);
            match echo_one(&mut ws, true, m.as_bytes(), &mut buf) {
                Ok(()) => i += 1,
                Err(e) => {
                    last_error = e;
                    break;
                }
            }
            std::thread::sleep(pause);
        }
        if i == messages {
            ws.close(CloseCode::NORMAL, "done")
                .map_err(|e| format!("close: {e}"))?;
            return Ok(reopened);
        }
        reopened += 1;
    }
    Err(format!(
        "gave up at message {i} after {reopened} new connections: {last_error}"
    ))
}

/// Mode `reconnect`: echoes that survive the loss of their connection.
fn reconnect(addr: SocketAddr, conns: usize, messages: usize, pause_ms: usize) -> (usize, usize) {
    let started = Instant::now();
    let pause = Duration::from_millis(pause_ms as u64);
    let handles: Vec<_> = (0..conns)
        .map(|conn| {
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || reconnect_conn(addr, conn, messages, pause))
                .expect("thread")
        })
        .collect();
    let (mut passed, mut failed, mut reopened, mut moved) = (0, 0, 0, 0);
    for (conn, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(n)) => {
                passed += 1;
                reopened += n;
                moved += usize::from(n > 0);
            }
            Ok(Err(e)) => {
                failed += 1;
                println!("reconnect: FAIL connection {conn}: {e}");
            }
            Err(_) => failed += 1,
        }
    }
    println!(
        "reconnect: {passed}/{conns} connections echoed all {messages} messages in {:.1} s; \
         {moved} of them lost their connection and went on over a new one ({reopened} new connections in all)",
        started.elapsed().as_secs_f64()
    );
    (passed, failed)
}

fn usage() -> ! {
    eprintln!(
        "usage: load_client free-port | wait ADDR | echo ADDR [CONNS] [MESSAGES] \
         | stall ADDR [STALLED] | check ADDR | hold ADDR N SECONDS \
         | lockout ADDR [TRICKLING] [SECONDS] [MESSAGE_TIMEOUT] | deaf ADDR SEND_TIMEOUT \
         | refused ADDR N | reconnect ADDR [CONNS] [MESSAGES] [PAUSE_MS]"
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
        "lockout" => lockout(addr, number(2, 1100), number(3, 12), number(4, 20)),
        "deaf" => deaf(addr, number(2, 30)),
        "refused" => refused(addr, number(2, 100)),
        "reconnect" => reconnect(addr, number(2, 200), number(3, 200), number(4, 20)),
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
