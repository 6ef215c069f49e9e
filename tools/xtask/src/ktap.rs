//! KTAP version 1 parser and validator for the image's console output.
//!
//! The image prints KUnit-style KTAP (Linux `Documentation/dev-tools/ktap.rst`):
//! a `KTAP version 1` line, a plan `1..N`, then results `ok N name` /
//! `not ok N name` with an optional ` # SKIP reason` directive.  Subtests are
//! nested by four spaces of indentation and open with their own version line,
//! an optional `# Subtest: name` and their own plan; the parent's result line
//! for a subtest follows its children at the parent's indentation.  Diagnostic
//! lines start with `# ` and belong to the next result at the same level (the
//! image prints evidence before the verdict).  The stream closes with
//! `# Totals: pass:P fail:F skip:S total:T` at the top level.
//!
//! Anything before the first top-level `KTAP version 1` is boot chatter and is
//! kept aside.  Lines are accepted with `\r\n` or stray `\r` endings.
//!
//! Validation is strict about structure (version, plans, numbering, nesting,
//! parent/child consistency, totals) and lenient about text it does not know
//! (kept as diagnostics), so a failure is always reported with the line number
//! and the rule it broke, never as a panic.

use std::fmt;

/// The verdict of one test line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `ok` without a SKIP directive.
    Pass,
    /// `not ok` without a SKIP directive.
    Fail,
    /// Any result carrying `# SKIP`, with the reason (possibly empty).
    Skip(String),
}

/// A node of the result tree: a leaf case or a subtest with children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The test number on its result line.
    pub number: usize,
    /// The name on its result line.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// Diagnostic lines printed before the result line at this level (without `# `).
    pub diagnostics: Vec<String>,
    /// Children (empty for a leaf case).
    pub children: Vec<Node>,
}

/// One leaf case, flattened from the tree for reports and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// Names of the enclosing subtests joined with `.` (`platform`), or `ktap`
    /// for a case at the top level.
    pub group: String,
    /// The case name.
    pub case: String,
    /// The verdict.
    pub status: Status,
    /// The evidence printed before the verdict.
    pub diagnostics: Vec<String>,
}

impl CaseResult {
    /// `group.case`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.group, self.case)
    }
}

/// The `# Totals:` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Passed cases.
    pub pass: usize,
    /// Failed cases.
    pub fail: usize,
    /// Skipped cases.
    pub skip: usize,
    /// Declared total.
    pub total: usize,
}

/// A complete, validated KTAP report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Lines before `KTAP version 1`.
    pub preamble: Vec<String>,
    /// Top-level results.
    pub tests: Vec<Node>,
    /// Diagnostics at the top level not followed by any result (e.g. after Totals).
    pub trailing: Vec<String>,
    /// The validated totals line.
    pub totals: Totals,
}

impl Report {
    /// Every leaf case in order.
    pub fn cases(&self) -> Vec<CaseResult> {
        let mut out = Vec::new();
        for n in &self.tests {
            flatten(n, &mut Vec::new(), &mut out);
        }
        out
    }

    /// Leaf cases that failed.
    pub fn failed(&self) -> Vec<CaseResult> {
        self.cases()
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .collect()
    }

    /// Every diagnostic line anywhere in the report (preamble excluded).
    pub fn all_diagnostics(&self) -> Vec<&str> {
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
            out.extend(n.diagnostics.iter().map(String::as_str));
            for c in &n.children {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        for n in &self.tests {
            walk(n, &mut out);
        }
        out.extend(self.trailing.iter().map(String::as_str));
        out
    }
}

fn flatten(n: &Node, path: &mut Vec<String>, out: &mut Vec<CaseResult>) {
    if n.children.is_empty() {
        out.push(CaseResult {
            group: if path.is_empty() {
                "ktap".to_string()
            } else {
                path.join(".")
            },
            case: n.name.clone(),
            status: n.status.clone(),
            diagnostics: n.diagnostics.clone(),
        });
    } else {
        path.push(n.name.clone());
        for c in &n.children {
            flatten(c, path, out);
        }
        path.pop();
    }
}

/// What was wrong with the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No top-level `KTAP version 1` line at all.
    NoKtap,
    /// A version line other than `KTAP version 1`.
    UnsupportedVersion(String),
    /// A structural line indented by a number of spaces that is not a multiple of four.
    BadIndent(usize),
    /// A line at a nesting level that does not fit the current structure.
    UnexpectedNesting {
        /// What the line was.
        line: String,
        /// Its nesting level.
        level: usize,
        /// The level currently open.
        open: usize,
    },
    /// A second plan for the same (sub)test.
    DuplicatePlan(String),
    /// A plan after results of the same level.
    LatePlan(String),
    /// A line starting with `1..` that is not a plan.
    MalformedPlan(String),
    /// A line starting with `ok`/`not ok` that is not a result.
    MalformedResult(String),
    /// A (sub)test has no plan.
    MissingPlan(String),
    /// Results were numbered out of sequence.
    Numbering {
        /// The (sub)test.
        subtest: String,
        /// The number due.
        expected: usize,
        /// The number printed.
        found: usize,
    },
    /// More or fewer results than planned.
    PlanMismatch {
        /// The (sub)test.
        subtest: String,
        /// The plan.
        planned: usize,
        /// Results seen.
        seen: usize,
    },
    /// The result line of a subtest names a different test than its `# Subtest:` header.
    SubtestName {
        /// From `# Subtest:`.
        header: String,
        /// From the result line.
        result: String,
    },
    /// A subtest's verdict disagrees with its children's.
    ParentInconsistent {
        /// The subtest.
        subtest: String,
        /// Its verdict.
        status: &'static str,
        /// How many children failed.
        failed_children: usize,
    },
    /// `Bail out!` was printed.
    BailOut {
        /// The reason after `Bail out!`.
        reason: String,
        /// The last diagnostics before it (fatal exception dump, panic message).
        context: Vec<String>,
    },
    /// The stream ended before the structure was complete.
    Incomplete {
        /// The innermost open (sub)test.
        subtest: String,
        /// Results seen in it.
        seen: usize,
        /// Its plan, if known.
        planned: Option<usize>,
    },
    /// No `# Totals:` line at the top level.
    MissingTotals,
    /// More than one top-level `# Totals:` line.
    DuplicateTotals,
    /// A `# Totals:` line that does not parse.
    MalformedTotals(String),
    /// A totals field disagrees with the counted cases.
    TotalsMismatch {
        /// `pass`, `fail`, `skip` or `total`.
        field: &'static str,
        /// Printed value.
        declared: usize,
        /// Counted value.
        counted: usize,
    },
}

/// A parse/validation error with the 1-based line number it refers to
/// (0 when it concerns the stream as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Line number in the console output (1-based), 0 for end of stream.
    pub line: usize,
    /// What was wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "KTAP: at end of output: ")?;
        } else {
            write!(f, "KTAP line {}: ", self.line)?;
        }
        match &self.kind {
            ErrorKind::NoKtap => write!(f, "no `KTAP version 1` line in the output"),
            ErrorKind::UnsupportedVersion(v) => {
                write!(f, "unsupported version line `{v}` (want `KTAP version 1`)")
            }
            ErrorKind::BadIndent(n) => {
                write!(f, "indentation of {n} spaces is not a multiple of 4")
            }
            ErrorKind::UnexpectedNesting { line, level, open } => write!(
                f,
                "`{line}` at nesting level {level} but level {open} is open"
            ),
            ErrorKind::DuplicatePlan(s) => write!(f, "second plan line in `{s}`"),
            ErrorKind::LatePlan(s) => write!(f, "plan line after results in `{s}`"),
            ErrorKind::MalformedPlan(l) => write!(f, "malformed plan line `{l}`"),
            ErrorKind::MalformedResult(l) => write!(f, "malformed result line `{l}`"),
            ErrorKind::MissingPlan(s) => write!(f, "`{s}` has no plan line"),
            ErrorKind::Numbering {
                subtest,
                expected,
                found,
            } => write!(
                f,
                "in `{subtest}` test number {found} where {expected} was due"
            ),
            ErrorKind::PlanMismatch {
                subtest,
                planned,
                seen,
            } => write!(f, "`{subtest}` planned {planned} tests but reported {seen}"),
            ErrorKind::SubtestName { header, result } => write!(
                f,
                "subtest header says `{header}` but its result line says `{result}`"
            ),
            ErrorKind::ParentInconsistent {
                subtest,
                status,
                failed_children,
            } => write!(
                f,
                "subtest `{subtest}` is `{status}` but {failed_children} of its cases failed"
            ),
            ErrorKind::BailOut { reason, context } => {
                write!(f, "Bail out! {reason}")?;
                for c in context {
                    write!(f, "\n    # {c}")?;
                }
                Ok(())
            }
            ErrorKind::Incomplete {
                subtest,
                seen,
                planned,
            } => match planned {
                Some(p) => write!(
                    f,
                    "output ended inside `{subtest}` after {seen} of {p} results"
                ),
                None => write!(
                    f,
                    "output ended inside `{subtest}` after {seen} results, before its plan"
                ),
            },
            ErrorKind::MissingTotals => write!(f, "no `# Totals:` line at the top level"),
            ErrorKind::DuplicateTotals => write!(f, "more than one top-level `# Totals:` line"),
            ErrorKind::MalformedTotals(l) => write!(f, "malformed totals line `{l}`"),
            ErrorKind::TotalsMismatch {
                field,
                declared,
                counted,
            } => write!(
                f,
                "Totals says {field}:{declared} but the results count {counted}"
            ),
        }
    }
}

impl std::error::Error for Error {}

const ROOT: &str = "(top level)";

/// An open (sub)test while parsing.
struct Frame {
    level: usize,
    header: Option<String>,
    plan: Option<usize>,
    children: Vec<Node>,
    pending: Vec<String>,
}

impl Frame {
    fn new(level: usize) -> Self {
        Frame {
            level,
            header: None,
            plan: None,
            children: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn label(&self) -> String {
        match (&self.header, self.level) {
            (_, 0) => ROOT.to_string(),
            (Some(h), _) => h.clone(),
            (None, l) => format!("subtest at level {l}"),
        }
    }
}

/// A classified line.
enum Line<'a> {
    Version(&'a str),
    Subtest(&'a str),
    Plan(usize),
    Result {
        ok: bool,
        number: usize,
        name: String,
        skip: Option<String>,
        directive: Option<String>,
    },
    Totals(Totals),
    Diag(&'a str),
    BailOut(&'a str),
    Blank,
    Other(&'a str),
}

fn classify(text: &str) -> Result<Line<'_>, ErrorKind> {
    if text.is_empty() {
        return Ok(Line::Blank);
    }
    if text.starts_with("KTAP version") || text.starts_with("TAP version") {
        return Ok(Line::Version(text));
    }
    if let Some(r) = text.strip_prefix("Bail out!") {
        return Ok(Line::BailOut(r.trim()));
    }
    if let Some(rest) = text.strip_prefix('#') {
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        if let Some(name) = rest.strip_prefix("Subtest:") {
            return Ok(Line::Subtest(name.trim()));
        }
        if let Some(t) = rest.strip_prefix("Totals:") {
            return parse_totals(t)
                .map(Line::Totals)
                .ok_or_else(|| ErrorKind::MalformedTotals(text.to_string()));
        }
        return Ok(Line::Diag(rest));
    }
    if let Some(p) = text.strip_prefix("1..") {
        return p
            .trim()
            .parse()
            .map(Line::Plan)
            .map_err(|_| ErrorKind::MalformedPlan(text.to_string()));
    }
    let (ok, rest) = if let Some(r) = text.strip_prefix("not ok") {
        (false, r)
    } else if let Some(r) = text.strip_prefix("ok") {
        (true, r)
    } else {
        return Ok(Line::Other(text));
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        // e.g. "okay": not a result line.
        return Ok(Line::Other(text));
    }
    let bad = || ErrorKind::MalformedResult(text.to_string());
    let rest = rest.trim_start();
    let (num, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let number: usize = num.parse().map_err(|_| bad())?;
    let tail = tail
        .trim_start()
        .strip_prefix("- ")
        .unwrap_or(tail.trim_start());
    let (name, directive) = match tail.find(" #") {
        Some(i) => (&tail[..i], Some(tail[i + 2..].trim())),
        None if tail.starts_with('#') => ("", Some(tail[1..].trim())),
        None => (tail, None),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad());
    }
    let mut skip = None;
    let mut other = None;
    if let Some(d) = directive {
        if d.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("SKIP")) {
            skip = Some(d.get(4..).unwrap_or("").trim().to_string());
        } else {
            other = Some(d.to_string());
        }
    }
    Ok(Line::Result {
        ok,
        number,
        name: name.to_string(),
        skip,
        directive: other,
    })
}

fn parse_totals(t: &str) -> Option<Totals> {
    let mut out = Totals::default();
    let mut seen = [false; 4];
    for word in t.split_whitespace() {
        let (k, v) = word.split_once(':')?;
        let v: usize = v.parse().ok()?;
        let i = match k {
            "pass" => {
                out.pass = v;
                0
            }
            "fail" => {
                out.fail = v;
                1
            }
            "skip" => {
                out.skip = v;
                2
            }
            "total" => {
                out.total = v;
                3
            }
            _ => return None,
        };
        seen[i] = true;
    }
    seen.iter().all(|s| *s).then_some(out)
}

/// Parses and validates console output that contains one KTAP v1 stream.
pub fn parse(output: &str) -> Result<Report, Error> {
    let mut preamble = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut tests: Option<Vec<Node>> = None;
    let mut trailing = Vec::new();
    let mut totals: Option<Totals> = None;
    let mut recent: Vec<String> = Vec::new();

    for (idx, raw) in output.split('\n').enumerate() {
        let lineno = idx + 1;
        let err = |kind| Error { line: lineno, kind };
        // Robust to "\r\n", stray "\r" and trailing blanks.
        let cleaned: String = raw.chars().filter(|c| *c != '\r').collect();
        let cleaned = cleaned.trim_end();
        let spaces = cleaned.len() - cleaned.trim_start_matches(' ').len();
        let text = cleaned.trim_start();

        if stack.is_empty() && tests.is_none() {
            if spaces == 0 && text.starts_with("KTAP version") {
                if text != "KTAP version 1" {
                    return Err(err(ErrorKind::UnsupportedVersion(text.to_string())));
                }
                stack.push(Frame::new(0));
            } else {
                preamble.push(cleaned.to_string());
            }
            continue;
        }

        let line = classify(text).map_err(err)?;
        match &line {
            Line::Blank => continue,
            Line::Diag(d) | Line::Other(d) => {
                recent.push(d.to_string());
                if recent.len() > 8 {
                    recent.remove(0);
                }
                match stack.last_mut() {
                    Some(top) => top.pending.push(d.to_string()),
                    None => trailing.push(d.to_string()),
                }
                continue;
            }
            Line::BailOut(reason) => {
                return Err(err(ErrorKind::BailOut {
                    reason: reason.to_string(),
                    context: recent,
                }));
            }
            _ => {}
        }
        if !spaces.is_multiple_of(4) {
            return Err(err(ErrorKind::BadIndent(spaces)));
        }
        let level = spaces / 4;
        if let Line::Totals(t) = line {
            if level == 0 {
                if !stack.is_empty() || tests.is_none() {
                    let (subtest, seen, planned) = match stack.last() {
                        Some(f) => (f.label(), f.children.len(), f.plan),
                        None => (ROOT.to_string(), 0, None),
                    };
                    return Err(err(ErrorKind::Incomplete {
                        subtest,
                        seen,
                        planned,
                    }));
                }
                if totals.is_some() {
                    return Err(err(ErrorKind::DuplicateTotals));
                }
                totals = Some(t);
            } else if let Some(top) = stack.last_mut() {
                top.pending
                    .push(text.trim_start_matches('#').trim().to_string());
            }
            continue;
        }
        let Some(open) = stack.last().map(|f| f.level) else {
            // The top level is closed: only diagnostics may follow.
            return Err(err(ErrorKind::UnexpectedNesting {
                line: text.to_string(),
                level,
                open: 0,
            }));
        };
        let nesting = |open| {
            err(ErrorKind::UnexpectedNesting {
                line: text.to_string(),
                level,
                open,
            })
        };
        match line {
            Line::Version(v) => {
                if v != "KTAP version 1" {
                    return Err(err(ErrorKind::UnsupportedVersion(v.to_string())));
                }
                if level != open + 1 {
                    return Err(nesting(open));
                }
                stack.push(Frame::new(level));
            }
            Line::Subtest(name) => {
                if level == open + 1 {
                    // Older KUnit: `# Subtest:` opens the subtest without a version line.
                    stack.push(Frame::new(level));
                } else if level != open || open == 0 {
                    return Err(nesting(open));
                }
                let top = stack.last_mut().ok_or_else(|| nesting(open))?;
                top.header = Some(name.to_string());
            }
            Line::Plan(n) => {
                if level == open + 1 {
                    stack.push(Frame::new(level));
                } else if level != open {
                    return Err(nesting(open));
                }
                let top = stack.last_mut().ok_or_else(|| nesting(open))?;
                if top.plan.is_some() {
                    return Err(err(ErrorKind::DuplicatePlan(top.label())));
                }
                if !top.children.is_empty() {
                    return Err(err(ErrorKind::LatePlan(top.label())));
                }
                top.plan = Some(n);
                if top.level == 0 && n == 0 {
                    // An empty run closes at once.
                    if let Some(root) = stack.pop() {
                        trailing = root.pending;
                        tests = Some(Vec::new());
                    }
                }
            }
            Line::Result {
                ok,
                number,
                name,
                skip,
                directive,
            } => {
                let mut children = Vec::new();
                let mut inner_diags = Vec::new();
                if level + 1 == open {
                    // Closes the open subtest.
                    let done = stack.pop().ok_or_else(|| nesting(open))?;
                    check_plan(&done, lineno)?;
                    if let Some(h) = &done.header {
                        if *h != name {
                            return Err(err(ErrorKind::SubtestName {
                                header: h.clone(),
                                result: name,
                            }));
                        }
                    }
                    inner_diags = done.pending;
                    children = done.children;
                } else if level != open {
                    return Err(nesting(open));
                }
                let status = match (ok, skip) {
                    (_, Some(reason)) => Status::Skip(reason),
                    (true, None) => Status::Pass,
                    (false, None) => Status::Fail,
                };
                if !children.is_empty() {
                    let failed = children.iter().filter(|c| c.status == Status::Fail).count();
                    let consistent = match status {
                        Status::Fail => failed > 0,
                        Status::Pass | Status::Skip(_) => failed == 0,
                    };
                    if !consistent {
                        return Err(err(ErrorKind::ParentInconsistent {
                            subtest: name,
                            status: if ok { "ok" } else { "not ok" },
                            failed_children: failed,
                        }));
                    }
                }
                let top = stack.last_mut().ok_or_else(|| nesting(open))?;
                let expected = top.children.len() + 1;
                if number != expected {
                    return Err(err(ErrorKind::Numbering {
                        subtest: top.label(),
                        expected,
                        found: number,
                    }));
                }
                let mut diagnostics = std::mem::take(&mut top.pending);
                diagnostics.extend(inner_diags);
                if let Some(d) = directive {
                    diagnostics.push(format!("directive: {d}"));
                }
                top.children.push(Node {
                    number,
                    name,
                    status,
                    diagnostics,
                    children,
                });
                // The top level closes when its plan is met.
                if stack.len() == 1 && stack[0].plan == Some(stack[0].children.len()) {
                    if let Some(root) = stack.pop() {
                        trailing = root.pending;
                        tests = Some(root.children);
                    }
                }
            }
            Line::Totals(_) | Line::Diag(_) | Line::Other(_) | Line::BailOut(_) | Line::Blank => {}
        }
    }

    if let Some(top) = stack.last() {
        if top.level == 0 && top.plan.is_none() {
            return Err(Error {
                line: 0,
                kind: ErrorKind::MissingPlan(top.label()),
            });
        }
        return Err(Error {
            line: 0,
            kind: ErrorKind::Incomplete {
                subtest: top.label(),
                seen: top.children.len(),
                planned: top.plan,
            },
        });
    }
    let Some(tests) = tests else {
        return Err(Error {
            line: 0,
            kind: ErrorKind::NoKtap,
        });
    };
    let Some(totals) = totals else {
        return Err(Error {
            line: 0,
            kind: ErrorKind::MissingTotals,
        });
    };
    let report = Report {
        preamble,
        tests,
        trailing,
        totals,
    };
    check_totals(&report)?;
    Ok(report)
}

fn check_plan(f: &Frame, line: usize) -> Result<(), Error> {
    match f.plan {
        None => Err(Error {
            line,
            kind: ErrorKind::MissingPlan(f.label()),
        }),
        Some(p) if p != f.children.len() => Err(Error {
            line,
            kind: ErrorKind::PlanMismatch {
                subtest: f.label(),
                planned: p,
                seen: f.children.len(),
            },
        }),
        Some(_) => Ok(()),
    }
}

fn check_totals(r: &Report) -> Result<(), Error> {
    let cases = r.cases();
    let count = |want: fn(&Status) -> bool| cases.iter().filter(|c| want(&c.status)).count();
    let checks = [
        ("pass", r.totals.pass, count(|s| *s == Status::Pass)),
        ("fail", r.totals.fail, count(|s| *s == Status::Fail)),
        (
            "skip",
            r.totals.skip,
            count(|s| matches!(s, Status::Skip(_))),
        ),
        ("total", r.totals.total, cases.len()),
    ];
    for (field, declared, counted) in checks {
        if declared != counted {
            return Err(Error {
                line: 0,
                kind: ErrorKind::TotalsMismatch {
                    field,
                    declared,
                    counted,
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from the image booted under QEMU 10.0.2 (EL1, smmuv3 + 2 edu);
    /// the console ends lines with `\r\n` (see [`good`]).
    const GOOD_LF: &str = r#"
iommu-bringup 0.1.0 on "linux,dummy-virt" (linux,dummy-virt), console pl011
KTAP version 1
1..1
    KTAP version 1
    # Subtest: platform
    1..6
    # entered at EL1, running at EL1
    ok 1 boot_entry_el
    # image loaded at 0x40200000, image_size 0x67000, 113 relocations
    ok 2 relocation_applied
    # memory [0x40000000..0x50000000) (256 MiB)
    ok 3 dt_memory
    # console pl011@9000000 (arm,pl011) at 0x9000000
    ok 4 dt_console
    # SCTLR_EL1 0xc5183d, 3 table pages
    ok 5 mmu_identity_map
    ok 6 heap_and_dma_pool
ok 1 platform
# Totals: pass:6 fail:0 skip:0 total:6
# iommu-bringup: exit status 0 (all passed) via semihosting SYS_EXIT
"#;

    fn good() -> String {
        GOOD_LF.replace('\n', "\r\n")
    }

    const MIXED: &str = r#"boot chatter
KTAP version 1
1..1
    KTAP version 1
    # Subtest: platform
    1..3
    ok 1 boot_entry_el
    # some diagnostic
    not ok 2 relocation_applied
    ok 3 dt_memory # SKIP reason here
not ok 1 platform
# Totals: pass:1 fail:1 skip:1 total:3
"#;

    fn kind(s: &str) -> ErrorKind {
        match parse(s) {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => {
                // Display never panics and names the problem.
                assert!(!e.to_string().is_empty());
                e.kind
            }
        }
    }

    #[test]
    fn parses_captured_image_output() {
        let r = parse(&good()).expect("good sample");
        assert_eq!(r.preamble.len(), 2);
        let cases = r.cases();
        assert_eq!(cases.len(), 6);
        assert!(cases
            .iter()
            .all(|c| c.group == "platform" && c.status == Status::Pass));
        assert_eq!(cases[1].case, "relocation_applied");
        assert_eq!(
            cases[1].diagnostics,
            vec!["image loaded at 0x40200000, image_size 0x67000, 113 relocations"]
        );
        assert_eq!(r.trailing.len(), 1);
        assert_eq!(r.totals.total, 6);
        assert!(r.failed().is_empty());
    }

    #[test]
    fn parses_fail_and_skip() {
        let r = parse(MIXED).expect("mixed sample");
        let c = r.cases();
        assert_eq!(c[1].status, Status::Fail);
        assert_eq!(c[1].diagnostics, vec!["some diagnostic"]);
        assert_eq!(c[2].status, Status::Skip("reason here".into()));
        assert_eq!(r.failed()[0].qualified(), "platform.relocation_applied");
        assert_eq!(r.tests[0].status, Status::Fail);
    }

    #[test]
    fn tolerates_lf_only_and_old_kunit_headers() {
        let s = GOOD_LF.to_string();
        assert!(parse(&s).is_ok());
        // Old KUnit: no nested version line, `# Subtest:` opens the subtest.
        let old = "KTAP version 1\n1..1\n    # Subtest: g\n    1..1\n    ok 1 a\nok 1 g\n# Totals: pass:1 fail:0 skip:0 total:1\n";
        assert!(parse(old).is_ok());
    }

    #[test]
    fn several_groups_and_deeper_nesting() {
        let s = r#"KTAP version 1
1..2
    KTAP version 1
    # Subtest: platform
    1..1
    ok 1 boot_entry_el
ok 1 platform
    KTAP version 1
    # Subtest: smmuv3@9050000
    1..2
        KTAP version 1
        # Subtest: granule_4k
        1..1
        # stale translation used after unmap without sync
        not ok 1 unmap_invalidate_blocks_dma
    not ok 1 granule_4k
    ok 2 default_deny # SKIP no unattached master
not ok 2 smmuv3@9050000
# Totals: pass:1 fail:1 skip:1 total:3
"#;
        let r = parse(s).expect("nested sample");
        let c = r.cases();
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[1].qualified(),
            "smmuv3@9050000.granule_4k.unmap_invalidate_blocks_dma"
        );
        assert_eq!(
            c[1].diagnostics,
            vec!["stale translation used after unmap without sync"]
        );
        assert_eq!(c[2].group, "smmuv3@9050000");
        let bad = s.replace("ok 1 platform", "ok 2 platform");
        assert!(matches!(
            kind(&bad),
            ErrorKind::Numbering {
                expected: 1,
                found: 2,
                ..
            }
        ));
    }

    #[test]
    fn all_skipped_group_may_be_skip() {
        let s = "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 a # SKIP no cache\nok 1 g # SKIP every case skipped\n# Totals: pass:0 fail:0 skip:1 total:1\n";
        let r = parse(s).expect("all skipped");
        assert_eq!(r.cases()[0].status, Status::Skip("no cache".into()));
    }

    #[test]
    fn rejects_missing_version() {
        assert_eq!(kind("1..1\nok 1 a\n"), ErrorKind::NoKtap);
        assert_eq!(kind(""), ErrorKind::NoKtap);
        assert!(matches!(
            kind("KTAP version 2\n1..0\n"),
            ErrorKind::UnsupportedVersion(_)
        ));
    }

    #[test]
    fn rejects_plan_mismatch() {
        let s = good().replace("1..6", "1..7");
        assert!(matches!(
            kind(&s),
            ErrorKind::PlanMismatch {
                planned: 7,
                seen: 6,
                ..
            }
        ));
    }

    #[test]
    fn rejects_missing_plan() {
        let s = good().replace("    1..6\r\n", "");
        assert!(matches!(kind(&s), ErrorKind::MissingPlan(_)));
    }

    #[test]
    fn rejects_bad_numbering() {
        let s = good().replace("ok 3 dt_memory", "ok 4 dt_memory");
        assert!(matches!(
            kind(&s),
            ErrorKind::Numbering {
                expected: 3,
                found: 4,
                ..
            }
        ));
    }

    #[test]
    fn rejects_inconsistent_parent() {
        let s = MIXED.replace("not ok 1 platform", "ok 1 platform");
        assert!(matches!(
            kind(&s),
            ErrorKind::ParentInconsistent {
                failed_children: 1,
                ..
            }
        ));
        let s = good().replace("ok 1 platform", "not ok 1 platform");
        assert!(matches!(kind(&s), ErrorKind::ParentInconsistent { .. }));
    }

    #[test]
    fn rejects_truncated_stream() {
        let g = good();
        let cut = &g[..g.find("    ok 5").unwrap_or(0)];
        assert!(matches!(
            kind(cut),
            ErrorKind::Incomplete {
                seen: 4,
                planned: Some(6),
                ..
            }
        ));
        let no_totals = &g[..g.find("# Totals").unwrap_or(0)];
        assert_eq!(kind(no_totals), ErrorKind::MissingTotals);
    }

    #[test]
    fn rejects_wrong_totals() {
        let s = good().replace("pass:6", "pass:5");
        assert!(matches!(
            kind(&s),
            ErrorKind::TotalsMismatch { field: "pass", .. }
        ));
        let s = good().replace("total:6", "total:60");
        assert!(matches!(
            kind(&s),
            ErrorKind::TotalsMismatch { field: "total", .. }
        ));
        let s = good().replace("skip:0", "skip:x");
        assert!(matches!(kind(&s), ErrorKind::MalformedTotals(_)));
    }

    #[test]
    fn reports_bail_out_with_context() {
        let s = "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 a\n# FATAL: ESR_EL1 0x96000045 (data abort)\nBail out! unexpected exception\n";
        match kind(s) {
            ErrorKind::BailOut { reason, context } => {
                assert_eq!(reason, "unexpected exception");
                assert!(context.iter().any(|c| c.contains("ESR_EL1")));
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn rejects_malformed_lines() {
        let s = good().replace("ok 2 relocation_applied", "ok two relocation_applied");
        assert!(matches!(kind(&s), ErrorKind::MalformedResult(_)));
        let s = good().replace("ok 2 relocation_applied", "ok 2");
        assert!(matches!(kind(&s), ErrorKind::MalformedResult(_)));
        let s = good().replace("    ok 2 relocation_applied", "   ok 2 relocation_applied");
        assert_eq!(kind(&s), ErrorKind::BadIndent(3));
        let s = good().replace("1..6", "1..six");
        assert!(matches!(kind(&s), ErrorKind::MalformedPlan(_)));
        let s = good().replace("ok 1 platform", "ok 1 platfrm");
        assert!(matches!(kind(&s), ErrorKind::SubtestName { .. }));
        let s = good().replace("    1..6\r\n", "    1..6\r\n    1..6\r\n");
        assert!(matches!(kind(&s), ErrorKind::DuplicatePlan(_)));
    }

    #[test]
    fn rejects_results_after_the_end() {
        let s = format!("{}ok 2 extra\n", good());
        assert!(matches!(kind(&s), ErrorKind::UnexpectedNesting { .. }));
        let s = format!("{}# Totals: pass:6 fail:0 skip:0 total:6\n", good());
        assert_eq!(kind(&s), ErrorKind::DuplicateTotals);
    }

    #[test]
    fn mutated_samples_never_panic() {
        // Deterministic xorshift mutations of the good sample: replace, delete
        // and insert characters, including multi-byte ones.
        let base: Vec<char> = good().chars().collect();
        let alphabet = [
            ' ', '\n', '\r', '#', '1', '.', 'o', 'k', 'é', '\u{2028}', 'S', '\u{0}',
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut v = base.clone();
            for _ in 0..1 + next(4) {
                let i = next(v.len());
                let c = alphabet[next(alphabet.len())];
                match next(3) {
                    0 => v[i] = c,
                    1 => {
                        v.remove(i);
                    }
                    _ => v.insert(i, c),
                }
            }
            let s: String = v.into_iter().collect();
            let _ = parse(&s);
        }
        let r =
            parse("KTAP version 1\n1..1\nok 1 a # SKé\n# Totals: pass:1 fail:0 skip:0 total:1\n");
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "KTAP version 1\n\u{0}\u{7f}\n",
            "KTAP version 1\n1..\n",
            "KTAP version 1\n        ok 1 deep\n",
            "KTAP version 1\nnot ok\n",
            "KTAP version 1\n1..1\nok 1 a #\n# Totals: pass:1 fail:0 skip:0 total:1\n",
            "KTAP version 1\n1..99999999999999999999999\n",
            "\r\r\r\nKTAP version 1\r\r\n1..0\r\n# Totals: pass:0 fail:0 skip:0 total:0",
            "KTAP version 1\n# Subtest: x\n",
            "KTAP version 1\n1..1\n    ok 1 orphan\n",
        ];
        for s in samples {
            let _ = parse(s);
        }
    }
}
