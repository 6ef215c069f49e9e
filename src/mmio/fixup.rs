//! Recoverable bus faults on MMIO: the fixup table and the fault latch.
//!
//! A wrong `reg`, or on a board an unclocked or unpowered block, makes a
//! register access end in a synchronous data abort.  Every load and store
//! [`super::VolatileMmio`] issues on target is one instruction listed in the
//! `.mmio_fixup` table (see `access.rs`): an entry holds that instruction's
//! address and the address of a landing pad right after it, both as 32-bit
//! offsets from the entry itself (as Linux's relative `exception_table_entry`,
//! `arch/arm64/include/asm/extable.h`), so the table needs no relocation in
//! the position-independent image.
//!
//! While a [`capture`] is running, the exception vectors hand a data abort at
//! the current EL to [`recover`]: if ESR_EL1 says synchronous external abort,
//! translation fault or access-flag fault ([`classify`]) and ELR_EL1 is a
//! listed instruction ([`lookup`]), it records ESR and returns the landing
//! pad, where the vectors resume.  The pad sets a load's result to all-ones
//! and tells the accessor it faulted; the accessor latches a [`BusFault`]
//! with its own address, width and direction.  Outside a [`capture`] (and
//! for every other exception) nothing changes: the abort is fatal.
//!
//! The image runs on one CPU and the latch is touched only by that CPU,
//! from thread context (the accessor) and from a synchronous exception taken
//! on the very instruction being recovered, so plain atomic loads and stores
//! are enough; no read-modify-write (no exclusives) is needed.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// ESR_EL1.EC of a data abort taken from the current EL (DDI 0487, ESR_ELx).
pub const EC_DATA_ABORT_SAME_EL: u8 = 0x25;

/// One fixup table entry, in the layout `access.rs` emits: two `.word`s.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixupEntry {
    /// Faulting instruction, relative to this field's address.
    pub insn: i32,
    /// Landing pad, relative to this field's address (entry + 4).
    pub resume: i32,
}

/// Bytes of one [`FixupEntry`].
pub const ENTRY_BYTES: u64 = core::mem::size_of::<FixupEntry>() as u64;

/// The resume address for a fault at `pc`, if `pc` is an instruction listed
/// in `table`, whose first entry is at address `table_addr`.
pub fn lookup(table: &[FixupEntry], table_addr: u64, pc: u64) -> Option<u64> {
    table.iter().enumerate().find_map(|(i, e)| {
        let at = table_addr.wrapping_add(i as u64 * ENTRY_BYTES);
        let insn = at.wrapping_add_signed(i64::from(e.insn));
        let resume = at.wrapping_add(4).wrapping_add_signed(i64::from(e.resume));
        (insn == pc).then_some(resume)
    })
}

/// What made an MMIO access fault, from ESR_EL1.DFSC (DDI 0487, ISS encoding
/// for an exception from a Data Abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// DFSC 0b010000: synchronous external abort, not on a table walk (no
    /// device answered, or it answered with an error).
    External,
    /// DFSC 0b0001LL: translation fault at lookup level `0`..=3.
    Translation(u8),
    /// DFSC 0b0010LL: access flag fault at lookup level `0`..=3.
    AccessFlag(u8),
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::External => write!(f, "synchronous external abort"),
            Self::Translation(l) => write!(f, "translation fault, level {l}"),
            Self::AccessFlag(l) => write!(f, "access flag fault, level {l}"),
        }
    }
}

/// The kind of a data abort at the current EL that an MMIO access may
/// survive; `None` for every other syndrome (those stay fatal: permission
/// and alignment faults are bugs, an external abort on a table walk is the
/// CPU's own tables).
pub fn classify(esr: u64) -> Option<FaultKind> {
    if ((esr >> 26) & 0x3f) as u8 != EC_DATA_ABORT_SAME_EL {
        return None;
    }
    let dfsc = (esr & 0x3f) as u8;
    match dfsc {
        0x10 => Some(FaultKind::External),
        0x04..=0x07 => Some(FaultKind::Translation(dfsc & 3)),
        0x08..=0x0b => Some(FaultKind::AccessFlag(dfsc & 3)),
        _ => None,
    }
}

/// A register access that faulted and was survived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusFault {
    /// Address of the access (identity map: virtual = physical).
    pub addr: u64,
    /// ESR_EL1 of the abort.
    pub esr: u64,
    /// A store (`true`) or a load.
    pub write: bool,
    /// Bytes of the access.
    pub width: u8,
    /// Faulting accesses after this first one, until the latch was taken.
    pub further: u32,
}

impl BusFault {
    /// What ESR says happened (`None` only for a latch filled by hand).
    pub fn kind(&self) -> Option<FaultKind> {
        classify(self.esr)
    }
}

impl fmt::Display for BusFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.write { "write" } else { "read" };
        write!(f, "{}-byte {dir} of {:#x}: ", self.width, self.addr)?;
        match self.kind() {
            Some(k) => write!(f, "{k}")?,
            None => write!(f, "data abort")?,
        }
        write!(f, " (ESR_EL1 {:#x})", self.esr)?;
        if self.further > 0 {
            write!(f, ", then {} more faulting accesses", self.further)?;
        }
        Ok(())
    }
}

/// The state behind [`capture`] and [`take_bus_fault`]; one instance,
/// [`LATCH`], serves the image, host tests make their own.
#[derive(Debug, Default)]
pub struct Latch {
    armed: AtomicBool,
    /// ESR of the abort the vectors recovered last.
    last_esr: AtomicU64,
    pending: AtomicBool,
    addr: AtomicU64,
    esr: AtomicU64,
    write: AtomicBool,
    width: AtomicU8,
    further: AtomicU32,
}

impl Latch {
    /// An unarmed, empty latch.
    pub const fn new() -> Self {
        Self {
            armed: AtomicBool::new(false),
            last_esr: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            addr: AtomicU64::new(0),
            esr: AtomicU64::new(0),
            write: AtomicBool::new(false),
            width: AtomicU8::new(0),
            further: AtomicU32::new(0),
        }
    }

    /// Makes faults recoverable (`true`) or fatal; returns the old setting.
    pub fn arm(&self, on: bool) -> bool {
        let was = self.armed.load(Ordering::Acquire);
        self.armed.store(on, Ordering::Release);
        was
    }

    /// The exception side: the resume address if the abort with syndrome
    /// `esr` at `pc` is one to survive (armed, a recoverable kind, a listed
    /// instruction), having noted `esr` for the accessor.
    pub fn recover(&self, esr: u64, pc: u64, table: &[FixupEntry], table_addr: u64) -> Option<u64> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        classify(esr)?;
        let resume = lookup(table, table_addr, pc)?;
        self.last_esr.store(esr, Ordering::Release);
        Some(resume)
    }

    /// The accessor side, after its landing pad ran: latches the first
    /// fault and counts the rest.
    pub fn note(&self, addr: u64, width: u8, write: bool) {
        if self.pending.load(Ordering::Acquire) {
            let n = self.further.load(Ordering::Relaxed);
            self.further.store(n.saturating_add(1), Ordering::Relaxed);
            return;
        }
        self.addr.store(addr, Ordering::Relaxed);
        self.esr
            .store(self.last_esr.load(Ordering::Acquire), Ordering::Relaxed);
        self.write.store(write, Ordering::Relaxed);
        self.width.store(width, Ordering::Relaxed);
        self.further.store(0, Ordering::Relaxed);
        self.pending.store(true, Ordering::Release);
    }

    /// The first fault latched since the last take, and empties the latch.
    pub fn take(&self) -> Option<BusFault> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let f = BusFault {
            addr: self.addr.load(Ordering::Relaxed),
            esr: self.esr.load(Ordering::Relaxed),
            write: self.write.load(Ordering::Relaxed),
            width: self.width.load(Ordering::Relaxed),
            further: self.further.load(Ordering::Relaxed),
        };
        self.pending.store(false, Ordering::Release);
        Some(f)
    }

    /// Runs `f` with faults recoverable; returns its result and the first
    /// fault it survived.  A fault latched before is dropped first.  Nested
    /// captures work: the inner one takes what happened inside it.
    pub fn capture<R>(&self, f: impl FnOnce() -> R) -> (R, Option<BusFault>) {
        let _ = self.take();
        let was = self.arm(true);
        let r = f();
        self.arm(was);
        (r, self.take())
    }
}

/// The image's latch.
pub static LATCH: Latch = Latch::new();

/// Runs `f` with MMIO bus faults recoverable (see the module text); returns
/// its result and the first fault survived, if any.  Loads that faulted
/// returned all-ones and stores were dropped.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Option<BusFault>) {
    LATCH.capture(f)
}

/// The first MMIO bus fault survived since the last call (or since
/// [`capture`] began), emptying the latch.
pub fn take_bus_fault() -> Option<BusFault> {
    LATCH.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ESR of QEMU 10.0.2 `virt`'s answer to a read of unbacked address
    /// space (docs/hw/qemu-virt.md §8): EC 0x25, IL, DFSC 0x10.
    const QEMU_SEA_READ: u64 = 0x9600_0010;

    #[test]
    fn lookup_resolves_relative_entries() {
        // Entry 0 at 0x1000 lists 0x800 → resume 0x808; entry 1 at 0x1008
        // lists 0x900 → 0x90c.
        let table = [
            FixupEntry {
                insn: -0x800,
                resume: 0x808 - 0x1004,
            },
            FixupEntry {
                insn: 0x900 - 0x1008,
                resume: 0x90c - 0x100c,
            },
        ];
        assert_eq!(lookup(&table, 0x1000, 0x800), Some(0x808));
        assert_eq!(lookup(&table, 0x1000, 0x900), Some(0x90c));
        assert_eq!(lookup(&table, 0x1000, 0x804), None);
        assert_eq!(lookup(&[], 0x1000, 0x800), None);
    }

    #[test]
    fn classify_keeps_only_recoverable_aborts() {
        assert_eq!(classify(QEMU_SEA_READ), Some(FaultKind::External));
        assert_eq!(classify(0x9600_0050), Some(FaultKind::External)); // WnR
        assert_eq!(classify(0x9600_0007), Some(FaultKind::Translation(3)));
        assert_eq!(classify(0x9600_0004), Some(FaultKind::Translation(0)));
        assert_eq!(classify(0x9600_000b), Some(FaultKind::AccessFlag(3)));
        // Permission, alignment, external abort on a walk: fatal.
        assert_eq!(classify(0x9600_000f), None);
        assert_eq!(classify(0x9600_0021), None);
        assert_eq!(classify(0x9600_0015), None);
        // Same DFSC, other classes: lower-EL data abort, instruction abort.
        assert_eq!(classify(0x9200_0010), None);
        assert_eq!(classify(0x8600_0010), None);
    }

    #[test]
    fn latch_recovers_only_when_armed_and_listed() {
        let l = Latch::new();
        let table = [FixupEntry {
            insn: -0x800,
            resume: 0x808 - 0x1004,
        }];
        assert_eq!(l.recover(QEMU_SEA_READ, 0x800, &table, 0x1000), None);
        l.arm(true);
        assert_eq!(l.recover(QEMU_SEA_READ, 0x800, &table, 0x1000), Some(0x808));
        assert_eq!(l.recover(QEMU_SEA_READ, 0x804, &table, 0x1000), None);
        assert_eq!(l.recover(0x9600_000f, 0x800, &table, 0x1000), None);
    }

    #[test]
    fn latch_keeps_the_first_fault_and_counts_the_rest() {
        let l = Latch::new();
        let table = [FixupEntry {
            insn: -0x800,
            resume: 0x808 - 0x1004,
        }];
        let (r, f) = l.capture(|| {
            assert!(l.recover(QEMU_SEA_READ, 0x800, &table, 0x1000).is_some());
            l.note(0xb00_0000, 4, false);
            assert!(l.recover(0x9600_0050, 0x800, &table, 0x1000).is_some());
            l.note(0xb00_0014, 4, true);
            l.note(0xb00_0014, 4, true);
            7
        });
        assert_eq!(r, 7);
        let f = f.unwrap();
        assert_eq!(
            f,
            BusFault {
                addr: 0xb00_0000,
                esr: QEMU_SEA_READ,
                write: false,
                width: 4,
                further: 2,
            }
        );
        assert_eq!(
            f.to_string(),
            "4-byte read of 0xb000000: synchronous external abort (ESR_EL1 0x96000010), then 2 more faulting accesses"
        );
        // Disarmed again, and empty.
        assert_eq!(l.take(), None);
        assert_eq!(l.recover(QEMU_SEA_READ, 0x800, &table, 0x1000), None);
    }

    #[test]
    fn capture_drops_a_stale_fault_and_nests() {
        let l = Latch::new();
        l.note(0x1, 1, false);
        let ((inner, _), outer) = l.capture(|| {
            let inner = l.capture(|| l.note(0x2, 2, true));
            // The inner capture restored the armed state of the outer one.
            assert!(l.armed.load(Ordering::Relaxed));
            (inner.1, ())
        });
        assert_eq!(inner.map(|f| f.addr), Some(0x2));
        assert_eq!(outer, None);
        assert!(!l.armed.load(Ordering::Relaxed));
    }
}
