//! The ZDMA channel's registers: offsets and the bits the driver and its
//! model use.  One channel is one 4 KiB block (`reg = <... 0x1000>` in the
//! ZynqMP device trees); GDMA channel n at 0xfd50_0000 + n * 0x1_0000, ADMA
//! at 0xffa8_0000 + n * 0x1_0000 (docs/hw/zynqmp.md §2).
//!
//! Offsets and fields: AMD UG1087 (Zynq UltraScale+ Devices Register
//! Reference), module ZDMA; the same map in Xilinx `embeddedsw`
//! `xzdma_hw.h`, Linux `drivers/dma/xilinx/zynqmp_dma.c` and QEMU
//! `hw/dma/xlnx-zdma.c` (docs/hw/zynqmp.md §2.1, where they differ).
#![forbid(unsafe_code)]

/// ZDMA_CH_ISR: interrupt status, write 1 to clear.
pub const ISR: usize = 0x100;
/// ZDMA_CH_IMR: interrupt mask (read-only; 1 = masked).
pub const IMR: usize = 0x104;
/// ZDMA_CH_IEN: write 1 to unmask.
pub const IEN: usize = 0x108;
/// ZDMA_CH_IDS: write 1 to mask.
pub const IDS: usize = 0x10c;
/// ZDMA_CH_CTRL0: pointer type, mode, rate control, continue.
pub const CTRL0: usize = 0x110;
/// ZDMA_CH_STATUS: channel state in bits [1:0].
pub const STATUS: usize = 0x11c;
/// ZDMA_CH_SRC_DSCR_WORD0: source address bits [31:0] (simple mode).
pub const SRC_WORD0: usize = 0x128;
/// ZDMA_CH_SRC_DSCR_WORD1: source address bits [48:32].
pub const SRC_WORD1: usize = 0x12c;
/// ZDMA_CH_SRC_DSCR_WORD2: transfer size in bytes, bits [29:0].
pub const SRC_WORD2: usize = 0x130;
/// ZDMA_CH_SRC_DSCR_WORD3: COHRNT [0], TYPE [1], INTR [2], CMD [4:3].
pub const SRC_WORD3: usize = 0x134;
/// ZDMA_CH_DST_DSCR_WORD0: destination address bits [31:0].
pub const DST_WORD0: usize = 0x138;
/// ZDMA_CH_DST_DSCR_WORD1: destination address bits [48:32].
pub const DST_WORD1: usize = 0x13c;
/// ZDMA_CH_DST_DSCR_WORD2: destination size, bits [29:0].
pub const DST_WORD2: usize = 0x140;
/// ZDMA_CH_DST_DSCR_WORD3: COHRNT [0], TYPE [1], INTR [2].
pub const DST_WORD3: usize = 0x144;
/// ZDMA_CH_TOTAL_BYTE: bytes written to the destination (counts on each
/// write response, also under an AXI error; UG1085 "Total Transferred
/// Bytes Overflow").
pub const TOTAL_BYTE: usize = 0x188;
/// ZDMA_CH_CTRL2: EN [0] starts the channel.
pub const CTRL2: usize = 0x200;

/// ISR/IMR/IEN/IDS: the channel paused (CMD = pause in a descriptor).
pub const DMA_PAUSE: u32 = 1 << 11;
/// ISR: the transfer is done.
pub const DMA_DONE: u32 = 1 << 10;
/// ISR: a data write got an AXI error response.
pub const AXI_WR_DATA: u32 = 1 << 9;
/// ISR: a data read got an AXI error response.
pub const AXI_RD_DATA: u32 = 1 << 8;
/// ISR: a destination descriptor fetch failed (scatter-gather mode).
pub const AXI_RD_DST_DSCR: u32 = 1 << 7;
/// ISR: a source descriptor fetch failed (scatter-gather mode).
pub const AXI_RD_SRC_DSCR: u32 = 1 << 6;
/// ISR: destination interrupt-accounting counter overflowed (not fatal).
pub const IRQ_DST_ACCT_ERR: u32 = 1 << 5;
/// ISR: source interrupt-accounting counter overflowed (not fatal).
pub const IRQ_SRC_ACCT_ERR: u32 = 1 << 4;
/// ISR: TOTAL_BYTE overflowed (not fatal).
pub const BYTE_CNT_OVRFL: u32 = 1 << 3;
/// ISR: a destination descriptor with INTR set completed.
pub const DST_DSCR_DONE: u32 = 1 << 2;
/// ISR: a source descriptor with INTR set completed.
pub const SRC_DSCR_DONE: u32 = 1 << 1;
/// ISR: an APB access to an unimplemented register.
pub const INV_APB: u32 = 1 << 0;
/// Every ISR bit.
pub const ISR_ALL: u32 = 0xfff;
/// The ISR bits that end a transfer with an error.
pub const ISR_ERRORS: u32 = AXI_WR_DATA | AXI_RD_DATA | AXI_RD_DST_DSCR | AXI_RD_SRC_DSCR | INV_APB;

/// CTRL0 POINT_TYPE: 1 = descriptors in memory (scatter-gather), 0 =
/// simple mode (the descriptor is the DSCR_WORD registers).
pub const CTRL0_POINT_TYPE: u32 = 1 << 6;
/// CTRL0 MODE [5:4]: 0 = read and write, 1 = write only, 2 = read only.
pub const CTRL0_MODE: u32 = 3 << 4;
/// CTRL0 RATE_CTRL: rate control enable.
pub const CTRL0_RATE_CTRL: u32 = 1 << 3;
/// CTRL0 CONT_ADDR: continue from the start address registers.
pub const CTRL0_CONT_ADDR: u32 = 1 << 2;
/// CTRL0 CONT: continue after a pause.
pub const CTRL0_CONT: u32 = 1 << 1;
/// CTRL0 reset value (OVR_FETCH set).
pub const CTRL0_RESET: u32 = 0x80;

/// STATUS STATE [1:0].
pub const STATUS_STATE: u32 = 3;
/// STATUS STATE: done with errors (both sources agree; docs/hw/zynqmp.md
/// §2.1 for the other encodings, where they do not).
pub const STATE_DONE_ERR: u32 = 3;

/// CTRL2 EN: enable (start) the channel.
pub const CTRL2_EN: u32 = 1;

/// DSCR_WORD1 MSB: address bits [48:32].
pub const WORD1_MSB: u32 = 0x1_ffff;
/// DSCR_WORD2 SIZE: bytes, 30 bits.
pub const WORD2_SIZE: u32 = 0x3fff_ffff;
/// Address bits the channel drives (32 + 17).
pub const ADDRESS_BITS: u32 = 49;

/// Bytes of register space the driver touches (through CTRL2).
pub const REG_SPAN: u64 = 0x204;

/// The register's name for an offset, for error messages.
pub fn name(off: usize) -> &'static str {
    match off {
        ISR => "ZDMA_CH_ISR",
        IMR => "ZDMA_CH_IMR",
        IEN => "ZDMA_CH_IEN",
        IDS => "ZDMA_CH_IDS",
        CTRL0 => "ZDMA_CH_CTRL0",
        STATUS => "ZDMA_CH_STATUS",
        SRC_WORD0 => "ZDMA_CH_SRC_DSCR_WORD0",
        SRC_WORD1 => "ZDMA_CH_SRC_DSCR_WORD1",
        SRC_WORD2 => "ZDMA_CH_SRC_DSCR_WORD2",
        SRC_WORD3 => "ZDMA_CH_SRC_DSCR_WORD3",
        DST_WORD0 => "ZDMA_CH_DST_DSCR_WORD0",
        DST_WORD1 => "ZDMA_CH_DST_DSCR_WORD1",
        DST_WORD2 => "ZDMA_CH_DST_DSCR_WORD2",
        DST_WORD3 => "ZDMA_CH_DST_DSCR_WORD3",
        TOTAL_BYTE => "ZDMA_CH_TOTAL_BYTE",
        CTRL2 => "ZDMA_CH_CTRL2",
        _ => "ZDMA register",
    }
}

/// The names of the ISR bits set in `isr`, `|`-separated (`-` for none).
pub fn isr_bits(isr: u32) -> alloc::string::String {
    const NAMES: [(u32, &str); 12] = [
        (DMA_PAUSE, "DMA_PAUSE"),
        (DMA_DONE, "DMA_DONE"),
        (AXI_WR_DATA, "AXI_WR_DATA"),
        (AXI_RD_DATA, "AXI_RD_DATA"),
        (AXI_RD_DST_DSCR, "AXI_RD_DST_DSCR"),
        (AXI_RD_SRC_DSCR, "AXI_RD_SRC_DSCR"),
        (IRQ_DST_ACCT_ERR, "IRQ_DST_ACCT_ERR"),
        (IRQ_SRC_ACCT_ERR, "IRQ_SRC_ACCT_ERR"),
        (BYTE_CNT_OVRFL, "BYTE_CNT_OVRFL"),
        (DST_DSCR_DONE, "DST_DSCR_DONE"),
        (SRC_DSCR_DONE, "SRC_DSCR_DONE"),
        (INV_APB, "INV_APB"),
    ];
    let mut s = alloc::string::String::new();
    for (bit, n) in NAMES {
        if isr & bit != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(n);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}
