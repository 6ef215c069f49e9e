//! Reporting a failure that ends the run before the self-test can start
//! (the device tree only partly readable, no free RAM for the heap and DMA
//! pool): one failing `platform` case, as a complete KTAP document, written
//! without allocating — it may run with a console and no heap at all.
#![forbid(unsafe_code)]

use super::ktap::{KtapWriter, Status};
use crate::platform::exit::ExitReason;
use core::fmt;

/// The platform case that failed, and why.
pub struct EarlyFailure<'a> {
    /// The failing `platform` case: `dt_discovery`, `heap_and_dma_pool`.
    pub case: &'a str,
    /// Diagnostics naming the cause, one `label: value` line each (an
    /// empty label prints the value alone).
    pub why: &'a [(&'a str, &'a dyn fmt::Display)],
    /// What could not run because of it, as a last diagnostic.
    pub consequence: &'a str,
}

impl EarlyFailure<'_> {
    /// How the run ends: one failed case, so the exit status is 1 — the
    /// same rule as a full run (status = failed cases), which a lab already
    /// reads; the KTAP line names which early step failed.
    pub fn exit_reason(&self) -> ExitReason {
        ExitReason::Finished { failed: 1 }
    }
}

/// Writes the KTAP document of a run that ends early: `KTAP version 1`,
/// plan `1..1`, the `settings` line, the `platform` subtest with the one
/// failing case and its diagnostics, and the totals.
pub fn report<W: fmt::Write>(
    out: W,
    settings: &dyn fmt::Display,
    failure: &EarlyFailure<'_>,
) -> fmt::Result {
    let mut k = KtapWriter::new(out);
    k.start(1)?;
    k.diag_args(format_args!("{settings}"))?;
    k.begin_subtest("platform", 1)?;
    for (label, value) in failure.why {
        if label.is_empty() {
            k.diag_args(format_args!("{value}"))?;
        } else {
            k.diag_args(format_args!("{label}: {value}"))?;
        }
    }
    k.diag(failure.consequence)?;
    k.result(1, failure.case, Status::Fail)?;
    k.end_subtest(1, "platform", Status::Fail)?;
    k.totals(0, 1, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::layout::{self, range};
    use core::fmt::Write;

    /// A console with a fixed buffer and no heap behind it, as on target
    /// before the heap exists.
    struct FakeConsole {
        buf: [u8; 1024],
        len: usize,
    }

    impl Write for FakeConsole {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.buf
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    impl FakeConsole {
        fn text(&self) -> &str {
            core::str::from_utf8(&self.buf[..self.len]).unwrap()
        }
    }

    #[test]
    fn too_little_ram_is_one_failing_platform_case() {
        let plan_error =
            layout::plan(&[range(0x4050_0000, 0x30_0000)], 8 << 20, 32 << 20).unwrap_err();
        let mut console = FakeConsole {
            buf: [0; 1024],
            len: 0,
        };
        let failure = EarlyFailure {
            case: "heap_and_dma_pool",
            why: &[("memory plan", &plan_error)],
            consequence: "no heap and no DMA pool: nothing else can run",
        };
        report(&mut console, &"settings: exit=semihosting", &failure).unwrap();
        let text = console.text();
        assert!(text.starts_with("KTAP version 1\n1..1\n# settings: exit=semihosting\n"));
        assert!(text.contains("    # Subtest: platform\n    1..1\n"));
        assert!(
            text.contains("    # memory plan: heap and DMA pool need 0x400000 bytes (4096 KiB)"),
            "{text}"
        );
        assert!(text.contains(
            "    # no heap and no DMA pool: nothing else can run\n    not ok 1 heap_and_dma_pool\nnot ok 1 platform\n# Totals: pass:0 fail:1 skip:0 total:1\n"
        ));
        assert_eq!(failure.exit_reason().status(), 1);
    }

    #[test]
    fn unlabelled_causes_print_alone() {
        let mut out = std::string::String::new();
        let failure = EarlyFailure {
            case: "dt_discovery",
            why: &[
                ("", &"reserved memory: no ranges"),
                ("/psci", &"bad method"),
            ],
            consequence: "nothing else can run",
        };
        report(&mut out, &"settings", &failure).unwrap();
        assert!(out.contains("    # reserved memory: no ranges\n    # /psci: bad method\n"));
        assert!(out.contains("    not ok 1 dt_discovery\n"));
    }
}
