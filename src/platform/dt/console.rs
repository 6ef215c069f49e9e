//! Finding the boot console from the device tree.
//!
//! Order (devicetree spec v0.4 §3.6 `/chosen`, and Linux
//! `drivers/of/base.c` `of_alias_scan` / `drivers/of/fdt.c`
//! `early_init_dt_scan_chosen_stdout`):
//! 1. `/chosen/stdout-path` (or the older `linux,stdout-path`): a full path
//!    or an alias; a `:` ends the path and the rest are options
//!    (`"serial0:115200n8"`).
//! 2. Otherwise `/aliases/serial0`.
//!
//! A `stdout-path` that resolves to nothing is reported as an error, not
//! silently replaced by `serial0`: the firmware asked for a console we
//! cannot find, and a lab needs to know.
#![forbid(unsafe_code)]

use super::address::translate_reg;
use super::error::{DtError, DtName};
use super::reader::{Fdt, Located};
use crate::mm::addr::PhysRange;

/// Which UART programming model a console node needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleKind {
    /// ARM PrimeCell PL011 (`arm,pl011`; Linux binding `serial/pl011.yaml`).
    Pl011,
    /// The 8250/16550 family: `ns16550a`, `ns16550`, `ns16450`, `ns8250`,
    /// `snps,dw-apb-uart` (Linux bindings `serial/8250.yaml`,
    /// `serial/snps-dw-apb-uart.yaml`).  Registers are `reg-shift` apart
    /// and accessed `reg-io-width` bytes wide.
    Ns16550,
    /// Qualcomm GENI serial engine used as a debug UART
    /// (`qcom,geni-debug-uart`; Linux binding `serial/qcom,serial-geni-qcom.yaml`).
    Geni,
    /// Apple/Samsung S5L UART (`apple,s5l-uart`; Linux binding
    /// `serial/samsung_uart.yaml`).
    S5l,
    /// Cadence UART as on the ZynqMP (`cdns,uart-r1p12`, `xlnx,zynqmp-uart`;
    /// Linux binding `serial/cdns,uart.yaml`); 32-bit registers.
    Cadence,
    /// Anything else: see [`ConsoleNode::compatible`].
    Unknown,
}

/// `compatible` strings we drive as Cadence UARTs (ZynqMP; docs/hw/zynqmp.md
/// §3).
pub const CADENCE_COMPATIBLES: [&str; 2] = ["xlnx,zynqmp-uart", "cdns,uart-r1p12"];

/// `compatible` strings we drive as 16550s.
pub const NS16550_COMPATIBLES: [&str; 7] = [
    "ns16550a",
    "ns16550",
    "ns16450",
    "ns8250",
    "ns16750",
    "ns16850",
    "snps,dw-apb-uart",
];

impl ConsoleKind {
    /// `true` for the kinds the image has a driver for (`src/boot/mod.rs`
    /// `install_console`); any other console leaves the board silent.
    pub fn driven(self) -> bool {
        matches!(
            self,
            ConsoleKind::Pl011
                | ConsoleKind::Ns16550
                | ConsoleKind::Geni
                | ConsoleKind::S5l
                | ConsoleKind::Cadence
        )
    }

    /// The kind for one `compatible` string, `None` when not ours.
    pub fn from_compatible(c: &str) -> Option<ConsoleKind> {
        if c == "arm,pl011" {
            Some(ConsoleKind::Pl011)
        } else if NS16550_COMPATIBLES.contains(&c) {
            Some(ConsoleKind::Ns16550)
        } else if c == "qcom,geni-debug-uart" {
            Some(ConsoleKind::Geni)
        } else if c == "apple,s5l-uart" {
            Some(ConsoleKind::S5l)
        } else if CADENCE_COMPATIBLES.contains(&c) {
            Some(ConsoleKind::Cadence)
        } else {
            None
        }
    }
}

/// The boot console as the device tree describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleNode<'a> {
    /// Full path of the node when the DT spells it (stdout-path or alias
    /// value); the node name when it was reached through `alias/child`.
    pub path: &'a str,
    /// The node name (`pl011@9000000`).
    pub name: &'a str,
    /// The `compatible` string that decided [`Self::kind`], or the first one
    /// when the kind is [`ConsoleKind::Unknown`] (`""` when absent).
    pub compatible: &'a str,
    /// The programming model.
    pub kind: ConsoleKind,
    /// First `reg` entry, translated to a CPU physical range.
    pub reg: PhysRange,
    /// `reg-shift` (default 0; 8250 binding allows 0..=2).
    pub reg_shift: u32,
    /// `reg-io-width` in bytes (default 1 for 16550s per `8250.yaml`, 4 for
    /// PL011 whose registers are 32-bit, PL011 TRM DDI 0183, and for the
    /// Cadence UART, docs/hw/zynqmp.md §3).
    pub reg_io_width: u32,
    /// Text after `:` in `stdout-path` (`"115200n8"`).
    pub options: Option<&'a str>,
    /// `status` is absent or `"okay"`.
    pub enabled: bool,
}

/// Finds and decodes the boot console.
pub fn find_console<'a>(fdt: &Fdt<'a>) -> Result<ConsoleNode<'a>, DtError> {
    let chosen = fdt.root().child("chosen");
    let mut stdout = None;
    if let Some(c) = chosen {
        stdout = c.prop_str("stdout-path")?;
        if stdout.is_none() {
            stdout = c.prop_str("linux,stdout-path")?;
        }
    }
    let (path, options, what) = match stdout {
        Some(sp) => match sp.split_once(':') {
            Some((p, o)) => (p, Some(o), "stdout-path"),
            None => (sp, None, "stdout-path"),
        },
        None => {
            if fdt.alias("serial0").is_none() {
                return Err(DtError::NoConsole);
            }
            ("serial0", None, "alias")
        }
    };
    let loc = fdt.find(path).map_err(|e| match e {
        DtError::NotFound { .. } => DtError::NotFound {
            what,
            path: DtName::new(path),
        },
        other => other,
    })?;
    let full = if path.starts_with('/') {
        path
    } else if !path.contains('/') {
        fdt.alias(path).unwrap_or(loc.node().name())
    } else {
        loc.node().name()
    };
    console_from(&loc, full, options)
}

/// Decodes a console node already found.
pub fn console_from<'a>(
    loc: &Located<'a>,
    path: &'a str,
    options: Option<&'a str>,
) -> Result<ConsoleNode<'a>, DtError> {
    let node = loc.node();
    let mut kind = ConsoleKind::Unknown;
    let mut compatible = node.prop_strs("compatible").next().unwrap_or("");
    if let Some((c, k)) = node
        .prop_strs("compatible")
        .find_map(|c| ConsoleKind::from_compatible(c).map(|k| (c, k)))
    {
        kind = k;
        compatible = c;
    }
    let reg = translate_reg(loc, 0)?;
    let reg_shift = node.prop_u32("reg-shift")?.unwrap_or(0);
    if reg_shift > 2 {
        return Err(DtError::BadValue {
            node: loc.path_name(),
            prop: "reg-shift",
            found: reg_shift,
            expected: "0, 1 or 2 (serial/8250.yaml)",
        });
    }
    let default_width = match kind {
        ConsoleKind::Pl011 | ConsoleKind::Cadence => 4,
        _ => 1,
    };
    let reg_io_width = node.prop_u32("reg-io-width")?.unwrap_or(default_width);
    if ![1, 2, 4].contains(&reg_io_width) {
        return Err(DtError::BadValue {
            node: loc.path_name(),
            prop: "reg-io-width",
            found: reg_io_width,
            expected: "1, 2 or 4 (serial/8250.yaml)",
        });
    }
    Ok(ConsoleNode {
        path,
        name: node.name(),
        compatible,
        kind,
        reg,
        reg_shift,
        reg_io_width,
        options,
        enabled: node.is_enabled(),
    })
}
