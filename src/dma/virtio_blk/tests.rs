//! Host tests of the virtio-blk master against a small virtio-blk model on
//! the generic virtio-pci model: sector-padded chains in both directions,
//! recovery after a blocked DMA, and the ACCESS_PLATFORM requirement.

use super::*;
use crate::mm::host_ram::{self, HostRam};
use crate::time::fake::SteppingClock;
use crate::virtio::model::{layout, Backend, PciModel, Queue};
use crate::virtio::transport::{status, F_VERSION_1};
use alloc::vec::Vec;
use core::cell::Cell;

const SECTORS: usize = 8;

/// virtio-blk as QEMU behaves for our requests: header, data buffers
/// summing to whole sectors, status byte; a buffer the IOMMU would block
/// makes the device broken (QEMU `virtio_error` → DEVICE_NEEDS_RESET) and
/// the request never completes.
struct Blk {
    offered: u64,
    disk: Vec<u8>,
    /// Addresses whose access fails translation.
    blocked: Option<(u64, u64)>,
    broken: bool,
}

impl Backend for Blk {
    fn offered(&self) -> u64 {
        self.offered
    }
    fn config(&self) -> Vec<u8> {
        (SECTORS as u64).to_le_bytes().to_vec()
    }
    fn write_config(&mut self, _off: usize, _val: u8, _f: u64) {}
    fn notify(&mut self, queue: u16, queues: &mut [Queue], st: &mut u8) {
        if queue != 0 || self.broken {
            return;
        }
        while let Some((head, bufs)) = queues[0].pop() {
            let hits = |&(a, l, _): &(u64, u32, bool)| {
                self.blocked
                    .is_some_and(|(s, e)| a < e && a + u64::from(l) > s)
            };
            if bufs.iter().any(hits) {
                self.broken = true;
                *st |= status::NEEDS_RESET;
                return;
            }
            let (hdr, rest) = bufs.split_first().unwrap();
            let (stat, data) = rest.split_last().unwrap();
            let mut h = [0u8; 16];
            host_ram::read_bytes(hdr.0, &mut h);
            let kind = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let sector = u64::from_le_bytes(h[8..16].try_into().unwrap()) as usize;
            let total: usize = data.iter().map(|d| d.1 as usize).sum();
            let mut s = 0u8;
            if !total.is_multiple_of(SECTOR) || (sector + total / SECTOR) > SECTORS {
                s = 1;
            } else {
                let mut at = sector * SECTOR;
                for &(a, l, w) in data {
                    let l = l as usize;
                    if kind == T_IN && w {
                        host_ram::write_bytes(a, &self.disk[at..at + l]);
                    } else if kind == T_OUT && !w {
                        host_ram::read_bytes(a, &mut self.disk[at..at + l]);
                    } else {
                        s = 1;
                    }
                    at += l;
                }
            }
            host_ram::write_bytes(stat.0, &[s]);
            queues[0].push_used(head, if kind == T_IN { total as u32 + 1 } else { 1 });
        }
    }
    fn reset(&mut self) {
        self.broken = false;
    }
    fn queues(&self) -> usize {
        1
    }
}

fn nop() {}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1000,
    }))
}

fn model(offered: u64) -> PciModel<Blk> {
    PciModel::new(Blk {
        offered,
        disk: alloc::vec![0; SECTORS * SECTOR],
        blocked: None,
        broken: false,
    })
}

/// A master whose queue and request memory sit at IOVA = physical address
/// (the model does not translate; a fresh pool hands out its base first).
fn master<'p>(
    m: &PciModel<Blk>,
    ram: &HostRam,
    pool: &'p DmaPool,
) -> VirtioBlkMaster<'p, 'static, PciModel<Blk>> {
    let base = ram.range().base.as_u64();
    let v = VirtioBlkMaster::bring_up(
        m.clone(),
        layout(),
        clock(),
        pool,
        nop,
        Placement {
            name: "blk".into(),
            stream: StreamId(0x30),
            queue_iova: Iova(base),
            req_iova: Iova(base + 4096),
            page: 4096,
        },
    )
    .unwrap();
    for (phys, iova, _) in v.fixed() {
        assert_eq!(phys.as_u64(), iova.0, "test relies on identity placement");
    }
    v
}

const OFFER: u64 = F_VERSION_1 | F_ACCESS_PLATFORM;

#[test]
fn write_read_and_copy_move_only_len_bytes() {
    let ram = HostRam::new(4 << 20);
    let pool = ram.pool();
    let m = model(OFFER);
    let mut b = master(&m, &ram, &pool);
    assert_eq!(b.capacity(), SECTORS as u64);
    let buf = pool.alloc(4096).unwrap();
    buf.fill(0xee);
    let at = Iova(buf.phys().as_u64() + 0x100);
    let t = Duration::from_millis(10);
    let data: Vec<u8> = (0..64u8).collect();
    assert_eq!(b.write(at, &data, t).unwrap().bytes, 64);
    let mut got = [0u8; 64];
    buf.read(0x100, &mut got);
    assert_eq!(&got[..], &data[..]);
    assert_eq!(buf.byte(0xff), 0xee, "byte before untouched");
    assert_eq!(
        buf.byte(0x140),
        0xee,
        "byte after untouched (pad went to the sink)"
    );
    buf.write(0x800, &[7u8; 64]);
    let mut back = [0u8; 64];
    b.read(Iova(buf.phys().as_u64() + 0x800), &mut back, t)
        .unwrap();
    assert_eq!(back, [7u8; 64]);
    b.copy(at, Iova(buf.phys().as_u64() + 0xc00), 64, t)
        .unwrap();
    buf.read(0xc00, &mut got);
    assert_eq!(&got[..], &data[..]);
    assert!(matches!(
        b.write(at, &[0u8; 513], t),
        Err(DmaError::TooLong { len: 513, max: 512 })
    ));
}

#[test]
fn a_blocked_dma_aborts_and_the_device_comes_back() {
    let ram = HostRam::new(4 << 20);
    let pool = ram.pool();
    let m = model(OFFER);
    let mut b = master(&m, &ram, &pool);
    let buf = pool.alloc(4096).unwrap();
    let p = buf.phys().as_u64();
    m.0.borrow_mut().backend.blocked = Some((p, p + 0x1000));
    let t = Duration::from_millis(10);
    let e = b.write(Iova(p), &[1u8; 64], t).unwrap_err();
    assert!(matches!(e, DmaError::Aborted { write: true, .. }), "{e:?}");
    assert_eq!(b.resets(), 1);
    assert_eq!(buf.byte(0), 0);
    m.0.borrow_mut().backend.blocked = None;
    b.write(Iova(p), &[2u8; 64], t).unwrap();
    assert_eq!(buf.byte(63), 2, "re-initialised device works again");
}

#[test]
fn access_platform_is_required() {
    let ram = HostRam::new(4 << 20);
    let pool = ram.pool();
    let m = model(F_VERSION_1);
    let base = ram.range().base.as_u64();
    let r = VirtioBlkMaster::bring_up(
        m,
        layout(),
        clock(),
        &pool,
        nop,
        Placement {
            name: "blk".into(),
            stream: StreamId(0x30),
            queue_iova: Iova(base),
            req_iova: Iova(base + 4096),
            page: 4096,
        },
    );
    assert!(matches!(
        r.err(),
        Some(BlkError::Transport(VirtioError::MissingFeatures {
            missing: F_ACCESS_PLATFORM
        }))
    ));
}
