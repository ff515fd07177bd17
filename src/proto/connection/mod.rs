//! The connection: one state machine that owns every protocol rule, over two buffers
//! the caller keeps. It has two sides: `inbound` (received bytes, events, whole
//! messages) and `outbound` (the transmit buffer, in `transmit`, and the application's
//! sends, in `send`). What the receiving side owes the peer (a pong, the close echo,
//! the close that fails the connection) goes to the sending side through [`Answers`];
//! connection halves used from two tasks pass it through shared state instead.

use core::ops::Range;

use crate::bytes::part;
use crate::frame::{self, CloseCode, MAX_CONTROL_PAYLOAD};
use crate::{Error, Status};

use super::receiver::RawEvent;
use super::{CloseFrame, Event, Masking, Message, MessageKind, Piece};

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
// (Bit 2 is free: a failure inside one of our frames needs no flag of its own, see
// `Outbound::fail`.)
/// The transport failed or ended: nothing more goes in or out.
const BROKEN: u16 = 1 << 3;
/// The open frame was started by a call that writes it whole and has not finished.
const WHOLE: u16 = 1 << 4;
/// A call writing payload into the open frame has not finished.
const PIECE: u16 = 1 << 5;
/// A send's flush was interrupted; `resume` holds the message's length.
const UNFLUSHED: u16 = 1 << 6;
/// A pong is owed behind the open frame; its payload (`Outbound::pong` bytes) waits at
/// the end of the transmit buffer, just before the waiting control frame's.
const PONG_OWED: u16 = 1 << 7;
/// Bytes were written since the transport was last flushed: a transport that holds what
/// it is given (a TLS record layer, a buffered writer) is owed a flush.
const FLUSH_OWED: u16 = 1 << 8;
/// Where the opcode of the control frame waiting behind the open frame (a ping or pong
/// of the application's, or a close) is kept in the flags: bits 12 to 15, 0 when none
/// waits (a continuation never waits). Its payload (`Outbound::waiting` bytes) is at
/// the very end of the transmit buffer.
const WAITING_SHIFT: u32 = 12;

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
    inbound: Inbound,
    outbound: Outbound<M>,
}

/// Where the receiving side puts what it owes the peer. The sending side of the same
/// connection takes it into its transmit buffer ([`Local`]); halves of a connection
/// used from two tasks pass it through shared state.
pub(crate) trait Answers {
    /// Whether any answer a frame may call for can be taken now. If not, the output
    /// must be written out before more received bytes are looked at.
    fn ready(&mut self) -> bool;
    /// A ping arrived: answer it with its payload (unless our close has gone).
    fn pong(&mut self, payload: &[u8]);
    /// The peer closed: echo its status code (unless our close has gone).
    fn echo_close(&mut self, code: Option<CloseCode>);
    /// The peer broke the protocol: fail the connection with `code`.
    fn fail(&mut self, code: CloseCode);
    /// Whether the connection failed, or its transport ended or failed.
    fn is_down(&self) -> bool;
}

/// The sending side and its transmit buffer, taking the receiving side's answers.
pub(crate) struct Local<'a, M> {
    pub(crate) out: &'a mut Outbound<M>,
    pub(crate) tx: &'a mut [u8],
}

impl<M: Masking> Answers for Local<'_, M> {
    #[inline]
    fn ready(&mut self) -> bool {
        self.out.room_for_answers(self.tx)
    }

    fn pong(&mut self, payload: &[u8]) {
        if self.out.flags & CLOSE_SENT == 0 {
            self.out.owe_pong(self.tx, payload);
        }
    }

    fn echo_close(&mut self, code: Option<CloseCode>) {
        self.out.owe_close(self.tx, code);
    }

    fn fail(&mut self, code: CloseCode) {
        self.out.fail(self.tx, code);
    }

    #[inline]
    fn is_down(&self) -> bool {
        self.out.flags & (FAILED | BROKEN) != 0
    }
}

impl<M: Masking> Connection<M> {
    /// A connection with empty buffers.
    pub const fn new(masks: M) -> Self {
        Connection {
            inbound: Inbound::new(),
            outbound: Outbound::new(masks, 0),
        }
    }

    /// A connection whose buffers already hold bytes: received ones at `rx[received]`
    /// (frames that came with the handshake) and, at `tx[..queued]`, ones to send
    /// first (the handshake's response).
    pub fn with_buffered(masks: M, received: Range<usize>, queued: usize) -> Self {
        Connection {
            inbound: Inbound::with_received(received),
            outbound: Outbound::new(masks, queued),
        }
    }

    /// [`Connection::with_buffered`] for a receive buffer of `rx_len` bytes and a
    /// transmit buffer of `tx_len`, checked: each holds at least [`MIN_BUFFER`] bytes,
    /// `received` lies within the first and `queued` within the second
    /// ([`Error::BufferTooSmall`] otherwise). What the drivers' constructors call.
    pub fn for_buffers(
        masks: M,
        rx_len: usize,
        received: Range<usize>,
        tx_len: usize,
        queued: usize,
    ) -> Result<Self, Error> {
        if rx_len < MIN_BUFFER
            || tx_len < MIN_BUFFER
            || received.end > rx_len
            || received.start > received.end
            || queued > tx_len
        {
            return Err(Error::BufferTooSmall);
        }
        Ok(Self::with_buffered(masks, received, queued))
    }

    /// The connection's two sides, for halves used from two tasks.
    #[cfg(any(feature = "async", test))]
    pub(crate) fn into_sides(self) -> (Inbound, Outbound<M>) {
        (self.inbound, self.outbound)
    }

    /// The connection's two sides, for a driver that drives them one by one.
    #[cfg(feature = "async")]
    pub(crate) fn sides(&mut self) -> (&mut Inbound, &mut Outbound<M>) {
        (&mut self.inbound, &mut self.outbound)
    }

    /// This end's role.
    pub const fn role(&self) -> super::Role {
        M::ROLE
    }

    /// Limits the size of a received data message, all its frames together: a frame
    /// header that would take a message past `max` bytes fails the connection with
    /// 1009 before any of its payload is read. Unlimited by default.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.inbound.receiver.set_max_message_size(max);
    }

    /// Whether nothing more can arrive: the peer's close has been received, the
    /// connection failed, or its transport ended or failed.
    pub fn is_closed(&self) -> bool {
        self.outbound.is_down() || self.inbound.received_close()
    }

    /// Whether the transport ended or failed: nothing more goes in or out.
    pub const fn transport_ended(&self) -> bool {
        self.outbound.is_broken()
    }

    /// Whether the peer's close frame has arrived.
    pub const fn received_close(&self) -> bool {
        self.inbound.received_close()
    }

    /// Whether our close frame is queued (or waiting behind the open frame): no new
    /// frame can be sent.
    pub const fn close_sent(&self) -> bool {
        self.outbound.close_sent()
    }

    /// Payload bytes the frame being sent still owes; 0 when no frame is open.
    pub const fn frame_remaining(&self) -> u64 {
        self.outbound.frame_remaining()
    }

    /// The masking source.
    pub fn masks(&mut self) -> &mut M {
        &mut self.outbound.masks
    }

    // ---------------------------------------------------------------- receiving

    /// Where the driver reads new bytes into: the free end of `rx`. Received bytes are
    /// moved to the front first when the buffer is full.
    pub fn read_buffer<'r>(&mut self, rx: &'r mut [u8]) -> &'r mut [u8] {
        self.inbound.read_buffer(rx)
    }

    /// `n` bytes were read into [`Connection::read_buffer`].
    pub fn received(&mut self, n: usize) {
        self.inbound.received(n);
    }

    /// The transport ended (a read returned 0): nothing more arrives or goes out. The
    /// driver reports it as the connection's abnormal end (close code 1006).
    pub fn received_eof(&mut self) {
        self.outbound.transport_failed();
    }

    /// The transport failed for good (reset, broken pipe): nothing more goes in or
    /// out. A timeout is not a failure: the call it interrupted is made again.
    pub fn transport_failed(&mut self) {
        self.outbound.transport_failed();
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
        let mut answers = Local {
            out: &mut self.outbound,
            tx,
        };
        self.inbound.poll_message(M::ROLE, rx, &mut answers, buf)
    }

    /// [`Connection::poll_event`], with the event's bytes given as offsets into `rx`
    /// (a whole message an interrupted [`Connection::poll_message`] was collecting is
    /// given up: its rest comes as pieces).
    #[inline]
    pub(crate) fn poll_raw(
        &mut self,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<Status<RawEvent>, Error> {
        let mut answers = Local {
            out: &mut self.outbound,
            tx,
        };
        self.inbound.poll_event(M::ROLE, rx, &mut answers)
    }

    // ---------------------------------------------------------------- transmitting

    /// The bytes to write out now. Control frames waiting for a frame just completed
    /// are queued first.
    pub fn poll_transmit<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        self.outbound.poll_transmit(tx)
    }

    /// [`Connection::poll_transmit`] where the transport is known to be up: after a send
    /// call that returned [`Output::Transmit`] (every one checks it first), or a check of
    /// [`Connection::transport_ended`].
    pub(crate) fn output<'t>(&mut self, tx: &'t mut [u8]) -> &'t [u8] {
        self.outbound.output(tx)
    }

    /// Whether there are bytes to write out.
    pub const fn wants_transmit(&self) -> bool {
        self.outbound.wants_transmit()
    }

    /// Whether the transmit buffer holds output: [`Connection::wants_transmit`] where the
    /// transport is known to be up (after [`Status::Partial`], which comes only then).
    pub(crate) const fn has_output(&self) -> bool {
        self.outbound.has_output()
    }

    /// Whether bytes were written since the transport was last flushed: a driver
    /// flushes its transport before it waits for the peer, until it reports
    /// [`Connection::flushed`].
    pub const fn wants_flush(&self) -> bool {
        self.outbound.flags & FLUSH_OWED != 0
    }

    /// The transport was flushed after everything [`Connection::poll_transmit`] gave.
    pub fn flushed(&mut self) {
        self.outbound.flushed();
    }

    /// `n` bytes of [`Connection::poll_transmit`]'s were written.
    pub fn transmitted(&mut self, n: usize) {
        self.outbound.transmitted(n);
    }

    /// `n` bytes of an [`Output::Direct`]'s were written.
    pub fn wrote_direct(&mut self, n: usize) {
        self.outbound.wrote_direct(n);
    }

    // ---------------------------------------------------------------- sending

    /// Encodes `message` whole: a text or binary message as one frame, or a control
    /// frame. A ping, pong or close asked for while a frame is open waits for the
    /// frame, at the end of the transmit buffer, if that leaves room for a pong the
    /// peer may be owed meanwhile ([`SendError::FrameOpen`] otherwise). One such frame
    /// waits at a time: a second replaces the first (the application's latest ping is
    /// the one sent). A close when ours is already on its way is [`Output::Done`] at
    /// once.
    ///
    /// [`SendError::FrameOpen`]: super::SendError::FrameOpen
    #[inline]
    pub fn write_message<'d>(
        &mut self,
        tx: &mut [u8],
        message: Message<'d>,
    ) -> Result<Output<'d>, Error> {
        self.outbound.write_message(tx, message)
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
        self.outbound.write_frame(tx, kind, data, last)
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
        self.outbound.begin_frame(tx, kind, len, last)
    }

    /// Encodes the next bytes of the frame started by [`Connection::begin_frame`]; more
    /// than the frame still owes is [`super::SendError::PayloadTooLong`], and nothing is
    /// sent.
    #[inline]
    pub fn write_payload<'d>(
        &mut self,
        tx: &mut [u8],
        data: &'d [u8],
    ) -> Result<Output<'d>, Error> {
        self.outbound.write_payload(tx, data)
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in: the piece that finds no frame of ours open starts one, and every piece
    /// goes on as its payload. A relay or an echo, frame for frame.
    #[inline]
    pub fn relay<'d>(&mut self, tx: &mut [u8], piece: &Piece<'d>) -> Result<Output<'d>, Error> {
        self.outbound.relay(tx, piece)
    }

    /// Starts a send (a write and a flush) of `message`: `false` when it is the send
    /// whose flush a timeout interrupted, which only needs the flush.
    pub(crate) fn start_send(&mut self, message: &Message<'_>) -> bool {
        self.outbound.start_send(message)
    }

    /// The flush of a send of `message` was interrupted: the next send of it only
    /// flushes.
    pub(crate) fn send_interrupted(&mut self, message: &Message<'_>) {
        self.outbound.send_interrupted(message);
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
                span,
                frame_remaining,
                frame_fin,
            } => Event::Data(Piece {
                kind,
                first,
                last: RawEvent::last(frame_fin, frame_remaining),
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
        let bytes = |len: usize| part(buf, ..len);
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

mod inbound;
mod outbound;
mod send;
mod shared;
#[cfg(test)]
mod tests;
mod transmit;

pub(crate) use inbound::Inbound;
pub(crate) use outbound::Outbound;
pub use shared::{Owed, Shared};
