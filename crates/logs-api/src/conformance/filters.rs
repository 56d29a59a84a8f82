//! The conformance scenarios of the server-side filters (`level`, `stream`, `grep`, `regexp`),
//! the `events` switch and the functions listing (`GET /system/logs/functions`).
//!
//! A backend opts in with [`crate::conformance_filter_tests!`] once it implements them. The
//! scenarios follow the backend's declared [`crate::Capabilities`]: a filter it declares must
//! work; one it does not must be a `422` naming the parameter.
//!
//! Lines are written with [`Provider::write_stream`]: `ERROR …` to stderr and `INFO …` to
//! stdout, so every backend's natural level agrees (journald's `PRIORITY` 3 and 6 as faasd
//! writes them, the level a Kubernetes backend detects from the text, Loki's detected level).

use std::time::Duration;

use serde_json::Value;

use super::{
    NAMESPACE, OTHER_NAMESPACE, Provider, Target, WAIT, fetch, ndjson, texts, unique_name,
};
use crate::filter::Capabilities;
use crate::message::OutputStream;
use crate::testing::{Response, get, open, send};

const OUT: OutputStream = OutputStream::Stdout;
const ERR: OutputStream = OutputStream::Stderr;

/// The lines of [`write_mixed`], oldest first: (instance, stream, text).
const MIXED: [(usize, OutputStream, &str); 6] = [
    (0, OUT, "INFO start 0"),
    (0, ERR, "ERROR failed 1"),
    (1, OUT, "INFO serving 2"),
    (1, ERR, "ERROR failed 3"),
    (0, OUT, "INFO done 4"),
    (1, OUT, "INFO idle 5"),
];

/// Writes [`MIXED`] for `name`: errors from two instances, the newest line an `INFO`.
async fn write_mixed(backend: &dyn Provider, name: &str) {
    for (instance, stream, text) in MIXED {
        backend
            .write_stream(NAMESPACE, name, instance, stream, &[text])
            .await;
    }
}

/// The texts of [`MIXED`] that pass `keep`.
fn mixed(keep: impl Fn(usize, OutputStream, &str) -> bool) -> Vec<String> {
    MIXED
        .iter()
        .filter(|(i, s, t)| keep(*i, *s, t))
        .map(|(_, _, t)| (*t).to_owned())
        .collect()
}

fn capabilities(backend: &dyn Provider) -> Capabilities {
    backend.capabilities()
}

/// The texts of a `200` answer to `query`.
async fn answer(server: &Target, query: &str) -> Vec<String> {
    texts(&ndjson(&fetch(server, query).await))
}

/// Asserts a `422` whose plain-text body names `param` and leaks no log line.
fn assert_refused(res: &Response, query: &str, param: &str) {
    assert_eq!(res.status, 422, "?{query}: {}", res.text());
    let text = res.text();
    assert!(
        text.starts_with("could not parse the log request: ") && text.ends_with('\n'),
        "?{query}: {text:?}"
    );
    assert!(text.contains(param), "?{query} must name {param}: {text:?}");
    for (_, _, line) in MIXED {
        assert!(!text.contains(line), "?{query} leaked data: {text:?}");
    }
    assert!(
        res.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "?{query}"
    );
}

/// `level=X` keeps the messages at X or worse; aliases and case do not matter.
pub async fn level(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("level");
    write_mixed(backend, &name).await;
    if !capabilities(backend).level {
        let query = format!("name={name}&level=error");
        assert_refused(&fetch(&server, &query).await, &query, "level");
        return;
    }
    let errors = mixed(|_, _, t| t.starts_with("ERROR"));
    for level in ["error", "err", "ERROR", "warning", "warn", "notice"] {
        assert_eq!(
            answer(&server, &format!("name={name}&level={level}")).await,
            errors,
            "level={level}"
        );
    }
    let all = mixed(|_, _, _| true);
    for level in ["info", "debug", "Info"] {
        assert_eq!(
            answer(&server, &format!("name={name}&level={level}")).await,
            all,
            "level={level}"
        );
    }
    for level in ["crit", "alert", "emerg"] {
        assert!(
            answer(&server, &format!("name={name}&level={level}"))
                .await
                .is_empty(),
            "level={level}"
        );
    }
}

/// `level=error&tail=N`: the last N errors, though newer lines of other levels exist.
pub async fn level_and_tail(backend: &dyn Provider) {
    if !capabilities(backend).level {
        return;
    }
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("leveltail");
    write_mixed(backend, &name).await;
    assert_eq!(
        answer(&server, &format!("name={name}&level=error&tail=1")).await,
        ["ERROR failed 3"]
    );
    assert_eq!(
        answer(&server, &format!("name={name}&level=error&tail=2")).await,
        ["ERROR failed 1", "ERROR failed 3"]
    );
    assert_eq!(
        answer(&server, &format!("name={name}&level=error&tail=50")).await,
        ["ERROR failed 1", "ERROR failed 3"]
    );
    // `since` and `tail` with a filter: the last N matches at or after `since`.
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    let third = history[2]["timestamp"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        answer(
            &server,
            &format!("name={name}&level=error&since={third}&tail=5")
        )
        .await,
        ["ERROR failed 3"]
    );
}

/// `stream=stdout|stderr`, or a `422` from a backend that cannot tell them apart.
pub async fn stream(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("stream");
    write_mixed(backend, &name).await;
    if !capabilities(backend).stream {
        for s in ["stdout", "stderr"] {
            let query = format!("name={name}&stream={s}");
            assert_refused(&fetch(&server, &query).await, &query, "stream");
        }
        return;
    }
    let out = ndjson(&fetch(&server, &format!("name={name}&stream=stdout")).await);
    assert_eq!(texts(&out), mixed(|_, s, _| s == OUT));
    assert!(out.iter().all(|m| m["stream"] == "stdout"), "{out:?}");
    let err = ndjson(&fetch(&server, &format!("name={name}&stream=stderr")).await);
    assert_eq!(texts(&err), mixed(|_, s, _| s == ERR));
    assert!(err.iter().all(|m| m["stream"] == "stderr"), "{err:?}");
    assert_eq!(
        answer(&server, &format!("name={name}&stream=stdout&tail=1")).await,
        ["INFO idle 5"]
    );
}

/// Lines whose text is hard to put into a query language literally.
const TRICKY: [&str; 6] = [
    r#"INFO path "C:\tmp\new" opened"#,
    "INFO a.c matched literally",
    "INFO abc only",
    "INFO 100% done |= `tick` {x}",
    "INFO ünïcødé ✓ line",
    "INFO plain",
];

async fn write_tricky(backend: &dyn Provider, name: &str) {
    backend.write_stream(NAMESPACE, name, 0, OUT, &TRICKY).await;
}

/// Percent-encodes every byte but unreserved ones, as a client building a query would.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `grep=TEXT`: a case-sensitive substring, taken literally whatever its characters.
pub async fn grep(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("grep");
    write_tricky(backend, &name).await;
    if !capabilities(backend).text {
        let query = format!("name={name}&grep=plain");
        assert_refused(&fetch(&server, &query).await, &query, "grep");
        return;
    }
    for (needle, want) in [
        ("plain", vec![TRICKY[5]]),
        ("PLAIN", vec![]),
        ("a.c", vec![TRICKY[1]]),
        ("abc", vec![TRICKY[2]]),
        (r#""C:\tmp\new""#, vec![TRICKY[0]]),
        ("100% done |= `tick` {x}", vec![TRICKY[3]]),
        ("ünïcødé ✓", vec![TRICKY[4]]),
        ("INFO", TRICKY.to_vec()),
        ("not there", vec![]),
    ] {
        assert_eq!(
            answer(&server, &format!("name={name}&grep={}", encode(needle))).await,
            want,
            "grep={needle:?}"
        );
    }
    assert_eq!(
        answer(&server, &format!("name={name}&grep=INFO&tail=1")).await,
        [TRICKY[5]]
    );
}

/// `regexp=RE`: the `regex` crate's syntax, matched anywhere in the text.
pub async fn regexp(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("regexp");
    write_tricky(backend, &name).await;
    if !capabilities(backend).text {
        let query = format!("name={name}&regexp=plain");
        assert_refused(&fetch(&server, &query).await, &query, "regexp");
        return;
    }
    for (pattern, want) in [
        (r"^INFO plain$", vec![TRICKY[5]]),
        (r"a\.c", vec![TRICKY[1]]),
        (r"a.c", vec![TRICKY[1], TRICKY[2]]),
        (r"(?i)^info PLAIN", vec![TRICKY[5]]),
        (r"^info", vec![]),
        (r#"C:\\tmp\\new"#, vec![TRICKY[0]]),
        (r"\d+% done", vec![TRICKY[3]]),
        (r"ü\w+", vec![TRICKY[4]]),
        (r"matched|plain$", vec![TRICKY[1], TRICKY[5]]),
    ] {
        assert_eq!(
            answer(&server, &format!("name={name}&regexp={}", encode(pattern))).await,
            want,
            "regexp={pattern:?}"
        );
    }
}

/// Filters combine (all must hold), also with `instance`, `tail` and `since`.
pub async fn combined(backend: &dyn Provider) {
    let caps = capabilities(backend);
    if !(caps.level && caps.text) {
        return;
    }
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("combined");
    write_mixed(backend, &name).await;
    let history = ndjson(&fetch(&server, &format!("name={name}")).await);
    let second = history[1]["instance"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let third = history[2]["instance"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(second, third, "two instances, two ids");
    for (query, want) in [
        ("level=error&grep=1".to_owned(), vec!["ERROR failed 1"]),
        (
            "level=error&regexp=%5BFf%5Dailed".to_owned(),
            vec!["ERROR failed 1", "ERROR failed 3"],
        ),
        (
            format!("level=error&instance={third}"),
            vec!["ERROR failed 3"],
        ),
        (
            format!("grep=INFO&instance={second}&tail=1"),
            vec!["INFO done 4"],
        ),
        ("grep=failed&tail=1".to_owned(), vec!["ERROR failed 3"]),
        ("level=error&grep=INFO".to_owned(), vec![]),
        (
            "grep=INFO&regexp=%5Cd%24&tail=2".to_owned(),
            vec!["INFO done 4", "INFO idle 5"],
        ),
    ] {
        assert_eq!(
            answer(&server, &format!("name={name}&{query}")).await,
            want,
            "?{query}"
        );
    }
    if caps.stream {
        for (query, want) in [
            ("level=error&stream=stdout", vec![]),
            ("level=error&stream=stderr&tail=1", vec!["ERROR failed 3"]),
            ("stream=stdout&grep=done", vec!["INFO done 4"]),
        ] {
            assert_eq!(
                answer(&server, &format!("name={name}&{query}")).await,
                want,
                "?{query}"
            );
        }
    }
}

/// While following, a live line that does not match is not sent and one that does is.
pub async fn follow(backend: &dyn Provider) {
    let caps = capabilities(backend);
    if !(caps.level && caps.text) {
        return;
    }
    let server = backend.serve(Duration::from_secs(60)).await;
    let name = unique_name("filterfollow");
    write_mixed(backend, &name).await;
    let mut errors = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true&level=error&tail=1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(errors.status, 200);
    let mut needles = open(
        server.addr,
        &format!("/system/logs?name={name}&follow=true&grep=needle"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(needles.status, 200);
    assert_eq!(errors.next_message(WAIT).await["text"], "ERROR failed 3");
    backend
        .write_stream(NAMESPACE, &name, 0, OUT, &["INFO live hay"])
        .await;
    backend
        .write_stream(NAMESPACE, &name, 1, ERR, &["ERROR live needle"])
        .await;
    backend
        .write_stream(NAMESPACE, &name, 0, OUT, &["INFO live needle"])
        .await;
    // The INFO line came first; only the ERROR is for `level=error`.
    assert_eq!(errors.next_message(WAIT).await["text"], "ERROR live needle");
    // Both needles, in either order: while following, instances are independent streams
    // (as with `kubectl logs -f -l`), and these two come from different instances.
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = needles.next_message(WAIT).await;
        got.push(message["text"].as_str().unwrap_or_default().to_owned());
    }
    got.sort();
    assert_eq!(got, ["ERROR live needle", "INFO live needle"]);
    let more = tokio::time::timeout(Duration::from_millis(500), errors.next_line()).await;
    assert!(more.is_err(), "unexpected line for level=error: {more:?}");
    let more = tokio::time::timeout(Duration::from_millis(500), needles.next_line()).await;
    assert!(more.is_err(), "unexpected line for grep=needle: {more:?}");
}

/// Empty values mean "not set"; `events` takes Go's `ParseBool` set (a backend without
/// platform events ignores it).
pub async fn empty_values_and_events(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("empty");
    write_mixed(backend, &name).await;
    let all = mixed(|_, _, _| true);
    assert_eq!(
        answer(
            &server,
            &format!("name={name}&level=&stream=&grep=&regexp=&events=")
        )
        .await,
        all
    );
    assert_eq!(
        answer(&server, &format!("name={name}&events=false")).await,
        all
    );
    for on in ["true", "1", "T"] {
        // A backend with platform events may add its events: every line must still be there,
        // in order.
        let got = answer(&server, &format!("name={name}&events={on}")).await;
        let mut want = all.iter();
        let mut next = want.next();
        for text in &got {
            if Some(text) == next {
                next = want.next();
            }
        }
        assert_eq!(next, None, "events={on}: {got:?}");
    }
}

/// Bad filter values are a `422` naming the parameter, with no data.
pub async fn bad_values(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let name = unique_name("badfilter");
    write_mixed(backend, &name).await;
    let too_long = format!("regexp={}", "a".repeat(crate::filter::REGEXP_MAX_LEN + 1));
    for (value, param) in [
        ("level=verbose", "level"),
        ("level=3", "level"),
        ("level=error%20", "level"),
        ("stream=both", "stream"),
        ("stream=STDERR", "stream"),
        ("regexp=%28", "regexp"),
        ("regexp=a%5B", "regexp"),
        ("regexp=%5Cw%7B1000%7D%7B1000%7D", "regexp"),
        (too_long.as_str(), "regexp"),
        ("events=yes", "events"),
        ("events=2", "events"),
    ] {
        let query = format!("name={name}&{value}");
        assert_refused(&fetch(&server, &query).await, &query, param);
    }
    // Follow changes nothing: the request is refused before anything streams.
    let query = format!("name={name}&follow=true&regexp=%28");
    assert_refused(&fetch(&server, &query).await, &query, "regexp");
}

async fn list(server: &Target, query: &str) -> Response {
    get(server.addr, &format!("/system/logs/functions{query}"))
        .await
        .unwrap_or_else(|e| panic!("GET /system/logs/functions{query}: {e}"))
}

/// The names of a `200` listing, checking its format.
fn names(res: &Response) -> Vec<String> {
    assert_eq!(res.status, 200, "listing: {}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    let v: Value =
        serde_json::from_slice(&res.body).unwrap_or_else(|e| panic!("{e}: {}", res.text()));
    let names: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|n| {
            n.as_str()
                .unwrap_or_else(|| panic!("not a string: {n}"))
                .to_owned()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted, without duplicates");
    names
}

/// `GET /system/logs/functions`: exactly the functions with logs in the namespace, sorted;
/// another namespace's are never listed; the namespace policy is that of `/system/logs`.
pub async fn functions(backend: &dyn Provider) {
    let server = backend.serve(Duration::from_secs(30)).await;
    let b = unique_name("list-b");
    let a = unique_name("list-a");
    let other = unique_name("list-other");
    backend.write(NAMESPACE, &b, 0, &["b 0"]).await;
    backend.write(NAMESPACE, &a, 0, &["a 0"]).await;
    backend.write(NAMESPACE, &a, 1, &["a 1"]).await;
    backend
        .write(OTHER_NAMESPACE, &other, 0, &["other 0"])
        .await;
    // Asking for a function's logs does not make it a function with logs.
    let ghost = unique_name("list-ghost");
    assert!(answer(&server, &format!("name={ghost}")).await.is_empty());

    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(names(&list(&server, "").await), want);
    assert_eq!(names(&list(&server, "?namespace=").await), want);
    assert_eq!(
        names(&list(&server, &format!("?namespace={NAMESPACE}")).await),
        want
    );
    assert_eq!(
        names(
            &list(
                &server,
                &format!("?namespace=x&namespace={OTHER_NAMESPACE}")
            )
            .await
        ),
        [other.as_str()]
    );
    for ns in ["kube-system", "not-allowed", "Bad%20Name"] {
        let res = list(&server, &format!("?namespace={ns}")).await;
        assert_eq!(res.status, 422, "namespace={ns}: {}", res.text());
        let text = res.text();
        assert!(
            text.contains("namespace") && text.ends_with('\n'),
            "{text:?}"
        );
        assert!(!text.contains(&a) && !text.contains(&other), "{text:?}");
    }
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let res = send(server.addr, method, "/system/logs/functions")
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(res.status, 405, "{method}");
        assert_eq!(res.header("allow"), Some("GET"), "{method}");
    }
}

/// Expands to one `#[tokio::test]` per filter and listing scenario, each over a fresh backend
/// from `$make`, an `async fn() -> impl Provider`. A backend expands it once it implements
/// filters and [`crate::Requester::functions`].
#[macro_export]
macro_rules! conformance_filter_tests {
    ($make:path) => {
        $crate::conformance_filter_tests!(@each $make;
            level, level_and_tail, stream, grep, regexp, combined, follow,
            empty_values_and_events, bad_values, functions);
    };
    (@each $make:path; $($scenario:ident),* $(,)?) => {
        mod conformance_filters {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = $make().await;
                    $crate::conformance::filters::$scenario(&backend).await;
                }
            )*
        }
    };
}
