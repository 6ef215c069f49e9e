//! The DMA frame pool: page-granular memory that DMA masters and IOMMU
//! walkers use, with both the CPU address and the bus address of every
//! allocation, zeroed on allocation and returned on drop.
//!
//! This is one of the three places `unsafe` is allowed: the pool owns a range
//! of RAM and hands out exclusive pieces of it; [`DmaBuf`] accesses its piece
//! with volatile copies because a device may read or write it at any time.
//!
//! Bus addresses equal physical addresses today (no `dma-ranges` offset on
//! the platforms we support); [`DmaPool::bus_offset`] is where that changes.

use super::addr::{BusAddr, PhysAddr, PhysRange, VirtAddr};
use buddy_system_allocator::FrameAllocator;
use core::fmt;

/// Frame size.
pub const FRAME: u64 = 4096;

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// Nothing left of this size.
    Exhausted {
        /// Bytes requested.
        requested: u64,
        /// Pool size.
        pool: PhysRange,
    },
    /// A zero-byte or absurd request.
    BadSize {
        /// Bytes requested.
        requested: u64,
    },
    /// No free block of this size lies entirely below the bus address
    /// `limit` ([`DmaPool::alloc_below`]): the pool is exhausted there, or
    /// lies above the limit altogether.
    NoneBelow {
        /// Bytes requested.
        requested: u64,
        /// Every byte of the block had to have a bus address below this.
        limit: u64,
        /// Pool range (CPU physical addresses).
        pool: PhysRange,
    },
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmaError::Exhausted { requested, pool } => {
                write!(f, "DMA pool {pool} cannot supply {requested} bytes")
            }
            DmaError::BadSize { requested } => write!(f, "bad DMA allocation size {requested}"),
            DmaError::NoneBelow {
                requested,
                limit,
                pool,
            } => write!(
                f,
                "DMA pool {pool} has no {requested} bytes below bus address {limit:#x}"
            ),
        }
    }
}

/// A bus-address access outside the pool ([`DmaPool::read_bus`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsidePool {
    /// The bus address asked for.
    pub bus: u64,
    /// Bytes asked for.
    pub len: usize,
    /// The pool's range (CPU physical addresses).
    pub pool: PhysRange,
}

impl fmt::Display for OutsidePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes at bus address {:#x} are not all inside the DMA pool {}",
            self.len, self.bus, self.pool
        )
    }
}

/// A pool of DMA-able frames.
pub struct DmaPool {
    range: PhysRange,
    frames: spin::Mutex<Frames>,
    bus_offset: u64,
}

struct Frames {
    alloc: FrameAllocator<32>,
    in_use: usize,
}

impl DmaPool {
    /// Creates a pool over `range` (page aligned inward).
    ///
    /// # Safety
    ///
    /// `range` must be RAM that is mapped read-write at its identity virtual
    /// address for the life of the pool, and nothing else may use it: the
    /// pool hands out exclusive pieces of it.
    pub unsafe fn new(range: PhysRange) -> Self {
        let start = range.base.align_up(FRAME).unwrap_or(range.base);
        let end = range.end().align_down(FRAME).max(start);
        let mut frames = FrameAllocator::<32>::new();
        frames.add_frame(
            (start.as_u64() / FRAME) as usize,
            (end.as_u64() / FRAME) as usize,
        );
        Self {
            range: PhysRange::new(start, end - start),
            frames: spin::Mutex::new(Frames {
                alloc: frames,
                in_use: 0,
            }),
            bus_offset: 0,
        }
    }

    /// Like [`new`](Self::new), but devices see the pool at
    /// `physical + bus_offset` (wrapping: a negative offset is the two's
    /// complement).  Every platform this image boots on has offset 0; host
    /// tests use it to put a host allocation at a 32-bit bus address for a
    /// model IOMMU whose tables and outputs are 32-bit
    /// (docs/hw/sun50i.md §4.2).
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new).
    pub unsafe fn with_bus_offset(range: PhysRange, bus_offset: u64) -> Self {
        // SAFETY: the caller upholds `new`'s contract.
        let mut pool = unsafe { Self::new(range) };
        pool.bus_offset = bus_offset;
        pool
    }

    /// The memory the pool manages.
    pub fn range(&self) -> PhysRange {
        self.range
    }

    /// Bus address minus CPU physical address for memory in this pool.
    pub fn bus_offset(&self) -> u64 {
        self.bus_offset
    }

    /// Allocates `size` bytes (rounded up to whole frames, naturally aligned
    /// to the power-of-two frame count), zeroed.  Needs the heap (the buddy
    /// frame allocator keeps its free lists in `alloc` collections).
    pub fn alloc(&self, size: u64) -> Result<DmaBuf<'_>, DmaError> {
        if size == 0 || size > self.range.size {
            return Err(DmaError::BadSize { requested: size });
        }
        let count = size.div_ceil(FRAME) as usize;
        let first = {
            let mut f = self.frames.lock();
            let first = f.alloc.alloc(count).ok_or(DmaError::Exhausted {
                requested: size,
                pool: self.range,
            })?;
            f.in_use += count;
            first
        };
        let buf = DmaBuf {
            pool: self,
            pa: PhysAddr(first as u64 * FRAME),
            frames: count,
        };
        buf.fill(0);
        Ok(buf)
    }

    /// Like [`alloc`](Self::alloc), but every byte of the block has a bus
    /// address below `limit` (an IOMMU whose table walker only emits 32-bit
    /// addresses needs its tables below 4 GiB; docs/hw/sun50i.md §4.2).
    /// Fails with [`DmaError::NoneBelow`] naming the limit when no free
    /// block of that size lies below it.
    pub fn alloc_below(&self, size: u64, limit: u64) -> Result<DmaBuf<'_>, DmaError> {
        if size == 0 || size > self.range.size {
            return Err(DmaError::BadSize { requested: size });
        }
        let none_below = DmaError::NoneBelow {
            requested: size,
            limit,
            pool: self.range,
        };
        let count = size.div_ceil(FRAME) as usize;
        let bytes = count as u64 * FRAME;
        let bus_base = self.range.base.as_u64().wrapping_add(self.bus_offset);
        let bus_end = self.range.end().as_u64().wrapping_add(self.bus_offset);
        if bus_end <= limit {
            // The whole pool is below the limit.
            return self.alloc(size).map_err(|e| match e {
                DmaError::Exhausted { .. } => none_below,
                e => e,
            });
        }
        if bus_base.saturating_add(bytes) > limit {
            return Err(none_below);
        }
        // The pool straddles the limit: take free blocks until one lies
        // below it, then give back the ones above.  Bounded by the number of
        // free blocks of this size.
        let first = {
            let mut f = self.frames.lock();
            let mut above = alloc::vec::Vec::new();
            let found = loop {
                let Some(first) = f.alloc.alloc(count) else {
                    break None;
                };
                let end = (first as u64 * FRAME)
                    .saturating_add(bytes)
                    .wrapping_add(self.bus_offset);
                if end <= limit {
                    break Some(first);
                }
                above.push(first);
            };
            for first in above {
                f.alloc.dealloc(first, count);
            }
            let first = found.ok_or(none_below)?;
            f.in_use += count;
            first
        };
        let buf = DmaBuf {
            pool: self,
            pa: PhysAddr(first as u64 * FRAME),
            frames: count,
        };
        buf.fill(0);
        Ok(buf)
    }

    /// Copies `out.len()` bytes from bus address `bus`: what a device
    /// reading memory there would see.  For a CPU-driven translation port
    /// (an IOMMU's ATOS) that translates an IOVA and then moves the bytes
    /// itself.  Refused, touching nothing, unless every byte lies inside
    /// the pool.
    pub fn read_bus(&self, bus: BusAddr, out: &mut [u8]) -> Result<(), OutsidePool> {
        let pa = self.inside(bus, out.len())?;
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: `inside` checked every byte is in the pool's range,
            // RAM mapped read-write at its identity address for the pool's
            // life (`new`'s contract); no Rust reference points into pool
            // memory (DmaBuf accesses it through raw pointers), so this
            // volatile load aliases nothing — as a device's read would.
            *b = unsafe { (pa as usize as *const u8).add(i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `data` to bus address `bus`, as a device writing memory
    /// there would; refused unless every byte lies inside the pool.
    pub fn write_bus(&self, bus: BusAddr, data: &[u8]) -> Result<(), OutsidePool> {
        let pa = self.inside(bus, data.len())?;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as in `read_bus`; a device may write any pool byte
            // at any time, which is why every pool access is volatile.
            unsafe { (pa as usize as *mut u8).add(i).write_volatile(*b) };
        }
        Ok(())
    }

    /// The CPU physical address of `len` bytes at bus address `bus`, when
    /// they all lie inside the pool.
    fn inside(&self, bus: BusAddr, len: usize) -> Result<u64, OutsidePool> {
        let outside = OutsidePool {
            bus: bus.0,
            len,
            pool: self.range,
        };
        let pa = bus.0.wrapping_sub(self.bus_offset);
        let end = pa.checked_add(len as u64).ok_or(outside)?;
        if pa < self.range.base.as_u64() || end > self.range.end().as_u64() {
            return Err(outside);
        }
        Ok(pa)
    }

    /// Bytes currently free (for leak checks in the self-test).
    pub fn free_bytes(&self) -> u64 {
        self.range.size - self.frames.lock().in_use as u64 * FRAME
    }
}

/// An exclusive, zero-initialised piece of the DMA pool.
pub struct DmaBuf<'p> {
    pool: &'p DmaPool,
    pa: PhysAddr,
    frames: usize,
}

impl DmaBuf<'_> {
    /// Physical address of the first byte.
    pub fn phys(&self) -> PhysAddr {
        self.pa
    }
    /// CPU virtual address of the first byte (identity mapped).
    pub fn cpu_addr(&self) -> VirtAddr {
        self.pa.to_virt()
    }
    /// Bus address of the first byte (what an IOMMU walker or a bypassing
    /// device uses).
    pub fn bus_addr(&self) -> BusAddr {
        BusAddr(self.pa.as_u64().wrapping_add(self.pool.bus_offset))
    }
    /// Length in bytes (whole frames).
    pub fn len(&self) -> usize {
        self.frames * FRAME as usize
    }
    /// Always `false`: allocations are at least one frame.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The range this buffer covers.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.pa, self.len() as u64)
    }

    fn ptr(&self) -> *mut u8 {
        self.pa.as_u64() as usize as *mut u8
    }

    /// Copies `out.len()` bytes from offset `off`.  Panics if out of bounds
    /// (a caller bug, not input-dependent).
    pub fn read(&self, off: usize, out: &mut [u8]) {
        assert!(
            off.checked_add(out.len()).is_some_and(|e| e <= self.len()),
            "DmaBuf read out of bounds"
        );
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: in bounds (checked above) of memory this buffer owns
            // exclusively (DmaPool::new's contract); volatile because a DMA
            // master may have written it behind the compiler's back.
            *b = unsafe { self.ptr().add(off + i).read_volatile() };
        }
    }

    /// Copies `data` to offset `off`.  Panics if out of bounds.
    pub fn write(&self, off: usize, data: &[u8]) {
        assert!(
            off.checked_add(data.len()).is_some_and(|e| e <= self.len()),
            "DmaBuf write out of bounds"
        );
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as in `read`.
            unsafe { self.ptr().add(off + i).write_volatile(*b) };
        }
    }

    /// Sets every byte to `byte`.
    pub fn fill(&self, byte: u8) {
        for i in 0..self.len() {
            // SAFETY: `i < len`, memory owned by this buffer.
            unsafe { self.ptr().add(i).write_volatile(byte) };
        }
    }

    /// The byte at `off`.
    pub fn byte(&self, off: usize) -> u8 {
        let mut b = [0u8];
        self.read(off, &mut b);
        b[0]
    }

    fn check_u64(&self, off: usize) {
        assert!(
            off.is_multiple_of(8) && off.checked_add(8).is_some_and(|e| e <= self.len()),
            "DmaBuf u64 access at {off:#x} misaligned or out of bounds"
        );
    }

    /// Reads the little-endian 64-bit word at `off` (8-byte aligned) with a
    /// single 64-bit load.  Panics if misaligned or out of bounds.
    pub fn read_u64(&self, off: usize) -> u64 {
        self.check_u64(off);
        // SAFETY: aligned and in bounds (checked) of memory this buffer owns
        // (DmaPool::new's contract); volatile because a device may write it.
        u64::from_le(unsafe { self.ptr().add(off).cast::<u64>().read_volatile() })
    }

    /// Writes the 64-bit word at `off` (8-byte aligned) little-endian with a
    /// single 64-bit store, so a device reading with 64-bit single-copy
    /// atomicity (an SMMU fetching an STE/CD dword, IHI0070 §3.21.3) never
    /// sees a torn value.  Panics if misaligned or out of bounds.
    pub fn write_u64(&self, off: usize, val: u64) {
        self.check_u64(off);
        #[cfg(any(test, feature = "testkit"))]
        let old = super::host_ram::watching().then(|| self.read_u64(off));
        // SAFETY: as in `read_u64`.
        unsafe {
            self.ptr()
                .add(off)
                .cast::<u64>()
                .write_volatile(val.to_le())
        };
        // Host models may observe every single store (the SMMUv3 model
        // checks STEs and CDs between the driver's stores).
        #[cfg(any(test, feature = "testkit"))]
        if let Some(old) = old {
            super::host_ram::stored(self.pa.as_u64() + off as u64, old);
        }
    }
}

impl DmaBuf<'_> {
    fn check_u32(&self, off: usize) {
        assert!(
            off.is_multiple_of(4) && off.checked_add(4).is_some_and(|e| e <= self.len()),
            "DmaBuf u32 access at {off:#x} misaligned or out of bounds"
        );
    }

    /// Reads the little-endian 32-bit word at `off` (4-byte aligned) with a
    /// single 32-bit load (32-bit descriptor formats: sun50i, DART).  Panics
    /// if misaligned or out of bounds.
    pub fn read_u32(&self, off: usize) -> u32 {
        self.check_u32(off);
        // SAFETY: aligned and in bounds (checked) of memory this buffer owns
        // (DmaPool::new's contract); volatile because a device may write it.
        u32::from_le(unsafe { self.ptr().add(off).cast::<u32>().read_volatile() })
    }

    /// Writes the 32-bit word at `off` (4-byte aligned) little-endian with a
    /// single 32-bit store, so a walker reading 32-bit descriptors never sees
    /// a torn value.  Panics if misaligned or out of bounds.
    pub fn write_u32(&self, off: usize, val: u32) {
        self.check_u32(off);
        // SAFETY: as in `read_u32`.
        unsafe {
            self.ptr()
                .add(off)
                .cast::<u32>()
                .write_volatile(val.to_le())
        };
    }
}

impl DmaBuf<'_> {
    fn check_u16(&self, off: usize) {
        assert!(
            off.is_multiple_of(2) && off.checked_add(2).is_some_and(|e| e <= self.len()),
            "DmaBuf u16 access at {off:#x} misaligned or out of bounds"
        );
    }

    /// Reads the little-endian 16-bit word at `off` (2-byte aligned) with a
    /// single 16-bit load (virtqueue ring indexes, virtio 1.2 §2.7).  Panics
    /// if misaligned or out of bounds.
    pub fn read_u16(&self, off: usize) -> u16 {
        self.check_u16(off);
        // SAFETY: aligned and in bounds (checked) of memory this buffer owns
        // (DmaPool::new's contract); volatile because a device may write it.
        u16::from_le(unsafe { self.ptr().add(off).cast::<u16>().read_volatile() })
    }

    /// Writes the 16-bit word at `off` (2-byte aligned) little-endian with a
    /// single 16-bit store, so a device never sees half of a ring index.
    /// Panics if misaligned or out of bounds.
    pub fn write_u16(&self, off: usize, val: u16) {
        self.check_u16(off);
        // SAFETY: as in `read_u16`.
        unsafe {
            self.ptr()
                .add(off)
                .cast::<u16>()
                .write_volatile(val.to_le())
        };
    }
}

impl Drop for DmaBuf<'_> {
    fn drop(&mut self) {
        let mut f = self.pool.frames.lock();
        f.alloc
            .dealloc((self.pa.as_u64() / FRAME) as usize, self.frames);
        f.in_use -= self.frames;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc, dealloc, Layout};

    /// A host arena standing in for RAM.
    struct Arena {
        ptr: *mut u8,
        layout: Layout,
    }
    impl Arena {
        fn new(size: usize) -> Self {
            let layout = Layout::from_size_align(size, 2 << 20).unwrap();
            // SAFETY: non-zero size.
            let ptr = unsafe { alloc(layout) };
            assert!(!ptr.is_null());
            Self { ptr, layout }
        }
        fn range(&self) -> PhysRange {
            PhysRange::new(PhysAddr(self.ptr as u64), self.layout.size() as u64)
        }
    }
    impl Drop for Arena {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.ptr, self.layout) }
        }
    }

    #[test]
    fn allocations_are_zeroed_disjoint_and_returned() {
        let arena = Arena::new(1 << 20);
        // SAFETY: the arena is host memory owned by this test for the pool's life.
        let pool = unsafe { DmaPool::new(arena.range()) };
        let free0 = pool.free_bytes();
        assert_eq!(free0, 1 << 20);
        let a = pool.alloc(100).unwrap();
        let b = pool.alloc(3 * FRAME).unwrap();
        assert_eq!(a.len(), FRAME as usize);
        assert!(!a.range().overlaps(&b.range()));
        assert!(
            b.phys().is_aligned(4 * FRAME),
            "buddy blocks are naturally aligned"
        );
        a.write(10, b"hello");
        let mut out = [0u8; 5];
        a.read(10, &mut out);
        assert_eq!(&out, b"hello");
        assert_eq!(b.byte(0), 0);
        assert_eq!(a.bus_addr().as_u64(), a.phys().as_u64());
        drop(a);
        drop(b);
        assert_eq!(pool.free_bytes(), free0);
    }

    #[test]
    fn bus_access_reaches_pool_bytes_only() {
        let arena = Arena::new(1 << 20);
        // SAFETY: the arena is host memory owned by this test for the pool's life.
        let pool = unsafe { DmaPool::with_bus_offset(arena.range(), 0x1000) };
        let a = pool.alloc(FRAME).unwrap();
        let bus = BusAddr(a.bus_addr().as_u64() + 8);
        pool.write_bus(bus, b"atos").unwrap();
        let mut back = [0u8; 4];
        a.read(8, &mut back);
        assert_eq!(&back, b"atos");
        let mut got = [0u8; 4];
        pool.read_bus(bus, &mut got).unwrap();
        assert_eq!(&got, b"atos");
        // One byte past the pool, or below it: refused, nothing touched.
        let end = BusAddr(pool.range().end().as_u64() + 0x1000 - 2);
        let e = pool.write_bus(end, b"xyz").unwrap_err();
        assert_eq!((e.bus, e.len), (end.0, 3));
        let below = BusAddr(pool.range().base.as_u64());
        assert!(pool.read_bus(below, &mut got).is_err());
    }

    #[test]
    fn exhaustion_and_bad_sizes_are_errors() {
        let arena = Arena::new(64 * 1024);
        // SAFETY: as above.
        let pool = unsafe { DmaPool::new(arena.range()) };
        assert!(matches!(pool.alloc(0), Err(DmaError::BadSize { .. })));
        assert!(matches!(pool.alloc(1 << 30), Err(DmaError::BadSize { .. })));
        let _all = pool.alloc(64 * 1024).unwrap();
        assert!(matches!(pool.alloc(1), Err(DmaError::Exhausted { .. })));
    }

    #[test]
    fn alloc_below_keeps_every_byte_under_the_limit_or_names_it() {
        let arena = Arena::new(1 << 20);
        // SAFETY: as above.
        let pool = unsafe { DmaPool::new(arena.range()) };
        let base = pool.range().base.as_u64();
        let end = pool.range().end().as_u64();
        // The whole pool below the limit: an ordinary allocation.
        let a = pool.alloc_below(FRAME, end).unwrap();
        assert!(a.bus_addr().as_u64() + FRAME <= end);
        drop(a);
        // A limit inside the pool: only blocks entirely below it.
        let limit = base + 16 * FRAME;
        let mut held = std::vec::Vec::new();
        for _ in 0..4 {
            let b = pool.alloc_below(4 * FRAME, limit).unwrap();
            assert!(b.bus_addr().as_u64() + 4 * FRAME <= limit);
            held.push(b);
        }
        // Full below the limit: refused, the limit named, nothing leaked.
        let free = pool.free_bytes();
        let Err(e) = pool.alloc_below(FRAME, limit) else {
            panic!("allocated above {limit:#x}");
        };
        assert_eq!(
            e,
            DmaError::NoneBelow {
                requested: FRAME,
                limit,
                pool: pool.range()
            }
        );
        assert!(std::format!("{e}").contains(&std::format!("{limit:#x}")));
        assert_eq!(pool.free_bytes(), free);
        assert!(
            pool.alloc(FRAME).is_ok(),
            "memory above the limit is still free"
        );
        // A pool entirely above the limit.
        assert!(matches!(
            pool.alloc_below(FRAME, base),
            Err(DmaError::NoneBelow { .. })
        ));
        drop(held);
        assert_eq!(pool.free_bytes(), 1 << 20);
    }
}
