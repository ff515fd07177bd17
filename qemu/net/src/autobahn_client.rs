//! The Autobahn|Testsuite's client role on the emulated LM3S6965: the firmware connects out,
//! through QEMU's user network, to the suite's fuzzing server on the host (10.0.2.2, port
//! `WS13_AUTOBAHN_PORT` at build time, 9002 by default), as `examples/autobahn_client` does
//! on a host: it asks for the case count, runs every case (echoing each message through
//! the same 4 KiB of ws13 buffers as the server firmware, piece by piece: binary relayed
//! frame for frame, text as fragments), then asks the suite to write its reports, and
//! exits QEMU (0 once the reports are written).
//!
//! One connection at a time, through ws13's blocking driver over `Ready<SocketIo>`: a call
//! that meets a socket not ready fails with a timeout, and is simply made again.
//!
//! The masking keys come from a xorshift generator seeded from the clock: good enough to
//! run the suite, not the unpredictable keys RFC 6455 asks for (a real device would use
//! its hardware random number generator).
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::fmt::{self, Write as _};

use cortex_m::singleton;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprint, hprintln};
use panic_semihosting as _;
use smoltcp::iface::{SocketHandle, SocketStorage};
use smoltcp::socket::tcp::State;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint};
use ws13::blocking::{Connecting, NotReady, Ready, WebSocket};
use ws13::handshake::client::ClientRequest;
use ws13::{CloseCode, Event, MaskSource, Message, MessageKind};

use ws13_net_firmware::clock;
use ws13_net_firmware::enet::{Enet, Frames};
use ws13_net_firmware::net::{self, Net, NetError, SocketIo, QEMU_USER_NET};

/// The fuzzing server's port on the host.
const PORT: u16 = parse_port(option_env!("WS13_AUTOBAHN_PORT"));
/// The agent name the reports are filed under.
const AGENT: &str = "ws13";

/// ws13's buffers: as in the server firmware, a received piece's echo (with a client's
/// 14-byte frame header) fits the transmit buffer.
const RX: usize = 2034;
const TX: usize = 2048;
const _: () = assert!(RX + ws13::frame::MAX_HEADER_LEN <= TX);
/// The socket's own buffers (one connection: room to spare).
const SOCKET_RX: usize = 8192;
const SOCKET_TX: usize = 8192;

/// A case that makes no progress for this long is abandoned.
const STALL: Duration = Duration::from_secs(30);
/// After our FIN, how long the server's is waited for.
const LINGER: Duration = Duration::from_secs(2);

type Io = Ready<SocketIo<'static>>;
type Error = ws13::Error<NotReady<NetError>>;

const fn parse_port(s: Option<&str>) -> u16 {
    let Some(s) = s else { return 9002 };
    let bytes = s.as_bytes();
    assert!(!bytes.is_empty(), "WS13_AUTOBAHN_PORT is empty");
    let mut port: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "WS13_AUTOBAHN_PORT is not a number"
        );
        port = port * 10 + (bytes[i] - b'0') as u32;
        assert!(port <= 65535, "WS13_AUTOBAHN_PORT is over 65535");
        i += 1;
    }
    port as u16
}

/// Text formatted on the stack (a request's host and path, a log line).
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Masking keys from xorshift32.
struct Keys(u32);

impl MaskSource for &mut Keys {
    fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x.to_le_bytes()
    }
}

/// Why a connection could not go on.
#[derive(Debug)]
enum Failure {
    /// ws13's error.
    Ws(Error),
    /// The socket could not connect.
    Connect,
    /// No progress for [`STALL`].
    Stalled,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ws(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Ws(e) => write!(f, "{e}"),
            Failure::Connect => f.write_str("cannot connect"),
            Failure::Stalled => f.write_str("no progress for 30 s"),
        }
    }
}

/// The client: one socket, one set of buffers, used by one connection after another.
struct Client {
    net: &'static RefCell<Net>,
    handle: SocketHandle,
    rx: &'static mut [u8; RX],
    tx: &'static mut [u8; TX],
    keys: Keys,
    /// The local port of the next connection.
    next_port: u16,
    host: Text<24>,
}

/// Calls `f` until it does not time out, or until [`STALL`] passes.
fn retry<T>(mut f: impl FnMut() -> Result<T, Error>) -> Result<T, Failure> {
    let start = net::now();
    loop {
        match f() {
            Err(e) if e.is_timeout() => {
                if net::now() - start > STALL {
                    return Err(Failure::Stalled);
                }
            }
            other => return other.map_err(Failure::Ws),
        }
    }
}

impl Client {
    /// Opens a WebSocket to `path` on the fuzzing server and runs `f` on it, then closes
    /// the TCP connection (our FIN, then the server's, or a reset after [`LINGER`]).
    fn session<T>(
        &mut self,
        path: &str,
        f: impl FnOnce(&mut WebSocket<'_, Io, &mut Keys>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let local_port = self.next_port;
        self.next_port = if self.next_port >= 65000 {
            49152
        } else {
            self.next_port + 1
        };
        let remote = IpEndpoint::new(IpAddress::Ipv4(QEMU_USER_NET.gateway), PORT);
        self.net
            .borrow_mut()
            .connect(self.handle, remote, local_port)
            .map_err(|_| Failure::Connect)?;
        let io = Ready(SocketIo::new(self.net, self.handle).with_timeout(Duration::ZERO));
        let request = ClientRequest::new(self.host.as_str(), path);
        let result = match Connecting::new(
            io,
            &mut self.rx[..],
            &mut self.tx[..],
            &request,
            &mut self.keys,
        ) {
            Ok(mut connecting) => match retry(|| connecting.handshake()) {
                Ok(_) => match connecting.finish() {
                    Ok((mut ws, _)) => f(&mut ws),
                    Err(e) => Err(Failure::Ws(e)),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(Failure::Ws(e)),
        };
        self.hang_up();
        result
    }

    /// Closes our side and waits for the server's FIN (discarding what still arrives), or
    /// resets the connection after [`LINGER`].
    fn hang_up(&mut self) {
        let start = net::now();
        let mut net = self.net.borrow_mut();
        net.socket(self.handle).close();
        loop {
            net.poll();
            let socket = net.socket(self.handle);
            let _ = socket.recv(|data| (data.len(), ()));
            if matches!(socket.state(), State::Closed | State::TimeWait) {
                return;
            }
            if net::now() - start > LINGER {
                socket.abort();
                // The reset goes out before the socket is used again.
                net.poll();
                return;
            }
        }
    }
}

/// Echoes every message until the server closes (or the connection fails, as some cases
/// expect): before each read the transmit buffer is written out, so each piece's echo fits
/// it whole and is written without I/O.
fn echo(ws: &mut WebSocket<'_, Io, &mut Keys>) -> Result<(), Failure> {
    let mut last = net::now();
    loop {
        let progress = |last: &mut Instant| {
            if net::now() - *last > STALL {
                Err(Failure::Stalled)
            } else {
                Ok(())
            }
        };
        match ws.flush() {
            Ok(()) => {}
            Err(e) if e.is_timeout() => {
                progress(&mut last)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let (event, mut writer) = match ws.read_split() {
            Ok(split) => split,
            Err(e) if e.is_timeout() => {
                progress(&mut last)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        last = net::now();
        match event {
            Event::Data(piece) if piece.kind == MessageKind::Binary => writer.relay(&piece)?,
            Event::Data(piece) => writer.write_fragment(piece.kind, piece.payload, piece.last)?,
            Event::Close(_) => {
                // ws13 has echoed it; what the transport did not take yet goes now.
                let _ = retry(|| ws.flush());
                return Ok(());
            }
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}

fn case_count(client: &mut Client) -> Result<u32, Failure> {
    client.session("/getCaseCount", |ws| {
        let mut buf = [0u8; 128];
        let count = loop {
            match retry(|| ws.read_message(&mut buf).map(|m| m.to_count()))? {
                Some(count) => break count,
                None => continue,
            }
        };
        let _ = retry(|| ws.close(CloseCode::NORMAL, ""));
        Ok(count)
    })
}

/// What [`case_count`] makes of a message.
trait ToCount {
    fn to_count(self) -> Option<u32>;
}

impl ToCount for Message<'_> {
    fn to_count(self) -> Option<u32> {
        match self {
            Message::Text(text) => Some(text.trim().parse().unwrap_or(0)),
            Message::Close(_) => Some(0),
            _ => None,
        }
    }
}

fn update_reports(client: &mut Client) -> Result<(), Failure> {
    let mut path = Text::<64>::new();
    let _ = write!(path, "/updateReports?agent={AGENT}");
    client.session(path.as_str(), |ws| {
        let mut buf = [0u8; 128];
        loop {
            let closed = retry(|| {
                ws.read_message(&mut buf)
                    .map(|m| matches!(m, Message::Close(_)))
            })?;
            if closed {
                let _ = retry(|| ws.flush());
                return Ok(());
            }
        }
    })
}

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().expect("core peripherals are taken once");
    clock::start(core.SYST);
    let frames = singleton!(: Frames = Frames::new()).expect("runs once");
    let enet = Enet::take(QEMU_USER_NET.mac, frames).expect("the MAC is taken once");
    let storage =
        singleton!(: [SocketStorage<'static>; 1] = [SocketStorage::EMPTY; 1]).expect("runs once");
    let net: &'static RefCell<Net> =
        singleton!(: RefCell<Net> = RefCell::new(Net::new(enet, &QEMU_USER_NET, storage)))
            .expect("runs once");
    let socket_rx = singleton!(: [u8; SOCKET_RX] = [0; SOCKET_RX]).expect("runs once");
    let socket_tx = singleton!(: [u8; SOCKET_TX] = [0; SOCKET_TX]).expect("runs once");
    let handle = net.borrow_mut().add_tcp(socket_rx, socket_tx);
    let seed = 0x5753_3133 ^ (clock::millis() as u32).wrapping_mul(0x9E37_79B9);
    let mut host = Text::new();
    let _ = write!(host, "{}:{}", QEMU_USER_NET.gateway, PORT);
    let mut client = Client {
        net,
        handle,
        rx: singleton!(: [u8; RX] = [0; RX]).expect("runs once"),
        tx: singleton!(: [u8; TX] = [0; TX]).expect("runs once"),
        keys: Keys(seed | 1),
        next_port: 49152 + (seed % 8192) as u16,
        host,
    };
    hprintln!("autobahn: fuzzing server at ws://{}/", client.host.as_str());

    let count = match case_count(&mut client) {
        Ok(n) if n > 0 => n,
        Ok(_) => fail("autobahn: the suite reported no cases"),
        Err(e) => {
            hprintln!("autobahn: cannot get the case count: {}", e);
            fail("");
        }
    };
    hprintln!("autobahn: running {} cases", count);
    for case in 1..=count {
        let mut path = Text::<64>::new();
        let _ = write!(path, "/runCase?case={case}&agent={AGENT}");
        if let Err(e) = client.session(path.as_str(), echo) {
            // Expected for the cases where the suite misbehaves on purpose.
            let mut line = Text::<160>::new();
            let _ = writeln!(line, "case {case}: {e}");
            hprint!("{}", line.as_str());
        }
    }
    if let Err(e) = update_reports(&mut client) {
        hprintln!("autobahn: updateReports failed: {}", e);
        fail("");
    }
    hprintln!("autobahn: done");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail(message: &str) -> ! {
    if !message.is_empty() {
        hprintln!("{}", message);
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HardFault: {:?}", frame);
    fail("");
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("unexpected exception or interrupt {}", irqn);
    debug::exit(debug::EXIT_FAILURE);
}
