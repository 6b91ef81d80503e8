//! Every `eval` expression of Prometheus' PromQL test scripts parses with
//! the options those scripts use. Expressions of evals that expect failure
//! may be rejected, but must not panic. The printed form of each parsed
//! expression parses back to the same tree.
//!
//! The scripts are read from `$EMBER_PROMQL_TESTDATA`, or from
//! `shared/conformance/promql` beside the repository.

use std::path::PathBuf;

use ember_promql::{parse_with, ParserOptions};

fn testdata_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("EMBER_PROMQL_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql")
        }
    };
    dir.is_dir().then_some(dir)
}

/// Drops `n` whitespace-separated words from the front of `s`.
fn skip_words(s: &str, n: usize) -> Option<&str> {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        rest = rest[end..].trim_start();
    }
    Some(rest)
}

struct Eval {
    file: String,
    line: usize,
    expr: String,
    may_fail: bool,
}

fn evals(dir: &PathBuf) -> Vec<Eval> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .map(|l| {
                let l = l.trim();
                if l.starts_with('#') {
                    ""
                } else {
                    l
                }
            })
            .collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(first) = line.split_whitespace().next() else {
                continue;
            };
            if !first.to_ascii_lowercase().starts_with("eval") {
                continue;
            }
            let expr = match line.split_whitespace().nth(1) {
                Some("instant") => skip_words(line, 4),
                Some("range") => skip_words(line, 8),
                _ => None,
            }
            .unwrap_or_else(|| panic!("{}:{}: bad eval line", path.display(), i + 1));
            let body = lines[i + 1..].iter().take_while(|l| !l.is_empty());
            let may_fail =
                first == "eval_fail" || body.clone().any(|l| l.starts_with("expect fail"));
            out.push(Eval {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                line: i + 1,
                expr: expr.to_string(),
                may_fail,
            });
        }
    }
    out
}

#[test]
fn every_eval_expression_parses() {
    let Some(dir) = testdata_dir() else {
        eprintln!("PromQL test scripts not found; set EMBER_PROMQL_TESTDATA");
        return;
    };
    let evals = evals(&dir);
    assert!(
        evals.len() >= 2000,
        "only {} evals found in {}",
        evals.len(),
        dir.display()
    );
    let opts = ParserOptions::test_suite();
    let mut failures = Vec::new();
    let (mut parsed, mut rejected_as_expected) = (0, 0);
    for e in &evals {
        match parse_with(&e.expr, &opts) {
            Ok(expr) => {
                parsed += 1;
                let printed = expr.to_string();
                match parse_with(&printed, &opts) {
                    Ok(again) if again.normalized() == expr.normalized() => {}
                    Ok(_) => failures.push(format!(
                        "{}:{}: {} printed as {printed} parses differently",
                        e.file, e.line, e.expr
                    )),
                    Err(err) => failures.push(format!(
                        "{}:{}: {} printed as {printed}: {err}",
                        e.file, e.line, e.expr
                    )),
                }
            }
            Err(_) if e.may_fail => rejected_as_expected += 1,
            Err(err) => failures.push(format!("{}:{}: {}: {err}", e.file, e.line, e.expr)),
        }
    }
    eprintln!(
        "{} eval expressions: {parsed} parsed, {rejected_as_expected} rejected where failure is expected",
        evals.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
