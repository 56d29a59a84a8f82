//! Any query string: `parse_query` never panics, and a request it accepts names exactly the
//! function and namespace of the query (last value wins), in the allowed set, with names a
//! backend can put into a LogQL selector, a label selector or a journal match unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logs_api::{NamespacePolicy, is_dns1123_label, is_dns1123_subdomain, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let policy = NamespacePolicy {
        default: "openfaas-fn".to_owned(),
        allowed: Some(["openfaas-fn".to_owned(), "staging-fn".to_owned()].into()),
    };
    let Ok(request) = parse_query(query, &policy) else {
        return;
    };
    let last = |key: &str| {
        form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == key)
            .last()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(&*request.name, last("name"));
    let namespace = last("namespace");
    let want_namespace = if namespace.is_empty() {
        "openfaas-fn".to_owned()
    } else {
        namespace
    };
    assert_eq!(&*request.namespace, want_namespace);
    assert!(
        request.namespace.as_ref() == "openfaas-fn" || request.namespace.as_ref() == "staging-fn"
    );
    assert!(is_dns1123_label(&request.name));
    assert!(request.instance.as_deref().is_none_or(is_dns1123_subdomain));
});
