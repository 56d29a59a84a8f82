//! A raw HTTP/1.1 client for tests: it shows exactly what went over the wire (status, headers,
//! chunking, whether the terminating chunk arrived), which a high-level client hides.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Chunked,
    Length(usize),
    Close,
}

/// An open response whose body is read line by line.
pub struct Streaming {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    framing: Framing,
    pending: Vec<u8>,
    complete: bool,
    ended: bool,
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
    /// Whether the body ended properly (terminating chunk, or all of Content-Length).
    pub complete: bool,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body's lines, each parsed as a JSON object.
    ///
    /// # Panics
    /// On a line that is not JSON: tests want to know.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

/// Sends `GET target` with extra headers and returns the open response.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn open_with(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Streaming> {
    request_on(
        TcpStream::connect(addr).await?,
        addr,
        "GET",
        target,
        headers,
    )
    .await
}

/// Sends `method target` (without a body) and reads the whole response. A `HEAD` response
/// has no body, whatever its headers say: only its head is read.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn send(addr: SocketAddr, method: &str, target: &str) -> io::Result<Response> {
    let tcp = TcpStream::connect(addr).await?;
    let mut s = request_on(tcp, addr, method, target, &[("Content-Length", "0")]).await?;
    let mut body = Vec::new();
    if method != "HEAD" {
        while s.read_more().await? {
            body.append(&mut s.pending);
        }
        body.append(&mut s.pending);
    }
    Ok(Response {
        status: s.status,
        headers: s.headers,
        body,
        complete: s.complete,
    })
}

/// Sends `GET target` from a socket whose receive buffer is `receive_buffer` bytes (the kernel
/// doubles it and turns off its auto-tuning), so that a client that stops reading holds the
/// server back after little data: for tests of slow clients and deadlines.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn open_with_receive_buffer(
    addr: SocketAddr,
    target: &str,
    receive_buffer: u32,
) -> io::Result<Streaming> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_recv_buffer_size(receive_buffer)?;
    request_on(socket.connect(addr).await?, addr, "GET", target, &[]).await
}

async fn request_on(
    mut tcp: TcpStream,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Streaming> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await?;
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "EOF in headers",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let framing = if header(&headers, "transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        Framing::Chunked
    } else if let Some(n) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Streaming {
        status,
        headers,
        reader,
        framing,
        pending: Vec::new(),
        complete: false,
        ended: false,
    })
}

/// Sends `GET target` and returns the open response.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn open(addr: SocketAddr, target: &str) -> io::Result<Streaming> {
    open_with(addr, target, &[]).await
}

/// Sends `GET target` with extra headers and reads the whole response.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn get_with(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let mut s = open_with(addr, target, headers).await?;
    let mut body = Vec::new();
    while s.read_more().await? {
        body.append(&mut s.pending);
    }
    body.append(&mut s.pending);
    Ok(Response {
        status: s.status,
        headers: s.headers,
        body,
        complete: s.complete,
    })
}

/// Sends `GET target` and reads the whole response.
///
/// # Errors
/// Connection failures and malformed responses.
pub async fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    get_with(addr, target, &[]).await
}

impl Streaming {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the body ended properly so far (terminating chunk seen).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Reads more body bytes into `pending`; `false` once the body has ended (cleanly or not).
    async fn read_more(&mut self) -> io::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        match self.framing {
            Framing::Chunked => {
                let mut size_line = String::new();
                if self.reader.read_line(&mut size_line).await? == 0 {
                    self.ended = true;
                    return Ok(false);
                }
                let size_hex = size_line.trim().split(';').next().unwrap_or("");
                let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size {size_line:?}"),
                    )
                })?;
                if size == 0 {
                    // Trailers, then the blank line.
                    loop {
                        let mut l = String::new();
                        if self.reader.read_line(&mut l).await? == 0 || l.trim().is_empty() {
                            break;
                        }
                    }
                    self.complete = true;
                    self.ended = true;
                    return Ok(false);
                }
                let mut chunk = vec![0; size + 2];
                match self.reader.read_exact(&mut chunk).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.ended = true;
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
                chunk.truncate(size);
                self.pending.extend_from_slice(&chunk);
                Ok(true)
            }
            Framing::Length(n) => {
                let mut body = Vec::with_capacity(n);
                (&mut self.reader)
                    .take(n as u64)
                    .read_to_end(&mut body)
                    .await?;
                self.complete = body.len() == n;
                self.pending.extend_from_slice(&body);
                self.ended = true;
                Ok(false)
            }
            Framing::Close => {
                let mut body = Vec::new();
                self.reader.read_to_end(&mut body).await?;
                self.pending.extend_from_slice(&body);
                self.complete = true;
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// The next body line without its `\n`; `None` when the body has ended. A partial last line
    /// (no `\n`) is returned as is.
    ///
    /// # Errors
    /// Connection failures.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let rest = self.pending.split_off(pos + 1);
                let mut line = std::mem::replace(&mut self.pending, rest);
                line.pop();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if !self.read_more().await? {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.pending);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
        }
    }

    /// The next line parsed as JSON, waiting at most `wait`.
    ///
    /// # Panics
    /// When no line arrives in time, the body ends, or the line is not JSON: tests want to know.
    pub async fn next_message(&mut self, wait: Duration) -> serde_json::Value {
        match tokio::time::timeout(wait, self.next_line()).await {
            Ok(Ok(Some(line))) => {
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
            }
            Ok(Ok(None)) => panic!(
                "the stream ended (complete: {}) while a line was expected",
                self.complete
            ),
            Ok(Err(e)) => panic!("reading the stream failed: {e}"),
            Err(_) => panic!("no line within {wait:?}"),
        }
    }
}

/// A TCP listener on loopback that accepts every connection and never writes a byte: a backend
/// that hangs (a SIGSTOPped API server, a black-holed route behind a proxy that accepted).
///
/// It reads and discards what clients send, and counts the connections open now and the most
/// that were open at once, so a test can prove that a client gave up a hung request (closed its
/// connection) and did not pile requests up. Stops accepting when dropped.
pub struct Blackhole {
    /// Where it listens.
    pub addr: SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Blackhole {
    /// Starts listening on `127.0.0.1`, any port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Blackhole {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the blackhole: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("blackhole address: {e}"));
        let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (o, m, a) = (open.clone(), most.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                a.fetch_add(1, SeqCst);
                let now = o.fetch_add(1, SeqCst) + 1;
                m.fetch_max(now, SeqCst);
                let o = o.clone();
                tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    // Until the client closes (0) or resets (error); never a byte back.
                    while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
                    o.fetch_sub(1, SeqCst);
                });
            }
        });
        Blackhole {
            addr,
            open,
            most,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn most_open_at_once(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits up to `wait` until no connection is open.
    ///
    /// # Panics
    /// When connections are still open after `wait`: the client kept a hung request.
    pub async fn until_all_closed(&self, wait: Duration) {
        let since = std::time::Instant::now();
        while self.open_connections() != 0 {
            assert!(
                since.elapsed() < wait,
                "{} connection(s) to the hung backend still open after {wait:?}",
                self.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a hang test measured: the status and how long the answer took.
#[derive(Debug)]
pub struct Timed {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// From sending the request to the end of the answer.
    pub took: Duration,
}

/// GET `target`, timed; fails the test when no whole answer comes within 30 s rather than
/// hanging.
///
/// # Panics
/// On no answer within 30 s, or a connection failure.
pub async fn get_timed(addr: SocketAddr, target: &str) -> Timed {
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(30), get(addr, target))
        .await
        .unwrap_or_else(|_| panic!("GET {target}: no answer within 30 s"))
        .unwrap_or_else(|e| panic!("GET {target}: {e}"));
    Timed {
        status: res.status,
        body: res.text(),
        took: started.elapsed(),
    }
}

/// The bound [`serve_with_hang_bounds`] sets for both `--ready-timeout` and
/// `--first-byte-timeout`.
pub const HANG_BOUND: Duration = Duration::from_secs(1);

/// Serves `requester` (whose backend hangs) with a 30 s stream deadline and [`HANG_BOUND`] as
/// ready and first-byte timeouts.
///
/// # Panics
/// When the server cannot bind.
pub async fn serve_with_hang_bounds(
    requester: std::sync::Arc<dyn crate::Requester>,
) -> crate::RunningServer {
    let mut config = crate::Config::local(Duration::from_secs(30));
    config.handler.ready_timeout = HANG_BOUND;
    config.handler.first_byte_timeout = HANG_BOUND;
    crate::Server::bind(requester, config)
        .await
        .unwrap_or_else(|e| panic!("binding the server: {e}"))
        .spawn()
}

/// Sends 10 concurrent `/healthz/ready` probes to a server from [`serve_with_hang_bounds`] and
/// checks that each answers `503` within [`HANG_BOUND`] plus one second of slack; returns the
/// slowest answer's time.
///
/// # Panics
/// On any failed check.
pub async fn ready_is_bounded(server: &crate::RunningServer) -> Duration {
    let probes: Vec<_> = (0..10)
        .map(|_| tokio::spawn(get_timed(server.addr, "/healthz/ready")))
        .collect();
    let mut slowest = Duration::ZERO;
    for probe in probes {
        let probe = probe.await.unwrap_or_else(|e| panic!("probe task: {e}"));
        assert_eq!(
            (probe.status, probe.body.as_str()),
            (503, "backend not ready\n")
        );
        assert!(
            probe.took < HANG_BOUND + Duration::from_secs(1),
            "/healthz/ready took {:?}",
            probe.took
        );
        slowest = slowest.max(probe.took);
    }
    assert!(
        slowest >= HANG_BOUND - Duration::from_millis(50),
        "answered after {slowest:?}: the backend failed fast instead of hanging"
    );
    slowest
}

/// Sends `GET /system/logs?name=figlet` to a server from [`serve_with_hang_bounds`] and checks
/// that it answers `500` with the contract's body after [`HANG_BOUND`] (within one second of
/// slack), counted as a backend error; returns the time it took.
///
/// # Panics
/// On any failed check.
pub async fn logs_is_bounded(server: &crate::RunningServer) -> Duration {
    let errors = server.metrics.backend_errors();
    let logs = get_timed(server.addr, "/system/logs?name=figlet").await;
    assert_eq!(
        (logs.status, logs.body.as_str()),
        (500, "function log request failed\n")
    );
    assert!(
        logs.took >= HANG_BOUND - Duration::from_millis(50)
            && logs.took < HANG_BOUND + Duration::from_secs(1),
        "/system/logs took {:?}",
        logs.took
    );
    assert_eq!(server.metrics.backend_errors(), errors + 1);
    logs.took
}
