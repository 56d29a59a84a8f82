//! Followers of one requester share one inotify instance (a scarce per-user resource), and the
//! last follower to leave closes it. Alone in its test binary: it counts this process's
//! inotify file descriptors.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use logs_api::Requester;

fn inotify_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().contains("inotify"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_share_one_inotify_instance_and_release_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let r = requester(dir.path());
    let before = inotify_fds();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut req = request("figlet");
        req.follow = true;
        streams.push(r.query(req).await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(inotify_fds(), before + 1);
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, now_usec(), "to all")],
    );
    for s in &mut streams {
        let m = tokio::time::timeout(Duration::from_secs(15), s.next()).await;
        let m = m
            .ok()
            .flatten()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("no message"));
        assert_eq!(m.text, "to all");
    }
    streams.truncate(1);
    assert_eq!(
        inotify_fds(),
        before + 1,
        "one follower left keeps the watch"
    );
    drop(streams);
    // The watch task is aborted on drop; its inotify fd closes when the task is dropped.
    let started = std::time::Instant::now();
    while inotify_fds() != before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "inotify instance leaked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new follower starts a new watch and still works.
    let mut req = request("figlet");
    req.follow = true;
    req.tail = Some(0);
    let mut s = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inotify_fds(), before + 1);
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 1, now_usec(), "again")],
    );
    let m = tokio::time::timeout(Duration::from_secs(15), s.next()).await;
    let m = m
        .ok()
        .flatten()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no message"));
    assert_eq!(m.text, "again");
}
