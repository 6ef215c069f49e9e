//! Where the heap and the DMA pool go: free RAM is `/memory` minus the image,
//! the DTB and every reservation; the heap and the pool are carved from the
//! largest free range.  Pure logic, tested on the host.
#![forbid(unsafe_code)]

use super::addr::{PhysAddr, PhysRange};
use core::fmt;

/// Page size used for carving (the pool hands out 4 KiB frames).
pub const PAGE: u64 = 4096;
/// Preferred alignment of the DMA pool, so 2 MiB block mappings are possible.
pub const POOL_ALIGN: u64 = 2 << 20;

/// Why no memory plan could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// More free fragments than the output can hold.
    TooManyRanges {
        /// Capacity of the output.
        capacity: usize,
    },
    /// The largest free range is too small.
    NotEnoughRam {
        /// Bytes requested: the smallest free range heap and pool fit in.
        needed: u64,
        /// Largest free range found (the bytes available in one piece).
        largest: PhysRange,
        /// Free bytes in all ranges together.
        free_total: u64,
        /// Number of free ranges.
        ranges: usize,
    },
}

impl LayoutError {
    /// Bytes requested and bytes available in one piece, for a failure that
    /// is about size (`None` for [`LayoutError::TooManyRanges`]).
    pub fn requested_available(&self) -> Option<(u64, u64)> {
        match self {
            LayoutError::NotEnoughRam {
                needed, largest, ..
            } => Some((*needed, largest.size)),
            LayoutError::TooManyRanges { .. } => None,
        }
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::TooManyRanges { capacity } => {
                write!(f, "free RAM is split into more than {capacity} ranges")
            }
            LayoutError::NotEnoughRam {
                needed,
                largest,
                free_total,
                ranges,
            } => write!(
                f,
                "heap and DMA pool need {needed:#x} bytes ({} KiB) of contiguous free RAM; \
                 the largest free range is {largest}, {:#x} bytes ({} KiB) \
                 ({free_total:#x} bytes = {} KiB free in {ranges} ranges)",
                needed / 1024,
                largest.size,
                largest.size / 1024,
                free_total / 1024,
            ),
        }
    }
}

/// `keep` minus every range in `holes`, page-aligned inward, written to `out`.
/// Returns the number of ranges written.
pub fn subtract(
    keep: &[PhysRange],
    holes: &[PhysRange],
    out: &mut [PhysRange],
) -> Result<usize, LayoutError> {
    let mut n = 0usize;
    for k in keep {
        // Work list of pieces of `k` still to check against later holes:
        // processed by recursion over the hole index to stay allocation-free.
        n = carve(*k, holes, out, n)?;
    }
    Ok(n)
}

fn carve(
    piece: PhysRange,
    holes: &[PhysRange],
    out: &mut [PhysRange],
    n: usize,
) -> Result<usize, LayoutError> {
    let Some((hole, rest)) = holes.split_first() else {
        let start = piece.base.align_up(PAGE);
        let end = piece.end().align_down(PAGE);
        return match start {
            Some(s) if s < end => {
                let capacity = out.len();
                let slot = out
                    .get_mut(n)
                    .ok_or(LayoutError::TooManyRanges { capacity })?;
                *slot = PhysRange::new(s, end - s);
                Ok(n + 1)
            }
            _ => Ok(n),
        };
    };
    if hole.size == 0 || !piece.overlaps(hole) {
        return carve(piece, rest, out, n);
    }
    let mut n = n;
    if piece.base < hole.base {
        n = carve(
            PhysRange::new(piece.base, hole.base - piece.base),
            rest,
            out,
            n,
        )?;
    }
    if hole.end() < piece.end() {
        n = carve(
            PhysRange::new(hole.end(), piece.end() - hole.end()),
            rest,
            out,
            n,
        )?;
    }
    Ok(n)
}

/// Where the heap and DMA pool live.  Only [`plan`] builds one, so a plan
/// always describes free RAM carved by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    heap: PhysRange,
    dma_pool: PhysRange,
}

impl MemoryPlan {
    /// The Rust heap.
    pub fn heap(&self) -> PhysRange {
        self.heap
    }
    /// The DMA frame pool (2 MiB aligned when the range allows).
    pub fn dma_pool(&self) -> PhysRange {
        self.dma_pool
    }
}

/// The smallest free range [`plan`] accepts: a heap and a pool of at least
/// 1 MiB each, with room to align the pool.
pub const PLAN_MIN: u64 = 4 << 20;

/// Carves a heap of up to `heap_max` and a pool of up to `pool_max` bytes from
/// the largest free range; each gets at least a quarter of that range.
/// A largest range below [`PLAN_MIN`] is [`LayoutError::NotEnoughRam`], with
/// the numbers (requested, available).
pub fn plan(free: &[PhysRange], heap_max: u64, pool_max: u64) -> Result<MemoryPlan, LayoutError> {
    let largest = free
        .iter()
        .copied()
        .max_by_key(|r| r.size)
        .unwrap_or_default();
    if largest.size < PLAN_MIN {
        return Err(LayoutError::NotEnoughRam {
            needed: PLAN_MIN,
            largest,
            free_total: total(free),
            ranges: free.len(),
        });
    }
    let heap_size = heap_max.min(largest.size / 4) & !(PAGE - 1);
    let heap = PhysRange::new(largest.base, heap_size);
    let rest_base = heap.end();
    let aligned = rest_base.align_up(POOL_ALIGN).unwrap_or(rest_base);
    let pool_base = if aligned < largest.end() && largest.end() - aligned >= largest.size / 4 {
        aligned
    } else {
        rest_base
    };
    let pool_size = pool_max.min(largest.end() - pool_base) & !(PAGE - 1);
    Ok(MemoryPlan {
        heap,
        dma_pool: PhysRange::new(pool_base, pool_size),
    })
}

/// Total bytes in `ranges`.
pub fn total(ranges: &[PhysRange]) -> u64 {
    ranges.iter().map(|r| r.size).sum()
}

/// `true` when `inner` lies entirely inside one of `ranges`.
pub fn covered_by(inner: PhysRange, ranges: &[PhysRange]) -> bool {
    ranges
        .iter()
        .any(|r| r.base <= inner.base && inner.end() <= r.end())
}

/// The first range in `ranges` that overlaps `r`, if any.
pub fn first_overlap(r: PhysRange, ranges: &[PhysRange]) -> Option<PhysRange> {
    ranges.iter().copied().find(|o| o.overlaps(&r))
}

/// Shorthand for tests and callers: a range from a base and size.
pub const fn range(base: u64, size: u64) -> PhysRange {
    PhysRange::new(PhysAddr(base), size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_image_dtb_and_reservations() {
        let ram = [range(0x4000_0000, 0x1000_0000)];
        let holes = [
            range(0x4020_0000, 0x10_0000), // image
            range(0x4800_0000, 0x1_0000),  // dtb
            range(0x3000_0000, 0x1000),    // outside RAM: ignored
            range(0x4000_0800, 0x10),      // odd reservation: page rounded
        ];
        let mut out = [PhysRange::default(); 8];
        let n = subtract(&ram, &holes, &mut out).unwrap();
        assert_eq!(
            &out[..n],
            &[
                range(0x4000_1000, 0x1f_f000),
                range(0x4030_0000, 0x7d0_0000),
                range(0x4801_0000, 0x7ff_0000),
            ]
        );
        assert_eq!(
            total(&out[..n]),
            0x1000_0000 - 0x10_0000 - 0x1_0000 - 0x1000
        );
    }

    #[test]
    fn too_many_fragments_is_an_error() {
        let ram = [range(0, 0x10_0000)];
        let holes: std::vec::Vec<_> = (0..10)
            .map(|i| range(0x1000 + i * 0x2000, 0x1000))
            .collect();
        let mut out = [PhysRange::default(); 4];
        assert_eq!(
            subtract(&ram, &holes, &mut out),
            Err(LayoutError::TooManyRanges { capacity: 4 })
        );
    }

    #[test]
    fn plan_uses_largest_range_and_aligns_pool() {
        let free = [
            range(0x4000_1000, 0x1f_f000),
            range(0x4030_0000, 0x7d0_0000),
        ];
        let p = plan(&free, 8 << 20, 32 << 20).unwrap();
        assert_eq!(p.heap(), range(0x4030_0000, 8 << 20));
        assert_eq!(p.dma_pool(), range(0x40c0_0000, 32 << 20));
        assert!(!p.heap().overlaps(&p.dma_pool()));
        assert!(covered_by(p.dma_pool(), &free));
    }

    #[test]
    fn plan_scales_down_on_small_boards_and_fails_when_tiny() {
        let p = plan(&[range(0x8000_0000, 8 << 20)], 8 << 20, 32 << 20).unwrap();
        assert_eq!(p.heap().size, 2 << 20);
        assert!(p.dma_pool().size >= 2 << 20);
        assert!(covered_by(p.dma_pool(), &[range(0x8000_0000, 8 << 20)]));
        assert!(matches!(
            plan(&[range(0, 1 << 20)], 1, 1),
            Err(LayoutError::NotEnoughRam { .. })
        ));
        assert!(matches!(
            plan(&[], 1, 1),
            Err(LayoutError::NotEnoughRam { .. })
        ));
    }

    #[test]
    fn not_enough_ram_names_requested_and_available() {
        // QEMU `virt` with `-m 8M`: the image at 0x4020_0000 and the DTB
        // at 0x4040_0000 leave 2 MiB, 1.25 MiB and 3 MiB.
        let free = [
            range(0x4000_0000, 0x20_0000),
            range(0x402c_0000, 0x14_0000),
            range(0x4050_0000, 0x30_0000),
        ];
        let e = plan(&free, 8 << 20, 32 << 20).unwrap_err();
        assert_eq!(
            e,
            LayoutError::NotEnoughRam {
                needed: PLAN_MIN,
                largest: range(0x4050_0000, 0x30_0000),
                free_total: 0x64_0000,
                ranges: 3,
            }
        );
        assert_eq!(e.requested_available(), Some((PLAN_MIN, 0x30_0000)));
        let text = std::format!("{e}");
        for want in [
            "0x400000 bytes (4096 KiB)",
            "0x300000 bytes (3072 KiB)",
            "6400 KiB free in 3 ranges",
        ] {
            assert!(text.contains(want), "{want:?} not in {text:?}");
        }
        // One byte short of the minimum still fails; the minimum is enough.
        assert!(plan(&[range(0, PLAN_MIN - PAGE)], 1 << 20, 1 << 20).is_err());
        assert!(plan(&[range(0, PLAN_MIN)], 1 << 20, 1 << 20).is_ok());
        assert_eq!(
            LayoutError::TooManyRanges { capacity: 4 }.requested_available(),
            None
        );
    }
}
