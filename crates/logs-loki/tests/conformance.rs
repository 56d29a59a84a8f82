//! The core conformance suite, the base scenarios and those of the filters and the functions
//! listing, against the Loki backend over the Loki simulator. The simulator discovers levels as
//! Loki 3 does by default (`detected_level` structured metadata on every pushed line).

mod support;

async fn make() -> support::LokiBackend {
    let backend = support::LokiBackend::start().await;
    backend.sim.set_discover_log_levels(true);
    backend
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);
