//! The `logs-journald` executable end to end: the shared binary contract, a bad
//! `--journal-dir` failing at start-up, and real journal lines served over HTTP.

mod common;

use std::path::Path;

use common::*;
use logs_api::testing::{get, run_to_exit, start_provider};

const EXE: &str = env!("CARGO_BIN_EXE_logs-journald");

#[tokio::test]
async fn passes_the_binary_contract() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir_arg = dir.path().display().to_string();
    logs_api::testing::binary_contract(Path::new(EXE), &["--journal-dir", &dir_arg]).await;
}

#[tokio::test]
async fn a_missing_journal_directory_stops_start_up() {
    let (code, stderr) = run_to_exit(
        Path::new(EXE),
        &[
            "--journal-dir",
            "/nonexistent/journal-x,/nonexistent/journal-y",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/journal-y"), "{stderr}");
}

#[tokio::test]
async fn serves_journal_lines_and_is_ready() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = now_usec() - 1_000_000;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            line("figlet", 42, t, "hello from the journal\n"),
            line("figlet", 43, t + 1, "second"),
        ],
    );
    let dir_arg = dir.path().display().to_string();
    let provider = start_provider(
        Path::new(EXE),
        &[],
        &[("FAAS_LOGS_JOURNALD_JOURNAL_DIR", &dir_arg)],
    )
    .await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 200, "{}", ready.text());
    let res = get(provider.addr, "/system/logs?name=figlet&tail=1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    let t1 = logs_api::Timestamp::from_unix_micros((t + 1) as i64);
    assert_eq!(
        res.text(),
        format!(
            "{{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"43\",\"timestamp\":\"{t1}\",\"text\":\"second\",\"stream\":\"stdout\",\"level\":\"info\"}}\n"
        )
    );
    let res = get(provider.addr, "/system/logs?name=figlet&instance=42")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.messages().len(), 1);
    assert_eq!(res.messages()[0]["text"], "hello from the journal");
    // The directory disappears: readiness says so, the process keeps serving.
    drop(dir);
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(ready.status, 200);
    assert!(provider.terminate().await.success());
}
