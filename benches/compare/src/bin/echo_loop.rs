//! Runs one in-memory echo over and over, for a profiler:
//! `echo_loop ws13|tungstenite SIZE COUNT ROUNDS` (e.g. `perf record target/.../echo_loop ws13 32 50000 200`).

use std::hint::black_box;

use ws13_bench_compare::{client_stream, seconds, tungstenite_echo, ws13_echo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: echo_loop ws13|tungstenite SIZE COUNT ROUNDS";
    let arg = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).expect(usage) };
    let (size, count, rounds) = (arg(2), arg(3), arg(4));
    let input = client_stream(count, size);
    // SKEW=n puts the transmit buffer n bytes after the receive buffer's end, in one allocation.
    let skew: usize = std::env::var("SKEW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut both = vec![0u8; 64 * 1024 + skew];
    let (rx, tx) = both.split_at_mut(32 * 1024);
    let tx = &mut tx[skew..];
    let which = args.get(1).map(String::as_str);
    let t = seconds(|| {
        for _ in 0..rounds {
            match which {
                Some("ws13") => black_box(ws13_echo(&input, rx, tx)),
                Some("tungstenite") => black_box(tungstenite_echo(&input)),
                _ => panic!("{usage}"),
            };
        }
    });
    let messages = (count * rounds) as f64;
    println!(
        "{:.0} messages/s, {:.1} ns per message",
        messages / t,
        t / messages * 1e9
    );
}
