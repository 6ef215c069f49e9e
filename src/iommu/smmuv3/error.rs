//! Everything that can go wrong driving an SMMUv3, as one enum that names the
//! register, the value seen and the stream ID involved, so a lab log says what
//! the hardware did rather than "error".
#![forbid(unsafe_code)]

use super::command::opcode_name;
use crate::mm::dma_pool::DmaError;
use core::fmt;
use core::time::Duration;

/// CMDQ_CONS.ERR, decoded (docs/hw/smmuv3.md §10.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandErrorKind {
    /// CERROR_ILL: illegal or unknown command.
    Illegal,
    /// CERROR_ABT: abort while fetching the command.
    FetchAbort,
    /// CERROR_ATC_INV_SYNC: an ATC invalidation did not complete.
    AtcInvSync,
    /// A code this driver does not know.
    Unknown(u8),
}

impl CommandErrorKind {
    /// Decodes CMDQ_CONS.ERR.
    pub fn from_code(code: u32) -> Self {
        match code {
            1 => Self::Illegal,
            2 => Self::FetchAbort,
            3 => Self::AtcInvSync,
            c => Self::Unknown((c & 0x7f) as u8),
        }
    }
}

impl fmt::Display for CommandErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Illegal => f.write_str("CERROR_ILL"),
            Self::FetchAbort => f.write_str("CERROR_ABT"),
            Self::AtcInvSync => f.write_str("CERROR_ATC_INV_SYNC"),
            Self::Unknown(c) => write!(f, "CERROR code {c:#x}"),
        }
    }
}

/// A command the SMMU refused, with where it sat and what it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandError {
    /// Which error.
    pub kind: CommandErrorKind,
    /// Queue index (without the wrap bit) of the offending command.
    pub index: u32,
    /// Its opcode (`dword0[7:0]`).
    pub opcode: u8,
    /// The command as it was in the queue.
    pub dwords: [u64; 2],
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on opcode {:#04x} ({}) at CMDQ index {} [{:#018x} {:#018x}]",
            self.kind,
            self.opcode,
            opcode_name(self.opcode),
            self.index,
            self.dwords[0],
            self.dwords[1]
        )
    }
}

/// Errors of the SMMUv3 hardware layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smmuv3Error {
    /// The SMMU lacks something this driver needs.
    Unsupported {
        /// Register the value came from.
        register: &'static str,
        /// Its raw value.
        value: u32,
        /// What is missing, in words.
        reason: &'static str,
    },
    /// A bounded wait for the hardware ran out.
    Timeout {
        /// What we waited for.
        what: &'static str,
        /// The register polled.
        register: &'static str,
        /// The value we waited for (where one applies).
        expected: u32,
        /// The last value read.
        last: u32,
        /// How long we waited.
        waited: Duration,
    },
    /// The command queue reported an error (already recovered from: the
    /// queue is running again when this is returned).
    Command(CommandError),
    /// GERROR.SFM_ERR: the SMMU entered service failure mode.
    ServiceFailure {
        /// GERROR value.
        gerror: u32,
    },
    /// A stream ID the configured stream table cannot hold.
    StreamIdOutOfRange {
        /// The stream ID.
        sid: u32,
        /// StreamID bits the table covers.
        table_bits: u8,
    },
    /// An ASID or VMID wider than IDR0 allows.
    IdOutOfRange {
        /// "ASID" or "VMID".
        what: &'static str,
        /// The value.
        value: u32,
        /// Supported bits.
        bits: u8,
    },
    /// A driver parameter the hardware cannot honour.
    BadConfig {
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A table or queue the SMMU would reach at an address it cannot
    /// output (IDR5.OAS): its accesses would fault or alias lower memory.
    BeyondOas {
        /// Which structure ("stream table", "L2 stream table", "CMDQ",
        /// "EVTQ", "CD").
        what: &'static str,
        /// Its bus address (the last byte's is what is checked).
        addr: u64,
        /// IDR5.OAS in bits.
        oas_bits: u8,
    },
    /// An operation that needs the queues before `reset_and_enable` ran.
    NotEnabled,
    /// No DMA memory for a table or queue.
    Dma(DmaError),
}

impl From<DmaError> for Smmuv3Error {
    fn from(e: DmaError) -> Self {
        Self::Dma(e)
    }
}

impl fmt::Display for Smmuv3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported {
                register,
                value,
                reason,
            } => write!(f, "SMMUv3 unsupported: {reason} ({register}={value:#010x})"),
            Self::Timeout {
                what,
                register,
                expected,
                last,
                waited,
            } => write!(
                f,
                "SMMUv3 timeout after {} us waiting for {what} ({register} last {last:#010x}, wanted {expected:#010x})",
                waited.as_micros()
            ),
            Self::Command(c) => write!(f, "SMMUv3 command error: {c}"),
            Self::ServiceFailure { gerror } => {
                write!(f, "SMMUv3 service failure mode (GERROR={gerror:#010x})")
            }
            Self::StreamIdOutOfRange { sid, table_bits } => write!(
                f,
                "stream ID {sid:#x} outside the {table_bits}-bit stream table"
            ),
            Self::IdOutOfRange { what, value, bits } => {
                write!(f, "{what} {value:#x} wider than the {bits} bits supported")
            }
            Self::BadConfig { what, value } => write!(f, "bad SMMUv3 parameter {what}={value:#x}"),
            Self::BeyondOas {
                what,
                addr,
                oas_bits,
            } => write!(
                f,
                "SMMUv3 {what} at bus address {addr:#x} is beyond the {oas_bits}-bit output address size (IDR5.OAS)"
            ),
            Self::NotEnabled => f.write_str("SMMUv3 queues not set up (reset_and_enable first)"),
            Self::Dma(e) => write!(f, "SMMUv3 DMA memory: {e}"),
        }
    }
}
