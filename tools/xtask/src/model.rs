//! Host model runs in `cargo xtask test`: the sun50i driver runs the whole
//! catalogue over its behavioural model (`src/iommu/sun50i/model.rs`,
//! `#[cfg(test)]`, written from the manuals), the DART driver over the
//! DART model (`src/iommu/dart/model.rs`, written from m1n1, U-Boot and
//! OpenBSD) for t8103, t6000 and t8110, and the SMMUv2 driver over the
//! SMMUv2 model (`src/iommu/smmuv2/model.rs`, written from IHI 0062 and the
//! MMU-500 TRM) on its MMU-500 and Qualcomm variants (the Qualcomm one
//! also through the TBU debug port alone), each in an ignored
//! host test, which
//! prints the KTAP a board's run prints (one subtest group named after the
//! board's IOMMU node, or after the model) to the file
//! `$IOMMU_BRINGUP_MODEL_KTAP` names.  This
//! module runs that test, keeps the file under `target/xtask/logs/` like a
//! QEMU scenario's console, and judges it the same way: the project's KTAP
//! parser, the expected failures, and the kernel's KTAP parser.
//!
//! A host model, not a board: it shows the driver and the KTAP path agree
//! with the model, nothing about silicon.

use crate::error::{io, Error, Result};
use crate::junit;
use crate::ktap::{self, Report, Status};
use crate::kunit;
use crate::process;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The variable the host test writes its KTAP to.
pub const ENV: &str = "IOMMU_BRINGUP_MODEL_KTAP";

/// The H616's IOMMU node, the group a board run reports.
pub const SUN50I_GROUP: &str = "iommu@30f0000";

/// What the sun50i negative control must fail: the driver's own list.
pub const SUN50I_SKIP_SYNC_FAILURES: &[&str] = iommu_bringup::iommu::sun50i::SKIP_SYNC_FAILURES;

/// The ZynqMP MMU-500's node, the group the SMMUv2 MMU-500 model run
/// reports.
pub const MMU500_GROUP: &str = "iommu@fd800000";

/// The SDM845 apps SMMU's node, the group the Qualcomm model run reports.
pub const QCOM_SMMU_GROUP: &str = "iommu@15000000";

/// What the SMMUv2 negative control must fail: the driver's own list.
pub const SMMUV2_SKIP_SYNC_FAILURES: &[&str] = iommu_bringup::iommu::smmuv2::SKIP_SYNC_FAILURES;

/// What the SMMUv2 negative control through the TBU port alone must
/// fail: the driver's own list.
pub const SMMUV2_TBU_SKIP_SYNC_FAILURES: &[&str] =
    iommu_bringup::iommu::smmuv2::SKIP_SYNC_FAILURES_TBU_PORT_ALONE;

/// What the DART negative control must fail: the driver's own list.
pub const DART_SKIP_SYNC_FAILURES: &[&str] = iommu_bringup::iommu::dart::SKIP_SYNC_FAILURES;

/// One host model run.
#[derive(Clone, Copy, Debug)]
pub struct ModelRun {
    /// Stage name in the summary.
    pub stage: &'static str,
    /// Log file stem under `target/xtask/logs/` and JUnit suite prefix.
    pub name: &'static str,
    /// The ignored lib test that writes the KTAP (exact path).
    pub test: &'static str,
    /// The one group the KTAP must hold.
    pub group: &'static str,
    /// Exactly these cases of `group` fail; every other case passes or skips.
    pub failures: &'static [&'static str],
}

/// The host model runs, in order.
pub const RUNS: &[ModelRun] = &[
    ModelRun {
        stage: "model: sun50i H616",
        name: "model-sun50i-h616",
        test: "iommu::sun50i::tests::model_ktap_h616",
        group: SUN50I_GROUP,
        failures: &[],
    },
    ModelRun {
        stage: "model: sun50i H616 skip-sync",
        name: "model-sun50i-h616-skip-sync",
        test: "iommu::sun50i::tests::model_ktap_h616_skip_sync",
        group: SUN50I_GROUP,
        failures: SUN50I_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: sun50i H616, VA port alone",
        name: "model-sun50i-h616-va-port",
        test: "iommu::sun50i::tests::model_ktap_h616_va_port_alone",
        group: SUN50I_GROUP,
        failures: &[],
    },
    ModelRun {
        stage: "model: DART t8103",
        name: "model-dart-t8103",
        test: "iommu::dart::model_runs::model_ktap_t8103",
        group: "dart-model-t8103",
        failures: &[],
    },
    ModelRun {
        stage: "model: DART t8103 skip-sync",
        name: "model-dart-t8103-skip-sync",
        test: "iommu::dart::model_runs::model_ktap_t8103_skip_sync",
        group: "dart-model-t8103",
        failures: DART_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: DART t6000",
        name: "model-dart-t6000",
        test: "iommu::dart::model_runs::model_ktap_t6000",
        group: "dart-model-t6000",
        failures: &[],
    },
    ModelRun {
        stage: "model: DART t6000 skip-sync",
        name: "model-dart-t6000-skip-sync",
        test: "iommu::dart::model_runs::model_ktap_t6000_skip_sync",
        group: "dart-model-t6000",
        failures: DART_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: DART t8110",
        name: "model-dart-t8110",
        test: "iommu::dart::model_runs::model_ktap_t8110",
        group: "dart-model-t8110",
        failures: &[],
    },
    ModelRun {
        stage: "model: DART t8103, no master",
        name: "model-dart-t8103-no-master",
        test: "iommu::dart::model_runs::model_ktap_t8103_no_master",
        group: "iommu@682008000",
        failures: &[],
    },
    ModelRun {
        stage: "model: DART t8110 skip-sync",
        name: "model-dart-t8110-skip-sync",
        test: "iommu::dart::model_runs::model_ktap_t8110_skip_sync",
        group: "dart-model-t8110",
        failures: DART_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: SMMUv2 MMU-500",
        name: "model-smmuv2-mmu500",
        test: "iommu::smmuv2::tests::model_ktap_mmu500",
        group: MMU500_GROUP,
        failures: &[],
    },
    ModelRun {
        stage: "model: SMMUv2 MMU-500 skip-sync",
        name: "model-smmuv2-mmu500-skip-sync",
        test: "iommu::smmuv2::tests::model_ktap_mmu500_skip_sync",
        group: MMU500_GROUP,
        failures: SMMUV2_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: SMMUv2 Qualcomm MMU-500",
        name: "model-smmuv2-qcom",
        test: "iommu::smmuv2::tests::model_ktap_qcom",
        group: QCOM_SMMU_GROUP,
        failures: &[],
    },
    ModelRun {
        stage: "model: SMMUv2 Qualcomm MMU-500 skip-sync",
        name: "model-smmuv2-qcom-skip-sync",
        test: "iommu::smmuv2::tests::model_ktap_qcom_skip_sync",
        group: QCOM_SMMU_GROUP,
        failures: SMMUV2_SKIP_SYNC_FAILURES,
    },
    ModelRun {
        stage: "model: SMMUv2 Qualcomm MMU-500, TBU port alone",
        name: "model-smmuv2-qcom-tbu",
        test: "iommu::smmuv2::tests::model_ktap_qcom_tbu",
        group: QCOM_SMMU_GROUP,
        failures: &[],
    },
    ModelRun {
        stage: "model: SMMUv2 Qualcomm MMU-500, TBU port alone, skip-sync",
        name: "model-smmuv2-qcom-tbu-skip-sync",
        test: "iommu::smmuv2::tests::model_ktap_qcom_tbu_skip_sync",
        group: QCOM_SMMU_GROUP,
        failures: SMMUV2_TBU_SKIP_SYNC_FAILURES,
    },
];

/// The words the run's own header must carry, so a log read out of context
/// is never taken for a board's.
pub const HOST_MODEL_MARK: &str = "host model";

/// Runs `r`'s host test, saves its KTAP as `target/xtask/logs/NAME.log` and
/// judges it; JUnit suites for its cases go to `suites`, what it has to say
/// to `out`.  `lib_tests` is the lib's test binary when the caller knows it
/// is built (`cargo xtask test` after `cargo test --workspace`): it is run
/// directly, several models at once, without a `cargo test` per model.
pub fn run(
    r: &ModelRun,
    kunit_dir: Option<&Path>,
    lib_tests: Option<&Path>,
    suites: &mut Vec<junit::Suite>,
    out: &mut String,
) -> Result<()> {
    let dir = process::workspace_root().join("target/xtask/logs");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let log: PathBuf = dir.join(format!("{}.log", r.name));
    // A stale log from an earlier run must not be judged.
    let _ = std::fs::remove_file(&log);
    let start = Instant::now();
    let mut cmd = match lib_tests {
        Some(bin) => {
            let mut c = std::process::Command::new(bin);
            c.current_dir(process::workspace_root());
            c
        }
        None => {
            let mut c = process::cargo();
            c.args(["test", "--lib", "-p", "iommu-bringup", "--"]);
            c
        }
    };
    process::run_logged(
        cmd.args([r.test, "--exact", "--ignored"]).env(ENV, &log),
        out,
    )?;
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(&log).map_err(io(format!(
        "{} did not write {}",
        r.test,
        log.display()
    )))?;
    let report = ktap::parse(&text)
        .map_err(|e| Error::Run(format!("{}: not valid KTAP: {e}", log.display())))?;
    let mut cases = report.cases();
    for c in &mut cases {
        if c.status == Status::Fail && r.failures.contains(&c.case.as_str()) {
            // As for a QEMU negative control: an expected failure is a pass.
            c.status = Status::Pass;
            c.diagnostics
                .push("expected failure (negative control)".into());
        }
    }
    suites.extend(junit::suites_from_cases(r.name, &cases, elapsed));
    let mut problems = check(r, &report);
    if let Some(dir) = kunit_dir {
        match kunit::check(dir, &log, r.failures.is_empty()) {
            Ok(summary) => out.push_str(&format!("{summary}\n")),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        let t = report.totals;
        out.push_str(&format!(
            "xtask: {}: pass:{} fail:{} skip:{} as expected (host model, log {})\n",
            r.stage,
            t.pass,
            t.fail,
            t.skip,
            log.display()
        ));
        Ok(())
    } else {
        out.push_str(&format!(
            "xtask: {}: expectation not met; KTAP was:\n",
            r.stage
        ));
        for l in text.lines() {
            out.push_str(&format!("  | {l}\n"));
        }
        Err(Error::Run(problems.join("\n")))
    }
}

/// What is wrong with `report` for `r` (empty: as expected).
pub fn check(r: &ModelRun, report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    let groups: Vec<&str> = report.tests.iter().map(|n| n.name.as_str()).collect();
    if groups != [r.group] {
        problems.push(format!("expected one group `{}`, got {groups:?}", r.group));
    }
    if !report
        .all_diagnostics()
        .iter()
        .any(|d| d.contains(HOST_MODEL_MARK))
    {
        problems.push(format!(
            "no diagnostic says `{HOST_MODEL_MARK}`: a model run must not read like a board's"
        ));
    }
    let cases = report.cases();
    if cases.is_empty() {
        problems.push("the KTAP reports no cases at all".into());
    }
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.qualified())
        .collect();
    let wanted: Vec<String> = r
        .failures
        .iter()
        .map(|c| format!("{}.{c}", r.group))
        .collect();
    for f in &failed {
        if !wanted.contains(f) {
            let why = cases
                .iter()
                .find(|c| &c.qualified() == f)
                .and_then(|c| c.diagnostics.last().cloned())
                .unwrap_or_default();
            problems.push(format!("unexpected failure: {f} ({why})"));
        }
    }
    for w in &wanted {
        if !failed.contains(w) {
            problems.push(format!("expected `{w}` to fail, but it did not"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "KTAP version 1\n1..1\n# iommu_bringup host model: not a board\n    KTAP version 1\n    # Subtest: iommu@30f0000\n    1..2\n    ok 1 a\n    ok 2 b # SKIP why\nok 1 iommu@30f0000\n# Totals: pass:1 fail:0 skip:1 total:2\n";

    const RUN: ModelRun = ModelRun {
        stage: "model: t",
        name: "model-t",
        test: "t",
        group: SUN50I_GROUP,
        failures: &[],
    };

    #[test]
    fn a_clean_model_run_passes() {
        let r = ktap::parse(OK).unwrap();
        assert_eq!(check(&RUN, &r), Vec::<String>::new());
    }

    #[test]
    fn an_unexpected_or_missing_failure_and_an_unmarked_log_are_named() {
        let bad = OK
            .replace("    ok 1 a", "    # boom\n    not ok 1 a")
            .replace("ok 1 iommu@30f0000", "not ok 1 iommu@30f0000")
            .replace("pass:1 fail:0", "pass:0 fail:1");
        let p = check(&RUN, &ktap::parse(&bad).unwrap());
        assert_eq!(p, ["unexpected failure: iommu@30f0000.a (boom)"]);
        let neg = ModelRun {
            failures: &["b"],
            ..RUN
        };
        let p = check(&neg, &ktap::parse(OK).unwrap());
        assert_eq!(p, ["expected `iommu@30f0000.b` to fail, but it did not"]);
        let unmarked = OK.replace("host model", "board");
        let p = check(&RUN, &ktap::parse(&unmarked).unwrap());
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("must not read like a board's"), "{p:?}");
        let other = ModelRun {
            group: "iommu@1",
            ..RUN
        };
        assert_eq!(check(&other, &ktap::parse(OK).unwrap()).len(), 1);
    }

    #[test]
    fn the_runs_name_ignored_tests_that_exist() {
        for r in RUNS {
            // `a::b::f` lives in src/a/b.rs.
            let (module, f) = r.test.rsplit_once("::").unwrap();
            let file = format!("src/{}.rs", module.replace("::", "/"));
            let src = std::fs::read_to_string(process::workspace_root().join(&file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(src.contains(&format!("fn {f}()")), "{f} in {file}");
            assert!(src.contains(ENV), "{ENV} in {file}");
        }
    }
}
