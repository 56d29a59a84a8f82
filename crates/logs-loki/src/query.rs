//! The LogQL stream selector for a request, built so that no value can change its meaning.
//!
//! Values reach us already validated as DNS-1123 names by the core; the builder still escapes
//! every value as a LogQL double-quoted string (Go `strconv.Unquote` rules) and only ever emits
//! equality matchers, so even a value that slipped past validation could only ever select
//! itself. Label names come from configuration and are checked at start-up.

use logs_api::Request;

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
