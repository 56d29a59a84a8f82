//! `--loki-follow-wakeup tail`: a Loki tail websocket on a followed namespace, used only to
//! learn that new lines exist, so that the namespace's reader asks `query_range` for them as
//! soon as they are readable instead of on its next poll.
//!
//! Nothing the tail carries is delivered (Loki's tail drops lines under bursts; the reader's
//! `query_range` delivers every line). A frame with lines schedules a read at the newest line's
//! timestamp plus `--loki-follow-delay`. Loki pings a tail every second, so a socket silent for
//! [`SILENT_FOR`] has stalled and is replaced. A refused tail (Loki's
//! `max_concurrent_tail_requests`), a failed or quiet one is retried with a growing, jittered
//! wait (100 ms to 5 s); meanwhile the reader polls every `--loki-poll-interval`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use logs_api::Timestamp;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::backoff::backoff;
use crate::client::Loki;
use crate::config::Config;
use crate::wire::{Expect, decode_tail_frame};

/// Loki pings every second (`wsPingPeriod`); this long without anything, the tail is stalled.
pub(crate) const SILENT_FOR: Duration = Duration::from_secs(5);
/// How often the reader polls anyway while the tail is up: lines of a push the tail dropped
/// whole are read at most this late.
pub(crate) const SAFETY_POLL: Duration = Duration::from_secs(5);
/// A tail that lived this long ended normally (Loki's `tail_max_duration`), even without lines.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// Most reads kept due; dropping the oldest only delays a read to a later one, which covers it.
const MAX_DUE: usize = 1_024;

/// When the reader should read next, as the tail says.
#[derive(Default)]
pub(crate) struct Alarm {
    /// When signalled lines not read yet become readable (the oldest and the newest line of
    /// each frame), in order.
    due: Mutex<VecDeque<Instant>>,
    changed: Notify,
    up: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alarm {
    /// Whether a tail is open and alive: the reader then polls only every [`SAFETY_POLL`].
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The earliest read a tail frame asked for.
    pub(crate) fn due(&self) -> Option<Instant> {
        lock(&self.due).front().copied()
    }

    /// A read is about to happen now: it covers the lines readable by now. Lines signalled
    /// that become readable later stay due.
    pub(crate) fn clear(&self) {
        let now = Instant::now();
        let mut due = lock(&self.due);
        while due.front().is_some_and(|d| *d <= now) {
            due.pop_front();
        }
    }

    /// Resolves when a frame changed [`Alarm::due`].
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A line at `ts` (Unix ns) exists; it is readable `delay` after it (the reader reads up
    /// to `now - delay`, exclusive).
    fn ring(&self, ts: i64, delay: Duration) {
        let readable = ts
            .saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX))
            .saturating_add(1_000_000);
        let wait = readable
            .saturating_sub(Timestamp::now().unix_nanos())
            .max(0);
        let at = Instant::now() + Duration::from_nanos(u64::try_from(wait).unwrap_or(0));
        let mut due = lock(&self.due);
        // Frames come in time order, so this is nearly always a push at the back.
        let i = due.partition_point(|d| *d <= at);
        if due.get(i.wrapping_sub(1)) != Some(&at) {
            due.insert(i, at);
        }
        // A reader slower than Loki's frames must not let this grow: keep the newest.
        while due.len() > MAX_DUE {
            due.pop_front();
        }
        self.changed.notify_one();
    }
}

/// Keeps a tail open on `query` (the namespace's selector) and rings `alarm` for its lines,
/// until aborted (the reader stops it when it stops).
pub(crate) async fn run(
    loki: Arc<Loki>,
    config: Arc<Config>,
    namespace: String,
    query: String,
    alarm: Arc<Alarm>,
) {
    let expect = Expect {
        labels: &config.labels,
        name: None,
        namespace: &namespace,
        instance: None,
    };
    let mut failures = 0u32;
    loop {
        let opened = std::time::Instant::now();
        let mut lines = false;
        let mut stalled = false;
        let start = Timestamp::now().unix_nanos();
        match loki.tail(&query, start, 1, 0).await {
            Ok(mut socket) => loop {
                match tokio::time::timeout(SILENT_FOR, socket.next()).await {
                    Err(_) => {
                        tracing::warn!(%query, "The Loki tail went quiet; replacing it.");
                        stalled = true;
                        break;
                    }
                    Ok(Some(Ok(WsMessage::Text(text)))) => {
                        alarm.up.store(true, Ordering::Relaxed);
                        match decode_tail_frame(text.as_str(), expect) {
                            Ok(frame) => {
                                let times = frame.entries.iter().map(|e| e.ts);
                                if let (Some(oldest), Some(newest)) =
                                    (times.clone().min(), times.max())
                                {
                                    lines = true;
                                    alarm.ring(oldest, config.follow_delay);
                                    alarm.ring(newest, config.follow_delay);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(%query, error = %e, "Unreadable Loki tail frame.");
                            }
                        }
                    }
                    Ok(Some(Ok(WsMessage::Close(close)))) => {
                        let reason = close.map(|c| c.reason.to_string()).unwrap_or_default();
                        tracing::debug!(%query, %reason, "Loki closed the tail.");
                        break;
                    }
                    // Pings (tungstenite answers them) prove the socket alive.
                    Ok(Some(Ok(_))) => alarm.up.store(true, Ordering::Relaxed),
                    Ok(Some(Err(e))) => {
                        tracing::debug!(%query, error = %e, "The Loki tail broke.");
                        break;
                    }
                    Ok(None) => break,
                }
            },
            Err(e) => tracing::debug!(%query, error = %e, "Loki refused the tail."),
        }
        alarm.up.store(false, Ordering::Relaxed);
        // A refusal closes at once with no lines; a quiet socket is broken too. Either way
        // the next attempt waits longer (the reader polls meanwhile).
        if stalled || (!lines && opened.elapsed() < HEALTHY_AFTER) {
            failures = failures.saturating_add(1);
        } else {
            failures = 0;
        }
        let wait = backoff(failures.max(1));
        if failures > 0 {
            tracing::debug!(%query, failures, ?wait, "Opening the Loki tail again later.");
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_before_a_line_is_readable_leaves_it_due() {
        let alarm = Alarm::default();
        let now = Timestamp::now().unix_nanos();
        let delay = Duration::from_secs(1);
        // One line readable already, one only in 1.5 s.
        alarm.ring(now - 2_000_000_000, delay);
        alarm.ring(now + 500_000_000, delay);
        let first = alarm.due().unwrap_or_else(|| panic!("due"));
        assert!(first <= Instant::now());
        // A read now covers the first line only: the second is still due, later.
        alarm.clear();
        assert_eq!(lock(&alarm.due).len(), 1);
        let still = alarm.due().unwrap_or_else(|| panic!("still due"));
        assert!(
            still > Instant::now() + Duration::from_millis(1_000),
            "{still:?}"
        );
        // A read once every signalled line is readable covers them all.
        tokio::time::sleep_until(still).await;
        alarm.clear();
        assert_eq!(alarm.due(), None);
    }
}
