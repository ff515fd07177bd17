//! Shared pieces of the comparison benchmarks: client frames built by hand, in-memory
//! transports for ws13 (embedded-io) and tungstenite (std::io), and a small timer that
//! interleaves the two contenders so that both see the same machine.

use std::hint::black_box;
use std::time::Instant;

/// Appends a masked (client-to-server) frame with `opcode` and `payload`, FIN set.
pub fn client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// A fresh-looking masking key for frame `i` (the peers do not care where it comes from).
pub fn key_for(i: usize) -> [u8; 4] {
    (i as u32)
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add(0x7F4A_7C15)
        .to_le_bytes()
}

/// `count` binary messages of `size` bytes from a client, then its close frame (1000).
pub fn client_stream(count: usize, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let mut out = Vec::with_capacity(count * (size + 14) + 16);
    for i in 0..count {
        client_frame(&mut out, 0x2, &payload, key_for(i));
    }
    client_frame(&mut out, 0x8, &1000u16.to_be_bytes(), key_for(count));
    out
}

/// Input from a slice, output into a counting sink: an embedded-io transport for ws13.
pub struct MemIo<'a> {
    input: &'a [u8],
    pos: usize,
    /// Bytes written so far.
    pub written: usize,
}

impl<'a> MemIo<'a> {
    /// A transport that reads `input` and then reaches its end.
    pub fn new(input: &'a [u8]) -> Self {
        MemIo {
            input,
            pos: 0,
            written: 0,
        }
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        n
    }

    fn put(&mut self, buf: &[u8]) -> usize {
        black_box(buf);
        self.written += buf.len();
        buf.len()
    }
}

impl embedded_io::ErrorType for MemIo<'_> {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for MemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(self.take(buf))
    }
}

impl embedded_io::Write for MemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(self.put(buf))
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The same transport through `std::io`, for tungstenite.
pub struct StdMemIo<'a>(pub MemIo<'a>);

impl std::io::Read for StdMemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(self.0.take(buf))
    }
}

impl std::io::Write for StdMemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(self.0.put(buf))
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
    use ws13::{Event, Role};
    let mut ws = WebSocket::from_upgraded(MemIo::new(input), Role::Server, rx, 0, tx, NoMask)
        .expect("buffers");
    let mut messages = 0;
    loop {
        let (event, mut writer) = ws.read_split().expect("read");
        match event {
            Event::Data {
                kind,
                last,
                payload,
                frame_remaining,
                frame_fin,
                ..
            } => {
                messages += usize::from(last);
                writer
                    .relay(kind, payload, frame_remaining, frame_fin)
                    .expect("send");
            }
            Event::Close(_) => break,
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
    (messages, ws.get_ref().written)
}

/// tungstenite's server echoing every message of `input`, as its own example server
/// does (`read`, then `send`). Returns messages echoed and bytes written.
pub fn tungstenite_echo(input: &[u8]) -> (usize, usize) {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(StdMemIo(MemIo::new(input)), Role::Server, None);
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
    (messages, ws.get_ref().0.written)
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
