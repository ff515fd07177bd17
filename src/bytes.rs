//! The one byte-moving helper the layers share.

use core::ops::Range;

/// Moves `buf[src]` to start at `dst`, as `copy_within` would, in pieces no longer than
/// the distance moved, so that no piece overlaps its destination: each is a plain copy,
/// and no `memmove` is linked into firmware (1.5 KB on a Cortex-M). Out of line: one
/// copy serves every caller.
#[inline(never)]
pub(crate) fn move_bytes(buf: &mut [u8], src: Range<usize>, dst: usize) {
    if dst <= src.start {
        move_down(buf, src, dst);
    } else {
        move_up(buf, src, dst);
    }
}

/// [`move_bytes`] towards the start (`dst <= src.start`): the front piece first.
#[inline(always)]
fn move_down(buf: &mut [u8], src: Range<usize>, dst: usize) {
    debug_assert!(dst <= src.start && src.end <= buf.len(), "{src:?} to {dst}");
    let distance = src.start.saturating_sub(dst);
    if distance == 0 {
        return;
    }
    let mut from = src.start;
    while from < src.end {
        let n = distance.min(src.end.saturating_sub(from));
        let (low, high) = buf.split_at_mut(from);
        let to = from.saturating_sub(distance);
        if let (Some(d), Some(s)) = (low.get_mut(to..to.saturating_add(n)), high.get(..n)) {
            d.copy_from_slice(s);
        }
        from = from.saturating_add(n);
    }
}

/// [`move_bytes`] towards the end (`dst > src.start`): the back piece first.
#[inline(always)]
fn move_up(buf: &mut [u8], src: Range<usize>, dst: usize) {
    let distance = dst.saturating_sub(src.start);
    debug_assert!(
        src.end.saturating_add(distance) <= buf.len(),
        "{src:?} to {dst}"
    );
    let mut end = src.end;
    while end > src.start {
        let n = distance.min(end.saturating_sub(src.start));
        let from = end.saturating_sub(n);
        let (low, high) = buf.split_at_mut(end);
        let to = from.saturating_add(distance).saturating_sub(end);
        if let (Some(s), Some(d)) = (low.get(from..end), high.get_mut(to..to.saturating_add(n))) {
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
                }
            }
        }
    }
}
