//! `cargo xtask wall`: the default scenario's wall time against QEMU's own
//! floor, measured the same way in one run (docs/performance.md, issue 17).
//!
//! * **default**: the `el1` machine — `virt,iommu=smmuv3`, two edus, the
//!   runner's `-icount` — running the whole catalogue;
//! * **floor**: the same image and `-icount` on `virt` with no IOMMU and no
//!   edu, booted with `iommu_bringup.inject=panic`: QEMU starting, the image
//!   booting, its platform cases, the panic, QEMU exiting.
//!
//! The two alternate, `--runs` times each (default 20), so a change in the
//! machine's load hits both alike.  Each default run's results (every
//! case's status and the exit status) must equal the first's, each floor
//! run must end in `Bail out! panic` with status 255; otherwise the command
//! fails.  It prints min / median / max of both and the ratio of medians.

use crate::error::{Error, Result};
use crate::image;
use crate::install;
use crate::ktap::Status;
use crate::qemu::{self, Echo, Edus, Iommu, Limits, Machine};
use std::time::Duration;

/// Options of `cargo xtask wall`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Runs of each machine.
    pub runs: usize,
    /// Another `-icount` setting (`None`: the runner's [`qemu::ICOUNT`]).
    pub icount: Option<String>,
    /// Without `-icount`.
    pub no_icount: bool,
    /// Measure this `Image` instead of building one (e.g. an earlier
    /// commit's, to compare in one session).
    pub image: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 20,
            icount: None,
            no_icount: false,
            image: None,
        }
    }
}

/// The two machines.
fn machines(o: &Options) -> (Machine, Machine) {
    let default = Machine {
        icount: !o.no_icount,
        icount_setting: o.icount.clone(),
        tag: "wall".into(),
        ..Machine::default()
    };
    let floor = Machine {
        iommu: Iommu::None,
        edus: Edus::None,
        bootargs: "iommu_bringup.inject=panic".into(),
        tag: "wall-floor".into(),
        ..default.clone()
    };
    (default, floor)
}

/// One run's results: each case's status, then the exit status.
fn results(console: &str, code: Option<i32>) -> Vec<String> {
    let mut v: Vec<String> = match crate::ktap::parse(console) {
        Ok(r) => r
            .cases()
            .into_iter()
            .map(|c| {
                let s = match c.status {
                    Status::Pass => "ok",
                    Status::Fail => "FAIL",
                    Status::Skip(_) => "skip",
                };
                format!("{} {s}", c.qualified())
            })
            .collect(),
        Err(e) => vec![format!("KTAP: {e}")],
    };
    v.push(format!("exit {code:?}"));
    v
}

/// (min, median, max) in seconds.
pub fn spread(times: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (s[0], median, s[n - 1])
}

/// Runs the measurement.
pub fn run(o: &Options) -> Result<()> {
    let image = match &o.image {
        Some(p) => p.clone(),
        None => image::build()?.image,
    };
    install::ensure()?;
    let (default, floor) = machines(o);
    let limits = Limits::from_total(300);
    let (mut td, mut tf) = (Vec::new(), Vec::new());
    let mut first: Option<Vec<String>> = None;
    let mut problems = Vec::new();
    for i in 0..o.runs {
        let d = qemu::boot(&default, &image, limits, Echo::Quiet)?;
        if i == 0 {
            eprintln!("xtask: default: {}", d.command);
        }
        let r = results(&d.console, d.status.and_then(|s| s.code()));
        match &first {
            None => first = Some(r),
            Some(f) if *f != r => problems.push(format!(
                "default run {}: results differ from run 1: {:?}",
                i + 1,
                r.iter().filter(|l| !f.contains(l)).collect::<Vec<_>>()
            )),
            Some(_) => {}
        }
        td.push(d.elapsed);
        let f = qemu::boot(&floor, &image, limits, Echo::Quiet)?;
        if i == 0 {
            eprintln!("xtask: floor:   {}", f.command);
        }
        let code = f.status.and_then(|s| s.code());
        if code != Some(255) || !f.console.contains("Bail out! panic") {
            problems.push(format!(
                "floor run {}: exit {code:?}, not `Bail out! panic` with 255",
                i + 1
            ));
        }
        tf.push(f.elapsed);
        eprintln!(
            "xtask: run {:>2}: default {:.3} s, floor {:.3} s",
            i + 1,
            d.elapsed.as_secs_f64(),
            f.elapsed.as_secs_f64()
        );
    }
    let (dmin, dmed, dmax) = spread(&td);
    let (fmin, fmed, fmax) = spread(&tf);
    let cases = first.as_ref().map_or(0, |f| f.len().saturating_sub(1));
    println!(
        "default: median {dmed:.3} s (min {dmin:.3}, max {dmax:.3}) over {} runs, {cases} cases, results {}",
        o.runs,
        if problems.is_empty() {
            "identical in every run"
        } else {
            "NOT identical"
        }
    );
    println!(
        "floor:   median {fmed:.3} s (min {fmin:.3}, max {fmax:.3}) over {} runs",
        o.runs
    );
    println!("ratio of medians: {:.2}", dmed / fmed.max(1e-9));
    if problems.is_empty() {
        Ok(())
    } else {
        for p in &problems {
            eprintln!("xtask: {p}");
        }
        Err(Error::Failed(format!("{} run(s) off", problems.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn medians_and_machines() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(spread(&ms(&[300, 100, 200])), (0.1, 0.2, 0.3));
        assert_eq!(spread(&ms(&[400, 100, 200, 300])), (0.1, 0.25, 0.4));
        let (d, f) = machines(&Options::default());
        let d = d.args(Path::new("Image"), None).join(" ");
        let f = f.args(Path::new("Image"), None).join(" ");
        assert!(
            d.contains("virt,iommu=smmuv3") && d.contains("-device edu"),
            "{d}"
        );
        assert!(d.ends_with(&format!("-icount {}", qemu::ICOUNT)), "{d}");
        assert!(!f.contains("iommu=") && !f.contains("edu"), "{f}");
        assert!(f.contains("iommu_bringup.inject=panic"), "{f}");
        assert!(f.ends_with(&format!("-icount {}", qemu::ICOUNT)), "{f}");
        let other = Options {
            icount: Some("shift=8".into()),
            ..Options::default()
        };
        let (d, f) = machines(&other);
        for m in [d, f] {
            assert!(m
                .args(Path::new("I"), None)
                .join(" ")
                .ends_with("-icount shift=8"));
        }
    }
}
