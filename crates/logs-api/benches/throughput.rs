//! Throughput and memory of the real handler over loopback HTTP.
//!
//! Run: `cargo bench -p logs-api --features test-util --bench throughput`
//! (or `make bench-core`). Prints:
//! - messages/s and MB/s streaming 1,000,000 in-memory messages through one server running on a
//!   single-threaded runtime (one core), read by a plain blocking client on another thread;
//! - the process's peak RSS after that;
//! - memory per idle follow stream, from the RSS growth while 1,000 follow streams are open.
//!
//! Options (env): `BENCH_MESSAGES` (default 1000000), `BENCH_STREAMS` (default 1000).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use logs_api::{
    Config, LogStream, MemoryRequester, Message, Request, Requester, Server, Timestamp,
};

/// Generates `n` messages on demand, as a fast backend would, so the handler is what is measured.
struct Generator {
    n: usize,
}

#[async_trait::async_trait]
impl Requester for Generator {
    async fn query(&self, request: Request) -> logs_api::Result<LogStream> {
        let instance: Arc<str> = Arc::from("figlet-7d9c8b6f5-x2k4q");
        let base = Timestamp::now().unix_nanos();
        let (name, namespace) = (request.name.clone(), request.namespace.clone());
        Ok(futures::stream::iter((0..self.n).map(move |i| {
            Ok(Message {
                name: name.clone(),
                namespace: namespace.clone(),
                instance: instance.clone(),
                timestamp: Timestamp::from_unix_nanos(base + i as i64 * 1_000),
                text: format!("2026/11/22 10:00:00 Forking fprocess. request {i} took 1.2ms"),
                stream: None,
                level: None,
                source: None,
            })
        }))
        .boxed())
    }
}

/// Runs a server for `requester` on its own single-threaded runtime; returns its address.
fn spawn_server(requester: Arc<dyn Requester>, timeout: Duration) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async move {
            let Ok(server) = Server::bind(requester, Config::local(timeout)).await else {
                return;
            };
            let _ = tx.send(server.local_addr());
            server.run(std::future::pending()).await;
        });
    });
    rx.recv()
        .unwrap_or_else(|e| panic!("server did not start: {e}"))
}

fn request(addr: SocketAddr, target: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let head = format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n");
    tcp.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    tcp
}

/// Reads the response head byte by byte (tiny, and leaves the body unread).
fn read_head(tcp: &mut TcpStream) {
    let mut tail = [0u8; 4];
    let mut byte = [0u8; 1];
    while &tail != b"\r\n\r\n" {
        if tcp.read(&mut byte).unwrap_or(0) == 0 {
            panic!("connection closed in the response head");
        }
        tail.rotate_left(1);
        tail[3] = byte[0];
    }
}

fn throughput(n: usize) {
    let addr = spawn_server(Arc::new(Generator { n }), Duration::from_secs(600));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut tcp = request(addr, "/system/logs?name=figlet");
        let mut buf = vec![0u8; 256 * 1024];
        let (mut bytes, mut messages, mut prev) = (0usize, 0usize, 0u8);
        loop {
            let k = tcp.read(&mut buf).unwrap_or(0);
            if k == 0 {
                break;
            }
            bytes += k;
            // A message ends in `}\n`; chunk framing only ever adds `\r\n`.
            for &b in &buf[..k] {
                if b == b'\n' && prev == b'}' {
                    messages += 1;
                }
                prev = b;
            }
            // Chunked framing ends with "0\r\n\r\n"; the server keeps the connection open.
            if buf[..k].ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(messages, n, "every message must arrive exactly once");
        best = best.min(secs);
        println!(
            "stream {n} messages: {:.3} s, {:.0} messages/s, {:.1} MB/s",
            secs,
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
    println!("best: {:.0} messages/s (one server core)", n as f64 / best);
    println!(
        "peak RSS after streaming: {} KiB",
        logs_api::reliability::peak_rss_kib()
    );
}

fn idle_streams(count: usize) {
    let _ = rlimit::increase_nofile_limit(4 * count as u64 + 256);
    let requester = MemoryRequester::new();
    let addr = spawn_server(Arc::new(requester.clone()), Duration::from_secs(600));
    // Warm up allocator and runtime with a few streams first, then measure the growth.
    let mut warm: Vec<TcpStream> = (0..20)
        .map(|_| request(addr, "/system/logs?name=idle&follow=true"))
        .collect();
    warm.iter_mut().for_each(read_head);
    std::thread::sleep(Duration::from_millis(300));
    let before = logs_api::reliability::rss_kib();
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut tcp = request(addr, "/system/logs?name=idle&follow=true");
        read_head(&mut tcp);
        streams.push(tcp);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = logs_api::reliability::rss_kib();
    let followers = requester.followers("openfaas-fn", "idle");
    assert_eq!(followers, count + 20, "every stream must be attached");
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    println!(
        "{count} idle follow streams: RSS {before} KiB -> {after} KiB, {:.1} KiB per stream",
        per / 1024.0
    );
    // A line written now reaches every stream.
    requester.push("openfaas-fn", "idle", "p", Timestamp::now(), "wake up");
    let mut buf = [0u8; 512];
    for tcp in streams.iter_mut().take(10) {
        let k = tcp.read(&mut buf).unwrap_or(0);
        assert!(String::from_utf8_lossy(&buf[..k]).contains("wake up"));
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (messages, streams) = if quick {
        (10_000, 50)
    } else {
        (
            env_usize("BENCH_MESSAGES", 1_000_000),
            env_usize("BENCH_STREAMS", 1_000),
        )
    };
    throughput(messages);
    idle_streams(streams);
}
