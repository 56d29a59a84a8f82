//! The LogQL query for a request, built so that no value can change its meaning: a stream
//! selector of equality matchers, then the request's filters as a pipeline ([`Plan`]).
//!
//! Values reach us already validated as DNS-1123 names by the core; the builder still escapes
//! every value as a LogQL double-quoted string (Go `strconv.Unquote` rules, [`push_quoted`])
//! and only ever emits equality matchers for them, so even a value that slipped past
//! validation could only ever select itself. Filter values (`grep`, `regexp`) are escaped the
//! same way, and a `regexp` is rewritten into RE2 by [`crate::re2`] rather than passed on.
//! Label names come from configuration and are checked at start-up.

use logs_api::level::Severity;
use logs_api::{Filter, OutputStream, Request};

use crate::re2;

/// The labels that carry function, namespace and instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelNames {
    /// Function name label (`faas_function`).
    pub function: String,
    /// Namespace label (`namespace`).
    pub namespace: String,
    /// Instance label (`pod`).
    pub instance: String,
}

/// Whether `name` is a valid Prometheus/Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `value` as a LogQL double-quoted string literal.
pub fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Every other control character as a \u escape, so the query stays one printable
            // line (control characters are all in the BMP).
            c if c.is_control() => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The stream selector for `request`: `{function="name",namespace="ns"}`, plus the instance
/// label when the request names an instance.
pub fn selector(labels: &LabelNames, request: &Request) -> String {
    selector_for(
        labels,
        &request.name,
        &request.namespace,
        request.instance.as_deref(),
    )
}

/// [`selector`] from plain values.
pub fn selector_for(
    labels: &LabelNames,
    name: &str,
    namespace: &str,
    instance: Option<&str>,
) -> String {
    let mut q = String::with_capacity(64);
    q.push('{');
    q.push_str(&labels.function);
    q.push('=');
    push_quoted(&mut q, name);
    q.push(',');
    q.push_str(&labels.namespace);
    q.push('=');
    push_quoted(&mut q, namespace);
    if let Some(instance) = instance {
        q.push(',');
        q.push_str(&labels.instance);
        q.push('=');
        push_quoted(&mut q, instance);
    }
    q.push('}');
    q
}

/// The label Loki 3 puts a line's level in (structured metadata, `discover_log_levels`).
pub const DETECTED_LEVEL: &str = "detected_level";

/// The stream label a shipper puts `stdout`/`stderr` in (Promtail's and Alloy's CRI stage).
pub const STREAM: &str = "stream";

/// Every spelling `logs_api::level::Severity::parse` reads (ASCII case-insensitively), with its
/// severity: what a `detected_level` may say. A spelling missing here only narrows Loki's
/// answer less; a wrong severity would drop lines, which the tests rule out.
pub const LEVEL_SPELLINGS: [(&str, Severity); 23] = [
    ("emerg", Severity::Emergency),
    ("emergency", Severity::Emergency),
    ("panic", Severity::Emergency),
    ("pnc", Severity::Emergency),
    ("alert", Severity::Alert),
    ("crit", Severity::Critical),
    ("critical", Severity::Critical),
    ("fatal", Severity::Critical),
    ("ftl", Severity::Critical),
    ("err", Severity::Error),
    ("error", Severity::Error),
    ("warning", Severity::Warning),
    ("warn", Severity::Warning),
    ("wrn", Severity::Warning),
    ("notice", Severity::Notice),
    ("info", Severity::Info),
    ("informational", Severity::Info),
    ("information", Severity::Info),
    ("inf", Severity::Info),
    ("debug", Severity::Debug),
    ("trace", Severity::Debug),
    ("trc", Severity::Debug),
    ("dbg", Severity::Debug),
];

/// What of a request's [`Filter`] Loki is asked to do. Loki's part always keeps at least the
/// lines the provider's own filter keeps (the provider applies the whole filter to what comes
/// back), and, when [`Plan::exact`], no others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// `|= "…"`: the `grep` text (not pushed when it holds U+FFFD, which in a line from Loki
    /// stands for bytes that were not UTF-8 and that Loki's byte comparison would not find).
    pub grep: Option<String>,
    /// `|~ "…"`: the `regexp` in RE2 syntax ([`crate::re2`]).
    pub regexp: Option<String>,
    /// `stream`: a selector matcher `stream=~"stdout|"` (streams labelled with the other stream
    /// are not read at all) and a label filter `| stream="stdout"` (which also sees a `stream`
    /// in structured metadata, as the provider does when no stream label exists).
    pub stream: Option<OutputStream>,
    /// `| detected_level!~"(?i:…)"`: the spellings of the levels below the requested one. A line
    /// without a `detected_level` (or with `unknown`) passes, as its level is told from its text
    /// by the provider.
    pub level_below: Option<String>,
    /// Loki keeps exactly the lines the provider's filter keeps, so its counts can be trusted
    /// (one backward query answers `tail`).
    pub exact: bool,
}

impl Plan {
    /// What of `filter` can be pushed down.
    pub fn new(filter: &Filter) -> Plan {
        let grep = filter
            .grep
            .clone()
            .filter(|g| !g.contains(char::REPLACEMENT_CHARACTER));
        let regexp = filter.regexp.as_ref().map(|r| re2::translate(r.as_str()));
        let level_below = filter.level.and_then(|threshold| {
            let below: Vec<&str> = LEVEL_SPELLINGS
                .iter()
                .filter(|(_, s)| !s.at_least(threshold))
                .map(|(name, _)| *name)
                .collect();
            (!below.is_empty()).then(|| format!("(?i:{})", below.join("|")))
        });
        Plan {
            exact: grep.is_some() == filter.grep.is_some()
                && regexp
                    .as_ref()
                    .is_none_or(|t| t.as_ref().is_some_and(|t| t.exact))
                && filter.level.is_none(),
            grep,
            regexp: regexp.flatten().map(|t| t.pattern),
            stream: filter.stream,
            level_below,
        }
    }

    /// Stops pushing the `regexp` (Loki refused it): the provider alone applies it.
    pub fn drop_regexp(&mut self) {
        if self.regexp.take().is_some() {
            self.exact = false;
        }
    }
}

fn stream_name(stream: OutputStream) -> &'static str {
    match stream {
        OutputStream::Stdout => "stdout",
        OutputStream::Stderr => "stderr",
    }
}

/// The log query for `request` with `plan`'s filters: the selector, then
/// ` |= "grep" |~ "re2" | stream="…" | detected_level!~"…"` for what the plan has.
pub fn log_query(labels: &LabelNames, request: &Request, plan: &Plan) -> String {
    let mut q = selector(labels, request);
    if let Some(stream) = plan.stream {
        q.pop();
        q.push(',');
        q.push_str(STREAM);
        q.push_str("=~");
        push_quoted(&mut q, &format!("{}|", stream_name(stream)));
        q.push('}');
    }
    if let Some(grep) = &plan.grep {
        q.push_str(" |= ");
        push_quoted(&mut q, grep);
    }
    if let Some(regexp) = &plan.regexp {
        q.push_str(" |~ ");
        push_quoted(&mut q, regexp);
    }
    if let Some(stream) = plan.stream {
        q.push_str(" | ");
        q.push_str(STREAM);
        q.push('=');
        push_quoted(&mut q, stream_name(stream));
    }
    if let Some(below) = &plan.level_below {
        q.push_str(" | ");
        q.push_str(DETECTED_LEVEL);
        q.push_str("!~");
        push_quoted(&mut q, below);
    }
    q
}

/// `{namespace="ns"}`: every stream of a namespace (for the functions listing).
pub fn namespace_only_selector(labels: &LabelNames, namespace: &str) -> String {
    let mut q = String::with_capacity(32);
    q.push('{');
    q.push_str(&labels.namespace);
    q.push('=');
    push_quoted(&mut q, namespace);
    q.push('}');
    q
}

/// `{namespace="ns",function=""}`: the streams of a namespace **without** a function label,
/// whose function-label values are none. The functions listing asks for them to tell a Loki
/// that honours the label-values `query` (it answers nothing) from one that ignores it (Loki
/// before 2.9 answers every namespace's values).
pub fn no_function_selector(labels: &LabelNames, namespace: &str) -> String {
    let mut q = namespace_only_selector(labels, namespace);
    q.pop();
    q.push(',');
    q.push_str(&labels.function);
    q.push_str("=\"\"}");
    q
}

/// The selector of a namespace's shared live reader: every function's lines in `namespace`,
/// `{function=~".+",namespace="ns"}`. Streams without the function label are not functions'
/// and stay out.
pub fn namespace_selector(labels: &LabelNames, namespace: &str) -> String {
    let mut q = String::with_capacity(64);
    q.push('{');
    q.push_str(&labels.function);
    q.push_str("=~\".+\",");
    q.push_str(&labels.namespace);
    q.push('=');
    push_quoted(&mut q, namespace);
    q.push('}');
    q
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names() -> LabelNames {
        LabelNames {
            function: "faas_function".into(),
            namespace: "namespace".into(),
            instance: "pod".into(),
        }
    }

    /// An independent reading of a selector, by the LogQL lexer's rules: `{`, then
    /// `name op "go-quoted string"` separated by `,`, then `}` and nothing after it.
    fn parse(q: &str) -> Option<Vec<(String, String, String)>> {
        let mut rest = q.strip_prefix('{')?;
        let mut out = Vec::new();
        loop {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            let (name, after) = rest.split_at(end);
            let op = ["=~", "!~", "!=", "="]
                .into_iter()
                .find(|op| after.starts_with(op))?;
            let after = &after[op.len()..];
            let mut chars = after.strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'u' => {
                            let hex: String =
                                (0..4).filter_map(|_| chars.next()).map(|p| p.1).collect();
                            value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        _ => return None,
                    },
                    c if c.is_control() => return None,
                    c => value.push(c),
                }
            };
            out.push((name.to_owned(), op.to_owned(), value));
            rest = &after[1 + close + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                return (rest == "}").then_some(out);
            }
        }
    }

    #[test]
    fn plain_selector() {
        let q = selector_for(&names(), "figlet", "openfaas-fn", None);
        assert_eq!(q, r#"{faas_function="figlet",namespace="openfaas-fn"}"#);
        let q = selector_for(&names(), "figlet", "openfaas-fn", Some("figlet-7d9-x2"));
        assert_eq!(
            q,
            r#"{faas_function="figlet",namespace="openfaas-fn",pod="figlet-7d9-x2"}"#
        );
    }

    #[test]
    fn namespace_selector_reads_every_function_of_one_namespace() {
        let q = namespace_selector(&names(), "openfaas-fn");
        assert_eq!(q, r#"{faas_function=~".+",namespace="openfaas-fn"}"#);
        let q = namespace_selector(&names(), "x\",namespace=~\".*");
        assert_eq!(
            parse(&q).unwrap(),
            [
                ("faas_function".to_owned(), "=~".to_owned(), ".+".to_owned()),
                (
                    "namespace".to_owned(),
                    "=".to_owned(),
                    "x\",namespace=~\".*".to_owned()
                )
            ]
        );
    }

    #[test]
    fn hostile_values_are_escaped() {
        let q = selector_for(&names(), "a\"} or {namespace=~\".+", "x\\", Some("\n\u{7}"));
        assert_eq!(
            q,
            r#"{faas_function="a\"} or {namespace=~\".+",namespace="x\\",pod="\n\u0007"}"#
        );
        let parsed = parse(&q).unwrap();
        assert_eq!(parsed[0].2, "a\"} or {namespace=~\".+");
        assert_eq!(parsed.len(), 3);
    }

    fn filter(level: Option<Severity>, grep: Option<&str>, regexp: Option<&str>) -> Filter {
        Filter {
            level,
            grep: grep.map(str::to_owned),
            regexp: regexp.map(|r| Filter::compile_regexp(r).unwrap()),
            ..Filter::default()
        }
    }

    fn request(filter: Filter) -> Request {
        let mut r = Request::new("openfaas-fn", "figlet");
        r.filter = filter;
        r
    }

    #[test]
    fn filters_become_a_pipeline() {
        let mut f = filter(Some(Severity::Warning), Some(r#"a "b" \c"#), Some(r"^x\.y"));
        f.stream = Some(OutputStream::Stderr);
        let plan = Plan::new(&f);
        assert!(
            !plan.exact,
            "a level filter is never exact: the text may decide"
        );
        assert_eq!(
            log_query(&names(), &request(f), &plan),
            r#"{faas_function="figlet",namespace="openfaas-fn",stream=~"stderr|"} |= "a \"b\" \\c" |~ "\\Ax\\x{2e}y" | stream="stderr" | detected_level!~"(?i:notice|info|informational|information|inf|debug|trace|trc|dbg)""#
        );
        let mut r = request(filter(None, Some("x"), None));
        r.instance = Some("figlet-1".into());
        let plan = Plan::new(&r.filter);
        assert!(plan.exact);
        assert_eq!(
            log_query(&names(), &r, &plan),
            r#"{faas_function="figlet",namespace="openfaas-fn",pod="figlet-1"} |= "x""#
        );
        let r = request(Filter::default());
        assert_eq!(
            log_query(&names(), &r, &Plan::new(&r.filter)),
            selector(&names(), &r)
        );
    }

    #[test]
    fn what_loki_cannot_do_exactly_is_left_to_the_provider() {
        // debug keeps everything: nothing to push, but the level is still the provider's.
        let plan = Plan::new(&filter(Some(Severity::Debug), None, None));
        assert_eq!(plan.level_below, None);
        assert!(!plan.exact);
        let plan = Plan::new(&filter(Some(Severity::Emergency), None, None));
        assert_eq!(
            plan.level_below
                .as_deref()
                .map(|b| b.starts_with("(?i:alert|crit|")),
            Some(true)
        );
        // U+FFFD stands for bytes Loki has as they were.
        let plan = Plan::new(&filter(None, Some("a\u{fffd}"), None));
        assert_eq!((plan.grep, plan.exact), (None, false));
        // A regexp that keeps every line is not sent; one Go reads differently is widened.
        let plan = Plan::new(&filter(None, None, Some("x*")));
        assert_eq!((plan.regexp, plan.exact), (None, false));
        let mut plan = Plan::new(&filter(None, None, Some(r"\d")));
        assert_eq!(
            (plan.regexp.as_deref(), plan.exact),
            (Some("(?s:.)"), false)
        );
        let mut exact = Plan::new(&filter(None, None, Some("abc")));
        assert!(exact.exact);
        exact.drop_regexp();
        plan.drop_regexp();
        assert_eq!((exact.regexp, exact.exact), (None, false));
        assert_eq!(plan.regexp, None);
    }

    #[test]
    fn level_spellings_are_the_cores() {
        for (name, severity) in LEVEL_SPELLINGS {
            assert_eq!(Severity::parse(name), Some(severity), "{name}");
            // Go's (?i) also folds k with the Kelvin sign and s with the long s, which
            // `Severity::parse` does not: no spelling may contain them.
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() && b != b'k' && b != b's'),
                "{name}"
            );
        }
        for severity in Severity::ALL {
            assert!(
                LEVEL_SPELLINGS
                    .iter()
                    .any(|(n, s)| *s == severity && *n == severity.name()),
                "{severity}"
            );
        }
    }

    #[test]
    fn label_names() {
        for good in ["pod", "_x", "faas_function", "A9"] {
            assert!(is_label_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "ä", "a}"] {
            assert!(!is_label_name(bad), "{bad}");
        }
    }

    proptest! {
        /// Whatever the values, the selector reads back as exactly the intended equality
        /// matchers: no extra matcher, no regex, no pipeline, no other value.
        #[test]
        fn any_value_selects_only_itself(
            name in any::<String>(),
            namespace in any::<String>(),
            instance in proptest::option::of(any::<String>()),
            hostile in proptest::sample::select(vec!["\"", "\\", "}", "\",namespace=~\".*", "`", "|= \"x\"", "\u{0}", "\u{2028}"]),
        ) {
            let name = format!("{name}{hostile}");
            let q = selector_for(&names(), &name, &namespace, instance.as_deref());
            let parsed = parse(&q).unwrap_or_else(|| panic!("unparseable: {q}"));
            let mut want = vec![
                ("faas_function".to_owned(), "=".to_owned(), name.clone()),
                ("namespace".to_owned(), "=".to_owned(), namespace.clone()),
            ];
            if let Some(i) = &instance {
                want.push(("pod".to_owned(), "=".to_owned(), i.clone()));
            }
            prop_assert_eq!(parsed, want);
            prop_assert!(!q.contains('\n'));
        }
    }
}
