//! The conformance suite against the in-memory backend: the suite's own proof.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use logs_api::conformance::Backend;
use logs_api::{MemoryRequester, Requester, Timestamp};

struct MemoryBackend {
    requester: MemoryRequester,
    clock: AtomicI64,
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    fn requester(&self) -> Arc<dyn Requester> {
        Arc::new(self.requester.clone())
    }

    async fn write(&self, namespace: &str, name: &str, instance: usize, lines: &[&str]) {
        for line in lines {
            let ts = self.clock.fetch_add(1_000_000, Ordering::Relaxed);
            let instance = format!("memory-{instance}");
            self.requester.push(
                namespace,
                name,
                &instance,
                Timestamp::from_unix_nanos(ts),
                line,
            );
        }
    }
}

async fn make() -> MemoryBackend {
    MemoryBackend {
        requester: MemoryRequester::new(),
        clock: AtomicI64::new(Timestamp::now().unix_nanos() - 3_600_000_000_000),
    }
}

logs_api::conformance_tests!(make);
