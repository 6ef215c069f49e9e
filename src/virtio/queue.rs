//! A split virtqueue (virtio 1.2 §2.7) in one piece of DMA-pool memory: the
//! descriptor table (16-byte entries, §2.7.5), the driver area ("avail",
//! §2.7.6) and the device area ("used", §2.7.8), laid out back to back with
//! the alignments of §2.7 (16, 2, 4).
//!
//! The queue knows nothing of the transport: [`SplitQueue::push`] publishes
//! a chain and the caller notifies; [`SplitQueue::pop_used`] returns what
//! the device gave back.  Addresses in descriptors are whatever the device
//! uses — bus addresses for a device whose DMA is untranslated (virtio-iommu
//! itself, docs/hw/qemu-virt.md §4), IOVAs for one behind an IOMMU.
#![forbid(unsafe_code)]

use super::VirtioError;
use crate::mm::dma_pool::DmaBuf;
use alloc::vec;
use alloc::vec::Vec;

/// VIRTQ_DESC_F_NEXT.
const DESC_NEXT: u16 = 1;
/// VIRTQ_DESC_F_WRITE: the device writes this buffer.
const DESC_WRITE: u16 = 2;
/// VIRTQ_AVAIL_F_NO_INTERRUPT: we poll.
const AVAIL_NO_INTERRUPT: u16 = 1;

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Address as the device sees it.
    pub addr: u64,
    /// Bytes.
    pub len: u32,
    /// `true` when the device writes it.
    pub device_writes: bool,
}

/// A used element: which chain came back and how many bytes the device
/// wrote into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// Head descriptor of the chain.
    pub head: u16,
    /// Bytes written by the device.
    pub written: u32,
}

/// Bytes the rings of a `size`-entry queue need.
pub fn bytes_needed(size: u16) -> usize {
    let n = usize::from(size);
    used_offset(size) + 6 + 8 * n
}

fn used_offset(size: u16) -> usize {
    let n = usize::from(size);
    (16 * n + 6 + 2 * n).next_multiple_of(4)
}

/// A split virtqueue.
pub struct SplitQueue<'p> {
    index: u16,
    mem: DmaBuf<'p>,
    dev_base: u64,
    size: u16,
    free: Vec<u16>,
    /// Chain length per head in flight (0 = not in flight).
    chain: Vec<u16>,
    avail_idx: u16,
    last_used: u16,
    barrier: fn(),
}

impl<'p> SplitQueue<'p> {
    /// A queue of `size` entries (a power of two) with index `index`, in
    /// `mem`, which the device reaches at `dev_base`.  `barrier` orders our
    /// ring writes before the index store and the notification (a `dsb st`
    /// on aarch64).
    pub fn new(
        index: u16,
        mem: DmaBuf<'p>,
        dev_base: u64,
        size: u16,
        barrier: fn(),
    ) -> Result<Self, VirtioError> {
        if size == 0 || !size.is_power_of_two() {
            return Err(VirtioError::BadQueueSize {
                queue: index,
                want: size,
                max: 0,
            });
        }
        let need = bytes_needed(size);
        if need > mem.len() {
            return Err(VirtioError::QueueMemory {
                queue: index,
                need,
                have: mem.len(),
            });
        }
        mem.fill(0);
        let q = Self {
            index,
            mem,
            dev_base,
            size,
            free: (0..size).rev().collect(),
            chain: vec![0; usize::from(size)],
            avail_idx: 0,
            last_used: 0,
            barrier,
        };
        q.mem.write_u16(q.avail_off(), AVAIL_NO_INTERRUPT);
        Ok(q)
    }

    /// Queue index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Device address of the descriptor table.
    pub fn desc_addr(&self) -> u64 {
        self.dev_base
    }

    /// Device address of the driver area.
    pub fn driver_addr(&self) -> u64 {
        self.dev_base + self.avail_off() as u64
    }

    /// Device address of the device area.
    pub fn device_addr(&self) -> u64 {
        self.dev_base + used_offset(self.size) as u64
    }

    /// Free descriptors.
    pub fn free_descriptors(&self) -> usize {
        self.free.len()
    }

    /// Chains handed to the device and not yet returned.
    pub fn in_flight(&self) -> usize {
        self.chain.iter().filter(|&&c| c != 0).count()
    }

    fn avail_off(&self) -> usize {
        16 * usize::from(self.size)
    }

    /// Writes `bufs` as one chain and publishes it in the driver area; the
    /// caller notifies.  Returns the head descriptor.
    pub fn push(&mut self, bufs: &[Buffer]) -> Result<u16, VirtioError> {
        if bufs.is_empty() || bufs.len() > self.free.len() {
            return Err(VirtioError::QueueFull {
                queue: self.index,
                need: bufs.len().max(1),
                free: self.free.len(),
            });
        }
        let ids: Vec<u16> = (0..bufs.len()).filter_map(|_| self.free.pop()).collect();
        for (k, (b, &id)) in bufs.iter().zip(&ids).enumerate() {
            let off = 16 * usize::from(id);
            let next = ids.get(k + 1).copied();
            let mut flags = if b.device_writes { DESC_WRITE } else { 0 };
            if next.is_some() {
                flags |= DESC_NEXT;
            }
            self.mem.write_u64(off, b.addr);
            self.mem.write_u32(off + 8, b.len);
            self.mem.write_u16(off + 12, flags);
            self.mem.write_u16(off + 14, next.unwrap_or(0));
        }
        let head = ids[0];
        self.chain[usize::from(head)] = ids.len() as u16;
        let slot = usize::from(self.avail_idx % self.size);
        self.mem.write_u16(self.avail_off() + 4 + 2 * slot, head);
        // §2.7.13.2: the ring entry must be visible before the index.
        (self.barrier)();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem.write_u16(self.avail_off() + 2, self.avail_idx);
        (self.barrier)();
        Ok(head)
    }

    /// The next used element, if the device returned one.  A used element
    /// naming no chain in flight is an error, never a panic.
    pub fn pop_used(&mut self) -> Result<Option<Used>, VirtioError> {
        let used = used_offset(self.size);
        let idx = self.mem.read_u16(used + 2);
        if idx == self.last_used {
            return Ok(None);
        }
        (self.barrier)();
        let slot = usize::from(self.last_used % self.size);
        let id = self.mem.read_u32(used + 4 + 8 * slot);
        let written = self.mem.read_u32(used + 8 + 8 * slot);
        self.last_used = self.last_used.wrapping_add(1);
        let len = usize::try_from(id)
            .ok()
            .and_then(|i| self.chain.get(i).copied())
            .unwrap_or(0);
        if len == 0 {
            return Err(VirtioError::BadUsedId {
                queue: self.index,
                id,
            });
        }
        let head = id as u16;
        self.chain[usize::from(head)] = 0;
        // Give the chain's descriptors back by following `next`.
        let mut d = head;
        for k in 0..len {
            self.free.push(d);
            if k + 1 < len {
                d = self.mem.read_u16(16 * usize::from(d) + 14) % self.size;
            }
        }
        Ok(Some(Used { head, written }))
    }

    /// Forgets every chain in flight and zeroes the rings, after a device
    /// reset (§2.1.2: a reset returns every buffer to the driver).
    pub fn reset(&mut self) {
        self.mem.fill(0);
        self.free = (0..self.size).rev().collect();
        self.chain.iter_mut().for_each(|c| *c = 0);
        self.avail_idx = 0;
        self.last_used = 0;
        self.mem.write_u16(self.avail_off(), AVAIL_NO_INTERRUPT);
    }

    /// The ring memory (host tests play the device in it).
    pub fn memory(&self) -> &DmaBuf<'p> {
        &self.mem
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::host_ram::HostRam;

    fn nop() {}

    /// Plays the device: takes avail entry `slot`, returns it in the used
    /// ring with `written` bytes.
    fn device_return(q: &SplitQueue<'_>, slot: u16, written: u32) -> Vec<(u64, u32, u16)> {
        let m = q.memory();
        let avail = 16 * usize::from(q.size());
        let head = m.read_u16(avail + 4 + 2 * usize::from(slot % q.size()));
        let mut chain = Vec::new();
        let mut d = head;
        loop {
            let off = 16 * usize::from(d);
            let flags = m.read_u16(off + 12);
            chain.push((m.read_u64(off), m.read_u32(off + 8), flags));
            if flags & DESC_NEXT == 0 {
                break;
            }
            d = m.read_u16(off + 14);
        }
        let used = used_offset(q.size());
        let uidx = m.read_u16(used + 2);
        let us = usize::from(uidx % q.size());
        m.write_u32(used + 4 + 8 * us, u32::from(head));
        m.write_u32(used + 8 + 8 * us, written);
        m.write_u16(used + 2, uidx.wrapping_add(1));
        chain
    }

    #[test]
    fn chains_round_trip_and_descriptors_come_back() {
        let ram = HostRam::new(4 << 20);
        let pool = ram.pool();
        let mem = pool.alloc(4096).unwrap();
        let mut q = SplitQueue::new(0, mem, 0x8000_0000, 8, nop).unwrap();
        assert_eq!(q.driver_addr(), 0x8000_0000 + 128);
        assert_eq!(q.device_addr() % 4, 0);
        for round in 0..20u32 {
            let h = q
                .push(&[
                    Buffer {
                        addr: 0x1000 + u64::from(round),
                        len: 36,
                        device_writes: false,
                    },
                    Buffer {
                        addr: 0x2000,
                        len: 4,
                        device_writes: true,
                    },
                ])
                .unwrap();
            assert_eq!(q.free_descriptors(), 6);
            assert_eq!(q.pop_used().unwrap(), None);
            let chain = device_return(&q, round as u16, 4);
            assert_eq!(chain[0], (0x1000 + u64::from(round), 36, DESC_NEXT));
            assert_eq!(chain[1], (0x2000, 4, DESC_WRITE));
            assert_eq!(
                q.pop_used().unwrap(),
                Some(Used {
                    head: h,
                    written: 4
                })
            );
            assert_eq!(q.free_descriptors(), 8);
            assert_eq!(q.in_flight(), 0);
        }
    }

    #[test]
    fn full_queue_and_bogus_used_id_are_errors() {
        let ram = HostRam::new(4 << 20);
        let pool = ram.pool();
        let mut q = SplitQueue::new(1, pool.alloc(4096).unwrap(), 0, 4, nop).unwrap();
        let b = Buffer {
            addr: 0,
            len: 1,
            device_writes: true,
        };
        assert!(matches!(
            q.push(&[b; 5]),
            Err(VirtioError::QueueFull {
                queue: 1,
                need: 5,
                free: 4
            })
        ));
        // The device returns an id that is not in flight.
        let used = used_offset(4);
        q.memory().write_u32(used + 4, 3);
        q.memory().write_u16(used + 2, 1);
        assert_eq!(
            q.pop_used(),
            Err(VirtioError::BadUsedId { queue: 1, id: 3 })
        );
        assert!(SplitQueue::new(2, pool.alloc(4096).unwrap(), 0, 3, nop).is_err());
        assert!(matches!(
            SplitQueue::new(2, pool.alloc(4096).unwrap(), 0, 256, nop),
            Err(VirtioError::QueueMemory { .. })
        ));
    }
}
