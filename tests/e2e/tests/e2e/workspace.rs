//! The workspace's dependency rules, checked with `cargo metadata`, and the picture of
//! `docs/architecture.md` checked against it: `crates/` holds the product, which depends on no
//! test crate (not even behind a feature); the simulators share no code with the clients they
//! test; the picture draws every crate where it lives and every dependency as declared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::binaries::Binary;
use crate::support::workspace::{Kind, Package, edges, members, parse_picture, tree};

struct Workspace {
    root: PathBuf,
    members: Vec<Package>,
    fuzz: Vec<Package>,
}

impl Workspace {
    fn read() -> Workspace {
        let root = crate::support::workspace_root();
        let in_root = members(&root.join("Cargo.toml")).unwrap_or_else(|e| panic!("{e}"));
        let fuzz = members(&root.join("fuzz/Cargo.toml")).unwrap_or_else(|e| panic!("{e}"));
        Workspace {
            root,
            members: in_root,
            fuzz,
        }
    }

    fn under(&self, dir: &str) -> Vec<&Package> {
        let dir = self.root.join(dir);
        self.members
            .iter()
            .filter(|p| p.dir.starts_with(&dir))
            .collect()
    }

    /// `crates/` or `tests/` (or `fuzz/`): where a package lives.
    fn home(&self, package: &Package) -> String {
        package
            .dir
            .strip_prefix(&self.root)
            .ok()
            .and_then(|p| p.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

fn is_under(path: Option<&Path>, dir: &Path) -> bool {
    path.is_some_and(|p| p.starts_with(dir))
}

#[test]
fn the_layout_is_crates_for_the_product_and_tests_for_the_test_crates() {
    let ws = Workspace::read();
    let product: BTreeSet<&str> = ws.under("crates").iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        product,
        BTreeSet::from(["logs-api", "logs-journald", "logs-kubernetes", "logs-loki"])
    );
    for package in &ws.members {
        let home = ws.home(package);
        assert!(
            home == "crates" || home == "tests",
            "{} lives in {home:?}: the workspace holds crates/ and tests/ only",
            package.name
        );
    }
    let simulators: Vec<&str> = ws
        .under("tests")
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| n.ends_with("-simulator"))
        .collect();
    assert_eq!(simulators, ["kube-simulator", "loki-simulator"]);
}

#[test]
fn no_product_crate_depends_on_a_test_crate_not_even_behind_a_feature() {
    let ws = Workspace::read();
    let tests_dir = ws.root.join("tests");
    let test_crates: BTreeSet<&str> = ws.under("tests").iter().map(|p| p.name.as_str()).collect();
    let mut checked = 0;
    for product in ws.under("crates") {
        for d in &product.dependencies {
            if d.kind == Kind::Dev {
                continue;
            }
            checked += 1;
            assert!(
                !test_crates.contains(d.name.as_str()) && !is_under(d.path.as_deref(), &tests_dir),
                "{} depends on the test crate {} ({:?}, optional: {}): the product must not",
                product.name,
                d.name,
                d.kind,
                d.optional
            );
        }
        for feature in &product.features {
            assert!(
                !feature.contains("simulator"),
                "{} has a feature {feature:?}: simulators are test crates, not features",
                product.name
            );
        }
    }
    assert!(
        checked > 20,
        "only {checked} dependencies read: cargo metadata misread"
    );
}

/// What `cargo build --release` compiles, seen by `cargo tree` without dev-dependencies: for each
/// product binary alone and for the whole workspace (`make build`), no test crate and no
/// `test-util` feature (which a test crate's normal dependency on logs-api would turn on).
#[test]
fn release_builds_compile_no_test_crate_and_no_test_feature() {
    let ws = Workspace::read();
    let test_crates: Vec<String> = ws
        .under("tests")
        .iter()
        .map(|p| format!("{} v", p.name))
        .collect();
    let mut builds: Vec<Vec<&str>> = Binary::ALL
        .iter()
        .map(|b| vec!["-p", b.package()])
        .collect();
    builds.push(vec!["--workspace"]);
    for build in builds {
        let mut args = build.clone();
        args.extend(["-e", "normal,build"]);
        let tree = tree(&args).unwrap_or_else(|e| panic!("{e}"));
        let logs_api: Vec<&str> = tree
            .lines()
            .filter(|l| l.starts_with("logs-api v"))
            .collect();
        assert!(!logs_api.is_empty(), "{build:?}: logs-api not in\n{tree}");
        for line in tree.lines() {
            let is_test_crate = test_crates.iter().any(|t| line.starts_with(t.as_str()));
            // `--workspace` lists the test crates themselves (their empty libraries and the
            // simulators); what matters is what the product crates pull in, below.
            assert!(
                !is_test_crate || build == ["--workspace"],
                "{build:?} compiles the test crate {line}"
            );
        }
        for line in logs_api {
            assert!(
                !line.contains("test-util"),
                "{build:?} compiles logs-api with its test feature: {line}"
            );
        }
    }
}

#[test]
fn the_simulators_depend_on_neither_logs_api_nor_a_backend() {
    let ws = Workspace::read();
    let backends: BTreeSet<&str> = ws
        .under("crates")
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| *n != "logs-api")
        .collect();
    let simulators: Vec<&Package> = ws
        .under("tests")
        .into_iter()
        .filter(|p| p.name.ends_with("-simulator"))
        .collect();
    assert_eq!(simulators.len(), 2);
    for sim in simulators {
        for d in &sim.dependencies {
            assert!(
                !backends.contains(d.name.as_str()),
                "{} depends on the backend {} ({:?}): a misunderstanding of the API could hide in both",
                sim.name,
                d.name,
                d.kind
            );
            // Its own tests may use logs-api's raw HTTP test client (a dev-dependency, never
            // compiled into the simulator); the simulator itself shares no code with it.
            assert!(
                d.name != "logs-api" || d.kind == Kind::Dev,
                "{} depends on logs-api ({:?}): the simulator must share no code with the provider",
                sim.name,
                d.kind
            );
        }
    }
}

#[test]
fn fuzz_is_its_own_workspace_over_the_product_and_names_features_that_exist() {
    let ws = Workspace::read();
    assert_eq!(
        ws.fuzz.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["faas-logs-fuzz"]
    );
    assert!(
        !ws.members
            .iter()
            .any(|p| p.dir.starts_with(ws.root.join("fuzz"))),
        "fuzz/ is not a member of the root workspace"
    );
    let by_name: BTreeMap<&str, &Package> =
        ws.members.iter().map(|p| (p.name.as_str(), p)).collect();
    for d in ws.fuzz.iter().flat_map(|p| &p.dependencies) {
        let Some(path) = &d.path else { continue };
        let package = by_name.get(d.name.as_str()).unwrap_or_else(|| {
            panic!(
                "fuzz depends on {} at {}, not a workspace crate",
                d.name,
                path.display()
            )
        });
        assert_eq!(&package.dir, path, "fuzz's {} is the workspace's", d.name);
        for feature in &d.features {
            assert!(
                package.features.contains(feature),
                "fuzz turns on {}'s feature {feature:?}, which does not exist",
                d.name
            );
        }
    }
}

#[test]
fn the_architecture_picture_matches_cargo_metadata() {
    let ws = Workspace::read();
    let text = std::fs::read_to_string(ws.root.join("docs/architecture.md"))
        .unwrap_or_else(|e| panic!("docs/architecture.md: {e}"));
    let picture = parse_picture(&text).unwrap_or_else(|e| panic!("docs/architecture.md: {e}"));

    let all: Vec<Package> = ws.members.iter().chain(&ws.fuzz).cloned().collect();
    let mut homes: BTreeMap<String, String> = ws
        .members
        .iter()
        .map(|p| (p.name.clone(), ws.home(p)))
        .collect();
    homes.extend(ws.fuzz.iter().map(|p| (p.name.clone(), "fuzz".to_owned())));
    let mut problems = Vec::new();
    for (name, home) in &homes {
        match picture.nodes.get(name) {
            None => problems.push(format!("{name} ({home}/) is not drawn")),
            Some(group) if group != home => {
                problems.push(format!("{name} is drawn in {group}, it lives in {home}/"));
            }
            Some(_) => {}
        }
    }
    for name in picture.nodes.keys() {
        if !homes.contains_key(name) {
            problems.push(format!(
                "{name} is drawn but is no crate of the workspace or fuzz/"
            ));
        }
    }
    let declared = edges(&all);
    let known =
        |edge: &(String, String)| homes.contains_key(&edge.0) && homes.contains_key(&edge.1);
    for (edge, kind) in &declared {
        match picture.edges.get(edge) {
            None => problems.push(format!("{} → {} ({kind:?}) is not drawn", edge.0, edge.1)),
            Some(drawn) if drawn != kind => problems.push(format!(
                "{} → {} is drawn {drawn:?}, declared {kind:?}",
                edge.0, edge.1
            )),
            Some(_) => {}
        }
    }
    for (edge, kind) in picture.edges.iter().filter(|(e, _)| known(e)) {
        if !declared.contains_key(edge) {
            problems.push(format!(
                "{} → {} ({kind:?}) is drawn, not declared",
                edge.0, edge.1
            ));
        }
    }
    let runs: BTreeSet<&str> = picture
        .runs
        .iter()
        .filter(|(from, _)| from == "e2e-tests")
        .map(|(_, to)| to.as_str())
        .collect();
    let binaries: BTreeSet<&str> = Binary::ALL.iter().map(|b| b.package()).collect();
    if runs != binaries {
        problems.push(format!(
            "e2e-tests is drawn running {runs:?}; it runs the executables of {binaries:?}"
        ));
    }
    for (from, to) in &picture.runs {
        if let Some(package) = all.iter().find(|p| &p.name == to)
            && package.bins.is_empty()
        {
            problems.push(format!(
                "{from} is drawn running {to}, which has no executable"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md's picture disagrees with cargo metadata:\n  {}",
        problems.join("\n  ")
    );
}
