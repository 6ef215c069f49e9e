//! `/chosen/bootargs` options for the image.
//!
//! Options are Linux-style `iommu_bringup.<key>=<value>` words; everything
//! else on the command line (a loader may add its own words) is ignored.
//! Known keys:
//!
//! | key | values | meaning |
//! |---|---|---|
//! | `exit` | `semihosting`, `psci`, `spin` | how the run ends (default: PSCI when the DT has `/psci`, else spin) |
//! | `inject` | comma list: `fail-one`, `skip-sync`, `exception`, `panic` | fault injection for negative controls |
//! | `granule` | `4k`, `16k`, `64k` | stage-1 page size of the IOMMU self-test's page tables (default 4k) |
//!
//! Unknown `iommu_bringup.*` keys and bad values are kept and reported in the
//! KTAP output instead of being silently ignored.
#![forbid(unsafe_code)]

/// Prefix of our options on the kernel-style command line.
pub const PREFIX: &str = "iommu_bringup.";

/// How the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRequest {
    /// Arm semihosting SYS_EXIT with the failure count (QEMU `-semihosting`).
    Semihosting,
    /// PSCI SYSTEM_OFF through the DT's conduit.
    Psci,
    /// Print the final line and wait forever (boards without a power-off path).
    Spin,
}

/// Fault-injection switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inject {
    /// Add a case that always fails: proves a failure reaches the lab.
    pub fail_one: bool,
    /// Drivers withhold their invalidations: the negative control.
    pub skip_sync: bool,
    /// Provoke a data abort after the self-test: proves the vectors report
    /// and end the run as a failure.
    pub exception: bool,
    /// Panic after the self-test: proves a panic ends the run as a failure.
    pub panic: bool,
}

/// Stage-1 granule for the IOMMU self-test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GranuleArg {
    /// 4 KiB pages.
    #[default]
    K4,
    /// 16 KiB pages.
    K16,
    /// 64 KiB pages.
    K64,
}

impl GranuleArg {
    /// Page size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            GranuleArg::K4 => 4 << 10,
            GranuleArg::K16 => 16 << 10,
            GranuleArg::K64 => 64 << 10,
        }
    }
}

/// A word we did not understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadOption<'a> {
    /// The whole word, e.g. `iommu_bringup.exit=maybe`.
    pub word: &'a str,
}

/// Maximum number of bad options remembered for the report.
pub const MAX_BAD: usize = 8;

/// Parsed options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bootargs<'a> {
    /// `iommu_bringup.exit`.
    pub exit: Option<ExitRequest>,
    /// `iommu_bringup.inject`.
    pub inject: Inject,
    /// `iommu_bringup.granule`.
    pub granule: GranuleArg,
    bad: [Option<BadOption<'a>>; MAX_BAD],
    bad_count: usize,
}

impl<'a> Bootargs<'a> {
    /// Parses a command line.  Never fails: bad words are collected.
    pub fn parse(cmdline: &'a str) -> Self {
        let mut args = Bootargs::default();
        for word in cmdline.split_ascii_whitespace() {
            let Some(opt) = word.strip_prefix(PREFIX) else {
                continue;
            };
            let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
            let ok = match key {
                "exit" => match value {
                    "semihosting" => Some(ExitRequest::Semihosting),
                    "psci" => Some(ExitRequest::Psci),
                    "spin" => Some(ExitRequest::Spin),
                    _ => None,
                }
                .map(|e| args.exit = Some(e))
                .is_some(),
                "granule" => match value {
                    "4k" => Some(GranuleArg::K4),
                    "16k" => Some(GranuleArg::K16),
                    "64k" => Some(GranuleArg::K64),
                    _ => None,
                }
                .map(|g| args.granule = g)
                .is_some(),
                "inject" => value.split(',').all(|v| match v {
                    "fail-one" => {
                        args.inject.fail_one = true;
                        true
                    }
                    "skip-sync" => {
                        args.inject.skip_sync = true;
                        true
                    }
                    "exception" => {
                        args.inject.exception = true;
                        true
                    }
                    "panic" => {
                        args.inject.panic = true;
                        true
                    }
                    _ => false,
                }),
                _ => false,
            };
            if !ok {
                args.push_bad(word);
            }
        }
        args
    }

    fn push_bad(&mut self, word: &'a str) {
        if let Some(slot) = self.bad.get_mut(self.bad_count) {
            *slot = Some(BadOption { word });
        }
        self.bad_count += 1;
    }

    /// Words starting with our prefix that were not understood.
    pub fn bad_options(&self) -> impl Iterator<Item = BadOption<'a>> + '_ {
        self.bad.iter().flatten().copied()
    }

    /// How many bad words there were (may exceed what is remembered).
    pub fn bad_count(&self) -> usize {
        self.bad_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_options_and_ignores_others() {
        let a = Bootargs::parse(
            "console=ttyS0 iommu_bringup.exit=semihosting  iommu_bringup.inject=fail-one,skip-sync root=/dev/x",
        );
        assert_eq!(a.exit, Some(ExitRequest::Semihosting));
        assert!(a.inject.fail_one && a.inject.skip_sync);
        assert!(!a.inject.exception && !a.inject.panic);
        let b = Bootargs::parse("iommu_bringup.inject=exception,panic");
        assert!(b.inject.exception && b.inject.panic && !b.inject.fail_one);
        assert_eq!(a.bad_count(), 0);
    }

    #[test]
    fn reports_bad_words() {
        let a = Bootargs::parse(
            "iommu_bringup.exit=maybe iommu_bringup.colour=blue iommu_bringup.inject=everything",
        );
        assert_eq!(a.exit, None);
        let bad: std::vec::Vec<_> = a.bad_options().map(|b| b.word).collect();
        assert_eq!(
            bad,
            [
                "iommu_bringup.exit=maybe",
                "iommu_bringup.colour=blue",
                "iommu_bringup.inject=everything"
            ]
        );
    }

    #[test]
    fn granule_option() {
        assert_eq!(Bootargs::parse("").granule, GranuleArg::K4);
        assert_eq!(
            Bootargs::parse("iommu_bringup.granule=16k").granule.bytes(),
            16384
        );
        assert_eq!(
            Bootargs::parse("iommu_bringup.granule=64k").granule,
            GranuleArg::K64
        );
        assert_eq!(Bootargs::parse("iommu_bringup.granule=8k").bad_count(), 1);
    }

    #[test]
    fn empty_cmdline_is_default() {
        assert_eq!(Bootargs::parse(""), Bootargs::default());
    }

    #[test]
    fn many_bad_words_are_counted_not_overflowed() {
        let s = "iommu_bringup.x ".repeat(20);
        let a = Bootargs::parse(&s);
        assert_eq!(a.bad_count(), 20);
        assert_eq!(a.bad_options().count(), MAX_BAD);
    }
}
