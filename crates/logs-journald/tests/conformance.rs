//! The core conformance suite against real journal files: every `write` is piped through
//! `systemd-journal-remote` into one journal file of the backend's directory (appended, so
//! followers see a file growing), with strictly increasing realtime timestamps and one fixed
//! `_PID` per instance.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logs_api::Requester;
use logs_api::conformance::Backend;
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use logs_journald::{Args, JournaldRequester};

struct JournalBackend {
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
                            priority: Some(6),
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

async fn make() -> JournalBackend {
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

logs_api::conformance_tests!(make);
