//! An in-memory backend: the reference `Requester` for the conformance suite, the benchmark and
//! the demo binary. Lines live in a `Vec` per function; followers wait on a `watch` channel
//! holding the log's length, so a follower holds only an index, never a queue of messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::StreamExt;
use tokio::sync::watch;

use crate::error::Result;
use crate::message::Message;
use crate::request::Request;
use crate::requester::{LogStream, Requester};
use crate::time::Timestamp;

/// One function's log.
#[derive(Default)]
struct Log {
    messages: RwLock<Vec<Message>>,
    len: Option<watch::Sender<usize>>,
}

/// Logs by (namespace, function name).
type Logs = HashMap<(Arc<str>, Arc<str>), Arc<Log>>;

/// Log lines held in memory, keyed by namespace and function name.
#[derive(Default, Clone)]
pub struct MemoryRequester {
    logs: Arc<Mutex<Logs>>,
}

impl MemoryRequester {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self, namespace: &str, name: &str) -> Arc<Log> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        logs.entry((namespace.into(), name.into()))
            .or_insert_with(|| {
                Arc::new(Log {
                    messages: RwLock::default(),
                    len: Some(watch::channel(0).0),
                })
            })
            .clone()
    }

    /// Appends one line; followers see it at once.
    pub fn push(
        &self,
        namespace: &str,
        name: &str,
        instance: &str,
        timestamp: Timestamp,
        text: &str,
    ) {
        self.push_message(Message {
            name: name.into(),
            namespace: namespace.into(),
            instance: instance.into(),
            timestamp,
            text: text.to_owned(),
            stream: None,
            level: None,
        });
    }

    /// Appends a whole message (its `namespace` and `name` pick the log).
    pub fn push_message(&self, message: Message) {
        let log = self.log(&message.namespace, &message.name);
        let len = {
            let mut messages = log.messages.write().unwrap_or_else(PoisonError::into_inner);
            messages.push(message);
            messages.len()
        };
        if let Some(tx) = &log.len {
            tx.send_replace(len);
        }
    }

    /// How many followers are attached to this function's log right now.
    pub fn followers(&self, namespace: &str, name: &str) -> usize {
        self.log(namespace, name)
            .len
            .as_ref()
            .map_or(0, watch::Sender::receiver_count)
    }
}

#[async_trait::async_trait]
impl Requester for MemoryRequester {
    async fn query(&self, request: Request) -> Result<LogStream> {
        let log = self.log(&request.namespace, &request.name);
        // Subscribe before reading history so nothing appended in between is missed.
        let mut len_rx = log.len.as_ref().map(watch::Sender::subscribe);
        let (history, seen) = {
            let messages = log.messages.read().unwrap_or_else(PoisonError::into_inner);
            let mut picked: Vec<Message> = messages
                .iter()
                .filter(|m| request.wants_instance(&m.instance) && request.wants_time(m.timestamp))
                .cloned()
                .collect();
            // Stable: equal timestamps keep each instance's own order.
            picked.sort_by_key(|m| m.timestamp);
            if let Some(n) = request.tail {
                let skip = picked.len().saturating_sub(n);
                picked.drain(..skip);
            }
            (picked, messages.len())
        };
        let history = futures::stream::iter(history.into_iter().map(Ok));
        if !request.follow {
            return Ok(history.boxed());
        }
        let live = futures::stream::unfold(
            (log, seen, len_rx.take(), Vec::<Message>::new().into_iter()),
            move |(log, mut seen, mut rx, mut pending)| {
                let request = request.clone();
                async move {
                    loop {
                        if let Some(m) = pending.next() {
                            return Some((Ok(m), (log, seen, rx, pending)));
                        }
                        let rx_ref = rx.as_mut()?;
                        let len = *rx_ref.borrow_and_update();
                        if len > seen {
                            let messages =
                                log.messages.read().unwrap_or_else(PoisonError::into_inner);
                            let batch: Vec<Message> = messages[seen..len]
                                .iter()
                                .filter(|m| {
                                    request.wants_instance(&m.instance)
                                        && request.wants_time(m.timestamp)
                                })
                                .cloned()
                                .collect();
                            seen = len;
                            pending = batch.into_iter();
                            continue;
                        }
                        rx_ref.changed().await.ok()?;
                    }
                }
            },
        );
        Ok(history.chain(live).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_unix_nanos(s * 1_000_000_000)
    }

    async fn texts(r: &MemoryRequester, req: Request) -> Vec<String> {
        match r.query(req).await {
            Ok(s) => {
                s.map(|m| m.map(|m| m.text).unwrap_or_default())
                    .collect()
                    .await
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn history_is_merged_by_time_and_tail_counts_across_instances() {
        let r = MemoryRequester::new();
        r.push("ns", "f", "b", ts(2), "b2");
        r.push("ns", "f", "a", ts(1), "a1");
        r.push("ns", "f", "a", ts(3), "a3");
        r.push("ns", "g", "a", ts(1), "other");
        let mut req = Request::new("ns", "f");
        assert_eq!(texts(&r, req.clone()).await, ["a1", "b2", "a3"]);
        req.tail = Some(2);
        assert_eq!(texts(&r, req.clone()).await, ["b2", "a3"]);
        req.tail = None;
        req.since = Some(ts(2));
        assert_eq!(texts(&r, req.clone()).await, ["b2", "a3"]);
        req.instance = Some("a".into());
        assert_eq!(texts(&r, req).await, ["a3"]);
    }

    #[tokio::test]
    async fn follow_sees_new_lines_and_dropping_detaches() {
        let r = MemoryRequester::new();
        r.push("ns", "f", "a", ts(1), "old");
        let mut req = Request::new("ns", "f");
        req.follow = true;
        let mut s = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.next()
                .await
                .and_then(Result::ok)
                .map(|m| m.text)
                .as_deref(),
            Some("old")
        );
        r.push("ns", "f", "a", ts(2), "new");
        assert_eq!(
            s.next()
                .await
                .and_then(Result::ok)
                .map(|m| m.text)
                .as_deref(),
            Some("new")
        );
        assert_eq!(r.followers("ns", "f"), 1);
        drop(s);
        assert_eq!(r.followers("ns", "f"), 0);
    }
}
