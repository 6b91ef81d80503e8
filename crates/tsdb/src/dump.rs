//! `tsdb dump`: every float sample of the selected series as text, in
//! promtool's format.
//!
//! [`dump_samples`] writes what a querier returns. [`dump_dir`] dumps a
//! whole data directory as promtool's `tsdb dump` does: the blocks plus
//! the head that a (possibly crashed) Prometheus or Ember left behind in
//! `wal/`, loaded by [`read_only_head`] into memory **without writing,
//! repairing or locking anything** in the directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ember_model::{Labels, Matcher, Sample};
use ember_storage::{Appender, MergeQuerier, Querier, SeriesRef, ValueType};

use crate::block::{open_blocks, BlockDir};
use crate::error::TsdbError;
use crate::gofmt::write_g;
use crate::head::{Head, HeadOptions, WAL_DIR};
use crate::wal::record::{Decoder, RecordType, RefSample, RefSeries};
use crate::wal::{last_checkpoint, segments, Reader, SegmentRange, WalError};

/// A head rebuilt read-only from a data directory's WAL (see
/// [`read_only_head`]).
#[derive(Debug)]
pub struct ReadOnlyHead {
    /// The in-memory head.
    pub head: Head,
    /// WAL records read.
    pub records: u64,
    /// Samples loaded into the head.
    pub samples: u64,
    /// Samples left out: older than the blocks' end, out of order, or of
    /// series the WAL never declared.
    pub dropped: u64,
    /// Damage that stopped the replay early (nothing is repaired: the data
    /// before it is loaded, the rest ignored).
    pub corruption: Option<String>,
}

/// Loads the head data of the data directory `dir` into an in-memory
/// [`Head`], as `promtool tsdb dump` (Prometheus' `DBReadOnly`) does:
/// replays the newest WAL checkpoint and the segments after it, keeping
/// samples at or after `min_valid_time` (the newest block's `maxTime`).
///
/// Nothing in `dir` is written: no lock is taken, no segment is created,
/// damage is not repaired — the replay stops at it and reports it. A
/// missing `wal/` gives an empty head. `chunks_head/` is not read: every
/// sample of the head chunk files is also in the WAL (the checkpoint keeps
/// what the head still holds), so the WAL alone gives the same samples.
pub fn read_only_head(dir: &Path, min_valid_time: i64) -> Result<ReadOnlyHead, TsdbError> {
    let head = Head::in_memory(HeadOptions {
        min_valid_time,
        ..HeadOptions::default()
    })?;
    let mut out = ReadOnlyHead {
        head,
        records: 0,
        samples: 0,
        dropped: 0,
        corruption: None,
    };
    let wal = dir.join(WAL_DIR);
    if !wal.is_dir() {
        return Ok(out);
    }
    let mut ranges = Vec::new();
    let mut first_segment = 0;
    if let Some((cp, index)) = last_checkpoint(&wal)? {
        ranges.push(SegmentRange::all(cp));
        first_segment = index.saturating_add(1);
    }
    if let Some((first, last)) = segments(&wal)? {
        let first = first.max(first_segment);
        if first <= last {
            ranges.push(SegmentRange::new(&wal, first, last));
        }
    }
    let mut reader = Reader::open(&ranges)?;
    let mut dec = Decoder::new();
    let mut labels: HashMap<u64, Labels> = HashMap::new();
    let mut hints: HashMap<u64, SeriesRef> = HashMap::new();
    let mut series_buf: Vec<RefSeries> = Vec::new();
    let mut samples_buf: Vec<RefSample> = Vec::new();
    loop {
        let rec = match reader.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(WalError::Corruption(c)) => {
                out.corruption = Some(c.to_string());
                break;
            }
            Err(e) => return Err(e.into()),
        };
        out.records += 1;
        let decoded = match RecordType::of(rec) {
            Some(RecordType::Series) => {
                series_buf.clear();
                dec.series(rec, &mut series_buf).map(|()| {
                    for s in series_buf.drain(..) {
                        hints.remove(&s.series_ref);
                        labels.insert(s.series_ref, s.labels);
                    }
                })
            }
            Some(RecordType::Samples | RecordType::SamplesV2) => {
                samples_buf.clear();
                dec.samples(rec, &mut samples_buf)
            }
            _ => Ok(()),
        };
        if let Err(e) = decoded {
            out.corruption = Some(format!(
                "{}",
                reader.corruption_at_last_record(format!("decode record: {e}"))
            ));
            break;
        }
        if samples_buf.is_empty() {
            continue;
        }
        let mut app = out.head.appender();
        for x in samples_buf.drain(..) {
            let Some(l) = labels.get(&x.series_ref) else {
                out.dropped += 1;
                continue;
            };
            if x.t < min_valid_time {
                out.dropped += 1;
                continue;
            }
            let hint = hints.get(&x.series_ref).copied().unwrap_or(SeriesRef(0));
            match app.append(hint, l, Sample::float(x.t, x.v)) {
                Ok(r) => {
                    hints.insert(x.series_ref, r);
                    out.samples += 1;
                }
                Err(_) => out.dropped += 1,
            }
        }
        app.commit()?;
    }
    if let Some(c) = &out.corruption {
        tracing::warn!(corruption = %c, "WAL damaged; loaded the data before the damage (read-only: nothing repaired)");
    }
    tracing::debug!(
        records = out.records,
        samples = out.samples,
        dropped = out.dropped,
        "read-only WAL replay completed"
    );
    Ok(out)
}

/// The newest `maxTime` of the blocks, or `i64::MIN`.
pub fn blocks_max_time(blocks: &BlockDir) -> i64 {
    blocks
        .blocks()
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap_or(i64::MIN)
}

/// A querier over `[mint, maxt]` merging `blocks` and `head` (blocks win
/// on equal timestamps).
pub fn merge_blocks_and_head<'a>(
    blocks: &'a BlockDir,
    head: &'a Head,
    mint: i64,
    maxt: i64,
) -> MergeQuerier<'a> {
    MergeQuerier::new(vec![
        Box::new(blocks.merge_querier(mint, maxt)),
        Box::new(head.querier(mint, maxt)),
    ])
}

/// Dumps the data directory `dir` — blocks and the head's WAL, read-only
/// — like `promtool tsdb dump`: see [`dump_samples`] for the format.
/// Blocks that fail to open are left out (listed in the `BlockDir`
/// returned with the stats).
pub fn dump_dir(
    dir: &Path,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    out: &mut dyn Write,
) -> Result<(DumpStats, BlockDir), TsdbError> {
    let blocks = open_blocks(dir)?;
    let head = read_only_head(dir, blocks_max_time(&blocks))?;
    let stats = {
        let q = merge_blocks_and_head(&blocks, &head.head, mint, maxt);
        dump_samples(&q, matchers, out)?
    };
    Ok((stats, blocks))
}

/// What a dump wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Series written (those with at least one sample).
    pub series: u64,
    /// Samples written.
    pub samples: u64,
    /// Warnings from the storage (skipped chunks, ...).
    pub warnings: Vec<String>,
}

/// Writes every float sample of the series `matchers` select from `q`, one
/// line per sample, series in label order, as promtool's `tsdb dump`
/// prints them:
///
/// ```text
/// {__name__="up", job="api"} 1 1763769600005
/// ```
///
/// (labels as Prometheus prints them, the value as Go's `%g`, the
/// timestamp in ms). An error reading a series stops the dump.
pub fn dump_samples(
    q: &dyn Querier,
    matchers: &[Matcher],
    out: &mut dyn Write,
) -> Result<DumpStats, TsdbError> {
    let io = |e: std::io::Error| TsdbError::io("<output>", e);
    let mut stats = DumpStats::default();
    let mut set = q.select(true, None, matchers)?;
    let mut line = String::with_capacity(256);
    while let Some(series) = set.next() {
        let series = series?;
        let prefix = series.labels().to_string();
        let mut it = series.iter();
        let mut any = false;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            line.clear();
            line.push_str(&prefix);
            line.push(' ');
            write_g(&mut line, v);
            line.push(' ');
            line.push_str(itoa(t, &mut [0u8; 20]));
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io)?;
            stats.samples += 1;
            any = true;
        }
        if let Some(e) = it.error() {
            return Err(TsdbError::InvalidInput(format!(
                "reading series {prefix}: {e}"
            )));
        }
        if any {
            stats.series += 1;
        }
    }
    stats.warnings = set.warnings();
    out.flush().map_err(io)?;
    Ok(stats)
}

/// Formats an `i64` into `buf` without allocating.
fn itoa(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_matches_display() {
        for v in [0, 1, -1, 1763769600005, i64::MIN, i64::MAX] {
            assert_eq!(itoa(v, &mut [0u8; 20]), v.to_string());
        }
    }
}
