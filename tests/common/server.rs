//! The server under test on an ephemeral port: in-process (`TestApp`, which
//! can stop and restart on the same database) or as the real binary in a
//! child process (`ServerProcess`, for crashes, SIGTERM and several
//! instances); and clients that reach it from other loopback addresses.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use clap::Parser;
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use slotstream::cli::seed::SeededProvider;
use slotstream::config::{Cli, ServeArgs};
use slotstream::server::{self, Running};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::database::seeded_connection;

/// Limits high enough that only the rate-limit tests (which lower them) meet
/// them; and the seed's slot window, so the planner adds no slots (and no
/// events) to the demo providers while a test runs.
pub const GENEROUS_LIMITS: &[&str] = &[
    "--slot-horizon-days",
    "14",
    "--read-burst",
    "1000000",
    "--read-per-second",
    "1000000",
    "--write-burst",
    "1000000",
    "--write-per-second",
    "1000000",
    "--stream-burst",
    "1000000",
    "--stream-per-second",
    "1000000",
    "--max-streams-per-client",
    "100000",
    // Fan-out tests hold thousands of HTTP/1.1 streams from 127.0.0.1.
    "--max-connections-per-client",
    "100000",
    "--hold-burst",
    "1000000",
    "--hold-per-second",
    "1000000",
];

/// The server's settings for `database_url`: the generous limits, then `extra` flags.
pub fn serve_args(database_url: &str, extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["slotstream", "--database-url", database_url];
    argv.extend_from_slice(GENEROUS_LIMITS);
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).serve
}

/// Connections in the pool an in-process server shares with its test.
pub const POOL_SIZE: u32 = 8;

/// How long a test's own HTTP client waits for a whole answer: generous, for
/// a loaded 2-core machine (a wait, not a speed claim).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a test's client speaks to the server: the same cases run over each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Cleartext HTTP/1.1 (what the other test files use).
    Http1,
    /// Cleartext HTTP/2 with prior knowledge (h2c), as Envoy or Caddy speak to a backend.
    H2c,
    /// TLS, HTTP/2 chosen by ALPN, with a certificate made for the test run.
    H2Tls,
}

/// Every protocol the server speaks.
pub const PROTOCOLS: [Protocol; 3] = [Protocol::Http1, Protocol::H2c, Protocol::H2Tls];

impl Protocol {
    /// The HTTP version every answer must come in.
    pub fn version(self) -> reqwest::Version {
        match self {
            Protocol::Http1 => reqwest::Version::HTTP_11,
            Protocol::H2c | Protocol::H2Tls => reqwest::Version::HTTP_2,
        }
    }

    /// The server flags this protocol needs (the certificate for TLS).
    pub fn server_flags(self) -> Vec<String> {
        match self {
            Protocol::H2Tls => {
                let certificate = test_certificate();
                vec![
                    "--tls-cert".into(),
                    certificate.cert_path.display().to_string(),
                    "--tls-key".into(),
                    certificate.key_path.display().to_string(),
                ]
            }
            Protocol::Http1 | Protocol::H2c => Vec::new(),
        }
    }

    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        if self == Protocol::H2Tls { "https" } else { "http" }
    }

    /// A client that speaks only this protocol (TLS: trusting only the test certificate).
    pub fn client_builder(self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().timeout(CLIENT_TIMEOUT);
        match self {
            Protocol::Http1 => builder.http1_only(),
            Protocol::H2c => builder.http2_prior_knowledge(),
            Protocol::H2Tls => builder
                .https_only(true)
                .tls_certs_only([
                    reqwest::Certificate::from_pem(test_certificate().cert_pem.as_bytes()).expect("test certificate")
                ]),
        }
    }

    /// A client of this protocol whose connections come from another
    /// loopback address (see `client_from`).
    pub fn client_from(self, ip: &str) -> reqwest::Client {
        self.client_builder().local_address(ip.parse::<IpAddr>().expect("an IP address")).build().expect("client")
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, made once per test
/// binary, its PEM files in the temporary directory (for `--tls-cert`/`--tls-key`).
pub struct TestCertificate {
    pub cert_pem: String,
    pub cert_path: std::path::PathBuf,
    pub key_path: std::path::PathBuf,
}

pub fn test_certificate() -> &'static TestCertificate {
    static CERTIFICATE: std::sync::OnceLock<TestCertificate> = std::sync::OnceLock::new();
    CERTIFICATE.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("generate a certificate");
        let dir = std::env::temp_dir().join(format!("slotstream-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("certificate directory");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        let cert_pem = made.cert.pem();
        std::fs::write(&cert_path, &cert_pem).expect("write certificate");
        std::fs::write(&key_path, made.signing_key.serialize_pem()).expect("write key");
        TestCertificate { cert_pem, cert_path, key_path }
    })
}

/// An in-process server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub db: DatabaseConnection,
    pub providers: Vec<SeededProvider>,
    /// How `client` speaks to the server.
    pub protocol: Protocol,
    running: Option<Running>,
}

impl TestApp {
    /// A server on a fresh database with the demo providers.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// A server on a fresh database with the demo providers and `extra` flags.
    pub async fn spawn_with(extra: &[&str]) -> TestApp {
        let (url, db, providers) = seeded_connection(POOL_SIZE).await;
        TestApp::start(url, db, providers, extra).await
    }

    /// A server on a fresh database with the demo providers and `extra`
    /// flags, its `client` speaking `protocol`.
    pub async fn spawn_over(protocol: Protocol, extra: &[&str]) -> TestApp {
        let (url, db, providers) = seeded_connection(POOL_SIZE).await;
        TestApp::start_over(protocol, url, db, providers, extra).await
    }

    /// A server on an existing database (after a restart).
    pub async fn start(
        database_url: String,
        db: DatabaseConnection,
        providers: Vec<SeededProvider>,
        extra: &[&str],
    ) -> TestApp {
        TestApp::start_over(Protocol::Http1, database_url, db, providers, extra).await
    }

    /// A server on an existing database, its `client` speaking `protocol`.
    pub async fn start_over(
        protocol: Protocol,
        database_url: String,
        db: DatabaseConnection,
        providers: Vec<SeededProvider>,
        extra: &[&str],
    ) -> TestApp {
        let protocol_flags = protocol.server_flags();
        let mut flags: Vec<&str> = protocol_flags.iter().map(String::as_str).collect();
        flags.extend_from_slice(extra);
        let args = serve_args(&database_url, &flags);
        let app = server::build_app(db.clone(), &args).await.expect("app");
        let listener = slotstream::server::listen("127.0.0.1:0".parse().unwrap()).expect("bind");
        let running = server::start(app, listener, &args).expect("start");
        let addr = running.addr;
        let client = protocol.client_builder().build().expect("client");
        let app = TestApp {
            addr,
            base: format!("{}://{addr}", protocol.scheme()),
            client,
            database_url,
            db,
            providers,
            protocol,
            running: Some(running),
        };
        app.wait_ready().await;
        app
    }

    /// Returns once `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        wait_ready(&self.client, &self.base).await;
    }

    /// Stop the server (graceful) and hand back what a restart needs.
    pub async fn stop(mut self) -> (String, DatabaseConnection, Vec<SeededProvider>) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        (self.database_url.clone(), self.db.clone(), self.providers.clone())
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The application inside the server (for the tests that drive its
    /// clock: `set_schedule` and `extend_horizon` take "now").
    pub fn app(&self) -> &slotstream::app::App {
        &self.running.as_ref().expect("running").app
    }

    /// Deactivate `provider` through the application, as the admin API does.
    pub async fn deactivate(&self, provider: uuid::Uuid) {
        let external_id = self.external_id(provider).await;
        self.app().deactivate_provider(&external_id).await.expect("deactivate");
    }

    /// The marketplace's id of `provider`.
    pub async fn external_id(&self, provider: uuid::Uuid) -> String {
        use sea_orm::EntityTrait;
        let row = entity::provider::Entity::find_by_id(provider).one(&self.db).await.expect("read").expect("provider");
        row.external_id.expect("an external id")
    }

    /// Where `/metrics` is served apart (`--metrics-bind`), if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().expect("running").metrics_addr
    }

    /// The `n`th demo provider.
    pub fn provider(&self, n: usize) -> &SeededProvider {
        &self.providers[n]
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop_token().cancel();
        }
    }
}

/// Returns once `{base}/readyz` answers 200; fails the test after 200 tries.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

/// A client whose connections come from another loopback address (Linux
/// routes all of 127/8 to lo), so the server sees another peer with its
/// own quotas.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("an IP address"))
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("client")
}

/// The server binary as a child process (for restarts, crashes, several instances).
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts the binary on `database_url` (already migrated and seeded) with
    /// `extra` flags; returns once it is ready.
    pub async fn start(database_url: &str, extra: &[&str]) -> ServerProcess {
        ServerProcess::start_command(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_slotstream")),
            database_url,
            extra,
        )
        .await
    }

    /// Like `start`, with `command` as the server: the binary from elsewhere,
    /// or under a wrapper that takes the binary's flags after its own.
    pub async fn start_command(
        mut command: tokio::process::Command,
        database_url: &str,
        extra: &[&str],
    ) -> ServerProcess {
        command
            .args(["--database-url", database_url, "--bind", "127.0.0.1:0", "--no-seed"])
            .args(GENEROUS_LIMITS)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn server binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("banner in time")
                .expect("read stdout")
                .expect("server printed its banner");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::new();
        wait_ready(&client, &base).await;
        ServerProcess { child, base }
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The process id, for reading its memory.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("server pid")
    }

    /// SIGKILL: a crash, with no chance to finish anything.
    pub async fn kill_hard(&mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// SIGTERM: a graceful shutdown.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `STOP`, `CONT`) through the shell's
    /// kill: no libc dependency in tests.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.child.id() {
            let sent = std::process::Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
            assert!(sent.expect("kill").success(), "kill -{name} {pid}");
        }
    }
}

/// Two server processes on one (PostgreSQL) database, and a client for both.
pub async fn two_instances(database_url: &str, extra: &[&str]) -> (ServerProcess, ServerProcess, reqwest::Client) {
    let a = ServerProcess::start(database_url, extra).await;
    let b = ServerProcess::start(database_url, extra).await;
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    (a, b, client)
}
