//! Command queue entries: encoders for the commands this driver issues, and
//! the planner that turns "invalidate this IOVA range" into the fewest TLBI
//! commands the SMMU allows.
//!
//! Layouts: IHI0070 §4 as tabulated in `docs/hw/smmuv3.md` §10.2 (each
//! command is two little-endian dwords, opcode in `dword0[7:0]`).  QEMU 10.0.2
//! specifics from `docs/hw/qemu-virt.md` §1.4: opcode 0x07 is illegal
//! (CFGI_ALL is CFGI_STE_RANGE with Range = 31), TLBI_S12_VMALL is illegal on
//! a stage-1-only SMMU, and on the nested-capable `-M virt` the IOTLB is tagged
//! with the STE's S2VMID so every TLBI_NH_* must carry it.
#![forbid(unsafe_code)]

use super::features::Granule;
use alloc::vec::Vec;

/// Command opcodes (docs/hw/smmuv3.md §10.2).
pub mod op {
    /// PREFETCH_CONFIG.
    pub const PREFETCH_CONFIG: u8 = 0x01;
    /// CFGI_STE.
    pub const CFGI_STE: u8 = 0x03;
    /// CFGI_STE_RANGE (CFGI_ALL with Range = 31).
    pub const CFGI_STE_RANGE: u8 = 0x04;
    /// CFGI_CD.
    pub const CFGI_CD: u8 = 0x05;
    /// CFGI_CD_ALL.
    pub const CFGI_CD_ALL: u8 = 0x06;
    /// TLBI_NH_ALL.
    pub const TLBI_NH_ALL: u8 = 0x10;
    /// TLBI_NH_ASID.
    pub const TLBI_NH_ASID: u8 = 0x11;
    /// TLBI_NH_VA.
    pub const TLBI_NH_VA: u8 = 0x12;
    /// TLBI_NH_VAA.
    pub const TLBI_NH_VAA: u8 = 0x13;
    /// TLBI_EL2_ALL.
    pub const TLBI_EL2_ALL: u8 = 0x20;
    /// TLBI_S12_VMALL.
    pub const TLBI_S12_VMALL: u8 = 0x28;
    /// TLBI_NSNH_ALL.
    pub const TLBI_NSNH_ALL: u8 = 0x30;
    /// CMD_SYNC.
    pub const CMD_SYNC: u8 = 0x46;
}

/// The architectural name of an opcode, for diagnostics.
pub fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        0x01 => "PREFETCH_CONFIG",
        0x02 => "PREFETCH_ADDR",
        0x03 => "CFGI_STE",
        0x04 => "CFGI_STE_RANGE",
        0x05 => "CFGI_CD",
        0x06 => "CFGI_CD_ALL",
        0x10 => "TLBI_NH_ALL",
        0x11 => "TLBI_NH_ASID",
        0x12 => "TLBI_NH_VA",
        0x13 => "TLBI_NH_VAA",
        0x18 => "TLBI_EL3_ALL",
        0x1A => "TLBI_EL3_VA",
        0x20 => "TLBI_EL2_ALL",
        0x21 => "TLBI_EL2_ASID",
        0x22 => "TLBI_EL2_VA",
        0x23 => "TLBI_EL2_VAA",
        0x28 => "TLBI_S12_VMALL",
        0x2A => "TLBI_S2_IPA",
        0x30 => "TLBI_NSNH_ALL",
        0x40 => "ATC_INV",
        0x41 => "PRI_RESP",
        0x44 => "RESUME",
        0x45 => "STALL_TERM",
        0x46 => "CMD_SYNC",
        _ => "unknown",
    }
}

/// The range form of a TLBI by address (honoured only with IDR3.RIL):
/// invalidates `(num + 1) << scale` granules starting at the address
/// (docs/hw/smmuv3.md §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbiRange {
    /// Translation granule (TG field).
    pub granule: Granule,
    /// NUM, 0..=31.
    pub num: u8,
    /// SCALE, 0..=31.
    pub scale: u8,
    /// TTL: level of the leaf entries (1..=3), 0 = unknown.
    pub ttl: u8,
}

impl TlbiRange {
    /// Number of granules this range covers.
    pub fn pages(&self) -> u64 {
        (u64::from(self.num) + 1) << self.scale
    }
}

/// A TLBI by address (TLBI_NH_VA, or TLBI_NH_VAA when `asid` is `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbiVa {
    /// ASID (None: all ASIDs, TLBI_NH_VAA).
    pub asid: Option<u16>,
    /// VMID; must equal the STE's S2VMID on a stage-2-capable SMMU.
    pub vmid: u16,
    /// Input address (bits `[11:0]` ignored).
    pub addr: u64,
    /// Leaf = 1: only last-level entries need invalidating (walk caches may
    /// keep table entries).  Use `false` after a table was removed.
    pub leaf: bool,
    /// The range form, or `None` for a single address (TG = 0).
    pub range: Option<TlbiRange>,
}

/// A command this driver can issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// PREFETCH_CONFIG for a stream.
    PrefetchConfig {
        /// StreamID.
        sid: u32,
    },
    /// CFGI_STE: drop the cached STE of one stream.
    CfgiSte {
        /// StreamID.
        sid: u32,
        /// Leaf: only the STE, not a level-1 descriptor (use `false` after
        /// publishing a new L1 descriptor).
        leaf: bool,
    },
    /// CFGI_STE_RANGE: drop the STEs of 2^(range+1) streams aligned around
    /// `sid`; `range = 31` is CFGI_ALL.
    CfgiSteRange {
        /// StreamID (low bits ignored).
        sid: u32,
        /// Range, 0..=31.
        range: u8,
    },
    /// CFGI_CD: drop one cached CD of a stream.
    CfgiCd {
        /// StreamID.
        sid: u32,
        /// SubstreamID (0 without substreams).
        ssid: u32,
        /// Leaf: only the CD, not an L1 CD descriptor.
        leaf: bool,
    },
    /// CFGI_CD_ALL: drop every cached CD of a stream.
    CfgiCdAll {
        /// StreamID.
        sid: u32,
    },
    /// TLBI_NH_ALL: every NS-EL1 entry of a VMID.
    TlbiNhAll {
        /// VMID.
        vmid: u16,
    },
    /// TLBI_NH_ASID: every entry of an ASID (in a VMID).
    TlbiNhAsid {
        /// VMID.
        vmid: u16,
        /// ASID.
        asid: u16,
    },
    /// TLBI_NH_VA / TLBI_NH_VAA.
    TlbiVa(TlbiVa),
    /// TLBI_EL2_ALL.
    TlbiEl2All,
    /// TLBI_S12_VMALL: every entry of a VMID (needs stage 2).
    TlbiS12Vmall {
        /// VMID.
        vmid: u16,
    },
    /// TLBI_NSNH_ALL: every non-secure, non-hypervisor entry.
    TlbiNsnhAll,
    /// CMD_SYNC with CS = SIG_NONE (completion by polling CMDQ_CONS).
    Sync,
    /// Any two dwords (tests, and opcodes this driver has no encoder for).
    Raw([u64; 2]),
}

/// CFGI_STE_RANGE's Range value meaning "all streams" (docs/hw/qemu-virt.md §1.4).
pub const CFGI_ALL_RANGE: u8 = 31;

impl Command {
    /// CFGI_ALL: CFGI_STE_RANGE with Range = 31 (never opcode 0x07).
    pub const fn cfgi_all() -> Self {
        Self::CfgiSteRange {
            sid: 0,
            range: CFGI_ALL_RANGE,
        }
    }

    /// The opcode this command encodes to.
    pub fn opcode(&self) -> u8 {
        (self.encode()[0] & 0xff) as u8
    }

    /// The two dwords as they go into the queue.
    pub fn encode(&self) -> [u64; 2] {
        let sid = |s: u32| u64::from(s) << 32;
        let vmid = |v: u16| u64::from(v) << 32;
        let asid = |a: u16| u64::from(a) << 48;
        match *self {
            Self::PrefetchConfig { sid: s } => [u64::from(op::PREFETCH_CONFIG) | sid(s), 0],
            Self::CfgiSte { sid: s, leaf } => [u64::from(op::CFGI_STE) | sid(s), leaf as u64],
            Self::CfgiSteRange { sid: s, range } => [
                u64::from(op::CFGI_STE_RANGE) | sid(s),
                u64::from(range & 0x1f),
            ],
            Self::CfgiCd { sid: s, ssid, leaf } => [
                u64::from(op::CFGI_CD) | (u64::from(ssid & 0xf_ffff) << 12) | sid(s),
                leaf as u64,
            ],
            Self::CfgiCdAll { sid: s } => [u64::from(op::CFGI_CD_ALL) | sid(s), 0],
            Self::TlbiNhAll { vmid: v } => [u64::from(op::TLBI_NH_ALL) | vmid(v), 0],
            Self::TlbiNhAsid { vmid: v, asid: a } => {
                [u64::from(op::TLBI_NH_ASID) | vmid(v) | asid(a), 0]
            }
            Self::TlbiVa(t) => {
                let (opc, a) = match t.asid {
                    Some(a) => (op::TLBI_NH_VA, asid(a)),
                    None => (op::TLBI_NH_VAA, 0),
                };
                let mut d0 = u64::from(opc) | vmid(t.vmid) | a;
                let mut d1 = (t.addr & !0xfff) | t.leaf as u64;
                if let Some(r) = t.range {
                    d0 |= (u64::from(r.num & 0x1f) << 12) | (u64::from(r.scale & 0x1f) << 20);
                    d1 |= (u64::from(r.ttl & 3) << 8) | (r.granule.tlbi_tg() << 10);
                }
                [d0, d1]
            }
            Self::TlbiEl2All => [u64::from(op::TLBI_EL2_ALL), 0],
            Self::TlbiS12Vmall { vmid: v } => [u64::from(op::TLBI_S12_VMALL) | vmid(v), 0],
            Self::TlbiNsnhAll => [u64::from(op::TLBI_NSNH_ALL), 0],
            // CS = 0 (SIG_NONE), MSH/MSIAttr/MSIData/MSIAddress = 0: we poll
            // CMDQ_CONS (docs/hw/smmuv3.md §10.4; QEMU ignores CS=0, §1.4).
            Self::Sync => [u64::from(op::CMD_SYNC), 0],
            Self::Raw(d) => d,
        }
    }

    /// `true` for the TLB invalidation commands (what an unmap pays for).
    pub fn is_tlbi(&self) -> bool {
        matches!(
            self,
            Self::TlbiNhAll { .. }
                | Self::TlbiNhAsid { .. }
                | Self::TlbiVa(_)
                | Self::TlbiEl2All
                | Self::TlbiS12Vmall { .. }
                | Self::TlbiNsnhAll
        )
    }
}

/// An IOVA range to invalidate after an unmap (the hardware view of a
/// gather).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbiRequest {
    /// ASID of the context (None: all ASIDs, TLBI_NH_VAA).
    pub asid: Option<u16>,
    /// VMID (the STEs' S2VMID).
    pub vmid: u16,
    /// First byte of the range.
    pub iova: u64,
    /// Length in bytes (0 = nothing to do).
    pub size: u64,
    /// The context's translation granule.
    pub granule: Granule,
    /// log2 of the size of the entries that were removed (12 for 4 KiB pages
    /// with a 4K granule, 21 for 2 MiB blocks, ...).  Must be ≥ the
    /// granule's shift.
    pub leaf_shift: u32,
    /// Only leaf entries changed (Leaf = 1); `false` after freeing a table.
    pub leaf: bool,
}

/// How a range is turned into commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbiPolicy {
    /// Use the range form (only when IDR3.RIL = 1).
    pub ril: bool,
    /// Without RIL, a range of at least this many entries is invalidated
    /// with one context-wide command (TLBI_NH_ASID, or TLBI_NH_ALL for VAA)
    /// instead of one TLBI per entry.  `None` never falls back.
    pub context_wide_from: Option<u64>,
}

impl TlbiPolicy {
    /// The threshold Linux's 2025 invalidation rework uses without RIL:
    /// 2^(granule shift − 3) entries (512 with 4 KiB pages), docs/hw/smmuv3.md §13.
    pub fn linux_like(ril: bool, granule: Granule) -> Self {
        Self {
            ril,
            context_wide_from: Some(1 << (granule.shift() - 3)),
        }
    }
}

/// Which form a planned invalidation took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbiForm {
    /// Nothing to invalidate (size 0).
    Empty,
    /// Range-form TLBI_NH_VA(A) commands (RIL).
    Range,
    /// One TLBI_NH_VA(A) per removed entry.
    PerEntry,
    /// One context-wide command because the range was too long.
    ContextWide,
}

/// TTL for leaf invalidations: the level holding entries of `leaf_shift`
/// bytes with granule `g` (4K: 4K → 3, 2M → 2, 1G → 1), 0 when unknown.
/// Restates the rule in docs/hw/smmuv3.md §10.3.
pub fn ttl_for(g: Granule, leaf_shift: u32) -> u8 {
    let bits_per_level = g.shift() - 3;
    if leaf_shift < g.shift() || !(leaf_shift - 3).is_multiple_of(bits_per_level) {
        return 0;
    }
    let levels_up = (leaf_shift - 3) / bits_per_level;
    if (1..=3).contains(&levels_up) {
        (4 - levels_up) as u8
    } else {
        0
    }
}

/// Emits the commands that invalidate `req` under `policy` (without the
/// trailing CMD_SYNC) and says which form it chose.
///
/// With RIL, the range [iova, iova+size) rounded out to the granule is
/// covered by range commands: the largest power-of-two count of granules
/// that divides what is left is taken as SCALE, the next five bits of the
/// count as NUM, so a range of N granules costs at most ⌈log2(N)/5⌉+1
/// commands and any power of two (or ≤ 32 contiguous granules) costs one.
/// A non-leaf invalidation never ends in a single-granule (NUM=0, SCALE=0)
/// command; the count is bumped by one granule instead (Linux does the same,
/// citing errata; over-invalidating is harmless).
///
/// Without RIL, one single-address TLBI per removed entry, or one
/// context-wide command from `policy.context_wide_from` entries on.
pub fn plan_tlbi(
    req: &TlbiRequest,
    policy: &TlbiPolicy,
    mut emit: impl FnMut(Command),
) -> TlbiForm {
    if req.size == 0 {
        return TlbiForm::Empty;
    }
    let gshift = req.granule.shift();
    let leaf_shift = req.leaf_shift.max(gshift);
    let va = |addr: u64, range: Option<TlbiRange>| {
        Command::TlbiVa(TlbiVa {
            asid: req.asid,
            vmid: req.vmid,
            addr,
            leaf: req.leaf,
            range,
        })
    };
    let end = req.iova.saturating_add(req.size);
    if policy.ril {
        let gmask = (1u64 << gshift) - 1;
        let start = req.iova & !gmask;
        let end_up = end.checked_add(gmask).map_or(!gmask, |e| e & !gmask);
        let mut pages = ((end_up - start) >> gshift).max(1);
        if !req.leaf && pages & 0x1f == 1 {
            pages += 1;
        }
        let ttl = if req.leaf {
            ttl_for(req.granule, leaf_shift)
        } else {
            0
        };
        let mut addr = start;
        while pages > 0 {
            let scale = pages.trailing_zeros().min(31);
            let mut n = (pages >> scale) & 0x1f;
            if n == 0 {
                // Only reachable when SCALE was capped at 31: take the largest
                // chunk the fields can express.
                n = 32;
            }
            emit(va(
                addr,
                Some(TlbiRange {
                    granule: req.granule,
                    num: (n - 1) as u8,
                    scale: scale as u8,
                    ttl,
                }),
            ));
            let chunk = n << scale;
            addr = addr.wrapping_add(chunk << gshift);
            pages -= chunk;
        }
        return TlbiForm::Range;
    }
    let step_mask = (1u64 << leaf_shift) - 1;
    let start = req.iova & !step_mask;
    let end_up = end
        .checked_add(step_mask)
        .map_or(!step_mask, |e| e & !step_mask);
    let entries = ((end_up - start) >> leaf_shift).max(1);
    if policy.context_wide_from.is_some_and(|t| entries >= t) {
        emit(match req.asid {
            Some(asid) => Command::TlbiNhAsid {
                vmid: req.vmid,
                asid,
            },
            None => Command::TlbiNhAll { vmid: req.vmid },
        });
        return TlbiForm::ContextWide;
    }
    for i in 0..entries {
        emit(va(start.wrapping_add(i << leaf_shift), None));
    }
    TlbiForm::PerEntry
}

/// [`plan_tlbi`] collected into a vector (tests, diagnostics).
pub fn plan_tlbi_vec(req: &TlbiRequest, policy: &TlbiPolicy) -> (TlbiForm, Vec<Command>) {
    let mut v = Vec::new();
    let form = plan_tlbi(req, policy, |c| v.push(c));
    (form, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_encodings() {
        // TLBI_NH_VA dword0 = 0x12 | VMID<<32 | ASID<<48 (docs/hw/qemu-virt.md §1.10).
        let va = Command::TlbiVa(TlbiVa {
            asid: Some(5),
            vmid: 0,
            addr: 0x2_0123,
            leaf: true,
            range: None,
        });
        assert_eq!(va.encode(), [0x0005_0000_0000_0012, 0x2_0001]);
        let va_vmid = Command::TlbiVa(TlbiVa {
            asid: Some(0x1234),
            vmid: 7,
            addr: 0xdead_b000,
            leaf: false,
            range: None,
        });
        assert_eq!(va_vmid.encode(), [0x1234_0007_0000_0012, 0xdead_b000]);
        // Range form: NUM at [16:12], SCALE at [24:20]; TTL [9:8], TG [11:10].
        let ril = Command::TlbiVa(TlbiVa {
            asid: Some(1),
            vmid: 0,
            addr: 0x1_0000,
            leaf: true,
            range: Some(TlbiRange {
                granule: Granule::Size4K,
                num: 1,
                scale: 0,
                ttl: 3,
            }),
        });
        assert_eq!(
            ril.encode(),
            [0x0001_0000_0000_1012, 0x1_0000 | 1 | (3 << 8) | (1 << 10)]
        );
        let vaa = Command::TlbiVa(TlbiVa {
            asid: None,
            vmid: 2,
            addr: 0x4000,
            leaf: true,
            range: Some(TlbiRange {
                granule: Granule::Size16K,
                num: 31,
                scale: 3,
                ttl: 0,
            }),
        });
        assert_eq!(
            vaa.encode(),
            [
                0x13 | (2 << 32) | (31 << 12) | (3 << 20),
                0x4000 | 1 | (2 << 10)
            ]
        );
        assert_eq!(Command::cfgi_all().encode(), [0x04, 31]);
        assert_eq!(
            Command::CfgiSte {
                sid: 0x20,
                leaf: true
            }
            .encode(),
            [0x0000_0020_0000_0003, 1]
        );
        assert_eq!(
            Command::CfgiCd {
                sid: 0x20,
                ssid: 3,
                leaf: true
            }
            .encode(),
            [0x0000_0020_0000_3005, 1]
        );
        assert_eq!(Command::CfgiCdAll { sid: 9 }.encode(), [(9 << 32) | 6, 0]);
        assert_eq!(
            Command::TlbiNhAll { vmid: 1 }.encode(),
            [(1 << 32) | 0x10, 0]
        );
        assert_eq!(
            Command::TlbiNhAsid { vmid: 0, asid: 5 }.encode(),
            [(5 << 48) | 0x11, 0]
        );
        assert_eq!(
            Command::TlbiS12Vmall { vmid: 3 }.encode(),
            [(3 << 32) | 0x28, 0]
        );
        assert_eq!(Command::TlbiNsnhAll.encode(), [0x30, 0]);
        assert_eq!(Command::TlbiEl2All.encode(), [0x20, 0]);
        assert_eq!(Command::Sync.encode(), [0x46, 0]);
        assert_eq!(
            Command::PrefetchConfig { sid: 1 }.encode(),
            [(1 << 32) | 1, 0]
        );
        assert_eq!(Command::Raw([0x07, 0]).opcode(), 0x07);
        assert_eq!(opcode_name(0x46), "CMD_SYNC");
        assert_eq!(opcode_name(0x07), "unknown");
        assert!(Command::TlbiNsnhAll.is_tlbi() && !Command::Sync.is_tlbi());
    }

    #[test]
    fn ttl_rule() {
        assert_eq!(ttl_for(Granule::Size4K, 12), 3);
        assert_eq!(ttl_for(Granule::Size4K, 21), 2);
        assert_eq!(ttl_for(Granule::Size4K, 30), 1);
        assert_eq!(ttl_for(Granule::Size16K, 14), 3);
        assert_eq!(ttl_for(Granule::Size16K, 25), 2);
        assert_eq!(ttl_for(Granule::Size64K, 16), 3);
        assert_eq!(ttl_for(Granule::Size64K, 29), 2);
        assert_eq!(ttl_for(Granule::Size4K, 13), 0);
    }

    fn req(iova: u64, size: u64, leaf: bool) -> TlbiRequest {
        TlbiRequest {
            asid: Some(1),
            vmid: 0,
            iova,
            size,
            granule: Granule::Size4K,
            leaf_shift: 12,
            leaf,
        }
    }

    fn ranges(cmds: &[Command]) -> Vec<(u64, u8, u8)> {
        cmds.iter()
            .map(|c| match c {
                Command::TlbiVa(TlbiVa {
                    addr,
                    range: Some(r),
                    ..
                }) => (*addr, r.num, r.scale),
                other => panic!("not a range TLBI: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn ril_split_is_minimal_and_exact() {
        let ril = TlbiPolicy::linux_like(true, Granule::Size4K);
        // 512 pages: one command NUM=0 SCALE=9.
        let (form, c) = plan_tlbi_vec(&req(0x20_0000, 512 << 12, true), &ril);
        assert_eq!(form, TlbiForm::Range);
        assert_eq!(ranges(&c), [(0x20_0000, 0, 9)]);
        // 3 pages: NUM=2 SCALE=0, TTL=3 for 4K leaves.
        let (_, c) = plan_tlbi_vec(&req(0x1000, 0x3000, true), &ril);
        assert_eq!(ranges(&c), [(0x1000, 2, 0)]);
        assert!(matches!(
            c[0],
            Command::TlbiVa(TlbiVa {
                range: Some(TlbiRange { ttl: 3, .. }),
                ..
            })
        ));
        // 33 pages = 1 + 32: NUM=0,SCALE=0 then NUM=0,SCALE=5.
        let (_, c) = plan_tlbi_vec(&req(0, 33 << 12, true), &ril);
        assert_eq!(ranges(&c), [(0, 0, 0), (0x1000, 0, 5)]);
        // Every count up to 5000 pages: coverage is exact and contiguous, and
        // the count is within ceil(bits/5)+1.
        for pages in 1u64..5000 {
            let (_, c) = plan_tlbi_vec(&req(0x4000_0000, pages << 12, true), &ril);
            let mut next = 0x4000_0000u64;
            for cmd in &c {
                let Command::TlbiVa(TlbiVa {
                    addr,
                    range: Some(r),
                    ..
                }) = cmd
                else {
                    panic!()
                };
                assert_eq!(*addr, next);
                next += r.pages() << 12;
            }
            assert_eq!(next, 0x4000_0000 + (pages << 12), "pages={pages}");
            let bits = 64 - pages.leading_zeros() as usize;
            assert!(
                c.len() <= bits.div_ceil(5) + 1,
                "pages={pages} cmds={}",
                c.len()
            );
        }
        // Unaligned byte range is rounded out to the granule.
        let (_, c) = plan_tlbi_vec(&req(0x1800, 0x1000, true), &ril);
        assert_eq!(ranges(&c), [(0x1000, 0, 1)]);
        // Non-leaf never emits NUM=0,SCALE=0 and has TTL 0.
        let (_, c) = plan_tlbi_vec(&req(0x1000, 0x1000, false), &ril);
        assert_eq!(ranges(&c), [(0x1000, 0, 1)]);
        assert!(matches!(
            c[0],
            Command::TlbiVa(TlbiVa {
                leaf: false,
                range: Some(TlbiRange { ttl: 0, .. }),
                ..
            })
        ));
        // Size 0: nothing.
        assert_eq!(
            plan_tlbi_vec(&req(0, 0, true), &ril),
            (TlbiForm::Empty, Vec::new())
        );
        // A huge range stays O(1).
        let (_, c) = plan_tlbi_vec(&req(0, 1 << 47, true), &ril);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn non_ril_is_per_entry_then_context_wide() {
        let no_ril = TlbiPolicy::linux_like(false, Granule::Size4K);
        let (form, c) = plan_tlbi_vec(&req(0x10_0000, 3 << 12, true), &no_ril);
        assert_eq!(form, TlbiForm::PerEntry);
        let addrs: Vec<u64> = c
            .iter()
            .map(|c| match c {
                Command::TlbiVa(TlbiVa {
                    addr, range: None, ..
                }) => *addr,
                _ => panic!(),
            })
            .collect();
        assert_eq!(addrs, [0x10_0000, 0x10_1000, 0x10_2000]);
        let (form, c) = plan_tlbi_vec(&req(0, 511 << 12, true), &no_ril);
        assert_eq!((form, c.len()), (TlbiForm::PerEntry, 511));
        let (form, c) = plan_tlbi_vec(&req(0, 512 << 12, true), &no_ril);
        assert_eq!(form, TlbiForm::ContextWide);
        assert_eq!(c, [Command::TlbiNhAsid { vmid: 0, asid: 1 }]);
        // One 2 MiB block is one command.
        let block = TlbiRequest {
            leaf_shift: 21,
            ..req(0x20_0000, 0x20_0000, true)
        };
        let (_, c) = plan_tlbi_vec(&block, &no_ril);
        assert_eq!(c.len(), 1);
        // VAA falls back to NH_ALL.
        let vaa = TlbiRequest {
            asid: None,
            ..req(0, 1 << 30, true)
        };
        let (_, c) = plan_tlbi_vec(&vaa, &no_ril);
        assert_eq!(c, [Command::TlbiNhAll { vmid: 0 }]);
        let never = TlbiPolicy {
            ril: false,
            context_wide_from: None,
        };
        let (_, c) = plan_tlbi_vec(&req(0, 600 << 12, true), &never);
        assert_eq!(c.len(), 600);
    }
}
