//! The live part of a follow query: watch the pods, stream each running pod's log, resume
//! dropped streams where they stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{Stream, StreamExt};
use kube::api::LogParams;
use kube::runtime::watcher::{self, Event, watcher};
use logs_api::{Error, Message, Result, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::cursor::{Resume, parse_line, raw_lines};
use crate::pod::{PodState, belongs_to, pod_state};
use crate::query::{Query, Refusal, refusal};

/// Consecutive failed attempts to open a pod's log, or to watch the function's pods, before the
/// response is aborted (about 13 s of retries with [`backoff`]).
const MAX_FAILURES: u32 = 8;
/// Messages buffered between the pod readers and the client (back-pressure beyond it).
const BUFFER: usize = 256;

/// Aborts the task when dropped, so dropping the response stream stops every reader.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Live lines of every pod of the function (present or future), each pod's starting where
/// `known` says (pods not in it: from the start of its log), until the stream is dropped.
pub(crate) fn live(
    query: Arc<Query>,
    known: HashMap<Arc<str>, Resume>,
) -> impl Stream<Item = Result<Message>> + Send + 'static {
    let (tx, rx) = mpsc::channel(BUFFER);
    let guard = AbortOnDrop(tokio::spawn(supervise(query, known, tx)));
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|m| (m, (rx, guard)))
    })
}

/// Watches the function's pods and runs one reader per pod; ends when the client is gone.
async fn supervise(
    query: Arc<Query>,
    mut known: HashMap<Arc<str>, Resume>,
    tx: mpsc::Sender<Result<Message>>,
) {
    let config = watcher::Config::default().labels(&query.selector());
    // No kube `StreamBackoff`: it resets on any `Ok` item, and the watcher emits an `Ok(Init)`
    // marker before every re-list attempt, so the pause would never grow. The watcher retries
    // at the next poll; the pause between polls is ours.
    let mut events = watcher(query.api.clone(), config).boxed();
    // Consecutive watch failures; any answer of the API server resets it.
    let mut failures = 0u32;
    // Each followed pod: the container read and where its reader learns the pod's state.
    let mut pods: HashMap<String, (String, watch::Sender<Option<PodState>>)> = HashMap::new();
    // Dropping the JoinSet (when this task is aborted) aborts every reader.
    let mut readers = JoinSet::new();
    loop {
        tokio::select! {
            event = events.next() => {
                let event = match event {
                    None => return,
                    // A marker the watcher emits before it asks anything: not an answer.
                    Some(Ok(Event::Init)) => continue,
                    Some(Ok(event)) => {
                        failures = 0;
                        event
                    }
                    Some(Err(e)) => {
                        failures += 1;
                        if failures >= MAX_FAILURES {
                            let error = Error::backend("watching the function's pods", e);
                            let _ = tx.send(Err(error)).await;
                            return;
                        }
                        tracing::warn!(error = %e, attempt = failures, "Watching the function's pods failed; retrying.");
                        tokio::select! {
                            () = tokio::time::sleep(backoff(failures)) => {}
                            () = tx.closed() => return,
                        }
                        continue;
                    }
                };
                match event {
                    Event::Apply(pod) | Event::InitApply(pod) => {
                        let Some(name) = pod.metadata.name.clone() else { continue };
                        if !query.request.wants_instance(&name) {
                            continue;
                        }
                        if let Some((container, sender)) = pods.get(&name) {
                            sender.send_replace(Some(pod_state(&pod, container)));
                            continue;
                        }
                        if pods.len() >= query.args.max_pods {
                            tracing::warn!(pod = %name, max = query.args.max_pods, "Too many pods to follow; skipping.");
                            continue;
                        }
                        let Some(container) = query.container_for(&pod) else { continue };
                        let (sender, receiver) = watch::channel(Some(pod_state(&pod, &container)));
                        pods.insert(name.clone(), (container.clone(), sender));
                        let pod: Arc<str> = name.into();
                        let resume = known.remove(&pod).unwrap_or_default();
                        let reader = PodReader { query: query.clone(), pod, container, tx: tx.clone() };
                        readers.spawn(reader.follow(resume, receiver));
                    }
                    Event::Delete(pod) => {
                        if let Some((_, sender)) = pod.metadata.name.and_then(|n| pods.remove(&n)) {
                            sender.send_replace(None);
                        }
                    }
                    Event::Init | Event::InitDone => {}
                }
            }
            Some(_) = readers.join_next(), if !readers.is_empty() => {}
            () = tx.closed() => return,
        }
    }
}

/// The pause before retry `attempt` (0.2 s doubling to 3.2 s), for pod logs and the pod watch.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(5)))
}

/// What one pod's reader needs.
struct PodReader {
    query: Arc<Query>,
    pod: Arc<str>,
    /// The container whose log is read ([`Query::container_for`]).
    container: String,
    tx: mpsc::Sender<Result<Message>>,
}

impl PodReader {
    /// Follows the pod: (re)opens its log whenever its container runs, from where the last
    /// stream stopped, until the pod is gone or the client is.
    async fn follow(self, mut resume: Resume, mut state: watch::Receiver<Option<PodState>>) {
        let Self {
            query,
            pod,
            container,
            tx,
        } = &self;
        let mut failures = 0u32;
        let mut empty_streams = 0u32;
        // Restart count of the container last streamed, and of the last one read to its end.
        let mut streamed: Option<i32> = None;
        let mut finished: Option<i32> = None;
        // The pod as read right after a log stream ended (the watch may lag behind a restart).
        let mut fresh: Option<PodState> = None;
        loop {
            let current = loop {
                let mut now = *state.borrow_and_update();
                if let (Some(seen), Some(f)) = (now, fresh.take())
                    && f.restarts > seen.restarts
                {
                    now = Some(f);
                }
                match now {
                    None => return,
                    Some(s) if s.running || (s.terminated && finished != Some(s.restarts)) => {
                        break s;
                    }
                    Some(_) => {}
                }
                if state.changed().await.is_err() {
                    return;
                }
            };
            // The container we were reading restarted before we read its end: the rest is in
            // the previous container's log.
            if let Some(seen) = streamed
                && seen < current.restarts
                && finished != Some(seen)
            {
                let mut params = query.log_params(container, &resume, false);
                params.previous = true;
                if let Ok(body) = query.api.log_stream(pod, &params).await {
                    match self.pump(Box::pin(body), &mut resume).await {
                        Pumped::Closed => return,
                        Pumped::Ended(_) | Pumped::Broken(_) => {}
                    }
                }
                finished = Some(seen);
            }
            let params: LogParams = query.log_params(container, &resume, true);
            match query.api.log_stream(pod, &params).await {
                Ok(body) => {
                    failures = 0;
                    streamed = Some(current.restarts);
                    let lines = match self.pump(Box::pin(body), &mut resume).await {
                        Pumped::Closed => return,
                        Pumped::Ended(n) => n,
                        Pumped::Broken(e) => {
                            tracing::debug!(pod = %pod, error = %e, "Pod log stream broke; resuming.");
                            0
                        }
                    };
                    let now = match query.api.get_opt(pod).await {
                        Ok(Some(p)) if belongs_to(&p, &query.request.name) => {
                            Some(pod_state(&p, container))
                        }
                        // Gone, or relabelled out of the function.
                        Ok(_) => None,
                        Err(_) => *state.borrow(),
                    };
                    fresh = now;
                    match now {
                        None => return,
                        Some(s) if s.terminated && s.restarts == current.restarts => {
                            finished = Some(current.restarts);
                        }
                        // Still running: the server dropped the stream; reopen where it stopped
                        // (at once if it delivered lines, else after a growing pause).
                        _ if lines == 0 => {
                            empty_streams += 1;
                            tokio::time::sleep(backoff(empty_streams)).await;
                        }
                        _ => empty_streams = 0,
                    }
                }
                Err(e) => match refusal(&e) {
                    Some(Refusal::Gone) => return,
                    Some(Refusal::Refused(message)) => {
                        // Asking again cannot help until the pod changes: no polling.
                        tracing::warn!(pod = %pod, container = %container, api_message = %message, "The API refused the pod's log; waiting for the pod to change.");
                        if state.changed().await.is_err() {
                            return;
                        }
                    }
                    None => {
                        failures += 1;
                        if failures >= MAX_FAILURES {
                            let error =
                                Error::backend(format!("following the log of pod {pod}"), e);
                            let _ = tx.send(Err(error)).await;
                            return;
                        }
                        tracing::warn!(pod = %pod, error = %e, attempt = failures, "Opening pod log failed; retrying.");
                        tokio::time::sleep(backoff(failures)).await;
                    }
                },
            }
        }
    }

    /// Forwards the new lines of one log stream, advancing `resume`.
    async fn pump(
        &self,
        body: std::pin::Pin<Box<dyn futures::io::AsyncBufRead + Send>>,
        resume: &mut Resume,
    ) -> Pumped {
        let mut lines = raw_lines(body);
        let mut cursor = resume.cursor(self.query.since);
        let mut count = 0;
        let mut last = Timestamp::from_unix_nanos(0);
        loop {
            match lines.next().await {
                None => return Pumped::Ended(count),
                Some(Err(e)) => return Pumped::Broken(e),
                Some(Ok(raw)) => {
                    let (ts, text) = parse_line(&raw, last);
                    last = ts;
                    if !cursor.admit(ts) {
                        continue;
                    }
                    *resume = cursor.resume();
                    count += 1;
                    let message = self.query.message(&self.pod, ts, text);
                    if self.tx.send(Ok(message)).await.is_err() {
                        return Pumped::Closed;
                    }
                }
            }
        }
    }
}

enum Pumped {
    /// The client is gone.
    Closed,
    /// The log stream ended after this many new lines.
    Ended(usize),
    /// The log stream failed mid-way.
    Broken(std::io::Error),
}
