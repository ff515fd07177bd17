//! The byte helpers the layers share: moving bytes within a buffer, and taking a part of
//! a buffer that the caller's own bookkeeping keeps in bounds.

use core::ops::Range;
use core::ops::{Bound, RangeBounds};

/// `buf[range]`, for a range the caller's bookkeeping keeps within `buf`. Out of bounds
/// is a bug: debug builds (and every fuzz build) stop on it; a release build, which must
/// not panic on anything the wire sends, gets an empty slice.
#[inline]
pub(crate) fn part<R: RangeBounds<usize> + core::fmt::Debug>(buf: &[u8], range: R) -> &[u8] {
    let (start, end) = bounds(&range, buf.len());
    let got = buf.get(start..end);
    debug_assert!(got.is_some(), "{range:?} outside {} bytes", buf.len());
    got.unwrap_or_default()
}

/// [`part`], mutably.
#[inline]
pub(crate) fn part_mut<R: RangeBounds<usize> + core::fmt::Debug>(
    buf: &mut [u8],
    range: R,
) -> &mut [u8] {
    let len = buf.len();
    let (start, end) = bounds(&range, len);
    let got = buf.get_mut(start..end);
    debug_assert!(got.is_some(), "{range:?} outside {len} bytes");
    got.unwrap_or_default()
}

#[inline]
fn bounds(range: &impl RangeBounds<usize>, len: usize) -> (usize, usize) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    (start, end)
}

/// Moves `buf[src]` to start at `dst`, as `copy_within` would, without `memmove` (1.5 KB
/// on a Cortex-M): on 64-bit hosts in pieces no longer than the distance moved, so that
/// no piece overlaps its destination and each is a plain copy; on microcontrollers a
/// byte at a time, in less flash. Out of line: one copy serves every caller.
#[inline(never)]
pub(crate) fn move_bytes(buf: &mut [u8], src: Range<usize>, dst: usize) {
    if !cfg!(target_pointer_width = "64") {
        move_narrow(buf, src, dst);
    } else if dst <= src.start {
        move_down(buf, src, dst);
    } else {
        move_up(buf, src, dst);
    }
}

/// [`move_bytes`] on microcontrollers: one byte at a time, front first when moving
/// towards the start and back first when moving towards the end, so that no byte is
/// overwritten before it is read.
///
/// Going back, `from` and `to` step down by adding `usize::MAX`; they wrap only past the
/// last byte moved, and are not used again. Within the buffer (`src.end` and
/// `dst + n` at most its length) no sum wraps.
#[inline(always)]
fn move_narrow(buf: &mut [u8], src: Range<usize>, dst: usize) {
    debug_assert!(
        src.end <= buf.len() && dst.saturating_add(src.len()) <= buf.len(),
        "{src:?} to {dst}"
    );
    let n = src.end.saturating_sub(src.start);
    let (mut from, mut to, step) = if dst <= src.start {
        (src.start, dst, 1)
    } else {
        let last = n.wrapping_sub(1);
        (
            src.start.wrapping_add(last),
            dst.wrapping_add(last),
            usize::MAX,
        )
    };
    for _ in 0..n {
        if let Some(&b) = buf.get(from) {
            if let Some(d) = buf.get_mut(to) {
                *d = b;
            }
        }
        from = from.wrapping_add(step);
        to = to.wrapping_add(step);
    }
}

/// [`move_bytes`] towards the start (`dst <= src.start`): the front piece first.
///
/// The arithmetic stays between `dst` and `src.end`, which a slice's length bounds
/// (`from < src.end`, `to = from - distance >= dst`): it cannot wrap.
#[inline(always)]
fn move_down(buf: &mut [u8], src: Range<usize>, dst: usize) {
    debug_assert!(dst <= src.start && src.end <= buf.len(), "{src:?} to {dst}");
    let distance = src.start.wrapping_sub(dst);
    if distance == 0 {
        return;
    }
    let mut from = src.start;
    while from < src.end {
        let n = distance.min(src.end.wrapping_sub(from));
        let Some((low, high)) = buf.split_at_mut_checked(from) else {
            return;
        };
        let to = from.wrapping_sub(distance);
        if let (Some(d), Some(s)) = (low.get_mut(to..to.wrapping_add(n)), high.get(..n)) {
            d.copy_from_slice(s);
        }
        from = from.wrapping_add(n);
    }
}

/// [`move_bytes`] towards the end (`dst > src.start`): the back piece first.
///
/// The arithmetic stays between `src.start` and `src.end + distance`, within the buffer
/// (`src.start < end`, `n <= end - src.start`, `from + distance >= end`): it cannot wrap.
#[inline(always)]
fn move_up(buf: &mut [u8], src: Range<usize>, dst: usize) {
    let distance = dst.wrapping_sub(src.start);
    debug_assert!(
        src.end.saturating_add(distance) <= buf.len(),
        "{src:?} to {dst}"
    );
    let mut end = src.end;
    while end > src.start {
        let n = distance.min(end.wrapping_sub(src.start));
        let from = end.wrapping_sub(n);
        let Some((low, high)) = buf.split_at_mut_checked(end) else {
            return;
        };
        let to = from.wrapping_add(distance).wrapping_sub(end);
        if let (Some(s), Some(d)) = (low.get(from..end), high.get_mut(to..to.wrapping_add(n))) {
            d.copy_from_slice(s);
        }
        end = from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn parts_in_bounds() {
        let buf = [1u8, 2, 3, 4];
        assert_eq!(part(&buf, 1..3), &[2, 3]);
        assert_eq!(part(&buf, 2..), &[3, 4]);
        assert_eq!(part(&buf, ..=1), &[1, 2]);
        assert_eq!(part(&buf, 4..), &[] as &[u8]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "outside 4 bytes")]
    fn a_part_out_of_bounds_stops_a_debug_build() {
        let _ = part(&[1u8, 2, 3, 4], 3..5);
    }

    #[test]
    fn moves_like_copy_within_at_every_distance_and_length() {
        for len in 0..40 {
            for start in 0..=40 - len {
                for dst in 0..=40 - len {
                    let original: Vec<u8> = (0..40).collect();
                    let mut expected = original.clone();
                    expected.copy_within(start..start + len, dst);
                    let mut got = original.clone();
                    move_bytes(&mut got, start..start + len, dst);
                    assert_eq!(got, expected, "{start}..{} to {dst}", start + len);
                    // The microcontrollers' way, tested here too.
                    let mut got = original.clone();
                    move_narrow(&mut got, start..start + len, dst);
                    assert_eq!(got, expected, "narrow: {start}..{} to {dst}", start + len);
                }
            }
        }
    }
}
