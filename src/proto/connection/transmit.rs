//! The transmit buffer: what goes out next, and the control frames that wait at its end
//! while one of the application's frames is open.

use core::ops::Range;

use super::{
    Outbound, BROKEN, CLOSE_SENT, DROPPED, FAILED, FLUSH_OWED, RESERVE, WAITING_CLOSE, WAITING_PONG,
};
use crate::bytes::move_bytes;
use crate::bytes::part;
use crate::frame::{self, CloseCode, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::proto::{Masking, Role};

impl<M: Masking> Outbound<M> {
    /// The bytes to write out now. Control frames waiting for a frame just completed
    /// are queued first.
    pub(crate) fn poll_transmit<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        if self.flags & BROKEN != 0 {
            return &[];
        }
        self.settle(tx);
        let tx: &'t [u8] = tx;
        part(tx, self.tx_start..self.tx_end)
    }

    /// Whether there are bytes to write out.
    pub(crate) const fn wants_transmit(&self) -> bool {
        self.tx_end > self.tx_start && self.flags & BROKEN == 0
    }

    /// `n` bytes of [`Connection::poll_transmit`]'s were written.
    pub(crate) fn transmitted(&mut self, n: usize) {
        self.flags |= FLUSH_OWED;
        self.tx_start = self.tx_start.saturating_add(n).min(self.tx_end);
        if self.tx_start == self.tx_end {
            self.tx_start = 0;
            self.tx_end = 0;
        }
    }

    /// The transport was flushed: nothing written is held back any more (unless output
    /// is still waiting).
    pub(crate) fn flushed(&mut self) {
        if self.tx_end == self.tx_start {
            self.flags &= !FLUSH_OWED;
        }
    }

    /// `n` bytes of an [`Output::Direct`]'s were written.
    pub(crate) fn wrote_direct(&mut self, n: usize) {
        self.flags |= FLUSH_OWED;
        let counted = self.sender.payload(n);
        debug_assert!(counted.is_ok(), "{n} bytes beyond the frame");
        if counted.is_ok() {
            self.resume = self.resume.saturating_add(n);
        }
    }

    /// Queues the control frames that waited for the open frame, once it is complete
    /// and as far as there is room.
    pub(super) fn settle(&mut self, tx: &mut [u8]) {
        if self.sender.frame_remaining() > 0 || self.pong | self.waiting == 0 {
            return;
        }
        if self.flags & DROPPED != 0 {
            self.pong = 0;
            self.waiting = 0;
            return;
        }
        let waiting = usize::from(self.waiting).saturating_sub(1);
        if self.pong > 0 {
            let n = usize::from(self.pong).saturating_sub(1);
            let end = tx.len().saturating_sub(waiting);
            if !self.unstash(tx, OpCode::Pong, end.saturating_sub(n)..end, waiting) {
                return;
            }
            self.pong = 0;
        }
        if self.waiting > 0 {
            let opcode = if self.flags & WAITING_CLOSE != 0 {
                OpCode::Close
            } else if self.flags & WAITING_PONG != 0 {
                OpCode::Pong
            } else {
                OpCode::Ping
            };
            let end = tx.len();
            if self.unstash(tx, opcode, end.saturating_sub(waiting)..end, 0) {
                self.waiting = 0;
            }
        }
    }

    /// Turns the payload waiting at `src` into a frame at the end of the output, if it
    /// fits before the `keep` bytes at the end of `tx`.
    pub(super) fn unstash(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        src: Range<usize>,
        keep: usize,
    ) -> bool {
        let n = src.len();
        let mask = self.peek_key_len();
        let header_len = 2usize.saturating_add(mask);
        let need = header_len.saturating_add(n);
        let limit = tx.len().saturating_sub(keep);
        if self.tx_end.saturating_add(need) > limit {
            if self.tx_start == 0 {
                return false;
            }
            self.compact(tx);
            if self.tx_end.saturating_add(need) > limit {
                return false;
            }
        }
        let dst = self.tx_end.saturating_add(header_len);
        // The payload moves down (or stays): dst + n <= src.end, and dst <= src.start.
        move_bytes(tx, src, dst);
        let header = FrameHeader {
            fin: true,
            opcode,
            mask: self.masks.key(),
            len: n as u64,
        };
        self.put_header_and_mask(tx, header, n);
        true
    }

    /// Writes `header` at the end of the output, masks the `n` payload bytes that follow
    /// it (already in place) and takes them into the output.
    pub(super) fn put_header_and_mask(&mut self, tx: &mut [u8], header: FrameHeader, n: usize) {
        let encoded = header.emit();
        let bytes = encoded.as_bytes();
        let start = self.tx_end;
        let payload_start = start.saturating_add(bytes.len());
        let end = payload_start.saturating_add(n);
        if let Some(dst) = tx.get_mut(start..payload_start) {
            dst.copy_from_slice(bytes);
        }
        if let (Some(key), Some(payload)) = (header.mask, tx.get_mut(payload_start..end)) {
            frame::apply_mask(payload, key, 0);
        }
        self.tx_end = end;
    }

    /// 4 for a client's frames, which carry a masking key; 0 for a server's.
    pub(super) const fn peek_key_len(&self) -> usize {
        match M::ROLE {
            Role::Client => 4,
            Role::Server => 0,
        }
    }

    /// Whether any answer a received frame may call for fits, making room if it can.
    /// Outside one of our frames, a whole control frame goes after the output. Inside
    /// one, the answer waits at the end of the buffer, a new pong in the place of the
    /// one waiting there and a close echo in the place of both: room for one pong's
    /// payload, less the waiting one's.
    pub(super) fn room_for_answers(&mut self, tx: &mut [u8]) -> bool {
        let pong = usize::from(self.pong);
        let need = if self.sender.frame_remaining() > 0 {
            MAX_CONTROL_PAYLOAD.saturating_sub(pong.saturating_sub(1))
        } else {
            RESERVE.saturating_add(pong)
        };
        self.make_room(tx, need)
    }

    /// Room for `need` bytes after the output, before anything waiting at the end of
    /// `tx`. Moves the output to the front if that makes the room.
    #[inline]
    pub(super) fn make_room(&mut self, tx: &mut [u8], need: usize) -> bool {
        if self.free(tx) >= need {
            return true;
        }
        if self.tx_start > 0 {
            self.compact(tx);
        }
        self.free(tx) >= need
    }

    #[inline]
    pub(super) fn free(&self, tx: &[u8]) -> usize {
        let stash = usize::from(self.pong)
            .saturating_sub(1)
            .saturating_add(usize::from(self.waiting).saturating_sub(1));
        tx.len().saturating_sub(stash).saturating_sub(self.tx_end)
    }

    #[cold]
    pub(super) fn compact(&mut self, tx: &mut [u8]) {
        move_bytes(tx, self.tx_start..self.tx_end, 0);
        self.tx_end = self.tx_end.saturating_sub(self.tx_start);
        self.tx_start = 0;
    }

    /// Appends a whole control frame (`head` then `payload`) to the output, if it fits.
    pub(super) fn put_control(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: &[u8],
        payload: &[u8],
    ) -> bool {
        let n = head.len().saturating_add(payload.len());
        let need = n.saturating_add(2).saturating_add(self.peek_key_len());
        if !self.make_room(tx, need) {
            return false;
        }
        let start = self.tx_end.saturating_add(need).saturating_sub(n);
        let mid = start.saturating_add(head.len());
        if let Some(dst) = tx.get_mut(start..mid) {
            dst.copy_from_slice(head);
        }
        if let Some(dst) = tx.get_mut(mid..start.saturating_add(n)) {
            dst.copy_from_slice(payload);
        }
        let header = FrameHeader {
            fin: true,
            opcode,
            mask: self.masks.key(),
            len: n as u64,
        };
        self.put_header_and_mask(tx, header, n);
        true
    }

    /// Keeps a control frame (`head` then `payload`) at the very end of `tx` until the
    /// open frame is complete, moving the waiting pong's payload down to make room.
    pub(super) fn stash(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: &[u8],
        payload: &[u8],
    ) -> bool {
        let n = head.len().saturating_add(payload.len());
        let pong = usize::from(self.pong).saturating_sub(1);
        let old = usize::from(self.waiting).saturating_sub(1);
        let end = tx.len();
        let need_end = end.saturating_sub(n).saturating_sub(pong);
        if need_end < self.tx_end {
            if self.tx_start > 0 {
                self.compact(tx);
            }
            if need_end < self.tx_end {
                return false;
            }
        }
        // The pong's payload moves to just before the new frame's.
        let pong_src = end.saturating_sub(old).saturating_sub(pong);
        move_bytes(tx, pong_src..pong_src.saturating_add(pong), need_end);
        let start = end.saturating_sub(n);
        let mid = start.saturating_add(head.len());
        if let Some(dst) = tx.get_mut(start..mid) {
            dst.copy_from_slice(head);
        }
        if let Some(dst) = tx.get_mut(mid..end) {
            dst.copy_from_slice(payload);
        }
        // At most 125.
        self.waiting = (n as u8).saturating_add(1);
        self.flags &= !(WAITING_CLOSE | WAITING_PONG);
        match opcode {
            OpCode::Close => self.flags |= WAITING_CLOSE,
            OpCode::Pong => self.flags |= WAITING_PONG,
            _ => {}
        }
        true
    }

    /// Answers a ping: a pong now, or behind the open frame (replacing the answer to an
    /// earlier ping still waiting, as RFC 6455 section 5.5.3 allows). The room was
    /// reserved before the ping was read.
    pub(super) fn owe_pong(&mut self, tx: &mut [u8], payload: &[u8]) {
        if self.sender.frame_remaining() == 0 {
            let put = self.put_control(tx, OpCode::Pong, &[], payload);
            debug_assert!(put, "room reserved");
            return;
        }
        let n = payload.len().min(MAX_CONTROL_PAYLOAD);
        let end = tx
            .len()
            .saturating_sub(usize::from(self.waiting).saturating_sub(1));
        let start = end.saturating_sub(n);
        debug_assert!(start >= self.tx_end, "room reserved");
        if let Some(dst) = tx.get_mut(start..end) {
            dst.copy_from_slice(part(payload, ..n));
            // At most 126.
            self.pong = (n as u8).saturating_add(1);
        }
    }

    /// Echoes the peer's close (its status code, as RFC 6455 section 5.5.1 suggests),
    /// unless ours is already on its way: now, or behind the open frame. No pong is
    /// owed after it.
    pub(super) fn owe_close_echo(&mut self, tx: &mut [u8], code: Option<CloseCode>) {
        self.pong = 0;
        if self.flags & CLOSE_SENT != 0 {
            return;
        }
        let head = code.map(|c| c.0.to_be_bytes());
        let head: &[u8] = head.as_ref().map_or(&[], |h| &h[..]);
        self.owe_close(tx, head);
    }

    /// Queues a close frame with `payload` (a code, or nothing) now or behind the open
    /// frame; the room was reserved before the frame that called for it was read.
    fn owe_close(&mut self, tx: &mut [u8], payload: &[u8]) {
        self.flags |= CLOSE_SENT;
        if self.sender.frame_remaining() == 0 {
            let put = self.put_control(tx, OpCode::Close, &[], payload);
            debug_assert!(put, "room reserved");
        } else {
            self.waiting = 0;
            let stashed = self.stash(tx, OpCode::Close, &[], payload);
            debug_assert!(stashed, "room reserved");
        }
    }

    /// Fails the connection (RFC 6455 section 7.1.7) with `code`, or, inside one of our
    /// frames, drops it without a close.
    #[cold]
    pub(super) fn fail(&mut self, tx: &mut [u8], code: CloseCode) {
        self.flags |= FAILED;
        self.pong = 0;
        if self.sender.frame_remaining() > 0 {
            // Our frame is cut short, and no close frame can follow it (RFC 6455
            // section 7.1.7 asks for one only where it can be sent): what is buffered
            // still goes out, then nothing more.
            self.flags |= DROPPED;
            self.waiting = 0;
        } else if self.flags & CLOSE_SENT == 0 {
            self.owe_close(tx, &code.0.to_be_bytes());
        }
    }
}
