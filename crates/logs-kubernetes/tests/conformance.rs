//! The core conformance suite against the Kubernetes backend over the API simulator.

mod support;

async fn make() -> support::SimBackend {
    support::SimBackend::start().await
}

logs_api::conformance_tests!(make);
