//! Making sure the pinned Rust toolchain has what `rust-toolchain.toml` lists
//! (the `aarch64-unknown-none` target, `rustfmt`, `clippy`, `llvm-tools`)
//! before anything builds, installing what is missing with rustup.
//!
//! rustup installs these by itself only while it auto-installs; with
//! `RUSTUP_AUTO_INSTALL=0` (or an older rustup, or a toolchain installed by
//! hand) a missing target shows up as "can't find crate for `core`" in every
//! stage that builds the image.  So xtask reads the channel, targets and
//! components from `rust-toolchain.toml`, asks rustup what is installed for
//! that channel (`--toolchain <channel>`, never the ambient default) and adds
//! the rest, saying what it does.
//!
//! As in [`crate::install`], the decision ([`plan`]) is a pure function of
//! the file and rustup's listings, so it is unit-tested; only [`ensure`]
//! touches the machine.  `.ci/run` does the one step xtask cannot: installing
//! the toolchain itself, without which `cargo` does not start.

use crate::error::{io, Error, Result};
use crate::process;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// The toolchain file, relative to the workspace root.
pub const FILE: &str = "rust-toolchain.toml";

/// The `[toolchain]` table of `rust-toolchain.toml`, as far as we use it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// `channel` (`1.95.0`, `stable`, `nightly-2026-01-01`).
    pub channel: String,
    /// `components` (`rustfmt`, `clippy`, `llvm-tools`).
    pub components: Vec<String>,
    /// `targets` (`aarch64-unknown-none`).
    pub targets: Vec<String>,
    /// `profile` (`minimal`), used when the whole toolchain is installed.
    pub profile: Option<String>,
}

/// Strips a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A TOML basic or literal string without escapes (all this file needs).
fn string(v: &str) -> std::result::Result<String, String> {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(s) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            if !s.contains(q) && !s.contains('\\') {
                return Ok(s.to_string());
            }
        }
    }
    Err(format!("`{v}` is not a simple quoted string"))
}

/// A one-level array of strings: `["a", "b"]`.
fn strings(v: &str) -> std::result::Result<Vec<String>, String> {
    let inner = v
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("`{}` is not an array", v.trim()))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(string)
        .collect()
}

/// Parses the `[toolchain]` table of `rust-toolchain.toml`: `key = "string"`
/// and `key = ["string", …]` (arrays may span lines), `#` comments.  Keys
/// we do not use are ignored; other tables are skipped.
pub fn parse(text: &str) -> std::result::Result<Spec, String> {
    let mut spec = Spec::default();
    let mut in_toolchain = false;
    let mut channel = None;
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && !line.contains('=') {
            in_toolchain = line == "[toolchain]";
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `key = value`", n + 1))?;
        let mut value = value.trim().to_string();
        if value.starts_with('[') {
            // Arrays may continue over several lines until the `]`.
            while !value.ends_with(']') {
                let (_, more) = lines
                    .next()
                    .ok_or_else(|| format!("line {}: unterminated array", n + 1))?;
                value.push(' ');
                value.push_str(strip_comment(more).trim());
            }
        }
        if !in_toolchain {
            continue;
        }
        let at = |e: String| format!("line {}: {}: {e}", n + 1, key.trim());
        match key.trim() {
            "channel" => channel = Some(string(&value).map_err(at)?),
            "components" => spec.components = strings(&value).map_err(at)?,
            "targets" => spec.targets = strings(&value).map_err(at)?,
            "profile" => spec.profile = Some(string(&value).map_err(at)?),
            _ => {}
        }
    }
    spec.channel = channel.ok_or("no `channel` in a `[toolchain]` table")?;
    if spec.channel.is_empty() {
        return Err("`channel` is empty".into());
    }
    Ok(spec)
}

/// Reads and parses the workspace's `rust-toolchain.toml`.
pub fn spec() -> Result<Spec> {
    let path = process::workspace_root().join(FILE);
    let text = std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
    parse(&text).map_err(|e| Error::Tool(format!("{FILE}: {e}")))
}

/// Whether `rustup toolchain list` output names `channel`
/// (`1.95.0-x86_64-unknown-linux-gnu (active)` for `1.95.0`).
pub fn toolchain_listed(list: &str, channel: &str) -> bool {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|name| {
            name == channel
                || name
                    .strip_prefix(channel)
                    .is_some_and(|rest| rest.starts_with('-') && rest.matches('-').count() >= 2)
        })
}

/// The host triple, from `rustup component list --installed` output (the
/// `rustc-<host>` line every toolchain has).
pub fn host_from_components(list: &str) -> Option<&str> {
    list.lines().find_map(|l| l.trim().strip_prefix("rustc-"))
}

/// `llvm-tools-preview` and `llvm-tools` are one component (rustup renamed
/// the `-preview` ones); compare without the suffix.
fn base(component: &str) -> &str {
    component.strip_suffix("-preview").unwrap_or(component)
}

/// Whether `component` is in `rustup component list --installed` output,
/// which names host components `<name>-<host>` (`clippy-x86_64-unknown-linux-gnu`,
/// sometimes `llvm-tools-preview-<host>`) and target-independent ones bare
/// (`rust-src`).
pub fn has_component(list: &str, component: &str) -> bool {
    let want = base(component);
    let host = host_from_components(list);
    list.lines().map(str::trim).any(|l| {
        let name = match host.and_then(|h| l.strip_suffix(h)) {
            Some(n) => n.strip_suffix('-').unwrap_or(n),
            None => l,
        };
        base(name) == want
    })
}

/// One thing to do: why, and the rustup command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The message printed before running it.
    pub why: String,
    /// `rustup …` argv.
    pub argv: Vec<String>,
}

/// What to run.  `toolchains` is `rustup toolchain list` output;
/// `targets` / `components` are the `--installed` listings for the channel
/// (ignored when the toolchain is not listed).
pub fn plan(spec: &Spec, toolchains: &str, targets: &str, components: &str) -> Vec<Step> {
    let ch = &spec.channel;
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if !toolchain_listed(toolchains, ch) {
        let mut argv = own(&["rustup", "toolchain", "install", ch]);
        if let Some(p) = &spec.profile {
            argv.extend(own(&["--profile", p]));
        }
        for c in &spec.components {
            argv.extend(own(&["--component", c]));
        }
        for t in &spec.targets {
            argv.extend(own(&["--target", t]));
        }
        return vec![Step {
            why: format!("toolchain {ch} (from {FILE}) is not installed"),
            argv,
        }];
    }
    let mut steps = Vec::new();
    let missing_targets: Vec<&str> = spec
        .targets
        .iter()
        .map(String::as_str)
        .filter(|t| !targets.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing_targets.is_empty() {
        let mut argv = own(&["rustup", "target", "add", "--toolchain", ch]);
        argv.extend(own(&missing_targets));
        steps.push(Step {
            why: format!(
                "{} target{} missing for toolchain {ch}",
                missing_targets.join(", "),
                if missing_targets.len() > 1 { "s" } else { "" }
            ),
            argv,
        });
    }
    let missing_components: Vec<&str> = spec
        .components
        .iter()
        .map(String::as_str)
        .filter(|c| !has_component(components, c))
        .collect();
    if !missing_components.is_empty() {
        let mut argv = own(&["rustup", "component", "add", "--toolchain", ch]);
        argv.extend(own(&missing_components));
        steps.push(Step {
            why: format!(
                "{} component{} missing for toolchain {ch}",
                missing_components.join(", "),
                if missing_components.len() > 1 {
                    "s"
                } else {
                    ""
                }
            ),
            argv,
        });
    }
    steps
}

/// Runs `rustup ARGS` quietly; its stdout, or its stderr as the error.
fn rustup(args: &[&str]) -> std::result::Result<String, String> {
    let out = Command::new("rustup")
        .args(args)
        .current_dir(process::workspace_root())
        // rustup prints a Rust backtrace with its errors when this is set.
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "rustup is not on PATH".to_string(),
            _ => e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().next().unwrap_or("").trim().to_string())
    }
}

fn what_we_need(spec: &Spec) -> String {
    format!(
        "toolchain {} with target(s) {} and component(s) {} ({FILE})",
        spec.channel,
        spec.targets.join(", "),
        spec.components.join(", ")
    )
}

/// Set once [`ensure`] has succeeded in this process.
static DONE: AtomicBool = AtomicBool::new(false);

/// Makes sure the toolchain pinned in `rust-toolchain.toml` has its targets
/// and components, installing what is missing with rustup.  Cheap after the
/// first success in a process.
pub fn ensure() -> Result<()> {
    if DONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let spec = spec()?;
    let toolchains = match rustup(&["toolchain", "list"]) {
        Ok(list) => list,
        Err(e) => {
            return Err(Error::Tool(format!(
                "cannot run `rustup toolchain list` ({e}): xtask needs rustup to provide {}; \
                 install rustup from https://rustup.rs and retry",
                what_we_need(&spec)
            )))
        }
    };
    let ch = spec.channel.as_str();
    let list = |what: &str| -> Result<String> {
        rustup(&[what, "list", "--installed", "--toolchain", ch]).map_err(|e| {
            Error::Tool(format!(
                "`rustup {what} list --installed --toolchain {ch}` failed: {e}"
            ))
        })
    };
    let (targets, components) = if toolchain_listed(&toolchains, ch) {
        (list("target")?, list("component")?)
    } else {
        (String::new(), String::new())
    };
    for step in plan(&spec, &toolchains, &targets, &components) {
        // process::run prints the command line next.
        eprintln!("xtask: {}; installing with rustup", step.why);
        let (prog, args) = step.argv.split_first().expect("rustup argv");
        process::run(
            Command::new(prog)
                .args(args)
                .current_dir(process::workspace_root()),
        )?;
    }
    // Check rather than trust: rustup may have succeeded without the result.
    let toolchains = rustup(&["toolchain", "list"]).unwrap_or_default();
    let left = plan(
        &spec,
        &toolchains,
        &list("target").unwrap_or_default(),
        &list("component").unwrap_or_default(),
    );
    if let Some(step) = left.first() {
        return Err(Error::Tool(format!(
            "after installing, {} (need {})",
            step.why,
            what_we_need(&spec)
        )));
    }
    DONE.store(true, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "# Pinned so every machine builds the same image.\n\
        [toolchain]\n\
        channel = \"1.95.0\"\n\
        components = [\"rustfmt\", \"clippy\", \"llvm-tools\"]\n\
        targets = [\"aarch64-unknown-none\"]\n\
        profile = \"minimal\"\n";

    const HOST: &str = "x86_64-unknown-linux-gnu";

    fn spec_of(text: &str) -> Spec {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn components(names: &[&str]) -> String {
        let mut s = format!("cargo-{HOST}\nrustc-{HOST}\nrust-std-{HOST}\n");
        for n in names {
            s.push_str(&format!("{n}-{HOST}\n"));
        }
        s
    }

    const LISTED: &str = "stable-x86_64-unknown-linux-gnu (default)\n\
        1.95.0-x86_64-unknown-linux-gnu (active)\n";

    #[test]
    fn parses_our_file() {
        let s = spec_of(OURS);
        assert_eq!(s.channel, "1.95.0");
        assert_eq!(s.components, ["rustfmt", "clippy", "llvm-tools"]);
        assert_eq!(s.targets, ["aarch64-unknown-none"]);
        assert_eq!(s.profile.as_deref(), Some("minimal"));
    }

    #[test]
    fn the_repository_file_parses_and_pins_what_we_build_with() {
        let text = std::fs::read_to_string(process::workspace_root().join(FILE)).unwrap();
        let s = spec_of(&text);
        assert!(!s.channel.is_empty());
        assert!(s.targets.iter().any(|t| t == crate::image::TARGET));
        for c in ["rustfmt", "clippy", "llvm-tools"] {
            assert!(s.components.iter().any(|x| base(x) == c), "{c}");
        }
    }

    #[test]
    fn parses_comments_quotes_multiline_arrays_and_other_tables() {
        let s = spec_of(
            "[other]\nchannel = \"nope\"\n\n[toolchain] # pinned\n\
             channel = 'nightly-2026-01-01' # a date\n\
             targets = [\n  \"aarch64-unknown-none\", # bare metal\n  'thumbv7em-none-eabihf',\n]\n",
        );
        assert_eq!(s.channel, "nightly-2026-01-01");
        assert_eq!(s.targets, ["aarch64-unknown-none", "thumbv7em-none-eabihf"]);
        assert!(s.components.is_empty());
        assert_eq!(s.profile, None);
        assert_eq!(spec_of("[toolchain]\nchannel=\"a#b\"\n").channel, "a#b");
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse("[toolchain]\ncomponents = [\"x\"]\n").is_err());
        assert!(parse("channel = \"1.95.0\"\n").is_err());
        assert!(parse("[toolchain]\nchannel = 1.95\n").is_err());
        assert!(parse("[toolchain]\nchannel = \"1\"\ntargets = [\"a\"\n").is_err());
        assert!(parse("[toolchain]\nchannel\n").is_err());
    }

    #[test]
    fn recognises_listed_toolchains() {
        assert!(toolchain_listed(LISTED, "1.95.0"));
        assert!(toolchain_listed(LISTED, "stable"));
        assert!(!toolchain_listed(LISTED, "1.95"));
        assert!(!toolchain_listed(LISTED, "nightly"));
        assert!(toolchain_listed("my-custom\n", "my-custom"));
        assert!(!toolchain_listed("no installed toolchains\n", "1.95.0"));
    }

    #[test]
    fn reads_installed_components() {
        let list = components(&["clippy", "llvm-tools-preview"]) + "rust-src\n";
        assert_eq!(host_from_components(&list), Some(HOST));
        assert!(has_component(&list, "clippy"));
        assert!(has_component(&list, "llvm-tools"));
        assert!(has_component(&list, "llvm-tools-preview"));
        assert!(has_component(&list, "rust-src"));
        assert!(!has_component(&list, "rustfmt"));
        assert!(!has_component(&list, "rust"));
        assert!(!has_component(&list, "llvm"));
        // rust-std for another target is not a host component.
        assert!(!has_component(
            &(list + "rust-std-aarch64-unknown-none\n"),
            "rust-std-aarch"
        ));
    }

    #[test]
    fn nothing_to_do_when_all_is_there() {
        let s = spec_of(OURS);
        let targets = format!("aarch64-unknown-none\n{HOST}\n");
        let comps = components(&["rustfmt", "clippy", "llvm-tools"]);
        assert_eq!(plan(&s, LISTED, &targets, &comps), []);
    }

    #[test]
    fn adds_missing_target_and_components_for_the_pinned_channel() {
        let s = spec_of(OURS);
        let steps = plan(&s, LISTED, &format!("{HOST}\n"), &components(&["rustfmt"]));
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0].argv,
            [
                "rustup",
                "target",
                "add",
                "--toolchain",
                "1.95.0",
                "aarch64-unknown-none"
            ]
        );
        assert_eq!(
            steps[0].why,
            "aarch64-unknown-none target missing for toolchain 1.95.0"
        );
        assert_eq!(
            steps[1].argv,
            [
                "rustup",
                "component",
                "add",
                "--toolchain",
                "1.95.0",
                "clippy",
                "llvm-tools"
            ]
        );
        assert_eq!(
            steps[1].why,
            "clippy, llvm-tools components missing for toolchain 1.95.0"
        );
    }

    #[test]
    fn installs_the_whole_toolchain_when_it_is_absent() {
        let s = spec_of(OURS);
        let steps = plan(&s, "stable-x86_64-unknown-linux-gnu (default)\n", "", "");
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].argv.join(" "),
            "rustup toolchain install 1.95.0 --profile minimal --component rustfmt \
             --component clippy --component llvm-tools --target aarch64-unknown-none"
        );
    }
}
