//! Checkpoints: the still-needed part of old segments, rewritten.
//!
//! A checkpoint is a directory `checkpoint.NNNNNNNN` in the WAL directory
//! holding segments in the same format as the WAL; `NNNNNNNN` is the last
//! WAL segment it covers. [`create_checkpoint`] reads the previous
//! checkpoint and segments `from..=to`, keeps the series the caller still
//! needs, samples, histograms and exemplars at or after `mint`,
//! tombstones of kept series with an interval reaching `mint`, and the
//! latest metadata of each kept series, and writes them into
//! `checkpoint.<to>.tmp`, which is fsynced and renamed into place (so a
//! crash leaves either the old state or the complete checkpoint, plus
//! perhaps a `.tmp` directory that the next checkpoint or
//! [`Wal::open`](super::Wal::open) removes). Replay then reads the newest
//! checkpoint followed by the segments after it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::compress::Compression;
use super::error::{WalError, WalIo};
use super::reader::Reader;
use super::record::{self, Decoder, Record, RefMetadata};
use super::segment::{
    checkpoint_dir, delete_temp_checkpoints, last_checkpoint, SegmentRange, CHECKPOINT_TMP_SUFFIX,
};
use super::writer::SegmentWriter;
use super::{sync_dir, Counters, DEFAULT_SEGMENT_SIZE};

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series records entries dropped (`keep` said no).
    pub dropped_series: u64,
    /// Float and histogram samples dropped (before `mint`).
    pub dropped_samples: u64,
    /// Tombstone intervals dropped.
    pub dropped_tombstones: u64,
    /// Exemplars dropped.
    pub dropped_exemplars: u64,
    /// Metadata entries dropped (of dropped series, or superseded).
    pub dropped_metadata: u64,
    /// Series entries read.
    pub total_series: u64,
    /// Float and histogram samples read.
    pub total_samples: u64,
    /// Tombstone intervals read.
    pub total_tombstones: u64,
    /// Exemplars read.
    pub total_exemplars: u64,
    /// Metadata entries read.
    pub total_metadata: u64,
}

/// Records are logged to the checkpoint in batches of about this size.
const BATCH_BYTES: usize = 1 << 20;

/// Writes `checkpoint.<to>` in the WAL directory `dir` from the newest
/// existing checkpoint and segments `from..=to` (see the module docs).
/// Segments below the newest checkpoint are ignored; a gap between it and
/// `from` is an error. Damage in what is read is an error: the caller
/// cannot know which series a skipped record defined.
pub fn create_checkpoint(
    dir: &Path,
    from: u32,
    to: u32,
    keep: &mut dyn FnMut(u64) -> bool,
    mint: i64,
    compression: Compression,
) -> Result<CheckpointStats, WalError> {
    create(
        dir,
        from,
        to,
        keep,
        mint,
        compression,
        Arc::new(Counters::default()),
    )
}

pub(crate) fn create(
    dir: &Path,
    mut from: u32,
    to: u32,
    keep: &mut dyn FnMut(u64) -> bool,
    mint: i64,
    compression: Compression,
    counters: Arc<Counters>,
) -> Result<CheckpointStats, WalError> {
    tracing::info!(
        from_segment = from,
        to_segment = to,
        mint,
        "creating WAL checkpoint"
    );
    let mut ranges = Vec::new();
    if let Some((cp, index)) = last_checkpoint(dir)? {
        let next = index.saturating_add(1);
        if from > next {
            return Err(WalError::InvalidInput(format!(
                "unexpected gap to last checkpoint: expected segment {next}, requested {from}"
            )));
        }
        from = next;
        ranges.push(SegmentRange::all(cp));
    }
    ranges.push(SegmentRange::new(dir, from, to));
    let mut reader = Reader::open(&ranges)?;

    delete_temp_checkpoints(dir)?;
    let final_dir = checkpoint_dir(dir, to);
    let mut tmp = final_dir.clone().into_os_string();
    tmp.push(CHECKPOINT_TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    fs::create_dir_all(&tmp).at(&tmp)?;
    let result = (|| {
        let mut w = SegmentWriter::new(&tmp, 0, DEFAULT_SEGMENT_SIZE, compression, counters)?;
        let stats = rewrite(&mut reader, &mut w, keep, mint)?;
        w.close()?;
        sync_dir(&tmp)?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir).at(&final_dir)?;
        }
        fs::rename(&tmp, &final_dir).at(&final_dir)?;
        sync_dir(dir)?;
        Ok(stats)
    })();
    if result.is_err() {
        if let Err(e) = fs::remove_dir_all(&tmp) {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot remove temporary checkpoint directory");
        }
    }
    result
}

fn rewrite(
    reader: &mut Reader,
    w: &mut SegmentWriter,
    keep: &mut dyn FnMut(u64) -> bool,
    mint: i64,
) -> Result<CheckpointStats, WalError> {
    let mut stats = CheckpointStats::default();
    let mut dec = Decoder::new();
    let mut latest_metadata: HashMap<u64, RefMetadata> = HashMap::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut batch_bytes = 0;
    while let Some(rec) = reader.next_record()? {
        let kind = record::RecordType::of(rec).map_or("unknown", |t| t.name());
        let decoded = dec.decode(rec).map_err(|e| {
            WalError::Corruption(reader.corruption_at_last_record(format!("decode {kind}: {e}")))
        })?;
        let kept = match decoded {
            Record::Series(mut v) => {
                let n = v.len() as u64;
                v.retain(|s| keep(s.series_ref));
                stats.total_series += n;
                stats.dropped_series += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::Series(v))
            }
            Record::Samples(mut v) => {
                let n = v.len() as u64;
                v.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::Samples(v))
            }
            Record::HistogramSamples(mut v) => {
                let n = v.len() as u64;
                v.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::HistogramSamples(v))
            }
            Record::FloatHistogramSamples(mut v) => {
                let n = v.len() as u64;
                v.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::FloatHistogramSamples(v))
            }
            Record::Tombstones(mut v) => {
                let n = v.len() as u64;
                v.retain(|s| keep(s.series_ref) && s.interval.maxt >= mint);
                stats.total_tombstones += n;
                stats.dropped_tombstones += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::Tombstones(v))
            }
            Record::Exemplars(mut v) => {
                let n = v.len() as u64;
                v.retain(|e| e.t >= mint);
                stats.total_exemplars += n;
                stats.dropped_exemplars += n - v.len() as u64;
                (!v.is_empty()).then_some(Record::Exemplars(v))
            }
            Record::Metadata(v) => {
                let n = v.len() as u64;
                let mut new = 0;
                for m in v {
                    if keep(m.series_ref) && latest_metadata.insert(m.series_ref, m).is_none() {
                        new += 1;
                    }
                }
                stats.total_metadata += n;
                stats.dropped_metadata += n - new;
                None
            }
            // WBL-only, and unknown (future) records, are not carried over.
            Record::MmapMarkers(_) | Record::Unknown(_) => None,
        };
        if let Some(r) = kept {
            let before = batch.len();
            record::encode_record(&r, &mut batch);
            batch_bytes += batch[before..].iter().map(Vec::len).sum::<usize>();
            if batch_bytes > BATCH_BYTES {
                w.log(&batch)?;
                batch.clear();
                batch_bytes = 0;
            }
        }
    }
    w.log(&batch)?;
    if !latest_metadata.is_empty() {
        let mut all: Vec<RefMetadata> = latest_metadata.into_values().collect();
        all.sort_by_key(|m| m.series_ref);
        let mut buf = Vec::new();
        record::encode_metadata(&all, &mut buf);
        w.log(&[buf])?;
    }
    Ok(stats)
}
