//! From `boot.S` into Rust: turn the raw entry registers into typed facts and
//! a bounds-checked DTB slice, then hand over to [`super::start`].  The CPU
//! side (vectors, the image's self-measurement, reading x0's DTB) is
//! `arch::aarch64`; this module only calls down into it.

use super::EntryFacts;
use crate::arch::aarch64::entry::{self, LoaderDtb};
use crate::arch::aarch64::exception;
use crate::mm::PhysAddr;
use crate::platform::dt::{header_total_size, DtError};

/// The function `boot.S` branches to, with the loader's x0 (the DTB), the load
/// base, CurrentEL, the count of relocations it could not apply,
/// HCR_EL2.E2H at entry and the count of relocations it applied (RELA and
/// RELR together).
#[no_mangle]
extern "C" fn rust_entry(
    dtb: LoaderDtb,
    load_base: u64,
    entry_el: u64,
    bad_relocs: u64,
    entry_e2h: u64,
    relocs_applied: u64,
) -> ! {
    exception::install_vectors();
    let image = entry::measure_image();
    let facts = EntryFacts {
        load_base: PhysAddr(load_base),
        image_size: image.image_size,
        entry_el: entry_el as u8,
        entry_e2h: entry_e2h != 0,
        relocs_total: relocs_applied,
        relocs_unknown: bad_relocs,
        reloc_probe_stored: image.reloc_probe_stored,
        reloc_probe_actual: image.reloc_probe_actual,
        relocs_expected: image.rela_entries + crate::selftest::relr::count(image.relr),
    };
    super::start(facts, dtb_slice(&dtb))
}

/// The DTB the loader passed in x0, as a slice bounded by its header.
fn dtb_slice(dtb: &LoaderDtb) -> Result<(&'static [u8], PhysAddr), DtError> {
    let addr = dtb.addr();
    let header = dtb.header().ok_or(DtError::BadAddress { addr })?;
    let size = header_total_size(&header)?;
    // header_total_size checked what `blob` re-checks, so this never fails.
    let blob = dtb.blob(size).ok_or(DtError::BadAddress { addr })?;
    Ok((blob, PhysAddr(addr)))
}
