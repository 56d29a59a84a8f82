//! [`JournaldRequester`]: the [`Requester`] over journal files, with follow driven by inotify.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use inotify::{EventStream, Inotify, WatchMask};
use logs_api::{
    Capabilities, Error, LogStream, Message, Request, Requester, Result, Timestamp,
    is_dns1123_label,
};
use tokio::sync::watch;

use crate::config::Args;
use crate::fields::{file_values, journal_files};
use crate::reader::{IDENTIFIER_FIELD, Params, Reader, Stats, open_journal, since_usec};

/// Messages read per blocking call; also the most a stream buffers.
const BATCH: usize = 256;
/// A follower re-reads the journal at most this often: journald writes (for every service on
/// the host) come in bursts, and one re-read covers all changes before it.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(50);
/// A follower whose journal could not be re-opened this many times in a row gives up.
const MAX_REFRESH_FAILURES: u32 = 30;
/// Journal reads running at once, per CPU. A write wakes every follower; without a bound a
/// thousand followers would each take a blocking thread (tokio grows its pool to 512), and
/// every thread costs a stack and a malloc arena. Reads beyond it wait their turn.
const READS_PER_CPU: usize = 2;

/// Why the requester could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// None of the configured journal directories can be read.
    #[error("no readable journal directory among {dirs:?}: {reason}")]
    NoJournalDir {
        /// The configured directories.
        dirs: Vec<PathBuf>,
        /// Why the last of them failed.
        reason: String,
    },
}

/// Serves function logs from the journal files under some directories.
///
/// A function's lines are the entries with `SYSLOG_IDENTIFIER=<namespace>:<name>`; the instance
/// id is the entry's `_PID`.
#[derive(Clone)]
pub struct JournaldRequester {
    dirs: Arc<[PathBuf]>,
    look_back: Duration,
    recheck: Duration,
    stats: Arc<Stats>,
    /// The inotify watch shared by every follower, alive while at least one follows.
    watch: Arc<Mutex<Weak<Watch>>>,
    /// Permits for blocking journal reads (see [`READS_PER_CPU`]).
    reads: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for JournaldRequester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournaldRequester")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl JournaldRequester {
    /// A requester reading the directories in `args`.
    ///
    /// # Errors
    ///
    /// [`SetupError::NoJournalDir`] when none of the directories can be listed (missing, or no
    /// permission: the process needs the `systemd-journal` group).
    pub fn new(args: Args) -> Result<Self, SetupError> {
        check_dirs(&args.journal_dirs)?;
        Ok(Self {
            dirs: args.journal_dirs.into(),
            look_back: args.look_back,
            recheck: args.recheck_interval.max(Duration::from_millis(10)),
            stats: Arc::default(),
            watch: Arc::default(),
            reads: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) * READS_PER_CPU,
            )),
        })
    }

    /// How many matching journal entries were skipped so far because they could not be read
    /// (corrupt objects, unknown compression, no `MESSAGE`).
    pub fn skipped_entries(&self) -> u64 {
        self.stats.skipped.load(Ordering::Relaxed)
    }

    /// The shared watch, started if nobody follows yet. Its watches are in place when this
    /// returns, so a change made after it is seen by the returned receiver.
    fn watch(&self) -> std::io::Result<(Arc<Watch>, watch::Receiver<u64>)> {
        let mut slot = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = slot.upgrade() {
            let rx = w.tx.subscribe();
            return Ok((w, rx));
        }
        let w = Watch::start(self.dirs.clone())?;
        *slot = Arc::downgrade(&w);
        let rx = w.tx.subscribe();
        Ok((w, rx))
    }

    /// The oldest time the look-back bound lets a request without `since` read.
    fn look_back_start(&self) -> Option<Timestamp> {
        (!self.look_back.is_zero()).then(|| {
            let nanos = i64::try_from(self.look_back.as_nanos()).unwrap_or(i64::MAX);
            Timestamp::from_unix_nanos(Timestamp::now().unix_nanos().saturating_sub(nanos))
        })
    }

    /// The function listing the slow way: every entry's `SYSLOG_IDENTIFIER` within the
    /// look-back. [`Requester::functions`] uses it only when a journal file's field table cannot
    /// be read; it is public so tests and the benchmark can compare the two.
    ///
    /// # Errors
    ///
    /// The journal could not be opened or read.
    pub async fn functions_by_scan(&self, namespace: &str) -> Result<Vec<String>> {
        let dirs = self.dirs.clone();
        let prefix = identifier_prefix(namespace)?;
        let since = self.look_back_start().map(since_usec);
        let _permit = self.reads.clone().acquire_owned().await;
        tokio::task::spawn_blocking(move || scan_identifiers(&dirs, &prefix, since))
            .await
            .map_err(|e| Error::backend("listing functions", e))?
    }

    fn params(&self, request: Request) -> Params {
        let since = request.since.or(self.look_back_start());
        Params::new(self.dirs.clone(), request, since.map(since_usec))
    }
}

fn check_dirs(dirs: &[PathBuf]) -> Result<(), SetupError> {
    let mut reason = String::from("no directory configured");
    for dir in dirs {
        match std::fs::read_dir(dir) {
            Ok(_) => return Ok(()),
            Err(e) => reason = format!("{}: {e}", dir.display()),
        }
    }
    Err(SetupError::NoJournalDir {
        dirs: dirs.to_vec(),
        reason,
    })
}

#[async_trait::async_trait]
impl Requester for JournaldRequester {
    async fn query(&self, request: Request) -> Result<LogStream> {
        // The core only hands over DNS-1123 names; a caller that skipped it must not reach
        // another function's lines (`a:b` + `c` and `a` + `b:c` share an identifier).
        if !is_dns1123_label(&request.namespace) || !is_dns1123_label(&request.name) {
            return Err(Error::InvalidRequest(
                "name and namespace must be DNS-1123 labels".to_owned(),
            ));
        }
        let follow = request.follow;
        let params = self.params(request);
        // Watch before the snapshot is taken, so nothing appended in between goes unnoticed.
        let watcher = if follow {
            Some(
                self.watch()
                    .map_err(|e| Error::backend("watching the journal", e))?,
            )
        } else {
            None
        };
        let stats = self.stats.clone();
        let permit = self.reads.clone().acquire_owned().await;
        let reader = tokio::task::spawn_blocking(move || Reader::history(params, stats))
            .await
            .map_err(|e| Error::backend("reading the journal", e))?
            .map_err(|e| Error::backend("opening the journal", e))?;
        drop(permit);
        let state = State {
            reads: self.reads.clone(),
            reader: Some(reader),
            buf: VecDeque::new(),
            exhausted: false,
            refresh: false,
            follow: watcher.map(|(watch, changes)| Follow {
                _watch: watch,
                changes,
                last_wake: tokio::time::Instant::now(),
                tick: tokio::time::interval_at(
                    tokio::time::Instant::now() + self.recheck,
                    self.recheck,
                ),
                failures: 0,
            }),
        };
        Ok(futures::stream::unfold(state, State::step).boxed())
    }

    /// `level` and `stream` are pushed down as journal matches, `grep` and `regexp` run in
    /// the reader before `tail` is counted.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The distinct `SYSLOG_IDENTIFIER=<namespace>:<name>` values in the journal files (within
    /// the look-back bound), read from each file's field table, not from its entries.
    async fn functions(&self, namespace: &str) -> Result<Vec<String>> {
        let dirs = self.dirs.clone();
        let prefix = identifier_prefix(namespace)?;
        let since = self.look_back_start().map(since_usec);
        let _permit = self.reads.clone().acquire_owned().await;
        tokio::task::spawn_blocking(move || list_identifiers(&dirs, &prefix, since))
            .await
            .map_err(|e| Error::backend("listing functions", e))?
    }

    async fn ready(&self) -> Result<()> {
        let dirs = self.dirs.clone();
        tokio::task::spawn_blocking(move || check_dirs(&dirs))
            .await
            .map_err(|e| Error::backend("checking the journal", e))?
            .map_err(|e| Error::backend("journal not readable", e))
    }
}

/// The longest function name, so the longest identifier worth reading is the prefix plus this.
const MAX_NAME: usize = 63;

/// `<namespace>:`, the identifier prefix of a namespace's functions.
fn identifier_prefix(namespace: &str) -> Result<String> {
    // The same guard as for queries: `a:b` + `c` and `a` + `b:c` share a prefix otherwise.
    if !is_dns1123_label(namespace) {
        return Err(Error::InvalidRequest(
            "namespace must be a DNS-1123 label".to_owned(),
        ));
    }
    Ok(format!("{namespace}:"))
}

/// The function names of identifiers `<prefix><name>`, where `name` is a DNS-1123 label.
fn names(identifiers: impl IntoIterator<Item = Vec<u8>>, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = identifiers
        .into_iter()
        .filter_map(|id| {
            let name = std::str::from_utf8(id.strip_prefix(prefix.as_bytes())?).ok()?;
            is_dns1123_label(name).then(|| name.to_owned())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The listing from the files' field tables, checked against the look-back bound; a scan of
/// the entries when a file's table cannot be used.
fn list_identifiers(dirs: &[PathBuf], prefix: &str, since: Option<u64>) -> Result<Vec<String>> {
    let mut seen_files = std::collections::HashSet::new();
    let mut candidates = std::collections::BTreeSet::new();
    for path in journal_files(dirs) {
        let file = match file_values(&path, IDENTIFIER_FIELD, prefix.as_bytes(), MAX_NAME) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read a journal file's field table; listing functions from the entries instead.");
                return scan_identifiers(dirs, prefix, since);
            }
        };
        // The same file through two directories (sdjournal keeps one too), or a file whose
        // newest entry is older than the look-back bound.
        if !seen_files.insert(file.file_id) || since.is_some_and(|s| file.tail_realtime < s) {
            continue;
        }
        candidates.extend(file.values);
    }
    let Some(since) = since else {
        return Ok(names(candidates, prefix));
    };
    // A file newer than the bound may still hold a function whose lines are all older.
    let journal = open_journal(dirs).map_err(|e| Error::backend("opening the journal", e))?;
    let Some(journal) = journal else {
        return Ok(Vec::new());
    };
    let mut recent = Vec::new();
    for id in candidates {
        let mut q = journal.query();
        q.match_exact(IDENTIFIER_FIELD, &id).reverse(true).limit(1);
        let newest = q
            .iter()
            .map_err(|e| Error::backend("reading the journal", e))?
            .filter_map(|e| e.ok())
            .next();
        if newest.is_some_and(|e| e.realtime_usec() >= since) {
            recent.push(id);
        }
    }
    Ok(names(recent, prefix))
}

/// The listing from every entry within the bound: what the field tables spare us.
fn scan_identifiers(dirs: &[PathBuf], prefix: &str, since: Option<u64>) -> Result<Vec<String>> {
    let Some(journal) = open_journal(dirs).map_err(|e| Error::backend("opening the journal", e))?
    else {
        return Ok(Vec::new());
    };
    let mut q = journal.query();
    if let Some(since) = since {
        q.since_realtime(since);
    }
    let mut found = std::collections::BTreeSet::new();
    for entry in q
        .iter()
        .map_err(|e| Error::backend("reading the journal", e))?
        .filter_map(|e| e.ok())
    {
        if let Some(id) = entry.get(IDENTIFIER_FIELD)
            && id.starts_with(prefix.as_bytes())
            && !found.contains(id)
        {
            found.insert(id.to_vec());
        }
    }
    Ok(names(found, prefix))
}

/// The state of one stream: it owns the reader, the inotify watch and the timer, so dropping
/// the stream releases them all.
struct State {
    reads: Arc<tokio::sync::Semaphore>,
    reader: Option<Reader>,
    buf: VecDeque<Message>,
    exhausted: bool,
    /// Whether the next read must first re-open the journal (a follower was woken).
    refresh: bool,
    follow: Option<Follow>,
}

struct Follow {
    /// Keeps the shared watch alive while this stream follows.
    _watch: Arc<Watch>,
    /// Bumped by the watch on every batch of inotify events.
    changes: watch::Receiver<u64>,
    /// When this follower last woke up to re-read.
    last_wake: tokio::time::Instant,
    tick: tokio::time::Interval,
    failures: u32,
}

impl State {
    async fn step(mut self) -> Option<(Result<Message>, Self)> {
        loop {
            if let Some(m) = self.buf.pop_front() {
                return Some((Ok(m), self));
            }
            if self.exhausted {
                let follow = self.follow.as_mut()?;
                follow.wait().await;
                self.exhausted = false;
                self.refresh = true;
            }
            let mut reader = self.reader.take()?;
            let refresh = std::mem::take(&mut self.refresh);
            // The semaphore is never closed, so this only waits for a turn.
            let permit = self.reads.clone().acquire_owned().await;
            let joined = tokio::task::spawn_blocking(move || {
                let batch = if refresh {
                    reader.refresh_live()
                } else {
                    Ok(())
                }
                .and_then(|()| reader.next_batch(BATCH));
                (reader, batch)
            })
            .await;
            drop(permit);
            let (reader, batch) = match joined {
                Ok(v) => v,
                Err(e) => return Some((Err(Error::backend("reading the journal", e)), self)),
            };
            self.reader = Some(reader);
            match batch {
                Ok((messages, done)) => {
                    if let Some(f) = self.follow.as_mut() {
                        f.failures = 0;
                    }
                    self.buf.extend(messages);
                    self.exhausted = done;
                }
                Err(e) => {
                    let Some(f) = self.follow.as_mut() else {
                        return Some((Err(Error::backend("reading the journal", e)), self));
                    };
                    f.failures += 1;
                    if f.failures >= MAX_REFRESH_FAILURES {
                        self.reader = None;
                        return Some((Err(Error::backend("re-opening the journal", e)), self));
                    }
                    tracing::warn!(error = %e, failures = f.failures, "Re-opening the journal failed; retrying.");
                    self.exhausted = true;
                }
            }
        }
    }
}

impl Follow {
    /// Waits for a change in a journal directory (or the safety-net timer). Changes that came
    /// in the meantime are one change: one re-read covers them all.
    async fn wait(&mut self) {
        tokio::select! {
            changed = self.changes.changed() => {
                if changed.is_err() {
                    // The watch task ended (it cannot, short of a panic): fall back to the timer.
                    self.tick.tick().await;
                }
            }
            _ = self.tick.tick() => {}
        }
        tokio::time::sleep_until(self.last_wake + MIN_REFRESH_INTERVAL).await;
        self.changes.borrow_and_update();
        self.last_wake = tokio::time::Instant::now();
        // The safety net only fires after a quiet interval.
        self.tick.reset();
    }
}

/// One inotify instance on the journal directories and their machine-id subdirectories, shared
/// by all followers of a requester (inotify instances are a scarce per-user resource:
/// `fs.inotify.max_user_instances`, 128 by default). A task reads its events and bumps a
/// counter; dropping the last follower's `Arc<Watch>` aborts the task and closes the instance.
///
/// journald (and `systemd-journal-remote`) truncate a file to its own size after each append
/// precisely so that an inotify `IN_MODIFY` reports it; rotation shows as `IN_MOVED_*` and
/// `IN_CREATE` on the directory.
struct Watch {
    tx: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watch {
    fn start(dirs: Arc<[PathBuf]>) -> std::io::Result<Arc<Self>> {
        let inotify = Inotify::init()?;
        let mut events = inotify.into_event_stream(vec![0u8; 4096])?;
        add_watches(&events, &dirs);
        let (tx, _) = watch::channel(0u64);
        let bump = tx.clone();
        let task = tokio::spawn(async move {
            while events.next().await.is_some() {
                while let Some(Some(_)) = events.next().now_or_never() {}
                // New machine-id directories (or a journal directory created late) get
                // watched too.
                add_watches(&events, &dirs);
                bump.send_modify(|n| *n = n.wrapping_add(1));
            }
        });
        Ok(Arc::new(Watch { tx, task }))
    }
}

fn add_watches(events: &EventStream<Vec<u8>>, dirs: &[PathBuf]) {
    let mask = WatchMask::MODIFY
        | WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::CLOSE_WRITE;
    let mut watches = events.watches();
    for dir in dirs {
        // Adding an existing watch again only returns its descriptor.
        if watches.add(dir, mask).is_err() {
            continue;
        }
        for sub in machine_id_dirs(dir) {
            if let Err(e) = watches.add(&sub, mask) {
                tracing::debug!(dir = %sub.display(), error = %e, "Cannot watch.");
            }
        }
    }
}

fn machine_id_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|e| e.path())
        .collect()
}
