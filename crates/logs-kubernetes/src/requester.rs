//! [`KubeRequester`]: the [`Requester`] over the Kubernetes API.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use logs_api::{Error, LogStream, Request, Requester, Result, Timestamp};

use crate::config::Args;
use crate::follow;
use crate::history::{self, Resumes};
use crate::pod::WarnedPods;
use crate::query::Query;

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
    warned: Arc<WarnedPods>,
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
            warned: Arc::default(),
        })
    }
}

#[async_trait::async_trait]
impl Requester for KubeRequester {
    async fn query(&self, request: Request) -> Result<LogStream> {
        let started = Timestamp::now();
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
            started,
            warned: self.warned.clone(),
        });
        let list = query
            .api
            .list(&ListParams::default().labels(&query.selector()))
            .await
            .map_err(|e| Error::backend("listing the function's pods", e))?;
        let mut pods: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|pod| {
                pod.metadata
                    .name
                    .as_deref()
                    .is_some_and(|name| query.request.wants_instance(name))
            })
            .collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
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
        // History first; the live part starts where each pod's history ended.
        let resumes = Resumes::default();
        let past = history.into_stream_with(query.clone(), resumes.clone());
        let live = futures::stream::once(async move {
            let known = resumes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            follow::live(query, known.into_iter().collect())
        })
        .flatten();
        Ok(past.chain(live).boxed())
    }

    async fn ready(&self) -> Result<()> {
        self.client
            .apiserver_version()
            .await
            .map(|_| ())
            .map_err(|e| Error::backend("reaching the Kubernetes API server", e))
    }
}
