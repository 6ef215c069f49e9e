//! What an allocation failure looked like, recorded by the global allocator
//! (`heap.rs`) and printed by the panic path that follows it: Rust's default
//! allocation-error handler panics with only the request size (a custom
//! `alloc_error_handler` is unstable), so the heap state is kept here, in
//! fixed-size atomics that need neither the heap nor a lock.
#![forbid(unsafe_code)]

use core::fmt;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Which heap was in use when an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapKind {
    /// No heap yet: something allocated before the heap was set up.
    None,
    /// The heap carved from free RAM by the memory plan.
    Planned,
}

impl HeapKind {
    /// A small code, to keep the kind in an atomic.
    pub fn code(self) -> u8 {
        match self {
            HeapKind::None => 0,
            HeapKind::Planned => 1,
        }
    }

    /// The kind a [`HeapKind::code`] stands for (unknown codes: `None`).
    pub fn from_code(c: u8) -> Self {
        match c {
            1 => HeapKind::Planned,
            _ => HeapKind::None,
        }
    }
}

/// One failed allocation and the heap around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocFailure {
    /// Bytes requested.
    pub size: usize,
    /// Alignment requested.
    pub align: usize,
    /// The heap that refused.
    pub heap: HeapKind,
    /// Bytes the heap had handed out at the time.
    pub in_use: usize,
    /// Bytes the heap manages.
    pub total: usize,
}

impl fmt::Display for AllocFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allocation of {} bytes (align {}) failed: ",
            self.size, self.align
        )?;
        match self.heap {
            HeapKind::None => f.write_str("no heap is set up yet"),
            HeapKind::Planned => write!(
                f,
                "heap {} bytes, {} in use, {} free",
                self.total,
                self.in_use,
                self.total.saturating_sub(self.in_use)
            ),
        }
    }
}

/// The first allocation failure of the run (later ones are what the panic
/// path itself may cause; the first is the one to report).
pub struct FailureRecord {
    recorded: AtomicU8,
    size: AtomicUsize,
    align: AtomicUsize,
    heap: AtomicU8,
    in_use: AtomicUsize,
    total: AtomicUsize,
}

impl FailureRecord {
    /// An empty record.
    pub const fn new() -> Self {
        Self {
            recorded: AtomicU8::new(0),
            size: AtomicUsize::new(0),
            align: AtomicUsize::new(0),
            heap: AtomicU8::new(0),
            in_use: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    /// Records `f` unless a failure is already recorded.  Plain loads and
    /// stores only: it may run before the MMU makes exclusives usable.
    pub fn record(&self, f: AllocFailure) {
        if self.recorded.load(Ordering::Acquire) != 0 {
            return;
        }
        self.size.store(f.size, Ordering::Relaxed);
        self.align.store(f.align, Ordering::Relaxed);
        self.heap.store(f.heap.code(), Ordering::Relaxed);
        self.in_use.store(f.in_use, Ordering::Relaxed);
        self.total.store(f.total, Ordering::Relaxed);
        self.recorded.store(1, Ordering::Release);
    }

    /// The recorded failure, if any.
    pub fn get(&self) -> Option<AllocFailure> {
        if self.recorded.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(AllocFailure {
            size: self.size.load(Ordering::Relaxed),
            align: self.align.load(Ordering::Relaxed),
            heap: HeapKind::from_code(self.heap.load(Ordering::Relaxed)),
            in_use: self.in_use.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        })
    }
}

/// `true` when a panic message is the one Rust's default allocation-error
/// handler panics with (`memory allocation of N bytes failed`), so a
/// recorded failure that a caller handled (`try_reserve`) is not blamed for
/// an unrelated panic.  Looks at the message's first bytes only: no heap.
pub fn is_alloc_error(message: impl fmt::Display) -> bool {
    const PREFIX: &[u8] = b"memory allocation of ";
    struct Head {
        buf: [u8; PREFIX.len()],
        len: usize,
    }
    impl fmt::Write for Head {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                match self.buf.get_mut(self.len) {
                    Some(slot) => *slot = b,
                    None => return Err(fmt::Error),
                }
                self.len += 1;
            }
            Ok(())
        }
    }
    let mut head = Head {
        buf: [0; PREFIX.len()],
        len: 0,
    };
    // An error only means the message is longer than the prefix.
    let _ = fmt::write(&mut head, format_args!("{message}"));
    head.buf[..head.len] == *PREFIX
}

impl Default for FailureRecord {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn names_the_request_and_the_heap_state() {
        let f = AllocFailure {
            size: 262_144,
            align: 8,
            heap: HeapKind::Planned,
            in_use: 1_000_000,
            total: 1_048_576,
        };
        assert_eq!(
            format!("{f}"),
            "allocation of 262144 bytes (align 8) failed: heap 1048576 bytes, 1000000 in use, 48576 free"
        );
        let none = AllocFailure {
            heap: HeapKind::None,
            total: 0,
            in_use: 0,
            ..f
        };
        assert_eq!(
            format!("{none}"),
            "allocation of 262144 bytes (align 8) failed: no heap is set up yet"
        );
    }

    #[test]
    fn recognises_the_default_alloc_error_message() {
        assert!(is_alloc_error("memory allocation of 262144 bytes failed"));
        assert!(is_alloc_error(format_args!(
            "memory allocation of {} bytes failed",
            1
        )));
        assert!(!is_alloc_error("memory allocation"));
        assert!(!is_alloc_error(
            "iommu_bringup.inject=panic: panicking on purpose"
        ));
    }

    #[test]
    fn keeps_the_first_failure() {
        let r = FailureRecord::new();
        assert_eq!(r.get(), None);
        let first = AllocFailure {
            size: 64,
            align: 16,
            heap: HeapKind::Planned,
            in_use: 65_000,
            total: 65_536,
        };
        r.record(first);
        r.record(AllocFailure { size: 1, ..first });
        assert_eq!(r.get(), Some(first));
    }
}
