//! Patched device trees for the negative scenarios: QEMU's own `virt` DTB
//! for the scenario's machine, decompiled, changed, recompiled.
//!
//! * [`DtbPatch::NoRanges`] (`negative-bad-dtb`): a `/reserved-memory`
//!   child whose parent has no `ranges` (its `reg` cannot be translated,
//!   devicetree spec §2.3.8).  The image must report that as a failing
//!   `dt_discovery` case through the console and exit — not park in silence.
//! * [`DtbPatch::UnbackedSmmuReg`] (`negative-bad-iommu-reg`): a second
//!   SMMUv3 node, first in the tree, whose `reg` is at [`UNBACKED`] where
//!   nothing answers (docs/hw/qemu-virt.md §8), with one edu behind it.  The
//!   image must fail that IOMMU by name with the register offset and
//!   address, go on to QEMU's SMMUv3, and end normally.
//! * [`DtbPatch::UnknownIntc`] (`waits-poll-unknown-intc`): the GIC under a
//!   compatible no driver knows; the image's waits must fall back to
//!   polling, say so, and give the same results.
//!
//! Each patch writes its own files (`bad-dtb/<stem>*`), so scenarios that
//! run at the same time never share one.

use crate::error::{io, Error, Result};
use crate::process;
use crate::qemu::Machine;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to patch the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbPatch {
    /// Splice [`BROKEN_NODE`] in ([`splice`]).
    NoRanges,
    /// Add an SMMUv3 at [`UNBACKED`] in front of QEMU's ([`unback_smmu`]).
    UnbackedSmmuReg,
    /// Add an IOMMU the image leaves alone, with a platform master
    /// ([`DRIVERLESS_NODES`]).
    DriverlessIommu,
    /// Drop `#iommu-cells` from QEMU's SMMUv3 node ([`drop_smmu_cells`]).
    SmmuWithoutCells,
    /// Give QEMU's GICv2 a compatible no driver knows ([`unknown_intc`]).
    UnknownIntc,
}

impl DtbPatch {
    /// Applies the patch to a decompiled tree.
    pub fn apply(self, dts: &str) -> Option<String> {
        match self {
            Self::NoRanges => splice(dts),
            Self::UnbackedSmmuReg => unback_smmu(dts),
            Self::DriverlessIommu => splice_before_chosen(dts, DRIVERLESS_NODES),
            Self::SmmuWithoutCells => drop_smmu_cells(dts),
            Self::UnknownIntc => unknown_intc(dts),
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Self::NoRanges => "virt-broken",
            Self::UnbackedSmmuReg => "virt-unbacked-smmu",
            Self::DriverlessIommu => "virt-driverless-iommu",
            Self::SmmuWithoutCells => "virt-smmu-no-cells",
            Self::UnknownIntc => "virt-unknown-intc",
        }
    }
}

/// Unbacked physical address space on QEMU 10.0.2 `virt`: between the
/// virtio-mmio transports (0x0a00_0000, 32 × 0x200) and the platform bus
/// (0x0c00_0000), `hw/arm/virt.c` `base_memmap`; a read there is a
/// synchronous external abort (docs/hw/qemu-virt.md §8, measured).
pub const UNBACKED: u64 = 0x0b00_0000;

/// QEMU's SMMUv3 node line, `reg` and phandle, and the PCIe host's
/// `iommu-map` sending every requester ID to it (docs/hw/qemu-virt.md §1.1).
const SMMU_NODE: &str = "\tsmmuv3@9050000 {";
const SMMU_REG: &str = "reg = <0x00 0x9050000 0x00 0x20000>;";
const SMMU_PHANDLE: &str = "phandle = <0x8004>;";
const IOMMU_MAP: &str = "iommu-map = <0x00 0x8004 0x00 0x10000>;";

/// Phandle of the added node: QEMU numbers its own from 0x8000 up.
const UNBACKED_PHANDLE: u32 = 0x7000;

/// Adds a copy of the SMMUv3 node, before it, with its `reg` and unit
/// address at [`UNBACKED`] and its own phandle, and splits the PCIe
/// `iommu-map` so the edu at 00:04.0 (requester IDs 0x20..=0x27) sits
/// behind the copy and everything else stays behind QEMU's SMMUv3: the
/// copy is run first and faults, the real one must still run and pass.
pub fn unback_smmu(dts: &str) -> Option<String> {
    let node = dts.find(SMMU_NODE)?;
    let end = node + dts[node..].find("\n\t};\n")? + "\n\t};\n".len();
    let orig = &dts[node..end];
    if !orig.contains(SMMU_REG) || !orig.contains(SMMU_PHANDLE) {
        return None;
    }
    let copy = orig
        .replace(SMMU_NODE, &format!("\tsmmuv3@{UNBACKED:x} {{"))
        .replace(
            SMMU_REG,
            &format!("reg = <0x00 {UNBACKED:#x} 0x00 0x20000>;"),
        )
        .replace(SMMU_PHANDLE, &format!("phandle = <{UNBACKED_PHANDLE:#x}>;"));
    let map = format!(
        "iommu-map = <0x00 0x8004 0x00 0x20 0x20 {UNBACKED_PHANDLE:#x} 0x20 0x08 0x28 0x8004 0x28 0xffd8>;"
    );
    let rest = &dts[node..];
    if !rest.contains(IOMMU_MAP) {
        return None;
    }
    Some(format!(
        "{}{copy}\n{}",
        &dts[..node],
        rest.replacen(IOMMU_MAP, &map, 1)
    ))
}

/// QEMU's GICv2 `compatible` line, and what [`unknown_intc`] makes of it.
const GICV2_COMPATIBLE: &str = "compatible = \"arm,cortex-a15-gic\";";
/// A compatible no driver knows: the image must fall back to polling.
pub const UNKNOWN_INTC: &str = "vendor,unknown-intc";

/// Renames QEMU's GICv2 to [`UNKNOWN_INTC`]: the timer's interrupt
/// controller is then one the image does not drive, as on an Apple board
/// (AIC).  Nothing else in the image uses interrupts.
pub fn unknown_intc(dts: &str) -> Option<String> {
    dts.contains(GICV2_COMPATIBLE).then(|| {
        dts.replacen(
            GICV2_COMPATIBLE,
            &format!("compatible = \"{UNKNOWN_INTC}\";"),
            1,
        )
    })
}

/// Removes `#iommu-cells` from QEMU's SMMUv3 node: the node is still an
/// `arm,smmu-v3`, but nothing can reference it, and the PCIe host's
/// `iommu-map` now names a phandle that is no IOMMU.
pub fn drop_smmu_cells(dts: &str) -> Option<String> {
    let node = dts.find(SMMU_NODE)?;
    let end = node + dts[node..].find("\n\t};\n")?;
    let cells = dts[node..end].find("#iommu-cells = <0x01>;")? + node;
    let line_start = dts[..cells].rfind('\n')? + 1;
    let line_end = cells + dts[cells..].find('\n')? + 1;
    Some(format!("{}{}", &dts[..line_start], &dts[line_end..]))
}

/// The node spliced into the tree, just before `/chosen`.
pub const BROKEN_NODE: &str = "\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tbroken@48800000 {\n\t\t\treg = <0x00 0x48800000 0x00 0x100000>;\n\t\t};\n\t};\n\n";

/// Inserts [`BROKEN_NODE`] before the `chosen` node of a decompiled tree.
pub fn splice(dts: &str) -> Option<String> {
    splice_before_chosen(dts, BROKEN_NODE)
}

/// An IOMMU this image will not drive — a Qualcomm Adreno SMMU, which the
/// SMMUv2 family leaves to the GPU's own driver — in unbacked address
/// space, and the GPU naming it through `iommus`.  Nothing reads their
/// registers: the IOMMU must be reported as a SKIP before any access.
/// (It was an Allwinner H6 IOMMU while that family had no driver, then no
/// master; since the H6's VA port is tried at run time, an H6 node is
/// probed, so it no longer stands for "cannot be tested".)
pub const DRIVERLESS_NODES: &str = "\tiommu@b100000 {\n\t\tcompatible = \"qcom,adreno-smmu\", \"qcom,smmu-v2\";\n\t\treg = <0x00 0xb100000 0x00 0x10000>;\n\t\t#iommu-cells = <0x01>;\n\t\t#global-interrupts = <0x01>;\n\t\tphandle = <0x7001>;\n\t};\n\n\tgpu@b200000 {\n\t\tcompatible = \"qcom,adreno-630.2\", \"qcom,adreno\";\n\t\treg = <0x00 0xb200000 0x00 0x1000>;\n\t\tiommus = <0x7001 0x00>;\n\t};\n\n";

/// Inserts `nodes` before the `chosen` node of a decompiled tree.
pub fn splice_before_chosen(dts: &str, nodes: &str) -> Option<String> {
    let at = dts.find("\tchosen {")?;
    Some(format!("{}{nodes}{}", &dts[..at], &dts[at..]))
}

/// Writes the `patch`ed DTB for `machine` next to `image`; returns its path.
pub fn make(machine: &Machine, image: &Path, patch: DtbPatch) -> Result<PathBuf> {
    crate::dtbs::ensure_dtc()?;
    let dir = image.with_file_name("bad-dtb");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let good = dir.join(format!("{}-qemu.dtb", patch.file_stem()));
    let bad = dir.join(format!("{}.dtb", patch.file_stem()));
    let mut args = machine.args(image, None);
    if let Some(i) = args.iter().position(|a| a == "-M") {
        if let Some(m) = args.get_mut(i + 1) {
            m.push_str(&format!(",dumpdtb={}", good.display()));
        }
    }
    process::run_quiet(Command::new(crate::qemu::program()).args(&args))?;
    let dts = process::output(
        Command::new("dtc")
            .args(["-q", "-I", "dtb", "-O", "dts"])
            .arg(&good),
    )?;
    let broken = patch.apply(&dts).ok_or_else(|| {
        Error::Failed(format!(
            "{}: {patch:?} does not apply (no `chosen` node, or no SMMUv3 node with QEMU's reg)",
            good.display()
        ))
    })?;
    let src = dir.join(format!("{}.dts", patch.file_stem()));
    std::fs::write(&src, broken).map_err(io(format!("writing {}", src.display())))?;
    process::run_quiet(
        Command::new("dtc")
            .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
            .arg(&bad)
            .arg(&src),
    )?;
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_the_gic() {
        let dts = "/ {\n\tintc@8000000 {\n\t\tcompatible = \"arm,cortex-a15-gic\";\n\t};\n};\n";
        let s = unknown_intc(dts).unwrap();
        assert!(s.contains("compatible = \"vendor,unknown-intc\";"), "{s}");
        assert!(!s.contains("cortex-a15-gic"));
        assert!(unknown_intc("/ { };").is_none());
    }

    #[test]
    fn splices_before_chosen() {
        let s = splice("/ {\n\tmemory@0 {\n\t};\n\n\tchosen {\n\t};\n};\n").unwrap();
        let broken = s.find("reserved-memory").unwrap();
        assert!(broken < s.find("\tchosen {").unwrap());
        assert!(s.contains("broken@48800000"));
        assert!(splice("/ { };").is_none());
    }

    #[test]
    fn adds_an_unbacked_smmu_in_front() {
        let dts = "/ {\n\tsmmuv3@9050000 {\n\t\tphandle = <0x8004>;\n\t\treg = <0x00 0x9050000 0x00 0x20000>;\n\t\tcompatible = \"arm,smmu-v3\";\n\t};\n\n\tpcie@10000000 {\n\t\tiommu-map = <0x00 0x8004 0x00 0x10000>;\n\t};\n};\n";
        let s = unback_smmu(dts).unwrap();
        let copy = s.find("\tsmmuv3@b000000 {").unwrap();
        let orig = s.find("\tsmmuv3@9050000 {").unwrap();
        assert!(copy < orig);
        assert!(s[copy..orig].contains("reg = <0x00 0xb000000 0x00 0x20000>;"));
        assert!(s[copy..orig].contains("phandle = <0x7000>;"));
        assert!(s[orig..].contains("reg = <0x00 0x9050000 0x00 0x20000>;"));
        assert!(s.contains(
            "iommu-map = <0x00 0x8004 0x00 0x20 0x20 0x7000 0x20 0x08 0x28 0x8004 0x28 0xffd8>;"
        ));
        assert_eq!(
            DtbPatch::UnbackedSmmuReg.apply(dts).as_deref(),
            Some(s.as_str())
        );
        // No SMMUv3 node, a reg or map that is not QEMU's: refused.
        assert!(unback_smmu("/ { };").is_none());
        assert!(unback_smmu(&dts.replace("0x9050000 0x00", "0x9060000 0x00")).is_none());
        assert!(unback_smmu(&dts.replace("0x00 0x10000>", "0x00 0x8000>")).is_none());
    }
}
