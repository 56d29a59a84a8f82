//! The synchronous part: open the journal files of some directories, run one function's query
//! over them with `sdjournal` and turn entries into [`Message`]s, one bounded batch at a time.
//!
//! Everything here is blocking file I/O (mmap or `pread`); the requester runs it on tokio's
//! blocking pool, one batch per call, so a stream never holds more than one batch.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logs_api::{
    Filter, Message, OutputStream, Request, Severity, Timestamp, text_from_bytes, trim_line_end,
};
use sdjournal::{Cursor, EntryRef, Journal, JournalConfig, JournalQuery, SdJournalError};

/// The journal field faasd sets to `<namespace>:<function>` for each function's output.
pub const IDENTIFIER_FIELD: &str = "SYSLOG_IDENTIFIER";
/// The journal field used as the instance id: the process id that logged the line.
pub const INSTANCE_FIELD: &str = "_PID";
/// The syslog severity of an entry, `0` to `7`.
const PRIORITY_FIELD: &str = "PRIORITY";
/// How the entry reached journald; faasd's collector uses the native protocol, `journal`.
const TRANSPORT_FIELD: &str = "_TRANSPORT";
/// faasd's collector writes stdout lines with this priority (`info`)…
const STDOUT_PRIORITY: u8 = 6;
/// …and stderr lines with this one (`err`).
const STDERR_PRIORITY: u8 = 3;

/// Which `PRIORITY` values a request's filter lets through, as journal matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Priorities {
    /// No `PRIORITY` match: every entry may pass (what is left is checked in process).
    Any,
    /// Only these values (OR), ascending; empty when no entry can pass.
    Only(Vec<u8>),
}

impl Priorities {
    /// The matches that push `filter`'s `level` and `stream` down to the journal's index.
    ///
    /// `level=N` is `PRIORITY=0…N`, but only up to `notice`: an entry without `PRIORITY`
    /// counts as `info`, and a match cannot select a missing field, so `level=info` and
    /// `level=debug` read every entry and leave the (rare) `debug` ones to the in-process check.
    /// `stream` is faasd's convention: stdout is `PRIORITY=6`, stderr `PRIORITY=3` (with
    /// `_TRANSPORT=journal`, added by [`Params::apply_matches`]).
    pub(crate) fn of(filter: &Filter) -> Priorities {
        let by_level = filter
            .level
            .filter(|l| *l < Severity::Info)
            .map(|l| (0..=l.number()).collect::<Vec<u8>>());
        let by_stream = filter.stream.map(|s| match s {
            OutputStream::Stdout => STDOUT_PRIORITY,
            OutputStream::Stderr => STDERR_PRIORITY,
        });
        match (by_level, by_stream) {
            (None, None) => Priorities::Any,
            (Some(levels), None) => Priorities::Only(levels),
            (None, Some(p)) => Priorities::Only(vec![p]),
            (Some(levels), Some(p)) => {
                Priorities::Only(levels.into_iter().filter(|l| *l == p).collect())
            }
        }
    }

    /// Whether no entry can pass.
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Priorities::Only(p) if p.is_empty())
    }
}

/// Counters shared by every stream of one requester.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Entries that matched but could not be read or had no `MESSAGE`.
    pub(crate) skipped: AtomicU64,
}

/// What one request reads.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) dirs: Arc<[PathBuf]>,
    pub(crate) request: Request,
    /// The lower time bound in journal microseconds (from `since` or the look-back bound).
    pub(crate) since_usec: Option<u64>,
    /// The `PRIORITY` values the filter lets through ([`Priorities::of`] the request's filter).
    pub(crate) priorities: Priorities,
}

impl Params {
    /// The parameters of `request`, reading `dirs` from `since_usec` on.
    pub(crate) fn new(dirs: Arc<[PathBuf]>, request: Request, since_usec: Option<u64>) -> Self {
        let priorities = Priorities::of(&request.filter);
        Params {
            dirs,
            request,
            since_usec,
            priorities,
        }
    }

    fn identifier(&self) -> String {
        format!("{}:{}", self.request.namespace, self.request.name)
    }

    /// Adds this request's matches to `q`: the function, the instance, and what the filter
    /// pushes down (`PRIORITY` values OR-ed, `_TRANSPORT=journal` for `stream`).
    fn apply_matches(&self, q: &mut JournalQuery) {
        q.match_exact(IDENTIFIER_FIELD, self.identifier().as_bytes());
        if let Some(instance) = &self.request.instance {
            q.match_exact(INSTANCE_FIELD, instance.as_bytes());
        }
        if self.request.filter.stream.is_some() {
            q.match_exact(TRANSPORT_FIELD, b"journal");
        }
        match &self.priorities {
            Priorities::Any => {}
            Priorities::Only(values) if values.len() == 1 => {
                q.match_exact(PRIORITY_FIELD, values[0].to_string().as_bytes());
            }
            Priorities::Only(values) => {
                // sdjournal ANDs the terms of one group and ORs the groups (each AND-ed with
                // the terms above): one group per value is `PRIORITY=0 OR PRIORITY=1 …`.
                for v in values {
                    q.or_group(|g| {
                        g.match_exact(PRIORITY_FIELD, v.to_string().as_bytes());
                    });
                }
            }
        }
    }

    /// Adds this request's matches and time bound to `q`.
    fn apply(&self, q: &mut JournalQuery) {
        self.apply_matches(q);
        if let Some(since) = self.since_usec {
            q.since_realtime(since);
        }
    }

    /// Whether the entry's text can pass `grep` and `regexp`, checked before the entry becomes a
    /// [`Message`]: most entries fail a text filter, and this spares their conversion. An entry
    /// without `MESSAGE` passes here ([`convert`] skips and counts it).
    fn text_may_pass(&self, entry: &EntryRef) -> bool {
        let filter = &self.request.filter;
        if !filter.has_text() {
            return true;
        }
        entry
            .get("MESSAGE")
            .is_none_or(|text| filter.wants_text(trim_line_end(&text_from_bytes(text))))
    }

    /// Whether `message` passes the request's filter, in process: `grep` and `regexp` (which
    /// the journal cannot match), and `level` and `stream` again (exact whatever was pushed
    /// down). Its severity is its `PRIORITY` (the `level` field [`convert`] set), or `info`
    /// without one.
    fn keeps(&self, message: &Message) -> bool {
        self.request.filter.matches_with(message, |m| {
            m.level
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::Info)
        })
    }
}

/// Microseconds for a `since` in nanoseconds, rounded up: an entry at `t` µs is wanted when
/// `t * 1000 >= since`.
pub(crate) fn since_usec(since: Timestamp) -> u64 {
    let nanos = since.unix_nanos();
    if nanos <= 0 {
        return 0;
    }
    u64::try_from(nanos).unwrap_or(0).div_ceil(1000)
}

/// Opens every journal file under the existing ones of `dirs`; `None` when there are none.
pub(crate) fn open_journal(dirs: &[PathBuf]) -> Result<Option<Journal>, SdJournalError> {
    let existing: Vec<PathBuf> = dirs.iter().filter(|d| d.is_dir()).cloned().collect();
    if existing.is_empty() {
        return Ok(None);
    }
    match Journal::open_dirs_with_config(&existing, config()) {
        Ok(j) => Ok(Some(j)),
        Err(SdJournalError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

fn config() -> JournalConfig {
    JournalConfig {
        // Function output can be long (a stack trace in one write); journald's own limit for a
        // stream line is 48 KiB by default, its maximum 768 MiB. 16 MiB bounds one entry.
        max_decompressed_bytes: 16 * 1024 * 1024,
        ..JournalConfig::default()
    }
}

type EntryIter = Box<dyn Iterator<Item = sdjournal::Result<EntryRef>> + Send>;

/// The most messages a backward pass keeps; beyond that it only counts and the reader goes
/// forward from the earliest wanted entry instead (bounded memory whatever `tail` or `since`).
pub(crate) const BACKWARD_CAP: usize = 2048;

/// The merge order of `sdjournal` (realtime, seqnum, file id, entry offset), decoded from its
/// entry cursor, so a backward pass can stop exactly where a forward `after_cursor` would start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    realtime: u64,
    seqnum: u64,
    file_id: [u8; 16],
    offset: u64,
}

impl Key {
    /// The key of `cursor` when it is an `sdjournal` entry-key cursor (`SJ1:04…`, what
    /// `EntryRef::cursor` returns in the pinned version); `None` otherwise.
    pub(crate) fn of(cursor: &Cursor) -> Option<Key> {
        let s = cursor.to_string();
        let hex = s.strip_prefix("SJ1:04")?;
        if hex.len() != 2 * (16 + 8 + 8 + 8) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok();
        let mut b = [0u8; 40];
        for (i, out) in b.iter_mut().enumerate() {
            *out = byte(i)?;
        }
        let le = |at: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(v)
        };
        let mut file_id = [0u8; 16];
        file_id.copy_from_slice(&b[..16]);
        Some(Key {
            file_id,
            offset: le(16),
            seqnum: le(24),
            realtime: le(32),
        })
    }
}

/// Where a backward pass stops.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// After this many messages (`tail`).
    Count(usize),
    /// At the first entry at or before this one (live: what was already read).
    After(Key),
    /// Only at the start of the journal (or at `since`).
    None,
}

/// What a backward pass found.
enum Backward {
    /// Every wanted message, in forward order, and the newest entry read.
    Buffered(VecDeque<Message>, Option<Cursor>),
    /// More than [`BACKWARD_CAP`]: go forward from this entry (inclusive).
    From(Cursor),
    /// Nothing wanted.
    Nothing,
    /// The cursor format was not understood: use a forward pass.
    Unsupported,
}

/// A lazy reader of one request: history first, then (after [`Reader::refresh_live`]) whatever
/// was appended after the last entry it read.
pub(crate) struct Reader {
    params: Params,
    stats: Arc<Stats>,
    /// Messages found by a backward pass, oldest first.
    pending: VecDeque<Message>,
    /// A forward pass, when one is running.
    iter: Option<EntryIter>,
    /// Whether the current pass (backward or forward) is finished.
    done: bool,
    /// The newest entry read (or, for `tail=0`, the journal's end when the request started):
    /// live reads continue strictly after it.
    last: Option<Cursor>,
}

impl Reader {
    /// Opens the journal and positions the reader at the first history entry: the start of the
    /// function's log at/after `since`, or, with `tail = N`, the N-th matching entry from the
    /// end. `tail` and `since` are answered by walking backwards from the end (what is newest is
    /// cheapest); the whole history is read forwards, lazily.
    pub(crate) fn history(params: Params, stats: Arc<Stats>) -> Result<Self, SdJournalError> {
        let mut reader = Reader {
            params,
            stats,
            pending: VecDeque::new(),
            iter: None,
            done: true,
            last: None,
        };
        if reader.params.priorities.is_none() {
            // E.g. `level=error&stream=stdout`: faasd's stdout lines are all `info`.
            return Ok(reader);
        }
        let Some(journal) = open_journal(&reader.params.dirs)? else {
            return Ok(reader);
        };
        let stop = match reader.params.request.tail {
            Some(0) => {
                // Nothing old; a follower starts after the current end of the journal.
                let mut end = journal.query();
                end.reverse(true).limit(1);
                if let Some(Ok(e)) = end.iter()?.next() {
                    reader.last = Some(e.cursor()?);
                }
                return Ok(reader);
            }
            Some(n) => Stop::Count(n),
            None if reader.params.since_usec.is_some() => Stop::None,
            None => {
                reader.start_forward(&journal, None)?;
                return Ok(reader);
            }
        };
        reader.backward(&journal, stop)?;
        Ok(reader)
    }

    /// Runs a backward pass and sets the reader up to deliver its result.
    fn backward(&mut self, journal: &Journal, stop: Stop) -> Result<(), SdJournalError> {
        match self.backward_pass(journal, stop)? {
            Backward::Buffered(messages, newest) => {
                self.pending = messages;
                if newest.is_some() {
                    self.last = newest;
                }
                self.iter = None;
                self.done = true;
            }
            Backward::From(start) => {
                let mut q = journal.seek_cursor(&start)?;
                self.params.apply(&mut q);
                self.iter = Some(Box::new(q.iter()?));
                self.done = false;
            }
            Backward::Nothing => {
                self.iter = None;
                self.done = true;
            }
            Backward::Unsupported => self.start_forward(journal, self.last.clone())?,
        }
        Ok(())
    }

    fn start_forward(
        &mut self,
        journal: &Journal,
        after: Option<Cursor>,
    ) -> Result<(), SdJournalError> {
        let mut q = journal.query();
        self.params.apply(&mut q);
        if let Some(after) = after {
            q.after_cursor(after);
        }
        self.iter = Some(Box::new(q.iter()?));
        self.done = false;
        Ok(())
    }

    /// Walks the function's entries from the newest back to `stop` (and `since`), keeping at
    /// most [`BACKWARD_CAP`] messages.
    fn backward_pass(&self, journal: &Journal, stop: Stop) -> Result<Backward, SdJournalError> {
        let mut q = journal.query();
        // `since` is checked here, not in the query: the query would skip older entries one by
        // one instead of ending the walk.
        self.params.apply_matches(&mut q);
        q.reverse(true);
        let mut buf: Option<VecDeque<Message>> = Some(VecDeque::new());
        let mut count = 0usize;
        let mut skipped = 0u64;
        let mut newest: Option<Cursor> = None;
        let mut earliest: Option<Cursor> = None;
        for item in q.iter()? {
            let entry = match item {
                Ok(e) => e,
                Err(e) => {
                    skipped += 1;
                    tracing::debug!(error = %e, "Skipped an unreadable journal entry.");
                    continue;
                }
            };
            if self
                .params
                .since_usec
                .is_some_and(|s| entry.realtime_usec() < s)
            {
                break;
            }
            // A cursor is a formatted string: make one only where it is needed (the first
            // entry, a live pass's stop check, a kept message), not for every entry a filter
            // drops.
            let first = newest.is_none();
            let cursor = if first || matches!(stop, Stop::After(_)) {
                Some(entry.cursor()?)
            } else {
                None
            };
            if let (Stop::After(after), Some(c)) = (stop, &cursor) {
                match Key::of(c) {
                    Some(k) if k <= after => break,
                    Some(_) => {}
                    None => return Ok(Backward::Unsupported),
                }
            }
            if first {
                newest.clone_from(&cursor);
            }
            if !self.params.text_may_pass(&entry) {
                continue;
            }
            let Some(message) = convert(&self.params.request, &entry) else {
                skipped += 1;
                continue;
            };
            // `tail` counts only the messages that pass the filter.
            if !self.params.keeps(&message) {
                continue;
            }
            count += 1;
            earliest = Some(match cursor {
                Some(c) => c,
                None => entry.cursor()?,
            });
            if let Some(b) = buf.as_mut() {
                if b.len() < BACKWARD_CAP {
                    b.push_front(message);
                } else {
                    buf = None;
                }
            }
            if matches!(stop, Stop::Count(n) if count == n) {
                break;
            }
        }
        match (buf, earliest) {
            (Some(messages), _) => {
                self.stats.skipped.fetch_add(skipped, Ordering::Relaxed);
                Ok(Backward::Buffered(messages, newest))
            }
            (None, Some(from)) => Ok(Backward::From(from)),
            (None, None) => Ok(Backward::Nothing),
        }
    }

    /// Reads up to `max` messages. Returns them and whether the journal (as opened) is
    /// exhausted. Bad entries are skipped and counted.
    pub(crate) fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<(Vec<Message>, bool), SdJournalError> {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(max);
            let out: Vec<Message> = self.pending.drain(..n).collect();
            return Ok((out, self.pending.is_empty() && self.done));
        }
        let mut out = Vec::new();
        let Some(iter) = self.iter.as_mut() else {
            return Ok((out, true));
        };
        while out.len() < max {
            match iter.next() {
                None => {
                    self.iter = None;
                    self.done = true;
                    return Ok((out, true));
                }
                Some(Err(e)) => {
                    self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "Skipped an unreadable journal entry.");
                }
                Some(Ok(entry)) => {
                    if let Ok(c) = entry.cursor() {
                        self.last = Some(c);
                    }
                    if !self.params.text_may_pass(&entry) {
                        continue;
                    }
                    match convert(&self.params.request, &entry) {
                        Some(m) if self.params.keeps(&m) => out.push(m),
                        Some(_) => {}
                        None => {
                            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("Skipped a journal entry without MESSAGE.");
                        }
                    }
                }
            }
        }
        Ok((out, false))
    }

    /// Re-opens the directories (new and rotated files included) and sets up a pass over what
    /// was appended after the last entry read: backwards from the end down to it when that is
    /// a short walk, forwards otherwise.
    pub(crate) fn refresh_live(&mut self) -> Result<(), SdJournalError> {
        if self.params.priorities.is_none() {
            return Ok(());
        }
        let Some(journal) = open_journal(&self.params.dirs)? else {
            self.iter = None;
            self.done = true;
            return Ok(());
        };
        let stop = match self.last.as_ref().map(Key::of) {
            Some(Some(k)) => Stop::After(k),
            Some(None) => return self.start_forward(&journal, self.last.clone()),
            None => Stop::None,
        };
        self.backward(&journal, stop)
    }
}

/// The message of one entry: `MESSAGE` (invalid UTF-8 replaced as Go does, one trailing newline
/// removed), `_PID` as the instance, the realtime timestamp, `PRIORITY` as the level, and the
/// output stream where faasd's convention tells it. `None` without `MESSAGE`.
fn convert(request: &Request, entry: &EntryRef) -> Option<Message> {
    let text = entry.get("MESSAGE")?;
    let text = text_from_bytes(text);
    let text = trim_line_end(&text).to_owned();
    let instance: Arc<str> = entry
        .get(INSTANCE_FIELD)
        .map(|p| text_from_bytes(p).into())
        .unwrap_or_else(|| "".into());
    let priority = entry
        .get(PRIORITY_FIELD)
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.parse::<u8>().ok());
    // journalctl's and syslog's names.
    let level = priority
        .and_then(Severity::from_number)
        .map(|s| Arc::from(s.name()));
    let micros = i64::try_from(entry.realtime_usec()).unwrap_or(i64::MAX);
    Some(Message {
        name: request.name.clone(),
        namespace: request.namespace.clone(),
        instance,
        timestamp: Timestamp::from_unix_micros(micros),
        text,
        stream: stream(entry.get(TRANSPORT_FIELD), priority),
        level,
        source: None,
    })
}

/// faasd's log collector (`faasd collect`, the containerd logging binary of every function
/// task) sends each stdout line with `PRIORITY=6` and each stderr line with `PRIORITY=3` over
/// the native protocol (`_TRANSPORT=journal`). Nothing else tells the two apart: other entries
/// get no stream.
fn stream(transport: Option<&[u8]>, priority: Option<u8>) -> Option<OutputStream> {
    match (transport, priority) {
        (Some(b"journal"), Some(STDOUT_PRIORITY)) => Some(OutputStream::Stdout),
        (Some(b"journal"), Some(STDERR_PRIORITY)) => Some(OutputStream::Stderr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_only_from_faasd_collect_priorities() {
        assert_eq!(
            stream(Some(b"journal"), Some(6)),
            Some(OutputStream::Stdout)
        );
        assert_eq!(
            stream(Some(b"journal"), Some(3)),
            Some(OutputStream::Stderr)
        );
        assert_eq!(stream(Some(b"journal"), Some(4)), None);
        assert_eq!(stream(Some(b"stdout"), Some(6)), None);
        assert_eq!(stream(None, Some(6)), None);
        assert_eq!(stream(Some(b"journal"), None), None);
    }

    #[test]
    fn filters_push_down_as_priorities() {
        let of = |level: Option<Severity>, stream: Option<OutputStream>| {
            Priorities::of(&Filter {
                level,
                stream,
                ..Filter::default()
            })
        };
        assert_eq!(of(None, None), Priorities::Any);
        assert_eq!(
            of(Some(Severity::Error), None),
            Priorities::Only(vec![0, 1, 2, 3])
        );
        assert_eq!(
            of(Some(Severity::Notice), None),
            Priorities::Only(vec![0, 1, 2, 3, 4, 5])
        );
        // An entry without PRIORITY is `info`: not expressible as a match.
        assert_eq!(of(Some(Severity::Info), None), Priorities::Any);
        assert_eq!(of(Some(Severity::Debug), None), Priorities::Any);
        assert_eq!(
            of(None, Some(OutputStream::Stdout)),
            Priorities::Only(vec![6])
        );
        assert_eq!(
            of(None, Some(OutputStream::Stderr)),
            Priorities::Only(vec![3])
        );
        assert_eq!(
            of(Some(Severity::Warning), Some(OutputStream::Stderr)),
            Priorities::Only(vec![3])
        );
        assert!(of(Some(Severity::Error), Some(OutputStream::Stdout)).is_none());
        assert_eq!(
            of(Some(Severity::Info), Some(OutputStream::Stdout)),
            Priorities::Only(vec![6])
        );
        assert!(!of(None, None).is_none());
    }

    #[test]
    fn since_rounds_up_to_whole_microseconds() {
        assert_eq!(since_usec(Timestamp::from_unix_nanos(5_000)), 5);
        assert_eq!(since_usec(Timestamp::from_unix_nanos(5_001)), 6);
        assert_eq!(since_usec(Timestamp::from_unix_nanos(-3)), 0);
        assert_eq!(since_usec(Timestamp::UNKNOWN), 0);
    }

    #[test]
    fn keys_follow_the_merge_order_of_the_reader() {
        use crate::export::{ExportEntry, journal_remote, write_entry};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Two files with interleaved times, and two entries with the same time.
        for (stem, times) in [("a", [10u64, 30, 30]), ("b", [20, 30, 40])] {
            journal_remote(&dir.path().join(format!("{stem}.journal")), &[], |out| {
                for t in times {
                    write_entry(
                        out,
                        &ExportEntry {
                            realtime_usec: 1_700_000_000_000_000 + t,
                            identifier: "openfaas-fn:k",
                            pid: 1,
                            message: b"m",
                            priority: None,
                            transport: "journal",
                        },
                    )?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let journal = open_journal(&[dir.path().to_owned()])
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no journal"));
        let keys: Vec<Key> = journal
            .query()
            .iter()
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| {
                let e = e.unwrap_or_else(|e| panic!("{e}"));
                let k = e
                    .cursor()
                    .ok()
                    .as_ref()
                    .and_then(Key::of)
                    .unwrap_or_else(|| panic!("cursor format not understood"));
                assert_eq!(k.realtime, e.realtime_usec());
                assert_eq!(k.seqnum, e.seqnum());
                k
            })
            .collect();
        assert_eq!(keys.len(), 6);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn no_directory_means_no_journal() {
        let dirs = [PathBuf::from("/nonexistent/faas-logs-test")];
        assert!(matches!(open_journal(&dirs), Ok(None)));
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(open_journal(&[empty.path().to_owned()]), Ok(None)));
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::*;
    use proptest::prelude::*;

    fn params(namespace: &str, name: &str) -> Params {
        Params::new(Arc::from(Vec::new()), Request::new(namespace, name), None)
    }

    proptest! {
        /// Two requests match the same journal entries only if they name the same function in
        /// the same namespace: the `SYSLOG_IDENTIFIER` match `<namespace>:<name>` cannot be
        /// shared, because validated names cannot contain `:`.
        #[test]
        fn identifiers_never_collide(
            a in "[a-z0-9]([-a-z0-9:]{0,8}[a-z0-9])?",
            b in "[a-z0-9]([-a-z0-9:]{0,8}[a-z0-9])?",
            c in "[a-z0-9]([-a-z0-9:]{0,8}[a-z0-9])?",
            d in "[a-z0-9]([-a-z0-9:]{0,8}[a-z0-9])?",
        ) {
            let valid = [&a, &b, &c, &d].iter().all(|s| logs_api::is_dns1123_label(s));
            let same = params(&a, &b).identifier() == params(&c, &d).identifier();
            if valid {
                prop_assert_eq!(same, a == c && b == d);
            }
            // Unvalidated values with `:` could collide (`a:b` + `c` vs `a` + `b:c`): that is
            // why the core refuses them before any backend sees them.
            if !valid && same && (a != c || b != d) {
                prop_assert!([&a, &b, &c, &d].iter().any(|s| s.contains(':')));
            }
        }
    }
}
