//! Simulated Kubernetes Events of pods, and the objects the API serves for them: core `v1`
//! (`/api/v1/.../events`) and `events.k8s.io/v1`, which are two views of the same stored
//! objects (the apiserver converts between them), shaped like the captured
//! `tests/fixtures/k8s/events_*.http`.
//!
//! Two kinds of recorder write events, and they look different:
//! - the kubelet's legacy recorder (`record.EventRecorder`): `count`, `firstTimestamp` and
//!   `lastTimestamp` (whole seconds); a repeat bumps `count` and `lastTimestamp`;
//! - the `events.k8s.io` recorder (the scheduler's `FailedScheduling`, `Scheduled`): `eventTime`
//!   (microseconds), no first/last timestamps; a repeat creates or bumps
//!   `series.{count,lastObservedTime}`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::time;

/// An event to record about a pod (see [`crate::Simulator::record_event`]).
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub(crate) pod: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) warning: bool,
    pub(crate) at: Option<i64>,
    pub(crate) count: u32,
    pub(crate) series: bool,
    pub(crate) field_path: Option<String>,
}

impl NewEvent {
    /// A `Normal` event from the kubelet about pod `pod`, counted once, at the time it is
    /// recorded.
    pub fn pod(pod: &str, reason: &str, message: &str) -> Self {
        Self {
            pod: pod.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            warning: false,
            at: None,
            count: 1,
            series: false,
            field_path: None,
        }
    }

    /// Makes it a `Warning`.
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }

    /// Its (first and last) occurrence at `nanos` (Unix nanoseconds; the kubelet's timestamps
    /// keep whole seconds, the scheduler's microseconds).
    pub fn at(mut self, nanos: i64) -> Self {
        self.at = Some(nanos);
        self
    }

    /// Already seen `count` times when recorded (`count`, or `series.count` for a
    /// [`NewEvent::scheduler`] event).
    pub fn count(mut self, count: u32) -> Self {
        self.count = count.max(1);
        self
    }

    /// Recorded by the scheduler through `events.k8s.io` (`eventTime`, `series`), like
    /// `FailedScheduling` and `Scheduled`.
    pub fn scheduler(mut self) -> Self {
        self.series = true;
        self
    }

    /// The container it is about (`involvedObject.fieldPath` = `spec.containers{<name>}`).
    pub fn container(mut self, name: &str) -> Self {
        self.field_path = Some(format!("spec.containers{{{name}}}"));
        self
    }
}

/// A stored event.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) resource_version: u64,
    /// `metadata.creationTimestamp`, whole seconds.
    pub(crate) created: i64,
    pub(crate) pod: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) warning: bool,
    /// First and last occurrence (Unix nanoseconds).
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) count: u32,
    pub(crate) series: bool,
    pub(crate) field_path: Option<String>,
}

/// The fields a core v1 event list or watch may select on
/// (`pkg/registry/core/event/strategy.go`, `ToSelectableFields`).
pub(crate) const V1_SELECTABLE: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// The `events.k8s.io/v1` names of the same fields (its field label conversion).
pub(crate) const EVENTS_V1_SELECTABLE: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
];

const HOST: &str = "n1";

/// Go's `RFC3339Micro` (`metav1.MicroTime`): always six fractional digits.
fn micro(nanos: i64) -> String {
    let frac = nanos.rem_euclid(1_000_000_000);
    let seconds = time::rfc3339(nanos - frac);
    format!("{}.{:06}Z", seconds.trim_end_matches('Z'), frac / 1000)
}

/// `metav1.Time`: whole seconds.
fn seconds(nanos: i64) -> String {
    time::rfc3339(nanos - nanos.rem_euclid(1_000_000_000))
}

impl Event {
    fn component(&self) -> &'static str {
        if self.series {
            "default-scheduler"
        } else {
            "kubelet"
        }
    }

    fn reporting_instance(&self) -> String {
        if self.series {
            format!("default-scheduler-{HOST}")
        } else {
            HOST.to_owned()
        }
    }

    fn kind(&self) -> &'static str {
        if self.warning { "Warning" } else { "Normal" }
    }

    fn involved(&self) -> Value {
        let mut reference = json!({
            "kind": "Pod", "namespace": self.namespace, "name": self.pod, "apiVersion": "v1",
        });
        if let Some(path) = &self.field_path {
            reference["fieldPath"] = json!(path);
        }
        reference
    }

    fn metadata(&self) -> Value {
        let created = seconds(self.created);
        json!({
            "name": self.name, "namespace": self.namespace, "uid": self.uid,
            "resourceVersion": self.resource_version.to_string(),
            "creationTimestamp": created,
            "managedFields": [{
                "manager": self.component(), "operation": "Update", "apiVersion": "v1",
                "time": created, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {},
                    "f:lastTimestamp": {}, "f:message": {}, "f:reason": {},
                    "f:reportingComponent": {}, "f:reportingInstance": {},
                    "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}},
            }],
        })
    }

    /// `series` once an `events.k8s.io` event repeated.
    fn series_json(&self) -> Option<Value> {
        (self.series && self.count > 1)
            .then(|| json!({"count": self.count, "lastObservedTime": micro(self.last)}))
    }

    /// The core v1 object (list items leave out `kind` and `apiVersion`, as the apiserver does).
    pub(crate) fn to_v1(&self) -> Value {
        let mut v = json!({
            "metadata": self.metadata(),
            "involvedObject": self.involved(),
            "reason": self.reason,
            "message": self.message,
            "type": self.kind(),
            "reportingComponent": self.component(),
            "reportingInstance": self.reporting_instance(),
        });
        if self.series {
            // Written through events.k8s.io: no deprecated fields, `count` omitted (zero).
            v["source"] = json!({});
            v["firstTimestamp"] = Value::Null;
            v["lastTimestamp"] = Value::Null;
            v["eventTime"] = json!(micro(self.first));
            v["action"] = json!("Scheduling");
            if let Some(series) = self.series_json() {
                v["series"] = series;
            }
        } else {
            v["source"] = json!({"component": self.component(), "host": HOST});
            v["firstTimestamp"] = json!(seconds(self.first));
            v["lastTimestamp"] = json!(seconds(self.last));
            v["count"] = json!(self.count);
            v["eventTime"] = Value::Null;
        }
        v
    }

    /// The core v1 object with `kind` and `apiVersion`, as a watch event carries it.
    pub(crate) fn to_v1_object(&self) -> Value {
        let mut v = self.to_v1();
        v["kind"] = json!("Event");
        v["apiVersion"] = json!("v1");
        v
    }

    /// The `events.k8s.io/v1` view of the same object (list item).
    pub(crate) fn to_events_v1(&self) -> Value {
        let mut v = json!({
            "metadata": self.metadata(),
            "reportingController": self.component(),
            "reportingInstance": self.reporting_instance(),
            "reason": self.reason,
            "regarding": self.involved(),
            "note": self.message,
            "type": self.kind(),
        });
        if self.series {
            v["eventTime"] = json!(micro(self.first));
            v["action"] = json!("Scheduling");
            v["deprecatedSource"] = json!({});
            v["deprecatedFirstTimestamp"] = Value::Null;
            v["deprecatedLastTimestamp"] = Value::Null;
            if let Some(series) = self.series_json() {
                v["series"] = series;
            }
        } else {
            v["eventTime"] = Value::Null;
            v["deprecatedSource"] = json!({"component": self.component(), "host": HOST});
            v["deprecatedFirstTimestamp"] = json!(seconds(self.first));
            v["deprecatedLastTimestamp"] = json!(seconds(self.last));
            v["deprecatedCount"] = json!(self.count);
        }
        v
    }

    /// The values of the core v1 selectable fields.
    pub(crate) fn v1_fields(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            f.insert(k.to_owned(), v.to_owned());
        };
        put("metadata.name", &self.name);
        put("metadata.namespace", &self.namespace);
        put("involvedObject.kind", "Pod");
        put("involvedObject.namespace", &self.namespace);
        put("involvedObject.name", &self.pod);
        put("involvedObject.uid", "");
        put("involvedObject.apiVersion", "v1");
        put("involvedObject.resourceVersion", "");
        put(
            "involvedObject.fieldPath",
            self.field_path.as_deref().unwrap_or_default(),
        );
        put("reason", &self.reason);
        put("reportingComponent", self.component());
        put("source", if self.series { "" } else { self.component() });
        put("type", self.kind());
        f
    }

    /// The values of the `events.k8s.io/v1` selectable fields.
    pub(crate) fn events_v1_fields(&self) -> BTreeMap<String, String> {
        self.v1_fields()
            .into_iter()
            .filter_map(|(k, v)| {
                let k = if let Some(rest) = k.strip_prefix("involvedObject.") {
                    format!("regarding.{rest}")
                } else if k == "reportingComponent" {
                    "reportingController".to_owned()
                } else if k == "source" {
                    return None;
                } else {
                    k
                };
                Some((k, v))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_time_has_six_digits() {
        assert_eq!(
            micro(1_767_225_600_000_000_000),
            "2026-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            micro(1_767_225_600_123_456_789),
            "2026-01-01T00:00:00.123456Z"
        );
        assert_eq!(seconds(1_767_225_600_999_000_000), "2026-01-01T00:00:00Z");
    }
}
