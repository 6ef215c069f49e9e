//! Host tests for [`super::probe`] and its renderings: a QEMU-`virt`-shaped
//! tree with an SMMUv3, a PCI `iommu-map`, masters (one disabled) and
//! unknown providers; and the hostile blobs issue 6 names (truncated,
//! cyclic phandles, absurd `#address-cells`, `iommus` pointing nowhere),
//! each a clear error or a finished report, through the same code
//! `cargo xtask dt-probe` uses.
#![forbid(unsafe_code)]

use super::*;
use crate::platform::dt::test_fdt::FdtBuilder;
use crate::platform::dt::tests::{mutate, XorShift};
use std::vec::Vec;

/// QEMU `virt` with `iommu=smmuv3` (docs/hw/boards.md §1.3), plus a disabled
/// master, a 2-cell SMMU and an unknown provider.
fn virt() -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2)
        .prop_str("model", "linux,dummy-virt")
        .prop_str("compatible", "linux,dummy-virt");
    b.begin("psci").prop_str("method", "hvc").end();
    b.begin("memory@40000000")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .prop_str("device_type", "memory")
        .end();
    b.begin("reserved-memory")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2)
        .prop_empty("ranges");
    b.begin("fw@4ff00000")
        .prop_cells("reg", &[0, 0x4ff0_0000, 0, 0x10_0000])
        .prop_empty("no-map")
        .end();
    b.end();
    b.begin("pl011@9000000")
        .prop_cells("reg", &[0, 0x0900_0000, 0, 0x1000])
        .prop_strs("compatible", &["arm,pl011", "arm,primecell"])
        .end();
    b.begin("smmuv3@9050000")
        .prop_u32("#iommu-cells", 1)
        .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
        .prop_str("compatible", "arm,smmu-v3")
        .prop_empty("dma-coherent")
        .prop_u32("phandle", 0x8003)
        .end();
    b.begin("iommu@a000000")
        .prop_u32("#iommu-cells", 2)
        .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x8_0000])
        .prop_strs("compatible", &["qcom,sdm845-smmu-500", "arm,mmu-500"])
        .prop_u32("phandle", 0x10)
        .end();
    b.begin("iommu@b000000")
        .prop_u32("#iommu-cells", 1)
        .prop_cells("reg", &[0, 0x0b00_0000, 0, 0x1000])
        .prop_str("compatible", "acme,frob-iommu")
        .prop_u32("phandle", 0x11)
        .prop_str("status", "disabled")
        .end();
    b.begin("dma@c000000")
        .prop_cells("reg", &[0, 0x0c00_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x10, 0x6c3, 0, 0x10, 0x100, 0xf])
        .end();
    b.begin("dma@d000000")
        .prop_cells("reg", &[0, 0x0d00_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x11, 7])
        .prop_str("status", "disabled")
        .end();
    b.begin("pcie@10000000")
        .prop_str("device_type", "pci")
        .prop_cells("reg", &[0x40, 0x1000_0000, 0, 0x1000_0000])
        .prop_cells("iommu-map", &[0, 0x8003, 0, 0x10000])
        .end();
    b.begin("chosen")
        .prop_str("stdout-path", "/pl011@9000000")
        .prop_str("bootargs", "a \"quoted\" arg")
        .end();
    b.end();
    b.finish()
}

#[test]
fn virt_report_fields() {
    let r = probe(&virt()).unwrap();
    assert_eq!(r.boot_error, None);
    assert!(r.section_errors.is_empty());
    assert_eq!(r.model, "linux,dummy-virt");
    assert_eq!(
        r.memory,
        std::vec![PhysRange::new(PhysAddr(0x4000_0000), 0x1000_0000)]
    );
    assert_eq!(r.no_map.len(), 1);
    let c = r.console.as_ref().unwrap();
    assert_eq!(
        (c.path.as_str(), c.kind, c.reg.base.0, c.reg_io_width),
        ("/pl011@9000000", "pl011", 0x0900_0000, 4)
    );
    assert_eq!(r.psci, Some("hvc"));
    assert_eq!(r.iommus.len(), 3);
    assert_eq!(
        (r.iommus[0].kind, r.iommus[0].driver.as_str()),
        ("smmuv3", "smmuv3")
    );
    assert_eq!(
        (
            r.iommus[1].kind,
            r.iommus[1].compatible.as_str(),
            r.iommus[1].driver.as_str()
        ),
        ("mmu-500", "qcom,sdm845-smmu-500", "no driver yet")
    );
    assert_eq!(r.iommus[2].driver, "unsupported: acme,frob-iommu");
    assert!(!r.iommus[2].enabled);
    assert_eq!(r.masters.len(), 2);
    assert_eq!(r.masters[0].path, "/dma@c000000");
    assert_eq!(r.masters[0].refs.len(), 2);
    assert_eq!(r.describe_args(&r.masters[0].refs[0]), "sid=0x6c3 mask=0x0");
    assert_eq!(r.describe_args(&r.masters[0].refs[1]), "sid=0x100 mask=0xf");
    assert_eq!(r.describe_args(&r.masters[1].refs[0]), "cells=<0x7>");
    assert!(!r.masters[1].enabled);
    assert_eq!(r.pci_maps.len(), 1);
    assert_eq!(r.pci_maps[0].mask, u32::MAX);
    assert_eq!(
        r.pci_maps[0].entries,
        std::vec![MapEntryReport {
            rid_base: 0,
            iommu: 0,
            sid_base: 0,
            length: 0x10000
        }]
    );
}

#[test]
fn virt_report_text() {
    let t = probe(&virt()).unwrap().to_text();
    for line in [
        "boot: discovery succeeds",
        "  0x0040000000..=0x004fffffff (256 MiB)",
        "  0x004ff00000..=0x004fffffff (1 MiB) no-map",
        "console: /pl011@9000000 compatible=arm,pl011 kind=pl011 base=0x9000000 size=0x1000 reg-shift=0 io-width=4",
        "psci: hvc",
        "  /smmuv3@9050000 compatible=arm,smmu-v3 kind=smmuv3 base=0x9050000 size=0x20000 #iommu-cells=1 dma-coherent -> smmuv3",
        "  /iommu@b000000 compatible=acme,frob-iommu kind=unknown base=0xb000000 size=0x1000 #iommu-cells=1 -> unsupported: acme,frob-iommu [disabled]",
        "  /dma@c000000 -> /iommu@a000000 sid=0x6c3 mask=0x0, /iommu@a000000 sid=0x100 mask=0xf",
        "  /dma@d000000 -> /iommu@b000000 cells=<0x7> [disabled]",
        "  /pcie@10000000 iommu-map-mask=0xffffffff",
        "    rid 0x0000..+0x10000 -> /smmuv3@9050000 sid 0x0",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
}

/// A small structural JSON check (no serde here): balanced brackets outside
/// strings, valid escapes, no raw control characters.
fn json_well_formed(s: &str) -> bool {
    let mut depth = Vec::new();
    let mut in_str = false;
    let mut esc = false;
    for c in s.chars() {
        if in_str {
            if esc {
                if !"\"\\/bfnrtu".contains(c) {
                    return false;
                }
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            } else if (c as u32) < 0x20 {
                return false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth.push(c),
            '}' if depth.pop() != Some('{') => return false,
            ']' if depth.pop() != Some('[') => return false,
            _ => {}
        }
    }
    depth.is_empty() && !in_str
}

#[test]
fn virt_report_json() {
    let j = probe(&virt()).unwrap().to_json();
    assert!(json_well_formed(&j), "{j}");
    for frag in [
        "\"boot_error\":null",
        "\"memory\":[{\"base\":\"0x40000000\",\"size\":\"0x10000000\"}]",
        "\"kind\":\"pl011\"",
        "\"psci\":\"hvc\"",
        "\"bootargs\":\"a \\\"quoted\\\" arg\"",
        "\"driver\":\"unsupported: acme,frob-iommu\"",
        "{\"iommu\":\"/iommu@a000000\",\"args\":[1731,0],\"ids\":\"sid=0x6c3 mask=0x0\"}",
        "\"entries\":[{\"rid_base\":0,\"iommu\":\"/smmuv3@9050000\",\"sid_base\":0,\"length\":65536}]",
    ] {
        assert!(j.contains(frag), "missing {frag} in {j}");
    }
    assert_eq!(json_str("a\u{1}\n"), "\"a\\u0001\\n\"");
}

#[test]
fn loader_filled_memory_is_reported_not_fatal() {
    // ABL leaves /memory with size 0 in the shipped DTB (docs/hw/boards.md §1.5):
    // the report says the image would stop, and still lists the rest.
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@80000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x8000_0000, 0, 0])
        .end();
    b.begin("psci").prop_str("method", "smc").end();
    b.begin("iommu@15000000")
        .prop_u32("#iommu-cells", 2)
        .prop_cells("reg", &[0, 0x1500_0000, 0, 0x8_0000])
        .prop_str("compatible", "arm,mmu-500")
        .end();
    b.end();
    let r = probe(&b.finish()).unwrap();
    assert_eq!(r.boot_error, Some(DtError::NoMemory.to_string()));
    assert_eq!(r.section_errors.len(), 1);
    assert_eq!(r.section_errors[0].0, "memory");
    assert_eq!(r.psci, Some("smc"));
    assert_eq!(r.iommus.len(), 1);
    assert!(r
        .to_text()
        .contains("boot: the image would stop here: device tree: no /memory"));
    assert!(json_well_formed(&r.to_json()));
}

#[test]
fn missing_console_and_nameless_provider_are_reported() {
    let blob = with(|b| {
        b.begin("iommu@a000000")
            .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x1000])
            .prop_u32("#iommu-cells", 0)
            .end();
    });
    let r = probe(&blob).unwrap();
    assert_eq!(r.boot_error, None);
    assert!(r.console.is_err());
    assert_eq!(r.iommus[0].driver, "unsupported: (no compatible)");
    let t = r.to_text();
    assert!(t.contains("console: none usable: device tree: "), "{t}");
    assert!(t.contains("psci: none (no /psci node or no method)"), "{t}");
    assert!(r
        .to_json()
        .contains("\"console\":{\"error\":\"device tree: "));
}

// ---- hostile blobs (issue 6) ----------------------------------------------

fn probe_err(blob: &[u8]) -> DtError {
    match probe(blob) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => {
            assert!(e.to_string().starts_with("device tree: "), "{e}");
            e
        }
    }
}

#[test]
fn hostile_truncated() {
    let blob = virt();
    for cut in [0, 1, 39, 40, 41, blob.len() / 2, blob.len() - 1] {
        let e = probe_err(&blob[..cut]);
        assert!(
            matches!(
                e,
                DtError::HeaderTooShort { .. } | DtError::Truncated { .. }
            ),
            "cut {cut}: {e:?}"
        );
    }
}

/// A tree with `extra` nodes added under the root by `f`.
fn with(f: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2)
        .prop_u32("interrupt-parent", 1);
    b.begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end();
    f(&mut b);
    b.end();
    b.finish()
}

#[test]
fn hostile_cyclic_phandles_terminate() {
    // Two IOMMUs that are each other's master, one that is its own, and an
    // interrupt-parent ring (discovery never follows interrupt-parent, and
    // no `iommus` reference is chased beyond one hop, so none can loop).
    let blob = with(|b| {
        b.begin("intc@1")
            .prop_u32("phandle", 1)
            .prop_u32("interrupt-parent", 2)
            .prop_empty("interrupt-controller")
            .end();
        b.begin("intc@2")
            .prop_u32("phandle", 2)
            .prop_u32("interrupt-parent", 1)
            .prop_empty("interrupt-controller")
            .end();
        b.begin("iommu@a000000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 0x10)
            .prop_cells("iommus", &[0x11, 1])
            .end();
        b.begin("iommu@b000000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0b00_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 0x11)
            .prop_cells("iommus", &[0x10, 2, 0x11, 3])
            .end();
    });
    let r = probe(&blob).unwrap();
    assert_eq!(r.iommus.len(), 2);
    assert_eq!(r.masters.len(), 2);
    assert_eq!(r.masters[1].refs.len(), 2);
    assert_eq!(r.masters[1].refs[1].iommu, 1, "self-reference");
}

#[test]
fn hostile_duplicate_phandle_chain_is_an_error_not_a_loop() {
    // An `iommu-map` whose provider phandle points at a node without
    // #iommu-cells (an interrupt controller in a ring): a clear error.
    let blob = with(|b| {
        b.begin("intc@1")
            .prop_u32("phandle", 1)
            .prop_u32("interrupt-parent", 1)
            .end();
        b.begin("pcie@10000000")
            .prop_str("device_type", "pci")
            .prop_cells("iommu-map", &[0, 1, 0, 0x100])
            .end();
    });
    match probe_err(&blob) {
        DtError::BadPhandle {
            prop: "iommu-map",
            phandle: 1,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_absurd_address_cells() {
    // Under the root: stops memory discovery, reported as the boot error.
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 0xffff_ffff)
        .prop_u32("#size-cells", 2);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0, 0x1000])
        .end();
    b.end();
    let r = probe(&b.finish()).unwrap();
    let e = r.boot_error.unwrap();
    assert!(
        e.contains("#address-cells") && e.contains("4294967295"),
        "{e}"
    );
    // Under a bus holding a recognised IOMMU: the IOMMU's reg cannot be
    // read, which fails the probe with the node named.
    let blob = with(|b| {
        b.begin("soc")
            .prop_u32("#address-cells", 1000)
            .prop_u32("#size-cells", 1)
            .prop_empty("ranges");
        b.begin("iommu@30f0000")
            .prop_str("compatible", "allwinner,sun50i-h6-iommu")
            .prop_cells("reg", &[0x030f_0000, 0x1_0000])
            .prop_u32("#iommu-cells", 1)
            .end();
        b.end();
    });
    match probe_err(&blob) {
        DtError::BadCells {
            prop: "#address-cells",
            value: 1000,
            node,
            ..
        } => assert_eq!(node.as_str(), "/soc"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_iommus_pointing_nowhere() {
    let blob = with(|b| {
        b.begin("iommu@a000000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 0x10)
            .end();
        b.begin("dma@c000000")
            .prop_cells("iommus", &[0xdead, 1])
            .end();
    });
    match probe_err(&blob) {
        DtError::BadPhandle {
            prop: "iommus",
            phandle: 0xdead,
            node,
            ..
        } => assert_eq!(node.as_str(), "/dma@c000000"),
        other => panic!("{other:?}"),
    }
    // Phandle 0 and a reference cut short are errors too.
    let blob = with(|b| {
        b.begin("dma@c000000").prop_cells("iommus", &[0]).end();
    });
    assert!(matches!(probe_err(&blob), DtError::BadPhandle { .. }));
}

#[test]
fn hostile_mutants_never_panic() {
    // The same mutator as the dt module's fuzz, through the whole report
    // and both renderings.
    let base = virt();
    let mut rng = XorShift(0x6d65_6d6f_7279);
    let mut ok = 0;
    for _ in 0..3000 {
        let m = mutate(&base, &mut rng);
        if let Ok(r) = probe(&m) {
            ok += 1;
            assert!(json_well_formed(&r.to_json()));
            let _ = r.to_text();
        }
    }
    assert!(ok > 0, "no mutant reached the report");
}
