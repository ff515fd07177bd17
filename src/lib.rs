//! # ws13
//!
//! A `no_std`, allocation-free, blocking implementation of the WebSocket protocol
//! (RFC 6455, version 13) for firmware and small hosts. One protocol core serves both
//! roles, client and server, over caller-supplied buffers and the
//! [`embedded_io`] `Read`/`Write` traits.
//!
//! The crate is layered, one module a layer, and data flows one way through them:
//!
//! | module | layer |
//! |---|---|
//! | [`frame`] | wire format: frame headers, masking, close codes |
//! | [`utf8`] | incremental UTF-8 validation |
//! | [`handshake`] | the HTTP/1.1 upgrade, both roles, sans-IO |
//! | [`proto`] | the connection, sans-IO: every rule of the protocol (events in, frames and the answers the peer is owed out) |
//! | [`blocking`] | the blocking driver: moves bytes between the core and an `embedded-io` transport |
//! | `asynch` (feature `async`) | the async driver, the same over `embedded-io-async`, with reader and writer halves |
//! | `net` (feature `std`) | `std::net` helpers and an OS-seeded masking-key source |
//!
//! The drivers decide nothing: the core answers pings, echoes the close, holds answers
//! behind a frame being sent, fails the connection with the right close code, and keeps
//! every call's progress, so that a call interrupted by a transport timeout is simply
//! made again.
//!
//! ## A server, as firmware writes it
//!
//! ```no_run
//! use ws13::blocking::Incoming;
//! use ws13::{Error, Event};
//!
//! fn serve<T: embedded_io::Read + embedded_io::Write>(socket: T) -> Result<(), Error<T::Error>> {
//!     let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
//!     let mut incoming = Incoming::new(socket, &mut rx);
//!     if !incoming.read()?.is_upgrade() {
//!         return incoming.respond(200, &[("Content-Type", "text/html")], b"<h1>hello</h1>");
//!     }
//!     let mut ws = incoming.accept(&mut tx, None)?;
//!     loop {
//!         let (event, mut writer) = ws.read_split()?;
//!         match event {
//!             // Echo each piece of each message as it arrives, whatever the message's size.
//!             Event::Data(piece) => writer.write_fragment(piece.kind, piece.payload, piece.last)?,
//!             Event::Close(_) => return Ok(()),
//!             _ => {}
//!         }
//!     }
//! }
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// No panic reachable from the wire: no unwrap, no unchecked indexing, no arithmetic that
// can overflow. Tests are exempt; each local `allow` in the library says why it is safe.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
pub mod blocking;
mod bytes;
mod error;
pub mod frame;
pub mod handshake;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod net;
pub mod proto;
pub mod utf8;

pub use embedded_io;
pub use error::Error;
pub use frame::CloseCode;
pub use proto::{
    CloseFrame, Event, MaskSource, Message, MessageKind, NoMask, Piece, ProtocolError, Role,
    SendError,
};

/// Storage for a connection's receive or transmit buffer, which the drivers keep in the
/// connection: a borrowed `&mut [u8]` (the default, as firmware with static buffers has
/// it, at no cost), or an owned `Vec<u8>`, `Box<[u8]>` or array, so that the connection
/// owns its buffers and can be returned from a function or moved into a thread.
pub trait Buffer: AsRef<[u8]> + AsMut<[u8]> {}

impl<B: AsRef<[u8]> + AsMut<[u8]> + ?Sized> Buffer for B {}

/// The outcome of a step that may need more input, as `httparse` has it: every parser
/// and the connection's receive side return it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// Done: here is the result.
    Complete(T),
    /// The input so far is not enough: read more and call again.
    Partial,
}

impl<T> Status<T> {
    /// The result, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }

    /// Whether the step is done.
    pub const fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }
}

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
