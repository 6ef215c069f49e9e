//! The record the independent oracle replays (`tools/dart_oracle.py`,
//! driven by `cargo xtask test`, stage `oracle: dart`): for each variant,
//! the DART driver runs a fixed map / unmap / remap / detach sequence over
//! the DART model while every register write and every table-entry write
//! is logged in order, with a step marker before each change and a check
//! point after it.  A check point carries the table memory (every page
//! the sequence wrote, non-zero entries), the driver's intent (what each
//! attached stream should reach at each IOVA the sequence touched, and at
//! IOVAs it never mapped) and what the model translated there.
//!
//! The oracle (Asahi's `m1n1-proxyclient` DART classes) replays the
//! register writes into its own register map and walks the tables with its
//! own `iotranslate`; it must agree with the intent and the model, and it
//! checks that every table change of an attached stream is followed by a
//! flush that m1n1's own `invalidate_streams` would issue for it.  Runs
//! with a driver bug switched on are in the record too, marked as ones the
//! oracle must reject, so the oracle is shown to have teeth.
//!
//! Written to the file `IOMMU_BRINGUP_DART_ORACLE_JSON` names (stdout when
//! unset) by the ignored test [`dart_oracle_record`].

use super::adapter::DartIommu;
use super::hw::{Bugs, DartHw};
use super::model::{self, Dart as Model, Knobs, Window};
use super::model_runs::{Which, T6000, T8103, T8110};
use super::regs::Regs;
use crate::iommu::pgtable::{Codec, PoolTables, Prot, TableMemory, TablePage, TableRef};
use crate::iommu::{Domain, Observe, StreamId};
use crate::mm::host_ram::HostRam;
use crate::mm::{BusAddr, Iova, PhysAddr, VirtAddr};
use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt::Write;

/// One logged event.
#[derive(Clone, Debug)]
enum Event {
    /// A 32-bit register write.
    Reg { off: usize, val: u32 },
    /// A table entry written (bus address of the entry).
    Pte { bus: u64, val: u64 },
    /// A change to the tables of a domain whose attached streams are
    /// `sids` starts.
    Step { name: String, sids: Vec<u32> },
    /// A check point (index into the record's checks).
    Check { index: usize },
}

type Log = Rc<RefCell<Vec<Event>>>;

/// The model behind a register-write log.
struct Recorder {
    inner: Model,
    log: Log,
}

impl RegisterModel for Recorder {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        self.inner.read(off, width)
    }
    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.log.borrow_mut().push(Event::Reg {
            off,
            val: val as u32,
        });
        self.inner.write(off, width, val);
    }
}

/// Table memory behind a table-write log (bus addresses).
struct Tables<'p> {
    inner: PoolTables<'p>,
    log: Log,
    bus_offset: u64,
    pages: Rc<RefCell<BTreeSet<u64>>>,
}

impl TableMemory for Tables<'_> {
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
        let p = self.inner.alloc_table(bytes, align)?;
        self.pages.borrow_mut().insert(p.bus.0);
        Some(p)
    }
    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        let p = self.inner.alloc_table_below(bytes, align, limit)?;
        self.pages.borrow_mut().insert(p.bus.0);
        Some(p)
    }
    fn free_table(&mut self, page: TablePage) {
        self.inner.free_table(page);
    }
    fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
        self.inner.lookup(bus)
    }
    fn read_u64(&self, at: VirtAddr) -> u64 {
        self.inner.read_u64(at)
    }
    fn write_u64(&mut self, at: VirtAddr, val: u64) {
        self.log.borrow_mut().push(Event::Pte {
            bus: at.0.wrapping_add(self.bus_offset),
            val,
        });
        self.inner.write_u64(at, val);
    }
    fn read_u32(&self, at: VirtAddr) -> u32 {
        self.inner.read_u32(at)
    }
    fn write_u32(&mut self, at: VirtAddr, val: u32) {
        self.inner.write_u32(at, val);
    }
    fn walker_coherent(&self) -> bool {
        self.inner.walker_coherent()
    }
    fn clean(&mut self, at: VirtAddr, len: usize) {
        self.inner.clean(at, len);
    }
}

/// What one check point expects of one (stream, IOVA).
struct Expect {
    sid: u32,
    iova: u64,
    intent: Option<u64>,
    model: Option<u64>,
}

struct Check {
    /// Table memory: page bus address → non-zero (index, entry).
    tables: Vec<(u64, Vec<(usize, u64)>)>,
    expect: Vec<Expect>,
    attached: Vec<u32>,
}

/// One recorded run.
struct Record {
    name: String,
    compat: &'static str,
    /// `pass`, or `reject:<what the oracle must find>`.
    verdict: String,
    events: Vec<Event>,
    checks: Vec<Check>,
}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

const PAGE: u64 = 16 << 10;
/// Domain A's streams and domain B's.
const A_SIDS: [u32; 2] = [1, 4];
const B_SID: u32 = 7;

/// The m1n1 compatible whose classes replay `w`.
fn compat(w: &Which) -> &'static str {
    match (w.driver.layout, w.driver.pte) {
        (super::variant::Layout::T8110, _) => "dart,t8110",
        (_, crate::iommu::pgtable::dart::PteFormat::Dart1) => "dart,t8020",
        _ => "dart,t6000",
    }
}

/// Runs the sequence on `w` with `bugs` and records it.
fn record(
    w: Which,
    model_variant: model::Variant,
    bugs: Bugs,
    skip_sync: bool,
    name: &str,
    verdict: &str,
) -> Record {
    let ram = HostRam::new(16 << 20);
    let pool = ram.pool_at_bus(w.bus);
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let pages = Rc::new(RefCell::new(BTreeSet::new()));
    let m = Model::new(
        model_variant,
        Knobs {
            dart1_rw_bits: true,
            ..Knobs::default()
        },
    );
    m.model_mut().map_window(Window {
        bus: w.bus,
        host: ram.range().base.as_u64(),
        len: ram.range().size,
    });
    let regs = Regs::new(ModelMmio::new(Recorder {
        inner: m.clone(),
        log: log.clone(),
    }));
    let mut hw = DartHw::identify(regs, w.driver, clock()).unwrap();
    hw.bugs = bugs;
    hw.reset().unwrap();
    let mut d = DartIommu::new(hw, w.node, false);
    let format = d.hw().ident().format;
    let tables = || Tables {
        inner: PoolTables::new(&pool, false, |_, _| {}),
        log: log.clone(),
        bus_offset: pool.bus_offset(),
        pages: pages.clone(),
    };
    // Domain A high where the format reaches (T8110 three levels: above
    // 2^36, a non-zero L0 index), domain B low.
    let a_base = if format.input_bits() > 36 {
        0x123_8000_0000
    } else {
        0x1000_0000
    };
    let mut a = Domain::new(&mut d, format, tables(), Iova(a_base), 0x1000_0000).unwrap();
    let mut b = Domain::new(&mut d, format, tables(), Iova(0x2000_0000), 0x1000_0000).unwrap();
    let buf = pool.alloc(64 * PAGE).unwrap();
    let pa = |i: u64| buf.bus_addr().0 + i * PAGE;
    let span = 2048 * PAGE;
    // IOVAs the checks look at: every page the sequence maps, and one
    // never mapped next to each group.
    let a_iovas: Vec<u64> = [0, PAGE, 2 * PAGE, 3 * PAGE, 5 * PAGE, span, span + PAGE]
        .iter()
        .map(|o| a_base + o)
        .collect();
    let b_iovas: Vec<u64> = [0, 1, 2].iter().map(|o| 0x2000_0000 + o * PAGE).collect();
    let mut intent: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    let mut checks = Vec::new();
    let mut attached_a: Vec<u32> = Vec::new();
    let mut attached_b: Vec<u32> = Vec::new();

    let step = |log: &Log, name: &str, sids: &[u32]| {
        log.borrow_mut().push(Event::Step {
            name: String::from(name),
            sids: sids.to_vec(),
        })
    };
    let check = |log: &Log,
                 intent: &BTreeMap<(u32, u64), u64>,
                 attached_a: &[u32],
                 attached_b: &[u32],
                 checks: &mut Vec<Check>| {
        let mut expect = Vec::new();
        for &sid in A_SIDS.iter().chain([B_SID].iter()) {
            let (on, iovas) = if A_SIDS.contains(&sid) {
                (attached_a.contains(&sid), &a_iovas)
            } else {
                (attached_b.contains(&sid), &b_iovas)
            };
            for &iova in iovas {
                // A detached stream is blocked everywhere it used to go.
                let intent = if on {
                    intent.get(&(sid, iova)).copied()
                } else {
                    None
                };
                let model = m.model_mut().translate_bus(sid, iova, false);
                expect.push(Expect {
                    sid,
                    iova,
                    intent,
                    model,
                });
            }
        }
        let tables = pages
            .borrow()
            .iter()
            .map(|&p| {
                let host = ram.range().base.as_u64() + (p - w.bus);
                let words: Vec<(usize, u64)> = (0..2048)
                    .map(|i| (i, crate::mm::host_ram::read_u64(host + 8 * i as u64)))
                    .filter(|(_, v)| *v != 0)
                    .collect();
                (p, words)
            })
            .collect();
        let mut attached = attached_a.to_vec();
        attached.extend_from_slice(attached_b);
        log.borrow_mut().push(Event::Check {
            index: checks.len(),
        });
        checks.push(Check {
            tables,
            expect,
            attached,
        });
    };
    let map = |dom: &mut Domain<_, _, ()>,
               d: &mut DartIommu<_>,
               intent: &mut BTreeMap<(u32, u64), u64>,
               sids: &[u32],
               iova: u64,
               phys: u64,
               n: u64,
               prot: Prot| {
        dom.map(d, Iova(iova), PhysAddr(phys), n * PAGE, prot)
            .unwrap();
        for k in 0..n {
            for &s in sids {
                intent.insert((s, iova + k * PAGE), phys + k * PAGE);
            }
        }
    };

    // Attach: A to two streams, B to one.
    for &s in &A_SIDS {
        step(&log, "attach", &[s]);
        a.attach(&mut d, StreamId(s)).unwrap();
        attached_a.push(s);
    }
    step(&log, "attach", &[B_SID]);
    b.attach(&mut d, StreamId(B_SID)).unwrap();
    attached_b.push(B_SID);
    // The negative control from here on: every flush dropped.
    d.set_skip_sync(skip_sync);
    // Maps: three pages, then one read-only page in the next L1 span.
    step(&log, "map", &attached_a);
    map(
        &mut a,
        &mut d,
        &mut intent,
        &attached_a,
        a_base,
        pa(0),
        3,
        Prot::rw(),
    );
    step(&log, "map", &attached_a);
    map(
        &mut a,
        &mut d,
        &mut intent,
        &attached_a,
        a_base + span,
        pa(3),
        1,
        Prot::ro(),
    );
    step(&log, "map", &attached_b);
    map(
        &mut b,
        &mut d,
        &mut intent,
        &attached_b,
        0x2000_0000,
        pa(10),
        2,
        Prot::rw(),
    );
    check(&log, &intent, &attached_a, &attached_b, &mut checks);
    // Unmap A's middle page.
    step(&log, "unmap", &attached_a);
    a.unmap(&mut d, Iova(a_base + PAGE), PAGE).unwrap();
    for &s in &attached_a {
        intent.remove(&(s, a_base + PAGE));
    }
    check(&log, &intent, &attached_a, &attached_b, &mut checks);
    // Remap it elsewhere.
    step(&log, "map", &attached_a);
    map(
        &mut a,
        &mut d,
        &mut intent,
        &attached_a,
        a_base + PAGE,
        pa(20),
        1,
        Prot::rw(),
    );
    check(&log, &intent, &attached_a, &attached_b, &mut checks);
    // Empty B: its table is freed.
    step(&log, "unmap", &attached_b);
    b.unmap(&mut d, Iova(0x2000_0000), 2 * PAGE).unwrap();
    intent.retain(|(s, _), _| *s != B_SID);
    check(&log, &intent, &attached_a, &attached_b, &mut checks);
    // Detach stream 4 from A; map once more (only stream 1 left).
    step(&log, "detach", &[A_SIDS[1]]);
    a.detach(&mut d, StreamId(A_SIDS[1])).unwrap();
    attached_a.retain(|s| *s != A_SIDS[1]);
    intent.retain(|(s, _), _| *s != A_SIDS[1]);
    step(&log, "map", &attached_a);
    map(
        &mut a,
        &mut d,
        &mut intent,
        &attached_a,
        a_base + 5 * PAGE,
        pa(30),
        1,
        Prot::rw(),
    );
    check(&log, &intent, &attached_a, &attached_b, &mut checks);

    let events = log.borrow().clone();
    drop(buf);
    Record {
        name: String::from(name),
        compat: compat(&w),
        verdict: String::from(verdict),
        events,
        checks,
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or(String::from("null"), |v| format!("{v}"))
}

fn json(records: &[Record]) -> String {
    let mut s = String::from("{\"package\": \"m1n1-proxyclient\", \"records\": [\n");
    for (ri, r) in records.iter().enumerate() {
        let _ = write!(
            s,
            "{{\"name\": \"{}\", \"compat\": \"{}\", \"verdict\": \"{}\", \"events\": [",
            r.name, r.compat, r.verdict
        );
        for (i, e) in r.events.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            match e {
                Event::Reg { off, val } => {
                    let _ = write!(s, "[\"reg\", {off}, {val}]");
                }
                Event::Pte { bus, val } => {
                    let _ = write!(s, "[\"pte\", {bus}, {val}]");
                }
                Event::Step { name, sids } => {
                    let _ = write!(s, "[\"step\", \"{name}\", {sids:?}]");
                }
                Event::Check { index } => {
                    let _ = write!(s, "[\"check\", {index}]");
                }
            }
        }
        s.push_str("],\n \"checks\": [");
        for (ci, c) in r.checks.iter().enumerate() {
            if ci > 0 {
                s.push_str(",\n  ");
            }
            s.push_str("{\"tables\": {");
            for (ti, (page, words)) in c.tables.iter().enumerate() {
                if ti > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "\"{page}\": [");
                for (wi, (i, v)) in words.iter().enumerate() {
                    if wi > 0 {
                        s.push_str(", ");
                    }
                    let _ = write!(s, "[{i}, {v}]");
                }
                s.push(']');
            }
            let _ = write!(s, "}}, \"attached\": {:?}, \"expect\": [", c.attached);
            for (ei, e) in c.expect.iter().enumerate() {
                if ei > 0 {
                    s.push_str(", ");
                }
                let _ = write!(
                    s,
                    "[{}, {}, {}, {}]",
                    e.sid,
                    e.iova,
                    opt(e.intent),
                    opt(e.model)
                );
            }
            s.push_str("]}");
        }
        s.push_str("]}");
        if ri + 1 < records.len() {
            s.push(',');
        }
        s.push('\n');
    }
    s.push_str("]}\n");
    s
}

/// The T8110 model with a 42-bit VA width: the three-level walk.
fn t8110_three_levels() -> (Which, model::Variant) {
    let mv = model::Variant {
        params3: 42 << 24 | 42 << 16,
        ..model::T8110
    };
    (T8110, mv)
}

/// Every record: the three variants (and T8110 with three levels) clean,
/// then runs with a driver bug the oracle must reject.
fn records() -> Vec<Record> {
    let (t3, m3) = t8110_three_levels();
    let clean = Bugs::default();
    let mut out = alloc::vec![
        record(T8103, model::T8103, clean, false, "t8103", "pass"),
        record(T6000, model::T6000, clean, false, "t6000", "pass"),
        record(T8110, model::T8110, clean, false, "t8110", "pass"),
        record(t3, m3, clean, false, "t8110-three-levels", "pass"),
    ];
    let bug = |f: fn(&mut Bugs)| {
        let mut b = Bugs::default();
        f(&mut b);
        b
    };
    out.push(record(
        T8103,
        model::T8103,
        bug(|b| b.no_flush_after_map = true),
        false,
        "t8103-bug-no-flush-after-map",
        "reject:no flush",
    ));
    out.push(record(
        T6000,
        model::T6000,
        bug(|b| b.flush_wrong_stream = true),
        false,
        "t6000-bug-wrong-stream",
        "reject:no flush",
    ));
    out.push(record(
        T8110,
        model::T8110,
        bug(|b| b.t8110_command_at_t8020_offset = true),
        false,
        "t8110-bug-command-at-t8020-offset",
        "reject:no flush",
    ));
    // Every flush dropped after the attaches: the oracle's table cache,
    // dropped only by a flush, keeps the unmapped page.
    out.push(record(
        T8103,
        model::T8103,
        clean,
        true,
        "t8103-skip-sync",
        "reject:the package translates to 0x",
    ));
    out
}

/// Every clean record: the model translated every check exactly as the
/// driver intended (the oracle then compares itself with both).
#[test]
fn the_model_agrees_with_the_intent_on_every_clean_record() {
    for r in records().iter().filter(|r| r.verdict == "pass") {
        for (ci, c) in r.checks.iter().enumerate() {
            for e in &c.expect {
                assert_eq!(
                    e.model, e.intent,
                    "{} check {ci}: sid {} IOVA {:#x}",
                    r.name, e.sid, e.iova
                );
            }
            assert!(!c.tables.is_empty());
        }
        assert_eq!(r.checks.len(), 5, "{}", r.name);
    }
}

#[test]
#[ignore = "cargo xtask test runs it (stage oracle: dart): writes JSON to $IOMMU_BRINGUP_DART_ORACLE_JSON"]
fn dart_oracle_record() {
    let text = json(&records());
    match std::env::var_os("IOMMU_BRINGUP_DART_ORACLE_JSON") {
        Some(path) => std::fs::write(&path, &text)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy())),
        None => std::print!("{text}"),
    }
}
