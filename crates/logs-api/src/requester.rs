//! The one trait a backend implements.

use futures::stream::BoxStream;

use crate::error::Result;
use crate::message::Message;
use crate::request::Request;

/// The messages answering one request. An `Err` item after the first message aborts the
/// response (no terminating chunk); dropping the stream must cancel everything the backend
/// started for it (tasks, connections, file handles).
pub type LogStream = BoxStream<'static, Result<Message>>;

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
}
