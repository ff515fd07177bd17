//! An open connection over an async transport.

use core::marker::PhantomData;
use core::ops::Range;

use embedded_io_async::{Read, Write};

use super::{is_timeout, Out, Reader, SplitWriter, Writer};
use crate::frame::CloseCode;
#[cfg(feature = "heapless")]
use crate::proto::Owned;
use crate::proto::{Connection, Masking, NoMask, RawEvent, RawMessage, Role, Shared};
use crate::{Buffer, CloseFrame, Error, Event, Message, Status};

/// An event and a writer for answering it: see [`WebSocket::read_split`].
pub type Split<'a, T, M> = (Event<'a>, Writer<'a, T, M>);

/// An open WebSocket connection over async transport `T`: a server's with [`NoMask`], a
/// client's with a [`crate::MaskSource`]. The blocking [`crate::blocking::WebSocket`]'s
/// operations, awaited. Its buffers are `&'b mut [u8]` unless `B` says otherwise (see
/// [`Buffer`]).
#[derive(Debug)]
pub struct WebSocket<'b, T, M = NoMask, B = &'b mut [u8]> {
    io: T,
    rx: B,
    tx: B,
    conn: Connection<M>,
    /// What a read took from the core and hands out once the answer it owes (the close
    /// echo, the close that fails the connection) is flushed: a read future dropped in
    /// that flush leaves it here for the same call made again.
    held: Held,
    buffers: PhantomData<&'b mut [u8]>,
}

/// See [`WebSocket`]'s `held`.
#[derive(Clone, Copy, Debug)]
enum Held {
    None,
    /// The peer's close, its reason in the receive buffer.
    Event(RawEvent),
    /// The peer's close, its reason in the caller's buffer.
    Message(RawMessage),
    /// The peer broke the protocol.
    Error(crate::ProtocolError),
}

impl<'b, T: Read + Write, M: Masking> WebSocket<'b, T, M> {
    /// Wraps a transport on which the handshake is already done. `rx[received]` holds
    /// any bytes that arrived after the handshake; `tx[..queued]` any still to send.
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
            held: Held::None,
            buffers: PhantomData,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        M::ROLE
    }

    /// The transport.
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

    /// Limits the size of a received data message (1009 beyond it).
    pub fn set_max_message_size(&mut self, max: usize) {
        self.conn.set_max_message_size(max);
    }

    /// Whether nothing more can arrive.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// A handle for sending.
    pub fn writer(&mut self) -> Writer<'_, T, M> {
        let (_, out) = self.conn.sides();
        Writer::new(&mut self.io, self.tx.as_mut(), out, ())
    }

    /// Reads the next event (see [`crate::blocking::WebSocket::read`]).
    pub async fn read(&mut self) -> Result<Event<'_>, Error<T::Error>> {
        let raw = self.next_raw().await?;
        Ok(raw.resolve(self.rx.as_mut()))
    }

    /// Like [`WebSocket::read`], and also returns a [`Writer`], so that the event's bytes
    /// can be sent on without first being copied out.
    pub async fn read_split(&mut self) -> Result<Split<'_, T, M>, Error<T::Error>> {
        let raw = self.next_raw().await?;
        let (_, out) = self.conn.sides();
        let writer = Writer::new(&mut self.io, self.tx.as_mut(), out, ());
        Ok((raw.resolve(self.rx.as_mut()), writer))
    }

    /// Reads a whole message into `buf` (at least 125 bytes); see
    /// [`crate::blocking::WebSocket::read_message`].
    pub async fn read_message<'m>(
        &mut self,
        buf: &'m mut [u8],
    ) -> Result<Message<'m>, Error<T::Error>> {
        let raw = self.next_message(buf).await?;
        Ok(RawMessage::resolve(raw, buf))
    }

    /// Drives the core until a whole message is in `buf`; the peer's close or a protocol
    /// error is held until the answer it calls for is flushed.
    async fn next_message(&mut self, buf: &mut [u8]) -> Result<RawMessage, Error<T::Error>> {
        loop {
            if let Some(out) = self.release(Some(buf)).await {
                return out.map(|held| match held {
                    Held::Message(raw) => raw,
                    _ => RawMessage::Close(0),
                });
            }
            match self
                .conn
                .poll_message_raw(self.rx.as_mut(), self.tx.as_mut(), buf)
            {
                Ok(Status::Complete(raw @ (RawMessage::Close(_) | RawMessage::CloseWith(..)))) => {
                    self.held = Held::Message(raw);
                }
                Ok(Status::Complete(raw)) => return Ok(raw),
                Ok(Status::Partial) => self.wait().await?,
                Err(e) => self.hold(e)?,
            }
        }
    }

    /// Holds a protocol error until the close that fails the connection is flushed;
    /// any other error is returned.
    fn hold(&mut self, e: Error) -> Result<(), Error<T::Error>> {
        match e {
            Error::Protocol(p) => {
                self.held = Held::Error(p);
                Ok(())
            }
            // A close echo that a timeout kept in the buffer goes out on the next flush.
            e => Err(e.into_io()),
        }
    }

    /// Hands out what is held, once the answer it calls for is flushed (as far as the
    /// transport takes it: a timeout leaves the answer queued for the next flush). A
    /// close held for a read is turned into a message's, its reason copied into `buf`,
    /// when a whole message is asked for instead.
    async fn release(&mut self, buf: Option<&mut [u8]>) -> Option<Result<Held, Error<T::Error>>> {
        if let Held::None = self.held {
            return None;
        }
        let _ = self.flush().await;
        let held = core::mem::replace(&mut self.held, Held::None);
        Some(match (held, buf) {
            (Held::Error(p), _) => Err(Error::Protocol(p)),
            (Held::Event(RawEvent::Close(code, span)), Some(buf)) => {
                let reason = span.of(self.rx.as_mut());
                let n = reason.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), reason.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Ok(Held::Message(match code {
                    Some(code) => RawMessage::CloseWith(code, n),
                    None => RawMessage::Close(0),
                }))
            }
            (held, _) => Ok(held),
        })
    }

    /// Reads a whole message into `storage` and moves it out as an [`Owned`] message
    /// (feature `heapless`), for handing to another task: a data message larger than
    /// `N` fails the connection with 1009. Interrupted by a timeout, call it again with
    /// the same `storage`, which keeps what has arrived.
    #[cfg(feature = "heapless")]
    #[cfg_attr(docsrs, doc(cfg(feature = "heapless")))]
    pub async fn read_owned<const N: usize>(
        &mut self,
        storage: &mut heapless::Vec<u8, N>,
    ) -> Result<Owned<N>, Error<T::Error>> {
        let raw = self
            .next_message(crate::proto::owned_storage(storage))
            .await?;
        Ok(raw.into_owned(storage))
    }

    /// Drives the core until it yields an event; the peer's close (whose echo goes out
    /// before the close is reported) or a protocol error is held until flushed.
    async fn next_raw(&mut self) -> Result<RawEvent, Error<T::Error>> {
        loop {
            if let Some(out) = self.release(None).await {
                return out.map(|held| match held {
                    Held::Event(raw) => raw,
                    Held::Message(RawMessage::CloseWith(code, _)) => {
                        RawEvent::Close(Some(code), crate::proto::EMPTY_SPAN)
                    }
                    _ => RawEvent::Close(None, crate::proto::EMPTY_SPAN),
                });
            }
            match self.conn.poll_raw(self.rx.as_mut(), self.tx.as_mut()) {
                Ok(Status::Complete(raw @ RawEvent::Close(..))) => self.held = Held::Event(raw),
                Ok(Status::Complete(raw)) => return Ok(raw),
                Ok(Status::Partial) => self.wait().await?,
                Err(e) => self.hold(e)?,
            }
        }
    }

    /// The core needs I/O to go on: writes out what it has to send, then, if it had
    /// nothing, reads.
    async fn wait(&mut self) -> Result<(), Error<T::Error>> {
        // As in the blocking driver: what was written reaches the peer (the transport
        // flushed) before we wait for it.
        if self.conn.wants_transmit() || self.conn.wants_flush() {
            return self.flush().await;
        }
        let buf = self.conn.read_buffer(self.rx.as_mut());
        match self.io.read(buf).await {
            Ok(0) => {
                self.conn.received_eof();
                Err(Error::Eof)
            }
            Ok(n) => {
                self.conn.received(n);
                Ok(())
            }
            Err(e) => {
                if !is_timeout(&e) {
                    self.conn.transport_failed();
                }
                Err(Error::Io(e))
            }
        }
    }

    /// Encodes a whole message (see [`Writer::write`]).
    pub async fn write(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        self.writer().write(message).await
    }

    /// Sends a whole message and flushes (see [`Writer::send`]).
    pub async fn send(&mut self, message: Message<'_>) -> Result<(), Error<T::Error>> {
        self.writer().send(message).await
    }

    /// Writes out everything buffered and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        let (_, out) = self.conn.sides();
        Out {
            io: &mut self.io,
            tx: self.tx.as_mut(),
            out,
            answers: (),
        }
        .flush()
        .await
    }

    /// Closes the connection: sends our close frame (unless one is on its way) and waits
    /// for the peer's; see [`crate::blocking::WebSocket::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        if self.conn.frame_remaining() > 0 {
            return Err(Error::Send(crate::SendError::FrameOpen));
        }
        if !self.conn.is_closed() {
            let close = Message::Close(Some(CloseFrame { code, reason }));
            self.write(close).await?;
        }
        self.flush().await?;
        while !self.conn.is_closed() {
            match self.next_raw().await {
                Ok(_) | Err(Error::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Splits the connection into a [`Reader`] for one task and a [`SplitWriter`] for
    /// another, over the halves `split` makes of the transport (embassy-net's
    /// `TcpSocket::split`, say). What the reader owes the peer (a pong, the echo of
    /// its close, the close that fails the connection) waits in `shared` until the
    /// writer sends it:
    ///
    /// - **The writer answers pings.** A ping read by the reader is answered the next
    ///   time the writer writes or flushes. A writer task with nothing else to do
    ///   awaits [`Shared::owed`] beside its own work and then flushes. (`owed` also
    ///   completes at once when output waits from before the split, such as the 101
    ///   response of [`super::Incoming::accept`].)
    /// - **A close started by the writer** ([`SplitWriter::close`]) is finished by the
    ///   reader, which reads on until the peer's close ([`Event::Close`]).
    /// - **A close started by the peer** is reported by the reader; the writer sends
    ///   the echo (after awaiting `owed`, or on its next write or flush).
    /// - **After a protocol error** the reader returns it; the writer sends the close
    ///   that fails the connection, then every call of either half returns
    ///   [`Error::Closed`].
    ///
    /// To send from several tasks, put the writer in an async mutex (embassy-sync's,
    /// for instance). Both halves and `shared` stay on one executor: `shared` is not
    /// `Sync`.
    pub fn split<'s, R: Read, W: Write>(
        self,
        shared: &'s Shared,
        split: impl FnOnce(T) -> (R, W),
    ) -> (Reader<'b, 's, R, B>, SplitWriter<'b, 's, W, M, B>) {
        let (inbound, outbound) = self.conn.into_sides();
        if outbound.wants_transmit() {
            // The handshake's response, say: the writer's first flush sends it.
            shared.output_waiting();
        }
        let (r, w) = split(self.io);
        (
            Reader::new(r, self.rx, inbound, shared, M::ROLE),
            SplitWriter::new(w, self.tx, outbound, shared),
        )
    }
}
