//! A simulator of the part of the Kubernetes API this provider uses, for tests and benchmarks.
//!
//! It is NOT a Kubernetes API server: it serves, over plain HTTP on loopback, pod list and watch
//! (`labelSelector`, `resourceVersion`), pod get, `pods/{name}/log` (`follow`, `timestamps`,
//! `sinceTime`, `sinceSeconds`, `tailLines`, `container`, `previous`) and `/version`, answering
//! like the captured responses of a real kube-apiserver in `tests/fixtures/*.http` (status codes,
//! `Status` bodies, content types). Tests drive it: add pods (with several containers, init
//! containers and annotations), append log lines, restart containers, change labels, cut open
//! log streams, and inject 500/401 failures.
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
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

mod pod;
mod status;
pub mod time;

use pod::{Container, Pod, Reported};
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

/// One entry of the watch history: what changed, the object after and before the change.
#[derive(Debug)]
struct Change {
    resource_version: u64,
    kind: &'static str,
    namespace: String,
    object: Value,
    /// The object before the change (`None` for a creation).
    previous: Option<Value>,
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
        kind,
        namespace: namespace.to_owned(),
        object,
        previous,
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

/// Parses `k=v,k2==v2`; other selector forms are not needed by this provider.
fn selector_matches(selector: Option<&String>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .unwrap_or((term, ""));
        labels.get(k.trim()).is_some_and(|have| have == v.trim())
    })
}

async fn pods(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(fault) = enter(&shared, &format!("/api/v1/namespaces/{ns}/pods"), &query) {
        return fault_response(fault);
    }
    let selector = query.get("labelSelector").cloned();
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch_pods(shared, ns, selector, query.get("resourceVersion").cloned());
    }
    let w = shared.world();
    let items: Vec<Value> = w
        .pods
        .values()
        .filter(|p| p.namespace == ns && selector_matches(selector.as_ref(), &p.labels))
        .map(|p| {
            let mut v = p.to_json();
            if let Some(o) = v.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            v
        })
        .collect();
    let body = json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": w.resource_version.to_string()},
        "items": items,
    });
    drop(w);
    json_response(StatusCode::OK, &body)
}

fn watch_pods(
    shared: Arc<Shared>,
    ns: String,
    selector: Option<String>,
    resource_version: Option<String>,
) -> Response {
    let mut changed = shared.changed.subscribe();
    // `resourceVersion` unset or "0": synthetic ADDED events for the current state first.
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
                w.pods
                    .values()
                    .filter(|p| p.namespace == ns && selector_matches(selector.as_ref(), &p.labels))
                    .map(|p| event_line("ADDED", &p.to_json()))
                    .collect(),
                w.resource_version,
            ),
        }
    };
    let first = futures::stream::iter(initial.into_iter().map(Ok::<Bytes, Infallible>));
    changed.borrow_and_update();
    let guard = StreamGuard::new(&shared, None);
    let live = futures::stream::unfold(
        (changed, after, guard),
        move |(mut changed, mut after, guard)| {
            let shared = shared.clone();
            let ns = ns.clone();
            let selector = selector.clone();
            async move {
                loop {
                    changed.borrow_and_update();
                    let batch: Vec<Bytes> = {
                        let w = shared.world();
                        let out = w
                            .changes
                            .iter()
                            .filter(|c| c.resource_version > after && c.namespace == ns)
                            .filter_map(|c| as_seen_by(c, selector.as_ref()))
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
) -> Response {
    if let Some(fault) = enter(
        &shared,
        &format!("/api/v1/namespaces/{ns}/pods/{pod}"),
        &query,
    ) {
        return fault_response(fault);
    }
    let w = shared.world();
    match w.pods.get(&(ns, pod.clone())) {
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
