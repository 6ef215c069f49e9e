//! The DART driver against the DART model (written from m1n1's, U-Boot's
//! and OpenBSD's descriptions, not from this driver): the whole catalogue
//! on t8103, t6000 and t8110 with two model masters in two domains, the
//! negative control's declared list, the driver bugs of issue 14 — each
//! switched on through `hw::Bugs` and caught by at least one case — a
//! locked DART, and the KTAP a board run would print.
//!
//! Addresses: the DMA pool is a host allocation that the DART sees at a
//! bus address in the variant's RAM (`HostRam::pool_at_bus`), and the
//! model's `Window` maps the same bus range back onto it, so tables and
//! buffers carry the DART's physical addresses while the CPU side touches
//! host memory.
//!
//! One model knob differs from its default, on t8103 only:
//! `dart1_rw_bits`.  DART1's NO_READ \[8\] / NO_WRITE \[7\] are Linux's
//! claim alone (docs/hw/dart.md §5); the driver writes them as Linux does,
//! and the model honours them only when asked.  The catalogue runs with
//! them honoured; [`t8103_read_only_depends_on_an_unconfirmed_bit`] shows
//! what happens if the hardware ignores them.

use super::adapter::{DartIommu, SKIP_SYNC_FAILURES};
use super::hw::{Bugs, DartHw};
use super::model::{self, Dart as Model, Knobs, Misuse, Window};
use super::probe::{bring_up_hw, locked_reason};
use super::regs::Regs;
use super::variant;
use crate::iommu::pgtable::{Codec, PoolTables};
use crate::iommu::probe::Probe;
use crate::iommu::{Capabilities, DmaMaster, Domain, Iommu, IommuError, Observe};
use crate::mm::host_ram::HostRam;
use crate::mm::{Iova, PhysAddr};
use crate::mmio::ModelMmio;
use crate::selftest::families::{aperture_for, preflight_high, PREFLIGHT_LOW};
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest, APERTURE_SIZE};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::preflight::preflight;
use crate::selftest::runner::{report_group_skipped, run_case, run_group_after, Outcome};
use crate::selftest::setup_error::SetupError;
use crate::testkit::master::ModelMaster;
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

/// The DART page.
const PAGE: u64 = 16 << 10;
/// Host RAM per run: `walk_cache_invalidate` needs a 32 MiB table span
/// (2048 pages of 16 KiB) to be at most a quarter of the pool.
const RAM: usize = 256 << 20;
/// The two masters' stream IDs: 0 and 5 (SID ^ 1 of either is no master,
/// so a flush of the wrong stream reaches nobody's translations).
const SIDS: [u32; 2] = [0, 5];

/// One DART variant as the driver and the model see it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Which {
    pub(super) driver: variant::Variant,
    pub(super) model: model::Variant,
    /// Where the DART sees the DMA pool (the SoC's RAM).
    pub(super) bus: u64,
    /// The KTAP group name.
    pub(super) node: &'static str,
}

/// t8103 (M1): RAM at 32 GiB.
pub(super) const T8103: Which = Which {
    driver: variant::T8103,
    model: model::T8103,
    bus: 0x8_0000_0000,
    node: "dart-model-t8103",
};
/// t6000 (M1 Pro/Max): RAM at 0x100_0000_0000, beyond DART1's 36 bits.
pub(super) const T6000: Which = Which {
    driver: variant::T6000,
    model: model::T6000,
    bus: 0x100_0000_0000,
    node: "dart-model-t6000",
};
/// T8110 (M2): RAM at 32 GiB, 36-bit IOVA (two levels).
pub(super) const T8110: Which = Which {
    driver: variant::T8110,
    model: model::T8110,
    bus: 0x8_0000_0000,
    node: "dart-model-t8110",
};

/// What a run changes.
#[derive(Clone, Copy, Default)]
struct Opts {
    skip_sync: bool,
    bugs: Bugs,
    /// Model knobs other than the run's defaults.
    knobs: Option<Knobs>,
}

type Driver = DartIommu<ModelMmio<Model>>;
type Results = Vec<(&'static str, Outcome, Vec<String>)>;
type Test<'a> = IommuTest<'a, Driver, PoolTables<'a>>;

/// The model knobs a run uses: the model's defaults, except that the
/// t8103 model honours DART1's permission bits (see the module docs).
fn knobs(w: Which) -> Knobs {
    Knobs {
        dart1_rw_bits: w.model.format == crate::testkit::walk_dart::DartFormat::Dart1,
        ..Knobs::default()
    }
}

/// A model of `w` over `ram` and the driver brought up on it.
fn rig(ram: &HostRam, w: Which, k: Knobs, bugs: Bugs) -> (Model, Driver) {
    let window = Window {
        bus: w.bus,
        host: ram.range().base.as_u64(),
        len: ram.range().size,
    };
    let m = Model::new(w.model, k);
    m.model_mut().map_window(window);
    let regs = Regs::new(ModelMmio::new(m.clone()));
    let mut hw = DartHw::identify(regs, w.driver, clock()).unwrap();
    hw.bugs = bugs;
    if hw.ident().lock.is_none() || bugs.ignore_lock {
        hw.reset().unwrap();
    }
    (m, DartIommu::new(hw, w.node, false))
}

/// Sets up the catalogue over the model with two masters in two domains
/// (apertures and staging IOVAs as `run_family` gives them), then hands
/// the context to `f`.
fn with_catalogue<R>(w: Which, o: Opts, f: impl FnOnce(&mut Test<'_>) -> R) -> (R, Model) {
    let ram = HostRam::new(RAM);
    let pool = ram.pool_at_bus(w.bus);
    let (m, mut iommu) = rig(&ram, w, o.knobs.unwrap_or(knobs(w)), o.bugs);
    let format = iommu.hw().ident().format;
    let mut m0 = ModelMaster::new(SIDS[0], "m0", m.clone());
    let mut m1 = ModelMaster::new(SIDS[1], "m5", m.clone());
    let domains: Vec<_> = (0..2)
        .map(|i| {
            Domain::new(
                &mut iommu,
                format,
                PoolTables::new(&pool, false, |_, _| {}),
                aperture_for(i, format.input_bits()),
                APERTURE_SIZE,
            )
            .unwrap()
        })
        .collect();
    let staging: Vec<_> = (0..2).map(|_| pool.alloc(PAGE).unwrap()).collect();
    let fixed: Vec<FixedMapping> = staging
        .iter()
        .enumerate()
        .map(|(i, b)| FixedMapping {
            phys: PhysAddr(b.bus_addr().0),
            iova: Iova(0x0800_0000 + i as u64 * 0x10_0000),
            size: PAGE,
        })
        .collect();
    let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &fixed, &pool, PAGE).unwrap();
    let r = f(&mut t);
    drop(t);
    drop(staging);
    (r, m)
}

fn run_catalogue(w: Which, o: Opts) -> (Results, Model) {
    with_catalogue(w, o, |t| {
        t.iommu.set_skip_sync(o.skip_sync);
        let g = iommu_cases::group(w.node.to_string());
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

fn skipped(r: &Results) -> Vec<&'static str> {
    r.iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Skip(_)))
        .map(|(n, _, _)| *n)
        .collect()
}

fn caps(w: Which) -> Capabilities {
    let ram = HostRam::new(1 << 20);
    rig(&ram, w, knobs(w), Bugs::default()).1.capabilities()
}

fn misuse(m: &Model) -> Vec<Misuse> {
    m.model().misuse().to_vec()
}

/// Every case passes but those whose capability says why not; the model
/// saw nothing the sources rule out.
fn check_clean_run(w: Which, r: &Results, m: &Model) {
    let c = caps(w);
    for (name, outcome, diags) in r {
        match outcome {
            Outcome::Pass => {}
            Outcome::Skip(why) => {
                let reason = match c.context_invalidation {
                    crate::iommu::ContextInvalidation::WholeIommu(r) => r,
                    _ => "(none)",
                };
                assert!(
                    why.contains(reason),
                    "{name} skipped for another reason: {why}"
                );
            }
            Outcome::Fail => panic!("{}: {name} failed: {diags:#?}", w.node),
        }
    }
    assert!(misuse(m).is_empty(), "{}: {:?}", w.node, misuse(m));
}

#[test]
fn the_catalogue_passes_on_t8103() {
    let (r, m) = run_catalogue(T8103, Opts::default());
    check_clean_run(T8103, &r, &m);
    assert_eq!(skipped(&r), ["asid_invalidate"], "{r:?}");
}

#[test]
fn the_catalogue_passes_on_t6000() {
    let (r, m) = run_catalogue(T6000, Opts::default());
    check_clean_run(T6000, &r, &m);
    assert_eq!(skipped(&r), ["asid_invalidate"], "{r:?}");
}

#[test]
fn the_catalogue_passes_on_t8110() {
    let (r, m) = run_catalogue(T8110, Opts::default());
    check_clean_run(T8110, &r, &m);
    assert_eq!(skipped(&r), ["asid_invalidate"], "{r:?}");
}

#[test]
fn skip_sync_fails_exactly_the_declared_list_on_every_variant() {
    for w in [T8103, T6000, T8110] {
        let (r, _) = run_catalogue(
            w,
            Opts {
                skip_sync: true,
                ..Opts::default()
            },
        );
        assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{}: {r:#?}", w.node);
    }
}

fn with_bug(w: Which, bugs: Bugs) -> Vec<&'static str> {
    let (r, _) = run_catalogue(
        w,
        Opts {
            bugs,
            ..Opts::default()
        },
    );
    failed(&r)
}

#[test]
fn with_the_model_walk_cache_off_skip_sync_fails_only_what_the_tlb_explains() {
    // The third group of SKIP_SYNC_FAILURES comes from the cached L1
    // entries: without them those cases pass, the rest still fail.
    let k = Knobs {
        walk_cache: false,
        ..knobs(T8103)
    };
    let (r, _) = run_catalogue(
        T8103,
        Opts {
            skip_sync: true,
            knobs: Some(k),
            ..Opts::default()
        },
    );
    let walk_cache_only = [
        "unmap_stale_window",
        "remap_stale_window",
        "isolation",
        "readonly_blocks_write",
        "fault_record",
    ];
    let want: Vec<&str> = SKIP_SYNC_FAILURES
        .iter()
        .copied()
        .filter(|c| !walk_cache_only.contains(c))
        .collect();
    assert_eq!(failed(&r), want, "{r:#?}");
}

#[test]
fn no_flush_after_map_fails_map_next_to_walked() {
    // The model keeps failed walks in the TLB: a page touched while
    // unmapped and mapped without a flush still faults.
    for w in [T8103, T6000, T8110] {
        let bugs = Bugs {
            no_flush_after_map: true,
            ..Bugs::default()
        };
        assert_eq!(with_bug(w, bugs), ["map_next_to_walked"], "{}", w.node);
    }
    let (r, _) = run_catalogue(
        T8110,
        Opts {
            bugs: Bugs {
                no_flush_after_map: true,
                ..Bugs::default()
            },
            ..Opts::default()
        },
    );
    let diags = &r
        .iter()
        .find(|(n, _, _)| *n == "map_next_to_walked")
        .unwrap()
        .2;
    assert!(
        diags.iter().any(|d| d.contains("Translation fault")
            && d.contains("mapped right after a DMA to it faulted")),
        "{diags:#?}"
    );
}

#[test]
fn flushing_the_wrong_stream_fails_the_invalidation_cases() {
    for w in [T8103, T6000, T8110] {
        let bad = with_bug(
            w,
            Bugs {
                flush_wrong_stream: true,
                ..Bugs::default()
            },
        );
        for case in [
            "unmap_invalidate_blocks_dma",
            "range_invalidate",
            "empty_gather_still_syncs",
            "config_invalidate",
        ] {
            assert!(bad.contains(&case), "{}: {case} not in {bad:?}", w.node);
        }
    }
}

#[test]
fn the_t8110_command_at_the_t8020_offset_fails_and_the_model_names_it() {
    let (r, m) = run_catalogue(
        T8110,
        Opts {
            bugs: Bugs {
                t8110_command_at_t8020_offset: true,
                ..Bugs::default()
            },
            ..Opts::default()
        },
    );
    let bad = failed(&r);
    assert!(bad.contains(&"unmap_invalidate_blocks_dma"), "{bad:?}");
    assert!(bad.contains(&"empty_gather_still_syncs"), "{bad:?}");
    // Nothing was flushed after the bug took over; the model saw commands
    // land on the other layout's register.
    assert!(
        misuse(&m)
            .iter()
            .any(|x| matches!(x, Misuse::OtherLayout { off: 0x020, .. })),
        "{:?}",
        misuse(&m)
    );
}

/// A model of `w` as a boot loader leaves it: stream 0 translating through
/// a table of its own at `bus + 0x10_0000`, then locked.
fn locked_model(ram: &HostRam, w: Which) -> Model {
    use crate::mmio::{RegisterModel, Width};
    let window = Window {
        bus: w.bus,
        host: ram.range().base.as_u64(),
        len: ram.range().size,
    };
    let mut m = Model::new(w.model, knobs(w));
    m.model_mut().map_window(window);
    let table = w.bus + 0x10_0000;
    let (tcr, ttbr, tcr_v, ttbr_v): (usize, usize, u32, u32) = match w.driver.layout {
        variant::Layout::T8020 => (0x100, 0x200, 0x80, 0x8000_0000 | (table >> 12) as u32),
        variant::Layout::T8110 => (0x1000, 0x1400, 0x1, (table >> 12) as u32 | 1),
    };
    m.write(ttbr, Width::W32, u64::from(ttbr_v));
    m.write(tcr, Width::W32, u64::from(tcr_v));
    m.model_mut().lock();
    m
}

#[test]
fn a_locked_dart_is_left_as_found_and_its_group_skips_naming_the_lock() {
    for w in [T8103, T6000, T8110] {
        let ram = HostRam::new(4 << 20);
        let m = locked_model(&ram, w);
        let before: Vec<u32> = (0..16).map(|s| m.model().tcr(s)).collect();
        let mut lines = Vec::new();
        let hw = bring_up_hw(
            Regs::new(ModelMmio::new(m.clone())),
            w.driver,
            clock(),
            w.node,
            &mut |l| lines.push(l.to_string()),
        )
        .unwrap();
        let why = locked_reason(&hw, w.node).unwrap();
        assert!(why.contains("locked by the boot loader"), "{why}");
        assert!(why.contains("streams left configured: 0"), "{why}");
        let d = DartIommu::new(hw, w.node, false);
        assert_eq!(locked_reason(d.hw(), w.node), Some(why));
        // Nothing was written: the TCRs are as the boot loader left them
        // and the model saw no write to a locked register.
        let after: Vec<u32> = (0..16).map(|s| m.model().tcr(s)).collect();
        assert_eq!(before, after);
        assert!(misuse(&m).is_empty(), "{}: {:?}", w.node, misuse(&m));
        assert!(lines.iter().any(|l| l.contains("locked (")), "{lines:?}");
    }
}

#[test]
fn a_driver_that_reprograms_a_locked_dart_fails_its_setup() {
    for w in [T8103, T6000, T8110] {
        let ram = HostRam::new(RAM);
        let pool = ram.pool_at_bus(w.bus);
        let m = locked_model(&ram, w);
        let mut hw =
            DartHw::identify(Regs::new(ModelMmio::new(m.clone())), w.driver, clock()).unwrap();
        hw.bugs.ignore_lock = true;
        hw.reset().unwrap();
        let mut iommu = DartIommu::new(hw, w.node, false);
        let format = iommu.hw().ident().format;
        let mut m0 = ModelMaster::new(SIDS[0], "m0", m.clone());
        let d = Domain::new(
            &mut iommu,
            format,
            PoolTables::new(&pool, false, |_, _| {}),
            aperture_for(1, format.input_bits()),
            APERTURE_SIZE,
        )
        .unwrap();
        let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0];
        // The image reports this as the group's failing `setup` case.
        let e = match IommuTest::setup(&mut iommu, masters, alloc::vec![d], &[], &pool, PAGE) {
            Ok(_) => panic!("{}: setup on a locked DART succeeded", w.node),
            Err(e) => e,
        };
        // The DART refused the TCR/TTBR writes: the core's command error,
        // named with the step that met it.
        assert!(
            matches!(
                e,
                SetupError::MapFixed {
                    cause: IommuError::CommandError { .. },
                    ..
                } | SetupError::Attach {
                    cause: IommuError::CommandError { .. },
                    ..
                } | SetupError::MapHeartbeat {
                    cause: IommuError::CommandError { .. },
                    ..
                }
            ),
            "{}: {e:?}",
            w.node
        );
        assert!(e.to_string().contains("command error"), "{}: {e}", w.node);
        // The model saw every write to the locked registers.
        assert!(
            misuse(&m)
                .iter()
                .any(|x| matches!(x, Misuse::WhileLocked { .. })),
            "{}",
            w.node
        );
    }
}

#[test]
fn t8103_read_only_depends_on_an_unconfirmed_bit() {
    // With DART1's NO_WRITE [7] ignored (the model's default: Linux alone
    // names the bit), the device's write to a read-only page lands.
    let k = Knobs {
        dart1_rw_bits: false,
        ..knobs(T8103)
    };
    let (r, _) = run_catalogue(
        T8103,
        Opts {
            knobs: Some(k),
            ..Opts::default()
        },
    );
    assert_eq!(failed(&r), ["readonly_blocks_write"], "{r:#?}");
}

#[test]
fn every_flush_the_driver_counts_is_one_the_model_completed() {
    // map, DMA, unmap on each variant: the commands the driver counted
    // (after attach, after the map, after the unmap) are exactly the
    // invalidations the model completed meanwhile, with none in flight:
    // every busy poll waited for its command.
    for w in [T8103, T6000, T8110] {
        let ram = HostRam::new(8 << 20);
        let pool = ram.pool_at_bus(w.bus);
        let (m, mut iommu) = rig(&ram, w, knobs(w), Bugs::default());
        let format = iommu.hw().ident().format;
        let mut d = Domain::new(
            &mut iommu,
            format,
            PoolTables::new(&pool, false, |_, _| {}),
            Iova(0x1000_0000),
            0x100_0000,
        )
        .unwrap();
        let before = m.model().flushes().len();
        let _ = iommu.take_invalidation_cost();
        d.attach(&mut iommu, crate::iommu::StreamId(SIDS[1]))
            .unwrap();
        let b = pool.alloc(PAGE).unwrap();
        d.map(
            &mut iommu,
            Iova(0x1000_0000),
            PhysAddr(b.bus_addr().0),
            PAGE,
            crate::iommu::pgtable::Prot::rw(),
        )
        .unwrap();
        let mut master = ModelMaster::new(SIDS[1], "m5", m.clone());
        let t = core::time::Duration::from_millis(1);
        master.write(Iova(0x1000_0000), &[7; 8], t).unwrap();
        d.unmap(&mut iommu, Iova(0x1000_0000), PAGE).unwrap();
        assert!(
            master.write(Iova(0x1000_0000), &[8; 8], t).is_err(),
            "{}",
            w.node
        );
        let cost = iommu.take_invalidation_cost();
        let done = m.model().flushes().len() - before;
        assert_eq!(
            (cost, done),
            (3, 3),
            "{}: driver {cost}, model {done}",
            w.node
        );
        assert!(!m.model().busy(), "{}: a flush still in flight", w.node);
        assert!(
            m.model().flushes()[before..]
                .iter()
                .all(|f| f.scope.covers(SIDS[1]) && !f.scope.covers(SIDS[0])),
            "{}: {:?}",
            w.node,
            &m.model().flushes()[before..]
        );
        drop(b);
    }
}

/// The catalogue on `w`'s model with two model masters in two domains,
/// printed as KTAP the way boot prints a board's run
/// (`selftest::families::run_family`: the identification line, the
/// skip-sync note, the page-size note, the preflight notes, then one
/// subtest group) inside a top-level run of one group with its totals.
/// The first line after the plan says it is the host model, not a board.
fn model_ktap(w: Which, skip_sync: bool) -> String {
    let (ktap, m) = with_catalogue(w, Opts::default(), |t| {
        let mut k = KtapWriter::new(String::new());
        let _ = k.start(1);
        let _ = k.diag(&format!(
            "iommu_bringup host model: the DART driver over the {} DART model (src/iommu/dart/model.rs, written from m1n1, U-Boot and OpenBSD), two model masters (SIDs {} and {}) in two domains; not a board",
            w.driver.name, SIDS[0], SIDS[1]
        ));
        if w.model.format == crate::testkit::walk_dart::DartFormat::Dart1 {
            let _ = k.diag("model knob: DART1 NO_READ/NO_WRITE (bits 8/7, Linux only) honoured, as the driver writes them");
        }
        let _ = k.diag(&super::probe::identity_line(t.iommu.hw(), w.node));
        if skip_sync {
            let _ = k.diag(&format!(
                "iommu_bringup.inject=skip-sync: from the first case on, the driver drops every {} (negative control)",
                super::probe::DartProbe::INVALIDATION
            ));
        }
        let _ = k.diag(&format!(
            "{}: the IOMMU's page size is 16 KiB, fixed by the hardware: the run's 4 KiB granule does not apply to it",
            w.node
        ));
        // The family's register checks, as run_family runs them first.
        let table = t.pool.alloc(PAGE).unwrap();
        let checks: Vec<_> = super::checks::run(t.iommu.hw_mut(), Some(table.bus_addr().0), None)
            .into_iter()
            .map(crate::selftest::families::check_report)
            .collect();
        drop(table);
        let bits = t.iommu.hw().ident().format.input_bits();
        let high = Iova(preflight_high(bits));
        for note in preflight(t, &[Iova(PREFLIGHT_LOW), high]).unwrap() {
            let _ = k.diag(&note);
        }
        t.iommu.set_skip_sync(skip_sync);
        let g = iommu_cases::group(w.node.to_string());
        let totals = run_group_after(&mut k, 1, &checks, &g, t);
        let _ = k.totals(totals.pass, totals.fail, totals.skip);
        k.into_inner()
    });
    assert!(misuse(&m).is_empty(), "{}: {:?}", w.node, misuse(&m));
    ktap
}

/// Writes [`model_ktap`] to the file `IOMMU_BRINGUP_MODEL_KTAP` names
/// (stdout when unset).  Run by `cargo xtask test` (stages `model: DART
/// t8103` and the others), which judges the file like a board's console.
fn write_model_ktap(w: Which, skip_sync: bool) {
    let ktap = model_ktap(w, skip_sync);
    match std::env::var_os("IOMMU_BRINGUP_MODEL_KTAP") {
        Some(path) => std::fs::write(&path, &ktap)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{ktap}"),
    }
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t8103() {
    write_model_ktap(T8103, false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t8103_skip_sync() {
    write_model_ktap(T8103, true);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t6000() {
    write_model_ktap(T6000, false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t6000_skip_sync() {
    write_model_ktap(T6000, true);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t8110() {
    write_model_ktap(T8110, false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t8110_skip_sync() {
    write_model_ktap(T8110, true);
}

/// The KTAP run is the catalogue run: same outcomes, one group named after
/// the model.
#[test]
fn model_ktap_reports_what_the_catalogue_run_found() {
    for skip_sync in [false, true] {
        let w = T6000;
        let ktap = model_ktap(w, skip_sync);
        let (r, _) = run_catalogue(
            w,
            Opts {
                skip_sync,
                ..Opts::default()
            },
        );
        assert!(
            ktap.starts_with("KTAP version 1\n1..1\n# iommu_bringup host model"),
            "{ktap}"
        );
        assert!(
            ktap.contains(&format!("    # Subtest: {}\n", w.node)),
            "{ktap}"
        );
        // The five register checks come first.
        for (i, name) in CHECK_NAMES.iter().enumerate() {
            assert!(
                ktap.contains(&format!("\n    ok {} {name}\n", i + 1)),
                "{ktap}"
            );
        }
        for (i, (name, outcome, _)) in r.iter().enumerate() {
            let n = i + 1 + CHECK_NAMES.len();
            let line = match outcome {
                Outcome::Pass => format!("\n    ok {n} {name}\n"),
                Outcome::Fail => format!("\n    not ok {n} {name}\n"),
                Outcome::Skip(why) => format!("\n    ok {n} {name} # SKIP {why}\n"),
            };
            assert!(ktap.contains(&line), "{line:?} not in\n{ktap}");
        }
        let group = if skip_sync { "not ok 1" } else { "ok 1" };
        assert!(ktap.contains(&format!("\n{group} {}\n", w.node)), "{ktap}");
        assert!(
            ktap.contains("t6000 DART (T8020 layout, Dart2 PTEs)"),
            "{ktap}"
        );
    }
}

/// A model of `w` brought up by the driver, and `f`'s view of the checks.
fn checks_on(
    w: Which,
    m: &Model,
    ram: &HostRam,
    before: impl FnOnce(&mut DartHw<ModelMmio<Model>>),
) -> (Vec<crate::iommu::probe::HardwareCheck>, Option<String>) {
    let mut hw = bring_up_hw(
        Regs::new(ModelMmio::new(m.clone())),
        w.driver,
        clock(),
        w.node,
        &mut |_| {},
    )
    .unwrap();
    before(&mut hw);
    let pool = ram.pool_at_bus(w.bus);
    let table = pool.alloc(PAGE).unwrap();
    let leave = super::probe::left_as_found(&hw, w.node);
    let out = super::checks::run(&mut hw, Some(table.bus_addr().0), leave.as_deref());
    (out, leave)
}

fn outcome_of(
    c: &[crate::iommu::probe::HardwareCheck],
    name: &str,
) -> crate::iommu::probe::CheckOutcome {
    c.iter().find(|c| c.name == name).unwrap().outcome.clone()
}

fn fresh_model(ram: &HostRam, w: Which) -> Model {
    let m = Model::new(w.model, knobs(w));
    m.model_mut().map_window(Window {
        bus: w.bus,
        host: ram.range().base.as_u64(),
        len: ram.range().size,
    });
    m
}

#[test]
fn the_hardware_checks_pass_on_every_model_and_leave_the_stream_blocked() {
    use crate::iommu::probe::CheckOutcome;
    for w in [T8103, T6000, T8110] {
        let ram = HostRam::new(4 << 20);
        let m = fresh_model(&ram, w);
        let (c, leave) = checks_on(w, &m, &ram, |_| {});
        assert!(leave.is_none());
        let names: Vec<&str> = c.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "dart_identify",
                "dart_lock_state",
                "dart_stream_readback",
                "dart_invalidation_completes",
                "dart_error_register"
            ]
        );
        for check in &c {
            assert_eq!(check.outcome, CheckOutcome::Pass, "{}: {check:?}", w.node);
        }
        let rb = &c[2].notes[0];
        assert!(
            rb.contains("stream 15") && rb.contains("blocked again: TTBR0 0x0 TCR 0x0"),
            "{rb}"
        );
        assert_eq!((m.model().tcr(15), m.model().ttbr(15, 0)), (0, 0));
        assert!(misuse(&m).is_empty(), "{}: {:?}", w.node, misuse(&m));
    }
}

#[test]
fn on_a_locked_dart_the_checks_write_no_tcr_or_ttbr() {
    use crate::iommu::probe::CheckOutcome;
    for w in [T8103, T6000, T8110] {
        let ram = HostRam::new(4 << 20);
        let m = locked_model(&ram, w);
        let (c, leave) = checks_on(w, &m, &ram, |_| {});
        assert!(leave.unwrap().contains("locked by the boot loader"));
        assert!(
            matches!(outcome_of(&c, "dart_stream_readback"), CheckOutcome::Skip(why) if why.contains("locked")),
            "{c:?}"
        );
        for n in [
            "dart_identify",
            "dart_lock_state",
            "dart_invalidation_completes",
            "dart_error_register",
        ] {
            assert_eq!(
                outcome_of(&c, n),
                CheckOutcome::Pass,
                "{}: {n}: {c:?}",
                w.node
            );
        }
        assert!(c[1].notes[0].starts_with("locked ("), "{:?}", c[1].notes);
        assert!(misuse(&m).is_empty(), "{}: {:?}", w.node, misuse(&m));
        assert_eq!(
            m.model().tcr(0),
            if w.driver.layout == variant::Layout::T8020 {
                0x80
            } else {
                0x1
            }
        );
    }
}

#[test]
fn a_dart_the_boot_loader_left_translating_is_left_as_found() {
    use crate::mmio::{RegisterModel, Width};
    for w in [T8103, T8110] {
        let ram = HostRam::new(4 << 20);
        let mut m = fresh_model(&ram, w);
        let table = w.bus + 0x10_0000;
        let (tcr, ttbr, tcr_v, ttbr_v): (usize, usize, u32, u32) = match w.driver.layout {
            variant::Layout::T8020 => (0x104, 0x210, 0x80, 0x8000_0000 | (table >> 12) as u32),
            variant::Layout::T8110 => (0x1004, 0x1404, 0x1, (table >> 12) as u32 | 1),
        };
        m.write(ttbr, Width::W32, u64::from(ttbr_v));
        m.write(tcr, Width::W32, u64::from(tcr_v));
        let (c, leave) = checks_on(w, &m, &ram, |_| {});
        let why = leave.unwrap();
        assert!(
            why.contains("translating for the boot loader (streams 1 (TCR"),
            "{why}"
        );
        assert!(matches!(
            outcome_of(&c, "dart_stream_readback"),
            crate::iommu::probe::CheckOutcome::Skip(_)
        ));
        // No reset: stream 1 still translates through the boot loader's table.
        assert_eq!((m.model().tcr(1), m.model().ttbr(1, 0)), (tcr_v, ttbr_v));
    }
}

#[test]
fn a_flush_that_never_completes_and_a_latched_error_show_in_the_checks() {
    use crate::iommu::probe::CheckOutcome;
    let ram = HostRam::new(4 << 20);
    let m = fresh_model(&ram, T8110);
    let mm = m.clone();
    let mm2 = m.clone();
    let (c, _) = checks_on(T8110, &m, &ram, |hw| {
        // A translation fault latched before the checks: stream 3 pointed
        // at an empty table, one access.
        let root = T8110.bus + 0x20_0000;
        hw.program_stream(3, root, &hw.ident().format).unwrap();
        hw.flush(super::sids::SidSet::one(3)).unwrap();
        assert!(mm2.model_mut().translate_bus(3, 0x4000, true).is_none());
        hw.block_stream(3).unwrap();
    });
    assert_eq!(outcome_of(&c, "dart_error_register"), CheckOutcome::Pass);
    let notes = &c
        .iter()
        .find(|c| c.name == "dart_error_register")
        .unwrap()
        .notes;
    assert!(
        notes[0].contains("latched before the checks") && notes[0].contains("sid 0x3"),
        "{notes:?}"
    );
    // After bring-up, every command stays busy.
    let (c, _) = checks_on(T8110, &m, &ram, |_| {
        mm.model_mut().knobs.busy_polls = u32::MAX;
    });
    let f = c
        .iter()
        .find(|c| c.name == "dart_invalidation_completes")
        .unwrap();
    assert_eq!(f.outcome, CheckOutcome::Fail);
    assert!(f.notes[0].contains("TLB_OP"), "{:?}", f.notes);
}

/// The register checks' names, in order (`checks.rs`).
const CHECK_NAMES: [&str; 5] = [
    "dart_identify",
    "dart_lock_state",
    "dart_stream_readback",
    "dart_invalidation_completes",
    "dart_error_register",
];

/// pcie0_dart_1 of an M1 Mac mini (docs/hw/dart.md §10): the DART of the
/// USB-A xHCI, the most tractable master (boards/j274/README.md).
const J274_NODE: &str = "iommu@682008000";

/// What a j274 board run prints for an idle, unlocked t8103 DART with no
/// master the image can drive (`run_family`: the identification line, the
/// register checks, then every catalogue case as a SKIP), over the t8103
/// model; the first line after the plan says it is the host model.
fn model_ktap_no_master() -> String {
    let ram = HostRam::new(4 << 20);
    let pool = ram.pool_at_bus(T8103.bus);
    let m = fresh_model(&ram, T8103);
    let mut lines = Vec::new();
    let mut hw = bring_up_hw(
        Regs::new(ModelMmio::new(m.clone())),
        T8103.driver,
        clock(),
        J274_NODE,
        &mut |l| lines.push(l.to_string()),
    )
    .unwrap();
    let table = pool.alloc(PAGE).unwrap();
    let checks: Vec<_> = super::checks::run(&mut hw, Some(table.bus_addr().0), None)
        .into_iter()
        .map(crate::selftest::families::check_report)
        .collect();
    let names: Vec<&str> = iommu_cases::group::<Driver, PoolTables<'_>>(String::new())
        .cases
        .iter()
        .map(|c| c.name)
        .collect();
    let mut k = KtapWriter::new(String::new());
    let _ = k.start(1);
    let _ = k.diag("iommu_bringup host model: the DART driver over the t8103 DART model (src/iommu/dart/model.rs), no DMA master behind it, as on an M1 Mac mini; not a board");
    for l in &lines {
        let _ = k.diag(l);
    }
    let why = format!(
        "no DMA master this image can drive sits behind {J274_NODE}: only the checks that need none ran"
    );
    let t = report_group_skipped(&mut k, 1, J274_NODE, &checks, &names, &why);
    let _ = k.totals(t.pass, t.fail, t.skip);
    assert!(misuse(&m).is_empty(), "{:?}", misuse(&m));
    k.into_inner()
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_t8103_no_master() {
    let ktap = model_ktap_no_master();
    match std::env::var_os("IOMMU_BRINGUP_MODEL_KTAP") {
        Some(path) => std::fs::write(&path, &ktap)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{ktap}"),
    }
}

#[test]
fn with_no_master_the_checks_pass_and_every_dma_case_skips() {
    let ktap = model_ktap_no_master();
    for (i, name) in CHECK_NAMES.iter().enumerate() {
        assert!(
            ktap.contains(&format!("\n    ok {} {name}\n", i + 1)),
            "{ktap}"
        );
    }
    assert!(ktap.contains("    ok 6 map_dma_roundtrip # SKIP no DMA master this image can drive sits behind iommu@682008000"), "{ktap}");
    assert!(ktap.contains("\nok 1 iommu@682008000\n"), "{ktap}");
    assert!(!ktap.contains("not ok"), "{ktap}");
}
