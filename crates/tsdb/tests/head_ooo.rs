//! Out-of-order ingestion in the head: Prometheus' acceptance rules at the
//! window's edges, merged reads, the WBL across restarts (with m-mapped
//! out-of-order chunks and a torn tail), compaction into blocks, and a
//! model check.

use std::collections::BTreeMap;
use std::path::Path;

use ember_model::{labels, Labels, Sample};
use ember_storage::{Appender, Querier, SeriesRef, StorageError};
use ember_tsdb::head::{Head, HeadOptions, WBL_DIR};
use ember_tsdb::wal::WalOptions;
use ember_tsdb::{Db, DbOptions};
use proptest::prelude::*;

mod common;

const H: i64 = 3_600_000;

type Data = BTreeMap<String, Vec<(i64, u64)>>;

fn all(q: &dyn Querier) -> Data {
    let mut out = Data::new();
    for (l, pts) in common::read_bits(q, &[]) {
        assert!(
            pts.windows(2).all(|w| w[0].0 < w[1].0),
            "not sorted: {pts:?}"
        );
        out.insert(l, pts);
    }
    out
}

fn dump(head: &Head) -> Data {
    all(&head.querier(i64::MIN, i64::MAX))
}

fn opts(window: i64, cap: usize) -> HeadOptions {
    HeadOptions {
        stripe_size: 64,
        out_of_order_time_window: window,
        out_of_order_cap_max: cap,
        chunk_write_buffer_size: 4096,
        max_chunk_file_size: 64 * 1024,
        wal_options: WalOptions {
            segment_size: 64 * 1024,
            ..WalOptions::default()
        },
        ..HeadOptions::default()
    }
}

fn series(name: &str) -> Labels {
    labels!("__name__" => name.to_string())
}

/// Appends one sample in its own transaction.
fn put(head: &Head, name: &str, t: i64, v: f64) -> Result<(), StorageError> {
    let mut app = head.appender();
    app.append(SeriesRef(0), &series(name), Sample::float(t, v))?;
    app.commit()
}

/// The expected data: every listed sample, the first value of each
/// timestamp winning.
fn model(samples: &[(&str, i64, f64)]) -> Data {
    let mut m: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for &(n, t, v) in samples {
        m.entry(series(n).to_string())
            .or_default()
            .entry(t)
            .or_insert(v.to_bits());
    }
    m.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

#[test]
fn window_edges_follow_prometheus() {
    let head = Head::in_memory(opts(10_000, 32)).unwrap();
    put(&head, "a", 100_000, 1.0).unwrap();
    // Older than the series' newest: out of order, inside the window
    // `[maxT − window, maxT]` or too old.
    put(&head, "a", 90_000, 2.0).unwrap();
    assert!(matches!(
        put(&head, "a", 89_999, 3.0),
        Err(StorageError::TooOldSample)
    ));
    // The newest timestamp again: dropped with the same value, a
    // duplicate otherwise (the in-order rule).
    put(&head, "a", 100_000, 1.0).unwrap();
    assert!(matches!(
        put(&head, "a", 100_000, 5.0),
        Err(StorageError::DuplicateSampleForTimestamp)
    ));
    // An out-of-order timestamp again: the first value stays.
    put(&head, "a", 90_000, 7.0).unwrap();
    // Older than the head's in-order minimum (here: covered by a block)
    // but inside the window: accepted out of order, even for a new series.
    head.set_min_valid_time(95_000);
    put(&head, "b", 92_000, 4.0).unwrap();
    assert!(matches!(
        put(&head, "b", 89_000, 4.0),
        Err(StorageError::TooOldSample)
    ));
    put(&head, "b", 96_000, 6.0).unwrap();
    let s = head.stats();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(get(&s.ooo_samples_appended), 2);
    assert_eq!(get(&s.too_old_samples), 2);
    assert_eq!(get(&s.out_of_order_samples), 0);
    assert_eq!(
        dump(&head),
        model(&[
            ("a", 90_000, 2.0),
            ("a", 100_000, 1.0),
            ("b", 92_000, 4.0),
            ("b", 96_000, 6.0),
        ])
    );
    let names: Vec<_> = head.metrics().iter().map(|m| m.name).collect();
    assert!(names.contains(&"prometheus_tsdb_head_out_of_order_samples_appended_total"));
    assert!(names.contains(&"prometheus_tsdb_too_old_samples_total"));
    assert_eq!(head.ooo_time_range(), Some((90_000, 92_000)));

    // Without a window the same samples are refused as before.
    let head = Head::in_memory(opts(0, 32)).unwrap();
    put(&head, "a", 100_000, 1.0).unwrap();
    assert!(matches!(
        put(&head, "a", 90_000, 2.0),
        Err(StorageError::OutOfOrderSample)
    ));
    head.set_min_valid_time(95_000);
    assert!(matches!(
        put(&head, "b", 92_000, 2.0),
        Err(StorageError::OutOfBounds)
    ));
    assert_eq!(head.ooo_time_range(), None);
    assert!(Head::in_memory(opts(-1, 32)).is_err());
    assert!(Head::in_memory(opts(10, 0)).is_err());
    assert!(Head::in_memory(opts(10, 256)).is_err());
}

#[test]
fn one_transaction_mixes_in_order_and_out_of_order() {
    let head = Head::in_memory(opts(H, 4)).unwrap();
    put(&head, "a", 1_000, 1.0).unwrap();
    let mut app = head.appender();
    let l = series("a");
    for (t, v) in [
        (2_000, 2.0),
        (500, 0.5),
        (400, 0.4),
        (400, 0.4),
        (3_000, 3.0),
    ] {
        app.append(SeriesRef(0), &l, Sample::float(t, v)).unwrap();
    }
    // Same timestamp as a buffered out-of-order sample, other value:
    // accepted here, dropped at commit (Prometheus keeps the first).
    app.append(SeriesRef(0), &l, Sample::float(3_000, 3.0))
        .unwrap();
    assert!(matches!(
        app.append(SeriesRef(0), &l, Sample::float(3_000, 9.0)),
        Err(StorageError::DuplicateSampleForTimestamp)
    ));
    // A querier opened before the commit sees none of its in-order samples.
    let before = head.querier(i64::MIN, i64::MAX);
    app.commit().unwrap();
    drop(app);
    assert_eq!(
        all(&before)
            .get("{__name__=\"a\"}")
            .map(|v| v.iter().map(|p| p.0).collect::<Vec<_>>()),
        // The out-of-order samples are not isolated.
        Some(vec![400, 500, 1_000])
    );
    drop(before);
    assert_eq!(
        dump(&head),
        model(&[
            ("a", 400, 0.4),
            ("a", 500, 0.5),
            ("a", 1_000, 1.0),
            ("a", 2_000, 2.0),
            ("a", 3_000, 3.0),
        ])
    );
}

/// In-order samples every 10 ms from 0 to 1000, then out-of-order ones in
/// between with a small buffer (so several overlapping chunks are cut),
/// including timestamps the in-order chunks or earlier out-of-order
/// samples already hold.
fn mixed(head: &Head) -> Vec<(&'static str, i64, f64)> {
    let mut ok = Vec::new();
    for t in (0..=1_000).step_by(10) {
        put(head, "m", t, t as f64).unwrap();
        ok.push(("m", t, t as f64));
    }
    let ooo = [
        905, 915, 5, 15, 995, 25, 20, 35, 905, 45, 3, 1, 999, 2, 500, 505, 15, 7, 333, 332,
    ];
    for (i, t) in ooo.into_iter().enumerate() {
        let v = 10_000.0 + i as f64;
        put(head, "m", t, v).unwrap();
        ok.push(("m", t, v));
    }
    ok
}

#[test]
fn reads_merge_in_order_and_out_of_order_chunks() {
    let head = Head::in_memory(opts(H, 3)).unwrap();
    let ok = mixed(&head);
    let want = model(&ok);
    assert_eq!(dump(&head), want);
    // Sub-ranges are trimmed.
    let q = head.querier(12, 27);
    let got = all(&q);
    let pts: Vec<i64> = got["{__name__=\"m\"}"].iter().map(|p| p.0).collect();
    assert_eq!(pts, [15, 20, 25]);
    // A range holding only out-of-order samples.
    let q = head.querier(1, 3);
    let pts: Vec<i64> = all(&q)["{__name__=\"m\"}"].iter().map(|p| p.0).collect();
    assert_eq!(pts, [1, 2, 3]);
    // With chunk files too.
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    assert_eq!(model(&mixed(&head)), want);
    assert_eq!(dump(&head), want);
}

fn segments(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn out_of_order_samples_survive_restarts_through_the_wbl() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    let want = model(&mixed(&head));
    assert!(!segments(&dir.path().join(WBL_DIR)).is_empty());
    // Crash: dropped without closing.
    drop(head);
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    let rep = head.replay_report();
    assert!(rep.ooo_samples > 0, "{rep:?}");
    assert_eq!(rep.wbl_corruption, None);
    assert_eq!(dump(&head), want);
    head.close().unwrap();

    // After a clean close the cut out-of-order chunks come back from
    // `chunks_head/`, and the markers keep the WBL from inserting their
    // samples again.
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    let chunks = head.replay_report().ooo_mmapped_chunks;
    assert!(chunks >= 4, "{:?}", head.replay_report());
    assert_eq!(dump(&head), want);
    head.close().unwrap();
    drop(head);
    // Replaying the WBL wrote no chunk again: each marker emptied the
    // buffer its chunk was cut from.
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    assert_eq!(head.replay_report().ooo_mmapped_chunks, chunks);
    assert_eq!(dump(&head), want);
    // More out-of-order samples after the replay, then one more crash.
    put(&head, "m", 4, 4.0).unwrap();
    put(&head, "m", 6, 6.0).unwrap();
    let mut more: Vec<(&str, i64, f64)> = Vec::new();
    for (k, v) in &want {
        assert_eq!(k, "{__name__=\"m\"}");
        more.extend(v.iter().map(|&(t, b)| ("m", t, f64::from_bits(b))));
    }
    more.extend([("m", 4, 4.0), ("m", 6, 6.0)]);
    let want = model(&more);
    assert_eq!(dump(&head), want);
    drop(head);
    let head = Head::open(dir.path(), opts(H, 3)).unwrap();
    assert_eq!(dump(&head), want);

    // A head with out-of-order ingestion disabled still replays the WBL.
    drop(head);
    let head = Head::open(dir.path(), opts(0, 3)).unwrap();
    assert_eq!(dump(&head), want);
    assert!(matches!(
        put(&head, "m", 8, 8.0),
        Err(StorageError::OutOfOrderSample)
    ));
}

#[test]
fn window_zero_creates_no_wbl() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(0, 32)).unwrap();
    put(&head, "m", 10, 1.0).unwrap();
    head.close().unwrap();
    assert!(!dir.path().join(WBL_DIR).exists());
    assert!(head.wbl().is_none());
}

#[test]
fn torn_wbl_tail_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(H, 32)).unwrap();
    put(&head, "m", 1_000, 1.0).unwrap();
    put(&head, "m", 100, 2.0).unwrap();
    put(&head, "m", 200, 3.0).unwrap();
    head.close().unwrap();
    drop(head);
    // Cut the last record (the sample at 200) in half.
    let wbl = dir.path().join(WBL_DIR);
    let seg = wbl.join(segments(&wbl).last().unwrap());
    let bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    std::fs::write(&seg, &bytes[..end - 4]).unwrap();

    let head = Head::open(dir.path(), opts(H, 32)).unwrap();
    let rep = head.replay_report();
    assert!(rep.wbl_corruption.is_some(), "{rep:?}");
    let corruptions = head
        .metrics()
        .into_iter()
        .find(|m| m.name == "prometheus_tsdb_out_of_order_wbl_corruptions_total")
        .map(|m| m.value);
    assert_eq!(corruptions, Some(1.0));
    assert_eq!(dump(&head), model(&[("m", 100, 2.0), ("m", 1_000, 1.0)]));
    // Writing goes on after the repair and survives the next restart.
    put(&head, "m", 300, 4.0).unwrap();
    drop(head);
    let head = Head::open(dir.path(), opts(H, 32)).unwrap();
    assert_eq!(head.replay_report().wbl_corruption, None);
    assert_eq!(
        dump(&head),
        model(&[("m", 100, 2.0), ("m", 300, 4.0), ("m", 1_000, 1.0)])
    );
}

fn db_opts(window: i64) -> DbOptions {
    DbOptions {
        head: opts(window, 8),
        ..DbOptions::default()
    }
}

fn db_dump(db: &Db) -> Data {
    all(&db.merge_querier(i64::MIN, i64::MAX))
}

#[test]
fn compaction_writes_out_of_order_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    let step = 60_000;
    let mut ok: Vec<(&str, i64, f64)> = Vec::new();
    // Two series in order over 4h, with the odd minutes left out; then the
    // odd minutes of the first 3h out of order, and a few duplicates.
    let mut app = db.head_appender();
    for i in (0..4 * 60).step_by(2) {
        for name in ["a", "b"] {
            let t = i * step;
            app.append(SeriesRef(0), &series(name), Sample::float(t, t as f64))
                .unwrap();
            ok.push((name, t, t as f64));
        }
    }
    app.commit().unwrap();
    drop(app);
    for name in ["a", "b"] {
        for i in (1..3 * 60i64).rev().filter(|i| i % 2 == 1) {
            let t = i * step + 7;
            put(db.head(), name, t, t as f64).unwrap();
            ok.push((name, t, t as f64));
        }
        // Already in order: accepted out of order, the first value wins.
        put(db.head(), name, 10 * step, 1.5).unwrap();
        ok.push((name, 10 * step, 1.5));
    }
    let want = model(&ok);
    assert_eq!(db_dump(&db), want);

    let rep = db.compact().unwrap();
    assert_eq!(rep.head_blocks.len(), 1, "{rep:?}");
    assert_eq!(rep.ooo_blocks.len(), 2, "{rep:?}");
    assert_eq!(db.head().ooo_time_range(), None);
    assert_eq!(db_dump(&db), want);
    for b in db.blocks().blocks() {
        let m = b.meta();
        if rep.ooo_blocks.contains(&m.ulid) {
            assert_eq!(m.compaction.hints, ["from-out-of-order"]);
            assert_eq!(m.min_time.rem_euclid(2 * H), 0);
            assert_eq!(m.max_time - m.min_time, 2 * H);
        }
    }
    // The WBL keeps only the segment started by the compaction.
    let wbl = dir.path().join(WBL_DIR);
    assert_eq!(segments(&wbl).len(), 1, "{:?}", segments(&wbl));

    // Out-of-order samples below the blocks' end are still accepted
    // inside the window, and survive a crash.
    put(db.head(), "a", 3 * step + 1, 9.0).unwrap();
    ok.push(("a", 3 * step + 1, 9.0));
    let want = model(&ok);
    assert_eq!(db_dump(&db), want);
    drop(db);
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    assert_eq!(db_dump(&db), want);
    // Once the in-order head compacts again, that sample goes to a block
    // too; the overlapping blocks are merged by the leveled compactor.
    let mut app = db.head_appender();
    for i in 4 * 60..6 * 60 {
        let t = i * step;
        app.append(SeriesRef(0), &series("a"), Sample::float(t, t as f64))
            .unwrap();
        ok.push(("a", t, t as f64));
    }
    app.commit().unwrap();
    drop(app);
    let rep = db.compact().unwrap();
    assert_eq!(rep.ooo_blocks.len(), 1, "{rep:?}");
    let want = model(&ok);
    assert_eq!(db_dump(&db), want);
    db.close().unwrap();
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    assert_eq!(db_dump(&db), want);
    for b in db.blocks().blocks() {
        check_with_promtool(dir.path(), &b.meta().ulid.to_string());
    }
}

/// `promtool tsdb analyze` accepts the block, if promtool is installed.
fn check_with_promtool(dir: &Path, block: &str) {
    let tool = Path::new("/usr/bin/promtool");
    if !tool.exists() {
        eprintln!("promtool not installed: skipping the promtool check");
        return;
    }
    let copy = tempfile::tempdir().unwrap();
    let dst = copy.path().join(block);
    std::fs::create_dir_all(dst.join("chunks")).unwrap();
    for f in ["index", "meta.json", "tombstones"] {
        std::fs::copy(dir.join(block).join(f), dst.join(f)).unwrap();
    }
    for e in std::fs::read_dir(dir.join(block).join("chunks")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("chunks").join(e.file_name())).unwrap();
    }
    let out = std::process::Command::new(tool)
        .args(["tsdb", "analyze"])
        .arg(copy.path())
        .arg(block)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool analyze {block}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- Against a model -------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Append { series: usize, t: i64, v: i8 },
    Commit,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        8 => (0usize..3, 0i64..400, -3i8..3).prop_map(|(series, t, v)| Op::Append { series, t, v }),
        2 => Just(Op::Commit),
    ];
    proptest::collection::vec(op, 1..300)
}

const NAMES: [&str; 3] = ["x", "y", "z"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the head accepts is what it returns, after commit and
    /// after a restart (crashed or clean): sorted, one value per
    /// timestamp, the first accepted one.
    #[test]
    fn head_matches_model_across_restarts(
        ops in ops(),
        window in 1i64..300,
        cap in 1usize..6,
        range in prop_oneof![Just(100i64), Just(1_000), Just(2 * H)],
        clean in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let o = HeadOptions {
            chunk_range: range,
            samples_per_chunk: 4,
            chunk_write_buffer_size: 64,
            max_chunk_file_size: 2048,
            ..opts(window, cap)
        };
        let head = Head::open(dir.path(), o.clone()).unwrap();
        let mut accepted: Vec<(&str, i64, f64)> = Vec::new();
        let mut pending = Vec::new();
        let mut app = head.appender();
        for op in &ops {
            match *op {
                Op::Append { series: i, t, v } => {
                    let r = app.append(SeriesRef(0), &series(NAMES[i]), Sample::float(t, f64::from(v)));
                    match r {
                        Ok(_) => pending.push((NAMES[i], t, f64::from(v))),
                        Err(StorageError::OutOfBounds | StorageError::OutOfOrderSample) => {
                            prop_assert!(false, "{op:?}: {r:?} with a window");
                        }
                        Err(_) => {}
                    }
                }
                Op::Commit => {
                    app.commit().unwrap();
                    accepted.append(&mut pending);
                }
            }
        }
        app.commit().unwrap();
        drop(app);
        accepted.append(&mut pending);
        let want = model(&accepted);
        prop_assert_eq!(dump(&head), want.clone());
        if clean {
            head.close().unwrap();
        }
        drop(head);
        let head = Head::open(dir.path(), o).unwrap();
        prop_assert_eq!(dump(&head), want);
    }
}

#[test]
fn deletes_cover_out_of_order_samples_in_reads_restarts_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    let step = 60_000;
    let mut ok: Vec<(&str, i64, f64)> = Vec::new();
    // In order over 4h on even minutes, then the odd minutes of the first
    // 3h out of order.
    for i in (0..4 * 60).step_by(2) {
        put(db.head(), "a", i * step, 1.0).unwrap();
        ok.push(("a", i * step, 1.0));
    }
    for i in (1..3 * 60i64).filter(|i| i % 2 == 1) {
        put(db.head(), "a", i * step, 2.0).unwrap();
        ok.push(("a", i * step, 2.0));
    }
    // Minutes 30..=89 go, in-order and out-of-order ones alike.
    let (from, to) = (30 * step, 90 * step - 1);
    db.delete(from, to, &[ember_model::Matcher::equal("__name__", "a")])
        .unwrap();
    ok.retain(|&(_, t, _)| t < from || t > to);
    let want = model(&ok);
    assert_eq!(db_dump(&db), want);
    // The WAL's tombstones apply to what the WBL brings back.
    drop(db);
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    assert_eq!(db_dump(&db), want);
    // Neither the head block nor the out-of-order blocks bring them back.
    let rep = db.compact().unwrap();
    assert_eq!(rep.head_blocks.len(), 1, "{rep:?}");
    assert!(!rep.ooo_blocks.is_empty(), "{rep:?}");
    assert_eq!(db_dump(&db), want);
    db.close().unwrap();
    let db = Db::open(dir.path(), db_opts(4 * H)).unwrap();
    assert_eq!(db_dump(&db), want);
}

#[test]
fn deletes_of_out_of_order_samples_survive_a_checkpoint_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts(4 * H, 4)).unwrap();
    let m = 60_000;
    // "a": even minutes of the first hour in order, then the odd ones out
    // of order; minutes 20..=40 deleted.
    for i in (0..60).step_by(2) {
        put(&head, "a", i * m, 1.0).unwrap();
    }
    for i in (1..60).step_by(2) {
        put(&head, "a", i * m, 2.0).unwrap();
    }
    head.delete(
        20 * m,
        40 * m,
        &[ember_model::Matcher::equal("__name__", "a")],
    )
    .unwrap();
    // Enough in-order data after it for the WAL segment holding the
    // delete to go into a checkpoint.
    for i in 60..240 {
        let mut app = head.appender();
        for k in 0..600 {
            let name = if k == 0 {
                "a".to_string()
            } else {
                format!("s{k}")
            };
            app.append(SeriesRef(0), &series(&name), Sample::float(i * m, i as f64))
                .unwrap();
        }
        app.commit().unwrap();
    }
    let want_a = |data: &Data| -> Vec<i64> {
        data["{__name__=\"a\"}"]
            .iter()
            .map(|p| p.0 / m)
            .filter(|&i| i < 60)
            .collect()
    };
    let expect: Vec<i64> = (0..60).filter(|i| !(20..=40).contains(i)).collect();
    assert_eq!(want_a(&dump(&head)), expect);
    head.truncate(2 * H).unwrap();
    let wal = dir.path().join("wal");
    assert!(
        segments(&wal).iter().any(|n| n.starts_with("checkpoint.")),
        "{:?}",
        segments(&wal)
    );
    // The out-of-order samples of the first hour are still in the head,
    // and still deleted where they were.
    // (Minute 59 came after minute 58: it was in order, and is gone.)
    let odd: Vec<i64> = expect
        .iter()
        .copied()
        .filter(|i| i % 2 == 1 && *i < 59)
        .collect();
    assert_eq!(want_a(&dump(&head)), odd);
    drop(head);
    let reopened = HeadOptions {
        min_valid_time: 2 * H,
        ..opts(4 * H, 4)
    };
    let head = Head::open(dir.path(), reopened).unwrap();
    assert_eq!(want_a(&dump(&head)), odd);
}

#[test]
fn deletes_reach_out_of_order_samples_older_than_the_in_order_data() {
    let head = Head::in_memory(opts(4 * H, 4)).unwrap();
    let m = 60_000;
    put(&head, "o", 100 * m, 1.0).unwrap();
    for i in 10..50 {
        put(&head, "o", i * m, 2.0).unwrap();
    }
    // Minutes 20..=29 go, although the head's in-order data starts later.
    let n = head
        .delete(
            20 * m,
            29 * m,
            &[ember_model::Matcher::equal("__name__", "o")],
        )
        .unwrap();
    assert_eq!(n, 1);
    let got: Vec<i64> = dump(&head)["{__name__=\"o\"}"]
        .iter()
        .map(|p| p.0 / m)
        .collect();
    let want: Vec<i64> = (10..50)
        .filter(|i| !(20..30).contains(i))
        .chain([100])
        .collect();
    assert_eq!(got, want);
}
