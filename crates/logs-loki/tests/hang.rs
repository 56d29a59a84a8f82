//! A Loki that accepts connections and never answers (issue 10): `/healthz/ready` answers `503`
//! and `/system/logs` `500` within their bounds, far below `--loki-request-timeout` (30 s) and
//! its retries, through the real Loki client over a loopback TCP listener that never writes; the
//! hung requests are given up (their connections closed), not piled up.

use std::sync::Arc;
use std::time::Duration;

use logs_api::testing::{Blackhole, logs_is_bounded, ready_is_bounded, serve_with_hang_bounds};
use logs_loki::{Args, LokiRequester};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_against_a_loki_that_never_answers() {
    let hole = Blackhole::start().await;
    let requester = LokiRequester::new(&Args {
        url: hole.url(),
        ..Args::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let server = serve_with_hang_bounds(Arc::new(requester)).await;

    let ready = ready_is_bounded(&server).await;
    assert_eq!(hole.accepted(), 1, "10 concurrent probes, one GET labels");
    hole.until_all_closed(Duration::from_secs(5)).await;

    let logs = logs_is_bounded(&server).await;
    assert_eq!(hole.accepted(), 2, "one query_range for the log request");
    hole.until_all_closed(Duration::from_secs(5)).await;
    println!("Loki that never answers: /healthz/ready {ready:?}, /system/logs {logs:?}");
}
