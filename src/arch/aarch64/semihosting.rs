//! Arm semihosting (A64 `HLT #0xF000`), used under QEMU with `-semihosting`
//! so the exit status of the emulator is the number of failed cases.
//!
//! Facts: Arm "Semihosting for AArch32 and AArch64" v2: SYS_EXIT = 0x18 with
//! x1 pointing at {ADP_Stopped_ApplicationExit = 0x20026, exit code};
//! SYS_WRITE0 = 0x04 with x1 pointing at a NUL-terminated string.  Without
//! semihosting enabled the HLT is an undefined instruction, so only call this
//! when bootargs asked for it.

use core::arch::asm;

const SYS_WRITE0: u64 = 0x04;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Asks the debugger/emulator to end the program with `code`.
pub fn exit(code: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    // SAFETY: the semihosting call reads the two-word block we pass and does
    // not return when the host honours it; if it does return we park.
    unsafe {
        asm!("hlt #0xf000", inout("x0") SYS_EXIT => _, in("x1") block.as_ptr(), options(nostack));
    }
    super::park()
}

/// Writes `bytes` (without NULs) to the semihosting console.
pub fn write(bytes: &[u8]) {
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(buf.len() - 1) {
        buf[..chunk.len()].copy_from_slice(chunk);
        buf[chunk.len()] = 0;
        // SAFETY: x1 points at a NUL-terminated buffer on our stack that
        // outlives the call; the host only reads it.
        unsafe {
            asm!("hlt #0xf000", inout("x0") SYS_WRITE0 => _, in("x1") buf.as_ptr(), options(nostack));
        }
    }
}
