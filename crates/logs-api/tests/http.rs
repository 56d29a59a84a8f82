//! The wire contract over real HTTP on loopback: every rule of `docs/api.md` that the handler
//! owns, with requesters built to misbehave.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use logs_api::testing::{get, get_with, open};
use logs_api::{
    BasicAuth, Config, Error, LogStream, MemoryRequester, Message, Request, Requester,
    RunningServer, Server, Timestamp,
};

const NS: &str = "openfaas-fn";

fn message(text: &str) -> Message {
    Message {
        name: "figlet".into(),
        namespace: NS.into(),
        instance: "figlet-1".into(),
        timestamp: Timestamp::from_unix_nanos(1_767_225_600_000_000_000),
        text: text.to_owned(),
        stream: None,
        level: None,
        source: None,
    }
}

async fn serve(requester: impl Requester, timeout: Duration) -> RunningServer {
    serve_with(Arc::new(requester), Config::local(timeout)).await
}

async fn serve_with(requester: Arc<dyn Requester>, config: Config) -> RunningServer {
    Server::bind(requester, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .spawn()
}

fn memory() -> MemoryRequester {
    let r = MemoryRequester::new();
    r.push(
        NS,
        "figlet",
        "figlet-1",
        Timestamp::from_unix_nanos(1),
        "secret line",
    );
    r
}

/// One test per `422` case of the contract.
macro_rules! unprocessable {
    ($($test:ident: $query:expr, $says:expr;)*) => {$(
        #[tokio::test]
        async fn $test() {
            let server = serve(memory(), Duration::from_secs(5)).await;
            let res = get(server.addr, &format!("/system/logs?{}", $query)).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(res.status, 422, "{}", res.text());
            let text = res.text();
            assert!(text.starts_with("could not parse the log request"), "{text}");
            assert!(text.contains($says), "{text:?} should mention {:?}", $says);
            assert!(text.ends_with('\n'));
            assert!(!text.contains("secret line"));
            assert_eq!(res.header("content-type"), Some("text/plain; charset=utf-8"));
            assert_eq!(server.metrics.requests(422), 1);
        }
    )*};
}

unprocessable! {
    name_missing: "follow=true", "name is required";
    name_empty: "name=&tail=1", "name is required";
    name_not_dns_label: "name=Fig_let", "name";
    name_smuggling_a_matcher: "name=figlet%22,namespace%3D%22kube-system", "name";
    namespace_invalid: "name=figlet&namespace=Open%20FaaS", "namespace";
    namespace_not_allowed: "name=figlet&namespace=staging-fn", "not allowed";
    namespace_kube_system: "name=figlet&namespace=kube-system", "not allowed";
    instance_invalid: "name=figlet&instance=a%2Fb", "instance";
    tail_letters: "name=figlet&tail=abc", "tail";
    tail_decimal: "name=figlet&tail=5.0", "tail";
    tail_leading_space: "name=figlet&tail=%205", "tail";
    tail_unencoded_plus: "name=figlet&tail=+5", "tail";
    tail_overflow: "name=figlet&tail=9223372036854775808", "tail";
    since_bare_date: "name=figlet&since=2026-01-01", "since";
    since_no_zone: "name=figlet&since=2026-01-01T00:00:00", "since";
    since_lowercase_t: "name=figlet&since=2026-01-01t00:00:00Z", "since";
    since_lowercase_z: "name=figlet&since=2026-01-01T00:00:00z", "since";
    since_unencoded_plus: "name=figlet&since=2026-01-01T00:00:00+01:00", "since";
    since_not_a_time: "name=figlet&since=10m", "since";
}

#[tokio::test]
async fn accepted_edge_values() {
    let server = serve(memory(), Duration::from_secs(5)).await;
    for query in [
        "name=figlet&tail=%2B5",
        "name=figlet&tail=-1",
        "name=figlet&tail=0",
        "name=figlet&since=2026-01-01T00:00:00.5%2B01:00",
        "name=figlet&since=1970-01-01T00:00:00Z&follow=nonsense",
        "name=other&name=figlet",
    ] {
        let res = get(server.addr, &format!("/system/logs?{query}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 200, "{query}: {}", res.text());
        assert!(res.complete, "{query}: a non-follow stream ends cleanly");
    }
    // Last value wins: the repeated name picked `figlet`, whose line is there.
    let res = get(server.addr, "/system/logs?name=other&name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.messages().len(), 1);
}

#[tokio::test]
async fn other_methods_are_405() {
    let server = serve(memory(), Duration::from_secs(5)).await;
    // `-I` sends HEAD properly (curl `-X HEAD` would wait for a body).
    for method in [
        ["-X", "POST"],
        ["-X", "PUT"],
        ["-X", "DELETE"],
        ["-I", "-s"],
    ] {
        let out = tokio::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(method)
            .arg(format!("http://{}/system/logs?name=figlet", server.addr))
            .output()
            .await
            .unwrap_or_else(|e| panic!("curl: {e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "405", "{method:?}");
    }
}

#[tokio::test]
async fn headers_are_flushed_before_the_first_message() {
    let server = serve(MemoryRequester::new(), Duration::from_secs(30)).await;
    // Nothing is logged yet: the status and headers must still arrive at once.
    let opened = tokio::time::timeout(
        Duration::from_secs(10),
        open(server.addr, "/system/logs?name=figlet&follow=true"),
    )
    .await;
    let stream = opened
        .unwrap_or_else(|_| panic!("headers were held back"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(stream.header("transfer-encoding"), Some("chunked"));
}

#[tokio::test]
async fn curl_follows_live_lines() {
    let requester = MemoryRequester::new();
    let server = serve(requester.clone(), Duration::from_secs(3)).await;
    let curl = tokio::process::Command::new("curl")
        .args([
            "-sN",
            &format!("http://{}/system/logs?name=figlet&follow=true", server.addr),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    // Written after curl started; the stream ends at the 3 s deadline and curl exits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    requester.push(NS, "figlet", "p", Timestamp::from_unix_nanos(5), "live");
    let out = curl
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "curl exit {:?}: the deadline must end the stream cleanly",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"p\",\"timestamp\":\"1970-01-01T00:00:00.000000005Z\",\"text\":\"live\"}\n"
    );
}

/// Fails before the stream, with internals in the error.
struct Failing;

#[async_trait::async_trait]
impl Requester for Failing {
    async fn query(&self, _: Request) -> logs_api::Result<LogStream> {
        let cause = std::io::Error::other("GET https://10.0.0.1:6443/api?token=s3cret: refused");
        Err(Error::backend("listing pods", cause))
    }
    async fn ready(&self) -> logs_api::Result<()> {
        Err(Error::backend_msg("api server down"))
    }
}

#[tokio::test]
async fn backend_error_before_streaming_is_500_without_internals() {
    let server = serve(Failing, Duration::from_secs(5)).await;
    let res = get(server.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), "function log request failed\n");
    assert_eq!(server.metrics.backend_errors(), 1);
    assert_eq!(server.metrics.requests(500), 1);
}

#[tokio::test]
async fn readiness_reports_the_backend_and_liveness_does_not() {
    let server = serve(Failing, Duration::from_secs(5)).await;
    let ready = get(server.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 503);
    assert!(!ready.text().contains("api server down"));
    let live = get(server.addr, "/healthz")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((live.status, live.text().as_str()), (200, "OK\n"));
    let server = serve(memory(), Duration::from_secs(5)).await;
    let ready = get(server.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 200);
}

/// Two messages, then a failure the backend cannot recover from.
struct Aborting;

#[async_trait::async_trait]
impl Requester for Aborting {
    async fn query(&self, _: Request) -> logs_api::Result<LogStream> {
        let items = vec![
            Ok(message("one")),
            Ok(message("two")),
            Err(Error::backend_msg("socket reset")),
        ];
        // Yield between items so the first ones go out in their own chunk.
        Ok(futures::stream::iter(items)
            .then(|m| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                m
            })
            .boxed())
    }
}

#[tokio::test]
async fn failure_mid_stream_aborts_without_the_terminating_chunk() {
    let server = serve(Aborting, Duration::from_secs(5)).await;
    let res = get(server.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert!(
        !res.complete,
        "an aborted stream must not end with the terminating chunk"
    );
    let texts: Vec<_> = res.messages().iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(server.metrics.stream_aborts(), 1);
    let scrape = scrape(server.addr).await;
    assert_eq!(metric(&scrape, "faas_logs_stream_aborts", &[]), 1.0);
    assert_eq!(metric(&scrape, "faas_logs_backend_errors", &[]), 1.0);
    // curl, a real client, reports the transfer as failed.
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            &format!("http://{}/system/logs?name=figlet", server.addr),
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success(), "curl must see a failed transfer");
}

/// Counts calls in flight: +1 when made, -1 when the call's future is dropped or returns.
#[derive(Clone, Default)]
struct InFlight {
    started: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
}

struct Running(Arc<AtomicUsize>);

impl InFlight {
    fn enter(&self) -> Running {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        Running(self.running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A backend that accepted the connection and then never answers: neither `ready()` nor
/// `query()` ever returns.
#[derive(Clone, Default)]
struct Hanging {
    ready: InFlight,
    query: InFlight,
}

#[async_trait::async_trait]
impl Requester for Hanging {
    async fn query(&self, _: Request) -> logs_api::Result<LogStream> {
        let _running = self.query.enter();
        std::future::pending().await
    }
    async fn ready(&self) -> logs_api::Result<()> {
        let _running = self.ready.enter();
        std::future::pending().await
    }
}

async fn serve_hanging(
    ready_timeout: Duration,
    first_byte_timeout: Duration,
) -> (Hanging, RunningServer) {
    let hanging = Hanging::default();
    let mut config = Config::local(Duration::from_secs(30));
    config.handler.ready_timeout = ready_timeout;
    config.handler.first_byte_timeout = first_byte_timeout;
    (hanging.clone(), serve_with(Arc::new(hanging), config).await)
}

/// GET `target`, failing the test if no whole answer comes within 10 s (instead of hanging).
async fn get_within_10s(addr: std::net::SocketAddr, target: &str) -> logs_api::testing::Response {
    tokio::time::timeout(Duration::from_secs(10), get(addr, target))
        .await
        .unwrap_or_else(|_| panic!("GET {target}: no answer within 10 s"))
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// Waits (up to 5 s) until `count` reads 0.
async fn until_zero(count: &AtomicUsize, what: &str) {
    let since = Instant::now();
    while count.load(Ordering::SeqCst) != 0 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "{what} still running"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn readiness_answers_503_within_the_bound_when_the_backend_never_answers() {
    let bound = Duration::from_millis(500);
    let (hanging, server) = serve_hanging(bound, Duration::from_secs(1)).await;
    let started = Instant::now();
    let res = get_within_10s(server.addr, "/healthz/ready").await;
    let took = started.elapsed();
    println!(
        "/healthz/ready over a hanging backend: {} in {took:?}",
        res.status
    );
    assert_eq!(
        (res.status, res.text().as_str()),
        (503, "backend not ready\n")
    );
    assert!(
        took >= bound - Duration::from_millis(50),
        "answered before the bound: {took:?}"
    );
    assert!(took < bound + Duration::from_secs(1), "took {took:?}");
    // The check that hung was dropped, not left running inside the provider.
    until_zero(&hanging.ready.running, "the hanging ready()").await;
    // Liveness does not depend on the backend.
    let live = get(server.addr, "/healthz")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_probes_share_one_backend_check() {
    let bound = Duration::from_secs(1);
    let (hanging, server) = serve_hanging(bound, Duration::from_secs(1)).await;
    let started = Instant::now();
    let probes: Vec<_> = (0..20)
        .map(|_| tokio::spawn(get_within_10s(server.addr, "/healthz/ready")))
        .collect();
    for probe in probes {
        let res = probe.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 503);
    }
    let took = started.elapsed();
    println!("20 concurrent probes over a hanging backend: all 503 in {took:?}");
    assert!(took < bound + Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        hanging.ready.most_at_once.load(Ordering::SeqCst),
        1,
        "probes must not pile checks up on a hanging backend"
    );
    assert!(hanging.ready.started.load(Ordering::SeqCst) <= 2);
    until_zero(&hanging.ready.running, "the hanging ready()").await;
}

#[tokio::test]
async fn first_byte_timeout_answers_500_when_the_backend_never_starts() {
    let bound = Duration::from_millis(500);
    let (hanging, server) = serve_hanging(Duration::from_secs(1), bound).await;
    let started = Instant::now();
    let res = get_within_10s(server.addr, "/system/logs?name=figlet").await;
    let took = started.elapsed();
    println!(
        "/system/logs over a hanging backend: {} in {took:?}",
        res.status
    );
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "function log request failed\n")
    );
    assert!(
        took >= bound - Duration::from_millis(50),
        "answered before the bound: {took:?}"
    );
    assert!(
        took < bound + Duration::from_secs(1),
        "took {took:?} (stream timeout is 30 s)"
    );
    assert_eq!(server.metrics.backend_errors(), 1);
    assert_eq!(server.metrics.requests(500), 1);
    until_zero(&hanging.query.running, "the hanging query()").await;
}

/// One message, then never ends and never looks at cancellation; sets `dropped` when the
/// handler drops its stream.
struct Stubborn {
    dropped: Arc<AtomicBool>,
}

struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Requester for Stubborn {
    async fn query(&self, _: Request) -> logs_api::Result<LogStream> {
        let guard = DropGuard(self.dropped.clone());
        let first = futures::stream::once(async { Ok(message("first")) });
        let forever = futures::stream::pending().map(move |m: logs_api::Result<Message>| {
            let _keep = &guard;
            m
        });
        Ok(first.chain(forever).boxed())
    }
}

/// A [`Stubborn`] backend behind a 1 s deadline, asked `target`: the answer, which the deadline
/// must end (not before 0.9 s, well within 15 s), the server, and whether the backend's stream
/// was dropped by then.
async fn stubborn_until_the_deadline(
    target: &str,
) -> (logs_api::testing::Response, RunningServer, bool) {
    let dropped = Arc::new(AtomicBool::new(false));
    let server = serve(
        Stubborn {
            dropped: dropped.clone(),
        },
        Duration::from_secs(1),
    )
    .await;
    let started = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(15), get(server.addr, target))
        .await
        .unwrap_or_else(|_| panic!("the deadline did not end {target}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(started.elapsed() >= Duration::from_millis(900));
    let dropped = dropped.load(Ordering::SeqCst);
    (res, server, dropped)
}

#[tokio::test]
async fn the_deadline_ends_a_stream_whose_backend_ignores_cancellation() {
    let (res, _server, dropped) =
        stubborn_until_the_deadline("/system/logs?name=figlet&follow=true").await;
    assert!(res.complete, "the deadline ends the body cleanly");
    assert_eq!(res.messages().len(), 1);
    assert!(dropped, "the backend stream is dropped at the deadline");
}

#[tokio::test]
async fn a_history_cut_by_the_deadline_is_aborted_without_the_terminating_chunk() {
    let (res, server, dropped) = stubborn_until_the_deadline("/system/logs?name=figlet").await;
    assert_eq!(res.status, 200);
    assert!(
        !res.complete,
        "a history cut by the deadline must not end with the terminating chunk"
    );
    assert_eq!(res.messages().len(), 1);
    assert!(dropped, "the backend stream is dropped");
    assert_eq!(server.metrics.stream_aborts(), 1);
    assert_eq!(
        server.metrics.backend_errors(),
        0,
        "the backend did not fail"
    );
    let scrape = scrape(server.addr).await;
    assert_eq!(metric(&scrape, "faas_logs_stream_aborts", &[]), 1.0);
    // curl, a real client, reports the transfer as failed; the same request with follow=true
    // ends cleanly at the deadline.
    let curl = |query: &'static str| {
        tokio::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null"])
            .arg(format!("http://{}/system/logs?{query}", server.addr))
            .status()
    };
    let cut = curl("name=figlet")
        .await
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert_eq!(cut.code(), Some(18), "curl: partial transfer");
    let follow = curl("name=figlet&follow=true")
        .await
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert!(follow.success(), "curl exit {follow:?}");
}

/// Five messages, 200 ms apart, then the end: a history that takes a second to send.
struct SlowHistory;

#[async_trait::async_trait]
impl Requester for SlowHistory {
    async fn query(&self, _: Request) -> logs_api::Result<LogStream> {
        Ok(futures::stream::iter(0..5)
            .then(|i| async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(message(&format!("line {i}")))
            })
            .boxed())
    }
}

#[tokio::test]
async fn shutdown_lets_a_history_finish_within_the_grace_period() {
    let mut config = Config::local(Duration::from_secs(30));
    config.shutdown_grace = Duration::from_secs(10);
    let server = serve_with(Arc::new(SlowHistory), config).await;
    let mut stream = open(server.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream.next_message(Duration::from_secs(10)).await["text"],
        "line 0"
    );
    let stopping = tokio::spawn(server.shutdown());
    for i in 1..5 {
        assert_eq!(
            stream.next_message(Duration::from_secs(10)).await["text"],
            format!("line {i}").as_str()
        );
    }
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next_line()).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
    assert!(
        stream.is_complete(),
        "a history finished during shutdown ends with the terminating chunk"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn shutdown_cuts_a_history_that_outlasts_the_grace_period() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut config = Config::local(Duration::from_secs(60));
    config.shutdown_grace = Duration::from_secs(1);
    let server = serve_with(
        Arc::new(Stubborn {
            dropped: dropped.clone(),
        }),
        config,
    )
    .await;
    let mut stream = open(server.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream.next_message(Duration::from_secs(10)).await["text"],
        "first"
    );
    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next_line()).await;
    assert!(
        matches!(end, Ok(Ok(None)) | Ok(Err(_))),
        "the connection must be closed at the end of the grace period: {end:?}"
    );
    assert!(
        !stream.is_complete(),
        "an incomplete history must not end with the terminating chunk"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "cut after {took:?}, grace 1 s"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the backend stream is dropped"
    );
}

#[tokio::test]
async fn a_disconnect_drops_the_backend_stream_within_a_second() {
    let dropped = Arc::new(AtomicBool::new(false));
    let server = serve(
        Stubborn {
            dropped: dropped.clone(),
        },
        Duration::from_secs(60),
    )
    .await;
    let mut stream = open(server.addr, "/system/logs?name=figlet&follow=true")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream.next_message(Duration::from_secs(10)).await["text"],
        "first"
    );
    assert!(!dropped.load(Ordering::SeqCst));
    drop(stream);
    let left = Instant::now();
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            left.elapsed() < Duration::from_secs(1),
            "backend stream still alive 1 s after the client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.metrics.active_streams(), 0);
}

#[tokio::test]
async fn shutdown_ends_open_streams_cleanly() {
    let dropped = Arc::new(AtomicBool::new(false));
    let server = serve(
        Stubborn {
            dropped: dropped.clone(),
        },
        Duration::from_secs(60),
    )
    .await;
    let mut stream = open(server.addr, "/system/logs?name=figlet&follow=true")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream.next_message(Duration::from_secs(10)).await["text"],
        "first"
    );
    let stopping = tokio::spawn(server.shutdown());
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next_line()).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
    assert!(
        stream.is_complete(),
        "shutdown ends streams with the terminating chunk"
    );
    assert!(dropped.load(Ordering::SeqCst));
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn basic_auth_guards_everything_but_healthz() {
    let mut config = Config::local(Duration::from_secs(5));
    config.handler.auth = Some(BasicAuth::new("admin", "pw"));
    let server = serve_with(Arc::new(memory()), config).await;
    let good = "Basic YWRtaW46cHc="; // admin:pw
    let wrong = "Basic YWRtaW46cHd4"; // admin:pwx
    for path in ["/system/logs?name=figlet", "/metrics", "/system/logs"] {
        let res = get(server.addr, path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 401, "{path} without credentials");
        assert_eq!(
            res.header("www-authenticate"),
            Some("Basic realm=\"Restricted\"")
        );
        assert!(!res.text().contains("secret"));
        let res = get_with(server.addr, path, &[("Authorization", wrong)])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 401, "{path} with a wrong password");
    }
    let res = get_with(
        server.addr,
        "/system/logs?name=figlet",
        &[("Authorization", good)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(res.messages().len(), 1);
    let res = get_with(server.addr, "/metrics", &[("Authorization", good)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    // Refused log requests are answered log requests too: two paths, twice each.
    assert_eq!(server.metrics.requests(401), 4);
    assert_eq!(server.metrics.requests(200), 1);
    for open_path in ["/healthz", "/healthz/ready"] {
        let res = get(server.addr, open_path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 200, "{open_path} stays open for probes");
    }
}

/// `/metrics` over HTTP, parsed by an OpenMetrics parser (which rejects malformed text).
async fn scrape(addr: std::net::SocketAddr) -> Scrape {
    let res = get(addr, "/metrics")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    openmetrics_parser::openmetrics::parse_openmetrics(&res.text())
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{}", res.text()))
}

type Scrape = openmetrics_parser::MetricsExposition<
    openmetrics_parser::OpenMetricsType,
    openmetrics_parser::OpenMetricsValue,
>;

/// The value of one sample of `family` (a histogram gives its count).
fn metric(scrape: &Scrape, family: &str, labels: &[&str]) -> f64 {
    use openmetrics_parser::OpenMetricsValue as V;
    let family = scrape
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    let sample = family
        .get_sample_by_label_values(&labels)
        .unwrap_or_else(|| panic!("no sample {labels:?} in {}", family.family_name));
    match &sample.value {
        V::Counter(c) => c.value.as_f64(),
        V::Gauge(n) => n.as_f64(),
        V::Histogram(h) => h.count.unwrap_or_default() as f64,
        other => panic!("unexpected value {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_requests_streams_and_messages() {
    let server = serve(memory(), Duration::from_secs(5)).await;
    let before = scrape(server.addr).await;
    assert_eq!(metric(&before, "faas_logs_requests", &["200"]), 0.0);
    let _ = get(server.addr, "/system/logs?name=figlet").await;
    let _ = get(server.addr, "/system/logs?name=figlet").await;
    let _ = get(server.addr, "/system/logs?name=").await;
    let _ = get(server.addr, "/system/logs?name=figlet&tail=1").await;
    let res = tokio::process::Command::new("curl")
        .args(["-s", "-X", "DELETE"])
        .arg(format!("http://{}/system/logs?name=figlet", server.addr))
        .output()
        .await
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert!(res.status.success());
    let after = scrape(server.addr).await;
    assert_eq!(metric(&after, "faas_logs_requests", &["200"]), 3.0);
    assert_eq!(metric(&after, "faas_logs_requests", &["422"]), 1.0);
    assert_eq!(metric(&after, "faas_logs_requests", &["405"]), 1.0);
    assert_eq!(metric(&after, "faas_logs_requests", &["500"]), 0.0);
    assert_eq!(metric(&after, "faas_logs_requests", &["other"]), 0.0);
    assert_eq!(metric(&after, "faas_logs_messages_sent", &[]), 3.0);
    assert_eq!(metric(&after, "faas_logs_active_streams", &[]), 0.0);
    assert_eq!(metric(&after, "faas_logs_backend_errors", &[]), 0.0);
    assert_eq!(metric(&after, "faas_logs_stream_aborts", &[]), 0.0);
    assert_eq!(
        metric(&after, "faas_logs_stream_duration_seconds", &[]),
        3.0
    );
    let following = open(server.addr, "/system/logs?name=figlet&follow=true")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(following.status, 200);
    let during = scrape(server.addr).await;
    assert_eq!(metric(&during, "faas_logs_active_streams", &[]), 1.0);
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(status.success());
    let mut config = Config::local(Duration::from_secs(5));
    config.tls = Some((cert.clone(), key));
    let server = serve_with(Arc::new(memory()), config).await;
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .arg(format!(
            "https://127.0.0.1:{}/system/logs?name=figlet",
            server.addr.port()
        ))
        .output()
        .await
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert!(out.status.success(), "curl over TLS: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"text\":\"secret line\""));
    // Plain HTTP to the TLS port gets nothing.
    let plain = get(server.addr, "/system/logs?name=figlet").await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.messages().is_empty()));
}
