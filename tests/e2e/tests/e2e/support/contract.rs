//! The checks every provider binary passes as a process, whatever its backend: bad
//! configuration stops start-up with a clear message, basic auth from secret files as OpenFaaS
//! mounts them, and SIGTERM ending open follow streams cleanly with exit status 0.

use std::time::Duration;

use logs_api::testing::{Streaming, get, get_with};

use crate::support::binaries::Binary;
use crate::support::process::{ProviderProcess, arg, run_to_exit, start};

/// How to start one binary over its backend: the executable, flags and environment.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The executable.
    pub binary: Binary,
    /// Flags pointing it at its backend.
    pub args: Vec<String>,
    /// Environment pointing it at its backend.
    pub envs: Vec<(String, String)>,
}

impl Setup {
    /// `binary` with no flags or environment of its own.
    pub fn new(binary: Binary) -> Setup {
        Setup {
            binary,
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// Adds flags.
    pub fn args(mut self, args: &[&str]) -> Setup {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Setup {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// This setup plus `args` and `envs`, as the borrowed slices the process helpers take.
    fn with<'a>(
        &'a self,
        args: &[&'a str],
        envs: &[(&'a str, &'a str)],
    ) -> (Vec<&'a str>, Vec<(&'a str, &'a str)>) {
        let mut all_args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all_args.extend_from_slice(args);
        let mut all_envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all_envs.extend_from_slice(envs);
        (all_args, all_envs)
    }

    /// Starts it on a free loopback port with `args` and `envs` added, and waits until it listens.
    pub async fn start(&self, args: &[&str], envs: &[(&str, &str)]) -> ProviderProcess {
        let (args, envs) = self.with(args, envs);
        start(self.binary, &args, &envs).await
    }

    /// Runs it with `args` and `envs` added until it exits: (exit code, stderr).
    pub async fn run_to_exit(&self, args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
        let (args, envs) = self.with(args, envs);
        run_to_exit(self.binary, &args, &envs).await
    }
}

/// The exit status of a binary whose configuration is wrong (`docs/configuration.md`).
pub const BAD_CONFIGURATION: i32 = 1;
/// The exit status of a command line clap cannot parse (a value of the wrong type): clap's, as
/// for every usage error.
pub const USAGE_ERROR: i32 = 2;

/// Asserts that the binary exits with status `status` before listening, saying `says` on
/// stderr.
async fn refuses(setup: &Setup, args: &[&str], envs: &[(&str, &str)], status: i32, says: &str) {
    let (code, stderr) = setup.run_to_exit(args, envs).await;
    assert_eq!(
        code,
        Some(status),
        "{} {args:?} {envs:?} must stop start-up with status {status}; stderr:\n{stderr}",
        setup.binary.name()
    );
    assert!(
        stderr.contains(says),
        "{} {args:?} {envs:?}: the error must say {says:?}; stderr:\n{stderr}",
        setup.binary.name()
    );
}

/// Bad server configuration, by flag and by environment variable, stops start-up with exit
/// status 1 and a message saying what is wrong; so does a port already in use.
///
/// # Panics
/// On any failed check.
pub async fn bad_configuration_stops_start_up(setup: &Setup) {
    refuses(
        setup,
        &["--allowed-namespaces", "openfaas-fn,kube-system"],
        &[],
        BAD_CONFIGURATION,
        "kube-system",
    )
    .await;
    refuses(
        setup,
        &[],
        &[("FAAS_LOGS_ALLOWED_NAMESPACES", "openfaas-fn,kube-system")],
        BAD_CONFIGURATION,
        "kube-system",
    )
    .await;
    refuses(
        setup,
        &["--default-namespace", "team-fn"],
        &[("FAAS_LOGS_ALLOWED_NAMESPACES", "openfaas-fn")],
        BAD_CONFIGURATION,
        "team-fn",
    )
    .await;
    refuses(
        setup,
        &["--timeout", "soon"],
        &[],
        USAGE_ERROR,
        "is not a duration",
    )
    .await;
    refuses(
        setup,
        &[],
        &[("FAAS_LOGS_TIMEOUT", "soon")],
        USAGE_ERROR,
        "is not a duration",
    )
    .await;
    refuses(
        setup,
        &[],
        &[("FAAS_LOGS_READY_TIMEOUT", "0")],
        BAD_CONFIGURATION,
        "ready-timeout must be more than zero",
    )
    .await;
    refuses(
        setup,
        &[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ],
        &[],
        BAD_CONFIGURATION,
        "/nonexistent/cert.pem",
    )
    .await;

    let running = setup.start(&[], &[]).await;
    let port = running.addr.port().to_string();
    refuses(
        setup,
        &["--address", "127.0.0.1", "--port", &port],
        &[],
        BAD_CONFIGURATION,
        &port,
    )
    .await;
    running.terminate_cleanly().await;
}

/// `Authorization` of `admin:pa55word`, the credentials [`basic_auth_from_secret_files`] mounts.
const ADMIN: (&str, &str) = ("Authorization", "Basic YWRtaW46cGE1NXdvcmQ=");

/// Basic auth with the credentials in files, as OpenFaaS mounts its secrets: turned on by
/// `basic_auth=true` and `secret_mount_path` (the OpenFaaS variables) or by the flags; every
/// route but the health checks is closed without the right credentials; missing or empty
/// secrets stop start-up; the password never reaches the log.
///
/// # Panics
/// On any failed check.
pub async fn basic_auth_from_secret_files(setup: &Setup) {
    let secrets = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = arg(secrets.path());
    let by_env = [("basic_auth", "true"), ("secret_mount_path", dir.as_str())];

    refuses(setup, &[], &by_env, BAD_CONFIGURATION, "basic-auth-user").await;
    write_secret(secrets.path(), "basic-auth-user", "admin\n");
    write_secret(secrets.path(), "basic-auth-password", "");
    refuses(
        setup,
        &[],
        &by_env,
        BAD_CONFIGURATION,
        "basic-auth-password",
    )
    .await;
    // As a Kubernetes secret volume holds them, trailing newline included.
    write_secret(secrets.path(), "basic-auth-password", "pa55word\n");

    let provider = setup.start(&[], &by_env).await;
    let addr = provider.addr;
    let health = get(addr, "/healthz")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((health.status, health.text().as_str()), (200, "OK\n"));
    let ready = get(addr, "/healthz/ready")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        ready.status,
        401,
        "/healthz/ready is open: {}",
        ready.text()
    );

    let closed = [
        "/system/logs?name=figlet",
        "/system/logs/functions",
        "/metrics",
    ];
    let wrong_password = ("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="); // admin:password
    let wrong_user = ("Authorization", "Basic cm9vdDpwYTU1d29yZA=="); // root:pa55word
    let not_basic = ("Authorization", "Bearer pa55word");
    for target in closed {
        for headers in [
            &[][..],
            &[wrong_password][..],
            &[wrong_user][..],
            &[not_basic][..],
        ] {
            let res = get_with(addr, target, headers)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(res.status, 401, "{target} {headers:?}: {}", res.text());
            assert_eq!(
                res.header("www-authenticate"),
                Some("Basic realm=\"Restricted\""),
                "{target}"
            );
        }
    }
    let logs = get_with(addr, "/system/logs?name=auth-nobody", &[ADMIN])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logs.status, 200, "{}", logs.text());
    assert!(logs.complete, "a whole answer");
    let metrics = get_with(addr, "/metrics", &[ADMIN])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    assert!(
        metrics.text().ends_with("# EOF\n"),
        "a whole scrape: {}",
        metrics.text()
    );
    let log = provider.log();
    provider.terminate_cleanly().await;
    assert!(
        !log.contains("pa55word"),
        "credentials must never be logged:\n{log}"
    );

    // The same through the flags.
    let provider = setup
        .start(&["--basic-auth", "--secret-mount-path", &dir], &[])
        .await;
    let denied = get(provider.addr, "/system/logs?name=figlet")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(denied.status, 401);
    let allowed = get_with(provider.addr, "/system/logs?name=auth-nobody", &[ADMIN])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    provider.terminate_cleanly().await;
}

fn write_secret(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text)
        .unwrap_or_else(|e| panic!("writing {}: {e}", dir.join(name).display()));
}

/// The `--shutdown-grace` the SIGTERM checks start the binaries with.
pub const GRACE: Duration = Duration::from_secs(5);

/// Sends SIGTERM to `provider` while `stream` (a follow stream of it) is open and has
/// delivered lines, then checks that the stream ends with the terminating chunk and the
/// process exits with status 0 within [`GRACE`] (the provider must have been started with
/// `--shutdown-grace` [`GRACE`]).
///
/// # Panics
/// On any failed check.
pub async fn sigterm_ends_the_stream_cleanly(provider: ProviderProcess, mut stream: Streaming) {
    let log = provider.log();
    let (status, took) = provider
        .terminate_within(GRACE + Duration::from_secs(5))
        .await;
    assert!(
        status.success(),
        "exit status after SIGTERM: {status:?}; its log before:\n{log}"
    );
    assert!(
        took < GRACE,
        "exited {took:?} after SIGTERM, past the {GRACE:?} grace"
    );
    // Lines sent before the signal may still be in flight (logs-demo writes one every 50 ms);
    // then the body must end.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        let mut in_flight = 0;
        loop {
            match stream.next_line().await {
                Ok(Some(_)) if in_flight < 100 => in_flight += 1,
                other => return (other, in_flight),
            }
        }
    })
    .await;
    assert!(
        matches!(end, Ok((Ok(None), _))),
        "the follow stream must end after SIGTERM: {end:?}"
    );
    assert!(
        stream.is_complete(),
        "SIGTERM must end a follow stream with the terminating chunk"
    );
}
