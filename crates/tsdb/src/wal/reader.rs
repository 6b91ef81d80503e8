//! Reading records back from segments.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::compress::{snappy_decompress, zstd_decompress};
use super::error::{Corruption, WalError, WalIo};
use super::segment::{SegmentRange, SegmentRef};
use super::{FragmentType, HEADER_SIZE, PAGE_SIZE, SNAPPY_FLAG, TYPE_MASK, ZSTD_FLAG};

/// Reads records, in order, from a list of segments (for a replay: the
/// newest checkpoint's segments, then the WAL's segments after it).
///
/// Every fragment's CRC32C is checked and compressed records (snappy or
/// zstd) are decompressed. The reader is strict about layout: a fragment
/// must lie within one page, page padding must be all zeros, fragments of
/// a record must come in order, and a record must end in the segment it
/// started in. A segment that ends early (not on a page boundary) reads
/// as if zero-padded to the end of its last page, as in Prometheus.
///
/// Damage is reported as [`WalError::Corruption`] with the segment and the
/// offset where the damage starts; after an error (or the end) the reader
/// returns `Ok(None)`.
///
/// ```no_run
/// # fn f() -> Result<(), ember_tsdb::wal::WalError> {
/// use ember_tsdb::wal::{Reader, SegmentRange};
/// let mut r = Reader::open(&[SegmentRange::all("data/wal")])?;
/// while let Some(rec) = r.next_record()? {
///     println!("{} bytes", rec.len());
/// }
/// # Ok(()) }
/// ```
pub struct Reader {
    segments: Vec<(PathBuf, SegmentRef)>,
    /// Index into `segments` of the segment being read.
    cur: usize,
    file: Option<BufReader<File>>,
    page: Box<[u8; PAGE_SIZE]>,
    /// Offset of `page` in the current segment.
    page_start: u64,
    /// Read position in `page`; `PAGE_SIZE` when a new page is needed.
    pos: usize,
    /// Whether the current page was the segment's last (short) one.
    short_page: bool,
    /// Bytes of the current page read from the file (the rest of a short
    /// page is zero-filled).
    page_len: usize,
    /// Fragments of the record being assembled.
    raw: Vec<u8>,
    /// The last record returned.
    rec: Vec<u8>,
    /// Start offset of the record being assembled, if a fragment was read.
    pending_start: Option<u64>,
    /// Run of all-zero pages in the current segment: its start and length.
    zero_run: Option<(u64, u32)>,
    /// Start and end offsets of the last record returned.
    last_start: u64,
    last_end: u64,
    done: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("segment", &self.segment_path())
            .field("offset", &self.last_end)
            .finish()
    }
}

impl Reader {
    /// A reader over the segments of `ranges`, in the order given.
    pub fn open(ranges: &[SegmentRange]) -> Result<Reader, WalError> {
        let mut segments = Vec::new();
        for r in ranges {
            for s in r.list()? {
                segments.push((r.dir.clone(), s));
            }
        }
        Ok(Self::from_refs(segments))
    }

    /// A reader over one segment file (its name must be its index).
    pub fn open_segment(dir: &Path, index: u32) -> Reader {
        let path = super::segment_name(dir, index);
        Self::from_refs(vec![(dir.to_path_buf(), SegmentRef { index, path })])
    }

    pub(crate) fn from_refs(segments: Vec<(PathBuf, SegmentRef)>) -> Reader {
        Reader {
            segments,
            cur: 0,
            file: None,
            page: Box::new([0; PAGE_SIZE]),
            page_start: 0,
            pos: PAGE_SIZE,
            short_page: false,
            page_len: 0,
            raw: Vec::new(),
            rec: Vec::new(),
            pending_start: None,
            zero_run: None,
            last_start: 0,
            last_end: 0,
            done: false,
        }
    }

    /// The directory and index of the segment being read (or last read).
    pub fn segment(&self) -> Option<(&Path, u32)> {
        self.segments
            .get(self.cur)
            .map(|(d, s)| (d.as_path(), s.index))
    }

    fn segment_path(&self) -> Option<&Path> {
        self.segments.get(self.cur).map(|(_, s)| s.path.as_path())
    }

    /// Offset in the current segment just after the last record returned.
    pub fn offset(&self) -> u64 {
        self.last_end
    }

    /// Where the run of all-zero pages that ends the last segment starts,
    /// once the reader has reached the end cleanly.
    pub(crate) fn trailing_zero_start(&self) -> Option<u64> {
        match (self.done, self.pending_start, self.zero_run) {
            (true, None, Some((start, _))) => Some(start),
            _ => None,
        }
    }

    /// Offset in the current segment of the first fragment of the last
    /// record returned.
    pub fn record_start(&self) -> u64 {
        self.last_start
    }

    /// A [`Corruption`] for the last record returned: for a record whose
    /// bytes were read intact but whose payload is invalid.
    pub fn corruption_at_last_record(&self, message: impl Into<String>) -> Corruption {
        let (dir, segment) = self
            .segments
            .get(self.cur)
            .map(|(d, s)| (d.clone(), s.index))
            .unwrap_or_default();
        Corruption {
            dir,
            segment,
            offset: self.last_start,
            message: message.into(),
        }
    }

    fn corruption(&mut self, at: u64, message: impl Into<String>) -> WalError {
        self.done = true;
        let (dir, segment) = self
            .segments
            .get(self.cur)
            .map(|(d, s)| (d.clone(), s.index))
            .unwrap_or_default();
        WalError::Corruption(Corruption {
            dir,
            segment,
            offset: self.pending_start.unwrap_or(at),
            message: message.into(),
        })
    }

    /// Loads the next page of the current segment. Returns `false` at the
    /// end of the segment.
    fn load_page(&mut self) -> Result<bool, WalError> {
        if self.short_page {
            return Ok(false);
        }
        let Some((_, seg)) = self.segments.get(self.cur) else {
            return Ok(false);
        };
        let path = seg.path.clone();
        if self.file.is_none() {
            let f = File::open(&path).at(&path)?;
            self.file = Some(BufReader::with_capacity(16 * PAGE_SIZE, f));
            self.page_start = 0;
        } else {
            self.page_start += PAGE_SIZE as u64;
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let mut n = 0;
        while n < PAGE_SIZE {
            match file.read(&mut self.page[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Err(WalError::io(&path, e));
                }
            }
        }
        if n == 0 {
            return Ok(false);
        }
        if n < PAGE_SIZE {
            self.page[n..].fill(0);
            self.short_page = true;
        }
        self.page_len = n;
        self.pos = 0;
        // Prometheus' writer never writes a page of only padding before
        // more data in the same segment: such a page is lost writes.
        let start = self.page_start;
        if self.page[0] == 0 {
            let run = self.zero_run.get_or_insert((start, 0));
            run.1 += 1;
        } else if let Some((zero_start, _)) = self.zero_run.take() {
            return Err(self.corruption(zero_start, "zeroed page before data in the segment"));
        }
        Ok(true)
    }

    /// The next record, or `None` at the end of the last segment.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, WalError> {
        if self.done {
            return Ok(None);
        }
        loop {
            if self.pos >= PAGE_SIZE {
                if self.cur >= self.segments.len() {
                    self.done = true;
                    return Ok(None);
                }
                if self.load_page()? {
                    continue;
                }
                // End of the segment: records never span segments.
                if let Some(start) = self.pending_start {
                    return Err(self.corruption(start, "last record is torn"));
                }
                if self.cur + 1 >= self.segments.len() {
                    self.done = true;
                    return Ok(None);
                }
                // A segment followed by another ends with at most one page
                // of padding (Prometheus' repair can leave one); more is a
                // zeroed tail: lost writes.
                if let Some((zero_start, pages)) = self.zero_run {
                    if pages >= 2 {
                        return Err(self.corruption(
                            zero_start,
                            format!("segment ends with {pages} zeroed pages but is not the last"),
                        ));
                    }
                }
                self.cur += 1;
                self.file = None;
                self.zero_run = None;
                self.short_page = false;
                self.page_start = 0;
                self.last_start = 0;
                self.last_end = 0;
                continue;
            }
            let at = self.page_start + self.pos as u64;
            let type_byte = self.page[self.pos];
            let Some(typ) = FragmentType::from_bits(type_byte & TYPE_MASK) else {
                return Err(self.corruption(
                    at,
                    format!("unexpected record type {}", type_byte & TYPE_MASK),
                ));
            };
            if typ == FragmentType::PageTerm {
                if self.page[self.pos..].iter().any(|&b| b != 0) {
                    return Err(self.corruption(at, "unexpected non-zero byte in padded page"));
                }
                self.pos = PAGE_SIZE;
                continue;
            }
            if PAGE_SIZE - self.pos < HEADER_SIZE {
                return Err(self.corruption(at, "fragment header crosses a page boundary"));
            }
            let h = &self.page[self.pos..self.pos + HEADER_SIZE];
            let len = usize::from(u16::from_be_bytes([h[1], h[2]]));
            let crc = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
            if len > PAGE_SIZE - HEADER_SIZE {
                return Err(self.corruption(at, format!("invalid record size {len}")));
            }
            let data_start = self.pos + HEADER_SIZE;
            if data_start + len > PAGE_SIZE {
                return Err(self.corruption(
                    at,
                    format!("fragment of {len} bytes crosses a page boundary"),
                ));
            }
            if data_start + len > self.page_len {
                // The segment ends inside this fragment: a torn write (the
                // zero-filled rest must not pass for data).
                return Err(self.corruption(
                    at,
                    format!(
                        "fragment is torn: the segment ends at {}",
                        self.page_start + self.page_len as u64
                    ),
                ));
            }
            let data = &self.page[data_start..data_start + len];
            let got = crc32c::crc32c(data);
            if got != crc {
                return Err(
                    self.corruption(at, format!("unexpected checksum {got:x}, expected {crc:x}"))
                );
            }
            let pending = self.pending_start.is_some();
            match (typ, pending) {
                (FragmentType::Full | FragmentType::First, false)
                | (FragmentType::Middle | FragmentType::Last, true) => {}
                (t, _) => {
                    return Err(self.corruption(at, format!("unexpected {} fragment", t.name())));
                }
            }
            if !pending {
                self.raw.clear();
                self.pending_start = Some(at);
            }
            self.raw.extend_from_slice(data);
            self.pos = data_start + len;
            if matches!(typ, FragmentType::First | FragmentType::Middle) {
                continue;
            }
            // The record is complete. As Prometheus, the last fragment's
            // flags say how it is compressed; snappy wins if both are set.
            let start = self.pending_start.unwrap_or(at);
            let decoded = if self.raw.is_empty() {
                self.rec.clear();
                Ok(())
            } else if type_byte & SNAPPY_FLAG != 0 {
                snappy_decompress(&self.raw, &mut self.rec)
            } else if type_byte & ZSTD_FLAG != 0 {
                zstd_decompress(&self.raw, &mut self.rec)
            } else {
                std::mem::swap(&mut self.rec, &mut self.raw);
                Ok(())
            };
            if let Err(message) = decoded {
                return Err(self.corruption(start, message));
            }
            self.pending_start = None;
            self.last_start = start;
            self.last_end = self.page_start + self.pos as u64;
            return Ok(Some(&self.rec));
        }
    }
}
