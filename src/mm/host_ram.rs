//! Host memory standing in for RAM in tests: an aligned host allocation with
//! a DMA pool over it, and checked access by "physical" (host) address for
//! behavioural models of devices that walk tables or queues in that memory.
//!
//! The `unsafe` of every host model lives here.  Accesses by address are only
//! allowed inside an arena that is alive now: arenas register their range in
//! a thread-local list on creation and remove it on drop, and every access
//! checks that list first.

use super::addr::{PhysAddr, PhysRange};
use super::dma_pool::DmaPool;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::RefCell;
use std::vec::Vec;

std::thread_local! {
    static LIVE: RefCell<Vec<PhysRange>> = const { RefCell::new(Vec::new()) };
    static STORE_HOOKS: RefCell<Vec<(usize, StoreHook)>> = const { RefCell::new(Vec::new()) };
}

/// Called after every 64-bit [`DmaBuf`](super::dma_pool::DmaBuf) store on
/// this thread with the address and the value it replaced (the new value
/// is in memory).
pub type StoreHook = std::rc::Rc<dyn Fn(u64, u64)>;

/// Registers `hook` under `id` (a model's own number) for this thread.
pub fn add_store_hook(id: usize, hook: StoreHook) {
    STORE_HOOKS.with(|h| h.borrow_mut().push((id, hook)));
}

/// Removes the hook registered under `id`.
pub fn remove_store_hook(id: usize) {
    STORE_HOOKS.with(|h| h.borrow_mut().retain(|(i, _)| *i != id));
}

/// `true` while a store hook is registered on this thread.
pub fn watching() -> bool {
    STORE_HOOKS.with(|h| !h.borrow().is_empty())
}

/// Runs the store hooks for a store at `addr` that replaced `old`.
pub fn stored(addr: u64, old: u64) {
    let hooks: Vec<StoreHook> =
        STORE_HOOKS.with(|h| h.borrow().iter().map(|(_, f)| f.clone()).collect());
    for f in hooks {
        f(addr, old);
    }
}

/// An aligned, zeroed host allocation used as RAM.
pub struct HostRam {
    ptr: *mut u8,
    layout: Layout,
}

impl HostRam {
    /// `size` bytes, 2 MiB aligned.
    pub fn new(size: usize) -> Self {
        let layout = Layout::from_size_align(size, 2 << 20).expect("test arena layout");
        // SAFETY: the layout has a non-zero size; freed in Drop with the same layout.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "test arena allocation failed");
        let ram = Self { ptr, layout };
        LIVE.with(|l| l.borrow_mut().push(ram.range()));
        ram
    }

    /// The arena as a physical range (host addresses are the "physical" ones).
    pub fn range(&self) -> PhysRange {
        PhysRange::new(PhysAddr(self.ptr as u64), self.layout.size() as u64)
    }

    /// A DMA pool over the whole arena.  Keep the arena alive longer than
    /// the pool (declare it first).
    pub fn pool(&self) -> DmaPool {
        // SAFETY: the arena is host memory owned by this HostRam and used by
        // nothing but the pool; the tests keep it alive longer than the pool.
        unsafe { DmaPool::new(self.range()) }
    }

    /// A DMA pool over the whole arena that devices see at bus address
    /// `bus` (a 32-bit window for a model IOMMU whose tables and outputs are
    /// 32-bit, docs/hw/sun50i.md §4.2).  Keep the arena alive longer than
    /// the pool.
    pub fn pool_at_bus(&self, bus: u64) -> DmaPool {
        let offset = bus.wrapping_sub(self.range().base.as_u64());
        // SAFETY: as for `pool`.
        unsafe { DmaPool::with_bus_offset(self.range(), offset) }
    }
}

impl Drop for HostRam {
    fn drop(&mut self) {
        let r = self.range();
        LIVE.with(|l| l.borrow_mut().retain(|x| *x != r));
        // SAFETY: allocated in `new` with this layout; no longer registered,
        // so no checked access can reach it any more.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// `true` when `[addr, addr + len)` lies inside one live arena: a model
/// whose table walk may point anywhere asks before it reads.
pub fn live(addr: u64, len: u64) -> bool {
    LIVE.with(|l| {
        l.borrow().iter().any(|r| {
            addr >= r.base.as_u64() && addr.checked_add(len).is_some_and(|e| e <= r.end().as_u64())
        })
    })
}

fn check(addr: u64, len: u64) {
    let ok = live(addr, len);
    assert!(
        ok,
        "model access at {addr:#x}+{len} is outside every live test arena"
    );
}

/// Reads an aligned 64-bit word of a live arena.
pub fn read_u64(addr: u64) -> u64 {
    check(addr, 8);
    assert!(
        addr.is_multiple_of(8),
        "unaligned model access at {addr:#x}"
    );
    // SAFETY: `check` proved [addr, addr+8) lies in a live arena allocation
    // and it is aligned; volatile because driver code writes it too.
    unsafe { (addr as *const u64).read_volatile() }
}

/// Writes an aligned 64-bit word of a live arena.
pub fn write_u64(addr: u64, v: u64) {
    check(addr, 8);
    assert!(
        addr.is_multiple_of(8),
        "unaligned model access at {addr:#x}"
    );
    // SAFETY: as in `read_u64`.
    unsafe { (addr as *mut u64).write_volatile(v) }
}

/// Reads bytes of a live arena.
pub fn read_bytes(addr: u64, out: &mut [u8]) {
    check(addr, out.len() as u64);
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: `check` proved the whole range lies in a live arena.
        *b = unsafe { ((addr as usize + i) as *const u8).read_volatile() };
    }
}

/// Writes bytes of a live arena.
pub fn write_bytes(addr: u64, data: &[u8]) {
    check(addr, data.len() as u64);
    for (i, b) in data.iter().enumerate() {
        // SAFETY: as in `read_bytes`.
        unsafe { ((addr as usize + i) as *mut u8).write_volatile(*b) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_checked_against_live_arenas() {
        let ram = HostRam::new(1 << 20);
        let base = ram.range().base.as_u64();
        write_u64(base + 8, 0x1122_3344_5566_7788);
        assert_eq!(read_u64(base + 8), 0x1122_3344_5566_7788);
        let mut b = [0u8; 2];
        read_bytes(base + 8, &mut b);
        assert_eq!(b, [0x88, 0x77]);
        let end = ram.range().end().as_u64();
        assert!(std::panic::catch_unwind(|| read_u64(end)).is_err());
        drop(ram);
        assert!(std::panic::catch_unwind(|| read_u64(base)).is_err());
    }
}
