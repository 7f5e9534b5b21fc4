//! A server's directory and configuration before it starts: the config
//! file, users, the DNS stub, and the files a test reads back (Maildirs, queue).

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::{wait_output, wait_output_or_kill};
use crate::{describe, free_port, toml_str, with_config, DnsStub, Server, Zone, BIN, POLL_TIMEOUT};

/// A test's directory, ports, DNS stub and configuration file, before (or
/// while) the server runs.
pub struct Setup {
    dir: tempfile::TempDir,
    /// `<tmp>/portcullis.toml`.
    pub config_path: PathBuf,
    /// `<tmp>/data`.
    pub data_dir: PathBuf,
    /// The address the `smtp` listener binds (127.0.0.1 unless the test says otherwise).
    pub listen_ip: IpAddr,
    /// The `smtp` listener's port.
    pub smtp_port: u16,
    /// The `submission` listener's port.
    pub submission_port: u16,
    /// The `submissions` (implicit TLS) listener's port.
    pub submissions_port: u16,
    /// The admin console and API's HTTPS port (on 127.0.0.1).
    pub admin_port: u16,
    /// The only resolver the server uses.
    pub dns: DnsStub,
    extra: String,
    dns_options: String,
    listen_options: String,
    hostname: String,
}

impl Setup {
    /// A setup whose DNS stub knows no names.
    pub fn new(extra_toml: &str) -> Setup {
        Setup::build(extra_toml, Zone::new(), IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A setup whose DNS stub serves `zone`.
    pub fn with_dns(extra_toml: &str, zone: Zone) -> Setup {
        Setup::build(extra_toml, zone, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// The general form: `extra_toml` is appended after the harness's own
    /// keys (it must not repeat `[listen]` or `[dns]`); when it has no
    /// `[relay]` table, `[relay] allow = ["127.0.0.1"]` is added so the
    /// server never rewrites the file with the machine's own addresses.
    pub fn build(extra_toml: &str, zone: Zone, listen_ip: IpAddr) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-test-")
            .tempdir()
            .expect("create temp dir");
        let config_path = dir.path().join("portcullis.toml");
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir).expect("create data dir");
        let mut setup = Setup {
            dir,
            config_path,
            data_dir,
            listen_ip,
            smtp_port: 0,
            submission_port: 0,
            submissions_port: 0,
            admin_port: 0,
            dns: DnsStub::start(zone),
            extra: extra_toml.to_string(),
            dns_options: String::new(),
            listen_options: String::new(),
            hostname: "mx.test".to_string(),
        };
        setup.pick_ports();
        setup
    }

    /// Adds `lines` (e.g. `timeout_ms = 500`) to the harness's `[dns]` table.
    pub fn with_dns_options(mut self, lines: &str) -> Setup {
        self.dns_options = lines.to_string();
        self.write_config();
        self
    }

    /// Adds `lines` (e.g. `proxy_from = ["127.0.0.9"]`) to the harness's `[listen]` table.
    pub fn with_listen_options(mut self, lines: &str) -> Setup {
        self.listen_options = lines.to_string();
        if !self.listen_options.ends_with('\n') {
            self.listen_options.push('\n');
        }
        self.write_config();
        self
    }

    /// Names the server `name` instead of `mx.test` (nodes of one cluster
    /// report their heartbeat under their host names).
    pub fn with_hostname(mut self, name: &str) -> Setup {
        self.hostname = name.to_string();
        self.write_config();
        self
    }

    /// The temporary directory holding everything of this test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn pick_ports(&mut self) {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        self.smtp_port = free_port(self.listen_ip);
        self.submission_port = free_port(lo);
        self.submissions_port = free_port(lo);
        self.admin_port = free_port(lo);
        self.write_config();
    }

    /// The configuration text the harness writes.
    pub fn config_text(&self) -> String {
        let data = toml_str(&self.data_dir.to_string_lossy());
        let hostname = toml_str(&self.hostname);
        let smtp = SocketAddr::new(self.listen_ip, self.smtp_port);
        let mut t = format!(
            "# Written by the Portcullis test harness.\n\
             hostname = {hostname}\n\
             data_dir = {data}\n\
             local_domains = [\"local.test\", \"localhost\"]\n\
             \n\
             [listen]\n\
             smtp = [\"{smtp}\"]\n\
             submission = [\"127.0.0.1:{}\"]\n\
             submissions = [\"127.0.0.1:{}\"]\n\
             {}\
             \n\
             [admin]\n\
             listen = [\"127.0.0.1:{}\"]\n\
             \n\
             [dns]\n\
             nameservers = [\"{}\"]\n",
            self.submission_port,
            self.submissions_port,
            self.listen_options,
            self.admin_port,
            self.dns.addr
        );
        if !self.dns_options.is_empty() {
            t.push_str(&self.dns_options);
            if !t.ends_with('\n') {
                t.push('\n');
            }
        }
        t.push('\n');
        t.push_str(&self.extra);
        if !t.ends_with('\n') {
            t.push('\n');
        }
        if !self.extra.contains("[relay]") {
            t.push_str("\n[relay]\nallow = [\"127.0.0.1\"]\n");
        }
        t
    }

    /// (Re)writes `portcullis.toml`.
    pub fn write_config(&self) {
        fs::write(&self.config_path, self.config_text()).expect("write portcullis.toml");
    }

    /// Runs `portcullis <args>` against this configuration and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, None)
    }

    /// Runs `portcullis <args>`, feeding `stdin` when given.
    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(with_config(&self.config_path, args))
            .current_dir(self.dir())
            .env("NO_COLOR", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN} {args:?}: {e}"));
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(text.as_bytes());
        }
        wait_output(child, Duration::from_secs(30), args)
    }

    /// `portcullis user add NAME --password-stdin --weak`, asserting
    /// success (`--weak`: tests use short passwords on purpose).
    pub fn add_user(&self, name: &str, password: &str) {
        let out = self.cli_stdin(
            &["user", "add", name, "--password-stdin", "--weak"],
            Some(&format!("{password}\n")),
        );
        assert!(
            out.status.success(),
            "`portcullis user add {name} --password-stdin` failed: {}",
            describe(&out)
        );
    }

    /// User `user`'s Maildir (`<data>/mail/<user>`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.data_dir.join("mail").join(user)
    }

    /// The messages in `<data>/mail/<user>/new/`, sorted by file name.
    pub fn maildir_messages(&self, user: &str) -> Vec<Vec<u8>> {
        read_dir_files(&self.maildir(user).join("new"), |_| true)
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect()
    }

    /// How many files sit in `<data>/mail/<user>/tmp/`.
    pub fn maildir_tmp_count(&self, user: &str) -> usize {
        read_dir_files(&self.maildir(user).join("tmp"), |_| true).len()
    }

    /// Waits (bounded) until `user` has at least `n` messages, and returns them.
    pub fn wait_maildir(&self, user: &str, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let msgs = self.maildir_messages(user);
            if msgs.len() >= n || Instant::now() > deadline {
                return msgs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until no SMTP session is in progress (`portcullis
    /// status` says `sessions: 0`). A message is in its Maildir before its
    /// `250`, so once every session has ended nothing more can arrive from
    /// one: counting deliveries after this is exact, without a sleep.
    pub fn wait_sessions_done(&self) {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let out = self.cli(&["status"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.lines().any(|l| l == "sessions: 0") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sessions still in progress after {POLL_TIMEOUT:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The queued messages: `(<ID>, message bytes)`, from the one-file
    /// `<data>/queue/<ID>.mail` (after its header and envelope) or an
    /// old-format `<ID>.msg`.
    pub fn queue_messages(&self) -> Vec<(String, Vec<u8>)> {
        read_dir_files(&self.data_dir.join("queue"), |name| {
            name.ends_with(".mail") || name.ends_with(".msg")
        })
        .into_iter()
        .map(|(name, bytes)| match name.strip_suffix(".mail") {
            Some(id) => (id.to_string(), queue_file_message(&bytes).to_vec()),
            None => (name.trim_end_matches(".msg").to_string(), bytes),
        })
        .collect()
    }

    /// The envelope of queued message `id` as JSON: its `<ID>.env` (a later
    /// state, or the old format) if present, else the one inside its
    /// `<ID>.mail`; `None` if neither can be read.
    pub fn queue_envelope(&self, id: &str) -> Option<serde_json::Value> {
        let queue = self.data_dir.join("queue");
        if let Ok(bytes) = fs::read(queue.join(format!("{id}.env"))) {
            return serde_json::from_slice(&bytes).ok();
        }
        let bytes = fs::read(queue.join(format!("{id}.mail"))).ok()?;
        let (json, _) = split_queue_file(&bytes)?;
        serde_json::from_slice(json).ok()
    }

    /// Every file name under `<data>/queue` (recursively), for failure messages.
    pub fn queue_listing(&self) -> Vec<String> {
        let mut names = Vec::new();
        list_recursive(&self.data_dir.join("queue"), &mut names);
        names
    }

    /// Waits (bounded) until `<data>/queue` holds no message file any more.
    pub fn wait_queue_empty(&self) -> bool {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            if self.queue_messages().is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `portcullis serve` and waits until the SMTP port accepts.
    pub fn start(self) -> Server {
        self.start_with(&[])
    }

    /// Like [`Setup::start`] with extra `serve` arguments (`--allow-open-relay`).
    pub fn start_with(self, serve_args: &[&str]) -> Server {
        match self.try_start(serve_args) {
            Ok(server) => server,
            Err((setup, log)) => panic!(
                "portcullis serve did not start (config {}):\n{}\n--- config ---\n{}",
                setup.config_path.display(),
                log,
                setup.config_text()
            ),
        }
    }

    /// Starts `serve`; on failure returns the setup back with what the
    /// process printed. Retries with fresh ports when one was taken by
    /// another test between our probe and the server's bind.
    pub fn try_start(mut self, serve_args: &[&str]) -> Result<Server, (Box<Setup>, String)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Server::spawn(self, serve_args) {
                Ok(server) => return Ok(server),
                Err((setup, log)) => {
                    let port_taken = log.contains("in use") || log.contains("AddrInUse");
                    if port_taken && attempt < 3 {
                        self = *setup;
                        self.pick_ports();
                        continue;
                    }
                    return Err((setup, log));
                }
            }
        }
    }

    /// Runs `portcullis serve <args>` expecting it to refuse to start: returns
    /// its exit status (None if it was still running after `within`, then
    /// killed) and its stderr.
    pub fn serve_expecting_exit(
        &self,
        serve_args: &[&str],
        within: Duration,
    ) -> (Option<ExitStatus>, String) {
        self.serve_file_expecting_exit(&self.config_path, serve_args, within)
    }

    /// [`Server::serve_expecting_exit`] with another configuration file.
    pub fn serve_file_expecting_exit(
        &self,
        config: &Path,
        serve_args: &[&str],
        within: Duration,
    ) -> (Option<ExitStatus>, String) {
        let mut args = vec!["serve"];
        args.extend_from_slice(serve_args);
        let child = Command::new(BIN)
            .args(with_config(config, &args))
            .current_dir(self.dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN} serve: {e}"));
        let (status, out) = wait_output_or_kill(child, within);
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        (status, text)
    }
}

fn list_recursive(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            list_recursive(&p, out);
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
}

/// A queue file's envelope JSON and message, read as docs/reference.md
/// describes the format (header line `portcullis-queue 1 <N>`, N octets of
/// JSON, the message): the harness reads it as an outside observer would.
fn split_queue_file(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let eol = bytes.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..eol]).ok()?;
    let len: usize = header.strip_prefix("portcullis-queue 1 ")?.parse().ok()?;
    let json = bytes.get(eol + 1..eol + 1 + len)?;
    Some((json, &bytes[eol + 1 + len..]))
}

/// The message of a queue file (all of it if it has no valid header).
fn queue_file_message(bytes: &[u8]) -> &[u8] {
    split_queue_file(bytes).map_or(bytes, |(_, message)| message)
}

fn read_dir_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep(&name) {
                return None;
            }
            fs::read(e.path()).ok().map(|bytes| (name, bytes))
        })
        .collect();
    files.sort_by_key(|(name, _)| (delivery_order(name), name.clone()));
    files
}

/// A Maildir name `<secs>.M<usec>P<pid>Q<n>.<host>` as numbers, so files
/// sort in delivery order: as text, `M987654` would sort after `M1234567`
/// and mix up two messages delivered within one second.
fn delivery_order(name: &str) -> Option<(u64, u64, u64)> {
    let (secs, rest) = name.split_once(".M")?;
    let (usec, rest) = rest.split_once('P')?;
    let (_pid, rest) = rest.split_once('Q')?;
    let n = rest.split('.').next()?;
    Some((secs.parse().ok()?, usec.parse().ok()?, n.parse().ok()?))
}
