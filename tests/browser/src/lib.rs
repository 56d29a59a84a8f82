//! `browser-tests`: the log viewer's end-to-end tests in headless Chromium, in `tests/` (with
//! their harness in `tests/support/`) and the render benchmark in `benches/`.
//!
//! This library is empty on purpose: every dependency is a dev-dependency, so that
//! `cargo build --workspace --release` turns no test feature on in the release binaries.
