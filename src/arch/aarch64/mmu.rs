//! The CPU's identity map: 4 KiB granule, 48-bit input addresses, four levels
//! (VMSAv8-64, Arm ARM D8), built from the device tree before the MMU is on.
//!
//! RAM from `/memory` (minus `no-map` reservations) and the image itself are
//! Normal write-back cacheable; device blocks are added one by one as drivers
//! touch them, as Device-nGnRE.  Table pages come from a fixed pool in BSS so
//! the map can be built before any allocator exists.
//!
//! Only invalid→valid changes are ever made to a live table, which need no
//! TLB invalidation (Arm ARM D8.16.1: translation table entries that generate
//! a fault are never cached), just DSB + ISB; a request that would change an
//! existing mapping fails with [`MmuError::Conflict`] rather than breaking
//! break-before-make.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

const PAGE: u64 = 4096;
const ENTRIES: usize = 512;
/// Number of table pages available to the identity map.
pub const TABLE_POOL_PAGES: usize = 64;

/// MAIR_EL1 attribute indices used by the map.
const ATTR_NORMAL_WB: u64 = 0; // 0xff: Normal, inner/outer write-back RW-allocate
const ATTR_DEVICE_NGNRE: u64 = 1; // 0x04: Device-nGnRE
const ATTR_NORMAL_NC: u64 = 2; // 0x44: Normal non-cacheable
/// MAIR_EL1 value matching the indices above.
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8) | (0x44 << 16);

const DESC_VALID: u64 = 1 << 0;
const DESC_TABLE: u64 = 1 << 1; // also "page" at level 3
const DESC_AF: u64 = 1 << 10;
const DESC_SH_INNER: u64 = 0b11 << 8;
const DESC_PXN: u64 = 1 << 53;
const DESC_UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// A physical range `[base, base + size)`: arch's own, so this layer needs
/// nothing from `mm` (boot converts `mm::PhysRange`).  Displays like
/// `PhysRange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysSpan {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl fmt::Display for PhysSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:#x}..{:#x})",
            self.base,
            self.base.saturating_add(self.size)
        )
    }
}

/// Memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal memory, write-back cacheable, inner shareable, executable at EL1.
    Normal,
    /// Normal memory, non-cacheable (for buffers shared with non-coherent masters).
    NormalNonCacheable,
    /// Device-nGnRE, never executable.
    Device,
}

impl MemType {
    fn attrs(self) -> u64 {
        match self {
            MemType::Normal => (ATTR_NORMAL_WB << 2) | DESC_SH_INNER | DESC_AF | DESC_UXN,
            MemType::NormalNonCacheable => {
                (ATTR_NORMAL_NC << 2) | DESC_SH_INNER | DESC_AF | DESC_UXN | DESC_PXN
            }
            MemType::Device => (ATTR_DEVICE_NGNRE << 2) | DESC_AF | DESC_UXN | DESC_PXN,
        }
    }

    /// The MAIR attribute byte this type maps to (for checking PAR_EL1).
    pub fn mair_byte(self) -> u8 {
        match self {
            MemType::Normal => 0xff,
            MemType::NormalNonCacheable => 0x44,
            MemType::Device => 0x04,
        }
    }
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuError {
    /// The table page pool is exhausted.
    OutOfTables {
        /// Address being mapped when the pool ran out.
        at: u64,
    },
    /// The range is above the 48-bit input address limit.
    OutOfRange {
        /// The offending range.
        range: PhysSpan,
    },
    /// Part of the range is already mapped with another type.
    Conflict {
        /// First conflicting address.
        at: u64,
        /// Type requested now.
        wanted: MemType,
    },
    /// The identity map was already taken (built twice).
    AlreadyBuilt,
    /// `map_device` was called before the MMU was enabled.
    NotEnabled,
}

impl fmt::Display for MmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmuError::OutOfTables { at } => write!(
                f,
                "identity map ran out of its {TABLE_POOL_PAGES} table pages mapping {at:#x}"
            ),
            MmuError::OutOfRange { range } => {
                write!(f, "range {range} is beyond the 48-bit identity map")
            }
            MmuError::Conflict { at, wanted } => {
                write!(
                    f,
                    "{at:#x} is already mapped with another type (wanted {wanted:?})"
                )
            }
            MmuError::AlreadyBuilt => write!(f, "identity map built twice"),
            MmuError::NotEnabled => write!(f, "MMU not enabled yet"),
        }
    }
}

#[repr(C, align(4096))]
struct TablePage([u64; ENTRIES]);

/// The whole pool of table pages.
type TablePages = [TablePage; TABLE_POOL_PAGES];

/// Backing store for the identity map's tables.
struct TablePool {
    pages: UnsafeCell<[TablePage; TABLE_POOL_PAGES]>,
    taken: AtomicBool,
}

// SAFETY: the pool is handed out at most once (`take`) as an exclusive reference,
// after which only the owner of that reference touches it.
unsafe impl Sync for TablePool {}

static POOL: TablePool = TablePool {
    pages: UnsafeCell::new([const { TablePage([0; ENTRIES]) }; TABLE_POOL_PAGES]),
    taken: AtomicBool::new(false),
};

impl TablePool {
    /// Hands out the pool once.  Runs with the MMU off, where exclusive
    /// accesses may not work on Device memory, so this uses a plain load and
    /// store: the boot CPU is the only one running and interrupts are masked.
    #[allow(clippy::mut_from_ref)] // handed out once, guarded by `taken`
    fn take(&self) -> Option<&mut TablePages> {
        if self.taken.load(Ordering::Relaxed) {
            return None;
        }
        self.taken.store(true, Ordering::Relaxed);
        // SAFETY: `taken` was false, so no other reference to the pages exists,
        // and it is now true so none will be created again.
        Some(unsafe { &mut *self.pages.get() })
    }
}

/// The identity map under construction or in use.
pub struct IdentityMap<'pool> {
    pages: &'pool mut TablePages,
    used: usize,
    enabled: bool,
}

impl IdentityMap<'static> {
    /// Claims the table pool; fails if called twice.
    pub fn new() -> Result<Self, MmuError> {
        let pages = POOL.take().ok_or(MmuError::AlreadyBuilt)?;
        Ok(Self {
            pages,
            used: 1, // page 0 is the level-0 table
            enabled: false,
        })
    }

    /// Number of table pages in use.
    pub fn tables_used(&self) -> usize {
        self.used
    }

    fn root_pa(&self) -> u64 {
        self.pages[0].0.as_ptr() as u64
    }

    fn index_of(&self, table_pa: u64) -> usize {
        ((table_pa - self.root_pa()) / PAGE) as usize
    }

    fn alloc_table(&mut self, at: u64) -> Result<usize, MmuError> {
        if self.used >= TABLE_POOL_PAGES {
            return Err(MmuError::OutOfTables { at });
        }
        // Pages are handed out once and BSS was zeroed in boot.S, so the
        // table is already empty (no memset: it may run with the MMU off).
        let idx = self.used;
        self.used += 1;
        Ok(idx)
    }

    /// Maps `range` (rounded out to pages) with identity addresses.
    /// Parts already mapped with the same type are left alone.
    pub fn map(&mut self, range: PhysSpan, ty: MemType) -> Result<(), MmuError> {
        let start = range.base & !(PAGE - 1);
        let end = range
            .base
            .checked_add(range.size)
            .and_then(|e| e.checked_add(PAGE - 1))
            .map(|e| e & !(PAGE - 1))
            .filter(|&e| e <= 1 << 48)
            .ok_or(MmuError::OutOfRange { range })?;
        let mut pa = start;
        while pa < end {
            pa += self.map_one(pa, end - pa, ty)?;
        }
        if self.enabled {
            // New valid entries only: make them visible to the walker.
            // SAFETY: barriers only.
            unsafe { asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
        }
        Ok(())
    }

    /// Maps the largest block at `pa` that fits `remaining`; returns its size.
    fn map_one(&mut self, pa: u64, remaining: u64, ty: MemType) -> Result<u64, MmuError> {
        let mut table = 0usize;
        for level in 0..4u32 {
            let shift = 39 - 9 * level;
            let block = 1u64 << shift;
            let idx = ((pa >> shift) & 511) as usize;
            let entry = self.pages[table].0[idx];
            let can_block = level >= 1 && pa.is_multiple_of(block) && remaining >= block;
            if entry & DESC_VALID == 0 {
                if can_block {
                    let kind = if level == 3 { DESC_TABLE } else { 0 };
                    self.pages[table].0[idx] = pa | ty.attrs() | kind | DESC_VALID;
                    return Ok(block);
                }
                let next = self.alloc_table(pa)?;
                let next_pa = self.pages[next].0.as_ptr() as u64;
                self.pages[table].0[idx] = next_pa | DESC_TABLE | DESC_VALID;
                table = next;
                continue;
            }
            let is_table = level < 3 && entry & DESC_TABLE != 0;
            if is_table {
                table = self.index_of(entry & ADDR_MASK);
                continue;
            }
            // An existing block or page covers pa.
            let same = entry & !ADDR_MASK & !DESC_TABLE == ty.attrs() | DESC_VALID;
            if !same {
                return Err(MmuError::Conflict { at: pa, wanted: ty });
            }
            let covered = block - (pa % block);
            return Ok(covered.min(remaining));
        }
        Err(MmuError::Conflict { at: pa, wanted: ty })
    }

    /// Turns the MMU and caches on with this map.
    ///
    /// `written_with_mmu_off` are the ranges the boot path wrote while the MMU
    /// was off (the image: relocations, BSS, stack, these tables); their cache
    /// lines are invalidated first so no stale line shadows what is in RAM.
    pub fn enable(&mut self, written_with_mmu_off: &[PhysSpan]) {
        for r in written_with_mmu_off {
            super::cache::invalidate_range(r.base as usize, r.size as usize);
        }
        super::cache::invalidate_icache_all();

        // IPS from ID_AA64MMFR0_EL1.PARange so the walker accepts every PA the
        // CPU supports (Arm ARM D19.2.64); capped at 48 bits (0b101).
        let mmfr0: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe {
            asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack, preserves_flags))
        };
        let ips = (mmfr0 & 0xf).min(0b101);
        let tcr: u64 = 16 // T0SZ = 16: 48-bit input
            | (0b01 << 8) // IRGN0 write-back write-allocate
            | (0b01 << 10) // ORGN0 write-back write-allocate
            | (0b11 << 12) // SH0 inner shareable
            | (1 << 23) // EPD1: no walks through TTBR1 (TG0 = 0b00: 4 KiB)
            | (ips << 32);
        let ttbr0 = self.root_pa();
        // SAFETY: the tables describe an identity map that covers the code
        // running now, its stack and data (the caller mapped the image), so
        // execution continues at the same addresses once SCTLR_EL1.M is set.
        // The barriers order the table writes before the walker can see them.
        unsafe {
            asm!(
                "msr mair_el1, {mair}",
                "msr tcr_el1, {tcr}",
                "msr ttbr0_el1, {ttbr0}",
                "dsb ish",
                "isb",
                "tlbi vmalle1",
                "dsb ish",
                "isb",
                "mrs {tmp}, sctlr_el1",
                "orr {tmp}, {tmp}, #(1 << 0)",  // M
                "orr {tmp}, {tmp}, #(1 << 2)",  // C
                "orr {tmp}, {tmp}, #(1 << 12)", // I
                "msr sctlr_el1, {tmp}",
                "isb",
                mair = in(reg) MAIR_VALUE,
                tcr = in(reg) tcr,
                ttbr0 = in(reg) ttbr0,
                tmp = out(reg) _,
                options(nostack),
            );
        }
        self.enabled = true;
    }
}

/// Result of an address translation probe (`AT S1E1R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtResult {
    /// PAR_EL1 as read.
    pub par: u64,
}

impl AtResult {
    /// `true` when the translation faulted (PAR_EL1.F).
    pub fn faulted(&self) -> bool {
        self.par & 1 != 0
    }
    /// The output physical address (page-aligned) when it did not fault.
    pub fn phys(&self) -> u64 {
        self.par & ADDR_MASK
    }
    /// The MAIR attribute byte (PAR_EL1.ATTR, bits 63:56).
    pub fn attr(&self) -> u8 {
        (self.par >> 56) as u8
    }
}

/// Asks the MMU how it translates `va` for an EL1 read (Arm ARM C5.5 AT S1E1R).
pub fn probe(va: u64) -> AtResult {
    let par: u64;
    // SAFETY: AT only writes PAR_EL1; it never faults (a failed walk sets
    // PAR_EL1.F) and accesses no memory on our behalf.
    unsafe {
        asm!("at s1e1r, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par,
             options(nostack, preserves_flags));
    }
    AtResult { par }
}

/// SCTLR_EL1 as read now.
pub fn sctlr() -> u64 {
    let v: u64;
    // SAFETY: reading a system register has no side effects.
    unsafe { asm!("mrs {}, sctlr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The live identity map, for device mappings added after boot.
static LIVE: spin::Mutex<Option<IdentityMap<'static>>> = spin::Mutex::new(None);

/// Hands the enabled map over so later [`map_device`] calls can extend it.
pub fn install(map: IdentityMap<'static>) {
    *LIVE.lock() = Some(map);
}

/// Maps a device block (Device-nGnRE) into the live identity map.
pub fn map_device(range: PhysSpan) -> Result<(), MmuError> {
    map_live(range, MemType::Device)
}

/// Maps a range with the given type into the live identity map.
pub fn map_live(range: PhysSpan, ty: MemType) -> Result<(), MmuError> {
    let mut live = LIVE.lock();
    let map = live.as_mut().ok_or(MmuError::NotEnabled)?;
    map.map(range, ty)
}

/// Table pages used by the live map (for diagnostics).
pub fn live_tables_used() -> Option<usize> {
    LIVE.lock().as_ref().map(IdentityMap::tables_used)
}
