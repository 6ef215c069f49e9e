//! The register seam: every device register access in the project goes
//! through [`Mmio`].
//!
//! On target, [`VolatileMmio`] issues single volatile load/store instructions
//! against a device base address (safe under a hypervisor that emulates MMIO by
//! decoding the faulting instruction, and it never creates Rust references to
//! device memory).  On the host, a model implements the same trait so drivers
//! are tested against behavioural models of hardware we cannot run
//! ([`ModelMmio`] + [`RegisterModel`]).  Register fields are defined with
//! `tock-registers` and accessed through this trait with [`Reg32`]/[`Reg64`].
//!
//! Offsets are byte offsets from the block's base.  A driver that asks for an
//! offset outside its block is a driver bug; [`VolatileMmio`] checks it.
//!
//! On target each access is one instruction listed in a fixup table, so a
//! bus fault on it (a wrong `reg`, an unclocked block) can be survived inside
//! a [`capture`]: the load reads all-ones and the fault is latched as a
//! [`BusFault`] ([`fixup`]).  Host models never fault.

use core::ptr::NonNull;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod access;
mod field;
pub mod fixup;
mod model;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use access::recover;
pub use field::{NamedReg, Reg32, Reg64, RegBlock};
pub use fixup::{capture, take_bus_fault, BusFault, FaultKind};
pub use model::{ModelMmio, RegisterModel, Width};

/// Register access to one device block.
pub trait Mmio {
    /// 8-bit read at byte offset `off`.
    fn read8(&self, off: usize) -> u8;
    /// 8-bit write at byte offset `off`.
    fn write8(&self, off: usize, val: u8);
    /// 16-bit read at byte offset `off`.
    fn read16(&self, off: usize) -> u16;
    /// 16-bit write at byte offset `off`.
    fn write16(&self, off: usize, val: u16);
    /// 32-bit read at byte offset `off`.
    fn read32(&self, off: usize) -> u32;
    /// 32-bit write at byte offset `off`.
    fn write32(&self, off: usize, val: u32);
    /// 64-bit read at byte offset `off`.
    fn read64(&self, off: usize) -> u64;
    /// 64-bit write at byte offset `off`.
    fn write64(&self, off: usize, val: u64);
}

/// MMIO through volatile accesses to a mapped device block.
#[derive(Debug)]
pub struct VolatileMmio {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a VolatileMmio is just an address and a length; accesses are
// volatile single instructions, and device registers have no Rust-level
// aliasing.  Moving it to another context changes nothing about that.
unsafe impl Send for VolatileMmio {}
// SAFETY: as above; concurrent volatile accesses are what the device sees from
// any bus master and the driver above is responsible for the protocol.
unsafe impl Sync for VolatileMmio {}

impl VolatileMmio {
    /// Wraps a device block.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be a device (or otherwise side-effect tolerant)
    /// region mapped in the current translation regime for the lifetime of the
    /// returned value, and no Rust reference may point into it.
    pub const unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self { base, len }
    }

    /// Wraps a block `arch` has mapped as device memory.
    #[cfg(all(target_arch = "aarch64", target_os = "none"))]
    pub fn from_device_block(block: crate::arch::aarch64::device::DeviceBlock) -> Self {
        // SAFETY: only `arch::aarch64::device::device_block` makes a
        // DeviceBlock, after mapping it Device-nGnRE at its identity address;
        // mappings are never removed and nothing creates Rust references into
        // device blocks.
        unsafe { Self::new(block.base(), block.len()) }
    }

    /// The block's base address.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The block's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a zero-length block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn ptr<T>(&self, off: usize) -> *mut T {
        let size = core::mem::size_of::<T>();
        assert!(
            off.is_multiple_of(size) && off.checked_add(size).is_some_and(|end| end <= self.len),
            "MMIO access of {size} bytes at offset {off:#x} outside a {:#x}-byte block at {:p}",
            self.len,
            self.base
        );
        self.base.as_ptr().wrapping_add(off).cast::<T>()
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
macro_rules! volatile_rw {
    ($read:ident, $write:ident, $t:ty) => {
        fn $read(&self, off: usize) -> $t {
            let p = self.ptr::<$t>(off);
            // SAFETY: `ptr` checked that the access is aligned and inside the
            // block, which `new`'s contract says is mapped device memory.
            unsafe { p.read_volatile() }
        }
        fn $write(&self, off: usize, val: $t) {
            let p = self.ptr::<$t>(off);
            // SAFETY: as for the read above.
            unsafe { p.write_volatile(val) }
        }
    };
}

/// On target: the listed single instructions of `access.rs`.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
macro_rules! volatile_rw {
    ($read:ident, $write:ident, $t:ty) => {
        fn $read(&self, off: usize) -> $t {
            let p = self.ptr::<$t>(off);
            // SAFETY: `ptr` checked that the access is aligned and inside the
            // block, which `new`'s contract says is mapped device memory with
            // no Rust reference into it.
            unsafe { access::$read(p) }
        }
        fn $write(&self, off: usize, val: $t) {
            let p = self.ptr::<$t>(off);
            // SAFETY: as for the read above.
            unsafe { access::$write(p, val) }
        }
    };
}

impl Mmio for VolatileMmio {
    volatile_rw!(read8, write8, u8);
    volatile_rw!(read16, write16, u16);
    volatile_rw!(read32, write32, u32);
    volatile_rw!(read64, write64, u64);
}
