//! `cargo xtask image --board NAME [--dtb FILE]`: package the one `Image`
//! the way each board's loader takes it, into `target/boards/NAME/`.
//!
//! The boards are data ([`BOARDS`]); the three loaders are the only code
//! paths (formats and their facts in [`crate::bootfmt`]):
//!
//! | loader | output | facts |
//! |---|---|---|
//! | U-Boot `booti` (Allwinner, ZynqMP) | `Image`, `boot.cmd`, `boot.scr`, the DTB if given (with the board's `fdt` fixups); `Image.gz` and `serial.cmd` to load over the console | `boards/pine-h64/README.md`, `boards/zcu102/README.md` |
//! | Qualcomm ABL | `boot.img` (Android boot image v2, DTB section) | `boards/db845c/README.md` |
//! | m1n1 (Apple) | `m1n1-payload.bin` = DTB then `Image` | `boards/j274/README.md` |
//!
//! The DTB comes from `--dtb FILE`, else from the DTB cache of
//! [`crate::dtbs`] (`target/dtbs/<dtb path>`, the board's path inside
//! Debian's `linux-image-*-arm64`, e.g. `target/dtbs/qcom/sdm845-db845c.dtb`),
//! which is fetched first when the board's DTB is one of its fixtures.  ABL
//! and m1n1 need one; U-Boot can do without (the script then boots with
//! U-Boot's own control DTB, `${fdtcontroladdr}`), so a failed fetch is only
//! a warning there.  Debian ships no Apple DTBs: for j274 the error says
//! where to get one ([`dtb_origin`]).
//!
//! Every output is parsed back and checked before the command succeeds.

use crate::bootfmt::{self, BootImgInput};
use crate::dtbs;
use crate::error::{io, Error, Result};
use crate::image;
use crate::process;
use std::path::{Path, PathBuf};

/// Which loader a board boots through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    /// U-Boot `booti` from a `boot.scr` (Allwinner).
    UBoot,
    /// Qualcomm ABL, fastboot boot image with this page size.
    Abl {
        /// `--pagesize` (2048 or 4096).
        page_size: u32,
    },
    /// m1n1 stage 2 payload (Apple).
    M1n1,
}

/// One board.
#[derive(Clone, Copy, Debug)]
pub struct Board {
    /// `--board` name and `boards/<name>/` directory.
    pub name: &'static str,
    /// SoC, for messages.
    pub soc: &'static str,
    /// The loader.
    pub loader: Loader,
    /// DTB path relative to the kernel's `dtbs/` (Debian:
    /// `/usr/lib/linux-image-<abi>/`).
    pub dtb: &'static str,
    /// A root `compatible` the board's DTB must carry (m1n1 picks the DTB
    /// by it; ABL by `qcom,msm-id`/`qcom,board-id`).
    pub compatible: &'static str,
    /// U-Boot `fdt` commands `boot.cmd` runs on the loaded DTB before
    /// `booti` (one per line; empty for most boards).  ZCU102: enable the
    /// MMU-500 and give two GDMA channels their `iommus`, which mainline
    /// leaves commented out (`boards/zcu102/fdt-fixups.cmd`,
    /// docs/hw/zynqmp.md §1).
    pub dt_fixups: &'static str,
}

/// Physical base for ABL boot images (`mkbootimg --base 0x80000000`).
pub const ABL_BASE: u32 = 0x8000_0000;

/// Every board `image --board` knows.  Page sizes: db845c 2048 (Linaro's
/// RB3 instructions), RB5 / RB1 / RB2 4096 (Linaro's); ABL accepts either
/// — it reads `page_size` from the header.
pub const BOARDS: &[Board] = &[
    Board {
        name: "pine-h64",
        soc: "Allwinner H6",
        loader: Loader::UBoot,
        dtb: "allwinner/sun50i-h6-pine-h64.dtb",
        compatible: "pine64,pine-h64",
        dt_fixups: "",
    },
    Board {
        name: "orangepi-3",
        soc: "Allwinner H6",
        loader: Loader::UBoot,
        dtb: "allwinner/sun50i-h6-orangepi-3.dtb",
        compatible: "xunlong,orangepi-3",
        dt_fixups: "",
    },
    Board {
        name: "orangepi-zero2",
        soc: "Allwinner H616",
        loader: Loader::UBoot,
        dtb: "allwinner/sun50i-h616-orangepi-zero2.dtb",
        compatible: "xunlong,orangepi-zero2",
        dt_fixups: "",
    },
    Board {
        name: "orangepi-zero3",
        soc: "Allwinner H618",
        loader: Loader::UBoot,
        dtb: "allwinner/sun50i-h618-orangepi-zero3.dtb",
        compatible: "xunlong,orangepi-zero3",
        dt_fixups: "",
    },
    Board {
        name: "db845c",
        soc: "Qualcomm SDM845",
        loader: Loader::Abl { page_size: 2048 },
        dtb: "qcom/sdm845-db845c.dtb",
        compatible: "thundercomm,db845c",
        dt_fixups: "",
    },
    Board {
        name: "rb5",
        soc: "Qualcomm QRB5165 (SM8250)",
        loader: Loader::Abl { page_size: 4096 },
        dtb: "qcom/qrb5165-rb5.dtb",
        compatible: "qcom,qrb5165-rb5",
        dt_fixups: "",
    },
    Board {
        name: "rb1",
        soc: "Qualcomm QRB2210 (QCM2290)",
        loader: Loader::Abl { page_size: 4096 },
        dtb: "qcom/qrb2210-rb1.dtb",
        compatible: "qcom,qrb2210-rb1",
        dt_fixups: "",
    },
    Board {
        name: "rb2",
        soc: "Qualcomm QRB4210 (SM6115)",
        loader: Loader::Abl { page_size: 4096 },
        dtb: "qcom/qrb4210-rb2.dtb",
        compatible: "qcom,qrb4210-rb2",
        dt_fixups: "",
    },
    Board {
        name: "j274",
        soc: "Apple M1 (t8103), Mac mini",
        loader: Loader::M1n1,
        dtb: "apple/t8103-j274.dtb",
        compatible: "apple,j274",
        dt_fixups: "",
    },
    Board {
        name: "zcu102",
        soc: "AMD/Xilinx ZynqMP ZU9EG",
        loader: Loader::UBoot,
        dtb: "xilinx/zynqmp-zcu102-rev1.0.dtb",
        compatible: "xlnx,zynqmp-zcu102-rev1.0",
        dt_fixups: include_str!("../../../boards/zcu102/fdt-fixups.cmd"),
    },
];

/// Looks a board up by name.
pub fn find(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// `image` options.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `--board`.
    pub board: String,
    /// `--dtb`.
    pub dtb: Option<PathBuf>,
    /// `--list`.
    pub list: bool,
}

/// Parses `image` options.
pub fn parse(args: &mut std::slice::Iter<'_, String>) -> Result<Options> {
    let mut o = Options::default();
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--board" => o.board = val()?,
            "--dtb" => o.dtb = Some(PathBuf::from(val()?)),
            "--list" => o.list = true,
            _ => return Err(Error::Usage(format!("image: unknown option `{a}`"))),
        }
    }
    if !o.list && o.board.is_empty() {
        return Err(Error::Usage(format!(
            "image needs --board NAME (one of: {})",
            names()
        )));
    }
    Ok(o)
}

fn names() -> String {
    BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// Runs `cargo xtask image`.
pub fn run(o: &Options) -> Result<()> {
    if o.list {
        for b in BOARDS {
            println!("{:16} {:28} {:?}  {}", b.name, b.soc, b.loader, b.dtb);
        }
        return Ok(());
    }
    let board = find(&o.board)
        .ok_or_else(|| Error::Usage(format!("--board `{}` is not one of: {}", o.board, names())))?;
    let root = process::workspace_root();
    let (dtb_path, dtb) = match &o.dtb {
        Some(p) if p.is_file() => (p.clone(), Some(read(p)?)),
        Some(p) => {
            return Err(Error::Usage(format!("--dtb {}: no such file", p.display())));
        }
        None => default_dtb(board)?,
    };
    // Check the inputs before spending a build on them.
    match &dtb {
        Some(d) => check_dtb(board, d, &dtb_path, true)?,
        None if board.loader != Loader::UBoot => {
            return Err(missing_dtb(board, &dtb_path));
        }
        None => {}
    }
    let art = image::build()?;
    let kernel = read(&art.image)?;
    let out = root.join("target").join("boards").join(board.name);
    let files = package(board, &kernel, dtb.as_deref(), &dtb_path, &out)?;
    for f in &files {
        let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        eprintln!("xtask: wrote {} ({len} bytes)", f.display());
    }
    println!("{}", out.display());
    Ok(())
}

/// The board's DTB without `--dtb`: from the [`dtbs`] cache, fetched first
/// when the board's DTB is one of the fixtures; else whatever the user put at
/// the cache path.  `None` only for U-Boot boards, which can do without.
fn default_dtb(board: &Board) -> Result<(PathBuf, Option<Vec<u8>>)> {
    let cached = dtbs::cache_dir().join(board.dtb);
    let fetchable = dtbs::manifest()?.files.iter().any(|(_, p)| p == board.dtb);
    if !fetchable {
        return if cached.is_file() {
            eprintln!("xtask: using {} (no --dtb given)", cached.display());
            Ok((cached.clone(), Some(read(&cached)?)))
        } else if board.loader == Loader::UBoot {
            Ok((cached, None))
        } else {
            Err(missing_dtb(board, &cached))
        };
    }
    eprintln!(
        "xtask: board {} needs {} from Debian's arm64 kernel package (no --dtb given); \
         making sure the DTB cache has it, as `cargo xtask fetch-dtbs` does",
        board.name, board.dtb
    );
    match dtbs::fetch() {
        Ok(dir) => {
            let p = dir.join(board.dtb);
            let d = read(&p)?;
            Ok((p, Some(d)))
        }
        Err(e) if board.loader == Loader::UBoot => {
            eprintln!(
                "xtask: warning: could not fetch {} ({e}); packaging without a DTB, so \
                 boot.scr boots with U-Boot's own control DTB (pass --dtb FILE to ship one)",
                board.dtb
            );
            Ok((cached, None))
        }
        Err(e) => Err(Error::Package {
            board: board.name.to_string(),
            what: board.dtb.to_string(),
            detail: format!(
                "no --dtb given and fetching it failed: {e}\n{}",
                dtb_origin(board)
            ),
        }),
    }
}

/// Where `board`'s DTB comes from and how to hand it to `image`.
pub fn dtb_origin(board: &Board) -> String {
    let pass = format!(
        "then run `cargo xtask image --board {} --dtb PATH` (or copy it to {})",
        board.name,
        dtbs::cache_dir().join(board.dtb).display()
    );
    match board.loader {
        Loader::M1n1 => format!(
            "Debian ships no Apple DTBs, so xtask cannot fetch {dtb}.  Get it either\n  \
             - from a kernel tree with Apple support (Asahi Linux, \
             https://github.com/AsahiLinux/linux, or mainline): \
             `make ARCH=arm64 defconfig && make ARCH=arm64 {dtb}` (add \
             CROSS_COMPILE=aarch64-linux-gnu- on a non-arm64 host) writes \
             arch/arm64/boot/dts/{dtb}; or\n  \
             - from the machine itself: on its running Linux system (e.g. Asahi Linux \
             booted by m1n1) the DTB m1n1 handed over at boot is /sys/firmware/fdt \
             (`sudo cat /sys/firmware/fdt > {file}`);\n\
             {pass}",
            dtb = board.dtb,
            file = board.dtb.rsplit('/').next().unwrap_or(board.dtb),
        ),
        _ => format!(
            "it is {dtb} in Debian's arm64 kernel package (/usr/lib/linux-image-<abi>/{dtb}), \
             which `cargo xtask fetch-dtbs` fetches into {cache}; or use the board's own \
             DTB from your kernel build;\n{pass}",
            dtb = board.dtb,
            cache = dtbs::cache_dir().display(),
        ),
    }
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(io(format!("reading {}", p.display())))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(io(format!("writing {}", p.display())))?;
    Ok(p)
}

/// Bytes a console at 115200 baud, 8N1, moves per second (10 bits a
/// byte), before the file-transfer protocol's own overhead.
const BAUD_115200_BYTES_PER_S: usize = 11_520;

/// `kernel` compressed with the system's `gzip -9 -n` (Debian's gzip is an
/// essential package), checked by decompressing it again: U-Boot's `booti`
/// takes a gzip-compressed `Image` (doc/usage/cmd/booti.rst, cmd/booti.c:
/// `kernel_comp_addr_r` and `kernel_comp_size` must be set), which at bring-
/// up is what crosses the console.
pub(crate) fn gzip(board: &Board, dir: &Path, kernel: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let run = |args: &[&str], input: &[u8]| -> Result<Vec<u8>> {
        let mut child = Command::new("gzip")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io(format!("running gzip {}", args.join(" "))))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        let out = child
            .wait_with_output()
            .map_err(io(format!("waiting for gzip {}", args.join(" "))))?;
        let fed = feeder.join().map_err(|_| Error::Package {
            board: board.name.into(),
            what: "Image.gz".into(),
            detail: "the thread feeding gzip panicked".into(),
        })?;
        fed.map_err(io(format!("feeding gzip {}", args.join(" "))))?;
        if !out.status.success() {
            return Err(Error::Package {
                board: board.name.into(),
                what: "Image.gz".into(),
                detail: format!("gzip {} exited with {}", args.join(" "), out.status),
            });
        }
        Ok(out.stdout)
    };
    let gz = run(&["-9", "-n", "-c"], kernel)?;
    if run(&["-d", "-c"], &gz)? != kernel {
        return Err(Error::Package {
            board: board.name.into(),
            what: "Image.gz".into(),
            detail: "does not decompress to the Image".into(),
        });
    }
    Ok(gz)
}

/// The U-Boot commands an operator types to load the image over the
/// console (YMODEM `loady`) and boot it: the compressed `Image.gz` goes to
/// `${kernel_addr_r}`, `booti` decompresses it through
/// `${kernel_comp_addr_r}` and moves it back (cmd/booti.c).
pub fn serial_cmd(board: &Board, dtb_file: Option<&str>, image: usize, gz: usize) -> String {
    let secs = |n: usize| n.div_ceil(BAUD_115200_BYTES_PER_S);
    let mut s = format!(
        "# iommu-bringup for {name} ({soc}): load over the console instead of storage.\n\
         # Generated by `cargo xtask image --board {name}` (see boards/README.md,\n\
         # \"Loading over the console\").  Image.gz is {gz} bytes (about {gs} s at\n\
         # 115200 baud before YMODEM's overhead; the flat Image, {image} bytes, about {is} s).\n\
         # Type these at the U-Boot prompt; `loady` waits for a YMODEM send of the\n\
         # file named after it (e.g. `sb` from lrzsz, or minicom/picocom's send).\n\
         setenv bootargs\n\
         loady ${{kernel_addr_r}}\n\
         # ...send Image.gz.  booti decompresses it into kernel_comp_addr_r, then\n\
         # moves it back to kernel_addr_r: that area must be free DRAM clear of\n\
         # the DTB (fdt_addr_r); 32 MiB above kernel_addr_r is, on this board's\n\
         # U-Boot defaults (check with printenv fdt_addr_r).\n\
         setenv kernel_comp_size ${{filesize}}\n\
         setexpr kernel_comp_addr_r ${{kernel_addr_r}} + 0x2000000\n",
        name = board.name,
        soc = board.soc,
        gs = secs(gz),
        is = secs(image),
    );
    let load = dtb_file.map(|f| format!("loady ${{fdt_addr_r}}\n# ...send {f}.\n"));
    dtb_and_booti(&mut s, board, load);
    s
}

/// The end every U-Boot script of a board shares: `dtb_load` (the lines
/// that put the DTB at `${fdt_addr_r}`, `None` when no DTB was packaged),
/// the board's device-tree fixups, then `booti`.
fn dtb_and_booti(s: &mut String, board: &Board, dtb_load: Option<String>) {
    match dtb_load {
        Some(load) => {
            s.push_str(&load);
            if !board.dt_fixups.is_empty() {
                s.push_str(&format!(
                    "# Device-tree fixups (boards/{}/README.md):\n",
                    board.name
                ));
                for line in board.dt_fixups.lines().filter(|l| !l.trim().is_empty()) {
                    s.push_str(line.trim());
                    s.push('\n');
                }
            }
            s.push_str("booti ${kernel_addr_r} - ${fdt_addr_r}\n");
        }
        None => {
            if !board.dt_fixups.is_empty() {
                s.push_str(&format!(
                    "# The device-tree fixups of boards/{}/README.md need a packaged DTB: not applied.\n",
                    board.name
                ));
            }
            s.push_str(
                "# No DTB was packaged: boot with U-Boot's own control DTB.\n\
                 booti ${kernel_addr_r} - ${fdtcontroladdr}\n",
            );
        }
    }
}

fn bad(board: &Board, what: &str, e: bootfmt::FormatError) -> Error {
    Error::Package {
        board: board.name.to_string(),
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn missing_dtb(board: &Board, dtb_path: &Path) -> Error {
    Error::Package {
        board: board.name.to_string(),
        what: dtb_path.display().to_string(),
        detail: format!("no DTB.  {}", dtb_origin(board)),
    }
}

/// Checks a DTB for `board`: one FDT, the right root compatible.
fn check_dtb(board: &Board, dtb: &[u8], path: &Path, warn: bool) -> Result<()> {
    let what = path.display().to_string();
    let root = bootfmt::fdt_root(dtb).map_err(|e| bad(board, &what, e))?;
    let compat = root.compatible;
    if let (Loader::Abl { .. }, true) = (board.loader, warn) {
        for p in ["qcom,msm-id", "qcom,board-id"] {
            if !root.props.iter().any(|x| x == p) {
                eprintln!(
                    "xtask: warning: {what} has no root `{p}`: ABL selects the DTB by it \
                     and may refuse this one; see boards/{}/README.md",
                    board.name
                );
            }
        }
    }
    if !compat.iter().any(|c| c == board.compatible) {
        return Err(Error::Package {
            board: board.name.to_string(),
            what,
            detail: format!(
                "root compatible {compat:?} lacks `{}`: wrong board's DTB?",
                board.compatible
            ),
        });
    }
    Ok(())
}

/// The U-Boot script: load the Image (and the DTB when we ship one) from
/// the partition distro boot found `boot.scr` on, then `booti`
/// (`kernel_addr_r` 0x40080000, `fdt_addr_r` 0x4FA00000 on these boards; see
/// `boards/<name>/README.md`).
pub fn boot_cmd(board: &Board, dtb_file: Option<&str>) -> String {
    let mut s = format!(
        "# iommu-bringup for {} ({}), U-Boot booti (see boards/{}/README.md).\n\
         # Generated by `cargo xtask image --board {}`; boot.scr is this file\n\
         # wrapped as a legacy IH_TYPE_SCRIPT image.  devtype/devnum/distro_bootpart\n\
         # are set by U-Boot distro boot when it runs boot.scr.\n\
         setenv bootargs\n\
         load ${{devtype}} ${{devnum}}:${{distro_bootpart}} ${{kernel_addr_r}} Image\n",
        board.name, board.soc, board.name, board.name
    );
    let load = dtb_file.map(|f| {
        format!("load ${{devtype}} ${{devnum}}:${{distro_bootpart}} ${{fdt_addr_r}} {f}\n")
    });
    dtb_and_booti(&mut s, board, load);
    s
}

/// Writes the board's files into `out` (created, stale files replaced) and
/// checks each by parsing it back.  Returns the paths written.
pub fn package(
    board: &Board,
    kernel: &[u8],
    dtb: Option<&[u8]>,
    dtb_path: &Path,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    image::validate(Path::new("Image"), kernel)?;
    if let Some(d) = dtb {
        check_dtb(board, d, dtb_path, false)?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io(format!("clearing {}", out.display())))?;
    }
    std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))?;
    let mut files = Vec::new();
    let need_dtb = || missing_dtb(board, dtb_path);
    match board.loader {
        Loader::UBoot => {
            files.push(write(out, "Image", kernel)?);
            let dtb_name = board.dtb.rsplit('/').next().unwrap_or(board.dtb);
            if let Some(d) = dtb {
                files.push(write(out, dtb_name, d)?);
            }
            let cmd = boot_cmd(board, dtb.map(|_| dtb_name));
            files.push(write(out, "boot.cmd", cmd.as_bytes())?);
            let scr_name = format!("iommu-bringup {}", board.name);
            let scr = bootfmt::uboot_script(cmd.as_bytes(), &scr_name);
            let parsed =
                bootfmt::parse_uboot_script(&scr).map_err(|e| bad(board, "boot.scr", e))?;
            if parsed.script != cmd.as_bytes() || parsed.name != scr_name {
                return Err(Error::Package {
                    board: board.name.into(),
                    what: "boot.scr".into(),
                    detail: "script does not round-trip".into(),
                });
            }
            files.push(write(out, "boot.scr", &scr)?);
            let gz = gzip(board, out, kernel)?;
            let serial = serial_cmd(board, dtb.map(|_| dtb_name), kernel.len(), gz.len());
            files.push(write(out, "Image.gz", &gz)?);
            files.push(write(out, "serial.cmd", serial.as_bytes())?);
        }
        Loader::Abl { page_size } => {
            let dtb = dtb.ok_or_else(need_dtb)?;
            let ramdisk = bootfmt::empty_cpio();
            let img = bootfmt::android_boot_v2(&BootImgInput {
                base: ABL_BASE,
                page_size,
                name: board.name,
                cmdline: "",
                kernel,
                ramdisk: &ramdisk,
                dtb,
            })
            .map_err(|e| bad(board, "boot.img", e))?;
            let p = bootfmt::parse_android_boot_v2(&img).map_err(|e| bad(board, "boot.img", e))?;
            if p.kernel != kernel || p.dtb != dtb {
                return Err(Error::Package {
                    board: board.name.into(),
                    what: "boot.img".into(),
                    detail: "sections do not round-trip".into(),
                });
            }
            eprintln!(
                "xtask: boot.img v2 `{}`: page {}, kernel {:#x} bytes at file {:#x} -> {:#x}, \
                 ramdisk {:#x} bytes -> {:#x}, tags {:#x}, DTB {:#x} bytes at file {:#x} -> {:#x}, \
                 cmdline \"{}\"",
                p.name,
                p.page_size,
                p.kernel.len(),
                p.offsets[0],
                p.kernel_addr,
                p.ramdisk.len(),
                p.ramdisk_addr,
                p.tags_addr,
                p.dtb.len(),
                p.offsets[2],
                p.dtb_addr,
                p.cmdline
            );
            files.push(write(out, "boot.img", &img)?);
        }
        Loader::M1n1 => {
            let dtb = dtb.ok_or_else(need_dtb)?;
            let payload = bootfmt::m1n1_payload(&[dtb], kernel);
            bootfmt::parse_m1n1_payload(&payload).map_err(|e| bad(board, "m1n1-payload.bin", e))?;
            files.push(write(out, "m1n1-payload.bin", &payload)?);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootfmt::tests::{fake_image, tiny_fdt};
    use crate::bootfmt::M1n1Blob;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-boards-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn board(name: &str) -> &'static Board {
        find(name).expect("board in table")
    }

    #[test]
    fn table_is_consistent_and_every_board_is_documented() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (i, b) in BOARDS.iter().enumerate() {
            assert!(
                BOARDS[..i].iter().all(|o| o.name != b.name),
                "duplicate {}",
                b.name
            );
            assert!(b.dtb.ends_with(".dtb"), "{}", b.name);
            for f in ["README.md", "lava.yaml"] {
                let p = root.join("boards").join(b.name).join(f);
                assert!(p.is_file(), "missing {}", p.display());
            }
            let lava = std::fs::read_to_string(root.join("boards").join(b.name).join("lava.yaml"))
                .unwrap_or_default();
            assert!(
                lava.contains(&format!("target/boards/{}/", b.name)),
                "{}",
                b.name
            );
            assert!(lava.contains("'not ok': fail") && lava.contains("'ok': pass"));
            let readme =
                std::fs::read_to_string(root.join("boards").join(b.name).join("README.md"))
                    .unwrap_or_default();
            assert!(
                readme.contains("Nothing in this directory has been run"),
                "{}",
                b.name
            );
            assert!(
                readme.contains(&format!("--board {}", b.name)),
                "{}",
                b.name
            );
        }
        for fam in [Loader::UBoot, Loader::Abl { page_size: 2048 }, Loader::M1n1] {
            assert!(
                BOARDS
                    .iter()
                    .any(|b| std::mem::discriminant(&b.loader) == std::mem::discriminant(&fam)),
                "{fam:?}"
            );
        }
    }

    #[test]
    fn allwinner_with_dtb_writes_image_dtb_and_a_valid_boot_scr() {
        let b = board("pine-h64");
        let out = scratch("pine");
        let k = fake_image(8192);
        let d = tiny_fdt(&["pine64,pine-h64", "allwinner,sun50i-h6"]);
        let files = package(b, &k, Some(&d), Path::new("x.dtb"), &out).unwrap();
        assert_eq!(files.len(), 6);
        assert_eq!(std::fs::read(out.join("Image")).unwrap(), k);
        assert_eq!(
            std::fs::read(out.join("sun50i-h6-pine-h64.dtb")).unwrap(),
            d
        );
        let scr = std::fs::read(out.join("boot.scr")).unwrap();
        let cmd = std::fs::read(out.join("boot.cmd")).unwrap();
        let p = bootfmt::parse_uboot_script(&scr).unwrap();
        assert_eq!(p.script, &cmd[..]);
        assert_eq!(p.name, "iommu-bringup pine-h64");
        let text = String::from_utf8(cmd).unwrap();
        assert!(text.contains("${kernel_addr_r} Image\n"));
        assert!(text.contains("${fdt_addr_r} sun50i-h6-pine-h64.dtb\n"));
        assert!(text.ends_with("booti ${kernel_addr_r} - ${fdt_addr_r}\n"));
        // The console route: Image.gz that gunzips to the Image, and the
        // commands that load it and set what booti needs to decompress it.
        let gz = std::fs::read(out.join("Image.gz")).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
        assert!(gz.len() < k.len(), "{} >= {}", gz.len(), k.len());
        let serial = std::fs::read_to_string(out.join("serial.cmd")).unwrap();
        let load = serial
            .find("loady ${kernel_addr_r}\n")
            .expect("loads the kernel");
        let size = serial
            .find("setenv kernel_comp_size ${filesize}\n")
            .expect("sets the compressed size from the kernel's load");
        let dtb = serial.find("loady ${fdt_addr_r}\n").expect("loads the DTB");
        let comp = serial
            .find("setexpr kernel_comp_addr_r ${kernel_addr_r} + 0x2000000\n")
            .expect("sets the decompression area");
        assert!(load < size && size < dtb && comp < dtb, "{serial}");
        assert!(
            serial.contains(&format!("Image.gz is {} bytes", gz.len())),
            "{serial}"
        );
        assert!(
            serial.ends_with("booti ${kernel_addr_r} - ${fdt_addr_r}\n"),
            "{serial}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn zcu102_boot_cmd_applies_the_dt_fixups_between_load_and_booti() {
        let b = board("zcu102");
        let out = scratch("zcu102");
        let d = tiny_fdt(&["xlnx,zynqmp-zcu102-rev1.0", "xlnx,zynqmp"]);
        package(b, &fake_image(8192), Some(&d), Path::new("x.dtb"), &out).unwrap();
        let text = std::fs::read_to_string(out.join("boot.cmd")).unwrap();
        let load = text
            .find("${fdt_addr_r} zynqmp-zcu102-rev1.0.dtb\n")
            .expect("loads the DTB");
        let enable = text
            .find("fdt set /axi/iommu@fd800000 status okay\n")
            .expect("enables the MMU-500");
        let chan0 = text
            .find("fdt set /axi/dma-controller@fd500000 iommus <0x7e000001 0x14e8>\n")
            .expect("GDMA channel 0 behind it");
        let boot = text
            .find("booti ${kernel_addr_r} - ${fdt_addr_r}\n")
            .expect("boots");
        assert!(load < enable && enable < chan0 && chan0 < boot, "{text}");
        assert!(text.contains("fdt addr ${fdt_addr_r}\nfdt resize 0x1000\n"));
        // Without a DTB the fixups are not applied to U-Boot's own tree.
        let out2 = scratch("zcu102-nodtb");
        package(b, &fake_image(4096), None, Path::new("none"), &out2).unwrap();
        let text = std::fs::read_to_string(out2.join("boot.cmd")).unwrap();
        assert!(!text.contains("fdt set"), "{text}");
        assert!(text.contains("need a packaged DTB: not applied"), "{text}");
        // The other U-Boot boards have none.
        let pine = boot_cmd(board("pine-h64"), Some("x.dtb"));
        assert!(!pine.contains("fdt "), "{pine}");
        let _ = std::fs::remove_dir_all(&out);
        let _ = std::fs::remove_dir_all(&out2);
    }

    #[test]
    fn allwinner_without_dtb_boots_with_ubootss_control_dtb() {
        let b = board("orangepi-zero3");
        let out = scratch("zero3");
        package(b, &fake_image(4096), None, Path::new("none"), &out).unwrap();
        let scr = std::fs::read(out.join("boot.scr")).unwrap();
        let p = bootfmt::parse_uboot_script(&scr).unwrap();
        let text = std::str::from_utf8(p.script).unwrap();
        assert!(text.ends_with("booti ${kernel_addr_r} - ${fdtcontroladdr}\n"));
        assert!(!text.contains("fdt_addr_r"));
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn qualcomm_writes_a_v2_boot_image_with_the_dtb_section() {
        for (name, compat, page) in [
            ("db845c", "thundercomm,db845c", 2048usize),
            ("rb5", "qcom,qrb5165-rb5", 4096),
        ] {
            let out = scratch(name);
            let k = fake_image(10_000);
            let d = tiny_fdt(&[compat]);
            package(board(name), &k, Some(&d), Path::new("x"), &out).unwrap();
            let img = std::fs::read(out.join("boot.img")).unwrap();
            let p = bootfmt::parse_android_boot_v2(&img).unwrap();
            assert_eq!(p.page_size as usize, page);
            assert_eq!(p.kernel, &k[..]);
            assert_eq!(p.dtb, &d[..]);
            assert_eq!(p.ramdisk, &bootfmt::empty_cpio()[..]);
            assert_eq!(p.kernel_addr, ABL_BASE + 0x8000);
            assert_eq!(p.dtb_addr, u64::from(ABL_BASE) + 0x01f0_0000);
            assert_eq!(p.offsets[0], page);
            assert!(p.offsets.iter().all(|o| o % page == 0));
            assert_eq!(p.name, name);
            let _ = std::fs::remove_dir_all(&out);
        }
    }

    #[test]
    fn apple_payload_is_dtb_then_image() {
        let out = scratch("j274");
        let k = fake_image(6000);
        let d = tiny_fdt(&["apple,j274", "apple,t8103", "apple,arm-platform"]);
        package(board("j274"), &k, Some(&d), Path::new("x"), &out).unwrap();
        let p = std::fs::read(out.join("m1n1-payload.bin")).unwrap();
        assert_eq!(
            bootfmt::parse_m1n1_payload(&p).unwrap(),
            [
                M1n1Blob::Fdt {
                    offset: 0,
                    size: d.len()
                },
                M1n1Blob::Kernel { offset: d.len() }
            ]
        );
        assert_eq!(&p[d.len()..], &k[..]);
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn missing_or_wrong_dtb_is_a_clear_error() {
        let k = fake_image(4096);
        for name in ["db845c", "j274"] {
            let out = scratch(&format!("{name}-nodtb"));
            let e = package(board(name), &k, None, Path::new("target/dtbs/x.dtb"), &out)
                .unwrap_err()
                .to_string();
            assert!(e.contains("--dtb") && e.contains(name), "{e}");
            let _ = std::fs::remove_dir_all(&out);
        }
        let out = scratch("wrongdtb");
        let e = package(
            board("rb5"),
            &k,
            Some(&tiny_fdt(&["thundercomm,db845c"])),
            Path::new("db.dtb"),
            &out,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("qcom,qrb5165-rb5"), "{e}");
        let e = package(board("rb5"), &[0u8; 10], None, Path::new("x"), &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("header"), "{e}");
    }

    #[test]
    fn every_dtb_but_apples_is_fetchable_and_apples_says_where_it_comes_from() {
        let m = dtbs::manifest().unwrap();
        for b in BOARDS {
            let listed = m.files.iter().any(|(_, p)| p == b.dtb);
            assert_eq!(listed, b.loader != Loader::M1n1, "{}", b.name);
        }
        let e = missing_dtb(board("j274"), Path::new("x")).to_string();
        for want in [
            "Debian ships no Apple DTBs",
            "Asahi",
            "apple/t8103-j274.dtb",
            "/sys/firmware/fdt",
            "--board j274 --dtb PATH",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        for b in BOARDS {
            let e = missing_dtb(b, Path::new("x")).to_string();
            assert!(e.contains("--dtb"), "{e}");
            // Nothing outside the repository (the research notes are not in it).
            assert!(
                !e.contains("../") && !e.contains("docs/hw/board-facts.md"),
                "{e}"
            );
        }
        assert!(!boot_cmd(board("pine-h64"), None).contains("docs/hw/board-facts.md"));
    }

    /// When Debian's `u-boot-tools` / `mkbootimg` happen to be installed,
    /// the outputs must be byte-identical to theirs for the same inputs.
    /// Neither is required (CI needs nothing new): absent tools skip.
    #[test]
    fn byte_identical_to_mkimage_and_mkbootimg_when_installed() {
        use std::process::Command;
        let have = |t: &str| {
            Command::new(t)
                .arg("--help")
                .output()
                .map(|_| true)
                .unwrap_or(false)
        };
        let dir = scratch("crosscheck");
        std::fs::create_dir_all(&dir).unwrap();
        if have("mkimage") {
            let cmd = boot_cmd(board("pine-h64"), Some("sun50i-h6-pine-h64.dtb"));
            std::fs::write(dir.join("boot.cmd"), &cmd).unwrap();
            let st = Command::new("mkimage")
                .env("SOURCE_DATE_EPOCH", "0")
                .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none"])
                .args(["-n", "iommu-bringup pine-h64", "-d"])
                .arg(dir.join("boot.cmd"))
                .arg(dir.join("ref.scr"))
                .output()
                .unwrap();
            assert!(st.status.success(), "{st:?}");
            let ours = bootfmt::uboot_script(cmd.as_bytes(), "iommu-bringup pine-h64");
            assert_eq!(std::fs::read(dir.join("ref.scr")).unwrap(), ours);
        } else {
            eprintln!("mkimage not installed: cross-check skipped");
        }
        if have("mkbootimg") {
            let k = fake_image(7000);
            let d = tiny_fdt(&["qcom,qrb5165-rb5"]);
            let rd = bootfmt::empty_cpio();
            for (f, b) in [("k", &k), ("d", &d), ("r", &rd)] {
                std::fs::write(dir.join(f), b).unwrap();
            }
            let st = Command::new("mkbootimg")
                .args(["--header_version", "2", "--base", "0x80000000"])
                .args(["--pagesize", "4096", "--board", "rb5", "--kernel"])
                .arg(dir.join("k"))
                .arg("--ramdisk")
                .arg(dir.join("r"))
                .arg("--dtb")
                .arg(dir.join("d"))
                .arg("-o")
                .arg(dir.join("ref.img"))
                .output()
                .unwrap();
            assert!(st.status.success(), "{st:?}");
            let ours = bootfmt::android_boot_v2(&BootImgInput {
                base: ABL_BASE,
                page_size: 4096,
                name: "rb5",
                cmdline: "",
                kernel: &k,
                ramdisk: &rd,
                dtb: &d,
            })
            .unwrap();
            assert!(std::fs::read(dir.join("ref.img")).unwrap() == ours);
        } else {
            eprintln!("mkbootimg not installed: cross-check skipped");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_image_options() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = v(&["--board", "rb5", "--dtb", "r.dtb"]);
        let o = parse(&mut a.iter()).unwrap();
        assert_eq!(o.board, "rb5");
        assert_eq!(o.dtb, Some(PathBuf::from("r.dtb")));
        assert!(parse(&mut v(&[]).iter()).is_err());
        assert!(parse(&mut v(&["--board"]).iter()).is_err());
        assert!(parse(&mut v(&["--bogus"]).iter()).is_err());
        assert!(parse(&mut v(&["--list"]).iter()).unwrap().list);
    }
}
