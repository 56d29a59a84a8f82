//! What a Kubernetes Event object says about a pod: which pod, how often it happened, when last,
//! how severe, and the text a log reader sees; and whether a pod name is one the function's
//! Deployment would give.
//!
//! Two kinds of recorder write events and fill different fields (both are served by the core
//! `v1` API): the kubelet's legacy recorder counts repeats in `count` and stamps
//! `firstTimestamp`/`lastTimestamp` (whole seconds); the `events.k8s.io` recorder (the
//! scheduler's `Scheduled`, `FailedScheduling`) stamps `eventTime` and counts repeats in
//! `series.count`/`series.lastObservedTime`.

use k8s_openapi::api::core::v1::Event;
use logs_api::Timestamp;

/// One event of a pod, as the provider shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PodEvent {
    /// `metadata.uid` (else namespace/name): the event object, whose count goes up as it
    /// repeats.
    pub(crate) uid: String,
    /// The pod it is about (`involvedObject.name`).
    pub(crate) pod: String,
    /// How many times it happened so far (`series.count`, else `count`; at least 1).
    pub(crate) count: u32,
    /// When it last happened.
    pub(crate) at: Timestamp,
    /// `type: Warning` (else `Normal`, or none).
    pub(crate) warning: bool,
    /// What a log reader sees: `[event] Reason: message`, with ` (xN)` once it repeated.
    pub(crate) text: String,
}

/// The event as a [`PodEvent`]; `None` unless it is about a pod (`involvedObject.kind: Pod`
/// with a name).
pub(crate) fn pod_event(event: &Event) -> Option<PodEvent> {
    let involved = &event.involved_object;
    if involved.kind.as_deref() != Some("Pod") {
        return None;
    }
    let pod = involved.name.clone().filter(|n| !n.is_empty())?;
    let series = event.series.as_ref();
    let count = series
        .and_then(|s| s.count)
        .or(event.count)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(1)
        .max(1);
    let at = series
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| event.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .map_or(Timestamp::UNKNOWN, |t| {
            Timestamp::from_unix_nanos(i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX))
        });
    let uid = event.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            event.metadata.namespace.as_deref().unwrap_or_default(),
            event.metadata.name.as_deref().unwrap_or_default()
        )
    });
    Some(PodEvent {
        uid,
        pod,
        count,
        at,
        warning: event.type_.as_deref() == Some("Warning"),
        text: text(
            event.reason.as_deref().unwrap_or_default(),
            event.message.as_deref().unwrap_or_default(),
            count,
        ),
    })
}

/// `[event] Reason: message`, and ` (xN)` when it happened N > 1 times: what `faas-cli logs`
/// prints for an event.
pub(crate) fn text(reason: &str, message: &str, count: u32) -> String {
    let (reason, message) = (reason.trim(), message.trim_end());
    let mut text = match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("[event] {reason}: {message}"),
        (false, true) => format!("[event] {reason}"),
        (true, _) => format!("[event] {message}"),
    };
    if count > 1 {
        text.push_str(&format!(" (x{count})"));
    }
    text
}

/// The characters of a ReplicaSet's pod-template hash and of a generated name's suffix
/// (apimachinery's `rand.SafeEncodeString` and `rand.String`: no vowels, no `0 1 3`).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Whether `pod` is a name the function's Deployment gives its pods:
/// `<function>-<pod-template-hash>-<5 random characters>`.
///
/// faas-netes names each function's Deployment after the function, so another function's pods
/// are `<other>-<hash>-<suffix>`: cutting the last two `-` parts off never leaves `function`
/// unless `other` is `function`. Only a pod created by hand with such a name can pass.
pub(crate) fn is_deployment_pod(function: &str, pod: &str) -> bool {
    let mut parts = pod.rsplitn(3, '-');
    let (Some(suffix), Some(hash), Some(prefix)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let safe = |s: &str| s.bytes().all(|b| SAFE_ALPHABET.contains(&b));
    prefix == function
        && suffix.len() == 5
        && (1..=10).contains(&hash.len())
        && safe(suffix)
        && safe(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(value: serde_json::Value) -> Event {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The captured BackOff event (`tests/fixtures/k8s/events_list_by_pod.http`).
    fn backoff() -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": "figlet-abc.backoff", "namespace": "openfaas-fn",
                "uid": "37cc66af-14c3-44a6-966d-bd7473bb95b1", "resourceVersion": "204",
                "creationTimestamp": "2026-11-29T20:38:52Z"},
            "involvedObject": {"kind": "Pod", "namespace": "openfaas-fn", "name": "figlet-abc",
                "apiVersion": "v1", "fieldPath": "spec.containers{figlet}"},
            "reason": "BackOff",
            "message": "Back-off restarting failed container figlet in pod figlet-abc_openfaas-fn(1234)",
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-11-29T20:38:52Z", "lastTimestamp": "2026-11-29T20:38:52Z",
            "count": 5, "type": "Warning", "eventTime": null,
            "reportingComponent": "kubelet", "reportingInstance": "n1"
        })
    }

    #[test]
    fn a_kubelet_event() {
        let e = pod_event(&event(backoff())).unwrap_or_else(|| panic!("a pod event"));
        assert_eq!(e.uid, "37cc66af-14c3-44a6-966d-bd7473bb95b1");
        assert_eq!(e.pod, "figlet-abc");
        assert_eq!(e.count, 5);
        assert!(e.warning);
        assert_eq!(
            e.at,
            Timestamp::parse_rfc3339("2026-11-29T20:38:52Z").unwrap_or(Timestamp::UNKNOWN)
        );
        assert_eq!(
            e.text,
            "[event] BackOff: Back-off restarting failed container figlet in pod figlet-abc_openfaas-fn(1234) (x5)"
        );
    }

    #[test]
    fn a_scheduler_event_counts_its_series() {
        let mut v = backoff();
        v["reason"] = "FailedScheduling".into();
        v["message"] = "0/1 nodes are available: 1 Insufficient memory.".into();
        v["firstTimestamp"] = serde_json::Value::Null;
        v["lastTimestamp"] = serde_json::Value::Null;
        v["count"] = serde_json::Value::Null;
        v["eventTime"] = "2026-11-29T20:38:50.123456Z".into();
        let once = pod_event(&event(v.clone())).unwrap_or_else(|| panic!("a pod event"));
        assert_eq!(once.count, 1);
        assert_eq!(
            once.at,
            Timestamp::parse_rfc3339("2026-11-29T20:38:50.123456Z").unwrap_or(Timestamp::UNKNOWN)
        );
        assert_eq!(
            once.text,
            "[event] FailedScheduling: 0/1 nodes are available: 1 Insufficient memory."
        );
        v["series"] =
            serde_json::json!({"count": 3, "lastObservedTime": "2026-11-29T20:40:00.000001Z"});
        let thrice = pod_event(&event(v)).unwrap_or_else(|| panic!("a pod event"));
        assert_eq!(thrice.count, 3);
        assert_eq!(
            thrice.at,
            Timestamp::parse_rfc3339("2026-11-29T20:40:00.000001Z").unwrap_or(Timestamp::UNKNOWN)
        );
        assert!(thrice.text.ends_with(" (x3)"));
    }

    #[test]
    fn only_pod_events_and_fallbacks() {
        let mut v = backoff();
        v["involvedObject"]["kind"] = "ReplicaSet".into();
        assert_eq!(pod_event(&event(v)), None);
        let mut v = backoff();
        v["firstTimestamp"] = serde_json::Value::Null;
        v["lastTimestamp"] = serde_json::Value::Null;
        v["metadata"]["creationTimestamp"] = "2026-11-29T20:00:00Z".into();
        v["type"] = "Normal".into();
        v["count"] = 0.into();
        let e = pod_event(&event(v)).unwrap_or_else(|| panic!("a pod event"));
        assert_eq!(
            e.at,
            Timestamp::parse_rfc3339("2026-11-29T20:00:00Z").unwrap_or(Timestamp::UNKNOWN)
        );
        assert!(!e.warning);
        assert_eq!(e.count, 1);
        assert_eq!(text("Killing", "", 1), "[event] Killing");
        assert_eq!(text("", "note\n", 2), "[event] note (x2)");
    }

    #[test]
    fn deployment_pod_names() {
        assert!(is_deployment_pod("figlet", "figlet-7d9c8b6f5-x2k4q"));
        assert!(is_deployment_pod("figlet-v2", "figlet-v2-7d9c8b6f5-x2k4q"));
        // Another function's pods never pass, whatever the names.
        assert!(!is_deployment_pod("figlet", "figlet-v2-7d9c8b6f5-x2k4q"));
        assert!(!is_deployment_pod("figlet", "figlet-7d9c8-7d9c8b6f5-x2k4q"));
        assert!(!is_deployment_pod("figlet-v2", "figlet-7d9c8b6f5-x2k4q"));
        // Not generated names.
        assert!(!is_deployment_pod("figlet", "figlet-pod-0"));
        assert!(!is_deployment_pod("figlet", "figlet-7d9c8b6f5-x2k4"));
        assert!(!is_deployment_pod("figlet", "figlet-7d9c8b6f5-aeiou"));
        assert!(!is_deployment_pod("figlet", "figlet-x2k4q"));
        assert!(!is_deployment_pod("figlet", "figlet"));
        assert!(!is_deployment_pod("figlet", "-7d9c8b6f5-x2k4q"));
        assert!(!is_deployment_pod("figlet", "figlet-7d9c8b6f5bb-x2k4q"));
    }

    proptest::proptest! {
        /// A Deployment's pod names pass for its own function and never for another, whatever
        /// the two names (one may be a prefix of the other) and the generated parts.
        #[test]
        fn deployment_pods_pass_only_for_their_own_function(
            f in "[a-z]([-a-z0-9]{0,20}[a-z0-9])?",
            g in "[a-z]([-a-z0-9]{0,20}[a-z0-9])?",
            hash in "[bcdfghjklmnpqrstvwxz2456789]{1,10}",
            suffix in "[bcdfghjklmnpqrstvwxz2456789]{5}",
        ) {
            let pod = format!("{g}-{hash}-{suffix}");
            proptest::prop_assert!(is_deployment_pod(&g, &pod));
            if f != g {
                proptest::prop_assert!(!is_deployment_pod(&f, &pod), "{} passed for {}", pod, f);
            }
        }
    }
}
