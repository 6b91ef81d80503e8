//! Hostile input is rejected with an error, never a stack overflow or a
//! hang: everything here runs on a thread with a 2 MiB stack, in a debug
//! build, with a time budget.

use std::time::{Duration, Instant};

use ember_promql::{parse_with, ParserOptions, MAX_DEPTH, MAX_NESTING, MAX_QUERY_BYTES};

/// Runs `f` on a thread with a 2 MiB stack.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Parses `q` on a small stack within the time budget; when it parses,
/// also prints, re-parses, normalizes and compares it there. The tree is
/// returned as text, as its `Debug` form can be huge.
fn parse_small(q: String) -> Result<String, String> {
    small_stack(move || {
        let started = Instant::now();
        let opts = ParserOptions::test_suite();
        let r = parse_with(&q, &opts).map_err(|e| e.message);
        if let Ok(e) = &r {
            let printed = e.to_string();
            let again = parse_with(&printed, &opts).unwrap();
            assert_eq!(again.normalized(), e.normalized());
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "took {took:?}");
        r.map(|e| e.to_string())
    })
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn deep_parentheses() {
    for n in [MAX_NESTING + 1, 1000, 100_000] {
        let e = parse_small(nested("(", "1", ")", n)).unwrap_err();
        assert!(e.contains("nested too deeply"), "{e}");
    }
    let e = parse_small("(".repeat(100_000)).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
    // Up to the limit is fine, with the tree printed and compared too.
    parse_small(nested("(", "1", ")", MAX_NESTING)).unwrap();
    parse_small(nested("-(", "foo", ")", MAX_NESTING)).unwrap();
    parse_small(nested("abs(", "foo", ")", MAX_NESTING)).unwrap();
    parse_small(nested("sum(", "foo", ")", MAX_NESTING)).unwrap();
    parse_small(nested(
        "sum by (a) (rate((",
        "foo",
        ")[5m:]))",
        MAX_NESTING / 3 - 1,
    ))
    .unwrap();
    parse_small(format!("foo[{}]", nested("(", "5m", ")", MAX_NESTING - 1))).unwrap();
    parse_small(format!(
        "foo offset {}",
        nested("(", "5m", ")", MAX_NESTING)
    ))
    .unwrap();
    let e = parse_small(format!("foo[{}]", nested("(", "5m", ")", 100_000))).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
}

#[test]
fn deep_nesting_with_errors_inside_is_not_exponential() {
    for open in [
        "sum(",
        "rate(",
        "(",
        "topk(1, ",
        "sum by (a) (",
        "x + on(a) group_left (",
        "-(",
    ] {
        let q = nested(open, "x +", ")", MAX_NESTING);
        assert!(parse_small(q).is_err(), "{open}");
        let q = format!("{}x", open.repeat(MAX_NESTING));
        assert!(parse_small(q).is_err(), "{open}");
    }
    // A lexical error after deep nesting is found before pest runs.
    let q = format!("\"\\c\" + {}", "(".repeat(100_000));
    assert_eq!(
        parse_small(q).unwrap_err(),
        "unknown escape sequence U+0063 'c'"
    );
}

#[test]
fn long_operator_chains() {
    let chain = |op: &str, n: usize| vec!["x"; n + 1].join(op);
    for op in [" + ", " ^ ", " * ", " or ", " / "] {
        parse_small(chain(op, MAX_DEPTH - 1)).unwrap();
        let e = parse_small(chain(op, MAX_DEPTH + 1)).unwrap_err();
        assert!(e.contains("nested too deeply"), "{op}: {e}");
        let e = parse_small(chain(op, 5_000)).unwrap_err();
        assert!(e.contains("nested too deeply"), "{op}: {e}");
    }
    for prefix in ["-", "+", "- "] {
        parse_small(format!("{}foo", prefix.repeat(MAX_DEPTH - 1))).unwrap();
        let e = parse_small(format!("{}foo", prefix.repeat(100_000))).unwrap_err();
        assert!(e.contains("nested too deeply"), "{e}");
    }
    let e = parse_small(format!("x{}", "[1m:]".repeat(5_000))).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
    let e = parse_small(format!("x[{}]", vec!["1m"; 5_000].join("+"))).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
    // Depth and pending operators add up across nesting levels.
    let tail = format!("{})", " + 1".repeat(100));
    let q = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING - 1),
        tail.repeat(MAX_NESTING - 1)
    );
    let e = parse_small(q).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
    let level = format!("({} + ", vec!["1"; 100].join(" + "));
    let q = format!(
        "{}1{}",
        level.repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    let e = parse_small(q).unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
    let tail = format!("{})", " + 1".repeat(3));
    let q = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING - 1),
        tail.repeat(MAX_NESTING - 1)
    );
    parse_small(q).unwrap();
}

#[test]
fn worst_allowed_combinations() {
    // Nesting and pending operators at their limits together.
    let per = (MAX_DEPTH - 10) / (MAX_NESTING - 1);
    let q = format!(
        "{}x{}",
        format!("{}(", "-".repeat(per)).repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    let _ = parse_small(q);
    let q = format!(
        "{}x{}",
        format!("{}abs(", "-".repeat(per)).repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    let _ = parse_small(q);
    let q = format!(
        "{}{}x{}",
        "abs(".repeat(MAX_NESTING - 1),
        "-".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    let _ = parse_small(q);
    let q = format!(
        "{}{}x{}",
        "abs(".repeat(MAX_NESTING - 1),
        "x ^ ".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    let _ = parse_small(q);
    let q = format!(
        "{}x[{}]{}",
        "abs(".repeat(MAX_NESTING - 2),
        "-".repeat(MAX_DEPTH - 70) + "5m",
        ")".repeat(MAX_NESTING - 2)
    );
    let _ = parse_small(q);
    let q = nested("sum by (a) (rate((", "x", ")[5m:]))", MAX_NESTING / 3 - 1);
    parse_small(q).unwrap();
    let q = nested(
        "label_replace(",
        "x",
        ", \"a\", \"b\", \"c\", \"d\")",
        MAX_NESTING,
    );
    parse_small(q).unwrap();
}

#[test]
fn long_queries_and_literals() {
    let e = parse_small("a".repeat(1 << 20)).unwrap_err();
    assert!(e.contains("query too long"), "{e}");
    let e = parse_small(format!("\"{}\"", "x".repeat(2 << 20))).unwrap_err();
    assert!(e.contains("query too long"), "{e}");
    let e = parse_small(vec!["foo"; 300_000].join(" or ")).unwrap_err();
    assert!(e.contains("query too long"), "{e}");
    // Large but allowed literals are fine.
    let big = MAX_QUERY_BYTES - 2;
    let s = parse_small(format!("\"{}\"", "x".repeat(big))).unwrap();
    assert_eq!(s.len(), big + 2);
    parse_small(format!(
        "{}{{a=\"{}\"}}",
        "m".repeat(1000),
        "v".repeat(100_000)
    ))
    .unwrap();
    let e = parse_small("9".repeat(200_000)).unwrap_err();
    assert!(e.ends_with("value out of range"), "{e}");
    parse_small(format!("0.{}1", "0".repeat(200_000))).unwrap();
    let e = parse_small(format!("0x{}", "f".repeat(100_000))).unwrap_err();
    assert!(e.ends_with("invalid syntax"), "{e}");
    parse_small(format!("x{{a=~\"{}\"}}", "a|".repeat(20_000) + "b")).unwrap();
    // Many small terms, as generated dashboards produce, up to the depth.
    let q = vec!["up{job=\"a\"}"; MAX_DEPTH].join(" or ");
    parse_small(q).unwrap();
}
