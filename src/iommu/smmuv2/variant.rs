//! What differs between the SMMUv1/v2 implementations this driver takes,
//! in one table (docs/hw/smmuv2.md §1): the architecture version (SMMUv1
//! has no CBA2R, so no AArch64 contexts), whether the MMU-500 hooks apply
//! (ACR cache lock, the per-context next-page prefetcher), and the Qualcomm
//! behaviour (hypervisor-mediated global space, the S2CR quirk, boot-time
//! SMRs, the context bank kept off, TLBIASID for walk flushes).
//!
//! Everything the hardware can say for itself — stage 1 or stage 2 only,
//! ATOS, formats, sizes — is read from the ID registers, not from here:
//! the compatible only names what the ID registers cannot (who owns the
//! global space, which implementation's errata apply).
#![forbid(unsafe_code)]

/// The architecture version the binding names (docs/hw/smmuv2.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// SMMUv1 (`arm,smmu-v1`, `arm,mmu-400`, `arm,mmu-401`): no CBA2R and
    /// no TCR2, so no AArch64 context format; SMMUv1 context interrupts go
    /// through CBAR.IRPTNDX.
    V1,
    /// SMMUv2.
    V2,
}

/// Which implementation's hooks apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// The architecture only.
    Generic,
    /// Arm CoreLink MMU-500: ACR.CACHE_LOCK (r2p0 on) and ACTLR.CPRE per
    /// context bank (errata 841119, 826419; docs/hw/smmuv2.md §10).
    Mmu500,
}

/// One implementation's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Name for reports.
    pub name: &'static str,
    /// Architecture version.
    pub version: Version,
    /// Implementation hooks.
    pub implementation: Implementation,
    /// Qualcomm's behaviour (docs/hw/smmuv2.md §11): the hypervisor
    /// mediates the global space — never a zero-register store to a
    /// write-anything register, the S2CR quirk detected and BYPASS never
    /// relied on, valid SMRs the bootloader left adopted instead of
    /// wiped, writes that do not read back reported by name — the last
    /// context bank kept off, and TLBIASID preferred over TLBIVA per
    /// granule when a table is freed (Linux `flush_walk_prefer_tlbiasid`).
    pub qcom: bool,
}

impl Variant {
    /// `true` on MMU-500 parts.
    pub const fn mmu500(&self) -> bool {
        matches!(self.implementation, Implementation::Mmu500)
    }
}

/// Generic SMMUv1 (`arm,smmu-v1`, `arm,mmu-400`, `arm,mmu-401`).
pub const SMMU_V1: Variant = Variant {
    name: "SMMUv1",
    version: Version::V1,
    implementation: Implementation::Generic,
    qcom: false,
};

/// Generic SMMUv2 (`arm,smmu-v2`).
pub const SMMU_V2: Variant = Variant {
    name: "SMMUv2",
    version: Version::V2,
    implementation: Implementation::Generic,
    qcom: false,
};

/// Arm CoreLink MMU-500 (`arm,mmu-500`).
pub const MMU_500: Variant = Variant {
    name: "MMU-500",
    version: Version::V2,
    implementation: Implementation::Mmu500,
    qcom: false,
};

/// Qualcomm's MMU-500 (`qcom,smmu-500`, `qcom,<soc>-smmu-500`).
pub const QCOM_MMU_500: Variant = Variant {
    name: "Qualcomm MMU-500",
    version: Version::V2,
    implementation: Implementation::Mmu500,
    qcom: true,
};

/// Qualcomm's own SMMUv2 (`qcom,smmu-v2`, `qcom,<soc>-smmu-v2`).
pub const QCOM_SMMU_V2: Variant = Variant {
    name: "Qualcomm SMMUv2",
    version: Version::V2,
    implementation: Implementation::Generic,
    qcom: true,
};

/// The compatible of the GPU's own SMMU instance, which this driver
/// leaves alone ([`ADRENO_REASON`]).
pub const ADRENO: &str = "qcom,adreno-smmu";

/// Why an Adreno SMMU is not tested (docs/hw/smmuv2.md §11.6).
pub const ADRENO_REASON: &str =
    "qcom,adreno-smmu is the GPU's own SMMU instance: the only masters behind it are the Adreno GPU and, where there is one, its GMU, which this image cannot drive (the GPU switches its own page tables through context bank 0, which Linux keeps for stream 0), and it is powered through the GPU clock controller's power domain, which the image leaves to the loader (docs/hw/smmuv2.md §11.6)";

/// What the table says about one compatible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The driver takes it with this variant.
    Driven(Variant),
    /// Recognised and deliberately left alone, with the reason.
    LeftAlone(&'static str),
    /// Not an SMMUv1/v2 compatible.
    Unknown,
}

/// The variant of `compatible` (the one discovery decided the node by,
/// `platform::dt::iommus::provider_kind`).
pub fn by_compatible(compatible: &str) -> Lookup {
    let qcom = |suffix: &str| compatible.starts_with("qcom,") && compatible.ends_with(suffix);
    match compatible {
        ADRENO => Lookup::LeftAlone(ADRENO_REASON),
        "arm,smmu-v1" | "arm,mmu-400" | "arm,mmu-401" => Lookup::Driven(SMMU_V1),
        "arm,smmu-v2" => Lookup::Driven(SMMU_V2),
        "arm,mmu-500" => Lookup::Driven(MMU_500),
        "qcom,smmu-500" => Lookup::Driven(QCOM_MMU_500),
        "qcom,smmu-v2" => Lookup::Driven(QCOM_SMMU_V2),
        _ if qcom("-smmu-500") => Lookup::Driven(QCOM_MMU_500),
        _ if qcom("-smmu-v2") => Lookup::Driven(QCOM_SMMU_V2),
        _ => Lookup::Unknown,
    }
}

/// `true` when an instance of `compatible` may offer ATOS (a CPU-driven
/// translation port the self-test can use as a master); whether it does
/// is ID0.ATOSNS, read at bring-up.  `false` for MMU-500 (every instance
/// whose ID0 is published reports ATOSNS = 1, docs/hw/smmuv2.md §9) and
/// for SMMUv1 parts (MMU-400/401 contexts are stage 2 only, and ATS1* is
/// stage 1).
pub fn may_have_atos(compatible: &str) -> bool {
    match by_compatible(compatible) {
        Lookup::Driven(v) => v.version == Version::V2 && !v.mmu500(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_recognises_the_issue_compatibles() {
        for (c, v) in [
            ("arm,smmu-v1", SMMU_V1),
            ("arm,mmu-400", SMMU_V1),
            ("arm,mmu-401", SMMU_V1),
            ("arm,smmu-v2", SMMU_V2),
            ("arm,mmu-500", MMU_500),
            ("qcom,smmu-500", QCOM_MMU_500),
            ("qcom,sdm845-smmu-500", QCOM_MMU_500),
            ("qcom,sm8250-smmu-500", QCOM_MMU_500),
            ("qcom,smmu-v2", QCOM_SMMU_V2),
            ("qcom,msm8996-smmu-v2", QCOM_SMMU_V2),
        ] {
            assert_eq!(by_compatible(c), Lookup::Driven(v), "{c}");
        }
        assert!(matches!(by_compatible(ADRENO), Lookup::LeftAlone(r) if r.contains("GPU")));
        assert_eq!(by_compatible("arm,smmu-v3"), Lookup::Unknown);
        assert_eq!(by_compatible("nvidia,smmu-500"), Lookup::Unknown);
        assert!(may_have_atos("arm,smmu-v2"));
        assert!(may_have_atos("qcom,sdm630-smmu-v2"));
        assert!(!may_have_atos("arm,mmu-500"));
        assert!(!may_have_atos("arm,mmu-401"));
        assert!(!may_have_atos(ADRENO));
    }
}
