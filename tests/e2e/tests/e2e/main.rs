//! The end-to-end tests, one test executable (one link, and every test in one harness, run in
//! parallel): each module is one binary, or one check across the workspace.

mod demo;
mod flags;
mod journald;
mod kubernetes;
mod loki;
mod modules;
mod support;
mod workspace;
