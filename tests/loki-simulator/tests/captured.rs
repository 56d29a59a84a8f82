//! The Loki simulator answers like the real Loki 3.x responses captured in `tests/fixtures/loki/`.

use loki_simulator::Simulator;
use loki_simulator::time;
use serde_json::Value;

mod support;
use support::http;

/// A captured answer: status, content type, body.
fn fixture(name: &str) -> (u16, String, String) {
    let path = format!("{}/../fixtures/loki/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no header end"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{path}: status"));
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, body.to_owned())
}

fn json_fixture(name: &str) -> Value {
    let path = format!("{}/../fixtures/loki/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The three lines behind the captured query answers: `a1`, `b1` (with structured metadata
/// `trace_id=t9`), `a2`, one millisecond apart, from two instances.
async fn captured_lines() -> Simulator {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    let ts = |n: i64| n;
    let labels = |i: &'static str| {
        [
            ("faas_function", "figlet"),
            ("instance", i),
            ("namespace", "openfaas-fn"),
        ]
    };
    sim.push(&labels("figlet-1"), &[(ts(1795353502489640315), "a1")]);
    sim.push_with_metadata(
        &labels("figlet-2"),
        &[("trace_id", "t9")],
        &[(ts(1795353502490640315), "b1")],
    );
    sim.push(&labels("figlet-1"), &[(ts(1795353502491640315), "a2")]);
    sim
}

fn range_target(direction: &str, limit: usize) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start=1795353500000000000&end=1795353600000000000&limit={limit}&direction={direction}",
        enc(r#"{faas_function="figlet"}"#)
    )
}

fn same_shape(got: &Value, want: &Value) {
    assert_eq!(got["status"], want["status"]);
    assert_eq!(got["data"]["resultType"], want["data"]["resultType"]);
    assert_eq!(got["data"]["result"], want["data"]["result"]);
    assert_eq!(got["data"]["encodingFlags"], want["data"]["encodingFlags"]);
    let keys = |v: &Value| -> Vec<String> {
        v["data"]["stats"]["summary"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(got), keys(want), "stats.summary fields");
}

#[tokio::test]
async fn backward_limit_answer_equals_loki() {
    let sim = captured_lines().await;
    let (status, content_type, body) =
        http(&sim, "GET", &range_target("backward", 2), &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let got: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    same_shape(&got, &json_fixture("query_range_backward_limit2.json"));
}

#[tokio::test]
async fn categorize_labels_answer_equals_loki() {
    let sim = captured_lines().await;
    let (status, _, body) = http(
        &sim,
        "GET",
        &range_target("forward", 100),
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    same_shape(&got, &json_fixture("query_range_categorize_labels.json"));
}

#[tokio::test]
async fn query_errors_equal_loki() {
    let sim = captured_lines().await;
    for (query, name) in [
        (r#"{faas_function="figlet""#, "query_range_error_parse.txt"),
        (
            r#"{faas_function=~".*"}"#,
            "query_range_error_empty_matcher.txt",
        ),
    ] {
        let target = format!("/loki/api/v1/query_range?query={}&limit=10", enc(query));
        let got = http(&sim, "GET", &target, &[], "").await;
        let want = fixture(name);
        assert_eq!((got.0, &got.2), (want.0, &want.2), "{query}");
        assert_eq!(got.1, want.1.to_ascii_lowercase(), "content type");
    }
    // Over the per-query limit, in Loki's words.
    let (status, _, body) = http(&sim, "GET", &range_target("forward", 5001), &[], "").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)"
    );
}

#[tokio::test]
async fn push_errors_equal_loki() {
    let sim = Simulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    let want = fixture("push_error_no_labels.txt");
    let got = http(
        &sim,
        "POST",
        "/loki/api/v1/push",
        &[("Content-Type", "application/json")],
        r#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
    )
    .await;
    assert_eq!((got.0, got.2.as_str()), (want.0, want.2.as_str()));

    let hour_ahead = time::now_nanos() + 3_600_000_000_000;
    let body = format!(
        r#"{{"streams":[{{"stream":{{"faas_function":"f"}},"values":[["{hour_ahead}","x"]]}}]}}"#
    );
    let got = http(&sim, "POST", "/loki/api/v1/push", &[], &body).await;
    let want = fixture("push_error_future.txt");
    let whole = time::rfc3339(hour_ahead - hour_ahead % 1_000_000_000);
    assert_eq!(got.0, want.0);
    assert_eq!(
        got.2,
        format!("entry for stream '{{faas_function=\"f\"}}' has timestamp too new: {whole}\n")
    );
    // Same shape as the captured text, whose time differs.
    assert_eq!(got.2.len(), want.2.len(), "{:?} vs {:?}", got.2, want.2);

    // A good push is stored and readable.
    let now = time::now_nanos();
    let body = format!(
        r#"{{"streams":[{{"stream":{{"faas_function":"f","namespace":"n"}},"values":[["{now}","hello"],["{now}","hello"]]}}]}}"#
    );
    let (status, _, _) = http(&sim, "POST", "/loki/api/v1/push", &[], &body).await;
    assert_eq!(status, 204);
    let target = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}",
        enc(r#"{faas_function="f"}"#),
        now - 1,
        now + 1
    );
    let (_, _, body) = http(&sim, "GET", &target, &[], "").await;
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v["data"]["result"][0]["values"],
        serde_json::json!([[now.to_string(), "hello"]]),
        "identical lines are kept once, as Loki does"
    );
}

#[tokio::test]
async fn label_values_and_series_equal_loki() {
    let sim = captured_lines().await;
    // Asked within the hour the lines were captured in, as the real Loki was.
    let range = "start=1795353500000000000&end=1795353600000000000";
    let target = format!("/loki/api/v1/label/instance/values?{range}");
    let (status, _, body) = http(&sim, "GET", &target, &[], "").await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, json_fixture("label_instance_values.json"));

    let target = format!(
        "/loki/api/v1/series?match[]={}",
        enc(r#"{faas_function="figlet"}"#)
    );
    let (status, _, body) = http(&sim, "GET", &target, &[], "").await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    // Loki prints each series' labels in map order; compare them as sets.
    let want = json_fixture("series.json");
    assert_eq!(got["status"], want["status"]);
    let set = |v: &Value| -> Vec<Value> {
        let mut items = v["data"].as_array().cloned().unwrap_or_default();
        items.sort_by_key(|i| i.to_string());
        items
    };
    assert_eq!(
        set(&got)
            .iter()
            .map(
                |v| serde_json::from_value::<std::collections::BTreeMap<String, String>>(v.clone())
                    .ok()
            )
            .collect::<Vec<_>>(),
        set(&want)
            .iter()
            .map(
                |v| serde_json::from_value::<std::collections::BTreeMap<String, String>>(v.clone())
                    .ok()
            )
            .collect::<Vec<_>>()
    );

    let (status, _, body) = http(&sim, "GET", "/loki/api/v1/labels", &[], "").await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got["data"],
        serde_json::json!(["faas_function", "instance", "namespace"])
    );
}

#[tokio::test]
async fn tenant_and_credentials_are_enforced() {
    let sim = captured_lines().await;
    sim.require_tenant("team-a");
    let (status, _, body) = http(&sim, "GET", "/loki/api/v1/labels", &[], "").await;
    assert_eq!((status, body.as_str()), (401, "no org id\n"));
    let (status, _, _) = http(
        &sim,
        "GET",
        "/loki/api/v1/labels",
        &[("X-Scope-OrgID", "team-a")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    sim.require_authorization("Bearer t0k");
    let (status, _, _) = http(
        &sim,
        "GET",
        "/loki/api/v1/labels",
        &[("X-Scope-OrgID", "team-a")],
        "",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = http(
        &sim,
        "GET",
        "/loki/api/v1/labels",
        &[("X-Scope-OrgID", "team-a"), ("Authorization", "Bearer t0k")],
        "",
    )
    .await;
    assert_eq!(status, 200);
}
