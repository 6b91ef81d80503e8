//! Queries, appends and compaction at the same time on one [`Db`].
//!
//! One thread appends (one sample per series per commit, in time order),
//! one compacts again and again (head blocks, leveled compactions, block
//! deletions), one queries: every query must return every sample
//! acknowledged before it started, each once, with its value, in order —
//! whatever moved from the head to blocks, or between blocks, meanwhile.
//! A second variant runs the background compaction task instead.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ember_model::{labels, Labels, Matcher, Sample};
use ember_storage::{Appendable, Queryable, SeriesRef, ValueType};
use ember_tsdb::{CompactorOptions, Db, DbOptions};

const SERIES: u64 = 8;
const STEP: i64 = 1000;
/// Samples per series: 40 minutes, so about 38 one-minute head blocks.
const SAMPLES: i64 = 2400;

fn series_labels(s: u64) -> Labels {
    labels!("__name__" => "conc", "series" => s.to_string().as_str())
}

fn value(s: u64, t: i64) -> f64 {
    (s * 100_000) as f64 + (t / STEP) as f64
}

fn options() -> DbOptions {
    let mut o = DbOptions::default();
    o.head.chunk_range = 60_000;
    o.compactor = CompactorOptions::new(60_000, 60_000 * 27);
    o
}

/// Appends everything, publishing the newest acknowledged timestamp.
fn appender(db: &Db, acked: &AtomicI64) {
    let mut refs = vec![SeriesRef(0); SERIES as usize];
    for i in 0..SAMPLES {
        let t = i * STEP;
        let mut app = db.appender();
        for s in 0..SERIES {
            refs[s as usize] = app
                .append(
                    refs[s as usize],
                    &series_labels(s),
                    Sample::float(t, value(s, t)),
                )
                .unwrap();
        }
        app.commit().unwrap();
        acked.store(t, Ordering::Release);
    }
}

/// One query over everything: all samples acknowledged before it (and
/// maybe a few later ones), each once, in order, right.
fn query_and_check(db: &Db, acked: i64) {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", "conc")])
        .unwrap();
    let mut seen = 0;
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let id: u64 = s.labels().get("series").unwrap().parse().unwrap();
        let mut it = s.iter();
        let mut n = 0i64;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            assert_eq!(t, n * STEP, "series {id}: sample {n} (acked {acked})");
            assert_eq!(v, value(id, t), "series {id} at {t}");
            n += 1;
        }
        assert!(it.error().is_none(), "{:?}", it.error());
        assert!(
            n > acked / STEP,
            "series {id}: {n} samples, acknowledged up to {acked}"
        );
        seen += 1;
    }
    if acked >= 0 {
        assert_eq!(seen, SERIES, "acked {acked}");
    }
}

/// Queries until `done`; returns how many.
fn querier(db: &Db, acked: &AtomicI64, done: &AtomicBool) -> usize {
    let mut n = 0;
    while !done.load(Ordering::Acquire) {
        query_and_check(db, acked.load(Ordering::Acquire));
        n += 1;
    }
    n
}

#[test]
fn queries_stay_complete_while_compacting_and_appending() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let acked = AtomicI64::new(-1);
    let done = AtomicBool::new(false);
    let (head_blocks, compacted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let queries = std::thread::scope(|sc| {
        let q = sc.spawn(|| querier(&db, &acked, &done));
        let c = sc.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let r = db.compact().unwrap();
                head_blocks.fetch_add(r.head_blocks.len(), Ordering::Relaxed);
                compacted.fetch_add(r.compacted_blocks.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        appender(&db, &acked);
        done.store(true, Ordering::Release);
        c.join().unwrap();
        q.join().unwrap()
    });
    let r = db.compact().unwrap();
    let head_blocks = head_blocks.into_inner() + r.head_blocks.len();
    let compacted = compacted.into_inner() + r.compacted_blocks.len();
    println!("{queries} queries, {head_blocks} head blocks, {compacted} compactions");
    assert!(queries > 0);
    assert!(head_blocks >= 30, "{head_blocks}");
    assert!(compacted > 0);
    let last = (SAMPLES - 1) * STEP;
    query_and_check(&db, last);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    query_and_check(&db, last);
}

#[test]
fn background_compaction_while_querying_and_appending() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    // A long interval: compactions come from commits waking the task.
    let task = db.spawn_compaction(Duration::from_secs(3600)).unwrap();
    let acked = AtomicI64::new(-1);
    let done = AtomicBool::new(false);
    let queries = std::thread::scope(|sc| {
        let q = sc.spawn(|| querier(&db, &acked, &done));
        appender(&db, &acked);
        done.store(true, Ordering::Release);
        q.join().unwrap()
    });
    task.stop();
    assert!(queries > 0);
    assert!(
        db.blocks().blocks().len() >= 2,
        "{} blocks",
        db.blocks().blocks().len()
    );
    query_and_check(&db, (SAMPLES - 1) * STEP);
    let db = Arc::try_unwrap(db).unwrap();
    db.close().unwrap();
}
