//! The family registry: one line per IOMMU family, and the one generic way
//! a family with a driver is run ([`run_family`]).
//!
//! Boot looks each IOMMU node's kind up in [`FAMILIES`] and either runs the
//! family's entry or reports the node as a SKIP with the family's reason;
//! `dt-probe` reads the same table to say which driver takes a node.
//! Adding a family means one folder under `src/iommu/` (with a `probe.rs`
//! implementing [`Probe`]) and one line here — see docs/architecture.md,
//! "Adding a family".
#![forbid(unsafe_code)]

use super::iommu_cases::{self, aperture, FixedMapping, IommuTest, APERTURE_SIZE, HIGH_APERTURE};
use super::ktap::KtapWriter;
use super::preflight::preflight;
use super::runner::{
    report_group_skipped, report_setup_skip, run_group_after, Outcome, Report as CaseReport, Totals,
};
use super::setup_error::SetupError;
use crate::dma::{platform, DmaMaster, MasterSpec, OpenError};
use crate::iommu::dart::probe::DartProbe;
use crate::iommu::erased::{Erase, Erased};
use crate::iommu::pgtable::{AnyCodec, Codec, Granule, PoolTables};
use crate::iommu::probe::{CheckOutcome, HardwareCheck, Probe, ProbeEnv, ProbeError, ProbeTarget};
use crate::iommu::smmuv2::probe::Smmuv2Probe;
use crate::iommu::smmuv3::probe::Smmuv3Probe;
use crate::iommu::sun50i::probe::Sun50iProbe;
use crate::iommu::virtio_iommu::probe::VirtioIommuProbe;
use crate::iommu::{Contexts, Domain, Iommu, Observe};
use crate::mm::dma_pool::DmaPool;
use crate::mm::Iova;
use crate::platform::dt::iommus::IommuKind;
use crate::platform::dt::report::{self, DrivenMaster, Lookups, Report, SelfMaster};
use crate::platform::dt::tbus::PortFacts;
use crate::platform::dt::DtError;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Staging IOVA of master `i` is `STAGING_IOVA + i * STAGING_STRIDE`: below
/// every aperture, clear of the virt GICv2m MSI page (0x0802_0000).
pub const STAGING_IOVA: u64 = 0x0800_0000;
/// Distance between two masters' staging IOVAs.
pub const STAGING_STRIDE: u64 = 0x10_0000;
/// Masters used per IOMMU (isolation and asid_invalidate need two).
pub const MAX_MASTERS: usize = 2;
/// How long a master may take to finish one DMA.  Generous on purpose:
/// under QEMU's `-icount` virtual time runs with the guest's instructions,
/// so while the guest polls, a virtio-blk completion that waits for the
/// host's I/O thread can cost many virtual seconds on a loaded host (seen:
/// 5 s was not enough with other builds running).  Only a DMA the IOMMU
/// blocked and the device never completes waits this long.
pub const DMA_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(20);

/// The low preflight IOVA: below every aperture, above the staging and
/// heartbeat IOVAs, and within 28 bits (QEMU edu's default DMA mask).
pub const PREFLIGHT_LOW: u64 = 0x0e00_0000;
/// The high preflight IOVA: just above domain 0's aperture (the highest,
/// above 4 GiB: `iommu_cases::aperture`), so every IOVA a case uses is
/// below it.
pub const PREFLIGHT_HIGH: u64 = HIGH_APERTURE + APERTURE_SIZE;

/// Runs one IOMMU of a family as KTAP subtest `number`; `Err` is a setup
/// failure the caller reports as the group's failing `setup` case.
pub type RunFamily = fn(
    &mut dyn FamilyEnv,
    &DmaPool,
    &mut KtapWriter<&mut dyn Write>,
    usize,
    &FamilyTarget<'_>,
) -> Result<Totals, SetupError>;

/// One IOMMU family.
pub struct Family {
    /// The discovery kind whose nodes it takes.
    pub kind: IommuKind,
    /// Its name in reports (`dt-probe`'s driver column, KTAP notes).
    pub name: &'static str,
    /// How to run it, or why it cannot run in this image.
    pub driver: Result<RunFamily, &'static str>,
    /// Whether an IOMMU of this `compatible` can be tested through its own
    /// port (`Probe::has_self_master`), so a node without other masters
    /// still runs.
    pub self_master: fn(&str) -> bool,
    /// What reports call that port (`Probe::SELF_MASTER_NAME`).
    pub self_master_name: &'static str,
    /// A port the tree describes beside the node
    /// (`Probe::described_port`).
    pub described_port: fn(&PortFacts<'_>) -> Option<Result<String, String>>,
    /// Why the driver leaves an IOMMU of this `compatible` alone, if it does
    /// (`Probe::left_alone`).
    pub left_alone: fn(&str) -> Option<&'static str>,
}

/// Every family, one line each.
pub const FAMILIES: &[Family] = &[
    Family {
        kind: IommuKind::SmmuV3,
        name: "smmuv3",
        driver: Ok(run_family::<Smmuv3Probe>),
        self_master: <Smmuv3Probe as Probe>::has_self_master,
        self_master_name: <Smmuv3Probe as Probe>::SELF_MASTER_NAME,
        described_port: <Smmuv3Probe as Probe>::described_port,
        left_alone: <Smmuv3Probe as Probe>::left_alone,
    },
    Family {
        kind: IommuKind::VirtioIommu,
        name: "virtio-iommu",
        driver: Ok(run_family::<VirtioIommuProbe>),
        self_master: <VirtioIommuProbe as Probe>::has_self_master,
        self_master_name: <VirtioIommuProbe as Probe>::SELF_MASTER_NAME,
        described_port: <VirtioIommuProbe as Probe>::described_port,
        left_alone: <VirtioIommuProbe as Probe>::left_alone,
    },
    Family {
        kind: IommuKind::Mmu500,
        name: "smmuv2",
        driver: Ok(run_family::<Smmuv2Probe>),
        self_master: <Smmuv2Probe as Probe>::has_self_master,
        self_master_name: <Smmuv2Probe as Probe>::SELF_MASTER_NAME,
        described_port: <Smmuv2Probe as Probe>::described_port,
        left_alone: <Smmuv2Probe as Probe>::left_alone,
    },
    Family {
        kind: IommuKind::SmmuV2,
        name: "smmuv2",
        driver: Ok(run_family::<Smmuv2Probe>),
        self_master: <Smmuv2Probe as Probe>::has_self_master,
        self_master_name: <Smmuv2Probe as Probe>::SELF_MASTER_NAME,
        described_port: <Smmuv2Probe as Probe>::described_port,
        left_alone: <Smmuv2Probe as Probe>::left_alone,
    },
    Family {
        kind: IommuKind::Sun50i,
        name: "sun50i",
        driver: Ok(run_family::<Sun50iProbe>),
        self_master: <Sun50iProbe as Probe>::has_self_master,
        self_master_name: <Sun50iProbe as Probe>::SELF_MASTER_NAME,
        described_port: <Sun50iProbe as Probe>::described_port,
        left_alone: <Sun50iProbe as Probe>::left_alone,
    },
    Family {
        kind: IommuKind::AppleDart,
        name: "apple-dart",
        driver: Ok(run_family::<DartProbe>),
        self_master: <DartProbe as Probe>::has_self_master,
        self_master_name: <DartProbe as Probe>::SELF_MASTER_NAME,
        described_port: <DartProbe as Probe>::described_port,
        left_alone: <DartProbe as Probe>::left_alone,
    },
];

/// Per family with such a reason, why a node it takes has no master the
/// image can drive (`Probe::no_master_reason`): the plan adds it to the
/// node's SKIP.  One line per family; a family without one is not listed.
pub const NO_MASTER_REASONS: &[(IommuKind, report::NoMasterLookupFor)] = &[
    (IommuKind::Sun50i, <Sun50iProbe as Probe>::no_master_reason),
    (IommuKind::Mmu500, <Smmuv2Probe as Probe>::no_master_reason),
    (IommuKind::SmmuV2, <Smmuv2Probe as Probe>::no_master_reason),
];

/// Per family with checks that need no DMA master
/// (`Probe::HARDWARE_CHECKS`), what they check: the plan runs a node of
/// such a family even with no master behind it (the checks, then the
/// catalogue as SKIPs), and `dt-probe` says so.  One line per family.
pub const HARDWARE_CHECKS: &[(IommuKind, Option<&'static str>)] =
    &[(IommuKind::AppleDart, <DartProbe as Probe>::HARDWARE_CHECKS)];

/// What [`HARDWARE_CHECKS`] says a node of `kind` is checked for with no
/// master, if anything.
pub fn hardware_checks_for(kind: IommuKind) -> Option<&'static str> {
    HARDWARE_CHECKS
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, c)| *c)
}

/// The reason [`NO_MASTER_REASONS`] gives for a node of `kind` with
/// `compatible`, if any.
pub fn no_master_reason(kind: IommuKind, compatible: &str) -> Option<&'static str> {
    NO_MASTER_REASONS
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, why)| why(compatible))
}

/// The family that takes nodes of `kind`.
pub fn family(kind: IommuKind) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.kind == kind)
}

/// Which driver of this image takes a node of `kind` with `compatible`:
/// the family's name, `no driver yet` (the family is named by the report's
/// `kind`), or `unsupported: …`.
pub fn driver_for(kind: IommuKind, compatible: &str) -> String {
    if let Some(f) = family(kind).filter(|f| f.driver.is_ok()) {
        if (f.left_alone)(compatible).is_some() {
            return format!("{} (leaves {compatible} alone)", f.name);
        }
    }
    match family(kind) {
        Some(Family {
            name,
            driver: Ok(_),
            ..
        }) => String::from(*name),
        Some(Family { driver: Err(_), .. }) => String::from("no driver yet"),
        None if compatible.is_empty() => String::from("unsupported: (no compatible)"),
        None => format!("unsupported: {compatible}"),
    }
}

/// Whether the image can test a node of `kind` with `compatible` through
/// the IOMMU's own port, and what that port is called (the plan runs such
/// a node without other masters).
pub fn self_master_for(kind: IommuKind, facts: &PortFacts<'_>) -> SelfMaster {
    let compatible = facts.compatible;
    if let Some(why) = family(kind)
        .filter(|f| f.driver.is_ok())
        .and_then(|f| (f.left_alone)(compatible))
    {
        return SelfMaster::LeftAlone(why);
    }
    match family(kind) {
        Some(f @ Family { driver: Ok(_), .. }) if (f.self_master)(compatible) => {
            SelfMaster::Port(f.self_master_name)
        }
        Some(f @ Family { driver: Ok(_), .. }) => match (f.described_port)(facts) {
            Some(Ok(port)) => SelfMaster::Described(port),
            described => match (hardware_checks_for(kind), described) {
                (Some(checks), _) => SelfMaster::HardwareChecks(checks),
                (None, Some(Err(why))) => SelfMaster::Unusable(why),
                (None, _) => SelfMaster::None,
            },
        },
        _ => SelfMaster::NoDriver,
    }
}

/// The platform-master registry's driver for a master node's `compatible`
/// (`dma::platform`), as reports see it.
pub fn platform_master_for(compatible: &str) -> Option<DrivenMaster> {
    platform::by_compatible(compatible).map(|m| DrivenMaster {
        name: m.name,
        reg_span: m.reg_span,
    })
}

/// `cargo xtask dt-probe`'s report for `dtb`, with the driver column and
/// the self masters from this registry and the platform masters from
/// `dma::platform`.
pub fn dt_probe(dtb: &[u8]) -> Result<Report, DtError> {
    report::probe(
        dtb,
        Lookups {
            driver_for,
            self_master: self_master_for,
            no_master: no_master_reason,
            platform_master: platform_master_for,
            max_masters: MAX_MASTERS,
        },
    )
}

/// One IOMMU to run: the node's facts and the masters chosen behind it.
pub struct FamilyTarget<'a> {
    /// The node.
    pub probe: ProbeTarget<'a>,
    /// Its index in discovery order (what the masters' streams name).
    pub index: usize,
    /// The masters to use, in order (at most [`MAX_MASTERS`]).
    pub masters: Vec<&'a MasterSpec>,
}

/// DMA masters opened for one IOMMU, with the mappings every domain must
/// have for them to work (staging buffers, queues).
pub struct OpenedMasters<'p> {
    /// The masters, in the order asked for.
    pub masters: Vec<Box<dyn DmaMaster + 'p>>,
    /// Fixed mappings every domain gets.
    pub fixed: Vec<FixedMapping>,
}

/// What boot provides a family run beyond the probe's services.
pub trait FamilyEnv: ProbeEnv {
    /// The granule the run asked for (`iommu_bringup.granule`).
    fn granule(&self) -> Granule;

    /// `iommu_bringup.inject=skip-sync`.
    fn skip_sync(&self) -> bool;

    /// Opens `masters` (stream IDs on IOMMU `iommu`) with buffers from
    /// `pool`; master `i` uses `staging[i]` for its fixed buffers, pages of
    /// `page` bytes.
    fn open_masters<'p>(
        &mut self,
        pool: &'p DmaPool,
        iommu: usize,
        masters: &[&MasterSpec],
        staging: &[Iova],
        page: u64,
    ) -> Result<OpenedMasters<'p>, OpenError>;

    /// This environment as the probe's.
    fn probe_env(&mut self) -> &mut dyn ProbeEnv;

    /// `iommu_bringup.catalogue=quick`: run only `iommu_cases::QUICK`.
    fn quick_catalogue(&self) -> bool {
        false
    }

    /// Called once the IOMMU and its masters are up, before the first
    /// case: `Err` stops the run as a setup failure (boot: a bus fault the
    /// bring-up survived).
    fn check_bring_up(&mut self) -> Result<(), SetupError> {
        Ok(())
    }
}

/// Domain `i`'s aperture for a format with `input_bits` of IOVA: the
/// catalogue's layout (`iommu_cases::aperture`, domain 0 above 4 GiB) when
/// the format reaches above 4 GiB; otherwise every domain below 4 GiB, at
/// `(i + 1) * APERTURE_SIZE` (a 32-bit IOMMU such as sun50i).
pub fn aperture_for(i: usize, input_bits: u32) -> Iova {
    if input_bits > 32 {
        aperture(i)
    } else {
        Iova((i as u64 + 1) * APERTURE_SIZE)
    }
}

/// The high preflight IOVA for a format with `input_bits`: just above the
/// highest aperture [`aperture_for`] gives.
pub fn preflight_high(input_bits: u32) -> u64 {
    if input_bits > 32 {
        PREFLIGHT_HIGH
    } else {
        APERTURE_SIZE * (MAX_MASTERS as u64 + 1)
    }
}

/// The fixed IOVA ranges and apertures the catalogue will use (two pages
/// per master: edu's staging buffer, or virtio-blk's queue and request
/// memory) for a format with `input_bits` of IOVA.
pub fn test_iova_ranges(page: u64, masters: usize, input_bits: u32) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = (0..masters)
        .map(|i| (STAGING_IOVA + i as u64 * STAGING_STRIDE, 2 * page.max(4096)))
        .collect();
    v.extend((0..MAX_MASTERS).map(|i| (aperture_for(i, input_bits).0, APERTURE_SIZE)));
    v.push((PREFLIGHT_LOW, page.max(4096)));
    v.push((preflight_high(input_bits), page.max(4096)));
    v
}

/// A family's own translation port as a master ([`Probe::self_master`]).
type SelfMasterFn = for<'p> fn(
    &mut dyn ProbeEnv,
    &'p DmaPool,
    &ProbeTarget<'_>,
) -> Result<Option<Box<dyn DmaMaster + 'p>>, ProbeError>;

/// Brings one IOMMU of family `P` up and runs the catalogue on it.
///
/// The family's own part is the bring-up, the table format and its checks;
/// the rest ([`run_erased`]) runs on the driver behind
/// [`Erased`](crate::iommu::erased::Erased), so the image holds one copy of
/// the catalogue, the domain and the walker for every family
/// (docs/performance.md, "Footprint").  The driver is asked the same
/// things in the same order either way.
pub fn run_family<P: Probe>(
    env: &mut dyn FamilyEnv,
    pool: &DmaPool,
    k: &mut KtapWriter<&mut dyn Write>,
    number: usize,
    t: &FamilyTarget<'_>,
) -> Result<Totals, SetupError>
where
    P::Format: 'static,
{
    let mut driver = P::bring_up(env.probe_env(), pool, &t.probe)?;
    // The family's checks that need no master come first in the group.
    let checks: Vec<(&str, CaseReport)> = P::hardware_checks(&mut driver, pool, env.probe_env())
        .into_iter()
        .map(check_report)
        .collect();
    let catalogue = || -> Vec<&'static str> {
        // Named on the erased driver: one instantiation of the catalogue
        // for every family, as `run_erased` runs it.
        iommu_cases::group::<Erased<'_>, PoolTables<'_>>(String::new())
            .cases
            .iter()
            .map(|c| c.name)
            .collect()
    };
    if let Some(why) = P::untestable(&driver) {
        if checks.is_empty() {
            return Ok(report_setup_skip(k, number, t.probe.name, &why));
        }
        return Ok(report_group_skipped(
            k,
            number,
            t.probe.name,
            &checks,
            &catalogue(),
            &why,
        ));
    }
    if t.masters.is_empty()
        && !P::has_self_master(t.probe.compatible)
        && !matches!(P::described_port(&t.probe.port), Some(Ok(_)))
    {
        // Only a family with hardware checks is planned without a master.
        let why = format!(
            "no DMA master this image can drive sits behind {}: only the checks that need none ran",
            t.probe.name
        );
        return Ok(report_group_skipped(
            k,
            number,
            t.probe.name,
            &checks,
            &catalogue(),
            &why,
        ));
    }
    let granule = env.granule();
    let (format, coherent) = P::table_format(&driver, granule)?;
    let input_bits = format.input_bits();
    // The format's page size: the granule asked for, unless the IOMMU has
    // one page size only and its format says so (DART: 16 KiB).
    let page = format.granule();
    if page != granule.size() {
        env.diag(&format!(
            "{}: the IOMMU's page size is {} KiB, fixed by the hardware: the run's {} KiB granule does not apply to it",
            t.probe.name,
            page >> 10,
            granule.size() >> 10
        ));
    }
    let streams: Vec<u32> = t
        .masters
        .iter()
        .filter_map(|m| m.stream_on(t.index).map(|s| s.id))
        .collect();
    if env.skip_sync() {
        env.diag(&format!(
            "iommu_bringup.inject=skip-sync: from the first case on, the driver drops every {} (negative control)",
            P::INVALIDATION
        ));
    }
    let ranges = test_iova_ranges(page, t.masters.len(), input_bits);
    P::check_test_iovas(&mut driver, env.probe_env(), &streams, &ranges)?;
    let mut erase = Erase::new(&mut driver, format.clone());
    let mut erased = Erased::new(&mut erase);
    run_erased(
        env,
        pool,
        k,
        number,
        t,
        &mut erased,
        Erasure {
            format: AnyCodec::new(format),
            coherent,
            page,
            checks,
            self_master: P::self_master,
            self_master_name: P::SELF_MASTER_NAME,
        },
    )
}

/// What [`run_erased`] needs from the family beyond the erased driver.
struct Erasure {
    /// The driver's table format, behind one type.
    format: AnyCodec,
    /// Whether the tables are written for a coherent walker.
    coherent: bool,
    /// The format's page size.
    page: u64,
    /// The family's hardware checks, reported first in the group.
    checks: Vec<(&'static str, CaseReport)>,
    /// The family's own port as a master.
    self_master: SelfMasterFn,
    /// What reports call that port.
    self_master_name: &'static str,
}

/// [`run_family`] from the domains on, the same code for every family:
/// one domain per master (or the one shared context), the masters, the
/// preflight, then the catalogue as KTAP subtest `number`.
fn run_erased(
    env: &mut dyn FamilyEnv,
    pool: &DmaPool,
    k: &mut KtapWriter<&mut dyn Write>,
    number: usize,
    t: &FamilyTarget<'_>,
    driver: &mut Erased<'_>,
    family: Erasure,
) -> Result<Totals, SetupError> {
    let Erasure {
        format,
        coherent,
        page,
        checks,
        self_master,
        self_master_name,
    } = family;
    let input_bits = format.input_bits();
    let skip = env.skip_sync();
    // One domain per master, or the one context every stream shares; the
    // driver checks the format against its hardware and tags each domain.
    let contexts = match driver.capabilities().contexts {
        Contexts::PerStream => MAX_MASTERS,
        Contexts::Shared(_) => 1,
    };
    let mut domains = Vec::new();
    for i in 0..contexts {
        let tables = PoolTables::with_cache(pool, coherent, env.cache());
        let d = Domain::new(
            &mut *driver,
            format.clone(),
            tables,
            aperture_for(i, input_bits),
            APERTURE_SIZE,
        )
        .map_err(|cause| SetupError::Domain { index: i, cause })?;
        domains.push(d);
    }
    let staging: Vec<Iova> = (0..t.masters.len())
        .map(|i| Iova(STAGING_IOVA + i as u64 * STAGING_STRIDE))
        .collect();
    let mut opened = env.open_masters(pool, t.index, &t.masters, &staging, page)?;
    if opened.masters.len() < MAX_MASTERS {
        if let Some(own) = self_master(env.probe_env(), pool, &t.probe)? {
            env.diag(&format!(
                "{}: using the IOMMU's own port as a master",
                t.probe.name
            ));
            opened.masters.push(own);
        }
    }
    if opened.masters.is_empty() {
        // The plan ran the node for its own port, and the hardware has none
        // (its ID registers say so; the probe's note above names them).
        return Ok(report_setup_skip(
            k,
            number,
            t.probe.name,
            &format!(
                "no DMA master: none this image can drive sits behind it, and {self_master_name} is not available on this instance (see the note above)",
            ),
        ));
    }
    let masters: Vec<&mut dyn DmaMaster> = opened
        .masters
        .iter_mut()
        .map(|m| &mut **m as &mut dyn DmaMaster)
        .collect();
    env.check_bring_up()?;
    let mut test = IommuTest::setup(driver, masters, domains, &opened.fixed, pool, page)?;
    test.timeout = DMA_TIMEOUT;
    let high = Iova(preflight_high(input_bits));
    for note in preflight(&mut test, &[Iova(PREFLIGHT_LOW), high])? {
        env.diag(&note);
    }
    // The negative control starts with the cases, not with the setup.
    test.iommu.set_skip_sync(skip);
    let mut group = iommu_cases::group(String::from(t.probe.name));
    if env.quick_catalogue() {
        group = iommu_cases::quick(group);
    }
    Ok(run_group_after(k, number, &checks, &group, &mut test))
}

/// A hardware check as a case report.
pub fn check_report(c: HardwareCheck) -> (&'static str, CaseReport) {
    let outcome = match c.outcome {
        CheckOutcome::Pass => Outcome::Pass,
        CheckOutcome::Fail => Outcome::Fail,
        CheckOutcome::Skip(why) => Outcome::Skip(why),
    };
    (
        c.name,
        CaseReport {
            outcome,
            diags: c.notes,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_family_and_every_kind_but_unknown_has_one() {
        for kind in [
            IommuKind::SmmuV3,
            IommuKind::VirtioIommu,
            IommuKind::Mmu500,
            IommuKind::SmmuV2,
            IommuKind::Sun50i,
            IommuKind::AppleDart,
        ] {
            assert_eq!(
                FAMILIES.iter().filter(|f| f.kind == kind).count(),
                1,
                "{kind:?}"
            );
        }
        assert!(family(IommuKind::Unknown).is_none());
    }

    #[test]
    fn a_32_bit_format_keeps_every_test_iova_below_4_gib() {
        for (bits, above) in [(32, false), (40, true)] {
            let r = test_iova_ranges(4096, 2, bits);
            assert_eq!(
                r.iter().any(|&(s, n)| s + n > 1 << 32),
                above,
                "{bits}-bit: {r:x?}"
            );
        }
        assert_eq!(aperture_for(0, 40), aperture(0));
        assert!(preflight_high(32) + 4096 <= 1 << 32);
    }

    #[test]
    fn driver_column_comes_from_the_table() {
        assert_eq!(driver_for(IommuKind::SmmuV3, "arm,smmu-v3"), "smmuv3");
        assert_eq!(
            driver_for(IommuKind::VirtioIommu, "virtio,pci-iommu"),
            "virtio-iommu"
        );
        assert_eq!(
            driver_for(IommuKind::Sun50i, "allwinner,sun50i-h6-iommu"),
            "sun50i"
        );
        assert_eq!(
            driver_for(IommuKind::AppleDart, "apple,t8103-dart"),
            "apple-dart"
        );
        // Both SMMUv2 kinds are the smmuv2 family; the Adreno's own SMMU is
        // left alone, and says so.
        assert_eq!(driver_for(IommuKind::Mmu500, "arm,mmu-500"), "smmuv2");
        assert_eq!(
            driver_for(IommuKind::SmmuV2, "qcom,sdm845-smmu-v2"),
            "smmuv2"
        );
        assert_eq!(
            driver_for(IommuKind::SmmuV2, "qcom,adreno-smmu"),
            "smmuv2 (leaves qcom,adreno-smmu alone)"
        );
        assert!(matches!(
            self_master_for(IommuKind::Mmu500, &PortFacts::bare("qcom,adreno-smmu")),
            SelfMaster::LeftAlone(why) if why.contains("GPU")
        ));
        assert_eq!(
            self_master_for(IommuKind::Mmu500, &PortFacts::bare("arm,mmu-500")),
            SelfMaster::None
        );
        assert!(matches!(
            self_master_for(IommuKind::SmmuV2, &PortFacts::bare("arm,smmu-v2")),
            SelfMaster::Port(_)
        ));
        assert_eq!(
            driver_for(IommuKind::Unknown, "rockchip,iommu"),
            "unsupported: rockchip,iommu"
        );
        assert_eq!(
            driver_for(IommuKind::Unknown, ""),
            "unsupported: (no compatible)"
        );
    }
}
