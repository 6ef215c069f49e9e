//! The Rust heap and the global DMA pool on target, set up once from a
//! [`MemoryPlan`].

use super::dma_pool::DmaPool;
use super::layout::MemoryPlan;
use super::oom::{AllocFailure, FailureRecord, HeapKind};
use buddy_system_allocator::LockedHeap;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The buddy allocator, plus a record of the first allocation that failed:
/// Rust's default allocation-error handler panics naming only the size, so
/// the panic path reads the heap state from here ([`alloc_failure`]).
struct RecordingHeap {
    inner: LockedHeap<32>,
}

// SAFETY: every call is forwarded unchanged to `LockedHeap`, whose
// `GlobalAlloc` implementation upholds the contract; the wrapper only reads
// its statistics and records a failure in atomics.
unsafe impl GlobalAlloc for RecordingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Before `init` there is no heap, and the MMU may still be off
        // (the allocator's lock needs exclusives): refuse without locking.
        let kind = heap_kind();
        let p = if kind == HeapKind::None {
            core::ptr::null_mut()
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { self.inner.alloc(layout) }
        };
        if p.is_null() {
            let (in_use, total) = if kind == HeapKind::None {
                (0, 0)
            } else {
                stats()
            };
            FAILURE.record(AllocFailure {
                size: layout.size(),
                align: layout.align(),
                heap: kind,
                in_use,
                total,
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees (`ptr` came from
        // `alloc` above, i.e. from `inner`).
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: RecordingHeap = RecordingHeap {
    inner: LockedHeap::empty(),
};

static POOL: spin::Once<DmaPool> = spin::Once::new();
static DONE: AtomicBool = AtomicBool::new(false);
/// `HeapKind::code` of the heap in use.
static KIND: AtomicU8 = AtomicU8::new(0);
static FAILURE: FailureRecord = FailureRecord::new();

fn heap_kind() -> HeapKind {
    HeapKind::from_code(KIND.load(Ordering::Acquire))
}

/// The first allocation that failed in this run, with the heap state at
/// that moment; `None` while every allocation succeeded.
pub fn alloc_failure() -> Option<AllocFailure> {
    FAILURE.get()
}

/// Heap and pool could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// `init` was called twice.
    AlreadyInitialised,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::AlreadyInitialised => f.write_str("heap and DMA pool were already set up"),
        }
    }
}

/// Gives the plan's heap range to the global allocator and creates the DMA
/// pool over the plan's pool range.  Call once, after the MMU is on (the
/// allocator's lock uses exclusive accesses) and after the identity map
/// covers all of `/memory` outside `no-map` reservations.
pub fn init(plan: &MemoryPlan) -> Result<&'static DmaPool, SetupError> {
    if DONE.swap(true, Ordering::AcqRel) {
        return Err(SetupError::AlreadyInitialised);
    }
    let heap = plan.heap();
    // SAFETY: a MemoryPlan is only built by layout::plan from free RAM: /memory
    // minus the image, the DTB and every reservation (boot.rs passes them all
    // as holes), and the heap and pool ranges do not overlap.  The identity map
    // covers that RAM as Normal memory.  DONE guarantees we hand it out once.
    unsafe {
        HEAP.inner
            .lock()
            .init(heap.base.as_u64() as usize, heap.size as usize)
    };
    KIND.store(HeapKind::Planned.code(), Ordering::Release);
    // SAFETY: as above, for the pool range, which nothing else uses.
    let pool = POOL.call_once(|| unsafe { DmaPool::new(plan.dma_pool()) });
    Ok(pool)
}

/// Bytes handed out and total bytes, for the heap self-test.
pub fn stats() -> (usize, usize) {
    let h = HEAP.inner.lock();
    (h.stats_alloc_actual(), h.stats_total_bytes())
}
