//! The history part of a query: every pod's log read once, merged in timestamp order with any
//! other messages of the function (its events), filtered, and cut to `tail`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::stream::{BoxStream, Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use logs_api::{Error, Message, Result, TailBuffer, Timestamp};

use crate::cursor::{Cursor, Resume, parse_line, raw_lines};
use crate::pod::pod_state;
use crate::query::{Query, Refusal, refusal};

/// Where each pod's history ended, handed to the follow phase.
pub(crate) type Resumes = Arc<Mutex<Option<Vec<(Arc<str>, Resume)>>>>;

struct PodReader {
    pod: Arc<str>,
    lines: Option<BoxStream<'static, std::io::Result<Vec<u8>>>>,
    cursor: Cursor,
    head: Option<(Timestamp, String)>,
    last: Timestamp,
}

impl PodReader {
    /// Reads up to the next admitted line into `head` (or ends the reader).
    async fn fill(&mut self) -> Result<()> {
        while self.head.is_none() {
            let Some(lines) = self.lines.as_mut() else {
                return Ok(());
            };
            match lines.next().await {
                None => self.lines = None,
                Some(Err(e)) => {
                    return Err(Error::backend(
                        format!("reading the log of pod {}", self.pod),
                        e,
                    ));
                }
                Some(Ok(raw)) => {
                    let (ts, text) = parse_line(&raw, self.last);
                    self.last = ts;
                    if self.cursor.admit(ts) {
                        self.head = Some((ts, text));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every pod's log, opened (so API errors surface before the response starts), not yet read,
/// and other messages to merge in.
pub(crate) struct History {
    readers: Vec<PodReader>,
    /// Messages from another source (the function's events), oldest first.
    others: VecDeque<Message>,
}

/// Opens the history of every pod in `pods` (`tailLines=N` per pod when the request has a
/// tail and no filter), each from the container [`Query::container_for`] chooses.
pub(crate) async fn open(query: &Arc<Query>, pods: Vec<Pod>) -> Result<History> {
    let readers = futures::future::try_join_all(pods.into_iter().map(|pod| async move {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let lines = match query.container_for(&pod) {
            Some(container) => open_log(query, &pod, &name, &container).await?,
            None => None,
        };
        Ok(PodReader {
            pod: name.into(),
            lines,
            cursor: Resume::default().cursor(query.since),
            head: None,
            last: Timestamp::from_unix_nanos(0),
        })
    }))
    .await?;
    Ok(History {
        readers,
        others: VecDeque::new(),
    })
}

/// The body of one pod's log; `None` when it has none to give. Only failures of the API server
/// or kubelet are errors.
async fn open_log(
    query: &Query,
    pod: &Pod,
    name: &str,
    container: &str,
) -> Result<Option<BoxStream<'static, std::io::Result<Vec<u8>>>>> {
    // Not on a node yet, or its container waits for its first start: nothing to ask for.
    if pod_state(pod, container).not_started {
        return Ok(None);
    }
    let mut params = query.log_params(container, &Resume::default(), false);
    // The last N lines of each pod hold the last N across pods, but not the last N that match
    // a filter: with one, the whole log (within `since` or the look-back) is read.
    if query.request.filter.is_empty() {
        params.tail_lines = query
            .request
            .tail
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    }
    match query.api.log_stream(name, &params).await {
        Ok(body) => Ok(Some(raw_lines(Box::pin(body)))),
        Err(e) => match refusal(&e) {
            Some(Refusal::Gone) => {
                tracing::debug!(
                    pod = name,
                    "Pod gone since it was listed; no history from it."
                );
                Ok(None)
            }
            Some(Refusal::Refused(message)) => {
                tracing::warn!(pod = name, container, api_message = %message, "The API refused the pod's log; no history from it.");
                Ok(None)
            }
            None => Err(Error::backend(format!("opening the log of pod {name}"), e)),
        },
    }
}

impl History {
    /// Merges `messages` (oldest first) into the history.
    pub(crate) fn with_messages(mut self, messages: Vec<Message>) -> Self {
        self.others = messages.into();
        self
    }

    /// The next message in timestamp order (ties: the first pod in name order, each pod's own
    /// order kept, pod lines before other messages).
    async fn next(&mut self, query: &Query) -> Result<Option<Message>> {
        for reader in &mut self.readers {
            reader.fill().await?;
        }
        let pick = self
            .readers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.head.as_ref().map(|(ts, _)| (*ts, i)))
            .min();
        let other = self.others.front().map(|m| m.timestamp);
        match (pick, other) {
            (Some((ts, _)), Some(o)) if o < ts => Ok(self.others.pop_front()),
            (Some((_, i)), _) => {
                let reader = &mut self.readers[i];
                Ok(reader
                    .head
                    .take()
                    .map(|(ts, text)| query.message(&reader.pod, ts, text)))
            }
            (None, _) => Ok(self.others.pop_front()),
        }
    }

    fn resumes(&self) -> Vec<(Arc<str>, Resume)> {
        self.readers
            .iter()
            .map(|r| (r.pod.clone(), r.cursor.resume()))
            .collect()
    }

    /// The merged history, only the messages that pass the request's filter; with `tail`,
    /// only the last N of those (memory: N messages). When it ends, each pod's position is
    /// stored in `resumes`.
    pub(crate) fn into_stream_with(
        self,
        query: Arc<Query>,
        resumes: Resumes,
    ) -> impl Stream<Item = Result<Message>> + Send + 'static {
        enum State {
            Merge(History),
            Tail(History),
            Kept(std::vec::IntoIter<Message>),
            Done,
        }
        let state = match query.request.tail {
            Some(_) => State::Tail(self),
            None => State::Merge(self),
        };
        futures::stream::unfold(state, move |state| {
            let query = query.clone();
            let resumes = resumes.clone();
            async move {
                let finish = |h: &History| {
                    *resumes.lock().unwrap_or_else(|e| e.into_inner()) = Some(h.resumes());
                };
                let filter = &query.request.filter;
                match state {
                    State::Done => None,
                    State::Merge(mut h) => loop {
                        match h.next(&query).await {
                            Err(e) => return Some((Err(e), State::Done)),
                            Ok(Some(m)) if filter.matches(&m) => {
                                return Some((Ok(m), State::Merge(h)));
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => {
                                finish(&h);
                                return None;
                            }
                        }
                    },
                    State::Tail(mut h) => {
                        let mut kept = TailBuffer::new(query.request.tail);
                        loop {
                            match h.next(&query).await {
                                Err(e) => return Some((Err(e), State::Done)),
                                Ok(Some(m)) if filter.matches(&m) => kept.push(m),
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                            }
                        }
                        finish(&h);
                        let mut kept = kept.into_vec().into_iter();
                        kept.next().map(|m| (Ok(m), State::Kept(kept)))
                    }
                    State::Kept(mut kept) => kept.next().map(|m| (Ok(m), State::Kept(kept))),
                }
            }
        })
    }

    /// The merged history alone (non-follow requests).
    pub(crate) fn into_stream(
        self,
        query: Arc<Query>,
    ) -> impl Stream<Item = Result<Message>> + Send + 'static {
        self.into_stream_with(query, Resumes::default())
    }
}
