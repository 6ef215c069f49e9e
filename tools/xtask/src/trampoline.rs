//! A tiny ELF that lets QEMU boot the `Image` at a second load address.
//!
//! QEMU's `-kernel Image` always loads an arm64 Image at 0x4020_0000.  To
//! prove the image is position independent we load it raw elsewhere with
//! `-device loader,file=Image,addr=…,force-raw=on` and boot this trampoline
//! with `-kernel tramp.elf` instead (so `-append` still fills
//! `/chosen/bootargs`).  For an ELF kernel that does not cover RAM base QEMU
//! puts the DTB at 0x4000_0000 and enters with x0 = 0, so the trampoline
//! recreates the Linux boot contract: x0 = DTB, x1..x3 = 0, jump to the Image.
//!
//! With `vhe` the trampoline first sets HCR_EL2.E2H and TGE, the state m1n1
//! leaves Apple cores in ("VHE mode (forced)", docs/hw/board-facts.md §1.2), so the
//! image's EL2 entry path for E2H=1 runs under QEMU too (needs EL2 and a CPU
//! with FEAT_VHE: `virtualization=on`, `-cpu max`).
//!
//! The ELF64 bytes and the A64 instructions are written by hand here; the
//! encoders are unit-tested against known encodings.

/// Where the trampoline itself is loaded and entered.
pub const TRAMPOLINE_ADDR: u64 = 0x4020_0000;
/// Where QEMU puts the DTB for an ELF kernel that leaves RAM base free.
pub const DTB_ADDR: u64 = 0x4000_0000;

/// `MOVZ Xd, #imm16, LSL #(16*hw)`.
pub fn movz(rd: u32, imm16: u16, hw: u32) -> u32 {
    0xD280_0000 | ((hw & 3) << 21) | (u32::from(imm16) << 5) | (rd & 31)
}

/// `MOVK Xd, #imm16, LSL #(16*hw)`.
pub fn movk(rd: u32, imm16: u16, hw: u32) -> u32 {
    0xF280_0000 | ((hw & 3) << 21) | (u32::from(imm16) << 5) | (rd & 31)
}

/// `BR Xn`.
pub fn br(rn: u32) -> u32 {
    0xD61F_0000 | ((rn & 31) << 5)
}

/// `MRS X5, HCR_EL2` (op0=3, op1=4, CRn=1, CRm=1, op2=0; Arm ARM C6.2.194).
pub const MRS_X5_HCR_EL2: u32 = 0xD53C_1105;
/// `MSR HCR_EL2, X5`.
pub const MSR_HCR_EL2_X5: u32 = 0xD51C_1105;
/// `ORR X5, X5, X6` (shifted register, shift 0).
pub const ORR_X5_X5_X6: u32 = 0xAA06_00A5;
/// `ISB`.
pub const ISB: u32 = 0xD503_3FDF;
/// HCR_EL2.E2H (bit 34) | HCR_EL2.TGE (bit 27).
pub const HCR_E2H_TGE: u64 = (1 << 34) | (1 << 27);

/// Instructions that load the 64-bit `value` into `Xd` (MOVZ then MOVKs for
/// the non-zero halfwords; a single MOVZ #0 for zero).
pub fn mov_imm64(rd: u32, value: u64) -> Vec<u32> {
    let halves: Vec<(u32, u16)> = (0..4u32)
        .map(|hw| (hw, (value >> (16 * hw)) as u16))
        .filter(|&(_, h)| h != 0)
        .collect();
    match halves.split_first() {
        None => vec![movz(rd, 0, 0)],
        Some((&(hw, h), rest)) => {
            let mut v = vec![movz(rd, h, hw)];
            v.extend(rest.iter().map(|&(hw, h)| movk(rd, h, hw)));
            v
        }
    }
}

/// The trampoline code: (with `vhe`: HCR_EL2 |= E2H | TGE; ISB), then
/// x0 = `dtb`, x1..x3 = 0, branch to `target` via x4.
pub fn code(dtb: u64, target: u64, vhe: bool) -> Vec<u32> {
    let mut c = Vec::new();
    if vhe {
        c.push(MRS_X5_HCR_EL2);
        c.extend(mov_imm64(6, HCR_E2H_TGE));
        c.push(ORR_X5_X5_X6);
        c.push(MSR_HCR_EL2_X5);
        c.push(ISB);
    }
    c.extend(mov_imm64(0, dtb));
    for r in 1..=3 {
        c.push(movz(r, 0, 0));
    }
    c.extend(mov_imm64(4, target));
    c.push(br(4));
    c
}

const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;
/// File offset of the code (header area padded to 128 bytes).
const CODE_OFFSET: usize = 128;

/// A complete ELF64 little-endian AArch64 executable with one PT_LOAD segment
/// at [`TRAMPOLINE_ADDR`] that enters the Image at `target`.
pub fn elf(target: u64, vhe: bool) -> Vec<u8> {
    let code: Vec<u8> = code(DTB_ADDR, target, vhe)
        .into_iter()
        .flat_map(u32::to_le_bytes)
        .collect();
    let mut f = Vec::with_capacity(CODE_OFFSET + code.len());
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, SYSV ABI, padding.
    f.extend_from_slice(b"\x7fELF");
    f.extend_from_slice(&[2, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
    f.extend_from_slice(&183u16.to_le_bytes()); // e_machine = EM_AARCH64
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&TRAMPOLINE_ADDR.to_le_bytes()); // e_entry
    f.extend_from_slice(&(EHDR_LEN as u64).to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&(EHDR_LEN as u16).to_le_bytes()); // e_ehsize
    f.extend_from_slice(&(PHDR_LEN as u16).to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    debug_assert_eq!(f.len(), EHDR_LEN);
    // Program header: PT_LOAD, R+X.
    f.extend_from_slice(&1u32.to_le_bytes()); // p_type = PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // p_flags = R|X
    f.extend_from_slice(&(CODE_OFFSET as u64).to_le_bytes()); // p_offset
    f.extend_from_slice(&TRAMPOLINE_ADDR.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&TRAMPOLINE_ADDR.to_le_bytes()); // p_paddr
    f.extend_from_slice(&(code.len() as u64).to_le_bytes()); // p_filesz
    f.extend_from_slice(&(code.len() as u64).to_le_bytes()); // p_memsz
    f.extend_from_slice(&16u64.to_le_bytes()); // p_align
    f.resize(CODE_OFFSET, 0);
    f.extend_from_slice(&code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_architecture() {
        // Values from the Arm ARM / GNU as.
        assert_eq!(movz(0, 0x4000, 1), 0xD2A8_0000); // movz x0, #0x4000, lsl #16
        assert_eq!(movz(1, 0, 0), 0xD280_0001); // movz x1, #0
        assert_eq!(movk(0, 0x1234, 0), 0xF282_4680); // movk x0, #0x1234
        assert_eq!(movk(4, 0xbeef, 2), 0xF2D7_DDE4); // movk x4, #0xbeef, lsl #32
        assert_eq!(br(1), 0xD61F_0020); // br x1
        assert_eq!(br(4), 0xD61F_0080); // br x4
    }

    #[test]
    fn mov_imm64_builds_the_value() {
        assert_eq!(mov_imm64(0, 0x4000_0000), vec![0xD2A8_0000]);
        assert_eq!(mov_imm64(2, 0), vec![0xD280_0002]);
        assert_eq!(mov_imm64(4, 0x4BE0_0000), vec![movz(4, 0x4BE0, 1)]);
        assert_eq!(
            mov_imm64(3, 0x0001_0000_0000_0005),
            vec![movz(3, 5, 0), movk(3, 1, 3)]
        );
    }

    #[test]
    fn code_sets_the_boot_contract() {
        let c = code(DTB_ADDR, 0x4BE0_0000, false);
        assert_eq!(
            c,
            vec![
                0xD2A8_0000, // movz x0, #0x4000, lsl #16
                0xD280_0001, // movz x1, #0
                0xD280_0002, // movz x2, #0
                0xD280_0003, // movz x3, #0
                0xD2A9_7C04, // movz x4, #0x4be0, lsl #16
                0xD61F_0080, // br x4
            ]
        );
    }

    #[test]
    fn elf_is_well_formed() {
        let f = elf(0x4BE0_0000, false);
        assert_eq!(&f[..4], b"\x7fELF");
        assert_eq!(f[4], 2); // 64-bit
        assert_eq!(u16::from_le_bytes([f[18], f[19]]), 183);
        let entry = u64::from_le_bytes(f[24..32].try_into().unwrap_or([0; 8]));
        assert_eq!(entry, TRAMPOLINE_ADDR);
        let ph = EHDR_LEN;
        assert_eq!(
            u32::from_le_bytes(f[ph..ph + 4].try_into().unwrap_or([0; 4])),
            1
        );
        let filesz = u64::from_le_bytes(f[ph + 32..ph + 40].try_into().unwrap_or([0; 8]));
        assert_eq!(CODE_OFFSET as u64 + filesz, f.len() as u64);
        let first =
            u32::from_le_bytes(f[CODE_OFFSET..CODE_OFFSET + 4].try_into().unwrap_or([0; 4]));
        assert_eq!(first, 0xD2A8_0000);
    }

    #[test]
    fn vhe_prefix_sets_e2h_and_tge_before_the_contract() {
        let c = code(DTB_ADDR, 0x4BE0_0000, true);
        assert_eq!(c[0], MRS_X5_HCR_EL2);
        // movz x6, #0x0800, lsl #16 ; movk x6, #0x4, lsl #32
        assert_eq!(&c[1..3], &[movz(6, 0x0800, 1), movk(6, 0x4, 2)]);
        assert_eq!(&c[3..6], &[ORR_X5_X5_X6, MSR_HCR_EL2_X5, ISB]);
        assert_eq!(&c[6..], &code(DTB_ADDR, 0x4BE0_0000, false)[..]);
        assert!(elf(0x4BE0_0000, true).len() > elf(0x4BE0_0000, false).len());
    }
}
