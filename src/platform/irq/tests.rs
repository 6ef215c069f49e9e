//! Host tests: timer-interrupt discovery on QEMU's own `virt` trees (GICv2
//! and GICv3) and on synthetic ones (an Apple AIC, names, partitions), and
//! the GIC programming against register models that can refuse a bit,
//! never finish a write (`RWP`) or never wake (`GICR_WAKER`).  The boards'
//! Debian DTBs are read in `tests/dt_boards.rs`.
#![forbid(unsafe_code)]

use super::discover::{timer_irq, GicVersion, NoTimerIrq, Trigger};
use super::*;
use crate::mm::addr::{PhysAddr, PhysRange};
use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::platform::dt::test_fdt::FdtBuilder;
use crate::platform::dt::tests::qemu_dtb_with;
use crate::platform::dt::Fdt;
use crate::time::fake::SteppingClock;
use core::cell::Cell;
use std::collections::BTreeMap;
use std::string::ToString;
use std::vec::Vec;

fn pr(base: u64, size: u64) -> PhysRange {
    PhysRange::new(PhysAddr(base), size)
}

fn clock() -> SteppingClock {
    SteppingClock {
        now: Cell::new(0),
        step: 10,
    }
}

// ---- discovery ----

#[test]
fn qemu_virt_gicv2_and_gicv3_trees() {
    for (opts, version) in [
        ("gic-version=2", GicVersion::V2),
        ("gic-version=3", GicVersion::V3),
    ] {
        let Some(blob) = qemu_dtb_with(opts, &[]) else {
            std::eprintln!(
                "SKIP qemu_virt_gicv2_and_gicv3_trees: qemu-system-aarch64 not available"
            );
            return;
        };
        let fdt = Fdt::parse(&blob).unwrap();
        let t = timer_irq(&fdt).unwrap();
        assert_eq!(t.timer_node, "timer");
        // <1 0xb flags>: the virtual timer, PPI 11 = INTID 27, level high
        // (GICv2 adds the CPU mask 0x1 in bits 15:8).
        assert_eq!((t.ppi, t.intid()), (11, 27));
        assert_eq!(t.trigger(), Trigger::LevelHigh);
        assert_eq!(t.gic.version, version);
        assert_eq!(t.gic.node, "intc@8000000");
        assert_eq!(t.gic.dist, pr(0x0800_0000, 0x1_0000));
        match version {
            GicVersion::V2 => {
                assert_eq!(t.flags, 0x104);
                assert_eq!(t.gic.compatible, "arm,cortex-a15-gic");
                assert_eq!(t.gic.cpu, Some(pr(0x0801_0000, 0x1_0000)));
                assert!(t.gic.redists().is_empty());
            }
            GicVersion::V3 => {
                assert_eq!(t.flags, 0x4);
                assert_eq!(t.gic.compatible, "arm,gic-v3");
                assert_eq!(t.gic.cpu, None);
                assert_eq!(t.gic.redists(), &[pr(0x080a_0000, 0xf6_0000)]);
                assert_eq!(t.gic.redist_stride, None);
            }
        }
    }
}

/// A root with `interrupt-parent`, a controller and a timer.
fn tree(controller: &str, cells: u32, timer: &[u32], names: Option<&[&str]>) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1)
        .prop_u32("interrupt-parent", 1);
    b.begin("soc")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1)
        .prop_empty("ranges");
    b.begin("interrupt-controller@3021000")
        .prop_str("compatible", controller)
        .prop_cells(
            "reg",
            &[
                0x0302_1000,
                0x1000,
                0x0302_2000,
                0x2000,
                0x0310_0000,
                0x10_0000,
            ],
        )
        .prop_empty("interrupt-controller")
        .prop_u32("#interrupt-cells", cells)
        .prop_u32("#redistributor-regions", 1)
        .prop_cells("redistributor-stride", &[0, 0x4_0000])
        .prop_u32("phandle", 1)
        .end();
    b.end();
    b.begin("timer")
        .prop_strs("compatible", &["arm,armv8-timer", "arm,armv7-timer"])
        .prop_cells("interrupts", timer);
    if let Some(n) = names {
        b.prop_strs("interrupt-names", n);
    }
    b.end();
    b.end();
    b.finish()
}

const QCOM_TIMER: &[u32] = &[1, 1, 0xf08, 1, 2, 0xf08, 1, 3, 0xf08, 1, 0, 0xf08];

#[test]
fn the_virtual_timer_is_the_third_entry_or_the_one_named_virt() {
    let blob = tree("arm,gic-v3", 3, QCOM_TIMER, None);
    let t = timer_irq(&Fdt::parse(&blob).unwrap()).unwrap();
    assert_eq!((t.ppi, t.intid(), t.trigger()), (3, 19, Trigger::LevelLow));
    assert_eq!(t.gic.version, GicVersion::V3);
    assert_eq!(t.gic.redists(), &[pr(0x0302_2000, 0x2000)]);
    assert_eq!(t.gic.redist_stride, Some(0x4_0000));
    // With names, the name decides, whatever the order.
    let named = tree(
        "arm,gic-v3",
        3,
        QCOM_TIMER,
        Some(&["sec-phys", "virt", "phys", "hyp-phys"]),
    );
    let t = timer_irq(&Fdt::parse(&named).unwrap()).unwrap();
    assert_eq!(t.ppi, 2);
    // GIC-400: the CPU interface is reg 1.
    let blob = tree("arm,gic-400", 3, QCOM_TIMER, None);
    let t = timer_irq(&Fdt::parse(&blob).unwrap()).unwrap();
    assert_eq!(t.gic.version, GicVersion::V2);
    assert_eq!(t.gic.cpu, Some(pr(0x0302_2000, 0x2000)));
}

#[test]
fn interrupts_extended_names_the_controller_per_entry() {
    // Two controllers: the timer's first entries go to a 2-cell one, the
    // virtual timer's to the GIC.
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    b.begin("interrupt-controller@3021000")
        .prop_str("compatible", "arm,gic-400")
        .prop_cells("reg", &[0x0302_1000, 0x1000, 0x0302_2000, 0x2000])
        .prop_empty("interrupt-controller")
        .prop_u32("#interrupt-cells", 3)
        .prop_u32("phandle", 1)
        .end();
    b.begin("intc@7000000")
        .prop_str("compatible", "vendor,other")
        .prop_empty("interrupt-controller")
        .prop_u32("#interrupt-cells", 2)
        .prop_u32("phandle", 2)
        .end();
    b.begin("timer")
        .prop_str("compatible", "arm,armv8-timer")
        .prop_cells(
            "interrupts-extended",
            &[2, 5, 4, 1, 1, 14, 8, 1, 1, 11, 8, 1, 1, 10, 8],
        )
        .end();
    b.end();
    let blob = b.finish();
    let t = timer_irq(&Fdt::parse(&blob).unwrap()).unwrap();
    assert_eq!((t.ppi, t.trigger()), (11, Trigger::LevelLow));
    assert_eq!(t.gic.node, "interrupt-controller@3021000");
}

#[test]
fn what_cannot_be_routed_says_why() {
    let err = |blob: Vec<u8>| {
        let fdt = Fdt::parse(&blob).unwrap();
        timer_irq(&fdt).unwrap_err().to_string()
    };
    // Apple's AIC (its timer is an FIQ, not a GIC PPI).
    let e = err(tree("apple,aic", 3, &[1, 0, 4, 1, 1, 4, 1, 2, 4], None));
    assert_eq!(
        e,
        "the timer's interrupt controller interrupt-controller@3021000 (apple,aic) is not a GICv2/GICv3 this image drives"
    );
    // An SPI where the virtual timer should be.
    let e = err(tree(
        "arm,gic-400",
        3,
        &[1, 13, 4, 1, 14, 4, 0, 11, 4],
        None,
    ));
    assert!(e.contains("not a PPI"), "{e}");
    // Too short.
    let e = err(tree("arm,gic-400", 3, &[1, 13, 4, 1, 14, 4], None));
    assert!(e.contains("no entry for the virtual timer"), "{e}");
    // A partitioned PPI.
    let e = err(tree(
        "arm,gic-v3",
        4,
        &[1, 13, 4, 0, 1, 14, 4, 0, 1, 11, 4, 7, 1, 10, 4, 0],
        None,
    ));
    assert!(e.contains("partitioned"), "{e}");
    // No timer at all.
    let mut b = FdtBuilder::new();
    b.begin("").end();
    let blob = b.finish();
    assert_eq!(
        timer_irq(&Fdt::parse(&blob).unwrap()),
        Err(NoTimerIrq::NoTimerNode)
    );
}

// ---- register models ----

/// A register file: reads return what was written, except for the
/// registers a test gives behaviour to.
#[derive(Default)]
struct Regs {
    vals: BTreeMap<usize, u64>,
    /// Writes in order.
    log: Vec<(usize, u64)>,
    /// Write-one-to-set registers (`ISENABLER`), with bits that ignore
    /// writes (a Secure PPI seen from the Non-secure side).
    w1s: BTreeMap<usize, u32>,
    /// `GICD_CTLR.RWP` (bit 31) reads set this many more times after a
    /// write to offset 0 (`u32::MAX`: forever).
    rwp_reads: u32,
    rwp_left: u32,
    /// `GICR_WAKER.ChildrenAsleep` follows `ProcessorSleep` unless stuck.
    waker_stuck: bool,
}

impl RegisterModel for Regs {
    fn read(&mut self, off: usize, _w: Width) -> u64 {
        let v = self.vals.get(&off).copied().unwrap_or(0);
        if off == 0 && self.rwp_left > 0 {
            if self.rwp_left != u32::MAX {
                self.rwp_left -= 1;
            }
            return v | u64::from(gicv3::GICD_CTLR_RWP);
        }
        v
    }
    fn write(&mut self, off: usize, _w: Width, val: u64) {
        self.log.push((off, val));
        if let Some(&wi) = self.w1s.get(&off) {
            let old = self.vals.get(&off).copied().unwrap_or(0);
            self.vals.insert(off, old | (val & !u64::from(wi)));
            return;
        }
        if off == 0 {
            self.rwp_left = self.rwp_reads;
        }
        if off == gicv3::GICR_WAKER {
            let mut v = val & !u64::from(gicv3::WAKER_CHILDREN_ASLEEP);
            if self.waker_stuck || val & u64::from(gicv3::WAKER_PROCESSOR_SLEEP) != 0 {
                v |= u64::from(gicv3::WAKER_CHILDREN_ASLEEP);
            }
            self.vals.insert(off, v);
            return;
        }
        self.vals.insert(off, val);
    }
}

fn model(init: &[(usize, u64)]) -> ModelMmio<Regs> {
    let mut r = Regs::default();
    r.vals.extend(init.iter().copied());
    ModelMmio::new(r)
}

#[test]
fn gicv2_enables_the_ppi_at_distributor_and_cpu_interface() {
    let dist = model(&[]);
    dist.model_mut().w1s.insert(gicv2::GICD_ISENABLER0, 0);
    let cpu = model(&[]);
    gicv2::enable_ppi(&dist, &cpu, 27).unwrap();
    let d = dist.model();
    assert_eq!(d.vals[&gicv2::GICD_CTLR], 1);
    assert_eq!(d.vals[&gicv2::GICD_ISENABLER0], 1 << 27);
    // INTID 27's priority is byte 3 of IPRIORITYR6 (0x418).
    assert_eq!(d.vals[&0x418], 0xa0 << 24);
    let c = cpu.model();
    assert_eq!(c.vals[&gicv2::GICC_PMR], 0xf0);
    assert_eq!(c.vals[&gicv2::GICC_CTLR], 1);
}

#[test]
fn gicv2_a_ppi_the_non_secure_side_cannot_enable_fails_by_register() {
    let dist = model(&[]);
    dist.model_mut().w1s.insert(gicv2::GICD_ISENABLER0, 1 << 27);
    let cpu = model(&[]);
    let e = gicv2::enable_ppi(&dist, &cpu, 27).unwrap_err();
    assert_eq!(
        e.to_string(),
        "GICD_ISENABLER0 (GICD + 0x100) reads 0x00000000 after setting 0x08000000"
    );
}

/// A GICv3 CPU interface that records what it was asked.
struct FakeCpu {
    sysregs: bool,
    affinity: u32,
    sre_sticks: bool,
    pmr: Cell<Option<u8>>,
}

impl CpuInterface for FakeCpu {
    fn has_sysregs(&self) -> bool {
        self.sysregs
    }
    fn affinity(&self) -> u32 {
        self.affinity
    }
    fn enable_sysregs(&self, pmr: u8) -> u64 {
        self.pmr.set(Some(pmr));
        if self.sre_sticks {
            0x7
        } else {
            0x6
        }
    }
}

fn cpu(affinity: u32) -> FakeCpu {
    FakeCpu {
        sysregs: true,
        affinity,
        sre_sticks: true,
        pmr: Cell::new(None),
    }
}

/// Redistributor frames: (PIDR2, TYPER) each.
fn frames(list: &[(u32, u64)]) -> Vec<ModelMmio<Regs>> {
    list.iter()
        .map(|&(pidr2, typer)| {
            model(&[
                (gicv3::GICR_PIDR2, u64::from(pidr2)),
                (gicv3::GICR_TYPER, typer),
                (
                    gicv3::GICR_WAKER,
                    u64::from(gicv3::WAKER_PROCESSOR_SLEEP | gicv3::WAKER_CHILDREN_ASLEEP),
                ),
            ])
        })
        .collect()
}

/// Maps frame `i` of `fs` at `base + i * step`, recording the addresses.
fn find(
    fs: Vec<ModelMmio<Regs>>,
    region: PhysRange,
    stride: Option<u64>,
    step: u64,
    affinity: u32,
) -> (Result<PhysAddr, GicError>, Vec<u64>) {
    let mut slots: Vec<Option<ModelMmio<Regs>>> = fs.into_iter().map(Some).collect();
    let mut seen = Vec::new();
    let mut map = |_: &'static str, r: PhysRange| {
        seen.push(r.base.0);
        let i = ((r.base.0 - region.base.0) / step) as usize;
        slots.get_mut(i).and_then(Option::take)
    };
    let r = gicv3::find_redistributor(&[region], stride, affinity, &mut map).map(|(_, b)| b);
    (r, seen)
}

const V3: u32 = 0x3b;
const V4: u32 = 0x4b;

#[test]
fn gicv3_the_redistributor_is_found_by_affinity_frame_by_frame() {
    let region = pr(0x080a_0000, 0xf6_0000);
    // Three GICv3 frames, 128 KiB apart; ours (affinity 0x100) second.
    let fs = frames(&[(V3, 0), (V3, 0x100 << 32), (V3, (0x200 << 32) | 0x10)]);
    let (r, seen) = find(fs, region, None, 0x2_0000, 0x100);
    assert_eq!(r.unwrap(), PhysAddr(0x080c_0000));
    assert_eq!(seen, [0x080a_0000, 0x080c_0000]);
    // GICv4 frames with vLPIs are 256 KiB apart.
    let fs = frames(&[(V4, 0x2), (V4, (0x1 << 32) | 0x2)]);
    let (r, seen) = find(fs, region, None, 0x4_0000, 0x1);
    assert_eq!(r.unwrap(), PhysAddr(0x080e_0000));
    assert_eq!(seen, [0x080a_0000, 0x080e_0000]);
    // A DT stride wins.
    let fs = frames(&[(V3, 0), (V3, 0x1 << 32)]);
    let (r, _) = find(fs, region, Some(0x8_0000), 0x8_0000, 0x1);
    assert_eq!(r.unwrap(), PhysAddr(0x0812_0000));
}

#[test]
fn gicv3_no_frame_for_this_cpu_or_no_redistributor_at_all_is_named() {
    let region = pr(0x080a_0000, 0xf6_0000);
    let fs = frames(&[(V3, 0), (V3, (0x1 << 32) | 0x10)]);
    let (r, _) = find(fs, region, None, 0x2_0000, 0x7);
    assert_eq!(
        r,
        Err(GicError::NoRedistributor {
            affinity: 0x7,
            frames: 2
        })
    );
    let fs = frames(&[(0x1b, 0)]);
    let (r, _) = find(fs, region, None, 0x2_0000, 0);
    assert_eq!(
        r.unwrap_err().to_string(),
        "no GICv3/v4 redistributor at 0x80a0000: GICR_PIDR2 reads 0x1b"
    );
}

fn v3_dist(ctlr: u64) -> ModelMmio<Regs> {
    let d = model(&[(gicv3::GICD_CTLR, ctlr)]);
    d.model_mut().rwp_reads = 2;
    d
}

fn v3_rd() -> ModelMmio<Regs> {
    let rd = frames(&[(V3, 0)]).pop().unwrap();
    rd.model_mut().w1s.insert(gicv3::GICR_ISENABLER0, 0);
    rd
}

#[test]
fn gicv3_turns_on_affinity_routing_wakes_the_redistributor_and_enables_the_ppi() {
    let dist = v3_dist(0);
    let rd = v3_rd();
    let cpu = cpu(0);
    gicv3::enable_ppi(&dist, &rd, 27, &cpu, &clock()).unwrap();
    let d = dist.model();
    // Enables off before ARE changes, then ARE_NS | G1A | G1.
    assert_eq!(d.log, [(0, 0), (0, 0x13)]);
    let r = rd.model();
    assert_eq!(r.vals[&gicv3::GICR_WAKER] & 0x6, 0);
    assert_eq!(r.vals[&gicv3::GICR_IGROUPR0], 1 << 27);
    assert_eq!(r.vals[&gicv3::GICR_ISENABLER0], 1 << 27);
    assert_eq!(r.vals[&(gicv3::GICR_IPRIORITYR + 24)], 0xa0 << 24);
    assert_eq!(cpu.pmr.get(), Some(0xf0));
    // A distributor already routed by affinity is left as it is.
    let dist = v3_dist(0x13);
    gicv3::enable_ppi(&dist, &v3_rd(), 27, &cpu, &clock()).unwrap();
    assert!(dist.model().log.is_empty());
}

#[test]
fn gicv3_waits_that_never_end_and_refusals_are_named() {
    let cpu0 = cpu(0);
    // RWP never clears.
    let dist = v3_dist(0);
    dist.model_mut().rwp_reads = u32::MAX;
    let e = gicv3::enable_ppi(&dist, &v3_rd(), 27, &cpu0, &clock()).unwrap_err();
    assert!(
        matches!(e, GicError::Timeout { reg: "GICD_CTLR.RWP", value, .. } if value & (1 << 31) != 0),
        "{e:?}"
    );
    // The redistributor never wakes.
    let rd = v3_rd();
    rd.model_mut().waker_stuck = true;
    let e = gicv3::enable_ppi(&v3_dist(0x13), &rd, 27, &cpu0, &clock()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("GICR + 0x14 still 0x00000004: timed out after"),
        "{text}"
    );
    assert!(
        text.ends_with("waiting for GICR_WAKER.ChildrenAsleep"),
        "{text}"
    );
    // A Secure PPI, a CPU without the interface, SRE held off.
    let rd = v3_rd();
    rd.model_mut().w1s.insert(gicv3::GICR_ISENABLER0, 1 << 27);
    let e = gicv3::enable_ppi(&v3_dist(0x13), &rd, 27, &cpu0, &clock()).unwrap_err();
    assert!(
        matches!(
            e,
            GicError::DidNotTake {
                reg: "GICR_ISENABLER0",
                ..
            }
        ),
        "{e:?}"
    );
    let no_if = FakeCpu {
        sysregs: false,
        ..cpu(0)
    };
    let e = gicv3::enable_ppi(&v3_dist(0x13), &v3_rd(), 27, &no_if, &clock()).unwrap_err();
    assert_eq!(e, GicError::NoSysregs);
    let held = FakeCpu {
        sre_sticks: false,
        ..cpu(0)
    };
    let e = gicv3::enable_ppi(&v3_dist(0x13), &v3_rd(), 27, &held, &clock()).unwrap_err();
    assert_eq!(e, GicError::SreRefused { sre: 0x6 });
}

#[test]
fn route_timer_maps_the_frames_the_dt_gives() {
    let blob = tree(
        "arm,gic-400",
        3,
        &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4],
        None,
    );
    let fdt = Fdt::parse(&blob).unwrap();
    let t = timer_irq(&fdt).unwrap();
    let mut asked = Vec::new();
    let mut map = |frame: &'static str, r: PhysRange| {
        asked.push((frame, r));
        let m = model(&[]);
        m.model_mut().w1s.insert(gicv2::GICD_ISENABLER0, 0);
        Some(m)
    };
    route_timer(&t, &mut map, &cpu(0), &clock()).unwrap();
    assert_eq!(
        asked,
        [
            ("GICD", pr(0x0302_1000, 0x1000)),
            ("GICC", pr(0x0302_2000, 0x2000))
        ]
    );
    // A frame that cannot be mapped is named.
    let mut none = |_: &'static str, _: PhysRange| None::<ModelMmio<Regs>>;
    let e = route_timer(&t, &mut none, &cpu(0), &clock()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "GICD frame [0x3021000..0x3022000) could not be mapped"
    );
}
