//! Host tests for `clocks` / `resets` references: an H6-shaped tree (the
//! IOMMU, a two-clock DMA controller with names, a fixed clock with zero
//! cells) and the error cases.  The Debian board DTBs are read in
//! `tests/dt_boards.rs`.
#![forbid(unsafe_code)]

use super::*;
use crate::mm::addr::PhysAddr;
use crate::platform::dt::test_fdt::FdtBuilder;
use crate::platform::dt::Fdt;
use std::string::{String, ToString};
use std::vec::Vec;

const CCU: u32 = 2;
const OSC: u32 = 3;

fn tree(iommu_clocks: &[u32], iommu_resets: &[u32]) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("osc24M")
        .prop_str("compatible", "fixed-clock")
        .prop_u32("#clock-cells", 0)
        .prop_u32("phandle", OSC)
        .end();
    b.begin("soc")
        .prop_str("compatible", "simple-bus")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1)
        .prop_cells("ranges", &[0, 0, 0, 0x4000_0000]);
    b.begin("clock@3001000")
        .prop_str("compatible", "allwinner,sun50i-h6-ccu")
        .prop_cells("reg", &[0x0300_1000, 0x1000])
        .prop_u32("#clock-cells", 1)
        .prop_u32("#reset-cells", 1)
        .prop_u32("phandle", CCU)
        .end();
    b.begin("dma-controller@3002000")
        .prop_cells("reg", &[0x0300_2000, 0x1000])
        .prop_cells("clocks", &[CCU, 0x2b, CCU, 0x35, OSC])
        .prop_strs("clock-names", &["bus", "mbus", "osc"])
        .prop_cells("resets", &[CCU, 8])
        .end();
    b.begin("iommu@30f0000")
        .prop_str("compatible", "allwinner,sun50i-h6-iommu")
        .prop_cells("reg", &[0x030f_0000, 0x1_0000])
        .prop_cells("clocks", iommu_clocks)
        .prop_cells("resets", iommu_resets)
        .prop_u32("#iommu-cells", 1)
        .end();
    b.begin("plain@1000").end();
    b.end();
    b.end();
    b.finish()
}

/// (provider and compatible, index, name, provider reg).
type Row = (String, Option<u32>, Option<String>, Option<PhysRange>);

fn refs(blob: &[u8], path: &str, kind: RefKind) -> Result<Vec<Row>, DtError> {
    let fdt = Fdt::parse(blob).unwrap();
    let loc = fdt.find(path).unwrap();
    let list = read_refs(&loc, kind)?;
    Ok(list
        .iter()
        .map(|r| {
            (
                std::format!("{} {}", r.provider, r.compatible),
                r.index(),
                r.name.map(ToString::to_string),
                r.reg,
            )
        })
        .collect())
}

fn ccu_reg() -> Option<PhysRange> {
    Some(PhysRange::new(PhysAddr(0x0300_1000), 0x1000))
}

#[test]
fn the_iommu_names_its_bus_clock_and_reset_on_the_ccu() {
    let blob = tree(&[CCU, 0x33], &[CCU, 0x0f]);
    let ccu = String::from("clock@3001000 allwinner,sun50i-h6-ccu");
    assert_eq!(
        refs(&blob, "/soc/iommu@30f0000", RefKind::Clock).unwrap(),
        [(ccu.clone(), Some(0x33), None, ccu_reg())]
    );
    assert_eq!(
        refs(&blob, "/soc/iommu@30f0000", RefKind::Reset).unwrap(),
        [(ccu, Some(0x0f), None, ccu_reg())]
    );
}

#[test]
fn names_and_zero_cell_providers() {
    let blob = tree(&[CCU, 0x33], &[CCU, 0x0f]);
    let got = refs(&blob, "/soc/dma-controller@3002000", RefKind::Clock).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].1, got[0].2.as_deref()), (Some(0x2b), Some("bus")));
    assert_eq!((got[1].1, got[1].2.as_deref()), (Some(0x35), Some("mbus")));
    // A fixed clock: no cells, no reg.
    assert_eq!(got[2].0, "osc24M fixed-clock");
    assert_eq!(
        (got[2].1, got[2].2.as_deref(), got[2].3),
        (None, Some("osc"), None)
    );
    assert!(refs(&blob, "/soc/plain@1000", RefKind::Clock)
        .unwrap()
        .is_empty());
    assert!(refs(&blob, "/soc/plain@1000", RefKind::Reset)
        .unwrap()
        .is_empty());
}

#[test]
fn broken_references_are_named_errors() {
    // A phandle nobody has.
    let e = refs(
        &tree(&[0x77, 1], &[CCU, 0x0f]),
        "/soc/iommu@30f0000",
        RefKind::Clock,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            DtError::BadPhandle {
                prop: "clocks",
                phandle: 0x77,
                ..
            }
        ),
        "{e}"
    );
    // Cut short: the CCU takes one cell.
    let e = refs(
        &tree(&[CCU, 0x33], &[CCU]),
        "/soc/iommu@30f0000",
        RefKind::Reset,
    )
    .unwrap_err();
    assert!(
        matches!(e, DtError::BadPropertyLength { prop: "resets", .. }),
        "{e}"
    );
    // A node without #reset-cells named as a reset provider.
    let e = refs(
        &tree(&[CCU, 0x33], &[OSC]),
        "/soc/iommu@30f0000",
        RefKind::Reset,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            DtError::BadPhandle {
                prop: "resets",
                phandle: OSC,
                ..
            }
        ),
        "{e}"
    );
    assert!(std::format!("{e}").contains("#reset-cells"), "{e}");
}

#[test]
fn more_references_than_the_list_holds_is_list_full() {
    let many: Vec<u32> = (0..=MAX_REFS as u32).flat_map(|i| [CCU, i]).collect();
    let e = refs(
        &tree(&many, &[CCU, 0x0f]),
        "/soc/iommu@30f0000",
        RefKind::Clock,
    )
    .unwrap_err();
    assert!(matches!(e, DtError::ListFull { list: "clocks", .. }), "{e}");
}
