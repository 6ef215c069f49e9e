//! A small, validating, allocation-free reader for flattened device trees.
//!
//! Why not the `fdt` crate's node API directly: `fdt` 0.1.5 panics on
//! malformed input (`expect`/`assert_eq!`/slice indexing in `node.rs` and
//! `lib.rs`), panics on `FDT_NOP` tokens between properties or before child
//! nodes (`skip_current_node`), indexes a fixed 64-entry parent array in
//! `all_nodes` without a bound check, uses 5 instead of 9 for `FDT_END`, and
//! offers no way to reach a node's ancestors beyond its direct parent, which
//! multi-level `ranges` translation needs.  This reader validates the whole
//! blob once ([`Fdt::parse`]) and, belt and braces, every accessor is still
//! bounds-checked and returns `Option`/`Result`, so no input can make it panic
//! or loop: every step advances by at least one 4-byte token.
//!
//! Format facts below are from the Devicetree Specification v0.4, chapter 5
//! ("Flattened Devicetree (DTB) Format"), and libfdt (`dtc/libfdt`).
#![forbid(unsafe_code)]

use super::error::{DtError, DtName};

/// FDT magic, big-endian (spec §5.2).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the v17 header (ten 32-bit fields, spec §5.2).
pub const HEADER_SIZE: usize = 40;
/// Largest blob accepted: Linux `Documentation/arch/arm64/booting.rst`
/// ("The device tree blob (dtb) ... must not exceed 2 megabytes in size").
pub const MAX_DTB_SIZE: usize = 2 * 1024 * 1024;
/// Deepest node nesting accepted (the root is depth 1).  Same limit as
/// Linux `drivers/of/fdt.c` (`FDT_MAX_DEPTH 64`).
pub const MAX_DEPTH: usize = 64;

// Structure block tokens, spec §5.4.1.
const FDT_BEGIN_NODE: u32 = 0x1;
const FDT_END_NODE: u32 = 0x2;
const FDT_PROP: u32 = 0x3;
const FDT_NOP: u32 = 0x4;
const FDT_END: u32 = 0x9;

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], off: usize) -> Option<u64> {
    let hi = be32(b, off)?;
    let lo = be32(b, off.checked_add(4)?)?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

fn align4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

/// The NUL-terminated string starting at `off` in `block`, without the NUL.
fn cstr_at(block: &[u8], off: usize) -> Option<&[u8]> {
    let rest = block.get(off..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end)
}

/// Reads `totalsize` from the first bytes of a blob, after checking the
/// magic and that the size is between the header size and
/// [`MAX_DTB_SIZE`].  Use it on the 40 bytes at `x0` before building the
/// slice handed to [`super::discover`].
pub fn header_total_size(first_40_bytes: &[u8]) -> Result<usize, DtError> {
    if first_40_bytes.len() < HEADER_SIZE {
        return Err(DtError::HeaderTooShort {
            len: first_40_bytes.len(),
        });
    }
    let magic = be32(first_40_bytes, 0).ok_or(DtError::HeaderTooShort { len: 0 })?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic { found: magic });
    }
    let total = be32(first_40_bytes, 4).ok_or(DtError::HeaderTooShort { len: 4 })?;
    let total_usize = total as usize;
    if !(HEADER_SIZE..=MAX_DTB_SIZE).contains(&total_usize) {
        return Err(DtError::BadTotalSize {
            totalsize: total,
            limit: MAX_DTB_SIZE,
        });
    }
    Ok(total_usize)
}

/// The header fields (spec §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `totalsize`.
    pub totalsize: u32,
    /// `off_dt_struct`.
    pub off_dt_struct: u32,
    /// `off_dt_strings`.
    pub off_dt_strings: u32,
    /// `off_mem_rsvmap`.
    pub off_mem_rsvmap: u32,
    /// `version`.
    pub version: u32,
    /// `last_comp_version`.
    pub last_comp_version: u32,
    /// `boot_cpuid_phys`.
    pub boot_cpuid_phys: u32,
    /// `size_dt_strings`.
    pub size_dt_strings: u32,
    /// `size_dt_struct`.
    pub size_dt_struct: u32,
}

/// A validated flattened device tree borrowed from memory.
#[derive(Clone, Copy, Debug)]
pub struct Fdt<'a> {
    blob: &'a [u8],
    structs: &'a [u8],
    strings: &'a [u8],
    header: Header,
}

/// One token of the structure block.
#[derive(Clone, Copy, Debug)]
enum Token<'a> {
    Begin { name: &'a [u8] },
    End,
    Prop { nameoff: u32, value: &'a [u8] },
    Nop,
    Finish,
}

/// Decodes the token at `off`; returns it and the offset of the next one.
fn token_at(structs: &[u8], off: usize) -> Result<(Token<'_>, usize), DtError> {
    let truncated = |problem| DtError::BadStructure {
        struct_offset: off,
        token: 0,
        problem,
    };
    let tok = be32(structs, off).ok_or(truncated("structure block ends inside a token"))?;
    let after = off + 4; // `be32` succeeded, so `off + 4 <= len`.
    match tok {
        FDT_BEGIN_NODE => {
            let name = cstr_at(structs, after).ok_or(DtError::BadName {
                what: "node name",
                offset: after,
                raw: DtName::from_bytes_lossy(structs.get(after..).unwrap_or(&[])),
            })?;
            let next =
                align4(after + name.len() + 1).ok_or(truncated("node name runs past the block"))?;
            Ok((Token::Begin { name }, next))
        }
        FDT_END_NODE => Ok((Token::End, after)),
        FDT_PROP => {
            let len = be32(structs, after).ok_or(truncated("property header truncated"))?;
            let nameoff = be32(structs, after + 4).ok_or(truncated("property header truncated"))?;
            let start = after + 8;
            let end = start
                .checked_add(len as usize)
                .filter(|&e| e <= structs.len())
                .ok_or(DtError::BadStructure {
                    struct_offset: off,
                    token: len,
                    problem: "property value runs past the structure block",
                })?;
            let value = structs.get(start..end).ok_or(truncated("property value"))?;
            let next = align4(end).ok_or(truncated("property value"))?;
            Ok((Token::Prop { nameoff, value }, next))
        }
        FDT_NOP => Ok((Token::Nop, after)),
        FDT_END => Ok((Token::Finish, after)),
        other => Err(DtError::BadStructure {
            struct_offset: off,
            token: other,
            problem: "unknown token",
        }),
    }
}

fn check_block(
    block: &'static str,
    offset: u32,
    size: u32,
    totalsize: u32,
    align: u32,
) -> Result<(), DtError> {
    let err = |problem| DtError::BadBlock {
        block,
        offset,
        size,
        totalsize,
        problem,
    };
    if (offset as usize) < HEADER_SIZE {
        return Err(err("inside the header"));
    }
    if !offset.is_multiple_of(align) {
        return Err(err("misaligned"));
    }
    match offset.checked_add(size) {
        Some(end) if end <= totalsize => Ok(()),
        _ => Err(err("out of bounds")),
    }
}

impl<'a> Fdt<'a> {
    /// Validates `bytes` as a v17 flattened device tree and returns a reader.
    ///
    /// Checks: header size, magic, version, `totalsize` within the buffer
    /// and [`MAX_DTB_SIZE`], every block inside `totalsize` and aligned
    /// (spec §5.2-5.4), the memory reservation block terminated, and one full
    /// pass over the structure block: known tokens only, balanced nodes, a
    /// single root, nesting at most [`MAX_DEPTH`], properties before child
    /// nodes (spec §5.4.2), names NUL-terminated UTF-8, property values and
    /// name offsets inside their blocks, and `FDT_END` last.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DtError> {
        let total = header_total_size(bytes)?;
        if bytes.len() < total {
            return Err(DtError::Truncated {
                totalsize: total,
                available: bytes.len(),
            });
        }
        let blob = bytes.get(..total).ok_or(DtError::Truncated {
            totalsize: total,
            available: bytes.len(),
        })?;
        let f = |i: usize| be32(blob, i * 4).unwrap_or(0);
        let header = Header {
            totalsize: f(1),
            off_dt_struct: f(2),
            off_dt_strings: f(3),
            off_mem_rsvmap: f(4),
            version: f(5),
            last_comp_version: f(6),
            boot_cpuid_phys: f(7),
            size_dt_strings: f(8),
            size_dt_struct: f(9),
        };
        // libfdt supports last_comp_version <= 17; we need v17's size_dt_struct.
        if header.version < 17 || header.last_comp_version > 17 {
            return Err(DtError::UnsupportedVersion {
                version: header.version,
                last_comp_version: header.last_comp_version,
            });
        }
        let ts = header.totalsize;
        check_block(
            "structure",
            header.off_dt_struct,
            header.size_dt_struct,
            ts,
            4,
        )?;
        check_block(
            "strings",
            header.off_dt_strings,
            header.size_dt_strings,
            ts,
            1,
        )?;
        // Spec §5.3: the reservation block is 8-byte aligned; at least the
        // terminator (16 bytes) must fit.
        check_block("memory reservation", header.off_mem_rsvmap, 16, ts, 8)?;
        let so = header.off_dt_struct as usize;
        let structs = blob
            .get(so..so + header.size_dt_struct as usize)
            .unwrap_or(&[]);
        let to = header.off_dt_strings as usize;
        let strings = blob
            .get(to..to + header.size_dt_strings as usize)
            .unwrap_or(&[]);
        let fdt = Fdt {
            blob,
            structs,
            strings,
            header,
        };
        // The reservation list must end inside the blob.
        let mut n = 0usize;
        for r in fdt.mem_reservations() {
            r?;
            n += 1;
            if n > total / 16 {
                break; // Unreachable: each entry consumes 16 bytes.
            }
        }
        fdt.validate_structure()?;
        Ok(fdt)
    }

    fn validate_structure(&self) -> Result<(), DtError> {
        let mut off = 0usize;
        let mut depth = 0usize;
        let mut seen_root = false;
        // `had_child[d]`: the open node at depth d already had a child node,
        // so a property now would break spec §5.4.2 ordering.
        let mut had_child = [false; MAX_DEPTH + 1];
        loop {
            let (tok, next) = token_at(self.structs, off)?;
            let bad = |problem| DtError::BadStructure {
                struct_offset: off,
                token: be32(self.structs, off).unwrap_or(0),
                problem,
            };
            match tok {
                Token::Begin { name } => {
                    if depth == 0 && seen_root {
                        return Err(bad("a second root node"));
                    }
                    if core::str::from_utf8(name).is_err() {
                        return Err(DtError::BadName {
                            what: "node name",
                            offset: off + 4,
                            raw: DtName::from_bytes_lossy(name),
                        });
                    }
                    if depth > 0 && name.is_empty() {
                        return Err(bad("a non-root node with an empty name"));
                    }
                    if let Some(h) = had_child.get_mut(depth) {
                        *h = true;
                    }
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(DtError::TooDeep {
                            struct_offset: off,
                            limit: MAX_DEPTH,
                        });
                    }
                    if let Some(h) = had_child.get_mut(depth) {
                        *h = false;
                    }
                    seen_root = true;
                }
                Token::End => {
                    if depth == 0 {
                        return Err(bad("FDT_END_NODE without a matching FDT_BEGIN_NODE"));
                    }
                    depth -= 1;
                }
                Token::Prop { nameoff, .. } => {
                    if depth == 0 {
                        return Err(bad("a property outside any node"));
                    }
                    if had_child.get(depth).copied().unwrap_or(true) {
                        return Err(bad("a property after a child node"));
                    }
                    self.prop_name(nameoff)?;
                }
                Token::Nop => {}
                Token::Finish => {
                    if depth != 0 {
                        return Err(bad("FDT_END inside an open node"));
                    }
                    if !seen_root {
                        return Err(bad("no root node"));
                    }
                    return Ok(());
                }
            }
            if depth == 0 && !seen_root && !matches!(tok, Token::Nop) {
                return Err(bad("structure block does not start with the root node"));
            }
            off = next;
        }
    }

    fn prop_name(&self, nameoff: u32) -> Result<&'a str, DtError> {
        let off = nameoff as usize;
        let raw = cstr_at(self.strings, off).ok_or(DtError::BadName {
            what: "property name",
            offset: off,
            raw: DtName::from_bytes_lossy(self.strings.get(off..).unwrap_or(&[])),
        })?;
        core::str::from_utf8(raw).map_err(|_| DtError::BadName {
            what: "property name",
            offset: off,
            raw: DtName::from_bytes_lossy(raw),
        })
    }

    /// The header fields.
    pub fn header(&self) -> Header {
        self.header
    }

    /// `totalsize`: the blob's length in bytes.
    pub fn total_size(&self) -> usize {
        self.blob.len()
    }

    /// The `/memreserve/` entries (spec §5.3), without the terminator.
    /// Zero-sized entries are returned as they are.
    pub fn mem_reservations(&self) -> MemReservations<'a> {
        MemReservations {
            blob: self.blob,
            off: self.header.off_mem_rsvmap as usize,
            done: false,
        }
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        // Validation guarantees a root after optional NOPs; fall back to an
        // empty node rather than panicking if that ever were not so.
        let mut off = 0;
        while let Ok((tok, next)) = token_at(self.structs, off) {
            match tok {
                Token::Nop => off = next,
                Token::Begin { .. } => break,
                _ => break,
            }
        }
        self.node_at(off).unwrap_or(Node {
            fdt: *self,
            begin: 0,
            body: self.structs.len(),
            name: "",
        })
    }

    /// The node whose `FDT_BEGIN_NODE` token is at structure offset `begin`.
    pub fn node_at(&self, begin: usize) -> Result<Node<'a>, DtError> {
        match token_at(self.structs, begin)? {
            (Token::Begin { name }, body) => Ok(Node {
                fdt: *self,
                begin,
                body,
                name: core::str::from_utf8(name).map_err(|_| DtError::BadName {
                    what: "node name",
                    offset: begin + 4,
                    raw: DtName::from_bytes_lossy(name),
                })?,
            }),
            _ => Err(DtError::BadStructure {
                struct_offset: begin,
                token: be32(self.structs, begin).unwrap_or(0),
                problem: "expected FDT_BEGIN_NODE",
            }),
        }
    }

    /// The value of alias `name` in `/aliases` (spec §3.3), if present and a
    /// valid string.
    pub fn alias(&self, name: &str) -> Option<&'a str> {
        let aliases = self.root().child("aliases")?;
        prop_first_str(aliases.property(name)?.value)
    }

    /// Finds a node by full path (`/soc/serial@5000000`) or by alias
    /// (`serial0`, `serial0/child`), as libfdt's `fdt_path_offset` does: a
    /// path component without `@unit-address` matches a node whose name
    /// has one, and alias values must be full paths (no alias chains, so no
    /// cycles).  Returns the node with its chain of ancestors.
    pub fn find(&self, path: &str) -> Result<Located<'a>, DtError> {
        let not_found = |what| DtError::NotFound {
            what,
            path: DtName::new(path),
        };
        let (start, rest): (&str, &str) = if path.starts_with('/') {
            ("", path)
        } else {
            let (alias, rest) = match path.find('/') {
                Some(i) => path.split_at(i),
                None => (path, ""),
            };
            let target = self.alias(alias).ok_or(not_found("alias"))?;
            if !target.starts_with('/') {
                return Err(not_found("alias (value is not a full path)"));
            }
            (target, rest)
        };
        let mut loc = Located::root(self);
        for comp in start.split('/').chain(rest.split('/')) {
            if comp.is_empty() {
                continue;
            }
            let child = loc.node().child(comp).ok_or(not_found("node"))?;
            loc.push(child)
                .map_err(|_| not_found("node (path too deep)"))?;
        }
        Ok(loc)
    }

    /// Visits every node depth-first (parents before children) with its
    /// ancestor chain.  Stops early when `f` returns `Ok(false)` or an error.
    pub fn walk<F>(&self, mut f: F) -> Result<(), DtError>
    where
        F: FnMut(&Located<'a>) -> Result<bool, DtError>,
    {
        let mut loc = Located::root(self);
        if !f(&loc)? {
            return Ok(());
        }
        let mut off = loc.node().body;
        // `loc.len` tracks the depth of the node whose body we are in.
        loop {
            let (tok, next) = token_at(self.structs, off)?;
            match tok {
                Token::Begin { .. } => {
                    let n = self.node_at(off)?;
                    loc.push(n)?;
                    if !f(&loc)? {
                        return Ok(());
                    }
                    off = n.body;
                    continue;
                }
                Token::End => {
                    if loc.len <= 1 {
                        return Ok(()); // End of the root.
                    }
                    loc.len -= 1;
                }
                Token::Finish => return Ok(()),
                Token::Prop { .. } | Token::Nop => {}
            }
            off = next;
        }
    }
}

/// Iterator over `/memreserve/` entries as `(address, size)`.
#[derive(Clone, Debug)]
pub struct MemReservations<'a> {
    blob: &'a [u8],
    off: usize,
    done: bool,
}

impl Iterator for MemReservations<'_> {
    type Item = Result<(u64, u64), DtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let entry = be64(self.blob, self.off).zip(be64(self.blob, self.off.saturating_add(8)));
        match entry {
            None => {
                self.done = true;
                Some(Err(DtError::MemReserveUnterminated { offset: self.off }))
            }
            Some((0, 0)) => {
                self.done = true;
                None
            }
            Some(e) => {
                self.off += 16;
                Some(Ok(e))
            }
        }
    }
}

/// A node: a position in the structure block of a validated [`Fdt`].
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    begin: usize,
    body: usize,
    name: &'a str,
}

/// A property of a node.
#[derive(Clone, Copy, Debug)]
pub struct Prop<'a> {
    /// Property name (from the strings block).
    pub name: &'a str,
    /// Raw big-endian value.
    pub value: &'a [u8],
}

impl<'a> Node<'a> {
    /// The node's name with unit address (`serial@5000000`); `""` for the root.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The name for messages: `/` for the root.
    pub fn display_name(&self) -> &'a str {
        if self.name.is_empty() {
            "/"
        } else {
            self.name
        }
    }

    /// Structure-block offset of the node's `FDT_BEGIN_NODE` (a stable id).
    pub fn offset(&self) -> usize {
        self.begin
    }

    /// The node's properties, in blob order.
    pub fn properties(&self) -> Props<'a> {
        Props {
            fdt: self.fdt,
            off: self.body,
            done: false,
        }
    }

    /// The property `name`, if present.
    pub fn property(&self, name: &str) -> Option<Prop<'a>> {
        self.properties().find(|p| p.name == name)
    }

    /// `true` when the node has property `name` (e.g. a boolean like `no-map`).
    pub fn has_property(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    /// The direct children, in blob order.
    pub fn children(&self) -> Children<'a> {
        Children {
            fdt: self.fdt,
            off: self.body,
            done: false,
        }
    }

    /// The first child matching `comp` by libfdt rules: exact name, or, if
    /// `comp` has no `@`, a name of the form `comp@...`.
    pub fn child(&self, comp: &str) -> Option<Node<'a>> {
        self.children().find(|c| name_matches(c.name, comp))
    }

    /// A 32-bit property (`<u32>`): `Ok(None)` when absent, an error when it
    /// is not exactly 4 bytes.
    pub fn prop_u32(&self, name: &'static str) -> Result<Option<u32>, DtError> {
        match self.property(name) {
            None => Ok(None),
            Some(p) => be32(p.value, 0)
                .filter(|_| p.value.len() == 4)
                .map(Some)
                .ok_or(DtError::BadPropertyLength {
                    node: DtName::new(self.display_name()),
                    prop: name,
                    len: p.value.len(),
                    expected: 4,
                    exact: true,
                }),
        }
    }

    /// A string property: `Ok(None)` when absent; the first string of the
    /// value; an error when the value is not NUL-terminated UTF-8.
    pub fn prop_str(&self, name: &'static str) -> Result<Option<&'a str>, DtError> {
        match self.property(name) {
            None => Ok(None),
            Some(p) => prop_first_str(p.value).map(Some).ok_or(DtError::BadString {
                node: DtName::new(self.display_name()),
                prop: name,
            }),
        }
    }

    /// The strings of a string-list property such as `compatible`; empty
    /// when absent.  A malformed value yields only its well-formed prefix.
    pub fn prop_strs(&self, name: &str) -> StrList<'a> {
        StrList {
            rest: self.property(name).map(|p| p.value).unwrap_or(&[]),
        }
    }

    /// `true` when one of the node's `compatible` strings equals `compat`.
    pub fn is_compatible(&self, compat: &str) -> bool {
        self.prop_strs("compatible").any(|c| c == compat)
    }

    /// `status` absent, `"okay"` or `"ok"` (spec §2.3.4).
    pub fn is_enabled(&self) -> bool {
        match self.prop_str("status") {
            Ok(None) => true,
            Ok(Some(s)) => s == "okay" || s == "ok",
            Err(_) => false,
        }
    }
}

/// libfdt `fdt_nodename_eq_`: exact match, or `comp` lacks `@` and `name`
/// is `comp@...`.
fn name_matches(name: &str, comp: &str) -> bool {
    if name == comp {
        return true;
    }
    !comp.contains('@')
        && name.len() > comp.len()
        && name.starts_with(comp)
        && name.as_bytes().get(comp.len()) == Some(&b'@')
}

/// The first string of a property value: it must contain a NUL, and the
/// bytes before it must be UTF-8 (spec §2.2.4 `<string>`).
pub(crate) fn prop_first_str(v: &[u8]) -> Option<&str> {
    let end = v.iter().position(|&b| b == 0)?;
    core::str::from_utf8(v.get(..end)?).ok()
}

/// Iterator over a node's properties.
#[derive(Clone, Debug)]
pub struct Props<'a> {
    fdt: Fdt<'a>,
    off: usize,
    done: bool,
}

impl<'a> Iterator for Props<'a> {
    type Item = Prop<'a>;

    fn next(&mut self) -> Option<Prop<'a>> {
        while !self.done {
            match token_at(self.fdt.structs, self.off) {
                Ok((Token::Nop, next)) => self.off = next,
                Ok((Token::Prop { nameoff, value }, next)) => {
                    self.off = next;
                    match self.fdt.prop_name(nameoff) {
                        Ok(name) => return Some(Prop { name, value }),
                        Err(_) => self.done = true,
                    }
                }
                _ => self.done = true,
            }
        }
        None
    }
}

/// Iterator over a node's direct children.
#[derive(Clone, Debug)]
pub struct Children<'a> {
    fdt: Fdt<'a>,
    off: usize,
    done: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        // Skip properties and NOPs of the parent, then return the child at
        // depth 0 and skip its whole subtree.
        while !self.done {
            match token_at(self.fdt.structs, self.off) {
                Ok((Token::Nop, next)) | Ok((Token::Prop { .. }, next)) => self.off = next,
                Ok((Token::Begin { .. }, _)) => {
                    let child = match self.fdt.node_at(self.off) {
                        Ok(c) => c,
                        Err(_) => {
                            self.done = true;
                            return None;
                        }
                    };
                    match skip_subtree(self.fdt.structs, self.off) {
                        Some(after) => self.off = after,
                        None => self.done = true,
                    }
                    return Some(child);
                }
                _ => self.done = true,
            }
        }
        None
    }
}

/// The offset just after the `FDT_END_NODE` closing the node at `begin`.
fn skip_subtree(structs: &[u8], begin: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut off = begin;
    loop {
        let (tok, next) = token_at(structs, off).ok()?;
        match tok {
            Token::Begin { .. } => depth += 1,
            Token::End => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(next);
                }
            }
            Token::Finish => return None,
            Token::Prop { .. } | Token::Nop => {}
        }
        off = next;
    }
}

/// Iterator over the strings of a `<stringlist>` value (spec §2.2.4).
#[derive(Clone, Debug)]
pub struct StrList<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for StrList<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = self.rest.iter().position(|&b| b == 0)?;
        let s = core::str::from_utf8(self.rest.get(..end)?).ok();
        self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
        if s.is_none() {
            self.rest = &[];
        }
        s
    }
}

/// A node together with its ancestors (root first), needed for `reg`
/// interpretation (`#address-cells` of the parent) and translation
/// (`ranges` of every ancestor).
#[derive(Clone, Copy, Debug)]
pub struct Located<'a> {
    fdt: Fdt<'a>,
    chain: [u32; MAX_DEPTH],
    len: usize,
}

impl<'a> Located<'a> {
    fn root(fdt: &Fdt<'a>) -> Self {
        let mut chain = [0u32; MAX_DEPTH];
        chain[0] = fdt.root().begin as u32;
        Located {
            fdt: *fdt,
            chain,
            len: 1,
        }
    }

    /// This chain extended by `child` (which must be a child of
    /// [`Self::node`], e.g. from [`Node::children`]).
    pub fn with_child(&self, child: Node<'a>) -> Result<Located<'a>, DtError> {
        let mut l = *self;
        l.push(child)?;
        Ok(l)
    }

    fn push(&mut self, n: Node<'a>) -> Result<(), DtError> {
        let slot = self.chain.get_mut(self.len).ok_or(DtError::TooDeep {
            struct_offset: n.begin,
            limit: MAX_DEPTH,
        })?;
        // The structure block is at most MAX_DTB_SIZE, so offsets fit in u32.
        *slot = n.begin as u32;
        self.len += 1;
        Ok(())
    }

    /// Depth: 1 for the root.
    pub fn depth(&self) -> usize {
        self.len
    }

    /// The node itself.
    pub fn node(&self) -> Node<'a> {
        self.ancestor(0).unwrap_or_else(|| self.fdt.root())
    }

    /// The `up`-th ancestor: 0 is the node itself, 1 its parent, ...;
    /// `None` above the root.
    pub fn ancestor(&self, up: usize) -> Option<Node<'a>> {
        let i = self.len.checked_sub(1)?.checked_sub(up)?;
        let begin = *self.chain.get(i)?;
        self.fdt.node_at(begin as usize).ok()
    }

    /// The parent node; `None` for the root.
    pub fn parent(&self) -> Option<Node<'a>> {
        self.ancestor(1)
    }

    /// The located parent (ancestor chain shortened by one).
    pub fn parent_located(&self) -> Option<Located<'a>> {
        self.ancestor_located(1)
    }

    /// The `up`-th ancestor with its own ancestor chain; `None` above the
    /// root.
    pub fn ancestor_located(&self, up: usize) -> Option<Located<'a>> {
        let len = self.len.checked_sub(up).filter(|&l| l >= 1)?;
        let mut p = *self;
        p.len = len;
        Some(p)
    }

    /// The reader this node belongs to.
    pub fn fdt(&self) -> &Fdt<'a> {
        &self.fdt
    }

    /// The node's full path (`/soc/serial@5000000`) as a [`DtName`] for
    /// messages (cut with `...` when longer than the capacity).
    pub fn path_name(&self) -> DtName {
        if self.len <= 1 {
            return DtName::new("/");
        }
        let mut n = DtName::new("");
        for i in 1..self.len {
            let name = self
                .chain
                .get(i)
                .and_then(|&b| self.fdt.node_at(b as usize).ok())
                .map(|n| n.name)
                .unwrap_or("?");
            n.push_str("/");
            n.push_str(name);
        }
        n
    }
}
