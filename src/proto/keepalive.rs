//! Keepalive pings, sans-IO: the driver passes the time in.

use super::{CloseFrame, Message};
use crate::frame::CloseCode;

/// Keepalive pings, sans-IO: the caller passes the time in, in milliseconds from any
/// fixed origin, and sends what [`Keepalive::poll`] asks for.
///
/// After `interval` without hearing from the peer, poll asks for a ping; if the peer stays
/// silent for `timeout` more, poll reports [`KeepaliveAction::TimedOut`] and the caller
/// closes the connection (with 1001, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Keepalive {
    interval: u64,
    timeout: u64,
    last_seen: u64,
    ping_sent: Option<u64>,
}

/// What [`Keepalive::poll`] asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeepaliveAction {
    /// Nothing to do yet.
    Wait,
    /// Send a ping now.
    SendPing,
    /// The peer did not answer: close the connection.
    TimedOut,
}

impl Keepalive {
    /// Pings after `interval_ms` of silence; gives up `timeout_ms` after a ping. `now`
    /// is the current time.
    pub const fn new(interval_ms: u64, timeout_ms: u64, now: u64) -> Self {
        Keepalive {
            interval: interval_ms,
            timeout: timeout_ms,
            last_seen: now,
            ping_sent: None,
        }
    }

    /// The peer was heard from at `now` (any event, a pong included).
    pub fn seen(&mut self, now: u64) {
        self.last_seen = now;
        self.ping_sent = None;
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: u64) -> KeepaliveAction {
        match self.ping_sent {
            Some(sent) if now.saturating_sub(sent) >= self.timeout => KeepaliveAction::TimedOut,
            Some(_) => KeepaliveAction::Wait,
            None if now.saturating_sub(self.last_seen) >= self.interval => {
                self.ping_sent = Some(now);
                KeepaliveAction::SendPing
            }
            None => KeepaliveAction::Wait,
        }
    }

    /// [`Keepalive::poll`], as the message to send, if any: a ping after `interval` of
    /// silence, and a close with 1001 ("no answer to ping") once the peer has been
    /// silent for `timeout` after it. Send it with either driver's `send`:
    ///
    /// ```
    /// # use ws13::proto::Keepalive;
    /// # fn tick<T: embedded_io::Read + embedded_io::Write>(
    /// #     ws: &mut ws13::blocking::WebSocket<'_, T>, keepalive: &mut Keepalive, now_ms: u64,
    /// # ) -> Result<(), ws13::Error<T::Error>> {
    /// if let Some(message) = keepalive.due(now_ms) {
    ///     ws.send(message)?; // behind a frame being sent, it waits for the frame
    /// }
    /// # Ok(()) }
    /// ```
    pub fn due(&mut self, now: u64) -> Option<Message<'static>> {
        match self.poll(now) {
            KeepaliveAction::Wait => None,
            KeepaliveAction::SendPing => Some(Message::Ping(b"keepalive")),
            KeepaliveAction::TimedOut => Some(Message::Close(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "no answer to ping",
            }))),
        }
    }

    /// When [`Keepalive::poll`] next has something to do, if nothing is heard before.
    pub fn next_poll(&self) -> u64 {
        match self.ping_sent {
            Some(sent) => sent.saturating_add(self.timeout),
            None => self.last_seen.saturating_add(self.interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_pings_then_times_out() {
        let mut k = Keepalive::new(1000, 500, 0);
        assert_eq!(k.poll(999), KeepaliveAction::Wait);
        k.seen(900);
        assert_eq!(k.poll(1899), KeepaliveAction::Wait);
        assert_eq!(k.poll(1900), KeepaliveAction::SendPing);
        assert_eq!(k.poll(2000), KeepaliveAction::Wait, "one ping at a time");
        assert_eq!(k.next_poll(), 2400);
        k.seen(2100); // the pong, or anything else, came back
        assert_eq!(k.poll(2399), KeepaliveAction::Wait);
        assert_eq!(k.poll(3100), KeepaliveAction::SendPing);
        assert_eq!(k.poll(3599), KeepaliveAction::Wait);
        assert_eq!(k.poll(3600), KeepaliveAction::TimedOut);
    }

    #[test]
    fn due_says_what_to_send() {
        let mut k = Keepalive::new(1000, 500, 0);
        assert_eq!(k.due(10), None);
        assert_eq!(k.due(1000), Some(Message::Ping(b"keepalive")));
        assert_eq!(k.due(1200), None);
        match k.due(1500) {
            Some(Message::Close(Some(c))) => assert_eq!(c.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
    }
}
