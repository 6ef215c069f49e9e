//! Platform services found through the device tree: consoles, bootargs,
//! how the run ends, the timer interrupt that lets waits sleep (`irq`).

pub mod bootargs;
pub mod ccu;
pub mod console;
pub mod dt;
pub mod exit;
pub mod irq;
pub mod order;
pub mod pci;
