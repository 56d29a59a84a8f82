//! `logs-journald` as a process over journal files written by `systemd-journal-remote`: every
//! conformance scenario (base and filters) over HTTP, the binary contract, SIGTERM mid-stream,
//! and what is specific to it (journal directories).

use crate::support::binaries::Binary;
use crate::support::contract::{self, Setup};
use crate::support::process::arg;
use crate::support::providers::{JournalProcess, Launch, sigterm_mid_follow};
use logs_api::Timestamp;
use logs_api::conformance::{NAMESPACE, Provider};
use logs_api::testing::get;

async fn make() -> JournalProcess {
    JournalProcess::new()
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_start_up() {
    contract::bad_configuration_stops_start_up(&JournalProcess::new().setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_secret_files() {
    contract::basic_auth_from_secret_files(&JournalProcess::new().setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_ends_it_cleanly_and_exits_0() {
    sigterm_mid_follow(&JournalProcess::new()).await;
}

#[tokio::test]
async fn missing_journal_directories_stop_start_up() {
    let (code, stderr) = Setup::new(Binary::Journald)
        .run_to_exit(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_journal_exactly_and_reports_a_vanished_directory_as_not_ready() {
    let journal = JournalProcess::new();
    journal
        .write(
            NAMESPACE,
            "figlet",
            1,
            &["hello from the journal\n", "second"],
        )
        .await;
    // The directory by flag this time, several of them, one missing: ignored.
    let dir = arg(&journal.dir());
    let provider = Setup::new(Binary::Journald)
        .start(
            &["--journal-dir", &format!("/nonexistent/journal,{dir}")],
            &[],
        )
        .await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 200, "{}", ready.text());
    let all = get(provider.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let messages = all.messages();
    assert_eq!(messages.len(), 2, "{}", all.text());
    assert_eq!(
        messages[0]["text"], "hello from the journal",
        "one newline trimmed"
    );
    let last = get(provider.addr, "/system/logs?name=figlet&tail=1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ts = messages[1]["timestamp"].as_str().unwrap_or_default();
    assert!(Timestamp::parse_rfc3339(ts).is_ok(), "{ts}");
    assert_eq!(
        last.text(),
        format!(
            "{{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"1001\",\"timestamp\":\"{ts}\",\"text\":\"second\",\"stream\":\"stdout\",\"level\":\"info\"}}\n"
        ),
        "the exact wire format"
    );
    drop(journal);
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 503, "{}", ready.text());
    let alive = get(provider.addr, "/healthz")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alive.status, 200, "the process keeps serving");
    provider.terminate_cleanly().await;
}
