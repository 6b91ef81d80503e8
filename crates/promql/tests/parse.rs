//! A broad table of parse cases in the spirit of Prometheus' parser tests:
//! literals, precedence, selectors, modifiers, operators, aggregations,
//! functions, duration expressions, feature flags, and errors with their
//! messages and positions.

use ember_model::MatchOp;
use ember_promql::*;

/// Parses with every experimental feature on.
fn parse(q: &str) -> Result<Expr, ParseError> {
    ember_promql::parse_with(q, &ParserOptions::test_suite())
}

/// Parses `q` (with every feature on), panicking with the error.
fn ok(q: &str) -> Expr {
    parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

/// The error for `q` (with every feature on), panicking if it parses.
fn fail(q: &str) -> ParseError {
    match parse(q) {
        Ok(e) => panic!("{q:?} parsed as {e:?}"),
        Err(e) => e,
    }
}

/// A fully parenthesized rendering that shows the tree's shape:
/// `(a + (b * c))`, `(-x)`, `{paren}`, selectors as printed.
fn tree(e: &Expr) -> String {
    match e {
        Expr::Binary(b) => {
            let mut op = b.op.to_string();
            if b.return_bool {
                op.push_str(" bool");
            }
            format!("({} {op} {})", tree(&b.lhs), tree(&b.rhs))
        }
        Expr::Unary(u) => format!("({}{})", u.op.as_str(), tree(&u.expr)),
        Expr::Paren(p) => format!("{{{}}}", tree(&p.expr)),
        Expr::Call(c) => format!(
            "{}({})",
            c.func.name,
            c.args.iter().map(tree).collect::<Vec<_>>().join(", ")
        ),
        Expr::Aggregate(a) => {
            let mut s = format!("{}", a.op);
            if a.without || !a.grouping.is_empty() {
                s.push_str(if a.without { " without" } else { " by" });
                s.push_str(&format!("({})", a.grouping.join(",")));
            }
            let param = a
                .param
                .as_ref()
                .map(|p| format!("{}, ", tree(p)))
                .unwrap_or_default();
            format!("{s}({param}{})", tree(&a.expr))
        }
        Expr::Subquery(s) => {
            let step = s.step.as_ref().map(dur).unwrap_or_default();
            let mut out = format!("{}[{}:{step}]", tree(&s.expr), dur(&s.range));
            if let Some(at) = s.at {
                out.push_str(&format!(" @{}", at_str(at)));
            }
            if s.offset != DurationValue::Millis(0) {
                out.push_str(&format!(" offset {}", dur(&s.offset)));
            }
            out
        }
        Expr::NumberLiteral(n) if n.duration => format!("{}s", n.value),
        Expr::NumberLiteral(n) => format!("{}", n.value),
        other => other.to_string(),
    }
}

fn at_str(at: AtModifier) -> String {
    match at {
        AtModifier::Timestamp(ms) => format!("{ms}ms"),
        AtModifier::Start => "start".into(),
        AtModifier::End => "end".into(),
    }
}

/// A duration value's shape: `300000ms`, `(5m + step())`.
fn dur(d: &DurationValue) -> String {
    match d {
        DurationValue::Millis(ms) => format!("{ms}ms"),
        DurationValue::Expr(e) => dexpr(e),
    }
}

fn dexpr(e: &DurationExpr) -> String {
    match e {
        DurationExpr::Number(n) => n.to_string(),
        DurationExpr::Step(_) => "step()".into(),
        DurationExpr::Range(_) => "range()".into(),
        DurationExpr::Neg { expr, .. } => format!("(-{})", dexpr(expr)),
        DurationExpr::Binary { op, lhs, rhs } => format!("({} {op} {})", dexpr(lhs), dexpr(rhs)),
        DurationExpr::MinOf { lhs, rhs, .. } => format!("min_of({}, {})", dexpr(lhs), dexpr(rhs)),
        DurationExpr::MaxOf { lhs, rhs, .. } => format!("max_of({}, {})", dexpr(lhs), dexpr(rhs)),
        DurationExpr::Paren { expr, .. } => format!("{{{}}}", dexpr(expr)),
    }
}

/// Asserts the tree shapes of `(query, shape)` pairs.
fn shapes(cases: &[(&str, &str)]) {
    for (q, want) in cases {
        assert_eq!(tree(&ok(q)), *want, "{q}");
    }
}

/// Asserts `(query, start, end, message)` errors.
fn errors(cases: &[(&str, usize, usize, &str)]) {
    for &(q, start, end, msg) in cases {
        let e = fail(q);
        assert_eq!(
            (e.pos.start, e.pos.end, e.message.as_str()),
            (start, end, msg),
            "{q}"
        );
    }
}

fn number(q: &str) -> (f64, bool) {
    match ok(q) {
        Expr::NumberLiteral(n) => (n.value, n.duration),
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn number_literals() {
    let cases: &[(&str, f64)] = &[
        ("1", 1.0),
        ("+1", 1.0),
        ("-1", -1.0),
        ("--1", 1.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("123.4567", 123.4567),
        ("5e-3", 0.005),
        ("5E3", 5000.0),
        ("+5.5e-3", 0.0055),
        ("0xc", 12.0),
        ("0X1f", 31.0),
        ("0x_1F", 31.0),
        ("0755", 493.0),
        ("-0755", -493.0),
        ("08", 8.0),
        ("1_000", 1000.0),
        ("1_000.000_1", 1000.0001),
        ("1e1_0", 1e10),
        ("99999999999999999999", 1e20),
    ];
    for &(q, v) in cases {
        assert_eq!(number(q), (v, false), "{q}");
    }
    for q in ["Inf", "+inf", "INF", "iNf"] {
        assert_eq!(number(q).0, f64::INFINITY, "{q}");
    }
    assert_eq!(number("-Inf").0, f64::NEG_INFINITY);
    for q in ["NaN", "nan", "-nAn"] {
        assert!(number(q).0.is_nan(), "{q}");
    }
    // Durations used as numbers are seconds.
    assert_eq!(number("5m"), (300.0, true));
    assert_eq!(number("1h30m"), (5400.0, true));
    assert_eq!(number("10ms"), (0.01, true));
    assert_eq!(number("-1y"), (-31_536_000.0, true));
    // `infinity` and `nanx` are metric names.
    assert!(matches!(ok("infinity"), Expr::VectorSelector(_)));
    assert!(matches!(ok("nanx"), Expr::VectorSelector(_)));
    assert!(matches!(ok("inf:x"), Expr::VectorSelector(_)));
}

#[test]
fn number_errors() {
    let huge = "9".repeat(309);
    let huge_msg =
        format!("error parsing number: strconv.ParseFloat: parsing \"{huge}\": value out of range");
    errors(&[
        ("2.5.", 0, 4, r#"bad number or duration syntax: "2.5.""#),
        ("100..4", 0, 6, r#"bad number or duration syntax: "100..""#),
        ("0deadbeef", 0, 9, r#"bad number or duration syntax: "0de""#),
        ("1__0", 0, 4, r#"bad number or duration syntax: "1__""#),
        ("1_", 0, 2, r#"bad number or duration syntax: "1_""#),
        ("0x1.5", 0, 5, r#"bad number or duration syntax: "0x1.""#),
        ("5mm", 0, 3, r#"bad number or duration syntax: "5mm""#),
        ("5m1", 0, 3, r#"bad number or duration syntax: "5m1""#),
        (&huge, 0, 309, &huge_msg),
        ("5m1h", 0, 4, r#"not a valid duration string: "5m1h""#),
        ("5y1hs", 0, 5, r#"unknown unit "hs" in duration "5y1hs""#),
    ]);
}

fn string(q: &str) -> String {
    match ok(q) {
        Expr::StringLiteral(s) => s.value,
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn string_literals() {
    assert_eq!(
        string(r#""double-quoted string \" with escaped quote""#),
        "double-quoted string \" with escaped quote"
    );
    assert_eq!(
        string(r#"'single-quoted string \' with escaped quote'"#),
        "single-quoted string ' with escaped quote"
    );
    assert_eq!(string("`backtick-quoted string`"), "backtick-quoted string");
    assert_eq!(
        string(r#""\a\b\f\n\r\t\v\\\" - \xFF\377\u1234\U00010111\U0001011111☺""#),
        "\u{7}\u{8}\u{c}\n\r\t\u{b}\\\" - ÿÿ\u{1234}\u{10111}\u{10111}11☺"
            .replace("ÿÿ", "\u{fffd}\u{fffd}")
    );
    assert_eq!(
        string(r#"'\a\b\f\n\r\t\v\\\' - \xc3\xa9'"#),
        "\u{7}\u{8}\u{c}\n\r\t\u{b}\\' - é"
    );
    assert_eq!(
        string("`\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\' - \\xFF`"),
        r#"\a\b\f\n\r\t\v\\\"\' - \xFF"#
    );
    assert_eq!(string("`multi\nline`"), "multi\nline");
    assert_eq!(string(r#""ünïcödé""#), "ünïcödé");
    // Bytes that are not UTF-8 are kept exactly, for the evaluator.
    match ok(r#""a\xc5z""#) {
        Expr::StringLiteral(s) => assert_eq!(s.non_utf8.as_deref(), Some(&b"a\xc5z"[..])),
        other => panic!("{other:?}"),
    }
    assert_eq!(ok(r#""a\xc5z""#).to_string(), r#""a\xc5z""#);
    errors(&[
        (r#""\c""#, 0, 4, "unknown escape sequence U+0063 'c'"),
        (
            r#""\x.""#,
            0,
            5,
            "illegal character U+002E '.' in escape sequence",
        ),
        ("\"\\", 0, 2, "escape sequence not terminated"),
        ("\"abc", 0, 4, "unterminated quoted string"),
        ("\"a\nb\"", 0, 5, "unterminated quoted string"),
        ("`\\``", 3, 4, "unterminated raw string"),
        (r#""\'""#, 0, 4, "unknown escape sequence U+0027 '''"),
        (
            r#""\ud800""#,
            0,
            8,
            "escape sequence is an invalid Unicode code point",
        ),
    ]);
}

#[test]
fn precedence_and_associativity() {
    shapes(&[
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 * 2 + 3", "((1 * 2) + 3)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("8 / 4 / 2", "((8 / 4) / 2)"),
        ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
        ("-2 ^ 2", "(-(2 ^ 2))"),
        ("-2 ^ -2", "(-(2 ^ -2))"),
        ("2 ^ -1 ^ 2", "(2 ^ (-(1 ^ 2)))"),
        ("-a * b", "((-a) * b)"),
        ("-a ^ b", "(-(a ^ b))"),
        ("-a + b", "((-a) + b)"),
        ("1 + -2", "(1 + -2)"),
        ("1 - -2", "(1 - -2)"),
        ("+a", "(+a)"),
        ("- -a", "(-(-a))"),
        ("-(1)", "(-{1})"),
        ("a % b atan2 c * d", "(((a % b) atan2 c) * d)"),
        ("a + b % c", "(a + (b % c))"),
        ("a == b + c", "(a == (b + c))"),
        ("a > bool b == bool c", "((a > bool b) == bool c)"),
        ("a </ b >/ c < d", "(((a </ b) >/ c) < d)"),
        ("a and b == c", "(a and (b == c))"),
        ("a or b and c", "(a or (b and c))"),
        ("a and b or c", "((a and b) or c)"),
        ("a unless b and c", "((a unless b) and c)"),
        (
            "foo + bar or bla and blub",
            "((foo + bar) or (bla and blub))",
        ),
        ("a and b unless c or d", "(((a and b) unless c) or d)"),
        ("1 + 2 == bool 3 * 4", "((1 + 2) == bool (3 * 4))"),
        ("(1 + 2) * 3", "({(1 + 2)} * 3)"),
        ("a * (b + c)", "(a * {(b + c)})"),
        ("foo offset 5m + 1", "(foo offset 5m + 1)"),
        ("-foo offset 5m", "(-foo offset 5m)"),
        ("foo offset -2 ^ 2", "(foo offset -2s ^ 2)"),
        ("foo @ 10 offset 1m * 2", "(foo @ 10.000 offset 1m * 2)"),
        ("sum(x) * 2", "(sum(x) * 2)"),
        (
            "rate(x[5m])[1h:] offset 1h",
            "rate(x[5m])[3600000ms:] offset 3600000ms",
        ),
        ("a AND ON(a) b Or foo", "((a and b) or foo)"),
    ]);
}

fn selector(q: &str) -> VectorSelector {
    match ok(q) {
        Expr::VectorSelector(v) => v,
        other => panic!("{q}: {other:?}"),
    }
}

fn matchers(v: &VectorSelector) -> Vec<(String, MatchOp, String)> {
    v.matchers
        .iter()
        .map(|m| (m.name().to_string(), m.op(), m.value().to_string()))
        .collect()
}

fn m(name: &str, op: MatchOp, value: &str) -> (String, MatchOp, String) {
    (name.to_string(), op, value.to_string())
}

#[test]
fn vector_selectors() {
    use MatchOp::*;
    let v = selector("foo");
    assert_eq!(v.name.as_deref(), Some("foo"));
    assert_eq!(matchers(&v), [m("__name__", Equal, "foo")]);
    assert_eq!(v.pos, PosRange::new(0, 3));

    let v = selector(r#"foo:bar{a="bc", b!='c', c=~`d.*`, d!~"e",}"#);
    assert_eq!(
        matchers(&v),
        [
            m("a", Equal, "bc"),
            m("b", NotEqual, "c"),
            m("c", Regex, "d.*"),
            m("d", NotRegex, "e"),
            m("__name__", Equal, "foo:bar")
        ]
    );
    assert_eq!(v.explicit_matchers().len(), 4);

    let v = selector(r#"{"my.metric", "a.b"="c", __name__!="x"}"#);
    assert_eq!(v.name, None);
    assert_eq!(
        matchers(&v),
        [
            m("__name__", Equal, "my.metric"),
            m("a.b", Equal, "c"),
            m("__name__", NotEqual, "x")
        ]
    );
    assert_eq!(selector(r#"{__name__=~"x.*"}"#).name, None);
    assert_eq!(selector("foo{}").matchers.len(), 1);
    assert_eq!(selector("foo # comment\n").pos, PosRange::new(0, 3));
    assert_eq!(selector("foo{ a = 'b' } ").pos, PosRange::new(0, 14));

    // Keywords are metric names when nothing else fits.
    for name in [
        "sum",
        "min",
        "by",
        "without",
        "offset",
        "start",
        "end",
        "step",
        "range",
        "anchored",
        "smoothed",
        "min_of",
        "max_of",
        "and",
        "or",
        "unless",
        "fill",
        "fill_left",
        "group",
        "topk",
        "limitk",
    ] {
        assert_eq!(selector(name).name.as_deref(), Some(name), "{name}");
    }
    assert_eq!(
        selector(r#"offset{step="1s"}"#).name.as_deref(),
        Some("offset")
    );
    // Label names may be keywords.
    assert_eq!(
        matchers(&selector(r#"x{on="a",by="b",inf="c"}"#))[2],
        m("inf", Equal, "c")
    );
    // A regex is compiled (and must be valid).
    assert!(selector(r#"x{a=~"a|b"}"#).matchers[0].matches("b"));

    errors(&[
        ("{", 1, 1, "unexpected end of input inside braces"),
        ("}", 0, 1, "unexpected character: '}'"),
        ("some{", 5, 5, "unexpected end of input inside braces"),
        ("some}", 4, 5, "unexpected character: '}'"),
        (
            "some_metric{a=b}",
            14,
            15,
            r#"unexpected identifier "b" in label matching, expected string"#,
        ),
        (
            "some_metric{a:b=\"b\"}",
            13,
            20,
            "unexpected character inside braces: ':'",
        ),
        (
            "foo{a*\"b\"}",
            5,
            10,
            "unexpected character inside braces: '*'",
        ),
        (
            "foo{a>=\"b\"}",
            5,
            11,
            "unexpected character inside braces: '>'",
        ),
        (
            "foo{gibberish}",
            13,
            14,
            r#"unexpected "}" in label matching, expected label matching operator"#,
        ),
        ("foo{1}", 4, 6, "unexpected character inside braces: '1'"),
        (
            "{}",
            0,
            2,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x=\"\"}",
            0,
            6,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x=~\".*\"}",
            0,
            9,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x!~\".+\"}",
            0,
            9,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "{x!=\"a\"}",
            0,
            8,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            "foo{__name__=\"bar\"}",
            0,
            19,
            r#"metric name must not be set twice: "foo" or "bar""#,
        ),
        (
            "foo{__name__= =}",
            14,
            15,
            r#"unexpected "=" in label matching, expected string"#,
        ),
        (
            "foo{,}",
            4,
            5,
            r#"unexpected "," in label matching, expected identifier or "}""#,
        ),
        (
            "foo{__name__ == \"bar\"}",
            14,
            15,
            r#"unexpected "=" in label matching, expected string"#,
        ),
        (
            "foo{__name__=\"bar\" lol}",
            19,
            22,
            r#"unexpected identifier "lol" in label matching, expected "," or "}""#,
        ),
        (
            "foo{\"a\"=}",
            8,
            9,
            r#"unexpected "}" in label matching, expected string"#,
        ),
        ("foo{{}", 4, 6, "unexpected left brace '{'"),
        ("bool", 0, 4, "unexpected <bool>"),
        ("on", 0, 2, "unexpected <on>"),
    ]);
    assert!(fail(r#"x{a=~"("}"#)
        .message
        .contains("invalid regular expression"));
}

#[test]
fn matrix_selectors_and_subqueries() {
    shapes(&[
        ("foo[5m]", "foo[5m]"),
        ("foo[300]", "foo[5m]"),
        ("foo[1.5]", "foo[1s500ms]"),
        ("foo [ 5m ]", "foo[5m]"),
        ("foo[5m] offset 5m", "foo[5m] offset 5m"),
        ("foo[5m] offset -5m", "foo[5m] offset -5m"),
        ("foo[5m] @ 10 offset 1m", "foo[5m] @ 10.000 offset 1m"),
        ("foo[5m] offset 1m @ 10", "foo[5m] @ 10.000 offset 1m"),
        ("foo[5m:1m]", "foo[300000ms:60000ms]"),
        ("foo[5m:]", "foo[300000ms:]"),
        (
            "foo[5m:] @ start() offset 1m",
            "foo[300000ms:] @start offset 60000ms",
        ),
        ("rate(foo[5m])[1h:1m]", "rate(foo[5m])[3600000ms:60000ms]"),
        ("(foo + bar)[5m:]", "{(foo + bar)}[300000ms:]"),
        (
            "min_over_time(foo[5m:])[1h:1m]",
            "min_over_time(foo[300000ms:])[3600000ms:60000ms]",
        ),
        ("foo offset 5m [10m:]", "foo offset 5m[600000ms:]"),
        ("sum(foo)[5m:] @ end()", "sum(foo)[300000ms:] @end"),
    ]);
    match ok("foo{a='b'}[5m] offset 1h @ start()") {
        Expr::MatrixSelector(ms) => {
            assert_eq!(ms.range, DurationValue::Millis(300_000));
            assert_eq!(ms.selector.offset, DurationValue::Millis(3_600_000));
            assert_eq!(ms.selector.at, Some(AtModifier::Start));
            assert_eq!(ms.selector.pos, PosRange::new(0, 10));
            assert_eq!(ms.pos, PosRange::new(0, 34));
        }
        other => panic!("{other:?}"),
    }
    errors(&[
        ("foo[5mm]", 4, 8, r#"bad number or duration syntax: "5mm""#),
        ("foo[5m1]", 4, 8, r#"bad number or duration syntax: "5m1""#),
        (
            "foo[5m:1m1]",
            7,
            11,
            r#"bad number or duration syntax: "1m1""#,
        ),
        (
            "foo[5y1hs]",
            4,
            9,
            r#"unknown unit "hs" in duration "5y1hs""#,
        ),
        ("foo[5m1h]", 4, 8, r#"not a valid duration string: "5m1h""#),
        ("foo[0m]", 4, 6, "duration must be greater than 0"),
        ("foo[-1]", 4, 6, "duration must be greater than 0"),
        ("foo[5m:0s]", 7, 9, "duration must be greater than 0"),
        (
            "foo[\"5m\"]",
            4,
            9,
            "unexpected character in duration expression: '\"'",
        ),
        (
            "foo[]",
            4,
            5,
            r#"unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
        ("foo[5m", 6, 6, "unclosed left bracket"),
        (
            "foo{bar=\"baz\"}[",
            15,
            15,
            "unexpected end of input in duration expression",
        ),
        (
            "foo[5s x 5s]",
            7,
            12,
            "unexpected character: 'x', expected ':'",
        ),
        ("foo[5m:1m:1m]", 9, 13, "unexpected colon ':'"),
        (
            "foo[:5m]",
            5,
            8,
            "unexpected colon before duration in duration expression",
        ),
        (
            "some_metric OFFSET 1m[5m]",
            21,
            25,
            "no offset modifiers allowed before range",
        ),
        (
            "some_metric @ 1234 [5m]",
            19,
            23,
            "no @ modifiers allowed before range",
        ),
        (
            "some_metric @ start() [5m]",
            22,
            26,
            "no @ modifiers allowed before range",
        ),
        (
            "some_metric offset step()[5m]",
            25,
            29,
            "no offset modifiers allowed before range",
        ),
        (
            "(foo + bar)[5m]",
            11,
            15,
            "ranges only allowed for vector selectors",
        ),
        (
            "foo[5m][5m]",
            7,
            11,
            "ranges only allowed for vector selectors",
        ),
        (
            "1[5m] anchored",
            1,
            5,
            "ranges only allowed for vector selectors",
        ),
        (
            "test[5d] OFFSET 10s [10m:5s]",
            0,
            28,
            "subquery is only allowed on instant vector, got matrix instead",
        ),
        (
            "(foo + bar{nm=\"val\"})[5m:][10m:5s]",
            0,
            34,
            "subquery is only allowed on instant vector, got matrix instead",
        ),
        (
            "\"x\"[5m:]",
            0,
            8,
            "subquery is only allowed on instant vector, got string instead",
        ),
        ("foo[9.5e10]", 4, 10, "duration out of range"),
    ]);
}

#[test]
fn offset_and_at_modifiers() {
    let v = selector("foo offset 5m");
    assert_eq!(
        (v.offset.clone(), v.pos),
        (DurationValue::Millis(300_000), PosRange::new(0, 13))
    );
    assert_eq!(
        selector("foo OFFSET -7m").offset,
        DurationValue::Millis(-420_000)
    );
    assert_eq!(
        selector("foo offset 1.5").offset,
        DurationValue::Millis(1500)
    );
    assert_eq!(
        selector("foo offset - 5").offset,
        DurationValue::Millis(-5000)
    );
    // A zero offset is no offset, and may be followed by another.
    assert_eq!(
        selector("foo offset 0s offset 1m").offset,
        DurationValue::Millis(60_000)
    );
    let at = |q: &str| selector(q).at;
    assert_eq!(
        at("foo @ 1603774568"),
        Some(AtModifier::Timestamp(1_603_774_568_000))
    );
    assert_eq!(at("foo @ -100"), Some(AtModifier::Timestamp(-100_000)));
    assert_eq!(at("foo @ +1.2345"), Some(AtModifier::Timestamp(1235)));
    assert_eq!(at("foo @ 100s"), Some(AtModifier::Timestamp(100_000)));
    assert_eq!(at("foo @ 1m40s"), Some(AtModifier::Timestamp(100_000)));
    assert_eq!(at("foo @ .3"), Some(AtModifier::Timestamp(300)));
    assert_eq!(at("foo @ 0x10"), Some(AtModifier::Timestamp(16_000)));
    assert_eq!(at("foo @ START()"), Some(AtModifier::Start));
    assert_eq!(at("foo @ end ( )"), Some(AtModifier::End));
    let v = selector("foo @ 10 offset 5m");
    assert_eq!(
        (v.at, v.offset),
        (
            Some(AtModifier::Timestamp(10_000)),
            DurationValue::Millis(300_000)
        )
    );
    let v = selector("foo offset 5m @ end()");
    assert_eq!((v.at, v.pos), (Some(AtModifier::End), PosRange::new(0, 21)));
    errors(&[
        ("1 offset 1d", 0, 1, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("foo offset 1s offset 2s", 0, 13, "offset may not be set multiple times"),
        ("foo[5m:] offset 1s offset 2s", 0, 18, "offset may not be set multiple times"),
        ("some_metric[5m] OFFSET 1mm", 23, 26, r#"bad number or duration syntax: "1mm""#),
        ("some_metric[5m] OFFSET", 22, 22, "unexpected end of input in offset, expected number, duration, step(), or range()"),
        ("some_metric[5m] @", 17, 17, "unexpected end of input in @, expected timestamp"),
        ("foo @ bar", 6, 9, r#"unexpected identifier "bar" in @, expected timestamp"#),
        ("foo @ +Inf", 0, 3, "timestamp out of bounds for @ modifier: +Inf"),
        ("foo @ -Inf", 0, 3, "timestamp out of bounds for @ modifier: -Inf"),
        ("foo @ NaN", 0, 3, "timestamp out of bounds for @ modifier: NaN"),
        ("foo @ 1e19", 0, 3, "timestamp out of bounds for @ modifier: 10000000000000000000.000000"),
        ("rate(some_metric[5m]) @ 1234", 0, 21, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("foo @ 1 @ 2", 0, 7, "@ <timestamp> may not be set multiple times"),
        ("foo @ start() @ end()", 0, 13, "@ <timestamp> may not be set multiple times"),
        ("(foo) offset 1m", 0, 5, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("foo offset 9.5e10", 11, 17, "duration out of range"),
        ("@@", 0, 1, "unexpected <op:@>"),
    ]);
}

fn binary(q: &str) -> BinaryExpr {
    match ok(q) {
        Expr::Binary(b) => b,
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn binary_operators_and_matching() {
    use VectorMatchCardinality::*;
    let all = [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Mod),
        ("^", BinaryOp::Pow),
        ("atan2", BinaryOp::Atan2),
        ("ATAN2", BinaryOp::Atan2),
        ("==", BinaryOp::Eql),
        ("!=", BinaryOp::Neq),
        ("<", BinaryOp::Lss),
        ("<=", BinaryOp::Lte),
        (">", BinaryOp::Gtr),
        (">=", BinaryOp::Gte),
        ("and", BinaryOp::And),
        ("Or", BinaryOp::Or),
        ("unless", BinaryOp::Unless),
        ("</", BinaryOp::TrimUpper),
        (">/", BinaryOp::TrimLower),
    ];
    for (text, op) in all {
        let b = binary(&format!("foo {text} bar"));
        assert_eq!(b.op, op, "{text}");
        let card = if op.is_set_operator() {
            ManyToMany
        } else {
            OneToOne
        };
        assert_eq!(b.matching.map(|m| m.card), Some(card), "{text}");
    }
    // Matching is dropped when an operand is a scalar.
    assert_eq!(binary("foo * 2").matching, None);
    assert_eq!(binary("1 + on() 2").matching, None);
    assert_eq!(binary("1 + ignoring() foo").matching, None);
    assert!(binary("foo == bool 1").return_bool);
    assert!(binary("1 == bool 1").return_bool);
    assert_eq!(binary("1 < bool 2").lhs.value_type(), ValueType::Scalar);

    let b = binary("foo * on(test,blub) bar");
    let m = b.matching.unwrap();
    assert!(m.on);
    assert_eq!(
        (m.labels, m.card),
        (vec!["test".to_string(), "blub".into()], OneToOne)
    );
    let m = binary("foo * on() bar").matching.unwrap();
    assert!(m.on && m.labels.is_empty());
    let m = binary("foo * ignoring(test,blub,) bar").matching.unwrap();
    assert!(!m.on);
    assert_eq!(m.labels, ["test", "blub"]);
    let m = binary("foo / on(test,blub) group_left(bar) bar")
        .matching
        .unwrap();
    assert_eq!((m.card, m.include), (ManyToOne, vec!["bar".to_string()]));
    let m = binary("foo / ignoring(test) group_right(bar, \"b.c\") bar")
        .matching
        .unwrap();
    assert_eq!(
        (m.card, m.include),
        (OneToMany, vec!["bar".to_string(), "b.c".into()])
    );
    let m = binary("foo - on(test) group_left bar").matching.unwrap();
    assert_eq!((m.card, m.include.len()), (ManyToOne, 0));
    let m = binary("foo and on(test,blub) bar").matching.unwrap();
    assert_eq!(m.card, ManyToMany);
    let m = binary("foo unless ignoring(bar) baz").matching.unwrap();
    assert_eq!((m.card, m.on), (ManyToMany, false));
    let m = binary("foo or on(bar) baz").matching.unwrap();
    assert_eq!(m.card, ManyToMany);
    // Label lists take keywords and quoted UTF-8 names.
    let m = binary(r#"foo + on(by, on, sum, "ä.ö", :x) bar"#)
        .matching
        .unwrap();
    assert_eq!(m.labels, ["by", "on", "sum", "ä.ö", ":x"]);

    // fill modifiers
    let fill = |q: &str| binary(q).matching.unwrap().fill;
    let f = fill("a + fill(0) b");
    assert_eq!((f.lhs, f.rhs), (Some(0.0), Some(0.0)));
    let f = fill("a + fill_left(-1) b");
    assert_eq!((f.lhs, f.rhs), (Some(-1.0), None));
    let f = fill("a + fill_right(+Inf) b");
    assert_eq!((f.lhs, f.rhs), (None, Some(f64::INFINITY)));
    let f = fill("a + on(x) group_left fill_left(1) fill_right(2) b");
    assert_eq!((f.lhs, f.rhs), (Some(1.0), Some(2.0)));
    let f = fill("a + fill_right(2) fill_left(1m) b");
    assert_eq!((f.lhs, f.rhs), (Some(60.0), Some(2.0)));
    let f = fill("a == bool fill(30) b");
    assert_eq!(f.lhs, Some(30.0));
    // `fill` without parentheses is a metric name.
    assert_eq!(tree(&ok("fill + fill")), "(fill + fill)");
    assert_eq!(tree(&ok("a + fill(1) fill")), "(a + fill)");

    // The operator range Prometheus reports: trimmed, inclusive end.
    assert_eq!(binary("1 ==   bool 1").op_pos, PosRange::new(2, 10));
    assert_eq!(binary("foo + bar").pos, PosRange::new(0, 9));

    errors(&[
        (
            "1 and 1",
            0,
            7,
            r#"set operator "and" not allowed in binary scalar expression"#,
        ),
        (
            "1 == 1",
            2,
            3,
            "comparisons between scalars must use BOOL modifier",
        ),
        (
            "1 or 1",
            0,
            6,
            r#"set operator "or" not allowed in binary scalar expression"#,
        ),
        (
            "1 unless 1",
            0,
            10,
            r#"set operator "unless" not allowed in binary scalar expression"#,
        ),
        ("1 !~ 1", 2, 6, "unexpected character after '!': '~'"),
        ("1 =~ 1", 2, 6, "unexpected character after '=': '~'"),
        (
            "foo and 1",
            0,
            9,
            r#"set operator "and" not allowed in binary scalar expression"#,
        ),
        (
            "1 unless foo",
            0,
            12,
            r#"set operator "unless" not allowed in binary scalar expression"#,
        ),
        (
            "1 or on(bar) foo",
            0,
            16,
            "vector matching only allowed between instant vectors",
        ),
        (
            "foo == on(bar) 10",
            0,
            17,
            "vector matching only allowed between instant vectors",
        ),
        (
            "foo + group_left(baz) bar",
            6,
            16,
            "unexpected <group_left>",
        ),
        (
            "foo and on(bar) group_left(baz) bar",
            0,
            35,
            r#"no grouping allowed for "and" operation"#,
        ),
        (
            "foo or on(bar) group_right(baz) bar",
            0,
            35,
            r#"no grouping allowed for "or" operation"#,
        ),
        (
            "foo unless on(bar) group_left(baz) bar",
            0,
            38,
            r#"no grouping allowed for "unless" operation"#,
        ),
        (
            r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#,
            34,
            72,
            r#"label "instance" must not occur in ON and GROUP clause at once"#,
        ),
        (
            "foo + bool bar",
            4,
            9,
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo + bool 10",
            4,
            9,
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo and bool 10",
            4,
            11,
            "bool modifier can only be used on comparison operators",
        ),
        ("a - on(b) ignoring(c) d", 10, 18, "unexpected <ignoring>"),
        (
            "a + on(b) group_left (c + d)",
            24,
            25,
            r#"unexpected <op:+> in grouping opts, expected "," or ")""#,
        ),
        (
            "foo[5m] + 1",
            0,
            7,
            "binary expression must contain only scalar and instant vector types",
        ),
        (
            "1 + foo[5m]",
            4,
            11,
            "binary expression must contain only scalar and instant vector types",
        ),
        (
            "\"a\" + 1",
            0,
            3,
            "binary expression must contain only scalar and instant vector types",
        ),
        (
            "1 + fill(1) 2",
            0,
            13,
            "filling in missing series only allowed between instant vectors",
        ),
        (
            "a and fill(1) b",
            0,
            15,
            "filling in missing series not allowed for set operators",
        ),
        ("*1", 0, 1, "unexpected <op:*>"),
        ("*test", 0, 1, "unexpected <op:*>"),
        ("1+", 2, 2, "unexpected end of input"),
        ("1 /", 3, 3, "unexpected end of input"),
        ("-=", 1, 2, r#"unexpected "=""#),
        ("++-++-+-+-<", 10, 11, "unexpected <op:<>"),
        ("e-+=/(0)", 3, 4, r#"unexpected "=""#),
        ("foo bar", 4, 7, r#"unexpected identifier "bar""#),
        ("a andx b", 2, 6, r#"unexpected identifier "andx""#),
    ]);
}

fn aggregate(q: &str) -> AggregateExpr {
    match ok(q) {
        Expr::Aggregate(a) => a,
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn aggregations() {
    let a = aggregate("sum by (foo) (some_metric)");
    assert_eq!(
        (a.op, a.grouping.clone(), a.without),
        (AggregateOp::Sum, vec!["foo".to_string()], false)
    );
    assert_eq!(a.pos, PosRange::new(0, 26));
    let a = aggregate("sum (some_metric) by (foo,bar,)");
    assert_eq!(a.grouping, ["foo", "bar"]);
    assert_eq!(a.pos, PosRange::new(0, 31));
    let a = aggregate("avg without (foo) (some_metric)");
    assert!(a.without);
    let a = aggregate("SUM WITHOUT () (some_metric)");
    assert!(a.without && a.grouping.is_empty());
    let a = aggregate("sum by () (x)");
    assert!(!a.without && a.grouping.is_empty());
    let a = aggregate("sum(x) # trailing comment");
    assert_eq!(a.pos, PosRange::new(0, 6));
    let a = aggregate(r#"count by ("ööö", job, "a.b") (foo)"#);
    assert_eq!(a.grouping, ["ööö", "job", "a.b"]);
    let a = aggregate("sum by (on, by, offset, bool, group_left, a:b) (x)");
    assert_eq!(
        a.grouping,
        ["on", "by", "offset", "bool", "group_left", "a:b"]
    );
    for op in AggregateOp::ALL {
        let q = if op.has_param() {
            format!("{op}(2, x)")
        } else {
            format!("{op}(x)")
        };
        let q = q.replace("count_values(2", "count_values(\"v\"");
        let a = aggregate(&q);
        assert_eq!(a.op, op, "{q}");
        assert_eq!(a.param.is_some(), op.has_param(), "{q}");
    }
    let a = aggregate("topk(5, some_metric)");
    assert_eq!(a.param.as_deref().map(tree).as_deref(), Some("5"));
    let a = aggregate("count_values without (instance)(\"version\", version)");
    assert_eq!(a.param.as_deref().map(tree).as_deref(), Some("\"version\""));
    let a = aggregate("quantile(0.5, some_metric)");
    assert_eq!(a.op, AggregateOp::Quantile);
    let a = aggregate("bottomk by (group) (scalar(x), y)");
    assert_eq!(a.param.unwrap().value_type(), ValueType::Scalar);
    let a = aggregate("limitk(2, x)");
    assert_eq!(a.op, AggregateOp::Limitk);
    errors(&[
        (
            "sum by (\"foo)(some_metric{})",
            8,
            28,
            "unterminated quoted string",
        ),
        (
            "sum without(==)(some_metric)",
            12,
            14,
            "unexpected <op:==> in grouping opts, expected label",
        ),
        (
            "sum without(,)(some_metric)",
            12,
            13,
            r#"unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum without(foo,,)(some_metric)",
            16,
            17,
            r#"unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum some_metric by (test)",
            4,
            15,
            r#"unexpected identifier "some_metric""#,
        ),
        (
            "sum (some_metric) by test",
            21,
            25,
            r#"unexpected identifier "test" in grouping opts, expected "(""#,
        ),
        (
            "sum () by (test)",
            0,
            16,
            "no arguments for aggregate expression provided",
        ),
        (
            "MIN keep_common (some_metric)",
            4,
            15,
            r#"unexpected identifier "keep_common""#,
        ),
        (
            "MIN (some_metric) keep_common",
            18,
            29,
            r#"unexpected identifier "keep_common""#,
        ),
        (
            "sum (some_metric) without (test) by (test)",
            33,
            35,
            "unexpected <by>",
        ),
        (
            "sum without (test) (some_metric) by (test)",
            33,
            35,
            "unexpected <by>",
        ),
        (
            "topk(some_metric)",
            0,
            17,
            "wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        (
            "topk(some_metric,)",
            16,
            17,
            "trailing commas not allowed in function call args",
        ),
        (
            "topk(some_metric, other_metric)",
            5,
            16,
            "expected type scalar in aggregation parameter, got instant vector",
        ),
        (
            "count_values(5, other_metric)",
            13,
            14,
            "expected type string in aggregation parameter, got scalar",
        ),
        (
            "sum(1)",
            4,
            5,
            "expected type instant vector in aggregation expression, got scalar",
        ),
        (
            "sum(x[5m])",
            4,
            9,
            "expected type instant vector in aggregation expression, got range vector",
        ),
        (
            "sum(a, b)",
            0,
            9,
            "wrong number of arguments for aggregate expression provided, expected 1, got 2",
        ),
        (
            "sum by (\"\") (x)",
            8,
            10,
            "invalid label name for grouping: \"\"",
        ),
        (
            "sum by (inf) (x)",
            8,
            11,
            r#"unexpected number "inf" in grouping opts, expected label"#,
        ),
        ("sum(", 4, 4, "unclosed left parenthesis"),
    ]);
}

#[test]
fn function_calls() {
    let call = |q: &str| match ok(q) {
        Expr::Call(c) => c,
        other => panic!("{q}: {other:?}"),
    };
    let c = call("time()");
    assert_eq!(
        (c.func.name, c.args.len(), c.pos),
        ("time", 0, PosRange::new(0, 6))
    );
    assert_eq!(c.func.return_type, ValueType::Scalar);
    let c = call("floor(some_metric{foo!=\"bar\"})");
    assert_eq!(c.func.name, "floor");
    let c = call("rate(some_metric[5m])");
    assert_eq!(c.args[0].value_type(), ValueType::Matrix);
    let c = call("round(some_metric)");
    assert_eq!(c.args.len(), 1);
    let c = call("round(some_metric, 5)");
    assert_eq!(c.args.len(), 2);
    let c = call("hour()");
    assert_eq!(c.args.len(), 0);
    let c = call(r#"label_join(x, "dst", ",", "a", "b", "c", "d")"#);
    assert_eq!(c.args.len(), 7);
    let c = call(r#"sort_by_label(x, "a", "b")"#);
    assert_eq!(c.args.len(), 3);
    let c = call(r#"histogram_quantiles(x, "q", 0.1, 0.5, 0.9)"#);
    assert_eq!(c.args.len(), 5);
    let c = call(r#"info(rate(x[5m]), {k=~".+"})"#);
    assert_eq!(c.args.len(), 2);
    let c = call("info(x, {__name__=\"target_info\"})");
    assert_eq!(c.func.name, "info");
    assert_eq!(tree(&ok("step() + 1 > bool 0")), "((step() + 1) > bool 0)");
    assert_eq!(call("start()").func.name, "start");
    assert_eq!(call("min_of(1, 2)").func.name, "min_of");
    assert_eq!(call("predict_linear(foo[1h], 3000)").args.len(), 2);
    // Function names are case-sensitive; keywords are not.
    errors(&[
        (
            "floor()",
            0,
            7,
            r#"expected 1 argument(s) in call to "floor", got 0"#,
        ),
        (
            "floor(some_metric, other_metric)",
            0,
            32,
            r#"expected 1 argument(s) in call to "floor", got 2"#,
        ),
        (
            "floor(1)",
            6,
            7,
            r#"expected type instant vector in call to function "floor", got scalar"#,
        ),
        (
            "hour(some_metric, some_metric, some_metric)",
            0,
            43,
            r#"expected at most 1 argument(s) in call to "hour", got 3"#,
        ),
        (
            "time(some_metric)",
            0,
            17,
            r#"expected 0 argument(s) in call to "time", got 1"#,
        ),
        (
            "label_join(x, \"a\")",
            0,
            18,
            r#"expected at least 3 argument(s) in call to "label_join", got 2"#,
        ),
        (
            "label_join(x, \"a\", \"b\", \"c\", 1)",
            29,
            30,
            r#"expected type string in call to function "label_join", got scalar"#,
        ),
        (
            "non_existent_function_far_bar()",
            0,
            29,
            r#"unknown function with name "non_existent_function_far_bar""#,
        ),
        ("Rate(x[5m])", 0, 4, r#"unknown function with name "Rate""#),
        ("STEP()", 0, 4, r#"unknown function with name "STEP""#),
        (
            "rate(some_metric)",
            5,
            16,
            r#"expected type range vector in call to function "rate", got instant vector"#,
        ),
        (
            "rate(avg)",
            5,
            8,
            r#"expected type range vector in call to function "rate", got instant vector"#,
        ),
        ("a>b()", 2, 3, r#"unknown function with name "b""#),
        (
            "rate(x,)",
            6,
            7,
            "trailing commas not allowed in function call args",
        ),
        ("sum(rate(", 9, 9, "unclosed left parenthesis"),
        (
            r#"info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"})"#,
            45,
            67,
            "expected label selectors only, got vector selector instead",
        ),
        (
            r#"info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1)"#,
            50,
            66,
            "expected label selectors only",
        ),
        (
            "info(x, 1)",
            0,
            10,
            r#"expected type instant vector in call to function "info", got scalar"#,
        ),
        (
            "-\"string\"",
            0,
            9,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "string""#,
        ),
        (
            "-test[5m]",
            0,
            9,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#,
        ),
    ]);
    // info()'s second argument may match everything.
    ok(r#"info(x, {k=~".*"})"#);
}

#[test]
fn duration_expressions() {
    let range = |q: &str| match ok(q) {
        Expr::MatrixSelector(ms) => dur(&ms.range),
        Expr::Call(c) => match &c.args[0] {
            Expr::MatrixSelector(ms) => dur(&ms.range),
            Expr::Subquery(s) => format!(
                "{}:{}",
                dur(&s.range),
                s.step.as_ref().map(dur).unwrap_or_default()
            ),
            other => panic!("{other:?}"),
        },
        other => panic!("{q}: {other:?}"),
    };
    let cases = [
        ("x[26m+4m]", "(26m + 4m)"),
        ("x[30m+0s]", "(30m + 0s)"),
        ("x[60*30]", "(60 * 30)"),
        ("x[2m*(10+5)]", "(2m * {(10 + 5)})"),
        ("x[-5m+35m]", "(-5m + 35m)"),
        ("x[1h30m % 1h]", "(1h30m % 1h)"),
        ("x[30m1s-30m1s % 1m]", "(30m1s - (30m1s % 1m))"),
        ("x[11s+10s-5*2^2]", "((11s + 10s) - (5 * (2 ^ 2)))"),
        ("x[-(10s-5s)+20s]", "((-{(10s - 5s)}) + 20s)"),
        ("x[2^3^2]", "(2 ^ (3 ^ 2))"),
        ("x[-2^2 + 10]", "((-(2 ^ 2)) + 10)"),
        ("x[step()]", "step()"),
        ("x[STEP()+1ms]", "(step() + 1ms)"),
        ("x[-step()]", "(-step())"),
        ("x[+step()]", "step()"),
        ("x[(5s)]", "{5s}"),
        ("x[((5s))]", "{5s}"),
        ("x[range()]", "range()"),
        ("x[min_of(step()+1,1h)]", "min_of((step() + 1), 1h)"),
        (
            "x[max_of(min_of(step()+1,1h),1ms)]",
            "max_of(min_of((step() + 1), 1h), 1ms)",
        ),
        ("sum_over_time(x[29s+1s:5s+5s])", "(29s + 1s):(5s + 5s)"),
        ("sum_over_time(x[30s:(5s)])", "30000ms:{5s}"),
        ("count_over_time(x[(step())+1])", "({step()} + 1)"),
    ];
    for (q, want) in cases {
        assert_eq!(range(q), want, "{q}");
    }
    let offset = |q: &str| match ok(q) {
        Expr::VectorSelector(v) => dur(&v.offset),
        Expr::Binary(b) => match *b.lhs {
            Expr::VectorSelector(v) => format!("{} {} _", dur(&v.offset), b.op),
            other => panic!("{other:?}"),
        },
        other => panic!("{q}: {other:?}"),
    };
    let cases = [
        ("x offset (100 + 2)", "{(100 + 2)}"),
        ("x offset 100 + 2", "100000ms + _"),
        ("x offset 2 ^ 2", "2000ms ^ _"),
        ("x offset -2 ^ 2", "-2000ms ^ _"),
        ("x offset (-2 ^ 2)", "{(-(2 ^ 2))}"),
        ("x offset -2 * 2", "-2000ms * _"),
        ("x offset STEP()", "step()"),
        ("x offset step()*0", "step() * _"),
        ("x offset -step()*2", "(-step()) * _"),
        ("x offset (-step()*2)", "{((-step()) * 2)}"),
        ("x offset min_of(step(), 1s)+8000", "min_of(step(), 1s) + _"),
        (
            "x offset -min_of(step(), 1s)^0",
            "(-min_of(step(), 1s)) ^ _",
        ),
        ("x offset +min_of(step(), 1s)", "min_of(step(), 1s)"),
        (
            "x offset -(min_of(step(), 1s))+8000",
            "(-{min_of(step(), 1s)}) + _",
        ),
        ("x offset +(5)", "{5}"),
        ("x offset -(5)", "(-{5})"),
        ("x offset range()", "range()"),
    ];
    for (q, want) in cases {
        assert_eq!(offset(q), want, "{q}");
    }
    errors(&[
        ("foo[step()/0d]", 10, 11, "division by zero"),
        ("foo[5s/0d]", 6, 7, "division by zero"),
        ("foo offset (4d/0)", 14, 15, "division by zero"),
        ("foo[5s%0d]", 6, 7, "modulo by zero"),
        (
            "foo[step]",
            4,
            8,
            r#"unexpected "step" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
    ]);
    // Not a literal, so not checked for sign at parse time.
    ok("foo[-(5m)+1m]");
    ok("foo[-(5m)]");
}

#[test]
fn extended_range_selectors() {
    let v = selector("foo anchored");
    assert!(v.anchored && !v.smoothed);
    assert_eq!(v.pos, PosRange::new(0, 3));
    match ok("foo[5m] SMOOTHED offset 1m") {
        Expr::MatrixSelector(ms) => assert!(ms.selector.smoothed),
        other => panic!("{other:?}"),
    }
    match ok("foo anchored[5m]") {
        Expr::MatrixSelector(ms) => assert!(ms.selector.anchored),
        other => panic!("{other:?}"),
    }
    errors(&[
        (
            "foo[5m] anchored smoothed",
            0,
            7,
            "anchored and smoothed modifiers cannot be used together",
        ),
        (
            "foo[5m:] anchored",
            0,
            8,
            "anchored modifier is not supported for subqueries",
        ),
        (
            "foo[5m:] smoothed",
            0,
            8,
            "smoothed modifier is not supported for subqueries",
        ),
        (
            "sum(foo) anchored",
            0,
            8,
            "anchored modifier not implemented",
        ),
    ]);
}

#[test]
fn feature_flags() {
    let default = ParserOptions::default();
    let err = |q: &str, opts: &ParserOptions| match parse_with(q, opts) {
        Ok(e) => panic!("{q} parsed as {e}"),
        Err(e) => (e.pos.start, e.pos.end, e.message),
    };
    assert_eq!(
        err("limitk(1, x)", &default),
        (0, 12, "limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions".into())
    );
    assert_eq!(
        err("limit_ratio(0.5, x)", &default).2,
        "limit_ratio() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
    );
    assert_eq!(
        err("sort_by_label(x, \"a\")", &default),
        (0, 13, r#"function "sort_by_label" is not enabled"#.into())
    );
    assert_eq!(
        err("x[5m+1m]", &default),
        (
            2,
            4,
            "experimental duration expression is not enabled".into()
        )
    );
    assert_eq!(
        err("x[step()]", &default),
        (
            2,
            8,
            "experimental duration expression is not enabled".into()
        )
    );
    assert_eq!(
        err("x offset (5m)", &default),
        (
            10,
            12,
            "experimental duration expression is not enabled".into()
        )
    );
    assert_eq!(
        err("x offset -min_of(1m, 2m)", &default).2,
        "experimental duration expression is not enabled"
    );
    assert_eq!(
        err("x anchored", &default),
        (
            0,
            1,
            "anchored modifier is experimental and not enabled".into()
        )
    );
    assert_eq!(
        err("x[5m] smoothed", &default),
        (
            0,
            5,
            "smoothed modifier is experimental and not enabled".into()
        )
    );
    assert_eq!(
        err("a + fill(0) b", &default),
        (
            0,
            13,
            "binop fill modifiers are experimental and not enabled".into()
        )
    );
    assert_eq!(
        err("a + fill_left(0) b", &default).2,
        "binop fill modifiers are experimental and not enabled"
    );
    // Each flag enables its own part only.
    let only = |f: fn(&mut ParserOptions)| {
        let mut o = ParserOptions::default();
        f(&mut o);
        o
    };
    parse_with(
        "limitk(1, x)",
        &only(|o| o.enable_experimental_functions = true),
    )
    .unwrap();
    parse_with(
        "x[5m+1m] offset -step()",
        &only(|o| o.experimental_duration_expr = true),
    )
    .unwrap();
    parse_with(
        "x[5m] anchored",
        &only(|o| o.enable_extended_range_selectors = true),
    )
    .unwrap();
    parse_with(
        "a + fill(0) b",
        &only(|o| o.enable_binop_fill_modifiers = true),
    )
    .unwrap();
    assert!(parse_with(
        "x[5m] anchored",
        &only(|o| o.experimental_duration_expr = true)
    )
    .is_err());
    // Stable parts work without flags.
    for q in [
        "x[5m] offset -5m @ 100",
        "rate(x[300])",
        "sum by (a) (x) > bool 1",
        "x offset 5",
    ] {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}

#[test]
fn value_types() {
    let cases = [
        ("1", ValueType::Scalar),
        ("\"a\"", ValueType::String),
        ("x", ValueType::Vector),
        ("x[5m]", ValueType::Matrix),
        ("x[5m:]", ValueType::Matrix),
        ("1 + 2", ValueType::Scalar),
        ("1 + x", ValueType::Vector),
        ("-(1)", ValueType::Scalar),
        ("(x)", ValueType::Vector),
        ("time()", ValueType::Scalar),
        ("scalar(x) * 2", ValueType::Scalar),
        ("sum(x)", ValueType::Vector),
        ("(\"a\")", ValueType::String),
    ];
    for (q, t) in cases {
        assert_eq!(ok(q).value_type(), t, "{q}");
    }
    assert_eq!(ValueType::Matrix.as_str(), "matrix");
    assert_eq!(ValueType::Matrix.documented(), "range vector");
}

#[test]
fn children_in_source_order() {
    let e = ok("topk(3, a + b)");
    let kids: Vec<String> = e.children().iter().map(|c| c.to_string()).collect();
    assert_eq!(kids, ["3", "a + b"]);
    let e = ok("label_replace(x, \"a\", \"b\", \"c\", \"d\")");
    assert_eq!(e.children().len(), 5);
    assert!(ok("x[5m]").children().is_empty());
}

#[test]
fn empty_input_and_comments() {
    errors(&[
        ("", 0, 0, "no expression found in input"),
        ("# just a comment\n\n", 0, 0, "no expression found in input"),
        ("   ", 0, 0, "no expression found in input"),
        (".", 0, 1, "unexpected character: '.'"),
        ("(", 1, 1, "unclosed left parenthesis"),
        ("(1))", 4, 4, "unexpected right parenthesis ')'"),
        ("((1)", 4, 4, "unclosed left parenthesis"),
        ("[5m]", 0, 1, r#"unexpected "[""#),
        ("x $", 2, 3, "unexpected character: '$'"),
    ]);
    assert_eq!(
        fail("").to_string(),
        "unknown position: parse error: no expression found in input"
    );
    let e = ok("# leading\nsum( # inner\n  x # trailing\n) # end");
    assert_eq!(e.to_string(), "sum(x)");
    assert_eq!(ok("1 #comment").pos(), PosRange::new(0, 1));
    let e = fail("sum(x) +\n  foo{a=b}");
    assert_eq!((e.line, e.col), (2, 9));
    assert_eq!(
        e.to_string(),
        r#"2:9: parse error: unexpected identifier "b" in label matching, expected string"#
    );
}

#[test]
fn metric_selectors() {
    let ms = parse_metric_selector(r#"up{job="api", "a.b"=~"x.*"}"#).unwrap();
    let got: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
    assert_eq!(got, [r#"job="api""#, r#""a.b"=~"x.*""#, r#"__name__="up""#]);
    // No non-empty matcher is needed here.
    assert_eq!(parse_metric_selector(r#"{job=~".*"}"#).unwrap().len(), 1);
    assert_eq!(
        parse_metric_selector(r#"{"up"}"#).unwrap()[0].to_string(),
        r#"__name__="up""#
    );
    for bad in ["up + 1", "rate(x[5m])", "up[5m]", "", "up{"] {
        assert!(parse_metric_selector(bad).is_err(), "{bad}");
    }
}
