//! Record compression: snappy (block format) for writing and reading,
//! zstd for reading only.

use std::io::Read;

/// How the writer compresses records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records are stored as they are.
    None,
    /// Snappy block format, as `--storage.tsdb.wal-compression` (on by
    /// default since Prometheus 2.20, and in 2.42) writes. A record is
    /// stored compressed only when that makes it smaller.
    #[default]
    Snappy,
}

/// Largest record the reader decompresses; larger claims are corruption.
/// Prometheus' own records are at most a few MiB (checkpoints log in 1 MiB
/// batches); this only bounds what damaged bytes can make us allocate.
pub(crate) const MAX_DECOMPRESSED: usize = 256 << 20;

/// Compresses `rec` with snappy into `out`; returns whether the result is
/// smaller than `rec` (if not, `rec` should be stored as it is).
pub(crate) fn snappy_compress(enc: &mut snap::raw::Encoder, rec: &[u8], out: &mut Vec<u8>) -> bool {
    let max = snap::raw::max_compress_len(rec.len());
    if rec.is_empty() || max == 0 {
        return false;
    }
    out.clear();
    out.resize(max, 0);
    match enc.compress(rec, out) {
        Ok(n) => {
            out.truncate(n);
            n < rec.len()
        }
        Err(_) => false,
    }
}

/// Decompresses a snappy block into `out` (replacing its contents).
pub(crate) fn snappy_decompress(data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let len = snap::raw::decompress_len(data).map_err(|e| format!("snappy: {e}"))?;
    // Snappy expands at most ~21x (a 3-byte copy of 64 bytes): a larger
    // claim is damage, and must not make us allocate it.
    if len > MAX_DECOMPRESSED || len > data.len().saturating_mul(22).saturating_add(64) {
        return Err(format!("snappy: decompressed length {len} is too large"));
    }
    out.clear();
    out.resize(len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(data, out)
        .map_err(|e| format!("snappy: {e}"))?;
    out.truncate(n);
    Ok(())
}

/// Decompresses zstd frames into `out` (replacing its contents).
pub(crate) fn zstd_decompress(data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut rest = data;
    // Prometheus writes one frame per record; accept several, like
    // DecodeAll does.
    while !rest.is_empty() {
        let before = rest.len();
        let mut dec =
            ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| format!("zstd: {e}"))?;
        let limit = (MAX_DECOMPRESSED - out.len()) as u64 + 1;
        (&mut dec)
            .take(limit)
            .read_to_end(out)
            .map_err(|e| format!("zstd: {e}"))?;
        if out.len() > MAX_DECOMPRESSED {
            return Err("zstd: decompressed record is too large".into());
        }
        if rest.len() >= before {
            return Err("zstd: frame consumed no input".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_roundtrip_and_incompressible() {
        let mut enc = snap::raw::Encoder::new();
        let rec = vec![7u8; 1000];
        let mut c = Vec::new();
        assert!(snappy_compress(&mut enc, &rec, &mut c));
        let mut d = Vec::new();
        snappy_decompress(&c, &mut d).unwrap();
        assert_eq!(d, rec);
        assert!(!snappy_compress(&mut enc, &[1, 2, 3], &mut c));
        assert!(!snappy_compress(&mut enc, &[], &mut c));
        assert!(snappy_decompress(&[0xff, 0xff, 0xff, 0xff, 0x7f], &mut d).is_err());
    }

    #[test]
    fn zstd_reads_frames() {
        let rec: Vec<u8> = (0..5000u32).flat_map(|i| (i % 17).to_be_bytes()).collect();
        let c = ruzstd::encoding::compress_to_vec(
            &rec[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let mut d = Vec::new();
        zstd_decompress(&c, &mut d).unwrap();
        assert_eq!(d, rec);
        let mut two = c.clone();
        two.extend_from_slice(&c);
        zstd_decompress(&two, &mut d).unwrap();
        assert_eq!(d.len(), 2 * rec.len());
        assert!(zstd_decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0], &mut d).is_err());
        assert!(zstd_decompress(&[1, 2, 3, 4, 5], &mut d).is_err());
    }
}
