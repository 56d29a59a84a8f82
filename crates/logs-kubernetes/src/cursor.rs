//! Per-pod read position: parsing timestamped log lines and resuming without gaps or duplicates.

use futures::io::{AsyncBufRead, AsyncBufReadExt};
use futures::stream::{BoxStream, StreamExt};
use logs_api::Timestamp;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `ts` rounded down to the whole second, which is all `sinceTime` keeps.
pub(crate) fn floor_second(ts: Timestamp) -> k8s_openapi::jiff::Timestamp {
    let secs = ts.unix_nanos().div_euclid(NANOS_PER_SECOND);
    k8s_openapi::jiff::Timestamp::from_second(secs)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// Splits a `timestamps=true` line into its timestamp and text (without line end).
///
/// A line without a parsable timestamp (not produced by a real kubelet) keeps the whole text
/// and gets `fallback`.
pub(crate) fn parse_line(line: &[u8], fallback: Timestamp) -> (Timestamp, String) {
    let line = logs_api::text_from_bytes(line);
    let line = logs_api::trim_line_end(&line);
    if let Some((ts, text)) = line.split_once(' ')
        && let Ok(ts) = Timestamp::parse_rfc3339(ts)
    {
        return (ts, text.to_owned());
    }
    (fallback, line.to_owned())
}

/// The raw lines of a log body, line ends included.
pub(crate) fn raw_lines(
    reader: impl AsyncBufRead + Send + Unpin + 'static,
) -> BoxStream<'static, std::io::Result<Vec<u8>>> {
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(line), Some(reader))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// What of one pod's log has been consumed: every line before `last`, and the first `at_last`
/// lines stamped exactly `last`.
///
/// The API server only takes whole seconds in `sinceTime`, so a reopened stream starts at
/// `floor(last)` and repeats lines already consumed; [`Cursor`] skips exactly those, keeping
/// lines that share the last timestamp but were not seen yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resume {
    last: Option<Timestamp>,
    at_last: usize,
}

impl Resume {
    /// Nothing read yet, and nothing before `start` wanted: lines from `start` on (inclusive).
    pub(crate) fn starting_at(start: Timestamp) -> Self {
        Self {
            last: Some(start),
            at_last: 0,
        }
    }

    /// Where to (re)open the pod's log: `floor(last)`, or `floor(since)` when nothing was read.
    pub(crate) fn since_time(
        &self,
        since: Option<Timestamp>,
    ) -> Option<k8s_openapi::jiff::Timestamp> {
        self.last.or(since).map(floor_second)
    }

    /// A cursor for a stream (re)opened at [`Resume::since_time`].
    pub(crate) fn cursor(self, since: Option<Timestamp>) -> Cursor {
        Cursor {
            resume: self,
            skip_left: self.at_last,
            since,
        }
    }
}

/// Decides, line by line, what a (re)opened stream delivers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    resume: Resume,
    skip_left: usize,
    since: Option<Timestamp>,
}

impl Cursor {
    /// Whether the line at `ts` is new (and at or after `since`); records it as consumed.
    pub(crate) fn admit(&mut self, ts: Timestamp) -> bool {
        if self.since.is_some_and(|since| ts < since) {
            return false;
        }
        if let Some(last) = self.resume.last {
            if ts < last {
                return false;
            }
            if ts == last {
                if self.skip_left > 0 {
                    self.skip_left -= 1;
                    return false;
                }
                self.resume.at_last += 1;
                return true;
            }
        }
        self.resume = Resume {
            last: Some(ts),
            at_last: 1,
        };
        self.skip_left = 0;
        true
    }

    /// The position after everything admitted so far.
    pub(crate) fn resume(&self) -> Resume {
        self.resume
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: i64) -> Timestamp {
        Timestamp::from_unix_nanos(n)
    }

    #[test]
    fn reopened_stream_skips_exactly_what_was_seen() {
        // First stream: lines at 1s+5, 1s+7, 1s+7 (two at the same instant), then cut.
        let mut first = Resume::default().cursor(None);
        for t in [1_000_000_005, 1_000_000_007, 1_000_000_007] {
            assert!(first.admit(ts(t)));
        }
        let resume = first.resume();
        assert_eq!(
            resume.since_time(None),
            Some(k8s_openapi::jiff::Timestamp::from_second(1).unwrap_or_else(|e| panic!("{e}")))
        );
        // Reopened at the whole second: everything again, plus a third line at 1s+7 and more.
        let mut second = resume.cursor(None);
        let got: Vec<i64> = [
            1_000_000_005,
            1_000_000_007,
            1_000_000_007,
            1_000_000_007,
            1_000_000_009,
        ]
        .into_iter()
        .filter(|t| second.admit(ts(*t)))
        .collect();
        assert_eq!(got, [1_000_000_007, 1_000_000_009]);
    }

    #[test]
    fn since_is_exact_to_the_nanosecond() {
        let since = ts(2_000_000_500);
        assert_eq!(
            Resume::default().since_time(Some(since)),
            k8s_openapi::jiff::Timestamp::from_second(2).ok()
        );
        let mut c = Resume::default().cursor(Some(since));
        assert!(!c.admit(ts(2_000_000_499)));
        assert!(c.admit(ts(2_000_000_500)));
        assert!(c.admit(ts(2_000_000_501)));
    }

    #[test]
    fn starting_at_keeps_lines_from_that_instant_exactly() {
        let start = ts(3_000_000_250);
        let resume = Resume::starting_at(start);
        assert_eq!(
            resume.since_time(None),
            k8s_openapi::jiff::Timestamp::from_second(3).ok()
        );
        // The whole second comes back; only what is at or after `start` is kept, ties included.
        let mut c = resume.cursor(None);
        let got: Vec<i64> = [
            3_000_000_000,
            3_000_000_249,
            3_000_000_250,
            3_000_000_250,
            3_000_000_251,
        ]
        .into_iter()
        .filter(|t| c.admit(ts(*t)))
        .collect();
        assert_eq!(got, [3_000_000_250, 3_000_000_250, 3_000_000_251]);
        // A request `since` later than the start still applies.
        let mut c = resume.cursor(Some(ts(3_000_000_300)));
        assert!(!c.admit(ts(3_000_000_299)));
        assert!(c.admit(ts(3_000_000_300)));
    }

    #[test]
    fn parses_kubelet_lines() {
        let (t, text) = parse_line(b"2026-01-01T00:00:01.000000005Z hello world\n", ts(0));
        assert_eq!(t, ts(1_767_225_601_000_000_005));
        assert_eq!(text, "hello world");
        let (t, text) = parse_line(b"no timestamp\r\n", ts(42));
        assert_eq!((t, text.as_str()), (ts(42), "no timestamp"));
        let (_, text) = parse_line(b"2026-01-01T00:00:01Z \n", ts(0));
        assert_eq!(text, "");
    }
}
