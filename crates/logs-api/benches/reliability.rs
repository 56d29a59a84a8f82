//! Reliability under load with the in-memory backend (`docs/reliability.md`).
//!
//! Run: `cargo bench -p logs-api --features test-util --bench reliability`
//! (`make reliability-core`). Env: `LOAD_STREAMS` (1000), `LOAD_SECONDS` (60), `LOAD_RATE`
//! lines/s (20), `SLOW_LINES` (100000).

use std::time::Duration;

use logs_api::conformance::MemoryBackend;
use logs_api::reliability::{load, slow_clients};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let _ = rlimit::increase_nofile_limit(16_384);
    let backend = MemoryBackend::new();
    let (streams, secs, rate, slow) = if quick {
        (20, 2, 10, 2_000)
    } else {
        (
            env("LOAD_STREAMS", 1000),
            env("LOAD_SECONDS", 60),
            env("LOAD_RATE", 20),
            env("SLOW_LINES", 100_000),
        )
    };
    let r = load(
        &backend,
        streams as usize,
        Duration::from_secs(secs),
        rate as u32,
    )
    .await;
    println!(
        "load: {} follow streams x {} lines in {:.1} s: every line once, in order; worst wait {:?}",
        r.streams,
        r.lines,
        r.duration.as_secs_f64(),
        r.worst_gap
    );
    println!(
        "load: RSS samples KiB {:?}; peak RSS {} KiB",
        r.rss_samples, r.peak_rss_kib
    );
    println!("load: anonymous RSS samples KiB {:?}", r.anon_samples);
    println!(
        "load: fds before/during/after {:?}; tasks {:?}",
        r.fds, r.tasks
    );
    let s = slow_clients(&backend, slow as usize).await;
    println!(
        "slow: {} lines written; slow client read {}; server sent {} messages to both clients; RSS {} -> {} KiB",
        s.lines, s.slow_read, s.messages_sent, s.rss_kib.0, s.rss_kib.1
    );
}
