//! Support for running ws13's checks on an emulated Cortex-M core (QEMU, machine
//! `lm3s6965evb`): reporting over semihosting, and exit codes that QEMU (and so cargo)
//! sees. The checks themselves, the transports they run over and the frames they build
//! are the test kit's (`ws13_testkit`), the same that the host tests run.
#![no_std]

use cortex_m_semihosting::debug;
pub use cortex_m_semihosting::{hprint, hprintln};
// Panics print their message over semihosting and exit QEMU with status 1.
use panic_semihosting as _;

/// Ends the run successfully (QEMU exits with 0).
pub fn pass() -> ! {
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Ends the run with a failure (QEMU exits with 1).
pub fn fail() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Runs one named check: prints its name (so that a panic inside is attributed to it),
/// then `ok`, or what went wrong and ends the run with a failure.
pub fn check(name: &str, f: impl FnOnce() -> Result<(), &'static str>) {
    hprint!("check {} ... ", name);
    match f() {
        Ok(()) => hprintln!("ok"),
        Err(what) => {
            hprintln!("FAILED: {}", what);
            fail()
        }
    }
}

/// Which core QEMU emulates, from the CPUID register.
pub fn core_name() -> &'static str {
    // SAFETY: CPUID is a read-only register present on every Cortex-M.
    let cpuid = unsafe { (*cortex_m::peripheral::CPUID::PTR).base.read() };
    match (cpuid >> 4) & 0xFFF {
        0xC20 => "Cortex-M0",
        0xC23 => "Cortex-M3",
        0xC24 => "Cortex-M4",
        _ => "an unknown core",
    }
}

/// Defines `HardFault` and `DefaultHandler` handlers that report and exit with failure,
/// so that a fault ends the run instead of hanging QEMU until its timeout.
#[macro_export]
macro_rules! exit_on_fault {
    () => {
        #[cortex_m_rt::exception]
        unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::hprintln!("HardFault: {:?}", frame);
            $crate::fail()
        }

        #[cortex_m_rt::exception]
        unsafe fn DefaultHandler(irqn: i16) {
            $crate::hprintln!("unexpected exception or interrupt {}", irqn);
            $crate::fail()
        }
    };
}
