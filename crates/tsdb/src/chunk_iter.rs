//! Float samples of one series read from a time-ordered list of XOR chunks:
//! the one iterator behind both block and head reads.

use std::fmt::Display;
use std::sync::Arc;

use ember_chunks::XorIter;
use ember_model::{FloatHistogram, Histogram, Timestamp};
use ember_storage::{SampleIterator, StorageError, ValueType};

use crate::error::TsdbError;
use crate::tombstones::Intervals;

/// Where the chunks come from (a block's chunk files, the head's chunks).
pub(crate) trait ChunkList<'a> {
    /// Number of chunks.
    fn len(&self) -> usize;
    /// The newest timestamp of chunk `i`.
    fn max_time(&self, i: usize) -> Timestamp;
    /// The bytes of chunk `i`.
    fn data(&self, i: usize) -> Result<&'a [u8], TsdbError>;
    /// An error for chunk `i` that names where it is stored.
    fn error(&self, i: usize, e: &dyn Display) -> TsdbError;
}

/// Keeps the samples in `[mint, maxt]` not covered by `deleted`; a corrupt
/// chunk ends iteration with an error naming where it is.
pub(crate) struct ChunkListIterator<'a, L> {
    list: L,
    next_chunk: usize,
    cur: Option<XorIter<'a>>,
    mint: Timestamp,
    maxt: Timestamp,
    deleted: Option<&'a Intervals>,
    t: Timestamp,
    v: f64,
    valid: bool,
    err: Option<StorageError>,
}

impl<'a, L: ChunkList<'a>> ChunkListIterator<'a, L> {
    pub(crate) fn new(
        list: L,
        mint: Timestamp,
        maxt: Timestamp,
        deleted: Option<&'a Intervals>,
    ) -> Self {
        ChunkListIterator {
            list,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            deleted,
            t: 0,
            v: 0.0,
            valid: false,
            err: None,
        }
    }

    /// Takes the error that stopped the iterator.
    pub(crate) fn take_error(&mut self) -> Option<StorageError> {
        self.err.take()
    }

    fn stop(&mut self) -> ValueType {
        self.cur = None;
        self.next_chunk = self.list.len();
        self.valid = false;
        ValueType::None
    }

    fn fail(&mut self, e: TsdbError) -> ValueType {
        self.err = Some(e.into());
        self.stop()
    }

    /// Opens the next chunk that may hold samples at or after `from`;
    /// false when there is none (or on error).
    fn open_next(&mut self, from: Timestamp) -> bool {
        while self.next_chunk < self.list.len() {
            let i = self.next_chunk;
            self.next_chunk += 1;
            if self.list.max_time(i) < from {
                continue;
            }
            let opened = self
                .list
                .data(i)
                .and_then(|d| XorIter::new(d).map_err(|e| self.list.error(i, &e)));
            match opened {
                Ok(it) => {
                    self.cur = Some(it);
                    return true;
                }
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
        false
    }

    /// Takes a decoded sample, or says to keep going.
    fn accept(&mut self, t: Timestamp, v: f64) -> Option<ValueType> {
        if t > self.maxt {
            return Some(self.stop());
        }
        if t < self.mint || self.deleted.is_some_and(|d| d.contains(t)) {
            return None;
        }
        self.t = t;
        self.v = v;
        self.valid = true;
        Some(ValueType::Float)
    }

    fn advance(&mut self, seek_to: Option<Timestamp>) -> ValueType {
        let from = seek_to.unwrap_or(Timestamp::MIN).max(self.mint);
        loop {
            if self.cur.is_none() && !self.open_next(from) {
                self.valid = false;
                return ValueType::None;
            }
            let Some(it) = self.cur.as_mut() else {
                continue;
            };
            let step = match seek_to {
                Some(target) => it.seek(target.max(self.mint)).transpose(),
                None => it.next(),
            };
            match step {
                Some(Ok((t, v))) => {
                    if let Some(vt) = self.accept(t, v) {
                        return vt;
                    }
                    // Inside a tombstone or before mint: from here on,
                    // plain iteration finds the next kept sample.
                    if seek_to.is_some() {
                        return self.advance(None);
                    }
                }
                Some(Err(e)) => {
                    let e = self.list.error(self.next_chunk - 1, &e);
                    return self.fail(e);
                }
                None => self.cur = None,
            }
        }
    }
}

impl<'a, L: ChunkList<'a>> SampleIterator for ChunkListIterator<'a, L> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        self.advance(None)
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        if self.valid && self.t >= t {
            return ValueType::Float;
        }
        self.advance(Some(t))
    }

    fn at(&self) -> (Timestamp, f64) {
        if self.valid {
            (self.t, self.v)
        } else {
            (0, 0.0)
        }
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        (self.at_t(), Arc::default())
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        (self.at_t(), Arc::default())
    }

    fn at_t(&self) -> Timestamp {
        if self.valid {
            self.t
        } else {
            0
        }
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
