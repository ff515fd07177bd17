//! A monotonic millisecond clock from SysTick, for smoltcp's `Instant`.
//!
//! SysTick counts the processor clock (CLKSOURCE = core) down from a reload value of one
//! second's cycles; its exception counts the wraps, and the time is wraps × 1 s plus what the
//! counter has run down since the last wrap.
//!
//! Under QEMU, SysTick's counter is computed from QEMU's virtual clock, which follows the
//! host's real time when `-icount` is not given. A 1 kHz tick counted in the exception
//! handler lost time there (about 3 %, and more while QEMU was still translating code):
//! two expiries in a row before the exception was taken count as one. Reading the counter
//! itself does not depend on when the exception runs. QEMU does not model the DWT cycle
//! counter (CYCCNT reads 0), so that is no alternative.

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use smoltcp::time::Instant;

/// The processor clock after reset. QEMU derives it from RCC's SYSDIV field (reset value
/// 0xF): 5 ns × (SYSDIV + 1) = 80 ns a cycle. The real chip runs from its 12 MHz internal
/// oscillator (±30 %) after reset, which is close enough for a bring-up.
pub const SYSCLK_HZ: u32 = 12_500_000;

/// Cycles in a millisecond.
const CYCLES_PER_MS: u32 = SYSCLK_HZ / 1000;

/// SysTick's reload value: one wrap a second (12.5 M − 1 fits SysTick's 24 bits).
const RELOAD: u32 = SYSCLK_HZ - 1;
const _: () = assert!(RELOAD <= 0x00ff_ffff);

/// SysTick wraps since [`start`], counted by the SysTick exception.
static WRAPS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// Starts SysTick. Takes the peripheral so that nothing else reprograms it.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // The counter reads 0 until it has loaded RELOAD (under QEMU, for a moment after it is
    // enabled), which would read as 999 ms into the first second: wait for the load.
    while SYST::get_current() == 0 {}
}

/// Milliseconds since [`start`].
pub fn millis() -> u64 {
    let (wraps, current) = interrupt::free(|cs| {
        let wraps = WRAPS.borrow(cs).get();
        let current = SYST::get_current();
        // A wrap that happened inside this critical section has not been counted yet: its
        // exception is pending. The counter is then read again, after the wrap for sure.
        if SCB::is_pendst_pending() {
            (wraps + 1, SYST::get_current())
        } else {
            (wraps, current)
        }
    });
    let into_second = (RELOAD - current.min(RELOAD)) / CYCLES_PER_MS;
    u64::from(wraps) * 1000 + u64::from(into_second)
}

/// The current time for smoltcp.
pub fn now() -> Instant {
    // Cannot overflow: u32 seconds of wraps are 136 years.
    Instant::from_millis(millis() as i64)
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let wraps = WRAPS.borrow(cs);
        wraps.set(wraps.get().wrapping_add(1));
    });
}
