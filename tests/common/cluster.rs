//! A private PostgreSQL cluster for one test, that the test may stop and
//! start (the shared server on 5432 must never be): `initdb` into a fresh
//! temporary directory, `pg_ctl start` on a free port with its socket in
//! that directory. As root, the commands run as the `postgres` OS user
//! (PostgreSQL refuses to run as root). Dropping it stops the server at
//! once and removes the directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server of the test's own.
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    /// A new cluster, started; fails the test if PostgreSQL's binaries are
    /// not installed (they are wherever the suite runs on PostgreSQL).
    pub fn start() -> PrivateCluster {
        let bin = server_binaries().expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!("slotstream-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let cluster = PrivateCluster { dir, bin, port: free_port() };
        if running_as_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster.dir).status();
            assert!(status.is_ok_and(|s| s.success()), "chown the cluster directory to postgres");
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        cluster.pg_ctl_start();
        cluster
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop the server (fast shutdown: sessions are cut, as in an outage)
    /// and wait until it is down.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Start it again on the same port and wait until it accepts connections.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// One of the server's programs, to be run as `postgres` when root
    /// (PostgreSQL refuses to run as root).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    /// Run one of the server's programs (as `postgres` when root); fail the
    /// test, with the server's log, if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output =
            self.command(program).args(args).current_dir(&self.dir).output().expect("run a PostgreSQL program");
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed: {}\n{}\nserver log:\n{log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut command = self.command("pg_ctl");
        // Stopped already, or never started: nothing to do but remove it.
        let _ = command.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed PostgreSQL's `bin` directory.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent().and_then(Path::file_name).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A port nobody listens on now (the kernel's pick of an ephemeral one).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("its address").port()
}
