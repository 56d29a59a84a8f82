//! `GET /loki/api/v1/tail` as Loki's querier serves it (`pkg/querier/tail` in Loki 3.x),
//! including the ways it loses lines.
//!
//! Loki's tail is lossy by design. Every line pushed for a matching stream goes into the tail's
//! open iterator (here [`Session`], unbounded). A response loop takes the oldest lines, at most
//! [`MAX_ENTRIES_PER_RESPONSE`] per response, and hands each response to the websocket writer
//! through a channel of [`MAX_BUFFERED_RESPONSES`] without ever waiting: while that channel is
//! full, every line it takes is dropped, and a built response that does not fit is dropped
//! whole. The loop is much faster than the writer, so a burst larger than about eleven
//! responses loses the rest. When the loop finds nothing ready it sleeps [`IDLE_WAIT`], so lines
//! pushed meanwhile also come out as a burst. What was dropped (at most
//! [`MAX_DROPPED_ENTRIES`]) is reported in `dropped_entries` of the next response that does get
//! through, so a burst followed by silence is never reported at all.
//!
//! Also as Loki: the tail's history (the `limit` newest lines at or after `start`) goes through
//! the same loop; the writer pings the client every second; `max_concurrent_tail_requests` per
//! tenant is checked after the websocket upgrade and a refusal is a close frame (1011) with
//! Loki's text ([`tail_limit_error`]); `tail_max_duration` ends a tail with a 1011 close frame.
//!
//! Not modelled: the ingester's own per-tailer buffers (100 pushes, then 5 streams), which
//! drop only when the querier stops reading its gRPC stream; and Loki's quirk of reporting
//! the lines of a whole response it could not queue with the line in place of the labels
//! (which can then fail to encode and close the socket). Here every dropped line is reported
//! with its stream's labels.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::{
    Labels, Matcher, ServerEpoch, Shared, Stored, bad_request, check_auth, lock, log_request,
    nanos, param, params, parse_selector, select, time,
};

/// Loki's `maxEntriesPerTailResponse`.
pub const MAX_ENTRIES_PER_RESPONSE: usize = 100;
/// Loki's `maxBufferedTailResponses`: responses queued for the websocket writer.
pub const MAX_BUFFERED_RESPONSES: usize = 10;
/// Loki's `maxDroppedEntriesPerTailResponse`.
pub const MAX_DROPPED_ENTRIES: usize = 1000;
/// Loki's `tailerWaitEntryThrottle`: the response loop's sleep when nothing is ready.
pub const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Loki's `wsPingPeriod`.
pub const PING_PERIOD: Duration = Duration::from_secs(1);
/// The close code Loki ends a tail with on any error (`websocket.CloseInternalServerErr`).
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// The close reason of a tail refused over `max_concurrent_tail_requests`: Loki's
/// `httpgrpc.Errorf(400, ...)` printed as a gRPC status error. `open` is the number of tails
/// the tenant already has.
pub fn tail_limit_error(open: usize, limit: usize) -> String {
    format!(
        "rpc error: code = Code(400) desc = max concurrent tail requests limit exceeded, count > limit ({} > {limit})",
        open + 1
    )
}

/// The tenant a request counts against: `X-Scope-OrgID`, or Loki's single-tenant `fake`.
fn tenant(headers: &HeaderMap) -> String {
    headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("fake")
        .to_owned()
}

/// A line with its stream's labels.
type Line = (Arc<Labels>, Stored);

/// One open tail's lines not yet taken by its response loop (Loki's `openStreamIterator`),
/// oldest first.
pub(crate) struct Session {
    matchers: Vec<Matcher>,
    tenant: String,
    pending: std::sync::Mutex<BTreeMap<(i64, u64), Line>>,
    closed: AtomicBool,
}

impl Session {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Lines just pushed to a stream with `labels` (as an ingester sends them to its tailers).
    pub(crate) fn offer(&self, labels: &Arc<Labels>, entries: &[Stored]) {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return;
        }
        let mut pending = lock(&self.pending);
        for e in entries {
            pending.insert((e.ts, e.seq), (labels.clone(), e.clone()));
        }
    }

    /// Loki's `Tailer.next`: the oldest line, once it is more than `delay` old.
    fn next(&self, delay: i64, now: i64) -> Option<Line> {
        let mut pending = lock(&self.pending);
        let (&(ts, _), _) = pending.first_key_value()?;
        if now <= ts.saturating_add(delay) {
            return None;
        }
        pending.pop_first().map(|(_, v)| v)
    }
}

/// One response for the writer, with what was dropped before it.
struct Frame {
    entries: Vec<Line>,
    dropped: Vec<(i64, Arc<Labels>)>,
}

impl Frame {
    /// Loki's v1 JSON: one stream object per line, `dropped_entries` only when there are some.
    fn json(&self) -> String {
        let streams: Vec<Value> = self
            .entries
            .iter()
            .map(|(labels, e)| {
                let mut stream = (**labels).clone();
                for (k, v) in e.metadata.iter() {
                    stream.entry(k.clone()).or_insert_with(|| v.clone());
                }
                json!({ "stream": stream, "values": [[e.ts.to_string(), &*e.line]] })
            })
            .collect();
        let mut frame = json!({ "streams": streams });
        if !self.dropped.is_empty() {
            frame["dropped_entries"] = self
                .dropped
                .iter()
                .map(|(ts, labels)| json!({ "timestamp": ts.to_string(), "labels": &**labels }))
                .collect();
        }
        frame.to_string()
    }
}

fn drop_entry(dropped: &mut Vec<(i64, Arc<Labels>)>, ts: i64, labels: &Arc<Labels>) {
    if dropped.len() < MAX_DROPPED_ENTRIES {
        dropped.push((ts, labels.clone()));
    }
}

/// What a tail asked for.
struct TailRequest {
    matchers: Vec<Matcher>,
    start: i64,
    limit: usize,
    delay: i64,
    tenant: String,
}

/// What ends a tail socket from the outside.
struct Faults {
    kill: watch::Receiver<u64>,
    close: watch::Receiver<u64>,
    stalled: watch::Receiver<bool>,
}

/// The HTTP handler: bad parameters are a `400` before the upgrade, as in Loki.
pub(crate) async fn handler(
    State(shared): State<Arc<Shared>>,
    axum::Extension(ServerEpoch(epoch)): axum::Extension<ServerEpoch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = params(raw);
    log_request(&shared, "/loki/api/v1/tail", &params);
    if let Err(r) = check_auth(&shared, &headers) {
        return r;
    }
    let Some(query) = param(&params, "query") else {
        return bad_request("query parameter is required");
    };
    let matchers = match parse_selector(query) {
        Ok(m) => m,
        Err(e) => return bad_request(e),
    };
    let now = time::now_nanos();
    let start = match nanos(&params, "start", now - 3_600_000_000_000) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit: usize = param(&params, "limit")
        .unwrap_or("100")
        .parse()
        .unwrap_or(100);
    let delay: i64 = param(&params, "delay_for")
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    if delay > 5 {
        return bad_request("delay_for can't be greater than 5");
    }
    // A stop() may have come while this request was on its way: the kill it sent went to the
    // receivers of the time. Subscribe, then check the epoch, so none is missed.
    let faults = Faults {
        kill: shared.kill_tails.subscribe(),
        close: shared.close_tails.subscribe(),
        stalled: shared.tails_stalled.subscribe(),
    };
    if shared.epoch.load(Ordering::SeqCst) != epoch {
        return crate::text(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "simulator stopped\n",
        );
    }
    let request = TailRequest {
        matchers,
        start,
        limit,
        delay: delay * 1_000_000_000,
        tenant: tenant(&headers),
    };
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(shared, socket, faults, request))
}

/// Counts an open tail and ends its session when the socket ends.
struct OpenTail {
    shared: Arc<Shared>,
    session: Arc<Session>,
    producer: tokio::task::JoinHandle<()>,
}

impl Drop for OpenTail {
    fn drop(&mut self) {
        self.session.closed.store(true, Ordering::Relaxed);
        self.producer.abort();
        self.shared.tails_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registers a tail with its history, or refuses it over the tenant's limit (Loki counts the
/// tails the tenant already has, before creating this one): `Err((open, limit))`.
fn open_session(shared: &Shared, request: TailRequest) -> Result<Arc<Session>, (usize, usize)> {
    let store = lock(&shared.store);
    let mut sessions = lock(&shared.sessions);
    let open = sessions
        .iter()
        .filter(|s| !s.is_closed() && s.tenant == request.tenant)
        .count();
    let limit = shared.max_tails.load(Ordering::Relaxed);
    if open >= limit {
        return Err((open, limit));
    }
    // The history: the `limit` newest lines in [start, now), through the same loop.
    let history = select(
        &store,
        &request.matchers,
        |_, _| true,
        request.start,
        time::now_nanos(),
        request.limit,
        false,
    );
    let pending = history
        .into_iter()
        .map(|(labels, e)| ((e.ts, e.seq), (labels, e)))
        .collect();
    let session = Arc::new(Session {
        matchers: request.matchers,
        tenant: request.tenant,
        pending: std::sync::Mutex::new(pending),
        closed: AtomicBool::new(false),
    });
    sessions.push(session.clone());
    Ok(session)
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket, faults: Faults, request: TailRequest) {
    let Faults {
        mut kill,
        mut close,
        mut stalled,
    } = faults;
    if kill.has_changed().unwrap_or(true) {
        return;
    }
    let delay = request.delay;
    let session = match open_session(&shared, request) {
        Ok(session) => session,
        Err((open, limit)) => {
            shared.counts.tails_refused.fetch_add(1, Ordering::Relaxed);
            let _ = socket
                .send(WsMessage::Close(Some(CloseFrame {
                    code: CLOSE_INTERNAL_ERROR,
                    reason: tail_limit_error(open, limit).into(),
                })))
                .await;
            return;
        }
    };
    shared.counts.tails_opened.fetch_add(1, Ordering::Relaxed);
    shared.tails_open.fetch_add(1, Ordering::Relaxed);
    let (tx, mut responses) = mpsc::channel(MAX_BUFFERED_RESPONSES);
    let _open = OpenTail {
        shared: shared.clone(),
        session: session.clone(),
        producer: tokio::spawn(respond(shared.clone(), session, tx, delay)),
    };
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_PERIOD, PING_PERIOD);
    loop {
        if *stalled.borrow_and_update() {
            // Quiet: nothing written, nothing read, until released (or reset).
            tokio::select! {
                _ = kill.changed() => return,
                released = stalled.wait_for(|s| !s) => {
                    if released.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let message = tokio::select! {
            _ = kill.changed() => return, // reset: no close frame
            _ = close.changed() => WsMessage::Close(Some(CloseFrame {
                code: CLOSE_INTERNAL_ERROR,
                reason: "reached tail max duration limit".into(),
            })),
            _ = stalled.changed() => continue,
            frame = responses.recv() => match frame {
                Some(frame) => WsMessage::Text(frame.json().into()),
                None => return,
            },
            _ = ping.tick() => WsMessage::Ping(Default::default()),
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
        };
        let closing = matches!(message, WsMessage::Close(_));
        if socket.send(message).await.is_err() || closing {
            return;
        }
    }
}

/// Loki's `Tailer.loop`: builds responses as fast as it can and never waits for the writer.
async fn respond(shared: Arc<Shared>, session: Arc<Session>, tx: mpsc::Sender<Frame>, delay: i64) {
    let mut dropped: Vec<(i64, Arc<Labels>)> = Vec::new();
    loop {
        if tx.is_closed() || session.is_closed() {
            return;
        }
        let now = time::now_nanos();
        let mut entries = Vec::new();
        let mut consumed = 0;
        while consumed < MAX_ENTRIES_PER_RESPONSE {
            let Some((labels, entry)) = session.next(delay, now) else {
                break;
            };
            consumed += 1;
            // The writer is behind: drop the line rather than wait.
            if tx.capacity() == 0 {
                drop_entry(&mut dropped, entry.ts, &labels);
                continue;
            }
            entries.push((labels, entry));
        }
        if entries.is_empty() {
            if consumed == 0 {
                let wait = *lock(&shared.tail_idle_wait);
                tokio::time::sleep(wait).await;
            }
            continue;
        }
        let frame = Frame {
            entries,
            dropped: std::mem::take(&mut dropped),
        };
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(frame)) => {
                dropped = frame.dropped;
                for (labels, entry) in &frame.entries {
                    drop_entry(&mut dropped, entry.ts, labels);
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
