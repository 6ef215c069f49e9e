//! What the entry path needs from the CPU side: the image's self-measurement
//! (size, the relocation probe) and bounds-checked access to the
//! DTB the loader passed in x0.  `boot.S` calls `boot::entry::rust_entry`,
//! which uses these; `arch` itself never calls upward.

use core::ptr::addr_of;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __rela_start: u8;
    static __rela_end: u8;
    static __relr_start: u64;
    static __relr_end: u64;
}

/// Bytes of one ELF64 RELA entry (r_offset, r_info, r_addend).
const RELA_ENTRY: u64 = 24;

/// A byte whose address is stored in relocated data, to prove relocation.
static RELOC_MARKER: u8 = 0x5a;
/// Holds `&RELOC_MARKER`: linked as 0-based, correct only once boot.S applied
/// the relative relocation (RELR) for it.
static RELOC_PROBE: &u8 = &RELOC_MARKER;

/// Bytes of the flattened device tree header (devicetree spec §5.2).
pub const DTB_HEADER_SIZE: usize = 40;
/// Largest DTB the boot protocol allows (booting.rst: at most 2 MiB).
const DTB_MAX_SIZE: usize = 2 << 20;
/// `magic` of a flattened device tree header.
const FDT_MAGIC: u32 = 0xd00d_feed;

/// What the image measured about itself at entry.
#[derive(Clone, Copy, Debug)]
pub struct ImageFacts {
    /// Bytes from the image start to the end of BSS and stack.
    pub image_size: u64,
    /// Pointer read from relocated data.
    pub reloc_probe_stored: u64,
    /// The object's PC-relative address.
    pub reloc_probe_actual: u64,
    /// Entries in `.rela.dyn` (what `boot.S` walked as RELA).
    pub rela_entries: u64,
    /// The words of `.relr.dyn`, as linked (RELR is not itself relocated),
    /// for a count of what `boot.S` should have applied that does not come
    /// from `boot.S`.
    pub relr: &'static [u64],
}

/// Measures the running image: its size and the relocation probe (stored pointer vs. actual address).
pub fn measure_image() -> ImageFacts {
    // Addresses of linker symbols are PC-relative here (adrp), so they are
    // runtime addresses whether or not relocation worked.
    let start = addr_of!(__image_start) as u64;
    let end = addr_of!(__image_end) as u64;
    // SAFETY: RELOC_PROBE is an initialised static; the volatile read stops
    // the compiler from folding it to its link-time value.
    let stored = unsafe { core::ptr::read_volatile(addr_of!(RELOC_PROBE)) } as *const u8 as u64;
    let rela = addr_of!(__rela_end) as u64 - addr_of!(__rela_start) as u64;
    let relr_start = addr_of!(__relr_start);
    let relr_words = (addr_of!(__relr_end) as usize - relr_start as usize) / 8;
    // SAFETY: linker.ld places __relr_start and __relr_end around
    // `.relr.dyn`, 8-byte aligned, inside the loaded image (before `.data`,
    // so the loader copied it); nothing writes it after boot.S read it.
    let relr = unsafe { core::slice::from_raw_parts(relr_start, relr_words) };
    ImageFacts {
        image_size: end - start,
        reloc_probe_stored: stored,
        reloc_probe_actual: addr_of!(RELOC_MARKER) as u64,
        rela_entries: rela / RELA_ENTRY,
        relr,
    }
}

/// The DTB address exactly as `boot.S` received it in x0.  Only the entry
/// path can have one (it is the first argument `boot.S` passes; the field is
/// private), so the reads below only ever touch the loader's DTB.
#[repr(transparent)]
#[derive(Debug)]
pub struct LoaderDtb(u64);

impl LoaderDtb {
    /// The address in x0.
    pub fn addr(&self) -> u64 {
        self.0
    }

    /// The DTB header, or `None` when x0 is 0 or not 8-byte aligned.
    pub fn header(&self) -> Option<[u8; DTB_HEADER_SIZE]> {
        let addr = self.0;
        if addr == 0 || !addr.is_multiple_of(8) {
            return None;
        }
        let mut header = [0u8; DTB_HEADER_SIZE];
        for (i, b) in header.iter_mut().enumerate() {
            // SAFETY: booting.rst guarantees x0 points at a DTB in RAM (at
            // least its 40-byte header is readable); we read it one byte at a
            // time, which is fine with the MMU off (Device memory, no
            // unaligned access).
            *b = unsafe { ((addr as usize + i) as *const u8).read_volatile() };
        }
        Some(header)
    }

    /// The whole blob, `total_size` bytes (the header's `totalsize`, already
    /// validated by the caller).  `None` unless the header has the FDT magic,
    /// says exactly `total_size`, and that is between the header size and the
    /// boot protocol's 2 MiB limit.
    pub fn blob(&self, total_size: usize) -> Option<&'static [u8]> {
        let header = self.header()?;
        let be32 =
            |o: usize| u32::from_be_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
        let ok = be32(0) == FDT_MAGIC
            && be32(4) as usize == total_size
            && (DTB_HEADER_SIZE..=DTB_MAX_SIZE).contains(&total_size);
        if !ok {
            return None;
        }
        // SAFETY: the header at x0 has the FDT magic and says `total_size`
        // bytes, bounded by the boot protocol's 2 MiB limit; the loader placed
        // that many bytes at `addr` and nothing writes them during the run.
        Some(unsafe { core::slice::from_raw_parts(self.0 as usize as *const u8, total_size) })
    }
}
