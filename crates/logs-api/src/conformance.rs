//! The conformance suite: one set of scenarios every backend must pass, run over real HTTP on
//! loopback through the real handler.
//!
//! A backend's test crate implements [`Backend`] (a requester plus a way to write log lines into
//! the real backend) and expands [`crate::conformance_tests!`] to get one `#[tokio::test]` per
//! scenario.

use std::sync::Arc;

use crate::requester::Requester;

/// The namespace most scenarios use; the suite's server also allows [`OTHER_NAMESPACE`].
pub const NAMESPACE: &str = "openfaas-fn";
/// A second allowed namespace, for the isolation scenario.
pub const OTHER_NAMESPACE: &str = "staging-fn";

/// A backend under test.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The requester under test, reading from this backend.
    fn requester(&self) -> Arc<dyn Requester>;

    /// Writes `lines`, in order, as function `name` in `namespace`, emitted by instance number
    /// `instance` (0, 1, …; the backend maps each number to one instance id of its own, e.g. a
    /// pod name or a process id, stable for the life of the backend).
    ///
    /// Each line must carry a later timestamp than every line written before it (through any
    /// instance), and must be visible to [`Backend::requester`] when this returns.
    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]);
}
