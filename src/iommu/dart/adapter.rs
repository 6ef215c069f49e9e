//! The DART as the core sees it: [`DartIommu`] implements [`Iommu`]
//! (format [`Dart`], no context tag) and [`Observe`] over the shared
//! [`InvalidationGate`].
//!
//! * **Contexts are per stream**: each stream has its own TCR and TTBR
//!   (docs/hw/dart.md §3, §4), so any number of domains exist at once; a
//!   domain's table is attached to a stream by pointing the stream's TTBR0
//!   at it.  The driver remembers which streams point at which table, to
//!   flush exactly those after a map.
//! * **No context tag.**  TLB entries are kept per stream, not per table
//!   or ASID, and every invalidation names streams (T8020 STREAM_SELECT,
//!   T8110 TLB_OP per SID; docs/hw/dart.md §7).  The unmap sync flushes the
//!   streams the core names ([`SyncRequest::streams`]); the catalogue's
//!   context invalidation, which has only the tag `()` to go by, flushes
//!   every attached stream.
//! * **Invalidation is whole-stream**: one STREAM_COMMAND for the stream
//!   set (T8020) or one TLB_OP per stream (T8110), whatever the range.  It
//!   follows every unmap (the sync), every map (the DART may cache invalid
//!   entries; every driver flushes after a map) and every attach or detach
//!   (a stream moved to another table keeps the old table's translations
//!   until flushed).  All of them go through the gate: held while the
//!   self-test holds, dropped under `skip-sync`.
//! * **Detach blocks**: TCR ← 0.
//! * **Faults** are polled from the one latched ERROR register
//!   (`fault.rs`), cleared after each read.
//! * **A locked DART** (boot-loader configured) is never written: attach
//!   and detach refuse with the lock register, and the probe reports the
//!   whole group as a SKIP naming the lock (`probe.rs`).
#![forbid(unsafe_code)]

use super::fault;
use super::hw::DartHw;
use super::sids::SidSet;
use super::variant::Layout;
use crate::iommu::pgtable::Dart;
use crate::iommu::{
    Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault, FaultDelivery, FaultShape,
    InvalidationGate, Iommu, IommuError, MapRequest, Observable, Observe, StreamId, SyncPolicy,
    SyncRequest,
};
use crate::mmio::Mmio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Why an invalidation is owed (for the summary); each is a whole-stream
/// flush of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// After an unmap (the core's sync).
    Unmap,
    /// After a map (`sync_map`).
    Map,
    /// After an attach or detach.
    Config,
    /// The self-test's context invalidation.
    Context,
}

/// One invalidation the driver owes: flush `sids`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DartInvalidation {
    /// Why.
    pub why: Why,
    /// The streams.
    pub sids: SidSet,
}

/// Errors drained per poll at most (one is latched at a time; a new one
/// may latch right after the clear).
const DRAIN_LIMIT: usize = 8;

/// The DART driver.
pub struct DartIommu<M: Mmio> {
    hw: DartHw<M>,
    name: String,
    gate: InvalidationGate<DartInvalidation>,
    /// (stream, root table) of every attached stream.
    attached: Vec<(u32, u64)>,
    /// Fault records drained from the registers, not yet handed out.
    faults: Vec<Fault>,
    /// Problems found outside fault records.
    problems: Vec<String>,
    /// Flushes run, by `Why` (unmap, map, config, context), and commands.
    runs: [u64; 4],
    commands: u64,
}

impl<M: Mmio> DartIommu<M> {
    /// The driver over an identified (and, unless locked, reset) hardware
    /// layer; `skip_sync` starts the negative control.
    pub fn new(hw: DartHw<M>, name: &str, skip_sync: bool) -> Self {
        Self {
            hw,
            name: String::from(name),
            gate: InvalidationGate::new(skip_sync),
            attached: Vec::new(),
            faults: Vec::new(),
            problems: Vec::new(),
            runs: [0; 4],
            commands: 0,
        }
    }

    /// The hardware layer.
    pub fn hw(&self) -> &DartHw<M> {
        &self.hw
    }

    /// The hardware layer, mutable (tests switch driver bugs on here).
    pub fn hw_mut(&mut self) -> &mut DartHw<M> {
        &mut self.hw
    }

    /// Streams attached to the table at `root`.
    fn streams_of(&self, root: u64) -> SidSet {
        let mut s = SidSet::EMPTY;
        for &(sid, r) in &self.attached {
            if r == root {
                s.insert(sid);
            }
        }
        s
    }

    fn invalidate(&mut self, inv: DartInvalidation) -> Result<(), IommuError> {
        if inv.sids.is_empty() {
            return Ok(());
        }
        match self.gate.admit(inv) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn run(&mut self, inv: DartInvalidation) -> Result<(), IommuError> {
        let n = self.hw.flush(inv.sids).map_err(IommuError::from)?;
        self.gate.count(n);
        self.commands += n;
        self.runs[inv.why as usize] += 1;
        Ok(())
    }

    /// Reads what ERROR latched, clears it, keeps the records.
    fn poll_faults(&mut self) {
        let layout = self.hw.variant().layout;
        for _ in 0..DRAIN_LIMIT {
            let Some(e) = self.hw.latched() else {
                return;
            };
            self.faults.push(fault::decode(&e, layout));
            let (_, after) = self.hw.clear_error();
            if after == e.raw {
                self.problems.push(format!(
                    "{}: ERROR {:#x} did not clear when written back",
                    self.name, e.raw
                ));
                return;
            }
        }
    }

    fn check_format(&self, format: &Dart) -> Result<(), IommuError> {
        let hw = self.hw.ident().format;
        let fits = format.pte_format() == hw.pte_format()
            && format.levels() == hw.levels()
            && crate::iommu::pgtable::Codec::input_bits(format)
                <= crate::iommu::pgtable::Codec::input_bits(&hw)
            && crate::iommu::pgtable::Codec::output_bits(format)
                <= crate::iommu::pgtable::Codec::output_bits(&hw);
        if fits {
            Ok(())
        } else {
            Err(IommuError::Unsupported {
                value: u64::from(self.hw.ident().params1),
            })
        }
    }
}

/// What a context invalidation reaches here.
pub const NO_CONTEXT_TAG: &str =
    "DART TLB entries carry no context tag (no ASID): an invalidation names streams (T8020 STREAM_SELECT + STREAM_COMMAND, T8110 TLB_OP per SID), so the self-test's context invalidation, whose handle is (), flushes every attached stream of the DART; the unmap sync flushes exactly the domain's streams (docs/hw/dart.md §7)";

/// The summary's note on what each flush covers.
pub const WHOLE_STREAM: &str = "whole-stream flushes only: no source invalidates by address";

impl<M: Mmio> Iommu for DartIommu<M> {
    type Format = Dart;
    type Tag = ();

    fn name(&self) -> &str {
        &self.name
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::WholeStream
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tlb: Observable::Yes,
            // The TLB is kept per stream: a stream pointed at another table
            // keeps the old one's translations until its stream is flushed.
            config_cache: Observable::Yes,
            walk_cache: Observable::Yes,
            contexts: Contexts::PerStream,
            context_invalidation: ContextInvalidation::WholeIommu(NO_CONTEXT_TAG),
            detach: Detach::Blocks,
            invalidation: SyncPolicy::WholeStream,
            // One flush of the stream set whatever the range.
            ranged: true,
            fault: FaultShape {
                direction: Observable::Yes,
                // ERROR_ADDR holds the faulting IOVA; no source says how
                // exact, so only the 16 KiB page is claimed.
                iova_granule: crate::iommu::pgtable::dart::PAGE_SIZE,
                delivery: FaultDelivery::Latched,
            },
        }
    }

    fn new_context(&mut self, format: &Dart) -> Result<(), IommuError> {
        self.check_format(format)
    }

    fn attach(&mut self, stream: StreamId, ctx: &Context<'_, Dart, ()>) -> Result<(), IommuError> {
        self.check_format(ctx.format)?;
        self.hw.program_stream(stream.0, ctx.root.0, ctx.format)?;
        self.attached.retain(|&(s, _)| s != stream.0);
        self.attached.push((stream.0, ctx.root.0));
        self.invalidate(DartInvalidation {
            why: Why::Config,
            sids: SidSet::one(stream.0),
        })
    }

    fn detach(&mut self, stream: StreamId, _ctx: &Context<'_, Dart, ()>) -> Result<(), IommuError> {
        self.hw.block_stream(stream.0)?;
        self.attached.retain(|&(s, _)| s != stream.0);
        self.invalidate(DartInvalidation {
            why: Why::Config,
            sids: SidSet::one(stream.0),
        })
    }

    fn sync(&mut self, req: &SyncRequest<'_, ()>) -> Result<(), IommuError> {
        let mut sids = SidSet::EMPTY;
        for s in req.streams {
            sids.insert(s.0);
        }
        self.invalidate(DartInvalidation {
            why: Why::Unmap,
            sids,
        })
    }

    fn sync_map(
        &mut self,
        ctx: &Context<'_, Dart, ()>,
        _map: &MapRequest,
    ) -> Result<(), IommuError> {
        #[cfg(test)]
        if self.hw.bugs.no_flush_after_map {
            return Ok(());
        }
        let sids = self.streams_of(ctx.root.0);
        self.invalidate(DartInvalidation {
            why: Why::Map,
            sids,
        })
    }

    fn sync_is_deferred(&self) -> bool {
        self.gate.deferred()
    }
}

/// The cases the DART negative control (`inject=skip-sync`) must fail,
/// measured on the DART model for t8103, t6000 and t8110 alike
/// (`dart/model_runs.rs`; the model's defaults: a per-stream TLB that also
/// keeps failed walks, and a per-stream cache of valid L1 entries).
/// Skip-sync drops every flush this driver owes — after an unmap, after a
/// map, at attach and detach.  Three groups:
///
/// * the unmapped page stays in the stream's TLB, so the DMA that must be
///   blocked lands, or reaches the old page after a remap:
///   `unmap_invalidate_blocks_dma`, `remap_invalidate_new_page`,
///   `range_invalidate`, `empty_gather_still_syncs`, and
///   `walk_cache_invalidate` (the freed table's leaf is still cached);
///   `config_invalidate`, whose stream keeps domain 0's translation after
///   it was moved to domain 1 (the TLB is per stream, not per table);
/// * `map_next_to_walked`: a page the master touched while it was unmapped
///   keeps its failed walk in the TLB, so the fresh mapping faults;
/// * an L1 entry stays cached after the unmap that emptied its table (the
///   walker cleared the entry and set the table aside): a later mapping in
///   that 32 MiB span gets a new table the cached entry does not point at,
///   so its first DMA faults — `unmap_stale_window` and
///   `remap_stale_window` (their first DMA), `isolation` (domain 0's own
///   DMA), `readonly_blocks_write` (a translation fault where a permission
///   fault is expected) and `fault_record` (its setup DMA).
///
/// The list depends on what the DART caches: with the model's walk cache
/// off the last group passes (`dart/model_runs.rs` shows it).  Silicon
/// may differ; a board run compares with this list as the model's
/// expectation, not the hardware's.
pub const SKIP_SYNC_FAILURES: &[&str] = &[
    "map_next_to_walked",
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "remap_stale_window",
    "remap_invalidate_new_page",
    "range_invalidate",
    "config_invalidate",
    "walk_cache_invalidate",
    "isolation",
    "readonly_blocks_write",
    "fault_record",
    "empty_gather_still_syncs",
];

impl<M: Mmio> Observe for DartIommu<M> {
    type Invalidation = DartInvalidation;

    fn gate(&self) -> &InvalidationGate<DartInvalidation> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<DartInvalidation> {
        &mut self.gate
    }

    fn run_invalidation(&mut self, inv: DartInvalidation) -> Result<(), IommuError> {
        self.run(inv)
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        self.poll_faults();
        core::mem::take(&mut self.faults)
    }

    fn health(&mut self) -> Vec<String> {
        core::mem::take(&mut self.problems)
    }

    fn invalidate_context(&mut self, _tag: ()) -> Result<(), IommuError> {
        let mut sids = SidSet::EMPTY;
        for &(s, _) in &self.attached {
            sids.insert(s);
        }
        if sids.is_empty() {
            return Ok(());
        }
        match self.gate.admit_unheld(DartInvalidation {
            why: Why::Context,
            sids,
        }) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn invalidation_summary(&self) -> Option<String> {
        let how = match self.hw.variant().layout {
            Layout::T8020 => "STREAM_SELECT + STREAM_COMMAND per stream set",
            Layout::T8110 => "TLB_OP (0x080) per stream",
        };
        let [unmap, map, config, context] = self.runs;
        Some(format!(
            "DART invalidations: {unmap} after unmap, {map} after map, {config} at attach/detach, {context} context; {} commands ({how}); {WHOLE_STREAM}",
            self.commands
        ))
    }

    fn skip_sync_failures(&self) -> &'static [&'static str] {
        SKIP_SYNC_FAILURES
    }
}
