//! Typed addresses.
//!
//! Three address spaces meet in this project and mixing them up is exactly the
//! kind of bug an IOMMU test image must not have:
//!
//! * [`PhysAddr`] — a CPU physical address (what the DT `reg` and `/memory` give).
//! * [`VirtAddr`] — a CPU virtual address.  The image runs identity mapped, so
//!   converting is free, but the conversion is still spelled out at call sites.
//! * [`Iova`] — an I/O virtual address: what a DMA master puts on the bus and
//!   the IOMMU translates.
//!
//! A fourth, [`BusAddr`], is what a device sees when no IOMMU translates (the
//! CPU physical address seen through `dma-ranges`); page-table walkers and
//! command queues are programmed with bus addresses.

use core::fmt;
use core::ops::{Add, Sub};

macro_rules! typed_addr {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw 64-bit value.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// `true` when the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }

            /// Rounds down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }

            /// Rounds up to a multiple of `align` (a power of two); `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(v) => Some(Self(v & !(align - 1))),
                    None => None,
                }
            }

            /// Adds a byte offset; `None` on overflow.
            pub const fn checked_add(self, off: u64) -> Option<Self> {
                match self.0.checked_add(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
        }

        impl Add<u64> for $name {
            type Output = Self;
            fn add(self, rhs: u64) -> Self {
                Self(self.0 + rhs)
            }
        }

        impl Sub<$name> for $name {
            type Output = u64;
            fn sub(self, rhs: $name) -> u64 {
                self.0 - rhs.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, ":{:#x}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

typed_addr!(
    /// A CPU physical address.
    PhysAddr,
    "PA"
);
typed_addr!(
    /// A CPU virtual address (identity mapped in this image).
    VirtAddr,
    "VA"
);
typed_addr!(
    /// An I/O virtual address, translated by an IOMMU.
    Iova,
    "IOVA"
);
typed_addr!(
    /// An untranslated bus address: what a device or an IOMMU walker uses to
    /// reach memory (page tables, queues).
    BusAddr,
    "BUS"
);

impl PhysAddr {
    /// The identity-mapped virtual address of this physical address.
    pub const fn to_virt(self) -> VirtAddr {
        VirtAddr(self.0)
    }
}

impl VirtAddr {
    /// The physical address behind an identity-mapped virtual address.
    pub const fn to_phys(self) -> PhysAddr {
        PhysAddr(self.0)
    }
}

/// A half-open physical range `[base, base + size)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PhysRange {
    /// First byte.
    pub base: PhysAddr,
    /// Length in bytes.
    pub size: u64,
}

impl PhysRange {
    /// Builds a range.
    pub const fn new(base: PhysAddr, size: u64) -> Self {
        Self { base, size }
    }

    /// One past the last byte (saturating at `u64::MAX`).
    pub const fn end(&self) -> PhysAddr {
        PhysAddr(self.base.0.saturating_add(self.size))
    }

    /// `true` when `addr` lies inside the range.
    pub const fn contains(&self, addr: PhysAddr) -> bool {
        addr.0 >= self.base.0 && addr.0 < self.end().0
    }

    /// `true` when the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.base.0 < other.end().0 && other.base.0 < self.end().0
    }
}

impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}..{:#x})", self.base.0, self.end().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_helpers() {
        let a = PhysAddr(0x4020_1234);
        assert!(!a.is_aligned(0x1000));
        assert_eq!(a.align_down(0x1000), PhysAddr(0x4020_1000));
        assert_eq!(a.align_up(0x1000), Some(PhysAddr(0x4020_2000)));
        assert_eq!(PhysAddr(u64::MAX).align_up(0x1000), None);
    }

    #[test]
    fn range_overlap_is_half_open() {
        let a = PhysRange::new(PhysAddr(0x1000), 0x1000);
        let b = PhysRange::new(PhysAddr(0x2000), 0x1000);
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&PhysRange::new(PhysAddr(0x1fff), 2)));
        assert!(a.contains(PhysAddr(0x1fff)));
        assert!(!a.contains(PhysAddr(0x2000)));
    }
}
