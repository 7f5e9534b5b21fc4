//! The control socket: a Unix socket `<data_dir>/control.sock`, mode 0600, on
//! which the admin commands talk to the running server (`portcullis reload`,
//! `portcullis status`). One request line in, text lines out, and a last line
//! `OK ...` or `ERR ...`.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tracing::warn;

use super::Shared;

/// The socket's path for a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// A request the main loop must carry out (reload needs the listeners).
pub enum Request {
    /// Reload; the report comes back on the channel.
    Reload(tokio::sync::oneshot::Sender<Result<Vec<String>, String>>),
}

/// Binds the socket (replacing a stale one) with mode 0600: only the server's
/// own user may reload it or read its status.
pub fn bind(data_dir: &Path) -> io::Result<UnixListener> {
    let path = socket_path(data_dir);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another server is running on {}", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves control requests until the task is aborted.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>, requests: mpsc::Sender<Request>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = TokioBufReader::new(read);
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match line.trim() {
                "STATUS" => status(&shared),
                "PING" => "OK\n".to_string(),
                other if other.starts_with("UNBAN ") => match other[6..].trim().parse() {
                    Ok(ip) => format!(
                        "OK {}\n",
                        super::auth_guard::unban(&shared.auth_throttle, ip)
                    ),
                    Err(_) => format!("ERR \"{}\" is not an IP address\n", other[6..].trim()),
                },
                "RELOAD" => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    if requests.send(Request::Reload(tx)).await.is_err() {
                        "ERR the server is shutting down\n".to_string()
                    } else {
                        match rx.await {
                            Ok(Ok(lines)) => {
                                let mut out = String::new();
                                for l in lines {
                                    let _ = writeln!(out, "{l}");
                                }
                                out.push_str("OK reload applied\n");
                                out
                            }
                            Ok(Err(e)) => format!(
                                "ERR reload rejected, the previous configuration stays in force: {e}\n"
                            ),
                            Err(_) => "ERR the server did not answer\n".to_string(),
                        }
                    }
                }
                other if other.starts_with("QUEUE-") => {
                    super::outbound::control_answer(&shared, other).await
                }
                other => format!("ERR unknown request \"{other}\"\n"),
            };
            // A client that left before its answer (killed, or `| head`) is
            // not the server's problem: only other failures are worth a line.
            match write.write_all(answer.as_bytes()).await {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    warn!("control socket write failed: {e}")
                }
                _ => {}
            }
        });
    }
}

fn status(shared: &Shared) -> String {
    let rt = shared.current.get();
    let s = &shared.stats;
    let mut out = String::new();
    let up = shared.started.elapsed().as_secs();
    let _ = writeln!(
        out,
        "uptime: {}d {:02}h {:02}m {:02}s",
        up / 86_400,
        up / 3600 % 24,
        up / 60 % 60,
        up % 60
    );
    let _ = writeln!(out, "pid: {}", std::process::id());
    let l = &rt.config.listen;
    for (role, addrs) in [
        ("smtp", &l.smtp),
        ("submission", &l.submission),
        ("submissions", &l.submissions),
    ] {
        let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(out, "listen.{role}: {}", list.join(" "));
    }
    let _ = writeln!(out, "sessions: {}", s.sessions.load(Ordering::Relaxed));
    for (label, counter) in [
        ("connections", &s.connections),
        ("messages accepted", &s.messages_accepted),
        ("relay grants", &s.relay_grants),
        ("relay denials", &s.relay_denials),
    ] {
        let _ = writeln!(out, "{label}: {}", counter.load(Ordering::Relaxed));
    }
    let refusals: Vec<String> = s
        .limit_refusals
        .snapshot()
        .into_iter()
        .map(|(labels, n)| {
            let key = labels.trim_start_matches("limit=\"").trim_end_matches('"');
            format!("{key}={n}")
        })
        .collect();
    let _ = writeln!(
        out,
        "limit refusals: {}",
        if refusals.is_empty() {
            "none".to_string()
        } else {
            refusals.join(" ")
        }
    );
    let _ = writeln!(
        out,
        "queue: {} messages",
        shared.spool.list().map(|l| l.len()).unwrap_or(0)
    );
    let _ = writeln!(out, "relay list: {} entries", rt.config.relay.allow.len());
    for line in super::auth_guard::status_lines(&shared.auth_throttle) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str("OK\n");
    out
}

/// Client side, for the admin commands: sends one request, returns the lines
/// and whether the server said OK.
pub fn request(data_dir: &Path, what: &str) -> Result<(Vec<String>, bool), String> {
    let path = socket_path(data_dir);
    match request_if_running(data_dir, what)? {
        Some(answer) => Ok(answer),
        None => Err(format!(
            "no running server found (nothing listens on {})",
            path.display()
        )),
    }
}

/// Whether a server answers on the control socket of `data_dir`.
pub fn is_running(data_dir: &Path) -> bool {
    matches!(request_if_running(data_dir, "PING"), Ok(Some((_, true))))
}

/// Like [`request`], but None when no server listens on the socket (no
/// socket file, or a stale one), so a command can work offline instead.
/// The request itself is the only connection: a separate probe would leave
/// a broken pipe in the server's log for every command.
pub fn request_if_running(
    data_dir: &Path,
    what: &str,
) -> Result<Option<(Vec<String>, bool)>, String> {
    let path = socket_path(data_dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(format!(
                "no running server found (cannot connect to {}: {e})",
                path.display()
            ))
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    stream
        .write_all(format!("{what}\n").as_bytes())
        .map_err(|e| format!("cannot talk to the server: {e}"))?;
    let mut lines = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| format!("the server's answer was cut off: {e}"))?;
        if let Some(rest) = line.strip_prefix("OK") {
            let rest = rest.trim();
            if !rest.is_empty() {
                lines.push(rest.to_string());
            }
            return Ok(Some((lines, true)));
        }
        if let Some(rest) = line.strip_prefix("ERR ") {
            lines.push(rest.to_string());
            return Ok(Some((lines, false)));
        }
        lines.push(line);
    }
    Err("the server closed the control socket without an answer".into())
}
