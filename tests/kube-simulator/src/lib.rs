//! A simulator of the part of the Kubernetes API this provider uses, for tests and benchmarks.
//!
//! It is NOT a Kubernetes API server: it serves, over plain HTTP on loopback, pod list and watch
//! (`labelSelector`, `resourceVersion`), pod get, `pods/{name}/log` (`follow`, `timestamps`,
//! `sinceTime`, `sinceSeconds`, `tailLines`, `container`, `previous`) and `/version`, answering
//! like the captured responses of a real kube-apiserver in `tests/fixtures/*.http` (status codes,
//! `Status` bodies, content types). Tests drive it: add pods, append log lines, restart
//! containers, cut open log streams, and inject 500/401 failures.

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

pub mod time;

/// A fault the simulator injects into the next requests (`/api` and `/version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `500` with a `Status` body, as when etcd or a webhook fails.
    Internal,
    /// `401 Unauthorized`, as for a missing or bad token.
    Unauthorized,
    /// Pod logs only: `500` "connection refused" from the kubelet.
    KubeletDown,
}

/// The state of a simulated pod's only container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Not scheduled to a node yet: log requests answer `204 No Content`.
    Unscheduled,
    /// Scheduled but the container is not started (`ContainerCreating`): logs answer `400`.
    Waiting,
    /// Running: logs are served; follow streams stay open.
    Running,
    /// Exited: logs are served; follow streams end after the last line.
    Terminated,
}

#[derive(Debug)]
struct Pod {
    namespace: String,
    name: String,
    uid: String,
    labels: BTreeMap<String, String>,
    container: String,
    created: String,
    state: ContainerState,
    restarts: u32,
    resource_version: u64,
    /// Log lines of the current container: (unix nanos, text without newline).
    lines: Vec<(i64, String)>,
    /// Log lines of the previous container, after a restart.
    previous: Option<Vec<(i64, String)>>,
}

#[derive(Debug, Default)]
struct World {
    resource_version: u64,
    pods: BTreeMap<(String, String), Pod>,
    /// Every watch event ever: (resourceVersion, type, namespace, pod object).
    events: Vec<(u64, &'static str, String, Value)>,
    faults: Vec<Fault>,
    log_faults: Vec<Fault>,
    /// Bumped by [`Simulator::cut_log_streams`]: open follow streams end when it changes.
    cut_epoch: u64,
    /// Path and query of every request received, in order.
    requests: Vec<String>,
    uid_seq: u64,
}

struct Shared {
    world: Mutex<World>,
    changed: watch::Sender<u64>,
    /// Open streaming responses (watches and follow logs).
    open_streams: std::sync::atomic::AtomicUsize,
}

/// Counts one open streaming response until dropped (when the client goes away).
struct StreamGuard(Arc<Shared>);

impl StreamGuard {
    fn new(shared: &Arc<Shared>) -> Self {
        shared
            .open_streams
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0
            .open_streams
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        // A panic in a test thread must not hide the state from the other tests.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut w = self.shared.world();
        w.uid_seq += 1;
        let uid = format!("00000000-0000-4000-8000-{:012}", w.uid_seq);
        let mut labels = BTreeMap::new();
        labels.insert("faas_function".to_owned(), function.to_owned());
        let p = Pod {
            namespace: namespace.to_owned(),
            name: pod.to_owned(),
            uid,
            labels,
            container: function.to_owned(),
            created: time::rfc3339(time::now_nanos() - time::now_nanos().rem_euclid(1_000_000_000)),
            state,
            restarts: 0,
            resource_version: 0,
            lines: Vec::new(),
            previous: None,
        };
        w.pods.insert((namespace.to_owned(), pod.to_owned()), p);
        bump(&mut w, namespace, pod, "ADDED");
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

    /// Changes the container state of a pod (a MODIFIED watch event).
    pub fn set_state(&self, namespace: &str, pod: &str, state: ContainerState) {
        let mut w = self.shared.world();
        if let Some(p) = w.pods.get_mut(&(namespace.to_owned(), pod.to_owned())) {
            p.state = state;
            bump(&mut w, namespace, pod, "MODIFIED");
        }
        drop(w);
        self.shared.notify();
    }

    /// Restarts the pod's container: the current log becomes the previous one, the new
    /// container starts `Running` with an empty log, `restartCount` goes up by one.
    pub fn restart(&self, namespace: &str, pod: &str) {
        let mut w = self.shared.world();
        if let Some(p) = w.pods.get_mut(&(namespace.to_owned(), pod.to_owned())) {
            p.previous = Some(std::mem::take(&mut p.lines));
            p.restarts += 1;
            p.state = ContainerState::Running;
            bump(&mut w, namespace, pod, "MODIFIED");
        }
        drop(w);
        self.shared.notify();
    }

    /// Deletes a pod (a DELETED watch event); its open log streams end.
    pub fn delete_pod(&self, namespace: &str, pod: &str) {
        let mut w = self.shared.world();
        if w.pods.contains_key(&(namespace.to_owned(), pod.to_owned())) {
            bump(&mut w, namespace, pod, "DELETED");
            w.pods.remove(&(namespace.to_owned(), pod.to_owned()));
        }
        drop(w);
        self.shared.notify();
    }

    /// Appends lines to the current container log of a pod (which must exist).
    pub fn append(&self, namespace: &str, pod: &str, lines: &[(i64, &str)]) {
        let mut w = self.shared.world();
        if let Some(p) = w.pods.get_mut(&(namespace.to_owned(), pod.to_owned())) {
            p.lines
                .extend(lines.iter().map(|(ts, text)| (*ts, (*text).to_owned())));
        }
        drop(w);
        self.shared.notify();
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

    /// Watch and follow-log responses currently open (a client that goes away closes them).
    pub fn open_streams(&self) -> usize {
        self.shared
            .open_streams
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Path and query of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.world().requests.clone()
    }
}

fn bump(w: &mut World, namespace: &str, pod: &str, kind: &'static str) {
    w.resource_version += 1;
    let rv = w.resource_version;
    if let Some(p) = w.pods.get_mut(&(namespace.to_owned(), pod.to_owned())) {
        p.resource_version = rv;
        let object = pod_json(p);
        w.events.push((rv, kind, namespace.to_owned(), object));
    }
}

fn pod_json(p: &Pod) -> Value {
    let state = match p.state {
        ContainerState::Unscheduled => Value::Null,
        ContainerState::Waiting => json!({"waiting": {"reason": "ContainerCreating"}}),
        ContainerState::Running => json!({"running": {"startedAt": p.created}}),
        ContainerState::Terminated => {
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": p.created, "finishedAt": p.created}})
        }
    };
    let phase = match p.state {
        ContainerState::Unscheduled | ContainerState::Waiting => "Pending",
        ContainerState::Running => "Running",
        ContainerState::Terminated => "Succeeded",
    };
    let mut spec = json!({
        "containers": [{"name": p.container, "image": format!("ghcr.io/openfaas/{}:latest", p.container),
            "resources": {}, "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
    });
    let mut status = json!({"phase": phase, "qosClass": "BestEffort"});
    if p.state != ContainerState::Unscheduled {
        spec["nodeName"] = json!("n1");
        status["containerStatuses"] = json!([{
            "name": p.container, "state": state, "ready": p.state == ContainerState::Running,
            "restartCount": p.restarts, "image": format!("ghcr.io/openfaas/{}:latest", p.container),
            "imageID": "", "started": p.state == ContainerState::Running,
        }]);
    }
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": p.name, "namespace": p.namespace, "uid": p.uid,
            "resourceVersion": p.resource_version.to_string(),
            "creationTimestamp": p.created, "labels": p.labels,
        },
        "spec": spec,
        "status": status,
    })
}

/// A `Status` error response, shaped like the apiserver's.
fn status(
    code: StatusCode,
    message: &str,
    reason: Option<&str>,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
    });
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    if let Some(details) = details {
        body["details"] = details;
    }
    body["code"] = json!(code.as_u16());
    json_response(code, &body)
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
        Some(json!({"name": pod, "kind": "PodLogOptions",
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]})),
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
        Fault::Internal | Fault::KubeletDown => status(
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
            let mut v = pod_json(p);
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
            Some(rv) if rv > 0 => (Vec::new(), rv),
            _ => (
                w.pods
                    .values()
                    .filter(|p| p.namespace == ns && selector_matches(selector.as_ref(), &p.labels))
                    .map(|p| event_line("ADDED", &pod_json(p)))
                    .collect(),
                w.resource_version,
            ),
        }
    };
    let first = futures::stream::iter(initial.into_iter().map(Ok::<Bytes, Infallible>));
    changed.borrow_and_update();
    let guard = StreamGuard::new(&shared);
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
                            .events
                            .iter()
                            .filter(|(rv, ..)| *rv > after)
                            .filter(|(_, _, ens, obj)| {
                                *ens == ns && selector_matches(selector.as_ref(), &labels_of(obj))
                            })
                            .map(|(_, kind, _, obj)| event_line(kind, obj))
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
        Some(p) => json_response(StatusCode::OK, &pod_json(p)),
        None => not_found(&pod),
    }
}

fn not_found(pod: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        &format!("pods \"{pod}\" not found"),
        Some("NotFound"),
        Some(json!({"name": pod, "kind": "pods"})),
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
    )
    .or_else(|| {
        let mut w = shared.world();
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
    let (first, restarts, epoch, next, terminated) = {
        let w = shared.world();
        let Some(p) = w.pods.get(&(ns.clone(), pod.clone())) else {
            return not_found(&pod);
        };
        if let Some(c) = query.get("container")
            && *c != p.container
        {
            return status(
                StatusCode::BAD_REQUEST,
                &format!("container {c} is not valid for pod {pod}"),
                Some("BadRequest"),
                None,
            );
        }
        match fault {
            Some(Fault::KubeletDown) => {
                return status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!(
                        "Get \"https://127.0.0.1:10250/containerLogs/{ns}/{pod}/{}\": dial tcp 127.0.0.1:10250: connect: connection refused",
                        p.container
                    ),
                    None,
                    None,
                );
            }
            Some(other) => return fault_response(other),
            None => {}
        }
        match p.state {
            ContainerState::Unscheduled => return StatusCode::NO_CONTENT.into_response(),
            ContainerState::Waiting if !previous => {
                return status(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "container \"{}\" in pod \"{pod}\" is waiting to start: ContainerCreating",
                        p.container
                    ),
                    Some("BadRequest"),
                    None,
                );
            }
            _ => {}
        }
        if previous {
            let Some(prev) = &p.previous else {
                return status(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "previous terminated container \"{}\" in pod \"{pod}\" not found",
                        p.container
                    ),
                    Some("BadRequest"),
                    None,
                );
            };
            let body: Vec<Bytes> = select_lines(prev, &opts);
            return log_response(Body::from_stream(futures::stream::iter(
                body.into_iter().map(Ok::<_, Infallible>),
            )));
        }
        let first = select_lines(&p.lines, &opts);
        let terminated = p.state == ContainerState::Terminated;
        (first, p.restarts, w.cut_epoch, p.lines.len(), terminated)
    };
    let head = futures::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
    if !follow || terminated {
        return log_response(Body::from_stream(head));
    }
    let changed = shared.changed.subscribe();
    let timestamps = opts.timestamps;
    let guard = StreamGuard::new(&shared);
    let tail_stream = futures::stream::unfold(
        (changed, next, guard),
        move |(mut changed, mut next, guard)| {
            let shared = shared.clone();
            let key = (ns.clone(), pod.clone());
            async move {
                loop {
                    changed.borrow_and_update();
                    {
                        let w = shared.world();
                        if w.cut_epoch != epoch {
                            return None;
                        }
                        let p = w.pods.get(&key)?;
                        // After a restart, this stream's container is the previous one.
                        let (lines, ended) = if p.restarts != restarts {
                            (p.previous.as_deref().unwrap_or_default(), true)
                        } else {
                            (&p.lines[..], p.state == ContainerState::Terminated)
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

fn log_response(body: Body) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
