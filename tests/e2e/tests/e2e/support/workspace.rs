//! The workspace as `cargo metadata` sees it, and the dependency picture of
//! `docs/architecture.md` read back, so that the rules (the product depends on no test crate,
//! the simulators on no client) and the picture can be checked against the manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// How one package depends on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `[dependencies]`: compiled into the package.
    Normal,
    /// `[build-dependencies]`: compiled into its build script.
    Build,
    /// `[dev-dependencies]`: its tests, benches and examples only.
    Dev,
}

/// `cargo tree` of the workspace with `args` (e.g. `-e normal,build`), one package a line with
/// its features: `name vX.Y.Z (path) feature,feature`.
///
/// # Errors
/// When cargo fails.
pub fn tree(args: &[&str]) -> Result<String, String> {
    let out = Command::new(super::cargo())
        .current_dir(super::workspace_root())
        .args([
            "tree", "--locked", "--prefix", "none", "--format", "{p} {f}",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("running cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One declared dependency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The package depended on.
    pub name: String,
    /// Normal, build or dev.
    pub kind: Kind,
    /// Its directory, for a path dependency.
    pub path: Option<PathBuf>,
    /// Whether it is behind a feature.
    pub optional: bool,
    /// The features it turns on.
    pub features: Vec<String>,
}

/// One package of a workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// The directory of its `Cargo.toml`.
    pub dir: PathBuf,
    /// What it declares it depends on.
    pub dependencies: Vec<Dependency>,
    /// Its features.
    pub features: BTreeSet<String>,
    /// The names of its binary targets.
    pub bins: Vec<String>,
}

/// The members of the workspace of `manifest`, from `cargo metadata --no-deps` (no network,
/// no resolution: the members and what they declare are all the rules need).
///
/// # Errors
/// When cargo fails or its answer is not what the format promises.
pub fn members(manifest: &Path) -> Result<Vec<Package>, String> {
    let out = Command::new(super::cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata --manifest-path {} failed: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let metadata: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    packages.iter().map(package).collect()
}

fn package(p: &Value) -> Result<Package, String> {
    let text = |v: &Value, what: &str| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("cargo metadata: {what} missing in {p}"))
    };
    let name = text(&p["name"], "name")?;
    let manifest = PathBuf::from(text(&p["manifest_path"], "manifest_path")?);
    let dir = manifest
        .parent()
        .ok_or_else(|| format!("{} has no directory", manifest.display()))?
        .to_owned();
    let dependencies = p["dependencies"]
        .as_array()
        .ok_or_else(|| format!("{name}: no dependencies array"))?
        .iter()
        .map(|d| {
            Ok(Dependency {
                name: text(&d["name"], "dependency name")?,
                kind: match d["kind"].as_str() {
                    None => Kind::Normal,
                    Some("build") => Kind::Build,
                    Some("dev") => Kind::Dev,
                    Some(other) => return Err(format!("{name}: dependency kind {other:?}")),
                },
                path: d["path"].as_str().map(PathBuf::from),
                optional: d["optional"].as_bool().unwrap_or(false),
                features: d["features"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<_, String>>()?;
    let features = p["features"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    let bins = p["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
                })
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(Package {
        name,
        dir,
        dependencies,
        features,
        bins,
    })
}

/// The edges between `packages` (dependencies on a package of the list), one per pair, of the
/// strongest kind declared (normal over build over dev: a crate that also names a normal
/// dependency as a dev-dependency, to turn test features on, depends on it normally).
/// Self-edges (a crate's tests turning on its own features) are left out.
pub fn edges(packages: &[Package]) -> BTreeMap<(String, String), Kind> {
    let names: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut edges = BTreeMap::new();
    for p in packages {
        for d in &p.dependencies {
            if d.name == p.name || !names.contains(d.name.as_str()) {
                continue;
            }
            let kind = edges
                .entry((p.name.clone(), d.name.clone()))
                .or_insert(d.kind);
            *kind = (*kind).min(d.kind);
        }
    }
    edges
}

/// The first ```` ```mermaid ```` flowchart of a Markdown text, read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picture {
    /// Package name → the subgraph it is drawn in (`crates`, `tests`, `fuzz`).
    pub nodes: BTreeMap<String, String>,
    /// (from, to) → kind, for `-->` (normal), `-->|build|` (build) and `-.->` (dev).
    pub edges: BTreeMap<(String, String), Kind>,
    /// (from, to) for `==>|runs|`: runs the other's executables as processes.
    pub runs: BTreeSet<(String, String)>,
}

/// Reads the dependency picture of `markdown`: nodes `id["package-name …"]` inside
/// `subgraph group[…]` … `end`, edges `a --> b`, `a -->|build| b`, `a -.-> b` (with or without
/// `|label|`) and `a ==>|runs| b`.
///
/// # Errors
/// No mermaid block, an edge naming an undeclared node, a node outside every subgraph, or a
/// line that is none of these.
pub fn parse_picture(markdown: &str) -> Result<Picture, String> {
    let start = markdown
        .find("```mermaid")
        .ok_or("no ```mermaid block in the text")?;
    let body = &markdown[start + "```mermaid".len()..];
    let body = &body[..body
        .find("```")
        .ok_or("the ```mermaid block does not end")?];
    let mut picture = Picture::default();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut group: Option<String> = None;
    let mut pending: Vec<(String, &str, String, String)> = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("%%") || line.starts_with("flowchart") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            group = Some(id);
            continue;
        }
        if line == "end" {
            group = None;
            continue;
        }
        if let Some((id, label)) = line.split_once("[\"") {
            let label = label
                .strip_suffix("\"]")
                .ok_or_else(|| format!("node {line:?}: no closing \"]"))?;
            let name: String = label
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            let group = group
                .clone()
                .ok_or_else(|| format!("node {line:?} outside every subgraph"))?;
            ids.insert(id.trim().to_owned(), name.clone());
            picture.nodes.insert(name, group);
            continue;
        }
        let arrow = ["-.->", "==>", "-->"]
            .into_iter()
            .find(|a| line.contains(a))
            .ok_or_else(|| format!("{line:?} is neither a node, an edge nor a subgraph"))?;
        let (from, rest) = line
            .split_once(arrow)
            .ok_or_else(|| format!("{line:?}: no {arrow}"))?;
        let (label, to) = match rest.trim().strip_prefix('|') {
            Some(labelled) => labelled
                .split_once('|')
                .ok_or_else(|| format!("{line:?}: unclosed |label|"))?,
            None => ("", rest),
        };
        pending.push((
            from.trim().to_owned(),
            arrow,
            label.trim().to_owned(),
            to.trim().to_owned(),
        ));
    }
    for (from, arrow, label, to) in pending {
        let name = |id: &str| {
            ids.get(id)
                .cloned()
                .ok_or_else(|| format!("edge {from} {arrow} {to}: {id} is not a declared node"))
        };
        let (from, to) = (name(&from)?, name(&to)?);
        match (arrow, label.as_str()) {
            ("==>", "runs") => {
                picture.runs.insert((from, to));
            }
            ("-->", "build") => {
                picture.edges.insert((from, to), Kind::Build);
            }
            ("-->", _) => {
                picture.edges.insert((from, to), Kind::Normal);
            }
            ("-.->", _) => {
                picture.edges.insert((from, to), Kind::Dev);
            }
            _ => return Err(format!("{from} {arrow}|{label}| {to}: unknown edge")),
        }
    }
    Ok(picture)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_reads_back() {
        let text = "text\n```mermaid\nflowchart BT\n  subgraph crates[\"crates/\"]\n    a[\"logs-api (core)\"]\n    b[\"logs-loki\"]\n  end\n  subgraph tests[\"tests/\"]\n    s[\"loki-simulator\"]\n    e[\"e2e-tests\"]\n  end\n  b --> a\n  b -.->|dev| s\n  e ==>|runs| b\n  e -->|build| a\n```\n";
        let picture = parse_picture(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(picture.nodes["logs-api"], "crates");
        assert_eq!(picture.nodes["loki-simulator"], "tests");
        let edges: Vec<(&str, &str, Kind)> = picture
            .edges
            .iter()
            .map(|((f, t), k)| (f.as_str(), t.as_str(), *k))
            .collect();
        assert_eq!(
            edges,
            [
                ("e2e-tests", "logs-api", Kind::Build),
                ("logs-loki", "logs-api", Kind::Normal),
                ("logs-loki", "loki-simulator", Kind::Dev),
            ]
        );
        assert!(
            picture
                .runs
                .contains(&("e2e-tests".to_owned(), "logs-loki".to_owned()))
        );
    }

    #[test]
    fn a_bad_picture_is_an_error() {
        for text in [
            "no picture",
            "```mermaid\nflowchart BT\n  a[\"x\"]\n```",
            "```mermaid\nsubgraph g[\"g\"]\n a[\"x\"]\nend\na --> b\n```",
            "```mermaid\nsubgraph g[\"g\"]\n a[\"x\"]\nend\nwhat is this\n```",
        ] {
            assert!(parse_picture(text).is_err(), "{text}");
        }
    }

    #[test]
    fn edges_keep_the_strongest_kind_and_drop_self_edges() {
        let dep = |name: &str, kind| Dependency {
            name: name.to_owned(),
            kind,
            path: None,
            optional: false,
            features: Vec::new(),
        };
        let package = |name: &str, dependencies| Package {
            name: name.to_owned(),
            dir: PathBuf::new(),
            dependencies,
            features: BTreeSet::new(),
            bins: Vec::new(),
        };
        let packages = [
            package(
                "core",
                vec![dep("core", Kind::Dev), dep("serde", Kind::Normal)],
            ),
            package(
                "backend",
                vec![
                    dep("core", Kind::Dev),
                    dep("core", Kind::Normal),
                    dep("sim", Kind::Dev),
                ],
            ),
            package("sim", vec![]),
        ];
        let got: Vec<(String, String, Kind)> = edges(&packages)
            .into_iter()
            .map(|((f, t), k)| (f, t, k))
            .collect();
        assert_eq!(
            got,
            [
                ("backend".to_owned(), "core".to_owned(), Kind::Normal),
                ("backend".to_owned(), "sim".to_owned(), Kind::Dev),
            ]
        );
    }
}
