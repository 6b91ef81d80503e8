//! Byte-level helpers for record payloads: Prometheus' `encoding.Encbuf`
//! and `Decbuf` (big-endian fixed-width integers, Go `binary` varints and
//! zig-zag varints, uvarint-length-prefixed strings).
//!
//! Decoding never panics: every read checks the remaining length and
//! reports what it was reading when the bytes ran out.

use super::record::RecordError;

/// Appends `v` as an unsigned LEB128 varint (Go's `binary.PutUvarint`).
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` as a zig-zag varint (Go's `binary.PutVarint`).
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    let ux = ((v as u64) << 1) ^ ((v >> 63) as u64);
    put_uvarint(buf, ux);
}

/// Appends `v` big-endian.
pub(crate) fn put_be64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Appends the bits of `v` big-endian.
pub(crate) fn put_be64_f64(buf: &mut Vec<u8>, v: f64) {
    put_be64(buf, v.to_bits());
}

/// Appends `s` prefixed by its length as a uvarint.
pub(crate) fn put_uvarint_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over a record payload.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Decbuf { b }
    }

    /// Bytes left.
    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, RecordError> {
        let (&first, rest) = self
            .b
            .split_first()
            .ok_or(RecordError::Truncated { what })?;
        self.b = rest;
        Ok(first)
    }

    pub(crate) fn be64(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let Some((head, rest)) = self.b.split_first_chunk::<8>() else {
            return Err(RecordError::Truncated { what });
        };
        self.b = rest;
        Ok(u64::from_be_bytes(*head))
    }

    pub(crate) fn be64_f64(&mut self, what: &'static str) -> Result<f64, RecordError> {
        self.be64(what).map(f64::from_bits)
    }

    /// An unsigned varint as Go's `binary.Uvarint` reads it: at most ten
    /// bytes, the tenth at most 1.
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        for (i, &byte) in self.b.iter().enumerate().take(10) {
            if i == 9 && byte > 1 {
                return Err(RecordError::Invalid {
                    what,
                    message: "varint overflows 64 bits".into(),
                });
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                self.b = &self.b[i + 1..];
                return Ok(v);
            }
            shift += 7;
        }
        if self.b.len() >= 10 {
            return Err(RecordError::Invalid {
                what,
                message: "varint overflows 64 bits".into(),
            });
        }
        Err(RecordError::Truncated { what })
    }

    /// A zig-zag varint (Go's `binary.Varint`).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i64, RecordError> {
        let ux = self.uvarint(what)?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }

    /// A uvarint-length-prefixed byte string.
    pub(crate) fn uvarint_bytes(&mut self, what: &'static str) -> Result<&'a [u8], RecordError> {
        let len = self.uvarint(what)?;
        let len = usize::try_from(len).map_err(|_| RecordError::Truncated { what })?;
        if len > self.b.len() {
            return Err(RecordError::Truncated { what });
        }
        let (s, rest) = self.b.split_at(len);
        self.b = rest;
        Ok(s)
    }

    /// A uvarint-length-prefixed string; invalid UTF-8 is replaced (with
    /// U+FFFD) rather than rejected, so that a WAL written by another
    /// program never loses records over an encoding detail.
    pub(crate) fn uvarint_str(&mut self, what: &'static str) -> Result<String, RecordError> {
        let b = self.uvarint_bytes(what)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        // Values and encodings from Go's encoding/binary.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (
                i64::MAX,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for &(v, enc) in cases {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b, enc, "{v}");
            let mut d = Decbuf::new(&b);
            assert_eq!(d.varint("v").unwrap(), v);
            assert!(d.is_empty());
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
        assert_eq!(Decbuf::new(&b).uvarint("u").unwrap(), u64::MAX);
    }

    #[test]
    fn bad_varints() {
        assert!(Decbuf::new(&[0x80]).uvarint("u").is_err());
        assert!(Decbuf::new(&[0xff; 10]).uvarint("u").is_err());
        assert!(
            Decbuf::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .uvarint("u")
                .is_err()
        );
        assert!(Decbuf::new(&[5, b'a']).uvarint_bytes("s").is_err());
        assert_eq!(
            Decbuf::new(&[2, 0xff, b'a']).uvarint_str("s").unwrap(),
            "\u{fffd}a"
        );
    }
}
