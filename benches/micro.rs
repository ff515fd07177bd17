//! ws13's own micro-benchmarks (divan): unmasking beside a plain copy, frame headers,
//! incremental UTF-8 validation beside `core::str::from_utf8`, and a whole server echo
//! over an in-memory transport. `cargo bench` runs them; `scripts/bench.sh` adds the
//! comparison with tungstenite and the loopback run, as ratios.

use std::convert::Infallible;
use std::hint::black_box;

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use ws13::blocking::{NoMask, WebSocket};
use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::utf8::Utf8Validator;
use ws13::{Event, Role};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[1024, 64 * 1024];

/// Unmasking `size` bytes in place, starting `start` bytes into an allocation.
#[divan::bench(args = SIZES, consts = [0, 1])]
fn mask<const START: usize>(bencher: Bencher, size: usize) {
    let mut data = vec![0x5Au8; size + 16];
    bencher.counter(BytesCount::new(size)).bench_local(|| {
        apply_mask(
            black_box(&mut data[START..START + size]),
            [1, 2, 3, 4],
            START,
        )
    });
}

/// The peer: a plain copy of the same bytes.
#[divan::bench(args = SIZES, consts = [0, 1])]
fn copy<const START: usize>(bencher: Bencher, size: usize) {
    let src = vec![0xA5u8; size + 16];
    let mut dst = vec![0u8; size + 16];
    bencher.counter(BytesCount::new(size)).bench_local(|| {
        dst[START..START + size].copy_from_slice(black_box(&src[START..START + size]));
        black_box(&dst);
    });
}

const HEADERS: &[(Option<[u8; 4]>, u64)] = &[
    (Some([1, 2, 3, 4]), 32),
    (Some([1, 2, 3, 4]), 4096),
    (None, 1 << 20),
];

fn header((mask, len): (Option<[u8; 4]>, u64)) -> FrameHeader {
    FrameHeader {
        fin: true,
        opcode: OpCode::Binary,
        mask,
        len,
    }
}

#[divan::bench(args = [0, 1, 2])]
fn header_parse(bencher: Bencher, which: usize) {
    let bytes = header(HEADERS[which]).emit().as_bytes().to_vec();
    bencher.bench_local(|| FrameHeader::parse(black_box(&bytes)));
}

#[divan::bench(args = [0, 1, 2])]
fn header_emit(bencher: Bencher, which: usize) {
    let h = header(HEADERS[which]);
    bencher.bench_local(|| black_box(&h).emit());
}

fn text(multibyte: bool) -> String {
    let unit = if multibyte {
        "κόσμε 日本語のテキスト 😀🚀 Grüße, Москва! "
    } else {
        "{\"id\":12345,\"name\":\"sensor-7\",\"value\":21.5,\"ok\":true}\n"
    };
    let mut s = String::new();
    for c in unit.chars().cycle() {
        if s.len() + c.len_utf8() > 64 * 1024 {
            break;
        }
        s.push(c);
    }
    s
}

/// The validator, fed 64 KiB of text in pieces of 4 KiB (as it arrives from reads).
#[divan::bench(args = [false, true])]
fn utf8_validator(bencher: Bencher, multibyte: bool) {
    let text = text(multibyte);
    bencher
        .counter(BytesCount::new(text.len()))
        .bench_local(|| {
            let mut v = Utf8Validator::new();
            let pieces_ok = black_box(text.as_bytes())
                .chunks(4096)
                .all(|piece| v.feed(piece).is_ok());
            pieces_ok && v.finish().is_ok()
        });
}

/// The peer: `core::str::from_utf8` on the same 64 KiB at once.
#[divan::bench(args = [false, true])]
fn utf8_core(bencher: Bencher, multibyte: bool) {
    let text = text(multibyte);
    bencher
        .counter(BytesCount::new(text.len()))
        .bench_local(|| core::str::from_utf8(black_box(text.as_bytes())).is_ok());
}

/// Reads from a slice, writes into a sink that counts.
struct MemIo<'a> {
    input: &'a [u8],
    written: usize,
}

impl embedded_io::ErrorType for MemIo<'_> {
    type Error = Infallible;
}

impl embedded_io::Read for MemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.input.len());
        let (now, later) = self.input.split_at(n);
        buf[..n].copy_from_slice(now);
        self.input = later;
        Ok(n)
    }
}

impl embedded_io::Write for MemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.written += black_box(buf).len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Masked client frames: `count` binary messages of `size` bytes, then a close.
fn client_stream(count: usize, size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut frame = |opcode: u8, payload: &[u8], key: [u8; 4]| {
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
    };
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    for i in 0..count {
        frame(
            0x2,
            &payload,
            (i as u32).wrapping_mul(0x9E37_79B9).to_le_bytes(),
        );
    }
    frame(0x8, &1000u16.to_be_bytes(), [9, 8, 7, 6]);
    out
}

/// The whole server echo of `count` messages of `size` bytes, with 32 KiB buffers (one
/// allocation, the halves 2 KiB apart: see the README's performance notes).
#[divan::bench(args = [(32, 10_000), (4096, 500), (1 << 20, 4)])]
fn echo(bencher: Bencher, (size, count): (usize, usize)) {
    let input = client_stream(count, size);
    let mut buffers = vec![0u8; 64 * 1024 + 2048];
    bencher.counter(ItemsCount::new(count)).bench_local(|| {
        let (rx, rest) = buffers.split_at_mut(32 * 1024);
        let io = MemIo {
            input: &input,
            written: 0,
        };
        let mut ws = WebSocket::from_upgraded(io, Role::Server, rx, 0, &mut rest[2048..], NoMask)
            .expect("buffers");
        loop {
            let (event, mut writer) = ws.read_split().expect("read");
            match event {
                Event::Data {
                    kind,
                    payload,
                    frame_remaining,
                    frame_fin,
                    ..
                } => {
                    // As examples/echo_server.rs echoes binary: frames sent back as they
                    // came, the payload passed on piece by piece.
                    writer
                        .relay(kind, payload, frame_remaining, frame_fin)
                        .expect("send");
                }
                Event::Close(_) => break,
                _ => {}
            }
        }
        ws.get_ref().written
    });
}
