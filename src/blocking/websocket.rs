//! An open connection over a blocking transport.

use core::marker::PhantomData;
use core::ops::Range;

use embedded_io::{Read, Write};

use super::{fill, flush, run, Writer};
use crate::frame::CloseCode;
#[cfg(feature = "heapless")]
use crate::proto::Owned;
use crate::proto::{Connection, Masking, NoMask, RawEvent, RawMessage, Role};
use crate::{Buffer, CloseFrame, Error, Event, Message, Status};

/// An event and a writer for answering it: see [`WebSocket::read_split`].
pub type Split<'a, T, M> = (Event<'a>, Writer<'a, T, M>);

/// An open WebSocket connection over transport `T`: a server's with [`NoMask`], a
/// client's with a [`super::MaskSource`] for its masking keys.
///
/// Its buffers are `&'b mut [u8]` unless `B` says otherwise: with `B = Vec<u8>` (say)
/// the connection owns them, and `WebSocket<'static, T, M, Vec<u8>>` can be returned
/// from a function or moved into a thread (see [`Buffer`]).
#[derive(Debug)]
pub struct WebSocket<'b, T, M = NoMask, B = &'b mut [u8]> {
    io: T,
    rx: B,
    tx: B,
    conn: Connection<M>,
    buffers: PhantomData<&'b mut [u8]>,
}

impl<'b, T: Read + Write, M: Masking> WebSocket<'b, T, M> {
    /// Wraps a transport on which the handshake is already done. `rx[received]` holds
    /// any bytes that arrived after the handshake; `tx[..queued]` any still to send
    /// (the handshake's response, say). The masking decides the role.
    pub fn from_upgraded(
        io: T,
        rx: &'b mut [u8],
        received: Range<usize>,
        tx: &'b mut [u8],
        queued: usize,
        masks: M,
    ) -> Result<Self, Error<T::Error>> {
        Self::from_parts(io, rx, received, tx, queued, masks)
    }
}

impl<'b, T: Read + Write, M: Masking, B: Buffer> WebSocket<'b, T, M, B> {
    /// [`WebSocket::from_upgraded`] with buffers of any [`Buffer`] type (owned
    /// `Vec<u8>`s, say); the converse of [`WebSocket::into_parts`].
    pub fn from_parts(
        io: T,
        rx: B,
        received: Range<usize>,
        tx: B,
        queued: usize,
        masks: M,
    ) -> Result<Self, Error<T::Error>> {
        let (rx_len, tx_len) = (rx.as_ref().len(), tx.as_ref().len());
        let conn = Connection::for_buffers(masks, rx_len, received, tx_len, queued)
            .map_err(Error::into_io)?;
        Ok(WebSocket {
            io,
            rx,
            tx,
            conn,
            buffers: PhantomData,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        M::ROLE
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The transport, mutably (to set a timeout, say).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Gives up the connection, returning its transport.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Gives up the connection, returning its transport and its receive and transmit
    /// buffers, to serve another connection with the same buffers (static ones in
    /// firmware, say). Whatever they still hold is abandoned.
    pub fn into_parts(self) -> (T, B, B) {
        (self.io, self.rx, self.tx)
    }

    /// The sans-IO state, to look at.
    pub fn connection(&self) -> &Connection<M> {
        &self.conn
    }

    /// Limits the size of a received data message, whatever way it is read: a larger one
    /// fails the connection with 1009 as soon as a frame header announces it.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.conn.set_max_message_size(max);
    }

    /// Whether nothing more can arrive: the peer closed, the connection failed, or the
    /// transport ended.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// A handle for sending.
    pub fn writer(&mut self) -> Writer<'_, T, M> {
        Writer::new(&mut self.io, self.tx.as_mut(), &mut self.conn)
    }

    /// Reads the next event: a piece of a data message, a ping, a pong or the peer's
    /// close.
    ///
    /// Pings are answered and the peer's close is echoed (see
    /// [`Connection::poll_event`]). After the close event, the end of the transport, or a
    /// protocol error, every call returns [`Error::Closed`]. A peer that breaks the
    /// protocol gets a close frame with the error's code, and the error is returned.
    pub fn read(&mut self) -> Result<Event<'_>, Error<T::Error>> {
        let raw = self.next_raw()?;
        Ok(raw.resolve(self.rx.as_mut()))
    }

    /// Like [`WebSocket::read`], and also returns a [`Writer`], so that the event's bytes
    /// can be sent on (an echo, a relay) without first being copied out.
    #[inline]
    pub fn read_split(&mut self) -> Result<Split<'_, T, M>, Error<T::Error>> {
        let raw = self.next_raw()?;
        let writer = Writer::new(&mut self.io, self.tx.as_mut(), &mut self.conn);
        Ok((raw.resolve(self.rx.as_mut()), writer))
    }

    /// Reads a whole message into `buf` (which must hold at least 125 bytes, for control
    /// frames) and returns it; see [`Connection::poll_message`]. A data message larger
    /// than `buf` fails the connection with close code 1009: use [`WebSocket::read`] to
    /// stream messages of any size. Interrupted by a timeout, it goes on where it
    /// stopped when called again with the same `buf`.
    pub fn read_message<'m>(&mut self, buf: &'m mut [u8]) -> Result<Message<'m>, Error<T::Error>> {
        loop {
            match self
                .conn
                .poll_message_raw(self.rx.as_mut(), self.tx.as_mut(), buf)
            {
                Ok(Status::Complete(raw)) => {
                    if let RawMessage::Close(_) | RawMessage::CloseWith(..) = raw {
                        // As in `next_raw`: the echo goes before the close is reported.
                        let _ = flush(&mut self.io, &mut self.conn, self.tx.as_mut());
                    }
                    return Ok(RawMessage::resolve(raw, buf));
                }
                Ok(Status::Partial) => self.wait()?,
                Err(e) => return Err(self.failed(e.into_io())),
            }
        }
    }

    /// Reads a whole message into `storage` and moves it out as an [`Owned`] message
    /// (feature `heapless`), for handing to another task: a data message larger than
    /// `N` fails the connection with 1009. Interrupted by a timeout, call it again with
    /// the same `storage`, which keeps what has arrived.
    #[cfg(feature = "heapless")]
    #[cfg_attr(docsrs, doc(cfg(feature = "heapless")))]
    pub fn read_owned<const N: usize>(
        &mut self,
        storage: &mut heapless::Vec<u8, N>,
    ) -> Result<Owned<N>, Error<T::Error>> {
        loop {
            let buf = crate::proto::owned_storage(storage);
            match self
                .conn
                .poll_message_raw(self.rx.as_mut(), self.tx.as_mut(), buf)
            {
                Ok(Status::Complete(raw)) => {
                    if let RawMessage::Close(_) | RawMessage::CloseWith(..) = raw {
                        let _ = flush(&mut self.io, &mut self.conn, self.tx.as_mut());
                    }
                    return Ok(raw.into_owned(storage));
                }
                Ok(Status::Partial) => self.wait()?,
                Err(e) => return Err(self.failed(e.into_io())),
            }
        }
    }

    /// Drives the core until it yields an event.
    #[inline]
    fn next_raw(&mut self) -> Result<RawEvent, Error<T::Error>> {
        loop {
            match self.conn.poll_raw(self.rx.as_mut(), self.tx.as_mut()) {
                Ok(Status::Complete(raw @ RawEvent::Close(..))) => {
                    // The echo goes out before the close is reported: the application
                    // usually stops here. A timeout leaves it in the buffer, for the
                    // next flush (or close).
                    let _ = flush(&mut self.io, &mut self.conn, self.tx.as_mut());
                    return Ok(raw);
                }
                Ok(Status::Complete(raw)) => return Ok(raw),
                Ok(Status::Partial) => self.wait()?,
                Err(e) => return Err(self.failed(e.into_io())),
            }
        }
    }

    /// The core needs I/O to go on: writes out what it has to send, then, if it had
    /// nothing, reads.
    fn wait(&mut self) -> Result<(), Error<T::Error>> {
        // What was written must reach the peer before we wait for it: a transport that
        // holds bytes until flushed (TLS) is flushed, and one a timeout interrupted is
        // flushed again. (Only after `Status::Partial`, which the core returns only
        // while the transport is up: output waiting is output to write.)
        if self.conn.has_output() || self.conn.wants_flush() {
            return flush(&mut self.io, &mut self.conn, self.tx.as_mut());
        }
        fill(&mut self.io, &mut self.conn, self.rx.as_mut())
    }

    /// A failure from the core: after a protocol error, the close frame that fails the
    /// connection goes out (if the transport takes it) before the error is returned.
    /// The callers convert the core's error where they get it, which folds the
    /// conversion into the code that made the error.
    // Cold on 64-bit hosts; on microcontrollers, where a firmware reads by one of the
    // three callers, inlined there in less flash than a call.
    #[cfg_attr(target_pointer_width = "64", cold)]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    fn failed(&mut self, e: Error<T::Error>) -> Error<T::Error> {
        // Also a close echo that a timeout kept in the buffer, on a read after the close.
        // (After the transport ended, `flush` does nothing but say so.)
        if matches!(e, Error::Protocol(_)) || self.conn.has_output() {
            let _ = flush(&mut self.io, &mut self.conn, self.tx.as_mut());
        }
        e
    }

    /// Encodes a whole message (see [`Writer::write`]).
    pub fn write(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        self.writer().write(message)
    }

    /// Sends a whole message and flushes (see [`Writer::send`]).
    pub fn send(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        self.writer().send(message)
    }

    /// Writes out everything buffered and flushes the transport.
    pub fn flush(&mut self) -> Result<(), Error<T::Error>> {
        flush(&mut self.io, &mut self.conn, self.tx.as_mut())
    }

    /// Closes the connection: sends our close frame with `code` and `reason` (at most 123
    /// bytes), unless one is already on its way, and waits for the peer's, discarding
    /// any data that arrives first.
    ///
    /// Returns once the peer has answered, or at once if it closed first, or if the
    /// connection failed. The wait is bounded by the transport: give it a read timeout
    /// where the peer may never answer. Interrupted by a timeout, call it again: it goes
    /// on waiting (our close is not sent twice). A frame of ours still open must be
    /// finished first ([`crate::SendError::FrameOpen`]).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        if self.conn.frame_remaining() > 0 {
            return Err(Error::Send(crate::SendError::FrameOpen));
        }
        if !self.conn.is_closed() {
            let close = Message::Close(Some(CloseFrame { code, reason }));
            run(
                &mut self.io,
                &mut self.conn,
                self.tx.as_mut(),
                |conn, tx| conn.write_message(tx, close),
            )?;
        }
        self.flush()?;
        while !self.conn.is_closed() {
            match self.next_raw() {
                Ok(_) | Err(Error::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

// A connection's own state, beyond the caller's buffers and transport, stays within 80
// bytes on 32-bit targets (microcontrollers): checked when the crate builds for them.
#[cfg(target_pointer_width = "32")]
const _: () = {
    let whole = core::mem::size_of::<WebSocket<'static, (), NoMask>>();
    let buffers = 2 * core::mem::size_of::<&mut [u8]>();
    assert!(whole - buffers <= 80, "connection state over 80 bytes");
};
