//! Pods with more than one container (a service-mesh sidecar, ...): the provider chooses the
//! function's container per pod, and a log the API refuses is neither mistaken for a container
//! that has not started nor asked for again and again. Against the API simulator, which answers
//! like the captured kube-apiserver (`400 a container name must be specified …` without
//! `container=`).

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::{ContainerState, Fault, NewPod};
use logs_api::{LogStream, Request, Requester};
use support::{Logs, SimBackend, capture_warnings};

const NS: &str = "openfaas-fn";
const WAIT: Duration = Duration::from_secs(10);
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

async fn query(b: &SimBackend, r: Request) -> LogStream {
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"))
}

/// The whole (non-follow) answer: (instance, text) per line.
async fn history(b: &SimBackend, name: &str) -> Vec<(String, String)> {
    let s = query(b, Request::new(NS, name)).await;
    tokio::time::timeout(WAIT, s.collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| panic!("history did not end"))
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("stream error: {e}")))
        .map(|m| (m.instance.to_string(), m.text))
        .collect()
}

async fn follow(b: &SimBackend, name: &str) -> LogStream {
    let mut r = Request::new(NS, name);
    r.follow = true;
    query(b, r).await
}

async fn next_text(s: &mut LogStream) -> String {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Pod log requests made so far for `pod`.
fn log_requests(b: &SimBackend, pod: &str) -> Vec<String> {
    b.sim
        .requests()
        .into_iter()
        .filter(|r| r.contains(&format!("/pods/{pod}/log?")))
        .collect()
}

/// Writes one line to each container of `pod` (the function's container gets `want`, every
/// other `sidecar <name>`), reads history then a follow, and checks that only the chosen
/// container's lines arrive and that every log request named it.
async fn reads_only(b: &SimBackend, function: &str, pod: &str, chosen: &str, others: &[&str]) {
    b.sim
        .append_to(NS, pod, chosen, &[(b.next_ts(), "function line")]);
    for other in others {
        b.sim.append_to(
            NS,
            pod,
            other,
            &[(b.next_ts(), &format!("sidecar {other}"))],
        );
    }
    assert_eq!(
        history(b, function).await,
        [(pod.to_owned(), "function line".to_owned())]
    );
    let mut live = follow(b, function).await;
    assert_eq!(next_text(&mut live).await, "function line");
    for other in others {
        b.sim
            .append_to(NS, pod, other, &[(b.next_ts(), "sidecar, live")]);
    }
    b.sim
        .append_to(NS, pod, chosen, &[(b.next_ts(), "function, live")]);
    assert_eq!(next_text(&mut live).await, "function, live");
    let extra = tokio::time::timeout(Duration::from_millis(300), live.next()).await;
    assert!(extra.is_err(), "a sidecar line leaked: {extra:?}");
    let asked = log_requests(b, pod);
    assert!(asked.len() >= 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|r| r.contains(&format!("container={chosen}&"))),
        "every log request names the container: {asked:?}"
    );
}

fn no_warnings(logs: &Logs) {
    assert_eq!(logs.warnings(), Vec::<String>::new());
}

#[tokio::test]
async fn the_container_named_like_the_function_is_read() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    // Linkerd injects its proxy after the function's container, Istio's goes first: both
    // ways round.
    b.sim.create_pod(
        NS,
        "meshfn-1",
        NewPod::function("meshfn").containers(&["meshfn", "linkerd-proxy"]),
    );
    reads_only(&b, "meshfn", "meshfn-1", "meshfn", &["linkerd-proxy"]).await;
    b.sim.create_pod(
        NS,
        "istiofn-1",
        NewPod::function("istiofn").containers(&["istio-proxy", "istiofn"]),
    );
    reads_only(&b, "istiofn", "istiofn-1", "istiofn", &["istio-proxy"]).await;
    no_warnings(&logs);
}

#[tokio::test]
async fn kube_container_flag_wins_and_other_functions_keep_their_rule() {
    let logs = capture_warnings();
    let b = SimBackend::with_args(logs_kubernetes::Args {
        container: Some("app".to_owned()),
        ..support::args()
    })
    .await;
    // The flag names a container that is not called like the function.
    b.sim.create_pod(
        NS,
        "custom-1",
        NewPod::function("custom").containers(&["custom", "app", "dapr"]),
    );
    reads_only(&b, "custom", "custom-1", "app", &["custom", "dapr"]).await;
    // A function whose pods have no such container is not broken by the flag.
    b.sim.create_pod(
        NS,
        "meshfn-1",
        NewPod::function("meshfn").containers(&["linkerd-proxy", "meshfn"]),
    );
    reads_only(&b, "meshfn", "meshfn-1", "meshfn", &["linkerd-proxy"]).await;
    no_warnings(&logs);
}

#[tokio::test]
async fn the_default_container_annotation_is_applied_by_the_provider() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    // Nothing is named like the function; the annotation (which the API server does not
    // apply) names the second container.
    b.sim.create_pod(
        NS,
        "annfn-1",
        NewPod::function("annfn")
            .containers(&["istio-proxy", "server"])
            .annotation(DEFAULT_CONTAINER, "server"),
    );
    reads_only(&b, "annfn", "annfn-1", "server", &["istio-proxy"]).await;
    no_warnings(&logs);
}

#[tokio::test]
async fn the_only_container_is_read_whatever_its_name() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim.create_pod(
        NS,
        "onlyfn-1",
        NewPod::function("onlyfn").containers(&["server"]),
    );
    reads_only(&b, "onlyfn", "onlyfn-1", "server", &[]).await;
    no_warnings(&logs);
}

#[tokio::test]
async fn otherwise_the_first_container_with_one_warning_per_pod() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim.create_pod(
        NS,
        "guessfn-1",
        NewPod::function("guessfn")
            .containers(&["web", "envoy"])
            .annotation(DEFAULT_CONTAINER, "gone"),
    );
    // History, a follow (its history and its watch), and history again: one pod, one warning.
    reads_only(&b, "guessfn", "guessfn-1", "web", &["envoy"]).await;
    assert_eq!(history(&b, "guessfn").await.len(), 2);
    let warned = logs.mentioning("guessfn-1");
    assert_eq!(warned.len(), 1, "{:?}", logs.warnings());
    assert!(
        warned[0].contains("reading the first one") && warned[0].contains("web"),
        "{warned:?}"
    );
    // Another pod of the same function gets its own warning.
    b.sim.create_pod(
        NS,
        "guessfn-2",
        NewPod::function("guessfn").containers(&["web", "envoy"]),
    );
    let _ = history(&b, "guessfn").await;
    assert_eq!(
        logs.mentioning("guessfn-2").len(),
        1,
        "{:?}",
        logs.warnings()
    );
    assert_eq!(logs.mentioning("guessfn-1").len(), 1);
}

/// What made issue 10's reporter see an empty `200`: the provider asked without `container=`
/// and took the `400` for "not started yet". It now always names the container.
#[tokio::test]
async fn a_sidecar_pod_never_gets_the_container_name_400() {
    let b = SimBackend::start().await;
    b.sim.create_pod(
        NS,
        "meshfn-1",
        NewPod::function("meshfn").containers(&["meshfn", "linkerd-proxy"]),
    );
    b.sim
        .append_to(NS, "meshfn-1", "meshfn", &[(b.next_ts(), "hello")]);
    assert_eq!(history(&b, "meshfn").await.len(), 1);
    let asked = log_requests(&b, "meshfn-1");
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r.contains("container=meshfn")),
        "{asked:?}"
    );
}

/// A container that waits for its first start is known from the pod object: no log request is
/// made for it, in history or while following, until the pod says it runs.
#[tokio::test]
async fn a_container_not_started_is_not_asked_for() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim.create_pod(
        NS,
        "slow-1",
        NewPod::function("slow")
            .containers(&["slow", "linkerd-proxy"])
            .init_containers(&["linkerd-init"])
            .state(ContainerState::Waiting),
    );
    assert!(history(&b, "slow").await.is_empty());
    let mut live = follow(&b, "slow").await;
    // Reading, long enough for the old once-a-second retry to have asked twice.
    let quiet = tokio::time::timeout(Duration::from_millis(2200), live.next()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    assert_eq!(log_requests(&b, "slow-1"), Vec::<String>::new());
    b.sim.set_state(NS, "slow-1", ContainerState::Running);
    b.sim
        .append_to(NS, "slow-1", "slow", &[(b.next_ts(), "started")]);
    assert_eq!(next_text(&mut live).await, "started");
    no_warnings(&logs);
}

/// A `4xx` from the log endpoint for a container the pod object says has a log: logged at
/// `warn` with the API's message; history goes on without that pod; a follow does not ask
/// again until the pod changes.
#[tokio::test]
async fn a_refused_log_is_a_warning_not_a_retry_loop() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    b.sim.add_pod(NS, "f-b", "f", ContainerState::Running);
    b.sim.append(NS, "f-a", &[(b.next_ts(), "from a")]);
    b.sim.append(NS, "f-b", &[(b.next_ts(), "from b")]);
    // History: f-a's log is refused.
    b.sim
        .fail_logs_of(NS, "f-a", 1, Fault::ContainerUnavailable);
    assert_eq!(
        history(&b, "f").await,
        [("f-b".to_owned(), "from b".to_owned())]
    );
    let message = "container \"f\" in pod \"f-a\" is not available";
    assert_eq!(logs.mentioning(message).len(), 1, "{:?}", logs.warnings());

    // Follow: refused for its history and again for its live stream.
    b.sim
        .fail_logs_of(NS, "f-a", 2, Fault::ContainerUnavailable);
    let before = log_requests(&b, "f-a").len();
    let mut live = follow(&b, "f").await;
    assert_eq!(next_text(&mut live).await, "from b");
    // Keep reading (the live part runs while the response is read), long enough for the old
    // once-a-second retry to have asked twice more.
    let quiet = tokio::time::timeout(Duration::from_millis(2200), live.next()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    // f-a was asked for its history and its live stream, then left alone.
    assert_eq!(
        log_requests(&b, "f-a").len(),
        before + 2,
        "{:#?}",
        b.sim.requests()
    );
    assert_eq!(logs.mentioning(message).len(), 3, "{:#?}", logs.warnings());
    // The pod changes (a status update): asked again, and its lines arrive.
    b.sim.set_state(NS, "f-a", ContainerState::Running);
    assert_eq!(next_text(&mut live).await, "from a");
    b.sim.append(NS, "f-a", &[(b.next_ts(), "a, live")]);
    assert_eq!(next_text(&mut live).await, "a, live");
}

/// The kubelet has not reported the container yet (no status: unknown, not "not started"): it
/// is asked, and its `400` is a warning with the API's message, not an empty success taken for
/// granted nor a failed request.
#[tokio::test]
async fn a_container_without_status_is_asked_and_its_400_warned() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Scheduled);
    b.sim.add_pod(NS, "f-b", "f", ContainerState::Running);
    b.sim.append(NS, "f-b", &[(b.next_ts(), "from b")]);
    assert_eq!(history(&b, "f").await.len(), 1);
    assert_eq!(log_requests(&b, "f-a").len(), 1);
    assert_eq!(
        logs.mentioning("container \"f\" in pod \"f-a\" is not available")
            .len(),
        1,
        "{:?}",
        logs.warnings()
    );
}
