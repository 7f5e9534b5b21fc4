//! The server's loaded state. A [`Runtime`] is built whole from one
//! configuration and the site its directory holds (names resolved, relay
//! list compiled, TLS loaded) off to the side, then swapped in atomically: a session keeps the `Arc<Runtime>` it
//! started with, so a reload never changes the rules under its feet (docs/reference.md §5).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use portcullis_config::Config;
use portcullis_directory::recipient::Context;
use portcullis_relay::{Detail, LoadReport, Outcome, RelayList};
use tracing::{info, warn};

use super::dns::Dns;
use super::load_notes::LoadNotes;
use super::site::{self, compile_relay_list, SiteSnapshot};
use portcullis_relay::range::canonical;

/// Everything derived from one configuration.
pub struct Runtime {
    pub config: Arc<Config>,
    /// The site in force (from the directory), compiled.
    pub site: Arc<SiteSnapshot>,
    pub dns: Dns,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The machine's own addresses: an address literal of one is a local domain.
    pub own_addrs: Arc<HashSet<IpAddr>>,
    /// `auth.never_ban`, compiled: clients the AUTH brute-force defence never touches.
    pub never_ban: Arc<RelayList>,
    /// DKIM signing keys from `<data_dir>/dkim/`, read again on every reload.
    pub dkim: Arc<super::dkim::Keys>,
}

pub(crate) use super::load_notes::Rejected;

/// How [`Runtime::build`] runs.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// `serve --allow-open-relay`: an open relay is a warning, not a refusal.
    pub allow_open_relay: bool,
    /// Generate the self-signed certificate when none is configured or
    /// generated yet (a live server); false for a check, which writes nothing.
    pub generate_certificate: bool,
    /// Report every relay entry, added ones too (`config check --verbose`);
    /// otherwise only when the log shows `relay_list` at debug level.
    pub every_entry: bool,
}

impl Runtime {
    /// What recipient decisions read: this runtime's site and policy.
    pub fn recipients(&self) -> Context<'_> {
        Context {
            hostname: &self.config.hostname,
            site: &self.site.site,
            policy: &self.site.policy,
            own_addrs: &self.own_addrs,
        }
    }

    /// Builds a runtime: compiles the site (see [`site::compile`]), loads
    /// TLS and the DKIM keys. Logs the relay-list report and every warning,
    /// and returns them. `previous` supplies the last addresses of names
    /// whose lookup fails temporarily. This is the one place a configuration
    /// is judged (see `check.rs`): every refusal is a sentence in [`Rejected`].
    pub async fn build(
        config: Config,
        loaded: site::Loaded,
        previous: Option<&Runtime>,
        options: BuildOptions,
    ) -> Result<(Runtime, LoadNotes), Rejected> {
        super::logging::check(&config.log).map_err(Rejected)?;
        let dns = Dns::new(&config.dns)
            .map_err(|e| Rejected(format!("cannot set up the DNS resolver: {e}")))?;
        let (site, site_notes) = site::compile(
            loaded,
            &config,
            &dns,
            previous.map(|p| p.site.as_ref()),
            options.allow_open_relay,
            site::report_detail(options.every_entry),
        )
        .await?;
        let mut warnings = site_notes.warnings;
        let (never_ban, never_ban_report) = compile_relay_list(
            &config.auth.never_ban,
            &dns,
            previous.map(|p| p.never_ban.as_ref()),
            Detail::EveryEntry,
        )
        .await;
        warnings.extend(log_never_ban(&never_ban_report));
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
                site: Arc::new(site),
                dns,
                tls,
                own_addrs,
                never_ban: Arc::new(never_ban),
                dkim: Arc::new(dkim),
            },
            LoadNotes {
                relay: site_notes.relay,
                warnings,
            },
        ))
    }

    /// This runtime with another site in force: what a change of the
    /// directory swaps in, the node's own settings untouched.
    pub fn with_site(&self, site: SiteSnapshot) -> Runtime {
        Runtime {
            config: self.config.clone(),
            site: Arc::new(site),
            dns: self.dns.clone(),
            tls: self.tls.clone(),
            own_addrs: self.own_addrs.clone(),
            never_ban: self.never_ban.clone(),
            dkim: self.dkim.clone(),
        }
    }
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
