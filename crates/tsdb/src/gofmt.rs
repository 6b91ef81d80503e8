//! Go's formatting, where promtool's output depends on it: floats as `%g`,
//! `time.Duration` and `time.Time` strings, and `text/tabwriter` columns
//! (`units.Base2Bytes` is [`crate::retention::format_base2_bytes`]).
//! Tools that must print exactly what promtool prints use these.

use std::fmt::Write as _;

/// Formats `v` as Go's `fmt` `%g` does: the shortest digits that
/// round-trip, in exponent form when the decimal exponent is below -4 or
/// at least 6: `1e+06`, `123456`, `0.001`, `1e-05`, `NaN`, `+Inf`, `-Inf`,
/// `-0`.
pub fn format_g(v: f64) -> String {
    let mut out = String::with_capacity(24);
    write_g(&mut out, v);
    out
}

/// Appends `v` formatted as Go's `%g` to `out`.
pub fn write_g(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    if a == 0.0 {
        out.push('0');
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde±x".
    let mut sci = String::with_capacity(32);
    let _ = write!(sci, "{a:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    if !(-4..6).contains(&exp) {
        // d[.ddd]e±xx
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    } else if exp < 0 {
        // 0.000ddd
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// Go's `time.Duration(ns).String()`: `2h0m0s`, `1h59m44.998s`, `1.5ms`,
/// `0s`.
pub fn duration_string(ns: i64) -> String {
    let mut out = String::new();
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    if neg {
        out.push('-');
    }
    const SECOND: u64 = 1_000_000_000;
    if u < SECOND {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            u if u < 1_000 => ("ns", 0),
            u if u < 1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        push_frac(&mut out, u, prec);
        out.push_str(unit);
        return out;
    }
    let secs = u / SECOND;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if secs >= 60 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    let frac = u % SECOND;
    if frac > 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point)
/// dropped.
fn push_frac(out: &mut String, v: u64, prec: u32) {
    let div = 10u64.pow(prec);
    let _ = write!(out, "{}", v / div);
    if prec > 0 && !v.is_multiple_of(div) {
        let f = format!("{:0width$}", v % div, width = prec as usize);
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

/// `time.Unix(secs, 0).UTC().String()`: `2025-11-22 00:00:00 +0000 UTC`.
pub fn utc_time_string(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Lays out rows as Go's `tabwriter.NewWriter(w, minwidth, 0, padding,
/// ' ', 0)` does: each cell but the last of a row is padded with spaces to
/// its column's width (the widest cell plus `padding`, at least
/// `minwidth`); the last cell is written as is. All rows must have the same
/// number of cells.
pub fn tabwrite(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![minwidth; cols.saturating_sub(1)];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols.saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + padding);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(i) {
                if i + 1 < row.len() {
                    for _ in cell.chars().count()..*w {
                        out.push(' ');
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_times() {
        assert_eq!(utc_time_string(1763769600), "2025-11-22 00:00:00 +0000 UTC");
        assert_eq!(utc_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(utc_time_string(-1), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            utc_time_string(951_825_600),
            "2000-02-29 12:00:00 +0000 UTC"
        );
    }

    #[test]
    fn go_g_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (100000.0, "100000"),
            (99999.5, "99999.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (-2.5, "-2.5"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1763769600.005, "1.763769600005e+09"),
            (12.345, "12.345"),
        ];
        for (v, want) in cases {
            assert_eq!(format_g(*v), *want, "{v:?}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(7_200_000_000_000), "2h0m0s");
        assert_eq!(duration_string(7_184_998_000_000), "1h59m44.998s");
        assert_eq!(duration_string(3_585_001_000_000), "59m45.001s");
        assert_eq!(duration_string(45_000_000_000), "45s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(1_000_000), "1ms");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(12), "12ns");
        assert_eq!(duration_string(-61_000_000_000), "-1m1s");
        assert_eq!(duration_string(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn tab_layout() {
        let rows = vec![
            vec!["BLOCK ULID".to_string(), "MIN".into(), "SIZE".into()],
            vec![
                "01M80JGFDHZ7X3GQVJTZ9PTTRF".to_string(),
                "1".into(),
                "130144".into(),
            ],
        ];
        assert_eq!(
            tabwrite(&rows, 13, 2),
            "BLOCK ULID                  MIN          SIZE\n01M80JGFDHZ7X3GQVJTZ9PTTRF  1            130144\n"
        );
    }
}
