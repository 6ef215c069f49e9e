//! The three loader formats `cargo xtask image --board` writes, each with a
//! parser the host tests (and `image` itself, as a self-check after writing)
//! use to prove what was written.
//!
//! 1. **U-Boot legacy script image** (`boot.scr`), U-Boot `include/image.h`
//!    (`struct legacy_img_hdr`, formerly `image_header_t`): a 64-byte
//!    big-endian header — `ih_magic` 0x27051956 (`IH_MAGIC`), `ih_hcrc`
//!    (CRC-32 of the header with `ih_hcrc` = 0), `ih_time`, `ih_size` (bytes
//!    after the header), `ih_load`, `ih_ep`, `ih_dcrc` (CRC-32 of those
//!    bytes), then the bytes `ih_os` (`IH_OS_LINUX` = 5), `ih_arch`
//!    (`IH_ARCH_ARM64` = 22), `ih_type` (`IH_TYPE_SCRIPT` = 6), `ih_comp`
//!    (`IH_COMP_NONE` = 0) and `ih_name[IH_NMLEN = 32]`.  A script image is
//!    in the multi-file layout (`image_multi_getimg`, `cmd/source.c`): a
//!    table of big-endian u32 lengths ended by a 0, then the data.  What
//!    `mkimage -A arm64 -O linux -T script -C none -d boot.cmd boot.scr`
//!    writes, with `ih_time` = 0 so the output is reproducible.
//! 2. **Android boot image, header version 2** (AOSP
//!    `system/tools/mkbootimg/include/bootimg/bootimg.h`,
//!    `boot_img_hdr_v2`, packed little-endian): `magic` "ANDROID!",
//!    `kernel_size`, `kernel_addr`, `ramdisk_size`, `ramdisk_addr`,
//!    `second_size`, `second_addr`, `tags_addr`, `page_size`,
//!    `header_version`, `os_version`, `name[16]`, `cmdline[512]`, `id[32]`,
//!    `extra_cmdline[1024]` (v0, 1632 bytes); `recovery_dtbo_size`,
//!    `recovery_dtbo_offset` (u64), `header_size` (v1); `dtb_size`,
//!    `dtb_addr` (u64) (v2) — 1660 bytes.  Sections follow the header page,
//!    each padded to `page_size`: kernel, ramdisk, second, recovery DTBO,
//!    DTB.  Load addresses are `mkbootimg`'s defaults from `--base`:
//!    kernel +0x8000, ramdisk +0x0100_0000, tags +0x100, DTB +0x01f0_0000
//!    (`second_addr` is 0: there is no second stage).  `id` is `mkbootimg`'s SHA-1 over each
//!    section followed by its size as a little-endian u32 (a size of 0 for
//!    an absent one).
//!
//! Cross-checked (by `boards::tests::byte_identical_to_mkimage_and_mkbootimg_when_installed`
//! whenever the tools are on PATH; CI needs neither): for the same inputs, `boot.scr` is byte-identical to Debian `u-boot-tools`'
//! `SOURCE_DATE_EPOCH=0 mkimage -A arm64 -O linux -T script -C none -n NAME
//! -d boot.cmd`, and `boot.img` to Debian `mkbootimg` 1:29.0.6's
//! `--header_version 2 --base 0x80000000 --pagesize 2048 --board NAME
//! --kernel Image --ramdisk R --dtb D`.
//! 3. **m1n1 payload** (m1n1 `src/payload.c`, docs/hw/board-facts.md §1.6): blobs
//!    concatenated with no padding; an FDT (`d0 0d fe ed`) is skipped by its
//!    `totalsize`, an uncompressed arm64 Image ("ARM\x64" at +0x38) ends the
//!    scan, so it must come last.

use crate::checksum::{crc32, Sha1};

/// `IH_MAGIC`.
pub const IH_MAGIC: u32 = 0x2705_1956;
/// `IH_OS_LINUX`.
pub const IH_OS_LINUX: u8 = 5;
/// `IH_ARCH_ARM64`.
pub const IH_ARCH_ARM64: u8 = 22;
/// `IH_TYPE_SCRIPT`.
pub const IH_TYPE_SCRIPT: u8 = 6;
/// `IH_COMP_NONE`.
pub const IH_COMP_NONE: u8 = 0;
/// `IH_NMLEN`.
const IH_NMLEN: usize = 32;
/// `sizeof(struct legacy_img_hdr)`.
pub const UIMAGE_HEADER_LEN: usize = 64;

/// A format problem: which field, at which offset, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The field (`ih_hcrc`, `dtb_size`, ...).
    pub field: &'static str,
    /// Byte offset of the field or blob in the file.
    pub offset: usize,
    /// What was wrong.
    pub detail: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "field `{}` at {:#x}: {}",
            self.field, self.offset, self.detail
        )
    }
}

fn err(field: &'static str, offset: usize, detail: impl Into<String>) -> FormatError {
    FormatError {
        field,
        offset,
        detail: detail.into(),
    }
}

fn be32(b: &[u8], at: usize, field: &'static str) -> Result<u32, FormatError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| err(field, at, format!("file ends at {:#x}", b.len())))
}

fn le32(b: &[u8], at: usize, field: &'static str) -> Result<u32, FormatError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| err(field, at, format!("file ends at {:#x}", b.len())))
}

fn le64(b: &[u8], at: usize, field: &'static str) -> Result<u64, FormatError> {
    let lo = le32(b, at, field)?;
    let hi = le32(b, at + 4, field)?;
    Ok(u64::from(lo) | (u64::from(hi) << 32))
}

// ---------------------------------------------------------------------------
// U-Boot script image

/// Wraps a U-Boot script (`boot.cmd` text) as a legacy `IH_TYPE_SCRIPT`
/// image (`boot.scr`).
pub fn uboot_script(script: &[u8], name: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(8 + script.len());
    data.extend_from_slice(&(script.len() as u32).to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(script);
    let mut h = vec![0u8; UIMAGE_HEADER_LEN];
    h[0..4].copy_from_slice(&IH_MAGIC.to_be_bytes());
    // ih_hcrc (4..8) stays 0 until the end; ih_time (8..12) = 0.
    h[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
    // ih_load (16..20) = ih_ep (20..24) = 0: scripts run in place.
    h[24..28].copy_from_slice(&crc32(&data).to_be_bytes());
    h[28] = IH_OS_LINUX;
    h[29] = IH_ARCH_ARM64;
    h[30] = IH_TYPE_SCRIPT;
    h[31] = IH_COMP_NONE;
    let n = name.len().min(IH_NMLEN - 1);
    h[32..32 + n].copy_from_slice(&name.as_bytes()[..n]);
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    h.extend_from_slice(&data);
    h
}

/// A parsed and checked `boot.scr`.
#[derive(Debug)]
pub struct ScriptImage<'a> {
    /// `ih_name` up to the first NUL.
    pub name: String,
    /// The script text.
    pub script: &'a [u8],
}

/// Parses a legacy script image, checking magic, both CRCs, size, type,
/// compression and the length table, as U-Boot's `source` command does.
pub fn parse_uboot_script(b: &[u8]) -> Result<ScriptImage<'_>, FormatError> {
    if b.len() < UIMAGE_HEADER_LEN {
        return Err(err(
            "header",
            0,
            format!("{} bytes, shorter than the 64-byte header", b.len()),
        ));
    }
    let magic = be32(b, 0, "ih_magic")?;
    if magic != IH_MAGIC {
        return Err(err(
            "ih_magic",
            0,
            format!("{magic:#010x}, want {IH_MAGIC:#010x}"),
        ));
    }
    let hcrc = be32(b, 4, "ih_hcrc")?;
    let mut h = b[..UIMAGE_HEADER_LEN].to_vec();
    h[4..8].fill(0);
    if crc32(&h) != hcrc {
        return Err(err(
            "ih_hcrc",
            4,
            format!("{hcrc:#010x}, header CRC-32 is {:#010x}", crc32(&h)),
        ));
    }
    let size = be32(b, 12, "ih_size")? as usize;
    let data = &b[UIMAGE_HEADER_LEN..];
    if size != data.len() {
        return Err(err(
            "ih_size",
            12,
            format!("{size:#x}, but {:#x} bytes follow the header", data.len()),
        ));
    }
    let dcrc = be32(b, 24, "ih_dcrc")?;
    if crc32(data) != dcrc {
        return Err(err(
            "ih_dcrc",
            24,
            format!("{dcrc:#010x}, data CRC-32 is {:#010x}", crc32(data)),
        ));
    }
    for (off, field, want) in [
        (30, "ih_type", IH_TYPE_SCRIPT),
        (31, "ih_comp", IH_COMP_NONE),
    ] {
        if b[off] != want {
            return Err(err(field, off, format!("{}, want {want}", b[off])));
        }
    }
    let len = be32(b, UIMAGE_HEADER_LEN, "length table[0]")? as usize;
    let term = be32(b, UIMAGE_HEADER_LEN + 4, "length table[1]")?;
    if term != 0 {
        return Err(err(
            "length table[1]",
            UIMAGE_HEADER_LEN + 4,
            format!("{term:#x}: a script image holds exactly one file (0 terminator expected)"),
        ));
    }
    let start = UIMAGE_HEADER_LEN + 8;
    let script = b
        .get(start..start + len)
        .filter(|_| start + len == b.len())
        .ok_or_else(|| {
            err(
                "length table[0]",
                UIMAGE_HEADER_LEN,
                format!(
                    "{len:#x} bytes of script, but {:#x} follow the table",
                    b.len() - start.min(b.len())
                ),
            )
        })?;
    let name_bytes = &b[32..32 + IH_NMLEN];
    let end = name_bytes.iter().position(|&c| c == 0).unwrap_or(IH_NMLEN);
    Ok(ScriptImage {
        name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
        script,
    })
}

// ---------------------------------------------------------------------------
// Android boot image v2

/// `BOOT_MAGIC`.
pub const BOOT_MAGIC: &[u8; 8] = b"ANDROID!";
/// `sizeof(boot_img_hdr_v2)`.
pub const BOOT_HEADER_V2_LEN: usize = 1660;
const NAME_LEN: usize = 16;
const ARGS_LEN: usize = 512;
const EXTRA_ARGS_LEN: usize = 1024;
/// `mkbootimg` default offsets from `--base`.
pub const KERNEL_OFFSET: u32 = 0x0000_8000;
/// Ramdisk offset.
pub const RAMDISK_OFFSET: u32 = 0x0100_0000;
/// Tags offset.
pub const TAGS_OFFSET: u32 = 0x0000_0100;
/// DTB offset.
pub const DTB_OFFSET: u32 = 0x01f0_0000;

/// What goes into a boot image.
#[derive(Debug, Clone, Copy)]
pub struct BootImgInput<'a> {
    /// Physical base (`--base`).
    pub base: u32,
    /// Flash page size (`--pagesize`).
    pub page_size: u32,
    /// Product name (`--board`), at most 15 bytes.
    pub name: &'a str,
    /// Kernel command line, at most 511 bytes.
    pub cmdline: &'a str,
    /// The kernel (our arm64 Image).
    pub kernel: &'a [u8],
    /// The ramdisk.
    pub ramdisk: &'a [u8],
    /// One or more concatenated DTBs.
    pub dtb: &'a [u8],
}

fn pad_to(v: &mut Vec<u8>, page: usize) {
    let rem = v.len() % page;
    if rem != 0 {
        v.resize(v.len() + page - rem, 0);
    }
}

fn boot_id(kernel: &[u8], ramdisk: &[u8], dtb: &[u8]) -> [u8; 32] {
    let mut sha = Sha1::new();
    // kernel, ramdisk, second (absent), recovery_dtbo (absent, v1+), dtb (v2+)
    for part in [kernel, ramdisk, &[], &[], dtb] {
        sha.update(part);
        sha.update(&(part.len() as u32).to_le_bytes());
    }
    let mut id = [0u8; 32];
    id[..20].copy_from_slice(&sha.finish());
    id
}

/// Builds an Android boot image, header version 2.
pub fn android_boot_v2(i: &BootImgInput<'_>) -> Result<Vec<u8>, FormatError> {
    if !i.page_size.is_power_of_two() || i.page_size < 2048 {
        return Err(err(
            "page_size",
            36,
            format!("{} is not a power of two >= 2048", i.page_size),
        ));
    }
    if i.name.len() >= NAME_LEN {
        return Err(err("name", 48, format!("`{}` is over 15 bytes", i.name)));
    }
    if i.cmdline.len() >= ARGS_LEN {
        return Err(err("cmdline", 64, "over 511 bytes"));
    }
    for (field, off, part) in [
        ("kernel_size", 8, i.kernel),
        ("ramdisk_size", 16, i.ramdisk),
        ("dtb_size", 1648, i.dtb),
    ] {
        if part.is_empty() || u32::try_from(part.len()).is_err() {
            return Err(err(field, off, format!("{} bytes", part.len())));
        }
    }
    let mut h = Vec::with_capacity(i.page_size as usize);
    h.extend_from_slice(BOOT_MAGIC);
    for v in [
        i.kernel.len() as u32,
        i.base.wrapping_add(KERNEL_OFFSET),
        i.ramdisk.len() as u32,
        i.base.wrapping_add(RAMDISK_OFFSET),
        0,
        0, // second_addr: mkbootimg writes 0 when there is no second stage
        i.base.wrapping_add(TAGS_OFFSET),
        i.page_size,
        2, // header_version
        0, // os_version: not an Android OS
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    let mut name = [0u8; NAME_LEN];
    name[..i.name.len()].copy_from_slice(i.name.as_bytes());
    h.extend_from_slice(&name);
    let mut args = vec![0u8; ARGS_LEN];
    args[..i.cmdline.len()].copy_from_slice(i.cmdline.as_bytes());
    h.extend_from_slice(&args);
    h.extend_from_slice(&boot_id(i.kernel, i.ramdisk, i.dtb));
    h.extend_from_slice(&[0u8; EXTRA_ARGS_LEN]);
    h.extend_from_slice(&0u32.to_le_bytes()); // recovery_dtbo_size
    h.extend_from_slice(&0u64.to_le_bytes()); // recovery_dtbo_offset
    h.extend_from_slice(&(BOOT_HEADER_V2_LEN as u32).to_le_bytes());
    h.extend_from_slice(&(i.dtb.len() as u32).to_le_bytes());
    h.extend_from_slice(&(u64::from(i.base) + u64::from(DTB_OFFSET)).to_le_bytes());
    debug_assert_eq!(h.len(), BOOT_HEADER_V2_LEN);
    let page = i.page_size as usize;
    pad_to(&mut h, page);
    for part in [i.kernel, i.ramdisk, i.dtb] {
        h.extend_from_slice(part);
        pad_to(&mut h, page);
    }
    Ok(h)
}

/// A parsed and checked boot image v2.
#[derive(Debug)]
pub struct BootImg<'a> {
    /// `kernel_addr`.
    pub kernel_addr: u32,
    /// `ramdisk_addr`.
    pub ramdisk_addr: u32,
    /// `tags_addr`.
    pub tags_addr: u32,
    /// `dtb_addr`.
    pub dtb_addr: u64,
    /// `page_size`.
    pub page_size: u32,
    /// `name`.
    pub name: String,
    /// `cmdline`.
    pub cmdline: String,
    /// Kernel section.
    pub kernel: &'a [u8],
    /// Ramdisk section.
    pub ramdisk: &'a [u8],
    /// DTB section.
    pub dtb: &'a [u8],
    /// Byte offset of each section: kernel, ramdisk, DTB.
    pub offsets: [usize; 3],
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Parses a v2 boot image, checking the magic, version, header size, page
/// size, that every section lies inside the file, and the SHA-1 `id`.
pub fn parse_android_boot_v2(b: &[u8]) -> Result<BootImg<'_>, FormatError> {
    if b.get(..8) != Some(&BOOT_MAGIC[..]) {
        return Err(err("magic", 0, "not \"ANDROID!\""));
    }
    let version = le32(b, 40, "header_version")?;
    if version != 2 {
        return Err(err("header_version", 40, format!("{version}, want 2")));
    }
    let header_size = le32(b, 1644, "header_size")?;
    if header_size as usize != BOOT_HEADER_V2_LEN {
        return Err(err(
            "header_size",
            1644,
            format!("{header_size}, want {BOOT_HEADER_V2_LEN}"),
        ));
    }
    let page_size = le32(b, 36, "page_size")?;
    if !page_size.is_power_of_two() || page_size < 2048 {
        return Err(err("page_size", 36, format!("{page_size}")));
    }
    let page = page_size as usize;
    let pages = |n: usize| n.div_ceil(page) * page;
    let kernel_size = le32(b, 8, "kernel_size")? as usize;
    let ramdisk_size = le32(b, 16, "ramdisk_size")? as usize;
    let second_size = le32(b, 24, "second_size")? as usize;
    let dtbo_size = le32(b, 1632, "recovery_dtbo_size")? as usize;
    let dtb_size = le32(b, 1648, "dtb_size")? as usize;
    let k_off = page;
    let r_off = k_off + pages(kernel_size);
    let s_off = r_off + pages(ramdisk_size);
    let o_off = s_off + pages(second_size);
    let d_off = o_off + pages(dtbo_size);
    let section = |field: &'static str, size_at: usize, off: usize, len: usize| {
        b.get(off..off + len).ok_or_else(|| {
            err(
                field,
                size_at,
                format!(
                    "{len:#x} bytes at {off:#x} run past the end of the file ({:#x})",
                    b.len()
                ),
            )
        })
    };
    let kernel = section("kernel_size", 8, k_off, kernel_size)?;
    let ramdisk = section("ramdisk_size", 16, r_off, ramdisk_size)?;
    let second = section("second_size", 24, s_off, second_size)?;
    let dtb = section("dtb_size", 1648, d_off, dtb_size)?;
    if b.len() != d_off + pages(dtb_size) {
        return Err(err(
            "dtb_size",
            1648,
            format!(
                "file is {:#x} bytes, layout ends at {:#x}",
                b.len(),
                d_off + pages(dtb_size)
            ),
        ));
    }
    if !second.is_empty() || dtbo_size != 0 {
        return Err(err(
            "second_size",
            24,
            "second stage / recovery DTBO are not expected",
        ));
    }
    let id = &b[576..608];
    let want = boot_id(kernel, ramdisk, dtb);
    if id != want {
        return Err(err(
            "id",
            576,
            "SHA-1 over the sections does not match mkbootimg's",
        ));
    }
    Ok(BootImg {
        kernel_addr: le32(b, 12, "kernel_addr")?,
        ramdisk_addr: le32(b, 20, "ramdisk_addr")?,
        tags_addr: le32(b, 32, "tags_addr")?,
        dtb_addr: le64(b, 1652, "dtb_addr")?,
        page_size,
        name: cstr(&b[48..64]),
        cmdline: cstr(&b[64..576]),
        kernel,
        ramdisk,
        dtb,
        offsets: [k_off, r_off, d_off],
    })
}

/// The smallest valid ramdisk: a "newc" cpio archive holding only the
/// `TRAILER!!!` entry (`man 5 cpio`: "070701", 13 eight-digit hex fields,
/// the NUL-terminated name padded to 4 bytes).  ABL is given a ramdisk
/// because some builds refuse an empty one (docs/hw/board-facts.md §1.5, hedged).
pub fn empty_cpio() -> Vec<u8> {
    let name = b"TRAILER!!!\0";
    let mut v = b"070701".to_vec();
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    for f in [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, name.len(), 0] {
        v.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    v.extend_from_slice(name);
    pad_to(&mut v, 4);
    v
}

// ---------------------------------------------------------------------------
// Device trees and m1n1 payloads

/// FDT magic, big-endian.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Offset of "ARM\x64" in an arm64 Image.
pub const IMAGE_MAGIC_AT: usize = 0x38;

/// The root node's properties we look at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FdtRoot {
    /// `compatible` strings.
    pub compatible: Vec<String>,
    /// Names of every root property, in order.
    pub props: Vec<String>,
}

/// Checks that `b` is exactly one flattened device tree (devicetree spec
/// v0.4 §5.2: `magic` at 0, `totalsize` at 4, both big-endian) and returns
/// its root node's `compatible` strings and property names (ABL selects a
/// DTB by `qcom,msm-id` / `qcom,board-id`, docs/hw/board-facts.md §1.5).
pub fn fdt_root(b: &[u8]) -> Result<FdtRoot, FormatError> {
    let mut root = FdtRoot::default();
    let magic = be32(b, 0, "fdt magic")?;
    if magic != FDT_MAGIC {
        return Err(err(
            "fdt magic",
            0,
            format!("{magic:#010x}, want {FDT_MAGIC:#010x}"),
        ));
    }
    let total = be32(b, 4, "fdt totalsize")? as usize;
    if total != b.len() {
        return Err(err(
            "fdt totalsize",
            4,
            format!(
                "{total:#x}, but the file is {:#x} bytes (loaders find the next blob by totalsize)",
                b.len()
            ),
        ));
    }
    let off_struct = be32(b, 8, "fdt off_dt_struct")? as usize;
    let off_strings = be32(b, 12, "fdt off_dt_strings")? as usize;
    let mut at = off_struct;
    // FDT_BEGIN_NODE for the root, with an empty name padded to 4 bytes.
    if be32(b, at, "fdt root token")? != 1 {
        return Err(err("fdt root token", at, "not FDT_BEGIN_NODE"));
    }
    at += 4;
    let name_len = b
        .get(at..)
        .and_then(|s| s.iter().position(|&c| c == 0))
        .ok_or_else(|| err("fdt root name", at, "unterminated"))?;
    at += (name_len + 1).div_ceil(4) * 4;
    loop {
        match be32(b, at, "fdt token")? {
            3 => {
                let len = be32(b, at + 4, "fdt prop len")? as usize;
                let nameoff = be32(b, at + 8, "fdt prop nameoff")? as usize;
                let value = b
                    .get(at + 12..at + 12 + len)
                    .ok_or_else(|| err("fdt prop len", at + 4, "value runs past the end"))?;
                let name_at = off_strings + nameoff;
                let pname = b
                    .get(name_at..)
                    .and_then(|s| s.split(|&c| c == 0).next())
                    .ok_or_else(|| err("fdt prop nameoff", at + 8, "outside the strings"))?;
                if pname == b"compatible" {
                    root.compatible = value
                        .split(|&c| c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect();
                }
                root.props.push(String::from_utf8_lossy(pname).into_owned());
                at += 12 + len.div_ceil(4) * 4;
            }
            4 => at += 4,         // FDT_NOP
            _ => return Ok(root), // a child node or the end of the root's properties
        }
    }
}

/// Lays out an m1n1 payload: the DTB(s) then the uncompressed Image, last.
pub fn m1n1_payload(dtbs: &[&[u8]], image: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for d in dtbs {
        v.extend_from_slice(d);
    }
    v.extend_from_slice(image);
    v
}

/// One blob of an m1n1 payload, as m1n1's scanner sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum M1n1Blob {
    /// An FDT at this offset, this many bytes.
    Fdt {
        /// Offset in the payload.
        offset: usize,
        /// `totalsize`.
        size: usize,
    },
    /// The kernel at this offset; everything after it is the kernel.
    Kernel {
        /// Offset in the payload.
        offset: usize,
    },
}

/// Walks a payload the way m1n1 `payload.c` does and requires at least one
/// FDT and an inline kernel that ends the file.
pub fn parse_m1n1_payload(b: &[u8]) -> Result<Vec<M1n1Blob>, FormatError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        if be32(b, at, "blob magic").ok() == Some(FDT_MAGIC) {
            let size = be32(b, at + 4, "fdt totalsize")? as usize;
            if size < 40 || at + size > b.len() {
                return Err(err("fdt totalsize", at + 4, format!("{size:#x}")));
            }
            out.push(M1n1Blob::Fdt { offset: at, size });
            at += size;
        } else if b.get(at + IMAGE_MAGIC_AT..at + IMAGE_MAGIC_AT + 4) == Some(b"ARM\x64") {
            out.push(M1n1Blob::Kernel { offset: at });
            break;
        } else {
            return Err(err(
                "blob magic",
                at,
                "neither an FDT nor an arm64 Image: m1n1 would stop here",
            ));
        }
    }
    if !out.iter().any(|x| matches!(x, M1n1Blob::Fdt { .. })) {
        return Err(err("blob magic", 0, "no FDT before the kernel"));
    }
    if !matches!(out.last(), Some(M1n1Blob::Kernel { .. })) {
        return Err(err("blob magic", b.len(), "no kernel at the end"));
    }
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal FDT: root with `compatible` (and `model`), one child.
    pub fn tiny_fdt(compatible: &[&str]) -> Vec<u8> {
        let strings = b"model\0compatible\0".to_vec();
        let mut st = Vec::new();
        let push = |v: &mut Vec<u8>, w: u32| v.extend_from_slice(&w.to_be_bytes());
        push(&mut st, 1);
        st.extend_from_slice(&[0, 0, 0, 0]);
        let prop = |st: &mut Vec<u8>, nameoff: u32, val: &[u8]| {
            push(st, 3);
            push(st, val.len() as u32);
            push(st, nameoff);
            st.extend_from_slice(val);
            while !st.len().is_multiple_of(4) {
                st.push(0);
            }
        };
        prop(&mut st, 0, b"test\0");
        push(&mut st, 4); // a NOP
        let mut c = Vec::new();
        for s in compatible {
            c.extend_from_slice(s.as_bytes());
            c.push(0);
        }
        prop(&mut st, 6, &c);
        push(&mut st, 1);
        st.extend_from_slice(b"chosen\0\0");
        push(&mut st, 2);
        push(&mut st, 2);
        push(&mut st, 9);
        let off_rsv = 40;
        let off_struct = off_rsv + 16;
        let off_strings = off_struct + st.len();
        let total = off_strings + strings.len();
        let mut b = Vec::new();
        for w in [
            FDT_MAGIC,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            0,
            strings.len() as u32,
            st.len() as u32,
        ] {
            push(&mut b, w);
        }
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&st);
        b.extend_from_slice(&strings);
        b
    }

    /// A fake arm64 Image of `len` bytes with a valid header.
    pub fn fake_image(len: usize) -> Vec<u8> {
        let mut b = vec![0x5au8; len];
        b[0..8].fill(0);
        b[0x08..0x10].copy_from_slice(&0u64.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&((len as u64 + 0xffff) & !0xfff).to_le_bytes());
        b[0x18..0x20].copy_from_slice(&0xau64.to_le_bytes());
        b[0x20..0x38].fill(0);
        b[0x38..0x3c].copy_from_slice(b"ARM\x64");
        b[0x3c..0x40].fill(0);
        b
    }

    #[test]
    fn script_image_round_trips_and_matches_the_header_layout() {
        let s = b"echo hi\nbooti ${kernel_addr_r} - ${fdt_addr_r}\n";
        let img = uboot_script(s, "iommu-bringup pine-h64");
        assert_eq!(img.len(), 64 + 8 + s.len());
        assert_eq!(&img[0..4], &[0x27, 0x05, 0x19, 0x56]);
        assert_eq!((img[28], img[29], img[30], img[31]), (5, 22, 6, 0));
        let p = parse_uboot_script(&img).unwrap();
        assert_eq!(p.script, s);
        assert_eq!(p.name, "iommu-bringup pine-h64");
    }

    #[test]
    fn script_image_corruption_names_the_field() {
        let img = uboot_script(b"booti\n", "x");
        let field = |b: &[u8]| parse_uboot_script(b).unwrap_err().field;
        let mut b = img.clone();
        b[40] ^= 1; // name byte: header CRC
        assert_eq!(field(&b), "ih_hcrc");
        let mut b = img.clone();
        *b.last_mut().unwrap() ^= 1;
        assert_eq!(field(&b), "ih_dcrc");
        let mut b = img.clone();
        b.push(0);
        assert_eq!(field(&b), "ih_size");
        assert_eq!(field(&img[..10]), "header");
        let mut b = img.clone();
        b[0] = 0;
        assert_eq!(field(&b), "ih_magic");
    }

    #[test]
    fn boot_image_v2_layout() {
        let kernel = fake_image(5000);
        let ramdisk = empty_cpio();
        let dtb = tiny_fdt(&["thundercomm,db845c", "qcom,sdm845"]);
        let img = android_boot_v2(&BootImgInput {
            base: 0x8000_0000,
            page_size: 2048,
            name: "db845c",
            cmdline: "iommu_bringup.exit=psci",
            kernel: &kernel,
            ramdisk: &ramdisk,
            dtb: &dtb,
        })
        .unwrap();
        let p = parse_android_boot_v2(&img).unwrap();
        assert_eq!(p.kernel, &kernel[..]);
        assert_eq!(p.ramdisk, &ramdisk[..]);
        assert_eq!(p.dtb, &dtb[..]);
        assert_eq!(p.offsets, [2048, 2048 + 6144, 2048 + 6144 + 2048]);
        assert_eq!(p.kernel_addr, 0x8000_8000);
        assert_eq!(p.ramdisk_addr, 0x8100_0000);
        assert_eq!(p.tags_addr, 0x8000_0100);
        assert_eq!(
            &img[28..32],
            &[0; 4],
            "second_addr is 0 without a second stage"
        );
        assert_eq!(p.dtb_addr, 0x81f0_0000);
        assert_eq!(p.name, "db845c");
        assert_eq!(p.cmdline, "iommu_bringup.exit=psci");
        assert_eq!(img.len() % 2048, 0);
        // Corruptions are caught by field.
        let mut b = img.clone();
        b[p.offsets[2] + 8] ^= 1;
        assert_eq!(parse_android_boot_v2(&b).unwrap_err().field, "id");
        let mut b = img.clone();
        b[1648..1652].copy_from_slice(&0x10_0000u32.to_le_bytes());
        assert_eq!(parse_android_boot_v2(&b).unwrap_err().field, "dtb_size");
        let mut b = img.clone();
        b[40] = 1;
        assert_eq!(
            parse_android_boot_v2(&b).unwrap_err().field,
            "header_version"
        );
    }

    #[test]
    fn boot_image_rejects_bad_inputs() {
        let k = fake_image(100);
        let mut i = BootImgInput {
            base: 0x8000_0000,
            page_size: 3000,
            name: "rb5",
            cmdline: "",
            kernel: &k,
            ramdisk: b"x",
            dtb: b"y",
        };
        assert_eq!(android_boot_v2(&i).unwrap_err().field, "page_size");
        i.page_size = 4096;
        i.dtb = b"";
        assert_eq!(android_boot_v2(&i).unwrap_err().field, "dtb_size");
    }

    #[test]
    fn cpio_trailer_is_well_formed() {
        let c = empty_cpio();
        assert_eq!(c.len(), 124);
        assert!(c.starts_with(b"070701"));
        assert_eq!(&c[110..120], b"TRAILER!!!");
        assert_eq!(&c[94..102], b"0000000b");
    }

    #[test]
    fn fdt_root_compatible_reads_the_list() {
        let d = tiny_fdt(&["apple,j274", "apple,t8103", "apple,arm-platform"]);
        assert_eq!(
            fdt_root(&d).unwrap().compatible,
            ["apple,j274", "apple,t8103", "apple,arm-platform"]
        );
        assert_eq!(fdt_root(&d).unwrap().props, ["model", "compatible"]);
        let mut longer = d.clone();
        longer.push(0);
        assert_eq!(fdt_root(&longer).unwrap_err().field, "fdt totalsize");
        assert_eq!(fdt_root(b"not a dtb").unwrap_err().field, "fdt magic");
        assert_eq!(fdt_root(&d[..3]).unwrap_err().field, "fdt magic");
    }

    #[test]
    fn m1n1_payload_is_dtbs_then_kernel_last() {
        let a = tiny_fdt(&["apple,j274"]);
        let b = tiny_fdt(&["apple,j293"]);
        let k = fake_image(4096);
        let p = m1n1_payload(&[&a, &b], &k);
        assert_eq!(
            parse_m1n1_payload(&p).unwrap(),
            [
                M1n1Blob::Fdt {
                    offset: 0,
                    size: a.len()
                },
                M1n1Blob::Fdt {
                    offset: a.len(),
                    size: b.len()
                },
                M1n1Blob::Kernel {
                    offset: a.len() + b.len()
                },
            ]
        );
        // A kernel first would hide the DTB from m1n1.
        let wrong = [k.clone(), a.clone()].concat();
        assert!(parse_m1n1_payload(&wrong).is_err());
        // Garbage between blobs stops m1n1's scan.
        let gap = [a.clone(), vec![1, 2, 3, 4], k.clone()].concat();
        assert_eq!(parse_m1n1_payload(&gap).unwrap_err().offset, a.len());
    }
}
