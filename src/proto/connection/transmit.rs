//! The transmit buffer: what goes out next, and the control frames that wait at its end
//! while one of the application's frames is open.
//!
//! The bookkeeping, which the arithmetic below relies on (the connection is given the
//! same transmit buffer on every call):
//! - the output is `tx[tx_start..tx_end]`, and `tx_start <= tx_end`;
//! - the payloads waiting behind the open frame (a pong's, then another control
//!   frame's, each at most 125 bytes) take the last `pong + waiting` bytes of `tx`, and
//!   `tx_end + pong + waiting <= tx.len()`; `pong` is 0 unless a pong is owed, so the
//!   first of them always starts at `tx.len() - pong - waiting`.

use super::{Outbound, BROKEN, CLOSE_SENT, FAILED, FLUSH_OWED, PONG_OWED, RESERVE, WAITING_SHIFT};
use crate::bytes::{move_bytes, part, part_mut};
use crate::frame::{self, CloseCode, OpCode, MAX_CONTROL_PAYLOAD};
use crate::proto::{Masking, Role, SendError};

/// The flag bits that hold the waiting control frame's opcode.
const WAITING_OP: u16 = 0xF << WAITING_SHIFT;

impl<M: Masking> Outbound<M> {
    /// The bytes to write out now. Control frames waiting for a frame just completed
    /// are queued first.
    pub(crate) fn poll_transmit<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        if self.flags & BROKEN != 0 {
            return &[];
        }
        self.output(tx)
    }

    /// [`Outbound::poll_transmit`] for callers that know the transport is up.
    pub(crate) fn output<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        debug_assert!(self.flags & BROKEN == 0, "the transport is up");
        self.settle(tx);
        let tx: &'t [u8] = tx;
        part(tx, self.tx_start..self.tx_end)
    }

    /// Whether there are bytes to write out.
    pub(crate) const fn wants_transmit(&self) -> bool {
        self.has_output() && self.flags & BROKEN == 0
    }

    /// Whether the output holds bytes: [`Outbound::wants_transmit`] for callers that
    /// know the transport is up.
    pub(crate) const fn has_output(&self) -> bool {
        self.tx_end > self.tx_start
    }

    /// `n` bytes of [`Connection::poll_transmit`]'s were written.
    pub(crate) fn transmitted(&mut self, n: usize) {
        self.flags |= FLUSH_OWED;
        // tx_start <= tx_end: cannot wrap.
        if n < self.tx_end.wrapping_sub(self.tx_start) {
            // Less than the output: the sum stays below tx_end.
            self.tx_start = self.tx_start.wrapping_add(n);
        } else {
            // All of it (a transport that reports more wrote no more than it was given).
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
        let counted = self.count_payload(n);
        debug_assert!(counted.is_ok(), "{n} bytes beyond the frame");
        if counted.is_ok() {
            self.resume = self.resume.saturating_add(n);
        }
    }

    /// Accounts for the next `n` payload bytes of the open frame ([`Sender::payload`]):
    /// a client's frame gets the masking key and the bytes' offset; a server's, never
    /// masked, is only counted ([`Sender::count`]), with an all-zero key at offset 0.
    ///
    /// [`Sender::payload`]: crate::proto::sender::Sender::payload
    /// [`Sender::count`]: crate::proto::sender::Sender::count
    #[inline]
    pub(super) fn count_payload(&mut self, n: usize) -> Result<([u8; 4], usize), SendError> {
        match M::ROLE {
            Role::Client => self.sender.payload(n),
            Role::Server => self.sender.count(n).map(|()| ([0; 4], 0)),
        }
    }

    /// The opcode of the control frame waiting behind the open frame; 0 when none is.
    const fn waiting_op(&self) -> u8 {
        // Four bits: the cast keeps them all.
        (self.flags >> WAITING_SHIFT) as u8
    }

    /// Forgets the control frames waiting behind the open frame.
    fn drop_waiting(&mut self) {
        self.pong = 0;
        self.waiting = 0;
        self.flags &= !(PONG_OWED | WAITING_OP);
    }

    /// Queues the control frames that waited for the open frame, once it is complete
    /// and as far as there is room: the owed pong first, then the other one.
    pub(super) fn settle(&mut self, tx: &mut [u8]) {
        // On 64-bit hosts, where `poll_transmit` (which calls this each time) is timed,
        // the common case, nothing waiting, returns at once; on microcontrollers the
        // loop below finds the same in less flash.
        if self.sender.frame_remaining() > 0
            || (cfg!(target_pointer_width = "64") && self.flags & (PONG_OWED | WAITING_OP) == 0)
        {
            return;
        }
        while self.unstash(tx) {}
    }

    /// Turns the first waiting payload (the owed pong's if there is one, which comes
    /// first, else the other's) into a frame at the end of the output, if its header
    /// fits; whether it did (`false` also when nothing waits).
    fn unstash(&mut self, tx: &mut [u8]) -> bool {
        let pong_owed = self.flags & PONG_OWED != 0;
        let (op, n) = if pong_owed {
            (OpCode::Pong.bits(), self.pong)
        } else {
            (self.waiting_op(), self.waiting)
        };
        if op == 0 {
            return false;
        }
        let header_len = self.control_header_len();
        // The payload is counted as waiting: room for the header is room for the frame,
        // which then ends where the payload did or before.
        if !self.make_room(tx, header_len) {
            return false;
        }
        // The waiting payloads are the last `pong + waiting` bytes: nothing wraps.
        let start = tx
            .len()
            .wrapping_sub(usize::from(self.pong))
            .wrapping_sub(usize::from(self.waiting));
        // Room was made: the sum is within the buffer. The payload moves down (or stays).
        let src = start..start.wrapping_add(usize::from(n));
        move_bytes(tx, src, self.tx_end.wrapping_add(header_len));
        self.put_control_header(tx, op, usize::from(n));
        // `pong` is 0 unless it was the pong's frame: cleared either way.
        self.pong = 0;
        let done = if pong_owed {
            PONG_OWED
        } else {
            self.waiting = 0;
            WAITING_OP
        };
        self.flags &= !done;
        true
    }

    /// 4 for a client's frames, which carry a masking key; 0 for a server's.
    pub(super) const fn peek_key_len(&self) -> usize {
        match M::ROLE {
            Role::Client => 4,
            Role::Server => 0,
        }
    }

    /// The header of a control frame: two bytes, and a client's masking key.
    const fn control_header_len(&self) -> usize {
        match M::ROLE {
            Role::Client => 6,
            Role::Server => 2,
        }
    }

    /// Writes a control frame's header (opcode `op`, a payload of `n` bytes, at most 125,
    /// and a client's masking key) at the end of the output, masks the payload already in
    /// place after it, and takes the frame into the output. Room was made for it.
    fn put_control_header(&mut self, tx: &mut [u8], op: u8, n: usize) {
        let key = self.masks.key();
        // Within the room made: the sum cannot wrap.
        let end = self
            .tx_end
            .wrapping_add(self.control_header_len())
            .wrapping_add(n);
        if let [b0, b1, rest @ ..] = part_mut(tx, self.tx_end..end) {
            *b0 = 0x80 | op;
            // At most 125: the length fits the second byte's seven bits.
            *b1 = n as u8;
            if let (Some(key), Some((k, payload))) = (key, rest.split_first_chunk_mut()) {
                *b1 |= 0x80;
                *k = key;
                frame::apply_mask(payload, key, 0);
            }
            self.tx_end = end;
        }
    }

    /// Whether any answer a received frame may call for fits, making room if it can.
    /// Outside one of our frames, a whole control frame goes after the output. Inside
    /// one, the answer waits at the end of the buffer, a new pong in the place of the
    /// one waiting there and a close echo in the place of both: room for one pong's
    /// payload, less the waiting one's.
    pub(super) fn room_for_answers(&mut self, tx: &mut [u8]) -> bool {
        // At most 125: neither can wrap.
        let pong = usize::from(self.pong);
        let need = if self.sender.frame_remaining() > 0 {
            MAX_CONTROL_PAYLOAD.wrapping_sub(pong)
        } else {
            RESERVE.wrapping_add(pong)
        };
        self.make_room(tx, need)
    }

    /// Room for `need` bytes after the output, before anything waiting at the end of
    /// `tx`. Moves the output to the front if that makes the room.
    // Called from eight places: out of line on microcontrollers, inlined on 64-bit hosts.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(super) fn make_room(&mut self, tx: &mut [u8], need: usize) -> bool {
        let free = self.free(tx);
        if free >= need {
            return true;
        }
        // Moving the output to the front frees the `tx_start` bytes before it (when
        // there are any): within the buffer, the sum cannot wrap.
        let start = self.tx_start;
        if start == 0 {
            return false;
        }
        self.compact(tx);
        free.wrapping_add(start) >= need
    }

    /// The bytes between the output and what waits at the end of `tx`.
    #[inline]
    pub(super) fn free(&self, tx: &[u8]) -> usize {
        // The output and the waiting payloads (250 bytes at most) fit the buffer: the sum
        // cannot wrap.
        let used = self
            .tx_end
            .wrapping_add(usize::from(self.pong))
            .wrapping_add(usize::from(self.waiting));
        tx.len().saturating_sub(used)
    }

    // Only `make_room` calls it: part of it on microcontrollers; kept out of the hot
    // paths it is inlined into on 64-bit hosts.
    #[cfg_attr(target_pointer_width = "64", cold, inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    fn compact(&mut self, tx: &mut [u8]) {
        move_bytes(tx, self.tx_start..self.tx_end, 0);
        // tx_start <= tx_end: cannot wrap.
        self.tx_end = self.tx_end.wrapping_sub(self.tx_start);
        self.tx_start = 0;
    }

    /// Appends a whole control frame (`head` then `payload`, 125 bytes at most together)
    /// to the output, if it fits.
    pub(super) fn put_control(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: &[u8],
        payload: &[u8],
    ) -> bool {
        // A control payload, checked by the callers: no sum below can wrap.
        let n = head.len().wrapping_add(payload.len());
        let header_len = self.control_header_len();
        if !self.make_room(tx, header_len.wrapping_add(n)) {
            return false;
        }
        let start = self.tx_end.wrapping_add(header_len);
        let mid = start.wrapping_add(head.len());
        if let Some(dst) = tx.get_mut(start..mid) {
            dst.copy_from_slice(head);
        }
        if let Some(dst) = tx.get_mut(mid..start.wrapping_add(n)) {
            dst.copy_from_slice(payload);
        }
        self.put_control_header(tx, opcode.bits(), n);
        true
    }

    /// Keeps a control frame (`head` then `payload`, 125 bytes at most together) at the
    /// very end of `tx` until the open frame is complete, in the place of the one
    /// waiting there, moving the owed pong's payload to make room.
    pub(super) fn stash(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: &[u8],
        payload: &[u8],
    ) -> bool {
        // Control payloads (125 bytes at most) within the bookkeeping: nothing below wraps.
        let n = head.len().wrapping_add(payload.len());
        let old = usize::from(self.waiting);
        if n > old && !self.make_room(tx, n.wrapping_sub(old)) {
            return false;
        }
        let pong = usize::from(self.pong);
        let end = tx.len();
        let start = end.wrapping_sub(n);
        // The pong's payload moves to just before the new frame's.
        let pong_src = end.wrapping_sub(old).wrapping_sub(pong);
        move_bytes(
            tx,
            pong_src..pong_src.wrapping_add(pong),
            start.wrapping_sub(pong),
        );
        let mid = start.wrapping_add(head.len());
        if let Some(dst) = tx.get_mut(start..mid) {
            dst.copy_from_slice(head);
        }
        if let Some(dst) = tx.get_mut(mid..end) {
            dst.copy_from_slice(payload);
        }
        // At most 125.
        self.waiting = n as u8;
        self.flags = (self.flags & !WAITING_OP) | u16::from(opcode.bits()) << WAITING_SHIFT;
        true
    }

    /// Answers a ping: a pong now, or behind the open frame (replacing the answer to an
    /// earlier ping still waiting, as RFC 6455 section 5.5.3 allows). The room was
    /// reserved before the ping was read. The payload waits at the end of the buffer in
    /// either case, and outside one of our frames it is taken into the output at once
    /// (one way for both: no second copy of the frame's writing).
    pub(super) fn owe_pong(&mut self, tx: &mut [u8], payload: &[u8]) {
        let n = payload.len().min(MAX_CONTROL_PAYLOAD);
        // Within the buffer, before the waiting payload: the room was reserved.
        let end = tx.len().wrapping_sub(usize::from(self.waiting));
        let start = end.wrapping_sub(n);
        debug_assert!(start >= self.tx_end, "room reserved");
        if let Some(dst) = tx.get_mut(start..end) {
            dst.copy_from_slice(part(payload, ..n));
            // At most 125.
            self.pong = n as u8;
            self.flags |= PONG_OWED;
        }
        self.settle(tx);
        debug_assert!(
            self.sender.frame_remaining() > 0 || self.flags & PONG_OWED == 0,
            "room reserved"
        );
    }

    /// Queues a close frame carrying `code` (or nothing) now or behind the open frame,
    /// in the place of any control frame waiting there, unless ours is already on its
    /// way; the room was reserved before the frame that called for it was read. The
    /// owed pong is forgotten either way: no pong follows a close.
    ///
    /// As a pong, it waits at the end of the buffer in either case, and outside one of
    /// our frames it is taken into the output at once. With the pong forgotten, nothing
    /// waits before the close's payload (a code, two bytes at most), which goes at the
    /// very end of the buffer.
    ///
    /// The connection echoes the peer's close with it (the peer's status code, as RFC
    /// 6455 section 5.5.1 suggests), and [`fail`](Self::fail) sends its close with it.
    #[inline]
    pub(super) fn owe_close(&mut self, tx: &mut [u8], code: Option<CloseCode>) {
        self.owe_close_bits(tx, code.map_or(0, |code| 1 << 16 | u32::from(code.0)));
    }

    /// [`Outbound::owe_close`] with the code in one word: bit 16 set when there is one,
    /// its number in the low 16 bits. The close echo's and the failure's one copy, out
    /// of line, with every argument in a register.
    #[inline(never)]
    fn owe_close_bits(&mut self, tx: &mut [u8], code: u32) {
        self.pong = 0;
        self.flags &= !PONG_OWED;
        if self.flags & CLOSE_SENT != 0 {
            return;
        }
        self.flags |= CLOSE_SENT;
        // The payload: the code's two bytes, or nothing.
        let mut n = 0;
        if let (true, Some(last)) = (code >> 16 != 0, tx.last_chunk_mut()) {
            // The low 16 bits: the cast keeps them.
            *last = (code as u16).to_be_bytes();
            n = 2;
        }
        debug_assert!(
            tx.len().saturating_sub(usize::from(n)) >= self.tx_end,
            "room reserved"
        );
        self.waiting = n;
        self.flags = (self.flags & !WAITING_OP) | u16::from(OpCode::Close.bits()) << WAITING_SHIFT;
        self.settle(tx);
        debug_assert!(
            self.sender.frame_remaining() > 0 || self.waiting_op() == 0,
            "room reserved"
        );
    }

    /// Fails the connection (RFC 6455 section 7.1.7) with `code`, or, inside one of our
    /// frames, drops it without a close.
    #[cold]
    pub(super) fn fail(&mut self, tx: &mut [u8], code: CloseCode) {
        self.flags |= FAILED;
        if self.sender.frame_remaining() > 0 {
            // Our frame is cut short, and no close frame can follow it (RFC 6455
            // section 7.1.7 asks for one only where it can be sent): what is buffered
            // still goes out, then nothing more. What waited for the frame is dropped
            // here, and nothing takes its place (nothing is read after a failure, and
            // the application's sends are refused): nothing follows the frame.
            self.drop_waiting();
        } else {
            self.owe_close_bits(tx, 1 << 16 | u32::from(code.0));
        }
    }
}
