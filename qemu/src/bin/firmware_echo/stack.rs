//! Stack measurement by painting: fill the free RAM below the stack pointer with a
//! pattern, run, and find the lowest word that changed.

const PAINT: u32 = 0x5A5A_C0DE;

extern "C" {
    /// cortex-m-rt: the end of `.bss`/`.uninit`, the lowest address the stack may use.
    static mut _stack_end: u32;
    /// cortex-m-rt: the initial stack pointer (top of RAM).
    static mut _stack_start: u32;
}

/// The painted region: from the bottom of the stack region to just below `paint`'s frame.
pub struct Painted {
    bottom: usize,
    top: usize,
}

/// What the run used.
#[allow(dead_code)] // Not every binary prints every figure.
pub struct Used {
    /// Bytes of stack used by the code run since `paint`, below the point where it
    /// painted up to (its caller's stack pointer less `paint`'s small frame and 32 bytes).
    pub below_main: usize,
    /// Bytes painted (the stack still free when `paint` ran).
    pub painted: usize,
    /// Bytes from the top of RAM to the deepest point reached.
    pub from_top: usize,
}

/// Paints from the bottom of the stack region up to just below this function's frame.
#[inline(never)]
pub fn paint() -> Painted {
    let bottom = core::ptr::addr_of_mut!(_stack_end) as usize;
    // Leave a little room below our own frame for the loop itself.
    let top = (cortex_m::register::msp::read() as usize - 32) & !3;
    let mut p = bottom;
    while p < top {
        // SAFETY: RAM between the end of the statics and below the live stack.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    Painted { bottom, top }
}

impl Painted {
    /// Finds the deepest word written since `paint`.
    pub fn used(&self) -> Used {
        let mut p = self.bottom;
        // SAFETY: the same RAM as `paint` wrote.
        while p < self.top && unsafe { (p as *const u32).read_volatile() } == PAINT {
            p += 4;
        }
        let stack_top = core::ptr::addr_of_mut!(_stack_start) as usize;
        Used {
            below_main: self.top - p,
            painted: self.top - self.bottom,
            from_top: stack_top - p,
        }
    }
}
