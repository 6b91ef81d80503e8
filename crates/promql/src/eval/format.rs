//! Go's float formatting, as Prometheus' messages and labels use it.

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that
/// round trip, never an exponent; `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Decimal digits (no trailing zeros, at least one) and the position of
/// the decimal point, for a finite non-zero `v`, as Go's `decimal` holds
/// them. `precision` is the number of significant digits, or `None` for
/// the shortest representation that round trips.
fn digits(v: f64, precision: Option<usize>) -> (String, i32) {
    let sci = match precision {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

/// Go's `%g` (`precision` `None`) or `%.Ng` for a float.
pub(crate) fn format_g(v: f64, precision: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = v.is_sign_negative();
    let sign = if neg { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let (d, dp) = digits(v, precision.map(|p| p.max(1)));
    let nd = d.len() as i32;
    let shortest = precision.is_none();
    let mut prec = match precision {
        Some(p) => p.max(1) as i32,
        None => nd,
    };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        // %e with prec-1 digits after the point.
        let mut s = String::from(sign);
        s.push_str(&d[..1]);
        let frac = (prec - 1).max(0) as usize;
        if frac > 0 {
            s.push('.');
            for i in 1..=frac {
                s.push(d.as_bytes().get(i).map_or('0', |&b| b as char));
            }
        }
        let esign = if exp < 0 { '-' } else { '+' };
        s.push_str(&format!("e{esign}{:02}", exp.unsigned_abs()));
        return s;
    }
    if prec > dp {
        prec = nd;
    }
    let frac = (prec - dp).max(0) as usize;
    // %f with `frac` digits after the point.
    let mut s = String::from(sign);
    if dp <= 0 {
        s.push('0');
    } else {
        for i in 0..dp as usize {
            s.push(d.as_bytes().get(i).map_or('0', |&b| b as char));
        }
    }
    if frac > 0 {
        s.push('.');
        for i in 0..frac {
            let idx = dp + i as i32;
            let c = if idx < 0 {
                '0'
            } else {
                d.as_bytes().get(idx as usize).map_or('0', |&b| b as char)
            };
            s.push(c);
        }
    }
    s
}

/// Prometheus' `FormatOpenMetricsFloat`: Go's `%g`, with `.0` appended
/// when the result has neither a point nor an exponent.
pub(crate) fn format_openmetrics(v: f64) -> String {
    let s = format_g(v, None);
    if v.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g() {
        assert_eq!(format_g(1.0, None), "1");
        assert_eq!(format_g(-0.5, None), "-0.5");
        assert_eq!(format_g(1e6, None), "1e+06");
        assert_eq!(format_g(123456.0, None), "123456");
        assert_eq!(format_g(1.5e-7, None), "1.5e-07");
        assert_eq!(format_g(0.0001, None), "0.0001");
        assert_eq!(format_g(1.2, None), "1.2");
        assert_eq!(format_g(f64::NAN, None), "NaN");
        assert_eq!(format_g(f64::NEG_INFINITY, None), "-Inf");
        assert_eq!(format_g(0.5, Some(2)), "0.5");
        assert_eq!(format_g(0.123, Some(2)), "0.12");
        assert_eq!(format_g(1234.0, Some(2)), "1.2e+03");
        assert_eq!(format_g(10.0, Some(2)), "10");
        assert_eq!(format_f(1e21), "1000000000000000000000");
        assert_eq!(format_f(f64::INFINITY), "+Inf");
    }
}
