//! The simulator's LogQL over HTTP: line filters, label filters on `detected_level` and
//! `stream`, Loki's level discovery, Loki's parse errors for bad filters, label values with a
//! selector, and the request log the provider's tests read.

use loki_simulator::{Simulator, time};
use serde_json::Value;

mod support;
use support::get;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Base of the lines' timestamps: a minute ago.
fn base() -> i64 {
    time::now_nanos() - 60_000_000_000
}

/// `query_range` forward over the last two minutes: the lines, oldest first, or the error.
async fn lines(sim: &Simulator, query: &str, limit: usize) -> Result<Vec<String>, (u16, String)> {
    lines_in(sim, query, limit, "forward").await
}

async fn lines_in(
    sim: &Simulator,
    query: &str,
    limit: usize,
    direction: &str,
) -> Result<Vec<String>, (u16, String)> {
    let now = time::now_nanos();
    let target = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit={limit}&direction={direction}",
        enc(query),
        now - 120_000_000_000,
        now + 1
    );
    let (status, body) = get(sim, &target).await;
    if status != 200 {
        return Err((status, body));
    }
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut entries: Vec<(i64, String)> = v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            (
                v[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0),
                v[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    Ok(entries.into_iter().map(|e| e.1).collect())
}

const APP: &str = r#"{app="a"}"#;

async fn app_lines(sim: &Simulator, texts: &[&str]) {
    let t = base();
    let stamped: Vec<(i64, &str)> = texts
        .iter()
        .enumerate()
        .map(|(i, l)| (t + i as i64, *l))
        .collect();
    sim.push(&[("app", "a")], &stamped);
}

#[tokio::test]
async fn line_filters_keep_what_loki_keeps() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    app_lines(
        &sim,
        &[
            "GET /a 200",
            "GET /b 500",
            r#"path "C:\tmp" ok"#,
            "été 3",
            "x٣y",
            "a<b>",
        ],
    )
    .await;
    for (pipeline, want) in [
        (r#"|= "GET""#, vec!["GET /a 200", "GET /b 500"]),
        (
            r#"!= "GET""#,
            vec![r#"path "C:\tmp" ok"#, "été 3", "x٣y", "a<b>"],
        ),
        (r#"|= "GET" |= "500""#, vec!["GET /b 500"]),
        (r#"|= "C:\\tmp""#, vec![r#"path "C:\tmp" ok"#]),
        (r#"|= "\"C:""#, vec![r#"path "C:\tmp" ok"#]),
        (r#"|~ "5\\d\\d$""#, vec!["GET /b 500"]),
        (r#"|~ "(?i)get /A""#, vec!["GET /a 200"]),
        (r#"!~ "\\d""#, vec![r#"path "C:\tmp" ok"#, "x٣y", "a<b>"]),
        // Go's \d is ASCII: the Arabic-Indic digit is no digit to Loki.
        (r#"|~ "x\\dy""#, vec![]),
        // Go's \w is ASCII too, and \< is a plain `<`.
        (r#"|~ "^\\w+ \\d""#, vec![]),
        (r#"|~ "a\\<b""#, vec!["a<b>"]),
        (r"|~ `^été`", vec!["été 3"]),
    ] {
        let query = format!("{APP} {pipeline}");
        assert_eq!(
            lines(&sim, &query, 100)
                .await
                .unwrap_or_else(|e| panic!("{query}: {e:?}")),
            want,
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_limit_counts_lines_after_the_filters() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<String> = (0..20).map(|i| format!("line {i} {}", i % 3)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    app_lines(&sim, &refs).await;
    let query = format!(r#"{APP} |~ " 0$""#);
    assert_eq!(
        lines_in(&sim, &query, 2, "backward")
            .await
            .unwrap_or_default(),
        ["line 15 0", "line 18 0"]
    );
    assert_eq!(
        lines_in(&sim, &query, 2, "forward")
            .await
            .unwrap_or_default(),
        ["line 0 0", "line 3 0"]
    );
}

#[tokio::test]
async fn level_discovery_and_label_filters() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    sim.set_discover_log_levels(true);
    let t = base();
    sim.push(
        &[("app", "a"), ("stream", "stdout")],
        &[(t, "INFO start"), (t + 2, "level=debug msg=x")],
    );
    sim.push(
        &[("app", "a"), ("stream", "stderr")],
        &[(t + 1, "ERROR failed"), (t + 3, "[error] boom")],
    );
    // Metadata pushed by a shipper named like a label stays apart from it.
    sim.push_with_metadata(
        &[("app", "a"), ("stream", "stderr")],
        &[("stream", "stdout"), ("detected_level", "WARNING")],
        &[(t + 4, "odd")],
    );
    for (pipeline, want) in [
        (r#"| detected_level="info""#, vec!["INFO start"]),
        (
            r#"| detected_level!~"(?i:info|debug|trace)""#,
            vec!["ERROR failed", "[error] boom", "odd"],
        ),
        (r#"| detected_level="unknown""#, vec!["ERROR failed"]),
        (r#"| detected_level="warn""#, vec!["odd"]),
        (
            r#"| stream="stderr""#,
            vec!["ERROR failed", "[error] boom", "odd"],
        ),
        (r#"| stream_extracted="stdout""#, vec!["odd"]),
        (
            r#"| stream="stdout" | detected_level=~"debug|info""#,
            vec!["INFO start", "level=debug msg=x"],
        ),
        (
            r#"| nothing="""#,
            vec![
                "INFO start",
                "ERROR failed",
                "level=debug msg=x",
                "[error] boom",
                "odd",
            ],
        ),
    ] {
        let query = format!("{APP} {pipeline}");
        assert_eq!(
            lines(&sim, &query, 100)
                .await
                .unwrap_or_else(|e| panic!("{query}: {e:?}")),
            want,
            "{query}"
        );
    }
    // The discovered level is in the answer, folded into the stream labels.
    let now = time::now_nanos();
    let target = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit=10",
        enc(r#"{app="a"} |= "boom""#),
        now - 120_000_000_000,
        now
    );
    let (_, body) = get(&sim, &target).await;
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["data"]["result"][0]["stream"]["detected_level"], "error");
    // Off (the simulator's default), nothing is added.
    let plain = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    app_lines(&plain, &["INFO x"]).await;
    let got = lines(&plain, r#"{app="a"} | detected_level="info""#, 10).await;
    assert_eq!(got, Ok(Vec::<String>::new()));
}

#[tokio::test]
async fn bad_filters_are_refused_with_lokis_texts() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    app_lines(&sim, &["x"]).await;
    for (query, want) in [
        (
            r#"{app="a"} |~ "(""#,
            r#"parse error : stage '|~ "("' : error parsing regexp: missing closing ): `(`"#,
        ),
        (
            r#"{app="a"} |= "x" |~ "a{2000}""#,
            r#"parse error : stage '|= "x" |~ "a{2000}"' : error parsing regexp: invalid repeat count: `{2000}`"#,
        ),
        (
            r#"{app="a"} |~ "\\p{Alphabetic}""#,
            r#"parse error : stage '|~ "\\p{Alphabetic}"' : error parsing regexp: invalid character class range: `\p{Alphabetic}`"#,
        ),
        (
            r#"{app="a"} | detected_level=~"(?x)a""#,
            "parse error : error parsing regexp: invalid or unsupported Perl syntax: `(?x`",
        ),
        (
            r#"{app="a"} |= "#,
            "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING",
        ),
        (
            r#"{app="a"} |= "x"#,
            "parse error at line 1, col 16: syntax error: literal not terminated",
        ),
    ] {
        assert_eq!(
            lines(&sim, query, 10).await,
            Err((400, want.to_owned())),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_request_log_shows_what_was_asked() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    let q = r#"{app="a"} |= "x y""#;
    let _ = lines(&sim, q, 10).await;
    let _ = lines(&sim, "{bad", 10).await;
    assert_eq!(sim.sent_queries(), [q, "{bad"]);
    let log = sim.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].path, "/loki/api/v1/query_range");
    assert_eq!(log[0].param("limit"), Some("10"));
    assert_eq!(log[0].param("direction"), Some("forward"));
}

#[tokio::test]
async fn label_values_with_a_selector_and_a_time_range() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    let t = base();
    let fun = |name: &'static str, ns: &'static str| [("faas_function", name), ("namespace", ns)];
    sim.push(&fun("figlet", "openfaas-fn"), &[(t, "a")]);
    sim.push(&fun("env", "openfaas-fn"), &[(t, "b")]);
    sim.push(&fun("other", "team-b"), &[(t, "c")]);
    // Older than the hour asked about.
    sim.push(&fun("old", "openfaas-fn"), &[(t - 7_200_000_000_000, "d")]);
    sim.push(&[("namespace", "openfaas-fn"), ("job", "x")], &[(t, "e")]);
    let values = |query: &str| {
        let target = format!(
            "/loki/api/v1/label/faas_function/values?query={}&start={}&end={}",
            enc(query),
            t - 3_600_000_000_000,
            t + 1_000
        );
        let sim = &sim;
        async move { get(sim, &target).await }
    };
    let (status, body) = values(r#"{namespace="openfaas-fn"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "{\"status\":\"success\",\"data\":[\"env\",\"figlet\"]}\n"
    );
    let (status, body) = values(r#"{namespace="nobody"}"#).await;
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"success\"}\n"));
    for (query, want) in [
        (
            r#"{namespace="openfaas-fn""#,
            "parse error at line 1, col 25: syntax error: unexpected $end, expecting } or ,",
        ),
        (
            r#"{namespace=~".*"}"#,
            "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ),
        (
            r#"{namespace="openfaas-fn"} |= "x""#,
            "only label matchers are supported",
        ),
    ] {
        assert_eq!(values(query).await, (400, want.to_owned()), "{query}");
    }
    let (status, body) = get(
        &sim,
        "/loki/api/v1/label/faas_function/values?start=yesterday",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "could not parse 'start' parameter: cannot parse \"yesterday\" to a valid timestamp"
        )
    );
}

/// Before Loki 2.9 the label-values handler read only `start` and `end`: a `query` naming one
/// namespace still got the values of every namespace, and a malformed one was not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_loki_answers_label_values_from_every_stream() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    sim.set_label_values_ignore_query(true);
    let t = base();
    let fun = |name: &'static str, ns: &'static str| [("faas_function", name), ("namespace", ns)];
    sim.push(&fun("figlet", "openfaas-fn"), &[(t, "a")]);
    sim.push(&fun("other", "team-b"), &[(t, "c")]);
    for query in [
        r#"{namespace="openfaas-fn"}"#,
        r#"{namespace="openfaas-fn""#,
    ] {
        let target = format!(
            "/loki/api/v1/label/faas_function/values?query={}&start={}&end={}",
            enc(query),
            t - 3_600_000_000_000,
            t + 1_000
        );
        assert_eq!(
            get(&sim, &target).await,
            (
                200,
                "{\"status\":\"success\",\"data\":[\"figlet\",\"other\"]}\n".to_owned()
            ),
            "{query}"
        );
    }
    sim.set_label_values_ignore_query(false);
    let target = format!(
        "/loki/api/v1/label/faas_function/values?query={}&start={}&end={}",
        enc(r#"{namespace="openfaas-fn"}"#),
        t - 3_600_000_000_000,
        t + 1_000
    );
    assert_eq!(
        get(&sim, &target).await.1,
        "{\"status\":\"success\",\"data\":[\"figlet\"]}\n"
    );
}
