//! Loki 3's level discovery (`limits_config.discover_log_levels`, on by default in Loki 3): the
//! distributor gives every pushed line a `detected_level` in its structured metadata. Modelled
//! on Loki's `pkg/distributor/field_detection.go`, in its order:
//!
//! 1. a `detected_level` already in the line's metadata is kept, its spelling normalized;
//! 2. else the first of the level fields (`level`, `LEVEL`, `Level`, `Severity`, `severity`,
//!    `SEVERITY`, `lvl`, `LVL`, `Lvl`: the default `log_level_fields`) among the stream labels,
//!    then among the metadata, normalized (a value Loki does not know is kept as it is);
//! 3. else OpenTelemetry's `severity_number` metadata (1-4 trace … 21-24 fatal);
//! 4. else the line: a JSON object's first level field (two levels deep, document order), or
//!    a logfmt line's, mapped to Loki's names, else Loki's substring rules (`info`/`INFO`
//!    anywhere is `info`; `[error]`, `ERR:` … are `error`; …), else `unknown`.
//!
//! Loki's names are `trace`, `debug`, `info`, `warn`, `error`, `critical`, `fatal` and
//! `unknown`. Note that Loki's line rules differ from the provider's own (`ERROR failed` has no
//! bracket or colon, so Loki calls it `unknown`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

type Labels = BTreeMap<String, String>;

/// The structured metadata name of the discovered level.
pub(crate) const DETECTED_LEVEL: &str = "detected_level";

/// Loki's default `log_level_fields`, in the order they are looked for.
const LEVEL_FIELDS: [&str; 9] = [
    "level", "LEVEL", "Level", "Severity", "severity", "SEVERITY", "lvl", "LVL", "Lvl",
];

/// How deep into a JSON line a level field is looked for (`log_level_from_json_max_depth`).
const JSON_MAX_DEPTH: u32 = 2;

/// The `detected_level` to store with a line pushed with these labels and metadata, or `None`
/// to add nothing.
pub(crate) fn discover(labels: &Labels, metadata: &Labels, line: &str) -> Option<String> {
    if let Some(existing) = metadata.get(DETECTED_LEVEL) {
        return Some(normalize(existing));
    }
    let field = |set: &Labels| LEVEL_FIELDS.iter().find_map(|f| set.get(*f)).cloned();
    let level = match field(labels).or_else(|| field(metadata)) {
        Some(value) => normalize(&value),
        None => from_entry(metadata, line).to_owned(),
    };
    (!level.is_empty()).then_some(level)
}

/// Loki's name for a known spelling (ASCII case-insensitive), else `None`.
fn known(value: &str) -> Option<&'static str> {
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(value));
    Some(if is(&["trace", "trc"]) {
        "trace"
    } else if is(&["debug", "dbg"]) {
        "debug"
    } else if is(&["info", "inf", "information"]) {
        "info"
    } else if is(&["warn", "wrn", "warning"]) {
        "warn"
    } else if is(&["error", "err"]) {
        "error"
    } else if is(&["critical"]) {
        "critical"
    } else if is(&["fatal"]) {
        "fatal"
    } else {
        return None;
    })
}

/// Loki's `normalizeLogLevel`: a known spelling as Loki's name, anything else unchanged.
fn normalize(value: &str) -> String {
    known(value).map_or_else(|| value.to_owned(), str::to_owned)
}

/// Loki's `detectLogLevelFromLogEntry`.
fn from_entry(metadata: &Labels, line: &str) -> &'static str {
    if let Some(number) = metadata.get("severity_number").filter(|n| !n.is_empty()) {
        return match number.parse::<i64>() {
            Err(_) => "info",
            Ok(0) => "unknown",
            Ok(n) if n <= 4 => "trace",
            Ok(n) if n <= 8 => "debug",
            Ok(n) if n <= 12 => "info",
            Ok(n) if n <= 16 => "warn",
            Ok(n) if n <= 20 => "error",
            Ok(n) if n <= 24 => "fatal",
            Ok(_) => "unknown",
        };
    }
    let value = if is_json(line) {
        json_level(line)
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        return from_line(line);
    };
    value
        .as_deref()
        .and_then(known)
        .unwrap_or_else(|| from_line(line))
}

/// Loki's `isJSON`: the first and last non-blank characters are braces.
fn is_json(line: &str) -> bool {
    line.trim_start().starts_with('{') && line.trim_end().ends_with('}')
}

/// Loki's `detectLevelFromLogLine`: substrings, in this order.
fn from_line(line: &str) -> &'static str {
    let any = |needles: &[&str]| needles.iter().any(|n| line.contains(n));
    if any(&["info:", "INFO:", "[info]", "[INFO]", "info", "INFO"]) {
        "info"
    } else if any(&["err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]"]) {
        "error"
    } else if any(&[
        "warn:",
        "WARN:",
        "[warn]",
        "[WARN]",
        "[warning]",
        "[WARNING]",
        "warning",
        "WARNING",
    ]) {
        "warn"
    } else if any(&["critical:", "CRITICAL:", "[critical]", "[CRITICAL]"]) {
        "critical"
    } else if any(&["debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG"]) {
        "debug"
    } else {
        "unknown"
    }
}

/// The first level field of a logfmt line: the earliest of [`LEVEL_FIELDS`] that occurs, keys
/// compared case-insensitively (Loki's `getValueUsingLogfmtParser`).
fn logfmt_level(line: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let key_end = rest.find(['=', ' ', '\t']).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            if let Some(quoted) = after.strip_prefix('"') {
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                value.push(e);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                rest = &quoted[end.min(quoted.len())..];
            } else {
                let end = after.find([' ', '\t']).unwrap_or(after.len());
                value.push_str(&after[..end]);
                rest = &after[end..];
            }
        }
        if let Some(x) = LEVEL_FIELDS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(key))
            && best.as_ref().is_none_or(|(pos, _)| x < *pos)
        {
            if x == 0 {
                return Some(value);
            }
            best = Some((x, value));
        }
    }
    best.map(|(_, v)| v)
}

/// The first string value of a level field in a JSON object, in document order, looking into
/// nested objects up to [`JSON_MAX_DEPTH`] (Loki's `getLevelUsingJSONParser`). Keys compare
/// exactly.
fn json_level(line: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(line);
    match (Scan { depth: 0 }).deserialize(&mut de) {
        Ok(Found::Object(level)) => level,
        _ => None,
    }
}

/// What a scanned JSON value was.
enum Found {
    Str(String),
    Object(Option<String>),
    Other,
}

struct Scan {
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for Scan {
    type Value = Found;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        Ok(Found::Str(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = None;
        if self.depth >= JSON_MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Found::Object(None));
        }
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Scan {
                depth: self.depth + 1,
            })?;
            if found.is_some() {
                continue;
            }
            match value {
                Found::Str(s) if LEVEL_FIELDS.contains(&key.as_str()) => found = Some(s),
                Found::Object(Some(level)) => found = Some(level),
                _ => {}
            }
        }
        Ok(Found::Object(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn line(text: &str) -> Option<String> {
        discover(&Labels::new(), &Labels::new(), text)
    }

    #[test]
    fn lines_are_read_by_lokis_rules() {
        for (text, want) in [
            ("INFO start 0", "info"),
            ("ERROR failed 1", "unknown"),
            ("[ERROR] failed", "error"),
            ("ERR: failed", "error"),
            ("ERROR: information missing", "info"),
            ("a WARNING here", "warn"),
            ("DEBUG x", "debug"),
            ("[critical] disk", "critical"),
            ("Forking fprocess.", "unknown"),
            (r#"{"level":"WARNING","msg":"x"}"#, "warn"),
            (r#"{"msg":"x","ctx":{"lvl":"err"}}"#, "error"),
            (r#"{"a":{"b":{"level":"error"}},"msg":"info"}"#, "info"),
            (r#"{"Level":"fatal"}"#, "fatal"),
            (r#"{"LeVeL":"fatal"}"#, "unknown"),
            (r#"{"level":"notice"}"#, "unknown"),
            ("ts=1 lvl=dbg msg=x", "debug"),
            ("ts=1 LVL=err level=info", "info"),
            (r#"ts=1 level="warn" msg="a b""#, "warn"),
            ("ts=1 msg=hello", "unknown"),
            ("ts=1 msg=info", "info"),
        ] {
            assert_eq!(line(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn labels_and_metadata_come_first() {
        let none = Labels::new();
        let l = labels(&[("level", "WARNING")]);
        assert_eq!(discover(&l, &none, "[error] x").as_deref(), Some("warn"));
        let l = labels(&[("severity", "notice")]);
        assert_eq!(
            discover(&l, &none, "x").as_deref(),
            Some("notice"),
            "unknown spellings are kept"
        );
        let m = labels(&[("detected_level", "ERR")]);
        assert_eq!(discover(&none, &m, "INFO").as_deref(), Some("error"));
        let m = labels(&[("severity_number", "17")]);
        assert_eq!(discover(&none, &m, "INFO").as_deref(), Some("error"));
        let m = labels(&[("severity_number", "x")]);
        assert_eq!(discover(&none, &m, "[error]").as_deref(), Some("info"));
        let m = labels(&[("lvl", "debug")]);
        assert_eq!(discover(&none, &m, "INFO").as_deref(), Some("debug"));
    }
}
