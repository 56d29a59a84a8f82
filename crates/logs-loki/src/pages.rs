//! One `query_range` page, decoded, checked and merged across Loki's streams.

use crate::client::{Direction, Loki, LokiError};
use crate::wire::{Decoded, Entry, Expect, decode_query_range};

/// A page of lines in the query's direction.
pub(crate) struct Page {
    pub(crate) entries: Vec<Entry>,
    /// Loki returned as many lines as asked: there may be more.
    pub(crate) full: bool,
}

/// `query_range` for `query` over `[start, end)`, at most `limit` lines; lines of streams
/// `expect` does not allow are dropped (and logged).
pub(crate) async fn fetch_page(
    loki: &Loki,
    query: &str,
    expect: Expect<'_>,
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
    let Decoded {
        mut entries,
        foreign,
        ..
    } = decode_query_range(&body, expect)?;
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
