//! Mapping permissions and memory attributes, independent of any table format.
//!
//! Each codec turns a [`Prot`] into its own bits (LPAE AP/AttrIndx/SH/XN,
//! sun50i ACI, DART NO_READ/NO_WRITE) and back.
#![forbid(unsafe_code)]

/// The memory type a mapping should have on the output side of the IOMMU.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MemAttr {
    /// Normal memory, write-back cacheable (snooped by a coherent master).
    /// Only for memory the CPU also maps Write-Back: a master's cacheable
    /// access to memory the CPU maps Non-cacheable is a mismatched-attribute
    /// alias (docs/hw/smmuv3.md §12.1).
    Cacheable,
    /// Normal memory, non-cacheable: how the CPU maps the image's DMA pool,
    /// so the default.
    #[default]
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
    /// Read-write, executable, unprivileged, Normal Non-cacheable: the
    /// usual DMA buffer of this image.
    ///
    /// * Non-cacheable: it lives in the DMA pool the CPU maps Non-cacheable
    ///   on every platform (docs/architecture.md "Memory"), so the master's
    ///   view matches the CPU's (Linux likewise maps without `IOMMU_CACHE`
    ///   unless the device is coherent; docs/hw/smmuv3.md §12.1).  A buffer
    ///   the CPU maps Write-Back takes `.with_attr(MemAttr::Cacheable)`.
    /// * Executable (XN clear): a DMA mapping is executable unless asked
    ///   otherwise, as Linux's DMA mappings (no `IOMMU_NOEXEC`), so a
    ///   master that marks its reads as instruction fetches is not refused
    ///   (docs/hw/smmuv3.md §12.2).  A no-exec mapping sets `exec: false`.
    pub const fn rw() -> Self {
        Self {
            read: true,
            write: true,
            exec: true,
            privileged: false,
            attr: MemAttr::NonCacheable,
        }
    }

    /// Read-only for the device (device writes fault), as [`Self::rw`].
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
