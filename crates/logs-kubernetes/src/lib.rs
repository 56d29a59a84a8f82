//! `logs-kubernetes`: an OpenFaaS log provider reading function logs from pods through the
//! Kubernetes API, as faas-netes does.
//!
//! A function's pods are found by the label `faas_function=<name>`; each pod's
//! [`pods/{name}/log`](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#read-log-of-the-specified-pod)
//! is read with `timestamps=true`. History is merged across pods in timestamp order; follow
//! watches the pods and resumes dropped log streams without gaps or duplicates. On request
//! (`events=true` or `--kube-events`), the Kubernetes Events of the function's pods are merged
//! in as messages with `"source":"event"`. The `level` and text filters are applied in
//! process, before `tail`.
//!
//! Its tests and benchmarks run against the Kubernetes API simulator in `tests/kube-simulator`,
//! which is not part of this crate.

mod config;
mod cursor;
mod event;
mod events;
mod follow;
mod history;
mod pod;
mod query;
mod requester;

pub use config::Args;
pub use requester::{KubeRequester, NewError};
