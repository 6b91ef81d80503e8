//! Prometheus 2.42, started on blocks `ember tsdb create-blocks-from`
//! wrote, answers PromQL exactly as on blocks promtool wrote from the same
//! file (compared with ../shared/tools/promdiff.py).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts Prometheus on `data` and waits until it is ready.
fn prometheus(data: &Path, config: &Path) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=10y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let resp = http_get(port, "/-/ready");
            if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") {
                return (guard, port);
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus on {} did not get ready",
            data.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn prometheus_answers_the_same_on_ember_and_promtool_blocks() {
    let have = |c: &str| Command::new(c).arg("--version").output().is_ok();
    if !(have("prometheus") && have("promtool")) {
        assert_eq!(
            std::env::var("EMBER_SKIP_EXTERNAL").as_deref(),
            Ok("1"),
            "prometheus and promtool are needed (apt-get install prometheus), or set EMBER_SKIP_EXTERNAL=1"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    let start = 1_763_769_600u64;
    run(Command::new("sh").arg("-c").arg(format!(
        "python3 {} --hosts 3 --hours 4 --start {start} > {}",
        shared().join("tools/gen_openmetrics.py").display(),
        input.display()
    )));
    let ember_dir = tmp.path().join("ember");
    let prom_dir = tmp.path().join("promtool");
    run(Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(&ember_dir));
    run(Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&prom_dir));
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let (_a, ember_port) = prometheus(&ember_dir, &config);
    let (_b, prom_port) = prometheus(&prom_dir, &config);
    // The comparison means something only if Prometheus sees the data.
    let body = http_get(
        ember_port,
        &format!(
            "/api/v1/query?query=count(node_load1)&time={}",
            start + 3600
        ),
    );
    assert!(
        body.contains(r#""value":["#) && body.contains(r#","3"]"#),
        "{body}"
    );
    let out = Command::new("python3")
        .arg(shared().join("tools/promdiff.py"))
        .arg(format!("--ref=http://127.0.0.1:{prom_port}"))
        .arg(format!("--test=http://127.0.0.1:{ember_port}"))
        .arg(format!(
            "--queries={}/tests/data/promdiff-queries.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(format!("--start={}", start + 600))
        .arg(format!("--end={}", start + 4 * 3600 - 60))
        .arg("--step=60")
        .arg("-v")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
