//! Isolation: readers see whole commits or nothing of them.
//!
//! Every commit gets an *append ID* from a counter when it starts writing
//! into the series, and releases it when done. A reader takes a
//! [`ReadState`] when its querier is created: the highest ID handed out so
//! far and the IDs of the commits still in progress. Commits with a higher
//! ID, or still in progress, are invisible to it. Each series remembers, for
//! the commits that some reader might not see yet, the ID and how many
//! samples the series had before that commit (its *transaction log*); a
//! reader shows the series up to the first sample of the oldest commit it
//! must not see. This is Prometheus' scheme (`isolation.go`) with one entry
//! per commit and series instead of one per sample.
//!
//! The *low watermark* is the lowest ID that some current or future reader
//! might not see: the oldest open commit, the oldest ID an open reader must
//! skip, or the next ID. Log entries below it are visible to everyone and
//! are dropped at the series' next commit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

/// What one reader may see.
#[derive(Debug, Clone)]
pub(crate) struct ReadState {
    /// Highest append ID handed out when the state was taken.
    max_id: u64,
    /// IDs in progress then, ascending.
    incomplete: Vec<u64>,
    token: u64,
}

impl ReadState {
    /// Whether the commit with `id` is visible.
    pub(crate) fn visible(&self, id: u64) -> bool {
        id <= self.max_id && self.incomplete.binary_search(&id).is_err()
    }

    /// The lowest ID this reader does not see.
    fn low(&self) -> u64 {
        self.incomplete
            .first()
            .copied()
            .unwrap_or(self.max_id + 1)
            .min(self.max_id + 1)
    }
}

#[derive(Debug, Default)]
struct State {
    last_id: u64,
    open_appends: BTreeSet<u64>,
    /// Open reads: token → (low, mint, maxt).
    reads: BTreeMap<u64, (u64, i64, i64)>,
    next_token: u64,
}

impl State {
    fn low_watermark(&self) -> u64 {
        let mut low = self.last_id + 1;
        if let Some(&a) = self.open_appends.first() {
            low = low.min(a);
        }
        for &(r, _, _) in self.reads.values() {
            low = low.min(r);
        }
        low
    }
}

/// The head's isolation bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Isolation {
    state: Mutex<State>,
    /// Cached low watermark, updated under the lock.
    low: AtomicU64,
    /// Signalled when a read ends.
    read_closed: Condvar,
}

impl Isolation {
    pub(crate) fn new() -> Self {
        let iso = Self::default();
        iso.low.store(1, Ordering::Release);
        iso
    }

    /// Starts a commit; its samples are invisible until
    /// [`close_append`](Self::close_append).
    pub(crate) fn open_append(&self) -> u64 {
        let mut s = self.state.lock();
        s.last_id += 1;
        let id = s.last_id;
        s.open_appends.insert(id);
        self.low.store(s.low_watermark(), Ordering::Release);
        id
    }

    /// Ends a commit.
    pub(crate) fn close_append(&self, id: u64) {
        let mut s = self.state.lock();
        s.open_appends.remove(&id);
        self.low.store(s.low_watermark(), Ordering::Release);
    }

    /// A new reader's view, registered until [`close_read`](Self::close_read).
    pub(crate) fn read_state(&self, mint: i64, maxt: i64) -> ReadState {
        let mut s = self.state.lock();
        s.next_token += 1;
        let rs = ReadState {
            max_id: s.last_id,
            incomplete: s.open_appends.iter().copied().collect(),
            token: s.next_token,
        };
        s.reads.insert(rs.token, (rs.low(), mint, maxt));
        self.low.store(s.low_watermark(), Ordering::Release);
        rs
    }

    /// Unregisters a reader.
    pub(crate) fn close_read(&self, rs: &ReadState) {
        let mut s = self.state.lock();
        s.reads.remove(&rs.token);
        self.low.store(s.low_watermark(), Ordering::Release);
        self.read_closed.notify_all();
    }

    /// Log entries with IDs below this are visible to every reader.
    pub(crate) fn low_watermark(&self) -> u64 {
        self.low.load(Ordering::Acquire)
    }

    /// Waits until no open reader overlaps `[mint, maxt]`, or `timeout`
    /// passes; returns whether none does.
    pub(crate) fn wait_for_readers(
        &self,
        mint: i64,
        maxt: i64,
        timeout: std::time::Duration,
    ) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut s = self.state.lock();
        loop {
            let busy = s.reads.values().any(|&(_, a, b)| a <= maxt && mint <= b);
            if !busy {
                return true;
            }
            if self.read_closed.wait_until(&mut s, deadline).timed_out() {
                return !s.reads.values().any(|&(_, a, b)| a <= maxt && mint <= b);
            }
        }
    }
}

/// One entry of a series' transaction log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxEntry {
    /// The commit's append ID.
    pub(crate) id: u64,
    /// Samples the series had before the commit's first sample.
    pub(crate) before: u64,
}

/// Per-series transaction log: commits some reader may not see yet.
///
/// Nearly always empty or holding the series' last commit, so one entry is
/// kept inline and only concurrent commits or long-lived readers spill to
/// the heap.
#[derive(Debug, Default)]
pub(crate) enum TxLog {
    /// Every reader sees everything.
    #[default]
    Empty,
    /// One commit.
    One(TxEntry),
    /// Several commits, oldest first.
    Many(Vec<TxEntry>),
}

impl TxLog {
    /// Records that commit `id` appends after `before` samples, dropping
    /// entries everyone sees. Consecutive samples of one commit share an
    /// entry.
    pub(crate) fn record(&mut self, id: u64, before: u64, low: u64) {
        let e = TxEntry { id, before };
        match self {
            TxLog::Empty => *self = TxLog::One(e),
            TxLog::One(old) if old.id == id => {}
            TxLog::One(old) if old.id < low => *old = e,
            TxLog::One(old) => *self = TxLog::Many(vec![*old, e]),
            TxLog::Many(v) => {
                if v.last().is_some_and(|l| l.id == id) {
                    return;
                }
                v.retain(|x| x.id >= low);
                v.push(e);
                if v.len() == 1 {
                    *self = TxLog::One(e);
                }
            }
        }
    }

    /// How many of the series' `total` samples `rs` sees.
    pub(crate) fn visible(&self, total: u64, rs: &ReadState) -> u64 {
        let entries: &[TxEntry] = match self {
            TxLog::Empty => &[],
            TxLog::One(e) => std::slice::from_ref(e),
            TxLog::Many(v) => v,
        };
        entries
            .iter()
            .find(|e| !rs.visible(e.id))
            .map_or(total, |e| e.before.min(total))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            TxLog::Empty => 0,
            TxLog::One(_) => 1,
            TxLog::Many(v) => v.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_only_closed_appends_older_than_them() {
        let iso = Isolation::new();
        let a = iso.open_append();
        let before = iso.read_state(0, 10);
        let b = iso.open_append();
        iso.close_append(b);
        let during = iso.read_state(0, 10);
        iso.close_append(a);
        let after = iso.read_state(0, 10);
        assert!(!before.visible(a) && !before.visible(b));
        assert!(!during.visible(a) && during.visible(b));
        assert!(after.visible(a) && after.visible(b));
        assert_eq!(iso.low_watermark(), a);
        iso.close_read(&before);
        iso.close_read(&during);
        assert_eq!(iso.low_watermark(), b + 1);
        iso.close_read(&after);
        assert!(iso.state.lock().reads.is_empty());
    }

    #[test]
    fn tx_log_prefix() {
        let iso = Isolation::new();
        let mut log = TxLog::default();
        let a = iso.open_append();
        log.record(a, 0, iso.low_watermark());
        iso.close_append(a);
        let r1 = iso.read_state(0, 0);
        let b = iso.open_append();
        log.record(b, 5, iso.low_watermark());
        let r2 = iso.read_state(0, 0);
        iso.close_append(b);
        let r3 = iso.read_state(0, 0);
        assert_eq!(log.visible(8, &r1), 5);
        assert_eq!(log.visible(8, &r2), 5);
        assert_eq!(log.visible(8, &r3), 8);
        for r in [&r1, &r2, &r3] {
            iso.close_read(r);
        }
        let c = iso.open_append();
        log.record(c, 8, iso.low_watermark());
        assert_eq!(log.len(), 1);
        iso.close_append(c);
        assert!(iso.wait_for_readers(0, 1, std::time::Duration::from_millis(1)));
        let r = iso.read_state(0, 10);
        assert!(!iso.wait_for_readers(5, 6, std::time::Duration::from_millis(1)));
        assert!(iso.wait_for_readers(11, 12, std::time::Duration::from_millis(1)));
        iso.close_read(&r);
    }
}
