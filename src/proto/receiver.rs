//! The receiving rules: bytes in, checked frames and message pieces out.

use crate::bytes::part_mut;
use crate::frame::{self, FrameHeader, OpCode};
use crate::utf8::Utf8Validator;
use crate::Status;

use super::{close_code, MessageKind, ProtocolError, Role};

// The data frame being received, in `Receiver::bits`: the payload received so far
// modulo 4 (where the mask key stands) in the high two bits, where adding to it drops
// what carries out, and its FIN bit. (Whether it is masked is the role's: a server's
// input is masked, a client's is not, or the header was refused.)
const FIN: u8 = 1 << 0;
/// Where the phase is in `Receiver::bits`.
const PHASE_SHIFT: u32 = 6;

// The bits of `Receiver::flags`, in the order that measured smallest on Cortex-M0
// (BINARY in bit 0).
/// The open message is binary (text otherwise).
const BINARY: u8 = 1 << 0;
/// The peer's close frame has arrived.
const CLOSED: u8 = 1 << 1;
/// The next piece handed out is its message's first.
const FIRST: u8 = 1 << 2;
/// A data message is open: its first frame's header has arrived, its last frame's
/// payload has not all been handed out.
const OPEN: u8 = 1 << 3;

/// A range of the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A span of nothing.
#[cfg_attr(not(feature = "async"), allow(dead_code))]
pub(crate) const EMPTY_SPAN: Span = Span { start: 0, end: 0 };

impl Span {
    /// The bytes of `buf` in this span, which the receiver's bookkeeping keeps within
    /// `buf`. Out of bounds is a bug: debug builds (and every fuzz build) stop on it; a
    /// release build gets the part of the span that lies within `buf` (clamped: no
    /// checks to branch on, where an empty slice took two).
    // Inlined: clamped, it is a few instructions, fewer than a call's.
    #[inline]
    pub(crate) fn of(self, buf: &[u8]) -> &[u8] {
        debug_assert!(
            self.start <= self.end && self.end <= buf.len(),
            "{self:?} outside {} bytes",
            buf.len()
        );
        let end = self.end.min(buf.len());
        buf.get(self.start.min(end)..end).unwrap_or_default()
    }
}

/// An event whose bytes are given as spans of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawEvent {
    /// A piece of a data message: the last one when its frame is the message's last
    /// (`frame_fin`) and nothing of the frame remains (see [`RawEvent::last`]).
    Data {
        kind: MessageKind,
        first: bool,
        span: Span,
        frame_remaining: u64,
        frame_fin: bool,
    },
    Ping(Span),
    Pong(Span),
    /// The status code (validated) and the reason's bytes (checked to be UTF-8).
    Close(Option<frame::CloseCode>, Span),
}

impl RawEvent {
    /// Whether a data piece ends its message: its frame is the message's last and
    /// nothing of the frame remains.
    #[inline]
    pub(crate) const fn last(frame_fin: bool, frame_remaining: u64) -> bool {
        frame_fin & (frame_remaining == 0)
    }
}

/// What one call of [`Receiver::receive_at`] did: where in the buffer the bytes it has
/// not used start (from the front of the input, `at`, up to the buffer's end), and the
/// event, if one is complete (its spans are offsets into the whole buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) next: usize,
    pub(crate) event: Status<RawEvent>,
}

/// Nothing used from `at` on: more bytes are needed.
const fn need_more(at: usize) -> Received {
    Received {
        next: at,
        event: Status::Partial,
    }
}

/// The receiving half of a connection.
#[derive(Clone, Debug)]
// In this order (repr(C)), the fields a new receiver sets to zero are in short runs
// between those it does not (the limits start at usize::MAX): zeroing a connection then
// takes a few stores, not a call to an eight-byte-aligned memclr that firmware would link
// for it alone.
#[repr(C)]
pub(crate) struct Receiver {
    /// Payload bytes of the data frame being received not yet received; 0 when no
    /// data frame is open.
    remaining: u64,
    /// How many more bytes frame headers may announce for the current message.
    allowance: usize,
    /// That frame's masking key.
    mask: [u8; 4],
    /// The largest message accepted; `usize::MAX` for no limit.
    max_message: usize,
    /// That frame's bits: [`FIN`] and its phase.
    bits: u8,
    /// [`FIRST`] and [`CLOSED`], and the data message in progress, from its first frame
    /// to its last: [`OPEN`] and [`BINARY`].
    flags: u8,
    utf8: Utf8Validator,
}

impl Receiver {
    pub(crate) const fn new() -> Self {
        Receiver {
            remaining: 0,
            mask: [0; 4],
            bits: 0,
            flags: 0,
            utf8: Utf8Validator::new(),
            allowance: usize::MAX,
            max_message: usize::MAX,
        }
    }

    pub(crate) fn set_max_message_size(&mut self, max: usize) {
        self.max_message = max;
        if !self.in_message() {
            self.allowance = max;
        }
    }

    /// Whether the peer's close frame has arrived.
    pub(crate) const fn is_closed(&self) -> bool {
        self.flags & CLOSED != 0
    }

    /// Whether a data message is open (its first frame's header has arrived).
    pub(crate) const fn in_message(&self) -> bool {
        self.flags & OPEN != 0
    }

    /// Whether a data message is open and at least one of its pieces was handed out.
    pub(crate) const fn mid_message(&self) -> bool {
        self.flags & (OPEN | FIRST) == OPEN
    }

    /// [`Receiver::receive_at`] with the input at the start of the buffer.
    #[cfg(test)]
    pub(crate) fn receive(
        &mut self,
        role: Role,
        input: &mut [u8],
    ) -> Result<Received, ProtocolError> {
        self.receive_at(role, input, 0)
    }

    /// Processes bytes from the front of the input, `buf[at..]`, unmasking in place; see
    /// [`super::Connection::poll_event`] for the rules. The event's spans are offsets
    /// into `buf`. An error fails the connection: the input is not looked at again.
    #[inline]
    pub(crate) fn receive_at(
        &mut self,
        role: Role,
        buf: &mut [u8],
        at: usize,
    ) -> Result<Received, ProtocolError> {
        if self.flags & CLOSED != 0 {
            // Whatever arrives after the peer's close is let go: all of it is used.
            return Ok(need_more(buf.len()));
        }
        // The payload starts at the front of the input, or after a header that arrives
        // there: one call of payload for both.
        let start = if self.remaining > 0 {
            at
        } else {
            // `at` is within the buffer (debug builds stop on a bug that breaks it; a
            // release build clamps it, with no check to branch on).
            debug_assert!(at <= buf.len(), "{at} outside {} bytes", buf.len());
            let input = buf.get(at.min(buf.len())..).unwrap_or_default();
            let Status::Complete((header, header_len)) = FrameHeader::parse(input)? else {
                return Ok(need_more(at));
            };
            match (role, header.mask.is_some()) {
                (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
                (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
                _ => {}
            }
            let open = self.in_message();
            if header.opcode.is_control() {
                return self.control(buf, at, header, header_len);
            }
            // A continuation continues an open message; a text or binary frame opens one.
            let continuation = header.opcode == OpCode::Continuation;
            if open && !continuation {
                return Err(ProtocolError::ExpectedContinuation);
            }
            if !open && continuation {
                return Err(ProtocolError::UnexpectedContinuation);
            }
            let allowance = if open {
                self.allowance
            } else {
                self.max_message
            };
            if self.max_message != usize::MAX {
                if header.len > allowance as u64 {
                    return Err(ProtocolError::MessageTooBig);
                }
                // At most the allowance, a usize: neither the cast truncates nor the
                // difference wraps.
                self.allowance = allowance.wrapping_sub(header.len as usize);
            }
            if !open {
                let binary = if header.opcode == OpCode::Binary {
                    BINARY
                } else {
                    0
                };
                self.flags = (self.flags & !BINARY) | OPEN | FIRST | binary;
                // The last text ended on a code point boundary (or the connection failed):
                // the validator is as new.
                debug_assert!(self.utf8.is_complete(), "validator left mid code point");
            }
            self.remaining = header.len;
            self.mask = header.mask.unwrap_or_default();
            self.bits = if header.fin { FIN } else { 0 };
            // The header is within the input: cannot wrap.
            at.wrapping_add(header_len)
        };
        self.payload(role, buf, start)
    }

    /// Hands out the next piece of the current data frame's payload, from `buf[at..]`
    /// (right after its header, when it has just arrived, whose bytes are then used
    /// whether or not any payload follows). Called only with payload still due, or right
    /// after the header: so an empty frame is handed out as an empty piece.
    // Inlined: receive_at has one call, for both (two calls each made a copy, or a call
    // whose result went through memory).
    #[inline]
    fn payload(
        &mut self,
        role: Role,
        buf: &mut [u8],
        at: usize,
    ) -> Result<Received, ProtocolError> {
        // A data message is open: the kind is the open message's.
        let kind = if self.flags & BINARY != 0 {
            MessageKind::Binary
        } else {
            MessageKind::Text
        };
        let input = part_mut(buf, at..);
        let available = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let take = available.min(input.len());
        if take == 0 && self.remaining != 0 {
            // No payload yet: only the header (if any) is used.
            return Ok(need_more(at));
        }
        let chunk = part_mut(input, ..take);
        let phase = self.bits >> PHASE_SHIFT;
        // A server's input is masked, a client's is not (receive_at refused any other
        // header). The role is the connection's constant: firmware that is only a
        // server or only a client keeps one branch.
        if role == Role::Server {
            frame::apply_mask(chunk, self.mask, usize::from(phase));
        }
        // take <= remaining: cannot wrap.
        let remaining = self.remaining.wrapping_sub(take as u64);
        let fin = self.bits & FIN != 0;
        let last = RawEvent::last(fin, remaining);
        self.remaining = remaining;
        // The high two bits count modulo 4: the carry out of them is dropped, and
        // truncating `take` keeps its low bits.
        self.bits = self.bits.wrapping_add((take as u8) << PHASE_SHIFT);
        if last {
            self.allowance = self.max_message;
        }
        let first = self.flags & FIRST != 0;
        // The next piece is not the first; after the last, no message is open.
        self.flags &= !(FIRST | if last { OPEN } else { 0 });
        // Checked after the state is moved on: an error fails the connection, and the
        // receiver is not used again. A text that ends complete leaves the validator as
        // new, ready for the next (and binary messages do not touch it).
        if kind == MessageKind::Text && self.utf8.feed_piece(chunk, last).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        // Within the buffer: cannot wrap.
        let end = at.wrapping_add(take);
        Ok(Received {
            next: end,
            event: Status::Complete(RawEvent::Data {
                kind,
                first,
                span: Span { start: at, end },
                frame_remaining: remaining,
                frame_fin: fin,
            }),
        })
    }

    #[inline]
    fn control(
        &mut self,
        buf: &mut [u8],
        at: usize,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<Received, ProtocolError> {
        // The header parser has bounded control payloads to 125 bytes, a header is at
        // most 14, and `at` is within the buffer: the sums cannot wrap.
        let start = at.wrapping_add(header_len);
        let end = start.wrapping_add(header.len as usize);
        let Some(payload) = buf.get_mut(start..end) else {
            return Ok(need_more(at));
        };
        if let Some(key) = header.mask {
            frame::apply_mask(payload, key, 0);
        }
        let span = Span { start, end };
        let event = match header.opcode {
            OpCode::Ping => RawEvent::Ping(span),
            OpCode::Pong => RawEvent::Pong(span),
            _ => {
                let code = close_code(payload)?;
                self.flags |= CLOSED;
                // The reason follows a code's two bytes; without a code, there are none.
                let reason = Span {
                    start: if code.is_some() {
                        start.wrapping_add(2)
                    } else {
                        end
                    },
                    end,
                };
                RawEvent::Close(code, reason)
            }
        };
        Ok(Received {
            next: end,
            event: Status::Complete(event),
        })
    }
}

#[cfg(test)]
mod tests;
