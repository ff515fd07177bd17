//! Driver for the LM3S6965's Ethernet controller (the Stellaris 10/100 MAC with its
//! integrated PHY), polled, for smoltcp's [`phy::Device`].
//!
//! Written from the register descriptions in the LM3S6965 datasheet (chapter "Ethernet
//! Controller") and checked against QEMU's model of the controller (`stellaris_enet`).
//!
//! The MAC moves frames through two FIFOs, both reached through one 32-bit register,
//! MACDATA, read or written a word at a time, little-endian:
//!
//! - **Receive.** MACNP counts the frames waiting in the RX FIFO. A frame starts with a
//!   16-bit length: the whole FIFO entry in bytes (these 2 length bytes, the frame from the
//!   destination address on, and the 4-byte FCS). The first word holds that length and the
//!   first 2 bytes of the frame; the frame goes on in the next words. Reading the last word
//!   of an entry removes it (MACNP drops by one).
//! - **Transmit.** The first word holds the payload length (the frame less its 14-byte
//!   header) in its low 16 bits and the first 2 bytes of the frame; the rest of the frame
//!   follows. Writing NEWTX to MACTR sends it; NEWTX reads 1 until the frame is out. With
//!   PADEN and CRC set in MACTCTL the MAC pads short frames to 60 bytes and appends the FCS.
//!
//! No interrupts: MACIM masks them all and `receive`/`transmit` look at MACNP and MACTR.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The Ethernet controller's registers (LM3S6965 datasheet, "Register Map").
const MAC_BASE: usize = 0x4004_8000;
/// MACRIS on read (raw interrupt status), MACIACK on write (acknowledge).
const MACRIS: usize = 0x000;
const MACIM: usize = 0x004;
const MACRCTL: usize = 0x008;
const MACTCTL: usize = 0x00c;
const MACDATA: usize = 0x010;
const MACIA0: usize = 0x014;
const MACIA1: usize = 0x018;
const MACNP: usize = 0x034;
const MACTR: usize = 0x038;

/// MACRIS/MACIACK/MACIM bits: RX, TXER, TXEMP, FOV, RXER, MDINT, PHYINT.
const INT_ALL: u32 = 0x7f;
/// FIFO overrun: a frame arrived while the RX FIFO was full and was lost.
const INT_FOV: u32 = 1 << 3;
/// MACRCTL bits.
const RCTL_RXEN: u32 = 1 << 0;
const RCTL_AMUL: u32 = 1 << 1;
const RCTL_BADCRC: u32 = 1 << 3;
const RCTL_RSTFIFO: u32 = 1 << 4;
/// MACTCTL bits.
const TCTL_TXEN: u32 = 1 << 0;
const TCTL_PADEN: u32 = 1 << 1;
const TCTL_CRC: u32 = 1 << 2;
const TCTL_DUPLEX: u32 = 1 << 4;
/// MACTR: start transmitting the frame in the TX FIFO; reads 1 until it is sent.
const TR_NEWTX: u32 = 1 << 0;
/// MACNP's count field.
const NP_MASK: u32 = 0x3f;

/// System control: RCGC2, the run-mode clock gates of the MAC (bit 28) and PHY (bit 30).
const SYSCTL_RCGC2: usize = 0x400f_e108;
const RCGC2_EMAC0: u32 = 1 << 28;
const RCGC2_EPHY0: u32 = 1 << 30;

/// The largest frame handed to or taken from smoltcp: 14-byte header and 1500-byte payload.
pub const MAX_FRAME: usize = 1514;
/// Ethernet header: destination, source, EtherType.
const HEADER: usize = 14;
/// What the RX FIFO adds around a frame: the 2-byte length and the 4-byte FCS.
const RX_OVERHEAD: usize = 6;
/// The RX FIFO's size: no entry is longer.
const RX_FIFO: usize = 2048;

/// Counters for what the driver saw (for diagnostics).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub rx_frames: u32,
    pub tx_frames: u32,
    /// Frames the RX FIFO reported with an impossible length (the FIFO was reset) or too
    /// long for [`MAX_FRAME`] (dropped).
    pub rx_bad: u32,
    /// Frames lost because the RX FIFO was full (FOV).
    pub rx_overruns: u32,
}

/// The only handle on the MAC's registers. It exists once ([`Enet::take`]), so nothing else
/// reads MACDATA (each read consumes FIFO data) or writes the transmit FIFO.
struct Regs(());

impl Regs {
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: MAC_BASE + offset is one of the MAC's word-aligned 32-bit registers
        // (offsets are the constants above), a device register outside any memory Rust
        // owns. A volatile read is how the datasheet says to access it; its side effects
        // (popping the RX FIFO) are the driver's own business, and only `Regs` performs them.
        unsafe { read_volatile((MAC_BASE + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`: a word-aligned MAC register, not memory Rust owns; only this
        // unique handle writes it.
        unsafe { write_volatile((MAC_BASE + offset) as *mut u32, value) }
    }
}

/// Set once the driver has been handed out.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The driver's frame buffers, one each way (kept apart from [`Enet`] so that they can sit
/// in a static and the driver can be moved around cheaply).
pub struct Frames {
    rx: [u8; MAX_FRAME],
    tx: [u8; MAX_FRAME],
}

impl Frames {
    pub const fn new() -> Self {
        Frames {
            rx: [0; MAX_FRAME],
            tx: [0; MAX_FRAME],
        }
    }
}

impl Default for Frames {
    fn default() -> Self {
        Frames::new()
    }
}

/// The Ethernet MAC, ready for smoltcp.
pub struct Enet {
    regs: Regs,
    rx: &'static mut [u8; MAX_FRAME],
    tx: &'static mut [u8; MAX_FRAME],
    stats: Stats,
}

impl Enet {
    /// Enables the controller with the given MAC address; `None` if it was taken before.
    pub fn take(mac: [u8; 6], frames: &'static mut Frames) -> Option<Self> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        enable_clocks();
        let enet = Enet {
            regs: Regs(()),
            rx: &mut frames.rx,
            tx: &mut frames.tx,
            stats: Stats::default(),
        };
        enet.init(mac);
        Some(enet)
    }

    fn init(&self, mac: [u8; 6]) {
        let r = &self.regs;
        // Polling: every interrupt source masked, anything already raised acknowledged.
        r.write(MACIM, 0);
        r.write(MACRIS, INT_ALL);
        // The address filter (and QEMU's idea of the NIC's address).
        r.write(MACIA0, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
        r.write(MACIA1, u32::from(mac[4]) | u32::from(mac[5]) << 8);
        // Transmit: pad short frames, append the FCS, full duplex; then enable.
        let tctl = TCTL_PADEN | TCTL_CRC | TCTL_DUPLEX;
        r.write(MACTCTL, tctl);
        r.write(MACTCTL, tctl | TCTL_TXEN);
        // Receive: empty the FIFO with the receiver off, then accept our address, broadcast
        // and multicast, dropping frames with a bad FCS.
        let rctl = RCTL_AMUL | RCTL_BADCRC;
        r.write(MACRCTL, rctl | RCTL_RSTFIFO);
        r.write(MACRCTL, rctl | RCTL_RXEN);
    }

    /// What the driver counted so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Empties the RX FIFO: the way out when an entry's length cannot be trusted.
    fn reset_rx_fifo(&self) {
        let rctl = self.regs.read(MACRCTL) & !(RCTL_RXEN | RCTL_RSTFIFO);
        self.regs.write(MACRCTL, rctl | RCTL_RSTFIFO);
        self.regs.write(MACRCTL, rctl | RCTL_RXEN);
    }

    /// Moves the oldest frame of the RX FIFO into `self.rx`; its length, or `None` if the FIFO
    /// holds no frame (or only a bad one, which is dropped).
    fn pop_frame(&mut self) -> Option<usize> {
        let status = self.regs.read(MACRIS);
        if status & INT_FOV != 0 {
            self.regs.write(MACRIS, INT_FOV);
            self.stats.rx_overruns += 1;
        }
        if self.regs.read(MACNP) & NP_MASK == 0 {
            return None;
        }
        let first = self.regs.read(MACDATA);
        let entry = (first & 0xffff) as usize;
        if !(RX_OVERHEAD + HEADER..=RX_FIFO).contains(&entry) {
            // Not a length the MAC can produce: the FIFO is out of step.
            self.stats.rx_bad += 1;
            self.reset_rx_fifo();
            return None;
        }
        let len = entry - RX_OVERHEAD;
        let words = entry.div_ceil(4);
        // The first word: 2 length bytes, then the frame's first 2 bytes.
        let [_, _, b0, b1] = first.to_le_bytes();
        let mut head = [b0, b1, 0, 0];
        let mut at = 0;
        let mut keep = |bytes: &[u8], rx: &mut [u8; MAX_FRAME]| {
            // Bytes past the frame (the FCS, the last word's padding) or past the buffer
            // are dropped.
            for &b in bytes {
                if at < len && at < MAX_FRAME {
                    rx[at] = b;
                }
                at += 1;
            }
        };
        keep(&head[..2], self.rx);
        for _ in 1..words {
            head = self.regs.read(MACDATA).to_le_bytes();
            keep(&head, self.rx);
        }
        if len > MAX_FRAME {
            self.stats.rx_bad += 1;
            return None;
        }
        self.stats.rx_frames += 1;
        Some(len)
    }
}

/// Turns on the MAC's and PHY's clocks (the datasheet's first initialisation step).
fn enable_clocks() {
    // SAFETY: RCGC2 is a word-aligned system-control register, not memory Rust owns; this
    // read-modify-write only sets the two Ethernet gate bits, and runs once (from
    // `Enet::take`) before anything else could use the Ethernet clocks.
    unsafe {
        let rcgc2 = SYSCTL_RCGC2 as *mut u32;
        write_volatile(rcgc2, read_volatile(rcgc2) | RCGC2_EMAC0 | RCGC2_EPHY0);
    }
    // Give the clock gates a few cycles to take effect before the MAC is touched.
    cortex_m::asm::delay(16);
}

/// Writes one frame into the TX FIFO and starts its transmission.
fn send(regs: &Regs, frame: &[u8]) {
    // Wait for the previous frame to leave (never under QEMU, which sends at once; about
    // 120 µs for a full frame at 100 Mbit/s).
    while regs.read(MACTR) & TR_NEWTX != 0 {}
    let payload = (frame.len() - HEADER) as u32;
    regs.write(
        MACDATA,
        payload | u32::from(frame[0]) << 16 | u32::from(frame[1]) << 24,
    );
    for chunk in frame[2..].chunks(4) {
        let mut word = [0; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        regs.write(MACDATA, u32::from_le_bytes(word));
    }
    regs.write(MACTR, TR_NEWTX);
}

/// A received frame, already out of the FIFO.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for one frame to send.
pub struct TxToken<'a> {
    regs: &'a Regs,
    buf: &'a mut [u8; MAX_FRAME],
    sent: &'a mut u32,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // smoltcp never asks for more than the MTU it was given (MAX_FRAME).
        let frame = &mut self.buf[..len.min(MAX_FRAME)];
        let result = f(frame);
        if frame.len() >= HEADER {
            send(self.regs, frame);
            *self.sent += 1;
        }
        result
    }
}

impl phy::Device for Enet {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = self.pop_frame()?;
        let Enet {
            regs,
            rx,
            tx,
            stats,
        } = self;
        Some((
            RxToken { frame: &rx[..len] },
            TxToken {
                regs,
                buf: tx,
                sent: &mut stats.tx_frames,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            regs: &self.regs,
            buf: self.tx,
            sent: &mut self.stats.tx_frames,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // The 2 KiB RX FIFO holds one full-size frame: TCP windows are capped at one segment
        // so that a peer's burst cannot overrun it while the loop is busy elsewhere. (QEMU's
        // model queues 31 frames of any size; the sockets' 1 KiB buffers cap the window
        // lower anyway.)
        caps.max_burst_size = Some(1);
        caps
    }
}
