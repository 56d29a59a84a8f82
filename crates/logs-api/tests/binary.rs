//! The `logs-demo` executable end to end: the shared binary contract (config errors, auth from
//! files, SIGTERM) and live lines from its ticker.

use std::path::Path;
use std::time::Duration;

use logs_api::testing::{binary_contract, open, run_to_exit, start_provider};

const EXE: &str = env!("CARGO_BIN_EXE_logs-demo");

#[tokio::test]
async fn passes_the_binary_contract() {
    binary_contract(Path::new(EXE), &["--interval", "50ms"]).await;
}

#[tokio::test]
async fn serves_generated_lines_live() {
    let provider = start_provider(Path::new(EXE), &["--interval", "50ms"], &[]).await;
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
                .is_some_and(|t| t.starts_with("figlet-1: handled request"))
        );
    }
    assert_ne!(first["text"], second["text"]);
    assert!(provider.terminate().await.success());
}

#[tokio::test]
async fn timeout_flags_and_their_environment_variables_are_checked_at_start_up() {
    for (args, envs, says) in [
        (
            vec!["--ready-timeout", "0"],
            vec![],
            "ready-timeout must be more than zero",
        ),
        (
            vec![],
            vec![("FAAS_LOGS_READY_TIMEOUT", "0")],
            "ready-timeout must be more than zero",
        ),
        (
            vec!["--first-byte-timeout", "0"],
            vec![],
            "first-byte-timeout must be more than zero",
        ),
        (
            vec![],
            vec![("FAAS_LOGS_FIRST_BYTE_TIMEOUT", "0")],
            "first-byte-timeout must be more than zero",
        ),
        (vec!["--ready-timeout", "soon"], vec![], "is not a duration"),
    ] {
        let (code, stderr) = run_to_exit(Path::new(EXE), &args, &envs).await;
        assert_ne!(code, Some(0), "{args:?} {envs:?}");
        assert!(stderr.contains(says), "{args:?} {envs:?}: {stderr}");
    }
}
