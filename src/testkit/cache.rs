//! A model cache whose entries stay until invalidated: the TLB, the walk
//! cache and the configuration cache of every model are one of these.
//!
//! "Stale until invalidated" is the behaviour that lets a withheld
//! invalidation show, and it is what the architectures permit (an entry
//! may live until the invalidation that covers it completes).  A model
//! chooses how entries are keyed ([`Keying`]): by context tag (ASID,
//! context bank), by stream (DART caches per stream), or not at all (one
//! shared context).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// What distinguishes two cached entries for the same address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keying {
    /// Entries carry the context tag.
    ByTag,
    /// Entries carry the stream ID.
    ByStream,
    /// Entries carry neither: everything is one context.
    Global,
}

impl Keying {
    /// The key of an entry created for (`tag`, `stream`).
    pub fn key(self, tag: u32, stream: u32) -> u32 {
        match self {
            Self::ByTag => tag,
            Self::ByStream => stream,
            Self::Global => 0,
        }
    }
}

/// Entries `(key, item)` kept until a matching invalidation.
#[derive(Clone, Debug)]
pub struct StaleCache<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for StaleCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Copy + PartialEq, V: Copy> StaleCache<K, V> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first entry matching `hit`.
    pub fn find(&self, hit: impl Fn(&K, &V) -> bool) -> Option<(K, V)> {
        self.entries.iter().copied().find(|(k, v)| hit(k, v))
    }

    /// Caches `(key, item)`.
    pub fn insert(&mut self, key: K, item: V) {
        self.entries.push((key, item));
    }

    /// Drops every entry matching `gone`; returns how many went.
    pub fn invalidate(&mut self, gone: impl Fn(&K, &V) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(k, v)| !gone(k, v));
        before - self.entries.len()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Every entry held, oldest first (what a test inspects).
    pub fn entries(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.entries.iter().copied()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_a_matching_invalidation() {
        let mut c = StaleCache::new();
        c.insert(Keying::ByTag.key(1, 0x20), 0x1000u64);
        c.insert(Keying::ByTag.key(2, 0x28), 0x1000u64);
        assert!(c.find(|k, v| *k == 1 && *v == 0x1000).is_some());
        assert_eq!(c.invalidate(|k, _| *k == 1), 1);
        assert!(c.find(|k, _| *k == 1).is_none());
        assert_eq!(c.len(), 1);
        assert_eq!(c.entries().collect::<Vec<_>>(), [(2, 0x1000)]);
        c.insert(3, 0x2000);
        assert_eq!(c.entries().map(|(k, _)| k).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(Keying::Global.key(1, 2), Keying::Global.key(3, 4));
        assert_eq!(Keying::ByStream.key(1, 2), 2);
    }
}
