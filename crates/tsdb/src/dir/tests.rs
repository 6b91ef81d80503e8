//! Block store tests: reloads, the compaction loop, retention, deletion,
//! tombstone cleaning, and crash safety at every step.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ember_model::{labels, MatchOp, Matcher};

use super::*;
use crate::compact::tests::{read_all, read_dir, write_block, Bits, Data};
use crate::meta::BlockMeta;
use crate::tombstones::Tombstones;

const H: i64 = 3_600_000;

/// A block covering exactly `[a, b)`: a few series sampled every 15s,
/// plus one sample at `b - 1`.
fn block(dir: &Path, a: i64, b: i64) -> Ulid {
    let mut data: Data = Vec::new();
    for job in ["api", "db"] {
        let l = labels!("__name__" => "up", "job" => job);
        let mut pts: Vec<(i64, f64)> = (a..b - 1)
            .step_by(15_000)
            .map(|t| (t, (t / 15_000 % 7) as f64))
            .collect();
        pts.push((b - 1, 42.0));
        data.push((l, pts));
    }
    let d = write_block(dir, &data);
    let (meta, _) = BlockMeta::read(&d).unwrap();
    assert_eq!((meta.min_time, meta.max_time), (a, b));
    meta.ulid
}

fn opts() -> BlockStoreOptions {
    BlockStoreOptions::default()
}

fn read_store(s: &BlockStore) -> Bits {
    read_all(&s.snapshot().merge_querier(i64::MIN, i64::MAX), &[])
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn no_tmp(dir: &Path) {
    for n in names(dir) {
        assert!(!n.contains(".tmp"), "leftover {n}");
    }
    for (_, d) in block_dirs(dir).unwrap() {
        for n in names(&d) {
            assert!(!n.ends_with(".tmp"), "leftover {n} in {}", d.display());
        }
    }
}

/// Every block directory is a complete block.
fn all_blocks_complete(dir: &Path) {
    for (ulid, d) in block_dirs(dir).unwrap() {
        let b = Block::open(&d).unwrap_or_else(|e| panic!("block {ulid} is broken: {e}"));
        b.verify().unwrap();
    }
}

fn ranges(s: &BlockStore) -> Vec<(i64, i64, u32)> {
    s.snapshot()
        .blocks()
        .iter()
        .map(|b| {
            (
                b.meta().min_time,
                b.meta().max_time,
                b.meta().compaction.level,
            )
        })
        .collect()
}

#[test]
fn shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BlockStore>();
    send_sync::<BlockSnapshot>();
    let dir = tempfile::tempdir().unwrap();
    assert!(remove_tmp_dirs(&dir.path().join("missing"))
        .unwrap()
        .is_empty());
    assert!(!delete_block_dir(dir.path(), Ulid::new()).unwrap());
}

#[test]
fn tmp_names() {
    let u = Ulid::new().to_string();
    assert!(is_tmp_block_dir_name(&format!("{u}.tmp-for-creation")));
    assert!(is_tmp_block_dir_name(&format!("{u}.tmp-for-deletion")));
    assert!(is_tmp_block_dir_name(&format!("{u}.tmp")));
    assert!(!is_tmp_block_dir_name(&u));
    assert!(!is_tmp_block_dir_name("wal.tmp"));
    assert!(!is_tmp_block_dir_name("checkpoint.00000001.tmp"));
    assert!(!is_tmp_block_dir_name(&format!("{u}.tmp-for-other")));
}

#[test]
fn open_removes_leftovers_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let id = block(p, 0, 2 * H);
    for suffix in [".tmp-for-creation", ".tmp-for-deletion", ".tmp"] {
        let d = p.join(format!("{}{suffix}", Ulid::new()));
        fs::create_dir_all(d.join("chunks")).unwrap();
        fs::write(d.join("chunks/000001"), b"partial").unwrap();
    }
    fs::create_dir(p.join("wal")).unwrap();
    fs::create_dir(p.join("chunks_head")).unwrap();
    fs::write(p.join("lock"), b"").unwrap();
    fs::write(p.join(format!("{id}/tombstones.tmp")), b"x").unwrap();
    fs::write(p.join(format!("{id}/meta.json.tmp")), b"x").unwrap();
    let s = BlockStore::open(p, opts()).unwrap();
    assert_eq!(
        names(p),
        [
            id.to_string(),
            "chunks_head".into(),
            "lock".into(),
            "wal".into()
        ]
    );
    no_tmp(p);
    assert_eq!(s.snapshot().blocks().len(), 1);
    assert_eq!(s.snapshot().size(), s.snapshot().blocks()[0].size().total());
    // A new directory is created.
    let fresh = p.join("sub/data");
    let s = BlockStore::open(&fresh, opts()).unwrap();
    assert!(s.snapshot().blocks().is_empty());
    assert!(fresh.is_dir());
}

#[test]
fn reload_deletes_replaced_and_deletable_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let b = block(p, 2 * H, 4 * H);
    let c = block(p, 4 * H, 6 * H);
    let want = read_dir(p);
    // A compaction of a and b whose sources were never deleted.
    let (ba, bb) = (
        Block::open(p.join(a.to_string())).unwrap(),
        Block::open(p.join(b.to_string())).unwrap(),
    );
    let compactor = Compactor::new(CompactorOptions::default()).unwrap();
    let CompactOutcome::Written { meta, .. } = compactor.compact(p, &[&ba, &bb]).unwrap() else {
        panic!()
    };
    drop((ba, bb));
    // c marked deletable (it would be, after an empty compaction).
    update_meta(&p.join(c.to_string()), |m| m.compaction.deletable = true).unwrap();
    let s = BlockStore::open(p, opts()).unwrap();
    assert_eq!(names(p), [meta.ulid.to_string()]);
    assert_eq!(ranges(&s), [(0, 4 * H, 2)]);
    let got = read_store(&s);
    assert_eq!(got.len(), want.len());
    assert!(got.iter().all(|(_, pts)| pts.iter().all(|p| p.0 < 4 * H)));
}

#[test]
fn corrupted_blocks_fail_the_reload_unless_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    fs::write(p.join(format!("{a}/index")), b"garbage").unwrap();
    let e = BlockStore::open(p, opts()).unwrap_err().to_string();
    assert!(e.contains(&format!("corrupted block {a}")), "{e}");
    // A block whose meta.json is missing is skipped.
    fs::remove_file(p.join(format!("{a}/meta.json"))).unwrap();
    let s = BlockStore::open(p, opts()).unwrap();
    assert!(s.snapshot().blocks().is_empty());

    // A corrupted block that a loaded block replaces is deleted.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let ba = Block::open(p.join(a.to_string())).unwrap();
    let compactor = Compactor::new(CompactorOptions::default()).unwrap();
    let CompactOutcome::Written { meta, .. } = compactor.compact(p, &[&ba]).unwrap() else {
        panic!()
    };
    drop(ba);
    fs::write(p.join(format!("{a}/index")), b"garbage").unwrap();
    let s = BlockStore::open(p, opts()).unwrap();
    assert_eq!(names(p), [meta.ulid.to_string()]);
    assert_eq!(s.snapshot().blocks().len(), 1);
}

#[test]
fn compaction_loop_climbs_the_levels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for k in 0..10 {
        block(p, k * 2 * H, (k + 1) * 2 * H);
    }
    let want = read_dir(p);
    let s = BlockStore::open(p, opts()).unwrap();
    let written = s.compact().unwrap();
    assert_eq!(written.len(), 4);
    assert_eq!(ranges(&s), [(0, 18 * H, 3), (18 * H, 20 * H, 1)]);
    let snap = s.snapshot();
    let top = &snap.blocks()[0];
    assert_eq!(top.meta().compaction.sources.len(), 9);
    assert_eq!(top.meta().compaction.parents.len(), 3);
    assert_eq!(read_store(&s), want);
    assert_eq!(read_dir(p), want);
    assert_eq!(block_dirs(p).unwrap().len(), 2);
    no_tmp(p);
    // Nothing more to do.
    assert!(s.compact().unwrap().is_empty());
}

#[test]
fn backfilled_overlaps_are_merged_vertically() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    block(p, 0, 2 * H);
    block(p, 2 * H, 4 * H);
    let s = BlockStore::open(p, opts()).unwrap();
    assert!(s.compact().unwrap().is_empty());
    // A backfill lands over both, with other values on some timestamps.
    let data: Data = vec![
        (
            labels!("__name__" => "up", "job" => "api"),
            (0..4 * H)
                .step_by(60_000)
                .map(|t| (t + 7_500, -1.0))
                .collect(),
        ),
        (
            labels!("__name__" => "backfilled"),
            vec![(H, 1.0), (3 * H, 3.0)],
        ),
    ];
    write_block(p, &data);
    s.reload().unwrap();
    let want = read_store(&s);
    assert_eq!(s.snapshot().blocks().len(), 3);
    let written = s.compact().unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(ranges(&s), [(0, 4 * H, 2)]);
    assert_eq!(read_store(&s), want);
    no_tmp(p);
}

#[test]
fn snapshots_outlive_deleted_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for k in 0..4 {
        block(p, k * 2 * H, (k + 1) * 2 * H);
    }
    let s = BlockStore::open(p, opts()).unwrap();
    let before = s.snapshot();
    let want = read_all(&before.merge_querier(i64::MIN, i64::MAX), &[]);
    s.compact().unwrap();
    assert_eq!(block_dirs(p).unwrap().len(), 2);
    // The old snapshot still reads its (now deleted) blocks.
    assert_eq!(before.blocks().len(), 4);
    assert_eq!(
        read_all(&before.merge_querier(i64::MIN, i64::MAX), &[]),
        want
    );
    assert_eq!(read_store(&s), want);
}

#[test]
fn time_retention() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for k in 0..10 {
        block(p, k * 2 * H, (k + 1) * 2 * H);
    }
    let o = BlockStoreOptions {
        retention: RetentionPolicy {
            time: Some(5 * H),
            size: None,
        },
        ..opts()
    };
    let s = BlockStore::open(p, o).unwrap();
    assert_eq!(
        ranges(&s),
        [
            (14 * H, 16 * H, 1),
            (16 * H, 18 * H, 1),
            (18 * H, 20 * H, 1)
        ]
    );
    assert_eq!(block_dirs(p).unwrap().len(), 3);
    // A block ending exactly the retention before the newest goes (as in
    // Prometheus 3, which compares with >=).
    let o = BlockStoreOptions {
        retention: RetentionPolicy {
            time: Some(4 * H),
            size: None,
        },
        ..opts()
    };
    drop(s);
    let s = BlockStore::open(p, o).unwrap();
    assert_eq!(ranges(&s), [(16 * H, 18 * H, 1), (18 * H, 20 * H, 1)]);
    no_tmp(p);
}

#[test]
fn size_retention_counts_extra_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for k in 0..4 {
        block(p, k * 2 * H, (k + 1) * 2 * H);
    }
    let sizes: Vec<u64> = open_sizes(p);
    let newest_two = sizes[2] + sizes[3];
    let extra = std::sync::Arc::new(AtomicU64::new(0));
    let e2 = extra.clone();
    let o = BlockStoreOptions {
        retention: RetentionPolicy {
            time: None,
            size: Some(newest_two + 1),
        },
        extra_size: Some(std::sync::Arc::new(move || e2.load(Ordering::Relaxed))),
        ..opts()
    };
    let s = BlockStore::open(p, o).unwrap();
    assert_eq!(ranges(&s), [(4 * H, 6 * H, 1), (6 * H, 8 * H, 1)]);
    // The WAL grows: one more block has to go.
    extra.store(2, Ordering::Relaxed);
    let deleted = s.reload().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(ranges(&s), [(6 * H, 8 * H, 1)]);
    assert_eq!(block_dirs(p).unwrap().len(), 1);
}

fn open_sizes(p: &Path) -> Vec<u64> {
    let bd = crate::block::open_blocks(p).unwrap();
    bd.blocks().iter().map(|b| b.size().total()).collect()
}

#[test]
fn delete_writes_tombstones_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let b = block(p, 2 * H, 4 * H);
    let s = BlockStore::open(p, opts()).unwrap();
    let api = [Matcher::equal("job", "api")];
    // No matchers: nothing.
    s.delete(0, 10 * H, &[]).unwrap();
    assert!(Tombstones::read(&p.join(a.to_string()))
        .unwrap()
        .0
        .is_empty());
    // Across the boundary of the two blocks.
    s.delete(H, 3 * H, &api).unwrap();
    let (ta, _) = Tombstones::read(&p.join(a.to_string())).unwrap();
    let (tb, _) = Tombstones::read(&p.join(b.to_string())).unwrap();
    assert_eq!(ta.total(), 1);
    assert_eq!(tb.total(), 1);
    // Clamped to the series' span in each block.
    let iv = |t: &Tombstones| t.iter().next().unwrap().1.as_slice()[0];
    assert_eq!(iv(&ta), Interval::new(H, 2 * H - 1));
    assert_eq!(iv(&tb), Interval::new(2 * H, 3 * H));
    assert_eq!(
        BlockMeta::read(&p.join(a.to_string()))
            .unwrap()
            .0
            .stats
            .num_tombstones,
        1
    );
    let got = read_all(&s.snapshot().merge_querier(i64::MIN, i64::MAX), &api);
    assert!(got[0].1.iter().all(|&(t, _)| !(H..=3 * H).contains(&t)));
    let db = read_all(
        &s.snapshot().merge_querier(i64::MIN, i64::MAX),
        &[Matcher::equal("job", "db")],
    );
    assert_eq!(db[0].1.len(), 2 * (480 + 1));
    // Merged with the existing ones.
    s.delete(3 * H, 3 * H + 60_000, &api).unwrap();
    let (tb, _) = Tombstones::read(&p.join(b.to_string())).unwrap();
    assert_eq!(tb.total(), 1);
    assert_eq!(iv(&tb), Interval::new(2 * H, 3 * H + 60_000));
    // Outside every block: nothing changes.
    let before = fs::read(p.join(format!("{b}/tombstones"))).unwrap();
    s.delete(100 * H, 200 * H, &api).unwrap();
    s.delete(
        0,
        4 * H,
        &[Matcher::new(MatchOp::Equal, "job", "nope").unwrap()],
    )
    .unwrap();
    assert_eq!(fs::read(p.join(format!("{b}/tombstones"))).unwrap(), before);
    // The deletion survives a restart.
    let want = read_store(&s);
    drop(s);
    let s = BlockStore::open(p, opts()).unwrap();
    assert_eq!(read_store(&s), want);
}

#[test]
fn clean_tombstones_rewrites_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let b = block(p, 2 * H, 4 * H);
    let c = block(p, 4 * H, 6 * H);
    let s = BlockStore::open(p, opts()).unwrap();
    assert!(s.clean_tombstones().unwrap().is_empty());
    s.delete(0, H, &[Matcher::equal("job", "api")]).unwrap();
    // Everything of c.
    s.delete(4 * H, 6 * H, &[Matcher::equal("__name__", "up")])
        .unwrap();
    let want = read_store(&s);
    let written = s.clean_tombstones().unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(read_store(&s), want);
    let mut left: Vec<Ulid> = block_dirs(p).unwrap().into_iter().map(|x| x.0).collect();
    left.sort();
    let mut expect = vec![b, written[0]];
    expect.sort();
    assert_eq!(left, expect);
    let snap = s.snapshot();
    let new = snap.block(written[0]).unwrap();
    assert!(new.tombstones().is_empty());
    assert_eq!(new.meta().compaction.parents[0].ulid, a);
    assert_eq!((new.meta().min_time, new.meta().max_time), (0, 2 * H));
    assert!(snap.block(c).is_none());
    for blk in snap.blocks() {
        assert_eq!(blk.tombstones().total(), 0);
    }
    no_tmp(p);
}

// ---------------------------------------------------------------------
// Crash safety.

/// Four 2h blocks and an overlapping backfilled one: the first compaction
/// is vertical, the next by level.
fn crash_dir(p: &Path) -> Bits {
    for k in 0..4 {
        block(p, k * 2 * H, (k + 1) * 2 * H);
    }
    let data: Data = vec![(
        labels!("__name__" => "up", "job" => "api"),
        (H..3 * H)
            .step_by(20_000)
            .map(|t| (t, -(t as f64)))
            .collect(),
    )];
    write_block(p, &data);
    read_dir(p)
}

fn crash_during_compaction(step: Step) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let want = crash_dir(p);
    let mut s = BlockStore::open(p, opts()).unwrap();
    s.crash_at(Some(step));
    let e = s.compact().unwrap_err();
    assert!(is_simulated(&e), "{step:?}: {e}");
    drop(s);

    // What the crash left: never a broken visible block, and the data
    // reads the same even before any repair.
    all_blocks_complete(p);
    assert_eq!(read_dir(p), want, "{step:?}");
    let leftovers = names(p).iter().filter(|n| n.contains(".tmp")).count();
    match step {
        Step::ChunksWritten | Step::BlockSynced | Step::RenamedForDeletion => {
            assert_eq!(leftovers, 1, "{step:?}: {:?}", names(p))
        }
        _ => assert_eq!(leftovers, 0, "{step:?}: {:?}", names(p)),
    }
    for (_, d) in block_dirs(p).unwrap() {
        let (m, _) = BlockMeta::read(&d).unwrap();
        assert!(!m.compaction.failed, "a crash is not a failure");
    }

    // Restart: leftovers cleaned, replaced blocks deleted, same data.
    let s = BlockStore::open(p, opts()).unwrap();
    no_tmp(p);
    assert_eq!(read_store(&s), want, "{step:?}");
    for b in s.snapshot().blocks() {
        for parent in &b.meta().compaction.parents {
            assert!(s.snapshot().block(parent.ulid).is_none());
            assert!(!p.join(parent.ulid.to_string()).exists());
        }
    }
    // And compaction finishes the job.
    s.compact().unwrap();
    assert_eq!(read_store(&s), want);
    assert_eq!(ranges(&s), [(0, 6 * H, 3), (6 * H, 8 * H, 1)], "{step:?}");
    assert_eq!(block_dirs(p).unwrap().len(), 2);
    no_tmp(p);
}

#[test]
fn crash_while_writing_the_new_block() {
    crash_during_compaction(Step::ChunksWritten);
}

#[test]
fn crash_before_the_new_block_is_renamed() {
    crash_during_compaction(Step::BlockSynced);
}

#[test]
fn crash_after_the_new_block_is_renamed() {
    crash_during_compaction(Step::BlockRenamed);
}

#[test]
fn crash_while_deleting_a_source() {
    crash_during_compaction(Step::RenamedForDeletion);
}

#[test]
fn crash_between_source_deletions() {
    crash_during_compaction(Step::OneDeleted);
}

#[test]
fn crash_while_marking_an_empty_compaction_deletable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let b = block(p, H, 3 * H);
    let mut s = BlockStore::open(p, opts()).unwrap();
    s.delete(i64::MIN, i64::MAX, &[Matcher::equal("__name__", "up")])
        .unwrap();
    assert!(read_store(&s).is_empty());
    s.crash_at(Some(Step::MarkedDeletable));
    assert!(is_simulated(&s.compact().unwrap_err()));
    drop(s);
    let marked = |u: Ulid| {
        BlockMeta::read(&p.join(u.to_string()))
            .unwrap()
            .0
            .compaction
            .deletable
    };
    assert!(marked(a) && !marked(b));
    let s = BlockStore::open(p, opts()).unwrap();
    assert_eq!(block_dirs(p).unwrap().len(), 1);
    assert!(read_store(&s).is_empty());

    // Without a crash, both go at once.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    block(p, 0, 2 * H);
    block(p, H, 3 * H);
    let s = BlockStore::open(p, opts()).unwrap();
    s.delete(i64::MIN, i64::MAX, &[Matcher::equal("__name__", "up")])
        .unwrap();
    assert!(s.compact().unwrap().is_empty());
    assert!(block_dirs(p).unwrap().is_empty());
    assert!(s.snapshot().blocks().is_empty());
    no_tmp(p);
}

#[test]
fn crash_between_tombstones_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = block(p, 0, 2 * H);
    let mut s = BlockStore::open(p, opts()).unwrap();
    s.crash_at(Some(Step::TombstonesWritten));
    let api = [Matcher::equal("job", "api")];
    assert!(is_simulated(&s.delete(0, H, &api).unwrap_err()));
    drop(s);
    let s = BlockStore::open(p, opts()).unwrap();
    // The deletion took effect; only the count in meta.json is stale.
    let got = read_all(&s.snapshot().merge_querier(i64::MIN, i64::MAX), &api);
    assert!(got[0].1.iter().all(|&(t, _)| t > H));
    let (m, _) = BlockMeta::read(&p.join(a.to_string())).unwrap();
    assert_eq!(m.stats.num_tombstones, 0);
    // Deleting again changes nothing on disk (same tombstones).
    s.delete(0, H, &api).unwrap();
}

#[test]
fn crash_during_clean_tombstones() {
    for step in [
        Step::ChunksWritten,
        Step::BlockSynced,
        Step::BlockRenamed,
        Step::RenamedForDeletion,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        block(p, 0, 2 * H);
        block(p, 2 * H, 4 * H);
        let mut s = BlockStore::open(p, opts()).unwrap();
        s.delete(H / 2, 3 * H, &[Matcher::equal("job", "db")])
            .unwrap();
        let want = read_store(&s);
        s.crash_at(Some(step));
        assert!(is_simulated(&s.clean_tombstones().unwrap_err()), "{step:?}");
        drop(s);
        all_blocks_complete(p);
        assert_eq!(read_dir(p), want, "{step:?}");
        let s = BlockStore::open(p, opts()).unwrap();
        no_tmp(p);
        assert_eq!(read_store(&s), want, "{step:?}");
        s.clean_tombstones().unwrap();
        assert_eq!(read_store(&s), want, "{step:?}");
        assert_eq!(block_dirs(p).unwrap().len(), 2, "{step:?}");
        for b in s.snapshot().blocks() {
            assert_eq!(b.tombstones().total(), 0);
        }
        no_tmp(p);
    }
}

fn skip_corrupted() -> BlockStoreOptions {
    BlockStoreOptions {
        skip_corrupted: true,
        ..opts()
    }
}

/// Makes block `id` fail to open (its index is garbage).
fn corrupt(dir: &Path, id: Ulid) {
    fs::write(dir.join(id.to_string()).join("index"), b"garbage").unwrap();
}

#[test]
fn skip_corrupted_compacts_around_failed_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let bad = block(p, 0, 2 * H);
    for (a, b) in [
        (2 * H, 4 * H),
        (4 * H, 6 * H),
        (6 * H, 8 * H),
        (8 * H, 10 * H),
    ] {
        block(p, a, b);
    }
    corrupt(p, bad);
    let want = {
        let healthy = tempfile::tempdir().unwrap();
        for (a, b) in [
            (2 * H, 4 * H),
            (4 * H, 6 * H),
            (6 * H, 8 * H),
            (8 * H, 10 * H),
        ] {
            block(healthy.path(), a, b);
        }
        read_dir(healthy.path())
    };
    // Strict: the store refuses to open.
    assert!(BlockStore::open(p, opts()).is_err());

    let s = BlockStore::open(p, skip_corrupted()).unwrap();
    let failed: Vec<Ulid> = s.failed().iter().map(|f| f.ulid).collect();
    assert_eq!(failed, [bad]);
    assert_eq!(s.snapshot().blocks().len(), 4);
    let written = s.compact().unwrap();
    assert!(!written.is_empty());
    for b in s.snapshot().blocks() {
        assert!(b.meta().compaction.parents.iter().all(|d| d.ulid != bad));
        assert!(b.meta().min_time >= 2 * H);
    }
    assert_eq!(read_store(&s), want);
    // Left alone on disk, still listed; tombstones skip it.
    assert!(p.join(bad.to_string()).join("meta.json").exists());
    s.delete(0, 10 * H, &[Matcher::equal("job", "api")])
        .unwrap();
    assert_eq!(s.reload().unwrap(), Vec::<Ulid>::new());
    assert_eq!(s.failed().len(), 1);

    // A block whose meta.json is unreadable is listed too.
    let worse = block(p, 10 * H, 12 * H);
    fs::write(p.join(worse.to_string()).join("meta.json"), b"{").unwrap();
    s.reload().unwrap();
    let failed: Vec<Ulid> = s.failed().iter().map(|f| f.ulid).collect();
    assert_eq!(failed, [bad, worse]);
}

#[test]
fn failed_blocks_age_out_but_never_expire_healthy_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let old_bad = block(p, 0, 2 * H);
    let good = [block(p, 20 * H, 22 * H), block(p, 22 * H, 24 * H)];
    corrupt(p, old_bad);
    let s = BlockStore::open(
        p,
        BlockStoreOptions {
            retention: RetentionPolicy {
                time: Some(10 * H),
                size: None,
            },
            ..skip_corrupted()
        },
    )
    .unwrap();
    // Beyond retention: deleted although it cannot be opened.
    assert!(s.failed().is_empty());
    assert!(!p.join(old_bad.to_string()).exists());

    // A failed block whose meta claims a far later range: the healthy
    // blocks are not expired by it, and it is the newest, so it stays.
    let new_bad = block(p, 1000 * H, 1002 * H);
    corrupt(p, new_bad);
    assert!(s.reload().unwrap().is_empty());
    let kept: Vec<Ulid> = s.snapshot().blocks().iter().map(|b| b.ulid()).collect();
    assert_eq!(kept, good);
    let failed: Vec<Ulid> = s.failed().iter().map(|f| f.ulid).collect();
    assert_eq!(failed, [new_bad]);

    // Size: the healthy blocks fit exactly; an older failed block takes
    // the total over the limit and goes.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let bad = block(p, 10 * H, 12 * H);
    let good = [block(p, 20 * H, 22 * H), block(p, 22 * H, 24 * H)];
    corrupt(p, bad);
    let healthy_size = BlockStore::open(p, skip_corrupted())
        .unwrap()
        .snapshot()
        .size();
    let s = BlockStore::open(
        p,
        BlockStoreOptions {
            retention: RetentionPolicy {
                time: None,
                size: Some(healthy_size),
            },
            ..skip_corrupted()
        },
    )
    .unwrap();
    assert!(s.failed().is_empty());
    assert!(!p.join(bad.to_string()).exists());
    let kept: Vec<Ulid> = s.snapshot().blocks().iter().map(|b| b.ulid()).collect();
    assert_eq!(kept, good);
}
