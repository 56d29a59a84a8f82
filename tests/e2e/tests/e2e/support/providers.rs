//! The three release binaries as conformance [`Provider`]s: each scenario starts the built
//! executable as a process over a log source the test writes into.
//!
//! - [`JournalProcess`]: `logs-journald` over a private journal directory whose `*.journal`
//!   file `systemd-journal-remote` writes (the same library code as journald itself).
//! - [`KubeProcess`]: `logs-kubernetes` over the Kubernetes API simulator, through a kubeconfig
//!   file naming the simulator's URL.
//! - [`LokiProcess`]: `logs-loki` over the Loki simulator.
//!
//! The server settings of the scenario (deadline, namespaces) go in through `FAAS_LOGS_*`, as
//! the deployment files set them (`deploy/systemd/logs-journald.env`, the Helm chart); the
//! backend settings through each binary's own flags or variables.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use logs_api::conformance::{NAMESPACE, OTHER_NAMESPACE, Provider, Target};
use logs_api::testing::open;
use logs_api::{Capabilities, OutputStream, Timestamp};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};

use crate::support::binaries::Binary;
use crate::support::contract::{self, GRACE, Setup};
use crate::support::process::arg;

/// A provider whose server is a release binary: how it is started over this log source.
pub trait Launch: Provider {
    /// The executable, with the flags and environment that point it at this source, as a user
    /// would give them.
    fn setup(&self) -> Setup;
}

/// SIGTERM while a follow stream over `source` is delivering: the binary, started with
/// `--shutdown-grace` [`GRACE`], has sent a history line and a live one; then
/// [`contract::sigterm_ends_the_stream_cleanly`] holds it to the clean end.
///
/// # Panics
/// On any failed check.
pub async fn sigterm_mid_follow(source: &impl Launch) {
    source.write(NAMESPACE, "figlet", 0, &["before"]).await;
    let provider = source
        .setup()
        .start(&["--shutdown-grace", &go_duration(GRACE)], &[])
        .await;
    let mut stream = open(provider.addr, "/system/logs?name=figlet&follow=true")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream.next_message(Duration::from_secs(15)).await["text"],
        "before"
    );
    source.write(NAMESPACE, "figlet", 1, &["live"]).await;
    assert_eq!(
        stream.next_message(Duration::from_secs(15)).await["text"],
        "live"
    );
    contract::sigterm_ends_the_stream_cleanly(provider, stream).await;
}

/// `timeout` as a Go duration (`--timeout`'s format): whole seconds, else milliseconds.
pub fn go_duration(timeout: Duration) -> String {
    if timeout.subsec_nanos() == 0 {
        format!("{}s", timeout.as_secs())
    } else {
        format!("{}ms", timeout.as_millis())
    }
}

/// Starts `launch`'s binary for one scenario: deadline `timeout`, the suite's namespaces.
async fn serve(launch: &impl Launch, timeout: Duration) -> Target {
    let timeout = go_duration(timeout);
    let allowed = format!("{NAMESPACE},{OTHER_NAMESPACE}");
    let process = launch
        .setup()
        .start(
            &[],
            &[
                ("FAAS_LOGS_TIMEOUT", &timeout),
                ("FAAS_LOGS_DEFAULT_NAMESPACE", NAMESPACE),
                ("FAAS_LOGS_ALLOWED_NAMESPACES", &allowed),
            ],
        )
        .await;
    Target::new(process.addr, process)
}

/// A timestamp (Unix nanoseconds) later than every one `last` handed out before, and not
/// before now: the simulators' look-back windows end now.
fn next_nanos(last: &Mutex<i64>) -> i64 {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    *last = (*last + 1).max(Timestamp::now().unix_nanos());
    *last
}

/// `logs-journald` over a private journal directory.
pub struct JournalProcess {
    dir: tempfile::TempDir,
    /// The next entry's realtime timestamp, µs.
    clock: AtomicU64,
}

impl JournalProcess {
    /// An empty journal directory whose clock starts an hour ago.
    pub fn new() -> JournalProcess {
        let now = u64::try_from(Timestamp::now().unix_nanos() / 1000).unwrap_or(0);
        JournalProcess {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("a journal directory: {e}")),
            clock: AtomicU64::new(now - 3_600_000_000),
        }
    }

    /// The journal directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Default for JournalProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl Launch for JournalProcess {
    /// The journal directory through the variable `deploy/systemd/logs-journald.env` documents.
    fn setup(&self) -> Setup {
        Setup::new(Binary::Journald).env("FAAS_LOGS_JOURNALD_JOURNAL_DIR", &arg(self.dir.path()))
    }
}

#[async_trait::async_trait]
impl Provider for JournalProcess {
    async fn serve(&self, timeout: Duration) -> Target {
        serve(self, timeout).await
    }

    /// What `JournaldRequester` declares: every filter.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        self.write_stream(namespace, name, instance, OutputStream::Stdout, lines)
            .await;
    }

    /// As faasd's collector writes a function's output: `SYSLOG_IDENTIFIER=<namespace>:<name>`,
    /// `_PID` per instance, `PRIORITY` 6 for stdout and 3 for stderr, `_TRANSPORT=journal`,
    /// appended to one file so that a follower sees it grow.
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
        let file = self.dir.path().join("system.journal");
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

/// `logs-kubernetes` over the Kubernetes API simulator, through a kubeconfig file.
pub struct KubeProcess {
    /// The simulator it reads.
    pub sim: kube_simulator::Simulator,
    kubeconfig: tempfile::TempDir,
    last: Mutex<i64>,
}

/// The kubeconfig context [`KubeProcess`] selects.
pub const KUBE_CONTEXT: &str = "sim";

impl KubeProcess {
    /// A fresh simulator and a kubeconfig naming it (context [`KUBE_CONTEXT`], anonymous user).
    pub async fn start() -> KubeProcess {
        let sim = kube_simulator::Simulator::start()
            .await
            .unwrap_or_else(|e| panic!("starting the Kubernetes API simulator: {e}"));
        let kubeconfig = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\ncontexts:\n- name: {KUBE_CONTEXT}\n  context:\n    cluster: sim\n    user: nobody\n    namespace: default\ncurrent-context: {KUBE_CONTEXT}\nusers:\n- name: nobody\n  user: {{}}\n",
            sim.url()
        );
        std::fs::write(kubeconfig.path().join("config"), text)
            .unwrap_or_else(|e| panic!("writing the kubeconfig: {e}"));
        KubeProcess {
            sim,
            kubeconfig,
            last: Mutex::new(0),
        }
    }

    /// The pod of instance number `instance` of `name`.
    pub fn pod(name: &str, instance: usize) -> String {
        format!("{name}-pod-{instance}")
    }

    /// The kubeconfig file naming the simulator.
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.path().join("config")
    }
}

impl Launch for KubeProcess {
    /// The kubeconfig and its context by flag, as a user outside the cluster runs the binary.
    fn setup(&self) -> Setup {
        let kubeconfig = arg(&self.kubeconfig());
        Setup::new(Binary::Kubernetes).args(&[
            "--kube-kubeconfig",
            &kubeconfig,
            "--kube-context",
            KUBE_CONTEXT,
        ])
    }
}

#[async_trait::async_trait]
impl Provider for KubeProcess {
    async fn serve(&self, timeout: Duration) -> Target {
        serve(self, timeout).await
    }

    /// What `KubeRequester` declares: `level` and `text`, not `stream` (a pod log does not
    /// tell stdout from stderr); the filter scenarios hold the binary to it.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            level: true,
            text: true,
            ..Capabilities::default()
        }
    }

    /// Appends to the pod's log (one pod per instance, running); a pod log has no stream, so
    /// `write_stream` is this too.
    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        let pod = Self::pod(name, instance);
        if !self.sim.has_pod(namespace, &pod) {
            self.sim.add_pod(
                namespace,
                &pod,
                name,
                kube_simulator::ContainerState::Running,
            );
        }
        let stamped: Vec<(i64, &str)> =
            lines.iter().map(|l| (next_nanos(&self.last), *l)).collect();
        self.sim.append(namespace, &pod, &stamped);
    }

    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        _stream: OutputStream,
        lines: &[&str],
    ) {
        self.write(namespace, name, instance, lines).await;
    }
}

/// `logs-loki` over the Loki simulator.
pub struct LokiProcess {
    /// The simulator it reads.
    pub sim: loki_simulator::Simulator,
    last: Mutex<i64>,
}

impl LokiProcess {
    /// A fresh simulator that discovers levels as Loki 3 does by default (`detected_level`
    /// structured metadata on every pushed line).
    pub async fn start() -> LokiProcess {
        let sim = loki_simulator::Simulator::start()
            .await
            .unwrap_or_else(|e| panic!("starting the Loki simulator: {e}"));
        sim.set_discover_log_levels(true);
        LokiProcess {
            sim,
            last: Mutex::new(0),
        }
    }

    /// The pod of instance number `instance` of `name`.
    pub fn pod(name: &str, instance: usize) -> String {
        format!("{name}-7d9f-{instance}")
    }
}

impl Launch for LokiProcess {
    /// Loki's URL through the variable `deploy/loki/logs-loki.yaml` sets.
    fn setup(&self) -> Setup {
        Setup::new(Binary::Loki).env("FAAS_LOGS_LOKI_URL", &self.sim.url())
    }
}

#[async_trait::async_trait]
impl Provider for LokiProcess {
    async fn serve(&self, timeout: Duration) -> Target {
        serve(self, timeout).await
    }

    /// What `LokiRequester` declares: every filter (pushed into LogQL, applied again in
    /// process). The filter scenarios hold the binary to it.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        self.write_stream(namespace, name, instance, OutputStream::Stdout, lines)
            .await;
    }

    /// Pushes with the labels Promtail's and Alloy's Kubernetes discovery give a function's
    /// container (`faas_function`, `namespace`, `pod`, `stream`).
    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        let pod = Self::pod(name, instance);
        let stream = match stream {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        };
        let stamped: Vec<(i64, &str)> =
            lines.iter().map(|l| (next_nanos(&self.last), *l)).collect();
        self.sim.push(
            &[
                ("faas_function", name),
                ("namespace", namespace),
                ("pod", &pod),
                ("stream", stream),
            ],
            &stamped,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_the_way_timeout_reads_them() {
        for (d, text) in [
            (Duration::from_secs(2), "2s"),
            (Duration::from_secs(60), "60s"),
            (Duration::from_millis(1500), "1500ms"),
        ] {
            assert_eq!(go_duration(d), text);
            assert_eq!(logs_api::parse_duration(text), Ok(d));
        }
    }
}
