//! HTTP transport to Loki: `query_range`, `labels` and the `tail` websocket, all through one
//! hyper client (so TLS, the tenant header and credentials are set up once).
//!
//! The websocket is an HTTP/1.1 upgrade on the same client; tungstenite only frames messages.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::{Config, ConfigError};

/// Most bytes one Loki answer may have; a page of `--loki-page-size` lines is far below it.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// How much of an error body we keep for the server log.
const MAX_ERROR_TEXT: usize = 512;

/// A websocket to Loki's tail endpoint.
pub(crate) type TailSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Loki could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    /// No connection or the connection broke.
    #[error("connecting to Loki: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request took longer than `--loki-request-timeout`.
    #[error("Loki did not answer within {0:?}")]
    Timeout(Duration),
    /// Loki answered with an error status; `text` is the start of its body.
    #[error("Loki answered {status}: {text}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// Loki's error text (e.g. `parse error at line 1, col 24: ...`).
        text: String,
    },
    /// The answer could not be read.
    #[error(transparent)]
    Decode(#[from] crate::wire::DecodeError),
    /// The websocket upgrade was refused or malformed, or the socket broke.
    #[error("Loki tail websocket: {0}")]
    Websocket(String),
    /// More lines share one timestamp than a page holds, so paging cannot move past them.
    #[error("more than --loki-page-size ({0}) lines share one timestamp; raise it")]
    PageTooSmall(usize),
    /// No answer from Loki for `--loki-stall-timeout`.
    #[error("no answer from Loki for {0:?} (--loki-stall-timeout)")]
    Stalled(Duration),
    /// The namespace's shared reader gave up; this is why.
    #[error("following the namespace failed: {0}")]
    Feed(std::sync::Arc<str>),
}

impl LokiError {
    /// Whether trying again may help: transport failures, timeouts, 429 and 5xx. A 4xx says
    /// the query itself is wrong; repeating it cannot succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            LokiError::Transport(_) | LokiError::Timeout(_) | LokiError::Websocket(_) => true,
            LokiError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            LokiError::Decode(_)
            | LokiError::PageTooSmall(_)
            | LokiError::Stalled(_)
            | LokiError::Feed(_) => false,
        }
    }
}

/// Query direction of `query_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Backward,
}

/// The connection to one Loki.
pub(crate) struct Loki {
    http: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    config: Arc<Config>,
    headers: HeaderMap,
}

impl Loki {
    pub(crate) fn new(config: Arc<Config>) -> Result<Self, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        for cert in &config.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| ConfigError::Tls(format!("--loki-ca-file: {e}")))?;
        }
        if config.base.https && roots.is_empty() {
            return Err(ConfigError::Tls(
                "no CA certificates: install ca-certificates or pass --loki-ca-file".to_owned(),
            ));
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.request_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Queries come in bursts (a page, then the client drains it); idle connections are
        // closed soon after so that a quiet provider holds no sockets to Loki (the pool needs a
        // timer for that, or idle connections stay until they are next looked at).
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(3))
            .pool_max_idle_per_host(32)
            .build(connector);
        let mut headers = HeaderMap::new();
        if let Some(tenant) = &config.tenant {
            headers.insert("X-Scope-OrgID", tenant.clone());
        }
        if let Some(auth) = &config.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        Ok(Loki {
            http: client,
            config,
            headers,
        })
    }

    fn uri(&self, path: &str, params: &[(&str, &str)]) -> Result<Uri, LokiError> {
        let base = &self.config.base;
        let mut target = format!(
            "{}://{}{}{path}",
            if base.https { "https" } else { "http" },
            base.authority,
            base.prefix
        );
        if !params.is_empty() {
            target.push('?');
            target.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish(),
            );
        }
        target
            .parse()
            .map_err(|e: http::uri::InvalidUri| LokiError::Transport(Box::new(e)))
    }

    fn request(&self, uri: Uri) -> Result<Request<Empty<Bytes>>, LokiError> {
        let mut request = Request::get(uri)
            .body(Empty::new())
            .map_err(|e| LokiError::Transport(Box::new(e)))?;
        request.headers_mut().extend(self.headers.clone());
        Ok(request)
    }

    /// GET `path` and the whole body of a 2xx answer.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Bytes, LokiError> {
        let request = self.request(self.uri(path, params)?)?;
        let timeout = self.config.request_timeout;
        let work = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| LokiError::Transport(Box::new(e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(LokiError::Transport)?
                .to_bytes();
            if !status.is_success() {
                return Err(status_error(status, &body));
            }
            Ok(body)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| LokiError::Timeout(timeout))?
    }

    /// `GET /loki/api/v1/query_range` for log lines in `[start, end)`.
    pub(crate) async fn query_range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Bytes, LokiError> {
        let (start, end, limit) = (start.to_string(), end.to_string(), limit.to_string());
        let direction = match direction {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        };
        self.get(
            "/loki/api/v1/query_range",
            &[
                ("query", query),
                ("start", &start),
                ("end", &end),
                ("limit", &limit),
                ("direction", direction),
            ],
        )
        .await
    }

    /// `GET /loki/api/v1/labels` over the last five minutes: proves Loki is up and accepts our
    /// tenant and credentials.
    pub(crate) async fn labels(&self) -> Result<(), LokiError> {
        let now = logs_api::Timestamp::now().unix_nanos();
        let start = (now - 300_000_000_000).to_string();
        self.get("/loki/api/v1/labels", &[("start", &start)])
            .await
            .map(|_| ())
    }

    /// `GET /loki/api/v1/label/<name>/values` for the streams `query` selects with lines in
    /// `[start, end]` (the `query` parameter needs Loki 2.9 or later).
    pub(crate) async fn label_values(
        &self,
        name: &str,
        query: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, LokiError> {
        let (start, end) = (start.to_string(), end.to_string());
        // The name comes from configuration, checked as a label name: nothing to escape.
        let path = format!("/loki/api/v1/label/{name}/values");
        let body = self
            .get(&path, &[("query", query), ("start", &start), ("end", &end)])
            .await?;
        Ok(crate::wire::decode_label_values(&body)?)
    }

    /// Opens `GET /loki/api/v1/tail` as a websocket: lines at or after `start`, then live ones.
    pub(crate) async fn tail(
        &self,
        query: &str,
        start: i64,
        limit: usize,
        delay_for: u8,
    ) -> Result<TailSocket, LokiError> {
        let (start, limit, delay) = (start.to_string(), limit.to_string(), delay_for.to_string());
        let uri = self.uri(
            "/loki/api/v1/tail",
            &[
                ("query", query),
                ("start", &start),
                ("limit", &limit),
                ("delay_for", &delay),
            ],
        )?;
        let mut request = self.request(uri)?;
        let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
        let h = request.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_str(&key).map_err(|e| LokiError::Websocket(e.to_string()))?,
        );
        let timeout = self.config.request_timeout;
        let work =
            async {
                let response = self
                    .http
                    .request(request)
                    .await
                    .map_err(|e| LokiError::Transport(Box::new(e)))?;
                let status = response.status();
                if status != StatusCode::SWITCHING_PROTOCOLS {
                    let body = Limited::new(response.into_body(), MAX_ERROR_TEXT * 4)
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    return Err(status_error(status, &body));
                }
                let accept = response
                    .headers()
                    .get(header::SEC_WEBSOCKET_ACCEPT)
                    .and_then(|v| v.to_str().ok());
                if accept != Some(derive_accept_key(key.as_bytes()).as_str()) {
                    return Err(LokiError::Websocket(
                        "bad Sec-WebSocket-Accept in the upgrade answer".to_owned(),
                    ));
                }
                let upgraded = hyper::upgrade::on(response)
                    .await
                    .map_err(|e| LokiError::Websocket(e.to_string()))?;
                // Small buffers: a provider may hold a thousand tails, and tungstenite's 128 KiB
                // defaults would make each cost a quarter of a MiB. Lines arrive a frame at a time.
                let config = WebSocketConfig::default()
                    .read_buffer_size(8 * 1024)
                    .write_buffer_size(0);
                Ok(WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Client,
                    Some(config),
                )
                .await)
            };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| LokiError::Timeout(timeout))?
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> LokiError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut end = text.len().min(MAX_ERROR_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    LokiError::Status {
        status,
        text: text[..end].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors() {
        let s = |status| LokiError::Status {
            status,
            text: String::new(),
        };
        assert!(s(StatusCode::INTERNAL_SERVER_ERROR).is_transient());
        assert!(s(StatusCode::BAD_GATEWAY).is_transient());
        assert!(s(StatusCode::TOO_MANY_REQUESTS).is_transient());
        assert!(!s(StatusCode::BAD_REQUEST).is_transient());
        assert!(!s(StatusCode::UNAUTHORIZED).is_transient());
        assert!(LokiError::Timeout(Duration::from_secs(1)).is_transient());
    }

    #[test]
    fn error_text_is_trimmed_and_cut_on_a_char_boundary() {
        let body = format!("{}é\n", "x".repeat(MAX_ERROR_TEXT - 1));
        match status_error(StatusCode::BAD_REQUEST, body.as_bytes()) {
            LokiError::Status { text, .. } => {
                assert_eq!(text.len(), MAX_ERROR_TEXT - 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
