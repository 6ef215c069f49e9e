//! Host tests of the ZDMA driver and its [`DmaMaster`] against the channel
//! model (`model.rs`) behind a page map standing in for an IOMMU: a copy
//! lands byte-exact, a refused read or write ends as the right
//! [`DmaError::Aborted`] with the ISR bit named, a fault part way counts
//! what was written, a hung channel times out naming ISR/STATUS/CTRL2 and
//! is stopped, and a dead or running channel is refused by name.

use super::model::ZdmaModel;
use super::regs::*;
use super::*;
use crate::dma::{DmaError, DmaMaster, StreamId};
use crate::mm::dma_pool::DmaBuf;
use crate::mm::host_ram::HostRam;
use crate::mm::Iova;
use crate::mmio::ModelMmio;
use crate::testkit::master::Translate;
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::ToString;
use core::cell::{Cell, RefCell};

const SID: u32 = 0x14e8;
const PAGE: u64 = 4096;
const T: Duration = Duration::from_millis(20);

/// IOVA page → (physical page, writable); everything else faults.
#[derive(Clone, Default)]
struct Pages(Rc<RefCell<BTreeMap<u64, (u64, bool)>>>);

impl Pages {
    fn map(&self, iova: u64, buf: &DmaBuf<'_>, writable: bool) {
        for off in (0..buf.len() as u64).step_by(PAGE as usize) {
            self.0
                .borrow_mut()
                .insert(iova + off, (buf.phys().0 + off, writable));
        }
    }
}

impl Translate for Pages {
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        assert_eq!(stream, SID, "the model issues the channel's stream");
        let (pa, w) = *self.0.borrow().get(&(iova & !(PAGE - 1)))?;
        (w || !write).then_some(pa + (iova & (PAGE - 1)))
    }
}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1000,
    }))
}

type Channel = Zdma<ModelMmio<ZdmaModel<Pages>>>;

fn channel(pages: &Pages) -> Channel {
    Zdma::new(ModelMmio::new(ZdmaModel::new(pages.clone(), SID)), clock()).unwrap()
}

fn no_barrier() {}

/// A master over a fresh channel, its staging buffer mapped at [`STAGING`]
/// by the caller.
fn master<'p>(pages: &Pages, staging: DmaBuf<'p>) -> ZdmaMaster<'p, ModelMmio<ZdmaModel<Pages>>> {
    ZdmaMaster::new(
        channel(pages),
        "zdma".to_string(),
        StreamId(SID),
        staging,
        Iova(STAGING),
        no_barrier,
    )
}

/// Runs `f` on a master whose one-page staging buffer is mapped writable
/// at [`STAGING`] and nothing else.
fn with_staged_master(f: impl FnOnce(&mut ZdmaMaster<'_, ModelMmio<ZdmaModel<Pages>>>)) {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let staging = pool.alloc(PAGE).unwrap();
    let pages = Pages::default();
    pages.map(STAGING, &staging, true);
    f(&mut master(&pages, staging));
}

const SRC: u64 = 0x1000_0000;
const DST: u64 = 0x2_0000_0000;
const STAGING: u64 = 0x0800_0000;

#[test]
fn a_copy_lands_byte_exact_in_simple_mode() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let (src, dst) = (pool.alloc(PAGE).unwrap(), pool.alloc(PAGE).unwrap());
    let pattern: Vec<u8> = (0..PAGE as usize).map(|i| (i * 7 + 1) as u8).collect();
    src.write(0, &pattern);
    let pages = Pages::default();
    pages.map(SRC, &src, false);
    pages.map(DST, &dst, true);
    let mut z = channel(&pages);
    let d = z.copy(SRC + 3, DST + 5, 1000, T).unwrap();
    assert_eq!(d.bytes, 1000);
    assert_ne!(d.isr & DMA_DONE, 0);
    let mut got = alloc::vec![0u8; PAGE as usize];
    dst.read(0, &mut got);
    assert_eq!(&got[5..1005], &pattern[3..1003]);
    assert!(got[..5].iter().all(|&b| b == 0), "before the destination");
    assert!(got[1005..].iter().all(|&b| b == 0), "after the destination");
    let m = z.regs.model();
    assert!(m.misuse.is_empty(), "{:?}", m.misuse);
    assert_eq!(m.starts, 1);
    assert_eq!(m.reg(CTRL0) & (CTRL0_POINT_TYPE | CTRL0_MODE), 0);
    assert_eq!(
        m.reg(IMR),
        ISR_ALL,
        "every interrupt masked: the driver polls"
    );
    assert_eq!(m.reg(ISR), 0, "ISR cleared after the transfer");
}

#[test]
fn the_master_writes_reads_and_copies_through_its_staging_buffer() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let (staging, target) = (pool.alloc(PAGE).unwrap(), pool.alloc(2 * PAGE).unwrap());
    let pages = Pages::default();
    pages.map(STAGING, &staging, true);
    pages.map(DST, &target, true);
    let mut m = master(&pages, staging);
    assert_eq!(m.max_transfer(), PAGE as usize);
    let r = m.write(Iova(DST + 8), b"through the IOMMU", T).unwrap();
    assert_eq!(r.bytes, 17);
    let mut back = [0u8; 17];
    m.read(Iova(DST + 8), &mut back, T).unwrap();
    assert_eq!(&back, b"through the IOMMU");
    m.copy(Iova(DST + 8), Iova(DST + PAGE), 17, T).unwrap();
    let mut moved = [0u8; 17];
    target.read(PAGE as usize, &mut moved);
    assert_eq!(&moved, b"through the IOMMU");
    assert!(m.last_error().is_none());
    assert!(m.channel().regs.model().misuse.is_empty());
    assert_eq!(
        m.write(Iova(DST), &[0u8; PAGE as usize + 1], T),
        Err(DmaError::TooLong {
            len: PAGE as usize + 1,
            max: PAGE as usize
        })
    );
}

#[test]
fn a_refused_write_is_an_aborted_device_write_at_the_destination() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let (staging, target) = (pool.alloc(PAGE).unwrap(), pool.alloc(PAGE).unwrap());
    target.fill(0xa5);
    let pages = Pages::default();
    pages.map(STAGING, &staging, true);
    pages.map(DST, &target, false); // read-only
    let mut m = master(&pages, staging);
    let e = m.write(Iova(DST), &[1, 2, 3, 4], T).unwrap_err();
    let DmaError::Aborted {
        stream,
        iova,
        write,
        bytes,
        status,
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (stream, iova, write, bytes),
        (StreamId(SID), Iova(DST), true, 0)
    );
    assert_ne!(status as u32 & AXI_WR_DATA, 0, "ISR in the low word");
    assert_eq!(
        (status >> 32) as u32,
        STATE_DONE_ERR,
        "STATUS in the high word"
    );
    let why = m.last_error().unwrap().to_string();
    assert!(why.contains("ZDMA_CH_ISR (+0x100)"), "{why}");
    assert!(why.contains("AXI_WR_DATA"), "{why}");
    assert!(why.contains("ZDMA_CH_STATUS (+0x11c) = 0x3"), "{why}");
    assert!(
        target.byte(0) == 0xa5,
        "nothing written through a read-only page"
    );
    // The channel is usable again after the error.
    pages.map(DST, &target, true);
    m.write(Iova(DST), &[1, 2, 3, 4], T).unwrap();
    assert_eq!(target.byte(3), 4);
}

#[test]
fn a_refused_read_is_an_aborted_device_read_at_the_source() {
    with_staged_master(|m| {
        let mut buf = [0u8; 64];
        match m.read(Iova(SRC), &mut buf, T) {
            Err(DmaError::Aborted {
                iova,
                write,
                status,
                ..
            }) => {
                assert_eq!((iova, write), (Iova(SRC), false));
                assert_ne!(status as u32 & AXI_RD_DATA, 0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.last_error().unwrap().side(), Some(Side::Source));
    });
}

#[test]
fn a_fault_part_way_counts_the_bytes_written_before_it() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let (src, dst) = (pool.alloc(2 * PAGE).unwrap(), pool.alloc(PAGE).unwrap());
    src.fill(0x5a);
    let pages = Pages::default();
    pages.map(SRC, &src, false);
    pages.map(DST, &dst, true); // only the first destination page
    let mut z = channel(&pages);
    let e = z.copy(SRC, DST, 2 * PAGE as usize, T).unwrap_err();
    assert!(
        matches!(e, ZdmaError::Failed { isr, bytes: 4096, .. } if isr & AXI_WR_DATA != 0),
        "{e:?}"
    );
    assert_eq!(dst.byte(PAGE as usize - 1), 0x5a);
}

#[test]
fn a_hung_channel_times_out_naming_its_registers_and_is_stopped() {
    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let (src, dst) = (pool.alloc(PAGE).unwrap(), pool.alloc(PAGE).unwrap());
    let pages = Pages::default();
    pages.map(SRC, &src, false);
    pages.map(DST, &dst, true);
    let mut z = channel(&pages);
    z.regs.model_mut().hang = true;
    let e = z.copy(SRC, DST, 64, T).unwrap_err();
    let ZdmaError::Timeout {
        waited,
        isr,
        status,
        ctrl2,
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(waited >= T, "{waited:?}");
    assert_eq!((isr, status, ctrl2), (0, 2, CTRL2_EN));
    let why = e.to_string();
    assert!(why.contains("ZDMA_CH_CTRL2 (+0x200) = 0x1"), "{why}");
    assert!(why.contains("ZDMA_CH_STATUS (+0x11c) = 0x2"), "{why}");
    assert_eq!(
        z.regs.model().reg(CTRL2),
        0,
        "the driver stopped the channel"
    );
    // The next transfer runs on a working channel.
    z.regs.model_mut().hang = false;
    z.copy(SRC, DST, 64, T).unwrap();
    assert!(
        z.regs.model().misuse.is_empty(),
        "{:?}",
        z.regs.model().misuse
    );
}

#[test]
fn a_hung_channel_is_a_timeout_for_the_master() {
    with_staged_master(|m| {
        m.channel_mut().regs.model_mut().hang = true;
        match m.write(Iova(DST), &[9; 8], T) {
            Err(DmaError::Timeout { iova, status, .. }) => {
                assert_eq!(iova, Iova(DST));
                assert_eq!((status >> 32) as u32, 2);
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_channel_found_running_is_not_idle_for_the_master_not_a_timeout() {
    with_staged_master(|m| {
        // Someone else started the channel (it never finishes).
        m.channel_mut().regs.model_mut().hang = true;
        crate::mmio::Mmio::write32(&m.channel_mut().regs, CTRL2, CTRL2_EN);
        match m.write(Iova(DST), &[9; 8], T) {
            Err(DmaError::NotIdle { status, .. }) => {
                assert_eq!(status as u32, CTRL2_EN, "CTRL2 in the low word");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_dead_or_running_channel_is_refused_by_name() {
    let mut dead = ZdmaModel::new(Pages::default(), SID);
    dead.dead = true;
    let e = Zdma::new(ModelMmio::new(dead), clock()).err().unwrap();
    assert_eq!(
        e,
        ZdmaError::Dead {
            offset: CTRL0,
            value: u32::MAX
        }
    );
    assert!(e.to_string().contains("ZDMA_CH_CTRL0 (+0x110)"), "{e}");

    let mut running = ZdmaModel::new(Pages::default(), SID);
    running.hang = true;
    let mmio = ModelMmio::new(running);
    crate::mmio::Mmio::write32(&mmio, CTRL2, CTRL2_EN);
    let e = Zdma::new(mmio, clock()).err().unwrap();
    assert_eq!(
        e,
        ZdmaError::Busy {
            ctrl2: 1,
            status: 2
        }
    );
}

#[test]
fn lengths_and_addresses_outside_the_fields_are_refused_before_any_access() {
    let pages = Pages::default();
    let mut z = channel(&pages);
    assert_eq!(z.copy(SRC, DST, 0, T), Err(ZdmaError::BadLength { len: 0 }));
    assert_eq!(
        z.copy(SRC, DST, MAX_TRANSFER + 1, T),
        Err(ZdmaError::BadLength {
            len: MAX_TRANSFER + 1
        })
    );
    assert_eq!(
        z.copy(SRC, 1 << 49, 4, T),
        Err(ZdmaError::AddressTooWide {
            side: Side::Destination,
            addr: 1 << 49
        })
    );
    assert_eq!(z.regs.model().starts, 0);
}

#[test]
fn isr_bits_are_named() {
    assert_eq!(
        regs::isr_bits(AXI_WR_DATA | DMA_DONE),
        "DMA_DONE|AXI_WR_DATA"
    );
    assert_eq!(regs::isr_bits(0), "-");
    assert_eq!(
        regs::isr_bits(ISR_ALL),
        "DMA_PAUSE|DMA_DONE|AXI_WR_DATA|AXI_RD_DATA|AXI_RD_DST_DSCR|AXI_RD_SRC_DSCR|\
         IRQ_DST_ACCT_ERR|IRQ_SRC_ACCT_ERR|BYTE_CNT_OVRFL|DST_DSCR_DONE|SRC_DSCR_DONE|INV_APB"
    );
    // Bits above the twelve ISR bits are not named.
    assert_eq!(regs::isr_bits(1 << 12), "-");
}

/// An error bit that names neither data side (INV_APB, a descriptor-fetch
/// bit) is reported at the memory the caller asked about, in the caller's
/// direction: a device write's destination is a write, a device read's
/// source a read.
#[test]
fn an_error_of_neither_side_is_reported_in_the_callers_direction() {
    with_staged_master(|m| {
        m.channel_mut().regs.model_mut().fail_isr = INV_APB;
        let e = m.write(Iova(DST), &[1; 8], T).unwrap_err();
        assert!(
            matches!(
                e,
                DmaError::Aborted {
                    iova: Iova(DST),
                    write: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(m.last_error().unwrap().side(), None);
        let mut buf = [0u8; 8];
        let e = m.read(Iova(SRC), &mut buf, T).unwrap_err();
        assert!(
            matches!(
                e,
                DmaError::Aborted {
                    iova: Iova(SRC),
                    write: false,
                    ..
                }
            ),
            "{e:?}"
        );
    });
}
