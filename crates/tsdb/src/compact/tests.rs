//! Compaction tests: metas, merging, tombstones, pass-through, and a
//! property test against the merged querier of the sources.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ember_chunks::Encoding;
use ember_model::{labels, Labels, Matcher};
use ember_storage::{Querier, ValueType};
use proptest::prelude::*;
use ulid::Ulid;

use super::*;
use crate::block::tests::histogram_block;
use crate::block::{open_blocks, Block};
use crate::chunk_file::ChunkRef;
use crate::meta::BlockStats;
use crate::tombstones::{Interval, Tombstones};
use crate::writer::{BlockWriter, BlockWriterOptions};

pub(crate) type Data = Vec<(Labels, Vec<(i64, f64)>)>;
/// Query results with values as bits, so NaNs compare.
pub(crate) type Bits = Vec<(Labels, Vec<(i64, u64)>)>;

/// Writes `data` as one block in `dir`.
pub(crate) fn write_block(dir: &Path, data: &Data) -> PathBuf {
    let mut w = BlockWriter::new(BlockWriterOptions::default());
    for (l, s) in data {
        w.add_series(l, s.iter().copied()).unwrap();
    }
    w.flush(dir).unwrap().unwrap().dir
}

/// Everything `q` returns for `matchers` (all series when empty).
pub(crate) fn read_all(q: &dyn Querier, matchers: &[Matcher]) -> Bits {
    let mut set = q.select(true, None, matchers).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut pts = Vec::new();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            pts.push((t, v.to_bits()));
        }
        assert!(it.error().is_none(), "{:?}", it.error());
        if !pts.is_empty() {
            out.push((s.labels().clone(), pts));
        }
    }
    out
}

/// The merged contents of every block in `dir`.
pub(crate) fn read_dir(dir: &Path) -> Bits {
    let bd = open_blocks(dir).unwrap();
    assert!(bd.failed().is_empty(), "{:?}", bd.failed());
    let got = read_all(&bd.merge_querier(i64::MIN, i64::MAX), &[]);
    got
}

fn open(dir: &Path) -> Block {
    Block::open(dir).unwrap()
}

fn compactor() -> Compactor {
    Compactor::new(CompactorOptions::default()).unwrap()
}

fn compact_into(dest: &Path, blocks: &[&Block]) -> (BlockMeta, PathBuf) {
    match compactor().compact(dest, blocks).unwrap() {
        CompactOutcome::Written { meta, dir } => (meta, dir),
        other => panic!("expected a block, got {other:?}"),
    }
}

fn series(name: &str, pts: impl IntoIterator<Item = (i64, f64)>) -> (Labels, Vec<(i64, f64)>) {
    (labels!("__name__" => name), pts.into_iter().collect())
}

/// All (encoding, bytes) of the chunks of a block, by series and time.
fn raw_chunks(b: &Block) -> Vec<(Labels, i64, i64, Encoding, Vec<u8>)> {
    let mut out = Vec::new();
    for id in &b.postings(&[]).unwrap() {
        let (l, metas) = b.series(id).unwrap();
        for m in metas {
            let c = b.chunks().chunk(ChunkRef(m.chunk_ref)).unwrap();
            out.push((
                l.clone(),
                m.min_time,
                m.max_time,
                c.encoding,
                c.data.to_vec(),
            ));
        }
    }
    out
}

fn no_tmp_dirs(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.contains(".tmp"),
            "leftover {name} in {}",
            dir.display()
        );
    }
}

#[test]
fn ranges() {
    assert_eq!(exponential_block_ranges(20, 4, 3), [20, 60, 180, 540]);
    let h = 3_600_000;
    assert_eq!(block_ranges(2 * h, 36 * h), [2 * h, 6 * h, 18 * h]);
    assert_eq!(block_ranges(2 * h, 54 * h), [2 * h, 6 * h, 18 * h, 54 * h]);
    assert_eq!(block_ranges(2 * h, h), [2 * h]);
    assert_eq!(block_ranges(0, 0), [2 * h]);
    assert_eq!(block_ranges(2 * h, i64::MAX).len(), 10);
    assert_eq!(default_max_block_duration(None), MAX_DEFAULT_BLOCK_DURATION);
    assert_eq!(default_max_block_duration(Some(15 * 24 * h)), 36 * h);
    assert_eq!(
        default_max_block_duration(Some(3650 * 24 * h)),
        MAX_DEFAULT_BLOCK_DURATION
    );
    assert_eq!(CompactorOptions::default().ranges, [2 * h, 6 * h, 18 * h]);
    assert!(Compactor::new(CompactorOptions {
        ranges: vec![],
        segment_size: 1
    })
    .is_err());
    assert!(Compactor::new(CompactorOptions {
        ranges: vec![10, 0],
        segment_size: 1
    })
    .is_err());
}

#[test]
fn compacted_meta_has_lineage() {
    let mk = |id: u128, min, max, level, sources: &[u128]| {
        let mut m = BlockMeta::new_level1(Ulid(id), min, max, BlockStats::default());
        m.compaction.level = level;
        m.compaction.sources = sources.iter().map(|&s| Ulid(s)).collect();
        m
    };
    let a = mk(10, 0, 100, 1, &[10]);
    let b = mk(11, 100, 200, 3, &[3, 5]);
    let mut c = mk(12, 50, 150, 2, &[5, 1]);
    c.compaction.hints = vec![HINT_FROM_OUT_OF_ORDER.into()];
    let m = compact_block_metas(Ulid(99), &[&a, &b, &c]);
    assert_eq!(m.ulid, Ulid(99));
    assert_eq!((m.min_time, m.max_time), (0, 200));
    assert_eq!(m.compaction.level, 4);
    assert_eq!(m.compaction.sources, [1, 3, 5, 10].map(Ulid).to_vec());
    let parents: Vec<(Ulid, i64, i64)> = m
        .compaction
        .parents
        .iter()
        .map(|p| (p.ulid, p.min_time, p.max_time))
        .collect();
    assert_eq!(
        parents,
        [
            (Ulid(10), 0, 100),
            (Ulid(11), 100, 200),
            (Ulid(12), 50, 150)
        ]
    );
    assert!(m.compaction.hints.is_empty());
    assert!(!m.compaction.deletable && !m.compaction.failed);
    let mut d = a.clone();
    d.compaction.hints = vec![HINT_FROM_OUT_OF_ORDER.into()];
    let m = compact_block_metas(Ulid(1), &[&c, &d]);
    assert_eq!(m.compaction.hints, [HINT_FROM_OUT_OF_ORDER]);
}

#[test]
fn adjacent_blocks_pass_chunks_through() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let h = 3_600_000;
    let mut dirs = Vec::new();
    for k in 0..3i64 {
        let start = k * 2 * h;
        let data = vec![
            series("up", (0..480).map(|i| (start + i * 15_000, (i % 5) as f64))),
            series(&format!("only_{k}"), [(start, f64::NAN), (start + 1, -0.0)]),
        ];
        dirs.push(write_block(src.path(), &data));
    }
    let blocks: Vec<Block> = dirs.iter().map(|d| open(d)).collect();
    let refs: Vec<&Block> = blocks.iter().collect();
    let (meta, dir) = compact_into(dest.path(), &refs);
    no_tmp_dirs(dest.path());
    let out = open(&dir);
    out.verify().unwrap();
    assert_eq!(out.meta(), &meta);
    let (on_disk, _) = BlockMeta::read(&dir).unwrap();
    assert_eq!(on_disk, meta);
    assert_eq!(
        (meta.min_time, meta.max_time),
        (0, 4 * h + 479 * 15_000 + 1)
    );
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.compaction.parents.len(), 3);
    let mut sources: Vec<Ulid> = blocks.iter().map(|b| b.ulid()).collect();
    sources.sort();
    assert_eq!(meta.compaction.sources, sources);
    assert_eq!(meta.stats.num_series, 4);
    assert_eq!(meta.stats.num_samples, 3 * 480 + 6);
    assert_eq!(
        meta.stats.num_chunks,
        blocks
            .iter()
            .map(|b| b.meta().stats.num_chunks)
            .sum::<u64>()
    );
    assert!(out.tombstones().is_empty());
    assert!(dir.join("tombstones").exists());

    // Same samples as the sources merged, and the very same chunk bytes.
    assert_eq!(
        read_all(&out.block_querier(i64::MIN, i64::MAX), &[]),
        read_dir(src.path())
    );
    let mut want: Vec<_> = blocks.iter().flat_map(raw_chunks).collect();
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(raw_chunks(&out), want);
}

#[test]
fn overlapping_blocks_merge_and_first_block_wins() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    // a starts first: its values win on equal timestamps.
    let a = write_block(
        src.path(),
        &vec![
            series("x", (0..300).map(|i| (i * 10, 1.0))),
            series("a_only", [(5, 5.0)]),
        ],
    );
    let b = write_block(
        src.path(),
        &vec![
            series("x", (0..300).map(|i| (1 + i * 5, 2.0))),
            series("z_only", [(7, 7.0)]),
        ],
    );
    let (ba, bb) = (open(&a), open(&b));
    assert!(ba.meta().min_time < bb.meta().min_time);
    // Order of the arguments does not matter.
    let (meta, dir) = compact_into(dest.path(), &[&bb, &ba]);
    let out = open(&dir);
    out.verify().unwrap();
    let got = read_all(&out.block_querier(i64::MIN, i64::MAX), &[]);
    assert_eq!(got, read_dir(src.path()));
    let x = &got
        .iter()
        .find(|s| s.0.metric_name() == Some("x"))
        .unwrap()
        .1;
    // Timestamps 1, 5, 11, 15, ... from b; 0, 10, ... from a; on
    // 10, 20, ... (both) a wins.
    for &(t, v) in x {
        let want = if t % 10 == 0 { 1.0 } else { 2.0 };
        assert_eq!(f64::from_bits(v), want, "t={t}");
    }
    let mut ts: Vec<i64> = (0..300)
        .map(|i| i * 10)
        .chain((0..300).map(|i| 1 + i * 5))
        .collect();
    ts.sort();
    ts.dedup();
    assert_eq!(x.iter().map(|p| p.0).collect::<Vec<_>>(), ts);
    // Overlapping chunks are re-encoded into chunks of at most 120.
    for (l, min, max, enc, bytes) in raw_chunks(&out) {
        assert_eq!(enc, Encoding::Xor);
        let n = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        assert!(n <= MERGED_CHUNK_SAMPLES, "{l}: {n}");
        assert!(min <= max);
    }
    assert_eq!(meta.stats.num_samples, (ts.len() + 2) as u64);
    assert_eq!(meta.stats.num_series, 3);

    // Equal minTime: the lower ULID wins.
    let src2 = tempfile::tempdir().unwrap();
    let mut w1 = BlockWriter::new(BlockWriterOptions::default());
    w1.add_series(&labels!("__name__" => "y"), [(0, 1.0), (5, 1.0)])
        .unwrap();
    let mut w2 = BlockWriter::new(BlockWriterOptions::default());
    w2.add_series(&labels!("__name__" => "y"), [(0, 2.0), (5, 2.0)])
        .unwrap();
    let hi = w1.flush_with_ulid(src2.path(), Ulid(200)).unwrap().unwrap();
    let lo = w2.flush_with_ulid(src2.path(), Ulid(100)).unwrap().unwrap();
    let (bh, bl) = (open(&hi.dir), open(&lo.dir));
    let dest2 = tempfile::tempdir().unwrap();
    let (_, dir) = compact_into(dest2.path(), &[&bh, &bl]);
    let got = read_all(&open(&dir).block_querier(i64::MIN, i64::MAX), &[]);
    assert_eq!(got[0].1, [(0, 2f64.to_bits()), (5, 2f64.to_bits())]);
    assert_eq!(got, read_dir(src2.path()));
}

#[test]
fn identical_blocks_deduplicate_without_re_encoding() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let data = vec![series("x", (0..1000).map(|i| (i * 15_000, i as f64)))];
    let a = open(&write_block(src.path(), &data));
    let b = open(&write_block(src.path(), &data));
    let (meta, dir) = compact_into(dest.path(), &[&a, &b]);
    let out = open(&dir);
    assert_eq!(raw_chunks(&out), raw_chunks(&a));
    assert_eq!(meta.stats.num_samples, 1000);
    assert_eq!(out.size().chunks, a.size().chunks);
}

#[test]
fn tombstones_are_applied() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let bdir = write_block(
        src.path(),
        &vec![
            series("gone", (0..50).map(|i| (i, 1.0))),
            series("partial", (0..500).map(|i| (i, i as f64))),
            series("whole_chunks", (0..500).map(|i| (i, i as f64))),
        ],
    );
    let b = open(&bdir);
    let ids: Vec<u32> = b.postings(&[]).unwrap().iter().collect();
    let mut t = Tombstones::new();
    t.add(u64::from(ids[0]), Interval::new(i64::MIN, i64::MAX));
    t.add(u64::from(ids[1]), Interval::new(10, 19));
    t.add(u64::from(ids[1]), Interval::new(400, 10_000));
    // Exactly the second chunk (120..=239) of the third series.
    t.add(u64::from(ids[2]), Interval::new(120, 239));
    t.write(&bdir).unwrap();
    let b = open(&bdir);
    let before = raw_chunks(&b);
    let (meta, dir) = compact_into(dest.path(), &[&b]);
    let out = open(&dir);
    out.verify().unwrap();
    assert!(out.tombstones().is_empty());
    let got = read_all(&out.block_querier(i64::MIN, i64::MAX), &[]);
    assert_eq!(got, read_dir(src.path()));
    assert_eq!(got.len(), 2);
    assert_eq!(meta.stats.num_series, 2);
    assert_eq!(meta.stats.num_samples, (500 - 10 - 100) + (500 - 120));
    let partial: Vec<i64> = got[0].1.iter().map(|p| p.0).collect();
    let want: Vec<i64> = (0..10).chain(20..400).collect();
    assert_eq!(partial, want);
    // Untouched chunks keep their bytes; the deleted one is gone.
    let after = raw_chunks(&out);
    let whole: Vec<_> = after
        .iter()
        .filter(|c| c.0.metric_name() == Some("whole_chunks"))
        .collect();
    let whole_before: Vec<_> = before
        .iter()
        .filter(|c| c.0.metric_name() == Some("whole_chunks") && c.1 != 120)
        .collect();
    assert_eq!(whole, whole_before);
    // The range stays the sources' range.
    assert_eq!((meta.min_time, meta.max_time), (0, 500));
}

#[test]
fn everything_deleted_writes_nothing_and_marks_sources_deletable() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for k in 0..2 {
        let d = write_block(
            src.path(),
            &vec![series("x", (0..10).map(|i| (k * 5 + i, 1.0)))],
        );
        let b = open(&d);
        let mut t = Tombstones::new();
        for id in &b.postings(&[]).unwrap() {
            t.add(u64::from(id), Interval::new(i64::MIN, i64::MAX));
        }
        t.write(&d).unwrap();
        dirs.push(d);
    }
    let blocks: Vec<Block> = dirs.iter().map(|d| open(d)).collect();
    let refs: Vec<&Block> = blocks.iter().collect();
    let outcome = compactor().compact(dest.path(), &refs).unwrap();
    let CompactOutcome::Empty { sources } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(sources.len(), 2);
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
    for d in &dirs {
        assert!(BlockMeta::read(d).unwrap().0.compaction.deletable);
    }
}

#[test]
fn histogram_chunks_pass_through_but_cannot_be_rewritten() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let h = open(&histogram_block(src.path()));
    let other = open(&write_block(
        src.path(),
        &vec![series("h", [(10, 10.0), (11, 11.0)])],
    ));
    let (meta, dir) = compact_into(dest.path(), &[&h, &other]);
    let out = open(&dir);
    let chunks = raw_chunks(&out);
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        (chunks[1].3, chunks[1].4.as_slice()),
        (Encoding::Histogram, &b"\x00\x02hist"[..])
    );
    assert_eq!(meta.stats.num_samples, 2 + 2 + 2);

    // Deleting part of the histogram chunk needs re-encoding it: the
    // compaction fails, leaves nothing behind and marks the source failed.
    let mut t = Tombstones::new();
    t.add(
        u64::from(h.postings(&[]).unwrap().min().unwrap()),
        Interval::new(4, 4),
    );
    t.write(h.dir()).unwrap();
    let h = open(h.dir());
    let dest2 = tempfile::tempdir().unwrap();
    let e = compactor()
        .compact(dest2.path(), &[&h])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot delete samples from a chunk of encoding histogram"),
        "{e}"
    );
    assert!(e.contains(&h.ulid().to_string()), "{e}");
    assert_eq!(fs::read_dir(dest2.path()).unwrap().count(), 0);
    assert!(BlockMeta::read(h.dir()).unwrap().0.compaction.failed);
}

#[test]
fn rewrite_keeps_range_and_names_the_parent() {
    let src = tempfile::tempdir().unwrap();
    let bdir = write_block(src.path(), &vec![series("x", (0..100).map(|i| (i, 1.0)))]);
    let b = open(&bdir);
    let mut t = Tombstones::new();
    t.add(
        u64::from(b.postings(&[]).unwrap().min().unwrap()),
        Interval::new(0, 49),
    );
    t.write(&bdir).unwrap();
    let b = open(&bdir);
    let (meta, dir) = compactor().rewrite(src.path(), &b).unwrap().unwrap();
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, [meta.ulid]);
    assert_eq!(meta.compaction.parents.len(), 1);
    assert_eq!(meta.compaction.parents[0].ulid, b.ulid());
    assert_eq!((meta.min_time, meta.max_time), (0, 100));
    let got = read_all(&open(&dir).block_querier(i64::MIN, i64::MAX), &[]);
    assert_eq!(got[0].1.len(), 50);
    // Everything deleted: nothing written.
    let mut t = Tombstones::new();
    t.add(
        u64::from(b.postings(&[]).unwrap().min().unwrap()),
        Interval::new(0, 99),
    );
    t.write(&bdir).unwrap();
    let b = open(&bdir);
    let dest = tempfile::tempdir().unwrap();
    assert!(compactor().rewrite(dest.path(), &b).unwrap().is_none());
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
}

#[test]
fn compaction_with_small_segments_splits_chunk_files() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    for i in 0..50 {
        data.push(series(
            &format!("m{i:02}"),
            (0..400).map(|k| (k * 1000, (k * i) as f64)),
        ));
    }
    let a = open(&write_block(src.path(), &data));
    let c = Compactor::new(CompactorOptions {
        ranges: vec![10],
        segment_size: 4096,
    })
    .unwrap();
    let CompactOutcome::Written { dir, .. } = c.compact(dest.path(), &[&a]).unwrap() else {
        panic!();
    };
    let out = open(&dir);
    assert!(out.chunks().segment_count() > 1);
    out.verify().unwrap();
    assert_eq!(
        read_all(&out.block_querier(i64::MIN, i64::MAX), &[]),
        read_dir(src.path())
    );
}

/// Random blocks: (series index, samples), random tombstones.
type BlockSpec = (BTreeMap<u8, BTreeMap<i64, u64>>, Vec<(u8, i64, i64)>);

fn arb_blocks() -> impl Strategy<Value = Vec<BlockSpec>> {
    let samples = proptest::collection::btree_map(
        -2_000i64..20_000,
        prop_oneof![
            4 => (0u64..8).prop_map(|v| (v as f64).to_bits()),
            1 => any::<u64>(),
        ],
        1..200,
    );
    let series = proptest::collection::btree_map(0u8..6, samples, 1..5);
    let tombs = proptest::collection::vec((0u8..6, -3_000i64..21_000, 0i64..3_000), 0..4);
    proptest::collection::vec((series, tombs), 1..5)
}

fn series_labels(i: u8) -> Labels {
    labels!("__name__" => format!("m{}", i % 3).as_str(), "i" => i.to_string().as_str())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Compacting any blocks (overlapping or not, with tombstones) gives a
    /// block that reads exactly as the merged sources do.
    #[test]
    fn compaction_equals_merged_sources(specs in arb_blocks()) {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for (series, tombs) in &specs {
            let data: Data = series
                .iter()
                .map(|(&i, pts)| (series_labels(i), pts.iter().map(|(&t, &v)| (t, f64::from_bits(v))).collect()))
                .collect();
            let d = write_block(src.path(), &data);
            let b = open(&d);
            let mut t = Tombstones::new();
            for &(i, start, len) in tombs {
                let m = [Matcher::equal("i", i.to_string())];
                for id in &b.postings(&m).unwrap() {
                    t.add(u64::from(id), Interval::new(start, start + len));
                }
            }
            if !t.is_empty() {
                t.write(&d).unwrap();
            }
            dirs.push(d);
        }
        let want = read_dir(src.path());
        let blocks: Vec<Block> = dirs.iter().map(|d| open(d)).collect();
        let refs: Vec<&Block> = blocks.iter().collect();
        let outcome = compactor().compact(dest.path(), &refs).unwrap();
        no_tmp_dirs(dest.path());
        match outcome {
            CompactOutcome::Written { meta, dir } => {
                let out = open(&dir);
                out.verify().unwrap();
                let got = read_all(&out.block_querier(i64::MIN, i64::MAX), &[]);
                prop_assert_eq!(&got, &want);
                let n: usize = want.iter().map(|s| s.1.len()).sum();
                prop_assert_eq!(meta.stats.num_samples, n as u64);
                prop_assert_eq!(meta.stats.num_series, want.len() as u64);
                prop_assert_eq!(meta.min_time, blocks.iter().map(|b| b.meta().min_time).min().unwrap());
                prop_assert_eq!(meta.max_time, blocks.iter().map(|b| b.meta().max_time).max().unwrap());
                // A select with a matcher agrees too.
                let m = [Matcher::equal("__name__", "m1")];
                let bd = open_blocks(src.path()).unwrap();
                prop_assert_eq!(
                    read_all(&out.block_querier(0, 10_000), &m),
                    read_all(&bd.merge_querier(0, 10_000), &m)
                );
            }
            CompactOutcome::Empty { sources } => {
                prop_assert!(want.is_empty());
                prop_assert_eq!(sources.len(), blocks.len());
            }
        }
    }
}
