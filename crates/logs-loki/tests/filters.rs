//! The request filters of issue 12 against Loki: what the provider asks Loki to do (read back
//! from the simulator's request log as LogQL), and that the answers are exactly those of
//! filtering the unfiltered lines in process (`logs_api::Filter::matches`), also where Loki's
//! own rules differ from the provider's (its level detection, Go's regex dialect) and where
//! Loki refuses what it was asked.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use logs_api::conformance::NAMESPACE;
use logs_api::{Filter, LogStream, Message, OutputStream, Request, Requester, Severity};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::LokiBackend;

const WAIT: Duration = Duration::from_secs(10);
const OUT: OutputStream = OutputStream::Stdout;
const ERR: OutputStream = OutputStream::Stderr;

/// Lines as a function writes them, chosen where Loki's rules and the provider's part ways:
/// (pod, stream, text). Loki 3 discovers a level for each (noted), the provider reads it.
const CORPUS: [(usize, OutputStream, &str); 16] = [
    (0, OUT, "INFO start"),                       // Loki: info
    (1, ERR, "ERROR failed 1"),                   // Loki: unknown; the text says err
    (0, ERR, "[error] boom"),                     // Loki: error
    (2, OUT, r#"{"level":"warn","msg":"disk"}"#), // Loki: warn
    (1, OUT, "level=debug msg=tick"),             // Loki: debug
    (2, ERR, "ERROR: information missing"),       // Loki: info (it contains "info")
    (0, OUT, "Forking fprocess."),                // Loki: unknown; no level: info
    (1, OUT, "WARN slow"),                        // Loki: unknown; the text says warning
    (2, OUT, "été 3 ٣ straße"),                   // Loki: unknown
    (0, OUT, r#"path "C:\tmp" a.c |= `x` {y}"#),  // Loki: unknown
    (1, ERR, "crit: disk gone"),                  // Loki: unknown; the text says crit
    (2, OUT, "x\u{fffd}y KELVIN \u{212a}"),       // Loki: unknown
    (0, ERR, "ERROR failed 2"),                   // Loki: unknown; err
    (1, OUT, "fatal error in 3"),                 // Loki: unknown (no colon)
    (2, ERR, "WARNING: slow 4"),                  // Loki: warn
    (0, OUT, "done\twith tab"),                   // Loki: unknown
];

/// A backend as Loki 3 runs by default (levels discovered), with `CORPUS` pushed, plus one line
/// whose stream is only in structured metadata (a shipper that does not make it a label).
async fn corpus(adjust: impl FnOnce(&mut logs_loki::Args)) -> LokiBackend {
    let b = LokiBackend::with(adjust).await;
    b.sim.set_discover_log_levels(true);
    for (pod, stream, text) in CORPUS {
        b.push_stream(
            NAMESPACE,
            "fn",
            &LokiBackend::pod("fn", pod),
            stream,
            &[text],
        );
    }
    b.sim.push_with_metadata(
        &[
            ("faas_function", "fn"),
            ("namespace", NAMESPACE),
            ("pod", &LokiBackend::pod("fn", 1)),
        ],
        &[("stream", "stderr")],
        &[(b.next_ts(), "ERROR from metadata")],
    );
    b
}

async fn all(b: &LokiBackend, r: Request) -> Result<Vec<Message>, String> {
    let mut s: LogStream = b.requester.query(r).await.map_err(|e| e.chain())?;
    let mut out = Vec::new();
    while let Some(m) = tokio::time::timeout(WAIT, s.next())
        .await
        .map_err(|_| "history did not end".to_owned())?
    {
        out.push(m.map_err(|e| e.chain())?);
    }
    Ok(out)
}

async fn next(s: &mut LogStream) -> String {
    match tokio::time::timeout(WAIT, s.next()).await {
        Ok(Some(Ok(m))) => m.text,
        other => panic!("{other:?}"),
    }
}

fn texts(ms: &[Message]) -> Vec<String> {
    ms.iter().map(|m| m.text.clone()).collect()
}

fn request(filter: Filter, tail: Option<usize>) -> Request {
    let mut r = Request::new(NAMESPACE, "fn");
    r.filter = filter;
    r.tail = tail;
    r
}

/// What filtering in process gives: the unfiltered history through `Filter::matches`, then
/// the last `tail`.
async fn in_process(b: &LokiBackend, filter: &Filter, tail: Option<usize>) -> Vec<String> {
    let every = all(b, request(Filter::default(), None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kept: Vec<String> = every
        .iter()
        .filter(|m| filter.matches(m))
        .map(|m| m.text.clone())
        .collect();
    let skip = tail.map_or(0, |n| kept.len().saturating_sub(n));
    kept[skip..].to_vec()
}

fn regexp(pattern: &str) -> Option<regex::Regex> {
    Some(Filter::compile_regexp(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_are_sent_to_loki_as_logql() {
    let b = corpus(|_| {}).await;
    let filter = Filter {
        level: Some(Severity::Warning),
        stream: Some(ERR),
        grep: Some(r#"fail "q" \ "#.to_owned()),
        regexp: regexp(r"^(?i)error \d"),
    };
    let _ = all(&b, request(filter, Some(2))).await;
    assert_eq!(
        b.sim.sent_queries(),
        [concat!(
            r#"{faas_function="fn",namespace="openfaas-fn",stream=~"stderr|"}"#,
            r#" |= "fail \"q\" \\ ""#,
            r#" |~ "\\A[Ee][Rr][Rr][Oo][Rr]\\x{20}(?s:.)""#,
            r#" | stream="stderr""#,
            r#" | detected_level!~"(?i:notice|info|informational|information|inf|debug|trace|trc|dbg)""#,
        )]
    );
    // Loki's answer to it is what it keeps: the simulator runs the LogQL as Loki does.
    let want = in_process(
        &b,
        &Filter {
            level: Some(Severity::Warning),
            stream: Some(ERR),
            grep: Some("fail".to_owned()),
            ..Filter::default()
        },
        Some(2),
    )
    .await;
    let got = all(
        &b,
        request(
            Filter {
                level: Some(Severity::Warning),
                stream: Some(ERR),
                grep: Some("fail".to_owned()),
                ..Filter::default()
            },
            Some(2),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&got), want);
    assert_eq!(want, ["ERROR failed 1", "ERROR failed 2"]);
}

/// A table of requests: each answer equals in-process filtering of the unfiltered answer, and
/// each sends its filters to Loki.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_in_process_filtering() {
    let b = corpus(|_| {}).await;
    let f = |level, stream, grep: Option<&str>, re: Option<&str>| Filter {
        level,
        stream,
        grep: grep.map(str::to_owned),
        regexp: re.and_then(regexp),
    };
    let cases = [
        (
            f(Some(Severity::Error), None, None, None),
            "detected_level!~",
        ),
        (
            f(Some(Severity::Info), None, None, None),
            "detected_level!~",
        ),
        (
            f(Some(Severity::Warning), Some(OUT), None, None),
            r#"| stream="stdout""#,
        ),
        (f(None, Some(ERR), None, None), r#"stream=~"stderr|""#),
        (f(None, None, Some("ERROR"), None), r#"|= "ERROR""#),
        (f(None, None, Some("\u{fffd}"), None), ""),
        (
            f(None, None, Some(r#""C:\tmp""#), None),
            r#"|= "\"C:\\tmp\"""#,
        ),
        (f(None, None, None, Some(r"\d$")), "|~"),
        (f(None, None, None, Some(r"^\w+ ")), "|~"),
        (f(None, None, None, Some(r"(?i)k")), "|~"),
        (f(None, None, None, Some(r"\bslow\b")), r#"|~ "slow""#),
        (f(None, None, None, Some(r"a\.c|ß")), "|~"),
        (f(None, None, None, Some(r"[[:upper:]]{4,}")), "|~"),
        (f(None, None, None, Some("\t")), r#"|~ "\\x{9}""#),
        (
            f(
                Some(Severity::Critical),
                Some(ERR),
                Some("disk"),
                Some(r"gone$"),
            ),
            "|~",
        ),
    ];
    for (filter, sent) in cases {
        for tail in [None, Some(1), Some(2), Some(4), Some(100)] {
            let before = b.sim.sent_queries().len();
            let got = all(&b, request(filter.clone(), tail))
                .await
                .unwrap_or_else(|e| panic!("{filter:?}: {e}"));
            let queries = b.sim.sent_queries();
            assert!(
                queries[before..].iter().all(|q| q.contains(sent)),
                "{filter:?}: {sent:?} not in {:?}",
                &queries[before..]
            );
            let want = in_process(&b, &filter, tail).await;
            assert_eq!(texts(&got), want, "{filter:?}, tail {tail:?}");
        }
    }
}

/// Random filters, with tiny pages so that counting for `tail` crosses pages and instants.
#[test]
fn random_filters_answer_as_in_process_filtering() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let b = Arc::new(rt.block_on(corpus(|a| a.page_size = 3)));
    let level = proptest::option::of(proptest::sample::select(Severity::ALL.to_vec()));
    let stream = proptest::option::of(prop_oneof![Just(OUT), Just(ERR)]);
    let grep = proptest::option::of(proptest::sample::select(vec![
        "ERROR", "info", "é", "\u{fffd}", "\"C:", "`", "|=", " ", "slow", "\u{212a}",
    ]));
    let re = proptest::option::of(proptest::sample::select(vec![
        r"\d",
        r"^\w+",
        "(?i)error",
        r"\bfail",
        "t$",
        "[[:upper:]]{3}",
        r"\p{L}\s",
        "a.c",
        "(?i)k",
        r"\s\d+$",
        "^[^a-z]",
        r"é|ß",
        r"(?m)^\S+$",
        r"\<",
        r"[\w&&[^\d]]{5}",
        "x{2,}|y",
    ]));
    let tail = proptest::option::of(prop_oneof![
        Just(1usize),
        Just(2),
        Just(3),
        Just(5),
        Just(50)
    ]);
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(level, stream, grep, re, tail),
            |(level, stream, grep, re, tail)| {
                let filter = Filter {
                    level,
                    stream,
                    grep: grep.map(str::to_owned),
                    regexp: re.and_then(regexp),
                };
                let b = b.clone();
                rt.block_on(async move {
                    let got = all(&b, request(filter.clone(), tail))
                        .await
                        .map_err(TestCaseError::fail)?;
                    let want = in_process(&b, &filter, tail).await;
                    prop_assert_eq!(texts(&got), want, "{:?} tail {:?}", filter, tail);
                    Ok(())
                })
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_trusts_loki_only_when_its_filter_is_exact() {
    let b = corpus(|_| {}).await;
    // grep is exact: one backward query of N lines.
    let before = b.sim.queries();
    let got = all(
        &b,
        request(
            Filter {
                grep: Some("ERROR".into()),
                ..Filter::default()
            },
            Some(2),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&got), ["ERROR failed 2", "ERROR from metadata"]);
    assert_eq!(b.sim.queries() - before, 1);
    let last = b
        .sim
        .request_log()
        .pop()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(
        (last.param("direction"), last.param("limit")),
        (Some("backward"), Some("2"))
    );
    // A level filter is not (the text decides for lines Loki calls `unknown`): a backward page
    // is counted in process, and the N come from it, still in one query.
    let before = b.sim.queries();
    let level = Filter {
        level: Some(Severity::Error),
        ..Filter::default()
    };
    let got = all(&b, request(level.clone(), Some(2)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&got), ["ERROR failed 2", "ERROR from metadata"]);
    assert_eq!(b.sim.queries() - before, 1);
    let last = b
        .sim
        .request_log()
        .pop()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(last.param("limit"), Some("5000"), "a whole page is counted");
    assert_eq!(texts(&got), in_process(&b, &level, Some(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_for_tail_crosses_pages_and_skips_what_loki_kept_for_the_text() {
    let b = LokiBackend::with(|a| a.page_size = 4).await;
    b.sim.set_discover_log_levels(true);
    // Loki calls all of these `unknown`: the provider's own reading of the text decides, and
    // only one in five is an error.
    let lines: Vec<String> = (0..40)
        .map(|i| {
            if i % 5 == 0 {
                format!("ERROR e{i}")
            } else {
                format!("WARN w{i}")
            }
        })
        .collect();
    for (i, line) in lines.iter().enumerate() {
        b.push(NAMESPACE, "many", &LokiBackend::pod("many", i % 2), &[line]);
    }
    let filter = Filter {
        level: Some(Severity::Error),
        ..Filter::default()
    };
    let mut r = Request::new(NAMESPACE, "many");
    r.filter = filter;
    r.tail = Some(3);
    let before = b.sim.queries();
    let got = all(&b, r).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&got), ["ERROR e25", "ERROR e30", "ERROR e35"]);
    // Backward pages of 4 (each re-reading the oldest line of the one before) down to e25:
    // 39-36, 36-33, 33-30, 30-27, 27-24; then forward from e25 in pages of 4.
    let queries = b.sim.queries() - before;
    assert_eq!(queries, 10, "5 pages counted, 5 delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regexp_loki_refuses_is_applied_by_the_provider_alone() {
    let b = corpus(|_| {}).await;
    let filter = Filter {
        regexp: regexp(r"fail\w+ \d"),
        ..Filter::default()
    };
    b.sim.fail_next_query(
        400,
        r#"parse error : stage '|~ "fail(?s:.)+\\x{20}(?s:.)"' : error parsing regexp: invalid escape sequence: `\C`"#,
    );
    let before = b.sim.sent_queries().len();
    let got = all(&b, request(filter.clone(), Some(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&got), ["ERROR failed 2"]);
    assert_eq!(texts(&got), in_process(&b, &filter, Some(1)).await);
    let sent = b.sim.sent_queries();
    assert!(sent[before].contains("|~"), "{sent:?}");
    assert_eq!(
        sent[before + 1],
        r#"{faas_function="fn",namespace="openfaas-fn"}"#,
        "asked again without it"
    );
    // Any other refusal is the request's failure, as before.
    b.sim
        .fail_next_query(400, "max entries limit per query exceeded");
    let e = match all(&b, request(filter, None)).await {
        Ok(got) => panic!("expected Loki's refusal, got {got:?}"),
        Err(e) => e,
    };
    assert!(e.contains("max entries limit"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_filter_the_shared_readers_lines_and_catch_up_with_the_pushed_query() {
    let b = LokiBackend::with(|a| a.follow_delay = Some(Duration::ZERO)).await;
    b.sim.set_discover_log_levels(true);
    let name = "follow-filtered";
    b.push(
        NAMESPACE,
        name,
        "p-0",
        &["INFO before", "ERROR needle before"],
    );
    // An unfiltered follower keeps the namespace's reader going.
    let mut plain_request = Request::new(NAMESPACE, name);
    plain_request.follow = true;
    let mut plain = b
        .requester
        .query(plain_request)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    let mut filtered_request = request(
        Filter {
            level: Some(Severity::Error),
            grep: Some("needle".into()),
            ..Filter::default()
        },
        None,
    );
    filtered_request.name = name.into();
    filtered_request.follow = true;
    let mut filtered = b
        .requester
        .query(filtered_request)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_eq!(next(&mut filtered).await, "ERROR needle before");
    assert_eq!(next(&mut plain).await, "INFO before");
    assert_eq!(next(&mut plain).await, "ERROR needle before");
    // Pulled while there is nothing to deliver, a follow joins the namespace's reader and
    // waits on it: what comes now comes through the reader, unfiltered, to be filtered here.
    for s in [&mut filtered, &mut plain] {
        let idle = tokio::time::timeout(Duration::from_millis(800), s.next()).await;
        assert!(idle.is_err(), "{idle:?}");
    }
    for line in [
        "INFO needle live",
        "ERROR hay live",
        "WARN needle live",
        "ERROR needle live",
    ] {
        b.push(NAMESPACE, name, "p-1", &[line]);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for want in [
        "INFO needle live",
        "ERROR hay live",
        "WARN needle live",
        "ERROR needle live",
    ] {
        assert_eq!(next(&mut plain).await, want);
    }
    assert_eq!(next(&mut filtered).await, "ERROR needle live");
    let more = tokio::time::timeout(Duration::from_millis(800), filtered.next()).await;
    assert!(more.is_err(), "{more:?}");
    // The shared reader reads the whole namespace; every query of the function's own carries
    // the filtered follower's pipeline or none (the plain follower's).
    let sent = b.sim.sent_queries();
    let own = format!(r#"{{faas_function="{name}",namespace="openfaas-fn"}}"#);
    assert!(
        sent.iter()
            .any(|q| q.starts_with(r#"{faas_function=~".+""#)),
        "{sent:?}"
    );
    let filtered_queries: Vec<&String> = sent.iter().filter(|q| q.contains("needle")).collect();
    assert!(!filtered_queries.is_empty(), "{sent:?}");
    for q in filtered_queries {
        assert!(q.starts_with(&format!("{own} |= \"needle\"")), "{q}");
        assert!(q.contains("detected_level!~"), "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_come_from_lokis_label_values_for_the_namespace() {
    let b = LokiBackend::start().await;
    b.push(NAMESPACE, "figlet", "figlet-1", &["a"]);
    b.push(NAMESPACE, "env", "env-1", &["b"]);
    b.push("team-b", "other", "other-1", &["c"]);
    let mut names = b
        .requester
        .functions(NAMESPACE)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    names.sort();
    assert_eq!(names, ["env", "figlet"]);
    let log = b.sim.request_log();
    let mut queries: Vec<(&str, Option<&str>)> = log
        .iter()
        .map(|r| (r.path.as_str(), r.param("query")))
        .collect();
    queries.sort();
    let values = "/loki/api/v1/label/faas_function/values";
    assert_eq!(
        queries,
        [
            (
                values,
                Some(r#"{namespace="openfaas-fn",faas_function=""}"#)
            ),
            (values, Some(r#"{namespace="openfaas-fn"}"#)),
        ],
        "the listing and its probe, nothing else"
    );
    let Some(asked) = log
        .iter()
        .find(|r| r.param("query") == Some(r#"{namespace="openfaas-fn"}"#))
    else {
        panic!("{queries:?}");
    };
    let (start, end) = (
        asked.param("start").and_then(|s| s.parse::<i64>().ok()),
        asked.param("end").and_then(|s| s.parse::<i64>().ok()),
    );
    let (Some(start), Some(end)) = (start, end) else {
        panic!("{asked:?}");
    };
    assert_eq!(
        end - start,
        3_600_000_000_000,
        "the look-back, 1h by default"
    );
    assert!(
        b.requester
            .functions("nobody-here")
            .await
            .unwrap_or_else(|e| panic!("{}", e.chain()))
            .is_empty()
    );
    // Loki refusing (here: a tenant is required) is an error, not an empty list.
    b.sim.require_tenant("team-a");
    let e = match b.requester.functions(NAMESPACE).await {
        Ok(names) => panic!("expected Loki's refusal, got {names:?}"),
        Err(e) => e,
    };
    assert!(e.chain().contains("no org id"), "{}", e.chain());
}

/// A Loki before 2.9 ignores the label-values `query` and answers every namespace's functions:
/// the provider notices (its probe for streams without a function label gets values) and lists
/// nothing, rather than naming another namespace's functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_that_ignores_the_label_values_query_lists_nothing() {
    let b = LokiBackend::start().await;
    b.push(NAMESPACE, "figlet", "figlet-1", &["a"]);
    b.push("team-b", "secret-fn", "secret-fn-1", &["c"]);
    b.sim.set_label_values_ignore_query(true);
    let msg = match b.requester.functions(NAMESPACE).await {
        Err(logs_api::Error::Unsupported(msg)) => msg,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(msg.contains("Loki before 2.9"), "{msg}");
    assert!(!msg.contains("secret-fn"), "{msg}");
    // A Loki that honours the query, with streams of the namespace that carry no function
    // label, still lists.
    b.sim.set_label_values_ignore_query(false);
    b.sim.push(
        &[("namespace", NAMESPACE), ("job", "ingress")],
        &[(logs_api::Timestamp::now().unix_nanos(), "not a function")],
    );
    let names = b
        .requester
        .functions(NAMESPACE)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_eq!(names, ["figlet"]);
}
