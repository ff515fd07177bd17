//! The in-memory server echo alone, for counting instructions: the ws13 side of the
//! in-memory benchmark, once, with no timing and no peer.
//!
//! ```text
//! cargo build --release --bin cg_echo        (in benches/compare)
//! valgrind --tool=callgrind target/release/cg_echo SIZE COUNT
//! GEN_ONLY=1 valgrind --tool=callgrind target/release/cg_echo SIZE COUNT
//! ```
//!
//! The first run echoes COUNT binary messages of SIZE bytes (default 32 and 100,000); the
//! second only generates the client's frames. The difference over COUNT is ws13's
//! instructions per echoed message, a figure that does not depend on the machine's load
//! (`BENCHMARKS.md` has the ones measured).

use ws13_bench_compare::{client_stream, ws13_echo};

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(32);
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let input = client_stream(count, size);
    if std::env::var_os("GEN_ONLY").is_some() {
        println!("generated {} bytes", input.len());
        return;
    }
    // The buffers of examples/echo_server.rs: 46 KiB to receive, 16 KiB to send, in one
    // allocation with a gap between them.
    let mut buf = vec![0u8; 46 * 1024 + 2048 + 16 * 1024];
    let (rx, rest) = buf.split_at_mut(46 * 1024);
    let tx = &mut rest[2048..];
    let (messages, bytes) = ws13_echo(&input, rx, tx);
    println!("echoed {messages} messages, wrote {bytes} bytes");
}
