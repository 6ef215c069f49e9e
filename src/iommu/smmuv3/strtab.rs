//! The stream table: covers every StreamID the SMMU supports (IDR1.SIDSIZE),
//! linear when that is at most [`SPLIT`] bits or two-level tables are not
//! implemented, two-level otherwise.
//!
//! Formats (IHI0070 §3.3.1, §5.1, restated in docs/hw/smmuv3.md §6): linear =
//! 2^LOG2SIZE STEs of 64 bytes; two-level = 2^(LOG2SIZE−SPLIT) level-1
//! descriptors of 8 bytes (SPAN `[4:0]`, L2Ptr `[51:6]`) each pointing at
//! 2^SPLIT STEs.  Like Linux we use SPLIT = 8 (16 KiB level-2 tables).
//! Every level-1 descriptor is valid from the start: the spans no attached
//! stream uses all point at one shared, never-written level-2 table of abort
//! STEs, so traffic from any master the run does not drive is aborted
//! silently — an invalid descriptor (SPAN = 0) would make each of its
//! transactions a C_BAD_STREAMID event and flood the event queue
//! (docs/hw/smmuv3.md §6.4).  A span gets its own level-2 table, filled with
//! abort STEs before its descriptor is switched with one 64-bit store, when
//! a stream in it is first written.  Every STE reachable through the table
//! is a valid abort STE until attached, so an unattached stream is blocked,
//! not bypassed (docs/design.md §4 `default_deny`).
#![forbid(unsafe_code)]

use super::coherency::DmaSync;
use super::error::Smmuv3Error;
use super::features::Features;
use super::regs::{STRTAB_BASE, STRTAB_BASE_CFG};
use super::ste::{Ste, STE_BYTES, STE_DWORDS};
use crate::iommu::vecmap::VecMap;
use crate::mm::dma_pool::{DmaBuf, DmaPool};

/// SPLIT for two-level tables (Linux's choice, docs/hw/smmuv3.md §6.3).
pub const SPLIT: u8 = 8;
/// Largest StreamID width this driver covers with a two-level table: Linux's
/// cap of 2^16 level-1 descriptors with SPLIT 8 (an L1 array of 512 KiB).
/// Beyond it (SIDSIZE 25..32) the uncovered StreamIDs are out of range
/// (docs/hw/smmuv3.md §6.4).
pub const MAX_TWO_LEVEL_BITS: u8 = 24;
/// Largest linear table: 2^12 STEs = 256 KiB (only reached when two-level
/// tables are asked not to be used; an SMMU with more than 6 StreamID bits
/// must implement them, IHI 0070 §3.3.1.2).
pub const MAX_AUTO_LINEAR_BITS: u8 = 12;

/// Which format to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StrtabChoice {
    /// Two-level when IDR0.ST_LEVEL allows it and SIDSIZE exceeds
    /// [`SPLIT`]; linear otherwise.  Either way every supported StreamID
    /// (up to [`MAX_TWO_LEVEL_BITS`]) is covered.
    #[default]
    Auto,
    /// Always linear (covering SIDSIZE up to [`MAX_AUTO_LINEAR_BITS`], and
    /// at least the largest StreamID asked for).
    Linear,
    /// Two-level (fails if IDR0.ST_LEVEL = 0).
    TwoLevel,
}

/// The format in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrtabLayout {
    /// 2^log2size STEs.
    Linear {
        /// StreamID bits covered.
        log2size: u8,
    },
    /// 2^(log2size−split) L1 descriptors × 2^split STEs.
    TwoLevel {
        /// StreamID bits covered.
        log2size: u8,
        /// STEs per L2 table = 2^split.
        split: u8,
    },
}

impl StrtabLayout {
    /// StreamID bits covered.
    pub fn sid_bits(&self) -> u8 {
        match *self {
            Self::Linear { log2size } | Self::TwoLevel { log2size, .. } => log2size,
        }
    }
}

/// Bits needed to represent `max_sid` (at least 1).
pub fn sid_bits_for(max_sid: u32) -> u8 {
    (32 - max_sid.leading_zeros()).max(1) as u8
}

/// Chooses the layout: every StreamID the SMMU supports (IDR1.SIDSIZE, up
/// to [`MAX_TWO_LEVEL_BITS`]), and at least `0..=max_sid`.
pub fn choose_layout(
    f: &Features,
    max_sid: u32,
    choice: StrtabChoice,
) -> Result<StrtabLayout, Smmuv3Error> {
    let need = sid_bits_for(max_sid);
    if need > f.sid_bits {
        return Err(Smmuv3Error::StreamIdOutOfRange {
            sid: max_sid,
            table_bits: f.sid_bits,
        });
    }
    let two_level_ok = f.two_level_strtab && f.sid_bits > SPLIT;
    let two_level = match choice {
        StrtabChoice::Linear => false,
        StrtabChoice::TwoLevel if !two_level_ok => {
            return Err(Smmuv3Error::Unsupported {
                register: "IDR0",
                value: f.idr0,
                reason: "two-level stream table requested but ST_LEVEL=0 or SIDSIZE <= 8",
            })
        }
        StrtabChoice::TwoLevel => true,
        StrtabChoice::Auto => two_level_ok,
    };
    Ok(if two_level {
        StrtabLayout::TwoLevel {
            log2size: f.sid_bits.min(MAX_TWO_LEVEL_BITS).max(need),
            split: SPLIT,
        }
    } else {
        StrtabLayout::Linear {
            log2size: f.sid_bits.min(MAX_AUTO_LINEAR_BITS).max(need),
        }
    })
}

/// Refuses a structure the SMMU would reach beyond its output address size
/// (IDR5.OAS, docs/hw/smmuv3.md §2): its last byte must be below 2^OAS.
pub fn check_oas(what: &'static str, buf: &DmaBuf<'_>, oas_bits: u8) -> Result<(), Smmuv3Error> {
    let addr = buf.bus_addr().as_u64();
    let last = addr.saturating_add(buf.len() as u64).saturating_sub(1);
    if oas_bits < 64 && last >> oas_bits != 0 {
        return Err(Smmuv3Error::BeyondOas {
            what,
            addr,
            oas_bits,
        });
    }
    Ok(())
}

/// Where an STE lives in memory.
pub struct SteSlot<'t, 'a> {
    /// The buffer holding it.
    pub buf: &'t DmaBuf<'a>,
    /// Byte offset of dword0.
    pub offset: usize,
}

/// The stream table in DMA memory.
pub struct StreamTable<'a> {
    pool: &'a DmaPool,
    layout: StrtabLayout,
    /// The linear table, or the L1 descriptor array.
    base: DmaBuf<'a>,
    /// Level-2 tables of their own, by L1 index.
    l2: VecMap<u32, DmaBuf<'a>>,
    /// Two-level: the level-2 table of abort STEs every other span's
    /// descriptor points at; never written after [`Self::new`].
    shared_abort: Option<DmaBuf<'a>>,
    /// IDR5.OAS in bits: every table must lie below 2^oas_bits.
    oas_bits: u8,
}

impl<'a> StreamTable<'a> {
    /// Allocates the table; a linear table is filled with abort STEs, a
    /// two-level one gets one shared level-2 table of abort STEs and every
    /// level-1 descriptor pointing at it (SPAN = SPLIT + 1), so every
    /// StreamID it covers finds a valid abort STE: silently aborted, no
    /// C_BAD_STREAMID (docs/hw/smmuv3.md §6.4).
    pub fn new(
        pool: &'a DmaPool,
        layout: StrtabLayout,
        sync: &DmaSync,
    ) -> Result<Self, Smmuv3Error> {
        let (base, shared_abort) = match layout {
            StrtabLayout::Linear { log2size } => {
                let buf = pool.alloc((STE_BYTES as u64) << log2size)?;
                fill_abort(&buf, 1usize << log2size, sync);
                (buf, None)
            }
            StrtabLayout::TwoLevel { log2size, split } => {
                let descs = 1usize << log2size.saturating_sub(split);
                let l1 = pool.alloc(8 * descs as u64)?;
                let shared = pool.alloc((STE_BYTES as u64) << split)?;
                fill_abort(&shared, 1usize << split, sync);
                let desc = l1_descriptor(&shared, split);
                for i in 0..descs {
                    l1.write_u64(8 * i, desc);
                }
                sync.cpu_wrote(&l1, 0, 8 * descs);
                (l1, Some(shared))
            }
        };
        Ok(Self {
            pool,
            layout,
            base,
            l2: VecMap::new(),
            shared_abort,
            oas_bits: 52,
        })
    }

    /// Checks the table against IDR5.OAS (`oas_bits`) and keeps the bound
    /// for the level-2 tables allocated later.
    pub fn with_oas(mut self, oas_bits: u8) -> Result<Self, Smmuv3Error> {
        check_oas("stream table", &self.base, oas_bits)?;
        if let Some(shared) = &self.shared_abort {
            check_oas("shared L2 stream table", shared, oas_bits)?;
        }
        self.oas_bits = oas_bits;
        Ok(self)
    }

    /// The layout.
    pub fn layout(&self) -> StrtabLayout {
        self.layout
    }

    /// STRTAB_BASE value: address | RA.
    pub fn base_reg(&self) -> u64 {
        (STRTAB_BASE::ADDR.val(self.base.bus_addr().as_u64() >> 6) + STRTAB_BASE::RA::SET).value
    }

    /// STRTAB_BASE_CFG value.
    pub fn cfg_reg(&self) -> u32 {
        match self.layout {
            StrtabLayout::Linear { log2size } => {
                (STRTAB_BASE_CFG::FMT::Linear + STRTAB_BASE_CFG::LOG2SIZE.val(u32::from(log2size)))
                    .value
            }
            StrtabLayout::TwoLevel { log2size, split } => {
                (STRTAB_BASE_CFG::FMT::TwoLevel
                    + STRTAB_BASE_CFG::LOG2SIZE.val(u32::from(log2size))
                    + STRTAB_BASE_CFG::SPLIT.val(u32::from(split)))
                .value
            }
        }
    }

    fn check(&self, sid: u32) -> Result<(), Smmuv3Error> {
        let bits = self.layout.sid_bits();
        if u64::from(sid) >> bits != 0 {
            return Err(Smmuv3Error::StreamIdOutOfRange {
                sid,
                table_bits: bits,
            });
        }
        Ok(())
    }

    /// Makes sure the STE of `sid` exists in memory in a table of its own
    /// span (never the shared abort table).  Returns `true` when a level-2
    /// table was just published in place of the shared one (the caller
    /// should then invalidate the L1 descriptor with CFGI_STE Leaf = 0,
    /// IHI 0070 §5.1.1; docs/hw/smmuv3.md §6.3, §6.4).
    pub fn ensure(&mut self, sid: u32, sync: &DmaSync) -> Result<bool, Smmuv3Error> {
        self.check(sid)?;
        let StrtabLayout::TwoLevel { split, .. } = self.layout else {
            return Ok(false);
        };
        let l1 = sid >> split;
        if self.l2.contains_key(&l1) {
            return Ok(false);
        }
        let table = self.pool.alloc((STE_BYTES as u64) << split)?;
        check_oas("L2 stream table", &table, self.oas_bits)?;
        fill_abort(&table, 1usize << split, sync);
        let desc = l1_descriptor(&table, split);
        // The L2 contents must be visible before the descriptor that
        // points at them.
        sync.barrier();
        self.base.write_u64(8 * l1 as usize, desc);
        sync.cpu_wrote(&self.base, 8 * l1 as usize, 8);
        self.l2.insert(l1, table);
        Ok(true)
    }

    /// Where the STE of `sid` is, if it exists in memory.
    pub fn slot(&self, sid: u32) -> Result<Option<SteSlot<'_, 'a>>, Smmuv3Error> {
        self.check(sid)?;
        Ok(match self.layout {
            StrtabLayout::Linear { .. } => Some(SteSlot {
                buf: &self.base,
                offset: sid as usize * STE_BYTES,
            }),
            StrtabLayout::TwoLevel { split, .. } => {
                self.l2.get(&(sid >> split)).map(|buf| SteSlot {
                    buf,
                    offset: (sid & ((1 << split) - 1)) as usize * STE_BYTES,
                })
            }
        })
    }

    /// Where the STE of `sid` is; an error if it does not exist in memory
    /// (call [`Self::ensure`] first).
    pub fn existing_slot(&self, sid: u32) -> Result<SteSlot<'_, 'a>, Smmuv3Error> {
        self.slot(sid)?.ok_or(Smmuv3Error::StreamIdOutOfRange {
            sid,
            table_bits: self.layout.sid_bits(),
        })
    }

    /// The STE of `sid` as in memory (abort when its L2 table does not exist
    /// yet, which is how the SMMU treats it too).
    pub fn read(&self, sid: u32) -> Result<Ste, Smmuv3Error> {
        Ok(match self.slot(sid)? {
            Some(s) => {
                let mut d = [0; STE_DWORDS];
                for (i, w) in d.iter_mut().enumerate() {
                    *w = s.buf.read_u64(s.offset + 8 * i);
                }
                Ste(d)
            }
            None => Ste::abort(),
        })
    }

    /// Number of level-2 tables of their own (the shared abort table not
    /// counted).
    pub fn l2_tables(&self) -> usize {
        self.l2.len()
    }

    /// Bus address of the shared level-2 table of abort STEs (two-level).
    pub fn shared_abort_table(&self) -> Option<crate::mm::BusAddr> {
        self.shared_abort.as_ref().map(|b| b.bus_addr())
    }
}

/// A level-1 descriptor for the level-2 table `table` of 2^`split` STEs:
/// L2Ptr `[51:6]`, SPAN = split + 1 (2^(SPAN−1) STEs; IHI 0070 §5.1).
fn l1_descriptor(table: &DmaBuf<'_>, split: u8) -> u64 {
    (table.bus_addr().as_u64() & (((1 << 52) - 1) & !0x3f)) | u64::from(split + 1)
}

fn fill_abort(buf: &DmaBuf<'_>, count: usize, sync: &DmaSync) {
    let abort = Ste::abort();
    for i in 0..count {
        buf.write_u64(i * STE_BYTES, abort.0[0]);
    }
    sync.cpu_wrote(buf, 0, count * STE_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::smmuv3::features::QEMU_VIRT_IDRS;

    fn qemu() -> Features {
        let [a, b, c, d] = QEMU_VIRT_IDRS;
        Features::from_idrs(a, b, c, d).unwrap()
    }

    #[test]
    fn layout_choice() {
        let f = qemu();
        assert_eq!(sid_bits_for(0), 1);
        assert_eq!(sid_bits_for(0x20), 6);
        assert_eq!(sid_bits_for(0xff), 8);
        // Every StreamID the SMMU supports (SIDSIZE 16), whatever the
        // largest one the run uses (issue 11 item 6).
        assert_eq!(
            choose_layout(&f, 0x20, StrtabChoice::Auto).unwrap(),
            StrtabLayout::TwoLevel {
                log2size: 16,
                split: 8
            }
        );
        assert_eq!(
            choose_layout(&f, 0x20, StrtabChoice::Linear).unwrap(),
            StrtabLayout::Linear { log2size: 12 }
        );
        assert_eq!(
            choose_layout(&f, 0xffff, StrtabChoice::Auto).unwrap(),
            StrtabLayout::TwoLevel {
                log2size: 16,
                split: 8
            }
        );
        assert_eq!(
            choose_layout(&f, 0x20, StrtabChoice::TwoLevel).unwrap(),
            StrtabLayout::TwoLevel {
                log2size: 16,
                split: 8
            }
        );
        assert!(matches!(
            choose_layout(&f, 0x1_0000, StrtabChoice::Auto),
            Err(Smmuv3Error::StreamIdOutOfRange {
                sid: 0x1_0000,
                table_bits: 16
            })
        ));
        let [a, b, c, d] = QEMU_VIRT_IDRS;
        let linear_only = Features::from_idrs(a & !(3 << 27), b, c, d).unwrap();
        assert!(matches!(
            choose_layout(&linear_only, 0x20, StrtabChoice::TwoLevel),
            Err(Smmuv3Error::Unsupported { .. })
        ));
        assert_eq!(
            choose_layout(&linear_only, 0xffff, StrtabChoice::Auto).unwrap(),
            StrtabLayout::Linear { log2size: 16 }
        );
        assert_eq!(
            choose_layout(&linear_only, 0x20, StrtabChoice::Auto).unwrap(),
            StrtabLayout::Linear { log2size: 12 }
        );
    }
}
