//! Network bring-up for the ws13 firmware on an emulated LM3S6965 (QEMU `lm3s6965evb`):
//! the Ethernet MAC driven by [`enet`], smoltcp on top with 10.0.2.15/24 (QEMU's user
//! network), four TCP sockets on port 80, and a stand-in HTTP server ([`http`]) that answers
//! every request with a fixed page through the transport adapter ([`net::SocketIo`]).
//!
//! Prints `net: up ...` over semihosting once it listens. No heap: the network stack, its
//! sockets and their buffers live in statics.
#![no_std]
#![no_main]

mod http;

use cortex_m::singleton;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use panic_semihosting as _;
use smoltcp::iface::SocketStorage;
use smoltcp::socket::tcp;
use smoltcp::wire::Ipv4Address;

use ws13_net_firmware::clock;
use ws13_net_firmware::enet::{Enet, Frames};
use ws13_net_firmware::net::{Ipv4Setup, Net, NetError, DEFAULT_TIMEOUT};

/// Connections served at once: one listening TCP socket each.
const SOCKETS: usize = 4;
/// Each socket's receive and transmit buffers.
const RX_BUF: usize = 1024;
const TX_BUF: usize = 1024;

/// QEMU's user network: the guest is 10.0.2.15/24, the host (and gateway) 10.0.2.2. The MAC
/// address is locally administered (bit 1 of the first octet) and unicast.
const SETUP: Ipv4Setup = Ipv4Setup {
    mac: [0x02, 0x00, 0x00, 0x57, 0x53, 0x13],
    address: Ipv4Address::new(10, 0, 2, 15),
    prefix_len: 24,
    gateway: Ipv4Address::new(10, 0, 2, 2),
};

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().expect("core peripherals are taken once");
    clock::start(core.SYST);

    let frames = singleton!(: Frames = Frames::new()).expect("runs once");
    let enet = Enet::take(SETUP.mac, frames).expect("the MAC is taken once");
    let storage = singleton!(: [SocketStorage<'static>; SOCKETS] = [SocketStorage::EMPTY; SOCKETS])
        .expect("runs once");
    let buffers = singleton!(: [[u8; RX_BUF + TX_BUF]; SOCKETS] = [[0; RX_BUF + TX_BUF]; SOCKETS])
        .expect("runs once");
    let net = singleton!(: Net = Net::new(enet, &SETUP, storage)).expect("runs once");

    check_adapter(net);

    let mut buffers = buffers.iter_mut();
    let mut conns: [http::Conn; SOCKETS] = core::array::from_fn(|_| {
        let (rx, tx) = buffers
            .next()
            .expect("one buffer a socket")
            .split_at_mut(RX_BUF);
        http::Conn::new(net.listen_tcp(http::PORT, rx, tx))
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
        http::PORT,
        conns.len()
    );
    hprintln!(
        "net: RAM: Net {} B (driver {} B), frame buffers {} B, sockets {} B, socket buffers {} B",
        core::mem::size_of::<Net>(),
        core::mem::size_of::<Enet>(),
        core::mem::size_of::<Frames>(),
        core::mem::size_of::<[SocketStorage<'static>; SOCKETS]>(),
        SOCKETS * (RX_BUF + TX_BUF)
    );

    loop {
        net.poll();
        for conn in conns.iter_mut() {
            conn.step(net);
        }
    }
}

/// Checks the adapter's edges before any client can connect, on a throwaway socket
/// listening on a port nobody uses: reading and writing time out after the deadline, and a
/// closed socket reads end-of-stream and refuses writes. Panics (QEMU exits 1) otherwise.
fn check_adapter(net: &mut Net) {
    let handle = net.add_tcp(&mut [], &mut []);
    let mut io = net.io(handle);
    io.socket().listen(9).expect("a closed socket can listen");

    assert_eq!(io.read_ready(), Ok(false));
    assert_eq!(io.write_ready(), Ok(false));
    let start = clock::millis();
    let read = io.read(&mut [0; 1]);
    let waited = clock::millis() - start;
    assert_eq!(read, Err(NetError::TimedOut));
    assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::TimedOut));
    assert!(waited >= DEFAULT_TIMEOUT.total_millis());
    assert_eq!(io.write(b"x"), Err(NetError::TimedOut));

    io.socket().abort();
    assert_eq!(io.socket().state(), tcp::State::Closed);
    assert_eq!(io.read_ready(), Ok(true));
    assert_eq!(io.read(&mut [0; 1]), Ok(0));
    assert_eq!(io.write_ready(), Ok(true));
    assert_eq!(
        io.write(b"x").map_err(|e| e.kind()),
        Err(ErrorKind::BrokenPipe)
    );

    net.remove(handle);
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
