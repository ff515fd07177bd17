//! The receiving side: the received bytes, the receiver's state, and whole messages
//! being collected. The answers an event calls for go to an [`Answers`].

use super::{copy_control, Answers, RawMessage};
use crate::bytes::{move_bytes, part_mut};
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::proto::receiver::{RawEvent, Receiver};
use crate::proto::{MessageKind, ProtocolError, Role};
use crate::{Error, Status};

/// The receiving side of a connection.
#[derive(Clone, Debug)]
pub(crate) struct Inbound {
    pub(super) receiver: Receiver,
    /// Received bytes not yet consumed: `rx[start..end]`.
    start: usize,
    end: usize,
    /// Bytes of the message [`Inbound::poll_message`] has collected, or
    /// [`NOT_COLLECTING`] when no whole message is being collected.
    collected: usize,
}

/// [`Inbound::collected`] when no whole message is being collected (no buffer holds
/// that many bytes).
const NOT_COLLECTING: usize = usize::MAX;

impl Inbound {
    pub(crate) const fn new() -> Self {
        Inbound {
            receiver: Receiver::new(),
            start: 0,
            end: 0,
            collected: NOT_COLLECTING,
        }
    }

    /// Bytes already received, at `rx[received]`.
    pub(crate) fn with_received(received: core::ops::Range<usize>) -> Self {
        let mut inbound = Self::new();
        if !received.is_empty() {
            inbound.start = received.start;
            inbound.end = received.end;
        }
        inbound
    }

    /// Where the driver reads new bytes into: the free end of `rx`. Received bytes are
    /// moved to the front first when the buffer is full.
    pub(crate) fn read_buffer<'r>(&mut self, rx: &'r mut [u8]) -> &'r mut [u8] {
        if self.end >= rx.len() && self.start > 0 {
            move_bytes(rx, self.start..self.end, 0);
            // start <= end: cannot wrap.
            self.end = self.end.wrapping_sub(self.start);
            self.start = 0;
        }
        part_mut(rx, self.end..)
    }

    /// Whether the peer's close has arrived.
    pub(crate) const fn received_close(&self) -> bool {
        self.receiver.is_closed()
    }

    /// `n` bytes were read into [`Inbound::read_buffer`].
    pub(crate) fn received(&mut self, n: usize) {
        // At most the free end's length (a transport reads no more than it is given), in
        // memory with the rest of the buffer: the sum cannot wrap.
        self.end = self.end.wrapping_add(n);
    }

    /// The receiver has used the received bytes up to `next` (from the front of its
    /// input, at most all of them).
    // Out of line on microcontrollers: one copy for every kind of event.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn used_to(&mut self, next: usize) {
        (self.start, self.end) = if next < self.end {
            (next, self.end)
        } else {
            // Empty: new bytes go to the front (the event's bytes stay where they are
            // until the next read).
            (0, 0)
        };
    }

    /// See [`super::Connection::poll_message`].
    pub(crate) fn poll_message(
        &mut self,
        role: Role,
        rx: &mut [u8],
        answers: &mut impl Answers,
        buf: &mut [u8],
    ) -> Result<Status<RawMessage>, Error> {
        if buf.len() < MAX_CONTROL_PAYLOAD {
            return Err(Error::BufferTooSmall);
        }
        if self.collected == NOT_COLLECTING {
            if self.receiver.mid_message() && !answers.is_down() && !self.receiver.is_closed() {
                return Err(Error::MessageInProgress);
            }
            self.collected = 0;
        }
        let message = self.collect(role, rx, answers, buf);
        if !matches!(message, Ok(Status::Partial)) {
            self.collected = NOT_COLLECTING;
        }
        message
    }

    fn collect(
        &mut self,
        role: Role,
        rx: &mut [u8],
        answers: &mut impl Answers,
        buf: &mut [u8],
    ) -> Result<Status<RawMessage>, Error> {
        loop {
            let Status::Complete(raw) = self.poll_raw(role, rx, answers)? else {
                return Ok(Status::Partial);
            };
            let (message, span) = match raw {
                RawEvent::Data {
                    kind,
                    span,
                    frame_remaining,
                    frame_fin,
                    ..
                } => {
                    let piece = span.of(rx);
                    // Within `buf` and `rx`: the sum cannot wrap.
                    let end = self.collected.wrapping_add(piece.len());
                    let Some(dst) = buf.get_mut(self.collected..end) else {
                        let error = ProtocolError::MessageTooBig;
                        answers.fail(error.close_code());
                        return Err(Error::Protocol(error));
                    };
                    dst.copy_from_slice(piece);
                    self.collected = end;
                    if !RawEvent::last(frame_fin, frame_remaining) {
                        continue;
                    }
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
                    return Ok(Status::Complete(RawMessage::CloseWith(code, len)));
                }
            };
            return Ok(Status::Complete(message(copy_control(span.of(rx), buf))));
        }
    }

    /// The next event for `read`: a whole message being collected by an interrupted
    /// [`Inbound::poll_message`] is given up (its rest comes as pieces).
    #[inline]
    pub(crate) fn poll_event(
        &mut self,
        role: Role,
        rx: &mut [u8],
        answers: &mut impl Answers,
    ) -> Result<Status<RawEvent>, Error> {
        self.collected = NOT_COLLECTING;
        self.poll_raw(role, rx, answers)
    }

    /// Runs the receiver over the received bytes and hands the answers the event calls
    /// for to `answers`; the event's spans are offsets into `rx`.
    #[inline]
    fn poll_raw(
        &mut self,
        role: Role,
        rx: &mut [u8],
        answers: &mut impl Answers,
    ) -> Result<Status<RawEvent>, Error> {
        if answers.is_down() || self.receiver.is_closed() {
            return Err(Error::Closed);
        }
        // Any answer the next frame may call for must be possible; until it is (until
        // the output before it is written), read nothing more.
        if !answers.ready() {
            return Ok(Status::Partial);
        }
        let start = self.start;
        let received = match self
            .receiver
            .receive_at(role, part_mut(rx, ..self.end), start)
        {
            Ok(r) => r,
            Err(e) => {
                answers.fail(e.close_code());
                return Err(Error::Protocol(e));
            }
        };
        self.used_to(received.next);
        let Status::Complete(event) = received.event else {
            if self.start == 0 && self.end >= rx.len() {
                // A full buffer that makes no event: cannot happen with MIN_BUFFER bytes
                // (a control frame fits, and data is handed out in pieces).
                debug_assert!(false, "receive buffer full without progress");
                let error = ProtocolError::MessageTooBig;
                answers.fail(error.close_code());
                return Err(Error::Protocol(error));
            }
            return Ok(Status::Partial);
        };
        match event {
            RawEvent::Ping(span) => answers.pong(span.of(rx)),
            RawEvent::Close(code, _) => answers.echo_close(code),
            _ => {}
        }
        Ok(Status::Complete(event))
    }
}
