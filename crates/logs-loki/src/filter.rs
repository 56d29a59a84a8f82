//! The request's filter applied by the provider itself to the lines Loki returns, whatever
//! Loki was asked to do ([`crate::query::Plan`]): Loki's part only narrows what is moved, this
//! decides, so the answer is exactly `logs_api::Filter::matches` on the messages.

use logs_api::level::{Severity, detect};
use logs_api::{Filter, trim_line_end};

use crate::wire::Entry;

/// Whether the message `entry` becomes passes `filter`: the same rule as
/// [`Filter::matches`] on that message (its text without the line end, its `stream`, and its
/// level: the `detected_level` (or `level`) label when `Severity::parse` knows it, else the
/// level its text states, else `info`), without building the message first.
pub(crate) fn keeps(filter: &Filter, entry: &Entry) -> bool {
    if filter.is_empty() {
        return true;
    }
    let text = trim_line_end(&entry.line);
    filter.wants_stream(entry.info.stream)
        && filter.wants_text(text)
        && (filter.level.is_none() || filter.wants_severity(severity(entry, text)))
}

fn severity(entry: &Entry, text: &str) -> Severity {
    entry
        .info
        .level
        .as_deref()
        .and_then(Severity::parse)
        .or_else(|| detect(text))
        .unwrap_or(Severity::Info)
}
