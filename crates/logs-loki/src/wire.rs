//! Loki's JSON answers (`query_range` and tail frames) read into [`Entry`] values.
//!
//! Formats: <https://grafana.com/docs/loki/latest/reference/loki-http-api/>. A value is
//! `["<unix ns>", "<line>"]`, or with the `categorize-labels` encoding flag
//! `["<unix ns>", "<line>", {"structuredMetadata": {..}, "parsed": {..}}]`. Without the flag,
//! Loki 3 folds structured metadata into the stream's labels, so one function may come back as
//! several streams; we merge them again by timestamp.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use logs_api::OutputStream;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use crate::query::LabelNames;

/// What one Loki stream says about its lines, shared by all of them.
#[derive(Debug)]
pub(crate) struct StreamInfo {
    /// The labels in canonical form (`{a="1", b="2"}` sorted), the stream's identity.
    pub(crate) key: Arc<str>,
    pub(crate) function: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) instance: Arc<str>,
    pub(crate) level: Option<Arc<str>>,
    pub(crate) stream: Option<OutputStream>,
}

/// One log line from Loki.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) ts: i64,
    pub(crate) line: String,
    pub(crate) info: Arc<StreamInfo>,
}

#[derive(Deserialize)]
struct QueryResponse {
    status: String,
    data: QueryData,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawStream>,
}

#[derive(Deserialize)]
struct RawStream {
    stream: BTreeMap<String, String>,
    values: Vec<RawValue>,
}

/// A tail websocket frame.
#[derive(Deserialize)]
struct TailFrame {
    #[serde(default)]
    streams: Vec<RawStream>,
    #[serde(default)]
    dropped_entries: Option<Vec<serde_json::Value>>,
}

#[derive(Default, Deserialize)]
struct Categorized {
    #[serde(default, rename = "structuredMetadata")]
    structured_metadata: BTreeMap<String, String>,
    #[serde(default)]
    parsed: BTreeMap<String, String>,
}

struct RawValue {
    ts: i64,
    line: String,
    categorized: Option<Categorized>,
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"["<unix ns>", "<line>"(, {..})]"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let ts: std::borrow::Cow<'de, str> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let ts = ts
                    .parse()
                    .map_err(|_| de::Error::custom(format!("bad timestamp {ts:?}")))?;
                let line = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let categorized = seq.next_element()?;
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawValue {
                    ts,
                    line,
                    categorized,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Loki answered something we cannot read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not the JSON we expect.
    #[error("unexpected answer from Loki: {0}")]
    Json(#[from] serde_json::Error),
    /// A `status` other than `success`.
    #[error("Loki answered status {0:?}")]
    Status(String),
    /// A metric query result instead of log streams.
    #[error("Loki answered a {0:?} result, not streams")]
    ResultType(String),
}

/// A page of entries plus how many lines Loki returned in it (before any label check).
pub(crate) struct Decoded {
    pub(crate) entries: Vec<Entry>,
    /// Lines whose labels did not match the request (never delivered; counted for the log).
    pub(crate) foreign: usize,
    /// Lines Loki said it dropped (tail frames only).
    pub(crate) dropped: usize,
}

/// Turns Loki streams into entries. Lines of a stream whose labels do not name the requested
/// function and namespace are dropped (a misconfigured proxy or Loki must not leak another
/// namespace's logs).
struct Reader<'a> {
    labels: &'a LabelNames,
    name: Option<&'a str>,
    namespace: &'a str,
    instance: Option<&'a str>,
}

impl Reader<'_> {
    fn info(
        &self,
        mut labels: BTreeMap<String, String>,
        extra: Option<&Categorized>,
    ) -> StreamInfo {
        if let Some(extra) = extra {
            for (k, v) in extra.structured_metadata.iter().chain(&extra.parsed) {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let mut key = String::from("{");
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                key.push_str(", ");
            }
            key.push_str(k);
            key.push('=');
            crate::query::push_quoted(&mut key, v);
        }
        key.push('}');
        let level = labels
            .get(crate::query::DETECTED_LEVEL)
            .or_else(|| labels.get("level"))
            .filter(|l| !l.is_empty() && l.as_str() != "unknown")
            .map(|l| Arc::from(l.as_str()));
        let stream = match labels.get(crate::query::STREAM).map(String::as_str) {
            Some("stdout") => Some(OutputStream::Stdout),
            Some("stderr") => Some(OutputStream::Stderr),
            _ => None,
        };
        StreamInfo {
            key: key.into(),
            instance: labels
                .get(&self.labels.instance)
                .map(|s| Arc::from(s.as_str()))
                .unwrap_or_else(|| Arc::from("")),
            function: labels.remove(&self.labels.function),
            namespace: labels.remove(&self.labels.namespace),
            level,
            stream,
        }
    }

    fn belongs(&self, info: &StreamInfo) -> bool {
        info.function
            .as_deref()
            .is_some_and(|f| self.name.is_none_or(|name| f == name))
            && info.namespace.as_deref() == Some(self.namespace)
            && self.instance.is_none_or(|i| &*info.instance == i)
    }

    fn read(&self, streams: Vec<RawStream>) -> Decoded {
        let mut out = Decoded {
            entries: Vec::new(),
            foreign: 0,
            dropped: 0,
        };
        for raw in streams {
            let mut shared: Option<Arc<StreamInfo>> = None;
            for value in raw.values {
                // Categorized values carry their own metadata; plain values share the stream's.
                let info = match (&value.categorized, &shared) {
                    (None, Some(info)) => info.clone(),
                    (None, None) => {
                        let info = Arc::new(self.info(raw.stream.clone(), None));
                        shared = Some(info.clone());
                        info
                    }
                    (Some(c), _) => Arc::new(self.info(raw.stream.clone(), Some(c))),
                };
                if !self.belongs(&info) {
                    out.foreign += 1;
                    continue;
                }
                out.entries.push(Entry {
                    ts: value.ts,
                    line: value.line,
                    info,
                });
            }
        }
        out
    }
}

/// What the entries of one request must carry.
#[derive(Clone, Copy)]
pub(crate) struct Expect<'a> {
    pub(crate) labels: &'a LabelNames,
    /// The function; `None` takes every function of the namespace (the shared reader).
    pub(crate) name: Option<&'a str>,
    pub(crate) namespace: &'a str,
    pub(crate) instance: Option<&'a str>,
}

impl<'a> Expect<'a> {
    fn reader(self) -> Reader<'a> {
        Reader {
            labels: self.labels,
            name: self.name,
            namespace: self.namespace,
            instance: self.instance,
        }
    }
}

/// Reads a `query_range` answer.
pub(crate) fn decode_query_range(body: &[u8], expect: Expect<'_>) -> Result<Decoded, DecodeError> {
    let response: QueryResponse = serde_json::from_slice(body)?;
    if response.status != "success" {
        return Err(DecodeError::Status(response.status));
    }
    if response.data.result_type != "streams" {
        return Err(DecodeError::ResultType(response.data.result_type));
    }
    Ok(expect.reader().read(response.data.result))
}

#[derive(Deserialize)]
struct LabelValues {
    status: String,
    /// Left out by Loki when there are no values.
    #[serde(default)]
    data: Option<Vec<String>>,
}

/// Reads a `label/<name>/values` answer: `{"status":"success","data":["a","b"]}`, `data` left
/// out when there are none.
pub(crate) fn decode_label_values(body: &[u8]) -> Result<Vec<String>, DecodeError> {
    let answer: LabelValues = serde_json::from_slice(body)?;
    if answer.status != "success" {
        return Err(DecodeError::Status(answer.status));
    }
    Ok(answer.data.unwrap_or_default())
}

/// Reads one tail websocket frame.
pub(crate) fn decode_tail_frame(text: &str, expect: Expect<'_>) -> Result<Decoded, DecodeError> {
    let frame: TailFrame = serde_json::from_str(text)?;
    let mut decoded = expect.reader().read(frame.streams);
    decoded.dropped = frame.dropped_entries.map_or(0, |d| d.len());
    Ok(decoded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn labels(instance: &str) -> LabelNames {
        LabelNames {
            function: "faas_function".into(),
            namespace: "namespace".into(),
            instance: instance.into(),
        }
    }

    fn expect(l: &LabelNames) -> Expect<'_> {
        Expect {
            labels: l,
            name: Some("figlet"),
            namespace: "openfaas-fn",
            instance: None,
        }
    }

    #[test]
    fn reads_the_real_backward_answer() {
        let l = labels("instance");
        let body = include_bytes!("../../../tests/fixtures/loki/query_range_backward_limit2.json");
        let d = decode_query_range(body, expect(&l)).unwrap();
        let got: Vec<_> = d
            .entries
            .iter()
            .map(|e| (e.ts, e.line.as_str(), &*e.info.instance))
            .collect();
        assert_eq!(
            got,
            [
                (1795353502491640315, "a2", "figlet-1"),
                (1795353502490640315, "b1", "figlet-2")
            ]
        );
        // Structured metadata folded into the labels makes a different stream identity.
        assert_eq!(
            &*d.entries[1].info.key,
            r#"{faas_function="figlet", instance="figlet-2", namespace="openfaas-fn", trace_id="t9"}"#
        );
        assert_eq!(d.foreign, 0);
    }

    #[test]
    fn reads_the_real_categorized_answer() {
        let l = labels("instance");
        let body =
            include_bytes!("../../../tests/fixtures/loki/query_range_categorize_labels.json");
        let d = decode_query_range(body, expect(&l)).unwrap();
        let lines: Vec<_> = d.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["a1", "a2", "b1"]);
        assert!(d.entries[2].info.key.contains("trace_id=\"t9\""));
        assert!(!d.entries[0].info.key.contains("trace_id"));
    }

    #[test]
    fn foreign_streams_are_never_delivered() {
        let l = labels("instance");
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"faas_function":"figlet","namespace":"other-ns","instance":"i"},"values":[["1","leak"]]},
            {"stream":{"faas_function":"nope","namespace":"openfaas-fn","instance":"i"},"values":[["2","leak"]]},
            {"stream":{"namespace":"openfaas-fn","instance":"i"},"values":[["3","leak"]]},
            {"stream":{"faas_function":"figlet","namespace":"openfaas-fn","instance":"i"},"values":[["4","ok"]]}]}}"#;
        let d = decode_query_range(body, expect(&l)).unwrap();
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.entries[0].line, "ok");
        assert_eq!(d.foreign, 3);
        let mut e = expect(&l);
        e.instance = Some("other");
        assert_eq!(decode_query_range(body, e).unwrap().entries.len(), 0);
        // The shared reader of a namespace takes every function there, and only there.
        let mut e = expect(&l);
        e.name = None;
        let d = decode_query_range(body, e).unwrap();
        let lines: Vec<_> = d.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["leak", "ok"]);
        assert_eq!(d.entries[0].info.function.as_deref(), Some("nope"));
        assert_eq!(
            d.foreign, 2,
            "the other namespace and the stream without a function"
        );
    }

    #[test]
    fn level_and_stream_labels() {
        let l = labels("pod");
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"faas_function":"figlet","namespace":"openfaas-fn","pod":"p","stream":"stderr","detected_level":"error"},"values":[["1","x"]]},
            {"stream":{"faas_function":"figlet","namespace":"openfaas-fn","pod":"p","detected_level":"unknown"},"values":[["2","y"]]}]}}"#;
        let d = decode_query_range(body, expect(&l)).unwrap();
        assert_eq!(d.entries[0].info.stream, Some(OutputStream::Stderr));
        assert_eq!(d.entries[0].info.level.as_deref(), Some("error"));
        assert_eq!(d.entries[1].info.level, None);
        assert_eq!(&*d.entries[1].info.instance, "p");
    }

    #[test]
    fn bad_answers_are_errors() {
        let l = labels("pod");
        for (body, what) in [
            (&b"not json"[..], "unexpected answer"),
            (br#"{"status":"error","data":{"resultType":"streams","result":[]}}"#, "status"),
            (br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#, "matrix"),
            (
                br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["x","y"]]}]}}"#,
                "timestamp",
            ),
            (
                br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["1"]]}]}}"#,
                "length",
            ),
        ] {
            let e = decode_query_range(body, expect(&l)).map(|_| ()).unwrap_err();
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn reads_label_values() {
        let body = include_bytes!("../../../tests/fixtures/loki/label_instance_values.json");
        assert_eq!(decode_label_values(body).unwrap(), ["figlet-1", "figlet-2"]);
        assert!(
            decode_label_values(b"{\"status\":\"success\"}\n")
                .unwrap()
                .is_empty()
        );
        assert!(
            decode_label_values(b"{\"status\":\"success\",\"data\":null}")
                .unwrap()
                .is_empty()
        );
        let e = decode_label_values(b"{\"status\":\"error\"}").unwrap_err();
        assert!(e.to_string().contains("error"), "{e}");
        assert!(decode_label_values(b"[]").is_err());
    }

    #[test]
    fn tail_frames_with_dropped_entries() {
        let l = labels("pod");
        let text = r#"{"streams":[{"stream":{"faas_function":"figlet","namespace":"openfaas-fn","pod":"p"},"values":[["5","live"]]}],"dropped_entries":[{"labels":{},"timestamp":"4"}]}"#;
        let d = decode_tail_frame(text, expect(&l)).unwrap();
        assert_eq!((d.entries.len(), d.dropped), (1, 1));
        let d = decode_tail_frame(r#"{"streams":[],"dropped_entries":null}"#, expect(&l)).unwrap();
        assert_eq!((d.entries.len(), d.dropped), (0, 0));
    }
}
