//! Head throughput and memory.
//!
//! * `head_append/*`: samples per second appended to the head as scrapes
//!   do it — one commit per scrape of all series, series references
//!   cached between scrapes, 15 s apart — with one appender, with two
//!   appenders on two threads (each with its own half of the series), and
//!   with the WAL.
//! * Memory per series: before the timed benchmarks, heads of 1M series
//!   with one sample each, and of 100k series with 250 samples each (two
//!   completed chunks in `chunks_head/`, one open), are built while a
//!   counting global allocator (this binary only) tracks live heap bytes;
//!   bytes per series are printed, with the RSS growth for comparison.
//!
//! Run with `cargo bench -p ember-tsdb --bench head`; set
//! `EMBER_HEAD_BENCH_SERIES` to change the 1M.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ember_model::{Labels, Sample};
use ember_storage::{Appender, SeriesRef};
use ember_tsdb::head::{Head, HeadOptions};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const START: i64 = 1_763_769_600_000;

/// Node-exporter-like label sets: ~90 bytes each.
fn series_labels(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("node_metric_{}", i % 500)),
                ("instance", format!("host-{:05}.example.com:9100", i / 500)),
                ("job", "node".to_string()),
                (
                    "mode",
                    ["idle", "user", "system", "iowait"][i % 4].to_string(),
                ),
            ])
            .unwrap_or_default()
        })
        .collect()
}

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Scrapes `steps` times, one commit per `batch` series.
fn fill(
    head: &Head,
    labels: &[Labels],
    refs: &mut [SeriesRef],
    from: i64,
    steps: i64,
    batch: usize,
) {
    for k in from..from + steps {
        let t = START + k * 15_000;
        for (ls, rs) in labels.chunks(batch).zip(refs.chunks_mut(batch)) {
            let mut app = head.appender();
            for (l, r) in ls.iter().zip(rs.iter_mut()) {
                let v = (k as f64) * 1.5 + (r.0 % 7) as f64;
                *r = app.append(*r, l, Sample::float(t, v)).unwrap_or(*r);
            }
            app.commit().unwrap_or(());
        }
    }
}

fn measure_memory(n: usize, steps: i64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let heap0 = LIVE.load(Ordering::Relaxed);
    let rss0 = rss_bytes();
    let start = Instant::now();
    let labels = series_labels(n);
    let label_bytes: usize = labels.iter().map(Labels::heap_size).sum();
    let mut refs = vec![SeriesRef(0); n];
    let head = Head::open_without_wal(dir.path(), HeadOptions::default())
        .unwrap_or_else(|e| panic!("open head: {e}"));
    fill(&head, &labels, &mut refs, 0, steps, 10_000);
    // The head now holds the only references to the labels.
    drop(labels);
    drop(refs);
    let elapsed = start.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - heap0;
    let chunk_files = head.chunk_files().map_or(0, |f| f.size());
    let rss = rss_bytes().zip(rss0).map(|(a, b)| a.saturating_sub(b));
    println!(
        "head memory: {n} series x {steps} samples: {:.0} heap bytes/series \
         ({} MiB heap, of which labels {:.0} B/series; RSS +{} MiB; chunks_head {} MiB; built in {:.1?})",
        heap as f64 / n as f64,
        heap >> 20,
        label_bytes as f64 / n as f64,
        rss.map_or(0, |r| r >> 20),
        chunk_files >> 20,
        elapsed,
    );
    drop(head);
}

fn memory(_c: &mut Criterion) {
    let n: usize = std::env::var("EMBER_HEAD_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    measure_memory(n, 1);
    measure_memory(n / 10, 250);
}

fn append(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut g = c.benchmark_group("head_append");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N as u64));

    let labels = series_labels(N);
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let head = if wal {
            Head::open(dir.path(), HeadOptions::default())
        } else {
            Head::open_without_wal(dir.path(), HeadOptions::default())
        }
        .unwrap_or_else(|e| panic!("open head: {e}"));
        let mut refs = vec![SeriesRef(0); N];
        let mut k = 0i64;
        let name = if wal { "1_appender_wal" } else { "1_appender" };
        g.bench_function(name, |b| {
            b.iter(|| {
                fill(&head, &labels, &mut refs, k, 1, N);
                k += 1;
            })
        });
    }

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let head = Head::open_without_wal(dir.path(), HeadOptions::default())
        .unwrap_or_else(|e| panic!("open head: {e}"));
    let (left, right) = labels.split_at(N / 2);
    let mut refs_l = vec![SeriesRef(0); left.len()];
    let mut refs_r = vec![SeriesRef(0); right.len()];
    let mut k = 0i64;
    g.bench_function("2_appenders", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                let head = &head;
                let (rl, rr) = (&mut refs_l, &mut refs_r);
                s.spawn(move || fill(head, left, rl, k, iters as i64, N));
                s.spawn(move || fill(head, right, rr, k, iters as i64, N));
            });
            k += iters as i64;
            start.elapsed()
        })
    });
    g.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, minus the
// undocumented public function the lints reject.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    memory(&mut c);
    append(&mut c);
    c.final_summary();
}
