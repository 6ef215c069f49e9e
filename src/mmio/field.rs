//! Typed registers: `tock-registers` field definitions used through our own
//! [`Mmio`] trait.
//!
//! Drivers define fields with `tock_registers::register_bitfields!` and name
//! each register once as a [`Reg32`] / [`Reg64`] constant (offset + field
//! type).  Reads come back as a `LocalRegisterCopy`, so fields are decoded on
//! a plain value and every device access is exactly one [`Mmio`] call — no
//! references into device memory (tock-registers' own `ReadWrite` types would
//! need them).
#![forbid(unsafe_code)]

use super::Mmio;
use core::marker::PhantomData;
use tock_registers::fields::FieldValue;
use tock_registers::{LocalRegisterCopy, RegisterLongName};

macro_rules! typed_reg {
    ($(#[$doc:meta])* $name:ident, $t:ty, $read:ident, $write:ident) => {
        $(#[$doc])*
        pub struct $name<R: RegisterLongName = ()> {
            off: usize,
            _fields: PhantomData<R>,
        }

        impl<R: RegisterLongName> Clone for $name<R> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<R: RegisterLongName> Copy for $name<R> {}

        impl<R: RegisterLongName> core::fmt::Debug for $name<R> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "@{:#x}"), self.off)
            }
        }

        impl<R: RegisterLongName> $name<R> {
            /// A register at byte offset `off` with fields `R`.
            pub const fn at(off: usize) -> Self {
                Self { off, _fields: PhantomData }
            }

            /// Its byte offset.
            pub const fn offset(self) -> usize {
                self.off
            }

            /// One read, decoded as fields.
            pub fn get(self, mmio: &impl Mmio) -> LocalRegisterCopy<$t, R> {
                LocalRegisterCopy::new(mmio.$read(self.off))
            }

            /// One write of exactly these field values (other bits zero).
            pub fn set(self, mmio: &impl Mmio, fields: FieldValue<$t, R>) {
                mmio.$write(self.off, fields.value);
            }

            /// One write of a raw value.
            pub fn set_raw(self, mmio: &impl Mmio, val: $t) {
                mmio.$write(self.off, val);
            }

            /// Read, change the given fields, write back (two accesses).
            pub fn modify(self, mmio: &impl Mmio, fields: FieldValue<$t, R>) {
                let v = fields.modify(mmio.$read(self.off));
                mmio.$write(self.off, v);
            }
        }
    };
}

typed_reg!(
    /// A 32-bit register with `tock-registers` fields `R`.
    Reg32,
    u32,
    read32,
    write32
);
typed_reg!(
    /// A 64-bit register with `tock-registers` fields `R`.
    Reg64,
    u64,
    read64,
    write64
);

/// A 32-bit register named for errors: its byte offset in a register block
/// and the name its primary source gives it, with `tock-registers` fields
/// `R` (`()` for a register without named fields).  Families whose blocks
/// are one flat page (sun50i, DART) name every register this way and reach
/// them through a [`RegBlock`].
pub struct NamedReg<R: RegisterLongName = ()> {
    /// Byte offset in the register block.
    pub offset: usize,
    /// The primary source's name.
    pub name: &'static str,
    _r: PhantomData<R>,
}

impl<R: RegisterLongName> NamedReg<R> {
    /// The register `name` at byte offset `offset`.
    pub const fn new(offset: usize, name: &'static str) -> Self {
        Self {
            offset,
            name,
            _r: PhantomData,
        }
    }
}

impl<R: RegisterLongName> Clone for NamedReg<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R: RegisterLongName> Copy for NamedReg<R> {}

impl<R: RegisterLongName> core::fmt::Debug for NamedReg<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({:#x})", self.name, self.offset)
    }
}

/// Typed access to one flat register block over any [`Mmio`]: every
/// method is exactly one 32-bit access.
pub struct RegBlock<M: Mmio> {
    mmio: M,
}

impl<M: Mmio> RegBlock<M> {
    /// Wraps a register block.
    pub fn new(mmio: M) -> Self {
        Self { mmio }
    }

    /// The underlying block.
    pub fn mmio(&self) -> &M {
        &self.mmio
    }

    /// One 32-bit load.
    pub fn read<R: RegisterLongName>(&self, reg: NamedReg<R>) -> LocalRegisterCopy<u32, R> {
        LocalRegisterCopy::new(self.mmio.read32(reg.offset))
    }

    /// One 32-bit load, as a number.
    pub fn get<R: RegisterLongName>(&self, reg: NamedReg<R>) -> u32 {
        self.mmio.read32(reg.offset)
    }

    /// One 32-bit store of a raw value.
    pub fn set<R: RegisterLongName>(&self, reg: NamedReg<R>, value: u32) {
        self.mmio.write32(reg.offset, value);
    }

    /// One 32-bit store of field values (unnamed fields 0).
    pub fn write<R: RegisterLongName>(&self, reg: NamedReg<R>, value: FieldValue<u32, R>) {
        self.set(reg, value.value);
    }
}
