//! `logs-kubernetes` as a process over the Kubernetes API simulator, through a kubeconfig
//! file: every conformance scenario (base and filters) over HTTP, the binary contract and
//! SIGTERM mid-stream.

use crate::support::binaries::Binary;
use crate::support::contract::{self, Setup};
use crate::support::providers::{KubeProcess, Launch, sigterm_mid_follow};
use logs_api::conformance::{NAMESPACE, Provider};
use logs_api::testing::get;

async fn make() -> KubeProcess {
    KubeProcess::start().await
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_start_up() {
    contract::bad_configuration_stops_start_up(&KubeProcess::start().await.setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_secret_files() {
    contract::basic_auth_from_secret_files(&KubeProcess::start().await.setup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_ends_it_cleanly_and_exits_0() {
    sigterm_mid_follow(&KubeProcess::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_context_and_readiness_come_from_the_flags() {
    let kube = KubeProcess::start().await;
    kube.write(NAMESPACE, "figlet", 0, &["hello from the pod"])
        .await;
    let provider = kube.setup().start(&[], &[]).await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status, 200, "{}", ready.text());
    let res = get(provider.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let messages = res.messages();
    assert_eq!(messages.len(), 1, "{}", res.text());
    assert_eq!(messages[0]["instance"], KubeProcess::pod("figlet", 0));
    assert_eq!(messages[0]["text"], "hello from the pod");
    kube.sim.stop().await;
    let ready = get(provider.addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ready.status,
        503,
        "the API server is gone: {}",
        ready.text()
    );
    provider.terminate_cleanly().await;

    // A context the kubeconfig does not have stops start-up, naming it.
    let kubeconfig = crate::support::process::arg(&kube.kubeconfig());
    let (code, stderr) = Setup::new(Binary::Kubernetes)
        .run_to_exit(
            &[
                "--kube-kubeconfig",
                &kubeconfig,
                "--kube-context",
                "no-such-context",
            ],
            &[],
        )
        .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no-such-context"), "{stderr}");
}
