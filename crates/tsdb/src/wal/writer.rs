//! The page writer: turns records into fragments in 32 KiB pages of
//! segment files, exactly as Prometheus' `wlog.WL` does, and undoes a
//! batch that failed to write.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::compress::{snappy_compress, Compression};
use super::error::{WalError, WalIo};
use super::segment::segment_name;
use super::sync_dir;
use super::{Counters, FragmentType, HEADER_SIZE, PAGE_SIZE, SNAPPY_FLAG};

/// Where a batch started, to undo it if it fails.
struct BatchStart {
    segment: u32,
    file_len: u64,
    done_pages: u64,
    alloc: usize,
    flushed: usize,
    /// Whether `saved_page[..alloc]` holds the page as it was (copied
    /// before the page buffer is reset for the next page).
    page_saved: bool,
}

/// Writes fragments into the segments of one directory. Not synchronized:
/// [`Wal`](super::Wal) wraps it in a mutex; checkpoints use one directly.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    pages_per_segment: u64,
    compression: Compression,
    file: File,
    segment: u32,
    /// Pages of the active segment written in full.
    done_pages: u64,
    page: Box<[u8; PAGE_SIZE]>,
    /// Bytes of the page filled with fragments.
    alloc: usize,
    /// Bytes of the page already written to the file.
    flushed: usize,
    snappy: snap::raw::Encoder,
    compressed: Vec<u8>,
    counters: Arc<Counters>,
    /// Background fsyncs of segments that were cut.
    syncs: Vec<JoinHandle<()>>,
    batch: Option<BatchStart>,
    saved_page: Box<[u8; PAGE_SIZE]>,
    /// Set when a failed batch could not be undone; retried before the
    /// next write.
    broken: Option<BatchStart>,
    /// Test hook: bytes that may still be written before writes fail.
    #[cfg(test)]
    pub(crate) fail_after: Option<u64>,
}

/// Opens (creating if needed) segment `index` of `dir` for appending.
fn open_segment(dir: &Path, index: u32) -> Result<File, WalError> {
    let path = segment_name(dir, index);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .at(&path)
}

impl SegmentWriter {
    /// A writer appending to segment `index` of `dir` (created if it does
    /// not exist; an existing one must end on a page boundary).
    pub(crate) fn new(
        dir: &Path,
        index: u32,
        segment_size: u64,
        compression: Compression,
        counters: Arc<Counters>,
    ) -> Result<Self, WalError> {
        let file = open_segment(dir, index)?;
        let path = segment_name(dir, index);
        let len = file.metadata().at(&path)?.len();
        if !len.is_multiple_of(PAGE_SIZE as u64) {
            return Err(WalError::InvalidInput(format!(
                "{}: cannot append to a segment that does not end on a page boundary ({len} bytes)",
                path.display()
            )));
        }
        sync_dir(dir)?;
        counters
            .current_segment
            .store(u64::from(index), Ordering::Relaxed);
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            pages_per_segment: segment_size / PAGE_SIZE as u64,
            compression,
            file,
            segment: index,
            done_pages: len / PAGE_SIZE as u64,
            page: Box::new([0; PAGE_SIZE]),
            alloc: 0,
            flushed: 0,
            snappy: snap::raw::Encoder::new(),
            compressed: Vec::new(),
            counters,
            syncs: Vec::new(),
            batch: None,
            saved_page: Box::new([0; PAGE_SIZE]),
            broken: None,
            #[cfg(test)]
            fail_after: None,
        })
    }

    pub(crate) fn segment(&self) -> u32 {
        self.segment
    }

    /// Bytes of the active segment handed to the OS so far.
    pub(crate) fn file_len(&self) -> u64 {
        self.done_pages * PAGE_SIZE as u64 + self.flushed as u64
    }

    fn path(&self) -> PathBuf {
        segment_name(&self.dir, self.segment)
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < HEADER_SIZE
    }

    /// Writes the unwritten part of the page. With `clear` (or when no
    /// further fragment fits), pads the page with zeros to its end and
    /// starts a new one.
    fn flush_page(&mut self, clear: bool) -> Result<(), WalError> {
        self.counters.page_flushes.fetch_add(1, Ordering::Relaxed);
        let clear = clear || self.page_full();
        if clear {
            self.alloc = PAGE_SIZE;
        }
        if self.alloc > self.flushed {
            let path = self.path();
            #[cfg(test)]
            self.inject_failure(&path)?;
            self.file
                .write_all(&self.page[self.flushed..self.alloc])
                .at(&path)?;
            self.flushed = self.alloc;
        }
        if clear {
            if let Some(b) = &mut self.batch {
                if !b.page_saved {
                    self.saved_page[..b.alloc].copy_from_slice(&self.page[..b.alloc]);
                    b.page_saved = true;
                }
            }
            self.page.fill(0);
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
            self.counters
                .completed_pages
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes `records` as one batch: fragments for each, the last page
    /// written to the OS at the end. If anything fails, every byte of the
    /// batch is taken back (the segment truncated to where the batch
    /// started, segments it created removed) before the error is returned,
    /// so the log never holds part of a record; if even that fails, the
    /// writer retries it before its next write and refuses to write until
    /// it succeeds.
    pub(crate) fn log<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<(), WalError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(start) = self.broken.take() {
            if let Err(e) = self.undo(start) {
                self.counters.writes_failed.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        self.batch = Some(BatchStart {
            segment: self.segment,
            file_len: self.file_len(),
            done_pages: self.done_pages,
            alloc: self.alloc,
            flushed: self.flushed,
            page_saved: false,
        });
        let last = records.len() - 1;
        for (i, rec) in records.iter().enumerate() {
            if let Err(e) = self.log_one(rec.as_ref(), i == last) {
                self.counters.writes_failed.fetch_add(1, Ordering::Relaxed);
                if let Some(start) = self.batch.take() {
                    if let Err(undo) = self.undo(start) {
                        tracing::error!(
                            segment = %self.path().display(),
                            error = %undo,
                            "cannot take back a failed WAL write; retrying before the next write"
                        );
                    }
                }
                return Err(e);
            }
        }
        self.batch = None;
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8], last: bool) -> Result<(), WalError> {
        if self.page_full() {
            self.flush_page(true)?;
        }
        let mut compressed = std::mem::take(&mut self.compressed);
        let use_snappy = self.compression == Compression::Snappy
            && snappy_compress(&mut self.snappy, rec, &mut compressed);
        let result =
            self.write_record(if use_snappy { &compressed } else { rec }, use_snappy, last);
        self.compressed = compressed;
        result
    }

    fn write_record(&mut self, mut rec: &[u8], snappy: bool, last: bool) -> Result<(), WalError> {
        // Records never span segments: if this one does not fit in what is
        // left of the segment, start the next.
        let page = PAGE_SIZE as i64;
        let header = HEADER_SIZE as i64;
        let left = (page - self.alloc as i64 - header)
            + (page - header) * (self.pages_per_segment as i64 - self.done_pages as i64 - 1);
        if rec.len() as i64 > left {
            self.next_segment()?;
        }
        let mut first = true;
        loop {
            let room = PAGE_SIZE - self.alloc - HEADER_SIZE;
            let n = rec.len().min(room);
            let (part, rest) = rec.split_at(n);
            let typ = match (first, rest.is_empty()) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, true) => FragmentType::Last,
                (false, false) => FragmentType::Middle,
            };
            let mut type_byte = typ as u8;
            if snappy {
                type_byte |= SNAPPY_FLAG;
            }
            let at = self.alloc;
            self.page[at] = type_byte;
            self.page[at + 1..at + 3].copy_from_slice(&(n as u16).to_be_bytes());
            self.page[at + 3..at + 7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            self.page[at + HEADER_SIZE..at + HEADER_SIZE + n].copy_from_slice(part);
            self.alloc += HEADER_SIZE + n;
            if self.page_full() {
                self.flush_page(true)?;
            }
            rec = rest;
            first = false;
            if rec.is_empty() {
                break;
            }
        }
        if last && self.alloc > 0 {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// Test hook: writes part of the pending bytes and fails once the
    /// budget in `fail_after` is used up, like a disk filling up.
    #[cfg(test)]
    fn inject_failure(&mut self, path: &Path) -> Result<(), WalError> {
        let Some(left) = self.fail_after else {
            return Ok(());
        };
        let pending = (self.alloc - self.flushed) as u64;
        if pending <= left {
            self.fail_after = Some(left - pending);
            return Ok(());
        }
        let n = left as usize;
        self.file
            .write_all(&self.page[self.flushed..self.flushed + n])
            .at(path)?;
        self.fail_after = Some(0);
        Err(WalError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::StorageFull, "injected: no space left"),
        ))
    }

    /// Pads and completes the page if it holds anything, creates the next
    /// segment and makes it active; the previous one is fsynced and closed
    /// in the background. Returns the new segment's index.
    pub(crate) fn next_segment(&mut self) -> Result<u32, WalError> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        let index = self
            .segment
            .checked_add(1)
            .ok_or_else(|| WalError::InvalidInput("segment index overflows 32 bits".into()))?;
        let file = open_segment(&self.dir, index)?;
        let prev = std::mem::replace(&mut self.file, file);
        let prev_path = self.path();
        self.segment = index;
        self.done_pages = 0;
        self.alloc = 0;
        self.flushed = 0;
        self.counters
            .current_segment
            .store(u64::from(index), Ordering::Relaxed);
        self.sync_in_background(prev, prev_path);
        Ok(index)
    }

    fn sync_in_background(&mut self, file: File, path: PathBuf) {
        self.syncs.retain(|h| !h.is_finished());
        let file = Arc::new(file);
        let job = {
            let (counters, dir, file, path) = (
                Arc::clone(&self.counters),
                self.dir.clone(),
                Arc::clone(&file),
                path.clone(),
            );
            move || sync_segment(&counters, &file, &path, &dir)
        };
        match std::thread::Builder::new()
            .name("ember-wal-fsync".into())
            .spawn(job)
        {
            Ok(h) => self.syncs.push(h),
            Err(e) => {
                tracing::debug!(error = %e, "cannot spawn WAL fsync thread; syncing inline");
                sync_segment(&self.counters, &file, &path, &self.dir);
            }
        }
    }

    /// Waits for background fsyncs of cut segments.
    pub(crate) fn wait_for_syncs(&mut self) {
        for h in self.syncs.drain(..) {
            if h.join().is_err() {
                tracing::error!("WAL fsync thread failed");
            }
        }
    }

    /// Writes any unwritten bytes of the page to the OS.
    pub(crate) fn flush(&mut self) -> Result<(), WalError> {
        if let Some(start) = self.broken.take() {
            self.undo(start)?;
        }
        if self.alloc > self.flushed {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// fsyncs the active segment.
    pub(crate) fn sync(&mut self) -> Result<(), WalError> {
        let start = Instant::now();
        let r = self.file.sync_data().at(&self.path());
        self.counters.record_fsync(start);
        r
    }

    /// Pads the last page, waits for background fsyncs and fsyncs the
    /// active segment.
    pub(crate) fn close(&mut self) -> Result<(), WalError> {
        if let Some(start) = self.broken.take() {
            self.undo(start)?;
        }
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.wait_for_syncs();
        self.sync()
    }

    /// Makes segment `index` (created empty) the active one, dropping the
    /// current file without writing anything more to it. For repair.
    pub(crate) fn restart_at(&mut self, index: u32) -> Result<(), WalError> {
        let file = open_segment(&self.dir, index)?;
        let path = segment_name(&self.dir, index);
        let len = file.metadata().at(&path)?.len();
        self.file = file;
        self.segment = index;
        self.done_pages = len.div_ceil(PAGE_SIZE as u64);
        self.page.fill(0);
        self.alloc = 0;
        self.flushed = 0;
        self.broken = None;
        self.batch = None;
        self.counters
            .current_segment
            .store(u64::from(index), Ordering::Relaxed);
        Ok(())
    }

    /// Takes back everything written since `start`.
    fn undo(&mut self, start: BatchStart) -> Result<(), WalError> {
        let result = self.try_undo(&start);
        if result.is_err() {
            self.broken = Some(start);
        } else {
            tracing::warn!(
                segment = %self.path().display(),
                offset = start.file_len,
                "took back a failed WAL write"
            );
        }
        result
    }

    fn try_undo(&mut self, start: &BatchStart) -> Result<(), WalError> {
        if self.segment != start.segment {
            // Remove the segments the batch created, newest first, then
            // go back to the one it started in.
            let file = open_segment(&self.dir, start.segment)?;
            drop(std::mem::replace(&mut self.file, file));
            for index in (start.segment + 1..=self.segment).rev() {
                let path = segment_name(&self.dir, index);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(WalError::io(&path, e)),
                }
                self.segment = index - 1;
            }
            self.segment = start.segment;
        }
        let path = self.path();
        self.file.set_len(start.file_len).at(&path)?;
        if start.page_saved {
            self.page[..start.alloc].copy_from_slice(&self.saved_page[..start.alloc]);
        }
        self.page[start.alloc..].fill(0);
        self.alloc = start.alloc;
        self.flushed = start.flushed;
        self.done_pages = start.done_pages;
        self.counters
            .current_segment
            .store(u64::from(self.segment), Ordering::Relaxed);
        Ok(())
    }
}

/// fsyncs a segment that was cut, and the directory that holds it.
fn sync_segment(counters: &Counters, file: &File, path: &Path, dir: &Path) {
    let start = Instant::now();
    if let Err(e) = file.sync_data() {
        tracing::error!(segment = %path.display(), error = %e, "cannot sync WAL segment");
    }
    counters.record_fsync(start);
    if let Err(e) = sync_dir(dir) {
        tracing::error!(error = %e, "cannot sync WAL directory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::reader::Reader;
    use crate::wal::segment::SegmentRange;
    use proptest::prelude::*;

    fn read_all(dir: &Path) -> Vec<Vec<u8>> {
        let mut r = Reader::open(&[SegmentRange::all(dir)]).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec.to_vec());
        }
        out
    }

    fn record(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j * 7 + j / 100) as u8).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Batches whose write fails leave nothing behind; the others read
        /// back whole, in order, and writing goes on after a failure.
        #[test]
        fn failed_batches_are_taken_back(
            batches in prop::collection::vec(
                (prop::collection::vec(0usize..50_000, 1..4), prop::option::of(0u64..80_000)),
                1..12,
            ),
            snappy in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let compression = if snappy { Compression::Snappy } else { Compression::None };
            let mut w = SegmentWriter::new(
                dir.path(), 0, 4 * PAGE_SIZE as u64, compression, Arc::new(Counters::default()),
            ).unwrap();
            let mut want = Vec::new();
            let mut n = 0;
            for (lens, fail) in &batches {
                let recs: Vec<Vec<u8>> = lens.iter().map(|&l| { n += 1; record(n, l) }).collect();
                w.fail_after = *fail;
                match w.log(&recs) {
                    Ok(()) => want.extend(recs),
                    Err(e) => prop_assert!(fail.is_some(), "unexpected error {e}"),
                }
                w.fail_after = None;
                prop_assert!(w.broken.is_none());
                prop_assert_eq!(read_all(dir.path()), want.clone());
            }
            w.close().unwrap();
            prop_assert_eq!(read_all(dir.path()), want);
        }
    }
}
