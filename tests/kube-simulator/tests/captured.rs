//! The simulator answers like the captured kube-apiserver responses in `tests/fixtures/k8s/`:
//! same status codes, content types and bodies (byte for byte for `Status` errors and log text;
//! same shape and key fields for pod objects, whose uids and timestamps differ).

use std::path::Path;
use std::time::Duration;

use kube_simulator::{ContainerState, Fault, NewEvent, NewPod, Simulator, time};
use logs_api::testing::{get, get_with, open};
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
/// `GET target` from the simulator, its body read as JSON.
async fn get_json(sim: &Simulator, target: &str) -> Value {
    json(
        &get(sim.addr(), target)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text(),
    )
}

async fn simulator() -> Simulator {
    let sim = Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    // As captured: on a node, no container status reported yet.
    sim.add_pod(
        "openfaas-fn",
        "figlet-abc",
        "figlet",
        ContainerState::Scheduled,
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
        if json(&want.body)["kind"] == "Status" {
            // Field order and indentation too: a Status is compared byte for byte.
            assert_eq!(got.text(), want.body, "{name}: Status bytes");
        }
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
        "annotations": pod["metadata"]["annotations"],
        "containers": pod["spec"]["containers"].as_array().map(|c| c.iter().map(|c| c["name"].clone()).collect::<Vec<_>>()),
        "container_fields": pod["spec"]["containers"].as_array().map(|c| c.iter().map(|c| {
            c.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())
        }).collect::<Vec<_>>()),
        "initContainers": pod["spec"]["initContainers"].as_array().map(|c| c.iter().map(|c| c["name"].clone()).collect::<Vec<_>>()),
        "nodeName": pod["spec"]["nodeName"],
        "phase": pod["status"]["phase"],
        "containerStatuses": pod["status"]["containerStatuses"].is_array(),
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
    // A waiting container: 400, as the kubelet answers (`validateContainerLogStatus`).
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Waiting);
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    assert_eq!(json(&r.text())["reason"], "BadRequest");
    assert_eq!(
        json(&r.text())["message"],
        "container \"figlet\" in pod \"figlet-abc\" is waiting to start: ContainerCreating"
    );
    // No status on the kubelet yet: 400 "not available"; the same as an injected fault.
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Scheduled);
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    let unavailable = "container \"figlet\" in pod \"figlet-abc\" is not available";
    assert_eq!(json(&r.text())["message"], unavailable);
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    sim.fail_logs(1, Fault::ContainerUnavailable);
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (r.status, json(&r.text())["message"].clone()),
        (400, unavailable.into())
    );
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

const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The captured pods with a sidecar: `meshfn-1` (function container first, Linkerd's proxy
/// second) and `annfn-1` (Istio's proxy first, the default-container annotation naming the
/// function's container).
async fn sidecar_pods() -> Simulator {
    let sim = Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    sim.create_pod(
        "openfaas-fn",
        "meshfn-1",
        NewPod::function("meshfn")
            .containers(&["meshfn", "linkerd-proxy"])
            .annotation("linkerd.io/inject", "enabled")
            .state(ContainerState::Scheduled),
    );
    sim.create_pod(
        "openfaas-fn",
        "annfn-1",
        NewPod::function("annfn")
            .containers(&["istio-proxy", "annfn"])
            .annotation(DEFAULT_CONTAINER, "annfn")
            .state(ContainerState::Scheduled),
    );
    sim
}

#[tokio::test]
async fn a_pod_with_a_sidecar_needs_a_container_name() {
    let sim = sidecar_pods().await;
    // Whatever the containers' state: the apiserver resolves the container before the kubelet.
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/pods/meshfn-1/log",
        "pod_log_multi_container_unnamed.http",
    )
    .await;
    sim.set_state("openfaas-fn", "annfn-1", ContainerState::Running);
    // The annotation is carried, not applied: still the 400.
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/pods/annfn-1/log?timestamps=true",
        "pod_log_default_container_annotation.http",
    )
    .await;
    let pod = get(sim.addr(), "/api/v1/namespaces/openfaas-fn/pods/annfn-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json(&pod.text())["metadata"]["annotations"][DEFAULT_CONTAINER],
        "annfn"
    );
    // A name that is none of its containers: the same 400 as for a single-container pod.
    let want = fixture("pod_log_bad_container.http");
    let got = get(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods/annfn-1/log?container=nope",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.status, want.status);
    assert_eq!(
        got.text(),
        want.body.replace("figlet-abc", "annfn-1"),
        "bad container bytes"
    );
}

#[tokio::test]
async fn each_container_of_a_pod_has_its_own_log() {
    let sim = sidecar_pods().await;
    sim.set_state("openfaas-fn", "annfn-1", ContainerState::Running);
    let ts = time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap_or_else(|| panic!("time"));
    sim.append_to("openfaas-fn", "annfn-1", "annfn", &[(ts, "function line")]);
    sim.append_to(
        "openfaas-fn",
        "annfn-1",
        "istio-proxy",
        &[(ts + 1, "proxy line")],
    );
    let log = "/api/v1/namespaces/openfaas-fn/pods/annfn-1/log";
    for (container, want) in [
        ("annfn", "function line\n"),
        ("istio-proxy", "proxy line\n"),
    ] {
        let r = get(sim.addr(), &format!("{log}?container={container}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.status, r.text()), (200, want.to_owned()), "{container}");
    }
    // A restart keeps each container's previous log apart too, and the pod object reports it.
    sim.restart("openfaas-fn", "annfn-1");
    let r = get(sim.addr(), &format!("{log}?container=annfn&previous=true"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.text(), "function line\n");
    let pod = get_json(&sim, "/api/v1/namespaces/openfaas-fn/pods/annfn-1").await;
    let statuses = pod["status"]["containerStatuses"].clone();
    assert_eq!(statuses[1]["name"], "annfn");
    assert_eq!(statuses[1]["restartCount"], 1);
    assert!(
        statuses[1]["lastState"]["terminated"].is_object(),
        "{statuses}"
    );
}

/// With init containers, the apiserver's message names them too (`LogLocation` in
/// `pkg/registry/core/pod/strategy.go`), `container=` accepts them, and until they are done the
/// app containers wait with reason `PodInitializing`.
#[tokio::test]
async fn init_containers_are_named_and_readable() {
    let sim = Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    sim.create_pod(
        "openfaas-fn",
        "initfn-1",
        NewPod::function("initfn")
            .containers(&["initfn", "linkerd-proxy"])
            .init_containers(&["linkerd-init"])
            .state(ContainerState::Waiting),
    );
    let log = "/api/v1/namespaces/openfaas-fn/pods/initfn-1/log";
    let r = get(sim.addr(), log).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    assert_eq!(
        json(&r.text())["message"],
        "a container name must be specified for pod initfn-1, choose one of: [initfn linkerd-proxy] \
         or one of the init containers: [linkerd-init]"
    );
    let r = get(sim.addr(), &format!("{log}?container=initfn"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    assert_eq!(
        json(&r.text())["message"],
        "container \"initfn\" in pod \"initfn-1\" is waiting to start: PodInitializing"
    );
    sim.append_to(
        "openfaas-fn",
        "initfn-1",
        "linkerd-init",
        &[(1, "init line")],
    );
    let r = get(sim.addr(), &format!("{log}?container=linkerd-init"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.status, r.text()), (200, "init line\n".to_owned()));
    let pod = get_json(&sim, "/api/v1/namespaces/openfaas-fn/pods/initfn-1").await;
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert!(pod["status"]["initContainerStatuses"][0]["state"]["running"].is_object());
}

#[tokio::test]
async fn pod_lists_show_every_container() {
    let sim = sidecar_pods().await;
    let want = fixture("pods_list_multi_container.http");
    let got = get(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dmeshfn",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.status, got.header("content-type").map(str::to_owned)),
        (want.status, want.content_type)
    );
    let (got, want) = (json(&got.text()), json(&want.body));
    let shapes = |v: &Value| {
        v["items"]
            .as_array()
            .map(|i| i.iter().map(pod_shape).collect::<Vec<_>>())
    };
    assert_eq!(shapes(&got), shapes(&want));
    assert_eq!(got["items"].as_array().map(Vec::len), Some(1));
}

/// A label-selector watch sees a relabelled pod as the apiserver's watch cache shows it: the
/// function it leaves gets `DELETED` (the object as it was, at the new resourceVersion), the
/// function it joins gets `ADDED`.
#[tokio::test]
async fn a_relabelled_pod_leaves_one_watch_and_joins_another() {
    let sim = simulator().await;
    let watch = |f: &str| {
        format!("/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3D{f}&watch=true")
    };
    let wait = Duration::from_secs(10);
    let mut figlet = open(sim.addr(), &watch("figlet"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut other = open(sim.addr(), &watch("other"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(figlet.next_message(wait).await["type"], "ADDED");
    sim.set_label("openfaas-fn", "figlet-abc", "faas_function", "other");
    let left = figlet.next_message(wait).await;
    assert_eq!(left["type"], "DELETED");
    assert_eq!(
        left["object"]["metadata"]["labels"]["faas_function"],
        "figlet"
    );
    let joined = other.next_message(wait).await;
    assert_eq!(joined["type"], "ADDED");
    assert_eq!(
        joined["object"]["metadata"]["labels"]["faas_function"],
        "other"
    );
    assert_eq!(
        left["object"]["metadata"]["resourceVersion"],
        joined["object"]["metadata"]["resourceVersion"]
    );
    // A change while it still matches is MODIFIED, for its new function only.
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    assert_eq!(other.next_message(wait).await["type"], "MODIFIED");
    // Back: ADDED for figlet, DELETED for other; figlet's watch saw nothing in between.
    sim.set_label("openfaas-fn", "figlet-abc", "faas_function", "figlet");
    let back = figlet.next_message(wait).await;
    assert_eq!(back["type"], "ADDED");
    assert_eq!(back["object"]["status"]["phase"], "Running");
    assert_eq!(other.next_message(wait).await["type"], "DELETED");
}

/// After a compaction, a watch from a forgotten resourceVersion gets the watch cache's ERROR
/// event (410 Expired) and ends; a list and a watch from its resourceVersion work.
#[tokio::test]
async fn a_watch_from_a_compacted_version_expires() {
    let sim = simulator().await;
    let list = "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dfiglet";
    let rv = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no resourceVersion: {v}"))
    };
    let before = rv(&get_json(&sim, list).await);
    sim.set_state("openfaas-fn", "figlet-abc", ContainerState::Running);
    sim.compact();
    let mut old = open(
        sim.addr(),
        &format!("{list}&watch=true&resourceVersion={before}"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old.status, 200);
    let event = old.next_message(Duration::from_secs(10)).await;
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    let end = tokio::time::timeout(Duration::from_secs(10), old.next_line()).await;
    assert!(matches!(end, Ok(Ok(None))), "the watch ends: {end:?}");
    let now = rv(&get_json(&sim, list).await);
    assert!(now > before);
    let mut fresh = open(
        sim.addr(),
        &format!("{list}&watch=true&resourceVersion={now}"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    sim.delete_pod("openfaas-fn", "figlet-abc");
    assert_eq!(
        fresh.next_message(Duration::from_secs(10)).await["type"],
        "DELETED"
    );
}

/// The captured events' time, 2026-11-29T20:38:52Z, in Unix nanoseconds.
fn captured_at() -> i64 {
    time::parse_rfc3339("2026-11-29T20:38:52Z").unwrap_or_else(|| panic!("time"))
}

/// Records the events of the captures: pod `figlet-abc` pulling its image (Normal, once) and
/// backing off (Warning, five times), on container `figlet`; returns (pulling, backoff) names.
fn record_captured_events(sim: &Simulator) -> (String, String) {
    let at = captured_at();
    let pulling = sim.record_event(
        "openfaas-fn",
        NewEvent::pod(
            "figlet-abc",
            "Pulling",
            "Pulling image \"ghcr.io/openfaas/figlet:latest\"",
        )
        .container("figlet")
        .at(at),
    );
    let backoff = sim.record_event(
        "openfaas-fn",
        NewEvent::pod(
            "figlet-abc",
            "BackOff",
            "Back-off restarting failed container figlet in pod figlet-abc_openfaas-fn(1234)",
        )
        .warning()
        .container("figlet")
        .count(5)
        .at(at),
    );
    (pulling, backoff)
}

/// An event object with the values that differ between two recordings (names, uids,
/// resourceVersions, creation times, the field manager) blanked; everything else, keys included,
/// must be equal.
fn event_shape(event: &Value) -> Value {
    let mut e = event.clone();
    for key in ["name", "uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            e["metadata"][key].is_string(),
            "metadata.{key} is a string: {event}"
        );
        e["metadata"][key] = Value::from("x");
    }
    if let Some(fields) = e["metadata"]["managedFields"].as_array_mut() {
        for f in fields {
            f["time"] = Value::from("x");
            f["manager"] = Value::from("x");
        }
    }
    e
}

/// The items of an event list, shapes sorted by reason.
fn event_items(list: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(event_shape)
        .collect();
    items.sort_by_key(|i| i["reason"].as_str().unwrap_or_default().to_owned());
    items
}

#[tokio::test]
async fn event_lists_match_the_apiserver() {
    let sim = simulator().await;
    record_captured_events(&sim);
    // Another pod's event, which the field selector leaves out.
    sim.record_event(
        "openfaas-fn",
        NewEvent::pod("other-xyz", "Pulling", "Pulling image").at(captured_at()),
    );
    for (target, name) in [
        (
            "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.name%3Dfiglet-abc",
            "events_list_by_pod.http",
        ),
        (
            "/apis/events.k8s.io/v1/namespaces/openfaas-fn/events?fieldSelector=regarding.name%3Dfiglet-abc",
            "events_v1_list_by_pod.http",
        ),
    ] {
        let want = fixture(name);
        let got = get(sim.addr(), target)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (got.status, got.header("content-type").map(str::to_owned)),
            (want.status, want.content_type),
            "{name}"
        );
        let (got, want) = (json(&got.text()), json(&want.body));
        assert_eq!(
            (&got["kind"], &got["apiVersion"]),
            (&want["kind"], &want["apiVersion"]),
            "{name}"
        );
        assert!(got["metadata"]["resourceVersion"].is_string(), "{name}");
        assert_eq!(event_items(&got), event_items(&want), "{name}");
    }
    // Both field selectors a client uses together, and one that no event matches.
    let both = "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3Dfiglet-abc";
    let got = get_json(&sim, both).await;
    assert_eq!(got["items"].as_array().map(Vec::len), Some(2));
    let all_pods = "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.kind%3DPod";
    let got = get_json(&sim, all_pods).await;
    assert_eq!(got["items"].as_array().map(Vec::len), Some(3));
    let nodes = "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.kind%3DNode";
    let got = get_json(&sim, nodes).await;
    assert_eq!(got["items"], serde_json::json!([]));
}

#[tokio::test]
async fn an_event_watch_matches_the_apiserver() {
    let sim = simulator().await;
    let (_, backoff) = record_captured_events(&sim);
    let list = get_json(&sim, "/api/v1/namespaces/openfaas-fn/events").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{list}"))
        .to_owned();
    let mut watch = open(
        sim.addr(),
        &format!(
            "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.name%3Dfiglet-abc&watch=true&resourceVersion={rv}"
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let want = fixture("events_watch.http");
    assert_eq!(
        (
            watch.status,
            watch.header("content-type").map(str::to_owned)
        ),
        (want.status, want.content_type)
    );
    // As captured: Started recorded (ADDED), then BackOff seen a sixth time (MODIFIED).
    let at = captured_at();
    sim.record_event(
        "openfaas-fn",
        NewEvent::pod("figlet-abc", "Started", "Started container figlet")
            .container("figlet")
            .at(at),
    );
    sim.record_event(
        "openfaas-fn",
        NewEvent::pod("elsewhere-abc", "Started", "Started container elsewhere").at(at),
    );
    sim.repeat_event("openfaas-fn", &backoff, at);
    let wait = Duration::from_secs(10);
    let got = [
        watch.next_message(wait).await,
        watch.next_message(wait).await,
    ];
    let wanted: Vec<Value> = want
        .body
        .lines()
        .filter(|l| !l.is_empty())
        .map(json)
        .collect();
    assert_eq!(wanted.len(), 2);
    for (got, want) in got.iter().zip(&wanted) {
        assert_eq!(got["type"], want["type"]);
        assert_eq!(event_shape(&got["object"]), event_shape(&want["object"]));
    }
    assert_eq!(got[1]["object"]["count"], 6);
    // The other pod's event never came: nothing more.
    let more = tokio::time::timeout(Duration::from_millis(300), watch.next_line()).await;
    assert!(more.is_err(), "unexpected watch event: {more:?}");
}

#[tokio::test]
async fn forbidden_events_match_the_apiserver() {
    let sim = simulator().await;
    record_captured_events(&sim);
    sim.forbid_events(true);
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/events",
        "events_list_forbidden.http",
    )
    .await;
    exact(
        &sim,
        "/api/v1/namespaces/openfaas-fn/events?fieldSelector=involvedObject.kind%3DPod",
        "events_list_forbidden.http",
    )
    .await;
    // A watch is refused for its own verb.
    let watch = get(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/events?watch=true",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(watch.status, 403);
    assert_eq!(
        json(&watch.text())["message"],
        "events is forbidden: User \"reader\" cannot watch resource \"events\" in API group \"\" in the namespace \"openfaas-fn\""
    );
    let v1 = get(
        sim.addr(),
        "/apis/events.k8s.io/v1/namespaces/openfaas-fn/events",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v1.status, 403);
    assert_eq!(json(&v1.text())["details"]["group"], "events.k8s.io");
    // Pods stay readable: only events are forbidden.
    assert_eq!(
        get(sim.addr(), "/api/v1/namespaces/openfaas-fn/pods")
            .await
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
    sim.forbid_events(false);
    assert_eq!(
        get(sim.addr(), "/api/v1/namespaces/openfaas-fn/events")
            .await
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
}

#[tokio::test]
async fn an_unsupported_field_selector_is_refused() {
    let sim = simulator().await;
    let res = get(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/events?fieldSelector=spec.nodeName%3Dn1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 400);
    let body = json(&res.text());
    assert_eq!(body["message"], "field label not supported: spec.nodeName");
    assert_eq!(body["reason"], "BadRequest");
}

/// The `Accept` header kube's `list_metadata` sends.
const METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// A metadata-only list (`PartialObjectMetadataList`, the apiserver's
/// `asPartialObjectMetadataList`) carries each pod's whole `metadata` and nothing else; an
/// existence selector (`faas_function`) selects every function pod.
#[tokio::test]
async fn metadata_only_lists_carry_the_pods_metadata() {
    let sim = simulator().await;
    sim.add_pod(
        "openfaas-fn",
        "nodeinfo-1",
        "nodeinfo",
        ContainerState::Running,
    );
    sim.create_pod(
        "openfaas-fn",
        "not-a-function",
        NewPod::function("x").state(ContainerState::Running),
    );
    sim.set_label("openfaas-fn", "not-a-function", "faas_function", "");
    let target = "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Dfiglet";
    let full = get_json(&sim, target).await;
    let res = get_with(sim.addr(), target, &[("Accept", METADATA_LIST)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    // The apiserver of the captures (1.24) answers plain JSON for a converted list.
    assert_eq!(res.header("content-type"), Some("application/json"));
    let partial = json(&res.text());
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
    assert_eq!(partial["apiVersion"], "meta.k8s.io/v1");
    assert!(partial["metadata"]["resourceVersion"].is_string());
    let items = partial["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{partial}"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "PartialObjectMetadata");
    assert_eq!(items[0]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(items[0]["metadata"], full["items"][0]["metadata"]);
    let keys: Vec<&String> = items[0]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["apiVersion", "kind", "metadata"],
        "no spec, no status"
    );
    // The captured pod's metadata has the same fields.
    let captured = json(&fixture("pods_list_by_label.http").body);
    let fields = |m: &Value| {
        let mut k: Vec<String> = m
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.retain(|k| k != "managedFields");
        k
    };
    assert_eq!(
        fields(&items[0]["metadata"]),
        fields(&captured["items"][0]["metadata"])
    );

    // Existence: every pod labelled faas_function (an empty value included), whatever its value.
    let exists = get_with(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function",
        &[("Accept", METADATA_LIST)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<Value> = json(&exists.text())["items"]
        .as_array()
        .map(|i| i.iter().map(|p| p["metadata"]["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["figlet-abc", "nodeinfo-1", "not-a-function"]);

    // A single pod's metadata; the list form asked of one object is not acceptable.
    let one = get_with(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods/figlet-abc",
        &[(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json(&one.text())["kind"], "PartialObjectMetadata");
    let wrong = get_with(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods/figlet-abc",
        &[("Accept", METADATA_LIST)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status, 406);
    // An alternative it can serve is taken when the first is not.
    let fallback = get_with(
        sim.addr(),
        "/api/v1/namespaces/openfaas-fn/pods/figlet-abc",
        &[(
            "Accept",
            "application/json;as=Table;g=meta.k8s.io;v=v1,application/json",
        )],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json(&fallback.text())["kind"], "Pod");
}

/// Lists page with `limit` and `continue` as the apiserver's do.
#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let sim = simulator().await;
    for i in 0..5 {
        sim.record_event(
            "openfaas-fn",
            NewEvent::pod(&format!("figlet-{i}"), "Pulling", "Pulling image").at(captured_at()),
        );
    }
    let mut names = Vec::new();
    let mut target = "/api/v1/namespaces/openfaas-fn/events?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = get_json(&sim, &target).await;
        pages += 1;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|e| e["involvedObject"]["name"].clone()));
        match page["metadata"]["continue"].as_str() {
            Some(token) => {
                assert!(
                    page["metadata"]["remainingItemCount"]
                        .as_u64()
                        .is_some_and(|n| n > 0)
                );
                let token: String = url_encode(token);
                target = format!("/api/v1/namespaces/openfaas-fn/events?limit=2&continue={token}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        ["figlet-0", "figlet-1", "figlet-2", "figlet-3", "figlet-4"]
    );
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
