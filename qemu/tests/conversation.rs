//! Whole WebSocket conversations on an emulated Cortex-M: the test kit's
//! `checks::CONVERSATIONS`, the same the host runs (tests/kit.rs), over static buffers.
//!
//! - ws13's server against a scripted browser, and ws13's client against a scripted
//!   server (handshakes, text, binary, fragments with a ping between them, pings
//!   answered, the close handshake started by either side);
//! - the client streaming one frame in chunks, with a ping answered after it;
//! - the real client against the real server in one loop, over an in-memory pipe: a
//!   program of blocking calls, the server stepping whenever the client would block;
//!   and both as non-blocking peers behind `blocking::Ready`;
//! - failures: invalid UTF-8 (1007, at once), a reserved bit and an unmasked frame
//!   (1002) at a server, a masked frame at a client.
//!
//! Each runs at segment sizes of 1, 3, 7, 64 and 4096 bytes (the most one read or write
//! moves), then again over transports that inject timeouts, interruptions, short reads
//! and short writes at points chosen by a seed, where every interrupted call is made
//! again with the same arguments, as ws13 asks; then over 20 more seeds, each also
//! picking the segment size and the sizes of the receive and transmit buffers
//! (`Config::varied`, the first 20 of the host's 200).
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use ws13_qemu::{check, core_name, hprintln, pass};
use ws13_testkit::checks::{self, Buffers, Config};

ws13_qemu::exit_on_fault!();

/// Every buffer the checks use, in `.bss`.
static mut BUFS: Buffers = Buffers::new();

#[entry]
fn main() -> ! {
    // SAFETY: the only reference ever made to BUFS, made once, before anything else runs.
    let b: &'static mut Buffers = unsafe { &mut *addr_of_mut!(BUFS) };
    hprintln!("ws13 conversations on {}", core_name());
    let mut count = 0;
    for cfg in Config::matrix().chain((100..120).map(Config::varied)) {
        if cfg.faults {
            hprintln!(
                "segments of at most {} bytes, rx {} B, tx {} B, with timeouts, \
                 interruptions and short transfers injected (seed {}):",
                cfg.segment,
                cfg.rx,
                cfg.tx,
                cfg.seed
            );
        } else {
            hprintln!(
                "segments of {} bytes, rx {} B, tx {} B:",
                cfg.segment,
                cfg.rx,
                cfg.tx
            );
        }
        for (name, conversation) in checks::CONVERSATIONS {
            check(name, || conversation(b, &cfg));
            count += 1;
        }
    }
    hprintln!("all {} conversations passed", count);
    pass()
}
