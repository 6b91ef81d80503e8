//! Byte-level encoding shared by the writer and the reader: Go-compatible
//! varints, big-endian integers, length-prefixed strings, CRC32-Castagnoli
//! framed sections, and a bounds-checked decoder that reports the absolute
//! file offset of whatever it fails to read.

use crate::IndexError;

/// Magic number at the start of an index file.
pub(crate) const MAGIC: u32 = 0xBAAA_D700;
/// The only format version this crate writes and reads.
pub(crate) const FORMAT_V2: u8 = 2;
/// Magic plus version byte.
pub(crate) const HEADER_LEN: usize = 5;
/// Six big-endian `u64` section offsets and a CRC32.
pub(crate) const TOC_LEN: usize = 6 * 8 + 4;
/// Series entries start on multiples of this; a series ID is offset / 16.
pub(crate) const SERIES_ALIGN: u64 = 16;

/// Appends `v` as a Go `binary.PutUvarint`.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zig-zag encoded, as Go's `binary.PutVarint`.
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a big-endian `u32`.
pub(crate) fn put_be32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian `u64`.
pub(crate) fn put_be64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Appends a uvarint length followed by the string's bytes.
pub(crate) fn put_uvarint_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A bounds-checked cursor over untrusted bytes. Every read either succeeds
/// or returns [`IndexError::Corrupt`] naming what was being read and the
/// absolute file offset where it failed.
#[derive(Clone)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute file offset of `buf[0]`, for error messages.
    base: u64,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`, which starts at file offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: u64) -> Self {
        Decoder { buf, pos: 0, base }
    }

    /// Absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A corruption error at the current position.
    pub(crate) fn corrupt(&self, what: &'static str) -> IndexError {
        IndexError::Corrupt {
            what,
            offset: self.offset(),
        }
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], IndexError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.corrupt(what))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// A big-endian `u32`.
    pub(crate) fn be32(&mut self, what: &'static str) -> Result<u32, IndexError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian `u64`.
    pub(crate) fn be64(&mut self, what: &'static str) -> Result<u64, IndexError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A uvarint as Go's `binary.Uvarint` reads it: at most ten bytes, and
    /// the tenth may only contribute the top bit.
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64, IndexError> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                self.pos = start;
                return Err(self.corrupt(what));
            };
            self.pos += 1;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    self.pos = start;
                    return Err(self.corrupt(what));
                }
                return Ok(v | (u64::from(b) << (7 * i)));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
        }
        self.pos = start;
        Err(self.corrupt(what))
    }

    /// A uvarint that must fit in `u32`.
    pub(crate) fn uvarint32(&mut self, what: &'static str) -> Result<u32, IndexError> {
        let at = self.clone();
        let v = self.uvarint(what)?;
        u32::try_from(v).map_err(|_| at.corrupt(what))
    }

    /// A uvarint that must fit in `usize` (a length or count).
    pub(crate) fn uvarint_usize(&mut self, what: &'static str) -> Result<usize, IndexError> {
        let at = self.clone();
        let v = self.uvarint(what)?;
        usize::try_from(v).map_err(|_| at.corrupt(what))
    }

    /// A zig-zag varint.
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i64, IndexError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint-length-prefixed byte string.
    pub(crate) fn uvarint_bytes(&mut self, what: &'static str) -> Result<&'a [u8], IndexError> {
        let n = self.uvarint_usize(what)?;
        self.bytes(n, what)
    }

    /// A uvarint-length-prefixed UTF-8 string.
    pub(crate) fn uvarint_str(&mut self, what: &'static str) -> Result<&'a str, IndexError> {
        let at = self.offset();
        let b = self.uvarint_bytes(what)?;
        std::str::from_utf8(b).map_err(|_| IndexError::Corrupt {
            what: "invalid UTF-8 in string",
            offset: at,
        })
    }
}

/// Reads the big-endian `u32` at `off` in `data`.
pub(crate) fn be32_at(data: &[u8], off: usize, what: &'static str) -> Result<u32, IndexError> {
    let end = off.checked_add(4).filter(|&e| e <= data.len());
    match end {
        Some(end) => {
            let b = &data[off..end];
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        None => Err(IndexError::Corrupt {
            what,
            offset: off as u64,
        }),
    }
}

/// Reads the framed section at `off`: a 4-byte big-endian length, that many
/// bytes, then a CRC32-Castagnoli of those bytes. Returns the checked body
/// (the bytes after the length field).
pub(crate) fn section_at<'a>(
    data: &'a [u8],
    off: u64,
    what: &'static str,
) -> Result<&'a [u8], IndexError> {
    let start = usize::try_from(off).map_err(|_| IndexError::Corrupt { what, offset: off })?;
    let len = be32_at(data, start, what)? as usize;
    let body_start = start + 4;
    let body = body_start
        .checked_add(len)
        .and_then(|end| data.get(body_start..end))
        .ok_or(IndexError::Corrupt {
            what,
            offset: body_start as u64,
        })?;
    let crc_off = body_start + len;
    let expected = be32_at(data, crc_off, what)?;
    check_crc(body, expected, what, body_start as u64)?;
    Ok(body)
}

/// Compares `body`'s CRC32-Castagnoli with `expected`.
pub(crate) fn check_crc(
    body: &[u8],
    expected: u32,
    section: &'static str,
    offset: u64,
) -> Result<(), IndexError> {
    let actual = crc32c::crc32c(body);
    if actual == expected {
        Ok(())
    } else {
        Err(IndexError::Checksum {
            section,
            offset,
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_castagnoli() {
        assert_eq!(MAGIC, 0xBAAA_D700);
        // The standard CRC32-C check value.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn varints_match_go() {
        let cases: [(u64, &[u8]); 5] = [
            (0, &[0]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
        ];
        for (v, want) in cases {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b, want);
            assert_eq!(Decoder::new(&b, 0).uvarint("x").unwrap(), v);
        }
        for v in [0i64, -1, 1, -64, 63, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Decoder::new(&b, 0).varint("x").unwrap(), v);
        }
        let mut b = Vec::new();
        put_varint(&mut b, -1);
        assert_eq!(b, [1]);
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
        assert_eq!(Decoder::new(&b, 0).uvarint("x").unwrap(), u64::MAX);
    }

    #[test]
    fn decoder_rejects_overflow_and_truncation() {
        let over = [0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>();
        assert!(Decoder::new(&over, 0).uvarint("x").is_err());
        assert!(Decoder::new(&[0x80], 0).uvarint("x").is_err());
        let err = Decoder::new(&[0, 1], 100).be32("thing").unwrap_err();
        assert!(matches!(
            err,
            IndexError::Corrupt {
                what: "thing",
                offset: 100
            }
        ));
        let mut d = Decoder::new(&[3, b'a', b'b'], 7);
        assert!(d.uvarint_str("s").is_err());
        assert!(Decoder::new(&[2, 0xff, 0xfe], 0).uvarint_str("s").is_err());
        let big = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert!(Decoder::new(&big, 0).uvarint32("x").is_err());
    }
}
