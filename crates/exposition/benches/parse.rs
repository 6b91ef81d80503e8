//! Parse throughput, in bytes and in samples per second, on a real
//! node_exporter capture and on `gen_openmetrics.py` output (20 hosts, one
//! hour; text and OpenMetrics).

use std::path::PathBuf;
use std::process::Command;

use criterion::{BenchmarkId, Criterion, Throughput};
use ember_exposition::{Entry, Format, Parser, ParserOptions};

const GENERATOR: &str = "/work/shared/tools/gen_openmetrics.py";

/// Parses everything; returns the number of samples and a checksum so the
/// work cannot be optimised away.
fn parse(input: &[u8], format: Format, build_labels: bool) -> (usize, f64) {
    let mut p = Parser::new(input, format, ParserOptions::default());
    let (mut n, mut sum) = (0, 0.0);
    while let Some(e) = p.next().expect("valid input") {
        if let Entry::Series(s) = e {
            n += 1;
            sum += s.value + s.metric_name().len() as f64;
            if build_labels {
                sum += s.to_labels().expect("valid labels").len() as f64;
            }
        }
    }
    (n, sum)
}

/// Runs the generator into a temporary file; `None` (with a message) when
/// python3 or the script is missing.
fn generate(format: &str) -> Option<Vec<u8>> {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "ember-bench-gen-{format}-{}.txt",
        std::process::id()
    ));
    let out = std::fs::File::create(&path).ok()?;
    let status = Command::new("python3")
        .args([
            GENERATOR, "--format", format, "--hosts", "20", "--hours", "1",
        ])
        .stdout(out)
        .status();
    let data = match status {
        Ok(s) if s.success() => std::fs::read(&path).ok(),
        Ok(s) => {
            eprintln!("skipping generated data: {GENERATOR} exited with {s}");
            None
        }
        Err(e) => {
            eprintln!("skipping generated data: cannot run python3: {e}");
            None
        }
    };
    let _ = std::fs::remove_file(&path);
    data
}

fn bench_dataset(c: &mut Criterion, name: &str, input: &[u8], format: Format, with_labels: bool) {
    let (samples, _) = parse(input, format, false);
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function(BenchmarkId::new("parse", "bytes"), |b| {
        b.iter(|| parse(input, format, false))
    });
    if with_labels {
        g.bench_function(BenchmarkId::new("parse_to_labels", "bytes"), |b| {
            b.iter(|| parse(input, format, true))
        });
    }
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function(BenchmarkId::new("parse", "samples"), |b| {
        b.iter(|| parse(input, format, false))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let node = include_bytes!("data/node_exporter.txt");
    bench_dataset(c, "node_exporter_text", node, Format::PrometheusText, true);
    match generate("text") {
        Some(data) => bench_dataset(c, "generated_text", &data, Format::PrometheusText, false),
        None => eprintln!("skipping the generated_text group"),
    }
    match generate("openmetrics") {
        Some(data) => bench_dataset(
            c,
            "generated_openmetrics",
            &data,
            Format::OpenMetrics,
            false,
        ),
        None => eprintln!("skipping the generated_openmetrics group"),
    }
}

// What `criterion_group!`/`criterion_main!` expand to, minus the
// undocumented public function the workspace lints reject.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
