//! Memory: typed addresses, the memory layout plan, the heap, the DMA frame
//! pool and the CPU cache-maintenance service ([`cache`]).  Page-table memory over that pool lives with the page-table
//! engine (`iommu::pgtable::PoolTables`).

pub mod addr;
pub mod cache;
pub mod dma_pool;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod heap;
#[cfg(any(test, feature = "testkit"))]
pub mod host_ram;
pub mod layout;
pub mod map_error;
pub mod oom;

pub use addr::{BusAddr, Iova, PhysAddr, PhysRange, VirtAddr};
pub use map_error::{MapCause, MapError};
