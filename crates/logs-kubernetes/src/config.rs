//! Command-line flags of the Kubernetes backend.

use std::path::PathBuf;
use std::time::Duration;

/// Flags of the Kubernetes backend (`FAAS_LOGS_KUBE_*`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Kubeconfig file to use. Unset: kube's inference (in-cluster service account when running in
    /// a pod, else $KUBECONFIG or ~/.kube/config).
    #[arg(long = "kube-kubeconfig", env = "FAAS_LOGS_KUBE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use. Unset: the kubeconfig's current context.
    #[arg(long = "kube-context", env = "FAAS_LOGS_KUBE_CONTEXT")]
    pub context: Option<String>,
    /// Container whose logs are read, in each pod that has a container by that name. Other pods,
    /// or unset: the container named like the function, else the one named by the pod's
    /// kubectl.kubernetes.io/default-container annotation, else the only one, else the first
    /// (with a warning).
    #[arg(long = "kube-container", env = "FAAS_LOGS_KUBE_CONTAINER")]
    pub container: Option<String>,
    /// Most pods one request reads at once (one log stream each). A request for a function with
    /// more pods fails with 500; while following, pods beyond it are skipped with a warning.
    #[arg(
        long = "kube-max-pods",
        env = "FAAS_LOGS_KUBE_MAX_PODS",
        default_value_t = 100
    )]
    pub max_pods: usize,
    /// Look-back bound for requests with neither `since` nor `tail` (e.g. `24h`). Unset: no bound,
    /// the kubelet only keeps the current (and previous) container's log anyway.
    #[arg(long = "kube-max-age", env = "FAAS_LOGS_KUBE_MAX_AGE", value_parser = logs_api::parse_duration)]
    pub max_age: Option<Duration>,
    /// Merge the Kubernetes Events of the function's pods (Scheduled, Pulling, BackOff, Killing,
    /// Unhealthy, FailedScheduling, ...) into every answer, unless a request says events=false.
    /// Off: only requests with events=true get them. Needs get/list/watch on events.
    #[arg(
        long = "kube-events",
        env = "FAAS_LOGS_KUBE_EVENTS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub events: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn events(argv: &[&str]) -> Result<bool, clap::Error> {
        Cli::try_parse_from(std::iter::once("logs-kubernetes").chain(argv.iter().copied()))
            .map(|c| c.args.events)
    }

    #[test]
    fn kube_events_is_off_unless_set() {
        assert!(!events(&[]).unwrap_or(true));
        assert!(events(&["--kube-events"]).unwrap_or(false));
        assert!(events(&["--kube-events=true"]).unwrap_or(false));
        assert!(!events(&["--kube-events=false"]).unwrap_or(true));
        assert!(events(&["--kube-events=yes"]).is_err());
    }
}
