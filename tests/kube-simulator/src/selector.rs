//! Label and field selectors, as the apiserver parses the forms a client of this simulator sends.
//!
//! Label selectors (`labels.Parse` in apimachinery): requirements separated by `,`, each `k`
//! (exists), `!k` (does not exist), `k=v`, `k==v` or `k!=v` (a missing label is "not equal").
//! Set-based forms (`k in (a,b)`) are not modelled. Field selectors (`fields.ParseSelector`):
//! `f=v`, `f==v` or `f!=v` only, on the fields the resource declares selectable; another field
//! is refused as the apiserver refuses it (`field label not supported: <f>`).

use std::collections::BTreeMap;

/// One parsed requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
}

/// A parsed label or field selector: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selector(Vec<Requirement>);

impl Selector {
    /// A label selector; `None` (or empty) selects everything.
    pub(crate) fn labels(text: Option<&str>) -> Self {
        let Some(text) = text else {
            return Self::default();
        };
        Self(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|term| {
                    if let Some((k, v)) = term.split_once("!=") {
                        Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
                    } else if let Some((k, v)) =
                        term.split_once("==").or_else(|| term.split_once('='))
                    {
                        Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
                    } else if let Some(k) = term.strip_prefix('!') {
                        Requirement::NotExists(k.trim().to_owned())
                    } else {
                        Requirement::Exists(term.to_owned())
                    }
                })
                .collect(),
        )
    }

    /// A field selector over the fields in `selectable`; `Err(message)` names the first field
    /// that is not (the apiserver's `400 field label not supported: <field>`).
    pub(crate) fn fields(text: Option<&str>, selectable: &[&str]) -> Result<Self, String> {
        let Some(text) = text else {
            return Ok(Self::default());
        };
        let mut out = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                ));
            };
            let (Requirement::Equals(field, _) | Requirement::NotEquals(field, _)) = &requirement
            else {
                continue;
            };
            if !selectable.contains(&field.as_str()) {
                return Err(format!("field label not supported: {field}"));
            }
            out.push(requirement);
        }
        Ok(Self(out))
    }

    /// Whether an object with these labels (or selectable fields) is selected.
    pub(crate) fn matches(&self, values: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => values.contains_key(k),
            Requirement::NotExists(k) => !values.contains_key(k),
            Requirement::Equals(k, v) => values.get(k) == Some(v),
            Requirement::NotEquals(k, v) => values.get(k) != Some(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_forms() {
        let figlet = map(&[("faas_function", "figlet")]);
        let none = map(&[("app", "x")]);
        let sel = |s: &str| Selector::labels(Some(s));
        assert!(sel("faas_function").matches(&figlet) && !sel("faas_function").matches(&none));
        assert!(!sel("!faas_function").matches(&figlet) && sel("!faas_function").matches(&none));
        assert!(sel("faas_function=figlet").matches(&figlet));
        assert!(sel("faas_function==figlet").matches(&figlet));
        assert!(!sel("faas_function=other").matches(&figlet));
        assert!(sel("faas_function!=other").matches(&figlet));
        assert!(sel("faas_function!=other").matches(&none));
        assert!(!sel("faas_function,!faas_function").matches(&figlet));
        assert!(!sel("faas_function,!faas_function").matches(&none));
        assert!(Selector::labels(None).matches(&none));
    }

    #[test]
    fn field_forms_and_refusals() {
        let fields = ["involvedObject.kind", "involvedObject.name"];
        let event = map(&[
            ("involvedObject.kind", "Pod"),
            ("involvedObject.name", "figlet-abc"),
        ]);
        let sel = |s: &str| Selector::fields(Some(s), &fields);
        assert_eq!(
            sel("involvedObject.kind=Pod,involvedObject.name=figlet-abc")
                .map(|s| s.matches(&event)),
            Ok(true)
        );
        assert_eq!(
            sel("involvedObject.name!=figlet-abc").map(|s| s.matches(&event)),
            Ok(false)
        );
        assert_eq!(
            sel("reason=BackOff"),
            Err("field label not supported: reason".to_owned())
        );
        assert!(sel("involvedObject.kind").is_err());
    }
}
