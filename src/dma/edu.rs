//! QEMU's `edu` educational PCI device (1234:11e8) as a DMA master.
//!
//! Facts (docs/hw/qemu-virt.md §2, from QEMU 10.0.2 hw/misc/edu.c): BAR0 is 1 MiB
//! of MMIO; 0x00 identification 0x010000ED; 0x04 liveness (reads return the
//! bitwise NOT of the last write); 0x80/0x88/0x90 DMA source, destination and
//! count (use 64-bit accesses); 0x98 command: bit0 start/busy, bit1 direction
//! (0 = RAM→device buffer, 1 = device buffer→RAM), bit2 raise interrupt.  The
//! device buffer is 4096 bytes at device addresses 0x40000..0x40fff and QEMU
//! does NOT enforce that window (it overflows its heap buffer), so this driver
//! refuses anything outside it.  Bus addresses are masked with the device's
//! `dma_mask` (default 28 bits) before they reach the IOMMU, so IOVAs above
//! the mask are refused too.  A DMA completes 100 ms of virtual time after the
//! command; no error is reported for a faulting DMA (reads give zeros, writes
//! are dropped), which is why the self-test checks memory, not status.
#![forbid(unsafe_code)]

use crate::mm::Iova;
use crate::mmio::Mmio;
use crate::time::{poll_until_expecting, Clock, Timeout};
use core::cell::Cell;
use core::fmt;
use core::time::Duration;

/// PCI vendor ID.
pub const VENDOR: u16 = 0x1234;
/// PCI device ID.
pub const DEVICE: u16 = 0x11e8;

const ID: usize = 0x00;
const LIVENESS: usize = 0x04;
const DMA_SRC: usize = 0x80;
const DMA_DST: usize = 0x88;
const DMA_COUNT: usize = 0x90;
const DMA_CMD: usize = 0x98;
const CMD_START: u64 = 1 << 0;
const CMD_TO_RAM: u64 = 1 << 1;

/// Start of the device's internal buffer in its own address space.
pub const BUFFER_BASE: u64 = 0x40000;
/// Size of the internal buffer.
pub const BUFFER_SIZE: u64 = 0x1000;
/// The identification register's expected low byte (major/minor vary).
const ID_MAGIC: u32 = 0xed;

/// How long to wait for one DMA: 100 ms of virtual time, with a wide margin
/// for a loaded host running QEMU without `-icount`.
pub const DMA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the device takes for any DMA: QEMU's edu completes it from a
/// virtual-clock timer 100 ms after the command (docs/hw/qemu-virt.md §2).
/// [`Edu::wait`] sleeps until then before it checks again, so a DMA costs
/// one wake-up, not one per check.
pub const DMA_LATENCY: Duration = Duration::from_millis(100);

/// Direction of a transfer, from memory's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The device reads memory (RAM → device buffer).
    FromMemory,
    /// The device writes memory (device buffer → RAM).
    ToMemory,
}

/// An edu request the driver refused or a wait that ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduError {
    /// BAR0 does not identify as edu.
    NotEdu {
        /// Value of the identification register.
        id: u32,
    },
    /// The liveness register did not invert what we wrote.
    NotAlive {
        /// Written.
        wrote: u32,
        /// Read back.
        read: u32,
    },
    /// The transfer would leave the device buffer window.
    OutsideBuffer {
        /// Device-buffer offset requested.
        offset: u64,
        /// Length requested.
        len: u64,
    },
    /// The IOVA range is above the device's DMA mask.
    AboveDmaMask {
        /// Start of the range.
        iova: Iova,
        /// Length.
        len: u64,
        /// The mask.
        mask: u64,
    },
    /// A DMA is still running from an earlier command.
    Busy,
    /// The DMA did not complete in time.
    Timeout(Timeout),
}

impl fmt::Display for EduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EduError::NotEdu { id } => write!(f, "edu: identification register is {id:#010x}, expected ..ed"),
            EduError::NotAlive { wrote, read } => {
                write!(f, "edu: liveness register read {read:#010x} after writing {wrote:#010x}")
            }
            EduError::OutsideBuffer { offset, len } => write!(
                f,
                "edu: transfer of {len:#x} bytes at buffer offset {offset:#x} leaves the 4 KiB device buffer"
            ),
            EduError::AboveDmaMask { iova, len, mask } => write!(
                f,
                "edu: IOVA {iova}+{len:#x} is above dma_mask {mask:#x} (raise it with -device edu,dma_mask=...)"
            ),
            EduError::Busy => write!(f, "edu: DMA command register still busy"),
            EduError::Timeout(t) => write!(f, "edu: {t}"),
        }
    }
}

/// An edu device behind its mapped BAR0.
pub struct Edu<M: Mmio> {
    regs: M,
    clock: &'static (dyn Clock + Sync),
    dma_mask: u64,
    /// Counter value when the running DMA was started.
    started: Cell<u64>,
}

impl<M: Mmio> Edu<M> {
    /// Checks identification and liveness.  `dma_mask` is what the device was
    /// created with (the runner raises it to all-ones on the QEMU command line).
    pub fn probe(
        regs: M,
        clock: &'static (dyn Clock + Sync),
        dma_mask: u64,
    ) -> Result<Self, EduError> {
        let id = regs.read32(ID);
        if id & 0xff != ID_MAGIC {
            return Err(EduError::NotEdu { id });
        }
        let wrote = 0x5a5a_0f0f;
        regs.write32(LIVENESS, wrote);
        let read = regs.read32(LIVENESS);
        if read != !wrote {
            return Err(EduError::NotAlive { wrote, read });
        }
        Ok(Self {
            regs,
            clock,
            dma_mask,
            started: Cell::new(clock.ticks()),
        })
    }

    /// The DMA mask this driver enforces.
    pub fn dma_mask(&self) -> u64 {
        self.dma_mask
    }

    /// Starts a transfer of `len` bytes between `iova` and the device buffer
    /// at `offset`, and waits for it to finish.
    pub fn transfer(
        &self,
        dir: Direction,
        iova: Iova,
        offset: u64,
        len: u64,
    ) -> Result<(), EduError> {
        self.start(dir, iova, offset, len)?;
        self.wait()
    }

    /// Starts a transfer without waiting (for "unmap while DMA is pending"
    /// cases); call [`Edu::wait`] before the next one.
    pub fn start(&self, dir: Direction, iova: Iova, offset: u64, len: u64) -> Result<(), EduError> {
        let in_window = len > 0
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= BUFFER_SIZE);
        if !in_window {
            return Err(EduError::OutsideBuffer { offset, len });
        }
        let last = iova.as_u64().checked_add(len - 1);
        if last.is_none_or(|l| l & !self.dma_mask != 0) {
            return Err(EduError::AboveDmaMask {
                iova,
                len,
                mask: self.dma_mask,
            });
        }
        if self.regs.read64(DMA_CMD) & CMD_START != 0 {
            return Err(EduError::Busy);
        }
        let dev = BUFFER_BASE + offset;
        let (src, dst, cmd) = match dir {
            Direction::FromMemory => (iova.as_u64(), dev, CMD_START),
            Direction::ToMemory => (dev, iova.as_u64(), CMD_START | CMD_TO_RAM),
        };
        self.regs.write64(DMA_SRC, src);
        self.regs.write64(DMA_DST, dst);
        self.regs.write64(DMA_COUNT, len);
        self.regs.write64(DMA_CMD, cmd);
        self.started.set(self.clock.ticks());
        Ok(())
    }

    /// Waits (bounded) for the running transfer to finish, sleeping until
    /// [`DMA_LATENCY`] after its start before the second check.
    pub fn wait(&self) -> Result<(), EduError> {
        let since = self.clock.since(self.started.get());
        poll_until_expecting(
            self.clock,
            DMA_LATENCY.saturating_sub(since),
            DMA_TIMEOUT,
            "edu DMA command bit0 (busy) to clear",
            || self.regs.read64(DMA_CMD) & CMD_START == 0,
        )
        .map_err(EduError::Timeout)
    }
}

#[cfg(test)]
pub(crate) mod model {
    //! A behavioural edu model for host tests: DMA goes through a caller
    //! supplied bus (an IOMMU model, or flat memory).
    use crate::mmio::Mmio;
    use std::cell::{Cell, RefCell};
    use std::vec::Vec;

    /// What the device uses to reach memory: read/write `len` bytes at a bus
    /// address.  Returns `false` when the access faulted (the model then
    /// behaves like QEMU: zeros on read, dropped write).
    pub trait Bus {
        /// Device reads memory.
        fn read(&self, addr: u64, out: &mut [u8]) -> bool;
        /// Device writes memory.
        fn write(&self, addr: u64, data: &[u8]) -> bool;
    }

    /// The edu model.  DMA happens when the command register is written
    /// (QEMU does it 100 ms later; the ordering the driver sees is the same).
    pub struct EduModel<B: Bus> {
        /// The bus the device masters.
        pub bus: B,
        /// dma_mask property.
        pub dma_mask: u64,
        /// Internal buffer.
        pub buffer: RefCell<Vec<u8>>,
        liveness: Cell<u32>,
        src: Cell<u64>,
        dst: Cell<u64>,
        count: Cell<u64>,
        /// Faulted accesses seen.
        pub faults: Cell<u32>,
        /// Make the device hang (never clear busy).
        pub hang: Cell<bool>,
        busy: Cell<bool>,
    }

    impl<B: Bus> EduModel<B> {
        /// A fresh device.
        pub fn new(bus: B, dma_mask: u64) -> Self {
            Self {
                bus,
                dma_mask,
                buffer: RefCell::new(std::vec![0; 4096]),
                liveness: Cell::new(0),
                src: Cell::new(0),
                dst: Cell::new(0),
                count: Cell::new(0),
                faults: Cell::new(0),
                hang: Cell::new(false),
                busy: Cell::new(false),
            }
        }

        fn run(&self, to_ram: bool) {
            let n = self.count.get() as usize;
            let mut buf = self.buffer.borrow_mut();
            if to_ram {
                let off = (self.src.get() - 0x40000) as usize;
                if !self
                    .bus
                    .write(self.dst.get() & self.dma_mask, &buf[off..off + n])
                {
                    self.faults.set(self.faults.get() + 1);
                }
            } else {
                let off = (self.dst.get() - 0x40000) as usize;
                let mut tmp = std::vec![0u8; n];
                if !self.bus.read(self.src.get() & self.dma_mask, &mut tmp) {
                    self.faults.set(self.faults.get() + 1);
                    tmp.fill(0);
                }
                buf[off..off + n].copy_from_slice(&tmp);
            }
        }
    }

    impl<B: Bus> Mmio for EduModel<B> {
        fn read8(&self, _: usize) -> u8 {
            0
        }
        fn write8(&self, _: usize, _: u8) {}
        fn read16(&self, _: usize) -> u16 {
            0
        }
        fn write16(&self, _: usize, _: u16) {}
        fn read32(&self, off: usize) -> u32 {
            match off {
                0x00 => 0x0100_00ed,
                0x04 => !self.liveness.get(),
                _ => 0,
            }
        }
        fn write32(&self, off: usize, val: u32) {
            if off == 0x04 {
                self.liveness.set(val);
            }
        }
        fn read64(&self, off: usize) -> u64 {
            match off {
                0x80 => self.src.get(),
                0x88 => self.dst.get(),
                0x90 => self.count.get(),
                0x98 => u64::from(self.busy.get()),
                _ => 0,
            }
        }
        fn write64(&self, off: usize, val: u64) {
            match off {
                0x80 => self.src.set(val),
                0x88 => self.dst.set(val),
                0x90 => self.count.set(val),
                0x98 if val & 1 == 1 => {
                    if self.hang.get() {
                        self.busy.set(true);
                    } else {
                        self.run(val & 2 != 0);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::{Bus, EduModel};
    use super::*;
    use std::cell::RefCell;
    use std::vec::Vec;

    /// Flat memory at bus addresses 0x1000..0x3000; anything else faults.
    struct Flat(RefCell<Vec<u8>>);
    impl Bus for Flat {
        fn read(&self, addr: u64, out: &mut [u8]) -> bool {
            let m = self.0.borrow();
            match addr.checked_sub(0x1000).map(|o| o as usize) {
                Some(o) if o + out.len() <= m.len() => {
                    out.copy_from_slice(&m[o..o + out.len()]);
                    true
                }
                _ => false,
            }
        }
        fn write(&self, addr: u64, data: &[u8]) -> bool {
            let mut m = self.0.borrow_mut();
            match addr.checked_sub(0x1000).map(|o| o as usize) {
                Some(o) if o + data.len() <= m.len() => {
                    m[o..o + data.len()].copy_from_slice(data);
                    true
                }
                _ => false,
            }
        }
    }

    struct Ticker(core::sync::atomic::AtomicU64);
    impl Clock for Ticker {
        fn ticks(&self) -> u64 {
            self.0
                .fetch_add(10_000, core::sync::atomic::Ordering::Relaxed)
        }
        fn freq_hz(&self) -> u64 {
            1_000_000
        }
    }
    static CLOCK: Ticker = Ticker(core::sync::atomic::AtomicU64::new(0));

    fn edu() -> Edu<EduModel<Flat>> {
        let model = EduModel::new(Flat(RefCell::new(std::vec![0; 0x2000])), u64::MAX);
        Edu::probe(model, &CLOCK, u64::MAX).unwrap()
    }

    #[test]
    fn round_trip_through_the_device_buffer() {
        let e = edu();
        e.regs.bus.0.borrow_mut()[..4].copy_from_slice(b"edu!");
        e.transfer(Direction::FromMemory, Iova(0x1000), 0, 4)
            .unwrap();
        e.transfer(Direction::ToMemory, Iova(0x1800), 0, 4).unwrap();
        assert_eq!(&e.regs.bus.0.borrow()[0x800..0x804], b"edu!");
        assert_eq!(e.regs.faults.get(), 0);
    }

    #[test]
    fn refuses_what_qemu_would_not_check() {
        let e = edu();
        assert_eq!(
            e.transfer(Direction::ToMemory, Iova(0x1000), 0xf00, 0x200),
            Err(EduError::OutsideBuffer {
                offset: 0xf00,
                len: 0x200
            })
        );
        assert!(matches!(
            e.transfer(Direction::ToMemory, Iova(0x1000), 0, 0),
            Err(EduError::OutsideBuffer { .. })
        ));
        let masked = Edu::probe(
            EduModel::new(Flat(RefCell::new(std::vec![0; 16])), 0xfff_ffff),
            &CLOCK,
            0xfff_ffff,
        )
        .unwrap();
        assert!(matches!(
            masked.transfer(Direction::ToMemory, Iova(0x1000_0000), 0, 4),
            Err(EduError::AboveDmaMask { .. })
        ));
    }

    #[test]
    fn faulting_dma_reads_zeros_and_drops_writes() {
        let e = edu();
        e.regs.buffer.borrow_mut()[..4].copy_from_slice(b"XXXX");
        e.transfer(Direction::FromMemory, Iova(0x9000), 0, 4)
            .unwrap();
        assert_eq!(&e.regs.buffer.borrow()[..4], &[0; 4]);
        assert_eq!(e.regs.faults.get(), 1);
    }

    #[test]
    fn hung_device_times_out_with_the_register_named() {
        let e = edu();
        e.regs.hang.set(true);
        let err = e
            .transfer(Direction::ToMemory, Iova(0x1000), 0, 4)
            .unwrap_err();
        match err {
            EduError::Timeout(t) => assert!(t.what.contains("edu DMA")),
            other => panic!("expected timeout, got {other:?}"),
        }
        assert_eq!(
            e.start(Direction::ToMemory, Iova(0x1000), 0, 4),
            Err(EduError::Busy)
        );
    }

    #[test]
    fn probe_rejects_other_devices() {
        struct Zero;
        impl Mmio for Zero {
            fn read8(&self, _: usize) -> u8 {
                0
            }
            fn write8(&self, _: usize, _: u8) {}
            fn read16(&self, _: usize) -> u16 {
                0
            }
            fn write16(&self, _: usize, _: u16) {}
            fn read32(&self, _: usize) -> u32 {
                0
            }
            fn write32(&self, _: usize, _: u32) {}
            fn read64(&self, _: usize) -> u64 {
                0
            }
            fn write64(&self, _: usize, _: u64) {}
        }
        assert_eq!(
            Edu::probe(Zero, &CLOCK, u64::MAX).err(),
            Some(EduError::NotEdu { id: 0 })
        );
    }
}
