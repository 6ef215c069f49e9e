//! `cargo xtask build`: build the bare-metal ELF, turn it into a flat arm64
//! Linux `Image` with the toolchain's `llvm-objcopy`, and check the 64-byte
//! Image header so a broken link map is caught on the host, not on a board.
//! The target and `llvm-tools` come from [`crate::toolchain::ensure`].

use crate::error::{io, Error, Result};
use crate::process;
use crate::toolchain;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bare-metal target triple.
pub const TARGET: &str = "aarch64-unknown-none";
/// The image package and binary name.
pub const BIN: &str = "iommu-bringup";

/// Offset of the `ARM\x64` magic.
const MAGIC_OFFSET: usize = 0x38;
/// `ARM\x64` as a little-endian u32.
const MAGIC: u32 = 0x644d_5241;
/// Header length.
const HEADER_LEN: usize = 64;

/// The decoded arm64 Image header fields we check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Load offset from a 2 MiB-aligned base.
    pub text_offset: u64,
    /// Memory footprint including BSS, stack and alignment slack.
    pub image_size: u64,
    /// Endianness, page size and placement flags.
    pub flags: u64,
}

/// Paths of the build products.
#[derive(Clone, Debug)]
pub struct Artifacts {
    /// The linked ELF (with symbols; for debuggers).
    pub elf: PathBuf,
    /// The flat `Image` QEMU and bootloaders load.
    pub image: PathBuf,
}

/// Builds the release ELF and the flat `Image`, validates it and returns the paths.
pub fn build() -> Result<Artifacts> {
    toolchain::ensure()?;
    let (r, log) = build_with(process::run);
    eprint!("{log}");
    r
}

/// [`build`] with the commands' output captured and returned with the
/// runner's own lines instead of printed (`cargo xtask test` builds the
/// image while lint and host tests print).  The toolchain must be ensured
/// already.
pub fn build_quiet() -> (Result<Artifacts>, String) {
    build_with(process::run_quiet)
}

fn build_with(run: fn(&mut Command) -> Result<()>) -> (Result<Artifacts>, String) {
    let mut log = String::new();
    let r = build_logged(run, &mut log);
    (r, log)
}

fn build_logged(run: fn(&mut Command) -> Result<()>, log: &mut String) -> Result<Artifacts> {
    log.push_str(&format!("xtask: building {BIN} for {TARGET} (release)\n"));
    run(process::cargo().args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--package",
        BIN,
        "--bin",
        BIN,
    ]))?;
    let dir = process::cargo_target_dir().join(TARGET).join("release");
    let elf = dir.join(BIN);
    let image = dir.join("Image");
    let objcopy = llvm_tool("llvm-objcopy")?;
    run(Command::new(&objcopy)
        .arg("-O")
        .arg("binary")
        .arg(&elf)
        .arg(&image))?;
    let bytes = std::fs::read(&image).map_err(io(format!("reading {}", image.display())))?;
    let h = validate(&image, &bytes)?;
    log.push_str(&format!(
        "xtask: {} -> {}: {} bytes, image_size {:#x}, text_offset {:#x}, flags {:#x}\n",
        elf.display(),
        image.display(),
        bytes.len(),
        h.image_size,
        h.text_offset,
        h.flags
    ));
    Ok(Artifacts { elf, image })
}

/// Locates `name` (`llvm-objcopy`, `llvm-nm`) among the toolchain's
/// `llvm-tools` (which [`toolchain::ensure`] has installed when
/// `rust-toolchain.toml` lists it).
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let root = process::workspace_root();
    let sysroot = process::output(
        Command::new(rustc())
            .current_dir(&root)
            .args(["--print", "sysroot"]),
    )?;
    let vv = process::output(Command::new(rustc()).current_dir(&root).arg("-vV"))?;
    let host = vv
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or_else(|| Error::Tool("`rustc -vV` printed no `host:` line".into()))?;
    let path = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin")
        .join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Tool(format!(
            "{} is missing: the `llvm-tools` component of this toolchain is not installed \
             (is `llvm-tools` still in {} and is this the toolchain it pins?)",
            path.display(),
            toolchain::FILE
        )))
    }
}

/// The footprint report of a built image (sections, families, modules;
/// [`crate::size`]).
pub fn footprint(art: &Artifacts) -> Result<crate::size::Footprint> {
    crate::size::measure(&art.elf, &llvm_tool("llvm-nm")?)
}

fn rustc() -> std::ffi::OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Checks the arm64 Image header of `bytes` (read from `path`, named in errors).
pub fn validate(path: &Path, bytes: &[u8]) -> Result<Header> {
    let bad = |field: &'static str, detail: String| Error::ImageHeader {
        path: path.to_path_buf(),
        field,
        detail,
    };
    if bytes.len() < HEADER_LEN {
        return Err(bad(
            "header",
            format!(
                "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ),
        ));
    }
    let mut m = [0u8; 4];
    m.copy_from_slice(&bytes[MAGIC_OFFSET..MAGIC_OFFSET + 4]);
    let magic = u32::from_le_bytes(m);
    if magic != MAGIC {
        return Err(bad(
            "magic",
            format!("{magic:#010x} at {MAGIC_OFFSET:#x}, want {MAGIC:#010x} (\"ARM\\x64\")"),
        ));
    }
    let h = Header {
        text_offset: le64(bytes, 0x08),
        image_size: le64(bytes, 0x10),
        flags: le64(bytes, 0x18),
    };
    if !h.text_offset.is_multiple_of(4096) || h.text_offset >= 2 << 20 {
        return Err(bad(
            "text_offset",
            format!(
                "{:#x} at 0x08 must be 4 KiB-aligned and below 2 MiB",
                h.text_offset
            ),
        ));
    }
    if h.image_size == 0 {
        return Err(bad(
            "image_size",
            "0 at 0x10: loaders would not reserve BSS/stack (QEMU would load at 0x40080000)".into(),
        ));
    }
    if h.image_size < bytes.len() as u64 {
        return Err(bad(
            "image_size",
            format!(
                "{:#x} at 0x10 is smaller than the file ({:#x} bytes)",
                h.image_size,
                bytes.len()
            ),
        ));
    }
    if h.flags & 1 != 0 {
        return Err(bad(
            "flags",
            format!("{:#x} at 0x18 says big-endian (bit 0)", h.flags),
        ));
    }
    if h.flags >> 4 != 0 {
        return Err(bad(
            "flags",
            format!("{:#x} at 0x18 sets reserved bits 4..63", h.flags),
        ));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: u64, size: u64, flags: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0x08..0x10].copy_from_slice(&text.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&size.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&flags.to_le_bytes());
        b[0x38..0x3c].copy_from_slice(b"ARM\x64");
        b
    }

    fn field(r: Result<Header>) -> &'static str {
        match r {
            Err(Error::ImageHeader { field, .. }) => field,
            other => panic!("expected a header error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_good_header() {
        let b = header(0, 0x67000, 0xa, 0x1000);
        let h = validate(Path::new("Image"), &b).expect("valid");
        assert_eq!(h.image_size, 0x67000);
        assert_eq!(h.flags, 0xa);
    }

    #[test]
    fn names_the_bad_field() {
        let p = Path::new("Image");
        assert_eq!(field(validate(p, &[0; 10])), "header");
        let mut b = header(0, 0x67000, 0xa, 0x1000);
        b[0x38] = b'X';
        assert_eq!(field(validate(p, &b)), "magic");
        assert_eq!(field(validate(p, &header(0, 0, 0xa, 0x1000))), "image_size");
        assert_eq!(
            field(validate(p, &header(0, 0x800, 0xa, 0x1000))),
            "image_size"
        );
        assert_eq!(
            field(validate(p, &header(0x123, 0x67000, 0xa, 0x1000))),
            "text_offset"
        );
        assert_eq!(
            field(validate(p, &header(0, 0x67000, 0x1, 0x1000))),
            "flags"
        );
        assert_eq!(
            field(validate(p, &header(0, 0x67000, 0x10, 0x1000))),
            "flags"
        );
        let msg = validate(p, &header(0, 0, 0xa, 0x1000))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(matches!(msg, Err(m) if m.contains("Image") && m.contains("image_size")));
    }
}
