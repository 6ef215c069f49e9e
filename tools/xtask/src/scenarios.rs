//! The QEMU scenario matrix of `cargo xtask test`, as data: how to boot, and
//! what the KTAP must show.  Adding a scenario (granules, virtio-iommu, the
//! skip-sync negative control) is adding a row to [`SCENARIOS`].

use crate::ktap::{self, Report, Status};
use crate::qemu::{BadBoot, Edus, Iommu, Load, Machine};

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
    /// The run must end on a fatal path: `Bail out!` with this reason text
    /// and exactly this exit status (254 exception, 255 panic).
    Fatal {
        /// Required QEMU exit status.
        status: i32,
        /// Text the `Bail out!` reason must contain.
        bail_out: &'static str,
    },
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
    /// `-icount` virtual time (see `qemu::ICOUNT_SHIFT`); `false` runs
    /// virtual time at wall-clock speed.
    pub icount: bool,
    /// Two virtio-blk masters (`qemu::Machine::blk`).
    pub blk: bool,
    /// Where the edus sit (`qemu::Edus`).
    pub edus: Edus,
    /// Boot with a device tree the image can only partly read
    /// (`baddtb.rs`) instead of QEMU's own.
    pub broken_dtb: bool,
    /// Case expectations.
    pub expect: Expectation,
    /// Substrings some KTAP diagnostic must contain (case-insensitive).
    pub diagnostics: &'static [&'static str],
}

/// The second load address: 2 MiB aligned, far from QEMU's 0x4020_0000, and
/// clear of the DTB, which QEMU puts at RAM base (0x4000_0000) for the
/// trampoline ELF boot.
pub const SECOND_LOAD_ADDR: u64 = 0x4BE0_0000;

/// What the SMMUv3 negative control must fail, whatever the DMA master:
/// the driver's own list (stated once, in the driver).
pub const SMMUV3_SKIP_SYNC_FAILURES: &[&str] = iommu_bringup::iommu::smmuv3::SKIP_SYNC_FAILURES;

/// What the virtio-iommu negative control must fail: the driver's list.
pub const VIRTIO_SKIP_SYNC_FAILURES: &[&str] =
    iommu_bringup::iommu::virtio_iommu::SKIP_SYNC_FAILURES;

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
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "image loaded at 0x40200000",
            "entered at EL1",
            // The one line of settings in force.
            "settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting)",
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
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["entered at EL2", "through the cached translation"],
    },
    Scenario {
        name: "el1-realtime",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        // Once without -icount, so the real-time waits (edu's 100 ms DMAs,
        // generic-timer timeouts against wall-clock virtual time) stay tested.
        icount: false,
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["through the cached translation"],
    },
    Scenario {
        name: "smmuv3-16k",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        // Upper case on purpose: values are case-insensitive, and the
        // settings line and a note must say what it was read as.
        bootargs: "iommu_bringup.granule=16K",
        load: Load::Kernel,
        icount: true,
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &[
            "through the cached translation",
            "settings: granule=16k (bootargs)",
            "read as `iommu_bringup.granule=16k`",
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        // virtio-iommu's negative control: every UNMAP dropped, so the
        // mapping stays valid in the device.  Fails: the unmapped page is
        // still written (unmap_invalidate_blocks_dma, range_invalidate,
        // empty_gather_still_syncs, which also sees 0 UNMAPs), no fault is
        // recorded for the "unmapped" IOVA (fault_record), and the remap's
        // MAP overlaps the stale mapping (S_INVAL, remap_invalidate_new_page).
        // asid_invalidate, config_invalidate and the stale windows SKIP or
        // pass: nothing is cached, and ATTACH/DETACH are never dropped.
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
        broken_dtb: false,
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
        broken_dtb: false,
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
        name: "load-addr-2",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::At(SECOND_LOAD_ADDR),
        icount: true,
        broken_dtb: false,
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
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::AllPass,
        diagnostics: &["entered at EL2", "HCR_EL2.E2H=1 at entry"],
    },
    Scenario {
        name: "negative-bad-dtb",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "",
        load: Load::Kernel,
        icount: true,
        broken_dtb: true,
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
        name: "negative-fail-one",
        iommu: Iommu::Smmuv3,
        el2: false,
        machine_opts: &[],
        bootargs: "iommu_bringup.inject=fail-one",
        load: Load::Kernel,
        icount: true,
        broken_dtb: false,
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
        broken_dtb: false,
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
            "`fail-one`, `skip-sync`, `exception`, `panic`",
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
        broken_dtb: false,
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
        broken_dtb: false,
        blk: false,
        edus: Edus::RootBus,
        expect: Expectation::Fatal {
            status: 255,
            bail_out: "panic",
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
            blk: self.blk,
            edus: self.edus,
        }
    }

    /// Checks a consistent report against the row's expectations; returns
    /// every problem found (empty = pass).
    pub fn check(&self, report: &Report) -> Vec<String> {
        let mut problems = Vec::new();
        let failed: Vec<_> = report
            .cases()
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .collect();
        let (group, wanted): (&str, &[&str]) = match self.expect {
            Expectation::AllPass => ("", &[]),
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
        let diags = report.all_diagnostics();
        for want in self.diagnostics {
            let w = want.to_ascii_lowercase();
            if !diags.iter().any(|d| d.to_ascii_lowercase().contains(&w)) {
                problems.push(format!("no diagnostic contains `{want}`"));
            }
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

    const PASS: &str = "KTAP version 1\n1..2\n# settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting); words: 1 applied, 0 not ours, 0 rejected\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    # image loaded at 0x40200000, image_size 0x67000\n    # entered at EL1, running at EL1\n    ok 1 relocation_applied\nok 1 platform\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..2\n    # DMA to 0x10001000 after unmap, invalidation held: reached 0x48a29000 through the cached translation\n    ok 1 unmap_stale_window\n    # smmuv3@9050000: invalidation shapes: 36 TLBI ranges, 18 leaf-only (14 single-page), 18 non-leaf; 4 with RIL NUM>0, 1 with several SCALE steps; 33 at IOVA>=4GiB; reached: leaf single-page, RIL NUM>0, several SCALEs, IOVA>=4GiB; 452 event records through a 2^11-entry event queue, never wrapped\n    ok 2 no_collateral_writes\nok 2 smmuv3@9050000\n# Totals: pass:3 fail:0 skip:0 total:3\n";
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
            "el1-realtime",
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
            "negative-fail-one",
            "negative-bad-bootarg",
            "negative-exception",
            "negative-panic",
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
        // The wrong load address is caught.
        let p = row("load-addr-2").check(&report(PASS));
        assert_eq!(
            p,
            vec!["no diagnostic contains `image loaded at 0x4be00000`".to_string()]
        );
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
    }

    #[test]
    fn bad_bootarg_needs_the_rejection_named() {
        let row = row("negative-bad-bootarg");
        let good = "KTAP version 1\n1..2\n# settings: granule=4k (default), inject=none (default), exit=semihosting (bootargs: semihosting); words: 1 applied, 1 not ours, 1 rejected\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    # not iommu_bringup.* words, left to whoever else reads them: console=ttyAMA0\n    # rejected `iommu_bringup.inject=skip_sync`: unknown inject value `skip_sync` (did you mean `skip-sync`?); accepted: `fail-one`, `skip-sync`, `exception`, `panic`, as a comma list (case-insensitive); nothing of it was applied\n    not ok 1 bootargs\nnot ok 1 platform\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..1\n    ok 1 setup # SKIP 1 iommu_bringup.* bootargs word(s) rejected (see platform.bootargs): not the run that was asked for\nok 2 smmuv3@9050000 # SKIP every case skipped\n# Totals: pass:0 fail:1 skip:1 total:2\n";
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
