//! The core conformance suite against real journal files written by `systemd-journal-remote`
//! (see `common::JournalBackend`).

mod common;

async fn make() -> common::JournalBackend {
    common::JournalBackend::start()
}

logs_api::conformance_tests!(make);
logs_api::conformance_filter_tests!(make);
