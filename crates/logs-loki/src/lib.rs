//! `logs-loki`: an OpenFaaS log provider reading function logs from
//! [Grafana Loki](https://grafana.com/docs/loki/latest/reference/loki-http-api/).
//!
//! History comes from `GET /loki/api/v1/query_range` (paged, merged across streams in
//! timestamp order), live lines from the `GET /loki/api/v1/tail` websocket, with the seam and
//! every reconnect de-duplicated. The query is a stream selector of equality matchers on the
//! configured function, namespace and instance labels ([`query`]); nothing in a request can
//! change its meaning.
//!
//! This crate does not push logs to Loki (Promtail, Alloy or the OpenTelemetry collector do).
//! Its tests and benchmarks run against the Loki simulator in `tests/loki-simulator`, which
//! is not part of this crate.

mod client;
mod config;
mod cursor;
pub mod query;
mod requester;
mod stream;
mod wire;

pub use client::LokiError;
pub use config::{Args, Config, ConfigError};
pub use requester::LokiRequester;
pub use wire::DecodeError;
