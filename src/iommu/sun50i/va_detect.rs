//! Finding the VA debug port at run time where no manual documents it (H6,
//! docs/hw/sun50i.md §1, §11): a self-check that a block of reserved space
//! cannot pass by accident, run before the port is handed out as a master.
//!
//! 1. **Registers.**  VA_DATA (0x194) holds the word of a port write until
//!    the access starts ([M H616] procedure, §11), so it is plain
//!    read/write while the start bit is clear: [`PATTERN`] and its
//!    complement are written and each must read back.  Reserved space that
//!    reads 0 (or a fixed value) whatever is written fails here.
//! 2. **A translated read.**  A private two-level table maps one page
//!    holding [`DATA`] (distinct words, none 0, none equal to [`PATTERN`]
//!    or its complement) read-only at [`CHECK_IOVA`]; the TTB is pointed
//!    at it while every micro-TLB slot still bypasses (the enable
//!    sequence's state), flushed, each word is read through the port, and
//!    the TTB is put back (and flushed) whatever happened.  Every word must
//!    come back: a mismatch, an all-zero word, a start bit that never
//!    clears (bounded by `poll_until` in the port) or a port fault means
//!    "not found".  VA_DATA is never written with [`DATA`], so a plain
//!    register behind 0x194 cannot produce it.
//!
//! The check writes TTB through its own register handle, as the port does;
//! it refuses to touch TTB while any slot translates.
#![forbid(unsafe_code)]

use super::hw::Sun50iHw;
use super::regs::{R_VA, R_VA_DATA};
use super::va_port::VaPort;
use super::Sun50iError;
use crate::dma::DmaError;
use crate::dma::DmaMaster;
use crate::iommu::pgtable::sun50i::Sun50i;
use crate::iommu::pgtable::{Codec, Prot};
use crate::mm::cache::CacheMaintenance;
use crate::mm::dma_pool::{DmaError as PoolError, DmaPool};
use crate::mm::{Iova, PhysAddr};
use crate::mmio::Mmio;
use alloc::format;
use core::fmt;
use core::time::Duration;

/// The register pattern (its complement is written too).
pub const PATTERN: u32 = 0xA55A_C33C;

/// The IOVA the private table maps (directory index 0x765, page 0x43).
pub const CHECK_IOVA: u32 = 0x7654_3000;

/// The words of the page read through the port.
pub const DATA: [u32; 4] = [0x1357_9BDF, 0x2468_ACE0, 0xC0DE_F00D, 0x0BAD_CAFE];

/// Layout of the one 32 KiB allocation: directory (16 KiB, 16 KiB
/// aligned), page table, data page.
const DIR_OFF: usize = 0;
const PT_OFF: usize = 0x4000;
const DATA_OFF: usize = 0x5000;
const ALLOC: u64 = 0x8000;

/// The port found: its `Display` says which checks passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found;

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VA_DATA (0x194) held {PATTERN:#010x} and {:#010x}; a translated read of a mapped page at IOVA {CHECK_IOVA:#x} through the port returned its {} words {DATA:08x?}",
            !PATTERN,
            DATA.len()
        )
    }
}

/// What the check saw that says the port is not there (or could not be
/// checked); `Display` is the text the `#` line carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotFound {
    /// VA_DATA did not hold a word written to it.
    Register {
        /// The word written.
        wrote: u32,
        /// What read back.
        read: u32,
    },
    /// Some micro-TLB slots translate: TTB is not repointed.
    Translating {
        /// The masters' bits (BYPASS clear).
        masters: u32,
    },
    /// No memory for the private table.
    NoMemory(PoolError),
    /// TTB could not be pointed at the private table.
    SetTtb(Sun50iError),
    /// A translated read through the port failed.
    Read {
        /// The IOVA read.
        iova: Iova,
        /// What the port reported.
        cause: DmaError,
    },
    /// TTB could not be put back after the check.
    RestoreTtb {
        /// The driver's TTB.
        old: u32,
        /// The driver's error.
        cause: Sun50iError,
    },
    /// The reads returned all zeros.
    AllZeros,
    /// The reads returned other words than the page holds.
    Words([u32; 4]),
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iova = CHECK_IOVA;
        match self {
            Self::Register { wrote, read } => {
                write!(f, "VA_DATA (0x194): wrote {wrote:#010x}, read {read:#010x}")
            }
            Self::Translating { masters } => write!(
                f,
                "BYPASS leaves masters {masters:#x} translating: TTB is not repointed for the check"
            ),
            Self::NoMemory(e) => write!(f, "no memory for the check's table: {e}"),
            Self::SetTtb(e) => write!(f, "TTB for the check: {e}"),
            Self::Read { iova, cause } => write!(
                f,
                "a translated read at IOVA {iova} through the port: {cause:?}"
            ),
            Self::RestoreTtb { old, cause } => {
                write!(f, "TTB {old:#x} not restored after the check: {cause}")
            }
            Self::AllZeros => write!(
                f,
                "a translated read at IOVA {iova:#x} through VA/VA_DATA/VA_CONFIG returned all zeros, expected {DATA:08x?}"
            ),
            Self::Words(words) => write!(
                f,
                "a translated read at IOVA {iova:#x} returned {words:08x?}, expected {DATA:08x?}"
            ),
        }
    }
}

/// The port found, or what the check saw.
pub type Detection = Result<Found, NotFound>;

/// The port of `node` (variant `name`), if the check finds it: `Some` with
/// a `diag` line saying which checks passed, or `None` with one saying
/// what was seen (the group then SKIPs for want of a master).
pub fn checked_port<M: Mmio, P: Mmio>(
    node: &str,
    name: &str,
    hw: &mut Sun50iHw<M>,
    mut port: VaPort<P>,
    pool: &DmaPool,
    cache: &dyn CacheMaintenance,
    diag: &mut dyn FnMut(&str),
) -> Option<VaPort<P>> {
    match detect(hw, &mut port, pool, cache) {
        Ok(how) => {
            diag(&format!(
                "{node}: the {name}'s VA debug port (0x190-0x198), unconfirmed by any manual, was found by the run-time check: {how}"
            ));
            Some(port)
        }
        Err(seen) => {
            diag(&format!(
                "{node}: the {name}'s VA debug port (0x190-0x198) was not found by the run-time check: {seen}; it is not used as a master (docs/hw/sun50i.md §11)"
            ));
            None
        }
    }
}

/// Runs both checks over `hw` (TTB and flush) and `port` (the accesses),
/// both handles on the same IOMMU's registers; the private tables come
/// from `pool` (below 4 GiB) and are cleaned with `cache` for the
/// non-coherent walker.  `Err` says what was seen.
pub fn detect<M: Mmio, P: Mmio>(
    hw: &mut Sun50iHw<M>,
    port: &mut VaPort<P>,
    pool: &DmaPool,
    cache: &dyn CacheMaintenance,
) -> Detection {
    registers(hw)?;
    let translating = hw.translating();
    if translating != 0 {
        return Err(NotFound::Translating {
            masters: translating,
        });
    }
    let buf = pool
        .alloc_below(ALLOC, 1 << 32)
        .map_err(NotFound::NoMemory)?;
    let bus = buf.bus_addr().0;
    let at = |off: usize| bus + off as u64;
    let dir = (CHECK_IOVA >> 20) as usize;
    let pte = ((CHECK_IOVA >> 12) & 0xff) as usize;
    let f = Sun50i;
    buf.write_u32(
        DIR_OFF + 4 * dir,
        f.encode_table(1, crate::mm::BusAddr(at(PT_OFF))) as u32,
    );
    buf.write_u32(
        PT_OFF + 4 * pte,
        f.encode_leaf(2, PhysAddr(at(DATA_OFF)), Prot::ro()) as u32,
    );
    for (i, w) in DATA.iter().enumerate() {
        buf.write_u32(DATA_OFF + 4 * i, *w);
    }
    cache.clean(buf.cpu_addr().0 as usize, ALLOC as usize);
    let old = hw.ttb();
    hw.set_ttb(at(DIR_OFF)).map_err(NotFound::SetTtb)?;
    let read = read_words(port);
    // Back to the driver's table whatever the port did.
    let restored = hw
        .set_ttb(u64::from(old))
        .map_err(|cause| NotFound::RestoreTtb { old, cause });
    if restored.is_err() {
        // TTB may still point at the private table: keep its frames out of
        // the pool rather than let a later allocation be walked.
        core::mem::forget(buf);
    } else {
        drop(buf);
    }
    let words = read?;
    restored?;
    if words == [0; 4] {
        return Err(NotFound::AllZeros);
    }
    if words != DATA {
        return Err(NotFound::Words(words));
    }
    Ok(Found)
}

/// Step 1: VA_DATA holds the pattern and its complement (VA is left 0).
fn registers<M: Mmio>(hw: &Sun50iHw<M>) -> Result<(), NotFound> {
    let regs = hw.regs();
    for wrote in [PATTERN, !PATTERN] {
        regs.set(R_VA_DATA, wrote);
        let read = regs.get(R_VA_DATA);
        if read != wrote {
            return Err(NotFound::Register { wrote, read });
        }
    }
    regs.set(R_VA_DATA, 0);
    regs.set(R_VA, 0);
    Ok(())
}

/// Step 2's reads, one word per port access.
fn read_words<P: Mmio>(port: &mut VaPort<P>) -> Result<[u32; 4], NotFound> {
    let mut words = [0u32; 4];
    for (i, w) in words.iter_mut().enumerate() {
        let iova = Iova(u64::from(CHECK_IOVA) + 4 * i as u64);
        let mut b = [0u8; 4];
        port.read(iova, &mut b, Duration::from_millis(10))
            .map_err(|cause| NotFound::Read { iova, cause })?;
        *w = u32::from_le_bytes(b);
    }
    Ok(words)
}
