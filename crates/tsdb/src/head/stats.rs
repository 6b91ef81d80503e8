//! The head's self-metrics: plain atomic counters and gauges that the DB
//! layer registers under Prometheus' names.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wal::Wal;

/// Whether a metric only goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One metric's current value, as [`HeadStats::metrics`] lists them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadMetric {
    /// Prometheus' metric name.
    pub name: &'static str,
    /// Prometheus' help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// The value.
    pub value: f64,
}

/// Counters and gauges about the head, updated with relaxed atomics.
///
/// Field names follow the Prometheus metrics they feed (listed by
/// [`metrics`](Self::metrics)); the head's time range and open appenders
/// come from the head itself ([`Head::metrics`](super::Head::metrics)).
#[derive(Debug, Default)]
pub struct HeadStats {
    /// `prometheus_tsdb_head_series`: series in the head.
    pub series: AtomicU64,
    /// `prometheus_tsdb_head_series_created_total`.
    pub series_created: AtomicU64,
    /// `prometheus_tsdb_head_series_removed_total`.
    pub series_removed: AtomicU64,
    /// `prometheus_tsdb_head_chunks`: chunks in the head.
    pub chunks: AtomicU64,
    /// `prometheus_tsdb_head_chunks_created_total`.
    pub chunks_created: AtomicU64,
    /// `prometheus_tsdb_head_chunks_removed_total`.
    pub chunks_removed: AtomicU64,
    /// `prometheus_tsdb_head_samples_appended_total` (floats).
    pub samples_appended: AtomicU64,
    /// `prometheus_tsdb_out_of_order_samples_total` (floats).
    pub out_of_order_samples: AtomicU64,
    /// `prometheus_tsdb_out_of_bound_samples_total` (floats).
    pub out_of_bound_samples: AtomicU64,
    /// `prometheus_tsdb_too_old_samples_total` (floats).
    pub too_old_samples: AtomicU64,
    /// `prometheus_tsdb_head_out_of_order_samples_appended_total` (floats).
    pub ooo_samples_appended: AtomicU64,
    /// `prometheus_tsdb_wbl_replay_unknown_refs_total`: samples and m-map
    /// markers in the WBL for series the WAL never declared.
    pub wbl_replay_unknown_refs: AtomicU64,
    /// `prometheus_tsdb_head_truncations_total`.
    pub truncations: AtomicU64,
    /// `prometheus_tsdb_head_truncations_failed_total`.
    pub truncations_failed: AtomicU64,
    /// `prometheus_tsdb_head_gc_duration_seconds` (sum, in microseconds).
    pub gc_duration_micros: AtomicU64,
    /// `prometheus_tsdb_mmap_chunk_corruptions_total`.
    pub mmap_chunk_corruptions: AtomicU64,
    /// `prometheus_tsdb_wal_corruptions_total`.
    pub wal_corruptions: AtomicU64,
    /// Samples and deleted intervals in the WAL for series the WAL never
    /// declared (logged as `unknown series references` after replay, as in
    /// Prometheus).
    pub wal_replay_unknown_refs: AtomicU64,
    /// Exemplars dropped: the head keeps no exemplars yet.
    pub exemplars_dropped: AtomicU64,
}

fn get(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

impl HeadStats {
    pub(crate) fn add(a: &AtomicU64, n: u64) {
        if n > 0 {
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sub(a: &AtomicU64, n: u64) {
        if n > 0 {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        }
    }

    /// Every counter and gauge with its Prometheus name and help.
    pub fn metrics(&self) -> Vec<HeadMetric> {
        use MetricKind::{Counter, Gauge};
        let m = |name, help, kind, value| HeadMetric {
            name,
            help,
            kind,
            value,
        };
        vec![
            m("prometheus_tsdb_head_series", "Total number of series in the head block.", Gauge, get(&self.series)),
            m("prometheus_tsdb_head_series_created_total", "Total number of series created in the head", Counter, get(&self.series_created)),
            m("prometheus_tsdb_head_series_removed_total", "Total number of series removed in the head", Counter, get(&self.series_removed)),
            m("prometheus_tsdb_head_chunks", "Total number of chunks in the head block.", Gauge, get(&self.chunks)),
            m("prometheus_tsdb_head_chunks_created_total", "Total number of chunks created in the head", Counter, get(&self.chunks_created)),
            m("prometheus_tsdb_head_chunks_removed_total", "Total number of chunks removed in the head", Counter, get(&self.chunks_removed)),
            m("prometheus_tsdb_head_samples_appended_total", "Total number of appended samples.", Counter, get(&self.samples_appended)),
            m("prometheus_tsdb_out_of_order_samples_total", "Total number of out of order samples ingestion failed attempts due to out of order being disabled.", Counter, get(&self.out_of_order_samples)),
            m("prometheus_tsdb_out_of_bound_samples_total", "Total number of out of bound samples ingestion failed attempts with out of order support disabled.", Counter, get(&self.out_of_bound_samples)),
            m("prometheus_tsdb_head_out_of_order_samples_appended_total", "Total number of appended out of order samples.", Counter, get(&self.ooo_samples_appended)),
            m("prometheus_tsdb_wbl_replay_unknown_refs_total", "Total number of unknown series references encountered during WBL replay.", Counter, get(&self.wbl_replay_unknown_refs)),
            m("prometheus_tsdb_too_old_samples_total", "Total number of out of order samples ingestion failed attempts with out of support enabled, but sample outside of time window.", Counter, get(&self.too_old_samples)),
            m("prometheus_tsdb_head_truncations_total", "Total number of head truncations attempted.", Counter, get(&self.truncations)),
            m("prometheus_tsdb_head_truncations_failed_total", "Total number of head truncations that failed.", Counter, get(&self.truncations_failed)),
            m("prometheus_tsdb_head_gc_duration_seconds_sum", "Runtime of garbage collection in the head block (sum).", Counter, get(&self.gc_duration_micros) / 1e6),
            m("prometheus_tsdb_mmap_chunk_corruptions_total", "Total number of memory-mapped chunk corruptions.", Counter, get(&self.mmap_chunk_corruptions)),
            m("prometheus_tsdb_wal_corruptions_total", "Total number of WAL corruptions.", Counter, get(&self.wal_corruptions)),
        ]
    }
}

/// The WBL's counters under Prometheus' names
/// (`prometheus_tsdb_out_of_order_wbl_*`).
pub(crate) fn wbl_metrics(wbl: &Wal) -> Vec<HeadMetric> {
    use MetricKind::{Counter, Gauge};
    let w = wbl.metrics();
    let m = |name, help, kind, value| HeadMetric {
        name,
        help,
        kind,
        value,
    };
    let n = |v: u64| v as f64;
    let mut out = vec![
        m(
            "prometheus_tsdb_out_of_order_wbl_corruptions_total",
            "Total number of WAL corruptions.",
            Counter,
            n(w.corruptions_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_page_flushes_total",
            "Total number of page flushes.",
            Counter,
            n(w.page_flushes_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_completed_pages_total",
            "Total number of completed pages.",
            Counter,
            n(w.completed_pages_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_writes_failed_total",
            "Total number of write log writes that failed.",
            Counter,
            n(w.writes_failed_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_truncations_total",
            "Total number of write log truncations attempted.",
            Counter,
            n(w.truncations_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_truncations_failed_total",
            "Total number of write log truncations that failed.",
            Counter,
            n(w.truncations_failed_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_fsync_duration_seconds_count",
            "Number of write log fsyncs.",
            Gauge,
            n(w.fsyncs_total),
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_fsync_duration_seconds_sum",
            "Duration of write log fsync (sum).",
            Gauge,
            w.fsync_seconds_total,
        ),
        m(
            "prometheus_tsdb_out_of_order_wbl_segment_current",
            "Write log segment index that TSDB is currently writing to.",
            Gauge,
            f64::from(w.current_segment),
        ),
    ];
    if let Ok(size) = wbl.size_bytes() {
        out.push(m(
            "prometheus_tsdb_out_of_order_wbl_storage_size_bytes",
            "Size of the write log directory.",
            Gauge,
            n(size),
        ));
    }
    out
}
