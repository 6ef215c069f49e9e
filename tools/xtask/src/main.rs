//! `cargo xtask` — host-side front door of iommu-bringup.
fn main() {
    eprintln!("xtask: not built yet");
    std::process::exit(2);
}
