//! The console the whole image writes to, chosen once at boot.
//!
//! [`Stdout`] implements `core::fmt::Write` over it, so the KTAP reporter and
//! the fatal-error paths print the same way.  Before a console is installed,
//! or when none could be driven, output is dropped (the run still ends with a
//! meaningful status).
#![forbid(unsafe_code)]

use super::cadence::Cadence;
use super::geni::Geni;
use super::ns16550::Ns16550;
use super::pl011::Pl011;
use super::s5l::S5l;
use super::{write_str, Uart};
use crate::mmio::VolatileMmio;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The console in use.
pub enum ActiveConsole {
    /// A PL011.
    Pl011(Pl011<VolatileMmio>),
    /// A 16550-family UART.
    Ns16550(Ns16550<VolatileMmio>),
    /// A Qualcomm GENI debug UART.
    Geni(Geni<VolatileMmio>),
    /// An Apple S5L UART.
    S5l(S5l<VolatileMmio>),
    /// A Cadence UART (ZynqMP).
    Cadence(Cadence<VolatileMmio>),
    /// No UART of ours: a byte sink provided by the platform (semihosting).
    Fallback(fn(&[u8])),
    /// Nothing at all.
    Silent,
}

static ACTIVE: spin::Once<ActiveConsole> = spin::Once::new();
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Installs the console; later calls are ignored (the first one wins).
pub fn install(console: ActiveConsole) -> &'static ActiveConsole {
    ACTIVE.call_once(|| console)
}

/// The installed console, if any.
pub fn get() -> Option<&'static ActiveConsole> {
    ACTIVE.get()
}

/// Bytes dropped because the UART stalled.
pub fn dropped() -> usize {
    DROPPED.load(Ordering::Relaxed)
}

impl ActiveConsole {
    /// Writes a string (`\n` → `\r\n` on UARTs).
    pub fn write(&self, s: &str) {
        let uart: &dyn Uart = match self {
            ActiveConsole::Pl011(u) => u,
            ActiveConsole::Ns16550(u) => u,
            ActiveConsole::Geni(u) => u,
            ActiveConsole::S5l(u) => u,
            ActiveConsole::Cadence(u) => u,
            ActiveConsole::Fallback(sink) => {
                sink(s.as_bytes());
                return;
            }
            ActiveConsole::Silent => return,
        };
        if write_str(uart, s).is_err() {
            DROPPED.fetch_add(s.len(), Ordering::Relaxed);
        }
    }

    /// A short name for the banner.
    pub fn name(&self) -> &'static str {
        match self {
            ActiveConsole::Pl011(_) => "pl011",
            ActiveConsole::Ns16550(_) => "16550",
            ActiveConsole::Geni(_) => "geni",
            ActiveConsole::S5l(_) => "s5l",
            ActiveConsole::Cadence(_) => "cadence",
            ActiveConsole::Fallback(_) => "semihosting",
            ActiveConsole::Silent => "none",
        }
    }
}

/// `fmt::Write` onto the installed console.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdout;

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(c) = get() {
            c.write(s);
        }
        Ok(())
    }
}

/// `fmt::Write` onto the console that starts every line with a prefix, so
/// multi-line messages (panics) stay KTAP diagnostics.
pub struct Prefixed {
    prefix: &'static str,
    at_line_start: bool,
}

impl Prefixed {
    /// A writer that puts `prefix` at the start of each line.
    pub fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            at_line_start: true,
        }
    }
}

impl fmt::Write for Prefixed {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.at_line_start {
                Stdout.write_str(self.prefix)?;
            }
            Stdout.write_str(piece)?;
            self.at_line_start = piece.ends_with('\n');
        }
        Ok(())
    }
}

/// Prints to the console, like `print!`.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::platform::console::active::Stdout, $($arg)*);
    }};
}

/// Prints a line to the console, like `println!`.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::platform::console::active::Stdout, $($arg)*);
    }};
}
