//! Black-box test harness: starts the real `portcullis` binary with a
//! generated configuration in a temporary directory, on free loopback ports,
//! with a loopback DNS stub as its only resolver, and talks real SMTP to it
//! from any 127.x.y.z source address.
//!
//! Every test gets its own directory, ports, DNS stub and server process, so
//! tests run in parallel; every network read has a timeout, so no test hangs.
//!
//! One crate for every integration test binary (they `use portcullis_testkit
//! as common;`), so the harness is compiled once, not once per test file.
//! The binary under test is the `portcullis` that cargo builds next to this
//! crate's build output for the root package's integration tests (see
//! `build.rs`).

pub mod auth_support;
pub mod client;
pub mod dns;
pub mod mail;
pub mod outbound;
pub mod process;
pub mod sink;
pub mod transcript;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use client::{has_enhanced, queue_id, Client, ReadError};
pub use dns::{DnsStub, Zone};
pub use mail::{find, show, split_delivered};
pub use process::run_with_timeout;
use process::{wait_output, wait_output_or_kill};

/// The binary under test: cargo builds it into the same target directory
/// before it runs the root package's integration tests (`build.rs`).
pub const BIN: &str = env!("PORTCULLIS_BIN");
/// Every read from the server gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `serve` may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a polled file-system condition (Maildir, queue) may take.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// A free TCP port on `ip` (bound, then released: the server binds it next).
pub fn free_port(ip: IpAddr) -> u16 {
    // Never the same port twice in one test binary: a port freed by a
    // stopped server (or kept free on purpose, to be refused) must not be
    // handed to a test running alongside, whose server would then answer
    // for the first. (Cargo runs test binaries one at a time.)
    for _ in 0..100 {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
            .port();
        if claim_port(port) {
            return port;
        }
    }
    panic!("no port on {ip} that this test binary has not used yet")
}

/// Records `port` as used by this test binary; false if it already was.
/// Every port the harness binds or hands out goes through here.
pub fn claim_port(port: u16) -> bool {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port)
}

/// A TOML basic string holding `s`.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the global `--config FILE` option goes on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigFlag {
    /// `portcullis --config FILE user add …` (a global or top-level option).
    BeforeSubcommand,
    /// `portcullis user add … --config FILE` (declared on each subcommand).
    AfterSubcommand,
}

/// Reads `portcullis --help` once to see where `--config` is accepted.
fn config_flag() -> ConfigFlag {
    static FLAG: OnceLock<ConfigFlag> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let help = Command::new(BIN).arg("--help").output();
        match help {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains("--config") => {
                ConfigFlag::BeforeSubcommand
            }
            _ => ConfigFlag::AfterSubcommand,
        }
    })
}

/// The argument list for `portcullis <args>` with `--config path` placed where the binary wants it.
pub fn with_config(config: &Path, args: &[&str]) -> Vec<String> {
    let cfg = config.to_string_lossy().into_owned();
    let mut v: Vec<String> = Vec::new();
    match config_flag() {
        ConfigFlag::BeforeSubcommand => {
            v.push("--config".into());
            v.push(cfg);
            v.extend(args.iter().map(|a| a.to_string()));
        }
        ConfigFlag::AfterSubcommand => {
            v.extend(args.iter().map(|a| a.to_string()));
            v.push("--config".into());
            v.push(cfg);
        }
    }
    v
}

/// The text of a command's output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

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
    /// The only resolver the server uses.
    pub dns: DnsStub,
    extra: String,
    dns_options: String,
    listen_options: String,
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
            dns: DnsStub::start(zone),
            extra: extra_toml.to_string(),
            dns_options: String::new(),
            listen_options: String::new(),
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

    /// The temporary directory holding everything of this test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn pick_ports(&mut self) {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        self.smtp_port = free_port(self.listen_ip);
        self.submission_port = free_port(lo);
        self.submissions_port = free_port(lo);
        self.write_config();
    }

    /// The configuration text the harness writes.
    pub fn config_text(&self) -> String {
        let data = toml_str(&self.data_dir.to_string_lossy());
        let smtp = SocketAddr::new(self.listen_ip, self.smtp_port);
        let mut t = format!(
            "# Written by the Portcullis test harness.\n\
             hostname = \"mx.test\"\n\
             data_dir = {data}\n\
             local_domains = [\"local.test\", \"localhost\"]\n\
             \n\
             [listen]\n\
             smtp = [\"{smtp}\"]\n\
             submission = [\"127.0.0.1:{}\"]\n\
             submissions = [\"127.0.0.1:{}\"]\n\
             {}\
             \n\
             [dns]\n\
             nameservers = [\"{}\"]\n",
            self.submission_port, self.submissions_port, self.listen_options, self.dns.addr
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

    /// The queued messages: `(<ID>, contents of <data>/queue/<ID>.msg)`.
    pub fn queue_messages(&self) -> Vec<(String, Vec<u8>)> {
        read_dir_files(&self.data_dir.join("queue"), |name| name.ends_with(".msg"))
            .into_iter()
            .map(|(name, bytes)| (name.trim_end_matches(".msg").to_string(), bytes))
            .collect()
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

/// A server that relays for 127.0.0.1 while DNS answers SERVFAIL for
/// remote.example, so a message from alice@local.test to bob@remote.example
/// with `body` stays queued (a temporary failure). Returns the server and
/// the message's queue id.
pub fn server_with_queued_remote(body: &[u8]) -> (Server, String) {
    let setup = Setup::with_dns(
        "[relay]\nallow = [\"127.0.0.1\"]\n",
        Zone::new().servfail("remote.example"),
    );
    let server = setup.start();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("alice@local.test", &["bob@remote.example"], body);
    assert_eq!(code, 250, "{text}");
    let id = queue_id(&text).unwrap_or_else(|| panic!("no `queued as <ID>` in {text:?}"));
    c.quit_collect();
    (server, id)
}

/// A running `portcullis serve`; killed (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    /// Always `Some` until the server is dismantled by a failed start.
    setup: Option<Setup>,
    child: Option<Child>,
    stderr_path: PathBuf,
    stdout_path: PathBuf,
}

impl Deref for Server {
    type Target = Setup;
    fn deref(&self) -> &Setup {
        self.setup.as_ref().expect("setup is present until drop")
    }
}

impl Server {
    /// `Setup::new(extra_toml).start()`.
    pub fn start(extra_toml: &str) -> Server {
        Setup::new(extra_toml).start()
    }

    /// A server with users `(name, password)` added before it starts.
    pub fn with_users(extra_toml: &str, users: &[(&str, &str)]) -> Server {
        let setup = Setup::new(extra_toml);
        for (name, password) in users {
            setup.add_user(name, password);
        }
        setup.start()
    }

    fn spawn(setup: Setup, serve_args: &[&str]) -> Result<Server, (Box<Setup>, String)> {
        let stderr_path = setup.dir().join("serve.stderr");
        let stdout_path = setup.dir().join("serve.stdout");
        let mut args = vec!["serve"];
        args.extend_from_slice(serve_args);
        let stderr = fs::File::create(&stderr_path).expect("create stderr file");
        let stdout = fs::File::create(&stdout_path).expect("create stdout file");
        let child = Command::new(BIN)
            .args(with_config(&setup.config_path, &args))
            .current_dir(setup.dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN} serve: {e}"));
        let mut server = Server {
            setup: Some(setup),
            child: Some(child),
            stderr_path,
            stdout_path,
        };
        let addr = server.smtp_addr();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    server.child = None;
                    let log = format!(
                        "serve exited with {status} before listening\n{}",
                        server.log()
                    );
                    return Err((server.take_setup(), log));
                }
            }
            // Readiness from the log, not a probe connection: a probe would
            // hold one of the `[limits]` places until the server saw it close.
            // With `log.file` set (tests name it portcullis.log) the server
            // logs only there, stderr not being a terminal.
            let ready = |path: &Path| {
                fs::read_to_string(path).is_ok_and(|log| log.contains("portcullis ready"))
            };
            if ready(&server.stderr_path) || ready(&server.dir().join("portcullis.log")) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let log = format!(
                    "{addr} not accepting after {START_TIMEOUT:?}\n{}",
                    server.log()
                );
                server.kill();
                return Err((server.take_setup(), log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM, bounded) and starts it again on the same
    /// directory, configuration and ports.
    pub fn restart(self) -> Server {
        let setup = self.take_setup();
        (*setup).start()
    }

    fn take_setup(mut self) -> Box<Setup> {
        self.kill();
        Box::new(self.setup.take().expect("setup is present until drop"))
    }

    /// The `smtp` listener's address.
    pub fn smtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.listen_ip, self.smtp_port)
    }

    /// The captured stderr (then stdout) of `serve`.
    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let out = fs::read_to_string(&self.stdout_path).unwrap_or_default();
        if !out.is_empty() {
            s.push_str("\n--- serve stdout ---\n");
            s.push_str(&out);
        }
        s
    }

    /// A client connected from 127.0.0.1 that has read the 220 greeting.
    pub fn client(&self) -> Client {
        self.client_from(Ipv4Addr::LOCALHOST)
    }

    /// A client connected from `src` (any 127.x.y.z) that has read the 220 greeting.
    pub fn client_from(&self, src: Ipv4Addr) -> Client {
        let mut c = Client::connect_addr(IpAddr::V4(src), self.smtp_addr());
        let (code, text) = c.read_reply();
        assert_eq!(code, 220, "greeting to {src}: {text}\n{}", self.log());
        c
    }

    /// `client_from(src)` followed by `EHLO client.test` (asserted 250).
    pub fn ehlo_from(&self, src: Ipv4Addr) -> Client {
        let mut c = self.client_from(src);
        c.ehlo("client.test");
        c
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // The pid is our own child, not yet reaped, so it cannot name another process.
        let pid = libc::pid_t::try_from(child.id()).ok()?;
        // SAFETY: kill(2) has no memory-safety preconditions. Allowed here
        // (the workspace denies unsafe code) because std cannot send SIGTERM.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    fn kill(&mut self) {
        let _ = self.stop();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && self.setup.is_some() {
            eprintln!(
                "===== portcullis serve output ({}) =====\n{}\n===== end of serve output =====",
                self.config_path.display(),
                self.log()
            );
        }
    }
}

/// Source addresses that are not in a test's allow list.
pub const DENIED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
