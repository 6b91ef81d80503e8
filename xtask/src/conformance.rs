//! `cargo xtask promql-conformance [--dir DIR] [-v]`: runs Prometheus'
//! PromQL test scripts and prints one line per file, then the totals.
//!
//! On the default directory (../shared/conformance/promql, or
//! `$EMBER_PROMQL_TESTDATA`) the run is checked against
//! `crates/promql/testdata/allowed-failures.txt`: it fails when an eval
//! outside the list fails, and when one on the list passes (so the list
//! only shrinks). The two extra checks of every instant eval (`@`
//! invariance and the range-mode cross-check) are counted on their own line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ember_promql::promqltest::{run_script, test_engine_options, Outcome};

use crate::{root, shared};

const ALLOWED: &str = "crates/promql/testdata/allowed-failures.txt";

/// `file:line` → reason.
fn allowed_failures() -> Result<BTreeMap<String, String>> {
    let path = root().join(ALLOWED);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        out.insert(key.to_string(), reason.trim().to_string());
    }
    Ok(out)
}

pub fn run(args: &[String]) -> Result<()> {
    let mut dir: Option<PathBuf> = None;
    let mut verbose = false;
    let mut write_allowed = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(it.next().context("--dir needs a value")?)),
            "-v" | "--verbose" => verbose = true,
            "--write-allowed" => write_allowed = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let default_dir = std::env::var_os("EMBER_PROMQL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared().join("conformance/promql"));
    let is_default = dir.is_none();
    let dir = dir.unwrap_or(default_dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .test files in {}", dir.display());
    }
    let opts = test_engine_options();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let (mut check_passed, mut check_failed, mut check_skipped) = (0, 0, 0);
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let report = run_script(&text, &opts);
        let (p, f, s) = (report.passed(), report.failed(), report.skipped());
        passed += p;
        failed += f;
        skipped += s;
        let mut line = format!("{name}: {p} passed, {f} failed, {s} skipped");
        if let Some(e) = &report.error {
            line.push_str(&format!(" (stopped: {e})"));
            failed += 1;
            failures.insert(
                format!("{name}:{}", e.line),
                format!("script error: {}", e.message),
            );
        }
        println!("{line}");
        let (cp, cf, cs) = report.check_counts();
        check_passed += cp;
        check_failed += cf;
        check_skipped += cs;
        if cf > 0 || verbose {
            println!("  extra checks: {cp} passed, {cf} failed, {cs} skipped");
        }
        for (l, check, o) in &report.checks {
            if let Outcome::Failed(msg) = o {
                println!(
                    "  {name}:{l}: {check:?}: {}",
                    msg.chars().take(300).collect::<String>()
                );
            }
        }
        for (l, o) in &report.evals {
            if let Outcome::Failed(msg) = o {
                let msg: String = msg.chars().take(300).collect();
                if verbose {
                    println!("  {name}:{l}: {msg}");
                }
                failures.insert(format!("{name}:{l}"), msg.replace('\n', " "));
            }
        }
    }
    if is_default {
        if write_allowed {
            let mut text = String::from(
                "# Upstream PromQL evals allowed to fail, as file:line reason.\n\
                 # CI fails when an eval outside this list fails or one on it passes.\n",
            );
            for (k, v) in &failures {
                text.push_str(&format!("{k} {v}\n"));
            }
            std::fs::write(root().join(ALLOWED), text)?;
        }
        let allowed = allowed_failures()?;
        let unexpected: Vec<_> = failures
            .keys()
            .filter(|k| !allowed.contains_key(*k))
            .collect();
        let fixed: Vec<_> = allowed
            .keys()
            .filter(|k| !failures.contains_key(*k))
            .collect();
        for k in &unexpected {
            println!("unexpected failure: {k}: {}", failures[*k]);
        }
        for k in &fixed {
            println!("now passing, remove from {ALLOWED}: {k}");
        }
        println!("extra checks (@ invariance, range mode): {check_passed} passed, {check_failed} failed, {check_skipped} skipped");
        println!("{passed} passed, {failed} failed, {skipped} skipped");
        if check_failed > 0 {
            bail!("{check_failed} extra checks failed");
        }
        if !unexpected.is_empty() || !fixed.is_empty() {
            bail!(
                "{} unexpected failures, {} allowed failures now pass",
                unexpected.len(),
                fixed.len()
            );
        }
    } else {
        println!("extra checks (@ invariance, range mode): {check_passed} passed, {check_failed} failed, {check_skipped} skipped");
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    }
    Ok(())
}
