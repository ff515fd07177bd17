//! Where collected bytes go: a caller's fixed slice, or (with `std`) a `Vec`.

/// Bytes collected in order: what a transport was sent, a message being reassembled, a
/// script being built.
pub trait Storage {
    /// Appends as much of `bytes` as fits; returns how many did.
    fn push(&mut self, bytes: &[u8]) -> usize;
    /// The bytes so far.
    fn bytes(&self) -> &[u8];
    /// The bytes so far, mutably (a decoder unmasks in place).
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Forgets the bytes.
    fn clear(&mut self);
    /// How many more bytes fit.
    fn room(&self) -> usize;
}

/// A caller's slice, filled from the front.
#[derive(Debug)]
pub struct Fixed<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Fixed<'a> {
    /// Empty storage over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Fixed { buf, len: 0 }
    }

    /// The free space after the bytes so far (to write into, then [`Fixed::advance`]).
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Keeps `n` bytes written into [`Fixed::spare`].
    pub fn advance(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// The bytes so far, for as long as the slice lives.
    pub fn into_bytes(self) -> &'a mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Storage for Fixed<'_> {
    fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn room(&self) -> usize {
        self.buf.len() - self.len
    }
}

#[cfg(feature = "std")]
impl Storage for std::vec::Vec<u8> {
    fn push(&mut self, bytes: &[u8]) -> usize {
        self.extend_from_slice(bytes);
        bytes.len()
    }

    fn bytes(&self) -> &[u8] {
        self
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }

    fn clear(&mut self) {
        std::vec::Vec::clear(self);
    }

    fn room(&self) -> usize {
        usize::MAX - self.len()
    }
}

impl<S: Storage + ?Sized> Storage for &mut S {
    fn push(&mut self, bytes: &[u8]) -> usize {
        (**self).push(bytes)
    }

    fn bytes(&self) -> &[u8] {
        (**self).bytes()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        (**self).bytes_mut()
    }

    fn clear(&mut self) {
        (**self).clear();
    }

    fn room(&self) -> usize {
        (**self).room()
    }
}

/// A sink that counts what it is given and keeps none of it (for benchmarks: the bytes
/// pass through `black_box`, so the writes cannot be optimised away).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count(pub usize);

impl Storage for Count {
    fn push(&mut self, bytes: &[u8]) -> usize {
        core::hint::black_box(bytes);
        self.0 += bytes.len();
        bytes.len()
    }

    fn bytes(&self) -> &[u8] {
        &[]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut []
    }

    fn clear(&mut self) {
        self.0 = 0;
    }

    fn room(&self) -> usize {
        usize::MAX
    }
}
