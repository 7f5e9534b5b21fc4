//! A private PostgreSQL cluster for the shared-directory tests: `initdb`
//! into a temporary directory, `pg_ctl` listening on 127.0.0.1 at a free
//! port (its Unix socket in that directory too), a password-protected role
//! and database `portcullis`; never the system instance. A test may stop
//! the cluster and start it again (a database that goes away), and it is
//! stopped when dropped. [`PgCluster::start_with_tls`] turns TLS on with a
//! self-signed certificate for 127.0.0.1 and localhost.
//!
//! PostgreSQL refuses to run as root: as root (as CI runs), the cluster runs
//! as the unprivileged `postgres` user that Debian's package creates.

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{free_port, run_with_timeout};

/// How long `initdb` or a start may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The role, database and password of the test cluster.
const ROLE: &str = "portcullis";
const PASSWORD: &str = "directory-test-password";

/// Why the PostgreSQL tests cannot run here, if they cannot. Under CI
/// (`CI` set) a missing server is a failure: `.ci/run` installs postgresql.
pub fn unavailable() -> Option<String> {
    if bin_dir().is_some() {
        return None;
    }
    let why = "PostgreSQL is not installed (apt-get install postgresql)";
    assert!(
        std::env::var_os("CI").is_none(),
        "under CI .ci/run must install it: {why}"
    );
    Some(why.to_string())
}

/// A running private cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    running: bool,
    tls: bool,
}

/// The server's certificate and key, in the cluster's directory.
const CERT: &str = "server.crt";
const KEY: &str = "server.key";

impl PgCluster {
    /// Creates and starts a cluster with role and database `portcullis`.
    pub fn start() -> PgCluster {
        PgCluster::create(false)
    }

    /// Like [`PgCluster::start`], with TLS on (`ssl = on`) and a
    /// self-signed certificate for 127.0.0.1 and localhost, which
    /// [`PgCluster::root_cert`] names.
    pub fn start_with_tls() -> PgCluster {
        PgCluster::create(true)
    }

    /// The PEM file of the server's self-signed certificate: the root that
    /// verifies it.
    pub fn root_cert(&self) -> PathBuf {
        self.dir.path().join(CERT)
    }

    fn create(tls: bool) -> PgCluster {
        let bin = bin_dir().expect("PostgreSQL's initdb (see postgres::unavailable)");
        let dir = tempfile::Builder::new()
            .prefix("portcullis-pg")
            .tempdir()
            .expect("cluster dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, PASSWORD).expect("write the password file");
        hand_over(dir.path());
        let data = dir.path().join("data");
        let pw = pwfile.display().to_string();
        let data_arg = data.display().to_string();
        run_as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-U",
                ROLE,
                "--pwfile",
                &pw,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if tls {
            write_certificate(dir.path());
        }
        let mut cluster = PgCluster {
            bin,
            port: free_port(Ipv4Addr::LOCALHOST.into()),
            dir,
            running: false,
            tls,
        };
        cluster.start_again();
        cluster.psql("postgres", &format!("CREATE DATABASE {ROLE}"));
        cluster
    }

    /// A started cluster, or None (with the reason on stderr) where
    /// PostgreSQL is not installed outside CI.
    pub fn start_if_available() -> Option<PgCluster> {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return None;
        }
        Some(PgCluster::start())
    }

    /// [`PgCluster::start_with_tls`], or None as for
    /// [`PgCluster::start_if_available`].
    pub fn start_with_tls_if_available() -> Option<PgCluster> {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return None;
        }
        Some(PgCluster::start_with_tls())
    }

    /// `postgres://portcullis:…@127.0.0.1:PORT/portcullis`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{ROLE}",
            self.port
        )
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Writes the URL into `path` (mode 0600), as `directory.url_file` reads it.
    pub fn write_url_file(&self, path: &Path) {
        fs::write(path, format!("{}\n", self.url())).expect("write the url file");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// Stops the server at once (`-m immediate`: as if the machine went away).
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            run_as_owner(
                &self.bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "-w", "stop"],
            );
            self.running = false;
        }
    }

    /// Starts the stopped server again on the same port, waiting until it
    /// takes connections.
    pub fn start_again(&mut self) {
        let dir = self.dir.path().display();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={dir} -c fsync=off",
            self.port,
        );
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/{CERT} -c ssl_key_file={dir}/{KEY}"
            ));
        }
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        run_as_owner(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
        self.running = true;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen; see {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs one SQL statement with psql in `database`; returns its output
    /// (unaligned, tuples only), or panics with psql's error.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let psql = self.bin.join("psql");
        let url = format!(
            "postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        );
        let mut cmd = Command::new(psql);
        cmd.args([&url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        let (status, out) = run_with_timeout(&mut cmd, START_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost with its key in
/// `dir`, the key private to the cluster's owner (PostgreSQL insists).
fn write_certificate(dir: &Path) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("generate the server certificate");
    fs::write(dir.join(CERT), generated.cert.pem()).expect("write the certificate");
    let key = dir.join(KEY);
    fs::write(&key, generated.key_pair.serialize_pem()).expect("write the key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod the key");
    hand_over(&key);
    hand_over(&dir.join(CERT));
}

/// The newest `/usr/lib/postgresql/N/bin` holding initdb (Debian's layout).
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// Whether we run as root: `/proc/self` belongs to the effective user.
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// As root, gives the cluster's directory to the `postgres` user.
fn hand_over(dir: &Path) {
    if is_root() {
        let mut cmd = Command::new("chown");
        cmd.args(["-R", "postgres:postgres"]).arg(dir);
        let (status, _) = run_with_timeout(&mut cmd, START_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "chown the cluster dir to postgres"
        );
    }
}

/// Runs a PostgreSQL tool as the cluster's owner: `postgres` as root,
/// ourselves otherwise.
fn run_as_owner(tool: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    };
    cmd.args(args).current_dir("/");
    let (status, out) = run_with_timeout(&mut cmd, START_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{} {args:?}: {}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_cluster_answers_goes_away_and_comes_back() {
        let Some(mut pg) = PgCluster::start_if_available() else {
            return;
        };
        assert_eq!(pg.psql(ROLE, "SELECT current_user"), ROLE);
        pg.stop();
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, pg.port())).is_err());
        pg.start_again();
        assert_eq!(pg.psql(ROLE, "SELECT 1 + 1"), "2");
    }
}
