//! Sending on an async connection.

use embedded_io_async::Write;

use super::{Answers, Out};
use crate::proto::{Masking, Outbound};
use crate::{Error, Message, MessageKind, Piece};

/// Sends frames on an async connection: see [`super::WebSocket::writer`],
/// [`super::WebSocket::read_split`] and [`super::SplitWriter::writer`]. The same
/// operations as the blocking [`crate::blocking::Writer`], awaited. `S` says where the
/// answers owed to the peer come from: `()` for a whole connection, the
/// [`super::Shared`] state for a sending half.
#[derive(Debug)]
pub struct Writer<'w, T, M, S = ()> {
    io: &'w mut T,
    tx: &'w mut [u8],
    out: &'w mut Outbound<M>,
    answers: S,
}

impl<'w, T: Write, M: Masking, S: Answers + Copy> Writer<'w, T, M, S> {
    pub(crate) fn new(
        io: &'w mut T,
        tx: &'w mut [u8],
        out: &'w mut Outbound<M>,
        answers: S,
    ) -> Self {
        Writer {
            io,
            tx,
            out,
            answers,
        }
    }

    fn side(&mut self) -> Out<'_, T, M, S> {
        Out {
            io: self.io,
            tx: self.tx,
            out: self.out,
            answers: self.answers,
        }
    }

    /// Encodes a whole message: text or binary as one frame, or a control frame (a ping,
    /// pong or close asked for while one of our frames is open waits for the frame).
    pub async fn write(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        self.side()
            .run(|out, tx| out.write_message(tx, message))
            .await
    }

    /// Writes a whole message and flushes. Interrupted in its flush, the same call made
    /// again only finishes the flush.
    pub async fn send(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        if self.out.start_send(&message) {
            self.write(message).await?;
        }
        // Marked before the flush, not after it fails: a send whose future is dropped in
        // its flush is one a timeout interrupted, and made again it only flushes.
        self.out.send_interrupted(&message);
        let flushed = self.flush().await;
        if !matches!(&flushed, Err(Error::Io(_))) {
            self.out.send_flushed();
        }
        flushed
    }

    /// Encodes one frame of a message: the first opens the message with `kind`, later
    /// ones continue it, and `last` ends it.
    pub async fn write_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        self.side()
            .run(|out, tx| out.write_frame(tx, kind, data, last))
            .await
    }

    /// Starts a frame whose `len` payload bytes follow through
    /// [`Writer::write_payload`] (see [`crate::blocking::Writer::begin_frame`]).
    pub async fn begin_frame(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        self.side()
            .run(|out, tx| out.begin_frame(tx, kind, len, last))
            .await
    }

    /// Sends the next bytes of the frame started by [`Writer::begin_frame`].
    pub async fn write_payload(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        self.side().run(|out, tx| out.write_payload(tx, data)).await
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in: a relay or an echo, frame for frame.
    pub async fn relay(&mut self, piece: &Piece<'_>) -> Result<(), Error<T::Error>> {
        self.side().run(|out, tx| out.relay(tx, piece)).await
    }

    /// Payload bytes the frame being sent still owes; 0 when no frame is open.
    pub fn frame_remaining(&self) -> u64 {
        self.out.frame_remaining()
    }

    /// Writes out everything buffered (and, for a sending half, what the receiving half
    /// owes the peer) and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.side().flush().await
    }
}
