//! A device tree the image can only partly read, for the `negative-bad-dtb`
//! scenario: QEMU's own `virt` DTB for the scenario's machine, with a
//! `/reserved-memory` child whose parent has no `ranges` (its `reg` cannot
//! be translated, devicetree spec §2.3.8).  The image must report that as a
//! failing `dt_discovery` case through the console and exit — not park in
//! silence.

use crate::error::{io, Error, Result};
use crate::process;
use crate::qemu::Machine;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The node spliced into the tree, just before `/chosen`.
pub const BROKEN_NODE: &str = "\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tbroken@48800000 {\n\t\t\treg = <0x00 0x48800000 0x00 0x100000>;\n\t\t};\n\t};\n\n";

/// Inserts [`BROKEN_NODE`] before the `chosen` node of a decompiled tree.
pub fn splice(dts: &str) -> Option<String> {
    let at = dts.find("\tchosen {")?;
    Some(format!("{}{BROKEN_NODE}{}", &dts[..at], &dts[at..]))
}

/// Writes the broken DTB for `machine` next to `image`; returns its path.
pub fn make(machine: &Machine, image: &Path) -> Result<PathBuf> {
    crate::dtbs::ensure_dtc()?;
    let dir = image.with_file_name("bad-dtb");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let good = dir.join("virt.dtb");
    let bad = dir.join("virt-broken.dtb");
    let mut args = machine.args(image, None);
    if let Some(i) = args.iter().position(|a| a == "-M") {
        if let Some(m) = args.get_mut(i + 1) {
            m.push_str(&format!(",dumpdtb={}", good.display()));
        }
    }
    process::run(Command::new(crate::qemu::program()).args(&args))?;
    let dts = process::output(
        Command::new("dtc")
            .args(["-q", "-I", "dtb", "-O", "dts"])
            .arg(&good),
    )?;
    let broken = splice(&dts).ok_or_else(|| {
        Error::Failed(format!(
            "{}: no `chosen` node to splice the broken node before",
            good.display()
        ))
    })?;
    let src = dir.join("virt-broken.dts");
    std::fs::write(&src, broken).map_err(io(format!("writing {}", src.display())))?;
    process::run(
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
    fn splices_before_chosen() {
        let s = splice("/ {\n\tmemory@0 {\n\t};\n\n\tchosen {\n\t};\n};\n").unwrap();
        let broken = s.find("reserved-memory").unwrap();
        assert!(broken < s.find("\tchosen {").unwrap());
        assert!(s.contains("broken@48800000"));
        assert!(splice("/ { };").is_none());
    }
}
