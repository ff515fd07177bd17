//! Echo server: serves a small page on `GET /` and echoes every WebSocket message.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR] [--max-connections N]
//!     [--message-timeout SECONDS] [--send-timeout SECONDS]
//! ```
//!
//! `ADDR` defaults to 127.0.0.1:9001. One thread per connection, each with 64 KiB of
//! buffers (46 KiB to receive, 16 KiB to send): messages of any size are streamed
//! through, piece by piece, never collected. Binary frames go back as they came, one frame
//! for one, their payload sent on as it arrives; text goes back as fragments, one per piece
//! received, so that a message found to be invalid UTF-8 part-way can still be refused with
//! 1007 (inside a frame already started, no close frame could be sent). Subprotocol
//! `ws13.echo` is selected when the client offers it. One log line per connection.
//!
//! No client, however slow or however many, holds the server:
//!
//! - **At most N connections** (`--max-connections`, default 512), so at most so many
//!   threads, plus the few being let go. When full, the connection stalled longest (for a
//!   quarter of a second at least: a request or a message it has started and not
//!   finished, or an echo it is not taking) is let go to make room: an open WebSocket
//!   gets the close code 1013 ("try again later"). With none to let go, the newcomer is
//!   answered `503 Service Unavailable` before its handshake, and closed. A file
//!   descriptor is kept in reserve, so that out of descriptors (a limit above what
//!   `ulimit -n` allows) the server still takes each waiting client and answers 503,
//!   rather than leave it in the listen queue.
//! - **A request within 10 s** of connecting, however it trickles.
//! - **A message within `--message-timeout`** (default 20 s) of its first byte, plus one
//!   second for each 64 KiB that has come with it (so a large message that keeps
//!   arriving at 64 KiB/s or more is never cut): a peer trickling a frame is closed with
//!   1008, or dropped if the echo of that frame is still open (no close frame can go in
//!   the middle of one).
//! - **Its echo taken within `--send-timeout`** (default 30 s): a peer that stops reading
//!   is dropped once what the server owes it from one read has not gone out in that
//!   time. A send that times out is told apart from a read that times out: only the
//!   read's is a quiet tick.
//! - **Keepalive**: a connection silent for 30 s gets a ping, and is closed with 1001 if
//!   nothing comes back within 10 s more.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ws13::blocking::Incoming;
use ws13::net::{self, FromStd};
use ws13::proto::Keepalive;
use ws13::{CloseCode, CloseFrame, Error, Event, Message, MessageKind};

const PAGE: &str = include_str!("echo_page.html");
/// Receive buffer: the larger share, so that each read moves more of a big message.
const RX: usize = 46 * 1024;
/// Transmit buffer: gathers small frames; a large piece is written from the receive buffer.
const TX: usize = 16 * 1024;
/// Between the two, so their addresses differ in the low bits (see `serve`).
const GAP: usize = 2 * 1024;
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How often a quiet connection wakes up to look at its keepalive and its deadlines; also
/// how often a blocked send looks at its own.
const TICK: Duration = Duration::from_secs(1);
const KEEPALIVE_INTERVAL_MS: u64 = 30_000;
const KEEPALIVE_TIMEOUT_MS: u64 = 10_000;
/// A message may take one second longer for each this many bytes received with it.
const BYTES_PER_SECOND_OF_GRACE: u64 = 64 * 1024;
/// At the limit, a connection stalled at least this long may be let go for a newcomer (the
/// longest stalled first); not less, so that a burst of clients at the limit does not
/// have them let one another go in the middle of their handshakes.
const EVICT_AFTER_MS: u64 = 250;
/// Connections let go but not yet gone (their threads finishing) beyond the limit.
const MAX_DRAINING: usize = 128;
/// Refused connections kept for a moment after their 503, so that it is read before the
/// connection closes (closing on an unread request would reset it).
const MAX_REFUSED_LINGERING: usize = 64;
const REFUSED_LINGER: Duration = Duration::from_secs(1);
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
    Content-Length: 22\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy: try again later\n";
/// "Never", for the times a connection publishes.
const NEVER: u64 = u64::MAX;

/// The server's limits, from the command line.
struct Limits {
    max_connections: usize,
    message_timeout: Duration,
    send_timeout: Duration,
}

/// Why the transport last reported a timeout: the server made the call, so it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Stop {
    /// A read found nothing for one tick: a quiet connection, not an error.
    Tick = 0,
    /// The request did not arrive by its deadline.
    Deadline = 1,
    /// A send did not go out within the send timeout: the peer is not reading.
    NotReading = 2,
    /// The connection was let go to make room for another.
    Evicted = 3,
}

/// One connection, as the acceptor sees it: the stream, and what the connection's thread
/// publishes so that the acceptor can choose whom to let go when full.
struct Slot {
    stream: TcpStream,
    /// Since when (ms) the peer owes something it has started to send, a request or a
    /// message, pushed later by a second for each 64 KiB of the message received; `NEVER`
    /// when it owes nothing.
    owing_since: AtomicU64,
    /// Since when (ms) a send has been blocked on a peer that does not read; `NEVER`.
    writing_since: AtomicU64,
    evicted: AtomicBool,
    stop: AtomicU8,
}

impl Slot {
    /// How long this connection has been stalled, from when: `NEVER` if it is not.
    fn stalled_since(&self) -> u64 {
        self.owing_since
            .load(Relaxed)
            .min(self.writing_since.load(Relaxed))
    }

    fn stop(&self) -> Stop {
        match self.stop.load(Relaxed) {
            1 => Stop::Deadline,
            2 => Stop::NotReading,
            3 => Stop::Evicted,
            _ => Stop::Tick,
        }
    }

    /// Lets the connection go: its thread's next read (or the one it is blocked in) says
    /// so at once; a send blocked on a peer that does not read fails at once too.
    fn evict(&self) {
        self.evicted.store(true, Relaxed);
        let how = if self.writing_since.load(Relaxed) == NEVER {
            Shutdown::Read
        } else {
            Shutdown::Both
        };
        let _ = self.stream.shutdown(how);
    }
}

struct Server {
    limits: Limits,
    start: Instant,
    /// Every connection with a thread: those open, and those let go but not yet gone.
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Server {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    /// A slot for a new connection, letting a stalled one go if the server is full; or
    /// the stream back, to refuse, and why.
    fn admit(&self, stream: TcpStream) -> Result<Arc<Slot>, (TcpStream, String)> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.iter().filter(|s| !s.evicted.load(Relaxed)).count() >= self.limits.max_connections
        {
            if let Err(why) = self.make_room(&slots) {
                return Err((stream, why));
            }
        }
        let slot = Arc::new(Slot {
            stream,
            // A request is owed from the start.
            owing_since: AtomicU64::new(self.now_ms()),
            writing_since: AtomicU64::new(NEVER),
            evicted: AtomicBool::new(false),
            stop: AtomicU8::new(Stop::Tick as u8),
        });
        slots.push(slot.clone());
        Ok(slot)
    }

    /// Lets go the connection stalled longest, if one has been for `EVICT_AFTER_MS` and
    /// not too many are still going; or says why not.
    fn make_room(&self, slots: &[Arc<Slot>]) -> Result<(), String> {
        let draining = slots.iter().filter(|s| s.evicted.load(Relaxed)).count();
        let open = slots.len() - draining;
        let now = self.now_ms();
        let victim = slots
            .iter()
            .filter(|s| !s.evicted.load(Relaxed))
            .map(|s| (s.stalled_since(), s))
            .filter(|&(since, _)| since != NEVER && now.saturating_sub(since) >= EVICT_AFTER_MS)
            .min_by_key(|&(since, _)| since);
        match victim {
            Some((_, victim)) if draining < MAX_DRAINING => {
                victim.evict();
                Ok(())
            }
            Some(_) => Err(format!("{open} connections open, {draining} being let go")),
            None => Err(format!("{open} connections open, none stalled")),
        }
    }

    /// Out of file descriptors: the limit in effect is lower than `--max-connections`.
    /// A stalled connection is let go as at the limit, for the next client.
    fn out_of_descriptors(&self) -> String {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match self.make_room(&slots) {
            Ok(()) => "the longest stalled connection let go".into(),
            Err(why) => why,
        }
    }

    fn release(&self, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|s| !Arc::ptr_eq(s, slot));
    }
}

/// The transport: the connection's stream, with its deadlines. Reads wake every `TICK`
/// (a timeout of kind `Stop::Tick`, which ws13's calls survive), except while the request
/// is owed: then they wait, up to its deadline. A blocked send tries again each `TICK`
/// until the send timeout, counted from the first write since the last read (the server
/// reads only once it has written out what it owes). Each timeout says why in the slot.
struct Conn<'a> {
    server: &'a Server,
    slot: &'a Slot,
    deadline: Option<Instant>,
    write_started: Option<Instant>,
}

impl Conn<'_> {
    fn stop(&self, why: Stop) -> io::Error {
        self.slot.stop.store(why as u8, Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, format!("{why:?}"))
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl io::Read for Conn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Reading: whatever was owed to the peer has gone out.
        if self.write_started.take().is_some() {
            self.slot.writing_since.store(NEVER, Relaxed);
        }
        loop {
            if self.slot.evicted.load(Relaxed) {
                return Err(self.stop(Stop::Evicted));
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.stop(Stop::Deadline));
            }
            match (&self.slot.stream).read(buf) {
                Ok(0) if self.slot.evicted.load(Relaxed) => return Err(self.stop(Stop::Evicted)),
                Ok(n) => {
                    // The first bytes of something: the peer owes the rest from now on.
                    if n > 0 && self.slot.owing_since.load(Relaxed) == NEVER {
                        self.slot.owing_since.store(self.server.now_ms(), Relaxed);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) && self.deadline.is_some() => {}
                Err(e) if timed_out(&e) => return Err(self.stop(Stop::Tick)),
                Err(e) => return Err(e),
            }
        }
    }
}

impl io::Write for Conn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let started = *self.write_started.get_or_insert_with(Instant::now);
        loop {
            match (&self.slot.stream).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => {
                    let stuck = started.elapsed();
                    if self.slot.writing_since.load(Relaxed) == NEVER {
                        let ms = u64::try_from(stuck.as_millis()).unwrap_or(0);
                        let since = self.server.now_ms().saturating_sub(ms);
                        self.slot.writing_since.store(since, Relaxed);
                    }
                    if stuck >= self.server.limits.send_timeout {
                        return Err(self.stop(Stop::NotReading));
                    }
                }
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Ws<'b, 'a> = ws13::blocking::WebSocket<'b, FromStd<Conn<'a>>>;

/// What one connection did, for its log line.
#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
}

/// What to log for a connection that ended in an error.
fn describe(e: &Error<io::Error>, slot: &Slot, limits: &Limits) -> String {
    if !e.is_timeout() {
        return format!("error: {e}");
    }
    match slot.stop() {
        Stop::Deadline => format!(
            "no whole request within {} s: dropped",
            HANDSHAKE_DEADLINE.as_secs()
        ),
        Stop::NotReading => format!(
            "peer took nothing for {} s (not reading): dropped",
            limits.send_timeout.as_secs()
        ),
        Stop::Evicted => "let go at the connection limit (stalled): dropped".into(),
        Stop::Tick => format!("error: {e}"),
    }
}

/// Sends a close frame with `code` (unless an echo frame of ours is open, which no close
/// frame may interrupt) and says which it was.
fn close_with(ws: &mut Ws<'_, '_>, code: CloseCode, reason: &str) -> &'static str {
    if ws.writer().frame_remaining() > 0 {
        return "dropped";
    }
    match ws.send(Message::Close(Some(CloseFrame { code, reason }))) {
        Ok(()) => "closed",
        Err(_) => "dropped",
    }
}

fn serve(server: &Server, slot: &Slot, stats: &mut Stats) -> Result<String, String> {
    let limits = &server.limits;
    let fail = |e: Error<io::Error>| describe(&e, slot, limits);
    // One allocation of 64 KiB, the transmit buffer 2 KiB past the receive buffer: copying
    // between buffers whose addresses share their low 12 bits is slow on some CPUs.
    let mut buffers = vec![0u8; RX + GAP + TX];
    let (rx, rest) = buffers.split_at_mut(RX);
    let tx = rest.get_mut(GAP..).unwrap_or_default();
    let conn = Conn {
        server,
        slot,
        deadline: Instant::now().checked_add(HANDSHAKE_DEADLINE),
        write_started: None,
    };
    let mut incoming = Incoming::new(FromStd::new(conn), rx);
    incoming.read().map(|_| ()).map_err(fail)?;
    incoming.get_mut().inner_mut().deadline = None;
    slot.owing_since.store(NEVER, Relaxed);
    let request = incoming.request();
    if !request.is_upgrade() {
        return match (request.method(), request.path()) {
            ("GET", "/") => incoming
                .respond(
                    200,
                    &[("Content-Type", "text/html; charset=utf-8")],
                    PAGE.as_bytes(),
                )
                .map(|()| "served page".into()),
            ("GET", _) => incoming
                .respond(404, &[("Content-Type", "text/plain")], b"not found\n")
                .map(|()| "404".into()),
            _ => incoming
                .respond(405, &[("Allow", "GET")], b"")
                .map(|()| "405".into()),
        }
        .map_err(fail);
    }
    let protocol = request.offers_protocol("ws13.echo").then_some("ws13.echo");
    let mut ws = incoming.accept(tx, protocol).map_err(fail)?;
    // Time for the keepalive is read here, in the driver, and passed into the core; only
    // when a read times out (every TICK of silence), not for every event.
    let mut keepalive =
        Keepalive::new(KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS, server.now_ms());
    let mut heard = false;
    let message_timeout_ms = u64::try_from(limits.message_timeout.as_millis()).unwrap_or(NEVER);
    // The message being received: since when (ms), and its bytes so far.
    let mut message: Option<(u64, u64)> = None;
    loop {
        // Something the peer started to send is overdue: a frame or a message trickling.
        let owing = slot.owing_since.load(Relaxed);
        if owing != NEVER && server.now_ms().saturating_sub(owing) >= message_timeout_ms {
            let how = close_with(&mut ws, CloseCode::POLICY_VIOLATION, "message too slow");
            return Ok(format!(
                "no whole message within {} s: {how} with 1008",
                limits.message_timeout.as_secs()
            ));
        }
        let (event, mut writer) = match ws.read_split() {
            Ok(split) => split,
            Err(e) if e.is_timeout() && slot.stop() == Stop::Tick => {
                let now = server.now_ms();
                if std::mem::take(&mut heard) {
                    keepalive.seen(now);
                }
                // A ping, or the close (1001) when the last one went unanswered; behind a
                // frame being relayed, it waits for the frame.
                if let Some(message) = keepalive.due(now) {
                    ws.send(message).map_err(fail)?;
                    if let Message::Close(_) = message {
                        return Ok("no answer to keepalive ping: closed with 1001".into());
                    }
                }
                continue;
            }
            Err(e) if e.is_timeout() && slot.stop() == Stop::Evicted => {
                let how = close_with(&mut ws, CloseCode::TRY_AGAIN_LATER, "server full");
                return Ok(format!(
                    "let go at the connection limit (stalled): {how} with 1013"
                ));
            }
            Err(e) => return Err(fail(e)),
        };
        heard = true;
        let sent = match event {
            Event::Data(piece) => {
                let len = piece.payload.len() as u64;
                stats.bytes += len;
                if piece.last {
                    stats.messages += 1;
                    message = None;
                    slot.owing_since.store(NEVER, Relaxed);
                } else {
                    // Since the read that brought its first bytes, if that is known.
                    let (since, bytes) =
                        message.get_or_insert_with(|| match slot.owing_since.load(Relaxed) {
                            NEVER => (server.now_ms(), 0),
                            since => (since, 0),
                        });
                    *bytes += len;
                    let grace = *bytes * 1000 / BYTES_PER_SECOND_OF_GRACE;
                    slot.owing_since.store(*since + grace, Relaxed);
                }
                if piece.kind == MessageKind::Binary {
                    writer.relay(&piece)
                } else {
                    writer.write_fragment(piece.kind, piece.payload, piece.last)
                }
            }
            Event::Close(_) => return Ok("closed".into()),
            Event::Ping(_) | Event::Pong(_) => {
                if message.is_none() {
                    slot.owing_since.store(NEVER, Relaxed);
                }
                Ok(())
            }
        };
        sent.map_err(fail)?;
    }
}

fn handle(server: &Server, slot: &Arc<Slot>) {
    let stream = &slot.stream;
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    // Reads and blocked writes wake every TICK to look at the time.
    let _ = stream.set_read_timeout(Some(TICK));
    let _ = stream.set_write_timeout(Some(TICK));
    let mut stats = Stats::default();
    let outcome = serve(server, slot, &mut stats).unwrap_or_else(|e| e);
    // The stream is still here to close gracefully however the connection ended.
    net::linger(stream, Duration::from_secs(2));
    server.release(slot);
    eprintln!(
        "{peer}: {outcome}; {} messages, {} bytes echoed",
        stats.messages, stats.bytes
    );
}

/// Answers `503 Service Unavailable` on a connection the server has no room for (the
/// socket is fresh: the short answer fits its send buffer, so this does not block).
fn refuse(stream: &TcpStream, why: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write_all(BUSY);
    let _ = stream.shutdown(Shutdown::Write);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    eprintln!("{peer}: refused with 503 ({why}); 0 messages, 0 bytes echoed");
}

/// Keeps refused connections for up to `REFUSED_LINGER`, reading what the client sends
/// until it closes, so that its 503 is not lost to a reset; at most
/// `MAX_REFUSED_LINGERING` at a time (the rest are closed at once).
fn linger_refused(queue: mpsc::Receiver<TcpStream>) {
    let mut held: Vec<(TcpStream, Instant)> = Vec::new();
    let mut sink = [0u8; 1024];
    loop {
        if held.is_empty() {
            match queue.recv() {
                Ok(stream) => held.push((stream, Instant::now() + REFUSED_LINGER)),
                Err(_) => return,
            }
        }
        while let Ok(stream) = queue.try_recv() {
            if held.len() < MAX_REFUSED_LINGERING {
                held.push((stream, Instant::now() + REFUSED_LINGER));
            }
        }
        let now = Instant::now();
        held.retain(|(stream, until)| {
            if now >= *until {
                return false;
            }
            loop {
                match (&*stream).read(&mut sink) {
                    Ok(0) => return false,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_server [ADDR] [--max-connections N] [--message-timeout SECONDS] \
         [--send-timeout SECONDS]\n  (defaults: 127.0.0.1:9001, 512, 20, 30)"
    );
    std::process::exit(2);
}

fn main() {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut limits = Limits {
        max_connections: 512,
        message_timeout: Duration::from_secs(20),
        send_timeout: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> u64 {
            match args.next().map(|n| n.parse()) {
                Some(Ok(n)) if n > 0 => n,
                _ => usage(),
            }
        };
        match arg.as_str() {
            "--max-connections" => {
                limits.max_connections = usize::try_from(number()).unwrap_or(usize::MAX);
            }
            "--message-timeout" => limits.message_timeout = Duration::from_secs(number()),
            "--send-timeout" => limits.send_timeout = Duration::from_secs(number()),
            a if a.starts_with('-') => usage(),
            a => a.clone_into(&mut addr),
        }
    }
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("echo_server: listening on http://{addr}/ (open it in a browser)");
    eprintln!(
        "echo_server: at most {} connections (then the longest stalled is let go, or 503), \
         a message within {} s, an echo taken within {} s",
        limits.max_connections,
        limits.message_timeout.as_secs(),
        limits.send_timeout.as_secs()
    );
    let server: &'static Server = Box::leak(Box::new(Server {
        limits,
        start: Instant::now(),
        slots: Mutex::new(Vec::new()),
    }));
    let (lingering, queue) = mpsc::sync_channel(MAX_REFUSED_LINGERING);
    let _ = std::thread::Builder::new()
        .name("refused".into())
        .spawn(move || linger_refused(queue));
    // A descriptor in reserve: out of them, accept() fails and the client would wait in
    // the listen queue; this one is given up to accept it and answer 503.
    let spare = || File::open(if cfg!(windows) { "NUL" } else { "/dev/null" }).ok();
    let mut reserve = spare();
    loop {
        if reserve.is_none() {
            reserve = spare();
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, accept() fails at once, whether a client is waiting
                // or not: give up the reserve to take the one waiting, if any, and refuse
                // it; with none waiting, look again a little later.
                if reserve.take().is_some() {
                    let _ = listener.set_nonblocking(true);
                    let waiting = listener.accept();
                    let _ = listener.set_nonblocking(false);
                    match waiting {
                        Ok((stream, _)) => {
                            let why = format!("accept: {e}; {}", server.out_of_descriptors());
                            refuse(&stream, &why);
                            continue;
                        }
                        Err(w) if w.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                        Err(_) => {}
                    }
                }
                eprintln!("echo_server: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let slot = match server.admit(stream) {
            Ok(slot) => slot,
            Err((stream, why)) => {
                refuse(&stream, &why);
                // Kept a moment for its 503 to be read; closed at once if too many are.
                let _ = lingering.try_send(stream);
                continue;
            }
        };
        let mine = slot.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || handle(server, &mine));
        if let Err(e) = spawned {
            refuse(&slot.stream, &format!("cannot start a thread: {e}"));
            server.release(&slot);
        }
    }
}
