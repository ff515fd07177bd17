//! Shared pieces of the comparison benchmarks: client frames and the in-memory transport
//! from the test kit (embedded-io for ws13, wrapped in std::io for tungstenite; made
//! async for ws13's async driver, and wrapped in tokio's I/O traits for
//! tokio-tungstenite), the echo servers of each, and a small timer that interleaves the
//! contenders so that all see the same machine.

use std::time::Instant;

use ws13_testkit::wire::{Frames, Keys};
use ws13_testkit::{Count, Script, TestMask};

/// A masked frame builder whose keys come in turn from a deterministic source (the
/// peers do not care where they come from).
pub fn client_frames(out: &mut Vec<u8>, seed: u32) -> Frames<&mut Vec<u8>> {
    Frames::new(out, Keys::Test(TestMask(seed)))
}

/// `count` binary messages of `size` bytes from a client, then its close frame (1000).
pub fn client_stream(count: usize, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let mut out = Vec::with_capacity(count * (size + 14) + 16);
    let mut frames = client_frames(&mut out, 0x7F4A_7C15);
    for _ in 0..count {
        frames.binary(&payload);
    }
    frames.close(1000, "");
    out
}

/// Input from a slice, output into a counting sink: the test kit's scripted transport,
/// with no fault.
pub type MemIo<'a> = Script<'static, &'a [u8], Count>;

/// A transport reading `input` and then reaching its end, counting what is written.
pub fn mem_io(input: &[u8]) -> MemIo<'_> {
    Script::new(input, Count::default())
}

/// The same transport through `std::io`, for tungstenite.
pub struct StdMemIo<'a>(pub MemIo<'a>);

impl std::io::Read for StdMemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        embedded_io::Read::read(&mut self.0, buf).map_err(|k| std::io::ErrorKind::from(k).into())
    }
}

impl std::io::Write for StdMemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        embedded_io::Write::write(&mut self.0, buf).map_err(|k| std::io::ErrorKind::from(k).into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// ws13's server echoing every (binary) message of `input` as `examples/echo_server.rs`
/// does: each frame sent back as it came, its payload passed on piece by piece as it
/// arrives. Returns messages echoed and bytes written.
pub fn ws13_echo(input: &[u8], rx: &mut [u8], tx: &mut [u8]) -> (usize, usize) {
    use ws13::blocking::{NoMask, WebSocket};
    use ws13::Event;
    let mut ws = WebSocket::from_upgraded(mem_io(input), rx, 0..0, tx, 0, NoMask).expect("buffers");
    let mut messages = 0;
    loop {
        let (event, mut writer) = ws.read_split().expect("read");
        match event {
            Event::Data(piece) => {
                messages += usize::from(piece.last);
                writer.relay(&piece).expect("send");
            }
            Event::Close(_) => break,
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
    (messages, ws.get_ref().output.0)
}

/// tungstenite's server echoing every message of `input`, as its own example server
/// does (`read`, then `send`). Returns messages echoed and bytes written.
pub fn tungstenite_echo(input: &[u8]) -> (usize, usize) {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(StdMemIo(mem_io(input)), Role::Server, None);
    let mut messages = 0;
    loop {
        let msg = ws.read().expect("read");
        if msg.is_binary() || msg.is_text() {
            messages += 1;
            ws.send(msg).expect("send");
        } else if msg.is_close() {
            break;
        }
    }
    (messages, ws.get_ref().0.output.0)
}

/// Seconds `f` takes.
pub fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `a` and `b` alternately, `rounds` times each, and returns their median times in
/// seconds: the two see the same load from whatever else runs on the machine.
pub fn race(rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ta.push(seconds(&mut a));
        tb.push(seconds(&mut b));
    }
    (median(&mut ta), median(&mut tb))
}

/// Calls `f` enough times (`reps`) for one timing to last about `target` seconds.
pub fn calibrate(target: f64, mut f: impl FnMut()) -> usize {
    let mut reps = 1usize;
    loop {
        let t = seconds(|| (0..reps).for_each(|_| f()));
        if t >= target || reps >= 1 << 30 {
            return ((reps as f64) * target / t.max(1e-9)).ceil().max(1.0) as usize;
        }
        reps *= 4;
    }
}

/// The async rows' runtime: tokio's current-thread runtime, with I/O for the loopback
/// servers.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a tokio runtime")
}

/// The in-memory transport made async for ws13's async driver: the kit's `Stalling`
/// that never stalls, each call the blocking transport's.
pub type AsyncMemIo<'a> = ws13_testkit::asyncio::Stalling<MemIo<'a>>;

/// ws13's async server echoing every (binary) message of `input` as [`ws13_echo`] does
/// (and examples/async_echo_server.rs): each frame sent back as it came, piece by piece,
/// on `rt`. Returns messages echoed and bytes written.
pub fn ws13_async_echo(
    rt: &tokio::runtime::Runtime,
    input: &[u8],
    rx: &mut [u8],
    tx: &mut [u8],
) -> (usize, usize) {
    use ws13::asynch::WebSocket;
    use ws13::{Event, NoMask};
    rt.block_on(async {
        let io: AsyncMemIo<'_> = ws13_testkit::asyncio::Stalling::new(mem_io(input), 0, 0);
        let mut ws = WebSocket::from_upgraded(io, rx, 0..0, tx, 0, NoMask).expect("buffers");
        let mut messages = 0;
        loop {
            let (event, mut writer) = ws.read_split().await.expect("read");
            match event {
                Event::Data(piece) => {
                    messages += usize::from(piece.last);
                    writer.relay(&piece).await.expect("send");
                }
                Event::Close(_) => break,
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
        (messages, ws.get_mut().get_ref().output.0)
    })
}

/// The in-memory transport through tokio's `AsyncRead` and `AsyncWrite`, for
/// tokio-tungstenite: always ready.
pub struct TokioMemIo<'a>(pub MemIo<'a>);

impl tokio::io::AsyncRead for TokioMemIo<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let read = embedded_io::Read::read(&mut self.0, buf.initialize_unfilled());
        std::task::Poll::Ready(match read {
            Ok(n) => {
                buf.advance(n);
                Ok(())
            }
            Err(k) => Err(std::io::ErrorKind::from(k).into()),
        })
    }
}

impl tokio::io::AsyncWrite for TokioMemIo<'_> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(
            embedded_io::Write::write(&mut self.0, buf)
                .map_err(|k| std::io::ErrorKind::from(k).into()),
        )
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// tokio-tungstenite's server echoing every message of `input`, as its own example
/// echo server does (`next`, then `send`), on `rt`. Returns messages echoed and bytes
/// written.
pub fn tokio_tungstenite_echo(rt: &tokio::runtime::Runtime, input: &[u8]) -> (usize, usize) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::WebSocketStream;
    rt.block_on(async {
        let io = TokioMemIo(mem_io(input));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let mut messages = 0;
        while let Some(msg) = ws.next().await {
            let msg = msg.expect("read");
            if msg.is_binary() || msg.is_text() {
                messages += 1;
                ws.send(msg).await.expect("send");
            } else if msg.is_close() {
                break;
            }
        }
        (messages, ws.get_ref().0.output.0)
    })
}

/// Times each of `contenders` in turn, `rounds` times, and returns their median times in
/// seconds, in order: all see the same load from whatever else runs on the machine.
pub fn race_all(rounds: usize, contenders: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    for f in contenders.iter_mut() {
        f();
    }
    let mut times = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (f, t) in contenders.iter_mut().zip(&mut times) {
            t.push(seconds(&mut **f));
        }
    }
    times.iter_mut().map(|t| median(t)).collect()
}
