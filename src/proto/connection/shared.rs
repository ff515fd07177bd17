//! What a connection's receiving half owes the peer, on its way to the sending half when
//! the two are used from two tasks.

use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::{Answers, Outbound};
use crate::bytes::part;
use crate::frame::{CloseCode, MAX_CONTROL_PAYLOAD};
use crate::proto::Masking;

// Shared flags.
/// A pong is owed; its payload is in `pong`.
const PONG: u8 = 1 << 0;
/// The echo of the peer's close is owed, with `code` (0: a close without one).
const ECHO: u8 = 1 << 1;
/// The peer broke the protocol: the connection fails with `code`.
const FAILED: u8 = 1 << 2;
/// A transport (either half's) ended or failed.
const BROKEN: u8 = 1 << 3;
/// The sending half has queued our close: pings are no longer answered.
const CLOSE_SENT: u8 = 1 << 4;
/// The sending half has taken the failure in.
const FAIL_TAKEN: u8 = 1 << 5;
/// The peer's close has arrived: nothing more will.
const PEER_CLOSED: u8 = 1 << 6;
/// The sending half has output waiting from before the split (a handshake response).
const OUTPUT: u8 = 1 << 7;

/// The small piece of state between the two halves of a connection split across tasks
/// (see `asynch::WebSocket::split`): what the receiving half owes the peer (a pong, the
/// echo of its close, the close that fails the connection) waits here until the sending
/// half takes it into its transmit buffer, and whether either half's transport ended.
///
/// It holds no buffer of the connection's, only the latest ping's payload (125 bytes at
/// most), and allocates nothing. It is not `Sync`: both halves run on one executor
/// (one thread), as embassy's tasks do, or tokio's on a `LocalSet`.
pub struct Shared {
    flags: Cell<u8>,
    code: Cell<u16>,
    pong_len: Cell<u8>,
    pong: Cell<[u8; MAX_CONTROL_PAYLOAD]>,
    /// The sending half's task, waiting in [`Shared::owed`].
    waker: Cell<Option<Waker>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("flags", &self.flags.get())
            .field("code", &self.code.get())
            .field("pong_len", &self.pong_len.get())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Nothing owed yet.
    pub const fn new() -> Self {
        Shared {
            flags: Cell::new(0),
            code: Cell::new(0),
            pong_len: Cell::new(0),
            pong: Cell::new([0; MAX_CONTROL_PAYLOAD]),
            waker: Cell::new(None),
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags.get() & flag != 0
    }

    fn set(&self, flag: u8) {
        self.flags.set(self.flags.get() | flag);
    }

    fn clear(&self, flag: u8) {
        self.flags.set(self.flags.get() & !flag);
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Whether the sending half has something to send for the receiving half (or
    /// output from before the split, such as the handshake's response).
    pub fn is_owed(&self) -> bool {
        let flags = self.flags.get();
        flags & (PONG | ECHO | OUTPUT) != 0 || flags & (FAILED | FAIL_TAKEN) == FAILED
    }

    /// The sending half starts with output waiting: it is owed a flush.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn output_waiting(&self) {
        self.set(OUTPUT);
    }

    /// Whether the connection is over for both halves: the peer broke the protocol, or a
    /// transport ended or failed.
    pub fn is_down(&self) -> bool {
        self.has(FAILED | BROKEN)
    }

    /// Whether nothing more will arrive: the peer closed, or the connection is down.
    /// Once nothing is owed either ([`Shared::is_owed`]), the sending half is done.
    pub fn is_closed(&self) -> bool {
        self.has(PEER_CLOSED | FAILED | BROKEN)
    }

    /// Completes when the receiving half owes the peer something (a pong, the close
    /// echo, a failure's close) or nothing more will arrive: the sending half's task
    /// awaits this beside its own work, then flushes, and stops once
    /// [`Shared::is_closed`] and nothing is owed.
    pub fn owed(&self) -> Owed<'_> {
        Owed { shared: self }
    }

    /// A transport ended or failed: nothing more goes in or out.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn broken(&self) {
        self.set(BROKEN);
        self.wake();
    }

    /// Our close is queued: no pong is owed after it.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn close_sent(&self) {
        self.set(CLOSE_SENT);
        self.clear(PONG | ECHO);
    }

    /// Takes what is owed into the sending half's transmit buffer, as far as there is
    /// room; what does not fit waits for the next call.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn deliver<M: Masking>(&self, out: &mut Outbound<M>, tx: &mut [u8]) {
        self.clear(OUTPUT);
        let flags = self.flags.get();
        if flags & BROKEN != 0 {
            out.transport_failed();
            return;
        }
        if flags & (PONG | ECHO | FAILED) == 0 {
            return;
        }
        let room = |out: &mut Outbound<M>, tx: &mut [u8]| out.room_for_answers(tx);
        if flags & (FAILED | FAIL_TAKEN) == FAILED {
            if !room(out, tx) {
                return;
            }
            out.fail(tx, CloseCode(self.code.get()));
            self.set(FAIL_TAKEN);
            self.clear(PONG | ECHO);
            return;
        }
        if flags & PONG != 0 && !out.close_sent() {
            if !room(out, tx) {
                return;
            }
            let len = usize::from(self.pong_len.get());
            let payload = self.pong.get();
            out.owe_pong(tx, part(&payload, ..len));
        }
        self.clear(PONG);
        if flags & ECHO != 0 {
            if !room(out, tx) {
                return;
            }
            let code = self.code.get();
            out.owe_close(tx, (code != 0).then_some(CloseCode(code)));
            self.clear(ECHO);
            self.set(CLOSE_SENT);
        }
    }
}

/// The receiving half's answers, left for the sending half.
impl Answers for &Shared {
    fn ready(&mut self) -> bool {
        true
    }

    fn pong(&mut self, payload: &[u8]) {
        if self.has(CLOSE_SENT) {
            return;
        }
        let mut bytes = [0u8; MAX_CONTROL_PAYLOAD];
        let n = payload.len().min(MAX_CONTROL_PAYLOAD);
        if let (Some(dst), Some(src)) = (bytes.get_mut(..n), payload.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pong.set(bytes);
        // At most 125.
        self.pong_len.set(n as u8);
        self.set(PONG);
        self.wake();
    }

    fn echo_close(&mut self, code: Option<CloseCode>) {
        self.clear(PONG);
        self.set(PEER_CLOSED);
        if self.has(CLOSE_SENT) {
            self.wake();
            return;
        }
        self.code.set(code.map_or(0, |c| c.0));
        self.set(ECHO);
        self.wake();
    }

    fn fail(&mut self, code: CloseCode) {
        self.code.set(code.0);
        self.set(FAILED);
        self.wake();
    }

    fn is_down(&self) -> bool {
        Shared::is_down(self)
    }
}

/// The future of [`Shared::owed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Owed<'a> {
    shared: &'a Shared,
}

impl Future for Owed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.is_owed() || self.shared.is_closed() {
            return Poll::Ready(());
        }
        self.shared.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}
