//! A scripted transport: fixed input, collected output, and faults injected where the
//! test says, or at random from a seed.

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};

use crate::rng::Rng;
use crate::storage::Storage;

/// What one transport call does instead of its plain job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Moves at most this many bytes (0: a random number, at least 1).
    Short(usize),
    /// Fails with `TimedOut`, moving nothing: the caller makes the same call again.
    TimedOut,
    /// Fails with `Interrupted`, moving nothing: the caller makes the same call again.
    Interrupted,
    /// Fails for good with this kind: this call and every later one, both ways.
    Fail(ErrorKind),
    /// A read: the end of the stream, now and from then on. A write: `Ok(0)`.
    Eof,
}

/// When faults happen, for one direction of a [`Script`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults<'a> {
    /// Faults at chosen calls: `(call number counted from 0, fault)`, sorted by call.
    pub at: &'a [(usize, Fault)],
    /// Chances, per 1000 calls, of a random `TimedOut`.
    pub timeout: u16,
    /// ... of a random `Interrupted`.
    pub interrupt: u16,
    /// ... of a random short transfer.
    pub short: u16,
    /// ... of a random hard failure (`ConnectionReset`).
    pub fail: u16,
    /// At most this many bytes a call (0: no limit).
    pub max_chunk: usize,
    /// A hard failure (`ConnectionReset`) once this many bytes have passed: the call that
    /// reaches the point moves the bytes up to it, the next one fails.
    pub fail_after: Option<usize>,
}

impl Faults<'static> {
    /// No faults.
    pub const NONE: Faults<'static> = Faults {
        at: &[],
        timeout: 0,
        interrupt: 0,
        short: 0,
        fail: 0,
        max_chunk: 0,
        fail_after: None,
    };
}

impl<'a> Faults<'a> {
    /// Faults at chosen calls.
    pub const fn at(at: &'a [(usize, Fault)]) -> Self {
        Faults { at, ..Faults::NONE }
    }

    /// Random timeouts, interruptions and short transfers, each with its chance per 1000
    /// calls.
    pub const fn random(timeout: u16, interrupt: u16, short: u16) -> Self {
        Faults {
            timeout,
            interrupt,
            short,
            ..Faults::NONE
        }
    }

    /// At most `n` bytes a call.
    pub const fn max_chunk(mut self, n: usize) -> Self {
        self.max_chunk = n;
        self
    }

    /// A random hard failure, with this chance per 1000 calls.
    pub const fn fail(mut self, per_mille: u16) -> Self {
        self.fail = per_mille;
        self
    }

    /// A hard failure once `n` bytes have passed.
    pub const fn fail_after(mut self, n: usize) -> Self {
        self.fail_after = Some(n);
        self
    }

    fn decide(&self, call: usize, rng: &mut Rng) -> Option<Fault> {
        if let Ok(i) = self.at.binary_search_by_key(&call, |(c, _)| *c) {
            return Some(self.at[i].1);
        }
        let total = u32::from(self.timeout)
            + u32::from(self.interrupt)
            + u32::from(self.short)
            + u32::from(self.fail);
        if total == 0 {
            return None;
        }
        let mut roll = rng.below(1000) as u32;
        for (chance, fault) in [
            (self.timeout, Fault::TimedOut),
            (self.interrupt, Fault::Interrupted),
            (self.short, Fault::Short(0)),
            (self.fail, Fault::Fail(ErrorKind::ConnectionReset)),
        ] {
            if roll < u32::from(chance) {
                return Some(fault);
            }
            roll -= u32::from(chance);
        }
        None
    }
}

/// What a read past the end of the input gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtEnd {
    /// `Ok(0)`: the peer is gone.
    Eof,
    /// `TimedOut`: nothing yet (a peer that is still there, but silent).
    Block,
}

/// A transport over fixed input (`I`: a slice, or a `Vec` with `std`) whose output is
/// collected in `O` ([`crate::Fixed`], or a `Vec`), with faults injected on reads, writes
/// and flushes as [`Faults`] say. Its error is [`ErrorKind`].
///
/// After a hard failure ([`Fault::Fail`]) every call fails with the same kind. Timeouts
/// and interruptions move nothing. It is always ready ([`ReadReady`], [`WriteReady`]),
/// except when dead.
#[derive(Debug)]
pub struct Script<'a, I, O> {
    input: I,
    pos: usize,
    /// What the code under test wrote.
    pub output: O,
    read_faults: Faults<'a>,
    write_faults: Faults<'a>,
    flush_faults: Faults<'a>,
    rng: Rng,
    reads: usize,
    writes: usize,
    flushes: usize,
    written: usize,
    injected: usize,
    dead: Option<ErrorKind>,
    eof: bool,
    at_end: AtEnd,
}

impl<'a, I: AsRef<[u8]>, O: Storage> Script<'a, I, O> {
    /// A script reading `input` and collecting what is written in `output`, without
    /// faults.
    pub fn new(input: I, output: O) -> Self {
        Script {
            input,
            pos: 0,
            output,
            read_faults: Faults::NONE,
            write_faults: Faults::NONE,
            flush_faults: Faults::NONE,
            rng: Rng::new(0),
            reads: 0,
            writes: 0,
            flushes: 0,
            written: 0,
            injected: 0,
            dead: None,
            eof: false,
            at_end: AtEnd::Eof,
        }
    }

    /// Faults on reads.
    pub fn reads(mut self, faults: Faults<'a>) -> Self {
        self.read_faults = faults;
        self
    }

    /// Faults on writes.
    pub fn writes(mut self, faults: Faults<'a>) -> Self {
        self.write_faults = faults;
        self
    }

    /// Faults on flushes (only timeouts, interruptions and failures apply).
    pub fn flushes(mut self, faults: Faults<'a>) -> Self {
        self.flush_faults = faults;
        self
    }

    /// The seed of the random faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = Rng::new(seed);
        self
    }

    /// What a read past the end of the input gets (default [`AtEnd::Eof`]).
    pub fn at_end(mut self, at_end: AtEnd) -> Self {
        self.at_end = at_end;
        self
    }

    /// What was written so far.
    pub fn written(&self) -> &[u8] {
        self.output.bytes()
    }

    /// Input bytes not read yet.
    pub fn unread(&self) -> usize {
        self.input.as_ref().len() - self.pos
    }

    /// Timeouts and interruptions injected so far.
    pub fn injected(&self) -> usize {
        self.injected
    }

    /// Read, write and flush calls so far.
    pub fn calls(&self) -> (usize, usize, usize) {
        (self.reads, self.writes, self.flushes)
    }

    /// The kind of the hard failure, once there was one.
    pub fn failed(&self) -> Option<ErrorKind> {
        self.dead
    }

    /// Gives up the output.
    pub fn into_output(self) -> O {
        self.output
    }

    /// The fault of a call: `Err` to return, or the most bytes it may move.
    fn fault(&mut self, fault: Option<Fault>, len: usize) -> Result<usize, ErrorKind> {
        match fault {
            None => Ok(usize::MAX),
            Some(Fault::Short(0)) => Ok(self.rng.range(1, len.max(1))),
            Some(Fault::Short(n)) => Ok(n),
            Some(Fault::TimedOut) => {
                self.injected += 1;
                Err(ErrorKind::TimedOut)
            }
            Some(Fault::Interrupted) => {
                self.injected += 1;
                Err(ErrorKind::Interrupted)
            }
            Some(Fault::Fail(kind)) => {
                self.dead = Some(kind);
                Err(kind)
            }
            Some(Fault::Eof) => {
                self.eof = true;
                Ok(0)
            }
        }
    }
}

impl<I, O> ErrorType for Script<'_, I, O> {
    type Error = ErrorKind;
}

impl<I: AsRef<[u8]>, O: Storage> Read for Script<'_, I, O> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if let Some(kind) = self.dead {
            return Err(kind);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let call = self.reads;
        self.reads += 1;
        let rest = self.input.as_ref().len() - self.pos;
        let decided = self.read_faults.decide(call, &mut self.rng);
        let mut limit = self.fault(decided, buf.len().min(rest))?;
        if self.eof {
            return Ok(0);
        }
        if rest == 0 {
            return match self.at_end {
                AtEnd::Eof => Ok(0),
                AtEnd::Block => Err(ErrorKind::TimedOut),
            };
        }
        if let Some(point) = self.read_faults.fail_after {
            if self.pos >= point {
                self.dead = Some(ErrorKind::ConnectionReset);
                return Err(ErrorKind::ConnectionReset);
            }
            limit = limit.min(point - self.pos);
        }
        if self.read_faults.max_chunk > 0 {
            limit = limit.min(self.read_faults.max_chunk);
        }
        let n = buf.len().min(rest).min(limit);
        buf[..n].copy_from_slice(&self.input.as_ref()[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<I: AsRef<[u8]>, O: Storage> Write for Script<'_, I, O> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if let Some(kind) = self.dead {
            return Err(kind);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let call = self.writes;
        self.writes += 1;
        let decided = self.write_faults.decide(call, &mut self.rng);
        let mut limit = self.fault(decided, buf.len())?;
        if self.eof {
            self.eof = false;
            return Ok(0);
        }
        if let Some(point) = self.write_faults.fail_after {
            if self.written >= point {
                self.dead = Some(ErrorKind::ConnectionReset);
                return Err(ErrorKind::ConnectionReset);
            }
            limit = limit.min(point - self.written);
        }
        if self.write_faults.max_chunk > 0 {
            limit = limit.min(self.write_faults.max_chunk);
        }
        let n = buf.len().min(limit);
        let stored = self.output.push(&buf[..n]);
        if stored == 0 {
            // The output storage is full: the test's buffer is too small.
            self.dead = Some(ErrorKind::OutOfMemory);
            return Err(ErrorKind::OutOfMemory);
        }
        self.written += stored;
        Ok(stored)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        if let Some(kind) = self.dead {
            return Err(kind);
        }
        let call = self.flushes;
        self.flushes += 1;
        let decided = self.flush_faults.decide(call, &mut self.rng);
        match decided {
            Some(Fault::Short(_) | Fault::Eof) | None => Ok(()),
            fault => self.fault(fault, 0).map(|_| ()),
        }
    }
}

impl<I: AsRef<[u8]>, O: Storage> ReadReady for Script<'_, I, O> {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        self.dead.map_or(Ok(true), Err)
    }
}

impl<I: AsRef<[u8]>, O: Storage> WriteReady for Script<'_, I, O> {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        self.dead.map_or(Ok(true), Err)
    }
}

#[cfg(feature = "std")]
impl<O: Storage> Script<'_, std::vec::Vec<u8>, O> {
    /// More input, after what there is (a peer that speaks again).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }
}
