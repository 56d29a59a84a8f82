//! The Loki backend through the real server, against the Loki simulator.
//!
//! Run: `cargo bench -p logs-loki --bench loki` (`make bench-loki`).
//! Prints:
//! - history: messages/s for a 1,000,000-line history (4 pods, pages of 5,000) read through
//!   `GET /system/logs`, and the simulator's own share (the same pages fetched raw), so the
//!   provider's cost per message can be told apart;
//! - follow latency from a push into the simulator to the line arriving at a follow client,
//!   p50/p99/max, at the default settings: 2,000 lines at 500 lines/s, 200 lines at 20 lines/s
//!   and 10 lines at 1 line/s, for `--loki-follow-wakeup poll` (the default) and `tail`;
//! - requests to Loki per second with 0, 20 and 200 idle follow streams (on 20 functions of
//!   one namespace), for both wake-ups;
//! - RSS per idle follow stream: the growth of the process's RSS with 1,000 of them (the
//!   server's connection, the provider's stream and its place in the namespace's reader).
//!
//! Env: `BENCH_LINES` (1000000), `BENCH_FOLLOW_LINES` (2000), `BENCH_IDLE` (1000). The
//! simulator, the providers and the clients each run on their own thread (the machine has 2
//! cores).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logs_api::{Config, Server, Timestamp};
use logs_loki::{Args, LokiRequester, Wakeup};
use loki_simulator::Simulator;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The simulator on its own single-threaded runtime.
fn spawn_simulator() -> Arc<Simulator> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(sim) = Simulator::start().await else {
                return;
            };
            let _ = tx.send(Arc::new(sim));
            std::future::pending::<()>().await;
        });
    });
    rx.recv()
        .unwrap_or_else(|e| panic!("simulator did not start: {e}"))
}

/// The provider on its own single-threaded runtime (one core).
fn spawn_provider(url: String, wakeup: Wakeup) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let args = Args {
                url,
                follow_wakeup: wakeup,
                ..Args::default()
            };
            let Ok(requester) = LokiRequester::new(&args) else {
                return;
            };
            let config = Config::local(Duration::from_secs(3600));
            let Ok(server) = Server::bind(Arc::new(requester), config).await else {
                return;
            };
            let _ = tx.send(server.local_addr());
            server.run(std::future::pending()).await;
        });
    });
    rx.recv()
        .unwrap_or_else(|e| panic!("provider did not start: {e}"))
}

fn send(addr: SocketAddr, target: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = tcp.set_nodelay(true);
    let head = format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n");
    tcp.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    tcp
}

/// Reads a chunked NDJSON response to its end; returns (messages, bytes).
fn read_messages(tcp: &mut TcpStream) -> (usize, usize) {
    let mut buf = vec![0u8; 256 * 1024];
    let (mut bytes, mut messages, mut prev) = (0, 0, 0u8);
    // The last bytes seen, across reads: the terminating chunk may be split between two.
    let mut last = [0u8; 7];
    loop {
        let k = tcp.read(&mut buf).unwrap_or(0);
        if k == 0 {
            break;
        }
        bytes += k;
        for &b in &buf[..k] {
            if b == b'\n' && prev == b'}' {
                messages += 1;
            }
            prev = b;
            last.rotate_left(1);
            last[6] = b;
        }
        if &last == b"\r\n0\r\n\r\n" {
            break;
        }
    }
    (messages, bytes)
}

fn labels<'a>(name: &'a str, pod: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("faas_function", name),
        ("namespace", "openfaas-fn"),
        ("pod", pod),
        ("stream", "stdout"),
    ]
}

fn history(sim: &Simulator, provider: SocketAddr, n: usize) {
    let base = Timestamp::now().unix_nanos() - 1_800_000_000_000;
    let pods = [
        "bench-7d9f-a",
        "bench-7d9f-b",
        "bench-7d9f-c",
        "bench-7d9f-d",
    ];
    let texts: Vec<String> = (0..n)
        .map(|i| format!("2026/11/22 10:00:00 Forking fprocess. request {i} took 1.2ms"))
        .collect();
    for (p, pod) in pods.iter().enumerate() {
        let lines: Vec<(i64, &str)> = (p..n)
            .step_by(pods.len())
            .map(|i| (base + i as i64 * 1_000, texts[i].as_str()))
            .collect();
        for chunk in lines.chunks(50_000) {
            sim.push(&labels("bench", pod), chunk);
        }
    }
    drop(texts);

    // The simulator alone: the same 5,000-line pages, bodies read but not decoded.
    let started = Instant::now();
    let (mut start, end, mut total) = (base, Timestamp::now().unix_nanos(), 0usize);
    let query: String =
        form_urlencoded::byte_serialize(br#"{faas_function="bench",namespace="openfaas-fn"}"#)
            .collect();
    loop {
        let target = format!(
            "/loki/api/v1/query_range?query={query}&start={start}&end={end}&limit=5000&direction=forward"
        );
        let mut tcp = TcpStream::connect(sim.addr()).unwrap_or_else(|e| panic!("{e}"));
        let head = format!("GET {target} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
        tcp.write_all(head.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut body = Vec::new();
        let _ = tcp.read_to_end(&mut body);
        let lines = body.windows(2).filter(|w| w == b"\"]").count();
        total += lines;
        if lines < 5000 {
            break;
        }
        // Pages here never end inside one timestamp (1 µs apart): move past the last one.
        start = base + (total as i64) * 1_000;
    }
    let sim_secs = started.elapsed().as_secs_f64();
    assert_eq!(total, n, "the raw pages must hold every line");

    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut tcp = send(provider, "/system/logs?name=bench");
        let (messages, bytes) = read_messages(&mut tcp);
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(messages, n, "every line exactly once");
        best = best.min(secs);
        println!(
            "history {n} lines through the provider: {secs:.2} s, {:.0} messages/s, {:.1} MB/s",
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
    let provider_secs = (best - sim_secs).max(f64::EPSILON);
    println!(
        "simulator alone (raw pages): {sim_secs:.2} s; provider's share of the best run: {provider_secs:.2} s = {:.0} messages/s, {:.2} µs per message",
        n as f64 / provider_secs,
        provider_secs * 1e6 / n as f64
    );
    let mut tcp = send(provider, "/system/logs?name=bench&tail=100");
    let started = Instant::now();
    let (messages, _) = read_messages(&mut tcp);
    assert_eq!(messages, 100);
    println!(
        "tail=100 of {n} lines: {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "peak RSS (simulator holding {n} lines + provider): {} KiB",
        logs_api::reliability::peak_rss_kib()
    );
}

/// Sends a follow request and reads the response head.
fn follow(provider: SocketAddr, name: &str) -> TcpStream {
    let mut tcp = send(provider, &format!("/system/logs?name={name}&follow=true"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).unwrap_or(0) == 0 {
            panic!("closed");
        }
        head.push(byte[0]);
    }
    tcp
}

fn follow_latency(sim: &Simulator, provider: SocketAddr, wakeup: &str, n: usize, rate: u32) {
    let name = format!("latency-{wakeup}-{rate}");
    let mut tcp = follow(provider, &name);
    // The follow joins the namespace's reader right after its (empty) history.
    std::thread::sleep(Duration::from_millis(2_000));
    let lines: Vec<String> = (0..n).map(|i| format!("latency {i}")).collect();
    let pod = format!("{name}-0");
    let labels = labels(&name, &pod);
    let reader = std::thread::spawn(move || {
        let mut arrived = Vec::with_capacity(n);
        let mut buf = vec![0u8; 64 * 1024];
        let mut prev = 0u8;
        while arrived.len() < n {
            let k = tcp.read(&mut buf).unwrap_or(0);
            if k == 0 {
                break;
            }
            let now = Instant::now();
            for &b in &buf[..k] {
                if b == b'\n' && prev == b'}' {
                    arrived.push(now);
                }
                prev = b;
            }
        }
        arrived
    });
    let every = Duration::from_secs(1) / rate;
    let started = Instant::now();
    let mut pushed = Vec::with_capacity(n);
    for (i, line) in lines.iter().enumerate() {
        let due = started + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        pushed.push(Instant::now());
        sim.push(&labels, &[(Timestamp::now().unix_nanos(), line)]);
    }
    let arrived = reader.join().unwrap_or_else(|_| panic!("reader panicked"));
    assert_eq!(arrived.len(), n, "every followed line must arrive");
    let mut lat: Vec<Duration> = arrived
        .iter()
        .zip(&pushed)
        .map(|(a, p)| a.saturating_duration_since(*p))
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "follow latency ({wakeup} wake-up), {n} lines at {rate}/s (push -> client): p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
}

/// Requests per second the simulator receives over `window`.
fn loki_rate(sim: &Simulator, window: Duration) -> (f64, loki_simulator::Requests) {
    let before = sim.requests();
    std::thread::sleep(window);
    let delta = sim.requests() - before;
    (delta.total() as f64 / window.as_secs_f64(), delta)
}

fn request_rates(sim: &Simulator, provider: SocketAddr, wakeup: &str, window: Duration) {
    let mut streams = Vec::new();
    for total in [0usize, 20, 200] {
        while streams.len() < total {
            let name = format!("idle-{wakeup}-{}", streams.len() % 20);
            streams.push(follow(provider, &name));
        }
        // Past their histories and joined; then the steady state.
        std::thread::sleep(Duration::from_secs(2));
        let (rate, delta) = loki_rate(sim, window);
        println!(
            "{total} idle follow streams ({wakeup} wake-up): {rate:.1} requests/s to Loki ({} query_range, {} tails opened, {} refused in {window:?})",
            delta.query_range, delta.tails_opened, delta.tails_refused
        );
    }
    drop(streams);
    // Wait for the namespace's reader to stop.
    std::thread::sleep(Duration::from_secs(2));
}

fn idle_rss(provider: SocketAddr, count: usize) {
    let _ = rlimit::increase_nofile_limit(2 * count as u64 + 512);
    // Warm up the allocator and the runtime with a few streams first.
    let warm: Vec<TcpStream> = (0..20).map(|_| follow(provider, "rss")).collect();
    std::thread::sleep(Duration::from_millis(1_000));
    let before = logs_api::reliability::rss_kib();
    let fds_before = logs_api::reliability::open_fds();
    let streams: Vec<TcpStream> = (0..count).map(|_| follow(provider, "rss")).collect();
    let fds_connected = logs_api::reliability::open_fds();
    // Idle query_range connections leave the pool after 3 s.
    std::thread::sleep(Duration::from_millis(4_000));
    let after = logs_api::reliability::rss_kib();
    let fds_after = logs_api::reliability::open_fds();
    println!(
        "{count} idle follow streams: RSS {before} KiB -> {after} KiB, {:.1} KiB per stream (server connection + provider); open fds {fds_before} -> {fds_connected} just connected -> {fds_after} settled (each stream has both ends in this process)",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop((warm, streams));
    std::thread::sleep(Duration::from_secs(2));
}

/// The provider's own share: `count` follow streams taken straight from the requester (no
/// HTTP), each read by a task, parked in the namespace's reader.
fn idle_rss_provider_only(url: String, count: usize) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        use futures::StreamExt;
        use logs_api::Requester;
        let args = Args {
            url,
            ..Args::default()
        };
        let requester = LokiRequester::new(&args).unwrap_or_else(|e| panic!("{e}"));
        let mut tasks = Vec::with_capacity(count + 20);
        let open = |tasks: &mut Vec<tokio::task::JoinHandle<()>>, stream: logs_api::LogStream| {
            let mut stream = stream;
            tasks.push(tokio::spawn(async move { while stream.next().await.is_some() {} }));
        };
        let mut request = logs_api::Request::new("openfaas-fn", "rss-direct");
        request.follow = true;
        for _ in 0..20 {
            let s = requester.query(request.clone()).await.unwrap_or_else(|e| panic!("{}", e.chain()));
            open(&mut tasks, s);
        }
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let before = logs_api::reliability::rss_kib();
        for _ in 0..count {
            let s = requester.query(request.clone()).await.unwrap_or_else(|e| panic!("{}", e.chain()));
            open(&mut tasks, s);
        }
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        let after = logs_api::reliability::rss_kib();
        println!(
            "{count} idle follow streams without HTTP: RSS {before} KiB -> {after} KiB, {:.2} KiB per stream (the provider's share)",
            (after.saturating_sub(before)) as f64 / count as f64
        );
        for t in tasks {
            t.abort();
        }
    });
}

/// Whether `section` was asked for in `BENCH_ONLY` (a comma list; unset: every section).
fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (lines, follow_lines, idle, window) = if quick {
        (20_000, 200, 50, Duration::from_secs(1))
    } else {
        (
            env_usize("BENCH_LINES", 1_000_000),
            env_usize("BENCH_FOLLOW_LINES", 2_000),
            env_usize("BENCH_IDLE", 1_000),
            Duration::from_secs(5),
        )
    };
    let sim = spawn_simulator();
    let poll = spawn_provider(sim.url(), Wakeup::Poll);
    let tail = spawn_provider(sim.url(), Wakeup::Tail);
    // Before the history fills the heap.
    if wanted("rss") {
        idle_rss(poll, idle);
        idle_rss_provider_only(sim.url(), idle);
    }
    if wanted("rates") {
        request_rates(&sim, poll, "poll", window);
        request_rates(&sim, tail, "tail", window);
    }
    if wanted("latency") {
        for (provider, wakeup) in [(poll, "poll"), (tail, "tail")] {
            follow_latency(&sim, provider, wakeup, follow_lines, 500);
            follow_latency(&sim, provider, wakeup, follow_lines / 10, 20);
            follow_latency(&sim, provider, wakeup, (follow_lines / 200).max(2), 1);
        }
    }
    if wanted("history") {
        history(&sim, poll, lines);
    }
}
