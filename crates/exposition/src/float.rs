//! Floats the way Go's `strconv` reads and writes them, which is what both
//! exposition formats are defined by in practice.

use std::fmt::Write as _;

/// Prometheus' `value.NormalNaN`: the one NaN a parsed sample carries, so
/// that it is never mistaken for the stale marker.
pub(crate) const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Prometheus' `parseFloat`: Go's `strconv.ParseFloat(s, 64)` without hex
/// floats and `_` separators. `None` on a syntax error and, as in Go, on a
/// finite literal too large for `f64`. NaN comes back as [`NORMAL_NAN_BITS`].
pub(crate) fn parse_go_float(s: &[u8]) -> Option<f64> {
    if let Some(v) = parse_simple_decimal(s) {
        return Some(v);
    }
    if s.iter().any(|&b| matches!(b, b'p' | b'P' | b'_')) {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let (negative, signed, rest) = match s.first() {
        Some(b'-') => (true, true, text.get(1..)?),
        Some(b'+') => (false, true, text.get(1..)?),
        _ => (false, false, text),
    };
    if rest.eq_ignore_ascii_case("nan") {
        // Go takes no sign on NaN.
        return (!signed).then(|| f64::from_bits(NORMAL_NAN_BITS));
    }
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let v: f64 = text.parse().ok()?;
    // Rust rounds overflow to infinity; Go reports a range error.
    (!v.is_infinite()).then_some(v)
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case, exactly: `[-+]digits[.digits][e[-+]digits]` whose
/// digits, read as an integer, are at most 2^53 and whose decimal exponent
/// is within ±22. Then the integer and the power of ten are both exact, and
/// one multiplication or division rounds correctly (Clinger's fast path).
/// `None` means "use the general parser", not "invalid".
#[inline]
fn parse_simple_decimal(s: &[u8]) -> Option<f64> {
    let (negative, mut i) = match s.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut exp: i64 = 0;
    let mut seen_dot = false;
    while let Some(&c) = s.get(i) {
        match c {
            b'0'..=b'9' => {
                // Leading zeros add nothing and cost nothing.
                if mantissa > 0 || c != b'0' {
                    digits += 1;
                    if digits > 18 {
                        return None;
                    }
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                }
                if seen_dot {
                    exp -= 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    let int_and_frac = i - usize::from(negative || s.first() == Some(&b'+'));
    if int_and_frac == usize::from(seen_dot) {
        return None; // no digits at all
    }
    if let Some(&c) = s.get(i) {
        if c != b'e' && c != b'E' {
            return None;
        }
        i += 1;
        let (neg_exp, start) = match s.get(i) {
            Some(b'-') => (true, i + 1),
            Some(b'+') => (false, i + 1),
            _ => (false, i),
        };
        let mut e: i64 = 0;
        let mut j = start;
        while let Some(&d) = s.get(j) {
            if !d.is_ascii_digit() || e > 10_000 {
                return None;
            }
            e = e * 10 + i64::from(d - b'0');
            j += 1;
        }
        if j == start {
            return None;
        }
        exp += if neg_exp { -e } else { e };
    }
    if mantissa > 1 << 53 {
        return None;
    }
    let m = mantissa as f64;
    let v = match exp {
        0 => m,
        1..=22 => m * POW10[exp as usize],
        -22..=-1 => m / POW10[(-exp) as usize],
        _ if mantissa == 0 => 0.0,
        _ => return None,
    };
    Some(if negative { -v } else { v })
}

/// A small stack buffer for `{:e}` output.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `f` as Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest
/// representation that reads back exactly, in exponent form (`1e+06`,
/// `1.5e-05`) when the decimal exponent is below -4 or at least 6.
pub(crate) fn push_go_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let mut sb = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    if write!(sb, "{:e}", f.abs()).is_err() {
        // Cannot happen: a shortest f64 in exponent form is under 30 bytes.
        let _ = write!(out, "{}", f.abs());
        return;
    }
    let s = &sb.buf[..sb.len];
    let e = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    let exp: i32 = std::str::from_utf8(s.get(e + 1..).unwrap_or(b"0"))
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for &c in &s[..e] {
        if c.is_ascii_digit() && nd < digits.len() {
            digits[nd] = c;
            nd += 1;
        }
    }
    let digits = &digits[..nd];
    let push_digits = |out: &mut String, d: &[u8]| {
        for &c in d {
            out.push(char::from(c));
        }
    };
    if !(-4..6).contains(&exp) {
        push_digits(out, &digits[..1]);
        if nd > 1 {
            out.push('.');
            push_digits(out, &digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        let _ = write!(out, "{a}");
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if nd <= int_len {
            push_digits(out, digits);
            for _ in nd..int_len {
                out.push('0');
            }
        } else {
            push_digits(out, &digits[..int_len]);
            out.push('.');
            push_digits(out, &digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        push_digits(out, digits);
    }
}

/// Appends `f` as the Prometheus text format writes sample values (Go
/// client's `writeFloat`): like [`push_go_float`], but zero is always `0`.
pub(crate) fn push_text_float(out: &mut String, f: f64) {
    if f == 0.0 {
        out.push('0');
    } else {
        push_go_float(out, f);
    }
}

/// Appends `f` as OpenMetrics writes floats (Prometheus'
/// `FormatOpenMetricsFloat`): like [`push_go_float`], plus `.0` when the
/// result has neither `.` nor `e`, and zero as `0.0`.
pub(crate) fn push_om_float(out: &mut String, f: f64) {
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    let start = out.len();
    push_go_float(out, f);
    let written = &out[start..];
    if f.is_finite() && !written.contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Whether `v` is already what [`push_om_float`] would print for the
/// number it denotes, decided from the text alone for the common shapes
/// (`0.25`, `1.0`, `+Inf`). `false` means "not sure", not "not canonical".
fn obviously_canonical_om_float(v: &str) -> bool {
    if matches!(v, "+Inf" | "-Inf" | "NaN") {
        return true;
    }
    let (negative, v) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let Some((int, frac)) = v.split_once('.') else {
        return false;
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) || int.len() > 6 {
        return false;
    }
    if int.len() > 1 && int.starts_with('0') {
        return false;
    }
    if frac == "0" {
        // An integer below 1e6, written as OpenMetrics does; but "-0.0"
        // prints as "0.0".
        return !(negative && int == "0");
    }
    if frac.ends_with('0') {
        return false;
    }
    if int == "0" {
        // 0.000ddd: the exponent must stay at or above -4, and the digits
        // must be few enough to be the shortest representation.
        let zeros = frac.bytes().take_while(|&b| b == b'0').count();
        zeros <= 3 && frac.len() - zeros <= 15
    } else {
        int.len() + frac.len() <= 15
    }
}

/// Prometheus 3 normalises `le` and `quantile` label values to the
/// OpenMetrics float format (`1` becomes `1.0`). Appends the normalised
/// form of `v` to `out` and returns true when it differs from `v`; leaves
/// `out` alone when `v` is already canonical or is not a float.
pub(crate) fn normalize_float_label(v: &str, out: &mut String) -> bool {
    if obviously_canonical_om_float(v) {
        return false;
    }
    let Some(f) = parse_go_float(v.as_bytes()) else {
        return false;
    };
    let start = out.len();
    push_om_float(out, f);
    if &out[start..] == v {
        out.truncate(start);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(f: f64) -> String {
        let mut s = String::new();
        push_go_float(&mut s, f);
        s
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(f64, &str)] = &[
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (4.9351e-05, "4.9351e-05"),
            (7.424100000000001e-05, "7.424100000000001e-05"),
            (1.5, "1.5"),
            (100.0, "100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1, "0.1"),
            (1520879607.789, "1.520879607789e+09"),
            (-12345.678, "-12345.678"),
            (1.6624467968e10, "1.6624467968e+10"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(f, want) in cases {
            assert_eq!(g(f), want, "{f:?}");
        }
        let mut s = String::new();
        push_text_float(&mut s, -0.0);
        s.push(' ');
        push_om_float(&mut s, 1.0);
        s.push(' ');
        push_om_float(&mut s, 1e6);
        s.push(' ');
        push_om_float(&mut s, 123456.0);
        s.push(' ');
        push_om_float(&mut s, -0.0);
        s.push(' ');
        push_om_float(&mut s, f64::INFINITY);
        assert_eq!(s, "0 1.0 1e+06 123456.0 0.0 +Inf");
    }

    #[test]
    fn parses_like_go() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("4.9351e-05", 4.9351e-05),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e-400", 0.0),
            ("123456789012345678", 123456789012345678.0),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_go_float(s.as_bytes()), Some(want), "{s}");
        }
        let nan = parse_go_float(b"nan").unwrap();
        assert_eq!(nan.to_bits(), NORMAL_NAN_BITS);
        assert_eq!(parse_go_float(b"NaN").unwrap().to_bits(), NORMAL_NAN_BITS);
        for bad in [
            "", "1_2", "0x1p-3", "0x1P-3", "true", "+nan", "-NaN", "1e400", "1z", "1\t2", "inf1",
            "0x10", ".", "e5",
        ] {
            assert_eq!(parse_go_float(bad.as_bytes()), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_path_is_exact(s in "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?") {
            let want = s.parse::<f64>().ok().filter(|v| v.is_finite());
            if let Some(fast) = parse_simple_decimal(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast.to_bits()), want.map(f64::to_bits), "{}", s);
            }
            proptest::prop_assert_eq!(parse_go_float(s.as_bytes()).map(f64::to_bits), want.map(f64::to_bits), "{}", s);
        }

        #[test]
        fn formats_shortest_round_trip(f in proptest::num::f64::ANY) {
            let mut s = String::new();
            push_go_float(&mut s, f);
            let back = parse_go_float(s.as_bytes()).unwrap_or(0.5);
            proptest::prop_assert!(back.to_bits() == f.to_bits() || (f.is_nan() && back.is_nan()), "{} {}", f, s);
        }
    }

    #[test]
    fn normalises_le_and_quantile() {
        let cases: &[(&str, &str)] = &[
            ("0", "0.0"),
            ("1", "1.0"),
            ("1.0", "1.0"),
            ("0.25", "0.25"),
            ("+Inf", "+Inf"),
            ("inf", "+Inf"),
            ("1.50", "1.5"),
            ("1000000", "1e+06"),
            ("0.00001", "1e-05"),
            ("-0.0", "0.0"),
            ("010", "10.0"),
            ("abc", "abc"),
            ("0.0001", "0.0001"),
            ("10", "10.0"),
        ];
        for &(v, want) in cases {
            let mut out = String::from("x");
            let changed = normalize_float_label(v, &mut out);
            let got = if changed { &out[1..] } else { v };
            assert_eq!(got, want, "{v}");
            assert_eq!(changed, v != want, "{v}");
        }
    }
}
