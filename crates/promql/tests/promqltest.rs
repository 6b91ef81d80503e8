//! Runs Ember's own PromQL test scripts (`testdata/*.test`, in Prometheus'
//! `.test` language) and fails on any failed eval or extra check; also
//! reports the extra checks (`@` invariance, range mode) on Prometheus'
//! own scripts when they are available.

use std::path::{Path, PathBuf};

use ember_promql::promqltest::{run_script, test_engine_options, Outcome};

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "test"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs every script in `dir`; returns the failures as text, and prints a
/// line per file.
fn run_dir(dir: &Path) -> Vec<String> {
    let opts = test_engine_options();
    let mut failures = Vec::new();
    for file in test_files(dir) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let report = run_script(&text, &opts);
        let (cp, cf, cs) = report.check_counts();
        println!(
            "{name}: {} passed, {} failed, {} skipped; checks: {cp} passed, {cf} failed, {cs} skipped",
            report.passed(),
            report.failed(),
            report.skipped()
        );
        if let Some(e) = &report.error {
            failures.push(format!("{name}: {e}"));
        }
        for (line, o) in &report.evals {
            if let Outcome::Failed(m) = o {
                failures.push(format!("{name}:{line}: {m}"));
            }
        }
        for (line, check, o) in &report.checks {
            if let Outcome::Failed(m) = o {
                failures.push(format!("{name}:{line}: {check:?}: {m}"));
            }
        }
    }
    failures
}

#[test]
fn ember_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let failures = run_dir(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Prometheus' scripts, with the extra checks; informational (the evals
/// themselves are checked by `cargo xtask promql-conformance`). Run with
/// `--ignored --nocapture` to see the report.
#[test]
#[ignore]
fn upstream_extra_checks() {
    let dir = match std::env::var_os("EMBER_PROMQL_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql"),
    };
    for f in run_dir(&dir) {
        println!("  {f}");
    }
}
