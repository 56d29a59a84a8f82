//! One log message and its NDJSON encoding, byte-for-byte what Go's `json.Encoder` writes for the
//! `faas-provider/logs.Message` struct.

use std::sync::Arc;

use futures::stream::BoxStream;

use crate::error::Result;
use crate::time::Timestamp;

/// The messages answering one request. An `Err` item after the first message aborts the
/// response (no terminating chunk); dropping the stream must cancel everything the backend
/// started for it (tasks, connections, file handles).
pub type LogStream = BoxStream<'static, Result<Message>>;

/// Which output of the process a line came from, where the backend knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl OutputStream {
    /// The wire name: `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// One log line of one function instance.
///
/// The first five fields are the Go `logs.Message`; `stream`, `level` and `source` are our
/// optional extensions, written after them, in that order, only when set (old clients ignore
/// unknown fields).
/// `name`, `namespace` and `instance` are shared (`Arc<str>`) because a stream repeats them on
/// every message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The function name.
    pub name: Arc<str>,
    /// The namespace actually queried.
    pub namespace: Arc<str>,
    /// The backend's instance id: pod name, process id, or Loki instance label.
    pub instance: Arc<str>,
    /// When the line was logged.
    pub timestamp: Timestamp,
    /// The line, without its trailing newline.
    pub text: String,
    /// `stdout` or `stderr`, when the backend knows.
    pub stream: Option<OutputStream>,
    /// A log level (`info`, `error`, …), when the backend knows.
    pub level: Option<Arc<str>>,
    /// What produced the message when it is not a line of the function's own output:
    /// [`Message::SOURCE_EVENT`] for a platform event (a Kubernetes Event of the function's
    /// pods). `None` (not written) for log lines.
    pub source: Option<&'static str>,
}

impl Message {
    /// The `source` of a platform event (e.g. a Kubernetes Event of the function's pod), so a
    /// client can tell events from log lines: `"source":"event"`.
    pub const SOURCE_EVENT: &'static str = "event";

    /// Appends this message as one JSON object and a `\n` to `out`.
    ///
    /// Field order and string escaping follow Go's `encoding/json` with its default HTML
    /// escaping (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes), so the bytes equal what the
    /// Go providers send. U+FFFD is written as `\ufffd`: that is what Go writes for each invalid
    /// byte of a line, which [`crate::text_from_bytes`] turned into U+FFFD (a U+FFFD that was
    /// already in the line, which Go would write raw, decodes to the same string).
    pub fn write_ndjson(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"name\":");
        write_json_string(&self.name, out);
        out.extend_from_slice(b",\"namespace\":");
        write_json_string(&self.namespace, out);
        out.extend_from_slice(b",\"instance\":");
        write_json_string(&self.instance, out);
        out.extend_from_slice(b",\"timestamp\":\"");
        self.timestamp.write_rfc3339_nano(out);
        out.extend_from_slice(b"\",\"text\":");
        write_json_string(&self.text, out);
        if let Some(stream) = self.stream {
            out.extend_from_slice(b",\"stream\":\"");
            out.extend_from_slice(stream.as_str().as_bytes());
            out.push(b'"');
        }
        if let Some(level) = &self.level {
            out.extend_from_slice(b",\"level\":");
            write_json_string(level, out);
        }
        if let Some(source) = self.source {
            out.extend_from_slice(b",\"source\":");
            write_json_string(source, out);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Strips one trailing `\n` (and a `\r` before it): `text` is the line without its newline.
pub fn trim_line_end(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that Go escapes: control characters, `"`, `\`, and (HTML-safe mode) `<`, `>`, `&`.
const fn needs_escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    // First byte of U+2028/U+2029 (E2 80 A8/A9) and of U+FFFD (EF BF BD); checked precisely
    // below.
    t[0xE2] = true;
    t[0xEF] = true;
    t
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !NEEDS_ESCAPE[c as usize] {
            i += 1;
            continue;
        }
        if c >= 0x80 {
            let escape: &[u8] = match (c, b.get(i + 1), b.get(i + 2)) {
                (0xE2, Some(0x80), Some(0xA8)) => b"\\u2028",
                (0xE2, Some(0x80), Some(0xA9)) => b"\\u2029",
                (0xEF, Some(0xBF), Some(0xBD)) => b"\\ufffd",
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.extend_from_slice(&b[start..i]);
            out.extend_from_slice(escape);
            i += 3;
            start = i;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xF) as usize]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(text: &str) -> Message {
        Message {
            name: "figlet".into(),
            namespace: "openfaas-fn".into(),
            instance: "figlet-7d9c-x2".into(),
            timestamp: Timestamp::from_unix_nanos(1_767_225_600_500_000_000),
            text: text.to_owned(),
            stream: None,
            level: None,
            source: None,
        }
    }

    fn line(m: &Message) -> String {
        let mut out = Vec::new();
        m.write_ndjson(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn writes_go_field_order_and_newline() {
        assert_eq!(
            line(&message("hello")),
            "{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"figlet-7d9c-x2\",\
             \"timestamp\":\"2026-01-01T00:00:00.5Z\",\"text\":\"hello\"}\n"
        );
    }

    #[test]
    fn escapes_like_go_json_encoder() {
        // Expected bytes are what Go 1.22+ json.Encoder writes for these strings.
        let cases = [
            ("a\"b\\c", r#""a\"b\\c""#),
            ("<b>&amp;</b>", r#""\u003cb\u003e\u0026amp;\u003c/b\u003e""#),
            ("tab\there\r\n", r#""tab\there\r\n""#),
            ("\u{0}\u{1}\u{8}\u{c}\u{1f}", r#""\u0000\u0001\b\f\u001f""#),
            ("line\u{2028}sep\u{2029}", r#""line\u2028sep\u2029""#),
            ("ünïcødé €", "\"ünïcødé €\""),
            ("\u{7f}", "\"\u{7f}\""),
            ("bad \u{FFFD} byte", r#""bad \ufffd byte""#),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            write_json_string(input, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), want, "input {input:?}");
        }
    }

    #[test]
    fn extra_fields_follow_the_go_fields() {
        let mut m = message("x");
        m.stream = Some(OutputStream::Stderr);
        m.level = Some("error".into());
        assert!(line(&m).ends_with(",\"text\":\"x\",\"stream\":\"stderr\",\"level\":\"error\"}\n"));
    }

    #[test]
    fn source_is_written_last_and_only_when_set() {
        let plain = message("x");
        assert!(!line(&plain).contains("source"), "{}", line(&plain));
        let mut event = message("[event] BackOff: Back-off restarting failed container");
        event.level = Some("warning".into());
        event.source = Some(Message::SOURCE_EVENT);
        assert_eq!(
            line(&event),
            "{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"figlet-7d9c-x2\",\
             \"timestamp\":\"2026-01-01T00:00:00.5Z\",\"text\":\"[event] BackOff: Back-off restarting \
             failed container\",\"level\":\"warning\",\"source\":\"event\"}\n"
        );
        // The five Go fields are byte-for-byte those of the same message without `source`.
        let mut without = event.clone();
        without.source = None;
        let (with, without) = (line(&event), line(&without));
        assert_eq!(
            with.strip_suffix(",\"source\":\"event\"}\n"),
            without.strip_suffix("}\n")
        );
        let v: serde_json::Value = serde_json::from_str(with.trim_end()).unwrap_or_default();
        assert_eq!(v["source"], "event");
        assert_eq!(v["level"], "warning");
    }

    #[test]
    fn trims_one_line_ending() {
        assert_eq!(trim_line_end("a\n"), "a");
        assert_eq!(trim_line_end("a\r\n"), "a");
        assert_eq!(trim_line_end("a\n\n"), "a\n");
        assert_eq!(trim_line_end("a"), "a");
    }

    /// Go's `json.Encoder` string encoding over raw bytes (golang/go
    /// `src/encoding/json/encode.go`, `appendString` with `escapeHTML`), written independently of
    /// ours: ASCII escapes, then `utf8.DecodeRune` for the rest, `\ufffd` for each byte it
    /// rejects, `\u2028`/`\u2029` escaped, anything else copied.
    fn go_append_string(s: &[u8]) -> Vec<u8> {
        let mut out = vec![b'"'];
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            if b < 0x80 {
                match b {
                    b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0C => out.extend_from_slice(b"\\f"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x00..=0x1F | b'<' | b'>' | b'&' => {
                        out.extend_from_slice(format!("\\u{b:04x}").as_bytes())
                    }
                    _ => out.push(b),
                }
                i += 1;
                continue;
            }
            let (rune, size) = crate::text::tests::go_decode_rune(&s[i..]);
            if rune == '\u{FFFD}' && size == 1 {
                out.extend_from_slice(b"\\ufffd");
            } else if rune == '\u{2028}' || rune == '\u{2029}' {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(rune)).as_bytes());
            } else {
                out.extend_from_slice(&s[i..i + size]);
            }
            i += size;
        }
        out.push(b'"');
        out
    }

    #[test]
    fn invalid_utf8_is_written_as_go_writes_it() {
        // A kubelet line cut inside a character (issue 10): Go writes one `\ufffd` per byte.
        let m = message(&crate::text_from_bytes(b"cut \xE6\x97 <here>"));
        assert_eq!(
            line(&m),
            "{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"figlet-7d9c-x2\",\
             \"timestamp\":\"2026-01-01T00:00:00.5Z\",\"text\":\"cut \\ufffd\\ufffd \\u003chere\\u003e\"}\n"
        );
    }

    /// Bytes biased towards what needs care: invalid and partial sequences, U+2028/U+2029, HTML
    /// and control characters.
    fn raw_line() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            prop::collection::vec(any::<u8>(), 1..4),
            prop::sample::select(vec![
                b"\xE2\x80\xA8".to_vec(),
                b"\xE2\x80\xA9".to_vec(),
                b"\xE2\x80".to_vec(),
                b"\xEF\xBF".to_vec(),
                b"\xE6\x97".to_vec(),
                b"\xED\xA0\x80".to_vec(),
                "日本 ✓".as_bytes().to_vec(),
                b"<&>\"\\\x00\x08\x0C\x1F\x7F".to_vec(),
            ]),
        ];
        prop::collection::vec(piece, 0..16).prop_map(|p| p.concat())
    }

    proptest! {
        /// Raw bytes through `text_from_bytes` and our encoder give Go's bytes exactly, except
        /// for a U+FFFD already present as valid UTF-8 (EF BF BD), which Go copies raw and we
        /// escape (same decoded string; see `write_ndjson`).
        #[test]
        fn raw_bytes_encode_like_go(bytes in raw_line()) {
            prop_assume!(!bytes.windows(3).any(|w| w == b"\xEF\xBF\xBD"));
            let mut ours = Vec::new();
            write_json_string(&crate::text_from_bytes(&bytes), &mut ours);
            prop_assert_eq!(ours, go_append_string(&bytes));
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_a_json_parser(text in "\\PC*|[\\x00-\\x7f]*") {
            let m = message(&text);
            let l = line(&m);
            prop_assert!(l.ends_with('\n'));
            prop_assert_eq!(l.matches('\n').count(), 1);
            let v: serde_json::Value = serde_json::from_str(l.trim_end()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v["text"].as_str(), Some(text.as_str()));
        }
    }
}
