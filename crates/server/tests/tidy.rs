//! Tidy: the code-structure invariants `docs/architecture.md` states, checked by reading the
//! sources and manifests (std only; nothing is built or run):
//!
//! 1. No module imports another that imports it back: inside each crate, the graph between
//!    top-level modules (`src/x.rs` and everything under `src/x/` are module `x`; `lib.rs` and
//!    `main.rs` are the crate root and ignored) has no cycle. An edge is a path that reaches
//!    another top-level module: `use crate::x::..`, `crate::x::..` anywhere in code, `super::`
//!    climbing out of the module, or `crate::Name` where the root re-exports `Name` from `x`.
//!    Comments and string literals are blanked first. `#[cfg(test)]` items are left out: a unit
//!    test module is a leaf nothing imports, so its imports cannot close a cycle.
//! 2. Dependencies point inward: each workspace crate depends only on the crates the diagram
//!    allows, and only tests (dev-dependencies) depend on `chat-threads-testing`.
//! 3. `domain` pulls in no diesel, actix, reqwest or tokio, `application` no diesel, actix or
//!    reqwest (the `cargo tree -e normal` statement), read from `Cargo.lock`.
//! 4. No `.rs` file under `crates/` or `tests/` is over 800 lines.
//! 5. The persistence layer (`infrastructure/src/db`) has no macro but `with_conn!` and
//!    `write_tx!`: its helpers are named functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "tidy/cargo.rs"]
mod cargo;
#[path = "tidy/source.rs"]
mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use cargo::{Lockfile, Manifest};
use source::{
    inline_modules, line_of, module_path_at, references, resolve, strip_comments_and_literals,
    without_test_items,
};

/// The longest a source file may be.
const MAX_LINES: usize = 800;

/// Which workspace crates each crate may depend on (the diagram in `docs/architecture.md`).
const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("chat-threads-domain", &[]),
    ("chat-threads-application", &["chat-threads-domain"]),
    (
        "chat-threads-infrastructure",
        &["chat-threads-domain", "chat-threads-application"],
    ),
    (
        "chat-threads-api",
        &["chat-threads-domain", "chat-threads-application"],
    ),
    (
        "chat-threads-server",
        &[
            "chat-threads-domain",
            "chat-threads-application",
            "chat-threads-infrastructure",
            "chat-threads-api",
        ],
    ),
    (
        "chat-threads-testing",
        &["chat-threads-domain", "chat-threads-application"],
    ),
];

/// The test scaffolding crate: a dev-dependency only.
const TESTING: &str = "chat-threads-testing";

/// Packages a crate must not pull in, even indirectly (by name prefix).
const FORBIDDEN_PACKAGES: &[(&str, &[&str])] = &[
    (
        "chat-threads-domain",
        &["diesel", "actix", "reqwest", "tokio"],
    ),
    ("chat-threads-application", &["diesel", "actix", "reqwest"]),
];

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut failures = Vec::new();
    for krate in workspace_crates() {
        let graph = ModuleGraph::of_crate(&krate.dir);
        for component in graph.cycles() {
            failures.push(graph.describe_cycle(&krate.folder, &component));
        }
    }
    assert!(
        failures.is_empty(),
        "module cycles inside a crate (docs/architecture.md: no module imports another that \
         imports it back). Break each by moving what the lower module needs from the higher one \
         into the lower module (or into a new small module both import):\n\n{}",
        failures.join("\n")
    );
}

#[test]
fn crates_depend_only_inward() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_DEPENDENCIES.iter().copied().collect();
    let workspace: BTreeSet<String> = workspace_crates().into_iter().map(|k| k.name).collect();
    let mut failures = Vec::new();
    for krate in workspace_crates() {
        let Some(may) = allowed.get(krate.name.as_str()) else {
            failures.push(format!(
                "{}: not in the architecture; add it to the diagram in docs/architecture.md and \
                 to ALLOWED_DEPENDENCIES here",
                krate.name
            ));
            continue;
        };
        let manifest = Manifest::read(&krate.dir.join("Cargo.toml"));
        for dep in manifest.normal.intersection(&workspace) {
            if !may.contains(&dep.as_str()) {
                failures.push(format!(
                    "{} depends on {dep} (allowed: {})",
                    krate.name,
                    listed(may)
                ));
            }
        }
        for dep in manifest.dev.intersection(&workspace) {
            if dep != TESTING && !may.contains(&dep.as_str()) {
                failures.push(format!(
                    "{}'s tests depend on {dep} (allowed: {}, and {TESTING})",
                    krate.name,
                    listed(may)
                ));
            }
        }
        if manifest.normal.contains(TESTING) {
            failures.push(format!(
                "{} depends on {TESTING} outside [dev-dependencies]; only tests may",
                krate.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "workspace dependencies that do not point inward (docs/architecture.md, the diagram and \
         the \"may not depend on\" column):\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn domain_and_application_pull_in_no_adapter() {
    let lock = Lockfile::read(&workspace_root().join("Cargo.lock"));
    let mut failures = Vec::new();
    for krate in workspace_crates() {
        let rule = FORBIDDEN_PACKAGES.iter().find(|(n, _)| *n == krate.name);
        let Some((_, forbidden)) = rule else {
            continue;
        };
        let manifest = Manifest::read(&krate.dir.join("Cargo.toml"));
        let pulled = lock.closure(&manifest.normal);
        let bad: Vec<&str> = pulled
            .iter()
            .map(String::as_str)
            .filter(|p| forbidden.iter().any(|f| p.starts_with(f)))
            .collect();
        if !bad.is_empty() {
            failures.push(format!(
                "{} pulls in {} through its [dependencies] \
                 (`cargo tree -p {} -e normal -i <name>` shows the path)",
                krate.name,
                listed(&bad),
                krate.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "inner crates that pull in adapters (docs/architecture.md: domain has no diesel, actix, \
         reqwest or tokio; application no diesel, actix or reqwest). Cargo.lock unifies features \
         across the workspace, so confirm with cargo tree:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn no_source_file_over_800_lines() {
    let root = workspace_root();
    let mut offenders: Vec<(usize, String)> = Vec::new();
    for dir in ["crates", "tests"] {
        for file in rust_files(&root.join(dir)) {
            let lines = read(&file).lines().count();
            if lines > MAX_LINES {
                offenders.push((lines, relative(&root, &file)));
            }
        }
    }
    offenders.sort();
    offenders.reverse();
    let list: Vec<String> = offenders
        .iter()
        .map(|(lines, file)| format!("{file}: {lines} lines"))
        .collect();
    assert!(
        offenders.is_empty(),
        "source files over {MAX_LINES} lines; split them (by feature, like the application \
         folders):\n  {}",
        list.join("\n  ")
    );
}

/// 5. The persistence layer's helpers are named functions: its only macros are the two that
///    expand one body per backend.
#[test]
fn persistence_has_no_macros_but_the_two_expanders() {
    let root = workspace_root();
    let mut found: Vec<String> = Vec::new();
    for file in rust_files(&root.join("crates/infrastructure/src/db")) {
        let code = strip_comments_and_literals(&read(&file));
        for (i, line) in code.lines().enumerate() {
            if let Some(at) = line.find("macro_rules!") {
                let name = line[at + "macro_rules!".len()..]
                    .trim()
                    .trim_end_matches('{')
                    .trim();
                found.push(format!("{name} ({}:{})", relative(&root, &file), i + 1));
            }
        }
    }
    found.sort();
    let names: Vec<&str> = found
        .iter()
        .map(|f| f.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["with_conn", "write_tx"],
        "persistence helpers are named functions over `db::conn::Conn` (see db/tree_sql.rs); \
         macros found:\n  {}",
        found.join("\n  ")
    );
}

/// The scanner itself, on a small sample: comments, strings and test modules are skipped;
/// `use` trees, paths in code, `super::` and root re-exports are followed.
#[test]
fn the_module_scanner_reads_what_it_should() {
    let sample = r####"
        //! use crate::doc_comment;
        use crate::{alpha::A, beta::{self, B as Bee}};
        use super::gamma::G; // use crate::comment;
        /* use crate::block /* nested */ comment; */
        fn f<'a>(x: &'a str) -> char {
            let _ = "use crate::string; crate::string::X";
            let _ = r#"crate::raw::X"#;
            let _ = crate::delta::d();
            let _ = crate::Reexported::new();
            '"'
        }
        mod inner {
            use super::super::epsilon::E;
        }
        #[cfg(test)]
        #[allow(clippy::unwrap_used)]
        mod tests {
            use crate::zeta::Z;
        }
    "####;
    let text = without_test_items(&strip_comments_and_literals(sample));
    let here = ["me".to_string()];
    let mut seen: Vec<(usize, Vec<String>)> = references(&text)
        .into_iter()
        .filter_map(|r| {
            let at = module_path_at(&here, &inline_modules(&text), r.position);
            resolve(&r.path, &at).map(|p| (line_of(&text, r.position), p))
        })
        .collect();
    seen.sort();
    let firsts: Vec<(usize, &str)> = seen.iter().map(|(l, p)| (*l, p[0].as_str())).collect();
    let expected: Vec<(usize, &str)> = vec![
        (3, "alpha"),
        (3, "beta"),
        (3, "beta"),
        (4, "gamma"),
        (9, "delta"),
        (10, "Reexported"),
        (14, "epsilon"),
    ];
    assert_eq!(firsts, expected, "{seen:?}");
}

// ---------------------------------------------------------------------------------------------
// The workspace
// ---------------------------------------------------------------------------------------------

/// A workspace member under `crates/`.
#[derive(Debug)]
struct Crate {
    /// Its folder name (`application`).
    folder: String,
    /// Its package name (`chat-threads-application`).
    name: String,
    dir: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root is two folders above the server crate")
}

fn workspace_crates() -> Vec<Crate> {
    let crates: Vec<Crate> = entries(&workspace_root().join("crates"))
        .into_iter()
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .map(|dir| Crate {
            folder: file_name(&dir),
            name: Manifest::read(&dir.join("Cargo.toml")).name,
            dir,
        })
        .collect();
    assert!(!crates.is_empty(), "no crates found under crates/");
    crates
}

/// The sorted entries of a directory.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    paths.sort();
    paths
}

/// Every `.rs` file under `dir`, skipping build output, node modules and hidden folders.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in entries(dir) {
        let name = file_name(&path);
        if path.is_dir() {
            let skipped = name.starts_with('.') || name == "target" || name == "node_modules";
            if !skipped {
                files.extend(rust_files(&path));
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// The module graph of one crate
// ---------------------------------------------------------------------------------------------

/// Top-level modules and the edges between them, each with the `file:line`s that make it.
#[derive(Debug)]
struct ModuleGraph {
    modules: BTreeSet<String>,
    edges: BTreeMap<(String, String), Vec<String>>,
}

impl ModuleGraph {
    fn of_crate(crate_dir: &Path) -> Self {
        let root = workspace_root();
        let src = crate_dir.join("src");
        let files: Vec<(PathBuf, Vec<String>)> = rust_files(&src)
            .into_iter()
            .map(|file| {
                let path = module_path(file.strip_prefix(&src).expect("under src"));
                (file, path)
            })
            .collect();
        let modules: BTreeSet<String> = files
            .iter()
            .filter_map(|(_, path)| path.first().cloned())
            .collect();
        let reexports = root_reexports(&src, &modules);
        let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (file, here) in &files {
            let Some(from) = here.first() else {
                continue; // the crate root
            };
            let text = without_test_items(&strip_comments_and_literals(&read(file)));
            let inline = inline_modules(&text);
            for reference in references(&text) {
                let at = module_path_at(here, &inline, reference.position);
                let Some(target) = resolve(&reference.path, &at)
                    .and_then(|p| p.first().cloned())
                    .and_then(|first| top_level(&first, &modules, &reexports))
                else {
                    continue;
                };
                if target != *from {
                    let place = format!(
                        "{}:{}",
                        relative(&root, file),
                        line_of(&text, reference.position)
                    );
                    let places = edges.entry((from.clone(), target)).or_default();
                    if !places.contains(&place) {
                        places.push(place);
                    }
                }
            }
        }
        Self { modules, edges }
    }

    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges
            .keys()
            .filter(move |(a, _)| a == from)
            .map(|(_, b)| b)
    }

    /// Every module reachable from `start` (itself included only through a cycle).
    fn reachable(&self, start: &str) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = self.targets(start).cloned().collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next.clone()) {
                todo.extend(self.targets(&next).cloned());
            }
        }
        seen
    }

    /// The strongly connected components with more than one module: each is a cycle.
    fn cycles(&self) -> Vec<BTreeSet<String>> {
        let reach: BTreeMap<&String, BTreeSet<String>> = self
            .modules
            .iter()
            .map(|m| (m, self.reachable(m)))
            .collect();
        let mut components: Vec<BTreeSet<String>> = Vec::new();
        for (module, reached) in &reach {
            if components.iter().any(|c| c.contains(*module)) {
                continue;
            }
            let mut component: BTreeSet<String> = reached
                .iter()
                .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
                .cloned()
                .collect();
            component.insert((*module).clone());
            if component.len() > 1 {
                components.push(component);
            }
        }
        components
    }

    /// The modules of a cycle and every edge between them, with where each is made.
    fn describe_cycle(&self, krate: &str, component: &BTreeSet<String>) -> String {
        let names: Vec<&str> = component.iter().map(String::as_str).collect();
        let mut text = format!("crate {krate}: {} import each other:\n", listed(&names));
        for ((from, to), places) in &self.edges {
            if component.contains(from) && component.contains(to) {
                text.push_str(&format!("    {from} -> {to}\n"));
                for place in places {
                    text.push_str(&format!("        {place}\n"));
                }
            }
        }
        text
    }
}

/// `a/b.rs` and `a/b/mod.rs` are `[a, b]`; `lib.rs` and `main.rs` are the root, `[]`.
fn module_path(relative_to_src: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative_to_src
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let last = parts.last().map(String::as_str);
    if last == Some("mod") || (parts.len() == 1 && matches!(last, Some("lib" | "main"))) {
        parts.pop();
    }
    parts
}

/// The top-level module a path's first segment (after `crate::`) stands for: a module, or a
/// name the crate root re-exports from one. `None` for what the root defines itself.
fn top_level(
    first: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    if modules.contains(first) {
        Some(first.to_string())
    } else {
        reexports.get(first).cloned()
    }
}

/// Names the crate root (`lib.rs`, `main.rs`) re-exports, and the top-level module of each.
fn root_reexports(src: &Path, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for root in ["lib.rs", "main.rs"] {
        let file = src.join(root);
        if !file.is_file() {
            continue;
        }
        let text = without_test_items(&strip_comments_and_literals(&read(&file)));
        for reference in references(&text).into_iter().filter(|r| r.from_use) {
            let path: Vec<&String> = reference
                .path
                .iter()
                .skip_while(|s| *s == "crate" || *s == "self")
                .collect();
            if path.len() >= 2 && modules.contains(path[0].as_str()) {
                let bound = reference.binds.clone();
                if bound != "*" && bound != "self" {
                    names.insert(bound, path[0].clone());
                }
            }
        }
    }
    names
}
