//! A behavioural model of one Apple DART instance (t8103, t6000, T8110)
//! for host tests, behind the MMIO seam ([`RegisterModel`]) and the model
//! masters' [`Translate`].
//!
//! Written from docs/hw/dart.md "Behavioural model (host)" (which restates
//! m1n1's register descriptions in `proxyclient/m1n1/hw/dart8020.py` /
//! `dart8110.py` and `src/dart.c`, U-Boot `drivers/iommu/apple_dart.c`,
//! OpenBSD `apldart.c`, and golden values from `m1n1-proxyclient`), not
//! from any driver, Linux's included.  Where the sources are silent the
//! model makes a choice a test can see; §M9 of that page lists each one.
//!
//! # API
//!
//! * [`DartModel::new`]`(variant, knobs)` builds one instance after reset;
//!   [`DartModel::map_window`] adds a bus-to-host [`Window`] (the DART's
//!   40–44-bit PAs stand for host allocations).  Variants: [`T8103`],
//!   [`T6000`], [`T8110`] (and [`Variant::with_bypass`],
//!   [`Variant::with_sids`]); test switches: [`Knobs`].
//! * [`Dart`] is the shared handle (`Rc<RefCell<DartModel>>`): give
//!   `ModelMmio::new(dart.clone())` to a driver (register side,
//!   [`RegisterModel`]) and `ModelMaster::new(sid, name, dart.clone())` to
//!   the tests (DMA side, [`Translate`]: `translate(sid, iova, write)` →
//!   host address or `None`).  [`Dart::model`] / [`Dart::model_mut`] reach
//!   the model itself.
//! * Inspection: [`DartModel::misuse`] (what the sources rule out),
//!   [`DartModel::faults`] (every blocked transaction),
//!   [`DartModel::flushes`] (every completed invalidation),
//!   [`DartModel::tlb_entries`] / [`DartModel::tlb_entry`] /
//!   [`DartModel::walk_entries`] (cache contents), [`DartModel::error`] /
//!   [`DartModel::error_addr`] / [`DartModel::irq_pending`] (the latch),
//!   [`DartModel::locked`], [`DartModel::busy`], [`DartModel::peek`] (a
//!   register without side effects).
//! * Time and boot state: [`DartModel::settle`] completes a busy command
//!   without polls; [`DartModel::lock`] sets the layout's lock bit as a
//!   boot loader does; [`DartModel::reset`] is a power cycle.
//!
//! # Behaviour
//!
//! * Both register layouts (§M2): identification (PARAMS, read-only),
//!   per-stream TCR and TTBR (four per stream on T8020), stream-enable
//!   banks (T8020 one read/write word; T8110 write-1-to-set /
//!   write-1-to-clear banks), error latch, lock (T8020 CONFIG.LOCK, sticky;
//!   T8110 PROTECT / UNPROTECT / PROTECT_LOCK).  Unknown offsets are plain
//!   storage.
//! * Translation (§M3, §M4): enable bit, then TCR (bypass, translate,
//!   invalid, off), then the per-stream TLB, then the walk
//!   ([`crate::testkit::walk_dart::DartWalk`]) through an optional
//!   per-stream cache of L0/L1 entries, table memory read at walk time.
//!   The TLB also keeps invalid results ([`Knobs::cache_invalid`]), so a
//!   page touched while unmapped and then mapped without a flush still
//!   faults.
//! * Invalidation (§M5) is whole-stream: T8020 STREAM_SELECT bitmap +
//!   STREAM_COMMAND.INVALIDATE, T8110 TLB_OP OP 0 (all) / OP 1 (one SID).
//!   The command reads BUSY for [`Knobs::busy_polls`] reads; the flush takes
//!   effect on the read that sees BUSY clear (or at [`DartModel::settle`]),
//!   so entries stay stale until then.
//! * Faults (§M6) latch ERROR (FLAG, SID, one code bit, direction) and
//!   ERROR_ADDR while FLAG is clear; ERROR is write-1-to-clear; the IRQ
//!   line follows FLAG.
//! * The lock (§M7) drops writes to TCR/TTBR (T8110 also 0x4xx / TZ by
//!   their bits) and records each one; flushes, stream enables and the
//!   error registers keep working.

mod record;
pub mod regs;
mod variant;

pub use record::{
    BlockKind, Cached, FaultEvent, FlushDone, FlushScope, Misuse, TlbEntry, WalkEntry,
};
pub use variant::{Knobs, Layout, TcrOff, Variant, Window, T6000, T8103, T8110};

use crate::mm::host_ram;
use crate::mmio::{RegisterModel, Width};
use crate::testkit::cache::StaleCache;
use crate::testkit::master::Translate;
use crate::testkit::walk_dart::{DartFault, DartLevel, DartWalk};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Ref, RefCell, RefMut};
use regs::{params, t8020, t8110, SPACE};

/// One DART instance.
#[derive(Debug)]
pub struct DartModel {
    /// The DART modelled.
    pub variant: Variant,
    /// Model choices.
    pub knobs: Knobs,
    windows: Vec<Window>,
    /// Register storage, one word per offset / 4.
    words: Vec<u32>,
    /// Enabled streams, bit n of word n / 32 (T8020: word 0 is 0x0FC).
    enabled: [u32; 8],
    /// T8110 PROTECT_LOCK written.
    protect_locked: bool,
    /// The command in flight: (reads left that see BUSY, scope).
    busy: Option<(u32, FlushScope)>,
    tlb: StaleCache<u32, TlbEntry>,
    walk_cache: StaleCache<u32, WalkEntry>,
    misuse: Vec<Misuse>,
    faults: Vec<FaultEvent>,
    flushes: Vec<FlushDone>,
}

impl DartModel {
    /// A DART of `variant` after reset, with bus = host addresses until a
    /// window is mapped.
    pub fn new(variant: Variant, knobs: Knobs) -> Self {
        let mut m = Self {
            variant,
            knobs,
            windows: Vec::new(),
            words: vec![0; SPACE / 4],
            enabled: [0; 8],
            protect_locked: false,
            busy: None,
            tlb: StaleCache::new(),
            walk_cache: StaleCache::new(),
            misuse: Vec::new(),
            faults: Vec::new(),
            flushes: Vec::new(),
        };
        m.reset();
        m
    }

    /// Adds a bus-to-host window; the first window mapped replaces the
    /// identity mapping.
    pub fn map_window(&mut self, w: Window) {
        self.windows.push(w);
    }

    /// With `w` mapped.
    pub fn with_window(mut self, w: Window) -> Self {
        self.map_window(w);
        self
    }

    /// A power cycle: registers, lock, caches and the command in flight
    /// back to reset (records are kept).
    pub fn reset(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        let e = self.knobs.enabled_at_reset;
        self.enabled = [0; 8];
        self.enabled[0] = e as u32;
        self.enabled[1] = (e >> 32) as u32;
        self.protect_locked = false;
        self.busy = None;
        self.tlb.clear();
        self.walk_cache.clear();
    }

    // ---- inspection ----

    /// Everything the driver did that the sources rule out, oldest first.
    pub fn misuse(&self) -> &[Misuse] {
        &self.misuse
    }

    /// Forgets the misuse recorded so far.
    pub fn clear_misuse(&mut self) {
        self.misuse.clear();
    }

    /// Every blocked transaction, oldest first.
    pub fn faults(&self) -> &[FaultEvent] {
        &self.faults
    }

    /// Every completed invalidation, oldest first.
    pub fn flushes(&self) -> &[FlushDone] {
        &self.flushes
    }

    /// Stream `sid`'s TLB entries, oldest first.
    pub fn tlb_entries(&self, sid: u32) -> Vec<TlbEntry> {
        self.tlb
            .entries()
            .filter(|(s, _)| *s == sid)
            .map(|(_, e)| e)
            .collect()
    }

    /// Stream `sid`'s TLB entry for `iova`'s page (after the width rule).
    pub fn tlb_entry(&self, sid: u32, iova: u64) -> Option<TlbEntry> {
        let page = self.walker(sid).effective_iova(iova).ok()? >> 14;
        self.tlb
            .find(|s, e| *s == sid && e.page == page)
            .map(|(_, e)| e)
    }

    /// Stream `sid`'s cached L0/L1 entries.
    pub fn walk_entries(&self, sid: u32) -> Vec<WalkEntry> {
        self.walk_cache
            .entries()
            .filter(|(s, _)| *s == sid)
            .map(|(_, e)| e)
            .collect()
    }

    /// The ERROR register.
    pub fn error(&self) -> u32 {
        self.word(self.error_off())
    }

    /// ERROR_ADDR_HI:LO.
    pub fn error_addr(&self) -> u64 {
        let (lo, hi) = self.error_addr_offs();
        u64::from(self.word(hi)) << 32 | u64::from(self.word(lo))
    }

    /// The (level-high) interrupt line: ERROR.FLAG.
    pub fn irq_pending(&self) -> bool {
        self.error() & t8020::ERR_FLAG != 0
    }

    /// TCR/TTBR are locked (T8020 CONFIG.LOCK, T8110 PROTECT bit 0).
    pub fn locked(&self) -> bool {
        match self.variant.layout {
            Layout::T8020 => self.word(t8020::CONFIG) & t8020::CONFIG_LOCK != 0,
            Layout::T8110 => self.word(t8110::PROTECT) & t8110::PROTECT_TCR_TTBR != 0,
        }
    }

    /// A command is in flight.
    pub fn busy(&self) -> bool {
        self.busy.is_some()
    }

    /// Register `off` as stored, without a read's side effects (PARAMS,
    /// busy bits and stream banks as a read would show them).
    pub fn peek(&self, off: usize) -> u32 {
        match self.special_read(off) {
            Some(v) => v,
            None => self.word(off),
        }
    }

    /// Stream `sid`'s TCR.
    pub fn tcr(&self, sid: u32) -> u32 {
        self.word(self.tcr_off(sid))
    }

    /// Stream `sid`'s TTBR `index`.
    pub fn ttbr(&self, sid: u32, index: usize) -> u32 {
        self.word(self.ttbr_off(sid, index))
    }

    /// Stream `sid` is enabled.
    pub fn stream_enabled(&self, sid: u32) -> bool {
        sid < 256 && self.enabled[(sid / 32) as usize] & (1 << (sid % 32)) != 0
    }

    // ---- boot state and time ----

    /// Sets the layout's lock bit, as a boot loader does (m1n1's
    /// `dart_lock_adt`).
    pub fn lock(&mut self) {
        match self.variant.layout {
            Layout::T8020 => {
                self.set_word(t8020::CONFIG, self.word(t8020::CONFIG) | t8020::CONFIG_LOCK)
            }
            Layout::T8110 => self.set_word(
                t8110::PROTECT,
                self.word(t8110::PROTECT) | t8110::PROTECT_TCR_TTBR,
            ),
        }
    }

    /// Time passes: the command in flight completes.
    pub fn settle(&mut self) {
        if let Some((_, scope)) = self.busy.take() {
            self.complete(scope);
        }
    }

    // ---- storage ----

    fn word(&self, off: usize) -> u32 {
        self.words.get(off / 4).copied().unwrap_or(0)
    }

    fn set_word(&mut self, off: usize, v: u32) {
        if let Some(w) = self.words.get_mut(off / 4) {
            *w = v;
        }
    }

    fn error_off(&self) -> usize {
        match self.variant.layout {
            Layout::T8020 => t8020::ERROR,
            Layout::T8110 => t8110::ERROR,
        }
    }

    fn error_addr_offs(&self) -> (usize, usize) {
        match self.variant.layout {
            Layout::T8020 => (t8020::ERROR_ADDR_LO, t8020::ERROR_ADDR_HI),
            Layout::T8110 => (t8110::ERROR_ADDR_LO, t8110::ERROR_ADDR_HI),
        }
    }

    fn tcr_off(&self, sid: u32) -> usize {
        match self.variant.layout {
            Layout::T8020 => t8020::TCR + 4 * sid as usize,
            Layout::T8110 => t8110::TCR + 4 * sid as usize,
        }
    }

    fn ttbr_off(&self, sid: u32, index: usize) -> usize {
        match self.variant.layout {
            Layout::T8020 => t8020::TTBR + 16 * sid as usize + 4 * index,
            Layout::T8110 => t8110::TTBR + 4 * sid as usize,
        }
    }

    /// The SID whose TCR is at `off`, if `off` is one.
    fn tcr_sid(&self, off: usize) -> Option<u32> {
        let base = match self.variant.layout {
            Layout::T8020 => t8020::TCR,
            Layout::T8110 => t8110::TCR,
        };
        let k = off.checked_sub(base)? / 4;
        (k < self.variant.sids as usize).then_some(k as u32)
    }

    /// The (SID, index) whose TTBR is at `off`, if `off` is one.
    fn ttbr_slot(&self, off: usize) -> Option<(u32, usize)> {
        let (base, per) = match self.variant.layout {
            Layout::T8020 => (t8020::TTBR, 16),
            Layout::T8110 => (t8110::TTBR, 4),
        };
        let k = off.checked_sub(base)?;
        let sid = k / per;
        (sid < self.variant.sids as usize).then_some((sid as u32, (k % per) / 4))
    }

    fn tcr_bits(&self) -> (u32, u32) {
        match self.variant.layout {
            Layout::T8020 => (t8020::TCR_TRANSLATE, t8020::TCR_BYPASS_DART),
            Layout::T8110 => (t8110::TCR_TRANSLATE, t8110::TCR_BYPASS_DART),
        }
    }

    fn translating(&self, sid: u32) -> bool {
        let (tr, byp) = self.tcr_bits();
        let tcr = self.tcr(sid);
        self.stream_enabled(sid) && tcr & tr != 0 && tcr & byp == 0
    }

    // ---- register reads ----

    /// Reads that are not plain storage (no side effects).
    fn special_read(&self, off: usize) -> Option<u32> {
        match off {
            params::P0 => return Some(self.variant.params1),
            params::P4 => return Some(self.variant.params2),
            _ => {}
        }
        match self.variant.layout {
            Layout::T8020 => match off {
                t8020::STREAM_COMMAND => Some(if self.busy.is_some() {
                    t8020::CMD_INVALIDATE | t8020::CMD_BUSY
                } else {
                    0
                }),
                t8020::ENABLED_STREAMS => Some(self.enabled[0]),
                _ => None,
            },
            Layout::T8110 => match off {
                params::P8 => Some(self.variant.params3),
                params::PC => Some(self.variant.params4),
                t8110::TLB_OP => {
                    let busy = if self.busy.is_some() {
                        t8110::OP_BUSY
                    } else {
                        0
                    };
                    Some(busy | (self.word(off) & 0x7ff))
                }
                0xc00..=0xc3c => Some(self.enabled[(off & 0x1f) / 4]),
                _ => None,
            },
        }
    }

    fn read32(&mut self, off: usize) -> u32 {
        let command = match self.variant.layout {
            Layout::T8020 => t8020::STREAM_COMMAND,
            Layout::T8110 => t8110::TLB_OP,
        };
        if off == command {
            self.poll();
        }
        if self.variant.layout == Layout::T8110 && off == t8110::PERF_INTR_ENABLE {
            self.misuse.push(Misuse::PolledWrongOffset { off });
        }
        self.peek(off)
    }

    /// A read of the command register: one fewer BUSY read left; the read
    /// that finds none left completes the command.
    fn poll(&mut self) {
        match self.busy {
            Some((0, scope)) => {
                self.busy = None;
                self.complete(scope);
            }
            Some((n, scope)) => self.busy = Some((n - 1, scope)),
            None => {}
        }
    }

    // ---- register writes ----

    fn write32(&mut self, off: usize, v: u32) {
        match off {
            params::P0 | params::P4 => return self.misuse.push(Misuse::ReadOnly { off }),
            params::P8 | params::PC if self.variant.layout == Layout::T8110 => {
                return self.misuse.push(Misuse::ReadOnly { off })
            }
            _ => {}
        }
        if let Some(sid) = self.tcr_sid(off) {
            return self.write_tcr(sid, off, v);
        }
        if let Some((sid, index)) = self.ttbr_slot(off) {
            return self.write_ttbr(sid, index, off, v);
        }
        match self.variant.layout {
            Layout::T8020 => self.write_t8020(off, v),
            Layout::T8110 => self.write_t8110(off, v),
        }
    }

    fn write_tcr(&mut self, sid: u32, off: usize, v: u32) {
        if self.locked() {
            return self.misuse.push(Misuse::WhileLocked { off, value: v });
        }
        let (tr, byp) = self.tcr_bits();
        let mut v = v;
        if v & byp != 0 && !self.variant.bypass_supported() {
            self.misuse
                .push(Misuse::BypassUnsupported { sid, value: v });
            v &= !byp;
        }
        if self.variant.layout == Layout::T8110
            && v & t8110::TCR_FOUR_LEVELS != 0
            && !self.variant.four_levels
        {
            self.misuse.push(Misuse::FourLevelsUnsupported { sid });
            v &= !t8110::TCR_FOUR_LEVELS;
        }
        if v & tr != 0 && v & byp != 0 {
            self.misuse.push(Misuse::InvalidTcr { sid, value: v });
        }
        self.set_word(off, v);
    }

    fn write_ttbr(&mut self, sid: u32, index: usize, off: usize, v: u32) {
        if self.locked() {
            return self.misuse.push(Misuse::WhileLocked { off, value: v });
        }
        let old = self.word(off);
        let was_valid = match self.variant.layout {
            Layout::T8020 => old & t8020::TTBR_VALID != 0,
            Layout::T8110 => old & t8110::TTBR_VALID != 0,
        };
        if was_valid && old != v && self.translating(sid) {
            self.misuse.push(Misuse::TtbrWhileTranslating {
                sid,
                index,
                value: v,
            });
        }
        self.set_word(off, v);
    }

    fn start(&mut self, scope: FlushScope) {
        if self.knobs.busy_polls == 0 {
            self.complete(scope);
        } else {
            self.busy = Some((self.knobs.busy_polls, scope));
        }
    }

    fn complete(&mut self, scope: FlushScope) {
        let tlb_dropped = self.tlb.invalidate(|s, _| scope.covers(*s));
        let walk_dropped = self.walk_cache.invalidate(|s, _| scope.covers(*s));
        self.flushes.push(FlushDone {
            scope,
            tlb_dropped,
            walk_dropped,
        });
    }

    fn write_t8020(&mut self, off: usize, v: u32) {
        match off {
            t8020::STREAM_COMMAND => {
                if self.busy.is_some() {
                    self.misuse.push(Misuse::CommandWhileBusy { value: v });
                } else if v == t8020::CMD_INVALIDATE {
                    let select = self.word(t8020::STREAM_SELECT);
                    self.start(FlushScope::Select(select));
                } else if v != 0 {
                    self.misuse.push(Misuse::UnknownCommand { value: v });
                }
            }
            t8020::STREAM_SELECT => {
                if self.busy.is_some() {
                    self.misuse.push(Misuse::SelectWhileBusy { value: v });
                }
                self.set_word(off, v);
            }
            t8020::ERROR => {
                let e = self.word(off) & !v;
                self.set_word(off, e);
            }
            t8020::ERROR_ADDR_LO | t8020::ERROR_ADDR_HI => {
                self.misuse.push(Misuse::ReadOnly { off });
            }
            t8020::CONFIG => {
                let old = self.word(off);
                let mut new = v;
                if old & t8020::CONFIG_LOCK != 0 {
                    if v & t8020::CONFIG_LOCK == 0 {
                        self.misuse.push(Misuse::Unlock { off, value: v });
                    }
                    new |= t8020::CONFIG_LOCK;
                }
                self.set_word(off, new);
            }
            t8020::ENABLED_STREAMS => self.enabled[0] = v,
            // The T8110 command, and the T8110 stream-enable and TCR/TTBR
            // banks (beyond every T8020 SID's registers).
            t8020::REMAP0 | 0xc00..=0xc3c | 0x1000..=0x17fc => {
                self.misuse.push(Misuse::OtherLayout { off, value: v });
                self.set_word(off, v);
            }
            _ => self.set_word(off, v),
        }
    }

    fn write_t8110(&mut self, off: usize, v: u32) {
        let protect = self.word(t8110::PROTECT);
        match off {
            t8110::TLB_OP => {
                if self.busy.is_some() {
                    return self.misuse.push(Misuse::CommandWhileBusy { value: v });
                }
                let op = (v >> t8110::OP_SHIFT) & 7;
                let sid = v & 0xff;
                if v & !0x7ff != 0 || op > t8110::OP_FLUSH_SID {
                    return self.misuse.push(Misuse::UnknownCommand { value: v });
                }
                self.set_word(off, v & 0x7ff);
                if op == t8110::OP_FLUSH_ALL {
                    self.start(FlushScope::All);
                } else {
                    if sid >= self.variant.sids {
                        self.misuse.push(Misuse::NoSuchStream { sid });
                    }
                    self.start(FlushScope::One(sid));
                }
            }
            t8110::ERROR => {
                if v != 0 && v & t8110::ERR_FLAG == 0 {
                    self.misuse.push(Misuse::NotAnErrorClear { value: v });
                }
                let e = self.word(off) & !v;
                self.set_word(off, e);
            }
            t8110::ERROR_ADDR_LO | t8110::ERROR_ADDR_HI => {
                self.misuse.push(Misuse::ReadOnly { off });
            }
            0x1c0..=0x1dc => {
                let e = self.word(off) & !v;
                self.set_word(off, e);
            }
            t8110::PROTECT => self.set_word(off, protect | (v & t8110::PROTECT_BITS)),
            t8110::UNPROTECT => {
                if self.protect_locked {
                    self.misuse.push(Misuse::Unlock { off, value: v });
                } else {
                    self.set_word(t8110::PROTECT, protect & !v);
                }
            }
            t8110::PROTECT_LOCK => {
                if v != 0 {
                    self.protect_locked = true;
                }
                self.set_word(off, v);
            }
            0x400..=0x410 if protect & t8110::PROTECT_REG_4XX != 0 => {
                self.misuse.push(Misuse::WhileLocked { off, value: v });
            }
            0x500 if protect & t8110::PROTECT_TZ_CONFIG != 0 => {
                self.misuse.push(Misuse::WhileLocked { off, value: v });
            }
            0x504 if protect & t8110::PROTECT_TZ_SELECT != 0 => {
                self.misuse.push(Misuse::WhileLocked { off, value: v });
            }
            0xc00..=0xc1c => self.enabled[(off - t8110::ENABLE_STREAMS) / 4] |= v,
            0xc20..=0xc3c => self.enabled[(off - t8110::DISABLE_STREAMS) / 4] &= !v,
            // The T8020 command, select, error, config and enable registers.
            t8020::STREAM_COMMAND
            | t8020::STREAM_SELECT
            | t8020::ERROR
            | t8020::ERROR_ADDR_LO
            | t8020::ERROR_ADDR_HI
            | t8020::CONFIG
            | t8020::UNK_0F8
            | t8020::ENABLED_STREAMS => {
                self.misuse.push(Misuse::OtherLayout { off, value: v });
                self.set_word(off, v);
            }
            _ => self.set_word(off, v),
        }
    }

    // ---- translation ----

    /// The walk configuration of stream `sid` from its registers.
    pub fn walker(&self, sid: u32) -> DartWalk {
        let mut w = match self.variant.layout {
            Layout::T8020 => DartWalk::t8020(
                self.variant.format,
                [
                    self.ttbr(sid, 0),
                    self.ttbr(sid, 1),
                    self.ttbr(sid, 2),
                    self.ttbr(sid, 3),
                ],
            ),
            Layout::T8110 => DartWalk::t8110(
                self.ttbr(sid, 0),
                self.tcr(sid) & t8110::TCR_FOUR_LEVELS != 0,
            ),
        };
        w.format = self.variant.format;
        w.ignore_high_bits = self.knobs.ignore_high_bits;
        w.dart1_rw_bits = self.knobs.dart1_rw_bits;
        w
    }

    /// Host address of bus address `bus` for `len` bytes, if a window
    /// holds it and host RAM is live there.
    pub fn host(&self, bus: u64, len: u64) -> Option<u64> {
        let host = if self.windows.is_empty() {
            Some(bus)
        } else {
            self.windows.iter().find_map(|w| w.host(bus))
        }?;
        host_ram::live(host, len).then_some(host)
    }

    fn read_entry(&self, at: u64) -> Option<u64> {
        if !at.is_multiple_of(8) {
            return None;
        }
        self.host(at, 8).map(host_ram::read_u64)
    }

    /// The bus address stream `sid`'s access to `iova` reaches, or `None`
    /// when the DART blocks it (and latches whatever it latches).
    pub fn translate_bus(&mut self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        if sid >= self.variant.sids {
            self.misuse.push(Misuse::NoSuchStream { sid });
            return self.block(sid, iova, write, BlockKind::NoSuchStream, None);
        }
        if self.knobs.enable_gates && !self.stream_enabled(sid) {
            return self.block(sid, iova, write, BlockKind::StreamDisabled, None);
        }
        let (tr, byp) = self.tcr_bits();
        let tcr = self.tcr(sid);
        match (tcr & tr != 0, tcr & byp != 0) {
            (true, true) => self.block(sid, iova, write, BlockKind::TcrInvalid, None),
            (false, true) => Some(iova),
            (false, false) => match self.knobs.tcr_off {
                TcrOff::Block => self.block(sid, iova, write, BlockKind::TcrOff, None),
                TcrOff::Fault => {
                    let f = DartFault::NoTtbr { index: 0 };
                    self.block(sid, iova, write, BlockKind::TcrOff, Some(f))
                }
            },
            (true, false) => self.walk(sid, iova, write),
        }
    }

    fn walk(&mut self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        let w = self.walker(sid);
        let eff = match w.effective_iova(iova) {
            Ok(e) => e,
            Err(f) => return self.block(sid, iova, write, BlockKind::Walk(f), Some(f)),
        };
        let page = eff >> 14;
        let hit = self
            .tlb
            .find(|s, e| *s == sid && e.page == page)
            .map(|(_, e)| e.cached);
        let cached = match hit {
            Some(c) => c,
            None => match self.fill(sid, &w, eff, write) {
                Ok(c) => c,
                Err(f) => return self.block(sid, iova, write, BlockKind::Walk(f), Some(f)),
            },
        };
        let result = match cached {
            Cached::Leaf(pte) => w.leaf(pte, eff, write),
            Cached::Stopped(f) => Err(f),
        };
        match result {
            Ok(pa) => Some(pa),
            Err(f) => self.block(sid, iova, write, BlockKind::Walk(f), Some(f)),
        }
    }

    /// A TLB miss: walks the tables (through the walk cache) and caches
    /// the result.  `Err` only when an entry could not be read.
    fn fill(&mut self, sid: u32, w: &DartWalk, eff: u64, write: bool) -> Result<Cached, DartFault> {
        let mut learned = Vec::new();
        let result = {
            let walk_cache = &self.walk_cache;
            let use_cache = self.knobs.walk_cache;
            let this = &*self;
            w.walk(
                |level, at| {
                    if level != DartLevel::L2 && use_cache {
                        if let Some((_, e)) =
                            walk_cache.find(|s, e| *s == sid && e.level == level && e.at == at)
                        {
                            return Some(e.entry);
                        }
                    }
                    let entry = this.read_entry(at)?;
                    if level != DartLevel::L2 && use_cache && entry & 1 != 0 {
                        learned.push(WalkEntry { level, at, entry });
                    }
                    Some(entry)
                },
                eff,
                write,
            )
        };
        for e in learned {
            self.walk_cache.insert(sid, e);
        }
        let cached = match result {
            Ok(done) => Cached::Leaf(done.pte),
            Err(
                DartFault::NoPte { pte }
                | DartFault::ReadProt { pte }
                | DartFault::WriteProt { pte }
                | DartFault::Subpage { pte, .. },
            ) => Cached::Leaf(pte),
            Err(
                f @ (DartFault::NoTtbr { .. } | DartFault::NoPgd { .. } | DartFault::NoPmd { .. }),
            ) => Cached::Stopped(f),
            Err(f @ DartFault::External { at }) => {
                self.misuse.push(Misuse::OutsideRam { at });
                return Err(f);
            }
            Err(f @ DartFault::AddressSize { .. }) => return Err(f),
        };
        let entry = TlbEntry {
            page: eff >> 14,
            cached,
        };
        if entry.valid() || self.knobs.cache_invalid {
            self.tlb.insert(sid, entry);
        }
        Ok(cached)
    }

    /// ERROR code bits for a fault on this layout.
    fn code(&self, f: DartFault, write: bool) -> u32 {
        match self.variant.layout {
            Layout::T8020 => match f {
                DartFault::AddressSize { .. } | DartFault::NoTtbr { .. } => t8020::ERR_NO_TTBR,
                // No L0 on the T8020 layout; kept total.
                DartFault::NoPgd { .. } | DartFault::NoPmd { .. } => t8020::ERR_NO_PMD,
                DartFault::NoPte { .. } => t8020::ERR_NO_PTE,
                DartFault::ReadProt { .. } => t8020::ERR_READ_FAULT,
                DartFault::WriteProt { .. } => t8020::ERR_WRITE_FAULT,
                DartFault::Subpage { .. } => t8020::ERR_SUBPAGE_PROT,
                DartFault::External { .. } => t8020::ERR_PTE_READ_FAULT,
            },
            Layout::T8110 => match f {
                DartFault::AddressSize { .. } | DartFault::NoTtbr { .. } => t8110::ERR_NO_TTBR,
                DartFault::NoPgd { .. } => t8110::ERR_NO_PGD,
                DartFault::NoPmd { .. } => t8110::ERR_NO_PMD,
                DartFault::NoPte { .. } => t8110::ERR_NO_PTE,
                DartFault::ReadProt { .. } => t8110::ERR_READ_FAULT,
                DartFault::WriteProt { .. } => t8110::ERR_WRITE_FAULT,
                DartFault::Subpage { .. } if write => t8110::ERR_WRITE_FAULT,
                DartFault::Subpage { .. } => t8110::ERR_READ_FAULT,
                DartFault::External { .. } => t8110::ERR_AXI_ERROR,
            },
        }
    }

    /// Records a blocked transaction; with `latch`, ERROR and ERROR_ADDR
    /// take it when FLAG is clear (T8110: else SECONDARY is set; the
    /// per-SID ERR_SECONDARY bit is set either way).
    fn block(
        &mut self,
        sid: u32,
        iova: u64,
        write: bool,
        kind: BlockKind,
        latch: Option<DartFault>,
    ) -> Option<u64> {
        let mut latched = false;
        if let Some(f) = latch {
            let off = self.error_off();
            let err = self.word(off);
            let code = self.code(f, write);
            let (flag, wbit, shift, mask) = match self.variant.layout {
                Layout::T8020 => (
                    t8020::ERR_FLAG,
                    t8020::ERR_WRITE,
                    t8020::ERR_SID_SHIFT,
                    t8020::ERR_SID_MASK,
                ),
                Layout::T8110 => (
                    t8110::ERR_FLAG,
                    t8110::ERR_WRITE,
                    t8110::ERR_SID_SHIFT,
                    t8110::ERR_SID_MASK,
                ),
            };
            if err & flag == 0 {
                let dir = if write { wbit } else { 0 };
                self.set_word(off, flag | (sid & mask) << shift | dir | code);
                let (lo, hi) = self.error_addr_offs();
                self.set_word(lo, iova as u32);
                self.set_word(hi, (iova >> 32) as u32);
                latched = true;
            } else if self.variant.layout == Layout::T8110 {
                self.set_word(off, err | t8110::ERR_SECONDARY_BIT);
            }
            if self.variant.layout == Layout::T8110 && sid < 256 {
                let at = t8110::ERR_SECONDARY + 4 * (sid / 32) as usize;
                self.set_word(at, self.word(at) | 1 << (sid % 32));
            }
        }
        self.faults.push(FaultEvent {
            sid,
            iova,
            write,
            kind,
            latched,
        });
        None
    }

    /// The host address stream `sid`'s access to `iova` reaches.
    pub fn translate(&mut self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        let bus = self.translate_bus(sid, iova, write)?;
        match self.host(bus, 1) {
            Some(h) => Some(h),
            None => {
                self.misuse.push(Misuse::OutsideRam { at: bus });
                self.block(sid, iova, write, BlockKind::OutsideRam, None)
            }
        }
    }
}

impl RegisterModel for DartModel {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        if width != Width::W32 || !off.is_multiple_of(4) || off >= SPACE {
            self.misuse.push(Misuse::BadAccess {
                off,
                bytes: width.bytes(),
            });
            return 0;
        }
        u64::from(self.read32(off))
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        if width != Width::W32 || !off.is_multiple_of(4) || off >= SPACE {
            self.misuse.push(Misuse::BadAccess {
                off,
                bytes: width.bytes(),
            });
            return;
        }
        self.write32(off, val as u32);
    }
}

/// A shared handle on one model: the register seam
/// (`ModelMmio::new(dart.clone())`) and the masters
/// (`ModelMaster::new(sid, name, dart.clone())`) reach the same DART.
#[derive(Clone, Debug)]
pub struct Dart(pub Rc<RefCell<DartModel>>);

impl Dart {
    /// A DART of `variant` after reset.
    pub fn new(variant: Variant, knobs: Knobs) -> Self {
        Self::from_model(DartModel::new(variant, knobs))
    }

    /// Shares `model`.
    pub fn from_model(model: DartModel) -> Self {
        Self(Rc::new(RefCell::new(model)))
    }

    /// Looks at the model.
    pub fn model(&self) -> Ref<'_, DartModel> {
        self.0.borrow()
    }

    /// Changes the model (boot state, windows, time).
    pub fn model_mut(&self) -> RefMut<'_, DartModel> {
        self.0.borrow_mut()
    }
}

impl RegisterModel for Dart {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        self.0.borrow_mut().read(off, width)
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.0.borrow_mut().write(off, width, val);
    }
}

impl Translate for Dart {
    /// `stream` is the SID; the result is a host address through the
    /// model's windows.
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        self.0.borrow_mut().translate(stream, iova, write)
    }
}
