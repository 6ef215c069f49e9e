//! `cargo xtask test`: the toolchain's target and components, lint, host
//! unit tests, the host model runs (`model.rs`), then the QEMU scenario
//! matrix, each stage timed and summarised; the last stdout line is
//! `xtask: N passed, M failed`.

use crate::error::{Error, Result};
use crate::image;
use crate::install;
use crate::junit;
use crate::ktap::Status;
use crate::kunit;
use crate::lava;
use crate::lava_run;
use crate::model::{self, ModelRun};
use crate::oracle;
use crate::process;
use crate::qemu::{self, Echo, Limits};
use crate::scenarios::{Expectation, Scenario, SCENARIOS};
use crate::toolchain;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `cargo xtask test`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Skip fmt and clippy.
    pub no_lint: bool,
    /// Skip `cargo test --workspace` and the host model runs.
    pub no_host: bool,
    /// Skip the second opinion of the kernel's KTAP parser.
    pub no_kunit: bool,
    /// Only scenarios and model runs whose name contains one of these (all
    /// when empty).
    pub only: Vec<String>,
    /// Total timeout per scenario, seconds.
    pub timeout: u64,
    /// Stream each scenario's console to stdout.
    pub verbose: bool,
    /// Write a JUnit report here.
    pub junit: Option<PathBuf>,
}

/// `--only` name of the DART oracle stage.
const ORACLE: &str = "oracle-dart";

/// One line of the summary.
struct Row {
    name: String,
    ok: bool,
    time: Duration,
    note: String,
}

fn stage(rows: &mut Vec<Row>, name: &str, f: impl FnOnce() -> Result<()>) {
    eprintln!("xtask: == {name} ==");
    let start = Instant::now();
    let r = f();
    let time = start.elapsed();
    let (ok, note) = match r {
        Ok(()) => (true, String::new()),
        Err(e) => {
            eprintln!("xtask: {name} FAILED: {e}");
            (false, e.to_string())
        }
    };
    println!(
        "xtask: {:<28} {:<4} {:>7.1} s",
        name,
        if ok { "pass" } else { "FAIL" },
        time.as_secs_f64()
    );
    rows.push(Row {
        name: name.to_string(),
        ok,
        time,
        note,
    });
}

/// Runs the whole suite; Err if anything failed (after printing the summary).
pub fn run(opts: &Options) -> Result<()> {
    let mut rows = Vec::new();
    let mut suites = Vec::new();
    // Before anything builds: without the target every later stage fails
    // with "can't find crate for `core`" (rustup does not always add it).
    stage(&mut rows, "rustup: target + components", toolchain::ensure);
    if !opts.no_lint {
        stage(&mut rows, "lint: cargo fmt --check", || {
            process::run(process::cargo().args(["fmt", "--all", "--check"]))
        });
        stage(&mut rows, "lint: clippy (host)", || {
            process::run(process::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        });
        stage(&mut rows, "lint: clippy (target)", || {
            process::run(process::cargo().args([
                "clippy",
                "--target",
                image::TARGET,
                "-p",
                image::BIN,
                "--",
                "-D",
                "warnings",
            ]))
        });
    }
    // QEMU before the host tests: some of them dump real virt DTBs with it
    // (and fail instead of skipping when IOMMU_BRINGUP_REQUIRE_QEMU is set).
    let mut have_qemu = false;
    stage(&mut rows, "qemu: installed (>= 10.0)", || {
        install::ensure()?;
        have_qemu = true;
        Ok(())
    });
    // LAVA's own job schema (Debian's lava-common, installed when missing)
    // on every LAVA job file; before the host tests, whose LAVA test then
    // fails instead of skipping.
    let mut have_lava = false;
    stage(&mut rows, "lava: job schema", || {
        lava::ensure()?;
        have_lava = true;
        lava::validate_all()
    });
    if !opts.no_host {
        // Board DTB fixtures first, so tests/dt_boards.rs really runs (it
        // fails instead of skipping when IOMMU_BRINGUP_REQUIRE_DTBS is set).
        stage(&mut rows, "fixtures: board DTBs + dtc", crate::dtbs::run);
        stage(&mut rows, "host: cargo test --workspace", || {
            let mut cmd = process::cargo();
            cmd.args(["test", "--workspace"])
                .env("IOMMU_BRINGUP_REQUIRE_DTBS", "1");
            if have_qemu {
                cmd.env("IOMMU_BRINGUP_REQUIRE_QEMU", "1");
            }
            if have_lava {
                cmd.env("IOMMU_BRINGUP_REQUIRE_LAVA", "1");
            }
            process::run(&mut cmd)
        });
    }
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    let models: Vec<&ModelRun> = model::RUNS
        .iter()
        .filter(|_| !opts.no_host)
        .filter(|m| opts.only.is_empty() || opts.only.iter().any(|o| m.name.contains(o.as_str())))
        .collect();
    let lava_selected = lava_run::RUNS
        .iter()
        .any(|r| opts.only.is_empty() || opts.only.iter().any(|o| r.name.contains(o.as_str())));
    // The DART oracle runs with the host stages (its name: `oracle-dart`).
    let run_oracle = !opts.no_host
        && (opts.only.is_empty() || opts.only.iter().any(|o| ORACLE.contains(o.as_str())));
    if selected.is_empty() && models.is_empty() && !lava_selected && !run_oracle {
        return Err(Error::Usage(format!(
            "--only {:?} matches no scenario (have: {})",
            opts.only,
            SCENARIOS
                .iter()
                .map(|s| s.name)
                .chain(model::RUNS.iter().map(|m| m.name))
                .chain(lava_run::RUNS.iter().map(|r| r.name))
                .chain([ORACLE])
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Build once and make sure QEMU is there; if either fails every scenario fails.
    let mut art = None;
    stage(&mut rows, "image: build + header check", || {
        art = Some(image::build()?);
        Ok(())
    });
    let mut kunit_dir = None;
    if !opts.no_kunit {
        stage(&mut rows, "kunit: kernel KTAP parser", || {
            kunit_dir = Some(kunit::parser_dir()?);
            Ok(())
        });
    }
    // The host model runs: KTAP as a board prints it, from the driver over
    // its model (not a board), judged like a scenario.
    for m in &models {
        let mut junit_suites = Vec::new();
        stage(&mut rows, m.stage, || {
            model::run(m, kunit_dir.as_deref(), &mut junit_suites)
        });
        suites.extend(junit_suites);
    }
    // The DART driver's writes replayed through Asahi's own DART classes
    // (PyPI m1n1-proxyclient in a venv under target/).
    if run_oracle {
        stage(&mut rows, "oracle: dart", oracle::run);
    }
    match &art {
        Some(art) if have_qemu => {
            for s in &selected {
                let name = format!("qemu: {}", s.name);
                let mut junit_suites = Vec::new();
                stage(&mut rows, &name, || {
                    run_scenario(s, &art.image, opts, kunit_dir.as_deref(), &mut junit_suites)
                });
                suites.extend(junit_suites);
            }
        }
        _ => {
            for s in &selected {
                let name = format!("qemu: {}", s.name);
                println!("xtask: {name:<28} FAIL (not run)");
                rows.push(Row {
                    name,
                    ok: false,
                    time: Duration::ZERO,
                    note: "not run: no image or no QEMU (see above)".into(),
                });
            }
        }
    }
    // A LAVA job run by LAVA's own dispatcher (lava-run) under QEMU, its
    // results compared with the image's KTAP, and its negative control.
    let lava_runs: Vec<&lava_run::LavaRun> = lava_run::RUNS
        .iter()
        .filter(|r| opts.only.is_empty() || opts.only.iter().any(|o| r.name.contains(o.as_str())))
        .collect();
    if !lava_runs.is_empty() {
        let mut have_dispatcher = false;
        stage(&mut rows, "lava: dispatcher installed", || {
            lava_run::ensure_dispatcher()?;
            have_dispatcher = true;
            Ok(())
        });
        for (i, r) in lava_runs.iter().enumerate() {
            stage(&mut rows, r.stage, || match &art {
                Some(art) if have_qemu && have_lava && have_dispatcher => {
                    lava_run::run(r, &art.image, i as u32 + 1)
                }
                _ => Err(Error::Run(
                    "not run: no image, QEMU, LAVA schema or dispatcher (see above)".into(),
                )),
            });
        }
    }
    // Summary.
    let passed = rows.iter().filter(|r| r.ok).count();
    let failed = rows.len() - passed;
    println!();
    println!("{:<34} {:<6} {:>9}", "stage / scenario", "result", "time");
    for r in &rows {
        println!(
            "{:<34} {:<6} {:>7.1} s",
            r.name,
            if r.ok { "pass" } else { "FAIL" },
            r.time.as_secs_f64()
        );
    }
    for r in rows.iter().filter(|r| !r.ok) {
        println!("  {}: {}", r.name, first_lines(&r.note, 6));
    }
    if let Some(path) = &opts.junit {
        suites.push(junit::Suite {
            name: "xtask".into(),
            time: rows.iter().map(|r| r.time).sum(),
            cases: rows
                .iter()
                .map(|r| junit::Case {
                    name: r.name.clone(),
                    classname: "iommu-bringup.xtask".into(),
                    status: if r.ok { Status::Pass } else { Status::Fail },
                    diagnostics: if r.ok { vec![] } else { vec![r.note.clone()] },
                    message: (!r.ok).then(|| first_lines(&r.note, 1)),
                })
                .collect(),
        });
        match std::fs::write(path, junit::render(&suites)) {
            Ok(()) => eprintln!("xtask: wrote JUnit report {}", path.display()),
            Err(e) => {
                eprintln!("xtask: cannot write {}: {e}", path.display());
                println!("xtask: {passed} passed, {} failed", failed + 1);
                return Err(Error::Failed("JUnit report not written".into()));
            }
        }
    }
    println!("xtask: {passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::Failed(format!("{failed} stage(s) failed")))
    }
}

fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines[..lines.len().min(n)].join(" / ");
    if lines.len() > n {
        out.push_str(" ...");
    }
    out
}

/// Keeps each scenario's console under `target/xtask/logs/` (CI artifacts,
/// and input for the kernel's KTAP parser).
fn save_log(name: &str, console: &str) -> Option<PathBuf> {
    let dir = process::workspace_root().join("target/xtask/logs");
    let path = dir.join(format!("{name}.log"));
    let r = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, console));
    match r {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("xtask: cannot save {}: {e}", path.display());
            None
        }
    }
}

fn run_scenario(
    s: &Scenario,
    image: &std::path::Path,
    opts: &Options,
    kunit_dir: Option<&std::path::Path>,
    suites: &mut Vec<junit::Suite>,
) -> Result<()> {
    let echo = if opts.verbose {
        Echo::Stdout
    } else {
        Echo::Quiet
    };
    let mut machine = s.machine();
    if let crate::scenarios::Dtb::Patched(patch) = s.dtb {
        let dtb = crate::baddtb::make(&machine, image, patch)?;
        machine.extra.push("-dtb".into());
        machine.extra.push(dtb.display().to_string());
    }
    let boot = qemu::boot(&machine, image, Limits::from_total(opts.timeout), echo)?;
    let dump = |why: &str| {
        if !opts.verbose {
            eprintln!("xtask: {}: {why}; console was:", s.name);
            for l in boot.console.lines() {
                eprintln!("  | {}", l.trim_end_matches('\r'));
            }
        }
    };
    let log = save_log(s.name, &boot.console);
    let verdict = match qemu::judge(&boot) {
        Ok(v) => v,
        Err(bad) => {
            let problems = s.check_bad(&bad);
            let ok = problems.is_empty();
            if !ok {
                dump(&bad.to_string());
            }
            suites.push(junit::Suite {
                name: s.name.to_string(),
                time: boot.elapsed,
                cases: vec![junit::Case {
                    name: "boot".into(),
                    classname: format!("iommu-bringup.{}", s.name),
                    status: if ok { Status::Pass } else { Status::Fail },
                    diagnostics: boot.console.lines().map(String::from).collect(),
                    message: (!ok).then(|| problems.join("\n")),
                }],
            });
            if ok {
                eprintln!("xtask: {}: {bad}, as expected", s.name);
                return Ok(());
            }
            return Err(Error::Run(format!(
                "{}\n  command: {}",
                problems.join("\n"),
                boot.command
            )));
        }
    };
    let mut cases = verdict.report.cases();
    if let Expectation::ExpectFailures { .. } = s.expect {
        // In the JUnit view an expected failure of a negative control is a pass.
        for c in &mut cases {
            if c.status == Status::Fail {
                c.status = Status::Pass;
                c.diagnostics
                    .push("expected failure (negative control)".into());
            }
        }
    }
    suites.extend(junit::suites_from_cases(s.name, &cases, boot.elapsed));
    let mut problems = s.check_verdict(&verdict.report, verdict.nothing_tested);
    if let (Some(dir), Some(log)) = (kunit_dir, &log) {
        let success = matches!(s.expect, Expectation::AllPass | Expectation::NothingTested);
        if let Err(e) = kunit::check(dir, log, success) {
            problems.push(e.to_string());
        }
    }
    if problems.is_empty() {
        let t = verdict.report.totals;
        eprintln!(
            "xtask: {}: pass:{} fail:{} skip:{}, exit status {} as expected",
            s.name, t.pass, t.fail, t.skip, verdict.code
        );
        Ok(())
    } else {
        dump("expectation not met");
        Err(Error::Run(problems.join("\n")))
    }
}
