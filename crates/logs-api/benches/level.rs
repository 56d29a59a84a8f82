//! Benchmark: `logs_api::level::detect`, the per-line level detection a backend without native
//! levels (Kubernetes) runs on every line when `level=` is set.
//!
//! ```text
//! cargo bench -p logs-api --bench level
//! ```
//!
//! Each kind of line is detected in a loop for about half a second; the figure is the median of
//! five such rounds, in nanoseconds per line.

use std::hint::black_box;
use std::time::{Duration, Instant};

use logs_api::level::detect;

const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_millis(500);

fn main() {
    let padding = "x".repeat(900);
    let huge = format!("{} level=error", "word ".repeat(20_000));
    let cases: Vec<(&str, String)> = vec![
        (
            "plain text (no level)",
            "Forking fprocess. Wrote 1024 bytes in 12.5ms to the client".into(),
        ),
        (
            "leading ERROR",
            "ERROR connection refused: dial tcp 10.0.0.1:5432".into(),
        ),
        (
            "timestamp + WARN",
            "2026-01-02T03:04:05.123456Z WARN slow request took 2.5s".into(),
        ),
        (
            "JSON, level first",
            r#"{"level":"error","ts":1767225600.5,"msg":"handler failed","err":"EOF"}"#.into(),
        ),
        (
            "JSON 1 KiB, level last",
            format!(
                r#"{{"ts":1767225600.5,"caller":"main.go:42","msg":"{padding}","req":{{"id":"abc","path":"/x"}},"level":"warn"}}"#
            ),
        ),
        (
            "logfmt",
            "ts=2026-01-02T03:04:05Z caller=main.go:42 level=info msg=\"request done\" status=200"
                .into(),
        ),
        ("100 KiB line, level beyond the scan limit", huge),
    ];
    println!("{:<44} {:>10} {:>10}", "line", "bytes", "ns/line");
    let mut total = 0.0;
    for (label, line) in &cases {
        let ns = measure(line);
        total += ns;
        println!(
            "{label:<44} {:>10} {ns:>10.1}   -> {:?}",
            line.len(),
            detect(line)
        );
    }
    println!(
        "{:<44} {:>10} {:>10.1}",
        "mean over the kinds above",
        "",
        total / cases.len() as f64
    );
}

/// Median nanoseconds per call over [`ROUNDS`] rounds of about [`ROUND`] each.
fn measure(line: &str) -> f64 {
    let mut per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut calls = 0u64;
        while started.elapsed() < ROUND {
            for _ in 0..1000 {
                black_box(detect(black_box(line)));
            }
            calls += 1000;
        }
        per_call.push(started.elapsed().as_nanos() as f64 / calls as f64);
    }
    per_call.sort_by(f64::total_cmp);
    per_call[ROUNDS / 2]
}
