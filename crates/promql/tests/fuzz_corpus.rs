//! Replays the fuzz corpus through `fuzz_parse` on stable Rust, so every
//! seed (and every crash input added to the corpus) stays covered.

use std::path::Path;

#[test]
fn replay_fuzz_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/promql_parse");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ember_promql::fuzz_parse(&data);
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} seeds in {}", dir.display());
}
