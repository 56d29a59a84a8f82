//! [`KubeRequester`]: the [`Requester`] over the Kubernetes API.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use logs_api::{Error, LogStream, Message, Request, Requester, Result, Timestamp};

use crate::config::Args;
use crate::cursor::Resume;
use crate::{follow, history};

/// Why a [`KubeRequester`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// No usable in-cluster configuration or kubeconfig.
    #[error("inferring the Kubernetes client configuration")]
    Infer(#[from] kube::config::InferConfigError),
    /// The kubeconfig given could not be read or used.
    #[error("loading the kubeconfig")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client")]
    Client(#[from] kube::Error),
}

/// Serves function logs from pods labelled `faas_function=<name>`.
#[derive(Clone)]
pub struct KubeRequester {
    client: Client,
    args: Arc<Args>,
}

impl std::fmt::Debug for KubeRequester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRequester")
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl KubeRequester {
    /// Builds the client from `--kube-kubeconfig`/`--kube-context` when given, else from kube's
    /// inference (in-cluster service account, then `$KUBECONFIG` / `~/.kube/config`).
    ///
    /// # Errors
    /// When no configuration can be found or the client cannot be built.
    pub async fn new(args: Args) -> Result<Self, NewError> {
        let options = KubeConfigOptions {
            context: args.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &args.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
            }
            None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
            None => kube::Config::infer().await?,
        };
        Self::from_config(config, args)
    }

    /// Builds the requester over an explicit client configuration (tests point it at the
    /// simulator).
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn from_config(config: kube::Config, args: Args) -> Result<Self, NewError> {
        let client = Client::try_from(config)?;
        Ok(Self {
            client,
            args: Arc::new(args),
        })
    }
}

/// What one query needs, shared by its history and follow phases.
pub(crate) struct Query {
    pub(crate) api: Api<Pod>,
    pub(crate) request: Request,
    /// `since` of the request, or now minus `--kube-max-age` when neither since nor tail is set.
    pub(crate) since: Option<Timestamp>,
    pub(crate) args: Arc<Args>,
}

impl Query {
    pub(crate) fn message(&self, pod: &Arc<str>, timestamp: Timestamp, text: String) -> Message {
        Message {
            name: self.request.name.clone(),
            namespace: self.request.namespace.clone(),
            instance: pod.clone(),
            timestamp,
            text,
            stream: None,
            level: None,
        }
    }

    pub(crate) fn log_params(&self, resume: &Resume, follow: bool) -> LogParams {
        LogParams {
            container: self.args.container.clone(),
            follow,
            timestamps: true,
            since_time: resume.since_time(self.since),
            tail_lines: None,
            ..LogParams::default()
        }
    }

    pub(crate) fn selector(&self) -> String {
        // The core validated the name; an invalid one selects nothing rather than anything.
        function_selector(&self.request.name).unwrap_or_else(|| NOTHING.to_owned())
    }
}

/// A selector no pod matches: `faas_function` both present and absent.
const NOTHING: &str = "faas_function,!faas_function";

/// The label selector of a function's pods, `faas_function=<name>`; `None` unless `name` is a
/// DNS-1123 label, so no value can add a requirement (`,`, `!=`, ` in (...)`) to the selector.
pub(crate) fn function_selector(name: &str) -> Option<String> {
    logs_api::is_dns1123_label(name).then(|| format!("faas_function={name}"))
}

/// Whether an API error only means "this pod has no log to read (yet)": gone (404), container
/// not started or not valid (400). Anything else is a failure of the API server or kubelet.
pub(crate) fn no_log_yet(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 400 || status.code == 404)
}

#[async_trait::async_trait]
impl Requester for KubeRequester {
    async fn query(&self, request: Request) -> Result<LogStream> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &request.namespace);
        let since = match (request.since, request.tail, self.args.max_age) {
            (Some(since), _, _) => Some(since),
            (None, None, Some(age)) => {
                let age = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
                Some(Timestamp::from_unix_nanos(
                    Timestamp::now().unix_nanos().saturating_sub(age),
                ))
            }
            _ => None,
        };
        let query = Arc::new(Query {
            api,
            request,
            since,
            args: self.args.clone(),
        });
        let list = query
            .api
            .list(&ListParams::default().labels(&query.selector()))
            .await
            .map_err(|e| Error::backend("listing the function's pods", e))?;
        let mut pods: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|pod| pod.metadata.name)
            .filter(|name| query.request.wants_instance(name))
            .collect();
        pods.sort();
        if pods.len() > self.args.max_pods {
            return Err(Error::backend_msg(format!(
                "function {} has {} pods, more than --kube-max-pods={}",
                query.request.name,
                pods.len(),
                self.args.max_pods
            )));
        }
        let history = history::open(&query, pods).await?;
        if !query.request.follow {
            return Ok(history.into_stream(query).boxed());
        }
        Ok(follow::stream(query, history))
    }

    async fn ready(&self) -> Result<()> {
        self.client
            .apiserver_version()
            .await
            .map(|_| ())
            .map_err(|e| Error::backend("reaching the Kubernetes API server", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Splits a selector the way the API server does (`,` between requirements, then the
    /// operator), enough to see how many requirements and which value it has.
    fn requirements(selector: &str) -> Vec<(String, String, String)> {
        selector
            .split(',')
            .map(|r| {
                for op in ["!=", "==", "="] {
                    if let Some((k, v)) = r.split_once(op) {
                        return (k.to_owned(), op.to_owned(), v.to_owned());
                    }
                }
                (r.to_owned(), String::new(), String::new())
            })
            .collect()
    }

    #[test]
    fn selector_for_a_valid_name() {
        assert_eq!(
            function_selector("figlet").as_deref(),
            Some("faas_function=figlet")
        );
        for hostile in ["a,b", "a!=b", "x in (a,b)", "", "A", "a=b", "a\n"] {
            assert_eq!(function_selector(hostile), None, "{hostile}");
        }
        assert_eq!(
            requirements(NOTHING),
            [
                ("faas_function".to_owned(), String::new(), String::new()),
                ("!faas_function".to_owned(), String::new(), String::new())
            ]
        );
    }

    proptest! {
        /// Whatever the name, the selector is one equality requirement on `faas_function`
        /// with exactly that name, or there is none.
        #[test]
        fn any_name_selects_only_itself(
            name in prop_oneof![any::<String>(), "[a-z0-9,=!() -]{0,20}", "[a-z]([-a-z0-9]{0,10}[a-z0-9])?"],
        ) {
            match function_selector(&name) {
                Some(selector) => {
                    prop_assert_eq!(
                        requirements(&selector),
                        vec![("faas_function".to_owned(), "=".to_owned(), name.clone())]
                    );
                    prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                }
                None => prop_assert!(!logs_api::is_dns1123_label(&name)),
            }
        }
    }
}
