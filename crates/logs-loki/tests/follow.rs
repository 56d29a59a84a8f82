//! Following against a Loki that behaves like the real one (issue 15): the simulator's tail
//! drops lines under bursts and refuses tails over the tenant's limit, yet every followed line
//! arrives exactly once, in order; Loki's load does not grow with the followers; a Loki that
//! stops answering ends the follow as an aborted transfer.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use logs_api::conformance::{NAMESPACE, OTHER_NAMESPACE, start};
use logs_api::testing::open;
use logs_api::{LogStream, Request, Requester};
use logs_loki::Wakeup;
use support::LokiBackend;

const WAIT: Duration = Duration::from_secs(20);

fn follow(name: &str) -> Request {
    let mut r = Request::new(NAMESPACE, name);
    r.follow = true;
    r
}

async fn query(b: &LokiBackend, r: Request) -> LogStream {
    b.requester
        .query(r)
        .await
        .unwrap_or_else(|e| panic!("query: {}", e.chain()))
}

/// The next `n` lines of a follow stream, each within `WAIT` of the one before.
async fn next_n(s: &mut LogStream, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(WAIT, s.next()).await {
            Ok(Some(Ok(m))) => out.push(m.text),
            other => panic!("after {} of {n} lines: {other:?}", out.len()),
        }
    }
    out
}

async fn nothing_more(s: &mut LogStream) {
    let r = tokio::time::timeout(Duration::from_millis(2_500), s.next()).await;
    assert!(r.is_err(), "unexpected: {r:?}");
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

fn push(b: &LokiBackend, namespace: &str, name: &str, pod: &str, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    b.push(namespace, name, pod, &refs);
}

/// Pulls once from a follow that has nothing to deliver, so that it joins the namespace's
/// reader and waits on it (as the server does, pulling for its client). An unfinished pull
/// resumes on the next one.
async fn wait_joined(s: &mut LogStream) {
    let r = tokio::time::timeout(Duration::from_millis(1_000), s.next()).await;
    assert!(r.is_err(), "unexpected: {r:?}");
}

/// A follow past its history (the line `marker`) and waiting on the namespace's reader.
async fn live_follow(b: &LokiBackend, name: &str) -> LogStream {
    push(b, NAMESPACE, name, "p-0", &["marker".to_owned()]);
    let mut s = query(b, follow(name)).await;
    assert_eq!(next_n(&mut s, 1).await, ["marker"]);
    wait_joined(&mut s).await;
    s
}

/// Lines a raw Loki tail (the websocket the provider does not rely on) delivers for `query`
/// while `push` runs, until it has been quiet for 2 s.
async fn raw_tail_count(b: &LokiBackend, query: &str, push: impl FnOnce()) -> usize {
    use tokio_tungstenite::tungstenite::Message;
    let target: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={target}&limit=1&start={}",
        b.sim.addr(),
        logs_api::Timestamp::now().unix_nanos()
    );
    let tcp = tokio::net::TcpStream::connect(b.sim.addr())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut socket, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    push();
    let mut count = 0;
    let mut until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, socket.next()).await {
        if let Message::Text(text) = message {
            let frame: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            count += frame["streams"].as_array().map_or(0, Vec::len);
            until = tokio::time::Instant::now() + Duration::from_secs(2);
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_5000_lines_in_one_push_is_delivered_whole() {
    let b = LokiBackend::start().await;
    let name = "burst";
    let mut s = live_follow(&b, name).await;
    let burst = lines("burst", 5_000);
    // Loki's own tail loses most of such a burst (the simulator models how).
    let tailed = raw_tail_count(
        &b,
        r#"{faas_function="burst",namespace="openfaas-fn"}"#,
        || push(&b, NAMESPACE, name, "p-0", &burst),
    )
    .await;
    assert!(tailed < 2_000, "the raw tail delivered {tailed} of 5,000");
    assert_eq!(
        next_n(&mut s, 5_000).await,
        burst,
        "every line once, in order"
    );
    nothing_more(&mut s).await;
    assert_eq!(b.sim.requests().tails_opened, 1, "only the raw tail above");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_back_to_back_pushes_of_5000_are_delivered_whole() {
    let b = LokiBackend::start().await;
    let name = "bursts";
    let mut s = live_follow(&b, name).await;
    let mut want = Vec::new();
    for round in 0..6 {
        let burst = lines(&format!("round {round}"), 5_000);
        push(&b, NAMESPACE, name, &format!("p-{}", round % 2), &burst);
        want.extend(burst);
    }
    assert_eq!(next_n(&mut s, want.len()).await, want);
    nothing_more(&mut s).await;
}

/// Loki requests per second while `followers` follows are open and idle.
async fn idle_request_rate(b: &LokiBackend, window: Duration) -> f64 {
    let before = b.sim.requests();
    tokio::time::sleep(window).await;
    (b.sim.requests() - before).total() as f64 / window.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_follows_of_twenty_functions_cost_loki_what_twenty_do() {
    let b = LokiBackend::start().await;
    b.sim.set_max_concurrent_tails(10);
    let functions: Vec<String> = (0..20).map(|f| format!("fn-{f}")).collect();
    for f in &functions {
        push(&b, NAMESPACE, f, "p-0", &["history".to_owned()]);
    }
    let rounds = 5;
    let want =
        move |f: &str| -> Vec<String> { (0..rounds).map(|r| format!("{f} line {r}")).collect() };
    let window = Duration::from_secs(3);
    let mut rates = Vec::new();
    let mut readers = Vec::new();
    for total in [20, 200] {
        while readers.len() < total {
            let f = functions[readers.len() % functions.len()].clone();
            let mut s = query(&b, follow(&f)).await;
            // Each follower reads on, as a client does: every line once, then nothing.
            readers.push(tokio::spawn(async move {
                assert_eq!(next_n(&mut s, 1).await, ["history"]);
                assert_eq!(next_n(&mut s, rounds).await, want(&f), "{f}");
                nothing_more(&mut s).await;
            }));
        }
        // Every follower is past its history and its catch-up: measure the steady state.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rate = idle_request_rate(&b, window).await;
        println!("{total} follows: {rate:.1} requests/s to Loki");
        rates.push(rate);
    }
    // One namespace: one query per --loki-poll-interval (250 ms), however many follow it.
    assert!(rates[0] >= 2.0, "the namespace's reader polls: {rates:?}");
    assert!(rates[1] <= 6.0, "{rates:?}");
    assert!(rates[1] <= rates[0] + 1.0, "{rates:?}");
    assert_eq!(b.sim.requests().tails_opened, 0);

    for round in 0..rounds {
        for f in &functions {
            push(
                &b,
                NAMESPACE,
                f,
                &format!("p-{}", round % 3),
                &[format!("{f} line {round}")],
            );
        }
    }
    for r in readers {
        r.await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_loki_ends_the_follow_as_an_aborted_transfer() {
    let b = LokiBackend::with(|a| a.stall_timeout = Duration::from_secs(2)).await;
    let name = "stall";
    push(&b, NAMESPACE, name, "p-0", &["before".to_owned()]);
    let server = start(&b, Duration::from_secs(60)).await;
    let mut s = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, 200);
    assert_eq!(s.next_message(WAIT).await["text"], "before");
    // Loki accepts every request from now on and answers none.
    b.sim.stall_queries(true);
    let stalled = Instant::now();
    push(&b, NAMESPACE, name, "p-0", &["never seen".to_owned()]);
    let end = tokio::time::timeout(WAIT, s.next_line())
        .await
        .unwrap_or_else(|_| panic!("the stream stalled silently"));
    assert!(!matches!(end, Ok(Some(_))), "unexpected line: {end:?}");
    assert!(
        !s.is_complete(),
        "a stream that cannot be made whole must not look complete"
    );
    let took = stalled.elapsed();
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(8),
        "ended after {took:?} (--loki-stall-timeout 2s)"
    );
    b.sim.stall_queries(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_whose_own_query_hangs_fails_after_the_stall_timeout() {
    // Each request may take a minute; the follow may not wait for Loki more than 2 s.
    let b = LokiBackend::with(|a| {
        a.page_size = 10;
        a.request_timeout = Duration::from_secs(60);
        a.stall_timeout = Duration::from_secs(2);
    })
    .await;
    let name = "hang";
    push(&b, NAMESPACE, name, "p-0", &lines("history", 25));
    let mut s = query(&b, follow(name)).await;
    // The first page came before the stream; the second never answers.
    assert_eq!(next_n(&mut s, 10).await, lines("history", 10));
    b.sim.stall_queries(true);
    let stalled = Instant::now();
    let end = tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("the follow hung"));
    match end {
        Some(Err(e)) => assert!(e.chain().contains("--loki-stall-timeout"), "{}", e.chain()),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        stalled.elapsed() < Duration::from_secs(6),
        "{:?}",
        stalled.elapsed()
    );
    assert!(s.next().await.is_none(), "nothing after the failure");
    b.sim.stall_queries(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_follower_holds_up_nobody_and_catches_up_on_its_own() {
    let b = LokiBackend::with(|a| a.page_size = 500).await;
    let name = "slow";
    let mut fast = live_follow(&b, name).await;
    let mut slow = query(&b, follow(name)).await;
    assert_eq!(next_n(&mut slow, 1).await, ["marker"]);
    wait_joined(&mut slow).await;
    // Far more than the slow follower's queue holds (2 pages, at least 1,000 lines), in pushes
    // the reader sees one by one, while the slow follower reads nothing.
    let want = lines("line", 4_000);
    let fast_reader = tokio::spawn({
        let want = want.clone();
        async move {
            assert_eq!(next_n(&mut fast, want.len()).await, want);
            fast
        }
    });
    for chunk in want.chunks(400) {
        push(&b, NAMESPACE, name, "p-0", chunk);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut fast = fast_reader.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next_n(&mut slow, want.len()).await, want);
    nothing_more(&mut slow).await;
    nothing_more(&mut fast).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_joining_while_lines_flow_see_every_line_once() {
    // Without a delay the reader is usually ahead of a joining follower's history: the
    // follower reads the gap itself.
    let b = LokiBackend::with(|a| a.follow_delay = Some(Duration::ZERO)).await;
    let name = "joining";
    let total = 600;
    let writer = lines("flow", total);
    // Each follower reads on from the moment it comes: all lines (history up to its arrival,
    // then live ones), once, in order.
    let reader = |mut s: LogStream| {
        let want = writer.clone();
        tokio::spawn(async move {
            assert_eq!(next_n(&mut s, want.len()).await, want);
            nothing_more(&mut s).await;
        })
    };
    let mut readers = vec![reader(query(&b, follow(name)).await)];
    // Lines every 5 ms while four more followers join at different moments.
    for (i, line) in writer.iter().enumerate() {
        push(
            &b,
            NAMESPACE,
            name,
            &format!("p-{}", i % 2),
            std::slice::from_ref(line),
        );
        if i % 150 == 75 {
            readers.push(reader(query(&b, follow(name)).await));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(readers.len(), 5);
    for r in readers {
        r.await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_joining_after_the_reader_moved_on_reads_the_gap_itself() {
    let b = LokiBackend::with(|a| a.follow_delay = Some(Duration::ZERO)).await;
    let name = "gap";
    let mut early = live_follow(&b, name).await;
    // The late follower has read its history (up to its arrival) but not joined yet, while
    // the reader hands lines to the early one and moves past them.
    let mut late = query(&b, follow(name)).await;
    let gap = lines("gap", 5);
    for line in &gap {
        push(&b, NAMESPACE, name, "p-1", std::slice::from_ref(line));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(next_n(&mut early, 5).await, gap);
    let mut want = vec!["marker".to_owned()];
    want.extend(gap.iter().cloned());
    assert_eq!(next_n(&mut late, 6).await, want);
    push(&b, NAMESPACE, name, "p-0", &["after".to_owned()]);
    for s in [&mut early, &mut late] {
        assert_eq!(next_n(s, 1).await, ["after"]);
        nothing_more(s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_reader_filters_instances_functions_and_namespaces() {
    let b = LokiBackend::start().await;
    let mut by_instance = follow("iso");
    by_instance.instance = Some("iso-b".into());
    let mut other_ns = follow("iso");
    other_ns.namespace = OTHER_NAMESPACE.into();
    let mut streams = Vec::new();
    for r in [follow("iso"), by_instance, follow("iso2"), other_ns] {
        let mut s = query(&b, r).await;
        wait_joined(&mut s).await;
        streams.push(s);
    }
    push(&b, NAMESPACE, "iso", "iso-a", &["a".to_owned()]);
    push(&b, NAMESPACE, "iso", "iso-b", &["b".to_owned()]);
    push(
        &b,
        NAMESPACE,
        "iso2",
        "iso-a",
        &["other function".to_owned()],
    );
    push(
        &b,
        OTHER_NAMESPACE,
        "iso",
        "iso-a",
        &["other namespace".to_owned()],
    );
    push(&b, NAMESPACE, "iso", "iso-b", &["b2".to_owned()]);
    let want: [&[&str]; 4] = [
        &["a", "b", "b2"],
        &["b", "b2"],
        &["other function"],
        &["other namespace"],
    ];
    for (s, want) in streams.iter_mut().zip(want) {
        assert_eq!(next_n(s, want.len()).await, want);
        nothing_more(s).await;
    }
    // Two namespaces followed: two readers, each one query per interval.
    let rate = idle_request_rate(&b, Duration::from_secs(2)).await;
    assert!(rate > 4.0 && rate <= 12.0, "{rate:.1} requests/s");
    drop(streams);
    // Readers stop with their last follower.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let rate = idle_request_rate(&b, Duration::from_secs(1)).await;
    assert_eq!(rate, 0.0, "no follower, no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_reader_backs_off_and_recovers() {
    let b = LokiBackend::start().await;
    let name = "flaky";
    let mut s = live_follow(&b, name).await;
    let before = b.sim.queries();
    // Six failures in a row: 100 + 200 + 400 + 800 + 1600 + 3200 ms of waiting (±25 %).
    for _ in 0..6 {
        b.sim.fail_next_query(503, "overloaded");
    }
    let failing = Instant::now();
    push(
        &b,
        NAMESPACE,
        name,
        "p-0",
        &["after the failures".to_owned()],
    );
    assert_eq!(next_n(&mut s, 1).await, ["after the failures"]);
    let took = failing.elapsed();
    let queries = b.sim.queries() - before;
    assert!(
        took >= Duration::from_millis(4_000),
        "{took:?}: the waits must grow"
    );
    assert!(queries <= 9, "{queries} queries in {took:?}");
    nothing_more(&mut s).await;
}

fn tail_wakeup(a: &mut logs_loki::Args) {
    a.follow_wakeup = Wakeup::Tail;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_wakeup_reads_when_lines_come_and_survives_quiet_and_closed_tails() {
    let b = LokiBackend::with(tail_wakeup).await;
    let name = "woken";
    let mut s = live_follow(&b, name).await;
    // Once the tail is up (Loki's first ping after 1 s), an idle namespace costs a read every
    // 5 s instead of every 250 ms.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let rate = idle_request_rate(&b, Duration::from_secs(3)).await;
    assert!(rate <= 1.0, "{rate:.1} requests/s");
    let pushed = Instant::now();
    push(&b, NAMESPACE, name, "p-0", &["woken".to_owned()]);
    assert_eq!(next_n(&mut s, 1).await, ["woken"]);
    assert!(
        pushed.elapsed() < Duration::from_millis(2_500),
        "{:?}: the tail's signal, not the 5 s poll",
        pushed.elapsed()
    );
    assert_eq!(b.sim.requests().tails_opened, 1);

    // A tail that goes quiet: the 5 s poll still reads, and the tail is replaced.
    b.sim.stall_tails(true);
    push(&b, NAMESPACE, name, "p-0", &["while quiet".to_owned()]);
    assert_eq!(next_n(&mut s, 1).await, ["while quiet"]);
    let deadline = Instant::now() + WAIT;
    while b.sim.requests().tails_opened < 2 {
        assert!(
            Instant::now() < deadline,
            "the quiet tail was never replaced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.sim.stall_tails(false);

    // Loki ending the tail (tail_max_duration): a new one, and no line lost or repeated.
    let opened = b.sim.requests().tails_opened;
    b.sim.close_tails();
    push(&b, NAMESPACE, name, "p-1", &["after close".to_owned()]);
    assert_eq!(next_n(&mut s, 1).await, ["after close"]);
    let deadline = Instant::now() + WAIT;
    while b.sim.requests().tails_opened <= opened {
        assert!(
            Instant::now() < deadline,
            "no new tail after Loki closed it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let burst = lines("burst", 5_000);
    push(&b, NAMESPACE, name, "p-0", &burst);
    assert_eq!(next_n(&mut s, 5_000).await, burst);
    nothing_more(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tails_are_retried_with_growing_waits_and_lines_still_come() {
    let b = LokiBackend::with(tail_wakeup).await;
    // Another user of the tenant holds every tail Loki allows.
    b.sim.set_max_concurrent_tails(0);
    let name = "refused";
    let mut s = live_follow(&b, name).await;
    let before = b.sim.requests();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = (b.sim.requests() - before).tails_refused;
    // 100, 200, 400, 800, 1600, 3200 ms (±25 %): about 6 in 6 s; at a fixed 100 ms, 60.
    assert!((2..=9).contains(&refused), "{refused} refusals in 6 s");
    push(&b, NAMESPACE, name, "p-0", &["polled".to_owned()]);
    assert_eq!(next_n(&mut s, 1).await, ["polled"]);
    assert_eq!(b.sim.requests().tails_opened, 0);
}
