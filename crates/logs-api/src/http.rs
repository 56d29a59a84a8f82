//! The HTTP surface: `GET /system/logs` with the exact wire contract, `/healthz`,
//! `/healthz/ready` and `/metrics`, optionally behind basic auth.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request as HttpRequest, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use futures::Stream;
use http::header::{ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, StatusCode};
use http_body::Frame;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::auth::BasicAuth;
use crate::error::Error;
use crate::handler_config::HandlerConfig;
use crate::message::LogStream;
use crate::metrics::Metrics;
use crate::readiness::{Outcome, Readiness};
use crate::reply::plain;
use crate::request::parse_supported;
use crate::requester::Requester;

/// Shared state of all routes.
#[derive(Clone)]
struct AppState {
    requester: Arc<dyn Requester>,
    config: Arc<HandlerConfig>,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    /// Cancelled when the server shuts down: every open follow stream ends cleanly.
    shutdown: tokio_util::sync::CancellationToken,
}

/// The whole HTTP surface over `requester`.
///
/// `shutdown`, once cancelled, ends every open follow stream cleanly (the server's graceful
/// shutdown cancels it before it waits for connections to close); a history (`follow=false`)
/// goes on until it is complete, so that it never looks complete when it is not.
pub fn router(
    requester: Arc<dyn Requester>,
    config: HandlerConfig,
    metrics: Arc<Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Router {
    let auth = config.auth.clone();
    let state = AppState {
        readiness: Readiness::new(requester.clone(), config.ready_timeout),
        requester,
        config: Arc::new(config),
        metrics,
        shutdown,
    };
    let protected = Router::new()
        .route("/system/logs", any(logs))
        .route("/metrics", get(metrics_text))
        .with_state(state.clone())
        .merge(crate::functions::routes(
            state.requester.clone(),
            state.config.clone(),
            state.metrics.clone(),
        ))
        .merge(crate::viewer::routes());
    let protected = match auth {
        Some(auth) => protected.layer(middleware::from_fn_with_state(
            AuthState {
                auth: Arc::new(auth),
                metrics: state.metrics.clone(),
            },
            require_auth,
        )),
        None => protected,
    };
    Router::new()
        .route("/healthz", get(|| async { "OK\n" }))
        .route("/healthz/ready", get(ready))
        .with_state(state)
        .merge(protected)
}

/// What the basic-auth layer needs: the credentials, and the metrics that count a refused log
/// request like any other answered one.
#[derive(Clone)]
struct AuthState {
    auth: Arc<BasicAuth>,
    metrics: Arc<Metrics>,
}

async fn require_auth(
    State(state): State<AuthState>,
    request: HttpRequest,
    next: Next,
) -> Response {
    if state
        .auth
        .allows(request.headers().get(http::header::AUTHORIZATION))
    {
        return next.run(request).await;
    }
    // The layer answers before the log handler, which counts every other answer.
    if request.uri().path() == "/system/logs" {
        state
            .metrics
            .record_request(StatusCode::UNAUTHORIZED.as_u16());
    }
    let mut res = plain(StatusCode::UNAUTHORIZED, "unauthorized");
    res.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Restricted\""),
    );
    res
}

async fn ready(State(state): State<AppState>) -> Response {
    // The check logs why the backend is not ready, once per check rather than per probe.
    match state.readiness.check().await {
        Outcome::Ready => plain(StatusCode::OK, "OK"),
        Outcome::NotReady | Outcome::TimedOut => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "backend not ready")
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let mut res = state.metrics.render().into_response();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    res
}

async fn logs(State(state): State<AppState>, method: Method, uri: http::Uri) -> Response {
    let res = answer(&state, &method, uri.query().unwrap_or("")).await;
    state.metrics.record_request(res.status().as_u16());
    res
}

async fn answer(state: &AppState, method: &Method, query: &str) -> Response {
    if method != Method::GET {
        let mut res = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET",
        );
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    let request = match parse_supported(
        query,
        &state.config.namespaces,
        state.requester.capabilities(),
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "Rejected log request.");
            return plain(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
    };
    tracing::debug!(name = %request.name, namespace = %request.namespace, follow = request.follow, "Log request.");
    let follow = request.follow;
    // The deadline counts from here, so a slow backend start-up eats into it too.
    let deadline = tokio::time::sleep(state.config.timeout);
    let first_byte = state.config.first_byte_timeout.min(state.config.timeout);
    let stream = match tokio::time::timeout(first_byte, state.requester.query(request)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(Error::InvalidRequest(msg))) => {
            return plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("could not parse the log request: {msg}"),
            );
        }
        Ok(Err(e)) => {
            state.metrics.backend_error();
            tracing::error!(error = %e.chain(), "Log request failed before streaming.");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "function log request failed",
            );
        }
        Err(_) => {
            state.metrics.backend_error();
            tracing::error!(
                timeout = ?first_byte,
                "Log request failed: the backend did not start answering in time."
            );
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "function log request failed",
            );
        }
    };
    let body = LogBody::new(
        stream,
        follow,
        deadline,
        state.shutdown.clone().cancelled_owned(),
        state.metrics.clone(),
    );
    let mut res = Response::new(Body::new(body));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    res
}

/// The most bytes coalesced into one chunk from messages that are already available.
const MAX_CHUNK: usize = 64 * 1024;

/// The response body of one log stream: NDJSON frames pulled from the requester's stream only
/// when hyper asks for more (so a slow client slows the backend instead of filling a buffer).
///
/// A follow stream is ended cleanly by the deadline or by shutdown. A history (`follow=false`)
/// ends cleanly only when the backend's stream does; the deadline aborts an incomplete one, and
/// shutdown lets it finish (within the server's grace period). A backend error aborts either.
/// Aborting means no terminating chunk, so no client takes a cut answer for a whole one.
struct LogBody {
    stream: Option<LogStream>,
    follow: bool,
    deadline: Pin<Box<Sleep>>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    metrics: Arc<Metrics>,
    started: Instant,
}

impl LogBody {
    fn new(
        stream: LogStream,
        follow: bool,
        deadline: Sleep,
        shutdown: WaitForCancellationFutureOwned,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.stream_started();
        LogBody {
            stream: Some(stream),
            follow,
            deadline: Box::pin(deadline),
            shutdown: Box::pin(shutdown),
            metrics,
            started: Instant::now(),
        }
    }

    /// Ends the stream: drops the requester's stream at once, which cancels the backend query.
    fn finish(&mut self) {
        self.stream = None;
    }

    /// Ends the body without the terminating chunk, counted as an abort.
    fn abort(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.metrics.stream_aborted();
        tracing::error!(error = %error.chain(), "Log stream aborted.");
        self.finish();
        // What is already encoded is lost with the abort: the client sees a truncated transfer
        // either way, and must not take it for a clean end.
        Poll::Ready(Some(Err(error)))
    }

    /// The deadline has passed: a follow stream ends cleanly; a history only if the backend has
    /// nothing more to send at this very moment (it may have ended just as the deadline came),
    /// else it is incomplete and aborted.
    fn at_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if !self.follow
            && let Some(stream) = self.stream.as_mut()
            && !matches!(Pin::new(stream).poll_next(cx), Poll::Ready(None))
        {
            return self.abort(Error::backend_msg(
                "the history was not complete when the stream deadline passed",
            ));
        }
        self.finish();
        Poll::Ready(None)
    }
}

impl Drop for LogBody {
    fn drop(&mut self) {
        self.metrics.stream_ended(self.started.elapsed());
    }
}

impl http_body::Body for LogBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.stream.is_none() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.at_deadline(cx);
        }
        if this.follow && this.shutdown.as_mut().poll(cx).is_ready() {
            this.finish();
            return Poll::Ready(None);
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut count = 0u64;
        while let Some(stream) = this.stream.as_mut() {
            match Pin::new(stream).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    if buf.capacity() == 0 {
                        buf.reserve(8 * 1024);
                    }
                    message.write_ndjson(&mut buf);
                    count += 1;
                    if buf.len() >= MAX_CHUNK {
                        break;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.metrics.backend_error();
                    return this.abort(e);
                }
                Poll::Ready(None) => {
                    this.finish();
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !buf.is_empty() {
            this.metrics.messages(count);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
        }
        if this.stream.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stream.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRequester;
    use crate::request::NamespacePolicy;
    use crate::time::Timestamp;
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    fn app(requester: MemoryRequester) -> Router {
        let config = HandlerConfig {
            timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(2),
            namespaces: NamespacePolicy::default(),
            auth: None,
        };
        router(
            Arc::new(requester),
            config,
            Arc::default(),
            Default::default(),
        )
    }

    async fn call(app: Router, method: Method, uri: &str) -> (StatusCode, String, Option<String>) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty());
        let res = match req {
            Ok(req) => app.oneshot(req).await.unwrap_or_else(|e| match e {}),
            Err(e) => panic!("{e}"),
        };
        let status = res.status();
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned(), ct)
    }

    #[tokio::test]
    async fn streams_ndjson_in_order() {
        let r = MemoryRequester::new();
        r.push(
            "openfaas-fn",
            "figlet",
            "p1",
            Timestamp::from_unix_nanos(1),
            "one",
        );
        r.push(
            "openfaas-fn",
            "figlet",
            "p1",
            Timestamp::from_unix_nanos(2),
            "two",
        );
        let (status, body, ct) = call(app(r), Method::GET, "/system/logs?name=figlet").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("application/x-ndjson"));
        assert_eq!(
            body,
            "{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"p1\",\"timestamp\":\"1970-01-01T00:00:00.000000001Z\",\"text\":\"one\"}\n\
             {\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"p1\",\"timestamp\":\"1970-01-01T00:00:00.000000002Z\",\"text\":\"two\"}\n"
        );
    }

    /// Polls `body` once the deadline (zero) has passed; returns the frame.
    async fn frame_after_deadline(
        stream: LogStream,
        follow: bool,
        metrics: &Arc<Metrics>,
    ) -> Option<Result<Frame<Bytes>, Error>> {
        let mut body = LogBody::new(
            stream,
            follow,
            tokio::time::sleep(Duration::ZERO),
            tokio_util::sync::CancellationToken::new().cancelled_owned(),
            metrics.clone(),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx)).await
    }

    fn one_message() -> LogStream {
        let message = crate::Message {
            name: "f".into(),
            namespace: "openfaas-fn".into(),
            instance: "p".into(),
            timestamp: Timestamp::from_unix_nanos(1),
            text: "pending".to_owned(),
            stream: None,
            level: None,
            source: None,
        };
        futures::StreamExt::boxed(futures::stream::iter([Ok::<_, Error>(message)]))
    }

    #[tokio::test]
    async fn at_the_deadline_only_a_history_with_nothing_left_ends_cleanly() {
        use futures::StreamExt;
        let metrics = Arc::new(Metrics::default());
        // The history ended just as the deadline passed: complete, not an abort.
        let frame = frame_after_deadline(futures::stream::empty().boxed(), false, &metrics).await;
        assert!(frame.is_none(), "clean end expected");
        assert_eq!(metrics.stream_aborts(), 0);
        // A message still to send: incomplete, aborted.
        let frame = frame_after_deadline(one_message(), false, &metrics).await;
        assert!(matches!(frame, Some(Err(_))), "abort expected");
        assert_eq!(metrics.stream_aborts(), 1);
        // Following: the deadline always ends it cleanly.
        let frame = frame_after_deadline(one_message(), true, &metrics).await;
        assert!(frame.is_none(), "clean end expected");
        assert_eq!(metrics.stream_aborts(), 1);
        assert_eq!(metrics.active_streams(), 0);
    }

    #[tokio::test]
    async fn other_methods_are_405() {
        let (status, body, _) = call(
            app(MemoryRequester::new()),
            Method::POST,
            "/system/logs?name=f",
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(body.ends_with('\n'));
    }
}
