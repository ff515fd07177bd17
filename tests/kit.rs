//! The test kit's whole-conversation checks (`ws13_testkit::checks`), the ones the
//! microcontroller runs under QEMU, here on the host: every check over a matrix of
//! transfer sizes, buffer sizes and seeds of injected faults.

use ws13_testkit::checks::{self, Buffers, Config};

fn run(cfg: Config) {
    let mut b = Box::new(Buffers::new());
    if let Err((check, what)) = checks::all(&mut b, &cfg) {
        panic!("{check}: {what} ({cfg:?})");
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
    ws13_testkit::rng::cases("KIT", 100, 200, |seed| {
        let segment = [1, 2, 5, 13, 64, 300, 4096][seed as usize % 7];
        let mut cfg = Config::new(segment).with_faults(seed);
        cfg.rx = [200, 233, 256, 512][(seed / 7) as usize % 4];
        cfg.tx = [256, 300, 512][(seed / 3) as usize % 3];
        run(cfg);
    });
}
