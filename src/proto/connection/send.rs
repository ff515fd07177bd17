//! The application's sends: each call encodes into the transmit buffer and keeps its
//! progress, so that a call interrupted by a timeout is simply made again.

use super::{
    Outbound, Output, BROKEN, CLOSE_SENT, FAILED, MIN_WRITE, PIECE, PONG_OWED, RESERVE, UNFLUSHED,
    WAITING_SHIFT, WHOLE,
};
use crate::bytes::{part, part_mut};
use crate::frame::{self, FrameHeader, OpCode};
use crate::proto::{sender, Masking, Message, MessageKind, Piece, Role, SendError};
use crate::Error;

impl<M: Masking> Outbound<M> {
    /// Refuses a send on a connection that failed, ended, or sent its close.
    #[inline]
    pub(super) fn check_send(&self, new_frame: bool) -> Result<(), Error> {
        let closed = if new_frame {
            FAILED | BROKEN | CLOSE_SENT
        } else {
            FAILED | BROKEN
        };
        if self.flags & closed != 0 {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Encodes `message` whole: a text or binary message as one frame, or a control
    /// frame. A ping, pong or close asked for while a frame is open waits for the
    /// frame, at the end of the transmit buffer, if that leaves room for a pong the
    /// peer may be owed meanwhile ([`SendError::FrameOpen`] otherwise). A close when
    /// ours is already on its way is [`Output::Done`] at once.
    #[inline]
    pub(crate) fn write_message<'d>(
        &mut self,
        tx: &mut [u8],
        message: Message<'d>,
    ) -> Result<Output<'d>, Error> {
        match message {
            Message::Text(text) => self.write_frame(tx, MessageKind::Text, text.as_bytes(), true),
            Message::Binary(data) => self.write_frame(tx, MessageKind::Binary, data, true),
            Message::Ping(payload) => self.write_control(tx, OpCode::Ping, [0; 2], payload, 0),
            Message::Pong(payload) => self.write_control(tx, OpCode::Pong, [0; 2], payload, 0),
            Message::Close(close) => {
                if self.flags & CLOSE_SENT != 0 && self.flags & (FAILED | BROKEN) == 0 {
                    return Ok(Output::Done);
                }
                let (code, reason) = sender::close_payload(close)?;
                let head_len = if close.is_some() { 2 } else { 0 };
                self.write_control(tx, OpCode::Close, code, reason, head_len)
            }
        }
    }

    #[inline(never)]
    pub(super) fn write_control(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: [u8; 2],
        payload: &[u8],
        head_len: usize,
    ) -> Result<Output<'static>, Error> {
        self.check_send(true)?;
        sender::check_ping(payload)?;
        let head = part(&head, ..head_len);
        self.flags &= !UNFLUSHED;
        if self.sender.frame_remaining() == 0 {
            if !self.put_control(tx, opcode, head, payload) {
                return self.wait_for_room();
            }
        } else {
            // Behind the open frame, with room kept for a pong owed meanwhile. A checked
            // control payload and a close code: the sums cannot wrap.
            let n = head.len().wrapping_add(payload.len());
            let reserve = RESERVE.wrapping_add(6).wrapping_add(n);
            if tx.len() < reserve {
                return Err(Error::Send(SendError::FrameOpen));
            }
            if !self.stash(tx, opcode, head, payload) {
                return self.wait_for_room();
            }
        }
        if opcode == OpCode::Close {
            self.flags |= CLOSE_SENT;
        }
        Ok(Output::Done)
    }

    #[inline]
    pub(crate) fn write_frame<'d>(
        &mut self,
        tx: &mut [u8],
        kind: MessageKind,
        data: &'d [u8],
        last: bool,
    ) -> Result<Output<'d>, Error> {
        if self.put_whole(tx, kind, last, data) {
            return Ok(Output::Done);
        }
        if self.flags & WHOLE != 0 {
            // The same call again, after an interruption (unless the connection ended).
            self.check_send(false)?;
            // What was taken and what the frame still owes make the call's data, whose
            // length cannot wrap.
            let total = (self.resume as u64).wrapping_add(self.sender.frame_remaining());
            if data.len() as u64 != total {
                return Err(Error::Send(SendError::NotTheInterruptedCall));
            }
        } else {
            self.check_send(true)?;
            self.check_no_frame()?;
            let len = data.len();
            // At most 14, and a slice's length (at most isize::MAX) beside it: the sums
            // cannot wrap.
            let header_len = 2usize
                .wrapping_add(self.peek_key_len())
                .wrapping_add(if len < 126 {
                    0
                } else if len <= 0xFFFF {
                    2
                } else {
                    8
                });
            // A small frame goes in whole, after the output if it fits, else once the
            // output is written; a large one's header needs room only for itself.
            let whole = header_len.wrapping_add(len);
            if !self.make_room(tx, whole) {
                // The send was checked: the transport is up.
                if len <= MIN_WRITE && self.has_output() {
                    return Ok(Output::Transmit);
                }
                if !self.make_room(tx, header_len) {
                    return self.wait_for_room();
                }
            }
            let mask = self.masks.key();
            let header = self.sender.data(kind, last, len as u64, mask)?;
            self.flags &= !UNFLUSHED;
            self.put_header(tx, header);
            self.start_call(WHOLE);
        }
        self.put_payload(tx, data)
    }

    /// No room for what a call must put in the transmit buffer: once the output is
    /// written there will be (the buffer holds at least a control frame, and stays
    /// clear of everything but what waits for an open frame). Its callers checked the
    /// send: the transport is up.
    pub(super) fn wait_for_room(&self) -> Result<Output<'static>, Error> {
        if self.has_output() {
            Ok(Output::Transmit)
        } else {
            debug_assert!(false, "no room in an empty transmit buffer");
            Err(Error::BufferTooSmall)
        }
    }

    /// Refuses a new frame while one is open.
    pub(super) fn check_no_frame(&self) -> Result<(), Error> {
        if self.flags & (WHOLE | PIECE) != 0 {
            Err(Error::Send(SendError::NotTheInterruptedCall))
        } else if self.sender.frame_remaining() > 0 {
            Err(Error::Send(SendError::FrameOpen))
        } else {
            Ok(())
        }
    }

    /// Starts a frame of a message (as [`Connection::write_fragment`] would) whose `len`
    /// payload bytes follow through [`Connection::write_payload`]. Until they have all
    /// gone, no other data frame can start.
    pub(crate) fn begin_frame(
        &mut self,
        tx: &mut [u8],
        kind: MessageKind,
        len: u64,
        last: bool,
    ) -> Result<Output<'static>, Error> {
        self.check_send(true)?;
        self.check_no_frame()?;
        if !self.make_room(tx, frame::MAX_HEADER_LEN) {
            return self.wait_for_room();
        }
        let mask = self.masks.key();
        let header = self.sender.data(kind, last, len, mask)?;
        self.flags &= !UNFLUSHED;
        self.put_header(tx, header);
        Ok(Output::Done)
    }

    /// Encodes the next bytes of the frame started by [`Connection::begin_frame`]; more
    /// than the frame still owes is [`SendError::PayloadTooLong`], and nothing is sent.
    #[inline]
    pub(crate) fn write_payload<'d>(
        &mut self,
        tx: &mut [u8],
        data: &'d [u8],
    ) -> Result<Output<'d>, Error> {
        self.check_payload(data)?;
        self.put_payload(tx, data)
    }

    /// [`Outbound::write_payload`]'s checks: the call's `data` continues the open
    /// frame (a new call's fits what it still owes; the interrupted one's is made
    /// again). A new call starts its progress at 0.
    #[inline]
    fn check_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_send(false)?;
        if self.flags & WHOLE != 0 {
            return Err(Error::Send(SendError::NotTheInterruptedCall));
        }
        if self.flags & PIECE != 0 {
            if data.len() < self.resume {
                return Err(Error::Send(SendError::NotTheInterruptedCall));
            }
        } else {
            if data.len() as u64 > self.sender.frame_remaining() {
                return Err(Error::Send(SendError::PayloadTooLong));
            }
            self.start_call(PIECE);
        }
        Ok(())
    }

    /// A call that puts payload (`WHOLE` for a message in one frame, `PIECE` for a
    /// frame's payload) begins: interrupted, it is resumed from `resume`, 0 so far.
    #[inline(always)]
    fn start_call(&mut self, call: u16) {
        self.flags |= call;
        self.resume = 0;
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in: the piece that finds no frame of ours open starts one, and every piece
    /// goes on as its payload. A relay or an echo, frame for frame.
    #[inline]
    pub(crate) fn relay<'d>(
        &mut self,
        tx: &mut [u8],
        piece: &Piece<'d>,
    ) -> Result<Output<'d>, Error> {
        if piece.frame_remaining == 0
            && self.put_whole(tx, piece.kind, piece.frame_fin, piece.payload)
        {
            return Ok(Output::Done);
        }
        if self.sender.frame_remaining() == 0 && self.flags & PIECE == 0 {
            let len = (piece.payload.len() as u64).saturating_add(piece.frame_remaining);
            match self.begin_frame(tx, piece.kind, len, piece.frame_fin)? {
                // The frame just opened owes this payload and the rest of the piece's
                // frame: `write_payload`'s checks hold, and the call starts at 0. (An
                // empty frame is complete at once: `put_payload` finishes the call.)
                Output::Done => self.start_call(PIECE),
                other => return Ok(other),
            }
        } else {
            self.check_payload(piece.payload)?;
        }
        self.put_payload(tx, piece.payload)
    }

    /// A whole data frame written straight after the output, when it fits there and
    /// nothing is open, waiting, closed or failed: the common case, without the general
    /// path's bookkeeping (its header is written in place, its progress never kept).
    /// `false` changes nothing and leaves the frame to the general path (which also
    /// reports any error).
    ///
    /// On 64-bit hosts only, where the speed is measured; on microcontrollers the
    /// general path does the same in less flash (and so is what their tests run).
    #[inline]
    fn put_whole(&mut self, tx: &mut [u8], kind: MessageKind, last: bool, data: &[u8]) -> bool {
        const BUSY: u16 = FAILED | BROKEN | CLOSE_SENT | WHOLE | PIECE | PONG_OWED;
        if !cfg!(target_pointer_width = "64")
            || self.flags & BUSY != 0
            || self.flags >> WAITING_SHIFT != 0
            || self.sender.frame_remaining() != 0
        {
            return false;
        }
        let len = data.len();
        let extended = if len < 126 {
            0
        } else if len <= 0xFFFF {
            2
        } else {
            8
        };
        // At most 14.
        let header_len = 2usize
            .wrapping_add(extended)
            .wrapping_add(self.peek_key_len());
        let Some(end) = self
            .tx_end
            .checked_add(header_len)
            .and_then(|n| n.checked_add(len))
        else {
            return false;
        };
        let Some(([b0, b1], rest)) = tx
            .get_mut(self.tx_end..end)
            .and_then(|dst| dst.split_first_chunk_mut())
        else {
            return false;
        };
        // The frame is written past the output's end first: until the sender takes it
        // below, it is not part of the output, and giving up leaves nothing changed.
        let rest = match extended {
            0 => {
                // Fits in seven bits: the cast cannot truncate.
                *b1 = len as u8;
                Some(rest)
            }
            2 => rest.split_first_chunk_mut().map(|(ext, rest)| {
                *b1 = 126;
                // At most 0xFFFF: the cast cannot truncate.
                *ext = (len as u16).to_be_bytes();
                rest
            }),
            _ => rest.split_first_chunk_mut().map(|(ext, rest)| {
                *b1 = 127;
                *ext = (len as u64).to_be_bytes();
                rest
            }),
        };
        let Some(rest) = rest else {
            return false;
        };
        let mask = self.masks.key();
        let payload = match (mask, rest.split_first_chunk_mut()) {
            (Some(key), Some((k, payload))) => {
                *b1 |= 0x80;
                *k = key;
                payload
            }
            _ => rest,
        };
        // `end` was counted from the same lengths: the two are equal.
        payload.copy_from_slice(data);
        if let Some(key) = mask {
            frame::apply_mask(payload, key, 0);
        }
        // An error (a kind that does not continue the open message, a length beyond
        // 2^63) changes nothing.
        let Ok(header) = self.sender.data(kind, last, len as u64, mask) else {
            return false;
        };
        *b0 = (if last { 0x80 } else { 0 }) | header.opcode.bits();
        let counted = self.sender.payload(len);
        debug_assert!(counted.is_ok(), "the frame's own length");
        self.flags &= !UNFLUSHED;
        self.tx_end = end;
        true
    }

    #[inline]
    pub(super) fn put_header(&mut self, tx: &mut [u8], header: FrameHeader) {
        // Room was made for the header (so it is never cut short): written in place.
        let len = header.write_into(part_mut(tx, self.tx_end..));
        debug_assert!(len > 0, "room checked for the header");
        // Within the buffer: the sum cannot wrap.
        self.tx_end = self.tx_end.wrapping_add(len);
    }

    /// Takes the call's `data` from `resume` on into the output, as far as it can.
    #[inline]
    pub(super) fn put_payload<'d>(
        &mut self,
        tx: &mut [u8],
        data: &'d [u8],
    ) -> Result<Output<'d>, Error> {
        loop {
            let rest = part(data, self.resume..);
            if rest.is_empty() {
                break;
            }
            let free = self.free(tx);
            if rest.len() > free {
                if M::ROLE == Role::Server {
                    if self.tx_end > self.tx_start {
                        // Top the output up to a few KiB with the payload's start, so that
                        // a header never goes out in a tiny write, then write it out.
                        // tx_start <= tx_end: cannot wrap.
                        let pending = self.tx_end.wrapping_sub(self.tx_start);
                        let top = MIN_WRITE.saturating_sub(pending).min(free);
                        self.copy_payload(tx, part(rest, ..top));
                        return Ok(Output::Transmit);
                    }
                    // Nothing buffered: a large rest goes straight from the caller's slice.
                    if rest.len() > tx.len() / 2 {
                        return Ok(Output::Direct(rest));
                    }
                }
                if free == 0 {
                    // Moving the output to the front makes room if anything was written.
                    // (A server gets here only with no output, which starts at 0: no room
                    // to make.)
                    if M::ROLE == Role::Client && self.make_room(tx, 1) {
                        continue;
                    }
                    return Ok(Output::Transmit);
                }
            }
            // All of the rest if it fits, else as much as does: one call for both. (The
            // loop ends once all of `data` is taken; 64-bit hosts, where the speed is
            // measured, leave at once when it all fit.)
            self.copy_payload(tx, part(rest, ..rest.len().min(free)));
            if cfg!(target_pointer_width = "64") && rest.len() <= free {
                break;
            }
        }
        self.flags &= !(WHOLE | PIECE);
        self.resume = 0;
        // `settle` does nothing while the frame is open: on microcontrollers it is
        // called as it is, in less flash; on 64-bit hosts only for a complete frame.
        if !cfg!(target_pointer_width = "64") || self.sender.frame_remaining() == 0 {
            self.settle(tx);
        }
        Ok(Output::Done)
    }

    /// Copies (and masks, for a client) `bytes` of the call's data into the output.
    // Two calls in `put_payload`: one copy out of line on microcontrollers, where each
    // inlined copy costs flash; inlined on 64-bit hosts, for speed.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(super) fn copy_payload(&mut self, tx: &mut [u8], bytes: &[u8]) {
        // `bytes` fit the free room, and are part of the call's data after `resume`:
        // neither sum can wrap.
        let end = self.tx_end.wrapping_add(bytes.len());
        let Some(dst) = tx.get_mut(self.tx_end..end) else {
            debug_assert!(false, "room checked for the payload");
            return;
        };
        let counted = self.count_payload(bytes.len());
        debug_assert!(counted.is_ok(), "payload checked against the frame");
        let Ok((key, offset)) = counted else {
            return;
        };
        dst.copy_from_slice(bytes);
        if M::ROLE == Role::Client {
            frame::apply_mask(dst, key, offset);
        }
        self.tx_end = end;
        self.resume = self.resume.wrapping_add(bytes.len());
    }

    // ---------------------------------------------------------------- sends that flush

    /// Starts a send (a write and a flush) of `message`: `false` when it is the send
    /// whose flush a timeout interrupted, which only needs the flush. (A send is told
    /// from another by its length: the rule is that an interrupted call is made again
    /// before any other.)
    pub(crate) fn start_send(&mut self, message: &Message<'_>) -> bool {
        let retry = self.flags & UNFLUSHED != 0 && self.resume == send_id(message);
        self.flags &= !UNFLUSHED;
        !retry
    }

    /// The flush of a send of `message` was interrupted: the next send of it only
    /// flushes.
    pub(crate) fn send_interrupted(&mut self, message: &Message<'_>) {
        if self.flags & (WHOLE | PIECE) == 0 {
            self.flags |= UNFLUSHED;
            self.resume = send_id(message);
        }
    }

    /// The flush of a send ended (done, or failed for good): the next send is a new one.
    #[cfg(feature = "async")]
    pub(crate) fn send_flushed(&mut self) {
        self.flags &= !UNFLUSHED;
    }
}

/// What tells one send from another: its payload's length.
fn send_id(message: &Message<'_>) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        // A slice's length is at most isize::MAX: cannot wrap.
        Message::Close(c) => c.map_or(0, |c| c.reason.len().wrapping_add(2)),
    }
}
