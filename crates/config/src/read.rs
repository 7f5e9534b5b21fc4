//! `portcullis config read`: the configuration as `key: value` lines, list
//! values separated by single spaces (like `niutil -read` in the seed).

use super::error::{ConfigError, DidYouMean};
use super::keys::{self, ALIASES, ROUTES};
use super::{BareLf, Config, LogFormat, TlsOutbound};

/// The file name used in messages by the functions that get text without a path.
pub const FILE_NAME: &str = "portcullis.toml";

/// Every key with its effective value, defaults included, in registry order;
/// then one `aliases.<name>` and one `routes.<domain>` line per entry. Lists
/// are space separated; an unset optional key has an empty value.
pub fn read_effective(cfg: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for info in keys::KEYS.iter().filter(|k| !k.is_table_entry()) {
        out.push((info.key.to_string(), effective_value(cfg, info.key)));
    }
    for (name, targets) in &cfg.aliases {
        out.push((format!("{ALIASES}.{name}"), targets.join(" ")));
    }
    for (domain, hop) in &cfg.routes {
        out.push((format!("{ROUTES}.{domain}"), hop.clone()));
    }
    out
}

/// Only the keys whose effective value differs from its default (for
/// `config read --changed`), in registry order, rendered as
/// [`read_effective`] renders them. The defaults are those of a file
/// naming the same host name (the default `local_domains` follows it),
/// except for `hostname` itself.
pub fn changed_from_default(cfg: &Config) -> Vec<(String, String)> {
    let mut defaults = Config::defaults(&cfg.path);
    let system_hostname = defaults.hostname.clone();
    if cfg.hostname != defaults.hostname {
        defaults.hostname = cfg.hostname.clone();
        defaults.local_domains = super::default_list("local_domains", &cfg.hostname);
    }
    let before = read_effective(&defaults);
    read_effective(cfg)
        .into_iter()
        .filter(|(k, v)| {
            if k == "hostname" {
                return *v != system_hostname;
            }
            before.iter().find(|(dk, _)| dk == k).map(|(_, dv)| dv) != Some(v)
        })
        .collect()
}

/// [`changed_from_default`] of `text` (messages name `portcullis.toml`).
pub fn read_changed(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let cfg = Config::from_str(text, std::path::Path::new(FILE_NAME))?;
    Ok(changed_from_default(&cfg))
}

/// The lines of `lines` that `key` selects: the key itself, every key of a
/// section (`relay`, `aliases`), or an error naming an unknown key.
pub fn select(
    lines: Vec<(String, String)>,
    key: &str,
) -> Result<Vec<(String, String)>, UnknownKey> {
    let is_section = keys::SECTIONS.contains(&key);
    if !is_section && keys::lookup(key).is_none() {
        return Err(UnknownKey {
            key: key.to_string(),
            suggestion: keys::suggest(key).map(str::to_string),
        });
    }
    let prefix = format!("{key}.");
    let wanted = |k: &str| {
        if is_section {
            k.starts_with(&prefix)
        } else {
            k == key
        }
    };
    Ok(lines.into_iter().filter(|(k, _)| wanted(k)).collect())
}

/// One output line: `key: value`, or `key:` when the value is empty.
pub fn format_line(key: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{key}:")
    } else {
        format!("{key}: {value}")
    }
}

/// A key that is not in the registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown key \"{key}\"{}", DidYouMean(suggestion.as_deref()))]
pub struct UnknownKey {
    /// The key as given.
    pub key: String,
    /// The closest known key, if it looks like a typo of one.
    pub suggestion: Option<String>,
}

/// The effective value of a registry key, rendered for `config read`.
fn effective_value(cfg: &Config, key: &str) -> String {
    fn join<T: ToString>(items: &[T]) -> String {
        items.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
    }
    fn opt<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }
    match key {
        "hostname" => cfg.hostname.clone(),
        "data_dir" => cfg.data_dir.display().to_string(),
        "user" => cfg.user.clone().unwrap_or_default(),
        "local_domains" => join(&cfg.local_domains),
        "listen.smtp" => join(&cfg.listen.smtp),
        "listen.submission" => join(&cfg.listen.submission),
        "listen.submissions" => join(&cfg.listen.submissions),
        "listen.proxy_from" => join(&cfg.listen.proxy_from),
        "listen.proxied" => join(&cfg.listen.proxied),
        "relay.local_only" => cfg.relay.local_only.to_string(),
        "relay.restricted" => cfg.relay.restricted.to_string(),
        "relay.allow" => join(&cfg.relay.allow),
        "relay.authenticated" => cfg.relay.authenticated.to_string(),
        "relay.smarthost" => opt(cfg.relay.smarthost.as_deref()),
        "relay.smarthost_user" => opt(cfg.relay.smarthost_user.as_deref()),
        "relay.smarthost_password_file" => opt(cfg
            .relay
            .smarthost_password_file
            .as_ref()
            .map(|p| p.display())),
        "auth.mechanisms" => join(&cfg.auth.mechanisms),
        "auth.plaintext_requires_tls" => cfg.auth.plaintext_requires_tls.to_string(),
        "auth.delay_after" => cfg.auth.delay_after.to_string(),
        "auth.delay_seconds" => cfg.auth.delay_seconds.to_string(),
        "auth.ban_after" => cfg.auth.ban_after.to_string(),
        "auth.ban_seconds" => cfg.auth.ban_seconds.to_string(),
        "auth.window_seconds" => cfg.auth.window_seconds.to_string(),
        "auth.never_ban" => join(&cfg.auth.never_ban),
        "tls.cert" => opt(cfg.tls.cert.as_ref().map(|p| p.display())),
        "tls.key" => opt(cfg.tls.key.as_ref().map(|p| p.display())),
        "tls.outbound" => match cfg.tls.outbound {
            TlsOutbound::Opportunistic => "opportunistic".to_string(),
            TlsOutbound::Require => "require".to_string(),
        },
        "tls.outbound_ca" => opt(cfg.tls.outbound_ca.as_ref().map(|p| p.display())),
        "limits.message_size" => cfg.limits.message_size.to_string(),
        "limits.recipients" => cfg.limits.recipients.to_string(),
        "limits.max_hops" => cfg.limits.max_hops.to_string(),
        "limits.errors" => cfg.limits.errors.to_string(),
        "limits.command_timeout" => cfg.limits.command_timeout.to_string(),
        "limits.data_timeout" => cfg.limits.data_timeout.to_string(),
        "limits.connections" => cfg.limits.connections.to_string(),
        "limits.connections_reserved" => cfg.limits.connections_reserved.to_string(),
        "limits.password_checks" => cfg.limits.password_checks.to_string(),
        "limits.password_checks_waiting" => cfg.limits.password_checks_waiting.to_string(),
        "limits.connections_per_client" => cfg.limits.connections_per_client.to_string(),
        "limits.connection_rate" => cfg.limits.connection_rate.to_string(),
        "limits.commands_before_mail" => cfg.limits.commands_before_mail.to_string(),
        "limits.session_time" => cfg.limits.session_time.to_string(),
        "limits.greeting_delay_ms" => cfg.limits.greeting_delay_ms.to_string(),
        "limits.outbound_connections" => cfg.limits.outbound_connections.to_string(),
        "limits.outbound_per_destination" => cfg.limits.outbound_per_destination.to_string(),
        "smtp.bare_lf" => match cfg.smtp.bare_lf {
            BareLf::Normalize => "normalize".to_string(),
            BareLf::Reject => "reject".to_string(),
        },
        "inbound.checks" => cfg.inbound.checks.to_string(),
        "inbound.dmarc_reject" => cfg.inbound.dmarc_reject.to_string(),
        "dns.nameservers" => join(&cfg.dns.nameservers),
        "dns.timeout_ms" => cfg.dns.timeout_ms.to_string(),
        "log.file" => opt(cfg.log.file.as_ref().map(|p| p.display())),
        "log.format" => match cfg.log.format {
            LogFormat::Text => "text".to_string(),
            LogFormat::Json => "json".to_string(),
        },
        "log.level" => cfg.log.level.clone(),
        "delivery.maildir" => opt(cfg.delivery.maildir.as_deref()),
        "delivery.lmtp" => opt(cfg.delivery.lmtp.as_ref()),
        "queue.lifetime" => cfg.queue.lifetime.to_string(),
        "queue.retry_min" => cfg.queue.retry_min.to_string(),
        "queue.retry_max" => cfg.queue.retry_max.to_string(),
        "queue.delay_warning" => cfg.queue.delay_warning.to_string(),
        "queue.mx_port" => cfg.queue.mx_port.to_string(),
        "queue.mta_sts_port" => cfg.queue.mta_sts_port.to_string(),
        "admin.listen" => join(&cfg.admin.listen),
        "metrics.listen" => opt(cfg.metrics.listen),
        "dovecot.passwd_file" => opt(cfg.dovecot.passwd_file.as_ref().map(|p| p.display())),
        "directory.backend" => cfg.directory.backend.name().to_string(),
        "directory.url_file" => opt(cfg.directory.url_file.as_ref().map(|p| p.display())),
        "directory.max_stale" => cfg.directory.max_stale.to_string(),
        "directory.node_name" => cfg
            .directory
            .node_name
            .clone()
            .unwrap_or(cfg.hostname.clone()),
        // Invariant: the registry and this match list the same keys; the
        // test `read_effective_lists_every_registry_key` keeps them in step.
        other => unreachable!("registry key {other} has no effective value"),
    }
}
