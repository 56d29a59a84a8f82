//! Reliability of the journald backend under load (`docs/reliability.md`), over real journal
//! files written by `systemd-journal-remote` (one process per write): 1,000 follow streams for
//! 60 s, then slow and stalled clients.
//!
//! Run: `cargo bench -p logs-journald --bench reliability` (`make reliability-journald`).
//! Env: `LOAD_STREAMS` (1000), `LOAD_SECONDS` (60), `LOAD_RATE` lines/s (20), `SLOW_LINES`
//! (100000).

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rlimit::increase_nofile_limit(16_384);
    logs_api::reliability::bench_main(&common::JournalBackend::start()).await;
}
