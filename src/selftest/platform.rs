//! The platform group: did the image boot the way the boot protocol and the
//! device tree say it should?  Every case checks measured facts and can fail.
//!
//! The boot code gathers the facts (entry EL, relocation probe, DT results,
//! MMU probes) into [`PlatformFacts`]; the cases only judge them, so they are
//! tested on the host with hand-made facts.
#![forbid(unsafe_code)]

use super::runner::{Case, Group, Report};
use crate::dma::EduOpenError;
use crate::mm::dma_pool::DmaPool;
use crate::mm::{PhysAddr, PhysRange};
use crate::platform::bootargs::{Bootargs, MAX_LISTED};
use crate::platform::pci::{EnumerationError, HostError};
use crate::virtio::VirtioError;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// An address-translation probe of the CPU MMU (`AT S1E1R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtProbe {
    /// What was probed (for the diagnostics).
    pub what: &'static str,
    /// The virtual address probed.
    pub va: u64,
    /// PAR_EL1.F: the walk faulted.
    pub faulted: bool,
    /// Output address (page aligned).
    pub pa: u64,
    /// MAIR attribute byte of the mapping.
    pub attr: u8,
    /// The attribute byte the identity map should have used.
    pub expected_attr: u8,
}

/// Facts about the CPU MMU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MmuFacts {
    /// SCTLR_EL1 after enabling.
    pub sctlr: u64,
    /// Mappings that could not be made, as text.
    pub mapping_errors: Vec<String>,
    /// AT probes of normal and device addresses.
    pub probes: Vec<AtProbe>,
    /// Table pages the identity map uses.
    pub tables_used: usize,
}

/// Facts about the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleFacts {
    /// Description of the console node (path, compatible, base), or the
    /// discovery error.
    pub found: Result<String, String>,
    /// A driver of ours drives it.
    pub supported: bool,
    /// A status register read through the device mapping (value), if done.
    pub status_read: Option<u32>,
}

impl Default for ConsoleFacts {
    fn default() -> Self {
        Self {
            found: Err(String::from("not discovered")),
            supported: false,
            status_read: None,
        }
    }
}

/// Why a PCI function the image drives did not probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionProbeError {
    /// An edu did not open.
    Edu(EduOpenError),
    /// A virtio function's capabilities describe no usable structures.
    Virtio(VirtioError),
}

impl fmt::Display for FunctionProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Edu(e) => write!(f, "{e}"),
            Self::Virtio(e) => write!(f, "{e}"),
        }
    }
}

/// One PCI function as enumerated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunctionFacts {
    /// `bb:dd.f vvvv:dddd class cccccc` and its BARs, for the diagnostics.
    pub desc: String,
    /// For devices we drive (edu, virtio): what the probe found, `Err`
    /// with why it failed.
    pub probe: Option<Result<String, FunctionProbeError>>,
}

/// One host bridge as enumerated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciHostFacts {
    /// Node path and ECAM window.
    pub desc: String,
    /// Functions below the host bridge (depth-first), or why enumeration
    /// failed.
    pub functions: Result<Vec<PciFunctionFacts>, EnumerationError>,
}

/// What the bootargs parser made of the command line, as text for the
/// `bootargs` case (built after the heap exists; the parser has none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootargsFacts {
    /// Words of ours that were not applied, each with the reason and the
    /// accepted values; a last entry counts those past the list's capacity.
    pub rejected: Vec<String>,
    /// Words that are not ours (a loader's own), escaped; a last entry
    /// counts those past the list's capacity.
    pub ignored: Vec<String>,
    /// Words applied but not exactly as written, or replacing an earlier
    /// one; a last entry counts those past the list's capacity.
    pub notes: Vec<String>,
}

impl BootargsFacts {
    /// The text of every list of `args`, with no silent truncation.
    pub fn from_args(args: &Bootargs<'_>) -> Self {
        fn more(v: &mut Vec<String>, unlisted: usize) {
            if unlisted > 0 {
                v.push(format!(
                    "... and {unlisted} more (only the first {MAX_LISTED} are listed)"
                ));
            }
        }
        let mut f = BootargsFacts {
            rejected: args.rejected().iter().map(|r| r.to_string()).collect(),
            ignored: args.ignored().iter().map(|w| w.to_string()).collect(),
            notes: args.notes().iter().map(|n| n.to_string()).collect(),
        };
        more(&mut f.rejected, args.rejected().unlisted());
        more(&mut f.ignored, args.ignored().unlisted());
        more(&mut f.notes, args.notes().unlisted());
        f
    }
}

/// Everything the platform cases judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformFacts {
    /// EL at entry (from CurrentEL in boot.S).
    pub entry_el: u8,
    /// HCR_EL2.E2H was set at entry (VHE host mode, as m1n1 leaves Apple cores).
    pub entry_e2h: bool,
    /// EL the image runs at now.
    pub current_el: u8,
    /// Where the loader put the image.
    pub load_base: PhysAddr,
    /// image_size from the header (bytes reserved for the image).
    pub image_size: u64,
    /// Relative relocations `boot.S` applied (RELA and RELR).
    pub relocs_total: u64,
    /// Relocation entries of another type (cannot be applied: a link bug).
    pub relocs_unknown: u64,
    /// A pointer stored in relocated data, as read at run time.
    pub reloc_probe_stored: u64,
    /// The same object's address computed PC-relatively.
    pub reloc_probe_actual: u64,
    /// Relocations the image holds, counted from its sections by Rust
    /// ([`super::relr::count`] plus the RELA entries), independently of
    /// `boot.S`'s own count.
    pub relocs_expected: u64,
    /// Where the DTB is.
    pub dtb: PhysRange,
    /// `/memory` ranges.
    pub memory: Vec<PhysRange>,
    /// `/memreserve/` and `/reserved-memory` ranges.
    pub reserved: Vec<PhysRange>,
    /// The `no-map` subset of `reserved`.
    pub no_map: Vec<PhysRange>,
    /// The console.
    pub console: ConsoleFacts,
    /// The CPU MMU.
    pub mmu: MmuFacts,
    /// Heap and DMA pool ranges, or why there are none.
    pub memory_plan: Option<(PhysRange, PhysRange)>,
    /// `iommu_bringup.inject=fail-one` was given.
    pub inject_fail_one: bool,
    /// What the bootargs parser made of `/chosen/bootargs`.
    pub bootargs: BootargsFacts,
    /// PCIe host bridges from the DT (`Err`: the DT description is broken).
    pub pci: Result<Vec<PciHostFacts>, HostError>,
}

/// The context the platform cases run in.
pub struct PlatformCtx<'a> {
    /// Measured facts.
    pub facts: PlatformFacts,
    /// The DMA pool, when one could be created.
    pub pool: Option<&'a DmaPool>,
    /// Heap usage (allocated bytes, total bytes), when the platform knows it.
    pub heap_stats: Option<fn() -> (usize, usize)>,
}

/// The platform group, with the injected failure when asked for.
pub fn group<'a>(inject_fail_one: bool) -> Group<PlatformCtx<'a>> {
    let mut cases: Vec<Case<PlatformCtx<'a>>> = alloc::vec![
        Case {
            name: "boot_entry_el",
            needs: &[],
            run: boot_entry_el
        },
        Case {
            name: "bootargs",
            needs: &[],
            run: bootargs
        },
        Case {
            name: "relocation_applied",
            needs: &[],
            run: relocation_applied
        },
        Case {
            name: "dt_memory",
            needs: &[],
            run: dt_memory
        },
        Case {
            name: "dt_console",
            needs: &[],
            run: dt_console
        },
        Case {
            name: "mmu_identity_map",
            needs: &[],
            run: mmu_identity_map
        },
        Case {
            name: "heap_and_dma_pool",
            needs: &[],
            run: heap_and_dma_pool
        },
        Case {
            name: "pcie_enumeration",
            needs: &[],
            run: pcie_enumeration
        },
    ];
    if inject_fail_one {
        cases.push(Case {
            name: "injected_failure",
            needs: &[],
            run: injected_failure,
        });
    }
    Group {
        after_each: None,
        unmet: None,
        name: String::from("platform"),
        cases,
    }
}

fn boot_entry_el(ctx: &mut PlatformCtx<'_>) -> Report {
    let f = &ctx.facts;
    let mut r = Report::new();
    r.note(format_args!(
        "entered at EL{}, running at EL{}",
        f.entry_el, f.current_el
    ));
    if f.entry_e2h {
        r.note(format_args!(
            "HCR_EL2.E2H=1 at entry (VHE): EL1 registers were set through their *_EL12 aliases"
        ));
    }
    r.check(
        f.entry_el == 1 || f.entry_el == 2,
        format_args!(
            "boot protocol requires entry at EL1 or EL2, saw EL{}",
            f.entry_el
        ),
    );
    r.check(
        f.current_el == 1,
        format_args!(
            "the image runs at EL1 after entry, but CurrentEL says EL{}",
            f.current_el
        ),
    );
    r
}

/// Every `iommu_bringup.*` word must have been applied: a misspelt value
/// (`inject=skip_sync`) would otherwise turn the run asked for into another
/// one that passes.  Words that are not ours are listed, never judged.
fn bootargs(ctx: &mut PlatformCtx<'_>) -> Report {
    let b = &ctx.facts.bootargs;
    let mut r = Report::new();
    if !b.ignored.is_empty() {
        r.note(format_args!(
            "not iommu_bringup.* words, left to whoever else reads them: {}",
            b.ignored.join(" ")
        ));
    }
    for n in &b.notes {
        r.note(format_args!("{n}"));
    }
    for x in &b.rejected {
        r.fail(format_args!("rejected {x}"));
    }
    r
}

fn relocation_applied(ctx: &mut PlatformCtx<'_>) -> Report {
    let f = &ctx.facts;
    let mut r = Report::new();
    r.note(format_args!(
        "image loaded at {:#x}, image_size {:#x}, {} relocations",
        f.load_base.as_u64(),
        f.image_size,
        f.relocs_total
    ));
    r.check(
        f.relocs_unknown == 0,
        format_args!(
            "{} relocation entries are not R_AARCH64_RELATIVE",
            f.relocs_unknown
        ),
    );
    r.check(
        f.relocs_total > 0,
        format_args!("no relocations found: the probe below cannot be trusted"),
    );
    r.check(
        f.relocs_total == f.relocs_expected,
        format_args!(
            "boot.S applied {} relocations but the image's .rela.dyn and .relr.dyn hold {}: some pointers were not relocated",
            f.relocs_total, f.relocs_expected
        ),
    );
    r.check(
        f.reloc_probe_stored == f.reloc_probe_actual,
        format_args!(
            "pointer in relocated data is {:#x} but the object is at {:#x} (load base {:#x})",
            f.reloc_probe_stored,
            f.reloc_probe_actual,
            f.load_base.as_u64()
        ),
    );
    r.check(
        f.load_base.is_aligned(2 << 20),
        format_args!(
            "load base {:#x} is not 2 MiB aligned (text_offset is 0)",
            f.load_base.as_u64()
        ),
    );
    r
}

fn dt_memory(ctx: &mut PlatformCtx<'_>) -> Report {
    let f = &ctx.facts;
    let mut r = Report::new();
    for m in &f.memory {
        r.note(format_args!("memory {m} ({} MiB)", m.size >> 20));
    }
    r.note(format_args!("DTB {}", f.dtb));
    for m in &f.reserved {
        let tag = if f.no_map.contains(m) { " no-map" } else { "" };
        r.note(format_args!("reserved {m}{tag}"));
    }
    r.check(
        !f.memory.is_empty(),
        format_args!("no /memory ranges in the device tree"),
    );
    let image = PhysRange::new(f.load_base, f.image_size);
    r.check(
        crate::mm::layout::covered_by(image, &f.memory),
        format_args!("image {image} is not inside /memory"),
    );
    if let Some(o) = crate::mm::layout::first_overlap(image, &f.reserved) {
        r.fail(format_args!("image {image} overlaps reserved memory {o}"));
    }
    match f.memory_plan {
        Some((heap, pool)) => {
            for (what, range) in [("heap", heap), ("DMA pool", pool)] {
                r.note(format_args!("{what} {range}"));
                r.check(
                    crate::mm::layout::covered_by(range, &f.memory),
                    format_args!("{what} {range} is outside /memory"),
                );
                for avoid in f.reserved.iter().chain([&image, &f.dtb]) {
                    r.check(
                        !range.overlaps(avoid),
                        format_args!("{what} {range} overlaps {avoid}"),
                    );
                }
            }
        }
        None => r.fail(format_args!(
            "no heap/DMA pool could be carved from free RAM"
        )),
    }
    r
}

fn dt_console(ctx: &mut PlatformCtx<'_>) -> Report {
    let c = &ctx.facts.console;
    let mut r = Report::new();
    match &c.found {
        Ok(desc) => {
            r.note(format_args!("console {desc}"));
            r.check(c.supported, format_args!("no driver for this console"));
        }
        Err(e) => r.fail(format_args!("console not found: {e}")),
    }
    r
}

fn mmu_identity_map(ctx: &mut PlatformCtx<'_>) -> Report {
    let m = &ctx.facts.mmu;
    let mut r = Report::new();
    r.note(format_args!(
        "SCTLR_EL1 {:#x}, {} table pages",
        m.sctlr, m.tables_used
    ));
    for (bit, name) in [(0, "M"), (2, "C"), (12, "I")] {
        r.check(
            m.sctlr & (1 << bit) != 0,
            format_args!("SCTLR_EL1.{name} is clear"),
        );
    }
    for e in &m.mapping_errors {
        r.fail(format_args!("mapping failed: {e}"));
    }
    r.check(
        m.probes.len() >= 2,
        format_args!("fewer than two AT probes were made"),
    );
    for p in &m.probes {
        if p.faulted {
            r.fail(format_args!(
                "AT S1E1R {} {:#x}: translation fault",
                p.what, p.va
            ));
            continue;
        }
        r.check(
            p.pa == p.va & !0xfff,
            format_args!(
                "{} {:#x} translates to {:#x}, not identity",
                p.what, p.va, p.pa
            ),
        );
        r.check(
            p.attr == p.expected_attr,
            format_args!(
                "{} {:#x} has MAIR attribute {:#04x}, expected {:#04x}",
                p.what, p.va, p.attr, p.expected_attr
            ),
        );
    }
    if let Some(v) = ctx.facts.console.status_read {
        r.note(format_args!(
            "console status register read {v:#x} through Device-nGnRE"
        ));
    }
    // Write and read back through cacheable memory.
    let mut buf = alloc::vec![0u64; 4096];
    for (i, w) in buf.iter_mut().enumerate() {
        *w = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let bad = buf
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            core::hint::black_box(**w) != (*i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        })
        .count();
    r.check(
        bad == 0,
        format_args!("{bad} of 4096 words read back wrong from cacheable memory"),
    );
    r
}

fn heap_and_dma_pool(ctx: &mut PlatformCtx<'_>) -> Report {
    let mut r = Report::new();
    if let Some(stats) = ctx.heap_stats {
        // Measure first, report after: the report's own notes allocate.
        let (before, total) = stats();
        let v: Vec<u8> = alloc::vec![0xa5; 256 * 1024];
        let (during, _) = stats();
        let held = v.iter().all(|&b| b == 0xa5);
        let len = v.len();
        drop(v);
        let (after, _) = stats();
        r.note(format_args!(
            "heap {total} bytes, {before} in use before the check"
        ));
        r.check(
            during >= before + len,
            format_args!("heap use went from {before} to {during} after a {len} byte allocation"),
        );
        r.check(held, format_args!("heap buffer did not hold its pattern"));
        r.check(
            after == before,
            format_args!("heap use {after} after free, expected {before}"),
        );
    }
    let Some(pool) = ctx.pool else {
        r.fail(format_args!("no DMA pool"));
        return r;
    };
    let free0 = pool.free_bytes();
    r.note(format_args!(
        "DMA pool {} ({} KiB free)",
        pool.range(),
        free0 / 1024
    ));
    match (pool.alloc(8192), pool.alloc(4096)) {
        (Ok(a), Ok(b)) => {
            r.check(
                !a.range().overlaps(&b.range()),
                format_args!("allocations {} and {} overlap", a.range(), b.range()),
            );
            for buf in [&a, &b] {
                r.check(
                    crate::mm::layout::covered_by(buf.range(), &[pool.range()]),
                    format_args!("allocation {} is outside the pool", buf.range()),
                );
                r.check(
                    buf.phys().is_aligned(4096),
                    format_args!("allocation {} is not page aligned", buf.range()),
                );
                r.check(
                    (0..buf.len()).all(|i| buf.byte(i) == 0),
                    format_args!("allocation {} not zeroed", buf.range()),
                );
            }
            a.write(0, b"iommu-bringup");
            let mut back = [0u8; 13];
            a.read(0, &mut back);
            r.check(
                &back == b"iommu-bringup",
                format_args!("DMA buffer read back {back:02x?}"),
            );
        }
        (a, b) => {
            for e in [a.err(), b.err()].into_iter().flatten() {
                r.fail(format_args!("DMA pool allocation failed: {e}"));
            }
        }
    }
    r.check(
        pool.free_bytes() == free0,
        format_args!(
            "pool has {} bytes free after freeing, {} before",
            pool.free_bytes(),
            free0
        ),
    );
    r
}

fn pcie_enumeration(ctx: &mut PlatformCtx<'_>) -> Report {
    let mut r = Report::new();
    let hosts = match &ctx.facts.pci {
        Ok(h) => h,
        Err(e) => {
            r.fail(format_args!("PCIe host bridge description: {e}"));
            return r;
        }
    };
    if hosts.is_empty() {
        r.skip("no pci-host-ecam-generic node in the device tree");
        return r;
    }
    for h in hosts {
        r.note(format_args!("host {}", h.desc));
        match &h.functions {
            Err(e) => r.fail(format_args!("enumeration failed: {e}")),
            Ok(funcs) => {
                if funcs.is_empty() {
                    r.note(format_args!("  no functions below the host bridge"));
                }
                for f in funcs {
                    r.note(format_args!("  {}", f.desc));
                    match &f.probe {
                        Some(Ok(s)) => r.note(format_args!("    {s}")),
                        Some(Err(e)) => r.fail(format_args!("    probe failed: {e}")),
                        None => {}
                    }
                }
            }
        }
    }
    r
}

fn injected_failure(_: &mut PlatformCtx<'_>) -> Report {
    let mut r = Report::new();
    r.fail(format_args!(
        "iommu_bringup.inject=fail-one: this case fails on purpose so the lab can see a failure reach it"
    ));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::layout::range;
    use crate::platform::pci::{BarKind, Bdf, PciError};
    use crate::selftest::ktap::KtapWriter;
    use crate::selftest::runner::{run_group, Outcome};

    fn good_facts() -> PlatformFacts {
        PlatformFacts {
            entry_el: 2,
            entry_e2h: false,
            current_el: 1,
            load_base: PhysAddr(0x4020_0000),
            image_size: 0x10_0000,
            relocs_total: 42,
            relocs_expected: 42,
            relocs_unknown: 0,
            reloc_probe_stored: 0x4021_0000,
            reloc_probe_actual: 0x4021_0000,
            dtb: range(0x4800_0000, 0x10000),
            memory: alloc::vec![range(0x4000_0000, 0x1000_0000)],
            reserved: alloc::vec![],
            no_map: alloc::vec![],
            console: ConsoleFacts {
                found: Ok("/pl011@9000000".into()),
                supported: true,
                status_read: Some(0x90),
            },
            mmu: MmuFacts {
                sctlr: 0x30d0_1805,
                mapping_errors: alloc::vec![],
                probes: alloc::vec![
                    AtProbe {
                        what: "stack",
                        va: 0x4030_0123,
                        faulted: false,
                        pa: 0x4030_0000,
                        attr: 0xff,
                        expected_attr: 0xff
                    },
                    AtProbe {
                        what: "console",
                        va: 0x0900_0000,
                        faulted: false,
                        pa: 0x0900_0000,
                        attr: 0x04,
                        expected_attr: 0x04
                    },
                ],
                tables_used: 4,
            },
            memory_plan: Some((
                range(0x4100_0000, 0x80_0000),
                range(0x4200_0000, 0x200_0000),
            )),
            inject_fail_one: false,
            bootargs: BootargsFacts::default(),
            pci: Ok(alloc::vec![PciHostFacts {
                desc: "/pcie@10000000".into(),
                functions: Ok(alloc::vec![PciFunctionFacts {
                    desc: "00:04.0 1234:11e8".into(),
                    probe: Some(Ok("edu alive".into())),
                }]),
            }]),
        }
    }

    fn run(facts: PlatformFacts, name: &str) -> Report {
        let g = group(true);
        let case = g.cases.iter().find(|c| c.name == name).unwrap();
        (case.run)(&mut PlatformCtx {
            facts,
            pool: None,
            heap_stats: None,
        })
    }

    #[test]
    fn good_facts_pass() {
        for name in [
            "boot_entry_el",
            "bootargs",
            "relocation_applied",
            "dt_memory",
            "dt_console",
            "mmu_identity_map",
            "pcie_enumeration",
        ] {
            let r = run(good_facts(), name);
            assert_eq!(r.outcome, Outcome::Pass, "{name}: {:?}", r.diags);
        }
    }

    #[test]
    fn each_case_can_fail() {
        let mut f = good_facts();
        f.current_el = 2;
        assert_eq!(run(f, "boot_entry_el").outcome, Outcome::Fail);

        let mut f = good_facts();
        f.reloc_probe_stored = 0x1_0000; // unrelocated link-time address
        assert_eq!(run(f, "relocation_applied").outcome, Outcome::Fail);

        // boot.S skipped some (the probe pointer happened to be done).
        let mut f = good_facts();
        f.relocs_total = f.relocs_expected - 1;
        let r = run(f, "relocation_applied");
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(
            r.diags
                .iter()
                .any(|d| d.contains("applied 41 relocations but")),
            "{:?}",
            r.diags
        );

        let mut f = good_facts();
        f.reserved.push(range(0x4020_0000, 0x1000));
        assert_eq!(run(f, "dt_memory").outcome, Outcome::Fail);

        let mut f = good_facts();
        f.memory.clear();
        assert_eq!(run(f, "dt_memory").outcome, Outcome::Fail);

        let mut f = good_facts();
        f.console.found = Err("stdout-path points nowhere".into());
        assert_eq!(run(f, "dt_console").outcome, Outcome::Fail);

        let mut f = good_facts();
        f.mmu.probes[1].attr = 0xff; // device mapped cacheable
        let r = run(f, "mmu_identity_map");
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(
            r.diags.iter().any(|d| d.contains("expected 0x04")),
            "{:?}",
            r.diags
        );

        let mut f = good_facts();
        f.mmu.sctlr &= !1;
        assert_eq!(run(f, "mmu_identity_map").outcome, Outcome::Fail);

        assert_eq!(
            run(good_facts(), "heap_and_dma_pool").outcome,
            Outcome::Fail,
            "no pool is a failure"
        );
        assert_eq!(run(good_facts(), "injected_failure").outcome, Outcome::Fail);

        let mut f = good_facts();
        f.pci = Ok(alloc::vec![PciHostFacts {
            desc: "h".into(),
            functions: Err(EnumerationError::Pci(PciError::NoWindowFor {
                bdf: Bdf {
                    bus: 0,
                    dev: 2,
                    func: 0,
                },
                bar: 0,
                size: 0x1000,
                kind: BarKind::Mem32,
            })),
        }]);
        assert_eq!(run(f, "pcie_enumeration").outcome, Outcome::Fail);
        let mut f = good_facts();
        if let Ok(hosts) = &mut f.pci {
            if let Ok(funcs) = &mut hosts[0].functions {
                funcs[0].probe = Some(Err(FunctionProbeError::Edu(EduOpenError::Edu(
                    crate::dma::edu::EduError::NotEdu { id: 0xffff_ffff },
                ))));
            }
        }
        assert_eq!(run(f, "pcie_enumeration").outcome, Outcome::Fail);
        let mut f = good_facts();
        f.pci = Err(HostError::RangesLength { len: 20, entry: 28 });
        assert_eq!(run(f, "pcie_enumeration").outcome, Outcome::Fail);
        let mut f = good_facts();
        f.pci = Ok(alloc::vec![]);
        assert!(matches!(
            run(f, "pcie_enumeration").outcome,
            Outcome::Skip(_)
        ));
    }

    #[test]
    fn bootargs_case_fails_on_rejected_words_only() {
        let args = Bootargs::parse(
            b"console=ttyS0 iommu_bringup.granule=16K iommu_bringup.inject=skip_sync",
        );
        let mut f = good_facts();
        f.bootargs = BootargsFacts::from_args(&args);
        let r = run(f, "bootargs");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(
            r.diags,
            [
                "not iommu_bringup.* words, left to whoever else reads them: console=ttyS0",
                "`iommu_bringup.granule=16K` read as `iommu_bringup.granule=16k` (names and values are case-insensitive)",
                "rejected `iommu_bringup.inject=skip_sync`: unknown inject value `skip_sync` (did you mean `skip-sync`?); accepted: `fail-one`, `skip-sync`, `exception`, `panic`, `oom`, as a comma list (case-insensitive); nothing of it was applied",
            ]
        );
        // Tolerated and case-folded words alone pass.
        let args = Bootargs::parse(b"console=ttyS0 root=/dev/vda iommu_bringup.granule=16K");
        let mut f = good_facts();
        f.bootargs = BootargsFacts::from_args(&args);
        assert_eq!(run(f, "bootargs").outcome, Outcome::Pass);
    }

    #[test]
    fn bootargs_lists_are_capped_with_a_count() {
        let line = "iommu_bringup.nope ".repeat(MAX_LISTED + 5);
        let args = Bootargs::parse(line.as_bytes());
        let facts = BootargsFacts::from_args(&args);
        assert_eq!(facts.rejected.len(), MAX_LISTED + 1);
        assert_eq!(
            facts.rejected.last().map(String::as_str),
            Some("... and 5 more (only the first 16 are listed)")
        );
        let mut f = good_facts();
        f.bootargs = facts;
        let r = run(f, "bootargs");
        assert_eq!(r.diags.len(), MAX_LISTED + 1);
    }

    #[test]
    fn fail_one_adds_exactly_one_failing_case() {
        let mut k = KtapWriter::new(String::new());
        let g = group(true);
        let mut ctx = PlatformCtx {
            facts: good_facts(),
            pool: None,
            heap_stats: None,
        };
        let t = run_group(&mut k, 1, &g, &mut ctx);
        // heap_and_dma_pool fails without a pool on the host; injected_failure fails by design.
        assert_eq!(t.fail, 2);
        assert_eq!(group(false).cases.len() + 1, g.cases.len());
    }
}
