//! The key registry: every configuration key with its type, its default and a
//! one-line description. Loading uses it to refuse unknown keys (with a "did
//! you mean" suggestion) and to check value types; `portcullis config` uses it
//! to know which keys exist and whether they take one value or a list.

/// The type of a key's value, as written in TOML and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A string; exactly one value on the command line.
    String,
    /// `true` or `false`.
    Bool,
    /// A whole number (TOML integer).
    Integer,
    /// A length of time: a whole number in the key's unit (seconds, or
    /// milliseconds for keys ending in `_ms`), or a string with a unit,
    /// such as `"30s"`, `"5m"`, `"2h"`, `"5d"` (and `"500ms"` for `_ms` keys).
    Duration,
    /// A list of strings; any number of values on the command line.
    List,
}

impl KeyKind {
    /// True for keys that hold a list (`config add` / `config remove` apply).
    pub fn is_list(self) -> bool {
        self == KeyKind::List
    }

    /// What a value of this kind looks like, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            KeyKind::String => "expected a string",
            KeyKind::Bool => "expected true or false",
            KeyKind::Integer => "expected a whole number",
            KeyKind::Duration => {
                "expected a whole number or a duration such as \"30s\", \"5m\", \"2h\" or \"5d\""
            }
            KeyKind::List => "expected a list of strings",
        }
    }
}

/// One configuration key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The dotted key, e.g. `relay.allow`. The two table keys are written
    /// `aliases.<name>` and `routes.<domain>`: one key per entry of the table.
    pub key: &'static str,
    /// Its value type.
    pub kind: KeyKind,
    /// The default, as `config read` prints it (or a description of it).
    pub default: &'static str,
    /// One line saying what it is for.
    pub doc: &'static str,
}

impl KeyInfo {
    /// The `[section]` the key lives in, or None for a top-level key.
    pub fn section(&self) -> Option<&'static str> {
        self.key.split_once('.').map(|(section, _)| section)
    }

    /// True for `aliases.<name>` and `routes.<domain>`: the part after the
    /// section is chosen by the admin.
    pub fn is_table_entry(&self) -> bool {
        self.key.ends_with('>')
    }
}

/// The alias table's key pattern.
pub const ALIASES: &str = "aliases";
/// The routes table's key pattern.
pub const ROUTES: &str = "routes";

/// Every key, in the order `config read` prints them and `DEFAULT_CONFIG` lists them.
pub const KEYS: &[KeyInfo] = &[
    KeyInfo {
        key: "hostname",
        kind: KeyKind::String,
        default: "the system host name",
        doc: "name used in the greeting and in Received headers",
    },
    KeyInfo {
        key: "data_dir",
        kind: KeyKind::String,
        default: "./portcullis-data",
        doc: "users, mail, queue, keys and pid file (relative to the config file's directory)",
    },
    KeyInfo {
        key: "user",
        kind: KeyKind::String,
        default: "",
        doc: "started as root: bind the listeners, then run as this user (absent: keep the user it was started as)",
    },
    KeyInfo {
        key: "local_domains",
        kind: KeyKind::List,
        default: "<hostname> localhost",
        doc: "mail for these domains is delivered locally (so is mail for `hostname`, always)",
    },
    KeyInfo {
        key: "listen.smtp",
        kind: KeyKind::List,
        default: "127.0.0.1:2525",
        doc: "port 25 role (IP:port): MX, and relay per [relay]",
    },
    KeyInfo {
        key: "listen.submission",
        kind: KeyKind::List,
        default: "127.0.0.1:2587",
        doc: "port 587 role (IP:port): STARTTLS, AUTH required to send anything",
    },
    KeyInfo {
        key: "listen.submissions",
        kind: KeyKind::List,
        default: "127.0.0.1:2465",
        doc: "port 465 role (IP:port): implicit TLS, AUTH required",
    },
    KeyInfo {
        key: "listen.proxy_from",
        kind: KeyKind::List,
        default: "",
        doc: "load balancers (IP or CIDR) that must send a PROXY protocol v1/v2 header; others are refused on proxied listeners; empty: off",
    },
    KeyInfo {
        key: "listen.proxied",
        kind: KeyKind::List,
        default: "",
        doc: "listener addresses that expect the PROXY header from listen.proxy_from; empty: every listener",
    },
    KeyInfo {
        key: "relay.local_only",
        kind: KeyKind::Bool,
        default: "false",
        doc: "true: deliver to local addresses only, never relay",
    },
    KeyInfo {
        key: "relay.restricted",
        kind: KeyKind::Bool,
        default: "true",
        doc: "false makes an open relay (refused at start unless --allow-open-relay)",
    },
    KeyInfo {
        key: "relay.allow",
        kind: KeyKind::List,
        default: "127.0.0.1 ::1",
        doc: "clients that may relay without AUTH: addresses, octet ranges, CIDR, names, !exceptions; first match wins",
    },
    KeyInfo {
        key: "relay.authenticated",
        kind: KeyKind::Bool,
        default: "true",
        doc: "authenticated users may relay",
    },
    KeyInfo {
        key: "relay.smarthost",
        kind: KeyKind::String,
        default: "",
        doc: "host[:port] (port 25 if omitted) that receives all outbound mail instead of MX lookups",
    },
    KeyInfo {
        key: "relay.smarthost_user",
        kind: KeyKind::String,
        default: "",
        doc: "user name for AUTH (PLAIN or LOGIN, only over TLS) at the smarthost; needs smarthost_password_file",
    },
    KeyInfo {
        key: "relay.smarthost_password_file",
        kind: KeyKind::String,
        default: "",
        doc: "file whose first line is the smarthost password (relative to the config file's directory)",
    },
    KeyInfo {
        key: "auth.mechanisms",
        kind: KeyKind::List,
        default: "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN",
        doc: "SASL mechanisms offered, in this order (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN)",
    },
    KeyInfo {
        key: "auth.plaintext_requires_tls",
        kind: KeyKind::Bool,
        default: "true",
        doc: "PLAIN and LOGIN are offered and accepted only under TLS",
    },
    KeyInfo {
        key: "auth.delay_after",
        kind: KeyKind::Integer,
        default: "3",
        doc: "failed AUTH attempts (per client address, IPv6 by /64, or per user name) before each further failure reply is delayed",
    },
    KeyInfo {
        key: "auth.delay_seconds",
        kind: KeyKind::Duration,
        default: "2",
        doc: "the delay grows by this many seconds with each failure past delay_after (at most 30 s; 5 s for relay.allow and never_ban clients)",
    },
    KeyInfo {
        key: "auth.ban_after",
        kind: KeyKind::Integer,
        default: "10",
        doc: "failed AUTH attempts after which the client gets 421 4.7.0 and its address is refused for ban_seconds",
    },
    KeyInfo {
        key: "auth.ban_seconds",
        kind: KeyKind::Duration,
        default: "900",
        doc: "how long a banned address is refused, in seconds",
    },
    KeyInfo {
        key: "auth.window_seconds",
        kind: KeyKind::Duration,
        default: "900",
        doc: "failures older than this many seconds no longer count",
    },
    KeyInfo {
        key: "auth.never_ban",
        kind: KeyKind::List,
        default: "",
        doc: "clients never banned or cut off, only delayed (relay.allow notations; relay.allow clients are exempt too)",
    },
    KeyInfo {
        key: "tls.cert",
        kind: KeyKind::String,
        default: "",
        doc: "PEM certificate chain; absent: a self-signed certificate in data_dir",
    },
    KeyInfo {
        key: "tls.key",
        kind: KeyKind::String,
        default: "",
        doc: "PEM private key of tls.cert; absent: read from the tls.cert file (one PEM holding both)",
    },
    KeyInfo {
        key: "tls.outbound",
        kind: KeyKind::String,
        default: "opportunistic",
        doc: "outbound STARTTLS: \"opportunistic\" (used when offered; MX certificates checked only for domains with an MTA-STS policy in enforce mode) or \"require\" (never plaintext; certificates verified)",
    },
    KeyInfo {
        key: "tls.outbound_ca",
        kind: KeyKind::String,
        default: "",
        doc: "PEM CA certificates trusted for outbound TLS besides the WebPKI roots (relative to the config file's directory)",
    },
    KeyInfo {
        key: "limits.message_size",
        kind: KeyKind::Integer,
        default: "26214400",
        doc: "largest message in bytes; advertised with SIZE",
    },
    KeyInfo {
        key: "limits.recipients",
        kind: KeyKind::Integer,
        default: "100",
        doc: "recipients per message",
    },
    KeyInfo {
        key: "limits.max_hops",
        kind: KeyKind::Integer,
        default: "50",
        doc: "Received: headers a message may carry; more is a mail loop, refused at the end of data with 554 5.4.6 (Postfix's hopcount_limit)",
    },
    KeyInfo {
        key: "limits.errors",
        kind: KeyKind::Integer,
        default: "10",
        doc: "error replies before the session is closed with 421",
    },
    KeyInfo {
        key: "limits.command_timeout",
        kind: KeyKind::Duration,
        default: "300",
        doc: "seconds waiting for a command (RFC 5321 §4.5.3.2)",
    },
    KeyInfo {
        key: "limits.data_timeout",
        kind: KeyKind::Duration,
        default: "180",
        doc: "seconds waiting for a data block (RFC 5321 §4.5.3.2)",
    },
    KeyInfo {
        key: "limits.outbound_connections",
        kind: KeyKind::Integer,
        default: "20",
        doc: "outbound SMTP connections open at once, in total",
    },
    KeyInfo {
        key: "limits.outbound_per_destination",
        kind: KeyKind::Integer,
        default: "4",
        doc: "outbound SMTP connections open at once to one destination (MX domain, route or smarthost)",
    },
    KeyInfo {
        key: "limits.connections",
        kind: KeyKind::Integer,
        default: "500",
        doc: "inbound connections open at once, in total; past it new ones get 421 4.7.0",
    },
    KeyInfo {
        key: "limits.connections_reserved",
        kind: KeyKind::Integer,
        default: "10 % of limits.connections",
        doc: "of limits.connections, the slots only relay.allow and auth.never_ban clients may take (by address), so a flood cannot lock the operator out; less than limits.connections",
    },
    KeyInfo {
        key: "limits.connections_per_client",
        kind: KeyKind::Integer,
        default: "20",
        doc: "inbound connections open at once from one client address (IPv6 by /64); relay.allow clients are exempt",
    },
    KeyInfo {
        key: "limits.connection_rate",
        kind: KeyKind::Integer,
        default: "60",
        doc: "new connections per minute from one client address (IPv6 by /64); relay.allow clients are exempt",
    },
    KeyInfo {
        key: "limits.password_checks",
        kind: KeyKind::Integer,
        default: "0",
        doc: "Argon2 password checks (PLAIN, LOGIN; 19 MiB each) running at once; 0: one per CPU core",
    },
    KeyInfo {
        key: "limits.password_checks_waiting",
        kind: KeyKind::Integer,
        default: "64",
        doc: "password checks waiting for a turn; past that, or after 10 s of waiting, AUTH gets 454 4.7.0",
    },
    KeyInfo {
        key: "limits.commands_before_mail",
        kind: KeyKind::Integer,
        default: "50",
        doc: "commands a session may send outside a mail transaction before 421 4.7.0",
    },
    KeyInfo {
        key: "limits.session_time",
        kind: KeyKind::Duration,
        default: "1800",
        doc: "seconds a session may last in all before 421 4.4.2",
    },
    KeyInfo {
        key: "limits.greeting_delay_ms",
        kind: KeyKind::Duration,
        default: "0",
        doc: "milliseconds to wait before the greeting; a client talking before it gets 554 5.5.1 (0: only check)",
    },
    KeyInfo {
        key: "smtp.bare_lf",
        kind: KeyKind::String,
        default: "normalize",
        doc: "a bare LF: \"normalize\" (store as CRLF) or \"reject\" (550 5.6.11)",
    },
    KeyInfo {
        key: "inbound.checks",
        kind: KeyKind::Bool,
        default: "true",
        doc: "check SPF, DKIM and DMARC of mail from outside and add an Authentication-Results header",
    },
    KeyInfo {
        key: "inbound.dmarc_reject",
        kind: KeyKind::Bool,
        default: "false",
        doc: "refuse (550 5.7.1) mail failing DMARC from a domain that publishes p=reject",
    },
    KeyInfo {
        key: "dns.nameservers",
        kind: KeyKind::List,
        default: "",
        doc: "resolvers as IP or IP:port (port 53 if omitted); empty: the system resolver",
    },
    KeyInfo {
        key: "dns.timeout_ms",
        kind: KeyKind::Duration,
        default: "5000",
        doc: "per-query DNS timeout in milliseconds",
    },
    KeyInfo {
        key: "log.file",
        kind: KeyKind::String,
        default: "",
        doc: "log file (relative to the config file's directory); absent: stderr",
    },
    KeyInfo {
        key: "log.format",
        kind: KeyKind::String,
        default: "text",
        doc: "\"text\" or \"json\"",
    },
    KeyInfo {
        key: "log.level",
        kind: KeyKind::String,
        default: "info",
        doc: "a tracing filter such as \"info\" or \"portcullis=debug\"",
    },
    KeyInfo {
        key: "delivery.maildir",
        kind: KeyKind::String,
        default: "",
        doc: "Maildir path template containing {user}; absent: <data_dir>/mail/{user}",
    },
    KeyInfo {
        key: "delivery.lmtp",
        kind: KeyKind::String,
        default: "",
        doc: "\"HOST:PORT\" or \"unix:/path\" of an LMTP server (RFC 2033) that gets local mail, queued first; absent: Maildir",
    },
    KeyInfo {
        key: "queue.lifetime",
        kind: KeyKind::Duration,
        default: "432000",
        doc: "seconds a message is retried before it is bounced (RFC 5321 §4.5.4.1: 4-5 days)",
    },
    KeyInfo {
        key: "queue.retry_min",
        kind: KeyKind::Duration,
        default: "60",
        doc: "seconds before the first retry; the wait doubles after each failure",
    },
    KeyInfo {
        key: "queue.retry_max",
        kind: KeyKind::Duration,
        default: "3600",
        doc: "longest wait between two attempts, in seconds (at least queue.retry_min)",
    },
    KeyInfo {
        key: "queue.delay_warning",
        kind: KeyKind::Duration,
        default: "14400",
        doc: "seconds after which the sender is told delivery is delayed; 0: never",
    },
    KeyInfo {
        key: "queue.mx_port",
        kind: KeyKind::Integer,
        default: "25",
        doc: "TCP port of MX hosts: a testing knob, leave it at 25",
    },
    KeyInfo {
        key: "queue.mta_sts_port",
        kind: KeyKind::Integer,
        default: "443",
        doc: "HTTPS port of MTA-STS policy hosts (RFC 8461): a testing knob, leave it at 443",
    },
    KeyInfo {
        key: "admin.listen",
        kind: KeyKind::List,
        default: "127.0.0.1:2580",
        doc: "IP:port list serving the HTTPS admin console and JSON API (/api/v1/) with the server's certificate; empty: off",
    },
    KeyInfo {
        key: "metrics.listen",
        kind: KeyKind::String,
        default: "",
        doc: "IP:port serving Prometheus metrics at GET /metrics; absent: off",
    },
    KeyInfo {
        key: "dovecot.passwd_file",
        kind: KeyKind::String,
        default: "",
        doc: "Dovecot passwd-file rewritten by `portcullis user` on every change; absent: not written",
    },
    KeyInfo {
        key: "directory.backend",
        kind: KeyKind::String,
        default: "files",
        doc: "where the site (local domains, users, aliases, relay policy, routes) comes from: \"files\" (the users file and this file's sections) or \"postgres\" (the database directory.url_file names, shared by every node)",
    },
    KeyInfo {
        key: "directory.url_file",
        kind: KeyKind::String,
        default: "",
        doc: "file holding a database backend's connection URL (postgres://user:password@host/db, with libpq's sslmode and sslrootcert), so its password stays out of this file (relative to the config file's directory)",
    },
    KeyInfo {
        key: "directory.max_stale",
        kind: KeyKind::Duration,
        default: "120",
        doc: "seconds a node serves a snapshot its directory has not confirmed; past that relay gets 451 4.3.0 and AUTH 454 4.7.0",
    },
    KeyInfo {
        key: "directory.node_name",
        kind: KeyKind::String,
        default: "",
        doc: "the name this node reports in `directory status`; absent: its hostname (nodes sharing a hostname, e.g. on one machine, each need their own)",
    },
    KeyInfo {
        key: "aliases.<name>",
        kind: KeyKind::List,
        default: "",
        doc: "a local name and its targets (local names or full addresses)",
    },
    KeyInfo {
        key: "routes.<domain>",
        kind: KeyKind::String,
        default: "",
        doc: "host[:port] that receives mail for the domain instead of its MX",
    },
];

/// The `[section]` names of the file.
pub const SECTIONS: &[&str] = &[
    "listen",
    "relay",
    "auth",
    "tls",
    "limits",
    "smtp",
    "inbound",
    "dns",
    "log",
    "delivery",
    "queue",
    "admin",
    "metrics",
    "dovecot",
    "directory",
    ALIASES,
    ROUTES,
];

/// The registry entry of a dotted key. `aliases.<anything>` and
/// `routes.<anything>` resolve to their table entry; a bare `aliases` or
/// `routes` does not (it names a table, not a key).
pub fn lookup(key: &str) -> Option<&'static KeyInfo> {
    if let Some((section, rest)) = key.split_once('.') {
        if (section == ALIASES || section == ROUTES) && !rest.is_empty() {
            return KEYS
                .iter()
                .find(|k| k.is_table_entry() && k.section() == Some(section));
        }
    }
    KEYS.iter().find(|k| !k.is_table_entry() && k.key == key)
}

/// The known key closest to a mistyped one, if it is close enough to be a
/// plausible typo (`relay.alow` → `relay.allow`).
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let wanted = unknown.to_ascii_lowercase();
    let candidates = KEYS
        .iter()
        .filter(|k| !k.is_table_entry())
        .map(|k| k.key)
        .chain(SECTIONS.iter().copied());
    let (best, distance) = candidates
        .map(|c| (c, edit_distance(&wanted, c)))
        .min_by_key(|&(_, d)| d)?;
    // About one typo per four characters: "foo" must not become "log".
    let allowed = wanted.chars().count().div_ceil(4).max(1);
    (distance <= allowed).then_some(best)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and transpositions of adjacent characters each cost one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}
