//! KTAP version 1 writer (Linux Documentation/dev-tools/ktap.rst), in the
//! nesting style KUnit prints: each group is a subtest indented by four
//! spaces with its own version line, `# Subtest:` header and plan.
#![forbid(unsafe_code)]

use core::fmt::{self, Write};

/// Result of one test line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// `ok`.
    Pass,
    /// `not ok`.
    Fail,
    /// `ok ... # SKIP reason`.
    Skip(&'a str),
}

/// Writes KTAP to any [`fmt::Write`] sink.
pub struct KtapWriter<W: Write> {
    out: W,
    depth: usize,
}

impl<W: Write> KtapWriter<W> {
    /// A writer at the top level.
    pub fn new(out: W) -> Self {
        Self { out, depth: 0 }
    }

    /// Gives the sink back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn indent(&mut self) -> fmt::Result {
        for _ in 0..self.depth {
            self.out.write_str("    ")?;
        }
        Ok(())
    }

    /// `KTAP version 1` and the plan `1..n` at the top level.
    pub fn start(&mut self, planned: usize) -> fmt::Result {
        self.indent()?;
        writeln!(self.out, "KTAP version 1")?;
        self.indent()?;
        writeln!(self.out, "1..{planned}")
    }

    /// Opens a subtest: version, `# Subtest: name`, plan; later lines are nested.
    pub fn begin_subtest(&mut self, name: &str, planned: usize) -> fmt::Result {
        self.depth += 1;
        self.indent()?;
        writeln!(self.out, "KTAP version 1")?;
        self.indent()?;
        writeln!(self.out, "# Subtest: {}", clean(name))?;
        self.indent()?;
        writeln!(self.out, "1..{planned}")
    }

    /// Closes the current subtest with its own result line at the parent level.
    pub fn end_subtest(&mut self, number: usize, name: &str, status: Status<'_>) -> fmt::Result {
        self.depth = self.depth.saturating_sub(1);
        self.result(number, name, status)
    }

    /// A result line.
    pub fn result(&mut self, number: usize, name: &str, status: Status<'_>) -> fmt::Result {
        self.indent()?;
        match status {
            Status::Pass => writeln!(self.out, "ok {number} {}", clean(name)),
            Status::Fail => writeln!(self.out, "not ok {number} {}", clean(name)),
            Status::Skip(reason) => {
                writeln!(
                    self.out,
                    "ok {number} {} # SKIP {}",
                    clean(name),
                    OneLine(reason)
                )
            }
        }
    }

    /// A diagnostic line (`# text`); embedded newlines become separate lines.
    pub fn diag(&mut self, text: &str) -> fmt::Result {
        for line in text.split('\n') {
            self.indent()?;
            writeln!(self.out, "# {}", line.trim_end_matches('\r'))?;
        }
        Ok(())
    }

    /// [`Self::diag`] for formatted text, without building a string first
    /// (the early-failure path runs before there is a heap).
    pub fn diag_args(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.indent()?;
        self.out.write_str("# ")?;
        let mut lines = DiagLines {
            out: &mut self.out,
            depth: self.depth,
        };
        lines.write_fmt(args)?;
        self.out.write_str("\n")
    }

    /// The closing totals line, as KUnit prints it.
    pub fn totals(&mut self, pass: usize, fail: usize, skip: usize) -> fmt::Result {
        self.indent()?;
        writeln!(
            self.out,
            "# Totals: pass:{pass} fail:{fail} skip:{skip} total:{}",
            pass + fail + skip
        )
    }
}

/// Continues a diagnostic: each newline starts a new `# ` line at the
/// same indentation; `\r` is dropped.
struct DiagLines<'w, W: Write> {
    out: &'w mut W,
    depth: usize,
}

impl<W: Write> Write for DiagLines<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, piece) in s.split('\n').enumerate() {
            if i > 0 {
                self.out.write_str("\n")?;
                for _ in 0..self.depth {
                    self.out.write_str("    ")?;
                }
                self.out.write_str("# ")?;
            }
            for part in piece.split('\r') {
                self.out.write_str(part)?;
            }
        }
        Ok(())
    }
}

/// A test name cannot contain `#` or a newline without breaking the format.
fn clean(name: &str) -> OneLine<'_> {
    OneLine(name)
}

/// Displays a string on one line, with `#` replaced so it cannot start a directive.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(match c {
                '\n' | '\r' => ' ',
                '#' => '_',
                c => c,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn nested_output_matches_kunit_layout() {
        let mut k = KtapWriter::new(String::new());
        k.start(1).unwrap();
        k.begin_subtest("platform", 2).unwrap();
        k.diag("loaded at 0x40200000").unwrap();
        k.result(1, "boot_entry_el", Status::Pass).unwrap();
        k.result(2, "dt#console", Status::Skip("no UART\nat all"))
            .unwrap();
        k.end_subtest(1, "platform", Status::Pass).unwrap();
        k.totals(1, 0, 1).unwrap();
        assert_eq!(
            k.into_inner(),
            "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: platform\n    1..2\n    \
             # loaded at 0x40200000\n    ok 1 boot_entry_el\n    ok 2 dt_console # SKIP no UART at all\n\
             ok 1 platform\n# Totals: pass:1 fail:0 skip:1 total:2\n"
        );
    }

    #[test]
    fn formatted_diagnostics_keep_every_line_a_diagnostic() {
        let mut k = KtapWriter::new(String::new());
        k.begin_subtest("platform", 1).unwrap();
        k.diag_args(format_args!("need {} KiB\r\nhave {}", 4096, 3072))
            .unwrap();
        assert_eq!(
            k.into_inner(),
            "    KTAP version 1\n    # Subtest: platform\n    1..1\n    # need 4096 KiB\n    # have 3072\n"
        );
    }
}
