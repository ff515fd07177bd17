//! Whole messages in storage of their own (feature `heapless`), for firmware that hands
//! them to another task.

use heapless::{String, Vec};

use super::connection::RawMessage;
use crate::frame::CloseCode;

/// A whole message read into storage of its own: see `read_owned` in either driver.
/// `N` is the largest message (a larger one fails the connection with 1009) and must be
/// at least 125, the largest control payload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Owned<const N: usize> {
    /// A text message.
    Text(String<N>),
    /// A binary message.
    Binary(Vec<u8, N>),
    /// A ping (already answered).
    Ping(Vec<u8, N>),
    /// A pong.
    Pong(Vec<u8, N>),
    /// The peer's close (already echoed): its code and reason, if it had a code.
    Close(Option<(CloseCode, String<N>)>),
}

/// The storage `read_owned` collects into, full length: while a message is incomplete
/// (a timeout interrupted the read), it holds what has arrived.
pub(crate) fn storage<const N: usize>(storage: &mut Vec<u8, N>) -> &mut [u8] {
    const {
        assert!(
            N >= crate::frame::MAX_CONTROL_PAYLOAD,
            "N must hold a control payload"
        )
    };
    if storage.len() < N {
        // `resize` cannot fail below the capacity N.
        let _ = storage.resize(N, 0);
    }
    storage.as_mut_slice()
}

impl RawMessage {
    /// The message collected in `storage`, moved out of it (`storage` is left empty).
    pub(crate) fn into_owned<const N: usize>(self, storage: &mut Vec<u8, N>) -> Owned<N> {
        let len = match self {
            RawMessage::Text(n)
            | RawMessage::Binary(n)
            | RawMessage::Ping(n)
            | RawMessage::Pong(n)
            | RawMessage::Close(n)
            | RawMessage::CloseWith(_, n) => n,
        };
        let mut bytes = core::mem::take(storage);
        bytes.truncate(len);
        let text = |bytes: Vec<u8, N>| {
            let text = String::from_utf8(bytes);
            debug_assert!(text.is_ok(), "text validated as it arrived");
            text.unwrap_or_default()
        };
        match self {
            RawMessage::Text(_) => Owned::Text(text(bytes)),
            RawMessage::Binary(_) => Owned::Binary(bytes),
            RawMessage::Ping(_) => Owned::Ping(bytes),
            RawMessage::Pong(_) => Owned::Pong(bytes),
            RawMessage::Close(_) => Owned::Close(None),
            RawMessage::CloseWith(code, _) => Owned::Close(Some((code, text(bytes)))),
        }
    }
}
