//! `cargo xtask dt-probe FILE.dtb [--json]`: what the image would see in a
//! DTB, computed by the image's own discovery code
//! (`iommu_bringup::platform::dt::report`), printed as text or JSON.

use crate::error::{io, Error, Result};
use std::path::{Path, PathBuf};

/// Parsed `dt-probe` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// The DTB to read.
    pub file: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
}

/// Parses the arguments after `dt-probe`.
pub fn parse(args: &[String]) -> Result<Args> {
    let mut file = None;
    let mut json = false;
    for a in args {
        match a.as_str() {
            "--json" => json = true,
            s if s.starts_with('-') => {
                return Err(Error::Usage(format!("dt-probe: unknown option `{s}`")))
            }
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => {
                return Err(Error::Usage(format!(
                    "dt-probe: one file only (extra `{s}`)"
                )))
            }
        }
    }
    let file = file.ok_or_else(|| Error::Usage("dt-probe needs a FILE.dtb".into()))?;
    Ok(Args { file, json })
}

/// The report for the DTB at `path`, rendered; a clear error for a file
/// that cannot be read or a blob discovery rejects.
pub fn render(path: &Path, json: bool) -> Result<String> {
    let blob = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
    let r = iommu_bringup::selftest::families::dt_probe(&blob)
        .map_err(|e| Error::Run(format!("{}: discovery failed: {e}", path.display())))?;
    Ok(if json {
        let mut s = r.to_json();
        s.push('\n');
        s
    } else {
        r.to_text()
    })
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    print!("{}", render(&a.file, a.json)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&v(&["a.dtb", "--json"])).ok(),
            Some(Args {
                file: "a.dtb".into(),
                json: true
            })
        );
        assert!(matches!(parse(&v(&[])), Err(Error::Usage(_))));
        assert!(matches!(parse(&v(&["a", "b"])), Err(Error::Usage(_))));
        assert!(matches!(parse(&v(&["--yaml"])), Err(Error::Usage(_))));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("dtprobe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.dtb");
        let e = render(&missing, false).unwrap_err().to_string();
        assert!(e.contains("missing.dtb"), "{e}");
        let junk = dir.join("junk.dtb");
        std::fs::write(&junk, b"this is not a device tree blob at all, no").unwrap();
        let e = render(&junk, true).unwrap_err().to_string();
        assert!(
            e.contains("junk.dtb: discovery failed: device tree:"),
            "{e}"
        );
        let empty = dir.join("empty.dtb");
        std::fs::write(&empty, b"").unwrap();
        assert!(render(&empty, false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
