//! What a pod object says about its log: which container holds the function's output, and
//! whether that container has a log to read yet.

use std::collections::HashSet;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;

/// The annotation naming the container `kubectl logs` reads when none is given. The API server
/// does not apply it (a pod with several containers and no `container=` is a `400`); kubectl
/// does, on the client side, and so does this provider.
pub(crate) const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Why a container was chosen; see [`choose_container`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Named by `--kube-container`.
    Flag,
    /// Named like the function (faas-netes names the function's container so).
    FunctionName,
    /// Named by the `kubectl.kubernetes.io/default-container` annotation.
    Annotation,
    /// The pod's only container.
    Only,
    /// None of the above: the first container, a guess.
    First,
}

/// The container whose log is read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) container: String,
    pub(crate) rule: Rule,
}

/// The container of `pod` holding function `function`'s log: the first of these that names a
/// container of the pod: `flag` (`--kube-container`), the function's name, the
/// default-container annotation; else the only container; else the first one. `None` for a
/// pod without containers (the API server does not accept one).
pub(crate) fn choose_container(pod: &Pod, function: &str, flag: Option<&str>) -> Option<Choice> {
    let containers = &pod.spec.as_ref()?.containers;
    let has = |name: &str| containers.iter().any(|c| c.name == name);
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .map(String::as_str);
    let named = [
        (flag, Rule::Flag),
        (Some(function), Rule::FunctionName),
        (annotated, Rule::Annotation),
    ]
    .into_iter()
    .find_map(|(name, rule)| name.filter(|n| has(n)).map(|n| (n, rule)));
    let (container, rule) = match (named, containers.as_slice()) {
        (Some((name, rule)), _) => (name.to_owned(), rule),
        (None, [only]) => (only.name.clone(), Rule::Only),
        (None, [first, ..]) => (first.name.clone(), Rule::First),
        (None, []) => return None,
    };
    Some(Choice { container, rule })
}

/// What the pod object reports about one container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PodState {
    pub(crate) running: bool,
    pub(crate) terminated: bool,
    pub(crate) restarts: i32,
    /// Certainly no log yet: the pod is not on a node, or the container waits to start
    /// (`ContainerCreating`, `PodInitializing`, image pulls) and never ran before. A container
    /// that waits after a run (`CrashLoopBackOff`) still has its last run's log.
    pub(crate) not_started: bool,
}

/// The state of `container` in `pod` as the kubelet last reported it. A container without a
/// status yet is not "not started": the kubelet may serve its log before it reports, so it is
/// asked (and its answer, not a guess from the absence, decides).
pub(crate) fn pod_state(pod: &Pod, container: &str) -> PodState {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == container));
    let state = status.and_then(|c| c.state.as_ref());
    let ran_before = status
        .and_then(|c| c.last_state.as_ref())
        .is_some_and(|s| s.terminated.is_some());
    PodState {
        running: state.is_some_and(|s| s.running.is_some()),
        terminated: state.is_some_and(|s| s.terminated.is_some()),
        restarts: status.map_or(0, |c| c.restart_count),
        not_started: !scheduled || (state.is_some_and(|s| s.waiting.is_some()) && !ran_before),
    }
}

/// Whether `pod` carries label `faas_function=<function>` (it may have been relabelled since
/// the watch or list that brought it).
pub(crate) fn belongs_to(pod: &Pod, function: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("faas_function"))
        .is_some_and(|f| f == function)
}

/// Pods already warned about, so a warning is logged once per pod (by uid), not once per
/// request or reconnect.
#[derive(Debug, Default)]
pub(crate) struct WarnedPods(Mutex<HashSet<String>>);

/// Pods remembered by [`WarnedPods`] before it starts over (a bound on its memory; a pod may
/// then be warned about once more).
const WARNED_PODS_KEPT: usize = 4096;

impl WarnedPods {
    /// True the first time it is asked about `pod`.
    pub(crate) fn first_time(&self, pod: &Pod) -> bool {
        let key = pod
            .metadata
            .uid
            .clone()
            .or_else(|| pod.metadata.name.clone())
            .unwrap_or_default();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= WARNED_PODS_KEPT {
            seen.clear();
        }
        seen.insert(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: &[&str], annotation: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u", "annotations": annotation.map(|a| serde_json::json!({DEFAULT_CONTAINER_ANNOTATION: a}))},
            "spec": {"containers": containers.iter().map(|c| serde_json::json!({"name": c})).collect::<Vec<_>>()},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn chosen(p: &Pod, flag: Option<&str>) -> Option<(String, Rule)> {
        choose_container(p, "fn", flag).map(|c| (c.container, c.rule))
    }

    #[test]
    fn container_rules_in_order() {
        let all = pod(&["sidecar", "fn", "main", "custom"], Some("main"));
        let c = |n: &str, r| Some((n.to_owned(), r));
        assert_eq!(chosen(&all, Some("custom")), c("custom", Rule::Flag));
        // A flag naming no container of this pod falls through to the next rule.
        assert_eq!(chosen(&all, Some("absent")), c("fn", Rule::FunctionName));
        assert_eq!(chosen(&all, None), c("fn", Rule::FunctionName));
        let annotated = pod(&["sidecar", "main"], Some("main"));
        assert_eq!(chosen(&annotated, None), c("main", Rule::Annotation));
        // An annotation naming no container is ignored, as kubectl ignores it.
        let stale = pod(&["sidecar", "main"], Some("gone"));
        assert_eq!(chosen(&stale, None), c("sidecar", Rule::First));
        assert_eq!(chosen(&pod(&["only"], None), None), c("only", Rule::Only));
        assert_eq!(chosen(&pod(&[], None), Some("x")), None);
    }

    #[test]
    fn not_started_only_when_the_pod_says_so() {
        let with_status = |status: serde_json::Value, node: bool| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "fn"}], "nodeName": if node { Some("n1") } else { None }},
                "status": {"containerStatuses": [status]},
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let status = |state: serde_json::Value, last: serde_json::Value| {
            serde_json::json!({"name": "fn", "state": state, "lastState": last, "restartCount": 0,
                "ready": false, "image": "i", "imageID": ""})
        };
        let waiting = serde_json::json!({"waiting": {"reason": "ContainerCreating"}});
        let ran = serde_json::json!({"terminated": {"exitCode": 1}});
        let running = serde_json::json!({"running": {}});
        let empty = serde_json::json!({});
        assert!(
            pod_state(
                &with_status(status(waiting.clone(), empty.clone()), true),
                "fn"
            )
            .not_started
        );
        assert!(!pod_state(&with_status(status(waiting, ran), true), "fn").not_started);
        assert!(
            pod_state(
                &with_status(status(running.clone(), empty.clone()), false),
                "fn"
            )
            .not_started
        );
        let up = pod_state(&with_status(status(running, empty), true), "fn");
        assert!(up.running && !up.not_started);
        // No status for the container yet: unknown, not "not started".
        assert!(!pod_state(&with_status(serde_json::json!({"name": "other", "restartCount": 0, "ready": false, "image": "i", "imageID": ""}), true), "fn").not_started);
    }

    #[test]
    fn warns_once_per_pod() {
        let warned = WarnedPods::default();
        let p = pod(&["a", "b"], None);
        assert!(warned.first_time(&p));
        assert!(!warned.first_time(&p));
        let mut other = pod(&["a", "b"], None);
        other.metadata.uid = Some("v".to_owned());
        assert!(warned.first_time(&other));
    }
}
