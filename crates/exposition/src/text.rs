//! The Prometheus text format (0.0.4), parsed the way Prometheus' scrape
//! parser (`model/textparse/promparse.go`) does, leniencies included.

use ember_model::MetricType;

use crate::entry::{Entry, Raw};
use crate::error::{
    error_at, invalid_metric_type, invalid_number, unexpected, ParseError, ParseErrorKind,
};
use crate::lex::{
    after_line, bare_metric_name, is_name_start, line_end, metric_name, next_entry, parse_float,
    scan_digits, scan_text_value, skip_blank, unescape, Bufs, Escapes, NameInBraces, Src, Syntax,
};

/// A streaming parser for the Prometheus text format.
///
/// It accepts what Prometheus 3's scrape parser accepts: blanks around
/// label syntax, trailing commas, blank lines, leading blanks, comments
/// anywhere, HELP after TYPE, UTF-8 quoted names (`{"my.metric"}`), raw
/// newlines inside quoted strings, NUL bytes in label values and help text.
/// A NUL byte at the start of a line ends the input, as in Prometheus.
/// `le` (histograms) and `quantile` (summaries) values are normalised to
/// OpenMetrics float formatting, using the type of the last `# TYPE` line.
pub struct TextParser<'a> {
    src: Src<'a>,
    pos: usize,
    mtype: MetricType,
    bufs: Bufs<'a>,
    done: bool,
}

impl<'a> TextParser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        TextParser {
            src: Src::new(input),
            pos: 0,
            mtype: MetricType::Unknown,
            bufs: Bufs::default(),
            done: false,
        }
    }

    /// The next entry; `Ok(None)` at the end of the input. After an error
    /// the parser is finished and returns `Ok(None)`.
    // A lending iterator: entries borrow the parser, so this cannot be
    // `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        next_entry(self, Self::parse_entry, |p| (&mut p.done, &p.bufs))
    }

    fn parse_entry(&mut self) -> Result<Option<Raw<'a>>, ParseError> {
        let b = self.src.bytes;
        self.bufs.clear();
        loop {
            self.pos = skip_blank(b, self.pos);
            match b.get(self.pos) {
                None | Some(0) => return Ok(None),
                Some(b'\n') => self.pos += 1,
                Some(b'#') => return self.comment_or_meta().map(Some),
                Some(&c) if c == b'{' || is_name_start(c) => return self.series().map(Some),
                Some(_) => {
                    return Err(unexpected(
                        b,
                        self.pos,
                        "a metric name, '{', '#' or end of line",
                    ))
                }
            }
        }
    }

    fn comment_or_meta(&mut self) -> Result<Raw<'a>, ParseError> {
        let b = self.src.bytes;
        let hash = self.pos;
        let p = skip_blank(b, hash + 1);
        if p > hash + 1 {
            let keyword = b.get(p..p + 4);
            let help = keyword == Some(b"HELP");
            if (help || keyword == Some(b"TYPE")) && matches!(b.get(p + 4), Some(b' ' | b'\t')) {
                return self.meta(help, skip_blank(b, p + 4));
            }
        }
        let eol = line_end(b, hash);
        self.pos = after_line(b, eol);
        Ok(Raw::Comment(&b[hash..eol]))
    }

    fn meta(&mut self, help: bool, p: usize) -> Result<Raw<'a>, ParseError> {
        let b = self.src.bytes;
        let expected = if help {
            "a metric name after HELP"
        } else {
            "a metric name after TYPE"
        };
        let ((metric, _, _), name_end) =
            metric_name(self.src, p, &mut self.bufs.scratch, expected)?;
        if b.get(name_end) == Some(&0) {
            return Err(unexpected(b, name_end, "text after the metric name"));
        }
        let eol = line_end(b, name_end);
        // The text is the rest of the line minus its first byte (normally
        // the separating blank); a rest of only blanks is empty text.
        let rest = &b[name_end..eol];
        let text_start = if rest.iter().all(|&c| c == b' ' || c == b'\t') {
            eol
        } else {
            name_end + 1
        };
        self.pos = after_line(b, eol);
        if help {
            let raw = self.src.text(text_start, eol, "help text")?;
            Ok(Raw::Help(
                metric,
                unescape(raw, Escapes::Help, &mut self.bufs.scratch),
            ))
        } else {
            let t = match &b[text_start..eol] {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                other => return Err(invalid_metric_type(b, text_start, other)),
            };
            self.mtype = t;
            Ok(Raw::Type(metric, t))
        }
    }

    fn series(&mut self) -> Result<Raw<'a>, ParseError> {
        let b = self.src.bytes;
        let start = self.pos;
        let mut name: NameInBraces<'a> = None;
        let mut pos;
        if b.get(start) == Some(&b'{') {
            pos = self.labels(start + 1, &mut name)?;
        } else {
            let bare = bare_metric_name(self.src, start)?;
            let end = bare.2;
            name = Some(bare);
            pos = end;
            let p = skip_blank(b, end);
            if b.get(p) == Some(&b'{') {
                pos = self.labels(p + 1, &mut name)?;
            }
        }
        let raw = &b[start..pos];
        let Some((name, _, _)) = name else {
            return Err(error_at(b, start, ParseErrorKind::MetricNameNotSet));
        };
        let v = skip_blank(b, pos);
        let v_end = scan_text_value(b, v);
        if v_end == v {
            return Err(unexpected(b, v, "a value after the metric"));
        }
        let value = parse_float(b, v, v_end, "value")?;
        let mut p = skip_blank(b, v_end);
        let mut timestamp = None;
        match b.get(p) {
            None | Some(b'\n') => {}
            Some(c) if c.is_ascii_digit() => {
                let t_end = scan_digits(b, p);
                timestamp = Some(
                    parse_int_timestamp(&b[p..t_end])
                        .ok_or_else(|| invalid_number(b, p, t_end, "timestamp"))?,
                );
                p = skip_blank(b, t_end);
                if !matches!(b.get(p), None | Some(b'\n')) {
                    return Err(unexpected(b, p, "end of line after the timestamp"));
                }
            }
            Some(_) => return Err(unexpected(b, p, "a timestamp or end of line")),
        }
        self.pos = after_line(b, p);
        Ok(Raw::Series {
            raw,
            name,
            value,
            timestamp,
            start_timestamp: None,
            exemplar: None,
        })
    }

    fn labels(&mut self, pos: usize, name: &mut NameInBraces<'a>) -> Result<usize, ParseError> {
        self.bufs
            .series_labels(self.src, Syntax::Text, self.mtype, false)
            .parse(pos, name)
    }
}

/// A decimal millisecond timestamp (digits only; overflow is an error, as in
/// Go's `strconv.ParseInt`).
fn parse_int_timestamp(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use crate::error::ParseErrorKind;
    use crate::testutil::{text, text_err};

    /// Prometheus' `TestPromParse` input (without the type-and-unit label
    /// feature), line for line.
    #[test]
    fn prometheus_promparse_suite() {
        let mut input = String::from(
            r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# 	TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25",} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
go_gc_duration_seconds{quantile="0.8", a="b"} 8.3835e-05
go_gc_duration_seconds{ quantile="0.9", a="b"} 8.3835e-05
# HELP prometheus_http_request_duration_seconds Histogram of latencies for HTTP requests.
# TYPE prometheus_http_request_duration_seconds histogram
prometheus_http_request_duration_seconds_bucket{handler="/",le="1"} 423
prometheus_http_request_duration_seconds_bucket{handler="/",le="2"} 1423
prometheus_http_request_duration_seconds_bucket{handler="/",le="+Inf"} 1423
prometheus_http_request_duration_seconds_sum{handler="/"} 2000
prometheus_http_request_duration_seconds_count{handler="/"} 1423
# Hrandom comment starting with prefix of HELP
#
wind_speed{A="2",c="3"} 12345
# comment with escaped \n newline
# comment with escaped \ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile= "1.0", a= "b", } 8.3835e-05
go_gc_duration_seconds { quantile = "1.0", a = "b" } 8.3835e-05
go_gc_duration_seconds { quantile = "2.0" a = "b" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"}	1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  	123123
# TYPE some_counter_total counter
# HELP some_counter_total Help after type.
some_counter_total 12
# HELP nohelp3
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1
testmetric{le="10"} 1"#,
        );
        input.push_str("\n# HELP metric foo\x00bar");
        input.push_str("\nnull_byte_metric{a=\"abc\x00\"} 1");
        let want = [
            r#"HELP go_gc_duration_seconds "A summary of the GC invocation durations.""#,
            "TYPE go_gc_duration_seconds summary",
            r#"go_gc_duration_seconds{quantile="0.0"} 4.9351e-05"#,
            r#"go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05"#,
            r#"go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="0.8",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="0.9",a="b"} 8.3835e-05"#,
            r#"HELP prometheus_http_request_duration_seconds "Histogram of latencies for HTTP requests.""#,
            "TYPE prometheus_http_request_duration_seconds histogram",
            r#"prometheus_http_request_duration_seconds_bucket{handler="/",le="1.0"} 423"#,
            r#"prometheus_http_request_duration_seconds_bucket{handler="/",le="2.0"} 1423"#,
            r#"prometheus_http_request_duration_seconds_bucket{handler="/",le="+Inf"} 1423"#,
            r#"prometheus_http_request_duration_seconds_sum{handler="/"} 2000"#,
            r#"prometheus_http_request_duration_seconds_count{handler="/"} 1423"#,
            r##"COMMENT "# Hrandom comment starting with prefix of HELP""##,
            r##"COMMENT "#""##,
            r#"wind_speed{A="2",c="3"} 12345"#,
            r##"COMMENT "# comment with escaped \\n newline""##,
            r##"COMMENT "# comment with escaped \\ escape character""##,
            r#"HELP nohelp1 """#,
            r#"HELP nohelp2 """#,
            // The type of the last TYPE line (histogram) still applies, so
            // quantile is not normalised here, as in Prometheus.
            r#"go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#,
            r#"go_gc_duration_seconds{quantile="2.0",a="b"} 8.3835e-05"#,
            "go_gc_duration_seconds_count 99",
            r#"some:aggregate:rate5m{a_b="c"} 1"#,
            r#"HELP go_goroutines "Number of goroutines that currently exist.""#,
            "TYPE go_goroutines gauge",
            "go_goroutines 33 @123123",
            "TYPE some_counter_total counter",
            r#"HELP some_counter_total "Help after type.""#,
            "some_counter_total 12",
            r#"HELP nohelp3 """#,
            "_metric_starting_with_underscore 1",
            r#"testmetric{_label_starting_with_underscore="foo"} 1"#,
            r#"testmetric{label="\"bar\""} 1"#,
            r#"testmetric{le="10"} 1"#,
            r#"HELP metric "foo\x00bar""#,
            r#"null_byte_metric{a="abc\x00"} 1"#,
        ];
        assert_eq!(text(&input), want);
    }

    /// Prometheus' `TestUTF8PromParse`.
    #[test]
    fn quoted_utf8_names() {
        let input = r#"# HELP "go.gc_duration_seconds" A summary of the GC invocation durations.
# 	TYPE "go.gc_duration_seconds" summary
{"go.gc_duration_seconds",quantile="0"} 4.9351e-05
{"go.gc_duration_seconds",quantile="0.25",} 7.424100000000001e-05
{"go.gc_duration_seconds",quantile="0.5",a="b"} 8.3835e-05
{"go.gc_duration_seconds",quantile="0.8", a="b"} 8.3835e-05
{"go.gc_duration_seconds", quantile="0.9", a="b"} 8.3835e-05
{"go.gc_duration_seconds", quantile="1.0", a="b" } 8.3835e-05
{ "go.gc_duration_seconds", quantile="1.0", a="b" } 8.3835e-05
{ "go.gc_duration_seconds", quantile= "1.0", a= "b", } 8.3835e-05
{ "go.gc_duration_seconds", quantile = "1.0", a = "b" } 8.3835e-05
{"go.gc_duration_seconds_count"} 99
{"Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}","strange©™\n'quoted' \"name\""="6"} 10.0"#;
        let got = text(input);
        assert_eq!(
            got[0],
            r#"HELP go.gc_duration_seconds "A summary of the GC invocation durations.""#
        );
        assert_eq!(got[1], "TYPE go.gc_duration_seconds summary");
        assert_eq!(
            got[2],
            r#"go.gc_duration_seconds{quantile="0.0"} 4.9351e-05"#
        );
        assert_eq!(
            got[3],
            r#"go.gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05"#
        );
        for line in &got[4..11] {
            assert!(
                line.starts_with("go.gc_duration_seconds{quantile=\""),
                "{line}"
            );
            assert!(line.ends_with(",a=\"b\"} 8.3835e-05"), "{line}");
        }
        assert_eq!(
            got[7],
            r#"go.gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#
        );
        assert_eq!(got[11], "go.gc_duration_seconds_count 99");
        assert_eq!(
            got[12],
            "Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}\
             {strange©™\n'quoted' \"name\"=\"6\"} 10"
        );
        assert_eq!(got.len(), 13);

        // The full label set, as the scrape loop builds it.
        let mut p = crate::TextParser::new(br#"{"my.metric", "a.b"="c", x="y"} 1"#);
        let Some(crate::Entry::Series(s)) = p.next().unwrap() else {
            panic!("no series")
        };
        assert_eq!(s.series_bytes(), br#"{"my.metric", "a.b"="c", x="y"}"#);
        assert_eq!(
            s.to_labels().unwrap().to_string(),
            r#"{__name__="my.metric", "a.b"="c", x="y"}"#
        );
    }

    #[test]
    fn help_and_type_details() {
        // Only \\ and \n are resolved in text-format HELP.
        assert_eq!(
            text("# HELP m a\\\\b\\nc\\\"d\\x\n"),
            [r#"HELP m "a\\b\nc\\\"d\\x""#]
        );
        // HELP with a tab separator; text keeps inner blanks.
        assert_eq!(text("# HELP m\tsome  text \n"), [r#"HELP m "some  text ""#]);
        // HELP before or after TYPE, comment-like prefixes.
        assert_eq!(
            text("#HELP x y\n# HELPx y\n# TYPE\n"),
            [
                r##"COMMENT "#HELP x y""##,
                r##"COMMENT "# HELPx y""##,
                r##"COMMENT "# TYPE""##
            ]
        );
        assert_eq!(text("# TYPE m untyped\n"), ["TYPE m unknown"]);
        // Any run of blanks after '#' (the lexer's `#[ \t]+`), unlike
        // OpenMetrics.
        assert_eq!(
            text("#\tTYPE a counter\n#  \t HELP a x\n"),
            ["TYPE a counter", r#"HELP a "x""#]
        );
        for bad in [
            "# TYPE m gaugehistogram\n",
            "# TYPE m counter \n",
            "# TYPE m  counter\n",
            "# TYPE m\n",
        ] {
            assert!(
                matches!(
                    text_err(bad.as_bytes()).kind,
                    ParseErrorKind::InvalidMetricType(_)
                ),
                "{bad}"
            );
        }
        // Not UTF-8 help text.
        assert_eq!(
            text_err(b"# HELP m a\xffb\n").kind,
            ParseErrorKind::InvalidUtf8("help text")
        );
        // Comments need not be UTF-8.
        assert_eq!(text("# \u{e9}\n"), ["COMMENT \"# \u{e9}\""]);
        assert_eq!(
            crate::testutil::parse_all(
                b"# a\xffb\n",
                crate::Format::PrometheusText,
                Default::default()
            )
            .unwrap()
            .len(),
            1
        );
    }

    #[test]
    fn values_timestamps_and_nan() {
        assert_eq!(
            text("a 1\nb -Inf\nc +inf\nd 1e3\ne .5 0\nf 4.9351e-05\t \t123\ng-1\n"),
            [
                "a 1",
                "b -Inf",
                "c +Inf",
                "d 1000",
                "e 0.5 @0",
                "f 4.9351e-05 @123",
                "g -1"
            ]
        );
        // NaN is always Prometheus' normal NaN.
        for input in ["a NaN\n", "a nan\n"] {
            let mut p = crate::TextParser::new(input.as_bytes());
            let Some(crate::Entry::Series(s)) = p.next().unwrap() else {
                panic!("no series")
            };
            assert_eq!(s.value.to_bits(), crate::float::NORMAL_NAN_BITS);
        }
        // Blank lines, leading blanks and no final newline are fine; a NUL
        // at the start of a line ends the input.
        assert_eq!(text("\n  \n\t a 1\n\n b 2"), ["a 1", "b 2"]);
        assert_eq!(text("a 1\n\0garbage {{{\n"), ["a 1"]);
        // The value may follow the name or labels directly.
        assert_eq!(text("a{b=\"c\"}1\n"), [r#"a{b="c"} 1"#]);
        for (input, what) in [
            ("foo 1_2\n", "value"),
            ("foo 0x1p-3\n", "value"),
            ("foo 0x1P-3\n", "value"),
            ("a true\n", "value"),
            ("a 1e400\n", "value"),
            ("a 1 99999999999999999999\n", "timestamp"),
        ] {
            assert!(
                matches!(text_err(input.as_bytes()).kind, ParseErrorKind::InvalidNumber { what: w, .. } if w == what),
                "{input}"
            );
        }
        // Garbage after the timestamp, signed or float timestamps.
        for input in [
            "foo 0 1_2\n",
            "a 1 2 3\n",
            "a 1 2x\n",
            "a 1 -2\n",
            "a 1 1.5\n",
            "a 0 1\0",
        ] {
            assert!(
                matches!(
                    text_err(input.as_bytes()).kind,
                    ParseErrorKind::Unexpected { .. }
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn label_syntax() {
        assert_eq!(
            text("a{b=\"c\",} 1\na { b = \"c\" , d=\"e\" } 2\na{b=\"c\" d=\"e\"} 3\na{} 4\n"),
            [
                r#"a{b="c"} 1"#,
                r#"a{b="c",d="e"} 2"#,
                r#"a{b="c",d="e"} 3"#,
                "a 4"
            ]
        );
        // Escapes in values: \" \\ \n resolved, others kept; raw newlines and
        // NUL bytes are accepted inside quotes.
        assert_eq!(
            text("a{b=\"x\\\"y\\\\z\\nw\\tv\"} 1\n"),
            [r#"a{b="x\"y\\z\nw\\tv"} 1"#]
        );
        assert_eq!(text("a{b=\"x\ny\"} 1\n"), [r#"a{b="x\ny"} 1"#]);
        assert_eq!(text("a{b=\"\0ss\"} 1\n"), [r#"a{b="\x00ss"} 1"#]);
        assert_eq!(text("a{b=\"\0\"} 1\n"), [r#"a{b="\x00"} 1"#]);
        // Only histograms' le and summaries' quantile are normalised.
        assert_eq!(
            text("# TYPE h histogram\nh_bucket{le=\"1\",quantile=\"1\"} 1\n# TYPE s summary\ns{quantile=\"1e-05\",le=\"1\"} 1\ns{quantile=\"0.00001\"} 1\n# TYPE c counter\nc{le=\"1\"} 1\n"),
            [
                "TYPE h histogram",
                r#"h_bucket{le="1.0",quantile="1"} 1"#,
                "TYPE s summary",
                r#"s{quantile="1e-05",le="1"} 1"#,
                r#"s{quantile="1e-05"} 1"#,
                "TYPE c counter",
                r#"c{le="1"} 1"#,
            ]
        );
    }

    /// Prometheus' `TestPromParseErrors` and `TestPromNullByteHandling`.
    #[test]
    fn rejects() {
        let cases: &[(&[u8], &str)] = &[
            (b"a", "a value after the metric"),
            (b"a{b='c'} 1\n", "a quoted label value"),
            (b"a{b=\n", "a quoted label value"),
            (b"a{\xff=\"foo\"} 1\n", "a label name or '}'"),
            (br#"{"a", "b = "c"}"#, "'=' after the label name"),
            (br#"{"a",b\nc="d"} 1"#, "'=' after the label name"),
            (b"something_weird{problem=\"", "a quoted label value"),
            (b"empty_label_name{=\"\"} 0", "a label name or '}'"),
            (b"{A}0", "'=' after the label name"),
            (b"# TYPE #\n#EOF\n", "a metric name after TYPE"),
            (b"# HELP #\n#EOF\n", "a metric name after HELP"),
            (b"a{b=\x00\"ssss\"} 1\n", "a quoted label value"),
            (b"a{b=\"\x00", "a quoted label value"),
            (b"a{b\x00=\"hiih\"}\t1", "'=' after the label name"),
            (b"a\x00{b=\"ddd\"} 1", "a value after the metric"),
            (b"a 0 1\x00", "end of line after the timestamp"),
            (b"a{\"b\x00\"=\"c\"} 1", "a label name"),
            (b"9 1\n", "a metric name, '{', '#' or end of line"),
            (b"a{b=\"c\"} {d=\"e\"} 1\n", "a value after the metric"),
            (b"a{b=\"c\",,d=\"e\"} 1\n", "a label name or '}'"),
            (b"a{b=\"c\\\nd\"} 1\n", "a quoted label value"),
        ];
        for &(input, expected) in cases {
            let e = text_err(input);
            match &e.kind {
                ParseErrorKind::Unexpected { expected: got, .. } => {
                    assert_eq!(*got, expected, "{:?}: {e}", String::from_utf8_lossy(input))
                }
                other => panic!("{:?}: {other}", String::from_utf8_lossy(input)),
            }
        }
        assert_eq!(
            text_err(br#"{a="ok"} 1"#).kind,
            ParseErrorKind::MetricNameNotSet
        );
        assert_eq!(
            text_err(br#"foo{"bar"} 1"#).kind,
            ParseErrorKind::MetricNameAlreadySet
        );
        assert_eq!(
            text_err(b"a{b=\"\xff\"} 1\n").kind,
            ParseErrorKind::InvalidUtf8("label value")
        );
        assert_eq!(
            text_err(b"a{\"\xff\"=\"b\"} 1\n").kind,
            ParseErrorKind::InvalidUtf8("label name")
        );
        // Positions are 1-based lines and columns.
        let e = text_err(b"ok 1\nok{a=\"b\"} x\n");
        assert_eq!((e.line, e.column), (2, 11));
        assert_eq!(e.to_string(), r#"line 2, column 11: invalid value "x""#);
        let e = text_err(b"ok 1\nok{a=b} 1\n");
        assert_eq!(
            e.to_string(),
            r#"line 2, column 6: expected a quoted label value, found "b}""#
        );
    }
}
