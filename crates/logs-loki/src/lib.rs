//! `logs-loki`: an OpenFaaS log provider reading function logs from
//! [Grafana Loki](https://grafana.com/docs/loki/latest/reference/loki-http-api/).
//!
//! History comes from `GET /loki/api/v1/query_range` (paged, merged across streams in
//! timestamp order); live lines too, from one shared reader per followed namespace (Loki's tail
//! websocket drops lines under bursts, so it is not used), with every seam de-duplicated. The query is a stream selector of equality matchers on the
//! configured function, namespace and instance labels ([`query`]); nothing in a request can
//! change its meaning.
//!
//! This crate does not push logs to Loki (Promtail, Alloy or the OpenTelemetry collector do).
//! Its tests and benchmarks run against the Loki simulator in `tests/loki-simulator`, which
//! is not part of this crate.

mod backoff;
mod client;
mod config;
mod cursor;
mod feed;
mod filter;
mod pages;
pub mod query;
mod re2;
mod requester;
mod stream;
mod wakeup;
mod wire;

pub use client::LokiError;
pub use config::{Args, Config, ConfigError, Wakeup};
pub use requester::LokiRequester;
pub use wire::DecodeError;
