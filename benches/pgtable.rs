//! Page-table engine benchmark: our walker + LPAE codec against the
//! `aarch64-paging` crate doing the same work in the same run.
//!
//! Rows: map and unmap 1 GiB as 4K pages, 1 GiB as 2M blocks, and 10,000
//! scattered single 4K pages (one call each).  Both engines build 4K-granule,
//! 48-bit (level-0 start) stage-1 tables with the same attributes; our unmap
//! also frees every table that becomes empty and returns it to the arena
//! (after the would-be sync), `aarch64-paging` frees subtables only when a
//! range covers them whole.
//!
//! Run: `cargo bench --bench pgtable` (prints a table; best of N runs).

use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion};
use iommu_bringup::iommu::pgtable::{Granule, Lpae, NotLive, PageTable, Prot, RamArena};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::{Iova, PhysAddr};
use std::hint::black_box;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SCATTER: u64 = 10_000;
const RUNS: usize = 7;

/// `PGTABLE_RUNS=n` overrides the run count and `PGTABLE_ONLY=4k|2m|scatter`
/// picks one workload (for profiling with `perf record`).
fn runs() -> usize {
    std::env::var("PGTABLE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
}

fn ours() -> PageTable<Lpae, RamArena> {
    let codec = Lpae::new(Granule::K4, 48, 48, true).unwrap();
    PageTable::new(codec, RamArena::with_size(96 << 20)).unwrap()
}

fn theirs() -> IdMap<El1And0> {
    IdMap::with_asid(1, 0, El1And0)
}

fn attrs() -> El1Attributes {
    // The same bits our engine writes for Prot::rw() (docs/hw/lpae.md §2.4).
    El1Attributes::VALID
        | El1Attributes::ATTRIBUTE_INDEX_1
        | El1Attributes::INNER_SHAREABLE
        | El1Attributes::ACCESSED
        | El1Attributes::NON_GLOBAL
        | El1Attributes::USER
        | El1Attributes::PXN
        | El1Attributes::UXN
}

/// Distinct page addresses spread over 64 GiB: an odd multiplier is a
/// bijection modulo 2^24 pages.
fn scattered(i: u64) -> u64 {
    let page = (i.wrapping_mul(0x9E37_79B1) ^ 0x5A5A5A) & ((1 << 24) - 1);
    4 * GIB + page * PAGE
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

#[derive(Default, Clone, Copy)]
struct Best {
    map: Option<Duration>,
    unmap: Option<Duration>,
}

impl Best {
    fn add(&mut self, map: Duration, unmap: Duration) {
        self.map = Some(self.map.map_or(map, |b| b.min(map)));
        self.unmap = Some(self.unmap.map_or(unmap, |b| b.min(unmap)));
    }
}

/// One workload on our engine: returns (map, unmap) times.
fn run_ours(pt: &mut PageTable<Lpae, RamArena>, work: Work) -> (Duration, Duration) {
    let mut g = Gather::new();
    let (m, u) = match work {
        Work::Pages4K | Work::Blocks2M => {
            let (size, count) = if work == Work::Pages4K {
                (PAGE, GIB / PAGE)
            } else {
                (2 * MIB, GIB / (2 * MIB))
            };
            let base = GIB + 2 * MIB;
            let m = time(|| {
                pt.map_pages(Iova(base), PhysAddr(base), size, count, Prot::rw(), &mut g)
                    .unwrap()
            });
            let u = time(|| {
                let n = pt.unmap(Iova(base), GIB, &mut g, &mut NotLive).unwrap();
                pt.release(&mut g);
                black_box(n);
            });
            (m, u)
        }
        Work::Scattered => {
            let m = time(|| {
                for i in 0..SCATTER {
                    let a = scattered(i);
                    pt.map(Iova(a), PhysAddr(a), PAGE, Prot::rw(), &mut g)
                        .unwrap();
                }
            });
            let u = time(|| {
                for i in 0..SCATTER {
                    let a = scattered(i);
                    let mut g = Gather::new();
                    pt.unmap(Iova(a), PAGE, &mut g, &mut NotLive).unwrap();
                    pt.release(&mut g);
                }
            });
            (m, u)
        }
    };
    assert_eq!(pt.table_pages(), 1, "everything freed");
    (m, u)
}

/// The same workload with aarch64-paging.  Unmapping is mapping the range
/// with attributes that lack VALID, which is how that crate removes entries.
fn run_theirs(work: Work) -> (Duration, Duration) {
    let mut idmap = theirs();
    let (m, u) = match work {
        Work::Pages4K | Work::Blocks2M => {
            let constraints = if work == Work::Pages4K {
                Constraints::NO_BLOCK_MAPPINGS
            } else {
                Constraints::empty()
            };
            // Starts 2M past a 1G boundary so no 1G block fits: 2M blocks.
            let base = (GIB + 2 * MIB) as usize;
            let region = MemoryRegion::new(base, base + GIB as usize);
            let m = time(|| {
                idmap
                    .map_range_with_constraints(&region, attrs(), constraints)
                    .unwrap()
            });
            let u = time(|| {
                idmap
                    .map_range_with_constraints(&region, El1Attributes::empty(), constraints)
                    .unwrap()
            });
            (m, u)
        }
        Work::Scattered => {
            let m = time(|| {
                for i in 0..SCATTER {
                    let a = scattered(i) as usize;
                    idmap
                        .map_range(&MemoryRegion::new(a, a + PAGE as usize), attrs())
                        .unwrap();
                }
            });
            let u = time(|| {
                for i in 0..SCATTER {
                    let a = scattered(i) as usize;
                    idmap
                        .map_range(
                            &MemoryRegion::new(a, a + PAGE as usize),
                            El1Attributes::empty(),
                        )
                        .unwrap();
                }
            });
            (m, u)
        }
    };
    black_box(idmap);
    (m, u)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Pages4K,
    Blocks2M,
    Scattered,
}

fn main() {
    let works = [
        (Work::Pages4K, "1 GiB as 4K pages", GIB / PAGE),
        (Work::Blocks2M, "1 GiB as 2M blocks", GIB / (2 * MIB)),
        (Work::Scattered, "10,000 scattered 4K pages", SCATTER),
    ];
    let runs = runs();
    let only = std::env::var("PGTABLE_ONLY").unwrap_or_default();
    println!("page-table engine vs aarch64-paging 0.12 (best of {runs} runs, ns per leaf)");
    println!();
    println!(
        "| {:<27} | {:<5} | {:>10} | {:>14} | {:>12} |",
        "workload", "op", "ours ns", "aarch64-paging", "ours/theirs"
    );
    println!(
        "|{:-<29}|{:-<7}|{:-<12}|{:-<16}|{:-<14}|",
        "", "", "", "", ""
    );
    let mut worst: f64 = 0.0;
    for (work, name, leaves) in works {
        let key = match work {
            Work::Pages4K => "4k",
            Work::Blocks2M => "2m",
            Work::Scattered => "scatter",
        };
        if !only.is_empty() && only != key {
            continue;
        }
        let (mut a, mut b) = (Best::default(), Best::default());
        // One warm-up round each, then interleave so both see the same
        // machine state.
        // Our table (and its arena, like the DMA pool on target) persists
        // across runs; theirs is rebuilt each run from the heap, which
        // recycles the previous run's pages.
        let mut pt = ours();
        run_ours(&mut pt, work);
        run_theirs(work);
        for _ in 0..runs {
            let (m, u) = run_ours(&mut pt, work);
            a.add(m, u);
            let (m, u) = run_theirs(work);
            b.add(m, u);
        }
        for (op, ours, theirs) in [("map", a.map, b.map), ("unmap", a.unmap, b.unmap)] {
            let per = |d: Option<Duration>| d.unwrap().as_nanos() as f64 / leaves as f64;
            let ratio = per(ours) / per(theirs);
            worst = worst.max(ratio);
            println!(
                "| {:<27} | {:<5} | {:>10.2} | {:>14.2} | {:>12.2} |",
                name,
                op,
                per(ours),
                per(theirs),
                ratio
            );
        }
    }
    println!();
    println!("worst ratio (ours/theirs, lower is better): {worst:.2}");
}
