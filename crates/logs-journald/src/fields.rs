//! The distinct values of one journal field (what `journalctl -F FIELD` prints), read from each
//! journal file's field hash table instead of from every entry.
//!
//! `sdjournal` has no counterpart of `sd_journal_query_unique`, so this reads the few objects
//! it needs itself, per <https://systemd.io/JOURNAL_FILE_FORMAT/>: the header's field hash
//! table leads to the `FIELD` object of the field, whose `head_data_offset` and every `DATA`
//! object's `next_field_offset` chain all the values of that field in the file. That costs a
//! few hundred small reads per file, whatever the number of entries. Anything unexpected (an
//! unknown incompatible flag, a compressed value, an offset or chain that makes no sense) is an
//! error, and the caller falls back to reading the entries.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SIGNATURE: &[u8; 8] = b"LPKSHHRH";
/// The incompatible flags we understand: XZ, LZ4, keyed hash, ZSTD, compact.
const KNOWN_INCOMPATIBLE: u32 = 0x1f;
const INCOMPATIBLE_COMPACT: u32 = 1 << 4;
/// The header up to `n_fields` (systemd 187 and later).
const MIN_HEADER: usize = 224;
const OBJECT_HEADER: u64 = 16;
const OBJECT_DATA: u8 = 1;
const OBJECT_FIELD: u8 = 2;
/// `DATA` object flags: its payload is compressed (XZ, LZ4 or ZSTD).
const OBJECT_COMPRESSED: u8 = 0x7;
/// The payload of a `FIELD` object starts here (after hash, next_hash_offset,
/// head_data_offset).
const FIELD_PAYLOAD: u64 = 40;
/// The largest field hash table we read (systemd's default is 333 buckets, 5 KiB).
const MAX_HASH_TABLE: u64 = 16 << 20;
/// Field names are short (systemd allows 64 bytes).
const MAX_FIELD_NAME: u64 = 256;

/// Why a file's field table could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FieldsError {
    /// Reading the file failed (including a read past its end).
    #[error("{path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// The file is not what the format says, or uses something we do not read.
    #[error("{path}: {reason}")]
    Unusable {
        /// The journal file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// What one file holds of a field.
#[derive(Debug, Default)]
pub(crate) struct FileValues {
    /// The file's id, to skip the same file reached through two directories.
    pub(crate) file_id: [u8; 16],
    /// The realtime (µs) of the file's newest entry; 0 when it has none.
    pub(crate) tail_realtime: u64,
    /// The values (without `FIELD=`) that start with the prefix asked for, each referenced by at
    /// least one entry, in file order, possibly repeated across files.
    pub(crate) values: Vec<Vec<u8>>,
}

struct Reader<'a> {
    file: File,
    path: &'a Path,
    compact: bool,
    /// An upper bound on the steps of any chain: the file's object count (at most one object
    /// per 16 bytes of file).
    max_steps: u64,
    header_size: u64,
}

impl Reader<'_> {
    fn unusable(&self, reason: impl Into<String>) -> FieldsError {
        FieldsError::Unusable {
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, FieldsError> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|source| FieldsError::Io {
                path: self.path.to_owned(),
                source,
            })?;
        Ok(buf)
    }

    /// Checks that `offset` can be an object's.
    fn object_offset(&self, offset: u64) -> Result<u64, FieldsError> {
        if !offset.is_multiple_of(8) || offset < self.header_size {
            return Err(self.unusable(format!("bad object offset {offset}")));
        }
        Ok(offset)
    }

    /// The object header at `offset`: type, flags, size.
    fn object(&self, offset: u64, want: u8, min_size: u64) -> Result<(u8, u64), FieldsError> {
        let h = self.read(self.object_offset(offset)?, OBJECT_HEADER as usize)?;
        let size = le64(&h, 8);
        if h[0] != want || size < min_size {
            return Err(self.unusable(format!(
                "object at {offset}: type {} size {size}, expected type {want}",
                h[0]
            )));
        }
        Ok((h[1], size))
    }
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// The values of `field` in the journal file at `path` that start with `prefix` and are at most
/// `max_len` bytes long (longer ones are passed over without being read).
pub(crate) fn file_values(
    path: &Path,
    field: &str,
    prefix: &[u8],
    max_len: usize,
) -> Result<FileValues, FieldsError> {
    let file = File::open(path).map_err(|source| FieldsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut r = Reader {
        file,
        path,
        compact: false,
        max_steps: 0,
        header_size: 0,
    };
    let header = r.read(0, MIN_HEADER)?;
    if &header[..8] != SIGNATURE {
        return Err(r.unusable("not a journal file"));
    }
    let incompatible = le32(&header, 12);
    if incompatible & !KNOWN_INCOMPATIBLE != 0 {
        return Err(r.unusable(format!("unknown incompatible flags {incompatible:#x}")));
    }
    r.compact = incompatible & INCOMPATIBLE_COMPACT != 0;
    r.header_size = le64(&header, 88);
    if r.header_size < MIN_HEADER as u64 {
        return Err(r.unusable(format!("header of {} bytes", r.header_size)));
    }
    let mut out = FileValues {
        tail_realtime: le64(&header, 192),
        ..FileValues::default()
    };
    out.file_id.copy_from_slice(&header[24..40]);
    // The header's object count, but never more objects than the file has room for: a
    // corrupt count must not let a cyclic chain run for ever.
    let file_len = r
        .file
        .metadata()
        .map_err(|source| FieldsError::Io {
            path: path.to_owned(),
            source,
        })?
        .len();
    r.max_steps = le64(&header, 144).min(file_len / OBJECT_HEADER) + 1;
    let table_offset = le64(&header, 120);
    let table_size = le64(&header, 128);
    if table_size == 0 {
        return Ok(out);
    }
    if !table_size.is_multiple_of(16) || table_size > MAX_HASH_TABLE || table_offset < r.header_size
    {
        return Err(r.unusable(format!(
            "field hash table of {table_size} bytes at {table_offset}"
        )));
    }
    let table = r.read(table_offset, table_size as usize)?;
    // Every bucket is walked rather than hashing the name (Jenkins or keyed SipHash, per
    // file): the table has a few hundred buckets and the file a few dozen fields.
    let Some(head_data) = find_field(&r, &table, field.as_bytes())? else {
        return Ok(out);
    };
    let fixed: u64 = if r.compact { 72 } else { 64 };
    let want = field.len() + 1 + max_len;
    let mut offset = head_data;
    let mut steps = 0u64;
    while offset != 0 {
        steps += 1;
        if steps > r.max_steps {
            return Err(r.unusable("DATA chain longer than the file's object count"));
        }
        let (flags, size) = r.object(offset, OBJECT_DATA, fixed)?;
        let meta = r.read(offset + OBJECT_HEADER, (fixed - OBJECT_HEADER) as usize)?;
        let next = le64(&meta, 32 - OBJECT_HEADER as usize);
        let n_entries = le64(&meta, 56 - OBJECT_HEADER as usize);
        let payload_len = size - fixed;
        if n_entries > 0 && payload_len <= want as u64 {
            if flags & OBJECT_COMPRESSED != 0 {
                // Only values above journald's compression threshold (512 bytes by default)
                // are compressed; a lower threshold is possible, and then we cannot read them.
                return Err(r.unusable("compressed value"));
            }
            let payload = r.read(offset + fixed, payload_len as usize)?;
            let value = payload
                .strip_prefix(field.as_bytes())
                .and_then(|p| p.strip_prefix(b"="))
                .ok_or_else(|| r.unusable(format!("DATA at {offset} is not {field}=")))?;
            if value.starts_with(prefix) {
                out.values.push(value.to_vec());
            }
        }
        offset = next;
    }
    Ok(out)
}

/// The `head_data_offset` of the `FIELD` object named `name`, if the file has one.
fn find_field(r: &Reader<'_>, table: &[u8], name: &[u8]) -> Result<Option<u64>, FieldsError> {
    let mut steps = 0u64;
    for bucket in table.chunks_exact(16) {
        let mut offset = le64(bucket, 0);
        while offset != 0 {
            steps += 1;
            if steps > r.max_steps {
                return Err(r.unusable("FIELD chains longer than the file's object count"));
            }
            let (_, size) = r.object(offset, OBJECT_FIELD, FIELD_PAYLOAD)?;
            let payload_len = size - FIELD_PAYLOAD;
            if payload_len > MAX_FIELD_NAME {
                return Err(r.unusable(format!("FIELD at {offset} of {size} bytes")));
            }
            let obj = r.read(offset, size as usize)?;
            if &obj[FIELD_PAYLOAD as usize..] == name {
                return Ok(Some(le64(&obj, 32)));
            }
            offset = le64(&obj, 24);
        }
    }
    Ok(None)
}

/// The journal files under `dirs` as `sdjournal` finds them: `*.journal` directly in each
/// directory and in its machine-id (32 hex digits) subdirectories, symlinks skipped.
pub(crate) fn journal_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in rd.filter_map(Result::ok) {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_file() && is_journal(&path) {
                out.push(path);
            } else if ft.is_dir() && is_machine_id(&entry.file_name()) {
                let Ok(sub) = std::fs::read_dir(&path) else {
                    continue;
                };
                out.extend(
                    sub.filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                        .map(|e| e.path())
                        .filter(|p| is_journal(p)),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_journal(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "journal")
}

fn is_machine_id(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ExportEntry, journal_remote, write_entry};

    fn write(path: &Path, env: &[(&str, &str)], identifiers: &[&str]) {
        journal_remote(path, env, |out| {
            for (i, id) in identifiers.iter().enumerate() {
                write_entry(
                    out,
                    &ExportEntry {
                        realtime_usec: 1_700_000_000_000_000 + i as u64,
                        identifier: id,
                        pid: 1,
                        message: b"m",
                        priority: Some(6),
                        transport: "journal",
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn reads_the_values_of_compact_and_regular_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (stem, env) in [
            ("compact", &[][..]),
            ("regular", &[("SYSTEMD_JOURNAL_COMPACT", "0")][..]),
        ] {
            let path = dir.path().join(format!("{stem}.journal"));
            write(
                &path,
                env,
                &["ns:b", "ns:a", "other:c", "ns:a", "ns:".repeat(50).as_str()],
            );
            let got = file_values(&path, "SYSLOG_IDENTIFIER", b"ns:", 127)
                .unwrap_or_else(|e| panic!("{stem}: {e}"));
            let mut values: Vec<String> = got
                .values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            values.sort();
            assert_eq!(values, ["ns:a", "ns:b"], "{stem}");
            assert_eq!(got.tail_realtime, 1_700_000_000_000_004, "{stem}");
            assert!(
                file_values(&path, "NO_SUCH_FIELD", b"", 100)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .values
                    .is_empty()
            );
        }
    }

    /// A real journal file, written once for the proptest below.
    fn sample() -> &'static [u8] {
        static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        SAMPLE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("s.journal");
            write(&path, &[], &["ns:a", "ns:b", "other:c"]);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever bytes of a real file are overwritten (offsets, sizes, flags, hash table,
        /// objects), reading its field table answers or fails; it never panics or runs away.
        #[test]
        fn corrupted_files_never_panic(
            edits in proptest::collection::vec(
                (proptest::prop_oneof![0usize..272, 0usize..1 << 16], proptest::prelude::any::<u8>()),
                1..24,
            ),
        ) {
            let mut bytes = sample().to_vec();
            for (at, b) in edits {
                let len = bytes.len();
                bytes[at % len] = b;
            }
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("c.journal");
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let _ = file_values(&path, "SYSLOG_IDENTIFIER", b"ns:", 127);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("x.journal");
        std::fs::write(&path, b"not a journal").unwrap_or_else(|e| panic!("{e}"));
        assert!(file_values(&path, "SYSLOG_IDENTIFIER", b"", 10).is_err());
        let mut fake = SIGNATURE.to_vec();
        fake.resize(4096, 0xff);
        std::fs::write(&path, &fake).unwrap_or_else(|e| panic!("{e}"));
        assert!(file_values(&path, "SYSLOG_IDENTIFIER", b"", 10).is_err());
    }
}
