//! What has been delivered so far, so that overlapping Loki answers (page boundaries, the
//! history/tail seam, reconnects) never deliver a line twice.
//!
//! Loki's `start` is inclusive and `end` exclusive, and many lines may share one timestamp, so
//! every boundary is re-read from the last delivered timestamp and the lines already seen at
//! exactly that timestamp are skipped (as `logcli` does). Loki itself keeps no two entries with
//! the same stream, timestamp and line, which makes that triple an entry's identity.

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::wire::Entry;

/// An entry's identity without keeping its line: stream, timestamp and a hash of the line.
#[derive(Clone, Debug)]
pub(crate) struct EntryId {
    ts: i64,
    key: Arc<str>,
    line_hash: u64,
}

/// Hashes lines for [`EntryId`]s with keys random per stream, so that nobody who can write log
/// lines can craft two that collide.
#[derive(Clone, Default)]
pub(crate) struct LineHasher(std::collections::hash_map::RandomState);

impl std::fmt::Debug for LineHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineHasher")
    }
}

impl LineHasher {
    pub(crate) fn id(&self, entry: &Entry) -> EntryId {
        EntryId {
            ts: entry.ts,
            key: entry.info.key.clone(),
            line_hash: self.0.hash_one(&entry.line),
        }
    }
}

impl PartialEq for EntryId {
    fn eq(&self, other: &Self) -> bool {
        self.ts == other.ts
            && self.line_hash == other.line_hash
            && (Arc::ptr_eq(&self.key, &other.key) || self.key == other.key)
    }
}

/// The newest delivered timestamp and the entries delivered at exactly that time.
#[derive(Debug)]
pub(crate) struct Cursor {
    ts: i64,
    run: Vec<EntryId>,
    hasher: LineHasher,
}

impl Cursor {
    /// Nothing delivered; everything before `floor` counts as done. `hasher` must be the one
    /// the stream uses for its other [`EntryId`]s.
    pub(crate) fn at(floor: i64, hasher: LineHasher) -> Self {
        Cursor {
            ts: floor,
            run: Vec::new(),
            hasher,
        }
    }

    /// The timestamp a re-read must start from (inclusive).
    pub(crate) fn ts(&self) -> i64 {
        self.ts
    }

    /// Everything before `floor` is done (a finished window), if the cursor is older.
    pub(crate) fn raise_floor(&mut self, floor: i64) {
        if self.ts < floor {
            self.ts = floor;
            self.run.clear();
        }
    }

    /// Takes `entry` unless it is older than the cursor or already delivered; returns whether
    /// it is new.
    pub(crate) fn take(&mut self, entry: &Entry) -> bool {
        if entry.ts < self.ts {
            return false;
        }
        let id = self.hasher.id(entry);
        if entry.ts == self.ts {
            if self.run.contains(&id) {
                return false;
            }
        } else {
            self.ts = entry.ts;
            self.run.clear();
        }
        self.run.push(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::StreamInfo;

    fn entry(stream: &str, ts: i64, line: &str) -> Entry {
        Entry {
            ts,
            line: line.to_owned(),
            info: Arc::new(StreamInfo {
                key: Arc::from(stream),
                function: None,
                namespace: None,
                instance: Arc::from("i"),
                level: None,
                stream: None,
            }),
        }
    }

    #[test]
    fn boundary_lines_are_taken_once() {
        let mut c = Cursor::at(0, LineHasher::default());
        assert!(c.take(&entry("a", 5, "x")));
        assert!(c.take(&entry("a", 5, "y")));
        assert!(
            c.take(&entry("b", 5, "x")),
            "another stream is another entry"
        );
        // A re-read from ts 5 repeats them.
        assert!(!c.take(&entry("a", 5, "x")));
        assert!(!c.take(&entry("b", 5, "x")));
        assert!(
            c.take(&entry("a", 5, "z")),
            "a new line at the boundary time is new"
        );
        assert!(!c.take(&entry("a", 4, "older")));
        assert!(c.take(&entry("a", 6, "x")));
        assert!(!c.take(&entry("a", 5, "late")));
        assert_eq!(c.ts(), 6);
    }

    #[test]
    fn floor_only_moves_forward() {
        let mut c = Cursor::at(10, LineHasher::default());
        assert!(!c.take(&entry("a", 9, "x")));
        c.raise_floor(5);
        assert_eq!(c.ts(), 10);
        assert!(c.take(&entry("a", 12, "x")));
        c.raise_floor(20);
        assert_eq!(c.ts(), 20);
        assert!(c.take(&entry("a", 20, "x")));
    }
}
