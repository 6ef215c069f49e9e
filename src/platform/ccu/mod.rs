//! Clock-control units: the bus-clock gates and reset lines a device's
//! `clocks`/`resets` name, turned on through the CCU's registers when the
//! loader left them off.  A platform service (below `dma` and `iommu`), so
//! an IOMMU and, later, a DMA master behind it can both use it.
//!
//! Only what a table here lists is touched: a bit with a known register
//! and meaning.  A provider or index without an entry is reported and left
//! to the loader.  Tables: [`sun50i`] (Allwinner H6, H616/H618;
//! docs/hw/sun50i.md §16).
#![forbid(unsafe_code)]

pub mod sun50i;

use crate::mm::addr::PhysRange;
use crate::mmio::Mmio;
use crate::platform::dt::clocks::{ProviderRef, RefKind};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One `clocks`/`resets` reference, owned (the plan outlives the blob's
/// borrow): which provider, which index, which name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlRef {
    /// Clock or reset.
    pub kind: RefKind,
    /// The provider's node name.
    pub provider: String,
    /// The provider's first `compatible`.
    pub compatible: String,
    /// The provider's first `reg`, translated.
    pub reg: Option<PhysRange>,
    /// The first argument cell (the binding header's index).
    pub index: Option<u32>,
    /// `clock-names` / `reset-names` entry.
    pub name: Option<String>,
}

impl From<&ProviderRef<'_>> for ControlRef {
    fn from(r: &ProviderRef<'_>) -> Self {
        ControlRef {
            kind: r.kind,
            provider: String::from(r.provider),
            compatible: String::from(r.compatible),
            reg: r.reg,
            index: r.index(),
            name: r.name.map(String::from),
        }
    }
}

/// One bit of a CCU register: a bus-clock gate (1 = ungated) or a reset
/// (1 = deasserted; sunxi resets are active low).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// Gate or reset.
    pub kind: RefKind,
    /// Index in the SoC's binding header.
    pub index: u32,
    /// The header's name (`CLK_BUS_IOMMU`).
    pub name: &'static str,
    /// Register offset from the CCU base.
    pub offset: usize,
    /// The bit.
    pub bit: u8,
}

impl Line {
    fn mask(&self) -> u32 {
        1 << self.bit
    }

    /// `true` when ungated (clock) or deasserted (reset).
    pub fn is_on<M: Mmio>(&self, ccu: &M) -> bool {
        ccu.read32(self.offset) & self.mask() != 0
    }

    /// Sets the bit (read-modify-write: the register holds other lines)
    /// and reads it back.
    pub fn turn_on<M: Mmio>(&self, ccu: &M) -> Outcome {
        let before = ccu.read32(self.offset);
        if before & self.mask() != 0 {
            return Outcome::AlreadyOn(*self);
        }
        ccu.write32(self.offset, before | self.mask());
        let after = ccu.read32(self.offset);
        if after & self.mask() != 0 {
            Outcome::TurnedOn(*self)
        } else {
            Outcome::Stuck(*self, after)
        }
    }

    /// "gated"/"ungated", "asserted"/"deasserted".
    pub fn state_word(&self, on: bool) -> &'static str {
        match (self.kind, on) {
            (RefKind::Clock, true) => "ungated",
            (RefKind::Clock, false) => "gated",
            (RefKind::Reset, true) => "deasserted",
            (RefKind::Reset, false) => "asserted",
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, +{:#05x} bit {})",
            self.name, self.index, self.offset, self.bit
        )
    }
}

/// What happened to one reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The loader left it on; not written.
    AlreadyOn(Line),
    /// It was off; the image turned it on and it reads back on.
    TurnedOn(Line),
    /// Written on, but reads back off (the register value).
    Stuck(Line, u32),
    /// The table has no such index: left to the loader.
    Unknown(RefKind, Option<u32>),
}

impl Outcome {
    /// `true` unless the line is known to be off (stuck).  Unknown lines
    /// count as on: they are the loader's.
    pub fn is_on(&self) -> bool {
        !matches!(self, Outcome::Stuck(..))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AlreadyOn(l) => write!(f, "{l} already {}", l.state_word(true)),
            Outcome::TurnedOn(l) => write!(
                f,
                "{l} was {}: {} by the image",
                l.state_word(false),
                l.state_word(true)
            ),
            Outcome::Stuck(l, v) => write!(
                f,
                "{l} was {}: written, still reads {} (register {v:#x})",
                l.state_word(false),
                l.state_word(false)
            ),
            Outcome::Unknown(k, i) => {
                let what = match k {
                    RefKind::Clock => "clock",
                    RefKind::Reset => "reset",
                };
                match i {
                    Some(i) => write!(
                        f,
                        "{what} {i}: not in this image's table, left to the loader"
                    ),
                    None => write!(f, "{what} without an index: left to the loader"),
                }
            }
        }
    }
}

/// Turns on every reference of `refs` that `table` knows, resets first,
/// then clocks (as Linux `sun50i_iommu_enable`: `reset_control_deassert`,
/// then `clk_prepare_enable`).  Each outcome, in that order.
pub fn turn_on<M: Mmio>(ccu: &M, table: &sun50i::Ccu, refs: &[&ControlRef]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for kind in [RefKind::Reset, RefKind::Clock] {
        for r in refs.iter().filter(|r| r.kind == kind) {
            out.push(match r.index.and_then(|i| table.line(kind, i)) {
                Some(l) => l.turn_on(ccu),
                None => Outcome::Unknown(kind, r.index),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
