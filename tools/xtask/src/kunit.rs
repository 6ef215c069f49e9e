//! A second judge: the Linux kernel's own KTAP parser
//! (`tools/testing/kunit/kunit_parser.py`), run through
//! `tools/kunit_check.py` on each scenario's console log, so "it parses with
//! the kernel's parser" (docs/design.md §6) is checked, not assumed.
//!
//! The parser is not vendored.  It is found in `$KUNIT_DIR`, or in the cache
//! `target/kunit/`, or extracted once from Debian's `linux-source-X.Y`
//! package (`$KUNIT_DEB` names an already downloaded `.deb`; otherwise
//! `apt-get download` fetches the newest one apt knows, ~150 MB).

use crate::error::{io, Error, Result};
use crate::process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FILES: [&str; 2] = ["kunit_parser.py", "kunit_printer.py"];

fn has_parser(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

/// Picks the newest `linux-source-X.Y` from `apt-cache search` output.
pub fn newest_source_package(search: &str) -> Option<String> {
    search
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            let v = name.strip_prefix("linux-source-")?;
            let mut it = v.split('.');
            let major: u32 = it.next()?.parse().ok()?;
            let minor: u32 = it.next()?.parse().ok()?;
            Some(((major, minor), name.to_string()))
        })
        .max()
        .map(|(_, n)| n)
}

/// The directory holding the kernel's parser, fetching it when needed.
pub fn parser_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("KUNIT_DIR") {
        let d = PathBuf::from(d);
        return if has_parser(&d) {
            Ok(d)
        } else {
            Err(Error::Tool(format!(
                "KUNIT_DIR={} does not hold {} and {}",
                d.display(),
                FILES[0],
                FILES[1]
            )))
        };
    }
    let cache = process::workspace_root().join("target/kunit");
    if has_parser(&cache) {
        return Ok(cache);
    }
    std::fs::create_dir_all(&cache).map_err(io(format!("creating {}", cache.display())))?;
    let (deb, downloaded) = match std::env::var_os("KUNIT_DEB") {
        Some(d) => (PathBuf::from(d), false),
        None => (download(&cache)?, true),
    };
    eprintln!(
        "xtask: extracting the kernel's KTAP parser from {} into {} (once; takes a minute)",
        deb.display(),
        cache.display()
    );
    let script = "set -e; dpkg-deb --fsys-tarfile \"$1\" \
        | tar -xOf - --wildcards './usr/src/linux-source-*.tar.xz' \
        | tar -xJf - -C \"$2\" --wildcards --strip-components=4 \
          '*/tools/testing/kunit/kunit_parser.py' '*/tools/testing/kunit/kunit_printer.py'";
    let r = process::run(
        Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&deb)
            .arg(&cache),
    );
    if downloaded {
        let _ = std::fs::remove_file(&deb);
    }
    r?;
    if has_parser(&cache) {
        Ok(cache)
    } else {
        Err(Error::Tool(format!(
            "{} did not contain tools/testing/kunit/{{{},{}}}",
            deb.display(),
            FILES[0],
            FILES[1]
        )))
    }
}

fn download(dir: &Path) -> Result<PathBuf> {
    let search = process::output(Command::new("apt-cache").args([
        "search",
        "--names-only",
        "^linux-source-[0-9.]+$",
    ]))
    .map_err(|e| {
        Error::Tool(format!(
            "cannot look for Debian's linux-source package: {e}"
        ))
    })?;
    let pkg = newest_source_package(&search).ok_or_else(|| {
        Error::Tool(
            "apt knows no linux-source-X.Y package; set KUNIT_DIR to a kernel tree's \
             tools/testing/kunit or run `apt-get update`"
                .into(),
        )
    })?;
    eprintln!("xtask: downloading {pkg} (~150 MB, once) for the kernel's KTAP parser");
    process::run(
        Command::new("apt-get")
            .args(["download", "-q", &pkg])
            .current_dir(dir)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let deb = std::fs::read_dir(dir)
        .map_err(io(format!("listing {}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{pkg}_")) && n.ends_with(".deb"))
        })
        .ok_or_else(|| Error::Tool(format!("apt-get download {pkg} left no .deb")))?;
    Ok(deb)
}

/// Runs the kernel's parser on `log`; it must report no parse errors and an
/// overall status of SUCCESS (`expect_success`) or FAILURE.  Returns the
/// parser's summary line; on a disagreement the error carries all it said.
pub fn check(dir: &Path, log: &Path, expect_success: bool) -> Result<String> {
    let script = process::workspace_root().join("tools/kunit_check.py");
    let want = if expect_success { "SUCCESS" } else { "FAILURE" };
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(dir).arg(log).arg(want);
    let line = process::display(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot start `{line}`")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text
        .lines()
        .rev()
        .find(|l| l.starts_with("kernel KTAP parser:"))
        .unwrap_or("")
        .to_string();
    if out.status.success() {
        Ok(format!("xtask: {summary} (wanted {want})"))
    } else {
        let said: String = text.lines().map(|l| format!("\n  kunit| {l}")).collect();
        Err(Error::Run(format!(
            "the kernel's KTAP parser disagrees (wanted {want}): {summary}\n  command: {line}{said}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_source_package() {
        let s = "linux-source-6.1 - Linux kernel source for version 6.1 with Debian patches\n\
                 linux-source-6.12 - Linux kernel source for version 6.12 with Debian patches\n\
                 linux-source-6.9 - old\n";
        assert_eq!(
            newest_source_package(s).as_deref(),
            Some("linux-source-6.12")
        );
        assert_eq!(newest_source_package(""), None);
        assert_eq!(newest_source_package("linux-source - meta\n"), None);
    }
}
