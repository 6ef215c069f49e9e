//! Making sure `qemu-system-aarch64` ≥ 10.0 is present, installing it on
//! Debian/Ubuntu when it is not.
//!
//! The decision is a pure function of `/etc/os-release`, the installed
//! version, apt's candidate version and whether we can become root, so it is
//! unit-tested; only [`ensure`] touches the machine.  Debian bookworm ships
//! QEMU 7.2 (no nested SMMUv3, older semantics), so there the package comes
//! from `bookworm-backports` (10.0.2).

use crate::error::{io, Error, Result};
use crate::process;
use crate::qemu;
use std::path::Path;
use std::process::Command;

/// The oldest QEMU the scenarios are written for.
pub const MIN_VERSION: (u32, u32) = (10, 0);
/// The backports source line for bookworm.
pub const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";
/// Where we write it when it is absent.
pub const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/bookworm-backports.list";

/// What `/etc/os-release` says, as far as we care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (`debian`, `ubuntu`, `fedora`, ...).
    pub id: String,
    /// `ID_LIKE`, space separated.
    pub id_like: String,
    /// `VERSION_CODENAME` (`bookworm`, `trixie`, `noble`, ...).
    pub codename: String,
    /// `VERSION_ID` (`12`, `24.04`, ...).
    pub version_id: String,
}

impl OsRelease {
    /// Parses the `KEY=value` file (values optionally quoted).
    pub fn parse(text: &str) -> Self {
        let mut o = OsRelease::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "ID" => o.id = v,
                "ID_LIKE" => o.id_like = v,
                "VERSION_CODENAME" => o.codename = v,
                "VERSION_ID" => o.version_id = v,
                _ => {}
            }
        }
        o
    }
}

/// How we can run commands as root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// We are root.
    Root,
    /// `sudo -n` works without a password.
    Sudo,
    /// Neither.
    None,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// QEMU is present and new enough.
    Nothing,
    /// Run these commands (each an argv, already prefixed with `sudo -n` if needed),
    /// optionally after adding the backports source line.
    Install {
        /// Add [`BACKPORTS_LINE`] to [`BACKPORTS_FILE`] first.
        add_backports: bool,
        /// Commands to run in order.
        commands: Vec<Vec<String>>,
    },
    /// We cannot do it: tell the user exactly what to run.
    Manual(String),
}

/// Debian, Ubuntu or a derivative (`ID_LIKE` names debian): apt works.
pub fn is_debian_family(os: &OsRelease) -> bool {
    os.id == "debian" || os.id == "ubuntu" || os.id_like.split_whitespace().any(|w| w == "debian")
}

/// Install commands (each an argv) as we can run them: unchanged as root,
/// each behind `sudo -n` with password-less sudo; without either, the
/// message to show: `what` ("`lava-run` is missing and installing
/// `lava-dispatcher`") and the commands to run by hand.
pub fn as_root(
    cmds: Vec<Vec<String>>,
    privilege: Privilege,
    what: &str,
) -> std::result::Result<Vec<Vec<String>>, String> {
    match privilege {
        Privilege::Root => Ok(cmds),
        Privilege::Sudo => Ok(cmds
            .into_iter()
            .map(|c| {
                let mut v = vec!["sudo".to_string(), "-n".to_string()];
                v.extend(c);
                v
            })
            .collect()),
        Privilege::None => Err(format!(
            "{what} needs root (run as root or with password-less sudo). Run:\n{}",
            cmds.iter()
                .map(|c| format!("  sudo DEBIAN_FRONTEND=noninteractive {}", c.join(" ")))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

/// Runs install commands (each an argv) in order with
/// `DEBIAN_FRONTEND=noninteractive`, stopping at the first that fails.
pub fn run_noninteractive(cmds: &[Vec<String>]) -> Result<()> {
    for argv in cmds {
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        process::run(
            Command::new(prog)
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    Ok(())
}

/// Parses a Debian package version (`1:10.0.2+ds-2~bpo12+1`) into (major, minor).
pub fn parse_deb_version(v: &str) -> Option<(u32, u32)> {
    let v = v.trim();
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Extracts `Candidate:` from `apt-cache policy` output.
pub fn candidate_from_policy(text: &str) -> Option<(u32, u32)> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .and_then(|v| {
            let v = v.trim();
            if v == "(none)" {
                None
            } else {
                parse_deb_version(v)
            }
        })
}

/// Decides what to do.  `candidate` is apt's candidate for `qemu-system-arm`
/// (None if unknown or none).
pub fn plan(
    os: &OsRelease,
    installed: Option<(u32, u32)>,
    candidate: Option<(u32, u32)>,
    privilege: Privilege,
) -> Plan {
    if installed.is_some_and(|v| v >= MIN_VERSION) {
        return Plan::Nothing;
    }
    let have = match installed {
        Some((a, b)) => format!("{} {a}.{b} is older than 10.0", qemu::QEMU),
        None => format!("{} is not installed", qemu::QEMU),
    };
    let sudo = |argv: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if privilege == Privilege::Sudo {
            v.extend(["sudo".to_string(), "-n".to_string()]);
        }
        v.extend(argv.iter().map(|s| s.to_string()));
        v
    };
    let manual_debian = |cmds: &str| {
        Plan::Manual(format!(
            "{have}, and installing needs root (run as root or with password-less sudo). Run:\n{cmds}"
        ))
    };
    if os.id == "debian" && os.codename == "bookworm" {
        let cmds = format!(
            "  echo '{BACKPORTS_LINE}' | sudo tee {BACKPORTS_FILE}\n  sudo apt-get update\n  sudo apt-get install -y -t bookworm-backports qemu-system-arm"
        );
        if privilege == Privilege::None {
            return manual_debian(&cmds);
        }
        return Plan::Install {
            add_backports: true,
            commands: vec![
                sudo(&["apt-get", "update"]),
                sudo(&[
                    "apt-get",
                    "install",
                    "-y",
                    "-t",
                    "bookworm-backports",
                    "qemu-system-arm",
                ]),
            ],
        };
    }
    let newer_debian = os.id == "debian"
        && (os.version_id.parse::<u32>().is_ok_and(|v| v >= 13)
            || matches!(os.codename.as_str(), "trixie" | "forky" | "duke" | "sid"));
    let good_candidate = is_debian_family(os) && candidate.is_some_and(|c| c >= MIN_VERSION);
    if newer_debian || good_candidate {
        if privilege == Privilege::None {
            return manual_debian(
                "  sudo apt-get update\n  sudo apt-get install -y qemu-system-arm",
            );
        }
        return Plan::Install {
            add_backports: false,
            commands: vec![
                sudo(&["apt-get", "update"]),
                sudo(&["apt-get", "install", "-y", "qemu-system-arm"]),
            ],
        };
    }
    let how = match os.id.as_str() {
        "debian" | "ubuntu" => format!(
            "this {} release ({}) has no qemu-system-arm >= 10.0 in its archive; \
             use Debian 12 with bookworm-backports, Debian 13 or newer, or build QEMU 10.0 from source \
             (https://www.qemu.org/download/) and put {} on PATH",
            os.id,
            if os.codename.is_empty() { &os.version_id } else { &os.codename },
            qemu::QEMU
        ),
        "fedora" => "run: sudo dnf install -y qemu-system-aarch64".to_string(),
        "arch" => "run: sudo pacman -S --needed qemu-system-aarch64".to_string(),
        "" if cfg!(target_os = "macos") => "run: brew install qemu".to_string(),
        _ => format!(
            "install QEMU >= 10.0 with your package manager (package usually `qemu-system-aarch64` or \
             `qemu-system-arm`) and make sure {} is on PATH",
            qemu::QEMU
        ),
    };
    Plan::Manual(format!("{have}; {how}"))
}

/// How this process can run commands as root.
pub fn privilege() -> Privilege {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() == Some("0") {
        return Privilege::Root;
    }
    let sudo_ok = Command::new("sudo")
        .args(["-n", "true"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if sudo_ok {
        Privilege::Sudo
    } else {
        Privilege::None
    }
}

fn apt_candidate() -> Option<(u32, u32)> {
    let out = Command::new("apt-cache")
        .args(["policy", "qemu-system-arm"])
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    candidate_from_policy(&String::from_utf8_lossy(&out.stdout))
}

/// Adds [`BACKPORTS_LINE`] to the apt sources unless bookworm-backports is
/// already listed.
pub fn add_backports(privilege: Privilege) -> Result<()> {
    let listed = std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain(std::iter::once(
            Path::new("/etc/apt/sources.list").to_path_buf(),
        ))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|t| {
            t.lines().any(|l| {
                let l = l.trim();
                (!l.starts_with('#') && l.contains("bookworm-backports"))
                    || l.starts_with("Suites:") && l.contains("bookworm-backports")
            })
        });
    if listed {
        eprintln!("xtask: bookworm-backports is already in the apt sources");
        return Ok(());
    }
    eprintln!("xtask: adding `{BACKPORTS_LINE}` to {BACKPORTS_FILE}");
    let content = format!("{BACKPORTS_LINE}\n");
    match privilege {
        Privilege::Root => {
            std::fs::write(BACKPORTS_FILE, content).map_err(io(format!("writing {BACKPORTS_FILE}")))
        }
        _ => {
            let mut child = Command::new("sudo")
                .args(["-n", "tee", BACKPORTS_FILE])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(io("starting `sudo -n tee`"))?;
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                stdin
                    .write_all(content.as_bytes())
                    .map_err(io(format!("writing {BACKPORTS_FILE} through sudo tee")))?;
            }
            let status = child.wait().map_err(io("waiting for `sudo -n tee`"))?;
            if status.success() {
                Ok(())
            } else {
                Err(Error::Command {
                    cmd: format!("sudo -n tee {BACKPORTS_FILE}"),
                    status: status.to_string(),
                })
            }
        }
    }
}

/// Prints what [`ensure`] would do on this machine, and what it would do if
/// QEMU were missing, without changing anything.
pub fn dry_run() {
    let installed = qemu::installed_version();
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let candidate = if is_debian_family(&os) {
        apt_candidate()
    } else {
        None
    };
    let privilege = privilege();
    eprintln!(
        "xtask: os {:?} {:?} (VERSION_ID {:?}), installed {installed:?}, apt candidate {candidate:?}, privilege {privilege:?}",
        os.id, os.codename, os.version_id
    );
    let show = |label: &str, p: Plan| match p {
        Plan::Nothing => eprintln!("xtask: {label}: nothing to do"),
        Plan::Manual(m) => eprintln!("xtask: {label}: stop with:\n{m}"),
        Plan::Install {
            add_backports,
            commands,
        } => {
            eprintln!("xtask: {label}:");
            if add_backports {
                eprintln!("  add `{BACKPORTS_LINE}` to {BACKPORTS_FILE} (unless already listed)");
            }
            for c in commands {
                eprintln!("  DEBIAN_FRONTEND=noninteractive {}", c.join(" "));
            }
        }
    };
    show("plan", plan(&os, installed, candidate, privilege));
    show(
        "plan if QEMU were missing",
        plan(&os, None, candidate, privilege),
    );
}

/// Ensures QEMU ≥ 10.0 is installed, installing it when possible.
pub fn ensure() -> Result<()> {
    let installed = qemu::installed_version();
    if installed.is_some_and(|v| v >= MIN_VERSION) {
        return Ok(());
    }
    if let Some(custom) = std::env::var_os("XTASK_QEMU") {
        return Err(Error::Tool(format!(
            "XTASK_QEMU={} is missing or older than 10.0 (version {installed:?}); \
             fix it or unset XTASK_QEMU to use {} from PATH",
            custom.to_string_lossy(),
            qemu::QEMU
        )));
    }
    let os = OsRelease::parse(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let candidate = if is_debian_family(&os) {
        apt_candidate()
    } else {
        None
    };
    let privilege = privilege();
    match plan(&os, installed, candidate, privilege) {
        Plan::Nothing => Ok(()),
        Plan::Manual(msg) => Err(Error::Tool(msg)),
        Plan::Install {
            add_backports: backports,
            commands,
        } => {
            eprintln!(
                "xtask: {} {}; installing QEMU from the distribution (this takes a few minutes)",
                qemu::QEMU,
                match installed {
                    Some((a, b)) => format!("is {a}.{b}, older than 10.0"),
                    None => "is not installed".into(),
                }
            );
            if backports {
                add_backports(privilege)?;
            }
            run_noninteractive(&commands)?;
            match qemu::installed_version() {
                Some(v) if v >= MIN_VERSION => {
                    eprintln!("xtask: installed {} {}.{}", qemu::QEMU, v.0, v.1);
                    Ok(())
                }
                other => Err(Error::Tool(format!(
                    "after installing, {} reports version {other:?}; need >= 10.0",
                    qemu::QEMU
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(text: &str) -> OsRelease {
        OsRelease::parse(text)
    }

    const BOOKWORM: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    const TRIXIE: &str = "VERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n";
    const NOBLE: &str = "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\n";

    #[test]
    fn parses_os_release() {
        let o = os(BOOKWORM);
        assert_eq!(
            (o.id.as_str(), o.codename.as_str(), o.version_id.as_str()),
            ("debian", "bookworm", "12")
        );
    }

    #[test]
    fn nothing_when_new_enough() {
        assert_eq!(
            plan(&os(BOOKWORM), Some((10, 0)), None, Privilege::None),
            Plan::Nothing
        );
        assert_eq!(
            plan(&os(""), Some((10, 1)), None, Privilege::None),
            Plan::Nothing
        );
    }

    #[test]
    fn bookworm_uses_backports() {
        match plan(&os(BOOKWORM), Some((7, 2)), Some((7, 2)), Privilege::Sudo) {
            Plan::Install {
                add_backports,
                commands,
            } => {
                assert!(add_backports);
                assert_eq!(commands[0], ["sudo", "-n", "apt-get", "update"]);
                assert_eq!(
                    commands[1],
                    [
                        "sudo",
                        "-n",
                        "apt-get",
                        "install",
                        "-y",
                        "-t",
                        "bookworm-backports",
                        "qemu-system-arm"
                    ]
                );
            }
            p => panic!("{p:?}"),
        }
        match plan(&os(BOOKWORM), None, None, Privilege::Root) {
            Plan::Install { commands, .. } => assert_eq!(commands[0], ["apt-get", "update"]),
            p => panic!("{p:?}"),
        }
        match plan(&os(BOOKWORM), None, None, Privilege::None) {
            Plan::Manual(m) => {
                assert!(m.contains("apt-get install -y -t bookworm-backports qemu-system-arm"))
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn trixie_and_good_ubuntu_install_plainly() {
        for (text, cand) in [(TRIXIE, None), (NOBLE, Some((10, 0)))] {
            match plan(&os(text), None, cand, Privilege::Root) {
                Plan::Install {
                    add_backports,
                    commands,
                } => {
                    assert!(!add_backports);
                    assert_eq!(commands[1], ["apt-get", "install", "-y", "qemu-system-arm"]);
                }
                p => panic!("{p:?}"),
            }
        }
    }

    #[test]
    fn old_ubuntu_and_others_get_instructions() {
        assert!(matches!(
            plan(&os(NOBLE), None, Some((8, 2)), Privilege::Root),
            Plan::Manual(_)
        ));
        match plan(&os("ID=fedora\n"), None, None, Privilege::Root) {
            Plan::Manual(m) => assert!(m.contains("dnf install -y qemu-system-aarch64")),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn deb_versions() {
        assert_eq!(
            parse_deb_version("1:10.0.2+ds-2+deb13u1~bpo12+1"),
            Some((10, 0))
        );
        assert_eq!(parse_deb_version("1:7.2+dfsg-7+deb12u7"), Some((7, 2)));
        assert_eq!(parse_deb_version("garbage"), None);
        assert_eq!(
            candidate_from_policy(
                "qemu-system-arm:\n  Installed: (none)\n  Candidate: 1:8.2.2+ds-0ubuntu1\n"
            ),
            Some((8, 2))
        );
        assert_eq!(candidate_from_policy("  Candidate: (none)\n"), None);
    }
}
