//! When invalidations take effect: accepted operations wait for a sync
//! that covers them (IHI §16.5.36–§16.5.37 for a bank's TLBSYNC /
//! TLBSTATUS, the GR0 sTLBGSYNC / sTLBGSTATUS, §5.4.2 on processing).
//!
//! * A bank's TLBSYNC covers the operations that bank accepted before it;
//!   sTLBGSYNC covers every operation accepted before it, GR0 and bank
//!   ones alike, and completes the bank syncs in flight.
//! * The status bit reads 1 for [`super::Knobs::busy_polls`] reads after
//!   the sync write; the read that finds it 0 applies the covered
//!   operations first.  With `busy_polls = 0` they apply at the sync
//!   write.  [`super::Knobs::sync_never_completes`] keeps it 1.
//! * With [`super::Knobs::invalidate_at_sync`] off, operations apply at
//!   their write (the syncs still read busy).
#![forbid(unsafe_code)]

use super::{Inval, Smmuv2Model, Sync};

impl Smmuv2Model {
    /// Accepts `op`, issued through bank `cb` (or GR0).
    pub(super) fn issue(&mut self, cb: Option<usize>, op: Inval) {
        self.issued.push((cb, op));
        if self.knobs.invalidate_at_sync {
            self.pending.push((cb, op));
        } else {
            self.apply(&[op]);
        }
    }

    /// Removes every cached entry the operations hit.
    pub(super) fn apply(&mut self, ops: &[Inval]) {
        for op in ops {
            self.tlb.invalidate(|_, e| op.hits(e));
            self.walks.invalidate(|_, w| op.hits_walk(w));
        }
    }

    fn take_pending(&mut self, cb: Option<usize>) -> alloc::vec::Vec<Inval> {
        let mut out = alloc::vec::Vec::new();
        self.pending.retain(|(c, op)| {
            let covered = cb.is_none() || *c == cb;
            if covered {
                out.push(*op);
            }
            !covered
        });
        out
    }

    pub(super) fn start_cb_sync(&mut self, n: usize) {
        self.syncs.push(Some(n));
        let ops = self.take_pending(Some(n));
        let mut s = self.cbs[n].sync.take().unwrap_or_default();
        s.ops.extend(ops);
        s.polls = self.knobs.busy_polls;
        if s.polls == 0 && !self.knobs.sync_never_completes {
            self.apply(&s.ops);
        } else {
            self.cbs[n].sync = Some(s);
        }
    }

    pub(super) fn poll_cb_sync(&mut self, n: usize) -> u32 {
        let Some(mut s) = self.cbs[n].sync.take() else {
            return 0;
        };
        if self.knobs.sync_never_completes || s.polls > 0 {
            s.polls = s.polls.saturating_sub(1);
            self.cbs[n].sync = Some(s);
            return 1;
        }
        self.apply(&s.ops);
        0
    }

    pub(super) fn start_gsync(&mut self) {
        self.syncs.push(None);
        let ops = self.take_pending(None);
        let mut s: Sync = self.gsync.take().unwrap_or_default();
        s.ops.extend(ops);
        s.polls = self.knobs.busy_polls;
        if s.polls == 0 && !self.knobs.sync_never_completes {
            self.complete_gsync(s);
        } else {
            self.gsync = Some(s);
        }
    }

    fn complete_gsync(&mut self, s: Sync) {
        self.apply(&s.ops);
        for n in 0..self.cbs.len() {
            if let Some(b) = self.cbs[n].sync.take() {
                self.apply(&b.ops);
            }
        }
    }

    pub(super) fn poll_gsync(&mut self) -> u32 {
        let Some(mut s) = self.gsync.take() else {
            return 0;
        };
        if self.knobs.sync_never_completes || s.polls > 0 {
            s.polls = s.polls.saturating_sub(1);
            self.gsync = Some(s);
            return 1;
        }
        self.complete_gsync(s);
        0
    }
}
