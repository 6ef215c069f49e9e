//! Device-tree discovery: what the boot loader's DTB says about the machine.
//!
//! Runs on target before the MMU and the heap exist, so nothing here
//! allocates: lists have fixed capacity ([`RegionList`]) and strings are
//! borrowed from the blob.  Any blob, however malformed, yields a
//! [`DtError`] naming the node, property and expectation, never a panic or
//! a hang (see [`reader`] for why we validate the blob ourselves instead of
//! relying on the `fdt` crate's node API).
//!
//! Usage on target: read 40 bytes at `x0`, call [`header_total_size`], build
//! the slice of that length, call [`discover`].
#![forbid(unsafe_code)]

pub mod address;
pub mod error;
pub mod reader;

pub use address::{node_reg, translate_address, translate_reg, Cells};
pub use error::{DtError, DtName};
pub use reader::{header_total_size, Fdt, Located, Node, MAX_DEPTH, MAX_DTB_SIZE};
