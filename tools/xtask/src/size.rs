//! The image's footprint: bytes per section, per IOMMU family and per
//! module, against the budget (`cargo xtask build` prints it; `cargo xtask
//! size` prints it and fails when over budget).
//!
//! Sections come from the ELF's section headers (parsed here); symbols from
//! the toolchain's `llvm-nm -S --demangle` (`llvm-tools`, which
//! [`crate::toolchain::ensure`] installs).  The image is built with v0 symbol
//! mangling (`.cargo/config.toml`), so a generic function's demangled name
//! carries its type arguments: `run_family::<…::sun50i::probe::Sun50iProbe>`
//! is charged to sun50i, which is how a family's share of the shared
//! generic code (catalogue, domain, walker) is measured.
//!
//! Families are found, not listed: every folder under `src/iommu/` except
//! `pgtable` is one, and a codec `src/iommu/pgtable/<name>.rs` whose name is
//! a family's belongs to it (sun50i, dart).  A family that lands is in the
//! next report without touching this file.

use crate::error::{io, Error, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What the whole flat `Image` may weigh (issue 15: it is loaded over a
/// serial console at bring-up; 256 KiB at 115200 baud is about 23 s).
pub const IMAGE_BUDGET: u64 = 256 * 1024;
/// What one IOMMU family may add to `.text` + `.rodata` symbols: its driver,
/// its codec and every generic instantiated for its types.
pub const FAMILY_BUDGET: u64 = 36 * 1024;

/// One section of the ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Its name (`.text`).
    pub name: String,
    /// Where it is linked.
    pub addr: u64,
    /// Bytes.
    pub size: u64,
    /// `true` when it has file contents (not `.bss`-like).
    pub progbits: bool,
    /// `true` when it is loaded (SHF_ALLOC).
    pub alloc: bool,
}

/// The ELF's sections, in header order.  Only 64-bit little-endian ELF.
pub fn sections(elf: &[u8]) -> std::result::Result<Vec<Section>, String> {
    let u16_at = |o: usize| -> std::result::Result<u64, String> {
        elf.get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| format!("truncated at {o:#x}"))
    };
    let u32_at = |o: usize| -> std::result::Result<u64, String> {
        elf.get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .ok_or_else(|| format!("truncated at {o:#x}"))
    };
    let u64_at = |o: usize| -> std::result::Result<u64, String> {
        let b = elf
            .get(o..o + 8)
            .ok_or_else(|| format!("truncated at {o:#x}"))?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    };
    if elf.get(0..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let shoff = u64_at(0x28)? as usize;
    let shentsize = u16_at(0x3a)? as usize;
    let shnum = u16_at(0x3c)? as usize;
    let shstrndx = u16_at(0x3e)? as usize;
    if shentsize < 0x40 || shstrndx >= shnum {
        return Err(format!(
            "section header entry size {shentsize:#x} or string table index {shstrndx} is bad"
        ));
    }
    let hdr = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(hdr(shstrndx) + 0x18)? as usize;
    let mut out = Vec::with_capacity(shnum);
    for i in 1..shnum {
        let h = hdr(i);
        let name_off = strtab + u32_at(h)? as usize;
        let name_bytes = elf
            .get(name_off..)
            .ok_or_else(|| format!("section {i}: name offset {name_off:#x} past the end"))?;
        let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(0);
        const SHT_NOBITS: u64 = 8;
        const SHF_ALLOC: u64 = 2;
        out.push(Section {
            name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
            progbits: u32_at(h + 4)? != SHT_NOBITS,
            alloc: u64_at(h + 8)? & SHF_ALLOC != 0,
            addr: u64_at(h + 0x10)?,
            size: u64_at(h + 0x20)?,
        });
    }
    Ok(out)
}

/// Bytes `objcopy -O binary` writes for these sections: from the lowest to
/// the highest end of a loaded section with contents.
pub fn flat_bytes(sections: &[Section]) -> u64 {
    let loaded = sections
        .iter()
        .filter(|s| s.alloc && s.progbits && s.size > 0);
    let lo = loaded.clone().map(|s| s.addr).min().unwrap_or(0);
    let hi = loaded.map(|s| s.addr + s.size).max().unwrap_or(0);
    hi - lo
}

/// One symbol from `llvm-nm -S --demangle`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Bytes.
    pub size: u64,
    /// `nm`'s type letter, lower-cased (`t` code, `r` read-only data, ...).
    pub kind: char,
    /// Demangled name.
    pub name: String,
}

/// Parses `llvm-nm -S` output lines `ADDR SIZE TYPE NAME` (lines without a
/// size are skipped).
pub fn parse_nm(text: &str) -> Vec<Symbol> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, ' ');
            let _addr = it.next()?;
            let size = u64::from_str_radix(it.next()?, 16).ok()?;
            let kind = it.next()?.chars().next()?.to_ascii_lowercase();
            let name = it.next()?.to_string();
            Some(Symbol { size, kind, name })
        })
        .collect()
}

/// The module a symbol is charged to: the path of the item it names (the
/// implementing type for `<T as Trait>::f`), cut to `crate::a::b` for this
/// crate and `crate::a` for others.
pub fn module_of(name: &str) -> String {
    let mut n = name.trim_start_matches(['<', '&', '*', '[', '(']);
    for p in ["mut ", "const ", "dyn "] {
        n = n.strip_prefix(p).unwrap_or(n);
    }
    let n = n.trim_start_matches(['<', '&', '*', '[', '(']);
    let path = n
        .split(['<', '>', ' ', '(', ')', ',', ';'])
        .next()
        .unwrap_or(n);
    let parts: Vec<&str> = path.split("::").collect();
    let keep = if parts.first() == Some(&"iommu_bringup") {
        3
    } else {
        2
    };
    parts[..parts.len().min(keep)].join("::")
}

/// The families of the source tree at `root` (see the module docs), as
/// `(name, the path fragments that mark its symbols)`.
pub fn families(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut fams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(root.join("src/iommu")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && name != "pgtable" {
                fams.insert(name.clone(), vec![format!("::iommu::{name}::")]);
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(root.join("src/iommu/pgtable")) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".rs") {
                if let Some(marks) = fams.get_mut(stem) {
                    marks.push(format!("::pgtable::{stem}::"));
                }
            }
        }
    }
    fams.into_iter().collect()
}

/// The family a symbol belongs to, if any.
pub fn family_of<'f>(name: &str, families: &'f [(String, Vec<String>)]) -> Option<&'f str> {
    families
        .iter()
        .find(|(_, marks)| marks.iter().any(|m| name.contains(m.as_str())))
        .map(|(f, _)| f.as_str())
}

/// The footprint of one build.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    /// Loaded sections with their sizes.
    pub sections: Vec<Section>,
    /// Bytes of the flat image.
    pub image: u64,
    /// Code and read-only data symbols per family, then per module inside it.
    pub by_family: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
    /// Code and read-only data symbols of no family, per module.
    pub shared: BTreeMap<String, u64>,
    /// Sum of the code and read-only data symbols.
    pub symbols: u64,
}

impl Footprint {
    /// Adds up `symbols` (from the ELF with `sections`) for `families`.
    pub fn new(
        sections: Vec<Section>,
        symbols: &[Symbol],
        families: &[(String, Vec<String>)],
    ) -> Self {
        let mut f = Footprint {
            image: flat_bytes(&sections),
            sections,
            ..Footprint::default()
        };
        for (name, _) in families {
            f.by_family.entry(name.clone()).or_default();
        }
        for s in symbols.iter().filter(|s| matches!(s.kind, 't' | 'r')) {
            f.symbols += s.size;
            let module = module_of(&s.name);
            match family_of(&s.name, families) {
                Some(fam) => {
                    let e = f.by_family.entry(fam.to_string()).or_default();
                    e.0 += s.size;
                    *e.1.entry(module).or_default() += s.size;
                }
                None => *f.shared.entry(module).or_default() += s.size,
            }
        }
        f
    }

    /// What is over budget (empty when everything fits).
    pub fn over_budget(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.image > IMAGE_BUDGET {
            v.push(format!(
                "Image is {} bytes, {} over the {IMAGE_BUDGET}-byte budget",
                self.image,
                self.image - IMAGE_BUDGET
            ));
        }
        for (fam, (bytes, _)) in &self.by_family {
            if *bytes > FAMILY_BUDGET {
                v.push(format!(
                    "family {fam} is {bytes} bytes, {} over the {FAMILY_BUDGET}-byte family budget",
                    bytes - FAMILY_BUDGET
                ));
            }
        }
        v
    }

    /// The report, `top` modules deep.
    pub fn render(&self, top: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Image {} bytes ({:.1} KiB) of a {} KiB budget; loaded sections:",
            self.image,
            self.image as f64 / 1024.0,
            IMAGE_BUDGET / 1024
        );
        for sec in self.sections.iter().filter(|s| s.alloc && s.size > 0) {
            let _ = writeln!(
                s,
                "  {:<14} {:>8}{}",
                sec.name,
                sec.size,
                if sec.progbits {
                    ""
                } else {
                    "  (not in the Image)"
                }
            );
        }
        let fam_total: u64 = self.by_family.values().map(|(b, _)| *b).sum();
        let shared: u64 = self.shared.values().sum();
        let _ = writeln!(
            s,
            "code + read-only data symbols: {} bytes = shared {} + families {}",
            self.symbols, shared, fam_total
        );
        let _ = writeln!(
            s,
            "per family (driver, codec and the generics instantiated for it; budget {} KiB each):",
            FAMILY_BUDGET / 1024
        );
        for (fam, (bytes, mods)) in &self.by_family {
            let mut m: Vec<(&String, &u64)> = mods.iter().collect();
            m.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = m
                .iter()
                .take(4)
                .map(|(k, v)| format!("{} {v}", k.trim_start_matches("iommu_bringup::")))
                .collect();
            let _ = writeln!(
                s,
                "  {:<14} {:>8}{}  {}",
                fam,
                bytes,
                if *bytes > FAMILY_BUDGET { " OVER" } else { "" },
                parts.join(", ")
            );
        }
        let _ = writeln!(s, "largest shared modules:");
        let mut m: Vec<(&String, &u64)> = self.shared.iter().collect();
        m.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, v) in m.into_iter().take(top) {
            let _ = writeln!(s, "  {v:>8}  {k}");
        }
        for o in self.over_budget() {
            let _ = writeln!(s, "OVER BUDGET: {o}");
        }
        s
    }
}

/// Measures the linked image `elf` with the toolchain's `llvm-nm`.
pub fn measure(elf: &Path, nm: &Path) -> Result<Footprint> {
    let bytes = std::fs::read(elf).map_err(io(format!("reading {}", elf.display())))?;
    let secs = sections(&bytes).map_err(|e| Error::Tool(format!("{}: {e}", elf.display())))?;
    let text = crate::process::output(
        std::process::Command::new(nm)
            .args(["-S", "--demangle", "--defined-only"])
            .arg(elf),
    )?;
    let root = crate::process::workspace_root();
    Ok(Footprint::new(secs, &parse_nm(&text), &families(&root)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(size: u64, name: &str) -> Symbol {
        Symbol {
            size,
            kind: 't',
            name: name.into(),
        }
    }

    #[test]
    fn modules_are_the_named_items_path() {
        assert_eq!(
            module_of("iommu_bringup::selftest::families::run_family::<iommu_bringup::iommu::sun50i::probe::Sun50iProbe>"),
            "iommu_bringup::selftest::families"
        );
        assert_eq!(
            module_of("<iommu_bringup::boot::iommu_suite::BootEnv as iommu_bringup::selftest::families::FamilyEnv>::open_masters"),
            "iommu_bringup::boot::iommu_suite"
        );
        assert_eq!(
            module_of("<&mut core::fmt::Formatter as core::fmt::Write>::write_str"),
            "core::fmt"
        );
        assert_eq!(module_of("memcpy"), "memcpy");
    }

    #[test]
    fn generics_are_charged_to_the_family_they_were_built_for() {
        let fams = vec![
            ("smmuv3".to_string(), vec!["::iommu::smmuv3::".to_string()]),
            (
                "sun50i".to_string(),
                vec![
                    "::iommu::sun50i::".to_string(),
                    "::pgtable::sun50i::".to_string(),
                ],
            ),
        ];
        let syms = [
            sym(100, "iommu_bringup::selftest::iommu_cases::isolation::<iommu_bringup::iommu::smmuv3::adapter::Smmuv3Iommu<iommu_bringup::mmio::VolatileMmio>, iommu_bringup::iommu::pgtable::pool::PoolTables>"),
            sym(40, "<iommu_bringup::iommu::pgtable::walker::PageTable<iommu_bringup::iommu::pgtable::sun50i::Sun50i, iommu_bringup::iommu::pgtable::pool::PoolTables>>::map_level"),
            sym(7, "core::fmt::write"),
            Symbol { size: 1000, kind: 'b', name: "iommu_bringup::arch::aarch64::mmu::POOL".into() },
        ];
        let secs = vec![
            Section {
                name: ".text".into(),
                addr: 0,
                size: 0x100,
                progbits: true,
                alloc: true,
            },
            Section {
                name: ".rodata".into(),
                addr: 0x100,
                size: 0x40,
                progbits: true,
                alloc: true,
            },
            Section {
                name: ".bss".into(),
                addr: 0x1000,
                size: 0x4000,
                progbits: false,
                alloc: true,
            },
            Section {
                name: ".debug_info".into(),
                addr: 0,
                size: 0x9999,
                progbits: true,
                alloc: false,
            },
        ];
        let f = Footprint::new(secs, &syms, &fams);
        assert_eq!(
            f.image, 0x140,
            "BSS and debug info are not in the flat Image"
        );
        assert_eq!(f.symbols, 147, "only code and read-only data count");
        assert_eq!(f.by_family["smmuv3"].0, 100);
        assert_eq!(f.by_family["sun50i"].0, 40);
        assert_eq!(f.shared["core::fmt"], 7);
        assert!(f.over_budget().is_empty());
        let r = f.render(5);
        assert!(
            r.contains("smmuv3") && r.contains("selftest::iommu_cases 100"),
            "{r}"
        );
    }

    #[test]
    fn over_budget_names_what_and_by_how_much() {
        let fams = vec![("dart".to_string(), vec!["::iommu::dart::".to_string()])];
        let secs = vec![Section {
            name: ".text".into(),
            addr: 0,
            size: IMAGE_BUDGET + 5,
            progbits: true,
            alloc: true,
        }];
        let f = Footprint::new(
            secs,
            &[sym(FAMILY_BUDGET + 1, "iommu_bringup::iommu::dart::hw::x")],
            &fams,
        );
        let o = f.over_budget();
        assert_eq!(o.len(), 2, "{o:?}");
        assert!(o[0].contains("5 over"), "{o:?}");
        assert!(o[1].contains("dart") && o[1].contains("1 over"), "{o:?}");
    }

    #[test]
    fn families_come_from_the_source_tree() {
        let root = crate::process::workspace_root();
        let f = families(&root);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["smmuv3", "sun50i", "virtio_iommu"] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(!names.contains(&"pgtable"));
        let sun = &f.iter().find(|(n, _)| n == "sun50i").unwrap().1;
        assert!(sun.contains(&"::pgtable::sun50i::".to_string()), "{sun:?}");
    }

    #[test]
    fn nm_lines_without_a_size_are_skipped() {
        let s = parse_nm(
            "0000000000001000 0000000000000010 T _start\n                 U undefined\n0000000000002000 0000000000000004 r iommu_bringup::X\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, 't');
        assert_eq!(s[1].name, "iommu_bringup::X");
    }

    #[test]
    fn elf_sections_are_read_from_the_headers() {
        // A minimal ELF: header, a string table and two sections.
        let mut e = vec![0u8; 0x40];
        e[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        let strtab_off = e.len();
        e.extend_from_slice(b"\0.text\0.shstrtab\0.bss\0");
        while !e.len().is_multiple_of(8) {
            e.push(0);
        }
        let shoff = e.len();
        let mut sh = |name: u32, ty: u32, flags: u64, addr: u64, off: u64, size: u64| {
            let mut h = vec![0u8; 0x40];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&ty.to_le_bytes());
            h[8..16].copy_from_slice(&flags.to_le_bytes());
            h[0x10..0x18].copy_from_slice(&addr.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            h[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            e.extend_from_slice(&h);
        };
        sh(0, 0, 0, 0, 0, 0);
        sh(1, 1, 6, 0x0, 0, 0x800);
        sh(7, 3, 0, 0, strtab_off as u64, 22);
        sh(17, 8, 3, 0x1000, 0, 0x2000);
        e[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        e[0x3a..0x3c].copy_from_slice(&0x40u16.to_le_bytes());
        e[0x3c..0x3e].copy_from_slice(&4u16.to_le_bytes());
        e[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        let s = sections(&e).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].name.as_str(), s[0].size, s[0].alloc),
            (".text", 0x800, true)
        );
        assert_eq!((s[2].name.as_str(), s[2].progbits), (".bss", false));
        assert_eq!(flat_bytes(&s), 0x800);
        assert!(sections(&e[..0x20]).is_err());
        assert!(sections(b"not an elf at all").is_err());
    }
}
