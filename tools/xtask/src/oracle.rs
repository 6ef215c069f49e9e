//! `oracle: dart` in `cargo xtask test`: the DART driver's register and
//! table writes replayed through Asahi's own DART classes.
//!
//! 1. A Python venv under `target/dart-oracle-venv` with the PyPI package
//!    `m1n1-proxyclient` (MIT; its `m1n1/hw/dart8020.py` and `dart8110.py`
//!    are m1n1's register maps and table walkers), pinned to
//!    [`VERSION`], created and filled with pip when it is missing or holds
//!    something else.  The package needs Python ≥ 3.11.
//! 2. The ignored host test [`TEST`] runs the driver over the DART model
//!    and writes the record (every register and table write, step markers,
//!    check points) to `target/xtask/dart-oracle.json`.
//! 3. `tools/dart_oracle.py` replays it with the package (see its docstring
//!    for exactly what it checks) and must end with [`ALL_MET`].
//!
//! Nothing here passes silently: no Python, no venv module, no network for
//! pip, a different package version — each is a failure naming what to do.

use crate::error::{io, Error, Result};
use crate::install::{self, OsRelease, Privilege};
use crate::process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The package on PyPI.
pub const PACKAGE: &str = "m1n1-proxyclient";
/// The version the oracle is written against (its DART files are the ones
/// docs/hw/dart.md quotes).
pub const VERSION: &str = "0.4.0";
/// The venv, from the repository root.
pub const VENV: &str = "target/dart-oracle-venv";
/// The replay script, from the repository root.
pub const SCRIPT: &str = "tools/dart_oracle.py";
/// The ignored lib test that writes the record.
pub const TEST: &str = "iommu::dart::oracle_dump::dart_oracle_record";
/// The variable naming the record file.
pub const ENV: &str = "IOMMU_BRINGUP_DART_ORACLE_JSON";
/// The script's last line when every verdict was met.
pub const ALL_MET: &str = "oracle: all verdicts met";
/// The oldest Python the package supports.
pub const MIN_PYTHON: (u32, u32) = (3, 11);

/// The venv's interpreter.
pub fn venv_python(root: &Path) -> PathBuf {
    root.join(VENV).join("bin/python")
}

/// The check that `python` imports the pinned package's DART classes.
pub fn import_check() -> String {
    format!(
        "import importlib.metadata as m, m1n1.hw.dart8020, m1n1.hw.dart8110; \
         v = m.version('{PACKAGE}'); assert v == '{VERSION}', v"
    )
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `(major, minor)` of an interpreter, if it runs.
fn python_version(python: &str) -> Option<(u32, u32)> {
    let out = Command::new(python)
        .args(["-c", "import sys; print(*sys.version_info[:2])"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// `"3 11\n"` → `(3, 11)`.
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split_whitespace().map(|w| w.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

/// The first interpreter on the usual names that is new enough.
fn base_python() -> Result<String> {
    let candidates = [
        "python3",
        "python3.13",
        "python3.12",
        "python3.11",
        "/usr/bin/python3",
    ];
    let mut seen = Vec::new();
    for c in candidates {
        match python_version(c) {
            Some(v) if v >= MIN_PYTHON => return Ok(c.to_string()),
            Some(v) => seen.push(format!("{c} is {}.{}", v.0, v.1)),
            None => {}
        }
    }
    Err(Error::Tool(format!(
        "the DART oracle needs Python >= {}.{} for {PACKAGE} {VERSION} and found none ({}): install python3 (>= {}.{}) with its venv module",
        MIN_PYTHON.0,
        MIN_PYTHON.1,
        if seen.is_empty() { "no python3 on PATH".to_string() } else { seen.join(", ") },
        MIN_PYTHON.0,
        MIN_PYTHON.1
    )))
}

/// The commands that add Debian's venv module (`python3-venv`), or why not.
pub fn venv_install_plan(
    os: &OsRelease,
    privilege: Privilege,
) -> std::result::Result<Vec<Vec<String>>, String> {
    let debian = os.id == "debian"
        || os.id == "ubuntu"
        || os.id_like.split_whitespace().any(|w| w == "debian");
    if !debian {
        return Err("install your distribution's Python venv module".into());
    }
    let mut cmd: Vec<String> = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=300",
        "install",
        "-y",
        "--no-install-recommends",
        "python3-venv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match privilege {
        Privilege::Root => Ok(vec![cmd]),
        Privilege::Sudo => {
            cmd.splice(0..0, ["sudo".to_string(), "-n".to_string()]);
            Ok(vec![cmd])
        }
        Privilege::None => Err(format!(
            "run: sudo DEBIAN_FRONTEND=noninteractive {}",
            cmd.join(" ")
        )),
    }
}

fn create_venv(python: &str, venv: &Path) -> Result<()> {
    let attempt = || {
        let _ = std::fs::remove_dir_all(venv);
        Command::new(python)
            .args(["-m", "venv"])
            .arg(venv)
            .stdin(Stdio::null())
            .output()
    };
    let out = attempt().map_err(io(format!("cannot start `{python} -m venv`")))?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr).into_owned();
    // Debian splits the venv module (ensurepip) into python3-venv.
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    match venv_install_plan(&os, install::privilege()) {
        Ok(cmds) if why.contains("ensurepip") => {
            eprintln!("xtask: {python} has no venv module (ensurepip); installing python3-venv");
            for argv in cmds {
                let Some((prog, args)) = argv.split_first() else {
                    continue;
                };
                process::run(
                    Command::new(prog)
                        .args(args)
                        .env("DEBIAN_FRONTEND", "noninteractive"),
                )?;
            }
            let out = attempt().map_err(io(format!("cannot start `{python} -m venv`")))?;
            if out.status.success() {
                return Ok(());
            }
            Err(Error::Tool(format!(
                "`{python} -m venv {}` failed after installing python3-venv: {}",
                venv.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
        plan => Err(Error::Tool(format!(
            "`{python} -m venv {}` failed: {}{}",
            venv.display(),
            why.trim(),
            match plan {
                Err(hint) => format!("; {hint}"),
                Ok(_) => String::new(),
            }
        ))),
    }
}

/// Makes sure the venv imports the pinned package, creating it and
/// installing the package with pip when it does not.  Returns its python.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    let py = venv_python(root);
    if quiet(Command::new(&py).args(["-c", &import_check()])) {
        return Ok(py);
    }
    let base = base_python()?;
    let venv = root.join(VENV);
    eprintln!(
        "xtask: creating {} with {base} and installing {PACKAGE}=={VERSION} from PyPI",
        venv.display()
    );
    create_venv(&base, &venv)?;
    let spec = format!("{PACKAGE}=={VERSION}");
    let pip = process::run(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .arg(&spec),
    );
    if let Err(e) = pip {
        return Err(Error::Tool(format!(
            "the DART oracle needs {spec} from PyPI in {} and pip could not install it ({e}); \
             check the network or a PyPI mirror (pip's PIP_INDEX_URL), then rerun",
            venv.display()
        )));
    }
    if quiet(Command::new(&py).args(["-c", &import_check()])) {
        Ok(py)
    } else {
        Err(Error::Tool(format!(
            "{} still cannot import {spec}'s m1n1.hw.dart8020 / dart8110 after pip install",
            py.display()
        )))
    }
}

/// Whether the script's output says every verdict was met.
pub fn verdicts_met(output: &str) -> bool {
    output
        .lines()
        .last()
        .is_some_and(|l| l.starts_with(ALL_MET))
}

/// The stage.
pub fn run() -> Result<()> {
    let root = process::workspace_root();
    let py = ensure(&root)?;
    let dir = root.join("target/xtask");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let record = dir.join("dart-oracle.json");
    let _ = std::fs::remove_file(&record);
    process::run(
        process::cargo()
            .args(["test", "--lib", "-p", "iommu-bringup", TEST])
            .args(["--", "--exact", "--ignored"])
            .env(ENV, &record),
    )?;
    if !record.is_file() {
        return Err(Error::Run(format!(
            "{TEST} did not write {}",
            record.display()
        )));
    }
    let mut cmd = Command::new(&py);
    cmd.arg(root.join(SCRIPT)).arg(&record).current_dir(&root);
    let command = process::display(&cmd);
    eprintln!("xtask: running {command}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot start `{command}`")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in text.lines() {
        eprintln!("  {l}");
    }
    match out.status.code() {
        Some(0) if verdicts_met(&text) => Ok(()),
        Some(3) => Err(Error::Tool(format!(
            "the oracle could not import {PACKAGE} {VERSION}: {}",
            text.lines().find(|l| l.contains("ERROR")).unwrap_or("")
        ))),
        code => Err(Error::Run(format!(
            "the DART oracle's verdicts were not met (exit {code:?}):\n{}",
            text.lines()
                .filter(|l| l.contains("FAIL") || l.contains("ERROR"))
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_verdicts_parse() {
        assert_eq!(parse_version("3 11\n"), Some((3, 11)));
        assert_eq!(parse_version("3"), None);
        assert!((3, 12) >= MIN_PYTHON && (3, 9) < MIN_PYTHON);
        assert!(verdicts_met(
            "oracle: pass t8103\noracle: all verdicts met (8 records)\n"
        ));
        assert!(!verdicts_met("oracle: all verdicts met\noracle: FAIL x\n"));
        assert!(!verdicts_met(""));
    }

    #[test]
    fn the_venv_module_is_installed_only_on_debian_with_privilege() {
        let bookworm = OsRelease::parse("ID=debian\nVERSION_CODENAME=bookworm\n");
        let root = venv_install_plan(&bookworm, Privilege::Root).unwrap();
        assert_eq!(root[0].last().map(String::as_str), Some("python3-venv"));
        let sudo = venv_install_plan(&bookworm, Privilege::Sudo).unwrap();
        assert_eq!(sudo[0][..2], ["sudo", "-n"]);
        assert!(venv_install_plan(&bookworm, Privilege::None)
            .unwrap_err()
            .contains("sudo DEBIAN_FRONTEND"));
        let fedora = OsRelease::parse("ID=fedora\n");
        assert!(venv_install_plan(&fedora, Privilege::Root).is_err());
    }

    #[test]
    fn the_record_test_and_the_script_exist() {
        let root = process::workspace_root();
        let src = std::fs::read_to_string(root.join("src/iommu/dart/oracle_dump.rs")).unwrap();
        let f = TEST.rsplit("::").next().unwrap();
        assert!(src.contains(&format!("fn {f}()")) && src.contains(ENV));
        let script = std::fs::read_to_string(root.join(SCRIPT)).unwrap();
        assert!(script.contains(ALL_MET) && script.contains(VERSION));
    }
}
