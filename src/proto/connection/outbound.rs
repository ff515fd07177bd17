//! The sending side's state: the sender, the transmit buffer's output, the progress of
//! an interrupted call, and the control frames waiting behind an open frame.

use super::{BROKEN, CLOSE_SENT, FAILED};
use crate::proto::sender::Sender;
use crate::proto::Masking;

/// The sending side of a connection.
#[derive(Clone, Debug)]
pub(crate) struct Outbound<M> {
    pub(super) sender: Sender,
    /// Bytes to write out: `tx[tx_start..tx_end]`. Both are 0 when it is empty.
    pub(super) tx_start: usize,
    pub(super) tx_end: usize,
    /// Bytes of the interrupted call's data already taken ([`super::WHOLE`],
    /// [`super::PIECE`]), or the length of the message whose send was interrupted in its
    /// flush ([`super::UNFLUSHED`]).
    pub(super) resume: usize,
    /// The payload length of the pong owed behind the open frame ([`super::PONG_OWED`];
    /// 0 when none is). Its payload sits just before the waiting control frame's, at the
    /// end of `tx`.
    pub(super) pong: u8,
    /// The payload length of a control frame waiting behind the open frame (0 when none
    /// is, see [`super::WAITING_SHIFT`]), at the very end of `tx`: a ping or pong of the
    /// application's, or a close.
    pub(super) waiting: u8,
    pub(super) flags: u16,
    pub(super) masks: M,
}

impl<M: Masking> Outbound<M> {
    /// With `queued` bytes already in the transmit buffer.
    pub(crate) const fn new(masks: M, queued: usize) -> Self {
        Outbound {
            sender: Sender::new(),
            tx_start: 0,
            tx_end: queued,
            resume: 0,
            pong: 0,
            waiting: 0,
            flags: 0,
            masks,
        }
    }

    /// Whether the connection failed, or its transport ended or failed.
    pub(crate) const fn is_down(&self) -> bool {
        self.flags & (FAILED | BROKEN) != 0
    }

    /// Whether the transport ended or failed.
    pub(crate) const fn is_broken(&self) -> bool {
        self.flags & BROKEN != 0
    }

    /// Whether our close frame is queued (or waiting behind the open frame).
    pub(crate) const fn close_sent(&self) -> bool {
        self.flags & CLOSE_SENT != 0
    }

    /// Payload bytes the frame being sent still owes; 0 when no frame is open.
    pub(crate) const fn frame_remaining(&self) -> u64 {
        self.sender.frame_remaining()
    }

    /// The transport failed for good, or ended: nothing more goes out.
    pub(crate) fn transport_failed(&mut self) {
        self.flags |= BROKEN;
    }
}
