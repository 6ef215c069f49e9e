//! The virtio 1.x PCI transport over one mapped BAR: reset, the feature
//! negotiation of virtio 1.2 §3.1.1, queue setup through the common
//! configuration (§4.1.4.3), notification (§4.1.4.4), device-config access
//! with the generation check (§4.1.4.3.1) and bounded used-ring waits.
#![forbid(unsafe_code)]

use super::pci::Layout;
use super::queue::{SplitQueue, Used};
use super::VirtioError;
use crate::mmio::Mmio;
use crate::time::{Clock, Wait};
use alloc::vec::Vec;
use core::time::Duration;

/// `device_status` bits (§2.1).
pub mod status {
    /// ACKNOWLEDGE.
    pub const ACKNOWLEDGE: u8 = 1;
    /// DRIVER.
    pub const DRIVER: u8 = 2;
    /// DRIVER_OK.
    pub const DRIVER_OK: u8 = 4;
    /// FEATURES_OK.
    pub const FEATURES_OK: u8 = 8;
    /// DEVICE_NEEDS_RESET.
    pub const NEEDS_RESET: u8 = 64;
    /// FAILED.
    pub const FAILED: u8 = 128;
}

/// VIRTIO_F_VERSION_1 (§6): the modern interface.
pub const F_VERSION_1: u64 = 1 << 32;
/// VIRTIO_F_ACCESS_PLATFORM (§6): the device's DMA goes through the
/// platform's IOMMU (QEMU `iommu_platform=on`).
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;

// struct virtio_pci_common_cfg (§4.1.4.3).
const DEVICE_FEATURE_SELECT: usize = 0x00;
const DEVICE_FEATURE: usize = 0x04;
const DRIVER_FEATURE_SELECT: usize = 0x08;
const DRIVER_FEATURE: usize = 0x0c;
const MSIX_CONFIG: usize = 0x10;
const DEVICE_STATUS: usize = 0x14;
const CONFIG_GENERATION: usize = 0x15;
const QUEUE_SELECT: usize = 0x16;
const QUEUE_SIZE: usize = 0x18;
const QUEUE_MSIX_VECTOR: usize = 0x1a;
const QUEUE_ENABLE: usize = 0x1c;
const QUEUE_NOTIFY_OFF: usize = 0x1e;
const QUEUE_DESC: usize = 0x20;
const QUEUE_DRIVER: usize = 0x28;
const QUEUE_DEVICE: usize = 0x30;
/// VIRTIO_MSI_NO_VECTOR: no interrupt, we poll.
const NO_VECTOR: u16 = 0xffff;

/// How long a reset may take to read back 0.
const RESET_TIMEOUT: Duration = Duration::from_millis(100);

/// A virtio device on PCI.
pub struct Transport<'c, M: Mmio> {
    bar: M,
    layout: Layout,
    clock: &'c dyn Clock,
    /// (queue index, byte offset of its notify register in the BAR).
    notify: Vec<(u16, usize)>,
    features: u64,
}

impl<'c, M: Mmio> Transport<'c, M> {
    /// A transport over `bar` (the BAR every structure of `layout` is in,
    /// which [`Layout::check_one_bar`] must have accepted: register
    /// accesses rely on its alignment and bounds).
    pub fn new(bar: M, layout: Layout, clock: &'c dyn Clock) -> Self {
        Self {
            bar,
            layout,
            clock,
            notify: Vec::new(),
            features: 0,
        }
    }

    fn common(&self) -> usize {
        self.layout.common.offset as usize
    }

    /// `device_status`.
    pub fn status(&self) -> u8 {
        self.bar.read8(self.common() + DEVICE_STATUS)
    }

    fn set_status(&self, s: u8) {
        self.bar.write8(self.common() + DEVICE_STATUS, s);
    }

    /// Features negotiated (valid after [`negotiate`](Self::negotiate)).
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Resets the device and waits for `device_status` to read 0
    /// (§4.1.4.3.2).  Every queue is forgotten by the device.
    pub fn reset(&mut self) -> Result<(), VirtioError> {
        self.set_status(0);
        let mut wait = Wait::new(self.clock, RESET_TIMEOUT);
        loop {
            let expired = wait.expired();
            let s = self.status();
            if s == 0 {
                break;
            }
            if expired {
                return Err(VirtioError::ResetTimeout { status: s });
            }
            wait.pause();
        }
        self.notify.clear();
        self.features = 0;
        Ok(())
    }

    /// Features the device offers (both 32-bit halves).
    pub fn offered(&self) -> u64 {
        let c = self.common();
        self.bar.write32(c + DEVICE_FEATURE_SELECT, 0);
        let lo = self.bar.read32(c + DEVICE_FEATURE);
        self.bar.write32(c + DEVICE_FEATURE_SELECT, 1);
        let hi = self.bar.read32(c + DEVICE_FEATURE);
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// Steps 1-6 of §3.1.1: reset, ACKNOWLEDGE, DRIVER, accept
    /// `required | (optional & offered)` plus VERSION_1, FEATURES_OK and
    /// check it stuck.  Sets FAILED and returns an error when VERSION_1 or
    /// a required feature is not offered.  Returns the negotiated set.
    pub fn negotiate(&mut self, required: u64, optional: u64) -> Result<u64, VirtioError> {
        self.reset()?;
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);
        let offered = self.offered();
        if offered & F_VERSION_1 == 0 {
            self.set_status(status::FAILED);
            return Err(VirtioError::NoVersion1 { offered });
        }
        let missing = required & !offered;
        if missing != 0 {
            self.set_status(status::FAILED);
            return Err(VirtioError::MissingFeatures { missing });
        }
        let want = F_VERSION_1 | required | (optional & offered);
        let c = self.common();
        self.bar.write32(c + DRIVER_FEATURE_SELECT, 0);
        self.bar.write32(c + DRIVER_FEATURE, want as u32);
        self.bar.write32(c + DRIVER_FEATURE_SELECT, 1);
        self.bar.write32(c + DRIVER_FEATURE, (want >> 32) as u32);
        self.bar.write16(c + MSIX_CONFIG, NO_VECTOR);
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.set_status(s);
        let back = self.status();
        if back & status::FEATURES_OK == 0 {
            self.set_status(status::FAILED);
            return Err(VirtioError::FeaturesRejected { status: back });
        }
        self.features = want;
        Ok(want)
    }

    /// Tells the device where `q` lives and enables it (§4.1.5.1.3).
    pub fn setup_queue(&mut self, q: &SplitQueue<'_>) -> Result<(), VirtioError> {
        let c = self.common();
        let index = q.index();
        self.bar.write16(c + QUEUE_SELECT, index);
        let max = self.bar.read16(c + QUEUE_SIZE);
        if max == 0 {
            return Err(VirtioError::NoQueue { queue: index });
        }
        if q.size() > max {
            return Err(VirtioError::BadQueueSize {
                queue: index,
                want: q.size(),
                max,
            });
        }
        self.bar.write16(c + QUEUE_SIZE, q.size());
        self.bar.write16(c + QUEUE_MSIX_VECTOR, NO_VECTOR);
        // 64-bit fields as two 32-bit halves (§4.1.3.1 allows it), so a
        // 4-byte aligned structure never needs an 8-byte aligned access.
        for (reg, addr) in [
            (QUEUE_DESC, q.desc_addr()),
            (QUEUE_DRIVER, q.driver_addr()),
            (QUEUE_DEVICE, q.device_addr()),
        ] {
            self.bar.write32(c + reg, addr as u32);
            self.bar.write32(c + reg + 4, (addr >> 32) as u32);
        }
        let off = self.bar.read16(c + QUEUE_NOTIFY_OFF);
        let n = self.layout.notify;
        // u16 × u32 + u32 cannot overflow a u64.
        let raw = u64::from(off) * u64::from(self.layout.notify_multiplier) + u64::from(n.offset);
        if !raw.is_multiple_of(2) || raw + 2 > u64::from(n.offset) + u64::from(n.length) {
            return Err(VirtioError::NotifyOutside {
                queue: index,
                notify_off: off,
                at: raw as usize,
            });
        }
        let at = raw as usize;
        self.notify.retain(|(i, _)| *i != index);
        self.notify.push((index, at));
        self.bar.write16(c + QUEUE_ENABLE, 1);
        Ok(())
    }

    /// Step 8 of §3.1.1: the driver is ready.
    pub fn driver_ok(&mut self) {
        let s = self.status();
        self.set_status(s | status::DRIVER_OK);
    }

    /// Notifies queue `index` (§4.1.5.2: write the queue index).  The
    /// queue's own barrier has already ordered the ring writes.
    pub fn notify(&self, index: u16) {
        if let Some(&(_, at)) = self.notify.iter().find(|(i, _)| *i == index) {
            self.bar.write16(at, index);
        }
    }

    /// Waits for the next used element of `q`, up to `timeout`, sleeping
    /// between checks.  Stops early when the device sets
    /// DEVICE_NEEDS_RESET.
    pub fn wait_used(
        &self,
        q: &mut SplitQueue<'_>,
        timeout: Duration,
    ) -> Result<Used, VirtioError> {
        self.wait_used_with(q, Wait::new(self.clock, timeout))
    }

    /// [`Self::wait_used`] without sleeping ([`Wait::polling`]), for a
    /// device whose completion comes from the emulator's host threads
    /// (virtio-blk's disk I/O) rather than from time passing.
    pub fn wait_used_polling(
        &self,
        q: &mut SplitQueue<'_>,
        timeout: Duration,
    ) -> Result<Used, VirtioError> {
        self.wait_used_with(q, Wait::new(self.clock, timeout).polling())
    }

    fn wait_used_with(
        &self,
        q: &mut SplitQueue<'_>,
        mut wait: Wait<'_>,
    ) -> Result<Used, VirtioError> {
        loop {
            let expired = wait.expired();
            if let Some(u) = q.pop_used()? {
                return Ok(u);
            }
            let s = self.status();
            if s & status::NEEDS_RESET != 0 {
                return Err(VirtioError::NeedsReset {
                    queue: q.index(),
                    status: s,
                });
            }
            if expired {
                return Err(VirtioError::UsedTimeout {
                    queue: q.index(),
                    waited: wait.waited(),
                    status: s,
                });
            }
            wait.pause();
        }
    }

    fn device_at(&self, off: usize, width: usize) -> Result<usize, VirtioError> {
        let length = self.layout.device.map(|d| d.length).unwrap_or(0);
        if off.checked_add(width).is_none_or(|e| e > length as usize) {
            return Err(VirtioError::ConfigOutside {
                offset: off,
                length,
            });
        }
        Ok(self.layout.device.map(|d| d.offset as usize).unwrap_or(0) + off)
    }

    fn generation(&self) -> u8 {
        self.bar.read8(self.common() + CONFIG_GENERATION)
    }

    /// Reads `N` consecutive 32-bit words of device config at `off`,
    /// retrying until `config_generation` is stable (§2.5.1).
    fn cfg_words<const N: usize>(&self, off: usize) -> Result<[u32; N], VirtioError> {
        let base = self.device_at(off, 4 * N)?;
        let mut out = [0u32; N];
        for _ in 0..16 {
            let g = self.generation();
            for (i, w) in out.iter_mut().enumerate() {
                *w = self.bar.read32(base + 4 * i);
            }
            if self.generation() == g {
                break;
            }
        }
        Ok(out)
    }

    /// Device config: 8-bit read.
    pub fn cfg_read8(&self, off: usize) -> Result<u8, VirtioError> {
        Ok(self.bar.read8(self.device_at(off, 1)?))
    }

    /// Device config: 32-bit read.
    pub fn cfg_read32(&self, off: usize) -> Result<u32, VirtioError> {
        Ok(self.cfg_words::<1>(off)?[0])
    }

    /// Device config: 64-bit field read as two 32-bit halves under one
    /// generation.
    pub fn cfg_read64(&self, off: usize) -> Result<u64, VirtioError> {
        let [lo, hi] = self.cfg_words::<2>(off)?;
        Ok(u64::from(hi) << 32 | u64::from(lo))
    }

    /// Device config: 8-bit write.
    pub fn cfg_write8(&self, off: usize, val: u8) -> Result<(), VirtioError> {
        self.bar.write8(self.device_at(off, 1)?, val);
        Ok(())
    }
}
