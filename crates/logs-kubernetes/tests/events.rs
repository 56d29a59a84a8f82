//! Kubernetes Events of a function's pods among its log lines (issue 12): `events=true` or
//! `--kube-events`, history and follow, repeated events once per occurrence, which pods'
//! events are the function's, filters, and a service account that may not read events.

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube_simulator::{ContainerState, Fault, NewEvent, NewPod};
use logs_api::{Filter, LogStream, Message, Request, Requester, Severity, Timestamp};
use support::{SimBackend, capture_warnings};

const NS: &str = "openfaas-fn";
const WAIT: Duration = Duration::from_secs(10);
const SECOND: i64 = 1_000_000_000;
/// A pod as faas-netes' Deployment names it: `<function>-<pod-template-hash>-<suffix>`.
const POD: &str = "figlet-7d9c8b6f5-x2k4q";
const BACKOFF: &str =
    "Back-off restarting failed container figlet in pod figlet-7d9c8b6f5-x2k4q_openfaas-fn(1234)";

/// 2026-01-01T00:00:00Z plus `nanos`, in Unix nanoseconds.
fn t(nanos: i64) -> i64 {
    1_767_225_600_000_000_000 + nanos
}

fn request(name: &str, events: Option<bool>) -> Request {
    let mut r = Request::new(NS, name);
    r.events = events;
    r
}

fn following(mut r: Request) -> Request {
    r.follow = true;
    r
}

async fn query(b: &SimBackend, r: Request) -> LogStream {
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"))
}

async fn history(b: &SimBackend, r: Request) -> Vec<Message> {
    let s = query(b, r).await;
    tokio::time::timeout(WAIT, s.collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| panic!("history did not end"))
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("stream error: {e}")))
        .collect()
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

async fn next(s: &mut LogStream) -> Message {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn next_n(s: &mut LogStream, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next(s).await);
    }
    out
}

/// No further message within a short while (used only after everything expected arrived).
async fn nothing_more(s: &mut LogStream) {
    let extra = tokio::time::timeout(Duration::from_millis(700), s.next()).await;
    assert!(extra.is_err(), "unexpected extra item: {extra:?}");
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event_watches(b: &SimBackend) -> usize {
    b.sim
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("/api/v1/namespaces/{NS}/events?")))
        .filter(|r| r.contains("watch=true"))
        .count()
}

/// Polls the follow `s` (its live part starts once its history is read to the end) until
/// `watches` event watches were opened on the simulator, so what is recorded next is live.
/// Nothing may arrive meanwhile.
async fn until_watched(s: &mut LogStream, b: &SimBackend, watches: usize) {
    let start = std::time::Instant::now();
    while event_watches(b) < watches {
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for the event watch"
        );
        if let Ok(item) = tokio::time::timeout(Duration::from_millis(20), s.next()).await {
            panic!("unexpected item while waiting for the event watch: {item:?}");
        }
    }
}

fn floor_second(nanos: i64) -> Timestamp {
    Timestamp::from_unix_nanos(nanos - nanos.rem_euclid(SECOND))
}

fn is_event(m: &Message) -> bool {
    m.source == Some(Message::SOURCE_EVENT)
}

/// Events must look like this in every answer: the pod as instance, `"source":"event"`,
/// `warning` or `info`.
fn check_event(m: &Message, pod: &str, warning: bool) {
    assert!(is_event(m), "{m:?}");
    assert_eq!(&*m.instance, pod, "{m:?}");
    assert_eq!(&*m.name, "figlet");
    assert_eq!(&*m.namespace, NS);
    assert_eq!(
        m.level.as_deref(),
        Some(if warning { "warning" } else { "info" }),
        "{m:?}"
    );
    assert!(m.text.starts_with("[event] "), "{m:?}");
    assert_eq!(m.stream, None);
}

/// A crash-looping figlet: scheduled (by the scheduler, microsecond `eventTime`), its image
/// pulled (kubelet, whole seconds), two lines, backing off (three times so far), one more line.
/// Returns the BackOff event's name.
fn crash_loop(b: &SimBackend) -> String {
    b.sim.add_pod(NS, POD, "figlet", ContainerState::Running);
    b.sim.record_event(
        NS,
        NewEvent::pod(
            POD,
            "Scheduled",
            &format!("Successfully assigned {NS}/{POD} to n1"),
        )
        .scheduler()
        .at(t(SECOND / 2)),
    );
    b.sim.record_event(
        NS,
        NewEvent::pod(
            POD,
            "Pulling",
            "Pulling image \"ghcr.io/openfaas/figlet:latest\"",
        )
        .container("figlet")
        .at(t(SECOND)),
    );
    b.sim.append(
        NS,
        POD,
        &[
            (t(SECOND + SECOND / 2), "Forking fprocess."),
            (
                t(2 * SECOND + SECOND / 2),
                "ERROR cannot open /etc/figlet.conf",
            ),
        ],
    );
    let backoff = b.sim.record_event(
        NS,
        NewEvent::pod(POD, "BackOff", BACKOFF)
            .warning()
            .container("figlet")
            .count(3)
            .at(t(3 * SECOND)),
    );
    b.sim.append(
        NS,
        POD,
        &[(t(3 * SECOND + SECOND / 2), "Forking fprocess.")],
    );
    backoff
}

const SCHEDULED: &str =
    "[event] Scheduled: Successfully assigned openfaas-fn/figlet-7d9c8b6f5-x2k4q to n1";
const PULLING: &str = "[event] Pulling: Pulling image \"ghcr.io/openfaas/figlet:latest\"";

fn backoff_text(count: u32) -> String {
    if count > 1 {
        format!("[event] BackOff: {BACKOFF} (x{count})")
    } else {
        format!("[event] BackOff: {BACKOFF}")
    }
}

#[tokio::test]
async fn history_merges_events_with_lines_in_time_order() {
    let b = SimBackend::start().await;
    crash_loop(&b);
    let got = history(&b, request("figlet", Some(true))).await;
    assert_eq!(
        texts(&got),
        [
            SCHEDULED,
            PULLING,
            "Forking fprocess.",
            "ERROR cannot open /etc/figlet.conf",
            &backoff_text(3),
            "Forking fprocess.",
        ]
    );
    check_event(&got[0], POD, false);
    check_event(&got[1], POD, false);
    check_event(&got[4], POD, true);
    // The scheduler's microseconds, the kubelet's whole seconds: each event at its last
    // occurrence.
    assert_eq!(got[0].timestamp, Timestamp::from_unix_nanos(t(SECOND / 2)));
    assert_eq!(got[1].timestamp, Timestamp::from_unix_nanos(t(SECOND)));
    assert_eq!(got[4].timestamp, Timestamp::from_unix_nanos(t(3 * SECOND)));
    // Lines are no events; they carry the level they state, none when they state none.
    for line in [&got[2], &got[3], &got[5]] {
        assert_eq!(line.source, None, "{line:?}");
        assert_eq!(&*line.instance, POD);
    }
    assert_eq!(got[2].level, None);
    assert_eq!(got[3].level.as_deref(), Some("err"));

    // Without `events=true` (and no flag): the lines only, and no events request at all.
    for events in [None, Some(false)] {
        let before = b.sim.requests().len();
        let got = history(&b, request("figlet", events)).await;
        assert!(got.iter().all(|m| !is_event(m)), "{events:?}: {got:?}");
        assert_eq!(got.len(), 3, "{events:?}");
        assert!(
            !b.sim.requests()[before..]
                .iter()
                .any(|r| r.contains("/events")),
            "events read though not asked for"
        );
    }
}

#[tokio::test]
async fn the_flag_turns_events_on_and_a_request_turns_them_off() {
    let b = SimBackend::with_args(logs_kubernetes::Args {
        events: true,
        ..support::args()
    })
    .await;
    crash_loop(&b);
    let on = history(&b, request("figlet", None)).await;
    assert_eq!(on.iter().filter(|m| is_event(m)).count(), 3, "{on:?}");
    let on = history(&b, request("figlet", Some(true))).await;
    assert_eq!(on.iter().filter(|m| is_event(m)).count(), 3, "{on:?}");
    let off = history(&b, request("figlet", Some(false))).await;
    assert_eq!(texts(&off).len(), 3);
    assert!(off.iter().all(|m| !is_event(m)), "{off:?}");
    // Following too.
    let mut s = query(&b, following(request("figlet", Some(false)))).await;
    assert_eq!(
        next_n(&mut s, 3)
            .await
            .iter()
            .filter(|m| is_event(m))
            .count(),
        0
    );
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet")
            .at(Timestamp::now().unix_nanos()),
    );
    b.sim
        .append(NS, POD, &[(Timestamp::now().unix_nanos(), "after")]);
    assert_eq!(next(&mut s).await.text, "after");
    nothing_more(&mut s).await;
}

/// A repeated event is one object whose count goes up: the history shows it once with its
/// count; following, each increase is one message (several occurrences folded into one update
/// are one message, with the new count), an update without a new occurrence none.
#[tokio::test]
async fn repeated_events_appear_once_per_occurrence() {
    let b = SimBackend::start().await;
    let backoff = crash_loop(&b);
    let scheduling = b.sim.record_event(
        NS,
        NewEvent::pod(
            POD,
            "FailedScheduling",
            "0/1 nodes are available: 1 Insufficient memory.",
        )
        .warning()
        .scheduler()
        .at(t(SECOND / 4)),
    );
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    let past = next_n(&mut s, 7).await;
    assert_eq!(
        past.iter().filter(|m| m.text == backoff_text(3)).count(),
        1,
        "{past:?}"
    );
    assert_eq!(
        past[0].text,
        "[event] FailedScheduling: 0/1 nodes are available: 1 Insufficient memory."
    );
    until_watched(&mut s, &b, 1).await;

    let now = Timestamp::now().unix_nanos();
    b.sim.repeat_event(NS, &backoff, now);
    let again = next(&mut s).await;
    check_event(&again, POD, true);
    assert_eq!(again.text, backoff_text(4));
    assert_eq!(again.timestamp, floor_second(now));
    // An update that is no new occurrence (its message changed): nothing.
    b.sim.edit_event_message(NS, &backoff, BACKOFF);
    nothing_more(&mut s).await;
    // Two occurrences the API folded into one update: one message, with the count.
    let later = Timestamp::now().unix_nanos();
    b.sim.repeat_event_by(NS, &backoff, 2, later);
    let folded = next(&mut s).await;
    assert_eq!(folded.text, backoff_text(6));
    assert_eq!(folded.timestamp, floor_second(later));
    // The scheduler's series: its count and last observed time (microseconds).
    let observed = Timestamp::now().unix_nanos();
    b.sim.repeat_event(NS, &scheduling, observed);
    let series = next(&mut s).await;
    assert_eq!(
        series.text,
        "[event] FailedScheduling: 0/1 nodes are available: 1 Insufficient memory. (x2)"
    );
    assert_eq!(
        series.timestamp,
        Timestamp::from_unix_nanos(observed - observed.rem_euclid(1_000))
    );
    // An event that expires (its TTL): nothing; a new one: once.
    b.sim.delete_event(NS, &backoff);
    let killing = b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet")
            .container("figlet")
            .at(Timestamp::now().unix_nanos()),
    );
    let new = next(&mut s).await;
    check_event(&new, POD, false);
    assert_eq!(new.text, "[event] Killing: Stopping container figlet");
    nothing_more(&mut s).await;
    // A later history shows each event object once, at its last occurrence (the kubelet's
    // Killing, whole seconds, may sort before the scheduler's microseconds of the same second).
    let all = history(&b, request("figlet", Some(true))).await;
    assert!(
        all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "{all:?}"
    );
    let mut events: Vec<&str> = all
        .iter()
        .filter(|m| is_event(m))
        .map(|m| m.text.as_str())
        .collect();
    events.sort_unstable();
    assert_eq!(
        events,
        [
            "[event] FailedScheduling: 0/1 nodes are available: 1 Insufficient memory. (x2)",
            "[event] Killing: Stopping container figlet",
            PULLING,
            SCHEDULED,
        ]
    );
    assert!(!killing.is_empty());
}

/// The issue's case: a pod in a crash loop shows its BackOff events among its lines, in the
/// history and live.
#[tokio::test]
async fn a_follow_sees_a_new_backoff_among_the_lines() {
    let b = SimBackend::start().await;
    let backoff = crash_loop(&b);
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    let past = next_n(&mut s, 6).await;
    assert_eq!(past[4].text, backoff_text(3));
    until_watched(&mut s, &b, 1).await;
    // The container restarts, fails again, backs off again.
    b.sim.restart(NS, POD);
    b.sim.append(
        NS,
        POD,
        &[(Timestamp::now().unix_nanos(), "Forking fprocess.")],
    );
    assert_eq!(next(&mut s).await.text, "Forking fprocess.");
    b.sim.append(
        NS,
        POD,
        &[(
            Timestamp::now().unix_nanos(),
            "ERROR cannot open /etc/figlet.conf",
        )],
    );
    assert_eq!(
        next(&mut s).await.text,
        "ERROR cannot open /etc/figlet.conf"
    );
    b.sim
        .repeat_event(NS, &backoff, Timestamp::now().unix_nanos());
    let live = next(&mut s).await;
    check_event(&live, POD, true);
    assert_eq!(live.text, backoff_text(4));
    b.sim.append(
        NS,
        POD,
        &[(Timestamp::now().unix_nanos(), "Forking fprocess.")],
    );
    assert_eq!(next(&mut s).await.text, "Forking fprocess.");
    nothing_more(&mut s).await;
}

/// Which pods' events are the function's: its labelled pods, and pods gone whose names are the
/// function's Deployment's; never another function's, another namespace's, or a pod named
/// like the function's that carries another label.
#[tokio::test]
async fn another_functions_events_never_appear() {
    let b = SimBackend::start().await;
    let at = |s: i64| t(s * SECOND);
    // figlet's pods: one made by its Deployment, one by hand (labelled, any name).
    b.sim.add_pod(NS, POD, "figlet", ContainerState::Running);
    b.sim
        .add_pod(NS, "figlet-manual", "figlet", ContainerState::Running);
    // figlet-v2's pod: its name starts with "figlet-" too.
    let v2 = "figlet-v2-5f6d7c8b9-bcdfg";
    b.sim.add_pod(NS, v2, "figlet-v2", ContainerState::Running);
    // Named like figlet's Deployment's pods but labelled for another function.
    let relabelled = "figlet-7d9c8b6f5-wxz24";
    b.sim
        .add_pod(NS, relabelled, "other", ContainerState::Running);
    // Unlabelled, not a Deployment's name.
    b.sim.create_pod(
        NS,
        "figlet-debug",
        NewPod::function("x").state(ContainerState::Running),
    );
    b.sim.set_label(NS, "figlet-debug", "faas_function", "");
    // Gone: a figlet pod replaced earlier, and a figlet-v2 one.
    let gone = "figlet-5f6d7c8b9-bcdfg";
    let gone_v2 = "figlet-v2-7d9c8b6f5-x2k4q";
    let record = |pod: &str, reason: &str, s: i64| {
        b.sim.record_event(
            NS,
            NewEvent::pod(pod, reason, &format!("{reason} of {pod}")).at(at(s)),
        );
    };
    record(POD, "Started", 1);
    record("figlet-manual", "Started", 2);
    record(v2, "Started", 3);
    record(relabelled, "Started", 4);
    record("figlet-debug", "Started", 5);
    record(gone, "Killing", 6);
    record(gone_v2, "Killing", 7);
    // The same pod name in another namespace.
    b.sim.record_event(
        "staging-fn",
        NewEvent::pod(POD, "Started", "Started in staging").at(at(8)),
    );
    let instances = |ms: &[Message]| -> Vec<String> {
        ms.iter()
            .filter(|m| is_event(m))
            .map(|m| m.instance.to_string())
            .collect()
    };
    assert_eq!(
        instances(&history(&b, request("figlet", Some(true))).await),
        [POD, "figlet-manual", gone]
    );
    // The pod lookups were metadata-only gets of the Deployment-named pods figlet does not
    // list, never of another function's pods.
    let looked_up = b.sim.metadata_reads();
    for pod in [gone, relabelled] {
        assert!(
            looked_up
                .iter()
                .any(|r| r.ends_with(&format!("/pods/{pod}"))),
            "{looked_up:?}"
        );
    }
    for pod in [v2, gone_v2, "figlet-debug", POD, "figlet-manual"] {
        assert!(
            !looked_up
                .iter()
                .any(|r| r.ends_with(&format!("/pods/{pod}"))),
            "{pod} looked up: {looked_up:?}"
        );
    }
    let v2_events = history(&b, request("figlet-v2", Some(true))).await;
    assert_eq!(instances(&v2_events), [v2, gone_v2]);
    assert!(v2_events.iter().all(|m| &*m.name == "figlet-v2"));
    // `instance` filters events as it filters lines.
    let mut one = request("figlet", Some(true));
    one.instance = Some(POD.into());
    assert_eq!(instances(&history(&b, one).await), [POD]);

    // Following: only figlet's new events; a pod relabelled away stops counting as figlet's.
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    assert_eq!(next_n(&mut s, 3).await.len(), 3);
    until_watched(&mut s, &b, 1).await;
    wait_for("figlet's log streams", || {
        b.sim.open_log_streams(NS, POD) == 1
    })
    .await;
    let now = || Timestamp::now().unix_nanos();
    for pod in [v2, relabelled, "figlet-debug", gone_v2] {
        b.sim.record_event(
            NS,
            NewEvent::pod(pod, "Unhealthy", "Readiness probe failed")
                .warning()
                .at(now()),
        );
    }
    b.sim.record_event(
        "staging-fn",
        NewEvent::pod(POD, "Unhealthy", "Readiness probe failed").at(now()),
    );
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Unhealthy", "Readiness probe failed")
            .warning()
            .at(now()),
    );
    let m = next(&mut s).await;
    check_event(&m, POD, true);
    nothing_more(&mut s).await;
    b.sim.set_label(NS, POD, "faas_function", "other");
    wait_for("the relabelled pod's stream to close", || {
        b.sim.open_log_streams(NS, POD) == 0
    })
    .await;
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet").at(now()),
    );
    b.sim.record_event(
        NS,
        NewEvent::pod("figlet-manual", "Killing", "Stopping container figlet").at(now()),
    );
    let m = next(&mut s).await;
    assert_eq!(&*m.instance, "figlet-manual");
    nothing_more(&mut s).await;
}

/// A pod that appears while following: its first events may come before the pod watch says it
/// joined; a pod deleted while following: its last events come after. Both are the function's.
#[tokio::test]
async fn events_of_pods_joining_and_leaving_a_follow() {
    let b = SimBackend::start().await;
    b.sim.add_pod(NS, POD, "figlet", ContainerState::Running);
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    until_watched(&mut s, &b, 1).await;
    let now = || Timestamp::now().unix_nanos();
    let new_pod = "figlet-7d9c8b6f5-bcdfg";
    b.sim.create_pod(
        NS,
        new_pod,
        NewPod::function("figlet").state(ContainerState::Unscheduled),
    );
    b.sim.record_event(
        NS,
        NewEvent::pod(new_pod, "Scheduled", "Successfully assigned")
            .scheduler()
            .at(now()),
    );
    let m = next(&mut s).await;
    check_event(&m, new_pod, false);
    b.sim.delete_pod(NS, POD);
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet").at(now()),
    );
    let m = next(&mut s).await;
    check_event(&m, POD, false);
    assert_eq!(m.text, "[event] Killing: Stopping container figlet");
    nothing_more(&mut s).await;
}

/// Filters apply to events as to lines: `level` by the event's type (Warning is `warning`,
/// Normal is `info`), `grep`/`regexp` on the event's text, before `tail`, and while following.
#[tokio::test]
async fn filters_apply_to_events() {
    let b = SimBackend::start().await;
    crash_loop(&b);
    let with = |f: Filter, tail: Option<usize>| {
        let mut r = request("figlet", Some(true));
        r.filter = f;
        r.tail = tail;
        r
    };
    let level = |s| Filter {
        level: Some(s),
        ..Filter::default()
    };
    let grep = |g: &str| Filter {
        grep: Some(g.to_owned()),
        ..Filter::default()
    };
    assert_eq!(
        texts(&history(&b, with(level(Severity::Warning), None)).await),
        ["ERROR cannot open /etc/figlet.conf", &backoff_text(3)]
    );
    assert_eq!(
        texts(&history(&b, with(level(Severity::Error), None)).await),
        ["ERROR cannot open /etc/figlet.conf"]
    );
    assert_eq!(
        texts(&history(&b, with(level(Severity::Warning), Some(1))).await),
        [backoff_text(3)]
    );
    assert_eq!(
        texts(&history(&b, with(grep("Back-off"), None)).await),
        [backoff_text(3)]
    );
    assert_eq!(
        texts(&history(&b, with(grep("Forking"), Some(1))).await),
        ["Forking fprocess."]
    );
    let events_only = Filter {
        regexp: Filter::compile_regexp(r"^\[event\] ").ok(),
        ..Filter::default()
    };
    assert_eq!(
        texts(&history(&b, with(events_only.clone(), Some(2))).await),
        [PULLING.to_owned(), backoff_text(3)]
    );
    // `tail` counts events and lines together.
    assert_eq!(
        texts(&history(&b, with(Filter::default(), Some(2))).await),
        [backoff_text(3), "Forking fprocess.".to_owned()]
    );

    let mut s = query(&b, following(with(level(Severity::Warning), Some(1)))).await;
    assert_eq!(next(&mut s).await.text, backoff_text(3));
    until_watched(&mut s, &b, 1).await;
    let now = || Timestamp::now().unix_nanos();
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Pulled", "Successfully pulled image").at(now()),
    );
    b.sim.append(NS, POD, &[(now(), "INFO not a warning")]);
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Unhealthy", "Liveness probe failed: HTTP probe failed")
            .warning()
            .at(now()),
    );
    let m = next(&mut s).await;
    assert_eq!(
        m.text,
        "[event] Unhealthy: Liveness probe failed: HTTP probe failed"
    );
    nothing_more(&mut s).await;
}

#[tokio::test]
async fn since_applies_to_events() {
    let b = SimBackend::start().await;
    crash_loop(&b);
    let since = |nanos: i64| {
        let mut r = request("figlet", Some(true));
        r.since = Some(Timestamp::from_unix_nanos(t(nanos)));
        r
    };
    // Pulling is at 00:00:01 exactly: kept from that instant, not a nanosecond later.
    let got = history(&b, since(SECOND)).await;
    assert_eq!(got[0].text, PULLING);
    assert!(!texts(&got).contains(&SCHEDULED.to_owned()));
    let got = history(&b, since(SECOND + 1)).await;
    assert_eq!(got[0].text, "Forking fprocess.");
    let mut r = since(SECOND + 1);
    r.tail = Some(2);
    assert_eq!(
        texts(&history(&b, r).await),
        [backoff_text(3), "Forking fprocess.".to_owned()]
    );
}

/// A service account without `events` permission still gets the logs, history and follow,
/// the request does not fail, and the provider says why in its own log: once, not per request,
/// and again only after events were readable in between.
#[tokio::test]
async fn without_permission_on_events_logs_are_served_and_the_reason_logged_once() {
    let logs = capture_warnings();
    let b = SimBackend::with_args(logs_kubernetes::Args {
        events: true,
        ..support::args()
    })
    .await;
    crash_loop(&b);
    b.sim.forbid_events(true);
    for _ in 0..3 {
        let got = history(&b, request("figlet", None)).await;
        assert_eq!(texts(&got).len(), 3);
        assert!(got.iter().all(|m| !is_event(m)));
    }
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    assert_eq!(next_n(&mut s, 3).await.len(), 3);
    b.sim
        .append(NS, POD, &[(Timestamp::now().unix_nanos(), "still served")]);
    assert_eq!(next(&mut s).await.text, "still served");
    let why = logs.mentioning("may not read Kubernetes events");
    assert_eq!(why.len(), 1, "{:?}", logs.warnings());
    assert!(
        why[0].contains("403") || why[0].contains("forbidden"),
        "{why:?}"
    );
    // Given back: events again; taken away again: said again, once.
    b.sim.forbid_events(false);
    let got = history(&b, request("figlet", None)).await;
    assert_eq!(got.iter().filter(|m| is_event(m)).count(), 3);
    b.sim.forbid_events(true);
    for _ in 0..2 {
        let got = history(&b, request("figlet", None)).await;
        assert_eq!(texts(&got).len(), 4, "the three lines and the live one");
        assert!(got.iter().all(|m| !is_event(m)));
    }
    assert_eq!(
        logs.mentioning("may not read Kubernetes events").len(),
        2,
        "{:?}",
        logs.warnings()
    );
}

/// Any other failure of the events API is the request's: a `500` before the first byte; while
/// following, the event watch is retried and, failing on, aborts the response.
#[tokio::test]
async fn failing_events_api() {
    let b = SimBackend::start().await;
    crash_loop(&b);
    b.sim.fail_events(1, Fault::Internal);
    let failed = b.requester.query(request("figlet", Some(true))).await;
    assert!(failed.is_err(), "a failed events list fails the request");
    // Without events, the same request does not read them, so it cannot fail on them (the
    // fault stays for the next events request).
    b.sim.fail_events(1, Fault::Internal);
    assert_eq!(history(&b, request("figlet", None)).await.len(), 3);
    assert!(
        b.requester
            .query(request("figlet", Some(true)))
            .await
            .is_err()
    );
    assert_eq!(history(&b, request("figlet", Some(true))).await.len(), 6);

    // Two failed watches: retried, then live.
    let b = SimBackend::start().await;
    crash_loop(&b);
    b.sim.fail_event_watches(2, Fault::Internal);
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    assert_eq!(next_n(&mut s, 6).await.len(), 6);
    until_watched(&mut s, &b, 3).await;
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet")
            .at(Timestamp::now().unix_nanos()),
    );
    assert_eq!(
        next(&mut s).await.text,
        "[event] Killing: Stopping container figlet"
    );
    nothing_more(&mut s).await;
    drop(s);

    // Failing on: the response is aborted (an error item), not silently without events.
    b.sim.fail_event_watches(100, Fault::Internal);
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    assert_eq!(next_n(&mut s, 7).await.len(), 7);
    let end = tokio::time::timeout(Duration::from_secs(30), s.next()).await;
    assert!(matches!(end, Ok(Some(Err(_)))), "{end:?}");
}

/// The API server goes away while following; events happen meanwhile and its watch history is
/// compacted: the watch expires (`410`), the provider lists again, and sends what it missed,
/// once.
#[tokio::test]
async fn an_expired_event_watch_lists_again_without_repeats() {
    let b = SimBackend::start().await;
    let backoff = crash_loop(&b);
    let mut s = query(&b, following(request("figlet", Some(true)))).await;
    assert_eq!(next_n(&mut s, 6).await.len(), 6);
    until_watched(&mut s, &b, 1).await;
    b.sim.stop().await;
    let now = Timestamp::now().unix_nanos();
    b.sim.repeat_event(NS, &backoff, now);
    b.sim.record_event(
        NS,
        NewEvent::pod(POD, "Killing", "Stopping container figlet").at(now + SECOND),
    );
    b.sim.compact();
    b.sim
        .resume()
        .await
        .unwrap_or_else(|e| panic!("resume: {e}"));
    let missed = next_n(&mut s, 2).await;
    assert_eq!(
        texts(&missed),
        [
            backoff_text(4),
            "[event] Killing: Stopping container figlet".to_owned()
        ]
    );
    nothing_more(&mut s).await;
    assert!(
        b.sim
            .requests()
            .iter()
            .filter(|r| r.starts_with(&format!("/api/v1/namespaces/{NS}/events?")))
            .filter(|r| !r.contains("watch=true"))
            .count()
            >= 2,
        "listed again"
    );
}

/// The real server on loopback with the Kubernetes backend, and curl as the client, as an
/// operator would run it: a crash-looping pod's BackOff events are printed among its lines, in
/// the history and live.
#[tokio::test]
async fn curl_prints_a_crash_loops_backoff_events() {
    let b = SimBackend::start().await;
    let backoff = crash_loop(&b);
    let server = logs_api::conformance::start(&b, Duration::from_secs(30)).await;
    let url = format!("http://{}/system/logs?name=figlet&events=true", server.addr);
    let out = tokio::process::Command::new("curl")
        .args(["-sN", &url])
        .output()
        .await
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert!(out.status.success(), "{out:?}");
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let text = |v: &serde_json::Value| v["text"].as_str().unwrap_or_default().to_owned();
    assert_eq!(lines.len(), 6, "{body}");
    assert_eq!(text(&lines[4]), backoff_text(3));
    assert_eq!(lines[4]["source"], "event");
    assert_eq!(lines[4]["level"], "warning");
    assert_eq!(lines[4]["instance"], POD);
    assert_eq!(lines[4]["timestamp"], "2026-01-01T00:00:03Z");
    // The five Go fields first, as faas-cli decodes them; extras after.
    let raw = body.lines().nth(4).unwrap_or_default();
    logs_api::conformance::check_field_order(raw);
    assert!(
        raw.ends_with(",\"level\":\"warning\",\"source\":\"event\"}"),
        "{raw}"
    );
    assert!(lines[2].get("source").is_none(), "{body}");

    // Following, as `faas-cli logs` does (follow=true&tail=-1), with events on.
    let mut child = tokio::process::Command::new("curl")
        .args(["-sN", &format!("{url}&follow=true&tail=-1")])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut out = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut read = async || -> serde_json::Value {
        let line = tokio::time::timeout(WAIT, out.next_line())
            .await
            .unwrap_or_else(|_| panic!("curl printed nothing"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("curl ended"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    for _ in 0..6 {
        read().await;
    }
    wait_for("the event watch", || event_watches(&b) >= 1).await;
    b.sim.restart(NS, POD);
    b.sim.append(
        NS,
        POD,
        &[(Timestamp::now().unix_nanos(), "Forking fprocess.")],
    );
    assert_eq!(text(&read().await), "Forking fprocess.");
    b.sim
        .repeat_event(NS, &backoff, Timestamp::now().unix_nanos());
    let live = read().await;
    assert_eq!(text(&live), backoff_text(4));
    assert_eq!(live["source"], "event");
    let _ = child.kill().await;
}
