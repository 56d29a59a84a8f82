//! The core conformance suite, and its filter and listing scenarios, against the Kubernetes
//! backend over the API simulator. Pod logs cannot tell stdout from stderr, so the backend
//! keeps `Backend::write_stream`'s default (the stream is forgotten) and the `stream` scenario
//! checks the `422`.

mod support;

async fn make() -> support::SimBackend {
    support::SimBackend::start().await
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);
