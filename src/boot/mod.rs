//! The boot sequence after entry: device tree, identity map, console, heap
//! and DMA pool, the self-test, and the end of the run.
//!
//! Order matters and is forced by the hardware: nothing may use atomics
//! (locks, `Once`) before the MMU is on, because exclusive accesses to the
//! Device memory type that MMU-off accesses get are not guaranteed to work;
//! the heap needs the identity map; the console needs both the map (device
//! mapping) and, for its `Once`, the MMU — but never the heap.  So the
//! console comes up first, from DT facts alone (fixed-size driver state, no
//! allocation), and every later failure — no memory plan, the heap refused,
//! an allocation failing — is reported through it before the run ends.

use crate::arch::aarch64::{exception, fault, mmu, park, semihosting, smccc};
use crate::kprintln;
use crate::mm::layout::{self, MemoryPlan};
use crate::mm::{PhysAddr, PhysRange};
use crate::platform::bootargs::Bootargs;
use crate::platform::console::active::{self, ActiveConsole, Stdout};
use crate::platform::console::cadence::Cadence;
use crate::platform::console::geni::Geni;
use crate::platform::console::ns16550::{IoWidth, Ns16550};
use crate::platform::console::pl011::Pl011;
use crate::platform::console::s5l::S5l;
use crate::platform::dt::{self, BootInfo, ConsoleKind, DtError, Fdt, PsciConduit};
use crate::platform::exit::{self, ExitMethod, ExitReason};
use crate::selftest::early::{self, EarlyFailure};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::platform::{
    AtProbe, BootargsFacts, ConsoleFacts, MmuFacts, PlatformCtx, PlatformFacts,
};
use crate::selftest::runner::{report_setup_skip, run_group, Totals};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use mmu::{IdentityMap, MemType, MmuError};

mod entry;
mod iommu_suite;
mod pci_probe;
mod services;
mod waits;

use services::{device_block, span, TIMER};

/// Heap size cap.
const HEAP_MAX: u64 = 8 << 20;
/// DMA pool size cap.
const POOL_MAX: u64 = 32 << 20;
/// Free-RAM fragments we can track.
const MAX_FREE: usize = 64;

/// What `boot.S` and the entry shim (`boot/entry.rs`) measured.
#[derive(Clone, Copy, Debug)]
pub struct EntryFacts {
    /// Where the loader put the image.
    pub load_base: PhysAddr,
    /// Bytes from the image start to the end of BSS and stack.
    pub image_size: u64,
    /// CurrentEL at entry.
    pub entry_el: u8,
    /// Entered at EL2 with HCR_EL2.E2H set (VHE; Apple cores under m1n1).
    pub entry_e2h: bool,
    /// Relative relocations `boot.S` applied (RELA and RELR).
    pub relocs_total: u64,
    /// Entries that were not R_AARCH64_RELATIVE (not applied).
    pub relocs_unknown: u64,
    /// Pointer read from relocated data.
    pub reloc_probe_stored: u64,
    /// The object's PC-relative address.
    pub reloc_probe_actual: u64,
    /// Relocations the image's `.rela.dyn` and `.relr.dyn` hold, counted
    /// by Rust (`selftest::relr::count`), not by `boot.S`.
    pub relocs_expected: u64,
}

static EXIT: spin::Once<ExitMethod> = spin::Once::new();

/// Mapping errors collected before the heap exists.
struct EarlyErrors {
    list: [Option<MmuError>; 8],
    len: usize,
}

impl EarlyErrors {
    fn push(&mut self, e: MmuError) {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = Some(e);
        }
        self.len += 1;
    }
}

/// Runs the image after entry.  Never returns: the run ends through the exit
/// method the bootargs and the DT select.
pub fn start(entry: EntryFacts, dtb: Result<(&'static [u8], PhysAddr), DtError>) -> ! {
    // Without a readable DTB there is no console and no known way to power
    // off: park.  The host runner's timeout reports the silence.
    let Ok((blob, dtb_addr)) = dtb else { park() };
    let Ok(fdt) = Fdt::parse(blob) else { park() };
    let Ok((info, section_errors)) = dt::discover_sections(&fdt, dtb_addr) else {
        park()
    };
    if section_errors.first().is_some() {
        degraded(entry, &info, section_errors)
    }

    let image = PhysRange::new(entry.load_base, entry.image_size);
    let mut errors = EarlyErrors {
        list: [None; 8],
        len: 0,
    };
    let Ok(mut map) = IdentityMap::new() else {
        park()
    };
    // Heap and DMA pool are planned before the map is built (pure logic, no
    // allocation), so the pool can be mapped Normal non-cacheable: DMA
    // buffers, page tables and queues then need no CPU cache maintenance for
    // a master or walker that does not snoop (boards without `dma-coherent`),
    // and a coherent one simply finds nothing in the caches.
    let plan = free_ram_plan(&info, image);
    let pool_range = plan.as_ref().ok().map(MemoryPlan::dma_pool);
    let mut not_wb = [PhysRange::default(); dt::MAX_REGIONS + 1];
    let mut h = 0;
    for r in info.no_map.as_slice().iter().chain(pool_range.iter()) {
        not_wb[h] = *r;
        h += 1;
    }
    let mut ram = [PhysRange::default(); MAX_FREE];
    let n = layout::subtract(info.memory.as_slice(), &not_wb[..h], &mut ram).unwrap_or(0);
    for r in &ram[..n] {
        if let Err(e) = map.map(span(*r), MemType::Normal) {
            errors.push(e);
        }
    }
    if let Some(r) = pool_range {
        if let Err(e) = map.map(span(r), MemType::NormalNonCacheable) {
            errors.push(e);
        }
    }
    for r in [image, info.dtb] {
        if let Err(e) = map.map(span(r), MemType::Normal) {
            errors.push(e);
        }
    }
    map.enable(&[span(image)]);
    // The pool is now mapped NC only, but firmware may have left dirty lines
    // for it; one evicted later would overwrite an STE, CD, PTE or command
    // the SMMU already read (docs/hw/smmuv3.md §12.1).  Drop them once.
    if let Some(r) = pool_range {
        crate::arch::aarch64::cache::clean_invalidate_range(
            r.base.as_u64() as usize,
            r.size as usize,
        );
    }
    let tables_used = map.tables_used();
    mmu::install(map);
    exception::set_fatal_hook(fatal_exception);
    // MMIO bus faults inside `mmio::capture` (the IOMMU suite) are survived.
    exception::set_recover_hook(crate::mmio::recover);

    let args = Bootargs::parse(info.bootargs);
    let method = *EXIT.call_once(|| exit::choose(args.exit, info.psci));
    // The console before the heap: it needs only the DT, the device mapping
    // and the MMU, so a missing heap is reported, not silent.
    let (console, console_status) = install_console(&info, method);

    kprintln!();
    kprintln!(
        "iommu-bringup {} on \"{}\" ({}), console {}",
        env!("CARGO_PKG_VERSION"),
        info.model,
        info.compatible,
        console.name()
    );
    // Then the heap and the DMA pool: everything after this may allocate.
    let plan = match plan {
        Ok(p) => p,
        Err(e) => early_failure(
            &args,
            method,
            &EarlyFailure {
                case: "heap_and_dma_pool",
                why: &[("memory plan", &e)],
                consequence: "no heap and no DMA pool: nothing else can run",
            },
        ),
    };
    let pool = match crate::mm::heap::init(&plan) {
        Ok(p) => p,
        Err(e) => early_failure(
            &args,
            method,
            &EarlyFailure {
                case: "heap_and_dma_pool",
                why: &[("heap", &e)],
                consequence: "no heap and no DMA pool: nothing else can run",
            },
        ),
    };
    let console_facts = console_facts(&info, console_status);

    let mut probes = Vec::new();
    let stack_marker = 0u8;
    let stack_va = core::ptr::addr_of!(stack_marker) as u64;
    probes.push(at_probe("stack", stack_va, MemType::Normal));
    probes.push(at_probe(
        "DMA pool",
        pool.range().base.as_u64(),
        MemType::NormalNonCacheable,
    ));
    if let Ok(c) = &info.console {
        if console_facts.supported {
            probes.push(at_probe("console", c.reg.base.as_u64(), MemType::Device));
        }
    }
    let mut mapping_errors: Vec<String> = errors
        .list
        .iter()
        .flatten()
        .map(|e| format!("{e}"))
        .collect();
    if errors.len > errors.list.len() {
        mapping_errors.push(format!(
            "{} more mapping errors",
            errors.len - errors.list.len()
        ));
    }

    // Before the first bounded wait that may last: from here on, waits
    // sleep in WFI when the timer interrupt reaches the CPU (boot/waits.rs).
    let waits_note = waits::enable(&fdt);
    let pci_hosts = pci_probe::enumerate_all(blob);
    let facts = PlatformFacts {
        entry_el: entry.entry_el,
        entry_e2h: entry.entry_e2h,
        current_el: current_el(),
        load_base: entry.load_base,
        image_size: entry.image_size,
        relocs_total: entry.relocs_total,
        relocs_unknown: entry.relocs_unknown,
        reloc_probe_stored: entry.reloc_probe_stored,
        reloc_probe_actual: entry.reloc_probe_actual,
        relocs_expected: entry.relocs_expected,
        dtb: info.dtb,
        memory: info.memory.as_slice().to_vec(),
        reserved: info.reserved.as_slice().to_vec(),
        no_map: info.no_map.as_slice().to_vec(),
        console: console_facts,
        mmu: MmuFacts {
            sctlr: mmu::sctlr(),
            mapping_errors,
            probes,
            tables_used,
        },
        memory_plan: Some((plan.heap(), plan.dma_pool())),
        inject_fail_one: args.inject.fail_one,
        bootargs: BootargsFacts::from_args(&args),
        pci: pci_probe::facts(&pci_hosts),
    };
    let on_qemu = info.compatible == "linux,dummy-virt";
    let (planned, notes) = iommu_suite::plan_with(blob, &pci_hosts, args.qcom_tbu);

    let mut k = KtapWriter::new(Stdout);
    let _ = k.start(1 + planned.len());
    let _ = k.diag(&format!("{}", args.settings(method.name())));
    let _ = k.diag(&waits_note);
    for n in &notes {
        let _ = k.diag(n);
    }
    let group = crate::selftest::platform::group(args.inject.fail_one);
    let mut ctx = PlatformCtx {
        facts,
        pool: Some(pool),
        heap_stats: Some(crate::mm::heap::stats),
    };
    let mut totals = Totals::default();
    totals.add(run_group(&mut k, 1, &group, &mut ctx));
    // A rejected `iommu_bringup.*` word fails `platform.bootargs`; the IOMMU
    // groups would not test what was asked for (`inject=skip_sync` would
    // run the negative control as a positive one), so they do not run.
    let rejected = args.rejected().total();
    let mut iommu_cases_ran = 0usize;
    for (i, p) in planned.iter().enumerate() {
        let t = if rejected > 0 {
            report_setup_skip(
                &mut k,
                2 + i,
                &p.name,
                &format!(
                    "{rejected} iommu_bringup.* bootargs word(s) rejected (see platform.bootargs): not the run that was asked for"
                ),
            )
        } else {
            let t = iommu_suite::run(&mut k, 2 + i, p, pool, &args, on_qemu);
            // Register checks alone (a DART with no master) are reported
            // but do not make an IOMMU tested (`Totals::catalogue_ran`).
            if p.runs() {
                iommu_cases_ran += t.catalogue_ran;
            }
            t
        };
        totals.add(t);
    }
    let _ = k.totals(totals.pass, totals.fail, totals.skip);
    // Nothing tested is not a pass: say so last, and exit with a status a
    // lab can tell from "all passed" (docs/architecture.md, "Output and
    // exit").
    let nothing_tested = iommu_cases_ran == 0 && !args.no_iommu_expected;
    if iommu_cases_ran == 0 && args.no_iommu_expected {
        let _ = k.diag(
            "no IOMMU was tested, as iommu_bringup.expect=no-iommu declared: the result covers the platform cases only",
        );
    } else if nothing_tested {
        let why = if planned.is_empty() {
            String::from("the device tree has no IOMMU node")
        } else {
            format!(
                "{} IOMMU group(s) reported, none ran a case of the catalogue (see their SKIP/failure reasons above)",
                planned.len()
            )
        };
        let _ = k.diag(&format!("no IOMMU was tested: {why}"));
    }
    if args.inject.exception {
        kprintln!(
            "# iommu_bringup.inject=exception: reading unmapped {:#x}",
            fault::UNMAPPED
        );
        fault::provoke_data_abort();
    }
    if args.inject.panic {
        panic!("iommu_bringup.inject=panic: panicking on purpose");
    }
    if args.inject.oom {
        let (in_use, total) = crate::mm::heap::stats();
        let ask = total + 1;
        kprintln!(
            "# iommu_bringup.inject=oom: asking for {ask} bytes of a {total}-byte heap ({in_use} in use)"
        );
        let v: Vec<u8> = Vec::with_capacity(ask);
        core::hint::black_box(&v);
    }
    finish(if nothing_tested && totals.fail == 0 {
        ExitReason::NothingTested
    } else {
        ExitReason::Finished {
            failed: totals.fail as u32,
        }
    })
}

/// The device tree could be read only in part: report it as a failing
/// `dt_discovery` case through whatever console and exit method the sections
/// that did parse describe, instead of parking in silence.  The identity map
/// covers only the image and the DTB; there is no heap (the console and the
/// report need none).
fn degraded(entry: EntryFacts, info: &BootInfo<'_>, errors: dt::SectionErrors) -> ! {
    let image = PhysRange::new(entry.load_base, entry.image_size);
    let Ok(mut map) = IdentityMap::new() else {
        park()
    };
    for r in [image, info.dtb] {
        let _ = map.map(span(r), MemType::Normal);
    }
    map.enable(&[span(image)]);
    mmu::install(map);
    exception::set_fatal_hook(fatal_exception);
    let args = Bootargs::parse(info.bootargs);
    let method = *EXIT.call_once(|| exit::choose(args.exit, info.psci));
    let (console, _) = install_console(info, method);
    kprintln!();
    kprintln!(
        "iommu-bringup {} on \"{}\" ({}), console {}: the device tree is only partly readable",
        env!("CARGO_PKG_VERSION"),
        info.model,
        info.compatible,
        console.name()
    );
    let sections = [
        ("memory", errors.memory),
        ("reserved memory", errors.reserved),
        ("/chosen", errors.chosen),
        ("/psci", errors.psci),
    ];
    let mut why: [(&str, &dyn core::fmt::Display); 4] = [("", &""); 4];
    let mut n = 0;
    for (section, e) in &sections {
        if let Some(e) = e {
            why[n] = (section, e);
            n += 1;
        }
    }
    early_failure(
        &args,
        method,
        &EarlyFailure {
            case: "dt_discovery",
            why: &why[..n],
            consequence: "nothing else can run without it: no RAM map, no heap, no DMA pool",
        },
    )
}

/// Ends a run that failed before the self-test could start: the KTAP
/// document with the one failing platform case, then the exit (status 1).
/// Allocates nothing, so it works before the heap exists.
fn early_failure(args: &Bootargs<'_>, method: ExitMethod, failure: &EarlyFailure<'_>) -> ! {
    let _ = early::report(Stdout, &args.settings(method.name()), failure);
    finish(failure.exit_reason())
}

/// Heap and DMA pool ranges: /memory minus the image, the DTB and every
/// reservation.
fn free_ram_plan(info: &BootInfo<'_>, image: PhysRange) -> Result<MemoryPlan, layout::LayoutError> {
    let mut holes = [PhysRange::default(); 2 + 2 * dt::MAX_REGIONS];
    let mut h = 0;
    for r in [image, info.dtb]
        .iter()
        .chain(info.reserved.as_slice())
        .chain(info.no_map.as_slice())
    {
        holes[h] = *r;
        h += 1;
    }
    let mut free = [PhysRange::default(); MAX_FREE];
    let n = layout::subtract(info.memory.as_slice(), &holes[..h], &mut free)?;
    layout::plan(&free[..n], HEAP_MAX, POOL_MAX)
}

/// Brings the DT's console up and installs it.  Allocates nothing: the
/// drivers keep fixed-size state, and the result is the status register the
/// driver read (`None`: no console of ours, the fallback is in use), which
/// [`console_facts`] describes once there is a heap.
fn install_console(
    info: &BootInfo<'_>,
    method: ExitMethod,
) -> (&'static ActiveConsole, Option<u32>) {
    let fallback = if method == ExitMethod::Semihosting {
        ActiveConsole::Fallback(semihosting::write)
    } else {
        ActiveConsole::Silent
    };
    let Ok(node) = &info.console else {
        return (active::install(fallback), None);
    };
    let regs = device_block(node.reg);
    let (console, status) = match (node.kind, regs) {
        (ConsoleKind::Pl011, Ok(regs)) => {
            let u = Pl011::new(regs, &TIMER);
            let fr = u.flags();
            (ActiveConsole::Pl011(u), Some(fr))
        }
        (ConsoleKind::Ns16550, Ok(regs)) => match IoWidth::from_dt(node.reg_io_width) {
            Some(w) => {
                let u = Ns16550::new(regs, node.reg_shift, w, &TIMER);
                let lsr = u.line_status();
                (ActiveConsole::Ns16550(u), Some(lsr))
            }
            None => (fallback, None),
        },
        (ConsoleKind::Geni, Ok(regs)) => {
            let u = Geni::new(regs, &TIMER);
            let st = u.status();
            (ActiveConsole::Geni(u), Some(st))
        }
        // The Apple S5L registers are 32-bit (`reg-io-width = <4>` in
        // t8103.dtsi, docs/hw/board-facts.md §2); the driver always accesses them so.
        (ConsoleKind::S5l, Ok(regs)) => {
            let u = S5l::new(regs, &TIMER);
            let st = u.status();
            (ActiveConsole::S5l(u), Some(st))
        }
        // Cadence registers are 32-bit (docs/hw/zynqmp.md §3).
        (ConsoleKind::Cadence, Ok(regs)) => {
            let u = Cadence::new(regs, &TIMER);
            let sr = u.status();
            (ActiveConsole::Cadence(u), Some(sr))
        }
        _ => (fallback, None),
    };
    (active::install(console), status)
}

/// The console facts for the platform cases (allocates: call after the heap).
fn console_facts(info: &BootInfo<'_>, status: Option<u32>) -> ConsoleFacts {
    match &info.console {
        Ok(node) => ConsoleFacts {
            found: Ok(format!(
                "{} ({}) at {:#x}",
                node.path,
                node.compatible,
                node.reg.base.as_u64()
            )),
            supported: status.is_some(),
            status_read: status,
        },
        Err(e) => ConsoleFacts {
            found: Err(format!("{e}")),
            supported: false,
            status_read: None,
        },
    }
}

fn at_probe(what: &'static str, va: u64, ty: MemType) -> AtProbe {
    let r = mmu::probe(va);
    AtProbe {
        what,
        va,
        faulted: r.faulted(),
        pa: r.phys(),
        attr: r.attr(),
        expected_attr: ty.mair_byte(),
    }
}

fn current_el() -> u8 {
    use aarch64_cpu::registers::{CurrentEL, Readable};
    CurrentEL.read(CurrentEL::EL) as u8
}

/// Ends the run: prints the final status line and leaves through the chosen
/// exit method.
pub fn finish(reason: ExitReason) -> ! {
    let status = reason.status();
    let method = EXIT.get().copied().unwrap_or(ExitMethod::Spin);
    let how = method.describe();
    kprintln!("# iommu-bringup: exit status {status} ({reason}) via {how}");
    match method {
        ExitMethod::Semihosting => semihosting::exit(status),
        ExitMethod::Psci(conduit) => {
            let conduit = match conduit {
                PsciConduit::Hvc => smccc::Conduit::Hvc,
                PsciConduit::Smc => smccc::Conduit::Smc,
            };
            let ret = smccc::call0(conduit, smccc::PSCI_SYSTEM_OFF) as i64;
            kprintln!(
                "# PSCI SYSTEM_OFF returned {ret}; {}",
                ExitMethod::Spin.describe()
            );
            park()
        }
        ExitMethod::Spin => park(),
    }
}

fn fatal_exception(report: &exception::ExceptionReport) -> ! {
    use core::fmt::Write as _;
    kprintln!();
    // Through the prefixing writer, not a `String`: an exception may come
    // before the heap exists.
    let _ = writeln!(active::Prefixed::new("# FATAL: "), "{report}");
    kprintln!("Bail out! unexpected exception");
    finish(ExitReason::Exception)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write as _;
    kprintln!();
    let _ = writeln!(active::Prefixed::new("# PANIC: "), "{info}");
    // Rust's default allocation-error handler panics with "memory allocation
    // of N bytes failed"; the heap recorded the failure with its state.
    if let Some(f) = crate::mm::heap::alloc_failure() {
        if crate::mm::oom::is_alloc_error(info.message()) {
            kprintln!("Bail out! out of memory: {f}");
            finish(ExitReason::OutOfMemory)
        }
    }
    kprintln!("Bail out! panic");
    finish(ExitReason::Panic)
}
