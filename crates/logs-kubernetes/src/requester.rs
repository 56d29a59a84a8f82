//! [`KubeRequester`]: the [`Requester`] over the Kubernetes API.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use logs_api::{Capabilities, Error, LogStream, Request, Requester, Result, Timestamp};

use crate::config::Args;
use crate::events::{self, EventHistory, Permission};
use crate::follow;
use crate::history::{self, Resumes};
use crate::pod::WarnedPods;
use crate::query::{FUNCTION_LABEL, LIST_PAGE, Query};

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
    events_permission: Arc<Permission>,
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
            events_permission: Arc::default(),
        })
    }
}

#[async_trait::async_trait]
impl Requester for KubeRequester {
    async fn query(&self, request: Request) -> Result<LogStream> {
        let started = Timestamp::now();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &request.namespace);
        // The look-back bound holds when nothing else bounds what is read: neither `since`
        // nor `tail`, or a `tail` that, with a filter, no longer bounds the log read.
        let since = match (request.since, request.tail, self.args.max_age) {
            (Some(since), _, _) => Some(since),
            (None, tail, Some(age)) if tail.is_none() || !request.filter.is_empty() => {
                let age = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
                Some(Timestamp::from_unix_nanos(
                    Timestamp::now().unix_nanos().saturating_sub(age),
                ))
            }
            _ => None,
        };
        let with_events = request.events.unwrap_or(self.args.events);
        let query = Arc::new(Query {
            api,
            request,
            since,
            args: self.args.clone(),
            started,
            warned: self.warned.clone(),
            members: Mutex::new(HashSet::new()),
        });
        let list = query
            .api
            .list(&ListParams::default().labels(&query.selector()))
            .await
            .map_err(|e| Error::backend("listing the function's pods", e))?;
        let mut pods: Vec<Pod> = Vec::new();
        for pod in list.items {
            let Some(name) = pod.metadata.name.as_deref() else {
                continue;
            };
            query.add_member(name);
            if query.request.wants_instance(name) {
                pods.push(pod);
            }
        }
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
        let events = if with_events {
            events::history(&query, self.events_permission.clone()).await?
        } else {
            EventHistory {
                messages: Vec::new(),
                live: None,
            }
        };
        let history = history.with_messages(events.messages);
        if !query.request.follow {
            return Ok(history.into_stream(query).boxed());
        }
        // History first; the live part starts where each pod's history ended.
        let resumes = Resumes::default();
        let past = history.into_stream_with(query.clone(), resumes.clone());
        let live_events = events.live;
        let filter = Arc::new(query.request.filter.clone());
        let live = futures::stream::once(async move {
            let known = resumes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            logs_api::filter_stream(
                follow::live(query, known.into_iter().collect(), live_events).boxed(),
                filter,
            )
        })
        .flatten();
        Ok(past.chain(live).boxed())
    }

    /// `level` (from the level each line states, [`logs_api::level::detect`]; events by their
    /// type) and the text filters, applied in process; not `stream`: the pod log API does not
    /// tell stdout from stderr.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            level: true,
            text: true,
            ..Capabilities::default()
        }
    }

    /// The values of the function label on the namespace's pods now (pods are current state:
    /// a function whose pods are all gone is not listed, though the kubelet may still hold
    /// logs of its last pods until they are removed). A metadata-only list, page by page.
    async fn functions(&self, namespace: &str) -> Result<Vec<String>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut params = ListParams::default()
            .labels(FUNCTION_LABEL)
            .limit(LIST_PAGE);
        let mut names = BTreeSet::new();
        loop {
            let page = api
                .list_metadata(&params)
                .await
                .map_err(|e| Error::backend("listing the namespace's function pods", e))?;
            names.extend(
                page.items
                    .into_iter()
                    .filter_map(|p| p.metadata.labels.and_then(|mut l| l.remove(FUNCTION_LABEL))),
            );
            match page.metadata.continue_.as_deref() {
                Some(token) if !token.is_empty() => params = params.continue_token(token),
                _ => break,
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn ready(&self) -> Result<()> {
        self.client
            .apiserver_version()
            .await
            .map(|_| ())
            .map_err(|e| Error::backend("reaching the Kubernetes API server", e))
    }
}
