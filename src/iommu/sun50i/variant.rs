//! What differs between the sun50i IOMMUs this driver takes
//! (docs/hw/sun50i.md §1): the number of micro-TLB slots (masters), range
//! invalidation, and the VA debug port.
#![forbid(unsafe_code)]

/// One SoC's IOMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// SoC name for reports.
    pub name: &'static str,
    /// The device-tree compatible.
    pub compatible: &'static str,
    /// Micro-TLB slots: masters 0..masters.
    pub masters: u8,
    /// TLB invalidation by start/end range (0x084–0x08C) exists.  The
    /// driver does not use it: its sync is the full flush (§7).
    pub tlb_range: bool,
    /// The VA debug port (0x190–0x198): documented (`Some(true)`), or
    /// unconfirmed (`None`: no manual text; the vendor BSP uses it).
    pub va_port: Option<bool>,
}

impl Variant {
    /// One bit per micro-TLB slot: 0x3F on H6, 0x7F on H616 (Linux's 0x3F
    /// misses H616's master 6, docs/hw/sun50i.md §13).
    pub const fn master_mask(&self) -> u32 {
        (1 << self.masters) - 1
    }
}

/// H6 (sun50iw6): six slots, no range invalidation, VA port unconfirmed.
pub const H6: Variant = Variant {
    name: "H6",
    compatible: "allwinner,sun50i-h6-iommu",
    masters: 6,
    tlb_range: false,
    va_port: None,
};

/// H616/H618 (sun50iw9): seven slots (G2D is master 6), range
/// invalidation and the VA port documented ([M T507], [M H616]).
pub const H616: Variant = Variant {
    name: "H616",
    compatible: "allwinner,sun50i-h616-iommu",
    masters: 7,
    tlb_range: true,
    va_port: Some(true),
};

/// Every variant, for lookup by compatible.
pub const VARIANTS: [Variant; 2] = [H6, H616];

/// The variant of `compatible`, if this driver takes it.
pub fn by_compatible(compatible: &str) -> Option<Variant> {
    VARIANTS.into_iter().find(|v| v.compatible == compatible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibles_pick_the_slot_count() {
        assert_eq!(
            by_compatible("allwinner,sun50i-h6-iommu")
                .unwrap()
                .master_mask(),
            0x3f
        );
        assert_eq!(
            by_compatible("allwinner,sun50i-h616-iommu")
                .unwrap()
                .master_mask(),
            0x7f
        );
        assert!(by_compatible("allwinner,sun8i-iommu").is_none());
    }
}
