//! Running child commands: echo what runs on stderr, fail with the command
//! line when it fails, and locate the workspace and `cargo`.

use crate::error::{io, Error, Result};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR at run time too; fall back to the
    // build-time value.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

/// The `cargo` that runs us (so the pinned toolchain is used), or `cargo`.
pub fn cargo() -> Command {
    let exe = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(exe);
    c.current_dir(workspace_root());
    c
}

/// Cargo's target directory for the commands [`cargo`] runs:
/// `$CARGO_TARGET_DIR` when set (a relative one is relative to the
/// workspace root, where those commands run), else `target/` in the
/// workspace.  Where the image's ELF is built, so a lab that points cargo
/// elsewhere never packages a stale image left in `target/`.
pub fn cargo_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace_root().join(PathBuf::from(d)),
        _ => workspace_root().join("target"),
    }
}

/// The command line as a copy-pasteable string.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s
}

fn quote(a: &OsStr) -> String {
    let a = a.to_string_lossy();
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
    {
        a.into_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Runs `cmd` with inherited stdout/stderr and no stdin, announcing it on
/// stderr; fails if it does not exit 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    eprintln!("xtask: running {line}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(io(format!("cannot start `{line}`")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            cmd: line,
            status: status.to_string(),
        })
    }
}

/// Runs `cmd` with its output captured, saying nothing unless it fails:
/// then the error carries the command line and what it printed.  For
/// commands run while other stages print (the parallel QEMU matrix).
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot start `{line}`")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            cmd: format!(
                "{line}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            status: out.status.to_string(),
        })
    }
}

/// Runs `cmd` with stdout and stderr merged into `log` (in the order the
/// command wrote them), announcing it there first; fails if it does not
/// exit 0.  For stages that run while others print (`cargo xtask test`).
pub fn run_logged(cmd: &mut Command, log: &mut String) -> Result<()> {
    use std::io::Read;
    let line = display(cmd);
    log.push_str(&format!("xtask: running {line}\n"));
    let (mut reader, writer) = std::io::pipe().map_err(io("creating a pipe"))?;
    let writer2 = writer.try_clone().map_err(io("creating a pipe"))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .spawn()
        .map_err(io(format!("cannot start `{line}`")))?;
    // `cmd` still holds our copies of the pipe's write end: replace them,
    // so the read ends when the child (and any grandchild holding the pipe)
    // is done.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut bytes = Vec::new();
    let read = reader.read_to_end(&mut bytes);
    let status = child.wait().map_err(io(format!("waiting for `{line}`")))?;
    log.push_str(&String::from_utf8_lossy(&bytes));
    read.map_err(io(format!("reading the output of `{line}`")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            cmd: line,
            status: status.to_string(),
        })
    }
}

/// Runs `cmd` and returns its stdout (stderr inherited); fails if it does not exit 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(io(format!("cannot start `{line}`")))?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: line,
            status: out.status.to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_needs_it() {
        let mut c = Command::new("qemu");
        c.args(["-M", "virt,iommu=smmuv3", "-append", "a b", "it's"]);
        assert_eq!(
            display(&c),
            "qemu -M virt,iommu=smmuv3 -append 'a b' 'it'\\''s'"
        );
    }

    #[test]
    fn logged_runs_keep_both_streams_in_order_and_fail_by_status() {
        let mut log = String::new();
        run_logged(
            Command::new("sh").args(["-c", "echo out1; echo err1 >&2; echo out2"]),
            &mut log,
        )
        .unwrap();
        assert!(log.starts_with("xtask: running sh -c "), "{log}");
        assert!(log.ends_with("out1\nerr1\nout2\n"), "{log}");
        let mut log = String::new();
        let e = run_logged(
            Command::new("sh").args(["-c", "echo bad; exit 3"]),
            &mut log,
        );
        assert!(matches!(e, Err(Error::Command { .. })), "{e:?}");
        assert!(log.ends_with("bad\n"), "{log}");
    }

    #[test]
    fn root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("tools/xtask/Cargo.toml").is_file());
    }
}
