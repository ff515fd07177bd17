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
fn async_conversation_split_halves_at_several_segment_sizes() {
    use ws13_testkit::checks::asynch::{self, Setup};
    // A real executor, whose tasks sleep until woken: a missed wake-up hangs here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let segments = [1, 2, 3, 5, 7, 13, 64, 100, 300, 512, 4096];
    for (i, segment) in segments.into_iter().cycle().take(55).enumerate() {
        let seed = i as u64 + 1;
        let mut setup = Box::new(Setup::new());
        if let Err(what) = rt.block_on(asynch::conversation(&mut setup, segment, seed)) {
            panic!("async conversation, {segment}-byte segments: {what}");
        }
    }
}
