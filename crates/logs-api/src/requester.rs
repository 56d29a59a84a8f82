//! The one trait a backend implements.

use futures::stream::BoxStream;

use crate::error::Result;
use crate::message::Message;
use crate::request::Request;

/// The messages answering one request. An `Err` item after the first message aborts the
/// response (no terminating chunk); dropping the stream must cancel everything the backend
/// started for it (tasks, connections, file handles).
pub type LogStream = BoxStream<'static, Result<Message>>;

/// Which optional request features a backend honours. The handler answers `422` naming the
/// parameter when a request uses one its backend did not declare, rather than an unfiltered
/// (or silently empty) answer.
///
/// The default declares nothing: a backend opts in to each filter once it implements it.
/// Construct with struct update syntax (`Capabilities { level: true, ..Default::default() }`)
/// so fields added later default to `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `level=`: the backend keeps only messages at that severity or worse, before `tail`
    /// and while following.
    pub level: bool,
    /// `stream=`: the backend knows each message's output stream and keeps only the one asked
    /// for.
    pub stream: bool,
    /// `grep=` and `regexp=`: the backend keeps only messages whose text matches.
    pub text: bool,
}

impl Capabilities {
    /// Every filter.
    pub const ALL: Capabilities = Capabilities {
        level: true,
        stream: true,
        text: true,
    };
}

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
