//! A simulated pod: its containers and their logs, and the pod object the API serves for it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ContainerState;

/// Log lines: (Unix nanoseconds, text without newline).
pub(crate) type Lines = Vec<(i64, String)>;

/// One container of a pod and its logs.
#[derive(Debug)]
pub(crate) struct Container {
    pub(crate) name: String,
    /// The current container's log.
    pub(crate) lines: Lines,
    /// The previous container's log, after a restart.
    pub(crate) previous: Option<Lines>,
    pub(crate) restarts: u32,
}

impl Container {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            lines: Vec::new(),
            previous: None,
            restarts: 0,
        }
    }
}

/// What the kubelet reports for one container (its `state` in the pod status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reported {
    /// No status yet (pod not scheduled).
    None,
    Waiting(&'static str),
    Running,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct Pod {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    /// `spec.containers`, in order.
    pub(crate) containers: Vec<Container>,
    /// `spec.initContainers`, in order.
    pub(crate) init_containers: Vec<Container>,
    pub(crate) created: String,
    /// The state of the pod's app containers (init containers follow from it).
    pub(crate) state: ContainerState,
    pub(crate) resource_version: u64,
}

impl Pod {
    /// The container named `name` among the app and init containers, and whether it is an init
    /// container (the apiserver accepts both in `container=`).
    pub(crate) fn container(&self, name: &str) -> Option<(&Container, bool)> {
        self.containers
            .iter()
            .map(|c| (c, false))
            .chain(self.init_containers.iter().map(|c| (c, true)))
            .find(|(c, _)| c.name == name)
    }

    pub(crate) fn container_mut(&mut self, name: &str) -> Option<&mut Container> {
        self.containers
            .iter_mut()
            .chain(self.init_containers.iter_mut())
            .find(|c| c.name == name)
    }

    /// What the kubelet reports for a container: app containers follow the pod's state; init
    /// containers ran to completion once the app containers started, and before that the first
    /// one runs while the others wait (they run one after the other).
    pub(crate) fn reported(&self, name: &str) -> Reported {
        let Some((_, init)) = self.container(name) else {
            return Reported::None;
        };
        match (&self.state, init) {
            (ContainerState::Unscheduled | ContainerState::Scheduled, _) => Reported::None,
            (ContainerState::Waiting, false) if self.init_containers.is_empty() => {
                Reported::Waiting("ContainerCreating")
            }
            (ContainerState::Waiting, false) => Reported::Waiting("PodInitializing"),
            (ContainerState::Waiting, true) => {
                if self.init_containers.first().is_some_and(|c| c.name == name) {
                    Reported::Running
                } else {
                    Reported::Waiting("PodInitializing")
                }
            }
            (ContainerState::Running, false) => Reported::Running,
            (ContainerState::Running | ContainerState::Terminated, true)
            | (ContainerState::Terminated, false) => Reported::Terminated,
        }
    }

    fn container_status(&self, c: &Container) -> Value {
        let reported = self.reported(&c.name);
        let state = match reported {
            Reported::None => json!({}),
            Reported::Waiting(reason) => json!({"waiting": {"reason": reason}}),
            Reported::Running => json!({"running": {"startedAt": self.created}}),
            Reported::Terminated => json!({"terminated": {"exitCode": 0, "reason": "Completed",
                "startedAt": self.created, "finishedAt": self.created,
                "containerID": format!("containerd://{}-{}-{}", self.uid, c.name, c.restarts)}}),
        };
        // After a restart the kubelet keeps the previous container's end in `lastState`.
        let last_state = if c.previous.is_some() {
            json!({"terminated": {"exitCode": 0, "reason": "Completed",
                "startedAt": self.created, "finishedAt": self.created,
                "containerID": format!("containerd://{}-{}-{}", self.uid, c.name, c.restarts.saturating_sub(1))}})
        } else {
            json!({})
        };
        let running = reported == Reported::Running;
        json!({
            "name": c.name, "state": state, "lastState": last_state, "ready": running,
            "restartCount": c.restarts, "image": image(&c.name), "imageID": "", "started": running,
        })
    }

    /// The pod object as the API serves it (get, list items, watch events).
    pub(crate) fn to_json(&self) -> Value {
        let phase = match self.state {
            ContainerState::Unscheduled | ContainerState::Scheduled | ContainerState::Waiting => {
                "Pending"
            }
            ContainerState::Running => "Running",
            ContainerState::Terminated => "Succeeded",
        };
        let spec_of = |c: &Container| {
            json!({"name": c.name, "image": image(&c.name), "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File", "imagePullPolicy": "Always"})
        };
        let mut spec = json!({
            "containers": self.containers.iter().map(spec_of).collect::<Vec<_>>(),
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
        });
        if !self.init_containers.is_empty() {
            spec["initContainers"] = self.init_containers.iter().map(spec_of).collect();
        }
        let mut status = json!({"phase": phase, "qosClass": "BestEffort"});
        if self.state != ContainerState::Unscheduled {
            spec["nodeName"] = json!("n1");
        }
        if !matches!(
            self.state,
            ContainerState::Unscheduled | ContainerState::Scheduled
        ) {
            status["containerStatuses"] = self
                .containers
                .iter()
                .map(|c| self.container_status(c))
                .collect();
            if !self.init_containers.is_empty() {
                status["initContainerStatuses"] = self
                    .init_containers
                    .iter()
                    .map(|c| self.container_status(c))
                    .collect();
            }
        }
        let mut metadata = json!({
            "name": self.name, "namespace": self.namespace, "uid": self.uid,
            "resourceVersion": self.resource_version.to_string(),
            "creationTimestamp": self.created, "labels": self.labels,
        });
        if !self.annotations.is_empty() {
            metadata["annotations"] = json!(self.annotations);
        }
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        })
    }
}

fn image(container: &str) -> String {
    format!("ghcr.io/openfaas/{container}:latest")
}
