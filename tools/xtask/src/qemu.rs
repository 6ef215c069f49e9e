//! Booting the image under `qemu-system-aarch64 -M virt`: the command line,
//! live console streaming with hang/total timeouts, and the verdict that
//! reconciles QEMU's exit status with the KTAP the image printed.

use crate::error::{io, Error, Result};
use crate::ktap;
use crate::process;
use crate::uboot::{self, Step, UBoot};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-aarch64";

/// The QEMU program to run: `$XTASK_QEMU` if set (a self-built QEMU, or a
/// fake in tests), else [`QEMU`] from `PATH`.
pub fn program() -> std::ffi::OsString {
    std::env::var_os("XTASK_QEMU").unwrap_or_else(|| QEMU.into())
}

/// Which IOMMU the machine has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iommu {
    /// `-M virt,iommu=smmuv3` (the only emulated IOMMU with a TLB).
    Smmuv3,
    /// `-device virtio-iommu-pci` at 00:03.0.
    Virtio,
    /// No IOMMU: DMA goes straight to memory.
    None,
}

impl Iommu {
    /// Parses `smmuv3`, `virtio` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "smmuv3" => Some(Iommu::Smmuv3),
            "virtio" => Some(Iommu::Virtio),
            "none" => Some(Iommu::None),
            _ => None,
        }
    }
}

/// How the image gets into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// `-kernel Image`: QEMU's arm64 Image loader (0x4020_0000).
    Kernel,
    /// Raw load at this address behind a generated trampoline ELF.
    At(u64),
    /// Like [`Load::At`], and the trampoline enters with HCR_EL2.E2H and TGE
    /// set, as m1n1 does on Apple cores (needs EL2; uses `-cpu max`).
    AtVhe(u64),
    /// Through Debian's QEMU U-Boot (`-bios`, [`crate::uboot`]): the payload
    /// preloaded with QEMU's loader, `booti` typed at U-Boot's prompt.
    UBoot(UBoot),
}

impl Load {
    /// The CPU model the load mode needs.
    pub fn cpu(self) -> &'static str {
        match self {
            // FEAT_VHE: Cortex-A57 (ARMv8.0) has no E2H.
            Load::AtVhe(_) => "max",
            Load::Kernel | Load::At(_) | Load::UBoot(_) => "cortex-a57",
        }
    }
}

/// Bootargs the runner always puts first: exit through semihosting so
/// QEMU's exit status is the image's failure count.
pub const EXIT_SEMIHOSTING: &str = "iommu_bringup.exit=semihosting";

/// Where the edu DMA masters sit in the PCIe hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edus {
    /// On the root bus, 00:04.0 and 00:05.0 (StreamIDs 0x20, 0x28).
    RootBus,
    /// Each behind its own `pcie-root-port` (00:01.0, 00:02.0): the image
    /// numbers the ports' buses 1 and 2, so edu 01:00.0 and 02:00.0.
    RootPorts,
    /// Behind `pcie-pci-bridge`s, each behind a `pcie-root-port` (QEMU only
    /// plugs a PCIe-to-PCI bridge into an Express port): edus 02:01.0 and
    /// 02:02.0 behind the first bridge, 04:01.0 behind the second.  Behind
    /// a PCIe-to-PCI bridge a device's DMA carries the requester ID
    /// (secondary bus, 00.0), so the SMMU sees streams 0x200, 0x200 and
    /// 0x400.
    PciBridge,
    /// No edu at all (`cargo xtask wall`'s floor run).
    None,
}

impl Edus {
    /// Parses `root`, `root-ports`, `pci-bridge` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "root" => Some(Edus::RootBus),
            "root-ports" => Some(Edus::RootPorts),
            "pci-bridge" => Some(Edus::PciBridge),
            "none" => Some(Edus::None),
            _ => None,
        }
    }

    /// The `-device` values.
    pub fn devices(self) -> Vec<String> {
        const EDU_OPTS: &str = "dma_mask=0xffffffffffffffff";
        let port = |n: u8| format!("pcie-root-port,id=rp{n},bus=pcie.0,addr={n}.0,chassis={n}");
        match self {
            Edus::RootBus => EDU.iter().map(|s| s.to_string()).collect(),
            Edus::None => Vec::new(),
            Edus::RootPorts => vec![
                port(1),
                port(2),
                format!("edu,bus=rp1,addr=0.0,{EDU_OPTS}"),
                format!("edu,bus=rp2,addr=0.0,{EDU_OPTS}"),
            ],
            Edus::PciBridge => vec![
                port(1),
                port(2),
                "pcie-pci-bridge,id=br1,bus=rp1,addr=0.0".into(),
                "pcie-pci-bridge,id=br2,bus=rp2,addr=0.0".into(),
                format!("edu,bus=br1,addr=1.0,{EDU_OPTS}"),
                format!("edu,bus=br1,addr=2.0,{EDU_OPTS}"),
                format!("edu,bus=br2,addr=1.0,{EDU_OPTS}"),
            ],
        }
    }
}

/// Everything that shapes one QEMU boot.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The IOMMU.
    pub iommu: Iommu,
    /// Enter at EL2 (`virtualization=on`).
    pub el2: bool,
    /// Extra `-M` options (e.g. `highmem=off`), without leading comma.
    pub machine_opts: Vec<String>,
    /// Bootargs after [`EXIT_SEMIHOSTING`].
    pub bootargs: String,
    /// Load mode.
    pub load: Load,
    /// Extra raw QEMU arguments.
    pub extra: Vec<String>,
    /// Run with `-icount` [`ICOUNT`] (virtual time advances per instruction
    /// and jumps over idle time) instead of wall-clock virtual time.
    pub icount: bool,
    /// Another `-icount` setting than [`ICOUNT`] (`cargo xtask wall
    /// --icount`, to measure the alternatives).
    pub icount_setting: Option<String>,
    /// Add two virtio-blk DMA masters (00:06.0, 00:07.0) behind the IOMMU,
    /// each on its own small raw disk image ([`disk_path`]).
    pub blk: bool,
    /// Where the edus sit.
    pub edus: Edus,
    /// Guest RAM in MiB (`-m`); [`DEFAULT_RAM_MIB`] unless a scenario
    /// starves the image on purpose.
    pub ram_mib: u32,
    /// Names the files this boot writes (disk images, trampoline), so
    /// boots running at the same time never share one.
    pub tag: String,
}

/// Guest RAM of every scenario but the one that tests running out of it.
pub const DEFAULT_RAM_MIB: u32 = 256;

/// Number of virtio-blk devices `blk` adds.
pub const BLK_DEVICES: usize = 2;
/// Size of each disk image: the image only uses sector 0 as scratch.
pub const DISK_BYTES: u64 = 1 << 20;

/// The raw disk image of virtio-blk `i` of the boot tagged `tag`
/// (created by [`boot`]).
pub fn disk_path(tag: &str, i: usize) -> PathBuf {
    crate::process::workspace_root().join(format!("target/xtask/disk-{tag}-{i}.img"))
}

/// Creates (or truncates to zeros) the disk images for a `blk` machine.
pub fn create_disks(tag: &str) -> Result<()> {
    for i in 0..BLK_DEVICES {
        let p = disk_path(tag, i);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let f = std::fs::File::create(&p).map_err(io(format!("creating {}", p.display())))?;
        f.set_len(DISK_BYTES)
            .map_err(io(format!("sizing {}", p.display())))?;
    }
    Ok(())
}

/// The `-icount` setting: every instruction advances virtual time by 2^8
/// ns, and while the CPU sleeps in WFI (the image's waits do, once the
/// timer interrupt is routed: `src/time.rs`) virtual time jumps to the next
/// timer deadline instead of following the host clock (`sleep=off`).  edu
/// completes a DMA 100 ms of virtual time after its command
/// (docs/hw/qemu-virt.md §2), so each DMA costs one jump, not 100 ms of
/// wall time.  Measured against `shift=8` (sleeping then costs real time)
/// and `shift=auto` in docs/performance.md.  Timeouts inside the image are
/// virtual time too; the runner's hang timeouts stay wall-clock.  shift=8
/// rather than 0 keeps the image's polling fallback (no routable timer
/// interrupt, `waits-poll-unknown-intc`) as fast as before: a polled wait
/// pays for virtual time in instructions.
pub const ICOUNT: &str = "shift=8,sleep=off";

impl Default for Machine {
    fn default() -> Self {
        Machine {
            iommu: Iommu::Smmuv3,
            el2: false,
            machine_opts: Vec::new(),
            bootargs: String::new(),
            load: Load::Kernel,
            extra: Vec::new(),
            icount: true,
            icount_setting: None,
            blk: false,
            edus: Edus::RootBus,
            ram_mib: DEFAULT_RAM_MIB,
            tag: String::from("run"),
        }
    }
}

/// Two edu DMA engines at fixed slots (StreamIDs 0x20 and 0x28), able to
/// address all of RAM.
const EDU: [&str; 2] = [
    "edu,addr=4.0,dma_mask=0xffffffffffffffff",
    "edu,addr=5.0,dma_mask=0xffffffffffffffff",
];

impl Machine {
    /// The full bootargs string the image sees.
    pub fn full_bootargs(&self) -> String {
        let extra = self.bootargs.trim();
        if extra.is_empty() {
            EXIT_SEMIHOSTING.to_string()
        } else {
            format!("{EXIT_SEMIHOSTING} {extra}")
        }
    }

    /// QEMU arguments for `image` (and `trampoline`, needed for [`Load::At`]).
    pub fn args(&self, image: &Path, trampoline: Option<&Path>) -> Vec<String> {
        let mut m = String::from("virt");
        if self.iommu == Iommu::Smmuv3 {
            m.push_str(",iommu=smmuv3");
        }
        if self.el2 {
            m.push_str(",virtualization=on");
        }
        for o in &self.machine_opts {
            m.push(',');
            m.push_str(o);
        }
        let ram = format!("{}M", self.ram_mib);
        let mut a: Vec<String> = [
            "-M",
            &m,
            "-cpu",
            self.load.cpu(),
            "-m",
            &ram,
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-semihosting-config",
            "enable=on,target=native",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match (self.load, trampoline) {
            (Load::At(addr) | Load::AtVhe(addr), Some(t)) => {
                a.push("-kernel".into());
                a.push(t.display().to_string());
                a.push("-device".into());
                a.push(format!(
                    "loader,file={},addr={addr:#x},force-raw=on",
                    image.display()
                ));
            }
            (Load::UBoot(u), _) => {
                // U-Boot is the firmware; `image` is the payload it boots
                // (the Image or Image.gz), and the bootargs are typed.
                a.push("-bios".into());
                a.push(uboot::BIOS.into());
                a.push("-device".into());
                a.push(format!(
                    "loader,file={},addr={:#x},force-raw=on",
                    image.display(),
                    u.load_addr()
                ));
            }
            _ => {
                a.push("-kernel".into());
                a.push(image.display().to_string());
            }
        }
        if !matches!(self.load, Load::UBoot(_)) {
            a.push("-append".into());
            a.push(self.full_bootargs());
        }
        if self.iommu == Iommu::Virtio {
            a.push("-device".into());
            a.push("virtio-iommu-pci,addr=3.0".into());
        }
        for d in self.edus.devices() {
            a.push("-device".into());
            a.push(d);
        }
        if self.blk {
            // iommu_platform=on: the device's DMA (queues included) goes
            // through the IOMMU; disable-legacy=on: modern-only 1af4:1042.
            for i in 0..BLK_DEVICES {
                a.push("-drive".into());
                a.push(format!(
                    "file={},if=none,format=raw,id=blk{i}",
                    disk_path(&self.tag, i).display()
                ));
                a.push("-device".into());
                a.push(format!(
                    "virtio-blk-pci,drive=blk{i},addr={}.0,iommu_platform=on,disable-legacy=on",
                    6 + i
                ));
            }
        }
        if self.icount {
            a.push("-icount".into());
            a.push(self.icount_setting.as_deref().unwrap_or(ICOUNT).into());
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// Time limits for one boot.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Kill QEMU when the console is silent this long.
    pub idle: Duration,
    /// Kill QEMU after this long in total.
    pub total: Duration,
}

impl Limits {
    /// Limits from a total in seconds; the silence limit is at most 60 s.
    pub fn from_total(secs: u64) -> Self {
        let total = Duration::from_secs(secs.max(1));
        Limits {
            idle: total.min(Duration::from_secs(60)),
            total,
        }
    }
}

/// Why QEMU was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hang {
    /// No console output for this long.
    Silent(Duration),
    /// The run exceeded its total budget.
    Total(Duration),
}

/// A dialogue step whose text never appeared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmet {
    /// The step.
    pub step: Step,
    /// `Some`: the runner waited this long and killed QEMU; `None`: the
    /// console ended first.
    pub waited: Option<Duration>,
}

/// What one boot produced, before judging.
#[derive(Debug)]
pub struct Boot {
    /// The whole console output.
    pub console: String,
    /// QEMU's exit status (None when it was killed after a hang).
    pub status: Option<ExitStatus>,
    /// Set when the runner killed QEMU.
    pub hang: Option<Hang>,
    /// A console dialogue step that never came ([`stream_with`]).
    pub unmet: Option<Unmet>,
    /// Wall time.
    pub elapsed: Duration,
    /// The command line used.
    pub command: String,
}

/// Where the console goes while it streams.
pub enum Echo {
    /// Copy to our stdout as it arrives (`cargo xtask run`).
    Stdout,
    /// Keep it quiet (scenarios print it only on failure).
    Quiet,
}

/// Boots `machine` with `image` and streams the console.
pub fn boot(machine: &Machine, image: &Path, limits: Limits, echo: Echo) -> Result<Boot> {
    let tag = &machine.tag;
    let tramp = match machine.load {
        Load::Kernel | Load::UBoot(_) => None,
        Load::At(addr) => Some(write_trampoline(image, tag, addr, false)?),
        Load::AtVhe(addr) => Some(write_trampoline(image, tag, addr, true)?),
    };
    if machine.blk {
        create_disks(tag)?;
    }
    let mut cmd = Command::new(program());
    let Load::UBoot(u) = machine.load else {
        cmd.args(machine.args(image, tramp.as_deref()));
        return stream(cmd, limits, echo);
    };
    if !uboot::available() {
        return Err(Error::Tool(format!(
            "{} is missing: install Debian's `{}` (`cargo xtask test` does)",
            uboot::BIOS,
            uboot::PACKAGE
        )));
    }
    let (payload, len, script) = uboot::payload(u, image, tag)?;
    let steps = uboot::dialogue(u, &machine.full_bootargs(), len, &script)
        .map_err(|e| Error::Run(format!("typing the generated script at U-Boot: {e}")))?;
    cmd.args(machine.args(&payload, None));
    stream_with(cmd, limits, echo, &steps, uboot::STEP_TIMEOUT)
}

/// Runs `cmd` (QEMU or a stand-in), streaming its stdout under `limits`.
/// With [`Echo::Stdout`] it says on stderr what it runs; a quiet caller
/// finds the command line in the result.
pub fn stream(cmd: Command, limits: Limits, echo: Echo) -> Result<Boot> {
    stream_with(cmd, limits, echo, &[], Duration::MAX)
}

/// Where `needle` first occurs in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from.min(hay.len()));
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// [`stream`], typing a console dialogue on the way: each step's text is
/// looked for after the previous step's match, and once it appears its
/// `send` is written to the child's stdin.  A step that does not appear
/// within `step_timeout` kills the child; that, or a console that ends
/// first, is the boot's [`Unmet`] (judged before anything else).
pub fn stream_with(
    mut cmd: Command,
    limits: Limits,
    echo: Echo,
    steps: &[Step],
    step_timeout: Duration,
) -> Result<Boot> {
    let command = process::display(&cmd);
    if let Echo::Stdout = echo {
        eprintln!("xtask: running {command}");
    }
    let start = Instant::now();
    let mut child = cmd
        .stdin(if steps.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(io(format!("cannot start {QEMU}")))?;
    let mut input = child.stdin.take();
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| Error::Run("QEMU stdout was not captured".into()))?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut console = Vec::new();
    let mut last = Instant::now();
    let mut hang = None;
    // The dialogue: the next step, where its search starts, since when it
    // has been awaited.
    let mut step = 0;
    let mut from = 0;
    let mut awaited = Instant::now();
    let mut unmet = None;
    let stdout = std::io::stdout();
    loop {
        while let Some(s) = steps.get(step) {
            let Some(at) = find(&console, s.wait_for.as_bytes(), from) else {
                break;
            };
            from = at + s.wait_for.len();
            if let (false, Some(i)) = (s.send.is_empty(), input.as_mut()) {
                // QEMU's stdio chardev reads only what the UART can take,
                // so a whole line at once is not lost.  A write that fails
                // (QEMU gone) stalls the dialogue, which then ends unmet.
                if i.write_all(s.send.as_bytes())
                    .and_then(|()| i.flush())
                    .is_err()
                {
                    input = None;
                }
            }
            step += 1;
            awaited = Instant::now();
        }
        let now = Instant::now();
        let total_left = limits.total.saturating_sub(now - start);
        let idle_left = limits.idle.saturating_sub(now - last);
        let step_left = match steps.get(step) {
            Some(_) => step_timeout.saturating_sub(now - awaited),
            None => Duration::MAX,
        };
        if step_left.is_zero() {
            unmet = Some(Unmet {
                step: steps[step].clone(),
                waited: Some(step_timeout),
            });
            break;
        }
        if idle_left.is_zero() {
            hang = Some(Hang::Silent(limits.idle));
            break;
        }
        if total_left.is_zero() {
            hang = Some(Hang::Total(limits.total));
            break;
        }
        match rx.recv_timeout(total_left.min(idle_left).min(step_left)) {
            Ok(chunk) => {
                last = Instant::now();
                if let Echo::Stdout = echo {
                    let mut lock = stdout.lock();
                    // A closed stdout must not stop the run.
                    let _ = lock.write_all(&chunk);
                    let _ = lock.flush();
                }
                console.extend_from_slice(&chunk);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if unmet.is_none() && hang.is_none() {
        if let Some(s) = steps.get(step) {
            // The console ended before the dialogue did.
            unmet = Some(Unmet {
                step: s.clone(),
                waited: None,
            });
        }
    }
    let status = if hang.is_some() || unmet.as_ref().is_some_and(|u| u.waited.is_some()) {
        // Ignore errors: it may have exited in the meantime.
        let _ = child.kill();
        let _ = child.wait();
        None
    } else {
        // stdout closed: QEMU is exiting; bound the wait anyway.
        loop {
            match child.try_wait().map_err(io("waiting for QEMU"))? {
                Some(s) => break Some(s),
                None if start.elapsed() >= limits.total => {
                    let _ = child.kill();
                    let _ = child.wait();
                    hang = Some(Hang::Total(limits.total));
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    };
    drop(input);
    let _ = reader.join();
    Ok(Boot {
        console: String::from_utf8_lossy(&console).into_owned(),
        status,
        hang,
        unmet,
        elapsed: start.elapsed(),
        command,
    })
}

/// Writes the trampoline ELF for a raw load at `addr` next to the image.
fn write_trampoline(image: &Path, tag: &str, addr: u64, vhe: bool) -> Result<PathBuf> {
    let vhe_tag = if vhe { "-vhe" } else { "" };
    let path = image.with_file_name(format!("tramp-{tag}-{addr:x}{vhe_tag}.elf"));
    std::fs::write(&path, crate::trampoline::elf(addr, vhe))
        .map_err(io(format!("writing {}", path.display())))?;
    Ok(path)
}

/// The judged result of a boot with a consistent KTAP stream.
#[derive(Debug)]
pub struct Verdict {
    /// The parsed report.
    pub report: ktap::Report,
    /// QEMU's exit code (= failed cases, capped at 250; 253 when no IOMMU
    /// was tested).
    pub code: i32,
    /// The image said "no IOMMU was tested" and exited 253: everything that
    /// ran passed, but nothing of the IOMMU was tested — not a pass.
    pub nothing_tested: bool,
}

/// The exit status of a run in which no IOMMU case ran and nothing failed.
pub const NOTHING_TESTED: i32 = 253;

/// The image's last-line words for such a run.
pub const NOTHING_TESTED_TEXT: &str = "no IOMMU was tested";

/// Why a boot is not acceptable regardless of expectations.
#[derive(Debug)]
pub enum BadBoot {
    /// Killed by the runner.
    Hung(Hang),
    /// QEMU died from a signal.
    Signal(String),
    /// A console dialogue step never came (U-Boot's prompt, `booti`'s
    /// hand-over).
    Dialogue(Unmet),
    /// QEMU exited without any KTAP (it could not start, or the image died early).
    NoKtap(Option<i32>),
    /// The KTAP stream is malformed or incomplete.
    Ktap(ktap::Error, Option<i32>),
    /// The exit status disagrees with the failures in the KTAP.
    StatusMismatch {
        /// QEMU's exit code.
        code: i32,
        /// Failed cases in the KTAP.
        failed: usize,
    },
}

impl std::fmt::Display for BadBoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code_word = |c: &Option<i32>| match c {
            Some(252) => "exit status 252 (an allocation failed in the image)".to_string(),
            Some(254) => "exit status 254 (the image took an unexpected exception)".to_string(),
            Some(255) => "exit status 255 (the image panicked)".to_string(),
            Some(c) => format!("exit status {c}"),
            None => "no exit status".to_string(),
        };
        match self {
            BadBoot::Hung(Hang::Silent(d)) => {
                write!(f, "QEMU hung: no output for {} s (killed)", d.as_secs())
            }
            BadBoot::Hung(Hang::Total(d)) => {
                write!(f, "QEMU hung: total timeout of {} s (killed)", d.as_secs())
            }
            BadBoot::Signal(s) => write!(f, "QEMU crashed: {s}"),
            BadBoot::Dialogue(Unmet {
                step,
                waited: Some(d),
            }) => write!(
                f,
                "waited {} s for {} (`{}`) on the console; killed QEMU",
                d.as_secs(),
                step.what,
                step.wait_for.trim_end()
            ),
            BadBoot::Dialogue(Unmet { step, waited: None }) => write!(
                f,
                "the console ended while waiting for {} (`{}`)",
                step.what,
                step.wait_for.trim_end()
            ),
            BadBoot::NoKtap(c) => write!(f, "QEMU ended with {} and no KTAP output", code_word(c)),
            BadBoot::Ktap(e, c) => write!(f, "{e} (QEMU {})", code_word(c)),
            BadBoot::StatusMismatch { code, failed } => write!(
                f,
                "QEMU exit status {code} disagrees with the KTAP, which has {failed} failed case(s)"
            ),
        }
    }
}

/// Exit status the image should produce for `failed` cases.
pub fn expected_code(failed: usize) -> i32 {
    failed.min(250) as i32
}

/// Reconciles exit status and KTAP.
pub fn judge(boot: &Boot) -> std::result::Result<Verdict, BadBoot> {
    if let Some(u) = &boot.unmet {
        return Err(BadBoot::Dialogue(u.clone()));
    }
    if let Some(h) = boot.hang {
        return Err(BadBoot::Hung(h));
    }
    let code = match boot.status {
        Some(s) => match s.code() {
            Some(c) => Some(c),
            None => return Err(BadBoot::Signal(s.to_string())),
        },
        None => None,
    };
    let report = match ktap::parse(&boot.console) {
        Ok(r) => r,
        Err(ktap::Error {
            kind: ktap::ErrorKind::NoKtap,
            ..
        }) => return Err(BadBoot::NoKtap(code)),
        Err(e) => return Err(BadBoot::Ktap(e, code)),
    };
    let failed = report.failed().len();
    let code = code.unwrap_or(-1);
    let said_nothing_tested = report
        .all_diagnostics()
        .iter()
        .any(|d| d.contains(NOTHING_TESTED_TEXT));
    let nothing_tested = failed == 0 && code == NOTHING_TESTED && said_nothing_tested;
    if code != expected_code(failed) && !nothing_tested {
        return Err(BadBoot::StatusMismatch { code, failed });
    }
    Ok(Verdict {
        report,
        code,
        nothing_tested,
    })
}

/// Parses `QEMU emulator version X.Y.Z ...` into (X, Y).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version").nth(1)?.trim_start();
    let v = rest.split_whitespace().next()?;
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it
        .next()
        .and_then(|m| {
            m.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    Some((major, minor))
}

/// The installed QEMU's version, or None if it is missing or unreadable.
pub fn installed_version() -> Option<(u32, u32)> {
    let out = Command::new(program())
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    const GOOD: &str = "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 a\nok 1 g\n# Totals: pass:1 fail:0 skip:0 total:1\n";
    const ONE_FAIL: &str = "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 a\n    not ok 2 injected_failure\nnot ok 1 platform\n# Totals: pass:1 fail:1 skip:0 total:2\n";

    fn boot(console: &str, code: Option<i32>) -> Boot {
        Boot {
            console: console.into(),
            // wait(2) encoding: exit code in bits 8..15.
            status: code.map(|c| ExitStatus::from_raw(c << 8)),
            hang: None,
            unmet: None,
            elapsed: Duration::ZERO,
            command: String::new(),
        }
    }

    #[test]
    fn default_command_line_matches_the_contract() {
        let m = Machine::default();
        let a = m.args(Path::new("Image"), None).join(" ");
        assert_eq!(
            a,
            "-M virt,iommu=smmuv3 -cpu cortex-a57 -m 256M -nodefaults -display none \
             -serial stdio -semihosting-config enable=on,target=native -kernel Image \
             -append iommu_bringup.exit=semihosting \
             -device edu,addr=4.0,dma_mask=0xffffffffffffffff \
             -device edu,addr=5.0,dma_mask=0xffffffffffffffff -icount shift=8,sleep=off"
        );
        let real_time = Machine {
            icount: false,
            ..Machine::default()
        };
        assert!(!real_time
            .args(Path::new("Image"), None)
            .join(" ")
            .contains("icount"));
    }

    #[test]
    fn blk_adds_two_translated_virtio_blk_devices() {
        let m = Machine {
            iommu: Iommu::Virtio,
            blk: true,
            ..Machine::default()
        };
        let a = m.args(Path::new("Image"), None).join(" ");
        assert!(a.contains("-device virtio-iommu-pci,addr=3.0"), "{a}");
        for i in 0..BLK_DEVICES {
            assert!(
                a.contains(&format!(
                    "virtio-blk-pci,drive=blk{i},addr={}.0,iommu_platform=on,disable-legacy=on",
                    6 + i
                )),
                "{a}"
            );
            assert!(
                a.contains(&format!("disk-run-{i}.img,if=none,format=raw,id=blk{i}")),
                "{a}"
            );
        }
        let plain = Machine::default().args(Path::new("Image"), None).join(" ");
        assert!(!plain.contains("virtio-blk"), "{plain}");
    }

    #[test]
    fn edus_behind_bridges() {
        let args = |edus| {
            Machine {
                edus,
                ..Machine::default()
            }
            .args(Path::new("Image"), None)
            .join(" ")
        };
        let a = args(Edus::RootPorts);
        assert!(
            a.contains("-device pcie-root-port,id=rp1,bus=pcie.0,addr=1.0,chassis=1"),
            "{a}"
        );
        assert!(a.contains("-device edu,bus=rp2,addr=0.0,dma_mask=0xffffffffffffffff"));
        assert!(!a.contains("edu,addr=4.0"), "{a}");
        let a = args(Edus::PciBridge);
        assert!(
            a.contains("-device pcie-pci-bridge,id=br2,bus=rp2,addr=0.0"),
            "{a}"
        );
        assert_eq!(a.matches("-device edu,bus=br").count(), 3, "{a}");
        assert_eq!(Edus::parse("pci-bridge"), Some(Edus::PciBridge));
        assert_eq!(Edus::parse("bridge"), None);
    }

    #[test]
    fn el2_trampoline_and_bootargs() {
        let m = Machine {
            el2: true,
            load: Load::At(0x4BE0_0000),
            bootargs: "iommu_bringup.inject=fail-one".into(),
            iommu: Iommu::Virtio,
            extra: vec!["-s".into()],
            ..Machine::default()
        };
        let a = m.args(Path::new("Image"), Some(Path::new("t.elf")));
        let s = a.join(" ");
        assert!(s.starts_with("-M virt,virtualization=on "), "{s}");
        assert!(s.contains("-kernel t.elf -device loader,file=Image,addr=0x4be00000,force-raw=on"));
        assert!(a.contains(&"iommu_bringup.exit=semihosting iommu_bringup.inject=fail-one".into()));
        assert!(s.contains("virtio-iommu-pci,addr=3.0"));
        assert!(s.ends_with(" -s"));
    }

    #[test]
    fn verdicts() {
        assert!(judge(&boot(GOOD, Some(0))).is_ok());
        let v = judge(&boot(ONE_FAIL, Some(1))).expect("consistent failure");
        assert_eq!(v.code, 1);
        assert!(matches!(
            judge(&boot(ONE_FAIL, Some(0))),
            Err(BadBoot::StatusMismatch { code: 0, failed: 1 })
        ));
        assert!(matches!(
            judge(&boot(GOOD, Some(3))),
            Err(BadBoot::StatusMismatch { .. })
        ));
        assert!(matches!(
            judge(&boot("", Some(1))),
            Err(BadBoot::NoKtap(Some(1)))
        ));
        assert!(matches!(
            judge(&boot(&GOOD[..40], Some(255))),
            Err(BadBoot::Ktap(_, Some(255)))
        ));
        let mut b = boot(GOOD, None);
        b.status = Some(ExitStatus::from_raw(9)); // SIGKILL
        assert!(matches!(judge(&b), Err(BadBoot::Signal(_))));
        let mut b = boot("", None);
        b.hang = Some(Hang::Silent(Duration::from_secs(30)));
        let e = judge(&b).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(e, Err("QEMU hung: no output for 30 s (killed)".into()));
    }

    fn fake(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn streams_a_fake_qemu_and_judges_it() {
        let script = format!("printf '%s' '{ONE_FAIL}'; exit 1");
        let limits = Limits::from_total(20);
        let b = stream(fake(&script), limits, Echo::Quiet).expect("fake runs");
        assert_eq!(b.console, ONE_FAIL);
        assert!(b.hang.is_none());
        assert_eq!(judge(&b).map(|v| v.code).ok(), Some(1));
        // Crash after partial output: signal, reported as such.
        let b = stream(
            fake("echo 'KTAP version 1'; kill -9 $$"),
            limits,
            Echo::Quiet,
        )
        .expect("fake runs");
        assert!(matches!(judge(&b), Err(BadBoot::Signal(_))));
    }

    #[test]
    fn kills_a_silent_fake_qemu() {
        let limits = Limits {
            idle: Duration::from_millis(300),
            total: Duration::from_secs(20),
        };
        let b = stream(
            fake("echo 'KTAP version 1'; exec sleep 30"),
            limits,
            Echo::Quiet,
        )
        .expect("fake runs");
        assert_eq!(b.hang, Some(Hang::Silent(Duration::from_millis(300))));
        assert!(b.elapsed < Duration::from_secs(10));
        let limits = Limits {
            idle: Duration::from_secs(20),
            total: Duration::from_millis(500),
        };
        let b = stream(
            fake("while true; do echo chatter; sleep 0.1; done"),
            limits,
            Echo::Quiet,
        )
        .expect("fake runs");
        assert_eq!(b.hang, Some(Hang::Total(Duration::from_millis(500))));
        assert!(b.console.starts_with("chatter"));
    }

    #[test]
    fn uboot_boots_from_bios_with_the_payload_preloaded() {
        let m = Machine {
            load: Load::UBoot(UBoot::Gzip),
            ..Machine::default()
        };
        let a = m.args(Path::new("Image.gz"), None).join(" ");
        assert!(
            a.contains(
                "-bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \
                 -device loader,file=Image.gz,addr=0x40400000,force-raw=on"
            ),
            "{a}"
        );
        // The bootargs are typed at U-Boot, nothing is QEMU's -kernel.
        assert!(!a.contains("-kernel") && !a.contains("-append"), "{a}");
        assert!(a.ends_with("-icount shift=8,sleep=off"), "{a}");
        let m = Machine {
            load: Load::UBoot(UBoot::FlatAt(0x4048_0000)),
            ..Machine::default()
        };
        let a = m.args(Path::new("Image"), None).join(" ");
        assert!(
            a.contains("loader,file=Image,addr=0x40480000,force-raw=on"),
            "{a}"
        );
    }

    fn step(wait_for: &str, send: &str) -> Step {
        Step {
            wait_for: wait_for.into(),
            what: format!("the fake's `{wait_for}`"),
            send: send.into(),
        }
    }

    #[test]
    fn types_a_dialogue_into_a_fake_console() {
        let script = "printf 'Hit any key to stop\\n'; read k; printf '=> '; read l; \
                      echo \"got:$l\"; printf '=> '; read m; echo \"then:$m\"";
        let steps = [
            step("Hit any key", " \n"),
            step("=> ", "setenv bootargs a b\n"),
            step("=> ", "booti\n"),
            step("then:booti", ""),
        ];
        let b = stream_with(
            fake(script),
            Limits::from_total(20),
            Echo::Quiet,
            &steps,
            Duration::from_secs(10),
        )
        .expect("fake runs");
        assert_eq!(b.unmet, None, "{}", b.console);
        assert!(
            b.console.contains("got:setenv bootargs a b"),
            "{}",
            b.console
        );
        assert!(b.console.contains("then:booti"), "{}", b.console);
    }

    #[test]
    fn a_missing_prompt_is_named_and_bounded() {
        // Never prints the prompt: killed after the step timeout, not the
        // 20 s limits, and the failure names what was awaited.
        let steps = [step("Hit any key", " \n"), step("=> ", "booti\n")];
        let b = stream_with(
            fake("echo 'Hit any key'; exec sleep 30"),
            Limits::from_total(20),
            Echo::Quiet,
            &steps,
            Duration::from_millis(300),
        )
        .expect("fake runs");
        assert!(b.elapsed < Duration::from_secs(10));
        assert_eq!(b.status, None);
        let e = judge(&b).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("waited 0 s for the fake's `=> ` (`=>`) on the console; killed QEMU".into())
        );
        // A console that ends first says so.
        let b = stream_with(
            fake("echo 'U-Boot'"),
            Limits::from_total(20),
            Echo::Quiet,
            &steps,
            Duration::from_secs(10),
        )
        .expect("fake runs");
        let e = judge(&b).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err(
                "the console ended while waiting for the fake's `Hit any key` (`Hit any key`)"
                    .into()
            )
        );
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version(
                "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright"
            ),
            Some((10, 0))
        );
        assert_eq!(parse_version("QEMU emulator version 7.2.15"), Some((7, 2)));
        assert_eq!(parse_version("QEMU emulator version 9.1rc2"), Some((9, 1)));
        assert_eq!(parse_version("garbage"), None);
    }
}
