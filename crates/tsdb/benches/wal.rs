//! WAL throughput: logging commits (one samples record of 1,000 float
//! samples each, as the head writes per scrape batch) with and without
//! snappy, and replaying a WAL (reading, CRC checks, decompression and
//! record decoding). Run with `cargo bench -p ember-tsdb --bench wal`.

use criterion::{black_box, BatchSize, Criterion, Throughput};
use ember_tsdb::wal::record::{self, Decoder, RefSample};
use ember_tsdb::wal::{Compression, Wal, WalOptions};

const SAMPLES: u64 = 1000;

/// One commit's samples record at step `i`: `SAMPLES` series, slowly
/// changing counter-like values.
fn samples_record(i: i64) -> Vec<u8> {
    let samples: Vec<RefSample> = (0..SAMPLES)
        .map(|r| RefSample {
            series_ref: r + 1,
            t: 1_763_769_600_000 + i * 15_000,
            v: (i as f64) * (r % 7) as f64 + 0.5,
            st: 0,
        })
        .collect();
    let mut b = Vec::new();
    record::encode_samples(&samples, &mut b);
    b
}

fn bench_log(c: &mut Criterion) {
    let recs: Vec<Vec<u8>> = (0..64).map(samples_record).collect();
    let mut g = c.benchmark_group("wal_log");
    g.throughput(Throughput::Elements(SAMPLES));
    for (name, compression) in [("snappy", Compression::Snappy), ("none", Compression::None)] {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(
            dir.path(),
            WalOptions {
                compression,
                ..Default::default()
            },
        )
        .unwrap();
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                wal.log(&[&recs[i % recs.len()]]).unwrap();
            })
        });
        wal.close().unwrap();
    }
    g.finish();
}

fn bench_replay(c: &mut Criterion) {
    let steps = 2000;
    let mut g = c.benchmark_group("wal_replay");
    g.throughput(Throughput::Elements(steps as u64 * SAMPLES));
    g.sample_size(10);
    for (name, compression) in [("snappy", Compression::Snappy), ("none", Compression::None)] {
        let dir = tempfile::tempdir().unwrap();
        let o = WalOptions {
            compression,
            segment_size: 8 << 20,
        };
        let wal = Wal::open(dir.path(), o).unwrap();
        for i in 0..steps {
            wal.log(&[samples_record(i)]).unwrap();
        }
        wal.close().unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let copy = tempfile::tempdir().unwrap();
                    for e in std::fs::read_dir(dir.path()).unwrap() {
                        let e = e.unwrap();
                        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
                    }
                    copy
                },
                |copy| {
                    let wal = Wal::open(copy.path(), o).unwrap();
                    let mut dec = Decoder::new();
                    let mut n = 0usize;
                    let mut buf = Vec::new();
                    wal.replay(|rec| {
                        buf.clear();
                        dec.samples(rec, &mut buf)?;
                        n += buf.len();
                        Ok(())
                    })
                    .unwrap();
                    black_box(n);
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    bench_log(&mut c);
    bench_replay(&mut c);
    c.final_summary();
}
