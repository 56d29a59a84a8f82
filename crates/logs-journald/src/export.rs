//! A writer of the [Journal Export Format](https://systemd.io/JOURNAL_EXPORT_FORMATS/), the
//! input of `systemd-journal-remote --output=FILE -`.
//!
//! The project uses it to make real journal files with systemd's own tools: the tests, the
//! benchmark and `tools/gen-export` write entries here and pipe them into
//! `systemd-journal-remote`, which writes the `*.journal` file exactly as journald would (the
//! same library code: compact mode, zstd compression of large fields, entry arrays).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian and Ubuntu install `systemd-journal-remote` (package `systemd-journal-remote`).
pub const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// One journal entry to export.
#[derive(Clone, Debug)]
pub struct ExportEntry<'a> {
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch.
    pub realtime_usec: u64,
    /// `SYSLOG_IDENTIFIER`, e.g. `openfaas-fn:figlet`.
    pub identifier: &'a str,
    /// `_PID`.
    pub pid: u32,
    /// `MESSAGE`; any bytes (a value with a newline or non-UTF-8 uses the binary encoding).
    pub message: &'a [u8],
    /// `PRIORITY` (0-7), if any.
    pub priority: Option<u8>,
    /// `_TRANSPORT`: `journal` (what faasd's collector uses), `stdout`, `syslog`, …
    pub transport: &'a str,
}

/// Fixed boot id (128 bits, hex) for exported entries.
const BOOT_ID: &str = "0123456789abcdef0123456789abcdef";
/// Fixed machine id for exported entries.
const MACHINE_ID: &str = "fedcba9876543210fedcba9876543210";

/// Writes one field: `KEY=value\n`, or the binary form `KEY\n<u64 LE length><bytes>\n` when the
/// value holds a newline or is not valid UTF-8 (journald then stores it as a byte array).
///
/// # Errors
///
/// Any error of `out`.
pub fn write_field(out: &mut (impl Write + ?Sized), key: &str, value: &[u8]) -> io::Result<()> {
    if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
        out.write_all(key.as_bytes())?;
        out.write_all(b"\n")?;
        out.write_all(&(value.len() as u64).to_le_bytes())?;
        out.write_all(value)?;
        out.write_all(b"\n")
    } else {
        out.write_all(key.as_bytes())?;
        out.write_all(b"=")?;
        out.write_all(value)?;
        out.write_all(b"\n")
    }
}

/// Writes one whole entry (fields, then the empty line that ends it).
///
/// # Errors
///
/// Any error of `out`.
pub fn write_entry(out: &mut (impl Write + ?Sized), entry: &ExportEntry<'_>) -> io::Result<()> {
    write_field(
        out,
        "__REALTIME_TIMESTAMP",
        entry.realtime_usec.to_string().as_bytes(),
    )?;
    // Monotonic time only has to be plausible; journal-remote keeps it as given.
    write_field(out, "__MONOTONIC_TIMESTAMP", b"1000000")?;
    write_field(out, "_BOOT_ID", BOOT_ID.as_bytes())?;
    write_field(out, "_MACHINE_ID", MACHINE_ID.as_bytes())?;
    write_field(out, "_HOSTNAME", b"faasd-host")?;
    write_field(out, "_TRANSPORT", entry.transport.as_bytes())?;
    if let Some(p) = entry.priority {
        write_field(out, "PRIORITY", p.to_string().as_bytes())?;
    }
    write_field(out, "SYSLOG_IDENTIFIER", entry.identifier.as_bytes())?;
    write_field(out, "_PID", entry.pid.to_string().as_bytes())?;
    write_field(out, "MESSAGE", entry.message)?;
    out.write_all(b"\n")
}

/// Why `systemd-journal-remote` could not write a journal file.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The tool is not installed where we look.
    #[error("{JOURNAL_REMOTE} not found: install the apt package systemd-journal-remote ({0})")]
    Missing(#[source] io::Error),
    /// Writing its input failed.
    #[error("feeding systemd-journal-remote: {0}")]
    Io(#[from] io::Error),
    /// It exited with a failure.
    #[error("systemd-journal-remote failed ({status}): {stderr}")]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Pipes export-format bytes produced by `fill` into `systemd-journal-remote --output=<file> -`,
/// which creates `file` or appends to it (so a follower sees a file growing).
///
/// `env` is passed to the tool, e.g. `SYSTEMD_JOURNAL_COMPACT=0` for a non-compact file.
///
/// # Errors
///
/// [`RemoteError`] when the tool is missing, its input breaks, or it fails.
pub fn journal_remote(
    file: &Path,
    env: &[(&str, &str)],
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), RemoteError> {
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RemoteError::Missing)?;
    let fed = match child.stdin.take() {
        Some(stdin) => {
            let mut w = io::BufWriter::with_capacity(1 << 16, stdin);
            fill(&mut w).and_then(|()| w.flush())
        }
        None => Err(io::Error::other("no stdin pipe")),
    };
    let output = child.wait_with_output()?;
    fed?;
    if !output.status.success() {
        return Err(RemoteError::Failed {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

/// `dir/<stem>.journal`, the path convention of our tools.
pub fn journal_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.journal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_fields() {
        let mut out = Vec::new();
        write_field(&mut out, "A", b"plain").unwrap_or_else(|e| panic!("{e}"));
        write_field(&mut out, "B", b"two\nlines").unwrap_or_else(|e| panic!("{e}"));
        write_field(&mut out, "C", b"\xff").unwrap_or_else(|e| panic!("{e}"));
        let mut want = b"A=plain\nB\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\nC\n");
        want.extend_from_slice(&1u64.to_le_bytes());
        want.extend_from_slice(b"\xff\n");
        assert_eq!(out, want);
    }
}
