//! Host models for the IOMMU case catalogue: an IOMMU with a TLB and a
//! configuration cache that keep entries until invalidated (the behaviour
//! QEMU's SMMUv3 has, hw/qemu-virt.md §1.4), implementing [`Observe`], and a
//! DMA master behind it whose bytes land in host RAM by physical address.
//!
//! The catalogue runs against them on the host twice: as is (every case must
//! pass) and with `skip-sync` (the invalidation cases must fail) — the same
//! negative control `cargo xtask test` runs on QEMU.
#![cfg(test)]

use crate::iommu::pgtable::{RamArena, TableFormat};
use crate::iommu::{
    Access, Asid, Caching, Context, DmaError, DmaMaster, DmaReport, Fault, FaultKind, Iommu,
    IommuError, Observe, StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::{BusAddr, Iova};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Page tables live here (the domains' `TableMemory`).
pub type Arena = Rc<RefCell<RamArena>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cfg {
    asid: u16,
    root: u64,
    ias: u32,
}

#[derive(Clone, Copy, Debug)]
enum Held {
    Range {
        asid: u16,
        iova: u64,
        size: u64,
        leaf_only: bool,
    },
    Config(u32),
}

/// The modelled hardware.
pub struct Hw {
    arena: Arena,
    /// The "stream table": what software last wrote.
    table: BTreeMap<u32, Cfg>,
    /// What the IOMMU cached from it (flushed only by config invalidation).
    config_cache: BTreeMap<u32, Option<Cfg>>,
    tlb: Vec<(u16, u64, u64, bool)>,
    faults: Vec<Fault>,
    /// Walk cache, when modelled: (ASID, IOVA >> 21) → last-level table.
    walk_cache: Option<Vec<(u16, u64, u64)>>,
}

impl Hw {
    fn config(&mut self, sid: u32) -> Option<Cfg> {
        if let Some(c) = self.config_cache.get(&sid) {
            return *c;
        }
        let c = self.table.get(&sid).copied();
        self.config_cache.insert(sid, c);
        c
    }

    /// Translates one access; records a fault and returns `None` on failure.
    fn translate(&mut self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        let Some(cfg) = self.config(sid) else {
            return None; // abort config: silent, as an SMMUv3 abort STE
        };
        let page = iova >> 12;
        let hit = self
            .tlb
            .iter()
            .find(|e| e.0 == cfg.asid && e.1 == page)
            .copied();
        let (pa_page, writable) = match hit {
            Some(e) => (e.2, e.3),
            None => match self.walk(cfg, iova) {
                Some((pa, w)) => {
                    self.tlb.push((cfg.asid, page, pa >> 12, w));
                    (pa >> 12, w)
                }
                None => {
                    self.fault(sid, iova, write, FaultKind::Translation);
                    return None;
                }
            },
        };
        if write && !writable {
            self.fault(sid, iova, write, FaultKind::Permission);
            return None;
        }
        Some(pa_page << 12 | (iova & 0xfff))
    }

    fn fault(&mut self, sid: u32, iova: u64, write: bool, kind: FaultKind) {
        self.faults.push(Fault {
            stream: StreamId(sid),
            iova: Some(Iova(iova)),
            access: Some(if write { Access::Write } else { Access::Read }),
            kind,
            raw: [0, iova],
        });
    }

    /// 4K-granule VMSAv8-64 stage-1 walk (smmu.md C.1, C.2), starting at a
    /// cached last-level table when the walk cache has one.
    fn walk(&mut self, cfg: Cfg, iova: u64) -> Option<(u64, bool)> {
        if iova >> cfg.ias != 0 {
            return None;
        }
        let levels = (cfg.ias - 12).div_ceil(9);
        let mut level = 4 - levels;
        let mut table = cfg.root;
        let region = iova >> 21;
        if let Some(wc) = &self.walk_cache {
            if let Some(&(_, _, l3)) = wc.iter().find(|e| e.0 == cfg.asid && e.1 == region) {
                level = 3;
                table = l3;
            }
        }
        let arena = self.arena.borrow();
        loop {
            if level == 3 {
                if let Some(wc) = &mut self.walk_cache {
                    if !wc.iter().any(|e| e.0 == cfg.asid && e.1 == region) {
                        wc.push((cfg.asid, region, table));
                    }
                }
            }
            let shift = 12 + 9 * (3 - level);
            let d = arena.read_bus_u64(BusAddr(table + 8 * ((iova >> shift) & 0x1ff)))?;
            let oa = d & 0x0000_ffff_ffff_f000;
            match (d & 3, level) {
                (3, 3) | (1, 1) | (1, 2) => {
                    let span = 1u64 << shift;
                    return Some(((oa & !(span - 1)) | (iova & (span - 1)), d & (1 << 7) == 0));
                }
                (3, _) => {
                    table = oa;
                    level += 1;
                }
                _ => return None,
            }
        }
    }
}

/// The driver for [`Hw`], with the self-test hooks.
pub struct ToyIommu {
    /// The hardware.
    pub hw: Rc<RefCell<Hw>>,
    hold: bool,
    held: Vec<Held>,
    skip_sync: bool,
    cost: u64,
    /// Charge one command per page of a range (an IOMMU without range
    /// invalidation that still claims it has one).
    pub per_page_cost: bool,
    /// With a walk cache: a broken driver that invalidates only leaves,
    /// even when the core asks for a non-leaf invalidation.
    pub leaf_only_driver: bool,
}

impl ToyIommu {
    /// Gives the model a walk cache (last-level table pointers per 2 MiB),
    /// flushed only by non-leaf range invalidation or a context flush.
    pub fn with_walk_cache(self) -> Self {
        self.hw.borrow_mut().walk_cache = Some(Vec::new());
        self
    }

    /// A model over `arena`; `skip_sync` is the negative control.
    pub fn new(arena: Arena, skip_sync: bool) -> Self {
        Self {
            hw: Rc::new(RefCell::new(Hw {
                arena,
                table: BTreeMap::new(),
                config_cache: BTreeMap::new(),
                tlb: Vec::new(),
                faults: Vec::new(),
                walk_cache: None,
            })),
            hold: false,
            held: Vec::new(),
            skip_sync,
            cost: 0,
            per_page_cost: false,
            leaf_only_driver: false,
        }
    }

    fn run(&mut self, h: Held) {
        if self.skip_sync {
            return;
        }
        if self.hold {
            self.held.push(h);
            return;
        }
        self.cost += match h {
            Held::Range { size, .. } if self.per_page_cost => size.div_ceil(4096),
            _ => 1,
        };
        let mut hw = self.hw.borrow_mut();
        match h {
            Held::Range {
                asid,
                iova,
                size,
                leaf_only,
            } => {
                let (first, last) = (iova >> 12, (iova + size - 1) >> 12);
                hw.tlb
                    .retain(|e| !(e.0 == asid && e.1 >= first && e.1 <= last));
                if !leaf_only && !self.leaf_only_driver {
                    let (r0, r1) = (iova >> 21, (iova + size - 1) >> 21);
                    if let Some(wc) = &mut hw.walk_cache {
                        wc.retain(|e| !(e.0 == asid && e.1 >= r0 && e.1 <= r1));
                    }
                }
            }
            Held::Config(sid) => {
                hw.config_cache.remove(&sid);
            }
        }
    }
}

impl Iommu for ToyIommu {
    fn name(&self) -> &str {
        "toy-iommu"
    }
    fn sync_is_deferred(&self) -> bool {
        self.hold || self.skip_sync
    }
    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }
    fn attach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let TableFormat::Lpae(l) = ctx.format else {
            return Err(IommuError::Unsupported { value: 0 });
        };
        let cfg = Cfg {
            asid: ctx.asid.0,
            root: ctx.root.0,
            ias: 64 - l.tcr.t0sz as u32,
        };
        self.hw.borrow_mut().table.insert(stream.0, cfg);
        self.run(Held::Config(stream.0));
        Ok(())
    }
    fn detach(&mut self, stream: StreamId, _ctx: &Context) -> Result<(), IommuError> {
        self.hw.borrow_mut().table.remove(&stream.0);
        self.run(Held::Config(stream.0));
        Ok(())
    }
    fn sync(&mut self, req: &SyncRequest<'_>) -> Result<(), IommuError> {
        self.run(Held::Range {
            asid: req.asid.0,
            iova: req.iova.0,
            size: req.size,
            leaf_only: req.leaf_only,
        });
        Ok(())
    }
}

impl Observe for ToyIommu {
    fn hold_invalidations(&mut self, hold: bool) {
        self.hold = hold;
    }
    fn release_held(&mut self) -> Result<usize, IommuError> {
        let held = core::mem::take(&mut self.held);
        let hold = core::mem::replace(&mut self.hold, false);
        let n = if self.skip_sync { 0 } else { held.len() };
        for h in held {
            self.run(h);
        }
        self.hold = hold;
        Ok(n)
    }
    fn drain_faults(&mut self) -> Vec<Fault> {
        core::mem::take(&mut self.hw.borrow_mut().faults)
    }
    fn take_invalidation_cost(&mut self) -> u64 {
        core::mem::take(&mut self.cost)
    }
    fn caching(&self) -> Caching {
        Caching {
            tlb: None,
            config: None,
            walk: if self.hw.borrow().walk_cache.is_some() {
                None
            } else {
                Some("the model caches no walks")
            },
        }
    }
    fn set_skip_sync(&mut self, on: bool) {
        self.skip_sync = on;
    }
    fn skipping_syncs(&self) -> bool {
        self.skip_sync
    }
    fn ranged_invalidation(&self) -> bool {
        true
    }
    fn invalidate_context(&mut self, asid: Asid) -> Result<(), IommuError> {
        if !self.skip_sync {
            self.cost += 1;
            let mut hw = self.hw.borrow_mut();
            hw.tlb.retain(|e| e.0 != asid.0);
            if let Some(wc) = &mut hw.walk_cache {
                wc.retain(|e| e.0 != asid.0);
            }
        }
        Ok(())
    }
}

/// A DMA master behind [`Hw`]; bytes land in host RAM (`mm::host_ram`).
pub struct ToyMaster {
    /// Stream.
    pub sid: StreamId,
    /// Name.
    pub name: String,
    /// The hardware it masters through.
    pub hw: Rc<RefCell<Hw>>,
    /// A dead device: accepts every transfer and moves nothing.
    pub dead: bool,
}

impl ToyMaster {
    fn xlate(&self, iova: u64, write: bool, done: usize) -> Result<u64, DmaError> {
        self.hw
            .borrow_mut()
            .translate(self.sid.0, iova, write)
            .ok_or(DmaError::Aborted {
                stream: self.sid,
                iova: Iova(iova),
                write,
                bytes: done,
                status: 0,
            })
    }
}

impl DmaMaster for ToyMaster {
    fn name(&self) -> &str {
        &self.name
    }
    fn stream(&self) -> StreamId {
        self.sid
    }
    fn max_transfer(&self) -> usize {
        4096
    }
    fn write(&mut self, iova: Iova, data: &[u8], _t: Duration) -> Result<DmaReport, DmaError> {
        if self.dead {
            return Ok(DmaReport {
                bytes: data.len(),
                status: 0,
            });
        }
        // Word by word, like QEMU's per-4-byte SMMU accesses: a fault stops
        // the transfer.
        for (i, chunk) in data.chunks(4).enumerate() {
            let pa = self.xlate(iova.0 + 4 * i as u64, true, 4 * i)?;
            crate::mm::host_ram::write_bytes(pa, chunk);
        }
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }
    fn read(&mut self, iova: Iova, buf: &mut [u8], _t: Duration) -> Result<DmaReport, DmaError> {
        for (i, chunk) in buf.chunks_mut(4).enumerate() {
            let pa = self.xlate(iova.0 + 4 * i as u64, false, 4 * i)?;
            crate::mm::host_ram::read_bytes(pa, chunk);
        }
        Ok(DmaReport {
            bytes: buf.len(),
            status: 0,
        })
    }
    fn copy(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        t: Duration,
    ) -> Result<DmaReport, DmaError> {
        let mut tmp = alloc::vec![0u8; len];
        self.read(src, &mut tmp, t)?;
        self.write(dst, &tmp, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::pgtable::{Granule, Lpae};
    use crate::iommu::Domain;
    use crate::mm::host_ram::HostRam;
    use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest};
    use crate::selftest::ktap::KtapWriter;
    use crate::selftest::runner::{run_group, Outcome};
    use alloc::string::ToString;

    /// Runs the catalogue on the model; returns (case, outcome, diags).
    #[derive(Default)]
    struct Opts {
        skip_sync: bool,
        per_page_cost: bool,
        dead: bool,
        walk_cache: bool,
        leaf_only_driver: bool,
    }

    fn run_catalogue(skip_sync: bool) -> Vec<(&'static str, Outcome, Vec<String>)> {
        run_catalogue_with(Opts {
            skip_sync,
            ..Opts::default()
        })
    }

    fn run_catalogue_with(o: Opts) -> Vec<(&'static str, Outcome, Vec<String>)> {
        let Opts {
            skip_sync,
            per_page_cost,
            dead,
            walk_cache,
            leaf_only_driver,
        } = o;
        let ram = HostRam::new(32 << 20);
        let pool = ram.pool();
        let arena: Arena = Rc::new(RefCell::new(RamArena::with_size(1 << 20)));
        let mut iommu = ToyIommu::new(arena.clone(), false);
        if walk_cache {
            iommu = iommu.with_walk_cache();
        }
        iommu.per_page_cost = per_page_cost;
        iommu.leaf_only_driver = leaf_only_driver;
        let hw = iommu.hw.clone();
        let mut m0 = ToyMaster {
            sid: StreamId(0x20),
            name: "toy0".into(),
            hw: hw.clone(),
            dead,
        };
        let mut m1 = ToyMaster {
            sid: StreamId(0x28),
            name: "toy1".into(),
            hw,
            dead: false,
        };
        let lpae = Lpae::new(Granule::K4, 40, 48, true).unwrap();
        let domains = (0..2)
            .map(|i| {
                Domain::new(
                    lpae,
                    arena.clone(),
                    iommu_cases::asid(i),
                    Iova(0x1000_0000 * (i as u64 + 1)),
                    0x1000_0000,
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
        t.iommu.set_skip_sync(skip_sync);
        let g = iommu_cases::group("toy".to_string());
        let mut out = Vec::new();
        for c in &g.cases {
            let r = (c.run)(&mut t);
            out.push((c.name, r.outcome, r.diags));
        }
        // The KTAP shape of a whole run, too.
        let mut k = KtapWriter::new(String::new());
        let _ = run_group(&mut k, 1, &g, &mut t);
        drop(t);
        drop(staging);
        out
    }

    #[test]
    fn every_case_passes_or_skips_on_a_correct_iommu() {
        for (name, outcome, diags) in run_catalogue(false) {
            match (name, &outcome) {
                ("walk_cache_invalidate", Outcome::Skip(_)) => {}
                (_, Outcome::Pass) => {}
                _ => panic!("{name}: {outcome:?} {diags:?}"),
            }
        }
    }

    #[test]
    fn per_page_invalidation_fails_the_o1_range_check() {
        let r = run_catalogue_with(Opts {
            per_page_cost: true,
            ..Opts::default()
        });
        let (_, outcome, diags) = r.iter().find(|(n, _, _)| *n == "range_invalidate").unwrap();
        assert_eq!(*outcome, Outcome::Fail, "{diags:?}");
        assert!(diags.iter().any(|d| d.contains("want O(1)")), "{diags:?}");
    }

    #[test]
    fn tables_removed_under_a_deferred_sync_are_not_freed() {
        use crate::iommu::pgtable::Prot;
        let arena: Arena = Rc::new(RefCell::new(RamArena::with_size(1 << 20)));
        let lpae = Lpae::new(Granule::K4, 40, 48, true).unwrap();
        let mut iommu = ToyIommu::new(arena.clone(), false);
        let mut d = Domain::new(
            lpae,
            arena.clone(),
            iommu_cases::asid(0),
            Iova(0x1000_0000),
            0x1000_0000,
        )
        .unwrap();
        let map_unmap = |d: &mut Domain<Lpae, Arena>, iommu: &mut ToyIommu, at: u64| {
            // A lone 4K page in its own 2 MiB region: unmapping it frees the
            // last-level table.
            d.map(
                iommu,
                Iova(at),
                crate::mm::PhysAddr(0x4000_0000),
                4096,
                Prot::rw(),
            )
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
        let mut skip = ToyIommu::new(arena.clone(), true);
        let mut d2 = Domain::new(
            lpae,
            arena.clone(),
            iommu_cases::asid(1),
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

    #[test]
    fn walk_cache_case_runs_and_catches_a_leaf_only_driver() {
        let find = |r: &[(&'static str, Outcome, Vec<String>)]| {
            let (_, o, d) = r
                .iter()
                .find(|(n, _, _)| *n == "walk_cache_invalidate")
                .unwrap();
            (o.clone(), d.clone())
        };
        // A model with a walk cache and a driver that honours non-leaf
        // invalidation: the case runs (no skip) and passes, as do the rest.
        let good = run_catalogue_with(Opts {
            walk_cache: true,
            ..Opts::default()
        });
        let (o, d) = find(&good);
        assert_eq!(o, Outcome::Pass, "{d:?}");
        for (name, outcome, diags) in &good {
            assert_ne!(*outcome, Outcome::Fail, "{name}: {diags:?}");
        }
        // The same with a driver that only ever invalidates leaves: the
        // freed table is still walked and the DMA lands.
        let bad = run_catalogue_with(Opts {
            walk_cache: true,
            leaf_only_driver: true,
            ..Opts::default()
        });
        let (o, d) = find(&bad);
        assert_eq!(o, Outcome::Fail, "{d:?}");
    }

    #[test]
    fn a_dead_master_cannot_pass_as_blocked() {
        // The device accepts every transfer and moves nothing: memory looks
        // exactly as if the IOMMU blocked it.  The heartbeat must catch it.
        let r = run_catalogue_with(Opts {
            dead: true,
            ..Opts::default()
        });
        for case in [
            "unmap_invalidate_blocks_dma",
            "range_invalidate",
            "readonly_blocks_write",
        ] {
            let (_, outcome, diags) = r.iter().find(|(n, _, _)| *n == case).unwrap();
            assert_eq!(*outcome, Outcome::Fail, "{case}: {diags:?}");
            assert!(
                diags.iter().any(|d| d.contains("heartbeat")),
                "{case}: {diags:?}"
            );
        }
    }

    #[test]
    fn skip_sync_fails_exactly_the_invalidation_cases() {
        let failed: Vec<&str> = run_catalogue(true)
            .into_iter()
            .filter(|(_, o, _)| *o == Outcome::Fail)
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(
            failed,
            [
                "unmap_invalidate_blocks_dma",
                "remap_invalidate_new_page",
                "range_invalidate",
                "asid_invalidate",
                "config_invalidate",
                "default_deny",
                "empty_gather_still_syncs",
            ]
        );
    }
}
