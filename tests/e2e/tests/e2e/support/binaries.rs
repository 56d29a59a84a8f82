//! The workspace's executables under test, found where cargo puts them and built when they are
//! missing or older than their sources.
//!
//! `cargo test --workspace` builds every workspace binary before it runs any test, so they are
//! next to this test executable: `target/<profile>/deps/<test>` → `target/<profile>/<bin>`.
//! `cargo test -p e2e-tests` alone builds none of them (a test crate cannot depend on another
//! package's binary on stable cargo), so when one is missing, or older than a source file its
//! dep-info (`<bin>.d`, written by cargo) lists, all of them are built with `cargo build` in the
//! same profile, once per test process. Never skipped: a binary that cannot be found or built
//! fails the test that needs it, with cargo's output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

/// One executable of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    /// `logs-journald`: systemd journal files (faasd).
    Journald,
    /// `logs-kubernetes`: pod logs through the Kubernetes API.
    Kubernetes,
    /// `logs-loki`: Grafana Loki.
    Loki,
    /// `logs-demo` (package `logs-api`): generated in-memory sample logs.
    Demo,
}

impl Binary {
    /// Every executable of the workspace.
    pub const ALL: [Binary; 4] = [
        Binary::Journald,
        Binary::Kubernetes,
        Binary::Loki,
        Binary::Demo,
    ];

    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Journald => "logs-journald",
            Binary::Kubernetes => "logs-kubernetes",
            Binary::Loki => "logs-loki",
            Binary::Demo => "logs-demo",
        }
    }

    /// The package it belongs to.
    pub fn package(self) -> &'static str {
        match self {
            Binary::Demo => "logs-api",
            other => other.name(),
        }
    }

    /// Where the up-to-date executable is.
    ///
    /// # Panics
    /// When it is missing or stale and `cargo build` cannot make it: the message says why.
    pub fn path(self) -> PathBuf {
        static FOUND: OnceLock<Result<HashMap<Binary, PathBuf>, String>> = OnceLock::new();
        match FOUND.get_or_init(locate_or_build) {
            Ok(found) => found
                .get(&self)
                .cloned()
                .unwrap_or_else(|| panic!("cargo built no executable {}", self.name())),
            Err(why) => panic!("the executable {} is not available: {why}", self.name()),
        }
    }
}

/// `target/<profile>/`: where cargo puts the binaries of the profile this test was built with.
fn profile_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this test's executable: {e}"))?;
    let deps = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .ok_or_else(|| format!("{} is not in a target/<profile>/deps", exe.display()))?;
    deps.parent()
        .map(Path::to_owned)
        .ok_or_else(|| format!("{} has no parent", deps.display()))
}

fn locate_or_build() -> Result<HashMap<Binary, PathBuf>, String> {
    let dir = profile_dir()?;
    let fresh: HashMap<Binary, PathBuf> = Binary::ALL
        .iter()
        .map(|b| (*b, dir.join(b.name())))
        .filter(|(_, path)| is_fresh(path))
        .collect();
    if fresh.len() == Binary::ALL.len() {
        return Ok(fresh);
    }
    build(&dir)
}

/// Whether `exe` exists and is newer than every file its dep-info (`exe.d`) lists.
fn is_fresh(exe: &Path) -> bool {
    let Some(built) = modified(exe) else {
        return false;
    };
    let Ok(dep_info) = std::fs::read_to_string(exe.with_extension("d")) else {
        return false;
    };
    let sources = dep_info_sources(&dep_info);
    !sources.is_empty()
        && sources
            .iter()
            .all(|source| modified(Path::new(source)).is_some_and(|m| m <= built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The prerequisites of a Makefile-style dep-info line, `target: a b\ c`, spaces in paths
/// escaped with a backslash.
fn dep_info_sources(dep_info: &str) -> Vec<String> {
    let Some(first) = dep_info.lines().next() else {
        return Vec::new();
    };
    let Some((_, prerequisites)) = first.split_once(": ") else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = prerequisites.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    sources.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        sources.push(current);
    }
    sources
}

/// Builds every binary with `cargo build` in the profile of `dir` and returns where cargo says
/// it put each.
fn build(dir: &Path) -> Result<HashMap<Binary, PathBuf>, String> {
    let mut command = Command::new(super::cargo());
    command.current_dir(super::workspace_root()).args([
        "build",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    for package in ["logs-api", "logs-journald", "logs-kubernetes", "logs-loki"] {
        command.args(["-p", package]);
    }
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", super::cargo().display()))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        if let Some(binary) = Binary::ALL.iter().find(|b| b.name() == name) {
            built.insert(*binary, PathBuf::from(executable));
        }
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_prerequisites_keep_escaped_spaces() {
        assert_eq!(
            dep_info_sources("/t/debug/x: /w/a.rs /w/my\\ dir/b.rs  /w/c.rs\n\n/w/a.rs:\n"),
            ["/w/a.rs", "/w/my dir/b.rs", "/w/c.rs"]
        );
        assert!(dep_info_sources("").is_empty());
        assert!(dep_info_sources("no colon here").is_empty());
    }

    #[test]
    fn a_binary_is_stale_when_a_source_is_newer_or_its_dep_info_is_missing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let exe = dir.path().join("bin");
        let source = dir.path().join("main.rs");
        std::fs::write(&source, "fn main() {}").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&exe, "").unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_fresh(&exe), "no dep-info: stale");
        std::fs::write(
            exe.with_extension("d"),
            format!("{}: {}\n", exe.display(), source.display()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let set = |path: &Path, secs: u64| {
            let file = std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap_or_else(|e| panic!("{e}"));
            file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap_or_else(|e| panic!("{e}"));
        };
        set(&source, 1_000);
        set(&exe, 2_000);
        assert!(is_fresh(&exe));
        set(&source, 3_000);
        assert!(!is_fresh(&exe), "a newer source: stale");
        std::fs::remove_file(&source).unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_fresh(&exe), "a vanished source: stale");
        assert!(!is_fresh(&dir.path().join("missing")));
    }
}
