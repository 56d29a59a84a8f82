//! Static checks of the Helm chart in `deploy/helm/faas-logs` (CI also runs `helm lint` and
//! `helm template` where helm is installed): the YAML parses once template expressions are
//! blanked out, RBAC is minimal (get/list/watch on pods, pods/log and core events, namespaced
//! only), the probes and env vars match what the binary serves and reads.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/faas-logs")
}

fn read(rel: &str) -> String {
    let path = chart().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("YAML: {e}\n{text}"))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Drops lines that are only template control (`{{- if }}`, `{{- include | nindent }}`) and
/// replaces inline expressions by a placeholder, leaving the YAML structure to check.
fn blank_templates(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("{{") && trimmed.ends_with("}}") {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .map_or(rest.len(), |e| start + e + 2);
            out.push('x');
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    // `"{{ a }}:{{ b }}"` became `"x:x"`: still a valid scalar.
    out
}

fn templates() -> Vec<(String, Vec<Value>)> {
    let dir = chart().join("templates");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, yaml(&blank_templates(&text))));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn chart_and_values_parse_and_are_consistent() {
    let chart_yaml = &yaml(&read("Chart.yaml"))[0];
    assert_eq!(chart_yaml["apiVersion"], Value::from("v2"));
    assert_eq!(chart_yaml["name"], Value::from("faas-logs"));
    let values = &yaml(&read("values.yaml"))[0];
    let namespaces: Vec<&str> = values["namespaces"]
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(!namespaces.is_empty());
    assert!(!namespaces.contains(&"kube-system"));
    assert!(namespaces.contains(&values["defaultNamespace"].as_str().unwrap_or_default()));
    assert_eq!(values["port"], Value::from(8080));
    assert_eq!(
        values["basicAuth"]["mountPath"],
        Value::from("/var/secrets")
    );
    assert!(values["resources"]["limits"]["memory"].is_string());
}

#[test]
fn rbac_is_minimal_and_namespaced() {
    let all = templates();
    let kinds: Vec<String> = all
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .filter_map(|d| d["kind"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !kinds.iter().any(|k| k.starts_with("Cluster")),
        "no cluster-wide RBAC: {kinds:?}"
    );
    for kind in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "missing {kind}: {kinds:?}");
    }
    let role = all
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .find(|d| d["kind"] == "Role")
        .unwrap_or_else(|| panic!("no Role"));
    // Pods and their logs; core events (the provider reads `/api/v1/.../events`, not
    // events.k8s.io), for `events=true` and --kube-events. Read-only, nothing else.
    let want: Value = serde_yaml_ng::from_str(
        "- apiGroups: ['']\n  resources: [pods, pods/log]\n  verbs: [get, list, watch]\n\
         - apiGroups: ['']\n  resources: [events]\n  verbs: [get, list, watch]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(role["rules"], want);
    // Only one Role (with a RoleBinding) per namespace: no other grant hides elsewhere.
    let roles = all
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .filter(|d| d["kind"] == "Role")
        .count();
    assert_eq!(roles, 1);
    // The chart refuses kube-system.
    assert!(read("templates/rbac.yaml").contains("fail \"namespaces: kube-system"));
}

#[test]
fn deployment_probes_and_env_match_the_binary() {
    let all = templates();
    let deployment = all
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .find(|d| d["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no Deployment"));
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        Value::from("/healthz/ready")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        Value::from("/healthz")
    );
    let text = read("templates/deployment.yaml");
    let flags =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config.rs"))
            .unwrap_or_else(|e| panic!("{e}"));
    for line in text.lines() {
        let Some(name) = line.trim().strip_prefix("- name: ") else {
            continue;
        };
        if name.starts_with("FAAS_LOGS_KUBE_") {
            assert!(
                flags.contains(&format!("env = \"{name}\"")),
                "{name} is not a flag of this backend"
            );
        }
    }
    for env in [
        "FAAS_LOGS_KUBE_EVENTS",
        "basic_auth",
        "secret_mount_path",
        "FAAS_LOGS_ALLOWED_NAMESPACES",
        "FAAS_LOGS_DEFAULT_NAMESPACE",
        "FAAS_LOGS_PORT",
    ] {
        assert!(
            text.contains(&format!("- name: {env}\n")),
            "env {env} missing"
        );
    }
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        Value::from("x")
    );
}
