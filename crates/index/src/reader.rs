//! Zero-copy reader for index files in Prometheus' format 2.
//!
//! Opening checks the header, the TOC's CRC, and fully parses and checks
//! the symbol table and the postings offset table (CRC, UTF-8, order). It
//! keeps in memory only every 32nd symbol offset, each label name, and
//! every 32nd value offset per name (as Prometheus does). Everything else
//! is read in place from the bytes when asked for: a series entry's CRC is
//! checked when it is read, a postings list's CRC when it is read, and
//! postings are handed out as [`BePostings`], a view of the big-endian
//! `u32` array inside the file. Every read is bounds-checked, so a corrupt
//! or truncated file yields [`IndexError`], never a panic.

use std::borrow::Cow;
use std::path::Path;

use bytes::Bytes;
use ember_model::Labels;
use roaring::RoaringBitmap;

use crate::encoding::{
    be32_at, check_crc, section_at, Decoder, FORMAT_V2, HEADER_LEN, MAGIC, SERIES_ALIGN, TOC_LEN,
};
use crate::planner::PostingsSource;
use crate::{ChunkMeta, IndexError};

/// Keep the offset of every this-many symbols and label values.
const SAMPLE_EVERY: u32 = 32;

/// The bytes an [`IndexReader`] reads from: a memory map of the file, or
/// bytes in memory (tests, fuzzing, small files).
pub enum IndexBytes {
    /// A read-only memory map.
    Mmap(memmap2::Mmap),
    /// Shared in-memory bytes.
    Shared(Bytes),
}

impl IndexBytes {
    /// The whole file.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            IndexBytes::Mmap(m) => m,
            IndexBytes::Shared(b) => b,
        }
    }
}

impl From<memmap2::Mmap> for IndexBytes {
    fn from(m: memmap2::Mmap) -> Self {
        IndexBytes::Mmap(m)
    }
}

impl From<Bytes> for IndexBytes {
    fn from(b: Bytes) -> Self {
        IndexBytes::Shared(b)
    }
}

impl From<Vec<u8>> for IndexBytes {
    fn from(v: Vec<u8>) -> Self {
        IndexBytes::Shared(Bytes::from(v))
    }
}

/// Section offsets from the TOC.
#[derive(Debug, Clone, Copy)]
struct Toc {
    symbols: u64,
    series: u64,
    label_indices: u64,
    label_indices_table: u64,
    postings: u64,
    postings_table: u64,
}

/// Where the symbol entries are, with every 32nd entry's offset.
struct Symbols {
    count: u32,
    /// Absolute offset just past the last entry (where the CRC starts).
    end: usize,
    samples: Vec<usize>,
}

/// One label name of the postings offset table.
struct NameEntry {
    name: Box<str>,
    /// Number of (non-empty) values.
    count: u32,
    /// Absolute offsets of every 32nd value's table entry, first included.
    samples: Vec<usize>,
}

/// What opening keeps of the postings offset table.
type PostingsTable = (Vec<NameEntry>, Option<u64>, usize);

/// A reader over one index file.
pub struct IndexReader {
    bytes: IndexBytes,
    toc: Toc,
    symbols: Symbols,
    /// Label names in order, without the all-postings key.
    names: Vec<NameEntry>,
    /// Absolute offset just past the postings offset table's entries.
    table_end: usize,
    all_postings: Option<u64>,
    /// Absolute offset where the series section ends.
    series_end: u64,
}

/// A postings list read in place: sorted series IDs stored as big-endian
/// `u32`s inside the index bytes.
#[derive(Clone, Copy)]
pub struct BePostings<'a> {
    raw: &'a [u8],
    offset: u64,
}

/// Iterator over a [`BePostings`] list.
#[derive(Clone)]
pub struct BePostingsIter<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for BePostingsIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        self.chunks
            .next()
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for BePostingsIter<'_> {}

impl<'a> BePostings<'a> {
    /// The empty list.
    pub fn empty() -> Self {
        BePostings {
            raw: &[],
            offset: 0,
        }
    }

    /// Number of series IDs.
    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The IDs in stored (ascending) order, decoded on the fly.
    pub fn iter(&self) -> BePostingsIter<'a> {
        BePostingsIter {
            chunks: self.raw.chunks_exact(4),
        }
    }

    /// The `i`-th ID.
    pub fn get(&self, i: usize) -> Option<u32> {
        let start = i.checked_mul(4)?;
        let c = self.raw.get(start..start.checked_add(4)?)?;
        Some(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Whether `id` is in the list (binary search; the list is sorted).
    pub fn contains(&self, id: u32) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(v) if v < id => lo = mid + 1,
                Some(v) if v > id => hi = mid,
                Some(_) => return true,
                None => return false,
            }
        }
        false
    }

    /// Whether any ID of the list is in `set`.
    pub fn intersects(&self, set: &RoaringBitmap) -> bool {
        if set.len() < self.len() as u64 / 16 {
            set.iter().any(|id| self.contains(id))
        } else {
            self.iter().any(|id| set.contains(id))
        }
    }

    /// Converts to a bitmap; fails if the stored IDs are not strictly
    /// increasing.
    pub fn to_bitmap(&self) -> Result<RoaringBitmap, IndexError> {
        union_lists(std::slice::from_ref(self))
    }

    fn unsorted(&self) -> IndexError {
        IndexError::Corrupt {
            what: "postings list not sorted",
            offset: self.offset,
        }
    }
}

/// Unions postings lists read in place into one bitmap. Each list must be
/// sorted (checked). Dense results are built through a plain bitset, which
/// costs a bit set per ID instead of a sorted insert or a sort.
fn union_lists(lists: &[BePostings<'_>]) -> Result<RoaringBitmap, IndexError> {
    let mut total = 0u64;
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for l in lists {
        if let (Some(first), Some(last)) = (l.get(0), l.get(l.len().saturating_sub(1))) {
            lo = lo.min(first);
            hi = hi.max(last);
            total += l.len() as u64;
        }
    }
    if total == 0 {
        return Ok(RoaringBitmap::new());
    }
    if lo > hi {
        // Only a list whose first ID exceeds its last gets here.
        return Err(lists
            .iter()
            .find(|l| l.get(0) > l.get(l.len().saturating_sub(1)))
            .map_or(
                IndexError::Corrupt {
                    what: "postings list not sorted",
                    offset: 0,
                },
                BePostings::unsorted,
            ));
    }
    let base = lo & !0xffff;
    let span = u64::from(hi - base) + 1;
    if span > total * 64 {
        // Sparse: sort the IDs.
        if let [one] = lists {
            return RoaringBitmap::from_sorted_iter(one.iter()).map_err(|_| one.unsorted());
        }
        let mut ids: Vec<u32> = Vec::with_capacity(total as usize);
        for l in lists {
            let start = ids.len();
            ids.extend(l.iter());
            if ids[start..].windows(2).any(|w| w[0] >= w[1]) {
                return Err(l.unsorted());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        return RoaringBitmap::from_sorted_iter(ids).map_err(|_| lists[0].unsorted());
    }
    let mut bytes = vec![0u8; span.div_ceil(8) as usize];
    for l in lists {
        // `lo <= first`; every ID must stay `<= hi` and increase (an
        // unsorted list may start or jump past `hi`).
        let mut ids = l.iter();
        let Some(mut prev) = ids.next() else {
            continue;
        };
        if prev > hi {
            return Err(l.unsorted());
        }
        let bit = (prev - base) as usize;
        bytes[bit / 8] |= 1 << (bit % 8);
        for id in ids {
            if id <= prev || id > hi {
                return Err(l.unsorted());
            }
            prev = id;
            let bit = (id - base) as usize;
            bytes[bit / 8] |= 1 << (bit % 8);
        }
    }
    // `base + 8 * bytes.len()` is at most 2^32: `base` is 64 Ki-aligned and
    // the bitset ends at `hi` rounded up to a byte.
    Ok(RoaringBitmap::from_lsb0_bytes(base, &bytes))
}

impl<'a> IntoIterator for &BePostings<'a> {
    type Item = u32;
    type IntoIter = BePostingsIter<'a>;

    fn into_iter(self) -> BePostingsIter<'a> {
        self.iter()
    }
}

/// Iterator over the symbol table.
pub struct SymbolIter<'a> {
    dec: Decoder<'a>,
    left: u32,
}

impl<'a> Iterator for SymbolIter<'a> {
    type Item = Result<&'a str, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = self.dec.uvarint_str("symbol");
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

/// Iterator over a label name's values in ascending order, with the file
/// offset of each value's postings list.
#[derive(Clone)]
struct ValueCursor<'a> {
    dec: Decoder<'a>,
    left: u32,
}

impl<'a> Iterator for ValueCursor<'a> {
    type Item = Result<(&'a str, u64), IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = read_table_entry(&mut self.dec).map(|(_, v, off)| (v, off));
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

/// Iterator over a label name's values in ascending order.
#[derive(Clone)]
pub struct ValueIter<'a> {
    cursor: ValueCursor<'a>,
}

impl<'a> Iterator for ValueIter<'a> {
    type Item = Result<&'a str, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next().map(|r| r.map(|(v, _)| v))
    }
}

/// Parses one postings offset table entry: key count (2), name, value,
/// postings offset.
fn read_table_entry<'a>(dec: &mut Decoder<'a>) -> Result<(&'a str, &'a str, u64), IndexError> {
    let at = dec.clone();
    if dec.uvarint("postings offset table key count")? != 2 {
        return Err(at.corrupt("postings offset table key count is not 2"));
    }
    let name = dec.uvarint_str("postings offset table label name")?;
    let value = dec.uvarint_str("postings offset table label value")?;
    let off = dec.uvarint("postings offset table offset")?;
    Ok((name, value, off))
}

fn to_usize(v: u64, what: &'static str) -> Result<usize, IndexError> {
    usize::try_from(v).map_err(|_| IndexError::Corrupt { what, offset: v })
}

impl IndexReader {
    /// Opens the index file at `path`.
    ///
    /// The workspace forbids `unsafe` code and mapping a file is unsafe in
    /// Rust (another process could truncate it), so this reads the file
    /// into memory. Callers allowed to map files can pass the map to
    /// [`IndexReader::new`] instead; reads are zero-copy either way.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let data = std::fs::read(path.as_ref())?;
        Self::new(IndexBytes::from(data))
    }

    /// Opens an index held in `bytes` (a memory map, `Bytes` or `Vec<u8>`).
    pub fn new(bytes: impl Into<IndexBytes>) -> Result<Self, IndexError> {
        let bytes = bytes.into();
        let data = bytes.as_slice();
        let len = data.len() as u64;

        if data.len() < HEADER_LEN + TOC_LEN {
            return Err(IndexError::Corrupt {
                what: "file too short for header and TOC",
                offset: len,
            });
        }
        let magic = be32_at(data, 0, "magic")?;
        if magic != MAGIC {
            return Err(IndexError::BadMagic(magic));
        }
        if data[4] != FORMAT_V2 {
            return Err(IndexError::UnsupportedVersion(data[4]));
        }
        let toc = Self::read_toc(data)?;
        let symbols = Self::read_symbols(data, toc.symbols)?;
        let (names, all_postings, table_end) = Self::read_postings_table(data, toc.postings_table)?;
        let toc_start = len - TOC_LEN as u64;
        let series_end = [
            toc.label_indices,
            toc.postings,
            toc.label_indices_table,
            toc.postings_table,
            toc_start,
        ]
        .into_iter()
        .filter(|&o| o > toc.series)
        .min()
        .unwrap_or(toc_start);

        tracing::debug!(
            bytes = len,
            symbols = symbols.count,
            label_names = names.len(),
            "index opened"
        );
        Ok(IndexReader {
            bytes,
            toc,
            symbols,
            names,
            table_end,
            all_postings,
            series_end,
        })
    }

    fn read_toc(data: &[u8]) -> Result<Toc, IndexError> {
        let start = data.len() - TOC_LEN;
        let body = &data[start..data.len() - 4];
        let expected = be32_at(data, data.len() - 4, "TOC checksum")?;
        check_crc(body, expected, "TOC", start as u64)?;
        let mut d = Decoder::new(body, start as u64);
        let mut next = |what| -> Result<u64, IndexError> {
            let at = d.offset();
            let off = d.be64(what)?;
            // Sections lie between the header and the TOC; 0 means absent.
            if off != 0 && (off < HEADER_LEN as u64 || off >= start as u64) {
                return Err(IndexError::Corrupt { what, offset: at });
            }
            Ok(off)
        };
        Ok(Toc {
            symbols: next("TOC symbols offset")?,
            series: next("TOC series offset")?,
            label_indices: next("TOC label indices offset")?,
            label_indices_table: next("TOC label offset table offset")?,
            postings: next("TOC postings offset")?,
            postings_table: next("TOC postings offset table offset")?,
        })
    }

    fn read_symbols(data: &[u8], off: u64) -> Result<Symbols, IndexError> {
        if off == 0 {
            return Ok(Symbols {
                count: 0,
                end: 0,
                samples: Vec::new(),
            });
        }
        let body = section_at(data, off, "symbol table")?;
        let base = off + 4;
        let mut d = Decoder::new(body, base);
        let count = d.be32("symbol count")?;
        let mut samples = Vec::new();
        for i in 0..count {
            if i % SAMPLE_EVERY == 0 {
                samples.push(to_usize(d.offset(), "symbol offset")?);
            }
            d.uvarint_str("symbol")?;
        }
        Ok(Symbols {
            count,
            end: to_usize(d.offset(), "symbol table end")?,
            samples,
        })
    }

    /// Parses and checks the postings offset table: the label names with
    /// sampled value offsets, the all-postings offset, and the table's end.
    fn read_postings_table(data: &[u8], off: u64) -> Result<PostingsTable, IndexError> {
        let mut names: Vec<NameEntry> = Vec::new();
        let mut all = None;
        if off == 0 {
            return Ok((names, all, 0));
        }
        let body = section_at(data, off, "postings offset table")?;
        let mut d = Decoder::new(body, off + 4);
        let count = d.be32("postings offset table count")?;
        let mut prev: Option<(&str, &str)> = None;
        for _ in 0..count {
            let entry_at = d.offset();
            let (name, value, postings) = read_table_entry(&mut d)?;
            if let Some(p) = prev {
                if p >= (name, value) {
                    return Err(IndexError::Corrupt {
                        what: "postings offset table not sorted",
                        offset: entry_at,
                    });
                }
            }
            prev = Some((name, value));
            if name.is_empty() {
                if !value.is_empty() {
                    return Err(IndexError::Corrupt {
                        what: "postings offset table entry with empty name",
                        offset: entry_at,
                    });
                }
                all = Some(postings);
                continue;
            }
            // An empty value means the label is absent; it is not indexed.
            if value.is_empty() {
                continue;
            }
            let entry_at = to_usize(entry_at, "postings offset table entry")?;
            match names.last_mut() {
                Some(last) if &*last.name == name => {
                    if last.count % SAMPLE_EVERY == 0 {
                        last.samples.push(entry_at);
                    }
                    last.count += 1;
                }
                _ => names.push(NameEntry {
                    name: name.into(),
                    count: 1,
                    samples: vec![entry_at],
                }),
            }
        }
        for n in &mut names {
            n.samples.shrink_to_fit();
        }
        let end = to_usize(d.offset(), "postings offset table end")?;
        Ok((names, all, end))
    }

    fn data(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Size of the index in bytes.
    pub fn size(&self) -> usize {
        self.data().len()
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> u32 {
        self.symbols.count
    }

    /// The symbol table in order.
    pub fn symbols(&self) -> SymbolIter<'_> {
        let (start, end) = match self.symbols.samples.first() {
            Some(&s) => (s, self.symbols.end),
            None => (0, 0),
        };
        SymbolIter {
            dec: Decoder::new(&self.data()[start..end], start as u64),
            left: self.symbols.count,
        }
    }

    /// The symbol with reference `r`.
    pub fn symbol(&self, r: u32) -> Result<&str, IndexError> {
        let sample = self
            .symbols
            .samples
            .get((r / SAMPLE_EVERY) as usize)
            .copied()
            .filter(|_| r < self.symbols.count)
            .ok_or(IndexError::Corrupt {
                what: "unknown symbol reference",
                offset: u64::from(r),
            })?;
        let mut d = Decoder::new(&self.data()[sample..self.symbols.end], sample as u64);
        for _ in 0..r % SAMPLE_EVERY {
            d.uvarint_bytes("symbol")?;
        }
        d.uvarint_str("symbol")
    }

    /// Reads the series with ID `id` (its offset / 16): its labels and
    /// chunk metadata. Checks the entry's CRC.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), IndexError> {
        let off = u64::from(id) * SERIES_ALIGN;
        if self.toc.series == 0 || off < self.toc.series || off >= self.series_end {
            return Err(IndexError::Corrupt {
                what: "series ID outside the series section",
                offset: off,
            });
        }
        // In range of the file, checked at open.
        let data = &self.data()[off as usize..self.series_end as usize];
        let mut d = Decoder::new(data, off);
        let len = d.uvarint_usize("series entry length")?;
        let body_at = d.offset();
        let body = d.bytes(len, "series entry")?;
        let expected = d.be32("series entry checksum")?;
        check_crc(body, expected, "series entry", body_at)?;

        let mut d = Decoder::new(body, body_at);
        let n = d.uvarint_usize("series label count")?;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(n.min(d.remaining() / 2));
        for _ in 0..n {
            let at = d.offset();
            let name = self.symbol(d.uvarint32("series label name reference")?)?;
            let value = self.symbol(d.uvarint32("series label value reference")?)?;
            let ordered = pairs.last().is_none_or(|&(prev, _)| prev < name);
            if name.is_empty() || !ordered {
                return Err(IndexError::Corrupt {
                    what: "series labels not sorted or empty name",
                    offset: at,
                });
            }
            pairs.push((name, value));
        }
        let labels = Labels::from_sorted(pairs).map_err(|_| IndexError::Corrupt {
            what: "series labels invalid",
            offset: body_at,
        })?;

        let n = d.uvarint_usize("series chunk count")?;
        let mut chunks = Vec::with_capacity(n.min(d.remaining() / 3));
        if n > 0 {
            let min_time = d.varint("chunk min time")?;
            let max_time = min_time.wrapping_add(d.uvarint("chunk max time delta")? as i64);
            let chunk_ref = d.uvarint("chunk reference")?;
            chunks.push(ChunkMeta {
                min_time,
                max_time,
                chunk_ref,
            });
            let (mut prev_max, mut prev_ref) = (max_time, chunk_ref);
            for _ in 1..n {
                let min_time = prev_max.wrapping_add(d.uvarint("chunk min time delta")? as i64);
                let max_time = min_time.wrapping_add(d.uvarint("chunk max time delta")? as i64);
                let chunk_ref = prev_ref.wrapping_add(d.varint("chunk reference delta")? as u64);
                chunks.push(ChunkMeta {
                    min_time,
                    max_time,
                    chunk_ref,
                });
                prev_max = max_time;
                prev_ref = chunk_ref;
            }
        }
        Ok((labels, chunks))
    }

    /// Reads the postings list at `off`, checking its CRC and length.
    fn postings_at(&self, off: u64) -> Result<BePostings<'_>, IndexError> {
        let body = section_at(self.data(), off, "postings list")?;
        let count = be32_at(body, 0, "postings count").map_err(|_| IndexError::Corrupt {
            what: "postings count",
            offset: off + 4,
        })?;
        let raw = &body[4..];
        if raw.len() as u64 != u64::from(count) * 4 {
            return Err(IndexError::Corrupt {
                what: "postings list length does not match its count",
                offset: off,
            });
        }
        Ok(BePostings {
            raw,
            offset: off + 8,
        })
    }

    /// The IDs of all series, in place.
    pub fn all_postings_list(&self) -> Result<BePostings<'_>, IndexError> {
        match self.all_postings {
            Some(off) => self.postings_at(off),
            None => Ok(BePostings::empty()),
        }
    }

    /// The IDs of the series with label `name` = `value`, in place; empty
    /// if there are none.
    pub fn postings(&self, name: &str, value: &str) -> Result<BePostings<'_>, IndexError> {
        match self.find_value(name, value)? {
            Some(off) => self.postings_at(off),
            None => Ok(BePostings::empty()),
        }
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names
            .binary_search_by(|n| (*n.name).cmp(name))
            .ok()
            .map(|i| &self.names[i])
    }

    /// A cursor over `entry`'s values starting at sample `s`.
    fn cursor_at(&self, entry: &NameEntry, s: usize) -> ValueCursor<'_> {
        let start = entry.samples.get(s).copied().unwrap_or(self.table_end);
        let skipped = (s as u32).saturating_mul(SAMPLE_EVERY);
        ValueCursor {
            dec: Decoder::new(&self.data()[start..self.table_end], start as u64),
            left: entry.count.saturating_sub(skipped),
        }
    }

    /// The value stored at sample `s` of `entry`.
    fn sample_value(&self, entry: &NameEntry, s: usize) -> Result<&str, IndexError> {
        match self.cursor_at(entry, s).next() {
            Some(r) => r.map(|(v, _)| v),
            None => Err(IndexError::Corrupt {
                what: "postings offset table sample",
                offset: entry.samples.get(s).copied().unwrap_or(0) as u64,
            }),
        }
    }

    /// A cursor positioned at the first value of `name` that is `>= start`.
    fn values_cursor(&self, name: &str, start: &str) -> Result<ValueCursor<'_>, IndexError> {
        let Some(entry) = self.name_entry(name) else {
            return Ok(ValueCursor {
                dec: Decoder::new(&[], 0),
                left: 0,
            });
        };
        // The last sample whose value is <= start (or the first sample).
        let (mut lo, mut hi) = (0usize, entry.samples.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.sample_value(entry, mid)? <= start {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let mut cursor = self.cursor_at(entry, lo);
        loop {
            let before = cursor.clone();
            match cursor.next() {
                Some(Ok((v, _))) if v < start => continue,
                Some(Err(e)) => return Err(e),
                _ => return Ok(before),
            }
        }
    }

    fn find_value(&self, name: &str, value: &str) -> Result<Option<u64>, IndexError> {
        if value.is_empty() {
            return Ok(None);
        }
        match self.values_cursor(name, value)?.next() {
            Some(Ok((v, off))) if v == value => Ok(Some(off)),
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        }
    }

    /// The values of label `name` in ascending order.
    pub fn label_value_iter(&self, name: &str) -> ValueIter<'_> {
        let cursor = match self.name_entry(name) {
            Some(entry) => self.cursor_at(entry, 0),
            None => ValueCursor {
                dec: Decoder::new(&[], 0),
                left: 0,
            },
        };
        ValueIter { cursor }
    }

    /// The values of label `name` that are `>= start`, in ascending order;
    /// seeks through the sampled offsets, so a prefix range scan reads only
    /// the values in the range (stop when a value no longer has the prefix).
    pub fn label_values_from(&self, name: &str, start: &str) -> Result<ValueIter<'_>, IndexError> {
        Ok(ValueIter {
            cursor: self.values_cursor(name, start)?,
        })
    }

    /// The label names in ascending order.
    pub fn label_name_iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| &*n.name)
    }
}

/// Below this many series, [`PostingsSource::label_names_within`] reads the
/// series entries; above it, it probes each name's postings.
const READ_SERIES_BELOW: u64 = 1024;

impl PostingsSource for IndexReader {
    fn all_postings(&self) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(Cow::Owned(self.all_postings_list()?.to_bitmap()?))
    }

    fn postings_bitmap(
        &self,
        name: &str,
        value: &str,
    ) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(Cow::Owned(self.postings(name, value)?.to_bitmap()?))
    }

    fn postings_for_values(
        &self,
        name: &str,
        values: &[String],
    ) -> Result<RoaringBitmap, IndexError> {
        let mut lists = Vec::with_capacity(values.len());
        for v in values {
            let p = self.postings(name, v)?;
            if !p.is_empty() {
                lists.push(p);
            }
        }
        union_lists(&lists)
    }

    fn postings_for_label(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>, IndexError> {
        Ok(Cow::Owned(self.postings_matching(name, "", &|_| true)?))
    }

    fn postings_matching(
        &self,
        name: &str,
        prefix: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<RoaringBitmap, IndexError> {
        let mut lists = Vec::new();
        for entry in self.values_cursor(name, prefix)? {
            let (v, off) = entry?;
            if !v.starts_with(prefix) {
                break;
            }
            if accept(v) {
                lists.push(self.postings_at(off)?);
            }
        }
        union_lists(&lists)
    }

    fn label_names(&self) -> Result<Vec<String>, IndexError> {
        Ok(self.label_name_iter().map(str::to_string).collect())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>, IndexError> {
        self.label_value_iter(name)
            .map(|v| v.map(str::to_string))
            .collect()
    }

    fn label_names_within(&self, set: &RoaringBitmap) -> Result<Vec<String>, IndexError> {
        if set.len() < READ_SERIES_BELOW {
            let mut names: Vec<String> = Vec::new();
            for id in set {
                let (labels, _) = self.series(id)?;
                for l in labels.iter() {
                    if let Err(pos) = names.binary_search_by(|n| n.as_str().cmp(l.name)) {
                        names.insert(pos, l.name.to_string());
                    }
                }
            }
            return Ok(names);
        }
        let mut names = Vec::new();
        'names: for entry in &self.names {
            for value in self.cursor_at(entry, 0) {
                let (_, off) = value?;
                if self.postings_at(off)?.intersects(set) {
                    names.push(entry.name.to_string());
                    continue 'names;
                }
            }
        }
        Ok(names)
    }

    fn label_values_within(
        &self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
        set: &RoaringBitmap,
    ) -> Result<Vec<String>, IndexError> {
        let mut values = Vec::new();
        for entry in self.values_cursor(name, "")? {
            let (v, off) = entry?;
            if accept(v) && self.postings_at(off)?.intersects(set) {
                values.push(v.to_string());
            }
        }
        Ok(values)
    }
}
