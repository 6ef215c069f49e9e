//! Qualcomm GENI serial engine as a debug UART (`qcom,geni-debug-uart`):
//! polled transmit through the TX FIFO that ABL already configured.
//!
//! We do not touch clocks, the baud rate or the protocol: ABL left the serial
//! engine (SE) clocked, in FIFO mode, at 115200 8N1 (`docs/hw/board-facts.md`
//! §2 "GENI minimal polled TX", which matches U-Boot
//! `drivers/serial/serial_msm_geni.c` and Linux
//! `drivers/tty/serial/qcom_geni_serial.c` earlycon).  Each character is one
//! GENI "M" command (docs/hw/board-facts.md §2, steps 1–8):
//!
//! 1. `SE_GENI_TX_WATERMARK_REG` (0x80c) = 2
//! 2. `SE_UART_TX_TRANS_LEN` (0x270) = 1
//! 3. `SE_GENI_M_CMD0` (0x600) = `UART_START_TX` (1 << 27)
//! 4. barrier — see below
//! 5. poll `SE_GENI_M_IRQ_STATUS` (0x610) for `M_TX_FIFO_WATERMARK_EN` (bit 30)
//! 6. write the byte to `SE_GENI_TX_FIFOn` (0x700)
//! 7. `SE_GENI_M_IRQ_CLEAR` (0x618) = bit 30
//! 8. poll 0x610 for `M_CMD_DONE_EN` (bit 0), then clear it through 0x618.
//!
//! The `dmb` of step 4 orders Normal-memory stores against the device in
//! U-Boot; here every access goes to the same Device-nGnRE block (the
//! identity map maps consoles as Device, `mm`), and Device accesses to one
//! peripheral reach it in program order (Arm ARM B2.7.2 "Device memory",
//! non-Reordering), so no extra barrier is needed between our own accesses.
//!
//! On creation, if `SE_GENI_STATUS` (0x40) bit 0 `M_GENI_CMD_ACTIVE` says a
//! command is still running (ABL's last print), it is aborted first:
//! `SE_GENI_M_CMD_CTRL_REG` (0x604) = `M_GENI_CMD_ABORT` (bit 1), wait for
//! `M_CMD_ABORT_EN` (bit 5) in 0x610, clear it (docs/hw/board-facts.md §2 "Extras").  The
//! TX packing is set as Linux earlycon does for 8-bit words, one byte per FIFO
//! word (docs/hw/board-facts.md §2): `SE_GENI_TX_PACKING_CFG0` (0x260) = 0xf,
//! `SE_GENI_TX_PACKING_CFG1` (0x264) = 0 — what Linux
//! `qcom_geni_serial_earlycon_setup` gets from
//! `geni_se_config_packing(se, 8, 1, false, true, false)`
//! (`drivers/soc/qcom/qcom-geni-se.c`): one vector, start 0 << 5 |
//! msb_to_lsb 0 << 4 | (8 - 1) << 1 | stop bit 1 = 0xf.
//!
//! Every wait is bounded; a timeout aborts the command (so the SE is left
//! idle for whoever comes next) and marks the UART stalled: later output is
//! dropped and counted instead of hanging the run.
#![forbid(unsafe_code)]

use super::Uart;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock, Timeout};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

/// `SE_GENI_STATUS`.
pub const SE_GENI_STATUS: usize = 0x40;
/// `SE_GENI_TX_PACKING_CFG0`.
pub const SE_GENI_TX_PACKING_CFG0: usize = 0x260;
/// `SE_GENI_TX_PACKING_CFG1`.
pub const SE_GENI_TX_PACKING_CFG1: usize = 0x264;
/// `SE_UART_TX_TRANS_LEN`.
pub const SE_UART_TX_TRANS_LEN: usize = 0x270;
/// `SE_GENI_M_CMD0`.
pub const SE_GENI_M_CMD0: usize = 0x600;
/// `SE_GENI_M_CMD_CTRL_REG`.
pub const SE_GENI_M_CMD_CTRL_REG: usize = 0x604;
/// `SE_GENI_M_IRQ_STATUS`.
pub const SE_GENI_M_IRQ_STATUS: usize = 0x610;
/// `SE_GENI_M_IRQ_CLEAR`.
pub const SE_GENI_M_IRQ_CLEAR: usize = 0x618;
/// `SE_GENI_TX_FIFOn` (FIFO word 0).
pub const SE_GENI_TX_FIFO: usize = 0x700;
/// `SE_GENI_TX_WATERMARK_REG`.
pub const SE_GENI_TX_WATERMARK_REG: usize = 0x80c;

/// `SE_GENI_STATUS.M_GENI_CMD_ACTIVE`.
const M_GENI_CMD_ACTIVE: u32 = 1 << 0;
/// `UART_START_TX` opcode in `M_CMD0[31:27]`.
const UART_START_TX: u32 = 1 << 27;
/// `M_GENI_CMD_ABORT` in `M_CMD_CTRL`.
const M_GENI_CMD_ABORT: u32 = 1 << 1;
/// `M_CMD_DONE_EN` in `M_IRQ_STATUS`.
const M_CMD_DONE_EN: u32 = 1 << 0;
/// `M_CMD_ABORT_EN` in `M_IRQ_STATUS`.
const M_CMD_ABORT_EN: u32 = 1 << 5;
/// `M_TX_FIFO_WATERMARK_EN` in `M_IRQ_STATUS`.
const M_TX_FIFO_WATERMARK_EN: u32 = 1 << 30;
/// TX watermark: interrupt when at most 2 words are queued (docs/hw/board-facts.md §2 step 1).
const TX_WATERMARK: u32 = 2;
/// Packing vector for 8-bit words, one per FIFO word (see the module docs).
const TX_PACKING_CFG0: u32 = 0xf;
const TX_PACKING_CFG1: u32 = 0;

/// Longest wait for one step: far above one character time at 9600 baud.
const STEP_TIMEOUT: Duration = Duration::from_millis(20);

/// A GENI serial engine in UART FIFO mode.
pub struct Geni<M: Mmio> {
    regs: M,
    clock: &'static (dyn Clock + Sync),
    stalled: AtomicBool,
}

impl<M: Mmio> Geni<M> {
    /// Wraps the SE register block (the node's first `reg`, 0x4000 bytes),
    /// aborts a command ABL may have left running and sets the TX packing.
    /// The result of a failed abort is not an error here: the first `put`
    /// will time out and report it.
    pub fn new(regs: M, clock: &'static (dyn Clock + Sync)) -> Self {
        let uart = Self {
            regs,
            clock,
            stalled: AtomicBool::new(false),
        };
        if uart.regs.read32(SE_GENI_STATUS) & M_GENI_CMD_ACTIVE != 0 {
            uart.abort();
        }
        uart.regs.write32(SE_GENI_TX_PACKING_CFG0, TX_PACKING_CFG0);
        uart.regs.write32(SE_GENI_TX_PACKING_CFG1, TX_PACKING_CFG1);
        uart
    }

    /// `SE_GENI_STATUS`, for the platform facts.
    pub fn status(&self) -> u32 {
        self.regs.read32(SE_GENI_STATUS)
    }

    /// Aborts the current M command (docs/hw/board-facts.md §2 "Extras"); bounded.
    fn abort(&self) {
        self.regs.write32(SE_GENI_M_CMD_CTRL_REG, M_GENI_CMD_ABORT);
        let done = poll_until(
            self.clock,
            STEP_TIMEOUT,
            "GENI M_IRQ_STATUS.M_CMD_ABORT_EN (0x610 bit 5)",
            || self.regs.read32(SE_GENI_M_IRQ_STATUS) & M_CMD_ABORT_EN != 0,
        );
        if done.is_ok() {
            self.regs.write32(SE_GENI_M_IRQ_CLEAR, M_CMD_ABORT_EN);
        }
    }

    fn wait_irq(&self, bit: u32, what: &'static str) -> Result<(), Timeout> {
        poll_until(self.clock, STEP_TIMEOUT, what, || {
            self.regs.read32(SE_GENI_M_IRQ_STATUS) & bit != 0
        })
    }

    fn send(&self, byte: u8) -> Result<(), Timeout> {
        self.regs.write32(SE_GENI_TX_WATERMARK_REG, TX_WATERMARK);
        self.regs.write32(SE_UART_TX_TRANS_LEN, 1);
        self.regs.write32(SE_GENI_M_CMD0, UART_START_TX);
        self.wait_irq(
            M_TX_FIFO_WATERMARK_EN,
            "GENI M_IRQ_STATUS.M_TX_FIFO_WATERMARK_EN (0x610 bit 30)",
        )?;
        self.regs.write32(SE_GENI_TX_FIFO, u32::from(byte));
        self.regs
            .write32(SE_GENI_M_IRQ_CLEAR, M_TX_FIFO_WATERMARK_EN);
        self.wait_irq(
            M_CMD_DONE_EN,
            "GENI M_IRQ_STATUS.M_CMD_DONE_EN (0x610 bit 0)",
        )?;
        self.regs.write32(SE_GENI_M_IRQ_CLEAR, M_CMD_DONE_EN);
        Ok(())
    }
}

impl<M: Mmio> Uart for Geni<M> {
    fn put(&self, byte: u8) -> Result<(), Timeout> {
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Timeout {
                what: "GENI TX (UART stalled earlier)",
                waited: Duration::ZERO,
            });
        }
        let r = self.send(byte);
        if r.is_err() {
            self.stalled.store(true, Ordering::Relaxed);
            self.abort();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::console::fake::{Access, Recorder};
    use crate::platform::console::write_str;
    use std::cell::RefCell;
    use std::vec::Vec;

    use crate::platform::console::fake::clock;

    fn w(off: usize, v: u32) -> Access {
        Access::Write(off, 4, u64::from(v))
    }
    fn r(off: usize, v: u32) -> Access {
        Access::Read(off, 4, u64::from(v))
    }

    /// An idle SE whose IRQ status always shows both watermark and done.
    fn ready(off: usize, _: u8, _: usize) -> u64 {
        match off {
            SE_GENI_M_IRQ_STATUS => u64::from(M_TX_FIFO_WATERMARK_EN | M_CMD_DONE_EN),
            _ => 0,
        }
    }

    /// A behavioural model of the SE in UART FIFO mode: START_TX opens a
    /// command of TX_TRANS_LEN bytes, the watermark IRQ asserts `delay`
    /// status reads later, FIFO writes go to the wire, the last byte raises
    /// CMD_DONE.  Protocol violations are recorded, not panicked on.
    #[derive(Default)]
    struct SeModel {
        irq: u32,
        active: bool,
        remaining: u32,
        trans_len: u32,
        delay: u32,
        pending: u32,
        wire: Vec<u8>,
        violations: Vec<&'static str>,
    }

    impl crate::mmio::RegisterModel for SeModel {
        fn read(&mut self, off: usize, _: crate::mmio::Width) -> u64 {
            match off {
                SE_GENI_STATUS => u64::from(self.active),
                SE_GENI_M_IRQ_STATUS => {
                    if self.active && self.pending > 0 {
                        self.pending -= 1;
                        if self.pending == 0 {
                            self.irq |= M_TX_FIFO_WATERMARK_EN;
                        }
                    }
                    u64::from(self.irq)
                }
                _ => 0,
            }
        }
        fn write(&mut self, off: usize, _: crate::mmio::Width, val: u64) {
            let val = val as u32;
            match off {
                SE_UART_TX_TRANS_LEN => self.trans_len = val,
                SE_GENI_M_CMD0 => {
                    if self.active {
                        self.violations.push("START_TX while a command is active");
                    }
                    if val != UART_START_TX || self.trans_len == 0 {
                        self.violations.push("bad M_CMD0 or zero TX_TRANS_LEN");
                    }
                    self.active = true;
                    self.remaining = self.trans_len;
                    self.pending = self.delay.max(1);
                }
                SE_GENI_TX_FIFO => {
                    if !self.active || self.irq & M_TX_FIFO_WATERMARK_EN == 0 {
                        self.violations.push("FIFO write before the watermark IRQ");
                    }
                    self.wire.push(val as u8);
                    self.remaining = self.remaining.saturating_sub(1);
                    if self.remaining == 0 {
                        self.active = false;
                        self.irq |= M_CMD_DONE_EN;
                    }
                }
                SE_GENI_M_IRQ_CLEAR => self.irq &= !val,
                _ => {}
            }
        }
    }

    #[test]
    fn behavioural_model_sees_every_byte_in_order_and_no_violation() {
        for delay in [1, 5] {
            let regs = crate::mmio::ModelMmio::new(SeModel {
                delay,
                ..SeModel::default()
            });
            let uart = Geni::new(regs, clock());
            write_str(&uart, "ok 1 geni\n").unwrap();
            let m = uart.regs.model();
            assert_eq!(m.wire, b"ok 1 geni\r\n");
            assert!(m.violations.is_empty(), "{:?}", m.violations);
            assert_eq!(m.irq, 0, "every IRQ the driver saw was cleared");
            assert!(!m.active);
        }
    }

    #[test]
    fn one_byte_is_the_boards_md_sequence() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: ready,
        };
        let uart = Geni::new(regs, clock());
        uart.put(b'A').unwrap();
        let irq = M_TX_FIFO_WATERMARK_EN | M_CMD_DONE_EN;
        assert_eq!(
            *uart.regs.log.borrow(),
            [
                r(SE_GENI_STATUS, 0),
                w(SE_GENI_TX_PACKING_CFG0, 0xf),
                w(SE_GENI_TX_PACKING_CFG1, 0),
                w(SE_GENI_TX_WATERMARK_REG, 2),
                w(SE_UART_TX_TRANS_LEN, 1),
                w(SE_GENI_M_CMD0, 1 << 27),
                r(SE_GENI_M_IRQ_STATUS, irq),
                w(SE_GENI_TX_FIFO, u32::from(b'A')),
                w(SE_GENI_M_IRQ_CLEAR, 1 << 30),
                r(SE_GENI_M_IRQ_STATUS, irq),
                w(SE_GENI_M_IRQ_CLEAR, 1),
            ]
        );
    }

    #[test]
    fn newline_becomes_two_commands_and_waits_are_polled() {
        // The watermark shows up on the second poll of each character only.
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, n| match off {
                SE_GENI_M_IRQ_STATUS if n % 3 == 0 => 0,
                SE_GENI_M_IRQ_STATUS => u64::from(M_TX_FIFO_WATERMARK_EN | M_CMD_DONE_EN),
                _ => 0,
            },
        };
        let uart = Geni::new(regs, clock());
        write_str(&uart, "\n").unwrap();
        assert_eq!(
            uart.regs.writes_to(SE_GENI_TX_FIFO),
            [u64::from(b'\r'), u64::from(b'\n')]
        );
        assert_eq!(uart.regs.writes_to(SE_GENI_M_CMD0).len(), 2);
        // Each FIFO write comes right after a status read with the watermark set.
        let log = uart.regs.log.borrow();
        for (i, a) in log.iter().enumerate() {
            if let Access::Write(SE_GENI_TX_FIFO, _, _) = a {
                assert!(matches!(
                    log[i - 1],
                    Access::Read(SE_GENI_M_IRQ_STATUS, 4, v) if v & u64::from(M_TX_FIFO_WATERMARK_EN) != 0
                ));
            }
        }
    }

    #[test]
    fn active_command_left_by_abl_is_aborted_first() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| match off {
                SE_GENI_STATUS => u64::from(M_GENI_CMD_ACTIVE),
                SE_GENI_M_IRQ_STATUS => u64::from(M_CMD_ABORT_EN),
                _ => 0,
            },
        };
        let uart = Geni::new(regs, clock());
        assert_eq!(
            uart.regs.log.borrow()[..4],
            [
                r(SE_GENI_STATUS, 1),
                w(SE_GENI_M_CMD_CTRL_REG, 1 << 1),
                r(SE_GENI_M_IRQ_STATUS, 1 << 5),
                w(SE_GENI_M_IRQ_CLEAR, 1 << 5),
            ]
        );
    }

    #[test]
    fn dead_se_times_out_aborts_and_then_drops_output() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, _| 0,
        };
        let uart = Geni::new(regs, clock());
        let e = uart.put(b'x').unwrap_err();
        assert!(e.what.contains("WATERMARK"), "{e}");
        assert!(uart.regs.writes_to(SE_GENI_TX_FIFO).is_empty());
        assert_eq!(
            uart.regs.writes_to(SE_GENI_M_CMD_CTRL_REG),
            [u64::from(M_GENI_CMD_ABORT)]
        );
        let before = uart.regs.log.borrow().len();
        assert!(uart.put(b'y').is_err());
        assert_eq!(uart.regs.log.borrow().len(), before, "not polled again");
    }

    #[test]
    fn missing_cmd_done_is_a_timeout_naming_the_bit() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| match off {
                SE_GENI_M_IRQ_STATUS => u64::from(M_TX_FIFO_WATERMARK_EN),
                _ => 0,
            },
        };
        let uart = Geni::new(regs, clock());
        let e = uart.put(b'x').unwrap_err();
        assert!(e.what.contains("M_CMD_DONE_EN"), "{e}");
        assert_eq!(uart.regs.writes_to(SE_GENI_TX_FIFO), [u64::from(b'x')]);
    }
}
