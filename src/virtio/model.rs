//! A host model of a modern virtio-pci function (virtio 1.2 §4.1.4): the
//! common configuration, the notify area and the device configuration of
//! one BAR as an [`Mmio`], with split-queue helpers over host RAM
//! (`mm::host_ram`: ring and buffer addresses are host addresses).  What
//! the device does lives in a [`Backend`]: virtio-iommu
//! (`iommu::virtio_iommu::model`) and virtio-blk (`dma::virtio_blk`).
//! Like QEMU, queue notifications are handled during the notify store.
#![cfg(test)]

use super::pci::{Layout, Region};
use crate::mm::host_ram;
use crate::mmio::Mmio;
use alloc::vec::Vec;
use core::cell::RefCell;
use std::rc::Rc;

const COMMON: usize = 0;
const DEVICE: usize = 0x2000;
const NOTIFY: usize = 0x3000;
const NOTIFY_MULT: u32 = 4;
/// queue_size a model offers.
const MAX_QUEUE: u16 = 256;

/// The layout QEMU's capabilities describe (all in BAR4).
pub fn layout() -> Layout {
    let r = |offset: usize| Region {
        bar: 4,
        offset: offset as u32,
        length: 0x1000,
    };
    Layout {
        common: r(COMMON),
        notify: r(NOTIFY),
        notify_multiplier: NOTIFY_MULT,
        isr: None,
        device: Some(r(DEVICE)),
    }
}

/// One queue as the device sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queue {
    /// queue_size.
    pub size: u16,
    desc: u64,
    driver: u64,
    device: u64,
    enabled: bool,
    last_avail: u16,
}

/// A chain popped from a queue: head and (addr, len, device-writable).
pub type Chain = (u16, Vec<(u64, u32, bool)>);

impl Queue {
    /// The next available chain, if any.
    pub fn pop(&mut self) -> Option<Chain> {
        if !self.enabled || self.size == 0 {
            return None;
        }
        if read_u16(self.driver + 2) == self.last_avail {
            return None;
        }
        let slot = u64::from(self.last_avail % self.size);
        let head = read_u16(self.driver + 4 + 2 * slot);
        self.last_avail = self.last_avail.wrapping_add(1);
        let mut bufs = Vec::new();
        let mut d = head;
        for _ in 0..self.size {
            let at = self.desc + 16 * u64::from(d);
            let flags = read_u16(at + 12);
            bufs.push((host_ram::read_u64(at), read_u32(at + 8), flags & 2 != 0));
            if flags & 1 == 0 {
                break;
            }
            d = read_u16(at + 14);
        }
        Some((head, bufs))
    }

    /// Returns chain `head` with `written` bytes in the used ring.
    pub fn push_used(&self, head: u16, written: u32) {
        let idx = read_u16(self.device + 2);
        let slot = u64::from(idx % self.size);
        write_u32(self.device + 4 + 8 * slot, u32::from(head));
        write_u32(self.device + 8 + 8 * slot, written);
        write_u16(self.device + 2, idx.wrapping_add(1));
    }
}

/// What a device does.
pub trait Backend {
    /// Features offered.
    fn offered(&self) -> u64;
    /// The device configuration bytes.
    fn config(&self) -> Vec<u8>;
    /// A driver write of one byte of device configuration.
    fn write_config(&mut self, off: usize, val: u8, driver_features: u64);
    /// The driver notified `queue`.
    fn notify(&mut self, queue: u16, queues: &mut [Queue], status: &mut u8);
    /// Device reset (status written 0).
    fn reset(&mut self);
    /// Number of queues.
    fn queues(&self) -> usize;
}

/// The whole function: transport registers, queues and the backend.
pub struct Dev<B> {
    /// device_status.
    pub status: u8,
    /// Features the driver wrote.
    pub driver_features: u64,
    dfsel: u32,
    gfsel: u32,
    qsel: u16,
    /// The queues.
    pub queues: Vec<Queue>,
    /// The device behaviour.
    pub backend: B,
}

/// The model as an [`Mmio`]; clone it to share the device with a test.
pub struct PciModel<B>(pub Rc<RefCell<Dev<B>>>);

impl<B> Clone for PciModel<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B: Backend> PciModel<B> {
    /// A function in reset state around `backend`.
    pub fn new(backend: B) -> Self {
        let n = backend.queues();
        Self(Rc::new(RefCell::new(Dev {
            status: 0,
            driver_features: 0,
            dfsel: 0,
            gfsel: 0,
            qsel: 0,
            queues: alloc::vec![Queue::default(); n],
            backend,
        })))
    }

    fn read(&self, off: usize, width: usize) -> u64 {
        let d = self.0.borrow();
        if (DEVICE..DEVICE + 0x1000).contains(&off) {
            let cfg = d.backend.config();
            let o = off - DEVICE;
            return (0..width).fold(0u64, |v, i| {
                v | u64::from(cfg.get(o + i).copied().unwrap_or(0)) << (8 * i)
            });
        }
        let q = d.queues.get(usize::from(d.qsel));
        match off - COMMON {
            0x00 => u64::from(d.dfsel),
            0x04 => match d.dfsel {
                0 => d.backend.offered() & 0xffff_ffff,
                1 => d.backend.offered() >> 32,
                _ => 0,
            },
            0x12 => d.queues.len() as u64,
            0x14 => u64::from(d.status),
            0x16 => u64::from(d.qsel),
            0x18 => q.map_or(0, |q| {
                u64::from(if q.size == 0 { MAX_QUEUE } else { q.size })
            }),
            0x1c => q.map_or(0, |q| u64::from(q.enabled)),
            0x1e => u64::from(d.qsel),
            _ => 0,
        }
    }

    fn write(&self, off: usize, val: u64) {
        let mut guard = self.0.borrow_mut();
        let d = &mut *guard;
        if (DEVICE..DEVICE + 0x1000).contains(&off) {
            let f = d.driver_features;
            d.backend.write_config(off - DEVICE, val as u8, f);
            return;
        }
        if off >= NOTIFY {
            let queue = ((off - NOTIFY) / NOTIFY_MULT as usize) as u16;
            d.backend.notify(queue, &mut d.queues, &mut d.status);
            return;
        }
        let qi = usize::from(d.qsel);
        match off - COMMON {
            0x00 => d.dfsel = val as u32,
            0x08 => d.gfsel = val as u32,
            0x0c => {
                let shift = if d.gfsel == 1 { 32 } else { 0 };
                d.driver_features &= !(0xffff_ffffu64 << shift);
                d.driver_features |= (val & 0xffff_ffff) << shift;
            }
            0x14 => {
                let v = val as u8;
                if v == 0 {
                    d.status = 0;
                    d.driver_features = 0;
                    d.queues.iter_mut().for_each(|q| *q = Queue::default());
                    d.backend.reset();
                } else {
                    // FEATURES_OK only sticks when every feature is offered.
                    let bad = d.driver_features & !d.backend.offered() != 0;
                    d.status = if bad { v & !8 } else { v };
                }
            }
            0x16 => d.qsel = val as u16,
            0x18..=0x37 => {
                let Some(q) = d.queues.get_mut(qi) else {
                    return;
                };
                let reg = off - COMMON;
                match reg {
                    0x18 => q.size = val as u16,
                    0x1c => q.enabled = val != 0,
                    0x20..=0x37 => {
                        let field = match (reg - 0x20) / 8 {
                            0 => &mut q.desc,
                            1 => &mut q.driver,
                            _ => &mut q.device,
                        };
                        if reg.is_multiple_of(8) {
                            *field = (*field & !0xffff_ffff) | (val & 0xffff_ffff);
                        } else {
                            *field = (*field & 0xffff_ffff) | val << 32;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl<B: Backend> Mmio for PciModel<B> {
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

/// Host RAM helpers for backends.
pub fn read_u16(a: u64) -> u16 {
    let mut b = [0u8; 2];
    host_ram::read_bytes(a, &mut b);
    u16::from_le_bytes(b)
}

/// 32-bit little-endian read of host RAM.
pub fn read_u32(a: u64) -> u32 {
    let mut b = [0u8; 4];
    host_ram::read_bytes(a, &mut b);
    u32::from_le_bytes(b)
}

/// 16-bit little-endian write of host RAM.
pub fn write_u16(a: u64, v: u16) {
    host_ram::write_bytes(a, &v.to_le_bytes());
}

/// 32-bit little-endian write of host RAM.
pub fn write_u32(a: u64, v: u32) {
    host_ram::write_bytes(a, &v.to_le_bytes());
}
