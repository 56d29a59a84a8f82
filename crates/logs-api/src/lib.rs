//! The core of faas-logs: what an OpenFaaS log provider is, independent of where logs live.
//!
//! - [`Request`] and [`parse_query`]: `GET /system/logs?name=&namespace=&instance=&since=&tail=&follow=`
//!   parsed and validated per the wire contract (`docs/api.md`).
//! - [`Message`]: one NDJSON line, byte-compatible with Go's `faas-provider/logs.Message`.
//! - [`Requester`]: the trait a backend (journald, Kubernetes, Loki, memory) implements, with
//!   its [`Capabilities`] and the functions listing.
//! - [`Filter`] and [`level`]: the server-side filters (`level`, `stream`, `grep`, `regexp`)
//!   and the one rule that tells a line's level from its text.
//! - [`router`], [`Server`], [`serve`]: the HTTP surface every provider binary shares, with
//!   the log viewer page at `/` (`docs/viewer.md`).
//!
//! With the `test-util` feature it also ships the conformance suite ([`conformance`]) that
//! every backend must pass, and a raw HTTP/1.1 test client ([`testing`]).

mod auth;
#[cfg(feature = "test-util")]
pub mod conformance;
mod error;
mod filter;
mod functions;
mod handler_config;
mod http;
pub mod level;
mod memory;
mod message;
mod metrics;
mod readiness;
#[cfg(feature = "test-util")]
pub mod reliability;
mod reply;
mod request;
mod requester;
mod server;
#[cfg(feature = "test-util")]
pub mod testing;
mod text;
mod time;
mod viewer;

pub use auth::{AuthError, BasicAuth};
pub use error::{BoxError, Error, Result};
pub use filter::{
    Capabilities, Filter, REGEXP_DFA_SIZE_LIMIT, REGEXP_MAX_LEN, REGEXP_SIZE_LIMIT, TailBuffer,
    filter_stream, last_matching,
};
pub use functions::FUNCTIONS_PATH;
pub use handler_config::HandlerConfig;
pub use http::router;
pub use level::Severity;
pub use memory::MemoryRequester;
pub use message::{LogStream, Message, OutputStream, trim_line_end};
pub use metrics::Metrics;
pub use request::{
    FORBIDDEN_NAMESPACE, NamespacePolicy, Request, is_dns1123_label, is_dns1123_subdomain,
    parse_query,
};
pub use requester::Requester;
pub use server::{
    Config, DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_READY_TIMEOUT, RunningServer, ServeError, Server,
    ServerArgs, init_tracing, parse_duration, serve, shutdown_signal,
};
pub use text::text_from_bytes;
pub use time::{Timestamp, TimestampError};
