//! The one function that turns the raw file into a validated [`Config`]:
//! defaults filled in, notations parsed, relative paths resolved. A value that
//! fails here stops the load with one sentence naming the key and the value.

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_relay::parse_entry;

use super::defaults::{self, default_list, system_hostname};
use super::error::{quote, ConfigError};
use super::raw::RawQueue;
use super::raw::{RawConfig, RawLimits};
use super::values::{
    parse_alias_name, parse_alias_target, parse_domain, parse_host_port, parse_listen,
    parse_log_level, parse_mechanism, parse_nameserver, resolve_path,
};
use super::{
    Auth, BareLf, Config, Delivery, Dns, Dovecot, Inbound, Limits, Listen, Log, LogFormat, Metrics,
    Network, Relay, Smtp, Tls,
};
use super::{Queue, TlsOutbound};

/// Longest accepted session timeout: a deadline further away than a day is a
/// mistake, and huge values would overflow `Instant` arithmetic in the server.
const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Most inbound connections `limits.connections` and
/// `limits.connections_per_client` accept (far beyond any file descriptor limit).
const MAX_INBOUND_CONNECTIONS: u64 = 1_000_000;
/// Most `limits.password_checks` accepts (each may hold 19 MiB).
const MAX_PASSWORD_CHECKS: u64 = 1_024;
/// Most `limits.connection_rate` accepts (per minute).
const MAX_CONNECTION_RATE: u64 = 1_000_000;
/// Longest `limits.greeting_delay_ms` (a minute: RFC 5321 §4.5.3.2 gives
/// clients 5 minutes for the greeting, but delaying every client long is a mistake).
const MAX_GREETING_DELAY_MS: i64 = 60_000;
/// Longest accepted DNS query timeout (ten minutes), for the same reason.
const MAX_DNS_TIMEOUT_MS: u64 = 600_000;
/// Most outbound connections at once (file descriptors are finite).
const MAX_OUTBOUND_CONNECTIONS: u64 = 10_000;
/// Longest accepted queue lifetime and retry interval (100 days): beyond
/// that a message is lost in practice, and the sum must not overflow.
const MAX_QUEUE_SECS: u64 = 100 * 86_400;

/// Largest accepted `auth.delay_after` / `auth.ban_after`.
const MAX_AUTH_FAILURES: u64 = 1_000_000;
/// Largest accepted `auth.delay_seconds`: the delay is capped at 30 s anyway.
const MAX_AUTH_DELAY_SECS: u64 = 30;
/// Largest accepted `auth.ban_seconds` / `auth.window_seconds` (30 days).
const MAX_AUTH_PERIOD_SECS: u64 = 30 * 86_400;

/// A count validated to at most [`MAX_AUTH_FAILURES`], which fits a `u32`.
fn count(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Builds the error for `key = value` with `reason`.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn invalid(
        &self,
        key: &str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            key: key.to_string(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Parses each string of a list, naming the first bad one.
    fn each<T>(
        &self,
        key: &str,
        values: Vec<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        values
            .iter()
            .map(|v| parse(v).map_err(|reason| self.invalid(key, quote(v), reason)))
            .collect()
    }

    /// A limit: a whole number from 1 to `max`.
    fn positive(
        &self,
        key: &str,
        value: Option<i64>,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        if v <= 0 {
            return Err(self.invalid(key, v.to_string(), "must be a positive whole number"));
        }
        let v = v.unsigned_abs();
        if v > max {
            return Err(self.invalid(key, v.to_string(), format!("must be at most {max}")));
        }
        Ok(v)
    }

    fn nonempty(&self, key: &str, value: &str, example: &str) -> Result<(), ConfigError> {
        if value.trim().is_empty() {
            return Err(self.invalid(
                key,
                quote(value),
                format!("cannot be empty (e.g. {example})"),
            ));
        }
        Ok(())
    }
}

/// Validates the raw file read from `path` (named `file` in errors).
pub(crate) fn validate(raw: RawConfig, path: &Path, file: &str) -> Result<Config, ConfigError> {
    let ctx = Ctx { file };

    let hostname = match raw.hostname {
        Some(h) => parse_domain(&h).map_err(|reason| ctx.invalid("hostname", quote(&h), reason))?,
        None => system_hostname(),
    };

    let data_dir = raw
        .data_dir
        .unwrap_or_else(|| defaults::DATA_DIR.to_string());
    ctx.nonempty("data_dir", &data_dir, "\"./portcullis-data\"")?;
    let data_dir = resolve_path(path, &data_dir);
    let user = match raw.user {
        Some(u) => Some(parse_user(&u).map_err(|reason| ctx.invalid("user", quote(&u), reason))?),
        None => None,
    };

    let local_domains = match raw.local_domains {
        Some(list) => dedup(ctx.each("local_domains", list, parse_domain)?),
        None => default_list("local_domains", &hostname),
    };

    let raw_listen = raw.listen.unwrap_or_default();
    let listen_list = |key: &str, v: Option<Vec<String>>| {
        ctx.each(
            key,
            v.unwrap_or_else(|| default_list(key, &hostname)),
            parse_listen,
        )
    };
    let mut listen = Listen {
        smtp: listen_list("listen.smtp", raw_listen.smtp)?,
        submission: listen_list("listen.submission", raw_listen.submission)?,
        submissions: listen_list("listen.submissions", raw_listen.submissions)?,
        proxy_from: Vec::new(),
        proxied: Vec::new(),
    };
    proxy_settings(
        &ctx,
        raw_listen.proxy_from.unwrap_or_default(),
        raw_listen.proxied.unwrap_or_default(),
        &mut listen,
    )?;

    let raw_relay = raw.relay.unwrap_or_default();
    let raw_relay_auth = (
        raw_relay.smarthost_user.clone(),
        raw_relay.smarthost_password_file.clone(),
    );
    let relay = Relay {
        local_only: raw_relay.local_only.unwrap_or(false),
        restricted: raw_relay.restricted.unwrap_or(true),
        // Entries are parsed by the relay module: a bad one is skipped and
        // logged there, never a reason to refuse the whole file (docs/reference.md §4).
        allow: raw_relay
            .allow
            .unwrap_or_else(|| default_list("relay.allow", &hostname)),
        authenticated: raw_relay.authenticated.unwrap_or(true),
        smarthost: raw_relay
            .smarthost
            .map(|s| parse_host_port(&s).map_err(|r| ctx.invalid("relay.smarthost", quote(&s), r)))
            .transpose()?,
        smarthost_user: None,
        smarthost_password_file: None,
    };

    let raw_auth = raw.auth.unwrap_or_default();
    let relay = smarthost_auth(&ctx, relay, &raw_relay_auth, path)?;
    let auth = Auth {
        mechanisms: match raw_auth.mechanisms {
            Some(list) => dedup(
                ctx.each("auth.mechanisms", list, parse_mechanism)?
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            ),
            None => default_list("auth.mechanisms", &hostname),
        },
        // Why the default is true: PLAIN and LOGIN send the password itself.
        plaintext_requires_tls: raw_auth.plaintext_requires_tls.unwrap_or(true),
        delay_after: count(ctx.positive(
            "auth.delay_after",
            raw_auth.delay_after,
            defaults::AUTH_DELAY_AFTER,
            MAX_AUTH_FAILURES,
        )?),
        delay_seconds: ctx.positive(
            "auth.delay_seconds",
            raw_auth.delay_seconds,
            defaults::AUTH_DELAY_SECONDS,
            MAX_AUTH_DELAY_SECS,
        )?,
        ban_after: count(ctx.positive(
            "auth.ban_after",
            raw_auth.ban_after,
            defaults::AUTH_BAN_AFTER,
            MAX_AUTH_FAILURES,
        )?),
        ban_seconds: ctx.positive(
            "auth.ban_seconds",
            raw_auth.ban_seconds,
            defaults::AUTH_BAN_SECONDS,
            MAX_AUTH_PERIOD_SECS,
        )?,
        window_seconds: ctx.positive(
            "auth.window_seconds",
            raw_auth.window_seconds,
            defaults::AUTH_WINDOW_SECONDS,
            MAX_AUTH_PERIOD_SECS,
        )?,
        // Why strict here, unlike relay.allow: a mistyped exemption would
        // silently let the operator's own address be banned, so the file is
        // refused with the entry named instead.
        never_ban: ctx.each(
            "auth.never_ban",
            raw_auth.never_ban.unwrap_or_default(),
            |v| {
                parse_entry(v)
                    .map(|entry| entry.raw)
                    .map_err(|e| e.kind.to_string())
            },
        )?,
    };

    let raw_tls = raw.tls.unwrap_or_default();
    if let Some(cert) = &raw_tls.cert {
        ctx.nonempty("tls.cert", cert, "\"/etc/ssl/mail.pem\"")?;
    }
    if let Some(key) = &raw_tls.key {
        ctx.nonempty("tls.key", key, "\"/etc/ssl/mail.key\"")?;
        if raw_tls.cert.is_none() {
            return Err(ConfigError::Incomplete {
                file: file.to_string(),
                key: "tls.key".to_string(),
                value: quote(key),
                needs: "tls.cert".to_string(),
            });
        }
    }
    let cert = raw_tls.cert.map(|c| resolve_path(path, &c));
    let outbound = match raw_tls.outbound.as_deref() {
        None | Some("opportunistic") => TlsOutbound::Opportunistic,
        Some("require") => TlsOutbound::Require,
        Some(other) => {
            return Err(ctx.invalid(
                "tls.outbound",
                quote(other),
                "expected \"opportunistic\" or \"require\"",
            ))
        }
    };
    if let Some(ca) = &raw_tls.outbound_ca {
        ctx.nonempty("tls.outbound_ca", ca, "\"/etc/ssl/relay-ca.pem\"")?;
    }
    let outbound_ca = raw_tls.outbound_ca.map(|c| resolve_path(path, &c));
    let tls = Tls {
        // A cert without a key: one PEM file holding both, as many ACME
        // clients write it.
        key: raw_tls
            .key
            .map(|k| resolve_path(path, &k))
            .or_else(|| cert.clone()),
        cert,
        outbound,
        outbound_ca,
    };

    let limits = limits(&ctx, raw.limits.unwrap_or_default())?;

    let smtp = Smtp {
        bare_lf: match raw.smtp.and_then(|s| s.bare_lf).as_deref() {
            None | Some("normalize") => BareLf::Normalize,
            Some("reject") => BareLf::Reject,
            Some(other) => {
                return Err(ctx.invalid(
                    "smtp.bare_lf",
                    quote(other),
                    "expected \"normalize\" or \"reject\"",
                ))
            }
        },
    };

    let raw_inbound = raw.inbound.unwrap_or_default();
    let inbound = Inbound {
        checks: raw_inbound.checks.unwrap_or(true),
        dmarc_reject: raw_inbound.dmarc_reject.unwrap_or(false),
    };

    let raw_dns = raw.dns.unwrap_or_default();
    let dns = Dns {
        nameservers: ctx.each(
            "dns.nameservers",
            raw_dns.nameservers.unwrap_or_default(),
            parse_nameserver,
        )?,
        timeout_ms: ctx.positive(
            "dns.timeout_ms",
            raw_dns.timeout_ms,
            defaults::DNS_TIMEOUT_MS,
            MAX_DNS_TIMEOUT_MS,
        )?,
    };

    let raw_log = raw.log.unwrap_or_default();
    if let Some(f) = &raw_log.file {
        ctx.nonempty("log.file", f, "\"portcullis.log\"")?;
    }
    let level = raw_log
        .level
        .unwrap_or_else(|| defaults::LOG_LEVEL.to_string());
    ctx.nonempty("log.level", &level, "\"info\"")?;
    if level.chars().any(char::is_whitespace) {
        return Err(ctx.invalid(
            "log.level",
            quote(&level),
            "a filter has no spaces (e.g. \"info,portcullis=debug\")",
        ));
    }
    parse_log_level(&level).map_err(|r| ctx.invalid("log.level", quote(&level), r))?;
    let log = Log {
        file: raw_log.file.map(|f| resolve_path(path, &f)),
        format: match raw_log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ctx.invalid(
                    "log.format",
                    quote(other),
                    "expected \"text\" or \"json\"",
                ))
            }
        },
        level,
    };

    let maildir = raw.delivery.and_then(|d| d.maildir);
    if let Some(m) = &maildir {
        if !m.contains("{user}") {
            return Err(ctx.invalid(
                "delivery.maildir",
                quote(m),
                "the path template must contain {user}",
            ));
        }
    }
    let delivery = Delivery { maildir };
    let queue = queue(&ctx, raw.queue.unwrap_or_default())?;

    let aliases = aliases(&ctx, raw.aliases.unwrap_or_default())?;
    let routes = routes(&ctx, raw.routes.unwrap_or_default())?;

    let metrics = Metrics {
        listen: raw
            .metrics
            .and_then(|m| m.listen)
            .map(|l| parse_listen(&l).map_err(|r| ctx.invalid("metrics.listen", quote(&l), r)))
            .transpose()?,
    };
    let passwd_file = raw.dovecot.and_then(|d| d.passwd_file);
    if let Some(f) = &passwd_file {
        ctx.nonempty(
            "dovecot.passwd_file",
            f,
            "\"/etc/dovecot/portcullis.passwd\"",
        )?;
    }
    let dovecot = Dovecot {
        passwd_file: passwd_file.map(|f| resolve_path(path, &f)),
    };

    Ok(Config {
        path: path.to_path_buf(),
        hostname,
        data_dir,
        user,
        local_domains,
        listen,
        relay,
        auth,
        tls,
        limits,
        smtp,
        inbound,
        dns,
        log,
        delivery,
        aliases,
        queue,
        routes,
        metrics,
        dovecot,
    })
}

/// `listen.proxy_from` and `listen.proxied`: the load balancers' addresses,
/// and the listeners (already parsed into `listen`) that expect the header.
fn proxy_settings(
    ctx: &Ctx<'_>,
    from: Vec<String>,
    proxied: Vec<String>,
    listen: &mut Listen,
) -> Result<(), ConfigError> {
    listen.proxy_from = ctx.each("listen.proxy_from", from, Network::parse)?;
    listen.proxied = ctx.each("listen.proxied", proxied.clone(), parse_listen)?;
    for (addr, raw) in listen.proxied.iter().zip(&proxied) {
        let bound = listen
            .smtp
            .iter()
            .chain(&listen.submission)
            .chain(&listen.submissions);
        if !bound.clone().any(|l| l == addr) {
            return Err(ctx.invalid(
                "listen.proxied",
                quote(raw),
                "is not one of the listen.smtp, listen.submission or listen.submissions addresses",
            ));
        }
    }
    // Why refuse: a proxied listener without trusted proxies would refuse
    // every connection, and the admin would only see it in the logs.
    if listen.proxy_from.is_empty() {
        if let Some(first) = proxied.first() {
            return Err(ctx.invalid(
                "listen.proxied",
                quote(first),
                "needs listen.proxy_from (the load balancers allowed to send the PROXY header)",
            ));
        }
    }
    Ok(())
}

fn limits(ctx: &Ctx<'_>, raw: RawLimits) -> Result<Limits, ConfigError> {
    let usize_max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
    let connections = usize::try_from(ctx.positive(
        "limits.connections",
        raw.connections,
        defaults::CONNECTIONS,
        MAX_INBOUND_CONNECTIONS,
    )?)
    .unwrap_or(usize::MAX);
    let connections_reserved = reserved_connections(ctx, raw.connections_reserved, connections)?;
    let password_checks = whole(
        ctx,
        "limits.password_checks",
        raw.password_checks,
        0,
        MAX_PASSWORD_CHECKS,
    )?;
    let password_checks_waiting = whole(
        ctx,
        "limits.password_checks_waiting",
        raw.password_checks_waiting,
        defaults::PASSWORD_CHECKS_WAITING,
        MAX_INBOUND_CONNECTIONS,
    )?;
    Ok(Limits {
        connections,
        connections_reserved,
        password_checks,
        password_checks_waiting,
        message_size: ctx.positive(
            "limits.message_size",
            raw.message_size,
            defaults::MESSAGE_SIZE,
            u64::MAX,
        )?,
        recipients: usize::try_from(ctx.positive(
            "limits.recipients",
            raw.recipients,
            defaults::RECIPIENTS,
            usize_max,
        )?)
        .unwrap_or(usize::MAX),
        max_hops: usize::try_from(ctx.positive(
            "limits.max_hops",
            raw.max_hops,
            defaults::MAX_HOPS,
            usize_max,
        )?)
        .unwrap_or(usize::MAX),
        errors: u32::try_from(ctx.positive(
            "limits.errors",
            raw.errors,
            defaults::ERRORS,
            u64::from(u32::MAX),
        )?)
        .unwrap_or(u32::MAX),
        command_timeout: ctx.positive(
            "limits.command_timeout",
            raw.command_timeout,
            defaults::COMMAND_TIMEOUT,
            MAX_TIMEOUT_SECS,
        )?,
        data_timeout: ctx.positive(
            "limits.data_timeout",
            raw.data_timeout,
            defaults::DATA_TIMEOUT,
            MAX_TIMEOUT_SECS,
        )?,
        outbound_connections: usize::try_from(ctx.positive(
            "limits.outbound_connections",
            raw.outbound_connections,
            defaults::OUTBOUND_CONNECTIONS,
            MAX_OUTBOUND_CONNECTIONS,
        )?)
        .unwrap_or(usize::MAX),
        outbound_per_destination: usize::try_from(ctx.positive(
            "limits.outbound_per_destination",
            raw.outbound_per_destination,
            defaults::OUTBOUND_PER_DESTINATION,
            MAX_OUTBOUND_CONNECTIONS,
        )?)
        .unwrap_or(usize::MAX),
        connections_per_client: usize::try_from(ctx.positive(
            "limits.connections_per_client",
            raw.connections_per_client,
            defaults::CONNECTIONS_PER_CLIENT,
            MAX_INBOUND_CONNECTIONS,
        )?)
        .unwrap_or(usize::MAX),
        connection_rate: u32::try_from(ctx.positive(
            "limits.connection_rate",
            raw.connection_rate,
            defaults::CONNECTION_RATE,
            MAX_CONNECTION_RATE,
        )?)
        .unwrap_or(u32::MAX),
        commands_before_mail: u32::try_from(ctx.positive(
            "limits.commands_before_mail",
            raw.commands_before_mail,
            defaults::COMMANDS_BEFORE_MAIL,
            u64::from(u32::MAX),
        )?)
        .unwrap_or(u32::MAX),
        session_time: ctx.positive(
            "limits.session_time",
            raw.session_time,
            defaults::SESSION_TIME,
            MAX_TIMEOUT_SECS,
        )?,
        greeting_delay_ms: match raw.greeting_delay_ms {
            None => 0,
            Some(v) if (0..=MAX_GREETING_DELAY_MS).contains(&v) => v.unsigned_abs(),
            Some(v) => {
                return Err(ctx.invalid(
                    "limits.greeting_delay_ms",
                    v.to_string(),
                    format!("must be a whole number from 0 to {MAX_GREETING_DELAY_MS}"),
                ))
            }
        },
    })
}

/// `limits.connections_reserved`: 10 % of `connections` when absent; it
/// must leave at least one slot for everyone else.
fn reserved_connections(
    ctx: &Ctx<'_>,
    value: Option<i64>,
    connections: usize,
) -> Result<usize, ConfigError> {
    let key = "limits.connections_reserved";
    let Some(v) = value else {
        let share =
            u64::try_from(connections).unwrap_or(u64::MAX) / defaults::CONNECTIONS_RESERVED_DIVISOR;
        return Ok(usize::try_from(share).unwrap_or(usize::MAX));
    };
    match usize::try_from(v) {
        Ok(n) if n < connections => Ok(n),
        _ => Err(ctx.invalid(
            key,
            v.to_string(),
            format!(
                "must be a whole number from 0 to {} (less than limits.connections)",
                connections - 1
            ),
        )),
    }
}

/// A whole number from 0 to `max` (`default` when absent).
fn whole(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<i64>,
    default: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let v = match value {
        None => default,
        Some(v) => match u64::try_from(v) {
            Ok(n) if n <= max => n,
            _ => {
                return Err(ctx.invalid(
                    key,
                    v.to_string(),
                    format!("must be a whole number from 0 to {max}"),
                ))
            }
        },
    };
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

/// A system account name for `user` (the portable POSIX set, as useradd
/// takes it): lower-case letters, digits, `_` and `-`, not starting with a
/// digit or `-`, at most 32 characters.
fn parse_user(name: &str) -> Result<String, String> {
    let valid_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if name.is_empty() || name.len() > 32 || !valid_first || !valid_rest {
        return Err(
            "is not a user name (lower-case letters, digits, _ and -, e.g. \"portcullis\")".into(),
        );
    }
    Ok(name.to_string())
}

/// `relay.smarthost_user` and `relay.smarthost_password_file`: both or
/// neither, and only with a smarthost.
fn smarthost_auth(
    ctx: &Ctx<'_>,
    mut relay: Relay,
    (user, password_file): &(Option<String>, Option<String>),
    path: &Path,
) -> Result<Relay, ConfigError> {
    let incomplete = |key: &str, value: &str, needs: &str| ConfigError::Incomplete {
        file: ctx.file.to_string(),
        key: key.to_string(),
        value: quote(value),
        needs: needs.to_string(),
    };
    if let Some(u) = user {
        ctx.nonempty("relay.smarthost_user", u, "\"portcullis\"")?;
        if u.chars().any(char::is_control) {
            return Err(ctx.invalid(
                "relay.smarthost_user",
                quote(u),
                "a user name has no control characters",
            ));
        }
        if relay.smarthost.is_none() {
            return Err(incomplete("relay.smarthost_user", u, "relay.smarthost"));
        }
        if password_file.is_none() {
            return Err(incomplete(
                "relay.smarthost_user",
                u,
                "relay.smarthost_password_file",
            ));
        }
    }
    if let Some(f) = password_file {
        ctx.nonempty("relay.smarthost_password_file", f, "\"smarthost.secret\"")?;
        if user.is_none() {
            return Err(incomplete(
                "relay.smarthost_password_file",
                f,
                "relay.smarthost_user",
            ));
        }
    }
    relay.smarthost_user = user.clone();
    relay.smarthost_password_file = password_file.as_deref().map(|f| resolve_path(path, f));
    Ok(relay)
}

/// `[queue]`: positive durations, `retry_max >= retry_min`, a real port.
fn queue(ctx: &Ctx<'_>, raw: RawQueue) -> Result<Queue, ConfigError> {
    let lifetime = ctx.positive(
        "queue.lifetime",
        raw.lifetime,
        defaults::QUEUE_LIFETIME,
        MAX_QUEUE_SECS,
    )?;
    let retry_min = ctx.positive(
        "queue.retry_min",
        raw.retry_min,
        defaults::QUEUE_RETRY_MIN,
        MAX_QUEUE_SECS,
    )?;
    let retry_max = ctx.positive(
        "queue.retry_max",
        raw.retry_max,
        defaults::QUEUE_RETRY_MAX.max(retry_min),
        MAX_QUEUE_SECS,
    )?;
    if retry_max < retry_min {
        return Err(ctx.invalid(
            "queue.retry_max",
            retry_max.to_string(),
            format!("must be at least queue.retry_min ({retry_min})"),
        ));
    }
    let delay_warning = match raw.delay_warning {
        None => defaults::QUEUE_DELAY_WARNING,
        Some(v) if (0..=i64::try_from(MAX_QUEUE_SECS).unwrap_or(i64::MAX)).contains(&v) => {
            v.unsigned_abs()
        }
        Some(v) => {
            return Err(ctx.invalid(
                "queue.delay_warning",
                v.to_string(),
                format!("must be from 0 (never) to {MAX_QUEUE_SECS} seconds"),
            ))
        }
    };
    let mx_port = ctx.positive(
        "queue.mx_port",
        raw.mx_port,
        u64::from(defaults::QUEUE_MX_PORT),
        u64::from(u16::MAX),
    )?;
    let mta_sts_port = ctx.positive(
        "queue.mta_sts_port",
        raw.mta_sts_port,
        u64::from(defaults::QUEUE_MTA_STS_PORT),
        u64::from(u16::MAX),
    )?;
    Ok(Queue {
        lifetime,
        retry_min,
        retry_max,
        delay_warning,
        mx_port: u16::try_from(mx_port).unwrap_or(defaults::QUEUE_MX_PORT),
        mta_sts_port: u16::try_from(mta_sts_port).unwrap_or(defaults::QUEUE_MTA_STS_PORT),
    })
}

fn aliases(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, super::raw::OneOrMany>,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, targets) in raw {
        let key = format!("aliases.{name}");
        let lower = parse_alias_name(&name).map_err(|r| ctx.invalid(&key, quote(&name), r))?;
        let targets = targets.into_vec();
        if targets.is_empty() {
            return Err(ctx.invalid(&key, "[]", "an alias needs at least one target"));
        }
        let targets = ctx.each(&key, targets, parse_alias_target)?;
        if out.insert(lower.clone(), targets).is_some() {
            return Err(ctx.invalid(
                &key,
                quote(&name),
                format!("alias \"{lower}\" is defined twice (names are case-insensitive)"),
            ));
        }
    }
    Ok(out)
}

fn routes(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (domain, hop) in raw {
        let key = format!("routes.{domain}");
        let lower = parse_domain(&domain).map_err(|r| ctx.invalid(&key, quote(&domain), r))?;
        let hop = parse_host_port(&hop).map_err(|r| ctx.invalid(&key, quote(&hop), r))?;
        if out.insert(lower.clone(), hop).is_some() {
            return Err(ctx.invalid(
                &key,
                quote(&domain),
                format!("route for \"{lower}\" is defined twice (domains are case-insensitive)"),
            ));
        }
    }
    Ok(out)
}

/// Keeps the first of each value, in order.
fn dedup<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
