//! Any name, namespace and instance: the LogQL selector the Loki backend builds reads back
//! (by the Loki simulator's parser, which follows LogQL's lexer) as exactly the three equality
//! matchers with exactly those values: nothing added, nothing changed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logs_loki::query::{LabelNames, selector_for};

fuzz_target!(|parts: (String, String, Option<String>)| {
    let (name, namespace, instance) = parts;
    // The simulator refuses selectors whose matchers all accept the empty value, as Loki does.
    if name.is_empty() && namespace.is_empty() {
        return;
    }
    let labels = LabelNames {
        function: "faas_function".to_owned(),
        namespace: "namespace".to_owned(),
        instance: "pod".to_owned(),
    };
    let q = selector_for(&labels, &name, &namespace, instance.as_deref());
    let got = loki_simulator::matchers(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut want = vec![
        ("faas_function".to_owned(), "=", name.clone()),
        ("namespace".to_owned(), "=", namespace.clone()),
    ];
    if let Some(i) = instance {
        want.push(("pod".to_owned(), "=", i));
    }
    assert_eq!(got, want, "{q}");
});
