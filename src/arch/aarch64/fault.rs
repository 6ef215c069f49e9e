//! Deliberate faults, for the negative controls of the exception path.

/// An address outside every mapping of the identity map (above any RAM or
/// device we map, below the 48-bit limit).
pub const UNMAPPED: u64 = 0x0000_dead_beef_0000;

/// Reads [`UNMAPPED`]: a translation fault at the current EL (ESR_EL1.EC
/// 0x25, FAR_EL1 = UNMAPPED) that the vectors report before ending the run.
pub fn provoke_data_abort() -> ! {
    // SAFETY: the address is not mapped, so the load never touches memory; it
    // raises a synchronous data abort whose handler ends the run and never
    // returns here.
    let v = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
    // Only reachable if something maps UNMAPPED: say so instead of passing.
    panic!("read of unmapped {UNMAPPED:#x} returned {v:#x} instead of faulting");
}
