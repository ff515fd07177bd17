//! A stand-in for the later WebSocket server: answers every HTTP request on a connection
//! with one fixed page, then closes. It goes through [`SocketIo`] only for the bytes (reads
//! the request, writes the response), as the WebSocket server will.
//!
//! Each connection is a [`Conn`]: a socket handle and where the exchange stands. The main
//! loop polls the stack, then gives every `Conn` a [`Conn::step`]; a step never waits, since
//! it reads or writes only what `read_ready`/`write_ready` say is possible (through
//! [`ws13_net_firmware::net::SocketIo`], which `Net::io` builds).

use embedded_io::{Read, ReadReady, Write, WriteReady};
use smoltcp::iface::SocketHandle;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use ws13_net_firmware::net::{self, Net, NetError};

/// The port served.
pub const PORT: u16 = 80;

macro_rules! body {
    () => {
        "<!doctype html>\n<title>ws13</title>\n<p>ws13 network bring-up: smoltcp on an LM3S6965 under QEMU.</p>\n"
    };
}

/// The page (its length, in the header below, is checked here).
pub const BODY: &str = body!();
const _: () = assert!(BODY.len() == 101);

/// The whole response: status, headers, page.
pub const RESPONSE: &[u8] = concat!(
    "HTTP/1.1 200 OK\r\n",
    "Content-Type: text/html; charset=utf-8\r\n",
    "Content-Length: 101\r\n",
    "Connection: close\r\n",
    "\r\n",
    body!()
)
.as_bytes();

/// A request's head is longer than this: the connection is dropped.
const MAX_REQUEST: usize = 4096;
/// A connection stuck in one phase for this long is dropped (a client that connects and
/// says nothing, one that does not read, one that never closes its side).
const PHASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a connection (the socket listens).
    Idle,
    /// Reading the request's head: how many bytes so far, how much of "\r\n\r\n" matched.
    Request { seen: usize, matched: u8 },
    /// Writing the response: how many bytes are out.
    Response { sent: usize },
    /// Our FIN is queued; waiting for the connection to be over.
    Closing,
}

/// One connection slot of the server, over a socket that [`Net`] keeps listening.
pub struct Conn {
    handle: SocketHandle,
    phase: Phase,
    /// The client of the connection being served: once the socket has another (or none),
    /// that connection is over and the socket listens or serves the next client.
    peer: Option<IpEndpoint>,
    since: Instant,
}

/// What a step did, for the caller's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A response went out whole.
    Served,
    /// The connection was dropped (reset, timeout, oversized or unfinished request).
    Dropped,
}

impl Conn {
    /// A slot over a socket from [`Net::listen_tcp`] on [`PORT`].
    pub fn new(handle: SocketHandle) -> Self {
        Conn {
            handle,
            phase: Phase::Idle,
            peer: None,
            since: Instant::ZERO,
        }
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.since = now;
    }

    /// Abandons the connection: an RST goes out with the next poll, then the socket
    /// listens again.
    fn drop_connection(&mut self, net: &mut Net) -> Option<Event> {
        net.io(self.handle).abort();
        self.phase = Phase::Idle;
        Some(Event::Dropped)
    }

    /// Moves the exchange on as far as it can go without waiting.
    pub fn step(&mut self, net: &mut Net) -> Option<Event> {
        let now = net::now();
        let socket = net.socket(self.handle);
        if self.phase == Phase::Idle {
            if socket.is_active() {
                self.peer = socket.remote_endpoint();
                self.enter(
                    Phase::Request {
                        seen: 0,
                        matched: 0,
                    },
                    now,
                );
            } else {
                return None;
            }
        } else if socket.remote_endpoint() != self.peer {
            // The connection is over (a reset, or our close completed) and the socket was
            // made to listen again, maybe already for the next client.
            let closing = self.phase == Phase::Closing;
            self.phase = Phase::Idle;
            return if closing { None } else { Some(Event::Dropped) };
        } else if now - self.since > PHASE_TIMEOUT {
            return self.drop_connection(net);
        }
        match self.phase {
            Phase::Idle | Phase::Closing => None,
            Phase::Request { seen, matched } => {
                let mut io = net.io(self.handle);
                if !io.read_ready().unwrap_or(true) {
                    return None;
                }
                let mut chunk = [0; 128];
                match io.read(&mut chunk) {
                    Ok(0) | Err(NetError::Closed) => self.drop_connection(net),
                    Ok(n) => {
                        let (matched, end) = find_head_end(matched, &chunk[..n]);
                        let seen = seen + n;
                        if end {
                            self.enter(Phase::Response { sent: 0 }, now);
                            // Write at once: the response usually fits in one go.
                            self.step(net)
                        } else if seen > MAX_REQUEST {
                            self.drop_connection(net)
                        } else {
                            self.phase = Phase::Request { seen, matched };
                            None
                        }
                    }
                    Err(NetError::TimedOut) => None,
                }
            }
            Phase::Response { sent } => {
                let mut io = net.io(self.handle);
                if !io.write_ready().unwrap_or(true) {
                    return None;
                }
                match io.write(&RESPONSE[sent..]) {
                    Ok(n) if sent + n == RESPONSE.len() => {
                        io.close();
                        self.enter(Phase::Closing, now);
                        Some(Event::Served)
                    }
                    Ok(n) => {
                        self.phase = Phase::Response { sent: sent + n };
                        None
                    }
                    Err(NetError::TimedOut) => None,
                    Err(NetError::Closed) => self.drop_connection(net),
                }
            }
        }
    }
}

/// Feeds `bytes` to a matcher for the "\r\n\r\n" that ends a request's head; `matched` is
/// how much of it the bytes before matched. Returns the new count and whether it is complete.
fn find_head_end(mut matched: u8, bytes: &[u8]) -> (u8, bool) {
    const END: &[u8; 4] = b"\r\n\r\n";
    for &b in bytes {
        matched = if b == END[usize::from(matched)] {
            matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if usize::from(matched) == END.len() {
            return (matched, true);
        }
    }
    (matched, false)
}
