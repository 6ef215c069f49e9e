//! A host model of QEMU 10.0.2's virtio-iommu-pci (hw/qemu-virt.md §4):
//! the modern virtio-pci BAR (common configuration, notify, device
//! configuration) as an [`Mmio`], requests handled synchronously during the
//! notify store like QEMU does, the domain semantics of
//! `virtio_iommu_attach/detach/map/unmap` (a domain dies with its last
//! endpoint, MAP into a missing domain is S_NOENT, overlapping MAP is
//! S_INVAL, a splitting UNMAP is S_RANGE), PROBE answering the GICv2m MSI
//! page, no translation cache, and fault events on the event queue.  Ring
//! and buffer addresses are host addresses (`mm::host_ram`).
#![cfg(test)]

use super::proto;
use crate::iommu::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::host_ram;
use crate::mm::Iova;
use crate::mmio::Mmio;
use crate::virtio::pci::{Layout, Region};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;
use std::rc::Rc;

const COMMON: usize = 0;
const DEVICE: usize = 0x2000;
const NOTIFY: usize = 0x3000;
const NOTIFY_MULT: u32 = 4;

/// The layout QEMU's capabilities describe (all in BAR4).
pub fn layout() -> Layout {
    Layout {
        common: Region {
            bar: 4,
            offset: COMMON as u32,
            length: 0x1000,
        },
        notify: Region {
            bar: 4,
            offset: NOTIFY as u32,
            length: 0x1000,
        },
        notify_multiplier: NOTIFY_MULT,
        isr: None,
        device: Some(Region {
            bar: 4,
            offset: DEVICE as u32,
            length: 0x1000,
        }),
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Queue {
    size: u16,
    desc: u64,
    driver: u64,
    device: u64,
    enabled: bool,
    last_avail: u16,
}

#[derive(Debug, Default)]
struct Domain {
    endpoints: BTreeSet<u32>,
    /// start → (end inclusive, phys, flags)
    maps: BTreeMap<u64, (u64, u64, u32)>,
}

/// Model state.
#[derive(Debug)]
pub struct State {
    /// Features offered.
    pub offered: u64,
    driver_features: u64,
    dfsel: u32,
    gfsel: u32,
    status: u8,
    qsel: u16,
    queues: [Queue; 2],
    /// config.bypass.
    pub bypass: u8,
    domains: BTreeMap<u32, Domain>,
    endpoints: BTreeMap<u32, u32>,
    /// Requests handled, by type.
    pub requests: Vec<u8>,
    /// Fault events dropped for lack of an event buffer.
    pub dropped_faults: u32,
}

/// The model; clone the `Rc` to give masters a way to translate.
#[derive(Clone)]
pub struct ViommuModel(pub Rc<RefCell<State>>);

impl Default for ViommuModel {
    fn default() -> Self {
        Self::new()
    }
}

/// A chain popped from a queue: (addr, len, device-writable) per buffer.
type Chain = (u16, Vec<(u64, u32, bool)>);

impl ViommuModel {
    /// QEMU 10.0.2's offer: INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, MMIO,
    /// PROBE, BYPASS_CONFIG, VERSION_1 (EVENT_IDX/INDIRECT left out).
    pub fn new() -> Self {
        Self(Rc::new(RefCell::new(State::fresh(0x77 | 1 << 32))))
    }
}

impl State {
    fn fresh(offered: u64) -> Self {
        State {
            offered,
            driver_features: 0,
            dfsel: 0,
            gfsel: 0,
            status: 0,
            qsel: 0,
            queues: [Queue::default(); 2],
            bypass: 1,
            domains: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            requests: Vec::new(),
            dropped_faults: 0,
        }
    }
}

impl ViommuModel {
    /// Mappings of `domain` in the device: (start, end inclusive).
    pub fn mappings(&self, domain: u32) -> Vec<(u64, u64)> {
        let s = self.0.borrow();
        s.domains
            .get(&domain)
            .map(|d| d.maps.iter().map(|(&a, &(b, _, _))| (a, b)).collect())
            .unwrap_or_default()
    }

    fn pop(q: &mut Queue) -> Option<Chain> {
        if !q.enabled || q.size == 0 {
            return None;
        }
        let avail_idx = read_u16(q.driver + 2);
        if avail_idx == q.last_avail {
            return None;
        }
        let slot = u64::from(q.last_avail % q.size);
        let head = read_u16(q.driver + 4 + 2 * slot);
        q.last_avail = q.last_avail.wrapping_add(1);
        let mut bufs = Vec::new();
        let mut d = head;
        for _ in 0..q.size {
            let at = q.desc + 16 * u64::from(d);
            let addr = host_ram::read_u64(at);
            let len = read_u32(at + 8);
            let flags = read_u16(at + 12);
            bufs.push((addr, len, flags & 2 != 0));
            if flags & 1 == 0 {
                break;
            }
            d = read_u16(at + 14);
        }
        Some((head, bufs))
    }

    fn push_used(q: &Queue, head: u16, written: u32) {
        let idx = read_u16(q.device + 2);
        let slot = u64::from(idx % q.size);
        write_u32(q.device + 4 + 8 * slot, u32::from(head));
        write_u32(q.device + 8 + 8 * slot, written);
        write_u16(q.device + 2, idx.wrapping_add(1));
    }

    fn handle_requests(st: &mut State) {
        while let Some((head, bufs)) = Self::pop(&mut st.queues[0]) {
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
            let status = Self::request(st, &out, &mut reply[..in_len.max(4) - 4]);
            let n = reply.len();
            reply[n - 4] = status;
            let mut off = 0;
            for (a, l) in ins {
                let l = l as usize;
                host_ram::write_bytes(a, &reply[off..(off + l).min(n)]);
                off += l;
            }
            Self::push_used(&st.queues[0], head, in_len as u32);
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

    fn detach_ep(st: &mut State, ep: u32) {
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
    fn request(st: &mut State, out: &[u8], props: &mut [u8]) -> u8 {
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

    fn report(st: &mut State, reason: u8, flags: u32, ep: u32, addr: u64) {
        let Some((head, bufs)) = Self::pop(&mut st.queues[1]) else {
            st.dropped_faults += 1;
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
        Self::push_used(&st.queues[1], head, 24);
    }

    /// Translates an access of endpoint `ep` like
    /// `virtio_iommu_translate`: looked up on every access, faults reported.
    pub fn translate(&self, ep: u32, iova: u64, write: bool) -> Option<u64> {
        let mut st = self.0.borrow_mut();
        let Some(&d) = st.endpoints.get(&ep) else {
            if st.bypass != 0 {
                return Some(iova);
            }
            Self::report(&mut st, 1, 0, ep, 0);
            return None;
        };
        let hit = st
            .domains
            .get(&d)
            .and_then(|dom| dom.maps.range(..=iova).next_back())
            .filter(|(_, &(e, _, _))| iova <= e)
            .map(|(&s, &(_, p, f))| (s, p, f));
        let Some((s, p, f)) = hit else {
            // No direction for an unmapped address (measured on 10.0.2).
            Self::report(&mut st, 2, proto::FAULT_F_ADDRESS, ep, iova);
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
            Self::report(&mut st, 2, dir | proto::FAULT_F_ADDRESS, ep, iova);
            return None;
        }
        Some(p + (iova - s))
    }
}

fn read_u16(a: u64) -> u16 {
    let mut b = [0u8; 2];
    host_ram::read_bytes(a, &mut b);
    u16::from_le_bytes(b)
}

fn read_u32(a: u64) -> u32 {
    let mut b = [0u8; 4];
    host_ram::read_bytes(a, &mut b);
    u32::from_le_bytes(b)
}

fn write_u16(a: u64, v: u16) {
    host_ram::write_bytes(a, &v.to_le_bytes());
}

fn write_u32(a: u64, v: u32) {
    host_ram::write_bytes(a, &v.to_le_bytes());
}

impl ViommuModel {
    fn read(&self, off: usize, width: usize) -> u64 {
        let st = self.0.borrow();
        let q = &st.queues[usize::from(st.qsel).min(1)];
        if (DEVICE..DEVICE + 0x1000).contains(&off) {
            let mut cfg = [0u8; 40];
            cfg[0..8].copy_from_slice(&0xffff_ffff_ffff_f000u64.to_le_bytes());
            cfg[16..24].copy_from_slice(&0xffff_ffff_ffffu64.to_le_bytes());
            cfg[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
            cfg[32..36].copy_from_slice(&512u32.to_le_bytes());
            cfg[36] = st.bypass;
            let o = off - DEVICE;
            let mut v = 0u64;
            for i in 0..width {
                v |= u64::from(cfg.get(o + i).copied().unwrap_or(0)) << (8 * i);
            }
            return v;
        }
        match off - COMMON {
            0x00 => u64::from(st.dfsel),
            0x04 => match st.dfsel {
                0 => st.offered & 0xffff_ffff,
                1 => st.offered >> 32,
                _ => 0,
            },
            0x12 => 2,
            0x14 => u64::from(st.status),
            0x15 => 0,
            0x16 => u64::from(st.qsel),
            0x18 if st.qsel >= 2 => 0,
            0x18 if q.size == 0 => 256,
            0x18 => u64::from(q.size),
            0x1c => u64::from(q.enabled),
            0x1e => u64::from(st.qsel),
            _ => 0,
        }
    }

    fn write(&self, off: usize, val: u64) {
        let mut st = self.0.borrow_mut();
        if off == DEVICE + proto::cfg::BYPASS {
            if st.driver_features & proto::F_BYPASS_CONFIG != 0 {
                st.bypass = val as u8;
            }
            return;
        }
        if off >= NOTIFY {
            // Queue 0 (requests) is handled during the store, like QEMU;
            // event-queue notifications only say buffers were posted.
            if (off - NOTIFY) / NOTIFY_MULT as usize == 0 {
                Self::handle_requests(&mut st);
            }
            return;
        }
        let qi = usize::from(st.qsel).min(1);
        match off - COMMON {
            0x00 => st.dfsel = val as u32,
            0x08 => st.gfsel = val as u32,
            0x0c => {
                let shift = if st.gfsel == 1 { 32 } else { 0 };
                st.driver_features &= !(0xffff_ffffu64 << shift);
                st.driver_features |= (val & 0xffff_ffff) << shift;
            }
            0x14 => {
                let v = val as u8;
                if v == 0 {
                    let offered = st.offered;
                    *st = State::fresh(offered);
                } else {
                    st.status = v;
                }
            }
            0x16 => st.qsel = val as u16,
            0x18 => st.queues[qi].size = val as u16,
            0x1c => st.queues[qi].enabled = val != 0,
            0x20..=0x37 => {
                let q = &mut st.queues[qi];
                let field = match (off - COMMON - 0x20) / 8 {
                    0 => &mut q.desc,
                    1 => &mut q.driver,
                    _ => &mut q.device,
                };
                if (off - COMMON).is_multiple_of(8) {
                    *field = (*field & !0xffff_ffff) | (val & 0xffff_ffff);
                } else {
                    *field = (*field & 0xffff_ffff) | val << 32;
                }
            }
            _ => {}
        }
    }
}

impl Mmio for ViommuModel {
    fn read8(&self, off: usize) -> u8 {
        self.read(off, 1) as u8
    }
    fn write8(&self, off: usize, val: u8) {
        self.write(off, u64::from(val));
    }
    fn read16(&self, off: usize) -> u16 {
        self.read(off, 2) as u16
    }
    fn write16(&self, off: usize, val: u16) {
        self.write(off, u64::from(val));
    }
    fn read32(&self, off: usize) -> u32 {
        self.read(off, 4) as u32
    }
    fn write32(&self, off: usize, val: u32) {
        self.write(off, u64::from(val));
    }
    fn read64(&self, off: usize) -> u64 {
        self.read(off, 8)
    }
    fn write64(&self, off: usize, val: u64) {
        self.write(off, val);
    }
}

/// A DMA master behind the model; bytes land in host RAM.
pub struct ModelMaster {
    /// Endpoint / stream.
    pub sid: StreamId,
    /// Name.
    pub name: String,
    /// The IOMMU.
    pub iommu: ViommuModel,
}

impl ModelMaster {
    fn xlate(&self, iova: u64, write: bool, done: usize) -> Result<u64, DmaError> {
        self.iommu
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

impl DmaMaster for ModelMaster {
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
        let pa = self.xlate(iova.0, true, 0)?;
        host_ram::write_bytes(pa, data);
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }
    fn read(&mut self, iova: Iova, buf: &mut [u8], _t: Duration) -> Result<DmaReport, DmaError> {
        let pa = self.xlate(iova.0, false, 0)?;
        host_ram::read_bytes(pa, buf);
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
