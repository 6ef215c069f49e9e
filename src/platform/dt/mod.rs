//! PROVISIONAL device-tree discovery so the boot path can be brought up; the
//! full implementation (robust to hostile blobs, address translation through
//! `ranges`) lands from the `dt` branch and replaces this file.
#![forbid(unsafe_code)]

use crate::mm::{PhysAddr, PhysRange};
use core::fmt;

/// Capacity of a [`RegionList`].
pub const MAX_REGIONS: usize = 32;

/// A fixed-capacity list of ranges.
#[derive(Clone, Debug)]
pub struct RegionList {
    regions: [PhysRange; MAX_REGIONS],
    len: usize,
}

impl Default for RegionList {
    fn default() -> Self {
        Self {
            regions: [PhysRange::default(); MAX_REGIONS],
            len: 0,
        }
    }
}

impl RegionList {
    /// Appends a range.
    pub fn push(&mut self, r: PhysRange) -> Result<(), DtError> {
        let slot = self.regions.get_mut(self.len).ok_or(DtError::TooMany)?;
        *slot = r;
        self.len += 1;
        Ok(())
    }
    /// The ranges.
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.regions[..self.len]
    }
}

/// PSCI conduit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// HVC.
    Hvc,
    /// SMC.
    Smc,
}

/// Console kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleKind {
    /// PL011.
    Pl011,
    /// 16550 family.
    Ns16550,
    /// Something else.
    Unknown,
}

/// The console node.
#[derive(Clone, Debug)]
pub struct ConsoleNode<'a> {
    /// Node path or name.
    pub path: &'a str,
    /// First compatible.
    pub compatible: &'a str,
    /// Kind.
    pub kind: ConsoleKind,
    /// Registers.
    pub reg: PhysRange,
    /// reg-shift.
    pub reg_shift: u32,
    /// reg-io-width.
    pub reg_io_width: u32,
    /// Options after ':'.
    pub options: Option<&'a str>,
}

/// What discovery found.
#[derive(Clone, Debug)]
pub struct BootInfo<'a> {
    /// The blob.
    pub dtb: PhysRange,
    /// Root model.
    pub model: &'a str,
    /// Root compatible.
    pub compatible: &'a str,
    /// Memory.
    pub memory: RegionList,
    /// Reserved.
    pub reserved: RegionList,
    /// No-map subset.
    pub no_map: RegionList,
    /// Console.
    pub console: Result<ConsoleNode<'a>, DtError>,
    /// Bootargs.
    pub bootargs: &'a str,
    /// PSCI.
    pub psci: Option<PsciConduit>,
}

/// Discovery errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    /// Header bad.
    BadHeader,
    /// x0 is not a plausible DTB address.
    BadAddress {
        /// The address.
        addr: u64,
    },
    /// No memory.
    NoMemory,
    /// No console.
    NoConsole,
    /// List full.
    TooMany,
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Header totalsize.
pub fn header_total_size(b: &[u8]) -> Result<usize, DtError> {
    if b.len() < 8 || b[0..4] != [0xd0, 0x0d, 0xfe, 0xed] {
        return Err(DtError::BadHeader);
    }
    let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if !(40..=2 << 20).contains(&n) {
        return Err(DtError::BadHeader);
    }
    Ok(n)
}

/// Discovers (provisional).
pub fn discover(dtb: &[u8], dtb_addr: PhysAddr) -> Result<BootInfo<'_>, DtError> {
    let fdt = fdt::Fdt::new(dtb).map_err(|_| DtError::BadHeader)?;
    let mut memory = RegionList::default();
    for r in fdt.memory().regions() {
        memory.push(PhysRange::new(
            PhysAddr(r.starting_address as u64),
            r.size.unwrap_or(0) as u64,
        ))?;
    }
    if memory.as_slice().is_empty() {
        return Err(DtError::NoMemory);
    }
    let console = fdt
        .chosen()
        .stdout()
        .and_then(|n| {
            let r = n.reg()?.next()?;
            let compatible = n.compatible()?.first();
            let kind = if compatible == "arm,pl011" {
                ConsoleKind::Pl011
            } else {
                ConsoleKind::Unknown
            };
            Some(ConsoleNode {
                path: n.name,
                compatible,
                kind,
                reg: PhysRange::new(
                    PhysAddr(r.starting_address as u64),
                    r.size.unwrap_or(0x1000) as u64,
                ),
                reg_shift: 0,
                reg_io_width: 1,
                options: None,
            })
        })
        .ok_or(DtError::NoConsole);
    let psci = fdt
        .find_node("/psci")
        .and_then(|n| n.property("method"))
        .and_then(|p| p.as_str())
        .and_then(|m| match m {
            "hvc" => Some(PsciConduit::Hvc),
            "smc" => Some(PsciConduit::Smc),
            _ => None,
        });
    Ok(BootInfo {
        dtb: PhysRange::new(dtb_addr, dtb.len() as u64),
        model: fdt.root().model(),
        compatible: fdt.root().compatible().first(),
        memory,
        reserved: RegionList::default(),
        no_map: RegionList::default(),
        console,
        bootargs: fdt.chosen().bootargs().unwrap_or(""),
        psci,
    })
}
