//! How a run ends: the policy (which mechanism, what status) as plain logic.
//! The mechanisms themselves (semihosting, PSCI) are in `arch`.
#![forbid(unsafe_code)]

use super::bootargs::ExitRequest;
use super::dt::PsciConduit;

/// The mechanism chosen to end the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitMethod {
    /// Semihosting SYS_EXIT: the emulator's exit status is the code.
    Semihosting,
    /// PSCI SYSTEM_OFF through this conduit (the status is only printed).
    Psci(PsciConduit),
    /// No way to power off: print the final line and wait.
    Spin,
}

impl ExitMethod {
    /// A short name for the settings line: `semihosting`, `psci (hvc)`,
    /// `psci (smc)` or `spin`.
    pub fn name(self) -> &'static str {
        match self {
            ExitMethod::Semihosting => "semihosting",
            ExitMethod::Psci(PsciConduit::Hvc) => "psci (hvc)",
            ExitMethod::Psci(PsciConduit::Smc) => "psci (smc)",
            ExitMethod::Spin => "spin",
        }
    }

    /// How the final status line names the method.  For [`ExitMethod::Spin`]
    /// it says plainly that the run is over and the board now waits, so an
    /// operator or a LAVA job knows it can power-cycle it: Apple machines
    /// under m1n1 have no PSCI (CPUs are released by spin-table, docs/hw/board-facts.md
    /// §1.1), and m1n1 offers no power-off call to a payload, so spinning with
    /// this line is the documented end of a run there.
    pub fn describe(self) -> &'static str {
        match self {
            ExitMethod::Semihosting => "semihosting SYS_EXIT",
            ExitMethod::Psci(_) => "PSCI SYSTEM_OFF",
            ExitMethod::Spin => {
                "spinning: no power-off method (no /psci in the DT, e.g. Apple under m1n1); \
                 the run is over, waiting for the operator or a board reset"
            }
        }
    }
}

/// Why the run is ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The self-test finished with this many failed cases.
    Finished {
        /// Failed cases.
        failed: u32,
    },
    /// Everything that ran passed, but no IOMMU case ran at all (no IOMMU
    /// node, none with a driver, none with a master this image drives):
    /// not a pass.
    NothingTested,
    /// A Rust panic.
    Panic,
    /// An allocation failed (a panic from Rust's allocation-error handler;
    /// the `Bail out!` line names the request and the heap state).
    OutOfMemory,
    /// An unexpected CPU exception.
    Exception,
}

impl core::fmt::Display for ExitReason {
    /// What the final console line says after the status.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExitReason::Finished { failed: 0 } => f.write_str("all passed"),
            ExitReason::Finished { failed } => write!(f, "{failed} failed"),
            ExitReason::OutOfMemory => f.write_str("an allocation failed"),
            ExitReason::NothingTested => f.write_str("no IOMMU was tested"),
            ExitReason::Panic => f.write_str("panic"),
            ExitReason::Exception => f.write_str("unexpected exception"),
        }
    }
}

impl ExitReason {
    /// The status reported to the host: the failure count (capped at 250;
    /// a run that ends before the self-test reports one failing platform
    /// case, so 1), 252 when an allocation failed, 253 when no IOMMU was
    /// tested, 254 for an exception, 255 for any other panic — never 0
    /// unless all passed and an IOMMU was tested.  README.md "Exit
    /// statuses" lists them for labs.
    pub fn status(self) -> u32 {
        match self {
            ExitReason::Finished { failed } => failed.min(250),
            ExitReason::OutOfMemory => 252,
            ExitReason::NothingTested => 253,
            ExitReason::Exception => 254,
            ExitReason::Panic => 255,
        }
    }
}

/// Chooses the exit mechanism: an explicit request wins when it is usable;
/// otherwise PSCI when the DT describes it, else spin.
pub fn choose(request: Option<ExitRequest>, psci: Option<PsciConduit>) -> ExitMethod {
    match (request, psci) {
        (Some(ExitRequest::Semihosting), _) => ExitMethod::Semihosting,
        (Some(ExitRequest::Spin), _) => ExitMethod::Spin,
        (Some(ExitRequest::Psci) | None, Some(c)) => ExitMethod::Psci(c),
        (Some(ExitRequest::Psci) | None, None) => ExitMethod::Spin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_never_zero_on_failure() {
        assert_eq!(ExitReason::Finished { failed: 0 }.status(), 0);
        assert_eq!(ExitReason::Finished { failed: 3 }.status(), 3);
        assert_eq!(ExitReason::Finished { failed: 100_000 }.status(), 250);
        assert_ne!(ExitReason::Panic.status(), 0);
        assert_eq!(ExitReason::NothingTested.status(), 253);
        assert_ne!(ExitReason::Exception.status(), 0);
        // Each fatal path has its own status, above any failure count.
        assert_eq!(ExitReason::OutOfMemory.status(), 252);
        assert_eq!(ExitReason::Exception.status(), 254);
        assert_eq!(ExitReason::Panic.status(), 255);
    }

    #[test]
    fn spin_line_tells_the_operator_what_to_do() {
        let d = ExitMethod::Spin.describe();
        assert!(
            d.contains("waiting for the operator or a board reset"),
            "{d}"
        );
        assert!(!d.contains("  "), "continuation whitespace leaked: {d}");
        assert_eq!(
            ExitMethod::Psci(PsciConduit::Smc).describe(),
            "PSCI SYSTEM_OFF"
        );
    }

    #[test]
    fn choice_follows_request_and_dt() {
        assert_eq!(
            choose(None, Some(PsciConduit::Hvc)),
            ExitMethod::Psci(PsciConduit::Hvc)
        );
        assert_eq!(choose(None, None), ExitMethod::Spin);
        assert_eq!(
            choose(Some(ExitRequest::Semihosting), None),
            ExitMethod::Semihosting
        );
        assert_eq!(choose(Some(ExitRequest::Psci), None), ExitMethod::Spin);
        assert_eq!(
            choose(Some(ExitRequest::Spin), Some(PsciConduit::Smc)),
            ExitMethod::Spin
        );
    }
}
