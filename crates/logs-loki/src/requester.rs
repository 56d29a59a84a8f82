//! [`LokiRequester`]: the [`Requester`] over Loki's HTTP API.

use std::sync::Arc;

use logs_api::{Capabilities, Error, LogStream, Request, Requester, Timestamp};

use crate::client::Loki;
use crate::config::{Args, Config, ConfigError};
use crate::feed::Feeds;
use crate::stream::LokiStream;

/// The `501` of the functions listing when Loki ignores the label-values `query`.
const IGNORED_QUERY: &str = "this provider cannot list functions: its Loki ignores the query of the label-values API (Loki before 2.9)";

/// Answers log requests from Loki.
pub struct LokiRequester {
    loki: Arc<Loki>,
    /// The shared live readers, one per followed namespace.
    feeds: Arc<Feeds>,
    config: Arc<Config>,
}

impl LokiRequester {
    /// Validates `args` (reading the secret and CA files) and sets up the HTTP client. Does not
    /// contact Loki: `/healthz/ready` says whether it is reachable.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad flag or an unreadable file.
    pub fn new(args: &Args) -> Result<Self, ConfigError> {
        Self::from_config(Config::from_args(args)?)
    }

    /// From an already validated [`Config`].
    ///
    /// # Errors
    /// [`ConfigError::Tls`] when no CA certificate can be loaded for an `https` URL.
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        let config = Arc::new(config);
        let loki = Arc::new(Loki::new(config.clone())?);
        Ok(LokiRequester {
            feeds: Arc::new(Feeds::new(loki.clone(), config.clone())),
            loki,
            config,
        })
    }
}

#[async_trait::async_trait]
impl Requester for LokiRequester {
    async fn query(&self, request: Request) -> Result<LogStream, Error> {
        LokiStream::new(
            self.loki.clone(),
            self.feeds.clone(),
            self.config.clone(),
            request,
        )
        .prime()
        .await
    }

    /// Every filter: pushed into the LogQL query as far as LogQL can say it (line filters
    /// `|=` and `|~`, the `stream` label, `detected_level`), and applied again by the provider
    /// to what Loki returns (`docs/backends/loki.md`, Filters).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The values of the function label among the streams of `namespace` with lines in the
    /// look-back (`--loki-look-back`), from Loki's label-values API with the namespace as a
    /// selector: `GET /loki/api/v1/label/<function>/values?query={<namespace>="ns"}`.
    ///
    /// A Loki before 2.9 ignores `query` and would answer the functions of every namespace. So
    /// the same request is made for the namespace's streams without a function label, which
    /// have no values: any answer there means `query` was ignored, and nothing is listed.
    async fn functions(&self, namespace: &str) -> Result<Vec<String>, Error> {
        let end = Timestamp::now().unix_nanos();
        let start =
            end.saturating_sub(i64::try_from(self.config.look_back.as_nanos()).unwrap_or(i64::MAX));
        let labels = &self.config.labels;
        let query = crate::query::namespace_only_selector(labels, namespace);
        let probe = crate::query::no_function_selector(labels, namespace);
        let (names, leaked) = futures::future::join(
            self.loki.label_values(&labels.function, &query, start, end),
            self.loki.label_values(&labels.function, &probe, start, end),
        )
        .await;
        let names = names
            .map_err(|e| Error::backend(format!("asking Loki for the functions of {query}"), e))?;
        let leaked = leaked
            .map_err(|e| Error::backend(format!("asking Loki for the functions of {probe}"), e))?;
        if !leaked.is_empty() {
            tracing::warn!(
                query = %probe,
                "Loki ignored the query of its label-values API (Loki before 2.9): not listing functions, which would name other namespaces' functions"
            );
            return Err(Error::Unsupported(IGNORED_QUERY.to_owned()));
        }
        Ok(names)
    }

    /// Ready when Loki answers `GET /loki/api/v1/labels` for our tenant and credentials.
    async fn ready(&self) -> Result<(), Error> {
        self.loki
            .labels()
            .await
            .map_err(|e| Error::backend("asking Loki for its labels", e))
    }
}
