//! Errors of device-tree discovery.
//!
//! Every error carries what a lab engineer needs to find the problem in the
//! `.dts`: the node (path or name), the property, and what was expected versus
//! what was found.  Node names are copied into a small inline buffer
//! ([`DtName`]) so the error owns its data, outlives the blob, and needs no
//! heap (discovery runs before the heap exists).
#![forbid(unsafe_code)]

use core::fmt;

/// Capacity of a [`DtName`] in bytes; longer text is cut and marked.
pub const DT_NAME_CAPACITY: usize = 48;

/// A node path or name copied out of the blob (or from the caller) for an
/// error message.  Text longer than [`DT_NAME_CAPACITY`] is cut at a
/// character boundary and displayed with a trailing `...`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DtName {
    buf: [u8; DT_NAME_CAPACITY],
    len: u8,
    truncated: bool,
}

impl DtName {
    /// Copies `s`, cutting it if it does not fit.
    pub fn new(s: &str) -> Self {
        let mut cut = s.len().min(DT_NAME_CAPACITY);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut buf = [0u8; DT_NAME_CAPACITY];
        buf[..cut].copy_from_slice(&s.as_bytes()[..cut]);
        Self {
            buf,
            // `cut <= DT_NAME_CAPACITY = 80` fits in a u8.
            len: cut as u8,
            truncated: cut < s.len(),
        }
    }

    /// Copies raw bytes, replacing anything that is not printable ASCII with
    /// `?` (used for names that failed validation).
    pub fn from_bytes_lossy(b: &[u8]) -> Self {
        let mut buf = [0u8; DT_NAME_CAPACITY];
        let cut = b.len().min(DT_NAME_CAPACITY);
        for (d, s) in buf.iter_mut().zip(b.iter()).take(cut) {
            *d = if s.is_ascii_graphic() || *s == b' ' {
                *s
            } else {
                b'?'
            };
        }
        Self {
            buf,
            len: cut as u8,
            truncated: cut < b.len(),
        }
    }

    /// Appends `s`, cutting (and marking) at the capacity.
    pub fn push_str(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        let used = usize::from(self.len);
        let room = DT_NAME_CAPACITY - used;
        let mut cut = s.len().min(room);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[used..used + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len = (used + cut) as u8;
        self.truncated = cut < s.len();
    }

    /// The (possibly cut) text.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters or ASCII are ever copied in.
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("?")
    }

    /// `true` when the original text was longer than the capacity.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for DtName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DtName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Why device-tree discovery failed.
///
/// Offsets are byte offsets from the start of the blob unless the variant
/// says otherwise.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DtError {
    /// The loader passed a DTB address (x0) that cannot be a DTB: zero or not
    /// 8-byte aligned (arm64 booting.rst requires 8-byte alignment).
    BadAddress {
        /// The address in x0.
        addr: u64,
    },
    /// Fewer bytes than the 40-byte v17 header (devicetree spec v0.4 §5.2).
    HeaderTooShort {
        /// Bytes available.
        len: usize,
    },
    /// The first word is not the FDT magic 0xd00dfeed (spec §5.2).
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The header's version fields are not ones this reader understands
    /// (needs `version >= 17` for `size_dt_struct`, `last_comp_version <= 17`).
    UnsupportedVersion {
        /// `version` field.
        version: u32,
        /// `last_comp_version` field.
        last_comp_version: u32,
    },
    /// `totalsize` is smaller than the header or larger than [`super::MAX_DTB_SIZE`].
    BadTotalSize {
        /// `totalsize` field.
        totalsize: u32,
        /// The largest size accepted.
        limit: usize,
    },
    /// The buffer is shorter than the header's `totalsize`: the blob is
    /// truncated or the caller passed the wrong length.
    Truncated {
        /// `totalsize` field.
        totalsize: usize,
        /// Bytes available.
        available: usize,
    },
    /// A block named in the header lies (partly) outside `totalsize`, inside
    /// the header, or is misaligned.
    BadBlock {
        /// `"structure"`, `"strings"` or `"memory reservation"`.
        block: &'static str,
        /// Offset field of the header.
        offset: u32,
        /// Size field of the header (0 when the header has none).
        size: u32,
        /// `totalsize` field.
        totalsize: u32,
        /// What is wrong: `"out of bounds"`, `"misaligned"`, ...
        problem: &'static str,
    },
    /// The memory reservation block has no terminating `(0, 0)` entry inside
    /// the blob (spec §5.3).
    MemReserveUnterminated {
        /// Offset of the block.
        offset: usize,
    },
    /// The structure block breaks the token grammar of spec §5.4.
    BadStructure {
        /// Offset inside the structure block where the problem was seen.
        struct_offset: usize,
        /// The token found there (0 when the problem is not a token value).
        token: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// Nodes nest deeper than [`super::MAX_DEPTH`].
    TooDeep {
        /// Offset inside the structure block of the node that is too deep.
        struct_offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A node or property name is not NUL-terminated inside its block or
    /// not valid UTF-8.
    BadName {
        /// `"node name"` or `"property name"`.
        what: &'static str,
        /// Offset of the name (inside the structure or strings block).
        offset: usize,
        /// The raw bytes, made printable.
        raw: DtName,
    },
    /// A node named by path or alias does not exist.
    NotFound {
        /// What was being looked up: `"node"`, `"alias"`, `"stdout-path"`, ...
        what: &'static str,
        /// The path or alias as given.
        path: DtName,
    },
    /// A required property is absent.
    MissingProperty {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
    },
    /// A property's length is not what its binding requires.
    BadPropertyLength {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The length must be a multiple of (or equal to, see `exact`) this.
        expected: usize,
        /// `true`: must equal `expected`; `false`: must be a non-zero multiple.
        exact: bool,
    },
    /// A string property is not NUL-terminated or not UTF-8 (spec §2.2.4).
    BadString {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
    },
    /// `#address-cells` / `#size-cells` outside what we (and Linux,
    /// `OF_MAX_ADDR_CELLS`) accept.
    BadCells {
        /// The node carrying (or defaulting) the property.
        node: DtName,
        /// `"#address-cells"` or `"#size-cells"`.
        prop: &'static str,
        /// Value found.
        value: u32,
        /// Largest value accepted.
        max: u32,
    },
    /// A property holds a value outside its binding.
    BadValue {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
        /// Value found (numeric properties; 0 for strings).
        found: u32,
        /// What the binding allows.
        expected: &'static str,
    },
    /// An address or size does not fit in 64 bits (after translation).
    AddressTooLarge {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
    },
    /// A parent bus has no `ranges`: its children's addresses are not CPU
    /// addresses (spec §2.3.8).
    NotTranslatable {
        /// The node whose `reg` was being translated.
        node: DtName,
        /// The bus without `ranges`.
        bus: DtName,
    },
    /// No entry of a bus's `ranges` covers the address.
    NoRangeMatch {
        /// The node whose `reg` was being translated.
        node: DtName,
        /// The bus whose `ranges` was searched.
        bus: DtName,
        /// The address in that bus's space (low 64 bits).
        addr: u64,
    },
    /// A `reg` (or similar) index beyond the number of entries.
    IndexOutOfRange {
        /// The node.
        node: DtName,
        /// The property.
        prop: &'static str,
        /// Requested index.
        index: usize,
        /// Number of entries.
        count: usize,
    },
    /// No usable `/memory` region: no `device_type = "memory"` node, or all
    /// have empty `reg`.
    NoMemory,
    /// Neither `/chosen/stdout-path` nor `/aliases/serial0` names a console.
    NoConsole,
    /// A phandle in a property names no node, or a node that is not of
    /// the kind the property requires (e.g. `iommus` pointing at a node
    /// without `#iommu-cells`).
    BadPhandle {
        /// The node holding the reference.
        node: DtName,
        /// The property.
        prop: &'static str,
        /// The phandle value.
        phandle: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// A fixed-capacity list is full.
    ListFull {
        /// Which list.
        list: &'static str,
        /// Its capacity.
        capacity: usize,
    },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtError::BadAddress { addr } => write!(
                f,
                "device tree: x0 = {addr:#x} is not a DTB address (zero or not 8-byte aligned)"
            ),
            DtError::HeaderTooShort { len } => write!(
                f,
                "device tree: only {len} bytes, the FDT header needs 40"
            ),
            DtError::BadMagic { found } => write!(
                f,
                "device tree: bad magic {found:#010x}, expected 0xd00dfeed (is x0 really the DTB?)"
            ),
            DtError::UnsupportedVersion {
                version,
                last_comp_version,
            } => write!(
                f,
                "device tree: version {version} (last compatible {last_comp_version}) unsupported, need version >= 17 and last_comp_version <= 17"
            ),
            DtError::BadTotalSize { totalsize, limit } => write!(
                f,
                "device tree: totalsize {totalsize:#x} is outside 40..={limit:#x}"
            ),
            DtError::Truncated {
                totalsize,
                available,
            } => write!(
                f,
                "device tree: truncated, header totalsize is {totalsize:#x} bytes but only {available:#x} are available"
            ),
            DtError::BadBlock {
                block,
                offset,
                size,
                totalsize,
                problem,
            } => write!(
                f,
                "device tree: {block} block at offset {offset:#x} size {size:#x} is {problem} (totalsize {totalsize:#x})"
            ),
            DtError::MemReserveUnterminated { offset } => write!(
                f,
                "device tree: memory reservation block at {offset:#x} has no (0, 0) terminator"
            ),
            DtError::BadStructure {
                struct_offset,
                token,
                problem,
            } => write!(
                f,
                "device tree: structure block offset {struct_offset:#x} (token {token:#x}): {problem}"
            ),
            DtError::TooDeep {
                struct_offset,
                limit,
            } => write!(
                f,
                "device tree: node at structure offset {struct_offset:#x} nests deeper than {limit} levels"
            ),
            DtError::BadName { what, offset, raw } => write!(
                f,
                "device tree: {what} at offset {offset:#x} is not a NUL-terminated UTF-8 string (starts {raw})"
            ),
            DtError::NotFound { what, path } => {
                write!(f, "device tree: {what} `{path}` names no node")
            }
            DtError::MissingProperty { node, prop } => {
                write!(f, "device tree: node {node} has no `{prop}` property")
            }
            DtError::BadPropertyLength {
                node,
                prop,
                len,
                expected,
                exact,
            } => {
                if *exact {
                    write!(
                        f,
                        "device tree: node {node} property `{prop}` is {len} bytes, expected {expected}"
                    )
                } else {
                    write!(
                        f,
                        "device tree: node {node} property `{prop}` is {len} bytes, expected a non-zero multiple of {expected}"
                    )
                }
            }
            DtError::BadString { node, prop } => write!(
                f,
                "device tree: node {node} property `{prop}` is not a NUL-terminated UTF-8 string"
            ),
            DtError::BadCells {
                node,
                prop,
                value,
                max,
            } => write!(
                f,
                "device tree: node {node} has `{prop}` = {value}, expected at most {max}"
            ),
            DtError::BadValue {
                node,
                prop,
                found,
                expected,
            } => write!(
                f,
                "device tree: node {node} property `{prop}` = {found}, expected {expected}"
            ),
            DtError::AddressTooLarge { node, prop } => write!(
                f,
                "device tree: node {node} property `{prop}` holds an address or size that does not fit in 64 bits"
            ),
            DtError::NotTranslatable { node, bus } => write!(
                f,
                "device tree: cannot translate `reg` of {node}: parent bus {bus} has no `ranges` property"
            ),
            DtError::NoRangeMatch { node, bus, addr } => write!(
                f,
                "device tree: cannot translate `reg` of {node}: address {addr:#x} is outside every `ranges` entry of {bus}"
            ),
            DtError::IndexOutOfRange {
                node,
                prop,
                index,
                count,
            } => write!(
                f,
                "device tree: node {node} property `{prop}` has {count} entries, index {index} requested"
            ),
            DtError::NoMemory => write!(
                f,
                "device tree: no /memory node with a non-empty `reg` (device_type = \"memory\")"
            ),
            DtError::NoConsole => write!(
                f,
                "device tree: no console: neither /chosen/stdout-path nor /aliases/serial0 is set"
            ),
            DtError::BadPhandle {
                node,
                prop,
                phandle,
                problem,
            } => write!(
                f,
                "device tree: node {node} property `{prop}` references phandle {phandle:#x}: {problem}"
            ),
            DtError::ListFull { list, capacity } => write!(
                f,
                "device tree: more than {capacity} {list} entries (fixed capacity)"
            ),
        }
    }
}
