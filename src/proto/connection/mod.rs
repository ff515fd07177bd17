//! The connection: one state machine that owns every protocol rule, over two buffers
//! the caller keeps. This file holds its state and the receiving side; `transmit` the
//! transmit buffer (output, and control frames waiting behind an open frame); `send`
//! the application's sends.

use core::ops::Range;

use crate::bytes::move_bytes;
use crate::frame::{self, OpCode, MAX_CONTROL_PAYLOAD};
use crate::{Error, Status};

use super::receiver::{RawEvent, Receiver};
use super::sender::Sender;
use super::{CloseFrame, Event, Masking, Message, MessageKind, Piece, ProtocolError};

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

    /// Where the driver reads new bytes into: the free end of `rx`. Received bytes are
    /// moved to the front first when the buffer is full.
    pub fn read_buffer<'r>(&mut self, rx: &'r mut [u8]) -> &'r mut [u8] {
        if self.rx_end >= rx.len() && self.rx_start > 0 {
            move_bytes(rx, self.rx_start..self.rx_end, 0);
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
        // before it is written, read nothing more.
        if !self.make_room(tx, RESERVE.saturating_add(usize::from(self.pong))) {
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
        let end = tx
            .len()
            .saturating_sub(usize::from(self.waiting).saturating_sub(1));
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

mod send;
#[cfg(test)]
mod tests;
mod transmit;
