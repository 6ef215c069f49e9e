//! What the DART driver checks through its registers alone, with no DMA
//! master (`Probe::hardware_checks`): the cases a board with no master the
//! image can drive still runs (an M1 Mac mini: no memory-to-memory engine
//! sits behind a DART; boards/j274/README.md).
//!
//! * `dart_identify` — PARAMS1–4 as identification read them;
//! * `dart_lock_state` — the lock register, read again: unchanged since
//!   bring-up and not all ones;
//! * `dart_stream_readback` — one stream no master uses (the DART's last
//!   SID) pointed at an empty table and read back (TTBR0, TCR), flushed,
//!   then blocked again and read back; SKIP on a DART left as found (locked,
//!   or translating for the boot loader);
//! * `dart_invalidation_completes` — a flush of one stream and of every
//!   stream end within the busy timeout (flushes work on locked DARTs too,
//!   docs/hw/dart.md §9);
//! * `dart_error_register` — an error latched before the run is decoded
//!   and cleared, and ERROR reads clear afterwards.
#![forbid(unsafe_code)]

use super::fault;
use super::hw::DartHw;
use super::sids::SidSet;
use crate::iommu::pgtable::Codec;
use crate::iommu::probe::{CheckOutcome, HardwareCheck};
use crate::mmio::Mmio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// What the checks check, for reports.
pub const WHAT: &str =
    "the DART's register checks (identification, lock state, a stream's TCR/TTBR read back, invalidations completing, the error register)";

fn check(name: &'static str, outcome: CheckOutcome, notes: Vec<String>) -> HardwareCheck {
    HardwareCheck {
        name,
        outcome,
        notes,
    }
}

/// Runs the checks.  `table`: the bus address of a zeroed, 16 KiB-aligned
/// table the read-back may point a stream at (`None`: it could not be
/// allocated); `left_as_found`: why the DART must not be written (locked,
/// or translating for the boot loader).
pub fn run<M: Mmio>(
    hw: &mut DartHw<M>,
    table: Option<u64>,
    left_as_found: Option<&str>,
) -> Vec<HardwareCheck> {
    let id = hw.ident();
    let mut out = Vec::new();

    let mut notes = alloc::vec![format!(
        "PARAMS1 {:#x} (16 KiB pages), PARAMS2 {:#x} (bypass {}), {} streams, {}-level walk of {}-bit IOVAs to {}-bit output",
        id.params1,
        id.params2,
        if id.bypass { "supported" } else { "not supported" },
        id.sids,
        id.format.levels(),
        id.format.input_bits(),
        id.format.output_bits()
    )];
    if let Some((p3, p4)) = id.params34 {
        notes.push(format!("PARAMS3 {p3:#x}, PARAMS4 {p4:#x}"));
    }
    out.push(check("dart_identify", CheckOutcome::Pass, notes));

    let now = hw.read_lock();
    let (name, off, value) = match (id.lock, now) {
        (_, Some(l)) | (Some(l), None) => l,
        (None, None) => hw.lock_register(),
    };
    let lock = match (id.lock.is_some(), now.is_some()) {
        _ if value == u32::MAX => check(
            "dart_lock_state",
            CheckOutcome::Fail,
            alloc::vec![format!(
                "{name} ({off:#05x}) reads all ones: no register behind it"
            )],
        ),
        (true, true) => check(
            "dart_lock_state",
            CheckOutcome::Pass,
            alloc::vec![format!(
                "locked ({name} {off:#05x} = {value:#x}): left as found, TCR and TTBR never written"
            )],
        ),
        (false, false) => check(
            "dart_lock_state",
            CheckOutcome::Pass,
            alloc::vec![format!("not locked ({name} {off:#05x} = {value:#x})")],
        ),
        (before, _) => check(
            "dart_lock_state",
            CheckOutcome::Fail,
            alloc::vec![format!(
                "the lock changed during the run: {} at bring-up, {name} {off:#05x} = {value:#x} now",
                if before { "locked" } else { "not locked" }
            )],
        ),
    };
    out.push(lock);

    let sid = id.sids - 1;
    let readback = match (left_as_found, table) {
        (Some(why), _) => check(
            "dart_stream_readback",
            CheckOutcome::Skip(format!("nothing is written to this DART: {why}")),
            Vec::new(),
        ),
        (None, None) => check(
            "dart_stream_readback",
            CheckOutcome::Fail,
            alloc::vec![String::from(
                "no 16 KiB table could be allocated from the DMA pool to point the stream at"
            )],
        ),
        (None, Some(root)) => {
            let format = id.format;
            let r = hw
                .program_stream(sid, root, &format)
                .and_then(|()| {
                    let s = hw.stream_state(sid);
                    hw.flush(SidSet::one(sid))?;
                    Ok(s)
                })
                .and_then(|s| {
                    hw.block_stream(sid)?;
                    hw.flush(SidSet::one(sid))?;
                    Ok((s, hw.stream_state(sid)))
                });
            match r {
                Ok((on, off)) => check(
                    "dart_stream_readback",
                    CheckOutcome::Pass,
                    alloc::vec![format!(
                        "stream {sid} (no master uses it): TTBR0 {:#x} TCR {:#x} read back for an empty table at {root:#x}; blocked again: TTBR0 {:#x} TCR {:#x}",
                        on.ttbr0, on.tcr, off.ttbr0, off.tcr
                    )],
                ),
                Err(e) => {
                    // Leave the stream blocked whatever happened.
                    let _ = hw.block_stream(sid);
                    check(
                        "dart_stream_readback",
                        CheckOutcome::Fail,
                        alloc::vec![format!("stream {sid}: {e}")],
                    )
                }
            }
        }
    };
    out.push(readback);

    let flushes = hw
        .flush(SidSet::one(sid))
        .and_then(|one| Ok((one, hw.flush_all()?)));
    out.push(match flushes {
        Ok((one, all)) => check(
            "dart_invalidation_completes",
            CheckOutcome::Pass,
            alloc::vec![format!(
                "a flush of stream {sid} ({one} command) and of every stream ({all} command) completed within {} us each",
                super::hw::BUSY_TIMEOUT.as_micros()
            )],
        ),
        Err(e) => check(
            "dart_invalidation_completes",
            CheckOutcome::Fail,
            alloc::vec![format!("{e}")],
        ),
    });

    let mut notes = Vec::new();
    if let Some(e) = hw.latched() {
        let f = fault::decode(&e, hw.variant().layout);
        notes.push(format!(
            "latched before the checks: ERROR {:#x} ({f}); cleared",
            e.raw
        ));
    }
    let (_, after) = hw.clear_error();
    let outcome = if after & 1 << 31 == 0 {
        notes.push(format!("ERROR reads {after:#x} after the clear"));
        CheckOutcome::Pass
    } else {
        notes.push(format!(
            "ERROR still reads {after:#x} (FLAG set) after writing it back"
        ));
        CheckOutcome::Fail
    };
    out.push(check("dart_error_register", outcome, notes));
    out
}
