//! The site a node serves: the directory's [`Site`] (local domains, users,
//! aliases, relay policy, routes) compiled once into an immutable
//! [`SiteSnapshot`] that every RCPT, AUTH and delivery reads. Nothing is
//! asked of the directory per connection or per message: a new version of
//! the directory is loaded whole, compiled here and swapped in, exactly as a
//! reload does, with the same relay-list report in the log.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_config::Config;
use portcullis_directory::{Site, Version};
use portcullis_relay::{
    Detail, ListMatch, LoadReport, NameResolution, RelayList, RelayPolicy, ReverseDns,
};
use tracing::{debug, info, warn, Level};

use crate::dns::Dns;
use crate::load_notes::Rejected;

/// The site in force, compiled.
pub struct SiteSnapshot {
    /// What the directory gave.
    pub site: Site,
    /// `site.relay`, compiled (names resolved).
    pub policy: Arc<RelayPolicy>,
    /// The directory's version this was loaded at.
    pub version: Version,
}

/// What compiling a site found besides refusing it.
pub(crate) struct SiteNotes {
    /// The relay-list report.
    pub relay: LoadReport,
    /// Other warnings, one sentence each (already logged).
    pub warnings: Vec<String>,
}

/// The site as loaded, with whatever stood in the way of reading all of it.
pub struct Loaded {
    /// The site.
    pub site: Site,
    /// Its version.
    pub version: Version,
    /// Why the users could not be read (the site then holds none, and
    /// alias targets are not checked against them): for `config check`,
    /// which judges a file even when the users file is broken.
    pub users_unreadable: Option<String>,
}

/// Compiles `loaded` for the node configured by `config`: resolves and
/// compiles the relay list (`previous` supplies the last addresses of names
/// whose lookup fails temporarily), refuses an open relay unless
/// `allow_open_relay`, and warns of alias targets leading nowhere and of a
/// load balancer in the relay list. Logs the relay-list report, of `detail`
/// (see [`report_detail`]).
pub(crate) async fn compile(
    loaded: Loaded,
    config: &Config,
    dns: &Dns,
    previous: Option<&SiteSnapshot>,
    allow_open_relay: bool,
    detail: Detail,
) -> Result<(SiteSnapshot, SiteNotes), Rejected> {
    let site = loaded.site;
    let relay = &site.relay;
    let previous_list = previous.map(|p| p.policy.list.as_ref());
    let (list, report) = compile_relay_list(&relay.allow, dns, previous_list, detail).await;
    log_report(&report);
    let mut warnings = proxy_in_allow_list(&config.listen, &list);
    // Never an open relay by accident (docs/reference.md §3, §4).
    if !allow_open_relay {
        if !relay.restricted {
            return Err(Rejected(
                "relay.restricted = false makes an open relay; refusing without --allow-open-relay"
                    .into(),
            ));
        }
        if report.open_relay {
            return Err(Rejected(format!(
                "relay.allow makes an open relay ({}); refusing without --allow-open-relay",
                report.open_relay_reasons().join("; ")
            )));
        }
    } else if !relay.restricted || report.open_relay {
        let w = "OPEN RELAY: this server relays mail for anyone (--allow-open-relay)";
        warn!("{w}");
        warnings.push(w.to_string());
    }
    let alias_warnings = match loaded.users_unreadable {
        None => portcullis_directory::recipient::alias_warnings(&site, &config.hostname),
        Some(e) => vec![format!(
            "cannot check the alias targets against the users file: {e}"
        )],
    };
    for w in &alias_warnings {
        warn!("{w}");
    }
    warnings.extend(alias_warnings);
    let policy = RelayPolicy {
        local_only: relay.local_only,
        restricted: relay.restricted,
        authenticated: relay.authenticated,
        list: Arc::new(list),
    };
    Ok((
        SiteSnapshot {
            site,
            policy: Arc::new(policy),
            version: loaded.version,
        },
        SiteNotes {
            relay: report,
            warnings,
        },
    ))
}

/// How much of the relay-list report to make: a line per added entry only
/// when someone reads it (`every_entry`: `config check --verbose`; or the
/// log shows `relay_list` at debug level). At info, a million-entry list
/// logs its problems and a summary, not a million lines.
pub(crate) fn report_detail(every_entry: bool) -> Detail {
    if every_entry || tracing::enabled!(target: "relay_list", Level::DEBUG) {
        Detail::EveryEntry
    } else {
        Detail::Problems
    }
}

/// The site of the configuration `config` alone (its sections, no users):
/// what `config check` judges when the users cannot be read.
pub(crate) fn from_config(config: &Config) -> Site {
    Site {
        local_domains: config.local_domains.clone(),
        users: Default::default(),
        aliases: config.aliases.clone(),
        relay: config.relay.clone(),
        routes: config.routes.clone(),
    }
}

/// The site to keep when a reload cannot read the directory: the one in
/// force, except that the file backend's sections come from the new file
/// (only its users file failed).
pub(crate) fn keep(old: &SiteSnapshot, config: &Config) -> Loaded {
    let site = match config.directory.backend {
        portcullis_config::DirectoryBackend::Files => Site {
            users: old.site.users.clone(),
            ..from_config(config)
        },
        portcullis_config::DirectoryBackend::Postgres => old.site.clone(),
    };
    Loaded {
        site,
        version: old.version,
        users_unreadable: None,
    }
}

/// Resolves every name entry (concurrently), then compiles the list with
/// a report of the given `detail`.
pub(crate) async fn compile_relay_list(
    entries: &[String],
    dns: &Dns,
    previous: Option<&RelayList>,
    detail: Detail,
) -> (RelayList, LoadReport) {
    let mut tasks = tokio::task::JoinSet::new();
    for name in RelayList::names_to_resolve(entries) {
        let dns = dns.clone();
        tasks.spawn(async move {
            let answer = dns.resolve_name(&name).await;
            (name, answer)
        });
    }
    let mut resolved: HashMap<String, NameResolution> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((name, answer)) = joined {
            resolved.insert(name, answer);
        }
    }
    RelayList::compile_with(entries, &resolved, previous, detail)
}

/// Behind a load balancer every client arrives from the balancer's address;
/// if `relay.allow` covers it, any client whose connection the balancer
/// forwards in its own name would relay: an open relay. Warns (logged and
/// returned) for each `listen.proxy_from` entry (its network address) that
/// an allow entry matches.
pub(crate) fn proxy_in_allow_list(
    listen: &portcullis_config::Listen,
    list: &RelayList,
) -> Vec<String> {
    let mut out = Vec::new();
    for net in &listen.proxy_from {
        if let ListMatch::Allow { entry, .. } = list.lookup(net.addr, &ReverseDns::NotChecked) {
            let w = format!(
                "relay.allow entry {entry:?} covers the load balancer {net} of listen.proxy_from: \
                 what it forwards in its own name (PROXY UNKNOWN or LOCAL, or on a listener \
                 that is not proxied) would relay for anyone (open relay); remove the \
                 balancer's address from relay.allow"
            );
            warn!(target: "relay_list", "{w}");
            out.push(w);
        }
    }
    out
}

/// The report: problems as warnings, added entries at debug level (docs/reference.md §4).
fn log_report(report: &LoadReport) {
    for line in &report.lines {
        if line.is_problem() {
            warn!(target: "relay_list", "{line}");
        } else {
            debug!(target: "relay_list", "{line}");
        }
    }
    for warning in report.warnings() {
        warn!(target: "relay_list", "{warning}");
    }
    info!(target: "relay_list", "{}", report.summary());
}

#[cfg(test)]
mod tests;
