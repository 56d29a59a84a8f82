//! Metrics for `/metrics`, kept and written by the Prometheus project's `prometheus-client`:
//! requests by status, active streams, messages sent, backend errors, aborted streams and
//! stream durations.
//!
//! The scrape is OpenMetrics text (`application/openmetrics-text; version=1.0.0`), which every
//! Prometheus since 2.5 reads. `prometheus-client` names a counter's family without `_total`
//! (`# TYPE faas_logs_requests counter`) and its samples with it, so the sample names are the
//! ones this provider always exposed (`faas_logs_requests_total{code="200"}` …).

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Status codes counted individually; anything else is counted as `other`.
const CODES: [u16; 7] = [200, 401, 404, 405, 422, 500, 503];
/// Upper bounds (seconds) of the stream duration histogram buckets.
const BUCKETS: [f64; 8] = [0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0];

/// The provider's metrics. One per server; shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// One counter per entry of [`CODES`], then `other`: created up front so that every code
    /// is exposed (as 0) from the first scrape and counting needs no lookup.
    requests: [Counter; CODES.len() + 1],
    active_streams: Gauge,
    messages_sent: Counter,
    backend_errors: Counter,
    stream_aborts: Counter,
    stream_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // `prometheus-client` appends the `.` to each help text and `_total` to counters.
        let by_code = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "faas_logs_requests",
            "Log requests answered, by HTTP status",
            by_code.clone(),
        );
        let requests = std::array::from_fn(|i| {
            let code = CODES
                .get(i)
                .map_or_else(|| "other".to_owned(), u16::to_string);
            by_code
                .get_or_create(&vec![("code".to_owned(), code)])
                .clone()
        });
        let active_streams = Gauge::default();
        registry.register(
            "faas_logs_active_streams",
            "Log streams currently open",
            active_streams.clone(),
        );
        let messages_sent = Counter::default();
        registry.register(
            "faas_logs_messages_sent",
            "Log messages written to clients",
            messages_sent.clone(),
        );
        let backend_errors = Counter::default();
        registry.register(
            "faas_logs_backend_errors",
            "Backend failures, before or during a stream",
            backend_errors.clone(),
        );
        let stream_aborts = Counter::default();
        registry.register(
            "faas_logs_stream_aborts",
            "Streams aborted without the terminating chunk: a backend failure mid-stream, or a \
             history cut by the deadline",
            stream_aborts.clone(),
        );
        let stream_duration = Histogram::new(BUCKETS);
        // Named with its unit rather than registered with a `# UNIT` line: some OpenMetrics
        // parsers refuse units on histograms, and the name is the one we always exposed.
        registry.register(
            "faas_logs_stream_duration_seconds",
            "How long log streams stayed open",
            stream_duration.clone(),
        );
        Metrics {
            registry,
            requests,
            active_streams,
            messages_sent,
            backend_errors,
            stream_aborts,
            stream_duration,
        }
    }
}

impl Metrics {
    fn request_counter(&self, status: u16) -> &Counter {
        let slot = CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(CODES.len());
        &self.requests[slot]
    }

    /// Counts one answered `/system/logs` request by its status code.
    pub fn record_request(&self, status: u16) {
        self.request_counter(status).inc();
    }

    /// Log requests answered with `status` so far (all codes not counted individually share
    /// one count).
    pub fn requests(&self, status: u16) -> u64 {
        self.request_counter(status).get()
    }

    /// Streams whose body is still open.
    pub fn active_streams(&self) -> u64 {
        u64::try_from(self.active_streams.get()).unwrap_or(0)
    }

    /// Messages written to clients so far.
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent.get()
    }

    /// Backend failures so far (before or during a stream).
    pub fn backend_errors(&self) -> u64 {
        self.backend_errors.get()
    }

    /// Streams aborted without the terminating chunk so far.
    pub fn stream_aborts(&self) -> u64 {
        self.stream_aborts.get()
    }

    pub(crate) fn stream_started(&self) {
        self.active_streams.inc();
    }

    pub(crate) fn stream_ended(&self, lasted: Duration) {
        self.active_streams.dec();
        self.stream_duration.observe(lasted.as_secs_f64());
    }

    pub(crate) fn messages(&self, n: u64) {
        self.messages_sent.inc_by(n);
    }

    pub(crate) fn backend_error(&self) {
        self.backend_errors.inc();
    }

    pub(crate) fn stream_aborted(&self) {
        self.stream_aborts.inc();
    }

    /// The OpenMetrics text exposition of every metric, ending in `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a `String` cannot fail; an `Err` would only come from a broken label
        // encoder, and a partial scrape is still better than none.
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "Encoding the metrics failed.");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmetrics_parser::{MetricNumber, OpenMetricsType, OpenMetricsValue};

    #[test]
    fn every_code_is_exposed_from_the_start_in_valid_openmetrics() {
        let text = Metrics::default().render();
        assert!(text.ends_with("# EOF\n"), "{text}");
        let scrape = openmetrics_parser::openmetrics::parse_openmetrics(&text)
            .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));
        let requests = &scrape.families["faas_logs_requests"];
        assert!(matches!(requests.family_type, OpenMetricsType::Counter));
        assert_eq!(requests.get_label_names(), ["code"]);
        assert_eq!(requests.iter_samples().count(), CODES.len() + 1);
        for code in ["200", "401", "404", "405", "422", "500", "503", "other"] {
            let sample = requests
                .get_sample_by_label_values(&[code.to_owned()])
                .unwrap_or_else(|| panic!("no sample for code {code}"));
            assert!(
                matches!(&sample.value, OpenMetricsValue::Counter(c) if c.value == MetricNumber::Int(0)),
                "{code}: {:?}",
                sample.value
            );
        }
        let duration = &scrape.families["faas_logs_stream_duration_seconds"];
        assert!(matches!(duration.family_type, OpenMetricsType::Histogram));
    }
}
