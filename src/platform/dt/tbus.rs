//! Qualcomm TBU nodes: the translation buffer units of a Qualcomm MMU-500,
//! each with a debug block the CPU can drive (docs/hw/smmuv2.md §11.7).
//!
//! Binding (Linux `Documentation/devicetree/bindings/iommu/qcom,tbu.yaml`,
//! as SDM845's tree uses it): a node with `compatible = "qcom,<soc>-tbu"`,
//! one `reg`, `qcom,stream-id-range = <&smmu first count>` (the phandle of
//! the SMMU and the stream IDs the TBU serves), `interconnects`, and
//! optionally `power-domains` and `clocks`.  The nodes are siblings of the
//! SMMU, not children: every node of the tree is looked at.
//!
//! Only facts are read here; which TBU the SMMUv2 driver may use is its
//! rule (`iommu::smmuv2::tbu::choose`).
#![forbid(unsafe_code)]

use super::address::translate_reg;
use super::error::DtError;
use super::reader::{Fdt, Node};
use crate::mm::addr::PhysRange;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One `qcom,<soc>-tbu` node whose `qcom,stream-id-range` names an SMMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TbuNode {
    /// Node name (`tbu@150d9000`).
    pub name: String,
    /// Its first `compatible`.
    pub compatible: String,
    /// Its first `reg` entry, translated; `Err` with why it is unusable.
    pub reg: Result<PhysRange, DtError>,
    /// First stream ID it serves.
    pub first_sid: u32,
    /// How many stream IDs it serves.
    pub count: u32,
    /// It has `power-domains`: its power may be switched off.
    pub power_domains: bool,
    /// It has `clocks`: a clock the image leaves to the loader feeds it.
    pub clocks: bool,
    /// It has `interconnects` (Linux votes bandwidth before an access).
    pub interconnects: bool,
    /// `status` absent or okay.
    pub enabled: bool,
}

impl TbuNode {
    /// `true` when `sid` is one of the stream IDs it serves.
    pub fn serves(&self, sid: u32) -> bool {
        sid >= self.first_sid && u64::from(sid) < u64::from(self.first_sid) + u64::from(self.count)
    }
}

/// IDs in one DEBUG_SID_HALT.SID window: a TBU serving more is never used
/// as a port (`iommu::smmuv2::tbu::unusable`).
const SID_WINDOW: u32 = 0x400;

/// The stream IDs `sid_base..sid_base + length` (a PCI `iommu-map` entry)
/// that one of `tbus` serves, each as (ID, mask 0): the only ones a TBU
/// port's choice of stream must avoid (`iommu::smmuv2::tbu::free_sid`).
/// Clipped to the TBUs' ranges so that a map covering every requester ID
/// (QEMU's `<0 &smmu 0 0x10000>`) costs nothing on an IOMMU without TBUs,
/// rather than 64 Ki entries of the image's heap.
pub fn served_streams(
    tbus: &[TbuNode],
    sid_base: u32,
    length: u32,
) -> impl Iterator<Item = (u32, u32)> + '_ {
    let map_end = u64::from(sid_base) + u64::from(length);
    tbus.iter()
        .filter(|t| t.count <= SID_WINDOW)
        .flat_map(move |t| {
            let lo = u64::from(sid_base).max(u64::from(t.first_sid));
            let hi = map_end.min(u64::from(t.first_sid) + u64::from(t.count));
            // Both ends are at most u32::MAX + 1 and `hi` is only reached
            // exclusively, so every ID yielded fits a u32.
            (lo..hi).filter_map(|sid| u32::try_from(sid).ok().map(|sid| (sid, 0)))
        })
}

/// `compatible` names a Qualcomm TBU (`qcom,<soc>-tbu`).
pub fn is_tbu_compatible(c: &str) -> bool {
    c.strip_prefix("qcom,")
        .and_then(|m| m.strip_suffix("-tbu"))
        .is_some_and(|soc| !soc.is_empty())
}

fn be32(b: &[u8], i: usize) -> Option<u32> {
    b.get(i * 4..i * 4 + 4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// `qcom,stream-id-range` as (SMMU phandle, first, count), when it is the
/// three cells the binding gives (an SMMU with `#iommu-cells = <2>`, as
/// every Qualcomm apps SMMU has, takes two argument cells).
fn stream_id_range(n: &Node<'_>) -> Option<(u32, u32, u32)> {
    let p = n.property("qcom,stream-id-range")?;
    if p.value.len() != 12 {
        return None;
    }
    Some((be32(p.value, 0)?, be32(p.value, 1)?, be32(p.value, 2)?))
}

/// Every TBU node whose `qcom,stream-id-range` names the node with
/// `phandle`, in tree order.
pub fn tbus_of(fdt: &Fdt<'_>, phandle: u32) -> Result<Vec<TbuNode>, DtError> {
    let mut out = Vec::new();
    fdt.walk(|loc| {
        let n = loc.node();
        let Some(compatible) = n.prop_strs("compatible").find(|c| is_tbu_compatible(c)) else {
            return Ok(true);
        };
        let Some((smmu, first_sid, count)) = stream_id_range(&n) else {
            return Ok(true);
        };
        if smmu != phandle {
            return Ok(true);
        }
        let reg = translate_reg(loc, 0);
        out.push(TbuNode {
            name: n.name().to_string(),
            compatible: compatible.to_string(),
            reg,
            first_sid,
            count,
            power_domains: n.has_property("power-domains"),
            clocks: n.has_property("clocks"),
            interconnects: n.has_property("interconnects"),
            enabled: n.is_enabled(),
        });
        Ok(true)
    })?;
    Ok(out)
}

/// Everything the device tree says around an IOMMU node that a family's
/// self master may depend on (`Probe::described_port`): the family
/// registry answers from it, for the plan, the run and `dt-probe` alike.
#[derive(Clone, Copy, Debug)]
pub struct PortFacts<'a> {
    /// The IOMMU's matching `compatible`.
    pub compatible: &'a str,
    /// The Qualcomm TBU nodes that name it.
    pub tbus: &'a [TbuNode],
    /// Every stream (ID, SMR mask) a DT master uses on it (`iommus` and
    /// `iommu-map` references), so a port can take a stream none uses.
    pub dt_streams: &'a [(u32, u32)],
    /// `iommu_bringup.qcom-tbu`.
    pub qcom_tbu: crate::platform::bootargs::QcomTbu,
}

impl<'a> PortFacts<'a> {
    /// The facts of a node known by its `compatible` alone (no TBUs, no
    /// streams, the default bootargs).
    pub fn bare(compatible: &'a str) -> Self {
        Self {
            compatible,
            tbus: &[],
            dt_streams: &[],
            qcom_tbu: crate::platform::bootargs::QcomTbu::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbu_compatibles() {
        assert!(is_tbu_compatible("qcom,sdm845-tbu"));
        assert!(!is_tbu_compatible("qcom,-tbu"));
        assert!(!is_tbu_compatible("qcom,sdm845-smmu-500"));
        assert!(!is_tbu_compatible("arm,mmu-500"));
    }

    #[test]
    fn served_streams_are_the_map_clipped_to_the_tbus() {
        let t = |first_sid, count| TbuNode {
            first_sid,
            count,
            ..tbu()
        };
        // A map over every requester ID, on an IOMMU without TBUs: nothing.
        assert_eq!(served_streams(&[], 0, 0x1_0000).count(), 0);
        let tbus = [t(0x1400, 0x400), t(0x1c00, 0x400)];
        let got: Vec<(u32, u32)> = served_streams(&tbus, 0x17fe, 0x500).collect();
        let want: Vec<(u32, u32)> = [0x17fe, 0x17ff]
            .into_iter()
            .chain(0x1c00..0x1cfe)
            .map(|s| (s, 0))
            .collect();
        assert_eq!(got, want);
        assert_eq!(served_streams(&tbus, 0, 0x1_0000).count(), 0x800);
        // Ends past u32: clipped, no overflow; a TBU no port can use adds nothing.
        assert_eq!(
            served_streams(&[t(u32::MAX, 1)], u32::MAX, u32::MAX).collect::<Vec<_>>(),
            [(u32::MAX, 0)]
        );
        assert_eq!(served_streams(&[t(0, u32::MAX)], 0, 0x1_0000).count(), 0);
    }

    fn tbu() -> TbuNode {
        TbuNode {
            name: "tbu@0".into(),
            compatible: "qcom,sdm845-tbu".into(),
            reg: Err(DtError::MissingProperty {
                node: super::super::DtName::new("tbu@0"),
                prop: "reg",
            }),
            first_sid: 0x1400,
            count: 0x400,
            power_domains: false,
            clocks: false,
            interconnects: true,
            enabled: true,
        }
    }

    #[test]
    fn serves_is_the_half_open_range() {
        let t = TbuNode {
            name: "tbu@0".into(),
            compatible: "qcom,sdm845-tbu".into(),
            reg: Err(DtError::MissingProperty {
                node: super::super::DtName::new("tbu@0"),
                prop: "reg",
            }),
            first_sid: 0x1400,
            count: 0x400,
            power_domains: false,
            clocks: false,
            interconnects: true,
            enabled: true,
        };
        assert!(t.serves(0x1400) && t.serves(0x17ff));
        assert!(!t.serves(0x13ff) && !t.serves(0x1800));
    }
}
