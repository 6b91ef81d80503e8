//! A fast hasher and a set of byte strings seen before, for the checks of
//! `check_metrics`, which look up every sample's family and label set.

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, Hasher};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(MUL)
}

/// A word-at-a-time multiplicative hasher (FxHash-like) with a final
/// avalanche, seeded per [`FastState`]. Not meant to resist a determined
/// attacker; the set below stays correct under collisions anyway.
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = mix(h, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(head) = w.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            h = mix(h, u64::from_le_bytes(w));
        }
        self.0 = mix(h, bytes.len() as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0, n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = mix(self.0, n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64, so that every bit of the state counts in
        // the bits a hash table takes its buckets and tags from.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Builds [`FastHasher`]s with a seed drawn from std's [`RandomState`].
#[derive(Clone, Copy)]
pub(crate) struct FastState {
    seed: u64,
}

impl FastState {
    pub(crate) fn new() -> Self {
        FastState {
            seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

/// A byte string kept by a [`SeenSet`].
struct Stored {
    group: usize,
    start: usize,
    end: usize,
    /// The next string whose hash is the same (a collision), if any.
    next: Option<usize>,
}

/// A set of `(group, bytes)` keys: each key is stored once, in one arena,
/// and found by its hash; equal hashes are confirmed by comparing the
/// bytes, so a collision never makes two different keys equal.
pub(crate) struct SeenSet {
    state: FastState,
    /// The most recently stored key for each hash.
    heads: HashMap<u64, usize, FastState>,
    stored: Vec<Stored>,
    arena: Vec<u8>,
}

impl SeenSet {
    pub(crate) fn new() -> Self {
        let state = FastState::new();
        SeenSet {
            state,
            heads: HashMap::with_hasher(state),
            stored: Vec::new(),
            arena: Vec::new(),
        }
    }

    /// Adds `(group, key)`; `true` if it was not in the set before.
    pub(crate) fn insert(&mut self, group: usize, key: &[u8]) -> bool {
        let mut h = self.state.build_hasher();
        h.write_usize(group);
        h.write(key);
        let hash = h.finish();
        self.insert_hashed(group, key, hash)
    }

    /// `insert` with the hash of the key given.
    fn insert_hashed(&mut self, group: usize, key: &[u8], hash: u64) -> bool {
        let index = self.stored.len();
        let next = match self.heads.entry(hash) {
            Entry::Vacant(v) => {
                v.insert(index);
                None
            }
            Entry::Occupied(mut o) => {
                let mut at = Some(*o.get());
                while let Some(i) = at {
                    let Some(s) = self.stored.get(i) else {
                        break;
                    };
                    if s.group == group && self.arena.get(s.start..s.end) == Some(key) {
                        return false;
                    }
                    at = s.next;
                }
                // A collision: the new key heads the chain.
                Some(o.insert(index))
            }
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        self.stored.push(Stored {
            group,
            start,
            end: self.arena.len(),
            next,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted() {
        let mut s = SeenSet::new();
        assert!(s.insert(0, b"a"));
        assert!(s.insert(1, b"a"));
        assert!(s.insert(0, b""));
        assert!(s.insert(0, b"abcdefghijk"));
        assert!(!s.insert(0, b"a"));
        assert!(!s.insert(1, b"a"));
        assert!(!s.insert(0, b""));
        assert!(!s.insert(0, b"abcdefghijk"));
        assert!(s.insert(0, b"abcdefghijl"));
    }

    #[test]
    fn collisions_are_told_apart_by_their_bytes() {
        let mut s = SeenSet::new();
        let keys: [(usize, &[u8]); 5] = [(0, b"x"), (0, b"y"), (1, b"x"), (0, b""), (0, b"xy")];
        for (g, k) in keys {
            assert!(s.insert_hashed(g, k, 42), "{g} {k:?}");
        }
        for (g, k) in keys {
            assert!(!s.insert_hashed(g, k, 42), "{g} {k:?}");
        }
        assert_eq!(s.heads.len(), 1);
        assert_eq!(s.stored.len(), 5);
    }
}
