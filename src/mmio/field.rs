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
