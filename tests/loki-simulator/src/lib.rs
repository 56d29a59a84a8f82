//! A **simulator** of Grafana Loki's HTTP API, for tests and benchmarks (no registry here
//! ships a Loki server).
//!
//! It follows the documented API
//! (<https://grafana.com/docs/loki/latest/reference/loki-http-api/>) and answers like the real
//! Loki 3.x responses kept in `tests/fixtures/` (checked by `tests/captured.rs`):
//!
//! - `POST /loki/api/v1/push` (JSON, with structured metadata as a third value element);
//!   a stream without labels and a timestamp more than 10 minutes ahead are refused with
//!   Loki's texts. Identical (timestamp, line) pairs in one stream are kept once, as Loki does.
//! - `GET /loki/api/v1/query_range`: log queries (the `logql` module): a stream selector (`=`,
//!   `!=`, `=~`, `!~`, regexes in Go's RE2 dialect, see `re2`) and a pipeline of line filters
//!   (`|=`, `!=`, `|~`, `!~`) and label filters (`| name op "value"`) on stream labels and
//!   structured metadata; `start` inclusive, `end` exclusive, `limit` over all streams and
//!   counted after the filters, `direction`, `max_entries_limit_per_query`; structured
//!   metadata folded into the stream labels (renamed `<name>_extracted` when a stream label has
//!   its name) unless `X-Loki-Response-Encoding-Flags: categorize-labels` is sent. Bad queries
//!   get Loki's parse error texts, bad regexes Go's.
//! - Loki 3's level discovery ([`Simulator::set_discover_log_levels`], the `level` module):
//!   `detected_level` structured metadata on pushed lines, by Loki's rules.
//! - `GET /loki/api/v1/tail` (websocket): the `limit` newest lines at or after `start`, then
//!   every matching line as it is pushed, through a model of Loki's own lossy tail (bounded
//!   response buffer, lines dropped under bursts, `dropped_entries` only with a later response,
//!   a ping every second; see the `tail` module), and `max_concurrent_tail_requests` per tenant
//!   refused with Loki's close frame ([`tail_limit_error`]).
//! - `GET /loki/api/v1/labels`, `/loki/api/v1/label/{name}/values` (with a `query` selector and
//!   `start`/`end`, as Loki 2.9+, or ignoring `query` as older Lokis do:
//!   [`Simulator::set_label_values_ignore_query`]), `/loki/api/v1/series`.
//! - `X-Scope-OrgID` and `Authorization` checks (401 `no org id`), queued error answers,
//!   requests counted per endpoint ([`Simulator::requests`]) and logged with their parameters
//!   ([`Simulator::request_log`], [`Simulator::sent_queries`]), and faults:
//!   [`Simulator::stop`] / [`Simulator::resume`] (a restart: every connection reset),
//!   [`Simulator::close_tails`] (Loki's `tail_max_duration`), [`Simulator::stall_tails`] (tails
//!   that go quiet without closing) and [`Simulator::stall_queries`] (queries that never answer).
//!
//! `tests/tail.rs` checks the tail model against the losses measured on a real Loki 3.8.

// Handlers return early with a ready `Response` as the error: idiomatic axum, and the size
// does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

mod level;
mod logql;
pub mod re2;
mod tail;
pub mod time;

use logql::{Matcher, parse_query, parse_selector};

pub use tail::{
    CLOSE_INTERNAL_ERROR, IDLE_WAIT, MAX_BUFFERED_RESPONSES, MAX_DROPPED_ENTRIES,
    MAX_ENTRIES_PER_RESPONSE, PING_PERIOD, tail_limit_error,
};

/// Loki's default `max_entries_limit_per_query`.
pub const DEFAULT_MAX_ENTRIES: usize = 5000;
/// Loki's default `max_concurrent_tail_requests` (per tenant).
pub const DEFAULT_MAX_CONCURRENT_TAILS: usize = 10;
/// Loki's default `creation_grace_period`: how far ahead of now a pushed line may be.
const CREATION_GRACE_NANOS: i64 = 600_000_000_000;

type Labels = BTreeMap<String, String>;

/// The labels as Prometheus prints them: `{a="1", b="2"}`.
pub fn labels_string(labels: &Labels) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        push_quoted(&mut s, v);
    }
    s.push('}');
    s
}

/// A label value double-quoted as Go's `strconv.Quote` does, which is how Prometheus label sets
/// (and so Loki's stream labels) print themselves.
fn push_quoted(out: &mut String, value: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Clone, Debug)]
struct Stored {
    ts: i64,
    line: Arc<str>,
    metadata: Arc<Labels>,
    seq: u64,
}

#[derive(Default)]
struct Stream {
    labels: Labels,
    /// Sorted by (ts, seq).
    entries: Vec<Stored>,
}

#[derive(Default)]
struct Store {
    streams: BTreeMap<String, Stream>,
    seq: u64,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    /// Open tail sessions; a push hands its lines to every matching one (Loki's ingester
    /// sends each pushed stream to its tailers).
    pub(crate) sessions: Mutex<Vec<Arc<tail::Session>>>,
    max_entries: AtomicUsize,
    /// Loki's `max_concurrent_tail_requests` (per tenant).
    pub(crate) max_tails: AtomicUsize,
    /// How long a tail's response loop sleeps when it has nothing to send (Loki's
    /// `tailerWaitEntryThrottle`).
    pub(crate) tail_idle_wait: Mutex<Duration>,
    tenant: Mutex<Option<String>>,
    authorization: Mutex<Option<String>>,
    queued_errors: Mutex<VecDeque<(StatusCode, String)>>,
    pub(crate) counts: Counters,
    pub(crate) tails_open: AtomicUsize,
    pub(crate) kill_tails: watch::Sender<u64>,
    pub(crate) close_tails: watch::Sender<u64>,
    /// While true, every tail socket goes quiet: no frame, no ping, nothing read.
    pub(crate) tails_stalled: watch::Sender<bool>,
    /// While true, `query_range` requests hang without an answer.
    queries_stalled: watch::Sender<bool>,
    /// Bumped by every stop(), before the tails are killed: a request that a stopped server
    /// instance was still handling sees it changed.
    epoch: AtomicU64,
    /// Loki's `discover_log_levels`: add `detected_level` metadata to pushed lines.
    discover_levels: AtomicBool,
    /// Label values answered as before Loki 2.9: the `query` parameter is not read.
    label_values_ignore_query: AtomicBool,
    /// The latest requests, oldest first (at most [`REQUEST_LOG_LIMIT`]).
    log: Mutex<VecDeque<LoggedRequest>>,
}

/// How many requests [`Simulator::request_log`] keeps (the oldest are forgotten).
pub const REQUEST_LOG_LIMIT: usize = 10_000;

/// One request as the simulator received it: its path and its query parameters, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The path, e.g. `/loki/api/v1/query_range`.
    pub path: String,
    /// The query parameters in order, percent-decoded.
    pub params: Vec<(String, String)>,
}

impl LoggedRequest {
    /// The last value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// Records a request in the log.
fn log_request(shared: &Shared, path: &str, params: &[(String, String)]) {
    let mut log = lock(&shared.log);
    if log.len() >= REQUEST_LOG_LIMIT {
        log.pop_front();
    }
    log.push_back(LoggedRequest {
        path: path.to_owned(),
        params: params.to_vec(),
    });
}

/// Requests received, per endpoint.
#[derive(Default)]
pub(crate) struct Counters {
    query_range: AtomicU64,
    pub(crate) tails_opened: AtomicU64,
    pub(crate) tails_refused: AtomicU64,
    labels: AtomicU64,
    label_values: AtomicU64,
    series: AtomicU64,
    push: AtomicU64,
}

/// How many requests the simulator has received, per endpoint (a snapshot of
/// [`Simulator::requests`]); subtract two snapshots for the requests in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// `GET /loki/api/v1/query_range`, answered or failed.
    pub query_range: u64,
    /// Tail websockets accepted (lines flowing).
    pub tails_opened: u64,
    /// Tail websockets refused over `max_concurrent_tail_requests`.
    pub tails_refused: u64,
    /// `GET /loki/api/v1/labels`.
    pub labels: u64,
    /// `GET /loki/api/v1/label/{name}/values`.
    pub label_values: u64,
    /// `GET /loki/api/v1/series`.
    pub series: u64,
    /// `POST /loki/api/v1/push`.
    pub push: u64,
}

impl Requests {
    /// Every request of any kind (a tail counts once, accepted or refused).
    pub fn total(&self) -> u64 {
        self.query_range
            + self.tails_opened
            + self.tails_refused
            + self.labels
            + self.label_values
            + self.series
            + self.push
    }
}

impl std::ops::Sub for Requests {
    type Output = Requests;
    fn sub(self, before: Requests) -> Requests {
        Requests {
            query_range: self.query_range - before.query_range,
            tails_opened: self.tails_opened - before.tails_opened,
            tails_refused: self.tails_refused - before.tails_refused,
            labels: self.labels - before.labels,
            label_values: self.label_values - before.label_values,
            series: self.series - before.series,
            push: self.push - before.push,
        }
    }
}

/// The epoch of the server instance that accepted a connection.
#[derive(Clone, Copy)]
struct ServerEpoch(u64);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running Loki simulator on `127.0.0.1`.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop and the way to stop it, while serving.
    server: Mutex<
        Option<(
            tokio::task::JoinHandle<()>,
            tokio::sync::oneshot::Sender<()>,
        )>,
    >,
}

impl Simulator {
    /// Starts on a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> std::io::Result<Simulator> {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            sessions: Mutex::new(Vec::new()),
            max_entries: AtomicUsize::new(DEFAULT_MAX_ENTRIES),
            max_tails: AtomicUsize::new(DEFAULT_MAX_CONCURRENT_TAILS),
            tail_idle_wait: Mutex::new(tail::IDLE_WAIT),
            tenant: Mutex::new(None),
            authorization: Mutex::new(None),
            queued_errors: Mutex::new(VecDeque::new()),
            counts: Counters::default(),
            tails_open: AtomicUsize::new(0),
            kill_tails: watch::channel(0).0,
            close_tails: watch::channel(0).0,
            tails_stalled: watch::channel(false).0,
            queries_stalled: watch::channel(false).0,
            epoch: AtomicU64::new(0),
            discover_levels: AtomicBool::new(false),
            label_values_ignore_query: AtomicBool::new(false),
            log: Mutex::new(VecDeque::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sim = Simulator {
            addr,
            shared,
            server: Mutex::new(None),
        };
        sim.serve(listener);
        Ok(sim)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let epoch = ServerEpoch(self.shared.epoch.load(Ordering::SeqCst));
        let app = router(self.shared.clone()).layer(axum::Extension(epoch));
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping (or aborting) resets them all.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => {
                        connections.shutdown().await;
                        return;
                    }
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let _ = tcp.set_nodelay(true);
                        let service = hyper_util::service::TowerToHyperService::new(app.clone());
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                                .with_upgrades()
                                .await;
                        });
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        *lock(&self.server) = Some((task, stop_tx));
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stores lines of one stream (labels as given; `metadata` is structured metadata on every
    /// line). Later lines may be older: Loki accepts out-of-order writes.
    pub fn push_with_metadata(
        &self,
        labels: &[(&str, &str)],
        metadata: &[(&str, &str)],
        lines: &[(i64, &str)],
    ) {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let metadata: Arc<Labels> = Arc::new(
            metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let entries = lines
            .iter()
            .map(|(ts, line)| (*ts, Arc::<str>::from(*line), metadata.clone()))
            .collect();
        push(&self.shared, labels, entries);
    }

    /// [`Simulator::push_with_metadata`] without metadata.
    pub fn push(&self, labels: &[(&str, &str)], lines: &[(i64, &str)]) {
        self.push_with_metadata(labels, &[], lines);
    }

    /// Sets `max_entries_limit_per_query`.
    pub fn set_max_entries(&self, max: usize) {
        self.shared.max_entries.store(max, Ordering::Relaxed);
    }

    /// Loki's `discover_log_levels` (`limits_config`): when on, every pushed line gets a
    /// `detected_level` in its structured metadata, as Loki 3's distributor attaches it (see the
    /// `level` module). Loki's own default is on; the simulator's is off, as on the Loki 3 the
    /// fixtures in `tests/fixtures/loki/` were captured from.
    pub fn set_discover_log_levels(&self, on: bool) {
        self.shared.discover_levels.store(on, Ordering::Relaxed);
    }

    /// Answers `GET /loki/api/v1/label/{name}/values` as Loki did before 2.9, whose handler
    /// read only `start` and `end`: a `query` is ignored (not even parsed), so the values come
    /// from every stream of the tenant, whatever namespace the query named.
    pub fn set_label_values_ignore_query(&self, on: bool) {
        self.shared
            .label_values_ignore_query
            .store(on, Ordering::Relaxed);
    }

    /// The latest requests received (at most [`REQUEST_LOG_LIMIT`]), oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// The `query` of every `query_range` request in [`Simulator::request_log`], oldest first.
    pub fn sent_queries(&self) -> Vec<String> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.path == "/loki/api/v1/query_range")
            .filter_map(|r| r.param("query").map(str::to_owned))
            .collect()
    }

    /// Requires `X-Scope-OrgID: tenant` (as Loki with `auth_enabled: true`).
    pub fn require_tenant(&self, tenant: &str) {
        *lock(&self.shared.tenant) = Some(tenant.to_owned());
    }

    /// Requires this exact `Authorization` header (as an authenticating gateway in front).
    pub fn require_authorization(&self, value: &str) {
        *lock(&self.shared.authorization) = Some(value.to_owned());
    }

    /// The next `query_range` requests answer `status` with `body`, one per call.
    pub fn fail_next_query(&self, status: u16, body: &str) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared.queued_errors).push_back((status, body.to_owned()));
    }

    /// `query_range` requests answered so far.
    pub fn queries(&self) -> u64 {
        self.shared.counts.query_range.load(Ordering::Relaxed)
    }

    /// Tail websockets opened so far (refused ones not counted).
    pub fn tails_opened(&self) -> u64 {
        self.shared.counts.tails_opened.load(Ordering::Relaxed)
    }

    /// Tail websockets open now.
    pub fn tails_open(&self) -> usize {
        self.shared.tails_open.load(Ordering::Relaxed)
    }

    /// Requests received so far, per endpoint.
    pub fn requests(&self) -> Requests {
        let c = &self.shared.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Requests {
            query_range: get(&c.query_range),
            tails_opened: get(&c.tails_opened),
            tails_refused: get(&c.tails_refused),
            labels: get(&c.labels),
            label_values: get(&c.label_values),
            series: get(&c.series),
            push: get(&c.push),
        }
    }

    /// Sets `max_concurrent_tail_requests` (Loki's default: 10 per tenant). A tail over it is
    /// accepted as a websocket and closed at once with Loki's error (see [`tail_limit_error`]).
    pub fn set_max_concurrent_tails(&self, max: usize) {
        self.shared.max_tails.store(max, Ordering::Relaxed);
    }

    /// Sets how long a tail's response loop sleeps when it has nothing ready to send (Loki's
    /// `tailerWaitEntryThrottle`, 500 ms). Lines that pile up meanwhile go out as a burst, and
    /// a burst larger than the response buffer loses lines.
    pub fn set_tail_idle_wait(&self, wait: Duration) {
        *lock(&self.shared.tail_idle_wait) = wait;
    }

    /// While `stalled`, every tail websocket (open or opened later) goes quiet without closing:
    /// no frame, no ping, nothing read from the client (so its pings go unanswered). Lines
    /// pushed meanwhile are dropped for those tails, as Loki drops them for a blocked tail.
    pub fn stall_tails(&self, stalled: bool) {
        self.shared.tails_stalled.send_replace(stalled);
    }

    /// While `stalled`, `query_range` requests are read but never answered (a Loki whose
    /// queriers hang). Releasing answers the waiting ones.
    pub fn stall_queries(&self, stalled: bool) {
        self.shared.queries_stalled.send_replace(stalled);
    }

    /// Closes every tail websocket with Loki's close frame after `tail_max_duration`
    /// (code 1011, `reached tail max duration limit`).
    pub fn close_tails(&self) {
        self.shared.close_tails.send_modify(|g| *g += 1);
    }

    /// Goes away: the listener closes and every connection (tails included) is reset; when
    /// this returns, they are closed. The stored lines stay, as in a Loki whose ingesters keep
    /// their WAL.
    pub async fn stop(&self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        let running = lock(&self.server).take();
        self.shared.kill_tails.send_modify(|g| *g += 1);
        if let Some((task, stop)) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
        // Tail sockets live in their own tasks and end on the kill above.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.tails_open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Comes back on the same port after [`Simulator::stop`].
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub async fn resume(&self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some((task, _)) = lock(&self.server).take() {
            task.abort();
        }
        self.shared.kill_tails.send_modify(|g| *g += 1);
    }
}

fn push(shared: &Shared, labels: Labels, mut entries: Vec<(i64, Arc<str>, Arc<Labels>)>) {
    if shared.discover_levels.load(Ordering::Relaxed) {
        for (_, line, metadata) in &mut entries {
            if let Some(found) = level::discover(&labels, metadata, line) {
                Arc::make_mut(metadata).insert(level::DETECTED_LEVEL.to_owned(), found);
            }
        }
    }
    let mut store = lock(&shared.store);
    let key = labels_string(&labels);
    let mut stored = Vec::with_capacity(entries.len());
    let mut seq = store.seq;
    let stream = store.streams.entry(key).or_insert_with(|| Stream {
        labels: labels.clone(),
        entries: Vec::new(),
    });
    for (ts, line, metadata) in entries {
        // Loki keeps one of identical (timestamp, line) pairs in a stream.
        let at = stream.entries.partition_point(|e| e.ts < ts);
        let exists = stream.entries[at..]
            .iter()
            .take_while(|e| e.ts == ts)
            .any(|e| e.line == line);
        if exists {
            continue;
        }
        seq += 1;
        let entry = Stored {
            ts,
            line,
            metadata,
            seq,
        };
        let at = stream.entries.partition_point(|e| e.ts <= ts);
        if at == stream.entries.len() {
            stream.entries.push(entry.clone());
        } else {
            stream.entries.insert(at, entry.clone());
        }
        stored.push(entry);
    }
    store.seq = seq;
    if !stored.is_empty() {
        // Handed over under the store lock, so a tail's history and its live lines never
        // overlap or miss one another.
        let labels = Arc::new(labels);
        lock(&shared.sessions).retain(|session| {
            if session.is_closed() {
                return false;
            }
            session.offer(&labels, &stored);
            true
        });
    }
}

// ---- LogQL ---------------------------------------------------------------------------------

/// Reads a stream selector as the simulator (and Loki) does: the matchers as
/// `(label, operator, value)`, or Loki's error text. An oracle for fuzzing the query builder.
///
/// # Errors
/// Loki's parse error text, or a `simulator:` message for LogQL the simulator does not model.
pub fn matchers(q: &str) -> Result<Vec<(String, &'static str, String)>, String> {
    Ok(parse_selector(q)?
        .into_iter()
        .map(|m| (m.name, m.op.text(), m.value))
        .collect())
}

// ---- HTTP ---------------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push_handler))
        .route("/loki/api/v1/query_range", get(query_range))
        .route("/loki/api/v1/tail", get(tail::handler))
        .route("/loki/api/v1/labels", get(label_names))
        .route("/loki/api/v1/label/{name}/values", get(label_values))
        .route("/loki/api/v1/series", get(series))
        .route("/ready", get(|| async { "ready\n" }))
        .with_state(shared)
}

/// A plain-text error. Loki's query errors end without a newline, its push and auth errors
/// (Go `http.Error`) with one; callers add it where Loki does.
fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let body = body.into();
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn bad_request(body: impl Into<String>) -> Response {
    text(StatusCode::BAD_REQUEST, body)
}

fn check_auth(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(want) = &*lock(&shared.authorization) {
        let got = headers.get("authorization").and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            return Err(text(StatusCode::UNAUTHORIZED, "unauthorized\n"));
        }
    }
    if let Some(want) = &*lock(&shared.tenant) {
        let got = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            return Err(text(StatusCode::UNAUTHORIZED, "no org id\n"));
        }
    }
    Ok(())
}

fn params(raw: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn nanos(params: &[(String, String)], name: &str, default: i64) -> Result<i64, Response> {
    match param(params, name) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .or_else(|| time::parse_rfc3339(v))
            .ok_or(())
            .map_err(|_| bad_request(format!("cannot parse \"{v}\" to a valid timestamp"))),
    }
}

/// Every line in `[start, end)` of the streams `matchers` select that `keep` keeps (given its
/// stream's labels), merged across streams in `forward` or backward order, at most `limit`:
/// what Loki's heap iterator returns.
fn select(
    store: &Store,
    matchers: &[Matcher],
    keep: impl Fn(&Labels, &Stored) -> bool,
    start: i64,
    end: i64,
    limit: usize,
    forward: bool,
) -> Vec<(Arc<Labels>, Stored)> {
    let mut ranges: Vec<(Arc<Labels>, &[Stored])> = store
        .streams
        .values()
        .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
        .map(|s| {
            let lo = s.entries.partition_point(|e| e.ts < start);
            let hi = s.entries.partition_point(|e| e.ts < end);
            (Arc::new(s.labels.clone()), &s.entries[lo..hi.max(lo)])
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let mut out = Vec::new();
    // A simple k-way merge: streams are few, pages are at most max_entries long.
    while out.len() < limit {
        // Lines the pipeline drops are skipped at each stream's head.
        for (labels, range) in &mut ranges {
            if forward {
                while let Some((first, rest)) = range.split_first()
                    && !keep(labels, first)
                {
                    *range = rest;
                }
            } else {
                while let Some((last, rest)) = range.split_last()
                    && !keep(labels, last)
                {
                    *range = rest;
                }
            }
        }
        let pick = ranges
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| !r.is_empty())
            .min_by_key(|(i, (_, r))| {
                if forward {
                    (r[0].ts, *i)
                } else {
                    (-r[r.len() - 1].ts, *i)
                }
            })
            .map(|(i, _)| i);
        let Some(i) = pick else { break };
        let (labels, range) = &mut ranges[i];
        let entry = if forward {
            let e = range[0].clone();
            *range = &range[1..];
            e
        } else {
            let e = range[range.len() - 1].clone();
            *range = &range[..range.len() - 1];
            e
        };
        out.push((labels.clone(), entry));
    }
    out
}

/// Groups selected lines into result streams: by labels plus structured metadata (Loki 3's
/// default), or by labels with metadata per value (`categorize-labels`).
fn streams_json(selected: Vec<(Arc<Labels>, Stored)>, categorize: bool) -> Vec<Value> {
    let mut groups: BTreeMap<String, (Labels, Vec<Value>)> = BTreeMap::new();
    for (labels, entry) in selected {
        let mut stream = (*labels).clone();
        let value = if categorize {
            let extra = if entry.metadata.is_empty() {
                json!({})
            } else {
                json!({ "structuredMetadata": &*entry.metadata })
            };
            json!([entry.ts.to_string(), &*entry.line, extra])
        } else {
            for (k, v) in entry.metadata.iter() {
                // As Loki's labels builder: metadata named like a stream label is renamed.
                let name = if labels.contains_key(k) {
                    format!("{k}{}", logql::EXTRACTED)
                } else {
                    k.clone()
                };
                stream.insert(name, v.clone());
            }
            json!([entry.ts.to_string(), &*entry.line])
        };
        groups
            .entry(labels_string(&stream))
            .or_insert_with(|| (stream, Vec::new()))
            .1
            .push(value);
    }
    groups
        .into_values()
        .map(|(stream, values)| json!({ "stream": stream, "values": values }))
        .collect()
}

fn stats(lines: usize, bytes: usize) -> Value {
    json!({
        "summary": {
            "bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0,
            "totalBytesProcessed": bytes, "totalLinesProcessed": lines, "execTime": 0.0,
            "queueTime": 0.0, "subqueries": 0, "totalEntriesReturned": lines, "splits": 0,
            "shards": 1, "totalPostFilterLines": lines, "totalStructuredMetadataBytesProcessed": 0
        }
    })
}

async fn query_range(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    shared.counts.query_range.fetch_add(1, Ordering::Relaxed);
    let params = params(raw);
    log_request(&shared, "/loki/api/v1/query_range", &params);
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let mut stalled = shared.queries_stalled.subscribe();
    // Hangs while stalled; the connection stays open (a reset would be a different fault).
    let _ = stalled.wait_for(|stalled| !stalled).await;
    if let Some((status, body)) = lock(&shared.queued_errors).pop_front() {
        return text(status, body);
    }
    let Some(query) = param(&params, "query") else {
        return bad_request("query parameter is required");
    };
    let query = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let now = time::now_nanos();
    let (start, end) = match (
        nanos(&params, "start", now - 3_600_000_000_000),
        nanos(&params, "end", now),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if end <= start {
        return bad_request("end timestamp must not be before or equal to start time");
    }
    let limit: usize = match param(&params, "limit").unwrap_or("100").parse() {
        Ok(l) => l,
        Err(_) => return bad_request("invalid limit"),
    };
    let max = shared.max_entries.load(Ordering::Relaxed);
    if limit > max {
        return bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
        ));
    }
    let forward = match param(&params, "direction").unwrap_or("backward") {
        "forward" | "FORWARD" => true,
        "backward" | "BACKWARD" => false,
        other => return bad_request(format!("invalid direction {other:?}")),
    };
    let categorize = headers
        .get("x-loki-response-encoding-flags")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
    // The pipeline is built when the query runs, after the request was validated.
    let pipeline = match query.pipeline() {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let selected = {
        let store = lock(&shared.store);
        if pipeline.is_empty() {
            select(
                &store,
                &query.matchers,
                |_, _| true,
                start,
                end,
                limit,
                forward,
            )
        } else {
            let keep = |labels: &Labels, e: &Stored| pipeline.keeps(labels, &e.metadata, &e.line);
            select(&store, &query.matchers, keep, start, end, limit, forward)
        }
    };
    let lines = selected.len();
    let bytes = selected.iter().map(|(_, e)| e.line.len()).sum();
    let mut data = json!({
        "resultType": "streams",
        "result": streams_json(selected, categorize),
        "stats": stats(lines, bytes),
    });
    if categorize {
        data["encodingFlags"] = json!(["categorize-labels"]);
    }
    let body = json!({ "status": "success", "data": data });
    (
        [("content-type", "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn push_handler(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    shared.counts.push.fetch_add(1, Ordering::Relaxed);
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("loghttp.PushRequest.Streams: decode error\n");
    };
    let Some(streams) = request["streams"].as_array() else {
        return bad_request("loghttp.PushRequest.Streams: expected an array\n");
    };
    let now = time::now_nanos();
    let mut accepted = Vec::new();
    for stream in streams {
        let labels: Labels = stream["stream"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        if labels.is_empty() {
            return bad_request("error at least one label pair is required per stream\n");
        }
        let mut entries = Vec::new();
        for value in stream["values"].as_array().into_iter().flatten() {
            let ts = value[0].as_str().and_then(|t| t.parse::<i64>().ok());
            let (Some(ts), Some(line)) = (ts, value[1].as_str()) else {
                return bad_request("loghttp.PushRequest.Streams: bad value\n");
            };
            if ts > now + CREATION_GRACE_NANOS {
                let whole = time::rfc3339(ts - ts.rem_euclid(1_000_000_000));
                return bad_request(format!(
                    "entry for stream '{}' has timestamp too new: {whole}\n",
                    labels_string(&labels)
                ));
            }
            let metadata: Labels = value[2]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            entries.push((ts, Arc::<str>::from(line), Arc::new(metadata)));
        }
        accepted.push((labels, entries));
    }
    for (labels, entries) in accepted {
        push(&shared, labels, entries);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn label_names(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    shared.counts.labels.fetch_add(1, Ordering::Relaxed);
    log_request(&shared, "/loki/api/v1/labels", &params(raw));
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let names: BTreeSet<String> = lock(&shared.store)
        .streams
        .values()
        .flat_map(|s| s.labels.keys().cloned())
        .collect();
    axum::Json(json!({ "status": "success", "data": names })).into_response()
}

/// `GET /loki/api/v1/label/{name}/values`: the values of `name` among the streams that `query`
/// selects (every stream without it) and that have lines in `[start, end]` (default: the hour
/// before `end`, which defaults to now), sorted; `data` left out when there are none, as Loki's
/// `omitempty` does. `query` must be a stream selector (Loki 2.9 and later).
async fn label_values(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    shared.counts.label_values.fetch_add(1, Ordering::Relaxed);
    let params = params(raw);
    log_request(
        &shared,
        &format!("/loki/api/v1/label/{name}/values"),
        &params,
    );
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let query = param(&params, "query")
        .filter(|q| !q.is_empty() && !shared.label_values_ignore_query.load(Ordering::Relaxed));
    let matchers = match query {
        None => Vec::new(),
        Some(q) => match parse_query(q) {
            Ok(query) if query.is_selector() => query.matchers,
            Ok(_) => return bad_request(logql::ONLY_MATCHERS),
            Err(e) => return bad_request(e),
        },
    };
    let now = time::now_nanos();
    let end = match nanos(&params, "end", now) {
        Ok(end) => end,
        Err(_) => return bad_timestamp(&params, "end"),
    };
    let start = match nanos(&params, "start", end.min(now) - 3_600_000_000_000) {
        Ok(start) => start,
        Err(_) => return bad_timestamp(&params, "start"),
    };
    let values: BTreeSet<String> = lock(&shared.store)
        .streams
        .values()
        .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
        .filter(|s| {
            let from = s.entries.partition_point(|e| e.ts < start);
            s.entries.get(from).is_some_and(|e| e.ts <= end)
        })
        .filter_map(|s| s.labels.get(&name).cloned())
        .collect();
    // Loki writes its struct in field order, `data` omitted when empty, and a newline.
    let body = if values.is_empty() {
        "{\"status\":\"success\"}\n".to_owned()
    } else {
        format!("{{\"status\":\"success\",\"data\":{}}}\n", json!(values))
    };
    ([("content-type", "application/json; charset=UTF-8")], body).into_response()
}

/// Loki's 400 for a bad `start` or `end` of a label query.
fn bad_timestamp(params: &[(String, String)], name: &str) -> Response {
    let value = param(params, name).unwrap_or_default();
    bad_request(format!(
        "could not parse '{name}' parameter: cannot parse \"{value}\" to a valid timestamp"
    ))
}

async fn series(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    shared.counts.series.fetch_add(1, Ordering::Relaxed);
    let params = params(raw);
    log_request(&shared, "/loki/api/v1/series", &params);
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let mut matchers = Vec::new();
    for (_, selector) in params
        .iter()
        .filter(|(k, _)| k == "match[]" || k == "match")
    {
        match parse_selector(selector) {
            Ok(m) => matchers.push(m),
            Err(e) => return bad_request(e),
        }
    }
    let data: Vec<Labels> = lock(&shared.store)
        .streams
        .values()
        .filter(|s| {
            matchers.is_empty()
                || matchers
                    .iter()
                    .any(|ms| ms.iter().all(|m| m.matches(&s.labels)))
        })
        .map(|s| s.labels.clone())
        .collect();
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_print_like_prometheus() {
        let l: Labels = [
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "\"".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(labels_string(&l), r#"{a="\"", b="2"}"#);
    }
}
