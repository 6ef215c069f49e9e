//! libFuzzer target: device-tree discovery and the dt-probe report on
//! arbitrary bytes.  Any input must give a report or a `DtError`, never a
//! panic, hang or out-of-bounds access (the same contract the image relies
//! on when it parses the blob at `x0`).  Run: see `fuzz/README.md`.
#![no_main]

use iommu_bringup::mm::addr::PhysAddr;
use iommu_bringup::platform::dt::discover;
use iommu_bringup::selftest::families::dt_probe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // What the image does at boot.
    let _ = discover(data, PhysAddr(0x4000_0000));
    // What `cargo xtask dt-probe` does, both renderings.
    if let Ok(r) = dt_probe(data) {
        let _ = r.to_text();
        let _ = r.to_json();
    }
});
