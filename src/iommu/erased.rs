//! Any family's driver behind one type ([`Erased`]), so the image holds one
//! copy of the case catalogue, the domain and the walker instead of one per
//! family (docs/performance.md, "Footprint": each family used to bring
//! about 25 KiB of them along).
//!
//! [`Erase`] wraps a driver and answers [`DynDriver`], the object-safe form
//! of [`Iommu`] + [`Observe`]: the domain's codec becomes an
//! [`AnyCodec`] (the driver keeps its own format and gets that one back),
//! its context tag an [`AnyTag`] (a number the wrapper maps back to the
//! driver's tag, printing as the driver's tag prints).  [`Erased`] is the
//! `Iommu + Observe` the catalogue runs on; it forwards every call, hold,
//! release, cost and skip-sync included, so the driver's own
//! [`InvalidationGate`] does all of that as before.  Nothing changes in
//! what a driver is asked to do or when.
#![forbid(unsafe_code)]

use super::pgtable::{AnyCodec, Codec};
use super::{
    Capabilities, Context, Fault, InvalidationGate, Iommu, IommuError, MapRequest, Observe,
    StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::BusAddr;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes of a tag's printed form an [`AnyTag`] keeps.
const TAG_TEXT: usize = 40;

/// A context tag of any driver: the number [`Erase`] gave it, and the
/// driver's own `Debug` text of it (what reports print).
#[derive(Clone, Copy)]
pub struct AnyTag {
    idx: u32,
    text: [u8; TAG_TEXT],
    len: u8,
}

impl AnyTag {
    fn new<T: fmt::Debug>(idx: u32, tag: &T) -> Self {
        struct Buf([u8; TAG_TEXT], usize, bool);
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for c in s.chars() {
                    let mut b = [0; 4];
                    let e = c.encode_utf8(&mut b).as_bytes();
                    if self.1 + e.len() > TAG_TEXT {
                        self.2 = true;
                        return Ok(());
                    }
                    self.0[self.1..self.1 + e.len()].copy_from_slice(e);
                    self.1 += e.len();
                }
                Ok(())
            }
        }
        let mut b = Buf([0; TAG_TEXT], 0, false);
        let _ = fmt::write(&mut b, format_args!("{tag:?}"));
        if b.2 {
            // Longer than kept: say so instead of cutting silently.
            let kept = core::str::from_utf8(&b.0[..b.1]).unwrap_or("");
            let mut end = kept.len().min(TAG_TEXT - 3);
            while !kept.is_char_boundary(end) {
                end -= 1;
            }
            b.0[end..end + 3].copy_from_slice(b"...");
            b.1 = end + 3;
        }
        Self {
            idx,
            text: b.0,
            len: b.1 as u8,
        }
    }

    fn text(&self) -> &str {
        core::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl PartialEq for AnyTag {
    fn eq(&self, o: &Self) -> bool {
        self.idx == o.idx
    }
}

impl Eq for AnyTag {}

impl fmt::Debug for AnyTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// [`Iommu`] + [`Observe`], object-safe, with the format and tags erased.
pub trait DynDriver {
    /// [`Iommu::name`].
    fn name(&self) -> &str;
    /// [`Iommu::sync_policy`].
    fn sync_policy(&self) -> SyncPolicy;
    /// [`Iommu::capabilities`].
    fn capabilities(&self) -> Capabilities;
    /// [`Iommu::new_context`] for the driver's own format.
    fn new_context(&mut self) -> Result<AnyTag, IommuError>;
    /// [`Iommu::release_context`].
    fn release_context(&mut self, tag: AnyTag);
    /// [`Iommu::attach`] of a context with `root`.
    fn attach(
        &mut self,
        stream: StreamId,
        tag: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
    ) -> Result<(), IommuError>;
    /// [`Iommu::detach`].
    fn detach(
        &mut self,
        stream: StreamId,
        tag: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
    ) -> Result<(), IommuError>;
    /// [`Iommu::sync`].
    fn sync(&mut self, req: &SyncRequest<'_, AnyTag>) -> Result<(), IommuError>;
    /// [`Iommu::sync_map`].
    fn sync_map(
        &mut self,
        tag: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
        map: &MapRequest,
    ) -> Result<(), IommuError>;
    /// [`Iommu::sync_is_deferred`].
    fn sync_is_deferred(&self) -> bool;
    /// [`Observe::hold_invalidations`].
    fn hold_invalidations(&mut self, hold: bool);
    /// [`Observe::release_held`].
    fn release_held(&mut self) -> Result<usize, IommuError>;
    /// [`Observe::take_invalidation_cost`].
    fn take_invalidation_cost(&mut self) -> u64;
    /// [`Observe::skipping_syncs`].
    fn skipping_syncs(&self) -> bool;
    /// [`Observe::set_skip_sync`].
    fn set_skip_sync(&mut self, on: bool);
    /// [`Observe::drain_faults`].
    fn drain_faults(&mut self) -> Vec<Fault>;
    /// [`Observe::health`].
    fn health(&mut self) -> Vec<String>;
    /// [`Observe::cache_evidence`].
    fn cache_evidence(&mut self) -> Option<String>;
    /// [`Observe::open_cache_window`].
    fn open_cache_window(&mut self);
    /// [`Observe::invalidation_summary`].
    fn invalidation_summary(&self) -> Option<String>;
    /// [`Observe::invalidate_context`].
    fn invalidate_context(&mut self, tag: AnyTag) -> Result<(), IommuError>;
    /// [`Observe::skip_sync_failures`].
    fn skip_sync_failures(&self) -> &'static [&'static str];
}

/// A driver with the tables of `format` (its own type), answering
/// [`DynDriver`].
pub struct Erase<'d, I: Observe> {
    inner: &'d mut I,
    format: I::Format,
    /// The driver's tag of each [`AnyTag`] handed out, by its number
    /// (kept after a release; numbers are not reused).
    tags: Vec<I::Tag>,
}

impl<'d, I: Observe> Erase<'d, I> {
    /// `inner`, whose domains will all have tables of `format`.
    pub fn new(inner: &'d mut I, format: I::Format) -> Self {
        Self {
            inner,
            format,
            tags: Vec::new(),
        }
    }

    /// The driver's tag of `t`; a tag this wrapper never handed out
    /// (another wrapper's: not possible within one run) is refused with
    /// its number.
    fn tag(&self, t: AnyTag) -> Result<I::Tag, IommuError> {
        self.tags
            .get(t.idx as usize)
            .copied()
            .ok_or(IommuError::Unsupported {
                value: u64::from(t.idx),
            })
    }
}

impl<I: Observe> DynDriver for Erase<'_, I> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn sync_policy(&self) -> SyncPolicy {
        self.inner.sync_policy()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn new_context(&mut self) -> Result<AnyTag, IommuError> {
        let tag = self.inner.new_context(&self.format)?;
        let idx = self.tags.len() as u32;
        self.tags.push(tag);
        Ok(AnyTag::new(idx, &tag))
    }
    fn release_context(&mut self, t: AnyTag) {
        if let Ok(tag) = self.tag(t) {
            self.inner.release_context(tag);
        }
    }
    fn attach(
        &mut self,
        stream: StreamId,
        t: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
    ) -> Result<(), IommuError> {
        let tag = self.tag(t)?;
        let ctx = Context {
            tag,
            root,
            format: &self.format,
            coherent_walk,
        };
        self.inner.attach(stream, &ctx)
    }
    fn detach(
        &mut self,
        stream: StreamId,
        t: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
    ) -> Result<(), IommuError> {
        let tag = self.tag(t)?;
        let ctx = Context {
            tag,
            root,
            format: &self.format,
            coherent_walk,
        };
        self.inner.detach(stream, &ctx)
    }
    fn sync(&mut self, r: &SyncRequest<'_, AnyTag>) -> Result<(), IommuError> {
        let req = SyncRequest {
            policy: r.policy,
            tag: self.tag(r.tag)?,
            streams: r.streams,
            iova: r.iova,
            size: r.size,
            granule: r.granule,
            leaf_only: r.leaf_only,
            gather: r.gather,
        };
        self.inner.sync(&req)
    }
    fn sync_map(
        &mut self,
        t: AnyTag,
        root: BusAddr,
        coherent_walk: bool,
        map: &MapRequest,
    ) -> Result<(), IommuError> {
        let tag = self.tag(t)?;
        let ctx = Context {
            tag,
            root,
            format: &self.format,
            coherent_walk,
        };
        self.inner.sync_map(&ctx, map)
    }
    fn sync_is_deferred(&self) -> bool {
        self.inner.sync_is_deferred()
    }
    fn hold_invalidations(&mut self, hold: bool) {
        self.inner.hold_invalidations(hold);
    }
    fn release_held(&mut self) -> Result<usize, IommuError> {
        self.inner.release_held()
    }
    fn take_invalidation_cost(&mut self) -> u64 {
        self.inner.take_invalidation_cost()
    }
    fn skipping_syncs(&self) -> bool {
        self.inner.skipping_syncs()
    }
    fn set_skip_sync(&mut self, on: bool) {
        self.inner.set_skip_sync(on);
    }
    fn drain_faults(&mut self) -> Vec<Fault> {
        self.inner.drain_faults()
    }
    fn health(&mut self) -> Vec<String> {
        self.inner.health()
    }
    fn cache_evidence(&mut self) -> Option<String> {
        self.inner.cache_evidence()
    }
    fn open_cache_window(&mut self) {
        self.inner.open_cache_window()
    }
    fn invalidation_summary(&self) -> Option<String> {
        self.inner.invalidation_summary()
    }
    fn invalidate_context(&mut self, t: AnyTag) -> Result<(), IommuError> {
        let tag = self.tag(t)?;
        self.inner.invalidate_context(tag)
    }
    fn skip_sync_failures(&self) -> &'static [&'static str] {
        self.inner.skip_sync_failures()
    }
}

/// The one driver type the image's catalogue runs on.
pub struct Erased<'d> {
    inner: &'d mut dyn DynDriver,
    /// Required by [`Observe`] but never consulted: every method that
    /// would read it is forwarded to the driver's own gate.
    unused: InvalidationGate<()>,
}

impl<'d> Erased<'d> {
    /// `driver` as the catalogue's driver.
    pub fn new(driver: &'d mut dyn DynDriver) -> Self {
        Self {
            inner: driver,
            unused: InvalidationGate::new(false),
        }
    }
}

impl Iommu for Erased<'_> {
    type Format = AnyCodec;
    type Tag = AnyTag;

    fn name(&self) -> &str {
        self.inner.name()
    }
    fn sync_policy(&self) -> SyncPolicy {
        self.inner.sync_policy()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn new_context(&mut self, format: &AnyCodec) -> Result<AnyTag, IommuError> {
        // The driver checks its own format, the one `format` wraps (the
        // runner builds both from the probe's choice).
        let _ = format.entry_bytes();
        self.inner.new_context()
    }
    fn release_context(&mut self, tag: AnyTag) {
        self.inner.release_context(tag);
    }
    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, AnyCodec, AnyTag>,
    ) -> Result<(), IommuError> {
        self.inner
            .attach(stream, ctx.tag, ctx.root, ctx.coherent_walk)
    }
    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, AnyCodec, AnyTag>,
    ) -> Result<(), IommuError> {
        self.inner
            .detach(stream, ctx.tag, ctx.root, ctx.coherent_walk)
    }
    fn sync(&mut self, req: &SyncRequest<'_, AnyTag>) -> Result<(), IommuError> {
        self.inner.sync(req)
    }
    fn sync_map(
        &mut self,
        ctx: &Context<'_, AnyCodec, AnyTag>,
        map: &MapRequest,
    ) -> Result<(), IommuError> {
        self.inner
            .sync_map(ctx.tag, ctx.root, ctx.coherent_walk, map)
    }
    fn sync_is_deferred(&self) -> bool {
        self.inner.sync_is_deferred()
    }
}

impl Observe for Erased<'_> {
    type Invalidation = ();

    fn gate(&self) -> &InvalidationGate<()> {
        &self.unused
    }
    fn gate_mut(&mut self) -> &mut InvalidationGate<()> {
        &mut self.unused
    }
    fn run_invalidation(&mut self, _inv: ()) -> Result<(), IommuError> {
        // Only the default `release_held` calls this, and it is forwarded.
        Ok(())
    }
    fn hold_invalidations(&mut self, hold: bool) {
        self.inner.hold_invalidations(hold);
    }
    fn release_held(&mut self) -> Result<usize, IommuError> {
        self.inner.release_held()
    }
    fn take_invalidation_cost(&mut self) -> u64 {
        self.inner.take_invalidation_cost()
    }
    fn skipping_syncs(&self) -> bool {
        self.inner.skipping_syncs()
    }
    fn set_skip_sync(&mut self, on: bool) {
        self.inner.set_skip_sync(on);
    }
    fn drain_faults(&mut self) -> Vec<Fault> {
        self.inner.drain_faults()
    }
    fn health(&mut self) -> Vec<String> {
        self.inner.health()
    }
    fn cache_evidence(&mut self) -> Option<String> {
        self.inner.cache_evidence()
    }
    fn open_cache_window(&mut self) {
        self.inner.open_cache_window()
    }
    fn invalidation_summary(&self) -> Option<String> {
        self.inner.invalidation_summary()
    }
    fn invalidate_context(&mut self, tag: AnyTag) -> Result<(), IommuError> {
        self.inner.invalidate_context(tag)
    }
    fn skip_sync_failures(&self) -> &'static [&'static str] {
        self.inner.skip_sync_failures()
    }
}

#[cfg(test)]
mod tests {
    //! The catalogue through [`Erased`] against the catalogue on the
    //! driver's own type, over the virtio-iommu model (a domain per
    //! master, tags `DomainId(n)`) and the sun50i model (one shared
    //! context, tag `()`): the same outcomes and the same diagnostic lines,
    //! with and without the skip-sync negative control.
    use super::*;
    use crate::iommu::pgtable::{Granule, Lpae, PoolTables, Prot, RamArena, Sun50i, TableMemory};
    use crate::iommu::{DmaMaster, Domain};
    use crate::mm::host_ram::HostRam;
    use crate::mm::{Iova, PhysAddr};
    use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest, APERTURE_SIZE};
    use crate::selftest::runner::{run_case, Outcome};
    use crate::testkit::master::ModelMaster;
    use crate::time::fake::SteppingClock;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use alloc::string::ToString;
    use core::cell::{Cell, RefCell};

    type Results = Vec<(&'static str, Outcome, Vec<String>)>;

    fn clock() -> &'static SteppingClock {
        Box::leak(Box::new(SteppingClock {
            now: Cell::new(0),
            step: 10,
        }))
    }

    /// Runs every case of the catalogue on `t`.
    fn run_all<'a, I: Observe + 'a, M: TableMemory + 'a>(
        t: &mut IommuTest<'a, I, M>,
        skip: bool,
    ) -> Results {
        t.iommu.set_skip_sync(skip);
        let g = iommu_cases::group("g".to_string());
        (0..g.cases.len())
            .map(|i| {
                let r = run_case(&g, i, t);
                (g.cases[i].name, r.outcome, r.diags)
            })
            .collect()
    }

    /// `line` with host addresses (hex numbers above 40 bits: where the
    /// test's host memory happened to be) masked: two runs allocate it at
    /// different places.
    fn masked(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(i) = rest.find("0x") {
            out.push_str(&rest[..i]);
            let digits = rest[i + 2..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len() - i - 2);
            let hex = &rest[i + 2..i + 2 + digits];
            match u64::from_str_radix(hex, 16) {
                Ok(v) if v >> 40 != 0 => out.push_str("0xHOST"),
                _ => {
                    out.push_str("0x");
                    out.push_str(hex);
                }
            }
            rest = &rest[i + 2 + digits..];
        }
        out.push_str(rest);
        out
    }

    fn same(a: &Results, b: &Results) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!((x.0, &x.1), (y.0, &y.1), "case {}", x.0);
            let (dx, dy): (Vec<String>, Vec<String>) = (
                x.2.iter().map(|l| masked(l)).collect(),
                y.2.iter().map(|l| masked(l)).collect(),
            );
            assert_eq!(dx, dy, "case {}", x.0);
        }
        assert!(
            a.iter().any(|r| r.1 == Outcome::Pass),
            "the comparison ran cases: {a:?}"
        );
    }

    fn virtio(skip: bool, erased: bool) -> Results {
        use crate::iommu::virtio_iommu::model::{layout, ViommuModel};
        use crate::iommu::virtio_iommu::{VirtioIommu, VirtioIommuDevice};
        let ram = HostRam::new(8 << 20);
        let pool = ram.pool();
        let arena = Rc::new(RefCell::new(RamArena::with_size(1 << 20)));
        let model = ViommuModel::viommu();
        let dev =
            VirtioIommuDevice::bring_up(model.clone(), layout(), clock(), &pool, || {}).unwrap();
        let mut v = VirtioIommu::new(dev, "viommu", false);
        let mut m0 = ModelMaster::new(0x20, "m0", model.clone());
        m0.beat = usize::MAX;
        let mut m1 = ModelMaster::new(0x28, "m1", model.clone());
        m1.beat = usize::MAX;
        let staging = pool.alloc(4096).unwrap();
        let fixed = [FixedMapping {
            phys: staging.phys(),
            iova: Iova(0x0800_0000),
            size: 4096,
        }];
        let lpae = Lpae::new(Granule::K4, 40, 48, true).unwrap();
        let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
        if erased {
            let mut erase = Erase::new(&mut v, lpae);
            let mut d = Erased::new(&mut erase);
            let domains = (0..2)
                .map(|i| {
                    let a = iommu_cases::aperture(i);
                    Domain::new(&mut d, AnyCodec::new(lpae), arena.clone(), a, APERTURE_SIZE)
                        .unwrap()
                })
                .collect();
            let mut t = IommuTest::setup(&mut d, masters, domains, &fixed, &pool, 4096).unwrap();
            run_all(&mut t, skip)
        } else {
            let domains = (0..2)
                .map(|i| {
                    let a = iommu_cases::aperture(i);
                    Domain::new(&mut v, lpae, arena.clone(), a, APERTURE_SIZE).unwrap()
                })
                .collect();
            let mut t = IommuTest::setup(&mut v, masters, domains, &fixed, &pool, 4096).unwrap();
            run_all(&mut t, skip)
        }
    }

    fn sun50i(skip: bool, erased: bool) -> Results {
        use crate::iommu::sun50i::adapter::Sun50iIommu;
        use crate::iommu::sun50i::hw::Sun50iHw;
        use crate::iommu::sun50i::model::{self, Sun50i as Model, Window};
        use crate::iommu::sun50i::regs::Regs;
        use crate::iommu::sun50i::variant;
        use crate::mmio::ModelMmio;
        const BUS: u64 = 0x4000_0000;
        let ram = HostRam::new(32 << 20);
        let pool = ram.pool_at_bus(BUS);
        let window = Window {
            bus: BUS as u32,
            host: ram.range().base.as_u64(),
        };
        let hw = Model::new(model::H616, window);
        let mut drv = Sun50iHw::new(
            Regs::new(ModelMmio::new(hw.clone())),
            variant::H616,
            clock(),
        );
        drv.enable().unwrap();
        let mut iommu = Sun50iIommu::new(drv, "sun50i-model", false);
        let mut m0 = ModelMaster::new(0, "m0", hw.clone());
        let mut m1 = ModelMaster::new(5, "m5", hw.clone());
        let staging = pool.alloc(4096).unwrap();
        let fixed = [FixedMapping {
            phys: PhysAddr(staging.bus_addr().0),
            iova: Iova(0x0800_0000),
            size: 4096,
        }];
        let tables = PoolTables::new(&pool, false, |_, _| {});
        let masters: Vec<&mut dyn DmaMaster> = alloc::vec![&mut m0, &mut m1];
        let a = iommu_cases::aperture(1);
        if erased {
            let mut erase = Erase::new(&mut iommu, Sun50i);
            let mut d = Erased::new(&mut erase);
            let dom = Domain::new(&mut d, AnyCodec::new(Sun50i), tables, a, APERTURE_SIZE).unwrap();
            let mut t =
                IommuTest::setup(&mut d, masters, alloc::vec![dom], &fixed, &pool, 4096).unwrap();
            run_all(&mut t, skip)
        } else {
            let dom = Domain::new(&mut iommu, Sun50i, tables, a, APERTURE_SIZE).unwrap();
            let mut t =
                IommuTest::setup(&mut iommu, masters, alloc::vec![dom], &fixed, &pool, 4096)
                    .unwrap();
            run_all(&mut t, skip)
        }
    }

    #[test]
    fn the_catalogue_through_erased_reads_as_on_the_drivers_own_type() {
        for skip in [false, true] {
            same(&virtio(skip, true), &virtio(skip, false));
            same(&sun50i(skip, true), &sun50i(skip, false));
        }
    }

    #[test]
    fn tags_print_as_the_driver_prints_them_and_compare_by_number() {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct Ctx(u16);
        let a = AnyTag::new(0, &Ctx(7));
        assert_eq!(format!("{a:?}"), "Ctx(7)");
        assert_eq!(a, AnyTag::new(0, &Ctx(9)), "the number decides");
        assert_ne!(a, AnyTag::new(1, &Ctx(7)));
        let long = AnyTag::new(2, &"x".repeat(100));
        let s = format!("{long:?}");
        assert!(s.len() <= TAG_TEXT && s.ends_with("..."), "{s}");
        let _ = Prot::rw();
    }
}
