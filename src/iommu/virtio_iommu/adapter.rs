//! virtio-iommu as the IOMMU core sees it: [`VirtioIommu`] implements
//! [`Iommu`] and [`Observe`] over the device layer.
//!
//! virtio-iommu walks no page tables: the device keeps the mappings it was
//! sent with MAP requests (virtio 1.2 §5.13.6.6; hw/qemu-virt.md §4).  The
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
//! [`Observe::caching`] says so for all three caches.
#![forbid(unsafe_code)]

use super::device::{ViommuError, VirtioIommuDevice};
use super::proto::{self, FaultEvent, ReqType, MAP_READ, MAP_WRITE};
use crate::iommu::pgtable::Prot;
use crate::iommu::{
    Access, Asid, Caching, Context, Fault, FaultKind, Iommu, IommuError, MapRequest, Observe,
    StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::Iova;
use crate::mmio::Mmio;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// What virtio-iommu lets the self-test observe: nothing is cached
/// (hw/qemu-virt.md §4: the translation looks the domain's mapping tree up
/// on every access).
pub const VIRTIO_IOMMU_CACHING: Caching = Caching {
    tlb: Some("virtio-iommu keeps no translation cache (hw/qemu-virt.md §4)"),
    config: Some("virtio-iommu applies ATTACH/DETACH when the request completes: no configuration cache (hw/qemu-virt.md §4)"),
    walk: Some("virtio-iommu walks no page tables (hw/qemu-virt.md §4)"),
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
struct Unmap {
    domain: u32,
    start: u64,
    end: u64,
}

/// The virtio-iommu driving the core's [`Iommu`] and [`Observe`] contracts.
pub struct VirtioIommu<'p, 'c, M: Mmio> {
    dev: VirtioIommuDevice<'p, 'c, M>,
    name: String,
    skip_sync: bool,
    holding: bool,
    held: Vec<Unmap>,
    cost: u64,
    /// Per domain: start → mapping.
    mirror: BTreeMap<u32, BTreeMap<u64, Mirrored>>,
    /// Endpoint → domain it is attached to.
    endpoints: BTreeMap<u32, u32>,
    faults: Vec<Fault>,
}

fn flags(prot: Prot) -> u32 {
    (if prot.read { MAP_READ } else { 0 }) | (if prot.write { MAP_WRITE } else { 0 })
}

fn domain_of(asid: Asid) -> u32 {
    u32::from(asid.0)
}

impl<'p, 'c, M: Mmio> VirtioIommu<'p, 'c, M> {
    /// Wraps a brought-up device.  `skip_sync` drops every UNMAP.
    pub fn new(dev: VirtioIommuDevice<'p, 'c, M>, name: &str, skip_sync: bool) -> Self {
        Self {
            dev,
            name: String::from(name),
            skip_sync,
            holding: false,
            held: Vec::new(),
            cost: 0,
            mirror: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            faults: Vec::new(),
        }
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
                m.range(..u.end)
                    .filter(|(_, v)| v.end > u.start)
                    .map(|(&s, &v)| (s, v))
                    .collect()
            })
            .unwrap_or_default();
        for (s, m) in hit {
            if live {
                self.dev
                    .send(&proto::unmap(u.domain, s, m.end - 1), s)
                    .map_err(IommuError::from)?;
                self.cost += 1;
            }
            let tree = self.mirror.entry(u.domain).or_default();
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
                self.mirror.entry(u.domain).or_default().insert(ks, km);
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
                    .and_then(|t| t.range(..=e.address).next_back())
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
            raw: [
                u64::from(e.reason) | u64::from(e.flags) << 32,
                u64::from(e.endpoint),
            ],
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
    fn name(&self) -> &str {
        &self.name
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }

    fn attach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let domain = domain_of(ctx.asid);
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
                .map(|t| t.iter().map(|(&s, &m)| (s, m)).collect())
                .unwrap_or_default();
            for (s, m) in maps {
                self.send_map(domain, s, m)?;
            }
        }
        Ok(())
    }

    fn detach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let domain = domain_of(ctx.asid);
        self.dev
            .send(&proto::detach(domain, stream.0), u64::from(stream.0))?;
        self.endpoints.remove(&stream.0);
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_>) -> Result<(), IommuError> {
        if req.gather.bbm_breaks() > 0 {
            return Err(IommuError::SyncFailed {
                iova: req.iova,
                size: req.size,
            });
        }
        let u = Unmap {
            domain: domain_of(req.asid),
            start: req.iova.0,
            end: req.iova.0.saturating_add(req.size),
        };
        if self.holding {
            self.held.push(u);
            return Ok(());
        }
        if self.skip_sync {
            return Ok(());
        }
        self.unmap_range(u)
    }

    fn sync_map(&mut self, ctx: &Context, map: &MapRequest) -> Result<(), IommuError> {
        let domain = domain_of(ctx.asid);
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
        // S_INVAL (hw/qemu-virt.md §4); the mirror refuses it alike, also
        // while the domain has no endpoint.
        let overlaps = self
            .mirror
            .get(&domain)
            .is_some_and(|t| t.range(..m.end).any(|(_, v)| v.end > start));
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
        self.mirror.entry(domain).or_default().insert(start, m);
        Ok(())
    }
}

impl<M: Mmio> Observe for VirtioIommu<'_, '_, M> {
    fn hold_invalidations(&mut self, hold: bool) {
        self.holding = hold;
    }

    fn release_held(&mut self) -> Result<usize, IommuError> {
        let held = core::mem::take(&mut self.held);
        if self.skip_sync {
            return Ok(0);
        }
        let n = held.len();
        for u in held {
            self.unmap_range(u)?;
        }
        Ok(n)
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        self.collect_faults();
        core::mem::take(&mut self.faults)
    }

    fn take_invalidation_cost(&mut self) -> u64 {
        core::mem::take(&mut self.cost)
    }

    fn caching(&self) -> Caching {
        VIRTIO_IOMMU_CACHING
    }

    fn set_skip_sync(&mut self, on: bool) {
        self.skip_sync = on;
    }

    fn skipping_syncs(&self) -> bool {
        self.skip_sync
    }

    /// One UNMAP request covers any IOVA range.
    fn ranged_invalidation(&self) -> bool {
        true
    }

    /// QEMU 10.0.2 reports a fault at an address with no mapping with
    /// `flags = F_ADDRESS` only (measured: raw flags 0x100), while a
    /// permission fault carries READ/WRITE.
    fn translation_fault_direction(&self) -> Option<&'static str> {
        Some("QEMU's virtio-iommu sets only F_ADDRESS in a fault for an unmapped address (measured on 10.0.2)")
    }

    /// Nothing is cached per domain: there is nothing to invalidate.
    fn invalidate_context(&mut self, _asid: Asid) -> Result<(), IommuError> {
        Ok(())
    }
}
