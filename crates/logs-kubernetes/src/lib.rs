//! `logs-kubernetes`: an OpenFaaS log provider reading function logs from pods through the
//! Kubernetes API, as faas-netes does.
//!
//! A function's pods are found by the label `faas_function=<name>`; each pod's
//! [`pods/{name}/log`](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#read-log-of-the-specified-pod)
//! is read with `timestamps=true`. History is merged across pods in timestamp order; follow
//! watches the pods and resumes dropped log streams without gaps or duplicates.
//!
//! The `simulator` feature adds [`simulator`], an in-repo simulator of the pod and pod-log API
//! used by the tests and the benchmark.

mod config;
mod cursor;
mod follow;
mod history;
mod requester;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use config::Args;
pub use requester::{KubeRequester, NewError};
