//! Development tasks: `cargo xtask <task>`.
//!
//! - `bench check-metrics [--size-mb N]`: `ember check metrics` against
//!   `promtool check metrics` on the same generated text file.
//! - `bench backfill [--hosts N] [--hours N]`: `ember tsdb create-blocks-from
//!   openmetrics` against promtool's: time, peak memory, bytes on disk.
//! - `bench wal-replay [--series N] [--seconds N] [--runs N]`: Ember's
//!   `Db::open` on a WAL Prometheus 2.42 wrote against Prometheus restarting
//!   on a copy of it (see `bench.rs`).
//! - `promql-conformance [--dir DIR] [-v] [--write-allowed]`: Prometheus'
//!   PromQL test scripts against our engine.

mod bench;
mod conformance;

use std::path::PathBuf;

use anyhow::{bail, Result};

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// `../shared` beside the project root.
fn shared() -> PathBuf {
    root().join("..").join("shared")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("promql-conformance") => conformance::run(&args[1..]),
        Some(other) => bail!("unknown task {other:?}; tasks: bench, promql-conformance"),
        None => bail!("usage: cargo xtask <task> [args]; tasks: bench, promql-conformance"),
    }
}
