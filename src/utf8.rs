//! Incremental UTF-8 validation for text that arrives in pieces.
//!
//! A text message may be split across frames and reads at any byte, even inside a
//! code point. [`Utf8Validator`] carries the few bytes of an unfinished code point from
//! one piece to the next and fails at the first byte that can no longer begin or continue
//! valid UTF-8, so a connection can be failed fast (RFC 6455 section 8.1).

/// The error: the text is not UTF-8, and no further bytes can make it so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Utf8Error;

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid UTF-8 in text")
    }
}

impl core::error::Error for Utf8Error {}

/// Validates UTF-8 fed in pieces; five bytes of state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// On 64-bit hosts, the leading bytes of a code point that the last piece ended
    /// inside. On microcontrollers, the range the next byte must fall in while a code
    /// point is unfinished: its lowest and highest values, in the first two bytes.
    partial: [u8; 4],
    /// On 64-bit hosts, how many bytes of `partial` are in use; on microcontrollers, how
    /// many continuation bytes are still due. 0 to 3, and 0 between code points.
    partial_len: u8,
}

/// The length of the sequence a lead byte begins; 0 when it cannot begin one.
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// The length of the longest prefix of `data` made of whole 64-byte blocks of ASCII.
///
/// Eight words are OR-ed together per block and tested once: the compiler turns this into
/// a few vector instructions per block, faster than a byte-at-a-time check.
#[inline]
fn ascii_prefix(data: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut len: usize = 0;
    for block in data.chunks_exact(64) {
        let mut any = 0u64;
        for word in block.chunks_exact(8) {
            if let Ok(word) = <[u8; 8]>::try_from(word) {
                any |= u64::from_ne_bytes(word);
            }
        }
        if any & HIGH_BITS != 0 {
            break;
        }
        len = len.saturating_add(64);
    }
    len
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Forgets any unfinished code point, ready for a new message.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether the text so far ends on a code point boundary.
    pub const fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Validates the next piece of the text.
    ///
    /// Fails as soon as the bytes so far cannot be the start of valid UTF-8; a piece that
    /// ends inside a code point is fine, and the code point is finished by the next piece.
    #[inline]
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Utf8Error> {
        self.feed_piece(data, false)
    }

    /// [`Utf8Validator::feed`], and when `last`, also an error if the text does not end
    /// on a code point boundary there (the validator is then as new when it passes).
    #[inline]
    pub(crate) fn feed_piece(&mut self, data: &[u8], last: bool) -> Result<(), Utf8Error> {
        if cfg!(target_pointer_width = "64") {
            self.feed_wide(data)?;
            if last && !self.is_complete() {
                return Err(Utf8Error);
            }
            Ok(())
        } else {
            self.feed_narrow(data, last)
        }
    }

    /// [`Utf8Validator::feed`] on 64-bit hosts: ASCII skipped in blocks, the rest left to
    /// the standard library's validator, an unfinished code point's bytes carried over.
    #[inline]
    fn feed_wide(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            // The code point the last piece ended inside, completed from this one as far
            // as it goes (at most 4 bytes: the sums cannot wrap).
            let have = usize::from(self.partial_len);
            let need = sequence_len(self.partial[0]);
            let take = need.saturating_sub(have).min(data.len());
            let (head, rest) = data.split_at_checked(take).ok_or(Utf8Error)?;
            let mut buf = self.partial;
            let end = have.wrapping_add(take);
            buf.get_mut(have..end)
                .ok_or(Utf8Error)?
                .copy_from_slice(head);
            self.check(buf.get(..end).ok_or(Utf8Error)?)?;
            if self.partial_len > 0 {
                // Still a valid prefix: the piece ended inside the code point again.
                return Ok(());
            }
            data = rest;
        }
        // ASCII, the most common text, is skipped a block at a time first (vector
        // instructions).
        self.check(crate::bytes::part(data, ascii_prefix(data)..))
    }

    /// [`Utf8Validator::feed`] on microcontrollers: a byte at a time, each checked
    /// against the range the code point allows it (RFC 3629 section 4), with no copy
    /// of an unfinished code point to keep. A fraction of the standard library's
    /// validator in flash.
    ///
    /// `last` as for [`Utf8Validator::feed_piece`] (checked here, in the one copy).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn feed_narrow(&mut self, data: &[u8], last: bool) -> Result<(), Utf8Error> {
        let [mut low, mut high, ..] = self.partial;
        // A word-sized count: no narrowing to a byte after each change.
        let mut due = u32::from(self.partial_len);
        for &b in data {
            if due == 0 {
                if b < 0x80 {
                    continue;
                }
                // The lead byte: how many continuation bytes follow, and the range of
                // the first (which rules out overlong forms, surrogates and code points
                // above U+10FFFF).
                if !(0xC2..=0xF4).contains(&b) {
                    return Err(Utf8Error);
                }
                due = if b < 0xE0 {
                    1
                } else if b < 0xF0 {
                    2
                } else {
                    3
                };
                low = match b {
                    0xE0 => 0xA0,
                    0xF0 => 0x90,
                    _ => 0x80,
                };
                high = match b {
                    0xED => 0x9F,
                    0xF4 => 0x8F,
                    _ => 0xBF,
                };
            } else {
                // Below `low` wraps to above the range's width: one comparison.
                if b.wrapping_sub(low) > high.wrapping_sub(low) {
                    return Err(Utf8Error);
                }
                // Above 0: cannot wrap.
                due = due.wrapping_sub(1);
                low = 0x80;
                high = 0xBF;
            }
        }
        // Only the first two bytes of `partial` are used here (the others stay 0).
        let [l, h, ..] = &mut self.partial;
        *l = low;
        *h = high;
        // At most 3: the cast cannot truncate.
        self.partial_len = due as u8;
        if last && due > 0 {
            return Err(Utf8Error);
        }
        Ok(())
    }

    /// Validates `data`, keeping in `partial` the leading bytes (at most 3) of a code
    /// point it ends inside (64-bit hosts).
    #[inline]
    fn check(&mut self, data: &[u8]) -> Result<(), Utf8Error> {
        self.partial_len = 0;
        match core::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = data.get(e.valid_up_to()..).ok_or(Utf8Error)?;
                let slot = self.partial.get_mut(..tail.len()).ok_or(Utf8Error)?;
                slot.copy_from_slice(tail);
                // At most 3.
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Ends the text: an unfinished code point at the end is an error.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.is_complete();
        self.reset();
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    fn validate_split(data: &[u8], split: usize) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let (a, b) = data.split_at(split);
        v.feed(a)?;
        v.feed(b)?;
        v.finish()
    }

    const SAMPLES: &[&[u8]] = &[
        b"",
        b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
        "κόσμε".as_bytes(),
        "\u{10FFFF}\u{10000}\u{FFFD}\u{7FF}\u{800}\u{D7FF}\u{E000}".as_bytes(),
        b"\xf0\x90\x80\x80",
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
        b"\xed\x9f\xbf",
        b"\xf4\x90\x80\x80", // above U+10FFFF
        b"\xc0\xaf",         // overlong
        b"\xe0\x80\xaf",     // overlong
        b"\xf8\x88\x80\x80\x80",
        b"\x80",
        b"\xc2",
        b"\xe1\x80",
        b"\xf1\x80\x80",
        b"\xfe\xff",
        b"ab\xcd",
    ];

    #[test]
    fn agrees_with_core_at_every_split() {
        for sample in SAMPLES {
            let expected = core::str::from_utf8(sample).is_ok();
            for split in 0..=sample.len() {
                assert_eq!(
                    validate_split(sample, split).is_ok(),
                    expected,
                    "{sample:x?} split at {split}"
                );
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        for sample in SAMPLES {
            let mut v = Utf8Validator::new();
            let mut ok = true;
            for b in sample.iter() {
                if v.feed(core::slice::from_ref(b)).is_err() {
                    ok = false;
                    break;
                }
            }
            let ok = ok && v.finish().is_ok();
            assert_eq!(ok, core::str::from_utf8(sample).is_ok(), "{sample:x?}");
        }
    }

    #[test]
    fn fails_at_first_invalid_byte() {
        // A surrogate's second byte is invalid at once, before the text ends.
        let mut v = Utf8Validator::new();
        v.feed(b"abc\xed").unwrap();
        assert_eq!(v.feed(b"\xa0"), Err(Utf8Error));
        // A byte that can never appear fails at once too.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok\xff and a lot more text"), Err(Utf8Error));
        // A truncated sequence followed by ASCII fails when the ASCII arrives.
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.feed(b"a"), Err(Utf8Error));
        // F4 90 is above U+10FFFF: invalid at its second byte.
        let mut v = Utf8Validator::new();
        v.feed(b"\xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));
    }

    #[test]
    fn long_text_with_one_odd_byte_anywhere() {
        // ASCII blocks are skipped 64 bytes at a time: put a multi-byte character, an
        // invalid byte or a truncated sequence at every position of a 200-byte text, and
        // feed it whole and split at a few places.
        let inserts: &[&[u8]] = &[
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80",
            b"\xff",
            b"\xe2\x82",
            b"\x80",
        ];
        for insert in inserts {
            for pos in 0..=200 {
                let mut text = std::vec![b'a'; 200];
                text.splice(pos..pos, insert.iter().copied());
                let expected = core::str::from_utf8(&text).is_ok();
                for split in [0, 1, 63, 64, 65, 127, 128, 129, pos, pos + 1, text.len()] {
                    let split = split.min(text.len());
                    assert_eq!(
                        validate_split(&text, split).is_ok(),
                        expected,
                        "{insert:x?} at {pos}, split at {split}"
                    );
                }
            }
        }
        assert_eq!(ascii_prefix(&[b'x'; 200]), 192);
        assert_eq!(ascii_prefix(&[b'x'; 63]), 0);
        let mut text = [b'x'; 200];
        text[130] = 0xC3;
        assert_eq!(ascii_prefix(&text), 128);
    }

    /// The microcontrollers' validator, fed `data` in pieces of `step` bytes.
    fn narrow(data: &[u8], step: usize) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        for piece in data.chunks(step) {
            v.feed_narrow(piece, false)?;
        }
        v.finish()
    }

    #[test]
    fn narrow_agrees_with_core() {
        // The byte-range validator (microcontrollers') against the standard library's,
        // on the samples split at every place and byte by byte, and on every sequence
        // of up to three bytes (with a lead byte before and ASCII after).
        for sample in SAMPLES {
            let expected = core::str::from_utf8(sample).is_ok();
            assert_eq!(narrow(sample, 1).is_ok(), expected, "{sample:x?}");
            for split in 0..=sample.len() {
                let (a, b) = sample.split_at(split);
                let mut v = Utf8Validator::new();
                let ok = v.feed_narrow(a, false).is_ok()
                    && v.feed_narrow(b, false).is_ok()
                    && v.finish().is_ok();
                assert_eq!(ok, expected, "{sample:x?} split at {split}");
            }
        }
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                for z in [
                    0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF,
                ] {
                    for text in [[x, y, z, b'a'], [0xE2, x, y, z]] {
                        let expected = core::str::from_utf8(&text).is_ok();
                        assert_eq!(narrow(&text, 4).is_ok(), expected, "{text:x?}");
                        assert_eq!(narrow(&text, 1).is_ok(), expected, "{text:x?}");
                    }
                }
            }
        }
        // An error is found at the first byte that rules the text out.
        let mut v = Utf8Validator::new();
        v.feed_narrow(b"ok\xf4", false).unwrap();
        assert_eq!(v.feed_narrow(b"\x90", false), Err(Utf8Error));
    }

    #[test]
    fn last_piece_must_end_a_code_point() {
        // feed_piece with `last` (both paths): an unfinished code point at the end is an
        // error, a complete text leaves the validator as new.
        for sample in SAMPLES {
            let expected = core::str::from_utf8(sample).is_ok();
            for split in 0..=sample.len() {
                let (a, b) = sample.split_at(split);
                let mut v = Utf8Validator::new();
                let ok = v.feed_piece(a, false).is_ok() && v.feed_piece(b, true).is_ok();
                assert_eq!(ok, expected, "{sample:x?} split at {split}");
                if ok {
                    assert!(v.is_complete());
                }
                let mut v = Utf8Validator::new();
                let ok = v.feed_narrow(a, false).is_ok() && v.feed_narrow(b, true).is_ok();
                assert_eq!(ok, expected, "narrow: {sample:x?} split at {split}");
            }
        }
    }

    #[test]
    fn incomplete_at_end_is_an_error() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xf0\x9f\x98").unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(Utf8Error));
        // finish resets for the next message.
        assert!(v.feed(b"fine").is_ok());
        assert!(v.finish().is_ok());
    }
}
