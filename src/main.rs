//! The bootable image's entry crate: the arm64 `Image` header and the first
//! instructions (`src/arch/aarch64/boot.S`) live here so the linker always
//! keeps them; everything else is in the library.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(include_str!("arch/aarch64/boot.S"));

// Pull the library (and with it `rust_entry`, the vectors, the panic handler
// and the global allocator) into the link.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use iommu_bringup as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("iommu-bringup is a bare-metal image: build it with `cargo xtask build` and boot it with `cargo xtask run`.");
    std::process::exit(2);
}
