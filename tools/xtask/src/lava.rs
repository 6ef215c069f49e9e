//! LAVA's own job schema on every LAVA job file: `boards/*/lava.yaml` must
//! pass, `tests/fixtures/lava/*.yaml` (deliberately broken jobs) must be
//! rejected with LAVA's message.
//!
//! The checking is not ours: `tools/lava_validate.py` hands each file to
//! `lava_common.schemas.validate(job, strict=True)` from Debian's
//! `lava-common` (2023.01 in bookworm), run by Debian's `/usr/bin/python3`
//! (a pyenv `python3` earlier on PATH would not see Debian's packages).
//! [`ensure`] installs `lava-common` with apt when it is missing, as
//! `install.rs` does for QEMU; a validator that cannot run is a failure,
//! never a pass.

use crate::error::{io, Error, Result};
use crate::install::{self, OsRelease, Privilege};
use crate::process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's interpreter: the one whose `dist-packages` holds `lava_common`.
pub const PYTHON: &str = "/usr/bin/python3";
/// The Debian package with LAVA's job schema.
pub const PACKAGE: &str = "lava-common";
/// The validator script, from the repository root.
pub const SCRIPT: &str = "tools/lava_validate.py";
/// Deliberately broken jobs, from the repository root.
pub const BROKEN_DIR: &str = "tests/fixtures/lava";

/// Every job file that must be valid: `boards/*/lava.yaml`, sorted, then
/// the QEMU job `lava-run` executes (`crate::lava_run::JOB`, as a template:
/// its placeholders are strings the schema accepts).
pub fn job_files(root: &Path) -> Result<Vec<PathBuf>> {
    let boards = root.join("boards");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&boards)
        .map_err(io(format!("listing {}", boards.display())))?
        .flatten()
        .map(|e| e.path().join("lava.yaml"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out.push(root.join(crate::lava_run::JOB));
    Ok(out)
}

/// The deliberately broken jobs, sorted.
pub fn broken_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(BROKEN_DIR);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io(format!("listing {}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Whether Debian's python imports LAVA's job schema.
pub fn available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import lava_common.schemas, yaml, voluptuous"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The commands that install `lava-common` (each an argv), or why we cannot.
/// `need_update`: apt knows no candidate for the package yet.
pub fn install_plan(
    os: &OsRelease,
    privilege: Privilege,
    need_update: bool,
) -> std::result::Result<Vec<Vec<String>>, String> {
    if !install::is_debian_family(os) {
        return Err(format!(
            "{PYTHON} cannot import lava_common.schemas and this is not Debian/Ubuntu ({}): \
             install LAVA's `{PACKAGE}` so that {PYTHON} imports it",
            if os.id.is_empty() { "unknown" } else { &os.id }
        ));
    }
    let lock = ["-o", "DPkg::Lock::Timeout=300"];
    let mut cmds = Vec::new();
    if need_update {
        cmds.push(vec!["apt-get".to_string(), "update".to_string()]);
        cmds[0].splice(1..1, lock.iter().map(|s| s.to_string()));
    }
    let mut inst: Vec<String> = ["apt-get"].iter().map(|s| s.to_string()).collect();
    inst.extend(lock.iter().map(|s| s.to_string()));
    inst.extend(
        ["install", "-y", "--no-install-recommends", PACKAGE]
            .iter()
            .map(|s| s.to_string()),
    );
    cmds.push(inst);
    install::as_root(
        cmds,
        privilege,
        &format!("{PYTHON} cannot import lava_common.schemas and installing `{PACKAGE}`"),
    )
}

/// Whether `apt-cache policy` output has no candidate.
pub fn no_candidate(policy: &str) -> bool {
    !policy
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Candidate:"))
        .any(|v| !v.trim().is_empty() && v.trim() != "(none)")
}

/// Makes sure Debian's python imports LAVA's job schema, installing
/// `lava-common` with apt when it does not (each command printed).
pub fn ensure() -> Result<()> {
    if available() {
        return Ok(());
    }
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let policy = Command::new("apt-cache")
        .args(["policy", PACKAGE])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let cmds =
        install_plan(&os, install::privilege(), no_candidate(&policy)).map_err(Error::Tool)?;
    eprintln!("xtask: {PYTHON} cannot import lava_common.schemas; installing Debian's {PACKAGE} (LAVA's job schema)");
    install::run_noninteractive(&cmds)?;
    if available() {
        Ok(())
    } else {
        Err(Error::Tool(format!(
            "after installing {PACKAGE}, {PYTHON} still cannot import lava_common.schemas"
        )))
    }
}

/// One run of the validator.
struct Outcome {
    code: Option<i32>,
    text: String,
    command: String,
}

fn run_validator(root: &Path, expect_invalid: bool, files: &[PathBuf]) -> Result<Outcome> {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(root.join(SCRIPT)).current_dir(root);
    if expect_invalid {
        cmd.arg("--expect-invalid");
    }
    for f in files {
        cmd.arg(f.strip_prefix(root).unwrap_or(f));
    }
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
    Ok(Outcome {
        code: out.status.code(),
        text,
        command,
    })
}

/// Checks the validator's report: exit 0 and one `lava: WORD FILE` line per
/// file (so a validator that checked fewer files than asked is not a pass).
fn judge(o: &Outcome, files: &[PathBuf], root: &Path, word: &str) -> Result<()> {
    let problems: Vec<&str> = o
        .text
        .lines()
        .filter(|l| {
            l.starts_with("lava: ERROR")
                || l.starts_with("lava: but")
                || (word == "valid" && l.starts_with("lava: INVALID"))
        })
        .collect();
    if o.code == Some(3) || o.code.is_none() {
        return Err(Error::Tool(format!(
            "LAVA's job schema could not run: {}\n  command: {}",
            problems.join("\n"),
            o.command
        )));
    }
    if o.code != Some(0) || !problems.is_empty() {
        return Err(Error::Run(format!(
            "{}\n  command: {}",
            if problems.is_empty() {
                format!("validator exited {:?}", o.code)
            } else {
                problems.join("\n")
            },
            o.command
        )));
    }
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(f).display().to_string();
        let want = format!("lava: {word} {rel}");
        if !o
            .text
            .lines()
            .any(|l| l == want || l.starts_with(&format!("{want}:")))
        {
            return Err(Error::Run(format!(
                "the validator did not report `{want}`\n  command: {}",
                o.command
            )));
        }
    }
    Ok(())
}

/// The stage: every job file valid, every broken fixture rejected.
pub fn validate_all() -> Result<()> {
    let root = process::workspace_root();
    let jobs = job_files(&root)?;
    if jobs.is_empty() {
        return Err(Error::Run("no boards/*/lava.yaml found".into()));
    }
    let broken = broken_files(&root)?;
    if broken.is_empty() {
        return Err(Error::Run(format!("no broken job under {BROKEN_DIR}")));
    }
    judge(&run_validator(&root, false, &jobs)?, &jobs, &root, "valid")?;
    judge(
        &run_validator(&root, true, &broken)?,
        &broken,
        &root,
        "INVALID",
    )?;
    eprintln!(
        "xtask: LAVA's schema accepts {} job file(s) and rejects {} broken one(s)",
        jobs.len(),
        broken.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        process::workspace_root()
    }

    #[test]
    fn finds_every_board_job_and_the_broken_ones() {
        let jobs = job_files(&root()).unwrap();
        assert_eq!(jobs.len(), crate::boards::BOARDS.len() + 1);
        assert!(jobs.last().unwrap().ends_with(crate::lava_run::JOB));
        let broken = broken_files(&root()).unwrap();
        assert!(broken.iter().any(|p| p.ends_with("misspelt-action.yaml")));
    }

    #[test]
    fn install_plans() {
        let bookworm = OsRelease::parse("ID=debian\nVERSION_CODENAME=bookworm\n");
        let cmds = install_plan(&bookworm, Privilege::Root, false).unwrap();
        assert_eq!(
            cmds,
            [[
                "apt-get",
                "-o",
                "DPkg::Lock::Timeout=300",
                "install",
                "-y",
                "--no-install-recommends",
                "lava-common"
            ]]
        );
        let cmds = install_plan(&bookworm, Privilege::Sudo, true).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(
            cmds[0],
            [
                "sudo",
                "-n",
                "apt-get",
                "-o",
                "DPkg::Lock::Timeout=300",
                "update"
            ]
        );
        let manual = install_plan(&bookworm, Privilege::None, false).unwrap_err();
        assert!(manual.contains("sudo DEBIAN_FRONTEND=noninteractive apt-get"));
        assert!(install_plan(&OsRelease::parse("ID=fedora\n"), Privilege::Root, false).is_err());
        assert!(no_candidate(
            "lava-common:\n  Installed: (none)\n  Candidate: (none)\n"
        ));
        assert!(no_candidate(""));
        assert!(!no_candidate("  Candidate: 2023.01-2\n"));
    }

    fn outcome(code: i32, text: &str) -> Outcome {
        Outcome {
            code: Some(code),
            text: text.into(),
            command: "v".into(),
        }
    }

    #[test]
    fn judging_the_report() {
        let r = root();
        let f = vec![r.join("boards/a/lava.yaml")];
        assert!(judge(
            &outcome(0, "lava: valid boards/a/lava.yaml\n"),
            &f,
            &r,
            "valid"
        )
        .is_ok());
        // Exit 0 but the file was never reported: not a pass.
        assert!(judge(&outcome(0, "lava: lava-common 2023.01\n"), &f, &r, "valid").is_err());
        let bad = judge(
            &outcome(
                1,
                "lava: INVALID boards/a/lava.yaml: extra keys not allowed @ data['x']\n",
            ),
            &f,
            &r,
            "valid",
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("boards/a/lava.yaml") && bad.contains("extra keys not allowed"));
        let missing = judge(&outcome(3, "lava: ERROR cannot import\n"), &f, &r, "valid")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("could not run"));
    }

    /// LAVA's schema itself on the real files (fails rather than skips when
    /// `IOMMU_BRINGUP_REQUIRE_LAVA` is set, as `cargo xtask test` does).
    #[test]
    fn lava_schema_on_the_repository_jobs() {
        if !available() {
            assert!(
                std::env::var_os("IOMMU_BRINGUP_REQUIRE_LAVA").is_none(),
                "{PYTHON} cannot import lava_common.schemas"
            );
            eprintln!(
                "skipped: {PYTHON} cannot import lava_common.schemas (apt-get install lava-common)"
            );
            return;
        }
        let r = root();
        let jobs = job_files(&r).unwrap();
        judge(
            &run_validator(&r, false, &jobs).unwrap(),
            &jobs,
            &r,
            "valid",
        )
        .unwrap();
        let broken = broken_files(&r).unwrap();
        let o = run_validator(&r, true, &broken).unwrap();
        judge(&o, &broken, &r, "INVALID").unwrap();
        assert!(o.text.contains(
            "INVALID tests/fixtures/lava/misspelt-action.yaml: extra keys not allowed @ data['actions'][0]['deplyo']"
        ));
        // And the broken job, checked as if it were a board's: the stage fails naming it.
        let e = judge(
            &run_validator(&r, false, &broken).unwrap(),
            &broken,
            &r,
            "valid",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("misspelt-action.yaml") && e.contains("extra keys not allowed"),
            "{e}"
        );
    }
}
