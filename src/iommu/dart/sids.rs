//! A set of DART stream IDs (up to 256, the T8110 maximum): what one
//! invalidation names.  The T8020 layout writes it as STREAM_SELECT words;
//! the T8110 layout issues one TLB_OP per member (docs/hw/dart.md §7).
#![forbid(unsafe_code)]

use core::fmt;

/// Stream IDs 0..=255 as eight 32-bit words, word `i` holding SIDs
/// 32·i..32·i+31 (the register layout of STREAM_SELECT and the T8110
/// enable and error-stream words).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SidSet([u32; 8]);

impl SidSet {
    /// No stream.
    pub const EMPTY: Self = Self([0; 8]);

    /// One stream.  SIDs above 255 do not exist on any DART and are
    /// ignored.
    pub fn one(sid: u32) -> Self {
        let mut s = Self::EMPTY;
        s.insert(sid);
        s
    }

    /// Streams 0..`n`.
    pub fn first(n: u32) -> Self {
        let mut s = Self::EMPTY;
        for sid in 0..n.min(256) {
            s.insert(sid);
        }
        s
    }

    /// Adds `sid` (ignored above 255).
    pub fn insert(&mut self, sid: u32) {
        if let Some(w) = self.0.get_mut(sid as usize / 32) {
            *w |= 1 << (sid % 32);
        }
    }

    /// `true` when `sid` is in the set.
    pub fn contains(&self, sid: u32) -> bool {
        self.0
            .get(sid as usize / 32)
            .is_some_and(|w| w & 1 << (sid % 32) != 0)
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// Members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..256u32).filter(|s| self.contains(*s))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Word `i` of the bitmap.
    pub fn word(&self, i: usize) -> u32 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// The union.
    pub fn union(mut self, other: Self) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        self
    }
}

impl fmt::Debug for SidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for SidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_the_register_layout() {
        let mut s = SidSet::one(1);
        s.insert(33);
        s.insert(255);
        s.insert(256);
        assert_eq!((s.word(0), s.word(1), s.word(7)), (2, 2, 1 << 31));
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().collect::<alloc::vec::Vec<_>>(), [1, 33, 255]);
        assert_eq!(alloc::format!("{s}"), "{1,33,255}");
        assert_eq!(SidSet::first(16).word(0), 0xffff);
        assert!(SidSet::EMPTY.is_empty() && !s.is_empty());
        assert!(SidSet::one(4).union(SidSet::one(5)).contains(5));
    }
}
