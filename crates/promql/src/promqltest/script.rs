//! Parsing `.test` scripts into commands.

use std::sync::Arc;

use ember_model::{
    parse_duration, stale_nan, FloatHistogram, Labels, Sample, Span, Timestamp, Value,
};

use super::TestError;

/// One command of a script.
#[derive(Debug, Clone)]
pub enum Command {
    /// `clear`: start over with an empty storage.
    Clear,
    /// `load <interval>` (or `load_with_nhcb`) and its series.
    Load(Load),
    /// `eval ...` and its expectations.
    Eval(Box<Eval>),
}

/// A `load` block.
#[derive(Debug, Clone)]
pub struct Load {
    /// Line of the command (1-based).
    pub line: usize,
    /// Whether classic histograms are also loaded as custom-bucket native ones.
    pub with_nhcb: bool,
    /// Series in first-appearance order; a later line for the same labels
    /// replaces the earlier one.
    pub series: Vec<(Labels, Vec<Sample>)>,
}

/// What a failing eval must fail with.
#[derive(Debug, Clone, PartialEq)]
pub enum FailExpect {
    /// Any error.
    Any,
    /// Exactly this message.
    Msg(String),
    /// A message matching this regex (unanchored).
    Regex(String),
}

/// A message expectation for warnings or infos.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgExpect {
    /// Exactly this message.
    Msg(String),
    /// A message matching this regex (unanchored).
    Regex(String),
}

/// Expectations on one kind of annotation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationExpect {
    /// `expect warn` / `expect info` without a message: at least one.
    pub any: bool,
    /// Each must match at least one annotation, and every annotation must
    /// match one of them.
    pub msgs: Vec<MsgExpect>,
    /// `expect no_warn` / `expect no_info`.
    pub none: bool,
}

impl AnnotationExpect {
    fn is_set(&self) -> bool {
        self.any || !self.msgs.is_empty() || self.none
    }
}

/// The query an eval runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalKind {
    /// An instant query at a time (ms).
    Instant(Timestamp),
    /// A range query.
    Range {
        /// Start (ms).
        start: Timestamp,
        /// End (ms).
        end: Timestamp,
        /// Step (ms).
        step: i64,
    },
}

/// A value expected at one point.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A float.
    Float(f64),
    /// A native histogram.
    Histogram(Arc<FloatHistogram>),
}

/// An expected series line.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// Line in the file.
    pub line: usize,
    /// Its labels.
    pub labels: Labels,
    /// Values by step; `None` for `_`.
    pub values: Vec<Option<Expected>>,
}

/// An `eval` block.
#[derive(Debug, Clone)]
pub struct Eval {
    /// Line of the command (1-based).
    pub line: usize,
    /// The PromQL expression.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// Expected failure.
    pub fail: Option<FailExpect>,
    /// Expected warnings.
    pub warn: AnnotationExpect,
    /// Expected infos.
    pub info: AnnotationExpect,
    /// Result order matters.
    pub ordered: bool,
    /// An instant query expected to return a range vector over these steps.
    pub range_vector: Option<(Timestamp, Timestamp, i64)>,
    /// An expected string result.
    pub string: Option<String>,
    /// An expected scalar result.
    pub scalar: Option<f64>,
    /// Expected series.
    pub series: Vec<ExpectedSeries>,
    /// Whether an expectation is a native histogram.
    pub expects_histogram: bool,
}

/// Parses a whole script. `parse_labels` turns a series description's
/// selector part (`metric{a="b"}`) into labels.
pub fn parse_script(
    text: &str,
    parse_labels: &dyn Fn(&str) -> Result<Labels, String>,
) -> Result<Vec<Command>, TestError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                ""
            } else {
                t
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if word.starts_with("load") {
            let (cmd, next) = parse_load(&lines, i, parse_labels)?;
            cmds.push(Command::Load(cmd));
            i = next;
        } else if word.starts_with("eval") {
            let (cmd, next) = parse_eval(&lines, i, parse_labels)?;
            cmds.push(Command::Eval(Box::new(cmd)));
            i = next;
        } else {
            return Err(TestError::at(lineno, format!("invalid command {word:?}")));
        }
    }
    Ok(cmds)
}

fn duration(s: &str, line: usize) -> Result<i64, TestError> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let d = parse_duration(body).map_err(|e| TestError::at(line, e.to_string()))?;
    Ok(if neg { -d } else { d })
}

fn parse_load(
    lines: &[&str],
    start: usize,
    parse_labels: &dyn Fn(&str) -> Result<Labels, String>,
) -> Result<(Load, usize), TestError> {
    let lineno = start + 1;
    let mut words = lines[start].split_whitespace();
    let head = words.next().unwrap_or("").to_ascii_lowercase();
    let with_nhcb = match head.as_str() {
        "load" => false,
        "load_with_nhcb" => true,
        _ => {
            return Err(TestError::at(
                lineno,
                format!("invalid load command {head:?}"),
            ))
        }
    };
    let interval = match (words.next(), words.next()) {
        (Some(d), None) => duration(d, lineno)?,
        _ => return Err(TestError::at(lineno, "load needs one interval".to_string())),
    };
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut pending_st: Option<(Labels, Vec<Option<i64>>)> = None;
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let ln = i + 1;
        let (sel, rest) = split_series(lines[i]).map_err(|m| TestError::at(ln, m))?;
        if let Some(sel) = sel.strip_suffix("@st") {
            let labels = parse_labels(sel).map_err(|m| TestError::at(ln, m))?;
            let offsets = parse_st_items(rest).map_err(|m| TestError::at(ln, m))?;
            pending_st = Some((labels, offsets));
            i += 1;
            continue;
        }
        let labels = parse_labels(sel).map_err(|m| TestError::at(ln, m))?;
        let values = parse_values(rest, false).map_err(|m| TestError::at(ln, m))?;
        let st = match pending_st.take() {
            Some((l, offs)) if l == labels => {
                if offs.len() != values.len() {
                    return Err(TestError::at(
                        ln,
                        format!(
                            "@st line has {} items but the series has {}",
                            offs.len(),
                            values.len()
                        ),
                    ));
                }
                Some(offs)
            }
            Some(_) => {
                return Err(TestError::at(
                    ln,
                    "@st line must precede its own series".to_string(),
                ))
            }
            None => None,
        };
        let mut samples = Vec::new();
        for (step, v) in values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let t = (step as i64).saturating_mul(interval);
            let start = st.as_ref().and_then(|o| o[step]).map(|off| t + off);
            let value = match v {
                Expected::Float(f) => Value::Float(f),
                Expected::Histogram(h) => Value::FloatHistogram(h),
            };
            samples.push(Sample { t, value, start });
        }
        match series.iter_mut().find(|(l, _)| *l == labels) {
            Some(entry) => entry.1 = samples,
            None => series.push((labels, samples)),
        }
        i += 1;
    }
    Ok((
        Load {
            line: lineno,
            with_nhcb,
            series,
        },
        i,
    ))
}

/// Splits `metric{a="b"} 1 2 3` into the selector and the values, honouring
/// quotes inside braces.
fn split_series(line: &str) -> Result<(&str, &str), String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' && q != b'`' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b' ' | b'\t' if depth == 0 => break,
                _ => {}
            }
        }
        i += 1;
    }
    if quote.is_some() || depth != 0 {
        return Err(format!("unbalanced series description {line:?}"));
    }
    Ok((&line[..i], line[i..].trim()))
}

/// Splits value items on whitespace, keeping `{{ ... }}` together.
fn items(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        let mut depth = 0;
        while i < b.len() {
            if b[i..].starts_with(b"{{") {
                depth += 1;
                i += 2;
                continue;
            }
            if b[i..].starts_with(b"}}") && depth > 0 {
                depth -= 1;
                i += 2;
                continue;
            }
            if depth == 0 && b[i].is_ascii_whitespace() {
                break;
            }
            i += 1;
        }
        out.push(&s[start..i]);
    }
    out
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts series values.
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if body.is_empty()
                || !body
                    .bytes()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == b'.')
            {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Finds the `+`/`-` separating `a` and `b` in `a+b` (not a leading sign,
/// not an exponent sign).
fn split_increment(s: &str) -> Option<(usize, char)> {
    let b = s.as_bytes();
    (1..b.len()).find_map(|i| {
        let c = b[i];
        if c != b'+' && c != b'-' {
            return None;
        }
        let prev = b[i - 1];
        let exponent = (prev == b'e' || prev == b'E')
            && i >= 2
            && (b[i - 2].is_ascii_digit() || b[i - 2] == b'.');
        (!exponent).then_some((i, c as char))
    })
}

/// Parses the value items of a load or expectation line.
pub fn parse_values(s: &str, _expect: bool) -> Result<Vec<Option<Expected>>, String> {
    let mut out = Vec::new();
    for item in items(s) {
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {item:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if item.eq_ignore_ascii_case("stale") {
            out.push(Some(Expected::Float(stale_nan())));
            continue;
        }
        if item.starts_with("{{") {
            parse_histogram_item(item, &mut out)?;
            continue;
        }
        let (body, times) = match item.rfind('x') {
            Some(p) => {
                let n: usize = item[p + 1..]
                    .parse()
                    .map_err(|_| format!("bad repetition in {item:?}"))?;
                (&item[..p], Some(n))
            }
            None => (item, None),
        };
        match times {
            None => out.push(Some(Expected::Float(
                parse_float(body).ok_or_else(|| format!("bad number {item:?}"))?,
            ))),
            Some(n) => {
                let (start, inc) = match split_increment(body) {
                    Some((p, sign)) => {
                        let a = parse_float(&body[..p])
                            .ok_or_else(|| format!("bad number {item:?}"))?;
                        let b = parse_float(&body[p + 1..])
                            .ok_or_else(|| format!("bad number {item:?}"))?;
                        (a, if sign == '-' { -b } else { b })
                    }
                    None => (
                        parse_float(body).ok_or_else(|| format!("bad number {item:?}"))?,
                        0.0,
                    ),
                };
                // Accumulated, as Prometheus' series parser does.
                let mut k = start;
                for _ in 0..=n {
                    out.push(Some(Expected::Float(k)));
                    k += inc;
                }
            }
        }
    }
    Ok(out)
}

/// Parses start-timestamp offsets: `_`, `_xN`, `<dur>`, `<dur>xN`,
/// `<dur>+<dur>xN`, `<dur>-<dur>xN`; durations may be negative.
fn parse_st_items(s: &str) -> Result<Vec<Option<i64>>, String> {
    let dur = |d: &str| -> Result<i64, String> {
        let (neg, body) = match d.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, d.strip_prefix('+').unwrap_or(d)),
        };
        let v = parse_duration(body).map_err(|e| e.to_string())?;
        Ok(if neg { -v } else { v })
    };
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {item:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let (body, times) = match item.rfind('x') {
            Some(p) => (
                &item[..p],
                Some(
                    item[p + 1..]
                        .parse::<usize>()
                        .map_err(|_| format!("bad repetition {item:?}"))?,
                ),
            ),
            None => (item, None),
        };
        let (a, inc) = match split_increment(body) {
            Some((p, sign)) => {
                let b = dur(&body[p + 1..])?;
                (dur(&body[..p])?, if sign == '-' { -b } else { b })
            }
            None => (dur(body)?, 0),
        };
        match times {
            None => out.push(Some(a)),
            Some(n) => {
                for i in 0..=n as i64 {
                    out.push(Some(a + i * inc));
                }
            }
        }
    }
    Ok(out)
}

fn parse_histogram_item(item: &str, out: &mut Vec<Option<Expected>>) -> Result<(), String> {
    let end = item
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram {item:?}"))?
        + 2;
    let base = parse_histogram(&item[..end])?;
    let rest = &item[end..];
    if rest.is_empty() {
        out.push(Some(Expected::Histogram(Arc::new(base))));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n: usize = n
            .parse()
            .map_err(|_| format!("bad repetition in {item:?}"))?;
        let h = Arc::new(base);
        for _ in 0..=n {
            out.push(Some(Expected::Histogram(h.clone())));
        }
        return Ok(());
    }
    let sign = rest.as_bytes().first().copied();
    let rest = &rest[1..];
    let end2 = rest
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram {item:?}"))?
        + 2;
    let inc = parse_histogram(&rest[..end2])?;
    let n: usize = rest[end2..]
        .strip_prefix('x')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad repetition in {item:?}"))?;
    if base.schema > inc.schema {
        return Err(format!(
            "error combining histograms: cannot merge from schema {} to {}",
            inc.schema, base.schema
        ));
    }
    let mut k = base;
    let neg = sign == Some(b'-');
    for _ in 0..=n {
        out.push(Some(Expected::Histogram(Arc::new(k.clone()))));
        k = super::histogram::add(&k, &inc, neg);
    }
    Ok(())
}

/// Parses `{{schema:0 sum:5 count:4 buckets:[1 2 1] ...}}`.
pub fn parse_histogram(s: &str) -> Result<FloatHistogram, String> {
    let inner = s
        .strip_prefix("{{")
        .and_then(|x| x.strip_suffix("}}"))
        .ok_or_else(|| format!("bad histogram {s:?}"))?;
    let mut h = FloatHistogram::default();
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("bad histogram field in {s:?}"))?;
        let key = rest[..colon].trim();
        rest = rest[colon + 1..].trim_start();
        let value;
        if rest.starts_with('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("unterminated list in {s:?}"))?;
            value = &rest[1..close];
            rest = rest[close + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = &rest[..end];
            rest = rest[end..].trim_start();
        }
        let num = |v: &str| parse_float(v).ok_or_else(|| format!("bad number {v:?} in {s:?}"));
        let list =
            |v: &str| -> Result<Vec<f64>, String> { v.split_whitespace().map(num).collect() };
        match key {
            "schema" => h.schema = num(value)? as i32,
            "sum" => h.sum = num(value)?,
            "count" => h.count = num(value)?,
            "z_bucket" => h.zero_count = num(value)?,
            "z_bucket_w" => h.zero_threshold = num(value)?,
            "buckets" => h.positive_buckets = list(value)?,
            "n_buckets" => h.negative_buckets = list(value)?,
            "offset" => offset = num(value)? as i32,
            "n_offset" => n_offset = num(value)? as i32,
            "custom_values" => h.custom_values = list(value)?,
            "counter_reset_hint" => {
                use ember_model::CounterResetHint as C;
                h.counter_reset_hint = match value {
                    "unknown" => C::Unknown,
                    "reset" => C::CounterReset,
                    "not_reset" => C::NotCounterReset,
                    "gauge" => C::Gauge,
                    _ => return Err(format!("bad counter_reset_hint {value:?}")),
                }
            }
            _ => return Err(format!("unknown histogram field {key:?}")),
        }
    }
    if !h.positive_buckets.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: h.positive_buckets.len() as u32,
        }];
    }
    if !h.negative_buckets.is_empty() {
        h.negative_spans = vec![Span {
            offset: n_offset,
            length: h.negative_buckets.len() as u32,
        }];
    }
    Ok(h)
}

fn parse_eval(
    lines: &[&str],
    start: usize,
    parse_labels: &dyn Fn(&str) -> Result<Labels, String>,
) -> Result<(Eval, usize), TestError> {
    let lineno = start + 1;
    let line = lines[start];
    let err = |m: String| TestError::at(lineno, m);
    let head_end = line.find(char::is_whitespace).unwrap_or(line.len());
    let head = line[..head_end].to_ascii_lowercase();
    let mut ev = Eval {
        line: lineno,
        expr: String::new(),
        kind: EvalKind::Instant(0),
        fail: None,
        warn: AnnotationExpect::default(),
        info: AnnotationExpect::default(),
        ordered: false,
        range_vector: None,
        string: None,
        scalar: None,
        series: Vec::new(),
        expects_histogram: false,
    };
    match head.as_str() {
        "eval" => {}
        "eval_fail" => ev.fail = Some(FailExpect::Any),
        "eval_warn" => ev.warn.any = true,
        "eval_info" => ev.info.any = true,
        "eval_ordered" => ev.ordered = true,
        _ => return Err(err(format!("invalid eval command {head:?}"))),
    }
    let mut rest = line[head_end..].trim_start();
    fn word<'a>(rest: &mut &'a str) -> &'a str {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let w = &rest[..end];
        *rest = rest[end..].trim_start();
        w
    }
    match word(&mut rest) {
        "instant" => {
            if rest.starts_with("at ") || rest.starts_with("at\t") {
                word(&mut rest);
                let t = duration(word(&mut rest), lineno)?;
                ev.kind = EvalKind::Instant(t);
            }
        }
        "range" => {
            let parts = [
                word(&mut rest),
                word(&mut rest),
                word(&mut rest),
                word(&mut rest),
                word(&mut rest),
                word(&mut rest),
            ];
            if parts[0] != "from" || parts[2] != "to" || parts[4] != "step" {
                return Err(err(format!("invalid range eval {line:?}")));
            }
            let s = duration(parts[1], lineno)?;
            let e = duration(parts[3], lineno)?;
            let st = duration(parts[5], lineno)?;
            if e < s {
                return Err(err(
                    "invalid test definition, end timestamp before start timestamp".into(),
                ));
            }
            if ev.ordered {
                return Err(err("ordered is not supported for range queries".into()));
            }
            ev.kind = EvalKind::Range {
                start: s,
                end: e,
                step: st,
            };
        }
        other => return Err(err(format!("invalid eval kind {other:?}"))),
    }
    ev.expr = rest.to_string();
    if ev.expr.is_empty() {
        return Err(err("eval without an expression".into()));
    }

    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let ln = i + 1;
        let l = lines[i];
        let lerr = |m: String| TestError::at(ln, m);
        i += 1;
        if l.split(' ').next() == Some("expect") {
            parse_expect(&mut ev, l["expect".len()..].trim_start()).map_err(lerr)?;
            continue;
        }
        if head == "eval_fail" {
            if let Some(m) = l.strip_prefix("expected_fail_message") {
                ev.fail = Some(FailExpect::Msg(m.trim().to_string()));
                break;
            }
            if let Some(m) = l.strip_prefix("expected_fail_regexp") {
                ev.fail = Some(FailExpect::Regex(m.trim().to_string()));
                break;
            }
        }
        if let Some(v) = parse_number_line(l) {
            ev.scalar = Some(v);
            break;
        }
        let (sel, vals) = split_series(l).map_err(lerr)?;
        let labels = parse_labels(sel).map_err(lerr)?;
        let values = parse_values(vals, true).map_err(lerr)?;
        if values
            .iter()
            .any(|v| matches!(v, Some(Expected::Histogram(_))))
        {
            ev.expects_histogram = true;
        }
        if matches!(ev.kind, EvalKind::Instant(_)) && ev.range_vector.is_none() && values.len() != 1
        {
            return Err(lerr(format!(
                "expected exactly one value for instant query, got {}",
                values.len()
            )));
        }
        ev.series.push(ExpectedSeries {
            line: ln,
            labels,
            values,
        });
    }
    if ev.warn.none && (ev.warn.any || !ev.warn.msgs.is_empty()) {
        return Err(err("cannot expect both warn and no_warn".into()));
    }
    if ev.info.none && (ev.info.any || !ev.info.msgs.is_empty()) {
        return Err(err("cannot expect both info and no_info".into()));
    }
    let _ = ev.warn.is_set();
    Ok((ev, i))
}

/// A line that is a bare number: Go integer parse with base prefix, then
/// float parse.
fn parse_number_line(l: &str) -> Option<f64> {
    let (neg, body) = match l.as_bytes().first() {
        Some(b'-') => (true, &l[1..]),
        Some(b'+') => (false, &l[1..]),
        _ => (false, l),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else {
        None
    };
    if let Some(v) = int {
        let v = v as f64;
        return Some(if neg { -v } else { v });
    }
    parse_float(l)
}

fn msg_expect(kind: &str, rest: &str) -> Result<Option<MsgExpect>, String> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(None);
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        return Ok(Some(MsgExpect::Msg(m.trim().to_string())));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        let r = r.trim().to_string();
        regex::Regex::new(&r).map_err(|e| format!("invalid regex in expect {kind}: {e}"))?;
        return Ok(Some(MsgExpect::Regex(r)));
    }
    Err(format!("invalid expect {kind} line {rest:?}"))
}

fn parse_expect(ev: &mut Eval, rest: &str) -> Result<(), String> {
    let kw_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let kw = &rest[..kw_end];
    let tail = &rest[kw_end..];
    match kw {
        "fail" => {
            if ev.fail.is_some() && ev.fail != Some(FailExpect::Any) {
                return Err("at most one expect fail line".into());
            }
            ev.fail = Some(match msg_expect("fail", tail)? {
                None => FailExpect::Any,
                Some(MsgExpect::Msg(m)) => FailExpect::Msg(m),
                Some(MsgExpect::Regex(r)) => FailExpect::Regex(r),
            });
        }
        "warn" => match msg_expect("warn", tail)? {
            None => ev.warn.any = true,
            Some(m) => ev.warn.msgs.push(m),
        },
        "info" => match msg_expect("info", tail)? {
            None => ev.info.any = true,
            Some(m) => ev.info.msgs.push(m),
        },
        "no_warn" => ev.warn.none = true,
        "no_info" => ev.info.none = true,
        "ordered" => {
            if !matches!(ev.kind, EvalKind::Instant(_)) {
                return Err("expect ordered is only for instant queries".into());
            }
            ev.ordered = true;
        }
        "range" => {
            let w: Vec<&str> = tail.split_whitespace().collect();
            if w.len() != 7 || w[0] != "vector" || w[1] != "from" || w[3] != "to" || w[5] != "step"
            {
                return Err(format!("invalid expect range line {rest:?}"));
            }
            let d =
                |s: &str| -> Result<i64, String> { parse_duration(s).map_err(|e| e.to_string()) };
            ev.range_vector = Some((d(w[2])?, d(w[4])?, d(w[6])?));
        }
        "string" => {
            let s = tail.trim();
            ev.string = Some(unquote_go(s).ok_or_else(|| format!("invalid expect string {s:?}"))?);
        }
        _ => return Err(format!("invalid expect line {rest:?}")),
    }
    Ok(())
}

/// Unquotes a Go string literal (`"..."` with escapes, or `` `...` ``).
fn unquote_go(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|x| x.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(s: &str) -> Vec<Option<f64>> {
        parse_values(s, false)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Some(Expected::Float(f)) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn value_items() {
        assert_eq!(vals("1 _ 2"), [Some(1.0), None, Some(2.0)]);
        assert_eq!(vals("0+10x2"), [Some(0.0), Some(10.0), Some(20.0)]);
        assert_eq!(vals("5-1x2"), [Some(5.0), Some(4.0), Some(3.0)]);
        assert_eq!(vals("-1+1x1"), [Some(-1.0), Some(0.0)]);
        assert_eq!(vals("1e-3+1e-3x1"), [Some(0.001), Some(0.002)]);
        assert_eq!(vals("7x2"), [Some(7.0); 3]);
        assert_eq!(vals("_x3 1"), [None, None, None, Some(1.0)]);
        assert_eq!(
            vals("-Inf +Inf"),
            [Some(f64::NEG_INFINITY), Some(f64::INFINITY)]
        );
        assert!(vals("NaN")[0].unwrap().is_nan());
        assert!(ember_model::is_stale_nan(vals("stale")[0].unwrap()));
    }

    #[test]
    fn histograms() {
        let v = parse_values("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x1 _", false).unwrap();
        assert_eq!(v.len(), 3);
        let Some(Expected::Histogram(h)) = &v[0] else {
            panic!()
        };
        assert_eq!(h.positive_buckets, [1.0, 2.0, 1.0]);
        let v = parse_values("{{count:1 buckets:[1]}}+{{count:2 buckets:[2]}}x2", false).unwrap();
        let Some(Expected::Histogram(h)) = &v[2] else {
            panic!()
        };
        assert_eq!((h.count, h.positive_buckets.clone()), (5.0, vec![5.0]));
    }

    #[test]
    fn st_items() {
        assert_eq!(
            parse_st_items("_ _ -30s-1mx2 -0msx1").unwrap(),
            [
                None,
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(0),
                Some(0)
            ]
        );
    }

    #[test]
    fn split() {
        assert_eq!(
            split_series("m{a=\"} x\"} 1 2").unwrap(),
            ("m{a=\"} x\"}", "1 2")
        );
        assert_eq!(split_series("m 1").unwrap(), ("m", "1"));
        assert_eq!(parse_number_line("0x10"), Some(16.0));
        assert_eq!(parse_number_line("{} 1"), None);
    }
}
