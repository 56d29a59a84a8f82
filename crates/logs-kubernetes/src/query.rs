//! The per-request context shared by the history and follow phases of one query: the request,
//! its pod API and label selector, the pods known to be the function's, how pod log requests and
//! messages are built, and the retry policy of the API calls that follow.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use logs_api::{Message, Request, Severity, Timestamp};

use crate::config::Args;
use crate::cursor::Resume;
use crate::pod::{Rule, WarnedPods, choose_container};

/// What one query needs, shared by its history and follow phases.
pub(crate) struct Query {
    pub(crate) api: Api<Pod>,
    pub(crate) request: Request,
    /// `since` of the request, or now minus `--kube-max-age` when neither since nor tail is set.
    pub(crate) since: Option<Timestamp>,
    pub(crate) args: Arc<Args>,
    /// When the request began: a pod that joins a follow later contributes lines from here on.
    pub(crate) started: Timestamp,
    /// Pods already warned about (shared by all requests).
    pub(crate) warned: Arc<WarnedPods>,
    /// Names of the pods known to carry the function's label: those listed, then those the
    /// follow's watch brought in and has not seen leave. Whose events are the function's.
    pub(crate) members: Mutex<HashSet<String>>,
}

/// The label faas-netes puts on a function's pods, valued with the function's name.
pub(crate) const FUNCTION_LABEL: &str = "faas_function";

/// The `level` field of each severity, shared so a message does not allocate its own.
static LEVEL_NAMES: LazyLock<[Arc<str>; 8]> =
    LazyLock::new(|| Severity::ALL.map(|s| Arc::from(s.name())));

/// The `level` field for `severity`.
pub(crate) fn level_name(severity: Severity) -> Arc<str> {
    LEVEL_NAMES[usize::from(severity.number())].clone()
}

impl Query {
    /// A log line of `pod`, with the level its text states (`logs_api::level::detect`): pod
    /// logs have no level of their own, and the field lets a viewer colour lines.
    pub(crate) fn message(&self, pod: &Arc<str>, timestamp: Timestamp, text: String) -> Message {
        Message {
            name: self.request.name.clone(),
            namespace: self.request.namespace.clone(),
            instance: pod.clone(),
            timestamp,
            level: logs_api::level::detect(&text).map(level_name),
            text,
            stream: None,
            source: None,
        }
    }

    /// Whether `pod` is known to carry the function's label.
    pub(crate) fn is_member(&self, pod: &str) -> bool {
        self.members_lock().contains(pod)
    }

    /// `pod` carries the function's label (listed, or joined the follow).
    pub(crate) fn add_member(&self, pod: &str) {
        self.members_lock().insert(pod.to_owned());
    }

    /// `pod` no longer carries it (deleted, or relabelled).
    pub(crate) fn remove_member(&self, pod: &str) {
        self.members_lock().remove(pod);
    }

    /// After a re-list: only the pods listed carry it.
    pub(crate) fn retain_members(&self, listed: &HashSet<String>) {
        self.members_lock().retain(|p| listed.contains(p));
    }

    fn members_lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The container of `pod` whose log is read (see [`choose_container`]); a guess or a pod
    /// without containers is logged at `warn`, once per pod.
    pub(crate) fn container_for(&self, pod: &Pod) -> Option<String> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let choice = choose_container(pod, &self.request.name, self.args.container.as_deref());
        match &choice {
            Some(c) if c.rule == Rule::First && self.warned.first_time(pod) => {
                let containers: Vec<&str> = pod
                    .spec
                    .iter()
                    .flat_map(|s| s.containers.iter().map(|c| c.name.as_str()))
                    .collect();
                tracing::warn!(
                    pod = name,
                    container = %c.container,
                    ?containers,
                    "No container of the pod is named by --kube-container, like the function, or by the kubectl.kubernetes.io/default-container annotation; reading the first one."
                );
            }
            None if self.warned.first_time(pod) => {
                tracing::warn!(pod = name, "The pod has no containers; skipping it.");
            }
            _ => {}
        }
        choice.map(|c| c.container)
    }

    pub(crate) fn log_params(&self, container: &str, resume: &Resume, follow: bool) -> LogParams {
        LogParams {
            container: Some(container.to_owned()),
            follow,
            timestamps: true,
            since_time: resume.since_time(self.since),
            tail_lines: None,
            ..LogParams::default()
        }
    }

    pub(crate) fn selector(&self) -> String {
        // The core validated the name; an invalid one selects nothing rather than anything.
        function_selector(&self.request.name).unwrap_or_else(|| NOTHING.to_owned())
    }
}

/// A selector no pod matches: `faas_function` both present and absent.
const NOTHING: &str = "faas_function,!faas_function";

/// The label selector of a function's pods, `faas_function=<name>`; `None` unless `name` is a
/// DNS-1123 label, so no value can add a requirement (`,`, `!=`, ` in (...)`) to the selector.
pub(crate) fn function_selector(name: &str) -> Option<String> {
    logs_api::is_dns1123_label(name).then(|| format!("{FUNCTION_LABEL}={name}"))
}

/// Consecutive failed attempts to open a pod's log, or to watch the function's pods or events,
/// before the response is aborted (about 13 s of retries with [`backoff`]).
pub(crate) const MAX_FAILURES: u32 = 8;

/// The pause before retry `attempt` (0.2 s doubling to 3.2 s), for pod logs and the watches.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(5)))
}

/// Page size of the lists that may be long (a namespace's events, its function pods), so
/// memory holds one page of objects at a time.
pub(crate) const LIST_PAGE: u32 = 500;

/// How the API refused a pod log request that is no failure of the API server or kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `404`: the pod is gone (deleted since it was listed or seen).
    Gone,
    /// Another `4xx` (the container is not valid, has no log, ...), with the API's message.
    /// Retrying the same request cannot help until the pod changes.
    Refused(String),
}

/// Whether `error` is a [`Refusal`]. Authentication and authorization (`401`, `403`) and
/// throttling (`429`) are failures, as are `5xx` and transport errors.
pub(crate) fn refusal(error: &kube::Error) -> Option<Refusal> {
    match error {
        kube::Error::Api(status) if status.code == 404 => Some(Refusal::Gone),
        kube::Error::Api(status)
            if (400..500).contains(&status.code) && ![401, 403, 429].contains(&status.code) =>
        {
            Some(Refusal::Refused(status.message.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Splits a selector the way the API server does (`,` between requirements, then the
    /// operator), enough to see how many requirements and which value it has.
    fn requirements(selector: &str) -> Vec<(String, String, String)> {
        selector
            .split(',')
            .map(|r| {
                for op in ["!=", "==", "="] {
                    if let Some((k, v)) = r.split_once(op) {
                        return (k.to_owned(), op.to_owned(), v.to_owned());
                    }
                }
                (r.to_owned(), String::new(), String::new())
            })
            .collect()
    }

    #[test]
    fn selector_for_a_valid_name() {
        assert_eq!(
            function_selector("figlet").as_deref(),
            Some("faas_function=figlet")
        );
        for hostile in ["a,b", "a!=b", "x in (a,b)", "", "A", "a=b", "a\n"] {
            assert_eq!(function_selector(hostile), None, "{hostile}");
        }
        assert_eq!(
            requirements(NOTHING),
            [
                ("faas_function".to_owned(), String::new(), String::new()),
                ("!faas_function".to_owned(), String::new(), String::new())
            ]
        );
    }

    proptest! {
        /// Whatever the name, the selector is one equality requirement on `faas_function`
        /// with exactly that name, or there is none.
        #[test]
        fn any_name_selects_only_itself(
            name in prop_oneof![any::<String>(), "[a-z0-9,=!() -]{0,20}", "[a-z]([-a-z0-9]{0,10}[a-z0-9])?"],
        ) {
            match function_selector(&name) {
                Some(selector) => {
                    prop_assert_eq!(
                        requirements(&selector),
                        vec![("faas_function".to_owned(), "=".to_owned(), name.clone())]
                    );
                    prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                }
                None => prop_assert!(!logs_api::is_dns1123_label(&name)),
            }
        }
    }
}
