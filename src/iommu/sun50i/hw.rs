//! The sun50i IOMMU hardware layer: enable sequence, the one TTB,
//! per-master bypass, the invalidation primitives with their busy polls,
//! the map-time neighbour zap, and fault latching and recovery.
//!
//! Sequences follow docs/hw/sun50i.md §7 and §8 (Linux
//! `drivers/iommu/sun50i-iommu.c` and the manuals' register pages); every
//! wait is bounded by the clock ([`poll_until`]) and fails with the
//! register and the value it last read.
#![forbid(unsafe_code)]

use super::regs::*;
use super::variant::Variant;
use crate::iommu::pgtable::sun50i::{ACI_DOMAINS, ADDRESS_LIMIT};
use crate::iommu::{IommuError, StreamId};
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use core::fmt;
use core::time::Duration;

/// How long one busy bit may stay set: Linux polls 2 ms
/// (`readl_poll_timeout_atomic(.., 1, 2000)`, docs/hw/sun50i.md §7).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(2);

/// Bytes of the register block the driver touches (up to the PMU, 0x36C).
pub const REG_SPAN: u64 = 0x400;

/// One page (the only page size, docs/hw/sun50i.md §4).
pub const PAGE: u32 = 0x1000;
/// One directory entry's span (the PTW cache's invalidation unit).
pub const DIR_SPAN: u32 = 0x10_0000;

/// What went wrong, naming the register and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sun50iError {
    /// A self-clearing busy bit stayed set.
    Busy {
        /// Register name.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// What it read last.
        value: u32,
    },
    /// The register block reads like nothing is there (unclocked, held in
    /// reset, or a wrong `reg`).
    DeadBlock {
        /// VERSION.
        version: u32,
        /// RESET.
        reset: u32,
        /// TLB_ENABLE.
        tlb_enable: u32,
    },
    /// A table base the TTB cannot hold: at or above 4 GiB, or not 16 KiB
    /// aligned (docs/hw/sun50i.md §3, §4.2).
    BadTtb {
        /// The bus address.
        root: u64,
    },
    /// The one TTB already serves translating masters with another table:
    /// it may only be rewritten while every master bypasses (§8).
    TtbInUse {
        /// TTB now.
        current: u32,
        /// The table asked for.
        wanted: u32,
        /// Masters translating through `current`.
        translating: u32,
    },
    /// A register did not take the value written.
    NotTaken {
        /// Register name.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// Written.
        wrote: u32,
        /// Read back.
        read: u32,
    },
    /// No such micro-TLB slot on this variant.
    NoSuchMaster {
        /// The master asked for.
        master: u32,
        /// Slots of the variant.
        masters: u8,
    },
}

impl fmt::Display for Sun50iError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy { reg, offset, value } => write!(
                f,
                "{reg} ({offset:#05x}) still busy after {} us: reads {value:#x}",
                BUSY_TIMEOUT.as_micros()
            ),
            Self::DeadBlock {
                version,
                reset,
                tlb_enable,
            } => write!(
                f,
                "registers read as a dead block (VERSION {version:#x}, RESET {reset:#x}, TLB_ENABLE {tlb_enable:#x}): clock gated, held in reset, or a wrong reg"
            ),
            Self::BadTtb { root } => write!(
                f,
                "level-1 table at {root:#x} cannot go in TTB (must be below 4 GiB and 16 KiB aligned)"
            ),
            Self::TtbInUse {
                current,
                wanted,
                translating,
            } => write!(
                f,
                "TTB {current:#x} serves masters {translating:#x}; {wanted:#x} may only be written while every master bypasses"
            ),
            Self::NotTaken {
                reg,
                offset,
                wrote,
                read,
            } => {
                write!(f, "{reg} (+{offset:#x}): wrote {wrote:#x}, reads {read:#x}")
            }
            Self::NoSuchMaster { master, masters } => {
                write!(f, "master {master}: this IOMMU has {masters} micro-TLB slots")
            }
        }
    }
}

impl From<Sun50iError> for IommuError {
    fn from(e: Sun50iError) -> Self {
        match e {
            Sun50iError::Busy { offset, value, .. } => IommuError::RegisterTimeout {
                offset,
                value: u64::from(value),
                mask: u64::from(value),
                expected: 0,
            },
            Sun50iError::NotTaken { wrote, .. } => IommuError::Unsupported {
                value: u64::from(wrote),
            },
            Sun50iError::DeadBlock { version, .. } => IommuError::Unsupported {
                value: u64::from(version),
            },
            Sun50iError::BadTtb { root } => IommuError::Unsupported { value: root },
            Sun50iError::TtbInUse { .. } => IommuError::NoFreeContext { contexts: 1 },
            Sun50iError::NoSuchMaster { master, .. } => IommuError::NoSuchStream {
                stream: StreamId(master),
            },
        }
    }
}

/// Driver bugs the host tests switch on to show a case catches each
/// (issue 12 "Done when"); all off in a real driver, and absent from the
/// image (`cfg(test)`).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// `sync_map` zaps nothing (no neighbour zap after a map, prefetch on).
    pub no_neighbour_zap: bool,
    /// Nothing invalidates the PTW cache: no PTW zap at map time and the
    /// full flush leaves bit 17 out, so a changed DTE stays cached.
    pub no_ptw_invalidation: bool,
    /// The full flush is started but its busy bit never polled.
    pub flush_without_poll: bool,
    /// Fault recovery as Linux did it before the 2022 fix
    /// (`sun50i_iommu_irq`: RESET ← ~INT_STA, then RESET ← INT_STA): the
    /// "release" store writes the status bits instead of all ones, so
    /// every lane that did not fault (and the global reset, bit 31) is
    /// left asserted, and a master that met an invalid entry (status bits
    /// 16/17, not its lane bit) is never pulsed.
    pub reset_other_lanes: bool,
    /// The permission domains written one domain per store, as Linux
    /// does: the second store to a register holding two domains replaces
    /// the first.
    pub domains_one_store_each: bool,
}

/// Everything a fault left latched, read in one go (docs/hw/sun50i.md §8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latched {
    /// INT_STA.
    pub status: u32,
    /// L1PG_INT.
    pub l1pg: u32,
    /// L2PG_INT.
    pub l2pg: u32,
    /// INT_ERR_ADDR_L1 / INT_ERR_DATA_L1.
    pub l1: (u32, u32),
    /// INT_ERR_ADDR_L2 / INT_ERR_DATA_L2.
    pub l2: (u32, u32),
    /// Per master: INT_ERR_ADDR(n) / INT_ERR_DATA(n) (valid where the
    /// status has the master's permission bit).
    pub perm: [(u32, u32); 7],
}

/// The hardware layer of one sun50i IOMMU.
pub struct Sun50iHw<M: Mmio> {
    regs: Regs<M>,
    variant: Variant,
    clock: &'static dyn Clock,
    /// Test-only driver bugs.
    #[cfg(test)]
    pub bugs: Bugs,
}

impl<M: Mmio> Sun50iHw<M> {
    /// The hardware layer over `regs`; nothing is written yet.
    pub fn new(regs: Regs<M>, variant: Variant, clock: &'static dyn Clock) -> Self {
        Self {
            regs,
            variant,
            clock,
            #[cfg(test)]
            bugs: Bugs::default(),
        }
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The registers.
    pub fn regs(&self) -> &Regs<M> {
        &self.regs
    }

    /// VERSION; refuses a block that reads as nothing (all ones, or all of
    /// VERSION, RESET and TLB_ENABLE zero — their reset values are not,
    /// docs/hw/sun50i.md §2).
    pub fn identify(&self) -> Result<u32, Sun50iError> {
        let version = self.regs.get(R_VERSION);
        let reset = self.regs.get(R_RESET);
        let tlb_enable = self.regs.get(R_TLB_ENABLE);
        let dead = (version == u32::MAX && reset == u32::MAX)
            || (version == 0 && reset == 0 && tlb_enable == 0);
        if dead {
            return Err(Sun50iError::DeadBlock {
                version,
                reset,
                tlb_enable,
            });
        }
        Ok(version)
    }

    /// Every RESET bit released (active low, docs/hw/sun50i.md §8).
    fn all_released(&self) -> u32 {
        (RESET::GLOBAL::SET + RESET::MACRO_TLB::SET + RESET::PTW_CACHE::SET).value
            | self.variant.master_mask()
    }

    /// The enable sequence (docs/hw/sun50i.md §8; Linux
    /// `sun50i_iommu_enable`): release every reset, every master bypassed
    /// and translation off while configuring, the permission domains the
    /// codec's ACIs select, every TLB on, prefetch on for every master (the
    /// map-time neighbour zap exists for it), interrupts masked (faults are
    /// polled), a full flush, clock auto-gating, then ENABLE with every
    /// master still bypassed: no master translates before it is attached,
    /// and TTB may be written while all bypass.
    pub fn enable(&mut self) -> Result<(), Sun50iError> {
        let masters = self.variant.master_mask();
        self.regs.set(R_RESET, self.all_released());
        self.regs.set(R_BYPASS, masters);
        self.regs.write(R_ENABLE, ENABLE::ENABLE::CLEAR);
        self.program_domains();
        self.regs.set(
            R_TLB_ENABLE,
            (TLB::MACRO_TLB::SET + TLB::PTW_CACHE::SET).value | masters,
        );
        self.regs.set(R_TLB_PREFETCH, masters);
        self.regs.set(R_INT_ENABLE, 0);
        self.regs.set(
            R_INT_CLR,
            (INT::L1_INVALID::SET + INT::L2_INVALID::SET).value | masters,
        );
        self.flush_all()?;
        self.regs.write(R_AUTO_GATING, AUTO_GATING::ENABLE::SET);
        self.regs.write(R_ENABLE, ENABLE::ENABLE::SET);
        let bypass = self.regs.get(R_BYPASS);
        if bypass & masters != masters {
            return Err(Sun50iError::NotTaken {
                reg: R_BYPASS.name,
                offset: R_BYPASS.offset,
                wrote: masters,
                read: bypass,
            });
        }
        Ok(())
    }

    /// DM_AUT_CTRL from the codec's [`ACI_DOMAINS`]: for every domain the
    /// codec uses, the read and write prohibit bits of every master.  Two
    /// domains share a register (§9), so each register's value is built
    /// whole and written in **one** store — Linux writes the register of
    /// domains 2 and 3 twice, and its second store clears the first's
    /// write-prohibit bits, leaving the read-only domain writable
    /// (docs/hw/sun50i.md §4.1).
    fn program_domains(&mut self) {
        let mut words = [None::<u32>; 8];
        for (aci, read, write) in ACI_DOMAINS {
            #[cfg(test)]
            if self.bugs.domains_one_store_each {
                words[usize::from(aci / 2)] = None;
            }
            let w = words[usize::from(aci / 2)].get_or_insert(0);
            for m in 0..self.variant.masters {
                if !read {
                    *w |= dm_aut_bit(aci, m, false);
                }
                if !write {
                    *w |= dm_aut_bit(aci, m, true);
                }
            }
            #[cfg(test)]
            if self.bugs.domains_one_store_each {
                let k = usize::from(aci / 2);
                self.regs.set(dm_aut_ctrl(k), words[k].unwrap_or(0));
            }
        }
        for (k, w) in words.iter().enumerate() {
            if let Some(w) = *w {
                self.regs.set(dm_aut_ctrl(k), w);
            }
        }
    }

    /// TTB now.
    pub fn ttb(&self) -> u32 {
        self.regs.get(R_TTB)
    }

    /// Masters translating now (BYPASS clear).
    pub fn translating(&self) -> u32 {
        !self.regs.get(R_BYPASS) & self.variant.master_mask()
    }

    /// Points the one TTB at `root`.  Written only while every master
    /// bypasses (docs/hw/sun50i.md §8); a changed table base is followed by
    /// a full flush so nothing of the old table stays cached.
    pub fn set_ttb(&mut self, root: u64) -> Result<(), Sun50iError> {
        if root >= ADDRESS_LIMIT || root & 0x3fff != 0 {
            return Err(Sun50iError::BadTtb { root });
        }
        let wanted = root as u32;
        let current = self.ttb();
        if current == wanted {
            return Ok(());
        }
        let translating = self.translating();
        if translating != 0 {
            return Err(Sun50iError::TtbInUse {
                current,
                wanted,
                translating,
            });
        }
        self.regs.write(R_TTB, TTB::BASE.val(wanted >> 14));
        let read = self.ttb();
        if read != wanted {
            return Err(Sun50iError::NotTaken {
                reg: R_TTB.name,
                offset: R_TTB.offset,
                wrote: wanted,
                read,
            });
        }
        self.flush_all()
    }

    /// Master `m` translates (`bypass` false) or passes untranslated.
    pub fn set_bypass(&mut self, m: u32, bypass: bool) -> Result<(), Sun50iError> {
        if m >= u32::from(self.variant.masters) {
            return Err(Sun50iError::NoSuchMaster {
                master: m,
                masters: self.variant.masters,
            });
        }
        let now = self.regs.get(R_BYPASS);
        let new = if bypass {
            now | 1 << m
        } else {
            now & !(1 << m)
        };
        self.regs.set(R_BYPASS, new);
        Ok(())
    }

    /// The VA debug port can be attached: documented on this variant
    /// (docs/hw/sun50i.md §1, §11; unconfirmed on H6).  The port has no
    /// BYPASS bit: it walks the one TTB whenever the CPU drives it.
    pub fn check_va_port(&self) -> Result<(), Sun50iError> {
        if self.variant.va_port == Some(true) {
            Ok(())
        } else {
            Err(Sun50iError::NoSuchMaster {
                master: super::va_port::VA_PORT_STREAM.0,
                masters: self.variant.masters,
            })
        }
    }

    fn wait_clear<R: tock_registers::RegisterLongName>(
        &self,
        reg: Reg<R>,
        what: &'static str,
    ) -> Result<(), Sun50iError> {
        let mut value = 0;
        poll_until(self.clock, BUSY_TIMEOUT, what, || {
            value = self.regs.get(reg);
            value == 0
        })
        .map_err(|_| Sun50iError::Busy {
            reg: reg.name,
            offset: reg.offset,
            value,
        })
    }

    /// The full flush (docs/hw/sun50i.md §6, §7; Linux
    /// `sun50i_iommu_flush_all_tlb`): every micro TLB of the variant (0x7F
    /// on H616, where Linux's 0x3F misses master 6), the macro TLB and the
    /// PTW cache; then wait for TLB_FLUSH_ENABLE to read 0.
    pub fn flush_all(&mut self) -> Result<(), Sun50iError> {
        let mut bits = (TLB::MACRO_TLB::SET + TLB::PTW_CACHE::SET).value;
        #[cfg(test)]
        if self.bugs.no_ptw_invalidation {
            bits &= !TLB::PTW_CACHE::SET.value;
        }
        bits |= self.variant.master_mask();
        self.regs.set(R_TLB_FLUSH, bits);
        #[cfg(test)]
        if self.bugs.flush_without_poll {
            return Ok(());
        }
        self.wait_clear(R_TLB_FLUSH, "sun50i TLB_FLUSH_ENABLE")
    }

    /// Drops `iova`'s page from every micro TLB and the macro TLB
    /// (address + mask 0xFFFF_F000: one page) and waits (§6).
    pub fn zap_tlb(&mut self, iova: u32) -> Result<(), Sun50iError> {
        self.regs.set(R_TLB_IVLD_ADDR, iova & !(PAGE - 1));
        self.regs.set(R_TLB_IVLD_ADDR_MASK, !(PAGE - 1));
        self.regs.write(R_TLB_IVLD_ENABLE, START::START::SET);
        self.wait_clear(R_TLB_IVLD_ENABLE, "sun50i TLB_IVLD_ENABLE")
    }

    /// Drops the PTW-cache entry (directory entry) of `iova`'s 1 MiB slot
    /// and waits (§6).
    pub fn zap_ptw(&mut self, iova: u32) -> Result<(), Sun50iError> {
        #[cfg(test)]
        if self.bugs.no_ptw_invalidation {
            return Ok(());
        }
        self.regs.set(R_PC_IVLD_ADDR, iova & !(DIR_SPAN - 1));
        self.regs.write(R_PC_IVLD_ENABLE, START::START::SET);
        self.wait_clear(R_PC_IVLD_ENABLE, "sun50i PC_IVLD_ENABLE")
    }

    /// The map-time zap (docs/hw/sun50i.md §7; Linux
    /// `sun50i_iommu_zap_range`, commit e563cc0c): the hardware prefetches
    /// the next page and the next directory entry — invalid ones too on
    /// H6/H616, which lack the "valid only" bits (§5) — so a fresh mapping
    /// may sit behind a cached invalid entry.  With clock auto-gating off:
    /// TLB at iova and iova + 4 KiB (and at iova + size and 4 KiB after it
    /// when size > 4 KiB); PTW cache at iova and iova + 1 MiB (and at
    /// iova + size and 1 MiB after it when size > 1 MiB).  Addresses wrap
    /// at 32 bits like the registers.  Returns the commands issued.
    pub fn zap_range(&mut self, iova: u32, size: u32) -> Result<u64, Sun50iError> {
        #[cfg(test)]
        if self.bugs.no_neighbour_zap {
            return Ok(0);
        }
        self.regs.write(R_AUTO_GATING, AUTO_GATING::ENABLE::CLEAR);
        let r = self.zap_range_gated(iova, size);
        self.regs.write(R_AUTO_GATING, AUTO_GATING::ENABLE::SET);
        r
    }

    fn zap_range_gated(&mut self, iova: u32, size: u32) -> Result<u64, Sun50iError> {
        let mut n = 0;
        let mut tlb = |hw: &mut Self, a: u32| {
            n += 1;
            hw.zap_tlb(a)
        };
        tlb(self, iova)?;
        tlb(self, iova.wrapping_add(PAGE))?;
        if size > PAGE {
            tlb(self, iova.wrapping_add(size))?;
            tlb(self, iova.wrapping_add(size).wrapping_add(PAGE))?;
        }
        self.zap_ptw(iova)?;
        self.zap_ptw(iova.wrapping_add(DIR_SPAN))?;
        n += 2;
        if size > DIR_SPAN {
            self.zap_ptw(iova.wrapping_add(size))?;
            self.zap_ptw(iova.wrapping_add(size).wrapping_add(DIR_SPAN))?;
            n += 2;
        }
        Ok(n)
    }

    /// Turns the PMU counters on and clears them (docs/hw/sun50i.md §12,
    /// the vendor sequence: PMU_ENABLE ← 1, PMU_CLR ← 1, poll PMU_CLR
    /// until 0), then checks that PMU_ENABLE reads 1.  The counters are
    /// evidence only: a failure here is reported, never fatal.
    pub fn start_pmu(&mut self) -> Result<(), Sun50iError> {
        self.regs.set(R_PMU_ENABLE, 1);
        self.regs.set(R_PMU_CLR, 1);
        self.wait_clear(R_PMU_CLR, "sun50i PMU_CLR")?;
        let read = self.regs.get(R_PMU_ENABLE);
        if read & 1 == 0 {
            return Err(Sun50iError::NotTaken {
                reg: R_PMU_ENABLE.name,
                offset: R_PMU_ENABLE.offset,
                wrote: 1,
                read,
            });
        }
        Ok(())
    }

    /// Every PMU counter of the variant and PMU_ENABLE, now.
    pub fn pmu_reading(&self) -> super::pmu::Reading {
        super::pmu::read(&self.regs, self.variant.masters)
    }

    /// Reads every fault register (INT_STA first); `None` when nothing is
    /// latched.
    pub fn latched(&self) -> Option<Latched> {
        let status = self.regs.get(R_INT_STA);
        if status == 0 {
            return None;
        }
        let mut l = Latched {
            status,
            l1pg: self.regs.get(R_L1PG_INT),
            l2pg: self.regs.get(R_L2PG_INT),
            l1: (
                self.regs.get(R_INT_ERR_ADDR_L1),
                self.regs.get(R_INT_ERR_DATA_L1),
            ),
            l2: (
                self.regs.get(R_INT_ERR_ADDR_L2),
                self.regs.get(R_INT_ERR_DATA_L2),
            ),
            perm: [(0, 0); 7],
        };
        for m in 0..usize::from(self.variant.masters) {
            if status & 1 << m != 0 {
                l.perm[m] = (
                    self.regs.get(int_err_addr(m)),
                    self.regs.get(int_err_data(m)),
                );
            }
        }
        Some(l)
    }

    /// Recovery after faults (docs/hw/sun50i.md §7, §8; Linux
    /// `sun50i_iommu_irq` with the 2022 fix): clear the status, pulse the
    /// micro-TLB lane reset of exactly the masters that faulted (active
    /// low: RESET ← ~lanes, then every bit released), and zap each faulting
    /// IOVA like a map so a prefetched invalid entry does not fault again.
    /// Returns the lanes reset.
    pub fn recover(&mut self, l: &Latched) -> Result<u32, Sun50iError> {
        let masters = self.variant.master_mask();
        self.regs.set(R_INT_CLR, l.status);
        let lanes = (l.status | l.l1pg | l.l2pg) & masters;
        #[cfg(test)]
        if self.bugs.reset_other_lanes {
            self.regs.set(R_RESET, !l.status);
            self.regs.set(R_RESET, l.status);
            return Ok(lanes);
        }
        if lanes != 0 {
            self.regs.set(R_RESET, self.all_released() & !lanes);
            self.regs.set(R_RESET, self.all_released());
        }
        let int = |f: tock_registers::fields::Field<u32, INT::Register>| f.mask << f.shift;
        if l.status & int(INT::L1_INVALID) != 0 {
            self.zap_range(l.l1.0, PAGE)?;
        }
        if l.status & int(INT::L2_INVALID) != 0 {
            self.zap_range(l.l2.0, PAGE)?;
        }
        for m in 0..usize::from(self.variant.masters) {
            if l.status & 1 << m != 0 {
                self.zap_range(l.perm[m].0, PAGE)?;
            }
        }
        Ok(lanes)
    }
}
