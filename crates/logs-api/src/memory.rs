//! An in-memory backend: the reference `Requester` for the conformance suite, the benchmark and
//! the demo binary. Lines live in a `Vec` per function; followers wait on a `watch` channel
//! holding the log's length, so a follower holds only an index, never a queue of messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::StreamExt;
use tokio::sync::watch;

use crate::error::Result;
use crate::filter::Capabilities;
use crate::message::LogStream;
use crate::message::{Message, OutputStream};
use crate::request::Request;
use crate::requester::Requester;
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
            source: None,
        });
    }

    /// Appends one line from `stream` (stdout or stderr); followers see it at once. Its level is
    /// what its text states ([`crate::level::detect`]), as for a backend without native levels.
    pub fn push_stream(
        &self,
        namespace: &str,
        name: &str,
        instance: &str,
        timestamp: Timestamp,
        stream: OutputStream,
        text: &str,
    ) {
        self.push_message(Message {
            name: name.into(),
            namespace: namespace.into(),
            instance: instance.into(),
            timestamp,
            text: text.to_owned(),
            stream: Some(stream),
            level: None,
            source: None,
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
            // Filters apply before `tail`: the last N that match.
            let mut picked: Vec<Message> = messages
                .iter()
                .filter(|m| wanted(&request, m))
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
                                .filter(|m| wanted(&request, m))
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

    /// Every filter, in process.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The functions of `namespace` with at least one line (the store has no look-back bound).
    async fn functions(&self, namespace: &str) -> Result<Vec<String>> {
        let logs: Vec<(Arc<str>, Arc<Log>)> = {
            let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
            logs.iter()
                .filter(|((ns, _), _)| &**ns == namespace)
                .map(|((_, name), log)| (name.clone(), log.clone()))
                .collect()
        };
        Ok(logs
            .into_iter()
            .filter(|(_, log)| {
                !log.messages
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_empty()
            })
            .map(|(name, _)| name.to_string())
            .collect())
    }
}

/// Whether `m` answers `request`: its instance, time and filters.
fn wanted(request: &Request, m: &Message) -> bool {
    request.wants_instance(&m.instance)
        && request.wants_time(m.timestamp)
        && request.filter.matches(m)
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
    async fn filters_apply_before_tail_and_while_following() {
        let r = MemoryRequester::new();
        r.push_stream("ns", "f", "a", ts(1), OutputStream::Stderr, "ERROR one");
        r.push_stream("ns", "f", "a", ts(2), OutputStream::Stdout, "INFO two");
        r.push_stream("ns", "f", "a", ts(3), OutputStream::Stderr, "ERROR three");
        r.push_stream("ns", "f", "a", ts(4), OutputStream::Stdout, "INFO four");
        let mut req = Request::new("ns", "f");
        req.filter.level = Some(crate::Severity::Error);
        req.tail = Some(1);
        assert_eq!(texts(&r, req.clone()).await, ["ERROR three"]);
        req.tail = None;
        req.filter.grep = Some("one".into());
        assert_eq!(texts(&r, req.clone()).await, ["ERROR one"]);
        let mut req = Request::new("ns", "f");
        req.filter.stream = Some(OutputStream::Stdout);
        assert_eq!(texts(&r, req.clone()).await, ["INFO two", "INFO four"]);
        req.follow = true;
        let mut s = r.query(req).await.unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..2 {
            assert!(s.next().await.is_some());
        }
        r.push_stream("ns", "f", "a", ts(5), OutputStream::Stderr, "ERROR live");
        r.push_stream("ns", "f", "a", ts(6), OutputStream::Stdout, "INFO live");
        let next = s.next().await.and_then(Result::ok).map(|m| m.text);
        assert_eq!(next.as_deref(), Some("INFO live"));
    }

    #[tokio::test]
    async fn functions_are_those_with_lines_in_the_namespace() {
        let r = MemoryRequester::new();
        r.push("ns", "b", "a", ts(1), "x");
        r.push("ns", "a", "a", ts(1), "x");
        r.push("other", "c", "a", ts(1), "x");
        // A query for a function without lines leaves no trace in the listing.
        let _ = texts(&r, Request::new("ns", "nobody")).await;
        let mut names = r.functions("ns").await.unwrap_or_else(|e| panic!("{e}"));
        names.sort();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            r.functions("other").await.unwrap_or_else(|e| panic!("{e}")),
            ["c"]
        );
        assert!(
            r.functions("empty")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
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
