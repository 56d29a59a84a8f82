//! Journal messages that are not valid UTF-8 reach the client exactly as Go's `json.Encoder`
//! writes them: one `\ufffd` per byte that Go's `utf8.DecodeRune` rejects (issue 10), read from
//! journal files written by `systemd-journal-remote`, over the real server on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use logs_api::testing::get;
use logs_api::{Config, Server};

#[tokio::test]
async fn invalid_bytes_are_replaced_one_by_one_as_go_does() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t0 = now_usec() - 60_000_000;
    write_journal(
        dir.path(),
        "system",
        &[],
        &[
            // A line cut inside a 3-byte character, then a 4-byte one cut after 3 bytes, an
            // overlong NUL and a surrogate.
            line("figlet", 101, t0, b"cut \xE6\x97".to_vec()),
            line(
                "figlet",
                101,
                t0 + 1,
                b"\xF0\x9F\x98 \xC0\x80 \xED\xA0\x80 ok\n".to_vec(),
            ),
        ],
    );
    let server = Server::bind(
        Arc::new(requester(dir.path())),
        Config::local(Duration::from_secs(30)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .spawn();
    let res = get(server.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status, 200);
    assert!(res.complete);
    let body = String::from_utf8(res.body.clone()).unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<&str> = body
        .lines()
        .map(|l| {
            l.split_once(",\"text\":")
                .and_then(|(_, rest)| rest.split_once(",\"stream\""))
                .map_or_else(|| panic!("no text in {l}"), |(text, _)| text)
        })
        .collect();
    assert_eq!(
        texts,
        [
            r#""cut \ufffd\ufffd""#,
            r#""\ufffd\ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd ok""#,
        ]
    );
}
