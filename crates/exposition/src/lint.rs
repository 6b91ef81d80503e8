//! `promtool check metrics`: the scrape parser, the stricter text parser of
//! the Go client library that promtool reads with, and promlint's findings.
//!
//! The strict text pass reads each line once and allocates nothing per
//! sample: names and values are borrowed from the input (copied to a line
//! buffer only when quotes or escapes have to come out), a family is looked
//! up once per run of lines with the same name, what promlint needs of a
//! family's metrics is counted as they are read, and the label sets that
//! the merging of histogram/summary lines and the uniqueness check need are
//! kept once each, hashed, in a [`SeenSet`] that confirms equal hashes by
//! comparing bytes.

use std::collections::HashMap;
use std::fmt;

use ember_model::{is_valid_legacy_label_name, is_valid_legacy_metric_name, MetricType};

use crate::entry::Entry;
use crate::error::{error_at, ParseError, ParseErrorKind};
use crate::float::parse_go_float;
use crate::lex::{legacy_label_name, legacy_metric_name, scan_label_name, scan_name};
use crate::openmetrics::{OpenMetricsParser, ParserOptions};
use crate::seen::{FastState, SeenSet};
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
        // One write where the line fits a small buffer: printed to an
        // unbuffered stream such as stderr, that is one system call rather
        // than three.
        let (m, t) = (self.metric.as_bytes(), self.text.as_bytes());
        let mut buf = [0u8; 256];
        if let Some(line) = buf.get_mut(..m.len() + 1 + t.len()) {
            let (head, rest) = line.split_at_mut(m.len());
            head.copy_from_slice(m);
            if let Some((space, tail)) = rest.split_first_mut() {
                *space = b' ';
                tail.copy_from_slice(t);
            }
            if let Ok(s) = std::str::from_utf8(line) {
                return f.write_str(s);
            }
        }
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
    // Findings as (metric, text, how many times), sorted, then written out:
    // equal findings are indistinguishable, so this is the order a sort of
    // the written-out list gives.
    let mut found = Vec::new();
    for f in &families {
        if f.metrics > 0 {
            lint_family(f, &mut found);
        }
    }
    found.sort_unstable();
    let mut problems = Vec::with_capacity(found.iter().map(|(_, _, n)| n).sum());
    for (metric, text, n) in found {
        for _ in 0..n {
            problems.push(LintProblem {
                metric: metric.to_string(),
                text: text.clone(),
            });
        }
    }
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

/// A metric family as promlint sees it: what the lint needs of its metrics,
/// counted as they are read.
#[derive(Debug)]
struct Family {
    name: String,
    /// Whether it has (non-empty) help text.
    help: bool,
    typ: Option<DtoType>,
    /// How many metrics it has (histogram and summary lines with the same
    /// labels apart from `le`/`quantile` merge into one metric).
    metrics: usize,
    /// Metrics whose label pairs, in order, equal an earlier metric's.
    duplicates: usize,
    /// Label pairs named `le`, named `quantile`, and with a camelCase name,
    /// over all metrics.
    le_labels: usize,
    quantile_labels: usize,
    camel_labels: usize,
}

impl Family {
    fn new(name: String) -> Self {
        Family {
            name,
            help: false,
            typ: None,
            metrics: 0,
            duplicates: 0,
            le_labels: 0,
            quantile_labels: 0,
            camel_labels: 0,
        }
    }
}

/// Where one label pair is in [`LabelSets::cur`]: the whole encoded pair,
/// the name and the value.
#[derive(Debug, Clone, Copy)]
struct PairAt {
    start: usize,
    name: (usize, usize),
    value: (usize, usize),
    end: usize,
}

/// Appends `n` as LEB128: lengths so written keep an encoding of pairs
/// unambiguous, in one byte for the usual short strings.
#[inline]
fn push_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The label pairs of the metric being read, and the label sets of the
/// metrics read before (per family), for merging histogram and summary
/// lines and for counting duplicates.
struct LabelSets {
    seen: SeenSet,
    /// The pairs, each encoded as name length, name, value length, value;
    /// the encoding of the whole list is its key in `seen`.
    cur: Vec<u8>,
    pairs: Vec<PairAt>,
    /// The pairs in sorted order, for merging.
    sorted: Vec<u8>,
}

impl LabelSets {
    fn new() -> Self {
        LabelSets {
            seen: SeenSet::new(),
            cur: Vec::new(),
            pairs: Vec::new(),
            sorted: Vec::new(),
        }
    }

    /// Starts a new metric.
    fn begin(&mut self) {
        self.cur.clear();
        self.pairs.clear();
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        let start = self.cur.len();
        push_len(&mut self.cur, name.len());
        let n = self.cur.len();
        self.cur.extend_from_slice(name);
        let n_end = self.cur.len();
        push_len(&mut self.cur, value.len());
        let v = self.cur.len();
        self.cur.extend_from_slice(value);
        self.pairs.push(PairAt {
            start,
            name: (n, n_end),
            value: (v, self.cur.len()),
            end: self.cur.len(),
        });
    }

    fn bytes(&self, (a, b): (usize, usize)) -> &[u8] {
        self.cur.get(a..b).unwrap_or_default()
    }

    fn has_name(&self, name: &[u8]) -> bool {
        self.pairs.iter().any(|p| self.bytes(p.name) == name)
    }

    /// Adds the metric to family `fi`. With `merge` (histograms and
    /// summaries), a metric with the same label set as one before, in any
    /// order, is that metric; otherwise a metric with the same pairs in the
    /// same order is a duplicate.
    fn finish(&mut self, fi: usize, merge: bool, fam: &mut Family) {
        let cur = &self.cur;
        let get = |(a, b): (usize, usize)| cur.get(a..b).unwrap_or_default();
        let key = if merge
            && !self
                .pairs
                .windows(2)
                .all(|w| (get(w[0].name), get(w[0].value)) < (get(w[1].name), get(w[1].value)))
        {
            // Not in order already: the key of a label set is its pairs
            // sorted.
            self.pairs.sort_unstable_by(|x, y| {
                (get(x.name), get(x.value)).cmp(&(get(y.name), get(y.value)))
            });
            self.sorted.clear();
            for p in &self.pairs {
                self.sorted
                    .extend_from_slice(cur.get(p.start..p.end).unwrap_or_default());
            }
            &self.sorted
        } else {
            cur
        };
        let new = self.seen.insert(fi, key);
        if merge && !new {
            return;
        }
        fam.metrics += 1;
        if !new {
            fam.duplicates += 1;
        }
        for p in &self.pairs {
            let name = get(p.name);
            match name {
                b"le" => fam.le_labels += 1,
                b"quantile" => fam.quantile_labels += 1,
                _ => {}
            }
            if camel_case(name) {
                fam.camel_labels += 1;
            }
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

/// A token of the line being read: a range of the input, or of the line
/// buffer where quotes or escapes had to be taken out.
#[derive(Debug, Clone, Copy)]
enum Tok {
    In(usize, usize),
    Buf(usize, usize),
}

fn tok_bytes<'s>(input: &'s [u8], buf: &'s [u8], t: Tok) -> &'s [u8] {
    match t {
        Tok::In(a, b) => input.get(a..b).unwrap_or_default(),
        Tok::Buf(a, b) => buf.get(a..b).unwrap_or_default(),
    }
}

/// Builds a token byte by byte: a range of the input while the bytes kept
/// are contiguous there, a copy at the end of the line buffer once not.
struct Acc {
    start: usize,
    end: usize,
    copied: Option<usize>,
}

impl Acc {
    fn new() -> Self {
        Acc {
            start: 0,
            end: 0,
            copied: None,
        }
    }

    /// Keeps the input byte at `pos`.
    #[inline]
    fn keep(&mut self, input: &[u8], buf: &mut Vec<u8>, pos: usize) {
        match self.copied {
            None if self.start == self.end => {
                self.start = pos;
                self.end = pos + 1;
            }
            None if self.end == pos => self.end += 1,
            _ => {
                let c = input.get(pos).copied().unwrap_or_default();
                self.put(input, buf, c);
            }
        }
    }

    /// Adds `c`, which is not the input byte in its place (an escape).
    fn put(&mut self, input: &[u8], buf: &mut Vec<u8>, c: u8) {
        if self.copied.is_none() {
            self.copied = Some(buf.len());
            buf.extend_from_slice(input.get(self.start..self.end).unwrap_or_default());
        }
        buf.push(c);
    }

    fn tok(&self, buf: &[u8]) -> Tok {
        match self.copied {
            Some(a) => Tok::Buf(a, buf.len()),
            None => Tok::In(self.start, self.end),
        }
    }
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
    by_name: HashMap<Vec<u8>, usize, FastState>,
    /// The last name looked up and what it resolved to (family,
    /// `hist_count`, `hist_sum`): a name always resolves the same way.
    last_name: Vec<u8>,
    last_found: Option<(usize, bool, bool)>,
    family: Option<usize>,
    /// Set by the family lookup for a histogram's `_count` and `_sum`.
    hist_count: bool,
    hist_sum: bool,
    /// Unescaped tokens of the line being read.
    line_buf: Vec<u8>,
    /// The label pairs of the line being read, and the label sets seen.
    sets: LabelSets,
    /// The `le` value of a histogram line, when there is one.
    bucket: Option<f64>,
}

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

/// `q` of bytes, invalid UTF-8 replaced.
fn qb(s: &[u8]) -> String {
    q(&String::from_utf8_lossy(s))
}

/// Go's `strconv.ParseInt(s, 10, 64)` succeeds: an optional sign, then
/// decimal digits that fit an `i64`.
fn parses_as_i64(s: &[u8]) -> bool {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Up to 18 digits always fit; longer ones are checked exactly.
    let significant = digits.iter().skip_while(|&&c| c == b'0').count();
    if significant <= 18 {
        return true;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = i64::from(c - b'0');
        let next = v.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        });
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    true
}

impl<'a> StrictText<'a> {
    fn new(b: &'a [u8]) -> Self {
        StrictText {
            b,
            pos: 0,
            cur: 0,
            families: Vec::new(),
            by_name: HashMap::with_hasher(FastState::new()),
            last_name: Vec::new(),
            last_found: None,
            family: None,
            hist_count: false,
            hist_sum: false,
            line_buf: Vec::new(),
            sets: LabelSets::new(),
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

    /// Resolves the escape `\c` into `acc`: `\\`, `\"` and `\n` are the
    /// only escapes the Go client parser takes.
    #[inline]
    fn put_escape(&mut self, acc: &mut Acc, c: u8) -> Result<(), Stop> {
        let resolved = match c {
            b'\\' | b'"' => c,
            b'n' => b'\n',
            _ => return self.fail(format!("invalid escape sequence '\\{}'", char::from(c))),
        };
        acc.put(self.b, &mut self.line_buf, resolved);
        Ok(())
    }

    /// Keeps the current input byte in `acc`.
    #[inline]
    fn keep_current(&mut self, acc: &mut Acc) {
        let at = self.at();
        acc.keep(self.b, &mut self.line_buf, at);
    }

    #[inline]
    fn read(&mut self) -> Result<u8, Stop> {
        let c = *self.b.get(self.pos).ok_or(Stop::Eof)?;
        self.pos += 1;
        self.cur = c;
        Ok(c)
    }

    /// Moves to the byte at `at`, as if read up to it.
    #[inline]
    fn read_to(&mut self, at: usize) -> Result<(), Stop> {
        let c = *self.b.get(at).ok_or(Stop::Eof)?;
        self.pos = at + 1;
        self.cur = c;
        Ok(())
    }

    /// Where the current byte is.
    #[inline]
    fn at(&self) -> usize {
        self.pos.saturating_sub(1)
    }

    #[inline]
    fn skip_blank(&mut self) -> Result<(), Stop> {
        while blank(self.read()?) {}
        Ok(())
    }

    fn tok(&self, t: Tok) -> &[u8] {
        tok_bytes(self.b, &self.line_buf, t)
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
        self.line_buf.clear();
        self.sets.begin();
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
                if self.tok(name).is_empty() {
                    return self.fail("invalid metric name".into());
                }
                self.set_family(name)?;
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
        let keyword = self.tok(keyword);
        let help = keyword == b"HELP";
        if !help && keyword != b"TYPE" {
            return self.skip_to_newline();
        }
        self.skip_blank()?;
        let name = self.metric_name_token()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        if !blank(self.cur) {
            return self.fail("invalid metric name in comment".into());
        }
        self.set_family(name)?;
        self.skip_blank()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        let Some(idx) = self.family else {
            return Ok(());
        };
        let Some(fam) = self.families.get(idx) else {
            return Ok(());
        };
        if help {
            if fam.help {
                return self.fail(format!("second HELP line for metric name {}", q(&fam.name)));
            }
            self.token_until_newline(true)?;
            if let Some(f) = self.families.get_mut(idx) {
                f.help = true;
            }
        } else {
            if fam.typ.is_some() {
                return self.fail(format!(
                    "second TYPE line for metric name {}, or TYPE reported after samples",
                    q(&fam.name)
                ));
            }
            let text = self.token_until_newline(false)?;
            let text = self.tok(text);
            let t = [
                ("COUNTER", DtoType::Counter),
                ("GAUGE", DtoType::Gauge),
                ("SUMMARY", DtoType::Summary),
                ("UNTYPED", DtoType::Untyped),
                ("HISTOGRAM", DtoType::Histogram),
                ("GAUGE_HISTOGRAM", DtoType::GaugeHistogram),
                ("GAUGEHISTOGRAM", DtoType::GaugeHistogram),
            ]
            .into_iter()
            .find_map(|(s, t)| text.eq_ignore_ascii_case(s.as_bytes()).then_some(t));
            let Some(t) = t else {
                return self.fail(format!("unknown metric type {}", qb(text)));
            };
            if let Some(f) = self.families.get_mut(idx) {
                f.typ = Some(t);
            }
        }
        Ok(())
    }

    /// expfmt's family lookup: the exact name, else the summary or
    /// histogram the `_count`/`_sum`/`_bucket` name belongs to, else a new
    /// family.
    fn set_family(&mut self, name: Tok) -> Result<(), Stop> {
        let name = tok_bytes(self.b, &self.line_buf, name);
        // A name resolves the same way every time: the families a lookup
        // finds keep their types once set, and a name that made a new
        // family finds that family from then on.
        if let Some((i, count, sum)) = self.last_found {
            if self.last_name == name {
                self.family = Some(i);
                self.hist_count = count;
                self.hist_sum = sum;
                return Ok(());
            }
        }
        self.hist_count = false;
        self.hist_sum = false;
        if !legacy_metric_name(name) {
            return self.fail(format!("invalid metric name {}", qb(name)));
        }
        let mut key = std::mem::take(&mut self.last_name);
        key.clear();
        key.extend_from_slice(name);
        let i = self.find_family(&key);
        self.last_name = key;
        self.family = Some(i);
        self.last_found = Some((i, self.hist_count, self.hist_sum));
        Ok(())
    }

    fn find_family(&mut self, name: &[u8]) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let strip = |suffixes: &[&[u8]]| {
            suffixes
                .iter()
                .find_map(|s| name.strip_suffix(*s).filter(|base| !base.is_empty()))
        };
        let typ = |i: usize| self.families.get(i).and_then(|f| f.typ);
        if let Some(base) = strip(&[b"_count", b"_sum"]) {
            if let Some(&i) = self.by_name.get(base) {
                if typ(i) == Some(DtoType::Summary) {
                    return i;
                }
            }
        }
        if let Some(base) = strip(&[b"_count", b"_sum", b"_bucket"]) {
            if let Some(&i) = self.by_name.get(base) {
                if typ(i).is_some_and(DtoType::is_histogram) {
                    self.hist_count = name.ends_with(b"_count");
                    self.hist_sum = name.ends_with(b"_sum");
                    return i;
                }
            }
        }
        let i = self.families.len();
        self.families
            .push(Family::new(String::from_utf8_lossy(name).into_owned()));
        self.by_name.insert(name.to_vec(), i);
        i
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
            let label_tok = self.label_name_token()?;
            if self.tok(label_tok).is_empty() {
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
                            self.set_family(label_tok)?;
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
            let label = self.tok(label_tok);
            if label == b"__name__" {
                return self.fail("label name \"__name__\" is reserved".into());
            }
            if !legacy_label_name(label) {
                return self.fail(format!("invalid label name {}", qb(label)));
            }
            let t = self.family_type();
            let le = label == b"le";
            let special = (t == Some(DtoType::Summary) && label == b"quantile")
                || (t.is_some_and(DtoType::is_histogram) && le);
            if !special && self.sets.has_name(label) {
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
            let value_tok = self.label_value_token()?;
            let value = tok_bytes(self.b, &self.line_buf, value_tok);
            if special {
                let Some(f) = parse_go_float(value) else {
                    let what = if le { "le" } else { "quantile" };
                    return self.fail(format!(
                        "expected float as value for '{what}' label, got {}",
                        qb(value)
                    ));
                };
                if le && !f.is_nan() {
                    self.bucket = Some(f);
                }
            } else {
                let label = tok_bytes(self.b, &self.line_buf, label_tok);
                self.sets.push(label, value);
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
                _ => {
                    let value = self.tok(value_tok);
                    return self.fail(format!("unexpected end of label value {}", qb(value)));
                }
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
        let merge = t == Some(DtoType::Summary) || t.is_some_and(DtoType::is_histogram);
        if let Some(fam) = self.families.get_mut(fi) {
            self.sets.finish(fi, merge, fam);
        }
        let token = self.token_until_blank()?;
        let token = self.tok(token);
        let Some(v) = parse_go_float(token) else {
            return self.fail(format!("expected float as value, got {}", qb(token)));
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
        let ts = self.tok(ts);
        // Go's strconv.ParseInt(ts, 10, 64).
        if !parses_as_i64(ts) {
            return self.fail(format!("expected integer as timestamp, got {}", qb(ts)));
        }
        let rest = self.token_until_newline(false)?;
        let rest = self.tok(rest);
        if !rest.is_empty() {
            return self.fail(format!("spurious string after timestamp: {}", qb(rest)));
        }
        Ok(())
    }

    /// Reads up to the end of the line.
    fn skip_to_newline(&mut self) -> Result<(), Stop> {
        let from = self.at();
        match self
            .b
            .get(from..)
            .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
        {
            Some(k) => self.read_to(from + k),
            None => Err(Stop::Eof),
        }
    }

    /// The bytes from the current one up to a blank or the end of the line.
    fn token_until_blank(&mut self) -> Result<Tok, Stop> {
        let from = self.at();
        if blank(self.cur) || self.cur == b'\n' {
            return Ok(Tok::In(from, from));
        }
        match self
            .b
            .get(self.pos..)
            .and_then(|rest| rest.iter().position(|&c| blank(c) || c == b'\n'))
        {
            Some(k) => {
                let end = self.pos + k;
                self.read_to(end)?;
                Ok(Tok::In(from, end))
            }
            None => Err(Stop::Eof),
        }
    }

    /// The rest of the line from the current byte; with `escapes`, `\\`,
    /// `\n` and `\"` are resolved and other escapes are errors; without,
    /// backslashes are dropped.
    fn token_until_newline(&mut self, escapes: bool) -> Result<Tok, Stop> {
        let from = self.at();
        if let Some(k) = self
            .b
            .get(from..)
            .and_then(|rest| rest.iter().position(|&c| c == b'\n' || c == b'\\'))
        {
            if self.b.get(from + k) == Some(&b'\n') {
                self.read_to(from + k)?;
                return Ok(Tok::In(from, from + k));
            }
        }
        let mut acc = Acc::new();
        let mut escaped = false;
        loop {
            let c = self.cur;
            if escapes && escaped {
                self.put_escape(&mut acc, c)?;
                escaped = false;
            } else {
                match c {
                    b'\n' => return Ok(acc.tok(&self.line_buf)),
                    b'\\' => escaped = true,
                    _ => self.keep_current(&mut acc),
                }
            }
            self.read()?;
        }
    }

    /// A metric name, possibly quoted, starting at the current byte.
    fn metric_name_token(&mut self) -> Result<Tok, Stop> {
        let start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'"' || c == b':';
        let cont = |c: u8, quoted: bool| start(c) || c.is_ascii_digit() || quoted;
        self.name_token(start, cont, scan_name, "metric name")
    }

    /// A label name, possibly quoted, starting at the current byte.
    fn label_name_token(&mut self) -> Result<Tok, Stop> {
        let start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'"';
        let cont = |c: u8, quoted: bool| start(c) || c.is_ascii_digit() || quoted;
        self.name_token(start, cont, scan_label_name, "label name")
    }

    #[inline]
    fn name_token(
        &mut self,
        start: impl Fn(u8) -> bool,
        cont: impl Fn(u8, bool) -> bool,
        plain: fn(&[u8], usize) -> usize,
        what: &str,
    ) -> Result<Tok, Stop> {
        let from = self.at();
        if !start(self.cur) {
            return Ok(Tok::In(from, from));
        }
        // The common case, an unquoted name: the run of name bytes, unless
        // a quote continues it.
        if self.cur != b'"' {
            // `plain` scans what `cont` takes unquoted, but a quote.
            let end = plain(self.b, self.pos);
            if end >= self.b.len() {
                return Err(Stop::Eof);
            }
            if self.b.get(end) != Some(&b'"') {
                self.read_to(end)?;
                return Ok(Tok::In(from, end));
            }
        }
        let mut acc = Acc::new();
        let (mut quoted, mut escaped) = (false, false);
        loop {
            let c = self.cur;
            if escaped {
                self.put_escape(&mut acc, c)?;
                escaped = false;
            } else {
                match c {
                    b'"' => {
                        quoted = !quoted;
                        if !quoted {
                            self.read()?;
                            return Ok(acc.tok(&self.line_buf));
                        }
                    }
                    b'\n' => {
                        let t = self.tok(acc.tok(&self.line_buf));
                        return self.fail(format!("{what} {} contains unescaped new-line", qb(t)));
                    }
                    b'\\' => escaped = true,
                    _ => self.keep_current(&mut acc),
                }
            }
            let c = self.read()?;
            if !cont(c, quoted) {
                return Ok(acc.tok(&self.line_buf));
            }
        }
    }

    /// A label value; the current byte is the opening quote.
    fn label_value_token(&mut self) -> Result<Tok, Stop> {
        let from = self.pos;
        let t = match self.b.get(from..).and_then(|rest| {
            rest.iter()
                .position(|&c| c == b'"' || c == b'\\' || c == b'\n')
        }) {
            Some(k) if self.b.get(from + k) == Some(&b'"') => {
                self.read_to(from + k)?;
                Tok::In(from, from + k)
            }
            _ => self.escaped_label_value()?,
        };
        let value = self.tok(t);
        if !value.is_ascii() && std::str::from_utf8(value).is_err() {
            return self.fail(format!("invalid label value {}", qb(value)));
        }
        Ok(t)
    }

    fn escaped_label_value(&mut self) -> Result<Tok, Stop> {
        let mut acc = Acc::new();
        let mut escaped = false;
        loop {
            let c = self.read()?;
            if escaped {
                self.put_escape(&mut acc, c)?;
                escaped = false;
                continue;
            }
            match c {
                b'"' => return Ok(acc.tok(&self.line_buf)),
                b'\n' => {
                    let t = self.tok(acc.tok(&self.line_buf));
                    return self.fail(format!("label value {} contains unescaped new-line", qb(t)));
                }
                b'\\' => escaped = true,
                _ => self.keep_current(&mut acc),
            }
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
    has_help: bool,
    has_type: bool,
    has_unit: bool,
    /// Another family has started since this one's last line.
    closed: bool,
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
                    has_help: false,
                    has_type: false,
                    has_unit: false,
                    closed: false,
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
    let mut sets = LabelSets::new();
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
                        if f.has_help {
                            return Err(fail(format!(
                                "second HELP line for metric name {}",
                                q(metric)
                            )));
                        }
                        f.has_help = true;
                        // Empty help is no help.
                        f.fam.help = !text.is_empty();
                    }
                    Entry::Type { metric_type, .. } => {
                        if f.has_type || f.fam.metrics > 0 {
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
        sets.begin();
        for l in s.labels().filter(|l| l.name != skip) {
            sets.push(l.name.as_bytes(), l.value.as_bytes());
        }
        sets.finish(i, !skip.is_empty(), &mut f.fam);
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
fn camel_case(s: &[u8]) -> bool {
    s.iter().any(u8::is_ascii_uppercase)
        && s.windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// promlint's findings for `f`, each with how many times it is made.
fn lint_family<'f>(f: &'f Family, out: &mut Vec<(&'f str, String, usize)>) {
    let name = f.name.as_str();
    let typ = f.typ.unwrap_or(DtoType::Untyped);
    let mut push_n = |text: String, n: usize| {
        if n > 0 {
            out.push((name, text, n));
        }
    };
    if !f.help {
        push_n("no help text".into(), 1);
    }
    let mut push = |text: String| push_n(text, 1);
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
        // One finding per label pair, over all metrics.
        if !hist {
            push_n(
                r#"non-histogram metrics should not have "le" label"#.into(),
                f.le_labels,
            );
        }
        if !summary {
            push_n(
                r#"non-summary metrics should not have "quantile" label"#.into(),
                f.quantile_labels,
            );
        }
        let lower = name.to_ascii_lowercase();
        let t = typ.lower_name();
        if lower.contains(&format!("_{t}_")) || lower.ends_with(&format!("_{t}")) {
            push_n(format!("metric name should not include type '{t}'"), 1);
        }
    }
    if name.contains(':') {
        push_n("metric names should not contain ':'".into(), 1);
    }
    if camel_case(name.as_bytes()) {
        push_n(
            "metric names should be written in 'snake_case' not 'camelCase'".into(),
            1,
        );
    }
    push_n(
        "label names should be written in 'snake_case' not 'camelCase'".into(),
        f.camel_labels,
    );
    let lower = name.to_ascii_lowercase();
    for a in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{a}_")) || lower.ends_with(&format!("_{a}")) {
            push_n(
                "metric names should not contain abbreviated units".into(),
                1,
            );
        }
    }
    // promlint reports each metric that has an identical later one: one
    // finding per metric beyond the first of each distinct label set.
    push_n("metric not unique".into(), f.duplicates);
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

    /// "metric not unique" counts metrics whose label pairs, as read (escapes
    /// resolved, quotes and blanks gone), equal an earlier metric's of the
    /// same family, in the same order; histogram and summary lines with the
    /// same labels in any order are one metric.
    #[test]
    fn duplicate_series() {
        let dups = |input: &str| {
            lint(input)
                .iter()
                .filter(|p| p.ends_with("metric not unique"))
                .cloned()
                .collect::<Vec<_>>()
        };
        // Written differently, read the same.
        assert_eq!(
            dups("a{x=\"1\"} 1\na{\"x\"=\"1\"} 2\na{ x = \"1\" , } 3\n{\"a\",x=\"1\"} 4 5\n"),
            ["a metric not unique"; 3]
        );
        assert_eq!(
            dups("a{x=\"p\\\"q\\\\r\\ns\"} 1\na{x=\"p\\\"q\\\\r\\ns\"} 1\na{x=\"p\\\"q\\\\r\\nt\"} 1\n"),
            ["a metric not unique"]
        );
        // Different pairs, order, family or value length: unique.
        assert!(
            dups("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\nb{x=\"1\",y=\"2\"} 1\n").is_empty()
        );
        assert!(dups("a{x=\"1\"} 1\na{x=\"11\"} 1\na{xx=\"1\"} 1\na 1\na{x=\"\"} 1\n").is_empty());
        let long = "v".repeat(300);
        assert!(dups(&format!("a{{x=\"{long}\"}} 1\na{{x=\"{long}v\"}} 1\n")).is_empty());
        assert_eq!(
            dups(&format!("a{{x=\"{long}\"}} 1\na{{x=\"{long}\"}} 1\n")),
            ["a metric not unique"]
        );
        // Label-pair findings count every metric, duplicates included;
        // merged histogram lines count once.
        assert_eq!(
            lint(
                "# HELP h H.\n# TYPE h histogram\nh_bucket{aB=\"1\",z=\"2\",le=\"1\"} 1\n\
                  h_bucket{z=\"2\",le=\"2\",aB=\"1\"} 1\nh_count{aB=\"1\",z=\"2\"} 2\n\
                  h_bucket{aB=\"2\",le=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\n\
                  g{le=\"1\",cD=\"x\"} 1\ng{le=\"1\",cD=\"x\"} 1\n"
            ),
            [
                "g label names should be written in 'snake_case' not 'camelCase'",
                "g label names should be written in 'snake_case' not 'camelCase'",
                "g metric not unique",
                r#"g non-histogram metrics should not have "le" label"#,
                r#"g non-histogram metrics should not have "le" label"#,
                "h label names should be written in 'snake_case' not 'camelCase'",
                "h label names should be written in 'snake_case' not 'camelCase'",
            ]
        );
        assert_eq!(
            lint(
                "# HELP s S.\n# TYPE s summary\ns{quantile=\"0.5\",b=\"1\",a=\"1\"} 1\n\
                  s{a=\"1\",quantile=\"0.9\",b=\"1\"} 1\ns_sum{b=\"1\",a=\"1\"} 1\n\
                  s{a=\"1\",b=\"1\",quantile=\"0.9\"} 1\n"
            ),
            Vec::<String>::new()
        );
        // OpenMetrics goes through the same sets.
        assert_eq!(
            lint("# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n# EOF\n"),
            ["a metric not unique"]
        );
    }

    #[test]
    fn byte_helpers_match_what_they_replace() {
        let mut names: Vec<Vec<u8>> = vec![b"".to_vec(), b"\xc3\xa9".to_vec(), b"a\xff".to_vec()];
        for c in 0..=255u8 {
            names.push(vec![c]);
            names.push(vec![b'a', c]);
            names.push(vec![c, b'a']);
        }
        for n in &names {
            let s = String::from_utf8_lossy(n);
            assert_eq!(
                legacy_metric_name(n),
                is_valid_legacy_metric_name(&s),
                "{n:?}"
            );
            assert_eq!(
                legacy_label_name(n),
                is_valid_legacy_label_name(&s),
                "{n:?}"
            );
        }
        for ts in [
            "0",
            "1",
            "-1",
            "+1",
            "",
            "-",
            "+",
            "+-1",
            "1a",
            " 1",
            "1 ",
            "007",
            "1.0",
            "1e3",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "00000000000000000000009223372036854775807",
            "99999999999999999999",
            "123456789012345678",
            "1234567890123456789",
            "٣",
        ] {
            assert_eq!(
                parses_as_i64(ts.as_bytes()),
                ts.parse::<i64>().is_ok(),
                "{ts:?}"
            );
        }
        for (metric, text) in [("a", "b"), ("", ""), ("m", &*"x".repeat(300))] {
            let p = LintProblem {
                metric: metric.into(),
                text: text.into(),
            };
            assert_eq!(p.to_string(), format!("{metric} {text}"));
        }
    }
}
