//! The file as written: serde structs mirroring `portcullis.toml`, every key
//! optional, unknown keys refused. Numbers stay signed here so that a negative
//! limit reaches validation and gets a sentence of its own.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) hostname: Option<String>,
    pub(crate) data_dir: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) local_domains: Option<Vec<String>>,
    pub(crate) listen: Option<RawListen>,
    pub(crate) relay: Option<RawRelay>,
    pub(crate) auth: Option<RawAuth>,
    pub(crate) tls: Option<RawTls>,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) smtp: Option<RawSmtp>,
    pub(crate) inbound: Option<RawInbound>,
    pub(crate) dns: Option<RawDns>,
    pub(crate) log: Option<RawLog>,
    pub(crate) delivery: Option<RawDelivery>,
    pub(crate) queue: Option<RawQueue>,
    pub(crate) aliases: Option<BTreeMap<String, OneOrMany>>,
    pub(crate) routes: Option<BTreeMap<String, String>>,
    pub(crate) metrics: Option<RawMetrics>,
    pub(crate) admin: Option<RawAdmin>,
    pub(crate) dovecot: Option<RawDovecot>,
    pub(crate) directory: Option<RawDirectory>,
}

impl RawConfig {
    /// Every list of strings the file can hold, for putting back the long
    /// arrays that were read beside the parser.
    pub(crate) fn string_lists_mut(&mut self) -> Vec<&mut Vec<String>> {
        let mut lists: Vec<&mut Option<Vec<String>>> = vec![&mut self.local_domains];
        if let Some(listen) = &mut self.listen {
            lists.extend([
                &mut listen.smtp,
                &mut listen.submission,
                &mut listen.submissions,
                &mut listen.proxy_from,
                &mut listen.proxied,
            ]);
        }
        if let Some(admin) = &mut self.admin {
            lists.push(&mut admin.listen);
        }
        if let Some(relay) = &mut self.relay {
            lists.push(&mut relay.allow);
        }
        if let Some(auth) = &mut self.auth {
            lists.extend([&mut auth.mechanisms, &mut auth.never_ban]);
        }
        if let Some(dns) = &mut self.dns {
            lists.push(&mut dns.nameservers);
        }
        let mut out: Vec<&mut Vec<String>> = lists.into_iter().flatten().collect();
        if let Some(aliases) = &mut self.aliases {
            out.extend(aliases.values_mut().filter_map(|targets| match targets {
                OneOrMany::Many(list) => Some(list),
                OneOrMany::One(_) => None,
            }));
        }
        out
    }
}

/// `[directory]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirectory {
    pub(crate) backend: Option<String>,
    pub(crate) url_file: Option<String>,
    pub(crate) max_stale: Option<i64>,
    pub(crate) node_name: Option<String>,
}

/// `[listen]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListen {
    pub(crate) smtp: Option<Vec<String>>,
    pub(crate) submission: Option<Vec<String>>,
    pub(crate) submissions: Option<Vec<String>>,
    pub(crate) proxy_from: Option<Vec<String>>,
    pub(crate) proxied: Option<Vec<String>>,
}

/// `[admin]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<Vec<String>>,
}

/// `[metrics]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) listen: Option<String>,
}

/// `[dovecot]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDovecot {
    pub(crate) passwd_file: Option<String>,
}

/// `[relay]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelay {
    pub(crate) local_only: Option<bool>,
    pub(crate) restricted: Option<bool>,
    pub(crate) allow: Option<Vec<String>>,
    pub(crate) authenticated: Option<bool>,
    pub(crate) smarthost: Option<String>,
    pub(crate) smarthost_user: Option<String>,
    pub(crate) smarthost_password_file: Option<String>,
}

/// `[auth]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub(crate) mechanisms: Option<Vec<String>>,
    pub(crate) plaintext_requires_tls: Option<bool>,
    pub(crate) delay_after: Option<i64>,
    pub(crate) delay_seconds: Option<i64>,
    pub(crate) ban_after: Option<i64>,
    pub(crate) ban_seconds: Option<i64>,
    pub(crate) window_seconds: Option<i64>,
    pub(crate) never_ban: Option<Vec<String>>,
}

/// `[tls]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) outbound: Option<String>,
    pub(crate) outbound_ca: Option<String>,
}

/// `[limits]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) message_size: Option<i64>,
    pub(crate) recipients: Option<i64>,
    pub(crate) max_hops: Option<i64>,
    pub(crate) errors: Option<i64>,
    pub(crate) command_timeout: Option<i64>,
    pub(crate) data_timeout: Option<i64>,
    pub(crate) connections: Option<i64>,
    pub(crate) connections_reserved: Option<i64>,
    pub(crate) connections_per_client: Option<i64>,
    pub(crate) connection_rate: Option<i64>,
    pub(crate) commands_before_mail: Option<i64>,
    pub(crate) session_time: Option<i64>,
    pub(crate) greeting_delay_ms: Option<i64>,
    pub(crate) password_checks: Option<i64>,
    pub(crate) password_checks_waiting: Option<i64>,
    pub(crate) outbound_connections: Option<i64>,
    pub(crate) outbound_per_destination: Option<i64>,
}

/// `[smtp]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub(crate) bare_lf: Option<String>,
}

/// `[inbound]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInbound {
    pub(crate) checks: Option<bool>,
    pub(crate) dmarc_reject: Option<bool>,
}

/// `[dns]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub(crate) nameservers: Option<Vec<String>>,
    pub(crate) timeout_ms: Option<i64>,
}

/// `[log]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) file: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) level: Option<String>,
}

/// `[delivery]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelivery {
    pub(crate) maildir: Option<String>,
    pub(crate) lmtp: Option<String>,
}

/// `[queue]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub(crate) lifetime: Option<i64>,
    pub(crate) retry_min: Option<i64>,
    pub(crate) retry_max: Option<i64>,
    pub(crate) delay_warning: Option<i64>,
    pub(crate) mx_port: Option<i64>,
    pub(crate) mta_sts_port: Option<i64>,
}

/// An alias target list: `postmaster = "alice"` or `postmaster = ["alice", "bob"]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}
