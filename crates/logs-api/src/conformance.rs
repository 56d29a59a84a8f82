//! The conformance suite: one set of scenarios every provider must pass, over real HTTP.
//!
//! The scenarios run against a [`Provider`]: a running server they send requests to, plus a
//! way to write log lines into what it reads. Two kinds exist:
//!
//! - In process, fast: a backend's test crate implements [`Backend`] (its requester plus a way to
//!   write lines into the real backend or its simulator); every `Backend` is a `Provider` whose
//!   server is the real handler on loopback in the test process ([`start`]).
//! - As a process: the end-to-end crate (`tests/e2e`) implements [`Provider`] for each release
//!   binary, started with flags and environment as a user would start it.
//!
//! Either way a test crate expands [`crate::conformance_tests!`] to get one `#[tokio::test]` per
//! scenario. The scenarios see only HTTP: the address, the answers, and `/metrics`.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::filter::Capabilities;
use crate::message::OutputStream;
use crate::request::NamespacePolicy;
use crate::requester::Requester;
use crate::server::{Config, RunningServer, Server};
use crate::testing::{Response, get, open, open_with_receive_buffer};
use crate::time::Timestamp;

pub mod filters;

/// The namespace most scenarios use; the suite's server also allows [`OTHER_NAMESPACE`].
pub const NAMESPACE: &str = "openfaas-fn";
/// A second allowed namespace, for the isolation scenario.
pub const OTHER_NAMESPACE: &str = "staging-fn";

/// `/metrics` sample of streams aborted without the terminating chunk.
const STREAM_ABORTS: &str = "faas_logs_stream_aborts_total";
/// `/metrics` sample of log streams open now.
const ACTIVE_STREAMS: &str = "faas_logs_active_streams";

/// A backend under test in process: its requester, served by the real handler in the test
/// process, and a way to write log lines it will read.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The requester under test, reading from this backend.
    fn requester(&self) -> Arc<dyn Requester>;

    /// Writes `lines`, in order, as function `name` in `namespace`, emitted by instance number
    /// `instance` (0, 1, …; the backend maps each number to one instance id of its own, e.g. a
    /// pod name or a process id, stable for the life of the backend).
    ///
    /// Each line must carry a later timestamp than every line written before it (through any
    /// instance), and must be visible to [`Backend::requester`] when this returns.
    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]);

    /// Writes `lines` like [`Backend::write`], as the function's output on `stream`, the way the
    /// platform stores it (journald: `PRIORITY` 6 for stdout and 3 for stderr, as faasd does;
    /// Kubernetes and Loki: the container's stdout or stderr).
    ///
    /// The default forgets the stream and calls [`Backend::write`]: enough for a backend whose
    /// requester does not declare [`crate::Capabilities::stream`]. The filter scenarios
    /// ([`crate::conformance_filter_tests!`]) write `ERROR …` lines to stderr and `INFO …` lines
    /// to stdout, so a backend's native level and the level detected from the text agree.
    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        let _ = stream;
        self.write(namespace, name, instance, lines).await;
    }
}

/// What the scenarios run against: a provider serving the log API over HTTP, and a way to write
/// the log lines it will serve. Every [`Backend`] is one (served in process); `tests/e2e`
/// implements it for the release binaries run as processes.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Starts a fresh server over this provider's logs and returns where it listens. It must
    /// allow [`NAMESPACE`] (the default) and [`OTHER_NAMESPACE`], and end every response after
    /// `timeout` (the stream deadline, `--timeout`). It stops when the [`Target`] is dropped.
    async fn serve(&self, timeout: Duration) -> Target;

    /// The filters the provider declares it honours: the filter scenarios hold it to them (a
    /// declared filter must work, an undeclared one must be refused).
    fn capabilities(&self) -> Capabilities;

    /// Writes `lines` as [`Backend::write`] describes: in order, each later than every line
    /// before it, visible to the server when this returns.
    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]);

    /// Writes `lines` as the function's output on `stream`, as [`Backend::write_stream`]
    /// describes.
    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    );
}

#[async_trait::async_trait]
impl<B: Backend + ?Sized> Provider for B {
    async fn serve(&self, timeout: Duration) -> Target {
        let server = serve_in_process(self.requester(), timeout).await;
        Target::new(server.addr, server)
    }

    fn capabilities(&self) -> Capabilities {
        self.requester().capabilities()
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        Backend::write(self, namespace, name, instance, lines).await;
    }

    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        Backend::write_stream(self, namespace, name, instance, stream, lines).await;
    }
}

/// A running server the scenarios talk to, in this process or not; it stops when dropped.
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What keeps it running (a [`RunningServer`], a child process): dropping it stops it.
    _running: Box<dyn Any + Send + Sync>,
}

impl Target {
    /// The server at `addr`, running as long as `running` lives.
    pub fn new(addr: SocketAddr, running: impl Any + Send + Sync) -> Target {
        Target {
            addr,
            _running: Box::new(running),
        }
    }

    /// The value of the unlabelled sample `name` (e.g. `faas_logs_active_streams`) in a scrape
    /// of `GET /metrics`.
    ///
    /// # Panics
    /// When the scrape fails or has no such sample: the scenario cannot check what it must.
    pub async fn metric(&self, name: &str) -> f64 {
        let res = get(self.addr, "/metrics")
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        assert_eq!(res.status, 200, "GET /metrics: {}", res.text());
        let text = res.text();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (sample, value) = line.split_once(' ')?;
                (sample == name).then(|| value.split(' ').next().unwrap_or_default())
            })
            .map(|value| {
                value
                    .parse()
                    .unwrap_or_else(|e| panic!("{name} {value:?}: {e}"))
            })
            .unwrap_or_else(|| panic!("no sample {name} in /metrics:\n{text}"))
    }
}

/// How long a scenario waits for a line it expects (generous: CI machines are slow).
pub const WAIT: Duration = Duration::from_secs(15);

/// Starts the real server over the backend's requester, allowing [`NAMESPACE`] (the default)
/// and [`OTHER_NAMESPACE`], with stream deadline `timeout`: what [`Provider::serve`] does for a
/// [`Backend`], for tests that also read the server's [`crate::Metrics`] in process.
pub async fn start(backend: &dyn Backend, timeout: Duration) -> RunningServer {
    serve_in_process(backend.requester(), timeout).await
}

async fn serve_in_process(requester: Arc<dyn Requester>, timeout: Duration) -> RunningServer {
    let mut config = Config::local(timeout);
    config.handler.namespaces = NamespacePolicy {
        default: NAMESPACE.to_owned(),
        allowed: Some(
            [NAMESPACE, OTHER_NAMESPACE]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
    };
    Server::bind(requester, config)
        .await
        .unwrap_or_else(|e| panic!("binding the server: {e}"))
        .spawn()
}

/// A function name no other scenario (or run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Timestamp::now().unix_nanos() as u64;
    format!("{prefix}-{:x}{n}", t & 0xffff_ffff)
}

async fn fetch(server: &Target, query: &str) -> Response {
    get(server.addr, &format!("/system/logs?{query}"))
        .await
        .unwrap_or_else(|e| panic!("GET /system/logs?{query}: {e}"))
}

/// Checks the wire format of a finished 200 response and returns its messages.
pub fn ndjson(res: &Response) -> Vec<Value> {
    assert_eq!(res.status, 200, "status; body: {}", res.text());
    assert_eq!(res.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert!(res.complete, "the body must end with the terminating chunk");
    let text = res.text();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every message ends with a newline"
    );
    for line in text.lines() {
        check_field_order(line);
    }
    res.messages()
}

/// Asserts that a line has the Go field order and a Go RFC3339Nano UTC timestamp.
pub fn check_field_order(line: &str) {
    let keys = [
        "\"name\":",
        "\"namespace\":",
        "\"instance\":",
        "\"timestamp\":",
        "\"text\":",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            line.find(k)
                .unwrap_or_else(|| panic!("{k} missing in {line}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "field order in {line}"
    );
    assert!(line.starts_with("{\"name\":"), "{line}");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let ts = v["timestamp"].as_str().unwrap_or_default();
    let parsed = Timestamp::parse_rfc3339(ts).unwrap_or_else(|_| panic!("timestamp {ts:?}"));
    assert_eq!(
        parsed.to_string(),
        ts,
        "timestamp must be Go RFC3339Nano in UTC"
    );
}

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

async fn write(backend: &dyn Provider, ns: &str, name: &str, instance: usize, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    backend.write(ns, name, instance, &refs).await;
}

/// `tail=N` returns the last N messages in order; `tail` of 0, -1 or more than there are
/// returns all.
pub async fn tail(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("tail");
    let all = lines("tail", 10);
    write(backend, NAMESPACE, &name, 0, &all).await;
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&tail=3")).await,
    ));
    assert_eq!(got, all[7..]);
    for unlimited in ["-1", "0", "100", ""] {
        let got = texts(&ndjson(
            &fetch(&server, &format!("name={name}&tail={unlimited}")).await,
        ));
        assert_eq!(got, all, "tail={unlimited}");
    }
}

/// `since` returns the messages at or after that time.
pub async fn since(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("since");
    let all = lines("since", 5);
    write(backend, NAMESPACE, &name, 0, &all).await;
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    assert_eq!(texts(&history), all);
    let third = history[2]["timestamp"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&since={third}")).await,
    ));
    assert_eq!(got, all[2..], "since={third}");
    // The same instant written with an offset.
    let ts = Timestamp::parse_rfc3339(&third).unwrap_or_else(|_| panic!("{third}"));
    let shifted = Timestamp::from_unix_nanos(ts.unix_nanos() + 3_600_000_000_000).to_string();
    let with_offset = format!("{}%2B01:00", shifted.trim_end_matches('Z'));
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&since={with_offset}")).await,
    ));
    assert_eq!(got, all[2..], "since={with_offset}");
    let future = Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() + 3_600_000_000_000);
    let got = ndjson(&fetch(&server, &format!("name={name}&since={future}")).await);
    assert!(got.is_empty(), "since in the future: {got:?}");
}

/// `since` and `tail` together: the last N at or after `since`.
pub async fn since_and_tail(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("sincetail");
    let all = lines("st", 6);
    write(backend, NAMESPACE, &name, 0, &all).await;
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    let second = history[1]["timestamp"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fourth = history[3]["timestamp"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&since={second}&tail=2")).await,
    ));
    assert_eq!(got, all[4..]);
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&since={fourth}&tail=10")).await,
    ));
    assert_eq!(got, all[3..]);
}

/// `instance` keeps only that instance's messages; an unknown instance gives none.
pub async fn instance_filter(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("inst");
    write(backend, NAMESPACE, &name, 0, &lines("a", 2)).await;
    write(backend, NAMESPACE, &name, 1, &lines("b", 1)).await;
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    assert_eq!(texts(&history), ["a 0", "a 1", "b 0"]);
    let b = history[2]["instance"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(
        b,
        history[0]["instance"].as_str().unwrap_or_default(),
        "two instances, two ids"
    );
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&instance={b}")).await,
    ));
    assert_eq!(got, ["b 0"]);
    let got = ndjson(&fetch(&server, &format!("name={name}&instance=no-such-instance-1")).await);
    assert!(got.is_empty(), "{got:?}");
}

/// History from several instances comes merged in timestamp order, with the right
/// name, namespace and instance in every message, and `tail` counts across instances.
pub async fn merge_order(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("merge");
    for (instance, text) in [
        (0, "a1"),
        (1, "b1"),
        (0, "a2"),
        (1, "b2"),
        (1, "b3"),
        (0, "a3"),
    ] {
        write(backend, NAMESPACE, &name, instance, &[text.to_owned()]).await;
    }
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    assert_eq!(texts(&history), ["a1", "b1", "a2", "b2", "b3", "a3"]);
    let mut last = Timestamp::UNKNOWN;
    for m in &history {
        assert_eq!(m["name"], name.as_str());
        assert_eq!(m["namespace"], NAMESPACE);
        let ts = Timestamp::parse_rfc3339(m["timestamp"].as_str().unwrap_or_default())
            .unwrap_or_else(|_| panic!("{m}"));
        assert!(ts >= last, "timestamps must not go back: {history:?}");
        last = ts;
    }
    let a = &history[0]["instance"];
    let b = &history[1]["instance"];
    assert!(
        history
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with('a')))
            .all(|m| &m["instance"] == a)
    );
    assert!(
        history
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with('b')))
            .all(|m| &m["instance"] == b)
    );
    let got = texts(&ndjson(
        &fetch(&server, &format!("name={name}&tail=4")).await,
    ));
    assert_eq!(got, ["a2", "b2", "b3", "a3"]);
}

/// Text comes back exactly, without a trailing newline, whatever characters it holds.
pub async fn text_is_exact(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("text");
    let tricky = [
        "plain".to_owned(),
        "quote \" backslash \\ tab \t end".to_owned(),
        "<html> & ünïcødé ✓".to_owned(),
        "{\"json\":\"inside\"}".to_owned(),
    ];
    write(backend, NAMESPACE, &name, 0, &tricky).await;
    let got = texts(&ndjson(&fetch(&server, &format!("name={name}")).await));
    assert_eq!(got, tricky);
}

/// `follow=true` sends history, then lines written after the request started, live.
pub async fn follow_live(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(60)).await;
    let name = unique_name("follow");
    write(backend, NAMESPACE, &name, 0, &lines("old", 2)).await;
    let mut stream = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true&tail=-1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("application/x-ndjson"));
    for want in ["old 0", "old 1"] {
        assert_eq!(stream.next_message(WAIT).await["text"], want);
    }
    let live = lines("live", 3);
    write(backend, NAMESPACE, &name, 0, &live).await;
    for want in &live {
        assert_eq!(stream.next_message(WAIT).await["text"], want.as_str());
    }
    // Nothing more, nothing twice.
    let more = tokio::time::timeout(Duration::from_millis(500), stream.next_line()).await;
    assert!(more.is_err(), "unexpected extra line: {more:?}");
}

/// `follow=true&tail=1`: the last history line, then live lines.
pub async fn follow_with_tail(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(60)).await;
    let name = unique_name("followtail");
    write(backend, NAMESPACE, &name, 0, &lines("old", 3)).await;
    let mut stream = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=1&tail=1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.next_message(WAIT).await["text"], "old 2");
    write(backend, NAMESPACE, &name, 0, &["new".to_owned()]).await;
    assert_eq!(stream.next_message(WAIT).await["text"], "new");
}

/// An instance that appears while following is included.
pub async fn follow_new_instance(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(60)).await;
    let name = unique_name("newinst");
    write(backend, NAMESPACE, &name, 0, &["first".to_owned()]).await;
    let mut stream = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let first = stream.next_message(WAIT).await;
    assert_eq!(first["text"], "first");
    write(
        backend,
        NAMESPACE,
        &name,
        1,
        &["from the new one".to_owned()],
    )
    .await;
    let second = stream.next_message(WAIT).await;
    assert_eq!(second["text"], "from the new one");
    assert_ne!(second["instance"], first["instance"]);
    write(backend, NAMESPACE, &name, 0, &["first again".to_owned()]).await;
    assert_eq!(stream.next_message(WAIT).await["text"], "first again");
}

/// The stream deadline ends a follow stream cleanly (terminating chunk), not before; a history
/// (`follow=false`) that is not complete when it passes is aborted without the terminating
/// chunk and counted as an abort.
///
/// The history is made to outlast the deadline the way it happens in production: the client
/// reads slowly. It stops reading after the first line, its socket's receive buffer is small,
/// and the history is larger than what the server's kernel send buffer can take (sized from
/// `net.ipv4.tcp_wmem`), so the server cannot have sent it all when the deadline passes.
pub async fn deadline(backend: &dyn Provider) {
    let timeout = Duration::from_secs(2);
    let server = backend.serve(timeout).await;
    let name = unique_name("deadline");
    write(backend, NAMESPACE, &name, 0, &["only".to_owned()]).await;
    let started = Instant::now();
    let mut stream = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.next_message(WAIT).await["text"], "only");
    let end = tokio::time::timeout(timeout + WAIT, stream.next_line()).await;
    assert!(
        matches!(end, Ok(Ok(None))),
        "the stream must end at the deadline: {end:?}"
    );
    assert!(
        stream.is_complete(),
        "a deadline ends the body with the terminating chunk"
    );
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(100),
        "ended before the deadline"
    );
    assert_eq!(server.metric(STREAM_ABORTS).await, 0.0);

    // A history that cannot be complete when the deadline passes.
    let name = unique_name("deadline-history");
    let line_bytes = 4000;
    let lines_needed = history_bytes_beyond_kernel_buffers() / line_bytes + 1;
    let filler = "x".repeat(line_bytes - 16);
    let all: Vec<String> = (0..lines_needed)
        .map(|i| format!("{i:>8} {filler}"))
        .collect();
    for batch in all.chunks(200) {
        write(backend, NAMESPACE, &name, 0, batch).await;
    }
    let started = Instant::now();
    let mut stream =
        open_with_receive_buffer(server.addr, &format!("/system/logs?name={name}"), 4096)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status, 200);
    assert_eq!(stream.next_message(WAIT).await["text"], all[0].as_str());
    // Stop reading until the deadline has passed, then read what is left.
    tokio::time::sleep((timeout + Duration::from_millis(500)).saturating_sub(started.elapsed()))
        .await;
    let mut received = 1;
    let drained = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next_line().await {
                Ok(Some(_)) => received += 1,
                Ok(None) => return Ok(()),
                // The server may reset the connection it aborted: as much an abort as a close.
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the history did not end after the deadline"));
    assert!(
        !stream.is_complete(),
        "a history cut by the deadline must end without the terminating chunk ({drained:?})"
    );
    assert!(
        received < lines_needed,
        "all {lines_needed} lines arrived although the client stalled past the deadline"
    );
    assert_eq!(
        server.metric(STREAM_ABORTS).await,
        1.0,
        "counted as an abort"
    );
}

/// More bytes than the kernel can hold between a server that writes and a client that has
/// stopped reading: the server socket's largest auto-tuned send buffer (`tcp_wmem` max, 4 MiB
/// by default) plus 2 MiB for the client's small receive buffer, the handler's chunk and
/// hyper's buffers.
fn history_bytes_beyond_kernel_buffers() -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(4 * 1024 * 1024);
    wmem_max + 2 * 1024 * 1024
}

/// A client that leaves ends its stream within a second.
pub async fn disconnect(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(60)).await;
    let name = unique_name("disconnect");
    write(backend, NAMESPACE, &name, 0, &["hello".to_owned()]).await;
    let mut stream = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.next_message(WAIT).await["text"], "hello");
    assert_eq!(server.metric(ACTIVE_STREAMS).await, 1.0);
    drop(stream);
    let left = Instant::now();
    while server.metric(ACTIVE_STREAMS).await != 0.0 {
        assert!(
            left.elapsed() < Duration::from_secs(1),
            "the stream outlived its client by 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A function without logs gets an empty 200, also with `follow` until the deadline.
pub async fn unknown_function(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(2)).await;
    let name = unique_name("nobody");
    assert!(ndjson(&fetch(&server, &format!("name={name}")).await).is_empty());
    assert!(ndjson(&fetch(&server, &format!("name={name}&tail=5&follow=true")).await).is_empty());
}

/// Bad input is a `422` with a plain-text reason, and never any data.
pub async fn bad_input(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("bad");
    write(backend, NAMESPACE, &name, 0, &["secret".to_owned()]).await;
    for query in [
        String::new(),
        "name=".to_owned(),
        format!("name={name}&tail=abc"),
        format!("name={name}&tail=5.0"),
        format!("name={name}&since=yesterday"),
        format!("name={name}&since=2026-01-01"),
        format!("name={name}&namespace=kube-system"),
        format!("name={name}&namespace=not-allowed"),
        format!("name={name}%22%7D"),
        format!("name={name}&instance=x%22%7D%20or%20%7B"),
    ] {
        let res = fetch(&server, &query).await;
        assert_eq!(res.status, 422, "?{query}: {}", res.text());
        assert!(res.text().ends_with('\n'), "?{query}: {}", res.text());
        assert!(!res.text().contains("secret"), "?{query} leaked data");
        assert!(
            res.header("content-type")
                .is_some_and(|c| c.starts_with("text/plain"))
        );
    }
}

/// The same function name in two namespaces: each request sees only its own namespace, and
/// every message names the namespace queried.
pub async fn namespace_isolation(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("iso");
    write(backend, NAMESPACE, &name, 0, &["main".to_owned()]).await;
    write(backend, OTHER_NAMESPACE, &name, 0, &["other".to_owned()]).await;
    let main = ndjson(&fetch(&server, &format!("name={name}")).await);
    assert_eq!(texts(&main), ["main"]);
    assert_eq!(main[0]["namespace"], NAMESPACE);
    let explicit = ndjson(&fetch(&server, &format!("name={name}&namespace={NAMESPACE}")).await);
    assert_eq!(texts(&explicit), ["main"]);
    let other = ndjson(&fetch(&server, &format!("name={name}&namespace={OTHER_NAMESPACE}")).await);
    assert_eq!(texts(&other), ["other"]);
    assert_eq!(other[0]["namespace"], OTHER_NAMESPACE);
}

/// Expands to one `#[tokio::test]` per conformance scenario, each over a fresh backend from
/// `$make`, an `async fn() -> impl Provider` (every [`Backend`] is one).
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            tail, since, since_and_tail, instance_filter, merge_order, text_is_exact,
            follow_live, follow_with_tail, follow_new_instance, deadline, disconnect,
            unknown_function, bad_input, namespace_isolation);
    };
    (@each $make:path; $($scenario:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = $make().await;
                    $crate::conformance::$scenario(&backend).await;
                }
            )*
        }
    };
}

/// The in-memory backend as a conformance [`Backend`]: instance `k` is `memory-k`, each line
/// 1 µs after the previous one. The suite's own proof, and the reliability benchmark's backend.
pub struct MemoryBackend {
    requester: crate::MemoryRequester,
    clock: std::sync::atomic::AtomicI64,
}

impl MemoryBackend {
    /// An empty store whose clock starts an hour ago.
    pub fn new() -> Self {
        MemoryBackend {
            requester: crate::MemoryRequester::new(),
            clock: std::sync::atomic::AtomicI64::new(
                Timestamp::now().unix_nanos() - 3_600_000_000_000,
            ),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    fn requester(&self) -> Arc<dyn Requester> {
        Arc::new(self.requester.clone())
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        let instance = format!("memory-{instance}");
        for line in lines {
            let ts = Timestamp::from_unix_nanos(self.clock.fetch_add(1000, Ordering::Relaxed));
            self.requester.push(namespace, name, &instance, ts, line);
        }
    }

    async fn write_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: usize,
        stream: OutputStream,
        lines: &[&str],
    ) {
        let instance = format!("memory-{instance}");
        for line in lines {
            let ts = Timestamp::from_unix_nanos(self.clock.fetch_add(1000, Ordering::Relaxed));
            self.requester
                .push_stream(namespace, name, &instance, ts, stream, line);
        }
    }
}
