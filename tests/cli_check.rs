//! `ember check metrics` as a user runs it: on stdin, from a file, from a
//! live node_exporter and from Python's prometheus_client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn check(input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

/// Whether an external program may be missing (`EMBER_SKIP_EXTERNAL=1`);
/// otherwise its absence fails the test.
fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    assert_eq!(
        std::env::var("EMBER_SKIP_EXTERNAL").as_deref(),
        Ok("1"),
        "{what} is missing (install it, or set EMBER_SKIP_EXTERNAL=1)"
    );
    false
}

#[test]
fn valid_text_passes_with_lint_findings() {
    let out = check(b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requests counter metrics should have \"_total\" suffix"),
        "{stderr}"
    );
}

#[test]
fn broken_text_names_the_line() {
    let out = check(b"# TYPE a gauge\na 1\na{b=\"c\"} x\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("3:"), "{stderr}");
}

#[test]
fn openmetrics_is_recognised_by_eof() {
    let ok = check(b"# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1.5\n# EOF\n");
    assert!(ok.status.success(), "{ok:?}");
    let bad = check(b"# TYPE a gauge\na  1\n# EOF\n");
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("2:"));
}

fn http_get(port: u16, accept: &str) -> Vec<u8> {
    // A busy machine may refuse a connection now and then: retry a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect to 127.0.0.1:{port}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect to 127.0.0.1:{port}: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).to_lowercase();
    let body = resp[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 4 + size..];
    }
}

#[test]
fn live_node_exporter() {
    let bin = "/usr/bin/prometheus-node-exporter";
    if !require(std::path::Path::new(bin).exists(), bin) {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node_exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = http_get(port, "text/plain;version=0.0.4");
    let om = http_get(port, "application/openmetrics-text;version=1.0.0");
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.len() > 1000);
    // Debian's node_exporter 1.5 answers in the text format even when asked
    // for OpenMetrics; check whatever it sent.
    for body in [text, om] {
        let out = check(&body);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn python_prometheus_client() {
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !require(probe, "python3 with prometheus_client") {
        return;
    }
    let script = r#"
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, Info, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as om_latest
r = CollectorRegistry()
c = Counter('requests', 'Requests served.', ['code'], registry=r)
c.labels('200').inc(3)
c.labels('500').inc()
Gauge('temperature_celsius', 'Room temperature.', registry=r).set(21.5)
h = Histogram('latency_seconds', 'Latency.', registry=r)
h.observe(0.2, exemplar={'trace_id': 'abc'})
h.observe(3)
s = Summary('payload_bytes', 'Payload sizes.', registry=r)
s.observe(512)
Info('build', 'Build info.', registry=r).info({'version': '1.2.3'})
out = generate_latest(r) if sys.argv[1] == 'text' else om_latest(r)
sys.stdout.buffer.write(out)
"#;
    for fmt in ["text", "openmetrics"] {
        let out = Command::new("python3")
            .args(["-c", script, fmt])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let res = check(&out.stdout);
        assert!(
            res.status.success(),
            "{fmt}: {}\n{}",
            String::from_utf8_lossy(&res.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
