//! systemd readiness notification (`sd_notify(3)`), for `Type=notify` units:
//! `READY=1` once the listeners are bound, `RELOADING=1` … `READY=1` around
//! a reload, `STOPPING=1` when draining. The message is one datagram on the
//! Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
//! socket); without the variable every call does nothing, so the server runs
//! the same outside systemd.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::warn;

/// The environment variable systemd sets for `Type=notify` services.
pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The service manager's notification socket, if the server runs under one.
#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` once, at start.
    pub(crate) fn from_env() -> Notifier {
        Notifier {
            socket: std::env::var(NOTIFY_SOCKET).ok().filter(|s| !s.is_empty()),
        }
    }

    /// The listeners are bound and the server accepts connections.
    pub(crate) fn ready(&self) {
        self.send(&format!(
            "READY=1\nSTATUS=accepting mail\nMAINPID={}",
            std::process::id()
        ));
    }

    /// A reload starts; [`Notifier::reloaded`] ends it.
    pub(crate) fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the configuration");
    }

    /// A reload ended (applied or rejected: the server keeps serving).
    pub(crate) fn reloaded(&self, applied: bool) {
        let status = if applied {
            "accepting mail"
        } else {
            "accepting mail (last reload rejected, see the log)"
        };
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Draining before exit.
    pub(crate) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining sessions");
    }

    fn send(&self, message: &str) {
        let Some(socket) = &self.socket else { return };
        // Readiness is advisory: a failure is logged, never fatal.
        if let Err(e) = send_to(socket, message) {
            warn!("cannot notify the service manager on {socket}: {e}");
        }
    }
}

/// Sends `message` as one datagram to `socket` (a path, or `@name` for a
/// Linux abstract socket).
pub(crate) fn send_to(socket: &str, message: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(message.as_bytes(), &addr)?;
        }
        None => {
            sock.send_to(message.as_bytes(), Path::new(socket))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    use super::{send_to, Notifier};

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn the_lifecycle_messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: Some(path.to_string_lossy().into_owned()),
        };
        n.ready();
        let ready = receive(&sock);
        assert!(ready.starts_with("READY=1\n"), "{ready}");
        assert!(ready.contains(&format!("MAINPID={}", std::process::id())));
        n.reloading();
        assert!(receive(&sock).starts_with("RELOADING=1\n"));
        n.reloaded(false);
        assert!(receive(&sock).contains("last reload rejected"));
        n.stopping();
        assert!(receive(&sock).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn an_abstract_socket_is_named_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("portcullis-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(&format!("@{name}"), "READY=1").unwrap();
        assert_eq!(receive(&sock), "READY=1");
    }

    #[test]
    fn without_the_variable_nothing_is_sent_and_nothing_fails() {
        let n = Notifier { socket: None };
        n.ready();
        n.stopping();
        // A socket that is gone is logged, not fatal.
        let gone = Notifier {
            socket: Some("/nonexistent/portcullis/notify.sock".into()),
        };
        gone.ready();
    }
}
