//! ECAM config-space accessor (PCIe Base Spec §7.2.2: each function's 4 KiB
//! of config space at `base + (bus << 20 | dev << 15 | func << 12)`, relative
//! to the first bus of `bus-range`).
#![forbid(unsafe_code)]

use super::config::Bdf;
use crate::mmio::Mmio;

/// An ECAM window covering buses `first_bus..=last_bus`.
pub struct Ecam<M: Mmio> {
    regs: M,
    first_bus: u8,
    last_bus: u8,
}

impl<M: Mmio> Ecam<M> {
    /// Wraps the mapped ECAM window of a host bridge.
    pub fn new(regs: M, first_bus: u8, last_bus: u8) -> Self {
        Self {
            regs,
            first_bus,
            last_bus: last_bus.max(first_bus),
        }
    }

    /// Buses this window covers.
    pub fn buses(&self) -> core::ops::RangeInclusive<u8> {
        self.first_bus..=self.last_bus
    }

    fn offset(&self, bdf: Bdf, reg: usize) -> Option<usize> {
        if !self.buses().contains(&bdf.bus) || reg >= 4096 {
            return None;
        }
        let bus = usize::from(bdf.bus - self.first_bus);
        Some(bus << 20 | usize::from(bdf.dev) << 15 | usize::from(bdf.func) << 12 | (reg & !3))
    }

    /// 32-bit config read; all-ones (what an absent function returns) when
    /// the address is outside this window.
    pub fn read32(&self, bdf: Bdf, reg: usize) -> u32 {
        match self.offset(bdf, reg) {
            Some(off) => self.regs.read32(off),
            None => u32::MAX,
        }
    }

    /// 32-bit config write; ignored outside this window.
    pub fn write32(&self, bdf: Bdf, reg: usize, val: u32) {
        if let Some(off) = self.offset(bdf, reg) {
            self.regs.write32(off, val);
        }
    }

    /// The 16-bit half of a dword selected by `reg & 2`.
    pub fn read16(&self, bdf: Bdf, reg: usize) -> u16 {
        (self.read32(bdf, reg) >> ((reg & 2) * 8)) as u16
    }

    /// The register block, for tests that inspect a model.
    pub fn regs(&self) -> &M {
        &self.regs
    }
}
