//! The requester against real journal files written by `systemd-journal-remote`, checked
//! against what `journalctl` selects from the same files.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use logs_api::{Requester, Timestamp};

const WAIT: Duration = Duration::from_secs(15);

/// Three files as after rotations (interleaved times, so the merge matters), a non-compact one,
/// large zstd-compressed messages, byte-array and non-UTF-8 messages, other functions' lines.
fn rotated_journal(dir: &std::path::Path) -> u64 {
    let t0 = now_usec() - 3_600_000_000;
    let big = |i: u64| format!("big {i} {}", "x".repeat(2000 + i as usize));
    write_journal(
        dir,
        "system@0001",
        &[],
        &[
            line("figlet", 101, t0, "first\n"),
            line("other", 300, t0 + 1, "not mine"),
            line("figlet", 102, t0 + 3, big(3)),
            line("figlet", 101, t0 + 6, "two\nlines"),
        ],
    );
    write_journal(
        dir,
        "system@0002",
        &[("SYSTEMD_JOURNAL_COMPACT", "0")],
        &[
            line("figlet", 102, t0 + 2, "from file two, not compact"),
            line("figlet", 101, t0 + 5, b"bad utf8 \xff\xfe end".to_vec()),
            line("other", 300, t0 + 7, "not mine either"),
        ],
    );
    write_journal(
        dir,
        "system",
        &[],
        &[
            line("figlet", 101, t0 + 4, big(4)),
            line("figlet", 103, t0 + 8, "ünïcødé ✓ <tag> & \"quote\""),
            line("figlet", 103, t0 + 9, "last\r\n"),
        ],
    );
    t0
}

#[tokio::test]
async fn history_equals_journalctl_across_rotated_compressed_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = rotated_journal(dir.path());
    let header = std::process::Command::new("journalctl")
        .arg(format!(
            "--file={}/system@0001.journal",
            dir.path().display()
        ))
        .arg("--header")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let header = String::from_utf8_lossy(&header.stdout);
    assert!(
        header.contains("COMPRESSED-ZSTD") && header.contains("COMPACT"),
        "{header}"
    );

    let r = requester(dir.path());
    let got = ours(&collect(&r, request("figlet")).await);
    let want = journalctl(dir.path(), "figlet", &[]);
    assert_eq!(got, want);
    assert_eq!(got.len(), 8);
    // Spot checks of what journalctl and we agree on.
    let texts: Vec<&str> = got.iter().map(|(_, _, t)| t.as_str()).collect();
    assert_eq!(texts[0], "first");
    assert_eq!(texts[1], "from file two, not compact");
    assert!(texts[2].starts_with("big 3 xxx") && texts[2].len() == 2009);
    assert_eq!(texts[4], "bad utf8 \u{fffd}\u{fffd} end");
    assert_eq!(texts[5], "two\nlines");
    assert_eq!(texts[7], "last");
    assert_eq!(got[0].1, t0 as i64);
    assert_eq!(r.skipped_entries(), 0);
}

#[tokio::test]
async fn tail_since_and_instance_equal_journalctl() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = rotated_journal(dir.path());
    let r = requester(dir.path());
    let all = journalctl(dir.path(), "figlet", &[]);

    for n in [1usize, 3, 8, 50] {
        let mut req = request("figlet");
        req.tail = Some(n);
        let got = ours(&collect(&r, req).await);
        assert_eq!(
            got,
            journalctl(dir.path(), "figlet", &["--lines", &n.to_string()]),
            "tail={n}"
        );
        assert_eq!(got, all[all.len().saturating_sub(n)..], "tail={n}");
    }
    let mut req = request("figlet");
    req.tail = Some(0);
    assert!(collect(&r, req).await.is_empty(), "tail=0");

    // since is inclusive, to the nanosecond: t0+4 µs exactly, and 1 ns later.
    let at = Timestamp::from_unix_micros((t0 + 4) as i64);
    let mut req = request("figlet");
    req.since = Some(at);
    let got = ours(&collect(&r, req.clone()).await);
    let want: Vec<_> = all
        .iter()
        .filter(|m| m.1 >= (t0 + 4) as i64)
        .cloned()
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 5);
    req.since = Some(Timestamp::from_unix_nanos(at.unix_nanos() + 1));
    assert_eq!(collect(&r, req.clone()).await.len(), 4);

    // since + tail: the last N at/after since, not the first N.
    req.since = Some(at);
    req.tail = Some(2);
    assert_eq!(ours(&collect(&r, req.clone()).await), want[3..]);
    req.tail = Some(10);
    assert_eq!(ours(&collect(&r, req).await), want);

    // instance = _PID.
    let mut req = request("figlet");
    req.instance = Some(arc("102"));
    let got = ours(&collect(&r, req.clone()).await);
    assert_eq!(got, journalctl(dir.path(), "figlet", &["_PID=102"]));
    assert_eq!(got.len(), 2);
    req.tail = Some(1);
    assert_eq!(ours(&collect(&r, req).await), got[1..]);
    let mut req = request("figlet");
    req.instance = Some(arc("999"));
    assert!(collect(&r, req).await.is_empty());

    // Another namespace with the same function name sees nothing.
    let mut req = request("figlet");
    req.namespace = arc("staging-fn");
    assert!(collect(&r, req).await.is_empty());
}

#[tokio::test]
async fn messages_carry_name_namespace_level_and_stream() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec();
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 7, t, "hi\n"),
            err_line("figlet", 7, t + 1, "oops"),
        ],
    );
    let m = collect(&requester(dir.path()), request("figlet")).await;
    assert_eq!(m.len(), 2);
    assert_eq!(&*m[0].name, "figlet");
    assert_eq!(&*m[0].namespace, NS);
    assert_eq!(&*m[0].instance, "7");
    assert_eq!(m[0].text, "hi");
    assert_eq!(m[0].level.as_deref(), Some("info"));
    assert_eq!(m[0].stream, Some(logs_api::OutputStream::Stdout));
    assert_eq!(m[1].text, "oops");
    assert_eq!(m[1].level.as_deref(), Some("err"));
    assert_eq!(m[1].stream, Some(logs_api::OutputStream::Stderr));
}

#[tokio::test]
async fn an_entry_without_message_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec() - 1000;
    let file = dir.path().join("system.journal");
    logs_journald::export::journal_remote(&file, &[], |out| {
        use logs_journald::export::write_field;
        for (i, with_message) in [(0u64, true), (1, false), (2, true)] {
            write_field(out, "__REALTIME_TIMESTAMP", (t + i).to_string().as_bytes())?;
            write_field(out, "SYSLOG_IDENTIFIER", format!("{NS}:figlet").as_bytes())?;
            write_field(out, "_PID", b"5")?;
            if with_message {
                write_field(out, "MESSAGE", format!("m{i}").as_bytes())?;
            } else {
                write_field(out, "CODE_LINE", b"12")?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(journalctl(dir.path(), "figlet", &["MESSAGE=m0"]).len(), 1);
    let r = requester(dir.path());
    let got = collect(&r, request("figlet")).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m0", "m2"]);
    assert_eq!(r.skipped_entries(), 1);
}

#[tokio::test]
async fn a_corrupt_entry_is_skipped_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec() - 1000;
    let big = format!("CORRUPTME {}", "y".repeat(4000));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 1, t, "before"),
            line("figlet", 1, t + 1, big),
            line("figlet", 1, t + 2, "after"),
        ],
    );
    // Damage the zstd frame of the big (compressed) MESSAGE: its magic number is 28 b5 2f fd.
    let path = dir.path().join("system.journal");
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let magic = [0x28, 0xb5, 0x2f, 0xfd];
    let pos = bytes
        .windows(4)
        .position(|w| w == magic)
        .unwrap_or_else(|| panic!("no zstd frame in the file"));
    for b in &mut bytes[pos..pos + 24] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));

    let r = requester(dir.path());
    let got = collect(&r, request("figlet")).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["before", "after"]);
    assert!(r.skipped_entries() >= 1, "the corrupt entry is counted");
}

#[tokio::test]
async fn missing_directories_fail_at_startup_but_empty_ones_are_fine() {
    let err = logs_journald::JournaldRequester::new(logs_journald::Args::with_dirs([
        std::path::PathBuf::from("/nonexistent/journal-a"),
    ]))
    .map(|_| ())
    .map_err(|e| e.to_string());
    assert!(
        matches!(&err, Err(e) if e.contains("/nonexistent/journal-a")),
        "{err:?}"
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let r = logs_journald::JournaldRequester::new(logs_journald::Args::with_dirs([
        std::path::PathBuf::from("/nonexistent/journal-a"),
        dir.path().to_owned(),
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.ready().await.is_ok());
    assert!(collect(&r, request("figlet")).await.is_empty());
    drop(dir);
    assert!(
        r.ready().await.is_err(),
        "ready fails once no directory is readable"
    );
}

#[tokio::test]
async fn machine_id_subdirectories_are_read() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sub = dir.path().join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        &sub,
        "system",
        &[],
        &[line("figlet", 1, now_usec(), "nested")],
    );
    let got = collect(&requester(dir.path()), request("figlet")).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "nested");
}

/// Follow: history, then lines appended to the open file, then a rotation (a new file in the
/// directory), each line exactly once, equal to what journalctl selects at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_sees_appends_and_rotation_without_duplicates_or_gaps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 1, t0, "old 0"),
            line("figlet", 1, t0 + 1, "old 1"),
        ],
    );
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    req.tail = Some(1);
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    let next = async |stream: &mut logs_api::LogStream| {
        tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no message within {WAIT:?}"))
            .unwrap_or_else(|| panic!("stream ended"))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    got.push(next(&mut stream).await);
    assert_eq!(got[0].text, "old 1");

    // Appended to the same file, from another process.
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 1, t0 + 2, "live 0"),
            line("other", 2, t0 + 3, "x"),
            line("figlet", 2, t0 + 4, "live 1"),
        ],
    );
    got.push(next(&mut stream).await);
    got.push(next(&mut stream).await);
    // Rotation: the active file is archived under a new name and a new one starts.
    std::fs::rename(
        dir.path().join("system.journal"),
        dir.path().join("system@rotated.journal"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t0 + 5, "after rotation")],
    );
    got.push(next(&mut stream).await);
    // A big compressed line appended too.
    let big = format!("big {}", "z".repeat(5000));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 3, t0 + 6, big.clone())],
    );
    got.push(next(&mut stream).await);

    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["old 1", "live 0", "live 1", "after rotation", big.as_str()]
    );
    let more = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(more.is_err(), "unexpected extra message: {more:?}");
    let all = journalctl(dir.path(), "figlet", &[]);
    assert_eq!(ours(&got), all[1..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_starts_on_an_empty_directory_and_respects_filters() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    req.instance = Some(arc("2"));
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec();
    let sub = dir.path().join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        &sub,
        "system",
        &[],
        &[
            line("figlet", 1, t, "pid 1"),
            line("figlet", 2, t + 1, "pid 2"),
        ],
    );
    let m = tokio::time::timeout(WAIT, stream.next()).await;
    let m = m
        .ok()
        .flatten()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no message"));
    assert_eq!((m.text.as_str(), &*m.instance), ("pid 2", "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_with_tail_zero_sends_only_new_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec() - 1000;
    write_journal(dir.path(), "system", &[], &[line("figlet", 1, t, "old")]);
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    req.tail = Some(0);
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t + 1, "new")],
    );
    let m = tokio::time::timeout(WAIT, stream.next()).await;
    let m = m
        .ok()
        .flatten()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no message"));
    assert_eq!(m.text, "new");
}

/// More wanted messages than a backward pass keeps: the reader goes forward instead, with the
/// same answer as journalctl.
#[tokio::test]
async fn large_tail_and_since_answers_equal_journalctl() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 600_000_000;
    let lines: Vec<Line> = (0..5000u64)
        .map(|i| {
            line(
                if i % 2 == 0 { "figlet" } else { "other" },
                1 + (i % 3) as u32,
                t0 + i * 10,
                format!("n {i}"),
            )
        })
        .collect();
    let (a, b) = lines.split_at(2600);
    write_journal(dir.path(), "system@1", &[], a);
    write_journal(dir.path(), "system", &[], b);
    let r = requester(dir.path());
    let all = journalctl(dir.path(), "figlet", &[]);
    assert_eq!(all.len(), 2500);
    assert_eq!(ours(&collect(&r, request("figlet")).await), all);
    for n in [2047usize, 2048, 2049, 2400, 2500, 9999] {
        let mut req = request("figlet");
        req.tail = Some(n);
        assert_eq!(
            ours(&collect(&r, req).await),
            all[all.len().saturating_sub(n)..],
            "tail={n}"
        );
    }
    for first in [0usize, 100, 1000, 2499] {
        let mut req = request("figlet");
        req.since = Some(Timestamp::from_unix_micros(all[first].1));
        assert_eq!(
            ours(&collect(&r, req.clone()).await),
            all[first..],
            "since #{first}"
        );
        req.tail = Some(2200);
        let want = &all[first..];
        assert_eq!(
            ours(&collect(&r, req).await),
            want[want.len().saturating_sub(2200)..],
            "since #{first} tail"
        );
    }
    assert_eq!(r.skipped_entries(), 0);
}

/// A burst larger than a backward pass keeps, appended while following, arrives complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_survives_a_burst() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 600_000_000;
    write_journal(dir.path(), "system", &[], &[line("figlet", 1, t0, "start")]);
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let burst: Vec<Line> = (1..=3000u64)
        .map(|i| line("figlet", 2, t0 + i, format!("burst {i}")))
        .collect();
    write_journal(dir.path(), "system", &[], &burst);
    let mut got = Vec::new();
    while got.len() < 3001 {
        let m = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} messages", got.len()))
            .unwrap_or_else(|| panic!("stream ended"))
            .unwrap_or_else(|e| panic!("{e}"));
        got.push(m);
    }
    assert_eq!(ours(&got), journalctl(dir.path(), "figlet", &[]));
    let more = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(more.is_err(), "unexpected extra message: {more:?}");
}

/// inotify, not the safety-net timer, makes a follower live: with the timer set to an hour,
/// appends and a new file still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_is_driven_by_inotify() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut args = logs_journald::Args::with_dirs([dir.path().to_owned()]);
    args.recheck_interval = Duration::from_secs(3600);
    let r = logs_journald::JournaldRequester::new(args).unwrap_or_else(|e| panic!("{e}"));
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec();
    for (i, stem) in ["system", "system", "system@next"].iter().enumerate() {
        let text = format!("via inotify {i}");
        write_journal(
            dir.path(),
            stem,
            &[],
            &[line("figlet", 1, t0 + i as u64, text.clone())],
        );
        let m = tokio::time::timeout(WAIT, stream.next()).await;
        let m = m
            .ok()
            .flatten()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{text:?} never arrived"));
        assert_eq!(m.text, text);
    }
}

/// A directory whose only journal file cannot be opened: the request fails before the first
/// byte (a `500`), with the reason in the error chain for the server log.
#[tokio::test]
async fn an_unreadable_journal_fails_the_request_up_front() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("system.journal"),
        b"not a journal file at all",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = requester(dir.path());
    let err = r
        .query(request("figlet"))
        .await
        .map(|_| ())
        .map_err(|e| e.chain());
    assert!(
        matches!(&err, Err(e) if e.starts_with("opening the journal")),
        "{err:?}"
    );
}

/// A follower whose journal keeps failing to re-open gives up with an error item (an aborted
/// response), after its retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gives_up_when_the_journal_stays_unreadable() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, now_usec(), "before")],
    );
    let mut args = logs_journald::Args::with_dirs([dir.path().to_owned()]);
    args.recheck_interval = Duration::from_millis(10);
    let r = logs_journald::JournaldRequester::new(args).unwrap_or_else(|e| panic!("{e}"));
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let first = tokio::time::timeout(WAIT, stream.next()).await;
    assert!(
        matches!(&first, Ok(Some(Ok(m))) if m.text == "before"),
        "{first:?}"
    );
    std::fs::write(dir.path().join("system.journal"), b"garbage now")
        .unwrap_or_else(|e| panic!("{e}"));
    let end = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
    let Ok(Some(Err(e))) = end else {
        panic!("expected an error item, got {end:?}");
    };
    assert!(
        e.chain().starts_with("re-opening the journal"),
        "{}",
        e.chain()
    );
    let after = tokio::time::timeout(WAIT, stream.next()).await;
    assert!(
        matches!(after, Ok(None)),
        "the stream ends after the error: {after:?}"
    );
}

/// `--look-back` bounds requests without `since`; an explicit `since` is used as given.
#[tokio::test]
async fn look_back_bounds_requests_without_since() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = now_usec();
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 1, now - 3_600_000_000, "an hour ago"),
            line("figlet", 1, now - 60_000_000, "a minute ago"),
        ],
    );
    let mut args = logs_journald::Args::with_dirs([dir.path().to_owned()]);
    args.look_back = Duration::from_secs(600);
    let r = logs_journald::JournaldRequester::new(args).unwrap_or_else(|e| panic!("{e}"));
    let texts = |m: Vec<logs_api::Message>| m.into_iter().map(|m| m.text).collect::<Vec<_>>();
    assert_eq!(
        texts(collect(&r, request("figlet")).await),
        ["a minute ago"]
    );
    let mut req = request("figlet");
    req.since = Some(Timestamp::from_unix_micros((now - 7_200_000_000) as i64));
    assert_eq!(
        texts(collect(&r, req).await),
        ["an hour ago", "a minute ago"]
    );
    // Unbounded by default.
    assert_eq!(
        collect(&requester(dir.path()), request("figlet"))
            .await
            .len(),
        2
    );
}
