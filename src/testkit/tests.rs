//! The case catalogue, unchanged, over toy IOMMUs of several shapes: every
//! capability, the least capable (one shared context, whole-IOMMU
//! invalidation, no configuration cache, a detach that bypasses), and the
//! shape of QEMU's SMMUv3 — each as is and under the `skip-sync` negative
//! control, which must fail exactly the list the toy's driver declares.
//! Also: the catalogue's teeth (a dead master, a fake range invalidation, a
//! leaf-only driver with a walk cache) and the deferred-sync table rule.

use super::master::ModelMaster;
use super::ram::{arena, Arena, HostRam};
use super::toy::{ToyIommu, ToyPort, ToyShape, TOY_IAS};
use crate::iommu::pgtable::{Granule, Lpae, Prot};
use crate::iommu::{DmaMaster, Domain, Iommu, Observe, StreamId};
use crate::mm::{Iova, PhysAddr};
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::runner::{run_case, run_group, Outcome};
use crate::selftest::setup_error::{FaultSeen, SetupError};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The QEMU SMMUv3 shape: everything but a walk cache.
const QEMU_LIKE: ToyShape = ToyShape {
    walk_cache: false,
    ..ToyShape::FULL
};

#[derive(Clone, Copy)]
struct Opts {
    shape: ToyShape,
    skip_sync: bool,
    per_page_cost: bool,
    dead: bool,
    never_starts_refused: bool,
    leaf_only_driver: bool,
    truncate_tlbi_32: bool,
    range_one_page_short: bool,
    drop_leaf_records: bool,
    quick: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            shape: QEMU_LIKE,
            skip_sync: false,
            per_page_cost: false,
            dead: false,
            never_starts_refused: false,
            leaf_only_driver: false,
            truncate_tlbi_32: false,
            range_one_page_short: false,
            drop_leaf_records: false,
            quick: false,
        }
    }
}

type Results = Vec<(&'static str, Outcome, Vec<String>)>;

fn lpae() -> Lpae {
    Lpae::new(Granule::K4, TOY_IAS, 48, true).unwrap()
}

/// Runs the whole catalogue as the image does; returns (case, outcome,
/// diagnostics) and the driver's declared negative-control list.
fn run_catalogue(o: Opts) -> (Results, &'static [&'static str]) {
    let ram = HostRam::new(32 << 20);
    let pool = ram.pool();
    let arena: Arena = arena(1 << 20);
    let mut iommu = ToyIommu::new(o.shape, arena.clone(), false);
    iommu.per_page_cost = o.per_page_cost;
    iommu.leaf_only_driver = o.leaf_only_driver;
    iommu.truncate_tlbi_32 = o.truncate_tlbi_32;
    iommu.range_one_page_short = o.range_one_page_short;
    let declared = iommu.skip_sync_failures();
    let mut m0 = ModelMaster::new(0x20, "toy0", iommu.port());
    m0.dead = o.dead;
    m0.never_starts_refused = o.never_starts_refused;
    let mut m1 = ModelMaster::new(0x28, "toy1", iommu.port());
    // One domain per master, or the one shared context.
    let n = if o.shape.shared_context { 1 } else { 2 };
    let domains = (0..n)
        .map(|i| {
            Domain::new(
                &mut iommu,
                lpae(),
                arena.clone(),
                iommu_cases::aperture(i),
                iommu_cases::APERTURE_SIZE,
            )
            .unwrap()
        })
        .collect();
    let staging = pool.alloc(4096).unwrap();
    let fixed = [FixedMapping {
        phys: staging.phys(),
        iova: Iova(0x0800_0000),
        size: 4096,
    }];
    let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &fixed, &pool, 4096).unwrap();
    t.iommu.set_skip_sync(o.skip_sync);
    let mut g = iommu_cases::group("toy".to_string());
    if o.quick {
        g = iommu_cases::quick(g);
    }
    let mut out = Vec::new();
    let was = crate::iommu::pgtable::drop_leaf_records(o.drop_leaf_records);
    for i in 0..g.cases.len() {
        let r = run_case(&g, i, &mut t);
        out.push((g.cases[i].name, r.outcome, r.diags));
    }
    crate::iommu::pgtable::drop_leaf_records(was);
    // The KTAP shape of a whole run, too.
    let mut k = KtapWriter::new(String::new());
    let _ = run_group(&mut k, 1, &g, &mut t);
    drop(t);
    drop(staging);
    (out, declared)
}

fn failed(r: &Results) -> Vec<&'static str> {
    r.iter()
        .filter(|(_, o, _)| *o == Outcome::Fail)
        .map(|(n, _, _)| *n)
        .collect()
}

fn find<'r>(r: &'r Results, case: &str) -> (&'r Outcome, &'r Vec<String>) {
    let (_, o, d) = r.iter().find(|(n, _, _)| *n == case).unwrap();
    (o, d)
}

#[test]
fn every_case_passes_on_a_toy_with_every_capability() {
    let (r, _) = run_catalogue(Opts {
        shape: ToyShape::FULL,
        ..Opts::default()
    });
    for (name, outcome, diags) in &r {
        assert_eq!(*outcome, Outcome::Pass, "{name}: {diags:?}");
    }
}

#[test]
fn the_quick_catalogue_runs_its_subset_and_skips_the_rest_saying_so() {
    let (r, _) = run_catalogue(Opts {
        quick: true,
        ..Opts::default()
    });
    assert_eq!(
        r.len(),
        iommu_cases::group::<ToyIommu, Arena>("t".to_string())
            .cases
            .len()
    );
    for (name, outcome, diags) in &r {
        if iommu_cases::QUICK.contains(name) {
            assert_eq!(*outcome, Outcome::Pass, "{name}: {diags:?}");
        } else {
            assert_eq!(
                *outcome,
                Outcome::Skip(iommu_cases::NOT_IN_QUICK.to_string()),
                "{name}"
            );
        }
    }
    // Still a test: the negative control fails the quick subset's
    // invalidation case.
    let (r, _) = run_catalogue(Opts {
        quick: true,
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), ["unmap_invalidate_blocks_dma"], "{r:?}");
}

#[test]
fn skip_sync_on_the_full_toy_fails_exactly_its_declared_list() {
    let (r, declared) = run_catalogue(Opts {
        shape: ToyShape::FULL,
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), declared, "{r:?}");
}

#[test]
fn the_minimal_toy_skips_what_it_lacks_with_the_capability_reason_and_passes_the_rest() {
    let (r, _) = run_catalogue(Opts {
        shape: ToyShape::MINIMAL,
        ..Opts::default()
    });
    let skipped: Vec<(&str, String)> = r
        .iter()
        .filter_map(|(n, o, _)| match o {
            Outcome::Skip(why) => Some((*n, why.clone())),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "asid_invalidate",
            "config_invalidate",
            "walk_cache_invalidate",
            "default_deny",
            "isolation",
        ],
        "{r:?}"
    );
    let reason = |case: &str| &skipped.iter().find(|(n, _)| *n == case).unwrap().1;
    assert!(reason("asid_invalidate").contains("one table base for the whole IOMMU"));
    assert!(reason("config_invalidate").contains("one table base"));
    assert!(reason("walk_cache_invalidate").contains("caches no walks"));
    assert!(reason("default_deny").contains("bypass bit"));
    assert!(reason("isolation").contains("one table base"));
    assert!(failed(&r).is_empty(), "{r:?}");
    // The stale windows ran and saw the cached translation.
    let (o, d) = find(&r, "unmap_stale_window");
    assert_eq!(*o, Outcome::Pass, "{d:?}");
}

#[test]
fn skip_sync_on_the_minimal_toy_fails_exactly_its_declared_list() {
    let (r, declared) = run_catalogue(Opts {
        shape: ToyShape::MINIMAL,
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), declared, "{r:?}");
}

#[test]
fn every_case_passes_or_skips_on_the_qemu_shape() {
    let (r, _) = run_catalogue(Opts::default());
    for (name, outcome, diags) in &r {
        match (*name, outcome) {
            ("walk_cache_invalidate", Outcome::Skip(_)) => {}
            (_, Outcome::Pass) => {}
            _ => panic!("{name}: {outcome:?} {diags:?}"),
        }
    }
}

#[test]
fn skip_sync_on_the_qemu_shape_fails_exactly_its_declared_list() {
    let (r, declared) = run_catalogue(Opts {
        skip_sync: true,
        ..Opts::default()
    });
    assert_eq!(failed(&r), declared);
    // The same seven cases the SMMUv3 driver declares for QEMU.
    assert_eq!(declared, crate::iommu::smmuv3::SKIP_SYNC_FAILURES);
}

#[test]
fn per_page_invalidation_fails_the_o1_range_check() {
    let (r, _) = run_catalogue(Opts {
        per_page_cost: true,
        ..Opts::default()
    });
    let (outcome, diags) = find(&r, "range_invalidate");
    assert_eq!(*outcome, Outcome::Fail, "{diags:?}");
    assert!(diags.iter().any(|d| d.contains("want O(1)")), "{diags:?}");
}

#[test]
fn walk_cache_case_catches_a_leaf_only_driver() {
    let (bad, _) = run_catalogue(Opts {
        shape: ToyShape::FULL,
        leaf_only_driver: true,
        ..Opts::default()
    });
    let (o, d) = find(&bad, "walk_cache_invalidate");
    assert_eq!(*o, Outcome::Fail, "{d:?}");
}

#[test]
fn a_dead_master_cannot_pass_as_blocked() {
    // The device accepts every transfer and moves nothing: memory looks
    // exactly as if the IOMMU blocked it.  The heartbeat must catch it.
    let (r, _) = run_catalogue(Opts {
        dead: true,
        ..Opts::default()
    });
    for case in [
        "unmap_invalidate_blocks_dma",
        "range_invalidate",
        "readonly_blocks_write",
    ] {
        let (outcome, diags) = find(&r, case);
        assert_eq!(*outcome, Outcome::Fail, "{case}: {diags:?}");
        assert!(
            diags.iter().any(|d| d.contains("heartbeat")),
            "{case}: {diags:?}"
        );
    }
}

#[test]
fn a_master_that_never_starts_the_refused_write_cannot_pass_as_blocked() {
    // Every write that translates works (so the heartbeat lands), and a
    // refused one is never started (`NotIdle`): memory is untouched as if
    // the IOMMU blocked it.  The attempt itself must fail the case.
    let (r, _) = run_catalogue(Opts {
        never_starts_refused: true,
        ..Opts::default()
    });
    for case in ["unmap_invalidate_blocks_dma", "readonly_blocks_write"] {
        let (outcome, diags) = find(&r, case);
        assert_eq!(*outcome, Outcome::Fail, "{case}: {diags:?}");
        assert!(
            diags.iter().any(|d| d.contains("never started")),
            "{case}: {diags:?}"
        );
    }
}

#[test]
fn tables_removed_under_a_deferred_sync_are_not_freed() {
    let arena: Arena = arena(1 << 20);
    let mut iommu = ToyIommu::new(QEMU_LIKE, arena.clone(), false);
    let mut d = Domain::new(
        &mut iommu,
        lpae(),
        arena.clone(),
        Iova(0x1000_0000),
        0x1000_0000,
    )
    .unwrap();
    let map_unmap = |d: &mut Domain<Lpae, Arena, _>, iommu: &mut ToyIommu, at: u64| {
        // A lone 4K page in its own 2 MiB region: unmapping it frees the
        // last-level table.
        d.map(iommu, Iova(at), PhysAddr(0x4000_0000), 4096, Prot::rw())
            .unwrap();
        let live = arena.borrow().live_tables();
        d.unmap(iommu, Iova(at), 4096).unwrap();
        live - arena.borrow().live_tables()
    };
    assert!(
        map_unmap(&mut d, &mut iommu, 0x1000_0000) >= 1,
        "a completed sync frees the table"
    );
    assert_eq!(d.parked_tables(), 0);
    iommu.hold_invalidations(true);
    assert_eq!(
        map_unmap(&mut d, &mut iommu, 0x1040_0000),
        0,
        "held: nothing freed"
    );
    assert!(d.parked_tables() >= 1);
    iommu.hold_invalidations(false);
    let mut skip = ToyIommu::new(QEMU_LIKE, arena.clone(), true);
    let mut d2 = Domain::new(
        &mut skip,
        lpae(),
        arena.clone(),
        Iova(0x2000_0000),
        0x1000_0000,
    )
    .unwrap();
    assert_eq!(
        map_unmap(&mut d2, &mut skip, 0x2000_0000),
        0,
        "skip-sync: nothing freed"
    );
}

/// Runs the preflight over a QEMU-shaped toy with two masters, the first
/// configured by `tweak`.
fn preflight_with(
    tweak: impl FnOnce(&mut ModelMaster<ToyPort>),
) -> Result<Vec<String>, SetupError> {
    use crate::selftest::preflight::preflight;
    let ram = HostRam::new(8 << 20);
    let pool = ram.pool();
    let arena: Arena = arena(1 << 20);
    let mut iommu = ToyIommu::new(QEMU_LIKE, arena.clone(), false);
    let mut m0 = ModelMaster::new(0x20, "toy0", iommu.port());
    tweak(&mut m0);
    let mut m1 = ModelMaster::new(0x28, "toy1", iommu.port());
    let domains = (0..2)
        .map(|i| {
            Domain::new(
                &mut iommu,
                lpae(),
                arena.clone(),
                Iova(0x1000_0000 * (i as u64 + 1)),
                0x1000_0000,
            )
            .unwrap()
        })
        .collect();
    let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &[], &pool, 4096).unwrap();
    preflight(&mut t, &[Iova(0x0e00_0000), Iova(0x3000_0000)])
}

#[test]
fn preflight_passes_on_a_good_setup_and_names_each_master() {
    let notes = preflight_with(|_| {}).unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("toy0 (sid 0x20) reaches 0xe000000 and 0x30000000"));
}

#[test]
fn preflight_names_a_master_that_cannot_address_the_high_iovas() {
    let e = preflight_with(|m| m.dma_mask = 0x0fff_ffff).unwrap_err();
    assert!(
        matches!(
            &e,
            SetupError::MasterTooNarrow { master, low: Iova(0x0e00_0000), iova: Iova(0x3000_0000), .. }
                if master == "toy0"
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("toy0 reaches IOVA 0xe000000"), "{text}");
    assert!(text.contains("cannot address that high"), "{text}");
}

#[test]
fn preflight_names_a_stream_id_the_iommu_does_not_see() {
    // The IOMMU sees 0x99 (no configuration: aborted silently).
    let e = preflight_with(|m| m.wire_stream = Some(0x99)).unwrap_err();
    assert!(
        matches!(
            &e,
            SetupError::NotLanded { master, stream: StreamId(0x20), seen: FaultSeen::Nothing, .. }
                if master == "toy0"
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("toy0 (sid 0x20)"), "{text}");
    assert!(text.contains("may not see sid 0x20"), "{text}");
    // The IOMMU sees 0x28 (the other master's, attached to domain 1):
    // the DMA faults there, and the record names the stream it saw.
    let e = preflight_with(|m| m.wire_stream = Some(0x28)).unwrap_err();
    assert!(
        matches!(
            e,
            SetupError::NotLanded {
                seen: FaultSeen::OtherStream(StreamId(0x28)),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("fault for sid 0x28 instead"), "{e}");
}

#[test]
fn a_format_the_driver_cannot_walk_is_refused_at_domain_creation() {
    let arena: Arena = arena(1 << 16);
    let mut iommu = ToyIommu::new(ToyShape::FULL, arena.clone(), false);
    let wide = Lpae::new(Granule::K4, 48, 48, true).unwrap();
    assert!(Domain::new(&mut iommu, wide, arena, Iova(0), 1 << 20).is_err());
    // The port is what masters hold; it is cheap to clone.
    let _: ToyPort = iommu.port();
    assert_eq!(iommu.name(), "toy-iommu");
}

#[test]
fn empty_gather_case_catches_a_walker_that_loses_cleared_leaves() {
    // The 2026 regression's shape: the walker clears the leaf but does not
    // record it, so the gather of an unmap that frees no table is empty and
    // the core syncs nothing.  Before the cases kept a live neighbour in
    // the same last-level table, every unmap freed its table, the gather
    // was never empty and this case passed under the mutation.
    let (r, _) = run_catalogue(Opts {
        drop_leaf_records: true,
        ..Opts::default()
    });
    let (o, d) = find(&r, "empty_gather_still_syncs");
    assert_eq!(*o, Outcome::Fail, "{d:?}");
    assert!(d.iter().any(|l| l.contains("0 driver sync(s)")), "{d:?}");
}

#[test]
fn a_driver_truncating_tlbi_addresses_to_32_bits_fails() {
    // Domain 0's aperture is above 4 GiB: a TLBI whose address lost bits
    // 32+ invalidates the wrong page and the unmapped one stays cached.
    let (r, _) = run_catalogue(Opts {
        truncate_tlbi_32: true,
        ..Opts::default()
    });
    let bad = failed(&r);
    for case in [
        "unmap_invalidate_blocks_dma",
        "remap_invalidate_new_page",
        "range_invalidate",
        "empty_gather_still_syncs",
    ] {
        assert!(bad.contains(&case), "{case} passed: {r:?}");
    }
}

#[test]
fn a_range_invalidation_one_page_short_fails_range_invalidate() {
    // RIL NUM off by one: invisible while every range is a power of two
    // (NUM = 0); range_invalidate's 3-, 5-, 17- and 35-page ranges see it.
    let (r, _) = run_catalogue(Opts {
        range_one_page_short: true,
        ..Opts::default()
    });
    let (o, d) = find(&r, "range_invalidate");
    assert_eq!(*o, Outcome::Fail, "{d:?}");
    assert!(
        d.iter()
            .any(|l| l.contains("of the 3-page range") && l.contains("must be blocked")),
        "{d:?}"
    );
    assert_eq!(failed(&r), ["range_invalidate"], "{r:?}");
}

#[test]
fn an_iommu_that_evicts_everything_skips_the_caching_cases_and_fails_none() {
    // Silicon may evict any entry at any time: a case that cannot show an
    // entry was cached SKIPs with that reason; none FAILs.
    let (r, _) = run_catalogue(Opts {
        shape: ToyShape {
            evicts: true,
            ..ToyShape::FULL
        },
        ..Opts::default()
    });
    assert!(failed(&r).is_empty(), "{r:?}");
    for case in [
        "unmap_stale_window",
        "remap_stale_window",
        "range_invalidate",
        "asid_invalidate",
        "config_invalidate",
    ] {
        let (o, d) = find(&r, case);
        match o {
            Outcome::Skip(why) => assert!(
                why.contains("could not establish caching") && why.contains("not a driver bug"),
                "{case}: {why}"
            ),
            _ => panic!("{case}: {o:?} {d:?}"),
        }
    }
}
