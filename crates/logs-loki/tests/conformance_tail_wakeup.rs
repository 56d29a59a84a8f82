//! The core conformance suite against the Loki backend with `--loki-follow-wakeup tail`.

mod support;

async fn make() -> support::LokiBackend {
    support::LokiBackend::with(|a| a.follow_wakeup = logs_loki::Wakeup::Tail).await
}

logs_api::conformance_tests!(make);
