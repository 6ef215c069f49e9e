//! Keeps the layering of docs/architecture.md ("Layers") true: no module may
//! import a layer above its own.
//!
//! The rule this test enforces:
//!
//! - Every file under `src/` belongs to the layer named by its first path
//!   component (`src/iommu/pgtable/walker.rs` is `iommu`, `src/mmio.rs` and
//!   `src/mmio/field.rs` are `mmio`).  `src/lib.rs` and `src/main.rs` are the
//!   crate root, above every layer, and are not checked.
//! - A reference to another layer is `crate::X` in code (`use crate::X…`,
//!   `use crate::{X, …}`, a `crate::X::…` path), a `super::…` chain that
//!   climbs out of the file's layer to `X`, or one of a layer's exported
//!   macros (`kprint!`, `kprintln!` belong to `platform`).  Comments (doc
//!   links included) are not references: they build no dependency.
//! - A layer may use its own layer, layers below it and layers of the same
//!   rank (`mmio` and `time` share one); never a layer above it.
//! - Test scaffolding may import upward: code compiled only for tests, which
//!   is (a) an item under `#[cfg(test)]` (an inline `mod tests { … }`, a
//!   `use`, a function), and (b) a whole file its parent declares under
//!   `#[cfg(test)]` (`#[cfg(test)] mod tests;`, `mod model;`, `mod
//!   adapter_tests;` …) together with every file below it.  Being named
//!   `tests.rs` or `model.rs` is not enough: a model compiled into the
//!   library (`src/mmio/model.rs`) is production code and follows the rule.
//!
//! Not covered: `#[path]` module attributes and macros other than the ones
//! listed (the crate has none that reach another layer today).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// docs/architecture.md "Layers", bottom first: (layer, rank).  Equal ranks
/// may use each other.
const LAYERS: &[(&str, u32)] = &[
    ("arch", 0),
    ("mmio", 1),
    ("time", 1),
    ("mm", 2),
    ("platform", 3),
    ("virtio", 4),
    ("dma", 5),
    ("iommu", 6),
    ("selftest", 7),
    ("testkit", 7),
    ("boot", 8),
];

/// `#[macro_export]` macros, which live at the crate root, and their layer.
const MACROS: &[(&str, &str)] = &[("kprint", "platform"), ("kprintln", "platform")];

fn rank(layer: &str) -> Option<u32> {
    LAYERS.iter().find(|(l, _)| *l == layer).map(|(_, r)| *r)
}

/// One upward reference.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Removes `//` and `/* */` comments, keeping line breaks so line numbers
/// stay right.  String literals are left alone (a layer name in a string is
/// reported; none exists).
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut block = 0usize;
    while i < b.len() {
        if block > 0 {
            if b[i..].starts_with(b"*/") {
                block -= 1;
                i += 2;
            } else if b[i..].starts_with(b"/*") {
                block += 1;
                i += 2;
            } else {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            block += 1;
            i += 2;
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Blanks every item under a bare `#[cfg(test)]` (the attribute and the item
/// up to its `;` or its matching `}`), keeping line breaks.
fn strip_cfg_test(code: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(ATTR) {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let mut depth = 0i32;
        let mut end = item.len();
        for (i, c) in item.char_indices().skip(ATTR.len()) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The file's module path: `src/iommu/pgtable/walker.rs` → iommu, pgtable,
/// walker; `mod.rs` names its directory.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The top-level names in `{a, b::c, d::{e}}` at the start of `s`.
fn group_heads(s: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if expect && depth == 1 && is_ident(c) => {
                heads.push(ident(&s[i..]));
                expect = false;
            }
            c if depth == 1 && !c.is_whitespace() => expect = false,
            _ => {}
        }
    }
    heads
}

/// Every layer `code` (comments and `#[cfg(test)]` items removed) names, with
/// its line number.
fn references(code: &str, module: &[String]) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let lineno = n + 1;
        let mut push = |name: &str| refs.push((lineno, name.to_string()));
        for (i, _) in line.match_indices("crate::") {
            // Not `$crate::` or `some_crate::`.
            if line[..i].ends_with(|c: char| is_ident(c) || c == '$') {
                continue;
            }
            let after = &line[i + "crate::".len()..];
            if after.starts_with('{') {
                group_heads(after).into_iter().for_each(&mut push);
            } else {
                push(ident(after));
            }
        }
        for (i, _) in line.match_indices("super::") {
            if line[..i].ends_with(|c: char| is_ident(c) || c == ':') {
                continue; // the inner part of a chain already handled
            }
            let mut rest = &line[i..];
            let mut ups = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            if ups == module.len() {
                if rest.starts_with('{') {
                    group_heads(rest).into_iter().for_each(&mut push);
                } else {
                    push(ident(rest));
                }
            }
        }
        for (name, layer) in MACROS {
            let call = format!("{name}!");
            for (i, _) in line.match_indices(&call) {
                if !line[..i].ends_with(is_ident) {
                    push(layer);
                }
            }
        }
    }
    refs
}

/// The files under `dir`, recursively, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Module paths (as in [`module_path`]) declared under `#[cfg(test)]` as
/// out-of-line modules (`#[cfg(test)] mod x;`).
fn cfg_test_modules(files: &[(Vec<String>, String)]) -> BTreeSet<Vec<String>> {
    let mut set = BTreeSet::new();
    for (module, code) in files {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            let item = rest[at + "#[cfg(test)]".len()..].trim_start();
            let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
            let item = item.strip_prefix("pub ").unwrap_or(item);
            if let Some(m) = item.strip_prefix("mod ") {
                let name = ident(m);
                if m[name.len()..].trim_start().starts_with(';') {
                    let mut path = module.clone();
                    path.push(name.to_string());
                    set.insert(path);
                }
            }
            rest = &rest[at + 1..];
        }
    }
    set
}

/// Checks every file under `root` (a copy of `src/`) and returns the upward
/// references.
fn violations(root: &Path) -> Vec<Violation> {
    let mut paths = Vec::new();
    rust_files(root, &mut paths);
    let files: Vec<(PathBuf, Vec<String>, String)> = paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let module = module_path(&rel);
            let src = fs::read_to_string(&p).unwrap();
            (rel, module, strip_comments(&src))
        })
        .collect();
    let test_only = cfg_test_modules(
        &files
            .iter()
            .map(|(_, m, c)| (m.clone(), c.clone()))
            .collect::<Vec<_>>(),
    );
    let mut found = Vec::new();
    for (rel, module, code) in &files {
        let Some(from) = module.first() else { continue };
        let Some(from_rank) = rank(from) else {
            continue; // lib.rs, main.rs: the crate root
        };
        if (1..=module.len()).any(|n| test_only.contains(&module[..n])) {
            continue; // a file compiled only for tests
        }
        for (line, to) in references(&strip_cfg_test(code), module) {
            if rank(&to).is_some_and(|r| r > from_rank) {
                found.push(Violation {
                    file: rel.display().to_string(),
                    line,
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    found.sort();
    found
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_layer_imports_a_higher_layer() {
    let found = violations(&src_dir());
    let report: Vec<String> = found
        .iter()
        .map(|v| {
            format!(
                "src/{}:{}: {} imports {} (a higher layer)",
                v.file, v.line, v.from, v.to
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "layering (docs/architecture.md, \"Layers\") broken:\n{}",
        report.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(src_dir()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.is_dir() || p.extension().is_some_and(|e| e == "rs") {
            names.insert(name);
        }
    }
    names.remove("lib");
    names.remove("main");
    let unknown: Vec<_> = names.iter().filter(|n| rank(n).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "add {unknown:?} to LAYERS (and to docs/architecture.md)"
    );
}

#[test]
fn the_layer_table_matches_the_docs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let doc = fs::read_to_string(path).unwrap();
    let block = doc
        .split("## Layers")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("a code block in the Layers section");
    // One layer per unindented line, top first: `boot/`, `mmio.rs`, `arch/aarch64/`.
    let mut doc_order: Vec<String> = block
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
        .map(|l| {
            let name = l.split_whitespace().next().unwrap();
            name.split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    doc_order.reverse();
    let mut ours: Vec<String> = LAYERS.iter().map(|(l, _)| l.to_string()).collect();
    let mut theirs = doc_order.clone();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "LAYERS here vs docs/architecture.md");
    for pair in doc_order.windows(2) {
        assert!(
            rank(&pair[0]) <= rank(&pair[1]),
            "docs put {} below {}, LAYERS does not",
            pair[0],
            pair[1]
        );
    }
}

/// The checker itself, on small made-up trees.
mod checker {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "layering-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        dir
    }

    fn targets(files: &[(&str, &str)]) -> Vec<(String, String)> {
        let dir = tree(files);
        let v = violations(&dir)
            .into_iter()
            .map(|v| (v.file, v.to))
            .collect();
        fs::remove_dir_all(dir).unwrap();
        v
    }

    #[test]
    fn upward_use_paths_groups_super_and_macros_are_found() {
        let found = targets(&[
            ("mm/a.rs", "use crate::iommu::pgtable::TableMemory;\n"),
            ("mm/b.rs", "fn f() { crate::boot::start() }\n"),
            ("arch/c.rs", "use crate::{mm::PhysAddr, time::Clock};\n"),
            ("dma/mod.rs", "use super::iommu::Gather;\n"),
            ("mm/d.rs", "fn f() { kprintln!(\"x\"); }\n"),
        ]);
        assert_eq!(
            found,
            [
                ("arch/c.rs".to_string(), "mm".to_string()),
                ("arch/c.rs".to_string(), "time".to_string()),
                ("dma/mod.rs".to_string(), "iommu".to_string()),
                ("mm/a.rs".to_string(), "iommu".to_string()),
                ("mm/b.rs".to_string(), "boot".to_string()),
                ("mm/d.rs".to_string(), "platform".to_string()),
            ]
        );
    }

    #[test]
    fn downward_same_rank_comments_and_test_code_are_allowed() {
        let found = targets(&[
            (
                "iommu/a.rs",
                "use crate::mm::Iova;\nuse crate::dma::StreamId;\n",
            ),
            ("mmio.rs", "use crate::time::Clock;\nmod model;\n"),
            ("mmio/model.rs", "use crate::platform::X;\n"),
            ("time.rs", "use crate::mmio::Mmio;\n"),
            (
                "mm/b.rs",
                "//! See [`crate::iommu::Gather`].\n/* crate::boot */\n",
            ),
            (
                "mm/c.rs",
                "#[cfg(test)]\nmod tests {\n    use crate::iommu::Gather;\n    fn f() {}\n}\n",
            ),
            ("mm/d.rs", "#[cfg(test)]\nuse crate::iommu::Gather;\n"),
            ("virtio/mod.rs", "#[cfg(test)]\npub mod model;\n"),
            ("virtio/model/deep.rs", "use crate::selftest::X;\n"),
            (
                "dma/x.rs",
                "use iommu_bringup::iommu::Gather;\nuse $crate::boot;\n",
            ),
            ("lib.rs", "use crate::boot::start;\n"),
        ]);
        assert_eq!(
            found,
            [("mmio/model.rs".to_string(), "platform".to_string())],
            "only the model compiled into the library breaks the rule"
        );
    }
}
