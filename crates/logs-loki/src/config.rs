//! Command-line flags of the Loki backend and their validation into a [`Config`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use http::HeaderValue;

use crate::query::{LabelNames, is_label_name};

/// Flags of the Loki backend (`FAAS_LOGS_LOKI_*`).
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Loki's base URL; `/loki/api/v1/...` is appended to its path (e.g.
    /// `http://loki-gateway.monitoring` or `https://logs.example.com/loki-proxy`).
    #[arg(
        long = "loki-url",
        env = "FAAS_LOGS_LOKI_URL",
        default_value = "http://127.0.0.1:3100"
    )]
    pub url: String,
    /// Tenant sent as `X-Scope-OrgID` to a multi-tenant Loki. Unset: no header.
    #[arg(long = "loki-tenant", env = "FAAS_LOGS_LOKI_TENANT")]
    pub tenant: Option<String>,
    /// User for basic auth to Loki; needs `--loki-password-file`.
    #[arg(long = "loki-username", env = "FAAS_LOGS_LOKI_USERNAME")]
    pub username: Option<String>,
    /// File holding the basic-auth password (read at start-up; a trailing newline is ignored).
    #[arg(long = "loki-password-file", env = "FAAS_LOGS_LOKI_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// File holding a token sent as `Authorization: Bearer <token>` (read at start-up). Not
    /// together with basic auth.
    #[arg(
        long = "loki-bearer-token-file",
        env = "FAAS_LOGS_LOKI_BEARER_TOKEN_FILE"
    )]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file of CA certificates trusted for an `https` Loki URL, in addition to the system's.
    #[arg(long = "loki-ca-file", env = "FAAS_LOGS_LOKI_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Label that carries the function name.
    #[arg(
        long = "loki-function-label",
        env = "FAAS_LOGS_LOKI_FUNCTION_LABEL",
        default_value = "faas_function"
    )]
    pub function_label: String,
    /// Label that carries the namespace.
    #[arg(
        long = "loki-namespace-label",
        env = "FAAS_LOGS_LOKI_NAMESPACE_LABEL",
        default_value = "namespace"
    )]
    pub namespace_label: String,
    /// Label that carries the instance (the pod name with Promtail's or Alloy's Kubernetes
    /// discovery).
    #[arg(
        long = "loki-instance-label",
        env = "FAAS_LOGS_LOKI_INSTANCE_LABEL",
        default_value = "pod"
    )]
    pub instance_label: String,
    /// Entries asked for per `query_range` request; at most Loki's
    /// `max_entries_limit_per_query` (default 5000). Larger answers are paged.
    #[arg(
        long = "loki-page-size",
        env = "FAAS_LOGS_LOKI_PAGE_SIZE",
        default_value_t = 5000
    )]
    pub page_size: usize,
    /// How far back a request with neither `since` nor `tail` reads (and the oldest `since` or
    /// `tail` reaches). Loki's own default query range is 1h; its limit is
    /// `max_query_length` (721h).
    #[arg(
        long = "loki-look-back",
        env = "FAAS_LOGS_LOKI_LOOK_BACK",
        default_value = "1h",
        value_parser = logs_api::parse_duration
    )]
    pub look_back: Duration,
    /// Timeout of one HTTP request to Loki (connect and whole answer).
    #[arg(
        long = "loki-request-timeout",
        env = "FAAS_LOGS_LOKI_REQUEST_TIMEOUT",
        default_value = "30s",
        value_parser = logs_api::parse_duration
    )]
    pub request_timeout: Duration,
    /// Failed attempts in a row (query pages, or reads of a followed namespace) before a
    /// stream gives up and the response is aborted. Waits between attempts grow from 100 ms to
    /// 5 s, with jitter.
    #[arg(
        long = "loki-retries",
        env = "FAAS_LOGS_LOKI_RETRIES",
        default_value_t = 10
    )]
    pub retries: u32,
    /// How far behind now the live part of a follow reads (e.g. `1s`, `500ms`; a bare number
    /// is seconds; default 1s, at most 60s). Lines that reach Loki later than this after their
    /// own timestamp are not delivered while following; each second more is a second more of
    /// latency.
    #[arg(
        long = "loki-follow-delay",
        env = "FAAS_LOGS_LOKI_FOLLOW_DELAY",
        value_parser = parse_delay
    )]
    pub follow_delay: Option<Duration>,
    /// The old name of `--loki-follow-delay` (seconds), still accepted.
    #[arg(
        long = "loki-tail-delay",
        env = "FAAS_LOGS_LOKI_TAIL_DELAY",
        value_parser = parse_delay,
        hide = true
    )]
    pub tail_delay: Option<Duration>,
    /// How often a followed namespace is read from Loki: one `query_range` per interval per
    /// namespace with followers, however many functions and clients follow it.
    #[arg(
        long = "loki-poll-interval",
        env = "FAAS_LOGS_LOKI_POLL_INTERVAL",
        default_value = "250ms",
        value_parser = logs_api::parse_duration
    )]
    pub poll_interval: Duration,
    /// What makes the reader of a followed namespace ask Loki again: `poll`, every
    /// `--loki-poll-interval`; or `tail`, a Loki tail websocket per followed namespace that
    /// signals new lines (it carries none of them itself), with a poll every 5 s besides and
    /// polls every `--loki-poll-interval` while Loki refuses the tail.
    #[arg(
        long = "loki-follow-wakeup",
        env = "FAAS_LOGS_LOKI_FOLLOW_WAKEUP",
        value_enum,
        default_value_t = Wakeup::Poll
    )]
    pub follow_wakeup: Wakeup,
    /// How long following may go without a successful answer from Loki before the follow
    /// streams of that namespace are aborted (they cannot be made whole any more).
    #[arg(
        long = "loki-stall-timeout",
        env = "FAAS_LOGS_LOKI_STALL_TIMEOUT",
        default_value = "30s",
        value_parser = logs_api::parse_duration
    )]
    pub stall_timeout: Duration,
}

/// What makes a followed namespace's reader ask Loki again (`--loki-follow-wakeup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Wakeup {
    /// Every `--loki-poll-interval`.
    Poll,
    /// When a Loki tail websocket on the namespace shows new lines (one tail per followed
    /// namespace, counted against Loki's `max_concurrent_tail_requests`).
    Tail,
}

/// The default of `--loki-follow-delay`.
pub(crate) const DEFAULT_FOLLOW_DELAY: Duration = Duration::from_secs(1);
/// The longest `--loki-follow-delay`.
const MAX_FOLLOW_DELAY: Duration = Duration::from_secs(60);

/// A delay as a duration (`1s`, `500ms`) or, as `--loki-tail-delay` took it, whole seconds.
fn parse_delay(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => logs_api::parse_duration(s),
    }
}

impl Default for Args {
    fn default() -> Self {
        Args {
            url: "http://127.0.0.1:3100".to_owned(),
            tenant: None,
            username: None,
            password_file: None,
            bearer_token_file: None,
            ca_file: None,
            function_label: "faas_function".to_owned(),
            namespace_label: "namespace".to_owned(),
            instance_label: "pod".to_owned(),
            page_size: 5000,
            look_back: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(30),
            retries: 10,
            follow_delay: None,
            tail_delay: None,
            poll_interval: Duration::from_millis(250),
            follow_wakeup: Wakeup::Poll,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the flags do not make a usable configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse or is not `http`/`https`.
    #[error("--loki-url {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A label flag is not a valid Prometheus/Loki label name.
    #[error("{flag} {value:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")]
    LabelName {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// Two label flags name the same label.
    #[error("--loki-function-label, --loki-namespace-label and --loki-instance-label must differ")]
    SameLabels,
    /// A numeric flag is out of range.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// Basic auth and bearer token both given, or a user without a password file.
    #[error("{0}")]
    Auth(&'static str),
    /// A secret or CA file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value cannot be sent as an HTTP header (e.g. a newline in the tenant).
    #[error("{0} contains characters not allowed in an HTTP header")]
    Header(&'static str),
    /// The TLS set-up failed (no usable CA certificate, bad PEM).
    #[error("TLS: {0}")]
    Tls(String),
}

/// The base URL split into what requests need.
#[derive(Clone, Debug)]
pub(crate) struct BaseUrl {
    pub(crate) https: bool,
    /// `host[:port]`.
    pub(crate) authority: String,
    /// Path prefix without a trailing `/` (often empty).
    pub(crate) prefix: String,
}

/// Validated configuration of a [`crate::LokiRequester`].
#[derive(Clone)]
pub struct Config {
    pub(crate) base: BaseUrl,
    pub(crate) tenant: Option<HeaderValue>,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    pub(crate) labels: LabelNames,
    pub(crate) page_size: usize,
    pub(crate) look_back: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) follow_delay: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) follow_wakeup: Wakeup,
    pub(crate) stall_timeout: Duration,
}

impl std::fmt::Debug for Config {
    // Credentials must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base", &self.base)
            .field("tenant", &self.tenant)
            .field("authorization", &self.authorization.as_ref().map(|_| ".."))
            .field("labels", &self.labels)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Validates the flags and reads the secret and CA files.
    ///
    /// # Errors
    /// [`ConfigError`] saying which flag is wrong.
    pub fn from_args(args: &Args) -> Result<Self, ConfigError> {
        let base = parse_base_url(&args.url)?;
        for (flag, value) in [
            ("--loki-function-label", &args.function_label),
            ("--loki-namespace-label", &args.namespace_label),
            ("--loki-instance-label", &args.instance_label),
        ] {
            if !is_label_name(value) {
                return Err(ConfigError::LabelName {
                    flag,
                    value: value.clone(),
                });
            }
        }
        if args.function_label == args.namespace_label
            || args.function_label == args.instance_label
            || args.namespace_label == args.instance_label
        {
            return Err(ConfigError::SameLabels);
        }
        if args.page_size == 0 {
            return Err(ConfigError::OutOfRange(
                "--loki-page-size must be at least 1",
            ));
        }
        let follow_delay = match (args.follow_delay, args.tail_delay) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::OutOfRange(
                    "--loki-tail-delay is the old name of --loki-follow-delay: give only one",
                ));
            }
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => DEFAULT_FOLLOW_DELAY,
        };
        if follow_delay > MAX_FOLLOW_DELAY {
            return Err(ConfigError::OutOfRange(
                "--loki-follow-delay must be at most 60s",
            ));
        }
        if args.poll_interval < Duration::from_millis(10) {
            return Err(ConfigError::OutOfRange(
                "--loki-poll-interval must be at least 10ms",
            ));
        }
        if args.stall_timeout.is_zero() {
            return Err(ConfigError::OutOfRange(
                "--loki-stall-timeout must be longer than zero",
            ));
        }
        if args.look_back.is_zero() {
            return Err(ConfigError::OutOfRange(
                "--loki-look-back must be longer than zero",
            ));
        }
        let tenant = match &args.tenant {
            Some(t) if !t.is_empty() => {
                Some(HeaderValue::from_str(t).map_err(|_| ConfigError::Header("--loki-tenant"))?)
            }
            _ => None,
        };
        let authorization = authorization(args)?;
        let extra_roots = match &args.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        Ok(Config {
            base,
            tenant,
            authorization,
            extra_roots,
            labels: LabelNames {
                function: args.function_label.clone(),
                namespace: args.namespace_label.clone(),
                instance: args.instance_label.clone(),
            },
            page_size: args.page_size,
            look_back: args.look_back,
            request_timeout: args.request_timeout,
            retries: args.retries,
            follow_delay,
            poll_interval: args.poll_interval,
            follow_wakeup: args.follow_wakeup,
            stall_timeout: args.stall_timeout,
        })
    }
}

fn parse_base_url(url: &str) -> Result<BaseUrl, ConfigError> {
    let err = |why: &str| ConfigError::Url {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| err("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(err("the scheme must be http or https")),
    };
    let authority = uri.authority().ok_or_else(|| err("no host"))?;
    if authority.as_str().contains('@') {
        return Err(err(
            "credentials in the URL are not supported; use --loki-username and --loki-password-file",
        ));
    }
    if uri.query().is_some() {
        return Err(err("a query string is not supported"));
    }
    Ok(BaseUrl {
        https,
        authority: authority.as_str().to_owned(),
        prefix: uri.path().trim_end_matches('/').to_owned(),
    })
}

fn read_secret(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn authorization(args: &Args) -> Result<Option<HeaderValue>, ConfigError> {
    let value = match (&args.username, &args.password_file, &args.bearer_token_file) {
        (None, None, None) => return Ok(None),
        (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
            return Err(ConfigError::Auth(
                "use either basic auth (--loki-username) or --loki-bearer-token-file, not both",
            ));
        }
        (Some(user), Some(file), None) => {
            let password = read_secret(file)?;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        }
        (Some(_), None, None) => {
            return Err(ConfigError::Auth(
                "--loki-username needs --loki-password-file",
            ));
        }
        (None, Some(_), None) => {
            return Err(ConfigError::Auth(
                "--loki-password-file needs --loki-username",
            ));
        }
        (None, None, Some(file)) => format!("Bearer {}", read_secret(file)?),
    };
    let mut header =
        HeaderValue::from_str(&value).map_err(|_| ConfigError::Header("the Loki credentials"))?;
    header.set_sensitive(true);
    Ok(Some(header))
}

fn read_ca_file(
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, ConfigError> {
    use rustls_pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::Tls(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Args)) -> Result<Config, ConfigError> {
        let mut args = Args::default();
        f(&mut args);
        Config::from_args(&args)
    }

    #[test]
    fn default_equals_the_flags_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let parsed = Cli::try_parse_from(["logs-loki"]).unwrap().args;
        // Env vars of the test process must not leak in.
        if std::env::vars().any(|(k, _)| k.starts_with("FAAS_LOGS_LOKI_")) {
            return;
        }
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Args::default()));
    }

    #[test]
    fn defaults_are_valid() {
        let c = with(|_| {}).unwrap();
        assert!(!c.base.https);
        assert_eq!(c.base.authority, "127.0.0.1:3100");
        assert_eq!(c.base.prefix, "");
        assert_eq!(c.labels.function, "faas_function");
        assert_eq!(c.labels.instance, "pod");
        assert!(c.authorization.is_none() && c.tenant.is_none());
    }

    #[test]
    fn url_prefix_and_scheme() {
        let c = with(|a| a.url = "https://logs.example.com/loki-proxy/".into()).unwrap();
        assert!(c.base.https);
        assert_eq!(c.base.prefix, "/loki-proxy");
        for bad in [
            "ftp://x",
            "loki:3100",
            "",
            "http://u:p@loki:3100",
            "http://loki?x=1",
        ] {
            let e = with(|a| a.url = bad.into()).map(|_| ()).unwrap_err();
            assert!(matches!(e, ConfigError::Url { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn label_names_are_checked() {
        for bad in ["", "1abc", "app-name", "a\"b", "a=\"x\"}"] {
            let e = with(|a| a.function_label = bad.into())
                .map(|_| ())
                .unwrap_err();
            assert!(matches!(e, ConfigError::LabelName { .. }), "{bad}");
        }
        let e = with(|a| a.instance_label = "namespace".into())
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConfigError::SameLabels));
    }

    #[test]
    fn ranges_are_checked() {
        assert!(with(|a| a.page_size = 0).is_err());
        assert!(with(|a| a.look_back = Duration::ZERO).is_err());
        assert!(with(|a| a.follow_delay = Some(Duration::from_secs(61))).is_err());
        assert!(with(|a| a.poll_interval = Duration::from_millis(5)).is_err());
        assert!(with(|a| a.stall_timeout = Duration::ZERO).is_err());
        let c = with(|a| a.follow_delay = Some(Duration::from_secs(60))).unwrap();
        assert_eq!(c.follow_delay, Duration::from_secs(60));
        assert_eq!(with(|_| {}).unwrap().follow_delay, DEFAULT_FOLLOW_DELAY);
    }

    #[test]
    fn the_old_tail_delay_flag_still_sets_the_follow_delay() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let parse = |argv: &[&str]| {
            let mut full = vec!["logs-loki"];
            full.extend_from_slice(argv);
            Config::from_args(&Cli::try_parse_from(full).unwrap().args)
        };
        // The old flag took whole seconds; a bare number still means seconds.
        let c = parse(&["--loki-tail-delay", "3"]).unwrap();
        assert_eq!(c.follow_delay, Duration::from_secs(3));
        let c = parse(&["--loki-follow-delay", "1500ms"]).unwrap();
        assert_eq!(c.follow_delay, Duration::from_millis(1500));
        let c = parse(&["--loki-follow-delay", "2"]).unwrap();
        assert_eq!(c.follow_delay, Duration::from_secs(2));
        let e = parse(&["--loki-follow-delay", "1s", "--loki-tail-delay", "2"])
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("give only one"), "{e}");
        assert!(Cli::try_parse_from(["logs-loki", "--loki-follow-delay", "soon"]).is_err());
    }

    #[test]
    fn basic_and_bearer_auth_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let c = with(|a| {
            a.username = Some("admin".into());
            a.password_file = Some(pw.clone());
        })
        .unwrap();
        let h = c.authorization.clone().unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWRtaW46czNjcmV0");
        assert!(h.is_sensitive());
        assert!(
            !format!("{c:?}").contains("YWRt"),
            "Debug must hide credentials"
        );

        let c = with(|a| a.bearer_token_file = Some(pw.clone())).unwrap();
        assert_eq!(c.authorization.unwrap().to_str().unwrap(), "Bearer s3cret");

        let both = with(|a| {
            a.username = Some("admin".into());
            a.password_file = Some(pw.clone());
            a.bearer_token_file = Some(pw.clone());
        });
        assert!(matches!(both, Err(ConfigError::Auth(_))));
        assert!(matches!(
            with(|a| a.username = Some("u".into())),
            Err(ConfigError::Auth(_))
        ));
        assert!(matches!(
            with(|a| a.password_file = Some(pw.clone())),
            Err(ConfigError::Auth(_))
        ));
        let missing = with(|a| a.bearer_token_file = Some(dir.path().join("nope")));
        assert!(matches!(missing, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn tenant_header_and_ca_file() {
        let c = with(|a| a.tenant = Some("team-a".into())).unwrap();
        assert_eq!(c.tenant.unwrap().to_str().unwrap(), "team-a");
        assert!(matches!(
            with(|a| a.tenant = Some("a\nb".into())),
            Err(ConfigError::Header(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        assert!(matches!(
            with(|a| a.ca_file = Some(ca.clone())),
            Err(ConfigError::Tls(_))
        ));
    }
}
