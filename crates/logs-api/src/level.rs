//! Log levels on the syslog scale, and the one shared rule that tells a line's level from its
//! text (for backends without a native level, e.g. Kubernetes pod logs).
//!
//! The rule ([`detect`]) is documented in `docs/api.md` ("Levels"); change both together.

use std::fmt;

use crate::message::Message;

/// A severity on the syslog scale (RFC 5424), most severe first: `Emergency` is 0, `Debug` 7.
///
/// The order is the syslog number's: `a < b` means `a` is *more* severe than `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// 0, `emerg`: the system is unusable.
    Emergency,
    /// 1, `alert`: act immediately.
    Alert,
    /// 2, `crit`: critical conditions.
    Critical,
    /// 3, `err`: error conditions.
    Error,
    /// 4, `warning`: warning conditions.
    Warning,
    /// 5, `notice`: normal but significant.
    Notice,
    /// 6, `info`: informational.
    Info,
    /// 7, `debug`: debug-level messages.
    Debug,
}

impl Severity {
    /// Every severity, most severe first (index = syslog number).
    pub const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
        Severity::Debug,
    ];

    /// The longest name [`Severity::parse`] accepts (`informational`).
    const MAX_NAME: usize = 13;

    /// The severity a name stands for, ASCII case-insensitively: the syslog keywords `emerg`,
    /// `alert`, `crit`, `err`, `warning`, `notice`, `info`, `debug`, and the spellings common in
    /// logging libraries: `emergency`, `panic`, `pnc` (0); `critical`, `fatal`, `ftl` (2);
    /// `error` (3); `warn`, `wrn` (4); `informational`, `information`, `inf` (6); `trace`, `trc`,
    /// `dbg` (7). Anything else is `None`.
    pub fn parse(name: &str) -> Option<Severity> {
        Self::parse_bytes(name.as_bytes())
    }

    /// [`Severity::parse`] on bytes (a slice of a line that need not be valid UTF-8).
    pub fn parse_bytes(name: &[u8]) -> Option<Severity> {
        if name.is_empty() || name.len() > Self::MAX_NAME {
            return None;
        }
        let mut buf = [0u8; Self::MAX_NAME];
        let lower = &mut buf[..name.len()];
        for (out, c) in lower.iter_mut().zip(name) {
            *out = c.to_ascii_lowercase();
        }
        Some(match &*lower {
            b"emerg" | b"emergency" | b"panic" | b"pnc" => Severity::Emergency,
            b"alert" => Severity::Alert,
            b"crit" | b"critical" | b"fatal" | b"ftl" => Severity::Critical,
            b"err" | b"error" => Severity::Error,
            b"warning" | b"warn" | b"wrn" => Severity::Warning,
            b"notice" => Severity::Notice,
            b"info" | b"informational" | b"information" | b"inf" => Severity::Info,
            b"debug" | b"trace" | b"trc" | b"dbg" => Severity::Debug,
            _ => return None,
        })
    }

    /// The syslog keyword, as `journalctl` and syslog spell it: `emerg`, `alert`, `crit`, `err`,
    /// `warning`, `notice`, `info`, `debug`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "crit",
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }

    /// The syslog number, 0 (`emerg`) to 7 (`debug`).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The severity of syslog number `n` (journald's `PRIORITY`); `None` beyond 7.
    pub fn from_number(n: u8) -> Option<Severity> {
        Self::ALL.get(usize::from(n)).copied()
    }

    /// Whether a message of this severity passes `level=threshold`: it is `threshold` or worse.
    pub fn at_least(self, threshold: Severity) -> bool {
        self <= threshold
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The severity of `message` for the `level` filter: its `level` field when the backend set one
/// that [`Severity::parse`] knows, else what [`detect`] finds in its text, else `info` (a message
/// whose level cannot be told counts as `info`).
pub fn severity_of(message: &Message) -> Severity {
    message
        .level
        .as_deref()
        .and_then(Severity::parse)
        .or_else(|| detect(&message.text))
        .unwrap_or(Severity::Info)
}

/// Only this much of a line is looked at: a level sits near the start of a line, and a huge
/// line (a stack trace in one write) must cost no more than a short one.
pub const DETECT_SCAN_LIMIT: usize = 16 * 1024;

/// The level a log line states about itself, or `None` when it states none.
///
/// The rules, in order (only the first [`DETECT_SCAN_LIMIT`] bytes are looked at):
///
/// 1. **JSON**: a line whose first non-blank character is `{` and that reads as a JSON object
///    takes the first top-level `level`, `lvl` or `severity` key (ASCII case-insensitive) whose
///    value is a string [`Severity::parse`] knows (`{"level":"error",…}`); a JSON object without
///    one has no level (rules 2 and 3 are not tried on it). Values with escapes, numbers (e.g.
///    pino's `30`) and nested keys are not levels.
/// 2. **Leading token**, after at most two leading tokens that start with a digit (a timestamp
///    such as `2026-01-02T03:04:05Z` or `2026/01/02 03:04:05`): `[LEVEL]` or `LEVEL:` in any
///    case (`[error]`, `Error:`, Python's `ERROR:root:…`), or a bare upper-case `LEVEL` followed
///    by a blank or the end of the line (`ERROR connection refused`, zap's tab-separated
///    `ERROR`). A bare word in lower or mixed case is prose (`Error handling enabled`), not a
///    level.
/// 3. **logfmt**: the first `level=`, `lvl=` or `severity=` key (ASCII case-insensitive) at the
///    start of the line or after a blank, its value quoted or not (`level=error`,
///    `lvl="warn"`).
///
/// Level names are those of [`Severity::parse`].
pub fn detect(text: &str) -> Option<Severity> {
    let line = text.as_bytes();
    let line = &line[..line.len().min(DETECT_SCAN_LIMIT)];
    let start = line
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(line.len());
    let rest = &line[start..];
    if rest.first() == Some(&b'{')
        && let Json::Object(level) = json_level(rest)
    {
        return level;
    }
    leading_token(rest).or_else(|| logfmt_level(line))
}

/// Keys whose value is a level, in JSON and logfmt.
fn is_level_key(key: &[u8]) -> bool {
    key.eq_ignore_ascii_case(b"level")
        || key.eq_ignore_ascii_case(b"lvl")
        || key.eq_ignore_ascii_case(b"severity")
}

/// What a JSON scan found.
enum Json {
    /// The line is a JSON object (as far as it was scanned); its level, if it states one.
    Object(Option<Severity>),
    /// Not a JSON object: other rules apply.
    NotJson,
}

/// Scans the top level of the JSON object at the start of `b` (which begins with `{`) for a
/// level key, skipping over every other value without building anything.
fn json_level(b: &[u8]) -> Json {
    let mut i = 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b'}') => return Json::Object(None),
            Some(b'"') => {}
            _ => return Json::NotJson,
        }
        let Some((key, escaped, after)) = string_at(b, i) else {
            return Json::NotJson;
        };
        i = skip_ws(b, after);
        if b.get(i) != Some(&b':') {
            return Json::NotJson;
        }
        i = skip_ws(b, i + 1);
        if !escaped && is_level_key(key) && b.get(i) == Some(&b'"') {
            let Some((value, value_escaped, after)) = string_at(b, i) else {
                return Json::NotJson;
            };
            if !value_escaped && let Some(level) = Severity::parse_bytes(value) {
                return Json::Object(Some(level));
            }
            i = after;
        } else {
            match skip_value(b, i) {
                Some(after) => i = after,
                None => return Json::NotJson,
            }
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Json::Object(None),
            _ => return Json::NotJson,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// The JSON string starting at `b[i] == '"'`: its raw contents, whether it holds escapes, and
/// the index after its closing quote. `None` when it does not end within `b`.
fn string_at(b: &[u8], i: usize) -> Option<(&[u8], bool, usize)> {
    let start = i + 1;
    let mut j = start;
    let mut escaped = false;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'"' {
            return Some((&b[start..j], escaped, j + 1));
        }
        escaped = true;
        j += 2;
    }
}

/// The index after the JSON value starting at `b[i]`; `None` when it does not end within `b`.
/// Scalars are taken up to the next delimiter without checking them: a malformed scalar can
/// only make the object's level `None`, never invent one.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_at(b, i).map(|(_, _, after)| after),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = string_at(b, j)?.2;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))?;
            (len > 0).then_some(i + len)
        }
    }
}

/// Rule 2: a level token at the start of `b` (which starts with a non-blank), after at most
/// two digit-led tokens.
fn leading_token(b: &[u8]) -> Option<Severity> {
    let mut rest = b;
    for _ in 0..=2 {
        let end = rest
            .iter()
            .position(|c| matches!(c, b' ' | b'\t'))
            .unwrap_or(rest.len());
        let token = &rest[..end];
        if let Some(level) = level_token(token) {
            return Some(level);
        }
        if !token.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let next = rest[end..]
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t'))?;
        rest = &rest[end + next..];
    }
    None
}

/// One whitespace-delimited token as a level: `[name]`, `name:…`, or an upper-case `NAME`.
fn level_token(token: &[u8]) -> Option<Severity> {
    match token.first()? {
        b'[' => {
            let close = memchr::memchr(b']', token)?;
            Severity::parse_bytes(&token[1..close])
        }
        c if c.is_ascii_alphabetic() => {
            if let Some(colon) = memchr::memchr(b':', token) {
                return Severity::parse_bytes(&token[..colon]);
            }
            if token.iter().all(u8::is_ascii_uppercase) {
                return Severity::parse_bytes(token);
            }
            None
        }
        _ => None,
    }
}

/// Rule 3: the first logfmt level key in `b`.
fn logfmt_level(b: &[u8]) -> Option<Severity> {
    for eq in memchr::memchr_iter(b'=', b) {
        // The key is the run of letters before `=`, and must start the line or follow a blank.
        let key_start = b[..eq]
            .iter()
            .rposition(|c| !c.is_ascii_alphabetic())
            .map_or(0, |p| p + 1);
        if key_start > 0 && !matches!(b[key_start - 1], b' ' | b'\t') {
            continue;
        }
        if !is_level_key(&b[key_start..eq]) {
            continue;
        }
        let value = &b[eq + 1..];
        let value = match value.first() {
            Some(b'"') => {
                let close = memchr::memchr(b'"', &value[1..])?;
                &value[1..=close]
            }
            _ => {
                let end = value
                    .iter()
                    .position(|c| matches!(c, b' ' | b'\t'))
                    .unwrap_or(value.len());
                &value[..end]
            }
        };
        return Severity::parse_bytes(value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.name()), Some(s));
            assert_eq!(Severity::from_number(s.number()), Some(s));
            assert_eq!(s.to_string(), s.name());
        }
        for (name, want) in [
            ("ERROR", Error),
            ("Error", Error),
            ("warn", Warning),
            ("WARNING", Warning),
            ("fatal", Critical),
            ("critical", Critical),
            ("trace", Debug),
            ("emergency", Emergency),
            ("panic", Emergency),
            ("informational", Info),
            ("INF", Info),
            ("dbg", Debug),
        ] {
            assert_eq!(Severity::parse(name), Some(want), "{name}");
        }
        for bad in [
            "",
            "verbose",
            "3",
            "errors",
            "warnings",
            "info ",
            "informationals",
            "é",
        ] {
            assert_eq!(Severity::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Severity::from_number(8), None);
    }

    #[test]
    fn threshold_keeps_that_level_or_worse() {
        assert!(Error.at_least(Error));
        assert!(Critical.at_least(Error));
        assert!(!Warning.at_least(Error));
        assert!(Debug.at_least(Debug));
        assert!(Emergency.at_least(Debug));
    }

    #[test]
    fn json_objects() {
        for (line, want) in [
            (r#"{"level":"error","msg":"x"}"#, Some(Error)),
            (r#"  {"msg":"x", "lvl" : "WARN"}"#, Some(Warning)),
            (
                r#"{"time":1,"nested":{"level":"debug"},"severity":"ERROR"}"#,
                Some(Error),
            ),
            (
                r#"{"a":[1,{"level":"debug"},"]"],"Level":"info"}"#,
                Some(Info),
            ),
            (r#"{"msg":"level=error","x":null}"#, None),
            (r#"{"level":30,"msg":"pino"}"#, None),
            (r#"{"level":"verbose","severity":"warning"}"#, Some(Warning)),
            (r#"{"level":"err\u006fr"}"#, None),
            (r#"{"le\u0076el":"error"}"#, None),
            (r#"{"msg":"say \"level\":\"error\""}"#, None),
            (r#"{}"#, None),
            // Not JSON objects: the other rules apply.
            (r#"{"msg":"x""#, None),
            (r#"{"msg":"x" level=warn"#, Some(Warning)),
            // A line cut short after its level (longer than the scan limit) still has it.
            (r#"{"level":"error","msg":"#, Some(Error)),
            ("{ERROR} x", None),
            ("{not json} level=warn", Some(Warning)),
        ] {
            assert_eq!(detect(line), want, "{line}");
        }
    }

    #[test]
    fn leading_tokens() {
        for (line, want) in [
            ("ERROR connection refused", Some(Error)),
            ("ERROR", Some(Error)),
            ("WARN\tdisk almost full", Some(Warning)),
            ("[error] boom", Some(Error)),
            ("[Info] started", Some(Info)),
            ("Error: file not found", Some(Error)),
            ("warning: deprecated flag", Some(Warning)),
            ("ERROR:root:Python logging", Some(Error)),
            ("2026-01-02T03:04:05.123Z ERROR handler failed", Some(Error)),
            (
                "2026-01-02T03:04:05.123Z\tERROR\thandler failed",
                Some(Error),
            ),
            ("2026/01/02 03:04:05 WARNING: slow", Some(Warning)),
            ("2026-01-02 03:04:05,123 INFO started", Some(Info)),
            ("   DEBUG indented", Some(Debug)),
            ("FATAL out of memory", Some(Critical)),
            // Prose, not levels.
            ("Error handling enabled", None),
            ("error handling enabled", None),
            ("Info about the request", None),
            ("ERRORS: 3", None),
            ("Forking fprocess.", None),
            ("1 2 3 ERROR too far", None),
            ("the ERROR is late", None),
            ("", None),
            ("   ", None),
        ] {
            assert_eq!(detect(line), want, "{line:?}");
        }
    }

    #[test]
    fn logfmt() {
        for (line, want) in [
            (
                "time=2026-01-01T00:00:00Z level=error msg=boom",
                Some(Error),
            ),
            ("level=warn", Some(Warning)),
            (r#"ts=1 lvl="debug" msg="x""#, Some(Debug)),
            ("t=1 LEVEL=INFO", Some(Info)),
            ("t=1 severity=crit", Some(Critical)),
            ("t=1 loglevel=error", None),
            ("t=1 msg=x,level=error", None),
            ("t=1 level=verbose", None),
            ("t=1 level=", None),
            (r#"t=1 level="error"#, None),
            ("no equals sign here", None),
        ] {
            assert_eq!(detect(line), want, "{line:?}");
        }
    }

    #[test]
    fn only_the_start_of_a_huge_line_is_scanned() {
        let mut line = "x ".repeat(DETECT_SCAN_LIMIT);
        line.push_str("level=error");
        assert_eq!(detect(&line), None);
        let line = format!("level=error {}", "x".repeat(10 * DETECT_SCAN_LIMIT));
        assert_eq!(detect(&line), Some(Error));
    }

    #[test]
    fn the_message_level_field_wins_then_detection_then_info() {
        let mut m = Message {
            name: "f".into(),
            namespace: "ns".into(),
            instance: "i".into(),
            timestamp: crate::Timestamp::UNKNOWN,
            text: "ERROR boom".into(),
            stream: None,
            level: Some("warning".into()),
            source: None,
        };
        assert_eq!(severity_of(&m), Warning);
        m.level = Some("unknown".into());
        assert_eq!(severity_of(&m), Error);
        m.level = None;
        m.text = "hello".into();
        assert_eq!(severity_of(&m), Info);
    }

    proptest! {
        /// On any JSON object, the scan agrees with a real JSON parser about the top-level
        /// level key.
        #[test]
        fn json_scan_agrees_with_serde_json(
            entries in proptest::collection::vec(
                (prop_oneof![Just("level".to_owned()), Just("msg".to_owned()), Just("Severity".to_owned()), "[a-z]{1,6}"],
                 prop_oneof![
                    Just(serde_json::json!("error")),
                    Just(serde_json::json!("WARN")),
                    Just(serde_json::json!("info")),
                    Just(serde_json::json!(30)),
                    Just(serde_json::json!({"level": "debug", "a": [1, "}"]})),
                    Just(serde_json::json!(["level", "error"])),
                    Just(serde_json::json!(null)),
                    "\\PC{0,12}".prop_map(serde_json::Value::from),
                 ]),
                0..6),
        ) {
            let mut line = String::from("{");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 { line.push(','); }
                line.push_str(&serde_json::Value::from(k.as_str()).to_string());
                line.push(':');
                line.push_str(&v.to_string());
            }
            line.push('}');
            let want = entries.iter().find_map(|(k, v)| {
                if !is_level_key(k.as_bytes()) { return None; }
                let s = v.as_str()?;
                // The scan does not decode escapes: a value that needs one is no level.
                if serde_json::Value::from(s).to_string().contains('\\') { return None; }
                Severity::parse(s)
            });
            prop_assert_eq!(detect(&line), want, "{}", line);
        }

        /// Detection never panics and never reads past the scan limit, whatever the bytes.
        #[test]
        fn any_text_is_safe(text in "\\PC{0,64}|[{}\\[\\]\":,= a-zA-Z0-9\\\\]{0,64}") {
            let _ = detect(&text);
        }
    }
}
