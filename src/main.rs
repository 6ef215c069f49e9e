//! The bootable image's entry crate: the arm64 `Image` header and early entry
//! assembly live here so the linker always keeps them; everything else is in
//! the library.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("iommu-bringup is a bare-metal image: build it with `cargo xtask build` and boot it with `cargo xtask run`.");
    std::process::exit(2);
}
