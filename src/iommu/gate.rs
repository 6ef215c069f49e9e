//! The one place invalidations are held, dropped or counted, for every
//! driver.
//!
//! A driver turns each invalidation it owes (after an unmap, an attach, a
//! detach) into a value of its own type `T` and hands it to
//! [`InvalidationGate::admit`].  The gate answers whether to run it now; if
//! not, it has queued it (the self-test is holding invalidations to prove a
//! cached translation exists) or dropped it (`iommu_bringup.inject=skip-sync`,
//! the negative control).  [`Observe`](super::Observe)'s hold / release /
//! skip / cost methods are written once over the gate, so no driver carries
//! its own copy of that logic — and the negative control withholds exactly
//! the same things on every IOMMU.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// Hold / skip-sync / release / cost for one driver's invalidations.
#[derive(Clone, Debug)]
pub struct InvalidationGate<T> {
    holding: bool,
    skipping: bool,
    held: Vec<T>,
    cost: u64,
}

impl<T: Copy> InvalidationGate<T> {
    /// A gate that runs everything (`skip_sync` = false) or drops
    /// everything (`skip_sync` = true, the negative control).
    pub fn new(skip_sync: bool) -> Self {
        Self {
            holding: false,
            skipping: skip_sync,
            held: Vec::new(),
            cost: 0,
        }
    }

    /// `Some(inv)` when the driver must run `inv` now; `None` when it was
    /// dropped (skip-sync) or queued (holding).
    pub fn admit(&mut self, inv: T) -> Option<T> {
        if self.skipping {
            return None;
        }
        if self.holding {
            self.held.push(inv);
            return None;
        }
        Some(inv)
    }

    /// `true` when invalidations run as they are admitted.
    pub fn runs_now(&self) -> bool {
        !self.holding && !self.skipping
    }

    /// Starts or stops queueing.
    pub fn hold(&mut self, on: bool) {
        self.holding = on;
    }

    /// `true` while queueing.
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// Turns the negative control on or off.
    pub fn set_skipping(&mut self, on: bool) {
        self.skipping = on;
    }

    /// `true` while the negative control drops invalidations.
    pub fn skipping(&self) -> bool {
        self.skipping
    }

    /// `true` when an invalidation admitted now would not have completed
    /// when `admit` returns (held or dropped).
    pub fn deferred(&self) -> bool {
        self.holding || self.skipping
    }

    /// The queue, oldest first.
    pub fn held(&self) -> &[T] {
        &self.held
    }

    /// Empties the queue for the caller to run in order.  Under skip-sync
    /// the queue is dropped and nothing is returned.
    pub fn take_queue(&mut self) -> Vec<T> {
        let queue = core::mem::take(&mut self.held);
        if self.skipping {
            return Vec::new();
        }
        queue
    }

    /// Puts `rest` (what a failed release did not run) back at the head of
    /// the queue, ahead of anything queued meanwhile.
    pub fn requeue_front(&mut self, rest: &[T]) {
        let mut q = rest.to_vec();
        q.append(&mut self.held);
        self.held = q;
    }

    /// Like [`admit`](Self::admit) but ignoring holding: an invalidation the
    /// self-test asks for explicitly runs at once even while others are
    /// held; it is still dropped under skip-sync.
    pub fn admit_unheld(&mut self, inv: T) -> Option<T> {
        (!self.skipping).then_some(inv)
    }

    /// Adds `commands` to the invalidation cost.
    pub fn count(&mut self, commands: u64) {
        self.cost = self.cost.saturating_add(commands);
    }

    /// The cost since the last call.
    pub fn take_cost(&mut self) -> u64 {
        core::mem::take(&mut self.cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_holds_drops_and_requeues_in_order() {
        let mut g = InvalidationGate::new(false);
        assert_eq!(g.admit(1), Some(1));
        g.hold(true);
        assert!(g.deferred());
        assert_eq!(g.admit(2), None);
        assert_eq!(g.admit(3), None);
        assert_eq!(g.admit_unheld(9), Some(9));
        g.hold(false);
        let q = g.take_queue();
        assert_eq!(q, [2, 3]);
        g.hold(true);
        g.admit(4);
        g.requeue_front(&q[1..]);
        assert_eq!(g.held(), [3, 4]);
    }

    #[test]
    fn skip_sync_drops_everything_even_what_was_held() {
        let mut g = InvalidationGate::new(false);
        g.hold(true);
        g.admit(1);
        g.set_skipping(true);
        assert_eq!(g.admit(2), None);
        assert_eq!(g.admit_unheld(5), None);
        assert!(g.take_queue().is_empty());
        assert!(g.held().is_empty());
    }

    #[test]
    fn cost_is_taken_once() {
        let mut g = InvalidationGate::<u8>::new(false);
        g.count(3);
        g.count(2);
        assert_eq!(g.take_cost(), 5);
        assert_eq!(g.take_cost(), 0);
    }
}
