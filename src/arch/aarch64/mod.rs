//! AArch64 (ARMv8-A) support: the boot path and the CPU services the rest of
//! the image uses.

pub mod cache;
pub mod device;
pub mod entry;
pub mod exception;
pub mod fault;
pub mod gic;
pub mod mmu;
pub mod semihosting;
pub mod smccc;
pub mod timer;

/// Waits for an event forever; the end of every path that cannot continue.
pub fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}
