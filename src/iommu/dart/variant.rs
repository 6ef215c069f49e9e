//! What differs between the DARTs this driver takes, in one table like
//! Linux's per-SoC `apple_dart_hw` structs (docs/hw/dart.md §1): the
//! register layout, the PTE format, stream and TTBR counts, where the TTBR
//! and stream-enable arrays sit, the output size and whether bypass is
//! allowed.  What a variant leaves to the ID registers (T8110: SIDs and
//! widths from PARAMS3/4) is read by `hw.rs`.
#![forbid(unsafe_code)]

use crate::iommu::pgtable::dart::PteFormat;

/// The register layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// t8103, t6000, t8103-usb4: STREAM_SELECT + STREAM_COMMAND
    /// invalidation, lock in CONFIG, four TTBRs per stream.
    T8020,
    /// M2 and later: per-SID TLB_OP invalidation, lock in PROTECT, one
    /// TTBR per stream, PARAMS3/4.
    T8110,
}

/// One DART variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Short name for reports.
    pub name: &'static str,
    /// The device-tree compatible.
    pub compatible: &'static str,
    /// Register layout.
    pub layout: Layout,
    /// Leaf format.
    pub pte: PteFormat,
    /// Stream IDs the layout addresses (T8110: the most PARAMS4 may
    /// report; the real count comes from PARAMS4).
    pub max_sids: u32,
    /// TTBRs per stream.
    pub ttbrs: usize,
    /// Offset of TTBR(0, 0).
    pub ttbr_base: usize,
    /// Offset of the first stream-enable word (T8020: read/write bitmap;
    /// T8110: write-1-to-enable).
    pub enable_base: usize,
    /// Output address size (T8110: capped by PARAMS3 PA width).
    pub oas: u32,
    /// IOVA size this driver uses (T8110: PARAMS3 VA width decides).
    pub ias: u32,
    /// Bypass is never used, whatever PARAMS2 says (Linux: the USB4 DARTs
    /// serve externally facing ports).
    pub bypass_forbidden: bool,
    /// Facts of this variant only one source gives, named in reports.
    pub unconfirmed: Option<&'static str>,
}

impl Variant {
    /// Stream-select / enable words needed for `sids` streams.
    pub const fn words(sids: u32) -> usize {
        sids.div_ceil(32) as usize
    }
}

/// t8103 (M1): T8020 layout, DART1 PTEs, 16 SIDs, 4 TTBRs, OAS 36.  IOVA
/// 32 bits: Linux's IAS, U-Boot's and OpenBSD's 4 GiB window, and m1n1's
/// Python masks T8020 IOVAs to 32 bits (docs/hw/dart.md §5).
pub const T8103: Variant = Variant {
    name: "t8103",
    compatible: "apple,t8103-dart",
    layout: Layout::T8020,
    pte: PteFormat::Dart1,
    max_sids: 16,
    ttbrs: 4,
    ttbr_base: 0x200,
    enable_base: 0x0fc,
    oas: 36,
    ias: 32,
    bypass_forbidden: false,
    unconfirmed: None,
};

/// t8103's USB4/Thunderbolt DARTs: 64 SIDs, TTBRs at 0x400, no bypass.
/// Linux only (docs/hw/dart.md §2): the second stream-enable word's place
/// differs between Linux versions (0x0FC + 4 vs 0x0F8), so this driver
/// uses SIDs 0..31 only, whose enable word both agree on.
pub const T8103_USB4: Variant = Variant {
    name: "t8103-usb4",
    compatible: "apple,t8103-usb4-dart",
    layout: Layout::T8020,
    pte: PteFormat::Dart1,
    max_sids: 32,
    ttbrs: 4,
    ttbr_base: 0x400,
    enable_base: 0x0fc,
    oas: 36,
    ias: 32,
    bypass_forbidden: true,
    unconfirmed: Some(
        "the 64-SID USB4 DART layout (TTBRs at 0x400, STREAM_SELECT 0x34/0x38, the second enable word) comes from Linux alone; SIDs 32..63 are not used",
    ),
};

/// t6000 (M1 Pro/Max/Ultra): T8020 layout, DART2 PTEs, OAS 42.
pub const T6000: Variant = Variant {
    name: "t6000",
    compatible: "apple,t6000-dart",
    layout: Layout::T8020,
    pte: PteFormat::Dart2,
    max_sids: 16,
    ttbrs: 4,
    ttbr_base: 0x200,
    enable_base: 0x0fc,
    oas: 42,
    ias: 32,
    bypass_forbidden: false,
    unconfirmed: None,
};

/// T8110 (M2 and later; t602x lists `apple,t6020-dart` first with this as
/// its fallback): SIDs and widths from PARAMS3/4, one TTBR per stream.
pub const T8110: Variant = Variant {
    name: "t8110",
    compatible: "apple,t8110-dart",
    layout: Layout::T8110,
    pte: PteFormat::Dart2,
    max_sids: 256,
    ttbrs: 1,
    ttbr_base: 0x1400,
    enable_base: 0xc00,
    oas: 42,
    ias: 36,
    bypass_forbidden: false,
    unconfirmed: None,
};

/// Every variant, for lookup by compatible.
pub const VARIANTS: [Variant; 4] = [T8103, T8103_USB4, T6000, T8110];

/// The variant of `compatible`, if this driver takes it.
pub fn by_compatible(compatible: &str) -> Option<Variant> {
    VARIANTS.into_iter().find(|v| v.compatible == compatible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibles_pick_layout_format_and_counts() {
        let v = by_compatible("apple,t8103-dart").unwrap();
        assert_eq!(
            (v.layout, v.pte, v.max_sids),
            (Layout::T8020, PteFormat::Dart1, 16)
        );
        let v = by_compatible("apple,t6000-dart").unwrap();
        assert_eq!(
            (v.layout, v.pte, v.oas),
            (Layout::T8020, PteFormat::Dart2, 42)
        );
        let v = by_compatible("apple,t8110-dart").unwrap();
        assert_eq!((v.layout, v.ttbrs, v.ttbr_base), (Layout::T8110, 1, 0x1400));
        let v = by_compatible("apple,t8103-usb4-dart").unwrap();
        assert!(v.bypass_forbidden && v.unconfirmed.is_some());
        assert!(by_compatible("apple,t8103-sart").is_none());
        assert_eq!(Variant::words(16), 1);
        // Discovery takes every compatible this table drives.
        for v in VARIANTS {
            assert_eq!(
                crate::platform::dt::iommus::IommuKind::from_compatible(v.compatible),
                Some(crate::platform::dt::iommus::IommuKind::AppleDart),
                "{}",
                v.compatible
            );
        }
        assert_eq!(Variant::words(256), 8);
    }
}
