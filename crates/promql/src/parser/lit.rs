//! Literal tokens: numbers, durations and strings, read and written the way
//! Prometheus' lexer and printer (written in Go) read and write them.
//!
//! The scanning functions here follow the Go lexer's character-level rules
//! exactly, because both the token boundaries and the text quoted in error
//! messages depend on them. They are used twice: by the pre-scan in
//! [`super::lex`], which finds lexical errors, and by the AST builder, which
//! turns an accepted token into a value.

use std::fmt::Write as _;

/// What a numeric token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumKind {
    /// A plain number such as `1`, `0x1f`, `1.5e3`.
    Number,
    /// A number followed by units, such as `5m` or `1h30m`.
    Duration,
}

/// Byte-level cursor over the input with Go-lexer semantics: `next` at the
/// end returns `None` and does not advance, `backup` undoes one `next`.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    width: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str, pos: usize) -> Self {
        Cursor { s, pos, width: 0 }
    }

    fn next(&mut self) -> Option<char> {
        match self.s[self.pos..].chars().next() {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn is(&self, valid: &str) -> bool {
        self.peek().is_some_and(|c| valid.contains(c))
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }
}

/// `[A-Za-z0-9_]`, the lexer's notion of an alphanumeric character.
pub(crate) fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_alnum_opt(c: Option<char>) -> bool {
    c.is_some_and(is_alnum)
}

const DEC: &str = "0123456789";
const HEX: &str = "0123456789abcdefABCDEF";

/// Scans a number starting at `pos` (which holds a digit, or a `.` followed
/// by a digit). Returns whether it is a well-formed number and where the scan
/// stopped.
fn scan_number(c: &mut Cursor<'_>) -> bool {
    let initial = c.pos;
    let mut digits = DEC;
    if c.accept("0") && c.accept("xX") {
        c.accept("_");
        digits = HEX;
    }
    c.accept(".");
    c.accept(digits);
    let mut dot = false;
    let mut exp = false;
    let pattern = format!("{digits}._eE");
    while c.is(&pattern) {
        if c.is(".") && dot {
            c.accept(".");
            return false;
        }
        if c.is("eE") && exp {
            c.accept("eE");
            return false;
        }
        if c.accept(".") {
            dot = true;
            if c.accept("_.") {
                return false;
            }
            if digits == HEX {
                return false;
            }
            continue;
        }
        if c.accept("eE") {
            exp = true;
            c.accept("+-");
            if c.accept("._eE") || c.peek().is_none() {
                return false;
            }
            continue;
        }
        if c.accept("_") {
            if c.accept("._eE") || c.peek().is_none() {
                return false;
            }
            continue;
        }
        c.accept_run(digits);
    }
    if c.pos == initial {
        return false;
    }
    !is_alnum_opt(c.peek())
}

/// Accepts the unit part of a duration after the leading number.
fn accept_remaining_duration(c: &mut Cursor<'_>) -> bool {
    if !c.accept("smhdwy") {
        return false;
    }
    c.accept("s");
    while c.accept(DEC) {
        c.accept_run(DEC);
        if !c.accept("smhdw") {
            return false;
        }
        c.accept("s");
    }
    !is_alnum_opt(c.next())
}

/// Scans a number or duration token at byte `start` of `input`. On success
/// returns its kind and end; on failure the lexer's message and the end of
/// the text it looked at.
pub(crate) fn scan_numeric(input: &str, start: usize) -> Result<(NumKind, usize), (String, usize)> {
    let mut c = Cursor::new(input, start);
    if scan_number(&mut c) {
        return Ok((NumKind::Number, c.pos));
    }
    if accept_remaining_duration(&mut c) {
        c.backup();
        return Ok((NumKind::Duration, c.pos));
    }
    Err((
        format!(
            "bad number or duration syntax: {}",
            ember_model::go_quote(&input[start..c.pos])
        ),
        c.pos,
    ))
}

/// Go's `underscoreOK`: underscores only between digits, or between a base
/// prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let ch = b[i];
        i += 1;
        if ch.is_ascii_digit() || (hex && ch.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if ch == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// Go's `strconv.ParseInt(s, 0, 64)` for unsigned input: `None` when the
/// text is not an integer or does not fit.
fn go_parse_int_base0(s: &str) -> Option<i64> {
    let (base, digits) = if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, rest)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let mut n: u64 = 0;
    let mut any = false;
    for ch in digits.chars() {
        if ch == '_' {
            continue;
        }
        let d = ch.to_digit(base)?;
        any = true;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if !any {
        return None;
    }
    i64::try_from(n).ok()
}

/// The value of a number token, as Prometheus computes it: an integer parse
/// (with Go's base prefixes, including the legacy leading-zero octal), then
/// a float parse. Returns Prometheus' message on failure.
pub(crate) fn parse_number(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    if lower == "inf" {
        return Ok(f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    if let Some(n) = go_parse_int_base0(text) {
        return Ok(n as f64);
    }
    let err = |what: &str| {
        format!(
            "error parsing number: strconv.ParseFloat: parsing {}: {what}",
            ember_model::go_quote(text)
        )
    };
    let is_hex = lower.starts_with("0x");
    if is_hex || (text.contains('_') && !underscore_ok(text)) {
        return Err(err("invalid syntax"));
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    if !cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return Err(err("invalid syntax"));
    }
    match cleaned.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(err("value out of range")),
        Ok(v) => Ok(v),
        Err(_) => Err(err("invalid syntax")),
    }
}

const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];

/// The value of a duration token in milliseconds, with Prometheus' messages.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    match ember_model::parse_duration(text) {
        Ok(ms) => Ok(ms),
        Err(ember_model::ModelError::DurationOutOfRange(_)) => Err("duration out of range".into()),
        Err(_) => {
            // Name an unknown unit when there is one, as Prometheus does.
            for unit in text
                .split(|c: char| c.is_ascii_digit())
                .filter(|u| !u.is_empty())
            {
                if !UNITS.contains(&unit) {
                    return Err(format!(
                        "unknown unit {} in duration {}",
                        ember_model::go_quote(unit),
                        ember_model::go_quote(text)
                    ));
                }
            }
            Err(format!(
                "not a valid duration string: {}",
                ember_model::go_quote(text)
            ))
        }
    }
}

/// The longest duration literal Prometheus accepts, in seconds: what fits in
/// a signed 64-bit count of nanoseconds.
pub(crate) const MAX_DURATION_SECONDS: f64 = 9_223_372_036.854_775;

/// Go's `%#U` rendering of a character: `U+0063 'c'`.
fn go_sharp_u(c: char) -> String {
    let mut s = format!("U+{:04X}", c as u32);
    if !c.is_control() {
        let _ = write!(s, " '{c}'");
    }
    s
}

/// Checks one escape sequence starting right after a backslash at byte
/// `pos`; returns the end of the sequence, or the lexer's message.
pub(crate) fn scan_escape(s: &str, pos: usize, quote: char) -> Result<usize, String> {
    let mut c = Cursor::new(s, pos);
    let first = c.next();
    let (mut n, base, max) = match first {
        Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(c.pos),
        Some(q) if q == quote => return Ok(c.pos),
        Some('0'..='7') => {
            c.backup();
            (3, 8, 255)
        }
        Some('x') => (2, 16, 255),
        Some('u') => (4, 16, 0x10FFFF),
        Some('U') => (8, 16, 0x10FFFF),
        None => return Err("escape sequence not terminated".into()),
        Some(other) => return Err(format!("unknown escape sequence {}", go_sharp_u(other))),
    };
    let mut x: u32 = 0;
    while n > 0 {
        let ch = c.next();
        let d = ch.and_then(|ch| ch.to_digit(16)).filter(|&d| d < base);
        match (ch, d) {
            (_, Some(d)) => x = x.saturating_mul(base).saturating_add(d),
            (None, _) => return Err("escape sequence not terminated".into()),
            (Some(ch), None) => {
                return Err(format!(
                    "illegal character {} in escape sequence",
                    go_sharp_u(ch)
                ))
            }
        }
        n -= 1;
    }
    if x > max || (0xD800..0xE000).contains(&x) {
        return Err("escape sequence is an invalid Unicode code point".into());
    }
    Ok(c.pos)
}

/// Decodes a quoted string token (`"..."`, `'...'` or `` `...` ``) into its
/// value, which must be UTF-8.
pub(crate) fn unquote(token: &str) -> Result<String, String> {
    String::from_utf8(unquote_bytes(token)?).map_err(|_| "invalid UTF-8".to_string())
}

/// Decodes a quoted string token into bytes: `\x` and octal escapes
/// produce single bytes, which need not form UTF-8 (as in Go).
pub(crate) fn unquote_bytes(token: &str) -> Result<Vec<u8>, String> {
    let mut chars = token.chars();
    let quote = chars.next().ok_or("invalid syntax")?;
    let inner = token
        .get(quote.len_utf8()..token.len().saturating_sub(1))
        .ok_or("invalid syntax")?;
    if quote == '`' {
        return Ok(inner.as_bytes().to_vec());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(c) = rest.chars().next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = scan_escape(rest, 1, quote)?;
        let body = &rest[1..end];
        rest = &rest[end..];
        let mut it = body.chars();
        let kind = it.next().ok_or("invalid syntax")?;
        let simple = match kind {
            'a' => Some(0x07u8),
            'b' => Some(0x08),
            'f' => Some(0x0C),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0B),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (digits, radix) = match kind {
            '0'..='7' => (body, 8),
            _ => (&body[1..], 16),
        };
        let v = u32::from_str_radix(digits, radix).map_err(|_| "invalid syntax")?;
        if matches!(kind, 'u' | 'U') {
            let ch = char::from_u32(v).ok_or("escape sequence is an invalid Unicode code point")?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(
                u8::try_from(v).map_err(|_| "escape sequence is an invalid Unicode code point")?,
            );
        }
    }
    Ok(out)
}

/// Go's `strconv.Quote` for bytes that may not be UTF-8: invalid bytes are
/// written as `\xNN`.
pub(crate) fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let valid = ember_model::go_quote(chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest digits that round
/// trip, never an exponent; `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Go's `%v` for a float (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest
/// digits, with an exponent when the decimal exponent is below -4 or at
/// least 6 (`1e+06`, `1.5e-07`).
pub(crate) fn format_float_g(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format_float(v);
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.2345e6`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Result<(NumKind, usize), String> {
        scan_numeric(s, 0).map_err(|(m, _)| m)
    }

    #[test]
    fn scanning() {
        assert_eq!(num("1").unwrap(), (NumKind::Number, 1));
        assert_eq!(num("1_000").unwrap(), (NumKind::Number, 5));
        assert_eq!(num("0x_1F").unwrap(), (NumKind::Number, 5));
        assert_eq!(num("1.5e+3 ").unwrap(), (NumKind::Number, 6));
        assert_eq!(num(".5").unwrap(), (NumKind::Number, 2));
        assert_eq!(num("5.").unwrap(), (NumKind::Number, 2));
        assert_eq!(num("5m").unwrap(), (NumKind::Duration, 2));
        assert_eq!(num("1h30m]").unwrap(), (NumKind::Duration, 5));
        assert_eq!(num("10ms").unwrap(), (NumKind::Duration, 4));
        assert_eq!(num("5m:").unwrap(), (NumKind::Duration, 2));
        assert_eq!(
            num("2.5.").unwrap_err(),
            r#"bad number or duration syntax: "2.5.""#
        );
        assert_eq!(
            num("100..4").unwrap_err(),
            r#"bad number or duration syntax: "100..""#
        );
        assert_eq!(
            num("0deadbeef").unwrap_err(),
            r#"bad number or duration syntax: "0de""#
        );
        assert_eq!(
            num("5mm").unwrap_err(),
            r#"bad number or duration syntax: "5mm""#
        );
        assert_eq!(
            num("5m1").unwrap_err(),
            r#"bad number or duration syntax: "5m1""#
        );
        assert!(num("1__0").is_err());
        assert!(num("1_").is_err());
        assert!(num("1_.5").is_err());
        assert!(num("1e").is_err());
        assert!(num("0x1.5").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0xc").unwrap(), 12.0);
        assert_eq!(parse_number("010").unwrap(), 8.0);
        assert_eq!(parse_number("09").unwrap(), 9.0);
        assert_eq!(parse_number("1_000").unwrap(), 1000.0);
        assert_eq!(parse_number("1_000.5").unwrap(), 1000.5);
        assert_eq!(parse_number("5.").unwrap(), 5.0);
        assert_eq!(parse_number("5e-3").unwrap(), 0.005);
        assert!(parse_number("Inf").unwrap().is_infinite());
        assert!(parse_number("nAn").unwrap().is_nan());
        assert_eq!(parse_number("99999999999999999999").unwrap(), 1e20);
        let big = "9".repeat(309);
        assert_eq!(
            parse_number(&big).unwrap_err(),
            format!(
                "error parsing number: strconv.ParseFloat: parsing \"{big}\": value out of range"
            )
        );
        assert!(parse_number("0xffffffffffffffffff")
            .unwrap_err()
            .ends_with("invalid syntax"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(
            parse_duration("5m1h").unwrap_err(),
            r#"not a valid duration string: "5m1h""#
        );
        assert_eq!(
            parse_duration("5y1hs").unwrap_err(),
            r#"unknown unit "hs" in duration "5y1hs""#
        );
    }

    #[test]
    fn strings() {
        assert_eq!(unquote(r#""a\tb\"c""#).unwrap(), "a\tb\"c");
        assert_eq!(unquote(r#"'it\'s "x"'"#).unwrap(), "it's \"x\"");
        assert_eq!(unquote(r"`a\n`").unwrap(), "a\\n");
        assert_eq!(
            unquote(r#""\u70ac \U0001F600 \x41\101""#).unwrap(),
            "炬 😀 AA"
        );
        assert_eq!(unquote(r#""\xc3\xa9""#).unwrap(), "é");
        assert_eq!(unquote(r#""\xff""#).unwrap_err(), "invalid UTF-8");
        assert_eq!(unquote_bytes(r#""a\xc5z""#).unwrap(), b"a\xc5z");
        assert_eq!(quote_bytes(b"a\xc5z\n\xe7\x82\xac"), r#""a\xc5z\n炬""#);
        assert_eq!(
            unquote(r#""\c""#).unwrap_err(),
            "unknown escape sequence U+0063 'c'"
        );
        assert_eq!(
            unquote(r#""\x.""#).unwrap_err(),
            "illegal character U+002E '.' in escape sequence"
        );
        assert_eq!(
            unquote(r#""\ud800""#).unwrap_err(),
            "escape sequence is an invalid Unicode code point"
        );
        assert_eq!(
            unquote(r#""\'""#).unwrap_err(),
            "unknown escape sequence U+0027 '''"
        );
    }

    #[test]
    fn float_formats() {
        assert_eq!(format_float(1e100).len(), 101);
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_g(-23.0), "-23");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1e6), "1e+06");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(1.5e-300), "1.5e-300");
        assert_eq!(format_float_g(f64::NAN), "NaN");
    }
}
