//! The leveled planner: which blocks to compact next.
//!
//! The rules are those of Prometheus' `LeveledCompactor.Plan`, applied to
//! the blocks' metas sorted by `minTime`:
//!
//! 1. **Overlaps first.** The first run of blocks whose ranges overlap
//!    (each starts before the largest `maxTime` seen so far) is merged by
//!    vertical compaction, whatever the blocks' sizes.
//! 2. **Levels.** Otherwise the block with the largest `minTime` — the one
//!    just written from the head — is set aside, so that a new block is
//!    never compacted before another of its size could follow. For each
//!    range above the first (6h, 18h, ... with 2h blocks), the blocks are
//!    split into groups falling inside the same aligned window of that
//!    range ([`split_by_range`]); the first group of two or more blocks
//!    that fills its window completely, or that ends before the newest
//!    block starts (nothing can join it any more), is compacted. Groups
//!    with a block whose earlier compaction failed are skipped.
//! 3. **Tombstones.** Otherwise, looking from the newest block back, a
//!    block whose tombstones number more than 5% of its series is
//!    rewritten alone, provided it spans at least the middle range; a
//!    smaller block is rewritten only if it has at least as many
//!    tombstones as series (everything likely deleted), and the search
//!    stops at the first smaller block.

use ulid::Ulid;

use crate::meta::BlockMeta;

/// Blocks to compact together, in `minTime` order; empty if none.
pub fn plan(ranges: &[i64], metas: &[&BlockMeta]) -> Vec<Ulid> {
    if metas.is_empty() || ranges.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&BlockMeta> = metas.to_vec();
    sorted.sort_by(|a, b| a.min_time.cmp(&b.min_time).then(a.ulid.cmp(&b.ulid)));

    let overlapping = select_overlapping(&sorted);
    if !overlapping.is_empty() {
        return overlapping.iter().map(|m| m.ulid).collect();
    }
    // Leave out the freshest block.
    sorted.pop();
    let leveled = select_dirs(ranges, &sorted);
    if !leveled.is_empty() {
        return leveled.iter().map(|m| m.ulid).collect();
    }
    let middle = ranges[ranges.len() / 2];
    for m in sorted.iter().rev() {
        let s = &m.stats;
        if m.max_time.saturating_sub(m.min_time) < middle {
            if s.num_tombstones > 0 && s.num_tombstones >= s.num_series {
                return vec![m.ulid];
            }
            break;
        }
        if s.num_tombstones as f64 / (s.num_series as f64 + 1.0) > 0.05 {
            return vec![m.ulid];
        }
    }
    Vec::new()
}

/// The first run of overlapping blocks (input sorted by `minTime`).
pub fn select_overlapping<'a>(sorted: &[&'a BlockMeta]) -> Vec<&'a BlockMeta> {
    let mut out: Vec<&BlockMeta> = Vec::new();
    let Some(first) = sorted.first() else {
        return out;
    };
    let mut global_max = first.max_time;
    for (i, m) in sorted.iter().enumerate().skip(1) {
        if m.min_time < global_max {
            if out.is_empty() {
                out.push(sorted[i - 1]);
            }
            out.push(m);
        } else if !out.is_empty() {
            break;
        }
        global_max = global_max.max(m.max_time);
    }
    out
}

/// The leveled choice (rule 2) among blocks sorted by `minTime`, the
/// freshest already left out.
pub fn select_dirs<'a>(ranges: &[i64], sorted: &[&'a BlockMeta]) -> Vec<&'a BlockMeta> {
    let Some(last) = sorted.last() else {
        return Vec::new();
    };
    if ranges.len() < 2 {
        return Vec::new();
    }
    let high_time = last.min_time;
    for &range in &ranges[1..] {
        for group in split_by_range(sorted, range) {
            if group.iter().any(|m| m.compaction.failed) {
                continue;
            }
            let (Some(first), Some(end)) = (group.first(), group.last()) else {
                continue;
            };
            let (mint, maxt) = (first.min_time, end.max_time);
            if (maxt.saturating_sub(mint) == range || maxt <= high_time) && group.len() > 1 {
                return group;
            }
        }
    }
    Vec::new()
}

/// Groups blocks (sorted by `minTime`) by the aligned window of width
/// `range` they fall in; windows start at multiples of `range` (from 0,
/// also for negative times). Blocks that do not fit in one window are left
/// out.
///
/// With `range` 30, blocks `[0,10) [10,20) [50,60) [90,100)` give
/// `[0,10) [10,20)`, then `[50,60)`, then `[90,100)`.
pub fn split_by_range<'a>(sorted: &[&'a BlockMeta], range: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut out = Vec::new();
    if range <= 0 {
        return out;
    }
    let mut i = 0;
    while i < sorted.len() {
        let m = sorted[i];
        let t0 = window_start(m.min_time, range);
        let end = t0.saturating_add(range);
        if m.max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < sorted.len() && sorted[i].max_time <= end {
            group.push(sorted[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// Start of the aligned window of width `range` holding `t`.
fn window_start(t: i64, range: i64) -> i64 {
    t.div_euclid(range).saturating_mul(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::BlockStats;

    /// A meta named `id` (its ULID's value) covering `[min, max)`.
    fn m(id: u128, min: i64, max: i64) -> BlockMeta {
        let mut meta = BlockMeta::new_level1(Ulid(id), min, max, BlockStats::default());
        meta.ulid = Ulid(id);
        meta
    }

    fn tomb(id: u128, min: i64, max: i64, series: u64, tombstones: u64) -> BlockMeta {
        let mut meta = m(id, min, max);
        meta.stats.num_series = series;
        meta.stats.num_tombstones = tombstones;
        meta
    }

    /// The ranges of Prometheus' tests: 20 × 3^k.
    const RANGES: [i64; 5] = [20, 60, 180, 540, 1620];

    fn run(metas: &[BlockMeta]) -> Vec<u128> {
        let refs: Vec<&BlockMeta> = metas.iter().collect();
        plan(&RANGES, &refs).iter().map(|u| u.0).collect()
    }

    #[test]
    fn split_by_range_groups_aligned_windows() {
        type Case = (i64, Vec<(i64, i64)>, Vec<Vec<(i64, i64)>>);
        let cases: Vec<Case> = vec![
            (60, vec![(0, 10)], vec![vec![(0, 10)]]),
            (60, vec![(0, 60)], vec![vec![(0, 60)]]),
            (
                60,
                vec![(0, 10), (9, 15), (30, 60)],
                vec![vec![(0, 10), (9, 15), (30, 60)]],
            ),
            (
                60,
                vec![(70, 90), (125, 130), (130, 180), (1000, 1001)],
                vec![
                    vec![(70, 90)],
                    vec![(125, 130), (130, 180)],
                    vec![(1000, 1001)],
                ],
            ),
            // Blocks crossing a window edge, or too large, are left out.
            (60, vec![(50, 70), (70, 80)], vec![vec![(70, 80)]]),
            (
                72,
                vec![(0, 144), (144, 216), (216, 288)],
                vec![vec![(144, 216)], vec![(216, 288)]],
            ),
            // Negative times.
            (60, vec![(-10, -5)], vec![vec![(-10, -5)]]),
            (
                60,
                vec![(-60, -50), (-10, -5)],
                vec![vec![(-60, -50), (-10, -5)]],
            ),
            (
                60,
                vec![(-60, -50), (-10, -5), (0, 15)],
                vec![vec![(-60, -50), (-10, -5)], vec![(0, 15)]],
            ),
            (60, vec![(-70, -50)], vec![]),
        ];
        for (range, input, want) in cases {
            let metas: Vec<BlockMeta> = input
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| m(i as u128, a, b))
                .collect();
            let refs: Vec<&BlockMeta> = metas.iter().collect();
            let got: Vec<Vec<(i64, i64)>> = split_by_range(&refs, range)
                .iter()
                .map(|g| g.iter().map(|m| (m.min_time, m.max_time)).collect())
                .collect();
            assert_eq!(got, want, "range {range}, input {input:?}");
        }
    }

    #[test]
    fn waits_for_blocks_to_fill_a_range() {
        assert!(run(&[]).is_empty());
        assert!(run(&[m(1, 0, 20)]).is_empty());
        assert!(run(&[m(1, 0, 20), m(2, 20, 40)]).is_empty());
        // Three, but the freshest is left out.
        assert!(run(&[m(1, 0, 20), m(2, 20, 40), m(3, 40, 60)]).is_empty());
        // A fourth: the first window of 60 is complete.
        assert_eq!(
            run(&[m(1, 0, 20), m(2, 20, 40), m(3, 40, 60), m(4, 60, 80)]),
            [1, 2, 3]
        );
    }

    #[test]
    fn gaps() {
        // The next window started, but its only block is the fresh one.
        assert!(run(&[m(1, 0, 20), m(2, 20, 40), m(3, 60, 80)]).is_empty());
        // Now nothing can fill the gap: compact the two.
        assert_eq!(
            run(&[m(1, 0, 20), m(2, 20, 40), m(3, 60, 80), m(4, 80, 100)]),
            [1, 2]
        );
    }

    #[test]
    fn mixed_levels() {
        assert_eq!(
            run(&[
                m(1, 0, 20),
                m(2, 20, 40),
                m(3, 40, 60),
                m(4, 60, 120),
                m(5, 120, 180),
            ]),
            [1, 2, 3]
        );
        // Unsorted input; 20 + 60 + 60 fill a window of 180.
        assert_eq!(
            run(&[
                m(2, 20, 40),
                m(4, 60, 120),
                m(5, 960, 980),
                m(6, 120, 180),
                m(7, 720, 960),
            ]),
            [2, 4, 6]
        );
        // The fresh block is the one with the largest minTime, not the
        // newest ULID.
        assert_eq!(
            run(&[m(5, 0, 360), m(6, 540, 560), m(7, 360, 420), m(8, 420, 540),]),
            [7, 8]
        );
    }

    #[test]
    fn tombstones() {
        // Many tombstones, but the block is the fresh one.
        assert!(run(&[tomb(1, 0, 540, 10, 3)]).is_empty());
        assert_eq!(run(&[tomb(1, 0, 540, 10, 3), m(2, 540, 560)]), [1]);
        // Too small a block for the 5% rule.
        assert!(run(&[tomb(1, 0, 60, 10, 3), m(2, 60, 80)]).is_empty());
        // ... unless everything looks deleted.
        assert_eq!(run(&[tomb(1, 0, 60, 3, 3), m(2, 60, 80)]), [1]);
        // No series and no tombstones: nothing to do (no endless loop).
        assert!(run(&[tomb(1, 0, 540, 0, 0), m(2, 540, 560)]).is_empty());
        // 5% exactly is not more than 5%.
        assert!(run(&[tomb(1, 0, 540, 39, 2), m(2, 540, 560)]).is_empty());
        assert_eq!(run(&[tomb(1, 0, 540, 38, 2), m(2, 540, 560)]), [1]);
    }

    #[test]
    fn overlapping_blocks_come_first() {
        // |----|
        //     |-----|
        //           |----|
        assert_eq!(run(&[m(1, 0, 20), m(2, 19, 40), m(3, 40, 60)]), [1, 2]);
        assert_eq!(run(&[m(1, 0, 20), m(2, 20, 40), m(3, 30, 50)]), [2, 3]);
        assert_eq!(run(&[m(1, 0, 20), m(2, 10, 40), m(3, 30, 50)]), [1, 2, 3]);
        // One long block covering others.
        assert_eq!(
            run(&[m(5, 0, 360), m(6, 340, 560), m(7, 360, 420), m(8, 420, 540),]),
            [5, 6, 7, 8]
        );
        // Only the first run of overlaps.
        assert_eq!(
            run(&[m(1, 0, 10), m(2, 9, 20), m(3, 30, 40), m(4, 39, 50)]),
            [1, 2]
        );
        // Identical ranges (a backfill of the same range twice).
        assert_eq!(run(&[m(9, 0, 20), m(3, 0, 20)]), [3, 9]);
    }

    #[test]
    fn failed_compactions_are_not_retried_by_level() {
        let shapes: Vec<Vec<BlockMeta>> = vec![
            vec![m(1, 0, 20), m(2, 20, 40), m(3, 40, 60), m(4, 60, 80)],
            vec![m(1, 0, 20), m(2, 20, 40), m(3, 60, 80), m(4, 80, 100)],
            vec![
                m(1, 0, 20),
                m(2, 20, 40),
                m(3, 40, 60),
                m(4, 60, 120),
                m(5, 120, 180),
                m(6, 180, 200),
            ],
        ];
        let ranges = [20, 60, 240, 720, 2160];
        for mut metas in shapes {
            metas[1].compaction.failed = true;
            let refs: Vec<&BlockMeta> = metas.iter().collect();
            assert!(plan(&ranges, &refs).is_empty(), "{metas:?}");
        }
    }

    #[test]
    fn a_single_range_never_merges_by_level() {
        let metas = [m(1, 0, 20), m(2, 20, 40), m(3, 40, 60)];
        let refs: Vec<&BlockMeta> = metas.iter().collect();
        assert!(plan(&[20], &refs).is_empty());
        assert!(plan(&[], &refs).is_empty());
    }
}
