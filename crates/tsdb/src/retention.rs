//! Retention: which blocks are old enough, or too many bytes, to keep.
//!
//! Retention only ever deletes whole blocks, and only decides; the
//! deleting is done by [`BlockStore::reload`](crate::BlockStore::reload)
//! through the same crash-safe path as compaction (rename to
//! `<ULID>.tmp-for-deletion`, then remove). The rules are Prometheus'
//! (`BeyondTimeRetention`, `BeyondSizeRetention` in `tsdb/db.go`):
//!
//! * **Time** (`--storage.tsdb.retention.time`): blocks are ordered by
//!   `maxTime`, newest first. Walking that list from the second block on,
//!   the first block whose `maxTime` lies `retention` or more before the
//!   newest block's `maxTime` is deleted together with every block after
//!   it. The reference point is the newest *block*, not the wall clock or
//!   the head, as in Prometheus 3 (which compares with `>=`; 2.x used `>`).
//! * **Size** (`--storage.tsdb.retention.size`): starting from the bytes
//!   the caller accounts outside blocks (Prometheus counts the WAL and the
//!   head chunk files), block sizes are added newest first; the first block
//!   that takes the total over the limit is deleted with every older block.
//!
//! [`parse_base2_bytes`] reads the size flag as Prometheus does
//! (`units.Base2Bytes`: `B`, `KB`, `MB`, `GB`, `TB`, `PB`, `EB` and their
//! `KiB`, `MiB`, ... spellings, all powers of 1024, so `1KB` is 1024
//! bytes); [`format_base2_bytes`] prints a size back the same way.

use std::collections::BTreeSet;

use ulid::Ulid;

use crate::error::TsdbError;
use crate::meta::BlockMeta;

/// How long and how much to keep. `None` disables a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep blocks whose `maxTime` is less than this many ms before the
    /// newest block's `maxTime`.
    pub time: Option<i64>,
    /// Keep at most this many bytes of blocks (plus the caller's extra
    /// bytes, see [`blocks_beyond_retention`]).
    pub size: Option<u64>,
}

impl RetentionPolicy {
    /// Prometheus' policy from its flag values: a zero or negative time or
    /// size means "not set"; with neither set, time retention defaults to
    /// 15 days.
    pub fn from_flags(time_ms: i64, size_bytes: i64) -> Self {
        let time = (time_ms > 0).then_some(time_ms);
        let size = u64::try_from(size_bytes).ok().filter(|&s| s > 0);
        RetentionPolicy {
            time: if time.is_none() && size.is_none() {
                Some(DEFAULT_RETENTION_MS)
            } else {
                time
            },
            size,
        }
    }
}

/// Prometheus' default time retention: 15 days.
pub const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3_600_000;

/// What retention needs to know of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCandidate {
    /// The block.
    pub ulid: Ulid,
    /// Its `maxTime`.
    pub max_time: i64,
    /// Its bytes on disk.
    pub size: u64,
}

impl RetentionCandidate {
    /// The candidate for a block with this meta and size.
    pub fn new(meta: &BlockMeta, size: u64) -> Self {
        RetentionCandidate {
            ulid: meta.ulid,
            max_time: meta.max_time,
            size,
        }
    }
}

/// Newest first, by `maxTime` (ties by ULID, newest first, so the order is
/// total and the result reproducible).
fn newest_first(blocks: &[RetentionCandidate]) -> Vec<RetentionCandidate> {
    let mut v = blocks.to_vec();
    v.sort_by(|a, b| b.max_time.cmp(&a.max_time).then(b.ulid.cmp(&a.ulid)));
    v
}

/// The blocks that time retention deletes.
pub fn beyond_time_retention(blocks: &[RetentionCandidate], retention_ms: i64) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if retention_ms <= 0 || blocks.is_empty() {
        return out;
    }
    let sorted = newest_first(blocks);
    let newest = sorted[0].max_time;
    if let Some(i) = sorted
        .iter()
        .skip(1)
        .position(|b| newest.saturating_sub(b.max_time) >= retention_ms)
    {
        out.extend(sorted[i + 1..].iter().map(|b| b.ulid));
    }
    out
}

/// The blocks that size retention deletes: with `extra_bytes` (WAL, head
/// chunks) counted first, the newest blocks that fit in `max_bytes` are
/// kept.
pub fn beyond_size_retention(
    blocks: &[RetentionCandidate],
    max_bytes: u64,
    extra_bytes: u64,
) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if max_bytes == 0 || blocks.is_empty() {
        return out;
    }
    let sorted = newest_first(blocks);
    let mut total = extra_bytes;
    for (i, b) in sorted.iter().enumerate() {
        total = total.saturating_add(b.size);
        if total > max_bytes {
            out.extend(sorted[i..].iter().map(|b| b.ulid));
            break;
        }
    }
    out
}

/// Every block `policy` deletes.
pub fn blocks_beyond_retention(
    policy: &RetentionPolicy,
    blocks: &[RetentionCandidate],
    extra_bytes: u64,
) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if let Some(t) = policy.time {
        out.extend(beyond_time_retention(blocks, t));
    }
    if let Some(s) = policy.size {
        out.extend(beyond_size_retention(blocks, s, extra_bytes));
    }
    out
}

/// Parses a byte size as Prometheus' `--storage.tsdb.retention.size`
/// does (Go's `units.ParseBase2Bytes`): an optional sign, then one or
/// more `<number><unit>` terms (`1GB512MB`, `1.5TB`), units `B`, `KB`,
/// `MB`, `GB`, `TB`, `PB`, `EB` or all in the `KiB`, `MiB`, ... form (the
/// two spellings cannot be mixed), every step 1024; a unit is required,
/// except for a bare `0`. Lowercase `kB` is refused. Fractions are
/// truncated to whole bytes; sizes of 8 EiB or more are refused.
pub fn parse_base2_bytes(s: &str) -> Result<i64, TsdbError> {
    parse_units(s, "iB").or_else(|_| parse_units(s, "B"))
}

fn unit_scale(unit: &str, suffix: &str) -> Option<f64> {
    if unit == "B" {
        return Some(1.0);
    }
    let prefix = unit.strip_suffix(suffix)?;
    let exp = match prefix {
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        "E" => 6,
        _ => return None,
    };
    Some(1024f64.powi(exp))
}

fn parse_units(orig: &str, suffix: &str) -> Result<i64, TsdbError> {
    let invalid = || TsdbError::InvalidInput(format!("invalid size {orig:?}"));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let (int, n) = leading_int(s).ok_or_else(invalid)?;
        let pre = n > 0;
        s = &s[n..];
        let mut value = int as f64;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let (frac, n) = leading_int(s).ok_or_else(invalid)?;
            value += frac as f64 / 10f64.powi(n as i32);
            post = n > 0;
            s = &s[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let end = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = std::str::from_utf8(&s[..end]).map_err(|_| invalid())?;
        s = &s[end..];
        let scale = unit_scale(unit, suffix).ok_or_else(|| {
            TsdbError::InvalidInput(format!(
                "invalid size {orig:?}: unknown unit {unit:?} (use B, KB, MB, GB, TB, PB or EB)"
            ))
        })?;
        total += value * scale;
    }
    if neg {
        total = -total;
    }
    // Go lets exactly 2^63 through and then overflows; refuse it.
    if !(-(2f64.powi(63))..2f64.powi(63)).contains(&total) {
        return Err(TsdbError::InvalidInput(format!(
            "invalid size {orig:?}: overflow"
        )));
    }
    Ok(total as i64)
}

/// The decimal integer at the start of `s` and its length in bytes; `None`
/// on overflow (as Go's `leadingInt`).
fn leading_int(s: &[u8]) -> Option<(i64, usize)> {
    let mut x: i64 = 0;
    let mut n = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            break;
        }
        if x >= (i64::MAX - 10) / 10 {
            return None;
        }
        x = x * 10 + i64::from(c - b'0');
        n += 1;
    }
    Some((x, n))
}

/// Formats bytes as Go's `units.Base2Bytes.String()`: one term per
/// non-zero power of 1024, largest first (`1GiB512MiB`, `0B`).
pub fn format_base2_bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    let mut n = n;
    for (i, u) in UNITS.iter().enumerate() {
        if n % 1024 != 0 || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{u}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u128, max_time: i64, size: u64) -> RetentionCandidate {
        RetentionCandidate {
            ulid: Ulid(id),
            max_time,
            size,
        }
    }

    fn ids(s: &BTreeSet<Ulid>) -> Vec<u128> {
        s.iter().map(|u| u.0).collect()
    }

    #[test]
    fn time_retention_counts_from_the_newest_block() {
        let blocks = [c(1, 100, 1), c(2, 200, 1), c(3, 300, 1), c(4, 400, 1)];
        assert!(beyond_time_retention(&blocks, 0).is_empty());
        assert!(beyond_time_retention(&[], 10).is_empty());
        // 400 - 200 = 200 >= 200: blocks 2 and 1 go.
        assert_eq!(ids(&beyond_time_retention(&blocks, 200)), [1, 2]);
        assert_eq!(ids(&beyond_time_retention(&blocks, 201)), [1]);
        assert_eq!(ids(&beyond_time_retention(&blocks, 100)), [1, 2, 3]);
        // The newest block itself is never deleted by time.
        assert_eq!(ids(&beyond_time_retention(&blocks, 1)), [1, 2, 3]);
        assert!(beyond_time_retention(&blocks, 301).is_empty());
        // Input order does not matter.
        let rev: Vec<_> = blocks.iter().rev().copied().collect();
        assert_eq!(ids(&beyond_time_retention(&rev, 200)), [1, 2]);
    }

    #[test]
    fn size_retention_keeps_the_newest_that_fit() {
        let blocks = [c(1, 100, 10), c(2, 200, 10), c(3, 300, 10)];
        assert!(beyond_size_retention(&blocks, 0, 0).is_empty());
        assert!(beyond_size_retention(&blocks, 30, 0).is_empty());
        assert_eq!(ids(&beyond_size_retention(&blocks, 29, 0)), [1]);
        assert_eq!(ids(&beyond_size_retention(&blocks, 20, 0)), [1]);
        assert_eq!(ids(&beyond_size_retention(&blocks, 20, 1)), [1, 2]);
        // Even the newest block goes if the WAL alone fills the budget.
        assert_eq!(ids(&beyond_size_retention(&blocks, 20, 25)), [1, 2, 3]);
        let both = blocks_beyond_retention(
            &RetentionPolicy {
                time: Some(200),
                size: Some(15),
            },
            &blocks,
            0,
        );
        assert_eq!(ids(&both), [1, 2]);
    }

    #[test]
    fn policy_from_flags() {
        assert_eq!(
            RetentionPolicy::from_flags(0, 0),
            RetentionPolicy {
                time: Some(DEFAULT_RETENTION_MS),
                size: None
            }
        );
        assert_eq!(
            RetentionPolicy::from_flags(0, 512),
            RetentionPolicy {
                time: None,
                size: Some(512)
            }
        );
        assert_eq!(
            RetentionPolicy::from_flags(10, -1),
            RetentionPolicy {
                time: Some(10),
                size: None
            }
        );
    }

    #[test]
    fn parses_like_go_units() {
        let ok = [
            ("0", 0),
            ("1B", 1),
            ("1KB", 1024),
            ("1KiB", 1024),
            ("512MB", 512 << 20),
            ("1GB", 1 << 30),
            ("1.5GB", 3 << 29),
            ("2TB", 2 << 40),
            ("1PB", 1 << 50),
            ("1EB", 1 << 60),
            ("1GiB512MiB", (1 << 30) + (512 << 20)),
            ("1GB512MB", (1 << 30) + (512 << 20)),
            ("+1KB", 1024),
            ("-1KB", -1024),
            (".5KB", 512),
            ("1.KB", 1024),
            ("1.0001KB", 1024),
        ];
        for (s, want) in ok {
            assert_eq!(parse_base2_bytes(s).unwrap(), want, "{s}");
        }
        for bad in [
            "",
            "1",
            "10",
            "kB",
            "1kB",
            "1KiB1MB",
            "1 GB",
            "GB",
            ".KB",
            "-",
            "1XB",
            "8EB",
            "1gb",
            "99999999999999999999B",
        ] {
            assert!(parse_base2_bytes(bad).is_err(), "{bad}");
        }
        let e = parse_base2_bytes("1kB").unwrap_err().to_string();
        assert!(e.contains("unknown unit \"kB\""), "{e}");
    }

    #[test]
    fn formats_like_go_units() {
        assert_eq!(format_base2_bytes(0), "0B");
        assert_eq!(format_base2_bytes(1), "1B");
        assert_eq!(format_base2_bytes(1024), "1KiB");
        assert_eq!(format_base2_bytes(1025), "1KiB1B");
        assert_eq!(format_base2_bytes((1 << 30) + (512 << 20)), "1GiB512MiB");
        // As promtool prints sizes with `-r`.
        assert_eq!(format_base2_bytes(130_144), "127KiB96B");
        assert_eq!(format_base2_bytes(1 << 20), "1MiB");
        assert_eq!(format_base2_bytes((1 << 30) + 5), "1GiB5B");
        for s in ["512MB", "1GB512MB", "7EB"] {
            let n = parse_base2_bytes(s).unwrap();
            assert_eq!(parse_base2_bytes(&format_base2_bytes(n)).unwrap(), n);
        }
    }
}
