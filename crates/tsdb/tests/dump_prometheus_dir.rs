//! `dump_dir` on a data directory a real Prometheus 2.42 left behind after
//! a SIGKILL (WAL only, no blocks yet) prints exactly what
//! `promtool tsdb dump` prints, and writes nothing into the directory.
//!
//! Needs `prometheus` and `promtool` on `PATH`; fails when they are missing
//! unless `EMBER_SKIP_EXTERNAL=1`.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ember_model::{MatchOp, Matcher};
use ember_tsdb::dump::dump_dir;

mod common;
use common::copy_dir;

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every file under `dir` with its length and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                out.insert(p.clone(), Vec::new());
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

#[test]
fn dump_matches_promtool_on_crashed_prometheus_dir() {
    if !have("prometheus") || !have("promtool") {
        if std::env::var("EMBER_SKIP_EXTERNAL").as_deref() == Ok("1") {
            eprintln!("skipping: prometheus/promtool not found (EMBER_SKIP_EXTERNAL=1)");
            return;
        }
        panic!(
            "`prometheus` and `promtool` (2.42) must be on PATH; set EMBER_SKIP_EXTERNAL=1 to skip"
        );
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("config");
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).expect("log");
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    std::thread::sleep(Duration::from_secs(8));
    prom.kill().expect("SIGKILL prometheus");
    prom.wait().expect("wait prometheus");
    assert!(data.join("wal").is_dir(), "prometheus wrote no WAL");

    // Ours, on the directory itself: must not change a byte.
    let before = snapshot(&data);
    let matchers = [Matcher::new(MatchOp::Regex, "__name__", ".+").expect("matcher")];
    let mut ours = Vec::new();
    let start = Instant::now();
    let (stats, blocks) =
        dump_dir(&data, i64::MIN, i64::MAX, &matchers, &mut ours).expect("dump_dir");
    eprintln!(
        "ours: {} series, {} samples, {} blocks in {:?}",
        stats.series,
        stats.samples,
        blocks.blocks().len(),
        start.elapsed()
    );
    assert!(stats.samples > 0, "no samples dumped");
    assert!(stats.warnings.is_empty(), "warnings: {:?}", stats.warnings);
    assert_eq!(
        snapshot(&data).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "dump changed the directory's files"
    );
    assert!(
        snapshot(&data) == before,
        "dump changed file contents in the directory"
    );

    // promtool on a copy: its read-only open may still touch the WAL.
    let copy = tmp.path().join("copy");
    copy_dir(&data, &copy);
    let out = Command::new("promtool")
        .args(["tsdb", "dump"])
        .arg(&copy)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).expect("utf-8");
    let ours = String::from_utf8(ours).expect("utf-8");
    let (a, b) = (sorted_lines(&ours), sorted_lines(&theirs));
    if a != b {
        let only_ours: Vec<_> = a
            .iter()
            .filter(|l| b.binary_search(l).is_err())
            .take(10)
            .collect();
        let only_theirs: Vec<_> = b
            .iter()
            .filter(|l| a.binary_search(l).is_err())
            .take(10)
            .collect();
        panic!(
            "dump differs: {} lines ours, {} promtool's\nonly ours: {only_ours:#?}\nonly promtool's: {only_theirs:#?}",
            a.len(),
            b.len()
        );
    }
}
