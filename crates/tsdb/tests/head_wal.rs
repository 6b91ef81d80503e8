//! The head with its WAL: commits survive a restart (clean or not), the
//! replay combines head chunk files and WAL, corruption is repaired, and
//! truncation checkpoints the WAL.

use std::path::Path;

use ember_model::{labels, Labels, Matcher, Metadata, MetricType, Sample};
use ember_storage::{Appender, Querier, SeriesRef};
use ember_tsdb::head::{Head, HeadOptions};
use ember_tsdb::wal::WalOptions;

mod common;

const H: i64 = 3_600_000;

type Data = Vec<(String, Vec<(i64, u64)>)>;

fn all(q: &dyn Querier) -> Data {
    common::read_bits(q, &[])
}

fn dump(head: &Head) -> Data {
    all(&head.querier(i64::MIN, i64::MAX))
}

fn opts() -> HeadOptions {
    HeadOptions {
        stripe_size: 64,
        chunk_write_buffer_size: 4096,
        max_chunk_file_size: 64 * 1024,
        wal_options: WalOptions {
            segment_size: 64 * 1024,
            ..WalOptions::default()
        },
        ..HeadOptions::default()
    }
}

fn series(i: usize) -> Labels {
    labels!("__name__" => "m".to_string(), "i" => i.to_string())
}

/// Appends `steps` scrapes of `n` series from `start`, one commit per
/// scrape, with values that make chunks of varied sizes.
fn scrape(head: &Head, n: usize, start: i64, steps: i64) {
    let mut refs = vec![SeriesRef(0); n];
    for k in 0..steps {
        let mut app = head.appender();
        let t = start + k * 15_000;
        for (i, r) in refs.iter_mut().enumerate() {
            let v = (k as f64) * (i as f64 + 0.5) + if k % 11 == 0 { 0.25 } else { 0.0 };
            *r = app.append(*r, &series(i), Sample::float(t, v)).unwrap();
        }
        app.commit().unwrap();
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn committed_samples_survive_a_restart_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    scrape(&head, 20, 0, 500);
    // Uncommitted and rolled back samples must not come back.
    let mut app = head.appender();
    app.append(SeriesRef(0), &series(0), Sample::float(500 * 15_000, 1.0))
        .unwrap();
    app.append(
        SeriesRef(0),
        &labels!("__name__" => "ghost"),
        Sample::float(500 * 15_000, 1.0),
    )
    .unwrap();
    app.rollback().unwrap();
    let md = Metadata {
        metric_type: MetricType::Gauge,
        unit: "bytes".into(),
        help: "Some help.".into(),
    };
    let r = app
        .append(SeriesRef(0), &series(1), Sample::float(500 * 15_000, 7.0))
        .unwrap();
    app.update_metadata(r, &series(1), &md).unwrap();
    app.commit().unwrap();
    let mut pending = head.appender();
    pending
        .append(SeriesRef(0), &series(2), Sample::float(501 * 15_000, 1.0))
        .unwrap();
    std::mem::forget(pending);
    let before = dump(&head);
    assert!(!file_names(&dir.path().join("chunks_head")).is_empty());
    let next_ref = head.num_series();
    drop(app);
    drop(head);

    let head = Head::open(dir.path(), opts()).unwrap();
    let report = head.replay_report();
    assert_eq!(dump(&head), before);
    assert!(report.mmapped_chunks > 0, "{report:?}");
    // Samples in mapped chunks are not replayed again from the WAL.
    assert!(report.samples < 20 * 500, "{report:?}");
    assert_eq!(report.chunks_corruption, None);
    assert_eq!(report.wal_corruption, None);
    assert_eq!(head.metadata(&series(1)), Some(md));
    // The rolled back series was logged but has no sample: the first
    // garbage collection (after replay) removes it, as in Prometheus.
    assert_eq!(head.num_series(), 20);
    // New series get new references.
    let mut app = head.appender();
    let r = app
        .append(
            SeriesRef(0),
            &labels!("__name__" => "new"),
            Sample::float(501 * 15_000, 1.0),
        )
        .unwrap();
    assert!(r.0 > next_ref, "{r:?}");
    // Appending continues where it stopped.
    assert!(app
        .append(SeriesRef(0), &series(0), Sample::float(499 * 15_000, 1.0))
        .is_err());
    app.commit().unwrap();
    drop(app);
    head.close().unwrap();
    drop(head);

    // And once more, after a clean close.
    let head = Head::open(dir.path(), opts()).unwrap();
    let after = dump(&head);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(&after[..20], &before[..]);
}

#[test]
fn a_crash_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    scrape(&head, 7, 1_000, 333);
    let before = dump(&head);
    // No destructor runs: buffered head chunks never reach the disk.
    std::mem::forget(head);
    let head = Head::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&head), before);
}

#[test]
fn corrupt_head_chunk_files_are_dropped_and_rebuilt_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || HeadOptions {
        max_chunk_file_size: 4096,
        ..opts()
    };
    let head = Head::open(dir.path(), opts()).unwrap();
    scrape(&head, 30, 0, 400);
    let before = dump(&head);
    head.close().unwrap();
    drop(head);
    let chunks = dir.path().join("chunks_head");
    let names = file_names(&chunks);
    assert!(names.len() >= 2, "{names:?}");
    // Flip a byte in the middle of the first file.
    let first = chunks.join(&names[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&first, &bytes).unwrap();

    let head = Head::open(dir.path(), opts()).unwrap();
    let report = head.replay_report();
    let msg = report.chunks_corruption.clone().unwrap();
    assert!(msg.contains(&format!("chunks_head/{}", names[0])), "{msg}");
    assert!(msg.contains("at offset"), "{msg}");
    assert_eq!(
        head.stats()
            .mmap_chunk_corruptions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(dump(&head), before);
}

#[test]
fn torn_wal_tail_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    scrape(&head, 5, 0, 100);
    let before = dump(&head);
    scrape(&head, 5, 100 * 15_000, 1);
    head.close().unwrap();
    drop(head);
    // Cut the last segment in the middle of the last record.
    let wal = dir.path().join("wal");
    let last = file_names(&wal)
        .into_iter()
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(|n| wal.join(n))
        .rfind(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    std::fs::write(&last, &bytes[..end - 3]).unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    assert!(head.replay_report().wal_corruption.is_some());
    // Everything before the damaged record is back.
    let got = dump(&head);
    assert_eq!(got.len(), 5);
    for (g, b) in got.iter().zip(&before) {
        assert!(g.1.starts_with(&b.1), "{} {} {}", g.0, g.1.len(), b.1.len());
    }
}

#[test]
fn truncation_checkpoints_the_wal_and_restarts_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || HeadOptions {
        wal_options: WalOptions {
            segment_size: 32 * 1024,
            ..WalOptions::default()
        },
        ..opts()
    };
    let head = Head::open(dir.path(), opts()).unwrap();
    // 5h of data; series 0..10 stop after 2h.
    let mut refs = [SeriesRef(0); 20];
    for k in 0..(5 * 240) {
        let t = k * 15_000;
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            if i < 10 && t >= 2 * H {
                continue;
            }
            *r = app
                .append(*r, &series(i), Sample::float(t, k as f64))
                .unwrap();
        }
        app.commit().unwrap();
    }
    assert!(head.is_compactable());
    let wal_dir = dir.path().join("wal");
    let segs_before = file_names(&wal_dir).len();
    let st = head.truncate(3 * H).unwrap();
    assert_eq!(st.series_removed, 10);
    let names = file_names(&wal_dir);
    assert!(
        names.iter().any(|n| n.starts_with("checkpoint.")),
        "{names:?}"
    );
    assert!(!names.contains(&"00000000".to_string()), "{names:?}");
    assert!(segs_before >= 3);
    let before = dump(&head);
    assert_eq!(before.len(), 10);
    assert!(before.iter().all(|(_, pts)| pts[0].0 == 3 * H));
    drop(head);

    let head = Head::open(dir.path(), opts()).unwrap();
    let after = all(&head.querier(3 * H, i64::MAX));
    assert_eq!(after, before);
    let report = head.replay_report();
    assert_eq!(report.unknown_refs, 0, "{report:?}");
    // Series without samples since the truncation are gone for good.
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(false, None, &[Matcher::equal("i", "3")]).unwrap();
    assert!(set.next().is_none());
}

fn commit(head: &Head, samples: &[(&Labels, i64, f64)]) {
    let mut app = head.appender();
    for (l, t, v) in samples {
        app.append(SeriesRef(0), l, Sample::float(*t, *v)).unwrap();
    }
    app.commit().unwrap();
}

#[test]
fn duplicate_series_records_merge_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let s = labels!("__name__" => "flappy");
    let keep = labels!("__name__" => "steady");
    commit(&head, &[(&s, 0, 1.0), (&keep, 0, 1.0)]);
    commit(&head, &[(&keep, 3 * H, 1.0)]);
    // The first series goes away and comes back with a new reference.
    head.truncate(2 * H).unwrap();
    commit(&head, &[(&s, 3 * H, 2.0)]);
    let before = dump(&head);
    assert_eq!(before.len(), 2);
    drop(head);
    // The DB reopens the head with the end of its newest block (where the
    // truncated data went) as the minimum valid time.
    let opts = HeadOptions {
        min_valid_time: 2 * H,
        ..opts()
    };
    let head = Head::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&head), before);
}

// --- Restarts against MemStorage -----------------------------------------

use ember_storage::{Appendable, MemStorage, Queryable};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        series: usize,
        t: i64,
        v: i8,
    },
    Commit,
    Rollback,
    /// Reopen the head: after dropping it, or (`crash`) without running
    /// any destructor.
    Restart {
        crash: bool,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        12 => (0usize..4, 0i64..3_000, any::<i8>()).prop_map(|(series, t, v)| Op::Append { series, t: t * 1000, v }),
        3 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => any::<bool>().prop_map(|c| Op::Restart { crash: c }),
    ];
    proptest::collection::vec(op, 1..300)
}

fn small() -> HeadOptions {
    HeadOptions {
        stripe_size: 4,
        samples_per_chunk: 6,
        chunk_write_buffer_size: 128,
        max_chunk_file_size: 1024,
        wal_options: WalOptions {
            segment_size: 32 * 1024,
            ..WalOptions::default()
        },
        ..HeadOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn restarts_keep_exactly_the_committed_samples(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        let model = MemStorage::new();
        let mut head = Head::open(dir.path(), small()).unwrap();
        let mut pending: Vec<(usize, i64, f64)> = Vec::new();
        let mut crashes = 0;
        for op in &ops {
            match *op {
                Op::Append { series: i, t, v } => pending.push((i, t, f64::from(v))),
                Op::Rollback => pending.clear(),
                Op::Commit | Op::Restart { .. } => {
                    // Apply the transaction to both, keeping what each
                    // accepts in step.
                    let mut happ = head.appender();
                    let mut mapp = model.appender();
                    for &(i, t, v) in &pending {
                        let h = happ.append(SeriesRef(0), &series(i), Sample::float(t, v));
                        let m = mapp.append(SeriesRef(0), &series(i), Sample::float(t, v));
                        // The head is stricter: a timestamp older than
                        // the newest is out of order even where the model
                        // finds the very same sample (and drops it).
                        prop_assert!(
                            h.is_ok() == m.is_ok()
                                || matches!(h, Err(ember_storage::StorageError::OutOfOrderSample)),
                            "head {:?}, model {:?}", h, m
                        );
                    }
                    pending.clear();
                    happ.commit().unwrap();
                    mapp.commit().unwrap();
                    drop(happ);
                    if let Op::Restart { crash } = *op {
                        if crash && crashes < 3 {
                            crashes += 1;
                            std::mem::forget(head);
                        } else {
                            drop(head);
                        }
                        head = Head::open(dir.path(), small()).unwrap();
                    }
                    let q = head.querier(i64::MIN, i64::MAX);
                    let mq = model.querier(i64::MIN, i64::MAX).unwrap();
                    prop_assert_eq!(all(&q), all(&*mq));
                }
            }
        }
        let _: &dyn Appendable = &head;
        let _: &dyn Queryable = &head;
    }
}

// --- Replay of WALs written record by record ------------------------------

use ember_tsdb::wal::record::{
    encode_metadata, encode_samples, encode_series, RefMetadata, RefSample, RefSeries,
};
use ember_tsdb::wal::Wal;

fn sample(series_ref: u64, t: i64, v: f64) -> RefSample {
    RefSample {
        series_ref,
        t,
        v,
        st: 0,
    }
}

#[test]
fn replay_handles_sparse_duplicate_and_unknown_references_in_many_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path().join("wal"), WalOptions::default()).unwrap();
    // References far apart (as after much churn), one series declared
    // twice under two references, and samples of a reference never
    // declared.
    let refs = [7u64, 8, 1 << 40, 3];
    let mut rec = Vec::new();
    let decl: Vec<RefSeries> = refs
        .iter()
        .enumerate()
        .map(|(i, &r)| RefSeries {
            series_ref: r,
            labels: series(i),
        })
        .collect();
    encode_series(&decl, &mut rec);
    wal.log(&[&rec]).unwrap();
    rec.clear();
    encode_series(
        &[RefSeries {
            series_ref: 9,
            labels: series(0),
        }],
        &mut rec,
    );
    wal.log(&[&rec]).unwrap();
    rec.clear();
    encode_metadata(
        &[RefMetadata {
            series_ref: 9,
            metric_type: MetricType::Gauge,
            unit: "bytes".into(),
            help: "h".into(),
        }],
        &mut rec,
    );
    wal.log(&[&rec]).unwrap();
    // Many small records, more than one hand-over batch in all.
    let steps = 6_000i64;
    for k in 0..steps {
        rec.clear();
        let t = k * 1000;
        let mut s: Vec<RefSample> = refs.iter().map(|&r| sample(r, t, k as f64)).collect();
        s.push(sample(if k % 2 == 0 { 9 } else { 7 }, t + 500, -1.0));
        s.push(sample(12345, t, 0.0));
        encode_samples(&s, &mut rec);
        wal.log(&[&rec]).unwrap();
    }
    // The same declaration once more (a commit whose WAL write failed
    // part-way logs its new series again): what came before stays.
    rec.clear();
    encode_series(
        &[RefSeries {
            series_ref: 8,
            labels: series(1),
        }],
        &mut rec,
    );
    wal.log(&[&rec]).unwrap();
    rec.clear();
    encode_samples(&[sample(8, steps * 1000, 1.0)], &mut rec);
    wal.log(&[&rec]).unwrap();
    wal.close().unwrap();

    let head = Head::open(dir.path(), HeadOptions::default()).unwrap();
    let report = head.replay_report();
    assert_eq!(report.series, 4);
    assert_eq!(report.unknown_refs, steps as u64);
    assert_eq!(report.samples, steps as u64 * 5 + 1);
    assert_eq!(head.num_series(), 4);
    let data = dump(&head);
    for (i, _) in refs.iter().enumerate() {
        let name = series(i).to_string();
        let pts = &data.iter().find(|(l, _)| *l == name).unwrap().1;
        let want = match i {
            0 => steps * 2,
            1 => steps + 1,
            _ => steps,
        } as usize;
        assert_eq!(pts.len(), want, "{name}");
    }
    let md = head.metadata(&series(0)).unwrap();
    assert_eq!(
        md,
        Metadata {
            metric_type: MetricType::Gauge,
            unit: "bytes".into(),
            help: "h".into()
        }
    );
}
