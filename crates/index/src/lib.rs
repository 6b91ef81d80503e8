//! Ember's series index: which series have which labels.
//!
//! Three parts share one query planner:
//!
//! * [`IndexWriter`] writes a block's `index` file in Prometheus' format 2
//!   (magic `0xBAAAD700`), the format Prometheus 2.x and 3.x read: a symbol
//!   table, series entries aligned to 16 bytes (a series ID is its offset
//!   / 16) holding symbol references and delta-encoded chunk metadata, the
//!   legacy label indices, one big-endian `u32` postings list per label pair
//!   plus the all-series list under the empty key, the legacy label offset
//!   table, the postings offset table, and a TOC. Every section carries a
//!   CRC32-Castagnoli. The writer streams to a buffered file; its memory
//!   grows with the postings, not with the chunks.
//! * [`IndexReader`] reads such a file in place from [`IndexBytes`] (a
//!   memory map or shared bytes). It validates the TOC, symbol table and
//!   postings offset table when opened and each series entry and postings
//!   list when read. Postings are [`BePostings`], views of the big-endian
//!   arrays inside the file; they become [`RoaringBitmap`]s only when the
//!   planner combines them. Corrupt or truncated input yields
//!   [`IndexError`] with what was being read and where, never a panic.
//! * [`MemPostings`] indexes the head: label name → value → bitmap of dense
//!   series ordinals, which [`SeriesOrdinals`] assigns to the head's `u64`
//!   series references.
//!
//! Both readers implement [`PostingsSource`], and the single planner
//! ([`postings_for_matchers`], [`label_names_for_matchers`],
//! [`label_values_for_matchers`]) follows Prometheus' `PostingsForMatchers`:
//! equality and other intersecting matchers first, matchers that accept a
//! missing label subtracted, literal alternations as unions of look-ups,
//! `prefix.*` as a range scan over sorted values, `=~".*"` free and
//! `=~".+"`/`!=""` as "label is set".
//!
//! There is no global state: every table belongs to its reader or writer.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod encoding;
mod mem;
mod planner;
mod reader;
mod writer;

pub use mem::{MemPostings, SeriesOrdinals};
pub use planner::{
    label_names_for_matchers, label_values_for_matchers, postings_for_matchers, PostingsSource,
};
pub use reader::{BePostings, BePostingsIter, IndexBytes, IndexReader, SymbolIter, ValueIter};
pub use roaring::RoaringBitmap;
pub use writer::{IndexSink, IndexWriter};

use thiserror::Error;

/// Where one chunk of a series lives and which time range it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkMeta {
    /// Timestamp of the first sample, in milliseconds.
    pub min_time: i64,
    /// Timestamp of the last sample, in milliseconds.
    pub max_time: i64,
    /// Chunk reference: segment number in the upper 32 bits, byte offset
    /// in the lower 32.
    pub chunk_ref: u64,
}

/// Errors from writing or reading an index.
#[derive(Debug, Error)]
pub enum IndexError {
    /// Reading or writing the file failed.
    #[error("index I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the index magic number.
    #[error("not an index file: magic {0:#010x}")]
    BadMagic(u32),
    /// The file is in a format version this crate does not read.
    #[error("unsupported index format version {0}")]
    UnsupportedVersion(u8),
    /// The bytes do not decode: truncated, out of bounds or inconsistent.
    #[error("corrupt index: {what} at offset {offset}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// File offset where reading failed.
        offset: u64,
    },
    /// A section's CRC32-Castagnoli does not match its bytes.
    #[error("checksum mismatch in {section} at offset {offset}: stored {expected:#010x}, computed {actual:#010x}")]
    Checksum {
        /// Which section.
        section: &'static str,
        /// File offset of the checksummed bytes.
        offset: u64,
        /// The stored checksum.
        expected: u32,
        /// The checksum of the bytes read.
        actual: u32,
    },
    /// The writer was given symbols, series or chunks out of order or
    /// otherwise invalid.
    #[error("invalid index writer input: {0}")]
    InvalidInput(String),
    /// A limit of the format was exceeded.
    #[error("index too large: {0}")]
    TooLarge(&'static str),
}

/// Entry point of the `index_read` fuzz target, also run over its seed
/// corpus by the tests. Opens `data` as an index and exercises every read
/// path: symbols, label names and values, value seeks, postings, series,
/// and the planner with each matcher shape. Errors are expected; it panics
/// only if a reader invariant breaks (for instance values out of order
/// after the open-time checks passed).
#[doc(hidden)]
pub fn fuzz_read(data: &[u8]) {
    use ember_model::{MatchOp, Matcher};

    const LIMIT: usize = 64;
    let Ok(r) = IndexReader::new(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    for (i, s) in r.symbols().enumerate().take(LIMIT) {
        let Ok(s) = s else { break };
        assert_eq!(r.symbol(i as u32).ok(), Some(s), "symbol lookup disagrees");
    }
    let _ = r.symbol(r.symbol_count());
    if let Ok(all) = r.all_postings_list() {
        let _ = all.to_bitmap();
        for id in all.iter().take(LIMIT) {
            let _ = r.series(id);
        }
    }
    for id in (0..LIMIT as u32).chain([u32::MAX, (data.len() / 16) as u32]) {
        let _ = r.series(id);
    }

    let names: Vec<&str> = r.label_name_iter().collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "names out of order");
    let mut sources = vec![MemPostings::new()];
    for name in names.iter().take(LIMIT) {
        let mut prev: Option<&str> = None;
        for v in r.label_value_iter(name).take(LIMIT) {
            let Ok(v) = v else { break };
            assert!(prev < Some(v) && !v.is_empty(), "values out of order");
            prev = Some(v);
            if let Ok(mut it) = r.label_values_from(name, v) {
                assert!(matches!(it.next(), Some(Ok(x)) if x == v), "seek missed");
            }
            if let Ok(p) = r.postings(name, v) {
                let _ = p.to_bitmap();
                let _ = p.contains(v.len() as u32);
                for id in p.iter().take(LIMIT) {
                    if let Ok((labels, _)) = r.series(id) {
                        sources[0].add(id, &labels);
                    }
                }
            }
            let _ = postings_for_matchers(&r, &[Matcher::equal(*name, v)]);
        }
        // Every matcher shape, built from the name's first value.
        let first: String = prev.unwrap_or("a").chars().take(1).collect();
        let mut matchers = vec![
            Matcher::equal(*name, first.as_str()),
            Matcher::equal(*name, ""),
        ];
        for (op, re) in [
            (MatchOp::NotEqual, first.clone()),
            (MatchOp::Regex, ".*".to_string()),
            (MatchOp::Regex, ".+".to_string()),
            (MatchOp::NotRegex, ".*".to_string()),
            (MatchOp::Regex, format!("{first}.*")),
            (MatchOp::NotRegex, format!("{first}.*")),
            (MatchOp::Regex, format!("{first}|zz")),
            (MatchOp::NotRegex, format!("{first}|zz")),
            (MatchOp::Regex, format!(".*{first}")),
            (MatchOp::NotRegex, String::new()),
        ] {
            if let Ok(m) = Matcher::new(op, *name, re) {
                matchers.push(m);
            }
        }
        for (i, m) in matchers.iter().enumerate() {
            let pair = [m.clone(), matchers[(i + 1) % matchers.len()].clone()];
            for ms in [std::slice::from_ref(m), &pair[..]] {
                let _ = postings_for_matchers(&r, ms);
                let _ = label_names_for_matchers(&r, ms);
                let _ = label_values_for_matchers(&r, name, ms);
            }
        }
    }
    // The planner over whatever series decoded, in memory.
    let m = [Matcher::equal(names.first().copied().unwrap_or("a"), "")];
    if let Some(mem) = sources.pop() {
        let _ = postings_for_matchers(&mem, &m);
        let _ = label_names_for_matchers(&mem, &m);
    }
}
