//! The server's loaded state. A [`Runtime`] is built whole from one
//! configuration (names resolved, relay list compiled, TLS loaded) off to the
//! side, then swapped in atomically: a session keeps the `Arc<Runtime>` it
//! started with, so a reload never changes the rules under its feet (docs/reference.md §5).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use portcullis_config::Config;
use portcullis_directory::recipient::Context;
use portcullis_directory::users::UserDb;
use portcullis_relay::{
    ListMatch, LoadReport, NameResolution, Outcome, RelayList, RelayPolicy, ReverseDns,
};
use tracing::{info, warn};

use super::dns::Dns;
use super::load_notes::LoadNotes;
use portcullis_relay::range::canonical;

/// Everything derived from one configuration.
pub struct Runtime {
    pub config: Arc<Config>,
    pub policy: Arc<RelayPolicy>,
    pub dns: Dns,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The machine's own addresses: an address literal of one is a local domain.
    pub own_addrs: Arc<HashSet<IpAddr>>,
    /// `auth.never_ban`, compiled: clients the AUTH brute-force defence never touches.
    pub never_ban: Arc<RelayList>,
    /// DKIM signing keys from `<data_dir>/dkim/`, read again on every reload.
    pub dkim: Arc<super::dkim::Keys>,
}

/// Why a configuration could not be put in force.
#[derive(Debug)]
pub struct Rejected(pub String);

/// How [`Runtime::build`] runs.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// `serve --allow-open-relay`: an open relay is a warning, not a refusal.
    pub allow_open_relay: bool,
    /// Generate the self-signed certificate when none is configured or
    /// generated yet (a live server); false for a check, which writes nothing.
    pub generate_certificate: bool,
}

impl Runtime {
    /// What recipient decisions read: this runtime's policy with `users`.
    pub fn recipients<'a>(&'a self, users: &'a UserDb) -> Context<'a> {
        Context {
            config: &self.config,
            users,
            policy: &self.policy,
            own_addrs: &self.own_addrs,
        }
    }

    /// Builds a runtime: resolves relay-list names, compiles the list, loads
    /// TLS. Logs the relay-list report and every warning, and returns them.
    /// `previous` supplies the last addresses of names whose lookup fails
    /// temporarily. This is the one place a configuration is judged (see
    /// `check.rs`): every refusal is a sentence in [`Rejected`].
    pub async fn build(
        config: Config,
        previous: Option<&Runtime>,
        options: BuildOptions,
    ) -> Result<(Runtime, LoadNotes), Rejected> {
        super::logging::check(&config.log).map_err(Rejected)?;
        let dns = Dns::new(&config.dns)
            .map_err(|e| Rejected(format!("cannot set up the DNS resolver: {e}")))?;
        let (list, report) = compile_relay_list(
            &config.relay.allow,
            &dns,
            previous.map(|p| p.policy.list.as_ref()),
        )
        .await;
        log_report(&report);
        let mut warnings = proxy_in_allow_list(&config.listen, &list);
        let (never_ban, never_ban_report) = compile_relay_list(
            &config.auth.never_ban,
            &dns,
            previous.map(|p| p.never_ban.as_ref()),
        )
        .await;
        warnings.extend(log_never_ban(&never_ban_report));
        // Never an open relay by accident (docs/reference.md §3, §4).
        if !options.allow_open_relay {
            if !config.relay.restricted {
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
        } else if !config.relay.restricted || report.open_relay {
            let w = "OPEN RELAY: this server relays mail for anyone (--allow-open-relay)";
            warn!("{w}");
            warnings.push(w.to_string());
        }
        let tls = match super::tls::load(&config, options.generate_certificate) {
            Ok(t) => t,
            Err(e) => {
                if config.tls.cert.is_some() {
                    return Err(Rejected(e));
                }
                let w = format!("TLS disabled: {e}");
                warn!("{w}");
                warnings.push(w);
                None
            }
        };
        warnings.extend(alias_warnings(&config));
        let policy = RelayPolicy {
            local_only: config.relay.local_only,
            restricted: config.relay.restricted,
            authenticated: config.relay.authenticated,
            list: Arc::new(list),
        };
        let own_addrs = Arc::new(own_addresses(&config));
        let (dkim, dkim_warnings) = super::dkim::Keys::load(&config.data_dir);
        for w in dkim_warnings {
            warn!("{w}");
            warnings.push(w);
        }
        for key in dkim.all() {
            info!(domain = %key.domain, selector = %key.selector, algorithm = key.algorithm.tag(), "DKIM signing key loaded");
        }
        Ok((
            Runtime {
                config: Arc::new(config),
                policy: Arc::new(policy),
                dns,
                tls,
                own_addrs,
                never_ban: Arc::new(never_ban),
                dkim: Arc::new(dkim),
            },
            LoadNotes {
                relay: report,
                warnings,
            },
        ))
    }
}

/// `[aliases]` targets that name no user or alias (mail for them bounces
/// with 5.1.1), checked against the users file, each logged.
fn alias_warnings(config: &Config) -> Vec<String> {
    let found = match portcullis_directory::users::UserDb::load(&config.data_dir.join("users")) {
        Ok(users) => portcullis_directory::recipient::alias_warnings(config, &users),
        Err(e) => vec![format!(
            "cannot check the alias targets against the users file: {e}"
        )],
    };
    for w in &found {
        warn!("{w}");
    }
    found
}

/// Resolves every name entry (concurrently), then compiles the list.
pub(crate) async fn compile_relay_list(
    entries: &[String],
    dns: &Dns,
    previous: Option<&RelayList>,
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
    RelayList::compile(entries, &resolved, previous)
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

fn log_report(report: &LoadReport) {
    for line in &report.lines {
        if line.is_problem() {
            warn!(target: "relay_list", "{line}");
        } else {
            info!(target: "relay_list", "{line}");
        }
    }
    info!(target: "relay_list", "{}", report.summary());
}

/// Loopback, every interface address and every listen address.
fn own_addresses(config: &Config) -> HashSet<IpAddr> {
    let mut set: HashSet<IpAddr> = interface_addresses().into_iter().collect();
    set.insert(IpAddr::from([127, 0, 0, 1]));
    set.insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    let l = &config.listen;
    for a in l.smtp.iter().chain(&l.submission).chain(&l.submissions) {
        if !a.ip().is_unspecified() {
            set.insert(canonical(a.ip()));
        }
    }
    set
}

/// The addresses of the machine's interfaces (single hosts).
pub(crate) fn interface_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| canonical(i.ip())).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The runtime in force, swapped whole on reload.
pub struct Current(RwLock<Arc<Runtime>>);

impl Current {
    pub fn new(rt: Runtime) -> Current {
        Current(RwLock::new(Arc::new(rt)))
    }
    pub fn get(&self) -> Arc<Runtime> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn set(&self, rt: Runtime) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rt);
    }
}

/// Logs what `auth.never_ban` compiled to (its entries were checked when
/// the configuration was loaded); returns its warning, if any.
fn log_never_ban(report: &LoadReport) -> Vec<String> {
    for line in &report.lines {
        if let (Some(index), Outcome::Added(compiled)) = (line.index, &line.outcome) {
            info!(target: "auth", "auth.never_ban[{index}] {:?}: exempt {compiled}", line.raw);
        }
    }
    if report.open_relay {
        let w = "auth.never_ban covers nearly every address (more than a /8 of public IPv4 or a /32 of public IPv6): the AUTH brute-force defence is off for them";
        warn!(target: "auth", "{w}");
        return vec![w.to_string()];
    }
    Vec::new()
}
