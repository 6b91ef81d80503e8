//! When the head starts a new float chunk: Prometheus' rule from
//! `memSeries.appendPreprocessor`.
//!
//! Time is cut into aligned chunk ranges (2h by default: `[k·2h, (k+1)·2h)`).
//! A chunk starts with the range end as its deadline. When it holds a quarter
//! of the target sample count, the deadline is moved so that, at the rate
//! seen so far, the rest of the range splits into chunks of equal size. A
//! new chunk is cut for a sample at or past the deadline, or when the chunk
//! already holds twice the target count (the rate went up), or (as in
//! Prometheus 3) when its bytes could exceed the size cap with one more
//! sample. Because the deadline never passes the range end, a chunk never
//! spans two ranges.

/// Worst-case growth of an XOR chunk for one sample, in bytes (a 68-bit
/// timestamp and a 77-bit value, starting mid-byte).
const MAX_BYTES_PER_SAMPLE: usize = 19;

/// Settings shared by all series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutOptions {
    /// Target samples per chunk (Prometheus' `SamplesPerChunk`, default 120).
    pub samples_per_chunk: usize,
    /// Width of the aligned chunk ranges in milliseconds (default 2h).
    /// Values below 1 are treated as 1.
    pub chunk_range: i64,
    /// Cut before a chunk can grow past this many bytes (Prometheus 3:
    /// 1024). `None` disables the rule, as in Prometheus 2.
    pub max_chunk_bytes: Option<usize>,
}

impl Default for CutOptions {
    fn default() -> Self {
        Self {
            samples_per_chunk: 120,
            chunk_range: 2 * 60 * 60 * 1000,
            max_chunk_bytes: Some(1024),
        }
    }
}

impl CutOptions {
    /// End of the aligned chunk range holding `t` (exclusive), saturating
    /// at `i64::MAX`.
    ///
    /// Ranges are aligned by floor division, so negative timestamps get
    /// proper ranges too; Prometheus truncates towards zero there, which
    /// makes its range around zero twice as wide.
    pub fn range_end(&self, t: i64) -> i64 {
        let width = self.chunk_range.max(1);
        t.saturating_add(width - t.rem_euclid(width))
    }
}

/// What the cutter needs to know about the series' open chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkStats {
    /// Timestamp of the chunk's first sample.
    pub min_time: i64,
    /// Timestamp of the chunk's last sample.
    pub max_time: i64,
    /// Samples in the chunk.
    pub num_samples: usize,
    /// Encoded size of the chunk in bytes.
    pub num_bytes: usize,
}

/// Per-series cutting state: the deadline (`nextAt`) of the open chunk.
///
/// Usage: create it with [`ChunkCutter::new`] when a series' first chunk
/// is started, then, for every in-order sample (the caller rejects
/// timestamps `<= max_time` first), ask [`ChunkCutter::should_cut`]. When it
/// says yes, start a new chunk with that sample; the cutter has already
/// reset itself for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkCutter {
    next_at: i64,
}

impl ChunkCutter {
    /// State for a new chunk whose first sample is at `t`: the deadline is
    /// the end of `t`'s chunk range.
    pub fn new(t: i64, opts: &CutOptions) -> Self {
        Self {
            next_at: opts.range_end(t),
        }
    }

    /// The current deadline: a sample at or after it starts a new chunk.
    pub fn next_at(&self) -> i64 {
        self.next_at
    }

    /// Whether the sample at `t` must start a new chunk instead of going
    /// into `open`. Returns `true` after resetting `self` for the new chunk.
    pub fn should_cut(&mut self, opts: &CutOptions, t: i64, open: &ChunkStats) -> bool {
        if open.num_samples == 0 {
            // An empty chunk (e.g. restored from a snapshot) takes the
            // sample and gets the range of that sample.
            *self = Self::new(t, opts);
            return false;
        }
        let too_big = opts
            .max_chunk_bytes
            .is_some_and(|max| open.num_bytes > max.saturating_sub(MAX_BYTES_PER_SAMPLE));
        if open.num_samples == opts.samples_per_chunk / 4 {
            self.next_at = chunk_end_time(open.min_time, open.max_time, self.next_at, 4.0);
        }
        if too_big
            || t >= self.next_at
            || open.num_samples >= opts.samples_per_chunk.saturating_mul(2)
        {
            *self = Self::new(t, opts);
            return true;
        }
        false
    }
}

/// Prometheus' `computeChunkEndTime`: given a chunk spanning `start..=cur`
/// that is `1/ratio_to_full` full, the end time that splits `start..max_t`
/// into equal chunks at the current rate. Integer arithmetic wraps and
/// float conversions truncate, as in Go.
fn chunk_end_time(start: i64, cur: i64, max_t: i64, ratio_to_full: f64) -> i64 {
    let span = max_t.wrapping_sub(start) as f64;
    let n = span / (cur.wrapping_sub(start).wrapping_add(1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + span / n.floor()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const H2: i64 = 2 * 60 * 60 * 1000;

    /// Feeds `timestamps` through the cutter, with chunk sizes of
    /// `bytes_per_sample` per sample, and returns the chunks as lists of
    /// timestamps.
    fn chunks(opts: &CutOptions, timestamps: &[i64], bytes_per_sample: usize) -> Vec<Vec<i64>> {
        let mut out: Vec<Vec<i64>> = Vec::new();
        let mut cutter: Option<ChunkCutter> = None;
        for &t in timestamps {
            let cut = match (&mut cutter, out.last()) {
                (Some(c), Some(open)) => c.should_cut(
                    opts,
                    t,
                    &ChunkStats {
                        min_time: open[0],
                        max_time: *open.last().unwrap(),
                        num_samples: open.len(),
                        num_bytes: 2 + open.len() * bytes_per_sample,
                    },
                ),
                _ => {
                    cutter = Some(ChunkCutter::new(t, opts));
                    true
                }
            };
            if cut {
                out.push(Vec::new());
            }
            out.last_mut().unwrap().push(t);
        }
        out
    }

    #[test]
    fn steady_scrapes_make_120_sample_chunks() {
        let opts = CutOptions::default();
        let ts: Vec<i64> = (0..2 * 480).map(|i| i * 15_000).collect();
        let got = chunks(&opts, &ts, 1);
        assert_eq!(got.len(), 8);
        for c in &got {
            assert_eq!(c.len(), 120);
            assert_eq!(opts.range_end(c[0]), opts.range_end(*c.last().unwrap()));
        }
        // At 30 samples: n = 7_200_000 / (435_001 * 4) = 4.14, so the
        // deadline is a quarter of the range.
        let mut c = ChunkCutter::new(0, &opts);
        let open = ChunkStats {
            min_time: 0,
            max_time: 435_000,
            num_samples: 30,
            num_bytes: 40,
        };
        assert!(!c.should_cut(&opts, 450_000, &open));
        assert_eq!(c.next_at(), 1_800_000);
    }

    #[test]
    fn chunks_never_cross_a_range_boundary() {
        let opts = CutOptions::default();
        // Starts mid-range with an uneven rate.
        let ts: Vec<i64> = (0..3000)
            .map(|i| 5_000_000 + i * 7_001 + (i % 3) * 11)
            .collect();
        let got = chunks(&opts, &ts, 1);
        for c in &got {
            assert_eq!(opts.range_end(c[0]), opts.range_end(*c.last().unwrap()));
            assert!(c.len() <= 240);
        }
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), ts.len());
        assert!(ts.iter().any(|&t| t < H2) && ts.iter().any(|&t| t >= 3 * H2));
    }

    #[test]
    fn rate_increase_cuts_at_twice_the_target() {
        let opts = CutOptions::default();
        // The first 30 samples are slow, predicting a deadline far away;
        // then samples come every millisecond.
        let mut ts: Vec<i64> = (0..30).map(|i| i * 60_000).collect();
        let last = *ts.last().unwrap();
        ts.extend((1..1000).map(|i| last + i));
        let got = chunks(&opts, &ts, 1);
        assert_eq!(got[0].len(), 240);
        // The next chunk predicts its deadline from the new rate.
        assert_eq!(got[1].len(), 120);
    }

    #[test]
    fn byte_cap_cuts_big_chunks() {
        let opts = CutOptions::default();
        let ts: Vec<i64> = (0..200).map(|i| i * 15_000).collect();
        // 10 bytes per sample: 101 samples make 1012 bytes > 1005.
        let got = chunks(&opts, &ts, 10);
        assert_eq!(got[0].len(), 101);
        let no_cap = CutOptions {
            max_chunk_bytes: None,
            ..opts
        };
        assert_eq!(chunks(&no_cap, &ts, 10)[0].len(), 120);
    }

    #[test]
    fn sparse_series_keep_the_range_end() {
        let opts = CutOptions::default();
        // Fewer than 30 samples in the range: no prediction, cut at the
        // range end.
        let ts: Vec<i64> = (0..10).map(|i| i * 1_000_000).collect();
        let got = chunks(&opts, &ts, 1);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 8);
    }

    #[test]
    fn empty_open_chunk_takes_the_sample() {
        let opts = CutOptions::default();
        let mut c = ChunkCutter::new(0, &opts);
        let empty = ChunkStats {
            min_time: 0,
            max_time: 0,
            num_samples: 0,
            num_bytes: 2,
        };
        assert!(!c.should_cut(&opts, 3 * H2 + 5, &empty));
        assert_eq!(c.next_at(), 4 * H2);
    }

    #[test]
    fn range_end_alignment() {
        let opts = CutOptions::default();
        assert_eq!(opts.range_end(0), H2);
        assert_eq!(opts.range_end(H2 - 1), H2);
        assert_eq!(opts.range_end(H2), 2 * H2);
        assert_eq!(opts.range_end(-1), 0);
        assert_eq!(opts.range_end(-H2), 0);
        assert_eq!(opts.range_end(-H2 - 1), -H2);
        assert_eq!(opts.range_end(i64::MAX), i64::MAX);
        let end = opts.range_end(i64::MIN);
        assert!(end > i64::MIN && end.checked_sub(H2).is_none() && end % H2 == 0);
        let zero = CutOptions {
            chunk_range: 0,
            ..opts
        };
        assert_eq!(zero.range_end(7), 8);
    }

    #[test]
    fn chunk_end_time_matches_prometheus() {
        assert_eq!(chunk_end_time(0, 435_000, H2, 4.0), 1_800_000);
        // Nearly full already: the range end.
        assert_eq!(chunk_end_time(0, 2_000_000, H2, 4.0), H2);
        // n = 7_200_000 / (1_000_001 * 4) = 1.8, floor 1: the range end.
        assert_eq!(chunk_end_time(0, 1_000_000, H2, 4.0), H2);
        // n = 2.77, floor 2: halfway.
        assert_eq!(chunk_end_time(100, 650_000, H2 + 100, 4.0), H2 / 2 + 100);
        // Degenerate input must not panic.
        let _ = chunk_end_time(i64::MAX, i64::MIN, i64::MIN, 4.0);
        let _ = chunk_end_time(0, -1, 0, 4.0);
    }
}
