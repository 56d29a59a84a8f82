//! Docs and flags must not drift: every flag and variable the docs' flag tables list is in the
//! binary's `--help` (with the same variable and default), every `FAAS_LOGS_*` variable the docs
//! name is one the binary reads, and every flag of `--help` is documented.

use crate::support::binaries::Binary;
use crate::support::flags::{drift, parse_help};
use crate::support::process::output;

/// Flags and variables a binary reads without showing them in `--help` (old names kept for
/// compatibility): the docs may mention them. Each is proven read where its binary is tested
/// (`loki::bad_loki_flags_stop_start_up_with_a_clear_message`).
fn hidden(binary: Binary) -> &'static [&'static str] {
    match binary {
        Binary::Loki => &["--loki-tail-delay", "FAAS_LOGS_LOKI_TAIL_DELAY"],
        _ => &[],
    }
}

async fn agrees_with_the_docs(binary: Binary) {
    let out = output(binary, &["--help"], &[]).await;
    assert!(out.status.success(), "{} --help: {out:?}", binary.name());
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        parse_help(&help).len() > 10,
        "{} --help lists too few options to be read right:\n{help}",
        binary.name()
    );
    let problems = drift(
        binary,
        &help,
        &crate::support::workspace_root(),
        hidden(binary),
    )
    .unwrap_or_else(|e| panic!("reading the docs: {e}"));
    assert!(
        problems.is_empty(),
        "docs and `{} --help` disagree:\n  {}\n--help:\n{help}",
        binary.name(),
        problems.join("\n  ")
    );
}

#[tokio::test]
async fn logs_journald_help_agrees_with_the_docs() {
    agrees_with_the_docs(Binary::Journald).await;
}

#[tokio::test]
async fn logs_kubernetes_help_agrees_with_the_docs() {
    agrees_with_the_docs(Binary::Kubernetes).await;
}

#[tokio::test]
async fn logs_loki_help_agrees_with_the_docs() {
    agrees_with_the_docs(Binary::Loki).await;
}

#[tokio::test]
async fn logs_demo_help_agrees_with_the_docs() {
    agrees_with_the_docs(Binary::Demo).await;
}

/// The comparison finds drift: a help with a renamed flag, a changed variable and default, and
/// an extra flag, against the real docs.
#[tokio::test]
async fn drift_is_found() {
    let out = output(Binary::Demo, &["--help"], &[]).await;
    let help = String::from_utf8_lossy(&out.stdout)
        .replace("--tls-cert <TLS_CERT>", "--tls-certificate <TLS_CERT>")
        .replace("[env: FAAS_LOGS_PORT=]", "[env: FAAS_LOGS_LISTEN_PORT=]")
        .replace("[default: 8080]", "[default: 9090]");
    let problems = drift(Binary::Demo, &help, &crate::support::workspace_root(), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let text = problems.join("\n");
    for expected in [
        "--tls-cert is documented, `logs-demo --help` has no such flag",
        "the table mentions --tls-cert, `logs-demo --help` has no such flag",
        "--tls-certificate of `logs-demo --help` is in no flag table",
        "--port reads Some(\"FAAS_LOGS_PORT\") say the docs, Some(\"FAAS_LOGS_LISTEN_PORT\")",
        "FAAS_LOGS_PORT is named, `logs-demo` reads no such variable",
        "--port defaults to Some(\"8080\") say the docs, Some(\"9090\")",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not found in:\n{text}"
        );
    }
}
