//! The sun50i driver against the sun50i model (written from the manuals,
//! not from this driver): the whole catalogue with two model masters, the
//! negative control's declared list, and the driver bugs of issue 12, each
//! switched on through `hw::Bugs` and caught by at least one case.
//!
//! Addresses: the hardware is 32-bit, host RAM is not.  The DMA pool is a
//! host allocation that devices see at bus address [`BUS`]
//! (`HostRam::pool_at_bus`), and the model's `Window` maps the same bus
//! range back onto it, so tables and buffers carry 32-bit bus addresses
//! while the CPU side touches host memory.  The domain's aperture is
//! below 4 GiB (`iommu_cases::aperture(1)`): the IOVA is 32 bits.

use super::adapter::{Sun50iIommu, SKIP_SYNC_FAILURES};
use super::hw::{Bugs, Sun50iHw};
use super::model::{self, Misuse, Sun50i as Model, Window};
use super::regs::Regs;
use super::va_port::{VaPort, VA_BUSY_TIMEOUT, VA_PORT_STREAM};
use super::variant;
use crate::iommu::pgtable::sun50i::Sun50i;
use crate::iommu::pgtable::{Codec, Granule, PoolTables, Prot};
use crate::iommu::probe::Probe;
use crate::iommu::{Capabilities, DmaMaster, Domain, Iommu, IommuError, Observe};
use crate::mm::host_ram::HostRam;
use crate::mm::{Iova, PhysAddr};
use crate::mmio::ModelMmio;
use crate::selftest::families::{aperture_for, preflight_high, PREFLIGHT_LOW};
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest, APERTURE_SIZE};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::preflight::preflight;
use crate::selftest::runner::{run_case, run_group, Outcome};
use crate::testkit::master::ModelMaster;
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;

/// Where devices see the DMA pool.
const BUS: u64 = 0x4000_0000;

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

type Driver = Sun50iIommu<ModelMmio<Model>>;

/// A model of `v` with its driver enabled over it.
fn rig(ram: &HostRam, v: model::Variant, dv: variant::Variant) -> (Model, Driver) {
    rig_named(ram, v, dv, "sun50i-model")
}

/// [`rig`] with the driver named `name`.
fn rig_named(
    ram: &HostRam,
    v: model::Variant,
    dv: variant::Variant,
    name: &str,
) -> (Model, Driver) {
    rig_with(ram, v, dv, name, None)
}

/// [`rig_named`] with the model's knobs set by `knobs` before the driver
/// touches it.
fn rig_with(
    ram: &HostRam,
    v: model::Variant,
    dv: variant::Variant,
    name: &str,
    knobs: Option<fn(&mut model::Knobs)>,
) -> (Model, Driver) {
    let window = Window {
        bus: BUS as u32,
        host: ram.range().base.as_u64(),
    };
    let hw = Model::new(v, window);
    if let Some(k) = knobs {
        k(&mut hw.0.borrow_mut().knobs);
    }
    let mut drv = Sun50iHw::new(Regs::new(ModelMmio::new(hw.clone())), dv, clock());
    drv.enable().unwrap();
    (hw, Sun50iIommu::new(drv, name, false))
}

/// Which masters the catalogue runs with.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
enum Masters {
    /// Two `ModelMaster`s (slots 0 and 5).
    #[default]
    TwoModel,
    /// The VA debug port alone (as `run_family` adds it with no other).
    VaPort,
    /// One `ModelMaster` (slot 0), then the VA port (`run_family`'s order).
    ModelAndVaPort,
}

#[derive(Clone, Copy, Default)]
struct Opts {
    skip_sync: bool,
    bugs: Bugs,
    h6: bool,
    masters: Masters,
    /// Run as the board's IOMMU node of this name: the driver and the VA
    /// port named after it, the domain at the image's aperture
    /// (`families::aperture_for`), as `run_family` sets it up.
    node: Option<&'static str>,
    /// Model knobs set before the driver starts (PMU test knobs).
    knobs: Option<fn(&mut model::Knobs)>,
    /// After the enable sequence, TLB_ENABLE ← the PTW cache only: no micro
    /// or macro TLB caches anything, as if every entry were evicted at once.
    tlbs_off: bool,
}

type Results = Vec<(&'static str, Outcome, Vec<String>)>;

/// The catalogue's test context over the model, as [`with_catalogue`] sets it up.
type Test<'a> = IommuTest<'a, Driver, PoolTables<'a>>;

/// Sets up the catalogue over the model with `o`'s masters sharing the one
/// domain, then hands the context to `f` (which runs the cases).
fn with_catalogue<R>(o: Opts, f: impl FnOnce(&mut Test<'_>) -> R) -> (R, Model) {
    let ram = HostRam::new(32 << 20);
    let pool = ram.pool_at_bus(BUS);
    let name = o.node.unwrap_or("sun50i-model");
    let (hw, mut iommu) = if o.h6 {
        rig_with(&ram, model::H6, variant::H6, name, o.knobs)
    } else {
        rig_with(&ram, model::H616, variant::H616, name, o.knobs)
    };
    if o.tlbs_off {
        use crate::mmio::{RegisterModel, Width};
        hw.clone().write(
            model::reg::TLB_ENABLE,
            Width::W32,
            u64::from(model::PTW_CACHE),
        );
    }
    iommu.hw_mut().bugs = o.bugs;
    if o.bugs.domains_one_store_each {
        // The domains are programmed by the enable sequence.
        iommu.hw_mut().enable().unwrap();
    }
    let mut m0 = ModelMaster::new(0, "m0", hw.clone());
    let mut m1 = ModelMaster::new(5, "m5", hw.clone());
    let port_name = o
        .node
        .map_or(String::from("va-port"), |n| format!("{n} VA port"));
    let mut port = VaPort::new(ModelMmio::new(hw.clone()), clock(), &port_name);
    if o.h6 && o.masters != Masters::TwoModel {
        // As `Sun50iProbe::self_master`: on H6 the port is used only once
        // the run-time check found it.
        let mut check = Sun50iHw::new(Regs::new(ModelMmio::new(hw.clone())), variant::H6, clock());
        let mut lines = Vec::new();
        port = super::va_detect::checked_port(
            name,
            "H6",
            &mut check,
            port,
            &pool,
            &crate::mm::cache::NoMaintenance,
            &mut |l| lines.push(l.to_string()),
        )
        .unwrap_or_else(|| panic!("the H6 model's port was not found: {lines:?}"));
    }
    let aperture = match o.node {
        Some(_) => aperture_for(0, Sun50i.input_bits()),
        None => iommu_cases::aperture(1),
    };
    let domain = Domain::new(
        &mut iommu,
        Sun50i,
        PoolTables::new(&pool, false, |_, _| {}),
        aperture,
        APERTURE_SIZE,
    )
    .unwrap();
    let staging = pool.alloc(4096).unwrap();
    let fixed = [FixedMapping {
        phys: PhysAddr(staging.bus_addr().0),
        iova: Iova(0x0800_0000),
        size: 4096,
    }];
    let masters: Vec<&mut dyn DmaMaster> = match o.masters {
        Masters::TwoModel => alloc::vec![&mut m0, &mut m1],
        Masters::VaPort => alloc::vec![&mut port],
        Masters::ModelAndVaPort => alloc::vec![&mut m0, &mut port],
    };
    let mut t = IommuTest::setup(
        &mut iommu,
        masters,
        alloc::vec![domain],
        &fixed,
        &pool,
        4096,
    )
    .unwrap();
    let r = f(&mut t);
    drop(t);
    drop(staging);
    (r, hw)
}

/// The whole catalogue as the image runs it, over the model with two
/// masters sharing the one domain.
fn run_catalogue(o: Opts) -> (Results, Model) {
    with_catalogue(o, |t| {
        t.iommu.set_skip_sync(o.skip_sync);
        let g = iommu_cases::group("sun50i".to_string());
        let mut out = Vec::new();
        for i in 0..g.cases.len() {
            let r = run_case(&g, i, t);
            out.push((g.cases[i].name, r.outcome, r.diags));
        }
        out
    })
}

fn failed(r: &Results) -> Vec<&'static str> {
    r.iter()
        .filter(|(_, o, _)| *o == Outcome::Fail)
        .map(|(n, _, _)| *n)
        .collect()
}

fn caps() -> Capabilities {
    let ram = HostRam::new(1 << 20);
    rig(&ram, model::H616, variant::H616).1.capabilities()
}

/// Each SKIP names the capability's reason; none fails; the rest pass.
fn check_clean_run(r: &Results, hw: &Model) {
    let c = caps();
    for (name, outcome, diags) in r {
        match outcome {
            Outcome::Pass => {}
            Outcome::Skip(why) => {
                let reasons = [
                    c.contexts_reason(),
                    c.config_cache.reason(),
                    c.detach_reason(),
                    c.context_invalidation_reason(),
                ];
                assert!(
                    reasons.iter().flatten().any(|r| why.contains(r)),
                    "{name} skipped for another reason: {why}"
                );
            }
            Outcome::Fail => panic!("{name} failed: {diags:?}"),
        }
    }
    let misuse: Vec<Misuse> = hw.0.borrow().misuse.clone();
    assert!(
        misuse.is_empty(),
        "the driver did what the manual rules out: {misuse:?}"
    );
}

trait Reasons {
    fn contexts_reason(&self) -> Option<&'static str>;
    fn detach_reason(&self) -> Option<&'static str>;
    fn context_invalidation_reason(&self) -> Option<&'static str>;
}

impl Reasons for Capabilities {
    fn contexts_reason(&self) -> Option<&'static str> {
        match self.contexts {
            crate::iommu::Contexts::Shared(r) => Some(r),
            crate::iommu::Contexts::PerStream => None,
        }
    }
    fn detach_reason(&self) -> Option<&'static str> {
        match self.detach {
            crate::iommu::Detach::Bypasses(r) => Some(r),
            crate::iommu::Detach::Blocks => None,
        }
    }
    fn context_invalidation_reason(&self) -> Option<&'static str> {
        match self.context_invalidation {
            crate::iommu::ContextInvalidation::WholeIommu(r) => Some(r),
            _ => None,
        }
    }
}

fn skipped(r: &Results) -> Vec<&'static str> {
    r.iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Skip(_)))
        .map(|(n, _, _)| *n)
        .collect()
}

#[test]
fn the_catalogue_passes_on_the_h616_model_and_skips_only_with_capability_reasons() {
    let (r, hw) = run_catalogue(Opts::default());
    check_clean_run(&r, &hw);
    assert_eq!(
        skipped(&r),
        [
            "asid_invalidate",
            "config_invalidate",
            "default_deny",
            "isolation"
        ],
        "{r:?}"
    );
}

#[test]
fn the_catalogue_passes_on_the_h6_model() {
    let (r, hw) = run_catalogue(Opts {
        h6: true,
        ..Opts::default()
    });
    check_clean_run(&r, &hw);
}

#[test]
fn skip_sync_fails_exactly_the_declared_list() {
    let (r, _) = run_catalogue(Opts {
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{r:?}");
}

fn with_bug(bugs: Bugs) -> Vec<&'static str> {
    let (r, _) = run_catalogue(Opts {
        bugs,
        ..Opts::default()
    });
    failed(&r)
}

/// Map page A, DMA to it (the model prefetches A + 4 KiB, invalid, into
/// the macro TLB), map A + 4 KiB, DMA to it: `None` when that DMA lands,
/// else the abort.
fn map_next_to_a_used_page(bugs: Bugs) -> Option<String> {
    let ram = HostRam::new(8 << 20);
    let pool = ram.pool_at_bus(BUS);
    let (hw, mut iommu) = rig(&ram, model::H616, variant::H616);
    iommu.hw_mut().bugs = bugs;
    let mut m = ModelMaster::new(0, "m0", hw.clone());
    let mut d = Domain::new(
        &mut iommu,
        Sun50i,
        PoolTables::new(&pool, false, |_, _| {}),
        Iova(0x2000_0000),
        0x10_0000,
    )
    .unwrap();
    d.attach(&mut iommu, m.stream()).unwrap();
    let b = pool.alloc(2 * 4096).unwrap();
    let bus = b.bus_addr().0;
    let a = Iova(0x2000_0000);
    d.map(&mut iommu, a, PhysAddr(bus), 4096, Prot::rw())
        .unwrap();
    let t = core::time::Duration::from_millis(1);
    m.write(a, &[1; 16], t).unwrap();
    d.map(&mut iommu, a + 4096, PhysAddr(bus + 4096), 4096, Prot::rw())
        .unwrap();
    let r = m
        .write(a + 4096, &[2; 16], t)
        .err()
        .map(|e| format!("{e:?}"));
    let _ = iommu.drain_faults();
    r
}

#[test]
fn no_neighbour_zap_after_map_fails_map_next_to_walked() {
    // The mechanism, directly: the driver's zap makes the fresh neighbour
    // visible; without it the prefetched invalid entry faults.
    assert_eq!(map_next_to_a_used_page(Bugs::default()), None);
    let bugs = Bugs {
        no_neighbour_zap: true,
        ..Bugs::default()
    };
    let e = map_next_to_a_used_page(bugs).expect("the prefetched invalid entry must fault");
    assert!(e.contains("Aborted"), "{e}");
    // The catalogue catches it with `map_next_to_walked` alone: the other
    // cases' unmaps bring the full flush, which also empties what the
    // prefetch cached, before their next map into the prefetched window
    // (docs/hw/sun50i.md §15).
    let (r, _) = run_catalogue(Opts {
        bugs,
        ..Opts::default()
    });
    assert_eq!(failed(&r), ["map_next_to_walked"], "{r:?}");
    // Both probes see it: the next page's PTE prefetched into the macro
    // TLB, and the next directory entry prefetched into the PTW cache.
    let diags = &r
        .iter()
        .find(|(n, _, _)| *n == "map_next_to_walked")
        .unwrap()
        .2;
    for probe in [
        "the next page in the same last-level table",
        "the first page of the next 0x100000-byte last-level table span",
    ] {
        assert!(
            diags
                .iter()
                .any(|d| d.contains("Translation fault") && d.contains(probe)),
            "{probe}: {diags:?}"
        );
    }
}

#[test]
fn no_ptw_cache_invalidation_when_a_dte_changes_fails() {
    let bad = with_bug(Bugs {
        no_ptw_invalidation: true,
        ..Bugs::default()
    });
    // The freed level-2 table's directory entry stays cached.
    assert!(bad.contains(&"walk_cache_invalidate"), "{bad:?}");
}

#[test]
fn the_full_flush_without_its_busy_poll_fails() {
    let bad = with_bug(Bugs {
        flush_without_poll: true,
        ..Bugs::default()
    });
    // A flush that is never polled never completes (docs/hw/sun50i.md §6).
    assert_eq!(
        bad,
        [
            "unmap_invalidate_blocks_dma",
            "range_invalidate",
            "walk_cache_invalidate",
            "empty_gather_still_syncs"
        ]
    );
}

#[test]
fn the_pre_2022_reset_recovery_fails() {
    let bad = with_bug(Bugs {
        reset_other_lanes: true,
        ..Bugs::default()
    });
    // The first blocked DMA leaves the global reset asserted: every
    // later DMA goes nowhere, the heartbeat included.
    assert!(bad.contains(&"unmap_invalidate_blocks_dma"), "{bad:?}");
    assert!(bad.contains(&"fault_record"), "{bad:?}");
}

#[test]
fn a_second_context_is_refused_until_the_first_is_released() {
    let ram = HostRam::new(1 << 20);
    let (_, mut iommu) = rig(&ram, model::H616, variant::H616);
    iommu.new_context(&Sun50i).unwrap();
    assert_eq!(
        iommu.new_context(&Sun50i),
        Err(IommuError::NoFreeContext { contexts: 1 })
    );
    iommu.release_context(());
    iommu.new_context(&Sun50i).unwrap();
}

#[test]
fn only_4k_pages_are_offered() {
    assert!(super::probe::table_format(Granule::K4).is_ok());
    let e = super::probe::table_format(Granule::K16).unwrap_err();
    assert_eq!(
        e,
        crate::iommu::probe::FormatError::FourKibOnly {
            granule: Granule::K16
        }
    );
    assert!(e.to_string().contains("4 KiB pages only"), "{e}");
    assert!(super::probe::table_format(Granule::K64).is_err());
}

#[test]
fn permission_domains_written_one_store_each_leave_read_only_writable() {
    // Linux's two stores to DM_AUT_CTRL1 (domains 2 and 3): the second
    // clears the read-only domain's write-forbid bits.
    let bad = with_bug(Bugs {
        domains_one_store_each: true,
        ..Bugs::default()
    });
    assert_eq!(bad, ["readonly_blocks_write"]);
}

/// The evidence-based SKIP of a case that could not show its own entries
/// cached (docs/design.md §5): the VA port uses no TLB on the model.
const NOT_CACHED: &str = "could not establish caching";

#[test]
fn the_catalogue_with_a_model_master_and_the_va_port_passes() {
    let (r, hw) = run_catalogue(Opts {
        masters: Masters::ModelAndVaPort,
        ..Opts::default()
    });
    check_clean_run(&r, &hw);
    assert_eq!(
        skipped(&r),
        [
            "asid_invalidate",
            "config_invalidate",
            "default_deny",
            "isolation"
        ],
        "{r:?}"
    );
}

/// The VA port as the only master (an H616 board with no master driver).
/// Two things differ from a slot master, both the port's, both on the
/// model only:
///
/// * the port uses no micro TLB and (model default,
///   `Knobs::va_port_uses_tlb` off; unconfirmed, docs/hw/sun50i.md §11) no
///   macro TLB, so the stale-window cases cannot show a cached entry and
///   SKIP with the evidence reason, not a capability's;
/// * the port has no DM_AUT bits (permission domains are per micro-TLB
///   slot, §9) and no source says its accesses are permission-checked, so
///   the port says so (`DmaMaster::write_permission_unchecked`) and
///   `readonly_blocks_write` SKIPs with that reason instead of judging the
///   IOMMU by a master the permission machinery does not cover.
#[test]
fn the_catalogue_with_the_va_port_alone() {
    let (r, hw) = run_catalogue(Opts {
        masters: Masters::VaPort,
        ..Opts::default()
    });
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
    assert!(failed(&r).is_empty(), "{r:?}");
    let (_, o, _) = r
        .iter()
        .find(|(n, _, _)| *n == "readonly_blocks_write")
        .unwrap();
    assert!(
        matches!(o, Outcome::Skip(why) if why.contains("no micro-TLB slot")),
        "{o:?}"
    );
    let c = caps();
    for (name, outcome, _) in &r {
        if let Outcome::Skip(why) = outcome {
            let reasons = [
                c.contexts_reason(),
                c.detach_reason(),
                Some("needs two DMA masters"),
                Some(NOT_CACHED),
                Some("no micro-TLB slot"),
            ];
            assert!(
                reasons.iter().flatten().any(|r| why.contains(r)),
                "{name} skipped for another reason: {why}"
            );
        }
    }
    assert_eq!(
        skipped(&r),
        [
            "unmap_stale_window",
            "remap_stale_window",
            "range_invalidate",
            "asid_invalidate",
            "config_invalidate",
            "default_deny",
            "isolation",
            "readonly_blocks_write"
        ],
        "{r:?}"
    );
    // The faults the port met were recorded under its own stream.
    let (_, o, d) = r.iter().find(|(n, _, _)| *n == "fault_record").unwrap();
    assert_eq!(*o, Outcome::Pass, "{d:?}");
    assert!(d.iter().any(|d| d.contains("sid 0x1f")), "{d:?}");
}

#[test]
fn skip_sync_with_a_model_master_and_the_va_port_fails_exactly_the_declared_list() {
    let (r, _) = run_catalogue(Opts {
        skip_sync: true,
        masters: Masters::ModelAndVaPort,
        ..Opts::default()
    });
    assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{r:?}");
}

/// Skip-sync with the VA port alone fails the declared list but three:
/// `unmap_invalidate_blocks_dma` passes, because the port keeps no TLB
/// entry (model default) — its DMA after the unmap walks the cleared PTE
/// (the live neighbour keeps the directory entry) and faults.  The other
/// seven fail for the list's reasons, through the PTW cache: a table freed
/// by an earlier unmap stays behind a cached directory entry, so a fresh
/// mapping in that 1 MiB slot faults (no map-time zap) and a freed table
/// stays reachable (`walk_cache_invalidate`); `readonly_blocks_write`
/// SKIPs for the port's own reason (see above); `map_next_to_walked`
/// passes, because the invalid next-page entry the prefetch caches sits in
/// the macro TLB, which the port (model default) does not use.  The list is
/// the driver's and is not changed for the port.
#[test]
fn skip_sync_with_the_va_port_alone_fails_the_list_but_the_tlb_only_case() {
    let (r, _) = run_catalogue(Opts {
        skip_sync: true,
        masters: Masters::VaPort,
        ..Opts::default()
    });
    let expected: Vec<&str> = SKIP_SYNC_FAILURES
        .iter()
        .copied()
        .filter(|n| {
            !matches!(
                *n,
                "unmap_invalidate_blocks_dma" | "readonly_blocks_write" | "map_next_to_walked"
            )
        })
        .collect();
    assert_eq!(failed(&r), expected, "{r:?}");
}

/// A VA port over a fresh H616 model with one page mapped at `IOVA`
/// (the page at bus `BUS + 0x10_0000`), the port attached.
fn port_rig(ram: &HostRam) -> (Model, Driver, VaPort<ModelMmio<Model>>) {
    let (hw, mut iommu) = rig(ram, model::H616, variant::H616);
    let pool = ram.pool_at_bus(BUS);
    let mut d = Domain::new(
        &mut iommu,
        Sun50i,
        PoolTables::new(&pool, false, |_, _| {}),
        Iova(0x2000_0000),
        0x10_0000,
    )
    .unwrap();
    d.attach(&mut iommu, VA_PORT_STREAM).unwrap();
    d.map(
        &mut iommu,
        PORT_IOVA,
        PhysAddr(BUS + 0x10_0000),
        4096,
        Prot::rw(),
    )
    .unwrap();
    // The tables stay in host RAM after the domain is forgotten; the test
    // only drives the port.
    core::mem::forget(d);
    core::mem::forget(pool);
    let port = VaPort::new(ModelMmio::new(hw.clone()), clock(), "va-port");
    (hw, iommu, port)
}

const PORT_IOVA: Iova = Iova(0x2000_0000);

#[test]
fn the_va_port_moves_unaligned_bytes_and_aborts_at_an_unmapped_page_with_its_stream() {
    let ram = HostRam::new(4 << 20);
    let (hw, mut iommu, mut port) = port_rig(&ram);
    let t = core::time::Duration::from_millis(1);
    let host = |off: u64| hw.0.borrow().window.host(BUS as u32 + 0x10_0000) + off;
    crate::mm::host_ram::write_bytes(host(0), &[0xee; 16]);
    port.write(PORT_IOVA + 3, &[1, 2, 3, 4, 5, 6, 7], t)
        .unwrap();
    let mut back = [0u8; 12];
    crate::mm::host_ram::read_bytes(host(0), &mut back);
    assert_eq!(back, [0xee, 0xee, 0xee, 1, 2, 3, 4, 5, 6, 7, 0xee, 0xee]);
    let mut got = [0u8; 5];
    port.read(PORT_IOVA + 5, &mut got, t).unwrap();
    assert_eq!(got, [3, 4, 5, 6, 7]);
    // The page after is not mapped: the abort names the port's stream and
    // the IOVA, and the driver's record names the same stream.
    let e = port.write(PORT_IOVA + 0x1000, &[9; 8], t).unwrap_err();
    assert!(
        matches!(e, crate::dma::DmaError::Aborted { stream, iova, write: true, bytes: 0, .. }
            if stream == VA_PORT_STREAM && iova == PORT_IOVA + 0x1000),
        "{e:?}"
    );
    let f = iommu.drain_faults();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].stream, VA_PORT_STREAM);
    assert_eq!(f[0].iova, Some(PORT_IOVA + 0x1000));
    // Drained: the port works again.
    port.read(PORT_IOVA + 5, &mut got, t).unwrap();
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
}

#[test]
fn a_never_clearing_va_busy_bit_ends_at_the_deadline() {
    let ram = HostRam::new(4 << 20);
    let (hw, _iommu, mut port) = port_rig(&ram);
    // From here on every busy bit stays set (`Knobs::busy_polls`).
    hw.0.borrow_mut().knobs.busy_polls = u32::MAX;
    let t = core::time::Duration::from_secs(5);
    let e = port.write(PORT_IOVA, &[1; 4], t).unwrap_err();
    let crate::dma::DmaError::Timeout {
        stream,
        iova,
        waited,
        status,
    } = e
    else {
        panic!("{e:?}");
    };
    assert_eq!((stream, iova), (VA_PORT_STREAM, PORT_IOVA));
    // Bounded by the port's busy timeout, not the transfer's 5 s.
    assert!(waited >= VA_BUSY_TIMEOUT && waited < t, "{waited:?}");
    assert_eq!(status & 1, 1, "VA_CONFIG start bit still set: {status:#x}");
    // The next transfer waits for the busy port (bounded) instead of
    // starting over it: no start-while-busy in the model's log.
    let mut b = [0u8; 4];
    let e = port.read(PORT_IOVA, &mut b, t).unwrap_err();
    assert!(matches!(e, crate::dma::DmaError::Timeout { .. }), "{e:?}");
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
}

#[test]
fn the_va_port_is_planned_on_both_but_conditional_on_h6() {
    use super::probe::{Sun50iProbe, H6_VA_PORT_CONDITIONAL};
    use crate::iommu::probe::Probe;
    assert!(Sun50iProbe::has_self_master("allwinner,sun50i-h616-iommu"));
    assert!(Sun50iProbe::has_self_master("allwinner,sun50i-h6-iommu"));
    assert_eq!(
        Sun50iProbe::no_master_reason("allwinner,sun50i-h6-iommu"),
        Some(H6_VA_PORT_CONDITIONAL)
    );
    assert_eq!(
        Sun50iProbe::no_master_reason("allwinner,sun50i-h616-iommu"),
        None
    );
}

// ---- Finding the H6's VA port at run time (docs/hw/sun50i.md §11) ----

/// Runs the H6 port check over a fresh H6 driver on model variant `v`
/// with `knobs` set after the enable: what `checked_port` handed out and said, the model, and
/// TTB before and after.
fn check_h6_port(
    v: model::Variant,
    knobs: Option<fn(&mut model::Knobs)>,
) -> (bool, Vec<String>, Model, u32, u32) {
    let ram = HostRam::new(4 << 20);
    let pool = ram.pool_at_bus(BUS);
    let (hw, iommu) = rig_with(&ram, v, variant::H6, "iommu@30f0000", None);
    // The knobs break the port after the enable sequence.
    if let Some(k) = knobs {
        k(&mut hw.0.borrow_mut().knobs);
    }
    let before = iommu.hw().ttb();
    let mut check = Sun50iHw::new(Regs::new(ModelMmio::new(hw.clone())), variant::H6, clock());
    let port = VaPort::new(ModelMmio::new(hw.clone()), clock(), "iommu@30f0000 VA port");
    let mut lines = Vec::new();
    let found = super::va_detect::checked_port(
        "iommu@30f0000",
        "H6",
        &mut check,
        port,
        &pool,
        &crate::mm::cache::NoMaintenance,
        &mut |l| lines.push(l.to_string()),
    );
    let after = iommu.hw().ttb();
    (found.is_some(), lines, hw, before, after)
}

#[test]
fn an_h6_with_the_port_passes_the_check_and_ttb_is_put_back() {
    let (found, lines, hw, before, after) = check_h6_port(model::H6, None);
    assert!(found, "{lines:?}");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("H6's VA debug port")
            && lines[0].contains("was found by the run-time check")
            && lines[0].contains("VA_DATA (0x194) held 0xa55ac33c and 0x5aa53cc3")
            && lines[0].contains("IOVA 0x76543000"),
        "{lines:?}"
    );
    assert_eq!(before, after);
    assert!(
        hw.0.borrow().faults.is_empty(),
        "{:?}",
        hw.0.borrow().faults
    );
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
}

#[test]
fn an_h6_without_the_port_is_not_found_and_names_the_register() {
    let absent = model::Variant {
        va_port: false,
        ..model::H6
    };
    let (found, lines, hw, before, after) = check_h6_port(absent, None);
    assert!(!found);
    assert_eq!(
        lines,
        ["iommu@30f0000: the H6's VA debug port (0x190-0x198) was not found by the run-time check: VA_DATA (0x194): wrote 0xa55ac33c, read 0x00000000; it is not used as a master (docs/hw/sun50i.md §11)"]
    );
    // Refused at the register step: the TTB was never repointed, and the
    // only register touched in the hole was VA_DATA (the model logs each
    // write to an absent register).
    assert_eq!(before, after);
    let misuse = hw.0.borrow().misuse.clone();
    assert!(!misuse.is_empty());
    assert!(
        misuse.iter().all(|m| *m
            == Misuse::Unmapped {
                off: model::reg::VA_DATA
            }),
        "{misuse:?}"
    );
}

#[test]
fn an_h6_port_that_returns_wrong_data_is_not_found() {
    let (found, lines, _, before, after) =
        check_h6_port(model::H6, Some(|k| k.va_port_wrong_data = true));
    assert!(!found);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("was not found")
            && lines[0]
                .contains("IOVA 0x76543000 returned [13579b20, 2468ac1f, c0def0f2, 0badca01]")
            && lines[0].contains("expected [13579bdf, 2468ace0, c0def00d, 0badcafe]"),
        "{lines:?}"
    );
    assert_eq!(before, after);
}

#[test]
fn an_h6_port_whose_start_bit_never_clears_is_not_found() {
    let (found, lines, hw, before, after) =
        check_h6_port(model::H6, Some(|k| k.va_start_stuck = true));
    assert!(!found);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("was not found")
            && lines[0].contains("a translated read at IOVA 0x76543000")
            && lines[0].contains("Timeout"),
        "{lines:?}"
    );
    // The driver's table is back in TTB although the port hung.
    assert_eq!(before, after);
    assert!(hw.0.borrow().busy_at(model::reg::VA_CONFIG));
}

/// On H6 the catalogue runs through the port only after `checked_port`
/// found it, as `run_family` does; the results are the H616 port-alone
/// run's (same model, same driver, the variant's slot count aside).
#[test]
fn the_catalogue_runs_through_the_h6_port_the_check_found() {
    let (r6, hw) = run_catalogue(Opts {
        masters: Masters::VaPort,
        h6: true,
        ..Opts::default()
    });
    let (r616, _) = run_catalogue(Opts {
        masters: Masters::VaPort,
        ..Opts::default()
    });
    assert!(failed(&r6).is_empty(), "{r6:?}");
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
    let outcomes = |r: &Results| -> Vec<(&'static str, Outcome)> {
        r.iter().map(|(n, o, _)| (*n, o.clone())).collect()
    };
    assert_eq!(outcomes(&r6), outcomes(&r616));
    assert!(r6.iter().filter(|(_, o, _)| *o == Outcome::Pass).count() > 0);
}

// ---- The PMU counters as cache evidence (docs/hw/sun50i.md §12) ----

/// Outcome and diagnostics of case `name`.
fn case<'r>(r: &'r Results, name: &str) -> (&'r Outcome, &'r [String]) {
    let (_, o, d) = r
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    (o, d)
}

/// `(accesses, hits)` of micro TLB `slot` in a PMU evidence line
/// ("micro TLB 0 16/16, ...").
fn micro_counts(line: &str, slot: u8) -> Option<(u64, u64)> {
    let key = format!("micro TLB {slot} ");
    let rest = &line[line.find(&key)? + key.len()..];
    let (a, rest) = rest.split_once('/')?;
    let h = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((a.parse().ok()?, h.parse().ok()?))
}

/// The stale-window line a case printed: the counters over the held DMA.
fn evidence_line(d: &[String]) -> &str {
    d.iter()
        .find(|l| l.starts_with("cache evidence over that DMA: "))
        .unwrap_or_else(|| panic!("no cache evidence line in {d:?}"))
}

/// What a model master's one 64-byte DMA costs in lookups: the model
/// master translates every 4-byte beat (testkit `ModelMaster`).
const BEATS: u64 = (iommu_cases::XFER / 4) as u64;

/// With a model master the stale-window DMA is answered by the stale micro
/// TLB entry: the PMU line says so with exactly that DMA's beats (16, not
/// 32: the heartbeat DMA right after it is outside the window) and nothing
/// walked — evidence of caching that does not rest on the landed bytes.
#[test]
fn the_stale_window_shows_a_cached_translation_in_the_pmu_deltas() {
    let (r, hw) = run_catalogue(Opts::default());
    check_clean_run(&r, &hw);
    for name in ["unmap_stale_window", "remap_stale_window"] {
        let (o, d) = case(&r, name);
        assert_eq!(*o, Outcome::Pass, "{name}: {d:?}");
        let line = evidence_line(d);
        assert!(
            line.contains("the translation was cached before the DMA"),
            "{name}: {line}"
        );
        assert_eq!(
            micro_counts(line, 0),
            Some((BEATS, BEATS)),
            "{name}: {line}"
        );
        assert!(
            line.ends_with("macro TLB 0/0, PTW cache 0/0 (accesses/hits)"),
            "{name}: {line}"
        );
    }
    // range_invalidate's held DMAs: every probed page answered by a TLB.
    let (_, d) = case(&r, "range_invalidate");
    let lines: Vec<&String> = d
        .iter()
        .filter(|l| l.contains("cache evidence over the"))
        .collect();
    assert_eq!(lines.len(), 4, "{d:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("the translation was cached before the DMA")),
        "{lines:?}"
    );
    // The group's last case sums up what the driver issued and counted.
    let (_, d) = case(&r, "no_collateral_writes");
    assert!(
        d.iter().any(|l| l.contains("full flushes")
            && l.contains("map-time zaps")
            && l.contains("PMU since bring-up: micro TLB 0 ")),
        "{d:?}"
    );
}

/// Every entry evicted at once (TLB_ENABLE leaves only the PTW cache on):
/// the stale windows cannot show a cached entry and SKIP — never FAIL —
/// and the evidence they carry says the translation was walked, not
/// cached.  After the remap the walk finds the new page, so the DMA's
/// later beats could hit a refilled TLB on silicon; here nothing refills.
#[test]
fn an_evicted_entry_skips_with_counters_that_show_the_walk() {
    let (r, hw) = run_catalogue(Opts {
        tlbs_off: true,
        ..Opts::default()
    });
    assert!(failed(&r).is_empty(), "{r:?}");
    assert!(
        hw.0.borrow().misuse.is_empty(),
        "{:?}",
        hw.0.borrow().misuse
    );
    for name in ["unmap_stale_window", "remap_stale_window"] {
        let (o, _) = case(&r, name);
        let Outcome::Skip(why) = o else {
            panic!("{name}: {o:?}")
        };
        assert!(why.contains(NOT_CACHED), "{name}: {why}");
        assert!(
            why.contains(
                "cache evidence over that DMA: PMU: lookups counted, none answered by a TLB"
            ),
            "{name}: {why}"
        );
        assert!(!why.contains("cached before the DMA"), "{name}: {why}");
    }
}

/// A PMU that never starts (PMU_ENABLE ignores the write) and counters
/// that read 0 whatever happened: the stale DMA is still observed (the
/// case passes on the bytes), and the evidence says "no evidence" — no
/// claim of a hit.  With the entries evicted as well, the SKIP carries
/// "no evidence" too, not a claim of a walk.
#[test]
fn broken_counters_give_no_evidence_not_a_false_claim() {
    let stuck: fn(&mut model::Knobs) = |k| k.pmu_stuck_off = true;
    let zero: fn(&mut model::Knobs) = |k| k.pmu_reads_zero = true;
    let expect = [
        (
            stuck,
            "no evidence: the PMU did not start (PMU_ENABLE (+0x200): wrote 0x1, reads 0x0)",
        ),
        (zero, "no evidence: no PMU counter moved in the window"),
    ];
    for (knobs, says) in expect {
        let (r, hw) = run_catalogue(Opts {
            knobs: Some(knobs),
            ..Opts::default()
        });
        check_clean_run(&r, &hw);
        for name in ["unmap_stale_window", "remap_stale_window"] {
            let (o, d) = case(&r, name);
            assert_eq!(*o, Outcome::Pass, "{name}: {d:?}");
            let line = evidence_line(d);
            assert!(line.contains(says), "{name}: {line}");
            assert!(!line.contains("cached before the DMA"), "{name}: {line}");
        }
        let (r, _) = run_catalogue(Opts {
            knobs: Some(knobs),
            tlbs_off: true,
            ..Opts::default()
        });
        for name in ["unmap_stale_window", "remap_stale_window"] {
            let (o, _) = case(&r, name);
            let Outcome::Skip(why) = o else {
                panic!("{name}: {o:?}")
            };
            assert!(why.contains(says), "{name}: {why}");
            assert!(!why.contains("walked"), "{name}: {why}");
        }
    }
    // The bring-up line says what the evidence rests on.
    let ram = HostRam::new(1 << 20);
    let (_, iommu) = rig_with(&ram, model::H616, variant::H616, "m", Some(stuck));
    assert!(
        iommu.pmu_status().starts_with("PMU not started"),
        "{}",
        iommu.pmu_status()
    );
}

/// The VA port alone (an H616 board today): on the model the port takes
/// no PMU count (docs/hw/sun50i.md §11, §12), so its stale-window SKIPs say
/// "no evidence" — on silicon the same lines show whether the port's
/// lookups are counted at all.
#[test]
fn the_va_port_alone_skips_the_stale_windows_with_no_counter_evidence() {
    let (r, _) = run_catalogue(Opts {
        masters: Masters::VaPort,
        ..Opts::default()
    });
    for name in ["unmap_stale_window", "remap_stale_window"] {
        let (o, _) = case(&r, name);
        let Outcome::Skip(why) = o else {
            panic!("{name}: {o:?}")
        };
        assert!(
            why.contains("cache evidence over that DMA: no evidence: no PMU counter moved"),
            "{name}: {why}"
        );
    }
}

/// The H616's IOMMU node on the boards this project knows
/// (docs/hw/board-facts.md): the KTAP group a board run reports.
const H616_NODE: &str = "iommu@30f0000";

/// The catalogue on the H616 model with a model master (slot 0) and the
/// VA port, printed as KTAP the way boot prints a board's run
/// (`selftest::families::run_family`: bring-up line, skip-sync note, own
/// port note, preflight notes, then one subtest group named after the
/// node) inside a top-level run of one group with its totals.  The first
/// line after the plan says it is the host model, not a board.
fn model_ktap(skip_sync: bool) -> String {
    model_ktap_with(skip_sync, Masters::ModelAndVaPort)
}

/// [`model_ktap`] with `masters`: a model master and the VA port, or the
/// VA port alone — what an H616 board runs today, with no master driver.
fn model_ktap_with(skip_sync: bool, masters: Masters) -> String {
    let o = Opts {
        skip_sync,
        masters,
        node: Some(H616_NODE),
        ..Opts::default()
    };
    let who = match masters {
        Masters::VaPort => "the VA port alone, as an H616 board without a master driver runs",
        _ => "a model master in slot 0 and the VA port",
    };
    let (ktap, hw) = with_catalogue(o, |t| {
        let mut k = KtapWriter::new(String::new());
        let _ = k.start(1);
        let _ = k.diag(&format!(
            "iommu_bringup host model: the sun50i driver over the H616 model (src/iommu/sun50i/model.rs, written from the manuals), {who}; not a board"
        ));
        let v = variant::H616;
        let version = t.iommu.hw().identify().unwrap();
        let _ = k.diag(&format!(
            "{H616_NODE}: {} IOMMU, VERSION {version:#x}, {} micro-TLB slots",
            v.name, v.masters
        ));
        let _ = k.diag(&format!("{H616_NODE}: {}", t.iommu.pmu_status()));
        if skip_sync {
            let _ = k.diag(&format!(
                "iommu_bringup.inject=skip-sync: from the first case on, the driver drops every {} (negative control)",
                super::probe::Sun50iProbe::INVALIDATION
            ));
        }
        let _ = k.diag(&format!(
            "{H616_NODE}: using the IOMMU's own port as a master"
        ));
        let high = Iova(preflight_high(Sun50i.input_bits()));
        for note in preflight(t, &[Iova(PREFLIGHT_LOW), high]).unwrap() {
            let _ = k.diag(&note);
        }
        t.iommu.set_skip_sync(skip_sync);
        let g = iommu_cases::group(H616_NODE.to_string());
        let totals = run_group(&mut k, 1, &g, t);
        let _ = k.totals(totals.pass, totals.fail, totals.skip);
        k.into_inner()
    });
    let misuse: Vec<Misuse> = hw.0.borrow().misuse.clone();
    assert!(
        misuse.is_empty(),
        "the driver did what the manual rules out: {misuse:?}"
    );
    ktap
}

/// Writes [`model_ktap`] to the file `IOMMU_BRINGUP_MODEL_KTAP` names
/// (stdout when unset).  Run by `cargo xtask test` (stage
/// `model: sun50i H616`), which judges the file like a board's console.
fn write_model_ktap(ktap: String) {
    match std::env::var_os("IOMMU_BRINGUP_MODEL_KTAP") {
        Some(path) => std::fs::write(&path, &ktap)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{ktap}"),
    }
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_h616() {
    write_model_ktap(model_ktap(false));
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_h616_skip_sync() {
    write_model_ktap(model_ktap(true));
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_h616_va_port_alone() {
    write_model_ktap(model_ktap_with(false, Masters::VaPort));
}

/// The KTAP run is the catalogue run: same outcomes as
/// [`run_catalogue`] with the same masters, one group named after the node.
#[test]
fn model_ktap_reports_what_the_catalogue_run_found() {
    for (skip_sync, masters) in [
        (false, Masters::ModelAndVaPort),
        (true, Masters::ModelAndVaPort),
        (false, Masters::VaPort),
    ] {
        let ktap = model_ktap_with(skip_sync, masters);
        let (r, _) = run_catalogue(Opts {
            skip_sync,
            masters,
            node: Some(H616_NODE),
            ..Opts::default()
        });
        assert!(
            ktap.starts_with("KTAP version 1\n1..1\n# iommu_bringup host model"),
            "{ktap}"
        );
        assert!(ktap.contains("    # Subtest: iommu@30f0000\n"), "{ktap}");
        for (i, (name, outcome, _)) in r.iter().enumerate() {
            let line = match outcome {
                Outcome::Pass => format!("\n    ok {} {name}\n", i + 1),
                Outcome::Fail => format!("\n    not ok {} {name}\n", i + 1),
                Outcome::Skip(why) => format!("\n    ok {} {name} # SKIP {why}\n", i + 1),
            };
            assert!(ktap.contains(&line), "{line:?} not in\n{ktap}");
        }
        let group = if skip_sync {
            "not ok 1 iommu@30f0000\n"
        } else {
            "ok 1 iommu@30f0000\n"
        };
        assert!(ktap.contains(&format!("\n{group}")), "{ktap}");
        assert!(
            ktap.contains("reaches 0xe000000 and 0x30000000 through iommu@30f0000"),
            "{ktap}"
        );
    }
}
