//! [`VecMap`]: a map kept as a vector sorted by key, for the drivers'
//! bookkeeping (SMMUv3 stream and context-descriptor tables, ASIDs;
//! virtio-iommu's domains, endpoints and mapping mirror).
//!
//! Those maps hold a handful to a few hundred entries, where a binary search
//! over a vector is as quick as a tree; a `BTreeMap` instance cost
//! 1.8–3.7 KiB of the image per key/value type (node splitting, merging and
//! stealing), this one a few hundred bytes (docs/performance.md,
//! "Footprint").  Inserting and removing move the tail: O(n) per change.

use alloc::vec::Vec;

/// Entries `(key, value)` with unique keys, sorted by key.
#[derive(Debug)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord + Copy, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|e| e.0.cmp(key))
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The value under `key`, mutable.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Takes the value under `key` out of the map.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// The value under `key`, inserting `V::default()` first when absent.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, V::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> &[(K, V)] {
        &self.0
    }

    /// The entries whose key is below `end`, in key order.
    pub fn below(&self, end: &K) -> &[(K, V)] {
        &self.0[..self.0.partition_point(|e| e.0 < *end)]
    }

    /// The entry with the greatest key at or below `key`.
    pub fn at_or_below(&self, key: &K) -> Option<&(K, V)> {
        let n = self.0.partition_point(|e| e.0 <= *key);
        n.checked_sub(1).map(|i| &self.0[i])
    }

    /// Every value, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|e| &e.1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use std::collections::BTreeMap;

    /// A pseudo-random walk of inserts, removes and lookups, against
    /// `BTreeMap` after every step.
    #[test]
    fn behaves_like_btreemap() {
        let mut ours = VecMap::new();
        let mut theirs = BTreeMap::new();
        let mut x = 0x2545_f491_u32;
        for step in 0..4000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let key = (x >> 8) % 64;
            match x % 4 {
                0 | 1 => assert_eq!(ours.insert(key, step), theirs.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                _ => *ours.get_or_default(key) += 1,
            }
            if x % 4 == 3 {
                *theirs.entry(key).or_default() += 1;
            }
            assert_eq!(ours.get(&key), theirs.get(&key));
            assert_eq!(ours.contains_key(&key), theirs.contains_key(&key));
            let all: Vec<(u32, u32)> = theirs.iter().map(|(&k, &v)| (k, v)).collect();
            assert_eq!(ours.entries(), &all[..]);
            let below: Vec<(u32, u32)> = theirs.range(..key).map(|(&k, &v)| (k, v)).collect();
            assert_eq!(ours.below(&key), &below[..]);
            assert_eq!(
                ours.at_or_below(&key).copied(),
                theirs.range(..=key).next_back().map(|(&k, &v)| (k, v))
            );
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.is_empty(), theirs.is_empty());
            assert!(ours.values().eq(theirs.values()));
        }
        if let Some(v) = ours.get_mut(&3) {
            *v = 7;
        }
        assert!(ours.get(&3).is_none_or(|&v| v == 7));
    }
}
