//! `cargo xtask test`: the toolchain's target and components, lint, host
//! unit tests, the host model runs (`model.rs`), the QEMU scenario matrix,
//! then the DART oracle and the LAVA runs, each stage timed and
//! summarised; the last stdout line is `xtask: N passed, M failed`.
//!
//! Three lanes run side by side after a short prelude (toolchain, QEMU,
//! LAVA, DTB fixtures, the kernel's KTAP parser: what may install
//! software), so the loop is shorter than the sum of its stages: **lint**
//! (fmt, then clippy for host and target in its own target directory,
//! [`LINT_TARGET_DIR`], so it never waits for `cargo test`'s lock),
//! **host** (`cargo test --workspace`, then the host model runs) and
//! **image** (the release image — cargo locks `release` apart from `debug`
//! — then the QEMU scenarios, [`Options::jobs`] at a time, default 2;
//! `--verbose`, which streams consoles, runs one).  Each stage's output is
//! held back and printed whole, in the order above, once it and all before
//! it are done; its time is its own.  After the lanes, one after the other
//! and printed live: the DART oracle (`oracle.rs`) and the LAVA runs
//! (`lava_run.rs`), which may install software.  The summary ends with the
//! wall time of the whole run and of the QEMU matrix.

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
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// QEMU scenarios run at the same time unless `--jobs` says otherwise.
pub const DEFAULT_JOBS: usize = 2;

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
    /// QEMU scenarios at a time (0: [`DEFAULT_JOBS`]).
    pub jobs: usize,
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
    record(rows, name, r, start.elapsed());
}

/// Reports a finished stage: a FAILED line on stderr, the stage line on
/// stdout, a row for the summary.
fn record(rows: &mut Vec<Row>, name: &str, r: Result<()>, time: Duration) {
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

/// The directory the lint lane's clippy runs build in: its own, so they
/// never wait for `cargo test`'s lock on `target/debug`.
pub const LINT_TARGET_DIR: &str = "target/lint";

/// Runs the whole suite; Err if anything failed (after printing the summary).
pub fn run(opts: &Options) -> Result<()> {
    let wall = Instant::now();
    let mut rows = Vec::new();
    let mut suites = Vec::new();
    // The prelude, one stage after the other, printed as it runs: what
    // every lane needs, and what may install software.
    // Before anything builds: without the target every later stage fails
    // with "can't find crate for `core`" (rustup does not always add it).
    stage(&mut rows, "rustup: target + components", toolchain::ensure);
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
    }
    let mut kunit_dir = None;
    if !opts.no_kunit {
        stage(&mut rows, "kunit: kernel KTAP parser", || {
            kunit_dir = Some(kunit::parser_dir()?);
            Ok(())
        });
    }
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    // QEMU's U-Boot (Debian's u-boot-qemu) for the rows booted through it;
    // without it those rows fail naming the package.
    if selected
        .iter()
        .any(|s| matches!(s.load, qemu::Load::UBoot(_)))
    {
        stage(
            &mut rows,
            "u-boot: qemu_arm64 (u-boot-qemu)",
            crate::uboot::ensure,
        );
    }
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
    // Three lanes at once (module docs); their stages print in this order.
    let lint: Vec<(&str, Vec<&str>)> = if opts.no_lint {
        Vec::new()
    } else {
        vec![
            ("lint: cargo fmt --check", vec!["fmt", "--all", "--check"]),
            (
                "lint: clippy (host)",
                vec![
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--target-dir",
                    LINT_TARGET_DIR,
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
            (
                "lint: clippy (target)",
                vec![
                    "clippy",
                    "--target",
                    image::TARGET,
                    "-p",
                    image::BIN,
                    "--target-dir",
                    LINT_TARGET_DIR,
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        ]
    };
    let mut names: Vec<String> = lint.iter().map(|(n, _)| n.to_string()).collect();
    let host_at = names.len();
    if !opts.no_host {
        names.push("host: cargo test --workspace".into());
    }
    let models_at = names.len();
    names.extend(models.iter().map(|m| m.stage.to_string()));
    let image_at = names.len();
    names.push("image: build + header check".into());
    let scenarios_at = names.len();
    names.extend(selected.iter().map(|s| format!("qemu: {}", s.name)));
    let jobs = match (opts.verbose, opts.jobs) {
        (true, _) => 1,
        (false, 0) => DEFAULT_JOBS,
        (false, j) => j,
    };
    let kunit = kunit_dir.as_deref();
    let mut matrix = None;
    let mut art = None;
    let (tx, rx) = mpsc::channel::<(usize, Done)>();
    std::thread::scope(|scope| {
        let tx_lint = tx.clone();
        scope.spawn(move || {
            for (i, (_, args)) in lint.iter().enumerate() {
                let done = timed(|log, _| process::run_logged(process::cargo().args(args), log));
                if tx_lint.send((i, done)).is_err() {
                    return;
                }
            }
        });
        let tx_host = tx.clone();
        let models = &models;
        scope.spawn(move || {
            let mut lib_tests = None;
            if !opts.no_host {
                let done = timed(|log, _| {
                    let mut cmd = process::cargo();
                    cmd.args(["test", "--workspace"])
                        .env("IOMMU_BRINGUP_REQUIRE_DTBS", "1");
                    if have_qemu {
                        cmd.env("IOMMU_BRINGUP_REQUIRE_QEMU", "1");
                    }
                    if have_lava {
                        cmd.env("IOMMU_BRINGUP_REQUIRE_LAVA", "1");
                    }
                    process::run_logged(&mut cmd, log)
                });
                if done.result.is_ok() {
                    lib_tests = lib_test_binary(&done.log);
                }
                if tx_host.send((host_at, done)).is_err() {
                    return;
                }
            }
            // The host model runs: KTAP as a board prints it, from the
            // driver over its model (not a board), judged like a scenario;
            // straight from the lib's test binary `cargo test` just built,
            // `jobs` at a time.
            let bin = lib_tests.as_deref();
            let mut n = 0;
            run_in_order(
                models,
                jobs,
                |m| timed(|log, suites| model::run(m, kunit, bin, suites, log)),
                |_, done| {
                    let _ = tx_host.send((models_at + n, done));
                    n += 1;
                },
            );
        });
        let tx_image = tx.clone();
        let selected = &selected;
        let matrix = &mut matrix;
        let art_out = &mut art;
        scope.spawn(move || {
            let start = Instant::now();
            let (r, log) = image::build_quiet();
            let art = r.as_ref().ok().cloned();
            art_out.clone_from(&art);
            let done = Done {
                result: r.map(|_| ()),
                log,
                time: start.elapsed(),
                suites: Vec::new(),
            };
            if tx_image.send((image_at, done)).is_err() {
                return;
            }
            match art {
                Some(art) if have_qemu => {
                    let start = Instant::now();
                    let mut n = 0;
                    run_in_order(
                        selected,
                        jobs,
                        |s| run_scenario(s, &art.image, opts, kunit),
                        |_, done| {
                            let _ = tx_image.send((scenarios_at + n, done));
                            n += 1;
                        },
                    );
                    *matrix = Some(start.elapsed());
                }
                _ => {
                    for i in 0..selected.len() {
                        let done = Done {
                            result: Err(Error::Failed(
                                "not run: no image or no QEMU (see above)".into(),
                            )),
                            log: String::new(),
                            time: Duration::ZERO,
                            suites: Vec::new(),
                        };
                        let _ = tx_image.send((scenarios_at + i, done));
                    }
                }
            }
        });
        drop(tx);
        // Print each stage whole, in order, once it and all before it are done.
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (i, done) in rx {
            waiting.insert(i, done);
            while let Some(done) = waiting.remove(&due) {
                eprintln!("xtask: == {} ==", names[due]);
                eprint!("{}", done.log);
                record(&mut rows, &names[due], done.result, done.time);
                suites.extend(done.suites);
                due += 1;
            }
        }
    });
    let matrix = matrix.map(|t| (t, jobs));
    // After the lanes, one after the other and printed as they run: stages
    // that may install software (a venv, LAVA's dispatcher) and print as
    // they go.
    // The DART driver's writes replayed through Asahi's own DART classes
    // (PyPI m1n1-proxyclient in a venv under target/).
    if run_oracle {
        stage(&mut rows, "oracle: dart", oracle::run);
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
    // Stages overlap (module docs): the wall time is less than their sum.
    let mut line = format!("wall {:.1} s", wall.elapsed().as_secs_f64());
    if let Some((t, jobs)) = matrix.filter(|_| !selected.is_empty()) {
        let _ = write!(
            line,
            "; QEMU matrix {:.1} s ({} scenarios, {jobs} at a time)",
            t.as_secs_f64(),
            selected.len()
        );
    }
    println!("{line}; lint, host tests and image + QEMU ran side by side");
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

/// What one scenario left: its console judged, the runner's lines about
/// it (printed when its turn comes), its JUnit suites.
struct Done {
    result: Result<()>,
    log: String,
    time: Duration,
    suites: Vec<junit::Suite>,
}

/// The lib's unit-test binary, from `cargo test`'s
/// `Running unittests src/lib.rs (PATH)` line, when it exists.
fn lib_test_binary(log: &str) -> Option<PathBuf> {
    let path = log.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Running unittests src/lib.rs (")?
            .strip_suffix(')')
    })?;
    let p = process::workspace_root().join(path);
    p.is_file().then_some(p)
}

/// Runs one captured stage: its log, result, JUnit suites and own time.
fn timed(f: impl FnOnce(&mut String, &mut Vec<junit::Suite>) -> Result<()>) -> Done {
    let start = Instant::now();
    let mut log = String::new();
    let mut suites = Vec::new();
    let result = f(&mut log, &mut suites);
    Done {
        result,
        log,
        time: start.elapsed(),
        suites,
    }
}

/// Runs `work` on every item, `jobs` at a time, and hands each result to
/// `report` in the items' order as soon as it and all before it are done.
fn run_in_order<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut report: impl FnMut(&T, R),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&due) {
                report(&items[due], r);
                due += 1;
            }
        }
    });
}

fn run_scenario(s: &Scenario, image: &Path, opts: &Options, kunit_dir: Option<&Path>) -> Done {
    let start = Instant::now();
    let mut log = String::new();
    let mut suites = Vec::new();
    let result = scenario(s, image, opts, kunit_dir, &mut suites, &mut log);
    Done {
        result,
        log,
        time: start.elapsed(),
        suites,
    }
}

fn scenario(
    s: &Scenario,
    image: &Path,
    opts: &Options,
    kunit_dir: Option<&Path>,
    suites: &mut Vec<junit::Suite>,
    log: &mut String,
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
    if !opts.verbose {
        let _ = writeln!(log, "xtask: running {}", boot.command);
    }
    let dump = |log: &mut String, why: &str| {
        if !opts.verbose {
            let _ = writeln!(log, "xtask: {}: {why}; console was:", s.name);
            for l in boot.console.lines() {
                let _ = writeln!(log, "  | {}", l.trim_end_matches('\r'));
            }
        }
    };
    let saved = save_log(s.name, &boot.console);
    let verdict = match qemu::judge(&boot) {
        Ok(v) => v,
        Err(bad) => {
            let problems = s.check_bad(&bad);
            let ok = problems.is_empty();
            if !ok {
                dump(log, &bad.to_string());
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
                let _ = writeln!(log, "xtask: {}: {bad}, as expected", s.name);
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
    if let Some(direct) = s.direct_reference() {
        // Booted through U-Boot: the same machine booted directly must
        // give the same cases and verdicts.
        let mut m = direct.machine();
        m.tag = format!("{}-direct", s.name);
        let b = qemu::boot(&m, image, Limits::from_total(opts.timeout), Echo::Quiet)?;
        save_log(&m.tag, &b.console);
        match qemu::judge(&b) {
            Ok(v) => {
                let diff = Scenario::same_results(&v.report, &verdict.report);
                if diff.is_empty() {
                    let _ = writeln!(
                        log,
                        "xtask: {}: the same {} cases and verdicts as a direct boot ({:.1} s)",
                        s.name,
                        v.report.cases().len(),
                        b.elapsed.as_secs_f64()
                    );
                }
                problems.extend(diff);
            }
            Err(bad) => problems.push(format!("the direct boot to compare with: {bad}")),
        }
    }
    if let (Some(dir), Some(saved)) = (kunit_dir, &saved) {
        let success = matches!(s.expect, Expectation::AllPass | Expectation::NothingTested);
        match kunit::check(dir, saved, success) {
            Ok(summary) => {
                let _ = writeln!(log, "{summary}");
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        let t = verdict.report.totals;
        let _ = writeln!(
            log,
            "xtask: {}: pass:{} fail:{} skip:{}, exit status {} as expected",
            s.name, t.pass, t.fail, t.skip, verdict.code
        );
        Ok(())
    } else {
        dump(log, "expectation not met");
        Err(Error::Run(problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_lib_test_binary_is_read_off_cargo_tests_output() {
        // cargo prints the path relative to the workspace, or absolute
        // when the target directory is elsewhere (CARGO_TARGET_DIR).
        let exe = std::env::current_exe().unwrap();
        let root = process::workspace_root();
        let rel = exe
            .strip_prefix(&root)
            .unwrap_or(&exe)
            .display()
            .to_string();
        let log = format!(
            "   Compiling x\n     Running unittests src/main.rs (target/debug/deps/xtask-1)\n     Running unittests src/lib.rs ({rel})\nrunning 3 tests\n"
        );
        assert_eq!(lib_test_binary(&log), Some(exe));
        // A path that is no file, or no such line: None (cargo is used).
        assert_eq!(
            lib_test_binary("     Running unittests src/lib.rs (target/nowhere)\n"),
            None
        );
        assert_eq!(lib_test_binary("running 0 tests\n"), None);
    }

    #[test]
    fn results_come_back_in_order_whatever_finishes_first() {
        // Item 0 finishes last; the report still sees 0, 1, 2, ... and each
        // item's own result.
        let items: Vec<u64> = (0..7).collect();
        let running = AtomicUsize::new(0);
        let most = Mutex::new(0);
        let mut seen = Vec::new();
        run_in_order(
            &items,
            2,
            |&i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                let mut m = most.lock().unwrap();
                *m = (*m).max(now);
                drop(m);
                std::thread::sleep(Duration::from_millis(if i == 0 { 60 } else { 5 }));
                running.fetch_sub(1, Ordering::SeqCst);
                i * 10
            },
            |&i, r| seen.push((i, r)),
        );
        assert_eq!(seen, (0..7).map(|i| (i, i * 10)).collect::<Vec<_>>());
        assert_eq!(*most.lock().unwrap(), 2, "two at a time");
        // One job, and no items at all, work too.
        let mut one = Vec::new();
        run_in_order(&items, 1, |&i| i, |_, r| one.push(r));
        assert_eq!(one, items);
        run_in_order(&[] as &[u64], 2, |&i| i, |_, _| panic!("no items"));
    }
}
