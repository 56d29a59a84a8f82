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
//! The `simulator` feature adds [`simulator`], an in-repo simulator of Loki's query, label
//! and tail APIs used by the tests and the benchmarks.

mod client;
mod config;
mod cursor;
pub mod query;
mod requester;
#[cfg(feature = "simulator")]
pub mod simulator;
mod stream;
mod wire;

pub use client::LokiError;
pub use config::{Args, Config, ConfigError};
pub use requester::LokiRequester;
pub use wire::DecodeError;
