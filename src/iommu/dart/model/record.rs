//! What the DART model records for a test to inspect: [`Misuse`] (things
//! the sources rule out or that land on nothing), [`FaultEvent`] (every
//! blocked transaction), [`TlbEntry`] (the per-stream TLB's contents) and
//! [`FlushDone`] (every completed invalidation and what it dropped).

use crate::testkit::walk_dart::{DartFault, DartLevel};

/// Something the driver did that the sources rule out, or that the model
/// refused; the model records it instead of guessing silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// A write to a register the lock protects (T8020 CONFIG.LOCK: TCR and
    /// TTBR; T8110 PROTECT: TCR/TTBR, 0x4xx, TZ); the write was dropped.
    WhileLocked {
        /// Offset.
        off: usize,
        /// The value written.
        value: u32,
    },
    /// An attempt to clear the lock: T8020 CONFIG bit 15 written 0 while
    /// set, or T8110 UNPROTECT after PROTECT_LOCK; ignored.
    Unlock {
        /// Offset.
        off: usize,
        /// The value written.
        value: u32,
    },
    /// A write to an offset that only means something on the other layout
    /// (T8110 TLB_OP at 0x080 on a T8020 DART lands in REMAP; a T8020
    /// STREAM_COMMAND at 0x020 on a T8110 lands on nothing).  Stored as
    /// plain data, no effect.
    OtherLayout {
        /// Offset.
        off: usize,
        /// The value written.
        value: u32,
    },
    /// A non-zero value without FLAG written to the T8110 ERROR register
    /// (U-Boot's flush command at the ERROR offset); applied as W1C.
    NotAnErrorClear {
        /// The value written.
        value: u32,
    },
    /// A read of T8110 0x700 (m1n1's C code polls there for TLB_OP).
    PolledWrongOffset {
        /// Offset.
        off: usize,
    },
    /// A command written while the previous one was busy; ignored.
    CommandWhileBusy {
        /// The value written.
        value: u32,
    },
    /// STREAM_SELECT changed while a command was busy (the command keeps
    /// the selection it started with).
    SelectWhileBusy {
        /// The value written.
        value: u32,
    },
    /// A command with no known meaning (T8020: bits besides INVALIDATE;
    /// T8110: OP 2–7 or the unused bits 30/14/13/12); ignored.
    UnknownCommand {
        /// The value written.
        value: u32,
    },
    /// TCR BYPASS_DART written while PARAMS2 says bypass is unsupported;
    /// the bit was dropped.
    BypassUnsupported {
        /// SID.
        sid: u32,
        /// The value written.
        value: u32,
    },
    /// TCR FOUR_LEVELS written on a DART without it; the bit was dropped.
    FourLevelsUnsupported {
        /// SID.
        sid: u32,
    },
    /// TCR with TRANSLATE and BYPASS_DART both set (m1n1: "INVALID");
    /// stored, and the stream's transactions are dropped.
    InvalidTcr {
        /// SID.
        sid: u32,
        /// The value written.
        value: u32,
    },
    /// A TTBR of an enabled, translating stream changed (applied; the TLB
    /// keeps what it had until a flush).
    TtbrWhileTranslating {
        /// SID.
        sid: u32,
        /// TTBR index.
        index: usize,
        /// The value written.
        value: u32,
    },
    /// A write to an identification or read-only register; ignored.
    ReadOnly {
        /// Offset.
        off: usize,
    },
    /// An access outside the register space, not 32 bits wide or not
    /// aligned; reads 0, writes ignored.
    BadAccess {
        /// Offset.
        off: usize,
        /// Bytes.
        bytes: usize,
    },
    /// A transaction or a flush named a SID the DART does not have.
    NoSuchStream {
        /// SID.
        sid: u32,
    },
    /// A table walk or an output address left every host window.
    OutsideRam {
        /// Bus address.
        at: u64,
    },
}

/// Why a transaction was blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// The walk (or the cached result) faulted.
    Walk(DartFault),
    /// The stream's enable bit is clear.
    StreamDisabled,
    /// TCR = 0 ([`super::Knobs::tcr_off`]).
    TcrOff,
    /// TCR has TRANSLATE and BYPASS_DART together.
    TcrInvalid,
    /// No such SID.
    NoSuchStream,
    /// The output address is in no host window.
    OutsideRam,
}

/// One blocked transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// SID.
    pub sid: u32,
    /// IOVA as driven.
    pub iova: u64,
    /// A write.
    pub write: bool,
    /// Why.
    pub kind: BlockKind,
    /// The ERROR register took it (`false`: nothing latched, or an earlier
    /// error was still latched).
    pub latched: bool,
}

/// What a TLB entry holds for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cached {
    /// The leaf read (valid or not).
    Leaf(u64),
    /// The walk stopped above the leaf (NO_TTBR, NO_PGD, NO_PMD).
    Stopped(DartFault),
}

/// One per-stream TLB entry (the key is the SID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// IOVA (after the width rule) >> 14.
    pub page: u64,
    /// What it holds.
    pub cached: Cached,
}

impl TlbEntry {
    /// The entry holds a valid leaf.
    pub fn valid(&self) -> bool {
        matches!(self.cached, Cached::Leaf(p) if p & 1 != 0)
    }
}

/// One cached table entry (the key is the SID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// Level.
    pub level: DartLevel,
    /// Where it was read.
    pub at: u64,
    /// The entry.
    pub entry: u64,
}

/// Which streams an invalidation covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushScope {
    /// Every stream (T8110 OP 0).
    All,
    /// The streams of a T8020 STREAM_SELECT bitmap.
    Select(u32),
    /// One stream (T8110 OP 1).
    One(u32),
}

impl FlushScope {
    /// The scope covers `sid`.
    pub fn covers(&self, sid: u32) -> bool {
        match *self {
            Self::All => true,
            Self::Select(mask) => sid < 32 && mask & (1 << sid) != 0,
            Self::One(s) => s == sid,
        }
    }
}

/// A completed invalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushDone {
    /// Scope.
    pub scope: FlushScope,
    /// TLB entries dropped.
    pub tlb_dropped: usize,
    /// Walk-cache entries dropped.
    pub walk_dropped: usize,
}
