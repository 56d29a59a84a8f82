//! Prometheus metrics for `/metrics`, kept in atomics: requests by status, active streams,
//! messages sent, backend errors, aborted streams and stream durations.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Status codes counted individually; anything else is counted as `other`.
const CODES: [u16; 7] = [200, 401, 404, 405, 422, 500, 503];
/// Upper bounds (seconds) of the stream duration histogram buckets.
const BUCKETS: [f64; 8] = [0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0];

/// The provider's counters. One per server; shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; CODES.len() + 1],
    active_streams: AtomicU64,
    messages_sent: AtomicU64,
    backend_errors: AtomicU64,
    stream_aborts: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts one answered `/system/logs` request by its status code.
    pub fn record_request(&self, status: u16) {
        let slot = CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(CODES.len());
        self.requests[slot].fetch_add(1, Relaxed);
    }

    /// Log requests answered with `status` so far.
    pub fn requests(&self, status: u16) -> u64 {
        let slot = CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(CODES.len());
        self.requests[slot].load(Relaxed)
    }

    /// Streams whose body is still open.
    pub fn active_streams(&self) -> u64 {
        self.active_streams.load(Relaxed)
    }

    /// Messages written to clients so far.
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent.load(Relaxed)
    }

    /// Backend failures so far (before or during a stream).
    pub fn backend_errors(&self) -> u64 {
        self.backend_errors.load(Relaxed)
    }

    /// Streams ended by a backend failure mid-stream.
    pub fn stream_aborts(&self) -> u64 {
        self.stream_aborts.load(Relaxed)
    }

    pub(crate) fn stream_started(&self) {
        self.active_streams.fetch_add(1, Relaxed);
    }

    pub(crate) fn stream_ended(&self, lasted: Duration) {
        self.active_streams.fetch_sub(1, Relaxed);
        let secs = lasted.as_secs_f64();
        for (bucket, le) in self.duration_buckets.iter().zip(BUCKETS) {
            if secs <= le {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Relaxed);
        let micros = u64::try_from(lasted.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros.fetch_add(micros, Relaxed);
    }

    pub(crate) fn messages(&self, n: u64) {
        self.messages_sent.fetch_add(n, Relaxed);
    }

    pub(crate) fn backend_error(&self) {
        self.backend_errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn stream_aborted(&self) {
        self.stream_aborts.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP faas_logs_requests_total Log requests answered, by HTTP status."
        );
        let _ = writeln!(w, "# TYPE faas_logs_requests_total counter");
        for (i, code) in CODES.iter().enumerate() {
            let _ = writeln!(
                w,
                "faas_logs_requests_total{{code=\"{code}\"}} {}",
                self.requests[i].load(Relaxed)
            );
        }
        let other = self.requests[CODES.len()].load(Relaxed);
        let _ = writeln!(w, "faas_logs_requests_total{{code=\"other\"}} {other}");
        let simple = [
            (
                "faas_logs_active_streams",
                "gauge",
                "Log streams currently open.",
                self.active_streams(),
            ),
            (
                "faas_logs_messages_sent_total",
                "counter",
                "Log messages written to clients.",
                self.messages_sent(),
            ),
            (
                "faas_logs_backend_errors_total",
                "counter",
                "Backend failures, before or during a stream.",
                self.backend_errors(),
            ),
            (
                "faas_logs_stream_aborts_total",
                "counter",
                "Streams aborted by a backend failure mid-stream.",
                self.stream_aborts(),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                w,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let name = "faas_logs_stream_duration_seconds";
        let _ = writeln!(
            w,
            "# HELP {name} How long log streams stayed open.\n# TYPE {name} histogram"
        );
        for (bucket, le) in self.duration_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(w, "{name}_bucket{{le=\"{le}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.duration_count.load(Relaxed);
        let sum = self.duration_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            w,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.record_request(200);
        m.record_request(200);
        m.record_request(422);
        m.record_request(418);
        m.stream_started();
        m.stream_started();
        m.stream_ended(Duration::from_millis(500));
        m.messages(7);
        let text = m.render();
        for want in [
            "faas_logs_requests_total{code=\"200\"} 2\n",
            "faas_logs_requests_total{code=\"422\"} 1\n",
            "faas_logs_requests_total{code=\"other\"} 1\n",
            "faas_logs_active_streams 1\n",
            "faas_logs_messages_sent_total 7\n",
            "faas_logs_stream_duration_seconds_bucket{le=\"0.1\"} 0\n",
            "faas_logs_stream_duration_seconds_bucket{le=\"1\"} 1\n",
            "faas_logs_stream_duration_seconds_bucket{le=\"+Inf\"} 1\n",
            "faas_logs_stream_duration_seconds_sum 0.5\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
