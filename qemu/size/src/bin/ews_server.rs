//! The skeleton and an embedded-websocket 0.9.5 server, as that crate's own examples build
//! one: the request head parsed with httparse, `read_http_header` to tell an upgrade from a
//! page request, then `WebSocketServer` driven by its `Framer` (`accept`, `read`, `write`;
//! the framer echoes the close). On `GET /` it answers the page; on an upgrade it accepts
//! and echoes every message until the client closes.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use embedded_io::{ErrorKind, Read, Write};
use embedded_websocket::framer::{Framer, FramerError, ReadResult, Stream};
use embedded_websocket::{read_http_header, WebSocketSendMessageType, WebSocketServer};
use ws13_size::{firmware, page, Expect, Wire, PAGE};

firmware!("ews_server", Expect::Server, serve);

/// The whole answer to `GET /`, head and page, as embedded-websocket's example writes it.
const PAGE_RESPONSE: &str = concat!(
    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n",
    "Content-Length: 233\r\nConnection: close\r\n\r\n",
    page!()
);
const _: () = assert!(PAGE.len() == 233, "update Content-Length in PAGE_RESPONSE");

/// The framer's write buffer (a frame or the 101 is built here) and the buffer a whole
/// message is gathered in before the application sees it.
static mut TX: [u8; 1024] = [0; 1024];
static mut FRAME: [u8; 1024] = [0; 1024];

fn serve(wire: &mut Wire, rx: &mut [u8]) -> bool {
    // SAFETY: the only references to TX and FRAME; `serve` is never re-entered.
    let (tx, frame) = unsafe { (&mut *addr_of_mut!(TX), &mut *addr_of_mut!(FRAME)) };
    serve_ews(&mut Socket(wire), rx, tx, frame).is_ok()
}

/// embedded-websocket reads and writes through its own `Stream` trait: this adapts the
/// embedded-io transport to it.
struct Socket<'a, T>(&'a mut T);

impl<T: Read + Write<Error = ErrorKind>> Stream<ErrorKind> for Socket<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.0.read(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), ErrorKind> {
        self.0.write_all(buf)
    }
}

/// Why a connection ended early (the firmware needs no more detail).
struct Failed;

impl<E> From<FramerError<E>> for Failed {
    fn from(_: FramerError<E>) -> Self {
        Failed
    }
}

impl From<embedded_websocket::Error> for Failed {
    fn from(_: embedded_websocket::Error) -> Self {
        Failed
    }
}

fn serve_ews(
    stream: &mut impl Stream<ErrorKind>,
    rx: &mut [u8],
    tx: &mut [u8],
    frame: &mut [u8],
) -> Result<(), Failed> {
    // Read until httparse has the whole head.
    let mut received = 0;
    let (head_len, websocket) = loop {
        let free = rx
            .get_mut(received..)
            .filter(|f| !f.is_empty())
            .ok_or(Failed)?;
        let n = stream.read(free).map_err(|_| Failed)?;
        if n == 0 {
            return Err(Failed);
        }
        received += n;
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) =
            request.parse(&rx[..received]).map_err(|_| Failed)?
        {
            let headers = request.headers.iter().map(|h| (h.name, h.value));
            break (len, read_http_header(headers)?);
        }
    };
    let Some(context) = websocket else {
        stream
            .write_all(PAGE_RESPONSE.as_bytes())
            .map_err(|_| Failed)?;
        return Ok(());
    };
    // The framer starts with an empty read buffer: it cannot take bytes that arrived with
    // the head (a browser sends no frame before the 101 anyway).
    if head_len != received {
        return Err(Failed);
    }
    let mut cursor = 0;
    let mut server = WebSocketServer::new_server();
    let mut framer = Framer::new(rx, &mut cursor, tx, &mut server);
    framer.accept(stream, &context)?;
    loop {
        match framer.read(stream, frame)? {
            ReadResult::Text(text) => framer.write(
                stream,
                WebSocketSendMessageType::Text,
                true,
                text.as_bytes(),
            )?,
            ReadResult::Binary(data) => {
                framer.write(stream, WebSocketSendMessageType::Binary, true, data)?
            }
            ReadResult::Pong(_) => {}
            // The framer has echoed the close.
            ReadResult::Closed => return Ok(()),
        }
    }
}
