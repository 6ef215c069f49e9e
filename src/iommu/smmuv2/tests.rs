//! The SMMUv2 driver against the SMMUv2 model (written from the
//! architecture, not from this driver): the whole catalogue on the MMU-500
//! and Qualcomm variants, the negative control's declared list, each
//! driver bug of issue 13 switched on through `hw::Bugs` and caught by at
//! least one case, the ATOS port, the walk cache under leaf-only
//! invalidation, and the KTAP a board would print.
//!
//! Addresses: the model's bus addresses are host addresses (its identity
//! window), and the DMA pool is host RAM (`HostRam::pool`), so tables and
//! buffers are reached at their host address; the AArch32 runs (40-bit
//! output) put the pool at a bus address below 1 TiB instead
//! (`HostRam::pool_at_bus` with the model's `Window`).

use super::adapter::{Smmuv2Iommu, SKIP_SYNC_FAILURES, SKIP_SYNC_FAILURES_TBU_PORT_ALONE};
use super::atos::AtosPort;
use super::hw::{Bugs, Smmuv2Hw};
use super::model::tbu::{TbuKnobs, TbuMisuse, TbuModel};
use super::model::{self, Knobs, Misuse, Refusal, Smmuv2, Variant as ModelVariant, Window};
use super::probe::{format_for, id_line, Smmuv2Probe};
use super::regs::Regs;
use super::tbu::{TbuBugs, TbuPort};
use super::variant::{self, Variant};
use crate::iommu::pgtable::{Codec, Granule, PoolTables, Prot};
use crate::iommu::probe::Probe;
use crate::iommu::{DmaMaster, Domain, Observe, StreamId};
use crate::mm::host_ram::HostRam;
use crate::mm::{Iova, PhysAddr};
use crate::mmio::{Mmio, ModelMmio};
use crate::selftest::families::{aperture_for, preflight_high, PREFLIGHT_LOW, STAGING_IOVA};
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

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

type Driver = Smmuv2Iommu<ModelMmio<Smmuv2>>;

/// A generic SMMUv2 with ATOS: the MMU-500-shaped model without the MMU-500
/// behaviour (no sACR/ACTLR, no prefetcher) and with ID0.ATOSNS = 0.
const SMMU_V2_ATOS: ModelVariant = ModelVariant {
    name: "SMMUv2 with ATOS",
    mmu500: false,
    sacr_reset: 0,
    ..model::MMU500.with_atos()
};

/// Which model instance, and the driver variant its compatible selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Part {
    /// `arm,mmu-500` on the ZynqMP-shaped model.
    #[default]
    Mmu500,
    /// `qcom,sdm845-smmu-500` on the Qualcomm model (hypervisor quirks,
    /// reserved banks, the display stream left valid).
    Qcom,
    /// `arm,smmu-v2` on the MMU-500 shape with ATOS (ID0.ATOSNS = 0).
    Atos,
}

impl Part {
    fn model(self) -> ModelVariant {
        match self {
            Part::Mmu500 => model::MMU500,
            Part::Qcom => model::QCOM_SDM845,
            Part::Atos => SMMU_V2_ATOS,
        }
    }

    fn driver(self) -> Variant {
        match self {
            Part::Mmu500 => variant::MMU_500,
            Part::Qcom => variant::QCOM_MMU_500,
            Part::Atos => variant::SMMU_V2,
        }
    }

    /// The streams of the two model masters: ZynqMP's ZDMA channels 0 and
    /// 1 (0x14e8, 0x14e9), or on Qualcomm SDM845's QUP GPI DMA (0x6d6) and
    /// QUP wrapper (0x16) — clear of the display stream the bootloader
    /// left (0x880 mask 0x8).
    fn streams(self) -> [u32; 2] {
        match self {
            Part::Qcom => [0x6d6, 0x16],
            _ => [0x14e8, 0x14e9],
        }
    }

    /// The board node a KTAP run is named after.
    fn node(self) -> &'static str {
        match self {
            Part::Qcom => "iommu@15000000",
            _ => "iommu@fd800000",
        }
    }
}

/// Which masters the catalogue runs with.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
enum Masters {
    /// Two model masters.
    #[default]
    TwoModel,
    /// One model master, then the ATOS port (`run_family`'s order).
    ModelAndAtos,
    /// The ATOS port alone.
    Atos,
    /// The TBU debug translation (ECATS) port alone, through a TBU model
    /// serving 0x1400..=0x17ff, as stream 0x17ff (SDM845's
    /// tbu@150d9000).
    Tbu,
}

/// The stream the TBU port probes as in these tests: the highest ID
/// tbu@150d9000 serves, which no SDM845 master uses.
const TBU_SID: u32 = 0x17ff;

#[derive(Clone, Copy, Default)]
struct Opts {
    part: Part,
    skip_sync: bool,
    bugs: Bugs,
    masters: Masters,
    /// Model knobs (`None`: the adversarial defaults).
    knobs: Option<Knobs>,
    /// The granule of the run.
    granule: Option<Granule>,
    /// Named after the board's node, with the image's apertures.
    node: bool,
    /// Mistakes of the TBU port (with [`Masters::Tbu`]).
    tbu_bugs: TbuBugs,
    /// The TBU model's choices (with [`Masters::Tbu`]).
    tbu_knobs: TbuKnobs,
}

/// A model of `part` with its driver reset over it (`bugs` on before the
/// reset, so reset-time bugs act).
fn rig(part: Part, knobs: Knobs, bugs: Bugs, name: &str) -> (Smmuv2, Driver) {
    let (hw, drv, _) = rig_with_notes(part, knobs, bugs, name);
    (hw, drv)
}

/// [`rig`], with the reset's notes (the bring-up's KTAP lines).
fn rig_with_notes(
    part: Part,
    knobs: Knobs,
    bugs: Bugs,
    name: &str,
) -> (Smmuv2, Driver, Vec<String>) {
    let hw = Smmuv2::new(part.model(), knobs);
    let mut drv = Smmuv2Hw::probe(Regs::new(hw.mmio()), part.driver(), clock()).unwrap();
    drv.bugs = bugs;
    let notes = drv.reset().unwrap();
    (hw, Smmuv2Iommu::new(drv, name, false, false), notes)
}

type Results = Vec<(&'static str, Outcome, Vec<String>)>;

std::thread_local! {
    /// What the TBU model saw the port do wrong in this thread's last
    /// [`with_catalogue`] (each test runs in its own thread).
    static TBU_MISUSE: core::cell::RefCell<Vec<TbuMisuse>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// [`TBU_MISUSE`] of the last run.
fn tbu_misuse() -> Vec<TbuMisuse> {
    TBU_MISUSE.with(|m| m.borrow().clone())
}

/// The catalogue's test context over the model.
type Test<'a> = IommuTest<'a, Driver, PoolTables<'a>>;

/// Sets up the catalogue over the model with `o`'s masters, one domain per
/// master as `run_family` makes them, then hands the context to `f`.
fn with_catalogue<R>(
    o: Opts,
    f: impl FnOnce(&mut Test<'_>, &Smmuv2, &[String]) -> R,
) -> (R, Smmuv2) {
    let ram = HostRam::new(32 << 20);
    let pool = ram.pool();
    let name = if o.node {
        o.part.node()
    } else {
        "smmuv2-model"
    };
    let (hw, mut iommu, notes) = rig_with_notes(o.part, o.knobs.unwrap_or_default(), o.bugs, name);
    let granule = o.granule.unwrap_or(Granule::K4);
    let lpae = format_for(iommu.hw().ids(), granule, false).unwrap();
    let input = lpae.input_bits();
    let page = granule.size();
    let mut domains = Vec::new();
    for i in 0..2 {
        domains.push(
            Domain::new(
                &mut iommu,
                lpae,
                PoolTables::new(&pool, false, |_, _| {}),
                aperture_for(i, input),
                APERTURE_SIZE,
            )
            .unwrap(),
        );
    }
    let [s0, s1] = o.part.streams();
    let mut m0 = ModelMaster::new(s0, "m0", hw.clone());
    let mut m1 = ModelMaster::new(s1, "m1", hw.clone());
    let port_name = format!("{} ATOS", name);
    let mut port = AtosPort::new(
        hw.mmio(),
        o.part.driver().version,
        clock(),
        &pool,
        &port_name,
    );
    let mut smmu_regs = Regs::new(hw.mmio());
    smmu_regs.set_layout(iommu.hw().ids().layout);
    let tbu_model = TbuModel::new(hw.clone(), TBU_SID, o.tbu_knobs).shared();
    let mut tbu = TbuPort::new(
        smmu_regs,
        *iommu.hw().ids(),
        tbu_model.mmio(),
        TBU_SID,
        clock(),
        &pool,
        &format!("{name} tbu@150d9000 ECATS"),
    );
    tbu.bugs = o.tbu_bugs;
    let staging: Vec<_> = (0..2).map(|_| pool.alloc(page).unwrap()).collect();
    let fixed: Vec<FixedMapping> = staging
        .iter()
        .enumerate()
        .map(|(i, b)| FixedMapping {
            phys: PhysAddr(b.bus_addr().0),
            iova: Iova(STAGING_IOVA + i as u64 * 0x10_0000),
            size: page,
        })
        .collect();
    let masters: Vec<&mut dyn DmaMaster> = match o.masters {
        Masters::TwoModel => alloc::vec![&mut m0, &mut m1],
        Masters::ModelAndAtos => {
            alloc::vec![&mut m0, port.as_mut().expect("a part with ATOS")]
        }
        Masters::Atos => alloc::vec![port.as_mut().expect("a part with ATOS")],
        Masters::Tbu => alloc::vec![&mut tbu],
    };
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &fixed, &pool, page).unwrap();
    let r = f(&mut t, &hw, &notes);
    drop(t);
    drop(tbu);
    TBU_MISUSE.with(|m| *m.borrow_mut() = tbu_model.model().misuse.clone());
    drop(staging);
    (r, hw)
}

/// The whole catalogue, as the image runs it.
fn run_catalogue(o: Opts) -> (Results, Smmuv2) {
    with_catalogue(o, |t, _, _| {
        t.iommu.set_skip_sync(o.skip_sync);
        let g = iommu_cases::group("smmuv2".to_string());
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

/// What the model says the driver did wrong.
fn misuse(hw: &Smmuv2) -> Vec<Misuse> {
    hw.model().misuse.clone()
}

/// Every case passes (none skips), and the model saw no misuse.
fn check_clean_run(r: &Results, hw: &Smmuv2) {
    for (name, outcome, diags) in r {
        assert_eq!(*outcome, Outcome::Pass, "{name}: {diags:?}");
    }
    assert_eq!(
        misuse(hw),
        [],
        "the driver did what the architecture rules out"
    );
}

#[test]
fn the_catalogue_passes_on_the_mmu500_model() {
    let (r, hw) = run_catalogue(Opts::default());
    check_clean_run(&r, &hw);
}

#[test]
fn the_catalogue_passes_on_the_qualcomm_model() {
    let (r, hw) = run_catalogue(Opts {
        part: Part::Qcom,
        ..Opts::default()
    });
    check_clean_run(&r, &hw);
    // What the hypervisor refused: the one BYPASS the S2CR-quirk detection
    // writes on purpose, to a group no stream matches (the highest free
    // one below 128), and nothing else.
    assert_eq!(hw.model().refusals, [Refusal::Bypass { index: 95 }]);
}

#[test]
fn skip_sync_fails_exactly_the_declared_list_on_both_variants() {
    for part in [Part::Mmu500, Part::Qcom] {
        let (r, _) = run_catalogue(Opts {
            part,
            skip_sync: true,
            ..Opts::default()
        });
        assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{part:?}: {r:?}");
    }
}

fn with_bug(part: Part, bugs: Bugs) -> Vec<&'static str> {
    let (r, _) = run_catalogue(Opts {
        part,
        bugs,
        ..Opts::default()
    });
    failed(&r)
}

#[test]
fn no_tlbsync_after_tlbiva_fails() {
    for part in [Part::Mmu500, Part::Qcom] {
        let bad = with_bug(
            part,
            Bugs {
                no_tlbsync_after_tlbiva: true,
                ..Bugs::default()
            },
        );
        assert!(
            bad.contains(&"unmap_invalidate_blocks_dma"),
            "{part:?}: {bad:?}"
        );
    }
}

#[test]
fn tlbiva_without_the_asid_fails() {
    for part in [Part::Mmu500, Part::Qcom] {
        let bad = with_bug(
            part,
            Bugs {
                tlbiva_without_asid: true,
                ..Bugs::default()
            },
        );
        assert!(
            bad.contains(&"unmap_invalidate_blocks_dma"),
            "{part:?}: {bad:?}"
        );
    }
}

#[test]
fn an_inverted_smr_mask_fails() {
    for part in [Part::Mmu500, Part::Qcom] {
        let bad = with_bug(
            part,
            Bugs {
                inverted_smr_mask: true,
                ..Bugs::default()
            },
        );
        assert!(!bad.is_empty(), "{part:?}");
    }
}

#[test]
fn bypass_on_the_qualcomm_variant_fails() {
    // The firmware stores BYPASS as FAULT: the detached stream raises
    // invalid-context faults, which the driver reports as problems.
    let bad = with_bug(
        Part::Qcom,
        Bugs {
            bypass_on_detach: true,
            ..Bugs::default()
        },
    );
    assert_eq!(bad, ["default_deny"]);
    // Where BYPASS is honoured (Arm's MMU-500) the detached stream would
    // reach memory untranslated: the model says so for the same bug
    // (checked on the translation, not by a DMA to an address outside
    // the test's RAM).
    let (hw, mut iommu) = rig(
        Part::Mmu500,
        Knobs::default(),
        Bugs {
            bypass_on_detach: true,
            ..Bugs::default()
        },
        "m",
    );
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
    let mut d = Domain::new(
        &mut iommu,
        lpae,
        PoolTables::new(&pool, false, |_, _| {}),
        Iova(0x1_4000_0000),
        APERTURE_SIZE,
    )
    .unwrap();
    d.attach(&mut iommu, StreamId(0x14e8)).unwrap();
    d.detach(&mut iommu, StreamId(0x14e8)).unwrap();
    use crate::testkit::master::Translate;
    assert_eq!(hw.translate(0x14e8, 0x1234_5000, true), Some(0x1234_5000));
}

#[test]
fn the_prefetcher_left_on_with_the_models_prefetch_fails() {
    let bad = with_bug(
        Part::Mmu500,
        Bugs {
            prefetcher_left_on: true,
            ..Bugs::default()
        },
    );
    assert!(bad.contains(&"map_next_to_walked"), "{bad:?}");
    // The same bug with the model's prefetcher off passes: the case sees
    // the prefetch, not the register.
    let (r, hw) = run_catalogue(Opts {
        bugs: Bugs {
            prefetcher_left_on: true,
            ..Bugs::default()
        },
        knobs: Some(Knobs {
            prefetch: false,
            ..Knobs::default()
        }),
        ..Opts::default()
    });
    check_clean_run(&r, &hw);
}

#[test]
fn zero_stores_to_write_anything_registers_fail_on_the_qualcomm_variant() {
    let (r, hw) = run_catalogue(Opts {
        part: Part::Qcom,
        bugs: Bugs {
            zero_write_anything: true,
            ..Bugs::default()
        },
        ..Opts::default()
    });
    assert!(failed(&r).contains(&"unmap_invalidate_blocks_dma"), "{r:?}");
    assert!(hw
        .model()
        .misuse
        .iter()
        .any(|u| matches!(u, Misuse::ZeroStoreDropped { .. })));
}

#[test]
fn without_the_models_walk_cache_skip_sync_fails_only_the_invalidation_cases() {
    for part in [Part::Mmu500, Part::Qcom] {
        let (r, _) = run_catalogue(Opts {
            part,
            skip_sync: true,
            knobs: Some(Knobs {
                walk_cache: false,
                ..Knobs::default()
            }),
            ..Opts::default()
        });
        assert_eq!(
            failed(&r),
            super::SKIP_SYNC_FAILURES_WITHOUT_WALK_CACHE,
            "{part:?}"
        );
    }
}

#[test]
fn a_freed_table_with_only_a_leaf_invalidation_fails() {
    // The walk cache keeps pointing at the freed table.
    let bad = with_bug(
        Part::Mmu500,
        Bugs {
            leaf_only_when_freeing: true,
            ..Bugs::default()
        },
    );
    // The freed table's walk entry survives: the case that frees one whole
    // table fails, and so does every case that maps into the span of the
    // tables `map_dma_roundtrip` freed.
    assert!(bad.contains(&"walk_cache_invalidate"), "{bad:?}");
    assert!(bad.contains(&"unmap_stale_window"), "{bad:?}");
}

/// TLBIVAL leaves the walk cache as the architecture allows (only the last
/// level must go), and the driver's TLBIVA when the table is freed drops
/// the walk entry, so a fresh table in the same span is walked.
#[test]
fn tlbival_keeps_the_walk_cache_and_a_freed_table_gets_tlbiva() {
    for bugs in [
        Bugs::default(),
        Bugs {
            leaf_only_when_freeing: true,
            ..Bugs::default()
        },
    ] {
        let ram = HostRam::new(8 << 20);
        let pool = ram.pool();
        let (hw, mut iommu) = rig(Part::Mmu500, Knobs::default(), bugs, "m");
        let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
        let span = 0x20_0000u64;
        let base = Iova(0x1_4000_0000);
        let mut d = Domain::new(
            &mut iommu,
            lpae,
            PoolTables::new(&pool, false, |_, _| {}),
            base,
            APERTURE_SIZE,
        )
        .unwrap();
        let mut m = hw.master(0x14e8, "m0");
        d.attach(&mut iommu, m.stream()).unwrap();
        let buf = pool.alloc(4 * 4096).unwrap();
        let pa = PhysAddr(buf.bus_addr().0);
        let (a, b) = (base, base + 4096);
        d.map(&mut iommu, a, pa, 4096, Prot::rw()).unwrap();
        d.map(&mut iommu, b, pa + 4096, 4096, Prot::rw()).unwrap();
        // A page in the next 2 MiB span keeps the level-2 table live, so
        // only the last-level table is freed below.
        d.map(&mut iommu, base + span, pa + 0x2000, 4096, Prot::rw())
            .unwrap();
        let t = core::time::Duration::from_millis(1);
        m.write(a, &[1; 8], t).unwrap();
        let covers = |hw: &Smmuv2, v: Iova| {
            hw.model()
                .walk_entries()
                .iter()
                .any(|w| w.covers(v.0 & ((1 << 49) - 1)) && w.level == 3)
        };
        assert!(covers(&hw, a), "the walk cached the last-level table");
        // Leaf-only: TLBIVAL, the walk entry stays, the page is gone.
        let before = iommu.hw().stats();
        d.unmap(&mut iommu, a, 4096).unwrap();
        let after = iommu.hw().stats();
        assert_eq!(
            (after.tlbival - before.tlbival, after.tlbiva - before.tlbiva),
            (1, 0)
        );
        assert!(covers(&hw, a), "TLBIVAL may leave the walk cache");
        assert!(
            m.write(a, &[2; 8], t).is_err(),
            "the unmapped page is blocked"
        );
        m.write(b, &[3; 8], t).unwrap();
        // The table is freed with the last page: TLBIVA per page of its
        // span (the bug: TLBIVAL), and a new table in the same span must
        // be walked.
        let before = iommu.hw().stats();
        d.unmap(&mut iommu, b, 4096).unwrap();
        let after = iommu.hw().stats();
        // The freed table's page goes back to the pool: taken now as a
        // data page (zeroes), the new table gets another page, and a walk
        // through a stale pointer would read the data page as descriptors.
        let reused = pool.alloc(4096).unwrap();
        reused.fill(0);
        let c = base + 0x3000;
        d.map(&mut iommu, c, pa + 0x3000, 4096, Prot::rw()).unwrap();
        let fresh = m.write(c, &[4; 8], t);
        let _ = iommu.drain_faults();
        if bugs.leaf_only_when_freeing {
            assert_eq!(after.tlbiva - before.tlbiva, 0);
            assert!(covers(&hw, a), "{bugs:?}");
            assert!(fresh.is_err(), "the stale walk entry hides the new table");
        } else {
            assert_eq!(after.tlbiva - before.tlbiva, span / 4096);
            fresh.unwrap();
        }
        assert!(misuse(&hw).is_empty(), "{:?}", misuse(&hw));
    }
}

#[test]
fn the_catalogue_passes_in_other_shapes() {
    // 64 KiB pages; extended stream IDs (EXIDENABLE: the SMR valid bit
    // moves to S2CR.EXIDVALID); ATOS present but unused.
    for o in [
        Opts {
            granule: Some(Granule::K64),
            ..Opts::default()
        },
        Opts {
            part: Part::Qcom,
            granule: Some(Granule::K64),
            ..Opts::default()
        },
        Opts {
            part: Part::Atos,
            ..Opts::default()
        },
    ] {
        let (r, hw) = run_catalogue(o);
        if o.granule == Some(Granule::K64) {
            // A 64K last-level table spans 512 MiB, more than the test's
            // 32 MiB pool can back.
            let (_, w, _) = r
                .iter()
                .find(|(n, _, _)| *n == "walk_cache_invalidate")
                .unwrap();
            assert!(matches!(w, Outcome::Skip(why) if why.contains("quarter of the DMA pool")));
            let rest: Results = r
                .into_iter()
                .filter(|(n, _, _)| *n != "walk_cache_invalidate")
                .collect();
            check_clean_run(&rest, &hw);
        } else {
            check_clean_run(&r, &hw);
        }
    }
}

#[test]
fn the_catalogue_passes_with_extended_stream_ids() {
    let ram = HostRam::new(32 << 20);
    let _ = &ram;
    let hw = Smmuv2::new(model::MMU500.with_exids(), Knobs::default());
    let mut drv = Smmuv2Hw::probe(Regs::new(hw.mmio()), variant::MMU_500, clock()).unwrap();
    drv.reset().unwrap();
    assert_ne!(hw.model().scr0() & 1 << 3, 0, "EXIDENABLE set");
    let mut iommu = Smmuv2Iommu::new(drv, "exids", false, false);
    let pool = ram.pool();
    let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
    let mut d = Domain::new(
        &mut iommu,
        lpae,
        PoolTables::new(&pool, false, |_, _| {}),
        Iova(0x1_4000_0000),
        APERTURE_SIZE,
    )
    .unwrap();
    // A 16-bit stream ID, which the 15-bit form cannot hold.
    let mut m = hw.master(0x94e8, "m");
    d.attach(&mut iommu, m.stream()).unwrap();
    let buf = pool.alloc(4096).unwrap();
    d.map(
        &mut iommu,
        Iova(0x1_4000_0000),
        PhysAddr(buf.bus_addr().0),
        4096,
        Prot::rw(),
    )
    .unwrap();
    let t = core::time::Duration::from_millis(1);
    m.write(Iova(0x1_4000_0000), &[7; 8], t).unwrap();
    let mut back = [0u8; 8];
    buf.read(0, &mut back);
    assert_eq!(back, [7; 8]);
    // The 15-bit alias of the stream is another stream: unmatched.
    let mut alias = hw.master(0x14e8, "alias");
    assert!(alias.write(Iova(0x1_4000_0000), &[8; 8], t).is_err());
    d.detach(&mut iommu, m.stream()).unwrap();
    assert!(m.write(Iova(0x1_4000_0000), &[9; 8], t).is_err());
    assert!(misuse(&hw).is_empty(), "{:?}", misuse(&hw));
}

/// An SMMUv2 without AArch64 4 KiB tables: the driver programs AArch32
/// long-descriptor contexts (32-bit input, 40-bit output, 8-bit ASIDs,
/// 32-bit TLBI operands), and the catalogue passes with both domains below
/// 4 GiB.  The pool sits at a bus address below 1 TiB through the model's
/// window.
#[test]
fn the_catalogue_passes_with_aarch32_long_descriptor_contexts() {
    const BUS: u64 = 0x80_0000_0000;
    let ram = HostRam::new(32 << 20);
    let pool = ram.pool_at_bus(BUS);
    let mv = ModelVariant {
        granule_4k: false,
        ..SMMU_V2_ATOS
    };
    let hw = Smmuv2::with_window(
        mv,
        Knobs::default(),
        Window {
            bus: BUS,
            host: ram.range().base.as_u64(),
        },
    );
    let mut drv = Smmuv2Hw::probe(Regs::new(hw.mmio()), variant::SMMU_V2, clock()).unwrap();
    drv.reset().unwrap();
    let mut iommu = Smmuv2Iommu::new(drv, "aarch32", false, false);
    let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
    assert_eq!((lpae.input_bits(), lpae.output_bits()), (32, 40));
    let mut domains = Vec::new();
    for i in 0..2 {
        domains.push(
            Domain::new(
                &mut iommu,
                lpae,
                PoolTables::new(&pool, false, |_, _| {}),
                aperture_for(i, 32),
                APERTURE_SIZE,
            )
            .unwrap(),
        );
    }
    let staging = pool.alloc(4096).unwrap();
    let fixed = [FixedMapping {
        phys: PhysAddr(staging.bus_addr().0),
        iova: Iova(STAGING_IOVA),
        size: 4096,
    }];
    let mut m0 = hw.master(0x14e8, "m0");
    let mut m1 = hw.master(0x14e9, "m1");
    let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &fixed, &pool, 4096).unwrap();
    let g = iommu_cases::group("aarch32".to_string());
    for i in 0..g.cases.len() {
        let r = run_case(&g, i, &mut t);
        assert_eq!(
            r.outcome,
            Outcome::Pass,
            "{}: {:?}",
            g.cases[i].name,
            r.diags
        );
    }
    let cfg = t.iommu.hw().bank_config(0).unwrap();
    assert_eq!(cfg.format, super::ids::CbFormat::AArch32Lpae);
    drop(t);
    assert!(misuse(&hw).is_empty(), "{:?}", misuse(&hw));
}

#[test]
fn the_catalogue_with_a_model_master_and_the_atos_port_passes() {
    let (r, hw) = run_catalogue(Opts {
        part: Part::Atos,
        masters: Masters::ModelAndAtos,
        ..Opts::default()
    });
    check_clean_run(&r, &hw);
}

/// The ATOS port alone (a board with no master driver).  The model's ATOS
/// uses the TLB (its default, the open question of docs/hw/smmuv2.md §9):
/// the stale-window cases then see the port's stale translation and say so
/// in KTAP — evidence of caching; with ATOS walking fresh every time they
/// SKIP for want of it.
#[test]
fn the_catalogue_with_the_atos_port_alone() {
    let (r, hw) = run_catalogue(Opts {
        part: Part::Atos,
        masters: Masters::Atos,
        ..Opts::default()
    });
    assert!(misuse(&hw).is_empty(), "{:?}", misuse(&hw));
    assert!(failed(&r).is_empty(), "{r:?}");
    assert_eq!(skipped(&r), ["asid_invalidate", "isolation"], "{r:?}");
    let (_, _, d) = r
        .iter()
        .find(|(n, _, _)| *n == "unmap_stale_window")
        .unwrap();
    assert!(
        d.iter()
            .any(|d| d.contains("through the cached translation")),
        "{d:?}"
    );
    // The port's faults are recorded under its own stream.
    let (_, o, d) = r.iter().find(|(n, _, _)| *n == "fault_record").unwrap();
    assert_eq!(*o, Outcome::Pass, "{d:?}");
    assert!(d.iter().any(|d| d.contains("sid 0x7fff")), "{d:?}");
    // ATOS that never uses the TLB: no stale window to show.
    let (r, _) = run_catalogue(Opts {
        part: Part::Atos,
        masters: Masters::Atos,
        knobs: Some(Knobs {
            atos_uses_tlb: false,
            ..Knobs::default()
        }),
        ..Opts::default()
    });
    assert!(failed(&r).is_empty(), "{r:?}");
    let (_, o, _) = r
        .iter()
        .find(|(n, _, _)| *n == "unmap_stale_window")
        .unwrap();
    assert!(
        matches!(o, Outcome::Skip(why) if why.contains("could not establish caching")),
        "{o:?}"
    );
}

#[test]
fn skip_sync_with_a_model_master_and_the_atos_port_fails_exactly_the_declared_list() {
    let (r, _) = run_catalogue(Opts {
        part: Part::Atos,
        masters: Masters::ModelAndAtos,
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{r:?}");
}

#[test]
fn the_atos_port_is_a_self_master_only_where_atos_may_exist() {
    assert!(Smmuv2Probe::has_self_master("arm,smmu-v2"));
    assert!(Smmuv2Probe::has_self_master("qcom,smmu-v2"));
    assert!(!Smmuv2Probe::has_self_master("arm,mmu-500"));
    assert!(!Smmuv2Probe::has_self_master("qcom,sdm845-smmu-500"));
    assert!(!Smmuv2Probe::has_self_master("arm,mmu-401"));
    // And only where ID0 says so: MMU-500 reports ATOSNS = 1.
    let hw = Smmuv2::new(model::MMU500, Knobs::default());
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let id0 = AtosPort::new(hw.mmio(), variant::SMMU_V2.version, clock(), &pool, "p")
        .err()
        .unwrap();
    assert_ne!(id0 & 1 << 26, 0);
}

/// The catalogue on `part`'s model with two model masters, printed as the
/// KTAP a board run prints (`selftest::families::run_family`: bring-up
/// line, skip-sync note, preflight notes, one subtest group named after the
/// node) inside a top-level run of one group with its totals.  The first
/// line after the plan says it is the host model, not a board.
fn model_ktap(part: Part, skip_sync: bool) -> String {
    model_ktap_with(Opts {
        part,
        skip_sync,
        ..Opts::default()
    })
}

/// [`model_ktap`] with `o`'s masters (the node's name and apertures).
fn model_ktap_with(o: Opts) -> String {
    let o = Opts { node: true, ..o };
    let (part, skip_sync) = (o.part, o.skip_sync);
    let masters = match o.masters {
        Masters::Tbu => "the TBU debug translation port alone (src/iommu/smmuv2/model/tbu.rs, from Linux's arm-smmu-qcom-debug.c, as the driver is)",
        _ => "two model masters",
    };
    let node = part.node();
    let (ktap, hw) = with_catalogue(o, |t, hw, notes| {
        let mut k = KtapWriter::new(String::new());
        let _ = k.start(1);
        let _ = k.diag(&format!(
            "iommu_bringup host model: the SMMUv2 driver ({}) over the model {} (src/iommu/smmuv2/model.rs, written from IHI 0062 and the MMU-500 TRM), {masters}; not a board",
            part.driver().name,
            hw.model().variant.name
        ));
        let _ = k.diag(&id_line(node, &part.driver(), t.iommu.hw().ids()));
        for n in notes {
            let _ = k.diag(&format!("{node}: {n}"));
        }
        if skip_sync {
            let _ = k.diag(&format!(
                "iommu_bringup.inject=skip-sync: from the first case on, the driver drops every {} (negative control)",
                Smmuv2Probe::INVALIDATION
            ));
        }
        let high = Iova(preflight_high(40));
        for note in preflight(t, &[Iova(PREFLIGHT_LOW), high]).unwrap() {
            let _ = k.diag(&note);
        }
        t.iommu.set_skip_sync(skip_sync);
        let g = iommu_cases::group(node.to_string());
        let totals = run_group(&mut k, 1, &g, t);
        let _ = k.totals(totals.pass, totals.fail, totals.skip);
        k.into_inner()
    });
    assert_eq!(
        misuse(&hw),
        [],
        "the driver did what the architecture rules out"
    );
    assert_eq!(tbu_misuse(), [], "the TBU port broke Linux's sequence");
    ktap
}

/// Writes [`model_ktap_with`] for the TBU port alone on the Qualcomm
/// model, like [`write_model_ktap`].
fn write_tbu_model_ktap(skip_sync: bool) {
    let ktap = model_ktap_with(Opts {
        part: Part::Qcom,
        masters: Masters::Tbu,
        skip_sync,
        ..Opts::default()
    });
    match std::env::var_os("IOMMU_BRINGUP_MODEL_KTAP") {
        Some(path) => std::fs::write(&path, &ktap)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{ktap}"),
    }
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_qcom_tbu() {
    write_tbu_model_ktap(false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_qcom_tbu_skip_sync() {
    write_tbu_model_ktap(true);
}

/// Writes [`model_ktap`] to the file `IOMMU_BRINGUP_MODEL_KTAP` names
/// (stdout when unset).  Run by `cargo xtask test` (stages `model: SMMUv2
/// …`), which judges the file like a board's console.
fn write_model_ktap(part: Part, skip_sync: bool) {
    let ktap = model_ktap(part, skip_sync);
    match std::env::var_os("IOMMU_BRINGUP_MODEL_KTAP") {
        Some(path) => std::fs::write(&path, &ktap)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{ktap}"),
    }
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_mmu500() {
    write_model_ktap(Part::Mmu500, false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_mmu500_skip_sync() {
    write_model_ktap(Part::Mmu500, true);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_qcom() {
    write_model_ktap(Part::Qcom, false);
}

#[test]
#[ignore = "cargo xtask test runs it: writes KTAP to $IOMMU_BRINGUP_MODEL_KTAP"]
fn model_ktap_qcom_skip_sync() {
    write_model_ktap(Part::Qcom, true);
}

/// The KTAP run is the catalogue run: same outcomes, one group named after
/// the node.
#[test]
fn model_ktap_reports_what_the_catalogue_run_found() {
    for part in [Part::Mmu500, Part::Qcom] {
        for skip_sync in [false, true] {
            let ktap = model_ktap(part, skip_sync);
            let (r, _) = run_catalogue(Opts {
                part,
                skip_sync,
                ..Opts::default()
            });
            assert!(
                ktap.starts_with("KTAP version 1\n1..1\n# iommu_bringup host model"),
                "{ktap}"
            );
            let node = part.node();
            assert!(ktap.contains(&format!("    # Subtest: {node}\n")), "{ktap}");
            for (i, (name, outcome, _)) in r.iter().enumerate() {
                let line = match outcome {
                    Outcome::Pass => format!("\n    ok {} {name}\n", i + 1),
                    Outcome::Fail => format!("\n    not ok {} {name}\n", i + 1),
                    Outcome::Skip(why) => format!("\n    ok {} {name} # SKIP {why}\n", i + 1),
                };
                assert!(ktap.contains(&line), "{line:?} not in\n{ktap}");
            }
            let group = if skip_sync { "not ok 1" } else { "ok 1" };
            assert!(ktap.contains(&format!("\n{group} {node}\n")), "{ktap}");
        }
    }
}

/// The ZCU102 on the host: the driver over the ZynqMP-shaped MMU-500 model
/// with two ZDMA channels (the ZDMA driver over its channel model, each
/// channel's DMA translated by the SMMU model) as the masters — the
/// pairing `boards/zcu102` uses.  Every case passes; under skip-sync
/// exactly the declared list fails.  Models only, not a ZynqMP.
#[test]
fn the_catalogue_passes_with_two_zdma_channels_behind_the_mmu500_model() {
    use crate::dma::zdma::model::ZdmaModel;
    use crate::dma::zdma::{Zdma, ZdmaMaster};
    fn no_barrier() {}
    for skip_sync in [false, true] {
        let ram = HostRam::new(32 << 20);
        let pool = ram.pool();
        let (hw, mut iommu) = rig(Part::Mmu500, Knobs::default(), Bugs::default(), "zcu102");
        let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
        let domains: Vec<_> = (0..2)
            .map(|i| {
                Domain::new(
                    &mut iommu,
                    lpae,
                    PoolTables::new(&pool, false, |_, _| {}),
                    aperture_for(i, lpae.input_bits()),
                    APERTURE_SIZE,
                )
                .unwrap()
            })
            .collect();
        let mut masters = Vec::new();
        let mut fixed = Vec::new();
        for (i, sid) in [0x14e8u32, 0x14e9].into_iter().enumerate() {
            let zdma = Zdma::new(ModelMmio::new(ZdmaModel::new(hw.clone(), sid)), clock()).unwrap();
            let staging = pool.alloc(4096).unwrap();
            let iova = Iova(STAGING_IOVA + i as u64 * 0x10_0000);
            fixed.push(FixedMapping {
                phys: staging.phys(),
                iova,
                size: 4096,
            });
            masters.push(ZdmaMaster::new(
                zdma,
                format!("zdma{i}"),
                StreamId(sid),
                staging,
                iova,
                no_barrier,
            ));
        }
        let dyn_masters: Vec<&mut dyn DmaMaster> = masters
            .iter_mut()
            .map(|m| m as &mut dyn DmaMaster)
            .collect();
        let mut t =
            IommuTest::setup(&mut iommu, dyn_masters, domains, &fixed, &pool, 4096).unwrap();
        t.iommu.set_skip_sync(skip_sync);
        let g = iommu_cases::group("iommu@fd800000".to_string());
        let r: Results = (0..g.cases.len())
            .map(|i| {
                let r = run_case(&g, i, &mut t);
                (g.cases[i].name, r.outcome, r.diags)
            })
            .collect();
        drop(t);
        if skip_sync {
            assert_eq!(failed(&r), SKIP_SYNC_FAILURES, "{r:?}");
        } else {
            check_clean_run(&r, &hw);
        }
    }
}

// ---- the Qualcomm TBU debug translation (ECATS) as the self master ----

fn tbu_run(o: Opts) -> (Results, Smmuv2) {
    run_catalogue(Opts {
        part: Part::Qcom,
        masters: Masters::Tbu,
        ..o
    })
}

/// The Qualcomm MMU-500 model with a TBU and no other master (db845c's
/// case): the catalogue runs through ECATS.  The model's probe uses the
/// TLB, so the stale-window cases see the stale translation; isolation
/// and asid_invalidate need two masters; a read-only mapping cannot be
/// judged through a probe without a direction.
#[test]
fn the_catalogue_through_the_tbu_port_alone() {
    let (r, hw) = tbu_run(Opts::default());
    assert_eq!(misuse(&hw), [], "SMMU misuse");
    assert_eq!(tbu_misuse(), [], "TBU misuse");
    assert!(failed(&r).is_empty(), "{r:?}");
    assert_eq!(
        skipped(&r),
        ["asid_invalidate", "isolation", "readonly_blocks_write"],
        "{r:?}"
    );
    let (_, _, d) = r
        .iter()
        .find(|(n, _, _)| *n == "unmap_stale_window")
        .unwrap();
    assert!(
        d.iter()
            .any(|d| d.contains("through the cached translation")),
        "{d:?}"
    );
    let (_, o, d) = r.iter().find(|(n, _, _)| *n == "fault_record").unwrap();
    assert_eq!(*o, Outcome::Pass, "{d:?}");
    assert!(d.iter().any(|d| d.contains("sid 0x17ff")), "{d:?}");
    // The detach verdict says where it comes from.
    let (_, o, d) = r.iter().find(|(n, _, _)| *n == "default_deny").unwrap();
    assert_eq!(*o, Outcome::Pass, "{d:?}");
    assert!(
        d.iter()
            .any(|d| d.contains("judged from the SMR/S2CR registers")),
        "{d:?}"
    );
}

#[test]
fn tbu_probes_that_walk_fresh_leave_the_stale_window_unproven() {
    let (r, _) = tbu_run(Opts {
        knobs: Some(Knobs {
            atos_uses_tlb: false,
            ..Knobs::default()
        }),
        ..Opts::default()
    });
    assert!(failed(&r).is_empty(), "{r:?}");
    let (_, o, _) = r
        .iter()
        .find(|(n, _, _)| *n == "unmap_stale_window")
        .unwrap();
    assert!(
        matches!(o, Outcome::Skip(why) if why.contains("could not establish caching")),
        "{o:?}"
    );
}

/// The negative control through the TBU port alone fails exactly the
/// declared list: the full list less the cases that SKIP without a second
/// master or a direction.
#[test]
fn skip_sync_through_the_tbu_port_alone_fails_exactly_the_declared_list() {
    let (r, _) = tbu_run(Opts {
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), SKIP_SYNC_FAILURES_TBU_PORT_ALONE, "{r:?}");
    let expected: Vec<&str> = SKIP_SYNC_FAILURES
        .iter()
        .copied()
        .filter(|c| !["asid_invalidate", "isolation", "readonly_blocks_write"].contains(c))
        .collect();
    assert_eq!(SKIP_SYNC_FAILURES_TBU_PORT_ALONE, expected);
}

/// Each mistake of issue 13's list for the TBU port is caught: by the
/// model (Linux's sequence broken) and by the catalogue (cases fail).
#[test]
fn tbu_port_mistakes_are_caught() {
    let run = |bugs| {
        let (r, _) = tbu_run(Opts {
            tbu_bugs: bugs,
            ..Opts::default()
        });
        (failed(&r), tbu_misuse())
    };
    // No halt before the trigger: the model refuses every probe.
    let (f, m) = run(TbuBugs {
        no_halt: true,
        ..TbuBugs::default()
    });
    assert!(f.contains(&"map_dma_roundtrip"), "{f:?}");
    assert!(
        m.iter()
            .any(|m| matches!(m, TbuMisuse::TriggerNotHalted { .. })),
        "{m:?}"
    );
    // The stream ID never written: the model refuses, and the probe would
    // run as the range's first stream, which nothing maps.
    let (f, m) = run(TbuBugs {
        no_sid: true,
        ..TbuBugs::default()
    });
    assert!(f.contains(&"map_dma_roundtrip"), "{f:?}");
    assert!(m.contains(&TbuMisuse::TriggerWithoutSid), "{m:?}");
    // DEBUG_PAR.FAULT ignored: the stale PA bits of the last probe are
    // used, so DMA that must be blocked lands.
    let (f, m) = run(TbuBugs {
        ignore_fault: true,
        ..TbuBugs::default()
    });
    assert_eq!(m, [], "the sequence itself is right");
    assert!(f.contains(&"unmap_invalidate_blocks_dma"), "{f:?}");
}

/// A TBU that never acknowledges the halt, or a probe that never ends, is
/// a bounded error naming the register, and the halt is released.
#[test]
fn tbu_waits_are_bounded_and_name_the_register() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    for knobs in [
        TbuKnobs {
            never_ack: true,
            ..TbuKnobs::default()
        },
        TbuKnobs {
            stuck: true,
            ..TbuKnobs::default()
        },
    ] {
        let hw = Smmuv2::new(model::QCOM_SDM845, Knobs::default());
        let ids = *Smmuv2Hw::probe(Regs::new(hw.mmio()), variant::QCOM_MMU_500, clock())
            .unwrap()
            .ids();
        let tbu = TbuModel::new(hw.clone(), TBU_SID, knobs).shared();
        let mut regs = Regs::new(hw.mmio());
        regs.set_layout(ids.layout);
        let port = TbuPort::new(regs, ids, tbu.mmio(), TBU_SID, clock(), &pool, "t");
        // Reset left the stream unmatched: map it to bank 0 by hand.
        let mut drv =
            Smmuv2Hw::probe(Regs::new(hw.mmio()), variant::QCOM_MMU_500, clock()).unwrap();
        drv.reset().unwrap();
        let cb = drv.alloc_bank().unwrap();
        drv.map_stream(TBU_SID, 0, cb).unwrap();
        let e = port.translate(0x1000).unwrap_err();
        let text = format!("{e}");
        if knobs.never_ack {
            assert!(
                matches!(e, super::tbu::TbuError::HaltTimeout { .. }),
                "{e:?}"
            );
            assert!(text.contains("DEBUG_SR_HALT_ACK (+0x20)"), "{text}");
            assert_eq!(tbu.model().misuse, []);
        } else {
            assert!(
                matches!(e, super::tbu::TbuError::EcatsTimeout { .. }),
                "{e:?}"
            );
            assert!(text.contains("DEBUG_PAR (+0x28)"), "{text}");
        }
        // Whatever happened, the TBU is not left halted.
        let tbu_ref = tbu.clone();
        assert_eq!(
            tbu_ref.mmio().read32(super::tbu::reg::SID_HALT) & super::tbu::reg::HALT,
            0
        );
    }
}

/// A TBU node as the DT gives it: `tbu@150d9000`'s range and a 4 KiB
/// `reg`, ungated.
fn tbu_node(first_sid: u32, count: u32, reg_size: u64) -> crate::platform::dt::tbus::TbuNode {
    crate::platform::dt::tbus::TbuNode {
        name: "tbu@150d9000".into(),
        compatible: "qcom,sdm845-tbu".into(),
        reg: Ok(crate::mm::PhysRange::new(PhysAddr(0x150d_9000), reg_size)),
        first_sid,
        count,
        power_domains: false,
        clocks: false,
        interconnects: true,
        enabled: true,
    }
}

/// Stream ranges and `reg`s the DT gets wrong make a TBU unusable with a
/// reason, never a panic: `first + count - 1` must not overflow, and a
/// `reg` smaller than the debug registers would fail the MMIO layer's
/// bounds check (a panic) at the first access.
#[test]
fn tbu_nodes_the_dt_gets_wrong_are_unusable_not_a_panic() {
    use super::tbu::{choose, unusable};
    use crate::platform::bootargs::QcomTbu;
    use crate::platform::dt::tbus::PortFacts;
    let ok = tbu_node(0x1400, 0x400, 0x1000);
    assert_eq!(unusable(&ok, QcomTbu::Ungated), None);
    for (t, why) in [
        (tbu_node(u32::MAX, 1, 0x1000), "wider than the 16 bits"),
        (tbu_node(u32::MAX, u32::MAX, 0x1000), "one 10-bit"),
        (tbu_node(0x1400, 0, 0x1000), "one 10-bit"),
        (tbu_node(0x1_0000, 0x400, 0x1000), "wider than the 16 bits"),
        (tbu_node(0x1400, 0x400, 0x30), "smaller than the 0x38 bytes"),
    ] {
        let got = unusable(&t, QcomTbu::All);
        assert!(got.is_some_and(|w| w.contains(why)), "{t:?}: {got:?}");
        let tbus = [t];
        let facts = PortFacts {
            compatible: "qcom,sdm845-smmu-500",
            tbus: &tbus,
            dt_streams: &[],
            qcom_tbu: QcomTbu::All,
        };
        let e = choose(&facts).unwrap_err();
        assert!(format!("{e}").contains(why), "{e}");
    }
    assert_eq!(
        unusable(&tbu_node(0x1400, 0x400, 0x38), QcomTbu::Ungated),
        None
    );
}
