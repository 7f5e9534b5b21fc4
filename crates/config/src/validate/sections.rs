//! The smaller sections: `[tls]`, `[smtp]`, `[inbound]`, `[dns]`, `[log]`,
//! `[delivery]`, `[aliases]`, `[routes]`, `[admin]`, `[metrics]`, `[dovecot]` and
//! `[directory]`.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::defaults::{self, default_list};
use super::super::error::{quote, ConfigError};
use super::super::raw::{
    OneOrMany, RawAdmin, RawDelivery, RawDirectory, RawDns, RawDovecot, RawInbound, RawLog,
    RawMetrics, RawSmtp, RawTls,
};
use super::super::values::{
    parse_alias_name, parse_alias_target, parse_domain, parse_host_port, parse_listen,
    parse_log_level, parse_nameserver, resolve_path,
};
use super::super::{
    Admin, BareLf, Delivery, DirectoryBackend, DirectorySettings, Dns, Dovecot, Inbound, Lmtp, Log,
    LogFormat, Metrics, Smtp, Tls, TlsOutbound,
};
use super::Ctx;

/// Longest accepted DNS query timeout (ten minutes): a deadline further away
/// is a mistake.
const MAX_DNS_TIMEOUT_MS: u64 = 600_000;

/// `[tls]`: a key needs its certificate; paths are resolved against `path`.
pub(super) fn tls(ctx: &Ctx<'_>, raw: RawTls, path: &Path) -> Result<Tls, ConfigError> {
    if let Some(cert) = &raw.cert {
        ctx.nonempty("tls.cert", cert, "\"/etc/ssl/mail.pem\"")?;
    }
    if let Some(key) = &raw.key {
        ctx.nonempty("tls.key", key, "\"/etc/ssl/mail.key\"")?;
        if raw.cert.is_none() {
            return Err(ctx.incomplete("tls.key", key, "tls.cert"));
        }
    }
    let cert = raw.cert.map(|c| resolve_path(path, &c));
    let outbound = match raw.outbound.as_deref() {
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
    if let Some(ca) = &raw.outbound_ca {
        ctx.nonempty("tls.outbound_ca", ca, "\"/etc/ssl/relay-ca.pem\"")?;
    }
    let outbound_ca = raw.outbound_ca.map(|c| resolve_path(path, &c));
    Ok(Tls {
        // A cert without a key: one PEM file holding both, as many ACME
        // clients write it.
        key: raw
            .key
            .map(|k| resolve_path(path, &k))
            .or_else(|| cert.clone()),
        cert,
        outbound,
        outbound_ca,
    })
}

/// `[smtp]`: how a bare LF in DATA is treated.
pub(super) fn smtp(ctx: &Ctx<'_>, raw: RawSmtp) -> Result<Smtp, ConfigError> {
    let bare_lf = match raw.bare_lf.as_deref() {
        None | Some("normalize") => BareLf::Normalize,
        Some("reject") => BareLf::Reject,
        Some(other) => {
            return Err(ctx.invalid(
                "smtp.bare_lf",
                quote(other),
                "expected \"normalize\" or \"reject\"",
            ))
        }
    };
    Ok(Smtp { bare_lf })
}

/// `[inbound]`: two switches, nothing to refuse.
pub(super) fn inbound(raw: RawInbound) -> Inbound {
    Inbound {
        checks: raw.checks.unwrap_or(true),
        dmarc_reject: raw.dmarc_reject.unwrap_or(false),
    }
}

/// `[dns]`: the name servers and the query timeout.
pub(super) fn dns(ctx: &Ctx<'_>, raw: RawDns) -> Result<Dns, ConfigError> {
    Ok(Dns {
        nameservers: ctx.each(
            "dns.nameservers",
            raw.nameservers.unwrap_or_default(),
            parse_nameserver,
        )?,
        timeout_ms: ctx.positive(
            "dns.timeout_ms",
            raw.timeout_ms,
            defaults::DNS_TIMEOUT_MS,
            MAX_DNS_TIMEOUT_MS,
        )?,
    })
}

/// `[log]`: the file (resolved against `path`), the format and the filter.
pub(super) fn log(ctx: &Ctx<'_>, raw: RawLog, path: &Path) -> Result<Log, ConfigError> {
    if let Some(f) = &raw.file {
        ctx.nonempty("log.file", f, "\"portcullis.log\"")?;
    }
    let level = raw.level.unwrap_or_else(|| defaults::LOG_LEVEL.to_string());
    ctx.nonempty("log.level", &level, "\"info\"")?;
    if level.chars().any(char::is_whitespace) {
        return Err(ctx.invalid(
            "log.level",
            quote(&level),
            "a filter has no spaces (e.g. \"info,portcullis=debug\")",
        ));
    }
    parse_log_level(&level).map_err(|r| ctx.invalid("log.level", quote(&level), r))?;
    Ok(Log {
        file: raw.file.map(|f| resolve_path(path, &f)),
        format: match raw.format.as_deref() {
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
    })
}

/// `[delivery]`: a Maildir path template must name the user; an LMTP
/// server is `HOST:PORT` (no default port: LMTP has none of its own in
/// practice) or `unix:` and a socket path, resolved against `path`.
pub(super) fn delivery(
    ctx: &Ctx<'_>,
    raw: RawDelivery,
    path: &Path,
) -> Result<Delivery, ConfigError> {
    if let Some(m) = &raw.maildir {
        if !m.contains("{user}") {
            return Err(ctx.invalid(
                "delivery.maildir",
                quote(m),
                "the path template must contain {user}",
            ));
        }
    }
    let lmtp = raw
        .lmtp
        .map(|l| parse_lmtp(&l, path).map_err(|r| ctx.invalid("delivery.lmtp", quote(&l), r)))
        .transpose()?;
    Ok(Delivery {
        maildir: raw.maildir,
        lmtp,
    })
}

fn parse_lmtp(value: &str, path: &Path) -> Result<Lmtp, String> {
    const EXPECTED: &str = "expected \"HOST:PORT\" or \"unix:/path/to/socket\"";
    if let Some(socket) = value.strip_prefix("unix:") {
        if socket.trim().is_empty() {
            return Err(format!("the socket path is empty ({EXPECTED})"));
        }
        return Ok(Lmtp::Unix(resolve_path(path, socket)));
    }
    let has_port = value
        .rsplit_once(':')
        .is_some_and(|(host, _)| !host.is_empty() && (!host.contains(':') || host.ends_with(']')));
    if !has_port {
        return Err(format!("the port is missing ({EXPECTED})"));
    }
    parse_host_port(value)
        .map(Lmtp::Tcp)
        .map_err(|r| format!("{r} ({EXPECTED})"))
}

/// `[aliases]`: lower-case names, each defined once with at least one target.
pub(super) fn aliases(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, OneOrMany>,
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

/// `[routes]`: lower-case domains, each routed once to a host and port.
pub(super) fn routes(
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

/// `[admin]`: the console's addresses (loopback when absent; `[]`: off).
pub(super) fn admin(ctx: &Ctx<'_>, raw: RawAdmin, hostname: &str) -> Result<Admin, ConfigError> {
    let listen = raw
        .listen
        .unwrap_or_else(|| default_list("admin.listen", hostname));
    Ok(Admin {
        listen: ctx.each("admin.listen", listen, parse_listen)?,
    })
}

/// `[metrics]`: the optional listen address.
pub(super) fn metrics(ctx: &Ctx<'_>, raw: RawMetrics) -> Result<Metrics, ConfigError> {
    Ok(Metrics {
        listen: raw
            .listen
            .map(|l| parse_listen(&l).map_err(|r| ctx.invalid("metrics.listen", quote(&l), r)))
            .transpose()?,
    })
}

/// `[dovecot]`: the passwd file written for Dovecot, resolved against `path`.
pub(super) fn dovecot(ctx: &Ctx<'_>, raw: RawDovecot, path: &Path) -> Result<Dovecot, ConfigError> {
    if let Some(f) = &raw.passwd_file {
        ctx.nonempty(
            "dovecot.passwd_file",
            f,
            "\"/etc/dovecot/portcullis.passwd\"",
        )?;
    }
    Ok(Dovecot {
        passwd_file: raw.passwd_file.map(|f| resolve_path(path, &f)),
    })
}

/// Longest `directory.max_stale` (a day): a node serving a policy its
/// directory has not confirmed for longer is no longer failing closed.
const MAX_STALE_SECS: u64 = 86_400;

/// `[directory]`: the backend by name, its URL file (resolved against
/// `path`) and how long an unconfirmed snapshot is served.
pub(super) fn directory(
    ctx: &Ctx<'_>,
    raw: RawDirectory,
    path: &Path,
) -> Result<DirectorySettings, ConfigError> {
    let backend = match raw.backend.as_deref() {
        None | Some("files") => DirectoryBackend::Files,
        Some("postgres") => DirectoryBackend::Postgres,
        Some(other) => {
            return Err(ctx.invalid(
                "directory.backend",
                quote(other),
                "not a directory backend (expected \"files\" or \"postgres\")",
            ))
        }
    };
    if let Some(f) = &raw.url_file {
        ctx.nonempty("directory.url_file", f, "\"/etc/portcullis/directory.url\"")?;
    }
    if backend == DirectoryBackend::Postgres && raw.url_file.is_none() {
        return Err(ctx.invalid(
            "directory.backend",
            quote("postgres"),
            "needs directory.url_file, the file holding postgres://user:password@host/db",
        ));
    }
    if let Some(name) = &raw.node_name {
        ctx.nonempty("directory.node_name", name, "\"mx1\"")?;
        if name.chars().any(char::is_control) {
            return Err(ctx.invalid(
                "directory.node_name",
                quote(name),
                "cannot contain control characters",
            ));
        }
    }
    Ok(DirectorySettings {
        node_name: raw.node_name,
        backend,
        url_file: raw.url_file.map(|f| resolve_path(path, &f)),
        max_stale: ctx.positive(
            "directory.max_stale",
            raw.max_stale,
            defaults::DIRECTORY_MAX_STALE,
            MAX_STALE_SECS,
        )?,
    })
}
