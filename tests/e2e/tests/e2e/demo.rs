//! `logs-demo` (package logs-api) as a process: the binary contract, live generated lines and
//! SIGTERM mid-stream, and the timeout flags checked at start-up.

use std::time::Duration;

use crate::support::binaries::Binary;
use crate::support::contract::{self, BAD_CONFIGURATION, GRACE, Setup, USAGE_ERROR};
use crate::support::providers::go_duration;
use logs_api::testing::open;

fn demo() -> Setup {
    Setup::new(Binary::Demo).args(&["--interval", "50ms"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_start_up() {
    contract::bad_configuration_stops_start_up(&demo()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_secret_files() {
    contract::basic_auth_from_secret_files(&demo()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_generated_lines_live_until_sigterm() {
    let provider = demo()
        .start(&["--shutdown-grace", &go_duration(GRACE)], &[])
        .await;
    let mut stream = open(
        provider.addr,
        "/system/logs?name=figlet&follow=true&instance=figlet-1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let first = stream.next_message(Duration::from_secs(10)).await;
    let second = stream.next_message(Duration::from_secs(10)).await;
    for m in [&first, &second] {
        assert_eq!(m["instance"], "figlet-1");
        assert_eq!(m["namespace"], "openfaas-fn");
        assert!(
            m["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("figlet-1: handled request")),
            "{m}"
        );
    }
    assert_ne!(first["text"], second["text"]);
    contract::sigterm_ends_the_stream_cleanly(provider, stream).await;
}

#[tokio::test]
async fn timeout_flags_and_their_environment_variables_are_checked_at_start_up() {
    for (args, envs, status, says) in [
        (
            vec!["--ready-timeout", "0"],
            vec![],
            BAD_CONFIGURATION,
            "ready-timeout must be more than zero",
        ),
        (
            vec![],
            vec![("FAAS_LOGS_READY_TIMEOUT", "0")],
            BAD_CONFIGURATION,
            "ready-timeout must be more than zero",
        ),
        (
            vec!["--first-byte-timeout", "0"],
            vec![],
            BAD_CONFIGURATION,
            "first-byte-timeout must be more than zero",
        ),
        (
            vec![],
            vec![("FAAS_LOGS_FIRST_BYTE_TIMEOUT", "0")],
            BAD_CONFIGURATION,
            "first-byte-timeout must be more than zero",
        ),
        (
            vec!["--ready-timeout", "soon"],
            vec![],
            USAGE_ERROR,
            "is not a duration",
        ),
    ] {
        let (code, stderr) = demo().run_to_exit(&args, &envs).await;
        assert_eq!(code, Some(status), "{args:?} {envs:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} {envs:?}: {stderr}");
    }
}
