//! ws13's test kit: everything the tests, the fuzz targets, the benchmarks and the
//! microcontroller checks need to drive ws13, in one place, `no_std` and allocation-free
//! (feature `std` adds `Vec`-based conveniences).
//!
//! | module | what |
//! |---|---|
//! | [`rng`] | [`Rng`] (SplitMix64), [`TestMask`], seeds that name themselves when a case fails |
//! | [`consts`] | RFC 6455's sample request and response, a Chromium request |
//! | [`storage`] | [`Storage`]: where bytes are collected (a fixed slice, or a `Vec`) |
//! | [`script`] | [`Script`]: a transport over fixed input that injects faults |
//! | [`pipe`] | [`Duplex`]: two ends of an in-memory connection in one thread |
//! | `asyncio` (async) | `AsyncDuplex`: the same for async tasks, with wakers; `Stalling`, a `Script` made async; `Flag`, a signal between tasks; `block_on` and `Impatient` (drops futures part-way), executors with a noop waker |
//! | [`wire`] | frames: a builder ([`Frames`]) and a checking decoder ([`Decoder`]) |
//! | [`assemble`] | [`Reassembler`]: events joined into messages, flags and UTF-8 checked |
//! | [`drive`] | retrying calls after timeouts, and resumable echo peers for one-loop tests |
//! | [`checks`] | whole conversations, `Result<(), &'static str>`, over caller buffers |
//! | `owned` (std) | owned frames and messages, for `assert_eq!` |
//!
//! The transports' error type is [`embedded_io::ErrorKind`]; a fault of kind `TimedOut`
//! or `Interrupted` is one every ws13 call survives (the same call is made again).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod assemble;
#[cfg(feature = "async")]
pub mod asyncio;
pub mod checks;
pub mod consts;
pub mod drive;
#[cfg(feature = "std")]
pub mod owned;
pub mod pipe;
pub mod rng;
pub mod script;
pub mod storage;
pub mod wire;

pub use assemble::{Assembled, Reassembler};
pub use pipe::{Duplex, End};
pub use rng::{Rng, TestMask};
pub use script::{AtEnd, Fault, Faults, Script};
pub use storage::{Count, Fixed, Storage};
pub use wire::{Decoder, Frames};

/// Fails a check with `msg` unless `cond` holds: `ensure!(x == 1, "x is one")`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $msg:expr) => {
        if !$cond {
            return Err($msg);
        }
    };
}
