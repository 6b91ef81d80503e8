//! Deleting from the head: tombstones hide samples from queries and from
//! blocks the head writes, survive restarts and WAL checkpoints, and leave
//! isolation and the append rules alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ember_model::{labels, Labels, MatchOp, Matcher, Sample};
use ember_storage::{Appender, LabelHints, Querier, SeriesRef, StorageError, ValueType};
use ember_tsdb::head::{Head, HeadOptions};
use ember_tsdb::wal::record::{Decoder, Record};
use ember_tsdb::wal::{Reader, SegmentRange, WalOptions};
use ember_tsdb::{open_blocks, BlockWriterOptions};
use proptest::prelude::*;

mod common;

const H: i64 = 3_600_000;

type Data = Vec<(String, Vec<(i64, f64)>)>;

fn read(q: &dyn Querier, matchers: &[Matcher]) -> Data {
    common::read(q, matchers)
}

fn dump(head: &Head) -> Data {
    read(&head.querier(i64::MIN, i64::MAX), &[])
}

fn opts() -> HeadOptions {
    HeadOptions {
        stripe_size: 16,
        samples_per_chunk: 5,
        chunk_write_buffer_size: 1024,
        max_chunk_file_size: 16 * 1024,
        wal_options: WalOptions {
            segment_size: 32 * 1024,
            ..WalOptions::default()
        },
        ..HeadOptions::default()
    }
}

fn series(job: &str, i: usize) -> Labels {
    labels!("__name__" => "m".to_string(), "job" => job.to_string(), "i" => i.to_string())
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::equal(name, value)
}

fn re(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Regex, name, value).unwrap()
}

fn commit(head: &Head, samples: &[(&Labels, i64, f64)]) {
    let mut app = head.appender();
    for (l, t, v) in samples {
        app.append(SeriesRef(0), l, Sample::float(*t, *v)).unwrap();
    }
    app.commit().unwrap();
}

/// Series a/0, a/1, a/2 and b/0 with a sample every 10 ms in `[0, 100]`,
/// value `t + i`.
fn fill(head: &Head) -> Vec<Labels> {
    let all = vec![
        series("a", 0),
        series("a", 1),
        series("a", 2),
        series("b", 0),
    ];
    for t in (0..=100).step_by(10) {
        let batch: Vec<_> = all
            .iter()
            .enumerate()
            .map(|(i, l)| (l, t, (t + i as i64) as f64))
            .collect();
        commit(head, &batch);
    }
    all
}

fn points(i: usize, keep: impl Fn(i64) -> bool) -> Vec<(i64, f64)> {
    (0..=100)
        .step_by(10)
        .filter(|&t| keep(t))
        .map(|t| (t, (t + i as i64) as f64))
        .collect()
}

#[test]
fn deleted_samples_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let s = fill(&head);
    let name = |l: &Labels| l.to_string();

    // Part of one series.
    assert_eq!(
        head.delete(20, 40, &[eq("job", "a"), eq("i", "0")])
            .unwrap(),
        1
    );
    // Several series at once, one range already partly deleted.
    assert_eq!(head.delete(35, 55, &[re("i", "0|1")]).unwrap(), 3);
    // A whole series.
    assert_eq!(head.delete(i64::MIN, i64::MAX, &[eq("i", "2")]).unwrap(), 1);
    // Nothing selected, nothing in range, no matchers: nothing deleted.
    assert_eq!(head.delete(0, 100, &[eq("job", "c")]).unwrap(), 0);
    assert_eq!(head.delete(101, 1000, &[eq("job", "a")]).unwrap(), 0);
    assert_eq!(head.delete(-100, -1, &[eq("job", "a")]).unwrap(), 0);
    assert_eq!(head.delete(50, 10, &[eq("job", "a")]).unwrap(), 0);
    assert_eq!(head.delete(0, 100, &[]).unwrap(), 0);

    // In label order: i="0" job="a", i="0" job="b", i="1" job="a".
    let want = vec![
        (name(&s[0]), points(0, |t| !(20..=55).contains(&t))),
        (name(&s[3]), points(3, |t| !(35..=55).contains(&t))),
        (name(&s[1]), points(1, |t| !(35..=55).contains(&t))),
    ];
    assert_eq!(dump(&head), want);

    // A range with nothing left is no series at all.
    let q20 = head.querier(20, 55);
    assert_eq!(read(&q20, &[eq("job", "a"), eq("i", "0")]), vec![]);
    assert_eq!(
        read(&q20, &[eq("i", "1")]),
        vec![(name(&s[1]), points(1, |t| (20..=30).contains(&t)))]
    );
    drop(q20);
    // Seeking into a deleted range lands on the next sample kept.
    let q = head.querier(0, 100);
    let mut set = q
        .select(false, None, &[eq("job", "a"), eq("i", "0")])
        .unwrap();
    let x = set.next().unwrap().unwrap();
    let mut it = x.iter();
    assert_eq!(it.seek(25), ValueType::Float);
    assert_eq!(it.at(), (60, 60.0));
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at(), (70, 70.0));
    drop(it);
    drop(x);
    assert!(set.next().is_none());
    drop(set);

    // Label names and values come from the index, as in Prometheus: a
    // series whose samples are all deleted still shows there.
    let (values, _) = q.label_values("i", &LabelHints::default(), &[]).unwrap();
    assert_eq!(values, ["0", "1", "2"]);

    // The same after a crash: the WAL has the tombstones.
    drop(q);
    let before = dump(&head);
    std::mem::forget(head);
    let head = Head::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&head), before);
    let report = head.replay_report();
    assert_eq!(report.tombstones, 5, "{report:?}");
    assert_eq!(report.unknown_refs, 0, "{report:?}");
    // And after a clean close.
    head.close().unwrap();
    drop(head);
    let head = Head::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&head), before);
}

#[test]
fn a_delete_the_wal_cannot_log_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    fill(&head);
    let before = dump(&head);
    head.close().unwrap();
    assert!(head.delete(0, 100, &[eq("job", "a")]).is_err());
    assert_eq!(dump(&head), before);
}

#[test]
fn appends_after_a_delete_follow_the_usual_rules() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let a = series("a", 0);
    let b = series("b", 0);
    for t in (0..=100).step_by(10) {
        commit(&head, &[(&a, t, t as f64), (&b, t, t as f64)]);
    }
    // The interval stops at each series' newest sample (100), so it
    // never hides samples appended later.
    assert_eq!(head.delete(0, 1000, &[eq("i", "0")]).unwrap(), 2);
    assert!(dump(&head).is_empty());

    let mut app = head.appender();
    // Older or equal timestamps are still out of order or duplicates...
    assert!(matches!(
        app.append(SeriesRef(0), &a, Sample::float(50, 1.0)),
        Err(StorageError::OutOfOrderSample)
    ));
    assert!(matches!(
        app.append(SeriesRef(0), &a, Sample::float(100, 1.0)),
        Err(StorageError::DuplicateSampleForTimestamp)
    ));
    // ...or accepted and dropped when the very same sample comes again:
    // it stays deleted.
    app.append(SeriesRef(0), &a, Sample::float(100, 100.0))
        .unwrap();
    app.append(SeriesRef(0), &a, Sample::float(110, 110.0))
        .unwrap();
    app.append(SeriesRef(0), &b, Sample::float(500, 5.0))
        .unwrap();
    app.commit().unwrap();
    drop(app);
    let want = vec![
        (a.to_string(), vec![(110, 110.0)]),
        (b.to_string(), vec![(500, 5.0)]),
    ];
    assert_eq!(dump(&head), want);
    drop(head);
    let head = Head::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&head), want);
    // Deleting again reaches the new samples.
    assert_eq!(head.delete(105, 1000, &[eq("job", "a")]).unwrap(), 1);
    assert_eq!(dump(&head), want[1..]);
}

#[test]
fn isolation_is_unaffected() {
    let head = Head::in_memory(opts()).unwrap();
    let a = series("a", 0);
    commit(&head, &[(&a, 0, 0.0), (&a, 10, 1.0), (&a, 20, 2.0)]);
    let old = head.querier(0, 1000);
    // A commit in flight while deleting.
    let mut app = head.appender();
    app.append(SeriesRef(0), &a, Sample::float(30, 3.0))
        .unwrap();
    assert_eq!(head.delete(10, 1000, &[eq("i", "0")]).unwrap(), 1);
    app.commit().unwrap();
    let new = head.querier(0, 1000);
    // The older querier still misses the commit; deletions are not
    // isolated, as in Prometheus: it sees them once it reads the series.
    assert_eq!(read(&old, &[]), vec![(a.to_string(), vec![(0, 0.0)])]);
    // The commit's sample is newer than the series was at the delete.
    assert_eq!(
        read(&new, &[]),
        vec![(a.to_string(), vec![(0, 0.0), (30, 3.0)])]
    );
}

#[test]
fn blocks_written_after_a_delete_lack_the_deleted_samples() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let s: Vec<Labels> = (0..4).map(|i| series("a", i)).collect();
    for k in 0..(3 * 240) {
        let t = k * 15_000;
        let batch: Vec<_> = s.iter().map(|l| (l, t, k as f64)).collect();
        commit(&head, &batch);
    }
    head.delete(H, 3 * H, &[eq("i", "0")]).unwrap();
    head.delete(i64::MIN, i64::MAX, &[eq("i", "1")]).unwrap();
    head.delete(10 * 15_000, 20 * 15_000, &[eq("i", "2")])
        .unwrap();
    let mut n = 0;
    for r in head.series_in_range(0, 2 * H).unwrap() {
        let r = r.unwrap();
        let kept = r.samples().count();
        match r.labels().get("i") {
            Some("0") => assert_eq!(kept, 240),
            Some("2") => assert_eq!(kept, 480 - 11),
            Some("3") => assert_eq!(kept, 480),
            other => panic!("unexpected series {other:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 3);

    let blocks = dir.path().join("blocks");
    std::fs::create_dir(&blocks).unwrap();
    let written = head
        .write_block(&blocks, 0, 2 * H, BlockWriterOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(written.meta.stats.num_series, 3);
    assert_eq!(written.meta.stats.num_samples, 240 + 469 + 480);
    let bd = open_blocks(&blocks).unwrap();
    assert_eq!(
        read(&bd.merge_querier(0, 2 * H - 1), &[]),
        read(&head.querier(0, 2 * H - 1), &[])
    );
}

fn wal_segments(wal: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(wal)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

/// Calls `more` with end times growing from `from` until the next
/// checkpoint (of the first two thirds of the segments before the
/// newest) takes in WAL segment `seg`.
fn grow_until_checkpointed(wal: &Path, seg: u32, mut from: i64, mut more: impl FnMut(i64)) {
    while {
        let segs = wal_segments(wal);
        let (first, last) = (segs[0], segs[segs.len() - 1]);
        first + last.saturating_sub(first) * 2 / 3 <= seg
    } {
        from += 15 * 60_000;
        more(from);
    }
}

fn checkpoint_dir(wal: &Path) -> Option<PathBuf> {
    std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint.") && !n.ends_with(".tmp"))
        })
}

/// The Tombstones entries of a checkpoint: `(series ref, mint, maxt)`.
fn checkpoint_tombstones(dir: &Path) -> Vec<(u64, i64, i64)> {
    let mut r = Reader::open(&[SegmentRange::all(dir)]).unwrap();
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Tombstones(v) = dec.decode(rec).unwrap() {
            out.extend(
                v.iter()
                    .map(|t| (t.series_ref, t.interval.mint, t.interval.maxt)),
            );
        }
    }
    out.sort();
    out
}

#[test]
fn checkpoints_keep_the_tombstones_still_needed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let head = Head::open(dir.path(), opts()).unwrap();
    let s: Vec<Labels> = (0..20).map(|i| series("a", i)).collect();
    let mut refs = vec![SeriesRef(0); s.len()];
    let mut k = 0;
    let mut scrape = |head: &Head, until: i64| {
        while k * 15_000 < until {
            let t = k * 15_000;
            let mut app = head.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                // Series 0 stops after 2h.
                if i == 0 && t >= 2 * H {
                    continue;
                }
                *r = app.append(*r, &s[i], Sample::float(t, k as f64)).unwrap();
            }
            app.commit().unwrap();
            k += 1;
        }
    };
    scrape(&head, 4 * H);
    // Series refs are 1.. in creation order.
    head.delete(H, 2 * H, &[eq("i", "0")]).unwrap(); // series removed by GC
    head.delete(0, H, &[eq("i", "1")]).unwrap(); // ends before the truncation
    head.delete(2 * H, 3 * H + 60_000, &[eq("i", "2")]).unwrap(); // reaches past it
    head.delete(3 * H + 300_000, 10 * H, &[eq("i", "3")])
        .unwrap(); // after it
    let tomb_segment = *wal_segments(&wal).last().unwrap();
    grow_until_checkpointed(&wal, tomb_segment, 4 * H, |until| scrape(&head, until));
    head.truncate(3 * H).unwrap();
    let cp = checkpoint_dir(&wal).expect("a checkpoint");
    assert_eq!(
        checkpoint_tombstones(&cp),
        vec![
            (3, 2 * H, 3 * H + 60_000),
            (4, 3 * H + 300_000, 4 * H - 15_000)
        ]
    );
    let before = dump(&head);
    assert_eq!(before.len(), 19);
    let get = |d: &Data, i: usize| {
        d.iter()
            .find(|x| x.0 == s[i].to_string())
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get(&before, 2)[0].0, 3 * H + 75_000);
    assert_eq!(get(&before, 1)[0].0, 3 * H);
    drop(head);

    // The DB reopens the head with the end of the block the truncated data
    // went to as the minimum valid time.
    let reopen = HeadOptions {
        min_valid_time: 3 * H,
        ..opts()
    };
    let head = Head::open(dir.path(), reopen).unwrap();
    assert_eq!(dump(&head), before);
    let report = head.replay_report();
    assert_eq!(report.unknown_refs, 0, "{report:?}");
    assert_eq!(report.tombstones, 2, "{report:?}");
    // An aligned truncation drops the deleted interval with the chunks it
    // was in.
    head.truncate(4 * H).unwrap();
    let after = dump(&head);
    let want: Data = before
        .into_iter()
        .map(|(l, pts)| (l, pts.into_iter().filter(|p| p.0 >= 4 * H).collect()))
        .collect();
    assert_eq!(after, want);
}

// --- Random appends and deletes against a model ---------------------------

#[derive(Debug, Clone)]
enum Op {
    Append {
        series: usize,
        t: i64,
        v: i8,
    },
    Commit,
    /// Delete `[mint, maxt]` from the series whose bit is set in `mask`.
    Delete {
        mint: i64,
        maxt: i64,
        mask: u8,
    },
    Restart {
        crash: bool,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        12 => (0usize..4, 0i64..300, any::<i8>()).prop_map(|(series, t, v)| Op::Append { series, t: t * 10, v }),
        3 => Just(Op::Commit),
        3 => (-10i64..310, 0i64..100, 1u8..16).prop_map(|(a, len, mask)| Op::Delete { mint: a * 10, maxt: (a + len) * 10, mask }),
        1 => any::<bool>().prop_map(|crash| Op::Restart { crash }),
    ];
    proptest::collection::vec(op, 1..200)
}

fn model_data(model: &[BTreeMap<i64, f64>], mint: i64, maxt: i64) -> Data {
    let mut out: Data = model
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let pts: Vec<_> = m.range(mint..=maxt).map(|(t, v)| (*t, *v)).collect();
            (series("p", i).to_string(), pts)
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn deletes_match_a_model(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        let mut head = Head::open(dir.path(), opts()).unwrap();
        let mut model: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); 4];
        // Newest timestamp appended per series, deleted or not.
        let mut newest = [i64::MIN; 4];
        let mut pending: Vec<(usize, i64, f64)> = Vec::new();
        let mut crashes = 0;
        for op in &ops {
            match *op {
                Op::Append { series: i, t, v } => pending.push((i, t, f64::from(v))),
                Op::Commit => {
                    let mut app = head.appender();
                    let mut accepted = Vec::new();
                    for &(i, t, v) in &pending {
                        if app.append(SeriesRef(0), &series("p", i), Sample::float(t, v)).is_ok()
                            && t > newest[i]
                        {
                            newest[i] = t;
                            accepted.push((i, t, v));
                        }
                    }
                    app.commit().unwrap();
                    for (i, t, v) in accepted {
                        model[i].insert(t, v);
                    }
                    pending.clear();
                }
                Op::Delete { mint, maxt, mask } => {
                    let sel: Vec<String> = (0..4).filter(|i| mask & (1 << i) != 0).map(|i| i.to_string()).collect();
                    head.delete(mint, maxt, &[re("i", &sel.join("|"))]).unwrap();
                    for i in (0..4).filter(|i| mask & (1 << i) != 0) {
                        model[i].retain(|t, _| !(mint..=maxt).contains(t));
                    }
                }
                Op::Restart { crash } => {
                    if crash && crashes < 3 {
                        crashes += 1;
                        std::mem::forget(head);
                    } else {
                        drop(head);
                    }
                    head = Head::open(dir.path(), opts()).unwrap();
                }
            }
            prop_assert_eq!(dump(&head), model_data(&model, i64::MIN, i64::MAX));
            let q = head.querier(1000, 2000);
            prop_assert_eq!(read(&q, &[]), model_data(&model, 1000, 2000));
        }
        drop(head);
        let head = Head::open(dir.path(), opts()).unwrap();
        prop_assert_eq!(dump(&head), model_data(&model, i64::MIN, i64::MAX));
    }
}

// --- Prometheus reads our tombstones --------------------------------------

fn promtool() -> Option<PathBuf> {
    if std::env::var("EMBER_SKIP_EXTERNAL").is_ok_and(|v| v == "1") {
        return None;
    }
    let p = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/promtool"));
    p.exists().then_some(p)
}

/// `promtool tsdb dump` of a data directory, in our [`Data`] form.
fn promtool_dump(promtool: &Path, data: &Path) -> Data {
    let out = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(data)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool tsdb dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut by_series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let (labels, rest) = l.rsplit_once("} ").expect("dump line");
        let (v, t) = rest.split_once(' ').expect("value and time");
        by_series
            .entry(format!("{labels}}}"))
            .or_default()
            .push((t.parse().unwrap(), v.parse().unwrap()));
    }
    by_series
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|x| x.0);
            (k, v)
        })
        .collect()
}

/// Fails naming the first difference: dumps are too long to print.
fn assert_same(got: &Data, want: &Data) {
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0);
        let diff = g.1.iter().zip(&w.1).position(|(a, b)| a != b);
        assert!(
            diff.is_none() && g.1.len() == w.1.len(),
            "{}: {} samples, want {}; first difference at {diff:?}: {:?} vs {:?}",
            g.0,
            g.1.len(),
            w.1.len(),
            diff.map(|i| g.1[i]),
            diff.map(|i| w.1[i]),
        );
    }
    assert_eq!(got.len(), want.len());
}

/// Our dump in the order of [`promtool_dump`].
fn by_name(mut d: Data) -> Data {
    d.sort_by(|a, b| a.0.cmp(&b.0));
    d
}

#[test]
fn promtool_applies_our_tombstones() {
    let Some(promtool) = promtool() else {
        println!("promtool not found (or EMBER_SKIP_EXTERNAL=1): skipping");
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    let wal = data.join("wal");
    let head = Head::open(&data, opts()).unwrap();
    let s: Vec<Labels> = (0..6)
        .map(|i| series(if i % 2 == 0 { "a" } else { "b" }, i))
        .collect();
    let mut k = 0;
    let mut scrape = |head: &Head, until: i64| {
        while k * 15_000 < until {
            let t = k * 15_000;
            let batch: Vec<_> = s
                .iter()
                .enumerate()
                .map(|(i, l)| (l, t, (k * (i as i64 + 1)) as f64))
                .collect();
            commit(head, &batch);
            k += 1;
        }
    };
    scrape(&head, 4 * H);
    head.delete(H, 2 * H, &[eq("job", "a")]).unwrap();
    head.delete(i64::MIN, i64::MAX, &[eq("i", "1")]).unwrap();
    head.delete(3 * H, 3 * H, &[re("i", "3|5")]).unwrap();
    head.delete(0, 10 * H, &[eq("i", "4")]).unwrap();
    let tomb_segment = *wal_segments(&wal).last().unwrap();
    let want = by_name(dump(&head));
    assert_eq!(want.len(), 4);
    head.close().unwrap();
    drop(head);
    assert_same(&promtool_dump(&promtool, &data), &want);

    // With the tombstones in a checkpoint. Both replay the head chunks
    // truncation left on disk (a DB would hide them behind the block's
    // end as the minimum valid time), so compare after a restart.
    let head = Head::open(&data, opts()).unwrap();
    grow_until_checkpointed(&wal, tomb_segment, 4 * H, |until| scrape(&head, until));
    head.truncate(2 * H).unwrap();
    let cp = checkpoint_dir(&wal).expect("a checkpoint");
    assert_eq!(checkpoint_tombstones(&cp).len(), 7);
    head.close().unwrap();
    drop(head);
    let head = Head::open(&data, opts()).unwrap();
    assert_eq!(head.replay_report().tombstones, 7);
    let want = by_name(dump(&head));
    head.close().unwrap();
    drop(head);
    assert_same(&promtool_dump(&promtool, &data), &want);
}
