//! A running `portcullis serve` under test: start, talk to, restart, stop.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{queue_id, with_config, Client, Setup, Zone, BIN, START_TIMEOUT};

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

    pub(crate) fn spawn(setup: Setup, serve_args: &[&str]) -> Result<Server, (Box<Setup>, String)> {
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
