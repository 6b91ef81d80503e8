//! Parses what real exporters write: a live node_exporter scraped over
//! HTTP, and the Python client library in both formats.
//!
//! The external programs are required: a missing one fails the test with a
//! message saying what to install, unless `EMBER_SKIP_EXTERNAL=1`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_exposition::{
    accept_header, check_metrics, format_for_content_type, Entry, Format, Parser, ParserOptions,
    ScrapeProtocol,
};
use ember_model::MetricType;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Fails with `why`, or returns false (skip) under `EMBER_SKIP_EXTERNAL=1`.
fn external_available(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("EMBER_SKIP_EXTERNAL").as_deref() == Ok("1") {
        eprintln!("skipped (EMBER_SKIP_EXTERNAL=1): {why}");
        return false;
    }
    panic!("{why} (set EMBER_SKIP_EXTERNAL=1 to skip this test)");
}

/// Kills the child when dropped, so a failing assertion cannot leak it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Label pairs in input order.
type Pairs = Vec<(String, String)>;

/// A parsed series, owned.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Pairs,
    value: f64,
    start_timestamp: Option<i64>,
    exemplar: Option<(Pairs, f64, Option<i64>)>,
}

#[derive(Debug, Default)]
struct Parsed {
    samples: Vec<Sample>,
    types: Vec<(String, MetricType)>,
    helps: Vec<(String, String)>,
    units: Vec<(String, String)>,
}

impl Parsed {
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> &Sample {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(n, v)| s.labels.iter().any(|(ln, lv)| ln == n && lv == v))
            })
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }

    fn type_of(&self, family: &str) -> MetricType {
        self.types
            .iter()
            .find(|(n, _)| n == family)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("no TYPE for {family}"))
    }
}

/// Parses all of `body`; every series must also build a valid label set.
fn parse(body: &[u8], format: Format, options: ParserOptions) -> Parsed {
    let mut p = Parser::new(body, format, options);
    let mut out = Parsed::default();
    loop {
        match p.next() {
            Ok(None) => return out,
            Err(e) => panic!(
                "{format:?} parse error: {e}\n{}",
                String::from_utf8_lossy(body)
            ),
            Ok(Some(Entry::Series(s))) => {
                s.to_labels().expect("valid label set");
                out.samples.push(Sample {
                    name: s.metric_name().to_string(),
                    labels: s
                        .labels()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect(),
                    value: s.value,
                    start_timestamp: s.start_timestamp,
                    exemplar: s.exemplar.map(|e| {
                        e.to_exemplar().expect("valid exemplar");
                        (
                            e.labels()
                                .map(|l| (l.name.to_string(), l.value.to_string()))
                                .collect(),
                            e.value,
                            e.timestamp,
                        )
                    }),
                });
            }
            Ok(Some(Entry::Type {
                metric,
                metric_type,
            })) => out.types.push((metric.to_string(), metric_type)),
            Ok(Some(Entry::Help { metric, text })) => {
                out.helps.push((metric.to_string(), text.to_string()))
            }
            Ok(Some(Entry::Unit { metric, unit })) => {
                out.units.push((metric.to_string(), unit.to_string()))
            }
            Ok(Some(Entry::Comment(_))) => {}
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// `GET path` over plain HTTP/1.1; returns the Content-Type and the body.
fn http_get(port: u16, path: &str, accept: &str) -> (String, Vec<u8>) {
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
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {accept}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    assert!(status.starts_with("HTTP/1.1 200"), "status {status}");
    let mut content_type = String::new();
    let mut chunked = false;
    for line in lines {
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.trim().to_string(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    (content_type, body)
}

/// Decodes `Transfer-Encoding: chunked`.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[test]
fn node_exporter_scrape() {
    if !external_available(
        Path::new(NODE_EXPORTER).exists(),
        &format!("{NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter"),
    ) {
        return;
    }
    let port = free_port();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let mut guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("node_exporter exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "node_exporter did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let text_accept = accept_header(&[ScrapeProtocol::PrometheusText0_0_4], "allow-utf-8");
    let om_accept = accept_header(
        &[
            ScrapeProtocol::OpenMetricsText1_0_0,
            ScrapeProtocol::OpenMetricsText0_0_1,
        ],
        "allow-utf-8",
    );
    let mut text_body = Vec::new();
    for accept in [&text_accept, &om_accept] {
        let (content_type, body) = http_get(port, "/metrics", accept);
        let format = format_for_content_type(&content_type, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .format;
        let parsed = parse(&body, format, ParserOptions::default());
        assert!(
            parsed.samples.len() > 100,
            "only {} samples",
            parsed.samples.len()
        );
        assert_eq!(
            parsed.type_of("node_cpu_seconds_total"),
            MetricType::Counter
        );
        assert_eq!(
            parsed.type_of("go_gc_duration_seconds"),
            MetricType::Summary
        );
        // The Go client writes quantile="0"; Prometheus 3 reads "0.0".
        parsed.find("go_gc_duration_seconds", &[("quantile", "0.0")]);
        assert!(parsed.find("node_memory_MemTotal_bytes", &[]).value > 0.0);
        if format == Format::PrometheusText {
            text_body = body;
        }
    }

    let problems = check_metrics(&text_body).unwrap_or_else(|e| panic!("check_metrics: {e}"));
    let ours: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        ours.contains(&"node_memory_MemTotal_bytes metric names should be written in 'snake_case' not 'camelCase'".to_string()),
        "{ours:?}"
    );
    // Where promtool is installed, our findings must be exactly its own.
    if let Ok(mut promtool) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        promtool
            .stdin
            .take()
            .expect("stdin")
            .write_all(&text_body)
            .expect("feed promtool");
        let out = promtool.wait_with_output().expect("promtool output");
        let theirs: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(ours, theirs);
    }
}

fn python_client(format: &str) -> Option<Vec<u8>> {
    let has_module = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !external_available(
        has_module,
        "python3 with prometheus_client is missing: pip install prometheus_client",
    ) {
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/python_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn python_client_text() {
    let Some(body) = python_client("text") else {
        return;
    };
    let p = parse(&body, Format::PrometheusText, ParserOptions::default());
    assert_eq!(p.type_of("http_requests_total"), MetricType::Counter);
    assert_eq!(
        p.find("http_requests_total", &[("path", "/a\"b\\c\nd")])
            .value,
        3.0
    );
    assert!(p
        .find("room_temperature_celsius", &[("room", "attic")])
        .value
        .is_nan());
    assert_eq!(
        p.find("room_temperature_celsius", &[("room", "oven")])
            .value,
        f64::INFINITY
    );
    assert_eq!(
        p.find("room_temperature_celsius", &[("room", "sun")]).value,
        5.772e9
    );
    assert_eq!(
        p.helps
            .iter()
            .find(|(m, _)| m == "room_temperature_celsius")
            .map(|(_, h)| h.as_str()),
        Some("Temperature \\ with \"quotes\"\nand newline.")
    );
    assert_eq!(
        p.find(
            "request_latency_seconds_bucket",
            &[("handler", "/"), ("le", "10.0")]
        )
        .value,
        2.0
    );
    assert_eq!(
        p.find("request_latency_seconds_sum", &[("handler", "/")])
            .value,
        3.05
    );
    assert_eq!(p.type_of("response_size_bytes"), MetricType::Summary);
    p.find("build_info", &[("version", "1.2.3")]);
    assert_eq!(
        p.find("task_state", &[("task_state", "running")]).value,
        1.0
    );
    assert!(p
        .samples
        .iter()
        .all(|s| s.exemplar.is_none() && s.start_timestamp.is_none()));
    assert_eq!(check_metrics(&body).unwrap_or_else(|e| panic!("{e}")), []);
}

#[test]
fn python_client_openmetrics() {
    let Some(body) = python_client("openmetrics") else {
        return;
    };
    let skip = ParserOptions {
        skip_created_series: true,
    };
    let p = parse(&body, Format::OpenMetrics, skip);
    assert!(p.samples.iter().all(|s| !s.name.ends_with("_created")));
    assert_eq!(p.type_of("http_requests"), MetricType::Counter);
    assert_eq!(p.type_of("build"), MetricType::Info);
    assert_eq!(p.type_of("task_state"), MetricType::Stateset);
    assert_eq!(
        p.units,
        [(
            "room_temperature_celsius".to_string(),
            "celsius".to_string()
        )]
    );
    // Exemplars with float-second timestamps.
    let post = p.find("http_requests_total", &[("method", "POST")]);
    let (labels, value, ts) = post.exemplar.clone().expect("exemplar");
    assert_eq!(labels, [("trace_id".to_string(), "abc123".to_string())]);
    assert_eq!(value, 1.5);
    assert!(ts.is_some_and(|t| t > 1_600_000_000_000));
    let bucket = p.find(
        "request_latency_seconds_bucket",
        &[("handler", "/"), ("le", "0.1")],
    );
    assert_eq!(bucket.exemplar.as_ref().map(|e| e.1), Some(0.05));
    // Start timestamps from the _created lines, for every counter,
    // histogram and summary series.
    for s in &p.samples {
        let has_created = [
            "http_requests_total",
            "request_latency_seconds",
            "response_size_bytes",
        ]
        .iter()
        .any(|f| s.name.starts_with(f));
        assert_eq!(
            s.start_timestamp.is_some_and(|st| st > 1_600_000_000_000),
            has_created,
            "{s:?}"
        );
    }
    // Without skipping, the _created series are there too.
    let all = parse(&body, Format::OpenMetrics, ParserOptions::default());
    assert_eq!(all.samples.len(), p.samples.len() + 5);
    check_metrics(&body).unwrap_or_else(|e| panic!("{e}"));
}
