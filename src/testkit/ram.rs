//! Host memory for models: [`HostRam`] (a DMA pool over an aligned host
//! allocation whose bytes models read and write by physical address) and
//! the page-table [`Arena`] the domains' tables live in.
#![forbid(unsafe_code)]

use crate::iommu::pgtable::RamArena;
use alloc::rc::Rc;
use core::cell::RefCell;

pub use crate::mm::host_ram::{read_bytes, write_bytes, HostRam};

/// Page tables live here (the domains' `TableMemory`); models walk it.
pub type Arena = Rc<RefCell<RamArena>>;

/// A fresh arena of `bytes`.
pub fn arena(bytes: usize) -> Arena {
    Rc::new(RefCell::new(RamArena::with_size(bytes)))
}
