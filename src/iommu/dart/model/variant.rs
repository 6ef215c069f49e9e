//! What differs between the modelled DARTs ([`Variant`]: layout, PTE
//! format, SIDs, identification words), the model's choices where the
//! sources give none ([`Knobs`]), and the bus-to-host address [`Window`]s
//! (docs/hw/dart.md "Behavioural model (host)" §M1, §M9).

use super::regs::params;
use crate::mm::host_ram::HostRam;
use crate::testkit::walk_dart::DartFormat;

/// Register layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// t8103, t6000: STREAM_SELECT + STREAM_COMMAND, four TTBRs per SID.
    T8020,
    /// M2 and later: per-SID TLB_OP, one TTBR per SID, PROTECT lock.
    T8110,
}

/// One modelled DART instance's fixed properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// SoC name.
    pub name: &'static str,
    /// Register layout.
    pub layout: Layout,
    /// PTE format.
    pub format: DartFormat,
    /// Stream IDs 0..sids exist.
    pub sids: u32,
    /// TCR.FOUR_LEVELS is implemented (T8110 "not on hwrev 1").
    pub four_levels: bool,
    /// PARAMS1 (0x000).
    pub params1: u32,
    /// PARAMS2 (0x004).
    pub params2: u32,
    /// PARAMS3 (0x008, T8110 only; T8020: plain storage).
    pub params3: u32,
    /// PARAMS4 (0x00C, T8110 only; T8020: plain storage).
    pub params4: u32,
}

/// PARAMS1 with log2(page size) = 14 in \[27:24\].
const PARAMS1_16K: u32 = 14 << 24;

/// t8103 (M1): T8020 layout, DART1 PTEs, 16 SIDs, bypass supported.
pub const T8103: Variant = Variant {
    name: "t8103",
    layout: Layout::T8020,
    format: DartFormat::Dart1,
    sids: 16,
    four_levels: false,
    params1: PARAMS1_16K,
    params2: params::BYPASS_SUPPORTED,
    params3: 0,
    params4: 0,
};

/// t6000 (M1 Pro/Max): T8020 layout, DART2 PTEs (PA field \[39:10\]).
pub const T6000: Variant = Variant {
    name: "t6000",
    layout: Layout::T8020,
    format: DartFormat::T6000,
    sids: 16,
    four_levels: false,
    params1: PARAMS1_16K,
    params2: params::BYPASS_SUPPORTED,
    params3: 0,
    params4: 0,
};

/// T8110 (M2 and later): T8110 layout, DART2 PTEs (PA field \[37:10\]),
/// 16 SIDs in PARAMS4, PA width 42 / VA width 36 in PARAMS3, FOUR_LEVELS
/// implemented, register lock and bypass supported in PARAMS2.
pub const T8110: Variant = Variant {
    name: "t8110",
    layout: Layout::T8110,
    format: DartFormat::T8110,
    sids: 16,
    four_levels: true,
    params1: PARAMS1_16K,
    params2: params::BYPASS_SUPPORTED | params::LOCK_SUPPORTED,
    params3: 42 << 24 | 36 << 16,
    params4: 16,
};

impl Variant {
    /// The same DART with PARAMS2 bit 0 (full bypass supported) `on`.
    pub const fn with_bypass(self, on: bool) -> Self {
        let p = self.params2 & !params::BYPASS_SUPPORTED;
        Self {
            params2: if on { p | params::BYPASS_SUPPORTED } else { p },
            ..self
        }
    }

    /// The same DART with `n` SIDs (T8110: also PARAMS4 \[8:0\]).
    pub const fn with_sids(self, n: u32) -> Self {
        Self {
            sids: n,
            params4: match self.layout {
                Layout::T8110 => (self.params4 & !0x1ff) | (n & 0x1ff),
                Layout::T8020 => self.params4,
            },
            ..self
        }
    }

    /// PARAMS2 says full bypass is supported.
    pub const fn bypass_supported(&self) -> bool {
        self.params2 & params::BYPASS_SUPPORTED != 0
    }

    /// TTBRs per stream: 4 (T8020) or 1 (T8110).
    pub const fn ttbrs(&self) -> usize {
        match self.layout {
            Layout::T8020 => 4,
            Layout::T8110 => 1,
        }
    }
}

/// What a transaction does when its stream's TCR is 0 ("disable
/// translations": unknown on hardware).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcrOff {
    /// Dropped; nothing latched.
    Block,
    /// Faults as if the TTBR were invalid (ERROR NO_TTBR latched).
    Fault,
}

/// Model choices where the sources are silent (docs/hw/dart.md
/// "Behavioural model (host)" §M9 lists each one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Reads of the command register that still see BUSY after a command;
    /// the flush takes effect on the read that sees BUSY clear (0: at once;
    /// `u32::MAX`: a DART that never finishes within any bounded poll).
    pub busy_polls: u32,
    /// The TLB keeps the result of a walk that found no valid leaf (and of
    /// one that stopped at an invalid TTBR/L0/L1 entry) until a flush.
    pub cache_invalid: bool,
    /// Valid L0/L1 entries are cached per stream (a flush drops them).
    pub walk_cache: bool,
    /// A transaction from a stream whose enable bit is clear is dropped
    /// (`false`: the enable bits are ignored).
    pub enable_gates: bool,
    /// What TCR = 0 does.
    pub tcr_off: TcrOff,
    /// IOVA bits above the translated width are ignored (`false`: fault).
    pub ignore_high_bits: bool,
    /// DART1 leaves honour NO_READ \[8\] / NO_WRITE \[7\] (one source only).
    pub dart1_rw_bits: bool,
    /// The streams enabled out of reset (bit n = SID n).
    pub enabled_at_reset: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            busy_polls: 2,
            cache_invalid: true,
            walk_cache: true,
            enable_gates: true,
            tcr_off: TcrOff::Block,
            ignore_high_bits: true,
            dart1_rw_bits: false,
            enabled_at_reset: 0,
        }
    }
}

/// A range of bus (DART physical) addresses that stands for a host
/// allocation: bus `bus + k` is host `host + k` for `k < len`.  Test
/// scaffolding: the DART's PAs are 40–44 bits, host RAM lives anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First bus address.
    pub bus: u64,
    /// Host address of `bus`.
    pub host: u64,
    /// Bytes.
    pub len: u64,
}

impl Window {
    /// Bus = host for every address.
    pub const IDENTITY: Self = Self {
        bus: 0,
        host: 0,
        len: u64::MAX,
    };

    /// All of `ram`, seen by the DART at bus address `bus` (pair it with
    /// `ram.pool_at_bus(bus)` so a driver's DMA buffers carry the same bus
    /// addresses).
    pub fn over(ram: &HostRam, bus: u64) -> Self {
        let r = ram.range();
        Self {
            bus,
            host: r.base.as_u64(),
            len: r.size,
        }
    }

    /// The host address of `bus`, if the window holds it.
    pub fn host(&self, bus: u64) -> Option<u64> {
        let k = bus.checked_sub(self.bus)?;
        (k < self.len).then(|| self.host.wrapping_add(k))
    }

    /// The bus address of `host`, if the window holds it.
    pub fn bus(&self, host: u64) -> Option<u64> {
        let k = host.checked_sub(self.host)?;
        (k < self.len).then(|| self.bus.wrapping_add(k))
    }
}
