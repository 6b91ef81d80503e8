//! `meta.json`: a block's identity, time range, statistics and lineage.
//!
//! The JSON is byte-for-byte what Prometheus 2.x writes: fields in
//! Prometheus' order, tab-indented, zero statistics and empty lists left
//! out, no trailing newline. Reading accepts any field order, ignores
//! unknown fields, and refuses versions other than 1.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use crate::error::{IoContext, TsdbError};

/// The name of the meta file inside a block.
pub const META_FILENAME: &str = "meta.json";
/// The only meta format version.
pub const META_VERSION_1: u32 = 1;

/// Describes a block: `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// The block's unique id, also its directory name.
    #[serde(with = "ulid_string")]
    pub ulid: Ulid,
    /// Start of the block's time range (ms, inclusive).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// End of the block's time range (ms, exclusive).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// What the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// How the block was made.
    #[serde(default)]
    pub compaction: BlockMetaCompaction,
    /// Format version, 1.
    pub version: u32,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// Counts of what a block holds. Zero counts are not written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Samples of all kinds.
    #[serde(rename = "numSamples", default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples (written by Prometheus 3; Ember leaves it 0, as 2.x).
    #[serde(rename = "numFloatSamples", default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Native histogram samples (Prometheus 3).
    #[serde(
        rename = "numHistogramSamples",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub num_histogram_samples: u64,
    /// Series.
    #[serde(rename = "numSeries", default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks.
    #[serde(rename = "numChunks", default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Tombstone intervals.
    #[serde(rename = "numTombstones", default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A block's compaction history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMetaCompaction {
    /// Compaction level: 1 for a block written from a head or a backfill.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ulid_list::serialize",
        deserialize_with = "ulid_list::deserialize"
    )]
    pub sources: Vec<Ulid>,
    /// Compaction found the block empty; it is deleted on the next reload.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks this block was compacted from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// A compaction of this block failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Notes such as `from-out-of-order`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// A block named in another block's lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDesc {
    /// The block's id.
    #[serde(with = "ulid_string")]
    pub ulid: Ulid,
    /// Its time range start (ms).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// Its time range end (ms, exclusive).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

mod ulid_string {
    use super::*;

    pub fn serialize<S: Serializer>(u: &Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&u.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = String::deserialize(d)?;
        Ulid::from_string(&s).map_err(|e| serde::de::Error::custom(format!("ulid {s:?}: {e}")))
    }
}

mod ulid_list {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Ulid], s: S) -> Result<S::Ok, S::Error> {
        let strings: Vec<String> = v.iter().map(Ulid::to_string).collect();
        strings.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ulid>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        v.iter()
            .map(|s| {
                Ulid::from_string(s)
                    .map_err(|e| serde::de::Error::custom(format!("ulid {s:?}: {e}")))
            })
            .collect()
    }
}

impl BlockMeta {
    /// A level-1 meta for a new block covering `[min_time, max_time)`,
    /// its own only source, as a head compaction or backfill creates.
    pub fn new_level1(ulid: Ulid, min_time: i64, max_time: i64, stats: BlockStats) -> Self {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats,
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec![ulid],
                ..Default::default()
            },
            version: META_VERSION_1,
        }
    }

    /// The JSON Prometheus writes for this meta.
    pub fn to_json(&self) -> Result<Vec<u8>, TsdbError> {
        let mut out = Vec::with_capacity(512);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser)
            .map_err(|e| TsdbError::InvalidInput(format!("encode meta.json: {e}")))?;
        Ok(out)
    }

    /// Parses `meta.json` bytes; `path` is only used in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, TsdbError> {
        let meta: BlockMeta = serde_json::from_slice(bytes).map_err(|e| TsdbError::Meta {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if meta.version != META_VERSION_1 {
            return Err(TsdbError::Meta {
                path: path.to_path_buf(),
                message: format!("unexpected meta file version {}", meta.version),
            });
        }
        Ok(meta)
    }

    /// Reads `<block_dir>/meta.json`; also returns its size in bytes.
    pub fn read(block_dir: &Path) -> Result<(Self, u64), TsdbError> {
        let path = block_dir.join(META_FILENAME);
        let bytes = fs::read(&path).at(&path)?;
        Ok((Self::from_json(&bytes, &path)?, bytes.len() as u64))
    }

    /// Writes `<block_dir>/meta.json` atomically (through `meta.json.tmp`,
    /// synced, then renamed); returns the bytes written.
    pub fn write(&self, block_dir: &Path) -> Result<u64, TsdbError> {
        let json = self.to_json()?;
        let path = block_dir.join(META_FILENAME);
        write_file_atomically(&path, &json)?;
        Ok(json.len() as u64)
    }

    /// Whether the block's range `[min_time, max_time)` has any point in
    /// the closed interval `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint < self.max_time
    }
}

/// Writes `data` to `path` through `<path>.tmp`: write, fsync, rename.
/// The temporary file is removed on failure.
pub(crate) fn write_file_atomically(path: &Path, data: &[u8]) -> Result<(), TsdbError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let res = (|| {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(data).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        drop(f);
        fs::rename(&tmp, path).at(path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_META: &str = "{\n\t\"ulid\": \"01JDX3Z6M9S6J4W2Q8F0K3V7ZC\",\n\t\"minTime\": 1763769600003,\n\t\"maxTime\": 1763776799010,\n\t\"stats\": {\n\t\t\"numSamples\": 1440,\n\t\t\"numSeries\": 3,\n\t\t\"numChunks\": 12\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01JDX3Z6M9S6J4W2Q8F0K3V7ZC\"\n\t\t]\n\t},\n\t\"version\": 1\n}";

    #[test]
    fn writes_what_prometheus_writes() {
        let id = Ulid::from_string("01JDX3Z6M9S6J4W2Q8F0K3V7ZC").unwrap();
        let meta = BlockMeta::new_level1(
            id,
            1763769600003,
            1763776799010,
            BlockStats {
                num_samples: 1440,
                num_series: 3,
                num_chunks: 12,
                ..Default::default()
            },
        );
        assert_eq!(
            String::from_utf8(meta.to_json().unwrap()).unwrap(),
            PROMETHEUS_META
        );
        let back = BlockMeta::from_json(PROMETHEUS_META.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn reads_prometheus_3_and_lineage() {
        let json = r#"{"ulid":"01JDX3Z6M9S6J4W2Q8F0K3V7ZC","minTime":0,"maxTime":10,
            "stats":{"numSamples":5,"numFloatSamples":5,"numSeries":1,"numChunks":1,"numTombstones":2},
            "compaction":{"level":2,"sources":["01JDX3Z6M9S6J4W2Q8F0K3V7ZC"],
              "parents":[{"ulid":"01JDX3Z6M9S6J4W2Q8F0K3V7ZC","minTime":0,"maxTime":10}],
              "hints":["from-out-of-order"],"deletable":true},
            "version":1,"extra":"ignored"}"#;
        let m = BlockMeta::from_json(json.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(m.stats.num_float_samples, 5);
        assert_eq!(m.stats.num_tombstones, 2);
        assert_eq!(m.compaction.parents.len(), 1);
        assert!(m.compaction.deletable);
        let again = BlockMeta::from_json(&m.to_json().unwrap(), Path::new("m")).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn rejects_bad_meta() {
        let e = BlockMeta::from_json(
            br#"{"ulid":"01JDX3Z6M9S6J4W2Q8F0K3V7ZC","minTime":0,"maxTime":1,"version":2}"#,
            Path::new("b/meta.json"),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "b/meta.json: unexpected meta file version 2");
        let e = BlockMeta::from_json(
            br#"{"ulid":"nope","minTime":0,"maxTime":1,"version":1}"#,
            Path::new("m"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ulid \"nope\""), "{e}");
        assert!(BlockMeta::from_json(b"{", Path::new("m")).is_err());
    }

    #[test]
    fn write_and_read_file() {
        let dir = tempfile::tempdir().unwrap();
        let meta = BlockMeta::new_level1(Ulid::new(), 0, 1, BlockStats::default());
        let n = meta.write(dir.path()).unwrap();
        let (back, size) = BlockMeta::read(dir.path()).unwrap();
        assert_eq!((back, size), (meta, n));
        assert!(!dir.path().join("meta.json.tmp").exists());
        let json = String::from_utf8(std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
        assert!(json.contains("\"stats\": {},"), "{json}");
    }
}
