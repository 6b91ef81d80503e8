//! WAL compatibility with the real Prometheus 2.42: Ember reads the WAL a
//! running Prometheus wrote (killed with SIGKILL mid-flight), and
//! Prometheus' own WAL replay (through `promtool tsdb dump`) reads a WAL
//! Ember wrote.
//!
//! Needs `/usr/bin/prometheus` and `/usr/bin/promtool` (or `$PROMETHEUS`,
//! `$PROMTOOL`). Set `EMBER_SKIP_EXTERNAL=1` to skip these tests where
//! they are not installed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ember_model::{Labels, MetricType};
use ember_tsdb::wal::record::{
    self, Decoder, Record, RefExemplar, RefHistogramSample, RefMetadata, RefSample, RefSeries,
};
use ember_tsdb::wal::{segment_name, Compression, Reader, SegmentRange, Wal, WalOptions};

fn skip() -> bool {
    std::env::var("EMBER_SKIP_EXTERNAL").is_ok_and(|v| v == "1")
}

fn tool(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        p.exists(),
        "{} not found (install Prometheus 2.42, set {var}, or set EMBER_SKIP_EXTERNAL=1 to skip \
         these tests)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs Prometheus scraping itself every second for about six seconds,
/// then kills it with SIGKILL. Returns the data directory.
fn run_prometheus(base: &Path) -> (PathBuf, u16) {
    let prometheus = tool("PROMETHEUS", "/usr/bin/prometheus");
    let port = free_port();
    let config = base.join("prometheus.yml");
    fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      \
             - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let data = base.join("data");
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prometheus");
    let started = Instant::now();
    // Run ~6 s, then until the WAL holds a few scrapes (startup takes a
    // moment on a loaded machine), at most 60 s.
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "prometheus exited early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let elapsed = started.elapsed();
        if elapsed > Duration::from_secs(60)
            || (elapsed > Duration::from_secs(6) && up_samples(&data.join("wal")) >= 4)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    child.kill().expect("SIGKILL prometheus");
    let _ = child.wait_with_output();
    (data, port)
}

/// Samples of `up` in the WAL so far (0 on any error: it is being written).
fn up_samples(wal_dir: &Path) -> usize {
    let Ok(mut r) = Reader::open(&[SegmentRange::all(wal_dir)]) else {
        return 0;
    };
    let mut dec = Decoder::new();
    let mut up = None;
    let mut n = 0;
    while let Ok(Some(rec)) = r.next_record() {
        match dec.decode(rec) {
            Ok(Record::Series(v)) => {
                if let Some(s) = v.iter().find(|s| s.labels.metric_name() == Some("up")) {
                    up = Some(s.series_ref);
                }
            }
            Ok(Record::Samples(v)) => {
                n += v.iter().filter(|s| Some(s.series_ref) == up).count();
            }
            _ => {}
        }
    }
    n
}

#[test]
fn ember_reads_the_wal_of_a_killed_prometheus() {
    if skip() {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let (data, port) = run_prometheus(base.path());
    assert!(
        up_samples(&data.join("wal")) >= 3,
        "Prometheus scraped too little"
    );
    let wal_dir = data.join("wal");
    let segs = ember_tsdb::wal::segments(&wal_dir)
        .unwrap()
        .expect("segments");

    // Prometheus 2.42 compresses with snappy by default.
    let first = fs::read(segment_name(&wal_dir, segs.0)).unwrap();
    assert!(first[0] & 0x08 != 0, "first record is snappy-compressed");

    let mut r = Reader::open(&[SegmentRange::all(&wal_dir)]).unwrap();
    let mut dec = Decoder::new();
    let mut series: HashMap<u64, Labels> = HashMap::new();
    let mut samples: BTreeMap<u64, Vec<(i64, f64)>> = BTreeMap::new();
    let mut records = 0;
    while let Some(rec) = r
        .next_record()
        .expect("Prometheus' WAL reads without error")
    {
        records += 1;
        match dec.decode(rec).expect("record decodes") {
            Record::Series(v) => {
                for s in v {
                    series.insert(s.series_ref, s.labels);
                }
            }
            Record::Samples(v) => {
                for s in v {
                    assert!(
                        series.contains_key(&s.series_ref),
                        "sample of unknown series {}",
                        s.series_ref
                    );
                    samples.entry(s.series_ref).or_default().push((s.t, s.v));
                }
            }
            Record::Unknown(t) => panic!("unknown record type {t:?}"),
            _ => {}
        }
    }
    assert_eq!(dec.stats().unknown_records, 0);
    let find = |name: &str| {
        series
            .iter()
            .find(|(_, l)| l.metric_name() == Some(name))
            .map(|(r, l)| (*r, l.clone()))
            .unwrap_or_else(|| panic!("no {name} series among {}", series.len()))
    };
    let (up_ref, up) = find("up");
    assert_eq!(up.get("job"), Some("prometheus"));
    let instance = format!("127.0.0.1:{port}");
    assert_eq!(up.get("instance"), Some(instance.as_str()));
    let (_, build) = find("prometheus_build_info");
    assert!(
        build.get("version").is_some_and(|v| v.starts_with("2.42")),
        "{build}"
    );
    let ups = &samples[&up_ref];
    assert!(ups.len() >= 3, "{} up samples", ups.len());
    assert!(ups.iter().all(|&(_, v)| v == 1.0));
    assert!(ups.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(series.len() > 100 && records > 5);

    // And as a full replay (on a copy: replay starts a new segment).
    let copy = base.path().join("copy");
    fs::create_dir_all(&copy).unwrap();
    for e in fs::read_dir(&wal_dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let wal = Wal::open(&copy, WalOptions::default()).unwrap();
    let mut n = 0;
    let stats = wal
        .replay(|rec| {
            Decoder::new().decode(rec)?;
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(stats.corruption, None);
    assert_eq!(n, records);
}

/// Writes a WAL as the head would, with small segments (several cuts),
/// records spanning pages and snappy; returns the expected dump lines.
fn write_ember_wal(wal_dir: &Path) -> Vec<(String, f64, i64)> {
    let wal = Wal::open(
        wal_dir,
        WalOptions {
            segment_size: 2 * 32 * 1024,
            compression: Compression::Snappy,
        },
    )
    .unwrap();
    wal.replay(|_| Ok(())).unwrap();
    let t0 = 1_700_000_000_000i64;
    let nseries = 400u64;
    let all: Vec<RefSeries> = (1..=nseries)
        .map(|r| RefSeries {
            series_ref: r,
            labels: Labels::from_pairs([
                ("__name__", "ember_wal_test".to_string()),
                ("i", r.to_string()),
                ("pad", pad(r)),
            ])
            .unwrap(),
        })
        .collect();
    let mut buf = Vec::new();
    record::encode_series(&all, &mut buf);
    assert!(buf.len() > 32 * 1024, "the series record spans pages");
    let mut meta = Vec::new();
    record::encode_metadata(
        &[RefMetadata {
            series_ref: 1,
            metric_type: MetricType::Gauge,
            unit: "seconds".into(),
            help: "Ember's WAL test series.".into(),
        }],
        &mut meta,
    );
    wal.log(&[buf, meta]).unwrap();
    let mut want = Vec::new();
    for step in 0..60i64 {
        let t = t0 + step * 15_000;
        let samples: Vec<RefSample> = (1..=nseries)
            .map(|r| RefSample {
                series_ref: r,
                t,
                v: r as f64 + step as f64 * 0.25,
                st: 0,
            })
            .collect();
        for s in &samples {
            want.push((
                format!(
                    "{{__name__=\"ember_wal_test\", i=\"{}\", pad=\"{}\"}}",
                    s.series_ref,
                    pad(s.series_ref)
                ),
                s.v,
                s.t,
            ));
        }
        let mut b = Vec::new();
        record::encode_samples(&samples, &mut b);
        let mut recs = vec![b];
        if step % 10 == 0 {
            let mut e = Vec::new();
            record::encode_exemplars(
                &[RefExemplar {
                    series_ref: 1,
                    t,
                    v: 0.5,
                    labels: Labels::from_pairs([("trace_id", format!("t{step}"))]).unwrap(),
                }],
                &mut e,
            );
            recs.push(e);
            // A custom-buckets histogram record (type 9), which 2.42 does
            // not know and must skip.
            let mut h = Vec::new();
            let hist = ember_model::Histogram {
                schema: -53,
                count: 1,
                sum: 1.0,
                custom_values: vec![1.0],
                ..Default::default()
            };
            assert!(record::encode_custom_buckets_histogram_samples(
                &[RefHistogramSample {
                    series_ref: nseries + 1,
                    t,
                    st: 0,
                    h: hist,
                }],
                &mut h,
            ));
            recs.push(h);
        }
        wal.log(&recs).unwrap();
    }
    wal.close().unwrap();
    let (first, last) = ember_tsdb::wal::segments(wal_dir).unwrap().unwrap();
    assert!(last > first + 2, "several segments: {first}..{last}");
    let s0 = fs::read(segment_name(wal_dir, first)).unwrap();
    assert_eq!(s0[0], 0x0a, "the series record: a first fragment, snappy");
    want
}

/// A label value that snappy cannot shrink much (so records span pages).
fn pad(r: u64) -> String {
    let mut x = r.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..6)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect()
}

#[test]
fn prometheus_replays_a_wal_ember_wrote() {
    if skip() {
        return;
    }
    let promtool = tool("PROMTOOL", "/usr/bin/promtool");
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    fs::create_dir_all(data.join("chunks_head")).unwrap();
    let mut want = write_ember_wal(&data.join("wal"));
    want.sort_by_key(|x| (x.0.clone(), x.2));
    assert_eq!(dump(&promtool, &data), want);

    // Again with a checkpoint (keeping everything) in front of the
    // remaining segments: Prometheus reads Ember's checkpoints too.
    let wal = Wal::open(data.join("wal"), WalOptions::default()).unwrap();
    wal.replay(|_| Ok(())).unwrap();
    let out = wal
        .truncate_with_checkpoint(i64::MIN, |_| true)
        .unwrap()
        .expect("checkpointed");
    wal.close().unwrap();
    assert!(data
        .join("wal")
        .join(format!("checkpoint.{:08}", out.last))
        .is_dir());
    assert_eq!(dump(&promtool, &data), want);
}

/// `promtool tsdb dump` of a data directory, sorted by series and time.
fn dump(promtool: &Path, data: &Path) -> Vec<(String, f64, i64)> {
    let out = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(data)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool tsdb dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut got: Vec<(String, f64, i64)> = stdout
        .lines()
        .map(|l| {
            let (labels, rest) = l.rsplit_once("} ").expect("dump line");
            let (v, t) = rest.split_once(' ').expect("value and time");
            (
                format!("{labels}}}"),
                v.parse().unwrap(),
                t.parse().unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|x| (x.0.clone(), x.2));
    got
}
