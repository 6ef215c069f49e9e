//! `cargo xtask` — the host-side front door of iommu-bringup.
//!
//! ```text
//! cargo xtask build
//! cargo xtask size
//! cargo xtask run [--iommu smmuv3|virtio|none] [--el2] [--bootargs "…"]
//!                 [--load-addr ADDR] [--ram MIB] [--timeout SECS] [--junit FILE] [-- qemu args…]
//! cargo xtask test [--no-lint] [--no-host] [--no-kunit] [--only NAME]… [--timeout SECS]
//!                  [--jobs N] [--verbose] [--junit FILE]
//! cargo xtask bench [-- bench args…]
//! cargo xtask wall [--runs N] [--icount SETTING | --no-icount] [--image FILE]
//! cargo xtask cost
//! cargo xtask install-qemu [--dry-run]
//! cargo xtask dt-probe FILE.dtb [--json]
//! cargo xtask fetch-dtbs
//! cargo xtask lava-validate
//! cargo xtask image --board NAME [--dtb FILE] | --list
//! ```
//!
//! This file only parses arguments and dispatches; each command lives in its
//! own module.  Commands that build first make sure the pinned toolchain has
//! its target and components ([`toolchain::ensure`]).  Runner messages go to stderr, the console/KTAP and reports
//! to stdout.

mod baddtb;
mod bench;
mod boards;
mod bootfmt;
mod checksum;
mod cost;
mod dtbs;
mod dtprobe;
mod error;
mod image;
mod install;
mod junit;
mod ktap;
mod kunit;
mod lava;
mod lava_run;
mod model;
mod oracle;
mod process;
mod qemu;
mod scenarios;
mod size;
mod suite;
mod toolchain;
mod trampoline;
mod uboot;
mod wall;

use error::{Error, Result};
use qemu::{Echo, Edus, Iommu, Limits, Load, Machine};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build                 build the image; prints the Image path as the last stdout line
                        (build, run, test, bench and image first add the target and
                        components rust-toolchain.toml lists, with rustup, when missing)
  size                  build, print the footprint report (sections, per family, per
                        module) and fail when the Image or a family is over budget
  run                   build and boot under QEMU virt, streaming KTAP to stdout
      --iommu smmuv3|virtio|none   (default smmuv3, with two edu DMA devices)
      --blk                         add two virtio-blk DMA masters (00:06.0, 00:07.0, iommu_platform=on);
                                    the image then runs the catalogue on them instead of the edus
      --edus root|root-ports|pci-bridge|none
                                    where the edus sit (default root: 00:04.0, 00:05.0;
                                    root-ports: each behind a pcie-root-port; pci-bridge:
                                    behind pcie-pci-bridges behind root ports)
      --el2                         enter at EL2 (virtualization=on)
      --no-icount                   run virtual time at wall-clock speed (default: -icount shift=8,sleep=off)
      --bootargs \"...\"              extra bootargs (after iommu_bringup.exit=semihosting)
      --load-addr ADDR              load the Image raw at ADDR behind a trampoline ELF
      --ram MIB                     guest RAM in MiB (default 256; 8 starves the heap plan)
      --timeout SECS                total timeout (default 300; silence limit min(60, SECS))
      --junit FILE                  write a JUnit XML report
      -- ARGS...                    extra qemu-system-aarch64 arguments
  test                  lint, host tests, build, host model runs (sun50i KTAP over its
                        model, not a board), QEMU scenario matrix
      --no-lint --no-host --no-kunit --only NAME --timeout SECS --verbose --junit FILE
      --jobs N                      QEMU scenarios at a time (default 2; --verbose runs one)
  bench                 cargo bench --bench pgtable [-- ARGS...]
  wall                  the default scenario's wall time against QEMU's floor (no IOMMU, no
                        edu, inject=panic), alternating, median of each; results must stay
                        identical run to run (docs/performance.md)
      --runs N                      runs of each (default 20)
      --icount SETTING              another -icount setting, e.g. shift=8 (default shift=8,sleep=off)
      --no-icount                   without -icount
      --image FILE                  measure this Image (e.g. an earlier commit's) instead of building
  cost                  invalidation commands / requests / MMIO writes per unmap of 1, 3,
                        512 and 262,144 pages, per driver over its model (docs/performance.md)
  image --board NAME [--dtb FILE]   package the Image for a board's loader
                        into target/boards/NAME/ (--list: the boards); fetches the
                        board's DTB like fetch-dtbs unless --dtb is given
  install-qemu          install qemu-system-aarch64 >= 10.0 if missing
      --dry-run                     only print what it would do
  dt-probe FILE.dtb     print what the image's discovery sees in a DTB [--json]
  fetch-dtbs            fetch + verify the board DTB fixtures into target/dtbs/
  lava-validate         LAVA's job schema (Debian lava-common, installed if missing) on
                        boards/*/lava.yaml; tests/fixtures/lava/*.yaml must be rejected
";

/// Parsed command line.
#[derive(Debug)]
enum Cmd {
    Build,
    Size,
    Run {
        machine: Machine,
        timeout: u64,
        junit: Option<PathBuf>,
    },
    Test(suite::Options),
    Bench(Vec<String>),
    Wall(wall::Options),
    Cost,
    InstallQemu {
        dry_run: bool,
    },
    DtProbe(dtprobe::Args),
    FetchDtbs,
    LavaValidate,
    Image(boards::Options),
    Help,
}

const DEFAULT_TIMEOUT: u64 = 300;

fn value(args: &mut std::slice::Iter<'_, String>, flag: &str) -> Result<String> {
    args.next()
        .cloned()
        .ok_or_else(|| Error::Usage(format!("{flag} needs a value")))
}

fn parse_u64(s: &str, flag: &str) -> Result<u64> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    r.map_err(|_| Error::Usage(format!("{flag}: `{s}` is not a number")))
}

fn parse(argv: &[String]) -> Result<Cmd> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Ok(Cmd::Help);
    };
    let mut args = rest.iter();
    match cmd.as_str() {
        "build" => match args.next() {
            None => Ok(Cmd::Build),
            Some(a) => Err(Error::Usage(format!("build takes no options (got `{a}`)"))),
        },
        "size" => match args.next() {
            None => Ok(Cmd::Size),
            Some(a) => Err(Error::Usage(format!("size takes no options (got `{a}`)"))),
        },
        "run" => {
            let mut machine = Machine::default();
            let mut timeout = DEFAULT_TIMEOUT;
            let mut junit = None;
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--iommu" => {
                        let v = value(&mut args, a)?;
                        machine.iommu = Iommu::parse(&v).ok_or_else(|| {
                            Error::Usage(format!("--iommu: `{v}` is not smmuv3, virtio or none"))
                        })?;
                    }
                    "--el2" => machine.el2 = true,
                    "--blk" => machine.blk = true,
                    "--edus" => {
                        let v = value(&mut args, a)?;
                        machine.edus = Edus::parse(&v).ok_or_else(|| {
                            Error::Usage(format!(
                                "--edus: `{v}` is not root, root-ports, pci-bridge or none"
                            ))
                        })?;
                    }
                    "--no-icount" => machine.icount = false,
                    "--bootargs" => machine.bootargs = value(&mut args, a)?,
                    "--load-addr" => {
                        let v = parse_u64(&value(&mut args, a)?, a)?;
                        if v % (2 << 20) != 0 {
                            return Err(Error::Usage(format!(
                                "--load-addr {v:#x} is not 2 MiB aligned"
                            )));
                        }
                        machine.load = Load::At(v);
                    }
                    "--ram" => {
                        let v = parse_u64(&value(&mut args, a)?, a)?;
                        machine.ram_mib =
                            u32::try_from(v).ok().filter(|&m| m > 0).ok_or_else(|| {
                                Error::Usage(format!("--ram: `{v}` MiB is out of range"))
                            })?;
                    }
                    "--timeout" => timeout = parse_u64(&value(&mut args, a)?, a)?,
                    "--junit" => junit = Some(PathBuf::from(value(&mut args, a)?)),
                    "--" => {
                        machine.extra = args.by_ref().cloned().collect();
                    }
                    _ => return Err(Error::Usage(format!("run: unknown option `{a}`"))),
                }
            }
            Ok(Cmd::Run {
                machine,
                timeout,
                junit,
            })
        }
        "test" => {
            let mut o = suite::Options {
                timeout: DEFAULT_TIMEOUT,
                ..suite::Options::default()
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--no-lint" => o.no_lint = true,
                    "--no-host" => o.no_host = true,
                    "--no-kunit" => o.no_kunit = true,
                    "--verbose" | "-v" => o.verbose = true,
                    "--only" => o.only.push(value(&mut args, a)?),
                    "--jobs" | "-j" => {
                        o.jobs = parse_u64(&value(&mut args, a)?, a)? as usize;
                        if o.jobs == 0 {
                            return Err(Error::Usage("--jobs needs at least 1".into()));
                        }
                    }
                    "--timeout" => o.timeout = parse_u64(&value(&mut args, a)?, a)?,
                    "--junit" => o.junit = Some(PathBuf::from(value(&mut args, a)?)),
                    _ => return Err(Error::Usage(format!("test: unknown option `{a}`"))),
                }
            }
            Ok(Cmd::Test(o))
        }
        "bench" => {
            let extra: Vec<String> = match args.next().map(String::as_str) {
                None => Vec::new(),
                Some("--") => args.cloned().collect(),
                Some(a) => return Err(Error::Usage(format!("bench: unknown option `{a}`"))),
            };
            Ok(Cmd::Bench(extra))
        }
        "wall" => {
            let mut o = wall::Options::default();
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--runs" => {
                        o.runs = parse_u64(&value(&mut args, a)?, a)? as usize;
                        if o.runs == 0 {
                            return Err(Error::Usage("--runs needs at least 1".into()));
                        }
                    }
                    "--icount" => o.icount = Some(value(&mut args, a)?),
                    "--no-icount" => o.no_icount = true,
                    "--image" => o.image = Some(PathBuf::from(value(&mut args, a)?)),
                    _ => return Err(Error::Usage(format!("wall: unknown option `{a}`"))),
                }
            }
            Ok(Cmd::Wall(o))
        }
        "cost" => match args.next() {
            None => Ok(Cmd::Cost),
            Some(a) => Err(Error::Usage(format!("cost takes no options (got `{a}`)"))),
        },
        "install-qemu" => match args.next().map(String::as_str) {
            None => Ok(Cmd::InstallQemu { dry_run: false }),
            Some("--dry-run") => Ok(Cmd::InstallQemu { dry_run: true }),
            Some(a) => Err(Error::Usage(format!("install-qemu: unknown option `{a}`"))),
        },
        "dt-probe" => Ok(Cmd::DtProbe(dtprobe::parse(rest)?)),
        "fetch-dtbs" => Ok(Cmd::FetchDtbs),
        "lava-validate" => Ok(Cmd::LavaValidate),
        "image" => boards::parse(&mut args).map(Cmd::Image),
        "help" | "--help" | "-h" => Ok(Cmd::Help),
        other => Err(Error::Usage(format!("unknown command `{other}`"))),
    }
}

fn run_cmd(machine: &Machine, timeout: u64, junit_path: Option<&PathBuf>) -> Result<()> {
    let art = image::build()?;
    install::ensure()?;
    let boot = qemu::boot(
        machine,
        &art.image,
        Limits::from_total(timeout),
        Echo::Stdout,
    )?;
    let judged = qemu::judge(&boot);
    if let Some(path) = junit_path {
        let suites = match &judged {
            Ok(v) => junit::suites_from_cases("", &v.report.cases(), boot.elapsed),
            Err(bad) => vec![junit::Suite {
                name: "qemu".into(),
                time: boot.elapsed,
                cases: vec![junit::Case {
                    name: "boot".into(),
                    classname: "iommu-bringup.qemu".into(),
                    status: ktap::Status::Fail,
                    diagnostics: boot.console.lines().map(String::from).collect(),
                    message: Some(bad.to_string()),
                }],
            }],
        };
        std::fs::write(path, junit::render(&suites))
            .map_err(error::io(format!("writing {}", path.display())))?;
        eprintln!("xtask: wrote JUnit report {}", path.display());
    }
    let v = judged.map_err(|bad| Error::Run(bad.to_string()))?;
    let t = v.report.totals;
    eprintln!(
        "xtask: pass:{} fail:{} skip:{} total:{} in {:.1} s, QEMU exit status {}",
        t.pass,
        t.fail,
        t.skip,
        t.total,
        boot.elapsed.as_secs_f64(),
        v.code
    );
    let failed = v.report.failed();
    if failed.is_empty() && v.nothing_tested {
        Err(Error::Failed(format!(
            "{} (QEMU exit status {}): not a pass",
            qemu::NOTHING_TESTED_TEXT,
            v.code
        )))
    } else if failed.is_empty() {
        Ok(())
    } else {
        for c in &failed {
            eprintln!("xtask: not ok {}", c.qualified());
            for d in &c.diagnostics {
                eprintln!("xtask:     # {d}");
            }
        }
        Err(Error::Failed(format!("{} case(s) failed", failed.len())))
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&argv).and_then(|cmd| match cmd {
        Cmd::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Cmd::Build => image::build().and_then(|a| {
            // The report is information here; `size` enforces the budget.
            eprint!("{}", image::footprint(&a)?.render(20));
            eprintln!("xtask: ELF with symbols (for gdb): {}", a.elf.display());
            println!("{}", a.image.display());
            Ok(())
        }),
        Cmd::Size => image::build().and_then(|a| {
            let f = image::footprint(&a)?;
            print!("{}", f.render(30));
            let over = f.over_budget();
            if over.is_empty() {
                Ok(())
            } else {
                Err(Error::Failed(over.join("; ")))
            }
        }),
        Cmd::Run {
            machine,
            timeout,
            junit,
        } => run_cmd(&machine, timeout, junit.as_ref()),
        Cmd::Test(opts) => suite::run(&opts),
        Cmd::Bench(extra) => toolchain::ensure().and_then(|()| bench::run(&extra)),
        Cmd::Wall(o) => wall::run(&o),
        Cmd::Cost => cost::run(),
        Cmd::DtProbe(a) => dtprobe::run(&a),
        Cmd::FetchDtbs => dtbs::run(),
        Cmd::LavaValidate => lava::ensure().and_then(|()| lava::validate_all()),
        Cmd::Image(o) => boards::run(&o),
        Cmd::InstallQemu { dry_run: true } => {
            install::dry_run();
            Ok(())
        }
        Cmd::InstallQemu { dry_run: false } => install::ensure().map(|()| {
            if let Some((a, b)) = qemu::installed_version() {
                eprintln!("xtask: {} {a}.{b} is installed", qemu::QEMU);
            }
        }),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `test` has already printed its summary; its last line must stay last.
        Err(Error::Failed(_)) if argv.first().map(String::as_str) == Some("test") => {
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: error: {e}");
            if let Error::Usage(_) = e {
                eprint!("{USAGE}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_run_options() {
        let c = parse(&argv(&[
            "run",
            "--iommu",
            "virtio",
            "--el2",
            "--bootargs",
            "a b",
            "--timeout",
            "9",
            "--load-addr",
            "0x4be00000",
            "--ram",
            "8",
            "--",
            "-s",
            "-S",
        ]));
        match c {
            Ok(Cmd::Run {
                machine, timeout, ..
            }) => {
                assert_eq!(machine.iommu, Iommu::Virtio);
                assert!(machine.el2);
                assert_eq!(machine.bootargs, "a b");
                assert_eq!(machine.load, Load::At(0x4be0_0000));
                assert_eq!(machine.ram_mib, 8);
                assert_eq!(machine.extra, argv(&["-s", "-S"]));
                assert_eq!(timeout, 9);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_options() {
        assert!(matches!(
            parse(&argv(&["run", "--iommu", "smmuv2"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&argv(&["run", "--timeout"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&argv(&["run", "--load-addr", "0x4be00001"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&argv(&["frobnicate"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&argv(&["test", "--bogus"])),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn parses_test_options() {
        match parse(&argv(&[
            "test",
            "--no-lint",
            "--only",
            "el2",
            "--junit",
            "r.xml",
        ])) {
            Ok(Cmd::Test(o)) => {
                assert!(o.no_lint && !o.no_host);
                assert_eq!(o.only, argv(&["el2"]));
                assert_eq!(o.junit, Some(PathBuf::from("r.xml")));
                assert_eq!(o.timeout, DEFAULT_TIMEOUT);
                assert_eq!(o.jobs, 0, "0 means the default");
            }
            other => panic!("{other:?}"),
        }
        match parse(&argv(&["test", "--jobs", "3"])) {
            Ok(Cmd::Test(o)) => assert_eq!(o.jobs, 3),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&argv(&["test", "--jobs", "0"])),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn parses_wall_options() {
        match parse(&argv(&["wall"])) {
            Ok(Cmd::Wall(o)) => {
                assert_eq!((o.runs, o.icount, o.no_icount), (20, None, false));
            }
            other => panic!("{other:?}"),
        }
        match parse(&argv(&[
            "wall",
            "--runs",
            "5",
            "--icount",
            "shift=8",
            "--image",
            "old/Image",
        ])) {
            Ok(Cmd::Wall(o)) => {
                assert_eq!(o.runs, 5);
                assert_eq!(o.icount.as_deref(), Some("shift=8"));
                assert_eq!(o.image, Some(PathBuf::from("old/Image")));
            }
            other => panic!("{other:?}"),
        }
        for bad in [&["wall", "--runs", "0"][..], &["wall", "--bogus"]] {
            assert!(matches!(parse(&argv(bad)), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
