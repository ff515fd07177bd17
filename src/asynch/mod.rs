//! The async driver (feature `async`): the blocking driver's operations over
//! [`embedded_io_async`] transports, for embassy-net firmware and async hosts. The same
//! sans-IO core decides everything; this module only awaits the transport. No
//! executor, no allocation.
//!
//! - Server: [`Incoming::read`], then [`Incoming::accept`], [`Incoming::respond`] (a
//!   page on the same port) or [`Incoming::reject`].
//! - Client: [`connect`], or [`Connecting`] step by step.
//! - Both: a [`WebSocket`] reads events or whole messages and sends through a
//!   [`Writer`], with the blocking driver's vocabulary (`write_*` buffers, `send`
//!   writes and flushes).
//! - Halves: [`WebSocket::split`] makes a [`Reader`] for one task and a [`SplitWriter`]
//!   for another, over the two halves of a transport (embassy-net's
//!   `TcpSocket::split`, tokio's `TcpStream::into_split`), joined by a small
//!   [`Shared`] state that carries what the reader owes the peer to the writer.
//!
//! As with the blocking driver, an operation that fails with a transport error of kind
//! `TimedOut` or `Interrupted` ([`Error::is_timeout`]) can be called again with the
//! same arguments and carries on where it stopped. Dropping an operation's future
//! part-way is the same as such an interruption: the next call of the same operation
//! carries on.

use embedded_io_async::Write;

use crate::proto::{Masking, Outbound, Output};
use crate::Error;

mod accept;
mod connect;
mod split;
mod websocket;
mod writer;

pub use accept::Incoming;
pub use connect::{connect, Connected, Connecting};
pub use split::{Reader, SplitWriter};
pub use websocket::{Split, WebSocket};
pub use writer::Writer;

pub use crate::proto::{Owed, Shared};

/// Whether a transport error interrupts a call rather than ending the connection.
fn is_timeout<E: embedded_io::Error>(e: &E) -> bool {
    matches!(
        e.kind(),
        embedded_io::ErrorKind::TimedOut | embedded_io::ErrorKind::Interrupted
    )
}

/// Where a [`Writer`] finds what its connection owes the peer: nowhere else for a whole
/// connection (`()`: its reads put their answers straight into the transmit buffer), a
/// [`Shared`] state for a sending half. Sealed.
pub trait Answers: sealed::Sealed {
    /// The shared state, for a sending half.
    #[doc(hidden)]
    fn shared(&self) -> Option<&Shared>;
}

impl Answers for () {
    fn shared(&self) -> Option<&Shared> {
        None
    }
}

impl Answers for &Shared {
    fn shared(&self) -> Option<&Shared> {
        Some(self)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for &super::Shared {}
}

/// The sending side with its transport and transmit buffer: what every async send
/// operation runs on, whole connection or sending half.
pub(crate) struct Out<'a, T, M, S> {
    pub(crate) io: &'a mut T,
    pub(crate) tx: &'a mut [u8],
    pub(crate) out: &'a mut Outbound<M>,
    /// Where the receiving half's answers wait, for a sending half.
    pub(crate) answers: S,
}

impl<T: Write, M: Masking, S: Answers> Out<'_, T, M, S> {
    /// A transport error: a timeout leaves everything as it was; any other error ends
    /// the connection (for both halves).
    fn fault(&mut self, e: T::Error) -> Error<T::Error> {
        if !is_timeout(&e) {
            self.out.transport_failed();
            if let Some(shared) = self.answers.shared() {
                shared.broken();
            }
        }
        Error::Io(e)
    }

    /// Takes in what the receiving half owes the peer.
    fn take_answers(&mut self) {
        if let Some(shared) = self.answers.shared() {
            shared.deliver(self.out, self.tx);
        }
    }

    /// A write that took nothing: the transport is gone.
    fn ended(&mut self) -> Error<T::Error> {
        self.out.transport_failed();
        if let Some(shared) = self.answers.shared() {
            shared.broken();
        }
        Error::Eof
    }

    /// Writes out everything the connection has to send.
    pub(crate) async fn transmit(&mut self) -> Result<(), Error<T::Error>> {
        loop {
            self.take_answers();
            let out = self.out.poll_transmit(self.tx);
            if out.is_empty() {
                return Ok(());
            }
            match self.io.write(out).await {
                Ok(0) => return Err(self.ended()),
                Ok(n) => self.out.transmitted(n),
                Err(e) => return Err(self.fault(e)),
            }
        }
    }

    /// Writes out everything buffered and flushes the transport.
    pub(crate) async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        if self.out.is_broken() {
            // What was buffered cannot go out any more.
            return Err(Error::Closed);
        }
        self.transmit().await?;
        match self.io.flush().await {
            Ok(()) => {
                self.out.flushed();
                Ok(())
            }
            Err(e) => Err(self.fault(e)),
        }
    }

    /// Makes a send call of the core until it is done, doing the I/O it asks for.
    pub(crate) async fn run<'d>(
        &mut self,
        mut call: impl FnMut(&mut Outbound<M>, &mut [u8]) -> Result<Output<'d>, Error>,
    ) -> Result<(), Error<T::Error>> {
        loop {
            self.take_answers();
            match call(self.out, self.tx).map_err(Error::into_io)? {
                Output::Done => {
                    if let (Some(shared), true) = (self.answers.shared(), self.out.close_sent()) {
                        shared.close_sent();
                    }
                    return Ok(());
                }
                Output::Transmit => self.transmit().await?,
                Output::Direct(bytes) => match self.io.write(bytes).await {
                    Ok(0) => return Err(self.ended()),
                    Ok(n) => self.out.wrote_direct(n),
                    Err(e) => return Err(self.fault(e)),
                },
            }
        }
    }
}
