//! Ember's chunk encodings: how samples are packed into the chunks that the
//! head builds and blocks store.
//!
//! **Format.** Float samples use Prometheus' XOR ("Gorilla") encoding,
//! chunk encoding 1: a 2-byte big-endian sample count followed by a bit
//! stream in which timestamps are stored as delta-of-deltas and values as
//! the XOR with the previous value ([`XorChunk`] describes the bit-level
//! layout). [`XorChunk`] owns its bytes and appends to them; [`XorIter`]
//! decodes borrowed bytes, e.g. from a memory-mapped block, and supports
//! `seek`. [`ChunkCutter`] is the head's rule for when to start a new chunk.
//!
//! **Compatibility.** The encoding is bit-compatible with Prometheus: bytes
//! written by either side decode identically on the other, and for the same
//! sequence of appends Ember writes the same bytes as Prometheus 3. A chunk
//! reopened for appends ([`XorChunk::reopen`]) continues exactly as if it
//! had never been closed. Values are stored bit for bit: every NaN payload
//! (the stale marker `0x7ff0000000000002` among them), `-0.0` and the
//! infinities round-trip exactly. Timestamp arithmetic wraps like Go's, so
//! any `i64` sequence round-trips.
//!
//! **Pass-through.** Chunks of other encodings (native histograms, float
//! histograms, Prometheus 3's XOR2 and anything newer) are not decoded here.
//! They travel as [`RawChunk`]s, an [`Encoding`] id plus opaque bytes, so a
//! block reader can hand them to a writer unchanged; float readers get a
//! [`ChunkError::NotXor`] from [`RawChunk::float_iter`] and can skip them.
//!
//! **Errors.** Chunk bytes are untrusted input. Decoding never panics and
//! always terminates: truncated or corrupt data ends iteration with a
//! [`ChunkError`] that says what was being read and at which bit offset.
//! Data after the last sample is ignored, as Prometheus does. The only
//! append error is a full chunk (65535 samples). The crate has no global
//! state, does no I/O and does not log.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod bstream;
mod cut;
mod xor;

use std::fmt;

use bytes::Bytes;

pub use cut::{ChunkCutter, ChunkStats, CutOptions};
pub use xor::{XorChunk, XorIter};

/// A chunk encoding id, as stored in block chunk files and the head's chunk
/// files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// 0: no encoding.
    None,
    /// 1: XOR-encoded floats.
    Xor,
    /// 2: native histograms with integer counts.
    Histogram,
    /// 3: native histograms with float counts.
    FloatHistogram,
    /// Any other id (Prometheus 3 adds 4 = XOR2 and 5, 6 = histograms with
    /// start timestamps). [`Encoding::from_u8`] only puts ids 4 and up here.
    Other(u8),
}

impl Encoding {
    /// The encoding for an id byte.
    pub const fn from_u8(id: u8) -> Self {
        match id {
            0 => Self::None,
            1 => Self::Xor,
            2 => Self::Histogram,
            3 => Self::FloatHistogram,
            other => Self::Other(other),
        }
    }

    /// The id byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Xor => 1,
            Self::Histogram => 2,
            Self::FloatHistogram => 3,
            Self::Other(id) => id,
        }
    }
}

impl From<u8> for Encoding {
    fn from(id: u8) -> Self {
        Self::from_u8(id)
    }
}

impl From<Encoding> for u8 {
    fn from(e: Encoding) -> Self {
        e.to_u8()
    }
}

impl fmt::Display for Encoding {
    /// Prometheus' names: `none`, `XOR`, `histogram`, `floathistogram`;
    /// other ids print as `encoding <id>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Xor => f.write_str("XOR"),
            Self::Histogram => f.write_str("histogram"),
            Self::FloatHistogram => f.write_str("floathistogram"),
            Self::Other(id) => write!(f, "encoding {id}"),
        }
    }
}

/// A chunk of any encoding, carried as opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawChunk {
    /// The chunk's encoding.
    pub encoding: Encoding,
    /// The chunk's bytes, exactly as stored.
    pub data: Bytes,
}

impl RawChunk {
    /// Wraps chunk bytes of the given encoding.
    pub fn new(encoding: Encoding, data: Bytes) -> Self {
        Self { encoding, data }
    }

    /// Iterates over the samples of an XOR chunk. Fails with
    /// [`ChunkError::NotXor`] for other encodings, so float readers can
    /// skip (and count) them, or with [`ChunkError::MissingHeader`].
    pub fn float_iter(&self) -> Result<XorIter<'_>, ChunkError> {
        match self.encoding {
            Encoding::Xor => XorIter::new(&self.data),
            other => Err(ChunkError::NotXor(other)),
        }
    }
}

impl From<XorChunk> for RawChunk {
    fn from(chunk: XorChunk) -> Self {
        Self::new(Encoding::Xor, Bytes::from(chunk.into_bytes()))
    }
}

/// What went wrong with a chunk. Offsets count from the first byte of the
/// chunk, header included; `sample` is the 0-based index of the sample being
/// decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// Fewer than 2 bytes: no sample count.
    #[error("chunk of {len} bytes has no 2-byte sample count")]
    MissingHeader {
        /// Length of the data.
        len: usize,
    },
    /// The data ended before the header's sample count was reached.
    #[error("chunk data ends at bit {bit_offset} while reading the {field} of sample {sample}")]
    UnexpectedEnd {
        /// Index of the sample being decoded.
        sample: u16,
        /// The field being read.
        field: &'static str,
        /// Where the read that failed started.
        bit_offset: usize,
    },
    /// A varint longer than 64 bits.
    #[error("varint at bit {bit_offset} of sample {sample} overflows 64 bits")]
    VarintOverflow {
        /// Index of the sample being decoded.
        sample: u16,
        /// Where the varint starts.
        bit_offset: usize,
    },
    /// A value window with more than 64 bits of leading zeros and
    /// significant bits, which no encoder writes.
    #[error(
        "value window at bit {bit_offset} of sample {sample} has {leading} leading zeros \
         and {significant} significant bits, more than 64"
    )]
    InvalidValueWindow {
        /// Index of the sample being decoded.
        sample: u16,
        /// Where the window's 11 bits start.
        bit_offset: usize,
        /// Leading zeros read.
        leading: u8,
        /// Significant bits read (0 already mapped to 64).
        significant: u8,
    },
    /// An append to a chunk that holds 65535 samples.
    #[error("chunk is full ({} samples)", XorChunk::MAX_SAMPLES)]
    ChunkFull,
    /// A float iterator was requested for a chunk of another encoding.
    #[error("chunk encoding is {0}, not XOR")]
    NotXor(Encoding),
}

/// Entry point of the `chunk_decode` fuzz target, also run over the seed
/// corpus by the tests. Decodes `data` as an XOR chunk and checks the
/// codec's invariants: whatever decodes also re-encodes to the same samples,
/// reopening that re-encoding changes no byte, `seek` agrees with a linear
/// scan, and a reopened chunk accepts another sample. It panics only if one
/// of these invariants is broken.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let Ok(it) = XorIter::new(data) else {
        return;
    };
    let mut samples = Vec::with_capacity(it.size_hint().1.unwrap_or(0).min(4096));
    let mut complete = true;
    for sample in it {
        match sample {
            Ok((t, v)) => samples.push((t, v.to_bits())),
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    let reopened = XorChunk::reopen(data.to_vec());
    assert_eq!(
        reopened.is_ok(),
        complete,
        "reopen disagrees with iteration"
    );

    // Seek from a fresh iterator finds the first sample at or after the
    // target, in stream order, wherever decoding got to.
    for &(target, _) in samples.iter().step_by(samples.len() / 16 + 1) {
        if let Ok(mut it) = XorIter::new(data) {
            let found = it.seek(target).ok().flatten();
            let want = samples.iter().find(|s| s.0 >= target).copied();
            assert_eq!(found.map(|(t, v)| (t, v.to_bits())), want, "seek({target})");
        }
    }

    let Ok(mut reopened) = reopened else {
        return;
    };
    let mut again = XorChunk::new();
    for &(t, v) in &samples {
        assert!(again.append(t, f64::from_bits(v)).is_ok(), "re-encode");
    }
    let redecoded: Vec<_> = again
        .iter()
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect();
    let want: Vec<_> = samples.iter().copied().map(Ok).collect();
    assert_eq!(redecoded, want, "re-encoded chunk decodes differently");
    let same = XorChunk::reopen(again.bytes().to_vec());
    assert_eq!(
        same.as_ref().map(XorChunk::bytes).ok(),
        Some(again.bytes()),
        "reopen changed the bytes"
    );

    let next_t = samples.last().map_or(0, |s| s.0.wrapping_add(15_000));
    if reopened.append(next_t, 0.5).is_ok() {
        samples.push((next_t, 0.5f64.to_bits()));
        let after: Vec<_> = reopened
            .iter()
            .map(|s| s.map(|(t, v)| (t, v.to_bits())))
            .collect();
        let want: Vec<_> = samples.iter().copied().map(Ok).collect();
        assert_eq!(after, want, "append after reopen");
    } else {
        assert_eq!(
            samples.len(),
            XorChunk::MAX_SAMPLES,
            "append after reopen failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_ids() {
        for id in 0..=255u8 {
            assert_eq!(Encoding::from_u8(id).to_u8(), id);
            assert_eq!(u8::from(Encoding::from(id)), id);
        }
        assert_eq!(Encoding::from_u8(1), Encoding::Xor);
        assert_eq!(Encoding::from_u8(3), Encoding::FloatHistogram);
        assert_eq!(Encoding::from_u8(4), Encoding::Other(4));
        assert_eq!(Encoding::Xor.to_string(), "XOR");
        assert_eq!(Encoding::Other(9).to_string(), "encoding 9");
    }

    #[test]
    fn raw_chunks_pass_through() {
        let hist = RawChunk::new(Encoding::Histogram, Bytes::from_static(b"\x00\x01opaque"));
        assert_eq!(
            hist.float_iter().unwrap_err(),
            ChunkError::NotXor(Encoding::Histogram)
        );
        assert_eq!(hist.clone().data, hist.data);

        let mut c = XorChunk::new();
        c.append(1, 1.5).unwrap();
        c.append(2, 2.5).unwrap();
        let raw = RawChunk::from(c.clone());
        assert_eq!(raw.encoding, Encoding::Xor);
        assert_eq!(raw.data.as_ref(), c.bytes());
        let got: Vec<_> = raw.float_iter().unwrap().map(Result::unwrap).collect();
        assert_eq!(got, [(1, 1.5), (2, 2.5)]);

        let short = RawChunk::new(Encoding::Xor, Bytes::from_static(b"\x00"));
        assert_eq!(
            short.float_iter().unwrap_err(),
            ChunkError::MissingHeader { len: 1 }
        );
    }

    #[test]
    fn error_messages() {
        let e = ChunkError::UnexpectedEnd {
            sample: 3,
            field: "value",
            bit_offset: 120,
        };
        assert_eq!(
            e.to_string(),
            "chunk data ends at bit 120 while reading the value of sample 3"
        );
        assert_eq!(
            ChunkError::NotXor(Encoding::Other(4)).to_string(),
            "chunk encoding is encoding 4, not XOR"
        );
        assert_eq!(
            ChunkError::ChunkFull.to_string(),
            "chunk is full (65535 samples)"
        );
    }
}
