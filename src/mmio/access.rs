//! The target's register accesses: one load or store instruction each,
//! listed in the `.mmio_fixup` table with a landing pad (`fixup.rs`).
//!
//! Shape of a load (a store has no result to set):
//!
//! ```text
//! 0:  ldr  w<v>, [x<p>]      // listed: fault at 0b resumes at 1b
//!     mov  w<f>, #0
//!     b    2f
//! 1:  mov  x<v>, #-1         // landing pad: all-ones, and say so
//!     mov  w<f>, #1
//! 2:
//! ```
//!
//! The compiler picks the registers: the pad sets them itself, so the
//! exception handler only moves ELR_EL1 and never has to know which
//! register an instruction loads.

use super::fixup::{FixupEntry, LATCH};
use core::arch::asm;

extern "C" {
    /// First entry of the fixup table (`linker.ld`).
    static __mmio_fixup_start: u8;
    /// One past the last entry.
    static __mmio_fixup_end: u8;
}

/// The fixup table the linker gathered, and its address.
fn table() -> (&'static [FixupEntry], u64) {
    let start = core::ptr::addr_of!(__mmio_fixup_start);
    let end = core::ptr::addr_of!(__mmio_fixup_end);
    let len = (end as usize - start as usize) / core::mem::size_of::<FixupEntry>();
    // SAFETY: `linker.ld` places every `.mmio_fixup` input section, 4-byte
    // aligned, between the two symbols in read-only data that lives (and is
    // never written) for the whole run; every entry is two `.word`s, the
    // layout of `FixupEntry` (`repr(C)`, two `i32`, alignment 4).
    let t = unsafe { core::slice::from_raw_parts(start.cast::<FixupEntry>(), len) };
    (t, start as u64)
}

/// The recovery hook for the exception vectors
/// (`arch::aarch64::exception::set_recover_hook`): the resume address for
/// a data abort with syndrome `esr` at `elr`, or `None` to keep it fatal.
pub fn recover(esr: u64, _far: u64, elr: u64) -> Option<u64> {
    let (t, at) = table();
    LATCH.recover(esr, elr, t, at)
}

macro_rules! load {
    ($name:ident, $t:ty, $insn:literal, $w:literal) => {
        /// One listed load; all-ones (and the fault latched) if it faulted.
        ///
        /// # Safety
        ///
        /// `p` is aligned and points into a mapped device block that no
        /// Rust reference covers.
        #[inline(always)]
        pub(super) unsafe fn $name(p: *const $t) -> $t {
            let v: u64;
            let faulted: u64;
            // SAFETY: the caller's contract makes the load a valid device
            // access; if it faults anyway, the vectors resume at `1:` only
            // because `0:` is listed (table entry below), and `1:` leaves
            // every register but the two outputs as the load would.
            unsafe {
                asm!(
                    concat!("0: ", $insn, " {v:", $w, "}, [{p}]"),
                    "mov {f:w}, #0",
                    "b 2f",
                    "1: mov {v:x}, #-1",
                    "mov {f:w}, #1",
                    "2:",
                    ".pushsection .mmio_fixup, \"a\"",
                    ".balign 4",
                    ".word 0b - .",
                    ".word 1b - .",
                    ".popsection",
                    p = in(reg) p,
                    v = out(reg) v,
                    f = out(reg) faulted,
                    options(nostack, preserves_flags),
                );
            }
            if faulted != 0 {
                LATCH.note(p as u64, core::mem::size_of::<$t>() as u8, false);
            }
            v as $t
        }
    };
}

macro_rules! store {
    ($name:ident, $t:ty, $insn:literal, $w:literal) => {
        /// One listed store; dropped (and the fault latched) if it faulted.
        ///
        /// # Safety
        ///
        /// As for the loads.
        #[inline(always)]
        pub(super) unsafe fn $name(p: *mut $t, val: $t) {
            let faulted: u64;
            // SAFETY: as for the loads; the landing pad only sets the flag.
            unsafe {
                asm!(
                    concat!("0: ", $insn, " {v:", $w, "}, [{p}]"),
                    "mov {f:w}, #0",
                    "b 2f",
                    "1: mov {f:w}, #1",
                    "2:",
                    ".pushsection .mmio_fixup, \"a\"",
                    ".balign 4",
                    ".word 0b - .",
                    ".word 1b - .",
                    ".popsection",
                    p = in(reg) p,
                    v = in(reg) u64::from(val),
                    f = out(reg) faulted,
                    options(nostack, preserves_flags),
                );
            }
            if faulted != 0 {
                LATCH.note(p as u64, core::mem::size_of::<$t>() as u8, true);
            }
        }
    };
}

load!(read8, u8, "ldrb", "w");
load!(read16, u16, "ldrh", "w");
load!(read32, u32, "ldr", "w");
load!(read64, u64, "ldr", "x");
store!(write8, u8, "strb", "w");
store!(write16, u16, "strh", "w");
store!(write32, u32, "str", "w");
store!(write64, u64, "str", "x");
