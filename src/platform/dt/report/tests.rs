//! Host tests for [`super::probe`] and its renderings: a QEMU-`virt`-shaped
//! tree with an SMMUv3, a PCI `iommu-map`, masters (one disabled) and
//! unknown providers; and the hostile blobs issue 6 names (truncated,
//! cyclic phandles, absurd `#address-cells`, `iommus` pointing nowhere),
//! each a clear error or a finished report, through the same code
//! `cargo xtask dt-probe` uses.
#![forbid(unsafe_code)]

use super::*;
// The registry's answer, as `cargo xtask dt-probe` gives it (test-only
// upward import: the registry lives above this layer).
use crate::platform::dt::test_fdt::FdtBuilder;
use crate::platform::dt::tests::{mutate, XorShift};
use crate::selftest::families::dt_probe as probe;
use std::vec::Vec;

/// QEMU `virt` with `iommu=smmuv3` (docs/hw/board-facts.md §1.3), plus a disabled
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
        .prop_str("compatible", "pci-host-ecam-generic")
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
        ("mmu-500", "qcom,sdm845-smmu-500", "smmuv2")
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
        "  /dma@d000000 -> /iommu@b000000 cells=<0x7> [iommu disabled] [disabled]",
        "  /pcie@10000000 iommu-map-mask absent (all ones)",
        "warnings: 0",
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
        "{\"iommu\":\"/iommu@a000000\",\"args\":[1731,0],\"ids\":\"sid=0x6c3 mask=0x0\",\"iommu_enabled\":true}",
        "\"mask\":4294967295,\"mask_explicit\":false,\"compatible\":\"pci-host-ecam-generic\",\"enumerated\":true,\"error\":null,",
        "\"entries\":[{\"rid_base\":0,\"iommu\":\"/smmuv3@9050000\",\"sid_base\":0,\"length\":65536,\"iommu_enabled\":true}]",
        "\"boot\":\"discovery succeeds\"",
        "\"driven\":true",
        "\"cells_mismatch\":null,\"error\":null",
        "\"warnings\":[]}",
    ] {
        assert!(j.contains(frag), "missing {frag} in {j}");
    }
    assert_eq!(json_str("a\u{1}\n"), "\"a\\u0001\\n\"");
}

#[test]
fn loader_filled_memory_is_reported_not_fatal() {
    // ABL leaves /memory with size 0 in the shipped DTB (docs/hw/board-facts.md §1.5):
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
fn hostile_duplicate_phandle_chain_is_a_broken_map_not_a_loop() {
    // An `iommu-map` whose provider phandle points at a node without
    // #iommu-cells (an interrupt controller in a ring): the map is marked
    // broken with a clear error, and the image would fail its IOMMUs.
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
    let r = probe(&blob).unwrap();
    let p = &r.pci_maps[0];
    assert!(p.entries.is_empty());
    let e = p.error.as_deref().unwrap();
    assert!(
        e.contains("`iommu-map` references phandle 0x1: no node with #iommu-cells"),
        "{e}"
    );
    let t = r.to_text();
    assert!(t.contains("  /pcie@10000000 iommu-map-mask absent (all ones) [broken]\n    warning: broken: device tree: node /pcie@10000000 property `iommu-map` references phandle 0x1"), "{t}");
    assert!(t.contains("  warning: the image fails the setup of every IOMMU it drives: PCI iommu-map: device tree: "), "{t}");
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
    // read.  The image's IOMMU discovery stops there; the report marks the
    // node and goes on.
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
    let r = probe(&blob).unwrap();
    let i = &r.iommus[0];
    assert_eq!(
        (i.path.as_str(), i.kind, i.reg),
        ("/soc/iommu@30f0000", "sun50i", None)
    );
    let e = i.error.as_deref().unwrap();
    assert!(
        e.contains("/soc") && e.contains("#address-cells") && e.contains("1000"),
        "{e}"
    );
    let t = r.to_text();
    assert!(t.contains("  /soc/iommu@30f0000 compatible=allwinner,sun50i-h6-iommu kind=sun50i base=? #iommu-cells=1 -> sun50i [broken]\n    warning: broken: device tree: "), "{t}");
    assert!(t.contains("  warning: the image reports one failing `iommu_discovery` case and tests no IOMMU: device tree: "), "{t}");
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
            .prop_cells("iommus", &[0x10, 4, 0xdead, 1])
            .end();
        b.begin("dma@e000000")
            .prop_cells("iommus", &[0x10, 5])
            .end();
    });
    let r = probe(&blob).unwrap();
    // The reference before the bad one is kept; the master is marked.
    let m = &r.masters[0];
    assert_eq!(m.refs.len(), 1);
    assert_eq!(r.describe_args(&m.refs[0]), "sid=0x4");
    let e = m.error.as_deref().unwrap();
    assert!(
        e.contains("/dma@c000000") && e.contains("phandle 0xdead"),
        "{e}"
    );
    // The next master still reads.
    assert_eq!(r.masters[1].error, None);
    let t = r.to_text();
    assert!(t.contains("  /dma@c000000 -> /iommu@a000000 sid=0x4 [broken]\n    warning: broken: device tree: node /dma@c000000 property `iommus` references phandle 0xdead"), "{t}");
    assert!(
        t.contains("  /dma@e000000 -> /iommu@a000000 sid=0x5\n"),
        "{t}"
    );
    assert!(r
        .to_json()
        .contains("\"error\":\"device tree: node /dma@c000000"));
    // Phandle 0 and a reference cut short are broken masters too.
    let blob = with(|b| {
        b.begin("dma@c000000").prop_cells("iommus", &[0]).end();
    });
    let r = probe(&blob).unwrap();
    assert!(r.masters[0]
        .error
        .as_deref()
        .unwrap()
        .contains("phandle 0x0"));
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

// ---- what the image will act on, with warnings (issue 10 item 11) ---------

/// The warnings of one section (of one node, when given; else all).
fn warnings<'r>(r: &'r Report, section: &str, node: Option<&str>) -> Vec<&'r str> {
    r.warnings
        .iter()
        .filter(|w| w.section == section && (node.is_none() || w.node.as_deref() == node))
        .map(|w| w.message.as_str())
        .collect()
}

/// A tree whose console is a UART the image has no driver for.
#[test]
fn undriven_console_says_the_board_would_be_silent() {
    let blob = with(|b| {
        b.begin("axi")
            .prop_u32("#address-cells", 2)
            .prop_u32("#size-cells", 2)
            .prop_empty("ranges");
        b.begin("serial@ff000000")
            .prop_strs("compatible", &["acme,frob-uart", "acme,uart"])
            .prop_cells("reg", &[0, 0xff00_0000, 0, 0x1000])
            .end();
        b.end();
        b.begin("chosen")
            .prop_str("stdout-path", "/axi/serial@ff000000:115200n8")
            .end();
    });
    let r = probe(&blob).unwrap();
    assert_eq!(r.boot_error, None);
    let c = r.console.as_ref().unwrap();
    assert_eq!((c.kind, c.driven), ("unknown", false));
    assert_eq!(
        r.boot_verdict(),
        "discovery succeeds; the board would be silent: no driver for its console acme,frob-uart (/axi/serial@ff000000)"
    );
    let w = warnings(&r, "console", Some("/axi/serial@ff000000"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("the image has no driver for acme,frob-uart: the board would be silent (it drives PL011 (arm,pl011), 16550/8250 (ns16550a, "), "{}", w[0]);
    assert!(
        w[0].contains(
            "snps,dw-apb-uart), Qualcomm GENI (qcom,geni-debug-uart), Apple s5l (apple,s5l-uart), Cadence (cdns,uart-r1p12))"
        ),
        "{}",
        w[0]
    );
    let t = r.to_text();
    for line in [
        "boot: discovery succeeds; the board would be silent: no driver for its console acme,frob-uart (/axi/serial@ff000000)",
        "warnings: 1",
        "console: /axi/serial@ff000000 compatible=acme,frob-uart kind=unknown base=0xff000000 size=0x1000 reg-shift=0 io-width=1 options=115200n8 [no driver: silent]",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
    assert!(
        t.contains("[no driver: silent]\n  warning: the image has no driver for acme,frob-uart"),
        "{t}"
    );
    let j = r.to_json();
    assert!(j.contains("\"enabled\":true,\"driven\":false}"), "{j}");
    assert!(
        j.contains("\"boot\":\"discovery succeeds; the board would be silent: "),
        "{j}"
    );
    assert!(j.contains("{\"section\":\"console\",\"node\":\"/axi/serial@ff000000\",\"message\":\"the image has no driver"), "{j}");
    // Every kind the image drives is driven; nothing else is.
    for (k, driven) in [
        (ConsoleKind::Pl011, true),
        (ConsoleKind::Ns16550, true),
        (ConsoleKind::Geni, true),
        (ConsoleKind::S5l, true),
        (ConsoleKind::Cadence, true),
        (ConsoleKind::Unknown, false),
    ] {
        assert_eq!(k.driven(), driven, "{k:?}");
    }
}

/// The ZynqMP console: a Cadence UART (`xlnx,zynqmp-uart`,
/// `cdns,uart-r1p12`, Linux `serial/cdns,uart.yaml`), driven, 32-bit.
#[test]
fn a_zynqmp_cadence_console_is_driven_with_32_bit_registers() {
    let blob = with(|b| {
        b.begin("axi")
            .prop_u32("#address-cells", 2)
            .prop_u32("#size-cells", 2)
            .prop_empty("ranges");
        b.begin("serial@ff000000")
            .prop_strs("compatible", &["xlnx,zynqmp-uart", "cdns,uart-r1p12"])
            .prop_cells("reg", &[0, 0xff00_0000, 0, 0x1000])
            .end();
        b.end();
        b.begin("chosen")
            .prop_str("stdout-path", "/axi/serial@ff000000:115200n8")
            .end();
    });
    let r = probe(&blob).unwrap();
    let c = r.console.as_ref().unwrap();
    assert_eq!(
        (c.kind, c.driven, c.compatible.as_str(), c.reg_io_width),
        ("cadence", true, "xlnx,zynqmp-uart", 4)
    );
    assert_eq!(r.silent_because(), None);
    assert!(warnings(&r, "console", None).is_empty());
    assert_eq!(
        ConsoleKind::from_compatible("cdns,uart-r1p12"),
        Some(ConsoleKind::Cadence)
    );
}

#[test]
fn no_console_says_the_board_would_be_silent() {
    let r = probe(&with(|_| {})).unwrap();
    assert!(
        r.boot_verdict().starts_with(
            "discovery succeeds; the board would be silent: no console found (device tree: "
        ),
        "{}",
        r.boot_verdict()
    );
    let w = warnings(&r, "console", None);
    assert!(
        w[0].starts_with("no console the image can find: the board would be silent"),
        "{w:?}"
    );
    assert!(r.to_text().contains("console: none usable: device tree: "));
    assert!(r.to_json().contains("\"driven\":false}"));
}

#[test]
fn memory_left_to_the_loader_is_said_so() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@80000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x8000_0000, 0, 0])
        .end();
    b.begin("serial@a84000")
        .prop_str("compatible", "qcom,geni-debug-uart")
        .prop_cells("reg", &[0, 0xa8_4000, 0, 0x4000])
        .end();
    b.begin("chosen")
        .prop_str("stdout-path", "/serial@a84000")
        .end();
    b.end();
    let r = probe(&b.finish()).unwrap();
    assert!(r.memory_from_loader);
    assert_eq!(
        r.boot_verdict(),
        "the image would stop here: device tree: no /memory node with a non-empty `reg` (device_type = \"memory\"), unless the loader fills /memory (U-Boot, ABL and m1n1 do); once it does, discovery succeeds"
    );
    let t = r.to_text();
    assert!(t.contains("memory:\n  (none in this DTB: left to the loader)\n  warning: this DTB has no /memory with a non-empty reg: the loader must fill it (U-Boot, ABL and m1n1 do); as it is, the image stops at discovery\nreserved:"), "{t}");
    assert!(r.to_json().contains("\"memory_from_loader\":true"));
    // A second broken section still stops the image once /memory is filled.
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("psci").prop_str("method", "magic").end();
    b.end();
    let r = probe(&b.finish()).unwrap();
    assert!(r.memory_from_loader);
    assert!(r.boot_verdict().contains("unless the loader fills /memory (U-Boot, ABL and m1n1 do); even then it stops at the psci error below"), "{}", r.boot_verdict());
    // A /memory that is there but broken is not the loader's job.
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0])
        .end();
    b.end();
    let r = probe(&b.finish()).unwrap();
    assert!(!r.memory_from_loader);
    assert!(!r.boot_verdict().contains("loader"), "{}", r.boot_verdict());
    assert!(warnings(&r, "memory", None).is_empty());
}

#[test]
fn small_smmuv3_reg_warns() {
    let blob = with(|b| {
        b.begin("smmu@9050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0905_0000, 0, 0x1_0000])
            .prop_u32("#iommu-cells", 1)
            .end();
        b.begin("smmu@a050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0a05_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .end();
    });
    let r = probe(&blob).unwrap();
    let w = warnings(&r, "iommus", Some("/smmu@9050000"));
    assert_eq!(
        w,
        ["reg is 64 KiB (0x10000 bytes), smaller than the 128 KiB SMMUv3 frame (Page 0 + Page 1 at +64 KiB, where the queue pointers are): the image refuses to set it up"]
    );
    assert!(warnings(&r, "iommus", Some("/smmu@a050000")).is_empty());
    let t = r.to_text();
    // No iommu-map and no master of its own: the image has nothing to
    // test it through (the master line), and the warning follows.
    assert!(t.contains("#iommu-cells=1 -> smmuv3\n    master: none the image can drive: no platform master references it, and it has no port of its own the image uses: not tested\n    warning: reg is 64 KiB (0x10000 bytes), smaller than the 128 KiB SMMUv3 frame"), "{t}");
}

#[test]
fn cells_mismatch_is_shown() {
    let blob = with(|b| {
        b.begin("smmu@9050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 2)
            .prop_u32("phandle", 5)
            .end();
        b.begin("dma@c000000")
            .prop_cells("iommus", &[5, 1, 2])
            .end();
    });
    let r = probe(&blob).unwrap();
    let m = "/smmu@9050000: #iommu-cells is <2>, but the arm,smmu-v3 binding requires <1>";
    assert_eq!(r.iommus[0].cells_mismatch.as_deref(), Some(m));
    assert_eq!(r.iommus[0].error, None);
    assert_eq!(
        warnings(&r, "iommus", Some("/smmu@9050000")),
        [format!(
            "{m}: the image reports this IOMMU as a failing test and does not drive it"
        )]
    );
    let t = r.to_text();
    assert!(
        t.contains(&format!("-> smmuv3\n    warning: {m}: the image reports")),
        "{t}"
    );
    assert!(r
        .to_json()
        .contains(&format!("\"cells_mismatch\":{}", json_str(m))));
    // The master is read with the tree's two cells, as discovery does.
    assert_eq!(r.masters[0].refs[0].args, [1, 2]);
}

#[test]
fn iommu_map_mask_absent_and_explicit_differ() {
    let blob = with(|b| {
        b.begin("smmu@9050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 5)
            .end();
        b.begin("pcie@10000000")
            .prop_cells("iommu-map", &[0, 5, 0, 0x10000])
            .end();
        b.begin("pcie@20000000")
            .prop_cells("iommu-map", &[0, 5, 0, 0x10000])
            .prop_u32("iommu-map-mask", 0xffff_ffff)
            .end();
        b.begin("pcie@30000000")
            .prop_cells("iommu-map", &[0x100, 5, 1, 1])
            .prop_u32("iommu-map-mask", 0xff00)
            .end();
    });
    let r = probe(&blob).unwrap();
    let got: Vec<_> = r
        .pci_maps
        .iter()
        .map(|p| (p.mask, p.mask_explicit))
        .collect();
    assert_eq!(got, [(u32::MAX, false), (u32::MAX, true), (0xff00, true)]);
    let t = r.to_text();
    for line in [
        "  /pcie@10000000 iommu-map-mask absent (all ones)",
        "  /pcie@20000000 iommu-map-mask=0xffffffff",
        "  /pcie@30000000 iommu-map-mask=0xff00",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
    let j = r.to_json();
    assert!(j.contains("\"path\":\"/pcie@10000000\",\"enabled\":true,\"mask\":4294967295,\"mask_explicit\":false"), "{j}");
    assert!(j.contains("\"path\":\"/pcie@20000000\",\"enabled\":true,\"mask\":4294967295,\"mask_explicit\":true"), "{j}");
}

#[test]
fn iommu_map_to_a_disabled_iommu_is_marked() {
    let blob = with(|b| {
        b.begin("smmu@9050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 5)
            .end();
        b.begin("iommu@a000000")
            .prop_str("compatible", "apple,t8103-dart")
            .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x4000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 6)
            .prop_str("status", "disabled")
            .end();
        b.begin("pcie@10000000")
            .prop_cells(
                "iommu-map",
                &[0x100, 5, 1, 1, 0x200, 6, 1, 1, 0x300, 6, 1, 1],
            )
            .prop_u32("iommu-map-mask", 0xff00)
            .end();
    });
    let r = probe(&blob).unwrap();
    let t = r.to_text();
    for line in [
        "    rid 0x0100..+0x1 -> /smmu@9050000 sid 0x1",
        "    rid 0x0200..+0x1 -> /iommu@a000000 sid 0x1 [iommu disabled]",
        "    rid 0x0300..+0x1 -> /iommu@a000000 sid 0x1 [iommu disabled]",
        "    warning: entries target /iommu@a000000, which is disabled: the image does not test it, and these requester IDs get no IOMMU",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
    // One warning per disabled target, not per entry.
    assert_eq!(warnings(&r, "pci", Some("/pcie@10000000")).len(), 1);
    let j = r.to_json();
    assert!(j.contains("\"rid_base\":512,\"iommu\":\"/iommu@a000000\",\"sid_base\":1,\"length\":1,\"iommu_enabled\":false"), "{j}");
    assert!(j.contains("\"rid_base\":256,\"iommu\":\"/smmu@9050000\",\"sid_base\":1,\"length\":1,\"iommu_enabled\":true"), "{j}");
}

#[test]
fn driverless_families_are_named_and_the_driver_column_is_unchanged() {
    let cases: [(&[&str], &str); 10] = [
        (&["rockchip,iommu"], "rockchip-iommu"),
        (&["rockchip,rk3568-iommu"], "rockchip-iommu"),
        (
            &["rockchip,rk3588-iommu", "rockchip,rk3568-iommu"],
            "rockchip-iommu",
        ),
        (&["mediatek,mt8173-m4u"], "mediatek-m4u"),
        (&["nvidia,tegra124-smmu"], "tegra-smmu"),
        (&["nvidia,tegra210-mc"], "tegra-smmu"),
        (&["samsung,exynos-sysmmu"], "exynos-sysmmu"),
        (&["ti,omap4-iommu"], "omap-iommu"),
        (
            &["renesas,ipmmu-r8a7795", "renesas,ipmmu-vmsa"],
            "renesas-ipmmu",
        ),
        (&["acme,frob-iommu"], "unknown"),
    ];
    let blob = with(|b| {
        for (i, (compat, _)) in cases.iter().enumerate() {
            b.begin(&std::format!("iommu@{i:x}000"))
                .prop_strs("compatible", compat)
                .prop_cells("reg", &[0, (i as u32) << 12, 0, 0x1000])
                .prop_u32("#iommu-cells", 1)
                .end();
        }
    });
    let r = probe(&blob).unwrap();
    for (n, (compat, kind)) in r.iommus.iter().zip(cases) {
        assert_eq!(n.kind, kind, "{}", n.path);
        // The driver decision is discovery's (IommuKind::Unknown here).
        assert_eq!(n.driver, std::format!("unsupported: {}", compat[0]));
    }
    assert!(r.to_text().contains("  /iommu@1000 compatible=rockchip,rk3568-iommu kind=rockchip-iommu base=0x1000 size=0x1000 #iommu-cells=1 -> unsupported: rockchip,rk3568-iommu"));
    // Near misses stay unnamed.
    for c in [
        "rockchip,rk3568-vop",
        "mediatek,mt8173-iommu-x",
        "ti,omap4-mailbox",
        "renesas,ipmmu",
        "nvidia,tegra",
    ] {
        assert_eq!(driverless_family(c), None, "{c}");
    }
    // Recognised kinds are never renamed.
    let blob = with(|b| {
        b.begin("iommu@0")
            .prop_strs("compatible", &["nvidia,tegra194-smmu", "arm,mmu-500"])
            .prop_cells("reg", &[0, 0, 0, 0x1000])
            .prop_u32("#iommu-cells", 1)
            .end();
    });
    assert_eq!(probe(&blob).unwrap().iommus[0].kind, "mmu-500");
}

/// Everything broken at once: each section and node is still reported,
/// each broken node marked with its error, and the image's own verdict on
/// the IOMMUs is a section warning.
#[test]
fn broken_tree_is_reported_section_by_section() {
    let blob = with(|b| {
        b.begin("pl011@9000000")
            .prop_str("compatible", "arm,pl011")
            .prop_cells("reg", &[0, 0x0900_0000, 0, 0x1000])
            .end();
        b.begin("chosen")
            .prop_str("stdout-path", "/pl011@9000000")
            .end();
        b.begin("smmu@9050000")
            .prop_str("compatible", "arm,smmu-v3")
            .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 5)
            .end();
        // #iommu-cells past what a reference can carry.
        b.begin("iommu@a000000")
            .prop_str("compatible", "arm,mmu-500")
            .prop_cells("reg", &[0, 0x0a00_0000, 0, 0x1_0000])
            .prop_u32("#iommu-cells", 7)
            .prop_u32("phandle", 6)
            .end();
        // A recognised IOMMU whose reg is cut short.
        b.begin("iommu@b000000")
            .prop_str("compatible", "allwinner,sun50i-h6-iommu")
            .prop_cells("reg", &[0, 0x0b00_0000, 0])
            .prop_u32("#iommu-cells", 1)
            .prop_u32("phandle", 7)
            .end();
        b.begin("dma@c000000")
            .prop_cells("iommus", &[5, 0x10])
            .end();
        b.begin("dma@d000000").prop_cells("iommus", &[6, 1]).end();
        b.begin("dma@e000000").prop_cells("iommus", &[7, 3]).end();
        // A map of 3 cells, and a good one after it.
        b.begin("pcie@10000000")
            .prop_cells("iommu-map", &[0, 5, 0])
            .end();
        b.begin("pcie@20000000")
            .prop_cells("iommu-map", &[0, 5, 0x100, 0x100])
            .prop_u32("iommu-map-mask", 0xff)
            .end();
    });
    let r = probe(&blob).unwrap();
    assert_eq!(r.boot_error, None);
    assert!(r.console.as_ref().unwrap().driven);
    // Providers: all three listed, two broken.
    let broken: Vec<_> = r.iommus.iter().map(|i| i.error.is_some()).collect();
    assert_eq!(broken, [false, true, true]);
    assert_eq!(r.iommus[1].iommu_cells, 7);
    assert_eq!(r.iommus[2].kind, "sun50i");
    // Masters: the one on the good SMMU reads; the 7-cell provider cannot
    // be resolved; the placeholder for the bad-reg one still resolves.
    assert_eq!(r.masters[0].error, None);
    assert_eq!(
        r.masters[1].error.as_deref(),
        Some("device tree: node /dma@d000000 property `iommus` references /iommu@a000000 (phandle 0x6), which is broken: see iommus")
    );
    assert_eq!(r.masters[2].error, None);
    assert_eq!(r.describe_args(&r.masters[2].refs[0]), "utlb=3");
    // Maps: the first broken, the second read.
    assert!(r.pci_maps[0]
        .error
        .as_deref()
        .unwrap()
        .contains("`iommu-map`"));
    assert_eq!(r.pci_maps[1].entries.len(), 1);
    assert_eq!(r.pci_maps[1].error, None);
    let t = r.to_text();
    for line in [
        "boot: discovery succeeds",
        "console: /pl011@9000000 compatible=arm,pl011 kind=pl011 base=0x9000000 size=0x1000 reg-shift=0 io-width=4",
        "iommus: 3",
        "  /smmu@9050000 compatible=arm,smmu-v3 kind=smmuv3 base=0x9050000 size=0x20000 #iommu-cells=1 -> smmuv3",
        "  /iommu@a000000 compatible=arm,mmu-500 kind=mmu-500 base=? #iommu-cells=7 -> smmuv2 [broken]",
        "  /iommu@b000000 compatible=allwinner,sun50i-h6-iommu kind=sun50i base=? #iommu-cells=1 -> sun50i [broken]",
        "  warning: the image reports one failing `iommu_discovery` case and tests no IOMMU: device tree: node /iommu@a000000 has `#iommu-cells` = 7, expected at most 4",
        "masters: 3",
        "  /dma@c000000 -> /smmu@9050000 sid=0x10",
        "  /dma@d000000 -> (no reference read) [broken]",
        "  /dma@e000000 -> /iommu@b000000 utlb=3",
        "pci iommu-maps: 2",
        "  /pcie@10000000 iommu-map-mask absent (all ones) [broken]",
        "  /pcie@20000000 iommu-map-mask=0xff",
        "    rid 0x0000..+0x100 -> /smmu@9050000 sid 0x100",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
    assert!(t.contains("[broken]\n    warning: broken: device tree: node /iommu@a000000 has `#iommu-cells` = 7, expected at most 4; the image's IOMMU discovery stops on this node\n"), "{t}");
    assert!(t.contains("[broken]\n    warning: broken: device tree: node /iommu@b000000 property `reg` is 12 bytes, expected a non-zero multiple of 16; the image's IOMMU discovery has already stopped on an earlier one\n"), "{t}");
    assert!(t.contains("  /pcie@10000000 iommu-map-mask absent (all ones) [broken]\n    warning: broken: device tree: node /pcie@10000000 property `iommu-map`"), "{t}");
    // find_iommus failed, so the image never gets to the maps: no "fails
    // every IOMMU" warning on top of the discovery one.
    assert!(!r
        .warnings
        .iter()
        .any(|w| w.section == "pci" && w.node.is_none()));
    assert_eq!(
        t.lines()
            .filter(|l| l.trim_start().starts_with("warning: "))
            .count(),
        r.warnings.len()
    );
    assert!(t.contains(&std::format!("warnings: {}\n", r.warnings.len())));
    let j = r.to_json();
    assert!(json_well_formed(&j), "{j}");
    assert!(j.contains("\"iommu_cells\":7,\"phandle\":6,\"enabled\":true,\"dma_coherent\":false,\"cells_mismatch\":null,\"error\":\"device tree: node /iommu@a000000 has `#iommu-cells` = 7"), "{j}");
}

/// A sunxi-shaped tree: a CCU of `ccu` compatible at 0x3001000 and the
/// IOMMU with `clocks = <&ccu clk>`, `resets = <&ccu rst>`; `extra` adds
/// to the IOMMU node, `master` adds a platform master behind it.
fn sunxi_tree(ccu: &str, iommu: &str, clk: u32, rst: u32, master: bool) -> Vec<u8> {
    with(|b| {
        b.begin("soc")
            .prop_u32("#address-cells", 1)
            .prop_u32("#size-cells", 1)
            .prop_empty("ranges");
        b.begin("clock@3001000")
            .prop_str("compatible", ccu)
            .prop_cells("reg", &[0x0300_1000, 0x1000])
            .prop_u32("#clock-cells", 1)
            .prop_u32("#reset-cells", 1)
            .prop_u32("phandle", 2)
            .end();
        b.begin("iommu@30f0000")
            .prop_str("compatible", iommu)
            .prop_cells("reg", &[0x030f_0000, 0x1_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_cells("clocks", &[2, clk])
            .prop_cells("resets", &[2, rst])
            .prop_u32("phandle", 3)
            .end();
        if master {
            b.begin("video-codec@1c0e000")
                .prop_cells("reg", &[0x01c0_e000, 0x2000])
                .prop_cells("iommus", &[3, 3])
                .end();
        }
        b.end();
    })
}

#[test]
fn sun50i_clocks_the_image_turns_on_and_the_va_port_master() {
    let r = probe(&sunxi_tree(
        "allwinner,sun50i-h616-ccu",
        "allwinner,sun50i-h616-iommu",
        48,
        11,
        false,
    ))
    .unwrap();
    let i = &r.iommus[0];
    assert_eq!(i.clocks_error, None);
    let lines: Vec<_> = i.clocks.iter().map(|c| c.line.map(|l| l.name)).collect();
    assert_eq!(lines, [Some("CLK_BUS_IOMMU"), Some("RST_BUS_IOMMU")]);
    assert_eq!(i.clocks[0].provider, "clock@3001000");
    assert_eq!(i.clocks[1].kind, RefKind::Reset);
    let t = r.to_text();
    assert!(
        t.contains("  /soc/iommu@30f0000 compatible=allwinner,sun50i-h616-iommu kind=sun50i base=0x30f0000 size=0x10000 #iommu-cells=1 -> sun50i\n    clocks: CLK_BUS_IOMMU (48, CCU +0x7bc bit 0), RST_BUS_IOMMU (11, CCU +0x7bc bit 16): the image turns them on, when it tests this IOMMU, if the loader left them off\n    master: the VA debug port (IOMMU +0x190..0x198), the image's own master for it: no platform master references it\n"),
        "{t}"
    );
    let j = r.to_json();
    assert!(json_well_formed(&j), "{j}");
    for frag in [
        "\"error\":null,\"clocks\":[{\"kind\":\"clock\",\"provider\":\"clock@3001000\",\"compatible\":\"allwinner,sun50i-h616-ccu\",\"index\":48,\"name\":null,\"ccu_line\":{\"name\":\"CLK_BUS_IOMMU\",\"offset\":\"0x7bc\",\"bit\":0},\"turned_on_by_image\":true}",
        "{\"kind\":\"reset\",\"provider\":\"clock@3001000\",\"compatible\":\"allwinner,sun50i-h616-ccu\",\"index\":11,\"name\":null,\"ccu_line\":{\"name\":\"RST_BUS_IOMMU\",\"offset\":\"0x7bc\",\"bit\":16},\"turned_on_by_image\":true}]",
        "\"clocks_error\":null,\"master\":\"the VA debug port (IOMMU +0x190..0x198), the image's own master for it: no platform master references it\"",
    ] {
        assert!(j.contains(frag), "missing {frag} in {j}");
    }
}

#[test]
fn sun50i_unknown_lines_and_providers_are_left_to_the_loader() {
    // An index the H6 table does not know: that one is the loader's.
    let r = probe(&sunxi_tree(
        "allwinner,sun50i-h6-ccu",
        "allwinner,sun50i-h6-iommu",
        51,
        99,
        true,
    ))
    .unwrap();
    let t = r.to_text();
    assert!(
        t.contains("    clocks: CLK_BUS_IOMMU (51, CCU +0x7bc bit 0): the image turns them on, when it tests this IOMMU, if the loader left them off; reset 99 of clock@3001000 (allwinner,sun50i-h6-ccu): left to the loader\n"),
        "{t}"
    );
    // H6: the VA port if the run-time check finds it; the codec has no
    // driver.
    assert!(
        t.contains(&format!("    master: the VA debug port (IOMMU +0x190..0x198), the image's own master for it: the platform masters behind it (video-codec@1c0e000) have no DMA engine driver in this image yet; {}\n", crate::iommu::sun50i::probe::H6_VA_PORT_CONDITIONAL)),
        "{t}"
    );
    // A CCU without a table in this image: everything left to the loader.
    let r = probe(&sunxi_tree(
        "acme,frob-ccu",
        "allwinner,sun50i-h616-iommu",
        48,
        11,
        false,
    ))
    .unwrap();
    assert!(r.iommus[0].clocks.iter().all(|c| c.line.is_none()));
    assert!(
        r.to_text().contains("    clocks: clock 48 of clock@3001000 (acme,frob-ccu), reset 11 of clock@3001000 (acme,frob-ccu): left to the loader\n"),
        "{}",
        r.to_text()
    );
    assert!(r
        .to_json()
        .contains("\"ccu_line\":null,\"turned_on_by_image\":false"));
}

#[test]
fn clocks_that_do_not_read_and_providers_without_driver() {
    // `clocks` naming no node: the error, and the loader keeps them.
    let blob = with(|b| {
        b.begin("iommu@30f0000")
            .prop_str("compatible", "allwinner,sun50i-h616-iommu")
            .prop_cells("reg", &[0, 0x030f_0000, 0, 0x1_0000])
            .prop_u32("#iommu-cells", 1)
            .prop_cells("clocks", &[0x77, 48])
            .end();
    });
    let r = probe(&blob).unwrap();
    let e = r.iommus[0].clocks_error.clone().unwrap();
    assert!(e.contains("no node has this phandle"), "{e}");
    assert!(
        r.to_text()
            .contains(&format!("    clocks: {e}: left to the loader\n")),
        "{}",
        r.to_text()
    );
    // The virt SMMUv3 has no clocks and PCI decides its masters: no new
    // lines; the MMU-500 (SMMUv2 driver, platform masters only, no ATOS on
    // MMU-500) gets the master line saying nothing can drive it.
    let r = probe(&virt()).unwrap();
    assert!(r.iommus.iter().all(|i| i.clocks.is_empty()));
    assert!(r.iommus[0].master.is_none());
    let m = r.iommus[1].master.as_deref().unwrap();
    assert!(m.starts_with("none the image can drive"), "{m}");
    let t = r.to_text();
    assert!(!t.contains("    clocks:"), "{t}");
}

/// A ZynqMP-shaped tree after the board README's U-Boot edits: the
/// MMU-500 enabled, `iommus` on three GDMA channels (one disabled) and on
/// an engine without a driver.
fn zynqmp_like() -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2)
        .prop_str("compatible", "xlnx,zynqmp");
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0, 0x8000_0000])
        .end();
    b.begin("iommu@fd800000")
        .prop_str("compatible", "arm,mmu-500")
        .prop_cells("reg", &[0, 0xfd80_0000, 0, 0x2_0000])
        .prop_u32("#iommu-cells", 1)
        .prop_u32("phandle", 0x20)
        .end();
    for (base, sid, status) in [
        (0xfd50_0000u32, 0x14e8u32, "okay"),
        (0xfd51_0000, 0x14e9, "disabled"),
        (0xfd52_0000, 0x14ea, "okay"),
        (0xfd53_0000, 0x14eb, "okay"),
    ] {
        b.begin(&format!("dma-controller@{base:x}"))
            .prop_str("compatible", "xlnx,zynqmp-dma-1.0")
            .prop_cells("reg", &[0, base, 0, 0x1000])
            .prop_cells("iommus", &[0x20, sid])
            .prop_str("status", status)
            .end();
    }
    b.begin("ethernet@ff0e0000")
        .prop_strs("compatible", &["cdns,zynqmp-gem", "cdns,gem"])
        .prop_cells("reg", &[0, 0xff0e_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x20, 0x877])
        .end();
    b.end();
    b.finish()
}

fn mmu500_has_a_driver(kind: IommuKind, _: &str) -> String {
    match kind {
        IommuKind::Mmu500 => String::from("smmuv2"),
        _ => String::from("no driver yet"),
    }
}

fn no_port(kind: IommuKind, _: &crate::platform::dt::tbus::PortFacts<'_>) -> SelfMaster {
    match kind {
        IommuKind::Mmu500 => SelfMaster::None,
        _ => SelfMaster::NoDriver,
    }
}

#[test]
fn platform_masters_with_a_driver_are_named_as_the_images_masters() {
    let lookups = Lookups {
        driver_for: mmu500_has_a_driver,
        self_master: no_port,
        no_master: |_, _| None,
        platform_master: crate::selftest::families::platform_master_for,
        max_masters: 2,
    };
    let r = super::probe(&zynqmp_like(), lookups).unwrap();
    let m = r.iommus[0].master.as_deref().unwrap();
    assert!(
        m.starts_with("dma-controller@fd500000 (sid=0x14e8) through the ZynqMP ZDMA"),
        "{m}"
    );
    assert!(
        m.contains("and dma-controller@fd520000 (sid=0x14ea)"),
        "the disabled channel is skipped: {m}"
    );
    assert!(m.contains("the image's masters for it"), "{m}");
    assert!(
        m.contains("3 other platform masters behind it not used"),
        "{m}"
    );
    let gem = r
        .masters
        .iter()
        .find(|x| x.path == "/ethernet@ff0e0000")
        .unwrap();
    assert_eq!(gem.driver, None);
    let zdma = &r.masters[0];
    assert!(zdma.driver.unwrap().name.contains("ZDMA"));
    let t = r.to_text();
    assert!(
        t.contains("/dma-controller@fd500000 -> /iommu@fd800000 sid=0x14e8 [driver: ZynqMP ZDMA"),
        "{t}"
    );
    assert!(r.to_json().contains("\"driver\":\"ZynqMP ZDMA"));
    assert!(json_well_formed(&r.to_json()));

    // One usable channel: its name, and the others why not.
    let r = super::probe(
        &zynqmp_like(),
        Lookups {
            max_masters: 1,
            ..lookups
        },
    )
    .unwrap();
    let m = r.iommus[0].master.as_deref().unwrap();
    assert!(m.contains("the image's master for it;"), "{m}");
    // The image's own registry: the SMMUv2 driver takes the MMU-500 and
    // the ZDMA channels are its masters.
    let r = probe(&zynqmp_like()).unwrap();
    assert_eq!(r.iommus[0].driver, "smmuv2");
    let m = r.iommus[0].master.as_deref().unwrap();
    assert!(m.contains("through the ZynqMP ZDMA"), "{m}");
}

#[test]
fn a_driven_master_that_cannot_be_used_is_named_with_why() {
    let lookups = Lookups {
        driver_for: mmu500_has_a_driver,
        self_master: no_port,
        no_master: |_, _| None,
        platform_master: crate::selftest::families::platform_master_for,
        max_masters: 2,
    };
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2);
    b.begin("iommu@fd800000")
        .prop_str("compatible", "arm,mmu-500")
        .prop_cells("reg", &[0, 0xfd80_0000, 0, 0x2_0000])
        .prop_u32("#iommu-cells", 1)
        .prop_u32("phandle", 0x20)
        .end();
    b.begin("dma-controller@fd500000")
        .prop_str("compatible", "xlnx,zynqmp-dma-1.0")
        .prop_cells("reg", &[0, 0xfd50_0000, 0, 0x1000])
        .prop_cells("iommus", &[0x20, 0x14e8])
        .prop_str("status", "disabled")
        .end();
    b.end();
    let r = super::probe(&b.finish(), lookups).unwrap();
    let m = r.iommus[0].master.as_deref().unwrap();
    assert!(
        m.contains("dma-controller@fd500000 has a driver but is not used (disabled)")
            && m.ends_with("not tested"),
        "{m}"
    );
}

/// The one usability rule `dt-probe` and the plan share: enabled, a `reg`,
/// and at least the driver's span of it (exactly the span is enough).
#[test]
fn platform_master_usability_rule() {
    use super::{platform_master_unusable, Unusable};
    use crate::mm::{PhysAddr, PhysRange};
    let reg = |size| {
        Some(PhysRange {
            base: PhysAddr(0xfd50_0000),
            size,
        })
    };
    assert_eq!(platform_master_unusable(true, reg(0x204), 0x204), None);
    assert_eq!(
        platform_master_unusable(true, reg(0x200), 0x204),
        Some(Unusable::RegTooSmall {
            reg: reg(0x200).unwrap(),
            need: 0x204
        })
    );
    assert_eq!(
        platform_master_unusable(true, None, 0x204),
        Some(Unusable::NoReg)
    );
    assert_eq!(
        platform_master_unusable(false, reg(0x1000), 0x204),
        Some(Unusable::Disabled)
    );
}

/// An SMMU whose only masters are PCI functions behind a host the image
/// does not enumerate (a Qualcomm PCIe controller) gets a master line that
/// says so; behind a generic ECAM host the line is left to the run, which
/// finds the functions by enumeration.
fn pci_behind(host_compatible: &str) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2);
    b.begin("memory@80000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x8000_0000, 0, 0x4000_0000])
        .end();
    b.begin("iommu@15000000")
        .prop_strs("compatible", &["qcom,sdm845-smmu-500", "arm,mmu-500"])
        .prop_cells("reg", &[0, 0x1500_0000, 0, 0x8_0000])
        .prop_u32("#iommu-cells", 2)
        .prop_u32("phandle", 0x30)
        .end();
    b.begin("pcie@1c00000")
        .prop_str("device_type", "pci")
        .prop_str("compatible", host_compatible)
        .prop_cells("reg", &[0, 0x01c0_0000, 0, 0x2000])
        .prop_cells("iommu-map", &[0, 0x30, 0x1c10, 1])
        .end();
    b.end();
    b.finish()
}

#[test]
fn pci_functions_behind_a_host_the_image_does_not_enumerate_are_named() {
    let r = probe(&pci_behind("qcom,pcie-sdm845")).unwrap();
    assert!(!r.pci_maps[0].enumerated);
    let m = r.iommus[0].master.as_deref().unwrap();
    assert!(
        m.contains("the PCI functions its iommu-map serves are not enumerated (host pcie@1c00000, qcom,pcie-sdm845: the image enumerates only pci-host-ecam-generic hosts)"),
        "{m}"
    );
    assert!(m.contains("not tested"), "{m}");
    assert!(r
        .to_json()
        .contains("\"compatible\":\"qcom,pcie-sdm845\",\"enumerated\":false"));
    assert!(json_well_formed(&r.to_json()));

    let r = probe(&pci_behind(crate::platform::pci::host::COMPATIBLE)).unwrap();
    assert!(r.pci_maps[0].enumerated);
    assert_eq!(r.iommus[0].master, None);
}
