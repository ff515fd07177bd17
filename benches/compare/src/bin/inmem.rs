//! In-process figures, each beside its peer from the same run, as ratios:
//! unmasking beside a plain copy, incremental UTF-8 validation beside
//! `core::str::from_utf8`, frame headers, and a whole server echo over an in-memory
//! transport, ws13 beside tungstenite, and ws13's async driver beside tokio-tungstenite
//! (on tokio's current-thread runtime).
//!
//! `cargo run --release --bin inmem` (scripts/bench.sh runs it). `--quick` runs fewer rounds.

use std::hint::black_box;

use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::utf8::Utf8Validator;
use ws13_bench_compare::{
    calibrate, client_stream, current_thread, race, race_all, tokio_tungstenite_echo,
    tungstenite_echo, ws13_async_echo, ws13_echo,
};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 11 };
    let slice = if quick { 0.01 } else { 0.03 };

    println!("== unmasking vs a plain copy of the same bytes (GB/s; ratio = mask / copy, target >= 0.50)");
    for size in [1024usize, 64 * 1024] {
        for (name, start, phase) in [("aligned", 0usize, 0usize), ("odd offset", 1, 3)] {
            let mut data = vec![0x5Au8; size + 16];
            let src = vec![0xA5u8; size + 16];
            let mut dst = vec![0u8; size + 16];
            let key = [0x12, 0x34, 0x56, 0x78];
            let mut mask = || {
                apply_mask(black_box(&mut data[start..start + size]), key, phase);
                black_box(&data);
            };
            let mut copy = || {
                dst[start..start + size].copy_from_slice(black_box(&src[start..start + size]));
                black_box(&dst);
            };
            let reps = calibrate(slice, &mut mask).max(calibrate(slice, &mut copy));
            let (tm, tc) = race(
                rounds,
                || (0..reps).for_each(|_| mask()),
                || (0..reps).for_each(|_| copy()),
            );
            let gbs = |t: f64| (size * reps) as f64 / t / 1e9;
            println!(
                "{:>6} {:<10}  mask {:7.2} GB/s  copy {:7.2} GB/s  ratio {:.2}",
                human(size),
                name,
                gbs(tm),
                gbs(tc),
                tc / tm
            );
        }
    }

    println!("\n== UTF-8: ws13 Utf8Validator vs core::str::from_utf8 on the same text (GB/s; ratio target >= 0.70)");
    for (name, text) in [
        ("ASCII", ascii_text(64 * 1024)),
        ("multi-byte", multibyte_text(64 * 1024)),
    ] {
        for piece in [usize::MAX, 4096, 1000] {
            let mut validate = || {
                let mut v = Utf8Validator::new();
                for chunk in black_box(text.as_bytes()).chunks(piece.min(text.len())) {
                    v.feed(chunk).expect("valid");
                }
                v.finish().expect("complete");
            };
            let mut std_check = || {
                core::str::from_utf8(black_box(text.as_bytes())).expect("valid");
            };
            let reps = calibrate(slice, &mut validate).max(calibrate(slice, &mut std_check));
            let (tv, ts) = race(
                rounds,
                || (0..reps).for_each(|_| validate()),
                || (0..reps).for_each(|_| std_check()),
            );
            let gbs = |t: f64| (text.len() * reps) as f64 / t / 1e9;
            let pieces = if piece == usize::MAX {
                "whole".to_string()
            } else {
                format!("{piece} B pieces")
            };
            println!(
                "{:>6} {:<10} {:<15} validator {:6.2} GB/s  from_utf8 {:6.2} GB/s  ratio {:.2}",
                human(text.len()),
                name,
                pieces,
                gbs(tv),
                gbs(ts),
                ts / tv
            );
        }
    }

    println!("\n== frame headers (ns per header; no peer)");
    for (name, header) in [
        ("32 B masked", header(Some([1, 2, 3, 4]), 32)),
        ("4 KiB masked", header(Some([1, 2, 3, 4]), 4096)),
        ("1 MiB unmasked", header(None, 1 << 20)),
    ] {
        let bytes = header.emit();
        let bytes = bytes.as_bytes().to_vec();
        let mut parse = || {
            black_box(FrameHeader::parse(black_box(&bytes)).expect("valid"));
        };
        let mut emit = || {
            black_box(black_box(&header).emit());
        };
        let reps = calibrate(slice, &mut parse).max(calibrate(slice, &mut emit));
        let (tp, te) = race(
            rounds,
            || (0..reps).for_each(|_| parse()),
            || (0..reps).for_each(|_| emit()),
        );
        println!(
            "{name:<15} parse {:5.2} ns   emit {:5.2} ns",
            tp / reps as f64 * 1e9,
            te / reps as f64 * 1e9
        );
    }

    println!("\n== server echo over an in-memory transport: ws13 vs tungstenite 0.30 (blocking),");
    println!(
        "   ws13::asynch vs tokio-tungstenite 0.30 (async, on tokio's current-thread runtime)"
    );
    println!(
        "   (masked client frames read from a slice, replies written to a sink; binary messages;"
    );
    println!(
        "    ws13 with 46 KiB to receive and 16 KiB to send in one allocation, as examples/echo_server.rs;"
    );
    println!("    all four timed in turn, round after round; ratio = peer's time / ws13's)");
    let rt = current_thread();
    let mut buffers = vec![0u8; (46 + 2 + 16) * 1024];
    let (rx, rest) = buffers.split_at_mut(46 * 1024);
    let tx = &mut rest[2 * 1024..];
    for (size, count, target) in [
        (32usize, 50_000usize, 3.0),
        (4096, 2_000, f64::NAN),
        (1 << 20, 16, 1.5),
    ] {
        let count = if quick { count / 4 } else { count };
        let input = client_stream(count, size);
        assert_eq!(ws13_echo(&input, rx, tx).0, count);
        assert_eq!(tungstenite_echo(&input).0, count);
        assert_eq!(ws13_async_echo(&rt, &input, rx, tx).0, count);
        assert_eq!(tokio_tungstenite_echo(&rt, &input).0, count);
        // As many messages and bytes back from each ws13 driver.
        assert_eq!(
            ws13_echo(&input, rx, tx),
            ws13_async_echo(&rt, &input, rx, tx)
        );
        let (rx, tx) = (&mut *rx, &mut *tx);
        let mut blocking = || {
            black_box(ws13_echo(&input, rx, tx));
        };
        let mut peer = || {
            black_box(tungstenite_echo(&input));
        };
        let (mut arx, mut atx) = (vec![0u8; 46 * 1024], vec![0u8; 16 * 1024]);
        let mut asynch = || {
            black_box(ws13_async_echo(&rt, &input, &mut arx, &mut atx));
        };
        let mut async_peer = || {
            black_box(tokio_tungstenite_echo(&rt, &input));
        };
        let times = race_all(
            rounds,
            &mut [&mut blocking, &mut peer, &mut asynch, &mut async_peer],
        );
        let (tw, tt, ta, tat) = (times[0], times[1], times[2], times[3]);
        let rate = |t: f64| count as f64 / t;
        let mbs = |t: f64| (count * size) as f64 / t / 1e6;
        let target = if target.is_nan() {
            String::new()
        } else {
            format!(" (target >= {target})")
        };
        println!(
            "{:>6}  blocking  ws13 {:>10.0} msg/s {:>8.0} MB/s   tungstenite       {:>10.0} msg/s {:>8.0} MB/s   ratio {:.2}{}",
            human(size),
            rate(tw),
            mbs(tw),
            rate(tt),
            mbs(tt),
            tt / tw,
            target
        );
        println!(
            "{:>6}  async     ws13 {:>10.0} msg/s {:>8.0} MB/s   tokio-tungstenite {:>10.0} msg/s {:>8.0} MB/s   ratio {:.2}   (ws13 async / blocking time {:.2})",
            human(size),
            rate(ta),
            mbs(ta),
            rate(tat),
            mbs(tat),
            tat / ta,
            ta / tw
        );
    }
}

fn header(mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
    FrameHeader {
        fin: true,
        opcode: OpCode::Binary,
        mask,
        len,
    }
}

fn human(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1024 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// Printable ASCII, like a JSON payload.
fn ascii_text(len: usize) -> String {
    let line = "{\"id\":12345,\"name\":\"sensor-7\",\"value\":21.5,\"ok\":true}\n";
    line.chars().cycle().take(len).collect()
}

/// Mixed 2-, 3- and 4-byte characters with some ASCII, cut at a character boundary.
fn multibyte_text(len: usize) -> String {
    let words = "κόσμε 日本語のテキスト 😀🚀 Grüße, Москва! ";
    let mut s = String::with_capacity(len + 8);
    for c in words.chars().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    s
}
