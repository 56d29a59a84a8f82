//! The handler's part of the filters and the functions listing over real HTTP on loopback:
//! capabilities a backend did not declare, listing errors, auth, and a real client (curl).

use std::sync::Arc;
use std::time::Duration;

use logs_api::testing::{get, get_with};
use logs_api::{
    BasicAuth, Capabilities, Config, Error, LogStream, MemoryRequester, Request, Requester,
    RunningServer, Server, Timestamp,
};

const NS: &str = "openfaas-fn";

async fn serve(requester: impl Requester, timeout: Duration) -> RunningServer {
    serve_with(Arc::new(requester), Config::local(timeout)).await
}

async fn serve_with(requester: Arc<dyn Requester>, config: Config) -> RunningServer {
    Server::bind(requester, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .spawn()
}

/// A backend that declares `capabilities`, streams one line whatever the filter, and lists
/// what `listing` says.
struct Plain {
    capabilities: Capabilities,
    listing: fn() -> logs_api::Result<Vec<String>>,
}

#[async_trait::async_trait]
impl Requester for Plain {
    async fn query(&self, _request: Request) -> logs_api::Result<LogStream> {
        let r = MemoryRequester::new();
        r.push(
            NS,
            "figlet",
            "p",
            Timestamp::from_unix_nanos(1),
            "secret line",
        );
        r.query(Request::new(NS, "figlet")).await
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn functions(&self, namespace: &str) -> logs_api::Result<Vec<String>> {
        assert_eq!(namespace, NS, "the handler resolves the default namespace");
        (self.listing)()
    }
}

/// A backend that implements neither filters nor the listing (the trait's defaults).
struct Bare;

#[async_trait::async_trait]
impl Requester for Bare {
    async fn query(&self, _request: Request) -> logs_api::Result<LogStream> {
        Plain {
            capabilities: Capabilities::default(),
            listing: || Ok(Vec::new()),
        }
        .query(Request::new(NS, "figlet"))
        .await
    }
}

#[tokio::test]
async fn filters_a_backend_did_not_declare_are_422() {
    let server = serve(Bare, Duration::from_secs(5)).await;
    for (query, param) in [
        ("level=error", "level"),
        ("stream=stdout", "stream"),
        ("grep=x", "grep"),
        ("regexp=x", "regexp"),
    ] {
        let res = get(server.addr, &format!("/system/logs?name=figlet&{query}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 422, "{query}");
        assert_eq!(
            res.text(),
            format!("could not parse the log request: {param} is not supported by this provider\n")
        );
        assert_eq!(
            res.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    // Unfiltered requests and empty values still work; `events` is ignored.
    for query in ["", "&level=&stream=&grep=&regexp=", "&events=true"] {
        let res = get(server.addr, &format!("/system/logs?name=figlet{query}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 200, "{query}");
        assert_eq!(res.messages().len(), 1, "{query}");
    }
    assert_eq!(server.metrics.requests(422), 4);
}

#[tokio::test]
async fn stream_is_refused_by_a_backend_that_cannot_tell_stdout_from_stderr() {
    let kube_like = Plain {
        capabilities: Capabilities {
            level: true,
            text: true,
            ..Capabilities::default()
        },
        listing: || Ok(Vec::new()),
    };
    let server = serve(kube_like, Duration::from_secs(5)).await;
    let res = get(
        server.addr,
        "/system/logs?name=figlet&stream=stderr&level=error",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 422);
    assert!(
        res.text().contains("stream is not supported"),
        "{}",
        res.text()
    );
    let res = get(server.addr, "/system/logs?name=figlet&level=error&grep=x")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn listing_without_backend_support_is_501() {
    let server = serve(Bare, Duration::from_secs(5)).await;
    let res = get(server.addr, "/system/logs/functions")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 501);
    assert_eq!(res.text(), "this provider does not list functions\n");
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn listing_backend_failure_is_500_without_internals() {
    let failing = Plain {
        capabilities: Capabilities::ALL,
        listing: || {
            Err(Error::backend(
                "listing pods at https://10.0.0.1:6443 with token abc",
                std::io::Error::other("connection refused"),
            ))
        },
    };
    let server = serve(failing, Duration::from_secs(5)).await;
    let res = get(server.addr, "/system/logs/functions")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), "function listing failed\n");
    assert_eq!(server.metrics.backend_errors(), 1);
}

/// A backend whose listing never answers.
struct Hanging;

#[async_trait::async_trait]
impl Requester for Hanging {
    async fn query(&self, _request: Request) -> logs_api::Result<LogStream> {
        Bare.query(Request::new(NS, "figlet")).await
    }

    async fn functions(&self, _namespace: &str) -> logs_api::Result<Vec<String>> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn listing_that_outlives_the_deadline_is_500() {
    let server = serve(Hanging, Duration::from_millis(300)).await;
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        get(server.addr, "/system/logs/functions"),
    )
    .await
    .unwrap_or_else(|_| panic!("the handler must enforce its deadline"))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), "function listing failed\n");
}

#[tokio::test]
async fn listing_keeps_only_valid_names_sorted_once() {
    let messy = Plain {
        capabilities: Capabilities::ALL,
        listing: || {
            Ok([
                "zeta", "alpha", "zeta", "Upper", "ns:name", "", "a\"b", "-x", "mid-1",
            ]
            .map(str::to_owned)
            .to_vec())
        },
    };
    let server = serve(messy, Duration::from_secs(5)).await;
    let res = get(server.addr, "/system/logs/functions")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.text(), "[\"alpha\",\"mid-1\",\"zeta\"]\n");
}

#[tokio::test]
async fn listing_is_behind_basic_auth() {
    let mut config = Config::local(Duration::from_secs(5));
    config.handler.auth = Some(BasicAuth::new("admin", "pw"));
    let r = MemoryRequester::new();
    r.push(NS, "figlet", "p", Timestamp::from_unix_nanos(1), "x");
    let server = serve_with(Arc::new(r), config).await;
    let res = get(server.addr, "/system/logs/functions")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 401);
    assert!(!res.text().contains("figlet"));
    let res = get_with(
        server.addr,
        "/system/logs/functions",
        &[("Authorization", "Basic YWRtaW46cHc=")],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "[\"figlet\"]\n");
}

/// curl, as an operator would type it: filters URL-encoded by curl itself.
#[tokio::test]
async fn curl_filters_and_lists() {
    let r = MemoryRequester::new();
    for (i, text) in [
        "INFO ready",
        "ERROR db down",
        "INFO retry",
        "ERROR db still down",
    ]
    .iter()
    .enumerate()
    {
        r.push(
            NS,
            "figlet",
            "p",
            Timestamp::from_unix_nanos(i as i64 + 1),
            text,
        );
    }
    let server = serve(r, Duration::from_secs(5)).await;
    let curl = |args: Vec<String>| async move {
        let out = tokio::process::Command::new("curl")
            .args(["-s", "-G", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
            .await
            .unwrap_or_else(|e| panic!("curl: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = format!("http://{}/system/logs", server.addr);
    let out = curl(vec![
        url.clone(),
        "--data-urlencode".into(),
        "name=figlet".into(),
        "--data-urlencode".into(),
        "level=error".into(),
        "--data-urlencode".into(),
        "tail=1".into(),
    ])
    .await;
    let (body, code) = out.rsplit_once('\n').unwrap_or_default();
    assert_eq!(code, "200");
    assert!(body.contains("\"text\":\"ERROR db still down\""), "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
    let out = curl(vec![
        url.clone(),
        "--data-urlencode".into(),
        "name=figlet".into(),
        "--data-urlencode".into(),
        "regexp=db (still )?down$".into(),
    ])
    .await;
    let (body, code) = out.rsplit_once('\n').unwrap_or_default();
    assert_eq!(code, "200");
    assert_eq!(body.lines().count(), 2, "{body}");
    let out = curl(vec![
        url,
        "--data-urlencode".into(),
        "name=figlet".into(),
        "--data-urlencode".into(),
        "regexp=db (down".into(),
    ])
    .await;
    let (body, code) = out.rsplit_once('\n').unwrap_or_default();
    assert_eq!(code, "422");
    assert!(
        body.starts_with(
            "could not parse the log request: regexp \"db (down\" is not a valid regular expression"
        ),
        "{body}"
    );
    let out = curl(vec![format!(
        "http://{}/system/logs/functions",
        server.addr
    )])
    .await;
    assert_eq!(out, "[\"figlet\"]\n\n200");
}
