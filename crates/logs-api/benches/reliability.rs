//! Reliability under load with the in-memory backend (`docs/reliability.md`).
//!
//! Run: `cargo bench -p logs-api --features test-util --bench reliability`
//! (`make reliability-core`). Env: `LOAD_STREAMS` (1000), `LOAD_SECONDS` (60), `LOAD_RATE`
//! lines/s (20), `SLOW_LINES` (100000).

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rlimit::increase_nofile_limit(16_384);
    logs_api::reliability::bench_main(&logs_api::conformance::MemoryBackend::new()).await;
}
