//! Shared by the tests and the benchmarks: the Loki simulator wrapped as a conformance
//! [`Backend`], with the requester configured for it.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use logs_api::conformance::Backend;
use logs_api::{OutputStream, Requester, Timestamp};
use logs_loki::{Args, LokiRequester};
use loki_simulator::Simulator;

/// Flags pointing at `sim`.
pub fn args(sim: &Simulator) -> Args {
    Args {
        url: sim.url(),
        ..Args::default()
    }
}

/// A simulator plus a requester reading from it.
pub struct LokiBackend {
    pub sim: Simulator,
    pub requester: Arc<LokiRequester>,
    last: Mutex<i64>,
}

impl LokiBackend {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// A backend whose flags `adjust` changes.
    pub async fn with(adjust: impl FnOnce(&mut Args)) -> Self {
        let sim = Simulator::start()
            .await
            .unwrap_or_else(|e| panic!("starting the Loki simulator: {e}"));
        let mut args = args(&sim);
        adjust(&mut args);
        let requester =
            LokiRequester::new(&args).unwrap_or_else(|e| panic!("building the requester: {e}"));
        Self {
            sim,
            requester: Arc::new(requester),
            last: Mutex::new(0),
        }
    }

    /// The pod name of instance number `instance` of `name`.
    pub fn pod(name: &str, instance: usize) -> String {
        format!("{name}-7d9f-{instance}")
    }

    /// A timestamp (Unix nanoseconds) later than every one handed out before.
    pub fn next_ts(&self) -> i64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(Timestamp::now().unix_nanos());
        *last
    }

    /// Pushes `lines` for `name` in `namespace` from `pod`, stamped in order.
    pub fn push(&self, namespace: &str, name: &str, pod: &str, lines: &[&str]) {
        self.push_stream(namespace, name, pod, OutputStream::Stdout, lines);
    }

    /// Pushes `lines` as the container's output on `stream`, with the labels Promtail's and
    /// Alloy's Kubernetes discovery and CRI stage give it (`faas_function`, `namespace`, `pod`,
    /// `stream`). The level is Loki's business: with [`Simulator::set_discover_log_levels`] on
    /// (Loki 3's default), Loki attaches `detected_level` itself, as it would to a real push.
    pub fn push_stream(
        &self,
        namespace: &str,
        name: &str,
        pod: &str,
        stream: OutputStream,
        lines: &[&str],
    ) {
        let stream = match stream {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        };
        let stamped: Vec<(i64, &str)> = lines.iter().map(|l| (self.next_ts(), *l)).collect();
        self.sim.push(
            &[
                ("faas_function", name),
                ("namespace", namespace),
                ("pod", pod),
                ("stream", stream),
            ],
            &stamped,
        );
    }
}

#[async_trait::async_trait]
impl Backend for LokiBackend {
    fn requester(&self) -> Arc<dyn Requester> {
        self.requester.clone()
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        self.push(namespace, name, &Self::pod(name, instance), lines);
    }

    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        self.push_stream(namespace, name, &Self::pod(name, instance), stream, lines);
    }
}
