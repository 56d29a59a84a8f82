//! The Kubernetes side of issue 12 beyond the conformance scenarios: how filters meet `tail`
//! and the look-back, the level written on lines, `stream` refused with a reason, and the
//! functions listing (metadata-only, paged).

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::{ContainerState, Fault, NewPod};
use logs_api::testing::get;
use logs_api::{Filter, Message, Request, Requester, Severity, Timestamp};
use support::SimBackend;

const NS: &str = "openfaas-fn";
const SECOND: i64 = 1_000_000_000;

async fn history(b: &SimBackend, r: Request) -> Vec<Message> {
    let s = b
        .requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"));
    tokio::time::timeout(Duration::from_secs(10), s.collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| panic!("history did not end"))
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("stream error: {e}")))
        .collect()
}

fn texts(ms: &[Message]) -> Vec<String> {
    ms.iter().map(|m| m.text.clone()).collect()
}

fn log_requests(b: &SimBackend, from: usize) -> Vec<String> {
    b.sim.requests()[from..]
        .iter()
        .filter(|r| r.contains("/log?"))
        .cloned()
        .collect()
}

/// Two pods, errors early, a long tail of other lines after them.
fn errors_then_noise(b: &SimBackend, base: i64) {
    for (p, pod) in ["f-a", "f-b"].iter().enumerate() {
        b.sim.add_pod(NS, pod, "f", ContainerState::Running);
        let p = p as i64;
        let mut lines = vec![(base + p, format!("ERROR {pod} failed"))];
        lines.extend((0..50).map(|i| (base + SECOND + i * 10 + p, format!("INFO {pod} {i}"))));
        let lines: Vec<(i64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
        b.sim.append(NS, pod, &lines);
    }
}

/// `tail=N` with a filter is the last N matching lines across pods: the kubelet's
/// `tailLines=N` (the last N lines of each pod) cannot give them, so it is not sent; without a
/// filter it is.
#[tokio::test]
async fn a_filter_with_tail_reads_past_the_last_n_lines() {
    let b = SimBackend::start().await;
    errors_then_noise(&b, Timestamp::now().unix_nanos() - 60 * SECOND);
    let mut r = Request::new(NS, "f");
    r.tail = Some(1);
    r.filter = Filter {
        level: Some(Severity::Error),
        ..Filter::default()
    };
    let before = b.sim.requests().len();
    assert_eq!(texts(&history(&b, r.clone()).await), ["ERROR f-b failed"]);
    let asked = log_requests(&b, before);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|q| !q.contains("tailLines")), "{asked:?}");
    r.tail = Some(5);
    assert_eq!(
        texts(&history(&b, r.clone()).await),
        ["ERROR f-a failed", "ERROR f-b failed"]
    );
    r.filter = Filter {
        grep: Some("f-a 4".to_owned()),
        ..Filter::default()
    };
    r.tail = Some(2);
    assert_eq!(
        texts(&history(&b, r.clone()).await),
        ["INFO f-a 48", "INFO f-a 49"]
    );
    // No filter: each pod is asked for its last N lines only.
    r.filter = Filter::default();
    let before = b.sim.requests().len();
    assert_eq!(texts(&history(&b, r).await), ["INFO f-a 49", "INFO f-b 49"]);
    let asked = log_requests(&b, before);
    assert!(asked.iter().all(|q| q.contains("tailLines=2")), "{asked:?}");
}

/// With a filter, `tail` no longer bounds what is read, so `--kube-max-age` does.
#[tokio::test]
async fn the_look_back_bounds_a_filtered_tail() {
    let b = SimBackend::with_args(logs_kubernetes::Args {
        max_age: Some(Duration::from_secs(30)),
        ..support::args()
    })
    .await;
    // Errors a minute ago, beyond the look-back; the noise within it.
    errors_then_noise(&b, Timestamp::now().unix_nanos() - 60 * SECOND);
    b.sim.append(
        NS,
        "f-a",
        &[(Timestamp::now().unix_nanos(), "ERROR f-a recent")],
    );
    let mut r = Request::new(NS, "f");
    r.tail = Some(5);
    r.filter = Filter {
        level: Some(Severity::Error),
        ..Filter::default()
    };
    let before = b.sim.requests().len();
    assert_eq!(texts(&history(&b, r.clone()).await), ["ERROR f-a recent"]);
    let asked = log_requests(&b, before);
    assert!(
        asked
            .iter()
            .all(|q| q.contains("sinceTime=") && !q.contains("tailLines")),
        "{asked:?}"
    );
    // Without a filter, `tail` bounds the read and the look-back does not apply.
    r.filter = Filter::default();
    r.tail = Some(1);
    let before = b.sim.requests().len();
    assert_eq!(texts(&history(&b, r).await), ["ERROR f-a recent"]);
    assert!(
        log_requests(&b, before)
            .iter()
            .all(|q| !q.contains("sinceTime=")),
    );
}

/// Lines carry the level they state (`logs_api::level::detect`), as a syslog name; a line that
/// states none has no `level` field (it still counts as `info` for `level=`).
#[tokio::test]
async fn lines_carry_the_level_they_state() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    let now = Timestamp::now().unix_nanos();
    b.sim.append(
        NS,
        "f-a",
        &[
            (now, "Forking fprocess."),
            (now + 1, "ERROR boom"),
            (now + 2, r#"{"level":"warn","msg":"slow"}"#),
            (now + 3, "ts=1 level=debug msg=x"),
        ],
    );
    let got = history(&b, Request::new(NS, "f")).await;
    let levels: Vec<Option<&str>> = got.iter().map(|m| m.level.as_deref()).collect();
    assert_eq!(levels, [None, Some("err"), Some("warning"), Some("debug")]);
    let server = logs_api::conformance::start(&b, Duration::from_secs(10)).await;
    let res = get(server.addr, "/system/logs?name=f")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = res.text();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4, "{body}");
    assert!(
        lines[0].ends_with(",\"text\":\"Forking fprocess.\"}"),
        "{body}"
    );
    assert!(
        lines[1].ends_with(",\"text\":\"ERROR boom\",\"level\":\"err\"}"),
        "{body}"
    );
}

/// `stream=` is refused before anything is read, saying it is this provider that cannot.
#[tokio::test]
async fn stream_is_refused_with_the_reason() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, "f-a", "f", ContainerState::Running);
    b.sim
        .append(NS, "f-a", &[(Timestamp::now().unix_nanos(), "secret line")]);
    assert!(!b.requester.capabilities().stream);
    let server = logs_api::conformance::start(&b, Duration::from_secs(10)).await;
    let before = b.sim.requests().len();
    for target in [
        "/system/logs?name=f&stream=stderr",
        "/system/logs?name=f&stream=stdout&follow=true",
    ] {
        let res = get(server.addr, target)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 422, "{target}");
        assert_eq!(
            res.text(),
            "could not parse the log request: stream is not supported by this provider\n"
        );
    }
    assert_eq!(b.sim.requests().len(), before, "nothing asked of the API");
}

async fn listing(server: &logs_api::RunningServer, query: &str) -> (u16, String) {
    let res = get(server.addr, &format!("/system/logs/functions{query}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (res.status, res.text())
}

/// `GET /system/logs/functions`: the function label's values on the namespace's pods now,
/// read metadata-only with an existence selector, page by page.
#[tokio::test]
async fn functions_are_the_labels_of_the_pods_now() {
    let b = SimBackend::start().await;
    // More pods than one page (500): 3 functions, one of them with most of the pods.
    for i in 0..520 {
        b.sim
            .add_pod(NS, &format!("bulk-{i:03}"), "bulk", ContainerState::Running);
    }
    b.sim
        .add_pod(NS, "figlet-1", "figlet", ContainerState::Running);
    b.sim
        .add_pod(NS, "nodeinfo-1", "nodeinfo", ContainerState::Unscheduled);
    // Not functions: no label, an empty one, another namespace, a deleted pod.
    b.sim.create_pod(
        NS,
        "plain",
        NewPod::function("x").state(ContainerState::Running),
    );
    b.sim.set_label(NS, "plain", "faas_function", "");
    b.sim.add_pod(
        "staging-fn",
        "staging-1",
        "staging-only",
        ContainerState::Running,
    );
    b.sim.add_pod(NS, "gone-1", "gone", ContainerState::Running);
    b.sim.delete_pod(NS, "gone-1");
    let server = logs_api::conformance::start(&b, Duration::from_secs(10)).await;
    let (status, body) = listing(&server, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "[\"bulk\",\"figlet\",\"nodeinfo\"]\n");
    let reads = b.sim.metadata_reads();
    assert_eq!(reads.len(), 2, "two pages: {reads:?}");
    assert!(reads[0].contains("labelSelector=faas_function") && reads[0].contains("limit=500"));
    assert!(reads[1].contains("continue="), "{reads:?}");
    let (status, body) = listing(&server, "?namespace=staging-fn").await;
    assert_eq!((status, body.as_str()), (200, "[\"staging-only\"]\n"));
    // The API failing: a 500 without its details.
    b.sim.fail_next(1, Fault::Internal);
    let (status, body) = listing(&server, "").await;
    assert_eq!((status, body.as_str()), (500, "function listing failed\n"));
}
