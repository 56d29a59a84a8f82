//! The conformance suite against the in-memory backend: the suite's own proof.

use logs_api::conformance::MemoryBackend;

async fn make() -> MemoryBackend {
    MemoryBackend::new()
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);
