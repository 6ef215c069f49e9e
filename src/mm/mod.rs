//! Memory: typed addresses, the heap, and the DMA frame pool.

pub mod addr;

pub use addr::{BusAddr, Iova, PhysAddr, PhysRange, VirtAddr};
