//! The sending rules: which header each outgoing frame gets, and the payload still owed
//! by the data frame being sent.

use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};

use super::{CloseFrame, MessageKind, SendError, MAX_CLOSE_REASON};

/// The sending half of a connection.
///
/// A data frame is open from its header ([`Sender::data`]) until all the payload its
/// header announced has been accounted for with [`Sender::payload`].
#[derive(Clone, Debug)]
pub(crate) struct Sender {
    /// Payload bytes the open data frame still owes (0: no frame open).
    remaining: u64,
    /// The open frame's masking key (a client's).
    key: [u8; 4],
    /// The type of the fragmented message being sent, if one is open.
    message: Option<MessageKind>,
    /// The open frame's payload sent so far, modulo 4: a client's frames only (it is
    /// reset with each key; a server's frames, never masked, leave it meaningless).
    phase: u8,
}

impl Sender {
    pub(crate) const fn new() -> Self {
        Sender {
            remaining: 0,
            key: [0; 4],
            message: None,
            phase: 0,
        }
    }

    /// Payload bytes the open data frame still owes; 0 when no frame is open.
    #[inline]
    pub(crate) const fn frame_remaining(&self) -> u64 {
        self.remaining
    }

    /// The header of the next frame of a data message, carrying `len` payload bytes: the
    /// message's first frame if none is open, else a continuation; `last` ends the
    /// message. The frame stays open until its `len` bytes have gone through
    /// [`Sender::payload`]. The caller has checked that no frame is open.
    #[inline]
    pub(crate) fn data(
        &mut self,
        kind: MessageKind,
        last: bool,
        len: u64,
        mask: Option<[u8; 4]>,
    ) -> Result<FrameHeader, SendError> {
        debug_assert_eq!(self.remaining, 0, "a frame is open");
        if len >> 63 != 0 {
            return Err(SendError::FrameTooLong);
        }
        let opcode = match self.message {
            None => kind.opcode(),
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::KindMismatch),
        };
        self.message = if last { None } else { Some(kind) };
        self.remaining = len;
        // A client's frames each have a key; a server's never have one (its key stays
        // all zeros, and its offset is not used).
        if let Some(key) = mask {
            self.key = key;
            self.phase = 0;
        }
        Ok(FrameHeader {
            fin: last,
            opcode,
            mask,
            len,
        })
    }

    /// Accounts for the next `len` payload bytes of the open data frame. Returns the
    /// masking key and the bytes' offset into the payload modulo 4 (for a server's
    /// frame, the key is all zeros and the offset means nothing). More than the frame
    /// still owes is refused, and nothing is counted.
    #[inline]
    pub(crate) fn payload(&mut self, len: usize) -> Result<([u8; 4], usize), SendError> {
        self.count(len)?;
        let offset = usize::from(self.phase);
        // Truncating `len` keeps its low two bits, all that counts modulo 4.
        self.phase = self.phase.wrapping_add(len as u8) & 3;
        Ok((self.key, offset))
    }

    /// [`Sender::payload`] for a server's frame, which is not masked: only the count,
    /// the masking key and offset left as they are.
    #[inline]
    pub(crate) fn count(&mut self, len: usize) -> Result<(), SendError> {
        let len64 = len as u64;
        if len64 > self.remaining {
            return Err(SendError::PayloadTooLong);
        }
        // Checked just above: cannot wrap.
        self.remaining = self.remaining.wrapping_sub(len64);
        Ok(())
    }
}

/// A close frame's payload in two parts, the status code's two bytes (none when the
/// frame carries no code) and the reason, once checked: a code allowed on the wire, a
/// reason of at most 123 bytes.
pub(crate) fn close_payload(close: Option<CloseFrame<'_>>) -> Result<([u8; 2], &[u8]), SendError> {
    match close {
        None => Ok(([0; 2], &[])),
        Some(CloseFrame { code, reason }) => {
            if !code.is_valid_on_wire() {
                Err(SendError::InvalidCloseCode)
            } else if reason.len() > MAX_CLOSE_REASON {
                Err(SendError::ControlTooLong)
            } else {
                Ok((code.0.to_be_bytes(), reason.as_bytes()))
            }
        }
    }
}

/// Checks a ping's or pong's payload: at most 125 bytes.
pub(crate) const fn check_ping(payload: &[u8]) -> Result<(), SendError> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        Err(SendError::ControlTooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CloseCode;
    use std::prelude::rust_2021::*;
    use std::vec;

    #[test]
    fn a_frame_stays_open_until_its_payload_is_counted() {
        let mut tx = Sender::new();
        let h = tx
            .data(MessageKind::Binary, true, 10, Some([9, 8, 7, 6]))
            .unwrap();
        assert_eq!((h.len, h.fin, h.mask), (10, true, Some([9, 8, 7, 6])));
        assert_eq!(tx.frame_remaining(), 10);
        // The payload in pieces: each told where it stands against the key.
        let key = [9, 8, 7, 6];
        assert_eq!(tx.payload(3), Ok((key, 0)));
        assert_eq!(tx.payload(0), Ok((key, 3)));
        assert_eq!(tx.payload(2), Ok((key, 3)));
        assert_eq!(tx.frame_remaining(), 5);
        // More than the frame owes is refused, and nothing is counted.
        assert_eq!(tx.payload(6), Err(SendError::PayloadTooLong));
        assert_eq!(tx.frame_remaining(), 5);
        assert_eq!(tx.payload(5), Ok((key, 1)));
        assert_eq!(tx.frame_remaining(), 0);
        assert_eq!(tx.payload(1), Err(SendError::PayloadTooLong));
        // A frame larger than 4 GiB is counted in 64 bits.
        let mut server = Sender::new();
        server
            .data(MessageKind::Binary, true, 5 << 30, None)
            .unwrap();
        assert_eq!(server.payload(1 << 30), Ok(([0; 4], 0)));
        assert_eq!(server.frame_remaining(), (5 << 30) - (1 << 30));
        // A server's payload only counted: the same refusal, and no offset kept.
        assert_eq!(server.count(3), Ok(()));
        assert_eq!(server.frame_remaining(), (4 << 30) - 3);
        assert_eq!(server.count(4 << 30), Err(SendError::PayloadTooLong));
        assert_eq!(server.frame_remaining(), (4 << 30) - 3);
        assert_eq!(server.payload(0), Ok(([0; 4], 0)));
    }

    #[test]
    fn headers_follow_the_message_sequence() {
        let mut tx = Sender::new();
        let h = tx.data(MessageKind::Text, false, 3, None).unwrap();
        assert_eq!((h.opcode, h.fin, h.mask), (OpCode::Text, false, None));
        tx.payload(3).unwrap();
        assert_eq!(
            tx.data(MessageKind::Binary, true, 1, None),
            Err(SendError::KindMismatch)
        );
        let h = tx.data(MessageKind::Text, false, 3, None).unwrap();
        assert_eq!((h.opcode, h.fin), (OpCode::Continuation, false));
        tx.payload(3).unwrap();
        let h = tx.data(MessageKind::Text, true, 0, None).unwrap();
        assert_eq!((h.opcode, h.fin), (OpCode::Continuation, true));
        let h = tx.data(MessageKind::Binary, true, 0, None).unwrap();
        assert_eq!((h.opcode, h.fin), (OpCode::Binary, true));
    }

    #[test]
    fn no_header_for_a_length_of_2_to_the_63() {
        let mut tx = Sender::new();
        assert_eq!(
            tx.data(MessageKind::Binary, true, 1 << 63, None),
            Err(SendError::FrameTooLong)
        );
        assert_eq!(tx.frame_remaining(), 0);
        let h = tx
            .data(MessageKind::Binary, true, (1 << 63) - 1, None)
            .unwrap();
        assert_eq!(
            h.emit().as_bytes()[2..10],
            [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn control_payloads_are_checked() {
        let close = |code: u16, reason: &str| {
            close_payload(Some(CloseFrame {
                code: CloseCode(code),
                reason,
            }))
            .map(|(code, reason)| [&code[..], reason].concat())
        };
        let long = "x".repeat(124);
        assert_eq!(close(1000, "ok"), Ok(vec![0x03, 0xE8, b'o', b'k']));
        assert_eq!(close(1005, ""), Err(SendError::InvalidCloseCode));
        assert_eq!(close(1000, &long), Err(SendError::ControlTooLong));
        assert_eq!(close(4999, &long[..123]).map(|p| p.len()), Ok(125));
        assert_eq!(check_ping(&[1; 125]), Ok(()));
        assert_eq!(check_ping(&[1; 126]), Err(SendError::ControlTooLong));
    }
}
