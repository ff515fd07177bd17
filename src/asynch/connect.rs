//! The client's side of the handshake over an async transport.

use core::marker::PhantomData;

use embedded_io_async::{Read, Write};

use super::WebSocket;
use crate::handshake::client::{ClientRequest, Handshake, Response, Step};
use crate::proto::{MaskSource, MIN_BUFFER};
use crate::{Buffer, Error};

/// A client connection and the index, in the offered list, of the subprotocol the
/// server chose: see [`connect`].
pub type Connected<'b, T, R, B = &'b mut [u8]> = (WebSocket<'b, T, R, B>, Option<usize>);

/// Opens a client connection: sends `request` (with a key from `masks`) from `tx`,
/// then reads and checks the response into `rx`. Returns the connection and the index,
/// in `request.protocols`, of the subprotocol the server chose. Over a transport that
/// times out, use [`Connecting`], which survives it.
pub async fn connect<'b, T: Read + Write, R: MaskSource>(
    io: T,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    request: &ClientRequest<'_>,
    masks: R,
) -> Result<Connected<'b, T, R>, Error<T::Error>> {
    Connecting::new(io, rx, tx, request, masks)?.finish().await
}

/// A client's opening handshake in progress: [`Connecting::handshake`] runs it, and can
/// be called again after a timeout; [`Connecting::finish`] then gives the connection.
/// `'p` is the lifetime of the offered subprotocols' list; the buffers are
/// `&'b mut [u8]` unless `B` says otherwise (see [`Buffer`]).
#[derive(Debug)]
pub struct Connecting<'b, 'p, T, R, B = &'b mut [u8]> {
    io: T,
    rx: B,
    tx: B,
    hs: Handshake,
    offered: &'p [&'p str],
    masks: R,
    buffers: PhantomData<&'b mut [u8]>,
}

impl<'b, 'p, T: Read + Write, R: MaskSource> Connecting<'b, 'p, T, R> {
    /// Writes `request` into `tx`, with a nonce from `masks` as its key. Nothing is sent
    /// yet. `rx` must hold the server's whole response head: about 130 bytes for a bare
    /// 101, 160 with a subprotocol, more for every header the server adds
    /// ([`crate::handshake::client::ClientError::TooLarge`] otherwise).
    pub fn new(
        io: T,
        rx: &'b mut [u8],
        tx: &'b mut [u8],
        request: &ClientRequest<'p>,
        masks: R,
    ) -> Result<Self, Error<T::Error>> {
        Self::with_buffers(io, rx, tx, request, masks)
    }
}

impl<'b, 'p, T: Read + Write, R: MaskSource, B: Buffer> Connecting<'b, 'p, T, R, B> {
    /// [`Connecting::new`] with buffers of any [`Buffer`] type (owned `Vec<u8>`s, say),
    /// for a connection that owns them.
    pub fn with_buffers(
        io: T,
        rx: B,
        mut tx: B,
        request: &ClientRequest<'p>,
        mut masks: R,
    ) -> Result<Self, Error<T::Error>> {
        if rx.as_ref().len() < MIN_BUFFER || tx.as_ref().len() < MIN_BUFFER {
            return Err(Error::BufferTooSmall);
        }
        let mut nonce = [0u8; 16];
        masks.fill(&mut nonce);
        let hs = Handshake::new(request, tx.as_mut(), nonce)?;
        Ok(Connecting {
            io,
            rx,
            tx,
            hs,
            offered: request.protocols,
            masks,
            buffers: PhantomData,
        })
    }

    /// Sends the request and reads the response, until the server has accepted;
    /// returns the index of the subprotocol it chose. Interrupted by a timeout, it
    /// goes on where it stopped when called again.
    pub async fn handshake(&mut self) -> Result<Option<usize>, Error<T::Error>> {
        loop {
            match self
                .hs
                .poll(self.rx.as_mut(), self.offered)
                .map_err(Error::Handshake)?
            {
                Step::Accepted(accepted) => return Ok(accepted.protocol),
                Step::Write => {
                    let out = self.hs.output(self.tx.as_mut());
                    match self.io.write(out).await.map_err(Error::Io)? {
                        0 => return Err(Error::Eof),
                        n => self.hs.wrote(n),
                    }
                    if self.hs.output(self.tx.as_mut()).is_empty() {
                        self.io.flush().await.map_err(Error::Io)?;
                    }
                }
                Step::Read => {
                    let buf = self.hs.read_buffer(self.rx.as_mut());
                    match self.io.read(buf).await.map_err(Error::Io)? {
                        0 => self.hs.received_eof(),
                        n => self.hs.received(n),
                    }
                }
            }
        }
    }

    /// Finishes the handshake ([`Connecting::handshake`]) and returns the connection and
    /// the chosen subprotocol's index.
    pub async fn finish(mut self) -> Result<Connected<'b, T, R, B>, Error<T::Error>> {
        let protocol = self.handshake().await?;
        let leftover = self.hs.leftover();
        let ws = WebSocket::from_parts(self.io, self.rx, leftover, self.tx, 0, self.masks)?;
        Ok((ws, protocol))
    }

    /// The server's response, once [`Connecting::handshake`] has returned: its headers
    /// (a `Set-Cookie`, say) are here until [`Connecting::finish`].
    pub fn response(&self) -> Option<Response<'_>> {
        self.hs.response(self.rx.as_ref())
    }

    /// The transport, mutably (to change its timeouts, say).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }
}
