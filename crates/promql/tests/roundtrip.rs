//! Property: generated, well-typed queries parse, and the printed form of
//! the tree parses back to the same tree (up to positions and matcher
//! order) and prints the same again.
//!
//! The generator is type-directed (scalar, instant vector, range vector,
//! string), covers every construct of the grammar, and varies spelling:
//! keyword case, number and duration forms, string quoting, whitespace and
//! comments between tokens.

use ember_promql::{parse_with, Expr, ParserOptions};
use proptest::prelude::*;

type Toks = Vec<String>;
type S = BoxedStrategy<Toks>;

fn one(s: impl Into<String>) -> Toks {
    vec![s.into()]
}

fn pick(options: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(options)
        .prop_map(str::to_string)
        .boxed()
}

fn concat(parts: Vec<Toks>) -> Toks {
    parts.into_iter().flatten().collect()
}

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        pick(&["0", "1", "2.5", ".5", "5.", "0x1f", "0X0A", "1e3", "2.5E-3", "1_000", "010", "08"]),
        pick(&["Inf", "+Inf", "NaN", "nan", "-inf", "5m", "1h30m", "10ms", "-2", "+3"]),
        (0u32..100_000).prop_map(|n| n.to_string()),
        (-1.0e6f64..1.0e6).prop_map(|f| format!("{f}")),
    ]
    .boxed()
}

fn string_lit() -> BoxedStrategy<String> {
    pick(&[
        r#""""#,
        r#""abc""#,
        r#""a\"b\\c\n\t""#,
        r#"'it\'s "q"'"#,
        "`raw \\n string`",
        r#""\u00e9\x41\101\U0001F600""#,
        r#""ünïcödé ☺""#,
        r#""a\xc5z""#,
    ])
}

fn label_name() -> BoxedStrategy<String> {
    pick(&[
        "a",
        "job",
        "on",
        "by",
        "offset",
        "_x1",
        "inf",
        r#""a.b""#,
        r#""ä ö""#,
        r#""""#,
    ])
}

fn label_value() -> BoxedStrategy<String> {
    pick(&[
        r#""x""#,
        r#""""#,
        r#""a\"b""#,
        "'y'",
        "`z`",
        r#""ü\n""#,
        r#""a|b""#,
        r#"".+""#,
        r#""x.*""#,
    ])
}

fn metric_name() -> BoxedStrategy<String> {
    pick(&[
        "foo",
        "bar_total",
        "job:rate:5m",
        ":x",
        "sum",
        "offset",
        "step",
        "by",
        "without",
        "fill",
        "anchored",
        "min_of",
        "start",
        "Inf_x",
        "nanx",
        "group",
    ])
}

fn matcher() -> BoxedStrategy<String> {
    (label_name(), pick(&["=", "!=", "=~", "!~"]), label_value())
        .prop_map(|(n, op, v)| format!("{n}{op}{v}"))
        .boxed()
}

/// A selector that is never empty: a name, a non-empty equality matcher or
/// a quoted name.
fn selector_core() -> BoxedStrategy<String> {
    let matchers = proptest::collection::vec(matcher(), 0..3);
    prop_oneof![
        metric_name(),
        (metric_name(), matchers.clone(), any::<bool>()).prop_map(|(n, ms, comma)| {
            format!(
                "{n}{{{}{}}}",
                ms.join(", "),
                if comma && !ms.is_empty() { "," } else { "" }
            )
        }),
        (matchers.clone()).prop_map(|ms| {
            let mut all = vec![r#"job="api""#.to_string()];
            all.extend(ms.into_iter().filter(|m| !m.starts_with("__name__")));
            format!("{{{}}}", all.join(","))
        }),
        (pick(&[r#""my.metric""#, r#""foo""#]), matchers).prop_map(|(n, ms)| {
            let mut all = vec![n];
            all.extend(ms);
            format!("{{{}}}", all.join(", "))
        }),
    ]
    .boxed()
}

fn fixed_duration() -> BoxedStrategy<String> {
    prop_oneof![
        pick(&["5m", "1h30m", "90s", "10ms", "1d", "2w", "1y", "300", "1.5", "0x10"]),
        (1u64..10_000_000).prop_map(|ms| format!("{ms}ms")),
    ]
    .boxed()
}

fn duration_expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        fixed_duration(),
        pick(&["step()", "range()", "STEP()", "(1m)", "2", "-(1m)"]),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), pick(&["+", "-", "*", "^"]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner.clone(), pick(&["/", "%"]), fixed_duration())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (pick(&["min_of", "max_of"]), inner.clone(), inner)
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        ]
    })
    .boxed()
}

/// A range or step: a positive literal, or an expression.
fn range() -> BoxedStrategy<String> {
    prop_oneof![3 => fixed_duration(), 1 => duration_expr()].boxed()
}

fn offset() -> BoxedStrategy<String> {
    prop_oneof![
        (pick(&["offset", "OFFSET"]), fixed_duration(), any::<bool>())
            .prop_map(|(kw, d, neg)| format!("{kw} {}{d}", if neg { "-" } else { "" })),
        pick(&[
            "offset step()",
            "offset -step()",
            "offset (1m + 1m)",
            "offset min_of(1m, range())",
            "offset -(5)",
            "offset +(5m)"
        ]),
    ]
    .boxed()
}

fn at() -> BoxedStrategy<String> {
    prop_oneof![
        pick(&[
            "@ start()",
            "@ end()",
            "@ END ( )",
            "@ 100",
            "@ -5.5",
            "@ 1e3",
            "@ 5m",
            "@ +1.25"
        ]),
        (-1_000_000_000i64..4_000_000_000).prop_map(|ms| format!("@ {}", ms as f64 / 1000.0)),
    ]
    .boxed()
}

/// Modifiers after a selector or range, in any order, each at most once.
fn modifiers(extended: bool) -> BoxedStrategy<Toks> {
    let ext = if extended {
        pick(&["", "anchored", "smoothed", "ANCHORED"]).boxed()
    } else {
        Just(String::new()).boxed()
    };
    (
        proptest::option::of(offset()),
        proptest::option::of(at()),
        ext,
        any::<bool>(),
    )
        .prop_map(|(o, a, e, swap)| {
            let mut v: Toks = [o, a].into_iter().flatten().collect();
            if swap {
                v.reverse();
            }
            if !e.is_empty() {
                v.push(e);
            }
            v
        })
        .boxed()
}

fn labels() -> BoxedStrategy<String> {
    proptest::collection::vec(
        pick(&["a", "b", "job", r#""x.y""#, "on", "le", "a:b"]),
        0..3,
    )
    .prop_map(|ls| format!("({})", ls.join(", ")))
    .boxed()
}

fn scalar(depth: u32) -> S {
    let leaf = prop_oneof![
        number().prop_map(one),
        pick(&["time()", "pi()", "step()", "start()"]).prop_map(one),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let d = depth - 1;
    prop_oneof![
        3 => leaf,
        1 => (scalar(d), pick(&["+", "-", "*", "/", "%", "^", "atan2", "ATAN2"]), scalar(d))
            .prop_map(|(a, op, b)| concat(vec![a, one(op), b])),
        1 => (scalar(d), pick(&["==", "!=", "<", "<=", ">", ">="]), pick(&["bool", "BOOL"]), scalar(d))
            .prop_map(|(a, op, kw, b)| concat(vec![a, one(op), one(kw), b])),
        1 => scalar(d).prop_map(|a| concat(vec![one("-"), a])),
        1 => scalar(d).prop_map(|a| concat(vec![one("("), a, one(")")])),
        1 => vector(d).prop_map(|a| concat(vec![one("scalar("), a, one(")")])),
        1 => (pick(&["min_of", "max_of"]), scalar(d), scalar(d))
            .prop_map(|(f, a, b)| concat(vec![one(format!("{f}(")), a, one(","), b, one(")")])),
    ]
    .boxed()
}

fn matrix(depth: u32) -> S {
    let range_selector = (selector_core(), range(), modifiers(true))
        .prop_map(|(s, r, m)| concat(vec![one(format!("{s}[{r}]")), m]));
    if depth == 0 {
        return range_selector.boxed();
    }
    let d = depth - 1;
    let body = prop_oneof![
        vector(d).prop_map(|v| concat(vec![one("("), v, one(")")])),
        (pick(&["rate", "deriv"]), matrix(d)).prop_map(|(f, m)| concat(vec![
            one(format!("{f}(")),
            m,
            one(")")
        ])),
    ];
    let subquery = (
        body,
        range(),
        proptest::option::of(range()),
        modifiers(false),
    )
        .prop_map(|(b, r, step, m)| {
            // Prometheus' lexer rejects a subquery colon before any number in
            // brackets (`x[step():]`), unless an earlier bracket had one.
            let r = if r.contains(|c: char| c.is_ascii_digit()) {
                r
            } else {
                format!("1m + {r}")
            };
            let step = step.unwrap_or_default();
            concat(vec![b, one(format!("[{r}:{step}]")), m])
        });
    prop_oneof![2 => range_selector, 1 => subquery].boxed()
}

/// Vector operands for a binary operation: when the left one is a bare
/// subquery-able expression the printer output is the same either way.
fn vector(depth: u32) -> S {
    let selector = (selector_core(), modifiers(true)).prop_map(|(s, m)| concat(vec![one(s), m]));
    if depth == 0 {
        return selector.boxed();
    }
    let d = depth - 1;
    let arith = pick(&["+", "-", "*", "/", "%", "^", "atan2", "</", ">/"]);
    let cmp = pick(&["==", "!=", "<", "<=", ">", ">="]);
    let set = pick(&["and", "or", "unless", "AND", "Or"]);
    let matching = prop_oneof![
        Just(Toks::new()),
        labels().prop_map(|l| one(format!("on{l}"))),
        labels().prop_map(|l| one(format!("ignoring {l}"))),
    ];
    let grouping = (
        pick(&["on(a)", "ignoring(b)", "ON (a, b)"]),
        pick(&["group_left", "group_right", "GROUP_LEFT"]),
        // Without labels, a parenthesized right operand would be read as
        // the label list, as in Prometheus.
        pick(&["(c)", "(c, \"d.e\")", "()", " ( )"]),
    )
        .prop_map(|(m, g, l)| vec![m.to_string(), format!("{g}{l}")]);
    let fill = prop_oneof![
        Just(Toks::new()),
        number().prop_map(|n| one(format!("fill({n})"))),
        number().prop_map(|n| one(format!("fill_left ({n})"))),
        (number(), number()).prop_map(|(a, b)| one(format!("fill_right({a}) fill_left({b})"))),
    ];
    let agg_simple = pick(&[
        "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "SUM",
    ]);
    let agg_param = pick(&["topk", "bottomk", "quantile", "limitk", "limit_ratio"]);
    let grouping_clause =
        (pick(&["by", "without", "BY"]), labels()).prop_map(|(k, l)| format!("{k} {l}"));
    prop_oneof![
        3 => selector,
        2 => (vector(d), arith.clone(), matching.clone(), fill.clone(), vector(d))
            .prop_map(|(a, op, m, f, b)| concat(vec![operand(a), one(op), m, f, operand(b)])),
        1 => (vector(d), cmp.clone(), proptest::option::of(Just("bool")), matching, vector(d))
            .prop_map(|(a, op, bl, m, b)| concat(vec![operand(a), one(op), bl.map(one).unwrap_or_default(), m, operand(b)])),
        1 => (vector(d), arith.clone(), grouping, fill, vector(d))
            .prop_map(|(a, op, g, f, b)| concat(vec![operand(a), one(op), g, f, operand(b)])),
        1 => (vector(d), set, proptest::option::of(labels().prop_map(|l| format!("on{l}"))), vector(d))
            .prop_map(|(a, op, m, b)| concat(vec![a, one(op), m.map(one).unwrap_or_default(), b])),
        1 => (vector(d), prop_oneof![arith, cmp.prop_map(|c| format!("{c} bool"))], scalar(d), any::<bool>())
            .prop_map(|(v, op, s, flip)| if flip { concat(vec![s, one(op), v]) } else { concat(vec![v, one(op), s]) }),
        1 => (pick(&["-", "+"]), vector(d)).prop_map(|(op, v)| concat(vec![one(op), v])),
        1 => vector(d).prop_map(|v| concat(vec![one("("), v, one(")")])),
        1 => (agg_simple, proptest::option::of(grouping_clause.clone()), any::<bool>(), vector(d))
            .prop_map(|(op, g, after, v)| match (g, after) {
                (Some(g), true) => concat(vec![one(format!("{op}(")), v, one(")"), one(g)]),
                (Some(g), false) => concat(vec![one(format!("{op} {g} (")), v, one(")")]),
                (None, _) => concat(vec![one(format!("{op}(")), v, one(")")]),
            }),
        1 => (agg_param, proptest::option::of(grouping_clause.clone()), scalar(d), vector(d))
            .prop_map(|(op, g, p, v)| concat(vec![one(format!("{op} {} (", g.unwrap_or_default())), p, one(","), v, one(")")])),
        1 => (proptest::option::of(grouping_clause), string_lit(), vector(d))
            .prop_map(|(g, s, v)| concat(vec![one(format!("count_values {} (", g.unwrap_or_default())), one(s), one(","), v, one(")")])),
        1 => (pick(&["abs", "ceil", "sort_desc", "timestamp", "exp", "sgn", "-abs"]), vector(d))
            .prop_map(|(f, v)| concat(vec![one(format!("{f}(")), v, one(")")])),
        1 => (pick(&["rate", "irate", "sum_over_time", "absent_over_time", "mad_over_time", "ts_of_max_over_time"]), matrix(d))
            .prop_map(|(f, m)| concat(vec![one(format!("{f}(")), m, one(")")])),
        1 => (matrix(d), scalar(d)).prop_map(|(m, s)| concat(vec![one("predict_linear("), m, one(","), s, one(")")])),
        1 => (scalar(d), vector(d)).prop_map(|(s, v)| concat(vec![one("histogram_quantile("), s, one(","), v, one(")")])),
        1 => (vector(d), scalar(d), scalar(d)).prop_map(|(v, a, b)| concat(vec![one("clamp("), v, one(","), a, one(","), b, one(")")])),
        1 => (vector(d), proptest::option::of(scalar(d))).prop_map(|(v, s)| match s {
            Some(s) => concat(vec![one("round("), v, one(","), s, one(")")]),
            None => concat(vec![one("round("), v, one(")")]),
        }),
        1 => (vector(d), string_lit(), string_lit()).prop_map(|(v, a, b)| {
            concat(vec![one("label_replace("), v, one(","), one(r#""dst""#), one(","), one(a), one(","), one(b), one(", \"(.*)\")")])
        }),
        1 => (vector(d), proptest::collection::vec(string_lit(), 0..4)).prop_map(|(v, ls)| {
            concat(vec![one("label_join("), v, one(r#", "dst", ",""#), ls.into_iter().flat_map(|l| [",".to_string(), l]).collect(), one(")")])
        }),
        1 => scalar(d).prop_map(|s| concat(vec![one("vector("), s, one(")")])),
        1 => vector(d).prop_map(|v| concat(vec![one("info("), v, one(r#", {k=~".+"})"#)])),
        1 => pick(&["day_of_week()", "hour()"]).prop_map(one),
    ]
    .boxed()
}

/// Parenthesizes an operand of an operation with vector matching: without,
/// precedence could pair a scalar with the matching clause.
fn operand(v: Toks) -> Toks {
    if v.len() > 1 && !v[0].starts_with(|c: char| c.is_alphabetic() || c == '{') {
        concat(vec![one("("), v, one(")")])
    } else if v.len() > 1 {
        // A selector with modifiers is safe; anything longer is wrapped.
        let selector_like = v[1..].iter().all(|t| {
            ["offset", "OFFSET", "@", "anchored", "smoothed", "ANCHORED"]
                .iter()
                .any(|m| t.starts_with(m))
        });
        if selector_like {
            v
        } else {
            concat(vec![one("("), v, one(")")])
        }
    } else {
        v
    }
}

fn string_expr() -> S {
    prop_oneof![
        string_lit().prop_map(one),
        string_lit().prop_map(|s| vec!["(".to_string(), s, ")".to_string()]),
    ]
    .boxed()
}

fn query() -> S {
    prop_oneof![4 => vector(3), 2 => scalar(3), 1 => matrix(2), 1 => string_expr()].boxed()
}

fn separator() -> BoxedStrategy<&'static str> {
    prop_oneof![8 => Just(" "), 1 => Just(""), 1 => Just("\n\t"), 1 => Just(" # comment\n")].boxed()
}

/// Joins tokens with random separators; tokens that would merge get a
/// space.
fn spell(toks: &[String], seps: &[&str]) -> String {
    let mut out = String::new();
    for (i, t) in toks.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        if !out.is_empty() {
            let sep = seps.get(i % seps.len().max(1)).copied().unwrap_or(" ");
            let last = out.chars().last().unwrap_or(' ');
            let first = t.chars().next().unwrap_or(' ');
            let joins = |c: char| c.is_ascii_alphanumeric() || "_:.\"'`".contains(c);
            let risky = (joins(last) && joins(first))
                || "+-*/%^<>=!".contains(last) && "+-*/%^<>=!".contains(first);
            out.push_str(if sep.is_empty() && risky { " " } else { sep });
        }
        out.push_str(t);
    }
    out
}

fn roundtrip(q: &str) -> Result<(), TestCaseError> {
    let opts = ParserOptions::test_suite();
    let e: Expr =
        parse_with(q, &opts).map_err(|err| TestCaseError::fail(format!("{q:?}: {err}")))?;
    let printed = e.to_string();
    let again = parse_with(&printed, &opts)
        .map_err(|err| TestCaseError::fail(format!("{q:?} printed as {printed:?}: {err}")))?;
    prop_assert_eq!(
        again.normalized(),
        e.normalized(),
        "{:?} printed as {:?}",
        q,
        printed
    );
    prop_assert_eq!(again.to_string(), printed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_queries_parse_to_the_same_tree(
        toks in query(),
        seps in proptest::collection::vec(separator(), 1..8),
    ) {
        roundtrip(&spell(&toks, &seps))?;
    }
}

/// Fragments of PromQL, valid and not, for random soups.
fn fragment() -> BoxedStrategy<&'static str> {
    proptest::sample::select(
        &[
            "foo",
            "sum",
            "rate",
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "bool",
            "offset",
            "@",
            "start()",
            "end()",
            "step()",
            "range()",
            "min_of",
            "anchored",
            "smoothed",
            "fill",
            "fill_left",
            "and",
            "or",
            "unless",
            "atan2",
            "topk",
            "count_values",
            "info",
            "label_join",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "=",
            "!=",
            "=~",
            "!~",
            "==",
            "<",
            "<=",
            ">",
            ">=",
            "</",
            ">/",
            "+",
            "-",
            "*",
            "/",
            "%",
            "^",
            " ",
            " ",
            "\n",
            "#c\n",
            "1",
            "0x1f",
            "1e3",
            "1_0",
            ".5",
            "5m",
            "1h30m",
            "Inf",
            "NaN",
            "\"a\"",
            "'b'",
            "`c`",
            "\"\\x41\"",
            "a=\"b\"",
            "\"x.y\"",
            "__name__",
            "1.5.",
            "\"",
            "`",
            "é",
            "\t",
        ][..],
    )
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary fragment soups never panic, and those that parse round
    /// trip (the fuzz target's property, on stable).
    #[test]
    fn fragment_soups_never_panic(parts in proptest::collection::vec(fragment(), 1..24)) {
        ember_promql::fuzz_parse(parts.concat().as_bytes());
    }
}

#[test]
fn spelled_variants_of_one_query_agree() {
    let opts = ParserOptions::test_suite();
    let a = parse_with("sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))", &opts).unwrap();
    let b = parse_with(
        "SUM(rate ( foo { a = 'b' } [ 300 ] OFFSET 60 ) ) BY ( job )",
        &opts,
    )
    .unwrap();
    assert_eq!(a.normalized(), b.normalized());
    assert_eq!(a.to_string(), b.to_string());
}
