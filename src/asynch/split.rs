//! A connection's two halves, for two tasks.

use core::marker::PhantomData;

use embedded_io_async::{Read, Write};

use super::{is_timeout, Writer};
use crate::frame::CloseCode;
use crate::proto::{Inbound, Masking, Outbound, RawEvent, RawMessage, Role, Shared};
use crate::{Buffer, CloseFrame, Error, Event, Message, Status};

/// The receiving half of a split connection (see [`super::WebSocket::split`]): reads
/// events and whole messages; what they call for (a pong, the close echo) goes to the
/// writer through the [`Shared`] state.
#[derive(Debug)]
pub struct Reader<'b, 's, R, B = &'b mut [u8]> {
    io: R,
    rx: B,
    inbound: Inbound,
    shared: &'s Shared,
    role: Role,
    buffer: PhantomData<&'b mut [u8]>,
}

impl<'b, 's, R: Read, B: Buffer> Reader<'b, 's, R, B> {
    pub(crate) fn new(io: R, rx: B, inbound: Inbound, shared: &'s Shared, role: Role) -> Self {
        Reader {
            io,
            rx,
            inbound,
            shared,
            role,
            buffer: PhantomData,
        }
    }

    /// Whether nothing more can arrive.
    pub fn is_closed(&self) -> bool {
        self.shared.is_down() || self.inbound.received_close()
    }

    /// Reads the next event (see [`crate::blocking::WebSocket::read`]).
    pub async fn read(&mut self) -> Result<Event<'_>, Error<R::Error>> {
        let raw = loop {
            let mut answers = self.shared;
            match self
                .inbound
                .poll_event(self.role, self.rx.as_mut(), &mut answers)
            {
                Ok(Status::Complete(raw)) => break raw,
                Ok(Status::Partial) => self.fill().await?,
                Err(e) => return Err(e.into_io()),
            }
        };
        Ok(RawEvent::resolve(raw, self.rx.as_mut()))
    }

    /// Reads a whole message into `buf` (at least 125 bytes); see
    /// [`crate::blocking::WebSocket::read_message`].
    pub async fn read_message<'m>(
        &mut self,
        buf: &'m mut [u8],
    ) -> Result<Message<'m>, Error<R::Error>> {
        loop {
            let mut answers = self.shared;
            match self
                .inbound
                .poll_message(self.role, self.rx.as_mut(), &mut answers, buf)
            {
                Ok(Status::Complete(raw)) => return Ok(RawMessage::resolve(raw, buf)),
                Ok(Status::Partial) => self.fill().await?,
                Err(e) => return Err(e.into_io()),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), Error<R::Error>> {
        let buf = self.inbound.read_buffer(self.rx.as_mut());
        match self.io.read(buf).await {
            Ok(0) => {
                self.shared.broken();
                Err(Error::Eof)
            }
            Ok(n) => {
                self.inbound.received(n);
                Ok(())
            }
            Err(e) => {
                if !is_timeout(&e) {
                    self.shared.broken();
                }
                Err(Error::Io(e))
            }
        }
    }
}

/// The sending half of a split connection (see [`super::WebSocket::split`]): sends, and
/// answers for the reader (pongs, the close echo) on every write and flush.
#[derive(Debug)]
pub struct SplitWriter<'b, 's, W, M, B = &'b mut [u8]> {
    io: W,
    tx: B,
    out: Outbound<M>,
    shared: &'s Shared,
    buffer: PhantomData<&'b mut [u8]>,
}

impl<'b, 's, W: Write, M: Masking, B: Buffer> SplitWriter<'b, 's, W, M, B> {
    pub(crate) fn new(io: W, tx: B, out: Outbound<M>, shared: &'s Shared) -> Self {
        SplitWriter {
            io,
            tx,
            out,
            shared,
            buffer: PhantomData,
        }
    }

    /// A handle for every send operation ([`Writer`]).
    pub fn writer(&mut self) -> Writer<'_, W, M, &'s Shared> {
        Writer::new(&mut self.io, self.tx.as_mut(), &mut self.out, self.shared)
    }

    /// The state shared with the reader: await [`Shared::owed`] to learn when there is
    /// an answer to send.
    pub fn shared(&self) -> &'s Shared {
        self.shared
    }

    /// Sends a whole message and flushes (see [`Writer::send`]).
    pub async fn send(&mut self, message: Message<'_>) -> Result<(), Error<W::Error>> {
        self.writer().send(message).await
    }

    /// Sends what the reader owes the peer, and anything buffered, and flushes.
    pub async fn flush(&mut self) -> Result<(), Error<W::Error>> {
        self.writer().flush().await
    }

    /// Sends our close frame, unless one is on its way. The reader finishes the close
    /// handshake: it reads on until the peer's close.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<W::Error>> {
        if self.out.close_sent() || self.shared.is_down() {
            return self.flush().await;
        }
        let close = Message::Close(Some(CloseFrame { code, reason }));
        self.send(close).await
    }
}
