//! `cargo xtask cost`: the invalidation-cost table of docs/performance.md,
//! measured by the host test `iommu::cost_table::write_cost_table` (each
//! family's driver over its model; `src/iommu/cost_table.rs` says how).

use crate::error::{io, Result};
use crate::process;

/// The test that writes the table.
pub const TEST: &str = "iommu::cost_table::write_cost_table";

/// Runs the test and prints the markdown table it wrote.
pub fn run() -> Result<()> {
    let root = process::workspace_root();
    let dir = root.join("target/xtask");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let out = dir.join("cost-table.md");
    let _ = std::fs::remove_file(&out);
    process::run(
        process::cargo()
            .args([
                "test",
                "--quiet",
                "-p",
                "iommu-bringup",
                "--lib",
                TEST,
                "--",
                "--ignored",
                "--exact",
            ])
            .env("IOMMU_BRINGUP_COST_TABLE", &out),
    )?;
    let table = std::fs::read_to_string(&out).map_err(io(format!(
        "reading {} (did {TEST} write it?)",
        out.display()
    )))?;
    print!("{table}");
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}
