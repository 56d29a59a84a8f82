//! A simulator of the part of the Kubernetes API this provider uses, for tests and benchmarks.
//!
//! It is NOT a Kubernetes API server: it serves, over plain HTTP on loopback, pod list and watch
//! (`labelSelector` with `k`, `!k`, `k=v`, `k!=v`; `resourceVersion`; `limit`/`continue`; the
//! metadata-only form kube's `list_metadata` asks for), pod get, `pods/{name}/log` (`follow`,
//! `timestamps`, `sinceTime`, `sinceSeconds`, `tailLines`, `container`, `previous`), core v1
//! events list and watch (`fieldSelector` on the selectable fields, `limit`/`continue`,
//! `resourceVersion`), the `events.k8s.io/v1` events list, and `/version`, answering like the
//! captured responses of a real kube-apiserver in `tests/fixtures/*.http` (status codes,
//! `Status` bodies, content types). Tests drive it: add pods (with several containers, init
//! containers and annotations), append log lines, restart containers, change labels, cut open
//! log streams, record, repeat and delete events (the kubelet's `count`-style and the
//! scheduler's `series`-style), take the `events` permission away (`403`), and inject 500/401
//! failures.
//!
//! Pods with more than one container behave as in the apiserver's `LogLocation`
//! (`pkg/registry/core/pod/strategy.go`): without `container=` their log is a `400` naming the
//! containers, and the `kubectl.kubernetes.io/default-container` annotation is carried but not
//! applied (kubectl applies it on the client side).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

mod event;
mod pod;
mod selector;
mod status;
pub mod time;

pub use event::NewEvent;
use event::{EVENTS_V1_SELECTABLE, Event, V1_SELECTABLE};
use pod::{Container, Pod, Reported};
use selector::Selector;
use status::Ordered;

/// A fault the simulator injects into the next requests (`/api` and `/version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `500` with a `Status` body, as when etcd or a webhook fails.
    Internal,
    /// `401 Unauthorized`, as for a missing or bad token.
    Unauthorized,
    /// Pod logs only: `500` "connection refused" from the kubelet.
    KubeletDown,
    /// Pod logs only: the kubelet answers `400 container "c" in pod "p" is not available`, as
    /// when its own view of the pod lags behind the pod object (e.g. right after it restarted).
    ContainerUnavailable,
}

/// The state of a simulated pod's app containers (all of them: they start together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Not scheduled to a node yet: log requests answer `204 No Content`.
    Unscheduled,
    /// On a node, but the kubelet has not reported the containers yet (no `containerStatuses`,
    /// like the pods in the captured fixtures): logs answer the kubelet's `400 … is not
    /// available`.
    Scheduled,
    /// Scheduled but the containers are not started (`ContainerCreating`, or `PodInitializing`
    /// while the init containers run): logs answer `400`, unless the container ran before.
    Waiting,
    /// Running: logs are served; follow streams stay open.
    Running,
    /// Exited: logs are served; follow streams end after the last line.
    Terminated,
}

/// A pod to create: labels, annotations, containers and their state.
#[derive(Clone, Debug)]
pub struct NewPod {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    containers: Vec<String>,
    init_containers: Vec<String>,
    state: ContainerState,
}

impl NewPod {
    /// A faas-netes function pod: label `faas_function=<function>`, one container named after
    /// the function, `Running`.
    pub fn function(function: &str) -> Self {
        Self {
            labels: BTreeMap::from([("faas_function".to_owned(), function.to_owned())]),
            annotations: BTreeMap::new(),
            containers: vec![function.to_owned()],
            init_containers: Vec::new(),
            state: ContainerState::Running,
        }
    }

    /// Replaces the app containers (`spec.containers`, in this order).
    pub fn containers(mut self, names: &[&str]) -> Self {
        self.containers = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Sets the init containers (`spec.initContainers`, in this order).
    pub fn init_containers(mut self, names: &[&str]) -> Self {
        self.init_containers = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Adds an annotation (e.g. `kubectl.kubernetes.io/default-container`).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets the state of the app containers.
    pub fn state(mut self, state: ContainerState) -> Self {
        self.state = state;
        self
    }
}

/// The kinds of object the simulator stores and watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Pods,
    Events,
}

/// One entry of the watch history: what changed, the object after and before the change.
#[derive(Debug)]
struct Change {
    resource_version: u64,
    resource: Resource,
    kind: &'static str,
    namespace: String,
    object: Value,
    /// The object before the change (`None` for a creation).
    previous: Option<Value>,
    /// Events: the values of the selectable fields (immutable, so the same before and after).
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct World {
    resource_version: u64,
    pods: BTreeMap<(String, String), Pod>,
    /// Every change ever, in resourceVersion order (watches replay them).
    changes: Vec<Change>,
    faults: Vec<Fault>,
    log_faults: Vec<Fault>,
    /// Faults for the log requests of one pod: (namespace, pod) → the next ones.
    pod_log_faults: BTreeMap<(String, String), Vec<Fault>>,
    /// Bumped by [`Simulator::cut_log_streams`]: open follow streams end when it changes.
    cut_epoch: u64,
    /// Path and query of every request received, in order.
    requests: Vec<String>,
    uid_seq: u64,
    /// Changes up to this resourceVersion are forgotten ([`Simulator::compact`]).
    compacted: u64,
    /// Events, by (namespace, name).
    events: BTreeMap<(String, String), Event>,
    event_seq: u64,
    /// Whether the caller's RBAC lacks `events` ([`Simulator::forbid_events`]).
    events_forbidden: bool,
    /// Faults for the next events requests (list or watch) only.
    event_faults: Vec<Fault>,
    /// Faults for the next events watches only.
    event_watch_faults: Vec<Fault>,
    /// Path and query of every read answered with metadata only (`PartialObjectMetadata`).
    metadata_reads: Vec<String>,
}

struct Shared {
    world: Mutex<World>,
    changed: watch::Sender<u64>,
    /// Open streaming responses (watches and follow logs).
    open_streams: std::sync::atomic::AtomicUsize,
    /// Open follow log streams per (namespace, pod).
    open_logs: Mutex<BTreeMap<(String, String), usize>>,
}

/// Counts one open streaming response until dropped (when the client goes away); for a follow
/// log stream, also per pod.
struct StreamGuard(Arc<Shared>, Option<(String, String)>);

impl StreamGuard {
    fn new(shared: &Arc<Shared>, log_of: Option<(String, String)>) -> Self {
        shared
            .open_streams
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(key) = &log_of {
            *shared.open_logs().entry(key.clone()).or_default() += 1;
        }
        Self(shared.clone(), log_of)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0
            .open_streams
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(key) = &self.1
            && let Some(n) = self.0.open_logs().get_mut(key)
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        // A panic in a test thread must not hide the state from the other tests.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_logs(&self) -> MutexGuard<'_, BTreeMap<(String, String), usize>> {
        self.open_logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// A running simulator; dropping it stops the server.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    app: Router,
    /// The accept loop and the way to stop it, while serving.
    task: Mutex<
        Option<(
            tokio::task::JoinHandle<()>,
            tokio::sync::oneshot::Sender<()>,
        )>,
    >,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some((task, _)) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1:0`.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                resource_version: 100,
                ..World::default()
            }),
            changed: watch::channel(0).0,
            open_streams: std::sync::atomic::AtomicUsize::new(0),
            open_logs: Mutex::new(BTreeMap::new()),
        });
        let app = Router::new()
            .route("/version", get(version))
            .route("/api/v1/namespaces/{ns}/pods", get(pods))
            .route("/api/v1/namespaces/{ns}/pods/{pod}", get(pod_get))
            .route("/api/v1/namespaces/{ns}/pods/{pod}/log", get(pod_log))
            .route("/api/v1/namespaces/{ns}/events", get(events_v1))
            .route(
                "/apis/events.k8s.io/v1/namespaces/{ns}/events",
                get(events_k8s_io),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sim = Self {
            shared,
            addr,
            app,
            task: Mutex::new(None),
        };
        sim.serve(listener);
        Ok(sim)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = self.app.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping (or aborting) resets every one of them
            // (watches and log streams included), as an API server restart does.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => {
                        connections.shutdown().await;
                        return;
                    }
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let service = hyper_util::service::TowerToHyperService::new(app.clone());
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some((task, stop_tx));
    }

    /// Goes away: the listener closes and every open connection is reset; when this returns,
    /// they are closed. Pods and logs stay, as in etcd and on the nodes.
    pub async fn stop(&self) {
        let running = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((task, stop)) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Comes back on the same address after [`Simulator::stop`].
    ///
    /// # Errors
    /// When the address cannot be bound again.
    pub async fn resume(&self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds (or replaces) pod `pod` in `namespace` with label `faas_function=function` and one
    /// container named after the function, in `state`.
    pub fn add_pod(&self, namespace: &str, pod: &str, function: &str, state: ContainerState) {
        self.create_pod(namespace, pod, NewPod::function(function).state(state));
    }

    /// Creates (or replaces) pod `pod` in `namespace` as `new` describes (an ADDED watch event).
    pub fn create_pod(&self, namespace: &str, pod: &str, new: NewPod) {
        let mut w = self.shared.world();
        w.uid_seq += 1;
        let uid = format!("00000000-0000-4000-8000-{:012}", w.uid_seq);
        let now = time::now_nanos();
        let p = Pod {
            namespace: namespace.to_owned(),
            name: pod.to_owned(),
            uid,
            labels: new.labels,
            annotations: new.annotations,
            containers: new.containers.iter().map(|c| Container::new(c)).collect(),
            init_containers: new
                .init_containers
                .iter()
                .map(|c| Container::new(c))
                .collect(),
            created: time::rfc3339(now - now.rem_euclid(1_000_000_000)),
            state: new.state,
            resource_version: 0,
        };
        w.pods.insert((namespace.to_owned(), pod.to_owned()), p);
        change(&mut w, namespace, pod, "ADDED", |_| {});
        drop(w);
        self.shared.notify();
    }

    /// Whether pod `pod` exists.
    pub fn has_pod(&self, namespace: &str, pod: &str) -> bool {
        self.shared
            .world()
            .pods
            .contains_key(&(namespace.to_owned(), pod.to_owned()))
    }

    /// Changes the state of a pod's app containers (a MODIFIED watch event).
    pub fn set_state(&self, namespace: &str, pod: &str, state: ContainerState) {
        let mut w = self.shared.world();
        change(&mut w, namespace, pod, "MODIFIED", |p| p.state = state);
        drop(w);
        self.shared.notify();
    }

    /// Sets label `key` of a pod to `value` (`kubectl label --overwrite`). Watches see it as the
    /// apiserver shows it to a label-selector watch: MODIFIED while the pod still matches,
    /// DELETED when it stops matching, ADDED when it starts to.
    pub fn set_label(&self, namespace: &str, pod: &str, key: &str, value: &str) {
        let mut w = self.shared.world();
        change(&mut w, namespace, pod, "MODIFIED", |p| {
            p.labels.insert(key.to_owned(), value.to_owned());
        });
        drop(w);
        self.shared.notify();
    }

    /// Restarts the pod's app containers: each current log becomes the previous one, the new
    /// containers start `Running` with empty logs, each `restartCount` goes up by one.
    pub fn restart(&self, namespace: &str, pod: &str) {
        let mut w = self.shared.world();
        change(&mut w, namespace, pod, "MODIFIED", |p| {
            for c in &mut p.containers {
                c.previous = Some(std::mem::take(&mut c.lines));
                c.restarts += 1;
            }
            p.state = ContainerState::Running;
        });
        drop(w);
        self.shared.notify();
    }

    /// Deletes a pod (a DELETED watch event); its open log streams end.
    pub fn delete_pod(&self, namespace: &str, pod: &str) {
        let mut w = self.shared.world();
        change(&mut w, namespace, pod, "DELETED", |_| {});
        w.pods.remove(&(namespace.to_owned(), pod.to_owned()));
        drop(w);
        self.shared.notify();
    }

    /// Appends lines to the log of the pod's first app container (the only one of a pod made by
    /// [`Simulator::add_pod`]).
    pub fn append(&self, namespace: &str, pod: &str, lines: &[(i64, &str)]) {
        let first = self
            .shared
            .world()
            .pods
            .get(&(namespace.to_owned(), pod.to_owned()))
            .and_then(|p| p.containers.first().map(|c| c.name.clone()));
        if let Some(container) = first {
            self.append_to(namespace, pod, &container, lines);
        }
    }

    /// Appends lines to the current log of container `container` (app or init) of a pod.
    pub fn append_to(&self, namespace: &str, pod: &str, container: &str, lines: &[(i64, &str)]) {
        let mut w = self.shared.world();
        if let Some(c) = w
            .pods
            .get_mut(&(namespace.to_owned(), pod.to_owned()))
            .and_then(|p| p.container_mut(container))
        {
            c.lines
                .extend(lines.iter().map(|(ts, text)| (*ts, (*text).to_owned())));
        }
        drop(w);
        self.shared.notify();
    }

    /// Forgets the watch history up to now, as etcd compaction does: a watch from an older
    /// resourceVersion gets an ERROR event `410 Expired` and its client must list again.
    pub fn compact(&self) {
        let mut w = self.shared.world();
        w.compacted = w.resource_version;
        let kept = w.compacted;
        w.changes.retain(|c| c.resource_version > kept);
    }

    /// Ends every open follow log stream now, as an API server or kubelet restart does.
    pub fn cut_log_streams(&self) {
        self.shared.world().cut_epoch += 1;
        self.shared.notify();
    }

    /// Makes the next `count` requests (any path) fail with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        let mut w = self.shared.world();
        w.faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Makes the next `count` pod log requests (only those) fail with `fault`.
    pub fn fail_logs(&self, count: usize, fault: Fault) {
        let mut w = self.shared.world();
        w.log_faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Makes the next `count` log requests for pod `pod` (only those) fail with `fault`.
    pub fn fail_logs_of(&self, namespace: &str, pod: &str, count: usize, fault: Fault) {
        let mut w = self.shared.world();
        w.pod_log_faults
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_default()
            .extend(std::iter::repeat_n(fault, count));
    }

    /// Watch and follow-log responses currently open (a client that goes away closes them).
    pub fn open_streams(&self) -> usize {
        self.shared
            .open_streams
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Follow log streams of one pod currently open.
    pub fn open_log_streams(&self, namespace: &str, pod: &str) -> usize {
        self.shared
            .open_logs()
            .get(&(namespace.to_owned(), pod.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Path and query of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.world().requests.clone()
    }

    /// Records an event about a pod (an ADDED watch event on `events`) and returns its name,
    /// `<pod>.<hex>` as the recorders name them. The pod need not exist (the events of a
    /// deleted pod stay until their TTL passes).
    pub fn record_event(&self, namespace: &str, new: NewEvent) -> String {
        let mut w = self.shared.world();
        w.uid_seq += 1;
        w.event_seq += 1;
        let now = time::now_nanos();
        let at = new.at.unwrap_or(now);
        let name = format!(
            "{}.{:x}",
            new.pod,
            at.unsigned_abs().wrapping_add(w.event_seq)
        );
        let event = Event {
            namespace: namespace.to_owned(),
            name: name.clone(),
            uid: format!("00000000-0000-4000-9000-{:012}", w.uid_seq),
            resource_version: 0,
            created: now,
            pod: new.pod,
            reason: new.reason,
            message: new.message,
            warning: new.warning,
            first: at,
            last: at,
            count: new.count,
            series: new.series,
            field_path: new.field_path,
        };
        w.events.insert((namespace.to_owned(), name.clone()), event);
        event_change(&mut w, namespace, &name, "ADDED", |_| {});
        drop(w);
        self.shared.notify();
        name
    }

    /// One more occurrence of event `name` at `at` (Unix nanoseconds): `count` (or
    /// `series.count`) goes up by one and the last time moves (a MODIFIED watch event), as
    /// the kubelet's event correlator and the events.k8s.io series do.
    pub fn repeat_event(&self, namespace: &str, name: &str, at: i64) {
        self.repeat_event_by(namespace, name, 1, at);
    }

    /// `by` more occurrences of event `name`, the last at `at`, folded into one update (a
    /// recorder that aggregates repeats, or a series updated only now).
    pub fn repeat_event_by(&self, namespace: &str, name: &str, by: u32, at: i64) {
        let mut w = self.shared.world();
        event_change(&mut w, namespace, name, "MODIFIED", |e| {
            e.count += by;
            e.last = at;
        });
        drop(w);
        self.shared.notify();
    }

    /// Changes event `name`'s message without a new occurrence (a MODIFIED watch event whose
    /// count stays).
    pub fn edit_event_message(&self, namespace: &str, name: &str, message: &str) {
        let mut w = self.shared.world();
        event_change(&mut w, namespace, name, "MODIFIED", |e| {
            message.clone_into(&mut e.message);
        });
        drop(w);
        self.shared.notify();
    }

    /// Deletes event `name`, as its TTL does (a DELETED watch event).
    pub fn delete_event(&self, namespace: &str, name: &str) {
        let mut w = self.shared.world();
        event_change(&mut w, namespace, name, "DELETED", |_| {});
        drop(w);
        self.shared.notify();
    }

    /// Makes the next `count` core v1 events requests (list or watch, only those) fail with
    /// `fault`.
    pub fn fail_events(&self, count: usize, fault: Fault) {
        let mut w = self.shared.world();
        w.event_faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Makes the next `count` core v1 events watches (only those, not lists) fail with `fault`.
    pub fn fail_event_watches(&self, count: usize, fault: Fault) {
        let mut w = self.shared.world();
        w.event_watch_faults
            .extend(std::iter::repeat_n(fault, count));
    }

    /// Path and query of every request answered with metadata only (kube's `list_metadata`,
    /// `get_metadata`), in order.
    pub fn metadata_reads(&self) -> Vec<String> {
        self.shared.world().metadata_reads.clone()
    }

    /// Takes away (`true`) or gives back (`false`) the caller's permission on `events`: every
    /// list and watch of events is then the apiserver's `403 Forbidden`.
    pub fn forbid_events(&self, forbidden: bool) {
        self.shared.world().events_forbidden = forbidden;
    }
}

/// Applies `edit` to a pod and records the change for watches, with the object before it.
fn change(
    w: &mut World,
    namespace: &str,
    pod: &str,
    kind: &'static str,
    edit: impl FnOnce(&mut Pod),
) {
    w.resource_version += 1;
    let rv = w.resource_version;
    let Some(p) = w.pods.get_mut(&(namespace.to_owned(), pod.to_owned())) else {
        return;
    };
    let previous = (kind != "ADDED").then(|| p.to_json());
    edit(p);
    p.resource_version = rv;
    let object = p.to_json();
    w.changes.push(Change {
        resource_version: rv,
        resource: Resource::Pods,
        kind,
        namespace: namespace.to_owned(),
        object,
        previous,
        fields: BTreeMap::new(),
    });
}

/// Applies `edit` to an event (or records its deletion) and records the change for watches.
fn event_change(
    w: &mut World,
    namespace: &str,
    name: &str,
    kind: &'static str,
    edit: impl FnOnce(&mut Event),
) {
    w.resource_version += 1;
    let rv = w.resource_version;
    let key = (namespace.to_owned(), name.to_owned());
    let Some(e) = w.events.get_mut(&key) else {
        return;
    };
    edit(e);
    e.resource_version = rv;
    let (object, fields) = (e.to_v1_object(), e.v1_fields());
    if kind == "DELETED" {
        w.events.remove(&key);
    }
    w.changes.push(Change {
        resource_version: rv,
        resource: Resource::Events,
        kind,
        namespace: namespace.to_owned(),
        object,
        previous: None,
        fields,
    });
}

/// A `Status` error response, byte for byte as the apiserver writes it.
fn status(
    code: StatusCode,
    message: &str,
    reason: Option<&str>,
    details: Option<Ordered>,
) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        status::failure(code.as_u16(), message, reason, details),
    )
        .into_response()
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let text = serde_json::to_string_pretty(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn invalid_log_options(pod: &str, field: &str, value: &str, why: &str) -> Response {
    let cause = format!("Invalid value: {value}: {why}");
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("PodLogOptions \"{pod}\" is invalid: {field}: {cause}"),
        Some("Invalid"),
        Some(Ordered::Object(vec![
            ("name", Ordered::text(pod)),
            ("kind", Ordered::text("PodLogOptions")),
            (
                "causes",
                Ordered::Array(vec![Ordered::Object(vec![
                    ("reason", Ordered::text("FieldValueInvalid")),
                    ("message", Ordered::text(&cause)),
                    ("field", Ordered::text(field)),
                ])]),
            ),
        ])),
    )
}

/// Records the request and takes the next injected fault, if any.
fn enter(shared: &Shared, path: &str, query: &BTreeMap<String, String>) -> Option<Fault> {
    let mut w = shared.world();
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    w.requests.push(format!("{path}?{}", q.join("&")));
    if w.faults.is_empty() {
        None
    } else {
        Some(w.faults.remove(0))
    }
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unauthorized => status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            Some("Unauthorized"),
            None,
        ),
        Fault::Internal | Fault::KubeletDown | Fault::ContainerUnavailable => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error occurred: simulated failure",
            Some("InternalError"),
            None,
        ),
    }
}

async fn version(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(fault) = enter(&shared, "/version", &BTreeMap::new()) {
        return fault_response(fault);
    }
    json_response(
        StatusCode::OK,
        &json!({"major": "1", "minor": "24", "gitVersion": "v1.24.0-simulator", "platform": "linux/amd64"}),
    )
}

/// Whether `labels` match a label selector (see [`Selector::labels`]).
fn selector_matches(selector: Option<&String>, labels: &BTreeMap<String, String>) -> bool {
    Selector::labels(selector.map(String::as_str)).matches(labels)
}

/// What an `Accept` header asks a read for: the object itself, or only its metadata
/// (`application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`, kube's
/// `list_metadata`/`get_metadata`), the first alternative the apiserver can serve winning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Full,
    Metadata,
    MetadataList,
}

/// The negotiated form of a response for `accept`, or `None` when no alternative can be
/// served (`406`). `list` says whether the object read is a list: the apiserver refuses
/// `PartialObjectMetadata` for a list and `PartialObjectMetadataList` for a single object.
fn negotiate(accept: Option<&str>, list: bool) -> Option<Wanted> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Wanted::Full);
    };
    accept.split(',').find_map(|alternative| {
        let mut parts = alternative.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            return None;
        }
        let params: BTreeMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        match params.get("as") {
            None => Some(Wanted::Full),
            Some(kind)
                if params.get("g") == Some(&"meta.k8s.io")
                    && matches!(params.get("v"), Some(&"v1" | &"v1beta1")) =>
            {
                match (*kind, list) {
                    ("PartialObjectMetadataList", true) => Some(Wanted::MetadataList),
                    ("PartialObjectMetadata", false) => Some(Wanted::Metadata),
                    _ => None,
                }
            }
            Some(_) => None,
        }
    })
}

fn not_acceptable() -> Response {
    status(
        StatusCode::NOT_ACCEPTABLE,
        "only the following media types are accepted: application/json, application/yaml, \
         application/vnd.kubernetes.protobuf",
        Some("NotAcceptable"),
        None,
    )
}

/// An object reduced to its metadata, as `PartialObjectMetadata` (the apiserver's
/// `asPartialObjectMetadata`: every `metadata` field kept, `kind`/`apiVersion` set).
fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    })
}

/// The prefix of the simulator's (opaque) `continue` tokens; the rest is the last name served.
const CONTINUE_PREFIX: &str = "sim-continue:";

/// A list response body: `items` are (name, object) in name order (etcd's key order), paged
/// by `limit` and `continue` as the apiserver pages (`metadata.continue`,
/// `remainingItemCount`).
fn list_body(
    kind: &str,
    api_version: &str,
    resource_version: u64,
    items: Vec<(String, Value)>,
    query: &BTreeMap<String, String>,
) -> Value {
    let after = query
        .get("continue")
        .and_then(|c| c.strip_prefix(CONTINUE_PREFIX));
    let mut items: Vec<(String, Value)> = items
        .into_iter()
        .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
        .collect();
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|n| *n > 0);
    if let Some(n) = limit
        && items.len() > n
    {
        let remaining = items.len() - n;
        items.truncate(n);
        let last = items
            .last()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        metadata["continue"] = json!(format!("{CONTINUE_PREFIX}{last}"));
        metadata["remainingItemCount"] = json!(remaining);
    }
    json!({
        "kind": kind, "apiVersion": api_version, "metadata": metadata,
        "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })
}

async fn pods(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = enter(&shared, &format!("/api/v1/namespaces/{ns}/pods"), &query) {
        return fault_response(fault);
    }
    let selector = query.get("labelSelector").cloned();
    if is_true(&query, "watch") {
        return watch_pods(shared, ns, selector, query.get("resourceVersion").cloned());
    }
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
    let Some(wanted) = negotiate(accept, true) else {
        return not_acceptable();
    };
    let mut w = shared.world();
    if wanted == Wanted::MetadataList {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        w.metadata_reads
            .push(format!("/api/v1/namespaces/{ns}/pods?{}", q.join("&")));
    }
    let items: Vec<(String, Value)> = w
        .pods
        .values()
        .filter(|p| p.namespace == ns && selector_matches(selector.as_ref(), &p.labels))
        .map(|p| {
            let mut v = p.to_json();
            if wanted == Wanted::MetadataList {
                v = partial_metadata(&v);
            } else if let Some(o) = v.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            (p.name.clone(), v)
        })
        .collect();
    let (kind, api_version) = match wanted {
        Wanted::MetadataList => ("PartialObjectMetadataList", "meta.k8s.io/v1"),
        _ => ("PodList", "v1"),
    };
    let body = list_body(kind, api_version, w.resource_version, items, &query);
    drop(w);
    json_response(StatusCode::OK, &body)
}

fn watch_pods(
    shared: Arc<Shared>,
    ns: String,
    selector: Option<String>,
    resource_version: Option<String>,
) -> Response {
    let initial_ns = ns.clone();
    let initial_selector = selector.clone();
    watch_response(
        shared,
        Resource::Pods,
        ns,
        resource_version,
        move |w| {
            w.pods
                .values()
                .filter(|p| {
                    p.namespace == initial_ns
                        && selector_matches(initial_selector.as_ref(), &p.labels)
                })
                .map(Pod::to_json)
                .collect()
        },
        move |c| as_seen_by(c, selector.as_ref()),
    )
}

/// A watch on `resource` in `ns` from `resource_version`: unset or `"0"` starts with synthetic
/// ADDED events for the current objects (`initial`), then every later change that `seen`
/// shows (as which event type, with which object).
fn watch_response(
    shared: Arc<Shared>,
    resource: Resource,
    ns: String,
    resource_version: Option<String>,
    initial: impl FnOnce(&World) -> Vec<Value>,
    seen: impl Fn(&Change) -> Option<(&'static str, Value)> + Send + Sync + 'static,
) -> Response {
    let mut changed = shared.changed.subscribe();
    let (initial, after) = {
        let w = shared.world();
        match resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok())
        {
            // Older than the history kept: the watch cache answers with a watch event of type
            // ERROR (410 Expired), not an HTTP error ("once we have passed authn/authz/admission
            // ... other errors must fail with a watch event of type ERROR", cacher.go); the
            // client must list again.
            Some(rv) if rv > 0 && rv < w.compacted => {
                let line = json!({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("too old resource version: {rv} ({})", w.compacted),
                    "reason": "Expired", "code": 410,
                }});
                let mut body = serde_json::to_vec(&line).unwrap_or_default();
                body.push(b'\n');
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
            }
            Some(rv) if rv > 0 => (Vec::new(), rv),
            _ => (
                initial(&w)
                    .iter()
                    .map(|obj| event_line("ADDED", obj))
                    .collect(),
                w.resource_version,
            ),
        }
    };
    let first = futures::stream::iter(initial.into_iter().map(Ok::<Bytes, Infallible>));
    changed.borrow_and_update();
    let guard = StreamGuard::new(&shared, None);
    let seen = Arc::new(seen);
    let live = futures::stream::unfold(
        (changed, after, guard),
        move |(mut changed, mut after, guard)| {
            let shared = shared.clone();
            let ns = ns.clone();
            let seen = seen.clone();
            async move {
                loop {
                    changed.borrow_and_update();
                    let batch: Vec<Bytes> = {
                        let w = shared.world();
                        let out = w
                            .changes
                            .iter()
                            .filter(|c| {
                                c.resource_version > after
                                    && c.resource == resource
                                    && c.namespace == ns
                            })
                            .filter_map(|c| seen(c))
                            .map(|(kind, obj)| event_line(kind, &obj))
                            .collect();
                        after = w.resource_version;
                        out
                    };
                    if !batch.is_empty() {
                        let batch = futures::stream::iter(batch.into_iter().map(Ok));
                        return Some((batch, (changed, after, guard)));
                    }
                    if changed.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    )
    .flatten();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(first.chain(live)),
    )
        .into_response()
}

/// The user the simulator's callers authenticate as (the captured 403 names it).
pub const SIM_USER: &str = "reader";

/// The apiserver's `403` for a caller whose RBAC lacks `verb` on `events` in API group
/// `group` (`""` for core).
fn events_forbidden(ns: &str, verb: &str, group: &str) -> Response {
    let resource = if group.is_empty() {
        "events".to_owned()
    } else {
        format!("events.{group}")
    };
    let mut details = Vec::new();
    if !group.is_empty() {
        details.push(("group", Ordered::text(group)));
    }
    details.push(("kind", Ordered::text("events")));
    status(
        StatusCode::FORBIDDEN,
        &format!(
            "{resource} is forbidden: User \"{SIM_USER}\" cannot {verb} resource \"events\" in API group \"{group}\" in the namespace \"{ns}\""
        ),
        Some("Forbidden"),
        Some(Ordered::Object(details)),
    )
}

/// Core v1 events: list (`fieldSelector`, `limit`, `continue`) and watch (`resourceVersion`).
async fn events_v1(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(fault) = enter(&shared, &format!("/api/v1/namespaces/{ns}/events"), &query) {
        return fault_response(fault);
    }
    let watch = is_true(&query, "watch");
    {
        let mut w = shared.world();
        if !w.event_faults.is_empty() {
            let fault = w.event_faults.remove(0);
            return fault_response(fault);
        }
        if watch && !w.event_watch_faults.is_empty() {
            let fault = w.event_watch_faults.remove(0);
            return fault_response(fault);
        }
        if w.events_forbidden {
            return events_forbidden(&ns, if watch { "watch" } else { "list" }, "");
        }
    }
    let selector = match Selector::fields(
        query.get("fieldSelector").map(String::as_str),
        V1_SELECTABLE,
    ) {
        Ok(s) => s,
        Err(message) => return status(StatusCode::BAD_REQUEST, &message, Some("BadRequest"), None),
    };
    if watch {
        let initial_ns = ns.clone();
        let initial_selector = selector.clone();
        return watch_response(
            shared,
            Resource::Events,
            ns,
            query.get("resourceVersion").cloned(),
            move |w| {
                w.events
                    .values()
                    .filter(|e| {
                        e.namespace == initial_ns && initial_selector.matches(&e.v1_fields())
                    })
                    .map(Event::to_v1_object)
                    .collect()
            },
            move |c| {
                selector
                    .matches(&c.fields)
                    .then(|| (c.kind, c.object.clone()))
            },
        );
    }
    let w = shared.world();
    let items = w
        .events
        .values()
        .filter(|e| e.namespace == ns && selector.matches(&e.v1_fields()))
        .map(|e| (e.name.clone(), e.to_v1()))
        .collect();
    let body = list_body("EventList", "v1", w.resource_version, items, &query);
    drop(w);
    json_response(StatusCode::OK, &body)
}

/// `events.k8s.io/v1` events: list only (the same objects, converted; `regarding.*` fields).
async fn events_k8s_io(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/apis/events.k8s.io/v1/namespaces/{ns}/events");
    if let Some(fault) = enter(&shared, &path, &query) {
        return fault_response(fault);
    }
    let watch = is_true(&query, "watch");
    if shared.world().events_forbidden {
        return events_forbidden(&ns, if watch { "watch" } else { "list" }, "events.k8s.io");
    }
    if watch {
        // Not modelled: the provider reads core v1 events.
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "the simulator does not watch events.k8s.io/v1 events",
            Some("MethodNotAllowed"),
            None,
        );
    }
    let selector = match Selector::fields(
        query.get("fieldSelector").map(String::as_str),
        EVENTS_V1_SELECTABLE,
    ) {
        Ok(s) => s,
        Err(message) => return status(StatusCode::BAD_REQUEST, &message, Some("BadRequest"), None),
    };
    let w = shared.world();
    let items = w
        .events
        .values()
        .filter(|e| e.namespace == ns && selector.matches(&e.events_v1_fields()))
        .map(|e| (e.name.clone(), e.to_events_v1()))
        .collect();
    let body = list_body(
        "EventList",
        "events.k8s.io/v1",
        w.resource_version,
        items,
        &query,
    );
    drop(w);
    json_response(StatusCode::OK, &body)
}

/// A change as a watch with `selector` sees it, as the apiserver's watch cache converts it
/// (`cacheWatcher.convertToWatchEvent` in `staging/src/k8s.io/apiserver/pkg/storage/cacher/`,
/// and the same rule in `storage/etcd3/watcher.go` `transform`): the object before and after the
/// change are both tested against the selector; matching after only is `ADDED`, before only is
/// `DELETED` carrying the object as it was before (with the change's resourceVersion), both is
/// `MODIFIED`, neither is not sent. So a pod relabelled out of a function reaches that
/// function's watchers as `DELETED`, and the function it joins as `ADDED`.
fn as_seen_by(change: &Change, selector: Option<&String>) -> Option<(&'static str, Value)> {
    let now = change.kind != "DELETED" && selector_matches(selector, &labels_of(&change.object));
    let before = change
        .previous
        .as_ref()
        .is_some_and(|prev| selector_matches(selector, &labels_of(prev)));
    match (before, now) {
        (false, true) => Some(("ADDED", change.object.clone())),
        (true, true) => Some(("MODIFIED", change.object.clone())),
        (true, false) => {
            let mut old = change.previous.clone()?;
            old["metadata"]["resourceVersion"] = json!(change.resource_version.to_string());
            Some(("DELETED", old))
        }
        (false, false) => None,
    }
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn event_line(kind: &str, obj: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

async fn pod_get(
    State(shared): State<Arc<Shared>>,
    Path((ns, pod)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = enter(
        &shared,
        &format!("/api/v1/namespaces/{ns}/pods/{pod}"),
        &query,
    ) {
        return fault_response(fault);
    }
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
    let Some(wanted) = negotiate(accept, false) else {
        return not_acceptable();
    };
    let mut w = shared.world();
    if wanted == Wanted::Metadata {
        w.metadata_reads
            .push(format!("/api/v1/namespaces/{ns}/pods/{pod}"));
    }
    match w.pods.get(&(ns, pod.clone())) {
        Some(p) if wanted == Wanted::Metadata => {
            json_response(StatusCode::OK, &partial_metadata(&p.to_json()))
        }
        Some(p) => json_response(StatusCode::OK, &p.to_json()),
        None => not_found(&pod),
    }
}

fn not_found(pod: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        &format!("pods \"{pod}\" not found"),
        Some("NotFound"),
        Some(Ordered::Object(vec![
            ("name", Ordered::text(pod)),
            ("kind", Ordered::text("pods")),
        ])),
    )
}

fn is_true(query: &BTreeMap<String, String>, key: &str) -> bool {
    query.get(key).is_some_and(|v| v == "true" || v == "1")
}

/// Kubelet's fixed-width RFC3339 with nanoseconds (`2026-01-01T00:00:00.000000000Z`).
fn fixed_rfc3339(nanos: i64) -> String {
    let frac = nanos.rem_euclid(1_000_000_000);
    let text = time::rfc3339(nanos - frac);
    let seconds = text.trim_end_matches('Z');
    format!("{seconds}.{frac:09}Z")
}

struct LogOptions {
    timestamps: bool,
    since: Option<i64>,
    tail: Option<usize>,
}

fn select_lines(lines: &[(i64, String)], opts: &LogOptions) -> Vec<Bytes> {
    let start = opts.tail.map_or(0, |n| lines.len().saturating_sub(n));
    lines[start..]
        .iter()
        .filter(|(ts, _)| opts.since.is_none_or(|since| *ts >= since))
        .map(|(ts, text)| render_line(*ts, text, opts.timestamps))
        .collect()
}

fn render_line(ts: i64, text: &str, timestamps: bool) -> Bytes {
    if timestamps {
        Bytes::from(format!("{} {text}\n", fixed_rfc3339(ts)))
    } else {
        Bytes::from(format!("{text}\n"))
    }
}

async fn pod_log(
    State(shared): State<Arc<Shared>>,
    Path((ns, pod)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let fault = enter(
        &shared,
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/log"),
        &query,
    );
    // Authentication and the apiserver itself fail before anything is looked at; the kubelet
    // only once the container is resolved.
    if let Some(fault @ (Fault::Internal | Fault::Unauthorized)) = fault {
        return fault_response(fault);
    }
    let fault = fault.or_else(|| {
        let mut w = shared.world();
        let key = (ns.clone(), pod.clone());
        if let Some(next) = w.pod_log_faults.get_mut(&key).filter(|f| !f.is_empty()) {
            return Some(next.remove(0));
        }
        (!w.log_faults.is_empty()).then(|| w.log_faults.remove(0))
    });
    // The apiserver validates the options before looking the pod up.
    let since_seconds = query.get("sinceSeconds").map(|s| s.parse::<i64>());
    if let Some(Ok(s)) = since_seconds.clone()
        && s <= 0
    {
        return invalid_log_options(
            &pod,
            "sinceSeconds",
            &s.to_string(),
            "must be greater than 0",
        );
    }
    let tail = match query.get("tailLines").map(|s| s.parse::<i64>()) {
        Some(Ok(n)) if n < 0 => {
            return invalid_log_options(
                &pod,
                "tailLines",
                &n.to_string(),
                "must be greater than or equal to 0",
            );
        }
        Some(Ok(n)) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(Err(_)) => {
            return status(
                StatusCode::BAD_REQUEST,
                "invalid tailLines",
                Some("BadRequest"),
                None,
            );
        }
        None => None,
    };
    let since = match (query.get("sinceTime"), since_seconds) {
        (Some(t), _) => match time::parse_rfc3339(t) {
            // The apiserver keeps whole seconds only.
            Some(ts) => Some(ts.div_euclid(1_000_000_000) * 1_000_000_000),
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "invalid sinceTime",
                    Some("BadRequest"),
                    None,
                );
            }
        },
        (None, Some(Ok(s))) => Some(time::now_nanos() - s * 1_000_000_000),
        (None, Some(Err(_))) => {
            return status(
                StatusCode::BAD_REQUEST,
                "invalid sinceSeconds",
                Some("BadRequest"),
                None,
            );
        }
        (None, None) => None,
    };
    let opts = LogOptions {
        timestamps: is_true(&query, "timestamps"),
        since,
        tail,
    };
    let follow = is_true(&query, "follow");
    let previous = is_true(&query, "previous");
    let (first, source, epoch) = {
        let w = shared.world();
        let Some(p) = w.pods.get(&(ns.clone(), pod.clone())) else {
            return not_found(&pod);
        };
        // The apiserver's LogLocation: resolve the container, then the node.
        let container = match query.get("container").filter(|c| !c.is_empty()) {
            Some(c) if p.container(c).is_some() => c.clone(),
            Some(c) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    &format!("container {c} is not valid for pod {pod}"),
                    Some("BadRequest"),
                    None,
                );
            }
            None => match p.containers.as_slice() {
                [only] => only.name.clone(),
                all => return container_required(&pod, all, &p.init_containers),
            },
        };
        if p.state == ContainerState::Unscheduled {
            // No node yet: LogLocation has no location, the apiserver answers 204.
            return StatusCode::NO_CONTENT.into_response();
        }
        match fault {
            Some(Fault::KubeletDown) => {
                return status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!(
                        "Get \"https://127.0.0.1:10250/containerLogs/{ns}/{pod}/{container}\": dial tcp 127.0.0.1:10250: connect: connection refused"
                    ),
                    None,
                    None,
                );
            }
            Some(Fault::ContainerUnavailable) => return container_unavailable(&container, &pod),
            Some(other) => return fault_response(other),
            None => {}
        }
        let Some((c, _)) = p.container(&container) else {
            return not_found(&pod);
        };
        // The kubelet's validateContainerLogStatus: which container's log, if any.
        let reported = p.reported(&container);
        let source = match (&reported, &c.previous) {
            (_, None) if previous => {
                return status(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                    ),
                    Some("BadRequest"),
                    None,
                );
            }
            (_, Some(_)) if previous => Source::Previous,
            (Reported::Running, _) => Source::Current { ended: false },
            (Reported::Terminated, _) => Source::Current { ended: true },
            // A container waiting to restart: its last run's log.
            (Reported::Waiting(_) | Reported::None, Some(_)) => Source::Previous,
            (Reported::Waiting(reason), None) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}"
                    ),
                    Some("BadRequest"),
                    None,
                );
            }
            // No status for the container on the kubelet yet.
            (Reported::None, None) => return container_unavailable(&container, &pod),
        };
        let lines = match source {
            Source::Previous => c.previous.as_deref().unwrap_or_default(),
            Source::Current { .. } => &c.lines[..],
        };
        let first = select_lines(lines, &opts);
        let source = match source {
            Source::Current { ended: false } if follow => Some(Followed {
                container,
                restarts: c.restarts,
                next: c.lines.len(),
            }),
            _ => None,
        };
        (first, source, w.cut_epoch)
    };
    let head = futures::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
    let Some(followed) = source else {
        return log_response(Body::from_stream(head));
    };
    let changed = shared.changed.subscribe();
    let timestamps = opts.timestamps;
    let guard = StreamGuard::new(&shared, Some((ns.clone(), pod.clone())));
    let tail_stream = futures::stream::unfold(
        (changed, followed.next, guard),
        move |(mut changed, mut next, guard)| {
            let shared = shared.clone();
            let key = (ns.clone(), pod.clone());
            let container = followed.container.clone();
            let restarts = followed.restarts;
            async move {
                loop {
                    changed.borrow_and_update();
                    {
                        let w = shared.world();
                        if w.cut_epoch != epoch {
                            return None;
                        }
                        let p = w.pods.get(&key)?;
                        let (c, _) = p.container(&container)?;
                        // After a restart, this stream's container is the previous one.
                        let (lines, ended) = if c.restarts != restarts {
                            (c.previous.as_deref().unwrap_or_default(), true)
                        } else {
                            (&c.lines[..], p.reported(&container) != Reported::Running)
                        };
                        if next < lines.len() {
                            let end = lines.len().min(next + 1024);
                            let batch: Vec<u8> = lines[next..end]
                                .iter()
                                .flat_map(|(ts, text)| render_line(*ts, text, timestamps))
                                .collect();
                            next = end;
                            return Some((
                                Ok::<_, Infallible>(Bytes::from(batch)),
                                (changed, next, guard),
                            ));
                        }
                        if ended {
                            return None;
                        }
                    }
                    if changed.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    );
    log_response(Body::from_stream(head.chain(tail_stream)))
}

/// The kubelet's `400` for a container it has no status for (`validateContainerLogStatus`).
fn container_unavailable(container: &str, pod: &str) -> Response {
    status(
        StatusCode::BAD_REQUEST,
        &format!("container \"{container}\" in pod \"{pod}\" is not available"),
        Some("BadRequest"),
        None,
    )
}

/// Which log of a container a request reads.
enum Source {
    /// The previous container's (after a restart).
    Previous,
    /// The current container's; `ended` when it has exited.
    Current { ended: bool },
}

/// A follow stream on a running container.
struct Followed {
    container: String,
    /// The container's restart count when the stream opened.
    restarts: u32,
    /// Index of the first line not sent yet.
    next: usize,
}

/// The apiserver's `400` for a pod with several containers and no `container=`.
fn container_required(pod: &str, containers: &[Container], init: &[Container]) -> Response {
    let names = |cs: &[Container]| {
        cs.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut message = if containers.is_empty() {
        format!("a container name must be specified for pod {pod}")
    } else {
        format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            names(containers)
        )
    };
    if !containers.is_empty() && !init.is_empty() {
        message.push_str(&format!(
            " or one of the init containers: [{}]",
            names(init)
        ));
    }
    status(StatusCode::BAD_REQUEST, &message, Some("BadRequest"), None)
}

fn log_response(body: Body) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
