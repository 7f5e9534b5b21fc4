//! Relay-list names matched by forward-confirmed reverse DNS (docs/reference.md §4), with
//! a client OUTSIDE loopback: the resolver answers PTR queries for 127/8
//! itself, so each test makes a network namespace joined to the host by a
//! veth pair (198.18.X.Y/30, RFC 2544 benchmarking space), runs the server on
//! the host end with the DNS stub as its resolver, and runs a Python smtplib
//! client inside the namespace.
//!
//! Needs root and `ip`; otherwise each test prints why it is skipped and
//! passes. The namespace is always removed (drop guard), and every step is
//! bounded in time.
// Signals and the effective uid come from libc: std has no safe form of them.
#![allow(unsafe_code)]

use portcullis_testkit as common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use common::{run_with_timeout, Setup, Zone};

/// A network namespace with a veth pair; removed on drop.
struct Netns {
    name: String,
    host_if: String,
    /// The host end (the server listens here).
    host_ip: Ipv4Addr,
    /// The namespace end (the client's source address).
    ns_ip: Ipv4Addr,
}

fn ip_cmd(args: &[&str]) -> Result<(), String> {
    let (status, out) = run_with_timeout(Command::new("ip").args(args), Duration::from_secs(10));
    match status {
        Some(s) if s.success() => Ok(()),
        _ => Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

impl Netns {
    /// Creates namespace number `k` (0-15) of this process, or says why it cannot.
    fn create(k: u8) -> Result<Netns, String> {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("the `ip` command is missing".into());
        }
        let pid = std::process::id();
        // One /24 per process, one /30 per test: parallel tests never share addresses.
        let third = u8::try_from(pid % 200).unwrap_or(0) + 20;
        let base = k * 4;
        let host_ip = Ipv4Addr::new(198, 18, third, base + 1);
        let ns_ip = Ipv4Addr::new(198, 18, third, base + 2);
        let ns = Netns {
            name: format!("pcl-{pid}-{k}"),
            host_if: format!("pc{pid}h{k}"),
            host_ip,
            ns_ip,
        };
        let peer_if = format!("pc{pid}n{k}");
        let (name, host_if) = (ns.name.clone(), ns.host_if.clone());
        let host_cidr = format!("{host_ip}/30");
        let ns_cidr = format!("{ns_ip}/30");
        ip_cmd(&["netns", "add", &name])?;
        // From here on, dropping `ns` cleans up whatever was made.
        ip_cmd(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ])?;
        ip_cmd(&["link", "set", &peer_if, "netns", &name])?;
        ip_cmd(&["addr", "add", &host_cidr, "dev", &host_if])?;
        ip_cmd(&["link", "set", &host_if, "up"])?;
        ip_cmd(&[
            "netns", "exec", &name, "ip", "addr", "add", &ns_cidr, "dev", &peer_if,
        ])?;
        ip_cmd(&["netns", "exec", &name, "ip", "link", "set", &peer_if, "up"])?;
        ip_cmd(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs the smtplib client inside the namespace against `port` on the
    /// host end; returns the RCPT reply `(code, text)`.
    fn smtp_rcpt(&self, port: u16, rcpt: &str) -> Result<(u16, String), String> {
        const CLIENT: &str = r#"
import json, smtplib, sys
host, port, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = smtplib.SMTP(host, port, local_hostname="client.lan.test", timeout=20)
s.ehlo("client.lan.test")
code, msg = s.mail("someone@lan.test")
if code != 250:
    print(json.dumps({"rcpt": [0, "MAIL refused: %d %s" % (code, msg.decode())]}))
    sys.exit(0)
code, msg = s.rcpt(rcpt)
print(json.dumps({"rcpt": [code, msg.decode()]}))
s.quit()
"#;
        let port = port.to_string();
        let host = self.host_ip.to_string();
        let (status, out) = run_with_timeout(
            Command::new("ip").args([
                "netns", "exec", &self.name, "python3", "-c", CLIENT, &host, &port, rcpt,
            ]),
            Duration::from_secs(40),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if status.is_none() {
            return Err(format!(
                "client in {} timed out\n{stdout}\n{stderr}",
                self.name
            ));
        }
        let line = stdout.lines().find(|l| l.starts_with('{')).ok_or_else(|| {
            format!("client printed no result: exit {status:?}\n{stdout}\n{stderr}")
        })?;
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
        let code = v["rcpt"][0]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0);
        let text = v["rcpt"][1].as_str().unwrap_or_default().to_string();
        Ok((code, text))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end and with it the pair;
        // the explicit link delete covers a half-made setup.
        let _ = ip_cmd(&["netns", "del", &self.name]);
        let _ = ip_cmd(&["link", "del", &self.host_if]);
    }
}

/// Builds namespace `k`, a server on its host end whose DNS stub serves
/// `zone(ns_ip)`, and returns the RCPT reply for a remote recipient.
fn relay_from_namespace(
    k: u8,
    extra_toml: &str,
    dns_options: &str,
    zone: impl Fn(Ipv4Addr) -> Zone,
) -> Option<(u16, String)> {
    let ns = match Netns::create(k) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: reverse-DNS relay test needs a network namespace: {why}");
            return None;
        }
    };
    let setup = Setup::build(extra_toml, zone(ns.ns_ip), IpAddr::V4(ns.host_ip))
        .with_dns_options(dns_options);
    let server = setup.start();
    let reply = ns
        .smtp_rcpt(server.smtp_port, "bob@remote.example")
        .unwrap_or_else(|e| panic!("{e}\n--- server log ---\n{}", server.log()));
    eprintln!("DNS questions seen: {:?}", server.dns.seen());
    drop(server);
    drop(ns);
    Some(reply)
}

const ALLOW_DOMAIN: &str = "[relay]\nallow = [\"127.0.0.1\", \"lan.test\"]\n";

#[test]
fn forward_confirmed_reverse_name_in_allowed_domain_relays() {
    let reply = relay_from_namespace(0, ALLOW_DOMAIN, "", |ns_ip| {
        Zone::new()
            .ptr(IpAddr::V4(ns_ip), "client.lan.test")
            .a("client.lan.test", ns_ip)
    });
    if let Some((code, text)) = reply {
        assert_eq!(
            code, 250,
            "forward-confirmed client.lan.test: {code} {text}"
        );
    }
}

#[test]
fn reverse_name_without_matching_forward_address_is_denied() {
    let reply = relay_from_namespace(1, ALLOW_DOMAIN, "", |ns_ip| {
        let elsewhere = Ipv4Addr::new(ns_ip.octets()[0], ns_ip.octets()[1], ns_ip.octets()[2], 250);
        Zone::new()
            .ptr(IpAddr::V4(ns_ip), "client.lan.test")
            .a("client.lan.test", elsewhere)
    });
    if let Some((code, text)) = reply {
        assert_eq!(
            code, 554,
            "PTR not forward-confirmed must not relay: {code} {text}"
        );
        assert!(text.starts_with("5.7.1"), "{code} {text}");
    }
}

#[test]
fn reverse_lookup_servfail_is_a_temporary_failure() {
    let reply = relay_from_namespace(2, ALLOW_DOMAIN, "", |ns_ip| {
        Zone::new().servfail_ptr(IpAddr::V4(ns_ip))
    });
    if let Some((code, text)) = reply {
        assert_eq!(
            code, 451,
            "SERVFAIL on the PTR must be 451 4.4.3: {code} {text}"
        );
        assert!(text.starts_with("4.4.3"), "{code} {text}");
    }
}

#[test]
fn reverse_lookup_timeout_is_a_temporary_failure() {
    // Short per-query timeout so the test stays quick.
    let reply = relay_from_namespace(3, ALLOW_DOMAIN, "timeout_ms = 500", |ns_ip| {
        Zone::new().silent_ptr(IpAddr::V4(ns_ip))
    });
    if let Some((code, text)) = reply {
        assert_eq!(code, 451, "a PTR timeout must be 451 4.4.3: {code} {text}");
        assert!(text.starts_with("4.4.3"), "{code} {text}");
    }
}

#[test]
fn host_name_entry_allows_its_resolved_address() {
    // docs/reference.md §4: a name's A/AAAA addresses are allowed (resolved at load).
    let reply = relay_from_namespace(
        4,
        "[relay]\nallow = [\"127.0.0.1\", \"relayhost.lan.test\"]\n",
        "",
        |ns_ip| Zone::new().a("relayhost.lan.test", ns_ip),
    );
    if let Some((code, text)) = reply {
        assert_eq!(
            code, 250,
            "client at relayhost.lan.test's address: {code} {text}"
        );
    }
}
