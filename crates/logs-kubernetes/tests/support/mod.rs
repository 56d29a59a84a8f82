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
