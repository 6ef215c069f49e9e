/*
 * iommu-bringup entry: the arm64 Linux Image header and the first
 * instructions run after a loader (QEMU -kernel, U-Boot booti, Qualcomm ABL,
 * m1n1) jumps to us.
 *
 * Entry contract (Linux Documentation/arch/arm64/booting.rst):
 *   x0 = physical address of the DTB, x1..x3 = 0, MMU and D-cache off,
 *   EL2 or EL1, image at a 2 MiB aligned base + text_offset.
 *
 * What this file does, in order, with no stack and no relocated data:
 *   1. remember x0 (DTB) and the runtime load address;
 *   2. if at EL2 (with or without HCR_EL2.E2H, which Apple cores force to 1),
 *      make EL1 usable (AArch64, timers, GICv3 system registers, no FP
 *      traps) and ERET to EL1;
 *   3. enable FP/SIMD at EL1 (rustc's aarch64-unknown-none uses NEON);
 *   4. apply the relative relocations, RELA then RELR (we are linked at 0
 *      as a PIE);
 *   5. zero BSS (m1n1 copies image_size bytes, so BSS holds whatever
 *      followed the payload);
 *   6. set up the boot stack and call rust_entry(dtb, load_base, entry_el,
 *      bad_relocs, entry_e2h, relocs_applied), in src/boot/entry.rs.
 */

    .section .text.head, "ax"
    .global _start
_start:
    b       primary_entry           /* code0 */
    .long   0                       /* code1 */
    .quad   0                       /* text_offset: QEMU then loads at +2 MiB */
    .quad   __image_size            /* image_size: file + BSS + stack */
    .quad   0xa                     /* flags: LE (bit0=0), 4K pages (1<<1), anywhere (1<<3) */
    .quad   0                       /* res2 */
    .quad   0                       /* res3 */
    .quad   0                       /* res4 */
    .ascii  "ARM\x64"               /* magic 0x644d5241 */
    .long   0                       /* res5: no PE/COFF header */

    .section .text.boot, "ax"
primary_entry:
    mov     x19, x0                 /* DTB physical address */
    adrp    x20, __image_start      /* runtime load address (linked at 0) */
    add     x20, x20, :lo12:__image_start
    mov     x22, #0                 /* count of relocations we could not apply */
    mov     x24, #0                 /* count of relocations applied (RELA + RELR) */
    mov     x23, #0                 /* 1 when entered at EL2 with HCR_EL2.E2H set */

    mrs     x9, CurrentEL
    ubfx    x21, x9, #2, #2         /* x21 = entry EL, reported by the self-test */
    cmp     x21, #2
    b.eq    from_el2
    cmp     x21, #1
    b.eq    at_el1
    b       park                    /* EL3/EL0 entry is outside the boot protocol */

from_el2:
    /*
     * HCR_EL2: RW=1 (EL1 is AArch64), everything else 0 (no traps, TGE=0)
     * except E2H, which we keep when the core forces it (Apple: RES1).
     */
    mrs     x9, hcr_el2
    and     x9, x9, #(1 << 34)
    lsr     x23, x9, #34
    orr     x9, x9, #(1 << 31)
    msr     hcr_el2, x9
    isb
    tbnz    x9, #34, 1f
    /* E2H=0 layouts: CNTHCTL_EL2.EL1PCTEN|EL1PCEN; CPTR_EL2 RES1 bits, TFP=0. */
    mov     x10, #0x3
    mov     x11, #0x33ff
    b       2f
1:  /* E2H=1 layouts: CNTHCTL_EL2.EL1PCTEN (bit 10) | EL1PTEN (bit 11); CPTR_EL2.FPEN=0b11. */
    mov     x10, #(0x3 << 10)
    mov     x11, #(0x3 << 20)
2:  msr     cnthctl_el2, x10
    msr     cntvoff_el2, xzr
    msr     cptr_el2, x11
    msr     hstr_el2, xzr
    msr     vttbr_el2, xzr
    /*
     * GICv3 CPU interface (ID_AA64PFR0_EL1.GIC != 0): let EL1 use its system
     * registers (ICC_SRE_EL2.Enable | SRE, bits 3 and 0) and keep the virtual
     * CPU interface off (ICH_HCR_EL2 = 0), as booting.rst asks of a loader
     * that enters at EL1.  The waits' timer interrupt needs it (docs/hw/gic.md).
     */
    mrs     x10, id_aa64pfr0_el1
    ubfx    x10, x10, #24, #4
    cbz     x10, 5f
    mrs     x10, S3_4_C12_C9_5      /* ICC_SRE_EL2 */
    orr     x10, x10, #0x1
    orr     x10, x10, #0x8
    msr     S3_4_C12_C9_5, x10
    isb
    msr     S3_4_C12_C11_0, xzr     /* ICH_HCR_EL2 */
5:
    /* SCTLR_EL1: RES1 bits only (LE, MMU/caches off). With E2H=1 the EL1 register is SCTLR_EL12. */
    movz    x10, #0x0800
    movk    x10, #0x30d0, lsl #16
    tbnz    x9, #34, 3f
    msr     sctlr_el1, x10
    b       4f
3:  msr     S3_5_C1_C0_0, x10       /* SCTLR_EL12 */
4:  mov     x10, #0x3c5             /* SPSR: EL1h, D, A, I, F masked */
    msr     spsr_el2, x10
    adr     x10, at_el1
    msr     elr_el2, x10
    isb
    eret

at_el1:
    mov     x9, #(0x3 << 20)        /* CPACR_EL1.FPEN = 0b11: no FP/SIMD traps */
    msr     cpacr_el1, x9
    isb

    /*
     * Apply R_AARCH64_RELATIVE (1027) from .rela.dyn: *(base + r_offset) =
     * base + r_addend.  lld leaves here only what RELR below cannot pack.
     */
    adrp    x9, __rela_start
    add     x9, x9, :lo12:__rela_start
    adrp    x10, __rela_end
    add     x10, x10, :lo12:__rela_end
reloc_loop:
    cmp     x9, x10
    b.hs    reloc_done
    ldr     x11, [x9]               /* r_offset */
    ldr     x12, [x9, #8]           /* r_info */
    ldr     x13, [x9, #16]          /* r_addend */
    add     x9, x9, #24
    cmp     w12, #1027
    b.ne    reloc_unknown
    add     x13, x13, x20
    str     x13, [x20, x11]
    add     x24, x24, #1
    b       reloc_loop
reloc_unknown:
    add     x22, x22, #1
    b       reloc_loop
reloc_done:

    /*
     * Apply RELR (ELF gABI, DT_RELR): relative relocations with the addend
     * in place, *p += base.  An even word is the offset of one pointer and
     * sets `next` (x14) just past it; an odd word is a bitmap whose bit i
     * (1..63) relocates next + 8 * (i - 1), after which next advances by
     * 63 pointers.
     */
    adrp    x9, __relr_start
    add     x9, x9, :lo12:__relr_start
    adrp    x10, __relr_end
    add     x10, x10, :lo12:__relr_end
    mov     x14, x20
relr_loop:
    cmp     x9, x10
    b.hs    relr_done
    ldr     x11, [x9], #8
    tbnz    x11, #0, relr_bitmap
    add     x14, x20, x11           /* address entry */
    ldr     x12, [x14]
    add     x12, x12, x20
    str     x12, [x14], #8
    add     x24, x24, #1
    b       relr_loop
relr_bitmap:
    mov     x15, x14
relr_bit:
    lsr     x11, x11, #1
    cbz     x11, relr_bits_done
    tbz     x11, #0, 1f
    ldr     x12, [x15]
    add     x12, x12, x20
    str     x12, [x15]
    add     x24, x24, #1
1:  add     x15, x15, #8
    b       relr_bit
relr_bits_done:
    add     x14, x14, #(63 * 8)
    b       relr_loop
relr_done:

    /* Zero BSS (16-byte aligned by linker.ld). */
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
bss_loop:
    cmp     x9, x10
    b.hs    bss_done
    stp     xzr, xzr, [x9], #16
    b       bss_loop
bss_done:

    adrp    x9, __stack_top
    add     x9, x9, :lo12:__stack_top
    mov     sp, x9
    mov     x29, #0
    mov     x30, #0

    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    mov     x4, x23
    mov     x5, x24
    bl      rust_entry

park:
    wfe
    b       park
