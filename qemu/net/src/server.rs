//! The WebSocket echo server, as `examples/echo_server` behaves: the page on `GET /`, 404
//! for other plain GETs, 405 for other methods, an upgrade on any path (choosing
//! subprotocol `ws13.echo` when offered), every message echoed whatever its size (binary
//! relayed frame for frame, text as one fragment per piece received), pings and the close
//! handled by ws13.
//!
//! Each connection is a [`Conn`]: a socket, ws13 buffers held by its state, and a
//! small state machine (reading the request, responding, open WebSocket, closing) that
//! [`Conn::step`] moves on as far as it can without waiting. The transport is ws13's
//! [`Ready`] around a [`SocketIo`]: a read or write the socket cannot take at once fails
//! with a timeout, which every ws13 call survives, so a step that meets one returns, and
//! the next step makes the same call again.
//!
//! The echo never stops half-way: before each read the transmit buffer is flushed (if
//! that times out, the peer is not reading, and the connection waits: back-pressure);
//! then one event is read, and its echo written. With an empty transmit buffer and a
//! receive buffer 14 bytes (a frame header) smaller than it, the echo of any piece fits
//! the transmit buffer whole, so writing it needs no I/O and cannot be interrupted.

use core::cell::RefCell;
use core::fmt::{self, Write as _};

use cortex_m_semihosting::hprint;
use smoltcp::iface::SocketHandle;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;
use ws13::blocking::{Incoming, NotReady, Ready, WebSocket};
use ws13::proto::{Keepalive, KeepaliveAction};
use ws13::{CloseCode, CloseFrame, Event, Message, MessageKind};

use ws13_net_firmware::clock;
use ws13_net_firmware::net::{self, Net, NetError, SocketIo};

/// The port served.
pub const PORT: u16 = 80;
/// The page served on `GET /`: the same as examples/echo_server's.
pub const PAGE: &str = include_str!("../../../examples/echo_page.html");
/// The subprotocol chosen when the client offers it.
const PROTOCOL: &str = "ws13.echo";

/// ws13's receive buffer: what one read can take, so the largest piece of a message.
pub const RX: usize = 2034;
/// ws13's transmit buffer: the echo of a whole piece (and its frame header) fits.
pub const TX: usize = 2048;
const _: () = assert!(RX + ws13::frame::MAX_HEADER_LEN <= TX);

/// A client must send its whole request within this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// A client must take a plain HTTP response within this.
const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);
/// A WebSocket peer that takes nothing we send for this long is dropped.
const STALL_DEADLINE: Duration = Duration::from_secs(30);
/// Our last bytes (a close frame) must be taken within this.
const CLOSING_DEADLINE: Duration = Duration::from_secs(10);
/// After our FIN, how long the peer's FIN is waited for (its data is discarded).
const LINGER: Duration = Duration::from_secs(2);
/// A quiet WebSocket gets a ping after this, and is closed with 1001 if nothing comes
/// back within `KEEPALIVE_TIMEOUT_MS` more.
const KEEPALIVE_INTERVAL_MS: u64 = 30_000;
const KEEPALIVE_TIMEOUT_MS: u64 = 10_000;
/// Events one step handles at most, so that a busy connection leaves the others their
/// turn.
const EVENTS_PER_STEP: usize = 8;

/// The transport of one connection.
type Io = Ready<SocketIo<'static>>;
/// What ws13's calls fail with over it.
type Error = ws13::Error<NotReady<NetError>>;

/// One connection's ws13 buffers.
pub struct Buffers {
    rx: [u8; RX],
    tx: [u8; TX],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Buffers {
            rx: [0; RX],
            tx: [0; TX],
        }
    }
}

/// What a plain HTTP request is answered with.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Page,
    NotFound,
    NotAllowed,
}

impl Reply {
    fn send(self, incoming: &mut Incoming<'static, Io>) -> Result<(), Error> {
        match self {
            Reply::Page => incoming.respond(
                200,
                &[("Content-Type", "text/html; charset=utf-8")],
                PAGE.as_bytes(),
            ),
            Reply::NotFound => {
                incoming.respond(404, &[("Content-Type", "text/plain")], b"not found\n")
            }
            Reply::NotAllowed => incoming.respond(405, &[("Allow", "GET")], b""),
        }
    }

    fn outcome(self) -> &'static str {
        match self {
            Reply::Page => "served page",
            Reply::NotFound => "404",
            Reply::NotAllowed => "405",
        }
    }
}

/// An open WebSocket and what its keepalive needs.
struct Open {
    ws: WebSocket<'static, Io>,
    keepalive: Keepalive,
    /// Something arrived since the keepalive was last told.
    heard: bool,
    /// Since when flushing has been refused (the peer takes nothing).
    stalled: Option<Instant>,
}

/// Where a connection stands.
enum State {
    /// No connection: the socket listens.
    Idle,
    /// Reading the request; the transmit buffer waits for an upgrade.
    Request(Incoming<'static, Io>, &'static mut [u8]),
    /// Answering a plain HTTP request (the transmit buffer waits to be reclaimed).
    Respond(Incoming<'static, Io>, &'static mut [u8], Reply),
    /// An open WebSocket.
    Open(Open),
    /// Writing out our last bytes (a close frame), then our FIN.
    Closing(WebSocket<'static, Io>),
    /// Our FIN is queued: until the connection is over, what arrives is discarded.
    Draining,
}

/// What a step decided.
enum Next {
    /// Nothing more to do now.
    Stay,
    /// Accept the upgrade, with this subprotocol.
    Accept(Option<&'static str>),
    /// Answer the plain HTTP request.
    Respond(Reply),
    /// Write out what the WebSocket has buffered, then close.
    Closing(&'static str),
    /// Close our side now (FIN) and drain.
    Fin(&'static str),
    /// Reset the connection.
    Abort(&'static str),
}

/// Messages and bytes echoed on a connection, for its log line.
#[derive(Clone, Copy, Default)]
struct Stats {
    messages: u32,
    bytes: u64,
}

/// One connection slot: a socket that [`Net`] keeps listening on [`PORT`], and buffers.
pub struct Conn {
    net: &'static RefCell<Net>,
    handle: SocketHandle,
    /// The buffers, while no connection holds them: each state that has a connection
    /// holds them, and they come back here when it ends.
    spare: Option<(&'static mut [u8], &'static mut [u8])>,
    state: State,
    /// The client being served: once the socket has another (or none), its connection is
    /// over and the socket listens, or serves the next client.
    peer: Option<IpEndpoint>,
    /// When the current state began.
    since: Instant,
    stats: Stats,
    /// How the connection ended, once known.
    outcome: Option<&'static str>,
}

impl Conn {
    /// A slot over `handle` (from [`Net::listen_tcp`]) with its own `buffers`.
    pub fn new(
        net: &'static RefCell<Net>,
        handle: SocketHandle,
        buffers: &'static mut Buffers,
    ) -> Self {
        Conn {
            net,
            handle,
            spare: Some((&mut buffers.rx, &mut buffers.tx)),
            state: State::Idle,
            peer: None,
            since: Instant::ZERO,
            stats: Stats::default(),
            outcome: None,
        }
    }

    fn io(&self) -> Io {
        Ready(SocketIo::new(self.net, self.handle).with_timeout(Duration::ZERO))
    }

    fn enter(&mut self, state: State) {
        let old = core::mem::replace(&mut self.state, state);
        self.reclaim(old);
        self.since = net::now();
    }

    /// Takes the buffers back from a state that is over.
    fn reclaim(&mut self, old: State) {
        self.spare = match old {
            State::Request(incoming, tx) | State::Respond(incoming, tx, _) => {
                Some((incoming.into_parts().1, tx))
            }
            State::Open(Open { ws, .. }) | State::Closing(ws) => {
                let (_, rx, tx) = ws.into_parts();
                Some((rx, tx))
            }
            State::Idle | State::Draining => return,
        };
    }

    /// Moves the connection on as far as it can go without waiting.
    pub fn step(&mut self) {
        let (active, remote) = {
            let mut net = self.net.borrow_mut();
            let socket = net.socket(self.handle);
            (socket.is_active(), socket.remote_endpoint())
        };
        if let State::Idle = self.state {
            if !active {
                return;
            }
            self.begin(remote);
        } else if remote != self.peer {
            // The connection is over (a reset, or our close completed) and the socket
            // listens again, maybe already for the next client.
            let draining = matches!(self.state, State::Draining);
            self.end(if draining {
                None
            } else {
                Some("connection lost")
            });
            return;
        }
        let now = net::now();
        let elapsed = now - self.since;
        let next = match &mut self.state {
            State::Idle => Next::Stay,
            State::Request(incoming, _) => match incoming.read() {
                Ok(request) if request.is_upgrade() => {
                    Next::Accept(request.offers_protocol(PROTOCOL).then_some(PROTOCOL))
                }
                Ok(request) => Next::Respond(match (request.method(), request.path()) {
                    ("GET", "/") => Reply::Page,
                    ("GET", _) => Reply::NotFound,
                    _ => Reply::NotAllowed,
                }),
                Err(e) if e.is_timeout() && elapsed > REQUEST_DEADLINE => {
                    Next::Fin("no whole request within 10 s")
                }
                Err(e) if e.is_timeout() => Next::Stay,
                // Refused by ws13 with its HTTP status, already sent.
                Err(ws13::Error::Request(_)) => Next::Fin("refused request"),
                Err(ws13::Error::Eof) => Next::Fin("no request"),
                Err(_) => Next::Abort("transport failed reading the request"),
            },
            State::Respond(incoming, _, reply) => match reply.send(incoming) {
                Ok(()) => Next::Fin(reply.outcome()),
                Err(e) if e.is_timeout() && elapsed > RESPONSE_DEADLINE => {
                    Next::Abort("response not taken within 10 s")
                }
                Err(e) if e.is_timeout() => Next::Stay,
                Err(_) => Next::Abort("transport failed sending the response"),
            },
            State::Open(open) => open.step(&mut self.stats, now),
            State::Closing(ws) => match ws.flush() {
                Err(e) if e.is_timeout() && elapsed > CLOSING_DEADLINE => {
                    Next::Abort("close frame not taken within 10 s")
                }
                Err(e) if e.is_timeout() => Next::Stay,
                // Written out, or nothing more can be: our FIN follows.
                _ => Next::Fin(""),
            },
            State::Draining => {
                self.net
                    .borrow_mut()
                    .socket(self.handle)
                    .recv(|data| (data.len(), ()))
                    .ok();
                if elapsed > LINGER {
                    // The peer has not closed its side: it gets a reset.
                    Next::Abort("")
                } else {
                    Next::Stay
                }
            }
        };
        self.apply(next);
    }

    /// Starts serving the client that connected to the listening socket.
    fn begin(&mut self, remote: Option<IpEndpoint>) {
        self.enter(State::Idle);
        self.peer = remote;
        self.stats = Stats::default();
        self.outcome = None;
        match self.spare.take() {
            Some((rx, tx)) => self.enter(State::Request(Incoming::new(self.io(), rx), tx)),
            // A failed accept kept them (it cannot fail with this firmware's choices):
            // the slot can serve no one.
            None => self.apply(Next::Abort("no buffers")),
        }
    }

    fn apply(&mut self, next: Next) {
        match next {
            Next::Stay => {}
            Next::Accept(protocol) => {
                let State::Request(incoming, tx) = core::mem::replace(&mut self.state, State::Idle)
                else {
                    unreachable!("accepting from the request state");
                };
                match incoming.accept(tx, protocol) {
                    Ok(ws) => {
                        let keepalive = Keepalive::new(
                            KEEPALIVE_INTERVAL_MS,
                            KEEPALIVE_TIMEOUT_MS,
                            clock::millis(),
                        );
                        self.enter(State::Open(Open {
                            ws,
                            keepalive,
                            heard: false,
                            stalled: None,
                        }));
                        // The 101 waits in the transmit buffer: the first step sends it.
                        self.step();
                    }
                    // ws13 told the client (500).
                    Err(_) => self.fin("cannot accept"),
                }
            }
            Next::Respond(reply) => {
                let State::Request(incoming, tx) = core::mem::replace(&mut self.state, State::Idle)
                else {
                    unreachable!("responding from the request state");
                };
                self.enter(State::Respond(incoming, tx, reply));
                self.step();
            }
            Next::Closing(outcome) => {
                self.note(outcome);
                let State::Open(open) = core::mem::replace(&mut self.state, State::Idle) else {
                    unreachable!("closing an open WebSocket");
                };
                self.enter(State::Closing(open.ws));
                self.step();
            }
            Next::Fin(outcome) => self.fin(outcome),
            Next::Abort(outcome) => {
                self.note(outcome);
                self.net.borrow_mut().socket(self.handle).abort();
                self.end(None);
            }
        }
    }

    /// Keeps the first outcome given (an empty one says nothing).
    fn note(&mut self, outcome: &'static str) {
        if self.outcome.is_none() && !outcome.is_empty() {
            self.outcome = Some(outcome);
        }
    }

    /// Closes our side (a FIN follows what is queued) and waits for the peer's.
    fn fin(&mut self, outcome: &'static str) {
        self.note(outcome);
        // The transport goes with the state: the socket stays.
        self.enter(State::Draining);
        self.net.borrow_mut().socket(self.handle).close();
    }

    /// The connection is over: one log line, and the slot is free.
    fn end(&mut self, outcome: Option<&'static str>) {
        if let Some(outcome) = outcome {
            self.note(outcome);
        }
        self.enter(State::Idle);
        let peer = self.peer.take();
        if let Some(peer) = peer {
            let mut line = Line::new();
            let _ = writeln!(
                line,
                "{}: {}; {} messages, {} bytes echoed",
                peer,
                self.outcome.unwrap_or("closed"),
                self.stats.messages,
                self.stats.bytes
            );
            hprint!("{}", line.as_str());
        }
    }
}

/// A log line formatted on the stack, so that it goes out in one semihosting call: written
/// piece by piece, as `hprintln!` does, it took about twenty, each a trap into QEMU.
struct Line {
    buf: [u8; 120],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            buf: [0; 120],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("(log line not UTF-8)\n")
    }
}

impl fmt::Write for Line {
    /// Keeps what fits (whole characters), drops the rest.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl Open {
    /// Echoes what has arrived, as far as the transport allows.
    fn step(&mut self, stats: &mut Stats, now: Instant) -> Next {
        for _ in 0..EVENTS_PER_STEP {
            // Everything buffered goes out before anything more is read: then the echo
            // below fits the transmit buffer.
            match self.ws.flush() {
                Ok(()) => self.stalled = None,
                Err(e) if e.is_timeout() => {
                    let since = *self.stalled.get_or_insert(now);
                    if now - since > STALL_DEADLINE {
                        return Next::Abort("peer took nothing for 30 s");
                    }
                    return Next::Stay;
                }
                Err(e) => return ended(e),
            }
            let (event, mut writer) = match self.ws.read_split() {
                Ok(split) => split,
                Err(e) if e.is_timeout() => return self.quiet(),
                Err(e) => return ended(e),
            };
            self.heard = true;
            let echoed = match event {
                Event::Data(piece) => {
                    stats.bytes += piece.payload.len() as u64;
                    if piece.last {
                        stats.messages += 1;
                    }
                    if piece.kind == MessageKind::Binary {
                        writer.relay(&piece)
                    } else {
                        // Text as fragments: invalid UTF-8 found later in the message can
                        // still be refused with 1007.
                        writer.write_fragment(piece.kind, piece.payload, piece.last)
                    }
                }
                // ws13 has echoed it (or it waits in the buffer).
                Event::Close(_) => return Next::Closing("closed"),
                // ws13 answers pings.
                Event::Ping(_) | Event::Pong(_) => Ok(()),
            };
            match echoed {
                Ok(()) => {}
                // Cannot happen (the echo fits the empty transmit buffer); the piece is
                // gone, so the connection cannot go on.
                Err(e) if e.is_timeout() => return Next::Abort("echo interrupted"),
                Err(e) => return ended(e),
            }
        }
        Next::Stay
    }

    /// Nothing to read: the keepalive's turn.
    fn quiet(&mut self) -> Next {
        let now = clock::millis();
        if core::mem::take(&mut self.heard) {
            self.keepalive.seen(now);
        }
        let sent = match self.keepalive.poll(now) {
            KeepaliveAction::Wait => return Next::Stay,
            // Written into the transmit buffer (no I/O); the next step sends it.
            KeepaliveAction::SendPing => self.ws.write(Message::Ping(b"keepalive")),
            KeepaliveAction::TimedOut => {
                return match self.ws.write(Message::Close(Some(CloseFrame {
                    code: CloseCode::GOING_AWAY,
                    reason: "no answer to ping",
                }))) {
                    Ok(()) => Next::Closing("no answer to keepalive ping: closed with 1001"),
                    Err(e) => ended(e),
                };
            }
        };
        match sent {
            Ok(()) => Next::Stay,
            Err(e) if e.is_timeout() => Next::Stay,
            Err(e) => ended(e),
        }
    }
}

/// How a WebSocket error ends the connection.
fn ended(e: Error) -> Next {
    match e {
        // ws13 has queued the close frame that fails the connection: it goes out first.
        ws13::Error::Protocol(_) => Next::Closing("protocol error: closed"),
        ws13::Error::Closed => Next::Closing("closed"),
        // The peer closed TCP without a close frame.
        ws13::Error::Eof => Next::Fin("connection ended without a close handshake"),
        ws13::Error::Io(_) => Next::Abort("transport failed"),
        _ => Next::Abort("unexpected error"),
    }
}
