//! The answer to one request: history through `query_range`, then (for `follow`) the lines of
//! the namespace's shared live reader ([`crate::feed`]), as one pull-based state machine.
//!
//! Memory is bounded by one Loki page (`--loki-page-size`): a page is fetched only when the
//! previous one has been taken by the client, and the live queue is bounded by the feed.
//! Dropping the stream drops the in-flight request and leaves the feed.
//!
//! The request's filters go to Loki as far as LogQL can say them ([`Plan`]), and the provider
//! applies the whole filter again to every line Loki returns ([`keeps`]), so the answer is
//! exactly what filtering the unfiltered lines would give.
//!
//! - `tail=N` with N up to a page and a filter Loki applies exactly (or none): one
//!   `direction=backward&limit=N` query, reversed.
//! - otherwise: a backward pass that counts the lines that pass the filter, to find the
//!   timestamp of the N-th newest (and which lines at exactly that timestamp are among the N),
//!   then a forward pass from it. When the N are within the first backward page (N up to a
//!   page), they are delivered from it, with no second query.
//! - no `tail`: forward pages from `since` (or the look-back bound).
//! - follow: join the namespace's feed: a forward catch-up of this function's lines from the
//!   end of the history to the feed's position, then the feed's lines. A follower that falls
//!   behind the feed catches up the same way. The [`Cursor`] skips what was delivered.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use logs_api::{Error, LogStream, Message, Request, Timestamp};

use crate::backoff::backoff;
use crate::client::{Direction, Loki, LokiError};
use crate::config::Config;
use crate::cursor::{Cursor, EntryId, LineHasher};
use crate::feed::{Feeds, Subscription, Taken};
use crate::filter::keeps;
use crate::pages::{Page, fetch_page};
use crate::query::Plan;
use crate::wire::{Entry, Expect};

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
        then: Then,
    },
    /// Join (again) the namespace's shared reader and catch up to its position.
    Join,
    /// Take the shared reader's lines.
    Live,
    /// Nothing more.
    Done,
}

/// What a finished forward window was.
#[derive(Clone, Copy)]
enum Then {
    /// The history: the stream ends, or joins the feed.
    History,
    /// A catch-up to the feed's position; `clean` when nothing at or after its end has been
    /// handed out by the feed yet.
    Live { clean: bool },
}

/// The counting pass of a `tail`.
struct Count {
    want: usize,
    /// Exclusive end of the next backward page.
    end: i64,
    /// Lines that pass the filter, counted so far.
    counted: usize,
    /// The oldest timestamp read so far, and every line read at it: the next page starts
    /// there again (inclusively) and skips these.
    seen_ts: i64,
    seen: Vec<EntryId>,
    /// The oldest timestamp counted so far, and the counted lines at it.
    run_ts: i64,
    run: Vec<EntryId>,
    /// While on the first page: its lines that pass, newest first, to deliver without a second
    /// query when the N are among them.
    first: Option<Vec<Entry>>,
}

impl Count {
    fn new(want: usize, end: i64, page_size: usize) -> Count {
        Count {
            want,
            end,
            counted: 0,
            seen_ts: i64::MIN,
            seen: Vec::new(),
            run_ts: i64::MIN,
            run: Vec::new(),
            first: (want <= page_size).then(Vec::new),
        }
    }
}

/// The state of one answer.
pub(crate) struct LokiStream {
    loki: Arc<Loki>,
    feeds: Arc<Feeds>,
    config: Arc<Config>,
    request: Request,
    /// What of the filter Loki applies.
    plan: Plan,
    query: String,
    /// Start of the history window (inclusive).
    start: i64,
    /// End of the history window (exclusive): the request's arrival.
    end: i64,
    /// Where following starts: the end of the history, or `since` if later.
    live_from: i64,
    /// The place in the namespace's feed, once following.
    subscription: Option<Subscription>,
    phase: Phase,
    ready: VecDeque<Entry>,
    cursor: Cursor,
    /// Identifies lines at cut points (the same keys as the cursor's).
    hasher: LineHasher,
    failures: u32,
    /// When a step last succeeded: a follow gives up on Loki once it has had no answer for
    /// `--loki-stall-timeout`, however long each request may take.
    last_answer: std::time::Instant,
}

impl LokiStream {
    pub(crate) fn new(
        loki: Arc<Loki>,
        feeds: Arc<Feeds>,
        config: Arc<Config>,
        request: Request,
    ) -> Self {
        let plan = Plan::new(&request.filter);
        let query = crate::query::log_query(&config.labels, &request, &plan);
        let end = Timestamp::now().unix_nanos();
        let look_back = i64::try_from(config.look_back.as_nanos()).unwrap_or(i64::MAX);
        let bound = end.saturating_sub(look_back);
        let start = request
            .since
            .map_or(bound, |s| s.unix_nanos().max(bound))
            .min(end);
        let phase = match request.tail {
            Some(0) => Phase::Newest { limit: 0 },
            Some(n) if n <= config.page_size && plan.exact => Phase::Newest { limit: n },
            Some(n) => Phase::Count(Count::new(n, end, config.page_size)),
            None => Phase::Forward {
                start,
                end,
                only_at: None,
                then: Then::History,
            },
        };
        let live_from = request.since.map_or(end, |s| s.unix_nanos().max(end));
        let hasher = LineHasher::default();
        LokiStream {
            loki,
            feeds,
            config,
            request,
            plan,
            query,
            start,
            end,
            live_from,
            subscription: None,
            phase,
            ready: VecDeque::new(),
            cursor: Cursor::at(start, hasher.clone()),
            hasher,
            failures: 0,
            last_answer: std::time::Instant::now(),
        }
    }

    /// Runs the first Loki request, so that a Loki error becomes a `500` before the stream.
    pub(crate) async fn prime(mut self) -> Result<LogStream, Error> {
        let mut failures = 0;
        while let Err(e) = self.step().await {
            if self.drop_regexp(&e) {
                continue;
            }
            // A few quick retries: a client is waiting for the status line.
            failures += 1;
            if !e.is_transient() || failures > self.config.retries.min(PRIME_RETRIES) {
                return Err(backend_error(&self.query, e));
            }
            tokio::time::sleep(backoff(failures)).await;
        }
        self.last_answer = std::time::Instant::now();
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
            match self.step().await {
                Ok(()) => self.last_answer = std::time::Instant::now(),
                Err(e) if self.drop_regexp(&e) => {}
                Err(e) => {
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
                }
            }
        }
    }

    /// When Loki refuses the pushed-down `regexp` (Go's RE2 parser rejected what
    /// [`crate::re2`] wrote, which it should never do), asks again without it: the provider
    /// applies the `regexp` itself anyway. Returns whether the query changed.
    fn drop_regexp(&mut self, e: &LokiError) -> bool {
        let refused =
            matches!(e, LokiError::Status { text, .. } if text.contains("error parsing regexp"));
        if !refused || self.plan.regexp.is_none() {
            return false;
        }
        tracing::warn!(query = %self.query, error = %e, "Loki refused the regexp filter; applying it in the provider only.");
        self.plan.drop_regexp();
        self.query = crate::query::log_query(&self.config.labels, &self.request, &self.plan);
        // One backward query of N lines is only right when Loki filters exactly.
        if let Phase::Newest { limit } = self.phase
            && limit > 0
        {
            self.phase = Phase::Count(Count::new(limit, self.end, self.config.page_size));
        }
        true
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
        Expect {
            labels: &self.config.labels,
            name: Some(&self.request.name),
            namespace: &self.request.namespace,
            instance: self.request.instance.as_deref(),
        }
    }

    /// A page of this request's own selector. The request's future is boxed, so that an idle
    /// follow (parked in the live phase) does not carry room for it: a thousand idle follows
    /// would otherwise hold a thousand unused HTTP request futures.
    ///
    /// A follow waits for it at most what is left of `--loki-stall-timeout` since its last
    /// answer: a follow must end as failed, not hang, when Loki stops answering (a history
    /// ends at the stream deadline anyway).
    async fn page(
        &self,
        start: i64,
        end: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Page, LokiError> {
        let fetch = Box::pin(fetch_page(
            &self.loki,
            &self.query,
            self.expect(),
            start,
            end,
            limit,
            direction,
        ));
        if !self.request.follow {
            return fetch.await;
        }
        let stall = self.config.stall_timeout;
        tokio::time::timeout(stall.saturating_sub(self.last_answer.elapsed()), fetch)
            .await
            .unwrap_or(Err(LokiError::Stalled(stall)))
    }
}

impl LokiStream {
    /// The history is `newest` (the lines that pass, newest first): delivers it in time order.
    fn deliver_newest(&mut self, newest: Vec<Entry>) -> Phase {
        for entry in newest.into_iter().rev() {
            if self.cursor.take(&entry) {
                self.ready.push_back(entry);
            }
        }
        self.after_window(self.end, Then::History);
        std::mem::replace(&mut self.phase, Phase::Done)
    }

    /// A forward window is done.
    fn after_window(&mut self, end: i64, then: Then) {
        self.phase = match then {
            Then::History => {
                // Everything before the request (or `since`) was history.
                self.cursor.raise_floor(end.max(self.live_from));
                if self.request.follow {
                    Phase::Join
                } else {
                    Phase::Done
                }
            }
            Then::Live { clean } => {
                if clean {
                    self.cursor.raise_floor(end);
                }
                Phase::Live
            }
        };
    }

    /// One Loki round trip (or one wait for the feed); fills `ready` or moves to the next
    /// phase.
    async fn step(&mut self) -> Result<(), LokiError> {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Done => Ok(()),
            Phase::Newest { limit } => {
                if limit > 0 {
                    let page = match self
                        .page(self.start, self.end, limit, Direction::Backward)
                        .await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            self.phase = Phase::Newest { limit };
                            return Err(e);
                        }
                    };
                    for entry in page.entries.into_iter().rev() {
                        if self.cursor.take(&entry) && keeps(&self.request.filter, &entry) {
                            self.ready.push_back(entry);
                        }
                    }
                }
                self.after_window(self.end, Then::History);
                self.failures = 0;
                Ok(())
            }
            Phase::Count(mut count) => {
                let page = match self
                    .page(
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
                let oldest = page.entries.last().map(|e| e.ts);
                let mut seen_next = Vec::new();
                for entry in page.entries {
                    let id = self.hasher.id(&entry);
                    if entry.ts == count.seen_ts && count.seen.contains(&id) {
                        continue; // read on the previous page (its end is re-read inclusively)
                    }
                    if Some(entry.ts) == oldest {
                        seen_next.push(id.clone());
                    }
                    if !keeps(&self.request.filter, &entry) {
                        continue;
                    }
                    count.counted += 1;
                    if entry.ts != count.run_ts {
                        count.run_ts = entry.ts;
                        count.run.clear();
                    }
                    count.run.push(id);
                    if let Some(first) = &mut count.first {
                        first.push(entry);
                    }
                    if count.counted == count.want {
                        self.phase = match count.first.take() {
                            Some(first) => self.deliver_newest(first),
                            None => Phase::Forward {
                                start: count.run_ts,
                                end: self.end,
                                only_at: Some((count.run_ts, std::mem::take(&mut count.run))),
                                then: Then::History,
                            },
                        };
                        return Ok(());
                    }
                }
                if !page.full {
                    // Fewer than N lines pass in the window: all of them.
                    self.phase = match count.first.take() {
                        Some(first) => self.deliver_newest(first),
                        None => Phase::Forward {
                            start: self.start,
                            end: self.end,
                            only_at: None,
                            then: Then::History,
                        },
                    };
                    return Ok(());
                }
                let Some(oldest) = oldest else {
                    // A full page of nothing but other streams' lines: nothing to page past.
                    return Err(same_timestamp(self.config.page_size));
                };
                if oldest == count.seen_ts {
                    // The whole page is at the instant it started from: no way past it.
                    return Err(same_timestamp(self.config.page_size));
                }
                count.first = None;
                count.seen_ts = oldest;
                count.seen = seen_next;
                count.end = oldest.saturating_add(1);
                self.phase = Phase::Count(count);
                Ok(())
            }
            Phase::Forward {
                start,
                end,
                mut only_at,
                then,
            } => {
                let page = match self
                    .page(start, end, self.config.page_size, Direction::Forward)
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        self.phase = Phase::Forward {
                            start,
                            end,
                            only_at,
                            then,
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
                    if self.cursor.take(&entry) && keeps(&self.request.filter, &entry) {
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
                            then,
                        };
                    }
                    _ => self.after_window(end, then),
                }
                Ok(())
            }
            Phase::Join => {
                let subscription = self.subscription.get_or_insert_with(|| {
                    self.feeds
                        .subscribe(&self.request.namespace, &self.request.name)
                });
                let position = subscription.join()?;
                // What lies between our cursor and the feed's position, we read ourselves.
                self.phase = if position.end > self.cursor.ts() {
                    Phase::Forward {
                        start: self.cursor.ts(),
                        end: position.end,
                        only_at: None,
                        then: Then::Live {
                            clean: position.clean,
                        },
                    }
                } else {
                    Phase::Live
                };
                Ok(())
            }
            Phase::Live => {
                let Some(subscription) = &self.subscription else {
                    self.phase = Phase::Join;
                    return Ok(());
                };
                match subscription.take()? {
                    Taken::Lines(batches) => {
                        let instance = self.request.instance.as_deref();
                        for batch in batches {
                            for entry in batch.iter() {
                                if instance.is_none_or(|i| &*entry.info.instance == i)
                                    && self.cursor.take(entry)
                                    && keeps(&self.request.filter, entry)
                                {
                                    self.ready.push_back(entry.clone());
                                }
                            }
                        }
                        self.phase = Phase::Live;
                    }
                    Taken::Nothing => {
                        subscription.changed().await;
                        self.phase = Phase::Live;
                    }
                    Taken::Lagged => {
                        tracing::debug!(query = %self.query, "Fell behind the namespace's reader; catching up.");
                        self.phase = Phase::Join;
                    }
                }
                self.failures = 0;
                Ok(())
            }
        }
    }
}

fn same_timestamp(page_size: usize) -> LokiError {
    LokiError::PageTooSmall(page_size)
}

fn backend_error(query: &str, e: LokiError) -> Error {
    Error::backend(format!("querying Loki for {query}"), e)
}
