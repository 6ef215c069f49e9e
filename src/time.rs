//! Time and bounded waits.
//!
//! Every hardware poll in the project is bounded: drivers call [`poll_until`]
//! with a [`Clock`] (the generic timer on target, a fake on the host) and get a
//! [`Timeout`] that names what they were waiting for instead of hanging.
//!
//! Between two checks a wait *sleeps* ([`Wait::pause`]): after a few checks
//! back to back (hardware that answers within microseconds), it asks the clock
//! to rest until the next check, a quarter of the time waited so far from now
//! (at least [`MIN_SLEEP`], at most [`MAX_SLEEP`] or a [`PACE`]th of the
//! timeout, never past the deadline).  A device with a known latency (QEMU's
//! edu: 100 ms per DMA) is first slept on for that long
//! ([`poll_until_expecting`]).  [`Clock::sleep_until`] decides how: the
//! generic timer arms its compare value and executes WFI when boot has routed
//! the timer interrupt to the CPU (`boot/waits.rs`); every other clock, and
//! the generic timer on a board where that could not be done, spins once and
//! returns, so the wait polls.
//!
//! Under QEMU's `-icount ...,sleep=off` a CPU in WFI lets virtual time jump
//! to the next timer deadline, so a sleeping wait costs no host time — and a
//! device that completes on the host side of the emulator (virtio-blk's
//! disk I/O, finished in QEMU's main loop) could see its guest's deadline
//! pass before the host got to run.  Such a wait polls instead
//! ([`Wait::polling`]: executing instructions lets the main loop run while
//! virtual time advances with them); and no sleep is longer than a
//! [`PACE`]th of the timeout, so any wait takes at least that many
//! wake-ups to reach its deadline (docs/performance.md).
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

    /// Rests until the counter reaches `tick`, or earlier (an interrupt, a
    /// spurious wake-up): callers check their condition and the time again
    /// on return.  Must not return much later than `tick`.
    ///
    /// The default is one spin-loop hint and an immediate return: waits on
    /// such a clock poll.
    fn sleep_until(&self, tick: u64) {
        let _ = tick;
        core::hint::spin_loop();
    }
}

/// Checks a [`Wait`] makes back to back before it starts sleeping: a device
/// that answers within a few register reads never waits for a timer.
pub const SPIN_CHECKS: u32 = 16;
/// The shortest sleep between two checks.
pub const MIN_SLEEP: Duration = Duration::from_micros(1);
/// The longest sleep between two checks of a wait of up to
/// `PACE * MAX_SLEEP` (4 s): how late a long wait may notice a condition
/// that became true, beyond a quarter of the time it waited.
pub const MAX_SLEEP: Duration = Duration::from_millis(1);
/// A longer wait sleeps at most a `PACE`th of its timeout at a time, so it
/// checks at least `PACE` times before it gives up (module docs).
pub const PACE: u32 = 4000;
/// A sleep is the time waited so far divided by this (then clamped): the
/// checks thin out geometrically, so a wait of `T` makes about
/// `log(T / MIN_SLEEP) / log(1 + 1/BACKOFF)` checks until the cap, and
/// notices a change at most `T / BACKOFF` late.
pub const BACKOFF: u64 = 4;

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

/// One bounded wait in progress: the deadline, and the pacing of the
/// checks (module docs).  [`poll_until`] is the usual way to use it; a
/// caller whose condition yields more than a `bool` (the virtio transport's
/// used ring) drives it itself:
///
/// ```text
/// let mut w = Wait::new(clock, timeout);
/// loop {
///     let expired = w.expired();   // before the check, so a condition that
///     if done() { break; }         // turned true as time ran out is seen
///     if expired { return Err(.. w.waited() ..) }
///     w.pause();
/// }
/// ```
pub struct Wait<'c> {
    clock: &'c dyn Clock,
    deadline: Deadline,
    checks: u32,
    min_ticks: u64,
    max_ticks: u64,
    expect_ticks: u64,
    poll: bool,
}

impl<'c> Wait<'c> {
    /// A wait of at most `timeout`, starting now.
    pub fn new(clock: &'c dyn Clock, timeout: Duration) -> Self {
        let freq = clock.freq_hz();
        let deadline = Deadline::after(clock, timeout);
        let cap = duration_to_ticks(MAX_SLEEP, freq).max(deadline.limit / u64::from(PACE));
        Self {
            clock,
            deadline,
            checks: 0,
            min_ticks: duration_to_ticks(MIN_SLEEP, freq).max(1),
            max_ticks: cap.max(1),
            expect_ticks: 0,
            poll: false,
        }
    }

    /// The same wait, never sleeping: for a device that completes on the
    /// host side of an emulator (QEMU's virtio-blk finishes its disk I/O in
    /// the main loop).  Under `-icount ...,sleep=off` a sleeping CPU makes
    /// virtual time jump to its next timer while the main loop gets almost
    /// no turn, so such a wait reached its deadline first (measured: 4 of 12
    /// runs of the virtio-blk scenarios lost a request); executing instructions instead lets the host
    /// run while virtual time advances with them (docs/performance.md).
    pub fn polling(mut self) -> Self {
        self.poll = true;
        self
    }

    /// The same wait for a device that needs `latency` to answer: the
    /// first pause sleeps until `latency` has passed (no checks back to
    /// back), then the wait paces itself as usual.
    pub fn expecting(mut self, latency: Duration) -> Self {
        self.expect_ticks = duration_to_ticks(latency, self.clock.freq_hz());
        self
    }

    /// `true` once the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.expired(self.clock)
    }

    /// Time since the wait started.
    pub fn waited(&self) -> Duration {
        self.clock.since(self.deadline.start)
    }

    /// Pauses made so far (one per failed check).
    pub fn pauses(&self) -> u32 {
        self.checks
    }

    /// Pauses before the next check: a spin-loop hint for a
    /// [`Wait::polling`] wait; else until the expected latency has passed
    /// ([`Wait::expecting`]); else a spin-loop hint for the first
    /// [`SPIN_CHECKS`]; else a sleep until the next check is due (a
    /// [`BACKOFF`]th of the time waited, at least [`MIN_SLEEP`], at most
    /// [`MAX_SLEEP`] or a [`PACE`]th of the timeout).  Never sleeps past the
    /// first tick at which the deadline has passed.
    pub fn pause(&mut self) {
        self.checks = self.checks.saturating_add(1);
        if self.poll || (self.expect_ticks == 0 && self.checks <= SPIN_CHECKS) {
            core::hint::spin_loop();
            return;
        }
        let now = self.clock.ticks();
        let waited = now.wrapping_sub(self.deadline.start);
        // The first tick at which `expired()` is true.
        let left = self.deadline.limit.saturating_add(1).saturating_sub(waited);
        if left == 0 {
            return;
        }
        let step = if waited < self.expect_ticks {
            self.expect_ticks - waited
        } else {
            (waited / BACKOFF).clamp(self.min_ticks, self.max_ticks)
        };
        self.clock.sleep_until(now.wrapping_add(step.min(left)));
    }
}

/// Polls `done` until it returns `true` or `timeout` passes, sleeping
/// between checks ([`Wait::pause`]).
///
/// `done` is always evaluated at least once after the deadline check, so a
/// condition that became true just as time ran out is still seen.
pub fn poll_until(
    clock: &dyn Clock,
    timeout: Duration,
    what: &'static str,
    done: impl FnMut() -> bool,
) -> Result<(), Timeout> {
    run(Wait::new(clock, timeout), what, done)
}

/// [`poll_until`] for a device that takes `latency` to answer (its
/// documented behaviour, e.g. QEMU's edu completes a DMA 100 ms after the
/// command): checks once at once, then sleeps until `latency` has passed
/// before checking again ([`Wait::expecting`]).
pub fn poll_until_expecting(
    clock: &dyn Clock,
    latency: Duration,
    timeout: Duration,
    what: &'static str,
    done: impl FnMut() -> bool,
) -> Result<(), Timeout> {
    run(Wait::new(clock, timeout).expecting(latency), what, done)
}

fn run(
    mut wait: Wait<'_>,
    what: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), Timeout> {
    loop {
        let expired = wait.expired();
        if done() {
            return Ok(());
        }
        if expired {
            return Err(Timeout {
                what,
                waited: wait.waited(),
            });
        }
        wait.pause();
    }
}

#[cfg(test)]
pub mod fake {
    //! Clocks for host tests.
    use super::Clock;
    use core::cell::Cell;

    /// Advances `step` ticks each time it is read; 1 MHz.  Never sleeps:
    /// waits on it poll, as on a board whose timer interrupt is not routed.
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

    /// A 1 MHz clock that stands still while read and jumps to the target
    /// of every [`Clock::sleep_until`], as QEMU's virtual time does for a
    /// CPU in WFI under `-icount ...,sleep=off`; it records the sleeps.
    #[derive(Default)]
    pub struct SleepingClock {
        /// Current value.
        pub now: Cell<u64>,
        /// Sleeps so far.
        pub sleeps: Cell<u32>,
        /// The latest tick any sleep asked for.
        pub latest_target: Cell<u64>,
    }

    impl Clock for SleepingClock {
        fn ticks(&self) -> u64 {
            self.now.get()
        }
        fn freq_hz(&self) -> u64 {
            1_000_000
        }
        fn sleep_until(&self, tick: u64) {
            self.sleeps.set(self.sleeps.get() + 1);
            self.latest_target.set(self.latest_target.get().max(tick));
            self.now.set(self.now.get().max(tick));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{SleepingClock, SteppingClock};
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

    #[test]
    fn a_wait_that_never_completes_ends_at_its_deadline_with_a_clear_failure() {
        let clock = SleepingClock::default();
        let timeout = Duration::from_millis(100);
        let mut checks = 0u32;
        let err = poll_until(
            &clock,
            timeout,
            "edu DMA command bit0 (busy) to clear",
            || {
                checks += 1;
                false
            },
        )
        .unwrap_err();
        // It ended at the deadline, not before and not much after: the first
        // tick past the 100,000-tick limit.
        assert_eq!(err.waited, Duration::from_micros(100_001));
        assert_eq!(
            clock.latest_target.get(),
            100_001,
            "slept past the deadline"
        );
        assert_eq!(
            err.to_string(),
            "timed out after 100001 us waiting for edu DMA command bit0 (busy) to clear"
        );
        // It slept instead of spinning: a few dozen checks for 100 ms,
        // not one per tick (16 back to back, then 1/4 of the time waited,
        // capped at 1 ms).
        let sleeps = clock.sleeps.get();
        assert!((100..=140).contains(&sleeps), "{sleeps} sleeps");
        assert_eq!(checks, SPIN_CHECKS + sleeps + 1);
    }

    #[test]
    fn a_condition_that_turns_true_is_seen_soon_after() {
        for ready_at in [40u64, 700, 10_000, 100_000, 1_000_000] {
            let clock = SleepingClock::default();
            let mut seen_at = None;
            poll_until(&clock, Duration::from_secs(5), "ready", || {
                let now = clock.now.get();
                if now >= ready_at {
                    seen_at = Some(now);
                }
                seen_at.is_some()
            })
            .unwrap();
            let seen = seen_at.unwrap();
            // At most a quarter late, and never more than MAX_SLEEP late.
            let late = seen - ready_at;
            assert!(
                late <= (ready_at / BACKOFF + 1).min(1_000),
                "ready at {ready_at}, seen at {seen}"
            );
        }
    }

    #[test]
    fn a_device_that_answers_within_a_few_reads_never_sleeps() {
        let clock = SleepingClock::default();
        let mut n = 0;
        poll_until(&clock, Duration::from_secs(1), "n", || {
            n += 1;
            n == SPIN_CHECKS
        })
        .unwrap();
        assert_eq!(clock.sleeps.get(), 0);
    }

    #[test]
    fn a_zero_timeout_checks_once_more_and_never_sleeps_past_it() {
        let clock = SleepingClock::default();
        let err = poll_until(&clock, Duration::ZERO, "z", || false).unwrap_err();
        assert_eq!(clock.latest_target.get(), 1);
        assert_eq!(err.waited, Duration::from_micros(1));
    }

    #[test]
    fn a_long_wait_checks_at_least_pace_times_before_it_gives_up() {
        // 20 s (the catalogue's DMA timeout): sleeps of at most 5 ms, so
        // at least PACE wake-ups before the deadline.
        let clock = SleepingClock::default();
        poll_until(&clock, Duration::from_secs(20), "never", || false).unwrap_err();
        let sleeps = clock.sleeps.get();
        assert!(
            (PACE..PACE + 100).contains(&sleeps),
            "{sleeps} sleeps for 20 s"
        );
    }

    #[test]
    fn a_device_with_a_known_latency_is_slept_on_once() {
        // edu: done 100 ms after the command.  One check at once, one sleep
        // of 100 ms, done.
        let clock = SleepingClock::default();
        let mut checks = 0;
        poll_until_expecting(
            &clock,
            Duration::from_millis(100),
            Duration::from_secs(5),
            "edu",
            || {
                checks += 1;
                clock.now.get() >= 100_000
            },
        )
        .unwrap();
        assert_eq!((checks, clock.sleeps.get()), (2, 1));
        // Late by 3 ms: the usual pacing takes over.
        let clock = SleepingClock::default();
        poll_until_expecting(
            &clock,
            Duration::from_millis(100),
            Duration::from_secs(5),
            "edu",
            || clock.now.get() >= 103_000,
        )
        .unwrap();
        assert!(clock.now.get() <= 104_000, "{}", clock.now.get());
        // A latency beyond the timeout still ends at the deadline.
        let clock = SleepingClock::default();
        let err = poll_until_expecting(
            &clock,
            Duration::from_secs(9),
            Duration::from_millis(10),
            "edu",
            || false,
        )
        .unwrap_err();
        assert_eq!(err.waited, Duration::from_micros(10_001));
        assert_eq!(clock.sleeps.get(), 1);
    }

    #[test]
    fn a_polling_wait_never_sleeps_and_still_ends_at_its_deadline() {
        let clock = SteppingClock {
            now: Cell::new(0),
            step: 7,
        };
        struct Counting<'a>(&'a SteppingClock, Cell<u32>);
        impl Clock for Counting<'_> {
            fn ticks(&self) -> u64 {
                self.0.ticks()
            }
            fn freq_hz(&self) -> u64 {
                self.0.freq_hz()
            }
            fn sleep_until(&self, _: u64) {
                self.1.set(self.1.get() + 1);
            }
        }
        let c = Counting(&clock, Cell::new(0));
        let mut w = Wait::new(&c, Duration::from_millis(2)).polling();
        while !w.expired() {
            w.pause();
        }
        assert!(w.pauses() > SPIN_CHECKS);
        assert_eq!(c.1.get(), 0, "a polling wait slept");
        assert!(w.waited() >= Duration::from_millis(2));
    }
}
