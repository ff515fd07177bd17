//! In-memory connections: [`Duplex`] joins two ends in one thread, over caller storage;
//! with `std`, [`thread_pipe`] joins two threads.

use core::cell::RefCell;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};

/// One direction: a ring buffer over caller storage.
#[derive(Debug)]
pub struct Ring<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
    closed: bool,
}

impl<'a> Ring<'a> {
    /// An empty ring over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Ring {
            buf,
            start: 0,
            len: 0,
            closed: false,
        }
    }

    fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    fn push(&mut self, bytes: &[u8]) -> usize {
        let cap = self.buf.len();
        let n = bytes.len().min(self.free());
        for (i, b) in bytes[..n].iter().enumerate() {
            self.buf[(self.start + self.len + i) % cap] = *b;
        }
        self.len += n;
        n
    }

    fn pop(&mut self, out: &mut [u8]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = self.buf[(self.start + i) % cap];
        }
        self.start = (self.start + n) % cap.max(1);
        self.len -= n;
        n
    }
}

/// Two ends of an in-memory connection, for two peers run from one thread: each end
/// reads what the other wrote. Each direction holds what fits its storage; a write takes
/// what fits (a short write), and a read takes what is there.
///
/// An end that cannot go on (nothing to read, no room to write) fails with `TimedOut`,
/// or, made [`End::strict`], panics: wrapped in [`ws13::blocking::Ready`], which asks
/// [`ReadReady`]/[`WriteReady`] first, a strict end proves that nothing ever blocks.
#[derive(Debug)]
pub struct Duplex<'a> {
    ab: RefCell<Ring<'a>>,
    ba: RefCell<Ring<'a>>,
}

impl<'a> Duplex<'a> {
    /// A connection whose direction from end `a` to end `b` holds `ab.len()` bytes, and
    /// the other `ba.len()`.
    pub fn new(ab: &'a mut [u8], ba: &'a mut [u8]) -> Self {
        Duplex {
            ab: RefCell::new(Ring::new(ab)),
            ba: RefCell::new(Ring::new(ba)),
        }
    }

    /// The two ends, `a` and `b`.
    pub fn ends(&self) -> (End<'_, 'a>, End<'_, 'a>) {
        (End::new(&self.ba, &self.ab), End::new(&self.ab, &self.ba))
    }
}

/// One end of a [`Duplex`]. Dropping it (or [`End::close`]) ends its direction: the peer
/// reads the bytes still there, then the end of the stream.
#[derive(Debug)]
pub struct End<'d, 'a> {
    rx: &'d RefCell<Ring<'a>>,
    tx: &'d RefCell<Ring<'a>>,
    strict: bool,
    max_io: usize,
    /// Reads and writes that moved bytes.
    pub calls: usize,
}

impl<'d, 'a> End<'d, 'a> {
    fn new(rx: &'d RefCell<Ring<'a>>, tx: &'d RefCell<Ring<'a>>) -> Self {
        End {
            rx,
            tx,
            strict: false,
            max_io: usize::MAX,
            calls: 0,
        }
    }

    /// Panics, rather than failing with `TimedOut`, on a read or write that is not ready.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// At most `n` bytes a read or write.
    pub fn max_io(mut self, n: usize) -> Self {
        self.max_io = n.max(1);
        self
    }

    /// Ends this end's direction.
    pub fn close(&mut self) {
        self.tx.borrow_mut().closed = true;
    }

    /// Bytes waiting to be read at this end.
    pub fn pending(&self) -> usize {
        self.rx.borrow().len
    }

    fn not_ready(&self, what: &str) -> ErrorKind {
        if self.strict {
            panic!("{what} on a transport that is not ready: it would block");
        }
        ErrorKind::TimedOut
    }
}

impl Drop for End<'_, '_> {
    fn drop(&mut self) {
        self.close();
    }
}

impl ErrorType for End<'_, '_> {
    type Error = ErrorKind;
}

impl Read for End<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut rx = self.rx.borrow_mut();
        if rx.len == 0 {
            if rx.closed {
                return Ok(0);
            }
            drop(rx);
            return Err(self.not_ready("read"));
        }
        let n = buf.len().min(self.max_io);
        self.calls += 1;
        Ok(rx.pop(&mut buf[..n]))
    }
}

impl Write for End<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut tx = self.tx.borrow_mut();
        if tx.closed {
            return Err(ErrorKind::BrokenPipe);
        }
        if tx.free() == 0 {
            drop(tx);
            return Err(self.not_ready("write"));
        }
        let n = buf.len().min(self.max_io);
        self.calls += 1;
        Ok(tx.push(&buf[..n]))
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl ReadReady for End<'_, '_> {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        let rx = self.rx.borrow();
        Ok(rx.len > 0 || rx.closed)
    }
}

impl WriteReady for End<'_, '_> {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        let tx = self.tx.borrow();
        Ok(tx.free() > 0 || tx.closed)
    }
}

#[cfg(feature = "std")]
pub use threaded::{thread_pipe, ThreadEnd};

#[cfg(feature = "std")]
mod threaded {
    use std::collections::VecDeque;
    use std::sync::{Arc, Condvar, Mutex};

    use embedded_io::{ErrorKind, ErrorType, Read, Write};

    #[derive(Default)]
    struct Queue {
        bytes: VecDeque<u8>,
        closed: bool,
    }

    type Shared = Arc<(Mutex<Queue>, Condvar)>;

    /// One end of a [`thread_pipe`]: reads block until the peer writes or goes.
    pub struct ThreadEnd {
        incoming: Shared,
        outgoing: Shared,
        max_read: usize,
    }

    /// Two ends of an in-memory connection for two threads; each read returns at most
    /// `max_read` bytes. Dropping an end ends its direction.
    pub fn thread_pipe(max_read: usize) -> (ThreadEnd, ThreadEnd) {
        let a: Shared = Arc::default();
        let b: Shared = Arc::default();
        let end = |incoming: &Shared, outgoing: &Shared| ThreadEnd {
            incoming: incoming.clone(),
            outgoing: outgoing.clone(),
            max_read: max_read.max(1),
        };
        (end(&a, &b), end(&b, &a))
    }

    impl Drop for ThreadEnd {
        fn drop(&mut self) {
            let (lock, cv) = &*self.outgoing;
            if let Ok(mut q) = lock.lock() {
                q.closed = true;
            }
            cv.notify_all();
        }
    }

    impl ErrorType for ThreadEnd {
        type Error = ErrorKind;
    }

    impl Read for ThreadEnd {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            let (lock, cv) = &*self.incoming;
            let mut q = lock.lock().map_err(|_| ErrorKind::Other)?;
            while q.bytes.is_empty() && !q.closed {
                q = cv.wait(q).map_err(|_| ErrorKind::Other)?;
            }
            let n = buf.len().min(q.bytes.len()).min(self.max_read);
            for (dst, src) in buf.iter_mut().zip(q.bytes.drain(..n)) {
                *dst = src;
            }
            Ok(n)
        }
    }

    impl Write for ThreadEnd {
        fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            let (lock, cv) = &*self.outgoing;
            lock.lock().map_err(|_| ErrorKind::Other)?.bytes.extend(buf);
            cv.notify_all();
            Ok(buf.len())
        }

        fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }
}
