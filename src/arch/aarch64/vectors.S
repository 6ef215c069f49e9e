/*
 * EL1 exception vector table.  The entry saves the general registers into a
 * TrapFrame on the current stack and calls exception_entry(frame,
 * vector_index).  For a fatal exception that prints ESR/FAR/ELR/SPSR and ends
 * the run as a failure.  It returns only for a fault the recovery hook
 * survived (an MMIO access listed in the fixup table, src/mmio/fixup.rs),
 * after setting the frame's ELR to the landing pad: the registers are then
 * restored from the frame and the exception returns there.
 *
 * Layout: 16 entries of 0x80 bytes, 2 KiB aligned (Arm ARM D1.3.1 / VBAR_EL1).
 * The table is position independent (only PC-relative branches).
 */

.macro VECTOR index
    .balign 0x80
    sub     sp, sp, #(34 * 8)
    stp     x0, x1, [sp, #(0 * 8)]
    mov     x0, #\index
    b       vector_common
.endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global __exception_vectors
__exception_vectors:
    /* Current EL with SP_EL0 */
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    /* Current EL with SP_ELx */
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    /* Lower EL, AArch64 */
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    /* Lower EL, AArch32 */
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

vector_common:
    /* x0 holds the vector index; the original x0/x1 are at [sp]. */
    stp     x2, x3, [sp, #(2 * 8)]
    stp     x4, x5, [sp, #(4 * 8)]
    stp     x6, x7, [sp, #(6 * 8)]
    stp     x8, x9, [sp, #(8 * 8)]
    stp     x10, x11, [sp, #(10 * 8)]
    stp     x12, x13, [sp, #(12 * 8)]
    stp     x14, x15, [sp, #(14 * 8)]
    stp     x16, x17, [sp, #(16 * 8)]
    stp     x18, x19, [sp, #(18 * 8)]
    stp     x20, x21, [sp, #(20 * 8)]
    stp     x22, x23, [sp, #(22 * 8)]
    stp     x24, x25, [sp, #(24 * 8)]
    stp     x26, x27, [sp, #(26 * 8)]
    stp     x28, x29, [sp, #(28 * 8)]
    add     x1, sp, #(34 * 8)       /* SP before the exception */
    stp     x30, x1, [sp, #(30 * 8)]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #(32 * 8)]
    mov     x1, x0                  /* vector index */
    mov     x0, sp                  /* &TrapFrame */
    bl      exception_entry
    /* Survived: restore everything from the frame, ELR possibly moved. */
    ldp     x2, x3, [sp, #(32 * 8)]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #(0 * 8)]
    ldp     x2, x3, [sp, #(2 * 8)]
    ldp     x4, x5, [sp, #(4 * 8)]
    ldp     x6, x7, [sp, #(6 * 8)]
    ldp     x8, x9, [sp, #(8 * 8)]
    ldp     x10, x11, [sp, #(10 * 8)]
    ldp     x12, x13, [sp, #(12 * 8)]
    ldp     x14, x15, [sp, #(14 * 8)]
    ldp     x16, x17, [sp, #(16 * 8)]
    ldp     x18, x19, [sp, #(18 * 8)]
    ldp     x20, x21, [sp, #(20 * 8)]
    ldp     x22, x23, [sp, #(22 * 8)]
    ldp     x24, x25, [sp, #(24 * 8)]
    ldp     x26, x27, [sp, #(26 * 8)]
    ldp     x28, x29, [sp, #(28 * 8)]
    ldr     x30, [sp, #(30 * 8)]
    add     sp, sp, #(34 * 8)
    eret
