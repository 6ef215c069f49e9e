//! Booting the image through real U-Boot under QEMU: Debian's
//! `u-boot-qemu` (bookworm: 2023.01) as `-bios`, the payload preloaded into
//! RAM with QEMU's generic loader, and the runner typing at U-Boot's prompt
//! the lines `cargo xtask image --board` writes for a board (`boot.cmd` for
//! the flat `Image`, `serial.cmd` for `Image.gz`, from
//! [`crate::boards::boot_cmd`] and [`crate::boards::serial_cmd`]), so the
//! scripts a board's operator runs are what gets tested.
//!
//! What it shows: the image is a valid arm64 `Image` for U-Boot's `booti`
//! (header, `image_size`, "place anywhere" flag), it runs where `booti`
//! puts it (U-Boot's `kernel_addr_r`, or a 2 MiB boundary `booti` moved it
//! to), from the DTB U-Boot fixed up and passed (`/chosen/bootargs` set by
//! `setenv bootargs`), and `booti` decompresses the `Image.gz` that
//! `image --board` writes with the `kernel_comp_addr_r` / `kernel_comp_size`
//! that `serial.cmd` sets.  What it does not: this is QEMU's U-Boot
//! (`qemu_arm64_defconfig`), not a board's — no board's DRAM layout, DT,
//! caches left on or off by its SPL, or storage/YMODEM path (`load` and
//! `loady` are replaced by the preload, see [`dialogue`]).

use crate::boards::{self, Board, Loader};
use crate::error::{io, Error, Result};
use crate::install::{self, OsRelease, Privilege};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Debian package with QEMU's U-Boot.
pub const PACKAGE: &str = "u-boot-qemu";
/// U-Boot for QEMU `virt` on arm64, as Debian's [`PACKAGE`] installs it.
pub const BIOS: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
/// `kernel_addr_r` in this U-Boot's default environment (`printenv` on
/// 2023.01: `kernel_addr_r=0x40400000`, `ramdisk_addr_r=0x44000000`, no
/// `fdt_addr_r`).  The dialogue checks it before anything is booted.
pub const KERNEL_ADDR_R: u64 = 0x4040_0000;
/// How long the runner waits for each thing U-Boot must print (wall time;
/// U-Boot reaches its prompt in about 0.2 s under `-icount`).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// What U-Boot prints while it counts down to autoboot.
pub const AUTOBOOT: &str = "Hit any key to stop autoboot";
/// U-Boot's prompt (`CONFIG_SYS_PROMPT`).
pub const PROMPT: &str = "=> ";
/// What `booti` prints when it hands over.
pub const STARTING: &str = "Starting kernel ...";
/// What `booti` prints when it decompresses (cmd/booti.c).
pub const UNCOMPRESSING: &str = "Uncompressing Kernel Image";

/// QEMU `virt` as a U-Boot board of `boards.rs`, for its script generators
/// (no packaged DTB: `booti` gets U-Boot's own control DTB, which on QEMU is
/// the one QEMU generated).
pub const QEMU_BOARD: Board = Board {
    name: "qemu-virt",
    soc: "QEMU virt, Debian's u-boot-qemu",
    loader: Loader::UBoot,
    dtb: "",
    compatible: "linux,dummy-virt",
    dt_fixups: "",
};

/// What U-Boot is given and how it boots it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UBoot {
    /// The flat `Image` at U-Boot's `kernel_addr_r`, booted with
    /// `boot.cmd`'s lines.
    Flat,
    /// The flat `Image` at this address, set as `kernel_addr_r` first, not
    /// 2 MiB aligned: `booti` moves it up to the next 2 MiB boundary (as on
    /// boards whose `kernel_addr_r` is RAM + 0x80000, Allwinner's
    /// 0x40080000).
    FlatAt(u64),
    /// `Image.gz` (`gzip -9 -n`, as `image --board` writes it) at
    /// `kernel_addr_r`, booted with `serial.cmd`'s lines: `booti`
    /// decompresses it.
    Gzip,
}

impl UBoot {
    /// Where QEMU's loader puts the payload.
    pub fn load_addr(self) -> u64 {
        match self {
            UBoot::Flat | UBoot::Gzip => KERNEL_ADDR_R,
            UBoot::FlatAt(a) => a,
        }
    }
}

/// One exchange with the console: wait until `wait_for` appears (after
/// the previous step's match), then type `send` (may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Text to wait for.
    pub wait_for: String,
    /// What it is, for the failure message ("U-Boot's prompt before `booti …`").
    pub what: String,
    /// Bytes to type once it appeared.
    pub send: String,
}

/// Why a generated script cannot be typed as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptError {
    /// A `load`/`loady` line targets something the runner did not preload.
    LoadsElsewhere(String),
    /// Not exactly one `booti` line.
    BootiLines(usize),
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptError::LoadsElsewhere(l) => write!(
                f,
                "the script's `{l}` loads something other than the payload at ${{kernel_addr_r}}, which is all the runner preloads"
            ),
            ScriptError::BootiLines(n) => {
                write!(f, "the script has {n} `booti` lines, not one")
            }
        }
    }
}

/// The script `image --board` would write for `u` on [`QEMU_BOARD`]:
/// `boot.cmd` for the flat Image, `serial.cmd` for `Image.gz`.
pub fn script(u: UBoot, image_len: usize, gz_len: usize) -> String {
    match u {
        UBoot::Flat | UBoot::FlatAt(_) => boards::boot_cmd(&QEMU_BOARD, None),
        UBoot::Gzip => boards::serial_cmd(&QEMU_BOARD, None, image_len, gz_len),
    }
}

/// The console dialogue that boots `u`: stop autoboot, check
/// `kernel_addr_r` is where the payload was preloaded, then type every
/// non-comment line of [`script`] at the prompt, except that each `load` /
/// `loady` of the payload becomes `setenv filesize <payload length>` — what
/// those leave behind (hex, as U-Boot writes it); QEMU's loader already put
/// the bytes at `kernel_addr_r`.  Just before the `booti` line it sets
/// `bootargs` (the script sets them empty; QEMU runs need the runner's
/// exit through semihosting).  After `booti`: `Uncompressing Kernel Image`
/// for `Image.gz`, `Moving Image from <addr>` for [`UBoot::FlatAt`], then
/// `Starting kernel ...`.
pub fn dialogue(
    u: UBoot,
    bootargs: &str,
    payload_len: usize,
    script: &str,
) -> std::result::Result<Vec<Step>, ScriptError> {
    let at_prompt = |line: &str| Step {
        wait_for: PROMPT.into(),
        what: format!("U-Boot's prompt `=>` before `{line}`"),
        send: format!("{line}\n"),
    };
    let mut steps = vec![Step {
        wait_for: AUTOBOOT.into(),
        what: "U-Boot's autoboot countdown".into(),
        send: " ".into(),
    }];
    if let UBoot::FlatAt(a) = u {
        steps.push(at_prompt(&format!("setenv kernel_addr_r {a:#x}")));
    }
    steps.push(at_prompt("printenv kernel_addr_r"));
    steps.push(Step {
        wait_for: format!("kernel_addr_r={:#x}", u.load_addr()),
        what: format!(
            "`kernel_addr_r={:#x}`, where the payload was preloaded",
            u.load_addr()
        ),
        send: String::new(),
    });
    let mut bootis = 0;
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        match word {
            "load" | "loady" => {
                if !line.ends_with("${kernel_addr_r} Image") && line != "loady ${kernel_addr_r}" {
                    return Err(ScriptError::LoadsElsewhere(line.into()));
                }
                steps.push(at_prompt(&format!("setenv filesize {payload_len:x}")));
            }
            "booti" => {
                bootis += 1;
                steps.push(at_prompt(&format!("setenv bootargs {bootargs}")));
                steps.push(at_prompt(line));
            }
            _ => steps.push(at_prompt(line)),
        }
    }
    if bootis != 1 {
        return Err(ScriptError::BootiLines(bootis));
    }
    match u {
        UBoot::Gzip => steps.push(Step {
            wait_for: UNCOMPRESSING.into(),
            what: "booti decompressing Image.gz".into(),
            send: String::new(),
        }),
        UBoot::FlatAt(a) => steps.push(Step {
            wait_for: format!("Moving Image from {a:#x} to "),
            what: "booti moving the Image to a 2 MiB boundary".into(),
            send: String::new(),
        }),
        UBoot::Flat => {}
    }
    steps.push(Step {
        wait_for: STARTING.into(),
        what: "booti handing over".into(),
        send: String::new(),
    });
    Ok(steps)
}

/// Writes what QEMU's loader preloads for `u` next to `image` (named after
/// `tag`) and returns its path and length: the Image itself, or `Image.gz`
/// made as `image --board` makes it.
pub fn payload(u: UBoot, image: &Path, tag: &str) -> Result<(PathBuf, usize, String)> {
    let kernel = std::fs::read(image).map_err(io(format!("reading {}", image.display())))?;
    match u {
        UBoot::Flat | UBoot::FlatAt(_) => Ok((
            image.to_path_buf(),
            kernel.len(),
            script(u, kernel.len(), 0),
        )),
        UBoot::Gzip => {
            let dir = image.with_file_name(format!("scenario-{tag}"));
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            let gz = boards::gzip(&QEMU_BOARD, &dir, &kernel)?;
            let path = dir.join("Image.gz");
            std::fs::write(&path, &gz).map_err(io(format!("writing {}", path.display())))?;
            let text = script(u, kernel.len(), gz.len());
            let cmd = dir.join("serial.cmd");
            std::fs::write(&cmd, &text).map_err(io(format!("writing {}", cmd.display())))?;
            Ok((path, gz.len(), text))
        }
    }
}

/// Whether QEMU's U-Boot is installed.
pub fn available() -> bool {
    Path::new(BIOS).is_file()
}

/// The commands that install [`PACKAGE`] (each an argv), or why we cannot.
/// `need_update`: apt knows no candidate for it yet.
pub fn install_plan(
    os: &OsRelease,
    privilege: Privilege,
    need_update: bool,
) -> std::result::Result<Vec<Vec<String>>, String> {
    if !install::is_debian_family(os) {
        return Err(format!(
            "{BIOS} is missing and this is not Debian/Ubuntu ({}): install U-Boot built \
             with qemu_arm64_defconfig (Debian's `{PACKAGE}`) so that it is there",
            if os.id.is_empty() { "unknown" } else { &os.id }
        ));
    }
    let lock = ["-o", "DPkg::Lock::Timeout=300"].map(String::from);
    let mut cmds = Vec::new();
    if need_update {
        let mut update = vec![String::from("apt-get")];
        update.extend(lock.iter().cloned());
        update.push("update".into());
        cmds.push(update);
    }
    let mut inst = vec![String::from("apt-get")];
    inst.extend(lock.iter().cloned());
    inst.extend(["install", "-y", "--no-install-recommends", PACKAGE].map(String::from));
    cmds.push(inst);
    install::as_root(
        cmds,
        privilege,
        &format!("{BIOS} is missing and installing `{PACKAGE}`"),
    )
}

/// Makes sure [`BIOS`] exists, installing Debian's [`PACKAGE`] with apt
/// when it does not (each command printed); a failure names the package.
pub fn ensure() -> Result<()> {
    if available() {
        return Ok(());
    }
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let policy = Command::new("apt-cache")
        .args(["policy", PACKAGE])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let need_update = crate::lava::no_candidate(&policy);
    let cmds = install_plan(&os, install::privilege(), need_update).map_err(Error::Tool)?;
    eprintln!("xtask: {BIOS} is missing; installing Debian's {PACKAGE} (QEMU's U-Boot, ~2 MB)");
    install::run_noninteractive(&cmds).map_err(|e| {
        Error::Tool(format!(
            "installing Debian's `{PACKAGE}` (for {BIOS}) failed: {e}"
        ))
    })?;
    if available() {
        Ok(())
    } else {
        Err(Error::Tool(format!(
            "after installing `{PACKAGE}`, {BIOS} is still missing"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGS: &str = "iommu_bringup.exit=semihosting";

    fn sends(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter(|s| !s.send.is_empty())
            .map(|s| s.send.trim_end().to_string())
            .collect()
    }

    #[test]
    fn flat_types_boot_cmd_with_the_load_replaced() {
        let s = script(UBoot::Flat, 400_000, 0);
        let steps = dialogue(UBoot::Flat, ARGS, 400_000, &s).unwrap();
        assert_eq!(
            sends(&steps),
            [
                "",
                "printenv kernel_addr_r",
                "setenv bootargs",
                "setenv filesize 61a80",
                "setenv bootargs iommu_bringup.exit=semihosting",
                "booti ${kernel_addr_r} - ${fdtcontroladdr}",
            ]
        );
        assert_eq!(steps[0].wait_for, AUTOBOOT);
        assert_eq!(steps[2].wait_for, "kernel_addr_r=0x40400000");
        assert_eq!(steps.last().map(|s| s.wait_for.as_str()), Some(STARTING));
    }

    #[test]
    fn gzip_types_serial_cmd_and_waits_for_the_decompression() {
        let s = script(UBoot::Gzip, 400_000, 242_098);
        assert!(s.contains("loady ${kernel_addr_r}"), "{s}");
        let steps = dialogue(UBoot::Gzip, ARGS, 242_098, &s).unwrap();
        let typed = sends(&steps);
        // Every command line of serial.cmd but `loady`, in order.
        let script_lines: Vec<&str> = s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("loady"))
            .collect();
        let mut it = typed.iter();
        for l in &script_lines {
            assert!(it.any(|t| t == l), "`{l}` not typed in order: {typed:?}");
        }
        assert!(typed.contains(&"setenv filesize 3b1b2".to_string()));
        assert!(typed.contains(&"setenv kernel_comp_size ${filesize}".to_string()));
        let n = steps.len();
        assert_eq!(steps[n - 2].wait_for, UNCOMPRESSING);
        assert_eq!(steps[n - 1].wait_for, STARTING);
    }

    #[test]
    fn moved_flat_sets_kernel_addr_r_and_waits_for_the_move() {
        let u = UBoot::FlatAt(0x4048_0000);
        let steps = dialogue(u, ARGS, 1, &script(u, 1, 0)).unwrap();
        assert_eq!(steps[1].send, "setenv kernel_addr_r 0x40480000\n");
        assert_eq!(steps[3].wait_for, "kernel_addr_r=0x40480000");
        assert!(steps
            .iter()
            .any(|s| s.wait_for == "Moving Image from 0x40480000 to "));
    }

    #[test]
    fn scripts_the_runner_cannot_honour_are_refused() {
        let e = dialogue(UBoot::Flat, ARGS, 1, "loady ${fdt_addr_r}\nbooti x\n");
        assert!(matches!(e, Err(ScriptError::LoadsElsewhere(_))), "{e:?}");
        let e = dialogue(UBoot::Flat, ARGS, 1, "setenv bootargs\n");
        assert_eq!(e, Err(ScriptError::BootiLines(0)));
    }

    #[test]
    fn install_plan_names_the_package() {
        let debian = OsRelease {
            id: "debian".into(),
            codename: "bookworm".into(),
            ..OsRelease::default()
        };
        let cmds = install_plan(&debian, Privilege::Root, true).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(
            cmds[1].join(" "),
            "apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends u-boot-qemu"
        );
        let manual = install_plan(&debian, Privilege::None, false).unwrap_err();
        assert!(manual.contains("u-boot-qemu"), "{manual}");
        let fedora = OsRelease {
            id: "fedora".into(),
            ..OsRelease::default()
        };
        assert!(install_plan(&fedora, Privilege::Root, false)
            .unwrap_err()
            .contains("u-boot-qemu"));
    }
}
