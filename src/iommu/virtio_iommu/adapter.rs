//! virtio-iommu as the IOMMU core sees it: [`VirtioIommu`] implements
//! [`Iommu`] and [`Observe`] over the device layer.
//!
//! virtio-iommu walks no page tables: the device keeps the mappings it was
//! sent with MAP requests (virtio 1.2 §5.13.6.6; docs/hw/qemu-virt.md §4).  The
//! core still writes its LPAE tables — they are the software record the
//! self-test and `Domain::translate` use — and this driver **mirrors** them
//! into the device:
//!
//! * after every map, the core's [`Iommu::sync_map`] carries the
//!   translation ([`MapRequest`]: iova, phys, size, prot) and the driver
//!   sends one MAP for it;
//! * every sync the core issues after an unmap becomes UNMAP requests over
//!   the gathered range: a MAP can only be removed whole (splitting one
//!   fails with S_RANGE), so a mapping partly inside the range is unmapped
//!   whole and the parts outside are mapped again.  An UNMAP is complete
//!   when the device returns its buffer, which the driver waits for — the
//!   sync contract holds;
//! * the device forgets a domain and its mappings when its last endpoint
//!   detaches (QEMU `virtio_iommu_detach`), and MAP into a domain with no
//!   endpoint fails with S_NOENT, so the mirror is kept per domain and
//!   replayed when the first endpoint attaches (Linux `viommu_attach_dev`
//!   does the same).
//!
//! A sync that breaks a block (break-before-make, `Gather::bbm_breaks`)
//! cannot be mirrored from ranges alone and is refused; the self-test's
//! mappings never need one on virtio-iommu.
//!
//! Holding queues the UNMAPs (ATTACH/DETACH take effect when the device
//! returns them; there is no configuration cache to hold).  With
//! `inject=skip-sync` the UNMAPs are dropped: the mapping stays valid in the
//! device, and the cases that prove unmap blocks DMA fail — the negative
//! control.  There is no IOTLB, so a stale window can never be observed and
//! [`Iommu::capabilities`] says so for all three caches.
#![forbid(unsafe_code)]

use super::device::{ViommuError, VirtioIommuDevice};
use super::proto::{self, FaultEvent, ReqType, MAP_READ, MAP_WRITE};
use crate::iommu::pgtable::{Lpae, Prot};
use crate::iommu::vecmap::VecMap;
use crate::iommu::{
    Access, Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault, FaultDelivery,
    FaultKind, FaultShape, InvalidationGate, Iommu, IommuError, MapRequest, Observable, Observe,
    RawRecord, StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::Iova;
use crate::mmio::Mmio;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A virtio-iommu domain number (virtio 1.2 §5.13.6.3), the context tag of
/// this driver.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct DomainId(pub u32);

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "domain {}", self.0)
    }
}

/// The cases the virtio-iommu negative control (`inject=skip-sync`: every
/// UNMAP dropped, so the mapping stays valid in the device) must fail: the
/// unmapped page is still written (`unmap_invalidate_blocks_dma`,
/// `range_invalidate`, `empty_gather_still_syncs`, which also sees 0
/// UNMAPs), no fault is recorded for the "unmapped" IOVA (`fault_record`),
/// and the remap's MAP overlaps the stale mapping (S_INVAL,
/// `remap_invalidate_new_page`).  `asid_invalidate`, `config_invalidate`
/// and the stale windows skip or pass: nothing is cached, and ATTACH/DETACH
/// are never dropped.  The one definition: the host model tests, the QEMU
/// scenarios and the docs read this list.
pub const SKIP_SYNC_FAILURES: &[&str] = &[
    "unmap_invalidate_blocks_dma",
    "remap_invalidate_new_page",
    "range_invalidate",
    "fault_record",
    "empty_gather_still_syncs",
];

/// What virtio-iommu is: nothing is cached (docs/hw/qemu-virt.md §4: the
/// translation looks the domain's mapping tree up on every access), one
/// UNMAP covers any range, and a fault for an unmapped address carries no
/// direction on QEMU 10.0.2 (measured: raw flags 0x100).
pub const VIRTIO_IOMMU_CAPABILITIES: Capabilities = Capabilities {
    tlb: Observable::No("virtio-iommu keeps no translation cache (docs/hw/qemu-virt.md §4)"),
    config_cache: Observable::No("virtio-iommu applies ATTACH/DETACH when the request completes: no configuration cache (docs/hw/qemu-virt.md §4)"),
    walk_cache: Observable::No("virtio-iommu walks no page tables (docs/hw/qemu-virt.md §4)"),
    contexts: Contexts::PerStream,
    context_invalidation: ContextInvalidation::Tagged,
    detach: Detach::Blocks,
    invalidation: SyncPolicy::Range,
    ranged: true,
    fault: FaultShape {
        direction: Observable::No("QEMU's virtio-iommu sets only F_ADDRESS in a fault for an unmapped address (measured on 10.0.2)"),
        iova_granule: 4,
        delivery: FaultDelivery::Queue,
    },
};

/// Fault records kept between two drains.
const MAX_FAULTS: usize = 256;

/// One mapping as sent to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mirrored {
    /// Exclusive end.
    end: u64,
    phys: u64,
    flags: u32,
}

/// An unmap the core asked for, as a range in a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmap {
    domain: u32,
    start: u64,
    end: u64,
}

/// The virtio-iommu driving the core's [`Iommu`] and [`Observe`] contracts.
pub struct VirtioIommu<'p, 'c, M: Mmio> {
    dev: VirtioIommuDevice<'p, 'c, M>,
    name: String,
    /// Hold / skip-sync / cost (requests sent).
    gate: InvalidationGate<Unmap>,
    /// Domain numbers handed out to live domains.
    domains: VecMap<u32, ()>,
    /// Per domain: start → mapping.
    mirror: VecMap<u32, VecMap<u64, Mirrored>>,
    /// Endpoint → domain it is attached to.
    endpoints: VecMap<u32, u32>,
    faults: Vec<Fault>,
    /// Test-only mutation: every UNMAP's end is one byte too far.
    #[cfg(test)]
    pub(crate) unmap_end_off_by_one: bool,
}

fn flags(prot: Prot) -> u32 {
    (if prot.read { MAP_READ } else { 0 }) | (if prot.write { MAP_WRITE } else { 0 })
}

fn domain_of(tag: DomainId) -> u32 {
    tag.0
}

impl<'p, 'c, M: Mmio> VirtioIommu<'p, 'c, M> {
    /// Wraps a brought-up device.  `skip_sync` drops every UNMAP.
    pub fn new(dev: VirtioIommuDevice<'p, 'c, M>, name: &str, skip_sync: bool) -> Self {
        Self {
            dev,
            name: String::from(name),
            gate: InvalidationGate::new(skip_sync),
            domains: VecMap::new(),
            mirror: VecMap::new(),
            endpoints: VecMap::new(),
            faults: Vec::new(),
            #[cfg(test)]
            unmap_end_off_by_one: false,
        }
    }

    /// Marks domain numbers 1..`d` taken, so the next domain gets `d`.
    #[cfg(test)]
    pub(crate) fn take_domains_below(&mut self, d: u32) {
        for taken in 1..d {
            self.domains.insert(taken, ());
        }
    }

    /// The device layer.
    pub fn device(&self) -> &VirtioIommuDevice<'p, 'c, M> {
        &self.dev
    }

    /// The device layer (for PROBE at bring-up).
    pub fn device_mut(&mut self) -> &mut VirtioIommuDevice<'p, 'c, M> {
        &mut self.dev
    }

    fn live(&self, domain: u32) -> bool {
        self.endpoints.values().any(|&d| d == domain)
    }

    fn send_map(&mut self, domain: u32, start: u64, m: Mirrored) -> Result<(), ViommuError> {
        self.dev
            .send(
                &proto::map(domain, start, m.end - 1, m.phys, m.flags),
                start,
            )
            .map(|_| ())
    }

    /// Runs one unmap: UNMAP every mirrored mapping touching the range,
    /// MAP back the parts outside it.
    fn unmap_range(&mut self, u: Unmap) -> Result<(), IommuError> {
        let live = self.live(u.domain);
        let hit: Vec<(u64, Mirrored)> = self
            .mirror
            .get(&u.domain)
            .map(|m| {
                m.below(&u.end)
                    .iter()
                    .filter(|(_, v)| v.end > u.start)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        #[cfg(test)]
        let over = u64::from(self.unmap_end_off_by_one);
        #[cfg(not(test))]
        let over = 0;
        for (s, m) in hit {
            if live {
                self.dev
                    .send(&proto::unmap(u.domain, s, m.end - 1 + over), s)
                    .map_err(IommuError::from)?;
                self.gate.count(1);
            }
            let tree = self.mirror.get_or_default(u.domain);
            tree.remove(&s);
            let mut keep = Vec::new();
            if s < u.start {
                keep.push((s, Mirrored { end: u.start, ..m }));
            }
            if m.end > u.end {
                keep.push((
                    u.end,
                    Mirrored {
                        end: m.end,
                        phys: m.phys + (u.end - s),
                        flags: m.flags,
                    },
                ));
            }
            for (ks, km) in keep {
                if live {
                    self.send_map(u.domain, ks, km)?;
                }
                self.mirror.get_or_default(u.domain).insert(ks, km);
            }
        }
        Ok(())
    }

    fn fault(&self, e: &FaultEvent) -> Fault {
        let access = if e.flags & proto::FAULT_F_WRITE != 0 {
            Some(Access::Write)
        } else if e.flags & proto::FAULT_F_READ != 0 {
            Some(Access::Read)
        } else {
            None
        };
        let kind = match e.reason {
            proto::FAULT_R_DOMAIN => FaultKind::Config,
            proto::FAULT_R_MAPPING => {
                // virtio-iommu reports a permission failure as a MAPPING
                // fault too (QEMU virtio_iommu_translate); a fault at an
                // address the endpoint's domain maps is one.
                let mapped = self
                    .endpoints
                    .get(&e.endpoint)
                    .and_then(|d| self.mirror.get(d))
                    .and_then(|t| t.at_or_below(&e.address))
                    .filter(|(_, m)| e.address < m.end)
                    .map(|(_, m)| m.flags);
                match mapped {
                    Some(f) if access == Some(Access::Write) && f & MAP_WRITE == 0 => {
                        FaultKind::Permission
                    }
                    Some(f) if access == Some(Access::Read) && f & MAP_READ == 0 => {
                        FaultKind::Permission
                    }
                    _ => FaultKind::Translation,
                }
            }
            r => FaultKind::Other(r),
        };
        Fault {
            stream: StreamId(e.endpoint),
            iova: (e.flags & proto::FAULT_F_ADDRESS != 0).then_some(Iova(e.address)),
            access,
            kind,
            raw: RawRecord::new(&[
                u64::from(e.reason) | u64::from(e.flags) << 32,
                u64::from(e.endpoint),
            ]),
        }
    }

    fn collect_faults(&mut self) {
        if let Ok(events) = self.dev.drain_events() {
            for e in events {
                if self.faults.len() < MAX_FAULTS {
                    let f = self.fault(&e);
                    self.faults.push(f);
                }
            }
        }
    }
}

impl<M: Mmio> Iommu for VirtioIommu<'_, '_, M> {
    /// The LPAE tables are the software record the mirror is kept from.
    type Format = Lpae;
    type Tag = DomainId;

    fn name(&self) -> &str {
        &self.name
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }

    fn capabilities(&self) -> Capabilities {
        VIRTIO_IOMMU_CAPABILITIES
    }

    /// The lowest free domain number from 1 inside the device's
    /// DOMAIN_RANGE.  The device walks no tables, so any LPAE geometry
    /// serves as the record.
    fn new_context(&mut self, _format: &Lpae) -> Result<DomainId, IommuError> {
        let mut d = 1u32;
        while self.domains.contains_key(&d) {
            d = d
                .checked_add(1)
                .ok_or(IommuError::Unsupported { value: 0 })?;
        }
        self.dev.check_domain(d)?;
        self.domains.insert(d, ());
        Ok(DomainId(d))
    }

    fn release_context(&mut self, tag: DomainId) {
        self.domains.remove(&tag.0);
    }

    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, DomainId>,
    ) -> Result<(), IommuError> {
        let domain = domain_of(ctx.tag);
        self.dev.check_domain(domain)?;
        let was_live = self.live(domain);
        self.dev
            .send(&proto::attach(domain, stream.0), u64::from(stream.0))?;
        self.endpoints.insert(stream.0, domain);
        if !was_live {
            // The device starts the domain empty: replay the mirror.
            let maps: Vec<(u64, Mirrored)> = self
                .mirror
                .get(&domain)
                .map(|t| t.entries().to_vec())
                .unwrap_or_default();
            for (s, m) in maps {
                self.send_map(domain, s, m)?;
            }
        }
        Ok(())
    }

    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, DomainId>,
    ) -> Result<(), IommuError> {
        let domain = domain_of(ctx.tag);
        self.dev
            .send(&proto::detach(domain, stream.0), u64::from(stream.0))?;
        self.endpoints.remove(&stream.0);
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_, DomainId>) -> Result<(), IommuError> {
        if req.gather.bbm_breaks() > 0 {
            return Err(IommuError::SyncFailed {
                iova: req.iova,
                size: req.size,
            });
        }
        let u = Unmap {
            domain: domain_of(req.tag),
            start: req.iova.0,
            end: req.iova.0.saturating_add(req.size),
        };
        match self.gate.admit(u) {
            Some(u) => self.unmap_range(u),
            None => Ok(()),
        }
    }

    fn sync_map(
        &mut self,
        ctx: &Context<'_, Lpae, DomainId>,
        map: &MapRequest,
    ) -> Result<(), IommuError> {
        let domain = domain_of(ctx.tag);
        let start = map.iova.0;
        if map.size == 0 {
            return Ok(());
        }
        let m = Mirrored {
            end: start.saturating_add(map.size),
            phys: map.phys.as_u64(),
            flags: flags(map.prot),
        };
        // The device refuses a MAP overlapping an existing mapping with
        // S_INVAL (docs/hw/qemu-virt.md §4); the mirror refuses it alike, also
        // while the domain has no endpoint.
        let overlaps = self
            .mirror
            .get(&domain)
            .is_some_and(|t| t.below(&m.end).iter().any(|(_, v)| v.end > start));
        if overlaps {
            return Err(IommuError::RequestStatus {
                request: ReqType::Map as u8,
                status: 4,
                subject: start,
            });
        }
        if self.live(domain) {
            self.send_map(domain, start, m)?;
        }
        self.mirror.get_or_default(domain).insert(start, m);
        Ok(())
    }
}

impl<M: Mmio> Observe for VirtioIommu<'_, '_, M> {
    type Invalidation = Unmap;

    fn gate(&self) -> &InvalidationGate<Unmap> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<Unmap> {
        &mut self.gate
    }

    fn run_invalidation(&mut self, u: Unmap) -> Result<(), IommuError> {
        self.unmap_range(u)
    }

    fn skip_sync_failures(&self) -> &'static [&'static str] {
        SKIP_SYNC_FAILURES
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        self.collect_faults();
        core::mem::take(&mut self.faults)
    }

    /// Nothing is cached per domain: there is nothing to invalidate.
    fn invalidate_context(&mut self, _tag: DomainId) -> Result<(), IommuError> {
        Ok(())
    }
}
