//! Shared by the tests and the benchmark: the simulator wrapped as a conformance [`Backend`].

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use kube_simulator::{ContainerState, Simulator};
use logs_api::conformance::Backend;
use logs_api::{Requester, Timestamp};
use logs_kubernetes::{Args, KubeRequester};

/// A kube client configuration pointing at the simulator.
pub fn kube_config(sim: &Simulator) -> kube::Config {
    let url = sim
        .url()
        .parse()
        .unwrap_or_else(|e| panic!("simulator URL: {e}"));
    let mut config = kube::Config::new(url);
    config.default_namespace = "default".to_owned();
    config
}

/// Default backend flags for tests.
pub fn args() -> Args {
    Args {
        max_pods: 100,
        ..Args::default()
    }
}

/// A simulator plus a requester reading from it.
pub struct SimBackend {
    pub sim: Simulator,
    pub requester: Arc<KubeRequester>,
    last: Mutex<i64>,
}

impl SimBackend {
    pub async fn start() -> Self {
        Self::with_args(args()).await
    }

    pub async fn with_args(args: Args) -> Self {
        let sim = Simulator::start()
            .await
            .unwrap_or_else(|e| panic!("starting the simulator: {e}"));
        let requester = KubeRequester::from_config(kube_config(&sim), args)
            .unwrap_or_else(|e| panic!("building the requester: {e}"));
        Self {
            sim,
            requester: Arc::new(requester),
            last: Mutex::new(0),
        }
    }

    /// The pod name for instance number `instance` of `name`.
    pub fn pod(name: &str, instance: usize) -> String {
        format!("{name}-pod-{instance}")
    }

    /// A timestamp (Unix nanoseconds) later than every one handed out before.
    pub fn next_ts(&self) -> i64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(Timestamp::now().unix_nanos());
        *last
    }
}

#[async_trait::async_trait]
impl Backend for SimBackend {
    fn requester(&self) -> Arc<dyn Requester> {
        self.requester.clone()
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        let pod = Self::pod(name, instance);
        if !self.sim.has_pod(namespace, &pod) {
            self.sim
                .add_pod(namespace, &pod, name, ContainerState::Running);
        }
        let stamped: Vec<(i64, &str)> = lines.iter().map(|l| (self.next_ts(), *l)).collect();
        self.sim.append(namespace, &pod, &stamped);
    }
}

/// Warnings (and errors) logged on this thread while it lives. With tokio's current-thread
/// runtime (the default of `#[tokio::test]`) the provider's tasks run on the test's thread, so
/// they are all seen.
pub struct Logs {
    lines: Arc<Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Starts capturing warnings on this thread.
pub fn capture_warnings() -> Logs {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Warnings(lines.clone()));
    Logs {
        lines,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl Logs {
    /// Every warning so far: its message, then `field=value` for each field.
    pub fn warnings(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The warnings that mention `text`.
    pub fn mentioning(&self, text: &str) -> Vec<String> {
        self.warnings()
            .into_iter()
            .filter(|w| w.contains(text))
            .collect()
    }
}

struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() > tracing::Level::WARN {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0.insert_str(0, &format!("{value:?}"));
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fields.0);
    }
}
