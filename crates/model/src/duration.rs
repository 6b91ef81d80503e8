//! Prometheus duration syntax: `1h30m`, `5m`, `90d`, `2w`, `1y`, `100ms`.

use crate::ModelError;

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration into milliseconds.
///
/// Units must come in descending order, each at most once; `0` alone is
/// accepted. There is no sign and no fraction.
pub fn parse_duration(s: &str) -> Result<i64, ModelError> {
    let invalid = || ModelError::InvalidDuration(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while pos < b.len() {
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos {
            return Err(invalid());
        }
        let digits = &s[start..pos];
        let ustart = pos;
        while pos < b.len() && b[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[ustart..pos];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|i| i + next_unit)
            .ok_or_else(invalid)?;
        next_unit = idx + 1;
        let n: i64 = digits
            .parse()
            .map_err(|_| ModelError::DurationOutOfRange(s.to_string()))?;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| ModelError::DurationOutOfRange(s.to_string()))?;
    }
    Ok(total)
}

/// Formats milliseconds as Prometheus does: `0s` for zero, years and weeks
/// only when they divide evenly, then days down to milliseconds. Negative
/// durations get a leading `-`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        let mult = *mult as u64;
        let exact_only = i < 2;
        if exact_only && !rest.is_multiple_of(mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(unit);
            rest -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("10s53ms").unwrap(), 10_053);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        assert_eq!(parse_duration("0s").unwrap(), 0);
        for bad in [
            "",
            "1",
            "m",
            "1m1h",
            "1m1m",
            "-1m",
            "1.5m",
            "1 m",
            "1mm",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(-300_000), "-5m");
        assert_eq!(format_duration(1_001), "1s1ms");
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(ms in 0i64..i64::MAX / 2) {
            proptest::prop_assert_eq!(parse_duration(&format_duration(ms)).unwrap(), ms);
        }
    }
}
