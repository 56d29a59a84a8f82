//! Throughput and memory of the Kubernetes backend against the API simulator on loopback.
//!
//! `cargo bench -p logs-kubernetes --features simulator --bench kube`
//!
//! 1. History: 10 pods x 100,000 lines, one non-follow request, every message encoded as NDJSON.
//!    CPU is the whole process (provider and simulator share it); a baseline that only reads the
//!    same log bodies raw from the simulator is subtracted to estimate the provider's share.
//!    Then the same history with a `grep` filter that keeps one line per pod (every line is
//!    still read, parsed and matched in process), and with that filter and `tail=5`.
//! 2. Memory (run first, from a clean baseline): 1,000 concurrent follow streams (each one watch plus one pod log stream) on a
//!    function with one pod, one live line delivered to every stream.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_simulator::ContainerState;
use logs_api::reliability::rss_kib;
use logs_api::{Filter, Request, Requester, Timestamp};

const PODS: usize = 10;
const LINES: usize = 100_000;
const FOLLOWERS: usize = 1_000;

/// User + system CPU time of this process (`/proc/self/stat`, clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = after
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // After the command name: state is not numeric, so utime/stime are fields 11 and 12 here.
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

async fn history(backend: &support::SimBackend) {
    let start_ts = Timestamp::now().unix_nanos() - 3_600_000_000_000;
    for p in 0..PODS {
        let pod = format!("bench-{p}");
        backend
            .sim
            .add_pod("openfaas-fn", &pod, "bench", ContainerState::Running);
        let texts: Vec<String> = (0..LINES)
            .map(|i| format!("pod {p} line {i} some typical function output"))
            .collect();
        let lines: Vec<(i64, &str)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (start_ts + (i * PODS + p) as i64 * 1_000, t.as_str()))
            .collect();
        backend.sim.append("openfaas-fn", &pod, &lines);
    }
    // Baseline: the simulator serving the same bodies, read raw (no parsing, merging, encoding).
    let (c0, t0) = (cpu(), Instant::now());
    let mut raw = 0usize;
    for p in 0..PODS {
        let target = format!("/api/v1/namespaces/openfaas-fn/pods/bench-{p}/log?timestamps=true");
        let r = logs_api::testing::get(backend.sim.addr(), &target)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        raw += r.body.iter().filter(|b| **b == b'\n').count();
    }
    let (base_cpu, base_wall) = (cpu() - c0, t0.elapsed());
    assert_eq!(raw, PODS * LINES);

    let provider = read(
        backend,
        "no filter",
        Request::new("openfaas-fn", "bench"),
        PODS * LINES,
    )
    .await
    .saturating_sub(base_cpu);
    println!(
        "history: provider share ~{provider:.2?} ({:.2} us/message) after the raw-read baseline {base_cpu:.2?} in {base_wall:.2?}",
        provider.as_secs_f64() * 1e6 / (PODS * LINES) as f64
    );
    let mut grep = Request::new("openfaas-fn", "bench");
    grep.filter = Filter {
        grep: Some("line 4242 ".to_owned()),
        ..Filter::default()
    };
    let provider = read(backend, "grep", grep.clone(), PODS)
        .await
        .saturating_sub(base_cpu);
    println!(
        "history grep: provider share ~{provider:.2?} ({:.2} us/line read)",
        provider.as_secs_f64() * 1e6 / (PODS * LINES) as f64
    );
    grep.tail = Some(5);
    read(backend, "grep + tail=5", grep, 5).await;
}

/// Reads one non-follow answer to `request` to its end, encoding every message as NDJSON,
/// checks it has `want` messages in timestamp order, prints the rate of lines read, and
/// returns the whole process's CPU time for it.
async fn read(
    backend: &support::SimBackend,
    what: &str,
    request: Request,
    want: usize,
) -> Duration {
    let (c0, t0) = (cpu(), Instant::now());
    let mut stream = backend
        .requester
        .query(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::with_capacity(1 << 20);
    let mut count = 0usize;
    let mut last = Timestamp::from_unix_nanos(0);
    while let Some(m) = stream.next().await {
        let m = m.unwrap_or_else(|e| panic!("{e}"));
        assert!(m.timestamp >= last, "history out of order");
        last = m.timestamp;
        m.write_ndjson(&mut out);
        out.clear();
        count += 1;
    }
    let (total_cpu, wall) = (cpu() - c0, t0.elapsed());
    assert_eq!(count, want, "{what}");
    let read = PODS * LINES;
    println!(
        "history {what}: {count} messages of {read} lines from {PODS} pods in {wall:.2?} = {:.0} lines/s; CPU {total_cpu:.2?} total ({:.2} us/line)",
        read as f64 / wall.as_secs_f64(),
        total_cpu.as_secs_f64() * 1e6 / read as f64,
    );
    total_cpu
}

async fn followers(backend: &support::SimBackend) {
    backend
        .sim
        .add_pod("openfaas-fn", "follow-0", "follow", ContainerState::Running);
    let before = rss_kib();
    let mut streams = Vec::with_capacity(FOLLOWERS);
    for _ in 0..FOLLOWERS {
        let mut r = Request::new("openfaas-fn", "follow");
        r.follow = true;
        streams.push(
            backend
                .requester
                .query(r)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    // Wait until every follower has its pod log stream open.
    let t0 = Instant::now();
    loop {
        let opened = backend
            .sim
            .requests()
            .iter()
            .filter(|r| r.contains("follow-0/log?") && r.contains("follow=true"))
            .count();
        if opened >= FOLLOWERS || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        // Streams must be polled for their follow phase to start.
        for s in &mut streams {
            let _ = tokio::time::timeout(Duration::from_micros(1), s.next()).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    backend.sim.append(
        "openfaas-fn",
        "follow-0",
        &[(Timestamp::now().unix_nanos(), "hello followers")],
    );
    let t1 = Instant::now();
    for s in &mut streams {
        let m = tokio::time::timeout(Duration::from_secs(60), s.next()).await;
        assert!(
            matches!(m, Ok(Some(Ok(ref m))) if m.text == "hello followers"),
            "{m:?}"
        );
    }
    let after = rss_kib();
    let fds = logs_api::reliability::open_fds();
    println!(
        "follow: {FOLLOWERS} streams open; one line reached all in {:.2?}; RSS {before} KiB -> {after} KiB = {:.1} KiB per stream (provider + simulator, both sides of each connection); {fds} fds open",
        t1.elapsed(),
        after.saturating_sub(before) as f64 / FOLLOWERS as f64
    );
    drop(streams);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let backend = support::SimBackend::start().await;
        // Followers first, so their memory is measured from a clean baseline.
        followers(&backend).await;
        history(&backend).await;
    });
}
