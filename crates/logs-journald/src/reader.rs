//! The synchronous part: open the journal files of some directories, run one function's query
//! over them with `sdjournal` and turn entries into [`Message`]s, one bounded batch at a time.
//!
//! Everything here is blocking file I/O (mmap or `pread`); the requester runs it on tokio's
//! blocking pool, one batch per call, so a stream never holds more than one batch.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logs_api::{Message, OutputStream, Request, Timestamp, text_from_bytes, trim_line_end};
use sdjournal::{Cursor, EntryRef, Journal, JournalConfig, JournalQuery, SdJournalError};

/// The journal field faasd sets to `<namespace>:<function>` for each function's output.
pub const IDENTIFIER_FIELD: &str = "SYSLOG_IDENTIFIER";
/// The journal field used as the instance id: the process id that logged the line.
pub const INSTANCE_FIELD: &str = "_PID";

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
}

impl Params {
    fn identifier(&self) -> String {
        format!("{}:{}", self.request.namespace, self.request.name)
    }

    /// Adds this request's matches and time bound to `q`.
    fn apply(&self, q: &mut JournalQuery) {
        q.match_exact(IDENTIFIER_FIELD, self.identifier().as_bytes());
        if let Some(instance) = &self.request.instance {
            q.match_exact(INSTANCE_FIELD, instance.as_bytes());
        }
        if let Some(since) = self.since_usec {
            q.since_realtime(since);
        }
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
        q.match_exact(IDENTIFIER_FIELD, self.params.identifier().as_bytes());
        if let Some(instance) = &self.params.request.instance {
            q.match_exact(INSTANCE_FIELD, instance.as_bytes());
        }
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
            let cursor = entry.cursor()?;
            if let Stop::After(after) = stop {
                match Key::of(&cursor) {
                    Some(k) if k <= after => break,
                    Some(_) => {}
                    None => return Ok(Backward::Unsupported),
                }
            }
            if newest.is_none() {
                newest = Some(cursor.clone());
            }
            let Some(message) = convert(&self.params.request, &entry) else {
                skipped += 1;
                continue;
            };
            count += 1;
            earliest = Some(cursor);
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
                    match convert(&self.params.request, &entry) {
                        Some(m) => out.push(m),
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

/// `PRIORITY` (syslog severity) names, as journalctl and syslog spell them.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

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
        .get("PRIORITY")
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.parse::<usize>().ok());
    let level = priority.and_then(|p| LEVELS.get(p)).map(|l| Arc::from(*l));
    let micros = i64::try_from(entry.realtime_usec()).unwrap_or(i64::MAX);
    Some(Message {
        name: request.name.clone(),
        namespace: request.namespace.clone(),
        instance,
        timestamp: Timestamp::from_unix_micros(micros),
        text,
        stream: stream(entry.get("_TRANSPORT"), priority),
        level,
    })
}

/// faasd's log collector (`faasd collect`, the containerd logging binary of every function
/// task) sends each stdout line with `PRIORITY=6` and each stderr line with `PRIORITY=3` over
/// the native protocol (`_TRANSPORT=journal`). Nothing else tells the two apart: other entries
/// get no stream.
fn stream(transport: Option<&[u8]>, priority: Option<usize>) -> Option<OutputStream> {
    match (transport, priority) {
        (Some(b"journal"), Some(6)) => Some(OutputStream::Stdout),
        (Some(b"journal"), Some(3)) => Some(OutputStream::Stderr),
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
        Params {
            dirs: Arc::from(Vec::new()),
            request: Request::new(namespace, name),
            since_usec: None,
        }
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
