//! What the model records for a test to assert on: every fault as it
//! happened ([`FaultEvent`]), everything a driver did that the
//! architecture or the vendor rules out ([`Misuse`]), and the writes the
//! instance did not take that a correct driver may still make
//! ([`Refusal`]).
#![forbid(unsafe_code)]

use crate::mmio::Width;

/// A feature the model does not implement, or the instance lacks, or a
/// configuration that names neither; the access that needed it faults
/// (translation fault, level 0) and this is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmodelled {
    /// AArch32 short-descriptor tables (VA64 = 0, TCR.EAE = 0).
    ShortDescriptor,
    /// CBAR TYPE = 3 (stage 1 then stage 2).
    Nested,
    /// CBAR TYPE = 2 (stage 1 with stage 2 fault).
    S1WithS2Fault,
    /// An AArch32 format (VA64 = 0) on an instance without one (ID0.PTFS).
    Format,
    /// A reserved stage-2 SL0, or one inconsistent with T0SZ (a start level
    /// past the one T0SZ implies, or more than 16 concatenated tables).
    Stage2StartLevel,
    /// A CBAR type the instance lacks (stage 1 without S1TS, stage 2
    /// without S2TS, a stage-1 type in a stage-2-only bank).
    CbarType,
    /// A translation granule the instance lacks or a reserved TGx.
    Granule,
    /// A T0SZ/T1SZ outside what the walk supports (AArch64: 16..=39).
    InputSize,
}

/// Why clearing sCR0.CLIENTPD was unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableProblem {
    /// The S2CR translates through a bank past NUMCB.
    MissingCb {
        /// The CBNDX.
        cb: u8,
    },
    /// The bank translates (SCTLR.M = 1) with no table (TTBR0 base 0 and
    /// EPD0 = 0).
    CbWithoutTables {
        /// The bank.
        cb: u8,
    },
    /// The SMR overlaps another valid one.
    Conflict {
        /// The other SMR.
        with: u16,
    },
}

/// Something the driver did that the architecture (or the instance's
/// vendor) rules out; the model records it instead of guessing silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// An access to no register of this instance (reads 0, writes ignored).
    Unmapped {
        /// Offset in the register space.
        off: usize,
    },
    /// A write to a read-only register (ignored).
    ReadOnly {
        /// Offset in the register space.
        off: usize,
    },
    /// An access of a width the register does not have: 8/16-bit, 64-bit
    /// to a 32-bit register (split in two), a 32-bit write to the high
    /// half of a 64-bit operation register (ignored).
    BadWidth {
        /// Offset in the register space.
        off: usize,
        /// The width used.
        width: Width,
    },
    /// A Non-secure access to a Secure-only register (refused).
    SecureOnly {
        /// Offset in the register space.
        off: usize,
    },
    /// SMR `index` was made valid overlapping valid SMR `with`: some
    /// StreamID matches both (IHI: a configuration error; traffic raises
    /// sGFSR.SMCF).
    SmrConflict {
        /// The SMR written.
        index: u16,
        /// The SMR it overlaps.
        with: u16,
    },
    /// sCR0.CLIENTPD was cleared while a valid stream mapping led
    /// nowhere sane.
    UnsafeEnable {
        /// The SMR.
        smr: u16,
        /// What was wrong.
        problem: EnableProblem,
    },
    /// A translation register (TTBRn, TCR, TCR2, MAIRn, CBAR, CBA2R) of a
    /// bank was written while the bank translated (SCTLR.M = 1) for a
    /// valid stream mapping with CLIENTPD = 0.
    LiveContextWrite {
        /// The bank.
        cb: u8,
        /// Offset in the register space.
        off: usize,
    },
    /// A TLB hit on an entry walked from other tables than the ones the
    /// bank points at now: the ASID/VMID pair was reused for new tables
    /// without an invalidation + sync in between, or two banks share the
    /// pair (or a global entry) with different tables (IHI, before
    /// §2.5.1).  The entry was used.
    AsidReuse {
        /// The bank translating.
        cb: u8,
        /// The tag.
        vmid: u16,
        /// The tag.
        asid: u16,
        /// Table base the entry came from.
        entry_root: u64,
        /// Table base the bank points at.
        root: u64,
    },
    /// An ATS1xx write while the bank's previous operation was active;
    /// ignored.
    AtosWhileActive {
        /// The bank.
        cb: u8,
    },
    /// A table walk left host RAM.
    OutsideRam {
        /// Bus address.
        at: u64,
    },
    /// A feature the model does not implement was needed.
    Unmodelled {
        /// The bank.
        cb: u8,
        /// Which.
        what: Unmodelled,
    },
    /// Qualcomm: a literal zero stored to a write-anything register was
    /// dropped.
    ZeroStoreDropped {
        /// Offset in the register space.
        off: usize,
    },
    /// Qualcomm: a write to a reserved context bank (its page or its GR1
    /// registers) was dropped.
    ReservedCbWrite {
        /// The bank.
        cb: u8,
        /// Offset in the register space.
        off: usize,
    },
    /// Qualcomm: the SMR or S2CR of a stream mapping the bootloader left
    /// valid was changed (the display stream loses its mapping).
    BootSmrChanged {
        /// The index.
        index: u16,
    },
}

/// A write the instance did not take as written although a correct driver
/// may make it (it cannot know before it tries): the driver is expected to
/// read back and report it, so these are not [`Misuse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A write to CBn_ACTLR while sACR.CACHE_LOCK (or the Secure copy,
    /// [`super::Knobs::secure_cache_lock`]) makes it read-only (MMU-500 TRM
    /// Table 3.7); ignored.
    ActlrLocked {
        /// The bank.
        cb: u8,
        /// The value written.
        value: u32,
    },
    /// Qualcomm: an S2CR write of TYPE = bypass was stored as TYPE = fault.
    Bypass {
        /// The S2CR.
        index: u16,
    },
    /// Qualcomm: the hypervisor dropped a write to this GR0 register.
    Register {
        /// Offset in the register space.
        off: usize,
        /// The value written.
        value: u32,
    },
}

/// Which fault the model recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A global fault: the sGFSR bit.
    Global {
        /// sGFSR bit ([`super::reg::sgfsr`]).
        sgfsr: u32,
    },
    /// A context fault in bank `cb`: the FSR bit and lookup level.
    Context {
        /// The bank.
        cb: u8,
        /// FSR bit ([`super::reg::fsr`]).
        fsr: u32,
        /// Lookup level (FSYNR0.PLVL).
        level: u8,
        /// Raised by an ATOS operation.
        atos: bool,
    },
}

/// A fault as it happened (the model's own record, complete even when the
/// registers kept only the first one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// The StreamID (`None` for an ATOS operation).
    pub stream: Option<u32>,
    /// The input address.
    pub iova: u64,
    /// A write.
    pub write: bool,
    /// Which fault.
    pub kind: FaultKind,
    /// A fault was already recorded: only MULTI was set.
    pub lost: bool,
}
