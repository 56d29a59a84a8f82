//! The log request: parsed from the query string exactly as the contract says, then checked
//! against the namespace policy so no request can reach a namespace it may not read.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::Error;
use crate::filter::{Capabilities, Filter};
use crate::level::Severity;
use crate::message::OutputStream;
use crate::time::Timestamp;

/// A validated request for one function's logs.
///
/// Every string in it is a DNS-1123 label or subdomain (see [`is_dns1123_label`]), so a backend
/// may put it into a query, selector or match without any way to change that query's meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The function name (a DNS-1123 label).
    pub name: Arc<str>,
    /// The namespace to read: the request's, or the provider's default. Always allowed.
    pub namespace: Arc<str>,
    /// Only this instance (pod name, process id, instance label), when set.
    pub instance: Option<Arc<str>>,
    /// Only messages at or after this time.
    pub since: Option<Timestamp>,
    /// Only the last N messages (after `since`), counted across all instances. `None`: no limit.
    pub tail: Option<usize>,
    /// Keep the stream open and send new messages as they arrive.
    pub follow: bool,
    /// `level`, `stream`, `grep`, `regexp`: which messages to keep, before `tail` and while
    /// following. Empty when none is set.
    pub filter: Filter,
    /// `events=true|false`: whether to merge the platform's events (Kubernetes Events of the
    /// function's pods) into the stream; `None` leaves it to the provider's default. Backends
    /// without platform events ignore it.
    pub events: Option<bool>,
}

impl Request {
    /// A request for every message of `name` in `namespace`, no filters, no follow.
    pub fn new(namespace: &str, name: &str) -> Self {
        Request {
            name: name.into(),
            namespace: namespace.into(),
            instance: None,
            since: None,
            tail: None,
            follow: false,
            filter: Filter::default(),
            events: None,
        }
    }

    /// Whether `message_instance` passes the instance filter.
    pub fn wants_instance(&self, message_instance: &str) -> bool {
        self.instance
            .as_deref()
            .is_none_or(|want| want == message_instance)
    }

    /// Whether a message at `ts` passes the `since` filter.
    pub fn wants_time(&self, ts: Timestamp) -> bool {
        self.since.is_none_or(|since| ts >= since)
    }
}

/// Which namespaces requests may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespacePolicy {
    /// Used when the request's `namespace` is empty or missing.
    pub default: String,
    /// The namespaces a request may name; `None` means any valid namespace.
    /// `kube-system` is refused whatever this says.
    pub allowed: Option<BTreeSet<String>>,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        NamespacePolicy::only("openfaas-fn")
    }
}

/// The namespace no request may ever read.
pub const FORBIDDEN_NAMESPACE: &str = "kube-system";

impl NamespacePolicy {
    /// Allows just `namespace`, which is also the default.
    pub fn only(namespace: &str) -> Self {
        NamespacePolicy {
            default: namespace.to_owned(),
            allowed: Some(BTreeSet::from([namespace.to_owned()])),
        }
    }

    /// Whether a request may read `namespace`.
    pub fn allows(&self, namespace: &str) -> bool {
        namespace != FORBIDDEN_NAMESPACE
            && is_dns1123_label(namespace)
            && self
                .allowed
                .as_ref()
                .is_none_or(|set| set.contains(namespace))
    }
}

/// Kubernetes DNS-1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Kubernetes DNS-1123 subdomain: up to 253 characters, dot-separated DNS-1123 labels. Pod
/// names, process ids and the usual instance labels are all of this form.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Go's `strconv.ParseBool`; anything else is `false`, never an error (the Go handler
/// ignores the parse error).
fn parse_follow(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Go's `strconv.ParseBool`, strictly: `None` for anything outside its set.
fn parse_bool_strict(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The namespace a request reads: `namespace`, or the policy's default when it is empty;
/// refused when it is not a DNS-1123 label or not allowed. Shared by `/system/logs` and the
/// functions listing, so both answer a namespace the same way.
pub(crate) fn resolve_namespace(
    namespace: &str,
    policy: &NamespacePolicy,
) -> Result<String, Error> {
    let namespace = if namespace.is_empty() {
        policy.default.as_str()
    } else {
        namespace
    };
    if !is_dns1123_label(namespace) {
        return Err(Error::InvalidRequest(format!(
            "could not parse the log request: namespace {namespace:?} is not a valid namespace"
        )));
    }
    if !policy.allows(namespace) {
        return Err(Error::InvalidRequest(format!(
            "could not parse the log request: namespace {namespace:?} is not allowed"
        )));
    }
    Ok(namespace.to_owned())
}

/// The raw values of the filter parameters.
#[derive(Default)]
struct RawFilter {
    level: String,
    stream: String,
    grep: String,
    regexp: String,
}

impl RawFilter {
    /// Parses the values; empty ones are "not set".
    fn parse(self) -> Result<Filter, Error> {
        let invalid = |msg: String| Err(Error::InvalidRequest(msg));
        let level = if self.level.is_empty() {
            None
        } else {
            match Severity::parse(&self.level) {
                Some(l) => Some(l),
                None => {
                    return invalid(format!(
                        "could not parse the log request: level {:?} is not a log level \
                         (emerg, alert, crit, err or error, warning or warn, notice, info, debug)",
                        self.level
                    ));
                }
            }
        };
        let stream = match self.stream.as_str() {
            "" => None,
            "stdout" => Some(OutputStream::Stdout),
            "stderr" => Some(OutputStream::Stderr),
            other => {
                return invalid(format!(
                    "could not parse the log request: stream {other:?} is not stdout or stderr"
                ));
            }
        };
        let regexp = if self.regexp.is_empty() {
            None
        } else {
            match Filter::compile_regexp(&self.regexp) {
                Ok(r) => Some(r),
                Err(why) => {
                    return invalid(format!(
                        "could not parse the log request: regexp {:?} {why}",
                        self.regexp
                    ));
                }
            }
        };
        Ok(Filter {
            level,
            stream,
            grep: (!self.grep.is_empty()).then_some(self.grep),
            regexp,
        })
    }
}

/// Parses and validates a raw query string (without the `?`).
///
/// A repeated parameter takes its last value. Errors are [`Error::InvalidRequest`] with a
/// message saying which parameter is wrong and why.
pub fn parse_query(query: &str, policy: &NamespacePolicy) -> Result<Request, Error> {
    let mut name = String::new();
    let mut namespace = String::new();
    let mut instance = String::new();
    let mut since = String::new();
    let mut tail = String::new();
    let mut follow = String::new();
    let mut events = String::new();
    let mut filter = RawFilter::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*key {
            "name" => &mut name,
            "namespace" => &mut namespace,
            "instance" => &mut instance,
            "since" => &mut since,
            "tail" => &mut tail,
            "follow" => &mut follow,
            "events" => &mut events,
            "level" => &mut filter.level,
            "stream" => &mut filter.stream,
            "grep" => &mut filter.grep,
            "regexp" => &mut filter.regexp,
            _ => continue,
        };
        *slot = value.into_owned();
    }
    let invalid = |msg: String| Err(Error::InvalidRequest(msg));

    if name.is_empty() {
        return invalid("could not parse the log request: name is required".into());
    }
    if !is_dns1123_label(&name) {
        return invalid(format!(
            "could not parse the log request: name {name:?} is not a valid function name \
             (lower case letters, digits and '-', at most 63)"
        ));
    }
    let namespace = resolve_namespace(&namespace, policy)?;
    let instance = if instance.is_empty() {
        None
    } else if is_dns1123_subdomain(&instance) {
        Some(Arc::from(instance))
    } else {
        return invalid(format!(
            "could not parse the log request: instance {instance:?} is not a valid instance id"
        ));
    };
    let tail = if tail.is_empty() {
        None
    } else {
        // Go strconv.Atoi: optional sign, decimal digits, no spaces, must fit in an int64.
        match tail.parse::<i64>() {
            Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => None,
            Err(_) => {
                return invalid(format!(
                    "could not parse the log request: tail {tail:?} is not an integer"
                ));
            }
        }
    };
    let since = if since.is_empty() {
        None
    } else {
        match Timestamp::parse_rfc3339(&since) {
            Ok(ts) => Some(ts),
            Err(e) => {
                return invalid(format!(
                    "could not parse the log request: since {since:?} is {e}"
                ));
            }
        }
    };
    let events = if events.is_empty() {
        None
    } else {
        match parse_bool_strict(&events) {
            Some(b) => Some(b),
            None => {
                return invalid(format!(
                    "could not parse the log request: events {events:?} is not a boolean \
                     (true or false)"
                ));
            }
        }
    };
    Ok(Request {
        name: Arc::from(name),
        namespace: Arc::from(namespace),
        instance,
        since,
        tail,
        follow: parse_follow(&follow),
        filter: filter.parse()?,
        events,
    })
}

/// [`parse_query`], then refuses (`InvalidRequest`, naming the parameter) a filter the
/// backend with `capabilities` cannot honour: an unfiltered answer would look like a filtered
/// one.
pub(crate) fn parse_supported(
    query: &str,
    policy: &NamespacePolicy,
    capabilities: Capabilities,
) -> Result<Request, Error> {
    let request = parse_query(query, policy)?;
    match request.filter.unsupported(capabilities) {
        None => Ok(request),
        Some(param) => Err(Error::InvalidRequest(format!(
            "could not parse the log request: {param} is not supported by this provider"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(q: &str) -> Result<Request, Error> {
        parse_query(q, &NamespacePolicy::default())
    }

    fn invalid(q: &str) -> String {
        match parse(q) {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{q:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn faas_cli_default_request() {
        let r = parse("follow=true&name=figlet&tail=-1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&*r.name, "figlet");
        assert_eq!(&*r.namespace, "openfaas-fn");
        assert_eq!(r.tail, None);
        assert!(r.follow);
        assert_eq!(r.since, None);
        assert_eq!(r.instance, None);
    }

    #[test]
    fn last_value_wins() {
        let r = parse("name=a&name=b&tail=1&tail=7&follow=true&follow=x")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&*r.name, "b");
        assert_eq!(r.tail, Some(7));
        assert!(!r.follow);
    }

    #[test]
    fn tail_is_strict_go_atoi() {
        // `%2B5` decodes to "+5", which Atoi accepts; an unencoded `+5` decodes to " 5" (Go too).
        assert_eq!(
            parse("name=f&tail=%2B5").map(|r| r.tail).ok(),
            Some(Some(5))
        );
        assert_eq!(parse("name=f&tail=-1").map(|r| r.tail).ok(), Some(None));
        assert!(invalid("name=f&tail=+5").contains("tail"));
        assert_eq!(parse("name=f&tail=0").map(|r| r.tail).ok(), Some(None));
        assert_eq!(parse("name=f&tail=").map(|r| r.tail).ok(), Some(None));
        for bad in [
            "abc",
            "5.0",
            "%205",
            "5%20",
            "99999999999999999999",
            "0x10",
            "1e3",
        ] {
            assert!(
                invalid(&format!("name=f&tail={bad}")).contains("tail"),
                "{bad}"
            );
        }
    }

    #[test]
    fn follow_is_lenient_parse_bool() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(
                parse(&format!("name=f&follow={yes}")).is_ok_and(|r| r.follow),
                "{yes}"
            );
        }
        for no in ["0", "f", "false", "yes", "tRuE", "", "2"] {
            assert!(
                parse(&format!("name=f&follow={no}")).is_ok_and(|r| !r.follow),
                "{no}"
            );
        }
    }

    #[test]
    fn since_needs_full_rfc3339() {
        let r =
            parse("name=f&since=2026-01-01T00:00:00.25%2B01:00").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.since,
            Timestamp::parse_rfc3339("2025-12-31T23:00:00.25Z").ok()
        );
        // An unencoded '+' is a space after form decoding.
        assert!(invalid("name=f&since=2026-01-01T00:00:00+01:00").contains("since"));
        assert!(invalid("name=f&since=2026-01-01").contains("since"));
    }

    #[test]
    fn name_is_required_and_validated() {
        assert!(invalid("").contains("name is required"));
        assert!(invalid("name=").contains("name is required"));
        for bad in [
            "Figlet",
            "fig_let",
            "-f",
            "f-",
            "a%22%7D",
            "a%20or%201",
            &"a".repeat(64),
        ] {
            assert!(invalid(&format!("name={bad}")).contains("name"), "{bad}");
        }
    }

    #[test]
    fn namespace_policy_is_enforced() {
        assert!(invalid("name=f&namespace=kube-system").contains("not allowed"));
        assert!(invalid("name=f&namespace=other").contains("not allowed"));
        assert!(invalid("name=f&namespace=Bad").contains("not a valid namespace"));
        let any = NamespacePolicy {
            default: "openfaas-fn".into(),
            allowed: None,
        };
        assert!(parse_query("name=f&namespace=other", &any).is_ok());
        assert!(parse_query("name=f&namespace=kube-system", &any).is_err());
    }

    #[test]
    fn instance_is_validated() {
        assert_eq!(
            parse("name=f&instance=figlet-5d8-abc")
                .ok()
                .and_then(|r| r.instance),
            Some(Arc::from("figlet-5d8-abc"))
        );
        assert_eq!(
            parse("name=f&instance=1234").ok().and_then(|r| r.instance),
            Some(Arc::from("1234"))
        );
        assert!(invalid("name=f&instance=a%22b").contains("instance"));
        assert!(invalid("name=f&instance=a%0Ab").contains("instance"));
    }

    #[test]
    fn filters_parse_and_last_value_wins() {
        let r = parse("name=f&level=info&level=ERROR&stream=stdout&stream=stderr&grep=a%20b&regexp=x&regexp=%5Eboom%24")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.filter.level, Some(Severity::Error));
        assert_eq!(r.filter.stream, Some(OutputStream::Stderr));
        assert_eq!(r.filter.grep.as_deref(), Some("a b"));
        assert_eq!(
            r.filter.regexp.as_ref().map(regex::Regex::as_str),
            Some("^boom$")
        );
        for (alias, want) in [
            ("err", Severity::Error),
            ("warn", Severity::Warning),
            ("Warning", Severity::Warning),
            ("emerg", Severity::Emergency),
            ("crit", Severity::Critical),
            ("notice", Severity::Notice),
            ("debug", Severity::Debug),
        ] {
            let r = parse(&format!("name=f&level={alias}")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.filter.level, Some(want), "{alias}");
        }
    }

    #[test]
    fn empty_filter_values_mean_not_set() {
        let r =
            parse("name=f&level=&stream=&grep=&regexp=&events=").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.filter.is_empty());
        assert_eq!(r.events, None);
        assert_eq!(r, Request::new("openfaas-fn", "f"));
        // The last value wins, also when it is empty.
        let r = parse("name=f&level=error&level=").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.filter.is_empty());
    }

    #[test]
    fn bad_filter_values_name_the_parameter() {
        for (query, param) in [
            ("level=verbose", "level"),
            ("level=3", "level"),
            ("level=error%20", "level"),
            ("stream=both", "stream"),
            ("stream=STDOUT", "stream"),
            ("regexp=(", "regexp"),
            ("regexp=a%7B1000%7D%7B1000%7D", "regexp"),
            ("events=yes", "events"),
            ("events=TRUE%20", "events"),
        ] {
            let msg = invalid(&format!("name=f&{query}"));
            assert!(
                msg.starts_with(&format!("could not parse the log request: {param} ")),
                "{query}: {msg}"
            );
        }
        let long = "a".repeat(crate::filter::REGEXP_MAX_LEN + 1);
        assert!(invalid(&format!("name=f&regexp={long}")).contains("regexp"));
    }

    #[test]
    fn events_is_a_strict_parse_bool() {
        for (v, want) in [
            ("1", true),
            ("t", true),
            ("T", true),
            ("TRUE", true),
            ("true", true),
            ("True", true),
            ("0", false),
            ("f", false),
            ("F", false),
            ("FALSE", false),
            ("false", false),
            ("False", false),
        ] {
            let r = parse(&format!("name=f&events={v}")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.events, Some(want), "{v}");
        }
        for bad in ["tRuE", "yes", "2", "on"] {
            assert!(
                invalid(&format!("name=f&events={bad}")).contains("events"),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_the_backend_cannot_honour_are_refused() {
        let policy = NamespacePolicy::default();
        let kube_like = Capabilities {
            level: true,
            text: true,
            ..Capabilities::default()
        };
        let msg = match parse_supported("name=f&stream=stdout", &policy, kube_like) {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg,
            "could not parse the log request: stream is not supported by this provider"
        );
        assert!(parse_supported("name=f&level=error&grep=x", &policy, kube_like).is_ok());
        assert!(parse_supported("name=f", &policy, Capabilities::default()).is_ok());
        assert!(parse_supported("name=f&regexp=x", &policy, Capabilities::default()).is_err());
    }

    #[test]
    fn namespaces_resolve_like_log_requests() {
        let policy = NamespacePolicy::default();
        assert_eq!(
            resolve_namespace("", &policy).ok().as_deref(),
            Some("openfaas-fn")
        );
        assert!(resolve_namespace("kube-system", &policy).is_err());
        assert!(resolve_namespace("Bad", &policy).is_err());
    }

    proptest! {
        /// Whatever the query, a request that parses names only an allowed namespace and
        /// carries only DNS-1123 strings.
        #[test]
        fn hostile_queries_never_escape_the_policy(q in "[a-z=&%0-9A-F_.:+ -]{0,80}|(name|namespace|instance)=\\PC{0,30}") {
            if let Ok(r) = parse(&q) {
                prop_assert_eq!(&*r.namespace, "openfaas-fn");
                prop_assert!(is_dns1123_label(&r.name));
                prop_assert!(r.instance.as_deref().is_none_or(is_dns1123_subdomain));
            }
        }
    }
}
