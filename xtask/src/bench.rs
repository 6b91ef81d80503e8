//! Whole-process comparisons against the real peers, in the same run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{root, shared};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("check-metrics") => check_metrics(&args[1..]),
        _ => bail!("usage: cargo xtask bench check-metrics [--size-mb N]"),
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Builds the release binary and returns its path.
pub fn build_ember() -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "ember"])
        .current_dir(root())
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(root().join("target/release/ember"))
}

/// A text-format file of about `mb` megabytes from the shared generator,
/// cached under target/bench-data.
fn text_file(mb: u64) -> Result<PathBuf> {
    let dir = root().join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("metrics-{mb}mb.txt"));
    if path.exists() {
        return Ok(path);
    }
    // One host for one hour is about 1 MB of text.
    let hosts = mb.max(1).to_string();
    let hours = "1";
    let out = File::create(&path)?;
    let status = Command::new("python3")
        .arg(shared().join("tools/gen_openmetrics.py"))
        .args(["--format", "text", "--hosts", &hosts, "--hours", hours])
        .stdout(out)
        .status()
        .context("running gen_openmetrics.py")?;
    if !status.success() {
        let _ = std::fs::remove_file(&path);
        bail!("gen_openmetrics.py failed");
    }
    Ok(path)
}

/// Fastest of `runs` runs of `cmd` with `input` on stdin.
fn time_min(cmd: &[&str], input: &Path, runs: usize) -> Result<(Duration, i32)> {
    let mut best = Duration::MAX;
    let mut code = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let status = Command::new(cmd[0])
            .args(&cmd[1..])
            .stdin(File::open(input)?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {}", cmd[0]))?;
        best = best.min(start.elapsed());
        code = status.code().unwrap_or(-1);
    }
    Ok((best, code))
}

fn check_metrics(args: &[String]) -> Result<()> {
    let mb: u64 = flag(args, "--size-mb").map_or(Ok(100), |s| s.parse())?;
    let runs: usize = flag(args, "--runs").map_or(Ok(3), |s| s.parse())?;
    let ember = build_ember()?;
    let file = text_file(mb)?;
    let empty = root().join("target/bench-data/empty.txt");
    std::fs::write(&empty, b"")?;
    let size = std::fs::metadata(&file)?.len();
    let ember_s = ember.to_string_lossy().to_string();
    let cmds: [(&str, Vec<&str>); 2] = [
        ("ember", vec![ember_s.as_str(), "check", "metrics"]),
        ("promtool", vec!["promtool", "check", "metrics"]),
    ];
    let mut net = Vec::new();
    println!(
        "input: {} ({:.1} MB), best of {runs}",
        file.display(),
        size as f64 / 1e6
    );
    for (name, cmd) in &cmds {
        let (t_empty, _) = time_min(cmd, &empty, runs)?;
        let (t_full, code) = time_min(cmd, &file, runs)?;
        let n = t_full.saturating_sub(t_empty);
        println!(
            "{name:9} full {:8.3} s  empty {:6.3} s  net {:8.3} s  exit {code}  {:7.1} MB/s",
            t_full.as_secs_f64(),
            t_empty.as_secs_f64(),
            n.as_secs_f64(),
            size as f64 / 1e6 / n.as_secs_f64()
        );
        net.push(n.as_secs_f64());
    }
    println!("ratio ember/promtool (net): {:.3}", net[0] / net[1]);
    Ok(())
}
