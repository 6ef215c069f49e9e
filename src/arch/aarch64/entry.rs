//! From `boot.S` into Rust: turn the raw entry registers into typed facts and
//! a bounds-checked DTB slice, then hand over to [`crate::boot::start`].

use crate::boot::EntryFacts;
use crate::mm::PhysAddr;
use crate::platform::dt::{header_total_size, DtError};
use core::ptr::addr_of;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __rela_start: u8;
    static __rela_end: u8;
}

/// A byte whose address is stored in relocated data, to prove relocation.
static RELOC_MARKER: u8 = 0x5a;
/// Holds `&RELOC_MARKER`: linked as 0-based, correct only once boot.S applied
/// the R_AARCH64_RELATIVE entry for it.
static RELOC_PROBE: &u8 = &RELOC_MARKER;

/// Size of one Elf64_Rela entry.
const RELA_SIZE: u64 = 24;

#[no_mangle]
extern "C" fn rust_entry(
    dtb: u64,
    load_base: u64,
    entry_el: u64,
    bad_relocs: u64,
    entry_e2h: u64,
) -> ! {
    super::exception::install_vectors();
    // Addresses of linker symbols are PC-relative here (adrp), so they are
    // runtime addresses whether or not relocation worked.
    let start = addr_of!(__image_start) as u64;
    let end = addr_of!(__image_end) as u64;
    let rela = addr_of!(__rela_end) as u64 - addr_of!(__rela_start) as u64;
    // SAFETY: RELOC_PROBE is an initialised static; the volatile read stops
    // the compiler from folding it to its link-time value.
    let stored = unsafe { core::ptr::read_volatile(addr_of!(RELOC_PROBE)) } as *const u8 as u64;
    let facts = EntryFacts {
        load_base: PhysAddr(load_base),
        image_size: end - start,
        entry_el: entry_el as u8,
        entry_e2h: entry_e2h != 0,
        relocs_total: rela / RELA_SIZE,
        relocs_unknown: bad_relocs,
        reloc_probe_stored: stored,
        reloc_probe_actual: addr_of!(RELOC_MARKER) as u64,
    };
    crate::boot::start(facts, dtb_slice(dtb))
}

/// The DTB the loader passed in x0, as a slice bounded by its header.
fn dtb_slice(addr: u64) -> Result<(&'static [u8], PhysAddr), DtError> {
    if addr == 0 || !addr.is_multiple_of(8) {
        return Err(DtError::BadAddress { addr });
    }
    let mut header = [0u8; 40];
    for (i, b) in header.iter_mut().enumerate() {
        // SAFETY: booting.rst guarantees x0 points at a DTB in RAM (at least
        // its 40-byte header is readable); we read it one byte at a time,
        // which is fine with the MMU off (Device memory, no unaligned access).
        *b = unsafe { ((addr as usize + i) as *const u8).read_volatile() };
    }
    let size = header_total_size(&header)?;
    // SAFETY: header_total_size checked the magic and bounded totalsize
    // (<= the boot protocol's 2 MiB limit); the loader placed that many
    // bytes at `addr` and nothing writes them during the run.
    let blob = unsafe { core::slice::from_raw_parts(addr as usize as *const u8, size) };
    Ok((blob, PhysAddr(addr)))
}
