//! What can make the journald backend hang, and the bounds that hold when it does (issue 10).
//!
//! `ready()` lists the journal directories (`read_dir`); `query()` stats them, lists them and
//! opens, maps and reads every journal file, all on tokio's blocking pool. Nothing there waits
//! on another process, so on a local file system nothing blocks: a FIFO named like a journal
//! file (which would block an `open` for reading until a writer comes) is skipped by the
//! reader, which opens regular files only (first test). What does block is the file system
//! itself not answering: an NFS or FUSE mount whose server is gone, a dying disk. The second
//! test mounts a FUSE file system that never answers over the journal directory, so every
//! `stat`, `read_dir` and `open` in it blocks, and proves that `/healthz/ready` still answers
//! `503` and `/system/logs` `500` within their bounds. A thread blocked in such a system call
//! cannot be cancelled; the core's coalescing keeps it to one per readiness check (not one per
//! probe), which the test counts.
//!
//! The FUSE test needs root (CAP_SYS_ADMIN) and `/dev/fuse`, like `journald_live.rs`, and fails
//! loudly without them.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use logs_api::testing::{get_timed, logs_is_bounded, ready_is_bounded, serve_with_hang_bounds};
use logs_api::{Config, Server};

#[tokio::test]
async fn a_fifo_named_like_a_journal_file_does_not_block() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_journal(
        dir.path(),
        "system",
        &[],
        &[line("figlet", 101, now_usec() - 1_000_000, "hello")],
    );
    let fifo = dir.path().join("user-1000.journal");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(made.success());
    let server = Server::bind(
        Arc::new(requester(dir.path())),
        Config::local(Duration::from_secs(30)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .spawn();
    let ready = get_timed(server.addr, "/healthz/ready").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let logs = get_timed(server.addr, "/system/logs?name=figlet").await;
    assert_eq!(logs.status, 200, "{logs:?}");
    assert!(logs.body.contains("\"text\":\"hello\""), "{logs:?}");
    assert!(logs.took < Duration::from_secs(5), "{logs:?}");
}

/// A FUSE file system mounted over a directory whose daemon never answers (not even the
/// kernel's `FUSE_INIT`), so every access below the mount point blocks. Dropping it aborts the
/// connection, which fails every blocked call with `ENOTCONN`, then detaches the mount.
struct DeadFuse {
    mount_point: PathBuf,
    device: Option<File>,
}

impl DeadFuse {
    fn mount(mount_point: &Path) -> DeadFuse {
        let device = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .unwrap_or_else(|e| panic!("opening /dev/fuse (needs root and fuse): {e}"));
        let options = std::ffi::CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0",
            device.as_raw_fd()
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        rustix::mount::mount(
            "faas-logs-dead",
            mount_point,
            "fuse",
            rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
            options.as_c_str(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "mounting FUSE on {} (needs root): {e}",
                mount_point.display()
            )
        });
        DeadFuse {
            mount_point: mount_point.to_owned(),
            device: Some(device),
        }
    }
}

impl Drop for DeadFuse {
    fn drop(&mut self) {
        drop(self.device.take());
        let _ = rustix::mount::unmount(&self.mount_point, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Threads of this process blocked in the FUSE file system.
fn threads_blocked_in_fuse() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("wchan"))
                        .is_ok_and(|w| w.contains("fuse"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_when_the_journal_file_system_never_answers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap_or_else(|e| panic!("{e}"));
    // Built while the directory answers (start-up checks it), then the file system dies.
    let requester = requester(&journal);
    let dead = DeadFuse::mount(&journal);
    let server = serve_with_hang_bounds(Arc::new(requester)).await;

    let ready = ready_is_bounded(&server).await;
    let logs = logs_is_bounded(&server).await;
    println!(
        "journal on a file system that never answers: /healthz/ready {ready:?}, /system/logs {logs:?}"
    );
    // One readiness check for the 10 probes and one query: two threads stuck in the kernel.
    let since = Instant::now();
    while threads_blocked_in_fuse() < 2 && since.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(threads_blocked_in_fuse(), 2);
    server.shutdown().await;
    drop(dead);
    let since = Instant::now();
    while threads_blocked_in_fuse() != 0 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "threads still blocked in FUSE"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
