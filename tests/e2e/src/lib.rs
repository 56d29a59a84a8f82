//! End-to-end tests of the workspace's executables, run as a user runs them: the built binary,
//! started with flags and `FAAS_LOGS_*` environment, against a real journal (written by
//! systemd's tools), the Loki simulator and the Kubernetes API simulator.
//!
//! Everything is in the test target `tests/e2e/` (one executable; `support/` holds what its
//! modules share), and every dependency is a dev-dependency: this library is empty, so that
//! `cargo build --workspace --release` compiles no test code into the release binaries (a
//! normal dependency on `logs-api` with `test-util` here would turn that feature on for them).
//! Not a product crate: nothing in `crates/` may depend on it.
