//! The core conformance suite against the Loki backend over the Loki simulator.

mod support;

async fn make() -> support::LokiBackend {
    support::LokiBackend::start().await
}

logs_api::conformance_tests!(make);
