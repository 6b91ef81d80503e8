//! The XOR ("Gorilla") float chunk, Prometheus encoding 1. The format is
//! described on [`XorChunk`].

use crate::bstream::{BitReader, BitWriter};
use crate::ChunkError;

/// Bytes of the sample-count header.
const HEADER_LEN: usize = 2;
/// `leading` value of an appender that has not chosen a window yet.
const NO_WINDOW: u32 = u32::MAX;

/// An XOR-encoded float chunk that owns its bytes and can be appended to.
///
/// [`bytes`](Self::bytes) is always a complete, valid chunk: it can be
/// written out or decoded between any two appends.
///
/// # Format
///
/// A 2-byte big-endian sample count, then a bit stream, most significant
/// bit first, padded with zero bits to a whole byte:
///
/// * Sample 0: the timestamp as a zig-zag varint, then the 64 raw bits of
///   the value.
/// * Sample 1: the timestamp delta as an unsigned varint, then the value.
/// * Later samples: the delta-of-delta of the timestamp behind a prefix code
///   (`0`: zero; `10`, `110`, `1110`: a 14-, 17- or 20-bit two's complement
///   payload, where n bits hold `-(2^(n-1) - 1) ..= 2^(n-1)`; `1111`: 64
///   bits), then the value.
/// * A value is XORed with the previous one. Zero is written as `0`. Else
///   `10` plus the significant bits if they fit in the current window of
///   leading and trailing zeros, or `11`, the leading-zero count (5 bits,
///   clamped to 31), the significant-bit count (6 bits, 64 written as 0) and
///   the significant bits, which then become the window.
///
/// All timestamp arithmetic wraps, as Go's does, so any sequence of `i64`
/// timestamps round-trips.
#[derive(Clone, Debug)]
pub struct XorChunk {
    w: BitWriter,
    num: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u32,
    trailing: u32,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// The most samples a chunk can hold: the count is a `u16`.
    pub const MAX_SAMPLES: usize = u16::MAX as usize;

    /// An empty chunk, with room for 128 bytes as in Prometheus.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0, 0]);
        Self {
            w: BitWriter::resume(buf, HEADER_LEN * 8),
            num: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Reopens an existing chunk for appending by decoding it to the end.
    ///
    /// Anything after the last sample's bits (padding, or the spare zero
    /// byte Prometheus before 3.0 sometimes wrote) is dropped, so
    /// [`bytes`](Self::bytes) may be shorter than `data`.
    ///
    /// The appender resumes in exactly the state it had after the last
    /// sample, so the bytes are the same as if the chunk had never been
    /// closed. (Prometheus' `Appender()` differs in one corner: if no value
    /// window was written yet, it resumes with a zero-width window instead
    /// of none, and its next value change costs `10` plus 64 bits. Both
    /// forms decode the same, here and in Prometheus.)
    pub fn reopen(data: Vec<u8>) -> Result<Self, ChunkError> {
        let mut it = XorIter::new(&data)?;
        if it.total == 0 {
            return Ok(Self::new());
        }
        for sample in it.by_ref() {
            sample?;
        }
        let bit_len = HEADER_LEN * 8 + it.r.bit_pos();
        let (num, t, v, t_delta, trailing) = (it.read, it.t, it.v, it.t_delta, it.trailing);
        let leading = if it.window { it.leading } else { NO_WINDOW };
        Ok(Self {
            w: BitWriter::resume(data, bit_len),
            num,
            t,
            v,
            t_delta,
            leading,
            trailing,
        })
    }

    /// The number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// The encoded chunk: header and bit stream, padded to a whole byte.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Gives up the encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_vec()
    }

    /// An iterator over the samples.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::from_parts(self.bytes(), self.num)
    }

    /// Appends a sample. Timestamps are expected to increase (rejecting
    /// others is the caller's job); values are stored bit for bit, so every
    /// NaN payload, `-0.0` and the infinities come back unchanged.
    ///
    /// Fails with [`ChunkError::ChunkFull`], leaving the chunk unchanged,
    /// when it already holds [`MAX_SAMPLES`](Self::MAX_SAMPLES).
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        let v = v.to_bits();
        match self.num {
            0 => {
                self.write_uvarint(((t << 1) ^ (t >> 63)) as u64);
                self.w.write_bits(v, 64);
            }
            1 => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                self.write_uvarint(t_delta);
                self.write_value(v);
                self.t_delta = t_delta;
            }
            u16::MAX => return Err(ChunkError::ChunkFull),
            _ => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                self.write_dod(t_delta.wrapping_sub(self.t_delta) as i64);
                self.write_value(v);
                self.t_delta = t_delta;
            }
        }
        self.t = t;
        self.v = v;
        self.num += 1;
        if let Some(header) = self.w.bytes_mut().first_chunk_mut::<HEADER_LEN>() {
            *header = self.num.to_be_bytes();
        }
        Ok(())
    }

    fn write_uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.w.write_bits(x | 0x80, 8);
            x >>= 7;
        }
        self.w.write_bits(x, 8);
    }

    #[inline]
    fn write_dod(&mut self, dod: i64) {
        // A payload of n bits holds -(2^(n-1) - 1) ..= 2^(n-1).
        let fits = |n: u32| -((1i64 << (n - 1)) - 1) <= dod && dod <= 1i64 << (n - 1);
        let d = dod as u64;
        if dod == 0 {
            self.w.write_bits(0, 1);
        } else if fits(14) {
            self.w.write_bits(0b10 << 14 | (d & 0x3FFF), 16);
        } else if fits(17) {
            self.w.write_bits(0b110 << 17 | (d & 0x1_FFFF), 20);
        } else if fits(20) {
            self.w.write_bits(0b1110 << 20 | (d & 0xF_FFFF), 24);
        } else {
            self.w.write_bits(0b1111, 4);
            self.w.write_bits(d, 64);
        }
    }

    #[inline]
    fn write_value(&mut self, v: u64) {
        let x = v ^ self.v;
        if x == 0 {
            self.w.write_bits(0, 1);
            return;
        }
        let leading = x.leading_zeros().min(31);
        let trailing = x.trailing_zeros();
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            let sig = 64 - self.leading - self.trailing;
            let payload = x >> self.trailing;
            if sig <= 62 {
                self.w.write_bits(0b10 << sig | payload, 2 + sig);
            } else {
                self.w.write_bits(0b10, 2);
                self.w.write_bits(payload, sig);
            }
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - leading - trailing;
            // `11`, 5 bits of leading zeros, 6 bits of significant-bit count
            // (64 wraps to 0).
            let head = 0b11 << 11 | u64::from(leading) << 6 | u64::from(sig & 63);
            let payload = x >> trailing;
            if sig <= 51 {
                self.w.write_bits(head << sig | payload, 13 + sig);
            } else {
                self.w.write_bits(head, 13);
                self.w.write_bits(payload, sig);
            }
        }
    }
}

/// An iterator over the samples of XOR chunk bytes, as `(timestamp, value)`.
///
/// Corrupt or truncated data yields one `Err` and then the iterator ends.
/// Bytes after the last sample are ignored, as Prometheus does.
#[derive(Clone, Debug)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    failed: bool,
    t: i64,
    v: u64,
    t_delta: u64,
    /// The value window. It starts as zero leading and trailing zeros, as
    /// in Prometheus, so a `10` before any `11` reads 64 bits.
    leading: u32,
    trailing: u32,
    /// Whether a window was read (for reopening).
    window: bool,
}

impl<'a> XorIter<'a> {
    /// Starts decoding chunk bytes (header included). Fails only if the
    /// header is missing; errors in the samples surface while iterating.
    pub fn new(data: &'a [u8]) -> Result<Self, ChunkError> {
        match data.first_chunk::<HEADER_LEN>() {
            Some(header) => Ok(Self::from_parts(data, u16::from_be_bytes(*header))),
            None => Err(ChunkError::MissingHeader { len: data.len() }),
        }
    }

    fn from_parts(data: &'a [u8], total: u16) -> Self {
        Self {
            r: BitReader::new(data.get(HEADER_LEN..).unwrap_or_default()),
            total,
            read: 0,
            failed: false,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            window: false,
        }
    }

    /// The sample count from the chunk header.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// Advances to the first sample with a timestamp `>= t` and returns it,
    /// or `Ok(None)` if there is none. If the sample returned last already
    /// qualifies, it is returned again and the iterator does not move, as
    /// with Prometheus' `Seek`. Assumes increasing timestamps.
    pub fn seek(&mut self, t: i64) -> Result<Option<(i64, f64)>, ChunkError> {
        if self.read > 0 && self.t >= t && !self.failed {
            return Ok(Some((self.t, f64::from_bits(self.v))));
        }
        for sample in self.by_ref() {
            let (st, sv) = sample?;
            if st >= t {
                return Ok(Some((st, sv)));
            }
        }
        Ok(None)
    }

    fn end(&self, field: &'static str) -> ChunkError {
        ChunkError::UnexpectedEnd {
            sample: self.read,
            field,
            bit_offset: self.bit_offset(),
        }
    }

    fn bit_offset(&self) -> usize {
        HEADER_LEN * 8 + self.r.bit_pos()
    }

    fn read_uvarint(&mut self, field: &'static str) -> Result<u64, ChunkError> {
        let start = self.bit_offset();
        let mut x = 0u64;
        for i in 0..10 {
            let b = self.r.read_bits(8).ok_or_else(|| self.end(field))?;
            if b < 0x80 {
                // The tenth byte may only carry the 64th bit.
                if i == 9 && b > 1 {
                    break;
                }
                return Ok(x | b << (7 * i));
            }
            x |= (b & 0x7F) << (7 * i);
        }
        Err(ChunkError::VarintOverflow {
            sample: self.read,
            bit_offset: start,
        })
    }

    #[inline]
    fn read_dod(&mut self) -> Result<i64, ChunkError> {
        const FIELD: &str = "timestamp delta-of-delta";
        let prefix = self.r.read_unary(4).ok_or_else(|| self.end(FIELD))?;
        let n = match prefix {
            0 => return Ok(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => {
                let bits = self.r.read_bits(64).ok_or_else(|| self.end(FIELD))?;
                return Ok(bits as i64);
            }
        };
        let bits = self.r.read_bits(n).ok_or_else(|| self.end(FIELD))? as i64;
        // Payloads above 2^(n-1) are negative.
        Ok(if bits > 1 << (n - 1) {
            bits - (1 << n)
        } else {
            bits
        })
    }

    #[inline]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        const FIELD: &str = "value";
        match self.r.read_unary(2).ok_or_else(|| self.end(FIELD))? {
            0 => return Ok(()),
            1 => {}
            _ => {
                let at = self.bit_offset();
                let head = self.r.read_bits(11).ok_or_else(|| self.end(FIELD))? as u32;
                let leading = head >> 6;
                let sig = match head & 63 {
                    0 => 64,
                    n => n,
                };
                if leading + sig > 64 {
                    return Err(ChunkError::InvalidValueWindow {
                        sample: self.read,
                        bit_offset: at,
                        leading: leading as u8,
                        significant: sig as u8,
                    });
                }
                self.leading = leading;
                self.trailing = 64 - leading - sig;
                self.window = true;
            }
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig).ok_or_else(|| self.end(FIELD))?;
        self.v ^= bits << self.trailing;
        Ok(())
    }

    #[inline]
    fn advance(&mut self) -> Result<(), ChunkError> {
        match self.read {
            0 => {
                let zz = self.read_uvarint("timestamp")?;
                self.t = (zz >> 1) as i64 ^ -((zz & 1) as i64);
                self.v = self.r.read_bits(64).ok_or_else(|| self.end("value"))?;
            }
            1 => {
                self.t_delta = self.read_uvarint("timestamp delta")?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        self.read += 1;
        Ok(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.read == self.total {
            return None;
        }
        match self.advance() {
            Ok(()) => Some(Ok((self.t, f64::from_bits(self.v)))),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            (0, Some(0))
        } else {
            (0, Some(usize::from(self.total - self.read)))
        }
    }
}

impl std::iter::FusedIterator for XorIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn encode(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c
    }

    fn decode(data: &[u8]) -> Vec<(i64, u64)> {
        XorIter::new(data)
            .unwrap()
            .map(|s| s.map(|(t, v)| (t, v.to_bits())).unwrap())
            .collect()
    }

    fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// `bytes` followed by the bit string `stream` (spaces ignored), padded
    /// with zero bits.
    fn pack(bytes: &[u8], stream: &str) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let (mut byte, mut n) = (0u8, 0);
        for ch in stream.chars().filter(|c| !c.is_whitespace()) {
            assert!(ch == '0' || ch == '1');
            byte = byte << 1 | u8::from(ch == '1');
            n += 1;
            if n == 8 {
                out.push(byte);
                (byte, n) = (0, 0);
            }
        }
        if n > 0 {
            out.push(byte << (8 - n));
        }
        out
    }

    #[test]
    fn empty_chunk() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), [0, 0]);
        assert_eq!(c.num_samples(), 0);
        assert_eq!(c.iter().next(), None);
        let c = XorChunk::reopen(vec![0, 0]).unwrap();
        assert_eq!(c.bytes(), [0, 0]);
    }

    // The known-bytes vectors below are derived by hand from the format
    // described on `XorChunk`.

    #[test]
    fn known_bytes_two_samples() {
        let samples = [(1000, 1.0), (16000, 2.0)];
        #[rustfmt::skip]
        let want = [
            0x00, 0x02,                   // two samples
            0xD0, 0x0F,                   // zig-zag 1000 = uvarint 2000
            0x3F, 0xF0, 0, 0, 0, 0, 0, 0, // 1.0
            0x98, 0x75,                   // uvarint 15000
            // 2.0 ^ 1.0 = 0x7FF0..: 1 leading, 52 trailing, 11 significant
            // bits: 11 00001 001011 11111111111
            0xC2, 0x5F, 0xFF,
        ];
        assert_eq!(encode(&samples).bytes(), want);
        assert_eq!(decode(&want), bits(&samples));
    }

    #[test]
    fn known_bytes_dod_buckets_and_windows() {
        let samples = [
            (0, 0.0),
            (15_000, 0.0),
            (30_000, 0.0),
            (45_001, 1.0),
            (60_000, 3.0),
            (75_000, 6.0),
            (100_000, 6.0),
            (225_000, 6.0),
            (1_398_576, 6.0),
        ];
        let mut head = vec![0x00, 0x09, 0x00];
        head.extend_from_slice(&[0; 8]); // 0.0
        head.extend_from_slice(&[0x98, 0x75]); // uvarint 15000
        let one_m = format!("{:064b}", 1u64 << 20);
        let stream = [
            "0",   // value unchanged
            "0 0", // dod 0, value unchanged
            // dod +1; 1.0 ^ 0.0: new window, 2 leading, 10 significant
            "10 00000000000001  11 00010 001010 1111111111",
            // dod -2; 3.0 ^ 1.0 = 0x7FF8..: 1 leading < 2, new window, 12 bits
            "10 11111111111110  11 00001 001100 111111111111",
            // dod +1; 6.0 ^ 3.0 = 0x0010..: fits the window, reused
            "10 00000000000001  10 000000000010",
            "110 00010011100010000  0",     // dod 10000 (17 bits)
            "1110 00011000011010100000  0", // dod 100000 (20 bits)
            "1111",
            &one_m,
            "0", // dod 2^20 (64 bits)
        ]
        .concat();
        let want = pack(&head, &stream);
        assert_eq!(encode(&samples).bytes(), want);
        assert_eq!(decode(&want), bits(&samples));
    }

    #[test]
    fn known_bytes_clamp_and_64_significant_bits() {
        // 1.0 ^ v1 = 1: 63 leading zeros, clamped to 31, so 33 significant
        // bits. v1 ^ v2 has no leading or trailing zeros: 64 significant
        // bits, written as 0.
        let v1 = f64::from_bits(0x3FF0_0000_0000_0001);
        let v2 = f64::from_bits(0x3FF0_0000_0000_0001 ^ 0x8000_0000_0000_0001);
        let samples = [(5, 1.0), (6, v1), (7, v2)];
        let head = [0x00, 0x03, 0x0A, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x01];
        let stream = format!(
            "11 11111 100001 {:033b}  0  11 00000 000000 {:064b}",
            1, 0x8000_0000_0000_0001u64
        );
        let want = pack(&head, &stream);
        assert_eq!(encode(&samples).bytes(), want);
        assert_eq!(decode(&want), bits(&samples));
    }

    #[test]
    fn dod_bucket_boundaries() {
        // A payload of n bits covers -(2^(n-1) - 1) ..= 2^(n-1).
        let cases: [(i64, String); 8] = [
            (8192, format!("10 {:014b}", 8192)),
            (-8191, format!("10 {:014b}", (1 << 14) - 8191)),
            (-8192, format!("110 {:017b}", (1 << 17) - 8192)),
            (65536, format!("110 {:017b}", 65536)),
            (-65536, format!("1110 {:020b}", (1 << 20) - 65536)),
            (524_288, format!("1110 {:020b}", 524_288)),
            (-524_288, format!("1111 {:064b}", -524_288i64)),
            (524_289, format!("1111 {:064b}", 524_289)),
        ];
        for (dod, bits_str) in cases {
            let base = 1_000_000_000;
            let samples = [(0, 1.0), (base, 1.0), (2 * base + dod, 1.0)];
            let mut head = vec![0x00, 0x03, 0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0];
            head.extend_from_slice(&[0x80, 0x94, 0xEB, 0xDC, 0x03]); // uvarint 1e9
            let want = pack(&head, &format!("0 {bits_str} 0"));
            assert_eq!(encode(&samples).bytes(), want, "dod {dod}");
            assert_eq!(decode(&want), bits(&samples), "dod {dod}");
        }
    }

    #[test]
    fn special_values_round_trip() {
        let specials = [
            f64::from_bits(STALE_NAN),
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::from_bits(STALE_NAN),
            f64::from_bits(STALE_NAN),
        ];
        let samples: Vec<_> = specials
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 15_000 - 100_000, v))
            .collect();
        assert_eq!(decode(encode(&samples).bytes()), bits(&samples));
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let samples = [
            (i64::MIN, 1.0),
            (i64::MIN + 1, 2.0),
            (-1, 3.0),
            (0, 4.0),
            (1, 4.0),
            (i64::MAX - 1, 5.0),
            (i64::MAX, 6.0),
        ];
        assert_eq!(decode(encode(&samples).bytes()), bits(&samples));
        // Timestamps that go backwards still round-trip; only seek assumes
        // order.
        let samples = [(10, 1.0), (5, 1.0), (i64::MAX, 1.0), (i64::MIN, 0.5)];
        assert_eq!(decode(encode(&samples).bytes()), bits(&samples));
    }

    #[test]
    fn capacity_limit_is_an_error() {
        let mut c = XorChunk::new();
        for i in 0..XorChunk::MAX_SAMPLES {
            c.append(i as i64 * 1000, i as f64).unwrap();
        }
        let before = c.bytes().to_vec();
        assert_eq!(c.append(i64::MAX, 0.0), Err(ChunkError::ChunkFull));
        assert_eq!(c.bytes(), before);
        assert_eq!(c.num_samples(), 65535);
        assert_eq!(c.iter().count(), 65535);
        let mut c = XorChunk::reopen(before).unwrap();
        assert_eq!(c.append(i64::MAX, 0.0), Err(ChunkError::ChunkFull));
    }

    #[test]
    fn reopen_continues_the_stream() {
        let samples: Vec<_> = (0..50)
            .map(|i| (i * 15_000 + (i * i) % 7, (i as f64 * 0.37).sin()))
            .collect();
        for split in 0..=samples.len() {
            let first = encode(&samples[..split]);
            let mut c = XorChunk::reopen(first.bytes().to_vec()).unwrap();
            assert_eq!(c.num_samples(), split);
            for &(t, v) in &samples[split..] {
                c.append(t, v).unwrap();
            }
            assert_eq!(c.bytes(), encode(&samples).bytes(), "split {split}");
        }
    }

    #[test]
    fn reopen_before_any_window() {
        // No value window is written before the reopen (the values are
        // equal); the reopened appender still has none and writes a new one.
        let first = encode(&[(0, 1.0), (1, 1.0)]);
        let mut c = XorChunk::reopen(first.into_bytes()).unwrap();
        c.append(2, 2.0).unwrap();
        let direct = encode(&[(0, 1.0), (1, 1.0), (2, 2.0)]);
        assert_eq!(c.bytes(), direct.bytes());
    }

    #[test]
    fn decodes_reuse_before_any_window() {
        // What Prometheus writes after reopening such a chunk: `10` with
        // the initial zero-width window, i.e. 64 bits.
        let mut head = [0x00, 0x03, 0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x01];
        let stream = format!("0  0  10 {:064b}", 0x7FF0u64 << 48);
        let data = pack(&head, &stream);
        assert_eq!(decode(&data), bits(&[(0, 1.0), (1, 1.0), (2, 2.0)]));
        // Reopened, it still has no window: the next change (3.0 ^ 2.0:
        // 12 leading, 51 trailing) writes one.
        let mut c = XorChunk::reopen(data).unwrap();
        c.append(3, 3.0).unwrap();
        head[1] = 4;
        let want = pack(&head, &format!("{stream}  0  11 01100 000001 1"));
        assert_eq!(c.bytes(), want);
        assert_eq!(
            decode(c.bytes()),
            bits(&[(0, 1.0), (1, 1.0), (2, 2.0), (3, 3.0)])
        );
    }

    #[test]
    fn reopen_drops_trailing_bytes_and_padding_garbage() {
        let c = encode(&[(0, 1.0), (1, 2.0), (2, 2.0)]);
        let mut data = c.bytes().to_vec();
        // Garbage in the padding bits of the last byte, and an extra byte.
        if let Some(last) = data.last_mut() {
            *last |= 0x3F;
        }
        data.push(0xAB);
        assert_eq!(decode(&data), decode(c.bytes()));
        let mut r = XorChunk::reopen(data).unwrap();
        assert_eq!(r.bytes(), c.bytes());
        r.append(3, 3.0).unwrap();
        assert_eq!(
            decode(r.bytes()),
            bits(&[(0, 1.0), (1, 2.0), (2, 2.0), (3, 3.0)])
        );
    }

    #[test]
    fn seek() {
        let samples: Vec<_> = (0..10).map(|i| (i * 10, i as f64)).collect();
        let c = encode(&samples);
        let mut it = c.iter();
        assert_eq!(it.seek(-5).unwrap(), Some((0, 0.0)));
        assert_eq!(it.seek(0).unwrap(), Some((0, 0.0)));
        assert_eq!(it.seek(15).unwrap(), Some((20, 2.0)));
        assert_eq!(it.seek(20).unwrap(), Some((20, 2.0)));
        assert_eq!(it.next().unwrap().unwrap(), (30, 3.0));
        assert_eq!(it.seek(10).unwrap(), Some((30, 3.0)));
        assert_eq!(it.seek(90).unwrap(), Some((90, 9.0)));
        assert_eq!(it.seek(91).unwrap(), None);
        assert_eq!(it.next(), None);
        assert_eq!(c.iter().seek(i64::MAX).unwrap(), None);
        assert_eq!(XorChunk::new().iter().seek(i64::MIN).unwrap(), None);
    }

    #[test]
    fn truncation_is_reported() {
        let c = encode(&[(1000, 1.0), (16000, 2.0), (31000, 2.5)]);
        let full = c.bytes();
        for len in 0..full.len() {
            let data = &full[..len];
            let it = match XorIter::new(data) {
                Ok(it) => it,
                Err(e) => {
                    assert_eq!(e, ChunkError::MissingHeader { len });
                    continue;
                }
            };
            let last = it.last().unwrap();
            match last {
                Err(ChunkError::UnexpectedEnd { bit_offset, .. }) => {
                    assert!(bit_offset <= len * 8)
                }
                other => panic!("len {len}: {other:?}"),
            }
            assert!(XorChunk::reopen(data.to_vec()).is_err());
        }
        // The first sample's value is cut short.
        assert_eq!(
            XorIter::new(&full[..8]).unwrap().next(),
            Some(Err(ChunkError::UnexpectedEnd {
                sample: 0,
                field: "value",
                bit_offset: 32
            }))
        );
    }

    #[test]
    fn corrupt_data_errors() {
        // A varint that never ends.
        let data = [
            0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(
            XorIter::new(&data).unwrap().next(),
            Some(Err(ChunkError::VarintOverflow {
                sample: 0,
                bit_offset: 16
            }))
        );
        // A ten-byte varint whose last byte holds more than the 64th bit...
        let mut data = vec![0, 1];
        data.extend_from_slice(&[0x80; 9]);
        data.push(0x02);
        data.extend_from_slice(&[0; 8]);
        assert!(matches!(
            XorIter::new(&data).unwrap().next(),
            Some(Err(ChunkError::VarintOverflow { .. }))
        ));
        // ... but the 64th bit alone is fine (zig-zag 2^63 is 2^62).
        data[11] = 0x01;
        assert_eq!(decode(&data), vec![(1 << 62, 0)]);
        // A value window of 31 leading zeros and 64 significant bits.
        let head = [0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
        let data = pack(&head, &format!("11 11111 000000 {:064b}", 0));
        let mut it = XorIter::new(&data).unwrap();
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(ChunkError::InvalidValueWindow {
                sample: 1,
                bit_offset: 96 + 2,
                leading: 31,
                significant: 64
            }))
        );
        assert_eq!(it.next(), None);
        assert!(XorChunk::reopen(data).is_err());
    }
}
