//! Compatibility with the real promtool (Prometheus 2.42): blocks written
//! by Ember pass promtool's checks and dump to the same text as promtool's
//! own blocks, and Ember reads promtool's blocks.
//!
//! Needs `/usr/bin/promtool` (or `$PROMTOOL`) and python3 for the dataset
//! generator in `../shared/tools`. Set `EMBER_SKIP_EXTERNAL=1` to skip
//! these tests where promtool is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ember_model::{MatchOp, Matcher};
use ember_tsdb::backfill::{backfill_openmetrics_file, BackfillOptions};
use ember_tsdb::{dump_samples, open_blocks, report, BlockMeta};

mod common;
use common::{promtool, run, skip_external};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The generated dataset (2 hosts, 3 hours), made once per test run.
fn dataset() -> &'static Path {
    static DATA: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DATA
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("data.om");
            let gen = shared().join("tools/gen_openmetrics.py");
            assert!(gen.exists(), "dataset generator missing: {}", gen.display());
            let out = Command::new("python3")
                .arg(&gen)
                .args(["--hosts", "2", "--hours", "3"])
                .output()
                .expect("run python3");
            assert!(
                out.status.success(),
                "generator failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(&file, &out.stdout).unwrap();
            (dir, file)
        })
        .1
}

fn promtool_blocks(dir: &Path) {
    run(Command::new(promtool())
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(dataset())
        .arg(dir));
}

fn ember_blocks(dir: &Path) -> Vec<BlockMeta> {
    let written =
        backfill_openmetrics_file(dataset(), dir, &BackfillOptions::default(), &mut ()).unwrap();
    written.blocks.into_iter().map(|b| b.meta).collect()
}

fn promtool_dump(dir: &Path) -> String {
    // promtool 2.42's dump opens the head too and fails without a WAL
    // directory; an empty one is enough.
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    run(Command::new(promtool()).args(["tsdb", "dump"]).arg(dir))
}

fn ember_dump(dir: &Path) -> String {
    let blocks = open_blocks(dir).unwrap();
    assert!(blocks.failed().is_empty(), "{:?}", blocks.failed());
    let q = blocks.merge_querier(i64::MIN, i64::MAX);
    let all = Matcher::new(MatchOp::Regex, "__name__", "(?s:.*)").unwrap();
    let mut out = Vec::new();
    let stats = dump_samples(&q, &[all], &mut out).unwrap();
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    String::from_utf8(out).unwrap()
}

#[test]
fn ember_reads_promtool_blocks() {
    if skip_external() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    promtool_blocks(dir.path());
    let want = promtool_dump(dir.path());
    let got = ember_dump(dir.path());
    assert!(
        want.lines().count() > 50_000,
        "dataset too small: {}",
        want.lines().count()
    );
    if got != want {
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        panic!(
            "dumps differ ({} vs {} lines), first difference at line {first:?}",
            got.lines().count(),
            want.lines().count()
        );
    }
    let blocks = open_blocks(dir.path()).unwrap();
    for b in blocks.blocks() {
        b.verify().unwrap();
    }
}

#[test]
fn promtool_reads_ember_blocks() {
    if skip_external() {
        return;
    }
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let metas = ember_blocks(ours.path());
    promtool_blocks(theirs.path());
    assert_eq!(metas.len(), 2);

    // promtool lists and analyzes our blocks.
    let list = run(Command::new(promtool())
        .args(["tsdb", "list"])
        .arg(ours.path()));
    for m in &metas {
        assert!(list.contains(&m.ulid.to_string()), "{list}");
        let analysis = run(Command::new(promtool())
            .args(["tsdb", "analyze", "--extended"])
            .arg(ours.path())
            .arg(m.ulid.to_string()));
        assert!(
            analysis.contains(&format!("Series: {}", m.stats.num_series)),
            "{analysis}"
        );
    }

    // Same dumps both ways.
    let theirs_by_promtool = promtool_dump(theirs.path());
    assert_eq!(promtool_dump(ours.path()), theirs_by_promtool);
    assert_eq!(ember_dump(theirs.path()), ember_dump(ours.path()));

    // Same blocks: ranges, statistics, and (nearly) the same bytes.
    let theirs_dir = open_blocks(theirs.path()).unwrap();
    let ours_dir = open_blocks(ours.path()).unwrap();
    for (a, b) in ours_dir.blocks().iter().zip(theirs_dir.blocks()) {
        assert_eq!(
            (a.meta().min_time, a.meta().max_time),
            (b.meta().min_time, b.meta().max_time)
        );
        assert_eq!(a.meta().stats, b.meta().stats);
        // Same chunks, except that Prometheus 2.42 ends some chunks with a
        // zero byte that Prometheus 3 (and Ember) do not write (a bstream
        // quirk fixed in prometheus#14854): at most one byte per chunk.
        let (ours, theirs) = (a.size().chunks, b.size().chunks);
        assert!(
            ours <= theirs && theirs - ours <= a.meta().stats.num_chunks,
            "{ours} vs {theirs}"
        );
        let (ours, theirs) = (a.size().index as f64, b.size().index as f64);
        assert!(
            (ours - theirs).abs() / theirs < 0.01,
            "index {ours} vs {theirs}"
        );
    }
}

#[test]
fn list_and_analyze_match_promtool() {
    if skip_external() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    promtool_blocks(dir.path());
    let blocks = open_blocks(dir.path()).unwrap();
    for human in [false, true] {
        let rows: Vec<_> = blocks
            .blocks()
            .iter()
            .map(|b| (b.meta(), b.size().total()))
            .collect();
        let ours = report::block_table(&rows, true, human);
        let mut cmd = Command::new(promtool());
        cmd.args(["tsdb", "list"]);
        if human {
            cmd.arg("-r");
        }
        assert_eq!(ours, run(cmd.arg(dir.path())));
    }
    for b in blocks.blocks() {
        let ours = report::analyze(b, 20, true).unwrap();
        let theirs = run(Command::new(promtool())
            .args(["tsdb", "analyze", "--extended"])
            .arg(dir.path())
            .arg(b.ulid().to_string()));
        // Ties in the top lists come in Go's map order: compare the
        // numbers of each line and the set of keys outside ties.
        let norm = |s: &str| -> Vec<String> {
            s.lines()
                .map(|l| match l.split_once(' ') {
                    Some((n, _)) if n.parse::<u64>().is_ok() => n.to_string(),
                    _ => l.to_string(),
                })
                .collect()
        };
        assert_eq!(
            norm(&ours),
            norm(&theirs),
            "ours:\n{ours}\ntheirs:\n{theirs}"
        );
    }
}
