//! `logs-journald`: the OpenFaaS log provider for faasd hosts, reading function logs straight
//! from systemd journal files (no `journalctl`, no libsystemd).
//!
//! faasd sends each function's output to journald with
//! `SYSLOG_IDENTIFIER=<namespace>:<function>` (e.g. `openfaas-fn:figlet`). [`JournaldRequester`]
//! selects those entries from the `*.journal` files of the configured directories (archived
//! files included) with the pure-Rust [`sdjournal`] reader, merges them in realtime order, and
//! follows new entries with inotify. The instance id of a message is the entry's `_PID`.
//!
//! File format: <https://systemd.io/JOURNAL_FILE_FORMAT/>. The [`export`] module writes the
//! Journal Export Format, which the tests and tools feed to `systemd-journal-remote` to make real
//! journal files.

mod config;
pub mod export;
mod fields;
mod reader;
mod requester;

pub use config::Args;
pub use reader::{IDENTIFIER_FIELD, INSTANCE_FIELD};
pub use requester::{JournaldRequester, SetupError};
