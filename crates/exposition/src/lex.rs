//! Byte-level scanning shared by the text and OpenMetrics parsers (and the
//! name checks of `check_metrics`): character classes, names, quoted
//! strings, escapes, numbers, label sets, and the `next` step both parsers
//! take. What differs between the formats (blanks, separators, which
//! escapes, what ends a token) stays with each parser or is a parameter
//! here.

use ember_model::MetricType;

use crate::entry::{Entry, Raw};
use crate::error::{error_at, invalid_number, unexpected, ParseError, ParseErrorKind};
use crate::float::{normalize_float_label, parse_go_float};

/// The input, plus a `&str` view of its longest valid UTF-8 prefix, so that
/// names and values can be sliced out as `&str` in O(1) without unsafe code
/// and without validating every token again.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    pub(crate) bytes: &'a [u8],
    text: &'a str,
}

impl<'a> Src<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let text = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        Src { bytes, text }
    }

    /// The bytes `a..b` as text, if they are UTF-8.
    #[inline]
    pub(crate) fn str(&self, a: usize, b: usize) -> Option<&'a str> {
        if b <= self.text.len() {
            self.text.get(a..b)
        } else {
            std::str::from_utf8(self.bytes.get(a..b)?).ok()
        }
    }

    /// `str`, or an invalid-UTF-8 error naming `what`.
    #[inline]
    pub(crate) fn text(
        &self,
        a: usize,
        b: usize,
        what: &'static str,
    ) -> Result<&'a str, ParseError> {
        self.str(a, b)
            .ok_or_else(|| error_at(self.bytes, a, ParseErrorKind::InvalidUtf8(what)))
    }
}

/// A string of the entry being parsed: a slice of the input, or a range of
/// the parser's scratch buffer holding unescaped or normalised text.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Str<'a> {
    In(&'a str),
    Scratch(usize, usize),
}

impl<'a> Str<'a> {
    /// The text, given the scratch buffer the range refers to.
    #[inline]
    pub(crate) fn get<'s>(self, scratch: &'s str) -> &'s str
    where
        'a: 's,
    {
        match self {
            Str::In(s) => s,
            Str::Scratch(a, b) => scratch.get(a..b).unwrap_or_default(),
        }
    }
}

/// A label name/value pair of the entry being parsed.
pub(crate) type Pair<'a> = (Str<'a>, Str<'a>);

/// Per-entry buffers, cleared before each entry and reused.
#[derive(Default)]
pub(crate) struct Bufs<'a> {
    /// Unescaped and normalised strings.
    pub(crate) scratch: String,
    /// The series' labels, in input order, without the metric name.
    pub(crate) labels: Vec<Pair<'a>>,
    /// The exemplar's labels.
    pub(crate) ex_labels: Vec<Pair<'a>>,
    /// The identity of a series for start-timestamp matching (OpenMetrics).
    pub(crate) key: Vec<u8>,
}

impl<'a> Bufs<'a> {
    pub(crate) fn clear(&mut self) {
        self.scratch.clear();
        self.labels.clear();
        self.ex_labels.clear();
        self.key.clear();
    }

    /// A parser for the series' label set, into `labels`; with `want_key`
    /// it also builds the start-timestamp key in `key`.
    #[inline]
    pub(crate) fn series_labels(
        &mut self,
        src: Src<'a>,
        syntax: Syntax,
        mtype: MetricType,
        want_key: bool,
    ) -> LabelParser<'_, 'a> {
        LabelParser {
            src,
            syntax,
            mtype,
            scratch: &mut self.scratch,
            out: &mut self.labels,
            key: want_key.then_some(&mut self.key),
        }
    }

    /// A parser for an OpenMetrics exemplar's label set, into `ex_labels`.
    #[inline]
    pub(crate) fn exemplar_labels(
        &mut self,
        src: Src<'a>,
        mtype: MetricType,
    ) -> LabelParser<'_, 'a> {
        LabelParser {
            src,
            syntax: Syntax::OmExemplar,
            mtype,
            scratch: &mut self.scratch,
            out: &mut self.ex_labels,
            key: None,
        }
    }
}

/// The `next` of both parsers, a lending iterator over entries: runs
/// `parse_entry` and resolves its entry against the parser's buffers.
/// `state` gives the parser's finished flag and buffers; the flag is set at
/// the end of the input and on an error, after which `Ok(None)` is all the
/// parser returns.
#[inline]
pub(crate) fn next_entry<'p, 'a: 'p, P>(
    parser: &'p mut P,
    parse_entry: fn(&mut P) -> Result<Option<Raw<'a>>, ParseError>,
    state: fn(&mut P) -> (&mut bool, &Bufs<'a>),
) -> Result<Option<Entry<'p>>, ParseError> {
    if *state(parser).0 {
        return Ok(None);
    }
    let result = parse_entry(parser);
    let (done, bufs) = state(parser);
    match result {
        Ok(Some(raw)) => Ok(Some(raw.resolve(bufs))),
        Ok(None) => {
            *done = true;
            Ok(None)
        }
        Err(e) => {
            *done = true;
            Err(e)
        }
    }
}

const NAME_START: u8 = 1; // [a-zA-Z_:]
const NAME: u8 = 2; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 4; // [a-zA-Z_]
const LABEL: u8 = 8; // [a-zA-Z0-9_]
const QUOTE_STOP: u8 = 16; // '"', '\\', '\n', NUL
const TEXT_VALUE_STOP: u8 = 32; // '{', ' ', '\t', '\n', NUL
const OM_TOKEN_STOP: u8 = 64; // ' ', '\n', NUL

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b':' {
            v |= NAME_START | NAME;
        }
        if digit {
            v |= NAME | LABEL;
        }
        if alpha {
            v |= LABEL_START | LABEL;
        }
        if matches!(c, b'"' | b'\\' | b'\n' | 0) {
            v |= QUOTE_STOP;
        }
        if matches!(c, b'{' | b' ' | b'\t' | b'\n' | 0) {
            v |= TEXT_VALUE_STOP;
        }
        if matches!(c, b' ' | b'\n' | 0) {
            v |= OM_TOKEN_STOP;
        }
        t[i] = v;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

#[inline]
fn is(c: u8, class: u8) -> bool {
    CLASS[usize::from(c)] & class != 0
}

/// `[a-zA-Z_:]`
#[inline]
pub(crate) fn is_name_start(c: u8) -> bool {
    is(c, NAME_START)
}

/// The end of the run of bytes from `pos` that are not in `class`.
#[inline]
fn scan_until(b: &[u8], mut pos: usize, class: u8) -> usize {
    while let Some(&c) = b.get(pos) {
        if is(c, class) {
            break;
        }
        pos += 1;
    }
    pos
}

/// The end of the run of bytes from `pos` that are in `class`.
#[inline]
fn scan_while(b: &[u8], mut pos: usize, class: u8) -> usize {
    while let Some(&c) = b.get(pos) {
        if !is(c, class) {
            break;
        }
        pos += 1;
    }
    pos
}

/// The end of a legacy metric name starting at `pos` (`[a-zA-Z0-9_:]*`).
#[inline]
pub(crate) fn scan_name(b: &[u8], pos: usize) -> usize {
    scan_while(b, pos, NAME)
}

/// The end of a legacy label name starting at `pos` (`[a-zA-Z0-9_]*`).
#[inline]
pub(crate) fn scan_label_name(b: &[u8], pos: usize) -> usize {
    scan_while(b, pos, LABEL)
}

/// Whether `name` is a legacy metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`
/// (`ember_model::is_valid_legacy_metric_name` of bytes).
#[inline]
pub(crate) fn legacy_metric_name(name: &[u8]) -> bool {
    name.first().is_some_and(|&c| is(c, NAME_START)) && scan_name(name, 1) == name.len()
}

/// Whether `name` is a legacy label name, `[a-zA-Z_][a-zA-Z0-9_]*`
/// (`ember_model::is_valid_legacy_label_name` of bytes).
#[inline]
pub(crate) fn legacy_label_name(name: &[u8]) -> bool {
    name.first().is_some_and(|&c| is(c, LABEL_START)) && scan_label_name(name, 1) == name.len()
}

/// A metric name, its raw range (between the quotes, when quoted) and, for
/// [`metric_name`], where it ends.
pub(crate) type RawName<'a> = (Str<'a>, usize, usize);

/// The legacy metric name at `pos`, whose first byte the caller has checked
/// with [`is_name_start`].
#[inline]
pub(crate) fn bare_metric_name<'a>(src: Src<'a>, pos: usize) -> Result<RawName<'a>, ParseError> {
    let end = scan_name(src.bytes, pos);
    Ok((Str::In(src.text(pos, end, "metric name")?), pos, end))
}

/// The metric name of a HELP, TYPE or UNIT line, at `pos`: quoted (raw
/// newlines allowed, `\\`, `\n` and `\"` resolved into `scratch`) or
/// legacy. Returns the name, its raw range and where it ends; with neither
/// at `pos`, an error saying `expected`.
pub(crate) fn metric_name<'a>(
    src: Src<'a>,
    pos: usize,
    scratch: &mut String,
    expected: &'static str,
) -> Result<(RawName<'a>, usize), ParseError> {
    let b = src.bytes;
    match b.get(pos) {
        Some(b'"') => {
            let e = scan_quoted(b, pos, true, false).map_err(|_| unexpected(b, pos, expected))?;
            let raw = src.text(pos + 1, e - 1, "metric name")?;
            let name = unescape(raw, Escapes::Value, scratch);
            Ok(((name, pos + 1, e - 1), e))
        }
        Some(&c) if is_name_start(c) => {
            let name = bare_metric_name(src, pos)?;
            Ok((name, name.2))
        }
        _ => Err(unexpected(b, pos, expected)),
    }
}

/// The float (Go syntax) in the token `a..e`, or an invalid-number error
/// naming `what`.
#[inline]
pub(crate) fn parse_float(
    b: &[u8],
    a: usize,
    e: usize,
    what: &'static str,
) -> Result<f64, ParseError> {
    parse_go_float(&b[a..e]).ok_or_else(|| invalid_number(b, a, e, what))
}

/// The end of a text-format value token (`[^{ \t\n\0]*`).
#[inline]
pub(crate) fn scan_text_value(b: &[u8], pos: usize) -> usize {
    scan_until(b, pos, TEXT_VALUE_STOP)
}

/// The digits from `pos`.
#[inline]
pub(crate) fn scan_digits(b: &[u8], mut pos: usize) -> usize {
    while b.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    pos
}

/// Skips spaces and tabs.
#[inline]
pub(crate) fn skip_blank(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

/// The index of the newline ending the line that contains `pos`, or the
/// input length.
#[inline]
pub(crate) fn line_end(b: &[u8], pos: usize) -> usize {
    let rest = b.get(pos..).unwrap_or_default();
    // Eight bytes at a time: a byte of `w` is zero where the input has a
    // newline, and the lowest flagged byte of `(w - LO) & !w & HI` is the
    // first zero byte.
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = rest.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word) ^ (LO * u64::from(b'\n'));
        let found = w.wrapping_sub(LO) & !w & HI;
        if found != 0 {
            return pos + offset + (found.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| pos + offset + i)
}

/// The start of the next line, given the end found by [`line_end`].
#[inline]
pub(crate) fn after_line(b: &[u8], eol: usize) -> usize {
    if eol < b.len() {
        eol + 1
    } else {
        eol
    }
}

/// An OpenMetrics token: exactly one space at `pos`, then one or more bytes
/// other than space, newline and NUL. Returns the token's range.
#[inline]
pub(crate) fn om_token(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    let end = scan_until(b, pos + 1, OM_TOKEN_STOP);
    (end > pos + 1).then_some((pos + 1, end))
}

/// Scans a quoted string `"(\\.|[^\\"])*"` whose opening quote is at `pos`
/// and returns the position after the closing quote, or where it failed.
/// `newline_ok` allows raw newlines inside; `nul_ok` allows NUL bytes (the
/// Prometheus lexers accept them in label values only). An escaped newline
/// is never allowed.
pub(crate) fn scan_quoted(
    b: &[u8],
    pos: usize,
    newline_ok: bool,
    nul_ok: bool,
) -> Result<usize, usize> {
    scan_quoted_escapes(b, pos, newline_ok, nul_ok).map(|(end, _)| end)
}

/// [`scan_quoted`], also telling whether the string has a backslash.
pub(crate) fn scan_quoted_escapes(
    b: &[u8],
    pos: usize,
    newline_ok: bool,
    nul_ok: bool,
) -> Result<(usize, bool), usize> {
    let mut i = pos + 1;
    let mut escapes = false;
    loop {
        i = scan_until(b, i, QUOTE_STOP);
        match b.get(i) {
            None => return Err(i),
            Some(b'"') => return Ok((i + 1, escapes)),
            Some(b'\\') => match b.get(i + 1) {
                None | Some(b'\n') => return Err(i + 1),
                Some(0) if !nul_ok => return Err(i + 1),
                Some(_) => {
                    escapes = true;
                    i += 2;
                }
            },
            Some(b'\n') if newline_ok => i += 1,
            Some(0) if nul_ok => i += 1,
            Some(_) => return Err(i),
        }
    }
}

/// Which escapes a string resolves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// `\\` and `\n` (text-format HELP).
    Help,
    /// `\\`, `\n` and `\"` (label values, quoted names, OpenMetrics HELP).
    Value,
}

/// Resolves escapes the way Go's `strings.Replacer` does in Prometheus:
/// known escapes are replaced, any other backslash is kept as it is.
/// Strings without a backslash are returned as borrowed input.
pub(crate) fn unescape<'a>(raw: &'a str, esc: Escapes, scratch: &mut String) -> Str<'a> {
    if !raw.as_bytes().contains(&b'\\') {
        return Str::In(raw);
    }
    let start = scratch.len();
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        scratch.push_str(&rest[..i]);
        let replacement = match rest.as_bytes().get(i + 1) {
            Some(b'\\') => Some('\\'),
            Some(b'n') => Some('\n'),
            Some(b'"') if esc == Escapes::Value => Some('"'),
            _ => None,
        };
        match replacement {
            Some(c) => {
                scratch.push(c);
                rest = &rest[i + 2..];
            }
            None => {
                scratch.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    scratch.push_str(rest);
    Str::Scratch(start, scratch.len())
}

/// The label-set dialects.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Text format: blanks anywhere, optional commas, raw newlines inside
    /// quotes.
    Text,
    /// OpenMetrics series: no blanks, `,` or `}` after every value.
    OmSeries,
    /// OpenMetrics exemplar: as a series, but no quoted metric name and no
    /// newlines in quoted names.
    OmExemplar,
}

/// A metric name found inside braces: its text and the raw (escaped) byte
/// range between the quotes.
pub(crate) type NameInBraces<'a> = Option<RawName<'a>>;

/// State for parsing one label set.
pub(crate) struct LabelParser<'s, 'a> {
    pub(crate) src: Src<'a>,
    pub(crate) syntax: Syntax,
    /// The family type in force, for `le`/`quantile` normalisation and for
    /// leaving them out of the start-timestamp key.
    pub(crate) mtype: MetricType,
    pub(crate) scratch: &'s mut String,
    pub(crate) out: &'s mut Vec<Pair<'a>>,
    /// When set, the raw label names and values (minus `le` for histograms
    /// and `quantile` for summaries) are appended here.
    pub(crate) key: Option<&'s mut Vec<u8>>,
}

impl<'a> LabelParser<'_, 'a> {
    #[inline]
    fn skip(&self, pos: usize) -> usize {
        if self.syntax == Syntax::Text {
            skip_blank(self.src.bytes, pos)
        } else {
            pos
        }
    }

    /// Parses the labels after the `{` at `pos - 1`, through the closing
    /// `}`; returns the position after it. A quoted string followed by `,` or
    /// `}` is the metric name and goes to `name`.
    pub(crate) fn parse(
        &mut self,
        mut pos: usize,
        name: &mut NameInBraces<'a>,
    ) -> Result<usize, ParseError> {
        let b = self.src.bytes;
        let (name_nl, value_nl) = match self.syntax {
            Syntax::Text => (true, true),
            Syntax::OmSeries => (true, false),
            Syntax::OmExemplar => (false, false),
        };
        loop {
            let p = self.skip(pos);
            let (lname, raw_a, raw_b, after, quoted) = match b.get(p) {
                Some(b'}') => return Ok(p + 1),
                Some(&c) if is(c, LABEL_START) => {
                    let e = scan_label_name(b, p + 1);
                    let n = self.src.text(p, e, "label name")?;
                    (Str::In(n), p, e, e, false)
                }
                Some(b'"') => {
                    let e = scan_quoted(b, p, name_nl, false)
                        .map_err(|_| unexpected(b, p, "a label name"))?;
                    let raw = self.src.text(p + 1, e - 1, "label name")?;
                    (
                        unescape(raw, Escapes::Value, self.scratch),
                        p + 1,
                        e - 1,
                        e,
                        true,
                    )
                }
                _ => return Err(unexpected(b, p, "a label name or '}'")),
            };
            let q = self.skip(after);
            if quoted && matches!(b.get(q), Some(b',' | b'}')) {
                if self.syntax == Syntax::OmExemplar {
                    return Err(unexpected(b, q, "'=' after the exemplar label name"));
                }
                if name.is_some() {
                    return Err(error_at(b, p, ParseErrorKind::MetricNameAlreadySet));
                }
                *name = Some((lname, raw_a, raw_b));
                if b.get(q) == Some(&b'}') {
                    return Ok(q + 1);
                }
                pos = q + 1;
                continue;
            }
            if b.get(q) != Some(&b'=') {
                return Err(unexpected(b, q, "'=' after the label name"));
            }
            let v = self.skip(q + 1);
            if b.get(v) != Some(&b'"') {
                return Err(unexpected(b, v, "a quoted label value"));
            }
            let (ve, escapes) = scan_quoted_escapes(b, v, value_nl, true)
                .map_err(|_| unexpected(b, v, "a quoted label value"))?;
            let raw_value = self.src.text(v + 1, ve - 1, "label value")?;
            let mut value = if escapes {
                unescape(raw_value, Escapes::Value, self.scratch)
            } else {
                Str::In(raw_value)
            };
            let special = match self.mtype {
                MetricType::Histogram => lname.get(self.scratch) == "le",
                MetricType::Summary => lname.get(self.scratch) == "quantile",
                _ => false,
            };
            if special && self.syntax != Syntax::OmExemplar {
                value = normalize(value, self.scratch);
            }
            if let Some(key) = self.key.as_deref_mut() {
                if !special {
                    key.extend_from_slice(&b[raw_a..raw_b]);
                    key.push(0xff);
                    key.extend_from_slice(&b[v + 1..ve - 1]);
                    key.push(0xff);
                }
            }
            self.out.push((lname, value));
            let r = self.skip(ve);
            match (self.syntax, b.get(r)) {
                (_, Some(b',')) => pos = r + 1,
                (Syntax::Text, _) | (_, Some(b'}')) => pos = r,
                _ => return Err(unexpected(b, r, "',' or '}' after the label value")),
            }
        }
    }
}

/// Normalises an `le`/`quantile` value into the scratch buffer if needed.
fn normalize<'a>(v: Str<'a>, scratch: &mut String) -> Str<'a> {
    let start = scratch.len();
    let changed = match v {
        Str::In(s) => normalize_float_label(s, scratch),
        Str::Scratch(a, b) => {
            let owned = scratch.get(a..b).unwrap_or_default().to_string();
            normalize_float_label(&owned, scratch)
        }
    };
    if changed {
        Str::Scratch(start, scratch.len())
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        assert_eq!(scan_quoted(br#""abc" x"#, 0, false, false), Ok(5));
        assert_eq!(scan_quoted(br#""a\"c" x"#, 0, false, false), Ok(6));
        assert_eq!(scan_quoted(b"\"a\nb\"", 0, false, false), Err(2));
        assert_eq!(scan_quoted(b"\"a\nb\"", 0, true, false), Ok(5));
        assert_eq!(scan_quoted(b"\"a\\\nb\"", 0, true, false), Err(3));
        assert_eq!(scan_quoted(b"\"a\0\"", 0, true, false), Err(2));
        assert_eq!(scan_quoted(b"\"a\0\"", 0, true, true), Ok(4));
        assert_eq!(scan_quoted(b"\"abc", 0, true, true), Err(4));
        assert_eq!(scan_quoted(b"\"abc\\", 0, true, true), Err(5));
    }

    #[test]
    fn escapes_like_go_replacer() {
        let mut s = String::new();
        let v = unescape(r#"a\\b\nc\"d\xe\"#, Escapes::Value, &mut s);
        assert_eq!(v.get(&s), "a\\b\nc\"d\\xe\\");
        let h = unescape(r#"x\"y\\n"#, Escapes::Help, &mut s);
        assert_eq!(h.get(&s), "x\\\"y\\n");
        assert!(matches!(
            unescape("plain", Escapes::Value, &mut s),
            Str::In("plain")
        ));
    }

    #[test]
    fn src_handles_invalid_utf8_suffix() {
        let src = Src::new(b"ab\xffcd");
        assert_eq!(src.str(0, 2), Some("ab"));
        assert_eq!(src.str(3, 5), Some("cd"));
        assert_eq!(src.str(2, 4), None);
        assert_eq!(line_end(b"ab\ncd", 1), 2);
        assert_eq!(line_end(b"ab\ncd", 3), 5);
        assert_eq!(line_end(b"ab\ncd", 9), 5);
        for n in 0..40 {
            let mut v = vec![b'\x8a'; 40];
            v[n] = b'\n';
            v[39] = b'\n';
            for start in 0..=n {
                assert_eq!(line_end(&v, start), n, "{n} {start}");
            }
            v[n] = b'\x0b';
            assert_eq!(line_end(&v[..39], 0), 39);
        }
        assert_eq!(om_token(b" 12 x", 0), Some((1, 3)));
        assert_eq!(om_token(b"  12", 0), None);
    }
}
