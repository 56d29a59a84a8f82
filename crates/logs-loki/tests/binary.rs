//! The `logs-loki` executable end to end against the Loki simulator: the shared binary
//! contract, bad flags failing at start-up, readiness, and pushed lines served over HTTP.

use std::path::Path;

use logs_api::Timestamp;
use logs_api::testing::{get, run_to_exit, start_provider};
use loki_simulator::Simulator;

const EXE: &str = env!("CARGO_BIN_EXE_logs-loki");

async fn simulator() -> Simulator {
    Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_binary_contract() {
    let sim = simulator().await;
    let url = sim.url();
    logs_api::testing::binary_contract(Path::new(EXE), &["--loki-url", &url]).await;
}

#[tokio::test]
async fn bad_flags_stop_start_up_with_a_clear_message() {
    for (args, says) in [
        (
            &["--loki-url", "ftp://loki"][..],
            "the scheme must be http or https",
        ),
        (
            &["--loki-instance-label", "pod-name"][..],
            "--loki-instance-label",
        ),
        (&["--loki-username", "admin"][..], "--loki-password-file"),
        // The old name of --loki-follow-delay, in seconds, is still read and checked.
        (&["--loki-tail-delay", "90"][..], "at most 60s"),
        (&["--loki-poll-interval", "1ms"][..], "--loki-poll-interval"),
        (&["--loki-stall-timeout", "0"][..], "--loki-stall-timeout"),
        (
            &["--loki-bearer-token-file", "/nonexistent/token"][..],
            "/nonexistent/token",
        ),
    ] {
        let (code, stderr) = run_to_exit(Path::new(EXE), args, &[]).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_pushed_lines_and_reports_readiness() {
    let sim = simulator().await;
    let now = Timestamp::now().unix_nanos();
    let labels = [
        ("faas_function", "figlet"),
        ("namespace", "openfaas-fn"),
        ("pod", "figlet-7d9f-x2"),
        ("stream", "stderr"),
    ];
    sim.push(
        &labels,
        &[(now - 2_000, "hello from loki\n"), (now - 1_000, "second")],
    );
    let token = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(token.path(), "t0k\n").unwrap_or_else(|e| panic!("{e}"));
    sim.require_tenant("team-a");
    sim.require_authorization("Bearer t0k");
    let url = sim.url();
    let token_path = token.path().display().to_string();
    let provider = start_provider(
        Path::new(EXE),
        &[],
        &[
            ("FAAS_LOGS_LOKI_URL", &url),
            ("FAAS_LOGS_LOKI_TENANT", "team-a"),
            ("FAAS_LOGS_LOKI_BEARER_TOKEN_FILE", &token_path),
        ],
    )
    .await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 200, "{}", ready.text());
    let res = get(provider.addr, "/system/logs?name=figlet&tail=1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.text();
    let want_ts = Timestamp::from_unix_nanos(now - 1_000);
    assert_eq!(
        body,
        format!(
            "{{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"figlet-7d9f-x2\",\"timestamp\":\"{want_ts}\",\"text\":\"second\",\"stream\":\"stderr\"}}\n"
        )
    );
    assert!(
        !provider.log.contains("t0k"),
        "the token must never be logged"
    );
    sim.stop().await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 503, "{}", ready.text());
    let status = provider.terminate().await;
    assert!(status.success(), "{status:?}");
}
