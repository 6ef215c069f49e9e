//! Device-tree discovery: what the boot loader's DTB says about the machine.
//!
//! Runs on target before the MMU and the heap exist, so nothing here
//! allocates: lists have fixed capacity ([`RegionList`]) and strings are
//! borrowed from the blob.  Any blob, however malformed, yields a
//! [`DtError`] naming the node, property and expectation, never a panic or
//! a hang (see [`reader`] for why we validate the blob ourselves instead of
//! relying on the `fdt` crate's node API).
//!
//! Usage on target: read 40 bytes at `x0`, call [`header_total_size`], build
//! the slice of that length, call [`discover`].
#![forbid(unsafe_code)]

pub mod address;
pub mod clocks;
pub mod console;
pub mod error;
pub mod iommus;
pub mod reader;
pub mod report;
pub mod tbus;

#[cfg(test)]
pub(crate) mod test_fdt;
#[cfg(test)]
pub(crate) mod tests;

pub use address::{node_reg, translate_address, translate_reg, Cells};
pub use console::{find_console, ConsoleKind, ConsoleNode};
pub use error::{DtError, DtName};
pub use reader::{header_total_size, Fdt, Located, Node, MAX_DEPTH, MAX_DTB_SIZE};

use crate::mm::addr::{PhysAddr, PhysRange};
use core::fmt;

/// Capacity of every [`RegionList`].
pub const MAX_REGIONS: usize = 32;

/// A fixed-capacity list of physical ranges.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RegionList {
    name: &'static str,
    items: [PhysRange; MAX_REGIONS],
    len: usize,
}

impl RegionList {
    /// An empty list; `name` appears in the overflow error.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            items: [PhysRange::new(PhysAddr(0), 0); MAX_REGIONS],
            len: 0,
        }
    }

    /// Appends `r`; [`DtError::ListFull`] naming the list when full.
    pub fn push(&mut self, r: PhysRange) -> Result<(), DtError> {
        let slot = self.items.get_mut(self.len).ok_or(DtError::ListFull {
            list: self.name,
            capacity: MAX_REGIONS,
        })?;
        *slot = r;
        self.len += 1;
        Ok(())
    }

    /// The ranges in insertion order.
    pub fn iter(&self) -> core::slice::Iter<'_, PhysRange> {
        self.as_slice().iter()
    }

    /// The ranges as a slice.
    pub fn as_slice(&self) -> &[PhysRange] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The list's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for RegionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How PSCI calls are made (`/psci` `method`, Linux binding
/// `arm/psci.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

/// Everything discovery found.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo<'a> {
    /// Where the blob is (the address passed in) and its `totalsize`.
    pub dtb: PhysRange,
    /// Root `model` (`""` when absent or malformed: cosmetic).
    pub model: &'a str,
    /// First root `compatible` string (`""` when absent or malformed).
    pub compatible: &'a str,
    /// Every `reg` entry of every enabled `device_type = "memory"` node
    /// (spec §3.4), translated; zero-sized entries skipped.
    pub memory: RegionList,
    /// `/memreserve/` entries (spec §5.3) and static `/reserved-memory`
    /// children (`reg`), translated; zero-sized entries skipped.
    pub reserved: RegionList,
    /// The subset of `reserved` from `/reserved-memory` children marked
    /// `no-map`.
    pub no_map: RegionList,
    /// Enabled `/reserved-memory` children without `reg` (dynamic: `size`,
    /// `alloc-ranges`): not placed by firmware, so ignored, but counted.
    pub dynamic_reserved: usize,
    /// The boot console; an error here does not fail discovery.
    pub console: Result<ConsoleNode<'a>, DtError>,
    /// `/chosen/bootargs` as bytes, up to its terminating NUL; empty when
    /// absent.  Not required to be UTF-8: [`crate::platform::bootargs`]
    /// judges it word by word, so one bad byte spoils only its own word.
    pub bootargs: &'a [u8],
    /// `/psci` `method`, `None` when there is no `/psci` node or no method.
    pub psci: Option<PsciConduit>,
}

/// Validates `dtb` (the blob at physical address `dtb_addr`) and reads what
/// the image needs from it.
pub fn discover<'a>(dtb: &'a [u8], dtb_addr: PhysAddr) -> Result<BootInfo<'a>, DtError> {
    let fdt = Fdt::parse(dtb)?;
    discover_fdt(&fdt, dtb_addr)
}

/// [`discover`] on an already validated blob: the first error of
/// [`discover_sections`], in the order memory, reserved memory, `/chosen`,
/// `/psci`.
pub fn discover_fdt<'a>(fdt: &Fdt<'a>, dtb_addr: PhysAddr) -> Result<BootInfo<'a>, DtError> {
    let (info, errors) = discover_sections(fdt, dtb_addr)?;
    match errors.first() {
        Some(e) => Err(e),
        None => Ok(info),
    }
}

/// Which sections of [`discover_sections`] failed, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionErrors {
    /// Memory nodes (including [`DtError::NoMemory`]).
    pub memory: Option<DtError>,
    /// `/memreserve/` and `/reserved-memory`.
    pub reserved: Option<DtError>,
    /// `/chosen`.  Nothing in it fails today (`bootargs` is read as
    /// bytes); kept so a future `/chosen` property has its section.
    pub chosen: Option<DtError>,
    /// `/psci`.
    pub psci: Option<DtError>,
}

impl SectionErrors {
    /// The first error in section order (what [`discover_fdt`] returns).
    pub fn first(&self) -> Option<DtError> {
        self.memory.or(self.reserved).or(self.chosen).or(self.psci)
    }
}

/// Discovery section by section: a failing section leaves its fields as
/// far as they got and is recorded in [`SectionErrors`] while the others
/// still run.  The image uses [`discover_fdt`] (any error stops the boot);
/// `cargo xtask dt-probe` uses this to show the whole picture, e.g. of a
/// Qualcomm DTB whose `/memory` ABL fills in only at boot (`docs/hw/board-facts.md`
/// §1.5).  Fails only when the root node cannot be read.
pub fn discover_sections<'a>(
    fdt: &Fdt<'a>,
    dtb_addr: PhysAddr,
) -> Result<(BootInfo<'a>, SectionErrors), DtError> {
    let root_loc = fdt.find("/")?;
    let root = root_loc.node();
    let model = root.prop_str("model").ok().flatten().unwrap_or("");
    let compatible = root.prop_strs("compatible").next().unwrap_or("");

    let mut info = BootInfo {
        dtb: PhysRange::new(dtb_addr, fdt.total_size() as u64),
        model,
        compatible,
        memory: RegionList::new("memory"),
        reserved: RegionList::new("reserved memory"),
        no_map: RegionList::new("no-map reserved memory"),
        dynamic_reserved: 0,
        console: Err(DtError::NoConsole),
        bootargs: &[],
        psci: None,
    };
    let errors = SectionErrors {
        memory: read_memory(&root_loc, &mut info).err(),
        reserved: read_reserved(fdt, &root_loc, &mut info).err(),
        chosen: read_chosen(&root_loc, &mut info).err(),
        psci: read_psci(&root_loc, &mut info).err(),
    };
    info.console = find_console(fdt);
    Ok((info, errors))
}

fn read_memory<'a>(root_loc: &Located<'a>, info: &mut BootInfo<'a>) -> Result<(), DtError> {
    let root = root_loc.node();
    // Memory (spec §3.4): root children with device_type = "memory".  Old
    // DTs omit device_type on `memory@...`; accept those by name.
    for child in root.children() {
        let memory = match child.prop_str("device_type")? {
            Some(t) => t == "memory",
            None => child.name() == "memory" || child.name().starts_with("memory@"),
        };
        if !memory || !child.is_enabled() {
            continue;
        }
        let loc = root_loc.with_child(child)?;
        for i in 0..address::reg_count(&loc, "reg")? {
            let r = translate_reg(&loc, i)?;
            if r.size != 0 {
                info.memory.push(r)?;
            }
        }
    }
    if info.memory.is_empty() {
        return Err(DtError::NoMemory);
    }
    Ok(())
}

fn read_reserved<'a>(
    fdt: &Fdt<'a>,
    root_loc: &Located<'a>,
    info: &mut BootInfo<'a>,
) -> Result<(), DtError> {
    let root = root_loc.node();
    for r in fdt.mem_reservations() {
        let (addr, size) = r?;
        if size != 0 {
            let range = PhysRange::new(PhysAddr(addr), size);
            if addr.checked_add(size).is_none() {
                return Err(DtError::AddressTooLarge {
                    node: DtName::new("/memreserve/"),
                    prop: "size",
                });
            }
            info.reserved.push(range)?;
        }
    }

    // Reserved memory: Linux binding `reserved-memory/reserved-memory.yaml`
    // (dtschema).  Static regions have `reg`; dynamic ones have `size` and
    // are placed by the OS, so nothing is there yet.
    if let Some(rm) = root.child("reserved-memory") {
        let rm_loc = root_loc.with_child(rm)?;
        for child in rm.children() {
            if !child.is_enabled() {
                continue;
            }
            let loc = rm_loc.with_child(child)?;
            let n = address::reg_count(&loc, "reg")?;
            if n == 0 {
                info.dynamic_reserved += 1;
                continue;
            }
            let no_map = child.has_property("no-map");
            for i in 0..n {
                let r = translate_reg(&loc, i)?;
                if r.size == 0 {
                    continue;
                }
                info.reserved.push(r)?;
                if no_map {
                    info.no_map.push(r)?;
                }
            }
        }
    }
    Ok(())
}

fn read_chosen<'a>(root_loc: &Located<'a>, info: &mut BootInfo<'a>) -> Result<(), DtError> {
    if let Some(chosen) = root_loc.node().child("chosen") {
        // Bytes, not `prop_str`: a non-UTF-8 byte must not lose the whole
        // command line (and with it `exit=semihosting`).
        info.bootargs = chosen
            .property("bootargs")
            .and_then(|p| p.value.split(|&b| b == 0).next())
            .unwrap_or(&[]);
    }
    Ok(())
}

fn read_psci<'a>(root_loc: &Located<'a>, info: &mut BootInfo<'a>) -> Result<(), DtError> {
    if let Some(psci) = root_loc.node().child("psci") {
        info.psci = match psci.prop_str("method")? {
            None => None,
            Some("hvc") => Some(PsciConduit::Hvc),
            Some("smc") => Some(PsciConduit::Smc),
            Some(_) => {
                return Err(DtError::BadValue {
                    node: root_loc.with_child(psci)?.path_name(),
                    prop: "method",
                    found: 0,
                    expected: "\"hvc\" or \"smc\" (arm/psci.yaml)",
                })
            }
        };
    }
    Ok(())
}
