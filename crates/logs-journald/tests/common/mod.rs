//! Helpers shared by the integration tests: real journal files written by systemd's own
//! `systemd-journal-remote`, and the reference answer of `journalctl`.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use logs_api::conformance::Backend;
use logs_api::{Message, OutputStream, Request, Requester};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use logs_journald::{Args, JournaldRequester};
use serde_json::Value;

pub const NS: &str = "openfaas-fn";

/// One line to write: function name, pid, realtime µs, message bytes, priority.
pub struct Line {
    pub name: &'static str,
    pub pid: u32,
    pub usec: u64,
    pub message: Vec<u8>,
    /// 6 for stdout, 3 for stderr, as faasd's collector writes them.
    pub priority: u8,
}

/// A stdout line as faasd's collector writes it (`_TRANSPORT=journal`, `PRIORITY=6`).
pub fn line(name: &'static str, pid: u32, usec: u64, message: impl Into<Vec<u8>>) -> Line {
    Line {
        name,
        pid,
        usec,
        message: message.into(),
        priority: 6,
    }
}

/// A stderr line as faasd's collector writes it (`PRIORITY=3`).
pub fn err_line(name: &'static str, pid: u32, usec: u64, message: impl Into<Vec<u8>>) -> Line {
    Line {
        priority: 3,
        ..line(name, pid, usec, message)
    }
}

/// Writes `lines` into `dir/<stem>.journal` (created or appended) with systemd-journal-remote.
pub fn write_journal(dir: &Path, stem: &str, env: &[(&str, &str)], lines: &[Line]) {
    let file = dir.join(format!("{stem}.journal"));
    journal_remote(&file, env, |out| {
        for l in lines {
            let identifier = format!("{NS}:{}", l.name);
            write_entry(
                out,
                &ExportEntry {
                    realtime_usec: l.usec,
                    identifier: &identifier,
                    pid: l.pid,
                    message: &l.message,
                    priority: Some(l.priority),
                    transport: "journal",
                },
            )?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
}

pub fn requester(dir: &Path) -> JournaldRequester {
    JournaldRequester::new(Args::with_dirs([dir.to_owned()])).unwrap_or_else(|e| panic!("{e}"))
}

pub fn request(name: &str) -> Request {
    Request::new(NS, name)
}

/// The whole (non-follow) answer.
pub async fn collect(r: &JournaldRequester, req: Request) -> Vec<Message> {
    let stream = r.query(req).await.unwrap_or_else(|e| panic!("query: {e}"));
    stream
        .map(|m| m.unwrap_or_else(|e| panic!("stream item: {e}")))
        .collect()
        .await
}

/// (instance, timestamp µs, text) of our messages.
pub fn ours(messages: &[Message]) -> Vec<(String, i64, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m.instance.to_string(),
                m.timestamp.unix_nanos() / 1000,
                m.text.clone(),
            )
        })
        .collect()
}

/// What `journalctl --directory=DIR -o json --all [extra..] SYSLOG_IDENTIFIER=ns:name` selects,
/// as (instance, timestamp µs, text), text decoded the way we promise: lossy UTF-8 from the
/// string or byte-array form, one trailing newline removed.
pub fn journalctl(dir: &Path, name: &str, extra: &[&str]) -> Vec<(String, i64, String)> {
    let out = Command::new("journalctl")
        .arg(format!("--directory={}", dir.display()))
        .args(["-o", "json", "--all", "--no-pager"])
        .args(extra)
        .arg(format!("SYSLOG_IDENTIFIER={NS}:{name}"))
        .output()
        .unwrap_or_else(|e| panic!("journalctl not runnable (apt package systemd): {e}"));
    assert!(
        out.status.success() || out.stdout.is_empty(),
        "journalctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            let text = match &v["MESSAGE"] {
                Value::String(s) => s.clone(),
                Value::Array(bytes) => {
                    let b: Vec<u8> = bytes
                        .iter()
                        .map(|b| b.as_u64().unwrap_or(0) as u8)
                        .collect();
                    String::from_utf8_lossy(&b).into_owned()
                }
                other => panic!("MESSAGE {other}"),
            };
            let text = logs_api::trim_line_end(&text).to_owned();
            let ts: i64 = v["__REALTIME_TIMESTAMP"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("timestamp in {l}"));
            let pid = v["_PID"].as_str().unwrap_or_default().to_owned();
            (pid, ts, text)
        })
        .collect()
}

/// Now, in journal microseconds.
pub fn now_usec() -> u64 {
    u64::try_from(logs_api::Timestamp::now().unix_nanos() / 1000).unwrap_or(0)
}

pub fn arc(s: &str) -> Arc<str> {
    s.into()
}

/// The conformance [`Backend`] over real journal files: every `write` is piped through
/// `systemd-journal-remote` into one journal file of the backend's directory (appended, so
/// followers see a file growing), with strictly increasing realtime timestamps and one fixed
/// `_PID` per instance.
pub struct JournalBackend {
    dir: tempfile::TempDir,
    requester: JournaldRequester,
    /// The next realtime timestamp, µs.
    clock: AtomicU64,
}

#[async_trait::async_trait]
impl Backend for JournalBackend {
    fn requester(&self) -> Arc<dyn Requester> {
        Arc::new(self.requester.clone())
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        self.write_stream(namespace, name, instance, OutputStream::Stdout, lines)
            .await;
    }

    /// As faasd's collector writes them: stdout lines with `PRIORITY=6`, stderr lines with
    /// `PRIORITY=3`, both with `_TRANSPORT=journal`.
    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        let priority = match stream {
            OutputStream::Stdout => 6,
            OutputStream::Stderr => 3,
        };
        let file: PathBuf = self.dir.path().join("system.journal");
        let identifier = format!("{namespace}:{name}");
        let pid = 1000 + u32::try_from(instance).unwrap_or_else(|e| panic!("{e}"));
        let entries: Vec<(u64, Vec<u8>)> = lines
            .iter()
            .map(|l| {
                (
                    self.clock.fetch_add(1000, Ordering::Relaxed),
                    l.as_bytes().to_vec(),
                )
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            journal_remote(&file, &[], |out| {
                for (usec, message) in &entries {
                    write_entry(
                        out,
                        &ExportEntry {
                            realtime_usec: *usec,
                            identifier: &identifier,
                            pid,
                            message,
                            priority: Some(priority),
                            transport: "journal",
                        },
                    )?;
                }
                Ok(())
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl JournalBackend {
    /// A backend over a fresh temporary directory, its clock an hour back.
    pub fn start() -> JournalBackend {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let requester = JournaldRequester::new(Args::with_dirs([dir.path().to_owned()]))
            .unwrap_or_else(|e| panic!("{e}"));
        let now = u64::try_from(logs_api::Timestamp::now().unix_nanos() / 1000).unwrap_or(0);
        JournalBackend {
            dir,
            requester,
            clock: AtomicU64::new(now - 3_600_000_000),
        }
    }
}
