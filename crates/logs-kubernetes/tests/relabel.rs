//! Pods that change function while followed (issue 10 item 3): `kubectl label pod figlet-ghi
//! faas_function=other --overwrite`. A label-selector watch sees the pod leave as `DELETED`
//! and join as `ADDED` (the API server's watch cache; the simulator models it). A pod that
//! leaves a follow stops contributing at once; a pod that joins contributes only the lines from
//! the moment the follow began, never its whole log, whatever `tail` said.

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::ContainerState;
use logs_api::{LogStream, Request, Requester, Timestamp};
use support::{SimBackend, capture_warnings};

const NS: &str = "openfaas-fn";
const WAIT: Duration = Duration::from_secs(10);
const SECOND: i64 = 1_000_000_000;

async fn follow(b: &SimBackend, name: &str, tail: Option<usize>) -> LogStream {
    let mut r = Request::new(NS, name);
    r.follow = true;
    r.tail = tail;
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"))
}

async fn next(s: &mut LogStream) -> (String, String) {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => (m.instance.to_string(), m.text),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// No further message within a short while (used only after everything expected arrived).
async fn nothing_more(s: &mut LogStream) {
    let extra = tokio::time::timeout(Duration::from_millis(500), s.next()).await;
    assert!(extra.is_err(), "unexpected extra item: {extra:?}");
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pair(pod: &str, text: &str) -> (String, String) {
    (pod.to_owned(), text.to_owned())
}

#[tokio::test]
async fn a_pod_relabelled_out_of_a_function_leaves_its_follow() {
    let b = SimBackend::start().await;
    for pod in ["figlet-abc", "figlet-ghi"] {
        b.sim.add_pod(NS, pod, "figlet", ContainerState::Running);
    }
    let mut figlet = follow(&b, "figlet", None).await;
    b.sim
        .append(NS, "figlet-ghi", &[(b.next_ts(), "ghi before")]);
    assert_eq!(next(&mut figlet).await, pair("figlet-ghi", "ghi before"));
    wait_for("figlet-ghi's log stream", || {
        b.sim.open_log_streams(NS, "figlet-ghi") == 1
    })
    .await;

    b.sim.set_label(NS, "figlet-ghi", "faas_function", "other");
    // The follow closes the pod's log stream (as for a deleted pod) and does not reopen it.
    wait_for("figlet-ghi's log stream to close", || {
        b.sim.open_log_streams(NS, "figlet-ghi") == 0
    })
    .await;
    b.sim
        .append(NS, "figlet-ghi", &[(b.next_ts(), "ghi, now other's")]);
    b.sim
        .append(NS, "figlet-abc", &[(b.next_ts(), "abc after")]);
    assert_eq!(next(&mut figlet).await, pair("figlet-abc", "abc after"));
    nothing_more(&mut figlet).await;
    assert_eq!(b.sim.open_log_streams(NS, "figlet-ghi"), 0);

    // Labelled back: it rejoins where its reader stopped, so nothing comes twice; the lines it
    // wrote meanwhile are after the follow began, like any joining pod's.
    b.sim.set_label(NS, "figlet-ghi", "faas_function", "figlet");
    assert_eq!(
        next(&mut figlet).await,
        pair("figlet-ghi", "ghi, now other's")
    );
    b.sim.append(NS, "figlet-ghi", &[(b.next_ts(), "ghi back")]);
    assert_eq!(next(&mut figlet).await, pair("figlet-ghi", "ghi back"));
    nothing_more(&mut figlet).await;
}

/// Issue 10's case: `name=figlet&follow=true` and `name=other&follow=true&tail=1` run while
/// figlet-ghi is relabelled to `other`. figlet's follow loses the pod; other's gets only the
/// pod's lines from its own start on, exact to the nanosecond although `sinceTime` is whole
/// seconds, and its `tail=1` history is untouched.
#[tokio::test]
async fn a_pod_joining_a_follow_brings_only_lines_since_the_follow_began() {
    let logs = capture_warnings();
    let b = SimBackend::start().await;
    b.sim
        .add_pod(NS, "figlet-ghi", "figlet", ContainerState::Running);
    b.sim
        .add_pod(NS, "other-1", "other", ContainerState::Running);
    let old = b.next_ts() - 10 * SECOND;
    b.sim.append(
        NS,
        "figlet-ghi",
        &[(old, "ghi old 1"), (old + 1, "ghi old 2")],
    );
    b.sim
        .append(NS, "other-1", &[(old + 2, "o1"), (old + 3, "o2")]);
    let mut figlet = follow(&b, "figlet", None).await;
    assert_eq!(next(&mut figlet).await, pair("figlet-ghi", "ghi old 1"));
    assert_eq!(next(&mut figlet).await, pair("figlet-ghi", "ghi old 2"));

    // Start other's follow early in a second, so that its start and a line stamped just before
    // it share that second (what sinceTime alone cannot tell apart).
    let now = Timestamp::now().unix_nanos();
    if now.rem_euclid(SECOND) > SECOND / 4 {
        let wait = SECOND - now.rem_euclid(SECOND) + SECOND / 50;
        tokio::time::sleep(Duration::from_nanos(u64::try_from(wait).unwrap_or(0))).await;
    }
    let before = Timestamp::now().unix_nanos();
    let mut other = follow(&b, "other", Some(1)).await;
    let after = Timestamp::now().unix_nanos();
    assert_eq!(
        before.div_euclid(SECOND),
        after.div_euclid(SECOND),
        "the follow did not start within one second; the check below needs it"
    );
    assert_eq!(next(&mut other).await, pair("other-1", "o2"));

    // Still figlet's: a line from just before other's follow began (same second), and one after.
    b.sim.append(
        NS,
        "figlet-ghi",
        &[
            (before - 1, "ghi just before"),
            (b.next_ts(), "ghi between"),
        ],
    );
    assert_eq!(
        next(&mut figlet).await,
        pair("figlet-ghi", "ghi just before")
    );
    assert_eq!(next(&mut figlet).await, pair("figlet-ghi", "ghi between"));

    b.sim.set_label(NS, "figlet-ghi", "faas_function", "other");
    // other gets the pod's lines from its start on: not the old ones, not the one a nanosecond
    // before, not all of them as if tail did not exist.
    assert_eq!(next(&mut other).await, pair("figlet-ghi", "ghi between"));
    wait_for("figlet-ghi to leave figlet's follow", || {
        b.sim.open_log_streams(NS, "figlet-ghi") == 1
    })
    .await;
    b.sim.append(NS, "figlet-ghi", &[(b.next_ts(), "ghi live")]);
    assert_eq!(next(&mut other).await, pair("figlet-ghi", "ghi live"));
    nothing_more(&mut other).await;
    nothing_more(&mut figlet).await;
    // The API was asked from the whole second (all it keeps); the provider cut the rest.
    let asked: Vec<String> = b
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.contains("/pods/figlet-ghi/log?") && r.contains("follow=true"))
        .collect();
    let second = k8s_openapi::jiff::Timestamp::from_second(before.div_euclid(SECOND))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        asked
            .iter()
            .any(|r| r.contains(&format!("sinceTime={second}"))),
        "{second}: {asked:?}"
    );
    assert_eq!(logs.warnings(), Vec::<String>::new());
}

/// The pod is relabelled while the API server is away and the watch history it would resume
/// from is compacted: the watcher must list again, and a pod missing from that list has left
/// (the watcher sends no event for it). Seen through `--kube-max-pods`: a pod wrongly kept
/// would keep its place, and a new pod would be skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_missing_from_a_relist_has_left() {
    let b = SimBackend::with_args(logs_kubernetes::Args {
        max_pods: 2,
        ..support::args()
    })
    .await;
    b.sim
        .add_pod(NS, "figlet-abc", "figlet", ContainerState::Running);
    b.sim
        .add_pod(NS, "figlet-ghi", "figlet", ContainerState::Waiting);
    let mut figlet = follow(&b, "figlet", None).await;
    b.sim
        .append(NS, "figlet-abc", &[(b.next_ts(), "abc before")]);
    assert_eq!(next(&mut figlet).await, pair("figlet-abc", "abc before"));

    b.sim.stop().await;
    b.sim.set_label(NS, "figlet-ghi", "faas_function", "other");
    b.sim.compact();
    b.sim
        .resume()
        .await
        .unwrap_or_else(|e| panic!("resume: {e}"));
    let lists = || {
        b.sim
            .requests()
            .iter()
            .filter(|r| r.contains("/pods?") && !r.contains("watch=true"))
            .count()
    };
    // The first list was the history's, the second the watcher's; a third is the re-list.
    wait_for("the watcher to list again", || lists() >= 3).await;
    b.sim
        .add_pod(NS, "figlet-new", "figlet", ContainerState::Running);
    b.sim.append(NS, "figlet-new", &[(b.next_ts(), "new pod")]);
    b.sim
        .append(NS, "figlet-abc", &[(b.next_ts(), "abc after")]);
    let mut got = vec![next(&mut figlet).await, next(&mut figlet).await];
    got.sort();
    assert_eq!(
        got,
        [
            pair("figlet-abc", "abc after"),
            pair("figlet-new", "new pod")
        ]
    );
    nothing_more(&mut figlet).await;
}
