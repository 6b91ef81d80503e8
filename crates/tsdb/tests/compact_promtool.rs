//! Compacted blocks and the real promtool (Prometheus 2.42): promtool
//! lists and analyzes a block Ember compacted, and dumps the same samples
//! from it as from the blocks it was compacted from (overlapping blocks
//! and tombstones included).
//!
//! Needs `/usr/bin/promtool` (or `$PROMTOOL`); set `EMBER_SKIP_EXTERNAL=1`
//! to skip where it is not installed.

use std::fs;
use std::path::Path;
use std::process::Command;

use ember_model::{labels, MatchOp, Matcher};
use ember_tsdb::{dump_samples, BlockStore, BlockStoreOptions, BlockWriter, BlockWriterOptions};

mod common;
use common::{copy_dir, promtool, run, skip_external};

/// promtool's dump of a copy of `dir` (promtool 2.42 wants a WAL
/// directory, and may write into it).
fn promtool_dump(dir: &Path) -> String {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    fs::create_dir_all(copy.path().join("wal")).unwrap();
    run(Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(copy.path()))
}

const T0: i64 = 1_763_769_600_000; // a multiple of 2h
const H: i64 = 3_600_000;

/// Three adjacent 2h blocks, and a block backfilled over them repeating
/// some of their samples (same values) and adding others.
fn sources(dir: &Path) {
    let jobs = ["api", "db", "cache"];
    for k in 0..3 {
        let mut w = BlockWriter::new(BlockWriterOptions::default());
        for (j, job) in jobs.iter().enumerate() {
            for inst in 0..4 {
                let l = labels!("__name__" => "requests_total", "job" => *job, "instance" => format!("h{inst}").as_str());
                let start = T0 + k * 2 * H;
                w.add_series(
                    &l,
                    (0..480).map(|i| {
                        let t = start + i * 15_000;
                        (t, ((t - T0) / 15_000 * (j as i64 + 1) + inst) as f64)
                    }),
                )
                .unwrap();
            }
        }
        w.flush(dir).unwrap().unwrap();
    }
    let mut w = BlockWriter::new(BlockWriterOptions::default());
    for inst in 0..4 {
        let l = labels!("__name__" => "requests_total", "job" => "api", "instance" => format!("h{inst}").as_str());
        let mut pts = Vec::new();
        for i in 0..(4 * H / 15_000) {
            let t = T0 + H + i * 15_000;
            // Every other scrape again, with the same value ...
            if i % 2 == 0 {
                pts.push((t, ((t - T0) / 15_000 + inst) as f64));
            }
            // ... and a sample between scrapes.
            pts.push((t + 7_000, -1.0));
        }
        w.add_series(&l, pts).unwrap();
    }
    w.add_series(
        &labels!("__name__" => "backfilled_only"),
        (0..100i32).map(|i| (T0 + 2 * H + i64::from(i) * 60_000, f64::from(i) / 3.0)),
    )
    .unwrap();
    w.flush(dir).unwrap().unwrap();
}

fn ember_dump(store: &BlockStore) -> String {
    let snap = store.snapshot();
    let q = snap.merge_querier(i64::MIN, i64::MAX);
    let all = Matcher::new(MatchOp::Regex, "__name__", "(?s:.*)").unwrap();
    let mut out = Vec::new();
    dump_samples(&q, &[all], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn promtool_reads_compacted_blocks() {
    if skip_external() {
        return;
    }
    let tool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    sources(data);
    let store = BlockStore::open(data, BlockStoreOptions::default()).unwrap();
    // Tombstones, which promtool applies when reading the sources.
    store
        .delete(
            T0 + 2 * H + 30 * 60_000,
            T0 + 3 * H,
            &[Matcher::equal("job", "db")],
        )
        .unwrap();
    store
        .delete(
            i64::MIN,
            i64::MAX,
            &[
                Matcher::equal("instance", "h3"),
                Matcher::equal("job", "cache"),
            ],
        )
        .unwrap();
    let want = promtool_dump(data);
    assert!(want.lines().count() > 10_000, "{}", want.lines().count());
    assert_eq!(
        ember_dump(&store),
        want,
        "ember and promtool read the sources alike"
    );

    let written = store.compact().unwrap();
    assert_eq!(written.len(), 1, "one vertical compaction");
    let snap = store.snapshot();
    assert_eq!(snap.blocks().len(), 1);
    let block = &snap.blocks()[0];
    assert_eq!(block.meta().compaction.level, 2);
    assert_eq!(block.meta().compaction.sources.len(), 4);
    assert_eq!(block.meta().stats.num_tombstones, 0);

    let got = promtool_dump(data);
    if got != want {
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        panic!(
            "promtool dumps differ ({} vs {} lines), first difference at line {first:?}",
            got.lines().count(),
            want.lines().count()
        );
    }
    assert_eq!(ember_dump(&store), want);

    let id = block.ulid().to_string();
    let list = run(Command::new(&tool).args(["tsdb", "list"]).arg(data));
    assert!(list.contains(&id), "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");
    let analysis = run(Command::new(&tool)
        .args(["tsdb", "analyze", "--extended"])
        .arg(data)
        .arg(&id));
    assert!(
        analysis.contains(&format!("Series: {}", block.meta().stats.num_series)),
        "{analysis}"
    );
    assert!(analysis.contains(&format!("Block ID: {id}")), "{analysis}");
}
