//! The server every provider binary shares: configuration from flags and environment, the
//! accept loop (plain or TLS), graceful shutdown on SIGTERM/SIGINT, and tracing set-up.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthError, BasicAuth};
use crate::handler_config::HandlerConfig;
use crate::http::router;
use crate::metrics::Metrics;
use crate::request::{FORBIDDEN_NAMESPACE, NamespacePolicy, is_dns1123_label};
use crate::requester::Requester;

/// Flags and environment variables shared by every provider binary (`docs/configuration.md`).
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "FAAS_LOGS_ADDRESS", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub address: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "FAAS_LOGS_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Longest a log response may stream (Go duration: 30s, 5m, 1h30m). A follow stream then
    /// ends cleanly; a history (follow=false) not complete by then is aborted.
    #[arg(long, env = "FAAS_LOGS_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Longest the backend may take to start answering a log request (before the first byte);
    /// past it the answer is 500. Capped at --timeout.
    #[arg(long, env = "FAAS_LOGS_FIRST_BYTE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub first_byte_timeout: Duration,
    /// Longest /healthz/ready waits for the backend's readiness check; past it the answer is
    /// 503. Concurrent probes share one check.
    #[arg(long, env = "FAAS_LOGS_READY_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// On SIGTERM/SIGINT, follow streams end at once and histories may finish; connections get
    /// this long to close, then the remaining ones are closed.
    #[arg(long, env = "FAAS_LOGS_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Namespace used when a request names none.
    #[arg(
        long,
        env = "FAAS_LOGS_DEFAULT_NAMESPACE",
        default_value = "openfaas-fn"
    )]
    pub default_namespace: String,
    /// Comma-separated namespaces requests may read, or `*` for any; default: only the default
    /// namespace. `kube-system` is always refused.
    #[arg(long, env = "FAAS_LOGS_ALLOWED_NAMESPACES")]
    pub allowed_namespaces: Option<String>,
    /// Require basic auth on every route but /healthz (OpenFaaS' `basic_auth=true`).
    #[arg(long, env = "basic_auth", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub basic_auth: bool,
    /// Directory holding `basic-auth-user` and `basic-auth-password` (OpenFaaS' `secret_mount_path`).
    #[arg(
        long,
        env = "secret_mount_path",
        default_value = "/var/openfaas/secrets"
    )]
    pub secret_mount_path: PathBuf,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "FAAS_LOGS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "FAAS_LOGS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log format: `text` or `json`. The level comes from RUST_LOG (default `info`).
    #[arg(long, env = "FAAS_LOGS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// A server configuration, resolved and checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Handler settings: deadline, namespaces, auth.
    pub handler: HandlerConfig,
    /// How long connections get to close after shutdown starts.
    pub shutdown_grace: Duration,
    /// Certificate chain and key files, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The default of `--first-byte-timeout`.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of `--ready-timeout`.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(2);

impl Config {
    /// Loopback, any port, no auth, no TLS, default namespace policy, the default first-byte
    /// (capped at `timeout`) and ready timeouts: for tests and benchmarks.
    pub fn local(timeout: Duration) -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            handler: HandlerConfig {
                timeout,
                first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT.min(timeout),
                ready_timeout: DEFAULT_READY_TIMEOUT,
                namespaces: NamespacePolicy::default(),
                auth: None,
            },
            shutdown_grace: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag or environment value is wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The basic auth secrets could not be read.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// TLS files could not be loaded.
    #[error("loading TLS {what} from {path}: {reason}")]
    Tls {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Binding the listener failed.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ServerArgs {
    /// Resolves the flags into a [`Config`]: checks namespaces and reads the auth secrets.
    ///
    /// # Errors
    /// A namespace that is not a DNS-1123 label, a default namespace outside the allowed set,
    /// or unreadable/empty basic auth files.
    pub fn config(&self) -> Result<Config, ServeError> {
        let default = self.default_namespace.trim().to_owned();
        if !is_dns1123_label(&default) || default == FORBIDDEN_NAMESPACE {
            return Err(ServeError::Config(format!(
                "default namespace {default:?} is not usable"
            )));
        }
        let allowed = match self.allowed_namespaces.as_deref().map(str::trim) {
            None | Some("") => Some(BTreeSet::from([default.clone()])),
            Some("*") => None,
            Some(list) => {
                let mut set = BTreeSet::new();
                for ns in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !is_dns1123_label(ns) || ns == FORBIDDEN_NAMESPACE {
                        return Err(ServeError::Config(format!(
                            "allowed namespace {ns:?} is not usable"
                        )));
                    }
                    set.insert(ns.to_owned());
                }
                if !set.contains(&default) {
                    return Err(ServeError::Config(format!(
                        "default namespace {default:?} is not in the allowed namespaces"
                    )));
                }
                Some(set)
            }
        };
        for (flag, value) in [
            ("timeout", self.timeout),
            ("first-byte-timeout", self.first_byte_timeout),
            ("ready-timeout", self.ready_timeout),
        ] {
            if value.is_zero() {
                return Err(ServeError::Config(format!("{flag} must be more than zero")));
            }
        }
        let auth = if self.basic_auth {
            Some(BasicAuth::from_dir(&self.secret_mount_path)?)
        } else {
            None
        };
        Ok(Config {
            listen: SocketAddr::new(self.address, self.port),
            handler: HandlerConfig {
                timeout: self.timeout,
                // Never longer than the stream deadline, which bounds the whole response.
                first_byte_timeout: self.first_byte_timeout.min(self.timeout),
                ready_timeout: self.ready_timeout,
                namespaces: NamespacePolicy { default, allowed },
                auth,
            },
            shutdown_grace: self.shutdown_grace,
            tls: self.tls_cert.clone().zip(self.tls_key.clone()),
        })
    }
}

/// Parses a Go-style duration: one or more `<number><unit>` with units `ns us µs ms s m h`,
/// e.g. `90s`, `1m30s`, `1.5h`; a bare `0` is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("{s:?} is not a duration (e.g. 30s, 5m, 1h30m)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

type TlsAcceptor = tokio_rustls::TlsAcceptor;

fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |what, path: &std::path::Path, reason: String| ServeError::Tls {
        what,
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(
            "certificate",
            cert,
            "no certificate in file".into(),
        ));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err("key", key, e.to_string()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| tls_err("key", key, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A bound, not yet running, log provider server.
pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    metrics: Arc<Metrics>,
    streams_shutdown: CancellationToken,
    shutdown_grace: Duration,
    tls: Option<TlsAcceptor>,
}

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Binds the listener and builds the routes over `requester`.
    ///
    /// # Errors
    /// The address cannot be bound, or the TLS files cannot be loaded.
    pub async fn bind(requester: Arc<dyn Requester>, config: Config) -> Result<Self, ServeError> {
        let tls = match &config.tls {
            Some((cert, key)) => Some(load_tls(cert, key)?),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let metrics = Arc::new(Metrics::default());
        let streams_shutdown = CancellationToken::new();
        let app = router(
            requester,
            config.handler,
            metrics.clone(),
            streams_shutdown.clone(),
        );
        Ok(Server {
            listener,
            app,
            metrics,
            streams_shutdown,
            shutdown_grace: config.shutdown_grace,
            tls,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    }

    /// The server's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until `shutdown` completes, then ends every open follow stream cleanly, lets
    /// histories finish, and waits up to the grace period for connections to close; the ones
    /// still open then are closed (a history cut this way ends without its terminating chunk).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Server {
            listener,
            app,
            streams_shutdown,
            shutdown_grace,
            tls,
            ..
        } = self;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), scheme, "Listening.");
        let graceful = GracefulShutdown::new();
        // Cancelled when the grace period is over: every connection still open is dropped.
        let close_all = CancellationToken::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let _ = TokioExecutor::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let watcher = graceful.watcher();
            let http = http.clone();
            let tls = tls.clone();
            let closed = close_all.clone();
            // NB: the select sits on the connection future itself rather than on a future
            // wrapping it: a wrapped future captured by an outer `async move` is stored twice
            // in the task (once as the capture, once in the select), 3.6 KiB per connection.
            tokio::spawn(async move {
                let served = match tls {
                    None => {
                        tokio::select! {
                            r = watcher.watch(http.serve_connection(TokioIo::new(tcp), service)) => Some(r),
                            () = closed.cancelled() => None,
                        }
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                tokio::select! {
                                    r = watcher.watch(http.serve_connection(TokioIo::new(stream), service)) => Some(r),
                                    () = closed.cancelled() => None,
                                }
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed.");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out.");
                                return;
                            }
                        }
                    }
                };
                match served {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "Connection ended with an error.");
                    }
                    None => {
                        tracing::debug!(%peer, "Connection closed at the end of the grace period.");
                    }
                }
            });
        }
        drop(listener);
        tracing::info!(grace = ?shutdown_grace, "Shutting down: ending open streams.");
        streams_shutdown.cancel();
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("All connections closed."),
            () = tokio::time::sleep(shutdown_grace) => {
                tracing::warn!("Grace period over; closing the remaining connections.");
                close_all.cancel();
            }
        }
    }

    /// Runs the server on a task until the returned handle is dropped or shut down: for tests.
    pub fn spawn(self) -> RunningServer {
        let addr = self.local_addr();
        let metrics = self.metrics.clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move { self.run(stopped.cancelled_owned()).await });
        RunningServer {
            addr,
            metrics,
            stop,
            task: Some(task),
        }
    }
}

/// A server running on a task; dropping it stops the server.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Starts a graceful shutdown and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
///
/// The handlers are installed when this is called, not when the future is first polled: the
/// server polls it only between accepts, and a SIGTERM that came before that first poll would
/// meet the default action and kill the process instead of shutting it down (seen by the
/// end-to-end tests under load: exit by signal 15 right after two answered requests).
///
/// # Panics
/// Outside a tokio runtime (installing a handler needs its driver).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for {name}.");
                None
            }
        };
        (
            install(SignalKind::terminate(), "SIGTERM"),
            install(SignalKind::interrupt(), "SIGINT"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => tracing::info!("SIGINT received."),
                () = wait(term) => tracing::info!("SIGTERM received."),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "Cannot listen for Ctrl-C.");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received.");
        }
    }
}

/// Sets up `tracing` to stderr: level from `RUST_LOG` (default `info`), format from the flags.
pub fn init_tracing(args: &ServerArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald, `kubectl logs` and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = if args.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Resolves `args`, binds, and serves `requester` until SIGTERM/SIGINT.
///
/// # Errors
/// Bad configuration, unreadable secrets or TLS files, or an address that cannot be bound.
pub async fn serve(requester: Arc<dyn Requester>, args: ServerArgs) -> Result<(), ServeError> {
    let config = args.config()?;
    // Installed before the server listens: from its `Listening.` line on, SIGTERM shuts down.
    let shutdown = shutdown_signal();
    Server::bind(requester, config).await?.run(shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn args(flags: &[&str]) -> Result<ServerArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(flags.iter().copied())).map(|c| c.server)
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "5x", "m", "-1s", "1s "] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_allow_only_the_default_namespace() {
        let config = args(&[])
            .map(|a| a.config())
            .unwrap_or_else(|e| panic!("{e}"));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.listen,
            "0.0.0.0:8080".parse().unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(config.handler.timeout, Duration::from_secs(300));
        assert!(config.handler.namespaces.allows("openfaas-fn"));
        assert!(!config.handler.namespaces.allows("other"));
        assert!(config.handler.auth.is_none());
    }

    #[test]
    fn timeouts_have_documented_defaults_and_first_byte_is_capped_at_the_deadline() {
        let config = |flags: &[&str]| {
            args(flags)
                .unwrap_or_else(|e| panic!("{e}"))
                .config()
                .unwrap_or_else(|e| panic!("{e}"))
                .handler
        };
        let defaults = config(&[]);
        assert_eq!(defaults.ready_timeout, Duration::from_secs(2));
        assert_eq!(defaults.first_byte_timeout, Duration::from_secs(10));
        let set = config(&["--ready-timeout", "750ms", "--first-byte-timeout", "3s"]);
        assert_eq!(set.ready_timeout, Duration::from_millis(750));
        assert_eq!(set.first_byte_timeout, Duration::from_secs(3));
        let capped = config(&["--timeout", "4s"]);
        assert_eq!(capped.first_byte_timeout, Duration::from_secs(4));
        let local = Config::local(Duration::from_secs(1)).handler;
        assert_eq!(local.first_byte_timeout, Duration::from_secs(1));
        assert_eq!(local.ready_timeout, DEFAULT_READY_TIMEOUT);
    }

    #[test]
    fn allowed_namespaces_are_checked() {
        let cfg = |flags: &[&str]| {
            args(flags)
                .map_err(|e| e.to_string())
                .and_then(|a| a.config().map_err(|e| e.to_string()))
        };
        let c = cfg(&["--allowed-namespaces", "openfaas-fn, staging-fn"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.handler.namespaces.allows("staging-fn"));
        let any = cfg(&["--allowed-namespaces", "*"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(any.handler.namespaces.allows("team-a"));
        assert!(!any.handler.namespaces.allows("kube-system"));
        for bad in [
            vec!["--allowed-namespaces", "openfaas-fn,kube-system"],
            vec!["--allowed-namespaces", "staging-fn"],
            vec!["--allowed-namespaces", "openfaas-fn,Bad_NS"],
            vec!["--default-namespace", "kube-system"],
            vec!["--timeout", "0"],
            vec!["--ready-timeout", "0"],
            vec!["--first-byte-timeout", "0s"],
        ] {
            assert!(
                cfg(&bad).is_err_and(|e| e.contains("invalid configuration")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn basic_auth_needs_readable_secrets() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().to_string_lossy().into_owned();
        let a =
            args(&["--basic-auth", "--secret-mount-path", &path]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(a.config(), Err(ServeError::Auth(_))));
    }

    #[test]
    fn tls_needs_both_files_and_valid_pem() {
        assert!(args(&["--tls-cert", "/nonexistent"]).is_err());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bogus = dir.path().join("bogus.pem");
        std::fs::write(&bogus, "not pem").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            load_tls(&bogus, &bogus),
            Err(ServeError::Tls {
                what: "certificate",
                ..
            })
        ));
        assert!(matches!(
            load_tls(&dir.path().join("missing.pem"), &bogus),
            Err(ServeError::Tls {
                what: "certificate",
                ..
            })
        ));
    }
}
