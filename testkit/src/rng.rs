//! Deterministic randomness: a small generator, a masking-key source, and (with `std`)
//! runs of seeded cases that print the seed of the one that fails.

use ws13::MaskSource;

/// SplitMix64: a tiny, fast, deterministic generator, good enough to choose test cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `n` in `d`.
    pub fn chance(&mut self, n: u32, d: u32) -> bool {
        d > 0 && self.next_u64() % u64::from(d) < u64::from(n)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A random character, encoded in 1, 2, 3 or 4 bytes with equal odds (ASCII twice as
    /// often), never a surrogate.
    pub fn char(&mut self) -> char {
        let c = match self.below(5) {
            0 | 1 => self.range(0x20, 0x7E),
            2 => self.range(0x80, 0x7FF),
            3 => self.range(0x800, 0xD7FF),
            _ => self.range(0x1_0000, 0x10_FFFF),
        };
        char::from_u32(c as u32).unwrap_or('?')
    }

    /// Fills the front of `buf` with random UTF-8 of at most `max` bytes; returns its
    /// length.
    pub fn text_into(&mut self, buf: &mut [u8], max: usize) -> usize {
        let max = max.min(buf.len());
        let mut len = 0;
        loop {
            let c = self.char();
            if len + c.len_utf8() > max {
                return len;
            }
            c.encode_utf8(&mut buf[len..]);
            len += c.len_utf8();
        }
    }

    /// `len` random bytes.
    #[cfg(feature = "std")]
    pub fn bytes(&mut self, len: usize) -> std::vec::Vec<u8> {
        let mut v = std::vec![0u8; len];
        self.fill(&mut v);
        v
    }

    /// Random text of about `len` bytes (at most `len + 3`), every encoded length mixed.
    #[cfg(feature = "std")]
    pub fn text(&mut self, len: usize) -> std::string::String {
        let mut s = std::string::String::new();
        while s.len() < len {
            s.push(self.char());
        }
        s
    }
}

/// Random masking keys: a client over an `Rng` is deterministic, which tests want and a
/// real client must never be.
impl MaskSource for Rng {
    fn next_key(&mut self) -> [u8; 4] {
        self.next_u32().to_be_bytes()
    }
}

/// A deterministic masking-key source, a linear congruential generator over `u32`:
/// reproducible keys for tests (a real client needs unpredictable ones). Its keys, in
/// order, are the ones a client made with it uses: the handshake's nonce first (four
/// keys), then one per frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestMask(pub u32);

impl MaskSource for TestMask {
    fn next_key(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0.to_be_bytes()
    }
}

/// Runs seeded cases: the one named by the environment variable `{name}_SEED` alone,
/// else `{name}_CASES` of them (default `count`), seeds `base`, `base + 1`, ... A case
/// that panics prints `rerun it with {name}_SEED=<seed>` first.
#[cfg(feature = "std")]
pub fn cases(name: &str, base: u64, count: u64, mut case: impl FnMut(u64)) {
    let var = |suffix: &str| {
        std::env::var(std::format!("{name}_{suffix}"))
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(seed) = var("SEED") {
        run_case(name, seed, &mut case);
        return;
    }
    for i in 0..var("CASES").unwrap_or(count) {
        run_case(name, base.wrapping_add(i), &mut case);
    }
}

#[cfg(feature = "std")]
fn run_case(name: &str, seed: u64, case: &mut impl FnMut(u64)) {
    struct Guard<'a>(&'a str, u64);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                std::eprintln!(
                    "{}: case failed; rerun it with {}_SEED={}",
                    self.0,
                    self.0,
                    self.1
                );
            }
        }
    }
    let _guard = Guard(name, seed);
    case(seed);
}
