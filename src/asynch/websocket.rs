//! An open connection over an async transport.

use core::ops::Range;

use embedded_io_async::{Read, Write};

use super::{is_timeout, Out, Reader, SplitWriter, Writer};
use crate::frame::CloseCode;
#[cfg(feature = "heapless")]
use crate::proto::Owned;
use crate::proto::{Connection, Masking, NoMask, RawEvent, RawMessage, Role, Shared, MIN_BUFFER};
use crate::{CloseFrame, Error, Event, Message, Status};

/// An event and a writer for answering it: see [`WebSocket::read_split`].
pub type Split<'a, T, M> = (Event<'a>, Writer<'a, T, M>);

/// An open WebSocket connection over async transport `T`: a server's with [`NoMask`], a
/// client's with a [`crate::MaskSource`]. The blocking [`crate::blocking::WebSocket`]'s
/// operations, awaited.
#[derive(Debug)]
pub struct WebSocket<'b, T, M = NoMask> {
    io: T,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    conn: Connection<M>,
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
        if rx.len() < MIN_BUFFER
            || tx.len() < MIN_BUFFER
            || received.end > rx.len()
            || received.start > received.end
            || queued > tx.len()
        {
            return Err(Error::BufferTooSmall);
        }
        let conn = Connection::with_buffered(masks, received, queued);
        Ok(WebSocket { io, rx, tx, conn })
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
        Writer::new(&mut self.io, self.tx, out, ())
    }

    /// Reads the next event (see [`crate::blocking::WebSocket::read`]).
    pub async fn read(&mut self) -> Result<Event<'_>, Error<T::Error>> {
        let raw = self.next_raw().await?;
        Ok(raw.resolve(self.rx))
    }

    /// Like [`WebSocket::read`], and also returns a [`Writer`], so that the event's bytes
    /// can be sent on without first being copied out.
    pub async fn read_split(&mut self) -> Result<Split<'_, T, M>, Error<T::Error>> {
        let raw = self.next_raw().await?;
        let (_, out) = self.conn.sides();
        let writer = Writer::new(&mut self.io, self.tx, out, ());
        Ok((raw.resolve(self.rx), writer))
    }

    /// Reads a whole message into `buf` (at least 125 bytes); see
    /// [`crate::blocking::WebSocket::read_message`].
    pub async fn read_message<'m>(
        &mut self,
        buf: &'m mut [u8],
    ) -> Result<Message<'m>, Error<T::Error>> {
        loop {
            match self.conn.poll_message_raw(self.rx, self.tx, buf) {
                Ok(Status::Complete(raw)) => {
                    if let RawMessage::Close(_) | RawMessage::CloseWith(..) = raw {
                        let _ = self.flush().await;
                    }
                    return Ok(RawMessage::resolve(raw, buf));
                }
                Ok(Status::Partial) => self.wait().await?,
                Err(e) => return Err(self.failed(e).await),
            }
        }
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
        loop {
            let buf = crate::proto::owned_storage(storage);
            match self.conn.poll_message_raw(self.rx, self.tx, buf) {
                Ok(Status::Complete(raw)) => {
                    if let RawMessage::Close(_) | RawMessage::CloseWith(..) = raw {
                        let _ = self.flush().await;
                    }
                    return Ok(raw.into_owned(storage));
                }
                Ok(Status::Partial) => self.wait().await?,
                Err(e) => return Err(self.failed(e).await),
            }
        }
    }

    async fn next_raw(&mut self) -> Result<RawEvent, Error<T::Error>> {
        loop {
            match self.conn.poll_raw(self.rx, self.tx) {
                Ok(Status::Complete(raw @ RawEvent::Close(..))) => {
                    // The echo goes out before the close is reported.
                    let _ = self.flush().await;
                    return Ok(raw);
                }
                Ok(Status::Complete(raw)) => return Ok(raw),
                Ok(Status::Partial) => self.wait().await?,
                Err(e) => return Err(self.failed(e).await),
            }
        }
    }

    /// The core needs I/O to go on: writes out what it has to send, then, if it had
    /// nothing, reads.
    async fn wait(&mut self) -> Result<(), Error<T::Error>> {
        if self.conn.wants_transmit() {
            return self.flush().await;
        }
        let buf = self.conn.read_buffer(self.rx);
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

    /// A failure from the core: after a protocol error, the close frame that fails the
    /// connection goes out (if the transport takes it) before the error is returned.
    async fn failed(&mut self, e: Error) -> Error<T::Error> {
        // Also a close echo that a timeout kept in the buffer, on a read after the close.
        if matches!(e, Error::Protocol(_)) || self.conn.wants_transmit() {
            let _ = self.flush().await;
        }
        e.into_io()
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
            tx: self.tx,
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
    ) -> (Reader<'b, 's, R>, SplitWriter<'b, 's, W, M>) {
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
