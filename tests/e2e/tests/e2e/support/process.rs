//! A provider binary running as a child process: started as a user starts it, its log kept,
//! stopped with SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::binaries::Binary;

/// How long a binary gets to start listening, or to exit.
pub const START_WAIT: Duration = Duration::from_secs(30);

/// A provider binary running as a child process; killed (SIGKILL) when dropped.
pub struct ProviderProcess {
    child: Child,
    /// Where it listens (from its `Listening.` log line).
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// A command for `binary` whose environment has none of the variables the providers read
/// (`FAAS_LOGS_*`, `basic_auth`, `secret_mount_path`, `KUBECONFIG`) from the environment of the
/// tests: each test sets what it means, nothing leaks in from the developer's shell.
pub fn command(binary: Binary) -> Command {
    let mut command = Command::new(binary.path());
    for (key, _) in std::env::vars_os() {
        let read_by_providers = key.to_str().is_some_and(|k| {
            k.starts_with("FAAS_LOGS_")
                || ["basic_auth", "secret_mount_path", "KUBECONFIG", "RUST_LOG"].contains(&k)
        });
        if read_by_providers {
            command.env_remove(&key);
        }
    }
    command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Starts `binary` on `127.0.0.1`, port 0 (flags `--address` and `--port`), with `args` and
/// `envs`, and waits until it logs the address it listens on.
///
/// # Panics
/// When it cannot start, or exits or stays silent for [`START_WAIT`] before listening; its log
/// is in the message.
pub async fn start(binary: Binary, args: &[&str], envs: &[(&str, &str)]) -> ProviderProcess {
    let mut child = command(binary)
        .args(["--address", "127.0.0.1", "--port", "0"])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.path().display()));
    let stderr = child
        .stderr
        .take()
        .unwrap_or_else(|| panic!("stderr is piped"));
    let mut lines = BufReader::new(stderr).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let keep = |line: &str| {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
    };
    let found = tokio::time::timeout(START_WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            keep(&line);
            if line.contains("Listening.") {
                return listening_addr(&line);
            }
        }
        None
    })
    .await;
    let Ok(Some(addr)) = found else {
        let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        panic!(
            "{} {:?} did not start listening; its log:\n{log}",
            binary.name(),
            args
        );
    };
    // Keep reading the log: the whole of it is checked for leaked secrets, and a full pipe
    // would block the child.
    let rest = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = rest.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    ProviderProcess { child, addr, log }
}

/// The `addr=` field of a `Listening.` log line (text format: `addr=127.0.0.1:41234`).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .and_then(|a| a.trim_matches('"').parse().ok())
}

impl ProviderProcess {
    /// What it has logged (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends SIGTERM, waits up to `wait` for the exit, and returns the exit status and how
    /// long the exit took.
    ///
    /// # Panics
    /// When the signal cannot be sent or the process does not exit within `wait`.
    pub async fn terminate_within(mut self, wait: Duration) -> (ExitStatus, Duration) {
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw)
            .unwrap_or_else(|| panic!("the provider has already been reaped"));
        let sent = Instant::now();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .unwrap_or_else(|e| panic!("SIGTERM to {pid:?}: {e}"));
        let status = tokio::time::timeout(wait, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the provider did not exit within {wait:?} of SIGTERM; its log:\n{}",
                    self.log()
                )
            })
            .unwrap_or_else(|e| panic!("waiting for the provider: {e}"));
        (status, sent.elapsed())
    }

    /// Sends SIGTERM, waits up to [`START_WAIT`] for the exit, and checks that it is a success
    /// (status 0).
    ///
    /// # Panics
    /// When it does not exit in time or exits otherwise; its log is in the message.
    pub async fn terminate_cleanly(self) {
        let log = self.log.clone();
        let (status, _) = self.terminate_within(START_WAIT).await;
        assert!(
            status.success(),
            "exit status after SIGTERM: {status:?}; its log:\n{}",
            log.lock().unwrap_or_else(|e| e.into_inner())
        );
    }
}

/// Runs `binary` with `args` and `envs` to its exit and returns (exit code, stderr): for
/// start-up errors and `--help`.
///
/// # Panics
/// When it cannot be started or runs for more than [`START_WAIT`].
pub async fn run_to_exit(
    binary: Binary,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Option<i32>, String) {
    let out = output(binary, args, envs).await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `binary` with `args` and `envs` to its exit and returns its whole output.
///
/// # Panics
/// When it cannot be started or runs for more than [`START_WAIT`].
pub async fn output(binary: Binary, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    tokio::time::timeout(
        START_WAIT,
        command(binary)
            .args(args)
            .envs(envs.iter().copied())
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{} did not exit within {START_WAIT:?}", binary.name()))
    .unwrap_or_else(|e| panic!("running {}: {e}", binary.path().display()))
}

/// A path as a `String` argument.
pub fn arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_listening_line() {
        assert_eq!(
            listening_addr(
                "2026-01-01T00:00:00Z  INFO logs_api::server: Listening. addr=127.0.0.1:4123 tls=false"
            ),
            Some(SocketAddr::from(([127, 0, 0, 1], 4123)))
        );
        assert_eq!(
            listening_addr("Listening. addr=\"[::1]:80\""),
            Some(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 80)))
        );
        assert_eq!(listening_addr("Listening. nothing"), None);
    }
}
