//! The IOVA allocator: hands out aligned, non-overlapping IOVA ranges from a
//! domain's aperture.
//!
//! First fit over a sorted list of free ranges; freeing merges neighbours and
//! refuses double frees.  The self-test needs tens of ranges, not millions.
#![forbid(unsafe_code)]

use crate::mm::Iova;
use alloc::vec;
use alloc::vec::Vec;

/// Why the IOVA allocator refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IovaError {
    /// Size zero, not a multiple of the granule, or alignment not a power of two.
    BadRequest {
        /// Size asked for.
        size: u64,
        /// Alignment asked for.
        align: u64,
    },
    /// No free range big enough.
    Exhausted {
        /// Size asked for.
        size: u64,
        /// Alignment asked for.
        align: u64,
    },
    /// Freeing a range that is (partly) free already or outside the aperture.
    NotAllocated {
        /// Start of the range.
        iova: Iova,
        /// Its size.
        size: u64,
    },
}

/// Allocator over `[base, base + size)`.
#[derive(Clone, Debug)]
pub struct IovaAllocator {
    base: u64,
    end: u64,
    granule: u64,
    /// Sorted, non-adjacent free ranges `(start, end)`.
    free: Vec<(u64, u64)>,
}

impl IovaAllocator {
    /// An allocator over `[base, base + size)` handing out multiples of
    /// `granule` (a power of two).  `base` is rounded up and the end down to
    /// the granule.
    pub fn new(base: Iova, size: u64, granule: u64) -> Self {
        let start = base.0.next_multiple_of(granule.max(1));
        let end = base.0.saturating_add(size) & !(granule.max(1) - 1);
        let free = if start < end {
            vec![(start, end)]
        } else {
            Vec::new()
        };
        Self {
            base: start,
            end,
            granule: granule.max(1),
            free,
        }
    }

    /// The aperture `(start, end)`.
    pub fn aperture(&self) -> (Iova, Iova) {
        (Iova(self.base), Iova(self.end))
    }

    /// Free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|(s, e)| e - s).sum()
    }

    /// Allocates `size` bytes aligned to `align` (at least the granule).
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<Iova, IovaError> {
        let align = align.max(self.granule);
        if size == 0 || !size.is_multiple_of(self.granule) || !align.is_power_of_two() {
            return Err(IovaError::BadRequest { size, align });
        }
        for i in 0..self.free.len() {
            let (s, e) = self.free[i];
            let Some(a) = s.checked_next_multiple_of(align) else {
                continue;
            };
            let Some(end) = a.checked_add(size) else {
                continue;
            };
            if end > e {
                continue;
            }
            // Split the free range around [a, end).
            match (a > s, end < e) {
                (false, false) => {
                    self.free.remove(i);
                }
                (true, false) => self.free[i] = (s, a),
                (false, true) => self.free[i] = (end, e),
                (true, true) => {
                    self.free[i] = (s, a);
                    self.free.insert(i + 1, (end, e));
                }
            }
            return Ok(Iova(a));
        }
        Err(IovaError::Exhausted { size, align })
    }

    /// Returns `[iova, iova + size)`.
    pub fn free(&mut self, iova: Iova, size: u64) -> Result<(), IovaError> {
        let bad = IovaError::NotAllocated { iova, size };
        let s = iova.0;
        let e = s.checked_add(size).ok_or(bad)?;
        if size == 0 || s < self.base || e > self.end || !(s | size).is_multiple_of(self.granule) {
            return Err(bad);
        }
        let i = self.free.partition_point(|&(fs, _)| fs < s);
        if i > 0 && self.free[i - 1].1 > s {
            return Err(bad);
        }
        if i < self.free.len() && self.free[i].0 < e {
            return Err(bad);
        }
        let merge_prev = i > 0 && self.free[i - 1].1 == s;
        let merge_next = i < self.free.len() && self.free[i].0 == e;
        match (merge_prev, merge_next) {
            (true, true) => {
                self.free[i - 1].1 = self.free[i].1;
                self.free.remove(i);
            }
            (true, false) => self.free[i - 1].1 = e,
            (false, true) => self.free[i].0 = s,
            (false, false) => self.free.insert(i, (s, e)),
        }
        Ok(())
    }
}
