//! What the end-to-end tests share:
//!
//! - [`binaries`]: where the executables are, built when missing or stale.
//! - [`process`]: a provider running as a child process, SIGTERM, runs to exit.
//! - [`providers`]: the three release binaries as conformance
//!   [`logs_api::conformance::Provider`]s.
//! - [`contract`]: the checks every binary passes (configuration errors, auth from secret
//!   files, SIGTERM mid-stream).
//! - [`flags`]: `--help` output and the docs' flag tables, read and compared.
//! - [`workspace`]: `cargo metadata` and the dependency picture of `docs/architecture.md`.

#![allow(unreachable_pub)]

pub mod binaries;
pub mod contract;
pub mod flags;
pub mod process;
pub mod providers;
pub mod workspace;

use std::path::{Path, PathBuf};

/// The workspace's root directory (this crate is `tests/e2e`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or_else(|| panic!("{} has no grandparent", env!("CARGO_MANIFEST_DIR")))
        .to_owned()
}

/// The `cargo` to run: the one running these tests (`CARGO`), else the one that built them.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from(env!("CARGO")), PathBuf::from)
}
