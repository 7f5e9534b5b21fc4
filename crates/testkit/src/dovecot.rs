//! A private Dovecot 2.3 for the LMTP tests: its own base_dir, config and
//! passwd-file in a temporary directory, LMTP on a loopback port and on a
//! Unix socket, IMAP on another loopback port; never the system instance.
//! Mail is read back over IMAP (Python's imaplib), as a user would.
//!
//! Run as root (as CI does), Dovecot runs as `nobody`: it refuses mail
//! access as root. Users live in a passwd-file (passdb and userdb) that a
//! test may rewrite, e.g. to change a quota (Dovecot rereads it when it
//! changes); a user's extra userdb fields (`userdb_quota_rule=*:storage=1k`)
//! go with the user.

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, run_with_timeout};

/// How long Dovecot may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the Dovecot tests cannot run here (no dovecot, no LMTP server), if
/// they cannot. Under CI (`CI` set) a missing Dovecot is a failure:
/// `.ci/run` installs dovecot-imapd and dovecot-lmtpd.
pub fn unavailable() -> Option<String> {
    let missing = if !Path::new("/usr/sbin/dovecot").exists() {
        Some("dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)")
    } else if !Path::new("/usr/lib/dovecot/lmtp").exists() {
        Some("Dovecot's LMTP server is not installed (apt-get install dovecot-lmtpd)")
    } else {
        None
    };
    let why = missing?;
    assert!(
        std::env::var_os("CI").is_none(),
        "under CI .ci/run must install it: {why}"
    );
    Some(why.to_string())
}

/// A user of the private Dovecot.
#[derive(Clone, Debug)]
pub struct DovecotUser {
    /// The login and mailbox name (`auth_username_format = %Ln`: `alice`
    /// and `alice@local.test` are the same user).
    pub name: String,
    /// The password, stored `{PLAIN}` (a test password).
    pub password: String,
    /// Extra userdb fields, e.g. `userdb_quota_rule=*:storage=1k`.
    pub extra: String,
}

impl DovecotUser {
    /// A user with no extra fields.
    pub fn new(name: &str, password: &str) -> DovecotUser {
        DovecotUser {
            name: name.to_string(),
            password: password.to_string(),
            extra: String::new(),
        }
    }
}

/// A private Dovecot; stopped on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// LMTP's loopback port.
    pub lmtp_port: u16,
    /// IMAP's loopback port.
    pub imap_port: u16,
    run_as: Option<(String, String)>,
}

impl Dovecot {
    /// Writes the configuration for `users` (not started yet): the test
    /// knows the LMTP port before anything listens on it.
    pub fn prepare(users: &[DovecotUser]) -> Dovecot {
        // A short path: Dovecot's Unix sockets live under it (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("pcdv")
            .tempdir_in("/tmp")
            .expect("create the Dovecot directory");
        let root = is_root();
        let run_as = root.then(|| {
            let group = String::from_utf8_lossy(
                &Command::new("id")
                    .args(["-gn", "nobody"])
                    .output()
                    .expect("run id")
                    .stdout,
            )
            .trim()
            .to_string();
            ("nobody".to_string(), group)
        });
        let lo = std::net::IpAddr::V4(Ipv4Addr::LOCALHOST);
        let dovecot = Dovecot {
            dir,
            child: None,
            lmtp_port: free_port(lo),
            imap_port: free_port(lo),
            run_as,
        };
        for sub in ["run", "lib", "mail"] {
            fs::create_dir_all(dovecot.dir().join(sub)).expect("create Dovecot dirs");
        }
        fs::write(dovecot.dir().join("dovecot.conf"), dovecot.config())
            .expect("write dovecot.conf");
        dovecot.set_users(users);
        if let Some((user, group)) = &dovecot.run_as {
            let status = Command::new("chown")
                .args(["-R", &format!("{user}:{group}")])
                .arg(dovecot.dir())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of the Dovecot directory failed");
        }
        fs::set_permissions(dovecot.dir(), fs::Permissions::from_mode(0o755))
            .expect("chmod the Dovecot directory");
        dovecot
    }

    /// Prepares and starts.
    pub fn start(users: &[DovecotUser]) -> Dovecot {
        let mut d = Dovecot::prepare(users);
        d.run();
        d
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The LMTP Unix socket.
    pub fn lmtp_socket(&self) -> PathBuf {
        self.dir().join("lmtp.sock")
    }

    /// `delivery.lmtp` for its TCP listener.
    pub fn lmtp_tcp(&self) -> String {
        format!("127.0.0.1:{}", self.lmtp_port)
    }

    /// Rewrites the passwd-file with `users`.
    pub fn set_users(&self, users: &[DovecotUser]) {
        let mut text = String::new();
        for u in users {
            text.push_str(&format!(
                "{}:{{PLAIN}}{}::::::{}\n",
                u.name, u.password, u.extra
            ));
        }
        let path = self.dir().join("passwd");
        let tmp = self.dir().join("passwd.tmp");
        fs::write(&tmp, text).expect("write the passwd-file");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).expect("chmod passwd");
        fs::rename(&tmp, &path).expect("install the passwd-file");
    }

    fn config(&self) -> String {
        let dir = self.dir().display().to_string();
        let (user, group) = self
            .run_as
            .clone()
            .unwrap_or_else(|| (whoami("-un"), whoami("-gn")));
        format!(
            r#"base_dir = {dir}/run
state_dir = {dir}/lib
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
protocols = lmtp imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
auth_failure_delay = 0
auth_username_format = %Ln
passdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
  default_fields = uid={user} gid={group} home={dir}/mail/%n
}}
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota
# A full mailbox is a temporary failure (452 4.2.2), for the retry test.
quota_full_tempfail = yes
plugin {{
  quota = maildir:User quota
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener {dir}/lmtp.sock {{
    mode = 0666
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"#,
            lmtp = self.lmtp_port,
            imap = self.imap_port,
        )
    }

    /// Starts Dovecot and waits until LMTP and IMAP listen.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "Dovecot is already running");
        let mut cmd = match &self.run_as {
            Some((user, group)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={user}"),
                    &format!("--regid={group}"),
                    "--clear-groups",
                    "--",
                    "dovecot",
                ]);
                c
            }
            None => Command::new("dovecot"),
        };
        let out = fs::File::create(self.dir().join("stdout.log")).expect("create stdout.log");
        let child = cmd
            .arg("-F")
            .arg("-c")
            .arg(self.dir().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("run dovecot");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let up = |port: u16| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok();
        while !(up(self.lmtp_port) && up(self.imap_port) && self.lmtp_socket().exists()) {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops Dovecot (SIGTERM, waited for); it may be started again.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Its children go with the master; wait until LMTP is closed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.lmtp_port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Dovecot's own log.
    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.dir().join("stdout.log")).unwrap_or_default();
        s.push_str(&fs::read_to_string(self.dir().join("dovecot.log")).unwrap_or_default());
        s
    }

    /// Every message in `user`'s INBOX, fetched over IMAP, in order.
    pub fn messages(&self, user: &str, password: &str) -> Vec<Vec<u8>> {
        let script = r#"
import imaplib, sys
imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
imap.login(sys.argv[2], sys.argv[3])
typ, data = imap.select("INBOX", readonly=True)
assert typ == "OK", (typ, data)
for n in range(1, int(data[0]) + 1):
    typ, got = imap.fetch(str(n), "(BODY.PEEK[])")
    assert typ == "OK", (typ, got)
    print(got[0][1].hex())
imap.logout()
"#;
        let (status, out) = run_with_timeout(
            Command::new("python3").args([
                "-c",
                script,
                &self.imap_port.to_string(),
                user,
                password,
            ]),
            Duration::from_secs(30),
        );
        assert!(
            status.is_some_and(|s| s.success()),
            "IMAP fetch for {user} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| decode_hex(l.trim()))
            .collect()
    }

    /// Waits (bounded by `timeout`) until `user` has at least `n` messages;
    /// returns what is there then.
    pub fn wait_messages(
        &self,
        user: &str,
        password: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages(user, password);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    whoami("-u") == "0"
}

fn whoami(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from the IMAP helper"))
        .collect()
}
