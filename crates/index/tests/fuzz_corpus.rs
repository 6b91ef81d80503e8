//! Replays the `index_read` fuzz corpus (`fuzz/corpus/index_read/` at the
//! workspace root) through the function the fuzz target calls.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ember_index::{fuzz_read, ChunkMeta, IndexWriter};
use ember_model::Labels;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/index_read")
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
            fuzz_read(&fs::read(&path).unwrap());
        }
    }
}

/// A series' labels and chunks.
type Series<'a> = (&'a [(&'a str, &'a str)], &'a [ChunkMeta]);

fn index(series: &[Series<'_>]) -> Vec<u8> {
    let mut sets: Vec<(Labels, Vec<ChunkMeta>)> = series
        .iter()
        .map(|(l, c)| (Labels::from_pairs(l.iter().copied()).unwrap(), c.to_vec()))
        .collect();
    sets.sort_by(|a, b| a.0.cmp(&b.0));
    let mut symbols: Vec<String> = sets
        .iter()
        .flat_map(|(l, _)| {
            l.iter()
                .flat_map(|x| [x.name.to_string(), x.value.to_string()])
        })
        .collect();
    symbols.sort();
    symbols.dedup();
    let mut w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    for s in &symbols {
        w.add_symbol(s).unwrap();
    }
    for (l, c) in &sets {
        w.add_series(l, c).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Writes the seed files of the corpus. Run explicitly:
/// `cargo test -p ember-index --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes the seed corpus into the source tree"]
fn write_seed_corpus() {
    let c = |min_time, max_time, chunk_ref| ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    };
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    let many: Vec<(String, String)> = (0..70)
        .map(|i| (format!("{i:02}"), ["a", "b", "c"][i % 3].to_string()))
        .collect();
    let many_refs: Vec<[(&str, &str); 3]> = many
        .iter()
        .map(|(i, j)| [("__name__", "m"), ("i", i.as_str()), ("j", j.as_str())])
        .collect();
    let many_series: Vec<Series<'_>> = many_refs.iter().map(|l| (&l[..], &[][..])).collect();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-empty-index", index(&[])),
        ("seed-one-series", index(&[(&[("a", "x")], &[c(1, 5, 8)])])),
        (
            "seed-chunks",
            index(&[
                (
                    &[("__name__", "up"), ("job", "api")],
                    &[c(0, 100, 8), c(101, 7200, 300)],
                ),
                (&[("__name__", "up"), ("job", "db")], &[c(-50, -1, 400)]),
                (&[("__name__", "down")], &[]),
            ]),
        ),
        ("seed-sampled-values", index(&many_series)),
        ("seed-header-only", vec![0xBA, 0xAA, 0xD7, 0x00, 0x02]),
    ];
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).unwrap();
    }
}
