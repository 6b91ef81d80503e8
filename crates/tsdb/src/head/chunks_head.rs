//! Head chunk files: the `chunks_head/` directory, Prometheus' "chunk disk
//! mapper".
//!
//! Full head chunks are written here as soon as they are cut, and read back
//! through memory maps, so a series keeps only small references to its
//! completed chunks. Files are numbered `000001`, `000002`, ... (the number
//! is the file's *sequence*), hold at most 128 MiB, and start with an
//! 8-byte header: magic `0x0130BC91` (big-endian), format version 1 and
//! three zero bytes. Each chunk is written as
//!
//! ```text
//! ┌──────────────┬─────────┬─────────┬──────────────┬───────────────┬────────────┬────────────┐
//! │ series ref 8 │ mint 8  │ maxt 8  │ encoding 1   │ len <uvarint> │ data <len> │ CRC32C 4   │
//! └──────────────┴─────────┴─────────┴──────────────┴───────────────┴────────────┴────────────┘
//! ```
//!
//! integers big-endian, the top bit of the encoding byte marking an
//! out-of-order chunk, and the Castagnoli checksum covering everything from
//! the series reference to the end of the data. A [`HeadChunkRef`] packs the
//! file sequence (upper 32 bits) and the byte offset of the chunk's series
//! reference (lower 32 bits), exactly as Prometheus does, so files written
//! by either side are read by the other.
//!
//! **Writing.** Chunks are appended to the current file through a 4 MiB
//! buffer. A chunk still in the buffer is served from it; whenever the
//! buffer is written out, the file is mapped again at its new length, so
//! every flushed byte is read in place. Files are only ever appended to and
//! deleted whole (never rewritten or truncated while mapped), which is what
//! makes reading them through a map sound: see `crate::mmap`. A file is
//! synced when the next one is started and on [`HeadChunkFiles::close`].
//!
//! **Reading.** [`HeadChunkFiles::chunk`] checks bounds and the checksum
//! and hands out the data as [`Bytes`] sharing the map, so a reader keeps
//! its chunks readable even after the file is deleted by truncation.
//! Corruption is reported as [`TsdbError::Corrupted`] naming the file and
//! the offset.
//!
//! **Replay.** [`HeadChunkFiles::iterate_chunks`] walks every chunk of every
//! file in order, as the head does on start-up; it stops at the first
//! corruption and says which file it is in, so the caller can delete that
//! file and the later ones ([`HeadChunkFiles::delete_from`]) and rebuild
//! their contents from the WAL, as Prometheus does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ember_chunks::Encoding;
use parking_lot::{Mutex, RwLock};

use crate::chunk_file::{put_uvarint, read_uvarint, segment_file_name, sync_dir};
use crate::error::{IoContext, TsdbError};
use crate::mmap;

/// Magic number at the start of every head chunk file.
pub const MAGIC_HEAD_CHUNKS: u32 = 0x0130_BC91;
/// The head chunk file format version.
pub const HEAD_CHUNKS_FORMAT_V1: u8 = 1;
/// Bytes of a head chunk file's header: magic, version, padding.
pub const HEAD_CHUNK_FILE_HEADER_SIZE: usize = 8;
/// Largest head chunk file, as in Prometheus.
pub const MAX_HEAD_CHUNK_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Bytes buffered before they are written to the current file.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 4 * 1024 * 1024;
/// Bit of the encoding byte that marks an out-of-order chunk.
pub const OUT_OF_ORDER_MASK: u8 = 0x80;
/// Name of the directory inside the data directory.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";

const SERIES_REF_SIZE: usize = 8;
const MINT_MAXT_SIZE: usize = 8;
const ENCODING_SIZE: usize = 1;
const MAX_LEN_FIELD_SIZE: usize = 5;
const CRC_SIZE: usize = 4;
/// The most bytes of a chunk record that are not data.
const MAX_CHUNK_META_SIZE: usize =
    SERIES_REF_SIZE + 2 * MINT_MAXT_SIZE + ENCODING_SIZE + MAX_LEN_FIELD_SIZE + CRC_SIZE;
/// Bytes before the length field.
const FIXED_PREFIX: usize = SERIES_REF_SIZE + 2 * MINT_MAXT_SIZE + ENCODING_SIZE;

/// Where a chunk lives in `chunks_head/`: file sequence in the upper 32
/// bits, byte offset of the chunk record in the lower 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HeadChunkRef(pub u64);

impl HeadChunkRef {
    /// The reference of the chunk at `offset` in file `seq`.
    pub fn new(seq: u32, offset: u32) -> Self {
        HeadChunkRef((u64::from(seq) << 32) | u64::from(offset))
    }

    /// The file sequence (the number in the file's name).
    pub fn seq(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The byte offset in the file.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

impl std::fmt::Display for HeadChunkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq(), self.offset())
    }
}

/// A chunk read back from a head chunk file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadChunk {
    /// The series the chunk belongs to.
    pub series_ref: u64,
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// The chunk's encoding (without the out-of-order bit).
    pub encoding: Encoding,
    /// Whether the chunk was written as an out-of-order chunk.
    pub out_of_order: bool,
    /// The chunk's bytes, sharing the file's map where possible.
    pub data: Bytes,
}

/// What [`HeadChunkFiles::iterate_chunks`] reports about each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskChunkMeta {
    /// The series the chunk belongs to.
    pub series_ref: u64,
    /// Where the chunk is.
    pub chunk_ref: HeadChunkRef,
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// Samples in the chunk (the data's 2-byte header).
    pub num_samples: u16,
    /// The chunk's encoding (without the out-of-order bit).
    pub encoding: Encoding,
    /// Whether the chunk was written as an out-of-order chunk.
    pub out_of_order: bool,
}

/// A corrupt head chunk file found while iterating: the file's sequence and
/// the error naming file and offset.
#[derive(Debug)]
pub struct HeadChunksCorruption {
    /// Sequence of the corrupt file.
    pub seq: u32,
    /// What is wrong, with the file's path and the offset.
    pub error: TsdbError,
}

/// The file being appended to.
struct CurFile {
    seq: u32,
    path: PathBuf,
    file: File,
    /// Bytes of the file including the buffered ones.
    size: u64,
    /// Bytes written to the file (and mapped).
    flushed: u64,
    /// Bytes not yet written, starting at offset `flushed`.
    pending: Vec<u8>,
}

struct Writer {
    cur: Option<CurFile>,
    /// Highest file sequence on disk or in use; the next file gets the
    /// next number.
    last_seq: u32,
    /// Start a new file with the next chunk.
    cut_next: bool,
    closed: bool,
    buf: Vec<u8>,
}

/// The head's chunk files: writes full chunks, reads them back through
/// memory maps. See the [module documentation](self).
pub struct HeadChunkFiles {
    dir: PathBuf,
    write_buffer_size: usize,
    max_file_size: u64,
    /// Mapped prefix of every file, by sequence.
    files: RwLock<BTreeMap<u32, Bytes>>,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for HeadChunkFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadChunkFiles")
            .field("dir", &self.dir)
            .field("files", &self.files.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The path of file `seq` in `dir`.
fn file_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(segment_file_name(u64::from(seq)))
}

/// A parsed chunk record.
struct Record {
    series_ref: u64,
    min_time: i64,
    max_time: i64,
    encoding_byte: u8,
    /// Range of the data in the buffer.
    data: std::ops::Range<usize>,
    /// Offset just past the checksum.
    end: usize,
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Parses the chunk record at `at` in `b` (a whole file, or the buffered
/// tail whose first byte is at file offset `base`). Errors say what is
/// wrong; the caller adds file and offset.
fn parse_record(b: &[u8], at: usize) -> Result<Record, String> {
    if at.checked_add(FIXED_PREFIX + 1).is_none_or(|e| e > b.len()) {
        return Err(format!(
            "chunk header runs past the end of the file's {} bytes",
            b.len()
        ));
    }
    let series_ref = be_u64(b, at);
    let min_time = be_u64(b, at + 8) as i64;
    let max_time = be_u64(b, at + 16) as i64;
    let encoding_byte = b[at + 24];
    let len_at = at + FIXED_PREFIX;
    let (len, n) = read_uvarint(&b[len_at..])
        .ok_or_else(|| "truncated or invalid chunk length".to_string())?;
    let data_start = len_at + n;
    let Some(data_end) = usize::try_from(len)
        .ok()
        .and_then(|l| data_start.checked_add(l))
    else {
        return Err(format!("chunk length {len} is too large"));
    };
    let end = data_end.saturating_add(CRC_SIZE);
    if end > b.len() {
        return Err(format!(
            "chunk of {len} bytes runs past the end of the file's {} bytes",
            b.len()
        ));
    }
    let stored = u32::from_be_bytes([
        b[data_end],
        b[data_end + 1],
        b[data_end + 2],
        b[data_end + 3],
    ]);
    let actual = crc32c::crc32c(&b[at..data_end]);
    if stored != actual {
        return Err(format!(
            "chunk checksum mismatch: stored {stored:08x}, computed {actual:08x}"
        ));
    }
    Ok(Record {
        series_ref,
        min_time,
        max_time,
        encoding_byte,
        data: data_start..data_end,
        end,
    })
}

fn check_header(path: &Path, b: &[u8]) -> Result<(), TsdbError> {
    if b.len() < HEAD_CHUNK_FILE_HEADER_SIZE {
        return Err(TsdbError::corrupted(
            path,
            Some(0),
            format!(
                "head chunk file of {} bytes is shorter than its {HEAD_CHUNK_FILE_HEADER_SIZE}-byte header",
                b.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC_HEAD_CHUNKS {
        return Err(TsdbError::corrupted(
            path,
            Some(0),
            format!("invalid magic number {magic:x}"),
        ));
    }
    if b[4] != HEAD_CHUNKS_FORMAT_V1 {
        return Err(TsdbError::corrupted(
            path,
            Some(4),
            format!("invalid head chunk format version {}", b[4]),
        ));
    }
    Ok(())
}

/// Numbered files in `dir`, by sequence.
fn list_files(dir: &Path) -> Result<BTreeMap<u32, PathBuf>, TsdbError> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(seq) = name.parse::<u32>() {
            out.insert(seq, entry.path());
        }
    }
    Ok(out)
}

impl HeadChunkFiles {
    /// Opens (creating it if needed) the head chunk directory `dir` with
    /// Prometheus' sizes.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, TsdbError> {
        Self::with_sizes(dir, DEFAULT_WRITE_BUFFER_SIZE, MAX_HEAD_CHUNK_FILE_SIZE)
    }

    /// Like [`open`](Self::open) with another write buffer and file size
    /// (tests use small ones). A file still receives at least one chunk.
    ///
    /// Existing files are mapped and their headers checked. As in
    /// Prometheus, a last file too short to hold a magic number, or whose
    /// magic number is zero, is the trace of a crash while it was being
    /// created and is deleted; a gap in the numbering or a bad header is an
    /// error. New chunks always go to a new file.
    pub fn with_sizes(
        dir: impl AsRef<Path>,
        write_buffer_size: usize,
        max_file_size: u64,
    ) -> Result<Self, TsdbError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).at(&dir)?;
        let mut paths = list_files(&dir)?;
        // Repair: an empty last file.
        if let Some((&seq, path)) = paths.iter().next_back() {
            let mut head = [0u8; 4];
            let mut f = File::open(path).at(path)?;
            let mut n = 0;
            while n < 4 {
                match f.read(&mut head[n..]).at(path)? {
                    0 => break,
                    k => n += k,
                }
            }
            if n < 4 || head == [0; 4] {
                tracing::warn!(file = %path.display(), "deleting empty last head chunk file");
                fs::remove_file(path).at(path)?;
                paths.remove(&seq);
            }
        }
        let mut prev: Option<(u32, &PathBuf)> = None;
        for (&seq, path) in &paths {
            if let Some((p, ppath)) = prev {
                if seq != p + 1 {
                    return Err(TsdbError::corrupted(
                        path,
                        None,
                        format!(
                            "found unsequential head chunk files {} (index: {p}) and {} (index: {seq})",
                            ppath.display(),
                            path.display()
                        ),
                    ));
                }
            }
            prev = Some((seq, path));
        }
        let mut files = BTreeMap::new();
        for (&seq, path) in &paths {
            let bytes = mmap::map_bytes(path)?;
            check_header(path, &bytes)?;
            files.insert(seq, bytes);
        }
        let last_seq = paths.keys().next_back().copied().unwrap_or(0);
        Ok(HeadChunkFiles {
            dir,
            write_buffer_size: write_buffer_size.max(MAX_CHUNK_META_SIZE),
            max_file_size: max_file_size.max(HEAD_CHUNK_FILE_HEADER_SIZE as u64),
            files: RwLock::new(files),
            writer: Mutex::new(Writer {
                cur: None,
                last_seq,
                cut_next: false,
                closed: false,
                buf: Vec::with_capacity(MAX_CHUNK_META_SIZE),
            }),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of file `seq`.
    pub fn file_path(&self, seq: u32) -> PathBuf {
        file_path(&self.dir, seq)
    }

    /// Sequences of the files, in order.
    pub fn file_seqs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.files.read().keys().copied().collect();
        if let Some(cur) = &self.writer.lock().cur {
            if !v.contains(&cur.seq) {
                v.push(cur.seq);
                v.sort_unstable();
            }
        }
        v
    }

    /// Total bytes of the files, buffered bytes included.
    pub fn size(&self) -> u64 {
        let w = self.writer.lock();
        let files = self.files.read();
        let mut total: u64 = files
            .iter()
            .filter(|(seq, _)| w.cur.as_ref().is_none_or(|c| c.seq != **seq))
            .map(|(_, b)| b.len() as u64)
            .sum();
        if let Some(c) = &w.cur {
            total += c.size;
        }
        total
    }

    /// Writes a full chunk of series `series_ref` and returns where it is.
    ///
    /// The chunk is readable through [`chunk`](Self::chunk) at once; it
    /// reaches the disk when the write buffer fills, a new file is started,
    /// or the files are closed.
    pub fn write_chunk(
        &self,
        series_ref: u64,
        min_time: i64,
        max_time: i64,
        encoding: Encoding,
        data: &[u8],
        out_of_order: bool,
    ) -> Result<HeadChunkRef, TsdbError> {
        let mut w = self.writer.lock();
        if w.closed {
            return Err(TsdbError::InvalidInput(format!(
                "{}: head chunk files are closed",
                self.dir.display()
            )));
        }
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.extend_from_slice(&series_ref.to_be_bytes());
        buf.extend_from_slice(&min_time.to_be_bytes());
        buf.extend_from_slice(&max_time.to_be_bytes());
        let mut enc = encoding.to_u8();
        if out_of_order {
            enc |= OUT_OF_ORDER_MASK;
        }
        buf.push(enc);
        put_uvarint(&mut buf, data.len() as u64);
        let total = (buf.len() + data.len() + CRC_SIZE) as u64;
        let res = self.write_record(&mut w, &buf, data, total);
        w.buf = buf;
        res
    }

    fn write_record(
        &self,
        w: &mut Writer,
        prefix: &[u8],
        data: &[u8],
        total: u64,
    ) -> Result<HeadChunkRef, TsdbError> {
        let needs_cut = match &w.cur {
            None => true,
            Some(c) => {
                w.cut_next
                    || (c.size > HEAD_CHUNK_FILE_HEADER_SIZE as u64
                        && c.size + total > self.max_file_size)
            }
        };
        if needs_cut {
            self.cut(w)?;
        }
        let Some(cur) = w.cur.as_mut() else {
            return Err(TsdbError::InvalidInput("no head chunk file open".into()));
        };
        let offset = u32::try_from(cur.size).map_err(|_| {
            TsdbError::InvalidInput(format!(
                "{}: head chunk file offset {} exceeds 4 GiB",
                cur.path.display(),
                cur.size
            ))
        })?;
        let r = HeadChunkRef::new(cur.seq, offset);
        let crc = crc32c::crc32c_append(crc32c::crc32c(prefix), data);
        cur.pending.extend_from_slice(prefix);
        cur.pending.extend_from_slice(data);
        cur.pending.extend_from_slice(&crc.to_be_bytes());
        cur.size += total;
        if cur.pending.len() >= self.write_buffer_size {
            self.flush(cur)?;
        }
        Ok(r)
    }

    /// Writes the buffered bytes of `cur` to its file and maps it again.
    fn flush(&self, cur: &mut CurFile) -> Result<(), TsdbError> {
        if cur.pending.is_empty() {
            return Ok(());
        }
        // From `flushed` explicitly: a failed write (a full disk) may have
        // written part of the buffer, which is written again here.
        cur.file.seek(SeekFrom::Start(cur.flushed)).at(&cur.path)?;
        cur.file.write_all(&cur.pending).at(&cur.path)?;
        cur.flushed += cur.pending.len() as u64;
        cur.pending.clear();
        let bytes = mmap::map_bytes(&cur.path)?;
        if (bytes.len() as u64) < cur.flushed {
            return Err(TsdbError::corrupted(
                &cur.path,
                Some(bytes.len() as u64),
                format!(
                    "head chunk file is {} bytes after writing {}",
                    bytes.len(),
                    cur.flushed
                ),
            ));
        }
        self.files
            .write()
            .insert(cur.seq, bytes.slice(..cur.flushed as usize));
        Ok(())
    }

    /// Finishes the current file (flushed and synced) and starts the next.
    fn cut(&self, w: &mut Writer) -> Result<(), TsdbError> {
        if let Some(mut cur) = w.cur.take() {
            self.flush(&mut cur)?;
            cur.file.sync_all().at(&cur.path)?;
        }
        let seq = w
            .last_seq
            .checked_add(1)
            .ok_or_else(|| TsdbError::InvalidInput("too many head chunk files".into()))?;
        let path = file_path(&self.dir, seq);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .at(&path)?;
        let mut pending = Vec::with_capacity(self.write_buffer_size.min(1 << 22));
        pending.extend_from_slice(&MAGIC_HEAD_CHUNKS.to_be_bytes());
        pending.extend_from_slice(&[HEAD_CHUNKS_FORMAT_V1, 0, 0, 0]);
        w.cur = Some(CurFile {
            seq,
            path,
            file,
            size: HEAD_CHUNK_FILE_HEADER_SIZE as u64,
            flushed: 0,
            pending,
        });
        w.last_seq = seq;
        w.cut_next = false;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Writes all buffered chunks to disk (without syncing).
    pub fn flush_buffer(&self) -> Result<(), TsdbError> {
        let mut w = self.writer.lock();
        match w.cur.as_mut() {
            Some(cur) => self.flush(cur),
            None => Ok(()),
        }
    }

    /// Chunk `r`, checksum verified.
    pub fn chunk(&self, r: HeadChunkRef) -> Result<HeadChunk, TsdbError> {
        if let Some(c) = self.mapped_chunk(r) {
            return c;
        }
        // Not mapped (yet): it may be buffered.
        let w = self.writer.lock();
        if let Some(cur) = w.cur.as_ref().filter(|c| c.seq == r.seq()) {
            let off = u64::from(r.offset());
            if off >= cur.flushed {
                let at = (off - cur.flushed) as usize;
                let rec = parse_record(&cur.pending, at)
                    .map_err(|m| TsdbError::corrupted(&cur.path, Some(off), m))?;
                return Ok(to_chunk(
                    &rec,
                    Bytes::copy_from_slice(&cur.pending[rec.data.clone()]),
                ));
            }
        }
        drop(w);
        if let Some(c) = self.mapped_chunk(r) {
            return c;
        }
        Err(TsdbError::corrupted(
            self.file_path(r.seq()),
            Some(u64::from(r.offset())),
            format!("head chunk reference {r} names no chunk on disk"),
        ))
    }

    /// Chunk `r` if it is in a mapped part of a file.
    fn mapped_chunk(&self, r: HeadChunkRef) -> Option<Result<HeadChunk, TsdbError>> {
        let files = self.files.read();
        let bytes = files.get(&r.seq())?;
        let at = r.offset() as usize;
        if at >= bytes.len() {
            return None;
        }
        let path = || self.file_path(r.seq());
        if at < HEAD_CHUNK_FILE_HEADER_SIZE {
            return Some(Err(TsdbError::corrupted(
                path(),
                Some(at as u64),
                "chunk offset inside the file header",
            )));
        }
        Some(match parse_record(bytes, at) {
            Ok(rec) => Ok(to_chunk(&rec, bytes.slice(rec.data.clone()))),
            Err(m) => Err(TsdbError::corrupted(path(), Some(at as u64), m)),
        })
    }

    /// Calls `f` for every chunk of every file, in file order.
    ///
    /// Zero bytes after the last chunk of a file (preallocation) end it.
    /// The walk stops at the first chunk that does not parse or fails its
    /// checksum, and at the first error `f` returns (a rejected chunk is
    /// treated as corruption of its file, as in Prometheus): the error
    /// names the file and offset, and `seq` which file it is.
    pub fn iterate_chunks(
        &self,
        mut f: impl FnMut(&DiskChunkMeta) -> Result<(), String>,
    ) -> Result<(), HeadChunksCorruption> {
        let files: Vec<(u32, Bytes)> = self
            .files
            .read()
            .iter()
            .map(|(s, b)| (*s, b.clone()))
            .collect();
        for (seq, b) in files {
            let path = self.file_path(seq);
            let corrupt = |at: usize, m: String| HeadChunksCorruption {
                seq,
                error: TsdbError::corrupted(&path, Some(at as u64), m),
            };
            let mut at = HEAD_CHUNK_FILE_HEADER_SIZE;
            while at < b.len() {
                if b.len() - at < MAX_CHUNK_META_SIZE && b[at..].iter().all(|&x| x == 0) {
                    break;
                }
                if b.len() - at >= FIXED_PREFIX && b[at..at + 24].iter().all(|&x| x == 0) {
                    // Series refs start at 1: zeros are the end of the data.
                    break;
                }
                let rec = parse_record(&b, at).map_err(|m| corrupt(at, m))?;
                let data = &b[rec.data.clone()];
                let num_samples = match data {
                    [a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => 0,
                };
                let offset = u32::try_from(at)
                    .map_err(|_| corrupt(at, "head chunk file larger than 4 GiB".into()))?;
                let meta = DiskChunkMeta {
                    series_ref: rec.series_ref,
                    chunk_ref: HeadChunkRef::new(seq, offset),
                    min_time: rec.min_time,
                    max_time: rec.max_time,
                    num_samples,
                    encoding: Encoding::from_u8(rec.encoding_byte & !OUT_OF_ORDER_MASK),
                    out_of_order: rec.encoding_byte & OUT_OF_ORDER_MASK != 0,
                };
                f(&meta).map_err(|m| corrupt(at, m))?;
                at = rec.end;
            }
        }
        Ok(())
    }

    /// Deletes file `seq` and every later one (after a corruption), and
    /// continues numbering after the last file kept.
    pub fn delete_from(&self, seq: u32) -> Result<(), TsdbError> {
        let mut w = self.writer.lock();
        if w.cur.as_ref().is_some_and(|c| c.seq >= seq) {
            w.cur = None;
        }
        let doomed: Vec<u32> = self.files.read().range(seq..).map(|(s, _)| *s).collect();
        for s in &doomed {
            self.files.write().remove(s);
        }
        let mut on_disk = list_files(&self.dir)?;
        let later = on_disk.split_off(&seq);
        for path in later.values() {
            fs::remove_file(path).at(path)?;
        }
        w.last_seq = on_disk.keys().next_back().copied().unwrap_or(0);
        sync_dir(&self.dir)
    }

    /// Deletes the files numbered below `min_seq`, except the one being
    /// written; the next chunk then starts a new file so the current one
    /// can go at the next truncation. Returns how many files were deleted.
    pub fn truncate(&self, min_seq: u32) -> Result<usize, TsdbError> {
        let mut w = self.writer.lock();
        let cur_seq = w.cur.as_ref().map(|c| c.seq);
        let doomed: Vec<u32> = self
            .files
            .read()
            .range(..min_seq)
            .map(|(s, _)| *s)
            .filter(|s| Some(*s) != cur_seq)
            .collect();
        if w.cur
            .as_ref()
            .is_some_and(|c| c.size > HEAD_CHUNK_FILE_HEADER_SIZE as u64)
        {
            w.cut_next = true;
        }
        for s in &doomed {
            self.files.write().remove(s);
            let path = self.file_path(*s);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(TsdbError::io(&path, e)),
            }
        }
        if w.cur.is_none() && self.files.read().is_empty() {
            w.last_seq = 0;
        }
        Ok(doomed.len())
    }

    /// Flushes and syncs the current file; later writes fail.
    pub fn close(&self) -> Result<(), TsdbError> {
        let mut w = self.writer.lock();
        if w.closed {
            return Ok(());
        }
        w.closed = true;
        if let Some(mut cur) = w.cur.take() {
            self.flush(&mut cur)?;
            cur.file.sync_all().at(&cur.path)?;
        }
        Ok(())
    }
}

impl Drop for HeadChunkFiles {
    fn drop(&mut self) {
        // Best effort: buffered chunks are also in the WAL.
        let mut w = self.writer.lock();
        if let Some(cur) = w.cur.as_mut() {
            if !cur.pending.is_empty() {
                let _ = cur.file.write_all(&cur.pending);
            }
        }
    }
}

fn to_chunk(rec: &Record, data: Bytes) -> HeadChunk {
    HeadChunk {
        series_ref: rec.series_ref,
        min_time: rec.min_time,
        max_time: rec.max_time,
        encoding: Encoding::from_u8(rec.encoding_byte & !OUT_OF_ORDER_MASK),
        out_of_order: rec.encoding_byte & OUT_OF_ORDER_MASK != 0,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_bytes(n: u16) -> Vec<u8> {
        let mut c = ember_chunks::XorChunk::new();
        for i in 0..n {
            c.append(i64::from(i) * 1000, f64::from(i)).unwrap();
        }
        c.into_bytes()
    }

    #[test]
    fn refs_pack_seq_and_offset() {
        let r = HeadChunkRef::new(3, 77);
        assert_eq!(r.0, (3 << 32) | 77);
        assert_eq!((r.seq(), r.offset()), (3, 77));
        assert_eq!(r.to_string(), "3:77");
    }

    #[test]
    fn write_read_buffered_and_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let f = HeadChunkFiles::with_sizes(dir.path(), 64, 1 << 20).unwrap();
        let data = chunk_bytes(3);
        let r1 = f
            .write_chunk(7, 0, 2000, Encoding::Xor, &data, false)
            .unwrap();
        assert_eq!(r1, HeadChunkRef::new(1, 8));
        let c = f.chunk(r1).unwrap();
        assert_eq!(c.data.as_ref(), &data[..]);
        assert_eq!((c.series_ref, c.min_time, c.max_time), (7, 0, 2000));
        // Enough to flush.
        let r2 = f
            .write_chunk(8, 1, 2, Encoding::Xor, &[0u8; 100], true)
            .unwrap();
        let c2 = f.chunk(r2).unwrap();
        assert!(c2.out_of_order);
        assert_eq!(c2.data.len(), 100);
        assert_eq!(f.chunk(r1).unwrap().data.as_ref(), &data[..]);
        f.close().unwrap();
        let bytes = std::fs::read(dir.path().join("000001")).unwrap();
        assert_eq!(&bytes[..8], &[0x01, 0x30, 0xBC, 0x91, 1, 0, 0, 0]);
        // Record layout.
        assert_eq!(&bytes[8..16], &7u64.to_be_bytes());
        assert_eq!(bytes[32], 1);
        assert_eq!(bytes[33] as usize, data.len());
        assert_eq!(bytes.len() as u64, f.size());
    }

    #[test]
    fn files_are_cut_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let f = HeadChunkFiles::with_sizes(dir.path(), 64, 200).unwrap();
        let data = chunk_bytes(10);
        let mut refs = Vec::new();
        for i in 0..10u64 {
            refs.push(
                f.write_chunk(i + 1, 0, 9000, Encoding::Xor, &data, false)
                    .unwrap(),
            );
        }
        assert!(refs.last().unwrap().seq() > 1);
        f.close().unwrap();
        drop(f);
        let f = HeadChunkFiles::with_sizes(dir.path(), 64, 200).unwrap();
        let mut seen = Vec::new();
        f.iterate_chunks(|m| {
            seen.push((m.series_ref, m.chunk_ref, m.num_samples));
            Ok(())
        })
        .unwrap();
        let want: Vec<_> = refs
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, *r, 10))
            .collect();
        assert_eq!(seen, want);
        for r in &refs {
            assert_eq!(f.chunk(*r).unwrap().data.as_ref(), &data[..]);
        }
        // New chunks go to a new file.
        let last = refs.last().unwrap().seq();
        let r = f
            .write_chunk(99, 0, 1, Encoding::Xor, &data, false)
            .unwrap();
        assert_eq!(r.seq(), last + 1);
        // Truncation keeps the current file.
        let n = f.truncate(u32::MAX).unwrap();
        assert_eq!(n as u32, last);
        assert_eq!(f.file_seqs(), vec![last + 1]);
        assert!(f.chunk(refs[0]).is_err());
        assert_eq!(f.chunk(r).unwrap().data.as_ref(), &data[..]);
    }

    #[test]
    fn corruption_names_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        let data = chunk_bytes(5);
        let r1 = f
            .write_chunk(1, 0, 4000, Encoding::Xor, &data, false)
            .unwrap();
        let r2 = f
            .write_chunk(2, 0, 4000, Encoding::Xor, &data, false)
            .unwrap();
        f.close().unwrap();
        drop(f);
        let path = dir.path().join("000001");
        let mut bytes = std::fs::read(&path).unwrap();
        let i = r2.offset() as usize + 40;
        bytes[i] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        assert!(f.chunk(r1).is_ok());
        let e = f.chunk(r2).unwrap_err().to_string();
        assert!(
            e.contains("000001") && e.contains(&format!("offset {}", r2.offset())),
            "{e}"
        );
        assert!(e.contains("checksum"), "{e}");
        let mut n = 0;
        let err = f
            .iterate_chunks(|_| {
                n += 1;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(n, 1);
        assert_eq!(err.seq, 1);
        assert!(err.error.to_string().contains("000001"), "{}", err.error);
        f.delete_from(err.seq).unwrap();
        assert!(f.file_seqs().is_empty());
        assert!(!path.exists());
        let r = f.write_chunk(3, 0, 1, Encoding::Xor, &data, false).unwrap();
        assert_eq!(r.seq(), 1);
    }

    #[test]
    fn truncated_tail_is_corruption_and_bad_headers_fail_open() {
        let dir = tempfile::tempdir().unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        f.write_chunk(1, 0, 1, Encoding::Xor, &chunk_bytes(20), false)
            .unwrap();
        f.close().unwrap();
        drop(f);
        let path = dir.path().join("000001");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        let err = f.iterate_chunks(|_| Ok(())).unwrap_err();
        assert!(
            err.error.to_string().contains("000001 at offset 8"),
            "{}",
            err.error
        );
        drop(f);

        // Trailing zeros (preallocation) end a file.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0u8; 100]);
        std::fs::write(&path, &padded).unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        let mut n = 0;
        f.iterate_chunks(|_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        drop(f);

        // An empty last file is removed; a bad magic number is an error.
        std::fs::write(dir.path().join("000002"), b"").unwrap();
        let f = HeadChunkFiles::open(dir.path()).unwrap();
        assert_eq!(f.file_seqs(), vec![1]);
        drop(f);
        let mut bad = bytes.clone();
        bad[0] = 9;
        std::fs::write(&path, &bad).unwrap();
        let e = HeadChunkFiles::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("invalid magic number"), "{e}");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(dir.path().join("000003"), &bytes).unwrap();
        let e = HeadChunkFiles::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unsequential"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn corrupt_files_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            flip in proptest::prelude::any::<usize>(),
            refs in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..10),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let f = HeadChunkFiles::open(dir.path()).unwrap();
            f.write_chunk(1, 0, 5, Encoding::Xor, &data, false).unwrap();
            f.write_chunk(2, 0, 5, Encoding::Xor, &chunk_bytes(4), false).unwrap();
            f.close().unwrap();
            drop(f);
            let path = dir.path().join("000001");
            let mut bytes = std::fs::read(&path).unwrap();
            let i = flip % bytes.len();
            if flip % 3 == 0 {
                bytes.truncate(i.max(4));
            } else {
                bytes[i] ^= 0x5a;
            }
            std::fs::write(&path, &bytes).unwrap();
            let Ok(f) = HeadChunkFiles::open(dir.path()) else { return Ok(()) };
            if let Err(e) = f.iterate_chunks(|_| Ok(())) {
                proptest::prop_assert!(e.error.to_string().contains("000001"));
            }
            for r in refs {
                let _ = f.chunk(HeadChunkRef::new(1, r % 400));
            }
        }
    }
}
