//! The connection: one state machine that owns every protocol rule, over two buffers
//! the caller keeps.

use core::ops::Range;

use crate::frame::{self, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::{Error, Status};

use super::receiver::{RawEvent, Receiver};
use super::sender::{self, Sender};
use super::{CloseFrame, Event, Masking, Message, MessageKind, Piece, ProtocolError, SendError};

/// The smallest buffer a connection works with, to receive and to transmit: room for a
/// whole control frame (a masked header and 125 bytes).
pub const MIN_BUFFER: usize = 6 + MAX_CONTROL_PAYLOAD;

/// Room a control frame the connection may owe needs in the transmit buffer: it is kept
/// free before received bytes are looked at, so that any answer they call for fits.
const RESERVE: usize = MIN_BUFFER;

/// The least a write should carry when a large payload follows its header.
const MIN_WRITE: usize = 4096;

/// What a driver does next for a send call that returned it (see [`Connection`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Output<'d> {
    /// The call is complete.
    Done,
    /// Write out the transmit buffer ([`Connection::poll_transmit`] until it is empty),
    /// then make the same call again.
    Transmit,
    /// Write these bytes (the call's own payload, which goes out unmasked) straight to
    /// the transport, report how many went with [`Connection::wrote_direct`], then make
    /// the same call again. The transmit buffer is empty.
    Direct(&'d [u8]),
}

// Connection flags.
/// Our close frame is queued or waiting: no new frame may start.
const CLOSE_SENT: u16 = 1 << 0;
/// The peer broke the protocol and the connection was failed.
const FAILED: u16 = 1 << 1;
/// Failed inside one of our frames: no close frame can follow the cut frame, so nothing
/// more is queued after what is already buffered.
const DROPPED: u16 = 1 << 2;
/// The transport failed or ended: nothing more goes in or out.
const BROKEN: u16 = 1 << 3;
/// The open frame was started by a call that writes it whole and has not finished.
const WHOLE: u16 = 1 << 4;
/// A call writing payload into the open frame has not finished.
const PIECE: u16 = 1 << 5;
/// A send's flush was interrupted; `resume` holds the message's length.
const UNFLUSHED: u16 = 1 << 6;
/// [`Connection::poll_message`] is collecting a message; `collected` bytes are in.
const COLLECTING: u16 = 1 << 7;
/// The control frame waiting at the end of the transmit buffer is a close (else see
/// [`WAITING_PONG`]).
const WAITING_CLOSE: u16 = 1 << 8;
/// The control frame waiting at the end of the transmit buffer is a pong of the
/// application's (else a ping).
const WAITING_PONG: u16 = 1 << 9;

/// A WebSocket connection's state, sans-IO: the rules of RFC 6455 over a receive and a
/// transmit buffer that the caller owns and passes to every call (the same two each time).
///
/// `M` is the masking, which decides the role: [`super::NoMask`] for a server, a
/// [`super::MaskSource`] for a client.
///
/// A driver moves bytes and nothing else:
///
/// - **In:** it reads from its transport into [`Connection::read_buffer`] and reports
///   the count with [`Connection::received`] (or [`Connection::received_eof`]), and
///   asks for events with [`Connection::poll_event`] (or whole messages with
///   [`Connection::poll_message`]). `Status::Partial` means: write out anything
///   [`Connection::poll_transmit`] gives, and if there was nothing, read more.
/// - **Out:** it writes what [`Connection::poll_transmit`] gives and reports the count
///   with [`Connection::transmitted`]; a short write leaves the rest for the next time.
/// - **Sends:** each send call encodes into the transmit buffer and returns an
///   [`Output`] saying what the driver must do before calling again with the same
///   arguments, until it returns [`Output::Done`]. Progress is kept here, so a call
///   interrupted by a transport timeout is simply made again: nothing is lost or sent
///   twice.
///
/// The connection decides everything else. It answers each ping with a pong, echoes
/// the peer's close, and fails the connection with the right close code when the peer
/// breaks the protocol. While one of the application's frames is half sent, nothing
/// can be put inside it: a pong, a close echo, or a ping or close the application asks
/// for waits at the end of the transmit buffer and follows the frame the moment it is
/// complete. A failure inside such a frame drops the connection without a close frame
/// (none can follow a cut frame).
#[derive(Clone, Debug)]
pub struct Connection<M> {
    receiver: Receiver,
    sender: Sender,
    /// Received bytes not yet consumed: `rx[rx_start..rx_end]`.
    rx_start: usize,
    rx_end: usize,
    /// Bytes to write out: `tx[tx_start..tx_end]`. Both are 0 when it is empty.
    tx_start: usize,
    tx_end: usize,
    /// Bytes of the interrupted call's data already taken ([`WHOLE`], [`PIECE`]), or the
    /// length of the message whose send was interrupted in its flush ([`UNFLUSHED`]).
    resume: usize,
    /// Bytes of the message [`Connection::poll_message`] has collected.
    collected: usize,
    /// The payload length + 1 of the pong owed behind the open frame (0: none). Its
    /// payload sits just before the waiting control frame's, at the end of `tx`.
    pong: u8,
    /// The payload length + 1 of a control frame waiting behind the open frame (0: none),
    /// at the very end of `tx`: a ping or pong of the application's, or a close.
    waiting: u8,
    flags: u16,
    masks: M,
}

impl<M: Masking> Connection<M> {
    /// A connection with empty buffers.
    pub const fn new(masks: M) -> Self {
        Connection {
            receiver: Receiver::new(),
            sender: Sender::new(),
            rx_start: 0,
            rx_end: 0,
            tx_start: 0,
            tx_end: 0,
            resume: 0,
            collected: 0,
            pong: 0,
            waiting: 0,
            flags: 0,
            masks,
        }
    }

    /// A connection whose buffers already hold bytes: received ones at `rx[received]`
    /// (frames that came with the handshake) and, at `tx[..queued]`, ones to send
    /// first (the handshake's response).
    pub fn with_buffered(masks: M, received: Range<usize>, queued: usize) -> Self {
        let mut conn = Self::new(masks);
        if !received.is_empty() {
            conn.rx_start = received.start;
            conn.rx_end = received.end;
        }
        conn.tx_end = queued;
        conn
    }

    /// This end's role.
    pub const fn role(&self) -> super::Role {
        M::ROLE
    }

    /// Limits the size of a received data message, all its frames together: a frame
    /// header that would take a message past `max` bytes fails the connection with
    /// 1009 before any of its payload is read. Unlimited by default.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.receiver.set_max_message_size(max);
    }

    /// Whether nothing more can arrive: the peer's close has been received, the
    /// connection failed, or its transport ended or failed.
    pub const fn is_closed(&self) -> bool {
        self.flags & (FAILED | BROKEN) != 0 || self.receiver.is_closed()
    }

    /// Whether the peer's close frame has arrived.
    pub const fn received_close(&self) -> bool {
        self.receiver.is_closed()
    }

    /// Whether our close frame is queued (or waiting behind the open frame): no new
    /// frame can be sent.
    pub const fn close_sent(&self) -> bool {
        self.flags & CLOSE_SENT != 0
    }

    /// Payload bytes the frame being sent still owes; 0 when no frame is open.
    pub const fn frame_remaining(&self) -> u64 {
        self.sender.frame_remaining()
    }

    /// The masking source.
    pub fn masks(&mut self) -> &mut M {
        &mut self.masks
    }

    // ---------------------------------------------------------------- receiving

    /// Where the driver reads new bytes into: the free end of `rx`. Received bytes are
    /// moved to the front first when the buffer is full.
    pub fn read_buffer<'r>(&mut self, rx: &'r mut [u8]) -> &'r mut [u8] {
        if self.rx_end >= rx.len() && self.rx_start > 0 {
            rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end = self.rx_end.saturating_sub(self.rx_start);
            self.rx_start = 0;
        }
        rx.get_mut(self.rx_end..).unwrap_or_default()
    }

    /// `n` bytes were read into [`Connection::read_buffer`].
    pub fn received(&mut self, n: usize) {
        self.rx_end = self.rx_end.saturating_add(n);
    }

    /// The transport ended (a read returned 0): nothing more arrives or goes out. The
    /// driver reports it as the connection's abnormal end (close code 1006).
    pub fn received_eof(&mut self) {
        self.flags |= BROKEN;
    }

    /// The transport failed for good (reset, broken pipe): nothing more goes in or
    /// out. A timeout is not a failure: the call it interrupted is made again.
    pub fn transport_failed(&mut self) {
        self.flags |= BROKEN;
    }

    /// The next event from the received bytes: a piece of a data message, a ping, a
    /// pong or the peer's close. `Status::Partial` when the bytes so far make none yet.
    ///
    /// Pings are answered and the peer's close is echoed before the event is handed out
    /// (queued in `tx`, or waiting behind the open frame). A peer that breaks the
    /// protocol gets a close frame with the error's code and
    /// [`Error::Protocol`] is returned. After the peer's close, a failure, or the end
    /// of the transport: [`Error::Closed`].
    #[inline]
    pub fn poll_event<'r>(
        &mut self,
        rx: &'r mut [u8],
        tx: &mut [u8],
    ) -> Result<Status<Event<'r>>, Error> {
        self.flags &= !COLLECTING;
        let raw = self.poll_raw(rx, tx)?;
        let rx: &'r [u8] = rx;
        Ok(match raw {
            Status::Complete(raw) => Status::Complete(raw.resolve(rx)),
            Status::Partial => Status::Partial,
        })
    }

    /// The next whole message, its bytes collected in `buf` (which must hold at least
    /// the 125 bytes of a control frame's payload, for pings, pongs and close reasons).
    /// `Status::Partial` when it is not all in yet: call again with the same `buf`, which
    /// keeps what was collected.
    ///
    /// A data message larger than `buf` fails the connection with 1009. Pings and pongs
    /// that arrive between the fragments of a message are not returned (a ping is still
    /// answered). Refused with [`Error::MessageInProgress`] when [`Connection::poll_event`]
    /// has already handed out part of the current message.
    pub fn poll_message<'m>(
        &mut self,
        rx: &mut [u8],
        tx: &mut [u8],
        buf: &'m mut [u8],
    ) -> Result<Status<Message<'m>>, Error> {
        Ok(match self.poll_message_raw(rx, tx, buf)? {
            Status::Complete(raw) => Status::Complete(RawMessage::resolve(raw, buf)),
            Status::Partial => Status::Partial,
        })
    }

    /// Ends a collection that [`Connection::poll_message`] began: the driver hands out
    /// events one by one instead (as [`Connection::poll_event`] does), so the next
    /// `poll_message` starts afresh.
    pub(crate) fn stop_collecting(&mut self) {
        self.flags &= !COLLECTING;
    }

    /// [`Connection::poll_message`], with the message's length in `buf` rather than a
    /// borrow of it.
    pub(crate) fn poll_message_raw(
        &mut self,
        rx: &mut [u8],
        tx: &mut [u8],
        buf: &mut [u8],
    ) -> Result<Status<RawMessage>, Error> {
        if buf.len() < MAX_CONTROL_PAYLOAD {
            return Err(Error::BufferTooSmall);
        }
        if self.flags & COLLECTING == 0 {
            if self.receiver.mid_message() && !self.is_closed() {
                return Err(Error::MessageInProgress);
            }
            self.collected = 0;
            self.flags |= COLLECTING;
        }
        loop {
            let raw = match self.poll_raw(rx, tx) {
                Ok(Status::Complete(raw)) => raw,
                Ok(Status::Partial) => return Ok(Status::Partial),
                Err(e) => {
                    self.flags &= !COLLECTING;
                    return Err(e);
                }
            };
            let (message, span) = match raw {
                RawEvent::Data {
                    kind, last, span, ..
                } => {
                    let piece = span.of(rx);
                    let end = self.collected.saturating_add(piece.len());
                    let Some(dst) = buf.get_mut(self.collected..end) else {
                        self.flags &= !COLLECTING;
                        return Err(self.fail(tx, ProtocolError::MessageTooBig));
                    };
                    dst.copy_from_slice(piece);
                    self.collected = end;
                    if !last {
                        continue;
                    }
                    self.flags &= !COLLECTING;
                    return Ok(Status::Complete(match kind {
                        MessageKind::Text => RawMessage::Text(end),
                        MessageKind::Binary => RawMessage::Binary(end),
                    }));
                }
                // Inside a message, a ping (answered already) and a pong are let go.
                RawEvent::Ping(_) | RawEvent::Pong(_) if self.receiver.in_message() => continue,
                RawEvent::Ping(span) => (RawMessage::Ping as fn(usize) -> RawMessage, span),
                RawEvent::Pong(span) => (RawMessage::Pong as fn(usize) -> RawMessage, span),
                RawEvent::Close(None, span) => (RawMessage::Close as fn(usize) -> RawMessage, span),
                RawEvent::Close(Some(code), span) => {
                    let len = copy_control(span.of(rx), buf);
                    self.flags &= !COLLECTING;
                    return Ok(Status::Complete(RawMessage::CloseWith(code, len)));
                }
            };
            self.flags &= !COLLECTING;
            return Ok(Status::Complete(message(copy_control(span.of(rx), buf))));
        }
    }

    /// Runs the receiver over the received bytes and meets the obligations the event
    /// brings; the event's spans are offsets into `rx`.
    #[inline]
    pub(crate) fn poll_raw(
        &mut self,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<Status<RawEvent>, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        // Keep room for any answer the next frame may call for; until the output
        // before it is written, read nothing more. Inside one of our frames the answer
        // waits at the end of `tx`, a new pong in the place of the one waiting there:
        // room for one pong's payload in all.
        let pong = usize::from(self.pong);
        let reserve = if self.sender.frame_remaining() > 0 {
            MAX_CONTROL_PAYLOAD.saturating_sub(pong.saturating_sub(1))
        } else {
            RESERVE.saturating_add(pong)
        };
        if !self.make_room(tx, reserve) {
            return Ok(Status::Partial);
        }
        let start = self.rx_start;
        let input = rx.get_mut(start..self.rx_end).unwrap_or_default();
        let received = match self.receiver.receive(M::ROLE, input) {
            Ok(r) => r,
            Err(e) => return Err(self.fail(tx, e)),
        };
        self.rx_start = start.saturating_add(received.consumed);
        if self.rx_start >= self.rx_end {
            // Empty: new bytes go to the front (the event's bytes stay where they are
            // until the next read).
            self.rx_start = 0;
            self.rx_end = 0;
        }
        let Status::Complete(event) = received.event else {
            if self.rx_start == 0 && self.rx_end >= rx.len() {
                // A full buffer that makes no event: cannot happen with MIN_BUFFER bytes
                // (a control frame fits, and data is handed out in pieces).
                debug_assert!(false, "receive buffer full without progress");
                return Err(self.fail(tx, ProtocolError::MessageTooBig));
            }
            return Ok(Status::Partial);
        };
        let event = event.offset(start);
        match event {
            RawEvent::Ping(span) if self.flags & CLOSE_SENT == 0 => {
                self.owe_pong(tx, span.of(rx));
            }
            RawEvent::Close(code, _) => self.owe_close_echo(tx, code),
            _ => {}
        }
        Ok(Status::Complete(event))
    }

    /// Answers a ping: a pong now, or behind the open frame (replacing the answer to an
    /// earlier ping still waiting, as RFC 6455 section 5.5.3 allows). The room was
    /// reserved before the ping was read.
    fn owe_pong(&mut self, tx: &mut [u8], payload: &[u8]) {
        if self.sender.frame_remaining() == 0 {
            let put = self.put_control(tx, OpCode::Pong, &[], payload);
            debug_assert!(put, "room reserved");
            return;
        }
        let n = payload.len().min(MAX_CONTROL_PAYLOAD);
        let end = tx.len().saturating_sub(usize::from(self.waiting).saturating_sub(1));
        let start = end.saturating_sub(n);
        debug_assert!(start >= self.tx_end, "room reserved");
        if let Some(dst) = tx.get_mut(start..end) {
            dst.copy_from_slice(payload.get(..n).unwrap_or_default());
            // At most 126.
            self.pong = (n as u8).saturating_add(1);
        }
    }

    /// Echoes the peer's close (its status code, as RFC 6455 section 5.5.1 suggests),
    /// unless ours is already on its way: now, or behind the open frame. No pong is
    /// owed after it.
    fn owe_close_echo(&mut self, tx: &mut [u8], code: Option<frame::CloseCode>) {
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

    /// Fails the connection (RFC 6455 section 7.1.7) with `error`'s close code, or,
    /// inside one of our frames, drops it without one. Returns the error for the caller.
    #[cold]
    fn fail(&mut self, tx: &mut [u8], error: ProtocolError) -> Error {
        self.flags |= FAILED;
        self.flags &= !COLLECTING;
        self.pong = 0;
        if self.sender.frame_remaining() > 0 {
            // Our frame is cut short, and no close frame can follow it (RFC 6455
            // section 7.1.7 asks for one only where it can be sent): what is buffered
            // still goes out, then nothing more.
            self.flags |= DROPPED;
            self.waiting = 0;
        } else if self.flags & CLOSE_SENT == 0 {
            let code = error.close_code().0.to_be_bytes();
            self.owe_close(tx, &code);
        }
        Error::Protocol(error)
    }

    // ---------------------------------------------------------------- transmitting

    /// The bytes to write out now. Control frames waiting for a frame just completed
    /// are queued first.
    pub fn poll_transmit<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        if self.flags & BROKEN != 0 {
            return &[];
        }
        self.settle(tx);
        let tx: &'t [u8] = tx;
        tx.get(self.tx_start..self.tx_end).unwrap_or_default()
    }

    /// Whether there are bytes to write out.
    pub const fn wants_transmit(&self) -> bool {
        self.tx_end > self.tx_start && self.flags & BROKEN == 0
    }

    /// `n` bytes of [`Connection::poll_transmit`]'s were written.
    pub fn transmitted(&mut self, n: usize) {
        self.tx_start = self.tx_start.saturating_add(n).min(self.tx_end);
        if self.tx_start == self.tx_end {
            self.tx_start = 0;
            self.tx_end = 0;
        }
    }

    /// `n` bytes of an [`Output::Direct`]'s were written.
    pub fn wrote_direct(&mut self, n: usize) {
        let counted = self.sender.payload(n);
        debug_assert!(counted.is_ok(), "{n} bytes beyond the frame");
        if counted.is_ok() {
            self.resume = self.resume.saturating_add(n);
        }
    }

    /// Queues the control frames that waited for the open frame, once it is complete
    /// and as far as there is room.
    fn settle(&mut self, tx: &mut [u8]) {
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
    fn unstash(&mut self, tx: &mut [u8], opcode: OpCode, src: Range<usize>, keep: usize) -> bool {
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
        tx.copy_within(src, dst);
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
    fn put_header_and_mask(&mut self, tx: &mut [u8], header: FrameHeader, n: usize) {
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
    const fn peek_key_len(&self) -> usize {
        match M::ROLE {
            super::Role::Client => 4,
            super::Role::Server => 0,
        }
    }

    /// Room for `need` bytes after the output, before anything waiting at the end of
    /// `tx`. Moves the output to the front if that makes the room.
    #[inline]
    fn make_room(&mut self, tx: &mut [u8], need: usize) -> bool {
        if self.free(tx) >= need {
            return true;
        }
        if self.tx_start > 0 {
            self.compact(tx);
        }
        self.free(tx) >= need
    }

    #[inline]
    fn free(&self, tx: &[u8]) -> usize {
        let stash = usize::from(self.pong)
            .saturating_sub(1)
            .saturating_add(usize::from(self.waiting).saturating_sub(1));
        tx.len().saturating_sub(stash).saturating_sub(self.tx_end)
    }

    #[cold]
    fn compact(&mut self, tx: &mut [u8]) {
        tx.copy_within(self.tx_start..self.tx_end, 0);
        self.tx_end = self.tx_end.saturating_sub(self.tx_start);
        self.tx_start = 0;
    }

    /// Appends a whole control frame (`head` then `payload`) to the output, if it fits.
    fn put_control(&mut self, tx: &mut [u8], opcode: OpCode, head: &[u8], payload: &[u8]) -> bool {
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
    fn stash(&mut self, tx: &mut [u8], opcode: OpCode, head: &[u8], payload: &[u8]) -> bool {
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
        tx.copy_within(pong_src..pong_src.saturating_add(pong), need_end);
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

    // ---------------------------------------------------------------- sending

    /// Refuses a send on a connection that failed, ended, or sent its close.
    #[inline]
    fn check_send(&self, new_frame: bool) -> Result<(), Error> {
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
    pub fn write_message<'d>(
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
    fn write_control(
        &mut self,
        tx: &mut [u8],
        opcode: OpCode,
        head: [u8; 2],
        payload: &[u8],
        head_len: usize,
    ) -> Result<Output<'static>, Error> {
        self.check_send(true)?;
        sender::check_ping(payload)?;
        let head = head.get(..head_len).unwrap_or_default();
        self.flags &= !UNFLUSHED;
        if self.sender.frame_remaining() == 0 {
            if !self.put_control(tx, opcode, head, payload) {
                return self.wait_for_room();
            }
        } else {
            // Behind the open frame, with room kept for a pong owed meanwhile.
            let n = head.len().saturating_add(payload.len());
            let reserve = RESERVE.saturating_add(6).saturating_add(n);
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

    /// Encodes one frame of a message carrying `data`: the first opens the message with
    /// `kind`, later ones continue it (with the same `kind`), and `last` ends it.
    #[inline]
    pub fn write_fragment<'d>(
        &mut self,
        tx: &mut [u8],
        kind: MessageKind,
        data: &'d [u8],
        last: bool,
    ) -> Result<Output<'d>, Error> {
        self.write_frame(tx, kind, data, last)
    }

    #[inline]
    fn write_frame<'d>(
        &mut self,
        tx: &mut [u8],
        kind: MessageKind,
        data: &'d [u8],
        last: bool,
    ) -> Result<Output<'d>, Error> {
        if self.flags & WHOLE != 0 {
            // The same call again, after an interruption (unless the connection ended).
            self.check_send(false)?;
            let total = (self.resume as u64).saturating_add(self.sender.frame_remaining());
            if data.len() as u64 != total {
                return Err(Error::Send(SendError::NotTheInterruptedCall));
            }
        } else {
            self.check_send(true)?;
            self.check_no_frame()?;
            let len = data.len();
            let header_len = 2usize
                .saturating_add(self.peek_key_len())
                .saturating_add(if len < 126 {
                    0
                } else if len <= 0xFFFF {
                    2
                } else {
                    8
                });
            // A small frame goes in whole, after the output if it fits, else once the
            // output is written; a large one's header needs room only for itself.
            let whole = header_len.saturating_add(len);
            if !self.make_room(tx, whole) {
                if len <= MIN_WRITE && self.wants_transmit() {
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
            self.flags |= WHOLE;
            self.resume = 0;
        }
        self.put_payload(tx, data)
    }

    /// No room for what a call must put in the transmit buffer: once the output is
    /// written there will be (the buffer holds at least a control frame, and stays
    /// clear of everything but what waits for an open frame).
    fn wait_for_room(&self) -> Result<Output<'static>, Error> {
        if self.wants_transmit() {
            Ok(Output::Transmit)
        } else {
            debug_assert!(false, "no room in an empty transmit buffer");
            Err(Error::BufferTooSmall)
        }
    }

    /// Refuses a new frame while one is open.
    fn check_no_frame(&self) -> Result<(), Error> {
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
    pub fn begin_frame(
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
    pub fn write_payload<'d>(&mut self, tx: &mut [u8], data: &'d [u8]) -> Result<Output<'d>, Error> {
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
            self.flags |= PIECE;
            self.resume = 0;
        }
        self.put_payload(tx, data)
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in: the piece that finds no frame of ours open starts one, and every piece
    /// goes on as its payload. A relay or an echo, frame for frame.
    #[inline]
    pub fn relay<'d>(&mut self, tx: &mut [u8], piece: &Piece<'d>) -> Result<Output<'d>, Error> {
        if self.sender.frame_remaining() == 0 && self.flags & PIECE == 0 {
            let len = (piece.payload.len() as u64).saturating_add(piece.frame_remaining);
            match self.begin_frame(tx, piece.kind, len, piece.frame_fin)? {
                Output::Done if len == 0 => return Ok(Output::Done),
                Output::Done => {}
                other => return Ok(other),
            }
        }
        self.write_payload(tx, piece.payload)
    }

    #[inline]
    fn put_header(&mut self, tx: &mut [u8], header: FrameHeader) {
        let encoded = header.emit();
        let bytes = encoded.as_bytes();
        let end = self.tx_end.saturating_add(bytes.len());
        match tx.get_mut(self.tx_end..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.tx_end = end;
            }
            None => debug_assert!(false, "room checked for the header"),
        }
    }

    /// Takes the call's `data` from `resume` on into the output, as far as it can.
    #[inline]
    fn put_payload<'d>(&mut self, tx: &mut [u8], data: &'d [u8]) -> Result<Output<'d>, Error> {
        loop {
            let rest = data.get(self.resume..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let free = self.free(tx);
            if rest.len() <= free {
                self.copy_payload(tx, rest);
                break;
            }
            if M::ROLE == super::Role::Server {
                if self.tx_end > self.tx_start {
                    // Top the output up to a few KiB with the payload's start, so that a
                    // header never goes out in a tiny write, then write it out.
                    let pending = self.tx_end.saturating_sub(self.tx_start);
                    let top = MIN_WRITE.saturating_sub(pending).min(free);
                    self.copy_payload(tx, rest.get(..top).unwrap_or_default());
                    return Ok(Output::Transmit);
                }
                // Nothing buffered: a large rest goes straight from the caller's slice.
                if rest.len() > tx.len() / 2 {
                    return Ok(Output::Direct(rest));
                }
            }
            if free == 0 {
                if self.tx_start > 0 {
                    self.compact(tx);
                    continue;
                }
                return Ok(Output::Transmit);
            }
            self.copy_payload(tx, rest.get(..free).unwrap_or_default());
        }
        self.flags &= !(WHOLE | PIECE);
        self.resume = 0;
        if self.sender.frame_remaining() == 0 {
            self.settle(tx);
        }
        Ok(Output::Done)
    }

    /// Copies (and masks, for a client) `bytes` of the call's data into the output.
    #[inline]
    fn copy_payload(&mut self, tx: &mut [u8], bytes: &[u8]) {
        let end = self.tx_end.saturating_add(bytes.len());
        let Some(dst) = tx.get_mut(self.tx_end..end) else {
            debug_assert!(false, "room checked for the payload");
            return;
        };
        let counted = self.sender.payload(bytes.len());
        debug_assert!(counted.is_ok(), "payload checked against the frame");
        let Ok((key, offset)) = counted else {
            return;
        };
        dst.copy_from_slice(bytes);
        if M::ROLE == super::Role::Client {
            frame::apply_mask(dst, key, offset);
        }
        self.tx_end = end;
        self.resume = self.resume.saturating_add(bytes.len());
    }

    // ---------------------------------------------------------------- sends that flush

    /// Starts a send (a write and a flush) of a message `len` bytes long: `false` when
    /// it is the send whose flush a timeout interrupted, which only needs the flush.
    pub(crate) fn start_send(&mut self, len: usize) -> bool {
        let retry = self.flags & UNFLUSHED != 0 && self.resume == len;
        self.flags &= !UNFLUSHED;
        !retry
    }

    /// The flush of a send of a message `len` bytes long was interrupted: the next
    /// send of that length only flushes.
    pub(crate) fn send_interrupted(&mut self, len: usize) {
        if self.flags & (WHOLE | PIECE) == 0 {
            self.flags |= UNFLUSHED;
            self.resume = len;
        }
    }
}

/// A text message's bytes, validated as they arrived.
fn checked_utf8(data: &[u8]) -> &str {
    let text = core::str::from_utf8(data);
    debug_assert!(text.is_ok(), "text validated as it arrived");
    text.unwrap_or_default()
}

impl RawEvent {
    /// The event, borrowing its bytes from `rx`.
    #[inline]
    pub(crate) fn resolve(self, rx: &[u8]) -> Event<'_> {
        match self {
            RawEvent::Data {
                kind,
                first,
                last,
                span,
                frame_remaining,
                frame_fin,
            } => Event::Data(Piece {
                kind,
                first,
                last,
                payload: span.of(rx),
                frame_remaining,
                frame_fin,
            }),
            RawEvent::Ping(span) => Event::Ping(span.of(rx)),
            RawEvent::Pong(span) => Event::Pong(span.of(rx)),
            RawEvent::Close(code, span) => Event::Close(code.map(|code| CloseFrame {
                code,
                reason: checked_utf8(span.of(rx)),
            })),
        }
    }
}

/// A message collected by [`Connection::poll_message_raw`]: its type and its length in
/// the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawMessage {
    Text(usize),
    Binary(usize),
    Ping(usize),
    Pong(usize),
    Close(usize),
    CloseWith(frame::CloseCode, usize),
}

impl RawMessage {
    /// The message, borrowing its bytes from `buf`.
    pub(crate) fn resolve(self, buf: &[u8]) -> Message<'_> {
        let bytes = |len: usize| buf.get(..len).unwrap_or_default();
        match self {
            RawMessage::Text(len) => Message::Text(checked_utf8(bytes(len))),
            RawMessage::Binary(len) => Message::Binary(bytes(len)),
            RawMessage::Ping(len) => Message::Ping(bytes(len)),
            RawMessage::Pong(len) => Message::Pong(bytes(len)),
            RawMessage::Close(_) => Message::Close(None),
            RawMessage::CloseWith(code, len) => Message::Close(Some(CloseFrame {
                code,
                reason: checked_utf8(bytes(len)),
            })),
        }
    }
}

/// Copies a control frame's payload into the front of `buf` (checked to hold 125 bytes).
fn copy_control(bytes: &[u8], buf: &mut [u8]) -> usize {
    let dst = buf.get_mut(..bytes.len());
    debug_assert!(dst.is_some(), "buf holds a control payload");
    match dst {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            bytes.len()
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{frame, frames, peer};
    use super::super::{MaskSource, NoMask, Role};
    use super::*;
    use crate::frame::CloseCode;
    use std::prelude::rust_2021::*;
    use std::vec;

    /// A fixed sequence of masking keys.
    #[derive(Clone, Debug)]
    struct Keys(u32);

    impl MaskSource for Keys {
        fn next_key(&mut self) -> [u8; 4] {
            self.0 = self.0.wrapping_mul(2_654_435_761).wrapping_add(1);
            self.0.to_be_bytes()
        }
    }

    /// An owned event.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Data(MessageKind, bool, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    /// A connection with its two buffers, driven by hand: what goes out is collected in
    /// `wire`, written `chunk` bytes at a time.
    struct Rig<M> {
        conn: Connection<M>,
        rx: Vec<u8>,
        tx: Vec<u8>,
        wire: Vec<u8>,
        chunk: usize,
    }

    fn server(rx: usize, tx: usize) -> Rig<NoMask> {
        Rig::new(Connection::new(NoMask), rx, tx)
    }

    fn client(rx: usize, tx: usize) -> Rig<Keys> {
        Rig::new(Connection::new(Keys(7)), rx, tx)
    }

    impl<M: Masking> Rig<M> {
        fn new(conn: Connection<M>, rx: usize, tx: usize) -> Self {
            Rig {
                conn,
                rx: vec![0; rx],
                tx: vec![0; tx],
                wire: Vec::new(),
                chunk: usize::MAX,
            }
        }

        fn role(&self) -> Role {
            M::ROLE
        }

        /// Receives `bytes` as the transport would hand them over, reading events as
        /// they come (the buffer may be smaller than the bytes).
        fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<Ev>, Error> {
            let mut events = Vec::new();
            loop {
                events.extend(self.events()?);
                if bytes.is_empty() {
                    return Ok(events);
                }
                if self.conn.wants_transmit() {
                    self.transmit();
                    continue;
                }
                let buf = self.conn.read_buffer(&mut self.rx);
                let n = buf.len().min(bytes.len());
                assert!(n > 0, "no room to read into");
                buf[..n].copy_from_slice(&bytes[..n]);
                self.conn.received(n);
                bytes = &bytes[n..];
            }
        }

        /// The events the received bytes make now.
        fn events(&mut self) -> Result<Vec<Ev>, Error> {
            let mut events = Vec::new();
            while !self.conn.is_closed() {
                let Status::Complete(e) = self.conn.poll_event(&mut self.rx, &mut self.tx)? else {
                    break;
                };
                events.push(match e {
                    Event::Data(p) => Ev::Data(p.kind, p.last, p.payload.to_vec()),
                    Event::Ping(p) => Ev::Ping(p.to_vec()),
                    Event::Pong(p) => Ev::Pong(p.to_vec()),
                    Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, c.reason.into()))),
                });
            }
            Ok(events)
        }

        /// Writes out everything the connection has to send, `chunk` bytes a write.
        fn transmit(&mut self) {
            loop {
                let out = self.conn.poll_transmit(&mut self.tx);
                if out.is_empty() {
                    return;
                }
                let n = out.len().min(self.chunk);
                self.wire.extend_from_slice(&out[..n]);
                self.conn.transmitted(n);
            }
        }

        /// Makes a send call until it is done, doing the I/O it asks for.
        fn run<'d>(
            &mut self,
            mut call: impl FnMut(&mut Connection<M>, &mut [u8]) -> Result<Output<'d>, Error>,
        ) -> Result<(), Error> {
            loop {
                match call(&mut self.conn, &mut self.tx)? {
                    Output::Done => return Ok(()),
                    Output::Transmit => {
                        let before = self.wire.len();
                        self.transmit();
                        assert!(self.wire.len() > before, "Transmit with nothing to write");
                    }
                    Output::Direct(bytes) => {
                        assert!(!self.conn.wants_transmit(), "direct write before output");
                        let n = bytes.len().min(self.chunk);
                        self.wire.extend_from_slice(&bytes[..n]);
                        self.conn.wrote_direct(n);
                    }
                }
            }
        }

        fn send(&mut self, message: Message<'_>) -> Result<(), Error> {
            self.run(|c, tx| c.write_message(tx, message))
        }

        /// The frames sent so far, as the peer reads them.
        fn sent(&mut self) -> Vec<(bool, OpCode, Vec<u8>)> {
            self.transmit();
            frames(self.role(), &std::mem::take(&mut self.wire))
        }
    }

    fn peer_frame(role: Role, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        frame(peer(role), true, opcode, payload)
    }

    fn close_payload(code: u16, reason: &str) -> Vec<u8> {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        p
    }

    #[test]
    fn pings_are_answered_in_both_roles() {
        let mut s = server(256, 256);
        let ping = peer_frame(Role::Server, OpCode::Ping, b"abc");
        assert_eq!(s.feed(&ping).unwrap(), vec![Ev::Ping(b"abc".to_vec())]);
        assert_eq!(s.sent(), vec![(true, OpCode::Pong, b"abc".to_vec())]);
        let mut c = client(256, 256);
        let ping = peer_frame(Role::Client, OpCode::Ping, &[9; 125]);
        assert_eq!(c.feed(&ping).unwrap(), vec![Ev::Ping(vec![9; 125])]);
        assert_eq!(c.sent(), vec![(true, OpCode::Pong, vec![9; 125])]);
        // A pong is shown, and not answered.
        let pong = peer_frame(Role::Client, OpCode::Pong, b"p");
        assert_eq!(c.feed(&pong).unwrap(), vec![Ev::Pong(b"p".to_vec())]);
        assert!(c.sent().is_empty());
    }

    #[test]
    fn the_peers_close_is_echoed_and_ends_the_connection() {
        for (code, reason) in [(Some(1000u16), "bye"), (Some(4999), ""), (None, "")] {
            let mut s = server(256, 256);
            let payload = code.map(|c| close_payload(c, reason)).unwrap_or_default();
            let close = peer_frame(Role::Server, OpCode::Close, &payload);
            let events = s.feed(&close).unwrap();
            assert_eq!(events, vec![Ev::Close(code.map(|c| (c, reason.to_string())))]);
            // The echo carries the code, not the reason.
            let echo = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
            assert_eq!(s.sent(), vec![(true, OpCode::Close, echo)]);
            assert!(s.conn.is_closed() && s.conn.close_sent());
            assert!(matches!(
                s.conn.poll_event(&mut s.rx, &mut s.tx),
                Err(Error::Closed)
            ));
            assert!(matches!(s.send(Message::Text("late")), Err(Error::Closed)));
            // Closing again is no error, and sends nothing.
            s.send(Message::Close(None)).unwrap();
            assert!(s.sent().is_empty());
        }
    }

    #[test]
    fn our_close_is_not_followed_by_an_echo() {
        let mut c = client(256, 256);
        c.send(Message::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "done",
        })))
        .unwrap();
        assert_eq!(c.sent(), vec![(true, OpCode::Close, close_payload(1000, "done"))]);
        assert!(matches!(c.send(Message::Ping(b"")), Err(Error::Closed)));
        // Data may still arrive until the peer's close; pings are no longer answered.
        let mut bytes = peer_frame(Role::Client, OpCode::Text, b"last");
        bytes.extend(peer_frame(Role::Client, OpCode::Ping, b"x"));
        bytes.extend(peer_frame(Role::Client, OpCode::Close, &close_payload(1000, "")));
        let events = c.feed(&bytes).unwrap();
        assert_eq!(events.len(), 3);
        assert!(c.sent().is_empty());
        assert!(c.conn.is_closed());
    }

    #[test]
    fn protocol_errors_fail_with_their_close_code() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (frame(Role::Server, true, OpCode::Text, b"unmasked"), 1002),
            (peer_frame(Role::Server, OpCode::Text, b"\xff"), 1007),
            (peer_frame(Role::Server, OpCode::Close, &[3]), 1002),
            (peer_frame(Role::Server, OpCode::Continuation, b"x"), 1002),
        ];
        for (bytes, code) in cases {
            let mut s = server(256, 256);
            let err = s.feed(&bytes).unwrap_err();
            assert!(matches!(err, Error::Protocol(e) if e.close_code().0 == code), "{err:?}");
            assert_eq!(s.sent(), vec![(true, OpCode::Close, code.to_be_bytes().to_vec())]);
            assert!(s.conn.is_closed());
            assert!(matches!(
                s.conn.poll_event(&mut s.rx, &mut s.tx),
                Err(Error::Closed)
            ));
            assert!(matches!(s.send(Message::Binary(b"x")), Err(Error::Closed)));
        }
        // The message size limit: 1009 at the header.
        let mut s = server(256, 256);
        s.conn.set_max_message_size(4);
        let err = s.feed(&peer_frame(Role::Server, OpCode::Binary, b"12345")).unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::MessageTooBig)));
        assert_eq!(s.sent(), vec![(true, OpCode::Close, 1009u16.to_be_bytes().to_vec())]);
    }

    #[test]
    fn answers_wait_behind_our_open_frame() {
        for role in [Role::Server, Role::Client] {
            let mut rig: Box<dyn FnMut() -> Vec<(bool, OpCode, Vec<u8>)>> = match role {
                Role::Server => {
                    let mut s = server(256, 512);
                    Box::new(move || waiting_answers(&mut s))
                }
                Role::Client => {
                    let mut c = client(256, 512);
                    Box::new(move || waiting_answers(&mut c))
                }
            };
            assert_eq!(
                rig(),
                vec![
                    (true, OpCode::Binary, (0..10).collect()),
                    // Only the latest ping is answered once the frame is done.
                    (true, OpCode::Pong, b"second".to_vec()),
                    (true, OpCode::Ping, b"mine".to_vec()),
                ],
                "{role:?}"
            );
        }
    }

    /// Opens a frame, receives two pings and asks for a ping of its own, then finishes
    /// the frame.
    fn waiting_answers<M: Masking>(r: &mut Rig<M>) -> Vec<(bool, OpCode, Vec<u8>)> {
        let role = M::ROLE;
        let data: Vec<u8> = (0..10).collect();
        r.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 10, true))
            .unwrap();
        r.run(|c, tx| c.write_payload(tx, &data[..4])).unwrap();
        let mut pings = peer_frame(role, OpCode::Ping, b"first");
        pings.extend(peer_frame(role, OpCode::Ping, b"second"));
        assert_eq!(r.feed(&pings).unwrap().len(), 2);
        r.send(Message::Ping(b"mine")).unwrap();
        // Nothing inside the frame: what went out so far is its start only.
        r.transmit();
        assert!(!r.wire.is_empty());
        // A new data frame cannot start.
        assert!(matches!(
            r.send(Message::Text("x")),
            Err(Error::Send(SendError::FrameOpen))
        ));
        r.run(|c, tx| c.write_payload(tx, &data[4..])).unwrap();
        r.sent()
    }

    #[test]
    fn the_close_echo_waits_behind_our_open_frame_and_drops_the_pong() {
        let mut s = server(256, 512);
        s.run(|c, tx| c.begin_frame(tx, MessageKind::Text, 3, true))
            .unwrap();
        let mut bytes = peer_frame(Role::Server, OpCode::Ping, b"p");
        bytes.extend(peer_frame(Role::Server, OpCode::Close, &close_payload(1001, "")));
        assert_eq!(s.feed(&bytes).unwrap().len(), 2);
        assert!(s.conn.is_closed());
        // The frame is finished after the peer's close; then the echo goes.
        s.run(|c, tx| c.write_payload(tx, b"abc")).unwrap();
        assert_eq!(
            s.sent(),
            vec![
                (true, OpCode::Text, b"abc".to_vec()),
                (true, OpCode::Close, 1001u16.to_be_bytes().to_vec()),
            ]
        );
    }

    #[test]
    fn our_close_waits_behind_our_open_frame() {
        let mut c = client(256, 512);
        c.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 2, true))
            .unwrap();
        c.send(Message::Close(Some(CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: "later",
        })))
        .unwrap();
        assert!(c.conn.close_sent());
        // The frame may still be finished, but no new one started.
        assert!(matches!(c.send(Message::Binary(b"x")), Err(Error::Closed)));
        c.run(|c, tx| c.write_payload(tx, b"ok")).unwrap();
        assert_eq!(
            c.sent(),
            vec![
                (true, OpCode::Binary, b"ok".to_vec()),
                (true, OpCode::Close, close_payload(1001, "later")),
            ]
        );
    }

    #[test]
    fn a_small_transmit_buffer_refuses_to_hold_a_ping_behind_a_frame() {
        let mut s = server(256, MIN_BUFFER);
        s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 2, true))
            .unwrap();
        assert!(matches!(
            s.send(Message::Ping(b"k")),
            Err(Error::Send(SendError::FrameOpen))
        ));
        // A pong the peer is owed still waits (its room is kept).
        s.feed(&peer_frame(Role::Server, OpCode::Ping, &[1; 125]))
            .unwrap();
        s.run(|c, tx| c.write_payload(tx, b"zz")).unwrap();
        assert_eq!(
            s.sent(),
            vec![
                (true, OpCode::Binary, b"zz".to_vec()),
                (true, OpCode::Pong, vec![1; 125]),
            ]
        );
    }

    #[test]
    fn a_failure_inside_our_frame_drops_the_connection_without_a_close() {
        let mut s = server(256, 512);
        s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 100, true))
            .unwrap();
        s.run(|c, tx| c.write_payload(tx, &[5; 10])).unwrap();
        let err = s
            .feed(&peer_frame(Role::Server, OpCode::Text, b"\xc0"))
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::InvalidUtf8)));
        // What was buffered still goes: the frame's start, then nothing more.
        s.transmit();
        assert_eq!(&s.wire[..4], &[0x82, 100, 5, 5]);
        assert_eq!(s.wire.len(), 12);
        assert!(matches!(
            s.run(|c, tx| c.write_payload(tx, &[5; 90])),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn answers_wait_for_room_in_the_transmit_buffer() {
        // Output fills the buffer; a ping is not even read until it has gone out.
        let mut s = server(256, 400);
        s.send(Message::Binary(&[7; 300])).unwrap();
        let ping = peer_frame(Role::Server, OpCode::Ping, b"now");
        let buf = s.conn.read_buffer(&mut s.rx);
        buf[..ping.len()].copy_from_slice(&ping);
        s.conn.received(ping.len());
        assert_eq!(s.events().unwrap(), vec![]);
        assert!(s.conn.wants_transmit());
        s.transmit();
        assert_eq!(s.events().unwrap(), vec![Ev::Ping(b"now".to_vec())]);
        let sent = s.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1], (true, OpCode::Pong, b"now".to_vec()));
    }

    /// Sends a few messages of sizes around the buffer's through `rig`, interrupting
    /// each call after every `Output` step and making it again, with writes of `chunk`
    /// bytes: the peer must see each message once, whole.
    fn interrupted_sends<M: Masking>(mut rig: Rig<M>, chunk: usize) {
        rig.chunk = chunk;
        let sizes = [0usize, 1, 125, 126, 300, 5000, 70_000];
        let mut expected = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            // Each step of the call, then "a timeout": the call is made again anew.
            loop {
                match rig.conn.write_message(&mut rig.tx, Message::Binary(&data)).unwrap() {
                    Output::Done => break,
                    Output::Transmit => {
                        let out = rig.conn.poll_transmit(&mut rig.tx);
                        let n = out.len().min(chunk);
                        rig.wire.extend_from_slice(&out[..n]);
                        rig.conn.transmitted(n);
                    }
                    Output::Direct(bytes) => {
                        let n = bytes.len().min(chunk);
                        rig.wire.extend_from_slice(&bytes[..n]);
                        rig.conn.wrote_direct(n);
                    }
                }
            }
            expected.push((true, OpCode::Binary, data));
        }
        assert_eq!(rig.sent(), expected, "chunk {chunk}");
    }

    #[test]
    fn an_interrupted_send_goes_on_where_it_stopped() {
        for chunk in [1, 7, 100, 4096, usize::MAX] {
            interrupted_sends(server(256, 1024), chunk);
            interrupted_sends(client(256, 1024), chunk);
            interrupted_sends(server(256, MIN_BUFFER), chunk);
            interrupted_sends(client(256, MIN_BUFFER), chunk);
        }
    }

    #[test]
    fn a_large_payload_goes_straight_from_the_callers_slice() {
        let mut s = server(256, 8192);
        let data = vec![3u8; 100_000];
        let mut direct = 0;
        loop {
            match s.conn.write_message(&mut s.tx, Message::Binary(&data)).unwrap() {
                Output::Done => break,
                Output::Transmit => s.transmit(),
                Output::Direct(bytes) => {
                    direct += bytes.len().min(10_000);
                    s.wire.extend_from_slice(&bytes[..bytes.len().min(10_000)]);
                    s.conn.wrote_direct(bytes.len().min(10_000));
                }
            }
        }
        // The header went out topped up with the payload's start, most of the rest
        // directly, and a last part that fits the buffer through it.
        assert!(direct >= 100_000 - 4086 - 8192, "{direct}");
        assert_eq!(s.sent(), vec![(true, OpCode::Binary, data)]);
    }

    #[test]
    fn a_different_call_after_an_interruption_is_refused() {
        let mut s = server(256, 256);
        let data = vec![1u8; 1000];
        // Interrupted after its first step.
        let out = s.conn.write_message(&mut s.tx, Message::Binary(&data)).unwrap();
        assert_ne!(out, Output::Done);
        assert!(matches!(
            s.conn.write_message(&mut s.tx, Message::Binary(&data[..10])),
            Err(Error::Send(SendError::NotTheInterruptedCall))
        ));
        assert!(matches!(
            s.conn.write_payload(&mut s.tx, &data),
            Err(Error::Send(SendError::NotTheInterruptedCall))
        ));
        // A ping waits for the frame; the same call again finishes it.
        s.send(Message::Ping(b"p")).unwrap();
        s.send(Message::Binary(&data)).unwrap();
        let sent = s.sent();
        assert_eq!(sent[0], (true, OpCode::Binary, data));
        assert_eq!(sent[1], (true, OpCode::Ping, b"p".to_vec()));
    }

    #[test]
    fn a_send_interrupted_in_its_flush_is_not_sent_twice() {
        let mut s = server(256, 256);
        assert!(s.conn.start_send(5));
        s.send(Message::Text("hello")).unwrap();
        s.conn.send_interrupted(5);
        // The same send again only flushes.
        assert!(!s.conn.start_send(5));
        // Any other send is a new one.
        s.conn.send_interrupted(5);
        assert!(s.conn.start_send(6));
        assert_eq!(s.sent().len(), 1);
    }

    #[test]
    fn frame_lengths_of_2_to_the_63_are_refused() {
        let mut s = server(256, 256);
        assert!(matches!(
            s.run(|c, tx| c.begin_frame(tx, MessageKind::Binary, 1 << 63, true)),
            Err(Error::Send(SendError::FrameTooLong))
        ));
        assert!(s.sent().is_empty());
        assert_eq!(s.conn.frame_remaining(), 0);
    }

    #[test]
    fn relayed_pieces_keep_their_frames() {
        // Frames of 10 (not FIN) and 5 (FIN), received through a small buffer in pieces
        // and relayed: the same two frames go out.
        let mut s = server(MIN_BUFFER, 512);
        let mut bytes = frame(Role::Client, false, OpCode::Binary, &[1; 10]);
        bytes.extend(frame(Role::Client, true, OpCode::Continuation, &[2; 5]));
        for chunk in bytes.chunks(3) {
            let buf = s.conn.read_buffer(&mut s.rx);
            buf[..chunk.len()].copy_from_slice(chunk);
            s.conn.received(chunk.len());
            while let Status::Complete(Event::Data(piece)) =
                s.conn.poll_event(&mut s.rx, &mut s.tx).unwrap()
            {
                loop {
                    match s.conn.relay(&mut s.tx, &piece).unwrap() {
                        Output::Done => break,
                        _ => unreachable!("room enough"),
                    }
                }
            }
        }
        assert_eq!(
            s.sent(),
            vec![
                (false, OpCode::Binary, vec![1; 10]),
                (true, OpCode::Continuation, vec![2; 5]),
            ]
        );
    }

    fn poll_message(r: &mut Rig<NoMask>, buf: &mut [u8]) -> Result<Status<(String, Vec<u8>)>, Error> {
        Ok(match r.conn.poll_message(&mut r.rx, &mut r.tx, buf)? {
            Status::Complete(m) => Status::Complete(match m {
                Message::Text(t) => ("text".into(), t.as_bytes().to_vec()),
                Message::Binary(b) => ("binary".into(), b.to_vec()),
                Message::Ping(b) => ("ping".into(), b.to_vec()),
                Message::Pong(b) => ("pong".into(), b.to_vec()),
                Message::Close(c) => ("close".into(), c.map(|c| c.reason.as_bytes().to_vec()).unwrap_or_default()),
            }),
            Status::Partial => Status::Partial,
        })
    }

    #[test]
    fn whole_messages_are_collected_across_fragments_and_interruptions() {
        let c = Role::Client;
        let mut bytes = frame(c, false, OpCode::Text, "Hé".as_bytes());
        bytes.extend(frame(c, true, OpCode::Ping, b"between"));
        bytes.extend(frame(c, true, OpCode::Continuation, "llo".as_bytes()));
        bytes.extend(frame(c, true, OpCode::Pong, b"after"));
        let mut s = server(MIN_BUFFER, 512);
        let mut buf = [0u8; 200];
        let mut got = Vec::new();
        for chunk in bytes.chunks(5) {
            let room = s.conn.read_buffer(&mut s.rx);
            room[..chunk.len()].copy_from_slice(chunk);
            s.conn.received(chunk.len());
            // Each Partial is where a driver would meet a timeout and call again.
            while let Status::Complete(m) = poll_message(&mut s, &mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                ("text".to_string(), "Héllo".as_bytes().to_vec()),
                ("pong".to_string(), b"after".to_vec()),
            ]
        );
        // The ping between the fragments was answered.
        assert_eq!(s.sent(), vec![(true, OpCode::Pong, b"between".to_vec())]);
    }

    #[test]
    fn a_message_larger_than_the_buffer_fails_with_1009() {
        let mut s = server(256, 256);
        let bytes = peer_frame(Role::Server, OpCode::Binary, &[1; 200]);
        let room = s.conn.read_buffer(&mut s.rx);
        room[..bytes.len()].copy_from_slice(&bytes);
        s.conn.received(bytes.len());
        let mut buf = [0u8; 150];
        assert!(matches!(
            poll_message(&mut s, &mut buf),
            Err(Error::Protocol(ProtocolError::MessageTooBig))
        ));
        assert_eq!(s.sent(), vec![(true, OpCode::Close, 1009u16.to_be_bytes().to_vec())]);
        // A buffer that cannot hold a control frame's payload is refused up front.
        let mut small = server(256, 256);
        assert!(matches!(
            poll_message(&mut small, &mut [0u8; 124]),
            Err(Error::BufferTooSmall)
        ));
    }

    #[test]
    fn a_message_begun_piece_by_piece_is_not_collected() {
        let mut s = server(256, 256);
        let first = frame(Role::Client, false, OpCode::Binary, b"ab");
        assert_eq!(s.feed(&first).unwrap().len(), 1);
        assert!(matches!(
            poll_message(&mut s, &mut [0u8; 200]),
            Err(Error::MessageInProgress)
        ));
        // A header alone hands nothing out: collecting may still start.
        let mut t = server(256, 256);
        let whole = peer_frame(Role::Server, OpCode::Binary, b"xyz");
        let room = t.conn.read_buffer(&mut t.rx);
        room[..6].copy_from_slice(&whole[..6]);
        t.conn.received(6);
        assert_eq!(t.events().unwrap(), vec![]);
        let mut buf = [0u8; 200];
        assert_eq!(poll_message(&mut t, &mut buf).unwrap(), Status::Partial);
        let room = t.conn.read_buffer(&mut t.rx);
        room[..3].copy_from_slice(&whole[6..]);
        t.conn.received(3);
        assert_eq!(
            poll_message(&mut t, &mut buf).unwrap(),
            Status::Complete(("binary".to_string(), b"xyz".to_vec()))
        );
    }

    #[test]
    fn buffered_bytes_from_the_handshake_come_first() {
        let mut s = Rig::new(Connection::new(NoMask), 256, 256);
        let frame = peer_frame(Role::Server, OpCode::Text, b"early");
        s.rx[40..40 + frame.len()].copy_from_slice(&frame);
        s.tx[..4].copy_from_slice(b"101!");
        s.conn = Connection::with_buffered(NoMask, 40..40 + frame.len(), 4);
        assert_eq!(s.events().unwrap(), vec![Ev::Data(MessageKind::Text, true, b"early".to_vec())]);
        s.transmit();
        assert_eq!(s.wire, b"101!");
    }
}
