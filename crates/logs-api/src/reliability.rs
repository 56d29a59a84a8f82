//! Reliability harnesses shared by every backend's reliability benchmark (`docs/reliability.md`):
//! many concurrent follow streams under a steady writer, and slow or stalled clients.
//!
//! They take a [`Backend`] like the conformance suite, run the real server on loopback and
//! return figures; they panic when a stream misses, repeats or stalls on a line.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::conformance::{Backend, NAMESPACE, start, unique_name};
use crate::testing::open;

/// Resident memory of this process, KiB (`VmRSS`).
pub fn rss_kib() -> u64 {
    proc_status("VmRSS:")
}

/// Anonymous resident memory of this process, KiB (`RssAnon`): heap and stacks, without the
/// file pages a backend maps (journal files), which the kernel can drop at will.
pub fn rss_anon_kib() -> u64 {
    proc_status("RssAnon:")
}

/// Peak resident memory of this process, KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    proc_status("VmHWM:")
}

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Figures from [`load`].
#[derive(Debug)]
pub struct LoadReport {
    /// Follow streams held open.
    pub streams: usize,
    /// Lines written while they were open.
    pub lines: usize,
    /// How long the writer ran.
    pub duration: Duration,
    /// RSS samples (KiB) taken every tenth of the run, writer running.
    pub rss_samples: Vec<u64>,
    /// Anonymous RSS samples (KiB, heap and stacks only) taken with `rss_samples`.
    pub anon_samples: Vec<u64>,
    /// Peak RSS of the process (KiB) at the end.
    pub peak_rss_kib: u64,
    /// The longest any stream waited for a line it then got.
    pub worst_gap: Duration,
    /// Open fds / alive tasks before the clients connected, while connected, after they left.
    pub fds: (usize, usize, usize),
    /// Alive tokio tasks before, during and after.
    pub tasks: (usize, usize, usize),
}

/// Holds `streams` follow streams on one function while a writer appends `rate` lines per
/// second for `duration`. Every stream must receive every line exactly once, in order per
/// instance (lines of different instances may interleave differently while following); after
/// the clients leave, fds and tasks must return to the baseline (checked, with a grace period).
///
/// # Panics
/// On a missed, repeated or out-of-order line, a stalled stream, or leaked fds/tasks.
pub async fn load(
    backend: &dyn Backend,
    streams: usize,
    duration: Duration,
    rate: u32,
) -> LoadReport {
    let server = start(backend, duration + Duration::from_secs(120)).await;
    let name = unique_name("load");
    // The three instances exist before the clients come: this measures steady following, not
    // how fast a backend discovers a new instance (the conformance suite checks that).
    for instance in 0..3 {
        backend
            .write(
                NAMESPACE,
                &name,
                instance,
                &[&format!("warm-up {instance}")],
            )
            .await;
    }
    let baseline = (open_fds(), alive_tasks());
    let received = Arc::new(AtomicUsize::new(0));
    let total = (duration.as_secs_f64() * f64::from(rate)).round() as usize;
    let mut clients = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut stream = open(
            server.addr,
            &format!("/system/logs?name={name}&follow=true"),
        )
        .await
        .unwrap_or_else(|e| panic!("opening a follow stream: {e}"));
        assert_eq!(stream.status, 200);
        let received = received.clone();
        clients.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut last = Instant::now();
            let mut next = [0usize, 1, 2];
            for want in 0..total {
                let v = loop {
                    let line =
                        tokio::time::timeout(Duration::from_secs(60), stream.next_line()).await;
                    let line = match line {
                        Ok(Ok(Some(line))) => line,
                        other => {
                            panic!("stream stalled or ended waiting for line {want}: {other:?}")
                        }
                    };
                    let v: serde_json::Value =
                        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
                    // The warm-up lines are the history, before the first `seq`.
                    let warm_up = v["text"].as_str().is_some_and(|t| t.starts_with("warm-up"));
                    if !(want == 0 && warm_up) {
                        break v;
                    }
                };
                // Order is checked per instance (line `seq n` comes from instance n % 3): a
                // backend that follows instances independently (one pod log each) delivers each
                // instance in order, but cannot order live lines across them. With the count,
                // this still proves every line arrives exactly once.
                let seq = v["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("seq "))
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or_else(|| panic!("unexpected line {v}"));
                assert_eq!(
                    seq,
                    next[seq % 3],
                    "missed, repeated or reordered line of instance {}",
                    seq % 3
                );
                next[seq % 3] += 3;
                worst = worst.max(last.elapsed());
                last = Instant::now();
                received.fetch_add(1, Ordering::Relaxed);
            }
            (worst, stream)
        }));
    }
    let during = (open_fds(), alive_tasks());
    let started = Instant::now();
    let mut rss_samples = Vec::new();
    let mut anon_samples = Vec::new();
    let sample_every = (total / 10).max(1);
    for seq in 0..total {
        let due = started + duration.mul_f64(seq as f64 / total as f64);
        tokio::time::sleep_until(due.into()).await;
        backend
            .write(NAMESPACE, &name, seq % 3, &[&format!("seq {seq}")])
            .await;
        if seq % sample_every == 0 {
            rss_samples.push(rss_kib());
            anon_samples.push(rss_anon_kib());
        }
    }
    let mut worst_gap = Duration::ZERO;
    let mut held = Vec::with_capacity(streams);
    for client in clients {
        let (worst, stream) = client
            .await
            .unwrap_or_else(|e| panic!("client failed: {e}"));
        worst_gap = worst_gap.max(worst);
        held.push(stream);
    }
    assert_eq!(received.load(Ordering::Relaxed), total * streams);
    let peak_rss_kib = peak_rss_kib();
    drop(held);
    // Every stream must be gone, and with it its fds and tasks.
    let left = Instant::now();
    loop {
        let now = (open_fds(), alive_tasks(), server.metrics.active_streams());
        if now.0 <= baseline.0 && now.1 <= baseline.1 && now.2 == 0 {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(10),
            "after the clients left: fds/tasks/streams {now:?}, baseline {baseline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = (open_fds(), alive_tasks());
    LoadReport {
        streams,
        lines: total,
        duration: started.elapsed(),
        rss_samples,
        anon_samples,
        peak_rss_kib,
        worst_gap,
        fds: (baseline.0, during.0, after.0),
        tasks: (baseline.1, during.1, after.1),
    }
}

/// Figures from [`slow_clients`].
#[derive(Debug)]
pub struct SlowReport {
    /// Lines written while the clients were attached.
    pub lines: usize,
    /// Lines the slow client had read when the writer finished.
    pub slow_read: usize,
    /// Messages the server had pulled from the backend and sent for both clients together.
    pub messages_sent: u64,
    /// RSS before the writes and after them (KiB).
    pub rss_kib: (u64, u64),
}

/// Attaches a client that reads one line per second and one that never reads, writes `lines`
/// lines, and reports how much the server pulled from the backend for them: with backpressure
/// it is bounded by the socket buffers and one chunk, not by `lines`.
pub async fn slow_clients(backend: &dyn Backend, lines: usize) -> SlowReport {
    let server = start(backend, Duration::from_secs(3600)).await;
    let name = unique_name("slow");
    let mut slow = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stalled = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let read = Arc::new(AtomicUsize::new(0));
    let reader = {
        let read = read.clone();
        tokio::spawn(async move {
            while let Ok(Some(_)) = slow.next_line().await {
                read.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let before = rss_kib();
    let text = "x".repeat(100);
    let batch: Vec<String> = (0..1000).map(|i| format!("{i} {text}")).collect();
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    let mut written = 0;
    while written < lines {
        let n = refs.len().min(lines - written);
        backend.write(NAMESPACE, &name, 0, &refs[..n]).await;
        written += n;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = SlowReport {
        lines: written,
        slow_read: read.load(Ordering::Relaxed),
        messages_sent: server.metrics.messages_sent(),
        rss_kib: (before, rss_kib()),
    };
    reader.abort();
    drop(stalled);
    report
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The body of every backend's `benches/reliability.rs`: [`load`] with `LOAD_STREAMS` (1000)
/// follow streams for `LOAD_SECONDS` (60) at `LOAD_RATE` lines/s (20), then [`slow_clients`]
/// with `SLOW_LINES` (100000), printing the figures. Without `--bench` on the command line
/// (`cargo test --benches`) it runs a quick version.
///
/// # Panics
/// When a harness does.
pub async fn bench_main(backend: &dyn Backend) {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (streams, secs, rate, slow) = if quick {
        (20, 2, 10, 2_000)
    } else {
        (
            env_or("LOAD_STREAMS", 1000),
            env_or("LOAD_SECONDS", 60),
            env_or("LOAD_RATE", 20),
            env_or("SLOW_LINES", 100_000),
        )
    };
    let streams = usize::try_from(streams).unwrap_or(usize::MAX);
    let rate = u32::try_from(rate).unwrap_or(u32::MAX);
    let r = load(backend, streams, Duration::from_secs(secs), rate).await;
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
    let s = slow_clients(backend, usize::try_from(slow).unwrap_or(usize::MAX)).await;
    println!(
        "slow: {} lines written; slow client read {}; server sent {} messages to both clients; RSS {} -> {} KiB",
        s.lines, s.slow_read, s.messages_sent, s.rss_kib.0, s.rss_kib.1
    );
}
