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
