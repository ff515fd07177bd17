//! ws13's parts on an emulated Cortex-M, one at a time: the test kit's `checks::PARTS`
//! (handshakes of both roles with RFC 6455's samples, fed whole and a byte at a time,
//! refusals; frame headers at every length boundary; masking at every offset and
//! alignment; UTF-8 that fails fast and splits anywhere; every close code, on the wire and
//! through a connection), the same checks the host runs (tests/kit.rs), and the size of
//! a connection's own state on this 32-bit core. Each check prints its name over
//! semihosting; a failed one prints what went wrong and exits QEMU with status 1.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use ws13_qemu::{check, core_name, hprint, hprintln, pass};
use ws13_testkit::checks::{self, Buffers};

ws13_qemu::exit_on_fault!();

/// Every buffer the checks use, in `.bss`.
static mut BUFS: Buffers = Buffers::new();

#[entry]
fn main() -> ! {
    // SAFETY: the only reference ever made to BUFS, made once, before anything else runs.
    let b: &'static mut Buffers = unsafe { &mut *addr_of_mut!(BUFS) };
    hprintln!("ws13 core checks on {}", core_name());
    for (name, part) in checks::PARTS {
        check(name, || part(b));
    }
    check(
        "connection state beyond its buffers and transport <= 80 bytes",
        connection_state,
    );
    hprintln!("all core checks passed");
    pass()
}

/// A connection's own state on this 32-bit core, without the buffers and transport its
/// caller keeps: at most 80 bytes. `proto::Connection` is its two sides. The receiving
/// side is 48: the frame being received (its payload still to come, 64 bits since a
/// frame may be larger than 4 GiB, its masking key, bits and the UTF-8 state of a
/// character cut between reads), the message size limit and what is left of it, where
/// the received bytes are in the receive buffer, and how much of a whole message
/// `read_message` has collected. The sending side is 32: the frame
/// being sent (its payload still owed, 64 bits, and its masking key), where the bytes to
/// write are in the transmit buffer, an interrupted call's progress, one byte each for
/// the lengths of a pong and of a ping, pong or close waiting behind the open frame
/// (their payloads wait at the end of the transmit buffer, not here), and the flags.
/// `blocking::WebSocket` adds only its two buffer references and the transport.
fn connection_state() -> Result<(), &'static str> {
    let size = checks::state_size();
    hprint!(
        "(Connection: server {} bytes, client {} with a 4-byte mask source; \
         WebSocket less buffers and transport: {}) ",
        size.server,
        size.client,
        size.websocket
    );
    if size.server > 80 || size.websocket > 80 {
        return Err("a connection's own state is over 80 bytes");
    }
    Ok(())
}
