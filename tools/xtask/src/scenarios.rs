//! The QEMU scenario matrix of `cargo xtask test`, as data: how to boot, and
//! what the KTAP must show.  Adding a scenario (granules, virtio-iommu, the
//! skip-sync negative control) is adding a row to [`SCENARIOS`].

use crate::baddtb::DtbPatch;
use crate::ktap::{self, Report, Status};
use crate::qemu::{BadBoot, Edus, Iommu, Load, Machine, DEFAULT_RAM_MIB};
use crate::uboot::UBoot;

/// What a scenario's cases must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Every case `ok` (skips allowed), exit status 0.
    AllPass,
    /// Exactly this set of cases fails (`case` or `group.case`), and the exit
    /// status equals their number.
    ExpectFailures {
        /// The group the cases are in (`""`: `cases` name their group
        /// themselves, or any group).
        group: &'static str,
        /// The failing cases.
        cases: &'static [&'static str],
    },
    /// Nothing failed, but no IOMMU case ran: the image says "no IOMMU was
    /// tested" last and exits 253, which is not a pass.
    NothingTested,
    /// The run must end on a fatal path: `Bail out!` with this reason text
    /// and exactly this exit status (252 allocation failure, 254 exception,
    /// 255 panic).
    Fatal {
        /// Required QEMU exit status.
        status: i32,
        /// Text the `Bail out!` reason must contain.
        bail_out: &'static str,
    },
}

/// The device tree a scenario boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtb {
    /// The one QEMU generates.
    Qemu,
    /// QEMU's, patched (`baddtb.rs`).
    Patched(DtbPatch),
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Short stable name (JUnit suite prefix).
    pub name: &'static str,
    /// The IOMMU.
    pub iommu: Iommu,
    /// Enter at EL2 (`virtualization=on`).
    pub el2: bool,
    /// Extra `-M` options.
    pub machine_opts: &'static [&'static str],
    /// Bootargs after the runner's own.
    pub bootargs: &'static str,
    /// Load mode.
    pub load: Load,
    /// `-icount` virtual time (see `qemu::ICOUNT`); `false` runs
    /// virtual time at wall-clock speed.
    pub icount: bool,
    /// Two virtio-blk masters (`qemu::Machine::blk`).
    pub blk: bool,
    /// Where the edus sit (`qemu::Edus`).
    pub edus: Edus,
    /// QEMU's own device tree, or one of `baddtb.rs`'s patched ones.
    pub dtb: Dtb,
    /// Guest RAM in MiB (`-m`).
    pub ram_mib: u32,
    /// Case expectations.
    pub expect: Expectation,
    /// Substrings some KTAP diagnostic must contain (case-insensitive).
    pub diagnostics: &'static [&'static str],
}

/// The second load address: 2 MiB aligned, far from QEMU's 0x4020_0000, and
/// clear of the DTB, which QEMU puts at RAM base (0x4000_0000) for the
/// trampoline ELF boot.
pub const SECOND_LOAD_ADDR: u64 = 0x4BE0_0000;

/// `kernel_addr_r` of `uboot-booti-el2-moved`: RAM + 4.5 MiB, as boards
/// whose `kernel_addr_r` is RAM + 0x80000 (Allwinner's 0x40080000) have it
/// off a 2 MiB boundary; on QEMU RAM + 0x80000 itself is under the DTB QEMU
/// puts at RAM base, so 2 MiB higher.  `booti` moves the Image to the next
/// 2 MiB boundary, 0x4060_0000.
pub const UBOOT_UNALIGNED_ADDR: u64 = 0x4048_0000;

/// What the SMMUv3 negative control must fail, whatever the DMA master:
/// the driver's own list (stated once, in the driver).
pub const SMMUV3_SKIP_SYNC_FAILURES: &[&str] = iommu_bringup::iommu::smmuv3::SKIP_SYNC_FAILURES;

/// What the virtio-iommu negative control must fail: the driver's list.
pub const VIRTIO_SKIP_SYNC_FAILURES: &[&str] =
    iommu_bringup::iommu::virtio_iommu::SKIP_SYNC_FAILURES;

/// What the image says when its waits sleep on QEMU `virt`'s GICv2 (the
/// default `gic-version`).
pub const WAITS_SLEEP_GICV2: &str = "waits sleep in WFI, woken by the virtual timer's PPI 11 (INTID 27, level high) through GICv2 intc@8000000 (arm,cortex-a15-gic)";
/// The same on `gic-version=3`.
pub const WAITS_SLEEP_GICV3: &str = "waits sleep in WFI, woken by the virtual timer's PPI 11 (INTID 27, level high) through GICv3 intc@8000000 (arm,gic-v3)";

/// The SMMUv3 node on QEMU `virt`.
pub const SMMUV3_GROUP: &str = "smmuv3@9050000";
/// The virtio-iommu node on QEMU `virt` (PCI 00:03.0).
pub const VIRTIO_GROUP: &str = "virtio_iommu@3,0";

/// The matrix, in run order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "el1",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "image loaded at 0x40200000",
            "entered at EL1",
            // The one line of settings in force.
            "settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting)",
            // Its waits sleep: the timer's PPI reaches the CPU through the GICv2.
            WAITS_SLEEP_GICV2,
            // unmap_stale_window saw the cached translation: the SMMUv3
            // group ran and the invalidation cases had teeth.
            "reached 0x",
            "through the cached translation",
            // The invalidation paths the run reached (docs/design.md §5):
            // leaf-only TLBIs for single pages, RIL ranges with NUM > 0 and
            // with several SCALE steps, addresses above 4 GiB.
            "reached: leaf single-page, RIL NUM>0, several SCALEs, IOVA>=4GiB",
        ],
    },
    Scenario {
        name: "el2",
        iommu: Iommu::Smmuv3,
        el2: true,
        // A GICv3: boot.S lets EL1 use its system registers, and the waits
        // sleep through the redistributor.
        machine_opts: &["gic-version=3"],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "entered at EL2",
            "through the cached translation",
            WAITS_SLEEP_GICV3,
        ],
    },
    Scenario {
        name: "el1-realtime",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        // The quick catalogue: a DMA through a mapping, the stale window,
        // the blocked DMA, the canaries — the real-time waits without
        // repeating all ~250 edu DMAs (25 s of wall time).
        bootargs: "iommu_bringup.catalogue=quick",
        load: Load::Kernel,
        // Once without -icount, so the real-time waits (edu's 100 ms DMAs,
        // generic-timer timeouts, the timer interrupt waking WFI against
        // wall-clock virtual time) stay tested.
        icount: false,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "through the cached translation",
            "catalogue=quick (bootargs)",
            WAITS_SLEEP_GICV2,
        ],
    },
    Scenario {
        name: "smmuv3-16k",
        iommu: Iommu::Smmuv3,
        el2: false,
        // GICv3 entered at EL1, where the loader (QEMU) set ICC_SRE_EL2.
        machine_opts: &["gic-version=3"],
        // Upper case on purpose: values are case-insensitive, and the
        // settings line and a note must say what it was read as.
        bootargs: "iommu_bringup.granule=16K",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "through the cached translation",
            "settings: granule=16k (bootargs)",
            "read as `iommu_bringup.granule=16k`",
            WAITS_SLEEP_GICV3,
        ],
    },
    Scenario {
        name: "smmuv3-64k",
        iommu: Iommu::Smmuv3,
        el2: true,
        machine_opts: &[],
        bootargs: "iommu_bringup.granule=64k",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["through the cached translation"],
    },
    Scenario {
        name: "smmuv3-evtq-wrap",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        // A 32-entry event queue: a blocked 64-byte DMA writes 16 records,
        // so the run's faults wrap it many times; a driver that never
        // advanced EVTQ_CONS would overflow it (a health failure).
        bootargs: "iommu_bringup.evtq=5",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "evtq=2^5 entries (bootargs)",
            "2^5-entry event queue, wrapped",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "negative-skip-sync",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=skip-sync",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // The negative control: with every invalidation dropped, exactly the
        // cases that prove an invalidation works must fail.
        expect: Expectation::ExpectFailures {
            group: SMMUV3_GROUP,
            cases: SMMUV3_SKIP_SYNC_FAILURES,
        },
        diagnostics: &["drops every invalidation"],
    },
    Scenario {
        name: "virtio-iommu",
        iommu: Iommu::Virtio,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // The full catalogue on virtio-iommu with the edus: the stale-window
        // cases SKIP (no translation cache, docs/hw/qemu-virt.md §4), the rest pass.
        expect: Expectation::AllPass,
        diagnostics: &[
            "bypass off",
            "reserved Msi [0x8020000..=0x8020fff]",
            "edu@00:04.0 at IOVA",
            // the UNMAP the core's sync became
            "unmap of 1 page cost 1 invalidation commands",
        ],
    },
    Scenario {
        name: "virtio-iommu-blk",
        iommu: Iommu::Virtio,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: true,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["bypass off", "virtio-blk@00:06.0 at IOVA"],
    },
    Scenario {
        name: "smmuv3-blk",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: true,
        edus: Edus::RootBus,
        // virtio-blk's DMA through SMMUv3's IOTLB: the stale windows show.
        expect: Expectation::AllPass,
        diagnostics: &[
            "virtio-blk@00:06.0 at IOVA",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "smmuv3-root-ports",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootPorts,
        // Each edu behind its own pcie-root-port, as on real hardware: the
        // image numbers the ports' buses and opens their windows, and the
        // catalogue gives the same results as `el1` on streams 0x100/0x200.
        expect: Expectation::AllPass,
        diagnostics: &[
            "RootPort buses 01..=01",
            "edu@01:00.0: stream 0x100",
            "edu@02:00.0: stream 0x200",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "smmuv3-pci-bridge",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::PciBridge,
        // edus behind pcie-pci-bridges (behind root ports): their DMA carries
        // the bridge's requester ID (secondary bus, 00.0), and the SMMU's own
        // fault records must name that stream.  The second edu behind the
        // first bridge shares its stream and is not used as a second master.
        expect: Expectation::AllPass,
        diagnostics: &[
            "PcieToPci buses 02..=02",
            "edu@02:01.0: stream 0x200",
            "edu@04:01.0: stream 0x400",
            "02:02.0 issues DMA as requester 0x0200, stream 0x200, like 02:01.0",
            "Translation fault, sid 0x200",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "negative-skip-sync-virtio",
        iommu: Iommu::Virtio,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=skip-sync",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // virtio-iommu's negative control: every UNMAP dropped, so the
        // mapping stays valid in the device; the driver's list says which
        // cases that fails and why.
        expect: Expectation::ExpectFailures {
            group: VIRTIO_GROUP,
            cases: VIRTIO_SKIP_SYNC_FAILURES,
        },
        diagnostics: &["drops every UNMAP"],
    },
    Scenario {
        name: "negative-skip-sync-blk",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=skip-sync",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: true,
        edus: Edus::RootBus,
        // The SMMUv3 negative control with virtio-blk masters: the same
        // seven cases as with edu (skip-sync starts after the setup).
        expect: Expectation::ExpectFailures {
            group: SMMUV3_GROUP,
            cases: SMMUV3_SKIP_SYNC_FAILURES,
        },
        diagnostics: &["drops every invalidation"],
    },
    Scenario {
        name: "negative-skip-sync-virtio-blk",
        iommu: Iommu::Virtio,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=skip-sync",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: true,
        edus: Edus::RootBus,
        // The same control with virtio-blk masters: the same five cases.
        expect: Expectation::ExpectFailures {
            group: VIRTIO_GROUP,
            cases: VIRTIO_SKIP_SYNC_FAILURES,
        },
        diagnostics: &["drops every UNMAP", "virtio-blk@00:06.0 at IOVA"],
    },
    Scenario {
        name: "no-iommu",
        iommu: Iommu::None,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // No IOMMU in the tree: the platform cases pass, but nothing of an
        // IOMMU was tested, so the run says so last and exits 253 — a lab
        // must not read it as "all passed".
        expect: Expectation::NothingTested,
        diagnostics: &["no IOMMU was tested: the device tree has no IOMMU node"],
    },
    Scenario {
        name: "no-iommu-expected",
        iommu: Iommu::None,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.expect=no-iommu",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // The lab declares that no IOMMU is expected: the same run as
        // `no-iommu` is then a pass, and says why.
        expect: Expectation::AllPass,
        diagnostics: &[
            "no IOMMU was tested, as iommu_bringup.expect=no-iommu declared",
            "expect=no-iommu (bootargs)",
        ],
    },
    Scenario {
        name: "load-addr-2",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::At(SECOND_LOAD_ADDR),
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["image loaded at 0x4be00000"],
    },
    Scenario {
        name: "el2-vhe",
        iommu: Iommu::Smmuv3,
        el2: true,
        machine_opts: &[],
        bootargs: "",
        load: Load::AtVhe(SECOND_LOAD_ADDR),
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["entered at EL2", "HCR_EL2.E2H=1 at entry"],
    },
    Scenario {
        // el1's machine booted by Debian's QEMU U-Boot (`uboot.rs`): the
        // flat Image preloaded at U-Boot's kernel_addr_r, boot.cmd's lines
        // typed at the prompt; the results must equal a `-kernel` boot's.
        name: "uboot-booti",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::UBoot(UBoot::Flat),
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            // U-Boot's kernel_addr_r, not QEMU's -kernel 0x40200000.
            "image loaded at 0x40400000",
            "entered at EL1",
            // /chosen/bootargs as `setenv bootargs` left them.
            "exit=semihosting (bootargs: semihosting)",
            WAITS_SLEEP_GICV2,
            "through the cached translation",
        ],
    },
    Scenario {
        // The same with Image.gz and serial.cmd's lines: booti decompresses
        // through kernel_comp_addr_r and moves it back to kernel_addr_r.
        name: "uboot-booti-gz",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::UBoot(UBoot::Gzip),
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "image loaded at 0x40400000",
            "entered at EL1",
            "exit=semihosting (bootargs: semihosting)",
            "through the cached translation",
        ],
    },
    Scenario {
        // el2's machine (U-Boot itself runs at EL2 and enters the image
        // there) with kernel_addr_r at RAM + 4.5 MiB, not 2 MiB aligned:
        // booti moves the Image up to 0x40600000 (the "Moving Image" line
        // is a dialogue step).
        name: "uboot-booti-el2-moved",
        iommu: Iommu::Smmuv3,
        el2: true,
        machine_opts: &["gic-version=3"],
        bootargs: "",
        load: Load::UBoot(UBoot::FlatAt(UBOOT_UNALIGNED_ADDR)),
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "image loaded at 0x40600000",
            "entered at EL2",
            WAITS_SLEEP_GICV3,
            "through the cached translation",
        ],
    },
    Scenario {
        name: "negative-bad-dtb",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Patched(DtbPatch::NoRanges),
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // A DTB the image reads only in part must still give a KTAP
        // failure through the console and a non-zero exit, never silence.
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["platform.dt_discovery"],
        },
        diagnostics: &["has no `ranges` property"],
    },
    Scenario {
        name: "negative-bad-iommu-reg",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Patched(DtbPatch::UnbackedSmmuReg),
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // A `reg` where no device answers (docs/hw/qemu-virt.md §8), in
        // front of QEMU's SMMUv3: it fails by name with the register
        // offset and address, QEMU's SMMUv3 still runs every case, and the
        // run ends normally (exit status 1, no `Bail out!`).
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["smmuv3@b000000.setup"],
        },
        diagnostics: &[
            "smmuv3@b000000: bus fault at register offset 0x0 of its reg [0xb000000..0xb020000), address 0xb000000",
            "synchronous external abort (ESR_EL1 0x96000010)",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "driverless-iommu",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Patched(DtbPatch::DriverlessIommu),
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // An IOMMU this image does not test (a Qualcomm Adreno SMMU, left
        // to the GPU driver, with the GPU as its platform master) next to
        // QEMU's SMMUv3: it is a SKIP group naming why, never a silent pass
        // or a `#` note, and its registers are never read; QEMU's SMMUv3
        // still runs every case.  (An H6 sun50i node stood here until the
        // H6's VA port became a run-time check: such a node is now probed.)
        expect: Expectation::AllPass,
        diagnostics: &[
            "iommu@b100000.setup: SKIP iommu@b100000 (qcom,adreno-smmu): the smmuv2 driver leaves it alone",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "waits-poll-unknown-intc",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        // The quick catalogue: polled waits pay for edu's 100 ms in
        // instructions.
        bootargs: "iommu_bringup.catalogue=quick",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Patched(DtbPatch::UnknownIntc),
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // The timer's interrupt controller is one the image does not drive
        // (as on Apple boards): the waits poll, the KTAP header says so and
        // why, and the results are those of a sleeping run.
        expect: Expectation::AllPass,
        diagnostics: &[
            "waits poll (no WFI): the timer's interrupt controller intc@8000000 (vendor,unknown-intc) is not a GICv2/GICv3 this image drives",
            "through the cached translation",
        ],
    },
    Scenario {
        name: "negative-smmu-no-cells",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Patched(DtbPatch::SmmuWithoutCells),
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // An SMMUv3 node without `#iommu-cells`: it used to vanish and the
        // run passed with nothing tested.  Now the node fails by name, and
        // the PCIe `iommu-map` naming it fails as a tree error of its own.
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["smmuv3@9050000.setup", "iommu_discovery.setup"],
        },
        diagnostics: &[
            "(arm,smmu-v3) has no #iommu-cells",
            "PCI iommu-map",
        ],
    },
    Scenario {
        name: "negative-small-ram",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        // 8 MiB at 0x4000_0000: the image at 0x4020_0000 and QEMU's DTB in
        // the middle leave no free range of the 4 MiB the memory plan needs,
        // so there is no heap.  The console does not need one: the run
        // must still print one failing case with the numbers and exit 1.
        ram_mib: 8,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["platform.heap_and_dma_pool"],
        },
        diagnostics: &[
            "memory plan: heap and DMA pool need 0x400000 bytes (4096 KiB) of contiguous free RAM",
            "the largest free range is",
        ],
    },
    Scenario {
        name: "negative-fail-one",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=fail-one",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["platform.injected_failure"],
        },
        diagnostics: &[],
    },
    Scenario {
        name: "negative-bad-bootarg",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        // A misspelt value (`_` for `-`) next to a loader's own word.
        bootargs: "console=ttyAMA0 iommu_bringup.inject=skip_sync",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // The negative control must not quietly become a passing run: the
        // word is rejected by name with the accepted values, the IOMMU
        // group is skipped, and the run fails; the loader's word is only
        // listed.
        expect: Expectation::ExpectFailures {
            group: "",
            cases: &["platform.bootargs"],
        },
        diagnostics: &[
            "rejected `iommu_bringup.inject=skip_sync`: unknown inject value `skip_sync` (did you mean `skip-sync`?)",
            "`fail-one`, `skip-sync`, `exception`, `panic`, `oom`",
            "left to whoever else reads them: console=ttyAMA0",
            "inject=none (default)",
        ],
    },
    Scenario {
        name: "negative-exception",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=exception",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::Fatal {
            status: 254,
            bail_out: "unexpected exception",
        },
        diagnostics: &[],
    },
    Scenario {
        name: "negative-panic",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=panic",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::Fatal {
            status: 255,
            bail_out: "panic",
        },
        diagnostics: &[],
    },
    Scenario {
        name: "negative-oom",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=oom",
        load: Load::Kernel,
        icount: true,
        dtb: Dtb::Qemu,
        ram_mib: DEFAULT_RAM_MIB,
        blk: false,
        edus: Edus::RootBus,
        // A failed allocation names the request and the heap state in the
        // `Bail out!` line and has its own status.
        expect: Expectation::Fatal {
            status: 252,
            bail_out: "out of memory: allocation of",
        },
        diagnostics: &[],
    },
];

impl Scenario {
    /// The QEMU machine for this row.
    pub fn machine(&self) -> Machine {
        Machine {
            iommu: self.iommu,
            el2: self.el2,
            machine_opts: self.machine_opts.iter().map(|s| s.to_string()).collect(),
            bootargs: self.bootargs.to_string(),
            load: self.load,
            extra: Vec::new(),
            icount: self.icount,
            icount_setting: None,
            blk: self.blk,
            edus: self.edus,
            ram_mib: self.ram_mib,
            tag: self.name.to_string(),
        }
    }

    /// The same machine booted directly (`-kernel`), whose case results a
    /// U-Boot boot must equal; `None` for rows that are not booted through
    /// U-Boot.
    pub fn direct_reference(&self) -> Option<Scenario> {
        matches!(self.load, Load::UBoot(_)).then_some(Scenario {
            load: Load::Kernel,
            ..*self
        })
    }

    /// Checks a consistent report against the row's expectations; returns
    /// every problem found (empty = pass).
    #[cfg(test)]
    pub fn check(&self, report: &Report) -> Vec<String> {
        self.check_verdict(report, false)
    }

    /// [`Self::check`], knowing whether the run ended as "no IOMMU was
    /// tested" (exit status 253).
    pub fn check_verdict(&self, report: &Report, nothing_tested: bool) -> Vec<String> {
        let mut problems = Vec::new();
        match (self.expect, nothing_tested) {
            (Expectation::NothingTested, false) => problems.push(String::from(
                "expected the run to end with `no IOMMU was tested` and exit status 253",
            )),
            (Expectation::NothingTested, true) => {}
            (_, true) => problems.push(String::from(
                "no IOMMU was tested (exit status 253), but the scenario expects IOMMU cases to run",
            )),
            (_, false) => {}
        }
        let failed: Vec<_> = report
            .cases()
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .collect();
        let (group, wanted): (&str, &[&str]) = match self.expect {
            Expectation::AllPass | Expectation::NothingTested => ("", &[]),
            Expectation::ExpectFailures { group, cases } => (group, cases),
            Expectation::Fatal { status, bail_out } => {
                return vec![format!(
                    "the run completed normally, but `Bail out! {bail_out}` with exit status {status} was expected"
                )];
            }
        };
        let matches = |w: &str, c: &crate::ktap::CaseResult| {
            if group.is_empty() {
                w == c.case || w == c.qualified()
            } else {
                c.qualified() == format!("{group}.{w}")
            }
        };
        for c in &failed {
            if !wanted.iter().any(|w| matches(w, c)) {
                let why = c.diagnostics.last().map(String::as_str).unwrap_or("");
                problems.push(format!("unexpected failure: {} ({why})", c.qualified()));
            }
        }
        for w in wanted {
            if !failed.iter().any(|c| matches(w, c)) {
                let w = if group.is_empty() {
                    String::from(*w)
                } else {
                    format!("{group}.{w}")
                };
                problems.push(format!("expected `{w}` to fail, but it did not"));
            }
        }
        if report.cases().is_empty() {
            problems.push("the KTAP reports no cases at all".into());
        }
        let mut diags: Vec<String> = report
            .all_diagnostics()
            .into_iter()
            .map(String::from)
            .collect();
        // A SKIP's reason is evidence too (a driverless IOMMU's group).
        diags.extend(report.cases().into_iter().filter_map(|c| match &c.status {
            Status::Skip(r) => Some(format!("{}: SKIP {r}", c.qualified())),
            _ => None,
        }));
        for want in self.diagnostics {
            let w = want.to_ascii_lowercase();
            if !diags.iter().any(|d| d.to_ascii_lowercase().contains(&w)) {
                problems.push(format!("no diagnostic contains `{want}`"));
            }
        }
        problems
    }

    /// Compares a U-Boot boot's cases with the direct boot's (the row of
    /// [`Self::direct_reference`]): the same cases in the same order, each
    /// with the same verdict (a SKIP with the same reason).  Returns every
    /// difference (empty = equal).
    pub fn same_results(reference: &Report, got: &Report) -> Vec<String> {
        let r = reference.cases();
        let g = got.cases();
        let mut problems = Vec::new();
        for (a, b) in r.iter().zip(&g) {
            if a.qualified() != b.qualified() {
                problems.push(format!(
                    "case {} where the direct boot has {}",
                    b.qualified(),
                    a.qualified()
                ));
                break;
            }
            if a.status != b.status {
                problems.push(format!(
                    "{}: {:?} where the direct boot has {:?}",
                    b.qualified(),
                    b.status,
                    a.status
                ));
            }
        }
        if r.len() != g.len() {
            problems.push(format!(
                "{} cases where the direct boot has {}",
                g.len(),
                r.len()
            ));
        }
        problems
    }

    /// Checks a boot the runner judged unacceptable: only a `Fatal`
    /// expectation can accept it, and only with the right reason and status.
    pub fn check_bad(&self, bad: &BadBoot) -> Vec<String> {
        let Expectation::Fatal { status, bail_out } = self.expect else {
            return vec![bad.to_string()];
        };
        match bad {
            BadBoot::Ktap(
                ktap::Error {
                    kind: ktap::ErrorKind::BailOut { reason, .. },
                    ..
                },
                code,
            ) => {
                let mut p = Vec::new();
                if !reason.contains(bail_out) {
                    p.push(format!(
                        "`Bail out! {reason}` where `{bail_out}` was expected"
                    ));
                }
                if *code != Some(status) {
                    p.push(format!("exit status {code:?} where {status} was expected"));
                }
                p
            }
            other => vec![format!(
                "expected `Bail out! {bail_out}` with exit status {status}, got: {other}"
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ktap;

    fn report(s: &str) -> Report {
        match ktap::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    const PASS: &str = "KTAP version 1\n1..2\n# settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting); words: 1 applied, 0 not ours, 0 rejected\n# waits sleep in WFI, woken by the virtual timer's PPI 11 (INTID 27, level high) through GICv2 intc@8000000 (arm,cortex-a15-gic)\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    # image loaded at 0x40200000, image_size 0x67000\n    # entered at EL1, running at EL1\n    ok 1 relocation_applied\nok 1 platform\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..2\n    # DMA to 0x10001000 after unmap, invalidation held: reached 0x48a29000 through the cached translation\n    ok 1 unmap_stale_window\n    # smmuv3@9050000: invalidation shapes: 36 TLBI ranges, 18 leaf-only (14 single-page), 18 non-leaf; 4 with RIL NUM>0, 1 with several SCALE steps; 33 at IOVA>=4GiB; reached: leaf single-page, RIL NUM>0, several SCALEs, IOVA>=4GiB; 452 event records through a 2^11-entry event queue, never wrapped\n    ok 2 no_collateral_writes\nok 2 smmuv3@9050000\n# Totals: pass:3 fail:0 skip:0 total:3\n";
    const FAIL_ONE: &str = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: platform\n    1..2\n    ok 1 relocation_applied\n    # injected on purpose\n    not ok 2 injected_failure\nnot ok 1 platform\n# Totals: pass:1 fail:1 skip:0 total:2\n";

    fn row(name: &str) -> Scenario {
        match SCENARIOS.iter().find(|s| s.name == name) {
            Some(s) => *s,
            None => panic!("no scenario {name}"),
        }
    }

    #[test]
    fn matrix_has_the_required_rows() {
        for n in [
            "el1",
            "el2",
            "load-addr-2",
            "el2-vhe",
            "uboot-booti",
            "uboot-booti-gz",
            "uboot-booti-el2-moved",
            "el1-realtime",
            "waits-poll-unknown-intc",
            "smmuv3-16k",
            "smmuv3-64k",
            "smmuv3-evtq-wrap",
            "negative-skip-sync",
            "virtio-iommu",
            "virtio-iommu-blk",
            "smmuv3-blk",
            "smmuv3-root-ports",
            "smmuv3-pci-bridge",
            "negative-skip-sync-virtio",
            "negative-skip-sync-virtio-blk",
            "negative-skip-sync-blk",
            "negative-bad-dtb",
            "negative-bad-iommu-reg",
            "negative-fail-one",
            "negative-bad-bootarg",
            "negative-exception",
            "negative-panic",
            "negative-oom",
        ] {
            row(n);
        }
        let mut names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            SCENARIOS.len(),
            "scenario names must be unique"
        );
        assert_eq!(SECOND_LOAD_ADDR % (2 << 20), 0);
        // booti must have something to move.
        assert_ne!(UBOOT_UNALIGNED_ADDR % (2 << 20), 0);
    }

    #[test]
    fn all_pass_checks() {
        assert!(row("el1").check(&report(PASS)).is_empty());
        // A run where the SMMUv3 group did not run (or saw no cached
        // translation) is not a pass for el1.
        let p = row("el1").check(&report(
            FAIL_ONE
                .replace("not ok 2 injected_failure", "ok 2 injected_failure")
                .replace("not ok 1 platform", "ok 1 platform")
                .replace("fail:1", "fail:0")
                .replace("pass:1 ", "pass:2 ")
                .as_str(),
        ));
        assert!(
            p.iter()
                .any(|m| m.contains("through the cached translation")),
            "{p:?}"
        );
        let p = row("el1").check(&report(FAIL_ONE));
        assert!(
            p.iter()
                .any(|m| m.contains("unexpected failure: platform.injected_failure")),
            "{p:?}"
        );
        // A run whose invalidations missed a shape (here: no range with
        // several SCALE steps) is not a pass for el1.
        let p = row("el1").check(&report(
            PASS.replace("RIL NUM>0, several SCALEs, IOVA", "RIL NUM>0, IOVA")
                .as_str(),
        ));
        assert!(
            p.iter().any(|m| m.contains("reached: leaf single-page")),
            "{p:?}"
        );
        // A run whose waits polled (the timer interrupt did not reach the
        // CPU) is not a pass for el1.
        let p = row("el1").check(&report(
            PASS.replace(
                "# waits sleep in WFI",
                "# waits poll (no WFI): the timer fired but nothing was pending; was: sleep in WFI",
            )
            .as_str(),
        ));
        assert!(p.iter().any(|m| m.contains("waits sleep in WFI")), "{p:?}");
        // The wrong load address is caught.
        let p = row("load-addr-2").check(&report(PASS));
        assert_eq!(
            p,
            vec!["no diagnostic contains `image loaded at 0x4be00000`".to_string()]
        );
    }

    #[test]
    fn uboot_rows_compare_with_their_direct_boot() {
        let u = row("uboot-booti");
        let d = u.direct_reference().expect("a U-Boot row has a reference");
        assert_eq!(d.load, Load::Kernel);
        assert_eq!(
            d.machine().args(std::path::Path::new("I"), None),
            row("el1")
                .machine()
                .args(std::path::Path::new("I"), None)
                .into_iter()
                .map(|a| a.replace("el1", "uboot-booti"))
                .collect::<Vec<_>>()
        );
        assert!(row("el1").direct_reference().is_none());
        assert!(Scenario::same_results(&report(PASS), &report(PASS)).is_empty());
        // One verdict different, or a case missing, is caught.
        let skipped = PASS
            .replace(
                "ok 1 unmap_stale_window",
                "ok 1 unmap_stale_window # SKIP no TLB",
            )
            .replace("pass:3 fail:0 skip:0", "pass:2 fail:0 skip:1");
        let p = Scenario::same_results(&report(PASS), &report(&skipped));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("smmuv3@9050000.unmap_stale_window"), "{p:?}");
        let p = Scenario::same_results(&report(PASS), &report(FAIL_ONE));
        assert!(!p.is_empty());
    }

    #[test]
    fn fatal_expectations() {
        let bail = |reason: &str, code| {
            BadBoot::Ktap(
                ktap::Error {
                    line: 9,
                    kind: ktap::ErrorKind::BailOut {
                        reason: reason.into(),
                        context: vec![],
                    },
                },
                Some(code),
            )
        };
        let exc = row("negative-exception");
        assert!(exc.check_bad(&bail("unexpected exception", 254)).is_empty());
        assert_eq!(exc.check_bad(&bail("unexpected exception", 255)).len(), 1);
        assert_eq!(exc.check_bad(&bail("panic", 254)).len(), 1);
        assert_eq!(exc.check_bad(&BadBoot::NoKtap(Some(254))).len(), 1);
        assert_eq!(exc.check(&report(PASS)).len(), 1);
        // Other expectations never accept a bad boot.
        assert_eq!(row("el1").check_bad(&bail("panic", 255)).len(), 1);
        assert!(row("negative-panic")
            .check_bad(&bail("panic", 255))
            .is_empty());
        let oom = row("negative-oom");
        let reason = "out of memory: allocation of 8388609 bytes (align 1) failed: heap 8388608 bytes, 9240 in use, 8379368 free";
        assert!(oom.check_bad(&bail(reason, 252)).is_empty());
        assert_eq!(oom.check_bad(&bail(reason, 255)).len(), 1);
        assert_eq!(oom.check_bad(&bail("panic", 252)).len(), 1);
    }

    #[test]
    fn bad_bootarg_needs_the_rejection_named() {
        let row = row("negative-bad-bootarg");
        let good = "KTAP version 1\n1..2\n# settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting); words: 1 applied, 1 not ours, 1 rejected\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    # not iommu_bringup.* words, left to whoever else reads them: console=ttyAMA0\n    # rejected `iommu_bringup.inject=skip_sync`: unknown inject value `skip_sync` (did you mean `skip-sync`?); accepted: `fail-one`, `skip-sync`, `exception`, `panic`, `oom`, as a comma list (case-insensitive); nothing of it was applied\n    not ok 1 bootargs\nnot ok 1 platform\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..1\n    ok 1 setup # SKIP 1 iommu_bringup.* bootargs word(s) rejected (see platform.bootargs): not the run that was asked for\nok 2 smmuv3@9050000 # SKIP every case skipped\n# Totals: pass:0 fail:1 skip:1 total:2\n";
        let p = row.check(&report(good));
        assert!(p.is_empty(), "{p:?}");
        // A run that took the misspelt word silently (all pass) is caught.
        let p = row.check(&report(PASS));
        assert!(
            p.iter()
                .any(|m| m.contains("expected `platform.bootargs` to fail")),
            "{p:?}"
        );
    }

    #[test]
    fn small_ram_needs_the_plan_failure_with_numbers() {
        assert_eq!(row("el1").machine().ram_mib, DEFAULT_RAM_MIB);
        let row = row("negative-small-ram");
        assert_eq!(row.machine().ram_mib, 8);
        let good = "KTAP version 1\n1..1\n# settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting); words: 1 applied, 0 not ours, 0 rejected\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    # memory plan: heap and DMA pool need 0x400000 bytes (4096 KiB) of contiguous free RAM; the largest free range is [0x40500000..0x40800000), 0x300000 bytes (3072 KiB) (0x64f000 bytes = 6460 KiB free in 3 ranges)\n    # no heap and no DMA pool: nothing else can run\n    not ok 1 heap_and_dma_pool\nnot ok 1 platform\n# Totals: pass:0 fail:1 skip:0 total:1\n";
        let p = row.check(&report(good));
        assert!(p.is_empty(), "{p:?}");
        // The same failure without the numbers is not enough.
        let p = row.check(&report(&good.replace(
            "heap and DMA pool need 0x400000 bytes (4096 KiB) of contiguous free RAM; ",
            "",
        )));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(!row.check(&report(FAIL_ONE)).is_empty());
    }

    #[test]
    fn expected_failures_are_an_exact_set() {
        assert!(row("negative-fail-one").check(&report(FAIL_ONE)).is_empty());
        let p = row("negative-fail-one").check(&report(PASS));
        assert_eq!(
            p,
            vec!["expected `platform.injected_failure` to fail, but it did not".to_string()]
        );
        let s = Scenario {
            expect: Expectation::ExpectFailures {
                group: "platform",
                cases: &["injected_failure"],
            },
            ..row("negative-fail-one")
        };
        assert!(s.check(&report(FAIL_ONE)).is_empty());
    }
}
