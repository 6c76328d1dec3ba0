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
use slotstream::app::seed::SeededProvider;
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

/// An in-process server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub db: DatabaseConnection,
    pub providers: Vec<SeededProvider>,
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

    /// A server on an existing database (after a restart).
    pub async fn start(
        database_url: String,
        db: DatabaseConnection,
        providers: Vec<SeededProvider>,
        extra: &[&str],
    ) -> TestApp {
        let args = serve_args(&database_url, extra);
        let app = server::build_app(db.clone(), &args).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = server::start(app, listener, &args).expect("start");
        let addr = running.addr;
        let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().expect("client");
        let app = TestApp {
            addr,
            base: format!("http://{addr}"),
            client,
            database_url,
            db,
            providers,
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
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_slotstream"));
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
        if let Some(pid) = self.child.id() {
            // SIGTERM through the shell's kill: no libc dependency in tests.
            std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        }
    }
}
