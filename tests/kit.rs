//! The test kit's checks (`ws13_testkit::checks`), the ones the microcontroller runs
//! under QEMU, here on the host: the crate's parts one at a time, and every
//! whole-conversation check over a matrix of transfer sizes, buffer sizes and seeds of
//! injected faults.

use ws13_testkit::checks::{self, Buffers, Config};

fn run(cfg: Config) {
    let mut b = Box::new(Buffers::new());
    if let Err((check, what)) = checks::all(&mut b, &cfg) {
        panic!("{check}: {what} ({cfg:?})");
    }
}

#[test]
fn every_part() {
    let mut b = Box::new(Buffers::new());
    if let Err((check, what)) = checks::all_parts(&mut b) {
        panic!("{check}: {what}");
    }
}

#[test]
fn every_check_over_the_matrix() {
    for cfg in Config::matrix() {
        run(cfg);
    }
}

#[test]
fn every_check_with_faults_over_many_seeds() {
    ws13_testkit::rng::cases("KIT", 100, 200, |seed| run(Config::varied(seed)));
}

#[test]
fn async_conversation_split_halves_with_operations_dropped_and_made_again() {
    use std::time::Duration;
    use ws13_testkit::checks::asynch::{self, Setup};
    // A real executor, whose tasks sleep until woken: a missed wake-up hangs, and the
    // timeout reports it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let segments = [1, 2, 3, 5, 7, 13, 64, 100, 300, 512, 4096];
    for (i, segment) in segments.into_iter().cycle().take(55).enumerate() {
        let seed = i as u64 + 1;
        // Every operation awaited, then dropped and made again at its first, second or
        // third wake-up, as a timeout by select would.
        for patience in 0..4 {
            let mut setup = Box::new(Setup::new());
            let run = asynch::conversation(&mut setup, segment, seed, patience);
            let limited = async { tokio::time::timeout(Duration::from_secs(10), run).await };
            let what = match rt.block_on(limited) {
                Ok(Ok(())) => continue,
                Ok(Err(what)) => what,
                Err(_) => "no end after 10 s",
            };
            panic!("async conversation, {segment}-byte segments, patience {patience}: {what}");
        }
    }
}
