//! The printer writes what Prometheus' `String()` writes, and its output
//! parses back to the same tree.

use ember_promql::{parse_with, Expr, ParserOptions};

fn parse(q: &str) -> Expr {
    parse_with(q, &ParserOptions::test_suite()).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

/// `(input, output)`; an empty output means the input is printed as is.
const CASES: &[(&str, &str)] = &[
    // Aggregations.
    (r#"sum by() (task:errors:rate10s{job="s"})"#, r#"sum(task:errors:rate10s{job="s"})"#),
    (r#"sum by(code) (task:errors:rate10s{job="s"})"#, r#"sum by (code) (task:errors:rate10s{job="s"})"#),
    (r#"sum without() (task:errors:rate10s{job="s"})"#, r#"sum without () (task:errors:rate10s{job="s"})"#),
    (r#"sum without(instance) (task:errors:rate10s{job="s"})"#, r#"sum without (instance) (task:errors:rate10s{job="s"})"#),
    (r#"sum by("foo.bar") (x)"#, r#"sum by ("foo.bar") (x)"#),
    (r#"sum(x) without("a.b", c)"#, r#"sum without ("a.b", c) (x)"#),
    (r#"count by("ööö", job) (foo)"#, r#"count by ("ööö", job) (foo)"#),
    (r#"SUM BY (a:b, "inf") (x)"#, r#"sum by ("a:b", "inf") (x)"#),
    (r#"topk(5, task:errors:rate10s{job="s"})"#, ""),
    (r#"count_values("value", task:errors:rate10s{job="s"})"#, ""),
    ("quantile(0.9, x)", ""),
    ("limitk by (a) (2, x)", ""),
    // Binary operators and their modifiers.
    ("a - on() c", "a - on () c"),
    ("a - on(b) c", "a - on (b) c"),
    ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
    ("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
    ("a - ignoring(b) c", "a - ignoring (b) c"),
    ("a - ignoring() c", "a - c"),
    ("a - ignoring() group_left(__metric__) c", "a - ignoring () group_left (__metric__) c"),
    ("a - ignoring() group_left c", "a - ignoring () group_left () c"),
    ("a + fill(-23) b", "a + fill (-23) b"),
    ("a + fill_left(-23) b", "a + fill_left (-23) b"),
    ("a + fill_right(42) b", "a + fill_right (42) b"),
    ("a + fill_left(-23) fill_right(42) b", "a + fill_left (-23) fill_right (42) b"),
    ("a + fill_left(5) fill_right(5) b", "a + fill (5) b"),
    ("a + on(b) group_left fill(-23) c", "a + on (b) group_left () fill (-23) c"),
    ("a + fill(1e6) b", "a + fill (1e+06) b"),
    ("a + fill(0.00001) b", "a + fill (1e-05) b"),
    ("a + fill(5m) b", "a + fill (300) b"),
    // As in Prometheus, NaN != NaN.
    ("a + fill(NaN) b", "a + fill_left (NaN) fill_right (NaN) b"),
    ("a + fill_right(-Inf) b", "a + fill_right (-Inf) b"),
    ("up > bool 0", ""),
    ("a and on(b) c", "a and on (b) c"),
    ("a OR ignoring(b) c", "a or ignoring (b) c"),
    ("a ATAN2 b", "a atan2 b"),
    ("a </ b >/ c", ""),
    (r#"foo / on("äää") group_right("ööö") bar"#, r#"foo / on ("äää") group_right ("ööö") bar"#),
    ("foo / on(legacy, \"üüü\") bar", "foo / on (legacy, \"üüü\") bar"),
    // Numbers, strings, unary operators, parentheses.
    ("1048576", ""),
    ("0x10", "16"),
    ("1e3", "1000"),
    ("1e100", "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
    ("1.5e-7", "0.00000015"),
    ("-0.5", ""),
    ("+Inf", ""),
    ("-inf", "-Inf"),
    ("nan", "NaN"),
    ("5m", ""),
    ("-5m", ""),
    ("90m", "1h30m"),
    ("-(1)", ""),
    ("- - 1", "1"),
    ("-foo", ""),
    ("+foo", ""),
    ("--foo", ""),
    ("-2 ^ 2", "-2 ^ 2"),
    ("(-2) ^ 2", ""),
    ("1 + 2 * 3", ""),
    ("(1 + 2) * 3", ""),
    ("'a\"b'", r#""a\"b""#),
    ("`a\\b`", r#""a\\b""#),
    ("\"\\u00e9\\n\"", "\"é\\n\""),
    // Selectors and their modifiers.
    ("a offset 1m", ""),
    ("a offset -7m", ""),
    ("a offset 90", "a offset 1m30s"),
    ("a offset 0s", "a"),
    (r#"a{c="d"}[5m] offset 1m"#, ""),
    ("a[5m] offset 1m", ""),
    ("a[12m] offset -3m", ""),
    ("a[1h:5m] offset 1m", ""),
    ("a[1h:] @ 5 offset 1m", "a[1h:] @ 5.000 offset 1m"),
    ("a[300]", "a[5m]"),
    ("a[7d]", "a[1w]"),
    ("a[8d]", "a[8d]"),
    ("a anchored", ""),
    ("a[5m] anchored", ""),
    (r#"a{b="c"}[5m] anchored offset 1m"#, ""),
    (r#"a{b="c"}[5m] anchored @ start() offset 1m"#, ""),
    (r#"a{b="c"}[5m] offset 1m @ start() smoothed"#, r#"a{b="c"}[5m] smoothed @ start() offset 1m"#),
    ("a smoothed", ""),
    ("a offset 1m anchored @ 1", "a @ 1.000 anchored offset 1m"),
    (r#"{__name__="a"}"#, ""),
    (r#"a{b!="c"}[1m]"#, ""),
    (r#"a{b=~"c"}[1m]"#, ""),
    (r#"a{b!~"c"}[1m]"#, ""),
    ("a @ 10", "a @ 10.000"),
    ("a[1m] @ 10", "a[1m] @ 10.000"),
    ("a @ -1.5", "a @ -1.500"),
    ("a @ 1.0005", "a @ 1.001"),
    ("a @ start()", ""),
    ("a @ END()", "a @ end()"),
    ("a[1m] @ start()", ""),
    (r#"{__name__="",a="x"}"#, ""),
    (r#"{"a.b"="c"}"#, ""),
    (r#"{"0"="1"}"#, ""),
    (r#"{"_0"="1"}"#, r#"{_0="1"}"#),
    (r#"{""="0", a="x"}"#, r#"{""="0",a="x"}"#),
    ("{``=\"0\", a='x'}", r#"{""="0",a="x"}"#),
    (r#"{"my.metric", z="1", a="2"}"#, r#"{__name__="my.metric",a="2",z="1"}"#),
    (r#"foo{z="1", a="2", m=~"x"}"#, r#"foo{a="2",m=~"x",z="1"}"#),
    (r#"{__name__!="bar",a="b"}"#, ""),
    (r#"foo{a="\n\t\"é☺"}"#, ""),
    ("foo{}", "foo"),
    ("sum", ""),
    ("offset offset 1m", ""),
    // Functions.
    ("predict_linear(foo[1h], 3000)", ""),
    ("label_join(x, \"a\", \",\", \"b\", \"c\")", ""),
    ("time()", ""),
    ("rate(x[5m])[1h:1m] offset 1h", ""),
    // Duration expressions.
    ("foo[step()]", ""),
    ("foo[-step()]", ""),
    ("foo[(step())]", ""),
    ("foo[-(step())]", ""),
    ("foo offset step()", ""),
    ("foo offset -step()", ""),
    ("foo offset (step())", ""),
    ("foo offset -(step())", ""),
    ("foo offset +(5)", "foo offset (5)"),
    ("foo offset -(5)", ""),
    ("foo offset (5)", ""),
    ("foo offset (5m)", ""),
    ("foo offset ((5m))", "foo offset (5m)"),
    ("foo[(5s)]", ""),
    ("foo[(5m):(1m)]", ""),
    ("foo offset +min_of(10s, 20s)", "foo offset min_of(10s, 20s)"),
    ("foo offset -min_of(10s, 20s)", ""),
    ("foo offset -min_of(10s, +max_of(step() ^ 2, 2))", "foo offset -min_of(10s, max_of(step() ^ 2, 2))"),
    ("foo[200-min_of(-step()^+step(),1)]", "foo[200 - min_of(-step() ^ step(), 1)]"),
    ("foo[200 - min_of(step() + 10s, -max_of(step() ^ 2, 3))]", ""),
    ("foo[range()]", ""),
    ("foo[-range()]", ""),
    ("foo offset range()", ""),
    ("foo[max_of(range(), 5s)]", ""),
    ("foo[5m+1m:2m*3] offset -(1m+1m)", "foo[5m + 1m:2m * 3] offset -(1m + 1m)"),
];

#[test]
fn prints_like_prometheus() {
    for (input, output) in CASES {
        let want = if output.is_empty() { input } else { output };
        let e = parse(input);
        assert_eq!(e.to_string(), *want, "{input}");
        let again = parse(&e.to_string());
        assert_eq!(again.normalized(), e.normalized(), "{input}");
        assert_eq!(again.to_string(), *want, "{input}");
    }
}

#[test]
fn normalized_ignores_positions_and_matcher_order() {
    let a = parse(r#"sum(rate(foo{b="1",a="2"}[5m]))"#);
    let b = parse(r#"  sum ( rate ( foo { a = "2" , b = "1" } [ 300s ] ) )"#);
    assert_ne!(a, b);
    assert_eq!(a.normalized(), b.normalized());
    assert_ne!(parse("a - b").normalized(), parse("a + b").normalized());
    assert_ne!(parse("a offset 1m").normalized(), parse("a").normalized());
    assert_eq!(parse("NaN").normalized(), parse("nan").normalized());
}
