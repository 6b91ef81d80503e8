//! Replays the `chunk_decode` fuzz corpus (`fuzz/corpus/chunk_decode/` at
//! the workspace root) through the function the fuzz target calls.

use std::fs;
use std::path::{Path, PathBuf};

use ember_chunks::{fuzz_decode, XorChunk};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/chunk_decode")
}

#[test]
fn replay_fuzz_corpus() {
    // The corpus is optional: a checkout without it has nothing to replay.
    let Ok(entries) = fs::read_dir(corpus_dir()) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_file() {
            let data = fs::read(&path).unwrap();
            fuzz_decode(&data);
        }
    }
}

/// Writes the seed files of the corpus. Run explicitly:
/// `cargo test -p ember-chunks --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes the seed corpus into the source tree"]
fn write_seed_corpus() {
    fn chunk(samples: impl IntoIterator<Item = (i64, f64)>) -> Vec<u8> {
        let mut c = XorChunk::new();
        for (t, v) in samples {
            c.append(t, v).unwrap();
        }
        c.into_bytes()
    }
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    let seeds = [
        ("seed-empty", chunk([])),
        ("seed-two-samples", chunk([(1000, 1.0), (16000, 2.0)])),
        (
            "seed-counter-120",
            chunk((0..120).map(|i| (1_700_000_000_000 + i * 15_000 + (i * 7) % 9, (i * i) as f64))),
        ),
        (
            "seed-special-values",
            chunk(
                [
                    f64::from_bits(0x7ff0_0000_0000_0002),
                    f64::NAN,
                    -0.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::from_bits(1),
                    0.1,
                ]
                .into_iter()
                .enumerate()
                .map(|(i, v)| (-30_000 + i as i64 * 1_000_003, v)),
            ),
        ),
    ];
    for (name, data) in seeds {
        fs::write(dir.join(name), data).unwrap();
    }
}
