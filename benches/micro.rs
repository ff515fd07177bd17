//! ws13's own micro-benchmarks (divan): unmasking beside a plain copy, frame headers,
//! incremental UTF-8 validation beside `core::str::from_utf8`, and a whole server echo
//! over an in-memory transport. `cargo bench` runs them; `scripts/bench.sh` adds the
//! comparison with tungstenite and the loopback run, as ratios.

use std::hint::black_box;

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use ws13::blocking::{NoMask, WebSocket};
use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::utf8::Utf8Validator;
use ws13::Event;
use ws13_testkit::wire::{Frames, Keys};
use ws13_testkit::{Count, Script, TestMask};

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

/// Masked client frames: `count` binary messages of `size` bytes, then a close.
fn client_stream(count: usize, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let mut frames = Frames::new(Vec::new(), Keys::Test(TestMask(0x9E37_79B9)));
    for _ in 0..count {
        frames.binary(&payload);
    }
    frames.close(1000, "");
    frames.into_inner()
}

/// The whole server echo of `count` messages of `size` bytes, with 32 KiB buffers (one
/// allocation, the halves 2 KiB apart: see the README's performance notes), over the
/// kit's scripted transport reading the frames from a slice and counting what is
/// written.
#[divan::bench(args = [(32, 10_000), (4096, 500), (1 << 20, 4)])]
fn echo(bencher: Bencher, (size, count): (usize, usize)) {
    let input = client_stream(count, size);
    let mut buffers = vec![0u8; 64 * 1024 + 2048];
    bencher.counter(ItemsCount::new(count)).bench_local(|| {
        let (rx, rest) = buffers.split_at_mut(32 * 1024);
        let io = Script::new(&input[..], Count::default());
        let mut ws =
            WebSocket::from_upgraded(io, rx, 0..0, &mut rest[2048..], 0, NoMask).expect("buffers");
        loop {
            let (event, mut writer) = ws.read_split().expect("read");
            match event {
                // As examples/echo_server.rs echoes binary: frames sent back as they
                // came, the payload passed on piece by piece.
                Event::Data(piece) => writer.relay(&piece).expect("send"),
                Event::Close(_) => break,
                _ => {}
            }
        }
        ws.get_ref().output.0
    });
}
