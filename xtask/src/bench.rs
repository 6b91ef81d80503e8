//! Whole-process comparisons against the real peers, in the same run.
//!
//! - `check-metrics`: `ember check metrics` vs `promtool check metrics`.
//! - `backfill`: `ember tsdb create-blocks-from openmetrics` vs promtool's.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{root, shared};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("check-metrics") => check_metrics(&args[1..]),
        Some("backfill") => backfill(&args[1..]),
        _ => bail!(
            "usage: cargo xtask bench check-metrics [--size-mb N] [--runs N] | \
             backfill [--hosts N] [--hours N] [--runs N]"
        ),
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

/// Bytes of all files below `dir`.
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Runs `cmd` under GNU time; returns (wall seconds, peak RSS in KiB).
fn time_rss(cmd: &[&str]) -> Result<(f64, u64)> {
    let rss_file = root().join("target/bench-data/rss.txt");
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running /usr/bin/time (apt-get install time)")?;
    let wall = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{} failed", cmd.join(" "));
    }
    let rss = std::fs::read_to_string(&rss_file)?
        .lines()
        .last()
        .unwrap_or("0")
        .trim()
        .parse()?;
    Ok((wall, rss))
}

/// `ember tsdb create-blocks-from openmetrics` against promtool's on the
/// same generated file: wall time, peak RSS and bytes on disk.
fn backfill(args: &[String]) -> Result<()> {
    let hosts = flag(args, "--hosts").unwrap_or_else(|| "200".into());
    let hours = flag(args, "--hours").unwrap_or_else(|| "6".into());
    let runs: usize = flag(args, "--runs").map_or(Ok(2), |s| s.parse())?;
    let ember = build_ember()?;
    let data = root().join("target/bench-data");
    std::fs::create_dir_all(&data)?;
    let input = data.join(format!("backfill-{hosts}h-{hours}h.om"));
    if !input.exists() {
        let status = Command::new("python3")
            .arg(shared().join("tools/gen_openmetrics.py"))
            .args(["--hosts", &hosts, "--hours", &hours])
            .stdout(File::create(&input)?)
            .status()?;
        if !status.success() {
            let _ = std::fs::remove_file(&input);
            bail!("gen_openmetrics.py failed");
        }
    }
    let input_s = input.to_string_lossy().to_string();
    let ember_s = ember.to_string_lossy().to_string();
    println!(
        "input: {} ({:.1} MB), {runs} runs each, alternating",
        input.display(),
        std::fs::metadata(&input)?.len() as f64 / 1e6
    );
    let mut best: [(f64, u64, u64); 2] = [(f64::MAX, u64::MAX, 0); 2];
    for _ in 0..runs {
        for (i, name) in ["promtool", "ember"].iter().enumerate() {
            let out = data.join(format!("backfill-out-{name}"));
            let _ = std::fs::remove_dir_all(&out);
            let out_s = out.to_string_lossy().to_string();
            let cmd: Vec<&str> = if i == 0 {
                vec![
                    "promtool",
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    &input_s,
                    &out_s,
                ]
            } else {
                vec![
                    &ember_s,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--quiet",
                    &input_s,
                    &out_s,
                ]
            };
            let (wall, rss) = time_rss(&cmd)?;
            let size = dir_size(&out)?;
            println!(
                "{name:9} wall {wall:7.2} s  peak RSS {:8.1} MB  on disk {size} bytes",
                rss as f64 / 1024.0
            );
            best[i] = (best[i].0.min(wall), best[i].1.min(rss), size);
            std::fs::remove_dir_all(&out)?;
        }
    }
    let (p, e) = (best[0], best[1]);
    println!(
        "ratios ember/promtool (best runs): time {:.3}  peak memory {:.3}  bytes on disk {:.5}",
        e.0 / p.0,
        e.1 as f64 / p.1 as f64,
        e.2 as f64 / p.2 as f64
    );
    Ok(())
}
