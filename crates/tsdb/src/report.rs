//! promtool's reports on blocks: the block table of `tsdb list` (also
//! printed by backfill) and the text of `tsdb analyze`. Both return text;
//! the caller decides where it goes.

use std::collections::HashMap;

use ember_model::METRIC_NAME;

use crate::block::Block;
use crate::chunk_file::ChunkRef;
use crate::error::TsdbError;
use crate::gofmt::{duration_string, tabwrite, utc_time_string};
use crate::meta::BlockMeta;
use crate::retention::format_base2_bytes;

/// promtool's block table: a header (if asked) and one row per block with
/// ULID, min and max time, duration, samples, chunks, series and size,
/// aligned as Go's tabwriter aligns them. With `human_readable`, times are
/// UTC dates and sizes base-2 units.
pub fn block_table(blocks: &[(&BlockMeta, u64)], header: bool, human_readable: bool) -> String {
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(blocks.len() + 1);
    if header {
        rows.push(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
    }
    let time = |t: i64| {
        if human_readable {
            utc_time_string(t / 1000)
        } else {
            t.to_string()
        }
    };
    for (meta, size) in blocks {
        rows.push(vec![
            meta.ulid.to_string(),
            time(meta.min_time),
            time(meta.max_time),
            duration_string(
                meta.max_time
                    .wrapping_sub(meta.min_time)
                    .wrapping_mul(1_000_000),
            ),
            meta.stats.num_samples.to_string(),
            meta.stats.num_chunks.to_string(),
            meta.stats.num_series.to_string(),
            if human_readable {
                format_base2_bytes(*size as i64)
            } else {
                size.to_string()
            },
        ]);
    }
    tabwrite(&rows, 13, 2)
}

/// Sorts by count, highest first (ties by key, for stable output; promtool
/// leaves their order to Go's map iteration), and prints at most `limit`.
fn print_info(out: &mut String, mut infos: Vec<(String, u64)>, limit: usize) {
    infos.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (key, n) in infos.into_iter().take(limit) {
        out.push_str(&format!("{n} {key}\n"));
    }
}

/// promtool's `tsdb analyze` text for `block`: id, duration, series and
/// label counts, then the top `limit` label pairs and names by churn, the
/// most common label pairs, the label names with the longest values and
/// the most values, the metric names with the most series, and with
/// `extended`, how full the chunks are.
pub fn analyze(block: &Block, limit: usize, extended: bool) -> Result<String, TsdbError> {
    let meta = block.meta();
    let ix = block.index();
    let ixerr = |e| TsdbError::Index {
        path: block.dir().join(crate::writer::INDEX_FILENAME),
        error: e,
    };
    let mut out = String::new();
    let span = meta.max_time.wrapping_sub(meta.min_time);
    out.push_str(&format!("Block ID: {}\n", meta.ulid));
    out.push_str(&format!(
        "Duration: {}\n",
        duration_string(span.wrapping_mul(1_000_000))
    ));
    out.push_str(&format!("Series: {}\n", meta.stats.num_series));
    let names: Vec<String> = ix.label_name_iter().map(str::to_string).collect();
    out.push_str(&format!("Label names: {}\n", names.len()));

    let mut labels_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    let mut chunk_samples: Vec<u16> = Vec::new();
    let all = block.postings(&[])?;
    for id in &all {
        let (labels, chunks) = block.series(id)?;
        let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
            return Err(TsdbError::corrupted(
                block.dir().join(crate::writer::INDEX_FILENAME),
                Some(u64::from(id) * 16),
                "series without chunks",
            ));
        };
        let uncovered =
            (span as u64).wrapping_sub(last.max_time.wrapping_sub(first.min_time) as u64);
        for l in labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            let e = labels_uncovered.entry(l.name.to_string()).or_default();
            *e = e.wrapping_add(uncovered);
            let e = pairs_uncovered.entry(key.clone()).or_default();
            *e = e.wrapping_add(uncovered);
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
        if extended {
            for c in &chunks {
                let view = block.chunks().chunk(ChunkRef(c.chunk_ref))?;
                let n = view
                    .data
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                chunk_samples.push(n);
            }
        }
    }
    out.push_str(&format!(
        "Postings (unique label pairs): {}\n",
        pairs_uncovered.len()
    ));
    out.push_str(&format!(
        "Postings entries (total label pairs): {entries}\n"
    ));

    let per_span = |m: u64| (m as f64 / span as f64) as u64;
    out.push_str("\nLabel pairs most involved in churning:\n");
    print_info(
        &mut out,
        pairs_uncovered
            .into_iter()
            .map(|(k, m)| (k, per_span(m)))
            .collect(),
        limit,
    );
    out.push_str("\nLabel names most involved in churning:\n");
    print_info(
        &mut out,
        labels_uncovered
            .into_iter()
            .map(|(k, m)| (k, per_span(m)))
            .collect(),
        limit,
    );
    out.push_str("\nMost common label pairs:\n");
    print_info(&mut out, pairs_count.into_iter().collect(), limit);

    let mut lengths = Vec::with_capacity(names.len());
    let mut cardinality = Vec::with_capacity(names.len());
    for n in &names {
        let mut total = 0u64;
        let mut count = 0u64;
        for v in ix.label_value_iter(n) {
            let v = v.map_err(ixerr)?;
            total += v.len() as u64;
            count += 1;
        }
        lengths.push((n.clone(), total));
        cardinality.push((n.clone(), count));
    }
    out.push_str("\nLabel names with highest cumulative label value length:\n");
    print_info(&mut out, lengths, limit);
    out.push_str("\nHighest cardinality labels:\n");
    print_info(&mut out, cardinality, limit);

    let mut metrics = Vec::new();
    for v in ix.label_value_iter(METRIC_NAME) {
        let v = v.map_err(ixerr)?;
        let n = ix.postings(METRIC_NAME, v).map_err(ixerr)?.len() as u64;
        metrics.push((v.to_string(), n));
    }
    out.push_str("\nHighest cardinality metric names:\n");
    print_info(&mut out, metrics, limit);

    if extended {
        const MAX_SAMPLES: f64 = 120.0;
        const BUCKETS: usize = 10;
        let mut histogram = [0u64; BUCKETS];
        for &n in &chunk_samples {
            let size = f64::from(n).min(MAX_SAMPLES);
            let bucket = ((BUCKETS as f64 * size / MAX_SAMPLES).ceil() as i64 - 1)
                .clamp(0, BUCKETS as i64 - 1);
            histogram[bucket as usize] += 1;
        }
        let total = chunk_samples.len() as u64;
        out.push_str("\nCompaction analysis:\n");
        out.push_str("Fullness: Amount of samples in chunks (100% is 120 samples)\n");
        for (bucket, count) in histogram.iter().enumerate() {
            let pct = (100 * count).checked_div(total).unwrap_or(0);
            out.push_str(&format!(
                "{:>7}%: {}\n",
                (bucket + 1) * 10,
                "#".repeat(pct as usize)
            ));
        }
    }
    Ok(out)
}
