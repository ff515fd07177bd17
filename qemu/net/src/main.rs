//! A ws13 WebSocket echo server on an emulated LM3S6965 (QEMU `lm3s6965evb`): the
//! Ethernet MAC driven by `enet`, smoltcp on top with 10.0.2.15/24 (QEMU's user network),
//! [`CONNECTIONS`] TCP sockets on port 80, and ws13's blocking driver over each through the
//! transport adapter (`net::SocketIo`, wrapped in `ws13::blocking::Ready`). One loop polls
//! the stack and steps every connection ([`server`]); no step waits.
//!
//! Prints `net: up ...` over semihosting once it listens, then one line per connection. No
//! heap: the network stack, its sockets and all buffers live in statics.
#![no_std]
#![no_main]

mod server;

use core::cell::RefCell;

use cortex_m::singleton;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use panic_semihosting as _;
use smoltcp::iface::SocketStorage;
use smoltcp::socket::tcp;
use smoltcp::time::Duration;

use ws13_net_firmware::clock;
use ws13_net_firmware::enet::{Enet, Frames};
use ws13_net_firmware::net::{Ipv4Setup, Net, NetError, SocketIo, DEFAULT_TIMEOUT, QEMU_USER_NET};

use server::{Buffers, Conn};

/// Connections served at once: one listening TCP socket each, with its own ws13 buffers.
const CONNECTIONS: usize = 6;
/// Each socket's receive and transmit buffers (smoltcp's, apart from ws13's).
const SOCKET_RX: usize = 2048;
const SOCKET_TX: usize = 2048;

/// QEMU's user network.
const SETUP: Ipv4Setup = QEMU_USER_NET;

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().expect("core peripherals are taken once");
    clock::start(core.SYST);

    let frames = singleton!(: Frames = Frames::new()).expect("runs once");
    let enet = Enet::take(SETUP.mac, frames).expect("the MAC is taken once");
    let storage =
        singleton!(: [SocketStorage<'static>; CONNECTIONS] = [SocketStorage::EMPTY; CONNECTIONS])
            .expect("runs once");
    let socket_buffers = singleton!(: [[u8; SOCKET_RX + SOCKET_TX]; CONNECTIONS] = [[0; SOCKET_RX + SOCKET_TX]; CONNECTIONS])
        .expect("runs once");
    let ws_buffers = singleton!(: [Buffers; CONNECTIONS] = [const { Buffers::new() }; CONNECTIONS])
        .expect("runs once");
    let net: &'static RefCell<Net> =
        singleton!(: RefCell<Net> = RefCell::new(Net::new(enet, &SETUP, storage)))
            .expect("runs once");

    check_adapter(net);

    let mut socket_buffers = socket_buffers.iter_mut();
    let mut ws_buffers = ws_buffers.iter_mut();
    let mut conns: [Conn; CONNECTIONS] = core::array::from_fn(|_| {
        let (rx, tx) = socket_buffers
            .next()
            .expect("one buffer a socket")
            .split_at_mut(SOCKET_RX);
        let handle = net.borrow_mut().listen_tcp(server::PORT, rx, tx);
        Conn::new(
            net,
            handle,
            ws_buffers.next().expect("buffers a connection"),
        )
    });

    let [a, b, c, d, e, f] = SETUP.mac;
    hprintln!(
        "net: up, {}/{} via {}, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, \
         listening on port {} with {} sockets",
        SETUP.address,
        SETUP.prefix_len,
        SETUP.gateway,
        a,
        b,
        c,
        d,
        e,
        f,
        server::PORT,
        conns.len()
    );
    hprintln!(
        "net: RAM: Net {} B (driver {} B), frame buffers {} B, sockets {} B, socket buffers {} B, \
         ws13 buffers {} B, connection state {} B",
        core::mem::size_of::<Net>(),
        core::mem::size_of::<Enet>(),
        core::mem::size_of::<Frames>(),
        core::mem::size_of::<[SocketStorage<'static>; CONNECTIONS]>(),
        CONNECTIONS * (SOCKET_RX + SOCKET_TX),
        CONNECTIONS * core::mem::size_of::<Buffers>(),
        core::mem::size_of::<[Conn; CONNECTIONS]>(),
    );

    loop {
        net.borrow_mut().poll();
        for conn in conns.iter_mut() {
            conn.step();
        }
    }
}

/// Checks the adapter's edges before any client can connect, on a throwaway socket
/// listening on a port nobody uses: reading and writing time out after the deadline, and a
/// closed socket reads end-of-stream and refuses writes. Panics (QEMU exits 1) otherwise.
fn check_adapter(net: &RefCell<Net>) {
    let handle = net.borrow_mut().add_tcp(&mut [], &mut []);
    let mut io = SocketIo::new(net, handle);
    io.with_socket(|socket| socket.listen(9))
        .expect("a closed socket can listen");

    assert_eq!(io.read_ready(), Ok(false));
    assert_eq!(io.write_ready(), Ok(false));
    let start = clock::millis();
    let read = io.read(&mut [0; 1]);
    let waited = clock::millis() - start;
    assert_eq!(read, Err(NetError::TimedOut));
    assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::TimedOut));
    assert!(waited >= DEFAULT_TIMEOUT.total_millis());
    assert_eq!(io.write(b"x"), Err(NetError::TimedOut));

    io.abort();
    assert_eq!(io.with_socket(|socket| socket.state()), tcp::State::Closed);
    assert_eq!(io.read_ready(), Ok(true));
    assert_eq!(io.read(&mut [0; 1]), Ok(0));
    assert_eq!(io.write_ready(), Ok(true));
    assert_eq!(
        io.write(b"x").map_err(|e| e.kind()),
        Err(ErrorKind::BrokenPipe)
    );

    // A zero deadline polls once and gives up.
    let mut io = io.with_timeout(Duration::ZERO);
    assert_eq!(io.flush(), Ok(()));
    net.borrow_mut().remove(handle);
    hprintln!(
        "net: SocketIo checked: read timed out after {} ms on an idle socket",
        waited
    );
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HardFault: {:?}", frame);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("unexpected exception or interrupt {}", irqn);
    debug::exit(debug::EXIT_FAILURE);
}
