//! Discovery on the boards' real device trees (issue 6): Debian's arm64
//! kernel DTBs for the Allwinner, Qualcomm, ZynqMP (ZCU102) and Juno boards, fetched and
//! sha256-verified into `target/dtbs/` by `cargo xtask fetch-dtbs`
//! (`tools/xtask/src/dtbs.rs`, list in `tests/fixtures/dtbs.sha256`), and a
//! trimmed Apple t8103 DTS compiled with `dtc`.
//!
//! Each test asserts what the image's discovery finds (console, memory,
//! IOMMU nodes with kind and base, masters and their stream IDs, PCI maps,
//! disabled nodes) against `docs/hw/board-facts.md` §2–§3, and pins the whole
//! `cargo xtask dt-probe` text against `tests/fixtures/dtprobe/*.txt` when
//! the DTBs are the pinned, verified ones.  Regenerate the pictures with
//! `IOMMU_BRINGUP_BLESS=1 cargo test --test dt_boards` and review the diff.
//!
//! Without the fixtures (no `cargo xtask fetch-dtbs`, no `dtc`) the tests
//! skip with a message, unless `IOMMU_BRINGUP_REQUIRE_DTBS` is set, as
//! `cargo xtask test` does: then a missing fixture fails.

use iommu_bringup::platform::dt::report::{IommuReport, Report};
use iommu_bringup::selftest::families::dt_probe as probe;
use iommu_bringup::selftest::plan::{plan, PlanState};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dtb_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("dtbs")
}

fn required() -> bool {
    std::env::var_os("IOMMU_BRINGUP_REQUIRE_DTBS").is_some()
}

fn skip(why: &str) {
    assert!(
        !required(),
        "fixture missing and IOMMU_BRINGUP_REQUIRE_DTBS is set: {why}"
    );
    eprintln!("SKIP: {why}; run `cargo xtask fetch-dtbs` (or `cargo xtask test`) first");
}

/// `target/dtbs/SOURCE`: which package the DTBs came from.
fn source() -> Option<String> {
    std::fs::read_to_string(dtb_dir().join("SOURCE")).ok()
}

/// `rel` is byte-identical to the pinned DTB (its sha256 matched the
/// manifest, as `target/dtbs/SOURCE` records), so its picture is
/// comparable.  On a fallback package the fetch step lists the files that
/// differ (`sha256-verified=no (N differ: a b c)`); the others still match.
fn picture_comparable(rel: &str) -> bool {
    match source() {
        Some(s) if s.contains("sha256-verified=yes") => true,
        Some(s) => s.split_once("differ:").is_some_and(|(_, list)| {
            !list
                .split(|c: char| c.is_whitespace() || c == ')')
                .any(|f| f == rel)
        }),
        None => false,
    }
}

fn board(rel: &str) -> Option<Report> {
    let path = dtb_dir().join(rel);
    let Ok(blob) = std::fs::read(&path) else {
        skip(&format!("{} not found", path.display()));
        return None;
    };
    eprintln!(
        "{rel}: from {}",
        source().unwrap_or_else(|| "unknown source".into()).trim()
    );
    match probe(&blob) {
        Ok(r) => Some(r),
        Err(e) => panic!("{rel}: probe failed: {e}"),
    }
}

fn dtc_available() -> bool {
    Command::new("dtc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `dtc -I dts -O dtb` of `src` (text); `None` (skipped) without dtc.
fn compile(src: &str, what: &str) -> Option<Vec<u8>> {
    if !dtc_available() {
        skip(&format!(
            "dtc not installed (Debian device-tree-compiler), needed for {what}"
        ));
        return None;
    }
    let dir = std::env::temp_dir().join(format!("dt-boards-{}-{what}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dts = dir.join("in.dts");
    let dtb = dir.join("out.dtb");
    std::fs::write(&dts, src).unwrap();
    let out = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&dtb)
        .arg(&dts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dtc failed on {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blob = std::fs::read(&dtb).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Some(blob)
}

/// `dtc -I dtb -O dts` of a fixture DTB.
fn decompile(rel: &str) -> Option<String> {
    if !dtc_available() {
        skip("dtc not installed (Debian device-tree-compiler)");
        return None;
    }
    let out = Command::new("dtc")
        .args(["-q", "-I", "dtb", "-O", "dts"])
        .arg(dtb_dir().join(rel))
        .output()
        .unwrap();
    assert!(out.status.success(), "dtc -I dtb {rel}");
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Compares the dt-probe text with the pinned picture (or writes it with
/// `IOMMU_BRINGUP_BLESS=1`).  Only for DTBs identical to the pinned ones: a
/// fallback package may legitimately move a reserved range or a node.
fn pin_picture(r: &Report, name: &str, from_pinned_package: bool) {
    let path = root()
        .join("tests/fixtures/dtprobe")
        .join(format!("{name}.txt"));
    let text = r.to_text();
    if std::env::var_os("IOMMU_BRINGUP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    if !from_pinned_package {
        eprintln!(
            "{name}: this DTB differs from the pinned one (fallback package): picture not compared"
        );
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with IOMMU_BRINGUP_BLESS=1)", path.display()));
    if want != text {
        for (i, (a, b)) in want.lines().zip(text.lines()).enumerate() {
            if a != b {
                panic!(
                    "{name}: dt-probe picture differs from {} at line {}:\n  want: {a}\n  got:  {b}",
                    path.display(),
                    i + 1
                );
            }
        }
        panic!(
            "{name}: dt-probe picture differs from {} in length ({} vs {} lines)",
            path.display(),
            want.lines().count(),
            text.lines().count()
        );
    }
}

fn iommu<'r>(r: &'r Report, path: &str) -> &'r IommuReport {
    r.iommus
        .iter()
        .find(|i| i.path == path)
        .unwrap_or_else(|| panic!("no IOMMU {path} in {:#?}", r.iommus))
}

/// The master's stream-ID words (`sid=0x6c3 mask=0x0`, `utlb=3`) and
/// whether it is enabled.
fn master(r: &Report, path: &str) -> (Vec<String>, bool) {
    let m = r
        .masters
        .iter()
        .find(|m| m.path == path)
        .unwrap_or_else(|| panic!("no master {path}"));
    (
        m.refs.iter().map(|x| r.describe_args(x)).collect(),
        m.enabled,
    )
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_iommu(r: &Report, path: &str, kind: &str, base: u64, size: u64, cells: u32) {
    let i = iommu(r, path);
    assert_eq!(i.kind, kind, "{path}");
    let reg = i.reg.unwrap_or_else(|| panic!("{path}: no reg"));
    assert_eq!((reg.base.0, reg.size), (base, size), "{path}");
    assert_eq!(i.iommu_cells, cells, "{path}");
    assert!(i.enabled, "{path} enabled");
}

fn assert_console(
    r: &Report,
    path: &str,
    compat: &str,
    kind: &str,
    base: u64,
    shift: u32,
    width: u32,
) {
    let c = r.console.as_ref().expect("console");
    assert_eq!(
        (
            c.path.as_str(),
            c.compatible.as_str(),
            c.kind,
            c.reg.base.0,
            c.reg_shift,
            c.reg_io_width
        ),
        (path, compat, kind, base, shift, width)
    );
    assert!(c.enabled);
    assert_eq!(c.options.as_deref(), Some("115200n8"));
}

/// The shipped DTB has no usable `/memory`: the loader writes it
/// (U-Boot on sunxi, ABL on Qualcomm; docs/hw/board-facts.md §1.4, §1.5).
/// dt-probe says so, and that nothing else stops the image or silences it:
/// the one warning is the memory one, no node is broken.
fn assert_memory_left_to_the_loader(r: &Report) {
    assert!(r.memory.is_empty());
    let e = r.boot_error.as_deref().expect("boot error");
    assert!(e.contains("no /memory"), "{e}");
    assert_eq!(r.section_errors.len(), 1, "{:?}", r.section_errors);
    assert!(r.memory_from_loader);
    assert!(
        r.boot_verdict().ends_with(
            "unless the loader fills /memory (U-Boot, ABL and m1n1 do); once it does, discovery succeeds"
        ),
        "{}",
        r.boot_verdict()
    );
    assert_eq!(r.warnings.len(), 1, "{:#?}", r.warnings);
    assert_eq!(r.warnings[0].section, "memory");
    assert_no_broken_node(r);
}

fn assert_no_broken_node(r: &Report) {
    assert!(r.console.as_ref().is_ok_and(|c| c.driven));
    assert!(r
        .iommus
        .iter()
        .all(|i| i.error.is_none() && i.cells_mismatch.is_none()));
    assert!(r.masters.iter().all(|m| m.error.is_none()));
    assert!(r.pci_maps.iter().all(|p| p.error.is_none()));
}

// ---- Allwinner (docs/hw/board-facts.md §2, §3.1, §3.2) --------------------------------

fn sunxi(rel: &str, name: &str, h6: bool) {
    let Some(r) = board(rel) else { return };
    assert_console(
        &r,
        "/soc/serial@5000000",
        "snps,dw-apb-uart",
        "ns16550",
        0x0500_0000,
        2,
        4,
    );
    assert_eq!(r.console.as_ref().unwrap().reg.size, 0x400);
    assert_eq!(r.psci, Some("smc"));
    assert_memory_left_to_the_loader(&r);
    assert_eq!(r.iommus.len(), 1);
    assert_iommu(&r, "/soc/iommu@30f0000", "sun50i", 0x030f_0000, 0x1_0000, 1);
    let i = iommu(&r, "/soc/iommu@30f0000");
    assert_eq!(
        i.compatible,
        if h6 {
            "allwinner,sun50i-h6-iommu"
        } else {
            "allwinner,sun50i-h616-iommu"
        }
    );
    assert_eq!(i.driver, "sun50i");
    // Issue 12: the clocks the image turns on, and the master it uses.
    let lines: Vec<_> = i.clocks.iter().map(|c| c.line.map(|l| l.name)).collect();
    assert_eq!(lines, [Some("CLK_BUS_IOMMU"), Some("RST_BUS_IOMMU")]);
    let m = i.master.as_deref().unwrap();
    // Both use the VA port; on H6 the line says it is conditional on the
    // run-time check (docs/hw/sun50i.md §11).
    assert!(m.starts_with("the VA debug port"), "{m}");
    assert_eq!(m.contains("run-time check finds it"), h6, "{m}");
    if h6 {
        // DE3 mixer 0 -> 0, Cedrus -> 3, Hantro G2 -> 5.
        assert_eq!(
            master(&r, "/soc/bus@1000000/mixer@100000"),
            (ids(&["utlb=0"]), true)
        );
        assert_eq!(
            master(&r, "/soc/video-codec@1c0e000"),
            (ids(&["utlb=3"]), true)
        );
        assert_eq!(
            master(&r, "/soc/video-codec-g2@1c00000"),
            (ids(&["utlb=5"]), true)
        );
        assert_eq!(r.masters.len(), 3);
    } else {
        // "No master references exist in the Debian 6.12 DTBs" (§3.2).
        assert!(r.masters.is_empty());
    }
    assert!(r.pci_maps.is_empty());
    // The plan boot runs: both on the VA port (H6 only if the run-time
    // check finds it); no board DT has a deinterlacer (or G2D) node
    // (docs/hw/sun50i.md §17), checked here on the blob itself.
    let blob = std::fs::read(dtb_dir().join(rel)).unwrap();
    for word in [&b"deinterlace"[..], b"g2d"] {
        assert!(
            !blob.windows(word.len()).any(|w| w == word),
            "{rel} has a {} node now: docs/hw/sun50i.md §17 is out of date",
            String::from_utf8_lossy(word)
        );
    }
    let (groups, _) = plan(&blob, &Ok(Vec::new()));
    assert_eq!(groups.len(), 1);
    // H6's group SKIPs at run time if the check does not find the port.
    match &groups[0].state {
        PlanState::Run => {}
        PlanState::Skip(w) | PlanState::Fail(w) => panic!("{rel}: plan: {w}"),
    }
    pin_picture(&r, name, picture_comparable(rel));
}

#[test]
fn pine_h64() {
    sunxi(
        "allwinner/sun50i-h6-pine-h64.dtb",
        "sun50i-h6-pine-h64",
        true,
    );
}

#[test]
fn orangepi_3() {
    sunxi(
        "allwinner/sun50i-h6-orangepi-3.dtb",
        "sun50i-h6-orangepi-3",
        true,
    );
}

#[test]
fn orangepi_one_plus() {
    sunxi(
        "allwinner/sun50i-h6-orangepi-one-plus.dtb",
        "sun50i-h6-orangepi-one-plus",
        true,
    );
}

#[test]
fn orangepi_zero2() {
    sunxi(
        "allwinner/sun50i-h616-orangepi-zero2.dtb",
        "sun50i-h616-orangepi-zero2",
        false,
    );
}

#[test]
fn orangepi_zero3() {
    sunxi(
        "allwinner/sun50i-h618-orangepi-zero3.dtb",
        "sun50i-h618-orangepi-zero3",
        false,
    );
}

#[test]
fn orangepi_zero2w() {
    sunxi(
        "allwinner/sun50i-h618-orangepi-zero2w.dtb",
        "sun50i-h618-orangepi-zero2w",
        false,
    );
}

// ---- Qualcomm (docs/hw/board-facts.md §2, §3.3–§3.5) ---------------------------------

fn qcom_common(r: &Report, uart: &str, uart_base: u64) {
    assert_console(r, uart, "qcom,geni-debug-uart", "geni", uart_base, 0, 1);
    assert_eq!(r.console.as_ref().unwrap().reg.size, 0x4000);
    assert_eq!(r.psci, Some("smc"));
    assert_memory_left_to_the_loader(r);
    assert!(!r.reserved.is_empty() && r.reserved.len() == r.no_map.len());
    // The SMMUv2 driver takes every Qualcomm SMMU and leaves the GPU's own
    // instance alone (docs/hw/smmuv2.md §11.6).
    for i in &r.iommus {
        let driver = if i.compatible == "qcom,adreno-smmu" {
            "smmuv2 (leaves qcom,adreno-smmu alone)"
        } else {
            "smmuv2"
        };
        assert_eq!(i.driver, driver, "{}", i.path);
    }
    assert!(
        r.iommus.iter().any(|i| i.compatible == "qcom,adreno-smmu"),
        "every Qualcomm board here has an Adreno SMMU"
    );
}

#[test]
fn db845c() {
    let Some(r) = board("qcom/sdm845-db845c.dtb") else {
        return;
    };
    qcom_common(&r, "/soc@0/geniqup@ac0000/serial@a84000", 0x00a8_4000);
    assert_eq!(r.iommus.len(), 2);
    assert_iommu(
        &r,
        "/soc@0/iommu@15000000",
        "mmu-500",
        0x1500_0000,
        0x8_0000,
        2,
    );
    assert_eq!(
        iommu(&r, "/soc@0/iommu@15000000").compatible,
        "qcom,sdm845-smmu-500"
    );
    assert!(!iommu(&r, "/soc@0/iommu@15000000").dma_coherent);
    assert_iommu(
        &r,
        "/soc@0/iommu@5040000",
        "smmuv2",
        0x0504_0000,
        0x1_0000,
        1,
    );
    let m = |p| master(&r, p);
    assert_eq!(
        m("/soc@0/geniqup@ac0000"),
        (ids(&["sid=0x6c3 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/ufshc@1d84000"),
        (ids(&["sid=0x100 mask=0xf"]), true)
    );
    assert_eq!(m("/soc@0/mmc@8804000"), (ids(&["sid=0xa0 mask=0xf"]), true));
    assert_eq!(
        m("/soc@0/usb@a6f8800/usb@a600000"),
        (ids(&["sid=0x740 mask=0x0"]), true)
    );
    assert_eq!(m("/soc@0/gpu@5000000"), (ids(&["sid=0x0"]), true));
    assert_eq!(m("/soc@0/gmu@506a000"), (ids(&["sid=0x5"]), true));
    assert_eq!(
        m("/soc@0/dma-controller@1dc4000"),
        (
            ids(&[
                "sid=0x704 mask=0x1",
                "sid=0x706 mask=0x1",
                "sid=0x714 mask=0x1",
                "sid=0x716 mask=0x1"
            ]),
            true
        )
    );
    assert_eq!(
        m("/soc@0/spi@88df000"),
        (ids(&["sid=0x160 mask=0x0"]), false)
    );
    assert!(!m("/soc@0/ipa@1e40000").1);
    // PCIe0: RID n<<8 -> 0x1c10 + n; PCIe1: -> 0x1c00 + n (16 entries each).
    assert_eq!(r.pci_maps.len(), 2);
    for (host, sid0) in [
        ("/soc@0/pcie@1c00000", 0x1c10),
        ("/soc@0/pcie@1c08000", 0x1c00),
    ] {
        let p = r.pci_maps.iter().find(|p| p.path == host).expect(host);
        assert!(!p.mask_explicit, "{host}: no iommu-map-mask");
        assert_eq!(p.entries.len(), 16);
        for (n, e) in p.entries.iter().enumerate() {
            assert_eq!(
                (e.rid_base, e.sid_base, e.length),
                ((n as u32) << 8, sid0 + n as u32, 1)
            );
            assert_eq!(r.iommus[e.iommu].path, "/soc@0/iommu@15000000");
        }
    }
    pin_picture(
        &r,
        "sdm845-db845c",
        picture_comparable("qcom/sdm845-db845c.dtb"),
    );
}

fn sm8250(rel: &str, name: &str, rb5: bool) {
    let Some(r) = board(rel) else { return };
    qcom_common(&r, "/soc@0/geniqup@ac0000/serial@a90000", 0x00a9_0000);
    assert_eq!(r.iommus.len(), 2);
    assert_iommu(
        &r,
        "/soc@0/iommu@15000000",
        "mmu-500",
        0x1500_0000,
        0x10_0000,
        2,
    );
    assert_iommu(
        &r,
        "/soc@0/iommu@3da0000",
        "mmu-500",
        0x03da_0000,
        0x1_0000,
        2,
    );
    assert!(iommu(&r, "/soc@0/iommu@15000000").dma_coherent);
    let m = |p| master(&r, p);
    assert_eq!(
        m("/soc@0/geniqup@ac0000"),
        (ids(&["sid=0x43 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/ufshc@1d84000"),
        (ids(&["sid=0xe0 mask=0x0", "sid=0x4e0 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/usb@a6f8800/usb@a600000"),
        (ids(&["sid=0x0 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/usb@a8f8800/usb@a800000"),
        (ids(&["sid=0x20 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/gpu@3d00000"),
        (ids(&["sid=0x0 mask=0x401"]), true)
    );
    assert_eq!(
        m("/soc@0/gmu@3d6a000"),
        (ids(&["sid=0x5 mask=0x400"]), true)
    );
    // GPI DMA disabled on both; SDHC2 okay on RB5, disabled on the HDK.
    assert_eq!(
        m("/soc@0/dma-controller@800000"),
        (ids(&["sid=0x76 mask=0x0"]), false)
    );
    assert_eq!(m("/soc@0/mmc@8804000"), (ids(&["sid=0x4a0 mask=0x0"]), rb5));
    assert!(!m("/soc@0/camss@ac6a000").1);
    assert_eq!(r.pci_maps.len(), 3);
    for (host, sid0) in [
        ("/soc@0/pcie@1c00000", 0x1c00),
        ("/soc@0/pcie@1c08000", 0x1c80),
        ("/soc@0/pcie@1c10000", 0x1d00),
    ] {
        let p = r.pci_maps.iter().find(|p| p.path == host).expect(host);
        assert_eq!(p.enabled, rb5, "{host}");
        let got: Vec<_> = p
            .entries
            .iter()
            .map(|e| (e.rid_base, e.sid_base, e.length))
            .collect();
        assert_eq!(got, vec![(0, sid0, 1), (0x100, sid0 + 1, 1)], "{host}");
    }
    // The 6.12.117 RB5/HDK DTBs differ slightly (docs/hw/board-facts.md §4): the
    // picture is only compared for the pinned package.
    pin_picture(&r, name, picture_comparable(rel));
}

#[test]
fn rb5() {
    sm8250("qcom/qrb5165-rb5.dtb", "qrb5165-rb5", true);
}

#[test]
fn sm8250_hdk() {
    sm8250("qcom/sm8250-hdk.dtb", "sm8250-hdk", false);
}

fn rb12(rel: &str, name: &str, compat: &str) {
    let Some(r) = board(rel) else { return };
    qcom_common(&r, "/soc@0/geniqup@4ac0000/serial@4a90000", 0x04a9_0000);
    assert_iommu(
        &r,
        "/soc@0/iommu@c600000",
        "mmu-500",
        0x0c60_0000,
        0x8_0000,
        2,
    );
    assert_eq!(iommu(&r, "/soc@0/iommu@c600000").compatible, compat);
    let m = |p| master(&r, p);
    assert_eq!(
        m("/soc@0/geniqup@4ac0000"),
        (ids(&["sid=0xe3 mask=0x0"]), true)
    );
    assert_eq!(m("/soc@0/mmc@4744000"), (ids(&["sid=0xc0 mask=0x0"]), true));
    assert_eq!(m("/soc@0/mmc@4784000"), (ids(&["sid=0xa0 mask=0x0"]), true));
    assert_eq!(
        m("/soc@0/usb@4ef8800/usb@4e00000"),
        (ids(&["sid=0x120 mask=0x0"]), true)
    );
    assert_eq!(
        m("/soc@0/dma-controller@4a00000"),
        (ids(&["sid=0xf6 mask=0x0"]), true)
    );
    assert!(r.pci_maps.is_empty());
    pin_picture(&r, name, picture_comparable(rel));
}

#[test]
fn rb1() {
    rb12(
        "qcom/qrb2210-rb1.dtb",
        "qrb2210-rb1",
        "qcom,qcm2290-smmu-500",
    );
}

#[test]
fn rb2() {
    rb12(
        "qcom/qrb4210-rb2.dtb",
        "qrb4210-rb2",
        "qcom,sm6115-smmu-500",
    );
    if let Some(r) = board("qcom/qrb4210-rb2.dtb") {
        // UFS 0x100 is described but disabled on RB2 in this DTB.
        assert_eq!(
            master(&r, "/soc@0/ufs@4804000"),
            (ids(&["sid=0x100 mask=0x0"]), false)
        );
    }
}

// ---- the loader's /memory, patched in with dtc -------------------------------

/// Adds the `/memory` reg a loader writes, by merging a node into the
/// decompiled DTS (dtc merges repeated `/ { }` blocks).
fn with_memory(rel: &str, node: &str, reg: &str) -> Option<Report> {
    let dts = decompile(rel)?;
    let patched =
        format!("{dts}\n/ {{ {node} {{ device_type = \"memory\"; reg = <{reg}>; }}; }};\n");
    let blob = compile(&patched, rel.rsplit('/').next().unwrap())?;
    Some(probe(&blob).unwrap())
}

#[test]
fn discovery_succeeds_once_the_loader_fills_memory() {
    if !dtb_dir().join("SOURCE").is_file() {
        return skip("board DTBs not fetched");
    }
    // U-Boot on a 2 GiB Pine H64: DRAM at 0x4000_0000 (docs/hw/board-facts.md §1.4);
    // the H6 root has #address-cells = #size-cells = 1.
    if let Some(r) = with_memory(
        "allwinner/sun50i-h6-pine-h64.dtb",
        "memory@40000000",
        "0x40000000 0x80000000",
    ) {
        assert_eq!(r.boot_error, None, "{:?}", r.section_errors);
        assert_eq!(r.memory.len(), 1);
        assert_eq!(
            (r.memory[0].base.0, r.memory[0].size),
            (0x4000_0000, 0x8000_0000)
        );
    }
    // ABL filling db845c's memory@80000000 (size 0 in the DTB, §1.5).
    if let Some(r) = with_memory(
        "qcom/sdm845-db845c.dtb",
        "memory@80000000",
        "0 0x80000000 1 0",
    ) {
        assert_eq!(r.boot_error, None, "{:?}", r.section_errors);
        assert_eq!(
            (r.memory[0].base.0, r.memory[0].size),
            (0x8000_0000, 0x1_0000_0000)
        );
        assert!(r.reserved.len() > 10);
    }
}

// ---- Apple t8103 (hand-written from docs/hw/board-facts.md §3.6) -----------------------

#[test]
fn apple_t8103_trimmed() {
    let src = std::fs::read_to_string(root().join("tests/fixtures/t8103-trimmed.dts")).unwrap();
    let Some(blob) = compile(&src, "t8103") else {
        return;
    };
    let r = probe(&blob).unwrap();
    assert_eq!(r.boot_error, None, "{:?}", r.section_errors);
    assert_eq!(r.compatible, "apple,j274");
    assert_eq!(r.memory.len(), 1);
    assert_eq!(r.memory[0].base.0, 0x8_0000_0000);
    // The s5l UART, driven by src/platform/console/s5l.rs.
    let c = r.console.as_ref().unwrap();
    assert_eq!(
        (
            c.path.as_str(),
            c.compatible.as_str(),
            c.kind,
            c.reg.base.0,
            c.reg_io_width
        ),
        (
            "/soc/serial@235200000",
            "apple,s5l-uart",
            "s5l",
            0x2_3520_0000,
            4
        )
    );
    assert_eq!(c.options, None);
    // m1n1 boots secondaries with spin-table: no /psci.
    assert_eq!(r.psci, None);
    // 8 DARTs, all apple-dart; the SART has no #iommu-cells and is not one.
    assert_eq!(r.iommus.len(), 8);
    assert!(r
        .iommus
        .iter()
        .all(|i| i.kind == "apple-dart" && i.iommu_cells == 1));
    assert!(r.iommus.iter().all(|i| i.driver == "apple-dart"));
    assert!(!r.iommus.iter().any(|i| i.path.contains("27bc50000")));
    for (path, base) in [
        ("/soc/iommu@235004000", 0x2_3500_4000u64),
        ("/soc/iommu@23130c000", 0x2_3130_c000),
        ("/soc/iommu@382f00000", 0x3_82f0_0000),
        ("/soc/iommu@681008000", 0x6_8100_8000),
        ("/soc/iommu@683008000", 0x6_8300_8000),
    ] {
        assert_iommu(&r, path, "apple-dart", base, 0x4000, 1);
    }
    assert!(
        !iommu(&r, "/soc/iommu@231304000").enabled,
        "disp0_dart disabled until m1n1"
    );
    // The locked one: the display subsystem's DART (m1n1 locks it); the
    // lock itself is read at run time.  dcp_dart has a firmware window.
    let disp0 = iommu(&r, "/soc/iommu@231304000");
    assert!(disp0
        .boot_state
        .as_deref()
        .unwrap()
        .contains("locked by m1n1"));
    let dcp = iommu(&r, "/soc/iommu@23130c000");
    assert!(
        dcp.dma_range
            && dcp
                .boot_state
                .as_deref()
                .unwrap()
                .contains("apple,dma-range")
    );
    assert!(iommu(&r, "/soc/iommu@682008000").boot_state.is_none());
    assert_eq!(
        master(&r, "/soc/dma-controller@238200000"),
        (ids(&["sid=0x2"]), true)
    );
    assert_eq!(
        master(&r, "/soc/usb@382280000"),
        (ids(&["sid=0x0", "sid=0x1"]), true)
    );
    assert_eq!(
        master(&r, "/soc/display-subsystem"),
        (ids(&["sid=0x0"]), false)
    );
    let p = &r.pci_maps[0];
    assert_eq!((p.mask, p.mask_explicit), (0xff00, true));
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    assert_no_broken_node(&r);
    let got: Vec<_> = p
        .entries
        .iter()
        .map(|e| (e.rid_base, r.iommus[e.iommu].path.as_str(), e.sid_base))
        .collect();
    assert_eq!(
        got,
        vec![
            (0x100, "/soc/iommu@681008000", 1),
            (0x200, "/soc/iommu@682008000", 1),
            (0x300, "/soc/iommu@683008000", 1),
        ]
    );
    // What boot plans for the Mac mini: every enabled DART runs (the
    // register checks; the DMA cases SKIP at run time: no master this
    // image drives sits behind any of them), the disabled disp0_dart is a
    // SKIP.  No PCIe host the image enumerates (apple,pcie is not
    // ECAM-generic): the plan sees no PCI function.
    let (groups, _) = plan(&blob, &Ok(Vec::new()));
    let state = |n: &str| {
        let g = groups.iter().find(|g| g.name == n).unwrap();
        match &g.state {
            PlanState::Run => {
                assert!(g.masters.is_empty(), "{n}");
                String::from("run")
            }
            PlanState::Skip(w) => format!("skip: {w}"),
            PlanState::Fail(w) => format!("fail: {w}"),
        }
    };
    for n in [
        "iommu@235004000",
        "iommu@23130c000",
        "iommu@382f00000",
        "iommu@382f80000",
        "iommu@681008000",
        "iommu@682008000",
        "iommu@683008000",
    ] {
        assert_eq!(state(n), "run", "{n}");
    }
    assert!(state("iommu@231304000").contains("is disabled in the DT"));
    pin_picture(&r, "t8103-trimmed", true);
}

/// The t8103 tree as the SoC's dtsi leaves it, before a board enables
/// its PCIe DARTs: pcie0_dart_2 disabled while pcie0's `iommu-map` still
/// points at it.  The map row is marked, a warning says the requester IDs
/// get no IOMMU, and the plan reports the DART as a disabled SKIP.
#[test]
fn apple_t8103_iommu_map_to_a_disabled_dart() {
    let src = std::fs::read_to_string(root().join("tests/fixtures/t8103-trimmed.dts")).unwrap();
    let okay = "status = \"okay\"; /* disabled in t8103.dtsi, okay on j274 */";
    let at = src.rfind(okay).expect("pcie0_dart_2's status");
    let src = format!(
        "{}status = \"disabled\";{}",
        &src[..at],
        &src[at + okay.len()..]
    );
    let Some(blob) = compile(&src, "t8103-dart2-off") else {
        return;
    };
    let r = probe(&blob).unwrap();
    assert!(!iommu(&r, "/soc/iommu@683008000").enabled);
    assert!(r
        .to_text()
        .contains("rid 0x0300..+0x1 -> /soc/iommu@683008000 sid 0x1 [iommu disabled]"));
    assert!(r.warnings.iter().any(|w| w.message.contains(
        "entries target /soc/iommu@683008000, which is disabled: the image does not test it, and these requester IDs get no IOMMU"
    )), "{:#?}", r.warnings);
    let (groups, _) = plan(&blob, &Ok(Vec::new()));
    let g = groups.iter().find(|g| g.name == "iommu@683008000").unwrap();
    assert!(
        matches!(&g.state, PlanState::Skip(w) if w.contains("is disabled in the DT")),
        "plan"
    );
}

/// The trimmed M1 Pro tree (docs/hw/dart.md §10's t600x die-0 DARTs):
/// every DART is `apple-dart` with the t6000 compatible, the masters
/// behind two DARTs are one master each with two stream specs, the
/// display subsystem's DART is named as the one m1n1 locks, and the plan
/// runs every enabled DART (its register checks; no master).
#[test]
fn apple_t6000_trimmed() {
    let src = std::fs::read_to_string(root().join("tests/fixtures/t6000-trimmed.dts")).unwrap();
    let Some(blob) = compile(&src, "t6000") else {
        return;
    };
    let r = probe(&blob).unwrap();
    assert_eq!(r.compatible, "apple,j314s");
    assert_eq!(r.iommus.len(), 16);
    assert!(r.iommus.iter().all(|i| i.kind == "apple-dart"
        && i.compatible == "apple,t6000-dart"
        && i.driver == "apple-dart"));
    let disabled: Vec<&str> = r
        .iommus
        .iter()
        .filter(|i| !i.enabled)
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(
        disabled,
        [
            "/soc/iommu@293808000",
            "/soc/iommu@38b304000",
            "/soc/iommu@3860e8000",
            "/soc/iommu@3860f4000",
            "/soc/iommu@3860fc000"
        ]
    );
    assert_eq!(
        master(&r, "/soc/admac"),
        (ids(&["sid=0x2", "sid=0x2"]), true)
    );
    assert_eq!(
        master(&r, "/soc/usb-dwc3-0"),
        (ids(&["sid=0x0", "sid=0x1"]), true)
    );
    assert_eq!(iommu(&r, "/soc/iommu@39b008000").reg.unwrap().size, 0x8000);
    assert!(iommu(&r, "/soc/iommu@38b304000")
        .boot_state
        .as_deref()
        .unwrap()
        .contains("locked by m1n1"));
    let p = &r.pci_maps[0];
    let got: Vec<_> = p
        .entries
        .iter()
        .map(|e| (e.rid_base, r.iommus[e.iommu].path.as_str(), e.sid_base))
        .collect();
    assert_eq!(
        got,
        vec![
            (0x100, "/soc/iommu@581008000", 1),
            (0x200, "/soc/iommu@582008000", 1),
            (0x300, "/soc/iommu@583008000", 1),
            (0x400, "/soc/iommu@584008000", 1),
        ]
    );
    let (groups, _) = plan(&blob, &Ok(Vec::new()));
    for g in &groups {
        let enabled = r
            .iommus
            .iter()
            .find(|i| i.path.ends_with(&format!("/{}", g.name)))
            .unwrap()
            .enabled;
        match (&g.state, enabled) {
            (PlanState::Run, true) => assert!(g.masters.is_empty()),
            (PlanState::Skip(w), false) => assert!(w.contains("is disabled in the DT"), "{w}"),
            (PlanState::Skip(w) | PlanState::Fail(w), _) => panic!("{}: {w}", g.name),
            (PlanState::Run, false) => panic!("{} runs while disabled", g.name),
        }
    }
    pin_picture(&r, "t6000-trimmed", true);
}

/// The JSON form parses as far as a bracket/quote balance check goes, for
/// every board (the report module's own tests check its fields).
#[test]
fn json_for_every_board_is_balanced() {
    let Ok(text) = std::fs::read_to_string(root().join("tests/fixtures/dtbs.sha256")) else {
        panic!("manifest missing")
    };
    for rel in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().nth(1))
    {
        let Some(r) = board(rel) else { return };
        let j = r.to_json();
        let opens = j.matches(['{', '[']).count();
        let closes = j.matches(['}', ']']).count();
        assert_eq!(opens, closes, "{rel}");
        assert!(j.starts_with("{\"model\":") && j.ends_with("]}"), "{rel}");
    }
}

// ---- SMMUv3 options -----------------------------------------------------------------

/// Issue 11 item 7: `cavium,cn9900-broken-page1-regspace` is a boolean
/// property of the SMMUv3 node (Linux `parse_driver_options` reads it with
/// `of_property_read_bool`; docs/hw/smmuv3.md §1); discovery reports it so
/// the probe can reach Page 1 registers at Page 0 and accept a 64 KiB reg.
#[test]
fn smmuv3_page0_regs_only_property_is_read() {
    let src = r#"/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    compatible = "test,board";
    smmu_cn99: iommu@40000000 {
        compatible = "arm,smmu-v3";
        reg = <0 0x40000000 0 0x10000>;
        #iommu-cells = <1>;
        cavium,cn9900-broken-page1-regspace;
    };
    smmu_std: iommu@50000000 {
        compatible = "arm,smmu-v3";
        reg = <0 0x50000000 0 0x20000>;
        #iommu-cells = <1>;
    };
};
"#;
    let Some(blob) = compile(src, "smmuv3-page0") else {
        return;
    };
    let fdt = iommu_bringup::platform::dt::Fdt::parse(&blob).unwrap();
    let list = iommu_bringup::platform::dt::iommus::find_iommus(&fdt).unwrap();
    let flags: Vec<(&str, bool, u64)> = list
        .iter()
        .map(|n| (n.name, n.page0_regs_only, n.reg.unwrap().size))
        .collect();
    assert_eq!(
        flags,
        [
            ("iommu@40000000", true, 0x1_0000),
            ("iommu@50000000", false, 0x2_0000)
        ]
    );
    // dt-probe does not warn about the 64 KiB frame of the page-0 SMMU.
    let r = probe(&blob).unwrap();
    let text = format!("{r:?}");
    assert!(!text.contains("smaller than"), "{text}");
}

/// The sunxi IOMMU's `clocks`/`resets` on the Debian DTBs name the CCU with
/// the binding headers' indices (`include/dt-bindings/{clock,reset}/
/// sun50i-h6{,16}-ccu.h`: H6 CLK_BUS_IOMMU 51, RST_BUS_IOMMU 15; H616 48,
/// 11), the CCU at 0x3001000 (docs/hw/sun50i.md §16).
#[test]
fn sunxi_iommu_clock_and_reset_references() {
    use iommu_bringup::platform::dt::clocks::{read_clocks, read_resets};
    use iommu_bringup::platform::dt::Fdt;
    for (rel, ccu, clk, rst) in [
        (
            "allwinner/sun50i-h6-pine-h64.dtb",
            "allwinner,sun50i-h6-ccu",
            0x33,
            0x0f,
        ),
        (
            "allwinner/sun50i-h6-orangepi-3.dtb",
            "allwinner,sun50i-h6-ccu",
            0x33,
            0x0f,
        ),
        (
            "allwinner/sun50i-h616-orangepi-zero2.dtb",
            "allwinner,sun50i-h616-ccu",
            0x30,
            0x0b,
        ),
        (
            "allwinner/sun50i-h618-orangepi-zero3.dtb",
            "allwinner,sun50i-h616-ccu",
            0x30,
            0x0b,
        ),
    ] {
        let Ok(blob) = std::fs::read(dtb_dir().join(rel)) else {
            skip(&format!("{rel} not found"));
            continue;
        };
        let fdt = Fdt::parse(&blob).unwrap();
        let loc = fdt.find("/soc/iommu@30f0000").unwrap();
        for (list, index) in [
            (read_clocks(&loc).unwrap(), clk),
            (read_resets(&loc).unwrap(), rst),
        ] {
            let got: Vec<_> = list
                .iter()
                .map(|r| {
                    (
                        r.provider,
                        r.compatible,
                        r.index(),
                        r.name,
                        r.reg.map(|g| (g.base.0, g.size)),
                    )
                })
                .collect();
            assert_eq!(
                got,
                [(
                    "clock@3001000",
                    ccu,
                    Some(index),
                    None,
                    Some((0x0300_1000, 0x1000))
                )],
                "{rel}"
            );
        }
    }
}

/// The virtual timer's interrupt and its GIC, as `boot/waits.rs` would route
/// it (`platform::irq::discover`), on every board DTB: Allwinner's GIC-400
/// with PPI 11 (level high, CPU mask 0xf), Qualcomm's GICv3 with the
/// virtual timer at PPI 3 (sdm845, qcm2290, sm4250) or 11 (sm8250), level
/// low — values read off the DTBs with `dtc`.
#[test]
fn the_timer_interrupt_and_its_gic_on_every_board() {
    use iommu_bringup::platform::dt::Fdt;
    use iommu_bringup::platform::irq::discover::{timer_irq, GicVersion, Trigger};
    // (DTB, version, PPI, trigger, GIC node, GICD base, GICC / first GICR base, stride)
    type Row = (
        &'static str,
        GicVersion,
        u32,
        Trigger,
        &'static str,
        u64,
        u64,
        Option<u64>,
    );
    let gic400 = |rel| -> Row {
        (
            rel,
            GicVersion::V2,
            11,
            Trigger::LevelHigh,
            "interrupt-controller@3021000",
            0x0302_1000,
            0x0302_2000,
            None,
        )
    };
    let rows: [Row; 11] = [
        gic400("allwinner/sun50i-h6-pine-h64.dtb"),
        gic400("allwinner/sun50i-h6-orangepi-3.dtb"),
        gic400("allwinner/sun50i-h6-orangepi-one-plus.dtb"),
        gic400("allwinner/sun50i-h616-orangepi-zero2.dtb"),
        gic400("allwinner/sun50i-h618-orangepi-zero3.dtb"),
        gic400("allwinner/sun50i-h618-orangepi-zero2w.dtb"),
        (
            "qcom/sdm845-db845c.dtb",
            GicVersion::V3,
            3,
            Trigger::LevelLow,
            "interrupt-controller@17a00000",
            0x17a0_0000,
            0x17a6_0000,
            None,
        ),
        (
            "qcom/qrb5165-rb5.dtb",
            GicVersion::V3,
            11,
            Trigger::LevelLow,
            "interrupt-controller@17a00000",
            0x17a0_0000,
            0x17a6_0000,
            None,
        ),
        (
            "qcom/sm8250-hdk.dtb",
            GicVersion::V3,
            11,
            Trigger::LevelLow,
            "interrupt-controller@17a00000",
            0x17a0_0000,
            0x17a6_0000,
            None,
        ),
        (
            "qcom/qrb2210-rb1.dtb",
            GicVersion::V3,
            3,
            Trigger::LevelLow,
            "interrupt-controller@f200000",
            0x0f20_0000,
            0x0f30_0000,
            Some(0x2_0000),
        ),
        (
            "qcom/qrb4210-rb2.dtb",
            GicVersion::V3,
            3,
            Trigger::LevelLow,
            "interrupt-controller@f200000",
            0x0f20_0000,
            0x0f30_0000,
            Some(0x2_0000),
        ),
    ];
    for (rel, version, ppi, trigger, node, dist, second, stride) in rows {
        let path = dtb_dir().join(rel);
        let Ok(blob) = std::fs::read(&path) else {
            skip(&format!("{} not found", path.display()));
            return;
        };
        let fdt = Fdt::parse(&blob).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let t = timer_irq(&fdt).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            (t.gic.version, t.ppi, t.trigger()),
            (version, ppi, trigger),
            "{rel}"
        );
        assert_eq!((t.gic.node, t.gic.dist.base.0), (node, dist), "{rel}");
        let second_base = match version {
            GicVersion::V2 => t.gic.cpu.map(|r| r.base.0),
            GicVersion::V3 => t.gic.redists().first().map(|r| r.base.0),
        };
        assert_eq!(second_base, Some(second), "{rel}");
        assert_eq!(t.gic.redist_stride, stride, "{rel}");
    }
}

// ---- ZynqMP ZCU102 and Juno (docs/hw/zynqmp.md, boards/zcu102, boards/juno) ----

/// The U-Boot `fdt` edits of `boards/zcu102/fdt-fixups.cmd` (the lines
/// `cargo xtask image --board zcu102` puts in boot.cmd) as DTS path
/// amendments (`&{/path} { prop = value; };`), so the test applies the
/// same edits the board's U-Boot does.
fn zcu102_fixups_as_dts() -> String {
    let cmds = std::fs::read_to_string(root().join("boards/zcu102/fdt-fixups.cmd")).unwrap();
    let mut out = String::new();
    for line in cmds.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("fdt set ") else {
            assert!(
                line.is_empty() || line.starts_with("fdt addr ") || line.starts_with("fdt resize "),
                "an fdt command this test does not translate: {line}"
            );
            continue;
        };
        let mut parts = rest.splitn(3, ' ');
        let (path, prop, value) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let value = if value.starts_with('<') {
            value.to_string()
        } else {
            format!("\"{value}\"")
        };
        out.push_str(&format!("&{{{path}}} {{ {prop} = {value}; }};\n"));
    }
    out
}

#[test]
fn zcu102() {
    let rel = "xilinx/zynqmp-zcu102-rev1.0.dtb";
    let Some(r) = board(rel) else { return };
    assert_eq!(r.boot_error, None, "{:?}", r.section_errors);
    assert_eq!(r.compatible, "xlnx,zynqmp-zcu102-rev1.0");
    assert_console(
        &r,
        "/axi/serial@ff000000",
        "xlnx,zynqmp-uart",
        "cadence",
        0xff00_0000,
        0,
        4,
    );
    assert!(r.console.as_ref().unwrap().driven);
    assert_eq!(r.psci, Some("smc"));
    // One MMU-500, disabled in mainline; no node has `iommus` (the
    // references are comments in zynqmp.dtsi since 2024).
    assert_eq!(r.iommus.len(), 1);
    let i = iommu(&r, "/axi/iommu@fd800000");
    assert_eq!((i.kind, i.compatible.as_str()), ("mmu-500", "arm,mmu-500"));
    let reg = i.reg.unwrap();
    assert_eq!(
        (reg.base.0, reg.size, i.iommu_cells),
        (0xfd80_0000, 0x2_0000, 1)
    );
    assert!(!i.enabled);
    assert!(r.masters.is_empty());
    assert!(r.pci_maps.is_empty());
    assert_no_broken_node(&r);
    pin_picture(&r, "zynqmp-zcu102-rev1.0", picture_comparable(rel));
}

/// The ZCU102 tree after the README's U-Boot fixups: the MMU-500 enabled,
/// GDMA channels 0 and 1 behind it as 0x14e8 and 0x14e9, which the plan
/// takes as the IOMMU's two masters through the ZDMA registry line.
#[test]
fn zcu102_after_the_u_boot_fixups_plans_two_zdma_masters() {
    let rel = "xilinx/zynqmp-zcu102-rev1.0.dtb";
    if !dtb_dir().join(rel).is_file() {
        return skip(&format!("{rel} not fetched"));
    }
    let Some(dts) = decompile(rel) else { return };
    let Some(blob) = compile(
        &format!("{dts}\n{}", zcu102_fixups_as_dts()),
        "zcu102-fixed",
    ) else {
        return;
    };
    let r = probe(&blob).unwrap();
    let i = iommu(&r, "/axi/iommu@fd800000");
    assert!(i.enabled);
    assert_eq!(
        master(&r, "/axi/dma-controller@fd500000"),
        (ids(&["sid=0x14e8"]), true)
    );
    assert_eq!(
        master(&r, "/axi/dma-controller@fd510000"),
        (ids(&["sid=0x14e9"]), true)
    );
    assert_eq!(r.masters.len(), 2);
    for m in &r.masters {
        let d = m
            .driver
            .expect("the ZDMA line of the platform-master registry");
        assert!(d.name.contains("ZDMA"), "{}", d.name);
    }
    // Until the SMMUv2 driver lands, the IOMMU has no driver and so no
    // `master:` line; re-blessing after it lands shows the ZDMA masters.
    pin_picture(
        &r,
        "zynqmp-zcu102-rev1.0-uboot-fixups",
        picture_comparable(rel),
    );
    let (plan, _) = iommu_bringup::selftest::plan::plan(&blob, &Ok(Vec::new()));
    let g = plan
        .iter()
        .find(|g| g.name == "iommu@fd800000")
        .expect("a group for the MMU-500");
    let used: Vec<(&str, u32)> = g
        .masters
        .iter()
        .map(|m| (m.name.as_str(), m.stream_on(g.index).unwrap().id))
        .collect();
    assert_eq!(
        used,
        [
            ("/axi/dma-controller@fd500000", 0x14e8),
            ("/axi/dma-controller@fd510000", 0x14e9)
        ]
    );
}

#[test]
fn juno_r0() {
    let rel = "arm/juno.dtb";
    let Some(r) = board(rel) else { return };
    assert_eq!(r.boot_error, None, "{:?}", r.section_errors);
    assert_console(
        &r,
        "/serial@7ff80000",
        "arm,pl011",
        "pl011",
        0x7ff8_0000,
        0,
        4,
    );
    // Six MMU-401s and one MMU-400, all SMMUv1 stage-2-only parts.
    assert_eq!(r.iommus.len(), 7);
    assert!(r
        .iommus
        .iter()
        .all(|i| i.kind == "smmuv2" && i.iommu_cells == 1));
    assert_eq!(
        r.iommus
            .iter()
            .filter(|i| i.compatible == "arm,mmu-401")
            .count(),
        6
    );
    // The DMA-330 (PL330) sits behind the MMU-401 at 0x7fb00000 with nine
    // stream IDs, one per channel and the manager.
    let want: Vec<String> = (0..9).map(|s| format!("sid={s:#x}")).collect();
    assert_eq!(master(&r, "/dma-controller@7ff00000"), (want, true));
    assert!(r.masters.iter().all(|m| m.driver.is_none()));
    let i = iommu(&r, "/iommu@7fb00000");
    assert!(i.enabled && i.dma_coherent);
    pin_picture(&r, "juno", picture_comparable(rel));
}

/// The db845c apps SMMU (a Qualcomm MMU-500: no ATOS, no master the image
/// drives) is planned to run through its TBU debug port: tbu@150d9000,
/// the one with no power domain or clock, as stream 0x17ff (no DT master
/// uses it); `iommu_bringup.qcom-tbu=none` makes it a SKIP that says why,
/// and `all` still prefers the ungated TBU.
#[test]
fn db845c_plans_the_apps_smmu_through_its_ungated_tbu() {
    use iommu_bringup::platform::bootargs::QcomTbu;
    use iommu_bringup::selftest::plan::plan_with;
    let rel = "qcom/sdm845-db845c.dtb";
    let Ok(blob) = std::fs::read(dtb_dir().join(rel)) else {
        return skip(&format!("{rel} not fetched"));
    };
    let (p, _) = plan_with(&blob, &Ok(Vec::new()), QcomTbu::Ungated);
    let smmu = p.iter().find(|p| p.name == "iommu@15000000").unwrap();
    assert!(smmu.runs());
    assert_eq!(smmu.tbus.len(), 8);
    let facts = smmu.port_facts();
    let c = iommu_bringup::iommu::smmuv2::tbu::choose(&facts).unwrap();
    assert_eq!((c.tbu.name.as_str(), c.sid), ("tbu@150d9000", 0x17ff));
    let (p, _) = plan_with(&blob, &Ok(Vec::new()), QcomTbu::All);
    let smmu = p.iter().find(|p| p.name == "iommu@15000000").unwrap();
    let c = iommu_bringup::iommu::smmuv2::tbu::choose(&smmu.port_facts()).unwrap();
    assert_eq!(c.tbu.name, "tbu@150d9000");
    let (p, _) = plan_with(&blob, &Ok(Vec::new()), QcomTbu::None);
    let smmu = p.iter().find(|p| p.name == "iommu@15000000").unwrap();
    match &smmu.state {
        PlanState::Skip(why) => assert!(why.contains("qcom-tbu=none"), "{why}"),
        _ => panic!("qcom-tbu=none must skip the apps SMMU"),
    }
}
