//! The virtio-iommu device over the virtio PCI transport: bring-up
//! (features, configuration, `config.bypass` cleared, request and event
//! queues), synchronous requests with status checking, and the event queue.
//!
//! QEMU 10.0.2 handles a request while the driver's notify store executes
//! and returns the buffer at once (docs/hw/qemu-virt.md §4); the wait is still
//! bounded.  The device's own virtqueues are not translated, so descriptors
//! carry bus addresses.
#![forbid(unsafe_code)]

use super::proto::{
    self, cfg, FaultEvent, ReqType, Request, ResvRegion, F_BYPASS_CONFIG, F_DOMAIN_RANGE,
    F_INPUT_RANGE, F_MAP_UNMAP, F_PROBE, S_OK,
};
use crate::iommu::IommuError;
use crate::mm::dma_pool::{DmaBuf, DmaPool};
use crate::mmio::Mmio;
use crate::time::Clock;
use crate::virtio::{Buffer, Layout, SplitQueue, Transport, VirtioError};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// Queue 0: requests (§5.13.2).
const REQUEST_Q: u16 = 0;
/// Queue 1: events.
const EVENT_Q: u16 = 1;
/// Request queue entries: requests are synchronous, two descriptors each.
const REQUEST_Q_SIZE: u16 = 8;
/// Event queue entries = event buffers posted.
const EVENT_Q_SIZE: u16 = 64;
/// Bytes per event buffer (the fault record is 24).
const EVENT_SLOT: usize = 64;
/// Where the device-writable part of a request starts in the request buffer.
const IN_AREA: usize = 256;
/// Largest `probe_size` we give buffer room for.
const MAX_PROBE_SIZE: u32 = 16 << 10;
/// Bound on one request (QEMU answers during the notify store).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the device could not be brought up or a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViommuError {
    /// The virtio transport failed.
    Transport(VirtioError),
    /// `config.bypass` still reads non-zero after writing 0.
    BypassStuck {
        /// Value read back.
        value: u8,
    },
    /// `probe_size` is larger than we give room for.
    ProbeTooLarge {
        /// The device's `probe_size`.
        probe_size: u32,
    },
    /// A request completed with a status other than S_OK.
    Status {
        /// Request.
        request: ReqType,
        /// Status (§5.13.6.1).
        status: u8,
        /// The IOVA or endpoint it was about.
        subject: u64,
    },
    /// A PROBE answer did not parse.
    BadProbe {
        /// Endpoint probed.
        endpoint: u32,
        /// Offset of the bad property.
        offset: usize,
        /// Its type.
        kind: u16,
    },
    /// The domain ID is outside the device's `domain_range`.
    DomainOutOfRange {
        /// Domain.
        domain: u32,
        /// Device range (inclusive).
        range: (u32, u32),
    },
}

impl From<VirtioError> for ViommuError {
    fn from(e: VirtioError) -> Self {
        Self::Transport(e)
    }
}

impl From<ViommuError> for IommuError {
    fn from(e: ViommuError) -> Self {
        match e {
            ViommuError::Transport(t) => IommuError::Virtio(t),
            ViommuError::Status {
                request,
                status,
                subject,
            } => IommuError::RequestStatus {
                request: request as u8,
                status,
                subject,
            },
            ViommuError::BypassStuck { value } => IommuError::Unsupported {
                value: u64::from(value),
            },
            ViommuError::ProbeTooLarge { probe_size } => IommuError::Unsupported {
                value: u64::from(probe_size),
            },
            ViommuError::BadProbe { endpoint, .. } => IommuError::RequestStatus {
                request: ReqType::Probe as u8,
                status: 0xff,
                subject: u64::from(endpoint),
            },
            ViommuError::DomainOutOfRange { domain, .. } => IommuError::Unsupported {
                value: u64::from(domain),
            },
        }
    }
}

impl fmt::Display for ViommuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Transport(e) => write!(f, "{e}"),
            Self::BypassStuck { value } => {
                write!(f, "config.bypass reads {value} after writing 0")
            }
            Self::ProbeTooLarge { probe_size } => {
                write!(f, "probe_size {probe_size} exceeds {MAX_PROBE_SIZE}")
            }
            Self::Status {
                request,
                status,
                subject,
            } => write!(
                f,
                "{request:?} for {subject:#x}: status {status} ({})",
                proto::status_name(status)
            ),
            Self::BadProbe {
                endpoint,
                offset,
                kind,
            } => write!(
                f,
                "PROBE of endpoint {endpoint:#x}: property type {kind} at {offset:#x} does not parse"
            ),
            Self::DomainOutOfRange { domain, range } => write!(
                f,
                "domain {domain} outside the device's domain_range {}..={}",
                range.0, range.1
            ),
        }
    }
}

/// What the device's configuration says (§5.13.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Negotiated features.
    pub features: u64,
    /// Supported page sizes (bit n = 2^n bytes).
    pub page_size_mask: u64,
    /// IOVAs a mapping may use (inclusive).
    pub input_range: (u64, u64),
    /// Domain IDs (inclusive).
    pub domain_range: (u32, u32),
    /// Bytes of PROBE properties (0 without F_PROBE).
    pub probe_size: u32,
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "features {:#x}, page_size_mask {:#x}, input range {:#x}..={:#x}, domains {}..={}, probe_size {}, bypass off",
            self.features,
            self.page_size_mask,
            self.input_range.0,
            self.input_range.1,
            self.domain_range.0,
            self.domain_range.1,
            self.probe_size
        )
    }
}

/// A brought-up virtio-iommu.
pub struct VirtioIommuDevice<'p, 'c, M: Mmio> {
    t: Transport<'c, M>,
    req_q: SplitQueue<'p>,
    evt_q: SplitQueue<'p>,
    req_buf: DmaBuf<'p>,
    evt_buf: DmaBuf<'p>,
    /// Event slot of each descriptor head in flight on the event queue.
    evt_slot: Vec<Option<usize>>,
    info: DeviceInfo,
    requests: u64,
}

impl<'p, 'c, M: Mmio> VirtioIommuDevice<'p, 'c, M> {
    /// Brings the device up (virtio 1.2 §3.1.1, §5.13.5): negotiate
    /// MAP_UNMAP and BYPASS_CONFIG (required) with INPUT_RANGE,
    /// DOMAIN_RANGE and PROBE, read the configuration, write
    /// `config.bypass = 0` so unattached endpoints are blocked (QEMU's
    /// `boot-bypass` default is on, docs/hw/qemu-virt.md §4), set up both queues,
    /// DRIVER_OK, and post the event buffers.
    pub fn bring_up(
        bar: M,
        layout: Layout,
        clock: &'c dyn Clock,
        pool: &'p DmaPool,
        barrier: fn(),
    ) -> Result<Self, ViommuError> {
        let mut t = Transport::new(bar, layout, clock);
        let features = t.negotiate(
            F_MAP_UNMAP | F_BYPASS_CONFIG,
            F_INPUT_RANGE | F_DOMAIN_RANGE | F_PROBE,
        )?;
        let page_size_mask = t.cfg_read64(cfg::PAGE_SIZE_MASK)?;
        let input_range = if features & F_INPUT_RANGE != 0 {
            (
                t.cfg_read64(cfg::INPUT_START)?,
                t.cfg_read64(cfg::INPUT_END)?,
            )
        } else {
            (0, u64::MAX)
        };
        let domain_range = if features & F_DOMAIN_RANGE != 0 {
            (
                t.cfg_read32(cfg::DOMAIN_START)?,
                t.cfg_read32(cfg::DOMAIN_END)?,
            )
        } else {
            (0, u32::MAX)
        };
        let probe_size = if features & F_PROBE != 0 {
            t.cfg_read32(cfg::PROBE_SIZE)?
        } else {
            0
        };
        if probe_size > MAX_PROBE_SIZE {
            return Err(ViommuError::ProbeTooLarge { probe_size });
        }
        t.cfg_write8(cfg::BYPASS, 0)?;
        let value = t.cfg_read8(cfg::BYPASS)?;
        if value != 0 {
            return Err(ViommuError::BypassStuck { value });
        }
        let alloc = |bytes: u64| {
            pool.alloc(bytes)
                .map_err(|_| VirtioError::NoMemory { bytes })
        };
        let qmem = alloc(4096)?;
        let qbus = qmem.bus_addr().0;
        let req_q = SplitQueue::new(REQUEST_Q, qmem, qbus, REQUEST_Q_SIZE, barrier)?;
        let emem = alloc(4096)?;
        let ebus = emem.bus_addr().0;
        let evt_q = SplitQueue::new(EVENT_Q, emem, ebus, EVENT_Q_SIZE, barrier)?;
        t.setup_queue(&req_q)?;
        t.setup_queue(&evt_q)?;
        let req_buf = alloc((IN_AREA as u64 + u64::from(probe_size) + 4).next_multiple_of(4096))?;
        let evt_buf = alloc((usize::from(EVENT_Q_SIZE) * EVENT_SLOT) as u64)?;
        t.driver_ok();
        let mut dev = Self {
            t,
            req_q,
            evt_q,
            req_buf,
            evt_buf,
            evt_slot: vec![None; usize::from(EVENT_Q_SIZE)],
            info: DeviceInfo {
                features,
                page_size_mask,
                input_range,
                domain_range,
                probe_size,
            },
            requests: 0,
        };
        for slot in 0..usize::from(EVENT_Q_SIZE) {
            dev.post_event(slot)?;
        }
        dev.t.notify(EVENT_Q);
        Ok(dev)
    }

    /// The configuration read at bring-up.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Requests completed so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn post_event(&mut self, slot: usize) -> Result<(), VirtioError> {
        let head = self.evt_q.push(&[Buffer {
            addr: self.evt_buf.bus_addr().0 + (slot * EVENT_SLOT) as u64,
            len: EVENT_SLOT as u32,
            device_writes: true,
        }])?;
        if let Some(s) = self.evt_slot.get_mut(usize::from(head)) {
            *s = Some(slot);
        }
        Ok(())
    }

    /// Sends `req`, waits for the device to return it and checks the
    /// status in the tail.  Returns the device-written bytes before the tail.
    pub fn send(&mut self, req: &Request, subject: u64) -> Result<Vec<u8>, ViommuError> {
        let in_len = req.in_len;
        self.req_buf.write(0, &req.out);
        self.req_buf.write(IN_AREA, &vec![0xffu8; in_len]);
        let base = self.req_buf.bus_addr().0;
        self.req_q.push(&[
            Buffer {
                addr: base,
                len: req.out.len() as u32,
                device_writes: false,
            },
            Buffer {
                addr: base + IN_AREA as u64,
                len: in_len as u32,
                device_writes: true,
            },
        ])?;
        self.t.notify(REQUEST_Q);
        self.t.wait_used(&mut self.req_q, REQUEST_TIMEOUT)?;
        self.requests += 1;
        let mut back = vec![0u8; in_len];
        self.req_buf.read(IN_AREA, &mut back);
        let status = back[in_len - proto::TAIL];
        if status != S_OK {
            return Err(ViommuError::Status {
                request: req.kind,
                status,
                subject,
            });
        }
        back.truncate(in_len - proto::TAIL);
        Ok(back)
    }

    /// Checks `domain` against `domain_range`.
    pub fn check_domain(&self, domain: u32) -> Result<(), ViommuError> {
        let r = self.info.domain_range;
        if domain < r.0 || domain > r.1 {
            return Err(ViommuError::DomainOutOfRange { domain, range: r });
        }
        Ok(())
    }

    /// PROBE `endpoint` for its reserved regions (empty without F_PROBE).
    pub fn probe_endpoint(&mut self, endpoint: u32) -> Result<Vec<ResvRegion>, ViommuError> {
        if self.info.probe_size == 0 {
            return Ok(Vec::new());
        }
        let req = proto::probe(endpoint, self.info.probe_size as usize);
        let props = self.send(&req, u64::from(endpoint))?;
        proto::parse_probe(&props).map_err(|b| ViommuError::BadProbe {
            endpoint,
            offset: b.offset,
            kind: b.kind,
        })
    }

    /// Fault events the device wrote since the last call; their buffers
    /// are posted again.  At most one queue's worth per call.
    pub fn drain_events(&mut self) -> Result<Vec<FaultEvent>, ViommuError> {
        let mut out = Vec::new();
        let mut reposted = false;
        for _ in 0..EVENT_Q_SIZE {
            let Some(u) = self.evt_q.pop_used()? else {
                break;
            };
            let slot = self
                .evt_slot
                .get_mut(usize::from(u.head))
                .and_then(Option::take);
            let Some(slot) = slot else { continue };
            if u.written as usize >= proto::FAULT_BYTES {
                let mut b = [0u8; proto::FAULT_BYTES];
                self.evt_buf.read(slot * EVENT_SLOT, &mut b);
                if let Some(e) = FaultEvent::decode(&b) {
                    out.push(e);
                }
            }
            self.post_event(slot)?;
            reposted = true;
        }
        if reposted {
            self.t.notify(EVENT_Q);
        }
        Ok(out)
    }
}
