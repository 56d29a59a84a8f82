//! Follow against a real, running systemd-journald (a private one in its own mount namespace,
//! `tools/journald-sandbox.sh`): lines logged with `systemd-cat` arrive live, across a rotation
//! done by journald itself, each exactly once, equal to what journalctl selects.
//!
//! Needs root (for `unshare --mount`) and systemd's journald; fails loudly if either is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use logs_api::Requester;

const WAIT: Duration = Duration::from_secs(15);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/journald-sandbox.sh")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running journald-sandbox.sh: {e}"));
    assert!(
        out.status.success(),
        "journald-sandbox.sh {args:?} failed (needs root and systemd-journald): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops the sandboxed journald when the test ends, whatever happens.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        run(&["start", &dir.path().display().to_string()]);
        Sandbox { dir }
    }
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
    fn log(&self, text: &str) {
        run(&["log", &self.path(), &format!("{NS}:figlet"), "echo", text]);
    }
    fn journal(&self) -> PathBuf {
        self.dir.path().join("log")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.path()])
            .status();
    }
}

async fn expect(stream: &mut logs_api::LogStream, text: &str) -> logs_api::Message {
    let m = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("{text:?} did not arrive within {WAIT:?}"))
        .unwrap_or_else(|| panic!("stream ended"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.text, text);
    m
}

fn journal_files(dir: &Path) -> usize {
    let mut n = 0;
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        n += std::fs::read_dir(sub.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".journal"))
            .count();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_a_running_journald_across_its_own_rotation() {
    let sandbox = Sandbox::start();
    sandbox.log("before the request");
    // journald writes asynchronously to the client: wait until the line is in the file.
    let started = Instant::now();
    while journalctl(&sandbox.journal(), "figlet", &[]).is_empty() {
        assert!(
            started.elapsed() < WAIT,
            "journald never wrote the first line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = requester(&sandbox.journal());
    let mut req = request("figlet");
    req.follow = true;
    let mut stream = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    got.push(expect(&mut stream, "before the request").await);
    sandbox.log("live one");
    got.push(expect(&mut stream, "live one").await);
    run(&["rotate", &sandbox.path()]);
    let started = Instant::now();
    while journal_files(&sandbox.journal()) < 2 {
        assert!(started.elapsed() < WAIT, "journald did not rotate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sandbox.log("after rotation");
    got.push(expect(&mut stream, "after rotation").await);
    sandbox.log("and one more");
    got.push(expect(&mut stream, "and one more").await);

    let more = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(more.is_err(), "unexpected extra message: {more:?}");
    assert_eq!(ours(&got), journalctl(&sandbox.journal(), "figlet", &[]));
    // Each systemd-cat was its own process: one instance per line.
    assert!(got.windows(2).all(|w| w[0].instance != w[1].instance));
}
