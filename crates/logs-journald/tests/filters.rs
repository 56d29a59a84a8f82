//! Filters and the functions listing over real journal files written by
//! `systemd-journal-remote`, checked against what `journalctl` selects from the same files.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use logs_api::testing::{get, open};
use logs_api::{Config, Filter, OutputStream, Requester, Server, Severity};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use logs_journald::{Args, JournaldRequester};

const WAIT: Duration = Duration::from_secs(15);

/// One entry: function (`None`: a system service), pid, µs after `t0`, text, `PRIORITY`,
/// `_TRANSPORT`.
type Entry = (
    Option<&'static str>,
    u32,
    u64,
    &'static str,
    Option<u8>,
    &'static str,
);

fn write(path: &Path, env: &[(&str, &str)], t0: u64, entries: &[Entry]) {
    journal_remote(path, env, |out| {
        for (name, pid, dt, text, priority, transport) in entries {
            let identifier = match name {
                Some(n) => format!("{NS}:{n}"),
                None => "systemd".to_owned(),
            };
            write_entry(
                out,
                &ExportEntry {
                    realtime_usec: t0 + dt,
                    identifier: &identifier,
                    pid: *pid,
                    message: text.as_bytes(),
                    priority: *priority,
                    transport,
                },
            )?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Every priority, both of faasd's streams, an entry without `PRIORITY`, a `PRIORITY=6` line
/// that did not come from faasd's collector, and other identifiers, over two files.
fn mixed_journal(dir: &Path) {
    let t0 = now_usec() - 3_600_000_000;
    let f = Some("figlet");
    write(
        &dir.join("system@0001.journal"),
        &[],
        t0,
        &[
            (f, 10, 1, "out one", Some(6), "journal"),
            (f, 10, 2, "err one", Some(3), "journal"),
            (f, 10, 3, "emergency", Some(0), "journal"),
            (None, 1, 4, "err from systemd", Some(3), "journal"),
            (f, 11, 5, "critical", Some(2), "journal"),
            (f, 11, 6, "alert", Some(1), "journal"),
            (Some("other"), 12, 7, "err from other", Some(3), "journal"),
        ],
    );
    write(
        &dir.join("system.journal"),
        &[("SYSTEMD_JOURNAL_COMPACT", "0")],
        t0,
        &[
            (f, 11, 8, "warning", Some(4), "journal"),
            (f, 11, 9, "notice", Some(5), "journal"),
            (f, 10, 10, "no priority", None, "journal"),
            (f, 10, 11, "debug", Some(7), "journal"),
            (f, 10, 12, "info via stdout transport", Some(6), "stdout"),
            (f, 11, 13, "err two", Some(3), "journal"),
            (f, 10, 14, "out two", Some(6), "journal"),
        ],
    );
}

async fn texts(r: &JournaldRequester, filter: Filter, tail: Option<usize>) -> Vec<String> {
    let mut req = request("figlet");
    req.filter = filter;
    req.tail = tail;
    collect(r, req).await.into_iter().map(|m| m.text).collect()
}

fn level(l: Severity) -> Filter {
    Filter {
        level: Some(l),
        ..Filter::default()
    }
}

/// `journalctl --priority=…` texts for figlet.
fn journalctl_texts(dir: &Path, extra: &[&str]) -> Vec<String> {
    journalctl(dir, "figlet", extra)
        .into_iter()
        .map(|(_, _, t)| t)
        .collect()
}

#[tokio::test]
async fn level_error_returns_only_priorities_up_to_3_like_journalctl() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let r = requester(dir.path());
    let errors = texts(&r, level(Severity::Error), None).await;
    assert_eq!(
        errors,
        ["err one", "emergency", "critical", "alert", "err two"]
    );
    assert_eq!(
        errors,
        journalctl_texts(dir.path(), &["--priority=err"]),
        "journalctl -p err"
    );
    for (l, flag) in [
        (Severity::Emergency, "emerg"),
        (Severity::Critical, "crit"),
        (Severity::Warning, "warning"),
        (Severity::Notice, "notice"),
    ] {
        assert_eq!(
            texts(&r, level(l), None).await,
            journalctl_texts(dir.path(), &[&format!("--priority={flag}")]),
            "level={flag}"
        );
    }
}

#[tokio::test]
async fn level_error_tail_1_is_the_newest_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let r = requester(dir.path());
    assert_eq!(
        texts(&r, level(Severity::Error), Some(1)).await,
        ["err two"]
    );
    assert_eq!(
        texts(&r, level(Severity::Error), Some(2)).await,
        ["alert", "err two"]
    );
    assert_eq!(
        texts(&r, level(Severity::Error), Some(2)).await,
        journalctl_texts(dir.path(), &["--priority=err", "--lines=2"])
    );
}

#[tokio::test]
async fn level_info_counts_entries_without_priority_and_debug_keeps_all() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let r = requester(dir.path());
    let all = texts(&r, Filter::default(), None).await;
    assert_eq!(all.len(), 12);
    assert_eq!(texts(&r, level(Severity::Debug), None).await, all);
    let info = texts(&r, level(Severity::Info), None).await;
    let want: Vec<String> = all.iter().filter(|t| *t != "debug").cloned().collect();
    assert_eq!(
        info, want,
        "everything but PRIORITY=7; no PRIORITY counts as info"
    );
    assert!(info.contains(&"no priority".to_owned()));
    assert_eq!(
        texts(&r, level(Severity::Info), Some(3)).await,
        ["info via stdout transport", "err two", "out two"]
    );
}

#[tokio::test]
async fn stream_follows_faasds_collector_convention() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let r = requester(dir.path());
    let stream = |s| Filter {
        stream: Some(s),
        ..Filter::default()
    };
    // PRIORITY=6 over `_TRANSPORT=stdout` (not faasd's collector) is no known stream.
    assert_eq!(
        texts(&r, stream(OutputStream::Stdout), None).await,
        ["out one", "out two"]
    );
    assert_eq!(
        texts(&r, stream(OutputStream::Stderr), None).await,
        ["err one", "err two"]
    );
    assert_eq!(
        texts(&r, stream(OutputStream::Stderr), Some(1)).await,
        ["err two"]
    );
    let mut f = stream(OutputStream::Stdout);
    f.level = Some(Severity::Error);
    assert!(texts(&r, f, None).await.is_empty(), "stdout lines are info");
    let mut f = stream(OutputStream::Stderr);
    f.level = Some(Severity::Warning);
    f.grep = Some("two".into());
    assert_eq!(texts(&r, f, None).await, ["err two"]);
    let mut req = request("figlet");
    req.filter = stream(OutputStream::Stdout);
    for m in collect(&r, req).await {
        assert_eq!(m.stream, Some(OutputStream::Stdout));
        assert_eq!(m.level.as_deref(), Some("info"));
    }
}

#[tokio::test]
async fn grep_and_regexp_filter_text_before_tail() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let r = requester(dir.path());
    let grep = |g: &str| Filter {
        grep: Some(g.into()),
        ..Filter::default()
    };
    let regexp = |p: &str| Filter {
        regexp: Some(Filter::compile_regexp(p).unwrap_or_else(|e| panic!("{e}"))),
        ..Filter::default()
    };
    assert_eq!(texts(&r, grep("err"), None).await, ["err one", "err two"]);
    assert_eq!(texts(&r, grep("ERR"), None).await, Vec::<String>::new());
    assert_eq!(texts(&r, grep("o"), Some(2)).await, ["err two", "out two"]);
    assert_eq!(
        texts(&r, regexp("^(out|err) "), None).await,
        ["out one", "err one", "err two", "out two"]
    );
    assert_eq!(
        texts(&r, regexp("(?i)^ALERT$|^notice$"), None).await,
        ["alert", "notice"]
    );
    assert_eq!(texts(&r, regexp("one$"), Some(1)).await, ["err one"]);
    // Other identifiers' lines never match, whatever the text.
    assert!(texts(&r, grep("systemd"), None).await.is_empty());
}

/// A tail of rare matches deeper than one backward pass (2,048 messages) still finds them.
#[tokio::test]
async fn rare_matches_are_found_behind_many_others() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 3_600_000_000;
    let lines: Vec<Line> = (0..6000u64)
        .map(|i| {
            let text = if i % 1000 == 7 {
                format!("needle {i}")
            } else {
                format!("hay {i}")
            };
            if i % 1000 == 7 {
                err_line("figlet", 10, t0 + i, text)
            } else {
                line("figlet", 10, t0 + i, text)
            }
        })
        .collect();
    write_journal(dir.path(), "system", &[], &lines);
    let r = requester(dir.path());
    let needles: Vec<String> = (0..6).map(|k| format!("needle {}", k * 1000 + 7)).collect();
    let grep = Filter {
        grep: Some("needle".into()),
        ..Filter::default()
    };
    assert_eq!(texts(&r, grep.clone(), Some(2)).await, needles[4..]);
    assert_eq!(texts(&r, grep.clone(), None).await, needles);
    assert_eq!(
        texts(&r, level(Severity::Error), Some(3)).await,
        needles[3..]
    );
    // More matches than one backward pass holds: the reader goes forward from the earliest.
    let hay = Filter {
        grep: Some("hay".into()),
        ..Filter::default()
    };
    let got = texts(&r, hay, Some(5000)).await;
    assert_eq!(got.len(), 5000);
    assert_eq!(got.first().map(String::as_str), Some("hay 995"));
    assert_eq!(got.last().map(String::as_str), Some("hay 5999"));
    assert!(got.iter().all(|t| t.starts_with("hay ")));
}

async fn next(s: &mut logs_api::LogStream) -> String {
    tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("no line within {WAIT:?}"))
        .unwrap_or_else(|| panic!("stream ended"))
        .unwrap_or_else(|e| panic!("{e}"))
        .text
}

#[tokio::test]
async fn follow_delivers_only_matching_live_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 10, t0, "old out"),
            err_line("figlet", 10, t0 + 1, "old err"),
        ],
    );
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    req.filter.level = Some(Severity::Error);
    let mut s = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next(&mut s).await, "old err");
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 10, t0 + 2, "live out"),
            err_line("figlet", 11, t0 + 3, "live err"),
        ],
    );
    assert_eq!(next(&mut s).await, "live err");
    let more = tokio::time::timeout(Duration::from_millis(500), s.next()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
}

async fn serve(dir: &Path) -> logs_api::RunningServer {
    Server::bind(
        Arc::new(requester(dir)),
        Config::local(Duration::from_secs(30)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .spawn()
}

#[tokio::test]
async fn over_http_filters_work_and_a_bad_regexp_is_422() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mixed_journal(dir.path());
    let server = serve(dir.path()).await;
    let res = get(server.addr, "/system/logs?name=figlet&level=error&tail=1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    let m = res.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["text"], "err two");
    assert_eq!(m[0]["level"], "err");
    assert_eq!(m[0]["stream"], "stderr");
    for (query, param) in [
        ("regexp=%28unclosed", "regexp"),
        ("regexp=%5Cw%7B500%7D%7B500%7D", "regexp"),
        ("level=loud", "level"),
        ("stream=stdin", "stream"),
    ] {
        let res = get(server.addr, &format!("/system/logs?name=figlet&{query}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 422, "{query}: {}", res.text());
        assert!(
            res.text()
                .starts_with(&format!("could not parse the log request: {param} ")),
            "{query}: {}",
            res.text()
        );
        assert!(!res.text().contains("err two"));
    }
    // A follow stream with a filter that nothing can match stays open and empty.
    let mut s = open(
        server.addr,
        "/system/logs?name=figlet&follow=true&level=error&stream=stdout",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, 200);
    let more = tokio::time::timeout(Duration::from_millis(500), s.next_line()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
}

/// `journalctl -F SYSLOG_IDENTIFIER` restricted to `ns:` and valid names, sorted.
fn journalctl_functions(dir: &Path, ns: &str) -> Vec<String> {
    let out = std::process::Command::new("journalctl")
        .arg(format!("--directory={}", dir.display()))
        .args(["-F", "SYSLOG_IDENTIFIER"])
        .output()
        .unwrap_or_else(|e| panic!("journalctl: {e}"));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{ns}:")).map(str::to_owned))
        .filter(|n| logs_api::is_dns1123_label(n))
        .collect();
    names.sort();
    names
}

fn identifiers_journal(dir: &Path) {
    let t0 = now_usec() - 3_600_000_000;
    let mut entries = Vec::new();
    for (i, id) in [
        "openfaas-fn:figlet",
        "openfaas-fn:nodeinfo",
        "staging-fn:secret-fn",
        "systemd",
        "openfaas-fn:Bad_Name",
        "openfaas-fn:",
        "openfaas-fn:a:b",
        "openfaas-fn:figlet",
    ]
    .iter()
    .enumerate()
    {
        entries.push((i as u64, *id));
    }
    let write_ids = |path: &Path, env: &[(&str, &str)], ids: &[(u64, &str)]| {
        journal_remote(path, env, |out| {
            for (dt, id) in ids {
                write_entry(
                    out,
                    &ExportEntry {
                        realtime_usec: t0 + dt,
                        identifier: id,
                        pid: 1,
                        message: b"m",
                        priority: Some(6),
                        transport: "journal",
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    };
    write_ids(&dir.join("system@0001.journal"), &[], &entries[..4]);
    let sub = dir.join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
    write_ids(
        &sub.join("system.journal"),
        &[("SYSTEMD_JOURNAL_COMPACT", "0")],
        &[(10, "openfaas-fn:env-test"), (11, "openfaas-fn:nodeinfo")],
    );
    write_ids(&dir.join("system.journal"), &[], &entries[4..]);
}

#[tokio::test]
async fn functions_lists_exactly_the_identifiers_of_the_namespace() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    identifiers_journal(dir.path());
    let r = requester(dir.path());
    let listed = r.functions(NS).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed, ["env-test", "figlet", "nodeinfo"]);
    assert_eq!(
        listed,
        journalctl_functions(dir.path(), NS),
        "journalctl -F"
    );
    assert_eq!(
        r.functions_by_scan(NS)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        listed
    );
    assert_eq!(
        r.functions("staging-fn")
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        ["secret-fn"]
    );
    assert!(
        r.functions("empty-fn")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    // Only the handler's validation stands between a caller and a prefix like `a:b:`.
    assert!(r.functions("openfaas-fn:a").await.is_err());

    let server = serve(dir.path()).await;
    let res = get(server.addr, "/system/logs/functions")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.text(), "[\"env-test\",\"figlet\",\"nodeinfo\"]\n");
    let res = get(server.addr, "/system/logs/functions?namespace=staging-fn")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 422, "not allowed by the default policy");
    assert!(!res.text().contains("secret-fn"));
}

#[tokio::test]
async fn functions_respect_the_look_back() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = now_usec();
    let hour = 3_600_000_000;
    // An archived file entirely older than the bound, and a current file holding one function
    // with only old lines (`stale`, 3 h ago) and one with a line a minute ago (`fresh`).
    write(
        &dir.path().join("system@0001.journal"),
        &[],
        now - 5 * hour,
        &[(Some("ancient"), 1, 0, "x", Some(6), "journal")],
    );
    write(
        &dir.path().join("system.journal"),
        &[],
        now - 3 * hour,
        &[
            (Some("stale"), 1, 0, "old", Some(6), "journal"),
            (Some("fresh"), 1, 1, "old", Some(6), "journal"),
            (
                Some("fresh"),
                1,
                3 * hour - 60_000_000,
                "new",
                Some(6),
                "journal",
            ),
        ],
    );
    let mut args = Args::with_dirs([dir.path().to_owned()]);
    args.look_back = Duration::from_secs(3600);
    let bounded = JournaldRequester::new(args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bounded
            .functions(NS)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        ["fresh"]
    );
    assert_eq!(
        bounded
            .functions_by_scan(NS)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        ["fresh"]
    );
    let unbounded = requester(dir.path());
    assert_eq!(
        unbounded
            .functions(NS)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        ["ancient", "fresh", "stale"]
    );
}

#[tokio::test]
async fn an_unreadable_field_table_falls_back_to_the_entries() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    identifiers_journal(dir.path());
    // Point the archived file's field hash table somewhere absurd; its entries stay readable.
    let path = dir.path().join("system@0001.journal");
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    bytes[120..128].copy_from_slice(&7u64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let r = requester(dir.path());
    assert_eq!(
        r.functions(NS).await.unwrap_or_else(|e| panic!("{e}")),
        ["env-test", "figlet", "nodeinfo"]
    );
}
