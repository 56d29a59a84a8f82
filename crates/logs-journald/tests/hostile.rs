//! Hostile input against the journal match, end to end: whatever the name, namespace and
//! instance of a request (valid by policy or not), the requester reads exactly the entries of
//! `SYSLOG_IDENTIFIER=<namespace>:<name>` (and `_PID=<instance>`) from real journal files, or
//! refuses the request; it never panics and never returns another function's lines.
//!
//! `PROPTEST_CASES` raises the number of cases (default 48: one `systemd-journal-remote` run
//! each).

mod common;

use futures::StreamExt;
use logs_api::{Error, Request, Requester, is_dns1123_label};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use proptest::prelude::*;

/// Names valid by policy, near-misses, and arbitrary Unicode (NUL, newlines, `:` and `=`
/// included).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]([-a-z0-9]{0,8}[a-z0-9])?",
        2 => "[a-z0-9:=*,.\n /-]{0,10}",
        1 => any::<String>(),
        1 => prop::sample::select(vec![
            "openfaas-fn", "staging-fn", "kube-system", "openfaas-fn:figlet", "figlet",
            "*", "", "a:b", "b:c", "SYSLOG_IDENTIFIER=x",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A function's identity in the journal: namespace, name, `_PID`.
#[derive(Clone, Debug)]
struct Ident {
    namespace: String,
    name: String,
    pid: u32,
}

impl Ident {
    fn identifier(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }
}

fn ident() -> impl Strategy<Value = Ident> {
    (value(), value(), prop::sample::select(vec![100u32, 200])).prop_map(
        |(namespace, name, pid)| Ident {
            namespace,
            name,
            pid,
        },
    )
}

/// Every other way to split the target's identifier at a `:`: the identities that would
/// share its `SYSLOG_IDENTIFIER` (only possible when a value holds a `:`).
fn same_identifier(target: &Ident) -> Vec<Ident> {
    let id = target.identifier();
    id.match_indices(':')
        .map(|(at, _)| Ident {
            namespace: id[..at].to_owned(),
            name: id[at + 1..].to_owned(),
            pid: target.pid,
        })
        .filter(|i| i.namespace != target.namespace)
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_request_reads_only_its_own_function(
        target in ident(),
        others in prop::collection::vec(ident(), 1..4),
        instance in prop_oneof![
            Just(None),
            Just(Some("100".to_owned())),
            Just(Some("200".to_owned())),
            value().prop_map(Some),
        ],
    ) {
        // The journal: the target's line, near misses (same namespace, same name, other pid),
        // every identity with the same identifier, and arbitrary others.
        let mut written = vec![target.clone()];
        written.push(Ident { pid: 300 - target.pid, ..target.clone() });
        written.push(Ident { name: format!("{}x", target.name), ..target.clone() });
        written.push(Ident { namespace: format!("{}x", target.namespace), ..target.clone() });
        written.extend(same_identifier(&target));
        written.extend(others);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let t0 = common::now_usec() - 60_000_000;
        journal_remote(&dir.path().join("system.journal"), &[], |out| {
            for (i, w) in written.iter().enumerate() {
                write_entry(out, &ExportEntry {
                    realtime_usec: t0 + i as u64,
                    identifier: &w.identifier(),
                    pid: w.pid,
                    message: format!("line {i}").as_bytes(),
                    priority: Some(6),
                    transport: "journal",
                })?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("writing the journal: {e}"));

        let mut request = Request::new(&target.namespace, &target.name);
        request.instance = instance.as_deref().map(Into::into);
        let requester = common::requester(dir.path());
        let answer = runtime().block_on(async {
            match requester.query(request).await {
                Ok(stream) => Ok(stream
                    .map(|m| m.unwrap_or_else(|e| panic!("stream item: {e}")).text)
                    .collect::<Vec<_>>()
                    .await),
                Err(e) => Err(e),
            }
        });
        let valid = is_dns1123_label(&target.namespace) && is_dns1123_label(&target.name);
        if valid {
            // The oracle: the lines written as this namespace and name (and pid), whatever
            // identifier they share with others.
            let expected: Vec<String> = written
                .iter()
                .enumerate()
                .filter(|(_, w)| {
                    w.namespace == target.namespace
                        && w.name == target.name
                        && instance.as_ref().is_none_or(|want| *want == w.pid.to_string())
                })
                .map(|(i, _)| format!("line {i}"))
                .collect();
            let got = answer.unwrap_or_else(|e| panic!("a valid request failed: {e}"));
            prop_assert_eq!(got, expected);
        } else {
            prop_assert!(
                matches!(answer, Err(Error::InvalidRequest(_))),
                "{answer:?}"
            );
        }
    }
}

/// The collision the guard exists for: `a:b` + `c` and `a` + `b:c` are one identifier in the
/// journal. Unvalidated values are refused before anything is read.
#[tokio::test]
async fn names_that_could_share_an_identifier_are_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let requester = common::requester(dir.path());
    for (namespace, name) in [("a:b", "c"), ("a", "b:c"), ("openfaas-fn", ""), ("", "f")] {
        let answer = requester.query(Request::new(namespace, name)).await;
        assert!(
            matches!(answer, Err(Error::InvalidRequest(_))),
            "{namespace:?} {name:?}: {:?}",
            answer.map(|_| "a stream")
        );
    }
}
