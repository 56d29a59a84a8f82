//! The answer to one request: history through `query_range`, then (for `follow`) the tail
//! websocket, as one pull-based state machine.
//!
//! Memory is bounded by one Loki page (`--loki-page-size`) or one tail frame: a page is fetched
//! only when the previous one has been taken by the client. Dropping the stream drops the
//! in-flight request or the websocket with it.
//!
//! - `tail=N` with N up to a page: one `direction=backward&limit=N` query, reversed.
//! - larger N: a backward pass that only counts, to find the timestamp of the N-th newest line
//!   (and which lines at exactly that timestamp are among the N), then a forward pass from it.
//! - otherwise: forward pages from `since` (or the look-back bound).
//! - follow: a forward catch-up from the last delivered line to now, then the tail websocket
//!   from there; when the socket drops (Loki closes it after `tail_max_duration`, or a
//!   restart), the same catch-up and a new socket. The [`Cursor`] skips what was delivered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use logs_api::{Error, LogStream, Message, Request, Timestamp};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{Direction, Loki, LokiError, TailSocket};
use crate::config::Config;
use crate::cursor::{Cursor, EntryId, LineHasher};
use crate::wire::{Decoded, Entry, Expect, decode_query_range, decode_tail_frame};

/// Retries before the first byte (100 + 200 + 400 ms of waiting at most).
const PRIME_RETRIES: u32 = 3;

/// What the stream does next.
enum Phase {
    /// The `limit` newest lines of the window in one backward query.
    Newest { limit: usize },
    /// Backward pages counting lines until the `want`-th newest.
    Count(Count),
    /// Forward pages over `[start, end)`; `only_at` keeps, at that one timestamp, just the
    /// listed lines (the oldest timestamp of a `tail` that cuts through it).
    Forward {
        start: i64,
        end: i64,
        only_at: Option<(i64, Vec<EntryId>)>,
        live: bool,
    },
    /// Open the tail websocket from the cursor.
    Connect,
    /// Read frames from the websocket.
    Tail(Box<Tail>),
    /// Nothing more.
    Done,
}

struct Count {
    want: usize,
    end: i64,
    counted: usize,
    run_ts: i64,
    run: Vec<EntryId>,
}

/// The state of one answer.
pub(crate) struct LokiStream {
    loki: Arc<Loki>,
    config: Arc<Config>,
    request: Request,
    query: String,
    /// Start of the history window (inclusive).
    start: i64,
    /// End of the history window (exclusive): the request's arrival.
    end: i64,
    phase: Phase,
    ready: VecDeque<Entry>,
    cursor: Cursor,
    /// Identifies lines at cut points (the same keys as the cursor's).
    hasher: LineHasher,
    failures: u32,
}

impl LokiStream {
    pub(crate) fn new(loki: Arc<Loki>, config: Arc<Config>, request: Request) -> Self {
        let query = crate::query::selector(&config.labels, &request);
        let end = Timestamp::now().unix_nanos();
        let look_back = i64::try_from(config.look_back.as_nanos()).unwrap_or(i64::MAX);
        let bound = end.saturating_sub(look_back);
        let start = request
            .since
            .map_or(bound, |s| s.unix_nanos().max(bound))
            .min(end);
        let phase = match request.tail {
            Some(n) if n <= config.page_size => Phase::Newest { limit: n },
            Some(n) => Phase::Count(Count {
                want: n,
                end,
                counted: 0,
                run_ts: i64::MIN,
                run: Vec::new(),
            }),
            None => Phase::Forward {
                start,
                end,
                only_at: None,
                live: false,
            },
        };
        let hasher = LineHasher::default();
        LokiStream {
            loki,
            config,
            request,
            query,
            start,
            end,
            phase,
            ready: VecDeque::new(),
            cursor: Cursor::at(start, hasher.clone()),
            hasher,
            failures: 0,
        }
    }

    /// Runs the first Loki request, so that a Loki error becomes a `500` before the stream.
    pub(crate) async fn prime(mut self) -> Result<LogStream, Error> {
        let mut failures = 0;
        while let Err(e) = self.step().await {
            // A few quick retries: a client is waiting for the status line.
            failures += 1;
            if !e.is_transient() || failures > self.config.retries.min(PRIME_RETRIES) {
                return Err(backend_error(&self.query, e));
            }
            tokio::time::sleep(backoff(failures)).await;
        }
        Ok(futures::stream::unfold(
            self,
            |mut s| async move { s.next().await.map(|item| (item, s)) },
        )
        .boxed())
    }

    async fn next(&mut self) -> Option<Result<Message, Error>> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Some(Ok(self.message(entry)));
            }
            if matches!(self.phase, Phase::Done) {
                return None;
            }
            if let Err(e) = self.step().await {
                self.failures += 1;
                if !e.is_transient() || self.failures > self.config.retries {
                    tracing::error!(
                        query = %self.query,
                        failures = self.failures,
                        error = %e,
                        "Loki failed; giving up on the stream."
                    );
                    self.phase = Phase::Done;
                    return Some(Err(backend_error(&self.query, e)));
                }
                let wait = backoff(self.failures);
                tracing::warn!(query = %self.query, error = %e, ?wait, "Loki failed; retrying.");
                tokio::time::sleep(wait).await;
                if matches!(self.phase, Phase::Connect) {
                    // Lines may have come while we could not connect.
                    self.catch_up();
                }
            }
        }
    }

    fn message(&self, mut entry: Entry) -> Message {
        let len = logs_api::trim_line_end(&entry.line).len();
        entry.line.truncate(len);
        Message {
            name: self.request.name.clone(),
            namespace: self.request.namespace.clone(),
            instance: entry.info.instance.clone(),
            timestamp: Timestamp::from_unix_nanos(entry.ts),
            text: entry.line,
            stream: entry.info.stream,
            level: entry.info.level.clone(),
            source: None,
        }
    }

    fn expect(&self) -> Expect<'_> {
        expect(&self.config, &self.request)
    }
}

fn expect<'a>(config: &'a Config, request: &'a Request) -> Expect<'a> {
    Expect {
        labels: &config.labels,
        name: &request.name,
        namespace: &request.namespace,
        instance: request.instance.as_deref(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn fetch_page(
    loki: &Loki,
    config: &Config,
    request: &Request,
    query: &str,
    start: i64,
    end: i64,
    limit: usize,
    direction: Direction,
) -> Result<Page, LokiError> {
    if start >= end {
        // An empty window (e.g. `since` in the future): Loki would refuse it with a 400.
        return Ok(Page {
            entries: Vec::new(),
            full: false,
        });
    }
    let body = loki
        .query_range(query, start, end, limit, direction)
        .await?;
    let decoded = decode_query_range(&body, expect(config, request))?;
    let Decoded {
        mut entries,
        foreign,
        ..
    } = decoded;
    if foreign > 0 {
        tracing::warn!(%query, foreign, "Loki returned lines of other streams; skipped them.");
    }
    // Loki orders lines only within a stream; merge the streams (stable, so each stream's
    // own order of equal timestamps is kept).
    match direction {
        Direction::Forward => entries.sort_by_key(|e| e.ts),
        Direction::Backward => entries.sort_by_key(|e| std::cmp::Reverse(e.ts)),
    }
    Ok(Page {
        full: entries.len() + foreign >= limit,
        entries,
    })
}

impl LokiStream {
    /// History is over (or a catch-up finished): continue with follow, or end.
    fn after_window(&mut self, end: i64) {
        self.cursor.raise_floor(end);
        self.phase = if self.request.follow {
            Phase::Connect
        } else {
            Phase::Done
        };
    }

    /// A forward read from the cursor to now, then a new tail socket.
    fn catch_up(&mut self) {
        self.phase = Phase::Forward {
            start: self.cursor.ts(),
            // Loki's clock may run ahead of ours; the window must not be empty.
            end: Timestamp::now().unix_nanos().max(self.cursor.ts() + 1),
            only_at: None,
            live: true,
        };
    }

    /// One Loki round trip; fills `ready` or moves to the next phase.
    async fn step(&mut self) -> Result<(), LokiError> {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Done => Ok(()),
            Phase::Newest { limit } => {
                if limit > 0 {
                    let page = match fetch_page(
                        &self.loki,
                        &self.config,
                        &self.request,
                        &self.query,
                        self.start,
                        self.end,
                        limit,
                        Direction::Backward,
                    )
                    .await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            self.phase = Phase::Newest { limit };
                            return Err(e);
                        }
                    };
                    for entry in page.entries.into_iter().rev() {
                        if self.cursor.take(&entry) {
                            self.ready.push_back(entry);
                        }
                    }
                }
                self.after_window(self.end);
                self.failures = 0;
                Ok(())
            }
            Phase::Count(mut count) => {
                let page = match fetch_page(
                    &self.loki,
                    &self.config,
                    &self.request,
                    &self.query,
                    self.start,
                    count.end,
                    self.config.page_size,
                    Direction::Backward,
                )
                .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        self.phase = Phase::Count(count);
                        return Err(e);
                    }
                };
                self.failures = 0;
                let boundary = (count.run_ts, count.run.clone());
                for entry in &page.entries {
                    let id = self.hasher.id(entry);
                    if entry.ts == boundary.0 && boundary.1.contains(&id) {
                        continue; // seen on the previous page (end is re-read inclusively)
                    }
                    count.counted += 1;
                    if entry.ts != count.run_ts {
                        count.run_ts = entry.ts;
                        count.run.clear();
                    }
                    count.run.push(id);
                    if count.counted == count.want {
                        self.phase = Phase::Forward {
                            start: count.run_ts,
                            end: self.end,
                            only_at: Some((count.run_ts, std::mem::take(&mut count.run))),
                            live: false,
                        };
                        return Ok(());
                    }
                }
                if !page.full {
                    // Fewer than N lines in the window: all of them.
                    self.phase = Phase::Forward {
                        start: self.start,
                        end: self.end,
                        only_at: None,
                        live: false,
                    };
                    return Ok(());
                }
                if page.entries.last().map(|e| e.ts) == Some(boundary.0) {
                    return Err(same_timestamp(self.config.page_size));
                }
                count.end = count.run_ts.saturating_add(1);
                self.phase = Phase::Count(count);
                Ok(())
            }
            Phase::Forward {
                start,
                end,
                mut only_at,
                live,
            } => {
                let page = match fetch_page(
                    &self.loki,
                    &self.config,
                    &self.request,
                    &self.query,
                    start,
                    end,
                    self.config.page_size,
                    Direction::Forward,
                )
                .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        self.phase = Phase::Forward {
                            start,
                            end,
                            only_at,
                            live,
                        };
                        return Err(e);
                    }
                };
                self.failures = 0;
                let last = page.entries.last().map(|e| e.ts);
                for entry in page.entries {
                    if let Some((ts, keep)) = &mut only_at
                        && entry.ts == *ts
                    {
                        let id = self.hasher.id(&entry);
                        match keep.iter().position(|k| *k == id) {
                            Some(i) => {
                                keep.swap_remove(i);
                            }
                            None => continue,
                        }
                    }
                    if self.cursor.take(&entry) {
                        self.ready.push_back(entry);
                    }
                }
                match last {
                    Some(last) if page.full => {
                        if last == start {
                            return Err(same_timestamp(self.config.page_size));
                        }
                        self.phase = Phase::Forward {
                            start: last,
                            end,
                            only_at,
                            live,
                        };
                    }
                    _ => self.after_window(end),
                }
                Ok(())
            }
            Phase::Connect => {
                let socket = self
                    .loki
                    .tail(
                        &self.query,
                        self.cursor.ts(),
                        self.config.page_size,
                        self.config.tail_delay,
                    )
                    .await;
                match socket {
                    Ok(socket) => {
                        self.phase = Phase::Tail(Box::new(Tail {
                            socket,
                            opened: std::time::Instant::now(),
                            frames: 0,
                        }));
                        Ok(())
                    }
                    Err(e) => {
                        self.phase = Phase::Connect;
                        Err(e)
                    }
                }
            }
            Phase::Tail(mut tail) => {
                let frame = tail.socket.next().await;
                match frame {
                    Some(Ok(WsMessage::Text(text))) => {
                        let decoded = decode_tail_frame(text.as_str(), self.expect())?;
                        self.failures = 0;
                        tail.frames += 1;
                        let mut entries = decoded.entries;
                        entries.sort_by_key(|e| e.ts);
                        for entry in entries {
                            if self.cursor.take(&entry) {
                                self.ready.push_back(entry);
                            }
                        }
                        if decoded.foreign > 0 {
                            tracing::warn!(query = %self.query, foreign = decoded.foreign, "Loki tail sent lines of other streams; skipped them.");
                        }
                        if decoded.dropped > 0 {
                            // Loki could not send us everything; read it back from the cursor.
                            tracing::warn!(query = %self.query, dropped = decoded.dropped, "Loki dropped tail lines; catching up with query_range.");
                            self.catch_up();
                        } else {
                            self.phase = Phase::Tail(tail);
                        }
                        Ok(())
                    }
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => {
                        let reason = match &frame {
                            Some(Ok(WsMessage::Close(Some(close)))) => close.reason.to_string(),
                            Some(Err(e)) => e.to_string(),
                            _ => "closed".to_owned(),
                        };
                        // Loki closes a healthy tail after `tail_max_duration`, and a restart
                        // closes it too: resume from the cursor. A socket that closes before it
                        // delivered anything or lived a while counts as a failure, so a Loki
                        // that refuses every tail ends in the retry limit, not a busy loop.
                        self.catch_up();
                        if tail.frames == 0 && tail.opened.elapsed() < TAIL_HEALTHY_AFTER {
                            return Err(LokiError::Websocket(reason));
                        }
                        tracing::debug!(query = %self.query, %reason, "Loki tail ended; resuming.");
                        Ok(())
                    }
                    Some(Ok(_)) => {
                        self.phase = Phase::Tail(tail);
                        Ok(())
                    }
                }
            }
        }
    }
}

/// An open tail websocket.
struct Tail {
    socket: TailSocket,
    opened: std::time::Instant,
    frames: u64,
}

/// A tail socket that lived this long ended normally, even if it carried no lines.
const TAIL_HEALTHY_AFTER: Duration = Duration::from_secs(30);

struct Page {
    entries: Vec<Entry>,
    /// Loki returned as many lines as asked: there may be more.
    full: bool,
}

fn same_timestamp(page_size: usize) -> LokiError {
    LokiError::PageTooSmall(page_size)
}

/// 100 ms, 200 ms, 400 ms, ... up to 5 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(5_000))
}

fn backend_error(query: &str, e: LokiError) -> Error {
    Error::backend(format!("querying Loki for {query}"), e)
}
