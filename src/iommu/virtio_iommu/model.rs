//! A host model of QEMU 10.0.2's virtio-iommu-pci (docs/hw/qemu-virt.md §4) on
//! the generic virtio-pci model (`virtio::model`): requests handled
//! synchronously during the notify store like QEMU does, the domain
//! semantics of
//! `virtio_iommu_attach/detach/map/unmap` (a domain dies with its last
//! endpoint, MAP into a missing domain is S_NOENT, overlapping MAP is
//! S_INVAL, a splitting UNMAP is S_RANGE), PROBE answering the GICv2m MSI
//! page, no translation cache, and fault events on the event queue.  Its
//! masters are the host-model kit's `ModelMaster`.
#![cfg(test)]

use super::proto;
use crate::mm::host_ram;
pub use crate::virtio::model::layout;
use crate::virtio::model::{Backend, PciModel, Queue};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

#[derive(Debug, Default)]
struct Domain {
    endpoints: BTreeSet<u32>,
    /// start → (end inclusive, phys, flags)
    maps: BTreeMap<u64, (u64, u64, u32)>,
}

/// The virtio-iommu behaviour.
#[derive(Debug)]
pub struct Viommu {
    /// Features offered.
    pub offered: u64,
    /// config.bypass.
    pub bypass: u8,
    domains: BTreeMap<u32, Domain>,
    endpoints: BTreeMap<u32, u32>,
    /// Requests handled, by type.
    pub requests: Vec<u8>,
    /// Fault events dropped for lack of an event buffer.
    pub dropped_faults: u32,
}

/// The model: a virtio-pci function with [`Viommu`] behind it.
pub type ViommuModel = PciModel<Viommu>;

impl Viommu {
    /// QEMU 10.0.2's offer: INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, MMIO,
    /// PROBE, BYPASS_CONFIG, VERSION_1 (EVENT_IDX/INDIRECT left out), with
    /// `boot-bypass` on.
    pub fn new() -> Self {
        Self {
            offered: 0x77 | 1 << 32,
            bypass: 1,
            domains: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            requests: Vec::new(),
            dropped_faults: 0,
        }
    }
}

impl Default for Viommu {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Viommu {
    fn offered(&self) -> u64 {
        self.offered
    }

    fn config(&self) -> Vec<u8> {
        let mut cfg = alloc::vec![0u8; 40];
        cfg[0..8].copy_from_slice(&0xffff_ffff_ffff_f000u64.to_le_bytes());
        cfg[16..24].copy_from_slice(&0xffff_ffff_ffffu64.to_le_bytes());
        cfg[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        cfg[32..36].copy_from_slice(&512u32.to_le_bytes());
        cfg[36] = self.bypass;
        cfg
    }

    fn write_config(&mut self, off: usize, val: u8, driver_features: u64) {
        // config.bypass is writable only with BYPASS_CONFIG negotiated.
        if off == proto::cfg::BYPASS && driver_features & proto::F_BYPASS_CONFIG != 0 {
            self.bypass = val;
        }
    }

    fn notify(&mut self, queue: u16, queues: &mut [Queue], _status: &mut u8) {
        // Requests are handled during the store, like QEMU; event-queue
        // notifications only say buffers were posted.
        if queue == 0 {
            self.handle_requests(&mut queues[0]);
        }
    }

    fn reset(&mut self) {
        let offered = self.offered;
        *self = Self::new();
        self.offered = offered;
    }

    fn queues(&self) -> usize {
        2
    }
}

impl Viommu {
    fn handle_requests(&mut self, q: &mut Queue) {
        while let Some((head, bufs)) = q.pop() {
            let mut out = Vec::new();
            let mut ins = Vec::new();
            for (a, l, w) in bufs {
                if w {
                    ins.push((a, l));
                } else {
                    let mut b = alloc::vec![0u8; l as usize];
                    host_ram::read_bytes(a, &mut b);
                    out.extend_from_slice(&b);
                }
            }
            let in_len: usize = ins.iter().map(|&(_, l)| l as usize).sum();
            let mut reply = alloc::vec![0u8; in_len.max(4)];
            let n = reply.len();
            let status = Self::request(self, &out, &mut reply[..n - 4]);
            reply[n - 4] = status;
            let mut off = 0;
            for (a, l) in ins {
                let l = l as usize;
                host_ram::write_bytes(a, &reply[off..(off + l).min(n)]);
                off += l;
            }
            q.push_used(head, in_len as u32);
        }
    }

    fn le32(b: &[u8], at: usize) -> u32 {
        b.get(at..at + 4)
            .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
            .unwrap_or(0)
    }

    fn le64(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
            .unwrap_or(0)
    }

    fn detach_ep(st: &mut Viommu, ep: u32) {
        if let Some(d) = st.endpoints.remove(&ep) {
            let empty = st.domains.get_mut(&d).is_some_and(|dom| {
                dom.endpoints.remove(&ep);
                dom.endpoints.is_empty()
            });
            if empty {
                st.domains.remove(&d);
            }
        }
    }

    /// Handles one request; returns the status (QEMU virtio-iommu.c).
    fn request(st: &mut Viommu, out: &[u8], props: &mut [u8]) -> u8 {
        let Some(&kind) = out.first() else {
            return 3;
        };
        st.requests.push(kind);
        let domain = Self::le32(out, 4);
        match kind {
            1 => {
                let ep = Self::le32(out, 8);
                Self::detach_ep(st, ep);
                st.domains.entry(domain).or_default().endpoints.insert(ep);
                st.endpoints.insert(ep, domain);
                0
            }
            2 => {
                let ep = Self::le32(out, 8);
                if st.endpoints.get(&ep) != Some(&domain) {
                    return 4;
                }
                Self::detach_ep(st, ep);
                0
            }
            3 => {
                let (start, end, phys, flags) = (
                    Self::le64(out, 8),
                    Self::le64(out, 16),
                    Self::le64(out, 24),
                    Self::le32(out, 32),
                );
                let Some(d) = st.domains.get_mut(&domain) else {
                    return 6;
                };
                if d.maps.range(..=end).any(|(_, &(e, _, _))| e >= start) {
                    return 4;
                }
                d.maps.insert(start, (end, phys, flags));
                0
            }
            4 => {
                let (start, end) = (Self::le64(out, 8), Self::le64(out, 16));
                let Some(d) = st.domains.get_mut(&domain) else {
                    return 6;
                };
                let hits: Vec<(u64, u64)> = d
                    .maps
                    .range(..=end)
                    .filter(|(_, &(e, _, _))| e >= start)
                    .map(|(&s, &(e, _, _))| (s, e))
                    .collect();
                for (s, e) in hits {
                    if start <= s && end >= e {
                        d.maps.remove(&s);
                    } else {
                        return 5;
                    }
                }
                0
            }
            5 => {
                // One RESV_MEM MSI property: the GICv2m page.
                let mut p = Vec::new();
                p.extend_from_slice(&1u16.to_le_bytes());
                p.extend_from_slice(&20u16.to_le_bytes());
                p.extend_from_slice(&[1, 0, 0, 0]);
                p.extend_from_slice(&0x0802_0000u64.to_le_bytes());
                p.extend_from_slice(&0x0802_0fffu64.to_le_bytes());
                let n = p.len().min(props.len());
                props[..n].copy_from_slice(&p[..n]);
                0
            }
            _ => 2,
        }
    }
}

impl PciModel<Viommu> {
    /// A virtio-iommu in reset state.
    pub fn viommu() -> Self {
        PciModel::new(Viommu::new())
    }

    /// Mappings of `domain` in the device: (start, end inclusive).
    pub fn mappings(&self, domain: u32) -> Vec<(u64, u64)> {
        let d = self.0.borrow();
        d.backend
            .domains
            .get(&domain)
            .map(|dom| dom.maps.iter().map(|(&a, &(b, _, _))| (a, b)).collect())
            .unwrap_or_default()
    }

    fn report(&self, reason: u8, flags: u32, ep: u32, addr: u64) {
        let mut d = self.0.borrow_mut();
        let Some((head, bufs)) = d.queues[1].pop() else {
            d.backend.dropped_faults += 1;
            return;
        };
        let mut f = [0u8; 24];
        f[0] = reason;
        f[4..8].copy_from_slice(&flags.to_le_bytes());
        f[8..12].copy_from_slice(&ep.to_le_bytes());
        f[16..24].copy_from_slice(&addr.to_le_bytes());
        if let Some(&(a, l, _)) = bufs.first() {
            host_ram::write_bytes(a, &f[..(l as usize).min(24)]);
        }
        d.queues[1].push_used(head, 24);
    }

    /// Translates an access of endpoint `ep` like
    /// `virtio_iommu_translate`: looked up on every access, faults reported.
    pub fn translate(&self, ep: u32, iova: u64, write: bool) -> Option<u64> {
        let (attached, bypass, hit) = {
            let d = self.0.borrow();
            let b = &d.backend;
            let dom = b.endpoints.get(&ep).copied();
            let hit = dom
                .and_then(|x| b.domains.get(&x))
                .and_then(|x| x.maps.range(..=iova).next_back())
                .filter(|(_, &(e, _, _))| iova <= e)
                .map(|(&s, &(_, p, f))| (s, p, f));
            (dom.is_some(), b.bypass != 0, hit)
        };
        if !attached {
            if bypass {
                return Some(iova);
            }
            self.report(proto::FAULT_R_DOMAIN, 0, ep, 0);
            return None;
        }
        let Some((s, p, f)) = hit else {
            // No direction for an unmapped address (measured on 10.0.2).
            self.report(proto::FAULT_R_MAPPING, proto::FAULT_F_ADDRESS, ep, iova);
            return None;
        };
        let need = if write {
            proto::MAP_WRITE
        } else {
            proto::MAP_READ
        };
        if f & need == 0 {
            let dir = if write {
                proto::FAULT_F_WRITE
            } else {
                proto::FAULT_F_READ
            };
            self.report(
                proto::FAULT_R_MAPPING,
                dir | proto::FAULT_F_ADDRESS,
                ep,
                iova,
            );
            return None;
        }
        Some(p + (iova - s))
    }
}

impl crate::testkit::master::Translate for ViommuModel {
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        ViommuModel::translate(self, stream, iova, write)
    }
}
