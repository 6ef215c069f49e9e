//! A codec of any format behind one type ([`AnyCodec`]), so the image
//! builds one walker, one domain and one case catalogue for every IOMMU
//! family instead of one per family (docs/performance.md, "Footprint").
//!
//! Every [`Codec`] is also a [`DynCodec`] (the same questions, asked
//! through a vtable); [`AnyCodec`] holds one and answers [`Codec`] by
//! asking it, so it encodes and decodes exactly what the family's own
//! codec does.  The walker reads the entry width from
//! [`Codec::entry_bytes`], which `AnyCodec` forwards.
#![forbid(unsafe_code)]

use super::{Codec, Prot, Pte};
use crate::mm::{BusAddr, PhysAddr};
use alloc::rc::Rc;
use core::fmt;

/// [`Codec`], object-safe: what [`AnyCodec`] forwards to.  Private to this
/// file: every codec implements it, and its method names are
/// [`Codec`]'s.
trait DynCodec: fmt::Debug {
    /// [`Codec::entry_bytes`].
    fn entry_bytes(&self) -> usize;
    /// [`Codec::start_level`].
    fn start_level(&self) -> u8;
    /// [`Codec::last_level`].
    fn last_level(&self) -> u8;
    /// [`Codec::input_bits`].
    fn input_bits(&self) -> u32;
    /// [`Codec::output_bits`].
    fn output_bits(&self) -> u32;
    /// [`Codec::level_shift`].
    fn level_shift(&self, level: u8) -> u32;
    /// [`Codec::level_entries`].
    fn level_entries(&self, level: u8) -> usize;
    /// [`Codec::table_bytes`].
    fn table_bytes(&self, level: u8) -> usize;
    /// [`Codec::table_align`].
    fn table_align(&self, level: u8) -> usize;
    /// [`Codec::table_address_limit`].
    fn table_address_limit(&self) -> Option<u64>;
    /// [`Codec::leaf_allowed`].
    fn leaf_allowed(&self, level: u8) -> bool;
    /// [`Codec::prot_supported`].
    fn prot_supported(&self, prot: Prot) -> bool;
    /// [`Codec::decode`].
    fn decode(&self, level: u8, raw: u64) -> Pte;
    /// [`Codec::encode_table`].
    fn encode_table(&self, level: u8, next: BusAddr) -> u64;
    /// [`Codec::encode_leaf`].
    fn encode_leaf(&self, level: u8, oa: PhysAddr, prot: Prot) -> u64;
    /// [`Codec::leaf_prot`].
    fn leaf_prot(&self, level: u8, raw: u64) -> Prot;
    /// [`Codec::leaf_step`].
    fn leaf_step(&self, level: u8) -> Option<u64>;
}

impl<C: Codec> DynCodec for C {
    fn entry_bytes(&self) -> usize {
        Codec::entry_bytes(self)
    }
    fn start_level(&self) -> u8 {
        Codec::start_level(self)
    }
    fn last_level(&self) -> u8 {
        Codec::last_level(self)
    }
    fn input_bits(&self) -> u32 {
        Codec::input_bits(self)
    }
    fn output_bits(&self) -> u32 {
        Codec::output_bits(self)
    }
    fn level_shift(&self, level: u8) -> u32 {
        Codec::level_shift(self, level)
    }
    fn level_entries(&self, level: u8) -> usize {
        Codec::level_entries(self, level)
    }
    fn table_bytes(&self, level: u8) -> usize {
        Codec::table_bytes(self, level)
    }
    fn table_align(&self, level: u8) -> usize {
        Codec::table_align(self, level)
    }
    fn table_address_limit(&self) -> Option<u64> {
        Codec::table_address_limit(self)
    }
    fn leaf_allowed(&self, level: u8) -> bool {
        Codec::leaf_allowed(self, level)
    }
    fn prot_supported(&self, prot: Prot) -> bool {
        Codec::prot_supported(self, prot)
    }
    fn decode(&self, level: u8, raw: u64) -> Pte {
        Codec::decode(self, level, raw)
    }
    fn encode_table(&self, level: u8, next: BusAddr) -> u64 {
        Codec::encode_table(self, level, next)
    }
    fn encode_leaf(&self, level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        Codec::encode_leaf(self, level, oa, prot)
    }
    fn leaf_prot(&self, level: u8, raw: u64) -> Prot {
        Codec::leaf_prot(self, level, raw)
    }
    fn leaf_step(&self, level: u8) -> Option<u64> {
        Codec::leaf_step(self, level)
    }
}

/// The codec of any format, shared by every domain of one run.
#[derive(Clone)]
pub struct AnyCodec(Rc<dyn DynCodec>);

impl AnyCodec {
    /// `codec`, behind the one type.
    pub fn new<C: Codec + 'static>(codec: C) -> Self {
        Self(Rc::new(codec))
    }
}

impl fmt::Debug for AnyCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The format's own text: reports read the same either way.
        self.0.fmt(f)
    }
}

impl Codec for AnyCodec {
    /// Not read for this type: the walker asks [`Codec::entry_bytes`],
    /// which is the wrapped format's width.
    const ENTRY_BYTES: usize = 8;

    #[inline]
    fn entry_bytes(&self) -> usize {
        self.0.entry_bytes()
    }
    fn start_level(&self) -> u8 {
        self.0.start_level()
    }
    fn last_level(&self) -> u8 {
        self.0.last_level()
    }
    fn input_bits(&self) -> u32 {
        self.0.input_bits()
    }
    fn output_bits(&self) -> u32 {
        self.0.output_bits()
    }
    fn level_shift(&self, level: u8) -> u32 {
        self.0.level_shift(level)
    }
    fn level_entries(&self, level: u8) -> usize {
        self.0.level_entries(level)
    }
    fn table_bytes(&self, level: u8) -> usize {
        self.0.table_bytes(level)
    }
    fn table_align(&self, level: u8) -> usize {
        self.0.table_align(level)
    }
    fn table_address_limit(&self) -> Option<u64> {
        self.0.table_address_limit()
    }
    fn leaf_allowed(&self, level: u8) -> bool {
        self.0.leaf_allowed(level)
    }
    fn prot_supported(&self, prot: Prot) -> bool {
        self.0.prot_supported(prot)
    }
    fn decode(&self, level: u8, raw: u64) -> Pte {
        self.0.decode(level, raw)
    }
    fn encode_table(&self, level: u8, next: BusAddr) -> u64 {
        self.0.encode_table(level, next)
    }
    fn encode_leaf(&self, level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        self.0.encode_leaf(level, oa, prot)
    }
    fn leaf_prot(&self, level: u8, raw: u64) -> Prot {
        self.0.leaf_prot(level, raw)
    }
    fn leaf_step(&self, level: u8) -> Option<u64> {
        self.0.leaf_step(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::pgtable::{Gather, Granule, Lpae, PageTable, RamArena, Sun50i};
    use crate::mm::Iova;

    /// The same map on a concrete codec and on `AnyCodec` of it writes the
    /// same bytes, for both entry widths.
    #[test]
    fn any_codec_writes_what_its_format_writes() {
        fn both<C: Codec + Clone + 'static>(c: C, iova: u64) {
            let mut a = PageTable::new(c.clone(), RamArena::with_size(1 << 20)).unwrap();
            let mut b = PageTable::new(AnyCodec::new(c), RamArena::with_size(1 << 20)).unwrap();
            assert_eq!(Codec::entry_bytes(b.codec()), Codec::entry_bytes(a.codec()));
            let mut g = Gather::new();
            a.map(
                Iova(iova),
                PhysAddr(0x8000_0000),
                0x3000,
                Prot::ro(),
                &mut g,
            )
            .unwrap();
            b.map(
                Iova(iova),
                PhysAddr(0x8000_0000),
                0x3000,
                Prot::ro(),
                &mut g,
            )
            .unwrap();
            let (ma, mb) = (a.memory(), b.memory());
            for off in (0..0x4000u64).step_by(8) {
                let at = crate::mm::BusAddr(ma.bus_base().0 + off);
                assert_eq!(ma.read_bus_u64(at), mb.read_bus_u64(at), "offset {off:#x}");
            }
            assert_eq!(
                a.translate(Iova(iova + 0x1008)),
                b.translate(Iova(iova + 0x1008))
            );
            assert_eq!(format!("{:?}", a.codec()), format!("{:?}", b.codec()));
        }
        both(
            Lpae::new(Granule::K4, 40, 48, true).unwrap(),
            0x40_0000_0000,
        );
        both(Sun50i, 0x4000_0000);
    }
}
