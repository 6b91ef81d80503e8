//! Tombstones: time ranges deleted from series of a block.
//!
//! The `tombstones` file holds a 4-byte magic `0x0130BA30`, a format
//! version byte (1), then one entry per deleted interval — series
//! reference (uvarint), start and end (varints, both inclusive) — and a
//! CRC32C (big-endian) of the entries, the version byte excluded, as in
//! Prometheus. A block without the file has no tombstones.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::chunk_file::{put_uvarint, read_uvarint};
use crate::error::TsdbError;
use crate::meta::write_file_atomically;

/// Name of the tombstones file inside a block.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Magic number at the start of the tombstones file.
pub const MAGIC_TOMBSTONE: u32 = 0x0130_BA30;
/// The only tombstones format version.
pub const TOMBSTONE_FORMAT_V1: u8 = 1;

/// A closed time interval `[mint, maxt]` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

impl Interval {
    /// The interval `[mint, maxt]`.
    pub fn new(mint: i64, maxt: i64) -> Self {
        Interval { mint, maxt }
    }

    /// Whether `t` is in the interval.
    pub fn contains(&self, t: i64) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// Sorted, non-overlapping, non-adjacent intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Interval>);

impl Intervals {
    /// No intervals.
    pub fn new() -> Self {
        Self::default()
    }

    /// The intervals in order.
    pub fn as_slice(&self) -> &[Interval] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds `n`, merging it with intervals it overlaps or touches (time
    /// is discrete, so `[1,2]` and `[3,4]` merge into `[1,4]`).
    pub fn add(&mut self, n: Interval) {
        if n.mint > n.maxt {
            return;
        }
        let v = &mut self.0;
        // First interval that overlaps or touches n, and the first after.
        let lo = v.partition_point(|iv| iv.maxt < n.mint.saturating_sub(1));
        let hi = lo + v[lo..].partition_point(|iv| iv.mint <= n.maxt.saturating_add(1));
        if lo == hi {
            v.insert(lo, n);
            return;
        }
        let merged = Interval {
            mint: n.mint.min(v[lo].mint),
            maxt: n.maxt.max(v[hi - 1].maxt),
        };
        v.splice(lo..hi, [merged]);
    }

    /// Whether `t` falls in any interval.
    pub fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|iv| iv.maxt < t);
        self.0.get(i).is_some_and(|iv| iv.mint <= t)
    }

    /// Drops the intervals that end before `t` (those still reaching `t`
    /// are kept whole).
    pub fn truncate_before(&mut self, t: i64) {
        let n = self.0.partition_point(|iv| iv.maxt < t);
        self.0.drain(..n);
    }

    /// Whether `[mint, maxt]` lies entirely inside one interval.
    pub fn covers(&self, mint: i64, maxt: i64) -> bool {
        let i = self.0.partition_point(|iv| iv.maxt < mint);
        self.0
            .get(i)
            .is_some_and(|iv| iv.mint <= mint && maxt <= iv.maxt)
    }
}

impl FromIterator<Interval> for Intervals {
    fn from_iter<I: IntoIterator<Item = Interval>>(iter: I) -> Self {
        let mut out = Intervals::new();
        for iv in iter {
            out.add(iv);
        }
        out
    }
}

/// Deleted intervals by series reference (a block's index series ID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u64, Intervals>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `interval` of series `series` deleted.
    pub fn add(&mut self, series: u64, interval: Interval) {
        self.by_series.entry(series).or_default().add(interval);
    }

    /// The deleted intervals of `series` (empty if none).
    pub fn get(&self, series: u64) -> Option<&Intervals> {
        self.by_series.get(&series)
    }

    /// Whether there are no tombstones.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Total number of intervals.
    pub fn total(&self) -> u64 {
        self.by_series.values().map(|v| v.len() as u64).sum()
    }

    /// Series and their intervals, by series reference.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Intervals)> {
        self.by_series.iter().map(|(k, v)| (*k, v))
    }

    /// The file's bytes: magic, version, entries, checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 12 * self.total() as usize);
        out.extend_from_slice(&MAGIC_TOMBSTONE.to_be_bytes());
        out.push(TOMBSTONE_FORMAT_V1);
        for (series, ivs) in self.iter() {
            for iv in ivs.as_slice() {
                put_uvarint(&mut out, series);
                put_varint(&mut out, iv.mint);
                put_varint(&mut out, iv.maxt);
            }
        }
        let crc = crc32c::crc32c(&out[5..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses the file's bytes; `path` is only used in errors.
    pub fn decode(b: &[u8], path: &Path) -> Result<Self, TsdbError> {
        let err = |off: usize, msg: String| TsdbError::corrupted(path, Some(off as u64), msg);
        if b.len() < 9 {
            return Err(err(
                0,
                format!("tombstones file of {} bytes is too short", b.len()),
            ));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_TOMBSTONE {
            return Err(err(0, format!("invalid magic number {magic:x}")));
        }
        let body_end = b.len() - 4;
        let stored = u32::from_be_bytes([
            b[body_end],
            b[body_end + 1],
            b[body_end + 2],
            b[body_end + 3],
        ]);
        let actual = crc32c::crc32c(&b[5..body_end]);
        if stored != actual {
            return Err(err(
                body_end,
                format!("checksum mismatch: stored {stored:08x}, computed {actual:08x}"),
            ));
        }
        if b[4] != TOMBSTONE_FORMAT_V1 {
            return Err(err(4, format!("invalid tombstone format {:x}", b[4])));
        }
        let mut t = Tombstones::new();
        let mut pos = 5;
        while pos < body_end {
            let start = pos;
            let mut next = || -> Option<u64> {
                let (v, n) = read_uvarint(&b[pos..body_end])?;
                pos += n;
                Some(v)
            };
            let entry = (|| Some((next()?, unzigzag(next()?), unzigzag(next()?))))();
            let Some((series, mint, maxt)) = entry else {
                return Err(err(start, "truncated tombstone entry".into()));
            };
            t.add(series, Interval::new(mint, maxt));
        }
        Ok(t)
    }

    /// Reads `<block_dir>/tombstones`; a missing file means none. Also
    /// returns the file's size (0 when missing).
    pub fn read(block_dir: &Path) -> Result<(Self, u64), TsdbError> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        match fs::read(&path) {
            Ok(b) => Ok((Self::decode(&b, &path)?, b.len() as u64)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Tombstones::new(), 0)),
            Err(e) => Err(TsdbError::io(&path, e)),
        }
    }

    /// Writes `<block_dir>/tombstones` atomically; returns its size.
    pub fn write(&self, block_dir: &Path) -> Result<u64, TsdbError> {
        let bytes = self.encode();
        write_file_atomically(&block_dir.join(TOMBSTONES_FILENAME), &bytes)?;
        Ok(bytes.len() as u64)
    }
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn intervals_merge_like_prometheus() {
        let mut v = Intervals::new();
        v.add(Interval::new(10, 20));
        v.add(Interval::new(30, 40));
        assert_eq!(v.len(), 2);
        v.add(Interval::new(21, 29));
        assert_eq!(v.as_slice(), [Interval::new(10, 40)]);
        v.add(Interval::new(0, 5));
        v.add(Interval::new(50, 60));
        v.add(Interval::new(7, 8));
        assert_eq!(v.len(), 4);
        v.add(Interval::new(3, 55));
        assert_eq!(v.as_slice(), [Interval::new(0, 60)]);
        v.add(Interval::new(i64::MIN, i64::MIN));
        v.add(Interval::new(i64::MAX, i64::MAX));
        assert!(v.contains(i64::MIN) && v.contains(i64::MAX) && v.contains(0));
        assert!(!v.contains(61) && !v.contains(-1));
        assert!(v.covers(10, 60) && !v.covers(10, 61));
        v.truncate_before(i64::MIN);
        assert_eq!(v.len(), 3);
        v.truncate_before(0);
        assert_eq!(
            v.as_slice(),
            [Interval::new(0, 60), Interval::new(i64::MAX, i64::MAX)]
        );
        v.truncate_before(61);
        assert_eq!(v.as_slice(), [Interval::new(i64::MAX, i64::MAX)]);
    }

    #[test]
    fn empty_file_is_what_prometheus_writes() {
        let t = Tombstones::new();
        assert_eq!(t.encode(), [0x01, 0x30, 0xBA, 0x30, 1, 0, 0, 0, 0]);
        assert!(Tombstones::decode(&t.encode(), Path::new("t"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn file_roundtrip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Tombstones::read(dir.path()).unwrap(),
            (Tombstones::new(), 0)
        );
        let mut t = Tombstones::new();
        t.add(16, Interval::new(-5, 100));
        t.add(16, Interval::new(200, 300));
        t.add(3, Interval::new(i64::MIN, i64::MAX));
        let n = t.write(dir.path()).unwrap();
        assert_eq!(Tombstones::read(dir.path()).unwrap(), (t.clone(), n));
        assert_eq!(t.total(), 3);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let mut t = Tombstones::new();
        t.add(1, Interval::new(1, 2));
        let good = t.encode();
        let p = Path::new("blk/tombstones");
        let mut bad = good.clone();
        bad[6] ^= 1;
        assert!(Tombstones::decode(&bad, p)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        let mut bad = good.clone();
        bad[0] = 0;
        assert!(Tombstones::decode(&bad, p)
            .unwrap_err()
            .to_string()
            .contains("magic"));
        // A truncated entry with a valid checksum.
        let mut body = vec![1u8, 0x80];
        let crc = crc32c::crc32c(&body[1..]);
        let mut file = MAGIC_TOMBSTONE.to_be_bytes().to_vec();
        file.append(&mut body);
        file.extend_from_slice(&crc.to_be_bytes());
        let e = Tombstones::decode(&file, p).unwrap_err().to_string();
        assert_eq!(e, "blk/tombstones at offset 5: truncated tombstone entry");
    }

    proptest! {
        #[test]
        fn roundtrip(entries in proptest::collection::vec((0u64..50, any::<i64>(), any::<i64>()), 0..30)) {
            let mut t = Tombstones::new();
            for (s, a, b) in entries {
                t.add(s, Interval::new(a.min(b), a.max(b)));
            }
            let back = Tombstones::decode(&t.encode(), Path::new("t")).unwrap();
            prop_assert_eq!(back, t);
        }

        #[test]
        fn intervals_match_a_set(ivs in proptest::collection::vec((0i64..100, 0i64..10), 0..20), probe in 0i64..120) {
            let mut v = Intervals::new();
            for &(a, len) in &ivs {
                v.add(Interval::new(a, a + len));
            }
            let want = ivs.iter().any(|&(a, len)| a <= probe && probe <= a + len);
            prop_assert_eq!(v.contains(probe), want);
            for w in v.as_slice().windows(2) {
                prop_assert!(w[0].maxt + 1 < w[1].mint);
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut file = MAGIC_TOMBSTONE.to_be_bytes().to_vec();
            file.extend_from_slice(&data);
            let _ = Tombstones::decode(&file, Path::new("t"));
            let _ = Tombstones::decode(&data, Path::new("t"));
        }
    }
}
