//! The Kubernetes Events of a function's pods (`events=true`, or `--kube-events`), as messages
//! among its log lines: listed once for the history, then watched while following.
//!
//! One list, then one watch, per request, of the namespace's pod events
//! (`fieldSelector=involvedObject.kind=Pod`: a field selector cannot name several pods); the
//! function's are picked in process ([`Owners`]). A repeated event is one object whose count
//! goes up: the history shows each object once, at its last occurrence, with `(xN)`; the follow
//! shows each increase of the count once, not each update of the object.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use logs_api::{Error, Message, Result, Severity};
use tokio::sync::mpsc;

use crate::event::{PodEvent, is_deployment_pod, pod_event};
use crate::query::{FUNCTION_LABEL, LIST_PAGE, MAX_FAILURES, Query, backoff, level_name};

/// Only events about pods; the function's are picked from them in process.
const POD_EVENTS: &str = "involvedObject.kind=Pod";

/// Whether the service account may read events, shared by every request: a refusal is logged
/// once, and again only if events were readable in between, not once per request.
#[derive(Debug, Default)]
pub(crate) struct Permission {
    refused: AtomicBool,
}

impl Permission {
    /// The API refused to list or watch events (`403`): the answer goes on without them.
    fn refused(&self, error: &kube::Error) {
        if !self.refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %error,
                "The service account may not read Kubernetes events (it needs get, list and watch on events in the function namespaces); serving logs without them."
            );
        }
    }

    /// Events were read.
    fn allowed(&self) {
        self.refused.store(false, Ordering::Relaxed);
    }
}

fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403)
}

/// Which pods' events are the function's:
/// - a pod known to carry its label (listed, or joined the follow and not left): yes;
/// - any other pod, unless its name is one the function's Deployment gives
///   (`<function>-<hash>-<suffix>`, [`is_deployment_pod`]): no;
/// - such a pod is looked up: gone (its events outlive it, e.g. a pod replaced after
///   crash-looping or being evicted) or carrying the label: yes; carrying another label or
///   none (relabelled away, or made by hand): no. When it cannot be looked up: no.
///
/// With `instance=`, only that pod's. Verdicts that cannot change (gone, not the function's
/// while existing: should it join, the pod list or watch makes it a member) are remembered for
/// the request.
#[derive(Debug, Default)]
struct Owners {
    remembered: HashMap<String, bool>,
}

/// Verdicts [`Owners`] remembers before it starts over (a bound on its memory).
const OWNERS_KEPT: usize = 4096;

impl Owners {
    async fn owns(&mut self, query: &Query, pod: &str) -> bool {
        if !query.request.wants_instance(pod) {
            return false;
        }
        if query.is_member(pod) {
            return true;
        }
        if !is_deployment_pod(&query.request.name, pod) {
            return false;
        }
        if let Some(owned) = self.remembered.get(pod) {
            return *owned;
        }
        let owned = match query.api.get_metadata_opt(pod).await {
            Ok(None) => true,
            Ok(Some(found)) => {
                let labelled = found
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(FUNCTION_LABEL))
                    .is_some_and(|f| **f == *query.request.name);
                if labelled {
                    query.add_member(pod);
                    return true;
                }
                false
            }
            Err(error) => {
                tracing::debug!(pod, %error, "Could not look the pod of an event up; leaving its events out.");
                return false;
            }
        };
        if self.remembered.len() >= OWNERS_KEPT {
            self.remembered.clear();
        }
        self.remembered.insert(pod.to_owned(), owned);
        owned
    }
}

/// An event as a message: the pod is the instance, `Warning` is `warning` and anything else
/// `info`, and `"source":"event"` tells it from the pod's log lines.
fn message(query: &Query, event: &PodEvent) -> Message {
    let severity = if event.warning {
        Severity::Warning
    } else {
        Severity::Info
    };
    Message {
        name: query.request.name.clone(),
        namespace: query.request.namespace.clone(),
        instance: event.pod.as_str().into(),
        timestamp: event.at,
        text: event.text.clone(),
        stream: None,
        level: Some(level_name(severity)),
        source: Some(Message::SOURCE_EVENT),
    }
}

fn events_api(query: &Query) -> Api<Event> {
    Api::namespaced(query.api.clone().into_client(), &query.request.namespace)
}

/// The history's events, and what the follow needs to go on from them.
pub(crate) struct EventHistory {
    /// The function's events within `since` (or the look-back) that pass the request's
    /// filter, oldest first, at most `tail` of them.
    pub(crate) messages: Vec<Message>,
    /// `None` when events may not be read.
    pub(crate) live: Option<LiveEvents>,
}

/// Where the follow's event watch starts: the list's resourceVersion, and the count of every
/// event of the function listed, so only later occurrences are shown.
pub(crate) struct LiveEvents {
    resource_version: String,
    seen: HashMap<String, u32>,
    owners: Owners,
    permission: Arc<Permission>,
}

/// How an event object arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    /// Created after the list or watch position: new.
    Added,
    /// Changed after it.
    Modified,
    /// In a list made again after the watch expired.
    Relisted,
}

impl LiveEvents {
    /// The message for a new occurrence of `event`, if it is one and of the function: its
    /// count went up since last seen; an object not seen before is new when it was created
    /// after the watch position, or (changed or re-listed) last happened after the request
    /// began.
    async fn occurrence(
        &mut self,
        query: &Query,
        event: &Event,
        arrival: Arrival,
    ) -> Option<Message> {
        let e = pod_event(event)?;
        if !self.owners.owns(query, &e.pod).await {
            return None;
        }
        let new = match self.seen.insert(e.uid.clone(), e.count) {
            Some(before) => e.count > before,
            None => arrival == Arrival::Added || e.at >= query.started,
        };
        (new && query.since.is_none_or(|since| e.at >= since)).then(|| message(query, &e))
    }

    fn forget(&mut self, event: &Event) {
        if let Some(e) = pod_event(event) {
            self.seen.remove(&e.uid);
        }
    }
}

/// The namespace's pod events, one page at a time.
struct EventPages<'a> {
    api: &'a Api<Event>,
    /// The next page's parameters; `None` once the last page was read.
    next: Option<ListParams>,
    /// The first page's resourceVersion: the list's snapshot, where a watch goes on from.
    resource_version: Option<String>,
}

impl<'a> EventPages<'a> {
    fn new(api: &'a Api<Event>) -> Self {
        Self {
            api,
            next: Some(ListParams::default().fields(POD_EVENTS).limit(LIST_PAGE)),
            resource_version: None,
        }
    }

    /// The next page; `None` after the last.
    async fn next(&mut self) -> std::result::Result<Option<Vec<Event>>, kube::Error> {
        let Some(params) = self.next.take() else {
            return Ok(None);
        };
        let page = self.api.list(&params).await?;
        self.resource_version
            .get_or_insert_with(|| page.metadata.resource_version.clone().unwrap_or_default());
        if let Some(token) = page.metadata.continue_.as_deref().filter(|t| !t.is_empty()) {
            self.next = Some(params.continue_token(token));
        }
        Ok(Some(page.items))
    }

    fn resource_version(self) -> String {
        self.resource_version.unwrap_or_default()
    }
}

/// The function's events for the history part of `query`. A `403` (no permission on events)
/// is logged once by `permission` and answers no events and no follow of them; any other
/// failure is the request's.
///
/// Memory holds the function's matching events within `since` (with a `tail`, at most
/// `max(2 × tail, 500)` of them between pages), plus one page of the namespace's pod events.
pub(crate) async fn history(query: &Query, permission: Arc<Permission>) -> Result<EventHistory> {
    let api = events_api(query);
    let mut owners = Owners::default();
    let mut seen = HashMap::new();
    let mut messages = Vec::new();
    let tail = query.request.tail;
    let mut pages = EventPages::new(&api);
    loop {
        let page = match pages.next().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(e) if is_forbidden(&e) => {
                permission.refused(&e);
                return Ok(EventHistory {
                    messages: Vec::new(),
                    live: None,
                });
            }
            Err(e) => {
                return Err(Error::backend(
                    "listing the events of the function's pods",
                    e,
                ));
            }
        };
        for event in &page {
            let Some(e) = pod_event(event) else {
                continue;
            };
            if !owners.owns(query, &e.pod).await {
                continue;
            }
            seen.insert(e.uid.clone(), e.count);
            if query.since.is_some_and(|since| e.at < since) {
                continue;
            }
            let m = message(query, &e);
            if query.request.filter.matches(&m) {
                messages.push(m);
            }
        }
        if let Some(n) = tail
            && messages.len() > n.saturating_mul(2).max(LIST_PAGE as usize)
        {
            keep_last(&mut messages, n);
        }
    }
    let resource_version = pages.resource_version();
    permission.allowed();
    messages.sort_by_key(|m| m.timestamp);
    if let Some(n) = tail {
        keep_last(&mut messages, n);
    }
    Ok(EventHistory {
        messages,
        live: Some(LiveEvents {
            resource_version,
            seen,
            owners,
            permission,
        }),
    })
}

/// Keeps the `n` newest of `messages`, oldest first.
fn keep_last(messages: &mut Vec<Message>, n: usize) {
    messages.sort_by_key(|m| m.timestamp);
    let extra = messages.len().saturating_sub(n);
    messages.drain(..extra);
}

/// Follows the function's events from where the history's list left them, sending each new
/// occurrence into `tx`, until the client is gone. A watch that ends is opened again from the
/// last resourceVersion seen; one that expired (`410`) is replaced by a new list (occurrences
/// missed meanwhile are sent, seen ones are not). A `403` ends the events part (logged once);
/// after [`MAX_FAILURES`] consecutive failures the response is aborted.
pub(crate) async fn follow(
    query: Arc<Query>,
    mut live: LiveEvents,
    tx: mpsc::Sender<Result<Message>>,
) {
    let api = events_api(&query);
    let mut failures = 0u32;
    let mut empty = 0u32;
    loop {
        let params = WatchParams::default().fields(POD_EVENTS);
        let watched = match api.watch(&params, &live.resource_version).await {
            Ok(stream) => stream,
            Err(e) if is_forbidden(&e) => {
                live.permission.refused(&e);
                return;
            }
            Err(e) => {
                failures += 1;
                if !retry(&tx, failures, e).await {
                    return;
                }
                continue;
            }
        };
        let mut watched = std::pin::pin!(watched);
        let mut answered = false;
        while let Some(item) = watched.next().await {
            let (event, arrival) = match item {
                Ok(WatchEvent::Added(e)) => (e, Arrival::Added),
                Ok(WatchEvent::Modified(e)) => (e, Arrival::Modified),
                Ok(WatchEvent::Deleted(e)) => {
                    live.forget(&e);
                    if let Some(rv) = e.metadata.resource_version {
                        live.resource_version = rv;
                    }
                    continue;
                }
                Ok(WatchEvent::Bookmark(b)) => {
                    live.resource_version = b.metadata.resource_version;
                    answered = true;
                    continue;
                }
                Ok(WatchEvent::Error(status)) if status.code == 410 => {
                    // Compacted: list again; what happened meanwhile is in the list.
                    match relist(&query, &api, &mut live, &tx).await {
                        Ok(true) => {
                            failures = 0;
                            answered = true;
                        }
                        Ok(false) => return,
                        Err(e) if is_forbidden(&e) => {
                            live.permission.refused(&e);
                            return;
                        }
                        Err(e) => {
                            failures += 1;
                            if !retry(&tx, failures, e).await {
                                return;
                            }
                        }
                    }
                    break;
                }
                Ok(WatchEvent::Error(status)) => {
                    failures += 1;
                    if !retry(&tx, failures, kube::Error::Api(status)).await {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "The event watch broke; watching again.");
                    break;
                }
            };
            answered = true;
            failures = 0;
            if let Some(rv) = &event.metadata.resource_version {
                live.resource_version.clone_from(rv);
            }
            if let Some(m) = live.occurrence(&query, &event, arrival).await
                && tx.send(Ok(m)).await.is_err()
            {
                return;
            }
        }
        // A watch that ended without a word (the server closing it at once) is not asked
        // again in a tight loop.
        if answered {
            empty = 0;
        } else {
            empty += 1;
            tokio::select! {
                () = tokio::time::sleep(backoff(empty)) => {}
                () = tx.closed() => return,
            }
        }
    }
}

/// Lists the events again after the watch expired, sending the occurrences missed; `false`
/// when the client is gone.
async fn relist(
    query: &Query,
    api: &Api<Event>,
    live: &mut LiveEvents,
    tx: &mpsc::Sender<Result<Message>>,
) -> std::result::Result<bool, kube::Error> {
    let mut missed = Vec::new();
    let mut listed = HashSet::new();
    let mut pages = EventPages::new(api);
    while let Some(page) = pages.next().await? {
        for event in &page {
            if let Some(e) = pod_event(event) {
                listed.insert(e.uid);
            }
            if let Some(m) = live.occurrence(query, event, Arrival::Relisted).await {
                missed.push(m);
            }
        }
    }
    let resource_version = pages.resource_version();
    // Events gone from the list expired meanwhile.
    live.seen.retain(|uid, _| listed.contains(uid));
    live.resource_version = resource_version;
    missed.sort_by_key(|m| m.timestamp);
    for m in missed {
        if tx.send(Ok(m)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// After failure number `failures`: pauses before the next attempt and says `true`, or, past
/// [`MAX_FAILURES`], aborts the response and says `false`.
async fn retry(tx: &mpsc::Sender<Result<Message>>, failures: u32, error: kube::Error) -> bool {
    if failures >= MAX_FAILURES {
        let error = Error::backend("watching the events of the function's pods", error);
        let _ = tx.send(Err(error)).await;
        return false;
    }
    tracing::warn!(error = %error, attempt = failures, "Watching the function's events failed; retrying.");
    tokio::select! {
        () = tokio::time::sleep(backoff(failures)) => true,
        () = tx.closed() => false,
    }
}
