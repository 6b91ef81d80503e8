//! Streaming writer for the Prometheus index format, version 2.
//!
//! Sections are written in the order Prometheus 2.x writes them: header,
//! symbol table, series, label indices, postings, label offset table,
//! postings offset table, TOC. The two legacy sections (label indices and
//! their offset table) are still written, as Prometheus did until 3.6, so
//! any reader of format 2 finds what it expects; no reader uses them.
//!
//! Memory: the symbol table (needed to turn label strings into references)
//! plus 12 bytes per label of every series (name, value and series ID, the
//! raw material of the postings) and 4 bytes per series. Chunk metadata
//! is encoded and written as each series is added, so memory does not grow
//! with the number of chunks.

use std::fs::File;
use std::io::{self, BufWriter, Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use ember_model::Labels;

use crate::encoding::{
    put_be32, put_be64, put_uvarint, put_uvarint_str, put_varint, FORMAT_V2, HEADER_LEN, MAGIC,
    SERIES_ALIGN,
};
use crate::{ChunkMeta, IndexError};

/// Largest file Prometheus accepts: series IDs are 32-bit multiples of 16.
const MAX_INDEX_SIZE: u64 = 16 * (u32::MAX as u64);

/// Where an [`IndexWriter`] writes: any seekable byte sink (the symbol
/// table's length is patched in once the symbols are complete).
pub trait IndexSink: Write + Seek {
    /// Makes everything written durable: flush and fsync for a file,
    /// nothing for memory.
    fn sync(&mut self) -> io::Result<()>;
}

impl IndexSink for BufWriter<File> {
    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.get_ref().sync_all()
    }
}

impl IndexSink for Cursor<Vec<u8>> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Symbols,
    Series,
}

/// Section offsets, in the order the TOC stores them.
#[derive(Debug, Default, Clone, Copy)]
struct Toc {
    symbols: u64,
    series: u64,
    label_indices: u64,
    label_indices_table: u64,
    postings: u64,
    postings_table: u64,
}

/// Writes an index file in Prometheus' format 2.
///
/// Call [`add_symbol`](Self::add_symbol) for every label name and value, in
/// strictly increasing byte order, then [`add_series`](Self::add_series)
/// for every series in strictly increasing [`Labels`] order, then
/// [`finish`](Self::finish). Input that breaks these rules (or Prometheus'
/// chunk ordering rules) is refused with [`IndexError::InvalidInput`] and
/// leaves the writer usable; after an I/O error the output is unusable.
pub struct IndexWriter<W: IndexSink = BufWriter<File>> {
    out: W,
    pos: u64,
    stage: Stage,
    toc: Toc,
    /// Sorted symbols; a symbol's reference is its position.
    symbols: Vec<Box<str>>,
    /// CRC32C and byte length of the symbol entries written so far.
    symbols_crc: u32,
    symbols_len: u64,
    last_series: Option<Labels>,
    last_chunk_ref: u64,
    /// (name symbol, value symbol, series ID) for every label of every series.
    pairs: Vec<(u32, u32, u32)>,
    series_ids: Vec<u32>,
    buf: Vec<u8>,
    body: Vec<u8>,
}

impl IndexWriter<BufWriter<File>> {
    /// Creates (or truncates) the index file at `path`, writing through a
    /// 1 MiB buffer.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let file = File::create(path.as_ref())?;
        Self::new(BufWriter::with_capacity(1 << 20, file))
    }
}

impl<W: IndexSink> IndexWriter<W> {
    /// Starts an index in `out`, which must be empty and positioned at 0.
    pub fn new(out: W) -> Result<Self, IndexError> {
        let mut w = IndexWriter {
            out,
            pos: 0,
            stage: Stage::Symbols,
            toc: Toc::default(),
            symbols: Vec::new(),
            symbols_crc: 0,
            symbols_len: 0,
            last_series: None,
            last_chunk_ref: 0,
            pairs: Vec::new(),
            series_ids: Vec::new(),
            buf: Vec::with_capacity(256),
            body: Vec::with_capacity(256),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        put_be32(&mut header, MAGIC);
        header.push(FORMAT_V2);
        w.write(&header)?;
        w.toc.symbols = w.pos;
        // Length and count, patched in when the symbols are complete.
        w.write(&[0; 8])?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        let end = self.pos + bytes.len() as u64;
        if end > MAX_INDEX_SIZE {
            return Err(IndexError::TooLarge("index file exceeds 64 GiB"));
        }
        self.out.write_all(bytes)?;
        self.pos = end;
        Ok(())
    }

    /// Writes zero bytes until the position is a multiple of `align`.
    fn pad(&mut self, align: u64) -> Result<(), IndexError> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }

    /// Writes a framed section: 4-byte length, `body`, CRC32C of `body`.
    fn write_framed(&mut self, body: &[u8], what: &'static str) -> Result<(), IndexError> {
        let len = u32::try_from(body.len()).map_err(|_| IndexError::TooLarge(what))?;
        self.write(&len.to_be_bytes())?;
        self.write(body)?;
        self.write(&crc32c::crc32c(body).to_be_bytes())
    }

    /// Adds the next symbol. Symbols must be added before any series, in
    /// strictly increasing byte order, and must include every label name
    /// and value of the series to come.
    pub fn add_symbol(&mut self, symbol: &str) -> Result<(), IndexError> {
        if self.stage != Stage::Symbols {
            return Err(IndexError::InvalidInput(
                "symbols must be added before series".into(),
            ));
        }
        if let Some(last) = self.symbols.last() {
            if symbol <= &**last {
                return Err(IndexError::InvalidInput(format!(
                    "symbol {symbol:?} out of order after {last:?}"
                )));
            }
        }
        if self.symbols.len() >= u32::MAX as usize {
            return Err(IndexError::TooLarge("more than 2^32-1 symbols"));
        }
        self.buf.clear();
        put_uvarint_str(&mut self.buf, symbol);
        let entry = std::mem::take(&mut self.buf);
        let res = self.write(&entry);
        self.symbols_crc = crc32c::crc32c_append(self.symbols_crc, &entry);
        self.symbols_len += entry.len() as u64;
        self.buf = entry;
        res?;
        self.symbols.push(symbol.into());
        Ok(())
    }

    /// Completes the symbol table: patches its length and count in and
    /// appends its CRC (over the count and the entries).
    fn finish_symbols(&mut self) -> Result<(), IndexError> {
        let len = u32::try_from(self.symbols_len + 4)
            .map_err(|_| IndexError::TooLarge("symbol table exceeds 4 GiB"))?;
        // Checked when each symbol was added.
        let count = self.symbols.len() as u32;
        let count_bytes = count.to_be_bytes();
        let crc = crc32c::crc32c_combine(
            crc32c::crc32c(&count_bytes),
            self.symbols_crc,
            self.symbols_len as usize,
        );
        let mut head = Vec::with_capacity(8);
        put_be32(&mut head, len);
        put_be32(&mut head, count);
        self.out.seek(SeekFrom::Start(self.toc.symbols))?;
        self.out.write_all(&head)?;
        self.out.seek(SeekFrom::Start(self.pos))?;
        self.write(&crc.to_be_bytes())?;
        self.stage = Stage::Series;
        self.toc.series = self.pos;
        Ok(())
    }

    fn symbol_ref(&self, s: &str) -> Result<u32, IndexError> {
        // Fits: the table holds fewer than 2^32 symbols.
        self.symbols
            .binary_search_by(|x| (**x).cmp(s))
            .map(|i| i as u32)
            .map_err(|_| IndexError::InvalidInput(format!("symbol {s:?} was not added")))
    }

    /// Adds the next series with its chunk metadata and returns its series
    /// ID (its offset / 16). Series must come in strictly increasing label
    /// order. As in Prometheus, each chunk must have `min_time <= max_time`,
    /// start after the previous chunk's `max_time`, and chunk references
    /// must not decrease across the whole file.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u32, IndexError> {
        if let Some(last) = &self.last_series {
            if labels <= last {
                return Err(IndexError::InvalidInput(format!(
                    "series {labels} out of order after {last}"
                )));
            }
        }
        let mut last_ref = self.last_chunk_ref;
        for (i, c) in chunks.iter().enumerate() {
            if c.chunk_ref < last_ref {
                return Err(IndexError::InvalidInput(format!(
                    "unsorted chunk reference {} after {last_ref}",
                    c.chunk_ref
                )));
            }
            last_ref = c.chunk_ref;
            if c.max_time < c.min_time {
                return Err(IndexError::InvalidInput(format!(
                    "chunk max time {} before min time {}",
                    c.max_time, c.min_time
                )));
            }
            if i > 0 && c.min_time <= chunks[i - 1].max_time {
                return Err(IndexError::InvalidInput(format!(
                    "chunk min time {} not after previous max time {}",
                    c.min_time,
                    chunks[i - 1].max_time
                )));
            }
        }
        let mut refs = Vec::with_capacity(labels.len());
        for l in labels.iter() {
            refs.push((self.symbol_ref(l.name)?, self.symbol_ref(l.value)?));
        }
        if self.stage == Stage::Symbols {
            self.finish_symbols()?;
        }

        self.body.clear();
        put_uvarint(&mut self.body, refs.len() as u64);
        for &(n, v) in &refs {
            put_uvarint(&mut self.body, u64::from(n));
            put_uvarint(&mut self.body, u64::from(v));
        }
        put_uvarint(&mut self.body, chunks.len() as u64);
        if let Some((first, rest)) = chunks.split_first() {
            put_varint(&mut self.body, first.min_time);
            put_uvarint(
                &mut self.body,
                first.max_time.wrapping_sub(first.min_time) as u64,
            );
            put_uvarint(&mut self.body, first.chunk_ref);
            let (mut prev_max, mut prev_ref) = (first.max_time, first.chunk_ref);
            for c in rest {
                put_uvarint(&mut self.body, c.min_time.wrapping_sub(prev_max) as u64);
                put_uvarint(&mut self.body, c.max_time.wrapping_sub(c.min_time) as u64);
                put_varint(&mut self.body, c.chunk_ref.wrapping_sub(prev_ref) as i64);
                prev_max = c.max_time;
                prev_ref = c.chunk_ref;
            }
        }
        self.buf.clear();
        put_uvarint(&mut self.buf, self.body.len() as u64);
        self.buf.extend_from_slice(&self.body);
        self.buf
            .extend_from_slice(&crc32c::crc32c(&self.body).to_be_bytes());

        self.pad(SERIES_ALIGN)?;
        let id = u32::try_from(self.pos / SERIES_ALIGN)
            .map_err(|_| IndexError::TooLarge("series ID exceeds 32 bits"))?;
        let entry = std::mem::take(&mut self.buf);
        let res = self.write(&entry);
        self.buf = entry;
        res?;

        self.pairs.extend(refs.iter().map(|&(n, v)| (n, v, id)));
        self.series_ids.push(id);
        self.last_series = Some(labels.clone());
        self.last_chunk_ref = last_ref;
        Ok(id)
    }

    /// Writes the postings, the label indices, the offset tables and the
    /// TOC, syncs, and returns the sink.
    pub fn finish(mut self) -> Result<W, IndexError> {
        if self.stage == Stage::Symbols {
            self.finish_symbols()?;
        }
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.sort_unstable();

        // Legacy label indices: one per label name, listing its values.
        self.toc.label_indices = self.pos;
        let mut label_index_offsets: Vec<(u32, u64)> = Vec::new();
        let mut values: Vec<u32> = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            values.clear();
            values.extend(group.iter().map(|p| p.1));
            values.dedup();
            self.pad(4)?;
            label_index_offsets.push((group[0].0, self.pos));
            let mut body = std::mem::take(&mut self.body);
            body.clear();
            put_be32(&mut body, 1);
            put_be32(&mut body, values.len() as u32);
            for &v in &values {
                put_be32(&mut body, v);
            }
            let res = self.write_framed(&body, "label index exceeds 4 GiB");
            self.body = body;
            res?;
        }

        // Postings: the all-series list first (its key sorts first), then
        // one list per label pair in (name, value) order.
        self.toc.postings = self.pos;
        let mut postings_offsets: Vec<(u32, u32, u64)> = Vec::new();
        self.pad(4)?;
        let all_offset = self.pos;
        let ids = std::mem::take(&mut self.series_ids);
        self.write_postings(ids.iter().copied(), ids.len())?;
        drop(ids);
        for group in pairs.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            self.pad(4)?;
            postings_offsets.push((group[0].0, group[0].1, self.pos));
            self.write_postings(group.iter().map(|p| p.2), group.len())?;
        }
        drop(pairs);

        // Legacy label offset table.
        self.toc.label_indices_table = self.pos;
        let mut body = Vec::new();
        put_be32(&mut body, label_index_offsets.len() as u32);
        for &(name, off) in &label_index_offsets {
            put_uvarint(&mut body, 1);
            put_uvarint_str(&mut body, &self.symbols[name as usize]);
            put_uvarint(&mut body, off);
        }
        self.write_framed(&body, "label offset table exceeds 4 GiB")?;

        // Postings offset table.
        self.toc.postings_table = self.pos;
        body.clear();
        let count = u32::try_from(postings_offsets.len() + 1)
            .map_err(|_| IndexError::TooLarge("more than 2^32-1 postings lists"))?;
        put_be32(&mut body, count);
        put_uvarint(&mut body, 2);
        put_uvarint_str(&mut body, "");
        put_uvarint_str(&mut body, "");
        put_uvarint(&mut body, all_offset);
        for &(name, value, off) in &postings_offsets {
            put_uvarint(&mut body, 2);
            put_uvarint_str(&mut body, &self.symbols[name as usize]);
            put_uvarint_str(&mut body, &self.symbols[value as usize]);
            put_uvarint(&mut body, off);
        }
        self.write_framed(&body, "postings offset table exceeds 4 GiB")?;

        // TOC: six offsets and a CRC over them, not length-prefixed.
        body.clear();
        let t = self.toc;
        for off in [
            t.symbols,
            t.series,
            t.label_indices,
            t.label_indices_table,
            t.postings,
            t.postings_table,
        ] {
            put_be64(&mut body, off);
        }
        let crc = crc32c::crc32c(&body);
        put_be32(&mut body, crc);
        self.write(&body)?;
        self.out.sync()?;
        tracing::debug!(
            bytes = self.pos,
            symbols = self.symbols.len(),
            label_pairs = postings_offsets.len(),
            "index written"
        );
        Ok(self.out)
    }

    /// Writes one postings list: length, count, big-endian series IDs, CRC.
    fn write_postings(
        &mut self,
        ids: impl Iterator<Item = u32>,
        count: usize,
    ) -> Result<(), IndexError> {
        let count = u32::try_from(count)
            .ok()
            .filter(|&c| c <= (u32::MAX - 4) / 4)
            .ok_or(IndexError::TooLarge("postings list exceeds 4 GiB"))?;
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        put_be32(&mut body, count);
        for id in ids {
            put_be32(&mut body, id);
        }
        let res = self.write_framed(&body, "postings list exceeds 4 GiB");
        self.body = body;
        res
    }
}
