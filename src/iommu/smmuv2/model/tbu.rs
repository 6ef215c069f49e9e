//! A behavioural model of a Qualcomm TBU's debug translation block
//! ("ECATS"), for host tests of `smmuv2/tbu.rs`, behind the MMIO seam.
//!
//! **Same single source as the driver.**  The registers, bits and the
//! order they must be used in come from Linux's
//! `drivers/iommu/arm/arm-smmu/arm-smmu-qcom-debug.c`, the only public
//! description found (docs/hw/smmuv2.md §11.7): the model cannot tell
//! whether that file is right about silicon, only whether the driver does
//! what it says.  A probe translates through the SMMUv2 model
//! ([`Smmuv2Model::ecats`](super::Smmuv2Model::ecats)) as a client read of
//! its stream, so a stale result comes from that model's TLB
//! ([`Knobs::atos_uses_tlb`](super::Knobs)) and a fault is recorded there.
//!
//! Where Linux's file is silent the model chooses, and a test can see it:
//!
//! * the stream the SMMU sees is the TBU's range with DEBUG_SID_HALT.SID
//!   as its low ten bits (Linux writes the whole SID into the 10-bit
//!   field; every SDM845 range is 1024 IDs on a 1024 boundary);
//! * HALT_ACK rises after [`TbuKnobs::halt_polls`] reads of
//!   DEBUG_SR_HALT_ACK, ECATS_RUNNING falls after
//!   [`TbuKnobs::ecats_polls`];
//! * a trigger while the TBU is not halted (HALT set and acknowledged),
//!   without a stream ID written since the halt, without CDMID 0xff, or
//!   while TRIGGER is still set from the last probe, is a [`TbuMisuse`]
//!   and starts nothing (DEBUG_PAR keeps its old value);
//! * a fault sets DEBUG_PAR.FAULT at once, ends the probe (ECATS_RUNNING
//!   reads 0) and keeps PA [47:12] from the last probe, so a driver that ignores FAULT moves bytes at a stale
//!   address the catalogue sees.
#![forbid(unsafe_code)]

use super::Smmuv2;
use crate::iommu::smmuv2::tbu::reg;
use crate::mmio::{ModelMmio, RegisterModel, Width};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Ref, RefCell};

/// A shared handle on one [`TbuModel`].
#[derive(Clone, Debug)]
pub struct Tbu(pub Rc<RefCell<TbuModel>>);

impl Tbu {
    /// The register side, for a driver (`Mmio`).
    pub fn mmio(&self) -> ModelMmio<Tbu> {
        ModelMmio::new(self.clone())
    }

    /// Looks at the model (drop before the next register access).
    pub fn model(&self) -> Ref<'_, TbuModel> {
        self.0.borrow()
    }
}

impl RegisterModel for Tbu {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        self.0.borrow_mut().read(off, width)
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.0.borrow_mut().write(off, width, val);
    }
}

/// What the model lets a test change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TbuKnobs {
    /// Reads of DEBUG_SR_HALT_ACK before HALT_ACK shows.
    pub halt_polls: u32,
    /// Reads of DEBUG_SR_HALT_ACK before ECATS_RUNNING clears.
    pub ecats_polls: u32,
    /// The TBU never acknowledges a halt (a busy master ahead of it).
    pub never_ack: bool,
    /// A probe never finishes.
    pub stuck: bool,
}

impl Default for TbuKnobs {
    fn default() -> Self {
        Self {
            halt_polls: 2,
            ecats_polls: 2,
            never_ack: false,
            stuck: false,
        }
    }
}

/// What a driver did that Linux's sequence rules out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TbuMisuse {
    /// TRIGGER written while the TBU was not halted and acknowledged.
    TriggerNotHalted {
        /// DEBUG_SID_HALT then.
        sid_halt: u32,
    },
    /// TRIGGER written with no stream ID written since the halt.
    TriggerWithoutSid,
    /// TRIGGER written while DEBUG_AXUSER.CDMID was not 0xff.
    NoCdmid {
        /// DEBUG_AXUSER then.
        axuser: u64,
    },
    /// TRIGGER written while it was still set from the last probe.
    TriggerNotReset,
    /// HALT cleared while a probe was running.
    ResumeWhileRunning,
    /// An access of a width the register does not take.
    BadWidth {
        /// Offset.
        off: usize,
        /// Width.
        width: Width,
    },
    /// An offset the block does not have.
    Unknown {
        /// Offset.
        off: usize,
    },
}

/// A probe in flight: reads left, and its outcome.
#[derive(Clone, Copy, Debug)]
struct Running {
    polls: u32,
    result: Option<u64>,
}

/// One TBU's debug block in front of an SMMUv2 model.
#[derive(Debug)]
pub struct TbuModel {
    smmu: Smmuv2,
    first_sid: u32,
    sid_halt: u32,
    va: u64,
    trigg: u64,
    axuser: u64,
    par: u64,
    halt_polls: Option<u32>,
    acked: bool,
    sid_written: bool,
    running: Option<Running>,
    /// The model's choices.
    pub knobs: TbuKnobs,
    /// What the driver did wrong, oldest first.
    pub misuse: Vec<TbuMisuse>,
    /// Streams of the probes that ran.
    pub probes: Vec<u32>,
}

impl TbuModel {
    /// A TBU serving the 1024 stream IDs from `first_sid` (rounded down to
    /// 1024) in front of `smmu`.
    pub fn new(smmu: Smmuv2, first_sid: u32, knobs: TbuKnobs) -> Self {
        Self {
            smmu,
            first_sid: first_sid & !reg::SID_MASK,
            sid_halt: 0,
            va: 0,
            trigg: 0,
            axuser: 0,
            par: 0,
            halt_polls: None,
            acked: false,
            sid_written: false,
            running: None,
            knobs,
            misuse: Vec::new(),
            probes: Vec::new(),
        }
    }

    /// A shared handle: the register side for a driver
    /// ([`Tbu::mmio`]) and the test reach the same block.
    pub fn shared(self) -> Tbu {
        Tbu(Rc::new(RefCell::new(self)))
    }

    fn sr(&mut self) -> u32 {
        if let Some(p) = self.halt_polls {
            if p == 0 && !self.knobs.never_ack {
                self.acked = true;
                self.halt_polls = None;
            } else {
                self.halt_polls = Some(p.saturating_sub(1));
            }
        }
        let mut running = false;
        if let Some(mut r) = self.running {
            if r.polls == 0 && !self.knobs.stuck {
                self.running = None;
                if let Some(pa) = r.result {
                    self.par = pa & reg::PAR_PA;
                }
            } else {
                r.polls = r.polls.saturating_sub(1);
                self.running = Some(r);
                running = true;
            }
        }
        (u32::from(self.acked) * reg::HALT_ACK) | (u32::from(running) * reg::ECATS_RUNNING)
    }

    fn write_sid_halt(&mut self, v: u32) {
        let was = self.sid_halt & reg::HALT != 0;
        let now = v & reg::HALT != 0;
        if !was && now {
            self.halt_polls = Some(self.knobs.halt_polls);
            self.sid_written = false;
        } else if was && !now {
            if self.running.is_some() {
                self.misuse.push(TbuMisuse::ResumeWhileRunning);
            }
            self.halt_polls = None;
            self.acked = false;
        } else {
            self.sid_written = true;
        }
        self.sid_halt = v & (reg::HALT | reg::SID_MASK);
    }

    fn write_trigg(&mut self, v: u64) {
        let start = v & reg::TRIGGER != 0;
        let was = self.trigg & reg::TRIGGER != 0;
        self.trigg = v;
        if !start {
            return;
        }
        if was {
            return self.misuse.push(TbuMisuse::TriggerNotReset);
        }
        let halted = self.sid_halt & reg::HALT != 0 && self.acked;
        if !halted {
            return self.misuse.push(TbuMisuse::TriggerNotHalted {
                sid_halt: self.sid_halt,
            });
        }
        if !self.sid_written {
            return self.misuse.push(TbuMisuse::TriggerWithoutSid);
        }
        if (self.axuser >> reg::CDMID_SHIFT) & 0xff != reg::CDMID {
            return self.misuse.push(TbuMisuse::NoCdmid {
                axuser: self.axuser,
            });
        }
        let stream = self.first_sid | (self.sid_halt & reg::SID_MASK);
        let privileged = (v >> reg::AXPROT_SHIFT) & reg::AXPROT_PRIV != 0;
        self.probes.push(stream);
        let result = self
            .smmu
            .model_mut()
            .ecats(stream, self.va & !0xfff, privileged);
        self.par &= !reg::PAR_FAULT;
        if result.is_none() {
            // A fault ends the probe at once.
            self.par |= reg::PAR_FAULT;
            return;
        }
        self.running = Some(Running {
            polls: self.knobs.ecats_polls,
            result,
        });
    }

    fn read64(&mut self, off: usize) -> u64 {
        match off {
            reg::SID_HALT => u64::from(self.sid_halt),
            reg::VA_ADDR => self.va,
            reg::TXN_TRIGG => self.trigg,
            reg::SR_HALT_ACK => u64::from(self.sr()),
            reg::PAR => self.par,
            reg::AXUSER => self.axuser,
            _ => {
                self.misuse.push(TbuMisuse::Unknown { off });
                0
            }
        }
    }

    fn write64(&mut self, off: usize, v: u64) {
        match off {
            reg::SID_HALT => self.write_sid_halt(v as u32),
            reg::VA_ADDR => self.va = v,
            reg::TXN_TRIGG => self.write_trigg(v),
            reg::AXUSER => self.axuser = v,
            _ => self.misuse.push(TbuMisuse::Unknown { off }),
        }
    }
}

impl RegisterModel for TbuModel {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        match width {
            Width::W64 | Width::W32 if off.is_multiple_of(8) => {
                let v = self.read64(off);
                if width == Width::W32 {
                    v & 0xffff_ffff
                } else {
                    v
                }
            }
            _ => {
                self.misuse.push(TbuMisuse::BadWidth { off, width });
                0
            }
        }
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        match width {
            Width::W64 if off.is_multiple_of(8) => self.write64(off, val),
            // A 32-bit store sets the low word (DEBUG_SID_HALT's fields all
            // are there; Linux writes it both ways).
            Width::W32 if off.is_multiple_of(8) => {
                let old = match off {
                    reg::VA_ADDR => self.va,
                    reg::TXN_TRIGG => self.trigg,
                    reg::AXUSER => self.axuser,
                    _ => 0,
                };
                self.write64(off, old & !0xffff_ffff | val & 0xffff_ffff);
            }
            _ => self.misuse.push(TbuMisuse::BadWidth { off, width }),
        }
    }
}
