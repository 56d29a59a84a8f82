//! Reliability of the Kubernetes backend under load (`docs/reliability.md`), over the
//! Kubernetes API simulator (per follow stream a watch and one log stream per pod): 1,000
//! follow streams for 60 s, then slow and stalled clients.
//!
//! Run: `cargo bench -p logs-kubernetes --features simulator --bench reliability`
//! (`make reliability-kubernetes`). Env: `LOAD_STREAMS` (1000), `LOAD_SECONDS` (60),
//! `LOAD_RATE` lines/s (20), `SLOW_LINES` (100000).

#[path = "../tests/support/mod.rs"]
mod support;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rlimit::increase_nofile_limit(16_384);
    logs_api::reliability::bench_main(&support::SimBackend::start().await).await;
}
