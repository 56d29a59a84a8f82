//! The journal going away under a follower: archived files vacuumed, rotation and vacuum
//! together, every file deleted and a new journal started. The stream goes on with the lines
//! still on disk, never repeats one, never panics.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use logs_api::{LogStream, Requester};

const WAIT: Duration = Duration::from_secs(15);

async fn next_text(stream: &mut LogStream) -> String {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn nothing_more(stream: &mut LogStream) {
    let more = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_rotation_and_a_wiped_journal_never_repeat_or_lose_lines_on_disk() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(
        dir.path(),
        "system@0001",
        &[],
        &[
            line("figlet", 1, t0, "old 0"),
            line("figlet", 1, t0 + 1, "old 1"),
        ],
    );
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t0 + 2, "current")],
    );
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    for want in ["old 0", "old 1", "current"] {
        assert_eq!(next_text(&mut stream).await, want);
    }

    // journalctl --vacuum-*: archived files deleted while the active one grows.
    std::fs::remove_file(dir.path().join("system@0001.journal")).unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t0 + 3, "after vacuum")],
    );
    assert_eq!(next_text(&mut stream).await, "after vacuum");
    nothing_more(&mut stream).await;

    // Rotation, then the archive vacuumed right after its lines were read.
    std::fs::rename(
        dir.path().join("system.journal"),
        dir.path().join("system@0002.journal"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 2, t0 + 4, "rotated")],
    );
    assert_eq!(next_text(&mut stream).await, "rotated");
    std::fs::remove_file(dir.path().join("system@0002.journal")).unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 2, t0 + 5, "after both")],
    );
    assert_eq!(next_text(&mut stream).await, "after both");
    nothing_more(&mut stream).await;

    // Every file gone (journald's storage wiped), then journald starts a new journal.
    for entry in std::fs::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 3, t0 + 6, "fresh journal")],
    );
    assert_eq!(next_text(&mut stream).await, "fresh journal");
    nothing_more(&mut stream).await;
}

/// What is guaranteed when files go before the follower read them: those lines are lost (they
/// are nowhere to read), and the follower goes on with the next line still on disk, without
/// repeating anything. A stream is pulled: while the client does not read, nothing is read
/// from the journal, so this is what a slow client sees across an aggressive vacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_deleted_before_they_are_read_are_the_only_loss() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(dir.path(), "system", &[], &[line("figlet", 1, t0, "read")]);
    let r = requester(dir.path());
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next_text(&mut stream).await, "read");

    // Not polled meanwhile: two lines written, their file rotated and vacuumed, a new file.
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 1, t0 + 1, "lost 1"),
            line("figlet", 1, t0 + 2, "lost 2"),
        ],
    );
    std::fs::rename(
        dir.path().join("system.journal"),
        dir.path().join("system@0001.journal"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t0 + 3, "on disk")],
    );
    std::fs::remove_file(dir.path().join("system@0001.journal")).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(next_text(&mut stream).await, "on disk");
    nothing_more(&mut stream).await;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, t0 + 4, "next")],
    );
    assert_eq!(next_text(&mut stream).await, "next");
    nothing_more(&mut stream).await;
}

/// Followers while lines keep coming and the journal is rotated and vacuumed under them
/// (`SystemMaxFileSize`/`SystemMaxUse` at work, as fast as we can make it), one reading as fast
/// as it can, one slower than the writer (so the vacuum deletes lines it has not read yet):
/// each gets every line at most once and in order, and every line still on disk at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_writes_through_rotation_and_vacuum_lose_only_deleted_lines() {
    const BATCHES: u64 = 40;
    const PER_BATCH: u64 = 3;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(dir.path(), "system", &[], &[line("steady", 7, t0, "start")]);
    let r = requester(dir.path());
    let last = format!("seq {}", BATCHES * PER_BATCH - 1);
    let mut readers = Vec::new();
    for pause in [Duration::ZERO, Duration::from_millis(40)] {
        let mut req = request("steady");
        req.follow = true;
        let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next_text(&mut stream).await, "start");
        let last = last.clone();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let text = next_text(&mut stream).await;
                let done = text == last;
                got.push(text);
                if done {
                    // Nothing after the last line either.
                    nothing_more(&mut stream).await;
                    return got;
                }
                tokio::time::sleep(pause).await;
            }
        }));
    }

    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut archives: Vec<std::path::PathBuf> = Vec::new();
        for batch in 0..BATCHES {
            let lines: Vec<Line> = (0..PER_BATCH)
                .map(|i| {
                    let n = batch * PER_BATCH + i;
                    line("steady", 7, t0 + 1 + n, format!("seq {n}"))
                })
                .collect();
            write_journal(&path, "system", &[], &lines);
            if batch % 5 == 4 {
                // Rotate, and vacuum every archive but the newest.
                let archive = path.join(format!("system@{batch:04}.journal"));
                std::fs::rename(path.join("system.journal"), &archive)
                    .unwrap_or_else(|e| panic!("{e}"));
                archives.push(archive);
                for old in archives.drain(..archives.len() - 1) {
                    std::fs::remove_file(&old).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let on_disk: Vec<String> = journalctl(dir.path(), "steady", &[])
        .into_iter()
        .map(|(_, _, text)| text)
        .filter(|t| t != "start")
        .collect();
    assert_eq!(on_disk.len(), 15, "the newest archive (5 batches) is left");
    for reader in readers {
        let got = reader.await.unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<u64> = got
            .iter()
            .map(|t| {
                t.strip_prefix("seq ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected line {t:?}"))
            })
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "repeated or out of order: {seqs:?}"
        );
        let missed: Vec<&String> = on_disk.iter().filter(|t| !got.contains(t)).collect();
        assert!(
            missed.is_empty(),
            "lines on disk never delivered: {missed:?}"
        );
    }
}
