//! The live part of a follow query: watch the pods, stream each running pod's log, resume
//! dropped streams where they stopped; pods join and leave as the label selector says.
//!
//! Each pod is read by its own task ([`PodReader`]) sending messages into one channel; the
//! function's events, when asked for, are watched by one more task sending into the same
//! channel ([`events::follow`]), which learns from this watch which pods are the function's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::runtime::watcher::{self, Event, watcher};
use logs_api::{Error, Message, Result, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::cursor::{Resume, parse_line, raw_lines};
use crate::events::{self, LiveEvents};
use crate::pod::{PodState, belongs_to, pod_state};
use crate::query::{MAX_FAILURES, Query, Refusal, backoff, refusal};

/// Messages buffered between the pod readers and the client (back-pressure beyond it).
const BUFFER: usize = 256;

/// Aborts the task when dropped, so dropping the response stream stops every reader.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Live lines of every pod of the function (present or future) until the stream is dropped,
/// each pod's from where `known` says (its history's end); a pod not in it joined after the
/// follow began and contributes the lines from [`Query::started`] on. With `events`, the
/// function's new events too, from where the history's list of them ended.
pub(crate) fn live(
    query: Arc<Query>,
    known: HashMap<Arc<str>, Resume>,
    events: Option<LiveEvents>,
) -> impl Stream<Item = Result<Message>> + Send + 'static {
    let (tx, rx) = mpsc::channel(BUFFER);
    let guard = AbortOnDrop(tokio::spawn(supervise(query, known, events, tx)));
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|m| (m, (rx, guard)))
    })
}

/// Watches the function's pods and runs one reader per pod (and the events' task); ends when
/// the client is gone.
async fn supervise(
    query: Arc<Query>,
    known: HashMap<Arc<str>, Resume>,
    events: Option<LiveEvents>,
    tx: mpsc::Sender<Result<Message>>,
) {
    // Dropped (aborting the task) when the supervisor ends or is aborted.
    let _events = events.map(|live| {
        AbortOnDrop(tokio::spawn(events::follow(
            query.clone(),
            live,
            tx.clone(),
        )))
    });
    let config = watcher::Config::default().labels(&query.selector());
    // No kube `StreamBackoff`: it resets on any `Ok` item, and the watcher emits an `Ok(Init)`
    // marker before every re-list attempt, so the pause would never grow. The watcher retries
    // at the next poll; the pause between polls is ours.
    let mut events = watcher(query.api.clone(), config).boxed();
    // Consecutive watch failures; any answer of the API server resets it.
    let mut failures = 0u32;
    let mut pods = Followed {
        query,
        tx,
        known,
        members: HashMap::new(),
        leaving: HashMap::new(),
        readers: JoinSet::new(),
    };
    // Pods listed since the watcher's last (re-)list began.
    let mut listed: Option<HashSet<String>> = None;
    loop {
        tokio::select! {
            event = events.next() => {
                let event = match event {
                    None => return,
                    Some(Ok(event)) => {
                        // `Init` is a marker the watcher emits before it asks: not an answer.
                        if !matches!(event, Event::Init) {
                            failures = 0;
                        }
                        event
                    }
                    Some(Err(e)) => {
                        failures += 1;
                        if failures >= MAX_FAILURES {
                            let error = Error::backend("watching the function's pods", e);
                            let _ = pods.tx.send(Err(error)).await;
                            return;
                        }
                        tracing::warn!(error = %e, attempt = failures, "Watching the function's pods failed; retrying.");
                        tokio::select! {
                            () = tokio::time::sleep(backoff(failures)) => {}
                            () = pods.tx.closed() => return,
                        }
                        continue;
                    }
                };
                match event {
                    Event::Init => listed = Some(HashSet::new()),
                    Event::InitApply(pod) => {
                        if let (Some(listed), Some(name)) = (listed.as_mut(), &pod.metadata.name) {
                            listed.insert(name.clone());
                        }
                        pods.apply(pod);
                    }
                    Event::Apply(pod) => pods.apply(pod),
                    // Deleted, or relabelled out of the function: the API server's watch cache
                    // sends a pod that stops matching the selector as DELETED.
                    Event::Delete(pod) => {
                        if let Some(name) = pod.metadata.name {
                            pods.query.remove_member(&name);
                            pods.leave(&name);
                        }
                    }
                    // After a re-list, pods it did not list left while the watch was down.
                    Event::InitDone => {
                        if let Some(listed) = listed.take() {
                            pods.query.retain_members(&listed);
                            pods.keep_only(&listed);
                        }
                    }
                }
            }
            Some(done) = pods.readers.join_next(), if !pods.readers.is_empty() => {
                if let Ok((pod, resume)) = done {
                    pods.reader_done(pod, resume);
                }
            }
            () = pods.tx.closed() => return,
        }
    }
}

/// A followed pod's reader: the container it reads and where it learns the pod's state (`None`
/// once the pod left the function).
struct Member {
    container: String,
    state: watch::Sender<Option<PodState>>,
}

/// The pods a follow reads, and the readers reading them.
struct Followed {
    query: Arc<Query>,
    tx: mpsc::Sender<Result<Message>>,
    /// Where reading each pod stopped: its history's end, or where its reader stopped when the
    /// pod left (a pod that comes back goes on from there: nothing twice).
    known: HashMap<Arc<str>, Resume>,
    members: HashMap<String, Member>,
    /// Pods that left while their reader is still finishing; the newest object if they came
    /// back meanwhile (followed again once the reader has handed over its position).
    leaving: HashMap<String, Option<Pod>>,
    // Dropping the JoinSet (when the supervisor is aborted) aborts every reader.
    readers: JoinSet<(Arc<str>, Resume)>,
}

impl Followed {
    /// A pod of the function, new or changed.
    fn apply(&mut self, pod: Pod) {
        let Some(name) = pod.metadata.name.clone() else {
            return;
        };
        // Whatever `instance` says: the events of the function's pods are told by this.
        self.query.add_member(&name);
        if !self.query.request.wants_instance(&name) {
            return;
        }
        if let Some(member) = self.members.get(&name) {
            member
                .state
                .send_replace(Some(pod_state(&pod, &member.container)));
            return;
        }
        if let Some(pending) = self.leaving.get_mut(&name) {
            *pending = Some(pod);
            return;
        }
        if self.members.len() + self.leaving.len() >= self.query.args.max_pods {
            tracing::warn!(pod = %name, max = self.query.args.max_pods, "Too many pods to follow; skipping.");
            return;
        }
        let Some(container) = self.query.container_for(&pod) else {
            return;
        };
        let (state, receiver) = watch::channel(Some(pod_state(&pod, &container)));
        let pod: Arc<str> = name.clone().into();
        // A pod that joined after the follow began: its lines from that instant on, not its
        // whole log (exact to the nanosecond: the cursor drops what `sinceTime`'s whole second
        // brings before it).
        let resume = self
            .known
            .remove(&pod)
            .unwrap_or_else(|| Resume::starting_at(self.query.started));
        let reader = PodReader {
            query: self.query.clone(),
            pod,
            container: container.clone(),
            tx: self.tx.clone(),
        };
        self.readers.spawn(reader.follow(resume, receiver));
        self.members.insert(name, Member { container, state });
    }

    /// A pod left the function (deleted, or no longer labelled for it).
    fn leave(&mut self, name: &str) {
        if let Some(member) = self.members.remove(name) {
            member.state.send_replace(None);
            self.leaving.insert(name.to_owned(), None);
        } else if let Some(pending) = self.leaving.get_mut(name) {
            *pending = None;
        }
    }

    /// After a re-list: every pod not listed has left.
    fn keep_only(&mut self, listed: &HashSet<String>) {
        let gone: Vec<String> = self
            .members
            .keys()
            .chain(self.leaving.keys())
            .filter(|name| !listed.contains(*name))
            .cloned()
            .collect();
        for name in gone {
            self.leave(&name);
        }
    }

    /// A reader ended, having read `pod` up to `resume`.
    fn reader_done(&mut self, pod: Arc<str>, resume: Resume) {
        self.known.insert(pod.clone(), resume);
        match self.leaving.remove(&*pod) {
            // It came back while its reader was finishing.
            Some(Some(again)) => self.apply(again),
            Some(None) => {}
            // It ended by itself (the pod is gone, or no longer the function's): a later
            // event for it starts a new reader.
            None => {
                self.members.remove(&*pod);
            }
        }
    }
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
    /// stream stopped, until the pod leaves the function or the client is gone. Returns the
    /// pod and how far it was read.
    async fn follow(
        self,
        mut resume: Resume,
        mut state: watch::Receiver<Option<PodState>>,
    ) -> (Arc<str>, Resume) {
        self.run(&mut resume, &mut state).await;
        (self.pod, resume)
    }

    async fn run(&self, resume: &mut Resume, state: &mut watch::Receiver<Option<PodState>>) {
        let Self {
            query,
            pod,
            container,
            tx,
        } = self;
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
                let mut params = query.log_params(container, resume, false);
                params.previous = true;
                if let Ok(body) = query.api.log_stream(pod, &params).await {
                    match self.pump(Box::pin(body), resume, state).await {
                        Pumped::Closed | Pumped::Left => return,
                        Pumped::Ended(_) | Pumped::Broken(_) => {}
                    }
                }
                finished = Some(seen);
            }
            let params: LogParams = query.log_params(container, resume, true);
            match query.api.log_stream(pod, &params).await {
                Ok(body) => {
                    failures = 0;
                    streamed = Some(current.restarts);
                    let lines = match self.pump(Box::pin(body), resume, state).await {
                        Pumped::Closed | Pumped::Left => return,
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

    /// Forwards the new lines of one log stream, advancing `resume`, until it ends, the client
    /// is gone, or the pod leaves the function.
    async fn pump(
        &self,
        body: std::pin::Pin<Box<dyn futures::io::AsyncBufRead + Send>>,
        resume: &mut Resume,
        state: &mut watch::Receiver<Option<PodState>>,
    ) -> Pumped {
        let mut lines = raw_lines(body);
        let mut cursor = resume.cursor(self.query.since);
        let mut count = 0;
        let mut last = Timestamp::from_unix_nanos(0);
        // Set once the watch said the pod left but it turned out deleted: read to the end.
        let mut draining = false;
        loop {
            let line = tokio::select! {
                biased;
                changed = state.changed(), if !draining => {
                    let left = changed.is_err() || state.borrow_and_update().is_none();
                    if left {
                        if self.still_exists().await {
                            return Pumped::Left;
                        }
                        draining = true;
                    }
                    continue;
                }
                line = lines.next() => line,
            };
            match line {
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

    /// After the watch said the pod left: whether it still exists, i.e. it was relabelled out of
    /// the function (its later lines are not the function's: stop now; should it be back
    /// already, the supervisor follows it again from where this reader stopped). A deleted
    /// pod's stream is read to its end (the kubelet ends it after the container's last lines),
    /// as is one whose fate is unknown.
    async fn still_exists(&self) -> bool {
        matches!(self.query.api.get_opt(&self.pod).await, Ok(Some(_)))
    }
}

enum Pumped {
    /// The client is gone.
    Closed,
    /// The pod left the function (relabelled, not deleted).
    Left,
    /// The log stream ended after this many new lines.
    Ended(usize),
    /// The log stream failed mid-way.
    Broken(std::io::Error),
}
