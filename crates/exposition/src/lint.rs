//! `promtool check metrics`: the scrape parser, the stricter text parser of
//! the Go client library that promtool reads with, and promlint's findings.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ember_model::{is_valid_legacy_label_name, is_valid_legacy_metric_name, MetricType};

use crate::entry::Entry;
use crate::error::{error_at, ParseError, ParseErrorKind};
use crate::float::parse_go_float;
use crate::openmetrics::{OpenMetricsParser, ParserOptions};
use crate::text::TextParser;

/// A lint finding: the metric family and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LintProblem {
    /// The metric family name.
    pub metric: String,
    /// The finding, worded as promlint words it.
    pub text: String,
}

impl fmt::Display for LintProblem {
    /// `metric text`, as promtool prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric, self.text)
    }
}

/// Checks an exposition like `promtool check metrics`.
///
/// Input ending in a `# EOF` line is read as OpenMetrics, anything else as
/// the text format. The input must parse with the scrape parser and, for
/// the text format, with the stricter Go client parser promtool uses:
/// legacy metric and label names only, no `__name__` label, no duplicate
/// label names, only `\\`, `\n` and `\"` escapes, one HELP and one TYPE per
/// family with TYPE before the family's samples, `le`/`quantile` values
/// that are floats, no negative histogram counts, a newline at the end.
/// OpenMetrics input gets the same family checks, and families must not be
/// interleaved. Parse failures are errors; promlint's findings (no HELP,
/// counters without `_total`, non-base units, camelCase, abbreviated units,
/// reserved suffixes and labels, duplicate series) come back sorted by
/// metric and text.
pub fn check_metrics(input: &[u8]) -> Result<Vec<LintProblem>, ParseError> {
    let families = if is_openmetrics(input) {
        om_families(input)?
    } else {
        let mut p = TextParser::new(input);
        while p.next()?.is_some() {}
        StrictText::new(input).run()?
    };
    let mut problems = Vec::new();
    for f in &families {
        if !f.metrics.is_empty() {
            lint_family(f, &mut problems);
        }
    }
    problems.sort();
    Ok(problems)
}

/// Whether the input's last line is `# EOF`.
fn is_openmetrics(input: &[u8]) -> bool {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    body.strip_suffix(b"# EOF")
        .is_some_and(|before| before.is_empty() || before.ends_with(b"\n"))
}

/// The family types of the Go client's data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtoType {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
    GaugeHistogram,
}

impl DtoType {
    fn lower_name(self) -> &'static str {
        match self {
            DtoType::Counter => "counter",
            DtoType::Gauge => "gauge",
            DtoType::Summary => "summary",
            DtoType::Untyped => "untyped",
            DtoType::Histogram => "histogram",
            DtoType::GaugeHistogram => "gauge_histogram",
        }
    }

    fn is_histogram(self) -> bool {
        matches!(self, DtoType::Histogram | DtoType::GaugeHistogram)
    }
}

/// A metric family as promlint sees it.
#[derive(Debug)]
struct Family {
    name: String,
    help: Option<String>,
    typ: Option<DtoType>,
    /// The label pairs of each metric (`le`/`quantile` excluded for
    /// histograms/summaries, whose lines merge into one metric).
    metrics: Vec<Vec<(String, String)>>,
}

impl Family {
    fn new(name: String) -> Self {
        Family {
            name,
            help: None,
            typ: None,
            metrics: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// The Go client's text parser (expfmt.TextParser with legacy name validation).

/// Why the strict parser stopped: the input ended mid-line, or an error
/// at a byte position.
enum Stop {
    Eof,
    At(usize, String),
}

/// A port of the state machine of the Go client's text parser, reduced to
/// what the checks and the lint need.
struct StrictText<'a> {
    b: &'a [u8],
    /// Index of the next byte to read.
    pos: usize,
    /// The byte most recently read.
    cur: u8,
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
    /// Histogram and summary metrics by family and label signature.
    merged: HashSet<(usize, Vec<(String, String)>)>,
    family: Option<usize>,
    /// Set by the family lookup for a histogram's `_count` and `_sum`.
    hist_count: bool,
    hist_sum: bool,
    /// The label pairs of the line being read.
    pairs: Vec<(String, String)>,
    /// The `le` value of a histogram line, when there is one.
    bucket: Option<f64>,
}

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

impl<'a> StrictText<'a> {
    fn new(b: &'a [u8]) -> Self {
        StrictText {
            b,
            pos: 0,
            cur: 0,
            families: Vec::new(),
            by_name: HashMap::new(),
            merged: HashSet::new(),
            family: None,
            hist_count: false,
            hist_sum: false,
            pairs: Vec::new(),
            bucket: None,
        }
    }

    fn run(mut self) -> Result<Vec<Family>, ParseError> {
        loop {
            match self.line() {
                Ok(true) => {}
                Ok(false) => return Ok(self.families),
                Err(Stop::Eof) => {
                    return Err(error_at(
                        self.b,
                        self.b.len(),
                        ParseErrorKind::Check("unexpected end of input stream".into()),
                    ))
                }
                Err(Stop::At(pos, msg)) => {
                    return Err(error_at(self.b, pos, ParseErrorKind::Check(msg)))
                }
            }
        }
    }

    fn fail<T>(&self, msg: String) -> Result<T, Stop> {
        Err(Stop::At(self.pos.saturating_sub(1), msg))
    }

    fn read(&mut self) -> Result<u8, Stop> {
        let c = *self.b.get(self.pos).ok_or(Stop::Eof)?;
        self.pos += 1;
        self.cur = c;
        Ok(c)
    }

    fn skip_blank(&mut self) -> Result<(), Stop> {
        while blank(self.read()?) {}
        Ok(())
    }

    fn family_name(&self) -> String {
        self.family
            .and_then(|i| self.families.get(i))
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    fn family_type(&self) -> Option<DtoType> {
        self.family
            .and_then(|i| self.families.get(i))
            .and_then(|f| f.typ)
    }

    /// One line; `false` at the end of the input.
    fn line(&mut self) -> Result<bool, Stop> {
        match self.skip_blank() {
            Err(Stop::Eof) => return Ok(false),
            r => r?,
        }
        self.pairs.clear();
        self.bucket = None;
        match self.cur {
            b'#' => self.comment()?,
            b'\n' => {}
            b'{' => {
                self.family = None;
                self.labels(true)?;
            }
            _ => {
                let name = self.metric_name_token()?;
                if name.is_empty() {
                    return self.fail("invalid metric name".into());
                }
                self.set_family(&name)?;
                self.default_untyped();
                if blank(self.cur) {
                    self.skip_blank()?;
                }
                if self.cur == b'{' {
                    self.labels(false)?;
                } else {
                    self.value()?;
                }
            }
        }
        Ok(true)
    }

    fn default_untyped(&mut self) {
        if let Some(f) = self.family.and_then(|i| self.families.get_mut(i)) {
            f.typ.get_or_insert(DtoType::Untyped);
        }
    }

    fn comment(&mut self) -> Result<(), Stop> {
        self.skip_blank()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        let keyword = self.token_until_blank()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        if keyword != b"HELP" && keyword != b"TYPE" {
            while self.cur != b'\n' {
                self.read()?;
            }
            return Ok(());
        }
        self.skip_blank()?;
        let name = self.metric_name_token()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        if !blank(self.cur) {
            return self.fail("invalid metric name in comment".into());
        }
        self.set_family(&name)?;
        self.skip_blank()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        let name = self.family_name();
        let Some(idx) = self.family else {
            return Ok(());
        };
        if keyword == b"HELP" {
            if self.families[idx].help.is_some() {
                return self.fail(format!("second HELP line for metric name {}", q(&name)));
            }
            let text = self.token_until_newline(true)?;
            self.families[idx].help = Some(text);
        } else {
            if self.families[idx].typ.is_some() {
                return self.fail(format!(
                    "second TYPE line for metric name {}, or TYPE reported after samples",
                    q(&name)
                ));
            }
            let text = self.token_until_newline(false)?;
            let t = match text.to_ascii_uppercase().as_str() {
                "COUNTER" => DtoType::Counter,
                "GAUGE" => DtoType::Gauge,
                "SUMMARY" => DtoType::Summary,
                "UNTYPED" => DtoType::Untyped,
                "HISTOGRAM" => DtoType::Histogram,
                "GAUGE_HISTOGRAM" | "GAUGEHISTOGRAM" => DtoType::GaugeHistogram,
                _ => return self.fail(format!("unknown metric type {}", q(&text))),
            };
            self.families[idx].typ = Some(t);
        }
        Ok(())
    }

    /// expfmt's family lookup: the exact name, else the summary or
    /// histogram the `_count`/`_sum`/`_bucket` name belongs to, else a new
    /// family.
    fn set_family(&mut self, name: &str) -> Result<(), Stop> {
        self.hist_count = false;
        self.hist_sum = false;
        if !is_valid_legacy_metric_name(name) {
            return self.fail(format!("invalid metric name {}", q(name)));
        }
        if let Some(&i) = self.by_name.get(name) {
            self.family = Some(i);
            return Ok(());
        }
        let strip = |suffixes: &[&str]| {
            suffixes
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|base| !base.is_empty()))
        };
        if let Some(base) = strip(&["_count", "_sum"]) {
            if let Some(&i) = self.by_name.get(base) {
                if self.families[i].typ == Some(DtoType::Summary) {
                    self.family = Some(i);
                    return Ok(());
                }
            }
        }
        if let Some(base) = strip(&["_count", "_sum", "_bucket"]) {
            if let Some(&i) = self.by_name.get(base) {
                if self.families[i].typ.is_some_and(DtoType::is_histogram) {
                    self.family = Some(i);
                    self.hist_count = name.ends_with("_count");
                    self.hist_sum = name.ends_with("_sum");
                    return Ok(());
                }
            }
        }
        let i = self.families.len();
        self.families.push(Family::new(name.to_string()));
        self.by_name.insert(name.to_string(), i);
        self.family = Some(i);
        Ok(())
    }

    /// The label set from the `{` (the current byte) through the value.
    fn labels(&mut self, inside_braces: bool) -> Result<(), Stop> {
        loop {
            self.skip_blank()?;
            if self.cur == b'}' {
                if self.family.is_none() {
                    return self.fail("invalid metric name".into());
                }
                self.skip_blank()?;
                return self.value();
            }
            let label = self.label_name_token()?;
            if label.is_empty() {
                return self.fail(format!(
                    "invalid label name for metric {}",
                    q(&self.family_name())
                ));
            }
            if blank(self.cur) {
                self.skip_blank()?;
            }
            if self.cur != b'=' {
                // A second name in braces never gets here: the scrape
                // parser rejects it first.
                if inside_braces {
                    match self.cur {
                        b',' | b'}' => {
                            self.set_family(&label)?;
                            self.default_untyped();
                            if self.cur == b'}' {
                                self.skip_blank()?;
                                return self.value();
                            }
                            continue;
                        }
                        c => {
                            return self.fail(format!(
                                "unexpected end of metric name {}",
                                go_quote_byte(c)
                            ))
                        }
                    }
                }
                return self.fail(format!(
                    "expected '=' after label name, found {}",
                    go_quote_byte(self.cur)
                ));
            }
            if label == "__name__" {
                return self.fail("label name \"__name__\" is reserved".into());
            }
            if !is_valid_legacy_label_name(&label) {
                return self.fail(format!("invalid label name {}", q(&label)));
            }
            let t = self.family_type();
            let special = (t == Some(DtoType::Summary) && label == "quantile")
                || (t.is_some_and(DtoType::is_histogram) && label == "le");
            if !special && self.pairs.iter().any(|(n, _)| *n == label) {
                return self.fail(format!(
                    "duplicate label names for metric {}",
                    q(&self.family_name())
                ));
            }
            // The value.
            self.skip_blank()?;
            if self.cur != b'"' {
                return self.fail(format!(
                    "expected '\"' at start of label value, found {}",
                    go_quote_byte(self.cur)
                ));
            }
            let value = self.label_value_token()?;
            if special {
                let what = if label == "le" { "le" } else { "quantile" };
                let Some(f) = parse_go_float(value.as_bytes()) else {
                    return self.fail(format!(
                        "expected float as value for '{what}' label, got {}",
                        q(&value)
                    ));
                };
                if what == "le" && !f.is_nan() {
                    self.bucket = Some(f);
                }
            } else {
                self.pairs.push((label, value.clone()));
            }
            self.skip_blank()?;
            match self.cur {
                b',' => {}
                b'}' => {
                    if self.family.is_none() {
                        return self.fail("invalid metric name".into());
                    }
                    self.skip_blank()?;
                    return self.value();
                }
                _ => return self.fail(format!("unexpected end of label value {}", q(&value))),
            }
        }
    }

    /// The value (starting at the current byte), an optional timestamp and
    /// the end of the line; records the metric.
    fn value(&mut self) -> Result<(), Stop> {
        let Some(fi) = self.family else {
            return self.fail("invalid metric name".into());
        };
        let t = self.family_type();
        let pairs = std::mem::take(&mut self.pairs);
        if t == Some(DtoType::Summary) || t.is_some_and(DtoType::is_histogram) {
            let mut sig = pairs.clone();
            sig.sort();
            if self.merged.insert((fi, sig)) {
                self.families[fi].metrics.push(pairs);
            }
        } else {
            self.families[fi].metrics.push(pairs);
        }
        let token = self.token_until_blank()?;
        let Some(v) = parse_go_float(&token) else {
            return self.fail(format!(
                "expected float as value, got {}",
                q(&String::from_utf8_lossy(&token))
            ));
        };
        if t.is_some_and(DtoType::is_histogram) && v < 0.0 {
            let name = q(&self.family_name());
            if self.hist_count {
                return self.fail(format!("negative count for histogram {name}"));
            }
            if !self.hist_sum && self.bucket.is_some() {
                return self.fail(format!("negative bucket population for histogram {name}"));
            }
        }
        if self.cur == b'\n' {
            return Ok(());
        }
        self.skip_blank()?;
        let ts = self.token_until_blank()?;
        let ts = String::from_utf8_lossy(&ts).into_owned();
        // Go's strconv.ParseInt(ts, 10, 64).
        if ts.parse::<i64>().is_err() {
            return self.fail(format!("expected integer as timestamp, got {}", q(&ts)));
        }
        let rest = self.token_until_newline(false)?;
        if !rest.is_empty() {
            return self.fail(format!("spurious string after timestamp: {}", q(&rest)));
        }
        Ok(())
    }

    fn token_until_blank(&mut self) -> Result<Vec<u8>, Stop> {
        let mut t = Vec::new();
        while !blank(self.cur) && self.cur != b'\n' {
            t.push(self.cur);
            self.read()?;
        }
        Ok(t)
    }

    /// The rest of the line from the current byte; with `escapes`, `\\`,
    /// `\n` and `\"` are resolved and other escapes are errors.
    fn token_until_newline(&mut self, escapes: bool) -> Result<String, Stop> {
        let mut t = Vec::new();
        let mut escaped = false;
        loop {
            let c = self.cur;
            if escapes && escaped {
                match c {
                    b'\\' | b'"' => t.push(c),
                    b'n' => t.push(b'\n'),
                    _ => {
                        return self.fail(format!("invalid escape sequence '\\{}'", char::from(c)))
                    }
                }
                escaped = false;
            } else {
                match c {
                    b'\n' => return Ok(String::from_utf8_lossy(&t).into_owned()),
                    b'\\' => escaped = true,
                    _ => t.push(c),
                }
            }
            self.read()?;
        }
    }

    /// A metric name, possibly quoted, starting at the current byte.
    fn metric_name_token(&mut self) -> Result<String, Stop> {
        let start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'"' || c == b':';
        let cont = |c: u8, quoted: bool| start(c) || c.is_ascii_digit() || quoted;
        self.name_token(start, cont, "metric name")
    }

    /// A label name, possibly quoted, starting at the current byte.
    fn label_name_token(&mut self) -> Result<String, Stop> {
        let start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'"';
        let cont = |c: u8, quoted: bool| start(c) || c.is_ascii_digit() || quoted;
        self.name_token(start, cont, "label name")
    }

    fn name_token(
        &mut self,
        start: impl Fn(u8) -> bool,
        cont: impl Fn(u8, bool) -> bool,
        what: &str,
    ) -> Result<String, Stop> {
        let mut t = Vec::new();
        if !start(self.cur) {
            return Ok(String::new());
        }
        let (mut quoted, mut escaped) = (false, false);
        loop {
            let c = self.cur;
            if escaped {
                match c {
                    b'\\' | b'"' => t.push(c),
                    b'n' => t.push(b'\n'),
                    _ => {
                        return self.fail(format!("invalid escape sequence '\\{}'", char::from(c)))
                    }
                }
                escaped = false;
            } else {
                match c {
                    b'"' => {
                        quoted = !quoted;
                        if !quoted {
                            self.read()?;
                            return Ok(String::from_utf8_lossy(&t).into_owned());
                        }
                    }
                    b'\n' => {
                        return self.fail(format!(
                            "{what} {} contains unescaped new-line",
                            q(&String::from_utf8_lossy(&t))
                        ))
                    }
                    b'\\' => escaped = true,
                    _ => t.push(c),
                }
            }
            let c = self.read()?;
            if !cont(c, quoted) {
                return Ok(String::from_utf8_lossy(&t).into_owned());
            }
        }
    }

    /// A label value; the current byte is the opening quote.
    fn label_value_token(&mut self) -> Result<String, Stop> {
        let mut t = Vec::new();
        let mut escaped = false;
        loop {
            let c = self.read()?;
            if escaped {
                match c {
                    b'"' | b'\\' => t.push(c),
                    b'n' => t.push(b'\n'),
                    _ => {
                        return self.fail(format!("invalid escape sequence '\\{}'", char::from(c)))
                    }
                }
                escaped = false;
                continue;
            }
            match c {
                b'"' => break,
                b'\n' => {
                    return self.fail(format!(
                        "label value {} contains unescaped new-line",
                        q(&String::from_utf8_lossy(&t))
                    ))
                }
                b'\\' => escaped = true,
                _ => t.push(c),
            }
        }
        match String::from_utf8(t) {
            Ok(s) => Ok(s),
            Err(e) => self.fail(format!(
                "invalid label value {}",
                q(&String::from_utf8_lossy(e.as_bytes()))
            )),
        }
    }
}

/// Go's `%q` of a byte as a rune.
fn go_quote_byte(c: u8) -> String {
    format!("{:?}", char::from(c))
}

// ---------------------------------------------------------------------------
// OpenMetrics families.

/// The sample-name suffixes of an OpenMetrics family type.
fn om_suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[""],
    }
}

/// An OpenMetrics family being read.
struct OmFamily {
    fam: Family,
    typ: MetricType,
    has_type: bool,
    has_unit: bool,
    /// Another family has started since this one's last line.
    closed: bool,
    /// Label signatures seen, for histograms and summaries.
    merged: HashSet<Vec<(String, String)>>,
}

/// OpenMetrics families by name, in order of appearance.
#[derive(Default)]
struct OmFamilies {
    fams: Vec<OmFamily>,
    by_name: HashMap<String, usize>,
    current: Option<usize>,
}

impl OmFamilies {
    /// Makes `name` the current family, creating it if new; a family that
    /// was left earlier cannot come back.
    fn enter(&mut self, name: &str) -> Result<usize, String> {
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                self.fams.push(OmFamily {
                    fam: Family::new(name.to_string()),
                    typ: MetricType::Unknown,
                    has_type: false,
                    has_unit: false,
                    closed: false,
                    merged: HashSet::new(),
                });
                self.by_name.insert(name.to_string(), self.fams.len() - 1);
                self.fams.len() - 1
            }
        };
        if self.current != Some(i) {
            if let Some(c) = self.current {
                self.fams[c].closed = true;
            }
            if self.fams[i].closed {
                return Err(format!("metric family {} is not contiguous", q(name)));
            }
            self.current = Some(i);
        }
        Ok(i)
    }

    /// The family a sample named `name` belongs to: the current one if the
    /// name is its name plus a suffix of its type, else the family `name`.
    fn sample_family(&mut self, name: &str) -> Result<usize, String> {
        if let Some(c) = self.current {
            let f = &self.fams[c];
            if om_suffixes(f.typ)
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(f.fam.name.as_str()))
            {
                return Ok(c);
            }
        }
        self.enter(name)
    }
}

/// Reads OpenMetrics into families: metadata once per family, before its
/// samples, families not interleaved, legacy names, unique label names.
fn om_families(input: &[u8]) -> Result<Vec<Family>, ParseError> {
    let mut fams = OmFamilies::default();
    let mut p = OpenMetricsParser::new(input, ParserOptions::default());
    let mut line_start = 0usize;
    while let Some(entry) = p.next()? {
        let pos = line_start;
        line_start = next_line_start(input, line_start, &entry);
        let fail = |msg: String| error_at(input, pos, ParseErrorKind::Check(msg));
        let s = match entry {
            Entry::Series(s) => s,
            Entry::Help { metric, .. }
            | Entry::Type { metric, .. }
            | Entry::Unit { metric, .. } => {
                if !is_valid_legacy_metric_name(metric) {
                    return Err(fail(format!("invalid metric name {}", q(metric))));
                }
                let i = fams.enter(metric).map_err(fail)?;
                let f = &mut fams.fams[i];
                match entry {
                    Entry::Help { text, .. } => {
                        if f.fam.help.is_some() {
                            return Err(fail(format!(
                                "second HELP line for metric name {}",
                                q(metric)
                            )));
                        }
                        f.fam.help = Some(text.to_string());
                    }
                    Entry::Type { metric_type, .. } => {
                        if f.has_type || !f.fam.metrics.is_empty() {
                            return Err(fail(format!(
                                "second TYPE line for metric name {}, or TYPE reported after samples",
                                q(metric)
                            )));
                        }
                        f.has_type = true;
                        f.typ = metric_type;
                    }
                    _ => {
                        if f.has_unit {
                            return Err(fail(format!(
                                "second UNIT line for metric name {}",
                                q(metric)
                            )));
                        }
                        f.has_unit = true;
                    }
                }
                continue;
            }
            Entry::Comment(_) => continue,
        };
        let metric = s.metric_name();
        if !is_valid_legacy_metric_name(metric) {
            return Err(fail(format!("invalid metric name {}", q(metric))));
        }
        if let Some(l) = s.labels().find(|l| !is_valid_legacy_label_name(l.name)) {
            return Err(fail(format!("invalid label name {}", q(l.name))));
        }
        s.to_labels().map_err(|e| fail(e.to_string()))?;
        let i = fams.sample_family(metric).map_err(fail)?;
        let f = &mut fams.fams[i];
        if metric.ends_with("_created") && f.fam.name != metric {
            continue;
        }
        let skip = match f.typ {
            MetricType::Histogram | MetricType::GaugeHistogram => "le",
            MetricType::Summary => "quantile",
            _ => "",
        };
        let pairs: Vec<(String, String)> = s
            .labels()
            .filter(|l| l.name != skip)
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        if skip.is_empty() {
            f.fam.metrics.push(pairs);
        } else {
            let mut sig = pairs.clone();
            sig.sort();
            if f.merged.insert(sig) {
                f.fam.metrics.push(pairs);
            }
        }
    }
    Ok(fams
        .fams
        .into_iter()
        .map(|f| {
            let mut fam = f.fam;
            let (typ, suffix) = match f.typ {
                MetricType::Counter => (DtoType::Counter, "_total"),
                MetricType::Gauge | MetricType::Stateset => (DtoType::Gauge, ""),
                MetricType::Info => (DtoType::Gauge, "_info"),
                MetricType::Histogram => (DtoType::Histogram, ""),
                MetricType::GaugeHistogram => (DtoType::GaugeHistogram, ""),
                MetricType::Summary => (DtoType::Summary, ""),
                MetricType::Unknown => (DtoType::Untyped, ""),
            };
            fam.typ = Some(typ);
            fam.name.push_str(suffix);
            if fam.help.as_deref() == Some("") {
                fam.help = None;
            }
            fam
        })
        .collect())
}

/// Where the line after `entry` starts (for error positions), given where
/// it started.
fn next_line_start(input: &[u8], start: usize, entry: &Entry<'_>) -> usize {
    // Quoted names may contain raw newlines; the series bytes tell how far
    // the name and labels reach.
    let from = match entry {
        Entry::Series(s) => start + s.series_bytes().len(),
        _ => start,
    };
    crate::lex::after_line(input, crate::lex::line_end(input, from))
}

// ---------------------------------------------------------------------------
// promlint's validations.

const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

fn base_unit(unit: &str) -> Option<&'static str> {
    UNITS.iter().find(|(u, _)| *u == unit).map(|(_, b)| *b)
}

/// The first `_`-separated part of `name` that is a unit, with its base.
fn metric_units(name: &str) -> Option<(&str, &'static str)> {
    for part in name.split('_') {
        if let Some(base) = base_unit(part) {
            return Some((part, base));
        }
        for p in UNIT_PREFIXES {
            if let Some(base) = part.strip_prefix(p).and_then(base_unit) {
                return Some((part, base));
            }
        }
    }
    None
}

/// `[a-z][A-Z]` somewhere in `s`.
fn camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn lint_family(f: &Family, out: &mut Vec<LintProblem>) {
    let name = f.name.as_str();
    let typ = f.typ.unwrap_or(DtoType::Untyped);
    let mut push = |text: String| {
        out.push(LintProblem {
            metric: name.to_string(),
            text,
        })
    };
    if f.help.is_none() {
        push("no help text".into());
    }
    if let Some((unit, base)) = metric_units(name) {
        if unit != base {
            push(format!("use base unit {} instead of {}", q(base), q(unit)));
        }
    }
    let total = name.ends_with("_total");
    match typ {
        DtoType::Counter if !total => push(r#"counter metrics should have "_total" suffix"#.into()),
        DtoType::Counter | DtoType::Untyped => {}
        _ if total => push(r#"non-counter metrics should not have "_total" suffix"#.into()),
        _ => {}
    }
    if typ != DtoType::Untyped {
        let hist = typ == DtoType::Histogram;
        let summary = typ == DtoType::Summary;
        if !hist && name.ends_with("_bucket") {
            push(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
        }
        if !hist && !summary && name.ends_with("_count") {
            push(r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into());
        }
        if !hist && !summary && name.ends_with("_sum") {
            push(r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into());
        }
        for m in &f.metrics {
            for (l, _) in m {
                if !hist && l == "le" {
                    push(r#"non-histogram metrics should not have "le" label"#.into());
                }
                if !summary && l == "quantile" {
                    push(r#"non-summary metrics should not have "quantile" label"#.into());
                }
            }
        }
        let lower = name.to_ascii_lowercase();
        let t = typ.lower_name();
        if lower.contains(&format!("_{t}_")) || lower.ends_with(&format!("_{t}")) {
            push(format!("metric name should not include type '{t}'"));
        }
    }
    if name.contains(':') {
        push("metric names should not contain ':'".into());
    }
    if camel_case(name) {
        push("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for m in &f.metrics {
        for (l, _) in m {
            if camel_case(l) {
                push("label names should be written in 'snake_case' not 'camelCase'".into());
            }
        }
    }
    let lower = name.to_ascii_lowercase();
    for a in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{a}_")) || lower.ends_with(&format!("_{a}")) {
            push("metric names should not contain abbreviated units".into());
        }
    }
    // promlint reports each metric that has an identical later one: one
    // finding per metric beyond the first of each distinct label set.
    let distinct: HashSet<&Vec<(String, String)>> = f.metrics.iter().collect();
    for _ in distinct.len()..f.metrics.len() {
        push("metric not unique".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(input: &str) -> Vec<String> {
        match check_metrics(input.as_bytes()) {
            Ok(p) => p.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{input:?}: {e}"),
        }
    }

    fn error(input: &str) -> String {
        match check_metrics(input.as_bytes()) {
            Ok(p) => panic!("{input:?} passed: {p:?}"),
            Err(e) => match e.kind {
                ParseErrorKind::Check(msg) => msg,
                other => format!("scrape parser: {other}"),
            },
        }
    }

    /// promtool 2.42's output for the same input, line for line.
    #[test]
    fn lint_findings_match_promtool() {
        let input = r#"# HELP http_requests Total requests.
# TYPE http_requests counter
http_requests{code="200"} 10
# TYPE request_duration_milliseconds histogram
request_duration_milliseconds_bucket{le="1"} 1
request_duration_milliseconds_bucket{le="+Inf"} 2
request_duration_milliseconds_sum 3
request_duration_milliseconds_count 2
# HELP job:rate5m Recording rule output.
# TYPE job:rate5m gauge
job:rate5m{jobName="a"} 1
# HELP temp_fahrenheit_gauge A gauge.
# TYPE temp_fahrenheit_gauge gauge
temp_fahrenheit_gauge{quantile="0.5"} 1
# HELP size_kb Size.
# TYPE size_kb gauge
size_kb 1
# HELP x_bucket X.
# TYPE x_bucket summary
x_bucket{quantile="0.5"} 1
x_bucket_sum 1
x_bucket_count 1
# HELP untyped_total Untyped.
untyped_total 1
# HELP latency_hours_total L.
# TYPE latency_hours_total counter
latency_hours_total 1
"#;
        assert_eq!(
            lint(input),
            [
                r#"http_requests counter metrics should have "_total" suffix"#,
                "job:rate5m label names should be written in 'snake_case' not 'camelCase'",
                "job:rate5m metric names should not contain ':'",
                r#"latency_hours_total use base unit "seconds" instead of "hours""#,
                "request_duration_milliseconds no help text",
                r#"request_duration_milliseconds use base unit "seconds" instead of "milliseconds""#,
                "size_kb metric names should not contain abbreviated units",
                "temp_fahrenheit_gauge metric name should not include type 'gauge'",
                r#"temp_fahrenheit_gauge non-summary metrics should not have "quantile" label"#,
                r#"temp_fahrenheit_gauge use base unit "celsius" instead of "fahrenheit""#,
                r#"x_bucket non-histogram metrics should not have "_bucket" suffix"#,
            ]
        );
        assert_eq!(
            lint("# HELP fooBar_milliseconds_total x\n# TYPE fooBar_milliseconds_total gauge\nfooBar_milliseconds_total{aB=\"1\"} 1\nfooBar_milliseconds_total{aB=\"2\"} 1\n"),
            [
                "fooBar_milliseconds_total label names should be written in 'snake_case' not 'camelCase'",
                "fooBar_milliseconds_total label names should be written in 'snake_case' not 'camelCase'",
                "fooBar_milliseconds_total metric names should be written in 'snake_case' not 'camelCase'",
                r#"fooBar_milliseconds_total non-counter metrics should not have "_total" suffix"#,
                r#"fooBar_milliseconds_total use base unit "seconds" instead of "milliseconds""#,
            ]
        );
        // Empty help is no help; families without samples are not linted;
        // non-contiguous samples merge; an exact duplicate is reported.
        assert_eq!(
            lint(
                "# HELP a \n# TYPE a gauge\na 1\n# HELP b only metadata\nc 1\na{x=\"1\"} 2\na 3\n"
            ),
            ["a metric not unique", "a no help text", "c no help text"]
        );
        assert!(lint("").is_empty());
        assert_eq!(
            check_metrics(b"a 1\n").unwrap()[0],
            LintProblem {
                metric: "a".into(),
                text: "no help text".into()
            }
        );
    }

    #[test]
    fn rejects_what_promtool_rejects() {
        let cases = [
            (
                "# TYPE foo counter\nfoo 1\n# TYPE foo counter\n",
                r#"second TYPE line for metric name "foo", or TYPE reported after samples"#,
            ),
            (
                "foo 1\n# TYPE foo counter\n",
                r#"second TYPE line for metric name "foo", or TYPE reported after samples"#,
            ),
            (
                "# HELP foo x\n# HELP foo y\nfoo 1\n",
                r#"second HELP line for metric name "foo""#,
            ),
            (
                "#HELP foo x\n# HELP foo y\nfoo 1\n",
                r#"second HELP line for metric name "foo""#,
            ),
            ("# HELP foo x\nfoo 1", "unexpected end of input stream"),
            (
                "foo{a=\"b\" c=\"d\"} 1\n",
                r#"unexpected end of label value "b""#,
            ),
            (
                "# TYPE foo histogram\nfoo_bucket{le=\"x\"} 1\n",
                r#"expected float as value for 'le' label, got "x""#,
            ),
            (
                "# TYPE foo summary\nfoo{quantile=\"x\"} 1\n",
                r#"expected float as value for 'quantile' label, got "x""#,
            ),
            (
                "# TYPE foo histogram\nfoo_count -1\n",
                r#"negative count for histogram "foo""#,
            ),
            (
                "# TYPE foo histogram\nfoo_bucket{le=\"1\"} -1\n",
                r#"negative bucket population for histogram "foo""#,
            ),
            (
                "foo{a=\"b\",a=\"c\"} 1\n",
                r#"duplicate label names for metric "foo""#,
            ),
            ("a{b=\"\\t\"} 1\n", r"invalid escape sequence '\t'"),
            ("# HELP a x\\ty\na 1\n", r"invalid escape sequence '\t'"),
            ("foo 1 \n", r#"expected integer as timestamp, got """#),
            ("{\"my.metric\"} 1\n", r#"invalid metric name "my.metric""#),
            ("foo{\"a.b\"=\"c\"} 1\n", r#"invalid label name "a.b""#),
            (
                "foo{__name__=\"c\"} 1\n",
                r#"label name "__name__" is reserved"#,
            ),
            ("# HELP foo{x} y\nfoo 1\n", "invalid metric name in comment"),
            (
                "foo{a=\"x\ny\"} 1\n",
                r#"label value "x" contains unescaped new-line"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(error(input), want, "{input:?}");
        }
        // What the scrape parser rejects is rejected too.
        assert_eq!(
            error("foo{a='b'} 1\n"),
            r#"scrape parser: expected a quoted label value, found "'b'}""#
        );
        assert!(
            error("# TYPE foo COUNTER\nfoo 1\n").starts_with("scrape parser: invalid metric type")
        );
        // Quoted legacy names are fine.
        assert_eq!(
            lint("# HELP foo x\n# TYPE foo gauge\n{\"foo\",\"a\"=\"b\"} 1\n"),
            Vec::<String>::new()
        );
        let e = check_metrics(b"# HELP foo x\n# HELP foo y\nfoo 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12));
        assert_eq!(
            e.to_string(),
            r#"line 2, column 12: text format parsing error: second HELP line for metric name "foo""#
        );
    }

    #[test]
    fn openmetrics_input() {
        let good = "# HELP foo_seconds Foo.\n# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n\
                    foo_seconds_total 1 # {trace_id=\"a\"} 1\nfoo_seconds_created 1.5e9\n\
                    # HELP bar Bar.\n# TYPE bar histogram\nbar_bucket{le=\"1\"} 0\nbar_bucket{le=\"+Inf\"} 1\n\
                    bar_count 1\nbar_sum 1\nbar_created 1\n# HELP build Build.\n# TYPE build info\nbuild_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(lint(good), Vec::<String>::new());
        assert!(is_openmetrics(b"# EOF"));
        assert!(!is_openmetrics(b"a 1\n#  EOF\n"));
        assert_eq!(
            lint("# TYPE myCounter counter\nmyCounter_total 1\nother 2\n# EOF\n"),
            [
                "myCounter_total metric names should be written in 'snake_case' not 'camelCase'",
                "myCounter_total no help text",
                "other no help text",
            ]
        );
        let cases = [
            (
                "a 1\nb 1\na{x=\"y\"} 1\n# EOF\n",
                r#"metric family "a" is not contiguous"#,
            ),
            (
                "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# HELP a x\n# EOF\n",
                r#"metric family "a" is not contiguous"#,
            ),
            (
                "# HELP a x\n# HELP a y\n# EOF\n",
                r#"second HELP line for metric name "a""#,
            ),
            (
                "# TYPE a gauge\n# TYPE a gauge\n# EOF\n",
                r#"second TYPE line for metric name "a", or TYPE reported after samples"#,
            ),
            (
                "# UNIT a_s s\n# UNIT a_s s\n# EOF\n",
                r#"second UNIT line for metric name "a_s""#,
            ),
            ("{\"a.b\"} 1\n# EOF\n", r#"invalid metric name "a.b""#),
            ("a{\"b.c\"=\"d\"} 1\n# EOF\n", r#"invalid label name "b.c""#),
            (
                "a{b=\"1\",b=\"2\"} 1\n# EOF\n",
                r#"duplicate label name "b""#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(error(input), want, "{input:?}");
        }
        assert_eq!(
            error("a 1\n\n# EOF\n"),
            r#"scrape parser: expected a metric name, '{' or '#', found end of line"#
        );
    }
}
