//! The loopback load client: drives echo servers over TCP on 127.0.0.1 with the same
//! traffic and reports messages/s, MB/s and the server's CPU time per message (from
//! `/proc/PID/task/*/schedstat`), each server beside its peer, as ratios from one run:
//! the servers are named in pairs (the second beside the first, the fourth beside the
//! third; a fifth beside the first).
//!
//! ```text
//! load [--quick] [--only small|big] NAME=COMMAND... (each COMMAND gets the listen address)
//! load ws13=target/release/examples/echo_server tungstenite=target/compare/release/tungstenite_echo \
//!      ws13-async=target/compare/release/ws13_async_echo tokio-tungstenite=target/compare/release/tokio_tungstenite_echo
//! ```
//!
//! Traffic, per server and round: many pipelined 32-byte binary messages on one
//! connection (a writer thread sends prebuilt masked frames in large writes while the
//! main thread reads the echoes), then pipelined 1 MiB messages. Rounds alternate
//! between the servers; the median round is reported.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ws13_bench_compare::{client_frames, median};

struct Server {
    name: String,
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(spec: &str) -> Server {
    let (name, cmd) = spec.split_once('=').expect("NAME=COMMAND");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut parts = cmd.split_whitespace();
    let child = Command::new(parts.next().expect("a command"))
        .args(parts)
        .arg(&addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{name} does not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        name: name.to_string(),
        child,
        addr,
    }
}

/// The CPU time each live thread of the process has used so far, in nanoseconds: the
/// scheduler's run time from `/proc/PID/task/TID/schedstat`. (The clock-tick counters of
/// `/proc/PID/stat`, 10 ms, are too coarse for runs of a few tens of milliseconds.)
fn thread_cpu(pid: u32) -> HashMap<String, u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    let mut threads = HashMap::new();
    for task in tasks.flatten() {
        // A thread that has just ended has no file any more.
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            let run: u64 = stat
                .split_whitespace()
                .next()
                .and_then(|f| f.parse().ok())
                .expect("schedstat format");
            threads.insert(task.file_name().to_string_lossy().into_owned(), run);
        }
    }
    threads
}

/// The CPU seconds used between two readings of [`thread_cpu`], by the threads alive at
/// the second one. A thread of an earlier connection that ends in between (lingering
/// over its TCP close) is left out rather than counted as negative time; the connection
/// being measured lives from before the first reading to after the second.
fn cpu_between(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> f64 {
    let nanos: u64 = after
        .iter()
        .map(|(tid, run)| run.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    nanos as f64 / 1e9
}

/// Opens a WebSocket connection by hand (the load client uses neither implementation).
fn connect(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("response"),
            1,
            "server closed"
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Counts the data messages (FIN frames) and payload bytes in the server's frames.
#[derive(Default)]
struct Counter {
    header: Vec<u8>,
    skip: u64,
    messages: usize,
    bytes: u64,
}

impl Counter {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let need = match self.header.as_slice() {
                [] | [_] => 2,
                [_, b1, ..] => match b1 & 0x7F {
                    126 => 4,
                    127 => 10,
                    _ => 2,
                },
            };
            if self.header.len() < need {
                let n = (need - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.header.len() < need || need == 2 && self.header[1] & 0x7F >= 126 {
                    continue;
                }
            }
            let h = &self.header;
            assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
            let len = match h[1] & 0x7F {
                126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                127 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
                n => u64::from(n),
            };
            let opcode = h[0] & 0x0F;
            if matches!(opcode, 0..=2) {
                self.bytes += len;
                if h[0] & 0x80 != 0 {
                    self.messages += 1;
                }
            }
            self.header.clear();
            self.skip = len;
        }
    }
}

struct Run {
    seconds: f64,
    cpu_seconds: f64,
}

/// Sends `count` messages of `size` bytes, pipelined, and waits for every echo.
fn run(server: &Server, size: usize, count: usize, batch: &[u8], per_batch: usize) -> Run {
    let stream = connect(&server.addr);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = stream;
    let pid = server.child.id();
    let cpu_before = thread_cpu(pid);
    let start = Instant::now();
    let batches = count / per_batch;
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..batches {
                writer.write_all(batch).expect("send");
            }
        });
        let mut counter = Counter::default();
        let mut buf = vec![0u8; 256 * 1024];
        while counter.messages < count {
            let n = reader.read(&mut buf).expect("receive");
            assert!(n > 0, "{} closed the connection", server.name);
            counter.feed(&buf[..n]);
        }
        assert_eq!(counter.bytes, (count * size) as u64);
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu_after = thread_cpu(pid);
    // Close: a masked close frame, then leave (the server's own close handling is not timed).
    let mut close = Vec::new();
    client_frames(&mut close, 7).close(1000, "");
    let _ = writer.write_all(&close);
    let _ = reader.set_read_timeout(Some(Duration::from_millis(500)));
    let mut sink = [0u8; 4096];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    Run {
        seconds,
        cpu_seconds: cpu_between(&cpu_before, &cpu_after),
    }
}

/// The servers compared, as indices: each in an odd place with the one before it
/// (`ws13 tungstenite ws13-async tokio-tungstenite`: the first with the second, the third
/// with the fourth); one left over with the first.
fn pairs(servers: usize) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = (1..servers).step_by(2).map(|b| (b - 1, b)).collect();
    if servers > 2 && servers % 2 == 1 {
        pairs.push((0, servers - 1));
    }
    pairs
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let specs: Vec<&String> = args.iter().filter(|a| a.contains('=')).collect();
    assert!(
        !specs.is_empty(),
        "usage: load [--quick] [--only small|big] NAME=COMMAND..."
    );
    // `--only small` or `--only big` runs one of the two traffic patterns (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let servers: Vec<Server> = specs.iter().map(|s| start(s)).collect();
    // Loopback figures move from round to round on a shared machine: many short rounds,
    // alternating between the servers, and the median of each.
    let rounds = |big: bool| match (quick, big) {
        (true, _) => 1,
        (false, false) => 5,
        (false, true) => 11,
    };

    let small = 32;
    let per_batch = 1000;
    let small_count = if quick { 100_000 } else { 400_000 };
    let mut small_batch = Vec::new();
    let mut frames = client_frames(&mut small_batch, 1);
    for _ in 0..per_batch {
        frames.binary(&[0x42; 32]);
    }
    let big = 1 << 20;
    let big_count = if quick { 64 } else { 256 };
    let mut big_batch = Vec::new();
    let payload: Vec<u8> = (0..big).map(|i| (i * 31 + 7) as u8).collect();
    client_frames(&mut big_batch, 2).binary(&payload);

    println!("loopback echo on 127.0.0.1, one connection per run, median of the rounds shown");
    for (which, label, size, count, batch, per) in [
        (
            "small",
            "32 B pipelined",
            small,
            small_count,
            &small_batch,
            per_batch,
        ),
        ("big", "1 MiB pipelined", big, big_count, &big_batch, 1),
    ] {
        if only.is_some_and(|o| o != which) {
            continue;
        }
        let mut results: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
        let rounds = rounds(which == "big");
        for _ in 0..rounds {
            for (server, runs) in servers.iter().zip(results.iter_mut()) {
                runs.push(run(server, size, count, batch, per));
            }
        }
        println!("\n== {label}: {count} messages of {size} bytes each way, {rounds} round(s)");
        let mut figures = Vec::new();
        for (server, runs) in servers.iter().zip(results.iter_mut()) {
            let secs = median(&mut runs.iter().map(|r| r.seconds).collect::<Vec<_>>());
            let cpu = median(&mut runs.iter().map(|r| r.cpu_seconds).collect::<Vec<_>>());
            let rate = count as f64 / secs;
            let mbs = (count * size) as f64 / secs / 1e6;
            let cpu_per_msg = cpu / count as f64;
            println!(
                "{:<18} {:>10.0} msg/s {:>8.1} MB/s   server CPU {:>7.3} s = {:>9.3} us/msg",
                server.name,
                rate,
                mbs,
                cpu,
                cpu_per_msg * 1e6
            );
            figures.push((rate, mbs, cpu_per_msg));
        }
        for (a, b) in pairs(servers.len()) {
            let ((ra, ma, ca), (rb, mb, cb)) = (figures[a], figures[b]);
            println!(
                "{} / {}: msg/s x{:.2}, MB/s x{:.2}, server CPU per message x{:.2} ({} / {})",
                servers[a].name,
                servers[b].name,
                ra / rb,
                ma / mb,
                ca / cb,
                servers[a].name,
                servers[b].name,
            );
        }
    }
}
