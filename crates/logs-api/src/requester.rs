//! The one trait a backend implements.

use crate::error::Result;
use crate::filter::Capabilities;
use crate::message::LogStream;
use crate::request::Request;

/// A log backend: journald, the Kubernetes API, Loki, or an in-memory store.
#[async_trait::async_trait]
pub trait Requester: Send + Sync + 'static {
    /// Starts answering `request`. An `Err` here becomes a `500` (or `422` for
    /// [`crate::Error::InvalidRequest`]) before any byte of the body is sent.
    ///
    /// The stream must honour every field of the request: `instance`, `since`, `tail` (the last
    /// N across instances, in timestamp order) and `follow` (history, then live messages with
    /// none repeated and none skipped).
    async fn query(&self, request: Request) -> Result<LogStream>;

    /// Whether the backend is reachable, for `/healthz/ready`. The default says yes.
    async fn ready(&self) -> Result<()> {
        Ok(())
    }

    /// The filters this backend honours (see [`Capabilities`]); the default: none.
    ///
    /// A backend that declares a filter must apply it to `request.filter` in
    /// [`Requester::query`] before `tail` (the last N messages *that match*) and to live
    /// messages while following; [`crate::Filter`], [`crate::TailBuffer`] and
    /// [`crate::last_matching`] help where the backend cannot push it down.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The names of the functions of `namespace` that have logs within the backend's
    /// look-back, for `GET /system/logs/functions`. Order and duplicates do not matter (the
    /// handler sorts, de-duplicates and drops names that are not DNS-1123 labels).
    ///
    /// `namespace` is already validated and allowed. The default answers
    /// [`Error::Unsupported`](crate::Error::Unsupported), which the handler maps to `501`.
    async fn functions(&self, namespace: &str) -> Result<Vec<String>> {
        let _ = namespace;
        Err(crate::Error::Unsupported(
            "this provider does not list functions".to_owned(),
        ))
    }
}
