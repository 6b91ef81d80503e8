//! OpenMetrics 1.0 text, parsed the way Prometheus' scrape parser
//! (`model/textparse/openmetricsparse.go`) does, start timestamps included.

use ember_model::MetricType;

use crate::entry::{Entry, Raw};
use crate::error::{error_at, invalid_metric_type, unexpected, ParseError, ParseErrorKind};
use crate::lex::{
    after_line, bare_metric_name, is_name_start, line_end, metric_name, next_entry, om_token,
    parse_float, scan_name, unescape, Bufs, Escapes, NameInBraces, Src, Str, Syntax,
};

/// Options for [`OpenMetricsParser`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Do not yield the `_created` series of counters, summaries and
    /// histograms; they still provide start timestamps (Prometheus'
    /// `WithOMParserSTSeriesSkipped`).
    pub skip_created_series: bool,
}

/// A `_created` line found ahead of the current series.
struct Created {
    line_start: usize,
    key: std::ops::Range<usize>,
    st: i64,
}

/// Lookahead state for start timestamps.
///
/// Prometheus peeks ahead from each counter/summary/histogram series to the
/// first `_created` line of the same family section and takes its value if
/// that line has the same labels (minus `le`/`quantile`); a match is cached
/// and reused by later series with the same labels. Peeking from every
/// series is quadratic in the size of a family; here each section (the run
/// of sample lines between `#` lines) is scanned once for its `_created`
/// lines, and series advance a cursor through them.
#[derive(Default)]
struct StartTimestamps<'a> {
    cached_key: Vec<u8>,
    cached_st: Option<i64>,
    /// The section (its first and past-the-end line starts) whose
    /// `_created` lines are in `created`.
    scanned: Option<(usize, usize)>,
    created: Vec<Created>,
    keys: Vec<u8>,
    cursor: usize,
    peek: Bufs<'a>,
}

/// A streaming parser for OpenMetrics 1.0 text.
///
/// Stricter than the text format, as in Prometheus: single spaces only, no
/// blank lines, no comments other than HELP/TYPE/UNIT, a mandatory final
/// `# EOF`. Timestamps are float seconds, converted to milliseconds.
/// Exemplars (`value [ts] # {labels} value [ts]`) are accepted on any
/// sample. For counters, summaries and histograms the value of the matching
/// `_created` line becomes the series' start timestamp.
pub struct OpenMetricsParser<'a> {
    src: Src<'a>,
    pos: usize,
    mtype: MetricType,
    /// Byte length of the (raw) name on the last HELP/TYPE/UNIT line: the
    /// family prefix of sample names, for start-timestamp matching.
    family_len: usize,
    options: ParserOptions,
    bufs: Bufs<'a>,
    st: StartTimestamps<'a>,
    done: bool,
}

/// Counters, summaries and histograms have `_created` lines.
fn has_created(t: MetricType) -> bool {
    matches!(
        t,
        MetricType::Counter | MetricType::Summary | MetricType::Histogram
    )
}

/// The kinds of metadata line.
enum Meta {
    Help,
    Type,
    Unit,
}

/// A parsed sample line.
struct Sample<'a> {
    name: Str<'a>,
    name_raw: (usize, usize),
    /// End of the name and labels.
    series_end: usize,
    value: f64,
    timestamp: Option<i64>,
    exemplar: Option<(f64, Option<i64>)>,
}

impl<'a> OpenMetricsParser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a [u8], options: ParserOptions) -> Self {
        OpenMetricsParser {
            src: Src::new(input),
            pos: 0,
            mtype: MetricType::Unknown,
            family_len: 0,
            options,
            bufs: Bufs::default(),
            st: StartTimestamps::default(),
            done: false,
        }
    }

    /// The next entry; `Ok(None)` after `# EOF`. After an error the parser
    /// is finished and returns `Ok(None)`.
    // A lending iterator: entries borrow the parser, so this cannot be
    // `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        next_entry(self, Self::parse_entry, |p| (&mut p.done, &p.bufs))
    }

    fn parse_entry(&mut self) -> Result<Option<Raw<'a>>, ParseError> {
        let b = self.src.bytes;
        loop {
            self.bufs.clear();
            let start = self.pos;
            match b.get(start) {
                None => return Err(error_at(b, start, ParseErrorKind::MissingEof)),
                Some(b'#') => return self.hash_line(start),
                Some(&c) if c == b'{' || is_name_start(c) => {
                    let created_type = has_created(self.mtype);
                    let want_key = created_type && self.start_timestamp_possible(start);
                    let (s, next) =
                        parse_sample(self.src, start, self.mtype, want_key, &mut self.bufs)?;
                    self.pos = next;
                    let raw_name = &b[s.name_raw.0..s.name_raw.1];
                    if created_type
                        && self.options.skip_created_series
                        && raw_name.ends_with(b"_created")
                    {
                        continue;
                    }
                    let start_timestamp = if want_key {
                        let family = &raw_name[..self.family_len.min(raw_name.len())];
                        self.bufs.key.push(0xfe);
                        self.bufs.key.extend_from_slice(family);
                        self.start_timestamp(next)
                    } else {
                        self.st.cached_st = None;
                        None
                    };
                    return Ok(Some(Raw::Series {
                        raw: &b[start..s.series_end],
                        name: s.name,
                        value: s.value,
                        timestamp: s.timestamp,
                        start_timestamp,
                        exemplar: s.exemplar,
                    }));
                }
                Some(_) => {
                    return Err(unexpected(b, start, "a metric name, '{' or '#'"));
                }
            }
        }
    }

    fn hash_line(&mut self, start: usize) -> Result<Option<Raw<'a>>, ParseError> {
        let b = self.src.bytes;
        let rest = &b[start..];
        if rest.starts_with(b"# EOF") {
            let mut end = start + 5;
            if b.get(end) == Some(&b'\n') {
                end += 1;
            }
            if end != b.len() {
                return Err(error_at(b, end, ParseErrorKind::DataAfterEof));
            }
            self.pos = end;
            return Ok(None);
        }
        let kind = if rest.starts_with(b"# HELP ") {
            Meta::Help
        } else if rest.starts_with(b"# TYPE ") {
            Meta::Type
        } else if rest.starts_with(b"# UNIT ") {
            Meta::Unit
        } else {
            return Err(unexpected(
                b,
                start,
                "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'",
            ));
        };
        let ((metric, raw_a, raw_b), name_end) = metric_name(
            self.src,
            start + 7,
            &mut self.bufs.scratch,
            "a metric name after the keyword",
        )?;
        if b.get(name_end) != Some(&b' ') {
            return Err(unexpected(
                b,
                name_end,
                "a space and text after the metric name",
            ));
        }
        let eol = line_end(b, name_end);
        if eol == b.len() {
            return Err(unexpected(b, eol, "a newline ending the metadata line"));
        }
        let (ta, tb) = (name_end + 1, eol);
        self.pos = eol + 1;
        self.family_len = raw_b - raw_a;
        let entry = match kind {
            Meta::Help => {
                let raw = self.src.text(ta, tb, "help text")?;
                Raw::Help(
                    metric,
                    unescape(raw, Escapes::Value, &mut self.bufs.scratch),
                )
            }
            Meta::Type => {
                let t = match &b[ta..tb] {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::Stateset,
                    b"unknown" => MetricType::Unknown,
                    other => return Err(invalid_metric_type(b, ta, other)),
                };
                self.mtype = t;
                Raw::Type(metric, t)
            }
            Meta::Unit => {
                let unit = self.src.text(ta, tb, "unit")?;
                let name = &b[raw_a..raw_b];
                let ok = unit.is_empty()
                    || (name.ends_with(unit.as_bytes())
                        && name.len() > unit.len()
                        && name[name.len() - unit.len() - 1] == b'_');
                if !ok {
                    return Err(error_at(
                        b,
                        ta,
                        ParseErrorKind::UnitNotSuffix {
                            unit: unit.to_string(),
                            metric: String::from_utf8_lossy(name).into_owned(),
                        },
                    ));
                }
                Raw::Unit(metric, Str::In(unit))
            }
        };
        Ok(Some(entry))
    }

    /// Whether the series starting at `start` can have a start timestamp:
    /// a match is cached, or a `_created` line follows in its section. When
    /// not, its key need not be built.
    fn start_timestamp_possible(&mut self, start: usize) -> bool {
        let covered = self
            .st
            .scanned
            .is_some_and(|(a, b)| a <= start && start <= b);
        if !covered {
            self.scan_section(start);
        }
        self.st.cached_st.is_some() || self.st.created.last().is_some_and(|c| c.line_start > start)
    }

    /// The start timestamp of the series just parsed (its key is in
    /// `bufs.key`; `next` is where the following line starts).
    fn start_timestamp(&mut self, next: usize) -> Option<i64> {
        let st = &mut self.st;
        if let Some(cached) = st.cached_st {
            if st.cached_key == self.bufs.key {
                return Some(cached);
            }
        }
        let covered = st.scanned.is_some_and(|(a, b)| a <= next && next <= b);
        if !covered {
            self.scan_section(next);
        }
        let st = &mut self.st;
        while st
            .created
            .get(st.cursor)
            .is_some_and(|c| c.line_start < next)
        {
            st.cursor += 1;
        }
        let found = st
            .created
            .get(st.cursor)
            .filter(|c| st.keys.get(c.key.clone()) == Some(self.bufs.key.as_slice()))
            .map(|c| c.st);
        st.cached_st = None;
        match found {
            Some(v) if v > 0 => {
                st.cached_key.clear();
                st.cached_key.extend_from_slice(&self.bufs.key);
                st.cached_st = Some(v);
                Some(v)
            }
            Some(v) if v != 0 => Some(v),
            _ => None,
        }
    }

    /// Records the `_created` lines from `from` to the next `#` line (or
    /// the first line that does not parse).
    fn scan_section(&mut self, from: usize) {
        let b = self.src.bytes;
        let st = &mut self.st;
        st.created.clear();
        st.keys.clear();
        st.cursor = 0;
        let mut p = from;
        while let Some(&c) = b.get(p) {
            if !(c == b'{' || is_name_start(c)) {
                break;
            }
            let candidate = c == b'{' || b[p..scan_name(b, p)].ends_with(b"_created");
            if !candidate {
                p = after_line(b, line_end(b, p));
                continue;
            }
            st.peek.clear();
            let Ok((s, next)) = parse_sample(self.src, p, self.mtype, true, &mut st.peek) else {
                break;
            };
            let name = &b[s.name_raw.0..s.name_raw.1];
            if let Some(family) = name.strip_suffix(b"_created") {
                let k0 = st.keys.len();
                st.keys.extend_from_slice(&st.peek.key);
                st.keys.push(0xfe);
                st.keys.extend_from_slice(family);
                st.created.push(Created {
                    line_start: p,
                    key: k0..st.keys.len(),
                    st: (s.value * 1000.0) as i64,
                });
            }
            p = next;
        }
        st.scanned = Some((from, p));
    }
}

/// Parses the sample line at `start`; returns it and the start of the next
/// line. With `want_key`, `bufs.key` gets the raw labels that identify the
/// series for start-timestamp matching.
fn parse_sample<'a>(
    src: Src<'a>,
    start: usize,
    mtype: MetricType,
    want_key: bool,
    bufs: &mut Bufs<'a>,
) -> Result<(Sample<'a>, usize), ParseError> {
    let b = src.bytes;
    let mut name: NameInBraces<'a> = None;
    let mut labels = bufs.series_labels(src, Syntax::OmSeries, mtype, want_key);
    let mut pos = if b.get(start) == Some(&b'{') {
        labels.parse(start + 1, &mut name)?
    } else {
        let bare = bare_metric_name(src, start)?;
        let end = bare.2;
        name = Some(bare);
        if b.get(end) == Some(&b'{') {
            labels.parse(end + 1, &mut name)?
        } else {
            end
        }
    };
    let Some((name, na, nb)) = name else {
        return Err(error_at(b, start, ParseErrorKind::MetricNameNotSet));
    };
    let series_end = pos;
    let (va, vb) = om_token(b, pos).ok_or_else(|| unexpected(b, pos, "a space and the value"))?;
    let value = parse_float(b, va, vb, "value")?;
    pos = vb;
    let mut timestamp = None;
    if !b[pos..].starts_with(b" # {") {
        if let Some((ta, tb)) = om_token(b, pos) {
            timestamp = Some(parse_timestamp(b, ta, tb, "timestamp")?);
            pos = tb;
        }
    }
    let mut exemplar = None;
    if b[pos..].starts_with(b" # {") {
        let mut unused = None;
        pos = bufs
            .exemplar_labels(src, mtype)
            .parse(pos + 4, &mut unused)?;
        let (ea, eb) =
            om_token(b, pos).ok_or_else(|| unexpected(b, pos, "a space and the exemplar value"))?;
        let ex_value = parse_float(b, ea, eb, "exemplar value")?;
        pos = eb;
        let mut ex_ts = None;
        if let Some((ta, tb)) = om_token(b, pos) {
            ex_ts = Some(parse_timestamp(b, ta, tb, "exemplar timestamp")?);
            pos = tb;
        }
        exemplar = Some((ex_value, ex_ts));
    }
    match b.get(pos) {
        Some(b'\n') => {}
        None => return Err(error_at(b, pos, ParseErrorKind::MissingEof)),
        Some(_) => {
            return Err(unexpected(
                b,
                pos,
                if exemplar.is_some() {
                    "end of line after the exemplar"
                } else if timestamp.is_some() {
                    "end of line or an exemplar after the timestamp"
                } else {
                    "a timestamp, an exemplar or end of line"
                },
            ))
        }
    }
    Ok((
        Sample {
            name,
            name_raw: (na, nb),
            series_end,
            value,
            timestamp,
            exemplar,
        },
        pos + 1,
    ))
}

/// A float-seconds timestamp as milliseconds; NaN and infinities are
/// rejected.
fn parse_timestamp(b: &[u8], a: usize, e: usize, what: &'static str) -> Result<i64, ParseError> {
    let secs = parse_float(b, a, e, what)?;
    if !secs.is_finite() {
        return Err(error_at(
            b,
            a,
            ParseErrorKind::NonFiniteTimestamp {
                what,
                text: String::from_utf8_lossy(&b[a..e]).into_owned(),
            },
        ));
    }
    Ok((secs * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use crate::error::ParseErrorKind;
    use crate::testutil::{om, om_err, parse_all};
    use crate::{Format, ParserOptions};

    /// Prometheus' `TestOpenMetricsParse` (`_created` series skipped).
    #[test]
    fn prometheus_openmetricsparse_suite() {
        let mut input = String::from(
            r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \ \n \\ \" \x chars
# UNIT nounit 
go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le="+Inf"} 1
# TYPE gh gaugehistogram
gh_bucket{le="+Inf"} 1
# TYPE hhh histogram
hhh_bucket{le="+Inf"} 1 # {id="histogram-bucket-test"} 4
hhh_count 1 # {id="histogram-count-test"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le="+Inf"} 1 # {id="gaugehistogram-bucket-test",xx="yy"} 4 123.123
ggh_count 1 # {id="gaugehistogram-count-test",xx="yy"} 4 123.123
# TYPE smr_seconds summary
smr_seconds_count 2.0 # {id="summary-count-test"} 1 123.321
smr_seconds_sum 42.0 # {id="summary-sum-test"} 1 123.321
# TYPE ii info
ii{foo="bar"} 1
# TYPE ss stateset
ss{ss="foo"} 1
ss{ss="bar"} 0
ss{A="a"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1
# HELP foo Counter with and without labels to certify ST is parsed for both cases
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id="counter-test"} 5
foo_created 1520872607.123
foo_total{a="b"} 17.0 1520879607.789 # {id="counter-test"} 5
foo_created{a="b"} 1520872607.123
foo_total{le="c"} 21.0
foo_created{le="c"} 1520872621.123
foo_total{le="1"} 10.0
# HELP bar Summary with ST at the end, making sure we find ST even if it's multiple lines a far
# TYPE bar summary
bar_count 17.0
bar_sum 324789.3
bar{quantile="0.95"} 123.7
bar{quantile="0.99"} 150.0
bar_created 1520872608.124
# HELP baz Histogram with the same objective as above's summary
# TYPE baz histogram
baz_bucket{le="0.0"} 0
baz_bucket{le="+Inf"} 17
baz_count 17
baz_sum 324789.3
baz_created 1520872609.125
# HELP fizz_created Gauge which shouldn't be parsed as ST
# TYPE fizz_created gauge
fizz_created 17.0
# HELP something Histogram with _created between buckets and summary
# TYPE something histogram
something_count 18
something_sum 324789.4
something_created 1520430001
something_bucket{le="0.0"} 1
something_bucket{le="1"} 2
something_bucket{le="+Inf"} 18
# HELP yum Summary with _created between sum and quantiles
# TYPE yum summary
yum_count 20
yum_sum 324789.5
yum_created 1520430003
yum{quantile="0.95"} 123.7
yum{quantile="0.99"} 150.0
# HELP foobar Summary with _created as the first line
# TYPE foobar summary
foobar_count 21
foobar_created 1520430004
foobar_sum 324789.6
foobar{quantile="0.95"} 123.8
foobar{quantile="0.99"} 150.1
# HELP nansum Summary with NaN value
# TYPE nansum summary
nansum_count 0
nansum_sum 0.0
nansum{quantile="0.95"} nan
nansum{quantile="0.99"} NaN"#,
        );
        input.push_str("\n# HELP metric foo\x00bar");
        input.push_str("\nnull_byte_metric{a=\"abc\x00\"} 1");
        input.push_str("\n# EOF\n");
        let want = [
            r#"HELP go_gc_duration_seconds "A summary of the GC invocation durations.""#,
            "TYPE go_gc_duration_seconds summary",
            r#"UNIT go_gc_duration_seconds "seconds""#,
            r#"go_gc_duration_seconds{quantile="0.0"} 4.9351e-05"#,
            r#"go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05"#,
            r#"go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05"#,
            r#"HELP nohelp1 """#,
            r#"HELP help2 "escape \\ \n \\ \" \\x chars""#,
            r#"UNIT nounit """#,
            r#"go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05"#,
            "go_gc_duration_seconds_count 99",
            r#"some:aggregate:rate5m{a_b="c"} 1"#,
            r#"HELP go_goroutines "Number of goroutines that currently exist.""#,
            "TYPE go_goroutines gauge",
            "go_goroutines 33 @123123",
            "TYPE hh histogram",
            r#"hh_bucket{le="+Inf"} 1"#,
            "TYPE gh gaugehistogram",
            r#"gh_bucket{le="+Inf"} 1"#,
            "TYPE hhh histogram",
            r#"hhh_bucket{le="+Inf"} 1 # {id="histogram-bucket-test"} 4"#,
            r#"hhh_count 1 # {id="histogram-count-test"} 4"#,
            "TYPE ggh gaugehistogram",
            r#"ggh_bucket{le="+Inf"} 1 # {id="gaugehistogram-bucket-test",xx="yy"} 4 @123123"#,
            r#"ggh_count 1 # {id="gaugehistogram-count-test",xx="yy"} 4 @123123"#,
            "TYPE smr_seconds summary",
            r#"smr_seconds_count 2 # {id="summary-count-test"} 1 @123321"#,
            r#"smr_seconds_sum 42 # {id="summary-sum-test"} 1 @123321"#,
            "TYPE ii info",
            r#"ii{foo="bar"} 1"#,
            "TYPE ss stateset",
            r#"ss{ss="foo"} 1"#,
            r#"ss{ss="bar"} 0"#,
            r#"ss{A="a"} 0"#,
            "TYPE un unknown",
            "_metric_starting_with_underscore 1",
            r#"testmetric{_label_starting_with_underscore="foo"} 1"#,
            r#"testmetric{label="\"bar\""} 1"#,
            r#"HELP foo "Counter with and without labels to certify ST is parsed for both cases""#,
            "TYPE foo counter",
            r#"foo_total 17 @1520879607789 st=1520872607123 # {id="counter-test"} 5"#,
            r#"foo_total{a="b"} 17 @1520879607789 st=1520872607123 # {id="counter-test"} 5"#,
            r#"foo_total{le="c"} 21 st=1520872621123"#,
            r#"foo_total{le="1"} 10"#,
            r#"HELP bar "Summary with ST at the end, making sure we find ST even if it's multiple lines a far""#,
            "TYPE bar summary",
            "bar_count 17 st=1520872608124",
            "bar_sum 324789.3 st=1520872608124",
            r#"bar{quantile="0.95"} 123.7 st=1520872608124"#,
            r#"bar{quantile="0.99"} 150 st=1520872608124"#,
            r#"HELP baz "Histogram with the same objective as above's summary""#,
            "TYPE baz histogram",
            r#"baz_bucket{le="0.0"} 0 st=1520872609125"#,
            r#"baz_bucket{le="+Inf"} 17 st=1520872609125"#,
            "baz_count 17 st=1520872609125",
            "baz_sum 324789.3 st=1520872609125",
            r#"HELP fizz_created "Gauge which shouldn't be parsed as ST""#,
            "TYPE fizz_created gauge",
            "fizz_created 17",
            r#"HELP something "Histogram with _created between buckets and summary""#,
            "TYPE something histogram",
            "something_count 18 st=1520430001000",
            "something_sum 324789.4 st=1520430001000",
            r#"something_bucket{le="0.0"} 1 st=1520430001000"#,
            r#"something_bucket{le="1.0"} 2 st=1520430001000"#,
            r#"something_bucket{le="+Inf"} 18 st=1520430001000"#,
            r#"HELP yum "Summary with _created between sum and quantiles""#,
            "TYPE yum summary",
            "yum_count 20 st=1520430003000",
            "yum_sum 324789.5 st=1520430003000",
            r#"yum{quantile="0.95"} 123.7 st=1520430003000"#,
            r#"yum{quantile="0.99"} 150 st=1520430003000"#,
            r#"HELP foobar "Summary with _created as the first line""#,
            "TYPE foobar summary",
            "foobar_count 21 st=1520430004000",
            "foobar_sum 324789.6 st=1520430004000",
            r#"foobar{quantile="0.95"} 123.8 st=1520430004000"#,
            r#"foobar{quantile="0.99"} 150.1 st=1520430004000"#,
            r#"HELP nansum "Summary with NaN value""#,
            "TYPE nansum summary",
            "nansum_count 0",
            "nansum_sum 0",
            r#"nansum{quantile="0.95"} NaN"#,
            r#"nansum{quantile="0.99"} NaN"#,
            r#"HELP metric "foo\x00bar""#,
            r#"null_byte_metric{a="abc\x00"} 1"#,
        ];
        assert_eq!(om(&input), want);
    }

    /// Prometheus' `TestOpenMetricsParse_UTF8`.
    #[test]
    fn quoted_utf8_names() {
        let input = r#"# HELP "go.gc_duration_seconds" A summary of the GC invocation durations.
# TYPE "go.gc_duration_seconds" summary
# UNIT "go.gc_duration_seconds" seconds
{"go.gc_duration_seconds",quantile="0"} 4.9351e-05
{"go.gc_duration_seconds",quantile="0.25"} 7.424100000000001e-05
{"go.gc_duration_seconds_created"} 1520872607.123
{"go.gc_duration_seconds",quantile="0.5",a="b"} 8.3835e-05
{"http.status",q="0.9",a="b"} 8.3835e-05
{"http.status",q="0.9",a="b"} 8.3835e-05
{q="0.9","http.status",a="b"} 8.3835e-05
{"go.gc_duration_seconds_sum"} 0.004304266
{"Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}","strange©™\n'quoted' \"name\""="6"} 10.0
quotedexemplar_count 1 # {"id.thing"="histogram-count-test"} 4
quotedexemplar2_count 1 # {"id.thing"="histogram-count-test",other="hello"} 4
# EOF
"#;
        let want = [
            r#"HELP go.gc_duration_seconds "A summary of the GC invocation durations.""#,
            "TYPE go.gc_duration_seconds summary",
            r#"UNIT go.gc_duration_seconds "seconds""#,
            r#"go.gc_duration_seconds{quantile="0.0"} 4.9351e-05 st=1520872607123"#,
            r#"go.gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05 st=1520872607123"#,
            r#"go.gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05"#,
            r#"http.status{q="0.9",a="b"} 8.3835e-05"#,
            r#"http.status{q="0.9",a="b"} 8.3835e-05"#,
            r#"http.status{q="0.9",a="b"} 8.3835e-05"#,
            "go.gc_duration_seconds_sum 0.004304266",
            "Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}{strange©™\n'quoted' \"name\"=\"6\"} 10",
            r#"quotedexemplar_count 1 # {id.thing="histogram-count-test"} 4"#,
            r#"quotedexemplar2_count 1 # {id.thing="histogram-count-test",other="hello"} 4"#,
        ];
        assert_eq!(om(input), want);
    }

    /// Prometheus' `TestSTParseFailures`: known gaps kept for compatibility.
    #[test]
    fn start_timestamp_known_gaps() {
        let input = "# HELP thing histogram with _created as first line
# TYPE thing histogram
thing_created 1520872607.123
thing_count 17
thing_sum 324789.3
thing_bucket{le=\"0.0\"} 0
thing_bucket{le=\"+Inf\"} 17
# HELP thing_c counter with _created as first line
# TYPE thing_c counter
thing_c_created 1520872607.123
thing_c_total 14123.232
# EOF
";
        let got = om(input);
        assert_eq!(got.len(), 9);
        assert!(got.iter().all(|l| !l.contains("st=")), "{got:?}");
        // Without TYPE lines, _created is just another series.
        let input = "foo_total 17.0\nfoo_created 1520872607.123\nfoo_total{a=\"b\"} 17.0\nfoo_created{a=\"b\"} 1520872608.123\n# EOF\n";
        assert_eq!(
            om(input),
            [
                "foo_total 17",
                "foo_created 1.520872607123e+09",
                r#"foo_total{a="b"} 17"#,
                r#"foo_created{a="b"} 1.520872608123e+09"#
            ]
        );
    }

    #[test]
    fn created_series_kept_by_default() {
        let input = "# TYPE foo counter\nfoo_total 1\nfoo_created 2.5\n# TYPE g gauge\ng_created 3\n# EOF\n";
        let all = parse_all(
            input.as_bytes(),
            Format::OpenMetrics,
            ParserOptions::default(),
        )
        .unwrap();
        assert_eq!(
            all,
            // The _created series shares the counter's key, so it gets the
            // cached start timestamp too, as in Prometheus.
            [
                "TYPE foo counter",
                "foo_total 1 st=2500",
                "foo_created 2.5 st=2500",
                "TYPE g gauge",
                "g_created 3"
            ]
        );
        assert_eq!(
            om(input),
            [
                "TYPE foo counter",
                "foo_total 1 st=2500",
                "TYPE g gauge",
                "g_created 3"
            ]
        );
        // A _created line for other labels ends the search; label order and
        // le/quantile matter as in Prometheus.
        let input = "# TYPE h histogram\nh_bucket{a=\"1\",le=\"1\"} 1\nh_created{a=\"2\"} 7\nh_created{a=\"1\"} 8\n\
                     h_bucket{b=\"1\",c=\"2\",le=\"+Inf\"} 1\nh_created{c=\"2\",b=\"1\"} 9\n# EOF\n";
        assert_eq!(
            om(input),
            [
                "TYPE h histogram",
                r#"h_bucket{a="1",le="1.0"} 1"#,
                r#"h_bucket{b="1",c="2",le="+Inf"} 1"#
            ]
        );
    }

    /// Prometheus' `TestOpenMetricsParseErrors` and `TestOMNullByteHandling`.
    #[test]
    fn rejects() {
        use ParseErrorKind as K;
        let unexpected = |input: &[u8]| match om_err(input).kind {
            K::Unexpected { expected, .. } => expected,
            other => panic!("{:?}: {other}", String::from_utf8_lossy(input)),
        };
        for input in [
            &b""[..],
            b"metric 1",
            b"metric 1\n",
            b"metric_total 1 # {aa=\"bb\"} 4",
            b"a 1 2",
            b"a{b=\"\x00\"} 1\n",
        ] {
            assert_eq!(
                om_err(input).kind,
                K::MissingEof,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        for input in [&b"# EOF\na 1"[..], b"# EOF\n\n", b"# EOFa 1", b"# EOF "] {
            assert_eq!(om_err(input).kind, K::DataAfterEof);
        }
        let cases: &[(&[u8], &str)] = &[
            (b"\n", "a metric name, '{' or '#'"),
            (b"metric", "a space and the value"),
            (b"a\n#EOF\n", "a space and the value"),
            (b"\n\n#EOF\n", "a metric name, '{' or '#'"),
            (b" a 1\n#EOF\n", "a metric name, '{' or '#'"),
            (b"9\n#EOF\n", "a metric name, '{' or '#'"),
            (
                b"#  TYPE c counter\n#EOF\n",
                "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'",
            ),
            (
                b"#\tTYPE c counter\n",
                "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'",
            ),
            (
                b"# comment\n# EOF\n",
                "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'",
            ),
            (b"#", "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'"),
            (b"# H", "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF'"),
            (b"# TYPE \n#EOF\n", "a metric name after the keyword"),
            (
                b"# TYPE m\n#EOF\n",
                "a space and text after the metric name",
            ),
            (b"# UNIT \n#EOF\n", "a metric name after the keyword"),
            (
                b"# UNIT m\n#EOF\n",
                "a space and text after the metric name",
            ),
            (b"# HELP \n#EOF\n", "a metric name after the keyword"),
            (
                b"# HELP m\n#EOF\n",
                "a space and text after the metric name",
            ),
            (b"# HELP m x", "a newline ending the metadata line"),
            (b"a\t1\n#EOF\n", "a space and the value"),
            (
                b"a 1 2 \n#EOF\n",
                "end of line or an exemplar after the timestamp",
            ),
            (
                b"a 1 2 #\n#EOF\n",
                "end of line or an exemplar after the timestamp",
            ),
            (
                b"a 1 1 1\n# EOF\n",
                "end of line or an exemplar after the timestamp",
            ),
            (b"a 1 \n# EOF\n", "a timestamp, an exemplar or end of line"),
            (b"a{b='c'} 1\n# EOF\n", "a quoted label value"),
            (b"a{,b=\"c\"} 1\n# EOF\n", "a label name or '}'"),
            (
                b"a{b=\"c\"d=\"e\"} 1\n# EOF\n",
                "',' or '}' after the label value",
            ),
            (b"a{b=\"c\",,d=\"e\"} 1\n# EOF\n", "a label name or '}'"),
            (b"a{b=\n# EOF\n", "a quoted label value"),
            (b"a{\xff=\"foo\"} 1\n# EOF\n", "a label name or '}'"),
            (b"{\"a\",\"b = \"c\"}\n# EOF\n", "'=' after the label name"),
            (
                b"{\"a\",b\\nc=\"d\"} 1\n# EOF\n",
                "'=' after the label name",
            ),
            (
                b"something_weird{problem=\"\n# EOF\n",
                "a quoted label value",
            ),
            (b"empty_label_name{=\"\"} 0\n# EOF\n", "a label name or '}'"),
            (b"{A}0\n# EOF\n", "'=' after the label name"),
            (b"a{b=\"c\"}  1\n# EOF\n", "a space and the value"),
            (b"a{b=\"c\nd\"} 1\n# EOF\n", "a quoted label value"),
            (
                b"custom_metric_total 1 # {aa=bb}\n# EOF\n",
                "a quoted label value",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
                "a space and the exemplar value",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\"}",
                "a space and the exemplar value",
            ),
            (b"custom_metric_total 1 # {bb}", "'=' after the label name"),
            (
                b"custom_metric_total 1 # {bb, a=\"dd\"}",
                "'=' after the label name",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1",
                "a label name or '}'",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\",cc=}",
                "a quoted label value",
            ),
            (
                b"custom_metric_total 1 # {aa=\\\"\xff\\\"} 9.0",
                "a quoted label value",
            ),
            (
                b"custom_metric_total 1 # {\"a\"} 1\n# EOF\n",
                "'=' after the exemplar label name",
            ),
            (
                b"custom_metric_total 1 # {a=\"b\"} 1 2 3\n# EOF\n",
                "end of line after the exemplar",
            ),
            (b"a{b=\x00\"ssss\"} 1\n# EOF\n", "a quoted label value"),
            (b"a{b=\"\x00", "a quoted label value"),
            (b"a{b\x00=\"hiih\"}\t1", "'=' after the label name"),
            (b"a\x00{b=\"ddd\"} 1", "a space and the value"),
            (
                b"custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
                "a quoted label value",
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(
                unexpected(input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let number = |input: &[u8]| match om_err(input).kind {
            K::InvalidNumber { what, .. } => what,
            other => panic!("{:?}: {other}", String::from_utf8_lossy(input)),
        };
        for (input, what) in [
            (&b"a 1\t2\n#EOF\n"[..], "value"),
            (b"a {b=\"c\"} 1\n# EOF\n", "value"),
            (b"a 1 1z\n#EOF\n", "timestamp"),
            (b"a true\n", "value"),
            (b"foo 1_2\n\n# EOF\n", "value"),
            (b"foo 0x1p-3\n\n# EOF\n", "value"),
            (b"foo 0x1P-3\n\n# EOF\n", "value"),
            (b"foo 0 1_2\n\n# EOF\n", "timestamp"),
            (b"custom_metric_total 1 # {aa=\"bb\"} 1_2", "exemplar value"),
            (
                b"custom_metric_total 1 # {aa=\"bb\"} 0x1p-3",
                "exemplar value",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\"} true",
                "exemplar value",
            ),
            (
                b"custom_metric_total 1 # {aa=\"bb\"} 1 x",
                "exemplar timestamp",
            ),
        ] {
            assert_eq!(number(input), what, "{:?}", String::from_utf8_lossy(input));
        }
        for (input, what) in [
            (&b"a 1 NaN"[..], "timestamp"),
            (b"a 1 -Inf", "timestamp"),
            (b"a 1 Inf", "timestamp"),
            (
                b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
                "exemplar timestamp",
            ),
            (
                b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
                "exemplar timestamp",
            ),
        ] {
            assert!(
                matches!(om_err(input).kind, K::NonFiniteTimestamp { what: w, .. } if w == what),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        for (input, t) in [
            (&b"# TYPE u untyped\n#EOF\n"[..], "untyped"),
            (b"# TYPE c counter \n#EOF\n", "counter "),
            (b"# TYPE c  counter\n", " counter"),
        ] {
            assert_eq!(om_err(input).kind, K::InvalidMetricType(t.into()));
        }
        for (input, unit, metric) in [
            (&b"# UNIT metric suffix\n#EOF\n"[..], "suffix", "metric"),
            (
                b"# UNIT metricsuffix suffix\n#EOF\n",
                "suffix",
                "metricsuffix",
            ),
            (b"# UNIT m suffix\n#EOF\n", "suffix", "m"),
        ] {
            assert_eq!(
                om_err(input).kind,
                K::UnitNotSuffix {
                    unit: unit.into(),
                    metric: metric.into()
                }
            );
        }
        assert_eq!(om_err(b"{b=\"c\",} 1\n# EOF\n").kind, K::MetricNameNotSet);
        assert_eq!(
            om_err(b"a{b=\"\xff\"} 1\n# EOF\n").kind,
            K::InvalidUtf8("label value")
        );
        let e = om_err(b"# TYPE a gauge\na 1\na{b=\"c\"} x\n# EOF\n");
        assert_eq!(e.to_string(), "line 3, column 10: invalid value \"x\"");
    }

    #[test]
    fn accepts() {
        // EOF with or without newline; blank metadata texts; NUL bytes.
        assert!(om("# EOF").is_empty());
        assert!(om("# EOF\n").is_empty());
        for input in [
            "null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n",
            "a{b=\"\x00ss\"} 1\n# EOF\n",
            "a{b=\"\x00\"} 1\n# EOF",
        ] {
            assert_eq!(om(input).len(), 1);
        }
        // Timestamps are float seconds truncated to milliseconds; exemplar
        // with an empty label set and trailing commas.
        assert_eq!(
            om("a 1 123.123\nb{c=\"d\",} -1.5e3 -1.0005 # {} 2\nc_total 1 # {x=\"y\",} 3 1.5\n# EOF\n"),
            [
                "a 1 @123123",
                r#"b{c="d"} -1500 @-1000 # {} 2"#,
                r#"c_total 1 # {x="y"} 3 @1500"#
            ]
        );
        // Escapes in OpenMetrics HELP and in exemplars.
        assert_eq!(
            om("# HELP m a\\\"b\\\\c\\nd\\x\\\n# EOF\n"),
            [r#"HELP m "a\"b\\c\nd\\x\\""#]
        );
        assert_eq!(
            om("m_total 1 # {\"a\\\"b\"=\"c\\nd\"} 1\n# EOF\n"),
            [r#"m_total 1 # {a"b="c\nd"} 1"#]
        );
    }
}
