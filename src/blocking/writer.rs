//! Sending on a connection: a handle over its transport, transmit buffer and state.

use embedded_io::Write;

use super::{flush, run};
use crate::proto::{Connection, Masking};
use crate::{Error, Message, MessageKind, Piece};

/// Sends frames on a [`super::WebSocket`]: see [`super::WebSocket::writer`] and
/// [`super::WebSocket::read_split`].
///
/// `write*` methods encode into the transmit buffer, which is written out when it
/// fills, on [`Writer::flush`], and before the connection next blocks on a read;
/// [`Writer::send`] writes and flushes. A message can go whole ([`Writer::write`]), as
/// fragments ([`Writer::write_fragment`]), or as frames whose payload is streamed in
/// chunks ([`Writer::begin_frame`], then [`Writer::write_payload`]): a message of known
/// length but larger than any buffer goes out as one frame, for peers that handle
/// fragments badly, and a relay sends frames on as they came ([`Writer::relay`]).
///
/// Every call interrupted by a timeout is made again with the same arguments and goes
/// on where it stopped.
#[derive(Debug)]
pub struct Writer<'w, T, M> {
    io: &'w mut T,
    tx: &'w mut [u8],
    conn: &'w mut Connection<M>,
}

impl<'w, T: Write, M: Masking> Writer<'w, T, M> {
    pub(crate) fn new(io: &'w mut T, tx: &'w mut [u8], conn: &'w mut Connection<M>) -> Self {
        Writer { io, tx, conn }
    }

    /// Encodes a whole message: text or binary as one frame, or a control frame. A ping,
    /// pong or close asked for while one of our frames is open waits for the frame to
    /// be complete (see [`Connection::write_message`]).
    #[inline]
    pub fn write(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        run(self.io, self.conn, self.tx, |conn, tx| {
            conn.write_message(tx, message)
        })
    }

    /// Writes a whole message and flushes. Interrupted in its flush, the same call made
    /// again only finishes the flush.
    pub fn send(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        if self.conn.start_send(&message) {
            self.write(message)?;
        }
        let flushed = self.flush();
        if matches!(&flushed, Err(Error::Io(_))) {
            self.conn.send_interrupted(&message);
        }
        flushed
    }

    /// Encodes one frame of a message: the first opens the message with `kind`, later
    /// ones continue it (with the same `kind`), and `last` ends it. Text fragments may
    /// split a character; the whole message must be UTF-8.
    #[inline]
    pub fn write_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        run(self.io, self.conn, self.tx, |conn, tx| {
            conn.write_fragment(tx, kind, data, last)
        })
    }

    /// Starts a frame of a message (as [`Writer::write_fragment`] would) whose `len`
    /// payload bytes follow through [`Writer::write_payload`], in as many calls as suit
    /// the caller. Until they have all gone, no other data frame can be sent; a ping,
    /// pong or close waits for the frame, and one the protocol owes the peer meanwhile
    /// follows it. If the peer breaks the protocol meanwhile, the frame cannot be
    /// finished and no close frame can follow it: the connection is dropped without one.
    /// (A relay of text that must be able to refuse invalid UTF-8 with 1007 therefore
    /// sends fragments.)
    pub fn begin_frame(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        run(self.io, self.conn, self.tx, |conn, tx| {
            conn.begin_frame(tx, kind, len, last)
        })
    }

    /// Sends the next bytes of the frame started by [`Writer::begin_frame`]; more than
    /// the frame still owes is [`crate::SendError::PayloadTooLong`], and nothing is
    /// sent. Small pieces are buffered; a large one is written straight from `data`.
    #[inline]
    pub fn write_payload(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        run(self.io, self.conn, self.tx, |conn, tx| {
            conn.write_payload(tx, data)
        })
    }

    /// Sends a received piece on in a frame of the same length and FIN as the one it
    /// came in (see [`Connection::relay`]): a relay or an echo, frame for frame.
    ///
    /// ```
    /// # use ws13::blocking::{MaskSource, WebSocket};
    /// # use ws13::{Error, Event};
    /// # fn relay<T: embedded_io::Read + embedded_io::Write>(
    /// #     ws: &mut WebSocket<'_, T>,
    /// # ) -> Result<(), Error<T::Error>> {
    /// if let (Event::Data(piece), mut writer) = ws.read_split()? {
    ///     writer.relay(&piece)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn relay(&mut self, piece: &Piece<'_>) -> Result<(), Error<T::Error>> {
        run(self.io, self.conn, self.tx, |conn, tx| {
            conn.relay(tx, piece)
        })
    }

    /// Payload bytes the frame being sent still owes ([`Writer::begin_frame`]); 0 when
    /// no frame is open.
    pub fn frame_remaining(&self) -> u64 {
        self.conn.frame_remaining()
    }

    /// Writes out everything buffered and flushes the transport.
    pub fn flush(&mut self) -> Result<(), Error<T::Error>> {
        flush(self.io, self.conn, self.tx)
    }
}
