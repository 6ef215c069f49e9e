//! Page-table engine benchmark: our walker + LPAE codec against the
//! `aarch64-paging` crate doing the same work in the same run, and every
//! row against a floor.
//!
//! Rows: map and unmap 1 GiB as 4K pages, 1 GiB as 2M blocks, and 10,000
//! scattered single 4K pages (one call each).  Both engines build 4K-granule,
//! 48-bit (level-0 start) stage-1 tables with the same attributes; our unmap
//! also frees every table that becomes empty and returns it to the arena
//! (after the would-be sync), `aarch64-paging` frees subtables only when a
//! range covers them whole.  The sun50i and DART codecs run the rows their
//! formats have (no blocks) against the floor only: `aarch64-paging` has
//! no such formats.  DART's rows use its 16 KiB pages (t8110's two-level,
//! 36-bit format with DART2 entries): 1 GiB is 65,536 of them.
//!
//! The floor is the same number of descriptor stores as the row's leaves,
//! made by a plain loop over a table that already exists (pre-allocated,
//! pre-faulted, warm): map stores each leaf's descriptor, unmap stores 0,
//! scattered rows store at the scattered leaves' slots, in the same order.
//! It is the work no engine can avoid if it writes every leaf, with nothing
//! of the walk, allocation or bookkeeping.
//!
//! Run: `cargo bench --bench pgtable` (`cargo xtask bench`; prints a table,
//! best of N = 21 runs, the engines interleaved run by run).  `PGTABLE_RUNS=n`
//! sets N, `PGTABLE_ONLY=4k|2m|scatter|sun50i-4k|sun50i-scatter|dart-16k|dart-scatter`
//! picks one workload, `PGTABLE_ENGINE=ours|theirs|floor` one engine (for
//! `perf record`).

use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion};
use iommu_bringup::iommu::pgtable::dart::{PteFormat, PAGE_SIZE as DART_PAGE};
use iommu_bringup::iommu::pgtable::{
    Codec, Dart, Granule, Lpae, NotLive, PageTable, Prot, RamArena, Sun50i,
};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::{Iova, PhysAddr};
use std::hint::black_box;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SCATTER: u64 = 10_000;
const RUNS: usize = 21;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn runs() -> usize {
    env("PGTABLE_RUNS").parse().unwrap_or(RUNS)
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

/// Distinct page numbers below `1 << bits`: an odd multiplier is a
/// bijection modulo a power of two.
fn scattered_page(i: u64, bits: u32) -> u64 {
    (i.wrapping_mul(0x9E37_79B1) ^ 0x5A5A5A) & ((1 << bits) - 1)
}

/// The LPAE rows' scattered pages: 10,000 of the 2^24 pages above 4 GiB
/// (spread over 64 GiB).
fn scattered(i: u64) -> u64 {
    4 * GIB + scattered_page(i, 24) * PAGE
}

/// The sun50i rows' scattered pages: 10,000 of the 2^20 pages of its
/// 32-bit IOVA space, skipping the first MiB.
fn scattered32(i: u64) -> u64 {
    (scattered_page(i, 20) | 0x100) * PAGE
}

/// The DART rows' scattered pages: 10,000 of the 2^22 16 KiB pages of its
/// 36-bit IOVA space (in all 2,048 last-level tables of 2048 entries,
/// about five pages each).
fn scattered_dart(i: u64) -> u64 {
    scattered_page(i, 22) * DART_PAGE
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Best (map, unmap) times over the runs.
#[derive(Default, Clone, Copy)]
struct Best {
    map: Option<Duration>,
    unmap: Option<Duration>,
}

impl Best {
    fn add(&mut self, (map, unmap): (Duration, Duration)) {
        self.map = Some(self.map.map_or(map, |b| b.min(map)));
        self.unmap = Some(self.unmap.map_or(unmap, |b| b.min(unmap)));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// 1 GiB as pages of the codec's page size (4 KiB; DART 16 KiB).
    Pages,
    Blocks2M,
    Scattered,
}

// ----- ours ----------------------------------------------------------------

/// One workload on our engine with codec `C` and its page of `page`
/// bytes: returns (map, unmap) times.  `at(i)` is the i-th scattered page.
fn run_ours<C: Codec>(
    pt: &mut PageTable<C, RamArena>,
    work: Work,
    at: fn(u64) -> u64,
    page: u64,
) -> (Duration, Duration) {
    let mut g = Gather::new();
    let (m, u) = match work {
        Work::Pages | Work::Blocks2M => {
            let (size, count) = if work == Work::Pages {
                (page, GIB / page)
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
                    let a = at(i);
                    pt.map(Iova(a), PhysAddr(a), page, Prot::rw(), &mut g)
                        .unwrap();
                }
            });
            let u = time(|| {
                for i in 0..SCATTER {
                    let a = at(i);
                    let mut g = Gather::new();
                    pt.unmap(Iova(a), page, &mut g, &mut NotLive).unwrap();
                    pt.release(&mut g);
                }
            });
            (m, u)
        }
    };
    assert_eq!(pt.table_pages(), 1, "everything freed");
    (m, u)
}

// ----- aarch64-paging --------------------------------------------------------

/// The same workload with aarch64-paging.  Unmapping is mapping the range
/// with attributes that lack VALID, which is how that crate removes entries.
fn run_theirs(work: Work) -> (Duration, Duration) {
    let mut idmap = IdMap::with_asid(1, 0, El1And0);
    let (m, u) = match work {
        Work::Pages | Work::Blocks2M => {
            let constraints = if work == Work::Pages {
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

// ----- the floor -------------------------------------------------------------

/// A pre-built table: the slots the row's leaves occupy, and the memory.
struct Floor<W> {
    mem: Vec<W>,
    /// Word index of each leaf, in the order the row maps them.
    slots: Vec<u32>,
    /// Descriptor of leaf 0, and what each next leaf adds.
    first: W,
    step: W,
}

impl<W: Copy + Default + std::ops::Add<Output = W>> Floor<W> {
    /// `leaves` slots: contiguous for a range, or one per scattered page in
    /// its own table of `entries` (tables numbered in first-touch order, as
    /// an allocator would hand them out).
    fn new(pages: &[u64], entries: u64, first: W, step: W) -> Self {
        let mut table_of = std::collections::HashMap::new();
        let slots: Vec<u32> = pages
            .iter()
            .map(|&p| {
                let n = table_of.len() as u64;
                let t = *table_of.entry(p / entries).or_insert(n);
                (t * entries + p % entries) as u32
            })
            .collect();
        let words = (table_of.len() as u64 * entries) as usize;
        Self {
            mem: vec![W::default(); words],
            slots,
            first,
            step,
        }
    }

    /// One map (every leaf's descriptor) and one unmap (every leaf 0).
    fn run(&mut self, contiguous: bool) -> (Duration, Duration) {
        let (first, step) = (black_box(self.first), black_box(self.step));
        let m = time(|| {
            let mut d = first;
            if contiguous {
                let base = self.slots[0] as usize;
                for w in &mut self.mem[base..base + self.slots.len()] {
                    *w = d;
                    d = d + step;
                }
            } else {
                for &s in &self.slots {
                    self.mem[s as usize] = d;
                    d = d + step;
                }
            }
            black_box(&mut self.mem);
        });
        let u = time(|| {
            if contiguous {
                let base = self.slots[0] as usize;
                self.mem[base..base + self.slots.len()].fill(W::default());
            } else {
                for &s in &self.slots {
                    self.mem[s as usize] = W::default();
                }
            }
            black_box(&mut self.mem);
        });
        (m, u)
    }
}

// ----- rows ------------------------------------------------------------------

/// One engine's run of a workload: (map, unmap) times.
type Engine = Box<dyn FnMut() -> (Duration, Duration)>;

/// One workload and its engines.
struct Row {
    key: &'static str,
    name: &'static str,
    leaves: u64,
    ours: Engine,
    theirs: Option<Engine>,
    floor: Engine,
}

/// Builds a row (its tables and floor) when it is about to run.
type MakeRow = fn() -> Row;

/// Our LPAE engine on a warm arena (like the DMA pool on target, it
/// persists across runs; `aarch64-paging` allocates from the process heap,
/// which recycles the previous run's pages).
fn lpae_row(key: &'static str, name: &'static str, work: Work) -> Row {
    let mut pt = PageTable::new(
        Lpae::new(Granule::K4, 48, 48, true).unwrap(),
        RamArena::with_size(96 << 20),
    )
    .unwrap();
    // The LPAE leaf descriptor of Prot::rw() at 0 (its low attribute bits).
    let attr =
        Lpae::new(Granule::K4, 48, 48, true)
            .unwrap()
            .encode_leaf(3, PhysAddr(0), Prot::rw());
    let base_page = (GIB + 2 * MIB) / PAGE;
    let (pages, step, contiguous): (Vec<u64>, u64, bool) = match work {
        Work::Pages => ((0..GIB / PAGE).map(|i| base_page + i).collect(), PAGE, true),
        Work::Blocks2M => (
            (0..GIB / (2 * MIB)).map(|i| base_page / 512 + i).collect(),
            2 * MIB,
            true,
        ),
        Work::Scattered => (
            (0..SCATTER).map(|i| scattered(i) / PAGE).collect(),
            PAGE,
            false,
        ),
    };
    let mut floor = Floor::<u64>::new(&pages, 512, attr | (pages[0] * step), step);
    Row {
        key,
        name,
        leaves: pages.len() as u64,
        ours: Box::new(move || run_ours(&mut pt, work, scattered, PAGE)),
        theirs: Some(Box::new(move || run_theirs(work))),
        floor: Box::new(move || floor.run(contiguous)),
    }
}

/// The sun50i codec (32-bit entries, 1 KiB last-level tables of 256
/// entries, 4 KiB pages only) against the floor.
fn sun50i_row(key: &'static str, name: &'static str, work: Work) -> Row {
    let mut pt = PageTable::new(Sun50i, RamArena::with_size(96 << 20)).unwrap();
    let attr = Sun50i.encode_leaf(2, PhysAddr(0), Prot::rw()) as u32;
    let base_page = (GIB + 2 * MIB) / PAGE;
    let (pages, contiguous): (Vec<u64>, bool) = match work {
        Work::Scattered => ((0..SCATTER).map(|i| scattered32(i) / PAGE).collect(), false),
        _ => ((0..GIB / PAGE).map(|i| base_page + i).collect(), true),
    };
    let mut floor = Floor::<u32>::new(&pages, 256, attr | (pages[0] * PAGE) as u32, PAGE as u32);
    Row {
        key,
        name,
        leaves: pages.len() as u64,
        ours: Box::new(move || run_ours(&mut pt, work, scattered32, PAGE)),
        theirs: None,
        floor: Box::new(move || floor.run(contiguous)),
    }
}

/// The DART codec (64-bit entries, 16 KiB tables of 2048 entries, 16 KiB
/// pages only; t8110's two-level 36-bit format with DART2 entries) against
/// the floor.
fn dart_row(key: &'static str, name: &'static str, work: Work) -> Row {
    let codec = Dart::new(PteFormat::Dart2, 2, 36, 42).unwrap();
    let mut pt = PageTable::new(codec, RamArena::with_size(96 << 20)).unwrap();
    let leaf = |pa: u64| codec.encode_leaf(2, PhysAddr(pa), Prot::rw());
    let base_page = (GIB + 2 * MIB) / DART_PAGE;
    let (pages, contiguous): (Vec<u64>, bool) = match work {
        Work::Scattered => (
            (0..SCATTER)
                .map(|i| scattered_dart(i) / DART_PAGE)
                .collect(),
            false,
        ),
        _ => ((0..GIB / DART_PAGE).map(|i| base_page + i).collect(), true),
    };
    // DART2 holds PA >> 4: one page further is DART_PAGE >> 4 in the entry.
    let step = leaf(DART_PAGE) - leaf(0);
    let mut floor = Floor::<u64>::new(&pages, 2048, leaf(pages[0] * DART_PAGE), step);
    Row {
        key,
        name,
        leaves: pages.len() as u64,
        ours: Box::new(move || run_ours(&mut pt, work, scattered_dart, DART_PAGE)),
        theirs: None,
        floor: Box::new(move || floor.run(contiguous)),
    }
}

fn main() {
    let runs = runs();
    let only = env("PGTABLE_ONLY");
    let engine = env("PGTABLE_ENGINE");
    let want = |e: &str| engine.is_empty() || engine == e;
    let rows: Vec<(&str, MakeRow)> = vec![
        ("4k", || {
            lpae_row("4k", "LPAE 1 GiB as 4K pages", Work::Pages)
        }),
        ("2m", || {
            lpae_row("2m", "LPAE 1 GiB as 2M blocks", Work::Blocks2M)
        }),
        ("scatter", || {
            lpae_row("scatter", "LPAE 10,000 scattered 4K", Work::Scattered)
        }),
        ("sun50i-4k", || {
            sun50i_row("sun50i-4k", "sun50i 1 GiB as 4K pages", Work::Pages)
        }),
        ("sun50i-scatter", || {
            sun50i_row(
                "sun50i-scatter",
                "sun50i 10,000 scattered 4K",
                Work::Scattered,
            )
        }),
        ("dart-16k", || {
            dart_row("dart-16k", "DART 1 GiB as 16K pages", Work::Pages)
        }),
        ("dart-scatter", || {
            dart_row("dart-scatter", "DART 10,000 scattered 16K", Work::Scattered)
        }),
    ];
    println!(
        "page-table engine vs aarch64-paging 0.12 and the floor \
         (best of {runs} runs, interleaved; ns per leaf)"
    );
    println!();
    println!(
        "| {:<27} | {:<5} | {:>8} | {:>14} | {:>7} | {:>11} | {:>10} |",
        "workload", "op", "ours ns", "aarch64-paging", "floor", "ours/theirs", "ours/floor"
    );
    println!(
        "|{:-<29}|{:-<7}|{:-<10}|{:-<16}|{:-<9}|{:-<13}|{:-<12}|",
        "", "", "", "", "", "", ""
    );
    let mut worst: f64 = 0.0;
    for (key, make) in rows {
        if !only.is_empty() && only != key {
            continue;
        }
        let mut row = make();
        debug_assert_eq!(row.key, key);
        let (mut a, mut b, mut f) = (Best::default(), Best::default(), Best::default());
        // One warm-up round each, then interleave so every engine sees the
        // same machine state.
        let _ = (row.ours)();
        if let Some(t) = row.theirs.as_mut() {
            let _ = t();
        }
        let _ = (row.floor)();
        for _ in 0..runs {
            if want("ours") {
                a.add((row.ours)());
            }
            if want("theirs") {
                if let Some(t) = row.theirs.as_mut() {
                    b.add(t());
                }
            }
            if want("floor") {
                f.add((row.floor)());
            }
        }
        let per = |d: Option<Duration>| d.map(|d| d.as_nanos() as f64 / row.leaves as f64);
        let cell = |v: Option<f64>, w: usize| match v {
            Some(v) => format!("{v:>w$.2}"),
            None => format!("{:>w$}", "—"),
        };
        for (op, ours, theirs, floor) in [
            ("map", a.map, b.map, f.map),
            ("unmap", a.unmap, b.unmap, f.unmap),
        ] {
            let (o, t, fl) = (per(ours), per(theirs), per(floor));
            let vs_theirs = o.zip(t).map(|(o, t)| o / t);
            let vs_floor = o.zip(fl).map(|(o, f)| o / f);
            if let Some(r) = vs_theirs {
                worst = worst.max(r);
            }
            println!(
                "| {:<27} | {:<5} | {} | {} | {} | {} | {} |",
                row.name,
                op,
                cell(o, 8),
                cell(t, 14),
                cell(fl, 7),
                cell(vs_theirs, 11),
                cell(vs_floor, 10)
            );
        }
    }
    println!();
    println!("worst ratio to aarch64-paging (ours/theirs, lower is better): {worst:.2}");
}
