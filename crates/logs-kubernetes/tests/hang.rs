//! An API server that accepts connections and never answers (issue 10: a SIGSTOPped
//! kube-apiserver): `/healthz/ready` answers `503` and `/system/logs` `500` within their bounds,
//! through the real kube client over a loopback TCP listener that never writes, and the client's
//! hung requests are given up (their connections closed), not piled up.

use std::sync::Arc;
use std::time::Duration;

use logs_api::testing::{Blackhole, logs_is_bounded, ready_is_bounded, serve_with_hang_bounds};
use logs_kubernetes::{Args, KubeRequester};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_against_an_api_server_that_never_answers() {
    let hole = Blackhole::start().await;
    let url = hole
        .url()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", hole.url()));
    let mut config = kube::Config::new(url);
    config.default_namespace = "default".to_owned();
    let requester =
        KubeRequester::from_config(config, Args::default()).unwrap_or_else(|e| panic!("{e}"));
    let server = serve_with_hang_bounds(Arc::new(requester)).await;

    let ready = ready_is_bounded(&server).await;
    assert_eq!(hole.accepted(), 1, "10 concurrent probes, one GET /version");
    hole.until_all_closed(Duration::from_secs(5)).await;

    let logs = logs_is_bounded(&server).await;
    assert_eq!(hole.accepted(), 2, "one pod list for the log request");
    hole.until_all_closed(Duration::from_secs(5)).await;
    println!("kube API server that never answers: /healthz/ready {ready:?}, /system/logs {logs:?}");
}
