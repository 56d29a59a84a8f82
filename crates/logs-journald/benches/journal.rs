//! Benchmark: `logs-journald` against `journalctl --output=json` (what faasd's provider runs) on
//! a journal of 1,000,000 entries from 100 functions in 10 files (as after rotations).
//!
//! ```text
//! cargo bench -p logs-journald --bench journal
//! ```
//!
//! The journal is generated once into `target/bench-journal/` (override with
//! `FAAS_LOGS_BENCH_DIR`; `FAAS_LOGS_BENCH_ENTRIES` changes the size) by piping Journal Export
//! Format into `systemd-journal-remote`; generation is not measured. Queries for one
//! function (1% of the entries): `tail=100`, `since` = the last minute of the journal, the
//! full history, and with filters: `level=err` (pushed down as `PRIORITY` matches; every line
//! of the bench journal is `info`), and `grep` with `tail=100` (in process). Each is timed as the median of several runs; ours in process (what the provider
//! does per request), journalctl as the process faasd spawns. Peak memory (VmHWM, and the
//! anonymous part, RssAnon) of ours is measured in a child process per query, on the full
//! journal and on a journal a tenth of its size, to show it does not grow with the journal.
//! Last, the functions listing (`GET /system/logs/functions`): ours from the files' field
//! tables, ours by reading every entry (the fallback), and `journalctl -F SYSLOG_IDENTIFIER`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use logs_api::{Filter, Request, Requester, Severity, Timestamp};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use logs_journald::{Args, JournaldRequester};

const FUNCTIONS: usize = 100;
const FILES: usize = 10;
const NS: &str = "openfaas-fn";
const TARGET_FN: &str = "fn-7";
const RUNS: usize = 7;

/// A query: label, `tail`, `since`, filter, and the same as journalctl flags.
type Case = (
    &'static str,
    Option<usize>,
    Option<Timestamp>,
    Filter,
    Vec<String>,
);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        return measure_child(&args[2..]);
    }
    let entries: usize = std::env::var("FAAS_LOGS_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let root = std::env::var_os("FAAS_LOGS_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-journal"),
        PathBuf::from,
    );
    let big = generate(&root.join(format!("n{entries}")), entries);
    let small = generate(&root.join(format!("n{}", entries / 10)), entries / 10);
    let last_usec = last_timestamp(&big);
    // journalctl's --since has whole-second precision: the same whole second for both.
    let since_secs = (last_usec / 1_000_000).saturating_sub(60);
    let since = Timestamp::from_unix_nanos(since_secs as i64 * 1_000_000_000);

    println!(
        "journal: {entries} entries, {FUNCTIONS} functions, {FILES} files, {}",
        big.display()
    );
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>9}",
        "query (function fn-7)", "messages", "ours", "journalctl", "speed-up"
    );
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let grep = Filter {
        grep: Some("handled in 5 ms".into()),
        ..Filter::default()
    };
    let level = Filter {
        level: Some(Severity::Error),
        ..Filter::default()
    };
    let cases: [Case; 5] = [
        (
            "tail=100",
            Some(100),
            None,
            Filter::default(),
            vec!["--lines=100".into()],
        ),
        (
            "since=last minute",
            None,
            Some(since),
            Filter::default(),
            vec![format!("--since=@{since_secs}")],
        ),
        ("full read", None, None, Filter::default(), vec![]),
        (
            "level=err",
            None,
            None,
            level,
            vec!["--priority=err".into()],
        ),
        (
            "grep=…&tail=100",
            Some(100),
            None,
            grep,
            vec![
                "--grep=handled in 5 ms".into(),
                "--case-sensitive=true".into(),
                "--lines=100".into(),
            ],
        ),
    ];
    for (label, tail, since_ts, filter, jargs) in &cases {
        let (ours, n) = median(|| rt.block_on(query(&big, *tail, *since_ts, filter.clone())));
        let (theirs, m) = median(|| journalctl(&big, jargs));
        assert_eq!(n, m, "{label}: we return {n} messages, journalctl {m}");
        println!(
            "{label:<28} {n:>10} {:>12} {:>12} {:>8.1}x",
            fmt(ours),
            fmt(theirs),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
    println!();
    println!("peak memory of ours, one query per process (VmHWM / RssAnon, KiB):");
    println!(
        "{:<28} {:>22} {:>22}",
        "query",
        format!("{} entries", entries / 10),
        format!("{entries} entries")
    );
    for (label, mode) in [
        ("tail=100", "tail"),
        ("since=last minute", "since"),
        ("full read", "full"),
    ] {
        let s = child(&small, mode, since_secs);
        let b = child(&big, mode, since_secs);
        println!("{label:<28} {s:>22} {b:>22}");
    }
    println!();
    listing(&rt, &big, entries);
}

/// `GET /system/logs/functions` three ways, each checked to give the same names.
fn listing(rt: &tokio::runtime::Runtime, dir: &Path, entries: usize) {
    let r =
        JournaldRequester::new(Args::with_dirs([dir.to_owned()])).unwrap_or_else(|e| panic!("{e}"));
    let mut names = Vec::new();
    let (tables, n) = median(|| {
        names = rt
            .block_on(r.functions(NS))
            .unwrap_or_else(|e| panic!("{e}"));
        names.len()
    });
    assert_eq!(n, FUNCTIONS);
    let (scan, m) = median(|| {
        let scanned = rt
            .block_on(r.functions_by_scan(NS))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scanned, names);
        scanned.len()
    });
    let (theirs, k) = median(|| {
        let out = Command::new("journalctl")
            .arg(format!("--directory={}", dir.display()))
            .args(["-F", "SYSLOG_IDENTIFIER"])
            .stderr(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("journalctl: {e}"));
        String::from_utf8_lossy(&out.stdout).lines().count()
    });
    assert_eq!((m, k), (FUNCTIONS, FUNCTIONS));
    println!("functions listing ({FUNCTIONS} functions, {entries} entries):");
    println!("{:<44} {:>12}", "ours, from the field tables", fmt(tables));
    println!(
        "{:<44} {:>12}",
        "ours, reading every entry (fallback)",
        fmt(scan)
    );
    println!(
        "{:<44} {:>12}",
        "journalctl -F SYSLOG_IDENTIFIER",
        fmt(theirs)
    );
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn median(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        n = f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[RUNS / 2], n)
}

async fn query(dir: &Path, tail: Option<usize>, since: Option<Timestamp>, filter: Filter) -> usize {
    let r =
        JournaldRequester::new(Args::with_dirs([dir.to_owned()])).unwrap_or_else(|e| panic!("{e}"));
    let mut req = Request::new(NS, TARGET_FN);
    req.tail = tail;
    req.since = since;
    req.filter = filter;
    let mut s = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0;
    while let Some(m) = s.next().await {
        let m = m.unwrap_or_else(|e| panic!("{e}"));
        std::hint::black_box(&m);
        n += 1;
    }
    n
}

/// faasd's provider: `journalctl --output=json --identifier=<ns>:<name> ...`, output read
/// line by line (counted here).
fn journalctl(dir: &Path, extra: &[String]) -> usize {
    let out = Command::new("journalctl")
        .arg(format!("--directory={}", dir.display()))
        .arg("--output=json")
        .arg(format!("--identifier={NS}:{TARGET_FN}"))
        .args(extra)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("journalctl: {e}"));
    out.stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

fn child(dir: &Path, mode: &str, since_secs: u64) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(exe)
        .arg("--measure")
        .arg(dir)
        .arg(mode)
        .arg(since_secs.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn measure_child(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let since_secs: i64 = args[2].parse().unwrap_or(0);
    let (tail, since) = match args[1].as_str() {
        "tail" => (Some(100), None),
        "since" => (
            None,
            Some(Timestamp::from_unix_nanos(since_secs * 1_000_000_000)),
        ),
        _ => (None, None),
    };
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(query(&dir, tail, since, Filter::default()));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    println!("{} / {}", field("VmHWM:"), field("RssAnon:"));
}

fn last_timestamp(dir: &Path) -> u64 {
    let out = Command::new("journalctl")
        .arg(format!("--directory={}", dir.display()))
        .args(["--output=json", "--lines=1"])
        .output()
        .unwrap_or_else(|e| panic!("journalctl: {e}"));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    v["__REALTIME_TIMESTAMP"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Writes `entries` entries into `dir` (once: an existing `dir/.complete` is reused): 10 files,
/// 100 functions round-robin with 2 PIDs each, 10 ms apart, every 500th message 2 KiB (zstd).
fn generate(dir: &Path, entries: usize) -> PathBuf {
    if dir.join(".complete").exists() {
        return dir.to_owned();
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let now = u64::try_from(Timestamp::now().unix_nanos() / 1000).unwrap_or(0);
    let step = 10_000u64; // 10 ms
    let first = now - entries as u64 * step;
    let per_file = entries.div_ceil(FILES);
    let names: Arc<[String]> = (0..FUNCTIONS).map(|i| format!("{NS}:fn-{i}")).collect();
    let filler = "x".repeat(2048);
    for f in 0..FILES {
        let stem = if f + 1 == FILES {
            "system".to_owned()
        } else {
            format!("system@{f:04}")
        };
        let path = dir.join(format!("{stem}.journal"));
        let range = f * per_file..((f + 1) * per_file).min(entries);
        journal_remote(&path, &[], |out| {
            for i in range {
                let func = i % FUNCTIONS;
                let message = if i % 500 == 0 {
                    format!("request {i} handled, payload {filler}")
                } else {
                    format!("request {i} handled in {} ms by {}", i % 97, names[func])
                };
                write_entry(
                    out,
                    &ExportEntry {
                        realtime_usec: first + i as u64 * step,
                        identifier: &names[func],
                        pid: 10_000 + (func as u32) * 2 + (i / FUNCTIONS % 2) as u32,
                        message: message.as_bytes(),
                        priority: Some(6),
                        transport: "journal",
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.join(".complete"), b"").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("generated {entries} entries in {:.1?}", started.elapsed());
    dir.to_owned()
}
