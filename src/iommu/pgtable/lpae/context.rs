//! The memory-attribute numbers LPAE stage-1 descriptors refer to: the MAIR
//! value whose slots the descriptors' AttrIndx fields index, and the output
//! sizes the format can express.
//!
//! Only numbers live here: packing them into a context register (SMMUv3 CD,
//! SMMUv2 context-bank TCR/MAIR) is the driver's business.  Field encodings:
//! Arm ARM DDI0487, the MAIR_EL1 register description and chapter D8 (the
//! VMSAv8-64 descriptor formats); the attribute slot layout is the one Linux
//! `io-pgtable-arm.c` uses for stage 1, so AttrIndx values match what other
//! drivers expect.
#![forbid(unsafe_code)]

/// AttrIndx of Normal non-cacheable (MAIR byte 0 = 0x44).
pub const MAIR_NC_IDX: u64 = 0;
/// AttrIndx of Normal write-back RW-allocate (MAIR byte 1 = 0xFF).
pub const MAIR_WB_IDX: u64 = 1;
/// AttrIndx of Device-nGnRE (MAIR byte 2 = 0x04).
pub const MAIR_DEVICE_IDX: u64 = 2;

/// The MAIR value the descriptors' AttrIndx fields assume: slot 0 = 0x44
/// Normal NC, 1 = 0xFF Normal WB-RWA, 2 = 0x04 Device-nGnRE, 3 = 0xF4
/// inner-NC/outer-WB.
pub const MAIR: u64 = 0x0000_0000_F404_FF44;

/// Output-address sizes with an IPS/PASize encoding (Arm ARM DDI0487,
/// TCR_EL1.IPS: 32, 36, 40, 42, 44, 48 bits; 52 needs FEAT_LPA, which the
/// codec does not implement).
pub const OUTPUT_SIZES: [u32; 6] = [32, 36, 40, 42, 44, 48];
