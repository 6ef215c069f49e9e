//! `cargo xtask fetch-dtbs`: the board DTB fixtures for `tests/dt_boards.rs`
//! (also the first stage of `cargo xtask test`).
//!
//! The list, the sha256 sums and the pinned Debian package are in
//! `tests/fixtures/dtbs.sha256`.  `cargo xtask image --board` uses the same
//! cache for the board's DTB and runs [`fetch`] when it is missing.  The step:
//! 1. If `target/dtbs/` already holds every listed DTB with the recorded
//!    source, re-check the sums and stop.
//! 2. Make sure apt knows arm64 packages (`dpkg --add-architecture arm64`,
//!    `apt-get update`; on bookworm also the backports source), as root or
//!    through `sudo -n`; every command is printed.
//! 3. `apt-get download` the pinned `linux-image-<abi>:arm64=<version>`; if
//!    the archive no longer has it, the current one that the
//!    `linux-image-6.12-arm64` metapackage depends on.
//! 4. `dpkg-deb --fsys-tarfile | tar -x` only the listed
//!    `./usr/lib/linux-image-<abi>/<vendor>/<board>.dtb` files, copy them to
//!    `target/dtbs/<vendor>/<board>.dtb`, delete the `.deb`.
//! 5. Verify every file with `sha256sum`.  A mismatch on the pinned
//!    version is an error (a corrupt download); on the fallback version it
//!    is expected and reported, the structural tests still run.
//!
//! `target/dtbs/SOURCE` records which package the files came from and
//! whether the sums matched; the host tests print it.  Also installs `dtc`
//! (Debian `device-tree-compiler`) for the Apple fixture, like
//! [`crate::install`] installs QEMU.

use crate::error::{io, Error, Result};
use crate::install::{self, Privilege};
use crate::process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The manifest, relative to the workspace root.
pub const MANIFEST: &str = "tests/fixtures/dtbs.sha256";
/// Metapackage whose dependency is the fallback kernel package.
pub const FALLBACK_META: &str = "linux-image-6.12-arm64";

/// What `tests/fixtures/dtbs.sha256` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Pinned binary package name (`linux-image-6.12.95+deb12-arm64`).
    pub package: String,
    /// Pinned version (`6.12.95-1~bpo12+1`).
    pub version: String,
    /// `(sha256 hex, path relative to /usr/lib/linux-image-<abi>/)`.
    pub files: Vec<(String, String)>,
}

/// Parses the manifest text.
pub fn parse_manifest(text: &str) -> std::result::Result<Manifest, String> {
    let mut package = None;
    let mut version = None;
    let mut files = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim();
            if let Some(p) = c.strip_prefix("package:") {
                package = Some(p.trim().to_string());
            } else if let Some(v) = c.strip_prefix("version:") {
                version = Some(v.trim().to_string());
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (sum, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("line {}: expected `SHA256  PATH`", n + 1))?;
        let path = path.trim();
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: `{sum}` is not a sha256", n + 1));
        }
        if path.starts_with('/') || path.contains("..") || !path.ends_with(".dtb") {
            return Err(format!("line {}: bad path `{path}`", n + 1));
        }
        files.push((sum.to_ascii_lowercase(), path.to_string()));
    }
    Ok(Manifest {
        package: package.ok_or("no `# package:` line")?,
        version: version.ok_or("no `# version:` line")?,
        files,
    })
}

/// The ABI directory name inside the package: `linux-image-6.12.95+deb12-arm64`
/// installs its DTBs in `/usr/lib/linux-image-6.12.95+deb12-arm64/`.
pub fn abi_dir(package: &str) -> String {
    package.to_string()
}

/// The exact package `linux-image-6.12-arm64` depends on, from
/// `apt-cache show` output: `Depends: linux-image-6.12.117+deb12-arm64 (= 6.12.117-1~deb12u1)`.
pub fn fallback_from_show(text: &str) -> Option<(String, String)> {
    let deps = text
        .lines()
        .find_map(|l| l.strip_prefix("Depends:"))?
        .trim();
    for d in deps.split(',') {
        let d = d.trim();
        let (name, rest) = d.split_once(' ')?;
        if name.starts_with("linux-image-") && name.ends_with("-arm64") {
            let v = rest.trim().strip_prefix("(=")?.strip_suffix(')')?.trim();
            return Some((name.trim_end_matches(":arm64").to_string(), v.to_string()));
        }
    }
    None
}

/// The cache directory (`$CARGO_TARGET_DIR` or `target/`, then `dtbs/`).
pub fn cache_dir() -> PathBuf {
    process::cargo_target_dir().join("dtbs")
}

fn sha256(path: &Path) -> Result<String> {
    let out = process::output(Command::new("sha256sum").arg(path))?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| Error::Tool(format!("sha256sum printed nothing for {}", path.display())))
}

/// Runs `argv` as root (directly or through `sudo -n`), announced.
fn as_root(privilege: Privilege, argv: &[&str]) -> Result<()> {
    let mut c = match privilege {
        Privilege::Root => Command::new(argv[0]),
        Privilege::Sudo => {
            let mut c = Command::new("sudo");
            c.arg("-n").arg(argv[0]);
            c
        }
        Privilege::None => {
            return Err(Error::Tool(format!(
                "need root for `{}`; run it yourself (or as root), then retry",
                argv.join(" ")
            )))
        }
    };
    c.args(&argv[1..]).env("DEBIAN_FRONTEND", "noninteractive");
    process::run(&mut c)
}

fn apt_update(privilege: Privilege) -> Result<()> {
    as_root(
        privilege,
        &["apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", "update"],
    )
}

/// Makes apt able to fetch arm64 packages.
fn ensure_arm64(privilege: Privilege) -> Result<bool> {
    let native = process::output(Command::new("dpkg").arg("--print-architecture"))?;
    let foreign = process::output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if native.trim() == "arm64" || foreign.split_whitespace().any(|a| a == "arm64") {
        return Ok(false);
    }
    eprintln!("xtask: apt does not know arm64 packages yet; adding the architecture");
    as_root(privilege, &["dpkg", "--add-architecture", "arm64"])?;
    apt_update(privilege)?;
    Ok(true)
}

fn download(dir: &Path, package: &str, version: &str) -> Result<PathBuf> {
    let spec = format!("{package}:arm64={version}");
    process::run(
        Command::new("apt-get")
            .args(["-q", "download", &spec])
            .current_dir(dir),
    )?;
    let prefix = format!("{package}_");
    std::fs::read_dir(dir)
        .map_err(io(format!("listing {}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with("_arm64.deb"))
        })
        .ok_or_else(|| {
            Error::Tool(format!(
                "apt-get download {spec} left no .deb in {}",
                dir.display()
            ))
        })
}

fn extract(deb: &Path, package: &str, files: &[(String, String)], into: &Path) -> Result<()> {
    let members: Vec<String> = files
        .iter()
        .map(|(_, p)| format!("./usr/lib/{}/{p}", abi_dir(package)))
        .collect();
    eprintln!(
        "xtask: running dpkg-deb --fsys-tarfile {} | tar -x -C {} <{} DTBs>",
        deb.display(),
        into.display(),
        members.len()
    );
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io("starting dpkg-deb"))?;
    let stdout = dpkg
        .stdout
        .take()
        .ok_or_else(|| Error::Tool("dpkg-deb: no stdout".into()))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .args(&members)
        .stdin(stdout)
        .status()
        .map_err(io("running tar"))?;
    let dpkg_status = dpkg.wait().map_err(io("waiting for dpkg-deb"))?;
    if !tar.success() || !dpkg_status.success() {
        return Err(Error::Command {
            cmd: format!("dpkg-deb --fsys-tarfile {} | tar -x ...", deb.display()),
            status: format!(
                "dpkg-deb {dpkg_status}, tar {tar} (a listed DTB missing from the package?)"
            ),
        });
    }
    Ok(())
}

/// Checks every cached file against the manifest; the names that differ.
fn mismatches(dir: &Path, m: &Manifest) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    for (sum, rel) in &m.files {
        if sha256(&dir.join(rel))? != *sum {
            bad.push(rel.clone());
        }
    }
    Ok(bad)
}

/// Installs `dtc` when missing (Debian `device-tree-compiler`).
pub fn ensure_dtc() -> Result<()> {
    if Command::new("dtc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(());
    }
    eprintln!("xtask: dtc is missing; installing Debian's device-tree-compiler");
    let p = install::privilege();
    as_root(
        p,
        &[
            "apt-get",
            "-q",
            "-y",
            "-o",
            "DPkg::Lock::Timeout=300",
            "install",
            "device-tree-compiler",
        ],
    )
}

/// Reads and parses the repository's [`MANIFEST`].
pub fn manifest() -> Result<Manifest> {
    let root = process::workspace_root();
    let text =
        std::fs::read_to_string(root.join(MANIFEST)).map_err(io(format!("reading {MANIFEST}")))?;
    parse_manifest(&text).map_err(|e| Error::Tool(format!("{MANIFEST}: {e}")))
}

/// Makes `target/dtbs/` hold the verified board DTBs; returns the cache dir.
pub fn fetch() -> Result<PathBuf> {
    let m = manifest()?;
    let dir = cache_dir();
    let source_file = dir.join("SOURCE");
    let have_all = m.files.iter().all(|(_, p)| dir.join(p).is_file());
    if have_all {
        if let Ok(src) = std::fs::read_to_string(&source_file) {
            let bad = mismatches(&dir, &m)?;
            let pinned = src.contains(&format!("version={}", m.version));
            if bad.is_empty() || !pinned {
                eprintln!(
                    "xtask: {} DTBs cached in {} ({})",
                    m.files.len(),
                    dir.display(),
                    src.trim()
                );
                return Ok(dir);
            }
            eprintln!("xtask: cached DTBs differ from {MANIFEST} ({bad:?}); fetching again");
        }
    }
    let started = std::time::Instant::now();
    let privilege = install::privilege();
    ensure_arm64(privilege)?;
    let os =
        install::OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let work = dir.join("deb");
    std::fs::create_dir_all(&work).map_err(io(format!("creating {}", work.display())))?;
    for e in std::fs::read_dir(&work).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    let mut got =
        download(&work, &m.package, &m.version).map(|d| (d, m.package.clone(), m.version.clone()));
    if got.is_err() && os.codename == "bookworm" {
        eprintln!("xtask: pinned package not found; making sure bookworm-backports is a source");
        install::add_backports(privilege)?;
        apt_update(privilege)?;
        got = download(&work, &m.package, &m.version)
            .map(|d| (d, m.package.clone(), m.version.clone()));
    }
    let (deb, package, version) = match got {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "xtask: WARNING: pinned {}={} is not available ({e}); falling back to the \
                 current package behind {FALLBACK_META}",
                m.package, m.version
            );
            let show = process::output(
                Command::new("apt-cache")
                    .args([
                        "show",
                        "--no-all-versions",
                        &format!("{FALLBACK_META}:arm64"),
                    ])
                    .env("LC_ALL", "C"),
            )?;
            let (p, v) = fallback_from_show(&show).ok_or_else(|| {
                Error::Tool(format!(
                    "cannot tell which package {FALLBACK_META} depends on"
                ))
            })?;
            (download(&work, &p, &v)?, p, v)
        }
    };
    let extracted = work.join("x");
    std::fs::create_dir_all(&extracted).map_err(io(format!("creating {}", extracted.display())))?;
    extract(&deb, &package, &m.files, &extracted)?;
    for (_, rel) in &m.files {
        let from = extracted.join("usr/lib").join(abi_dir(&package)).join(rel);
        let to = dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::copy(&from, &to).map_err(io(format!("copying {}", from.display())))?;
    }
    let _ = std::fs::remove_dir_all(&work);
    let bad = mismatches(&dir, &m)?;
    let pinned = package == m.package && version == m.version;
    let verified = if bad.is_empty() {
        "yes".to_string()
    } else {
        format!("no ({} differ: {})", bad.len(), bad.join(" "))
    };
    let source = format!("package={package} version={version} sha256-verified={verified}\n");
    std::fs::write(&source_file, &source)
        .map_err(io(format!("writing {}", source_file.display())))?;
    if !bad.is_empty() {
        if pinned {
            return Err(Error::Tool(format!(
                "the pinned {package}={version} gave DTBs whose sha256 differ from {MANIFEST}: {bad:?} \
                 (corrupt download or a changed archive)"
            )));
        }
        eprintln!(
            "xtask: WARNING: fallback {package}={version}: {} of {} DTBs differ from the sums \
             recorded for {}={}: {}; the structural assertions still run",
            bad.len(),
            m.files.len(),
            m.package,
            m.version,
            bad.join(" ")
        );
    }
    eprintln!(
        "xtask: {} DTBs from {package}={version} in {} (sha256 verified: {verified}) in {:.1} s",
        m.files.len(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// The fixture stage of `cargo xtask test` and `cargo xtask fetch-dtbs`.
pub fn run() -> Result<()> {
    fetch()?;
    ensure_dtc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_manifest_parses() {
        let text = std::fs::read_to_string(process::workspace_root().join(MANIFEST)).unwrap();
        let m = parse_manifest(&text).unwrap();
        assert_eq!(m.package, "linux-image-6.12.95+deb12-arm64");
        assert_eq!(m.version, "6.12.95-1~bpo12+1");
        assert_eq!(m.files.len(), 13);
        assert!(m.files.iter().any(|(_, p)| p == "qcom/sdm845-db845c.dtb"));
        assert!(m
            .files
            .iter()
            .any(|(_, p)| p == "xilinx/zynqmp-zcu102-rev1.0.dtb"));
    }

    #[test]
    fn bad_manifests_are_rejected() {
        assert!(parse_manifest("abc  x.dtb\n").is_err());
        let ok_sum = "0".repeat(64);
        assert!(
            parse_manifest(&format!("# package: p\n# version: v\n{ok_sum}  ../x.dtb\n")).is_err()
        );
        assert!(parse_manifest(&format!("{ok_sum}  x.dtb\n")).is_err());
        let m =
            parse_manifest(&format!("# package: p\n# version: v\n{ok_sum}  a/x.dtb\n")).unwrap();
        assert_eq!(m.files, vec![(ok_sum, "a/x.dtb".to_string())]);
    }

    #[test]
    fn fallback_package_from_apt_cache_show() {
        let show = "Package: linux-image-6.12-arm64\nSource: linux-signed-6.12-arm64 (6.12.117+1~deb12u1)\n\
                    Version: 6.12.117-1~deb12u1\nDepends: linux-image-6.12.117+deb12-arm64 (= 6.12.117-1~deb12u1)\n";
        assert_eq!(
            fallback_from_show(show),
            Some((
                "linux-image-6.12.117+deb12-arm64".to_string(),
                "6.12.117-1~deb12u1".to_string()
            ))
        );
        assert_eq!(fallback_from_show("Package: x\n"), None);
    }
}
