//! The DART hardware layer: identification (PARAMS1–4), the lock, reset,
//! per-stream TCR/TTBR programming with read-back, bypass where PARAMS2
//! allows it, the whole-stream TLB invalidation of both layouts with its
//! bounded busy poll, and the latched error register.
//!
//! Sequences follow docs/hw/dart.md §6–§9 (Linux
//! `drivers/iommu/apple-dart.c`, m1n1 `src/dart.c` and its Python register
//! files, U-Boot and OpenBSD).  Every wait is bounded by the clock
//! ([`poll_until`]) and fails with the register and the value last read.
//! A locked DART is never written: every write path checks the lock first
//! and refuses with the register that says so.
#![forbid(unsafe_code)]

use super::regs::*;
use super::sids::SidSet;
use super::variant::{Layout, Variant};
use crate::iommu::pgtable::dart::{
    Dart, DartFormatError, PAGE_SHIFT, THREE_LEVEL_MAX_INPUT, TWO_LEVEL_MAX_INPUT,
};
use crate::iommu::{IommuError, StreamId};
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// How long one invalidation may stay busy.  Linux polls 100 µs in 1 µs
/// steps and m1n1 100 × 1 µs (docs/hw/dart.md §7); a timeout here is a
/// reported failure, not a hang, so the bound is ten times theirs to leave
/// room for a slow bus.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(1);

/// Bytes of `reg` the binding requires (Linux refuses a smaller block;
/// the T8110 TTBR array ends at 0x1800).
pub const REG_SPAN: u64 = 0x4000;

/// What went wrong, naming the register and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DartError {
    /// PARAMS1/2 read like nothing is there (unpowered, or a wrong `reg`).
    DeadBlock {
        /// PARAMS1.
        params1: u32,
        /// PARAMS2.
        params2: u32,
    },
    /// The page size is not the 16 KiB every source uses.
    PageSize {
        /// PARAMS1 \[27:24\].
        shift: u32,
    },
    /// T8110 PARAMS3/4 give a geometry the driver cannot use.
    Geometry {
        /// PARAMS3.
        params3: u32,
        /// PARAMS4.
        params4: u32,
        /// What the codec said.
        why: DartFormatError,
    },
    /// T8110 PARAMS4 reports no streams, or more than 256.
    StreamCount {
        /// PARAMS4.
        params4: u32,
    },
    /// The DART is locked (T8020 CONFIG bit 15, T8110 PROTECT bit 0):
    /// TCR and TTBR writes are ignored until reset, so nothing is written.
    Locked {
        /// The lock register's name.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// What it read.
        value: u32,
    },
    /// A busy bit stayed set.
    Busy {
        /// Register name.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// What it read last.
        value: u32,
    },
    /// A register did not take the value written.
    NotTaken {
        /// Register name.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// Written.
        wrote: u32,
        /// Read back.
        read: u32,
    },
    /// No such stream on this DART.
    NoSuchStream {
        /// The stream asked for.
        sid: u32,
        /// Streams the DART has.
        sids: u32,
    },
    /// Bypass is not available: PARAMS2 bit 0 clear, or the variant
    /// forbids it (USB4 DARTs).
    BypassUnsupported {
        /// PARAMS2.
        params2: u32,
        /// The variant forbids it whatever PARAMS2 says.
        forbidden: bool,
    },
    /// A table the TTBR cannot hold: not 16 KiB aligned, or beyond the
    /// TTBR's address field.
    BadTable {
        /// Its bus address.
        root: u64,
        /// The first address the field cannot hold.
        limit: u64,
    },
}

impl fmt::Display for DartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeadBlock { params1, params2 } => write!(
                f,
                "registers read as a dead block (PARAMS1 {params1:#x}, PARAMS2 {params2:#x}): powered down, or a wrong reg"
            ),
            Self::PageSize { shift } => write!(
                f,
                "PARAMS1 page shift {shift}: the driver knows 16 KiB pages (shift 14) only"
            ),
            Self::Geometry {
                params3,
                params4,
                why,
            } => write!(
                f,
                "PARAMS3 {params3:#x} / PARAMS4 {params4:#x}: {why}"
            ),
            Self::StreamCount { params4 } => write!(
                f,
                "PARAMS4 {params4:#x}: NUM_SIDS must be 1..=256"
            ),
            Self::Locked { reg, offset, value } => write!(
                f,
                "locked by the boot loader ({reg} {offset:#05x} = {value:#x}): TCR and TTBR cannot be written until reset"
            ),
            Self::Busy { reg, offset, value } => write!(
                f,
                "{reg} ({offset:#05x}) still busy after {} us: reads {value:#x}",
                BUSY_TIMEOUT.as_micros()
            ),
            Self::NotTaken {
                reg,
                offset,
                wrote,
                read,
            } => write!(f, "{reg} ({offset:#06x}): wrote {wrote:#x}, reads {read:#x}"),
            Self::NoSuchStream { sid, sids } => {
                write!(f, "stream {sid}: this DART has {sids} streams")
            }
            Self::BypassUnsupported { params2, forbidden } => {
                if *forbidden {
                    write!(f, "bypass refused: this DART variant never bypasses (PARAMS2 {params2:#x})")
                } else {
                    write!(f, "bypass refused: PARAMS2 {params2:#x} bit 0 (bypass supported) is clear")
                }
            }
            Self::BadTable { root, limit } => write!(
                f,
                "table at {root:#x} cannot go in a TTBR (16 KiB aligned, below {limit:#x})"
            ),
        }
    }
}

impl From<DartError> for IommuError {
    fn from(e: DartError) -> Self {
        match e {
            DartError::Busy { offset, value, .. } => IommuError::RegisterTimeout {
                offset,
                value: u64::from(value),
                mask: u64::from(value),
                expected: 0,
            },
            DartError::NotTaken { offset, read, .. } => IommuError::CommandError {
                offset,
                value: u64::from(read),
            },
            DartError::Locked { offset, value, .. } => IommuError::CommandError {
                offset,
                value: u64::from(value),
            },
            DartError::NoSuchStream { sid, .. } => IommuError::NoSuchStream {
                stream: StreamId(sid),
            },
            DartError::DeadBlock { params1, .. } => IommuError::Unsupported {
                value: u64::from(params1),
            },
            DartError::PageSize { shift } => IommuError::Unsupported {
                value: u64::from(shift),
            },
            DartError::Geometry { params3, .. } => IommuError::Unsupported {
                value: u64::from(params3),
            },
            DartError::StreamCount { params4 } => IommuError::Unsupported {
                value: u64::from(params4),
            },
            DartError::BypassUnsupported { params2, .. } => IommuError::Unsupported {
                value: u64::from(params2),
            },
            DartError::BadTable { root, .. } => IommuError::Unsupported { value: root },
        }
    }
}

/// Driver bugs the host tests switch on to show a case catches each
/// (issue 14 "Done when"); all off in a real driver, and absent from the
/// image (`cfg(test)`).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// No flush after a map (`sync_map` does nothing): an invalid entry
    /// the DART cached before the map stays.
    pub no_flush_after_map: bool,
    /// Every flush names the neighbouring stream (SID ^ 1) instead.
    pub flush_wrong_stream: bool,
    /// The T8110 TLB_OP command is written to the T8020 STREAM_COMMAND
    /// offset (0x020) and polled there.
    pub t8110_command_at_t8020_offset: bool,
    /// The lock is not checked: a locked DART is reset and reprogrammed.
    pub ignore_lock: bool,
}

/// What the ID registers say (docs/hw/dart.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident {
    /// PARAMS1.
    pub params1: u32,
    /// PARAMS2.
    pub params2: u32,
    /// T8110 PARAMS3 / PARAMS4.
    pub params34: Option<(u32, u32)>,
    /// Streams this driver uses (T8020: the variant's; T8110: PARAMS4).
    pub sids: u32,
    /// PARAMS2 bit 0.
    pub bypass: bool,
    /// The table format the DART walks: levels, IOVA and output sizes.
    pub format: Dart,
    /// The lock, when set: (register, offset, value).
    pub lock: Option<(&'static str, usize, u32)>,
}

/// What one stream is programmed to (read back, never assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamState {
    /// TCR.
    pub tcr: u32,
    /// TTBR 0 (T8110: the only one).
    pub ttbr0: u32,
}

/// One latched error (docs/hw/dart.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorRecord {
    /// ERROR as read.
    pub raw: u32,
    /// The faulting stream.
    pub sid: u32,
    /// The code bits (T8020 \[23:0\], T8110 \[14:0\]).
    pub code: u32,
    /// ERROR_ADDR_HI:LO.
    pub iova: u64,
}

/// The hardware layer of one DART.
pub struct DartHw<M: Mmio> {
    regs: Regs<M>,
    variant: Variant,
    clock: &'static dyn Clock,
    ident: Ident,
    /// Test-only driver bugs.
    #[cfg(test)]
    pub bugs: Bugs,
}

impl<M: Mmio> DartHw<M> {
    /// Reads the ID registers and the lock; writes nothing.
    pub fn identify(
        regs: Regs<M>,
        variant: Variant,
        clock: &'static dyn Clock,
    ) -> Result<Self, DartError> {
        let params1 = regs.get(R_PARAMS1);
        let params2 = regs.get(R_PARAMS2);
        let shift = regs.read(R_PARAMS1).read(PARAMS1::PAGE_SHIFT);
        if params1 == u32::MAX || (params1 == 0 && params2 == 0) {
            return Err(DartError::DeadBlock { params1, params2 });
        }
        if shift != PAGE_SHIFT {
            return Err(DartError::PageSize { shift });
        }
        let (sids, params34, format) = match variant.layout {
            Layout::T8020 => {
                let format =
                    Dart::new(variant.pte, 2, variant.ias, variant.oas).map_err(|why| {
                        DartError::Geometry {
                            params3: 0,
                            params4: 0,
                            why,
                        }
                    })?;
                (variant.max_sids, None, format)
            }
            Layout::T8110 => {
                let p3 = regs.read(t8110::PARAMS3);
                let p4 = regs.read(t8110::PARAMS4);
                let (params3, params4) = (p3.get(), p4.get());
                let sids = p4.read(PARAMS4::NUM_SIDS);
                if sids == 0 || sids > variant.max_sids {
                    return Err(DartError::StreamCount { params4 });
                }
                // IAS above 36 needs the extra level (Linux, OpenBSD);
                // the walk covers at most 47 bits.
                let va = p3.read(PARAMS3::VA_WIDTH);
                let levels = if va > TWO_LEVEL_MAX_INPUT { 3 } else { 2 };
                let ias = va.min(THREE_LEVEL_MAX_INPUT);
                let oas = p3.read(PARAMS3::PA_WIDTH).min(variant.oas);
                let format = Dart::new(variant.pte, levels, ias, oas).map_err(|why| {
                    DartError::Geometry {
                        params3,
                        params4,
                        why,
                    }
                })?;
                (sids, Some((params3, params4)), format)
            }
        };
        let mut hw = Self {
            regs,
            variant,
            clock,
            ident: Ident {
                params1,
                params2,
                params34,
                sids,
                bypass: params2 & 1 != 0,
                format,
                lock: None,
            },
            #[cfg(test)]
            bugs: Bugs::default(),
        };
        hw.ident.lock = hw.read_lock();
        Ok(hw)
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// What identification found.
    pub fn ident(&self) -> Ident {
        self.ident
    }

    /// The registers.
    pub fn regs(&self) -> &Regs<M> {
        &self.regs
    }

    /// The lock register, read now: `Some((name, offset, value))` when set
    /// (T8020 CONFIG bit 15, T8110 PROTECT bit 0; docs/hw/dart.md §9).
    pub fn read_lock(&self) -> Option<(&'static str, usize, u32)> {
        let (name, offset, value, set) = match self.variant.layout {
            Layout::T8020 => {
                let v = self.regs.read(t8020::CONFIG);
                let r = t8020::CONFIG;
                (r.name, r.offset, v.get(), v.is_set(CONFIG::LOCK))
            }
            Layout::T8110 => {
                let v = self.regs.read(t8110::PROTECT);
                let r = t8110::PROTECT;
                (r.name, r.offset, v.get(), v.is_set(PROTECT::LOCK_TCR_TTBR))
            }
        };
        set.then_some((name, offset, value))
    }

    /// The lock register, whatever it holds: (name, offset, value).
    pub fn lock_register(&self) -> (&'static str, usize, u32) {
        match self.variant.layout {
            Layout::T8020 => (
                t8020::CONFIG.name,
                t8020::CONFIG.offset,
                self.regs.get(t8020::CONFIG),
            ),
            Layout::T8110 => (
                t8110::PROTECT.name,
                t8110::PROTECT.offset,
                self.regs.get(t8110::PROTECT),
            ),
        }
    }

    /// Streams the boot loader left translating: TCR with TRANSLATE set and
    /// a valid TTBR (any of the four on the T8020 layout).  OpenBSD (rev
    /// 1.16) leaves such a DART alone — "resetting the DART used for the
    /// display controller will kill the framebuffer" (docs/hw/dart.md §9).
    pub fn streams_in_use(&self) -> Vec<(u32, StreamState)> {
        let mut out = Vec::new();
        for sid in 0..self.ident.sids {
            let s = self.stream_state(sid);
            let (translate, valid) = match self.variant.layout {
                Layout::T8020 => (
                    s.tcr & TCR_T8020::TRANSLATE_ENABLE::SET.value != 0,
                    (0..self.variant.ttbrs).any(|i| {
                        self.regs.get(t8020::ttbr(self.variant.ttbr_base, sid, i))
                            & TTBR_T8020::VALID::SET.value
                            != 0
                    }),
                ),
                Layout::T8110 => (
                    s.tcr & TCR_T8110::TRANSLATE_ENABLE::SET.value != 0,
                    s.ttbr0 & TTBR_T8110::VALID::SET.value != 0,
                ),
            };
            if translate && valid {
                out.push((sid, s));
            }
        }
        out
    }

    /// `Err(Locked)` when the DART is locked (checked before every write
    /// to TCR or TTBR).
    fn check_unlocked(&self) -> Result<(), DartError> {
        #[cfg(test)]
        if self.bugs.ignore_lock {
            return Ok(());
        }
        match self.read_lock() {
            Some((reg, offset, value)) => Err(DartError::Locked { reg, offset, value }),
            None => Ok(()),
        }
    }

    fn check_sid(&self, sid: u32) -> Result<(), DartError> {
        if sid < self.ident.sids {
            Ok(())
        } else {
            Err(DartError::NoSuchStream {
                sid,
                sids: self.ident.sids,
            })
        }
    }

    /// Every stream of this DART.
    pub fn all_sids(&self) -> SidSet {
        SidSet::first(self.ident.sids)
    }

    /// What stream `sid` is programmed to now.
    pub fn stream_state(&self, sid: u32) -> StreamState {
        match self.variant.layout {
            Layout::T8020 => StreamState {
                tcr: self.regs.get(t8020::tcr(sid)),
                ttbr0: self.regs.get(t8020::ttbr(self.variant.ttbr_base, sid, 0)),
            },
            Layout::T8110 => StreamState {
                tcr: self.regs.get(t8110::tcr(sid)),
                ttbr0: self.regs.get(t8110::ttbr(sid)),
            },
        }
    }

    /// Reset (docs/hw/dart.md §6; Linux `apple_dart_hw_reset`, U-Boot and
    /// OpenBSD alike): refused on a locked DART; every TCR 0 (blocked),
    /// every TTBR 0, every stream enabled (Linux: "TCR controls
    /// isolation"), the latched error cleared, on T8110 ERROR_MASK 0 and
    /// the error-stream words cleared, then the whole TLB flushed.
    pub fn reset(&mut self) -> Result<(), DartError> {
        self.check_unlocked()?;
        for sid in 0..self.ident.sids {
            self.write_tcr(sid, 0);
            for idx in 0..self.variant.ttbrs {
                self.write_ttbr(sid, idx, 0);
            }
        }
        let words = super::variant::Variant::words(self.ident.sids);
        match self.variant.layout {
            Layout::T8020 => {
                for i in 0..words {
                    let mask = SidSet::first(self.ident.sids).word(i);
                    self.regs
                        .set(t8020::streams_enable(self.variant.enable_base, i), mask);
                }
            }
            Layout::T8110 => {
                for i in 0..words {
                    self.regs
                        .set(t8110::enable_streams(i), self.all_sids().word(i));
                }
                self.regs.set(t8110::ERROR_MASK, 0);
            }
        }
        self.clear_error();
        self.flush_all().map(|_| ())
    }

    fn write_tcr(&self, sid: u32, v: u32) {
        match self.variant.layout {
            Layout::T8020 => self.regs.set(t8020::tcr(sid), v),
            Layout::T8110 => self.regs.set(t8110::tcr(sid), v),
        }
    }

    fn write_ttbr(&self, sid: u32, idx: usize, v: u32) {
        match self.variant.layout {
            Layout::T8020 => self
                .regs
                .set(t8020::ttbr(self.variant.ttbr_base, sid, idx), v),
            Layout::T8110 => self.regs.set(t8110::ttbr(sid), v),
        }
    }

    fn check_taken(&self, sid: u32, want: StreamState) -> Result<(), DartError> {
        let got = self.stream_state(sid);
        let (tcr, ttbr) = match self.variant.layout {
            Layout::T8020 => (
                t8020::tcr(sid).offset,
                t8020::ttbr(self.variant.ttbr_base, sid, 0).offset,
            ),
            Layout::T8110 => (t8110::tcr(sid).offset, t8110::ttbr(sid).offset),
        };
        if got.ttbr0 != want.ttbr0 {
            return Err(DartError::NotTaken {
                reg: "TTBR",
                offset: ttbr,
                wrote: want.ttbr0,
                read: got.ttbr0,
            });
        }
        if got.tcr != want.tcr {
            return Err(DartError::NotTaken {
                reg: "TCR",
                offset: tcr,
                wrote: want.tcr,
                read: got.tcr,
            });
        }
        Ok(())
    }

    /// The TTBR value for a table at `root`: T8020 VALID \[31\] | PA >> 12
    /// (4 KiB aligned, 43 bits); T8110 VALID \[0\] | (PA >> 14) << 2 (16 KiB
    /// aligned, 42 bits) — both equal `PA >> 12` plus the valid bit for a
    /// 16 KiB-aligned table (docs/hw/dart.md §3, §4).
    pub fn ttbr_value(&self, root: u64) -> Result<u32, DartError> {
        let limit = match self.variant.layout {
            Layout::T8020 => 1u64 << 43,
            Layout::T8110 => 1u64 << 42,
        };
        if !root.is_multiple_of(1 << PAGE_SHIFT) || root >= limit {
            return Err(DartError::BadTable { root, limit });
        }
        Ok(match self.variant.layout {
            Layout::T8020 => {
                (TTBR_T8020::VALID::SET + TTBR_T8020::ADDR.val((root >> 12) as u32)).value
            }
            Layout::T8110 => {
                (TTBR_T8110::VALID::SET + TTBR_T8110::ADDR.val((root >> 14) as u32)).value
            }
        })
    }

    /// The TCR value that translates through `format`'s tables.
    pub fn tcr_translate(&self, format: &Dart) -> u32 {
        match self.variant.layout {
            Layout::T8020 => TCR_T8020::TRANSLATE_ENABLE::SET.value,
            Layout::T8110 if format.three_level() => {
                (TCR_T8110::TRANSLATE_ENABLE::SET + TCR_T8110::FOUR_LEVEL::SET).value
            }
            Layout::T8110 => TCR_T8110::TRANSLATE_ENABLE::SET.value,
        }
    }

    /// Points stream `sid` at the table at `root` (docs/hw/dart.md §6;
    /// Linux `apple_dart_setup_translation`): TTBR0 ← the table, the other
    /// TTBRs of the T8020 layout cleared (this driver's IOVAs all have TTBR
    /// index 0), TCR ← translate (+ FOUR_LEVEL for the three-level walk);
    /// both read back.  The flush that must follow is the caller's (it is
    /// an invalidation the self-test may hold).
    pub fn program_stream(&mut self, sid: u32, root: u64, format: &Dart) -> Result<(), DartError> {
        self.check_sid(sid)?;
        self.check_unlocked()?;
        let ttbr0 = self.ttbr_value(root)?;
        let tcr = self.tcr_translate(format);
        self.write_ttbr(sid, 0, ttbr0);
        for idx in 1..self.variant.ttbrs {
            self.write_ttbr(sid, idx, 0);
        }
        self.write_tcr(sid, tcr);
        self.check_taken(sid, StreamState { tcr, ttbr0 })
    }

    /// Blocks stream `sid`: TCR ← 0 (Linux's blocked domain, U-Boot's
    /// "disable translations"), then its TTBRs cleared; read back.
    pub fn block_stream(&mut self, sid: u32) -> Result<(), DartError> {
        self.check_sid(sid)?;
        self.check_unlocked()?;
        self.write_tcr(sid, 0);
        for idx in 0..self.variant.ttbrs {
            self.write_ttbr(sid, idx, 0);
        }
        self.check_taken(sid, StreamState { tcr: 0, ttbr0: 0 })
    }

    /// Puts stream `sid` in full bypass (TCR BYPASS_DART | BYPASS_DAPF),
    /// only where PARAMS2 bit 0 says bypass exists and the variant allows
    /// it (docs/hw/dart.md §6).
    pub fn bypass_stream(&mut self, sid: u32) -> Result<(), DartError> {
        self.check_sid(sid)?;
        if !self.ident.bypass || self.variant.bypass_forbidden {
            return Err(DartError::BypassUnsupported {
                params2: self.ident.params2,
                forbidden: self.variant.bypass_forbidden,
            });
        }
        self.check_unlocked()?;
        let tcr = match self.variant.layout {
            Layout::T8020 => (TCR_T8020::BYPASS_DART::SET + TCR_T8020::BYPASS_DAPF::SET).value,
            Layout::T8110 => (TCR_T8110::BYPASS_DART::SET + TCR_T8110::BYPASS_DAPF::SET).value,
        };
        self.write_tcr(sid, tcr);
        let ttbr0 = self.stream_state(sid).ttbr0;
        self.check_taken(sid, StreamState { tcr, ttbr0 })
    }

    fn wait_clear<R: tock_registers::RegisterLongName>(
        &self,
        reg: Reg<R>,
        busy: u32,
        what: &'static str,
    ) -> Result<(), DartError> {
        let mut value = 0;
        poll_until(self.clock, BUSY_TIMEOUT, what, || {
            value = self.regs.get(reg);
            value & busy == 0
        })
        .map_err(|_| DartError::Busy {
            reg: reg.name,
            offset: reg.offset,
            value,
        })
    }

    /// Flushes everything the TLB holds for `sids` and waits
    /// (docs/hw/dart.md §7).  T8020: STREAM_SELECT ← the set, then
    /// STREAM_COMMAND ← INVALIDATE, poll BUSY — one command for the whole
    /// set.  T8110: one TLB_OP (OP 1, the SID) per stream, each polled on
    /// TLB_OP bit 31 — at 0x080, where m1n1's Python, OpenBSD and Linux
    /// write it (m1n1's C code polls 0x700 and U-Boot writes the ERROR
    /// register; docs/hw/dart.md §7.1).  Returns the commands issued.
    pub fn flush(&mut self, sids: SidSet) -> Result<u64, DartError> {
        #[cfg(test)]
        let sids = if self.bugs.flush_wrong_stream {
            let mut wrong = SidSet::EMPTY;
            for s in sids.iter() {
                wrong.insert(s ^ 1);
            }
            wrong
        } else {
            sids
        };
        if sids.is_empty() {
            return Ok(0);
        }
        match self.variant.layout {
            Layout::T8020 => {
                for i in 0..super::variant::Variant::words(self.ident.sids) {
                    self.regs.set(t8020::stream_select(i), sids.word(i));
                }
                self.regs
                    .write(t8020::STREAM_COMMAND, STREAM_COMMAND::INVALIDATE::SET);
                self.wait_clear(
                    t8020::STREAM_COMMAND,
                    STREAM_COMMAND::BUSY::SET.value,
                    "DART STREAM_COMMAND busy",
                )?;
                Ok(1)
            }
            Layout::T8110 => {
                let mut n = 0;
                for sid in sids.iter() {
                    let cmd = TLB_OP::OP::FlushSid + TLB_OP::STREAM.val(sid);
                    self.tlb_op(cmd.value)?;
                    n += 1;
                }
                Ok(n)
            }
        }
    }

    /// One T8110 TLB_OP command, polled (the test-only bug writes it at
    /// the T8020 command offset instead).
    fn tlb_op(&mut self, value: u32) -> Result<(), DartError> {
        #[cfg(test)]
        if self.bugs.t8110_command_at_t8020_offset {
            self.regs.set(t8020::STREAM_COMMAND, value);
            return self.wait_clear(
                t8020::STREAM_COMMAND,
                TLB_OP::BUSY::SET.value,
                "DART TLB_OP busy (at 0x020)",
            );
        }
        self.regs.set(t8110::TLB_OP, value);
        self.wait_clear(t8110::TLB_OP, TLB_OP::BUSY::SET.value, "DART TLB_OP busy")
    }

    /// Flushes every stream: T8020 with every SID selected, T8110 with
    /// OP 0 (flush all; OpenBSD, macOS per m1n1's tracer).
    pub fn flush_all(&mut self) -> Result<u64, DartError> {
        match self.variant.layout {
            Layout::T8020 => self.flush(self.all_sids()),
            Layout::T8110 => {
                self.tlb_op(TLB_OP::OP::FlushAll.value)?;
                Ok(1)
            }
        }
    }

    /// The latched error, if FLAG is set (docs/hw/dart.md §8).
    pub fn latched(&self) -> Option<ErrorRecord> {
        let (raw, lo, hi) = match self.variant.layout {
            Layout::T8020 => (
                self.regs.get(t8020::ERROR),
                t8020::ERROR_ADDR_LO,
                t8020::ERROR_ADDR_HI,
            ),
            Layout::T8110 => (
                self.regs.get(t8110::ERROR),
                t8110::ERROR_ADDR_LO,
                t8110::ERROR_ADDR_HI,
            ),
        };
        if raw & 1 << 31 == 0 {
            return None;
        }
        let (sid, code) = match self.variant.layout {
            Layout::T8020 => {
                let v = tock_registers::LocalRegisterCopy::<u32, ERROR_T8020::Register>::new(raw);
                (v.read(ERROR_T8020::STREAM), v.read(ERROR_T8020::CODE))
            }
            Layout::T8110 => {
                let v = tock_registers::LocalRegisterCopy::<u32, ERROR_T8110::Register>::new(raw);
                (v.read(ERROR_T8110::STREAM), v.read(ERROR_T8110::CODE))
            }
        };
        let iova = u64::from(self.regs.get(hi)) << 32 | u64::from(self.regs.get(lo));
        Some(ErrorRecord {
            raw,
            sid,
            code,
            iova,
        })
    }

    /// Clears the latched error: ERROR written back with the value read
    /// (Linux, OpenBSD; write-1-to-clear); on T8110 then every
    /// ERROR_STREAMS word ← all ones (Linux: the t602x interrupt stays
    /// asserted otherwise).  Returns what ERROR read before and after.
    pub fn clear_error(&mut self) -> (u32, u32) {
        let reg = match self.variant.layout {
            Layout::T8020 => t8020::ERROR.offset,
            Layout::T8110 => t8110::ERROR.offset,
        };
        let before = self.regs.mmio().read32(reg);
        self.regs.mmio().write32(reg, before);
        if self.variant.layout == Layout::T8110 {
            for i in 0..super::variant::Variant::words(self.ident.sids) {
                self.regs.set(t8110::error_streams(i), u32::MAX);
            }
        }
        (before, self.regs.mmio().read32(reg))
    }
}
