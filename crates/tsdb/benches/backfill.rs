//! Backfill throughput: OpenMetrics text with timestamps to blocks on
//! disk, as `ember tsdb create-blocks-from openmetrics` runs it, and
//! reading the blocks back (`tsdb dump`).
//!
//! The input imitates the shared generator: node- and API-like series of a
//! few hosts scraped every 15 s with 1-9 ms of jitter, over 3 hours (two
//! blocks). Run with `cargo bench -p ember-tsdb --bench backfill`; the
//! side-by-side measurement against promtool on a large file is described
//! in the crate's report (`/usr/bin/time -v` on both tools).

use std::fmt::Write as _;
use std::io::Write as _;

use criterion::{black_box, BatchSize, Criterion, Throughput};
use ember_model::{MatchOp, Matcher};
use ember_tsdb::backfill::{backfill_openmetrics, BackfillOptions};
use ember_tsdb::{dump_samples, open_blocks};

/// OpenMetrics text: `hosts` hosts, 3 hours, about 30 series per host.
fn input(hosts: usize) -> (String, u64) {
    let steps = 3 * 240;
    let mut s = String::new();
    let mut samples = 0u64;
    let start = 1_763_769_600_000i64;
    s.push_str("# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds counter\n");
    for h in 0..hosts {
        for cpu in 0..4 {
            for mode in ["idle", "user", "system", "iowait"] {
                let mut v = 0u64;
                for i in 0..steps {
                    let t = start + i * 15_000 + 1 + (i * 7 + h as i64) % 9;
                    v += (i as u64 * 31 + h as u64) % 17;
                    let _ = writeln!(
                        s,
                        "node_cpu_seconds_total{{cpu=\"{cpu}\",instance=\"host-{h:03}:9100\",job=\"node\",mode=\"{mode}\"}} {v} {}.{:03}",
                        t / 1000,
                        t % 1000
                    );
                    samples += 1;
                }
            }
        }
    }
    s.push_str("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n");
    for h in 0..hosts {
        for i in 0..steps {
            let t = start + i * 15_000 + 1 + (i * 7 + h as i64) % 9;
            let v = ((i as f64) / 40.0).sin().abs() * 2.0 + h as f64 / 100.0;
            let _ = writeln!(
                s,
                "node_load1{{instance=\"host-{h:03}:9100\",job=\"node\"}} {v} {}.{:03}",
                t / 1000,
                t % 1000
            );
            samples += 1;
        }
    }
    s.push_str("# EOF\n");
    (s, samples)
}

fn bench(c: &mut Criterion) {
    let (text, samples) = input(8);
    let mut group = c.benchmark_group("backfill");
    group.sample_size(10);
    group.throughput(Throughput::Elements(samples));
    group.bench_function("openmetrics_to_blocks", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                let s = backfill_openmetrics(
                    black_box(text.as_bytes()),
                    dir.path(),
                    &BackfillOptions::default(),
                    &mut (),
                )
                .expect("backfill");
                assert_eq!(s.blocks.len(), 2);
                dir
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("tempdir");
    backfill_openmetrics(
        text.as_bytes(),
        dir.path(),
        &BackfillOptions::default(),
        &mut (),
    )
    .expect("backfill");
    let bytes: u64 = walk_size(dir.path());
    let _ = writeln!(
        std::io::stderr(),
        "{samples} samples, {} input bytes, {bytes} bytes of blocks ({:.3} bytes/sample)",
        text.len(),
        bytes as f64 / samples as f64
    );
    group.bench_function("dump_blocks", |b| {
        let all = Matcher::new(MatchOp::Regex, "__name__", ".*").expect("matcher");
        b.iter(|| {
            let blocks = open_blocks(dir.path()).expect("open");
            let q = blocks.merge_querier(i64::MIN, i64::MAX);
            let mut sink = std::io::sink();
            dump_samples(&q, std::slice::from_ref(&all), &mut sink).expect("dump")
        })
    });
    group.finish();
}

fn walk_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).expect("read_dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            total += walk_size(&path);
        } else {
            total += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

// What `criterion_group!`/`criterion_main!` expand to, minus the
// undocumented public function the lints reject.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
