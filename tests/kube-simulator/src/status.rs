//! `Status` error bodies written as the kube-apiserver writes them: Go's field order (`kind`,
//! `apiVersion`, `metadata`, `status`, `message`, `reason`, `details`, `code`) and two-space
//! indentation, byte for byte like the captured `tests/fixtures/k8s/*.http` (the apiserver
//! indents its JSON for curl). `serde_json`'s maps sort their keys, so the order is kept here.

use serde_json::Value;

/// JSON with the field order of the Go struct it stands for.
#[derive(Clone, Debug)]
pub(crate) enum Ordered {
    /// A string, number, boolean or null (or any `Value` whose key order does not matter).
    Leaf(Value),
    /// An object, fields in order.
    Object(Vec<(&'static str, Ordered)>),
    /// An array.
    Array(Vec<Ordered>),
}

impl Ordered {
    /// A string leaf.
    pub(crate) fn text(s: &str) -> Self {
        Self::Leaf(Value::String(s.to_owned()))
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Self::Leaf(v) => out.push_str(&v.to_string()),
            Self::Object(fields) if fields.is_empty() => out.push_str("{}"),
            Self::Array(items) if items.is_empty() => out.push_str("[]"),
            Self::Object(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, indent + 2);
                    out.push_str(&Value::String((*key).to_owned()).to_string());
                    out.push_str(": ");
                    value.write(out, indent + 2);
                    if i + 1 < fields.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                pad(out, indent);
                out.push('}');
            }
            Self::Array(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 2);
                    item.write(out, indent + 2);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                pad(out, indent);
                out.push(']');
            }
        }
    }

    /// The indented text, without a trailing newline.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }
}

/// The body of a failure `Status` with `code`, `message`, and optionally `reason` and `details`
/// (`details` already in Go's order: `name`, `group`, `kind`, `causes`).
pub(crate) fn failure(
    code: u16,
    message: &str,
    reason: Option<&str>,
    details: Option<Ordered>,
) -> String {
    let mut fields = vec![
        ("kind", Ordered::text("Status")),
        ("apiVersion", Ordered::text("v1")),
        ("metadata", Ordered::Object(Vec::new())),
        ("status", Ordered::text("Failure")),
        ("message", Ordered::text(message)),
    ];
    if let Some(reason) = reason {
        fields.push(("reason", Ordered::text(reason)));
    }
    if let Some(details) = details {
        fields.push(("details", details));
    }
    fields.push(("code", Ordered::Leaf(Value::from(code))));
    Ordered::Object(fields).to_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_go_order_and_indentation() {
        let details = Ordered::Object(vec![
            ("name", Ordered::text("p")),
            (
                "causes",
                Ordered::Array(vec![Ordered::Object(vec![("reason", Ordered::text("R"))])]),
            ),
        ]);
        assert_eq!(
            failure(422, "m \"q\"", Some("Invalid"), Some(details)),
            "{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {},\n  \
             \"status\": \"Failure\",\n  \"message\": \"m \\\"q\\\"\",\n  \"reason\": \"Invalid\",\n  \
             \"details\": {\n    \"name\": \"p\",\n    \"causes\": [\n      {\n        \
             \"reason\": \"R\"\n      }\n    ]\n  },\n  \"code\": 422\n}"
        );
    }
}
