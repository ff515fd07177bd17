//! Writes the seed corpus: `gen_corpus [DIR]` (default `corpus`), one folder per target.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let mut count = 0;
    for (target, name, bytes) in ws13_fuzz_common::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus folder");
        std::fs::write(dir.join(format!("seed_{name}")), bytes).expect("write seed");
        count += 1;
    }
    // The regression inputs seed the corpus too.
    let regressions = std::path::Path::new("regressions");
    if let Ok(targets) = std::fs::read_dir(regressions) {
        for target in targets.flatten() {
            let dir = root.join(target.file_name());
            std::fs::create_dir_all(&dir).expect("create corpus folder");
            for file in std::fs::read_dir(target.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = format!("regression_{}", file.file_name().to_string_lossy());
                std::fs::copy(file.path(), dir.join(name)).expect("copy a regression input");
                count += 1;
            }
        }
    }
    println!("gen_corpus: {count} seeds written under {}", root.display());
}
