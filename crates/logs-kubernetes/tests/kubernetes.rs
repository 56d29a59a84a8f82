//! Kubernetes-specific behaviour of the requester, against the API simulator.

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::{ContainerState, Fault};
use logs_api::{LogStream, Request, Requester, Timestamp};
use support::SimBackend;

const NS: &str = "openfaas-fn";
const WAIT: Duration = Duration::from_secs(10);

fn request(name: &str) -> Request {
    Request::new(NS, name)
}

fn at(nanos: i64) -> Timestamp {
    Timestamp::from_unix_nanos(nanos)
}

/// 2026-01-01T00:00:00Z plus `nanos`, in Unix nanoseconds.
fn t(nanos: i64) -> i64 {
    1_767_225_600_000_000_000 + nanos
}

async fn query(b: &SimBackend, r: Request) -> LogStream {
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"))
}

async fn all(b: &SimBackend, r: Request) -> Vec<(String, String)> {
    let s = query(b, r).await;
    let items: Vec<_> = tokio::time::timeout(WAIT, s.collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| panic!("history did not end"));
    items
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("stream error: {e}")))
        .map(|m| (m.instance.to_string(), m.text))
        .collect()
}

async fn next_text(s: &mut LogStream) -> String {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// No further message within a short while (used only after everything expected arrived).
async fn nothing_more(s: &mut LogStream) {
    let extra = tokio::time::timeout(Duration::from_millis(500), s.next()).await;
    assert!(extra.is_err(), "unexpected extra item: {extra:?}");
}

#[tokio::test]
async fn tail_counts_across_pods_and_asks_each_pod_for_n() {
    let b = SimBackend::start().await;
    for pod in ["f-a", "f-b", "f-c"] {
        b.sim.add_pod(NS, pod, "f", ContainerState::Running);
    }
    b.sim
        .append(NS, "f-a", &[(t(1), "a1"), (t(4), "a4"), (t(7), "a7")]);
    b.sim
        .append(NS, "f-b", &[(t(2), "b2"), (t(5), "b5"), (t(8), "b8")]);
    b.sim
        .append(NS, "f-c", &[(t(3), "c3"), (t(6), "c6"), (t(6), "c6'")]);
    let mut r = request("f");
    r.tail = Some(4);
    let got: Vec<String> = all(&b, r).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, ["c6", "c6'", "a7", "b8"]);
    let log_requests: Vec<String> = b
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log?"))
        .collect();
    assert_eq!(log_requests.len(), 3);
    assert!(
        log_requests
            .iter()
            .all(|r| r.contains("tailLines=4") && r.contains("timestamps=true")),
        "{log_requests:?}"
    );
    // Without tail: everything, merged in time order, instance = pod name.
    let got = all(&b, request("f")).await;
    assert_eq!(got.len(), 9);
    assert_eq!(got[0], ("f-a".to_owned(), "a1".to_owned()));
    assert_eq!(got[8], ("f-b".to_owned(), "b8".to_owned()));
}

#[tokio::test]
async fn since_is_exact_to_the_nanosecond() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let s = 1_000_000_000;
    b.sim.append(
        NS,
        "f-a",
        &[
            (t(s - 1), "before"),
            (t(s + 499), "499"),
            (t(s + 500), "500"),
            (t(s + 501), "501"),
        ],
    );
    let mut r = request("f");
    r.since = Some(at(t(s + 500)));
    let got: Vec<String> = all(&b, r.clone())
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(got, ["500", "501"]);
    // The API server only takes whole seconds: the provider asked for the second and filtered.
    let asked = b
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.contains("/log?"))
        .unwrap_or_default();
    assert!(asked.contains("sinceTime=2026-01-01T00:00:01Z"), "{asked}");
    // Same in follow mode, and the live part honours it too.
    r.follow = true;
    let mut stream = query(&b, r).await;
    assert_eq!(next_text(&mut stream).await, "500");
    assert_eq!(next_text(&mut stream).await, "501");
    b.sim.append(NS, "f-a", &[(t(s + 502), "502")]);
    assert_eq!(next_text(&mut stream).await, "502");
}

#[tokio::test]
async fn zero_pods_is_an_empty_history_and_follow_waits_for_pods() {
    let b = SimBackend::start().await;
    assert!(all(&b, request("nobody")).await.is_empty());
    let mut r = request("nobody");
    r.follow = true;
    let mut stream = query(&b, r).await;
    // A pod that is still starting is picked up once its container runs (faas-netes misses it).
    b.sim
        .add_pod(NS, "nobody-1", "nobody", ContainerState::Waiting);
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.sim.set_state(NS, "nobody-1", ContainerState::Running);
    b.sim.append(NS, "nobody-1", &[(b.next_ts(), "first")]);
    assert_eq!(next_text(&mut stream).await, "first");
}

#[tokio::test]
async fn pod_added_during_follow_is_included() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    b.sim.append(NS, "f-a", &[(b.next_ts(), "old")]);
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    assert_eq!(next_text(&mut stream).await, "old");
    b.sim.add_pod(NS, "f-b", "f", ContainerState::Running);
    b.sim.append(NS, "f-b", &[(b.next_ts(), "from b")]);
    assert_eq!(next_text(&mut stream).await, "from b");
    // Another function's new pod is not.
    b.sim.add_pod(NS, "g-a", "g", ContainerState::Running);
    b.sim.append(NS, "g-a", &[(b.next_ts(), "from g")]);
    nothing_more(&mut stream).await;
}

#[tokio::test]
async fn restarted_pod_is_followed_into_its_new_container() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    b.sim.append(NS, "f-a", &[(b.next_ts(), "before restart")]);
    assert_eq!(next_text(&mut stream).await, "before restart");
    b.sim.set_state(NS, "f-a", ContainerState::Terminated);
    b.sim.restart(NS, "f-a");
    b.sim.append(NS, "f-a", &[(b.next_ts(), "after restart")]);
    assert_eq!(next_text(&mut stream).await, "after restart");
    nothing_more(&mut stream).await;
}

#[tokio::test]
async fn cut_log_stream_resumes_without_gap_or_duplicate() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    // Several lines share one timestamp across the cut: exactly the unseen ones must come.
    let same = b.next_ts();
    b.sim.append(NS, "f-a", &[(same, "s1"), (same, "s2")]);
    assert_eq!(next_text(&mut stream).await, "s1");
    assert_eq!(next_text(&mut stream).await, "s2");
    b.sim.cut_log_streams();
    b.sim
        .append(NS, "f-a", &[(same, "s3"), (b.next_ts(), "n1")]);
    assert_eq!(next_text(&mut stream).await, "s3");
    assert_eq!(next_text(&mut stream).await, "n1");
    // A cut followed by failing reopens (API server restarting): retried, still no gap.
    b.sim.fail_next(2, Fault::Internal);
    b.sim.cut_log_streams();
    b.sim
        .append(NS, "f-a", &[(b.next_ts(), "n2"), (b.next_ts(), "n3")]);
    assert_eq!(next_text(&mut stream).await, "n2");
    assert_eq!(next_text(&mut stream).await, "n3");
    nothing_more(&mut stream).await;
    let reopens = b
        .sim
        .requests()
        .iter()
        .filter(|r| r.contains("/log?") && r.contains("follow=true"))
        .count();
    assert!(
        reopens >= 3,
        "the stream was reopened after each cut: {reopens}"
    );
}

#[tokio::test]
async fn api_server_errors_fail_the_request_before_the_stream() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    b.sim.append(NS, "f-a", &[(b.next_ts(), "x")]);
    for fault in [Fault::Internal, Fault::Unauthorized] {
        b.sim.fail_next(1, fault);
        let err = b.requester.query(request("f")).await.err();
        let err = err.unwrap_or_else(|| panic!("{fault:?} on the pod list must fail the request"));
        assert!(matches!(err, logs_api::Error::Backend { .. }), "{err:?}");
    }
    // The kubelet failing on a pod's log also fails it (the answer would be silently short).
    b.sim.fail_logs(1, Fault::KubeletDown);
    let err = b.requester.query(request("f")).await.err();
    assert!(
        matches!(err, Some(logs_api::Error::Backend { .. })),
        "{err:?}"
    );
    // And once the faults are gone, the same request works.
    assert_eq!(all(&b, request("f")).await.len(), 1);
}

#[tokio::test]
async fn readiness_checks_the_api_server() {
    let b = SimBackend::start().await;
    assert!(b.requester.ready().await.is_ok());
    b.sim.fail_next(1, Fault::Unauthorized);
    assert!(b.requester.ready().await.is_err());
    assert!(b.sim.requests().iter().any(|r| r.starts_with("/version")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_gives_up_after_repeated_log_failures() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    b.sim.append(NS, "f-a", &[(b.next_ts(), "one")]);
    assert_eq!(next_text(&mut stream).await, "one");
    b.sim.fail_logs(100, Fault::KubeletDown);
    b.sim.cut_log_streams();
    // About 13 s of retries with backoff, then an error item aborts the response.
    match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
        Ok(Some(Err(e))) => assert!(matches!(e, logs_api::Error::Backend { .. }), "{e:?}"),
        other => panic!("expected an error item, got {other:?}"),
    }
}

#[tokio::test]
async fn lines_left_in_a_restarted_container_are_read_from_previous() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    b.sim.append(NS, "f-a", &[(b.next_ts(), "a")]);
    assert_eq!(next_text(&mut stream).await, "a");
    // While nobody reads: one more line, the stream is cut, the container restarts.
    b.sim.append(NS, "f-a", &[(b.next_ts(), "b")]);
    b.sim.cut_log_streams();
    b.sim.restart(NS, "f-a");
    b.sim.append(NS, "f-a", &[(b.next_ts(), "c")]);
    assert_eq!(next_text(&mut stream).await, "b");
    assert_eq!(next_text(&mut stream).await, "c");
    nothing_more(&mut stream).await;
}

#[tokio::test]
async fn instance_filter_and_pod_limit() {
    let b = SimBackend::start().await;
    for pod in ["f-a", "f-b"] {
        b.sim.add_pod(NS, pod, "f", ContainerState::Running);
        b.sim.append(NS, pod, &[(b.next_ts(), pod)]);
    }
    let mut r = request("f");
    r.instance = Some("f-b".into());
    assert_eq!(all(&b, r).await, [("f-b".to_owned(), "f-b".to_owned())]);
    let limited = SimBackend::with_args(logs_kubernetes::Args {
        max_pods: 1,
        ..support::args()
    })
    .await;
    for pod in ["f-a", "f-b"] {
        limited.sim.add_pod(NS, pod, "f", ContainerState::Running);
    }
    assert!(limited.requester.query(request("f")).await.is_err());
}

#[tokio::test]
async fn unreachable_api_server_is_not_ready() {
    let b = SimBackend::start().await;
    let config = support::kube_config(&b.sim);
    drop(b);
    let requester = logs_kubernetes::KubeRequester::from_config(config, support::args())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(requester.ready().await.is_err());
    assert!(requester.query(request("f")).await.is_err());
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn dropping_a_follow_stream_closes_every_api_stream() {
    let b = SimBackend::start().await;
    for pod in ["f-a", "f-b"] {
        b.sim.add_pod(NS, pod, "f", ContainerState::Running);
    }
    let mut r = request("f");
    r.follow = true;
    let mut stream = query(&b, r).await;
    b.sim.append(NS, "f-a", &[(b.next_ts(), "x")]);
    assert_eq!(next_text(&mut stream).await, "x");
    // One watch plus one follow log stream per pod.
    wait_for("the watch and two log streams", || {
        b.sim.open_streams() == 3
    })
    .await;
    drop(stream);
    wait_for("every stream to close", || b.sim.open_streams() == 0).await;
}
