//! One raw HTTP/1.1 exchange with the simulator, so the tests see exactly what a client would:
//! status line, headers and body as sent, no client library in between.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use loki_simulator::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 exchange over a fresh connection: status, content type (lower-cased header
/// name match), body.
pub(crate) async fn http(
    sim: &Simulator,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(sim.addr())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: loki\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let raw = String::from_utf8(raw).unwrap_or_else(|e| panic!("{e}"));
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{raw}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// `GET target`: status and body.
pub(crate) async fn get(sim: &Simulator, target: &str) -> (u16, String) {
    let (status, _, body) = http(sim, "GET", target, &[], "").await;
    (status, body)
}
