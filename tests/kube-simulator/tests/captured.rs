//! The simulator answers like the captured kube-apiserver responses in `tests/fixtures/k8s/`:
//! same status codes, content types and bodies (exact for `Status` errors and log text; same
//! shape and key fields for pod objects, whose uids and timestamps differ).

use std::path::Path;
use std::time::Duration;

use kube_simulator::{ContainerState, Fault, Simulator, time};
use logs_api::testing::{get, open};
use serde_json::Value;

struct Fixture {
    status: u16,
    content_type: Option<String>,
    body: String,
}

fn fixture(name: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/k8s")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Headers end with CRLF CRLF (curl -i output); the body is kept byte for byte.
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{name}: no status line"));
    let content_type = lines
        .filter_map(|l| l.trim_end().split_once(": "))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_owned());
    Fixture {
        status,
        content_type,
        body: body.to_owned(),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The fixture pod: `figlet-abc` in `openfaas-fn`, lines 1..4, the last two at 00:00:00 and
/// 00:00:01 on 2026-01-01.
async fn simulator() -> Simulator {
    let sim = Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    sim.add_pod(
        "openfaas-fn",
        "figlet-abc",
        "figlet",
        ContainerState::Waiting,
    );
    let ts = |s: &str| time::parse_rfc3339(s).unwrap_or_else(|| panic!("{s}"));
    sim.append(
        "openfaas-fn",
        "figlet-abc",
        &[
            (
                ts("2025-12-31T23:59:58Z"),
                "openfaas-fn/figlet-abc/figlet line 1",
            ),
            (
                ts("2025-12-31T23:59:59Z"),
                "openfaas-fn/figlet-abc/figlet line 2",
            ),
            (
                ts("2026-01-01T00:00:00Z"),
                "openfaas-fn/figlet-abc/figlet line 3",
            ),
            (
                ts("2026-01-01T00:00:01Z"),
                "openfaas-fn/figlet-abc/figlet line 4",
            ),
        ],
    );
    sim
}

/// Checks status, content type and (exact) body of a response against a fixture.
async fn exact(sim: &Simulator, target: &str, name: &str) {
    let want = fixture(name);
    let got = get(sim.addr(), target)
        .await
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    assert_eq!(got.status, want.status, "{name}: status");
    assert_eq!(
        got.header("content-type").map(str::to_owned),
        want.content_type,
        "{name}: content type"
    );
    if want.content_type.as_deref() == Some("application/json") {
        assert_eq!(json(&got.text()), json(&want.body), "{name}: body");
    } else {
        assert_eq!(got.text().trim_end(), want.body.trim_end(), "{name}: body");
    }
}

/// The fields a client relies on in a pod object.
fn pod_shape(pod: &Value) -> Value {
    serde_json::json!({
        "name": pod["metadata"]["name"],
        "namespace": pod["metadata"]["namespace"],
        "labels": pod["metadata"]["labels"],
        "rv_is_string": pod["metadata"]["resourceVersion"].is_string(),
        "containers": pod["spec"]["containers"].as_array().map(|c| c.iter().map(|c| c["name"].clone()).collect::<Vec<_>>()),
        "nodeName": pod["spec"]["nodeName"],
        "phase": pod["status"]["phase"],
    })
}

#[tokio::test]
async fn log_errors_match_the_apiserver() {
    let sim = simulator().await;
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    let log = "/api/v1/namespaces/openfaas-fn/pods/figlet-abc/log";
    exact(
        &sim,
        &format!("{log}?container=nope"),
        "pod_log_bad_container.http",
    )
    .await;
    exact(
        &sim,
        &format!("{log}?sinceSeconds=0"),
        "pod_log_bad_since.http",
    )
    .await;
    exact(
        &sim,
        &format!("{log}?tailLines=-5"),
        "pod_log_bad_tail.http",
    )
    .await;
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/pods/nope/log",
        "pod_log_no_pod.http",
    )
    .await;
    sim.fail_next(1, Fault::KubeletDown);
    exact(&sim, log, "pod_log_kubelet_down.http").await;
}

#[tokio::test]
async fn log_text_matches_the_apiserver() {
    let sim = simulator().await;
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    let log = "/api/v1/namespaces/openfaas-fn/pods/figlet-abc/log";
    exact(
        &sim,
        &format!("{log}?tailLines=2&timestamps=true"),
        "pod_log_tail2_timestamps.http",
    )
    .await;
    sim.add_pod(
        "openfaas-fn",
        "figlet-unscheduled",
        "figlet",
        ContainerState::Unscheduled,
    );
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/pods/figlet-unscheduled/log",
        "pod_log_unscheduled.http",
    )
    .await;
}

#[tokio::test]
async fn unauthorized_matches_the_apiserver() {
    let sim = simulator().await;
    let list = "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dfiglet";
    sim.fail_next(2, Fault::Unauthorized);
    exact(&sim, list, "pods_list_anonymous.http").await;
    exact(&sim, list, "pods_list_bad_token.http").await;
    // The faults are used up: the next request succeeds.
    assert_eq!(
        get(sim.addr(), list).await.map(|r| r.status).ok(),
        Some(200)
    );
}

#[tokio::test]
async fn pod_objects_match_the_apiserver() {
    let sim = simulator().await;
    let want = fixture("pod_get.http");
    let got = get(sim.addr(), "/api/v1/namespaces/openfaas-fn/pods/figlet-abc")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.status, got.header("content-type").map(str::to_owned)),
        (want.status, want.content_type)
    );
    let (got, want) = (json(&got.text()), json(&want.body));
    assert_eq!(
        (&got["kind"], &got["apiVersion"]),
        (&want["kind"], &want["apiVersion"])
    );
    assert_eq!(pod_shape(&got), pod_shape(&want));

    let want = fixture("pods_list_by_label.http");
    let target = "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dfiglet";
    let got = get(sim.addr(), target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.status, got.header("content-type").map(str::to_owned)),
        (want.status, want.content_type)
    );
    let (got, want) = (json(&got.text()), json(&want.body));
    assert_eq!(
        (&got["kind"], &got["apiVersion"]),
        (&want["kind"], &want["apiVersion"])
    );
    assert!(got["metadata"]["resourceVersion"].is_string());
    let shapes = |v: &Value| {
        v["items"]
            .as_array()
            .map(|i| i.iter().map(pod_shape).collect::<Vec<_>>())
    };
    assert_eq!(shapes(&got), shapes(&want));
    // Another function's label selects nothing.
    let other = get(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dother",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json(&other.text())["items"], serde_json::json!([]));
}

#[tokio::test]
async fn watch_events_match_the_apiserver() {
    let sim = simulator().await;
    let want = fixture("pods_watch.http");
    let target =
        "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dfiglet&watch=true";
    let mut got = open(sim.addr(), target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.status, got.header("content-type").map(str::to_owned)),
        (want.status, want.content_type)
    );
    let wait = Duration::from_secs(10);
    let first = got.next_message(wait).await;
    let want = json(want.body.lines().next().unwrap_or_default());
    assert_eq!(first["type"], want["type"]);
    assert_eq!(pod_shape(&first["object"]), pod_shape(&want["object"]));
    // Live events follow, from the resourceVersion seen.
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    let next = got.next_message(wait).await;
    assert_eq!(next["type"], "MODIFIED");
    assert_eq!(next["object"]["status"]["phase"], "Running");
    let rv: u64 = next["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // A watch from that resourceVersion sees only what came after it.
    sim.delete_pod("openfaas-fn", "figlet-abc");
    let mut later = open(sim.addr(), &format!("{target}&resourceVersion={rv}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(later.next_message(wait).await["type"], "DELETED");
}

#[tokio::test]
async fn log_options_are_honoured() {
    let sim = simulator().await;
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    let log = "/api/v1/namespaces/openfaas-fn/pods/figlet-abc/log";
    // sinceTime keeps whole seconds only: 00:00:00.5 still returns the line at 00:00:00.
    let r = get(
        sim.addr(),
        &format!("{log}?sinceTime=2026-01-01T00:00:00.5Z"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.text(),
        "openfaas-fn/figlet-abc/figlet line 3\nopenfaas-fn/figlet-abc/figlet line 4\n"
    );
    let r = get(sim.addr(), &format!("{log}?container=figlet&tailLines=1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.text(), "openfaas-fn/figlet-abc/figlet line 4\n");
    // A waiting container: 400, as the kubelet answers.
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Waiting);
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    assert_eq!(json(&r.text())["reason"], "BadRequest");
    // follow: live lines arrive on the open stream; a cut ends it.
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    let mut s = open(sim.addr(), &format!("{log}?follow=true&tailLines=0"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sim.append("openfaas-fn", "figlet-abc", &[(time::now_nanos(), "live")]);
    let line = tokio::time::timeout(Duration::from_secs(10), s.next_line()).await;
    assert_eq!(
        line.ok().and_then(Result::ok).flatten().as_deref(),
        Some("live")
    );
    sim.cut_log_streams();
    let end = tokio::time::timeout(Duration::from_secs(10), s.next_line()).await;
    assert!(
        matches!(end, Ok(Ok(None))),
        "a cut ends the stream: {end:?}"
    );
    // previous: after a restart, the old container's lines.
    sim.restart("openfaas-fn", "figlet-abc");
    let r = get(sim.addr(), &format!("{log}?previous=true&tailLines=1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.text(), "live\n");
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.status, r.text()), (200, String::new()));
}
