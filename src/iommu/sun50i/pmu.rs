//! The sun50i IOMMU's PMU counters as cache evidence: per micro TLB, the
//! macro TLB and the PTW cache, an access (lookup) and a hit count
//! (docs/hw/sun50i.md §12).  Read around a DMA, their deltas say whether
//! the translation came from a TLB — evidence of caching that does not rest
//! on a stale DMA alone.
//!
//! The judgement is deliberately narrow.  Lookups go micro TLB → macro TLB
//! (on a micro miss) → PTW cache and the tables (on a macro miss) (§5), and
//! a miss refills the TLBs, so a hit *after* a miss proves nothing about
//! what was cached before the DMA.  Only a window in which TLBs answered
//! lookups and nothing went past them (every micro miss a macro hit, no
//! macro miss, no PTW-cache lookup) is read as "cached before the DMA".  A
//! PMU that is not counting, counters that did not move while a DMA went
//! through the IOMMU, or hits that exceed the lookups are "no evidence",
//! never a claim either way — what counts as one access and whether every
//! master's traffic is counted are unconfirmed (§12).
#![forbid(unsafe_code)]

use super::regs::{pmu_reg, PmuSet, PmuWord, Regs, R_PMU_ENABLE};
use crate::mmio::Mmio;
use core::fmt;

/// The counters are 43 bits wide (HIGH words hold [42:32], vendor masks
/// 0x7FF: docs/hw/sun50i.md §12); deltas are taken modulo 2^43.
pub const COUNTER_MASK: u64 = (1 << 43) - 1;

/// Most micro-TLB slots of any variant.
pub const MAX_SLOTS: usize = 7;

/// One access/hit pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Lookups.
    pub access: u64,
    /// Hits.
    pub hit: u64,
}

impl Count {
    /// What was counted between `before` and `self` (modulo 2^43).
    pub fn since(self, before: Count) -> Count {
        Count {
            access: self.access.wrapping_sub(before.access) & COUNTER_MASK,
            hit: self.hit.wrapping_sub(before.hit) & COUNTER_MASK,
        }
    }

    fn is_zero(self) -> bool {
        self.access == 0 && self.hit == 0
    }
}

/// Every counter of one IOMMU at one moment, with PMU_ENABLE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// PMU_ENABLE as read.
    pub pmu_enable: u32,
    /// Micro TLB of each slot (only `slots` of them are read).
    pub micro: [Count; MAX_SLOTS],
    /// Slots of the variant.
    pub slots: u8,
    /// The macro TLB.
    pub macro_tlb: Count,
    /// The PTW cache.
    pub ptw: Count,
}

/// Reads one 43-bit counter: HIGH, LOW, HIGH again, and LOW once more if
/// the high word moved in between (a carry out of LOW), so the two halves
/// belong together.  Four loads at most; no loop.
fn read_counter<M: Mmio>(regs: &Regs<M>, set: PmuSet, low: PmuWord, high: PmuWord) -> u64 {
    let hi1 = regs.get(pmu_reg(set, high)) & 0x7ff;
    let mut lo = regs.get(pmu_reg(set, low));
    let hi2 = regs.get(pmu_reg(set, high)) & 0x7ff;
    if hi1 != hi2 {
        lo = regs.get(pmu_reg(set, low));
    }
    (u64::from(hi2) << 32) | u64::from(lo)
}

fn read_set<M: Mmio>(regs: &Regs<M>, set: PmuSet) -> Count {
    Count {
        access: read_counter(regs, set, PmuWord::AccessLow, PmuWord::AccessHigh),
        hit: read_counter(regs, set, PmuWord::HitLow, PmuWord::HitHigh),
    }
}

/// Reads PMU_ENABLE and every counter set of a variant with `slots`
/// micro-TLB slots (H6: sets 0–5; the registers of a seventh are reserved
/// there).
pub fn read<M: Mmio>(regs: &Regs<M>, slots: u8) -> Reading {
    let slots = slots.min(MAX_SLOTS as u8);
    let mut micro = [Count::default(); MAX_SLOTS];
    for (i, c) in micro.iter_mut().enumerate().take(usize::from(slots)) {
        *c = read_set(regs, PmuSet::Micro(i as u8));
    }
    Reading {
        pmu_enable: regs.get(R_PMU_ENABLE),
        micro,
        slots,
        macro_tlb: read_set(regs, PmuSet::MacroTlb),
        ptw: read_set(regs, PmuSet::PtwCache),
    }
}

/// What was counted between two readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deltas {
    /// Per micro TLB.
    pub micro: [Count; MAX_SLOTS],
    /// Slots of the variant.
    pub slots: u8,
    /// The macro TLB.
    pub macro_tlb: Count,
    /// The PTW cache.
    pub ptw: Count,
}

impl Deltas {
    /// `after` minus `before`.
    pub fn between(before: &Reading, after: &Reading) -> Self {
        let mut micro = [Count::default(); MAX_SLOTS];
        for (i, c) in micro.iter_mut().enumerate() {
            *c = after.micro[i].since(before.micro[i]);
        }
        Self {
            micro,
            slots: after.slots,
            macro_tlb: after.macro_tlb.since(before.macro_tlb),
            ptw: after.ptw.since(before.ptw),
        }
    }

    fn sets(&self) -> impl Iterator<Item = (PmuSet, Count)> + '_ {
        (0..self.slots)
            .map(|i| (PmuSet::Micro(i), self.micro[usize::from(i)]))
            .chain([
                (PmuSet::MacroTlb, self.macro_tlb),
                (PmuSet::PtwCache, self.ptw),
            ])
    }

    fn micro_total(&self) -> Count {
        self.micro[..usize::from(self.slots)]
            .iter()
            .fold(Count::default(), |a, c| Count {
                access: a.access + c.access,
                hit: a.hit + c.hit,
            })
    }

    /// TLB hits (micro and macro) in the window.
    pub fn tlb_hits(&self) -> u64 {
        self.micro_total().hit + self.macro_tlb.hit
    }

    /// `true` when nothing in the window went past the TLBs: every micro
    /// miss was answered by the macro TLB, the macro TLB missed nothing and
    /// the PTW cache was not looked up.
    pub fn nothing_walked(&self) -> bool {
        let micro = self.micro_total();
        micro.access.saturating_sub(micro.hit) <= self.macro_tlb.hit
            && self.macro_tlb.access == self.macro_tlb.hit
            && self.ptw.access == 0
    }
}

impl fmt::Display for Deltas {
    /// "micro TLB 0 2/2, macro TLB 0/0, PTW cache 0/0 (accesses/hits)":
    /// the micro TLBs that counted anything, then the shared structures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any_micro = false;
        for (set, c) in self.sets() {
            if let PmuSet::Micro(i) = set {
                if c.is_zero() {
                    continue;
                }
                any_micro = true;
                write!(f, "micro TLB {i} {}/{}, ", c.access, c.hit)?;
            }
        }
        if !any_micro {
            f.write_str("micro TLBs 0/0, ")?;
        }
        write!(
            f,
            "macro TLB {}/{}, PTW cache {}/{} (accesses/hits)",
            self.macro_tlb.access, self.macro_tlb.hit, self.ptw.access, self.ptw.hit
        )
    }
}

/// What a window's counters say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// TLBs answered the window's lookups and nothing went past them: the
    /// translation was cached before the DMA.
    Cached,
    /// TLBs answered some lookups, but others went past them (a macro
    /// miss, a PTW-cache lookup): the hits may be the refill of a miss, so
    /// they do not show an entry cached before the DMA.
    Refilled,
    /// Lookups were counted and no TLB answered one: the translation was
    /// walked (from the PTW cache or the tables).
    Walked,
    /// No evidence: PMU_ENABLE bit 0 read 0 at one end of the window.
    CountingOff {
        /// PMU_ENABLE when the window opened.
        before: u32,
        /// PMU_ENABLE when it closed.
        after: u32,
    },
    /// No evidence: nothing counted a lookup during the window.
    NothingCounted,
    /// No evidence: a set counted more hits than lookups.
    Inconsistent {
        /// The set.
        set: PmuSet,
        /// What it counted.
        count: Count,
    },
}

impl Verdict {
    /// `true` for the verdicts that say nothing about caching.
    pub fn is_no_evidence(&self) -> bool {
        !matches!(self, Self::Cached | Self::Refilled | Self::Walked)
    }
}

/// The counters over one window and what they say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// What was counted.
    pub deltas: Deltas,
    /// The judgement.
    pub verdict: Verdict,
}

impl Evidence {
    /// Judges the window from `before` to `after`.
    pub fn judge(before: &Reading, after: &Reading) -> Self {
        let deltas = Deltas::between(before, after);
        let verdict = if before.pmu_enable & 1 == 0 || after.pmu_enable & 1 == 0 {
            Verdict::CountingOff {
                before: before.pmu_enable,
                after: after.pmu_enable,
            }
        } else if let Some((set, count)) = deltas.sets().find(|(_, c)| c.hit > c.access) {
            Verdict::Inconsistent { set, count }
        } else if deltas.sets().all(|(_, c)| c.access == 0) {
            Verdict::NothingCounted
        } else if deltas.tlb_hits() == 0 {
            Verdict::Walked
        } else if deltas.nothing_walked() {
            Verdict::Cached
        } else {
            Verdict::Refilled
        };
        Self { deltas, verdict }
    }
}

fn set_name(set: PmuSet) -> alloc::string::String {
    match set {
        PmuSet::Micro(i) => alloc::format!("micro TLB {i}"),
        PmuSet::MacroTlb => alloc::string::String::from("the macro TLB"),
        PmuSet::PtwCache => alloc::string::String::from("the PTW cache"),
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            Verdict::Cached => write!(
                f,
                "PMU: TLBs answered every lookup ({} hits, nothing walked): the translation was cached before the DMA",
                self.deltas.tlb_hits()
            )?,
            Verdict::Refilled => write!(
                f,
                "PMU: {} TLB hits, but {} macro-TLB misses and {} PTW-cache lookups: a miss refills the TLBs, so the hits do not show an entry cached before the DMA",
                self.deltas.tlb_hits(),
                self.deltas.macro_tlb.access.saturating_sub(self.deltas.macro_tlb.hit),
                self.deltas.ptw.access
            )?,
            Verdict::Walked => write!(
                f,
                "PMU: lookups counted, none answered by a TLB: the translation was walked (PTW cache hits: {})",
                self.deltas.ptw.hit
            )?,
            Verdict::CountingOff { before, after } => write!(
                f,
                "no evidence: the PMU is not counting (PMU_ENABLE read {before:#x} before, {after:#x} after)"
            )?,
            Verdict::NothingCounted => f.write_str(
                "no evidence: no PMU counter moved in the window (the PMU does not count this master's lookups, its counters do not read, or the DMA never reached the IOMMU)",
            )?,
            Verdict::Inconsistent { set, count } => write!(
                f,
                "no evidence: {} counted {} hits in {} lookups, so the counters cannot be trusted",
                set_name(set),
                count.hit,
                count.access
            )?,
        }
        write!(f, "; {}", self.deltas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(enable: u32, micro0: Count, macro_tlb: Count, ptw: Count) -> Reading {
        let mut micro = [Count::default(); MAX_SLOTS];
        micro[0] = micro0;
        Reading {
            pmu_enable: enable,
            micro,
            slots: 7,
            macro_tlb,
            ptw,
        }
    }

    fn c(access: u64, hit: u64) -> Count {
        Count { access, hit }
    }

    #[test]
    fn tlb_hits_with_nothing_walked_are_caching() {
        let z = c(0, 0);
        let e = Evidence::judge(
            &reading(1, c(5, 3), z, c(2, 2)),
            &reading(1, c(6, 4), z, c(2, 2)),
        );
        assert_eq!(e.verdict, Verdict::Cached);
        assert_eq!(
            alloc::format!("{}", e.deltas),
            "micro TLB 0 1/1, macro TLB 0/0, PTW cache 0/0 (accesses/hits)"
        );
        // A micro miss the macro TLB answered is still a cached translation.
        let e = Evidence::judge(&reading(1, z, z, z), &reading(1, c(4, 3), c(1, 1), z));
        assert_eq!(e.verdict, Verdict::Cached);
    }

    #[test]
    fn hits_after_a_walk_are_a_refill_not_caching() {
        let z = c(0, 0);
        // The first lookup missed both TLBs and walked; the refilled micro
        // entry answered the other three.
        let e = Evidence::judge(&reading(1, z, z, z), &reading(1, c(4, 3), c(1, 0), c(1, 1)));
        assert_eq!(e.verdict, Verdict::Refilled);
        let said = alloc::format!("{e}");
        assert!(
            said.contains("the hits do not show an entry cached before the DMA"),
            "{said}"
        );
        assert!(!said.contains("was cached before the DMA"), "{said}");
        assert!(
            said.ends_with("micro TLB 0 4/3, macro TLB 1/0, PTW cache 1/1 (accesses/hits)"),
            "{said}"
        );
    }

    #[test]
    fn lookups_without_a_tlb_hit_are_a_walk() {
        let e = Evidence::judge(
            &reading(1, c(0, 0), c(0, 0), c(0, 0)),
            &reading(1, c(1, 0), c(1, 0), c(1, 1)),
        );
        assert_eq!(e.verdict, Verdict::Walked);
    }

    #[test]
    fn silent_or_off_or_inconsistent_counters_are_no_evidence() {
        let z = c(0, 0);
        let off = Evidence::judge(&reading(0, z, z, z), &reading(0, c(1, 1), z, z));
        assert!(matches!(off.verdict, Verdict::CountingOff { .. }));
        let silent = Evidence::judge(&reading(1, c(9, 9), z, z), &reading(1, c(9, 9), z, z));
        assert_eq!(silent.verdict, Verdict::NothingCounted);
        let odd = Evidence::judge(&reading(1, z, z, z), &reading(1, z, c(1, 2), z));
        assert!(matches!(
            odd.verdict,
            Verdict::Inconsistent {
                set: PmuSet::MacroTlb,
                ..
            }
        ));
        for e in [off, silent, odd] {
            assert!(e.verdict.is_no_evidence());
            assert!(alloc::format!("{e}").starts_with("no evidence: "), "{e}");
        }
    }

    #[test]
    fn deltas_wrap_at_43_bits() {
        let before = c(COUNTER_MASK, COUNTER_MASK - 1);
        assert_eq!(c(1, 0).since(before), c(2, 2));
    }
}
