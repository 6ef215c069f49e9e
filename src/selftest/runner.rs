//! Runs groups of cases and reports them as KTAP.
#![forbid(unsafe_code)]

use super::ktap::{KtapWriter, Status};
use super::needs::Need;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// What a case concluded, with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The property held.
    Pass,
    /// The property did not hold.
    Fail,
    /// The case cannot run here; the reason is printed.
    Skip(String),
}

/// A case's result plus the diagnostics it produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The verdict.
    pub outcome: Outcome,
    /// Evidence lines (printed as `# ` diagnostics before the result).
    pub diags: Vec<String>,
}

impl Report {
    /// An empty passing report.
    pub fn new() -> Self {
        Self {
            outcome: Outcome::Pass,
            diags: Vec::new(),
        }
    }

    /// Adds a diagnostic line.
    pub fn note(&mut self, args: core::fmt::Arguments<'_>) {
        let mut s = String::new();
        let _ = s.write_fmt(args);
        self.diags.push(s);
    }

    /// Records a failed check with its evidence; the case keeps running so
    /// every broken property is reported, not only the first.
    pub fn fail(&mut self, args: core::fmt::Arguments<'_>) {
        self.note(args);
        self.outcome = Outcome::Fail;
    }

    /// Checks `cond`; on failure records `args` as the evidence.
    pub fn check(&mut self, cond: bool, args: core::fmt::Arguments<'_>) {
        if !cond {
            self.fail(args);
        }
    }

    /// Marks the case skipped with a reason (unless it already failed).
    pub fn skip(&mut self, reason: &str) {
        if self.outcome != Outcome::Fail {
            self.outcome = Outcome::Skip(reason.into());
        }
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

/// One named case over a context `C`.
pub struct Case<C> {
    /// Stable name (the same on every board and IOMMU).
    pub name: &'static str,
    /// What it needs from the context before it can say anything.
    pub needs: &'static [Need],
    /// The check.
    pub run: fn(&mut C) -> Report,
}

/// A named list of cases: one KTAP subtest.
pub struct Group<C> {
    /// Subtest name (e.g. `platform`, or an IOMMU node name).
    pub name: String,
    /// The cases, in order.
    pub cases: Vec<Case<C>>,
    /// Run after every case with its report, e.g. to fail it on errors the
    /// hardware reported outside the case's own checks.
    pub after_each: Option<fn(&mut C, &mut Report)>,
    /// Says why `ctx` cannot meet a need (`None`: met).  A case with an
    /// unmet need is skipped with that reason without running.  Groups
    /// whose cases declare no needs leave it `None`.
    pub unmet: Option<fn(&C, Need) -> Option<String>>,
}

/// Counts over a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cases that passed.
    pub pass: usize,
    /// Cases that failed.
    pub fail: usize,
    /// Cases skipped.
    pub skip: usize,
    /// Of `pass + fail`, the cases of a group's own catalogue that ran to
    /// a verdict — not a family's hardware checks reported before them
    /// ([`run_group_after`]), not a setup failure.  Boot counts an IOMMU as
    /// tested only when this is non-zero: register checks alone do not
    /// prove what the image exists to prove.
    pub catalogue_ran: usize,
}

impl Totals {
    /// Adds another run's counts.
    pub fn add(&mut self, other: Totals) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.skip += other.skip;
        self.catalogue_ran += other.catalogue_ran;
    }
}

/// Runs case `index` of `group` against `ctx`: skipped with the reason when
/// a need is unmet, otherwise run and followed by the group's `after_each`.
pub fn run_case<C>(group: &Group<C>, index: usize, ctx: &mut C) -> Report {
    let case = &group.cases[index];
    let unmet = group
        .unmet
        .and_then(|why| case.needs.iter().find_map(|&n| why(ctx, n)));
    match unmet {
        Some(reason) => {
            let mut r = Report::new();
            r.skip(&reason);
            r
        }
        None => {
            let mut r = (case.run)(ctx);
            if let Some(after) = group.after_each {
                after(ctx, &mut r);
            }
            r
        }
    }
}

/// Runs every case of `group` against `ctx`, writing the subtest numbered
/// `number` to `k`.  Returns the group's counts.
pub fn run_group<C, W: Write>(
    k: &mut KtapWriter<W>,
    number: usize,
    group: &Group<C>,
    ctx: &mut C,
) -> Totals {
    run_group_after(k, number, &[], group, ctx)
}

/// Writes one case's diagnostics and result line, counting it.
fn report_case<W: Write>(
    k: &mut KtapWriter<W>,
    t: &mut Totals,
    number: usize,
    name: &str,
    report: &Report,
) {
    for d in &report.diags {
        let _ = k.diag(d);
    }
    let status = match &report.outcome {
        Outcome::Pass => {
            t.pass += 1;
            Status::Pass
        }
        Outcome::Fail => {
            t.fail += 1;
            Status::Fail
        }
        Outcome::Skip(r) => {
            t.skip += 1;
            Status::Skip(r)
        }
    };
    let _ = k.result(number, name, status);
}

/// Ends a subtest with the status its counts give.
fn end_group<W: Write>(k: &mut KtapWriter<W>, number: usize, name: &str, t: Totals) {
    let status = if t.fail > 0 {
        Status::Fail
    } else if t.pass == 0 && t.skip > 0 {
        Status::Skip("every case skipped")
    } else {
        Status::Pass
    };
    let _ = k.end_subtest(number, name, status);
}

/// [`run_group`] with `before` — cases already run (a family's hardware
/// checks) — reported first, in the same subtest.
pub fn run_group_after<C, W: Write>(
    k: &mut KtapWriter<W>,
    number: usize,
    before: &[(&str, Report)],
    group: &Group<C>,
    ctx: &mut C,
) -> Totals {
    let mut t = Totals::default();
    let _ = k.begin_subtest(&group.name, before.len() + group.cases.len());
    for (i, (name, report)) in before.iter().enumerate() {
        report_case(k, &mut t, i + 1, name, report);
    }
    for (i, case) in group.cases.iter().enumerate() {
        let report = run_case(group, i, ctx);
        if !matches!(report.outcome, Outcome::Skip(_)) {
            t.catalogue_ran += 1;
        }
        report_case(k, &mut t, before.len() + i + 1, case.name, &report);
    }
    end_group(k, number, &group.name, t);
    t
}

/// A group whose cases cannot run here: `before` (cases already run) and
/// then every case of `cases` as a SKIP with `reason`, in one subtest.
pub fn report_group_skipped<W: Write>(
    k: &mut KtapWriter<W>,
    number: usize,
    name: &str,
    before: &[(&str, Report)],
    cases: &[&str],
    reason: &str,
) -> Totals {
    let mut t = Totals::default();
    let _ = k.begin_subtest(name, before.len() + cases.len());
    for (i, (case, report)) in before.iter().enumerate() {
        report_case(k, &mut t, i + 1, case, report);
    }
    for (i, case) in cases.iter().enumerate() {
        let mut r = Report::new();
        r.skip(reason);
        report_case(k, &mut t, before.len() + i + 1, case, &r);
    }
    end_group(k, number, name, t);
    t
}

/// Reports a group whose setup failed as a subtest with one failing case
/// `setup` carrying the error, so the lab sees it and the exit status counts it.
pub fn report_setup_failure<W: Write>(
    k: &mut KtapWriter<W>,
    number: usize,
    name: &str,
    error: &str,
) -> Totals {
    let _ = k.begin_subtest(name, 1);
    let _ = k.diag(error);
    let _ = k.result(1, "setup", Status::Fail);
    let _ = k.end_subtest(number, name, Status::Fail);
    Totals {
        pass: 0,
        fail: 1,
        skip: 0,
        catalogue_ran: 0,
    }
}

/// Reports a group that cannot run here as a subtest with one skipped case
/// `setup` carrying the reason.
pub fn report_setup_skip<W: Write>(
    k: &mut KtapWriter<W>,
    number: usize,
    name: &str,
    reason: &str,
) -> Totals {
    let _ = k.begin_subtest(name, 1);
    let _ = k.result(1, "setup", Status::Skip(reason));
    let _ = k.end_subtest(number, name, Status::Skip("every case skipped"));
    Totals {
        pass: 0,
        fail: 0,
        skip: 1,
        catalogue_ran: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(_: &mut u32) -> Report {
        Report::new()
    }
    fn fail(n: &mut u32) -> Report {
        let mut r = Report::new();
        r.check(*n == 1, format_args!("expected 1, saw {n}"));
        r
    }
    fn skip(_: &mut u32) -> Report {
        let mut r = Report::new();
        r.skip("not here");
        r
    }

    #[test]
    fn group_counts_and_prints_evidence() {
        let g = Group {
            after_each: None,
            unmet: None,
            name: "g".into(),
            cases: alloc::vec![
                Case {
                    name: "a",
                    needs: &[],
                    run: pass
                },
                Case {
                    name: "b",
                    needs: &[],
                    run: fail
                },
                Case {
                    name: "c",
                    needs: &[],
                    run: skip
                },
            ],
        };
        let mut k = KtapWriter::new(String::new());
        let t = run_group(&mut k, 1, &g, &mut 7);
        assert_eq!(
            t,
            Totals {
                pass: 1,
                fail: 1,
                skip: 1,
                catalogue_ran: 2,
            }
        );
        let out = k.into_inner();
        assert!(
            out.contains("    # expected 1, saw 7\n    not ok 2 b\n"),
            "{out}"
        );
        assert!(out.ends_with("not ok 1 g\n"), "{out}");
    }

    #[test]
    fn cases_run_before_come_first_and_a_skipped_group_skips_every_case() {
        let g = Group {
            after_each: None,
            unmet: None,
            name: "g".into(),
            cases: alloc::vec![Case {
                name: "a",
                needs: &[],
                run: pass
            }],
        };
        let mut checked = Report::new();
        checked.note(format_args!("PARAMS1 0xe000000"));
        let before = [("hw", checked)];
        let mut k = KtapWriter::new(String::new());
        let t = run_group_after(&mut k, 3, &before, &g, &mut 1);
        assert_eq!((t.pass, t.fail, t.skip), (2, 0, 0));
        let out = k.into_inner();
        let want = "    1..2\n    # PARAMS1 0xe000000\n    ok 1 hw\n    ok 2 a\n";
        assert!(out.contains(want), "{out}");
        assert!(out.ends_with("ok 3 g\n"), "{out}");
        let mut k = KtapWriter::new(String::new());
        let t = report_group_skipped(&mut k, 1, "g", &before, &["a", "b"], "no master");
        assert_eq!((t.pass, t.fail, t.skip), (1, 0, 2));
        let out = k.into_inner();
        let want = "    ok 1 hw\n    ok 2 a # SKIP no master\n    ok 3 b # SKIP no master\n";
        assert!(out.contains(want), "{out}");
        assert!(out.ends_with("ok 1 g\n"), "{out}");
        // Nothing ran at all: the group itself is a SKIP.
        let mut k = KtapWriter::new(String::new());
        report_group_skipped(&mut k, 1, "g", &[], &["a"], "locked");
        let out = k.into_inner();
        assert!(out.ends_with("ok 1 g # SKIP every case skipped\n"), "{out}");
    }

    #[test]
    fn skip_does_not_hide_a_failure() {
        let mut r = Report::new();
        r.fail(format_args!("broken"));
        r.skip("later");
        assert_eq!(r.outcome, Outcome::Fail);
    }

    /// Hardware checks reported before a group count in the totals but not
    /// as catalogue cases that ran; a group whose catalogue was skipped
    /// whole ran none, however many checks passed.
    #[test]
    fn hardware_checks_alone_are_not_a_tested_catalogue() {
        let before = [("identify", Report::new()), ("read_back", Report::new())];
        let mut k = KtapWriter::new(String::new());
        let t = report_group_skipped(&mut k, 1, "dart@1", &before, &["a", "b"], "no master");
        assert_eq!(
            t,
            Totals {
                pass: 2,
                fail: 0,
                skip: 2,
                catalogue_ran: 0,
            }
        );
        let g = Group {
            name: "g".into(),
            after_each: None,
            unmet: None,
            cases: vec![Case {
                name: "a",
                needs: &[],
                run: pass,
            }],
        };
        let mut k = KtapWriter::new(String::new());
        let before = [("identify", Report::new())];
        let t = run_group_after(&mut k, 1, &before, &g, &mut 7);
        assert_eq!((t.pass, t.catalogue_ran), (2, 1));
    }
}
