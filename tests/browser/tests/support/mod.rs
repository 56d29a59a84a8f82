//! The harness of the log viewer's end-to-end tests: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`) with fantoccini, and a
//! `logs-journald` provider served in-process over a journal directory that the tests fill with
//! systemd's own `systemd-journal-remote`, as faasd's journald would.
//!
//! Missing browser packages are a test failure that names them, never a silent skip.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use fantoccini::Client;
use fantoccini::ClientBuilder;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use hyper_util::client::legacy::connect::HttpConnector;
use logs_api::{BasicAuth, Config, RunningServer, Server};
use logs_journald::export::{ExportEntry, journal_remote, write_entry};
use logs_journald::{Args, JournaldRequester};
use serde_json::{Value, json};

/// The Debian packages the browser tests need, besides `systemd-journal-remote`.
pub const PACKAGES: &str = "chromium chromium-driver";

/// The namespace every test function lives in (the provider's default).
pub const NS: &str = "openfaas-fn";

/// Chromium's flags: headless, as root in a container (no sandbox), nothing that phones home,
/// a fixed window and scale so screenshots are comparable.
const CHROMIUM_FLAGS: [&str; 13] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    "--force-color-profile=srgb",
];

/// Where a program is on `PATH`, if anywhere.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Ends the session's WebDriver `browser` log: what the page wrote to its console, its uncaught
/// errors, failed loads and Content-Security-Policy violations (chromedriver's `se/log`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A headless Chromium with its own chromedriver and a fresh profile.
pub struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session through it.
    ///
    /// # Panics
    /// When `chromium` or `chromedriver` is not installed (naming the Debian packages), or
    /// either fails to start: the tests need them.
    pub async fn start() -> Browser {
        let missing = |what: &str| -> ! {
            panic!(
                "{what} is not on PATH: the viewer's browser tests need headless Chromium; \
                 install the Debian packages `{PACKAGES}` (apt-get install -y {PACKAGES})"
            )
        };
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .or_else(|| find_program("chromium"))
            .unwrap_or_else(|| missing("chromium"));
        let chromedriver = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| find_program("chromedriver"))
            .unwrap_or_else(|| missing("chromedriver"));
        let (driver, port) = start_chromedriver(&chromedriver);
        let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let mut driver = Some(driver);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                if let Some(d) = driver.take() {
                    kill_group(d);
                }
                panic!("chromedriver could not start {}: {e}", chromium.display())
            });
        let browser = Browser {
            client,
            driver: driver.unwrap_or_else(|| unreachable!()),
            _profile: profile,
        };
        // Long enough for the 100,000-line measurement's async script.
        browser
            .client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(60)),
                None,
            ))
            .await
            .unwrap_or_else(|e| panic!("setting timeouts: {e}"));
        browser
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for the page's `load` event.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](result)` when done.
    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("async script failed: {e}\n{script}"))
    }

    /// Waits until the expression `js` is true in the page, checking every 20 ms; returns how
    /// long that took.
    ///
    /// # Panics
    /// When it is still false after `timeout`, with `what` and the page's state.
    pub async fn wait_for(&self, js: &str, timeout: Duration, what: &str) -> Duration {
        let started = Instant::now();
        let script = format!("return !!({js});");
        loop {
            if self.eval(&script, vec![]).await == Value::Bool(true) {
                return started.elapsed();
            }
            if started.elapsed() > timeout {
                let status = self.status().await;
                let rows = self.rows().await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} ({js}); status {status:?}; \
                     {} rows, the last: {:?}",
                    rows.len(),
                    rows.last()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log lines in the page, oldest first.
    pub async fn rows(&self) -> Vec<Row> {
        let v = self
            .eval(
                "return [...document.querySelectorAll('#log .l')].map(e => [
                   e.children[1].textContent, e.children[2].textContent,
                   e.children[0].dateTime, e.className, e.hidden]);",
                vec![],
            )
            .await;
        v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| Row {
                        instance: r[0].as_str().unwrap_or_default().to_owned(),
                        text: r[1].as_str().unwrap_or_default().to_owned(),
                        timestamp: r[2].as_str().unwrap_or_default().to_owned(),
                        class: r[3].as_str().unwrap_or_default().to_owned(),
                        hidden: r[4].as_bool().unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The texts of the lines shown (not hidden by an instance chip), oldest first.
    pub async fn texts(&self) -> Vec<String> {
        self.rows()
            .await
            .into_iter()
            .filter(|r| !r.hidden)
            .map(|r| r.text)
            .collect()
    }

    /// The status bar: state, counters and text.
    pub async fn status(&self) -> Status {
        let v = self
            .eval(
                "const s = document.getElementById('status');
                 return [s.dataset.state, s.dataset.shown, s.dataset.total, s.dataset.reconnects,
                         s.textContent, document.getElementById('error').hidden ? '' :
                         document.getElementById('error').textContent,
                         document.getElementById('notice').hidden ? '' :
                         document.getElementById('notice').textContent];",
                vec![],
            )
            .await;
        let s = |i: usize| v[i].as_str().unwrap_or_default().to_owned();
        let n = |i: usize| v[i].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        Status {
            state: s(0),
            shown: n(1),
            total: n(2),
            reconnects: n(3),
            text: s(4),
            error: s(5),
            notice: s(6),
        }
    }

    /// The page's URL as the browser shows it.
    pub async fn url(&self) -> url::Url {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The browser's console log since the last call: (level, message).
    pub async fn console(&self) -> Vec<(String, String)> {
        let v = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("reading the browser log: {e}"));
        v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts that the page logged no error since the last check, except messages
    /// containing one of `expected` (e.g. the failed load of a deliberate `422`).
    pub async fn assert_no_console_errors(&self, expected: &[&str]) {
        let errors: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, msg)| level == "SEVERE" && !expected.iter().any(|e| msg.contains(e)))
            .collect();
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    }

    /// Makes the page see `prefers-color-scheme: dark` (`true`) or `light`.
    pub async fn dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.client
            .issue_cmd(Cdp {
                cmd: "Emulation.setEmulatedMedia",
                params: json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
            })
            .await
            .unwrap_or_else(|e| panic!("emulating {scheme}: {e}"));
    }

    /// Saves a PNG screenshot of the window as `<target>/browser-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        // Dropping stops chromedriver's process group.
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("browser-screenshots")
}

/// Starts chromedriver in its own process group on a port it picks, and returns it with the
/// port it printed.
fn start_chromedriver(exe: &Path) -> (Child, u16) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own group, so that a failed test can stop it and every Chromium it started.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting {}: {e} (Debian package chromium-driver)",
                exe.display()
            )
        });
    let Some(stdout) = child.stdout.take() else {
        kill_group(child);
        panic!("chromedriver has no stdout");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // "ChromeDriver was started successfully on port 35675."; keep draining afterwards so
        // chromedriver never blocks on a full pipe.
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => port,
        Err(e) => {
            kill_group(child);
            panic!("chromedriver did not say which port it listens on: {e}")
        }
    };
    // It says so a moment before it accepts connections.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            kill_group(child);
            panic!("chromedriver does not accept connections on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// Kills `child`'s whole process group (chromedriver and the browsers it started) and reaps it.
fn kill_group(mut child: Child) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pid = i32::try_from(self.driver.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One line as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The instance column.
    pub instance: String,
    /// The text column.
    pub text: String,
    /// The RFC 3339 timestamp the server sent (the `<time>` element's `datetime`).
    pub timestamp: String,
    /// The row's classes: `l`, `v<level>`, `c<colour>`, and `e` for stderr.
    pub class: String,
    /// Hidden by its instance's chip.
    pub hidden: bool,
}

/// The status bar.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// `idle`, `connecting`, `following`, `loading`, `done`, `paused`, `reconnecting`, `error`.
    pub state: String,
    /// Lines in the page.
    pub shown: usize,
    /// Lines received for this view (shown or dropped).
    pub total: usize,
    /// How often the stream was picked up again.
    pub reconnects: usize,
    /// What it says.
    pub text: String,
    /// The error box's text, when shown.
    pub error: String,
    /// The notice box's text, when shown.
    pub notice: String,
}

/// One journal entry to write, as faasd's collector writes a function's output.
#[derive(Clone, Debug)]
pub struct Line {
    /// The function.
    pub name: String,
    /// `_PID`: the instance.
    pub pid: u32,
    /// Realtime timestamp, µs since the epoch.
    pub usec: u64,
    /// `MESSAGE`.
    pub text: String,
    /// `PRIORITY`: 6 for stdout, 3 for stderr (faasd), or any other syslog level.
    pub priority: u8,
}

impl Line {
    /// A stdout line (`PRIORITY=6`).
    pub fn out(name: &str, pid: u32, usec: u64, text: impl Into<String>) -> Line {
        Line {
            name: name.to_owned(),
            pid,
            usec,
            text: text.into(),
            priority: 6,
        }
    }

    /// A stderr line (`PRIORITY=3`).
    pub fn err(name: &str, pid: u32, usec: u64, text: impl Into<String>) -> Line {
        Line {
            priority: 3,
            ..Line::out(name, pid, usec, text)
        }
    }

    /// The same line with another `PRIORITY`.
    pub fn priority(self, priority: u8) -> Line {
        Line { priority, ..self }
    }
}

/// Now, in journal microseconds.
pub fn now_usec() -> u64 {
    u64::try_from(logs_api::Timestamp::now().unix_nanos() / 1000).unwrap_or(0)
}

/// The server's RFC 3339 form of a journal timestamp (µs).
pub fn rfc3339(usec: u64) -> String {
    let nanos = i64::try_from(usec).unwrap_or(i64::MAX).saturating_mul(1000);
    let mut out = Vec::new();
    logs_api::Timestamp::from_unix_nanos(nanos).write_rfc3339_nano(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// How the provider under test is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--timeout`: how long a follow stream lasts before the server ends it.
    pub timeout: Duration,
    /// Basic auth user and password, when on.
    pub auth: Option<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(120),
            auth: None,
        }
    }
}

/// `logs-journald`'s server, in-process, over a fresh journal directory.
pub struct Provider {
    dir: tempfile::TempDir,
    options: Options,
    server: Option<RunningServer>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Provider {
    /// Binds a provider on loopback over an empty journal directory.
    pub async fn start(options: Options) -> Provider {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = Self::bind(dir.path(), &options, listen).await;
        let addr = server.local_addr();
        Provider {
            dir,
            options,
            server: Some(server.spawn()),
            addr,
        }
    }

    async fn bind(dir: &Path, options: &Options, listen: SocketAddr) -> Server {
        let requester = JournaldRequester::new(Args::with_dirs([dir.to_owned()]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut config = Config::local(options.timeout);
        config.listen = listen;
        config.handler.auth = options.auth.as_ref().map(|(u, p)| BasicAuth::new(u, p));
        Server::bind(Arc::new(requester), config)
            .await
            .unwrap_or_else(|e| panic!("binding {listen}: {e}"))
    }

    /// Shuts the server down (open streams end, the port closes), as a provider restart does;
    /// [`Provider::restart`] brings it back on the same port over the same journal.
    pub async fn shut_down(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts the server again on the same port, over the same journal.
    pub async fn restart(&mut self) {
        let server = Self::bind(self.dir.path(), &self.options, self.addr).await;
        self.server = Some(server.spawn());
    }

    /// `http://127.0.0.1:<port>/` followed by `path_and_query` (e.g. `?name=figlet`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}/{path_and_query}", self.addr)
    }

    /// Appends `lines` to the journal with `systemd-journal-remote`, as one batch.
    pub async fn write(&self, lines: Vec<Line>) {
        let file = self.dir.path().join("system.journal");
        tokio::task::spawn_blocking(move || {
            journal_remote(&file, &[], |out| {
                for l in &lines {
                    let identifier = format!("{NS}:{}", l.name);
                    write_entry(
                        out,
                        &ExportEntry {
                            realtime_usec: l.usec,
                            identifier: &identifier,
                            pid: l.pid,
                            message: l.text.as_bytes(),
                            priority: Some(l.priority),
                            transport: "journal",
                        },
                    )?;
                }
                Ok(())
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("systemd-journal-remote: {e}"));
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// What [`measure_render`] found.
#[derive(Clone, Debug)]
pub struct RenderFigures {
    /// Lines the page received.
    pub lines: usize,
    /// Lines kept in the page.
    pub rows: usize,
    /// From the start of navigation until the newest line was on screen, ms.
    pub all_rendered_ms: f64,
    /// The longest animation frame while the page loaded and rendered (its script, style,
    /// layout and paint: the longest an input would have waited), ms.
    pub longest_frame_ms: f64,
    /// Frames that took over 50 ms.
    pub long_frames: usize,
    /// Hiding and showing one instance's lines (click, then layout), ms.
    pub chip_toggle_ms: f64,
    /// Turning wrapping on (click, then layout), ms.
    pub wrap_toggle_ms: f64,
    /// Scrolling to the top and back (with layout), ms.
    pub scroll_ms: f64,
    /// The JS heap in use afterwards, MB (Chromium's `performance.memory`).
    pub heap_mb: f64,
    /// The status bar's text.
    pub status: String,
}

/// Opens `/?name=<name>&tail=<lines>` and measures how the page copes with `lines` lines of
/// history: the time until the last of them is rendered, the longest animation frame on the
/// way, and a few interactions afterwards.
pub async fn measure_render(
    browser: &Browser,
    provider: &Provider,
    name: &str,
    lines: usize,
    last_text: &str,
) -> RenderFigures {
    browser
        .goto(&provider.url(&format!("?name={name}&tail={lines}&follow=true")))
        .await;
    let done = browser
        .eval_async(
            "const [total, text, done] = arguments;
             const check = () => {
               const s = document.getElementById('status');
               const last = document.querySelector('#log > :last-child > :last-child > span');
               if (Number(s.dataset.total) === total && last && last.textContent === text)
                 done(performance.now());
               else requestAnimationFrame(check);
             };
             check();",
            vec![json!(lines), json!(last_text)],
        )
        .await;
    let all_rendered_ms = done.as_f64().unwrap_or(f64::NAN);
    // Chromium's Long Animation Frames (script, style, layout and paint of one frame, over
    // 50 ms), buffered since the page started: the longest is the worst wait for input.
    let frames = browser
        .eval_async(
            "const done = arguments[0];
             new PerformanceObserver((list, observer) => {
               observer.disconnect();
               const d = list.getEntries().map(e => e.duration);
               done([Math.max(0, ...d), d.length]);
             }).observe({ type: 'long-animation-frame', buffered: true });
             setTimeout(() => done([0, 0]), 1000);",
            vec![],
        )
        .await;
    let interactions = browser
        .eval(
            "const time = (f) => { const t = performance.now(); f();
               document.getElementById('log').offsetHeight; return performance.now() - t; };
             const chip = document.querySelector('.chip');
             const log = document.getElementById('log');
             const chipMs = time(() => { chip.click(); chip.click(); });
             const wrapMs = time(() => document.getElementById('wrap').click());
             const scrollMs = time(() => { log.scrollTop = 0; log.scrollTop; log.scrollTop = log.scrollHeight; log.scrollTop; });
             return [chipMs, wrapMs, scrollMs, 0,
                     performance.memory ? performance.memory.usedJSHeapSize / 1048576 : -1,
                     document.querySelectorAll('#log .l').length,
                     document.getElementById('counts').textContent];",
            vec![],
        )
        .await;
    let f = |i: usize| interactions[i].as_f64().unwrap_or(f64::NAN);
    RenderFigures {
        lines,
        rows: interactions[5]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        all_rendered_ms,
        longest_frame_ms: frames[0].as_f64().unwrap_or(f64::NAN),
        long_frames: frames[1]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        chip_toggle_ms: f(0),
        wrap_toggle_ms: f(1),
        scroll_ms: f(2),
        heap_mb: f(4),
        status: interactions[6].as_str().unwrap_or_default().to_owned(),
    }
}

/// `lines` lines of function `name` over four instances, one per millisecond, ending now;
/// every 10th on stderr. Each text starts with `line <i>:`.
pub fn many_lines(name: &str, lines: usize) -> Vec<Line> {
    let end = now_usec();
    let start = end - u64::try_from(lines).unwrap_or(0) * 1000;
    (0..lines)
        .map(|i| {
            let pid = 2000 + u32::try_from(i % 4).unwrap_or(0);
            let usec = start + u64::try_from(i).unwrap_or(0) * 1000;
            let text = format!(
                "line {i}: handled GET /function/{name} in {} ms",
                (i * 7) % 300
            );
            if i % 10 == 9 {
                Line::err(name, pid, usec, text)
            } else {
                Line::out(name, pid, usec, text)
            }
        })
        .collect()
}
