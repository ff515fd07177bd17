//! The network stack in one place ([`Net`]: interface, device, sockets) and a byte-stream
//! transport over one of its TCP sockets ([`SocketIo`]) for code written against
//! `embedded_io` (the ws13 server).
//!
//! The firmware keeps the `Net` in a [`RefCell`]. Each connection holds a `SocketIo` for
//! its whole life (a ws13 `WebSocket` owns its transport), and a `SocketIo` borrows the
//! `Net` only inside each of its calls, so one loop serves several connections:
//!
//! ```ignore
//! let net: &'static RefCell<Net> = ...;
//! let mut io = Ready(SocketIo::new(net, handle).with_timeout(Duration::ZERO));
//! loop {
//!     net.borrow_mut().poll();
//!     for conn in conns.iter_mut() {
//!         conn.step(); // reads and writes through its own transport, never waits
//!     }
//! }
//! ```
//!
//! `read` and `write` wait (polling the interface) until they make progress, but no longer
//! than a short deadline: then they fail with [`ErrorKind::TimedOut`], and the caller moves
//! on to another connection and comes back later. With ws13's `Ready` around it (which
//! reads and writes only when `read_ready`/`write_ready` say so) no call waits at all.

use core::cell::RefCell;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};

use crate::clock;
use crate::enet::Enet;

/// How long `read`, `write` and `flush` wait for progress before [`ErrorKind::TimedOut`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5);

/// A static IPv4 configuration.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Setup {
    pub mac: [u8; 6],
    pub address: Ipv4Address,
    pub prefix_len: u8,
    pub gateway: Ipv4Address,
}

/// QEMU's user network: the guest is 10.0.2.15/24, the host (and gateway) 10.0.2.2. The MAC
/// address is locally administered (bit 1 of the first octet) and unicast.
pub const QEMU_USER_NET: Ipv4Setup = Ipv4Setup {
    mac: [0x02, 0x00, 0x00, 0x57, 0x53, 0x13],
    address: Ipv4Address::new(10, 0, 2, 15),
    prefix_len: 24,
    gateway: Ipv4Address::new(10, 0, 2, 2),
};

/// Most sockets a [`Net`] keeps listening (see [`Net::listen_tcp`]).
pub const MAX_LISTENERS: usize = 8;

/// A socket that a [`Net`] puts back to listening whenever its connection is over.
#[derive(Clone, Copy)]
struct Listener {
    handle: SocketHandle,
    port: u16,
}

/// The interface, its device and its sockets.
pub struct Net {
    iface: Interface,
    device: Enet,
    sockets: SocketSet<'static>,
    listeners: [Option<Listener>; MAX_LISTENERS],
}

impl Net {
    /// Brings the interface up with a static address, over `storage` (one slot a socket).
    pub fn new(
        mut device: Enet,
        setup: &Ipv4Setup,
        storage: &'static mut [SocketStorage<'static>],
    ) -> Self {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(setup.mac)));
        // Seeds TCP's initial sequence numbers and local ports. There is no entropy source
        // here; the boot time in milliseconds varies a little from boot to boot.
        config.random_seed = 0x5753_3133 ^ clock::millis();
        let mut iface = Interface::new(config, &mut device, clock::now());
        iface.update_ip_addrs(|addrs| {
            // Cannot fail: the list is empty and holds at least one address.
            let _ = addrs.push(IpCidr::new(setup.address.into(), setup.prefix_len));
        });
        // Cannot fail: the route table is empty.
        let _ = iface.routes_mut().add_default_ipv4_route(setup.gateway);
        Net {
            iface,
            device,
            sockets: SocketSet::new(storage),
            listeners: [None; MAX_LISTENERS],
        }
    }

    /// Adds a TCP socket with the given receive and transmit buffers; it starts closed.
    /// Panics if the socket storage given to [`Net::new`] is full.
    pub fn add_tcp(&mut self, rx: &'static mut [u8], tx: &'static mut [u8]) -> SocketHandle {
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        self.sockets.add(socket)
    }

    /// Adds a server socket on `port`: it listens, and whenever its connection is over
    /// (closed, reset, aborted, or in TIME-WAIT) [`Net::poll`] makes it listen again, between
    /// two received frames, so that a client's next SYN, arriving right behind the FIN of
    /// its last connection, finds it listening. Panics if the socket storage is full or
    /// [`MAX_LISTENERS`] sockets listen already.
    pub fn listen_tcp(
        &mut self,
        port: u16,
        rx: &'static mut [u8],
        tx: &'static mut [u8],
    ) -> SocketHandle {
        let slot = self
            .listeners
            .iter_mut()
            .find(|slot| slot.is_none())
            .expect("fewer than MAX_LISTENERS listening sockets");
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        // ACKs go out with the next poll, so that the last one (of the peer's FIN) is sent
        // before `rearm` makes the socket listen again.
        socket.set_ack_delay(None);
        // No Nagle: a small segment behind unacknowledged data would wait for the peer's
        // (maybe delayed) ACK, up to half a second through QEMU's user network; the
        // applications here write whole replies at once.
        socket.set_nagle_enabled(false);
        let handle = self.sockets.add(socket);
        *slot = Some(Listener { handle, port });
        self.rearm(clock::now());
        handle
    }

    /// Opens a connection from the socket behind `handle` (closed, or in TIME-WAIT: a
    /// client may start its next connection at once) to `remote`, from `local_port`.
    pub fn connect(
        &mut self,
        handle: SocketHandle,
        remote: IpEndpoint,
        local_port: u16,
    ) -> Result<(), tcp::ConnectError> {
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        socket.set_nagle_enabled(false);
        socket.connect(self.iface.context(), remote, local_port)
    }

    /// Takes a socket out of the set, freeing its slot (and its listener entry).
    pub fn remove(&mut self, handle: SocketHandle) {
        for slot in self.listeners.iter_mut() {
            if slot.is_some_and(|l| l.handle == handle) {
                *slot = None;
            }
        }
        self.sockets.remove(handle);
    }

    /// Makes every server socket whose connection is over listen again. TIME-WAIT is cut
    /// short: it guards against a lost last ACK and stray segments of the same port pair,
    /// while clients open each connection from a new port, and holding a socket there for
    /// smoltcp's 10 s would leave four sockets to serve four clients every 10 s.
    ///
    /// What such a socket still has to send goes out first: the ACK of the peer's FIN (server
    /// sockets do not delay ACKs), or the RST of an abort.
    fn rearm(&mut self, now: Instant) {
        let mut unsent = false;
        for listener in self.listeners.iter().flatten() {
            let socket = self.sockets.get::<tcp::Socket>(listener.handle);
            unsent |= match socket.state() {
                State::TimeWait => true,
                State::Closed => socket.remote_endpoint().is_some(),
                _ => false,
            };
        }
        if unsent {
            self.iface
                .poll_egress(now, &mut self.device, &mut self.sockets);
        }
        for listener in self.listeners.iter().flatten() {
            let socket = self.sockets.get_mut::<tcp::Socket>(listener.handle);
            let over = match socket.state() {
                State::TimeWait => true,
                // After an abort, the remote endpoint is forgotten once the RST is out.
                State::Closed => socket.remote_endpoint().is_none(),
                _ => false,
            };
            if over {
                // Cannot fail: the port is not 0 and the socket is not open.
                let _ = socket.listen(listener.port);
            }
        }
    }

    /// Processes what the device received, one frame at a time (server sockets listen again
    /// between frames), then sends what the sockets have queued. True if a socket's state
    /// may have changed.
    pub fn poll(&mut self) -> bool {
        let now = clock::now();
        let mut changed = false;
        loop {
            let result = self
                .iface
                .poll_ingress_single(now, &mut self.device, &mut self.sockets);
            self.rearm(now);
            match result {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => changed = true,
            }
        }
        let egress = self
            .iface
            .poll_egress(now, &mut self.device, &mut self.sockets);
        self.rearm(now);
        changed || egress == PollResult::SocketStateChanged
    }

    /// The TCP socket behind `handle`. Panics if `handle` is not a TCP socket of this set.
    pub fn socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(handle)
    }

    /// The driver's counters.
    pub fn device_stats(&self) -> crate::enet::Stats {
        self.device.stats()
    }
}

/// What a [`SocketIo`] call can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// No progress before the deadline: nothing arrived, or no room to send.
    TimedOut,
    /// The sending half is closed (by us, or by a reset or abort): nothing more can be sent.
    Closed,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NetError::TimedOut => "no progress before the deadline",
            NetError::Closed => "the connection's sending half is closed",
        })
    }
}

impl core::error::Error for NetError {}

impl embedded_io::Error for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetError::TimedOut => ErrorKind::TimedOut,
            NetError::Closed => ErrorKind::BrokenPipe,
        }
    }
}

/// A byte stream over one TCP socket of a [`Net`] that the firmware keeps in a
/// [`RefCell`]: it borrows the stack only inside each call, so that every live connection
/// can hold its own transport for as long as it lives (a ws13 `WebSocket` owns its
/// transport), and one loop still steps them all. Calls must not be made while the loop
/// holds the `RefCell` borrowed (the borrow would panic).
pub struct SocketIo<'a> {
    net: &'a RefCell<Net>,
    handle: SocketHandle,
    timeout: Duration,
}

impl<'a> SocketIo<'a> {
    /// A transport over the socket behind `handle`, with [`DEFAULT_TIMEOUT`].
    pub fn new(net: &'a RefCell<Net>, handle: SocketHandle) -> Self {
        SocketIo {
            net,
            handle,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same with another deadline for `read` and `write` (zero: one poll, no wait).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        SocketIo { timeout, ..self }
    }

    /// The socket's handle.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Runs `f` on the socket itself, for what the byte stream does not cover.
    pub fn with_socket<R>(&mut self, f: impl FnOnce(&mut tcp::Socket<'static>) -> R) -> R {
        f(self.net.borrow_mut().socket(self.handle))
    }

    /// Closes the sending half once everything written has been sent (a FIN follows it).
    pub fn close(&mut self) {
        self.with_socket(|socket| socket.close());
    }

    /// Drops the connection at once: the next poll sends an RST (and a server socket then
    /// listens again).
    pub fn abort(&mut self) {
        self.with_socket(|socket| socket.abort());
    }

    /// Tries `step` on the socket; while it gives no answer, polls the interface and tries
    /// again, until the deadline passes (at least one poll is made). After an answer, polls
    /// once more so that what the step queued (data, a window update) goes out at once.
    fn wait<T>(
        &mut self,
        mut step: impl FnMut(&mut tcp::Socket<'static>) -> Option<Result<T, NetError>>,
    ) -> Result<T, NetError> {
        let mut net = self.net.borrow_mut();
        let deadline = clock::now() + self.timeout;
        let mut polled = false;
        loop {
            if let Some(answer) = step(net.socket(self.handle)) {
                net.poll();
                return answer;
            }
            if polled && clock::now() >= deadline {
                return Err(NetError::TimedOut);
            }
            net.poll();
            polled = true;
        }
    }

    /// Whether `ready` holds for the socket, polling the interface once if it does not.
    fn ready(&mut self, ready: impl Fn(&tcp::Socket<'static>) -> bool) -> bool {
        let mut net = self.net.borrow_mut();
        if ready(net.socket(self.handle)) {
            return true;
        }
        net.poll();
        ready(net.socket(self.handle))
    }
}

/// Still setting the connection up: data may come, and room to send will.
fn connecting(socket: &tcp::Socket) -> bool {
    matches!(
        socket.state(),
        State::Listen | State::SynSent | State::SynReceived
    )
}

/// Nothing left to read and nothing more will come: the peer closed (FIN), or the
/// connection is gone.
fn at_eof(socket: &tcp::Socket) -> bool {
    !socket.may_recv() && !connecting(socket)
}

/// `write` would fail at once: the sending half is closed.
fn send_closed(socket: &tcp::Socket) -> bool {
    !socket.may_send() && !connecting(socket)
}

impl ErrorType for SocketIo<'_> {
    type Error = NetError;
}

impl Read for SocketIo<'_> {
    /// At least one byte, `Ok(0)` once the peer has closed its side (or the connection is
    /// gone), [`NetError::TimedOut`] if nothing came before the deadline.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.wait(|socket| {
            if socket.can_recv() {
                // Cannot fail: can_recv means the receive half is open and holds data.
                Some(Ok(socket.recv_slice(buf).unwrap_or(0)))
            } else if at_eof(socket) {
                Some(Ok(0))
            } else {
                None
            }
        })
    }
}

impl Write for SocketIo<'_> {
    /// At least one byte into the socket's transmit buffer, [`NetError::Closed`] if the
    /// sending half is closed, [`NetError::TimedOut`] if the buffer stayed full (or the
    /// connection was not yet established) until the deadline.
    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.wait(|socket| {
            if socket.can_send() {
                // Cannot fail: can_send means the sending half is open and has room.
                Some(socket.send_slice(buf).map_err(|_| NetError::Closed))
            } else if send_closed(socket) {
                Some(Err(NetError::Closed))
            } else {
                None
            }
        })
    }

    /// Sends what the socket holds (one poll) without waiting for the peer to acknowledge
    /// it: TCP delivers it on its own, and a close sends it all before the FIN. Waiting
    /// for acknowledgements here would hold a loop that serves several connections for a
    /// round trip on every flush. [`NetError::Closed`] if data is left that can no longer
    /// be sent.
    fn flush(&mut self) -> Result<(), NetError> {
        let mut net = self.net.borrow_mut();
        net.poll();
        let socket = net.socket(self.handle);
        if socket.send_queue() > 0 && send_closed(socket) {
            Err(NetError::Closed)
        } else {
            Ok(())
        }
    }
}

impl ReadReady for SocketIo<'_> {
    /// Data is waiting, or the peer has closed (`read` returns at once); the interface is
    /// polled once first if neither holds.
    fn read_ready(&mut self) -> Result<bool, NetError> {
        Ok(self.ready(|socket| socket.can_recv() || at_eof(socket)))
    }
}

impl WriteReady for SocketIo<'_> {
    /// There is room to send, or the sending half is closed (`write` returns at once, with
    /// an error); the interface is polled once first if neither holds.
    fn write_ready(&mut self) -> Result<bool, NetError> {
        Ok(self.ready(|socket| socket.can_send() || send_closed(socket)))
    }
}

/// The time now, for callers that keep their own deadlines.
pub fn now() -> Instant {
    clock::now()
}
