//! Memory: typed addresses, the memory layout plan, the heap, the DMA
//! frame pool, and page-table memory over that pool.

pub mod addr;
pub mod dma_pool;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod heap;
#[cfg(any(test, feature = "testkit"))]
pub mod host_ram;
pub mod layout;
pub mod table_memory;

pub use addr::{BusAddr, Iova, PhysAddr, PhysRange, VirtAddr};
