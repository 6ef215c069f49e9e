//! Checks before the catalogue runs, so that a wrong setup is named as
//! what it is instead of showing up as a dozen unexplained case failures:
//!
//! * every master can reach, through its own domain, the lowest and the
//!   highest IOVA the run uses — a DMA that does not land at a high IOVA
//!   while it lands at a low one is the master's addressing limit (QEMU's
//!   edu truncates addresses to its `dma_mask`, 28 bits by default), not an
//!   IOMMU bug;
//! * a DMA that lands nowhere and leaves no fault record naming the
//!   master's stream means the IOMMU does not see the stream ID discovery
//!   gave it (a wrong `iommu-map`/`iommus`, or a requester-ID alias);
//! * a fault record naming another stream ID says which one the IOMMU saw.
#![forbid(unsafe_code)]

use super::guarded::GuardedBuf;
use super::iommu_cases::IommuTest;
use super::setup_error::{FaultSeen, SetupError};
use crate::iommu::pgtable::{Prot, TableMemory};
use crate::iommu::Observe;
use crate::mm::Iova;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Bytes each probe DMA moves.
const PROBE: usize = 16;

/// Runs the checks; `iovas` are the IOVAs to probe (lowest and highest the
/// run uses), each outside every domain's allocator range.  `Ok` carries
/// notes for the KTAP output; `Err` is a setup failure naming the cause.
pub fn preflight<I: Observe, M: TableMemory>(
    t: &mut IommuTest<'_, I, M>,
    iovas: &[Iova],
) -> Result<Vec<String>, SetupError> {
    let mut notes = Vec::new();
    let page = t.page;
    let timeout = t.timeout;
    let shared = t.domains.len() == 1;
    let _ = t.iommu.drain_faults();
    for m in 0..t.masters.len() {
        let d = if shared { 0 } else { m };
        let name = String::from(t.masters[m].name());
        let stream = t.masters[m].stream();
        let buf = GuardedBuf::new(t.pool, page as usize, page as usize)
            .map_err(SetupError::PreflightBuffer)?;
        let mut landed = Vec::new();
        for (k, &iova) in iovas.iter().enumerate() {
            t.domains[d]
                .map(t.iommu, iova, buf.bus(), page, Prot::rw())
                .map_err(|cause| SetupError::PreflightMap {
                    iova,
                    master: name.clone(),
                    cause,
                })?;
            let pattern = [0xc0 | (m as u8) << 2 | k as u8; PROBE];
            let sent = t.masters[m].write(iova, &pattern, timeout);
            let ok = sent.is_ok() && buf.bytes(0, PROBE) == pattern;
            let _ = t.domains[d].unmap(t.iommu, iova, page);
            buf.write(0, &[0; PROBE]);
            landed.push((iova, ok, sent.err()));
        }
        let faults = t.iommu.drain_faults();
        let other_stream = faults.iter().find(|f| f.stream != stream);
        let own_fault = faults.iter().any(|f| f.stream == stream);
        if let Some(&(iova, _, how)) = landed.iter().find(|l| !l.1) {
            if let Some(&(low, true, _)) = landed.first() {
                return Err(SetupError::MasterTooNarrow {
                    master: name,
                    low,
                    iova,
                    how,
                });
            }
            let seen = match (other_stream, own_fault) {
                (Some(f), _) => FaultSeen::OtherStream(f.stream),
                (None, true) => FaultSeen::OwnStream,
                (None, false) => FaultSeen::Nothing,
            };
            return Err(SetupError::NotLanded {
                master: name,
                stream,
                iova,
                how,
                seen,
            });
        }
        notes.push(format!(
            "preflight: {name} ({stream}) reaches {} through {}",
            iovas
                .iter()
                .map(|i| format!("{i}"))
                .collect::<Vec<_>>()
                .join(" and "),
            t.iommu.name()
        ));
        drop(buf);
    }
    Ok(notes)
}
