//! `GET /`: the log viewer, one page of HTML, CSS and JavaScript embedded in the binary
//! (`docs/viewer.md`). It is served behind the same basic auth as `/system/logs`, and every URL
//! in it is relative, so it works behind `kubectl port-forward` or a reverse proxy's path prefix.
//!
//! Each asset is sent with its content type, `X-Content-Type-Options: nosniff`, a strict
//! Content-Security-Policy (scripts, styles and images from this origin only, no inline
//! script or style), and a strong `ETag` computed from the embedded bytes at compile time, so
//! a browser revalidates with `If-None-Match` and gets `304` until the binary changes.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};

use crate::reply::plain;

/// One embedded file of the page.
struct Asset {
    /// Where it is served.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// FNV-1a of `body`, the `ETag`.
    hash: u64,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        Asset {
            path,
            content_type,
            body,
            hash: fnv1a(body),
        }
    }
}

/// The page and what it loads. The page refers to the others relative to itself
/// (`viewer/app.js`), so they sit under `/viewer/`.
const ASSETS: [Asset; 5] = [
    Asset::new(
        "/",
        "text/html; charset=utf-8",
        include_bytes!("viewer/index.html"),
    ),
    Asset::new(
        "/viewer/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("viewer/app.js"),
    ),
    Asset::new(
        "/viewer/logic.js",
        "text/javascript; charset=utf-8",
        include_bytes!("viewer/logic.js"),
    ),
    Asset::new(
        "/viewer/style.css",
        "text/css; charset=utf-8",
        include_bytes!("viewer/style.css"),
    ),
    Asset::new(
        "/viewer/icon.svg",
        "image/svg+xml",
        include_bytes!("viewer/icon.svg"),
    ),
];

/// What the page may load and do: everything from this origin, nothing inline, no plugins, no
/// framing by other sites, no form posts, no `<base>` that would redirect its relative URLs.
const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// 64-bit FNV-1a: a fixed, dependency-free hash for cache validators (not for security).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The viewer's routes, to be merged behind the same auth as `/system/logs`.
pub(crate) fn routes() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, asset_route(asset))
    })
}

fn asset_route(asset: &'static Asset) -> MethodRouter {
    // `get` also answers HEAD, without the body.
    get(move |headers: HeaderMap| async move { serve(asset, &headers) }).fallback(|| async {
        let mut res = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET",
        );
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        res
    })
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.hash);
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| none_match_hits(v, &etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = res.headers_mut();
    if !fresh {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    // Revalidate every time: a new binary serves new bytes at once, and a 304 costs nothing.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// Whether an `If-None-Match` value (`*`, or a list of entity tags, weak or strong) names
/// `etag`. RFC 9110 §13.1.2 compares weakly: `W/"x"` matches `"x"`.
fn none_match_hits(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// The budget for the whole page: HTML, CSS, JavaScript and icon together.
    const PAGE_BUDGET: usize = 60 * 1024;

    #[test]
    fn the_page_fits_its_budget() {
        let total: usize = ASSETS.iter().map(|a| a.body.len()).sum();
        assert!(total <= PAGE_BUDGET, "the page is {total} bytes");
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
    }

    #[test]
    fn the_page_loads_only_relative_urls_of_its_own() {
        let html = String::from_utf8_lossy(ASSETS[0].body);
        let js = String::from_utf8_lossy(ASSETS[1].body);
        for path in ASSETS[1..].iter().map(|a| &a.path[1..]) {
            // The page loads viewer/x; a module loads its sibling as ./x.
            let sibling = format!("'./{}'", path.trim_start_matches("viewer/"));
            assert!(
                html.contains(&format!("\"{path}\"")) || js.contains(&sibling),
                "{path} is not loaded"
            );
        }
        for asset in &ASSETS {
            // The SVG namespace is a name, not a URL that is loaded.
            let text =
                String::from_utf8_lossy(asset.body).replace("http://www.w3.org/2000/svg", "");
            // No other origin, no inline script or style.
            for bad in ["http:", "https:", "//", "<style", "style="] {
                let hits = text.match_indices(bad).filter(|(i, _)| {
                    // `//` starts a comment in JS and CSS `/*`; only a quoted `//` is a URL.
                    bad != "//"
                        || i.checked_sub(1)
                            .and_then(|j| text.as_bytes().get(j))
                            .is_some_and(|q| b"\"'`(".contains(q))
                });
                assert_eq!(hits.count(), 0, "{} contains {bad:?}", asset.path);
            }
            // No absolute path: a quoted or url() path starting with `/` and a letter.
            let bytes = text.as_bytes();
            for w in bytes.windows(3) {
                assert!(
                    !(b"\"'`(".contains(&w[0]) && w[1] == b'/' && w[2].is_ascii_alphabetic()),
                    "{} has an absolute URL near {:?}",
                    asset.path,
                    String::from_utf8_lossy(w)
                );
            }
        }
        // No inline event handler (` onclick=`): CSP would block it anyway.
        let words = html.split(|c: char| c.is_whitespace());
        assert!(
            !words
                .into_iter()
                .any(|w| w.starts_with("on") && w.contains('='))
        );
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script type=\"module\" src=\"viewer/app.js\"></script>"));
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "" and "a".
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"00ff\"";
        assert!(none_match_hits("\"00ff\"", tag));
        assert!(none_match_hits("W/\"00ff\"", tag));
        assert!(none_match_hits("\"aa\", \"00ff\"", tag));
        assert!(none_match_hits("*", tag));
        assert!(!none_match_hits("\"00fe\"", tag));
        assert!(!none_match_hits("00ff", tag));
        assert!(!none_match_hits("", tag));
    }

    async fn call(method: &str, uri: &str, if_none_match: Option<&str>) -> Response {
        let mut req = http::Request::builder().method(method).uri(uri);
        if let Some(tag) = if_none_match {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let req = req.body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        routes().oneshot(req).await.unwrap_or_else(|e| match e {})
    }

    async fn body(res: Response) -> Vec<u8> {
        res.into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn header(res: &Response, name: http::header::HeaderName) -> String {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn every_asset_has_its_type_and_the_security_headers() {
        for asset in &ASSETS {
            let res = call("GET", asset.path, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{}", asset.path);
            assert_eq!(header(&res, CONTENT_TYPE), asset.content_type);
            assert_eq!(header(&res, CONTENT_SECURITY_POLICY), CSP);
            assert!(CSP.starts_with("default-src 'self';"));
            assert!(!CSP.contains("unsafe"));
            assert_eq!(header(&res, X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert_eq!(header(&res, CACHE_CONTROL), "no-cache");
            assert_eq!(
                header(&res, ETAG),
                format!("\"{:016x}\"", fnv1a(asset.body))
            );
            assert_eq!(body(res).await, asset.body);
        }
        let etags: std::collections::BTreeSet<u64> = ASSETS.iter().map(|a| a.hash).collect();
        assert_eq!(etags.len(), ASSETS.len(), "every asset has its own ETag");
    }

    #[tokio::test]
    async fn a_matching_etag_is_not_modified() {
        let etag = header(&call("GET", "/", None).await, ETAG);
        let res = call("GET", "/", Some(&etag)).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&res, ETAG), etag);
        assert!(body(res).await.is_empty());
        let res = call("GET", "/", Some("\"0000000000000000\"")).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Another asset's tag does not validate this one.
        let js_tag = header(&call("GET", "/viewer/app.js", None).await, ETAG);
        assert_eq!(
            call("GET", "/", Some(&js_tag)).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn head_has_no_body_and_other_methods_are_405() {
        let res = call("HEAD", "/viewer/style.css", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, CONTENT_TYPE), "text/css; charset=utf-8");
        assert!(body(res).await.is_empty());
        for method in ["POST", "PUT", "DELETE"] {
            let res = call(method, "/", None).await;
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(header(&res, ALLOW), "GET, HEAD");
            assert_eq!(body(res).await, b"method not allowed: use GET\n");
        }
        assert_eq!(
            call("GET", "/viewer/missing.js", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
