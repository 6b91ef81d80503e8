//! Bit streams, most significant bit first, as used by Prometheus' chunk
//! encodings.
//!
//! The writer appends to a `Vec<u8>` whose last byte may be partly used; its
//! unused low bits are always zero, so the vector is at every moment a valid
//! encoding padded with zero bits. The reader pulls whole bytes into a 64-bit
//! buffer and hands out bits from its top; reads never consume anything when
//! they fail, so callers can report the offset of the failed read.

/// Appends bits to a byte vector.
#[derive(Clone, Debug)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Unused low bits of the last byte, `0..=7`.
    free: u32,
}

impl BitWriter {
    /// Continues writing after the first `bit_len` bits of `buf`. Bytes past
    /// that point are dropped and the unused bits of the last byte cleared.
    pub(crate) fn resume(mut buf: Vec<u8>, bit_len: usize) -> Self {
        buf.truncate(bit_len.div_ceil(8));
        // `bit_len` may exceed the vector if the caller got it wrong; never
        // claim free bits in a byte that is not there.
        let free = if buf.len() * 8 > bit_len {
            (buf.len() * 8 - bit_len) as u32
        } else {
            0
        };
        if let Some(last) = buf.last_mut() {
            *last &= !((1u16 << free) - 1) as u8;
        }
        Self { buf, free }
    }

    /// The bytes written so far, the last one padded with zero bits.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access to the bytes written so far (to patch headers).
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Gives the underlying vector back.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the low `n` bits of `v`, most significant first. `n` must be
    /// in `1..=64`; higher bits of `v` are ignored.
    #[inline]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n));
        let mut v = v << (64 - n);
        let mut n = n;
        if self.free > 0 {
            let free = self.free;
            if let Some(last) = self.buf.last_mut() {
                *last |= (v >> (64 - free)) as u8;
            }
            if n <= free {
                self.free = free - n;
                return;
            }
            v <<= free;
            n -= free;
        }
        // `n` is in 1..=64: append the bytes it touches with one fixed-size
        // copy, then drop the ones not needed.
        let len = self.buf.len();
        let nbytes = n.div_ceil(8);
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.buf.truncate(len + nbytes as usize);
        self.free = nbytes * 8 - n;
    }
}

/// Reads bits from a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load into `buf`.
    pos: usize,
    /// Bits not yet consumed, left-aligned. Bits below the top `avail` are
    /// either zero or a prefix of `data[pos]`, so loading that byte with an
    /// OR at the same place leaves them intact.
    buf: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Bits consumed so far.
    #[inline]
    pub(crate) fn bit_pos(&self) -> usize {
        self.pos * 8 - self.avail as usize
    }

    /// Tops `buf` up to at least 57 bits, or to the end of the data.
    #[inline]
    fn refill(&mut self) {
        if self.avail > 56 {
            return;
        }
        let word = self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<8>());
        if let Some(word) = word {
            self.buf |= u64::from_be_bytes(*word) >> self.avail;
            let added = (64 - self.avail) / 8;
            self.pos += added as usize;
            self.avail += added * 8;
        } else {
            while self.avail <= 56 {
                let Some(&byte) = self.data.get(self.pos) else {
                    break;
                };
                self.buf |= u64::from(byte) << (56 - self.avail);
                self.pos += 1;
                self.avail += 8;
            }
        }
    }

    /// Reads `n` bits, `n` in `1..=56`.
    #[inline]
    fn read_short(&mut self, n: u32) -> Option<u64> {
        debug_assert!((1..=56).contains(&n));
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return None;
            }
        }
        let v = self.buf >> (64 - n);
        self.buf <<= n;
        self.avail -= n;
        Some(v)
    }

    /// Reads `n` bits, `n` in `1..=64`, into the low bits of the result.
    /// Consumes nothing if fewer than `n` bits are left.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n <= 56 {
            return self.read_short(n);
        }
        let left = (self.data.len() - self.pos) * 8 + self.avail as usize;
        if left < n as usize {
            return None;
        }
        let hi = self.read_short(n - 32)?;
        let lo = self.read_short(32)?;
        Some(hi << 32 | lo)
    }

    /// Reads a unary prefix of at most `max` one bits (`max` in `1..=56`):
    /// counts one bits up to and including the first zero bit, or stops
    /// after `max` ones. Returns the number of ones. Consumes nothing if the
    /// data ends before the prefix does.
    #[inline]
    pub(crate) fn read_unary(&mut self, max: u32) -> Option<u32> {
        if self.avail < max {
            self.refill();
        }
        // Count only bits that are really there: past `avail` the buffer may
        // hold zero padding that must not terminate the prefix.
        let ones = (!self.buf).leading_zeros().min(max).min(self.avail);
        let used = if ones == max {
            max
        } else if ones < self.avail {
            ones + 1
        } else {
            return None;
        };
        self.buf <<= used;
        self.avail -= used;
        Some(ones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_packs_bits_msb_first() {
        let mut w = BitWriter::resume(Vec::new(), 0);
        w.write_bits(0b1, 1);
        w.write_bits(0b01, 2);
        w.write_bits(0xABCD, 16);
        w.write_bits(u64::MAX, 64);
        // 1 01 1010101111001101 then 64 ones, then 5 zero padding bits.
        assert_eq!(
            w.bytes(),
            [
                0b1011_0101,
                0b0111_1001,
                0b1011_1111,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0b1110_0000
            ]
        );
    }

    #[test]
    fn resume_truncates_and_clears_padding() {
        let w = BitWriter::resume(vec![0xFF, 0xFF, 0xFF], 12);
        assert_eq!(w.bytes(), [0xFF, 0xF0]);
        let mut w = BitWriter::resume(vec![0xFF, 0xFF], 16);
        w.write_bits(1, 1);
        assert_eq!(w.bytes(), [0xFF, 0xFF, 0x80]);
        // A bit length past the data keeps what is there.
        let w = BitWriter::resume(vec![0xAA], 20);
        assert_eq!(w.bytes(), [0xAA]);
    }

    #[test]
    fn reader_reads_back_every_width() {
        let mut w = BitWriter::resume(Vec::new(), 0);
        let mut expected = Vec::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..3 {
            for n in 1..=64u32 {
                x = x.rotate_left(7) ^ (u64::from(n) * 0x1234_5678 + round);
                let v = if n == 64 { x } else { x & ((1 << n) - 1) };
                w.write_bits(v, n);
                expected.push((v, n));
            }
        }
        let mut r = BitReader::new(w.bytes());
        let mut pos = 0;
        for (v, n) in expected {
            assert_eq!(r.bit_pos(), pos);
            assert_eq!(r.read_bits(n), Some(v), "width {n}");
            pos += n as usize;
        }
        // Only padding is left, fewer than 8 bits of it.
        assert!(r.read_bits(8).is_none());
        assert_eq!(r.bit_pos(), pos);
    }

    #[test]
    fn failed_reads_consume_nothing() {
        let data = [0xFF, 0x00, 0x0F];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(4), Some(0xF));
        assert!(r.read_bits(64).is_none());
        assert!(r.read_bits(21).is_none());
        assert_eq!(r.bit_pos(), 4);
        assert_eq!(r.read_bits(20), Some(0xF_000F));
        assert!(r.read_bits(1).is_none());
        assert_eq!(r.bit_pos(), 24);
    }

    #[test]
    fn unary_prefix() {
        // 0 | 10 | 110 | 1110 | 1111 | 11, read with a maximum of 4
        let mut w = BitWriter::resume(Vec::new(), 0);
        w.write_bits(0b0101_1011_1011_1111, 16);
        let mut r = BitReader::new(w.bytes());
        assert_eq!(r.read_unary(4), Some(0));
        assert_eq!(r.read_unary(4), Some(1));
        assert_eq!(r.read_unary(4), Some(2));
        assert_eq!(r.read_unary(4), Some(3));
        assert_eq!(r.read_unary(4), Some(4));
        // Two ones left and the stream ends: the prefix is unterminated.
        assert_eq!(r.bit_pos(), 14);
        assert_eq!(r.read_unary(4), None);
        assert_eq!(r.bit_pos(), 14);
        assert_eq!(r.read_unary(2), Some(2));
        assert_eq!(r.read_unary(1), None);
    }

    #[test]
    fn unary_ignores_zero_padding_past_the_end() {
        let data = [0b1111_1110];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(7), Some(0x7F));
        assert_eq!(r.read_unary(4), Some(0));
        assert_eq!(r.read_unary(4), None);
        let data = [0b1111_1111];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(6), Some(0x3F));
        assert_eq!(r.read_unary(4), None);
        assert_eq!(r.bit_pos(), 6);
    }
}
