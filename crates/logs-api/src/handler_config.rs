//! What the HTTP handler needs from the configuration besides the requester: shared by the
//! log route, the functions listing and the server that builds them.

use std::time::Duration;

use crate::auth::BasicAuth;
use crate::request::NamespacePolicy;

/// What the handler needs besides the requester.
#[derive(Clone, Debug)]
pub struct HandlerConfig {
    /// The longest a response may stream. A follow stream then ends cleanly; a history
    /// (`follow=false`) that is not complete by then is aborted without the terminating chunk.
    pub timeout: Duration,
    /// The longest the backend may take to start answering (`Requester::query`, before the
    /// first byte); past it the answer is `500`. The shorter of this and `timeout` applies.
    pub first_byte_timeout: Duration,
    /// The longest `/healthz/ready` waits for the backend's readiness check; past it, `503`.
    pub ready_timeout: Duration,
    /// Which namespaces requests may read.
    pub namespaces: NamespacePolicy,
    /// Basic auth for every route but `/healthz`, when set.
    pub auth: Option<BasicAuth>,
}
