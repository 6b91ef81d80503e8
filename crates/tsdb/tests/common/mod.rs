//! Helpers shared by the integration tests (each test file that needs
//! them declares `mod common;` and uses some of them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ember_model::Matcher;
use ember_storage::{Querier, ValueType};

/// Every series `matchers` select (all series with none), sorted by
/// labels, as `(labels as text, [(t, value)])`; a read error fails the
/// test.
pub fn read(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut set = q.select(true, None, matchers).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut pts = Vec::new();
        while it.next() == ValueType::Float {
            pts.push(it.at());
        }
        assert!(it.error().is_none(), "{:?}", it.error());
        out.push((s.labels().to_string(), pts));
    }
    out
}

/// [`read`] with the values as their bits, so NaNs (stale markers)
/// compare equal.
pub fn read_bits(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, u64)>)> {
    read(q, matchers)
        .into_iter()
        .map(|(l, pts)| (l, pts.into_iter().map(|(t, v)| (t, v.to_bits())).collect()))
        .collect()
}

/// Whether tests that need Prometheus' tools are to be skipped
/// (`EMBER_SKIP_EXTERNAL=1`).
pub fn skip_external() -> bool {
    std::env::var("EMBER_SKIP_EXTERNAL").is_ok_and(|v| v == "1")
}

/// promtool: `$PROMTOOL` or `/usr/bin/promtool`; missing, it fails the
/// test (unless skipped with [`skip_external`]).
pub fn promtool() -> PathBuf {
    let p = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/promtool"));
    assert!(
        p.exists(),
        "promtool not found at {} (install Prometheus 2.42's promtool, set PROMTOOL, \
         or set EMBER_SKIP_EXTERNAL=1 to skip these tests)",
        p.display()
    );
    p
}

/// Runs `cmd`, which must succeed; returns its standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
