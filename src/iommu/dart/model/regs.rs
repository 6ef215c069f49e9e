//! The register offsets and bits the DART model implements, for both
//! layouts (docs/hw/dart.md "Behavioural model (host)" §M2; primary
//! sources: m1n1 `proxyclient/m1n1/hw/dart8020.py` / `dart8110.py`,
//! U-Boot `drivers/iommu/apple_dart.c`, OpenBSD `apldart.c`).
//!
//! Offsets are bytes from the instance's base; every register is 32 bits.

/// Bytes of one instance's register space (the DT `reg` size, 0x4000).
pub const SPACE: usize = 0x4000;

/// Identification registers, shared by both layouts.
pub mod params {
    /// PARAMS1: \[27:24\] log2 page size (T8110 by m1n1's name; the model
    /// gives it on T8020 too), \[22:20\] log2 TE count, \[11:0\] TLB sets.
    pub const P0: usize = 0x000;
    /// PARAMS2: bit 0 full bypass supported; T8110 bit 1 register lock
    /// supported, \[15:8\] APFs.
    pub const P4: usize = 0x004;
    /// PARAMS3 (T8110): \[29:24\] PA width, \[21:16\] VA width, \[15:8\] /
    /// \[7:0\] version major / minor.
    pub const P8: usize = 0x008;
    /// PARAMS4 (T8110): \[24:16\] clients, \[8:0\] SIDs.
    pub const PC: usize = 0x00c;
    /// PARAMS2 bit 0.
    pub const BYPASS_SUPPORTED: u32 = 1 << 0;
    /// PARAMS2 bit 1 (T8110).
    pub const LOCK_SUPPORTED: u32 = 1 << 1;
}

/// The T8020 layout (t8103, t6000).
pub mod t8020 {
    /// STREAM_COMMAND: bit 20 INVALIDATE, bit 2 BUSY.
    pub const STREAM_COMMAND: usize = 0x020;
    /// STREAM_SELECT: SID bitmap the next command acts on.
    pub const STREAM_SELECT: usize = 0x034;
    /// ERROR (write 1 to clear).
    pub const ERROR: usize = 0x040;
    /// Faulting IOVA \[31:0\].
    pub const ERROR_ADDR_LO: usize = 0x050;
    /// Faulting IOVA \[63:32\].
    pub const ERROR_ADDR_HI: usize = 0x054;
    /// CONFIG: bit 15 LOCK.
    pub const CONFIG: usize = 0x060;
    /// REMAP\[0\] (semantics unknown); where the T8110 layout has TLB_OP.
    pub const REMAP0: usize = 0x080;
    /// Unknown; m1n1 writes 0 at init.
    pub const UNK_0F8: usize = 0x0f8;
    /// ENABLED_STREAMS: read/write bitmap, bit n = SID n.
    pub const ENABLED_STREAMS: usize = 0x0fc;
    /// TCR(sid) at `TCR + 4·sid`.
    pub const TCR: usize = 0x100;
    /// TTBR(sid, idx) at `TTBR + 16·sid + 4·idx`.
    pub const TTBR: usize = 0x200;

    /// STREAM_COMMAND bit 20.
    pub const CMD_INVALIDATE: u32 = 1 << 20;
    /// STREAM_COMMAND bit 2.
    pub const CMD_BUSY: u32 = 1 << 2;
    /// CONFIG bit 15.
    pub const CONFIG_LOCK: u32 = 1 << 15;
    /// TCR bit 7.
    pub const TCR_TRANSLATE: u32 = 1 << 7;
    /// TCR bit 8.
    pub const TCR_BYPASS_DART: u32 = 1 << 8;
    /// TCR bit 12.
    pub const TCR_BYPASS_DAPF: u32 = 1 << 12;
    /// TTBR bit 31.
    pub const TTBR_VALID: u32 = 1 << 31;

    /// ERROR bit 31: an error is latched.
    pub const ERR_FLAG: u32 = 1 << 31;
    /// ERROR \[27:24\]: the faulting SID.
    pub const ERR_SID_SHIFT: u32 = 24;
    /// ERROR SID field width mask (after the shift).
    pub const ERR_SID_MASK: u32 = 0xf;
    /// ERROR bit 11: address filter rejected (not produced: DAPF bypassed).
    pub const ERR_NO_DAPF_MATCH: u32 = 1 << 11;
    /// ERROR bit 10: the access was a write.
    pub const ERR_WRITE: u32 = 1 << 10;
    /// ERROR bit 7: outside SP_START/SP_END.
    pub const ERR_SUBPAGE_PROT: u32 = 1 << 7;
    /// ERROR bit 6: fetching a table entry failed (the model: outside RAM).
    pub const ERR_PTE_READ_FAULT: u32 = 1 << 6;
    /// ERROR bit 4.
    pub const ERR_READ_FAULT: u32 = 1 << 4;
    /// ERROR bit 3.
    pub const ERR_WRITE_FAULT: u32 = 1 << 3;
    /// ERROR bit 2: leaf invalid.
    pub const ERR_NO_PTE: u32 = 1 << 2;
    /// ERROR bit 1: L1 entry invalid.
    pub const ERR_NO_PMD: u32 = 1 << 1;
    /// ERROR bit 0: TTBR invalid.
    pub const ERR_NO_TTBR: u32 = 1 << 0;
}

/// The T8110 layout.
pub mod t8110 {
    /// TLB_OP: bit 31 BUSY, \[10:8\] OP, \[7:0\] SID.
    pub const TLB_OP: usize = 0x080;
    /// ERROR (write 1 to clear).
    pub const ERROR: usize = 0x100;
    /// ERROR_DISABLE (m1n1) / ERROR_MASK (U-Boot, OpenBSD): storage only.
    pub const ERROR_DISABLE: usize = 0x104;
    /// Faulting IOVA \[31:0\].
    pub const ERROR_ADDR_LO: usize = 0x170;
    /// Faulting IOVA \[63:32\].
    pub const ERROR_ADDR_HI: usize = 0x174;
    /// ERR_SECONDARY\[0..7\]: per-SID bitmap, write 1 to clear.
    pub const ERR_SECONDARY: usize = 0x1c0;
    /// REG_PROTECT: bit 0 TCR/TTBR, bit 1 0x4xx, bit 3 TZ_CONFIG, bit 4
    /// TZ_SELECT; writing sets bits.
    pub const PROTECT: usize = 0x200;
    /// REG_UNPROTECT: writing clears protection bits unless
    /// [`PROTECT_LOCK`] was written.
    pub const UNPROTECT: usize = 0x204;
    /// REG_PROTECT_LOCK: once written, protection can no longer be cleared.
    pub const PROTECT_LOCK: usize = 0x208;
    /// PERF_INTR_ENABLE by m1n1's guess; the offset m1n1's C code polls by
    /// mistake for TLB_OP completion.
    pub const PERF_INTR_ENABLE: usize = 0x700;
    /// ENABLE_STREAMS\[0..7\]: write 1 to enable; reads the enabled set.
    pub const ENABLE_STREAMS: usize = 0xc00;
    /// DISABLE_STREAMS\[0..7\]: write 1 to disable; reads the enabled set.
    pub const DISABLE_STREAMS: usize = 0xc20;
    /// TCR(sid) at `TCR + 4·sid`.
    pub const TCR: usize = 0x1000;
    /// TTBR(sid) at `TTBR + 4·sid`.
    pub const TTBR: usize = 0x1400;

    /// TLB_OP bit 31.
    pub const OP_BUSY: u32 = 1 << 31;
    /// TLB_OP \[10:8\] shift.
    pub const OP_SHIFT: u32 = 8;
    /// OP 0: flush every SID.
    pub const OP_FLUSH_ALL: u32 = 0;
    /// OP 1: flush the SID in \[7:0\].
    pub const OP_FLUSH_SID: u32 = 1;
    /// TLB_OP bits m1n1 names but no code uses (30, 14, 13, 12).
    pub const OP_UNUSED_BITS: u32 = 1 << 30 | 1 << 14 | 1 << 13 | 1 << 12;

    /// PROTECT bit 0.
    pub const PROTECT_TCR_TTBR: u32 = 1 << 0;
    /// PROTECT bit 1.
    pub const PROTECT_REG_4XX: u32 = 1 << 1;
    /// PROTECT bit 3.
    pub const PROTECT_TZ_CONFIG: u32 = 1 << 3;
    /// PROTECT bit 4.
    pub const PROTECT_TZ_SELECT: u32 = 1 << 4;
    /// Every PROTECT bit m1n1 names.
    pub const PROTECT_BITS: u32 = 0x1f;

    /// TCR bit 0.
    pub const TCR_TRANSLATE: u32 = 1 << 0;
    /// TCR bit 1.
    pub const TCR_BYPASS_DART: u32 = 1 << 1;
    /// TCR bit 2.
    pub const TCR_BYPASS_DAPF: u32 = 1 << 2;
    /// TCR bit 3: an L0 table above L1.
    pub const TCR_FOUR_LEVELS: u32 = 1 << 3;
    /// TTBR bit 0.
    pub const TTBR_VALID: u32 = 1 << 0;

    /// ERROR bit 31.
    pub const ERR_FLAG: u32 = 1 << 31;
    /// ERROR bit 28: the access was a write.
    pub const ERR_WRITE: u32 = 1 << 28;
    /// ERROR \[27:20\]: the faulting SID.
    pub const ERR_SID_SHIFT: u32 = 20;
    /// ERROR SID field mask (after the shift).
    pub const ERR_SID_MASK: u32 = 0xff;
    /// ERROR bit 19: a second error arrived while one was latched (by
    /// the name only).
    pub const ERR_SECONDARY_BIT: u32 = 1 << 19;
    /// ERROR bit 7 (the model: a table fetch outside RAM).
    pub const ERR_AXI_ERROR: u32 = 1 << 7;
    /// ERROR bit 5.
    pub const ERR_READ_FAULT: u32 = 1 << 5;
    /// ERROR bit 4.
    pub const ERR_WRITE_FAULT: u32 = 1 << 4;
    /// ERROR bit 3.
    pub const ERR_NO_PTE: u32 = 1 << 3;
    /// ERROR bit 2 ("STE").
    pub const ERR_NO_PMD: u32 = 1 << 2;
    /// ERROR bit 1 ("CTE", 4-level walks).
    pub const ERR_NO_PGD: u32 = 1 << 1;
    /// ERROR bit 0.
    pub const ERR_NO_TTBR: u32 = 1 << 0;
}
