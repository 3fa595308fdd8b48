//! What the manifests and `Cargo.lock` say about dependencies, read line by line (std only, so
//! no TOML parser: the forms this workspace writes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::read;

/// What a `Cargo.toml` says about the package's name and dependencies.
#[derive(Debug)]
pub struct Manifest {
    pub name: String,
    /// `[dependencies]` and `[build-dependencies]` (target-specific ones included).
    pub normal: BTreeSet<String>,
    /// `[dev-dependencies]`.
    pub dev: BTreeSet<String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Self {
        let mut manifest = Manifest {
            name: String::new(),
            normal: BTreeSet::new(),
            dev: BTreeSet::new(),
        };
        let mut section = String::new();
        for line in read(path).lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(header) = line.strip_prefix('[') {
                section = header.trim_end_matches(']').trim().to_string();
                // `[dependencies.name]` names one dependency in its header.
                if let Some((table, name)) = dependency_header(&section) {
                    manifest.record(&table, name);
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if section == "package" && key == "name" {
                manifest.name = value.trim().trim_matches('"').to_string();
            } else if is_dependency_table(&section) {
                // `name = ..`, `name.workspace = true`
                let name = key.split('.').next().unwrap_or(key).trim_matches('"');
                manifest.record(&section, name.to_string());
            }
        }
        assert!(
            !manifest.name.is_empty(),
            "{} has no package name",
            path.display()
        );
        manifest
    }

    fn record(&mut self, table: &str, name: String) {
        if table.ends_with("dev-dependencies") {
            self.dev.insert(name);
        } else {
            self.normal.insert(name);
        }
    }
}

/// `dependencies`, `dev-dependencies`, `build-dependencies`, `target.'cfg(..)'.dependencies`.
fn is_dependency_table(section: &str) -> bool {
    section == "dependencies"
        || section.ends_with("-dependencies")
        || section.ends_with(".dependencies")
}

/// `dependencies.name` (or `dev-dependencies.name` ...) → the table and the name.
fn dependency_header(section: &str) -> Option<(String, String)> {
    let (table, name) = section.rsplit_once('.')?;
    is_dependency_table(table).then(|| (table.to_string(), name.trim_matches('"').to_string()))
}

/// The packages of `Cargo.lock` and what each depends on (all versions of a name together).
#[derive(Debug)]
pub struct Lockfile {
    dependencies: BTreeMap<String, BTreeSet<String>>,
}

impl Lockfile {
    pub fn read(path: &Path) -> Self {
        let mut dependencies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut name = String::new();
        let mut in_list = false;
        for line in read(path).lines() {
            let line = line.trim();
            if line == "[[package]]" {
                name.clear();
                in_list = false;
            } else if let Some(value) = line.strip_prefix("name = ") {
                name = value.trim_matches('"').to_string();
                dependencies.entry(name.clone()).or_default();
            } else if let Some(inline) = line.strip_prefix("dependencies = [") {
                in_list = !inline.ends_with(']');
                for dep in quoted(inline) {
                    dependencies.entry(name.clone()).or_default().insert(dep);
                }
            } else if in_list {
                if line.starts_with(']') {
                    in_list = false;
                } else {
                    for dep in quoted(line) {
                        dependencies.entry(name.clone()).or_default().insert(dep);
                    }
                }
            }
        }
        Self { dependencies }
    }

    /// The packages `roots` pull in, themselves included.
    pub fn closure(&self, roots: &BTreeSet<String>) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = roots.iter().cloned().collect();
        while let Some(next) = todo.pop() {
            if let Some(deps) = self.dependencies.get(&next) {
                todo.extend(deps.iter().filter(|d| !seen.contains(*d)).cloned());
            }
            seen.insert(next);
        }
        seen
    }
}

/// The package names in `"name version (source)",` entries.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|entry| entry.split_whitespace().next())
        .map(str::to_string)
        .collect()
}
