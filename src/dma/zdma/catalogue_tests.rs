//! The whole case catalogue with two ZDMA channels as its masters (each the
//! channel model behind the testkit's toy IOMMU, with every capability):
//! every case passes, and under `skip-sync` exactly the toy driver's
//! declared list fails — so a ZDMA master's writes, reads, copies and
//! aborted transfers are what the catalogue needs to judge an IOMMU.  A
//! path that ignores write permissions between the channel and the IOMMU
//! makes `readonly_blocks_write` fail: the catalogue sees through the
//! master what the bytes in memory say.  This is the driver against its
//! model, not against a ZynqMP.

use super::model::ZdmaModel;
use super::{Zdma, ZdmaMaster};
use crate::dma::{DmaMaster, StreamId};
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::{Domain, Observe};
use crate::mm::host_ram::HostRam;
use crate::mm::Iova;
use crate::mmio::ModelMmio;
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest};
use crate::selftest::runner::{run_case, Outcome};
use crate::testkit::master::Translate;
use crate::testkit::ram::arena;
use crate::testkit::toy::{ToyIommu, ToyPort, ToyShape, TOY_IAS};
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;

fn no_barrier() {}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1000,
    }))
}

/// (case, outcome, diagnostics) for every case.
type Results = Vec<(&'static str, Outcome, Vec<String>)>;

/// The toy IOMMU's port as a channel that asks it only for reads: every
/// write is translated as if the page were writable (a broken path, the
/// negative control of `readonly_blocks_write`).
struct WritesAsReads(ToyPort);

impl Translate for WritesAsReads {
    fn translate(&self, stream: u32, iova: u64, _write: bool) -> Option<u64> {
        self.0.translate(stream, iova, false)
    }
}

/// Every case's result, and the toy driver's declared negative-control list.
fn run(skip_sync: bool) -> (Results, &'static [&'static str]) {
    run_with(skip_sync, |p| p)
}

/// [`run`] with each channel's path to the IOMMU built by `path`.
fn run_with<T: Translate>(
    skip_sync: bool,
    path: fn(ToyPort) -> T,
) -> (Results, &'static [&'static str]) {
    let ram = HostRam::new(32 << 20);
    let pool = ram.pool();
    let tables = arena(1 << 20);
    let mut iommu = ToyIommu::new(ToyShape::FULL, tables.clone(), false);
    let declared = iommu.skip_sync_failures();
    let mut masters = Vec::new();
    let mut fixed = Vec::new();
    for (i, sid) in [0x14e8u32, 0x14e9].into_iter().enumerate() {
        let model = ZdmaModel::new(path(iommu.port()), sid);
        let zdma = Zdma::new(ModelMmio::new(model), clock()).unwrap();
        let staging = pool.alloc(4096).unwrap();
        let iova = Iova(0x0800_0000 + i as u64 * 0x10_0000);
        fixed.push(FixedMapping {
            phys: staging.phys(),
            iova,
            size: 4096,
        });
        masters.push(ZdmaMaster::new(
            zdma,
            alloc::format!("zdma{i}"),
            StreamId(sid),
            staging,
            iova,
            no_barrier,
        ));
    }
    let domains = (0..2)
        .map(|i| {
            Domain::new(
                &mut iommu,
                Lpae::new(Granule::K4, TOY_IAS, 48, true).unwrap(),
                tables.clone(),
                iommu_cases::aperture(i),
                iommu_cases::APERTURE_SIZE,
            )
            .unwrap()
        })
        .collect();
    let dyn_masters: Vec<&mut dyn DmaMaster> = masters
        .iter_mut()
        .map(|m| m as &mut dyn DmaMaster)
        .collect();
    let mut t = IommuTest::setup(&mut iommu, dyn_masters, domains, &fixed, &pool, 4096).unwrap();
    t.iommu.set_skip_sync(skip_sync);
    let g = iommu_cases::group("zdma-on-toy".to_string());
    let out = (0..g.cases.len())
        .map(|i| {
            let r = run_case(&g, i, &mut t);
            (g.cases[i].name, r.outcome, r.diags)
        })
        .collect();
    drop(t);
    for m in &masters {
        let misuse = &m.channel().regs.model().misuse;
        assert!(misuse.is_empty(), "{misuse:?}");
    }
    (out, declared)
}

#[test]
fn the_catalogue_passes_with_two_zdma_channels_as_masters() {
    let (r, _) = run(false);
    for (name, outcome, diags) in &r {
        assert_eq!(*outcome, Outcome::Pass, "{name}: {diags:?}");
    }
}

#[test]
fn skip_sync_fails_exactly_the_declared_list_with_zdma_masters() {
    let (r, declared) = run(true);
    let failed: Vec<&str> = r
        .iter()
        .filter(|(_, o, _)| *o == Outcome::Fail)
        .map(|(n, _, _)| *n)
        .collect();
    let mut want: Vec<&str> = declared.to_vec();
    let mut got = failed.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn a_path_that_ignores_write_permissions_fails_readonly_blocks_write() {
    let (r, _) = run_with(false, WritesAsReads);
    let mut failed: Vec<&str> = r
        .iter()
        .filter(|(_, o, _)| *o == Outcome::Fail)
        .map(|(n, _, _)| *n)
        .collect();
    failed.sort_unstable();
    // The write lands, and the permission fault fault_record provokes
    // never comes; nothing else depends on write permissions.
    assert_eq!(failed, ["fault_record", "readonly_blocks_write"], "{r:?}");
}
