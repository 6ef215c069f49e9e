//! The host side of the register seam: an [`Mmio`] that hands every access to
//! a behavioural model instead of the bus.
//!
//! Drivers are written against [`Mmio`]; in host tests they get a
//! [`ModelMmio`] wrapping a model of the hardware (an SMMU, a sun50i IOMMU, a
//! DART), which sees each access with its offset and width in program order.
//! Plain safe code, so it builds for the target too.
#![forbid(unsafe_code)]

use super::Mmio;
use core::cell::{Ref, RefCell, RefMut};

/// Width of one register access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Width {
    /// 8 bits.
    W8,
    /// 16 bits.
    W16,
    /// 32 bits.
    W32,
    /// 64 bits.
    W64,
}

impl Width {
    /// Bytes of the access.
    pub const fn bytes(self) -> usize {
        match self {
            Self::W8 => 1,
            Self::W16 => 2,
            Self::W32 => 4,
            Self::W64 => 8,
        }
    }
}

/// A device model that answers register accesses.
pub trait RegisterModel {
    /// A read of `width` at byte offset `off`; the value is zero-extended.
    fn read(&mut self, off: usize, width: Width) -> u64;
    /// A write of `width` at byte offset `off` (`val` holds only `width` bits).
    fn write(&mut self, off: usize, width: Width, val: u64);
}

/// [`Mmio`] routed to a [`RegisterModel`].
///
/// The model sits behind a `RefCell` because [`Mmio`] takes `&self`, as
/// device accesses do.  A model must not access its own `ModelMmio` from
/// inside `read`/`write` (that would be a re-entrant borrow and panics).
#[derive(Debug, Default)]
pub struct ModelMmio<M: RegisterModel> {
    model: RefCell<M>,
}

impl<M: RegisterModel> ModelMmio<M> {
    /// Wraps a model.
    pub const fn new(model: M) -> Self {
        Self {
            model: RefCell::new(model),
        }
    }

    /// Looks at the model (test assertions).
    pub fn model(&self) -> Ref<'_, M> {
        self.model.borrow()
    }

    /// Changes the model behind the driver's back (fault injection, time).
    pub fn model_mut(&self) -> RefMut<'_, M> {
        self.model.borrow_mut()
    }

    /// Unwraps the model.
    pub fn into_inner(self) -> M {
        self.model.into_inner()
    }
}

impl<M: RegisterModel> Mmio for ModelMmio<M> {
    fn read8(&self, off: usize) -> u8 {
        self.model.borrow_mut().read(off, Width::W8) as u8
    }
    fn write8(&self, off: usize, val: u8) {
        self.model
            .borrow_mut()
            .write(off, Width::W8, u64::from(val));
    }
    fn read16(&self, off: usize) -> u16 {
        self.model.borrow_mut().read(off, Width::W16) as u16
    }
    fn write16(&self, off: usize, val: u16) {
        self.model
            .borrow_mut()
            .write(off, Width::W16, u64::from(val));
    }
    fn read32(&self, off: usize) -> u32 {
        self.model.borrow_mut().read(off, Width::W32) as u32
    }
    fn write32(&self, off: usize, val: u32) {
        self.model
            .borrow_mut()
            .write(off, Width::W32, u64::from(val));
    }
    fn read64(&self, off: usize) -> u64 {
        self.model.borrow_mut().read(off, Width::W64)
    }
    fn write64(&self, off: usize, val: u64) {
        self.model.borrow_mut().write(off, Width::W64, val);
    }
}
