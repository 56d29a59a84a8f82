//! Command-line flags (and their environment variables) of the journald backend.

use std::path::PathBuf;
use std::time::Duration;

/// Where and how to read the journal.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Journal directories to read (repeatable or comma-separated). Each is searched for
    /// `*.journal` files directly and in its machine-id subdirectories, archived
    /// (rotated) files included. Directories that do not exist are ignored, but at least one
    /// must exist at startup.
    #[arg(
        long = "journal-dir",
        env = "FAAS_LOGS_JOURNALD_JOURNAL_DIR",
        value_delimiter = ',',
        default_values = ["/var/log/journal", "/run/log/journal"]
    )]
    pub journal_dirs: Vec<PathBuf>,

    /// Look-back bound for requests without `since`: only entries newer than this are read
    /// (e.g. `24h`). `0` (the default) means no bound: everything journald still keeps.
    #[arg(long, env = "FAAS_LOGS_JOURNALD_LOOK_BACK", default_value = "0", value_parser = logs_api::parse_duration)]
    pub look_back: Duration,

    /// Safety-net timer for follow streams: how often a follower re-checks the journal without
    /// an inotify event. inotify drives liveness; this only covers missed events.
    #[arg(long, env = "FAAS_LOGS_JOURNALD_RECHECK_INTERVAL", default_value = "1s", value_parser = logs_api::parse_duration)]
    pub recheck_interval: Duration,
}

impl Args {
    /// Flags for reading the given directories, with the defaults for everything else.
    pub fn with_dirs(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        Self {
            journal_dirs: dirs.into_iter().collect(),
            look_back: Duration::ZERO,
            recheck_interval: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn defaults_and_comma_lists() {
        let cli = Cli::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.args.journal_dirs,
            [
                PathBuf::from("/var/log/journal"),
                PathBuf::from("/run/log/journal")
            ]
        );
        assert_eq!(cli.args.look_back, Duration::ZERO);
        assert_eq!(cli.args.recheck_interval, Duration::from_secs(1));
        let cli = Cli::try_parse_from(["x", "--journal-dir", "/a,/b", "--journal-dir=/c"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.args.journal_dirs,
            [
                PathBuf::from("/a"),
                PathBuf::from("/b"),
                PathBuf::from("/c")
            ]
        );
    }

    #[test]
    fn bad_duration_is_rejected() {
        assert!(Cli::try_parse_from(["x", "--look-back", "soon"]).is_err());
    }
}
