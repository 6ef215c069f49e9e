//! Time and bounded waits.
//!
//! Every hardware poll in the project is bounded: drivers call [`poll_until`]
//! with a [`Clock`] (the generic timer on target, a fake on the host) and get a
//! [`Timeout`] that names what they were waiting for instead of hanging.
#![forbid(unsafe_code)]

use core::fmt;
use core::time::Duration;

/// A free-running monotonic counter.
pub trait Clock {
    /// Current counter value in ticks.
    fn ticks(&self) -> u64;
    /// Counter frequency in Hz (never 0).
    fn freq_hz(&self) -> u64;

    /// Ticks elapsed since `earlier`, converted to a [`Duration`].
    fn since(&self, earlier: u64) -> Duration {
        ticks_to_duration(self.ticks().wrapping_sub(earlier), self.freq_hz())
    }
}

/// Converts a tick count at `freq_hz` to a [`Duration`] without overflow.
pub fn ticks_to_duration(ticks: u64, freq_hz: u64) -> Duration {
    let freq = freq_hz.max(1);
    let secs = ticks / freq;
    let rem = ticks % freq;
    // rem < freq <= u64::MAX, so rem * 1e9 fits in u128.
    let nanos = (u128::from(rem) * 1_000_000_000 / u128::from(freq)) as u32;
    Duration::new(secs, nanos)
}

/// Converts a [`Duration`] to ticks at `freq_hz`, saturating.
pub fn duration_to_ticks(d: Duration, freq_hz: u64) -> u64 {
    let t = d.as_nanos().saturating_mul(u128::from(freq_hz)) / 1_000_000_000;
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// A point in the future on a given clock.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: u64,
    limit: u64,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(clock: &dyn Clock, timeout: Duration) -> Self {
        Self {
            start: clock.ticks(),
            limit: duration_to_ticks(timeout, clock.freq_hz()),
        }
    }

    /// `true` once the deadline has passed.
    pub fn expired(&self, clock: &dyn Clock) -> bool {
        clock.ticks().wrapping_sub(self.start) > self.limit
    }
}

/// A bounded wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// What was being waited for (a register or condition name).
    pub what: &'static str,
    /// How long we waited.
    pub waited: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {} us waiting for {}",
            self.waited.as_micros(),
            self.what
        )
    }
}

/// Polls `done` until it returns `true` or `timeout` passes.
///
/// `done` is always evaluated at least once after the deadline check, so a
/// condition that became true just as time ran out is still seen.
pub fn poll_until(
    clock: &dyn Clock,
    timeout: Duration,
    what: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), Timeout> {
    let start = clock.ticks();
    let deadline = Deadline::after(clock, timeout);
    loop {
        let expired = deadline.expired(clock);
        if done() {
            return Ok(());
        }
        if expired {
            return Err(Timeout {
                what,
                waited: clock.since(start),
            });
        }
        core::hint::spin_loop();
    }
}

#[cfg(test)]
pub mod fake {
    //! A clock for host tests that advances by a fixed step on every read.
    use super::Clock;
    use core::cell::Cell;

    /// Advances `step` ticks each time it is read; 1 MHz.
    pub struct SteppingClock {
        /// Current value.
        pub now: Cell<u64>,
        /// Increment per read.
        pub step: u64,
    }

    impl Clock for SteppingClock {
        fn ticks(&self) -> u64 {
            let v = self.now.get();
            self.now.set(v + self.step);
            v
        }
        fn freq_hz(&self) -> u64 {
            1_000_000
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::SteppingClock;
    use super::*;
    use core::cell::Cell;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(
            ticks_to_duration(62_500_000, 62_500_000),
            Duration::from_secs(1)
        );
        assert_eq!(
            duration_to_ticks(Duration::from_millis(10), 24_000_000),
            240_000
        );
        assert_eq!(duration_to_ticks(Duration::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn poll_times_out_and_names_the_condition() {
        let clock = SteppingClock {
            now: Cell::new(0),
            step: 100,
        };
        let err =
            poll_until(&clock, Duration::from_millis(1), "UARTFR.TXFF", || false).unwrap_err();
        assert_eq!(err.what, "UARTFR.TXFF");
        assert!(err.waited >= Duration::from_millis(1));
    }

    #[test]
    fn poll_succeeds_when_condition_turns_true() {
        let clock = SteppingClock {
            now: Cell::new(0),
            step: 1,
        };
        let mut n = 0;
        assert!(poll_until(&clock, Duration::from_secs(1), "n", || {
            n += 1;
            n == 5
        })
        .is_ok());
    }
}
