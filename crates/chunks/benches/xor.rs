//! Encode and decode throughput of XOR chunks on scrape-like data: a 15 s
//! interval with 1-9 ms of jitter, in chunks of 120 samples.

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use ember_chunks::XorChunk;

const SAMPLES_PER_CHUNK: usize = 120;
const CHUNKS: usize = 100;

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn timestamps(rng: &mut Rng, n: usize) -> Vec<i64> {
    let start = 1_700_000_000_000i64;
    (0..n as i64)
        .map(|i| start + i * 15_000 + 1 + rng.below(9) as i64)
        .collect()
}

/// Datasets of `CHUNKS * SAMPLES_PER_CHUNK` samples.
fn datasets() -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let n = CHUNKS * SAMPLES_PER_CHUNK;
    let mut rng = Rng(42);
    let mut out = Vec::new();

    // A request counter: integer increments of 0-199 per scrape.
    let ts = timestamps(&mut rng, n);
    let mut total = 0.0;
    let counter = ts
        .into_iter()
        .map(|t| {
            total += rng.below(200) as f64;
            (t, total)
        })
        .collect();
    out.push(("counter", counter));

    // A noisy gauge: full-precision random walk, e.g. a load average.
    let ts = timestamps(&mut rng, n);
    let mut level = 1.5;
    let gauge = ts
        .into_iter()
        .map(|t| {
            level = (level + (rng.unit() - 0.5) * 0.2_f64).max(0.0);
            (t, level)
        })
        .collect();
    out.push(("gauge", gauge));

    // A gauge of whole bytes that moves now and then (memory in use).
    let ts = timestamps(&mut rng, n);
    let mut bytes = 512.0 * 1024.0 * 1024.0;
    let memory = ts
        .into_iter()
        .map(|t| {
            if rng.below(4) == 0 {
                bytes += (rng.below(1 << 20) as f64) - (1 << 19) as f64;
            }
            (t, bytes)
        })
        .collect();
    out.push(("memory", memory));

    out
}

fn encode(samples: &[(i64, f64)]) -> Vec<XorChunk> {
    samples
        .chunks(SAMPLES_PER_CHUNK)
        .map(|part| {
            let mut c = XorChunk::new();
            for &(t, v) in part {
                // Cannot fail: a chunk holds far more than 120 samples.
                let _ = c.append(t, v);
            }
            c
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = datasets();
    for (name, samples) in &data {
        let chunks = encode(samples);
        let bytes: usize = chunks.iter().map(|c| c.bytes().len()).sum();
        eprintln!(
            "{name}: {:.3} bytes/sample ({} chunks of {SAMPLES_PER_CHUNK})",
            bytes as f64 / samples.len() as f64,
            chunks.len()
        );
    }

    let mut group = c.benchmark_group("xor");
    group.throughput(Throughput::Elements((CHUNKS * SAMPLES_PER_CHUNK) as u64));
    for (name, samples) in &data {
        group.bench_with_input(BenchmarkId::new("encode", name), samples, |b, s| {
            b.iter(|| encode(black_box(s)))
        });
        let chunks = encode(samples);
        group.bench_with_input(BenchmarkId::new("decode", name), &chunks, |b, chunks| {
            b.iter(|| {
                let mut sum = 0.0;
                let mut last = 0;
                for c in black_box(chunks) {
                    for (t, v) in c.iter().flatten() {
                        sum += v;
                        last = t;
                    }
                }
                (sum, last)
            })
        });
    }
    group.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, minus the
// undocumented public function the lints reject.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
