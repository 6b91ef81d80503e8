//! Whole-process comparisons against the real peers, in the same run.
//!
//! - `check-metrics`: `ember check metrics` vs `promtool check metrics`.
//! - `backfill`: `ember tsdb create-blocks-from openmetrics` vs promtool's.
//! - `wal-replay [--series N] [--seconds N] [--runs N]`: Ember opening a WAL
//!   that Prometheus 2.42 wrote against Prometheus restarting on it (the
//!   goal: at most half of Prometheus' time). Prometheus (`/usr/bin/prometheus`)
//!   scrapes a generated exposition of N series (default 100,000), served by
//!   `python3 -m http.server` on 127.0.0.1, every second for `--seconds`
//!   (default 60), and is then SIGKILLed so the WAL is neither checkpointed
//!   nor compacted. Each run (default 3) copies that data directory twice:
//!   Prometheus restarts on one copy (timed from spawn to `/-/ready` 200,
//!   polled every 20 ms; the `total_replay_duration` of its "WAL replay
//!   completed" log line is shown too), Ember's `Db::open` runs on the other.
//!   The Ember side must not be timed in the debug build the `cargo xtask`
//!   alias makes, so the bench builds `target/release/xtask` and runs its
//!   hidden `bench wal-replay-ember <dir>` subcommand, which times `Db::open`
//!   in-process and prints `open_ms <ms> series <n> samples <n>`. The ratio
//!   is Ember's `Db::open` over Prometheus' spawn-to-ready (best runs).
//!   Every child is killed on drop; every wait gives up after 120 s.

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
        Some("wal-replay") => wal_replay(&args[1..]),
        Some("wal-replay-ember") => wal_replay_ember(&args[1..]),
        _ => bail!(
            "usage: cargo xtask bench check-metrics [--size-mb N] [--runs N] | \
             backfill [--hosts N] [--hours N] [--runs N] | \
             wal-replay [--series N] [--seconds N] [--runs N]"
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

// ---------------------------------------------------------------------------
// wal-replay
// ---------------------------------------------------------------------------

/// Longest wait for anything the WAL-replay bench waits on.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// A child process killed (SIGKILL) and reaped when dropped, so no path
/// leaves a Prometheus or HTTP server behind.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    /// Kills and reaps the child now.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A plain HTTP/1.0 GET against 127.0.0.1: (status, body). HTTP/1.0 keeps
/// the Go server from chunking the body.
fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad HTTP response from 127.0.0.1:{port}{path}"))?;
    Ok((status, body.to_string()))
}

/// Polls `ok` every `every` until it returns `Some`, failing with `what`
/// after [`WAIT_LIMIT`].
fn wait_for<T>(what: &str, every: Duration, mut ok: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = ok() {
            return Ok(v);
        }
        if start.elapsed() > WAIT_LIMIT {
            bail!(
                "timed out after {} s waiting for {what}",
                WAIT_LIMIT.as_secs()
            );
        }
        std::thread::sleep(every);
    }
}

/// The sum over all series of `name` in a text exposition.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        *found.get_or_insert(0.0) += v;
    }
    found
}

/// Writes a text exposition of `series` series: metric names of 100
/// series each (`instance_id` label), alternately counters and gauges.
fn write_exposition(path: &Path, series: u64) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(File::create(path)?);
    let per_name = 100;
    let names = series.div_ceil(per_name);
    let mut left = series;
    for n in 0..names {
        let (kind, name) = if n % 2 == 0 {
            ("counter", format!("walbench_requests_{n}_total"))
        } else {
            ("gauge", format!("walbench_level_{n}"))
        };
        writeln!(out, "# HELP {name} Generated for the WAL replay bench.")?;
        writeln!(out, "# TYPE {name} {kind}")?;
        for v in 0..per_name.min(left) {
            let value = (n * 7919 + v * 104_729) % 1_000_003;
            writeln!(
                out,
                "{name}{{instance_id=\"i-{v:03}\",zone=\"z{}\"}} {value}",
                v % 4
            )?;
        }
        left = left.saturating_sub(per_name);
    }
    out.flush()?;
    Ok(())
}

/// Recursive copy of `from` into the new directory `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Starts Prometheus on `data` with `config`, listening on 127.0.0.1:`port`,
/// logging to `log`.
fn spawn_prometheus(config: &Path, data: &Path, port: u16, log: &Path) -> Result<KillOnDrop> {
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log)?)
        .spawn()
        .context("starting prometheus (apt-get install prometheus)")?;
    Ok(KillOnDrop(child))
}

/// Parses a Go duration such as `1.5s`, `250.3ms`, `12µs` or `1m2.5s`.
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// `total_replay_duration` of Prometheus' "WAL replay completed" log line.
fn logged_replay(log: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("WAL replay completed"))?;
    let field = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total_replay_duration="))?;
    go_duration(field)
}

/// Step 1: a Prometheus data directory whose WAL holds `seconds` of 1 s
/// scrapes of `series` series, killed before any checkpoint.
/// Returns (series in Prometheus' head, samples appended).
fn build_prometheus_wal(work: &Path, data: &Path, series: u64, seconds: u64) -> Result<(u64, u64)> {
    let serve = work.join("serve");
    std::fs::create_dir_all(&serve)?;
    let metrics = serve.join("metrics.txt");
    write_exposition(&metrics, series)?;
    println!(
        "exposition: {} ({series} series, {:.1} MB)",
        metrics.display(),
        std::fs::metadata(&metrics)?.len() as f64 / 1e6
    );

    let http_port = free_port()?;
    let _http = KillOnDrop(
        Command::new("python3")
            .args(["-m", "http.server", &http_port.to_string()])
            .args(["--bind", "127.0.0.1", "--directory"])
            .arg(&serve)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting python3 -m http.server")?,
    );
    wait_for("python3 http.server", Duration::from_millis(50), || {
        matches!(http_get(http_port, "/metrics.txt"), Ok((200, _))).then_some(())
    })?;

    let config = work.join("scrape.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: walbench\n    metrics_path: /metrics.txt\n    \
             static_configs:\n      - targets: ['127.0.0.1:{http_port}']\n"
        ),
    )?;
    let prom_port = free_port()?;
    let log = work.join("prometheus-scrape.log");
    let mut prom = spawn_prometheus(&config, data, prom_port, &log)?;
    let appended = |port| -> Option<(u64, u64)> {
        let (code, body) = http_get(port, "/metrics").ok()?;
        if code != 200 {
            return None;
        }
        let samples = metric_sum(&body, "prometheus_tsdb_head_samples_appended_total")?;
        let heads = metric_sum(&body, "prometheus_tsdb_head_series")?;
        Some((heads as u64, samples as u64))
    };
    wait_for(
        "Prometheus' first scrape",
        Duration::from_millis(200),
        || {
            if let Ok(Some(status)) = prom.0.try_wait() {
                return Some(Err(anyhow::anyhow!(
                    "prometheus exited with {status}; see {}",
                    log.display()
                )));
            }
            appended(prom_port).filter(|&(_, n)| n >= series).map(Ok)
        },
    )??;
    let (code, body) = http_get(prom_port, "/api/v1/query?query=count(up==1)")?;
    if code != 200 || !body.contains("\"success\"") {
        bail!("Prometheus query failed: {code} {body}");
    }
    println!("scraping for {seconds} s ...");
    std::thread::sleep(Duration::from_secs(seconds));
    let (heads, samples) = appended(prom_port)
        .context("reading prometheus_tsdb_head_samples_appended_total before the kill")?;
    // SIGKILL: no checkpoint, no head compaction; the WAL is left as is.
    prom.kill();
    if heads < series {
        bail!("Prometheus' head has {heads} series, expected at least {series}");
    }
    Ok((heads, samples))
}

/// `cargo xtask bench wal-replay-ember <dir>` (hidden, run from the release
/// binary): opens `dir` with `Db::open`, prints
/// `open_ms <ms> series <n> samples <n>`.
fn wal_replay_ember(args: &[String]) -> Result<()> {
    let dir = args
        .first()
        .context("usage: bench wal-replay-ember <dir>")?;
    let start = Instant::now();
    let db = ember_tsdb::Db::open(dir, ember_tsdb::DbOptions::default())
        .with_context(|| format!("Db::open({dir})"))?;
    let elapsed = start.elapsed();
    let series = db.head().num_series();
    let samples = db.head().replay_report().samples;
    db.close()?;
    println!(
        "open_ms {:.3} series {series} samples {samples}",
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Builds the release xtask (for the Ember side) and returns its path.
fn build_release_xtask() -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "xtask"])
        .current_dir(root())
        .status()?;
    if !status.success() {
        bail!("cargo build --release -p xtask failed");
    }
    Ok(root().join("target/release/xtask"))
}

/// One Prometheus restart on `data`: (spawn to `/-/ready`, logged replay).
fn time_prometheus_restart(work: &Path, data: &Path) -> Result<(Duration, Option<Duration>)> {
    let config = work.join("empty.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n")?;
    let port = free_port()?;
    let log = work.join("prometheus-restart.log");
    let start = Instant::now();
    let mut prom = spawn_prometheus(&config, data, port, &log)?;
    let ready = wait_for("Prometheus /-/ready", Duration::from_millis(20), || {
        if let Ok(Some(status)) = prom.0.try_wait() {
            return Some(Err(anyhow::anyhow!(
                "prometheus exited with {status}; see {}",
                log.display()
            )));
        }
        matches!(http_get(port, "/-/ready"), Ok((200, _))).then(|| Ok(start.elapsed()))
    })??;
    prom.kill();
    Ok((ready, logged_replay(&log)))
}

/// One Ember open of `data` through the release binary: (Db::open time,
/// process wall time, series, samples).
fn time_ember_open(xtask: &Path, data: &Path) -> Result<(Duration, Duration, u64, u64)> {
    let start = Instant::now();
    let child = Command::new(xtask)
        .args(["bench", "wal-replay-ember"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut child = KillOnDrop(child);
    // Bounded wait; the guard kills the child if we bail out. The output is
    // one short line, well within the pipe buffer.
    let status = wait_for("ember Db::open", Duration::from_millis(5), || {
        child.0.try_wait().transpose()
    })??;
    let wall = start.elapsed();
    let mut stdout = String::new();
    if let Some(mut out) = child.0.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout)?;
    }
    if !status.success() {
        bail!("ember open of {} failed: {status}", data.display());
    }
    let text = stdout;
    let words: Vec<&str> = text.split_whitespace().collect();
    let field = |k: &str| -> Result<&str> {
        let i = words
            .iter()
            .position(|w| *w == k)
            .with_context(|| format!("no {k} in {text:?}"))?;
        words.get(i + 1).copied().context("truncated output")
    };
    let ms: f64 = field("open_ms")?.parse()?;
    Ok((
        Duration::from_secs_f64(ms / 1e3),
        wall,
        field("series")?.parse()?,
        field("samples")?.parse()?,
    ))
}

/// Ember's `Db::open` against a Prometheus restart on copies of the same
/// WAL that Prometheus 2.42 wrote.
fn wal_replay(args: &[String]) -> Result<()> {
    let series: u64 = flag(args, "--series").map_or(Ok(100_000), |s| s.parse())?;
    let seconds: u64 = flag(args, "--seconds").map_or(Ok(60), |s| s.parse())?;
    let runs: usize = flag(args, "--runs").map_or(Ok(3), |s| s.parse())?;
    let xtask = build_release_xtask()?;
    let work = root().join("target/bench-data/walbench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let original = work.join("prometheus-data");
    let (heads, samples) = build_prometheus_wal(&work, &original, series, seconds)?;
    let wal_bytes = dir_size(&original.join("wal"))?;
    let chunks_bytes = dir_size(&original.join("chunks_head")).unwrap_or(0);
    println!(
        "WAL: {wal_bytes} bytes ({:.1} MB), chunks_head {chunks_bytes} bytes; \
         head series {heads}, samples appended {samples}",
        wal_bytes as f64 / 1e6
    );

    let mut best_prom = Duration::MAX;
    let mut best_logged: Option<Duration> = None;
    let mut best_ember = Duration::MAX;
    let mut best_ember_wall = Duration::MAX;
    for run in 1..=runs {
        let copy = tempfile::Builder::new()
            .prefix("walbench-run")
            .tempdir_in(&work)?;
        let (a, b) = (copy.path().join("a"), copy.path().join("b"));
        copy_dir(&original, &a)?;
        copy_dir(&original, &b)?;
        let (ready, logged) = time_prometheus_restart(&work, &a)?;
        let (open, wall, e_series, e_samples) = time_ember_open(&xtask, &b)?;
        println!(
            "run {run}: prometheus ready {:8.3} s (logged replay {})  \
             ember Db::open {:8.3} s (process {:.3} s; {e_series} series, {e_samples} samples)",
            ready.as_secs_f64(),
            logged.map_or("?".into(), |d| format!("{:.3} s", d.as_secs_f64())),
            open.as_secs_f64(),
            wall.as_secs_f64()
        );
        if e_series != heads {
            bail!("Ember's head has {e_series} series, Prometheus' had {heads}");
        }
        best_prom = best_prom.min(ready);
        if let Some(l) = logged {
            best_logged = Some(best_logged.map_or(l, |b| b.min(l)));
        }
        best_ember = best_ember.min(open);
        best_ember_wall = best_ember_wall.min(wall);
    }
    println!("best of {runs}:");
    println!("  WAL bytes                      {wal_bytes}");
    println!("  samples (appended)             {samples}");
    println!("  series                         {heads}");
    println!(
        "  prometheus restart-to-ready    {:.3} s",
        best_prom.as_secs_f64()
    );
    if let Some(l) = best_logged {
        println!("  prometheus logged WAL replay   {:.3} s", l.as_secs_f64());
    }
    println!(
        "  ember Db::open                 {:.3} s (whole process {:.3} s)",
        best_ember.as_secs_f64(),
        best_ember_wall.as_secs_f64()
    );
    let ratio = best_ember.as_secs_f64() / best_prom.as_secs_f64();
    println!(
        "  ratio ember/prometheus         {ratio:.3} (goal <= 0.5: {})",
        if ratio <= 0.5 { "met" } else { "NOT met" }
    );
    if let Some(l) = best_logged {
        println!(
            "  ratio ember/logged replay      {:.3}",
            best_ember.as_secs_f64() / l.as_secs_f64()
        );
    }
    Ok(())
}
