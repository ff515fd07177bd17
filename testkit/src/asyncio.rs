//! In-memory async transports (feature `async`): [`AsyncDuplex`], two ends of a connection
//! whose reads and writes wait for each other through wakers, over ring buffers held
//! inline (so that a `static` can hold one), for any executor; and [`Flag`], a one-shot
//! signal between tasks. Single-threaded: for tasks of one executor.

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::task::{Context, Poll, Waker};

use embedded_io::{ErrorKind, ErrorType};
use embedded_io_async::{Read, Write};

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
