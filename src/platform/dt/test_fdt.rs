//! Test support: a tiny flattened-device-tree writer, so host tests can
//! build DTBs without `dtc`.  Emits a v17 blob laid out like dtc's output
//! (devicetree spec v0.4 chapter 5): header, memory reservation block,
//! structure block, strings block.
#![forbid(unsafe_code)]

use std::vec::Vec;

/// Header field offsets (spec §5.2), for tests that corrupt a blob.
pub mod hdr {
    /// `magic`.
    pub const MAGIC: usize = 0;
    /// `totalsize`.
    pub const TOTALSIZE: usize = 4;
    /// `off_dt_struct`.
    pub const OFF_DT_STRUCT: usize = 8;
    /// `off_dt_strings`.
    pub const OFF_DT_STRINGS: usize = 12;
    /// `off_mem_rsvmap`.
    pub const OFF_MEM_RSVMAP: usize = 16;
    /// `version`.
    pub const VERSION: usize = 20;
    /// `size_dt_strings`.
    pub const SIZE_DT_STRINGS: usize = 32;
    /// `size_dt_struct`.
    pub const SIZE_DT_STRUCT: usize = 36;
}

/// Builds a blob token by token.
#[derive(Default)]
pub struct FdtBuilder {
    structs: Vec<u8>,
    strings: Vec<u8>,
    rsv: Vec<(u64, u64)>,
}

impl FdtBuilder {
    /// An empty builder (no root node yet).
    pub fn new() -> Self {
        Self::default()
    }

    fn u32(&mut self, v: u32) {
        self.structs.extend_from_slice(&v.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    /// `FDT_BEGIN_NODE name` (use `""` for the root).
    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.u32(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    /// `FDT_END_NODE`.
    pub fn end(&mut self) -> &mut Self {
        self.u32(2);
        self
    }

    /// `FDT_NOP`.
    pub fn nop(&mut self) -> &mut Self {
        self.u32(4);
        self
    }

    /// Offset of `name` in the strings block, adding it if new.
    fn string(&mut self, name: &str) -> u32 {
        let mut off = 0;
        for s in self.strings.split(|&b| b == 0) {
            if s == name.as_bytes() && off < self.strings.len() {
                return off as u32;
            }
            off += s.len() + 1;
        }
        let off = self.strings.len();
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off as u32
    }

    /// A property with a raw value.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let nameoff = self.string(name);
        self.u32(3);
        self.u32(value.len() as u32);
        self.u32(nameoff);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    /// An empty (boolean) property.
    pub fn prop_empty(&mut self, name: &str) -> &mut Self {
        self.prop(name, &[])
    }

    /// A property of 32-bit cells.
    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    /// A `<u32>` property.
    pub fn prop_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.prop_cells(name, &[v])
    }

    /// A string property.
    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        self.prop_strs(name, &[s])
    }

    /// A string-list property.
    pub fn prop_strs(&mut self, name: &str, list: &[&str]) -> &mut Self {
        let mut v = Vec::new();
        for s in list {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        self.prop(name, &v)
    }

    /// A `/memreserve/` entry.
    pub fn memreserve(&mut self, addr: u64, size: u64) -> &mut Self {
        self.rsv.push((addr, size));
        self
    }

    /// The finished blob (appends `FDT_END`).
    pub fn finish(&self) -> Vec<u8> {
        let mut structs = self.structs.clone();
        structs.extend_from_slice(&9u32.to_be_bytes());
        let off_rsv = 40usize;
        let rsv_len = (self.rsv.len() + 1) * 16;
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + structs.len();
        let total = off_strings + self.strings.len();
        let mut b = Vec::with_capacity(total);
        for v in [
            0xd00d_feedu32,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            structs.len() as u32,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for &(a, s) in self.rsv.iter().chain(core::iter::once(&(0, 0))) {
            b.extend_from_slice(&a.to_be_bytes());
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&structs);
        b.extend_from_slice(&self.strings);
        b
    }
}

/// Overwrites a big-endian header field.
pub fn set_u32(blob: &mut [u8], off: usize, v: u32) {
    blob[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// Reads a big-endian header field.
pub fn get_u32(blob: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([blob[off], blob[off + 1], blob[off + 2], blob[off + 3]])
}
