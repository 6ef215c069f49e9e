//! Host tests for device-tree discovery: synthetic trees shaped like QEMU
//! `virt` and Allwinner H6 (from `docs/hw/board-facts.md` §1.3 and §2), each malformed
//! case with its error, a deterministic mutation fuzzer, a differential
//! check against the `fdt` crate, and (when QEMU is installed) a real `virt`
//! DTB.
#![forbid(unsafe_code)]

use super::test_fdt::{get_u32, hdr, set_u32, FdtBuilder};
use super::*;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

const DTB_ADDR: PhysAddr = PhysAddr(0x4800_0000);

fn pr(base: u64, size: u64) -> PhysRange {
    PhysRange::new(PhysAddr(base), size)
}

/// A tree shaped like QEMU 10 `virt` (docs/hw/board-facts.md §1.3).
fn qemu_virt() -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("interrupt-parent", 0x8002)
        .prop_u32("#size-cells", 2)
        .prop_u32("#address-cells", 2)
        .prop_str("compatible", "linux,dummy-virt");
    b.begin("psci")
        .prop_u32("migrate", 0xc400_0005)
        .prop_str("method", "hvc")
        .prop_strs("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .end();
    b.begin("memory@40000000")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .prop_str("device_type", "memory")
        .end();
    b.begin("pl011@9000000")
        .prop_strs("clock-names", &["uartclk", "apb_pclk"])
        .prop_cells("reg", &[0, 0x0900_0000, 0, 0x1000])
        .prop_strs("compatible", &["arm,pl011", "arm,primecell"])
        .end();
    b.begin("smmuv3@9050000")
        .prop_u32("#iommu-cells", 1)
        .prop_cells("reg", &[0, 0x0905_0000, 0, 0x2_0000])
        .prop_str("compatible", "arm,smmu-v3")
        .end();
    b.begin("aliases")
        .prop_str("serial0", "/pl011@9000000")
        .end();
    b.begin("chosen")
        .prop_str("stdout-path", "/pl011@9000000")
        .prop_str("bootargs", "iommu_bringup.exit=semihosting")
        .end();
    b.end();
    b.finish()
}

/// A tree shaped like an Allwinner H6 board after U-Boot + TF-A
/// (docs/hw/board-facts.md §1.4, §2): alias stdout-path with options, DW-APB UART under
/// a translating `/soc`, reserved-memory with no-map and a dynamic pool.
fn sunxi_h6() -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.memreserve(0x4fa0_0000, 0x1_0000);
    b.begin("")
        .prop_str("model", "OrangePi One Plus")
        .prop_strs(
            "compatible",
            &["xunlong,orangepi-one-plus", "allwinner,sun50i-h6"],
        )
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("aliases")
        .prop_str("serial0", "/soc/serial@5000000")
        .end();
    b.begin("chosen")
        .prop_str("stdout-path", "serial0:115200n8")
        .end();
    b.begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000])
        .end();
    b.begin("reserved-memory")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2)
        .prop_empty("ranges");
    b.begin("tf-a@40000000")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x4_0000])
        .prop_empty("no-map")
        .end();
    b.begin("linux,cma")
        .prop_str("compatible", "shared-dma-pool")
        .prop_empty("reusable")
        .prop_cells("size", &[0, 0x400_0000])
        .prop_cells("alloc-ranges", &[0, 0x4000_0000, 0, 0x4000_0000])
        .end();
    b.begin("scp@40100000")
        .prop_cells("reg", &[0, 0x4010_0000, 0, 0x1000])
        .end();
    b.end(); // reserved-memory
    b.begin("psci")
        .prop_strs("compatible", &["arm,psci-0.2"])
        .prop_str("method", "smc")
        .end();
    // /soc: 1-cell child addresses; child 0 -> parent 0, 1 GiB window.
    b.begin("soc")
        .prop_str("compatible", "simple-bus")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1)
        .prop_cells("ranges", &[0, 0, 0, 0x4000_0000]);
    b.begin("serial@5000000")
        .prop_str("compatible", "snps,dw-apb-uart")
        .prop_cells("reg", &[0x0500_0000, 0x400])
        .prop_u32("reg-shift", 2)
        .prop_u32("reg-io-width", 4)
        .prop_str("status", "okay")
        .end();
    b.end(); // soc
    b.end(); // root
    b.finish()
}

#[test]
fn qemu_virt_like_tree() {
    let blob = qemu_virt();
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert_eq!(info.dtb, pr(0x4800_0000, blob.len() as u64));
    assert_eq!(info.compatible, "linux,dummy-virt");
    assert_eq!(info.model, "");
    assert_eq!(info.memory.as_slice(), &[pr(0x4000_0000, 0x1000_0000)]);
    assert!(info.reserved.is_empty());
    assert!(info.no_map.is_empty());
    assert_eq!(info.psci, Some(PsciConduit::Hvc));
    assert_eq!(info.bootargs, b"iommu_bringup.exit=semihosting");
    let c = info.console.unwrap();
    assert_eq!(c.path, "/pl011@9000000");
    assert_eq!(c.name, "pl011@9000000");
    assert_eq!(c.compatible, "arm,pl011");
    assert_eq!(c.kind, ConsoleKind::Pl011);
    assert_eq!(c.reg, pr(0x0900_0000, 0x1000));
    assert_eq!((c.reg_shift, c.reg_io_width), (0, 4));
    assert_eq!(c.options, None);
    assert!(c.enabled);
}

/// Issue 10 item 8: one non-UTF-8 byte in `/chosen/bootargs` used to fail
/// the `/chosen` section (and lose `exit=semihosting` with it); the bytes
/// are now handed to the bootargs parser, which judges word by word.
#[test]
fn non_utf8_bootargs_are_read_as_bytes() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end();
    b.begin("chosen")
        .prop(
            "bootargs",
            b"console=tty\xff iommu_bringup.exit=semihosting\0",
        )
        .end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::parse(&blob).unwrap();
    let (info, errors) = discover_sections(&fdt, DTB_ADDR).unwrap();
    assert_eq!(errors.chosen, None);
    assert_eq!(
        info.bootargs,
        b"console=tty\xff iommu_bringup.exit=semihosting"
    );
    let args = crate::platform::bootargs::Bootargs::parse(info.bootargs);
    assert_eq!(
        args.exit,
        Some(crate::platform::bootargs::ExitRequest::Semihosting)
    );
    assert_eq!(args.ignored().total(), 1);
}

#[test]
fn sunxi_like_tree() {
    let blob = sunxi_h6();
    let info = discover(&blob, PhysAddr(0x4fa0_0000)).unwrap();
    assert_eq!(info.model, "OrangePi One Plus");
    assert_eq!(info.compatible, "xunlong,orangepi-one-plus");
    assert_eq!(info.memory.as_slice(), &[pr(0x4000_0000, 0x4000_0000)]);
    assert_eq!(
        info.reserved.as_slice(),
        &[
            pr(0x4fa0_0000, 0x1_0000),
            pr(0x4000_0000, 0x4_0000),
            pr(0x4010_0000, 0x1000)
        ]
    );
    assert_eq!(info.no_map.as_slice(), &[pr(0x4000_0000, 0x4_0000)]);
    assert_eq!(info.dynamic_reserved, 1);
    assert_eq!(info.psci, Some(PsciConduit::Smc));
    assert_eq!(info.bootargs, b"");
    let c = info.console.unwrap();
    assert_eq!(c.path, "/soc/serial@5000000");
    assert_eq!(c.kind, ConsoleKind::Ns16550);
    assert_eq!(c.compatible, "snps,dw-apb-uart");
    assert_eq!(c.reg, pr(0x0500_0000, 0x400));
    assert_eq!((c.reg_shift, c.reg_io_width), (2, 4));
    assert_eq!(c.options, Some("115200n8"));
}

/// Nested buses with non-identity `ranges`, 1- and 2-cell spaces.
fn bus_tree(inner_ranges: Option<&[u32]>) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@80000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x8000_0000, 0, 0x1000_0000])
        .end();
    // soc@0: child 0x0 -> CPU 0x1_0000_0000, 256 MiB; child 0x2000_0000 -> 0x2000_0000.
    b.begin("soc@0")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1)
        .prop_cells(
            "ranges",
            &[
                0,
                0x1,
                0,
                0x1000_0000,
                0x2000_0000,
                0,
                0x2000_0000,
                0x100_0000,
            ],
        );
    b.begin("uart@1000")
        .prop_str("compatible", "ns16550a")
        .prop_cells("reg", &[0x1000, 0x100, 0x2000_0100, 0x10])
        .end();
    b.begin("bus@100000")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    if let Some(r) = inner_ranges {
        b.prop_cells("ranges", r);
    }
    b.begin("dev@200").prop_cells("reg", &[0x200, 0x10]).end();
    b.end();
    b.end(); // soc
    b.begin("chosen").prop_str("stdout-path", "/soc/uart").end();
    b.end();
    b.finish()
}

#[test]
fn ranges_translation_multi_level() {
    let blob = bus_tree(Some(&[0, 0x10_0000, 0x1_0000]));
    let fdt = Fdt::parse(&blob).unwrap();
    assert_eq!(
        node_reg(&fdt, "/soc/uart@1000", 0).unwrap(),
        pr(0x1_0000_1000, 0x100)
    );
    assert_eq!(
        node_reg(&fdt, "/soc/uart@1000", 1).unwrap(),
        pr(0x2000_0100, 0x10)
    );
    assert_eq!(
        node_reg(&fdt, "/soc/bus@100000/dev@200", 0).unwrap(),
        pr(0x1_0010_0200, 0x10)
    );
    // Unit-address-less path components match like libfdt.
    assert_eq!(
        node_reg(&fdt, "/soc/bus/dev", 0).unwrap(),
        pr(0x1_0010_0200, 0x10)
    );
    assert!(matches!(
        node_reg(&fdt, "/soc/uart@1000", 2),
        Err(DtError::IndexOutOfRange {
            index: 2,
            count: 2,
            ..
        })
    ));
    let info = discover(&blob, DTB_ADDR).unwrap();
    let c = info.console.unwrap();
    assert_eq!(c.reg, pr(0x1_0000_1000, 0x100));
    assert_eq!(c.path, "/soc/uart");
    assert_eq!((c.kind, c.reg_io_width), (ConsoleKind::Ns16550, 1));
}

#[test]
fn empty_ranges_is_identity_and_absent_is_error() {
    let blob = bus_tree(Some(&[]));
    let fdt = Fdt::parse(&blob).unwrap();
    assert_eq!(
        node_reg(&fdt, "/soc/bus@100000/dev@200", 0).unwrap(),
        pr(0x1_0000_0200, 0x10)
    );
    let blob = bus_tree(None);
    let fdt = Fdt::parse(&blob).unwrap();
    let e = node_reg(&fdt, "/soc/bus@100000/dev@200", 0).unwrap_err();
    match e {
        DtError::NotTranslatable { node, bus } => {
            assert_eq!(node.as_str(), "/soc@0/bus@100000/dev@200");
            assert_eq!(bus.as_str(), "/soc@0/bus@100000");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("has no `ranges`"), "{e}");
    // Outside every ranges entry.
    let blob = bus_tree(Some(&[0x1000, 0x10_0000, 0x100]));
    let fdt = Fdt::parse(&blob).unwrap();
    assert!(matches!(
        node_reg(&fdt, "/soc/bus@100000/dev@200", 0),
        Err(DtError::NoRangeMatch { addr: 0x200, .. })
    ));
}

#[test]
fn two_memory_nodes_and_memreserve() {
    let mut b = FdtBuilder::new();
    b.memreserve(0x4800_0000, 0x10_0000)
        .memreserve(0x4900_0000, 0);
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_cells(
            "reg",
            &[
                0,
                0x4000_0000,
                0,
                0x2000_0000,
                0,
                0x6000_0000,
                0,
                0x1000_0000,
            ],
        )
        .end();
    b.begin("memory@100000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[1, 0, 1, 0, 2, 0, 0, 0])
        .end();
    b.begin("memory@200000000")
        .prop_str("device_type", "memory")
        .prop_str("status", "disabled")
        .prop_cells("reg", &[2, 0, 1, 0])
        .end();
    b.end();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert_eq!(
        info.memory.as_slice(),
        &[
            pr(0x4000_0000, 0x2000_0000),
            pr(0x6000_0000, 0x1000_0000),
            pr(0x1_0000_0000, 0x1_0000_0000)
        ]
    );
    assert_eq!(info.reserved.as_slice(), &[pr(0x4800_0000, 0x10_0000)]);
    assert!(matches!(info.console, Err(DtError::NoConsole)));
    assert_eq!(info.psci, None);
}

#[test]
fn serial0_alias_fallback() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    b.begin("memory")
        .prop_cells("reg", &[0x4000_0000, 0x100_0000])
        .end();
    b.begin("aliases")
        .prop_str("serial0", "/uart@1c28000")
        .end();
    b.begin("chosen")
        .prop_str("bootargs", "console=ttyS0")
        .end();
    b.begin("uart@1c28000")
        .prop_strs("compatible", &["vendor,foo-uart", "ns16550a"])
        .prop_cells("reg", &[0x01c2_8000, 0x400])
        .prop_u32("reg-shift", 2)
        .end();
    b.end();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    // A memory node without device_type is accepted by name.
    assert_eq!(info.memory.as_slice(), &[pr(0x4000_0000, 0x100_0000)]);
    assert_eq!(info.bootargs, b"console=ttyS0");
    let c = info.console.unwrap();
    assert_eq!(c.path, "/uart@1c28000");
    assert_eq!(c.compatible, "ns16550a");
    assert_eq!((c.reg_shift, c.reg_io_width), (2, 1));
    assert_eq!(c.reg, pr(0x01c2_8000, 0x400));
}

#[test]
fn unknown_console_is_reported_not_fatal() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x100_0000])
        .end();
    b.begin("chosen").prop_str("stdout-path", "serial0").end();
    b.begin("aliases")
        .prop_str("serial0", "/serial@a84000")
        .end();
    b.begin("serial@a84000")
        .prop_str("compatible", "qcom,geni-debug-uart")
        .prop_cells("reg", &[0x00a8_4000, 0x4000])
        .end();
    b.end();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    let c = info.console.unwrap();
    assert_eq!(c.kind, ConsoleKind::Geni);
    assert_eq!(c.compatible, "qcom,geni-debug-uart");
    assert_eq!(c.path, "/serial@a84000");
}

#[test]
fn nops_anywhere_are_accepted() {
    let mut b = FdtBuilder::new();
    b.nop().begin("").nop();
    b.prop_u32("#address-cells", 1)
        .nop()
        .prop_u32("#size-cells", 1)
        .nop();
    b.begin("memory@0")
        .nop()
        .prop_str("device_type", "memory")
        .nop()
        .prop_cells("reg", &[0, 0x1000])
        .nop()
        .end()
        .nop();
    b.begin("chosen")
        .prop_str("stdout-path", "/memory@0")
        .nop()
        .end();
    b.nop().end().nop();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert_eq!(info.memory.as_slice(), &[pr(0, 0x1000)]);
    assert_eq!(info.console.unwrap().kind, ConsoleKind::Unknown);
}

#[test]
fn header_total_size_checks() {
    let blob = qemu_virt();
    assert_eq!(header_total_size(&blob[..40]).unwrap(), blob.len());
    assert!(matches!(
        header_total_size(&blob[..39]),
        Err(DtError::HeaderTooShort { len: 39 })
    ));
    let mut b = blob.clone();
    set_u32(&mut b, hdr::MAGIC, 0xfeed_d00d);
    assert!(matches!(
        header_total_size(&b),
        Err(DtError::BadMagic { found: 0xfeed_d00d })
    ));
    set_u32(&mut b, hdr::MAGIC, 0xd00d_feed);
    set_u32(&mut b, hdr::TOTALSIZE, 2 * 1024 * 1024 + 1);
    assert!(matches!(
        header_total_size(&b),
        Err(DtError::BadTotalSize { .. })
    ));
    set_u32(&mut b, hdr::TOTALSIZE, 39);
    assert!(matches!(
        header_total_size(&b),
        Err(DtError::BadTotalSize { totalsize: 39, .. })
    ));
}

// ---- malformed blobs -------------------------------------------------------

fn err_of(blob: &[u8]) -> DtError {
    match discover(blob, DTB_ADDR) {
        Ok(i) => panic!("expected an error, got {i:?}"),
        Err(e) => {
            // Every error renders a non-empty message without panicking.
            assert!(e.to_string().starts_with("device tree: "), "{e}");
            e
        }
    }
}

#[test]
fn truncated_blob() {
    let blob = qemu_virt();
    let e = err_of(&blob[..blob.len() - 10]);
    assert_eq!(
        e,
        DtError::Truncated {
            totalsize: blob.len(),
            available: blob.len() - 10
        }
    );
    assert!(matches!(
        err_of(&blob[..20]),
        DtError::HeaderTooShort { len: 20 }
    ));
    assert!(matches!(err_of(&[]), DtError::HeaderTooShort { len: 0 }));
}

#[test]
fn wrong_magic() {
    let mut blob = qemu_virt();
    set_u32(&mut blob, hdr::MAGIC, 0xedfe_0dd0); // byte-swapped
    assert_eq!(err_of(&blob), DtError::BadMagic { found: 0xedfe_0dd0 });
}

#[test]
fn totalsize_larger_than_buffer() {
    let mut blob = qemu_virt();
    let n = blob.len();
    set_u32(&mut blob, hdr::TOTALSIZE, n as u32 + 100);
    assert!(matches!(
        err_of(&blob),
        DtError::Truncated { available, .. } if available == n
    ));
}

#[test]
fn blocks_outside_blob_or_bad_version() {
    let blob = qemu_virt();
    let n = blob.len() as u32;
    for (field, v, block) in [
        (hdr::OFF_DT_STRUCT, n, "structure"),
        (hdr::SIZE_DT_STRUCT, n, "structure"),
        (hdr::OFF_DT_STRUCT, 42, "structure"),
        (hdr::OFF_DT_STRINGS, u32::MAX, "strings"),
        (hdr::SIZE_DT_STRINGS, u32::MAX - 10, "strings"),
        (hdr::OFF_MEM_RSVMAP, 8, "memory reservation"),
        (hdr::OFF_MEM_RSVMAP, n - 8, "memory reservation"),
    ] {
        let mut b = blob.clone();
        set_u32(&mut b, field, v);
        match err_of(&b) {
            DtError::BadBlock { block: got, .. } => assert_eq!(got, block),
            other => panic!("field {field} = {v}: {other:?}"),
        }
    }
    let mut b = blob.clone();
    set_u32(&mut b, hdr::VERSION, 16);
    assert!(matches!(
        err_of(&b),
        DtError::UnsupportedVersion { version: 16, .. }
    ));
}

#[test]
fn missing_memory() {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", 2);
    b.begin("chosen").end();
    b.end();
    assert_eq!(err_of(&b.finish()), DtError::NoMemory);
    // A memory node with only zero sizes (ABL before patching) is no memory.
    let mut b = FdtBuilder::new();
    b.begin("");
    b.begin("memory@80000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x8000_0000, 0])
        .end();
    b.end();
    assert_eq!(err_of(&b.finish()), DtError::NoMemory);
}

#[test]
fn absurd_address_cells() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 5)
        .prop_u32("#size-cells", 1);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0, 0, 0, 0x1000])
        .end();
    b.end();
    match err_of(&b.finish()) {
        DtError::BadCells {
            node,
            prop: "#address-cells",
            value: 5,
            max: 4,
        } => assert_eq!(node.as_str(), "/"),
        other => panic!("{other:?}"),
    }
    // #address-cells property of the wrong length.
    let mut b = FdtBuilder::new();
    b.begin("").prop_cells("#address-cells", &[1, 1]);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x1000])
        .end();
    b.end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadPropertyLength {
            prop: "#address-cells",
            len: 8,
            expected: 4,
            exact: true,
            ..
        }
    ));
}

#[test]
fn zero_address_cells_under_a_reg_node() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 0)
        .prop_u32("#size-cells", 1);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0x1000])
        .end();
    b.end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadValue {
            prop: "#address-cells",
            found: 0,
            ..
        }
    ));
}

#[test]
fn reg_length_not_multiple_of_entry() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 2)
        .prop_u32("#size-cells", 2);
    b.begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x4000_0000, 0x1000_0000])
        .end();
    b.end();
    let e = err_of(&b.finish());
    match e {
        DtError::BadPropertyLength {
            node,
            prop: "reg",
            len: 12,
            expected: 16,
            exact: false,
        } => assert_eq!(node.as_str(), "/memory@40000000"),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("/memory@40000000"), "{e}");
}

#[test]
fn stdout_path_pointing_nowhere() {
    for sp in [
        "/nonexistent@0",
        "serial7:115200n8",
        "/soc/serial@5000000/x",
    ] {
        let mut b = FdtBuilder::new();
        b.begin("")
            .prop_u32("#address-cells", 1)
            .prop_u32("#size-cells", 1);
        b.begin("memory@0")
            .prop_str("device_type", "memory")
            .prop_cells("reg", &[0, 0x1000])
            .end();
        b.begin("aliases").prop_str("serial0", "/uart@0").end();
        b.begin("chosen").prop_str("stdout-path", sp).end();
        b.end();
        let blob = b.finish();
        let info = discover(&blob, DTB_ADDR).unwrap();
        match info.console {
            Err(DtError::NotFound {
                what: "stdout-path",
                path,
            }) => assert_eq!(path.as_str(), sp.split(':').next().unwrap()),
            other => panic!("{sp}: {other:?}"),
        }
    }
}

#[test]
fn alias_chains_are_not_followed() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0x1000])
        .end();
    // serial0 -> serial1 -> serial0: a cycle if aliases were followed.
    b.begin("aliases")
        .prop_str("serial0", "serial1")
        .prop_str("serial1", "serial0")
        .end();
    b.end();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert!(matches!(info.console, Err(DtError::NotFound { .. })));
}

#[test]
fn too_deep_and_unbalanced_structure() {
    let mut b = FdtBuilder::new();
    b.begin("");
    for _ in 0..100 {
        b.begin("n");
    }
    for _ in 0..100 {
        b.end();
    }
    b.end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::TooDeep { limit: 64, .. }
    ));

    let mut b = FdtBuilder::new();
    b.begin("").end().end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadStructure { token: 2, .. }
    ));

    let mut b = FdtBuilder::new();
    b.begin("").begin("a");
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadStructure { token: 9, .. }
    ));

    let mut b = FdtBuilder::new();
    b.begin("").end().begin("");
    b.end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadStructure {
            problem: "a second root node",
            ..
        }
    ));

    // Property after a child node (spec §5.4.2 ordering).
    let mut b = FdtBuilder::new();
    b.begin("").begin("a").end().prop_u32("late", 1).end();
    assert!(matches!(
        err_of(&b.finish()),
        DtError::BadStructure {
            problem: "a property after a child node",
            ..
        }
    ));
}

#[test]
fn property_overruns_and_bad_names() {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("x", 1).end();
    let good = b.finish();
    let so = get_u32(&good, hdr::OFF_DT_STRUCT) as usize;
    // Root: BEGIN(4) + name ""(4) then PROP at so+8: len at so+12, nameoff at so+16.
    let mut blob = good.clone();
    set_u32(&mut blob, so + 12, 0xffff_fff0);
    assert!(matches!(
        err_of(&blob),
        DtError::BadStructure {
            problem: "property value runs past the structure block",
            ..
        }
    ));
    let mut blob = good.clone();
    set_u32(&mut blob, so + 16, 1000);
    assert!(matches!(
        err_of(&blob),
        DtError::BadName {
            what: "property name",
            offset: 1000,
            ..
        }
    ));
    let mut blob = good.clone();
    set_u32(&mut blob, so + 8, 7);
    assert!(matches!(
        err_of(&blob),
        DtError::BadStructure {
            token: 7,
            problem: "unknown token",
            ..
        }
    ));
    // Node name that is not UTF-8.
    let mut b = FdtBuilder::new();
    b.begin("").begin("ab").end().end();
    let mut blob = b.finish();
    blob[so + 12] = 0xff;
    assert!(matches!(
        err_of(&blob),
        DtError::BadName {
            what: "node name",
            ..
        }
    ));
}

#[test]
fn memreserve_without_terminator() {
    let mut b = FdtBuilder::new();
    b.begin("").end();
    let mut blob = b.finish();
    // Point the reservation block at the last 16 bytes: non-zero, no terminator after.
    let n = blob.len();
    blob.extend_from_slice(&[0xaa; 24]);
    let n2 = (n + 7) & !7;
    set_u32(&mut blob, hdr::TOTALSIZE, (n2 + 16) as u32);
    set_u32(&mut blob, hdr::OFF_MEM_RSVMAP, n2 as u32);
    assert!(matches!(
        err_of(&blob),
        DtError::MemReserveUnterminated { .. }
    ));
}

#[test]
fn bad_psci_method_and_uart_widths() {
    let mut blob_builder = FdtBuilder::new();
    blob_builder.begin("");
    blob_builder
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0x1000])
        .end();
    blob_builder.begin("psci").prop_str("method", "svc").end();
    blob_builder.end();
    match err_of(&blob_builder.finish()) {
        DtError::BadValue {
            node,
            prop: "method",
            ..
        } => assert_eq!(node.as_str(), "/psci"),
        other => panic!("{other:?}"),
    }

    let mut b = FdtBuilder::new();
    b.begin("");
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &[0, 0, 0x1000])
        .end();
    b.begin("chosen").prop_str("stdout-path", "/uart@0").end();
    b.begin("uart@0")
        .prop_str("compatible", "ns16550a")
        .prop_cells("reg", &[0, 0, 0x100])
        .prop_u32("reg-io-width", 3)
        .end();
    b.end();
    let blob = b.finish();
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert!(matches!(
        info.console,
        Err(DtError::BadValue {
            prop: "reg-io-width",
            found: 3,
            ..
        })
    ));
}

#[test]
fn region_list_overflow_names_the_list() {
    let mut b = FdtBuilder::new();
    b.begin("")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 1);
    let cells: Vec<u32> = (0..33u32).flat_map(|i| [i * 0x1000, 0x1000]).collect();
    b.begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_cells("reg", &cells)
        .end();
    b.end();
    assert_eq!(
        err_of(&b.finish()),
        DtError::ListFull {
            list: "memory",
            capacity: MAX_REGIONS
        }
    );
    let mut l = RegionList::new("test");
    assert!(l.is_empty());
    for i in 0..MAX_REGIONS {
        l.push(pr(i as u64, 1)).unwrap();
    }
    assert_eq!(l.len(), MAX_REGIONS);
    assert_eq!(l.iter().count(), MAX_REGIONS);
    let e = l.push(pr(0, 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "device tree: more than 32 test entries (fixed capacity)"
    );
}

#[test]
fn long_names_are_cut_in_errors() {
    let long = "a".repeat(200);
    let n = DtName::new(&long);
    assert!(n.is_truncated());
    assert_eq!(n.as_str().len(), error::DT_NAME_CAPACITY);
    assert!(format!("{n}").ends_with("..."));
    let n = DtName::new("é".repeat(30).as_str()); // 2-byte chars straddle the cut
    assert!(n.as_str().chars().all(|c| c == 'é'));
}

#[test]
fn walk_visits_every_node_with_paths() {
    let blob = sunxi_h6();
    let fdt = Fdt::parse(&blob).unwrap();
    let mut paths = Vec::new();
    fdt.walk(|l| {
        paths.push(l.path_name().as_str().to_string());
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        paths,
        [
            "/",
            "/aliases",
            "/chosen",
            "/memory@40000000",
            "/reserved-memory",
            "/reserved-memory/tf-a@40000000",
            "/reserved-memory/linux,cma",
            "/reserved-memory/scp@40100000",
            "/psci",
            "/soc",
            "/soc/serial@5000000",
        ]
    );
}

// ---- differential check against the `fdt` crate ---------------------------

fn names_ours(blob: &[u8]) -> Vec<String> {
    let fdt = Fdt::parse(blob).unwrap();
    let mut v = Vec::new();
    fdt.walk(|l| {
        let n = l.node();
        let props: Vec<String> = n.properties().map(|p| p.name.to_string()).collect();
        v.push(format!("{}:{}", n.display_name(), props.join(",")));
        Ok(true)
    })
    .unwrap();
    v
}

fn names_fdt_crate(blob: &[u8]) -> Vec<String> {
    let fdt = fdt::Fdt::new(blob).unwrap();
    fdt.all_nodes()
        .map(|n| {
            let props: Vec<String> = n.properties().map(|p| p.name.to_string()).collect();
            format!("{}:{}", n.name, props.join(","))
        })
        .collect()
}

#[test]
fn agrees_with_fdt_crate_on_valid_blobs() {
    for blob in [
        qemu_virt(),
        sunxi_h6(),
        bus_tree(Some(&[0, 0x10_0000, 0x1_0000])),
    ] {
        assert_eq!(names_ours(&blob), names_fdt_crate(&blob));
        let theirs: Vec<(u64, u64)> = fdt::Fdt::new(&blob)
            .unwrap()
            .memory_reservations()
            .map(|r| (r.address() as u64, r.size() as u64))
            .collect();
        let ours: Vec<(u64, u64)> = Fdt::parse(&blob)
            .unwrap()
            .mem_reservations()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(ours, theirs);
    }
}

// ---- deterministic mutation fuzzing -----------------------------------------

pub(crate) struct XorShift(pub(super) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        // Marsaglia, "Xorshift RNGs" (2003), 64-bit variant 13/7/17.
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    3,
    4,
    5,
    9,
    0xd00d_feed,
    0x7fff_ffff,
    0xffff_ffff,
    64,
    0x8000_0000,
];

pub(crate) fn mutate(base: &[u8], rng: &mut XorShift) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(12) {
            0 | 1 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            2 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            3..=5 if b.len() >= 4 => {
                let i = rng.below(b.len() / 4) * 4;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                b[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            6 if b.len() >= 40 => {
                // Header fields are the most damaging: hit them often.
                let i = rng.below(10) * 4;
                let v = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.below(b.len() + 64) as u32
                };
                b[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            7 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            _ => {
                // Duplicate or drop a 4-byte token-sized chunk.  Inside the
                // structure block, keep the header consistent (sizes and
                // the strings offset, which our builder puts after it) so
                // the mutant gets past the header checks to the tokens.
                if b.len() >= 48 {
                    let i = rng.below(b.len() / 4) * 4;
                    let so = get_u32(&b, hdr::OFF_DT_STRUCT) as usize;
                    let ss = get_u32(&b, hdr::SIZE_DT_STRUCT) as usize;
                    let inside = i >= so && i + 4 <= so.saturating_add(ss) && i >= 40;
                    let grow = rng.below(2) == 0;
                    if grow {
                        let w: Vec<u8> = b[i..i + 4].to_vec();
                        b.splice(i..i, w);
                    } else {
                        b.drain(i..i + 4);
                    }
                    if inside {
                        let adj = |v: u32| {
                            if grow {
                                v.wrapping_add(4)
                            } else {
                                v.wrapping_sub(4)
                            }
                        };
                        for f in [hdr::TOTALSIZE, hdr::SIZE_DT_STRUCT, hdr::OFF_DT_STRINGS] {
                            let v = adj(get_u32(&b, f));
                            set_u32(&mut b, f, v);
                        }
                    }
                }
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

fn exercise(blob: &[u8]) -> usize {
    // Everything a caller can do with whatever discover() accepts.
    let _ = header_total_size(blob);
    let mut seen = 0;
    if let Ok(info) = discover(blob, DTB_ADDR) {
        seen += info.memory.len() + info.reserved.len();
        let _ = format!("{info:?}");
    }
    if let Ok(fdt) = Fdt::parse(blob) {
        let _ = fdt.walk(|l| {
            let _ = translate_reg(l, 0);
            let _ = l.node().prop_strs("compatible").count();
            seen += 1;
            Ok(true)
        });
        let _ = node_reg(&fdt, "serial0", 0);
        let _ = find_console(&fdt).map_err(|e| format!("{e}"));
    }
    if let Err(e) = discover(blob, DTB_ADDR) {
        let _ = format!("{e}");
    }
    seen
}

fn fuzz(name: &str, base: &[u8], seed0: u64, iterations: u64) {
    for i in 0..iterations {
        let seed = seed0.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rng = XorShift(seed);
        let blob = mutate(base, &mut rng);
        let r = std::panic::catch_unwind(|| exercise(&blob));
        assert!(
            r.is_ok(),
            "{name}: discover() panicked on mutation seed {seed:#x} (iteration {i})"
        );
    }
}

#[test]
fn fuzz_mutated_blobs_never_panic() {
    fuzz("qemu_virt", &qemu_virt(), 1, 4000);
    fuzz("sunxi_h6", &sunxi_h6(), 2, 4000);
    fuzz(
        "bus_tree",
        &bus_tree(Some(&[0, 0x10_0000, 0x1_0000])),
        3,
        2000,
    );
}

// ---- a real QEMU virt DTB ----------------------------------------------------

/// Dumps a `virt` DTB with `machine_opts` (e.g. `iommu=smmuv3`) and extra
/// arguments; `None` when QEMU is not installed or fails.
fn qemu_dtb_raw(machine_opts: &str, extra: &[&str]) -> Option<Vec<u8>> {
    let qemu = "qemu-system-aarch64";
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("iommu-bringup-dt-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join("virt.dtb");
    let status = std::process::Command::new(qemu)
        .arg("-M")
        .arg(format!("virt,{machine_opts},dumpdtb={}", file.display()))
        .args([
            "-cpu",
            "cortex-a57",
            "-m",
            "256M",
            "-nodefaults",
            "-display",
            "none",
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let blob = std::fs::read(&file).ok();
    let _ = std::fs::remove_dir_all(&dir);
    if status.success() {
        blob
    } else {
        None
    }
}

/// Dumps a `virt` DTB (see `qemu_dtb_raw`); when `IOMMU_BRINGUP_REQUIRE_QEMU` is set (as
/// `cargo xtask test` does once it has installed QEMU) a missing or failing
/// QEMU is a test failure instead of a skip.
pub(crate) fn qemu_dtb_with(machine_opts: &str, extra: &[&str]) -> Option<Vec<u8>> {
    let blob = qemu_dtb_raw(machine_opts, extra);
    if blob.is_none() && std::env::var_os("IOMMU_BRINGUP_REQUIRE_QEMU").is_some() {
        panic!("IOMMU_BRINGUP_REQUIRE_QEMU is set but qemu-system-aarch64 -M virt,{machine_opts},dumpdtb=... failed");
    }
    blob
}

fn qemu_dtb() -> Option<Vec<u8>> {
    qemu_dtb_with("iommu=smmuv3", &[])
}

#[test]
fn real_qemu_virt_dtb() {
    let Some(blob) = qemu_dtb() else {
        std::eprintln!("SKIP real_qemu_virt_dtb: qemu-system-aarch64 not available");
        return;
    };
    let info = discover(&blob, DTB_ADDR).unwrap();
    assert_eq!(info.memory.as_slice(), &[pr(0x4000_0000, 256 << 20)]);
    assert_eq!(info.psci, Some(PsciConduit::Hvc));
    let c = info.console.unwrap();
    assert_eq!(c.kind, ConsoleKind::Pl011);
    assert_eq!(c.path, "/pl011@9000000");
    assert_eq!(c.reg, pr(0x0900_0000, 0x1000));
    let fdt = Fdt::parse(&blob).unwrap();
    assert_eq!(
        node_reg(&fdt, "/smmuv3@9050000", 0).unwrap(),
        pr(0x0905_0000, 0x2_0000)
    );
    assert_eq!(names_ours(&blob), names_fdt_crate(&blob));
    // QEMU pads its tree to 1 MiB of free space after the strings block:
    // fuzz the packed tree, so every mutation lands on the tree itself
    // (and the test takes 0.1 s, not 17: each mutant is a copy).
    let used =
        (get_u32(&blob, hdr::OFF_DT_STRINGS) + get_u32(&blob, hdr::SIZE_DT_STRINGS)) as usize;
    assert!(
        used < blob.len(),
        "strings block is not last ({used} of {})",
        blob.len()
    );
    let mut packed = blob[..used].to_vec();
    set_u32(&mut packed, hdr::TOTALSIZE, used as u32);
    assert_eq!(names_ours(&packed), names_ours(&blob));
    fuzz("real_qemu_virt", &packed, 4, 3_000);
}

/// The mutator must not only produce header garbage: enough mutants have to
/// pass validation for the fuzz to exercise discovery's semantic layer.
#[test]
fn fuzz_reaches_the_semantic_layer() {
    let base = sunxi_h6();
    let (mut parsed, mut structural) = (0, 0);
    for i in 0..4000u64 {
        let seed = 2u64.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let blob = mutate(&base, &mut XorShift(seed));
        match Fdt::parse(&blob) {
            Ok(_) => parsed += 1,
            Err(DtError::BadStructure { .. }) | Err(DtError::BadName { .. }) => structural += 1,
            Err(_) => {}
        }
    }
    assert!(parsed >= 200, "only {parsed} of 4000 mutants parse");
    assert!(
        structural >= 800,
        "only {structural} of 4000 mutants reach the token walker"
    );
}
