//! Chunk segment files: the `chunks/` directory of a block.
//!
//! A block stores its chunks in numbered segment files `000001`,
//! `000002`, ... of at most 512 MiB. Each starts with an 8-byte header
//! (magic `0x85BD40DD` big-endian, format version 1, three zero bytes)
//! followed by chunks, each written as
//!
//! ```text
//! ┌───────────────┬──────────────┬────────────┬──────────────────┐
//! │ len <uvarint> │ encoding <1> │ data <len> │ CRC32C <4, BE>   │
//! └───────────────┴──────────────┴────────────┴──────────────────┘
//! ```
//!
//! where the checksum (Castagnoli) covers the encoding byte and the data.
//! A [`ChunkRef`] addresses a chunk as `segment << 32 | offset`, where
//! `segment` is the 0-based position of the file among the directory's
//! segment files (so `000001` is segment 0) and `offset` the position of
//! the chunk's length field in it.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ember_chunks::{Encoding, RawChunk};

use crate::error::{IoContext, TsdbError};
use crate::mmap;

/// Magic number at the start of every chunk segment file.
pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// The only chunk segment format version.
pub const CHUNKS_FORMAT_V1: u8 = 1;
/// Bytes of the segment header: magic, version, padding.
pub const SEGMENT_HEADER_SIZE: usize = 8;
/// Largest segment file the writer produces, as in Prometheus.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;
/// Bytes reserved for a chunk's length field when planning segments (the
/// longest 32-bit uvarint).
const MAX_LEN_FIELD: u64 = 5;
/// Encoding byte plus checksum.
const CHUNK_OVERHEAD: u64 = 1 + 4;

/// The name of the chunk directory inside a block.
pub const CHUNKS_DIR: &str = "chunks";

/// Where a chunk lives in a block: segment index in the upper 32 bits,
/// byte offset in the lower 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChunkRef(pub u64);

impl ChunkRef {
    /// The reference of the chunk at `offset` in segment `segment` (0-based).
    pub fn new(segment: u32, offset: u32) -> Self {
        ChunkRef((u64::from(segment) << 32) | u64::from(offset))
    }

    /// The 0-based segment index.
    pub fn segment(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The byte offset in the segment.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// The file name of segment number `n` (1-based): at least six digits.
pub fn segment_file_name(n: u64) -> String {
    format!("{n:06}")
}

/// Writes chunk segment files into a directory.
///
/// Chunks are written series by series with [`write_chunks`]; the chunks
/// of one call stay in one segment unless they do not fit, exactly as
/// Prometheus splits them. [`finish`] flushes and syncs everything.
///
/// [`write_chunks`]: ChunkWriter::write_chunks
/// [`finish`]: ChunkWriter::finish
pub struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    /// Number of segment files created so far.
    segments: u32,
    out: Option<BufWriter<File>>,
    /// Bytes written to the current segment, header included.
    n: u64,
    /// Bytes written to all segments.
    total: u64,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer creating segments of at most 512 MiB in `dir`, which is
    /// created if needed. No file is created until the first chunk.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, TsdbError> {
        Self::with_segment_size(dir, DEFAULT_SEGMENT_SIZE)
    }

    /// Like [`create`](Self::create) with another segment size (tests use
    /// small ones). A segment still receives at least one chunk.
    pub fn with_segment_size(dir: impl AsRef<Path>, segment_size: u64) -> Result<Self, TsdbError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(ChunkWriter {
            dir,
            segment_size: if segment_size == 0 {
                DEFAULT_SEGMENT_SIZE
            } else {
                segment_size
            },
            segments: 0,
            out: None,
            n: 0,
            total: 0,
            buf: Vec::with_capacity(16),
        })
    }

    fn current_path(&self) -> PathBuf {
        self.dir
            .join(segment_file_name(u64::from(self.segments.max(1))))
    }

    /// Flushes, syncs and closes the current segment.
    fn finalize_tail(&mut self) -> Result<(), TsdbError> {
        if let Some(out) = self.out.take() {
            let path = self.current_path();
            let file = out
                .into_inner()
                .map_err(|e| TsdbError::io(&path, e.into_error()))?;
            file.sync_all().at(&path)?;
        }
        Ok(())
    }

    /// Starts the next segment file.
    fn cut(&mut self) -> Result<(), TsdbError> {
        self.finalize_tail()?;
        self.segments = self
            .segments
            .checked_add(1)
            .ok_or_else(|| TsdbError::InvalidInput("too many chunk segments".into()))?;
        let path = self.current_path();
        let file = File::create(&path).at(&path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; SEGMENT_HEADER_SIZE];
        header[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        out.write_all(&header).at(&path)?;
        self.out = Some(out);
        self.n = SEGMENT_HEADER_SIZE as u64;
        self.total += SEGMENT_HEADER_SIZE as u64;
        Ok(())
    }

    /// Writes the chunks of one series and appends their references to
    /// `refs`, in order.
    ///
    /// As in Prometheus, the chunks go into the current segment while they
    /// fit; the rest starts a new segment (never an empty one).
    pub fn write_chunks(
        &mut self,
        chunks: &[(Encoding, &[u8])],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), TsdbError> {
        if chunks.is_empty() {
            return Ok(());
        }
        for (_, data) in chunks {
            if data.len() > u32::MAX as usize {
                return Err(TsdbError::InvalidInput(format!(
                    "chunk of {} bytes is too large",
                    data.len()
                )));
            }
        }
        if self.out.is_none() {
            self.cut()?;
        }
        // Plan the batches: Prometheus' rule, with the length field counted
        // at its maximum size.
        let header = SEGMENT_HEADER_SIZE as u64;
        let mut batch_size = 0u64;
        let mut first_batch = true;
        let mut starts = vec![0usize];
        for (i, (_, data)) in chunks.iter().enumerate() {
            let size = MAX_LEN_FIELD + CHUNK_OVERHEAD + data.len() as u64;
            batch_size += size;
            let mut cut = i != 0 && batch_size + header > self.segment_size;
            if first_batch && self.n > header {
                cut = batch_size + self.n > self.segment_size;
                if cut {
                    first_batch = false;
                }
            }
            if cut {
                starts.push(i);
                batch_size = size;
            }
        }
        // A first batch that is empty means the whole series goes to a
        // new segment.
        for (b, &start) in starts.iter().enumerate() {
            let end = starts.get(b + 1).copied().unwrap_or(chunks.len());
            if b > 0 {
                self.cut()?;
            }
            for (enc, data) in &chunks[start..end] {
                refs.push(self.write_one(*enc, data)?);
            }
        }
        Ok(())
    }

    fn write_one(&mut self, enc: Encoding, data: &[u8]) -> Result<ChunkRef, TsdbError> {
        let offset = u32::try_from(self.n)
            .map_err(|_| TsdbError::InvalidInput("chunk segment offset exceeds 4 GiB".into()))?;
        let r = ChunkRef::new(self.segments - 1, offset);
        self.buf.clear();
        put_uvarint(&mut self.buf, data.len() as u64);
        let enc_byte = enc.to_u8();
        self.buf.push(enc_byte);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[enc_byte]), data);
        let path = self.current_path();
        let Some(out) = self.out.as_mut() else {
            return Err(TsdbError::InvalidInput(
                "chunk writer has no open segment".into(),
            ));
        };
        out.write_all(&self.buf).at(&path)?;
        out.write_all(data).at(&path)?;
        out.write_all(&crc.to_be_bytes()).at(&path)?;
        let n = (self.buf.len() + data.len() + 4) as u64;
        self.n += n;
        self.total += n;
        Ok(r)
    }

    /// Flushes and syncs the last segment and the directory; returns the
    /// bytes written to all segments.
    pub fn finish(mut self) -> Result<u64, TsdbError> {
        self.finalize_tail()?;
        sync_dir(&self.dir)?;
        Ok(self.total)
    }
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads an unsigned varint at the start of `b`: the value and its length,
/// or `None` if it is truncated or longer than 64 bits.
pub(crate) fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    let mut shift = 0u32;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
        shift += 7;
    }
    None
}

/// Syncs a directory so that entries created in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), TsdbError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// A chunk read in place from a segment: its encoding and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkView<'a> {
    /// The chunk's encoding.
    pub encoding: Encoding,
    /// The chunk's bytes, borrowed from the mapped segment.
    pub data: &'a [u8],
}

struct Segment {
    path: PathBuf,
    bytes: Bytes,
}

/// Reads chunks from the segment files of a block, mapped into memory.
///
/// Opening checks each segment's header; reading a chunk checks its bounds
/// and its checksum. Nothing is copied: chunks are handed out as slices of
/// the maps (or as [`Bytes`] sharing them).
pub struct ChunkReader {
    segments: Vec<Segment>,
    size: u64,
}

impl std::fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkReader")
            .field(
                "segments",
                &self.segments.iter().map(|s| &s.path).collect::<Vec<_>>(),
            )
            .field("size", &self.size)
            .finish()
    }
}

impl ChunkReader {
    /// Opens every segment file in `dir` (files whose names are decimal
    /// numbers, in name order, as Prometheus lists them).
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self, TsdbError> {
        let dir = dir.as_ref();
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).at(dir)? {
            let entry = entry.at(dir)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_digit())
                && name.parse::<u64>().is_ok()
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        let mut segments = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let bytes = mmap::map_bytes(&path)?;
            segments.push((path, bytes));
        }
        Self::from_segments(segments)
    }

    /// A reader over segments already in memory, in segment order.
    pub fn from_segments(segments: Vec<(PathBuf, Bytes)>) -> Result<Self, TsdbError> {
        let mut size = 0u64;
        let mut out = Vec::with_capacity(segments.len());
        for (path, bytes) in segments {
            if bytes.len() < SEGMENT_HEADER_SIZE {
                return Err(TsdbError::corrupted(
                    &path,
                    Some(0),
                    format!(
                        "segment of {} bytes is shorter than its {SEGMENT_HEADER_SIZE}-byte header",
                        bytes.len()
                    ),
                ));
            }
            let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if magic != MAGIC_CHUNKS {
                return Err(TsdbError::corrupted(
                    &path,
                    Some(0),
                    format!("invalid magic number {magic:x}"),
                ));
            }
            if bytes[4] != CHUNKS_FORMAT_V1 {
                return Err(TsdbError::corrupted(
                    &path,
                    Some(4),
                    format!("invalid chunk format version {}", bytes[4]),
                ));
            }
            size += bytes.len() as u64;
            out.push(Segment { path, bytes });
        }
        Ok(ChunkReader {
            segments: out,
            size,
        })
    }

    /// Total bytes of all segments.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The path of segment `i` (0-based).
    pub fn segment_path(&self, i: usize) -> Option<&Path> {
        self.segments.get(i).map(|s| s.path.as_path())
    }

    /// Locates chunk `r`: its segment, encoding, and the data's range.
    fn locate(&self, r: ChunkRef) -> Result<(&Segment, Encoding, usize, usize), TsdbError> {
        let seg = self.segments.get(r.segment() as usize).ok_or_else(|| {
            TsdbError::corrupted(
                self.segments.first().map_or_else(
                    || Path::new(CHUNKS_DIR),
                    |s| s.path.parent().unwrap_or(&s.path),
                ),
                None,
                format!(
                    "chunk reference {:#x} names segment {} of {}",
                    r.0,
                    r.segment(),
                    self.segments.len()
                ),
            )
        })?;
        let b = seg.bytes.as_ref();
        let start = r.offset() as usize;
        let err = |msg: String| TsdbError::corrupted(&seg.path, Some(start as u64), msg);
        if start < SEGMENT_HEADER_SIZE || start >= b.len() {
            return Err(err(format!(
                "chunk offset outside the segment's {} data bytes",
                b.len()
            )));
        }
        let (len, n) = read_uvarint(&b[start..])
            .ok_or_else(|| err("truncated or invalid chunk length".into()))?;
        let enc_at = start + n;
        let data_start = enc_at + 1;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| data_start.checked_add(l))
            .and_then(|d| d.checked_add(4).map(|e| (d, e)));
        let Some((data_end, chunk_end)) = end.filter(|&(_, e)| e <= b.len()) else {
            return Err(err(format!(
                "chunk of {len} bytes runs past the segment's end at {}",
                b.len()
            )));
        };
        Ok((
            seg,
            Encoding::from_u8(b[enc_at]),
            data_start,
            data_end.min(chunk_end),
        ))
    }

    /// The encoding of chunk `r`, read without checking the checksum.
    pub fn encoding(&self, r: ChunkRef) -> Result<Encoding, TsdbError> {
        self.locate(r).map(|(_, enc, _, _)| enc)
    }

    /// Chunk `r`, checksum verified, borrowed from the map.
    pub fn chunk(&self, r: ChunkRef) -> Result<ChunkView<'_>, TsdbError> {
        let (seg, encoding, start, end) = self.locate(r)?;
        let b = seg.bytes.as_ref();
        let enc_at = start - 1;
        let stored = u32::from_be_bytes([b[end], b[end + 1], b[end + 2], b[end + 3]]);
        let actual = crc32c::crc32c(&b[enc_at..end]);
        if stored != actual {
            return Err(TsdbError::corrupted(
                &seg.path,
                Some(u64::from(r.offset())),
                format!("chunk checksum mismatch: stored {stored:08x}, computed {actual:08x}"),
            ));
        }
        Ok(ChunkView {
            encoding,
            data: &b[start..end],
        })
    }

    /// Chunk `r`, checksum verified, as a [`RawChunk`] sharing the map.
    pub fn raw_chunk(&self, r: ChunkRef) -> Result<RawChunk, TsdbError> {
        let (seg, _, start, end) = self.locate(r)?;
        let view = self.chunk(r)?;
        Ok(RawChunk::new(view.encoding, seg.bytes.slice(start..end)))
    }

    /// Iterates over every chunk of segment `i` in file order, checking
    /// each one; ends at the first error.
    pub fn segment_chunks(&self, i: usize) -> SegmentChunks<'_> {
        SegmentChunks {
            reader: self,
            segment: i,
            pos: SEGMENT_HEADER_SIZE,
            done: i >= self.segments.len(),
        }
    }
}

/// Iterator over the chunks of one segment: see
/// [`ChunkReader::segment_chunks`].
pub struct SegmentChunks<'a> {
    reader: &'a ChunkReader,
    segment: usize,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for SegmentChunks<'a> {
    type Item = Result<(ChunkRef, ChunkView<'a>), TsdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let seg = &self.reader.segments[self.segment];
        if self.pos >= seg.bytes.len() {
            self.done = true;
            return None;
        }
        let Ok(offset) = u32::try_from(self.pos) else {
            self.done = true;
            return Some(Err(TsdbError::corrupted(
                &seg.path,
                Some(self.pos as u64),
                "segment larger than 4 GiB",
            )));
        };
        let r = ChunkRef::new(self.segment as u32, offset);
        match self.reader.chunk(r) {
            Ok(view) => {
                let (len, n) = read_uvarint(&seg.bytes[self.pos..]).unwrap_or((0, 1));
                self.pos += n + 1 + len as usize + 4;
                Some(Ok((r, view)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(chunks: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        for (enc, data) in chunks {
            put_uvarint(&mut b, data.len() as u64);
            b.push(*enc);
            b.extend_from_slice(data);
            let crc = crc32c::crc32c_append(crc32c::crc32c(&[*enc]), data);
            b.extend_from_slice(&crc.to_be_bytes());
        }
        b
    }

    #[test]
    fn refs_pack_segment_and_offset() {
        let r = ChunkRef::new(3, 77);
        assert_eq!(r.0, (3 << 32) | 77);
        assert_eq!((r.segment(), r.offset()), (3, 77));
        assert_eq!(segment_file_name(1), "000001");
        assert_eq!(segment_file_name(1234567), "1234567");
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::create(dir.path().join("chunks")).unwrap();
        let mut refs = Vec::new();
        w.write_chunks(
            &[
                (Encoding::Xor, b"\x00\x01abc"),
                (Encoding::Histogram, b"hh"),
            ],
            &mut refs,
        )
        .unwrap();
        w.write_chunks(&[(Encoding::Xor, b"\x00\x00")], &mut refs)
            .unwrap();
        let total = w.finish().unwrap();
        let file = dir.path().join("chunks/000001");
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(bytes.len() as u64, total);
        assert_eq!(
            bytes,
            segment(&[(1, b"\x00\x01abc"), (2, b"hh"), (1, b"\x00\x00")])
        );
        assert_eq!(
            refs,
            [
                ChunkRef::new(0, 8),
                ChunkRef::new(0, 19),
                ChunkRef::new(0, 27)
            ]
        );

        let r = ChunkReader::open_dir(dir.path().join("chunks")).unwrap();
        assert_eq!(r.size(), total);
        let c = r.chunk(refs[0]).unwrap();
        assert_eq!((c.encoding, c.data), (Encoding::Xor, &b"\x00\x01abc"[..]));
        assert_eq!(r.encoding(refs[1]).unwrap(), Encoding::Histogram);
        let raw = r.raw_chunk(refs[2]).unwrap();
        assert_eq!(raw.data.as_ref(), b"\x00\x00");
        let all: Vec<_> = r.segment_chunks(0).map(|c| c.unwrap().0).collect();
        assert_eq!(all, refs);
    }

    #[test]
    fn segments_are_cut_like_prometheus() {
        let dir = tempfile::tempdir().unwrap();
        // Room for the header and two 100-byte chunks (110 bytes each when
        // planned) per segment.
        let mut w = ChunkWriter::with_segment_size(dir.path(), 8 + 220).unwrap();
        let data = [7u8; 100];
        let mut refs = Vec::new();
        w.write_chunks(&[(Encoding::Xor, &data[..]); 3], &mut refs)
            .unwrap();
        w.write_chunks(&[(Encoding::Xor, &data[..])], &mut refs)
            .unwrap();
        // A chunk larger than a segment still gets written.
        let big = [1u8; 500];
        w.write_chunks(&[(Encoding::Xor, &big[..])], &mut refs)
            .unwrap();
        w.finish().unwrap();
        let segs: Vec<u32> = refs.iter().map(|r| r.segment()).collect();
        assert_eq!(segs, [0, 0, 1, 1, 2]);
        let r = ChunkReader::open_dir(dir.path()).unwrap();
        assert_eq!(r.segment_count(), 3);
        for c in &refs {
            assert!(r.chunk(*c).is_ok());
        }
    }

    #[test]
    fn corruption_names_file_and_offset() {
        let mut seg = segment(&[(1, b"\x00\x01abc")]);
        let path = PathBuf::from("blk/chunks/000001");
        let last = seg.len() - 1;
        seg[last] ^= 1;
        let r = ChunkReader::from_segments(vec![(path.clone(), Bytes::from(seg.clone()))]).unwrap();
        let e = r.chunk(ChunkRef::new(0, 8)).unwrap_err().to_string();
        assert!(e.contains("blk/chunks/000001 at offset 8"), "{e}");
        assert!(e.contains("checksum mismatch"), "{e}");

        let e = r.chunk(ChunkRef::new(0, 3)).unwrap_err().to_string();
        assert!(e.contains("offset 3"), "{e}");
        let e = r.chunk(ChunkRef::new(2, 8)).unwrap_err().to_string();
        assert!(e.contains("segment 2 of 1"), "{e}");

        seg.truncate(12);
        let r = ChunkReader::from_segments(vec![(path.clone(), Bytes::from(seg.clone()))]).unwrap();
        let e = r.chunk(ChunkRef::new(0, 8)).unwrap_err().to_string();
        assert!(e.contains("runs past the segment's end"), "{e}");

        let mut bad = seg.clone();
        bad[0] = 0;
        let e = ChunkReader::from_segments(vec![(path.clone(), Bytes::from(bad))]).unwrap_err();
        assert!(e.to_string().contains("invalid magic number"), "{e}");
        let e =
            ChunkReader::from_segments(vec![(path, Bytes::from_static(b"\x85\xbd"))]).unwrap_err();
        assert!(e.to_string().contains("shorter than"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn corrupt_segments_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            refs in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..20),
            flip in proptest::prelude::any::<usize>(),
        ) {
            // Arbitrary bytes after a valid header, and a valid segment
            // with one byte flipped or cut short.
            let mut with_header = segment(&[]);
            with_header.extend_from_slice(&data);
            let mut valid = segment(&[(1, b"\x00\x02\x01\x02\x03"), (2, &data)]);
            let i = flip % valid.len();
            valid[i] ^= 0x5a;
            let mut cut = segment(&[(1, &data)]);
            cut.truncate(flip % (cut.len() + 1));
            for bytes in [with_header, valid, cut, data.clone()] {
                let path = PathBuf::from("x/000001");
                let Ok(r) = ChunkReader::from_segments(vec![(path, Bytes::from(bytes))]) else {
                    continue;
                };
                for &raw in &refs {
                    let _ = r.chunk(ChunkRef(raw));
                    let _ = r.chunk(ChunkRef(raw & 0xff));
                    if let Err(e) = r.chunk(ChunkRef(raw & 0x3f)) {
                        proptest::prop_assert!(e.to_string().contains("x/000001"));
                    }
                }
                for c in r.segment_chunks(0) {
                    if let Err(e) = c {
                        proptest::prop_assert!(e.to_string().contains("x/000001 at offset"));
                    }
                }
            }
        }
    }
}
