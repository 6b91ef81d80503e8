//! WAL record payloads: the types the head logs and replays, and their
//! encoding, bit-compatible with Prometheus' `tsdb/record` package.
//!
//! A record is one byte string handed to [`Wal::log`](super::Wal::log);
//! its first byte is the [`RecordType`]. Every record holds a batch of
//! entries of one kind, each tied to a head series by its reference (a
//! `u64`, Prometheus' `HeadSeriesRef`):
//!
//! | type | record | entries | encoder |
//! |---|---|---|---|
//! | 1 | Series | [`RefSeries`]: ref (8 bytes BE), labels | [`encode_series`] |
//! | 2 | Samples | [`RefSample`]: base ref and time (8 bytes BE each), then per sample Δref, Δt (varints) and the f64 bits (8 bytes BE) | [`encode_samples`] |
//! | 3 | Tombstones | [`RefTombstone`]: ref (8 bytes BE), mint, maxt (varints), one entry per interval | [`encode_tombstones`] |
//! | 4 | Exemplars | [`RefExemplar`]: like samples, plus the exemplar's labels | [`encode_exemplars`] |
//! | 5 | MmapMarkers | [`RefMmapMarker`]: ref, chunk-disk-mapper ref (8 bytes BE each); WBL only | [`encode_mmap_markers`] |
//! | 6 | Metadata | [`RefMetadata`]: ref (uvarint), type byte, field count, then `UNIT`/`HELP` name/value pairs | [`encode_metadata`] |
//! | 7 | HistogramSamples | [`RefHistogramSample`], exponential schemas | [`encode_histogram_samples`] |
//! | 8 | FloatHistogramSamples | [`RefFloatHistogramSample`], exponential schemas | [`encode_float_histogram_samples`] |
//! | 9 | CustomBucketsHistogramSamples | as 7, custom-bucket schema (NHCB) | [`encode_custom_buckets_histogram_samples`] |
//! | 10 | CustomBucketsFloatHistogramSamples | as 8, custom-bucket schema | [`encode_custom_buckets_float_histogram_samples`] |
//! | 11 | SamplesV2 | samples with start timestamps (Prometheus main only) | [`encode_samples_v2`] |
//! | 12 | HistogramSamplesV2 | histograms with start timestamps (main only) | — |
//! | 13 | FloatHistogramSamplesV2 | float histograms with start timestamps (main only) | — |
//!
//! Labels are a uvarint count then uvarint-length-prefixed names and
//! values; "varint" is Go's zig-zag `binary.PutVarint`. Ember writes the
//! types Prometheus releases write (1–10): a WAL Ember writes is replayed
//! by Prometheus 2.42 and later (2.42 skips types 9 and 10, which came
//! with 3.x). It reads all thirteen.
//!
//! **Encoding.** The `encode_*` functions append exactly one record to a
//! buffer, the way the head builds a commit:
//!
//! ```
//! use ember_model::labels;
//! use ember_tsdb::wal::record::{self, RefSample, RefSeries};
//!
//! let mut series = Vec::new();
//! record::encode_series(&[RefSeries { series_ref: 1, labels: labels!("__name__" => "up") }], &mut series);
//! let mut samples = Vec::new();
//! record::encode_samples(&[RefSample { series_ref: 1, t: 1_000, v: 1.0, st: 0 }], &mut samples);
//! // wal.log(&[&series, &samples])?;
//! ```
//!
//! Native histograms with custom buckets (schema -53) must not go into a
//! type 7/8 record, which Prometheus 2.x would misread: call both
//! [`encode_histogram_samples`] and [`encode_custom_buckets_histogram_samples`]
//! on a batch; each takes only its own schemas and writes nothing (returns
//! `false`) when it has none.
//!
//! **Decoding.** A [`Decoder`] turns a record into a [`Record`] (or, to
//! reuse buffers, appends one kind of entry to a `Vec`). Malformed bytes
//! give a [`RecordError`], never a panic; the WAL replay treats that as
//! corruption at that record. What Ember cannot use yet is skipped and
//! counted, never an error, so a newer Prometheus' WAL never stops Ember
//! from starting: records of unknown types come back as
//! [`Record::Unknown`], and native histograms with a schema Ember does not
//! handle (above 8, or not a known schema) are left out of their record.
//! [`Decoder::stats`] has the counts, and the first of each kind is logged
//! at `warn` level.

use std::borrow::Cow;

use ember_model::{CounterResetHint, FloatHistogram, Histogram, Labels, MetricType, Span};
use thiserror::Error;

use super::encoding::{put_be64, put_be64_f64, put_uvarint, put_uvarint_str, put_varint, Decbuf};
use crate::tombstones::Interval;

/// The kind of a record: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Series labels with their references.
    Series = 1,
    /// Float samples.
    Samples = 2,
    /// Deleted intervals.
    Tombstones = 3,
    /// Exemplars.
    Exemplars = 4,
    /// "Everything up to here is m-mapped" markers (out-of-order WBL).
    MmapMarkers = 5,
    /// Metric metadata.
    Metadata = 6,
    /// Integer native histograms, exponential schemas.
    HistogramSamples = 7,
    /// Float native histograms, exponential schemas.
    FloatHistogramSamples = 8,
    /// Integer native histograms with custom buckets.
    CustomBucketsHistogramSamples = 9,
    /// Float native histograms with custom buckets.
    CustomBucketsFloatHistogramSamples = 10,
    /// Float samples with start timestamps (Prometheus main).
    SamplesV2 = 11,
    /// Integer histograms with start timestamps (Prometheus main).
    HistogramSamplesV2 = 12,
    /// Float histograms with start timestamps (Prometheus main).
    FloatHistogramSamplesV2 = 13,
}

impl RecordType {
    /// The type for a type byte, if known.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => RecordType::Series,
            2 => RecordType::Samples,
            3 => RecordType::Tombstones,
            4 => RecordType::Exemplars,
            5 => RecordType::MmapMarkers,
            6 => RecordType::Metadata,
            7 => RecordType::HistogramSamples,
            8 => RecordType::FloatHistogramSamples,
            9 => RecordType::CustomBucketsHistogramSamples,
            10 => RecordType::CustomBucketsFloatHistogramSamples,
            11 => RecordType::SamplesV2,
            12 => RecordType::HistogramSamplesV2,
            13 => RecordType::FloatHistogramSamplesV2,
            _ => return None,
        })
    }

    /// The type of a record (from its first byte), if known.
    pub fn of(record: &[u8]) -> Option<Self> {
        record.first().copied().and_then(Self::from_byte)
    }

    /// The type byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// The name Prometheus uses for the type (`series`, `samples`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Series => "series",
            RecordType::Samples => "samples",
            RecordType::Tombstones => "tombstones",
            RecordType::Exemplars => "exemplars",
            RecordType::MmapMarkers => "mmapmarkers",
            RecordType::Metadata => "metadata",
            RecordType::HistogramSamples => "histogram_samples",
            RecordType::FloatHistogramSamples => "float_histogram_samples",
            RecordType::CustomBucketsHistogramSamples => "custom_buckets_histogram_samples",
            RecordType::CustomBucketsFloatHistogramSamples => {
                "custom_buckets_float_histogram_samples"
            }
            RecordType::SamplesV2 => "samples_v2",
            RecordType::HistogramSamplesV2 => "histogram_samples_v2",
            RecordType::FloatHistogramSamplesV2 => "float_histogram_samples_v2",
        }
    }
}

/// A series and its head reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The head's reference for the series.
    pub series_ref: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// A float sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The series.
    pub series_ref: u64,
    /// Timestamp in ms.
    pub t: i64,
    /// The value (compare bits: stale markers are NaNs).
    pub v: f64,
    /// Start (created) timestamp in ms, 0 when unknown, as in Prometheus.
    /// Only [`RecordType::SamplesV2`] stores it; type 2 records drop it.
    pub st: i64,
}

/// One deleted interval of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// The series.
    pub series_ref: u64,
    /// The deleted interval (both ends inclusive).
    pub interval: Interval,
}

/// An exemplar of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    /// The series.
    pub series_ref: u64,
    /// Timestamp in ms.
    pub t: i64,
    /// The exemplar's value.
    pub v: f64,
    /// The exemplar's own labels.
    pub labels: Labels,
}

/// A marker that all samples of a series up to here are in m-mapped chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    /// The series.
    pub series_ref: u64,
    /// The chunk-disk-mapper reference of the last m-mapped chunk.
    pub mmap_ref: u64,
}

/// Metadata of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    /// The series.
    pub series_ref: u64,
    /// The metric type (unknown type bytes read as `Unknown`).
    pub metric_type: MetricType,
    /// The unit, empty if none.
    pub unit: String,
    /// The help text, empty if none.
    pub help: String,
}

/// An integer native histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogramSample {
    /// The series.
    pub series_ref: u64,
    /// Timestamp in ms.
    pub t: i64,
    /// Start timestamp in ms, 0 when unknown (stored by V2 records only).
    pub st: i64,
    /// The histogram.
    pub h: Histogram,
}

/// A float native histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefFloatHistogramSample {
    /// The series.
    pub series_ref: u64,
    /// Timestamp in ms.
    pub t: i64,
    /// Start timestamp in ms, 0 when unknown (stored by V2 records only).
    pub st: i64,
    /// The histogram.
    pub fh: FloatHistogram,
}

/// A decoded record.
///
/// Record types that carry the same entries decode to the same variant:
/// samples of types 2 and 11 to `Samples`; integer histograms of types 7,
/// 9 and 12 to `HistogramSamples`; float histograms of types 8, 10 and 13
/// to `FloatHistogramSamples`.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series definitions.
    Series(Vec<RefSeries>),
    /// Float samples.
    Samples(Vec<RefSample>),
    /// Deleted intervals.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// M-map markers.
    MmapMarkers(Vec<RefMmapMarker>),
    /// Metadata.
    Metadata(Vec<RefMetadata>),
    /// Integer native histograms.
    HistogramSamples(Vec<RefHistogramSample>),
    /// Float native histograms.
    FloatHistogramSamples(Vec<RefFloatHistogramSample>),
    /// A record of a type Ember does not know (from a newer writer), or an
    /// empty record: skip it. Carries the type byte, if any.
    Unknown(Option<u8>),
}

/// A record whose bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record ended in the middle of a field.
    #[error("record truncated reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A field holds an impossible value.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The record's type byte is not the one the decoding function reads.
    #[error("invalid record type {got:?}, expected {expected}")]
    WrongType {
        /// The type byte found (none for an empty record).
        got: Option<u8>,
        /// What the function decodes.
        expected: &'static str,
    },
}

/// Counts of what a [`Decoder`] skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Records of unknown type (or empty records) seen by [`Decoder::decode`].
    pub unknown_records: u64,
    /// Native histogram samples left out because Ember does not handle
    /// their schema.
    pub skipped_histograms: u64,
}

/// Decodes records; counts (and logs the first of) what it skips.
///
/// Holds no buffers between calls; one per replay is the intended use.
#[derive(Debug, Default)]
pub struct Decoder {
    stats: DecodeStats,
}

const UNIT_META_NAME: &str = "UNIT";
const HELP_META_NAME: &str = "HELP";

/// Custom-bucket (NHCB) schema.
const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Lowest exponential schema Prometheus may write (reserved range included).
const EXPONENTIAL_SCHEMA_MIN_RESERVED: i32 = -9;
/// Highest exponential schema Ember stores as is.
const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

fn is_custom_buckets(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
}

/// Whether Ember keeps a histogram with this schema.
fn schema_supported(schema: i32) -> bool {
    is_custom_buckets(schema)
        || (EXPONENTIAL_SCHEMA_MIN_RESERVED..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

impl Decoder {
    /// A decoder with zero counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was skipped so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Decodes any record.
    pub fn decode(&mut self, rec: &[u8]) -> Result<Record, RecordError> {
        let Some(t) = RecordType::of(rec) else {
            self.stats.unknown_records += 1;
            let first = self.stats.unknown_records == 1;
            let type_byte = rec.first().copied();
            if first {
                tracing::warn!(
                    ?type_byte,
                    "skipping WAL record of unknown type (further ones are counted, not logged)"
                );
            }
            return Ok(Record::Unknown(type_byte));
        };
        Ok(match t {
            RecordType::Series => {
                let mut v = Vec::new();
                self.series(rec, &mut v)?;
                Record::Series(v)
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let mut v = Vec::new();
                self.samples(rec, &mut v)?;
                Record::Samples(v)
            }
            RecordType::Tombstones => {
                let mut v = Vec::new();
                self.tombstones(rec, &mut v)?;
                Record::Tombstones(v)
            }
            RecordType::Exemplars => {
                let mut v = Vec::new();
                self.exemplars(rec, &mut v)?;
                Record::Exemplars(v)
            }
            RecordType::MmapMarkers => {
                let mut v = Vec::new();
                self.mmap_markers(rec, &mut v)?;
                Record::MmapMarkers(v)
            }
            RecordType::Metadata => {
                let mut v = Vec::new();
                self.metadata(rec, &mut v)?;
                Record::Metadata(v)
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                let mut v = Vec::new();
                self.histogram_samples(rec, &mut v)?;
                Record::HistogramSamples(v)
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let mut v = Vec::new();
                self.float_histogram_samples(rec, &mut v)?;
                Record::FloatHistogramSamples(v)
            }
        })
    }

    /// Appends the series of a Series record to `out`. On error, `out`
    /// may hold some of the record's entries.
    pub fn series(&mut self, rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
        let mut d = body(rec, &[RecordType::Series], "series")?.1;
        while !d.is_empty() {
            let series_ref = d.be64("series ref")?;
            let labels = decode_labels(&mut d)?;
            out.push(RefSeries { series_ref, labels });
        }
        Ok(())
    }

    /// Appends the samples of a Samples (2) or SamplesV2 (11) record.
    pub fn samples(&mut self, rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
        let (t, mut d) = body(
            rec,
            &[RecordType::Samples, RecordType::SamplesV2],
            "samples",
        )?;
        if d.is_empty() {
            return Ok(());
        }
        // At least 10 bytes per sample.
        out.reserve(d.len() / 10);
        if t == RecordType::Samples {
            let base_ref = d.be64("samples base ref")?;
            let base_t = d.be64("samples base time")? as i64;
            while !d.is_empty() {
                let dref = d.varint("sample ref delta")?;
                let dt = d.varint("sample time delta")?;
                let v = d.be64_f64("sample value")?;
                out.push(RefSample {
                    series_ref: base_ref.wrapping_add(dref as u64),
                    t: base_t.wrapping_add(dt),
                    v,
                    st: 0,
                });
            }
        } else {
            let first_ref = d.varint("sample ref")?;
            let first_t = d.varint("sample time")?;
            let first_st = d.varint("sample start time")?;
            let v = d.be64_f64("sample value")?;
            let mut prev = RefSample {
                series_ref: first_ref as u64,
                t: first_t,
                v,
                st: first_st,
            };
            out.push(prev);
            while !d.is_empty() {
                let series_ref = prev
                    .series_ref
                    .wrapping_add(d.varint("sample ref delta")? as u64);
                let t = first_t.wrapping_add(d.varint("sample time delta")?);
                let st = read_st_marker(&mut d, prev.st, first_st)?;
                let v = d.be64_f64("sample value")?;
                prev = RefSample {
                    series_ref,
                    t,
                    v,
                    st,
                };
                out.push(prev);
            }
        }
        Ok(())
    }

    /// Appends the intervals of a Tombstones record.
    pub fn tombstones(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefTombstone>,
    ) -> Result<(), RecordError> {
        let mut d = body(rec, &[RecordType::Tombstones], "tombstones")?.1;
        while !d.is_empty() {
            let series_ref = d.be64("tombstone ref")?;
            let mint = d.varint("tombstone mint")?;
            let maxt = d.varint("tombstone maxt")?;
            out.push(RefTombstone {
                series_ref,
                interval: Interval::new(mint, maxt),
            });
        }
        Ok(())
    }

    /// Appends the exemplars of an Exemplars record.
    pub fn exemplars(&mut self, rec: &[u8], out: &mut Vec<RefExemplar>) -> Result<(), RecordError> {
        let mut d = body(rec, &[RecordType::Exemplars], "exemplars")?.1;
        if d.is_empty() {
            return Ok(());
        }
        let base_ref = d.be64("exemplars base ref")?;
        let base_t = d.be64("exemplars base time")? as i64;
        while !d.is_empty() {
            let dref = d.varint("exemplar ref delta")?;
            let dt = d.varint("exemplar time delta")?;
            let v = d.be64_f64("exemplar value")?;
            let labels = decode_labels(&mut d)?;
            out.push(RefExemplar {
                series_ref: base_ref.wrapping_add(dref as u64),
                t: base_t.wrapping_add(dt),
                v,
                labels,
            });
        }
        Ok(())
    }

    /// Appends the markers of an MmapMarkers record.
    pub fn mmap_markers(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefMmapMarker>,
    ) -> Result<(), RecordError> {
        let mut d = body(rec, &[RecordType::MmapMarkers], "mmap markers")?.1;
        while !d.is_empty() {
            let series_ref = d.be64("mmap marker ref")?;
            let mmap_ref = d.be64("mmap marker chunk ref")?;
            out.push(RefMmapMarker {
                series_ref,
                mmap_ref,
            });
        }
        Ok(())
    }

    /// Appends the entries of a Metadata record. Fields other than `UNIT`
    /// and `HELP` are skipped, as Prometheus does.
    pub fn metadata(&mut self, rec: &[u8], out: &mut Vec<RefMetadata>) -> Result<(), RecordError> {
        let mut d = body(rec, &[RecordType::Metadata], "metadata")?.1;
        while !d.is_empty() {
            let series_ref = d.uvarint("metadata ref")?;
            let typ = d.byte("metadata type")?;
            let fields = d.uvarint("metadata field count")?;
            let (mut unit, mut help) = (String::new(), String::new());
            for _ in 0..fields {
                let name = d.uvarint_bytes("metadata field name")?;
                let value = d.uvarint_str("metadata field value")?;
                match name {
                    b"UNIT" => unit = value,
                    b"HELP" => help = value,
                    _ => {}
                }
            }
            out.push(RefMetadata {
                series_ref,
                metric_type: MetricType::from_wal_byte(typ),
                unit,
                help,
            });
        }
        Ok(())
    }

    /// Appends the histograms of a type 7, 9 or 12 record, leaving out (and
    /// counting) those with a schema Ember does not handle.
    pub fn histogram_samples(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefHistogramSample>,
    ) -> Result<(), RecordError> {
        let (t, mut d) = body(
            rec,
            &[
                RecordType::HistogramSamples,
                RecordType::CustomBucketsHistogramSamples,
                RecordType::HistogramSamplesV2,
            ],
            "histogram samples",
        )?;
        if d.is_empty() {
            return Ok(());
        }
        let mut entries = Entries::start(t == RecordType::HistogramSamplesV2, &mut d)?;
        while !d.is_empty() {
            let (series_ref, t, st) = entries.next(&mut d)?;
            let h = decode_histogram(&mut d)?;
            if self.keep_schema(h.schema, t) {
                out.push(RefHistogramSample {
                    series_ref,
                    t,
                    st,
                    h,
                });
            }
        }
        Ok(())
    }

    /// Appends the histograms of a type 8, 10 or 13 record, leaving out
    /// (and counting) those with a schema Ember does not handle.
    pub fn float_histogram_samples(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefFloatHistogramSample>,
    ) -> Result<(), RecordError> {
        let (t, mut d) = body(
            rec,
            &[
                RecordType::FloatHistogramSamples,
                RecordType::CustomBucketsFloatHistogramSamples,
                RecordType::FloatHistogramSamplesV2,
            ],
            "float histogram samples",
        )?;
        if d.is_empty() {
            return Ok(());
        }
        let mut entries = Entries::start(t == RecordType::FloatHistogramSamplesV2, &mut d)?;
        while !d.is_empty() {
            let (series_ref, t, st) = entries.next(&mut d)?;
            let fh = decode_float_histogram(&mut d)?;
            if self.keep_schema(fh.schema, t) {
                out.push(RefFloatHistogramSample {
                    series_ref,
                    t,
                    st,
                    fh,
                });
            }
        }
        Ok(())
    }

    fn keep_schema(&mut self, schema: i32, t: i64) -> bool {
        if schema_supported(schema) {
            return true;
        }
        self.stats.skipped_histograms += 1;
        if self.stats.skipped_histograms == 1 {
            tracing::warn!(
                schema,
                timestamp = t,
                "skipping native histogram with a schema Ember does not handle \
                 (further ones are counted, not logged)"
            );
        }
        false
    }
}

/// Checks the type byte against `allowed` and returns the type and the rest.
fn body<'a>(
    rec: &'a [u8],
    allowed: &[RecordType],
    expected: &'static str,
) -> Result<(RecordType, Decbuf<'a>), RecordError> {
    match RecordType::of(rec) {
        Some(t) if allowed.contains(&t) => Ok((t, Decbuf::new(&rec[1..]))),
        _ => Err(RecordError::WrongType {
            got: rec.first().copied(),
            expected,
        }),
    }
}

/// Ref/time/start-time headers of histogram entries in V1 (base plus
/// deltas) or V2 (first, then deltas to the previous ref) layout.
struct Entries {
    v2: bool,
    base_ref: u64,
    base_t: i64,
    first_st: i64,
    prev_ref: u64,
    prev_st: i64,
    started: bool,
}

impl Entries {
    fn start(v2: bool, d: &mut Decbuf<'_>) -> Result<Self, RecordError> {
        let (base_ref, base_t, first_st) = if v2 {
            (
                d.varint("histogram ref")? as u64,
                d.varint("histogram time")?,
                d.varint("histogram start time")?,
            )
        } else {
            (
                d.be64("histograms base ref")?,
                d.be64("histograms base time")? as i64,
                0,
            )
        };
        Ok(Entries {
            v2,
            base_ref,
            base_t,
            first_st,
            prev_ref: base_ref,
            prev_st: first_st,
            started: false,
        })
    }

    fn next(&mut self, d: &mut Decbuf<'_>) -> Result<(u64, i64, i64), RecordError> {
        if !self.v2 {
            let dref = d.varint("histogram ref delta")?;
            let dt = d.varint("histogram time delta")?;
            return Ok((
                self.base_ref.wrapping_add(dref as u64),
                self.base_t.wrapping_add(dt),
                0,
            ));
        }
        if !self.started {
            self.started = true;
            return Ok((self.base_ref, self.base_t, self.first_st));
        }
        let r = self
            .prev_ref
            .wrapping_add(d.varint("histogram ref delta")? as u64);
        let t = self.base_t.wrapping_add(d.varint("histogram time delta")?);
        let st = read_st_marker(d, self.prev_st, self.first_st)?;
        self.prev_ref = r;
        self.prev_st = st;
        Ok((r, t, st))
    }
}

// Start-timestamp markers of V2 records.
const NO_ST: u8 = 0;
const SAME_ST: u8 = 1;
const EXPLICIT_ST: u8 = 2;

fn read_st_marker(d: &mut Decbuf<'_>, prev_st: i64, first_st: i64) -> Result<i64, RecordError> {
    Ok(match d.byte("start time marker")? {
        NO_ST => 0,
        SAME_ST => prev_st,
        _ => first_st.wrapping_add(d.varint("start time delta")?),
    })
}

fn write_st_marker(buf: &mut Vec<u8>, st: i64, first_st: i64, prev_st: i64) {
    if st == 0 {
        buf.push(NO_ST);
    } else if st == prev_st {
        buf.push(SAME_ST);
    } else {
        buf.push(EXPLICIT_ST);
        put_varint(buf, st.wrapping_sub(first_st));
    }
}

fn decode_labels(d: &mut Decbuf<'_>) -> Result<Labels, RecordError> {
    let n = d.uvarint("label count")?;
    // Each label takes at least two bytes: never reserve more than the
    // record could hold.
    let cap = usize::try_from(n).unwrap_or(usize::MAX).min(d.len() / 2);
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(cap);
    for _ in 0..n {
        let name = d.uvarint_bytes("label name")?;
        let value = d.uvarint_bytes("label value")?;
        pairs.push((
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value),
        ));
    }
    Labels::from_sorted(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))).map_err(|e| {
        RecordError::Invalid {
            what: "labels",
            message: e.to_string(),
        }
    })
}

fn encode_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels {
        put_uvarint_str(buf, l.name);
        put_uvarint_str(buf, l.value);
    }
}

fn hint_from_byte(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn hint_byte(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

/// A uvarint length, checked against the bytes left (each element takes at
/// least `min_size` bytes) so that a corrupt length cannot allocate much.
fn length(d: &mut Decbuf<'_>, what: &'static str, min_size: usize) -> Result<usize, RecordError> {
    let n = d.uvarint(what)?;
    match usize::try_from(n) {
        Ok(n) if n.saturating_mul(min_size) <= d.len() => Ok(n),
        _ => Err(RecordError::Truncated { what }),
    }
}

fn decode_spans(d: &mut Decbuf<'_>, what: &'static str) -> Result<Vec<Span>, RecordError> {
    let n = length(d, what, 2)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = d.varint("span offset")? as i32;
        let length = d.uvarint("span length")? as u32;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

fn decode_custom_values(d: &mut Decbuf<'_>, schema: i32) -> Result<Vec<f64>, RecordError> {
    if !is_custom_buckets(schema) {
        return Ok(Vec::new());
    }
    let n = length(d, "custom values count", 8)?;
    (0..n).map(|_| d.be64_f64("custom value")).collect()
}

fn decode_histogram(d: &mut Decbuf<'_>) -> Result<Histogram, RecordError> {
    let counter_reset_hint = hint_from_byte(d.byte("counter reset hint")?);
    let schema = d.varint("schema")? as i32;
    let zero_threshold = d.be64_f64("zero threshold")?;
    let zero_count = d.uvarint("zero count")?;
    let count = d.uvarint("count")?;
    let sum = d.be64_f64("sum")?;
    let positive_spans = decode_spans(d, "positive spans")?;
    let negative_spans = decode_spans(d, "negative spans")?;
    let n = length(d, "positive buckets", 1)?;
    let positive_buckets = (0..n)
        .map(|_| d.varint("bucket"))
        .collect::<Result<_, _>>()?;
    let n = length(d, "negative buckets", 1)?;
    let negative_buckets = (0..n)
        .map(|_| d.varint("bucket"))
        .collect::<Result<_, _>>()?;
    let custom_values = decode_custom_values(d, schema)?;
    Ok(Histogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    })
}

fn decode_float_histogram(d: &mut Decbuf<'_>) -> Result<FloatHistogram, RecordError> {
    let counter_reset_hint = hint_from_byte(d.byte("counter reset hint")?);
    let schema = d.varint("schema")? as i32;
    let zero_threshold = d.be64_f64("zero threshold")?;
    let zero_count = d.be64_f64("zero count")?;
    let count = d.be64_f64("count")?;
    let sum = d.be64_f64("sum")?;
    let positive_spans = decode_spans(d, "positive spans")?;
    let negative_spans = decode_spans(d, "negative spans")?;
    let n = length(d, "positive buckets", 8)?;
    let positive_buckets = (0..n)
        .map(|_| d.be64_f64("bucket"))
        .collect::<Result<_, _>>()?;
    let n = length(d, "negative buckets", 8)?;
    let negative_buckets = (0..n)
        .map(|_| d.be64_f64("bucket"))
        .collect::<Result<_, _>>()?;
    let custom_values = decode_custom_values(d, schema)?;
    Ok(FloatHistogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    })
}

fn encode_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_varint(buf, i64::from(s.offset));
        put_uvarint(buf, u64::from(s.length));
    }
}

fn encode_histogram(buf: &mut Vec<u8>, h: &Histogram) {
    buf.push(hint_byte(h.counter_reset_hint));
    put_varint(buf, i64::from(h.schema));
    put_be64_f64(buf, h.zero_threshold);
    put_uvarint(buf, h.zero_count);
    put_uvarint(buf, h.count);
    put_be64_f64(buf, h.sum);
    encode_spans(buf, &h.positive_spans);
    encode_spans(buf, &h.negative_spans);
    put_uvarint(buf, h.positive_buckets.len() as u64);
    for &b in &h.positive_buckets {
        put_varint(buf, b);
    }
    put_uvarint(buf, h.negative_buckets.len() as u64);
    for &b in &h.negative_buckets {
        put_varint(buf, b);
    }
    if is_custom_buckets(h.schema) {
        put_uvarint(buf, h.custom_values.len() as u64);
        for &v in &h.custom_values {
            put_be64_f64(buf, v);
        }
    }
}

fn encode_float_histogram(buf: &mut Vec<u8>, h: &FloatHistogram) {
    buf.push(hint_byte(h.counter_reset_hint));
    put_varint(buf, i64::from(h.schema));
    put_be64_f64(buf, h.zero_threshold);
    put_be64_f64(buf, h.zero_count);
    put_be64_f64(buf, h.count);
    put_be64_f64(buf, h.sum);
    encode_spans(buf, &h.positive_spans);
    encode_spans(buf, &h.negative_spans);
    put_uvarint(buf, h.positive_buckets.len() as u64);
    for &b in &h.positive_buckets {
        put_be64_f64(buf, b);
    }
    put_uvarint(buf, h.negative_buckets.len() as u64);
    for &b in &h.negative_buckets {
        put_be64_f64(buf, b);
    }
    if is_custom_buckets(h.schema) {
        put_uvarint(buf, h.custom_values.len() as u64);
        for &v in &h.custom_values {
            put_be64_f64(buf, v);
        }
    }
}

/// Appends a Series record (type 1).
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(RecordType::Series.as_byte());
    for s in series {
        put_be64(buf, s.series_ref);
        encode_labels(buf, &s.labels);
    }
}

/// Appends a Samples record (type 2). Start timestamps are not stored.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::Samples.as_byte());
    let Some(first) = samples.first() else {
        return;
    };
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for s in samples {
        put_varint(buf, s.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, s.t.wrapping_sub(first.t));
        put_be64_f64(buf, s.v);
    }
}

/// Appends a SamplesV2 record (type 11), which stores start timestamps.
///
/// Only Prometheus main reads this type (2.x and 3.x releases up to now
/// do not): Ember's head logs [`encode_samples`]; this exists for tests
/// and for a future opt-in.
pub fn encode_samples_v2(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::SamplesV2.as_byte());
    let Some(first) = samples.first() else {
        return;
    };
    put_varint(buf, first.series_ref as i64);
    put_varint(buf, first.t);
    put_varint(buf, first.st);
    put_be64_f64(buf, first.v);
    for w in samples.windows(2) {
        let (prev, s) = (&w[0], &w[1]);
        put_varint(buf, s.series_ref.wrapping_sub(prev.series_ref) as i64);
        put_varint(buf, s.t.wrapping_sub(first.t));
        write_st_marker(buf, s.st, first.st, prev.st);
        put_be64_f64(buf, s.v);
    }
}

/// Appends a Tombstones record (type 3).
pub fn encode_tombstones(tombstones: &[RefTombstone], buf: &mut Vec<u8>) {
    buf.push(RecordType::Tombstones.as_byte());
    for s in tombstones {
        put_be64(buf, s.series_ref);
        put_varint(buf, s.interval.mint);
        put_varint(buf, s.interval.maxt);
    }
}

/// Appends an Exemplars record (type 4).
pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    buf.push(RecordType::Exemplars.as_byte());
    let Some(first) = exemplars.first() else {
        return;
    };
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for e in exemplars {
        put_varint(buf, e.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, e.t.wrapping_sub(first.t));
        put_be64_f64(buf, e.v);
        encode_labels(buf, &e.labels);
    }
}

/// Appends an MmapMarkers record (type 5).
pub fn encode_mmap_markers(markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
    buf.push(RecordType::MmapMarkers.as_byte());
    for m in markers {
        put_be64(buf, m.series_ref);
        put_be64(buf, m.mmap_ref);
    }
}

/// Appends a Metadata record (type 6): each entry has the fields `UNIT`
/// and `HELP`, as Prometheus writes them.
pub fn encode_metadata(metadata: &[RefMetadata], buf: &mut Vec<u8>) {
    buf.push(RecordType::Metadata.as_byte());
    for m in metadata {
        put_uvarint(buf, m.series_ref);
        buf.push(m.metric_type.wal_byte());
        put_uvarint(buf, 2);
        put_uvarint_str(buf, UNIT_META_NAME);
        put_uvarint_str(buf, &m.unit);
        put_uvarint_str(buf, HELP_META_NAME);
        put_uvarint_str(buf, &m.help);
    }
}

fn encode_histograms_v1<'a>(
    t: RecordType,
    samples: impl Iterator<Item = &'a RefHistogramSample> + Clone,
    buf: &mut Vec<u8>,
) -> bool {
    let Some(first) = samples.clone().next() else {
        return false;
    };
    buf.push(t.as_byte());
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for h in samples {
        put_varint(buf, h.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, h.t.wrapping_sub(first.t));
        encode_histogram(buf, &h.h);
    }
    true
}

fn encode_float_histograms_v1<'a>(
    t: RecordType,
    samples: impl Iterator<Item = &'a RefFloatHistogramSample> + Clone,
    buf: &mut Vec<u8>,
) -> bool {
    let Some(first) = samples.clone().next() else {
        return false;
    };
    buf.push(t.as_byte());
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for h in samples {
        put_varint(buf, h.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, h.t.wrapping_sub(first.t));
        encode_float_histogram(buf, &h.fh);
    }
    true
}

/// Appends a HistogramSamples record (type 7) of the samples whose schema
/// is not the custom-bucket one; returns `false` and appends nothing if
/// there are none. Pair with [`encode_custom_buckets_histogram_samples`].
pub fn encode_histogram_samples(samples: &[RefHistogramSample], buf: &mut Vec<u8>) -> bool {
    encode_histograms_v1(
        RecordType::HistogramSamples,
        samples.iter().filter(|h| !is_custom_buckets(h.h.schema)),
        buf,
    )
}

/// Appends a CustomBucketsHistogramSamples record (type 9) of the samples
/// with custom buckets (schema -53); returns `false` and appends nothing
/// if there are none.
pub fn encode_custom_buckets_histogram_samples(
    samples: &[RefHistogramSample],
    buf: &mut Vec<u8>,
) -> bool {
    encode_histograms_v1(
        RecordType::CustomBucketsHistogramSamples,
        samples.iter().filter(|h| is_custom_buckets(h.h.schema)),
        buf,
    )
}

/// Appends a FloatHistogramSamples record (type 8) of the samples whose
/// schema is not the custom-bucket one; returns `false` and appends
/// nothing if there are none. Pair with
/// [`encode_custom_buckets_float_histogram_samples`].
pub fn encode_float_histogram_samples(
    samples: &[RefFloatHistogramSample],
    buf: &mut Vec<u8>,
) -> bool {
    encode_float_histograms_v1(
        RecordType::FloatHistogramSamples,
        samples.iter().filter(|h| !is_custom_buckets(h.fh.schema)),
        buf,
    )
}

/// Appends a CustomBucketsFloatHistogramSamples record (type 10) of the
/// samples with custom buckets; returns `false` and appends nothing if
/// there are none.
pub fn encode_custom_buckets_float_histogram_samples(
    samples: &[RefFloatHistogramSample],
    buf: &mut Vec<u8>,
) -> bool {
    encode_float_histograms_v1(
        RecordType::CustomBucketsFloatHistogramSamples,
        samples.iter().filter(|h| is_custom_buckets(h.fh.schema)),
        buf,
    )
}

/// Appends a HistogramSamplesV2 record (type 12; Prometheus main only,
/// for tests).
#[doc(hidden)]
pub fn encode_histogram_samples_v2(samples: &[RefHistogramSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::HistogramSamplesV2.as_byte());
    let Some(first) = samples.first() else {
        return;
    };
    put_varint(buf, first.series_ref as i64);
    put_varint(buf, first.t);
    put_varint(buf, first.st);
    encode_histogram(buf, &first.h);
    for w in samples.windows(2) {
        let (prev, h) = (&w[0], &w[1]);
        put_varint(buf, h.series_ref.wrapping_sub(prev.series_ref) as i64);
        put_varint(buf, h.t.wrapping_sub(first.t));
        write_st_marker(buf, h.st, first.st, prev.st);
        encode_histogram(buf, &h.h);
    }
}

/// Appends a FloatHistogramSamplesV2 record (type 13; Prometheus main
/// only, for tests).
#[doc(hidden)]
pub fn encode_float_histogram_samples_v2(samples: &[RefFloatHistogramSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::FloatHistogramSamplesV2.as_byte());
    let Some(first) = samples.first() else {
        return;
    };
    put_varint(buf, first.series_ref as i64);
    put_varint(buf, first.t);
    put_varint(buf, first.st);
    encode_float_histogram(buf, &first.fh);
    for w in samples.windows(2) {
        let (prev, h) = (&w[0], &w[1]);
        put_varint(buf, h.series_ref.wrapping_sub(prev.series_ref) as i64);
        put_varint(buf, h.t.wrapping_sub(first.t));
        write_st_marker(buf, h.st, first.st, prev.st);
        encode_float_histogram(buf, &h.fh);
    }
}

/// Encodes a decoded record back, the way Ember writes it: samples as
/// type 2, histograms as types 7/9 or 8/10 (two records when a batch
/// mixes schemas). Appends each record to `out`; unknown records give
/// nothing. Used by checkpoints.
pub fn encode_record(rec: &Record, out: &mut Vec<Vec<u8>>) {
    let mut buf = Vec::new();
    match rec {
        Record::Series(v) => encode_series(v, &mut buf),
        Record::Samples(v) => encode_samples(v, &mut buf),
        Record::Tombstones(v) => encode_tombstones(v, &mut buf),
        Record::Exemplars(v) => encode_exemplars(v, &mut buf),
        Record::MmapMarkers(v) => encode_mmap_markers(v, &mut buf),
        Record::Metadata(v) => encode_metadata(v, &mut buf),
        Record::HistogramSamples(v) => {
            if encode_histogram_samples(v, &mut buf) {
                out.push(std::mem::take(&mut buf));
            }
            encode_custom_buckets_histogram_samples(v, &mut buf);
        }
        Record::FloatHistogramSamples(v) => {
            if encode_float_histogram_samples(v, &mut buf) {
                out.push(std::mem::take(&mut buf));
            }
            encode_custom_buckets_float_histogram_samples(v, &mut buf);
        }
        Record::Unknown(_) => {}
    }
    if !buf.is_empty() {
        out.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_model::labels;

    fn roundtrip(rec: &[u8]) -> Record {
        Decoder::new().decode(rec).unwrap()
    }

    #[test]
    fn series_bytes_match_prometheus() {
        let mut b = Vec::new();
        encode_series(
            &[RefSeries {
                series_ref: 258,
                labels: labels!("__name__" => "up", "job" => "x"),
            }],
            &mut b,
        );
        let mut want = vec![1u8, 0, 0, 0, 0, 0, 0, 1, 2, 2];
        want.extend_from_slice(b"\x08__name__\x02up\x03job\x01x");
        assert_eq!(b, want);
        match roundtrip(&b) {
            Record::Series(s) => {
                assert_eq!(s[0].series_ref, 258);
                assert_eq!(s[0].labels, labels!("__name__" => "up", "job" => "x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn samples_bytes_match_prometheus() {
        let mut b = Vec::new();
        let s = [
            RefSample {
                series_ref: 10,
                t: 1000,
                v: 1.5,
                st: 0,
            },
            RefSample {
                series_ref: 9,
                t: 1001,
                v: -0.0,
                st: 0,
            },
        ];
        encode_samples(&s, &mut b);
        let mut want = vec![2u8];
        want.extend_from_slice(&10u64.to_be_bytes());
        want.extend_from_slice(&1000u64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[1, 2]);
        want.extend_from_slice(&(-0.0f64).to_bits().to_be_bytes());
        assert_eq!(b, want);
        assert_eq!(roundtrip(&b), Record::Samples(s.to_vec()));
        // Empty record.
        let mut e = Vec::new();
        encode_samples(&[], &mut e);
        assert_eq!(e, [2]);
        assert_eq!(roundtrip(&e), Record::Samples(vec![]));
    }

    #[test]
    fn samples_v2_roundtrip() {
        let s = [
            RefSample {
                series_ref: 5,
                t: 100,
                v: 1.0,
                st: 50,
            },
            RefSample {
                series_ref: 3,
                t: 90,
                v: 2.0,
                st: 50,
            },
            RefSample {
                series_ref: 7,
                t: 110,
                v: 3.0,
                st: 0,
            },
            RefSample {
                series_ref: 7,
                t: 120,
                v: 4.0,
                st: 20,
            },
        ];
        let mut b = Vec::new();
        encode_samples_v2(&s, &mut b);
        assert_eq!(b[0], 11);
        assert_eq!(roundtrip(&b), Record::Samples(s.to_vec()));
    }

    #[test]
    fn metadata_bytes_match_prometheus() {
        let m = [RefMetadata {
            series_ref: 300,
            metric_type: MetricType::Counter,
            unit: "s".into(),
            help: "h".into(),
        }];
        let mut b = Vec::new();
        encode_metadata(&m, &mut b);
        assert_eq!(
            b,
            [
                6, 0xac, 0x02, 1, 2, 4, b'U', b'N', b'I', b'T', 1, b's', 4, b'H', b'E', b'L', b'P',
                1, b'h'
            ]
        );
        assert_eq!(roundtrip(&b), Record::Metadata(m.to_vec()));
    }

    #[test]
    fn other_roundtrips() {
        let t = [
            RefTombstone {
                series_ref: 1,
                interval: Interval::new(-5, 10),
            },
            RefTombstone {
                series_ref: u64::MAX,
                interval: Interval::new(i64::MIN, i64::MAX),
            },
        ];
        let mut b = Vec::new();
        encode_tombstones(&t, &mut b);
        assert_eq!(roundtrip(&b), Record::Tombstones(t.to_vec()));

        let e = [
            RefExemplar {
                series_ref: 4,
                t: 10,
                v: 0.5,
                labels: labels!("trace_id" => "abc"),
            },
            RefExemplar {
                series_ref: 2,
                t: 5,
                v: 1.5,
                labels: Labels::empty(),
            },
        ];
        let mut b = Vec::new();
        encode_exemplars(&e, &mut b);
        assert_eq!(roundtrip(&b), Record::Exemplars(e.to_vec()));

        let m = [RefMmapMarker {
            series_ref: 3,
            mmap_ref: 1 << 40,
        }];
        let mut b = Vec::new();
        encode_mmap_markers(&m, &mut b);
        assert_eq!(roundtrip(&b), Record::MmapMarkers(m.to_vec()));
    }

    fn hist(schema: i32) -> Histogram {
        Histogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            schema,
            zero_threshold: 0.001,
            zero_count: 2,
            count: 9,
            sum: 12.5,
            positive_spans: vec![Span {
                offset: -2,
                length: 2,
            }],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            positive_buckets: vec![3, -1],
            negative_buckets: vec![2],
            custom_values: if schema == -53 {
                vec![1.0, 2.5]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn histograms_split_and_roundtrip() {
        let hs = vec![
            RefHistogramSample {
                series_ref: 1,
                t: 10,
                st: 0,
                h: hist(3),
            },
            RefHistogramSample {
                series_ref: 2,
                t: 11,
                st: 0,
                h: hist(-53),
            },
        ];
        let mut out = Vec::new();
        encode_record(&Record::HistogramSamples(hs.clone()), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][0], 7);
        assert_eq!(out[1][0], 9);
        assert_eq!(
            roundtrip(&out[0]),
            Record::HistogramSamples(vec![hs[0].clone()])
        );
        assert_eq!(
            roundtrip(&out[1]),
            Record::HistogramSamples(vec![hs[1].clone()])
        );

        let fhs: Vec<_> = hs
            .iter()
            .map(|h| RefFloatHistogramSample {
                series_ref: h.series_ref,
                t: h.t,
                st: 0,
                fh: h.h.to_float(),
            })
            .collect();
        let mut out = Vec::new();
        encode_record(&Record::FloatHistogramSamples(fhs.clone()), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0][0], out[1][0]), (8, 10));
        assert_eq!(
            roundtrip(&out[0]),
            Record::FloatHistogramSamples(vec![fhs[0].clone()])
        );
        assert_eq!(
            roundtrip(&out[1]),
            Record::FloatHistogramSamples(vec![fhs[1].clone()])
        );

        let mut b = Vec::new();
        let v2: Vec<_> = hs
            .iter()
            .map(|h| RefHistogramSample { st: 7, ..h.clone() })
            .collect();
        encode_histogram_samples_v2(&v2, &mut b);
        assert_eq!(roundtrip(&b), Record::HistogramSamples(v2));
        let mut b = Vec::new();
        let v2: Vec<_> = fhs
            .iter()
            .map(|h| RefFloatHistogramSample { st: 7, ..h.clone() })
            .collect();
        encode_float_histogram_samples_v2(&v2, &mut b);
        assert_eq!(roundtrip(&b), Record::FloatHistogramSamples(v2));
    }

    #[test]
    fn unsupported_schemas_are_skipped_and_counted() {
        let hs = vec![
            RefHistogramSample {
                series_ref: 1,
                t: 10,
                st: 0,
                h: hist(9),
            },
            RefHistogramSample {
                series_ref: 2,
                t: 11,
                st: 0,
                h: hist(2),
            },
            RefHistogramSample {
                series_ref: 3,
                t: 12,
                st: 0,
                h: hist(-20),
            },
        ];
        let mut b = Vec::new();
        assert!(encode_histogram_samples(&hs, &mut b));
        let mut d = Decoder::new();
        assert_eq!(
            d.decode(&b).unwrap(),
            Record::HistogramSamples(vec![hs[1].clone()])
        );
        assert_eq!(d.stats().skipped_histograms, 2);
        assert_eq!(d.decode(&[99, 1, 2]).unwrap(), Record::Unknown(Some(99)));
        assert_eq!(d.decode(&[]).unwrap(), Record::Unknown(None));
        assert_eq!(d.stats().unknown_records, 2);
    }

    #[test]
    fn malformed_records_error() {
        let mut d = Decoder::new();
        assert!(d.decode(&[1, 0, 0]).is_err());
        assert!(d
            .decode(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0])
            .is_err());
        // Duplicate label names.
        let mut b = vec![1u8];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(b"\x02\x01a\x01x\x01a\x01y");
        assert!(matches!(d.decode(&b), Err(RecordError::Invalid { .. })));
        // A huge span count does not allocate.
        let mut b = vec![7u8];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(d.decode(&b).is_err());
        assert!(d.series(&[2], &mut Vec::new()).is_err());
    }
}
