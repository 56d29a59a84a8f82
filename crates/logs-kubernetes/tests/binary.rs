//! The real `logs-kubernetes` executable against the API simulator, through a kubeconfig file.

mod support;

use kube_simulator::{ContainerState, Simulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_contract() {
    let sim = Simulator::start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    sim.add_pod(
        "openfaas-fn",
        "figlet-pod-0",
        "figlet",
        ContainerState::Running,
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: nobody\ncurrent-context: sim\nusers:\n- name: nobody\n  user: {{}}\n",
        sim.url()
    );
    std::fs::write(&kubeconfig, text).unwrap_or_else(|e| panic!("{e}"));
    let path = kubeconfig.to_string_lossy().into_owned();
    logs_api::testing::binary_contract(
        std::path::Path::new(env!("CARGO_BIN_EXE_logs-kubernetes")),
        &["--kube-kubeconfig", &path, "--kube-context", "sim"],
    )
    .await;
}
