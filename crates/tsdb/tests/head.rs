//! The head: append rules, queries (against `MemStorage` as the model),
//! chunk cutting, head chunk files, isolation, truncation and compaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ember_model::{labels, Labels, MatchOp, Matcher, Metadata, MetricType, Sample};
use ember_storage::{
    Appendable, Appender, LabelHints, MemStorage, Querier, Queryable, SelectHints, SeriesRef,
    StorageError, ValueType,
};
use ember_tsdb::head::{Head, HeadChunkFiles, HeadOptions};
use ember_tsdb::{open_blocks, BlockWriterOptions};
use proptest::prelude::*;

mod common;

const H: i64 = 3_600_000;

type Data = Vec<(String, Vec<(i64, u64)>)>;

fn read(q: &dyn Querier, matchers: &[Matcher]) -> Data {
    common::read_bits(q, matchers)
}

fn all(q: &dyn Querier) -> Data {
    read(q, &[])
}

fn small_opts() -> HeadOptions {
    HeadOptions {
        stripe_size: 16,
        ..HeadOptions::default()
    }
}

fn append(app: &mut dyn Appender, l: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError> {
    app.append(SeriesRef(0), l, Sample::float(t, v))
}

#[test]
fn append_commit_query() {
    let head = Head::in_memory(small_opts()).unwrap();
    let a = labels!("__name__" => "up", "job" => "a");
    let b = labels!("__name__" => "up", "job" => "b");
    let mut app = head.appender();
    let rb = append(&mut app, &b, 10, 1.0).unwrap();
    let ra = append(&mut app, &a, 10, 2.0).unwrap();
    assert_ne!(ra, rb);
    assert_eq!(
        app.append(ra, &a, Sample::float(20, 3.0)).unwrap(),
        ra,
        "the hint is the series reference"
    );
    // Not visible before commit.
    assert!(all(&head.querier(0, 100)).is_empty());
    app.commit().unwrap();
    assert_eq!((head.min_time(), head.max_time()), (10, 20));
    assert_eq!(head.num_series(), 2);

    let q = head.querier(0, 15);
    let m = Matcher::new(MatchOp::Regex, "job", "a|b").unwrap();
    assert_eq!(
        read(&q, &[m]),
        vec![
            (
                "{__name__=\"up\", job=\"a\"}".to_string(),
                vec![(10, 2f64.to_bits())]
            ),
            (
                "{__name__=\"up\", job=\"b\"}".to_string(),
                vec![(10, 1f64.to_bits())]
            ),
        ]
    );
    let (names, _) = q.label_names(&LabelHints::default(), &[]).unwrap();
    assert_eq!(names, ["__name__", "job"]);
    let (vals, _) = q
        .label_values("job", &LabelHints { limit: 1 }, &[])
        .unwrap();
    assert_eq!(vals, ["a"]);
    let (vals, _) = q
        .label_values("job", &LabelHints::default(), &[Matcher::equal("job", "b")])
        .unwrap();
    assert_eq!(vals, ["b"]);
    let (names, _) = q
        .label_names(&LabelHints::default(), &[Matcher::equal("job", "zz")])
        .unwrap();
    assert!(names.is_empty());
    // Out of the head's range: nothing.
    let q = head.querier(100, 200);
    assert!(all(&q).is_empty());
    assert!(q
        .label_names(&LabelHints::default(), &[])
        .unwrap()
        .0
        .is_empty());

    // Hints narrow the range; seek never goes back.
    let q = head.querier(0, 100);
    let hints = SelectHints {
        start: 15,
        end: 100,
        ..SelectHints::default()
    };
    let mut set = q
        .select(false, Some(&hints), &[Matcher::equal("job", "a")])
        .unwrap();
    let s = set.next().unwrap().unwrap();
    let mut it = s.iter();
    assert_eq!(it.seek(0), ValueType::Float);
    assert_eq!(it.at(), (20, 3.0));
    assert_eq!(it.seek(5), ValueType::Float);
    assert_eq!(it.at_t(), 20);
    assert_eq!(it.next(), ValueType::None);
    assert!(set.next().is_none());
}

#[test]
fn append_rules_match_prometheus() {
    let head = Head::in_memory(small_opts()).unwrap();
    let s = labels!("__name__" => "x");
    let mut app = head.appender();
    append(&mut app, &s, 10 * H, 1.0).unwrap();
    // Same transaction: older is out of order, same timestamp with another
    // value a duplicate, the same sample again fine.
    assert!(matches!(
        append(&mut app, &s, 10 * H - 1, 1.0),
        Err(StorageError::OutOfOrderSample)
    ));
    assert!(matches!(
        append(&mut app, &s, 10 * H, 2.0),
        Err(StorageError::DuplicateSampleForTimestamp)
    ));
    append(&mut app, &s, 10 * H, 1.0).unwrap();
    app.commit().unwrap();

    let mut app = head.appender();
    append(&mut app, &s, 10 * H, 1.0).unwrap();
    assert!(matches!(
        append(&mut app, &s, 10 * H, f64::NAN),
        Err(StorageError::DuplicateSampleForTimestamp)
    ));
    assert!(matches!(
        append(&mut app, &s, 10 * H - 5, 1.0),
        Err(StorageError::OutOfOrderSample)
    ));
    // Older than maxT - chunkRange/2: out of bounds, for every series.
    let other = labels!("__name__" => "y");
    assert!(matches!(
        append(&mut app, &other, 9 * H - 1, 1.0),
        Err(StorageError::OutOfBounds)
    ));
    append(&mut app, &other, 9 * H, 1.0).unwrap();
    // Errors leave the rest of the transaction intact.
    append(&mut app, &s, 10 * H + 1, 5.0).unwrap();
    app.commit().unwrap();
    assert_eq!(
        all(&head.querier(0, i64::MAX)),
        vec![
            (
                "{__name__=\"x\"}".into(),
                vec![(10 * H, 1f64.to_bits()), (10 * H + 1, 5f64.to_bits())]
            ),
            ("{__name__=\"y\"}".into(), vec![(9 * H, 1f64.to_bits())]),
        ]
    );
    let st = head.stats();
    assert_eq!(st.out_of_bound_samples.load(Ordering::Relaxed), 1);
    assert_eq!(st.out_of_order_samples.load(Ordering::Relaxed), 2);
    assert_eq!(st.samples_appended.load(Ordering::Relaxed), 3);

    // Histograms are not supported yet; empty labels never.
    let mut app = head.appender();
    let h = Sample {
        t: 11 * H,
        value: ember_model::Value::Histogram(Arc::default()),
        start: None,
    };
    assert!(matches!(
        app.append(SeriesRef(0), &s, h),
        Err(StorageError::Unsupported(_))
    ));
    assert!(matches!(
        append(&mut app, &Labels::empty(), 11 * H, 1.0),
        Err(StorageError::InvalidLabels(_))
    ));
    // A wrong hint falls back to the labels.
    let r = app
        .append(SeriesRef(999), &other, Sample::float(11 * H, 2.0))
        .unwrap();
    assert_eq!(
        r,
        app.append(SeriesRef(0), &other, Sample::float(11 * H + 1, 2.0))
            .unwrap()
    );
    // Rollback drops the samples.
    app.rollback().unwrap();
    assert_eq!(head.max_time(), 10 * H + 1);
    assert_eq!(
        read(
            &head.querier(0, i64::MAX),
            &[Matcher::equal("__name__", "y")]
        )[0]
        .1
        .len(),
        1
    );

    // min_valid_time rejects older samples whatever the window.
    head.set_min_valid_time(10 * H + 100);
    let mut app = head.appender();
    assert!(matches!(
        append(&mut app, &other, 10 * H + 50, 1.0),
        Err(StorageError::OutOfBounds)
    ));
}

#[test]
fn metadata_and_exemplars() {
    let head = Head::in_memory(small_opts()).unwrap();
    let s = labels!("__name__" => "x");
    let mut app = head.appender();
    let md = Metadata {
        metric_type: MetricType::Counter,
        unit: "seconds".into(),
        help: "Help.".into(),
    };
    // Unknown series: an error, as in Prometheus.
    assert!(app.update_metadata(SeriesRef(0), &s, &md).is_err());
    let r = append(&mut app, &s, 1, 1.0).unwrap();
    assert_eq!(app.update_metadata(r, &s, &md).unwrap(), r);
    let ex = ember_model::Exemplar {
        labels: labels!("trace_id" => "abc"),
        value: 1.0,
        t: Some(1),
    };
    assert!(app.append_exemplar(r, &s, &ex).is_ok());
    app.commit().unwrap();
    assert_eq!(head.stats().exemplars_dropped.load(Ordering::Relaxed), 1);
}

/// Chunk boundaries as seen in the head chunk files.
fn disk_chunks(files: &HeadChunkFiles) -> Vec<(u64, i64, i64, u16)> {
    let mut v = Vec::new();
    files
        .iterate_chunks(|m| {
            v.push((m.series_ref, m.min_time, m.max_time, m.num_samples));
            Ok(())
        })
        .unwrap();
    v
}

#[test]
fn chunks_are_cut_like_prometheus_and_written_to_chunks_head() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        chunk_write_buffer_size: 1024,
        ..small_opts()
    };
    let head = Head::open_without_wal(dir.path(), opts).unwrap();
    let s = labels!("__name__" => "steady");
    let mut app = head.appender();
    let mut r = SeriesRef(0);
    // 15s scrapes from 1h: 4 chunks of 120 until the 2h boundary, then a
    // new chunk starts exactly at the boundary.
    let ts: Vec<i64> = (0..600).map(|i| H + i * 15_000).collect();
    for (i, &t) in ts.iter().enumerate() {
        r = app.append(r, &s, Sample::float(t, i as f64)).unwrap();
    }
    app.commit().unwrap();
    head.chunk_files().unwrap().flush_buffer().unwrap();
    let chunks = disk_chunks(head.chunk_files().unwrap());
    let sizes: Vec<u16> = chunks.iter().map(|c| c.3).collect();
    // 1h..2h holds 240 samples: two chunks of 120, cut at the boundary.
    assert_eq!(sizes, [120, 120, 120, 120]);
    assert_eq!(chunks[1].2, 2 * H - 15_000);
    assert_eq!(chunks[2].1, 2 * H);
    assert!(chunks.iter().all(|c| c.0 == r.0));
    assert_eq!(head.stats().chunks.load(Ordering::Relaxed), 5);
    assert_eq!(head.stats().chunks_created.load(Ordering::Relaxed), 5);

    // Everything reads back, across mapped, buffered and open chunks.
    let got = all(&head.querier(i64::MIN, i64::MAX));
    let want: Vec<(i64, u64)> = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, (i as f64).to_bits()))
        .collect();
    assert_eq!(
        got,
        vec![("{__name__=\"steady\"}".to_string(), want.clone())]
    );
    // Seeks across chunks.
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(false, None, &[]).unwrap();
    let series = set.next().unwrap().unwrap();
    let mut it = series.iter();
    for &(t, _) in want.iter().step_by(37) {
        assert_eq!(it.seek(t - 1), ValueType::Float);
        assert_eq!(it.at_t(), t);
    }
    assert_eq!(it.seek(i64::MAX), ValueType::None);

    // A sparse series keeps the range end: one chunk per 2h range.
    let sparse = labels!("__name__" => "sparse");
    let mut app = head.appender();
    for i in 0..12 {
        append(&mut app, &sparse, 4 * H + i * 600_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    head.chunk_files().unwrap().flush_buffer().unwrap();
    let n = disk_chunks(head.chunk_files().unwrap())
        .iter()
        .filter(|c| c.0 != r.0)
        .count();
    assert_eq!(n, 0, "the sparse series is still in its first chunk");
}

#[test]
fn corrupt_head_chunk_fails_the_query_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        chunk_write_buffer_size: 64,
        ..small_opts()
    };
    let head = Head::open_without_wal(dir.path(), opts).unwrap();
    let s = labels!("__name__" => "x");
    let mut app = head.appender();
    for i in 0..300 {
        append(&mut app, &s, i * 1000, i as f64).unwrap();
    }
    app.commit().unwrap();
    head.chunk_files().unwrap().flush_buffer().unwrap();
    let file = dir.path().join("chunks_head/000001");
    // Flip a byte inside the first chunk's data (after its 26-byte header
    // at offset 8), in place: the head's map sees it.
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
            .unwrap();
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(8 + 30)).unwrap();
        f.read_exact(&mut b).unwrap();
        f.seek(SeekFrom::Start(8 + 30)).unwrap();
        f.write_all(&[b[0] ^ 0xff]).unwrap();
    }
    let q = head.querier(0, i64::MAX);
    let mut set = q.select(false, None, &[]).unwrap();
    let err = match set.next() {
        Some(Err(e)) => e.to_string(),
        other => panic!("expected an error, got {:?}", other.map(|r| r.is_ok())),
    };
    assert!(err.contains("chunks_head/000001 at offset 8"), "{err}");
    assert!(err.contains("checksum"), "{err}");
    // Queries not touching the chunk still work.
    assert_eq!(all(&head.querier(200_000, i64::MAX))[0].1.len(), 100);
    // Opening the files again finds the corruption too.
    let files = HeadChunkFiles::open(dir.path().join("chunks_head")).unwrap();
    let err = files.iterate_chunks(|_| Ok(())).unwrap_err();
    let msg = err.error.to_string();
    assert!(msg.contains("chunks_head/000001 at offset 8"), "{msg}");
    assert_eq!(err.seq, 1);
}

#[test]
fn truncation_drops_chunks_series_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        chunk_write_buffer_size: 256,
        max_chunk_file_size: 150,
        ..small_opts()
    };
    let head = Head::open_without_wal(dir.path(), opts).unwrap();
    let old = labels!("__name__" => "old");
    let live = labels!("__name__" => "live");
    let mut app = head.appender();
    for i in 0..(4 * 240) {
        let t = i * 15_000;
        if t < 2 * H {
            append(&mut app, &old, t, 1.0).unwrap();
        }
        append(&mut app, &live, t, 2.0).unwrap();
    }
    app.commit().unwrap();
    assert!(head.is_compactable());
    let files_before = head.chunk_files().unwrap().file_seqs().len();
    assert!(files_before > 2);
    let q_before = head.querier(0, 4 * H);
    let st = head.truncate(2 * H).unwrap();
    assert_eq!(st.series_removed, 1);
    assert_eq!(st.chunks_removed, 8);
    assert!(st.files_removed > 0);
    assert_eq!(head.num_series(), 1);
    assert_eq!(head.min_time(), 2 * H);
    let q = head.querier(0, 4 * H);
    let got = all(&q);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.first().unwrap().0, 2 * H);
    assert_eq!(got[0].1.len(), 480);
    let (names, _) = q
        .label_values("__name__", &LabelHints::default(), &[])
        .unwrap();
    assert_eq!(names, ["live"]);
    // Older samples are now out of bounds; the series can come back.
    let mut app = head.appender();
    assert!(matches!(
        append(&mut app, &old, 2 * H - 1, 1.0),
        Err(StorageError::OutOfBounds)
    ));
    append(&mut app, &old, 4 * H, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(head.num_series(), 2);
    assert!(!head.wait_for_pending_readers(0, 2 * H, std::time::Duration::from_millis(1)));
    drop(q_before);
    drop(q);
    assert!(head.wait_for_pending_readers(0, 2 * H, std::time::Duration::from_millis(10)));
    // Truncating everything removes all but the current chunk file.
    head.truncate(10 * H).unwrap();
    assert_eq!(head.num_series(), 0);
    assert!(head.chunk_files().unwrap().file_seqs().len() <= 1);
    let metrics = head.metrics();
    let get = |n: &str| metrics.iter().find(|m| m.name == n).unwrap().value;
    assert_eq!(get("prometheus_tsdb_head_series"), 0.0);
    assert_eq!(get("prometheus_tsdb_head_chunks"), 0.0);
    assert_eq!(get("prometheus_tsdb_head_series_created_total"), 3.0);
}

#[test]
fn head_writes_blocks_for_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open_without_wal(dir.path(), small_opts()).unwrap();
    let mut app = head.appender();
    for i in 0..(3 * 240) {
        for j in 0..3 {
            let l = labels!("__name__" => "m".to_string(), "i" => j.to_string());
            append(&mut app, &l, i * 15_000 + j, (i * j) as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let mut n = 0;
    for s in head.series_in_range(0, 2 * H).unwrap() {
        let s = s.unwrap();
        assert!(s.chunks().all(|(a, b, _)| a >= 0 && b < 2 * H));
        assert_eq!(s.samples().count(), 480);
        n += 1;
    }
    assert_eq!(n, 3);
    let blocks = dir.path().join("blocks");
    std::fs::create_dir(&blocks).unwrap();
    let written = head
        .write_block(&blocks, 0, 2 * H, BlockWriterOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(written.meta.stats.num_samples, 3 * 480);
    assert_eq!(written.meta.stats.num_series, 3);
    let bd = open_blocks(&blocks).unwrap();
    let from_block = all(&bd.merge_querier(0, 2 * H - 1));
    let from_head = all(&head.querier(0, 2 * H - 1));
    assert_eq!(from_block, from_head);
    assert!(head
        .write_block(&blocks, 10 * H, 12 * H, BlockWriterOptions::default())
        .unwrap()
        .is_none());
}

#[test]
fn querier_created_before_a_commit_does_not_see_it() {
    let head = Head::in_memory(small_opts()).unwrap();
    let a = labels!("__name__" => "a");
    let mut app = head.appender();
    append(&mut app, &a, 1, 1.0).unwrap();
    app.commit().unwrap();
    let before = head.querier(0, 100);
    let mut app = head.appender();
    for t in 2..=50 {
        append(&mut app, &a, t, 1.0).unwrap();
    }
    append(&mut app, &labels!("__name__" => "b"), 2, 1.0).unwrap();
    app.commit().unwrap();
    let after = head.querier(0, 100);
    assert_eq!(
        all(&before),
        vec![("{__name__=\"a\"}".into(), vec![(1, 1f64.to_bits())])]
    );
    let got = all(&after);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1.len(), 50);
}

#[test]
fn concurrent_appenders_and_readers_see_whole_commits() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        samples_per_chunk: 8,
        chunk_write_buffer_size: 512,
        ..small_opts()
    };
    let head = Head::open_without_wal(dir.path(), opts).unwrap();
    const WRITERS: usize = 3;
    const SERIES: usize = 6;
    const COMMITS: i64 = 150;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let head = &head;
            s.spawn(move || {
                let mut refs = [SeriesRef(0); SERIES];
                let ls: Vec<Labels> = (0..SERIES)
                    .map(|i| labels!("w" => w.to_string(), "i" => i.to_string()))
                    .collect();
                for k in 1..=COMMITS {
                    let mut app = head.appender();
                    for (r, l) in refs.iter_mut().zip(&ls) {
                        *r = app.append(*r, l, Sample::float(k * 10, k as f64)).unwrap();
                    }
                    if k % 7 == 0 {
                        app.rollback().unwrap();
                        // Redo it so every timestamp ends up committed.
                        for (r, l) in refs.iter_mut().zip(&ls) {
                            *r = app.append(*r, l, Sample::float(k * 10, k as f64)).unwrap();
                        }
                    }
                    app.commit().unwrap();
                }
            });
        }
        for _ in 0..2 {
            let head = &head;
            let done = &done;
            s.spawn(move || {
                let mut checks = 0;
                while !done.load(Ordering::Acquire) || checks < 5 {
                    let q = head.querier(i64::MIN, i64::MAX);
                    let data = all(&q);
                    for w in 0..WRITERS {
                        let lens: Vec<usize> = data
                            .iter()
                            .filter(|(l, _)| l.contains(&format!("w=\"{w}\"")))
                            .map(|(_, pts)| pts.len())
                            .collect();
                        // All of a writer's series, or none, have each
                        // commit.
                        if let Some(&first) = lens.first() {
                            assert_eq!(lens.len(), SERIES, "writer {w}: {lens:?}");
                            assert!(lens.iter().all(|&n| n == first), "writer {w}: {lens:?}");
                        }
                    }
                    checks += 1;
                }
            });
        }
        // Wait for the writers, then let the readers finish.
        let head = &head;
        let done = &done;
        s.spawn(move || {
            while head.stats().samples_appended.load(Ordering::Relaxed)
                < (WRITERS * SERIES) as u64 * COMMITS as u64
            {
                std::thread::yield_now();
            }
            done.store(true, Ordering::Release);
        });
    });
    let data = all(&head.querier(i64::MIN, i64::MAX));
    assert_eq!(data.len(), WRITERS * SERIES);
    for (_, pts) in &data {
        let want: Vec<(i64, u64)> = (1..=COMMITS)
            .map(|k| (k * 10, (k as f64).to_bits()))
            .collect();
        assert_eq!(pts, &want);
    }
}

// --- The head against MemStorage ---------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Append { series: usize, t: i64, v: i8 },
    Commit,
    Rollback,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        8 => (0usize..5, 0i64..4_000, any::<i8>()).prop_map(|(series, t, v)| Op::Append { series, t: t * 250, v }),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
    ];
    proptest::collection::vec(op, 1..400)
}

fn series_labels(i: usize) -> Labels {
    let name = if i.is_multiple_of(2) { "even" } else { "odd" };
    labels!("__name__" => name.to_string(), "i" => i.to_string())
}

fn same_outcome(
    head: &Result<SeriesRef, StorageError>,
    mem: &Result<SeriesRef, StorageError>,
) -> bool {
    match (head, mem) {
        (Ok(_), Ok(_)) => true,
        (Err(a), Err(b)) => {
            std::mem::discriminant(a) == std::mem::discriminant(b)
            // MemStorage finds a sample at an older timestamp; the head only
            // knows it is older than the newest.
            || matches!((a, b), (StorageError::OutOfOrderSample, StorageError::DuplicateSampleForTimestamp))
        }
        (Err(StorageError::OutOfOrderSample), Ok(_)) => true,
        _ => false,
    }
}

fn check_against_model(ops: &[Op], head: &Head) {
    let model = MemStorage::new();
    let mut mapp = model.appender();
    let mut happ = head.appender();
    for op in ops {
        match *op {
            Op::Append { series, t, v } => {
                let l = series_labels(series);
                let h = happ.append(SeriesRef(0), &l, Sample::float(t, f64::from(v)));
                let m = mapp.append(SeriesRef(0), &l, Sample::float(t, f64::from(v)));
                assert!(same_outcome(&h, &m), "{op:?}: head {h:?}, model {m:?}");
            }
            Op::Commit => {
                happ.commit().unwrap();
                mapp.commit().unwrap();
            }
            Op::Rollback => {
                happ.rollback().unwrap();
                mapp.rollback().unwrap();
            }
        }
    }
    happ.commit().unwrap();
    mapp.commit().unwrap();
    for (mint, maxt) in [(i64::MIN, i64::MAX), (100_000, 600_000), (999_750, 999_750)] {
        let mq = model.querier(mint, maxt).unwrap();
        let hq = head.querier(mint, maxt);
        assert_eq!(all(&hq), all(&*mq));
        let m = [Matcher::equal("__name__", "even")];
        assert_eq!(read(&hq, &m), read(&*mq, &m));
        let m = [Matcher::new(MatchOp::NotRegex, "i", "1|2").unwrap()];
        assert_eq!(read(&hq, &m), read(&*mq, &m));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn head_matches_mem_storage(ops in ops()) {
        let head = Head::in_memory(small_opts()).unwrap();
        check_against_model(&ops, &head);
    }

    #[test]
    fn head_with_chunk_files_matches_mem_storage(ops in ops(), per_chunk in 1usize..10) {
        let dir = tempfile::tempdir().unwrap();
        let opts = HeadOptions {
            samples_per_chunk: per_chunk,
            chunk_write_buffer_size: 100,
            max_chunk_file_size: 600,
            ..small_opts()
        };
        let head = Head::open_without_wal(dir.path(), opts).unwrap();
        check_against_model(&ops, &head);
    }
}

#[test]
fn storage_traits_are_implemented() {
    let head = Head::in_memory(small_opts()).unwrap();
    let appendable: &dyn Appendable = &head;
    let mut app = appendable.appender();
    app.append(SeriesRef(0), &labels!("a" => "b"), Sample::float(5, 5.0))
        .unwrap();
    app.commit().unwrap();
    drop(app);
    let queryable: &dyn Queryable = &head;
    let q = queryable.querier(0, 10).unwrap();
    assert_eq!(all(&*q).len(), 1);
}

#[test]
fn garbage_collection_never_loses_pending_or_committed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        samples_per_chunk: 4,
        chunk_write_buffer_size: 256,
        max_chunk_file_size: 2048,
        ..small_opts()
    };
    let head = Head::open_without_wal(dir.path(), opts).unwrap();
    // A new series, pending in an open transaction, survives a GC.
    let mut app = head.appender();
    append(&mut app, &labels!("__name__" => "pending"), 1_000, 1.0).unwrap();
    head.truncate(500).unwrap();
    app.commit().unwrap();
    drop(app);
    assert_eq!(all(&head.querier(0, 2_000)).len(), 1);

    const ROUNDS: i64 = 600;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let head = &head;
        let done = &done;
        s.spawn(move || {
            for k in 1..=ROUNDS {
                // Two alternating sets of series: each goes quiet for 50
                // rounds, so GC removes them and appends re-create them.
                let set = (k / 50) % 2;
                let mut app = head.appender();
                for i in 0..8 {
                    let l = labels!("set" => set.to_string(), "i" => i.to_string());
                    append(&mut app, &l, 10_000 + k * 1_000, k as f64).unwrap();
                }
                app.commit().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        // Readers never fail while chunks and chunk files go away.
        s.spawn(move || {
            while !done.load(Ordering::Acquire) {
                let q = head.querier(i64::MIN, i64::MAX);
                for (_, pts) in all(&q) {
                    assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
                }
            }
        });
        s.spawn(move || {
            while !done.load(Ordering::Acquire) {
                let max = head.max_time();
                if max > 40_000 {
                    head.truncate(max - 30_000).unwrap();
                }
                std::thread::yield_now();
            }
        });
    });
    let cutoff = 10_000 + (ROUNDS - 10) * 1_000;
    head.truncate(cutoff).unwrap();
    let got = all(&head.querier(cutoff, i64::MAX));
    assert_eq!(got.len(), 16, "{got:?}");
    let created = head.stats().series_created.load(Ordering::Relaxed);
    assert!(
        created > 16 + 8,
        "series were removed and re-created: {created}"
    );
    for (l, pts) in &got {
        let set: i64 = if l.contains("set=\"0\"") { 0 } else { 1 };
        let want: Vec<(i64, u64)> = (ROUNDS - 10..=ROUNDS)
            .filter(|k| (k / 50) % 2 == set)
            .map(|k| (10_000 + k * 1_000, (k as f64).to_bits()))
            .collect();
        assert_eq!(pts, &want, "{l}");
    }
}
