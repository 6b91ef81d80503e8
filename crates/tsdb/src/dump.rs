//! `tsdb dump`: every float sample of the selected series as text, in
//! promtool's format.

use std::io::Write;

use ember_model::Matcher;
use ember_storage::{Querier, ValueType};

use crate::error::TsdbError;
use crate::gofmt::write_g;

/// What a dump wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Series written (those with at least one sample).
    pub series: u64,
    /// Samples written.
    pub samples: u64,
    /// Warnings from the storage (skipped chunks, ...).
    pub warnings: Vec<String>,
}

/// Writes every float sample of the series `matchers` select from `q`, one
/// line per sample, series in label order, as promtool's `tsdb dump`
/// prints them:
///
/// ```text
/// {__name__="up", job="api"} 1 1763769600005
/// ```
///
/// (labels as Prometheus prints them, the value as Go's `%g`, the
/// timestamp in ms). An error reading a series stops the dump.
pub fn dump_samples(
    q: &dyn Querier,
    matchers: &[Matcher],
    out: &mut dyn Write,
) -> Result<DumpStats, TsdbError> {
    let io = |e: std::io::Error| TsdbError::io("<output>", e);
    let mut stats = DumpStats::default();
    let mut set = q.select(true, None, matchers)?;
    let mut line = String::with_capacity(256);
    while let Some(series) = set.next() {
        let series = series?;
        let prefix = series.labels().to_string();
        let mut it = series.iter();
        let mut any = false;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            line.clear();
            line.push_str(&prefix);
            line.push(' ');
            write_g(&mut line, v);
            line.push(' ');
            line.push_str(itoa(t, &mut [0u8; 20]));
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io)?;
            stats.samples += 1;
            any = true;
        }
        if let Some(e) = it.error() {
            return Err(TsdbError::InvalidInput(format!(
                "reading series {prefix}: {e}"
            )));
        }
        if any {
            stats.series += 1;
        }
    }
    stats.warnings = set.warnings();
    out.flush().map_err(io)?;
    Ok(stats)
}

/// Formats an `i64` into `buf` without allocating.
fn itoa(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_matches_display() {
        for v in [0, 1, -1, 1763769600005, i64::MIN, i64::MAX] {
            assert_eq!(itoa(v, &mut [0u8; 20]), v.to_string());
        }
    }
}
