//! Out-of-order compatibility with the real Prometheus 2.42: Prometheus
//! ingests out-of-order samples (scraped with explicit, ever older
//! timestamps) into its WAL, WBL and `chunks_head/`, is stopped (killed
//! with SIGKILL, or shut down with SIGTERM so its out-of-order chunks
//! reach `chunks_head/`), and Ember opens the directory and sees exactly
//! those samples.
//!
//! And the other way round: `promtool tsdb dump` (Prometheus' own replay
//! of `wal/`, `wbl/` and `chunks_head/`) reads the out-of-order data Ember
//! wrote.
//!
//! Needs `/usr/bin/prometheus` (or `$PROMETHEUS`) and `/usr/bin/promtool`;
//! skipped with a note when they are missing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ember_model::Matcher;
use ember_storage::{Querier, ValueType};
use ember_tsdb::head::{HeadOptions, ReplayReport};
use ember_tsdb::{Db, DbOptions};

/// Distinct scrape responses: the first in order, the rest each one
/// second older than the one before (more than Prometheus' 32-sample
/// out-of-order buffer, so it cuts out-of-order chunks).
const RESPONSES: usize = 50;
const SERIES: usize = 4;

fn body(n: usize, base: i64) -> String {
    let t = base - n as i64 * 1000;
    let mut s = String::from("# TYPE m gauge\n");
    for i in 0..SERIES {
        s.push_str(&format!("m{{i=\"{i}\"}} {} {t}\n", n * 10 + i));
    }
    s
}

/// Serves response `min(n, RESPONSES - 1)` to the `n`-th request; counts
/// requests.
fn serve(listener: TcpListener, base: i64, served: Arc<AtomicUsize>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => req.extend_from_slice(&buf[..k]),
            }
        }
        let n = served.load(Ordering::SeqCst);
        let b = body(n.min(RESPONSES - 1), base);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        );
        if stream.write_all(resp.as_bytes()).is_ok() {
            served.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn ember_sees_the_out_of_order_samples_of_a_killed_prometheus() {
    let Some(rep) = run(false) else { return };
    // Prometheus' chunks were still buffered: all from the WBL.
    assert!(rep.ooo_samples > 0, "{rep:?}");
}

#[test]
fn ember_takes_over_the_out_of_order_chunks_of_a_stopped_prometheus() {
    let Some(rep) = run(true) else { return };
    assert!(rep.ooo_mmapped_chunks > 0, "{rep:?}");
}

/// Runs Prometheus against the target until every response is in, stops
/// it (SIGTERM if `graceful`, else SIGKILL), opens its directory with
/// Ember and checks the samples; returns what Ember replayed, or `None`
/// if Prometheus is not installed.
fn run(graceful: bool) -> Option<ReplayReport> {
    let prometheus = std::env::var_os("PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    if !prometheus.exists() {
        eprintln!(
            "skipping: {} not found (Prometheus 2.42 needed)",
            prometheus.display()
        );
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_port = target.local_addr().unwrap().port();
    let web_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let base = now.as_millis() as i64 - 60_000;
    let served = Arc::new(AtomicUsize::new(0));
    {
        let served = served.clone();
        std::thread::spawn(move || serve(target, base, served));
    }
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 90ms\n\
             storage:\n  tsdb:\n    out_of_order_time_window: 1h\n\
             scrape_configs:\n  - job_name: ooo\n    static_configs:\n      \
             - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).unwrap();
    let mut prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    // A scrape is committed before the next one starts: once two more
    // were served, every distinct response is in.
    let started = Instant::now();
    while served.load(Ordering::SeqCst) < RESPONSES + 2 {
        if let Some(status) = prom.try_wait().unwrap() {
            let log = std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap();
            panic!("prometheus exited early ({status}): {log}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "prometheus scraped only {} times",
            served.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if graceful {
        let ok = Command::new("kill")
            .args(["-TERM", &prom.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    } else {
        prom.kill().expect("SIGKILL prometheus");
    }
    prom.wait().unwrap();
    assert!(data.join("wbl").is_dir(), "prometheus wrote no WBL");

    let opts = DbOptions {
        head: HeadOptions {
            out_of_order_time_window: 3_600_000,
            ..HeadOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Db::open(&data, opts).unwrap();
    let rep = db.head().replay_report();
    assert_eq!(rep.wbl_corruption, None);
    let q = db.merge_querier(i64::MIN, i64::MAX);
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", "m")])
        .unwrap();
    let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut pts = Vec::new();
        while it.next() == ValueType::Float {
            pts.push(it.at());
        }
        assert!(it.error().is_none(), "{:?}", it.error());
        got.insert(s.labels().to_string(), pts);
    }
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..SERIES {
        let pts = (0..RESPONSES)
            .rev()
            .map(|n| (base - n as i64 * 1000, (n * 10 + i) as f64))
            .collect();
        want.insert(
            format!(
                "{{__name__=\"m\", i=\"{i}\", instance=\"127.0.0.1:{target_port}\", job=\"ooo\"}}"
            ),
            pts,
        );
    }
    assert_eq!(got, want);
    Some(rep)
}

/// The samples `promtool tsdb dump` prints for `m`, by series.
fn promtool_dump(dir: &std::path::Path) -> Option<BTreeMap<String, Vec<(i64, f64)>>> {
    let tool = std::path::Path::new("/usr/bin/promtool");
    if !tool.exists() {
        eprintln!("skipping: promtool not found");
        return None;
    }
    let out = Command::new(tool)
        .args(["tsdb", "dump", "--match", "{__name__=\"m\"}"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (labels, rest) = line.rsplit_once("} ").unwrap();
        let mut it = rest.split(' ');
        let v: f64 = it.next().unwrap().parse().unwrap();
        let t: i64 = it.next().unwrap().parse().unwrap();
        got.entry(format!("{labels}}}")).or_default().push((t, v));
    }
    Some(got)
}

#[test]
fn promtool_reads_the_out_of_order_data_ember_wrote() {
    use ember_model::{labels, Sample};
    use ember_storage::{Appender, SeriesRef};
    let tmp = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        head: HeadOptions {
            out_of_order_time_window: 3_600_000,
            out_of_order_cap_max: 4,
            ..HeadOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Db::open(tmp.path(), opts).unwrap();
    let l = labels!("__name__" => "m");
    let mut want = Vec::new();
    for k in (0..30i64).rev() {
        let mut app = db.head_appender();
        app.append(
            SeriesRef(0),
            &l,
            Sample::float(1_000_000 + k * 1000, k as f64),
        )
        .unwrap();
        app.commit().unwrap();
        want.push((1_000_000 + k * 1000, k as f64));
    }
    want.reverse();
    db.close().unwrap();
    let copy = tempfile::tempdir().unwrap();
    for sub in ["wal", "wbl", "chunks_head"] {
        std::fs::create_dir_all(copy.path().join(sub)).unwrap();
        for e in std::fs::read_dir(tmp.path().join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), copy.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    let Some(got) = promtool_dump(copy.path()) else {
        return;
    };
    assert_eq!(got.get("{__name__=\"m\"}"), Some(&want));
}
