//! The page-table engine: one walker ([`PageTable`]) over per-format
//! descriptor codecs ([`Codec`]), with table pages from a [`TableMemory`].
//!
//! Formats: [`Lpae`] (ARM VMSAv8-64 stage 1, 4K/16K/64K granules, 32..48-bit
//! input) and [`Sun50i`] (Allwinner H6/H616: two levels of 32-bit entries,
//! 4 KiB pages, tables below 4 GiB) and [`Dart`] (Apple DART1/DART2: 16 KiB
//! pages, two or three levels, the PA stored in place or shifted).
//!
//! Nothing here uses `unsafe`: entries are read and written through
//! [`TableMemory`], which on target is the DMA frame pool ([`PoolTables`])
//! and on the host the [`RamArena`].
#![forbid(unsafe_code)]

mod any;
mod arena;
mod bbm;
mod codec;
pub mod dart;
mod error;
mod gather;
mod lpae;
mod memory;
mod pool;
mod prot;
pub mod sun50i;
mod walker;

pub use any::AnyCodec;
pub use arena::RamArena;
pub use bbm::{BreakFlush, NotLive};
pub use codec::{Codec, Pte};
pub use dart::Dart;
pub use error::{PgTableError, TranslateError};
#[cfg(test)]
pub(crate) use gather::drop_leaf_records;
pub use gather::Gather;
pub use lpae::{
    Granule, Lpae, LpaeConfigError, MAIR, MAIR_DEVICE_IDX, MAIR_NC_IDX, MAIR_WB_IDX, OUTPUT_SIZES,
};
pub use memory::{TableMemory, TablePage, TableRef};
pub use pool::PoolTables;
pub use prot::{MemAttr, Prot};
pub use sun50i::Sun50i;
pub use walker::{PageTable, Translation};
