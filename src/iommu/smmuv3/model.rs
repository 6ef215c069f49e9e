//! A behavioural SMMUv3 model for host tests, implementing [`Mmio`].
//!
//! It models what the driver relies on, with QEMU 10.0.2's behaviour as the
//! reference (`docs/hw/qemu-virt.md` §1.3–1.7): ID registers; CR0ACK and
//! IRQ_CTRLACK mirroring (or never acknowledging, to test timeouts); the
//! GBPA update handshake; GERROR/GERRORN toggles; a command queue consumed
//! from the driver's DMA memory either during the CMDQ_PROD store (QEMU) or
//! lazily on CMDQ_CONS reads, stopping with CERROR_ILL on unknown opcodes
//! (and on TLBI_S12_VMALL without stage 2) and resuming on GERRORN; an event
//! queue it can write records into (full queue → GERROR.EVTQ_ABT_ERR like
//! QEMU, or OVFLG like the spec); a stream-table walker with a config cache
//! that only CFGI_* commands flush, so stale STEs/CDs are observable; and a
//! stage-1 translation ([`SmmuModel::translate`]) with an IOTLB keyed like
//! QEMU's — ASID, VMID (only with stage 2), leaf span; no StreamID, no walk
//! cache, no negative caching (docs/hw/qemu-virt.md §1.4) — that only TLBI_* commands
//! flush, so a stale translation after an unmap is observable too.  The
//! walk is the host-model kit's reference walker (`testkit::walk::LpaeWalk`,
//! with QEMU's blocks at every level) and the IOTLB the kit's
//! stale-until-invalidated cache (`testkit::cache::StaleCache`).
//!
//! The queues and tables live in a host allocation standing in for RAM
//! ([`TestMem`], `crate::mm::host_ram`); the model reads and writes them by
//! address through that module's checked accessors, so this layer has no
//! `unsafe` of its own.

use super::cd::Cd;
use super::driver::{cd_used_dwords, ste_used_dwords};
use super::ste::Ste;
use crate::mm::PhysRange;
use crate::mmio::Mmio;
use crate::testkit::cache::StaleCache;
use crate::testkit::walk::{LpaeWalk, WalkFault};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::vec::Vec;

/// An STE or CD the SMMU could have fetched as a mix of dwords that was
/// never in memory as a whole, yet valid (issue 11 item 14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn {
    /// "STE" or "CD".
    pub kind: &'static str,
    /// Address of dword0.
    pub addr: u64,
    /// The mixed entry.
    pub entry: [u64; 8],
}

/// One entry the watch follows since its last invalidation.
#[derive(Debug)]
struct Watched {
    ste: bool,
    /// Every value each dword held since the last CFGI that covered it: a
    /// fetch may read each dword at any of those moments (IHI 0070 §3.21.3).
    seen: [Vec<u64>; 8],
    /// The whole entry after every store (what a single atomic fetch sees).
    snapshots: Vec<[u64; 8]>,
}

/// Checks every STE and reachable CD after every single store the driver
/// makes to it: the SMMU may read an entry's dwords in any order, each at
/// any time since the last CFGI + CMD_SYNC for it, so any combination of
/// the values each dword held since then may be fetched (and cached).  A
/// combination that is valid (an STE other than invalid/abort, a CD with
/// V = 1) but equal, in the dwords it uses, to no entry that was ever in
/// memory as a whole, is recorded as [`Torn`].
#[derive(Debug, Default)]
pub struct TearWatch {
    strtab_base: u64,
    strtab_cfg: u32,
    enabled: bool,
    entries: BTreeMap<u64, Watched>,
    /// Torn entries found, oldest first (deduplicated).
    pub torn: Vec<Torn>,
}

fn read_entry(base: u64) -> [u64; 8] {
    let mut e = [0; 8];
    for (i, d) in e.iter_mut().enumerate() {
        *d = crate::mm::host_ram::read_u64(base + 8 * i as u64);
    }
    e
}

impl TearWatch {
    /// STE base addresses of the table with their StreamIDs' count.
    fn ste_slots(&self) -> Vec<u64> {
        let base = self.strtab_base & (((1 << 52) - 1) & !0x3f);
        let log2 = self.strtab_cfg & 0x3f;
        let mut out = Vec::new();
        if base == 0 {
            return out;
        }
        if (self.strtab_cfg >> 16) & 3 == 1 {
            let split = (self.strtab_cfg >> 6) & 0x1f;
            // A level-2 table several descriptors share (the driver's
            // shared abort table) is listed once.
            let mut seen = std::collections::BTreeSet::new();
            for l1 in 0..(1u64 << log2.saturating_sub(split)) {
                let desc = crate::mm::host_ram::read_u64(base + 8 * l1);
                let span = (desc & 0x1f) as u32;
                let l2 = desc & (((1 << 52) - 1) & !0x3f);
                if span == 0 || !seen.insert(l2) {
                    continue;
                }
                out.extend((0..1u64 << (span - 1)).map(|i| l2 + 64 * i));
            }
        } else {
            out.extend((0..1u64 << log2).map(|i| base + 64 * i));
        }
        out
    }

    /// dword0 values an STE at `base` may be fetched with.
    fn ste_dword0s(&self, base: u64) -> Vec<u64> {
        match self.entries.get(&base) {
            Some(w) => w.seen[0].clone(),
            None => std::vec![crate::mm::host_ram::read_u64(base)],
        }
    }

    /// `Some(true)` for an STE, `Some(false)` for a CD some STE may point at.
    fn classify(&self, base: u64) -> Option<bool> {
        let slots = self.ste_slots();
        if slots.contains(&base) {
            return Some(true);
        }
        let points = slots.iter().any(|&s| {
            self.ste_dword0s(s).iter().any(|&d0| {
                d0 & 1 != 0 && (d0 >> 1) & 7 == 0b101 && d0 & (((1 << 52) - 1) & !0x3f) == base
            })
        });
        points.then_some(false)
    }

    /// A store at `addr` replaced `old` (the new value is in memory).
    fn on_store(&mut self, addr: u64, old: u64) {
        let base = addr & !63;
        let dword = ((addr & 63) / 8) as usize;
        if !self.enabled {
            return;
        }
        let Some(ste) = self.classify(base) else {
            self.entries.remove(&base);
            return;
        };
        let now = read_entry(base);
        let w = self.entries.entry(base).or_insert_with(|| {
            let mut before = now;
            before[dword] = old;
            Watched {
                ste,
                seen: core::array::from_fn(|i| std::vec![before[i]]),
                snapshots: std::vec![before],
            }
        });
        if !w.seen[dword].contains(&now[dword]) {
            w.seen[dword].push(now[dword]);
        }
        w.snapshots.push(now);
        // Every combination of the values seen.
        let mut combos: Vec<[u64; 8]> = std::vec![[0; 8]];
        for i in 0..8 {
            let mut next = Vec::new();
            for c in &combos {
                for &v in &w.seen[i] {
                    let mut c = *c;
                    c[i] = v;
                    next.push(c);
                }
            }
            combos = next;
        }
        for c in combos {
            let used = if w.ste {
                let e = Ste(c);
                if !e.uses_upper_dwords() {
                    continue;
                }
                ste_used_dwords(&e)
            } else {
                let e = Cd(c);
                if !e.is_valid() {
                    continue;
                }
                cd_used_dwords(&e)
            };
            let same = |s: &[u64; 8]| (0..8).all(|i| used & (1 << i) == 0 || s[i] == c[i]);
            if !w.snapshots.iter().any(same) {
                let t = Torn {
                    kind: if w.ste { "STE" } else { "CD" },
                    addr: base,
                    entry: c,
                };
                if !self.torn.contains(&t) {
                    self.torn.push(t);
                }
            }
        }
    }

    /// Where the STE of `sid` is, if the table reaches it.
    fn ste_addr(&self, sid: u32) -> Option<u64> {
        let log2 = self.strtab_cfg & 0x3f;
        if u64::from(sid) >> log2 != 0 || self.strtab_base == 0 {
            return None;
        }
        let base = self.strtab_base & (((1 << 52) - 1) & !0x3f);
        if (self.strtab_cfg >> 16) & 3 == 1 {
            let split = (self.strtab_cfg >> 6) & 0x1f;
            let desc = crate::mm::host_ram::read_u64(base + 8 * u64::from(sid >> split));
            let span = (desc & 0x1f) as u32;
            let idx = sid & ((1 << split) - 1);
            if span == 0 || u64::from(idx) >= 1u64 << (span - 1) {
                return None;
            }
            Some((desc & (((1 << 52) - 1) & !0x3f)) + 64 * u64::from(idx))
        } else {
            Some(base + 64 * u64::from(sid))
        }
    }

    /// CFGI_STE(sid) or CFGI_STE_RANGE completed: those STEs start afresh
    /// (the CDs' own fetches in flight are CFGI_CD's business).
    fn invalidate_stes(&mut self, lo: u32, hi: u32) {
        let watched: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, w)| w.ste)
            .map(|(a, _)| *a)
            .collect();
        let top = ((1u64 << (self.strtab_cfg & 0x3f)) - 1).min(u64::from(u32::MAX)) as u32;
        for sid in lo..=hi.min(top) {
            if let Some(addr) = self.ste_addr(sid) {
                if watched.contains(&addr) {
                    self.entries.remove(&addr);
                }
            }
        }
    }

    /// CFGI_CD for `sid`: CDs that its STE may point at start afresh.
    fn invalidate_cds_of(&mut self, sid: u32) {
        let Some(ste_addr) = self.ste_addr(sid) else {
            return;
        };
        for d0 in self.ste_dword0s(ste_addr) {
            let cd = d0 & (((1 << 52) - 1) & !0x3f);
            if self.entries.get(&cd).is_some_and(|w| !w.ste) {
                self.entries.remove(&cd);
            }
        }
    }

    fn invalidate_all(&mut self) {
        self.entries.clear();
    }
}

pub use crate::mm::host_ram::HostRam as TestMem;

/// One memory attribute the SMMU was told to use (see
/// [`SmmuModel::attribute_uses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrUse {
    /// Which register, STE, CD or PTE.
    pub what: std::string::String,
    /// Cacheable (inner or outer) rather than Non-cacheable / Device.
    pub cacheable: bool,
    /// Shareability field: 0 NSH, 2 OSH, 3 ISH.
    pub shareability: u8,
    /// PTEs: UXN or PXN set (instruction fetches fault).
    pub execute_never: bool,
}

/// What the model's stream lookup decided for a StreamID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamConfig {
    /// STE abort: silent abort.
    Abort,
    /// STE bypass.
    Bypass,
    /// Stage 1 through this CD (dwords), with the STE's S2VMID.
    Stage1 {
        /// The CD.
        cd: [u64; 8],
        /// S2VMID.
        vmid: u16,
    },
    /// A configuration fault (event type).
    Fault(u8),
    /// SMMUEN = 0 and GBPA.ABORT = 1.
    GlobalAbort,
    /// SMMUEN = 0 and GBPA.ABORT = 0.
    GlobalBypass,
}

/// The model's registers, knobs and observations.
#[derive(Debug, Default)]
pub struct State {
    /// IDR0..IDR5 by index.
    pub idr: [u32; 6],
    /// CR0.
    pub cr0: u32,
    /// CR0ACK.
    pub cr0ack: u32,
    /// CR1.
    pub cr1: u32,
    /// CR2.
    pub cr2: u32,
    /// GBPA.
    pub gbpa: u32,
    /// IRQ_CTRL.
    pub irq_ctrl: u32,
    /// IRQ_CTRLACK.
    pub irq_ctrlack: u32,
    /// GERROR.
    pub gerror: u32,
    /// GERRORN.
    pub gerrorn: u32,
    /// STRTAB_BASE.
    pub strtab_base: u64,
    /// STRTAB_BASE_CFG.
    pub strtab_cfg: u32,
    /// CMDQ_BASE.
    pub cmdq_base: u64,
    /// CMDQ_PROD.
    pub cmdq_prod: u32,
    /// CMDQ_CONS (with ERR).
    pub cmdq_cons: u32,
    /// EVTQ_BASE.
    pub evtq_base: u64,
    /// EVTQ_PROD (with OVFLG).
    pub evtq_prod: u32,
    /// EVTQ_CONS (with OVACKFLG).
    pub evtq_cons: u32,

    /// Knob: CR0ACK follows CR0 (false: never acknowledges).
    pub ack_cr0: bool,
    /// Knob: GBPA.UPDATE never clears.
    pub gbpa_stuck: bool,
    /// Knob: commands are never consumed.
    pub frozen: bool,
    /// Knob: consume on CMDQ_CONS reads instead of during the PROD store.
    pub lazy: bool,
    /// Knob: report a fetch abort (CERROR_ABT) once at this queue index.
    pub abort_once_at: Option<u32>,
    /// Knob: a full event queue sets EVTQ_PROD.OVFLG (spec) instead of
    /// GERROR.EVTQ_ABT_ERR (QEMU 10.0.2).
    pub overflow_flag: bool,
    /// Knob: Page 1 is not decoded (Cavium CN99xx,
    /// `cavium,cn9900-broken-page1-regspace`, docs/hw/smmuv3.md §1): its
    /// registers answer only at their Page 0 offsets, and any access at
    /// 64 KiB or above panics.
    pub page0_regs_only: bool,
    /// Offsets of every access at or above 64 KiB (Page 1), in order.
    pub page1_accesses: Vec<usize>,

    /// Every command executed, in order (CMD_SYNC included).
    pub executed: Vec<[u64; 2]>,
    /// Every register write: (offset, width, value), in order.
    pub writes: Vec<(usize, u8, u64)>,
    /// 64-bit accesses to registers QEMU only accepts 32-bit accesses on.
    pub bad_64bit: Vec<usize>,
    /// Config cache: StreamID → (STE, CD).
    pub config_cache: BTreeMap<u32, ([u64; 8], [u64; 8])>,
    /// Records dropped because the event queue was full.
    pub events_lost: usize,
    /// IOTLB: leaf entries filled by [`SmmuModel::translate`], keyed by
    /// [`IotlbKey`] (every entry is listed by [`SmmuModel::iotlb`]).
    pub iotlb: StaleCache<IotlbKey, IotlbEntry>,
}

/// What tags an IOTLB entry besides its address: (ASID, STE.S2VMID), like
/// QEMU's key (docs/hw/qemu-virt.md §1.4; the VMID only matches with
/// stage 2).  The entry repeats both so a listing shows whole entries.
pub type IotlbKey = (u16, u16);

/// One cached leaf translation, tagged like QEMU's IOTLB key
/// (docs/hw/qemu-virt.md §1.4: ASID, VMID, IOVA aligned to the entry size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IotlbEntry {
    /// ASID of the CD that filled it.
    pub asid: u16,
    /// STE.S2VMID (ignored for matching without stage 2).
    pub vmid: u16,
    /// First IOVA of the leaf.
    pub iova: u64,
    /// Leaf size in bytes.
    pub size: u64,
    /// Output address of the leaf.
    pub out: u64,
    /// AP[2] = 0.
    pub writable: bool,
}

/// The model.
pub struct SmmuModel {
    arena: PhysRange,
    /// State (tests inspect and tweak it).
    pub st: RefCell<State>,
    /// The torn-entry checker, fed by every `DmaBuf` store on this thread.
    watch: Rc<RefCell<TearWatch>>,
    hook_id: usize,
}

impl Drop for SmmuModel {
    fn drop(&mut self) {
        crate::mm::host_ram::remove_store_hook(self.hook_id);
    }
}

static NEXT_HOOK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);

const OFF_MASK: usize = !0x1_0000; // Page 1 aliases Page 0 (docs/hw/qemu-virt.md §1.5).

impl SmmuModel {
    /// A model with `idrs` = [IDR0, IDR1, IDR3, IDR5] that may access
    /// `arena`.  Reset values as QEMU: GBPA = 0x1000 (bypass).
    pub fn new(arena: PhysRange, idrs: [u32; 4]) -> Self {
        let st = State {
            idr: [idrs[0], idrs[1], 0, idrs[2], 0, idrs[3]],
            gbpa: 0x1000,
            ack_cr0: true,
            ..State::default()
        };
        let watch = Rc::new(RefCell::new(TearWatch::default()));
        let hook_id = NEXT_HOOK.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let w = watch.clone();
        crate::mm::host_ram::add_store_hook(
            hook_id,
            Rc::new(move |addr, old| w.borrow_mut().on_store(addr, old)),
        );
        Self {
            arena,
            st: RefCell::new(st),
            watch,
            hook_id,
        }
    }

    /// Torn STEs/CDs the SMMU could have fetched so far (see [`TearWatch`]).
    pub fn torn(&self) -> Vec<Torn> {
        self.watch.borrow().torn.clone()
    }

    /// The IOTLB's entries, oldest first.
    pub fn iotlb(&self) -> Vec<IotlbEntry> {
        self.st.borrow().iotlb.entries().map(|(_, e)| e).collect()
    }

    /// Every memory attribute the driver told the SMMU to use, decoded
    /// (issue 11 item 4): CR1's queue and table attributes, each stage-1
    /// STE's CD-fetch attributes (S1CIR/S1COR/S1CSH), its CD's walk
    /// attributes (IR0/OR0/SH0) and every leaf PTE reachable from that CD
    /// (AttrIndx through the CD's MAIR, SH, UXN/PXN).  Encodings: IHI 0070
    /// SMMU_CR1, §5.2, §5.4; docs/hw/lpae.md §2.1, §4.
    pub fn attribute_uses(&self) -> Vec<AttrUse> {
        let st = self.st.borrow();
        let mut out = Vec::new();
        // CR1 and the STE/CD fields: 0 NC, anything else a cacheable
        // encoding (1 WB, 2 WT, 3 WB / reserved); SH 0 NSH, 2 OSH, 3 ISH.
        let field = |v: u64, at: u32| ((v >> at) & 3) as u8;
        for (what, at) in [("CR1.QUEUE_IC/OC/SH", 0), ("CR1.TABLE_IC/OC/SH", 6)] {
            let cr1 = u64::from(st.cr1);
            out.push(AttrUse {
                what: what.into(),
                cacheable: field(cr1, at) != 0 || field(cr1, at + 2) != 0,
                shareability: field(cr1, at + 4),
                execute_never: false,
            });
        }
        let mut seen_l2 = std::collections::BTreeSet::new();
        for (sid, ste_addr) in self.ste_addresses(&st, &mut seen_l2) {
            let d0 = self.mem_read(ste_addr);
            if d0 & 1 == 0 || (d0 >> 1) & 7 != 0b101 {
                continue;
            }
            let d1 = self.mem_read(ste_addr + 8);
            out.push(AttrUse {
                what: std::format!("STE[{sid:#x}].S1CIR/S1COR/S1CSH"),
                cacheable: field(d1, 2) != 0 || field(d1, 4) != 0,
                shareability: field(d1, 6),
                execute_never: false,
            });
            let cd_addr = d0 & (((1 << 52) - 1) & !0x3f);
            let cd0 = self.mem_read(cd_addr);
            if cd0 & (1 << 31) == 0 {
                continue;
            }
            out.push(AttrUse {
                what: std::format!("CD[{sid:#x}].IR0/OR0/SH0"),
                cacheable: field(cd0, 8) != 0 || field(cd0, 10) != 0,
                shareability: field(cd0, 12),
                execute_never: false,
            });
            let ttb = self.mem_read(cd_addr + 8) & (((1 << 52) - 1) & !0xf);
            let mair = self.mem_read(cd_addr + 24);
            let g: u32 = match (cd0 >> 6) & 3 {
                0 => 12,
                1 => 16,
                2 => 14,
                _ => continue,
            };
            let ias = 64 - (cd0 & 0x3f) as u32;
            let stride = g - 3;
            let start = 4 - (ias - g).div_ceil(stride);
            self.scan_leaves(sid, ttb, start, g, ias, mair, 0, &mut out);
        }
        out
    }

    /// `(sid, STE address)` of every STE the stream table reaches; a level-2
    /// table several L1 descriptors share is listed once.
    fn ste_addresses(
        &self,
        st: &State,
        seen_l2: &mut std::collections::BTreeSet<u64>,
    ) -> Vec<(u32, u64)> {
        let base = st.strtab_base & (((1 << 52) - 1) & !0x3f);
        let log2 = st.strtab_cfg & 0x3f;
        let mut out = Vec::new();
        if base == 0 {
            return out;
        }
        if (st.strtab_cfg >> 16) & 3 == 1 {
            let split = (st.strtab_cfg >> 6) & 0x1f;
            for l1 in 0..(1u64 << log2.saturating_sub(split)) {
                let desc = self.mem_read(base + 8 * l1);
                let span = (desc & 0x1f) as u32;
                let l2 = desc & (((1 << 52) - 1) & !0x3f);
                if span == 0 || !seen_l2.insert(l2) {
                    continue;
                }
                for i in 0..1u64 << (span - 1) {
                    out.push((((l1 << split) + i) as u32, l2 + 64 * i));
                }
            }
        } else {
            out.extend((0..1u64 << log2).map(|i| (i as u32, base + 64 * i)));
        }
        out
    }

    /// Records the attributes of every leaf under `table` (a full scan of
    /// the tree, not a translation: nothing is cached).
    #[allow(clippy::too_many_arguments)]
    fn scan_leaves(
        &self,
        sid: u32,
        table: u64,
        level: u32,
        g: u32,
        ias: u32,
        mair: u64,
        va: u64,
        out: &mut Vec<AttrUse>,
    ) {
        let stride = g - 3;
        let shift = g + (3 - level) * stride;
        let bits = (ias - shift).min(stride);
        let oa_mask = ((1u64 << 48) - 1) & !((1u64 << g) - 1);
        for idx in 0..1u64 << bits {
            let desc = self.mem_read(table + 8 * idx);
            let at = va | idx << shift;
            if desc & 1 == 0 {
                continue;
            }
            if level < 3 && desc & 2 != 0 {
                self.scan_leaves(sid, desc & oa_mask, level + 1, g, ias, mair, at, out);
                continue;
            }
            let attr = (mair >> (8 * ((desc >> 2) & 7))) & 0xff;
            // 0x44 is Normal inner+outer NC; a zero upper nibble is Device;
            // every other Normal encoding caches on one side at least
            // (Arm ARM MAIR_EL1, docs/hw/lpae.md §4).
            out.push(AttrUse {
                what: std::format!("PTE[{sid:#x}]@{at:#x} (MAIR {attr:#04x})"),
                cacheable: attr != 0x44 && attr >> 4 != 0,
                shareability: ((desc >> 8) & 3) as u8,
                execute_never: desc & (3 << 53) != 0,
            });
        }
    }

    fn check(&self, addr: u64, len: u64) {
        assert!(
            addr >= self.arena.base.as_u64()
                && addr
                    .checked_add(len)
                    .is_some_and(|e| e <= self.arena.end().as_u64()),
            "model: SMMU access at {addr:#x}+{len} outside the test arena {}",
            self.arena
        );
        assert!(
            addr.is_multiple_of(8),
            "model: unaligned access at {addr:#x}"
        );
    }

    /// Reads guest memory.
    pub fn mem_read(&self, addr: u64) -> u64 {
        self.check(addr, 8);
        crate::mm::host_ram::read_u64(addr)
    }

    /// Writes guest memory.
    pub fn mem_write(&self, addr: u64, v: u64) {
        self.check(addr, 8);
        crate::mm::host_ram::write_u64(addr, v)
    }

    fn qlog2(base: u64) -> u32 {
        (base & 0x1f) as u32
    }

    fn qaddr(base: u64) -> u64 {
        base & (((1 << 52) - 1) & !0x1f)
    }

    /// Executes commands from CONS to PROD, as QEMU does during the PROD
    /// store.
    fn consume(&self, st: &mut State) {
        if st.frozen || st.cr0 & 8 == 0 {
            return;
        }
        let log2 = Self::qlog2(st.cmdq_base);
        let wmask = (1u32 << (log2 + 1)) - 1;
        let imask = (1u32 << log2) - 1;
        loop {
            if (st.gerror ^ st.gerrorn) & 1 != 0 {
                return; // stopped on an unacknowledged error
            }
            let cons = st.cmdq_cons & wmask;
            if cons == st.cmdq_prod & wmask {
                return;
            }
            let idx = cons & imask;
            if st.abort_once_at == Some(idx) {
                st.abort_once_at = None;
                st.cmdq_cons = cons | (2 << 24);
                st.gerror ^= 1;
                return;
            }
            let a = Self::qaddr(st.cmdq_base) + 16 * u64::from(idx);
            let cmd = [self.mem_read(a), self.mem_read(a + 8)];
            if !self.execute(st, cmd) {
                st.cmdq_cons = cons | (1 << 24);
                st.gerror ^= 1;
                return;
            }
            st.executed.push(cmd);
            st.cmdq_cons = (cons + 1) & wmask;
        }
    }

    /// Executes one command; `false` = CERROR_ILL.
    fn execute(&self, st: &mut State, cmd: [u64; 2]) -> bool {
        let sid = (cmd[0] >> 32) as u32;
        let s2 = st.idr[0] & 1 != 0;
        let vmid = (cmd[0] >> 32) as u16;
        let asid = (cmd[0] >> 48) as u16;
        // VMID only tags entries on a stage-2-capable SMMU (docs/hw/qemu-virt.md §1.4).
        let vmid_hit = |k: &IotlbKey| !s2 || k.1 == vmid;
        match cmd[0] & 0xff {
            0x10 => {
                if s2 {
                    st.iotlb.invalidate(|k, _| vmid_hit(k));
                } else {
                    st.iotlb.clear();
                }
                true
            }
            0x11 => {
                st.iotlb.invalidate(|k, _| vmid_hit(k) && k.0 == asid);
                true
            }
            0x12 | 0x13 => {
                let (lo, hi) = tlbi_span(cmd);
                let by_asid = cmd[0] & 0xff == 0x12;
                st.iotlb.invalidate(|k, e| {
                    vmid_hit(k) && (!by_asid || k.0 == asid) && e.iova < hi && lo < e.iova + e.size
                });
                true
            }
            0x30 => {
                st.iotlb.clear();
                true
            }
            0x01 | 0x02 | 0x20 | 0x46 => true,
            0x03 | 0x05 | 0x06 => {
                st.config_cache.remove(&sid);
                let mut w = self.watch.borrow_mut();
                match cmd[0] & 0xff {
                    0x03 => w.invalidate_stes(sid, sid),
                    0x05 => w.invalidate_cds_of(sid),
                    _ => w.invalidate_all(),
                }
                true
            }
            0x04 => {
                let range = (cmd[1] & 0x1f) as u32;
                let mask = if range >= 31 {
                    u32::MAX
                } else {
                    (1u32 << (range + 1)) - 1
                };
                let lo = sid & !mask;
                let hi = lo | mask;
                st.config_cache.retain(|s, _| *s < lo || *s > hi);
                if range >= 31 {
                    self.watch.borrow_mut().invalidate_all();
                } else {
                    self.watch.borrow_mut().invalidate_stes(lo, hi);
                }
                true
            }
            // S12_VMALL needs stage 2 (docs/hw/qemu-virt.md §1.4).
            0x28 => {
                st.iotlb.invalidate(|k, _| k.1 == vmid);
                s2
            }
            _ => false,
        }
    }

    /// Writes an event record as the SMMU would.  Returns `false` if it was
    /// lost (EVENTQEN = 0 or queue full).
    pub fn inject_event(&self, rec: [u64; 4]) -> bool {
        let mut st = self.st.borrow_mut();
        if st.cr0 & 4 == 0 {
            return false;
        }
        let log2 = Self::qlog2(st.evtq_base);
        let wmask = (1u32 << (log2 + 1)) - 1;
        let imask = (1u32 << log2) - 1;
        let prod = st.evtq_prod & wmask;
        let cons = st.evtq_cons & wmask;
        if prod & imask == cons & imask && prod != cons {
            st.events_lost += 1;
            if st.overflow_flag {
                // OVFLG toggles on an overflow only while the previous one
                // is acknowledged (OVFLG == CONS.OVACKFLG; SMMUv3 spec,
                // EVENTQ_PROD).
                if (st.evtq_prod ^ st.evtq_cons) & (1 << 31) == 0 {
                    st.evtq_prod ^= 1 << 31;
                }
            } else if (st.gerror ^ st.gerrorn) & (1 << 2) == 0 {
                // An error is active while GERROR.x != GERRORN.x; a second
                // one of the same kind while active does not toggle it back
                // (SMMUv3 spec, GERROR; docs/hw/smmuv3.md §3).
                st.gerror ^= 1 << 2;
            }
            return false;
        }
        let a = Self::qaddr(st.evtq_base) + 32 * u64::from(prod & imask);
        for (i, d) in rec.iter().enumerate() {
            self.mem_write(a + 8 * i as u64, *d);
        }
        st.evtq_prod = (st.evtq_prod & (1 << 31)) | ((prod + 1) & wmask);
        true
    }

    fn read_ste(&self, st: &State, sid: u32) -> Result<[u64; 8], u8> {
        let base = st.strtab_base & (((1 << 52) - 1) & !0x3f);
        let log2 = st.strtab_cfg & 0x3f;
        if u64::from(sid) >> log2 != 0 {
            return Err(0x02); // C_BAD_STREAMID
        }
        let ste_addr = if (st.strtab_cfg >> 16) & 3 == 1 {
            let split = (st.strtab_cfg >> 6) & 0x1f;
            let desc = self.mem_read(base + 8 * u64::from(sid >> split));
            let span = (desc & 0x1f) as u32;
            let l2 = desc & (((1 << 52) - 1) & !0x3f);
            let idx = sid & ((1 << split) - 1);
            if span == 0 || u64::from(idx) >= 1u64 << (span - 1) {
                return Err(0x02);
            }
            l2 + 64 * u64::from(idx)
        } else {
            base + 64 * u64::from(sid)
        };
        let mut ste = [0; 8];
        for (i, d) in ste.iter_mut().enumerate() {
            *d = self.mem_read(ste_addr + 8 * i as u64);
        }
        Ok(ste)
    }

    /// What the SMMU would do with a transaction from `sid`, through the
    /// config cache (filled on a successful decode, like QEMU's).
    pub fn stream_config(&self, sid: u32) -> StreamConfig {
        let mut st = self.st.borrow_mut();
        if st.cr0 & 1 == 0 {
            return if st.gbpa & (1 << 20) != 0 {
                StreamConfig::GlobalAbort
            } else {
                StreamConfig::GlobalBypass
            };
        }
        let (ste, cd) = match st.config_cache.get(&sid) {
            Some(c) => *c,
            None => {
                let ste = match self.read_ste(&st, sid) {
                    Ok(s) => s,
                    Err(e) => return StreamConfig::Fault(e),
                };
                let mut cd = [0; 8];
                if ste[0] & 1 != 0 && (ste[0] >> 1) & 7 == 0b101 {
                    let a = ste[0] & (((1 << 52) - 1) & !0x3f);
                    for (i, d) in cd.iter_mut().enumerate() {
                        *d = self.mem_read(a + 8 * i as u64);
                    }
                    if cd[0] & (1 << 31) == 0 {
                        return StreamConfig::Fault(0x0a); // C_BAD_CD
                    }
                }
                if ste[0] & 1 == 0 {
                    return StreamConfig::Fault(0x04); // C_BAD_STE
                }
                st.config_cache.insert(sid, (ste, cd));
                (ste, cd)
            }
        };
        match (ste[0] >> 1) & 7 {
            0b100 => StreamConfig::Bypass,
            0b101 => StreamConfig::Stage1 {
                cd,
                vmid: (ste[2] & 0xffff) as u16,
            },
            _ => StreamConfig::Abort,
        }
    }

    /// A device access from `sid` to `iova`, as QEMU's stage-1 path does it
    /// (docs/hw/qemu-virt.md §1.4, §1.8): IOTLB hit (writes re-checked against the
    /// cached AP[2]), else a walk of the CD's TTB0 tables in guest memory
    /// whose leaf is cached.  Returns the output address, or the event type
    /// of the fault; translation/permission/access faults are written to the
    /// event queue only when CD.R = 1, configuration faults always, an
    /// abort STE silently (§1.6).
    pub fn translate(&self, sid: u32, iova: u64, write: bool) -> Result<u64, u8> {
        let (cd, vmid) = match self.stream_config(sid) {
            StreamConfig::Stage1 { cd, vmid } => (cd, vmid),
            StreamConfig::Bypass | StreamConfig::GlobalBypass => return Ok(iova),
            StreamConfig::Abort | StreamConfig::GlobalAbort => return Err(0),
            StreamConfig::Fault(t) => {
                self.inject_event([u64::from(t) | u64::from(sid) << 32, 0, iova, 0]);
                return Err(t);
            }
        };
        let s2 = self.st.borrow().idr[0] & 1 != 0;
        let asid = (cd[0] >> 48) as u16;
        let hit = self.st.borrow().iotlb.find(|k, e| {
            k.0 == asid && (!s2 || k.1 == vmid) && e.iova <= iova && iova < e.iova + e.size
        });
        let entry = match hit {
            Some((_, e)) => Ok(e),
            None => self.walk(&cd, iova).map(|(base, size, out, writable)| {
                let e = IotlbEntry {
                    asid,
                    vmid,
                    iova: base,
                    size,
                    out,
                    writable,
                };
                self.st.borrow_mut().iotlb.insert((asid, vmid), e);
                e
            }),
        };
        let result = entry.and_then(|e| {
            if write && !e.writable {
                Err(0x13) // F_PERMISSION
            } else {
                Ok(e.out + (iova - e.iova))
            }
        });
        if let Err(t) = result {
            if cd[0] & (1 << 45) != 0 {
                // dword1: RnW [35], CLASS = TT [41:40] (docs/hw/qemu-virt.md §1.6).
                let rnw = u64::from(!write) << 35;
                self.inject_event([u64::from(t) | u64::from(sid) << 32, rnw | 1 << 40, iova, 0]);
            }
        }
        result
    }

    /// Walks the stage-1 tables of `cd` for `iova`: `(leaf IOVA, leaf size,
    /// output base, writable)` or the fault type.  The CD checks are
    /// QEMU's (docs/hw/qemu-virt.md §1.8); the walk is the kit's reference
    /// walker with QEMU's deviation (blocks at every level above 3) and
    /// AF = 0 faulting unless CD.AFFD.  The output size stays at 48 bits:
    /// QEMU clamps IPS to 44, but the host arena's addresses are wider.
    fn walk(&self, cd: &[u64; 8], iova: u64) -> Result<(u64, u64, u64, bool), u8> {
        let t0sz = (cd[0] & 0x3f) as u32;
        let g: u32 = match (cd[0] >> 6) & 3 {
            0 => 12,
            1 => 16,
            2 => 14,
            _ => return Err(0x0a),
        };
        if !(16..=39).contains(&t0sz) {
            return Err(0x0a); // C_BAD_CD (docs/hw/qemu-virt.md §1.8)
        }
        let w = LpaeWalk::new(cd[1] & (((1 << 52) - 1) & !0xf), 64 - t0sz, g)
            .with_access_flag_faults(cd[0] & (1 << 35) == 0)
            .with_blocks_at_every_level(true);
        match w.walk(|a| Some(self.mem_read(a)), iova, None) {
            Ok(leaf) => Ok((
                leaf.leaf_iova(iova),
                leaf.span,
                leaf.leaf_pa(),
                leaf.writable,
            )),
            // An IOVA beyond T0SZ, an invalid or reserved descriptor (an
            // L3 type 0b01 among them): F_TRANSLATION.
            Err(WalkFault::AddressSize | WalkFault::Translation { .. }) => Err(0x10),
            Err(WalkFault::AccessFlag { .. }) => Err(0x12), // F_ACCESS
            Err(WalkFault::OutputSize { .. }) => Err(0x11), // F_ADDR_SIZE
            Err(WalkFault::External { .. }) => Err(0x0b),   // F_WALK_EABT
        }
    }

    fn rd(&self, off: usize, width: u8) -> u64 {
        let mut st = self.st.borrow_mut();
        if off >= 0x1_0000 {
            assert!(
                !st.page0_regs_only,
                "model: Page 1 access at {off:#x} on an SMMU that decodes Page 0 only"
            );
            st.page1_accesses.push(off);
        }
        let off = off & OFF_MASK;
        if width == 8 && !matches!(off, 0x80 | 0x90 | 0xA0) {
            st.bad_64bit.push(off);
            return 0;
        }
        if off == 0x9C && st.lazy {
            st.lazy = false;
            self.consume(&mut st);
            st.lazy = true;
        }
        match off {
            0x00..=0x14 => u64::from(st.idr[off / 4]),
            0x18 => 0,
            0x1C => 1,
            0x20 => u64::from(st.cr0),
            0x24 => u64::from(st.cr0ack),
            0x28 => u64::from(st.cr1),
            0x2C => u64::from(st.cr2),
            0x44 => u64::from(st.gbpa),
            0x50 => u64::from(st.irq_ctrl),
            0x54 => u64::from(st.irq_ctrlack),
            0x60 => u64::from(st.gerror),
            0x64 => u64::from(st.gerrorn),
            0x80 => st.strtab_base,
            0x88 => u64::from(st.strtab_cfg),
            0x90 => st.cmdq_base,
            0x98 => u64::from(st.cmdq_prod),
            0x9C => u64::from(st.cmdq_cons),
            0xA0 => st.evtq_base,
            0xA8 => u64::from(st.evtq_prod),
            0xAC => u64::from(st.evtq_cons),
            _ => 0,
        }
    }

    fn wr(&self, off: usize, width: u8, v: u64) {
        let mut st = self.st.borrow_mut();
        if off >= 0x1_0000 {
            assert!(
                !st.page0_regs_only,
                "model: Page 1 access at {off:#x} on an SMMU that decodes Page 0 only"
            );
            st.page1_accesses.push(off);
        }
        let off = off & OFF_MASK;
        st.writes.push((off, width, v));
        if width == 8 && !matches!(off, 0x80 | 0x90 | 0xA0) {
            st.bad_64bit.push(off);
            return;
        }
        let v32 = v as u32;
        match off {
            0x20 => {
                st.cr0 = v32;
                self.watch.borrow_mut().enabled = v32 & 1 != 0;
                if st.ack_cr0 {
                    st.cr0ack = v32;
                }
                if !st.lazy {
                    self.consume(&mut st);
                }
            }
            0x28 => st.cr1 = v32,
            0x2C => st.cr2 = v32,
            0x44 => {
                if st.gbpa_stuck {
                    st.gbpa = v32;
                } else if v32 & (1 << 31) != 0 {
                    st.gbpa = v32 & !(1 << 31);
                }
            }
            0x50 => {
                st.irq_ctrl = v32;
                st.irq_ctrlack = v32;
            }
            0x64 => {
                st.gerrorn = v32;
                if (st.gerror ^ st.gerrorn) & 1 == 0 {
                    st.cmdq_cons &= !(0x7f << 24);
                }
                if !st.lazy {
                    self.consume(&mut st);
                }
            }
            0x80 => {
                st.strtab_base = v;
                self.watch.borrow_mut().strtab_base = v;
            }
            0x88 => {
                st.strtab_cfg = v32;
                self.watch.borrow_mut().strtab_cfg = v32;
            }
            0x90 => st.cmdq_base = v,
            0x98 => {
                st.cmdq_prod = v32;
                if !st.lazy {
                    self.consume(&mut st);
                }
            }
            0x9C => st.cmdq_cons = v32,
            0xA0 => st.evtq_base = v,
            0xA8 => st.evtq_prod = v32,
            0xAC => st.evtq_cons = v32,
            _ => {}
        }
    }
}

/// The IOVA span `[lo, hi)` a TLBI_NH_VA(A) covers, as QEMU's
/// `smmuv3_range_inval` (docs/hw/qemu-virt.md §1.4): TG = 0 is one 4 KiB page (that
/// also hits any larger entry covering it), otherwise `(NUM+1) << SCALE`
/// granules from the address.
fn tlbi_span(cmd: [u64; 2]) -> (u64, u64) {
    let addr = cmd[1] & !0xfff;
    let tg_shift = match (cmd[1] >> 10) & 3 {
        1 => 12,
        2 => 14,
        3 => 16,
        _ => return (addr, addr + 0x1000),
    };
    let num = (cmd[0] >> 12) & 0x1f;
    let scale = (cmd[0] >> 20) & 0x1f;
    let bytes = ((num + 1) << scale) << tg_shift;
    (addr, addr.saturating_add(bytes))
}

impl Mmio for &SmmuModel {
    fn read8(&self, off: usize) -> u8 {
        panic!("model: 8-bit read at {off:#x}")
    }
    fn write8(&self, off: usize, _: u8) {
        panic!("model: 8-bit write at {off:#x}")
    }
    fn read16(&self, off: usize) -> u16 {
        panic!("model: 16-bit read at {off:#x}")
    }
    fn write16(&self, off: usize, _: u16) {
        panic!("model: 16-bit write at {off:#x}")
    }
    fn read32(&self, off: usize) -> u32 {
        self.rd(off, 4) as u32
    }
    fn write32(&self, off: usize, val: u32) {
        self.wr(off, 4, u64::from(val))
    }
    fn read64(&self, off: usize) -> u64 {
        self.rd(off, 8)
    }
    fn write64(&self, off: usize, val: u64) {
        self.wr(off, 8, val)
    }
}
