//! A conversation of ws13's async driver (feature `async`), in pieces that the tasks of
//! an executor run over an [`AsyncDuplex`]: a [`server`] (ws13's `asynch::Incoming` and
//! `WebSocket`, echoing each piece as it comes, and pinging once), and a client that
//! [`connect`]s and then splits, one task reading ([`reader`]) and another writing
//! ([`writer`]). [`conversation`] runs them all in one future, for a host's executor.
//!
//! The writer sends messages of every length encoding ([`SIZES`], text and binary in
//! turn), a text message in two fragments with a ping between them, and a ping. The
//! reader reads each echo whole and checks it, the server's ping (which the writer
//! answers for it), and the pong; then it tells the writer ([`Flag`]), which closes, and
//! it reads the close's echo. The server checks that its ping was answered and that the
//! close came, and returns the messages it echoed ([`MESSAGES`]).
//!
//! Each piece takes a `patience`: with 0, every operation is simply awaited; with `n`,
//! an operation still not done when it is woken for the `n`-th time is dropped and made
//! again with the same arguments, as a timeout by `select` would, until it completes
//! (ws13 promises that a dropped operation is one a timeout interrupted).

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};
use ws13::asynch::{Connecting, Incoming, Reader, SplitWriter, WebSocket};
use ws13::proto::Shared;
use ws13::{CloseCode, Error, Event, Message, MessageKind};

use super::{ws_failed, Outcome};
use crate::asyncio::{AsyncDuplex, Flag};
use crate::drive::{fill_message, ECHO_PROTOCOL, ECHO_REQUEST};
use crate::ensure;
use crate::rng::TestMask;

/// Awaits `$call`; with a patience of `n` > 0, drops its future when it is woken for the
/// `n`-th time without being done, and makes the same call again, until it completes.
macro_rules! again {
    ($patience:expr, $call:expr) => {{
        let patience: u32 = $patience;
        loop {
            let mut wakes = 0u32;
            let mut call = pin!($call);
            let done = poll_fn(|cx| {
                if patience > 0 && wakes >= patience {
                    return Poll::Ready(None);
                }
                wakes += 1;
                call.as_mut().poll(cx).map(Some)
            })
            .await;
            if let Some(out) = done {
                break out;
            }
        }
    }};
}

/// The lengths of the messages the writer sends: every length encoding, and messages
/// larger than the connection's buffers and the pipe.
pub const SIZES: [usize; 6] = [0, 1, 125, 126, 300, 1000];

/// The data messages of a conversation: [`SIZES`] and the fragmented one.
pub const MESSAGES: usize = SIZES.len() + 1;

/// The ping the server sends after its first echo.
pub const SERVER_PING: &[u8] = b"server ping";

/// The ping the writer sends last.
pub const CLIENT_PING: &[u8] = b"are you there?";

/// The bytes each direction of the pipe holds.
pub const PIPE: usize = 512;

/// Everything one conversation uses, in one value (about 5 KiB) that can be a
/// `static`: the pipe, the state the client's halves share, the reader's signal to the
/// writer, and the buffers.
#[derive(Debug)]
pub struct Setup {
    /// The connection: end `a` is the client's, `b` the server's.
    pub duplex: AsyncDuplex<PIPE>,
    /// Joins the client's halves.
    pub shared: Shared,
    /// Set by the reader once every echo and the pong are in.
    pub echoed: Flag,
    /// The server's receive buffer.
    pub server_rx: [u8; 256],
    /// The server's transmit buffer.
    pub server_tx: [u8; 256],
    /// The client's receive buffer.
    pub client_rx: [u8; 256],
    /// The client's transmit buffer.
    pub client_tx: [u8; 256],
    /// The writer's messages.
    pub sent: [u8; 1024],
    /// The reader's copy of what the writer sends.
    pub expected: [u8; 1024],
    /// The messages the reader reads.
    pub msg: [u8; 1024],
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    /// Everything new.
    pub const fn new() -> Self {
        Setup {
            duplex: AsyncDuplex::new(),
            shared: Shared::new(),
            echoed: Flag::new(),
            server_rx: [0; 256],
            server_tx: [0; 256],
            client_rx: [0; 256],
            client_tx: [0; 256],
            sent: [0; 1024],
            expected: [0; 1024],
            msg: [0; 1024],
        }
    }
}

/// The server: reads the request (which must offer [`ECHO_PROTOCOL`]) and accepts it,
/// echoes every piece of every message as a fragment as it arrives, pings once after the
/// first echo, and checks that the pong came (once) before the client's close. Returns
/// the data messages it echoed.
pub async fn server<T: Read + Write>(
    io: T,
    rx: &mut [u8],
    tx: &mut [u8],
    patience: u32,
) -> Result<usize, &'static str> {
    let mut incoming = Incoming::new(io, rx);
    let request = again!(patience, incoming.read()).map_err(ws_failed)?;
    ensure!(
        request.offers_protocol(ECHO_PROTOCOL),
        "ws13.echo not offered"
    );
    let mut ws = incoming
        .accept(tx, Some(ECHO_PROTOCOL))
        .map_err(ws_failed)?;
    let (mut messages, mut pongs) = (0, 0);
    loop {
        let (event, mut writer) = again!(patience, ws.read_split()).map_err(ws_failed)?;
        match event {
            Event::Data(piece) => {
                let (kind, last) = (piece.kind, piece.last);
                again!(patience, writer.write_fragment(kind, piece.payload, last))
                    .map_err(ws_failed)?;
                if piece.last {
                    messages += 1;
                    if messages == 1 {
                        let ping = Message::Ping(SERVER_PING);
                        again!(patience, writer.write(ping)).map_err(ws_failed)?;
                    }
                }
            }
            Event::Pong(payload) => {
                ensure!(payload == SERVER_PING, "a pong for another ping");
                pongs += 1;
            }
            Event::Ping(_) => {}
            Event::Close(close) => {
                ensure!(
                    matches!(close, Some(c) if c.code == CloseCode::NORMAL && c.reason == "done"),
                    "not the client's close"
                );
                break;
            }
        }
    }
    ensure!(pongs == 1, "the server's ping was not answered once");
    ensure!(ws.is_closed(), "the close came, but not closed");
    Ok(messages)
}

/// The client's handshake (offering [`ECHO_PROTOCOL`], masks from `TestMask(seed)`):
/// the connection, once the server has chosen the protocol.
pub async fn connect<'b, T: Read + Write>(
    io: T,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    seed: u32,
    patience: u32,
) -> Result<WebSocket<'b, T, TestMask>, &'static str> {
    let mut connecting =
        Connecting::new(io, rx, tx, &ECHO_REQUEST, TestMask(seed)).map_err(ws_failed)?;
    let protocol = again!(patience, connecting.handshake()).map_err(ws_failed)?;
    ensure!(protocol == Some(1), "ws13.echo was not chosen");
    let (ws, _) = connecting.finish().await.map_err(ws_failed)?;
    Ok(ws)
}

/// The `index`-th message of [`SIZES`], filled into `buf` (text at even places).
fn message(seed: u64, index: usize, buf: &mut [u8]) -> Result<Message<'_>, &'static str> {
    let (len, text) = (SIZES[index], index.is_multiple_of(2));
    let data = &mut buf[..len];
    fill_message(seed, index, text, data);
    Ok(if text {
        Message::Text(core::str::from_utf8(data).map_err(|_| "not text")?)
    } else {
        Message::Binary(data)
    })
}

/// The client's writing half: sends the conversation's messages (into `sent`), and,
/// until `echoed` is set, answers what the reader owes the peer; then closes, and goes
/// on answering until the close handshake is over.
pub async fn writer<W: Write>(
    mut w: SplitWriter<'_, '_, W, TestMask>,
    seed: u64,
    sent: &mut [u8],
    echoed: &Flag,
    patience: u32,
) -> Outcome {
    for index in 0..SIZES.len() {
        let m = message(seed, index, sent)?;
        again!(patience, w.send(m)).map_err(ws_failed)?;
    }
    let mut out = w.writer();
    let text = MessageKind::Text;
    again!(patience, out.write_fragment(text, "κό".as_bytes(), false)).map_err(ws_failed)?;
    again!(patience, out.write(Message::Ping(b"between"))).map_err(ws_failed)?;
    again!(patience, out.write_fragment(text, "σμε".as_bytes(), true)).map_err(ws_failed)?;
    again!(patience, out.flush()).map_err(ws_failed)?;
    again!(patience, w.send(Message::Ping(CLIENT_PING))).map_err(ws_failed)?;
    let shared: &Shared = w.shared();
    loop {
        // Whichever comes first: the reader's signal, or an answer to send for it.
        let mut owed = pin!(shared.owed());
        let done = poll_fn(|cx| {
            if echoed.poll_wait(cx).is_ready() {
                return Poll::Ready(true);
            }
            owed.as_mut().poll(cx).map(|()| false)
        })
        .await;
        if done {
            break;
        }
        ensure!(!shared.is_closed(), "closed before every echo came");
        w.flush().await.map_err(ws_failed)?;
    }
    w.close(CloseCode::NORMAL, "done")
        .await
        .map_err(ws_failed)?;
    while !shared.is_closed() || shared.is_owed() {
        shared.owed().await;
        w.flush().await.map_err(ws_failed)?;
    }
    Ok(())
}

/// The client's reading half: reads each echo whole and checks it against its own copy
/// (in `expected`), the server's ping after the first, the fragmented message (the pong
/// between its fragments is not handed out) and the pong; sets `echoed`; then reads the
/// echo of the writer's close.
pub async fn reader<R: Read>(
    mut r: Reader<'_, '_, R>,
    seed: u64,
    expected: &mut [u8],
    msg: &mut [u8],
    echoed: &Flag,
    patience: u32,
) -> Outcome {
    for index in 0..SIZES.len() {
        let want = message(seed, index, expected)?;
        let got = again!(patience, r.read_message(msg)).map_err(ws_failed)?;
        ensure!(got == want, "an echo differs from its message");
        if index == 0 {
            let got = again!(patience, r.read_message(msg)).map_err(ws_failed)?;
            ensure!(
                got == Message::Ping(SERVER_PING),
                "not the server's ping after the first echo"
            );
        }
    }
    let got = again!(patience, r.read_message(msg)).map_err(ws_failed)?;
    ensure!(
        got == Message::Text("κόσμε"),
        "the fragmented message's echo differs"
    );
    let got = again!(patience, r.read_message(msg)).map_err(ws_failed)?;
    ensure!(got == Message::Pong(CLIENT_PING), "not the pong");
    echoed.set();
    match again!(patience, r.read()).map_err(ws_failed)? {
        Event::Close(Some(c)) if c.code == CloseCode::NORMAL => {}
        _ => return Err("not the echo of the client's close"),
    }
    ensure!(r.is_closed(), "the close came, but not closed");
    ensure!(
        matches!(r.read().await, Err(Error::Closed)),
        "a read after the close"
    );
    Ok(())
}

/// Polls both futures until both are done.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(out) = a.as_mut().poll(cx) {
                ra = Some(out);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(out) = b.as_mut().poll(cx) {
                rb = Some(out);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (ra, rb) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

/// The whole conversation in one future, over `setup` (new), the pipe moving at most
/// `segment` bytes a call, every operation made with `patience`: the server, and the
/// client's handshake and then its two halves, all polled together.
pub async fn conversation(setup: &mut Setup, segment: usize, seed: u64, patience: u32) -> Outcome {
    let Setup {
        duplex,
        shared,
        echoed,
        server_rx,
        server_tx,
        client_rx,
        client_tx,
        sent,
        expected,
        msg,
    } = setup;
    let (client_end, server_end) = duplex.ends(segment);
    let client = async {
        let ws = connect(client_end, client_rx, client_tx, seed as u32, patience).await?;
        let (r, w) = ws.split(shared, |end| end.split());
        let (read, wrote) = join(
            reader(r, seed, expected, msg, echoed, patience),
            writer(w, seed, sent, echoed, patience),
        )
        .await;
        read.and(wrote)
    };
    let (served, client) = join(server(server_end, server_rx, server_tx, patience), client).await;
    client?;
    ensure!(
        served? == MESSAGES,
        "the server echoed another number of messages"
    );
    Ok(())
}

/// Checks the promise after a transport failure (or the transport's end) through the
/// async driver, as [`crate::drive::fails_from_now_on`] does through the blocking one:
/// every call fails, sends and reads alike, and none panics. `Err` names the first call
/// that did not fail.
pub async fn fails_from_now_on<T: Read + Write, M: ws13::proto::Masking>(
    ws: &mut WebSocket<'_, T, M>,
) -> Outcome {
    ensure!(ws.is_closed(), "not closed after the failure");
    let mut w = ws.writer();
    let sends = [
        w.write(Message::Text("more")).await.is_err(),
        w.write(Message::Ping(b"p")).await.is_err(),
        w.write_fragment(MessageKind::Binary, b"x", true)
            .await
            .is_err(),
        w.begin_frame(MessageKind::Binary, 3, true).await.is_err(),
        w.write_payload(b"abc").await.is_err(),
    ];
    ensure!(!sends.contains(&false), "a send after the failure");
    ensure!(
        ws.send(Message::Binary(b"x")).await.is_err(),
        "a send after the failure"
    );
    ensure!(ws.read().await.is_err(), "a read after the failure");
    ensure!(
        ws.read_message(&mut [0; 125]).await.is_err(),
        "a read_message after the failure"
    );
    Ok(())
}
