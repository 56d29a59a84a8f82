//! The live part of every follow: one reader per namespace, shared by all of that namespace's
//! followers, whatever function, instance or client they follow.
//!
//! Loki's tail websocket drops lines under bursts and is limited per tenant
//! (`max_concurrent_tail_requests`, 10 by default), so it cannot carry a stream that promises
//! nothing skipped, and one socket per follower turns that limit into a retry storm. Instead a
//! [`Feed`] per followed namespace reads `{function=~".+",namespace="ns"}` with `query_range`,
//! forward from its own [`Cursor`], every `--loki-poll-interval`, up to `now -
//! --loki-follow-delay` (lines that reach Loki a little after their own timestamp are still in
//! time). Each answer is de-duplicated once, grouped by function, and handed to the queues of
//! that function's subscribers. Loki therefore sees one request per interval per followed
//! namespace (more only while a backlog is paged), however many functions and clients follow.
//!
//! A subscriber joins at the feed's [`Position`]: it reads its own history, then (itself,
//! with its own selector) whatever lies between its history and the position, then takes the
//! feed's batches; its own [`Cursor`] drops what it already has, so there is no gap and no
//! duplicate at the seam. Queues are bounded ([`queue_limit`]); a subscriber that falls further
//! behind (a slow client) loses its queue and is marked lagged, and catches up on its own from
//! its cursor the same way it joined. Others are never held up, and memory stays bounded:
//! batches are shared by the subscribers of one function.
//!
//! When the feed cannot read Loki (`--loki-retries` failures in a row, a 4xx, or no answer for
//! `--loki-stall-timeout`), it gives up: every subscriber ends with an error, which aborts its
//! response. A feed stops as soon as its last subscriber leaves.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use logs_api::Timestamp;
use tokio::sync::Notify;

use crate::backoff::backoff;
use crate::client::{Direction, Loki, LokiError};
use crate::config::{Config, Wakeup};
use crate::cursor::{Cursor, LineHasher};
use crate::pages::fetch_page;
use crate::wakeup::{Alarm, SAFETY_POLL};
use crate::wire::{Entry, Expect};

/// Every followed namespace's feed, created on the first subscription.
pub(crate) struct Feeds {
    loki: Arc<Loki>,
    config: Arc<Config>,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
}

/// Where a feed is: every line before `end` has been handed to the subscribers of the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// Exclusive end of what the feed has handed out.
    pub(crate) end: i64,
    /// Nothing at or after `end` has been handed out yet (the end of a whole window). When
    /// false, the feed is paging through a window and its last page ended at `end - 1`: lines
    /// at that instant may still come from the feed.
    pub(crate) clean: bool,
}

/// The shared reader of one namespace.
struct Feed {
    namespace: String,
    query: String,
    state: Mutex<State>,
    /// Wakes the reader when its last subscriber has left.
    idle: Notify,
}

struct State {
    position: Position,
    slots: HashMap<u64, Slot>,
    next_id: u64,
    /// Why the reader gave up; every subscriber ends with it.
    failed: Option<Arc<str>>,
}

/// One subscriber's queue.
struct Slot {
    function: String,
    batches: VecDeque<Arc<[Entry]>>,
    queued: usize,
    /// The queue overflowed (or the subscriber has not joined yet): nothing is queued until
    /// the subscriber joins again.
    lagged: bool,
    wake: Arc<Notify>,
}

/// What a subscriber finds in its queue.
pub(crate) enum Taken {
    /// Batches of its function's lines, oldest first (every instance).
    Lines(VecDeque<Arc<[Entry]>>),
    /// Nothing new yet.
    Nothing,
    /// The queue overflowed: catch up from the cursor and join again.
    Lagged,
}

/// Most lines a subscriber's queue holds before it is marked lagged: two full pages, so that
/// a burst of a whole page does not send every follower of a function to Loki on its own.
pub(crate) fn queue_limit(page_size: usize) -> usize {
    page_size.saturating_mul(2).max(1_000)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Feeds {
    pub(crate) fn new(loki: Arc<Loki>, config: Arc<Config>) -> Self {
        Feeds {
            loki,
            config,
            feeds: Mutex::new(HashMap::new()),
        }
    }

    /// Subscribes to `function`'s lines in `namespace`, starting the namespace's reader if it
    /// is not running. The subscription starts lagged: [`Subscription::join`] it.
    pub(crate) fn subscribe(self: &Arc<Self>, namespace: &str, function: &str) -> Subscription {
        let mut feeds = lock(&self.feeds);
        let feed = match feeds.get(namespace) {
            Some(feed) => feed.clone(),
            None => {
                let start = Timestamp::now()
                    .unix_nanos()
                    .saturating_sub(nanos(self.config.follow_delay));
                let query = crate::query::namespace_selector(&self.config.labels, namespace);
                let feed = Arc::new(Feed::new(namespace, query, start));
                feeds.insert(namespace.to_owned(), feed.clone());
                tracing::debug!(query = %feed.query, "Following a namespace.");
                tokio::spawn(read(self.clone(), feed.clone(), start));
                feed
            }
        };
        // Under the map's lock, so that the reader cannot retire in between.
        feed.subscribe(function)
    }

    /// Stops `feed` if nobody subscribes to it any more; returns whether it stopped.
    fn retire_if_unused(&self, feed: &Arc<Feed>) -> bool {
        let mut feeds = lock(&self.feeds);
        if !lock(&feed.state).slots.is_empty() {
            return false;
        }
        if feeds
            .get(&feed.namespace)
            .is_some_and(|f| Arc::ptr_eq(f, feed))
        {
            feeds.remove(&feed.namespace);
        }
        tracing::debug!(query = %feed.query, "Nobody follows the namespace any more.");
        true
    }

    /// The reader of `feed` gave up: no new subscriber joins it, and every subscriber ends.
    fn fail(&self, feed: &Arc<Feed>, error: &LokiError) {
        let mut feeds = lock(&self.feeds);
        if feeds
            .get(&feed.namespace)
            .is_some_and(|f| Arc::ptr_eq(f, feed))
        {
            feeds.remove(&feed.namespace);
        }
        feed.fail(error);
    }
}

/// One follower's place in its namespace's feed. Dropping it leaves the feed.
pub(crate) struct Subscription {
    feed: Arc<Feed>,
    id: u64,
    wake: Arc<Notify>,
}

impl Subscription {
    /// Starts (or restarts, after lagging) taking the feed's lines: empties the queue and
    /// returns the feed's position. The subscriber must itself read every line of its
    /// function from its cursor up to the position; everything after comes through the queue.
    pub(crate) fn join(&self) -> Result<Position, LokiError> {
        let mut state = lock(&self.feed.state);
        if let Some(why) = &state.failed {
            return Err(LokiError::Feed(why.clone()));
        }
        let position = state.position;
        if let Some(slot) = state.slots.get_mut(&self.id) {
            slot.batches.clear();
            slot.queued = 0;
            slot.lagged = false;
        }
        Ok(position)
    }

    /// Everything queued so far.
    pub(crate) fn take(&self) -> Result<Taken, LokiError> {
        let mut state = lock(&self.feed.state);
        if let Some(why) = &state.failed {
            return Err(LokiError::Feed(why.clone()));
        }
        let Some(slot) = state.slots.get_mut(&self.id) else {
            return Ok(Taken::Lagged);
        };
        if slot.lagged {
            return Ok(Taken::Lagged);
        }
        if slot.batches.is_empty() {
            return Ok(Taken::Nothing);
        }
        slot.queued = 0;
        Ok(Taken::Lines(std::mem::take(&mut slot.batches)))
    }

    /// Waits until something was queued (or the feed failed) since the last
    /// [`Subscription::take`] that found nothing.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = lock(&self.feed.state);
        state.slots.remove(&self.id);
        if state.slots.is_empty() {
            self.feed.idle.notify_one();
        }
    }
}

impl Feed {
    fn new(namespace: &str, query: String, start: i64) -> Self {
        Feed {
            namespace: namespace.to_owned(),
            query,
            state: Mutex::new(State {
                position: Position {
                    end: start,
                    clean: true,
                },
                slots: HashMap::new(),
                next_id: 0,
                failed: None,
            }),
            idle: Notify::new(),
        }
    }

    /// A new subscriber of `function`'s lines, lagged until it joins.
    fn subscribe(self: &Arc<Self>, function: &str) -> Subscription {
        let wake = Arc::new(Notify::new());
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.slots.insert(
            id,
            Slot {
                function: function.to_owned(),
                batches: VecDeque::new(),
                queued: 0,
                lagged: true,
                wake: wake.clone(),
            },
        );
        Subscription {
            feed: self.clone(),
            id,
            wake,
        }
    }

    /// The reader gave up: every subscriber ends with `error`.
    fn fail(&self, error: &LokiError) {
        let mut state = lock(&self.state);
        state.failed = Some(Arc::from(error.to_string()));
        for slot in state.slots.values() {
            slot.wake.notify_one();
        }
    }

    /// Hands the new lines of one answer to the subscribers and moves the position.
    fn publish(&self, entries: Vec<Entry>, position: Position, limit: usize) {
        let mut by_function: HashMap<String, Vec<Entry>> = HashMap::new();
        for entry in entries {
            let Some(function) = entry.info.function.clone() else {
                continue; // the decoder keeps only lines with a function label
            };
            by_function.entry(function).or_default().push(entry);
        }
        let batches: HashMap<String, Arc<[Entry]>> = by_function
            .into_iter()
            .map(|(function, entries)| (function, Arc::from(entries)))
            .collect();
        let mut state = lock(&self.state);
        for slot in state.slots.values_mut() {
            if slot.lagged {
                continue;
            }
            let Some(batch) = batches.get(&slot.function) else {
                continue;
            };
            if slot.queued + batch.len() > limit {
                // A slow follower: it catches up from its own cursor when it reads again.
                slot.lagged = true;
                slot.batches.clear();
                slot.queued = 0;
            } else {
                slot.batches.push_back(batch.clone());
                slot.queued += batch.len();
            }
            slot.wake.notify_one();
        }
        state.position = position;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the reader does before its next read.
enum Wait {
    /// Read at once (the last page was full).
    None,
    /// The regular pause: `--loki-poll-interval`, or with a tail wake-up until the tail
    /// signals lines (not before `--loki-poll-interval` after the last read).
    Regular,
    /// After a failure: exactly this long.
    Backoff(std::time::Duration),
}

/// The reader of one feed: polls Loki from its cursor until nobody subscribes or it gives up.
async fn read(feeds: Arc<Feeds>, feed: Arc<Feed>, start: i64) {
    let config = feeds.config.clone();
    let delay = nanos(config.follow_delay);
    let limit = queue_limit(config.page_size);
    let expect = Expect {
        labels: &config.labels,
        name: None,
        namespace: &feed.namespace,
        instance: None,
    };
    let alarm = (config.follow_wakeup == Wakeup::Tail).then(|| Arc::new(Alarm::default()));
    let _tail = alarm.as_ref().map(|alarm| {
        AbortOnDrop(tokio::spawn(crate::wakeup::run(
            feeds.loki.clone(),
            config.clone(),
            feed.namespace.clone(),
            feed.query.clone(),
            alarm.clone(),
        )))
    });
    let mut cursor = Cursor::at(start, LineHasher::default());
    let mut failures = 0u32;
    let mut last_answer = Instant::now();
    let mut last_read = tokio::time::Instant::now();
    let mut wait = Wait::Regular;
    loop {
        match std::mem::replace(&mut wait, Wait::Regular) {
            Wait::None => {}
            Wait::Backoff(pause) => {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = feed.idle.notified() => {}
                }
            }
            Wait::Regular => pause(&feed, &config, alarm.as_deref(), last_read).await,
        }
        if feeds.retire_if_unused(&feed) {
            return;
        }
        let end = Timestamp::now().unix_nanos().saturating_sub(delay);
        let from = cursor.ts();
        if end <= from {
            continue;
        }
        if let Some(alarm) = &alarm {
            alarm.clear();
        }
        last_read = tokio::time::Instant::now();
        // No answer for --loki-stall-timeout in all: the live part cannot be made whole.
        let budget = config.stall_timeout.saturating_sub(last_answer.elapsed());
        let attempt = tokio::time::timeout(
            budget,
            fetch_page(
                &feeds.loki,
                &feed.query,
                expect,
                from,
                end,
                config.page_size,
                Direction::Forward,
            ),
        );
        let answer = tokio::select! {
            answer = attempt => answer.unwrap_or(Err(LokiError::Stalled(config.stall_timeout))),
            () = feed.idle.notified() => {
                // Everyone left during the request: stop, or (someone came back) ask again.
                wait = Wait::None;
                continue;
            }
        };
        let page = match answer {
            Ok(page) => page,
            Err(e) => {
                failures += 1;
                let stalled = last_answer.elapsed() >= config.stall_timeout;
                if !e.is_transient() || failures > config.retries || stalled {
                    tracing::error!(query = %feed.query, failures, error = %e, "Loki failed; ending every follow of the namespace.");
                    feeds.fail(&feed, &e);
                    return;
                }
                let pause = backoff(failures)
                    .min(config.stall_timeout.saturating_sub(last_answer.elapsed()));
                tracing::warn!(query = %feed.query, error = %e, wait = ?pause, "Loki failed; retrying.");
                wait = Wait::Backoff(pause);
                continue;
            }
        };
        failures = 0;
        last_answer = Instant::now();
        let last = page.entries.last().map(|e| e.ts);
        let full = page.full;
        let fresh: Vec<Entry> = page
            .entries
            .into_iter()
            .filter(|e| cursor.take(e))
            .collect();
        let position = match last {
            Some(last) if full => {
                if last == from {
                    let e = LokiError::PageTooSmall(config.page_size);
                    tracing::error!(query = %feed.query, error = %e, "Ending every follow of the namespace.");
                    feeds.fail(&feed, &e);
                    return;
                }
                // More in this window: the next page starts at `last`, at once.
                wait = Wait::None;
                Position {
                    end: last.saturating_add(1),
                    clean: false,
                }
            }
            _ => {
                cursor.raise_floor(end);
                Position { end, clean: true }
            }
        };
        feed.publish(fresh, position, limit);
    }
}

/// The regular pause between reads; ends early when the last subscriber leaves.
async fn pause(
    feed: &Feed,
    config: &Config,
    alarm: Option<&Alarm>,
    last_read: tokio::time::Instant,
) {
    let Some(alarm) = alarm else {
        tokio::select! {
            () = tokio::time::sleep(config.poll_interval) => {}
            () = feed.idle.notified() => {}
        }
        return;
    };
    // With a tail: read when it signals lines, but at most once per --loki-poll-interval, and
    // every SAFETY_POLL anyway (every --loki-poll-interval while there is no tail).
    let earliest = last_read + config.poll_interval;
    let regular = if alarm.is_up() {
        last_read + SAFETY_POLL
    } else {
        earliest
    };
    loop {
        let target = alarm
            .due()
            .map_or(regular, |due| due.max(earliest).min(regular));
        tokio::select! {
            () = tokio::time::sleep_until(target) => return,
            () = feed.idle.notified() => return,
            () = alarm.changed() => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::StreamInfo;

    fn entry(function: &str, instance: &str, ts: i64) -> Entry {
        Entry {
            ts,
            line: format!("{function} {ts}"),
            info: Arc::new(StreamInfo {
                key: Arc::from(format!("{function}/{instance}")),
                function: Some(function.to_owned()),
                namespace: Some("ns".to_owned()),
                instance: Arc::from(instance),
                level: None,
                stream: None,
            }),
        }
    }

    fn feed() -> Arc<Feed> {
        Arc::new(Feed::new("ns", String::new(), 100))
    }

    fn clean(end: i64) -> Position {
        Position { end, clean: true }
    }

    fn lines(taken: Taken) -> Vec<String> {
        match taken {
            Taken::Lines(batches) => batches
                .iter()
                .flat_map(|b| b.iter().map(|e| e.line.clone()))
                .collect(),
            Taken::Nothing => panic!("nothing"),
            Taken::Lagged => panic!("lagged"),
        }
    }

    #[test]
    fn lines_reach_their_functions_subscribers_once_joined() {
        let feed = feed();
        let a = feed.subscribe("a");
        let b = feed.subscribe("b");
        // Not joined yet: nothing is queued, the subscriber catches up itself.
        feed.publish(vec![entry("a", "p", 150)], clean(200), 10);
        assert!(matches!(a.take(), Ok(Taken::Lagged)));
        assert_eq!(a.join().ok(), Some(clean(200)));
        assert_eq!(b.join().ok(), Some(clean(200)));
        assert!(matches!(a.take(), Ok(Taken::Nothing)));
        feed.publish(
            vec![
                entry("a", "p", 210),
                entry("b", "q", 220),
                entry("a", "q", 230),
            ],
            Position {
                end: 231,
                clean: false,
            },
            10,
        );
        assert_eq!(lines(a.take().unwrap()), ["a 210", "a 230"]);
        assert_eq!(lines(b.take().unwrap()), ["b 220"]);
        assert!(matches!(a.take(), Ok(Taken::Nothing)));
        // A subscriber joining mid-window learns that lines at the last instant may follow.
        let late = feed.subscribe("a");
        assert_eq!(
            late.join().ok(),
            Some(Position {
                end: 231,
                clean: false
            })
        );
    }

    #[test]
    fn an_overflowing_queue_lags_the_subscriber_and_frees_it_until_it_joins_again() {
        let feed = feed();
        let slow = feed.subscribe("a");
        let fast = feed.subscribe("a");
        slow.join().unwrap();
        fast.join().unwrap();
        feed.publish(
            (0..6).map(|i| entry("a", "p", 200 + i)).collect(),
            clean(300),
            10,
        );
        assert_eq!(lines(fast.take().unwrap()).len(), 6);
        // The slow one has 6 queued; 6 more overflow its 10: it is dropped to nothing.
        feed.publish(
            (0..6).map(|i| entry("a", "p", 300 + i)).collect(),
            clean(400),
            10,
        );
        assert_eq!(lines(fast.take().unwrap()).len(), 6);
        assert!(matches!(slow.take(), Ok(Taken::Lagged)));
        {
            let state = lock(&feed.state);
            assert!(
                state
                    .slots
                    .values()
                    .all(|s| s.queued == 0 && s.batches.is_empty())
            );
        }
        // Still lagged, nothing queued, until it joins at the current position.
        feed.publish(vec![entry("a", "p", 450)], clean(500), 10);
        assert!(matches!(slow.take(), Ok(Taken::Lagged)));
        assert_eq!(slow.join().ok(), Some(clean(500)));
        feed.publish(vec![entry("a", "p", 550)], clean(600), 10);
        assert_eq!(lines(slow.take().unwrap()), ["a 550"]);
    }

    #[tokio::test]
    async fn a_failed_feed_ends_every_subscriber_and_the_last_one_out_wakes_the_reader() {
        let feed = feed();
        let a = feed.subscribe("a");
        let b = feed.subscribe("b");
        a.join().unwrap();
        feed.fail(&LokiError::Stalled(std::time::Duration::from_secs(3)));
        for s in [&a, &b] {
            let e = s.take().map(|_| ()).unwrap_err();
            assert!(e.to_string().contains("no answer from Loki for 3s"), "{e}");
            assert!(s.join().is_err());
        }
        drop(a);
        assert_eq!(lock(&feed.state).slots.len(), 1);
        drop(b);
        assert!(lock(&feed.state).slots.is_empty());
        // The permit is stored: the reader's next wait returns at once.
        let woke =
            tokio::time::timeout(std::time::Duration::from_millis(100), feed.idle.notified()).await;
        assert!(woke.is_ok());
    }

    #[test]
    fn queues_hold_at_least_two_pages() {
        assert_eq!(queue_limit(5_000), 10_000);
        assert_eq!(queue_limit(10), 1_000);
    }
}
