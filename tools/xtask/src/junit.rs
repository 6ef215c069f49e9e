//! JUnit XML reports for lab CI: one `<testsuite>` per KTAP group (prefixed by
//! the scenario name under `cargo xtask test`), one `<testcase>` per case,
//! `<failure>` carrying the case's diagnostics, `<skipped>` with the reason.
//! Runs that produced no usable KTAP become a failing testcase of their own.

use crate::ktap::{CaseResult, Status};
use std::fmt::Write;
use std::time::Duration;

/// One `<testsuite>`.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Suite name (`el1.platform`, `xtask`, ...).
    pub name: String,
    /// Wall time of the run it came from.
    pub time: Duration,
    /// Its cases.
    pub cases: Vec<Case>,
}

/// One `<testcase>`.
#[derive(Clone, Debug)]
pub struct Case {
    /// Case name.
    pub name: String,
    /// Class name (dotted path of the suite).
    pub classname: String,
    /// Outcome.
    pub status: Status,
    /// Evidence lines.
    pub diagnostics: Vec<String>,
    /// Failure message when it failed for a reason outside the case's own verdict.
    pub message: Option<String>,
}

/// Groups flattened KTAP cases into suites named `prefix.group`
/// (or just `group` when `prefix` is empty).
pub fn suites_from_cases(prefix: &str, cases: &[CaseResult], time: Duration) -> Vec<Suite> {
    let mut suites: Vec<Suite> = Vec::new();
    for c in cases {
        let name = if prefix.is_empty() {
            c.group.clone()
        } else {
            format!("{prefix}.{}", c.group)
        };
        let case = Case {
            name: c.case.clone(),
            classname: format!("iommu-bringup.{name}"),
            status: c.status.clone(),
            diagnostics: c.diagnostics.clone(),
            message: None,
        };
        match suites.iter_mut().find(|s| s.name == name) {
            Some(s) => s.cases.push(case),
            None => suites.push(Suite {
                name,
                time,
                cases: vec![case],
            }),
        }
    }
    suites
}

/// Renders the whole report.
pub fn render(suites: &[Suite]) -> String {
    let count = |f: fn(&Status) -> bool| -> usize {
        suites
            .iter()
            .flat_map(|s| &s.cases)
            .filter(|c| f(&c.status))
            .count()
    };
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"iommu-bringup\" tests=\"{tests}\" failures=\"{}\" skipped=\"{}\" errors=\"0\">",
        count(|s| *s == Status::Fail),
        count(|s| matches!(s, Status::Skip(_)))
    );
    for s in suites {
        let failures = s.cases.iter().filter(|c| c.status == Status::Fail).count();
        let skipped = s
            .cases
            .iter()
            .filter(|c| matches!(c.status, Status::Skip(_)))
            .count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" errors=\"0\" time=\"{:.3}\">",
            escape_attr(&s.name),
            s.cases.len(),
            s.time.as_secs_f64()
        );
        for c in &s.cases {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}\"",
                escape_attr(&c.name),
                escape_attr(&c.classname)
            );
            let text = c.diagnostics.join("\n");
            match &c.status {
                Status::Pass if text.is_empty() => x.push_str("/>\n"),
                Status::Pass => {
                    let _ = writeln!(
                        x,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&text)
                    );
                }
                Status::Fail => {
                    let msg = c.message.clone().unwrap_or_else(|| "not ok".to_string());
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape_attr(&msg),
                        escape(&text)
                    );
                }
                Status::Skip(reason) => {
                    let _ = writeln!(
                        x,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape_attr(reason)
                    );
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Escapes an attribute value: like [`escape`], and line breaks and tabs as
/// character references so parsers do not normalise them to spaces.
pub fn escape_attr(s: &str) -> String {
    escape(s).replace('\n', "&#10;").replace('\t', "&#9;")
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot
/// carry at all (most C0 controls) become `\u{..}` text.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' => o.push(c),
            '\r' => o.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(group: &str, name: &str, status: Status, diags: &[&str]) -> CaseResult {
        CaseResult {
            group: group.into(),
            case: name.into(),
            status,
            diagnostics: diags.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1}\r"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;\\u{1}&#13;"
        );
        assert_eq!(escape("ünïcode ok"), "ünïcode ok");
        assert_eq!(escape_attr("a\n\tb<"), "a&#10;&#9;b&lt;");
    }

    #[test]
    fn renders_suites_cases_failures_and_skips() {
        let cases = [
            case("platform", "boot_entry_el", Status::Pass, &[]),
            case(
                "platform",
                "injected_failure",
                Status::Fail,
                &["expected <0x1> & saw 0x2"],
            ),
            case(
                "smmuv3@9050000",
                "unmap_stale_window",
                Status::Skip("no \"cache\"".into()),
                &[],
            ),
        ];
        let suites = suites_from_cases("el1", &cases, Duration::from_millis(1500));
        assert_eq!(suites.len(), 2);
        let x = render(&suites);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"iommu-bringup\" tests=\"3\" failures=\"1\" skipped=\"1\""));
        assert!(x.contains("<testsuite name=\"el1.platform\" tests=\"2\" failures=\"1\" skipped=\"0\" errors=\"0\" time=\"1.500\">"));
        assert!(x.contains(
            "<testcase name=\"boot_entry_el\" classname=\"iommu-bringup.el1.platform\"/>"
        ));
        assert!(
            x.contains("<failure message=\"not ok\">expected &lt;0x1&gt; &amp; saw 0x2</failure>")
        );
        assert!(x.contains("<skipped message=\"no &quot;cache&quot;\"/>"));
        assert!(x.ends_with("</testsuites>\n"));
        // Balanced elements (a cheap well-formedness check without an XML crate).
        assert_eq!(
            x.matches("<testsuite ").count(),
            x.matches("</testsuite>").count()
        );
        let open = x.matches("<testcase ").count();
        let closed = x.matches("</testcase>").count() + x.matches("\"/>\n").count()
            - x.matches("<skipped").count();
        assert_eq!(open, closed);
    }

    #[test]
    fn empty_report_is_valid() {
        assert_eq!(
            render(&[]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"iommu-bringup\" tests=\"0\" failures=\"0\" skipped=\"0\" errors=\"0\">\n</testsuites>\n"
        );
    }
}
