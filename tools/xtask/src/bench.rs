//! `cargo xtask bench`: the host page-table benchmark (`cargo bench --bench pgtable`).

use crate::error::{Error, Result};
use crate::process;

/// The bench target name.
pub const BENCH: &str = "pgtable";

/// Whether the workspace declares or auto-discovers a `pgtable` bench.
fn bench_exists() -> bool {
    let root = process::workspace_root();
    let manifests = [root.join("Cargo.toml"), root.join("tools/xtask/Cargo.toml")];
    let declared = manifests.iter().any(|m| {
        std::fs::read_to_string(m).is_ok_and(|t| {
            t.split("[[bench]]").skip(1).any(|sec| {
                sec.lines()
                    .take(6)
                    .any(|l| l.replace(' ', "") == "name=\"pgtable\"")
            })
        })
    });
    declared
        || root.join("benches/pgtable.rs").is_file()
        || root.join("benches/pgtable/main.rs").is_file()
}

/// Runs the bench, passing `extra` after `--`.
pub fn run(extra: &[String]) -> Result<()> {
    if !bench_exists() {
        return Err(Error::Tool(format!(
            "no bench target `{BENCH}` in this workspace yet (expected benches/{BENCH}.rs or a \
             [[bench]] name = \"{BENCH}\" in Cargo.toml); it is being written on another branch"
        )));
    }
    let mut cmd = process::cargo();
    cmd.args(["bench", "--bench", BENCH]);
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    process::run(&mut cmd)
}
