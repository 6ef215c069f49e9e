//! A LAVA job run by LAVA itself: `tools/lava/qemu-virt.yaml` (QEMU `virt`,
//! SMMUv3, two edu masters) executed by Debian's `lava-dispatcher`
//! (`lava-run`), and LAVA's result list checked against the image's KTAP.
//!
//! * The dispatcher is Debian bookworm's `lava-dispatcher` 2023.01, installed
//!   with apt when `lava-run` is missing.  On bookworm it must come with
//!   bookworm-backports: its dependency chain `python3-guestfs` →
//!   `libguestfs0` → `qemu-system-x86` only resolves against the backports
//!   QEMU that `cargo xtask` already installed (`install.rs`), so the install
//!   runs with `-t bookworm-backports`.
//! * The device configuration is rendered the way lava-server renders it:
//!   our device dictionary (`tools/lava/qemu-virt.jinja2`) extends LAVA's own
//!   `qemu.jinja2` device-type template, unpacked from Debian's `lava-server`
//!   package (`apt-get download`, `dpkg -x`; lava-server itself is not
//!   installed), with the job's `context:` as template variables
//!   (`tools/lava_device.py`).
//! * `lava-run` boots the image under QEMU; its monitor turns every KTAP
//!   result line into a LAVA result.  `tools/lava_results.py` splits the log
//!   into the console LAVA saw and LAVA's results; the console must parse as
//!   KTAP, and LAVA's results of the `iommu-bringup` suite must equal the
//!   KTAP's result lines one for one (same names in the same order, same
//!   pass / fail / skip), with the job itself a pass and the SMMUv3 group
//!   run (at least one of its cases passed: a group that SKIPped whole, or
//!   whose every case SKIPped, tested nothing and is not a pass).
//! * The negative control runs the same job with
//!   `iommu_bringup.inject=skip-sync`: in LAVA's results exactly the SMMUv3
//!   driver's declared cases fail.

use crate::error::{io, Error, Result};
use crate::install::{self, OsRelease, Privilege};
use crate::ktap::{self, Node, Report, Status};
use crate::process;
use crate::scenarios::{SMMUV3_GROUP, SMMUV3_SKIP_SYNC_FAILURES};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The dispatcher's command.
pub const LAVA_RUN: &str = "lava-run";
/// The Debian package that has it.
pub const DISPATCHER_PACKAGE: &str = "lava-dispatcher";
/// The Debian package whose device-type templates we render (unpacked only).
pub const SERVER_PACKAGE: &str = "lava-server";
/// The job template, from the repository root.
pub const JOB: &str = "tools/lava/qemu-virt.yaml";
/// The device dictionary, from the repository root.
pub const DEVICE_DICT: &str = "tools/lava/qemu-virt.jinja2";
/// Renders the device dictionary.
pub const RENDER: &str = "tools/lava_device.py";
/// Splits a lava-run log.
pub const SPLIT: &str = "tools/lava_results.py";
/// The job's image URL as the template spells it.
pub const IMAGE_URL: &str = "{ARTIFACTS}/target/aarch64-unknown-none/release/Image";
/// The monitor's suite name, as LAVA reports it.
pub const SUITE: &str = "iommu-bringup";

/// One LAVA run.
#[derive(Clone, Copy, Debug)]
pub struct LavaRun {
    /// Stage name in the summary.
    pub stage: &'static str,
    /// Stem of its files under `target/lava/` and `target/xtask/logs/`.
    pub name: &'static str,
    /// Bootargs after `iommu_bringup.exit=semihosting`.
    pub bootargs: &'static str,
    /// Exactly these leaf cases of [`SMMUV3_GROUP`] fail in LAVA's results;
    /// every other result is a pass or a skip.
    pub failures: &'static [&'static str],
}

/// The LAVA runs of `cargo xtask test`.
pub const RUNS: &[LavaRun] = &[
    LavaRun {
        stage: "lava: qemu job",
        name: "lava-qemu",
        bootargs: "",
        failures: &[],
    },
    LavaRun {
        stage: "lava: qemu job skip-sync",
        name: "lava-qemu-skip-sync",
        bootargs: "iommu_bringup.inject=skip-sync",
        failures: SMMUV3_SKIP_SYNC_FAILURES,
    },
];

/// Whether `lava-run` is on PATH.
pub fn dispatcher_available() -> bool {
    Command::new(LAVA_RUN)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The commands that install the dispatcher (each an argv), or why we cannot.
/// `bookworm`: the release needs bookworm-backports (see the module docs).
pub fn install_plan(
    os: &OsRelease,
    privilege: Privilege,
) -> std::result::Result<Vec<Vec<String>>, String> {
    if !install::is_debian_family(os) {
        return Err(format!(
            "`{LAVA_RUN}` is missing and this is not Debian/Ubuntu ({}): install LAVA's \
             `{DISPATCHER_PACKAGE}` (2023.01 or later) so that `{LAVA_RUN}` is on PATH",
            if os.id.is_empty() { "unknown" } else { &os.id }
        ));
    }
    let bookworm = os.codename == "bookworm";
    let lock = ["-o", "DPkg::Lock::Timeout=300"];
    let mut update: Vec<String> = vec!["apt-get".into()];
    update.extend(lock.iter().map(|s| s.to_string()));
    update.push("update".into());
    let mut inst: Vec<String> = vec!["apt-get".into()];
    inst.extend(lock.iter().map(|s| s.to_string()));
    inst.extend(["install", "-y", "--no-install-recommends"].map(String::from));
    if bookworm {
        inst.extend(["-t", "bookworm-backports"].map(String::from));
    }
    inst.push(DISPATCHER_PACKAGE.into());
    let cmds = vec![update, inst];
    install::as_root(
        cmds,
        privilege,
        &format!("`{LAVA_RUN}` is missing and installing `{DISPATCHER_PACKAGE}`"),
    )
}

/// Makes sure `lava-run` exists, installing Debian's dispatcher when not.
pub fn ensure_dispatcher() -> Result<()> {
    if dispatcher_available() {
        return Ok(());
    }
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let privilege = install::privilege();
    let cmds = install_plan(&os, privilege).map_err(Error::Tool)?;
    eprintln!(
        "xtask: `{LAVA_RUN}` is missing; installing Debian's {DISPATCHER_PACKAGE} \
         (about 160 packages on bookworm, a few minutes)"
    );
    if os.codename == "bookworm" {
        install::add_backports(privilege)?;
    }
    install::run_noninteractive(&cmds)?;
    if dispatcher_available() {
        Ok(())
    } else {
        Err(Error::Tool(format!(
            "after installing {DISPATCHER_PACKAGE}, `{LAVA_RUN} --help` still does not run"
        )))
    }
}

/// `target/lava/`.
fn work_dir() -> PathBuf {
    process::workspace_root().join("target/lava")
}

/// LAVA's device-type templates, unpacked from Debian's `lava-server`
/// package under `target/lava/lava-server/` on first use.
pub fn ensure_templates() -> Result<PathBuf> {
    let dir = work_dir();
    let unpacked = dir.join("lava-server");
    let templates = unpacked.join("usr/share/lava-server/device-types");
    if templates.join("qemu.jinja2").is_file() && templates.join("base.jinja2").is_file() {
        return Ok(templates);
    }
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(io(format!("creating {}", debs.display())))?;
    eprintln!("xtask: fetching LAVA's device-type templates (Debian's {SERVER_PACKAGE}, unpacked, not installed)");
    process::run(
        Command::new("apt-get")
            .args(["download", SERVER_PACKAGE])
            .current_dir(&debs),
    )?;
    let deb = std::fs::read_dir(&debs)
        .map_err(io(format!("listing {}", debs.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lava-server_") && n.ends_with(".deb"))
        })
        .max()
        .ok_or_else(|| {
            Error::Tool(format!(
                "`apt-get download {SERVER_PACKAGE}` left no .deb in {}",
                debs.display()
            ))
        })?;
    process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    if templates.join("qemu.jinja2").is_file() {
        Ok(templates)
    } else {
        Err(Error::Tool(format!(
            "{} has no device-types/qemu.jinja2",
            deb.display()
        )))
    }
}

/// The job for `bootargs` from the template: the image URL becomes
/// `file://IMAGE`, `{BOOTARGS}` the kernel command line.
pub fn job_text(template: &str, image: &Path, bootargs: &str) -> Result<String> {
    if !template.contains(IMAGE_URL) || !template.contains("{BOOTARGS}") {
        return Err(Error::Run(format!(
            "{JOB} no longer has `{IMAGE_URL}` and `{{BOOTARGS}}` to fill in"
        )));
    }
    let cmdline = format!("{} {}", crate::qemu::EXIT_SEMIHOSTING, bootargs.trim());
    Ok(template
        .replace(IMAGE_URL, &format!("file://{}", image.display()))
        .replace("{BOOTARGS}", cmdline.trim()))
}

/// One LAVA result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LavaResult {
    /// The test suite (`lava` for the job's own actions).
    pub definition: String,
    /// LAVA's case name (lower case, non-word characters as `_`).
    pub case: String,
    /// The name the monitor matched (`-` for LAVA's own results).
    pub test_case_id: String,
    /// `pass`, `fail`, `skip` or `unknown`.
    pub result: String,
}

/// Parses `tools/lava_results.py`'s tab-separated result list.
pub fn parse_results(text: &str) -> Result<Vec<LavaResult>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            match f.as_slice() {
                [d, c, t, r] => Ok(LavaResult {
                    definition: d.to_string(),
                    case: c.to_string(),
                    test_case_id: t.to_string(),
                    result: r.to_string(),
                }),
                _ => Err(Error::Run(format!("malformed LAVA result line {l:?}"))),
            }
        })
        .collect()
}

/// Every result line of a KTAP report in the order the image printed them
/// (a subtest's cases, then its own line), as `(name, pass/fail/skip)`.
pub fn ktap_lines(r: &Report) -> Vec<(String, &'static str)> {
    fn walk(n: &Node, out: &mut Vec<(String, &'static str)>) {
        for c in &n.children {
            walk(c, out);
        }
        let v = match n.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip(_) => "skip",
        };
        out.push((n.name.clone(), v));
    }
    let mut out = Vec::new();
    for n in &r.tests {
        walk(n, &mut out);
    }
    out
}

/// Judges one run: the console LAVA saw is KTAP, LAVA's suite equals its
/// result lines, [`SMMUV3_GROUP`] ran (one of its cases passed), exactly
/// `run.failures` (leaf cases of that group) fail, and LAVA's own `job`
/// result is a pass.
pub fn judge(run: &LavaRun, console: &str, results: &[LavaResult]) -> Result<()> {
    let report = ktap::parse(console)
        .map_err(|e| Error::Run(format!("the console LAVA recorded is not valid KTAP: {e}")))?;
    let want = ktap_lines(&report);
    let got: Vec<(String, &str)> = results
        .iter()
        .filter(|r| r.definition == SUITE)
        .map(|r| (r.test_case_id.clone(), r.result.as_str()))
        .collect();
    if got.len() != want.len() || got.iter().zip(&want).any(|(g, w)| g.0 != w.0 || g.1 != w.1) {
        let first = got
            .iter()
            .zip(&want)
            .position(|(g, w)| g.0 != w.0 || g.1 != w.1)
            .unwrap_or(got.len().min(want.len()));
        return Err(Error::Run(format!(
            "LAVA's `{SUITE}` results differ from the KTAP: {} LAVA results, {} KTAP result lines; \
             first difference at #{}: LAVA {:?}, KTAP {:?}",
            got.len(),
            want.len(),
            first + 1,
            got.get(first),
            want.get(first)
        )));
    }
    let group = report
        .tests
        .iter()
        .find(|n| n.name == SMMUV3_GROUP)
        .ok_or_else(|| Error::Run(format!("no {SMMUV3_GROUP} group in the KTAP LAVA saw")))?;
    // Nothing tested is not a pass: the group must have run its cases, not
    // SKIPped as a whole or had every case SKIP.
    if matches!(group.status, Status::Skip(_))
        || !group.children.iter().any(|c| c.status == Status::Pass)
    {
        return Err(Error::Run(format!(
            "in the KTAP LAVA saw, {SMMUV3_GROUP} passed no case ({:?}, {} cases): no IOMMU case was tested",
            group.status,
            group.children.len()
        )));
    }
    let leaf_fails: Vec<&str> = group
        .children
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.as_str())
        .collect();
    let mut a = leaf_fails.clone();
    let mut b: Vec<&str> = run.failures.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return Err(Error::Run(format!(
            "in LAVA's results {SMMUV3_GROUP} failed {leaf_fails:?}; expected exactly {:?}",
            run.failures
        )));
    }
    let other_fails: Vec<String> = report
        .tests
        .iter()
        .filter(|n| n.name != SMMUV3_GROUP)
        .flat_map(|n| {
            let mut v = Vec::new();
            let mut lines = Vec::new();
            fn all(n: &Node, out: &mut Vec<(String, Status)>) {
                for c in &n.children {
                    all(c, out);
                }
                out.push((n.name.clone(), n.status.clone()));
            }
            all(n, &mut lines);
            for (name, s) in lines {
                if s == Status::Fail {
                    v.push(name);
                }
            }
            v
        })
        .collect();
    if !other_fails.is_empty() {
        return Err(Error::Run(format!(
            "LAVA recorded failures outside {SMMUV3_GROUP}: {other_fails:?}"
        )));
    }
    match results
        .iter()
        .find(|r| r.definition == "lava" && r.case == "job")
    {
        Some(r) if r.result == "pass" => Ok(()),
        Some(r) => Err(Error::Run(format!(
            "LAVA's own `job` result is `{}`",
            r.result
        ))),
        None => Err(Error::Run("LAVA reported no `job` result".into())),
    }
}

/// Runs `run` with `lava-run` over `image`: job and device files under
/// `target/lava/NAME/`, the dispatcher's log as `target/xtask/logs/NAME.log`.
pub fn run(run: &LavaRun, image: &Path, job_id: u32) -> Result<()> {
    let root = process::workspace_root();
    let templates = ensure_templates()?;
    let dir = work_dir().join(run.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let template = std::fs::read_to_string(root.join(JOB))
        .map_err(io(format!("reading {}", root.join(JOB).display())))?;
    let job = dir.join("job.yaml");
    std::fs::write(&job, job_text(&template, image, run.bootargs)?)
        .map_err(io(format!("writing {}", job.display())))?;
    let device = dir.join("device.yaml");
    process::run(
        Command::new(crate::lava::PYTHON)
            .arg(root.join(RENDER))
            .arg(&templates)
            .arg(root.join(DEVICE_DICT))
            .arg(&job)
            .arg(&device),
    )?;
    let logs = root.join("target/xtask/logs");
    std::fs::create_dir_all(&logs).map_err(io(format!("creating {}", logs.display())))?;
    let log = logs.join(format!("{}.log", run.name));
    let _ = std::fs::remove_file(&log);
    let out = std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    // lava-run logs to stderr; both streams go to the log.
    let err = out
        .try_clone()
        .map_err(io(format!("duplicating {}", log.display())))?;
    let mut cmd = Command::new(LAVA_RUN);
    cmd.args(["--job-id", &job_id.to_string(), "--output-dir"])
        .arg(dir.join("output"))
        .arg("--device")
        .arg(&device)
        .arg(&job);
    let line = process::display(&cmd);
    eprintln!("xtask: running {line} > {}", log.display());
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(io(format!("cannot start `{line}`")))?;
    eprintln!(
        "xtask: lava-run exited {status} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let console = dir.join("console.txt");
    let results = dir.join("results.tsv");
    process::run(
        Command::new(crate::lava::PYTHON)
            .arg(root.join(SPLIT))
            .arg(&log)
            .arg(&console)
            .arg(&results),
    )?;
    let console_text =
        std::fs::read_to_string(&console).map_err(io(format!("reading {}", console.display())))?;
    let results_text =
        std::fs::read_to_string(&results).map_err(io(format!("reading {}", results.display())))?;
    let parsed = parse_results(&results_text)?;
    judge(run, &console_text, &parsed).map_err(|e| {
        Error::Run(format!(
            "{e}\n  lava-run log: {}\n  (lava-run exited {status})",
            log.display()
        ))
    })?;
    if !status.success() {
        return Err(Error::Run(format!(
            "lava-run exited {status} although its results match; log: {}",
            log.display()
        )));
    }
    let n = parsed.iter().filter(|r| r.definition == SUITE).count();
    eprintln!(
        "xtask: LAVA recorded {n} results in suite `{SUITE}`, equal to the KTAP's result lines"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KTAP: &str = "KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    ok 1 bootargs\nok 1 platform\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..3\n    ok 1 map_dma_roundtrip\n    not ok 2 unmap_invalidate_blocks_dma\n    ok 3 walk_cache_invalidate # SKIP no walk cache\nnot ok 2 smmuv3@9050000\n# Totals: pass:2 fail:1 skip:1 total:4\n";

    fn r(d: &str, t: &str, res: &str) -> LavaResult {
        LavaResult {
            definition: d.into(),
            case: t.to_lowercase().replace('@', "_"),
            test_case_id: t.into(),
            result: res.into(),
        }
    }

    fn lava_ok() -> Vec<LavaResult> {
        vec![
            r("lava", "validate", "pass"),
            r(SUITE, "bootargs", "pass"),
            r(SUITE, "platform", "pass"),
            r(SUITE, "map_dma_roundtrip", "pass"),
            r(SUITE, "unmap_invalidate_blocks_dma", "fail"),
            r(SUITE, "walk_cache_invalidate", "skip"),
            r(SUITE, "smmuv3@9050000", "fail"),
            r("lava", "job", "pass"),
        ]
    }

    const RUN: LavaRun = LavaRun {
        stage: "t",
        name: "t",
        bootargs: "",
        failures: &["unmap_invalidate_blocks_dma"],
    };

    #[test]
    fn equal_lists_and_the_declared_failures_pass() {
        judge(&RUN, KTAP, &lava_ok()).unwrap();
    }

    #[test]
    fn a_skip_recorded_as_a_pass_is_caught() {
        let mut l = lava_ok();
        l[5].result = "pass".into();
        let e = judge(&RUN, KTAP, &l).unwrap_err().to_string();
        assert!(e.contains("first difference at #5"), "{e}");
    }

    #[test]
    fn a_missing_result_is_caught() {
        let mut l = lava_ok();
        l.remove(3);
        let e = judge(&RUN, KTAP, &l).unwrap_err().to_string();
        assert!(e.contains("5 LAVA results, 6 KTAP result lines"), "{e}");
    }

    #[test]
    fn unexpected_failures_and_a_failed_job_are_caught() {
        let none = LavaRun {
            failures: &[],
            ..RUN
        };
        assert!(judge(&none, KTAP, &lava_ok()).is_err());
        let mut l = lava_ok();
        l.last_mut().unwrap().result = "fail".into();
        let e = judge(&RUN, KTAP, &l).unwrap_err().to_string();
        assert!(e.contains("`job` result is `fail`"), "{e}");
    }

    /// The SMMUv3 group SKIPped whole (driver missing, no master): the
    /// lists still agree and nothing fails, yet nothing was tested.
    #[test]
    fn a_skipped_iommu_group_is_not_a_pass() {
        let ktap = "KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: platform\n    1..1\n    ok 1 bootargs\nok 1 platform\nok 2 smmuv3@9050000 # SKIP no DMA master\n# Totals: pass:1 fail:0 skip:1 total:2\n";
        let lava = vec![
            r(SUITE, "bootargs", "pass"),
            r(SUITE, "platform", "pass"),
            r(SUITE, "smmuv3@9050000", "skip"),
            r("lava", "job", "pass"),
        ];
        let none = LavaRun {
            failures: &[],
            ..RUN
        };
        let e = judge(&none, ktap, &lava).unwrap_err().to_string();
        assert!(e.contains("no IOMMU case was tested"), "{e}");
        // Every case SKIPped inside a group that ran: the same.
        let ktap = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: smmuv3@9050000\n    1..1\n    ok 1 walk_cache_invalidate # SKIP no walk cache\nok 1 smmuv3@9050000\n# Totals: pass:0 fail:0 skip:1 total:1\n";
        let lava = vec![
            r(SUITE, "walk_cache_invalidate", "skip"),
            r(SUITE, "smmuv3@9050000", "pass"),
            r("lava", "job", "pass"),
        ];
        let e = judge(&none, ktap, &lava).unwrap_err().to_string();
        assert!(e.contains("passed no case"), "{e}");
    }

    #[test]
    fn results_parse_and_reject_malformed_lines() {
        let l = parse_results(
            "lava\tjob\t-\tpass\niommu-bringup\tsmmuv3_9050000\tsmmuv3@9050000\tfail\n",
        )
        .unwrap();
        assert_eq!(l[1].test_case_id, "smmuv3@9050000");
        assert!(parse_results("lava\tjob\tpass\n").is_err());
    }

    #[test]
    fn the_job_template_is_filled_in() {
        let root = process::workspace_root();
        let t = std::fs::read_to_string(root.join(JOB)).unwrap();
        let j = job_text(&t, Path::new("/x/Image"), "iommu_bringup.inject=skip-sync").unwrap();
        assert!(j.contains("url: 'file:///x/Image'"), "{j}");
        assert!(
            j.contains("-append \"iommu_bringup.exit=semihosting iommu_bringup.inject=skip-sync\"")
        );
        assert!(!j.contains('{') || !j.contains("{BOOTARGS}"));
        assert!(job_text("device_type: qemu\n", Path::new("/x"), "").is_err());
    }

    /// The job's QEMU runs with the runner's `-icount` (the image's waits
    /// sleep; with QEMU's default `sleep=on` each edu DMA would cost 100 ms
    /// of wall time, measured: 33 s a job instead of 1 s).
    #[test]
    fn the_job_uses_the_runners_icount() {
        let root = process::workspace_root();
        let t = std::fs::read_to_string(root.join(JOB)).unwrap();
        let want = format!("- -icount {}\n", crate::qemu::ICOUNT);
        assert!(t.contains(&want), "{JOB} lacks `{want}`");
        assert_eq!(t.matches("-icount").count(), 1, "{JOB}");
    }

    /// The monitor `cargo xtask test` proves under lava-run is the one every
    /// board job uses.
    #[test]
    fn every_board_job_uses_the_pattern_proven_here() {
        let root = process::workspace_root();
        let line = |text: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with("pattern:"))
                .map(str::to_string)
        };
        let ours = line(&std::fs::read_to_string(root.join(JOB)).unwrap()).unwrap();
        let boards = crate::lava::job_files(&root).unwrap();
        assert!(boards.len() > 1);
        for b in boards {
            let text = std::fs::read_to_string(&b).unwrap();
            assert_eq!(line(&text).as_ref(), Some(&ours), "{}", b.display());
            assert!(text.contains("'SKIP': skip"), "{}", b.display());
        }
    }

    #[test]
    fn bookworm_installs_from_backports_and_others_plainly() {
        let bookworm = OsRelease::parse("ID=debian\nVERSION_CODENAME=bookworm\n");
        let p = install_plan(&bookworm, Privilege::Root).unwrap();
        assert!(p[1]
            .join(" ")
            .ends_with("-t bookworm-backports lava-dispatcher"));
        let trixie = OsRelease::parse("ID=debian\nVERSION_CODENAME=trixie\n");
        let p = install_plan(&trixie, Privilege::Sudo).unwrap();
        assert_eq!(p[1][0], "sudo");
        assert!(!p[1].join(" ").contains("backports"));
        let manual = install_plan(&trixie, Privilege::None).unwrap_err();
        assert!(
            manual.starts_with("`lava-run` is missing and installing `lava-dispatcher` needs root"),
            "{manual}"
        );
        assert!(
            manual.contains(
                "  sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install"
            ),
            "{manual}"
        );
        let fedora = OsRelease::parse("ID=fedora\n");
        assert!(install_plan(&fedora, Privilege::Root).is_err());
    }
}
