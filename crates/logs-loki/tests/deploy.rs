//! `deploy/loki/`: the Kubernetes manifest and the OpenFaaS values are valid, use only real
//! flags, and point at each other.

use serde_yaml_ng::Value;

fn read(name: &str) -> String {
    let path = format!("{}/../../deploy/loki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|doc| serde_yaml_ng::from_str(doc).unwrap_or_else(|e| panic!("{e}: {doc}")))
        .collect()
}

fn help() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logs-loki"))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn manifest_uses_real_flags_and_probes() {
    let docs = documents(&read("logs-loki.yaml"));
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no Deployment"));
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .unwrap_or_else(|| panic!("no Service"));
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let help = help();
    let env = container["env"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no env"));
    let mut port = None;
    for var in env {
        let name = var["name"].as_str().unwrap_or_default();
        if name.starts_with("FAAS_LOGS_") {
            assert!(
                help.contains(&format!("[env: {name}=")),
                "{name} is not a flag of logs-loki"
            );
        }
        if name == "FAAS_LOGS_PORT" {
            port = var["value"].as_str().and_then(|p| p.parse::<u64>().ok());
        }
    }
    // Commented-out variables must be real too.
    for line in read("logs-loki.yaml").lines() {
        if let Some(name) = line.trim().strip_prefix("# - name: FAAS_LOGS_") {
            assert!(help.contains(&format!("[env: FAAS_LOGS_{name}=")), "{name}");
        }
    }
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), port);
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/healthz/ready"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");

    // The gateway is pointed at that service and port.
    let values: Value =
        serde_yaml_ng::from_str(&read("openfaas-values.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let url = values["gateway"]["logsProviderURL"]
        .as_str()
        .unwrap_or_default();
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = service["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let svc_port = service["spec"]["ports"][0]["port"]
        .as_u64()
        .unwrap_or_default();
    assert_eq!(
        url,
        format!("http://{name}.{namespace}.svc.cluster.local:{svc_port}/")
    );
}

#[test]
fn manifest_runs_the_image_make_image_builds() {
    let docs = documents(&read("logs-loki.yaml"));
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no Deployment"));
    let pod = &deployment["spec"]["template"]["spec"];
    // `make image` tags faas-logs/logs-loki with the workspace version.
    assert_eq!(
        pod["containers"][0]["image"],
        format!("faas-logs/logs-loki:{}", env!("CARGO_PKG_VERSION")).as_str()
    );
    // The pod runs as the image's own non-root user (deploy/image/Containerfile).
    let path = format!(
        "{}/../../deploy/image/Containerfile",
        env!("CARGO_MANIFEST_DIR")
    );
    let containerfile = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let user = containerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .unwrap_or_else(|| panic!("no USER in {path}"));
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    let pod_user = format!(
        "{}:{}",
        security["runAsUser"].as_u64().unwrap_or_default(),
        security["runAsGroup"].as_u64().unwrap_or_default()
    );
    assert_eq!(pod_user, user.trim());
    assert!(!pod_user.starts_with("0:"));
}

#[test]
fn alloy_rules_produce_the_default_labels() {
    let alloy = read("alloy-faas-labels.alloy");
    for (from, to) in [
        ("__meta_kubernetes_pod_label_faas_function", "faas_function"),
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        let rule = format!("source_labels = [\"{from}\"]\n    target_label  = \"{to}\"");
        assert!(alloy.contains(&rule), "missing rule {from} -> {to}");
    }
    let defaults = logs_loki::Args::default();
    assert_eq!(
        (
            defaults.function_label.as_str(),
            defaults.namespace_label.as_str(),
            defaults.instance_label.as_str()
        ),
        ("faas_function", "namespace", "pod")
    );
}
