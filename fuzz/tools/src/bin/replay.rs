//! Replays a corpus through every target's checks, without libFuzzer: a release build
//! with `panic = "abort"`, so that any failed check ends the process with an abort.
//!
//! `replay [DIR...]` (default `corpus` and `regressions`): runs each file of
//! `DIR/<target>/` through every target (a seed of one is a fine input for all).
//! `regressions/` holds inputs that once found a bug, in the crate or in a harness: they
//! are replayed every time.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("handshake_server", ws13_fuzz_common::handshake_server),
    ("handshake_client", ws13_fuzz_common::handshake_client),
    ("connection", ws13_fuzz_common::connection),
    ("blocking_server", ws13_fuzz_common::blocking_server),
    ("blocking_client", ws13_fuzz_common::blocking_client),
    ("write_faults", ws13_fuzz_common::write_faults),
];

/// The run in progress, named by the panic hook before the process aborts.
static CURRENT: Mutex<String> = Mutex::new(String::new());

fn main() {
    let mut roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if roots.is_empty() {
        roots = vec!["corpus".into(), "regressions".into()];
    }
    let started = Instant::now();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let current = CURRENT.lock().map(|c| c.clone()).unwrap_or_default();
        eprintln!("replay: FAILED: {current}");
        default_hook(info);
    }));
    let mut files = Vec::new();
    for root in &roots {
        for (name, _) in TARGETS {
            let Ok(entries) = std::fs::read_dir(root.join(name)) else {
                continue;
            };
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files.sort();
    let mut runs = 0u64;
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        for (name, target) in TARGETS {
            *CURRENT.lock().unwrap() = format!("target {name} on {}", path.display());
            target(&data);
            runs += 1;
        }
    }
    println!(
        "replay: {} files, {runs} runs, all passed in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
}
