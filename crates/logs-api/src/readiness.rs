//! `/healthz/ready` without hanging: one backend readiness check at a time, shared by every
//! probe that arrives while it runs, and bounded in time.
//!
//! Against a backend that accepts connections and never answers (a SIGSTOPped kube-apiserver),
//! an unbounded `Requester::ready` left every kubelet probe hanging, each with one more request
//! open inside the provider (issue 10). Here:
//!
//! - A probe answers within the ready timeout whatever the backend does.
//! - At most one check is in flight. A probe that arrives while one runs waits for that check's
//!   result (within its own bound) instead of starting another, so probes never pile work up on
//!   a slow backend.
//! - The check runs on its own task, so a probe that gives up or disconnects does not cancel it
//!   for the others; and it is itself cut at the ready timeout, its future dropped. For the HTTP
//!   backends that closes the connection of the request that hung, so nothing stays open inside
//!   the provider, and the next probe starts afresh on a new connection (a half-dead connection
//!   does not keep readiness down once the backend is back).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::requester::Requester;

/// What a readiness check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The backend answered that it is reachable.
    Ready,
    /// The backend answered with an error, or the check failed.
    NotReady,
    /// The backend did not answer within the ready timeout.
    TimedOut,
}

/// The check in flight, if any, and which one it is.
struct InFlight {
    id: u64,
    outcome: Shared<BoxFuture<'static, Outcome>>,
}

/// Coalesced, bounded readiness checks of one requester.
pub(crate) struct Readiness {
    requester: Arc<dyn Requester>,
    timeout: Duration,
    in_flight: Mutex<(u64, Option<InFlight>)>,
}

impl Readiness {
    /// Checks of `requester`, each bounded by `timeout`.
    pub(crate) fn new(requester: Arc<dyn Requester>, timeout: Duration) -> Arc<Self> {
        Arc::new(Readiness {
            requester,
            timeout,
            in_flight: Mutex::new((0, None)),
        })
    }

    /// Whether the backend is ready: the outcome of the check in flight, or of a new one when
    /// none is; [`Outcome::TimedOut`] once the ready timeout has passed for this caller.
    pub(crate) async fn check(self: &Arc<Self>) -> Outcome {
        let outcome = {
            let mut slot = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &slot.1 {
                Some(check) => check.outcome.clone(),
                None => {
                    slot.0 += 1;
                    let id = slot.0;
                    let outcome = self.start(id);
                    // Stored before the lock is released, so the check's task (which clears
                    // the slot when it ends) always finds it.
                    slot.1 = Some(InFlight {
                        id,
                        outcome: outcome.clone(),
                    });
                    outcome
                }
            }
        };
        // The check ends at the same bound; this one only guards against a `ready()` that
        // blocks its thread instead of yielding, which no timer on its own task could cut.
        tokio::time::timeout(self.timeout, outcome)
            .await
            .unwrap_or(Outcome::TimedOut)
    }

    /// Starts check `id` on its own task.
    fn start(self: &Arc<Self>, id: u64) -> Shared<BoxFuture<'static, Outcome>> {
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let outcome = match tokio::time::timeout(this.timeout, this.requester.ready()).await {
                Ok(Ok(())) => Outcome::Ready,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e.chain(), "Backend not ready.");
                    Outcome::NotReady
                }
                Err(_) => {
                    tracing::warn!(
                        timeout = ?this.timeout,
                        "Backend readiness check did not answer in time; abandoned."
                    );
                    Outcome::TimedOut
                }
            };
            let mut slot = this
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if slot.1.as_ref().is_some_and(|check| check.id == id) {
                slot.1 = None;
            }
            outcome
        });
        async move {
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "Backend readiness check failed.");
                Outcome::NotReady
            })
        }
        .boxed()
        .shared()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;
    use crate::message::LogStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;

    /// Counts checks started and running; each takes `delay`, or forever when `None`.
    #[derive(Default)]
    struct Slow {
        delay: Option<Duration>,
        started: AtomicUsize,
        running: Arc<AtomicUsize>,
    }

    struct Running(Arc<AtomicUsize>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[async_trait::async_trait]
    impl Requester for Slow {
        async fn query(&self, _: crate::request::Request) -> Result<LogStream> {
            Err(crate::Error::backend_msg("unused"))
        }

        async fn ready(&self) -> Result<()> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.running.fetch_add(1, Ordering::SeqCst);
            let _running = Running(self.running.clone());
            match self.delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_probes_share_one_check() {
        let slow = Arc::new(Slow {
            delay: Some(Duration::from_millis(500)),
            ..Slow::default()
        });
        let readiness = Readiness::new(slow.clone(), Duration::from_secs(2));
        let probes: Vec<_> = (0..20)
            .map(|_| {
                let r = readiness.clone();
                tokio::spawn(async move { r.check().await })
            })
            .collect();
        for probe in probes {
            assert_eq!(probe.await.ok(), Some(Outcome::Ready));
        }
        assert_eq!(slow.started.load(Ordering::SeqCst), 1);
        // Once it is over, the next probe checks again.
        assert_eq!(readiness.check().await, Outcome::Ready);
        assert_eq!(slow.started.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_check_times_out_and_is_dropped() {
        let slow = Arc::new(Slow::default());
        let readiness = Readiness::new(slow.clone(), Duration::from_secs(2));
        let started = Instant::now();
        let first = tokio::spawn({
            let r = readiness.clone();
            async move { r.check().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A probe arriving while the check hangs joins it and ends with it, before its own
        // bound: no second check.
        let joined = readiness.check().await;
        assert_eq!(joined, Outcome::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(first.await.ok(), Some(Outcome::TimedOut));
        assert_eq!(slow.started.load(Ordering::SeqCst), 1);
        tokio::task::yield_now().await;
        assert_eq!(
            slow.running.load(Ordering::SeqCst),
            0,
            "the hanging ready() future is dropped at the timeout"
        );
        // The next probe starts a new check, which hangs and is cut in turn.
        assert_eq!(readiness.check().await, Outcome::TimedOut);
        assert_eq!(slow.started.load(Ordering::SeqCst), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }
}
