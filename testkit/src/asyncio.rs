//! In-memory async transports (feature `async`): [`AsyncDuplex`], two ends of a connection
//! whose reads and writes wait for each other through wakers, over ring buffers held
//! inline (so that a `static` can hold one), for any executor; [`Stalling`], a blocking
//! transport (a [`crate::Script`] with its faults) made async and now and then not ready;
//! [`Flag`], a one-shot signal between tasks. Single-threaded: for tasks of one executor.
//! And two tiny executors for the calling thread, with a waker that does nothing:
//! [`block_on`], and [`Impatient`], which drops futures part-way as a timeout would.

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use embedded_io::{ErrorKind, ErrorType};
use embedded_io_async::{Read, Write};

use crate::rng::Rng;

/// One direction: a ring buffer, and the tasks waiting on either side of it.
#[derive(Debug)]
struct AsyncRing<const N: usize> {
    buf: [u8; N],
    start: usize,
    len: usize,
    /// The writing side is gone: after the bytes still there, the reader gets the end.
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl<const N: usize> AsyncRing<N> {
    const fn new() -> Self {
        AsyncRing {
            buf: [0; N],
            start: 0,
            len: 0,
            closed: false,
            reader: None,
            writer: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(N - self.len);
        for (i, b) in bytes[..n].iter().enumerate() {
            self.buf[(self.start + self.len + i) % N] = *b;
        }
        self.len += n;
        n
    }

    fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = self.buf[(self.start + i) % N];
        }
        self.start = (self.start + n) % N.max(1);
        self.len -= n;
        n
    }
}

/// Two ends of an in-memory connection for async tasks: each end reads what the other
/// wrote. Each direction holds `N` bytes; a write takes what fits and waits while
/// nothing does, a read takes what is there and waits while nothing is.
#[derive(Debug)]
pub struct AsyncDuplex<const N: usize> {
    ab: RefCell<AsyncRing<N>>,
    ba: RefCell<AsyncRing<N>>,
}

impl<const N: usize> Default for AsyncDuplex<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AsyncDuplex<N> {
    /// An empty connection.
    pub const fn new() -> Self {
        AsyncDuplex {
            ab: RefCell::new(AsyncRing::new()),
            ba: RefCell::new(AsyncRing::new()),
        }
    }

    /// The two ends, `a` and `b`, each moving at most `max_io` bytes a call.
    pub fn ends(&self, max_io: usize) -> (AsyncEnd<'_, N>, AsyncEnd<'_, N>) {
        let max_io = max_io.max(1);
        (
            AsyncEnd {
                rx: &self.ba,
                tx: &self.ab,
                max_io,
            },
            AsyncEnd {
                rx: &self.ab,
                tx: &self.ba,
                max_io,
            },
        )
    }
}

/// One end of an [`AsyncDuplex`]. Dropping it ends its direction: the peer reads the
/// bytes still there, then the end of the stream.
#[derive(Debug)]
pub struct AsyncEnd<'d, const N: usize> {
    rx: &'d RefCell<AsyncRing<N>>,
    tx: &'d RefCell<AsyncRing<N>>,
    max_io: usize,
}

impl<'d, const N: usize> AsyncEnd<'d, N> {
    /// The reading and the writing half, for two tasks. Dropping the writing half ends
    /// its direction.
    pub fn split(self) -> (AsyncReadHalf<'d, N>, AsyncWriteHalf<'d, N>) {
        let halves = (
            AsyncReadHalf {
                rx: self.rx,
                max_io: self.max_io,
            },
            AsyncWriteHalf {
                tx: self.tx,
                max_io: self.max_io,
            },
        );
        // The write half now ends the direction when it goes.
        core::mem::forget(self);
        halves
    }
}

impl<const N: usize> Drop for AsyncEnd<'_, N> {
    fn drop(&mut self) {
        close(self.tx);
    }
}

/// The reading half of an [`AsyncEnd`].
#[derive(Debug)]
pub struct AsyncReadHalf<'d, const N: usize> {
    rx: &'d RefCell<AsyncRing<N>>,
    max_io: usize,
}

/// The writing half of an [`AsyncEnd`]; dropping it ends its direction.
#[derive(Debug)]
pub struct AsyncWriteHalf<'d, const N: usize> {
    tx: &'d RefCell<AsyncRing<N>>,
    max_io: usize,
}

impl<const N: usize> Drop for AsyncWriteHalf<'_, N> {
    fn drop(&mut self) {
        close(self.tx);
    }
}

fn close<const N: usize>(ring: &RefCell<AsyncRing<N>>) {
    let waker = {
        let mut r = ring.borrow_mut();
        r.closed = true;
        r.reader.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// Stores `cx`'s waker in `slot`, unless the one there already wakes the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

async fn read_from<const N: usize>(
    ring: &RefCell<AsyncRing<N>>,
    buf: &mut [u8],
    max_io: usize,
) -> Result<usize, ErrorKind> {
    if buf.is_empty() {
        return Ok(0);
    }
    let limit = buf.len().min(max_io);
    poll_fn(|cx| {
        let (n, waker) = {
            let mut r = ring.borrow_mut();
            if r.len == 0 {
                if r.closed {
                    return Poll::Ready(Ok(0));
                }
                register(&mut r.reader, cx);
                return Poll::Pending;
            }
            (r.pop(&mut buf[..limit]), r.writer.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(Ok(n))
    })
    .await
}

async fn write_to<const N: usize>(
    ring: &RefCell<AsyncRing<N>>,
    buf: &[u8],
    max_io: usize,
) -> Result<usize, ErrorKind> {
    if buf.is_empty() {
        return Ok(0);
    }
    let limit = buf.len().min(max_io);
    poll_fn(|cx| {
        let (n, waker) = {
            let mut r = ring.borrow_mut();
            if r.closed {
                return Poll::Ready(Err(ErrorKind::BrokenPipe));
            }
            if r.len == N {
                register(&mut r.writer, cx);
                return Poll::Pending;
            }
            (r.push(&buf[..limit]), r.reader.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(Ok(n))
    })
    .await
}

impl<const N: usize> ErrorType for AsyncEnd<'_, N> {
    type Error = ErrorKind;
}

impl<const N: usize> ErrorType for AsyncReadHalf<'_, N> {
    type Error = ErrorKind;
}

impl<const N: usize> ErrorType for AsyncWriteHalf<'_, N> {
    type Error = ErrorKind;
}

impl<const N: usize> Read for AsyncEnd<'_, N> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        read_from(self.rx, buf, self.max_io).await
    }
}

impl<const N: usize> Write for AsyncEnd<'_, N> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        write_to(self.tx, buf, self.max_io).await
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl<const N: usize> Read for AsyncReadHalf<'_, N> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        read_from(self.rx, buf, self.max_io).await
    }
}

impl<const N: usize> Write for AsyncWriteHalf<'_, N> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        write_to(self.tx, buf, self.max_io).await
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// A one-shot signal from one task to another: [`Flag::set`] once, and every
/// [`Flag::wait`] completes.
#[derive(Default)]
pub struct Flag {
    set: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl core::fmt::Debug for Flag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Flag")
            .field("set", &self.set.get())
            .finish()
    }
}

impl Flag {
    /// Not set.
    pub const fn new() -> Self {
        Flag {
            set: Cell::new(false),
            waker: Cell::new(None),
        }
    }

    /// Sets the flag and wakes the task waiting for it.
    pub fn set(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Ready once the flag is set; otherwise the task is woken when it is (one task at
    /// a time waits).
    pub fn poll_wait(&self, cx: &Context<'_>) -> Poll<()> {
        if self.set.get() {
            return Poll::Ready(());
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Completes once the flag is set.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| self.poll_wait(cx))
    }
}

/// An async transport over a blocking one that never blocks (a [`crate::Script`], say),
/// which now and then is not ready at once: a call returns `Pending` (waking its task at
/// once) one to three times, at random from a seed, before it does its work. A future
/// dropped while it waits has moved nothing, as with a real transport whose operations
/// may be cancelled (tokio's, embassy-net's): what a caller that gives up on a call
/// (a timeout by `select`) sees.
#[derive(Debug)]
pub struct Stalling<T> {
    inner: T,
    rng: Rng,
    per_mille: u16,
    stalls: usize,
}

impl<T> Stalling<T> {
    /// `inner`, each call of which stalls first with a chance of `per_mille` in 1000
    /// (0: never), the stalls drawn from `seed`.
    pub fn new(inner: T, seed: u64, per_mille: u16) -> Self {
        Stalling {
            inner,
            rng: Rng::new(seed),
            per_mille,
            stalls: 0,
        }
    }

    /// The blocking transport.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The blocking transport, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Gives up the blocking transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The `Pending`s returned so far.
    pub fn stalls(&self) -> usize {
        self.stalls
    }

    /// Waits as this call was drawn to wait; `left` is the call's own count.
    fn poll_stall(&mut self, left: &mut Option<u8>, cx: &Context<'_>) -> Poll<()> {
        let left = left.get_or_insert_with(|| {
            // Never stalling, it draws nothing: a benchmark's async transport.
            if self.per_mille > 0 && self.rng.chance(u32::from(self.per_mille), 1000) {
                self.rng.range(1, 3) as u8
            } else {
                0
            }
        });
        if *left == 0 {
            return Poll::Ready(());
        }
        *left -= 1;
        self.stalls += 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    async fn stall(&mut self) {
        let mut left = None;
        poll_fn(|cx| self.poll_stall(&mut left, cx)).await;
    }
}

impl<T: ErrorType> ErrorType for Stalling<T> {
    type Error = T::Error;
}

impl<T: embedded_io::Read> Read for Stalling<T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, T::Error> {
        self.stall().await;
        self.inner.read(buf)
    }
}

impl<T: embedded_io::Write> Write for Stalling<T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, T::Error> {
        self.stall().await;
        self.inner.write(buf)
    }

    async fn flush(&mut self) -> Result<(), T::Error> {
        self.stall().await;
        self.inner.flush()
    }
}

/// Polls futures on the calling thread with a waker that does nothing, for transports
/// that are ready again as soon as they are polled again ([`Stalling`], a
/// [`crate::Script`]); at each `Pending`, with a chance of `per_mille` in 1000, it gives
/// the future up (drops it), as a caller's timeout by `select` would.
#[derive(Clone, Debug)]
pub struct Impatient {
    rng: Rng,
    per_mille: u16,
    /// Futures given up so far.
    pub dropped: usize,
    /// `Pending`s seen so far.
    pub pendings: usize,
}

impl Default for Impatient {
    /// Patient: never gives a future up.
    fn default() -> Self {
        Impatient::new(0, 0)
    }
}

/// How many `Pending`s in a row [`Impatient::poll`] waits before it reports a future
/// that never gets anywhere.
pub const MAX_PENDINGS: usize = 1_000_000;

impl Impatient {
    /// Gives up a future at a `Pending` with a chance of `per_mille` in 1000, drawn from
    /// `seed`.
    pub const fn new(seed: u64, per_mille: u16) -> Self {
        Impatient {
            rng: Rng::new(seed),
            per_mille,
            dropped: 0,
            pendings: 0,
        }
    }

    /// Polls `f` until it is ready (`Some`), or until it is given up at a `Pending`
    /// (`None`: it was dropped part-way). Panics after [`MAX_PENDINGS`] `Pending`s in a
    /// row: nothing in memory can take that long, and a noop waker wakes nobody.
    pub fn poll<F: Future>(&mut self, f: F) -> Option<F::Output> {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..MAX_PENDINGS {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return Some(out);
            }
            self.pendings += 1;
            if self.rng.chance(u32::from(self.per_mille), 1000) {
                self.dropped += 1;
                return None;
            }
        }
        panic!("a future still pending after {MAX_PENDINGS} polls in a row");
    }
}

/// Polls `f` to completion on the calling thread with a waker that does nothing: for
/// futures over in-memory transports only (those of [`AsyncDuplex`], all polled
/// together in `f`), where something is always ready again.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
