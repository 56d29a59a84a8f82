//! `logs-loki` as a process over the Loki simulator: the conformance scenarios over HTTP, the
//! binary contract, SIGTERM mid-stream, and what is specific to it (its flags, tenant and
//! token).

use crate::support::binaries::Binary;
use crate::support::contract::{self, Setup};
use crate::support::providers::{Launch, LokiProcess, sigterm_mid_follow};
use logs_api::Timestamp;
use logs_api::testing::get;

async fn make() -> LokiProcess {
    LokiProcess::start().await
}

logs_api::conformance_tests!(make);
// The filters and the functions listing, held to what the binary declares
// (`LokiProcess::capabilities`, tests/e2e/tests/e2e/support/providers.rs).
logs_api::conformance_filter_tests!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_start_up() {
    contract::bad_configuration_stops_start_up(&LokiProcess::start().await.setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_secret_files() {
    contract::basic_auth_from_secret_files(&LokiProcess::start().await.setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_ends_it_cleanly_and_exits_0() {
    sigterm_mid_follow(&LokiProcess::start().await).await;
}

#[tokio::test]
async fn bad_loki_flags_stop_start_up_with_a_clear_message() {
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
        let (code, stderr) = Setup::new(Binary::Loki).run_to_exit(args, &[]).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // The old variable of --loki-follow-delay, hidden from --help, is still read.
    let (code, stderr) = Setup::new(Binary::Loki)
        .run_to_exit(&[], &[("FAAS_LOGS_LOKI_TAIL_DELAY", "90")])
        .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("at most 60s"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_and_token_from_the_environment_and_readiness() {
    let loki = LokiProcess::start().await;
    let now = Timestamp::now().unix_nanos();
    loki.sim.push(
        &[
            ("faas_function", "figlet"),
            ("namespace", "openfaas-fn"),
            ("pod", "figlet-7d9f-x2"),
            ("stream", "stderr"),
        ],
        &[(now - 2_000, "hello from loki\n"), (now - 1_000, "second")],
    );
    let token = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(token.path(), "t0k\n").unwrap_or_else(|e| panic!("{e}"));
    loki.sim.require_tenant("team-a");
    loki.sim.require_authorization("Bearer t0k");
    let token_path = crate::support::process::arg(token.path());
    let provider = loki
        .setup()
        .start(
            &[],
            &[
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
    let want_ts = Timestamp::from_unix_nanos(now - 1_000);
    assert_eq!(
        res.text(),
        format!(
            "{{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"figlet-7d9f-x2\",\"timestamp\":\"{want_ts}\",\"text\":\"second\",\"stream\":\"stderr\"}}\n"
        )
    );
    loki.sim.stop().await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 503, "{}", ready.text());
    let log = provider.log();
    provider.terminate_cleanly().await;
    assert!(
        !log.contains("t0k"),
        "the token must never be logged:\n{log}"
    );
}
