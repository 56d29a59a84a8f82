//! The server-side filters of a log request (`level`, `stream`, `grep`, `regexp`) and the helpers
//! a backend uses to honour them when it cannot push them down to where the logs live.
//!
//! Filters apply **before** `tail` (`tail=N` is the last N messages that match) and also while
//! following. Each backend applies them itself, because only it knows how to tail efficiently;
//! what it can honour it declares in [`Capabilities`](crate::Capabilities), and the handler
//! refuses (`422`) a filter the backend did not declare.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;

use crate::level::{Severity, severity_of};
use crate::message::{LogStream, Message, OutputStream};

/// The longest `regexp` pattern accepted, in bytes.
pub const REGEXP_MAX_LEN: usize = 1024;
/// The compiled program size limit of a `regexp` (the `regex` crate's `size_limit`).
pub const REGEXP_SIZE_LIMIT: usize = 1 << 20;
/// The lazy DFA cache limit of a `regexp` (the `regex` crate's `dfa_size_limit`).
pub const REGEXP_DFA_SIZE_LIMIT: usize = 2 << 20;

/// Which optional request features a backend honours. The handler answers `422` naming the
/// parameter when a request uses one its backend did not declare, rather than an unfiltered
/// (or silently empty) answer.
///
/// The default declares nothing: a backend opts in to each filter once it implements it.
/// Construct with struct update syntax (`Capabilities { level: true, ..Default::default() }`)
/// so fields added later default to `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `level=`: the backend keeps only messages at that severity or worse, before `tail`
    /// and while following.
    pub level: bool,
    /// `stream=`: the backend knows each message's output stream and keeps only the one asked
    /// for.
    pub stream: bool,
    /// `grep=` and `regexp=`: the backend keeps only messages whose text matches.
    pub text: bool,
}

impl Capabilities {
    /// Every filter.
    pub const ALL: Capabilities = Capabilities {
        level: true,
        stream: true,
        text: true,
    };
}

/// What a request keeps of a function's messages. Every part is optional; an empty filter
/// keeps everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `level=`: only messages at this severity or worse (see [`Filter::wants_severity`]).
    pub level: Option<Severity>,
    /// `stream=`: only messages from this output stream. A message whose stream is not known
    /// does not pass.
    pub stream: Option<OutputStream>,
    /// `grep=`: only messages whose text contains this (case-sensitive); never empty.
    pub grep: Option<String>,
    /// `regexp=`: only messages whose text matches this (anywhere in the text; `(?i)` makes it
    /// case-insensitive). Built by [`Filter::compile_regexp`], so its time and memory are bounded.
    pub regexp: Option<regex::Regex>,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.level == other.level
            && self.stream == other.stream
            && self.grep == other.grep
            && self.regexp.as_ref().map(regex::Regex::as_str)
                == other.regexp.as_ref().map(regex::Regex::as_str)
    }
}

impl Eq for Filter {}

impl Filter {
    /// Whether the filter keeps every message.
    pub fn is_empty(&self) -> bool {
        self.level.is_none() && self.stream.is_none() && !self.has_text()
    }

    /// Whether it has a text filter (`grep` or `regexp`).
    pub fn has_text(&self) -> bool {
        self.grep.is_some() || self.regexp.is_some()
    }

    /// Compiles a `regexp=` value with the `regex` crate's syntax under bounded size
    /// ([`REGEXP_MAX_LEN`], [`REGEXP_SIZE_LIMIT`], [`REGEXP_DFA_SIZE_LIMIT`]). The `regex` crate
    /// matches in time linear in the text, so no pattern can take unbounded time either.
    ///
    /// # Errors
    ///
    /// Why the pattern is refused: too long, invalid, or too large once compiled.
    pub fn compile_regexp(pattern: &str) -> Result<regex::Regex, String> {
        if pattern.len() > REGEXP_MAX_LEN {
            return Err(format!(
                "is longer than {REGEXP_MAX_LEN} bytes ({} bytes)",
                pattern.len()
            ));
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(REGEXP_SIZE_LIMIT)
            .dfa_size_limit(REGEXP_DFA_SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("is too large once compiled (limit {limit} bytes)")
                }
                other => format!("is not a valid regular expression: {other}"),
            })
    }

    /// The first query parameter of this filter that a backend with `capabilities` cannot
    /// honour, if any.
    pub fn unsupported(&self, capabilities: Capabilities) -> Option<&'static str> {
        if self.level.is_some() && !capabilities.level {
            Some("level")
        } else if self.stream.is_some() && !capabilities.stream {
            Some("stream")
        } else if self.grep.is_some() && !capabilities.text {
            Some("grep")
        } else if self.regexp.is_some() && !capabilities.text {
            Some("regexp")
        } else {
            None
        }
    }

    /// Whether a message of `severity` passes `level`: it is that level or worse.
    pub fn wants_severity(&self, severity: Severity) -> bool {
        self.level
            .is_none_or(|threshold| severity.at_least(threshold))
    }

    /// Whether a message from `stream` (`None`: not known) passes `stream`.
    pub fn wants_stream(&self, stream: Option<OutputStream>) -> bool {
        self.stream.is_none_or(|want| stream == Some(want))
    }

    /// Whether `text` passes `grep` and `regexp`.
    pub fn wants_text(&self, text: &str) -> bool {
        self.grep.as_deref().is_none_or(|g| text.contains(g))
            && self.regexp.as_ref().is_none_or(|r| r.is_match(text))
    }

    /// Whether `message` passes, its severity told by [`severity_of`] (its `level` field, else
    /// the level its text states, else `info`).
    pub fn matches(&self, message: &Message) -> bool {
        self.matches_with(message, severity_of)
    }

    /// Whether `message` passes, its severity told by `severity`, which runs only when `level`
    /// is set. For backends with a native level and their own rule for messages without one
    /// (journald counts an entry without `PRIORITY` as `info`).
    pub fn matches_with(
        &self,
        message: &Message,
        severity: impl FnOnce(&Message) -> Severity,
    ) -> bool {
        self.wants_stream(message.stream)
            && self.wants_text(&message.text)
            && (self.level.is_none() || self.wants_severity(severity(message)))
    }
}

/// The last `tail` items pushed into it (all of them when `tail` is `None`), oldest first: a
/// ring buffer for "the last N that match" over a history the backend cannot filter itself.
///
/// It grows only as items arrive, so a huge `tail` costs nothing up front.
#[derive(Debug)]
pub struct TailBuffer<T> {
    tail: Option<usize>,
    items: VecDeque<T>,
}

impl<T> TailBuffer<T> {
    /// An empty buffer keeping the last `tail` items (`None`: all).
    pub fn new(tail: Option<usize>) -> Self {
        TailBuffer {
            tail,
            items: VecDeque::new(),
        }
    }

    /// Adds `item` as the newest, dropping the oldest beyond `tail`.
    pub fn push(&mut self, item: T) {
        if self.tail == Some(0) {
            return;
        }
        if self.tail.is_some_and(|n| self.items.len() >= n) {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Its items, oldest first.
    pub fn into_vec(self) -> Vec<T> {
        self.items.into()
    }
}

/// Keeps only the messages of `stream` that pass `filter` (with [`Filter::matches`]); errors
/// pass through. For live messages, or for a history without `tail`.
pub fn filter_stream(stream: LogStream, filter: Arc<Filter>) -> LogStream {
    if filter.is_empty() {
        return stream;
    }
    stream
        .filter(move |item| {
            let keep = item.as_ref().map_or(true, |m| filter.matches(m));
            futures::future::ready(keep)
        })
        .boxed()
}

/// The last `tail` messages of a finite, time-ordered `history` that pass `filter`, for
/// backends that cannot push the filter down: the history is read to its end through a
/// [`TailBuffer`] (so memory holds at most `tail` messages), then the kept messages follow. An
/// error in the history ends the answer with that error. Without `tail` nothing is buffered.
pub fn last_matching(history: LogStream, filter: Arc<Filter>, tail: Option<usize>) -> LogStream {
    let Some(n) = tail else {
        return filter_stream(history, filter);
    };
    futures::stream::once(async move {
        let mut history = history;
        let mut kept = TailBuffer::new(Some(n));
        let mut failed = None;
        while let Some(item) = history.next().await {
            match item {
                Ok(m) if filter.matches(&m) => kept.push(m),
                Ok(_) => {}
                Err(e) => {
                    failed = Some(Err(e));
                    break;
                }
            }
        }
        futures::stream::iter(kept.into_vec().into_iter().map(Ok).chain(failed))
    })
    .flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::time::Timestamp;

    fn msg(text: &str, stream: Option<OutputStream>) -> Message {
        Message {
            name: "f".into(),
            namespace: "ns".into(),
            instance: "i".into(),
            timestamp: Timestamp::UNKNOWN,
            text: text.to_owned(),
            stream,
            level: None,
            source: None,
        }
    }

    #[test]
    fn each_part_filters() {
        let err = msg("ERROR boom", Some(OutputStream::Stderr));
        let info = msg("INFO fine", Some(OutputStream::Stdout));
        let unknown = msg("no level", None);
        let f = Filter {
            level: Some(Severity::Warning),
            ..Filter::default()
        };
        assert!(f.matches(&err) && !f.matches(&info) && !f.matches(&unknown));
        let f = Filter {
            level: Some(Severity::Info),
            ..Filter::default()
        };
        assert!(f.matches(&err) && f.matches(&info) && f.matches(&unknown));
        let f = Filter {
            stream: Some(OutputStream::Stdout),
            ..Filter::default()
        };
        assert!(!f.matches(&err) && f.matches(&info) && !f.matches(&unknown));
        let f = Filter {
            grep: Some("boom".into()),
            ..Filter::default()
        };
        assert!(f.matches(&err) && !f.matches(&info));
        let f = Filter {
            grep: Some("BOOM".into()),
            ..Filter::default()
        };
        assert!(!f.matches(&err), "grep is case-sensitive");
        let f = Filter {
            regexp: Filter::compile_regexp("(?i)^info").ok(),
            ..Filter::default()
        };
        assert!(!f.matches(&err) && f.matches(&info));
        assert!(Filter::default().is_empty());
        assert!(!f.is_empty() && f.has_text());
    }

    #[test]
    fn a_custom_severity_rule_runs_only_for_level() {
        let m = msg("ERROR boom", None);
        let f = Filter::default();
        assert!(f.matches_with(&m, |_| panic!("no level filter, no severity")));
        let f = Filter {
            level: Some(Severity::Error),
            ..Filter::default()
        };
        assert!(!f.matches_with(&m, |_| Severity::Info));
    }

    #[test]
    fn regexps_are_bounded() {
        let refused = |p: &str| match Filter::compile_regexp(p) {
            Ok(r) => panic!("{p:?} compiled to {r:?}"),
            Err(e) => e,
        };
        assert!(Filter::compile_regexp("a+b*").is_ok());
        let e = refused("(");
        assert!(e.contains("not a valid regular expression"), "{e}");
        let e = refused(&"a".repeat(REGEXP_MAX_LEN + 1));
        assert!(e.contains("longer than"), "{e}");
        // Tiny to write, enormous to compile.
        let e = refused(r"\w{1000}{1000}");
        assert!(e.contains("too large"), "{e}");
        let e = refused(r"(?:\pL{100}){100}");
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn equality_compares_regexp_patterns() {
        let a = Filter {
            regexp: Filter::compile_regexp("x+").ok(),
            ..Filter::default()
        };
        assert_eq!(a, a.clone());
        let b = Filter {
            regexp: Filter::compile_regexp("x*").ok(),
            ..Filter::default()
        };
        assert_ne!(a, b);
    }

    #[test]
    fn unsupported_names_the_parameter() {
        let f = Filter {
            stream: Some(OutputStream::Stdout),
            grep: Some("x".into()),
            ..Filter::default()
        };
        assert_eq!(f.unsupported(Capabilities::default()), Some("stream"));
        let caps = Capabilities {
            stream: true,
            ..Capabilities::default()
        };
        assert_eq!(f.unsupported(caps), Some("grep"));
        assert_eq!(f.unsupported(Capabilities::ALL), None);
        assert_eq!(Filter::default().unsupported(Capabilities::default()), None);
    }

    #[test]
    fn tail_buffer_keeps_the_last_n() {
        let mut b = TailBuffer::new(Some(2));
        for i in 0..5 {
            b.push(i);
        }
        assert_eq!(b.len(), 2);
        assert_eq!(b.into_vec(), [3, 4]);
        let mut all = TailBuffer::new(None);
        (0..3).for_each(|i| all.push(i));
        assert_eq!(all.into_vec(), [0, 1, 2]);
        let mut none = TailBuffer::new(Some(0));
        none.push(1);
        assert!(none.is_empty());
        // A huge tail allocates nothing up front.
        let huge = TailBuffer::<u8>::new(Some(usize::MAX));
        assert!(huge.is_empty());
    }

    fn history(items: Vec<crate::Result<Message>>) -> LogStream {
        futures::stream::iter(items).boxed()
    }

    async fn texts(s: LogStream) -> Vec<Result<String, String>> {
        s.map(|m| m.map(|m| m.text).map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn last_matching_counts_only_matches() {
        let filter = Arc::new(Filter {
            level: Some(Severity::Error),
            ..Filter::default()
        });
        let items = || {
            vec![
                Ok(msg("ERROR a", None)),
                Ok(msg("INFO b", None)),
                Ok(msg("ERROR c", None)),
                Ok(msg("INFO d", None)),
            ]
        };
        assert_eq!(
            texts(last_matching(history(items()), filter.clone(), Some(1))).await,
            [Ok("ERROR c".to_owned())]
        );
        assert_eq!(
            texts(last_matching(history(items()), filter.clone(), None)).await,
            [Ok("ERROR a".to_owned()), Ok("ERROR c".to_owned())]
        );
        let failing = vec![
            Ok(msg("ERROR a", None)),
            Err(Error::backend_msg("broken")),
            Ok(msg("ERROR c", None)),
        ];
        assert_eq!(
            texts(last_matching(history(failing), filter, Some(5))).await,
            [Ok("ERROR a".to_owned()), Err("broken".to_owned())]
        );
    }
}
