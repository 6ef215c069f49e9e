//! Host tests of the plan: every IOMMU node becomes a group with the right
//! verdict, and the causes a lab would chase are named before any case
//! runs (issue 10 items 4 and 9).

use super::*;
use crate::platform::dt::test_fdt::FdtBuilder;
use crate::platform::pci::host::HostBridge;
use crate::platform::pci::Bdf;

/// A QEMU-`virt`-like tree: memory, an SMMUv3 (phandle 0x8003), a PCIe
/// host whose `iommu-map` is `map` (none when empty), plus whatever
/// `extra` adds at the root.
fn tree(smmu_cells: Option<u32>, map: &[u32], extra: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2)
        .prop_str("compatible", "linux,dummy-virt");
    b.begin("memory@40000000")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .prop_str("device_type", "memory")
        .end();
    b.begin("smmuv3@9050000");
    if let Some(c) = smmu_cells {
        b.prop_u32("#iommu-cells", c);
    }
    b.prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
        .prop_str("compatible", "arm,smmu-v3")
        .prop_u32("phandle", 0x8003)
        .end();
    b.begin("pcie@10000000")
        .prop_str("device_type", "pci")
        .prop_cells("reg", &[0x40, 0x1000_0000, 0, 0x1000_0000]);
    if !map.is_empty() {
        b.prop_cells("iommu-map", map);
    }
    b.end();
    extra(&mut b);
    b.end();
    b.finish()
}

fn edu(dev: u8, rid: u16) -> Function {
    Function {
        bdf: Bdf::new(0, dev, 0).unwrap(),
        vendor: edu::VENDOR,
        device: edu::DEVICE,
        class: 0x00ff00,
        revision: 0,
        header_type: 0,
        bars: Vec::new(),
        caps: Vec::new(),
        parent: None,
        dma_rid: rid,
        bridge: None,
    }
}

fn hosts(funcs: Vec<Function>) -> Result<Vec<PciHost>, HostError> {
    Ok(alloc::vec![PciHost {
        bridge: HostBridge {
            path: String::from("/pcie@10000000"),
            ecam: PhysRange::new(crate::mm::PhysAddr(0x40_1000_0000), 0x1000_0000),
            buses: (0, 0xff),
            windows: Vec::new(),
            dma_coherent: false,
        },
        functions: Ok(funcs),
    }])
}

fn two_edus() -> Result<Vec<PciHost>, HostError> {
    hosts(alloc::vec![edu(4, 0x20), edu(5, 0x28)])
}

const FULL_MAP: &[u32] = &[0, 0x8003, 0, 0x10000];

fn state(p: &[Planned], name: &str) -> String {
    let g = p
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}"));
    match &g.state {
        PlanState::Run => String::from("run"),
        PlanState::Skip(r) => format!("skip: {r}"),
        PlanState::Fail(r) => format!("fail: {r}"),
    }
}

#[test]
fn a_good_tree_runs_the_smmu_with_both_edus() {
    let (p, notes) = plan(&tree(Some(1), FULL_MAP, |_| {}), &two_edus());
    assert_eq!(p.len(), 1);
    assert_eq!(state(&p, "smmuv3@9050000"), "run");
    let sids: Vec<u32> = p[0]
        .masters
        .iter()
        .map(|m| m.stream_on(0).unwrap().id)
        .collect();
    assert_eq!(sids, [0x20, 0x28]);
    assert!(notes.is_empty(), "{notes:?}");
}

/// QEMU's map covers every requester ID: on an IOMMU without TBUs none of
/// it is kept for a TBU port's stream choice (it was 64 Ki entries, 512 KiB
/// of the image's heap, held for the whole run).
#[test]
fn a_full_iommu_map_costs_nothing_without_tbus() {
    let (p, _) = plan(&tree(Some(1), FULL_MAP, |_| {}), &two_edus());
    assert_eq!(state(&p, "smmuv3@9050000"), "run");
    assert!(p[0].tbus.is_empty());
    assert_eq!(p[0].dt_streams.len(), 0);
}

#[test]
fn an_smmu_without_iommu_cells_fails_by_name_and_its_map_fails_too() {
    let (p, _) = plan(&tree(None, FULL_MAP, |_| {}), &two_edus());
    let s = state(&p, "smmuv3@9050000");
    assert!(
        s.starts_with("fail: ") && s.contains("has no #iommu-cells"),
        "{s}"
    );
    let d = state(&p, "iommu_discovery");
    assert!(d.starts_with("fail: PCI iommu-map"), "{d}");
}

#[test]
fn one_broken_provider_does_not_hide_the_others() {
    // An IOMMU whose #iommu-cells is absurd next to a good SMMUv3.
    let (p, _) = plan(
        &tree(Some(1), FULL_MAP, |b| {
            b.begin("iommu@a000000")
                .prop_u32("#iommu-cells", 9)
                .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x1000])
                .prop_str("compatible", "arm,mmu-500")
                .end();
        }),
        &two_edus(),
    );
    assert!(state(&p, "iommu@a000000").starts_with("fail: "));
    assert_eq!(state(&p, "smmuv3@9050000"), "run");
}

#[test]
fn disabled_and_driverless_iommus_are_skip_groups_with_the_reason() {
    let (p, _) = plan(
        &tree(Some(1), FULL_MAP, |b| {
            b.begin("iommu@b100000")
                .prop_u32("#iommu-cells", 1)
                .prop_cells("reg", &[0, 0x0b10_0000, 0, 0x1_0000])
                .prop_str("compatible", "allwinner,sun50i-h6-iommu")
                .prop_u32("phandle", 0x7001)
                .end();
            b.begin("iommu@b200000")
                .prop_u32("#iommu-cells", 1)
                .prop_cells("reg", &[0, 0x0b20_0000, 0, 0x2_0000])
                .prop_str("compatible", "arm,smmu-v3")
                .prop_str("status", "disabled")
                .end();
            b.begin("dma@b300000")
                .prop_cells("reg", &[0, 0x0b30_0000, 0, 0x1000])
                .prop_cells("iommus", &[0x7001, 3])
                .end();
            b.begin("iommu@b400000")
                .prop_u32("#iommu-cells", 1)
                .prop_cells("reg", &[0, 0x0b40_0000, 0, 0x4000])
                .prop_str("compatible", "apple,t8103-dart")
                .end();
        }),
        &two_edus(),
    );
    // The DART family has a driver and checks that need no master: the
    // node runs them (its DMA cases SKIP at run time), with no master.
    assert_eq!(state(&p, "iommu@b400000"), "run");
    let dart = p.iter().find(|g| g.name == "iommu@b400000").unwrap();
    assert!(dart.masters.is_empty());
    // The sun50i family has a driver; with only a platform master (no DMA
    // engine driver) an H6 node still runs: through the VA port, if the
    // run-time check finds it (docs/hw/sun50i.md §11).
    assert_eq!(state(&p, "iommu@b100000"), "run");
    let off = state(&p, "iommu@b200000");
    assert!(off.contains("is disabled in the DT"), "{off}");
    assert_eq!(p[p.len() - 1].platform.len(), 0);
    let with_master = p.iter().find(|g| g.name == "iommu@b100000").unwrap();
    assert_eq!(
        with_master.platform.len(),
        1,
        "the platform master is found"
    );
    assert_eq!(with_master.platform[0].streams[0].id, 3);
}

#[test]
fn an_iommu_with_only_platform_masters_skips_naming_them() {
    let (p, _) = plan(
        &tree(Some(1), &[], |b| {
            b.begin("gpu@c000000")
                .prop_cells("reg", &[0, 0x0c00_0000, 0, 0x1000])
                .prop_cells("iommus", &[0x8003, 0x14e8, 0x8003, 0x14e9])
                .end();
        }),
        &hosts(Vec::new()),
    );
    let s = state(&p, "smmuv3@9050000");
    assert!(s.starts_with("skip: "), "{s}");
    assert!(
        s.contains("platform masters reference it (/gpu@c000000)"),
        "{s}"
    );
    let g = &p[0].platform[0];
    let ids: Vec<u32> = g.streams.iter().map(|s| s.id).collect();
    assert_eq!(ids, [0x14e8, 0x14e9], "one master, two streams");
}

#[test]
fn masters_outside_every_map_and_shared_stream_ids_are_named() {
    // The map covers requester IDs 0x20..0x28 only: edu 00:05.0 is outside.
    let (p, notes) = plan(
        &tree(Some(1), &[0x20, 0x8003, 0x20, 8], |_| {}),
        &two_edus(),
    );
    assert_eq!(p[0].masters.len(), 1);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("00:05.0 (requester 0x0028) is outside every iommu-map entry")),
        "{notes:?}"
    );
    // Two functions behind one alias: one stream, the second noted.
    let (p, notes) = plan(
        &tree(Some(1), FULL_MAP, |_| {}),
        &hosts(alloc::vec![edu(4, 0x20), edu(5, 0x20)]),
    );
    assert_eq!(p[0].masters.len(), 1);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("stream 0x20") && n.contains("not used as a second master")),
        "{notes:?}"
    );
}

#[test]
fn a_wrong_cell_count_fails_the_iommu_by_name() {
    let (p, _) = plan(&tree(Some(2), FULL_MAP, |_| {}), &two_edus());
    let s = state(&p, "smmuv3@9050000");
    assert!(s.contains("#iommu-cells is <2>"), "{s}");
}

#[test]
fn no_iommu_node_plans_nothing() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2);
    b.end();
    let (p, _) = plan(&b.finish(), &two_edus());
    assert!(p.is_empty());
}

#[test]
fn an_iommu_node_carries_its_clocks_and_resets_or_why_they_did_not_read() {
    let h616 = |b: &mut FdtBuilder, resets: &[u32]| {
        b.begin("clock@3001000")
            .prop_str("compatible", "allwinner,sun50i-h616-ccu")
            .prop_cells("reg", &[0, 0x0300_1000, 0, 0x1000])
            .prop_u32("#clock-cells", 1)
            .prop_u32("#reset-cells", 1)
            .prop_u32("phandle", 2)
            .end();
        b.begin("iommu@30f0000")
            .prop_u32("#iommu-cells", 1)
            .prop_cells("reg", &[0, 0x030f_0000, 0, 0x1_0000])
            .prop_str("compatible", "allwinner,sun50i-h616-iommu")
            .prop_cells("clocks", &[2, 0x30])
            .prop_cells("resets", resets)
            .end();
    };
    let (p, _) = plan(
        &tree(Some(1), FULL_MAP, |b| h616(b, &[2, 0x0b])),
        &two_edus(),
    );
    let g = p.iter().find(|g| g.name == "iommu@30f0000").unwrap();
    assert!(g.runs(), "the H616's VA port is its master");
    assert_eq!(g.controls_error, None);
    let got: Vec<_> = g
        .controls
        .iter()
        .map(|c| {
            (
                c.kind,
                c.compatible.as_str(),
                c.index,
                c.reg.map(|r| r.base.0),
            )
        })
        .collect();
    use crate::platform::dt::clocks::RefKind;
    assert_eq!(
        got,
        [
            (
                RefKind::Clock,
                "allwinner,sun50i-h616-ccu",
                Some(0x30),
                Some(0x0300_1000)
            ),
            (
                RefKind::Reset,
                "allwinner,sun50i-h616-ccu",
                Some(0x0b),
                Some(0x0300_1000)
            ),
        ]
    );
    // The SMMU has none.
    assert!(p[0].controls.is_empty() && p[0].controls_error.is_none());
    // A reset reference naming no node: the error is kept, the node still
    // runs (the loader may have left it on).
    let (p, _) = plan(
        &tree(Some(1), FULL_MAP, |b| h616(b, &[0x99, 0x0b])),
        &two_edus(),
    );
    let g = p.iter().find(|g| g.name == "iommu@30f0000").unwrap();
    assert!(g.runs());
    assert!(g.controls.is_empty());
    let e = g.controls_error.unwrap();
    let text = e.to_string();
    assert!(text.contains("resets") && text.contains("0x99"), "{text}");
}

/// An SMMUv2 tree: an MMU-500 with `#iommu-cells = <1>` and a
/// `stream-match-mask`, a PCI host routed to it, and a GPU SMMU that is
/// the Adreno's own.
fn smmuv2_tree() -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2);
    b.begin("iommu@fd800000")
        .prop_u32("#iommu-cells", 1)
        .prop_cells("reg", &[0, 0xfd80_0000, 0, 0x2_0000])
        .prop_str("compatible", "arm,mmu-500")
        .prop_u32("stream-match-mask", 0x7c00)
        .prop_u32("phandle", 0x10)
        .end();
    b.begin("iommu@5040000")
        .prop_u32("#iommu-cells", 1)
        .prop_cells("reg", &[0, 0x0504_0000, 0, 0x1_0000])
        .prop_strs(
            "compatible",
            &["qcom,sdm845-smmu-v2", "qcom,adreno-smmu", "qcom,smmu-v2"],
        )
        .prop_u32("phandle", 0x11)
        .end();
    b.begin("gpu@5000000")
        .prop_cells("reg", &[0, 0x0500_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x11, 0])
        .end();
    b.begin("dma@fd500000")
        .prop_cells("reg", &[0, 0xfd50_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x10, 0x14e8])
        .end();
    b.begin("pcie@10000000")
        .prop_str("device_type", "pci")
        .prop_cells("reg", &[0x40, 0x1000_0000, 0, 0x1000_0000])
        .prop_cells("iommu-map", &[0, 0x10, 0, 0x10000])
        .end();
    b.end();
    b.finish()
}

#[test]
fn stream_match_mask_is_the_mask_of_one_cell_references_and_adreno_smmus_are_left_alone() {
    let (p, _) = plan(&smmuv2_tree(), &two_edus());
    // The MMU-500 runs with both edus; their streams and the platform
    // master's carry the node's stream-match-mask.
    assert_eq!(state(&p, "iommu@fd800000"), "run");
    let mmu = p.iter().find(|g| g.name == "iommu@fd800000").unwrap();
    let masks: Vec<(u32, u32)> = mmu
        .masters
        .iter()
        .chain(mmu.platform.iter())
        .map(|m| m.stream_on(mmu.index).map(|s| (s.id, s.mask)).unwrap())
        .collect();
    assert_eq!(masks, [(0x20, 0x7c00), (0x28, 0x7c00), (0x14e8, 0x7c00)]);
    // The Adreno's SMMU: decided by `qcom,adreno-smmu`, left alone by the
    // SMMUv2 driver with its reason, before masters are even considered.
    let gpu = p.iter().find(|g| g.name == "iommu@5040000").unwrap();
    assert_eq!(gpu.compatible, "qcom,adreno-smmu");
    let s = state(&p, "iommu@5040000");
    assert!(
        s.starts_with("skip: ") && s.contains("leaves it alone") && s.contains("GPU's own SMMU"),
        "{s}"
    );
}

/// A ZDMA channel node at `base` with `iommus = <&smmu sid>`.
fn zdma(b: &mut FdtBuilder, base: u32, sid: u32, status: Option<&str>) {
    b.begin(&format!("dma-controller@{base:x}"))
        .prop_str("compatible", "xlnx,zynqmp-dma-1.0")
        .prop_cells("reg", &[0, base, 0, 0x1000])
        .prop_cells("iommus", &[0x8003, sid]);
    if let Some(s) = status {
        b.prop_str("status", s);
    }
    b.end();
}

#[test]
fn platform_masters_with_a_registry_driver_are_used_like_pci_ones() {
    let (p, notes) = plan(
        &tree(Some(1), &[], |b| {
            zdma(b, 0xfd50_0000, 0x14e8, None);
            zdma(b, 0xfd51_0000, 0x14e9, Some("okay"));
            zdma(b, 0xfd52_0000, 0x14ea, Some("disabled"));
            b.begin("dma-controller@7ff00000")
                .prop_strs("compatible", &["arm,pl330", "arm,primecell"])
                .prop_cells("reg", &[0, 0x7ff0_0000, 0, 0x1000])
                .prop_cells("iommus", &[0x8003, 0])
                .end();
        }),
        &hosts(Vec::new()),
    );
    assert_eq!(state(&p, "smmuv3@9050000"), "run");
    let used: Vec<(&str, u32)> = p[0]
        .masters
        .iter()
        .map(|m| (m.name.as_str(), m.stream_on(0).unwrap().id))
        .collect();
    assert_eq!(
        used,
        [
            ("/dma-controller@fd500000", 0x14e8),
            ("/dma-controller@fd510000", 0x14e9)
        ]
    );
    let d = p[0].masters[0].platform_driver().expect("registry line");
    assert!(d.name.contains("ZDMA"), "{}", d.name);
    match &p[0].masters[0].source {
        MasterSource::Platform {
            reg, compatible, ..
        } => {
            assert_eq!(compatible, "xlnx,zynqmp-dma-1.0");
            assert_eq!(reg.map(|r| (r.base.0, r.size)), Some((0xfd50_0000, 0x1000)));
        }
        MasterSource::Pci(_) => panic!("not a platform master"),
    }
    assert_eq!(
        p[0].platform.len(),
        4,
        "every platform master is still listed"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("/dma-controller@fd520000") && n.contains("disabled in the DT")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("/dma-controller@7ff00000 (arm,pl330)")
                && n.contains("no DMA engine driver")),
        "{notes:?}"
    );
}

#[test]
fn pci_masters_come_before_platform_ones_and_a_failed_pcie_does_not_hide_them() {
    let with_zdma = |b: &mut FdtBuilder| zdma(b, 0xfd50_0000, 0x14e8, None);
    let (p, _) = plan(&tree(Some(1), FULL_MAP, with_zdma), &two_edus());
    let names: Vec<&str> = p[0].masters.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["00:04.0", "00:05.0", "/dma-controller@fd500000"]);
    let (p, _) = plan(
        &tree(Some(1), &[], with_zdma),
        &Err(HostError::BusRange {
            first: 0x10,
            last: 0x1,
        }),
    );
    assert_eq!(state(&p, "smmuv3@9050000"), "run");
}

#[test]
fn a_driven_platform_master_that_cannot_be_used_is_named_in_the_skip() {
    let (p, _) = plan(
        &tree(Some(1), &[], |b| {
            zdma(b, 0xfd50_0000, 0x14e8, Some("disabled"));
            b.begin("dma-controller@fd510000")
                .prop_str("compatible", "xlnx,zynqmp-dma-1.0")
                .prop_cells("reg", &[0, 0xfd51_0000, 0, 0x100])
                .prop_cells("iommus", &[0x8003, 0x14e9])
                .end();
        }),
        &hosts(Vec::new()),
    );
    let s = state(&p, "smmuv3@9050000");
    assert!(s.starts_with("skip: "), "{s}");
    assert!(
        s.contains("/dma-controller@fd500000: ZynqMP ZDMA") && s.contains("disabled in the DT"),
        "{s}"
    );
    assert!(
        s.contains("/dma-controller@fd510000") && s.contains("smaller than the 0x204 bytes"),
        "{s}"
    );
    assert!(!s.contains("none has a DMA engine driver"), "{s}");
}
