//! Reliability of the Loki backend under load (`docs/reliability.md`), over the Loki simulator
//! (per follow stream a `query_range` history, then the namespace's shared reader): 1,000
//! follow streams for 60 s, then slow and stalled clients.
//!
//! Run: `cargo bench -p logs-loki --bench reliability`
//! (`make reliability-loki`). Env: `LOAD_STREAMS` (1000), `LOAD_SECONDS` (60), `LOAD_RATE`
//! lines/s (20), `SLOW_LINES` (100000).

#[path = "../tests/support/mod.rs"]
mod support;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rlimit::increase_nofile_limit(16_384);
    logs_api::reliability::bench_main(&support::LokiBackend::start().await).await;
}
