//! Loki-specific behaviour over the simulator: paging, stream merging, the history/live seam,
//! dropped and restarted connections, Loki errors, tenant and credentials. Following under
//! bursts, many followers and stalls is in `follow.rs`.

mod support;

use std::time::Duration;

use futures::StreamExt;
use logs_api::conformance::{NAMESPACE, start};
use logs_api::testing::{get, open};
use logs_api::{LogStream, Message, Request, Requester, Timestamp};
use support::LokiBackend;

const WAIT: Duration = Duration::from_secs(10);

fn request(name: &str) -> Request {
    Request::new(NAMESPACE, name)
}

async fn query(b: &LokiBackend, r: Request) -> LogStream {
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query: {}", e.chain()))
}

/// Every message of a finished stream.
async fn all(b: &LokiBackend, r: Request) -> Vec<Message> {
    let mut s = query(b, r).await;
    let mut out = Vec::new();
    while let Some(m) = tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("history did not end"))
    {
        out.push(m.unwrap_or_else(|e| panic!("{}", e.chain())));
    }
    out
}

fn texts(ms: &[Message]) -> Vec<String> {
    ms.iter().map(|m| m.text.clone()).collect()
}

async fn next_text(s: &mut LogStream) -> String {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn nothing_more(s: &mut LogStream) {
    let r = tokio::time::timeout(Duration::from_millis(500), s.next()).await;
    assert!(r.is_err(), "unexpected: {r:?}");
}

/// Lines `prefix-0..n` pushed from three pods in turn, each later than the one before.
fn push_round_robin(b: &LokiBackend, name: &str, prefix: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    for (i, line) in lines.iter().enumerate() {
        b.push(NAMESPACE, name, &LokiBackend::pod(name, i % 3), &[line]);
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_past_the_per_query_limit() {
    let b = LokiBackend::with(|a| a.page_size = 100).await;
    b.sim.set_max_entries(100);
    let lines = push_round_robin(&b, "paged", "l", 1050);
    let before = b.sim.queries();
    let got = all(&b, request("paged")).await;
    assert_eq!(texts(&got), lines, "every line once, in order, across pods");
    assert_eq!(b.sim.queries() - before, 11, "1050 lines in pages of 100");

    // tail above the page size: a counting pass backwards, then forward from the cut.
    let mut r = request("paged");
    r.tail = Some(250);
    assert_eq!(texts(&all(&b, r).await), lines[800..]);
    // tail within one page: one backward query.
    let before = b.sim.queries();
    let mut r = request("paged");
    r.tail = Some(30);
    assert_eq!(texts(&all(&b, r).await), lines[1020..]);
    assert_eq!(b.sim.queries() - before, 1);
    // tail larger than everything there is.
    let mut r = request("paged");
    r.tail = Some(5000);
    assert_eq!(all(&b, r).await.len(), 1050);
    // A page size above Loki's limit is Loki's 400, before the stream.
    b.sim.set_max_entries(50);
    let e = b
        .requester
        .query(request("paged"))
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert!(
        e.chain().contains("max_entries_limit_per_query (100 > 50)"),
        "{}",
        e.chain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_sharing_a_timestamp_across_a_page_boundary_come_once() {
    let b = LokiBackend::with(|a| a.page_size = 10).await;
    let name = "same-ts";
    let base = Timestamp::now().unix_nanos() - 1_000_000_000;
    let ts = |n: i64| base + n;
    let labels = |pod: &'static str| {
        [
            ("faas_function", name),
            ("namespace", NAMESPACE),
            ("pod", pod),
        ]
    };
    let early: Vec<(i64, String)> = (0..5).map(|i| (ts(i), format!("early-{i}"))).collect();
    let early_refs: Vec<(i64, &str)> = early.iter().map(|(t, l)| (*t, l.as_str())).collect();
    b.sim.push(&labels("p-a"), &early_refs);
    // Eight lines at one instant, from two pods: they straddle the first page's end.
    let a: Vec<String> = (0..5).map(|i| format!("a-{i}")).collect();
    let c: Vec<String> = (0..3).map(|i| format!("c-{i}")).collect();
    b.sim.push(
        &labels("p-a"),
        &a.iter().map(|l| (ts(100), l.as_str())).collect::<Vec<_>>(),
    );
    b.sim.push(
        &labels("p-c"),
        &c.iter().map(|l| (ts(100), l.as_str())).collect::<Vec<_>>(),
    );
    b.sim.push(&labels("p-a"), &[(ts(200), "last")]);
    let got = texts(&all(&b, request(name)).await);
    let mut want: Vec<String> = early.iter().map(|(_, l)| l.clone()).collect();
    want.extend(a.iter().cloned());
    want.extend(c.iter().cloned());
    want.push("last".into());
    assert_eq!(got, want);

    // A tail larger than a page whose cut falls inside an instant: three later lines, four
    // at one instant (three from one pod, one from another), tail=6 with pages of 5. Loki's
    // backward order puts pod p-a's lines first at that instant, so its three are the newest
    // and p-c's line is not among the six.
    let b2 = LokiBackend::with(|a| a.page_size = 5).await;
    b2.sim.push(&labels("p-a"), &early_refs);
    b2.sim.push(
        &labels("p-a"),
        &[(ts(100), "a-0"), (ts(100), "a-1"), (ts(100), "a-2")],
    );
    b2.sim.push(&labels("p-c"), &[(ts(100), "c-0")]);
    b2.sim.push(
        &labels("p-a"),
        &[(ts(201), "l-1"), (ts(202), "l-2"), (ts(203), "l-3")],
    );
    let mut r = request(name);
    r.tail = Some(6);
    let got = texts(&all(&b2, r).await);
    assert_eq!(got, ["a-0", "a-1", "a-2", "l-1", "l-2", "l-3"]);
    let mut r = request(name);
    r.tail = Some(7);
    let got = texts(&all(&b2, r).await);
    assert_eq!(got, ["a-0", "a-1", "a-2", "c-0", "l-1", "l-2", "l-3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_lines_at_one_instant_than_a_page_is_a_clear_error() {
    let b = LokiBackend::with(|a| a.page_size = 3).await;
    let t = Timestamp::now().unix_nanos();
    let labels = [
        ("faas_function", "crowd"),
        ("namespace", NAMESPACE),
        ("pod", "p"),
    ];
    b.sim
        .push(&labels, &[(t, "1"), (t, "2"), (t, "3"), (t, "4")]);
    let mut s = query(&b, request("crowd")).await;
    // The first page is delivered, then the stream fails rather than loop or skip.
    let mut seen = 0;
    let err = loop {
        match tokio::time::timeout(WAIT, s.next()).await {
            Ok(Some(Ok(_))) => seen += 1,
            Ok(Some(Err(e))) => break e,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(seen, 3);
    assert!(
        err.chain().contains("share one timestamp"),
        "{}",
        err.chain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_split_by_structured_metadata_are_merged_in_time_order() {
    let b = LokiBackend::start().await;
    let name = "split";
    let labels = [
        ("faas_function", name),
        ("namespace", NAMESPACE),
        ("pod", "split-0"),
    ];
    let mut want = Vec::new();
    for i in 0..12 {
        let level = ["info", "warn", "error"][i % 3];
        let line = format!("{level}-{i}");
        b.sim.push_with_metadata(
            &labels,
            &[("detected_level", level)],
            &[(b.next_ts(), &line)],
        );
        want.push((line, level));
    }
    let got = all(&b, request(name)).await;
    let got: Vec<(String, &str)> = got
        .iter()
        .map(|m| (m.text.clone(), m.level.as_deref().unwrap_or("none")))
        .collect();
    assert_eq!(got, want, "one stream per level, merged back in time order");
    let mut r = request(name);
    r.tail = Some(4);
    assert_eq!(
        texts(&all(&b, r).await),
        ["error-8", "info-9", "warn-10", "error-11"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_continues_from_history_into_live_lines_without_a_seam() {
    let b = LokiBackend::start().await;
    let name = "seam";
    b.push(NAMESPACE, name, "seam-0", &["h1", "h2"]);
    let mut r = request(name);
    r.follow = true;
    let mut s = query(&b, r).await;
    assert_eq!(next_text(&mut s).await, "h1");
    assert_eq!(next_text(&mut s).await, "h2");
    b.push(NAMESPACE, name, "seam-1", &["live-1"]);
    assert_eq!(next_text(&mut s).await, "live-1");
    b.push(NAMESPACE, name, "seam-0", &["live-2", "live-3"]);
    assert_eq!(next_text(&mut s).await, "live-2");
    assert_eq!(next_text(&mut s).await, "live-3");
    nothing_more(&mut s).await;
    // Every line came from query_range; Loki's lossy tail websocket is not used.
    assert_eq!(b.sim.requests().tails_opened, 0);
    drop(s);
    // The namespace's reader stops with its last follower: Loki hears nothing more.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let before = b.sim.queries();
        tokio::time::sleep(Duration::from_millis(700)).await;
        if b.sim.queries() == before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reader outlived the stream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_loki_is_resumed_without_gap_or_duplicate() {
    let b = LokiBackend::start().await;
    let name = "restart";
    b.push(NAMESPACE, name, "restart-0", &["before"]);
    let mut r = request(name);
    r.follow = true;
    let mut s = query(&b, r).await;
    assert_eq!(next_text(&mut s).await, "before");
    b.push(NAMESPACE, name, "restart-0", &["live"]);
    assert_eq!(next_text(&mut s).await, "live");

    b.sim.stop().await;
    // Written while Loki is unreachable: they must arrive after it comes back.
    b.push(
        NAMESPACE,
        name,
        "restart-1",
        &["while-down-1", "while-down-2"],
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.sim
        .resume()
        .await
        .unwrap_or_else(|e| panic!("resume: {e}"));
    b.push(NAMESPACE, name, "restart-0", &["after"]);
    for want in ["while-down-1", "while-down-2", "after"] {
        assert_eq!(next_text(&mut s).await, want);
    }
    nothing_more(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_that_stays_away_aborts_the_response() {
    let b = LokiBackend::with(|a| a.retries = 2).await;
    let name = "gone";
    b.push(NAMESPACE, name, "gone-0", &["one"]);
    let server = start(&b, Duration::from_secs(60)).await;
    let mut s = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, 200);
    let first = s.next_message(WAIT).await;
    assert_eq!(first["text"], "one");
    b.sim.stop().await;
    // Two retries (100 ms + 200 ms) then the response is cut without its terminating chunk.
    let end = tokio::time::timeout(WAIT, s.next_line())
        .await
        .unwrap_or_else(|_| panic!("the stream hung instead of aborting"));
    assert!(!matches!(end, Ok(Some(_))), "unexpected line: {end:?}");
    assert!(
        !s.is_complete(),
        "an aborted stream must not look complete: {end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_errors_are_500_before_the_stream_and_never_leak_details() {
    let b = LokiBackend::start().await;
    b.push(NAMESPACE, "err", "err-0", &["x"]);
    let server = start(&b, Duration::from_secs(30)).await;
    for (status, body) in [
        (
            400,
            "parse error at line 1, col 24: syntax error: unexpected $end, expecting } or ,",
        ),
        (
            500,
            "rpc error: code = Unavailable desc = connection refused 10.0.0.7:9095",
        ),
    ] {
        // A 500 is retried: fail every attempt.
        for _ in 0..20 {
            b.sim.fail_next_query(status, body);
        }
        let res = get(server.addr, "/system/logs?name=err")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 500, "Loki {status}");
        assert_eq!(res.text(), "function log request failed\n");
        assert!(!res.text().contains("10.0.0.7"));
        // Clear what is left of the queue.
        while b.requester.query(request("err")).await.is_err() {}
    }
    // A 400 is not retried; a 503 is, and the answer is then complete.
    let before = b.sim.queries();
    b.sim.fail_next_query(400, "bad");
    assert!(b.requester.query(request("err")).await.is_err());
    assert_eq!(b.sim.queries() - before, 1, "a 400 is not retried");
    b.sim.fail_next_query(503, "overloaded");
    b.sim.fail_next_query(503, "overloaded");
    let got = all(&b, request("err")).await;
    assert_eq!(texts(&got), ["x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_mid_history_is_retried_without_gap() {
    let b = LokiBackend::with(|a| a.page_size = 10).await;
    let lines = push_round_robin(&b, "midway", "m", 35);
    let mut s = query(&b, request("midway")).await;
    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(next_text(&mut s).await);
    }
    b.sim.fail_next_query(502, "bad gateway");
    while let Some(m) = tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("hung"))
    {
        got.push(m.unwrap_or_else(|e| panic!("{}", e.chain())).text);
    }
    assert_eq!(got, lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_and_credentials_reach_loki_and_readiness_follows_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k\n").unwrap_or_else(|e| panic!("{e}"));
    let b = LokiBackend::with(|a| {
        a.tenant = Some("team-a".into());
        a.bearer_token_file = Some(token.clone());
    })
    .await;
    b.sim.require_tenant("team-a");
    b.sim.require_authorization("Bearer t0k");
    b.push(NAMESPACE, "auth", "auth-0", &["secret line"]);
    assert!(b.requester.ready().await.is_ok());
    assert_eq!(texts(&all(&b, request("auth")).await), ["secret line"]);
    let mut r = request("auth");
    r.follow = true;
    let mut s = query(&b, r).await;
    assert_eq!(next_text(&mut s).await, "secret line");
    b.push(NAMESPACE, "auth", "auth-0", &["live"]);
    assert_eq!(
        next_text(&mut s).await,
        "live",
        "the namespace's reader sends them too"
    );

    b.sim.require_tenant("team-b");
    let e = b
        .requester
        .ready()
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert!(e.chain().contains("401"), "{}", e.chain());
    let e = b
        .requester
        .query(request("auth"))
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert!(e.chain().contains("no org id"), "{}", e.chain());
    b.sim.stop().await;
    assert!(b.requester.ready().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_filter_and_namespaces_select_only_their_streams() {
    let b = LokiBackend::start().await;
    b.push(NAMESPACE, "iso", "iso-a", &["a"]);
    b.push(NAMESPACE, "iso", "iso-b", &["b"]);
    b.push("staging-fn", "iso", "iso-a", &["other namespace"]);
    b.push(NAMESPACE, "iso2", "iso-a", &["other function"]);
    let mut r = request("iso");
    r.instance = Some("iso-b".into());
    let got = all(&b, r).await;
    assert_eq!(texts(&got), ["b"]);
    assert_eq!(&*got[0].instance, "iso-b");
    assert_eq!(got[0].stream, Some(logs_api::OutputStream::Stdout));
    assert_eq!(texts(&all(&b, request("iso")).await), ["a", "b"]);
    assert_eq!(
        texts(&all(&b, Request::new("staging-fn", "iso")).await),
        ["other namespace"]
    );
}
