//! Backfill: turning an OpenMetrics file with timestamps into blocks, as
//! `promtool tsdb create-blocks-from openmetrics` does.
//!
//! **Contract (promtool 2.42).** Every sample needs a timestamp. Time is cut
//! into ranges of the block duration (2h, or the largest of 2h·3ᵏ, k < 10,
//! not above `--max-block-duration`), aligned to multiples of it; each range
//! with samples becomes one block covering `[oldest sample, newest + 1)`.
//! Samples are appended in input order through transactions of 5000, with
//! the head's rules: a sample older than its series' newest committed one
//! is an error, as is a committed timestamp repeated with another value;
//! within one transaction such samples are silently dropped. Chunks are cut
//! by the head's rule with a chunk range of twice the block duration, as
//! promtool's block writer is set up, so the blocks hold the same chunks.
//!
//! **Memory.** The input is never held whole: it is read in pieces of a
//! few MiB cut at line boundaries, each parsed on its own (the metadata
//! lines of the family in progress are carried into the next piece, and a
//! `# EOF` is added to all but the last). The first pass checks the whole
//! input, counts the samples of each time range and, as long as the
//! samples read so far fit `max_samples_in_memory`, builds every range at
//! once as XOR chunks in memory; if the whole input fits, the blocks are
//! written after that one pass. Otherwise building stops when the budget is
//! reached, the pass only counts from there, and consecutive ranges are
//! then grouped into further passes of at most the budget each (a single
//! range may exceed it), each re-reading the input and building only its
//! ranges. Memory is thus bounded by the budget (about 1–2 bytes per sample
//! for regular scrapes) and the number of series, never by the size of the
//! input. (promtool parses its input once per range, plus once.)
//!
//! **Failure.** Errors carry the input line. Each block is written through
//! a temporary directory and renamed when complete; if the backfill fails,
//! the blocks it already wrote are removed too, so the output directory is
//! left as it was.

mod input;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::hash::BuildHasherDefault;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

use ember_model::Labels;

use input::{for_each_sample, FxHasher, Sample};

use crate::error::{IoContext, TsdbError};
use crate::writer::{BlockWriter, BlockWriterOptions, SeriesId, WrittenBlock};

/// Prometheus' default (and smallest) block duration: 2h in ms.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 3_600_000;

/// Settings of a backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillOptions {
    /// Largest block duration in ms (`--max-block-duration`); anything
    /// below 2h (including 0, the default) means 2h.
    pub max_block_duration: i64,
    /// Samples per append transaction (promtool: 5000). Decides which out
    /// of order samples are errors and which are dropped.
    pub samples_per_commit: usize,
    /// Most samples held in memory at once: the time ranges built in one
    /// pass over the input together hold at most this many (a single range
    /// may hold more).
    pub max_samples_in_memory: u64,
    /// Size of the pieces the input is read and parsed in.
    pub read_size: usize,
    /// Threads parsing pieces in parallel (0: one per available core).
    /// Results do not depend on it.
    pub parse_threads: usize,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            max_block_duration: 0,
            samples_per_commit: 5000,
            max_samples_in_memory: 64 << 20,
            read_size: 8 << 20,
            parse_threads: 0,
        }
    }
}

/// Where a backfill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The pass over the input, from 1.
    pub pass: usize,
    /// Passes in all; `None` during the first pass, before it is known.
    pub passes: Option<usize>,
    /// Bytes of the input read in this pass.
    pub bytes_done: u64,
    /// Bytes of the input.
    pub bytes_total: u64,
}

/// Receives a backfill's progress and results as they happen.
pub trait BackfillObserver {
    /// Called every few MiB of input and at the end of each pass.
    fn progress(&mut self, _progress: &Progress) {}

    /// Called after each block is written.
    fn block_written(&mut self, _block: &WrittenBlock) {}
}

/// Observes nothing.
impl BackfillObserver for () {}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    /// The blocks written, in time order.
    pub blocks: Vec<WrittenBlock>,
    /// Sample lines in the input.
    pub input_samples: u64,
    /// Samples before the first range's start, which promtool ignores
    /// (only possible with negative timestamps).
    pub ignored_samples: u64,
    /// Passes over the input.
    pub passes: usize,
    /// The block duration used, in ms.
    pub block_duration: i64,
}

/// promtool's block duration for `--max-block-duration`: 2h, or the
/// largest of 2h·3ᵏ (k = 0..9) that does not exceed it.
pub fn compatible_block_duration(max_block_duration: i64) -> i64 {
    if max_block_duration <= DEFAULT_BLOCK_DURATION {
        return DEFAULT_BLOCK_DURATION;
    }
    let ranges: Vec<i64> = (0..10)
        .map(|k| DEFAULT_BLOCK_DURATION * 3i64.pow(k))
        .collect();
    let mut idx = ranges.len() - 1;
    for (i, r) in ranges.iter().enumerate() {
        if *r > max_block_duration {
            idx = i - 1;
            break;
        }
    }
    ranges[idx]
}

/// Backfills from OpenMetrics text in memory into blocks in `output_dir`
/// (created if needed).
pub fn backfill_openmetrics(
    input: &[u8],
    output_dir: &Path,
    opts: &BackfillOptions,
    observer: &mut dyn BackfillObserver,
) -> Result<BackfillSummary, TsdbError> {
    run(
        &mut Cursor::new(input),
        input.len() as u64,
        output_dir,
        opts,
        observer,
    )
}

/// Backfills from the OpenMetrics file at `input`, read in pieces, into
/// blocks in `output_dir` (created if needed).
pub fn backfill_openmetrics_file(
    input: &Path,
    output_dir: &Path,
    opts: &BackfillOptions,
    observer: &mut dyn BackfillObserver,
) -> Result<BackfillSummary, TsdbError> {
    let mut file = File::open(input).at(input)?;
    let len = file.metadata().at(input)?.len();
    run(&mut file, len, output_dir, opts, observer).map_err(|e| match e {
        TsdbError::Io { path, error } if path.as_os_str() == "<input>" => {
            TsdbError::io(input, error)
        }
        other => other,
    })
}

fn run<R: Read + Seek + Send>(
    input: &mut R,
    len: u64,
    output_dir: &Path,
    opts: &BackfillOptions,
    observer: &mut dyn BackfillObserver,
) -> Result<BackfillSummary, TsdbError> {
    fs::create_dir_all(output_dir).at(output_dir)?;
    let mut summary = BackfillSummary {
        block_duration: compatible_block_duration(opts.max_block_duration),
        ..Default::default()
    };
    let res = build(input, len, output_dir, opts, observer, &mut summary);
    if let Err(e) = res {
        for b in &summary.blocks {
            if let Err(rm) = fs::remove_dir_all(&b.dir) {
                tracing::error!(dir = %b.dir.display(), error = %rm, "cannot remove block of failed backfill");
            }
        }
        return Err(e);
    }
    Ok(summary)
}

fn build<R: Read + Seek + Send>(
    input: &mut R,
    len: u64,
    output_dir: &Path,
    opts: &BackfillOptions,
    observer: &mut dyn BackfillObserver,
    summary: &mut BackfillSummary,
) -> Result<(), TsdbError> {
    let bd = summary.block_duration;
    let read_size = opts.read_size.max(1);
    let workers = match opts.parse_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        n => n,
    };

    let writer_opts = BlockWriterOptions {
        chunk_range: bd.saturating_mul(2),
        ..BlockWriterOptions::default()
    };
    let per_commit = opts.samples_per_commit.max(1);
    let mut series = SeriesTable::default();

    // Pass 1: check everything and count the samples of each range; build
    // all ranges at once while they fit the memory budget.
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let mut live: Option<BTreeMap<i64, RangeBuilder>> = Some(BTreeMap::new());
    let mut in_memory = 0u64;
    let mut progress = Progress {
        pass: 1,
        passes: None,
        bytes_done: 0,
        bytes_total: len,
    };
    let mut report = |done: u64| {
        progress.bytes_done = done;
        observer.progress(&progress);
    };
    for_each_sample(input, read_size, workers, &mut report, |s| {
        let t = s.t();
        mint = mint.min(t);
        maxt = maxt.max(t);
        let bucket = t.div_euclid(bd);
        *counts.entry(bucket).or_default() += 1;
        if let Some(ranges) = live.as_mut() {
            if in_memory >= opts.max_samples_in_memory {
                tracing::debug!(
                    budget = opts.max_samples_in_memory,
                    "input exceeds the memory budget: building its ranges in further passes"
                );
                live = None;
                return Ok(());
            }
            let gid = series.id(s).map_err(|m| s.error(m))?;
            let r = ranges
                .entry(bucket)
                .or_insert_with(|| RangeBuilder::new(writer_opts, per_commit));
            r.append(gid, &series.labels[gid as usize], t, s.v())
                .map_err(|e| s.error(format!("add sample: {e}")))?;
            in_memory += 1;
        }
        Ok(())
    })?;
    summary.input_samples = counts.values().sum();
    summary.passes = 1;
    if counts.is_empty() {
        return Ok(());
    }
    // promtool starts at the block-aligned minimum, rounding towards zero:
    // with negative timestamps, samples before that are never read.
    let start = bd.wrapping_mul(mint / bd);
    let first_bucket = start.div_euclid(bd);
    let ignored: u64 = counts.range(..first_bucket).map(|(_, n)| n).sum();
    if ignored > 0 {
        tracing::warn!(
            samples = ignored,
            start,
            "samples before the first block range are ignored, as promtool does"
        );
    }
    summary.ignored_samples = ignored;

    if let Some(ranges) = live {
        progress.passes = Some(1);
        observer.progress(&progress);
        for (_, r) in ranges.into_iter().filter(|(b, _)| *b >= first_bucket) {
            if let Some(b) = r.writer.flush(output_dir)? {
                observer.block_written(&b);
                summary.blocks.push(b);
            }
        }
        return Ok(());
    }

    // Group consecutive ranges into passes that fit the budget.
    let mut windows: Vec<(i64, i64)> = Vec::new();
    let mut acc = 0u64;
    for (&bucket, &n) in counts.range(first_bucket..) {
        match windows.last_mut() {
            Some(w) if acc + n <= opts.max_samples_in_memory => {
                w.1 = bucket;
                acc += n;
            }
            _ => {
                windows.push((bucket, bucket));
                acc = n;
            }
        }
    }
    let passes = 1 + windows.len();
    progress.passes = Some(passes);
    observer.progress(&progress);

    for (w, &(lo, hi)) in windows.iter().enumerate() {
        progress = Progress {
            pass: w + 2,
            passes: Some(passes),
            bytes_done: 0,
            bytes_total: len,
        };
        let lo_t = lo.saturating_mul(bd).max(start);
        let hi_t = hi.saturating_add(1).saturating_mul(bd);
        let mut ranges: Vec<RangeBuilder> = (lo..=hi)
            .map(|_| RangeBuilder::new(writer_opts, per_commit))
            .collect();
        let mut report = |done: u64| {
            progress.bytes_done = done;
            observer.progress(&progress);
        };
        for_each_sample(input, read_size, workers, &mut report, |s| {
            let t = s.t();
            if t < lo_t || t >= hi_t {
                return Ok(());
            }
            let gid = series.id(s).map_err(|m| s.error(m))?;
            let r = &mut ranges[(t.div_euclid(bd) - lo) as usize];
            r.append(gid, &series.labels[gid as usize], t, s.v())
                .map_err(|e| s.error(format!("add sample: {e}")))
        })?;
        summary.passes += 1;
        for r in ranges {
            if let Some(b) = r.writer.flush(output_dir)? {
                observer.block_written(&b);
                summary.blocks.push(b);
            }
        }
    }
    Ok(())
}

/// The series seen so far: raw series text → id → labels.
#[derive(Default)]
struct SeriesTable {
    by_text: HashMap<Box<[u8]>, u32, BuildHasherDefault<FxHasher>>,
    by_labels: HashMap<Labels, u32>,
    labels: Vec<Labels>,
}

impl SeriesTable {
    fn id(&mut self, s: &Sample<'_>) -> Result<u32, String> {
        let raw = s.series_bytes();
        if let Some(&id) = self.by_text.get(raw) {
            return Ok(id);
        }
        // The first line of a series text carries its labels.
        let labels = match s.labels() {
            Some(Ok(l)) => l.clone(),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("internal error: series labels missing".into()),
        };
        let next = u32::try_from(self.labels.len()).map_err(|_| "too many series".to_string())?;
        let id = *self.by_labels.entry(labels.clone()).or_insert(next);
        if id == next {
            self.labels.push(labels);
        }
        self.by_text.insert(raw.into(), id);
        Ok(id)
    }
}

/// One time range being built: a block writer plus the head's commit
/// semantics.
struct RangeBuilder {
    writer: BlockWriter,
    /// Series id in the writer for each global series id (+1; 0 = none).
    local: Vec<u32>,
    /// Newest committed sample of each writer series: (t, value bits).
    committed: Vec<Option<(i64, u64)>>,
    /// Writer series appended to in the open transaction.
    touched: Vec<u32>,
    in_txn: usize,
    per_commit: usize,
}

impl RangeBuilder {
    fn new(opts: BlockWriterOptions, per_commit: usize) -> Self {
        RangeBuilder {
            writer: BlockWriter::new(opts),
            local: Vec::new(),
            committed: Vec::new(),
            touched: Vec::with_capacity(per_commit),
            in_txn: 0,
            per_commit,
        }
    }

    fn append(&mut self, gid: u32, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        let g = gid as usize;
        if self.local.len() <= g {
            self.local.resize(g + 1, 0);
        }
        let id = match self.local[g] {
            0 => {
                let id = self.writer.series_id(labels)?;
                self.local[g] = id.0 + 1;
                self.committed.push(None);
                id
            }
            n => SeriesId(n - 1),
        };
        if let Some((ct, bits)) = self.committed[id.0 as usize] {
            if t < ct {
                return Err(TsdbError::OutOfOrderSample {
                    labels: labels.to_string(),
                    t,
                    last: ct,
                });
            }
            if t == ct && v.to_bits() != bits {
                return Err(TsdbError::DuplicateSample {
                    labels: labels.to_string(),
                    t,
                });
            }
        }
        self.writer.append_id(id, t, v)?;
        self.touched.push(id.0);
        self.in_txn += 1;
        if self.in_txn >= self.per_commit {
            for i in self.touched.drain(..) {
                self.committed[i as usize] = self
                    .writer
                    .last_sample(SeriesId(i))
                    .map(|(t, v)| (t, v.to_bits()));
            }
            self.in_txn = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_durations_like_promtool() {
        let h = 3_600_000;
        assert_eq!(compatible_block_duration(0), 2 * h);
        assert_eq!(compatible_block_duration(h), 2 * h);
        assert_eq!(compatible_block_duration(5 * h), 2 * h);
        assert_eq!(compatible_block_duration(6 * h), 6 * h);
        assert_eq!(compatible_block_duration(24 * h), 18 * h);
        assert_eq!(compatible_block_duration(i64::MAX), 2 * h * 3i64.pow(9));
    }
}
