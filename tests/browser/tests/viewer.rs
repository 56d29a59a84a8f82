//! The log viewer (`GET /`) in headless Chromium against `logs-journald` over journals written
//! by `systemd-journal-remote`: what an operator sees and does, end to end.
//!
//! One browser at a time (a lock below): the tests measure "appears within 2 s", which
//! several Chromiums on two cores would blur.

use std::collections::BTreeSet;
use std::time::Duration;

mod support;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use support::*;

static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(15);

/// `n` lines of `name` one second apart ending a minute ago, over `pids`, texts `<name> line <i>`.
fn history(name: &str, pids: &[u32], n: usize, end_usec: u64) -> Vec<Line> {
    (0..n)
        .map(|i| {
            let usec = end_usec - (n - i) as u64 * 1_000_000;
            Line::out(name, pids[i % pids.len()], usec, format!("{name} line {i}"))
        })
        .collect()
}

fn texts(lines: &[Line]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

async fn shown_is(b: &Browser, n: usize) {
    b.wait_for(
        &format!("document.getElementById('status').dataset.shown == {n}"),
        WAIT,
        &format!("{n} lines shown"),
    )
    .await;
}

async fn click(b: &Browser, css: &str) {
    b.client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn type_into(b: &Browser, css: &str, keys: &str) {
    b.client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(keys)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

async fn value_of(b: &Browser, id: &str) -> Value {
    b.eval(
        "const e = document.getElementById(arguments[0]);
         return e.type === 'checkbox' ? e.checked : e.value;",
        vec![json!(id)],
    )
    .await
}

fn query_of(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn has_pair(url: &url::Url, key: &str, value: &str) -> bool {
    query_of(url).iter().any(|(k, v)| k == key && v == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_renders_the_history_and_mirrors_the_state() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let end = now_usec() - 60_000_000;
    // 500 lines of figlet at every syslog level (journald's PRIORITY), 50 on stderr.
    let priorities = [6, 6, 4, 6, 3, 7, 6, 5, 2, 6];
    let lines: Vec<Line> = history("figlet", &[101, 102, 103], 500, end)
        .into_iter()
        .enumerate()
        .map(|(i, l)| l.priority(priorities[i % priorities.len()]))
        .collect();
    p.write(lines.clone()).await;
    p.write(history("nodeinfo", &[201], 50, end)).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&namespace=openfaas-fn&tail=100&level=warning&follow=true"))
        .await;
    // warning or worse: PRIORITY 0-4, the newest 100 of them.
    let matching: Vec<&Line> = lines.iter().filter(|l| l.priority <= 4).collect();
    let want: Vec<String> = matching[matching.len() - 100..]
        .iter()
        .map(|l| l.text.clone())
        .collect();
    shown_is(&b, 100).await;
    let rows = b.rows().await;
    assert_eq!(
        rows.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
        want
    );
    for (row, line) in rows.iter().zip(&matching[matching.len() - 100..]) {
        assert_eq!(row.instance, line.pid.to_string());
        assert_eq!(row.timestamp, rfc3339(line.usec));
        assert!(
            row.class
                .split(' ')
                .any(|c| c == format!("v{}", line.priority)),
            "{row:?} is coloured as PRIORITY {}",
            line.priority
        );
        // faasd's stderr is PRIORITY 3 on the journal transport: marked.
        assert_eq!(
            row.class.split(' ').any(|c| c == "e"),
            line.priority == 3,
            "{row:?}"
        );
    }
    // The controls show the link's state, and the URL still says it.
    assert_eq!(value_of(&b, "name").await, "figlet");
    assert_eq!(value_of(&b, "namespace").await, "openfaas-fn");
    assert_eq!(value_of(&b, "level").await, "warning");
    assert_eq!(value_of(&b, "tail").await, "100");
    assert_eq!(value_of(&b, "follow").await, true);
    let url = b.url().await;
    for (k, v) in [
        ("name", "figlet"),
        ("namespace", "openfaas-fn"),
        ("tail", "100"),
        ("level", "warning"),
        ("follow", "true"),
    ] {
        assert!(has_pair(&url, k, v), "{url} lacks {k}={v}");
    }
    let status = b.status().await;
    assert_eq!(status.state, "following");
    assert_eq!(status.total, 100);
    // One colour per instance: three chips, three colours, and the chart has a line each.
    let chips = b
        .eval(
            "return [...document.querySelectorAll('.chip')].map(c => [c.textContent, c.className]);",
            vec![],
        )
        .await;
    let chips = chips.as_array().cloned().unwrap_or_default();
    assert_eq!(chips.len(), 3, "{chips:?}");
    let colours: BTreeSet<String> = chips.iter().map(|c| c[1].to_string()).collect();
    assert_eq!(colours.len(), 3, "{chips:?}");
    b.wait_for(
        "document.querySelectorAll('#chart-svg polyline').length === 3",
        WAIT,
        "a chart line per instance",
    )
    .await;
    // The history reloads the same from the mirrored URL.
    b.client().refresh().await.unwrap_or_else(|e| panic!("{e}"));
    shown_is(&b, 100).await;
    assert_eq!(b.texts().await, want);
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figlet_tail_20_renders_exactly_its_last_20_lines_and_no_other_functions() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let end = now_usec() - 30_000_000;
    // Four functions interleaved in one journal, one of them with a name that starts with
    // "figlet".
    let figlet = history("figlet", &[4101, 4102], 60, end);
    let mut all = figlet.clone();
    all.extend(history("figletx", &[4301], 60, end + 300));
    all.extend(history("nodeinfo", &[4201], 60, end + 500));
    all.extend(history("env", &[4401, 4402, 4403], 60, end + 700));
    all.sort_by_key(|l| l.usec);
    p.write(all).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=20")).await;
    shown_is(&b, 20).await;
    // Give a stray extra line the chance to show up before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = b.rows().await;
    assert_eq!(
        rows.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
        texts(&figlet[40..])
    );
    assert!(
        rows.iter()
            .all(|r| r.instance == "4101" || r.instance == "4102")
    );
    let status = b.status().await;
    assert_eq!((status.shown, status.total), (20, 20), "{status:?}");
    // The picker lists every function of the namespace, figlet marked as the one shown.
    b.wait_for(
        "document.querySelectorAll('#functions a').length === 4",
        WAIT,
        "the functions listing",
    )
    .await;
    let listed = b
        .eval(
            "return [...document.querySelectorAll('#functions a')].map(a =>
               [a.textContent, a.getAttribute('aria-current') || '']);",
            vec![],
        )
        .await;
    assert_eq!(
        listed,
        json!([
            ["env", ""],
            ["figlet", "page"],
            ["figletx", ""],
            ["nodeinfo", ""]
        ])
    );
    b.screenshot("figlet-tail-20").await;
    // Picking another function shows its lines, keeps the other settings, and says so in the URL.
    click(&b, "#functions a[href*='name=nodeinfo']").await;
    b.wait_for(
        "[...document.querySelectorAll('#log .l > span')].length === 20 &&
         [...document.querySelectorAll('#log .l > span')].every(s => s.textContent.startsWith('nodeinfo '))",
        WAIT,
        "nodeinfo's lines",
    )
    .await;
    let url = b.url().await;
    assert!(
        has_pair(&url, "name", "nodeinfo") && has_pair(&url, "tail", "20"),
        "{url}"
    );
    assert_eq!(value_of(&b, "name").await, "nodeinfo");
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_appended_to_the_journal_appears_within_2_s() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    p.write(history("figlet", &[101], 200, now_usec() - 1_000_000))
        .await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=200")).await;
    shown_is(&b, 200).await;
    let mut latencies = Vec::new();
    for i in 0..3 {
        let text = format!("live line {i}");
        let started = std::time::Instant::now();
        p.write(vec![Line::out("figlet", 101, now_usec(), text.clone())])
            .await;
        b.wait_for(
            &format!(
                "document.querySelector('#log > :last-child > :last-child > span').textContent === {}",
                json!(text)
            ),
            WAIT,
            &text,
        )
        .await;
        latencies.push(started.elapsed());
    }
    println!("journal write to line on screen: {latencies:?}");
    for l in &latencies {
        assert!(*l < Duration::from_secs(2), "{latencies:?}");
    }
    // Following at the bottom: the newest line is scrolled into view.
    let at_bottom = b
        .eval(
            "const l = document.getElementById('log');
             return l.scrollHeight > l.clientHeight &&
                    l.scrollTop + l.clientHeight >= l.scrollHeight - 8;",
            vec![],
        )
        .await;
    assert_eq!(at_bottom, true);
    assert_eq!(b.status().await.total, 203);
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_narrows_the_lines_on_the_server_and_slash_focuses_it() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let end = now_usec() - 10_000_000;
    let lines: Vec<Line> = (0..40u64)
        .map(|i| {
            let usec = end - (40 - i) * 100_000;
            let text = if i % 4 == 0 {
                format!("needle {i}")
            } else {
                format!("hay {i}")
            };
            if i % 8 == 0 {
                Line::err("figlet", 7, usec, text)
            } else {
                Line::out("figlet", 7, usec, text)
            }
        })
        .collect();
    // Five old ones, from an hour ago, first: journal files grow in time order.
    let hour_ago = end - 3_600_000_000;
    let old: Vec<Line> = (0..5u64)
        .map(|i| Line::out("figlet", 7, hour_ago + i, format!("old needle {i}")))
        .collect();
    p.write(old.clone()).await;
    p.write(lines.clone()).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=-1&since=15m")).await;
    shown_is(&b, 40).await;
    assert_eq!(
        b.texts().await,
        texts(&lines),
        "since=15m keeps the old ones out"
    );
    // `/` anywhere but in a field focuses the text filter.
    type_into(&b, "#log", "/").await;
    assert_eq!(
        b.eval("return document.activeElement.id;", vec![]).await,
        "grep"
    );
    type_into(&b, "#grep", &format!("needle{}", Key::Enter)).await;
    let needles: Vec<String> = lines
        .iter()
        .filter(|l| l.text.starts_with("needle"))
        .map(|l| l.text.clone())
        .collect();
    shown_is(&b, needles.len()).await;
    assert_eq!(b.texts().await, needles);
    // The server did the filtering: only the matching lines came over the wire.
    assert_eq!(b.status().await.total, needles.len());
    assert!(has_pair(&b.url().await, "grep", "needle"));
    // A second filter narrows further: stderr only.
    b.eval(
        "const s = document.getElementById('stream'); s.value = 'stderr';
         s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    let stderr_needles: Vec<String> = lines
        .iter()
        .filter(|l| l.text.starts_with("needle") && l.priority == 3)
        .map(|l| l.text.clone())
        .collect();
    shown_is(&b, stderr_needles.len()).await;
    assert_eq!(b.texts().await, stderr_needles);
    let url = b.url().await;
    assert!(
        has_pair(&url, "stream", "stderr") && has_pair(&url, "grep", "needle"),
        "{url}"
    );
    // A regexp instead of grep: cleared grep, then `hay [12]\d$`.
    b.eval(
        "const g = document.getElementById('grep'); g.value = '';
         g.dispatchEvent(new Event('change'));
         const s = document.getElementById('stream'); s.value = '';
         s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    shown_is(&b, 40).await;
    type_into(&b, "#regexp", &format!("^hay [12]\\d${}", Key::Enter)).await;
    let want: Vec<String> = lines
        .iter()
        .filter(|l| {
            l.text
                .strip_prefix("hay ")
                .is_some_and(|n| n.len() == 2 && (n.starts_with('1') || n.starts_with('2')))
        })
        .map(|l| l.text.clone())
        .collect();
    shown_is(&b, want.len()).await;
    assert_eq!(b.texts().await, want);
    // Without `since`, the old lines come too.
    b.eval(
        "const r = document.getElementById('regexp'); r.value = '';
         r.dispatchEvent(new Event('change'));
         const s = document.getElementById('since'); s.value = '';
         s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    shown_is(&b, 45).await;
    let mut all = texts(&old);
    all.extend(texts(&lines));
    assert_eq!(b.texts().await, all);
    assert!(!query_of(&b.url().await).iter().any(|(k, _)| k == "since"));
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_restart_is_weathered_without_duplicates() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let mut p = Provider::start(Options::default()).await;
    let lines = history("figlet", &[1, 2], 10, now_usec());
    p.write(lines.clone()).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet")).await;
    shown_is(&b, 10).await;
    // The provider goes away (its streams end, then connections are refused) and lines keep
    // being written meanwhile.
    p.shut_down().await;
    p.write(vec![Line::out(
        "figlet",
        1,
        now_usec(),
        "while the provider was down",
    )])
    .await;
    b.wait_for(
        "document.getElementById('notice').textContent.startsWith('The stream failed')",
        WAIT,
        "a notice that the stream failed",
    )
    .await;
    assert_eq!(b.status().await.state, "reconnecting");
    p.restart().await;
    shown_is(&b, 11).await;
    p.write(vec![Line::out(
        "figlet",
        2,
        now_usec(),
        "after the restart",
    )])
    .await;
    shown_is(&b, 12).await;
    let mut want = texts(&lines);
    want.extend(["while the provider was down", "after the restart"].map(String::from));
    assert_eq!(b.texts().await, want);
    let status = b.status().await;
    assert_eq!(status.state, "following");
    assert!(status.notice.starts_with("Reconnected at"), "{status:?}");
    // Chromium logs the refused connections.
    b.assert_no_console_errors(&["ERR_CONNECTION_REFUSED", "Failed to fetch"])
        .await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_text_is_never_html_and_the_csp_blocks_inline_script() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let hostile =
        r#"<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>"#;
    p.write(vec![Line::out("figlet", 1, now_usec(), hostile)])
        .await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet")).await;
    shown_is(&b, 1).await;
    assert_eq!(b.texts().await, [hostile]);
    let state = b
        .eval(
            "return [typeof window.pwned, document.querySelectorAll('#log img, #log script, #log b:not(.l > b)').length];",
            vec![],
        )
        .await;
    assert_eq!(state, json!(["undefined", 0]));
    b.assert_no_console_errors(&[]).await;
    // Inline script is refused by the page's Content-Security-Policy, and says so.
    let ran = b
        .eval(
            "const s = document.createElement('script'); s.textContent = 'window.inline = 1';
             document.body.append(s); return typeof window.inline;",
            vec![],
        )
        .await;
    assert_eq!(ran, "undefined");
    let log = b.console().await;
    assert!(
        log.iter()
            .any(|(level, msg)| level == "SEVERE" && msg.contains("Content Security Policy")),
        "{log:?}"
    );
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_422_message_is_shown() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    p.write(history("figlet", &[1], 5, now_usec())).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet")).await;
    shown_is(&b, 5).await;
    type_into(&b, "#regexp", &format!("({}", Key::Enter)).await;
    b.wait_for(
        "document.getElementById('status').dataset.state === 'error'",
        WAIT,
        "the error state",
    )
    .await;
    let status = b.status().await;
    assert!(
        status.error.starts_with("422")
            && status.error.contains(
                "could not parse the log request: regexp \"(\" is not a valid regular expression"
            ),
        "{status:?}"
    );
    assert_eq!(status.shown, 0);
    // Deep links with a bad value say what the server said too, and a namespace that is not
    // allowed is refused for the listing as well.
    b.goto(&p.url("?name=figlet&level=verbose&namespace=kube-system"))
        .await;
    b.wait_for(
        "document.getElementById('status').dataset.state === 'error' &&
         document.getElementById('functions-note').textContent !== ''",
        WAIT,
        "the error state",
    )
    .await;
    let status = b.status().await;
    assert!(
        status
            .error
            .contains("namespace \"kube-system\" is not allowed")
            || status.error.contains("level \"verbose\""),
        "{status:?}"
    );
    let note = b
        .eval(
            "return document.getElementById('functions-note').textContent;",
            vec![],
        )
        .await;
    assert!(
        note.as_str()
            .is_some_and(|n| n.starts_with("422") && n.contains("kube-system")),
        "{note}"
    );
    // An unreadable `since` is caught before asking.
    b.goto(&p.url("?name=figlet&since=yesterday")).await;
    b.wait_for(
        "document.getElementById('status').dataset.state === 'error'",
        WAIT,
        "the error state",
    )
    .await;
    assert!(b.status().await.error.contains("since \"yesterday\""));
    b.assert_no_console_errors(&["422"]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_updates_and_resume_brings_the_missed_lines_once() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let start = now_usec() - 5_000_000;
    p.write(history("figlet", &[1, 2], 10, start)).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet")).await;
    shown_is(&b, 10).await;
    click(&b, "#pause").await;
    assert_eq!(b.status().await.state, "paused");
    assert_eq!(
        b.eval(
            "return document.getElementById('pause').textContent;",
            vec![]
        )
        .await,
        "Resume"
    );
    // Two lines at the same instant, and one more, while paused.
    let t = now_usec();
    p.write(vec![
        Line::out("figlet", 1, t, "while paused"),
        Line::out("figlet", 2, t, "while paused"),
        Line::out("figlet", 1, t + 10, "also while paused"),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(b.status().await.shown, 10, "paused, yet updated");
    click(&b, "#pause").await;
    shown_is(&b, 13).await;
    // Following again: a new line comes live.
    p.write(vec![Line::out("figlet", 1, now_usec(), "after resume")])
        .await;
    shown_is(&b, 14).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut want = texts(&history("figlet", &[1, 2], 10, start));
    want.extend(
        [
            "while paused",
            "while paused",
            "also while paused",
            "after resume",
        ]
        .map(String::from),
    );
    assert_eq!(b.texts().await, want);
    assert_eq!(b.status().await.state, "following");
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_the_page_is_refused_without_credentials_and_works_with_them() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options {
        auth: Some(("admin".into(), "s3cr3t".into())),
        ..Options::default()
    })
    .await;
    p.write(history("figlet", &[1], 8, now_usec())).await;
    // Every asset is behind the auth, as /system/logs is.
    for path in [
        "/",
        "/?name=figlet",
        "/viewer/app.js",
        "/viewer/logic.js",
        "/viewer/style.css",
        "/viewer/icon.svg",
    ] {
        let res = logs_api::testing::get(p.addr, path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status, 401, "{path}");
        assert_eq!(
            res.header("www-authenticate"),
            Some("Basic realm=\"Restricted\"")
        );
        assert_eq!(res.text(), "unauthorized\n");
    }
    let ok =
        logs_api::testing::get_with(p.addr, "/", &[("Authorization", "Basic YWRtaW46czNjcjN0")])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("text/html; charset=utf-8"));
    let b = Browser::start().await;
    // Without credentials: the browser gets the 401 (headless Chromium cannot ask for a
    // password, so it shows its error page), not the viewer.
    b.goto(&p.url("?name=figlet")).await;
    let page = b
        .eval(
            "return [document.title, !!document.getElementById('log'), !!document.querySelector('script[src]')];",
            vec![],
        )
        .await;
    assert_ne!(page[0], "faas-logs", "{page}");
    assert_eq!(page[1], false, "{page}");
    assert_eq!(page[2], false, "{page}");
    let log = b.console().await;
    assert!(
        log.iter().any(|(_, msg)| msg.contains("status of 401")),
        "{log:?}"
    );
    // With them (as a URL would carry them): the page, its scripts and its API calls work.
    let url = format!("http://admin:s3cr3t@{}/?name=figlet&tail=5", p.addr);
    b.goto(&url).await;
    shown_is(&b, 5).await;
    b.wait_for(
        "document.querySelectorAll('#functions a').length === 1",
        WAIT,
        "the functions listing",
    )
    .await;
    assert_eq!(b.status().await.state, "following");
    b.assert_no_console_errors(&["401"]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_reconnects_from_the_last_line_without_duplicates() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    // The server ends every follow stream after 3 s.
    let p = Provider::start(Options {
        timeout: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    let t0 = now_usec() - 10_000_000;
    // The history ends with three lines at one instant, two of them identical.
    let mut lines = history("figlet", &[1, 2], 6, t0);
    let last = t0 + 1_000;
    lines.extend([
        Line::out("figlet", 1, last, "same instant"),
        Line::out("figlet", 1, last, "same instant"),
        Line::out("figlet", 2, last, "same instant, other text"),
    ]);
    p.write(lines.clone()).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=-1")).await;
    shown_is(&b, 9).await;
    let mut want = texts(&lines);
    // While the page waits to reconnect, a line arrives at exactly the last instant shown: the
    // restarted stream (since = that instant) brings it with the ones already shown, and only
    // it is new.
    b.wait_for(
        "document.getElementById('status').dataset.state === 'reconnecting'",
        WAIT,
        "the stream's end",
    )
    .await;
    let notice = b.status().await.notice;
    assert!(
        notice.starts_with("The stream ended; reconnecting from"),
        "{notice}"
    );
    p.write(vec![Line::out("figlet", 2, last, "same instant, late")])
        .await;
    want.push("same instant, late".into());
    // Lines keep coming across two more ends of the stream.
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let text = format!("live {i}");
        p.write(vec![Line::out(
            "figlet",
            1 + i % 2,
            now_usec(),
            text.clone(),
        )])
        .await;
        want.push(text);
    }
    b.wait_for(
        "Number(document.getElementById('status').dataset.reconnects) >= 3",
        WAIT,
        "three reconnects",
    )
    .await;
    shown_is(&b, want.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.texts().await, want);
    let status = b.status().await;
    assert_eq!(status.total, want.len(), "{status:?}");
    assert!(status.text.contains("reconnected"), "{status:?}");
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chips_hide_instances_and_download_saves_what_is_shown() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let lines = history("figlet", &[11, 22], 10, now_usec());
    p.write(lines.clone()).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&wrap=true")).await;
    shown_is(&b, 10).await;
    assert_eq!(value_of(&b, "wrap").await, true);
    let wrapped = "return document.getElementById('log').classList.contains('wrap');";
    assert_eq!(b.eval(wrapped, vec![]).await, true);
    click(&b, "#wrap").await;
    assert_eq!(b.eval(wrapped, vec![]).await, false);
    assert!(has_pair(&b.url().await, "wrap", "false"));
    // Wrapping is the page's own: the lines stay, nothing was asked again.
    assert_eq!(b.status().await.total, 10);
    // Hide instance 22: its lines go, the others stay, nothing is asked of the server.
    click(&b, ".chip:nth-child(2)").await;
    let shown = b.texts().await;
    let of_11: Vec<String> = lines
        .iter()
        .filter(|l| l.pid == 11)
        .map(|l| l.text.clone())
        .collect();
    assert_eq!(shown, of_11);
    let status = b.status().await;
    assert!(status.text.contains("(5 hidden)"), "{status:?}");
    assert_eq!(status.total, 10);
    assert_eq!(
        b.eval(
            "return document.querySelector('.chip:nth-child(2)').getAttribute('aria-pressed');",
            vec![]
        )
        .await,
        "false"
    );
    // Download: the lines shown, as NDJSON in the server's field order.
    let saved = b
        .eval_async(
            "const done = arguments[0];
             const create = URL.createObjectURL;
             URL.createObjectURL = (blob) => { blob.text().then(done); return create.call(URL, blob); };
             document.getElementById('download').click();",
            vec![],
        )
        .await;
    let saved = saved.as_str().unwrap_or_default();
    let objects: Vec<Value> = saved
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(
        objects
            .iter()
            .map(|o| o["text"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        of_11
    );
    for line in saved.lines() {
        assert!(
            line.starts_with("{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"instance\":\"11\",\"timestamp\":\""),
            "{line}"
        );
    }
    // Show it again.
    click(&b, ".chip:nth-child(2)").await;
    assert_eq!(b.texts().await, texts(&lines));
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_scroll_stops_when_scrolled_up_and_resumes_at_the_bottom() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    p.write(history("figlet", &[1], 300, now_usec())).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=300")).await;
    shown_is(&b, 300).await;
    let scroll_top = "return document.getElementById('log').scrollTop;";
    b.eval(
        "const l = document.getElementById('log'); l.scrollTop = 0;
         l.dispatchEvent(new Event('scroll'));",
        vec![],
    )
    .await;
    p.write(vec![Line::out("figlet", 1, now_usec(), "while reading")])
        .await;
    shown_is(&b, 301).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.eval(scroll_top, vec![]).await, 0, "the view jumped");
    assert_eq!(
        b.eval("return document.getElementById('jump').hidden;", vec![])
            .await,
        false
    );
    click(&b, "#jump").await;
    p.write(vec![Line::out(
        "figlet",
        1,
        now_usec(),
        "at the bottom again",
    )])
    .await;
    shown_is(&b, 302).await;
    b.wait_for(
        "(() => { const l = document.getElementById('log');
           return l.scrollTop > 0 && l.scrollTop + l.clientHeight >= l.scrollHeight - 8; })()",
        WAIT,
        "scrolled to the newest line",
    )
    .await;
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

/// The page's pure logic, imported into the real browser: the level detection against the
/// server's own `logs_api::level::detect`, NDJSON split anywhere, resuming without duplicates,
/// timestamps and `since`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_logic_agrees_with_the_server() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let b = Browser::start().await;
    b.goto(&p.url("")).await;
    // Without a function, the page waits for one to be picked.
    assert_eq!(b.status().await.state, "idle");
    assert_eq!(
        b.eval(
            "return getComputedStyle(document.getElementById('log'), '::before').content;",
            vec![]
        )
        .await,
        "\"Pick a function on the left.\""
    );
    let corpus = level_corpus();
    let detected = b
        .eval_async(
            "const [lines, done] = arguments;
             import('./viewer/logic.js').then(m => done(lines.map(l => m.detectLevel(l))));",
            vec![json!(corpus)],
        )
        .await;
    let detected = detected.as_array().cloned().unwrap_or_default();
    assert_eq!(detected.len(), corpus.len());
    let mut disagreements = Vec::new();
    for (line, js) in corpus.iter().zip(&detected) {
        let rust = logs_api::level::detect(line).map_or(-1, |s| i64::from(s.number()));
        if js.as_i64() != Some(rust) {
            disagreements.push(format!("{line:?}: server {rust}, page {js}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} lines: {disagreements:#?}",
        disagreements.len(),
        corpus.len()
    );
    let failures = b.eval_async(include_str!("logic_checks.js"), vec![]).await;
    assert_eq!(failures, json!([]), "{failures:#}");
    // The timestamp key orders like the server's timestamps.
    let stamps: Vec<String> = [
        1_700_000_000_000_000_000i64,
        1_700_000_000_100_000_000,
        1_700_000_000_120_000_000,
        1_700_000_000_123_456_789,
        1_700_000_000_999_999_999,
        1_700_000_001_000_000_000,
        1_700_000_001_000_000_001,
        -1_000_000_000,
    ]
    .iter()
    .map(|n| logs_api::Timestamp::from_unix_nanos(*n).to_string())
    .collect();
    let sorted = b
        .eval_async(
            "const [ts, done] = arguments;
             import('./viewer/logic.js').then(m =>
               done([...ts].sort((a, b) => m.tsKey(a) < m.tsKey(b) ? -1 : 1)));",
            vec![json!(stamps)],
        )
        .await;
    let mut want = stamps.clone();
    want.sort_by_key(|s| {
        logs_api::Timestamp::parse_rfc3339(s)
            .map(|t| t.unix_nanos())
            .unwrap_or_else(|_| panic!("{s}"))
    });
    assert_eq!(sorted, json!(want));
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}

/// Lines for the level cross-check: the documented examples, the server's unit-test cases, and
/// a few thousand generated from level-ish fragments.
fn level_corpus() -> Vec<String> {
    let mut corpus: Vec<String> = [
        r#"{"level":"error","msg":"x"}"#,
        r#"  {"msg":"x", "lvl" : "WARN"}"#,
        r#"{"time":1,"nested":{"level":"debug"},"severity":"ERROR"}"#,
        r#"{"a":[1,{"level":"debug"},"]"],"Level":"info"}"#,
        r#"{"msg":"level=error","x":null}"#,
        r#"{"level":30,"msg":"pino"}"#,
        r#"{"level":"verbose","severity":"warning"}"#,
        r#"{"level":"err\u006fr"}"#,
        r#"{"le\u0076el":"error"}"#,
        r#"{"msg":"say \"level\":\"error\""}"#,
        "{}",
        r#"{"msg":"x""#,
        r#"{"msg":"x" level=warn"#,
        r#"{"level":"error","msg":"#,
        "{ERROR} x",
        "{not json} level=warn",
        "ERROR connection refused",
        "ERROR",
        "WARN\tdisk almost full",
        "[error] boom",
        "[Info] started",
        "Error: file not found",
        "warning: deprecated flag",
        "ERROR:root:Python logging",
        "2026-01-02T03:04:05.123Z ERROR handler failed",
        "2026-01-02T03:04:05.123Z\tERROR\thandler failed",
        "2026/01/02 03:04:05 WARNING: slow",
        "2026-01-02 03:04:05,123 INFO started",
        "   DEBUG indented",
        "FATAL out of memory",
        "Error handling enabled",
        "error handling enabled",
        "Info about the request",
        "ERRORS: 3",
        "Forking fprocess.",
        "1 2 3 ERROR too far",
        "the ERROR is late",
        "",
        "   ",
        "time=2026-01-01T00:00:00Z level=error msg=boom",
        "level=warn",
        r#"ts=1 lvl="debug" msg="x""#,
        "t=1 LEVEL=INFO",
        "t=1 severity=crit",
        "t=1 loglevel=error",
        "t=1 msg=x,level=error",
        "t=1 level=verbose",
        "t=1 level=",
        r#"t=1 level="error"#,
        "no equals sign here",
        "PANIC: goroutine 1",
        "[TRC] x",
        "Informational: x",
        "ÉRROR x",
        "ERROR\u{a0}x",
    ]
    .map(String::from)
    .to_vec();
    corpus.push(format!("{}level=error", "x ".repeat(8192)));
    corpus.push(format!("level=error {}", "x".repeat(40_000)));
    // Fragments combined by a fixed linear congruential generator: reproducible, no dependency.
    let fragments = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        " ",
        "\t",
        "\\",
        "=",
        "level",
        "lvl",
        "severity",
        "Level",
        "error",
        "ERROR",
        "warn",
        "Warning",
        "info",
        "debug",
        "crit",
        "x",
        "msg",
        "1",
        "2026-01-02",
        "03:04:05",
        "\"level\"",
        "\"error\"",
        "\"msg\"",
        "[warn]",
        "Error:",
        "level=",
        "null",
        "30",
        "{\"a\":",
        "é",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3000 {
        let mut line = String::new();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let parts = 1 + (seed >> 60) as usize;
        for _ in 0..parts {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            line.push_str(fragments[(seed >> 33) as usize % fragments.len()]);
        }
        corpus.push(line);
    }
    corpus
}

/// The screenshot in README.md (`docs/img/viewer.png`, copied from
/// `target/browser-screenshots/viewer.png`): several functions, instances and levels, stderr,
/// and half an hour of traffic in the chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_screenshot() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let p = Provider::start(Options::default()).await;
    let now = now_usec();
    let minute = 60_000_000u64;
    let mut lines = Vec::new();
    for name in [
        "cows",
        "env",
        "markdown",
        "nodeinfo",
        "sentimentanalysis",
        "shasum",
    ] {
        lines.push(Line::out(
            name,
            3000,
            now - 40 * minute,
            "Forking - ./handler []",
        ));
    }
    // figlet: three replicas over 30 minutes; the third starts late, traffic peaks mid-way.
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for m in 0..30u64 {
        let busy = 4 + 10 * (15 - (m as i64 - 15).abs()) as u64 / 15;
        for (pid, share) in [
            (4101u32, 3u64),
            (4102, 2),
            (4103, if m > 12 { 2 } else { 0 }),
        ] {
            for k in 0..busy * share / 2 {
                let usec = now - (30 - m) * minute + (next() % 60_000_000) + k;
                let ms = 2 + next() % 40;
                lines.push(Line::out(
                    "figlet",
                    pid,
                    usec,
                    format!(
                        "2026/11/29 POST / - 200 OK - ContentLength: {}B ({ms}.{:03}ms)",
                        90 + next() % 400,
                        next() % 1000
                    ),
                ));
            }
        }
    }
    let t = now - 50_000_000;
    let tail: [(u32, u8, &str); 14] = [
        (4103, 5, "Started logging: stderr"),
        (
            4103,
            5,
            "Listening on port: 8080 (write_timeout=10s, exec_timeout=10s)",
        ),
        (4101, 6, "Forking fprocess. (figlet -f standard)"),
        (4101, 7, "DEBUG font cache hit: standard"),
        (
            4102,
            6,
            "2026/11/29 POST / - 200 OK - ContentLength: 131B (0.0038s)",
        ),
        (4101, 4, "WARN slow request: 1.84s for POST / (body 96 KiB)"),
        (
            4103,
            3,
            "Error: font \"banner3\" not found, using \"standard\"",
        ),
        (
            4102,
            6,
            "2026/11/29 POST / - 200 OK - ContentLength: 412B (0.0041s)",
        ),
        (
            4101,
            3,
            "panic: runtime error: index out of range [3] with length 3",
        ),
        (
            4101,
            3,
            "goroutine 12 [running]: main.render(0xc000120000, 0x3)",
        ),
        (4102, 2, "FATAL upstream closed the connection: broken pipe"),
        (
            4103,
            6,
            "2026/11/29 POST / - 200 OK - ContentLength: 96B (0.0029s)",
        ),
        (4101, 6, "Forking fprocess. (figlet -f standard)"),
        (
            4102,
            6,
            "2026/11/29 POST / - 200 OK - ContentLength: 218B (0.0033s)",
        ),
    ];
    for (i, (pid, priority, text)) in tail.iter().enumerate() {
        lines.push(Line::out("figlet", *pid, t + i as u64 * 3_000_000, *text).priority(*priority));
    }
    lines.sort_by_key(|l| l.usec);
    let figlet_lines = lines.iter().filter(|l| l.name == "figlet").count();
    p.write(lines).await;
    let b = Browser::start().await;
    b.goto(&p.url("?name=figlet&tail=2000")).await;
    shown_is(&b, figlet_lines.min(2000)).await;
    b.wait_for(
        "document.querySelectorAll('#chart-svg polyline').length === 3 &&
         document.querySelectorAll('#functions a').length === 7",
        WAIT,
        "the chart and the functions",
    )
    .await;
    let classes: BTreeSet<String> = b
        .rows()
        .await
        .iter()
        .flat_map(|r| r.class.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for c in ["v2", "v3", "v4", "v5", "v6", "v7", "e", "c0", "c1", "c2"] {
        assert!(classes.contains(c), "no {c} row: {classes:?}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.screenshot("viewer").await;
    // The same in a dark desktop theme.
    let background = "return getComputedStyle(document.body).backgroundColor;";
    assert_eq!(b.eval(background, vec![]).await, "rgb(255, 255, 255)");
    b.dark(true).await;
    assert_eq!(b.eval(background, vec![]).await, "rgb(13, 17, 23)");
    b.screenshot("viewer-dark").await;
    b.assert_no_console_errors(&[]).await;
    b.close().await;
    p.stop().await;
}
