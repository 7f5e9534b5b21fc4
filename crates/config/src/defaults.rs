//! The defaults of docs/reference.md §2: the values an absent key takes, the commented
//! `portcullis.toml` that `serve` writes when there is none, and the `[relay]`
//! table added to a file that lacks one.

use std::net::IpAddr;

use toml_edit::{Array, DocumentMut, Item, Table};

use super::values::parse_domain;

/// `data_dir` when absent (relative to the config file's directory).
pub(crate) const DATA_DIR: &str = "./portcullis-data";
/// `listen.smtp` when absent: loopback, unprivileged.
pub(crate) const LISTEN_SMTP: &str = "127.0.0.1:2525";
/// `listen.submission` when absent.
pub(crate) const LISTEN_SUBMISSION: &str = "127.0.0.1:2587";
/// `listen.submissions` when absent.
pub(crate) const LISTEN_SUBMISSIONS: &str = "127.0.0.1:2465";
/// `admin.listen` when absent: the console and JSON API, on loopback only.
pub(crate) const LISTEN_ADMIN: &str = "127.0.0.1:2580";
/// `relay.allow` when absent: only this machine may relay without AUTH.
pub(crate) const RELAY_ALLOW: &[&str] = &["127.0.0.1", "::1"];
/// `limits.message_size` when absent (25 MiB).
pub(crate) const MESSAGE_SIZE: u64 = 26_214_400;
/// `limits.recipients` when absent.
pub(crate) const RECIPIENTS: u64 = 100;
/// `limits.max_hops` when absent (Postfix's `hopcount_limit`).
pub(crate) const MAX_HOPS: u64 = 50;
/// `limits.errors` when absent.
pub(crate) const ERRORS: u64 = 10;
/// `limits.command_timeout` when absent (RFC 5321 §4.5.3.2: 5 minutes).
pub(crate) const COMMAND_TIMEOUT: u64 = 300;
/// `limits.data_timeout` when absent (RFC 5321 §4.5.3.2: 3 minutes per data block).
pub(crate) const DATA_TIMEOUT: u64 = 180;
/// `limits.connections` when absent.
pub(crate) const CONNECTIONS: u64 = 500;
/// The share of `limits.connections` kept for trusted clients when
/// `limits.connections_reserved` is absent (1 in 10).
pub(crate) const CONNECTIONS_RESERVED_DIVISOR: u64 = 10;
/// `limits.password_checks_waiting` when absent.
pub(crate) const PASSWORD_CHECKS_WAITING: u64 = 64;
/// `limits.connections_per_client` when absent.
pub(crate) const CONNECTIONS_PER_CLIENT: u64 = 20;
/// `limits.connection_rate` when absent (per minute).
pub(crate) const CONNECTION_RATE: u64 = 60;
/// `limits.commands_before_mail` when absent.
pub(crate) const COMMANDS_BEFORE_MAIL: u64 = 50;
/// `limits.session_time` when absent (30 minutes).
pub(crate) const SESSION_TIME: u64 = 1800;
/// `dns.timeout_ms` when absent.
pub(crate) const DNS_TIMEOUT_MS: u64 = 5_000;
/// `limits.outbound_connections` when absent.
pub(crate) const OUTBOUND_CONNECTIONS: u64 = 100;
/// `limits.outbound_per_destination` when absent.
pub(crate) const OUTBOUND_PER_DESTINATION: u64 = 20;
/// `queue.lifetime` when absent: 5 days (RFC 5321 §4.5.4.1: "at least 4-5 days").
pub(crate) const QUEUE_LIFETIME: u64 = 5 * 86_400;
/// `queue.retry_min` when absent: 1 minute.
pub(crate) const QUEUE_RETRY_MIN: u64 = 60;
/// `queue.retry_max` when absent: 1 hour.
pub(crate) const QUEUE_RETRY_MAX: u64 = 3600;
/// `queue.delay_warning` when absent: 4 hours.
pub(crate) const QUEUE_DELAY_WARNING: u64 = 4 * 3600;
/// `queue.mx_port` when absent: the SMTP port.
pub(crate) const QUEUE_MX_PORT: u16 = 25;
/// `queue.mta_sts_port` when absent: HTTPS (RFC 8461 §3.3).
pub(crate) const QUEUE_MTA_STS_PORT: u16 = 443;
/// `auth.delay_after` when absent.
pub(crate) const AUTH_DELAY_AFTER: u64 = 3;
/// `auth.delay_seconds` when absent.
pub(crate) const AUTH_DELAY_SECONDS: u64 = 2;
/// `auth.ban_after` when absent.
pub(crate) const AUTH_BAN_AFTER: u64 = 10;
/// `auth.ban_seconds` when absent (15 minutes).
pub(crate) const AUTH_BAN_SECONDS: u64 = 900;
/// `auth.window_seconds` when absent (15 minutes).
pub(crate) const AUTH_WINDOW_SECONDS: u64 = 900;
/// `directory.max_stale` when absent: two minutes.
pub(crate) const DIRECTORY_MAX_STALE: u64 = 120;
/// `log.level` when absent.
pub(crate) const LOG_LEVEL: &str = "info";

/// The file `portcullis serve` writes when the configuration file does not
/// exist: every key commented out with its default and a one-line comment,
/// in the layout of docs/reference.md §2, so that the live keys of the file are exactly
/// what the admin changed (`config set` adds the key below its section's
/// comments). It loads to exactly
/// [`Config::defaults`](super::Config::defaults).
pub const DEFAULT_CONFIG: &str = r#"# portcullis.toml: configuration of the Portcullis mail server.
# Every key is shown commented out with its default: a key takes effect once
# it is set, with `portcullis config set KEY VALUE...` (or by editing this
# file), then `portcullis reload`. `portcullis config read` prints every
# value; `portcullis config read --changed` only those set to another value.

# hostname = "mail.example.com"        # greeting, Received headers; default: system host name
# data_dir = "./portcullis-data"       # users, mail, queue, keys, pid file (relative to this file)
# user = "portcullis"                  # started as root: bind the listeners, then run as this user
# local_domains = ["example.com"]      # mail for these is delivered locally; default: [hostname, "localhost"]

[listen]
# smtp = ["127.0.0.1:2525"]            # port 25 role: MX + relay per [relay]
# submission = ["127.0.0.1:2587"]      # port 587 role: STARTTLS, AUTH required to send anything
# submissions = ["127.0.0.1:2465"]     # port 465 role: implicit TLS, AUTH required
# proxy_from = ["10.0.0.2"]            # load balancers that must send a PROXY v1/v2 header (others refused); absent: off
# proxied = ["0.0.0.0:25"]             # listeners expecting that header; absent: every listener

[relay]
# local_only = false           # true: deliver to local addresses only, never relay
# restricted = true            # false makes an open relay (refused unless --allow-open-relay)
# allow = ["127.0.0.1", "::1"]  # may relay without AUTH: IPs, 192.168.40-43.*, CIDR, names, !exceptions; first match wins
# authenticated = true         # authenticated users may relay
# smarthost_user = "portcullis"  # AUTH user at the smarthost below (PLAIN/LOGIN, only over TLS)
# smarthost_password_file = "smarthost.secret"  # its password: the file's first line (relative to this file)
# smarthost = "smtp.example.net:587"  # send all outbound mail through this host[:port] instead of MX lookups

[auth]
# mechanisms = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]  # SASL mechanisms offered, in this order
# plaintext_requires_tls = true  # PLAIN and LOGIN offered and accepted only under TLS
# Brute-force defence: failures are counted per client address (IPv6 by /64)
# and per user name; `portcullis status` lists the current bans.
# delay_after = 3        # failures before each further failure reply is delayed
# delay_seconds = 2      # the delay grows by this much per further failure (at most 30 s; 5 s for exempt clients)
# ban_after = 10         # failures after which the client gets 421 4.7.0 and its address is refused
# ban_seconds = 900      # how long a banned address is refused
# window_seconds = 900   # failures older than this no longer count
# never_ban = []         # never banned or cut off, only delayed (relay.allow notations); relay.allow clients too

[tls]
# cert = "/path/fullchain.pem"  # PEM certificate chain; absent: self-signed in data_dir
# key = "/path/key.pem"         # PEM private key; absent: read from the cert file
# outbound = "opportunistic"    # outbound STARTTLS: "opportunistic" (MX certificates unchecked, like Postfix "may") or "require"
# outbound_ca = "/path/ca.pem"  # extra CA certificates trusted for outbound TLS (smarthost, or tls.outbound = "require")

[limits]
# message_size = 26214400  # bytes; advertised with SIZE
# recipients = 100       # per message
# max_hops = 50          # Received: headers a message may carry; more is a mail loop (554 5.4.6)
# errors = 10            # error replies before the session is closed with 421
# command_timeout = 300  # seconds waiting for a command (RFC 5321 §4.5.3.2)
# data_timeout = 180     # seconds waiting for a data block (RFC 5321 §4.5.3.2)
# outbound_connections = 100    # outbound SMTP connections at once, in total
# outbound_per_destination = 20  # outbound SMTP connections at once to one destination
# Abuse limits: past them a client gets 421 and is disconnected.
# connections = 500            # inbound connections open at once, in total (421 4.7.0)
# connections_reserved = 50   # of those, kept for relay.allow and auth.never_ban clients (default: 10 %)
# connections_per_client = 20  # open at once from one address, IPv6 by /64 (421 4.7.0); relay.allow exempt
# connection_rate = 60         # new connections per minute from one address (421 4.7.0); relay.allow exempt
# commands_before_mail = 50    # commands outside a mail transaction (421 4.7.0)
# session_time = 1800          # seconds a whole session may last (421 4.4.2)
# greeting_delay_ms = 0        # wait before the greeting; talking before it gets 554 5.5.1
# password_checks = 0          # Argon2 password checks at once (19 MiB each); 0: one per CPU core
# password_checks_waiting = 64  # checks waiting for a turn; past that, or after 10 s, 454 4.7.0

[smtp]
# bare_lf = "normalize"  # bare LF in data: "normalize" (store as CRLF) or "reject" (550 5.6.11)

[inbound]
# checks = true          # SPF, DKIM, DMARC of mail from outside, recorded in Authentication-Results
# dmarc_reject = false   # true: refuse (550 5.7.1) mail failing DMARC from a p=reject domain

[dns]
# nameservers = []       # "IP" or "IP:port" (port 53 if omitted); empty: the system resolver
# timeout_ms = 5000      # per-query timeout in milliseconds

[log]
# file = "portcullis.log"  # log file (relative to this file); absent: stderr
# format = "text"        # "text" or "json"
# level = "info"         # a tracing filter, e.g. "info" or "info,portcullis=debug"

[delivery]
# maildir = "/var/mail/{user}/"  # Maildir path template with {user}; absent: <data_dir>/mail/{user}
# lmtp = "127.0.0.1:24"  # or "unix:/run/dovecot/lmtp": local mail queued, then sent by LMTP; absent: Maildir

[queue]
# lifetime = 432000      # seconds a message is retried before it is bounced (5 days)
# retry_min = 60         # seconds before the first retry; the wait doubles after each failure
# retry_max = 3600       # longest wait between two attempts, in seconds
# delay_warning = 14400  # seconds after which the sender is told delivery is delayed (4 h); 0: never
# mx_port = 25           # port of MX hosts: a testing knob, leave it at 25
# mta_sts_port = 443     # HTTPS port of MTA-STS policy hosts: a testing knob, leave it at 443

[admin]
# listen = ["127.0.0.1:2580"]  # HTTPS admin console and JSON API (/api/v1/) with the server's certificate; []: off

[metrics]
# listen = "127.0.0.1:9325"  # Prometheus metrics at GET /metrics; absent: off

[dovecot]
# passwd_file = "/etc/dovecot/portcullis.passwd"  # passwd-file kept in step by `portcullis user`; absent: off

[directory]
# backend = "files"      # where the site (domains, users, aliases, relay, routes) comes from: "files" or "postgres"
# url_file = "/etc/portcullis/directory.url"  # a database backend's connection URL (keeps its password out of this file)
# max_stale = 120        # seconds a snapshot the directory has not confirmed is served; then relay 451, AUTH 454
# node_name = "mx1"      # this node's name in `directory status`; absent: the hostname

[aliases]
# postmaster = ["alice"]  # local name = targets (local users or full addresses)

[routes]
# "example.org" = "mx.example.org:25"  # domain = "host:port" used instead of the domain's MX
"#;

/// The machine's host name from `/proc/sys/kernel/hostname`, lower-case, or
/// `localhost` when it cannot be read or is not a valid domain name (it is
/// used in the greeting, so it must be one).
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|name| parse_domain(name.trim()).ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// If `text` has no `[relay]` table, returns it with one appended: relay
/// restricted to `127.0.0.1`, `::1` and each of `own_addresses` as a single
/// host (docs/reference.md §2; the seed's "creates open_relay_addr_flag … with the IP
/// address of the local server"). Returns None when `[relay]` exists (in any
/// form: table, dotted keys or inline table) or when `text` is not TOML (the
/// load then reports the syntax error). Comments and layout are kept.
pub fn ensure_relay_section(text: &str, own_addresses: &[IpAddr]) -> Option<String> {
    let mut doc: DocumentMut = text.parse().ok()?;
    if doc.contains_key("relay") {
        return None;
    }

    let mut allow: Vec<String> = RELAY_ALLOW.iter().map(|s| s.to_string()).collect();
    for ip in own_addresses {
        // Single hosts only, never their subnets: a neighbour on the LAN is
        // not this machine. The unspecified address names no host at all.
        if ip.is_unspecified() {
            continue;
        }
        let entry = ip.to_string();
        if !allow.contains(&entry) {
            allow.push(entry);
        }
    }
    let mut list = Array::new();
    for entry in &allow {
        list.push(entry.as_str());
    }

    let mut relay = Table::new();
    let rows: [(&str, Item, &str); 4] = [
        (
            "local_only",
            toml_edit::value(false),
            "true: deliver to local addresses only, never relay",
        ),
        (
            "restricted",
            toml_edit::value(true),
            "false makes an open relay",
        ),
        (
            "allow",
            toml_edit::value(list),
            "loopback and this machine's own addresses",
        ),
        (
            "authenticated",
            toml_edit::value(true),
            "authenticated users may relay",
        ),
    ];
    for (key, mut item, comment) in rows {
        if let Some(v) = item.as_value_mut() {
            v.decor_mut().set_suffix(format!("  # {comment}"));
        }
        relay.insert(key, item);
    }
    relay.decor_mut().set_prefix(
        "# [relay] was missing: added by portcullis with safe defaults (only the\n\
         # addresses below may relay without AUTH; see `portcullis config read relay.allow`).\n",
    );
    append_table(&mut doc, "relay", relay);
    Some(doc.to_string())
}

/// Adds `table` as the document's last table. Comment lines at the end of
/// the file belong to the table that was last until now (often commented-out
/// keys of it), so they stay above the new header.
pub(crate) fn append_table(doc: &mut DocumentMut, name: &str, mut table: Table) {
    let trailing = doc.trailing().as_str().unwrap_or("").to_string();
    let own = table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let separator = if trailing.is_empty() {
        if doc.as_table().is_empty() {
            ""
        } else {
            "\n"
        }
    } else if trailing.trim().is_empty() || trailing.ends_with("\n\n") {
        ""
    } else {
        "\n"
    };
    table
        .decor_mut()
        .set_prefix(format!("{trailing}{separator}{own}"));
    table.set_position(last_position(doc.as_table()) + 1);
    doc.set_trailing("");
    doc.insert(name, Item::Table(table));
}

/// The highest document position of any table, so a new table goes last.
pub(crate) fn last_position(table: &Table) -> usize {
    let mut last = table.position().unwrap_or(0);
    for (_, item) in table.iter() {
        match item {
            Item::Table(t) => last = last.max(last_position(t)),
            Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    last = last.max(last_position(t));
                }
            }
            _ => {}
        }
    }
    last
}

/// The default of a list key as `config read` shows it, so that `config add`
/// and `config remove` on a key the file does not set start from what the
/// admin sees. `hostname` is the effective host name (it is the first of the
/// default `local_domains`). Keys without a list default give an empty list.
pub fn default_list(key: &str, hostname: &str) -> Vec<String> {
    let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match key {
        "local_domains" => {
            let host = hostname.to_ascii_lowercase();
            if host == "localhost" {
                owned(&["localhost"])
            } else {
                vec![host, "localhost".to_string()]
            }
        }
        "listen.smtp" => owned(&[LISTEN_SMTP]),
        "listen.submission" => owned(&[LISTEN_SUBMISSION]),
        "listen.submissions" => owned(&[LISTEN_SUBMISSIONS]),
        "admin.listen" => owned(&[LISTEN_ADMIN]),
        "relay.allow" => owned(RELAY_ALLOW),
        "auth.mechanisms" => owned(super::values::MECHANISMS),
        _ => Vec::new(),
    }
}
