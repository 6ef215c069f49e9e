//! Mapping permissions and memory attributes, independent of any table format.
//!
//! Each codec turns a [`Prot`] into its own bits (LPAE AP/AttrIndx/SH/XN,
//! sun50i ACI, DART NO_READ/NO_WRITE) and back.
#![forbid(unsafe_code)]

/// The memory type a mapping should have on the output side of the IOMMU.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MemAttr {
    /// Normal memory, write-back cacheable (snooped by a coherent master).
    #[default]
    Cacheable,
    /// Normal memory, non-cacheable.
    NonCacheable,
    /// Device memory (MMIO behind the IOMMU, e.g. an MSI doorbell).
    Device,
}

/// What a device may do through a mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Prot {
    /// Device reads allowed.
    pub read: bool,
    /// Device writes allowed.
    pub write: bool,
    /// Instruction fetches allowed (only meaningful where the bus marks them).
    pub exec: bool,
    /// Only privileged transactions may use the mapping.
    pub privileged: bool,
    /// Output memory type.
    pub attr: MemAttr,
}

impl Prot {
    /// Read-write, cacheable, not executable, unprivileged: the usual DMA buffer.
    pub const fn rw() -> Self {
        Self {
            read: true,
            write: true,
            exec: false,
            privileged: false,
            attr: MemAttr::Cacheable,
        }
    }

    /// Read-only for the device (device writes fault), cacheable.
    pub const fn ro() -> Self {
        Self {
            write: false,
            ..Self::rw()
        }
    }

    /// The same permissions with another memory type.
    pub const fn with_attr(self, attr: MemAttr) -> Self {
        Self { attr, ..self }
    }
}

impl Default for Prot {
    fn default() -> Self {
        Self::rw()
    }
}
