//! Shared by the tests and the benchmark: the simulator wrapped as a conformance [`Backend`].

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use logs_api::conformance::Backend;
use logs_api::{Requester, Timestamp};
use logs_kubernetes::simulator::{ContainerState, Simulator};
use logs_kubernetes::{Args, KubeRequester};

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
        let requester = KubeRequester::from_config(sim.kube_config(), args)
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

    /// A timestamp later than every one handed out before.
    pub fn next_ts(&self) -> Timestamp {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(Timestamp::now().unix_nanos());
        Timestamp::from_unix_nanos(*last)
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
        let stamped: Vec<(Timestamp, &str)> = lines.iter().map(|l| (self.next_ts(), *l)).collect();
        self.sim.append(namespace, &pod, &stamped);
    }
}
