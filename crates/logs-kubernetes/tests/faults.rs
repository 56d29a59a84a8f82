//! An API server that goes away mid-follow (every connection reset, the port closed) and
//! comes back: the stream resumes with no gap and no duplicate, pods created meanwhile
//! included.

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::ContainerState;
use logs_api::{LogStream, Request, Requester};
use support::SimBackend;

const NS: &str = "openfaas-fn";

async fn next_text(s: &mut LogStream) -> String {
    match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_is_resumed_without_gap_or_duplicate() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    b.sim.append(NS, "f-a", &[(b.next_ts(), "history")]);
    let mut r = Request::new(NS, "f");
    r.follow = true;
    let mut stream = b
        .requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_eq!(next_text(&mut stream).await, "history");
    b.sim.append(NS, "f-a", &[(b.next_ts(), "live")]);
    assert_eq!(next_text(&mut stream).await, "live");

    b.sim.stop().await;
    // While it is away: more lines in the running pod, and a new pod with lines.
    let same = b.next_ts();
    b.sim
        .append(NS, "f-a", &[(same, "down-1"), (same, "down-2")]);
    b.sim.add_pod(NS, "f-b", "f", ContainerState::Running);
    b.sim.append(NS, "f-b", &[(b.next_ts(), "new pod")]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.sim
        .resume()
        .await
        .unwrap_or_else(|e| panic!("resume: {e}"));
    b.sim.append(NS, "f-a", &[(b.next_ts(), "after")]);

    // f-a's lines in order and once; f-b's line once, wherever the new reader places it.
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_text(&mut stream).await);
    }
    let a: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "new pod")
        .collect();
    assert_eq!(a, ["down-1", "down-2", "after"], "{got:?}");
    assert_eq!(got.iter().filter(|t| *t == "new pod").count(), 1, "{got:?}");
    let more = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
    assert!(more.is_err(), "nothing twice: {more:?}");
}

/// Past the reconnect policy (the API server stays away), the follow stream ends with an error
/// item, which the real server turns into an aborted HTTP response: no terminating chunk, so
/// the client knows the log is cut short rather than finished. Both policies: a pod's log that
/// cannot be reopened, and the pod watch of a function with no pod at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_that_stays_away_aborts_the_http_response() {
    use logs_api::conformance::{Backend, NAMESPACE, start, unique_name};

    let b = SimBackend::start().await;
    let server = start(&b, Duration::from_secs(120)).await;
    let name = unique_name("gone");
    b.write(NAMESPACE, &name, 0, &["before"]).await;
    let mut res = logs_api::testing::open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(
        res.next_message(Duration::from_secs(30)).await["text"],
        "before"
    );
    b.write(NAMESPACE, &name, 0, &["live"]).await;
    assert_eq!(
        res.next_message(Duration::from_secs(30)).await["text"],
        "live"
    );
    // A function scaled to zero: only the watch is open.
    let mut idle = logs_api::testing::open(
        server.addr,
        &format!("/system/logs?name={}&follow=true", unique_name("idle")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(idle.status, 200);

    b.sim.stop().await;
    // About 13 s of retries with backoff, then the error item. Each body ends (the connection
    // is closed) without its terminating chunk and without any further line.
    for (what, stream) in [("pod log", &mut res), ("watch only", &mut idle)] {
        let end = tokio::time::timeout(Duration::from_secs(60), stream.next_line()).await;
        match end {
            Ok(Ok(None)) => {}
            other => panic!("{what}: expected the body to end, got {other:?}"),
        }
        assert!(
            !stream.is_complete(),
            "{what}: a response cut short by the backend must not look finished"
        );
    }
    assert_eq!(server.metrics.stream_aborts(), 2);
}
