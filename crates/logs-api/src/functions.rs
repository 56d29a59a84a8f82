//! `GET /system/logs/functions?namespace=NS`: the names of the functions that have logs, as a
//! JSON array, under the same auth and namespace policy as `/system/logs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};

use crate::error::Error;
use crate::handler_config::HandlerConfig;
use crate::metrics::Metrics;
use crate::reply::plain;
use crate::request::{is_dns1123_label, resolve_namespace};
use crate::requester::Requester;

/// The path of the listing.
pub const FUNCTIONS_PATH: &str = "/system/logs/functions";

#[derive(Clone)]
struct ListState {
    requester: Arc<dyn Requester>,
    config: Arc<HandlerConfig>,
    metrics: Arc<Metrics>,
}

/// The listing route, to be merged into the router behind the same auth as `/system/logs`.
pub(crate) fn routes(
    requester: Arc<dyn Requester>,
    config: Arc<HandlerConfig>,
    metrics: Arc<Metrics>,
) -> Router {
    Router::new()
        .route(FUNCTIONS_PATH, any(list))
        .with_state(ListState {
            requester,
            config,
            metrics,
        })
}

async fn list(State(state): State<ListState>, method: Method, uri: http::Uri) -> Response {
    if method != Method::GET {
        let mut res = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET",
        );
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    let namespace = match resolve_namespace(
        &namespace_param(uri.query().unwrap_or("")),
        &state.config.namespaces,
    ) {
        Ok(ns) => ns,
        Err(e) => {
            tracing::info!(error = %e, "Rejected function listing.");
            return plain(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
    };
    let listed =
        tokio::time::timeout(state.config.timeout, state.requester.functions(&namespace)).await;
    let names = match listed {
        Ok(Ok(names)) => names,
        Ok(Err(Error::Unsupported(msg))) => return plain(StatusCode::NOT_IMPLEMENTED, msg),
        Ok(Err(Error::InvalidRequest(msg))) => {
            return plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("could not parse the log request: {msg}"),
            );
        }
        Ok(Err(e)) => {
            state.metrics.backend_error();
            tracing::error!(error = %e.chain(), %namespace, "Function listing failed.");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "function listing failed");
        }
        Err(_) => {
            state.metrics.backend_error();
            tracing::error!(%namespace, "Function listing failed: the backend did not answer before the deadline.");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "function listing failed");
        }
    };
    let mut res = json_array(names).into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The last `namespace` value of a query string (empty when there is none).
fn namespace_param(query: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "namespace")
        .last()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `names` as a sorted JSON array without duplicates, and without names that are not DNS-1123
/// labels (defence in depth: a backend's store may hold anything; a label needs no escaping).
fn json_array(mut names: Vec<String>) -> String {
    names.retain(|n| is_dns1123_label(n));
    names.sort_unstable();
    names.dedup();
    let mut out = String::with_capacity(2 + names.iter().map(|n| n.len() + 3).sum::<usize>());
    out.push('[');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(n);
        out.push('"');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_is_sorted_unique_and_only_labels() {
        let names = ["b", "a", "b", "Bad", "a:b", "", "x\"y", "c-1"].map(str::to_owned);
        assert_eq!(json_array(names.to_vec()), "[\"a\",\"b\",\"c-1\"]\n");
        assert_eq!(json_array(Vec::new()), "[]\n");
    }

    #[test]
    fn namespace_takes_the_last_value() {
        assert_eq!(namespace_param("namespace=a&namespace=b"), "b");
        assert_eq!(namespace_param("namespace=a&namespace="), "");
        assert_eq!(namespace_param("x=1"), "");
    }
}
