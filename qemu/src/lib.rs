//! Support for running `ws13` on an emulated Cortex-M core (QEMU, machine `lm3s6965evb`).
//!
//! - [`Pipe`]: an in-memory transport implementing `embedded_io::Read`/`Write`: one byte
//!   queue in (what the peer sent, handed out in segments of a chosen size, like TCP
//!   segments) and one byte queue out (what this end sent). No sockets, no threads.
//! - [`Script`]: builds a peer's bytes with the crate's own encoders
//!   (`ClientRequest`, `FrameHeader::emit`, `frame::apply_mask`).
//! - [`Log`]: reads a byte stream with the crate's own `Receiver` and records the
//!   messages and control frames in it, for comparison with what was expected.
//! - [`check`], [`pass`], [`fail`], [`exit_on_fault!`]: reporting over semihosting and
//!   exit codes that QEMU (and so cargo) sees.
//!
//! Everything lives in caller-provided (static) buffers: there is no allocator.
#![no_std]

use core::fmt;

use cortex_m_semihosting::debug;
pub use cortex_m_semihosting::{hprint, hprintln};
// Panics print their message over semihosting and exit QEMU with status 1.
use panic_semihosting as _;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use ws13::frame::{self, FrameHeader, OpCode};
use ws13::proto::{Event, MessageKind, ProtocolError, Receiver, Role};

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

/// Runs one named check, printing its name first (so that a failing assertion, which
/// panics and exits, is attributed to it) and `ok` after.
pub fn check(name: &str, f: impl FnOnce()) {
    hprint!("check {} ... ", name);
    f();
    hprintln!("ok");
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

/// The in-memory transport's only error: its output queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeFull;

impl fmt::Display for PipeFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pipe output full")
    }
}

impl core::error::Error for PipeFull {}

impl embedded_io::Error for PipeFull {
    fn kind(&self) -> ErrorKind {
        ErrorKind::OutOfMemory
    }
}

/// An in-memory connection, seen from one end: `input` is what the peer sent (read in
/// segments of at most `segment` bytes; its end reads as the end of the stream), and
/// `output` collects what this end writes.
pub struct Pipe<'a> {
    input: &'a [u8],
    read_pos: usize,
    segment: usize,
    output: &'a mut [u8],
    written: usize,
    reads: usize,
    flushes: usize,
}

impl<'a> Pipe<'a> {
    /// A pipe delivering `input` in segments of at most `segment` bytes (at least 1).
    pub fn new(input: &'a [u8], output: &'a mut [u8], segment: usize) -> Self {
        Pipe {
            input,
            read_pos: 0,
            segment: segment.max(1),
            output,
            written: 0,
            reads: 0,
            flushes: 0,
        }
    }

    /// What this end has written so far.
    pub fn output(&self) -> &[u8] {
        &self.output[..self.written]
    }

    /// What this end has written so far, mutably (a `Receiver` unmasks in place).
    pub fn output_mut(&mut self) -> &mut [u8] {
        &mut self.output[..self.written]
    }

    /// Bytes of the input not read yet.
    pub fn unread(&self) -> usize {
        self.input.len() - self.read_pos
    }

    /// How many reads returned data.
    pub fn reads(&self) -> usize {
        self.reads
    }

    /// How many times the transport was flushed.
    pub fn flushes(&self) -> usize {
        self.flushes
    }
}

impl ErrorType for Pipe<'_> {
    type Error = PipeFull;
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PipeFull> {
        let n = buf.len().min(self.segment).min(self.unread());
        buf[..n].copy_from_slice(&self.input[self.read_pos..self.read_pos + n]);
        self.read_pos += n;
        if n > 0 {
            self.reads += 1;
        }
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, PipeFull> {
        if buf.is_empty() {
            return Ok(0);
        }
        let free = self.output.len() - self.written;
        if free == 0 {
            return Err(PipeFull);
        }
        let n = buf.len().min(free);
        self.output[self.written..self.written + n].copy_from_slice(&buf[..n]);
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), PipeFull> {
        self.flushes += 1;
        Ok(())
    }
}

/// A peer's bytes, built in a caller's buffer with the crate's own encoders.
pub struct Script<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Script<'a> {
    /// An empty script writing into `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Script { buf, len: 0 }
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self
    }

    /// The free space after the bytes so far (to write a handshake into), and a way to
    /// keep what was written there: see [`Script::advance`].
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Keeps `n` bytes written into [`Script::spare`].
    pub fn advance(&mut self, n: usize) -> &mut Self {
        self.len += n;
        self
    }

    /// Appends one frame: its header from `FrameHeader::emit`, then the payload, masked
    /// with `mask` by `frame::apply_mask` when there is a key (a client's frames).
    pub fn frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) -> &mut Self {
        let header = FrameHeader {
            fin,
            opcode,
            mask,
            len: payload.len() as u64,
        };
        self.bytes(header.emit().as_bytes());
        let start = self.len;
        self.bytes(payload);
        if let Some(key) = mask {
            frame::apply_mask(&mut self.buf[start..self.len], key, 0);
        }
        self
    }

    /// A close frame's payload: the code, big-endian, then the reason.
    pub fn close(&mut self, mask: Option<[u8; 4]>, code: u16, reason: &str) -> &mut Self {
        let mut payload = [0u8; 125];
        payload[..2].copy_from_slice(&code.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        self.frame(true, OpCode::Close, mask, &payload[..2 + reason.len()])
    }

    /// The script's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The script's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What a [`Log`] entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A whole text message.
    Text,
    /// A whole binary message.
    Binary,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
    /// A close frame with its code (`None`: no code); the bytes are the reason.
    Close(Option<u16>),
}

/// The messages and control frames found in a byte stream, in order, their bytes in an
/// arena.
pub struct Log<'a> {
    arena: &'a mut [u8],
    used: usize,
    entries: [(Seen, usize, usize); 32],
    count: usize,
    /// Data frames seen (so fragmentation is visible).
    pub data_frames: usize,
}

impl<'a> Log<'a> {
    /// An empty log keeping message bytes in `arena`.
    pub fn new(arena: &'a mut [u8]) -> Self {
        Log {
            arena,
            used: 0,
            entries: [(Seen::Text, 0, 0); 32],
            count: 0,
            data_frames: 0,
        }
    }

    /// Reads `stream` (frames only, no handshake) as the endpoint with `role` would,
    /// recording whole messages and control frames. Panics if the stream ends inside a
    /// frame or has bytes after its close frame; a protocol error is returned.
    pub fn read(&mut self, role: Role, stream: &mut [u8]) -> Result<(), ProtocolError> {
        let mut receiver = Receiver::new(role);
        let mut pos = 0;
        let mut message_start = self.used;
        while pos < stream.len() && !receiver.is_closed() {
            let received = receiver.receive(&mut stream[pos..])?;
            pos += received.consumed;
            let Some(event) = received.event else {
                panic!("stream ends inside a frame at byte {}", pos);
            };
            match event {
                Event::Data {
                    kind,
                    first,
                    last,
                    payload,
                    ..
                } => {
                    if first {
                        message_start = self.used;
                    }
                    self.keep(payload);
                    if last {
                        let seen = match kind {
                            MessageKind::Text => Seen::Text,
                            MessageKind::Binary => Seen::Binary,
                        };
                        self.push(seen, message_start);
                        message_start = self.used;
                    }
                }
                Event::Ping(p) => self.control(Seen::Ping, p, &mut message_start),
                Event::Pong(p) => self.control(Seen::Pong, p, &mut message_start),
                Event::Close(close) => {
                    let (seen, reason) = match close {
                        Some(c) => (Seen::Close(Some(c.code.0)), c.reason.as_bytes()),
                        None => (Seen::Close(None), &[][..]),
                    };
                    self.control(seen, reason, &mut message_start);
                }
            }
        }
        assert_eq!(pos, stream.len(), "bytes after the close frame");
        Ok(())
    }

    /// Records a control frame, which may arrive between the fragments of a message:
    /// its bytes go before the message's so that those stay contiguous.
    fn control(&mut self, seen: Seen, bytes: &[u8], message_start: &mut usize) {
        let start = *message_start;
        let n = bytes.len();
        self.arena.copy_within(start..self.used, start + n);
        self.arena[start..start + n].copy_from_slice(bytes);
        self.used += n;
        *message_start += n;
        self.push(seen, start);
        // The entry ends where its own bytes do.
        self.entries[self.count - 1].2 = start + n;
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.arena[self.used..self.used + bytes.len()].copy_from_slice(bytes);
        self.used += bytes.len();
    }

    fn push(&mut self, seen: Seen, start: usize) {
        self.entries[self.count] = (seen, start, self.used);
        self.count += 1;
    }

    /// Counts the data frames of a frame stream (to see how a message was fragmented).
    pub fn count_frames(stream: &[u8]) -> usize {
        let mut pos = 0;
        let mut data = 0;
        while let Ok(Some((h, n))) = FrameHeader::parse(&stream[pos..]) {
            if !h.opcode.is_control() {
                data += 1;
            }
            pos += n + h.len as usize;
        }
        data
    }

    /// The entries recorded.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entry `i`: what it is and its bytes.
    pub fn get(&self, i: usize) -> (Seen, &[u8]) {
        let (seen, start, end) = self.entries[i];
        (seen, &self.arena[start..end])
    }

    /// Asserts that the log holds exactly `expected`, in order.
    pub fn expect(&self, expected: &[(Seen, &[u8])]) {
        for i in 0..self.count.max(expected.len()) {
            let got = (i < self.count).then(|| self.get(i));
            let want = expected.get(i).copied();
            if got != want {
                hprintln!("\nentry {}: got {:?}, expected {:?}", i, got, want);
                panic!("transcript differs at entry {}", i);
            }
        }
    }
}

/// A deterministic stand-in for a hardware RNG (xorshift32), for masking keys and nonces.
/// Real firmware must use a true random source (RFC 6455 section 10.3).
#[derive(Clone, Copy, Debug)]
pub struct TestRng(pub u32);

impl TestRng {
    /// The next four bytes.
    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x.to_le_bytes()
    }
}

impl ws13::blocking::MaskSource for TestRng {
    fn next_key(&mut self) -> [u8; 4] {
        TestRng::next_key(self)
    }
}
