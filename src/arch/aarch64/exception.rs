//! Exception vectors and the fatal-exception report.
//!
//! Any exception is a failure of the run — with one exception: a synchronous
//! exception at the current EL is first offered to the recovery hook the boot
//! code installed (the MMIO layer's fixup table, `mmio::recover`); if it
//! returns a resume address the handler continues there.  Otherwise the
//! handler decodes ESR_EL1 (the exception class in words), prints
//! ESR/FAR/ELR/SPSR through the fatal hook, and that hook ends the run with a
//! failing status.

use core::arch::{asm, global_asm};
use core::fmt;

global_asm!(include_str!("vectors.S"));

extern "C" {
    static __exception_vectors: u8;
}

/// Registers saved by `vectors.S`, in its layout.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP at the time of the exception.
    pub sp: u64,
    /// ELR_EL1: the faulting (or returning) instruction.
    pub elr: u64,
    /// SPSR_EL1: PSTATE at the exception.
    pub spsr: u64,
}

/// What the fatal-exception hook receives.
#[derive(Clone, Copy, Debug)]
pub struct ExceptionReport {
    /// Vector index 0..15 (which table entry fired).
    pub vector: u64,
    /// ESR_EL1.
    pub esr: u64,
    /// FAR_EL1 (meaningful for aborts and alignment faults).
    pub far: u64,
    /// ELR_EL1.
    pub elr: u64,
    /// SPSR_EL1.
    pub spsr: u64,
    /// SP at the exception.
    pub sp: u64,
    /// x29 (frame pointer) at the exception, for a manual backtrace.
    pub fp: u64,
    /// x30 (link register) at the exception.
    pub lr: u64,
}

impl ExceptionReport {
    /// The exception class (ESR_EL1.EC, bits 31:26).
    pub fn class(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }
}

/// ESR_EL1.EC in words (Arm ARM D19.2.37, table "ESR_ELx.EC").
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction?)",
        0x01 => "trapped WFI/WFE",
        0x07 => "SVE/SIMD/FP access trap",
        0x0e => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x16 => "HVC from AArch64",
        0x17 => "SMC from AArch64",
        0x18 => "trapped MSR/MRS/system instruction",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort at the current EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort at the current EL",
        0x26 => "SP alignment fault",
        0x2c => "trapped floating-point exception",
        0x2f => "SError interrupt",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "reserved/unrecognised class",
    }
}

/// The kind of exception a vector index stands for.
pub fn vector_name(vector: u64) -> &'static str {
    const KIND: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];
    KIND[(vector % 4) as usize]
}

impl fmt::Display for ExceptionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FROM: [&str; 4] = [
            "current EL, SP_EL0",
            "current EL, SP_ELx",
            "lower EL, AArch64",
            "lower EL, AArch32",
        ];
        let ec = self.class();
        writeln!(
            f,
            "unexpected {} exception ({}): EC {:#04x} = {}",
            vector_name(self.vector),
            FROM[((self.vector & 15) / 4) as usize],
            ec,
            class_name(ec)
        )?;
        writeln!(
            f,
            "ESR_EL1  {:#018x}  (ISS {:#x})",
            self.esr,
            self.esr & 0x1ff_ffff
        )?;
        writeln!(f, "FAR_EL1  {:#018x}", self.far)?;
        writeln!(f, "ELR_EL1  {:#018x}", self.elr)?;
        writeln!(f, "SPSR_EL1 {:#018x}", self.spsr)?;
        write!(
            f,
            "SP {:#018x}  FP {:#018x}  LR {:#018x}",
            self.sp, self.fp, self.lr
        )
    }
}

/// Where fatal exceptions are reported; set once by the boot code.
static HOOK: spin::Once<fn(&ExceptionReport) -> !> = spin::Once::new();

/// Decides whether a synchronous exception at the current EL is survived:
/// `(ESR_EL1, FAR_EL1, ELR_EL1)` → the address to resume at, or `None`.
pub type RecoverHook = fn(u64, u64, u64) -> Option<u64>;

/// The recovery hook; set once by the boot code.
static RECOVER: spin::Once<RecoverHook> = spin::Once::new();

/// Sets the hook that may survive a synchronous exception at the current EL.
/// Must be called after the MMU is on (as [`set_fatal_hook`]).
pub fn set_recover_hook(hook: RecoverHook) {
    RECOVER.call_once(|| hook);
}

/// Installs the vector table in VBAR_EL1.
pub fn install_vectors() {
    // Taking the address of the table in vectors.S reads nothing.
    let base = core::ptr::addr_of!(__exception_vectors) as u64;
    // SAFETY: VBAR_EL1 points at a valid, position-independent vector table
    // for the rest of the run.
    unsafe { asm!("msr vbar_el1, {}", "isb", in(reg) base, options(nostack, preserves_flags)) };
}

/// Sets the function that reports a fatal exception and ends the run.
/// Must be called after the MMU is on (it takes a lock-free `Once`, which
/// uses exclusive accesses).
pub fn set_fatal_hook(hook: fn(&ExceptionReport) -> !) {
    HOOK.call_once(|| hook);
}

/// Called by `vectors.S`.  Returns only when the recovery hook survived the
/// exception, with `frame.elr` set to where the vectors resume.
#[no_mangle]
extern "C" fn exception_entry(frame: &mut TrapFrame, vector: u64) {
    let (esr, far): (u64, u64);
    // SAFETY: reading syndrome registers has no side effects.
    unsafe {
        asm!("mrs {}, esr_el1", "mrs {}, far_el1", out(reg) esr, out(reg) far,
             options(nomem, nostack, preserves_flags));
    }
    // Vectors 0 and 4: synchronous, current EL (SP_EL0 / SP_ELx).
    if vector == 0 || vector == 4 {
        if let Some(resume) = RECOVER.get().and_then(|hook| hook(esr, far, frame.elr)) {
            frame.elr = resume;
            return;
        }
    }
    let report = ExceptionReport {
        vector,
        esr,
        far,
        elr: frame.elr,
        spsr: frame.spsr,
        sp: frame.sp,
        fp: frame.x[29],
        lr: frame.x[30],
    };
    match HOOK.get() {
        Some(hook) => hook(&report),
        None => super::park(),
    }
}
