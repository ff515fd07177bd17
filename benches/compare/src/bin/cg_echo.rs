use ws13_bench_compare::{client_stream, ws13_echo};
fn main() {
    let size: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let count: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let input = client_stream(count, size);
    let mut buf = vec![0u8; 46 * 1024 + 2048 + 16 * 1024];
    let (rx, rest) = buf.split_at_mut(46 * 1024);
    let tx = &mut rest[2048..];
    if std::env::var("GEN_ONLY").is_ok() { println!("{}", input.len()); return; }
    let (m, b) = ws13_echo(&input, rx, tx);
    println!("{m} {b}");
}
