//! An API server that goes away mid-follow (every connection reset, the port closed) and
//! comes back: the stream resumes with no gap and no duplicate, pods created meanwhile
//! included.

mod support;

use std::time::Duration;

use futures::StreamExt;
use logs_api::{LogStream, Request, Requester};
use logs_kubernetes::simulator::ContainerState;
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
