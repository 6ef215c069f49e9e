//! No source or doc file names a path outside the repository.
//!
//! The team's research notes (the `hw/*.md` sheets, `DESIGN.md`) live
//! outside the repository; a comment or doc that cites them sends a reader
//! to a file they do not have.  The facts the code relies on are in
//! `docs/hw/` (each with its primary source) and the design rules in
//! `docs/design.md`.  This test fails on any citation that still points outside.

use std::fs;
use std::path::{Path, PathBuf};

/// Note files that only exist outside the repository: any mention is an
/// outside reference.
const OUTSIDE_ONLY: &[&str] = &[
    "smmu.md",
    "sun50i-dart.md",
    "sun50i-manual.md",
    "smmuv2-architecture.md",
    "dart-asahi.md",
    "DESIGN.md",
    "anchors.md",
    "test-suite-landscape.md",
];

/// Note files that have a page of the same name in `docs/hw/`: a mention
/// must be that page's path.
const MIRRORED: &[&str] = &["qemu-virt.md", "boards.md"];

/// Path fragments that only lead outside.
const OUTSIDE_PATHS: &[&str] = &["/work/shared", "../shared/", "shared/hw/", "shared/style/"];

/// Where the scan looks, from the repository root.
const ROOTS: &[&str] = &[
    "src",
    "tools",
    "tests",
    "benches",
    "docs",
    "boards",
    "fuzz",
    "README.md",
    ".ci",
    ".cargo",
    "linker.ld",
    "Cargo.toml",
    "rust-toolchain.toml",
];

/// Files that name the outside notes on purpose: this test.
const EXEMPT: &[&str] = &["tests/citations.rs"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else {
        if dir.is_file() {
            out.push(dir.to_path_buf());
        }
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') && name != ".ci" {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Outside references in `text`, as (line number, line).
fn outside_refs(text: &str, in_docs_hw: bool) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |needle: &str, allowed_prefix: Option<&str>| {
            line.match_indices(needle).any(|(at, _)| {
                let before = &line[..at];
                let glued = before
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
                let allowed = allowed_prefix.is_some_and(|p| before.ends_with(p));
                !glued && !allowed
            })
        };
        let hit = OUTSIDE_ONLY.iter().any(|n| bad(n, None))
            || (!in_docs_hw && MIRRORED.iter().any(|n| bad(n, Some("docs/hw/"))))
            || OUTSIDE_PATHS.iter().any(|p| line.contains(p));
        if hit {
            found.push((i + 1, line.to_string()));
        }
    }
    found
}

#[test]
fn the_checker_sees_outside_references_and_lets_our_pages_through() {
    assert_eq!(outside_refs("// see smmu.md C.6.2", false).len(), 1);
    assert_eq!(outside_refs("// (hw/qemu-virt.md §1.4)", false).len(), 1);
    assert_eq!(outside_refs("read ../shared/DESIGN.md", false).len(), 1);
    assert!(outside_refs("// docs/hw/qemu-virt.md §1.4", false).is_empty());
    assert!(outside_refs("// docs/hw/smmuv3.md §4 and docs/design.md §3", false).is_empty());
    assert!(outside_refs("boards/db845c/README.md", false).is_empty());
}

#[test]
fn no_file_cites_a_path_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for r in ROOTS {
        walk(&root.join(r), &mut files);
    }
    let mut problems = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if EXEMPT.contains(&rel.as_str()) {
            continue;
        }
        let Ok(text) = fs::read_to_string(f) else {
            continue; // binary fixtures
        };
        // Pages in docs/hw link their siblings by bare name.
        for (n, line) in outside_refs(&text, rel.starts_with("docs/hw/")) {
            problems.push(format!("{rel}:{n}: {}", line.trim()));
        }
    }
    assert!(
        problems.is_empty(),
        "{} line(s) cite files outside the repository (use docs/hw/ or docs/design.md; \
         the pages say where each fact comes from):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
